/**
 * Membership and failure detection (design.md section 6): SWIM with Lifeguard's refinements, as a sans-I/O
 * state machine. `tick(nowMs)` and `receive(from, message, nowMs)` return the messages to send; no sockets,
 * no timers, no wall clock (time is an argument, random choices come from a core Prng).
 *
 * The protocol, per node:
 *   1. Every protocol period it pings one member, chosen round-robin over a list of the alive and suspect
 *      members that is reshuffled each round (so every member is probed within two rounds). A member this
 *      node holds as suspect goes first, when it starts to hold it and again every half suspicion floor:
 *      every holder checks a suspicion itself (see 3).
 *   2. No ack within `probeTimeoutMs`: it asks `indirectChecks` other members to ping the target for it
 *      (`m.ping-req`). A relay that hears no ack from the target within half a probe timeout answers
 *      `m.nack`, so the origin can tell "the target is down" from "my own links are bad" (Lifeguard).
 *   3. No ack by the end of the period: the target becomes *suspect* at its current incarnation, or, if it
 *      already is, gets this node's confirmation (gossiped, so it counts everywhere). A suspect that is not
 *      refuted within the suspicion timeout becomes *offline*; every holder decides on its own timer, and
 *      the verdict also spreads as an update. A live suspect's refutation comes back to each prober
 *      directly: a ping to a member we suspect carries the suspicion first, the suspect's ack carries its
 *      refutation first, and a relay forwards the target's entry first with the ack (so one lost rumour
 *      cannot condemn a live node: each holder asks it).
 *   4. A node that hears itself suspected (or offline) refutes: it bumps its incarnation above the one
 *      named and spreads `alive`. For one member, a higher incarnation wins; at equal incarnation
 *      offline > suspect > alive. `retired` is final and only comes from an explicit `retire` call.
 *   5. Updates spread by piggybacking on pings, acks and ping-reqs, each sent at most
 *      `retransmitMult * ceil(log10(n + 1))` times (fewest-sent first), within `piggybackEntriesMax` and
 *      `piggybackBytesMax`. A message to a member we hold as suspect or offline always carries that
 *      member's own entry first, so a node that was away learns it must refute on the first contact.
 *
 * Lifeguard:
 *   - Suspicion timeout starts at `suspicionMaxMult * min` and shrinks on a log scale toward
 *     `min = suspicionMult * max(1, log10(n)) * protocolPeriodMs` as independent members confirm the
 *     suspicion (up to `indirectChecks` confirmations count).
 *   - Local health multiplier (LHM, 0..awarenessMax-1): each missing nack of a failed probe (or the
 *     failure itself when no relay could be asked) and each time this node must refute raise it by one; a
 *     successful probe lowers it by one. Nacks are counted until one probe timeout after the period ends,
 *     since they come after a relay's own wait and two link latencies. The probe period and
 *     the probe timeout are multiplied by LHM + 1, so a node with bad links or a starved CPU slows down
 *     instead of accusing healthy peers.
 *
 * Laptops: offline members are kept, never forgotten, and pinged only every `offlineProbeEvery`
 * periods; a ping to one carries its offline entry, so when it comes back it refutes and is alive again.
 *
 * Push-pull sync: piggybacked gossip can die out before it reaches everyone (each update is sent a bounded
 * number of times), so every `syncEveryPeriods` periods a node sends `m.sync` with a window of its member
 * table to one random member, which applies it and answers `m.members` with a window of its own (as
 * memberlist's push-pull). Windows rotate over the sorted table, so a table larger than
 * `membersPerMessageMax` is covered in turn.
 *
 * Join: `join(seed)` sends `m.join` with our own entry; the seed answers `m.members` with up to
 * `membersPerMessageMax` entries (the rest arrive by gossip) and spreads our entry. A join is resent
 * every `joinRetryPeriods` periods until the seed answers.
 *
 * A received message (an object in process, or bytes: the wire form is described at `encodeMessage`) is
 * checked (validity rules numbered in `checkMessage`); a bad one is dropped and reported in `rejected`,
 * and counted against its sender when a `Scores` is passed (scores.ts). `receive` never throws on input.
 *
 * Measured (membership.test-util.ts measureDetection / measureFalsePositives; the numbers are in the
 * config comments below): N = 50, 10% loss, short pauses.
 */
import * as core from '../core/index.ts'
import type { NodeId, Prng } from '../core/index.ts'
import type { Scores } from './scores.ts'

const { prng: prngOps, codec } = core

// ---- settings

export type MembershipConfig = {
  /**
   * Time between probes of this node (before LHM scaling). Default 800 ms: about 5 messages a second per
   * node (ping, ack, share of ping-reqs, nacks and syncs), independent of fleet size. It sets the pace of
   * everything: the first probe of a crashed node comes after about 1.6 periods on average (each of the
   * n-1 others probes it once a round), and piggybacked updates travel one hop per message. Measured at
   * N = 50 with 10% loss and short pauses, 300 seeds: 1000 ms (with suspicionMult 3) gave a p99 of 14.0 s
   * to all-marked-offline, 800 ms gives 12.5 s, for 28% more messages (925k vs 720k an hour). 700 ms with
   * a 350 ms probe timeout was worse (p99 23 s) on the in-test network, where nacks then came too late.
   * Shorter detects sooner and costs proportionally more messages. Limit 50 ms..60 s.
   */
  readonly protocolPeriodMs: number
  /**
   * How long to wait for a direct ack before asking others. Default 400 ms (half the period): a round
   * trip on an intercontinental link fits; shorter sends ping-reqs on mere latency, longer leaves less of
   * the period for the indirect round (relays wait half of this before they nack, and nacks are counted
   * until one probe timeout after the period). Limit 10 ms..60 s, and less than `protocolPeriodMs`.
   */
  readonly probeTimeoutMs: number
  /**
   * Members asked to ping a target indirectly (SWIM's k), and the most confirmations that shrink a
   * suspicion. Default 3: with 10% loss, all three paths failing is about 4%; more costs messages per
   * failed probe. Limit 1..16.
   */
  readonly indirectChecks: number
  /**
   * Suspicion timeout floor, in periods, scaled by max(1, log10(n)). Default 3 (memberlist uses 4): at
   * N = 50 the floor is 4.1 s, at N <= 10 it is 2.4 s; most of the detection time. It is the time a live
   * but paused or briefly cut-off node has to refute, so it bounds the pauses the fleet forgives: with
   * every holder probing a suspect itself (the refutation comes back in the ack), short pauses (up to 2 s,
   * one per node per minute) and 10% loss caused no offline mark in 10 simulated hours each at N = 5, 10,
   * 20 and 50 (measureFalsePositives); suspicionMult 2 with a 1000 ms period (floor 3.4 s) did, once in
   * 5 hours. Lower detects sooner; raise it for fleets whose nodes stall longer (each 1 adds a period
   * times log10(n) to detection). Limit 1..100.
   */
  readonly suspicionMult: number
  /**
   * Suspicion timeout ceiling as a multiple of the floor, used when no one confirms. Default 3: at N = 50
   * a lone suspicion lasts 12 s. Since every holder probes a suspect and confirms on failure, a real
   * crash reaches the floor within a few periods and the ceiling only matters for a lone accuser (a node
   * with bad links of its own). Higher tolerates a single bad observer longer. Limit 1..100.
   */
  readonly suspicionMaxMult: number
  /**
   * Piggyback retransmits of an update: this times ceil(log10(n + 1)). Default 4: each update is sent
   * about 4 log n times, enough to reach all members with high probability (SWIM's lambda log n), and
   * push-pull sync repairs the rest. 6 measured no better at N = 50 (p99 15.0 vs 14.0 s over 300 seeds,
   * within noise). Higher is more robust to loss and costs piggyback room. Limit 1..64.
   */
  readonly retransmitMult: number
  /**
   * Ceiling of the local health multiplier: probing slows at most by this factor. Default 8 (Lifeguard).
   * Limit 1..64.
   */
  readonly awarenessMax: number
  /**
   * An offline member is pinged once every this many periods. Default 10: a laptop back from sleep is
   * alive again within about 10 s, at a tenth of a ping per second per offline member. Limit 1..100000.
   */
  readonly offlineProbeEvery: number
  /** Most updates piggybacked on one message. Default 16. Limit 1..piggybackEntriesLimit. */
  readonly piggybackEntriesMax: number
  /**
   * Most piggyback bytes on one message (by `updateBytes`). Default 1024: a ping stays well inside one
   * 1200-byte UDP/QUIC datagram. Limit 64..32768 (a message stays under messageBytesLimit).
   */
  readonly piggybackBytesMax: number
  /**
   * Most members in one join answer. Default 64: a joiner learns the rest by gossip. Larger speeds a join
   * into a big fleet at the cost of one large message. Limit 1..membersPerMessageLimit.
   */
  readonly membersPerMessageMax: number
  /** Most members this node keeps (retired included). Default 10000; past it, unknown members are ignored. Limit 1..1000000. */
  readonly membersMax: number
  /**
   * Every this many periods, a push-pull sync of (a window of) the member table with one random member.
   * Default 10: any member gossip missed is repaired within about 8 s, at one message pair per 8 s per
   * node. 5 measured no better for detection at N = 50 (p99 15.4 vs 14.0 s, noise). Lower repairs sooner
   * and sends more large messages. Limit 1..100000.
   */
  readonly syncEveryPeriods: number
  /** A join without an answer is resent every this many periods. Default 3. Limit 1..1000. */
  readonly joinRetryPeriods: number
}

export const membershipDefaults: MembershipConfig = {
  protocolPeriodMs: 800,
  probeTimeoutMs: 400,
  indirectChecks: 3,
  suspicionMult: 3,
  suspicionMaxMult: 3,
  retransmitMult: 4,
  awarenessMax: 8,
  offlineProbeEvery: 10,
  piggybackEntriesMax: 16,
  piggybackBytesMax: 1024,
  membersPerMessageMax: 64,
  membersMax: 10000,
  syncEveryPeriods: 10,
  joinRetryPeriods: 3,
}

/** Hard caps a receiver enforces whatever its config: more updates or members in one message is an attack. */
export const piggybackEntriesLimit = 256
export const membersPerMessageLimit = 1024
/** Largest incarnation accepted; 2^32 refutations is far beyond any real node's life. */
export const incarnationMax = 0xffffffff
/** Most ping-reqs a node relays at once; each lives half a probe timeout, so this is far above honest load. */
export const relaysMax = 256
/** Largest probe sequence number; a node wraps its counter below it. */
export const seqMax = 0xffffffff
/**
 * Largest membership message on the wire. A ping is a few hundred bytes plus at most piggybackBytesMax
 * (32 KiB); a member window stops short of this (membersFor). A frame over it is rejected unread.
 */
export const messageBytesLimit = 64 * 1024
/** Framing allowance of a message beyond its updates: type, seq, a target id, the update count. */
export const messageOverheadBytes = 1 + 5 + 2 + 3 * core.ids.nodeIdCharsMax + 3

/** Checks a configuration, filling defaults; an error says which setting is out of range and what fits. */
export function parseConfig(
  partial: Partial<MembershipConfig> = {},
): core.Result<MembershipConfig, 'invalid_config'> {
  const c: MembershipConfig = { ...membershipDefaults, ...partial }
  const bad = (detail: string) => core.fail('invalid_config', `membership: ${detail}`)
  const checks: [keyof MembershipConfig, number, number][] = [
    ['protocolPeriodMs', 50, 60_000],
    ['probeTimeoutMs', 10, 60_000],
    ['indirectChecks', 1, 16],
    ['suspicionMult', 1, 100],
    ['suspicionMaxMult', 1, 100],
    ['retransmitMult', 1, 64],
    ['awarenessMax', 1, 64],
    ['offlineProbeEvery', 1, 100_000],
    ['piggybackEntriesMax', 1, piggybackEntriesLimit],
    ['piggybackBytesMax', 64, 32_768],
    ['membersPerMessageMax', 1, membersPerMessageLimit],
    ['membersMax', 1, 1_000_000],
    ['syncEveryPeriods', 1, 100_000],
    ['joinRetryPeriods', 1, 1000],
  ]
  for (const [k, lo, hi] of checks) {
    const v = c[k]
    if (!(Number.isInteger(v) && v >= lo && v <= hi)) return bad(`${k} must be an integer in ${lo}..${hi}, not ${v}`)
  }
  if (c.probeTimeoutMs >= c.protocolPeriodMs) {
    return bad(
      `probeTimeoutMs ${c.probeTimeoutMs} must be less than protocolPeriodMs ${c.protocolPeriodMs}, to leave time for indirect probes`,
    )
  }
  return core.ok(c)
}

// ---- timing math (pure, table-tested)

/** Piggyback retransmits of one update in a fleet of n members. */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1))
}

/** Lifeguard's suspicion bounds for n members: [min, max] in ms. */
export function suspicionBoundsMs(config: MembershipConfig, n: number): [number, number] {
  const min = config.suspicionMult * Math.max(1, Math.log10(Math.max(1, n))) * config.protocolPeriodMs
  return [min, min * config.suspicionMaxMult]
}

/**
 * Suspicion timeout after `confirmations` independent confirmations, of `expected` that count: from max
 * down to min on a log scale (Lifeguard, as in memberlist's suspicion.go).
 */
export function suspicionTimeoutMs(minMs: number, maxMs: number, confirmations: number, expected: number): number {
  if (expected < 1) return minMs
  const frac = Math.log(Math.min(confirmations, expected) + 1) / Math.log(expected + 1)
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)))
}

// ---- messages

export type MemberStatus = 'alive' | 'suspect' | 'offline' | 'retired'
const statuses: readonly MemberStatus[] = ['alive', 'suspect', 'offline', 'retired']
const rank: Record<MemberStatus, number> = { alive: 0, suspect: 1, offline: 2, retired: 3 }

/** What one node says about one member. `by` names the accuser of a suspicion (for confirmations). */
export type Update = {
  readonly id: NodeId
  readonly incarnation: number
  readonly status: MemberStatus
  readonly by?: NodeId | undefined
}

export type PingMessage = { readonly type: 'm.ping'; readonly seq: number; readonly updates: readonly Update[] }
export type AckMessage = { readonly type: 'm.ack'; readonly seq: number; readonly updates: readonly Update[] }
export type PingReqMessage = {
  readonly type: 'm.ping-req'
  readonly seq: number
  readonly target: NodeId
  readonly updates: readonly Update[]
}
export type NackMessage = { readonly type: 'm.nack'; readonly seq: number }
export type JoinMessage = { readonly type: 'm.join'; readonly self: Update }
export type MembersMessage = { readonly type: 'm.members'; readonly members: readonly Update[] }
export type SyncMessage = { readonly type: 'm.sync'; readonly members: readonly Update[] }
export type MembershipMessage =
  | PingMessage
  | AckMessage
  | PingReqMessage
  | NackMessage
  | JoinMessage
  | MembersMessage
  | SyncMessage

export type Outgoing = { readonly to: NodeId; readonly message: MembershipMessage }
/** A dropped message, for peer scoring. */
/** A dropped message, for peer scoring: undecodable or invalid, over a size limit, or against a protocol rule. */
export type Rejected = { readonly from: NodeId; readonly reason: 'malformed' | 'too_large' | 'protocol'; readonly detail: string }
/** A member whose status changed in this step, as this node sees it. */
export type Change = { readonly id: NodeId; readonly status: MemberStatus; readonly incarnation: number }

export type Output = {
  readonly send: Outgoing[]
  readonly rejected: Rejected[]
  readonly changes: Change[]
}



function stringBytes(s: string): number {
  const n = codec.utf8Length(s)
  return codec.uvarintLength(n) + n
}

/** An update's exact bytes on the wire (see encodeMessage); piggybackBytesMax counts these. */
export function updateBytes(u: Update): number {
  return stringBytes(u.id) + 1 + codec.uvarintLength(u.incarnation) + (u.by === undefined ? 0 : stringBytes(u.by))
}

type Check<T> = { ok: true; value: T } | { ok: false; reason: 'malformed' | 'too_large'; detail: string }

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** A node id that also has a UTF-8 form (no lone surrogate), so whatever we accept we can encode. */
function isNodeId(x: unknown): x is NodeId {
  return core.ids.parseNodeId(x).ok && core.codec.isWellFormed(x as string)
}

function isSeq(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= seqMax
}

/**
 * An update is valid if and only if:
 *   (U1) it is an object with an `id` that is a valid node id;
 *   (U2) `incarnation` is an integer in 0..incarnationMax;
 *   (U3) `status` is one of alive, suspect, offline, retired;
 *   (U4) `by`, if present, is a valid node id.
 */
function checkUpdate(x: unknown): Check<Update> {
  if (!isRecord(x)) return { ok: false, reason: 'malformed', detail: 'an update must be an object' }
  if (!isNodeId(x.id)) return { ok: false, reason: 'malformed', detail: 'update id is not a node id (U1)' }
  const inc = x.incarnation
  if (!(typeof inc === 'number' && Number.isInteger(inc) && inc >= 0 && inc <= incarnationMax)) {
    return { ok: false, reason: 'malformed', detail: `update incarnation must be an integer in 0..${incarnationMax} (U2)` }
  }
  if (typeof x.status !== 'string' || !statuses.includes(x.status as MemberStatus)) {
    return { ok: false, reason: 'malformed', detail: 'update status is not alive/suspect/offline/retired (U3)' }
  }
  if (x.by !== undefined && !isNodeId(x.by)) return { ok: false, reason: 'malformed', detail: 'update by is not a node id (U4)' }
  const u: Update = { id: x.id, incarnation: inc, status: x.status as MemberStatus }
  return { ok: true, value: x.by === undefined ? u : { ...u, by: x.by } }
}

function checkUpdates(x: unknown, limit: number, what: string): Check<Update[]> {
  if (!Array.isArray(x)) return { ok: false, reason: 'malformed', detail: `${what} must be an array` }
  if (x.length > limit) return { ok: false, reason: 'too_large', detail: `${what} has ${x.length} entries, over ${limit}` }
  const out: Update[] = []
  for (const e of x) {
    const c = checkUpdate(e)
    if (!c.ok) return c
    out.push(c.value)
  }
  return { ok: true, value: out }
}

/**
 * A message is valid if and only if:
 *   (M1) it is an object whose `type` is one of m.ping, m.ack, m.ping-req, m.nack, m.join, m.members,
 *        m.sync;
 *   (M2) `seq` (ping, ack, ping-req, nack) is an integer in 0..seqMax;
 *   (M3) `updates` (ping, ack, ping-req) is an array of at most piggybackEntriesLimit valid updates;
 *   (M4) `target` (ping-req) is a valid node id;
 *   (M5) `self` (join) is a valid update with status alive;
 *   (M6) `members` (members, sync) is an array of at most membersPerMessageLimit valid updates;
 *   (M7) its wire form (messageBytes) is at most messageBytesLimit.
 * Never throws: a hostile object (a throwing getter, a proxy) is a malformed message.
 */
export function checkMessage(x: unknown): Check<MembershipMessage> {
  try {
    const c = checkShape(x)
    if (!c.ok) return c
    const bytes = messageBytes(c.value)
    if (bytes > messageBytesLimit) return { ok: false, reason: 'too_large', detail: `message is ${bytes} bytes, over ${messageBytesLimit} (M7)` }
    return c
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: `message could not be read: ${String(err)}` }
  }
}

function checkShape(x: unknown): Check<MembershipMessage> {
  if (!isRecord(x)) return { ok: false, reason: 'malformed', detail: 'a message must be an object (M1)' }
  const t = x.type
  const needSeq = t === 'm.ping' || t === 'm.ack' || t === 'm.ping-req' || t === 'm.nack'
  if (needSeq && !isSeq(x.seq)) return { ok: false, reason: 'malformed', detail: `seq must be an integer in 0..${seqMax} (M2)` }
  const seq = x.seq as number
  if (t === 'm.ping' || t === 'm.ack' || t === 'm.ping-req') {
    const ups = checkUpdates(x.updates, piggybackEntriesLimit, 'updates (M3)')
    if (!ups.ok) return ups
    if (t === 'm.ping-req') {
      if (!isNodeId(x.target)) return { ok: false, reason: 'malformed', detail: 'ping-req target is not a node id (M4)' }
      return { ok: true, value: { type: t, seq, target: x.target, updates: ups.value } }
    }
    return { ok: true, value: { type: t, seq, updates: ups.value } }
  }
  if (t === 'm.nack') return { ok: true, value: { type: t, seq } }
  if (t === 'm.join') {
    const u = checkUpdate(x.self)
    if (!u.ok) return u
    if (u.value.status !== 'alive') return { ok: false, reason: 'malformed', detail: 'a joiner must say it is alive (M5)' }
    return { ok: true, value: { type: t, self: u.value } }
  }
  if (t === 'm.members' || t === 'm.sync') {
    const ms = checkUpdates(x.members, membersPerMessageLimit, 'members (M6)')
    if (!ms.ok) return ms
    return { ok: true, value: { type: t, members: ms.value } }
  }
  return { ok: false, reason: 'malformed', detail: `unknown message type ${JSON.stringify(t)} (M1)` }
}

// ---- the wire form

/**
 * A message's bytes (all integers are minimal uvarints, strings a uvarint byte length and UTF-8):
 *
 *   type      1 byte: 0x01 m.ping, 0x02 m.ack, 0x03 m.ping-req, 0x04 m.nack, 0x05 m.join, 0x06 m.members,
 *             0x07 m.sync
 *   seq       (ping, ack, ping-req, nack) uvarint, at most seqMax
 *   target    (ping-req) string
 *   updates   (ping, ack, ping-req: at most piggybackEntriesLimit; members, sync: at most
 *             membersPerMessageLimit) uvarint count, then the updates; join: exactly one update, no count
 *   update    id string; a flags byte: bits 0-1 the status (0 alive, 1 suspect, 2 offline, 3 retired),
 *             bit 2 `by` follows, bits 3-7 zero; incarnation uvarint, at most incarnationMax; [by string]
 *
 * A frame is valid if it is at most messageBytesLimit bytes, every field reads in full with nothing left
 * over, and the message it spells passes checkMessage (M1-M7). messageBytes() is the exact length.
 */
const typeCodes: Record<MembershipMessage['type'], number> = {
  'm.ping': 0x01,
  'm.ack': 0x02,
  'm.ping-req': 0x03,
  'm.nack': 0x04,
  'm.join': 0x05,
  'm.members': 0x06,
  'm.sync': 0x07,
}
const codeTypes = new Map(Object.entries(typeCodes).map(([t, c]) => [c, t as MembershipMessage['type']]))

/** The exact length of a message's wire form. */
export function messageBytes(m: MembershipMessage): number {
  const ups = (us: readonly Update[]): number => us.reduce((n, u) => n + updateBytes(u), codec.uvarintLength(us.length))
  switch (m.type) {
    case 'm.ping':
    case 'm.ack':
      return 1 + codec.uvarintLength(m.seq) + ups(m.updates)
    case 'm.ping-req':
      return 1 + codec.uvarintLength(m.seq) + stringBytes(m.target) + ups(m.updates)
    case 'm.nack':
      return 1 + codec.uvarintLength(m.seq)
    case 'm.join':
      return 1 + updateBytes(m.self)
    case 'm.members':
    case 'm.sync':
      return 1 + ups(m.members)
    default:
      return core.unreachable(m)
  }
}

function writeUpdate(w: core.codec.Writer, u: Update): void {
  codec.writeString(w, u.id)
  codec.writeByte(w, rank[u.status] | (u.by === undefined ? 0 : 0x04))
  codec.writeUvarint(w, u.incarnation)
  if (u.by !== undefined) codec.writeString(w, u.by)
}

function writeUpdates(w: core.codec.Writer, us: readonly Update[]): void {
  codec.writeUvarint(w, us.length)
  for (const u of us) writeUpdate(w, u)
}

/** A (valid) message to its bytes. */
export function encodeMessage(m: MembershipMessage): Uint8Array {
  const w = codec.createWriter(messageBytes(m))
  codec.writeByte(w, typeCodes[m.type])
  switch (m.type) {
    case 'm.ping':
    case 'm.ack':
      codec.writeUvarint(w, m.seq)
      writeUpdates(w, m.updates)
      break
    case 'm.ping-req':
      codec.writeUvarint(w, m.seq)
      codec.writeString(w, m.target)
      writeUpdates(w, m.updates)
      break
    case 'm.nack':
      codec.writeUvarint(w, m.seq)
      break
    case 'm.join':
      writeUpdate(w, m.self)
      break
    case 'm.members':
    case 'm.sync':
      writeUpdates(w, m.members)
      break
    default:
      core.unreachable(m)
  }
  return codec.finish(w)
}

/** Smallest update on the wire: a 1-byte id with its length, flags, incarnation. */
const updateBytesMin = 4

function readUpdate(r: core.codec.Reader): Update {
  const id = codec.readString(r)
  const flags = codec.readByte(r)
  if ((flags & ~0x07) !== 0) codec.malformed(`unknown update flags ${flags}`)
  const incarnation = codec.readUvarint(r)
  const status = statuses[flags & 0x03] as MemberStatus
  const u = { id: id as NodeId, incarnation, status }
  return (flags & 0x04) !== 0 ? { ...u, by: codec.readString(r) as NodeId } : u
}

function readUpdates(r: core.codec.Reader, limit: number): Update[] {
  const n = codec.readCount(r, updateBytesMin)
  if (n > limit) codec.malformed(`${n} updates, over ${limit}`)
  const out: Update[] = []
  for (let i = 0; i < n; i++) out.push(readUpdate(r))
  return out
}

/** Untrusted bytes to a checked message (decoded, then checkMessage). Never throws. */
export function decodeMessage(bytes: Uint8Array): Check<MembershipMessage> {
  if (!(bytes instanceof Uint8Array)) return { ok: false, reason: 'malformed', detail: 'a frame must be bytes' }
  if (bytes.length > messageBytesLimit) {
    return { ok: false, reason: 'too_large', detail: `frame is ${bytes.length} bytes, over ${messageBytesLimit} (M7)` }
  }
  const d = codec.decodeWith(bytes, (r): unknown => {
    const type = codeTypes.get(codec.readByte(r))
    if (type === undefined) return codec.malformed('unknown message type (M1)')
    switch (type) {
      case 'm.ping':
      case 'm.ack':
        return { type, seq: codec.readUvarint(r), updates: readUpdates(r, piggybackEntriesLimit) }
      case 'm.ping-req': {
        const seq = codec.readUvarint(r)
        const target = codec.readString(r)
        return { type, seq, target, updates: readUpdates(r, piggybackEntriesLimit) }
      }
      case 'm.nack':
        return { type, seq: codec.readUvarint(r) }
      case 'm.join':
        return { type, self: readUpdate(r) }
      case 'm.members':
      case 'm.sync':
        return { type, members: readUpdates(r, membersPerMessageLimit) }
      default:
        return core.unreachable(type)
    }
  })
  if (!d.ok) return { ok: false, reason: 'malformed', detail: d.detail }
  return checkMessage(d.value)
}

// ---- the machine

/** One member as this node sees it. */
export type Member = {
  readonly id: NodeId
  readonly incarnation: number
  readonly status: MemberStatus
  /** When the member entered its current status (ms, this node's clock). */
  readonly sinceMs: number
}

type MemberEntry = {
  id: NodeId
  incarnation: number
  status: MemberStatus
  sinceMs: number
  /** Suspect only: who accused it (independent confirmations shrink the timeout). */
  accusers: Set<NodeId>
  /** Offline only: when to ping it next. */
  offlineProbeAtMs: number
  /** Suspect only: when this node probes it next, ahead of the round-robin (see pickTarget). */
  suspectProbeAtMs: number
}

type Probe = {
  target: NodeId
  seq: number
  directDeadlineMs: number
  endMs: number
  indirectSent: boolean
  nacksExpected: number
  nacksGot: number
}

type Relay = { origin: NodeId; originSeq: number; target: NodeId; nackAtMs: number }

export type Membership = {
  readonly self: NodeId
  readonly config: MembershipConfig
  /** Runs timers: probes, ping-reqs, suspicion timeouts, offline pings, join retries. Call often (every ~period/10). */
  tick(nowMs: number): Output
  /** Handles a message from a peer. A bad one is dropped and reported in `rejected`; never throws on input. */
  receive(from: NodeId, message: unknown, nowMs: number): Output
  /** Asks `seed` to let this node in; resent every joinRetryPeriods until the seed answers. */
  join(seed: NodeId, nowMs: number): Output
  /** Marks a member retired for good (the caller's explicit decision, later an op) and spreads it. */
  retire(id: NodeId, nowMs: number): Output
  /** All known members but this node, sorted by id. */
  members(): Member[]
  /** One member as seen here, or undefined. */
  member(id: NodeId): Member | undefined
  /** This node's incarnation. */
  incarnation(): number
  /** The local health multiplier score, 0..awarenessMax-1. */
  health(): number
}

/**
 * A membership machine for node `self`. With `scores`, every rejected message counts against its sender,
 * and a blocked peer is neither heard (its messages are dropped unread) nor picked to probe, relay or sync.
 */
export function createMembership(self: NodeId, config: Partial<MembershipConfig> = {}, prng: Prng, scores?: Scores): Membership {
  const parsed = parseConfig(config)
  if (!parsed.ok) throw new RangeError(parsed.detail)
  const cfg = parsed.value
  const table = new Map<NodeId, MemberEntry>()
  let incarnation = 0
  let lhm = 0
  let seq = 0
  let nextProbeAtMs: number | undefined
  let probe: Probe | undefined
  /** The last failed probe, until its late nacks have had time to arrive (health is judged then). */
  let settling: { seq: number; nacksExpected: number; nacksGot: number; atMs: number } | undefined
  let order: NodeId[] = []
  let orderAt = 0
  const relays = new Map<number, Relay>()
  const joins = new Map<NodeId, number>()
  let nextSyncAtMs: number | undefined
  /** Where the next member window starts (an id; '' = the first). */
  let windowFrom = ''
  /** Updates waiting to be piggybacked, one per member (the newest), with how often each was sent. */
  const queue = new Map<NodeId, { update: Update; sent: number }>()

  const allowed = (id: NodeId, nowMs: number): boolean => scores === undefined || scores.allowed(id, nowMs)
  const nextSeq = (): number => {
    seq = seq >= seqMax ? 0 : seq + 1
    return seq
  }
  const scale = (): number => lhm + 1
  const adjustHealth = (delta: number): void => {
    lhm = Math.max(0, Math.min(cfg.awarenessMax - 1, lhm + delta))
  }
  const liveCount = (): number => {
    let n = 1
    for (const m of table.values()) if (m.status === 'alive' || m.status === 'suspect') n++
    return n
  }
  const selfUpdate = (): Update => ({ id: self, incarnation, status: 'alive' })
  const entryUpdate = (m: MemberEntry): Update =>
    m.status === 'suspect'
      ? { id: m.id, incarnation: m.incarnation, status: m.status, by: m.accusers.values().next().value ?? self }
      : { id: m.id, incarnation: m.incarnation, status: m.status }
  const enqueue = (u: Update): void => {
    queue.set(u.id, { update: u, sent: 0 })
  }

  /**
   * Piggyback for a message to `to`: the `lead` entries (a refutation, the entry of a probe's target), then
   * `to`'s own entry when we hold it non-alive (so it refutes), then queued updates, fewest-sent first;
   * within piggybackEntriesMax and piggybackBytesMax, one entry per member.
   */
  const piggyback = (to: NodeId, lead: readonly Update[] = []): Update[] => {
    const out: Update[] = []
    const ids = new Set<NodeId>()
    let bytes = 0
    const add = (u: Update): void => {
      const b = updateBytes(u)
      if (ids.has(u.id) || out.length >= cfg.piggybackEntriesMax || bytes + b > cfg.piggybackBytesMax) return
      out.push(u)
      ids.add(u.id)
      bytes += b
    }
    for (const u of lead) add(u)
    const m = table.get(to)
    if (m !== undefined && m.status !== 'alive') add(entryUpdate(m))
    const limit = retransmitLimit(cfg.retransmitMult, table.size + 1)
    const items = [...queue.values()].sort((a, b) => a.sent - b.sent)
    for (const item of items) {
      if (out.length >= cfg.piggybackEntriesMax) break
      if (ids.has(item.update.id)) continue
      const b = updateBytes(item.update)
      if (bytes + b > cfg.piggybackBytesMax) continue
      out.push(item.update)
      ids.add(item.update.id)
      bytes += b
      item.sent++
      if (item.sent >= limit) queue.delete(item.update.id)
    }
    return out
  }

  const setStatus = (m: MemberEntry, status: MemberStatus, inc: number, nowMs: number, out: Output): void => {
    const changed = m.status !== status || m.incarnation !== inc
    if (m.status !== status) m.sinceMs = nowMs
    m.status = status
    m.incarnation = inc
    if (status !== 'suspect') m.accusers = new Set()
    if (status === 'suspect' && changed) m.suspectProbeAtMs = nowMs
    if (status === 'offline') {
      m.offlineProbeAtMs = nowMs + (1 + prngOps.nextInt(prng, cfg.offlineProbeEvery)) * cfg.protocolPeriodMs
    }
    if (changed) out.changes.push({ id: m.id, status, incarnation: inc })
  }

  const refute = (claimed: number): void => {
    incarnation = Math.min(incarnationMax, Math.max(incarnation, claimed) + 1)
    adjustHealth(1)
    enqueue(selfUpdate())
  }

  /** Applies one update from gossip (or our own detector). */
  const apply = (u: Update, nowMs: number, out: Output): void => {
    if (u.id === self) {
      if (u.status === 'suspect' || u.status === 'offline') {
        if (u.incarnation >= incarnation) refute(u.incarnation)
        // Someone still holds an older incarnation of us: spread the current one again (no bump needed).
        else enqueue(selfUpdate())
      }
      // A claim that we are alive needs nothing; a retirement of this node is the caller's business.
      return
    }
    let m = table.get(u.id)
    if (m === undefined) {
      // Only an alive entry introduces a member: an accusation about a stranger is not evidence of anything.
      if (u.status !== 'alive' || table.size >= cfg.membersMax) return
      m = {
        id: u.id,
        incarnation: u.incarnation,
        status: 'alive',
        sinceMs: nowMs,
        accusers: new Set(),
        offlineProbeAtMs: 0,
        suspectProbeAtMs: 0,
      }
      table.set(u.id, m)
      out.changes.push({ id: m.id, status: 'alive', incarnation: m.incarnation })
      enqueue(u)
      return
    }
    if (m.status === 'retired') return
    if (u.status === 'retired') {
      setStatus(m, 'retired', Math.max(m.incarnation, u.incarnation), nowMs, out)
      enqueue(entryUpdate(m))
      return
    }
    const newer = u.incarnation > m.incarnation
    const same = u.incarnation === m.incarnation
    if (u.status === 'alive') {
      if (!newer) return
      setStatus(m, 'alive', u.incarnation, nowMs, out)
      enqueue(u)
      return
    }
    if (u.status === 'suspect') {
      const accuser = u.by ?? u.id
      if (newer || (same && m.status === 'alive')) {
        setStatus(m, 'suspect', u.incarnation, nowMs, out)
        m.accusers = new Set([accuser])
        enqueue(u)
      } else if (same && m.status === 'suspect' && !m.accusers.has(accuser)) {
        // An independent confirmation: it shortens the timeout, and is passed on so others count it too.
        m.accusers.add(accuser)
        enqueue(u)
      }
      return
    }
    // offline
    if (newer || (same && rank[m.status] < rank.offline)) {
      setStatus(m, 'offline', u.incarnation, nowMs, out)
      enqueue(entryUpdate(m))
    }
  }

  /**
   * Our probe of `id` failed. An alive member becomes suspect; a member already suspect (someone else's
   * accusation reached us first) gets our confirmation, which counts here and is gossiped so it counts
   * everywhere (as memberlist's suspectNode). Without this, a suspicion that spreads faster than probes
   * collects almost no confirmations and every member waits out the lone maximum.
   */
  const suspectLocally = (id: NodeId, nowMs: number, out: Output): void => {
    const m = table.get(id)
    if (m === undefined || (m.status !== 'alive' && m.status !== 'suspect')) return
    apply({ id, incarnation: m.incarnation, status: 'suspect', by: self }, nowMs, out)
  }

  const emptyOutput = (): Output => ({ send: [], rejected: [], changes: [] })

  /**
   * The next member to probe. A suspect that is due (see suspectProbeAtMs) goes first: every node that
   * holds a suspicion probes the suspect itself, at once and then every half suspicion floor, so a live
   * suspect's refutation comes back in the ack (a lone lost rumour can no longer condemn it) and a dead
   * one collects confirmations fast. Otherwise round-robin over a shuffled list of alive and suspect
   * members. Limit: with many suspects at once (a partition), probes go to them first and the round-robin
   * waits until the suspicions end (refuted or offline, within the suspicion timeout).
   */
  const pickTarget = (nowMs: number, suspectProbeEveryMs: number): NodeId | undefined => {
    let due: MemberEntry | undefined
    for (const m of table.values()) {
      if (m.status !== 'suspect' || m.suspectProbeAtMs > nowMs || !allowed(m.id, nowMs)) continue
      if (due === undefined || m.suspectProbeAtMs < due.suspectProbeAtMs) due = m
    }
    if (due !== undefined) {
      due.suspectProbeAtMs = nowMs + suspectProbeEveryMs
      return due.id
    }
    for (let pass = 0; pass < 2; pass++) {
      while (orderAt < order.length) {
        const id = order[orderAt++] as NodeId
        const m = table.get(id)
        if (m !== undefined && (m.status === 'alive' || m.status === 'suspect') && allowed(id, nowMs)) return id
      }
      order = [...table.values()].filter((m) => m.status === 'alive' || m.status === 'suspect').map((m) => m.id)
      order.sort(core.ids.compareNodeIds)
      for (let i = order.length - 1; i > 0; i--) {
        const j = prngOps.nextInt(prng, i + 1)
        const t = order[i] as NodeId
        order[i] = order[j] as NodeId
        order[j] = t
      }
      orderAt = 0
    }
    return undefined
  }

  /** Up to k distinct alive members other than `exclude`, chosen at random. */
  const randomHelpers = (k: number, exclude: NodeId, nowMs: number): NodeId[] => {
    const pool = [...table.values()].filter((m) => m.status === 'alive' && m.id !== exclude && allowed(m.id, nowMs)).map((m) => m.id)
    pool.sort(core.ids.compareNodeIds)
    const out: NodeId[] = []
    while (out.length < k && pool.length > 0) {
      const i = prngOps.nextInt(prng, pool.length)
      out.push(pool[i] as NodeId)
      pool.splice(i, 1)
    }
    return out
  }

  /**
   * Our entry, the receiver's own entry when we hold it non-alive (so it refutes), then the next window of
   * the sorted table (retired members included, so a retirement is never undone by a stale table).
   */
  const membersFor = (to: NodeId): Update[] => {
    const members: Update[] = [selfUpdate()]
    const known = table.get(to)
    if (known !== undefined && known.status !== 'alive') members.push(entryUpdate(known))
    const ids = [...table.keys()].filter((id) => id !== to).sort(core.ids.compareNodeIds)
    let start = ids.findIndex((id) => id >= windowFrom)
    if (start < 0) start = 0
    const room = cfg.membersPerMessageMax - members.length
    // Bytes bound too: long non-ASCII ids could otherwise push a window past messageBytesLimit.
    let bytes = 1 + 3 + members.reduce((n, u) => n + updateBytes(u), 0)
    let take = 0
    while (take < Math.min(room, ids.length)) {
      const u = entryUpdate(table.get(ids[(start + take) % ids.length] as NodeId) as MemberEntry)
      bytes += updateBytes(u)
      if (bytes > messageBytesLimit) break
      members.push(u)
      take++
    }
    windowFrom = ids.length > take ? (ids[(start + take) % ids.length] as NodeId) : ''
    return members
  }

  const send = (out: Output, to: NodeId, message: MembershipMessage): void => {
    out.send.push({ to, message })
  }

  const tick = (nowMs: number): Output => {
    const out = emptyOutput()
    // 1. The probe in flight: indirect checks when the direct ack is late, suspicion when the period ends.
    if (probe !== undefined) {
      if (!probe.indirectSent && nowMs >= probe.directDeadlineMs) {
        probe.indirectSent = true
        const helpers = randomHelpers(cfg.indirectChecks, probe.target, nowMs)
        const t = table.get(probe.target)
        const targetLead = t !== undefined && t.status !== 'alive' ? [entryUpdate(t)] : []
        probe.nacksExpected = helpers.length
        for (const h of helpers) {
          // The target's entry rides first: a relay that holds it alive passes our suspicion on in its ping,
          // so a live target refutes in its ack, which the relay forwards.
          send(out, h, { type: 'm.ping-req', seq: probe.seq, target: probe.target, updates: piggyback(h, targetLead) })
        }
      }
      if (nowMs >= probe.endMs) {
        suspectLocally(probe.target, nowMs, out)
        // Nacks may still be on their way (a relay waits half a probe timeout, and two link latencies
        // follow): they are counted for one more probe timeout before health is judged.
        settling = { seq: probe.seq, nacksExpected: probe.nacksExpected, nacksGot: probe.nacksGot, atMs: nowMs + cfg.probeTimeoutMs }
        probe = undefined
      }
    }
    if (settling !== undefined && nowMs >= settling.atMs) {
      // Lifeguard (as memberlist): missing nacks mean our own links are bad; nacks that all came back
      // mean the target is down and we are fine. Only with no relay to ask does the failure itself count.
      adjustHealth(settling.nacksExpected > 0 ? settling.nacksExpected - settling.nacksGot : 1)
      settling = undefined
    }
    // 2. Suspicion timeouts, and offline pings.
    const [minMs, maxMs] = suspicionBoundsMs(cfg, liveCount())
    const expected = Math.max(0, Math.min(cfg.indirectChecks, liveCount() - 2))
    for (const m of table.values()) {
      if (m.status === 'suspect') {
        // The first accuser does not confirm its own suspicion.
        const timeout = suspicionTimeoutMs(minMs, maxMs, m.accusers.size - 1, expected)
        if (nowMs >= m.sinceMs + timeout) {
          setStatus(m, 'offline', m.incarnation, nowMs, out)
          enqueue(entryUpdate(m))
        }
      } else if (m.status === 'offline' && nowMs >= m.offlineProbeAtMs && allowed(m.id, nowMs)) {
        m.offlineProbeAtMs = nowMs + cfg.offlineProbeEvery * cfg.protocolPeriodMs
        send(out, m.id, { type: 'm.ping', seq: nextSeq(), updates: piggyback(m.id) })
      }
    }
    // 3. Relays that heard nothing from their target answer nack.
    for (const [s, r] of relays) {
      if (nowMs >= r.nackAtMs) {
        send(out, r.origin, { type: 'm.nack', seq: r.originSeq })
        relays.delete(s)
      }
    }
    // 4. Join retries.
    for (const [seed, at] of joins) {
      if (nowMs >= at) {
        joins.set(seed, nowMs + cfg.joinRetryPeriods * cfg.protocolPeriodMs)
        send(out, seed, { type: 'm.join', self: selfUpdate() })
      }
    }
    // 5. Push-pull sync with one random member.
    if (nextSyncAtMs === undefined) {
      nextSyncAtMs = nowMs + (1 + prngOps.nextInt(prng, cfg.syncEveryPeriods)) * cfg.protocolPeriodMs
    } else if (nowMs >= nextSyncAtMs) {
      nextSyncAtMs = nowMs + cfg.syncEveryPeriods * cfg.protocolPeriodMs
      const [peer] = randomHelpers(1, self, nowMs)
      if (peer !== undefined) send(out, peer, { type: 'm.sync', members: membersFor(peer) })
    }
    // 6. A new probe when one is due.
    if (probe === undefined && (nextProbeAtMs === undefined || nowMs >= nextProbeAtMs)) {
      const period = cfg.protocolPeriodMs * scale()
      nextProbeAtMs = nowMs + period
      const target = pickTarget(nowMs, Math.max(period, Math.floor(suspicionBoundsMs(cfg, liveCount())[0] / 2)))
      if (target !== undefined) {
        const s = nextSeq()
        probe = {
          target,
          seq: s,
          directDeadlineMs: nowMs + cfg.probeTimeoutMs * scale(),
          endMs: nowMs + period,
          indirectSent: false,
          nacksExpected: 0,
          nacksGot: 0,
        }
        send(out, target, { type: 'm.ping', seq: s, updates: piggyback(target) })
      }
    }
    return out
  }

  const receive = (from: NodeId, message: unknown, nowMs: number): Output => {
    if (scores === undefined) return handle(from, message, nowMs)
    if (!scores.allowed(from, nowMs)) return emptyOutput()
    const out = handle(from, message, nowMs)
    if (isNodeId(from)) scores.penalizeAll(out.rejected, nowMs)
    return out
  }

  const handle = (from: NodeId, message: unknown, nowMs: number): Output => {
    const out = emptyOutput()
    if (!isNodeId(from)) {
      out.rejected.push({ from, reason: 'malformed', detail: 'sender is not a node id' })
      return out
    }
    const c = message instanceof Uint8Array ? decodeMessage(message) : checkMessage(message)
    if (!c.ok) {
      out.rejected.push({ from, reason: c.reason, detail: c.detail })
      return out
    }
    const msg = c.value
    switch (msg.type) {
      case 'm.ping': {
        for (const u of msg.updates) apply(u, nowMs, out)
        // Accused by the pinger (it probes us because it suspects us): our refutation leads the ack.
        const accused = msg.updates.some((u) => u.id === self && u.status !== 'alive')
        send(out, from, { type: 'm.ack', seq: msg.seq, updates: piggyback(from, accused ? [selfUpdate()] : []) })
        break
      }
      case 'm.ack': {
        for (const u of msg.updates) apply(u, nowMs, out)
        if (probe !== undefined && probe.seq === msg.seq) {
          probe = undefined
          adjustHealth(-1)
        }
        const r = relays.get(msg.seq)
        if (r !== undefined && r.target === from) {
          relays.delete(msg.seq)
          // The target's entry as we now hold it leads: its refutation, if its ack carried one.
          const t = table.get(from)
          send(out, r.origin, { type: 'm.ack', seq: r.originSeq, updates: piggyback(r.origin, t === undefined ? [] : [entryUpdate(t)]) })
        }
        break
      }
      case 'm.ping-req': {
        for (const u of msg.updates) apply(u, nowMs, out)
        if (msg.target === self || msg.target === from || !allowed(msg.target, nowMs)) break
        // Bounded: past relaysMax pending relays (a flood, or a storm of failures), the oldest is dropped.
        if (relays.size >= relaysMax) {
          const oldest = relays.keys().next().value
          if (oldest !== undefined) relays.delete(oldest)
        }
        const s = nextSeq()
        relays.set(s, { origin: from, originSeq: msg.seq, target: msg.target, nackAtMs: nowMs + cfg.probeTimeoutMs / 2 })
        send(out, msg.target, { type: 'm.ping', seq: s, updates: piggyback(msg.target) })
        break
      }
      case 'm.nack': {
        const p = probe !== undefined && probe.seq === msg.seq ? probe : settling !== undefined && settling.seq === msg.seq ? settling : undefined
        if (p !== undefined && p.nacksGot < p.nacksExpected) p.nacksGot++
        break
      }
      case 'm.join': {
        if (msg.self.id !== from) {
          out.rejected.push({ from, reason: 'protocol', detail: 'a join must come from the node it names' })
          break
        }
        apply(msg.self, nowMs, out)
        // A rejoin at an incarnation we already hold: its own entry in the answer makes it refute.
        send(out, from, { type: 'm.members', members: membersFor(from) })
        break
      }
      case 'm.sync':
        for (const u of msg.members) apply(u, nowMs, out)
        send(out, from, { type: 'm.members', members: membersFor(from) })
        break
      case 'm.members':
        joins.delete(from)
        for (const u of msg.members) apply(u, nowMs, out)
        break
      default:
        core.unreachable(msg)
    }
    return out
  }

  const join = (seed: NodeId, nowMs: number): Output => {
    const out = emptyOutput()
    if (seed === self) return out
    joins.set(seed, nowMs + cfg.joinRetryPeriods * cfg.protocolPeriodMs)
    send(out, seed, { type: 'm.join', self: selfUpdate() })
    return out
  }

  const retire = (id: NodeId, nowMs: number): Output => {
    const out = emptyOutput()
    core.assert(id !== self, 'membership: a node does not retire itself')
    const m = table.get(id)
    if (m === undefined || m.status === 'retired') return out
    setStatus(m, 'retired', m.incarnation, nowMs, out)
    enqueue(entryUpdate(m))
    return out
  }

  const view = (m: MemberEntry): Member => ({ id: m.id, incarnation: m.incarnation, status: m.status, sinceMs: m.sinceMs })

  return {
    self,
    config: cfg,
    tick,
    receive,
    join,
    retire,
    members: () => [...table.values()].map(view).sort((a, b) => core.ids.compareNodeIds(a.id, b.id)),
    member: (id) => {
      const m = table.get(id)
      return m === undefined ? undefined : view(m)
    },
    incarnation: () => incarnation,
    health: () => lhm,
  }
}
