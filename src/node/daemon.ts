/**
 * The daemon: the real gossip machines (membership, anti-entropy, the broadcast fast path) over the real
 * store, on real TCP links (src/transport) and real timers. The simulator (sim/node.ts) wires the same
 * machines over a simulated log and network; this is that wiring for a process.
 *
 * Identity on the network. A member's id is `<author>@<host>:<port>`: its node key and the address it
 * listens on, so membership gossip spreads addresses with ids (a restarted node on the same port is the
 * same member and refutes its suspicion; on another port it is a new member and the old one goes
 * offline). A link is authenticated by its session (the peer's node key); the first message each side
 * sends on it is a hello naming its member id, which must carry the session's key.
 *
 * The wire: every message is one sealed frame whose first byte is the channel (0 membership, 1
 * anti-entropy, 2 fast path, 3 hello, 4 keepalive, 5 roster, 6 revocations, 7 fleet summary), then the
 * machine's own bytes.
 *
 * Ops. Every received op goes through opLog.ingest (signature, chain, clock rules) before it is stored or
 * relayed; the fast path admits a batch only once ingest stored it. In a fleet, each batch first passes the
 * fleet's rule (log.batchRule: author in the roster, not revoked past its cutoff, capabilities allow it;
 * docs/PROTOCOL.md sections 1 and 5); a new link carries a summary of each side's roster and revocations
 * after the hello, the whole sets only to a peer whose summary differs, and what is new is flooded. Ops
 * written by other processes on the
 * same store (the CLI, the MCP server) are noticed by polling PRAGMA data_version every `pollMs` (a
 * number SQLite bumps when another connection commits) and pushed at once.
 *
 * Peers that misbehave lose score (src/gossip/scores.ts): messages the machines reject, ops that fail
 * validation, a hello that lies, an unknown channel, all said under the peer's session. A blocked peer's
 * links are closed and new ones refused. A frame that does not decode or open closes its link but scores
 * no one: it is not authenticated, so it may be a stranger's or the network's.
 *
 * Links: a message for a peer with no open link waits (bounded) while one is dialed; a dial that fails
 * is retried with jittered exponential backoff. Links carry a keepalive after `keepaliveMs` without
 * sending; one silent for `idleMs` or stuck in its handshake for `handshakeMs` is closed.
 */
import { renameSync, statSync, watch, writeFileSync } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { join } from 'node:path'
import * as core from '../core/index.ts'
import type { Clock, NodeId, Prng } from '../core/index.ts'
import { antiEntropy as ae, broadcast as bc, createBroadcast, createMembership, createScores, membership as mb } from '../gossip/index.ts'
import type { Broadcast, BroadcastConfig, Membership, MembershipConfig, MemberStatus, Offence, Scores, Topology } from '../gossip/index.ts'
import type { AuthorId, SignedOp } from '../log/index.ts'
import { cutBatches, splitAtSignatures } from '../log/index.ts'
import {
  batchRule,
  createRoster,
  decodeCredential,
  decodeRevocationMessage,
  decodeFleetSummary,
  decodeRosterMessage,
  encodeFleetSummary,
  encodeRevocationMessage,
  encodeRosterMessage,
  fleetSummary,
  isRevoked,
  learnRotations,
  revocationsAdd,
  rosterAdd,
  rosterCredentials,
  sameSet,
} from '../log/index.ts'
import type { Credential, Revocation, Revocations, Roster } from '../log/index.ts'
import { opLog } from '../store/index.ts'
import type { OpLog } from '../store/index.ts'
import { randomBytes } from 'node:crypto'
import { links as linkOps, plainSecurity, secure } from '../transport/index.ts'
import type { Link, Listener, Security } from '../transport/index.ts'
import * as fleetHome from './fleet-home.ts'
import * as home from './home.ts'
import type { Identity } from './home.ts'
import { systemClock } from './local.ts'
import { applyRevocations } from './quarantine.ts'
import * as trace from './trace.ts'

export const channelMembership = 0
export const channelAntiEntropy = 1
export const channelFastPath = 2
export const channelHello = 3
export const channelKeepalive = 4
/** Fleet only: credentials (a log/fleet.ts roster message), sent to a peer whose summary differs and flooded when new. */
export const channelRoster = 5
/** Fleet only: revocations (log/fleet.ts revocation message), sent to a peer whose summary differs and flooded when new. */
export const channelRevocations = 6
/** Fleet only: the summary of the roster and the revocations (log/fleet.ts: 67-81 bytes), sent on every new link after the hello. */
export const channelFleetSummary = 7
/**
 * A node sends the same whole roster (or set of revocations) to the same peer key at most once in this
 * long: a peer reconnecting in a loop with a summary that differs (a leaked invite's holder, or a member
 * with credentials we refuse) costs one full set per window and per change of ours, not one per link.
 */
export const fleetResendMs = 60_000
/** Peer keys remembered for fleetResendMs (the oldest forgotten first). */
const fleetSentMax = 4096
/** Credentials or revocations per message (64 of the largest credential stay under the 1 MiB message limit). */
const fleetChunk = 64

export type DaemonOptions = {
  /** The node's home (identity.json, store.db); the daemon writes daemon.json there every second. */
  readonly home: string
  readonly listenHost: string
  /** 0: any free port. */
  readonly listenPort: number
  /**
   * The host:port peers reach this node at, when it is not the listen address (NAT, a port forward, a
   * proxy): it goes into the member id. Default: the bound listen address.
   */
  readonly advertise?: string | undefined
  /** Addresses (host:port) to join through; retried with backoff until one answers. */
  readonly join?: readonly string[] | undefined
  /** Is this node a hub (hub-spoke topology)? */
  readonly hub?: boolean | undefined
  readonly topology?: Topology | undefined
  /**
   * How links authenticate and seal. 'auto' (default): the fleet's handshake (secure.ts) when the home
   * holds fleet credentials (fleet.json), else plain (no authentication, no encryption: the caller says
   * so). 'fleet' requires the credentials; 'plain' never uses them; or a Security of the caller's.
   */
  readonly security?: 'auto' | 'fleet' | 'plain' | ((identity: Identity) => Security) | undefined
  /**
   * How often the machines tick and the store is polled. Default 100 ms: writes by other processes are
   * noticed at once through a watch on the store's WAL file (the poll is the fallback), the API's
   * through `written`; each tick is a wakeup (an idle daemon alone used 1.1% of a core at 20 ms, 0.5% at
   * 40 ms, 0.3% at 100 ms, load ~5-14).
   */
  readonly tickMs?: number | undefined
  readonly membership?: Partial<MembershipConfig> | undefined
  readonly antiEntropy?: Partial<ae.AntiEntropyConfig> | undefined
  readonly broadcast?: Partial<BroadcastConfig> | undefined
  readonly outboxBytesMax?: number | undefined
  readonly frameBytesMax?: number | undefined
  /** Keepalive after this long without sending on a link. Default 5 s. */
  readonly keepaliveMs?: number | undefined
  /** A link silent this long is closed. Default 30 s. */
  readonly idleMs?: number | undefined
  /** A handshake taking longer is closed. Default 5 s. */
  readonly handshakeMs?: number | undefined
  /** Reconnect backoff: first delay and ceiling. Defaults 100 ms and 5 s (a healed link is retried within 5 s). */
  readonly backoffMs?: number | undefined
  readonly backoffMsMax?: number | undefined
  /** Write <home>/daemon.json every second (for `grapevine peers`). Default true. */
  readonly stateFile?: boolean | undefined
  /** Diagnostics (one line each). */
  readonly log?: ((line: string) => void) | undefined
  readonly clock?: Clock | undefined
  readonly seed?: number | undefined
}

/** One member as `peers()` shows it. */
export type PeerView = {
  readonly id: NodeId
  readonly author: string
  readonly address: string
  readonly state: MemberStatus
  readonly linked: boolean
  /** Ops this node holds that the peer lacked at its last digest, per author (authors with none left out). */
  readonly lag: Record<string, number>
  /** Publish (the op's HLC time) -> stored here, for ops by this peer: samples kept, p50 and p95 (ms). */
  readonly latency: { readonly samples: number; readonly p50Ms: number | undefined; readonly p95Ms: number | undefined }
}

export type DaemonStats = {
  opsIn: number
  opsOut: number
  duplicates: number
  invalidOps: number
  bytesIn: number
  bytesOut: number
  framesDropped: number
  messagesDropped: number
  published: number
  linksOpened: number
  linksClosed: number
  invalidFrames: number
  /** Fleet: ops held back because their author is not in the roster yet (anti-entropy brings them again later). */
  opsWaiting: number
  /** Fleet: ops of a revoked node after its cutoff (or of a revoked invite's member), dropped. */
  opsRevoked: number
  /** Fleet: ops outside their author's capabilities, dropped (the sender is scored down). */
  opsRefused: number
  /**
   * Fleet: ops of a revoked node past its cutoff that this store had taken before it knew of the
   * revocation, taken out of the log and views since this daemon started (quarantine.ts).
   */
  opsQuarantined: number
  /**
   * Fleet: bytes of roster, revocation and summary messages sent (channels 5, 6, 7; the messages before
   * sealing and framing): a new link with the same roster and revocations costs one summary (68-70 bytes).
   */
  fleetBytesOut: number
  /**
   * Anti-entropy messages received that carried ops (deltas), their bytes, and the largest: a backlog
   * streams in deltas that grow from 64 KiB to 1 MiB (gossip anti-entropy streamBytesMax).
   */
  aeDeltasIn: number
  aeDeltaBytesIn: number
  aeDeltaBytesMax: number
}

export type Daemon = {
  readonly id: NodeId
  /** The fleet id when links run the fleet's handshake; undefined: plain links (unauthenticated). */
  readonly fleet: string | undefined
  readonly author: AuthorId
  readonly name: string
  /** host:port the peer port is bound to. */
  readonly address: string
  peers(): PeerView[]
  stats(): DaemonStats
  /** Latency samples (ms) per author, newest last (bounded). */
  latencySamples(): Map<string, readonly number[]>
  /** The store's version vector. */
  versionVector(): core.VersionVector
  /** The store (for the API beside the daemon; the daemon stays its only connection's user). */
  readonly store: OpLog
  /** Calls `listener` whenever ingest stored ops from peers (the API's event stream wakes on it); returns the unsubscribe. */
  onStored(listener: () => void): () => void
  /** Another connection of this process wrote own ops: push them now rather than at the next poll. */
  written(): void
  /** Stops timers, closes links and the listener, closes the store. */
  close(): Promise<void>
}

const latencySamplesMax = 256
/**
 * Membership on real links: the machine's timing scaled by 5/8 (period 500 ms, probe timeout 250 ms; a
 * loopback or LAN round trip is far below it, and Lifeguard's LHM slows a starved node down), so a crash
 * is detected in about 5/8 of the time (30 daemons: 6.2 s at 800 ms) for 1.6x the probe messages. The
 * suspicion floor stays 3 periods x log10(n) (2.2 s at 30 nodes) for a paused node to refute. The
 * member table's push-pull sync (a repair: gossip spreads changes) every 40 periods, 20 s (Serf's LAN
 * push-pull: 30 s): every 10 periods it was about 64% of an idle fleet's bytes (15 daemons in one
 * process, plain links: 7.7 KB/s, 2.8 KB/s at 40).
 */
export const membershipDaemonDefaults: Partial<MembershipConfig> = { protocolPeriodMs: 500, probeTimeoutMs: 250, syncEveryPeriods: 40 }
/**
 * The fast path's settings on real links (over the machine's defaults): an idle node relays at once
 * (flushLeading; batching only within 100 ms of a flush); an op goes from its publisher straight to up to
 * 32 peers (publishFanout: one hop in fleets of up to 33, where every hop is a process that must be
 * scheduled), and each receiver relays it to 4 (infect-and-die: covers what the publisher missed, and
 * the nodes past 32 in larger fleets, leaving about e^-4 = 2% of those to anti-entropy).
 */
export const broadcastDaemonDefaults: Partial<BroadcastConfig> = { fanout: 4, viewSize: 8, publishFanout: 32, flushLeading: true }
const pendingMessagesMax = 256
const pendingBytesMax = 4 * 1024 * 1024

/** host and port of a member id `<author>@<host>:<port>`, or undefined if it is not one. */
export function parseMemberId(id: string): { author: string; host: string; port: number } | undefined {
  const at = id.indexOf('@')
  if (at <= 0) return undefined
  const addr = parseAddress(id.slice(at + 1))
  return addr === undefined ? undefined : { author: id.slice(0, at), ...addr }
}

/** host:port (host a name, IPv4, or [IPv6]) to its parts, or undefined. */
export function parseAddress(s: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s)
  if (m === null) return undefined
  const port = Number(m[2])
  if (port < 1 || port > 65535) return undefined
  const host = (m[1] as string).replace(/^\[(.*)\]$/, '$1')
  return { host, port }
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

function quantile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

const offenceOf = (reason: string): Offence => (reason === 'too_large' ? 'too_large' : reason === 'protocol' ? 'protocol' : 'malformed')

type LinkInfo = {
  peer: NodeId | undefined
  openedAtMs: number
  lastInMs: number
  lastOutMs: number
  framesIn: number
  framesOut: number
  /** A join seed's link: join membership through whoever answers. */
  seed: string | undefined
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const clock = o.clock ?? systemClock
  const monoMs = (): number => performance.now()
  const tickMs = o.tickMs ?? 100
  const keepaliveMs = o.keepaliveMs ?? 5000
  const idleMs = o.idleMs ?? 30_000
  const handshakeMs = o.handshakeMs ?? 5000
  const backoffMs = o.backoffMs ?? 100
  const backoffMsMax = o.backoffMsMax ?? 5000
  const say = o.log ?? (() => undefined)
  const rng: Prng = core.prng.create(o.seed ?? (clock.nowMs() ^ (process.pid << 8)))

  const id0 = home.loadOrInit(o.home)
  if (!id0.ok) throw new Error(`daemon: ${id0.detail}`)
  const identity = id0.value.identity
  const author = identity.author
  const opened = opLog.open(join(o.home, home.storeFile))
  if (!opened.ok) throw new Error(`daemon: the store did not open: ${opened.detail}`)
  const store = opened.value
  const dataVersion = store.db.prepare('PRAGMA data_version')
  const readDataVersion = (): number => (dataVersion.get() as { data_version: number }).data_version

  let security: Security
  let fleet: string | undefined
  /** Fleet: every member credential known (capabilities of ops' authors) and the revocations known. */
  let roster: Roster | undefined
  let revs: Revocations | undefined
  if (typeof o.security === 'function') security = o.security(identity)
  else if (o.security === 'plain') security = plainSecurity(identity.author)
  else {
    const f = fleetHome.load(o.home, identity)
    if (f.ok) {
      fleet = f.value.fleet
      roster = createRoster(f.value.fleet)
      rosterAdd(roster, f.value.credential, clock.nowMs())
      fleetHome.loadRoster(o.home, roster, clock.nowMs())
      const known = fleetHome.loadRevocations(o.home, f.value.fleet)
      revs = known
      security = secure.createSecurity({ signer: identity.signer, credential: f.value.credential }, () => clock.nowMs(), (n) => new Uint8Array(randomBytes(n)), {
        isRevoked: (node, inviteId, cred) => isRevoked(known, node, inviteId, cred),
      })
    } else if (f.reason === 'missing' && o.security !== 'fleet') security = plainSecurity(identity.author)
    else {
      opLog.close(store)
      throw new Error(`daemon: ${f.detail}`)
    }
  }
  const scores: Scores = createScores()
  const stats: DaemonStats = {
    opsIn: 0,
    opsOut: 0,
    duplicates: 0,
    invalidOps: 0,
    bytesIn: 0,
    bytesOut: 0,
    framesDropped: 0,
    messagesDropped: 0,
    published: 0,
    linksOpened: 0,
    linksClosed: 0,
    invalidFrames: 0,
    opsWaiting: 0,
    opsRevoked: 0,
    opsRefused: 0,
    opsQuarantined: 0,
    fleetBytesOut: 0,
    aeDeltasIn: 0,
    aeDeltaBytesIn: 0,
    aeDeltaBytesMax: 0,
  }
  /**
   * The revocations known, applied to what the store holds: ops past a cutoff taken while this node did
   * not know (partitioned) leave the log and views (quarantine.ts). At start (revocations in home) and
   * whenever new ones arrive.
   */
  let quarantineFailed = false
  const applyRevoked = (): void => {
    if (revs === undefined) return
    try {
      for (const q of applyRevocations(store, roster, revs, author, clock.nowMs())) {
        stats.opsQuarantined += q.moved
        say(`quarantined ${q.moved} op(s) of ${q.author.slice(0, 12)}… past seq ${q.cutoff} (${q.reason}): out of the log and views, kept in revoked_ops`)
      }
      quarantineFailed = false
    } catch (e) {
      // the store's transaction rolled back (a lock held too long, a full disk): tried again every second
      if (!quarantineFailed) say(`quarantine of revoked ops failed (${e instanceof Error ? e.message : String(e)}): trying again`)
      quarantineFailed = true
    }
  }
  applyRevoked()
  const latency = new Map<string, number[]>()
  /** GRAPEVINE_TRACE=1: per-hop times of own pushes and stored peer ops (trace.ts). */
  const tracer = trace.open(o.home, 'trace-daemon.log')
  /** When the fast-path frame being handled arrived, and when the API last said it wrote (epoch ms, trace only). */
  let rxAtMs = 0
  let writtenAtMs = 0

  const info = new Map<Link, LinkInfo>()
  /** The link messages to a peer go on (open, hello done). */
  const peerLinks = new Map<NodeId, Link>()
  /** Dials in progress, by member id or seed address. */
  const dialing = new Map<string, Link>()
  const backoff = new Map<string, { attempt: number; nextAtMs: number }>()
  const pending = new Map<NodeId, { bytes: Uint8Array; droppable: boolean }[]>()
  const seeds = new Set<string>(o.join ?? [])
  const hubs = new Set<NodeId>()

  // assigned once the port is bound (below); closures here run only after that
  let fast: Broadcast
  let closed = false
  const storedListeners = new Set<() => void>()

  // ---- the log as gossip sees it

  const source: ae.LogSource = {
    versionVector: () => opLog.versionVector(store),
    opsAfter: (a, seq, limit) => opLog.opsAfter(store, a, seq, limit),
  }

  /** Validates and stores one author's received ops (cut into signed batches). Returns whether any batch was refused as invalid. */
  /**
   * The fleet's rule for one signed batch, before ingest: every op's author must be in the roster (else the
   * batch waits: it is not stored, and anti-entropy offers it again once the credential has arrived), not
   * revoked past its cutoff, and allowed this kind and body by its capabilities (log.mayWrite).
   */
  const fleetCheck = (b: readonly SignedOp[]): 'waiting' | 'revoked' | 'refused' | undefined => (roster === undefined ? undefined : batchRule(roster, revs, b))

  /**
   * Validates and stores received ops, each list one author's (cut into signed batches), all of them in
   * one transaction (opLog.ingestMany: one commit for a whole anti-entropy message, each batch still
   * stored or refused on its own). Returns false if any batch was refused as invalid, or held back by the
   * fleet's rule (the fast path then neither delivers nor relays it).
   */
  const ingest = (lists: readonly (readonly SignedOp[])[], from: NodeId | undefined): boolean => {
    let bad = false
    let held = false
    const toStore: SignedOp[][] = []
    for (const ops of lists) {
      const { batches, rest } = cutBatches(ops)
      if (rest.length > 0) bad = true
      const queue = [...batches]
      for (let b = queue.shift(); b !== undefined; b = queue.shift()) {
        const rule = fleetCheck(b)
        // a batch across a revocation's cutoff: each signed part on its own, so the ops up to it go in
        const parts = rule === 'revoked' ? splitAtSignatures(b) : [b]
        if (parts.length > 1) {
          queue.unshift(...parts)
          continue
        }
        if (rule !== undefined) {
          held = true
          if (rule === 'waiting') stats.opsWaiting += b.length
          else if (rule === 'revoked') stats.opsRevoked += b.length
          else {
            stats.opsRefused += b.length
            if (from !== undefined) penalize(from, 'malformed')
          }
          continue
        }
        toStore.push(b)
      }
    }
    if (toStore.length === 0) return !bad && !held
    const now = clock.nowMs()
    const t0 = tracer?.nowMs() ?? 0
    const results = opLog.ingestMany(store, toStore, now)
    if (tracer !== undefined) {
      const t1 = tracer.nowMs()
      for (let k = 0; k < toStore.length; k++) {
        const v = results[k] as opLog.IngestResult
        if (v.ok) for (const e of v.ops) tracer.line(`in ${e.op.author} ${e.op.seq} ${fastFrom === undefined ? 'ae' : 'fast'} ${rxAtMs.toFixed(3)} ${t0.toFixed(3)} ${t1.toFixed(3)}`)
      }
    }
    let stored = false
    for (let k = 0; k < toStore.length; k++) {
      const b = toStore[k] as SignedOp[]
      const v = results[k] as opLog.IngestResult
      if (v.ok) {
        if (v.ops.length > 0) stored = true
        stats.opsIn += v.ops.length
        stats.duplicates += v.duplicates
        for (const e of v.ops) {
          let xs = latency.get(e.op.author)
          if (xs === undefined) latency.set(e.op.author, (xs = []))
          xs.push(Math.max(0, now - e.op.hlc.wallMs))
          if (xs.length > latencySamplesMax) xs.shift()
        }
        continue
      }
      if (v.reason === 'duplicate') {
        stats.duplicates += b.length
        continue
      }
      // a gap or a clock rule is no proof of malice (reordering, skew); a bad signature or chain is
      if (v.reason === 'gap' || v.reason === 'clock_ahead' || v.reason === 'clock_regress' || v.reason === 'storage' || v.reason === 'fork') {
        if (v.reason === 'fork') say(`fork of ${v.author}: evidence kept (${v.detail})`)
        continue
      }
      stats.invalidOps += b.length
      bad = true
      if (from !== undefined) penalize(from, v.reason === 'too_large' ? 'too_large' : 'malformed')
    }
    if (stored) for (const f of storedListeners) f()
    return !bad && !held
  }

  // ---- sending

  const frameOf = (channel: number, body: Uint8Array): Uint8Array => {
    const out = new Uint8Array(body.length + 1)
    out[0] = channel
    out.set(body, 1)
    return out
  }

  const sendOn = (link: Link, bytes: Uint8Array, droppable: boolean): void => {
    if (!link.send(bytes, droppable)) stats.framesDropped++
    else if (bytes[0] === channelRoster || bytes[0] === channelRevocations || bytes[0] === channelFleetSummary) stats.fleetBytesOut += bytes.length
  }

  const send = (to: NodeId, channel: number, body: Uint8Array, droppable: boolean): void => sendFrame(to, frameOf(channel, body), droppable)

  /** Sends a framed message (channel byte first; never modified, so one frame may go to many peers). */
  const sendFrame = (to: NodeId, bytes: Uint8Array, droppable: boolean): void => {
    if (closed || to === selfId) return
    const link = peerLinks.get(to)
    if (link !== undefined && link.state() === 'open') return sendOn(link, bytes, droppable)
    if (!scores.allowed(to, monoMs())) return
    let q = pending.get(to)
    if (q === undefined) pending.set(to, (q = []))
    const qBytes = q.reduce((n, m) => n + m.bytes.length, 0)
    if (q.length >= pendingMessagesMax || qBytes + bytes.length > pendingBytesMax) stats.messagesDropped++
    else q.push({ bytes, droppable })
    dialMember(to)
  }

  const penalize = (peer: NodeId, offence: Offence): void => {
    if (scores.penalize(peer, offence, monoMs())) {
      say(`peer ${peer} blocked (score ${scores.score(peer, monoMs()).toFixed(0)})`)
      for (const [l, i] of info) if (i.peer === peer) l.close('peer blocked')
    }
  }

  // ---- the fleet's credentials and revocations

  /** Sends fleet messages on every link past its hello but `except`. */
  const flood = (channel: number, body: Uint8Array, except: Link | undefined): void => {
    for (const [l, i] of info) if (l !== except && i.peer !== undefined && l.state() === 'open') sendOn(l, frameOf(channel, body), false)
  }

  const credentialOf = (link: Link): Credential | undefined => (link.session() as { credential?: Credential } | undefined)?.credential

  /** New revocations: kept in home (a restart keeps enforcing them), passed on, and revoked peers' links closed. */
  const revoked = (fresh: readonly Revocation[], except: Link | undefined, save: boolean): void => {
    if (fresh.length === 0 || revs === undefined) return
    for (const r of fresh) {
      if (save) fleetHome.saveRevocation(o.home, r)
      if (r.successor !== undefined) say(`key rotated: ${r.node?.slice(0, 12)}… -> ${r.successor.slice(0, 12)}… after seq ${r.cutoffSeq}`)
      else say(`revoked ${r.node !== undefined ? `node ${r.node.slice(0, 12)}… after seq ${r.cutoffSeq}` : `invite ${r.inviteId}`}${r.reason === '' ? '' : `: ${r.reason}`}`)
    }
    applyRevoked()
    for (let k = 0; k < fresh.length; k += fleetChunk) flood(channelRevocations, encodeRevocationMessage(fresh.slice(k, k + fleetChunk)), except)
    for (const l of [...info.keys()]) {
      const c = credentialOf(l)
      if (c !== undefined && isRevoked(revs, c.node, c.invite.id, c)) l.close('revoked')
    }
  }

  /**
   * On a new link: the peer's credential joins the roster (and goes on to the others if new); then the
   * summary of what we know goes to the peer (onFleetSummary: the whole sets follow only if the peer's
   * summary differs).
   */
  const sendFleetState = (link: Link): void => {
    if (roster === undefined || revs === undefined) return
    const c = credentialOf(link)
    if (c !== undefined) {
      const added = rosterAdd(roster, c, clock.nowMs())
      if (added.ok && added.value) {
        fleetHome.saveCredentials(o.home, [c])
        flood(channelRoster, encodeRosterMessage([c]), link)
        revoked(learnRotations(revs, c, roster), undefined, true)
      }
    }
    sendOn(link, frameOf(channelFleetSummary, encodeFleetSummary(fleetSummary(roster, revs))), false)
  }

  /** Per peer key: the roster's and revocations' hashes last sent whole to it, and when (fleetResendMs). */
  const fleetSent = new Map<string, { roster?: { hash: Uint8Array; atMs: number }; revocations?: { hash: Uint8Array; atMs: number } }>()
  const sentRecently = (x: { hash: Uint8Array; atMs: number } | undefined, hash: Uint8Array, now: number): boolean =>
    x !== undefined && now - x.atMs < fleetResendMs && core.codec.bytesEqual(x.hash, hash)

  /**
   * The peer's summary: a set that differs from ours goes to it whole (it lacks some of ours, or has some
   * we lack: then its side, seeing our summary differ too, sends us its own), unless we sent this very
   * set to this key within fleetResendMs. Nothing is answered back with a summary: no loop.
   */
  const onFleetSummary = (link: Link, from: NodeId, body: Uint8Array): void => {
    if (roster === undefined || revs === undefined) return
    const m = decodeFleetSummary(body)
    if (!m.ok) return penalize(from, 'malformed')
    if (m.value === undefined) return // a later summary version: ignored
    const key = link.session()?.peer
    if (key === undefined) return
    const mine = fleetSummary(roster, revs)
    const now = monoMs()
    const sent = fleetSent.get(key) ?? {}
    fleetSent.delete(key)
    if (!sameSet(m.value.roster, mine.roster) && !sentRecently(sent.roster, mine.roster.hash, now)) {
      const creds = rosterCredentials(roster)
      for (let k = 0; k < creds.length; k += fleetChunk) sendOn(link, frameOf(channelRoster, encodeRosterMessage(creds.slice(k, k + fleetChunk))), false)
      sent.roster = { hash: mine.roster.hash, atMs: now }
    }
    if (!sameSet(m.value.revocations, mine.revocations) && !sentRecently(sent.revocations, mine.revocations.hash, now)) {
      for (let k = 0; k < revs.all.length; k += fleetChunk) sendOn(link, frameOf(channelRevocations, encodeRevocationMessage(revs.all.slice(k, k + fleetChunk))), false)
      sent.revocations = { hash: mine.revocations.hash, atMs: now }
    }
    if (sent.roster !== undefined || sent.revocations !== undefined) {
      fleetSent.set(key, sent)
      if (fleetSent.size > fleetSentMax) fleetSent.delete(fleetSent.keys().next().value as string)
    }
  }

  const onRoster = (link: Link, from: NodeId, body: Uint8Array): void => {
    if (roster === undefined) return
    const m = decodeRosterMessage(body)
    if (!m.ok) return penalize(from, 'malformed')
    const fresh: Credential[] = []
    for (const bytes of m.value) {
      const c = decodeCredential(bytes)
      const r = c.ok ? rosterAdd(roster, c.value, clock.nowMs()) : c
      // an honest peer passes on only credentials it verified, of this fleet
      if (!r.ok) {
        if (r.reason !== 'full') penalize(from, 'malformed')
        continue
      }
      if (r.value && c.ok) fresh.push(c.value)
    }
    fleetHome.saveCredentials(o.home, fresh)
    for (let k = 0; k < fresh.length; k += fleetChunk) flood(channelRoster, encodeRosterMessage(fresh.slice(k, k + fleetChunk)), link)
    // a successor's credential carries its key rotations: they act as revocations of the old keys
    if (revs !== undefined) revoked(fresh.flatMap((c) => learnRotations(revs as Revocations, c, roster)), undefined, true)
  }

  const onRevocations = (link: Link, from: NodeId, body: Uint8Array): void => {
    if (revs === undefined) return
    const m = decodeRevocationMessage(body)
    if (!m.ok) return penalize(from, 'malformed')
    const before = revs.all.length
    for (const bytes of m.value) {
      const r = revocationsAdd(revs, bytes, roster)
      if (!r.ok && r.reason !== 'full') penalize(from, 'malformed')
    }
    revoked(revs.all.slice(before), link, true)
  }

  let revocationsFileSize = -1
  let lastRevocationsCheckMs = 0
  /** `grapevine revoke` on this node appends to home's revocations file: picked up within a second. */
  const checkRevocationsFile = (now: number): void => {
    if (revs === undefined || fleet === undefined || now - lastRevocationsCheckMs < 1000) return
    lastRevocationsCheckMs = now
    if (quarantineFailed) applyRevoked()
    const st = statSync(join(o.home, fleetHome.revocationsFile), { throwIfNoEntry: false })
    const size = st === undefined ? 0 : st.size
    if (size === revocationsFileSize) return
    revocationsFileSize = size
    const before = revs.all.length
    for (const r of fleetHome.loadRevocations(o.home, revs.fleet).all) revocationsAdd(revs, r)
    revoked(revs.all.slice(before), undefined, false)
  }

  // ---- machines' outputs

  let peerList: NodeId[] = []
  const refreshPeers = (): void => {
    const live: NodeId[] = []
    for (const m of membership.members()) if (m.status === 'alive' || m.status === 'suspect') live.push(m.id)
    peerList = live
    fast.setPeers(live)
  }

  /** Anti-entropy's partners: live members, and any peer with an open link (membership may lag behind a reconnect). */
  const aeCandidates = (): NodeId[] => {
    let extra: NodeId[] | undefined
    for (const [p, l] of peerLinks) {
      if (l.state() === 'open' && !peerList.includes(p)) (extra ??= []).push(p)
    }
    return extra === undefined ? peerList : [...peerList, ...extra]
  }

  const handleMembership = (out: mb.Output): void => {
    for (const s of out.send) send(s.to, channelMembership, mb.encodeMessage(s.message), false)
    if (out.changes.length > 0) {
      refreshPeers()
      for (const c of out.changes) {
        if (c.status === 'retired') antiEntropy.forget(c.id)
        if (c.status === 'offline' || c.status === 'retired') pending.delete(c.id)
      }
    }
  }

  const handleAe = (out: ae.Output, from: NodeId | undefined): void => {
    for (const s of out.send) {
      const m = s.message
      if (m.type === 'ae.delta') for (const b of m.batches) stats.opsOut += b.length
      send(s.to, channelAntiEntropy, ae.encodeMessage(m), false)
    }
    if (out.received.length > 0) ingest(out.received.map((r) => r.ops), from)
  }

  /**
   * The fast path's messages out. A publish or a relay sends the same items to many peers: a message with
   * the same batches as the one before it is framed once and only sealed per peer (a publish at 30 nodes
   * encoded one op 29 times). `from`: the peer whose message this answers. A publisher that is the sender
   * (the batches are all its own ops) pushed them itself to up to publishFanout peers: in a fleet no larger
   * than that (as this node sees it), every other node already has them, so they are relayed to one peer
   * only (a safety net for a push lost on the way; anti-entropy repairs the rest) instead of `fanout`: at
   * 30 nodes, 29 copies of a publish instead of 116, each sealed, written, opened and decoded for nothing.
   */
  const fastMode = o.broadcast?.mode ?? broadcastDaemonDefaults.mode ?? 'push'
  const fastPublishFanout = o.broadcast?.publishFanout ?? broadcastDaemonDefaults.publishFanout ?? 0
  const handleFast = (out: bc.Output, from?: NodeId): void => {
    let prev: readonly (readonly SignedOp[])[] | undefined
    let prevFrame: Uint8Array | undefined
    const fromAuthor = from === undefined ? undefined : parseMemberId(from)?.author
    // push mode on a mesh only: in hub-spoke a spoke sends its own ops to a hub, which must pass them to all
    const pushMesh = fastMode === 'push' && !(o.topology === 'hub-spoke' && hubs.size > 0)
    const smallFleet = pushMesh && fromAuthor !== undefined && peerList.length + 1 <= fastPublishFanout
    let directRelays = 0
    for (const s of out.send) {
      const m = s.message
      if (m.type === 'bc.gossip') {
        if (smallFleet && m.batches.every((b) => b[0]?.op.author === fromAuthor) && directRelays++ >= 1) continue
        for (const b of m.batches) stats.opsOut += b.length
        const same = prev !== undefined && prev.length === m.batches.length && m.batches.every((b, k) => b === prev?.[k])
        if (!same || prevFrame === undefined) {
          prev = m.batches
          prevFrame = frameOf(channelFastPath, bc.encodeMessage(m))
        }
        sendFrame(s.to, prevFrame, true)
        continue
      }
      send(s.to, channelFastPath, bc.encodeMessage(m), true)
    }
    for (const r of out.rejected) penalize(r.from, offenceOf(r.reason))
  }

  /** Who sent the message the fast path is handling (admit ingests, and needs the sender for scoring). */
  let fastFrom: NodeId | undefined
  const createFast = (): Broadcast => {
    const hubSpoke = o.topology === 'hub-spoke' && hubs.size > 0
    const config: Partial<BroadcastConfig> = { ...broadcastDaemonDefaults, ...o.broadcast, topology: hubSpoke ? 'hub-spoke' : 'mesh', hubs: hubSpoke ? [...hubs].sort() : [] }
    return createBroadcast({
      self: selfId,
      prng: core.prng.fork(rng),
      config,
      admit: (batch) => ingest([batch], fastFrom),
    })
  }

  // ---- links

  const linkOptions = {
    security,
    frameBytesMax: o.frameBytesMax,
    outboxBytesMax: o.outboxBytesMax,
    events: {
      onOpen(link: Link) {
        const i = info.get(link)
        if (i === undefined) return
        i.openedAtMs = monoMs()
        stats.linksOpened++
        const hello = new TextEncoder().encode(JSON.stringify({ id: selfId, hub: o.hub === true }))
        sendOn(link, frameOf(channelHello, hello), false)
        sendFleetState(link)
      },
      onMessage(link: Link, plain: Uint8Array) {
        receive(link, plain)
      },
      onInvalid(link: Link, reason: string, detail: string) {
        // The link closes. The peer is not scored: a frame that did not open (or a prefix that lied) is
        // not authenticated, so it proves nothing about the peer (a flipped byte on the way, a stranger);
        // what a peer says under its session, and the ops it sends, are what score it (below).
        stats.invalidFrames++
        const peer = info.get(link)?.peer
        say(`link ${link.remote}${peer === undefined ? '' : ` (${peer})`}: ${reason}: ${detail}`)
      },
      onClose(link: Link) {
        const i = info.get(link)
        info.delete(link)
        stats.linksClosed++
        stats.bytesIn += link.stats.bytesIn
        stats.bytesOut += link.stats.bytesOut
        for (const [k, l] of dialing) if (l === link) {
          dialing.delete(k)
          // a dial that never opened: back off before the next
          if (i !== undefined && i.peer === undefined) bump(k)
        }
        if (i?.peer !== undefined && peerLinks.get(i.peer) === link) {
          peerLinks.delete(i.peer)
          // another open link to the same peer takes over
          for (const [l2, i2] of info) if (i2.peer === i.peer && l2.state() === 'open') peerLinks.set(i.peer, l2)
        }
      },
    },
  }

  const bump = (key: string): void => {
    const b = backoff.get(key) ?? { attempt: 0, nextAtMs: 0 }
    const delay = Math.min(backoffMsMax, backoffMs * 2 ** b.attempt)
    // full jitter in [delay/2, delay): a fleet that lost a hub does not redial it in lockstep
    b.nextAtMs = monoMs() + delay / 2 + core.prng.nextFloat(rng) * (delay / 2)
    b.attempt = Math.min(b.attempt + 1, 30)
    backoff.set(key, b)
  }

  const dialAddress = (key: string, host: string, port: number, expectedPeer: string | undefined, seed: string | undefined): void => {
    if (closed || dialing.has(key)) return
    const b = backoff.get(key)
    if (b !== undefined && monoMs() < b.nextAtMs) return
    const link = linkOps.dial(host, port, { ...linkOptions, expectedPeer })
    info.set(link, { peer: undefined, openedAtMs: monoMs(), lastInMs: monoMs(), lastOutMs: monoMs(), framesIn: 0, framesOut: 0, seed })
    dialing.set(key, link)
  }

  const dialMember = (id: NodeId): void => {
    const p = parseMemberId(id)
    if (p === undefined) return
    dialAddress(id, p.host, p.port, p.author, undefined)
  }

  const onHello = (link: Link, i: LinkInfo, body: Uint8Array): void => {
    let hello: unknown
    try {
      hello = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
    } catch {
      hello = undefined // reason: a hello that is not JSON is refused below
    }
    const h = hello as { id?: unknown; hub?: unknown } | undefined
    const idOk = core.ids.parseNodeId(h?.id)
    const parsed = idOk.ok ? parseMemberId(idOk.value) : undefined
    if (!idOk.ok || parsed === undefined || parsed.author !== link.session()?.peer || (h?.hub !== undefined && typeof h.hub !== 'boolean')) {
      stats.invalidFrames++
      link.close('bad hello')
      return
    }
    const peer = idOk.value
    if (peer === selfId || !scores.allowed(peer, monoMs())) {
      link.close(peer === selfId ? 'a link to self' : 'peer blocked')
      return
    }
    i.peer = peer
    backoff.delete(peer)
    for (const [k, l] of dialing) if (l === link) {
      dialing.delete(k)
      backoff.delete(k)
    }
    const current = peerLinks.get(peer)
    if (current === undefined || current.state() !== 'open') peerLinks.set(peer, link)
    if (h?.hub === true && !hubs.has(peer)) {
      hubs.add(peer)
      if (o.topology === 'hub-spoke') {
        fast = createFast()
        refreshPeers()
      }
    }
    if (i.seed !== undefined) {
      seeds.delete(i.seed)
      handleMembership(membership.join(peer, monoMs()))
    }
    const q = pending.get(peer)
    pending.delete(peer)
    const l = peerLinks.get(peer) as Link
    for (const m of q ?? []) sendOn(l, m.bytes, m.droppable)
    // a link (re)opened: exchange digests at once rather than at the next interval, so a node back from
    // a crash or a cut catches up in one round trip (the dialer asks; the acceptor answers)
    if (link.dialed) sendOn(link, frameOf(channelAntiEntropy, ae.encodeMessage({ type: 'ae.digest', digest: antiEntropy.digestFor(peer) })), false)
  }

  const receive = (link: Link, plain: Uint8Array): void => {
    const i = info.get(link)
    if (i === undefined || plain.length === 0) return
    const channel = plain[0] as number
    const body = plain.subarray(1)
    const now = monoMs()
    if (channel === channelHello) {
      if (i.peer !== undefined) return
      onHello(link, i, body)
      return
    }
    const from = i.peer
    if (from === undefined) {
      // anything before the hello breaks the protocol; no member id to score yet
      stats.invalidFrames++
      link.close('a message before the hello')
      return
    }
    if (!scores.allowed(from, now)) return link.close('peer blocked')
    switch (channel) {
      case channelMembership:
        handleMembership(membership.receive(from, body, now))
        return
      case channelAntiEntropy: {
        const out = antiEntropy.receive(from, body, now, clock.nowMs())
        if (out.received.length > 0) {
          stats.aeDeltasIn++
          stats.aeDeltaBytesIn += body.length
          stats.aeDeltaBytesMax = Math.max(stats.aeDeltaBytesMax, body.length)
        }
        handleAe(out, from)
        return
      }
      case channelFastPath:
        if (tracer !== undefined) rxAtMs = tracer.nowMs()
        fastFrom = from
        try {
          handleFast(fast.receive(from, body, now), from)
        } finally {
          fastFrom = undefined
        }
        return
      case channelRoster:
        onRoster(link, from, body)
        return
      case channelRevocations:
        onRevocations(link, from, body)
        return
      case channelFleetSummary:
        onFleetSummary(link, from, body)
        return
      case channelKeepalive:
        return
      default:
        penalize(from, 'protocol')
    }
  }

  // ---- start

  const listener: Listener = await linkOps.listen(o.listenHost, o.listenPort, {
    ...linkOptions,
    onLink(link) {
      info.set(link, { peer: undefined, openedAtMs: monoMs(), lastInMs: monoMs(), lastOutMs: monoMs(), framesIn: 0, framesOut: 0, seed: undefined })
    },
  })
  const address = formatAddress(o.listenHost, listener.port)
  const advertised = o.advertise ?? address
  if (parseAddress(advertised) === undefined) {
    await listener.close()
    opLog.close(store)
    throw new Error(`daemon: advertise address ${JSON.stringify(advertised)} is not host:port`)
  }
  const selfId: NodeId = core.ids.asNodeId(`${author}@${advertised}`)
  const membership: Membership = createMembership(selfId, { ...membershipDaemonDefaults, ...o.membership }, core.prng.fork(rng), scores)
  const antiEntropy: ae.AntiEntropy = ae.createAntiEntropy({ log: source, prng: core.prng.fork(rng), config: o.antiEntropy ?? {}, scores })
  if (o.hub === true) hubs.add(selfId)
  fast = createFast()
  say(`grapevine node ${identity.name} (${selfId}) listening on ${address}`)

  // own ops written from now on are pushed; what came before is anti-entropy's
  let publishedSeq = opLog.head(store, author)?.seq ?? 0
  let lastDataVersion = readDataVersion()
  const pollOwnWrites = (now: number): void => {
    const dv = readDataVersion()
    if (dv === lastDataVersion) return
    lastDataVersion = dv
    for (;;) {
      const ops = opLog.opsAfter(store, author, publishedSeq, 1024)
      if (ops.length === 0) return
      const { batches } = cutBatches(ops)
      if (batches.length === 0) return
      for (const b of batches) {
        const t0 = tracer?.nowMs() ?? 0
        handleFast(fast.publish(b, now))
        if (tracer !== undefined) {
          const last = b[b.length - 1] as SignedOp
          tracer.line(`push ${last.op.author} ${last.op.seq} ${t0.toFixed(3)} ${tracer.nowMs().toFixed(3)} ${writtenAtMs.toFixed(3)}`)
        }
        publishedSeq = (b[b.length - 1] as SignedOp).op.seq
        stats.published += b.length
      }
      if (ops.length < 1024) return
    }
  }

  let pokeQueued = false
  /** Own writes may have landed (another connection committed): look at once, once per turn of the event loop. */
  const pokeOwnWrites = (): void => {
    if (closed || pokeQueued) return
    pokeQueued = true
    setImmediate(() => {
      pokeQueued = false
      if (!closed) pollOwnWrites(monoMs())
    })
  }
  let lastHousekeepingMs = 0
  let lastStateMs = 0
  const housekeeping = (now: number): void => {
    for (const [link, i] of info) {
      if (link.stats.framesIn !== i.framesIn) {
        i.framesIn = link.stats.framesIn
        i.lastInMs = now
      }
      if (link.stats.framesOut !== i.framesOut) {
        i.framesOut = link.stats.framesOut
        i.lastOutMs = now
      }
      if (link.state() === 'handshake' && now - i.openedAtMs > handshakeMs) link.close('handshake timed out')
      else if (now - i.lastInMs > idleMs) link.close('idle')
      else if (link.state() === 'open' && now - i.lastOutMs >= keepaliveMs) sendOn(link, new Uint8Array([channelKeepalive]), false)
    }
    // join seeds until one answers; and when every member is gone, the seeds again
    if (peerList.length === 0) for (const s of o.join ?? []) seeds.add(s)
    for (const s of seeds) {
      const a = parseAddress(s)
      if (a === undefined) continue
      dialAddress(`seed:${s}`, a.host, a.port, undefined, s)
    }
  }

  const writeState = (): void => {
    const doc = { id: selfId, name: identity.name, pid: process.pid, address, atMs: clock.nowMs(), stopped: closed, peers: daemon.peers(), stats: daemon.stats() }
    const path = join(o.home, 'daemon.json')
    try {
      writeFileSync(`${path}.tmp`, JSON.stringify(doc))
      renameSync(`${path}.tmp`, path)
    } catch (e) {
      say(`daemon.json not written: ${e instanceof Error ? e.message : String(e)}`)
    }
  }

  const tick = (): void => {
    if (closed) return
    const now = monoMs()
    handleMembership(membership.tick(now))
    handleAe(antiEntropy.tick(now, aeCandidates()), undefined)
    handleFast(fast.tick(now))
    pollOwnWrites(now)
    if (now - lastHousekeepingMs >= 250) {
      lastHousekeepingMs = now
      housekeeping(now)
      checkRevocationsFile(now)
    }
    if (o.stateFile !== false && now - lastStateMs >= 1000) {
      lastStateMs = now
      writeState()
    }
  }
  const timer = setInterval(tick, tickMs)
  housekeeping(monoMs())
  // Another process's commit changes the WAL file: a watch (inotify) looks at once, so the tick's poll is
  // only the fallback (a file system without change events). The daemon's own ingests fire it too; the
  // look is one PRAGMA, coalesced to one per turn of the event loop.
  let walWatch: FSWatcher | undefined
  try {
    walWatch = watch(`${join(o.home, home.storeFile)}-wal`, { persistent: false }, () => pokeOwnWrites())
    walWatch.on('error', () => {
      walWatch?.close()
      walWatch = undefined
    })
  } catch (e) {
    say(`no change events for the store's WAL (${e instanceof Error ? e.message : String(e)}): other processes' writes are picked up every ${tickMs} ms`)
  }

  const daemon: Daemon = {
    id: selfId,
    fleet,
    author,
    name: identity.name,
    address,
    store,
    peers() {
      const ours = opLog.versionVector(store)
      const out: PeerView[] = []
      for (const m of membership.members()) {
        const p = parseMemberId(m.id)
        // what anti-entropy knows the peer holds: its digests, raised by matched vector sums (which name no
        // authors, so a lag read from digest entries alone went stale once sums matched)
        const t = antiEntropy.peerVector(m.id)
        const lag: Record<string, number> = {}
        if (t.size > 0) {
          for (const [a, seq] of ours) {
            const d = seq - (t.get(a) ?? 0)
            if (d > 0) lag[a] = d
          }
        }
        const samples = [...(latency.get(p?.author ?? '') ?? [])].sort((x, y) => x - y)
        const link = peerLinks.get(m.id)
        out.push({
          id: m.id,
          author: p?.author ?? '',
          address: p === undefined ? '' : formatAddress(p.host, p.port),
          state: m.status,
          linked: link !== undefined && link.state() === 'open',
          lag,
          latency: { samples: samples.length, p50Ms: quantile(samples, 0.5), p95Ms: quantile(samples, 0.95) },
        })
      }
      return out
    },
    stats() {
      const s = { ...stats }
      for (const l of info.keys()) {
        s.bytesIn += l.stats.bytesIn
        s.bytesOut += l.stats.bytesOut
      }
      return s
    },
    onStored(listener) {
      storedListeners.add(listener)
      return () => {
        storedListeners.delete(listener)
      }
    },
    // at once, in the writer's turn: the push goes out before the API answers or wakes its own streams
    written: () => {
      if (tracer !== undefined) writtenAtMs = tracer.nowMs()
      if (!closed) pollOwnWrites(monoMs())
    },
    latencySamples: () => new Map([...latency].map(([a, xs]) => [a, [...xs]])),
    versionVector: () => opLog.versionVector(store),
    async close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      walWatch?.close()
      const stopped = listener.close()
      for (const l of [...info.keys()]) l.close('shutting down')
      await stopped
      if (o.stateFile !== false) writeState()
      opLog.close(store)
    },
  }
  return daemon
}
