/**
 * Broadcast (design.md section 6): the fast path for NEW ops, in front of anti-entropy. A sans-I/O state
 * machine: `publish(batch, now)`, `receive(from, message, now)` and `tick(now)` return the messages to send
 * and the batches seen for the first time; no sockets, no timers, no wall clock (time is an argument,
 * random choices come from a core Prng). Anti-entropy stays the reliable path: whatever the fast path
 * loses (a full outbox, an evicted cache entry, a lost message) anti-entropy repairs, so every limit here
 * may drop work, and says so in `stats`.
 *
 * The unit is an *item*: one author's run of consecutive ops ending at a signed op (a batch, as
 * anti-entropy moves it), published once by its author and relayed unchanged. Its id is (author, seq of
 * its last op). Every node keeps a bounded set of ids it has seen (oldest evicted first). "Seen" means
 * seen by this machine, not held by the log: an op anti-entropy brought first is still relayed when its
 * broadcast copy arrives (a hub that let the rumor die there would leave every spoke to anti-entropy; in
 * the efficient-broadcast simulation, asking the log instead raised the max time to everyone from 200 ms
 * to 2.4 s). The caller's log dedupes what is delivered twice.
 *
 * Modes:
 *   - push: a node relays an item once, the first time it sees it (infect-and-die), to `fanout` peers
 *     picked at random per send. No hop limit: infect-and-die already bounds an item's cost to N x fanout
 *     messages, and anti-entropy finishes the nodes a rumor misses (a fraction s = e^(-f(1-s)): 20% at
 *     fanout 2, 6% at 3, 0.25% at 6). `publishFanout` sends a node's own items to more peers than it
 *     relays to: the daemon publishes to up to 32, so a fleet of up to 33 gets an op in one hop.
 *   - plumtree (Leitão, Pereira, Rodrigues, "Epidemic Broadcast Trees", SRDS 2007): each node keeps a
 *     view of up to `viewSize` peers, split into eager and lazy. Items go at once (or at the next flush)
 *     to the eager peers; their ids go as `bc.ihave` to the lazy peers, batched every `lazyIntervalMs`. A
 *     message of only duplicates makes its receiver answer `bc.prune` (the sender becomes lazy); an
 *     announced item that has not arrived `graftTimeoutMs` later is asked for with `bc.graft` (the
 *     announcer becomes eager), so the eager links settle into a spanning tree that repairs itself when a
 *     link loses messages or a member leaves (`setPeers`). Known weakness, measured in sim/report.ts:
 *     with items from many sources in flight at once, nodes on one cycle each see a different item's
 *     duplicate and prune different links of it, cutting the tree; grafts mend it a timeout later. In a
 *     25-node mesh at 5 items a second over 100 ms links the eager links were 16 to 27 of the 24 a tree
 *     needs and 8-68% of node pairs could not reach each other eagerly at a given moment, so the median
 *     time to everyone was about 1 s. A single source settles (20 nodes: about 25 messages an item,
 *     against 114 for the first flood).
 *
 * Topologies:
 *   - mesh: any peer may be used.
 *   - hub-spoke (`hubs` lists the hubs; several allowed): a spoke talks only to hubs; a hub talks to
 *     everyone. In push mode a hub relays an item it got from a spoke (or published) to all its peers,
 *     and one it got from another hub to nobody (that hub already reached everyone); a spoke sends what
 *     it publishes to `hubFanout` hubs and relays nothing (a hub reached everyone). So an item costs
 *     hubFanout messages up and one per node down, whatever the number of hubs. In plumtree mode a hub's
 *     view is all its peers, a spoke's view is the hubs.
 *
 * Batching: with `flushIntervalMs` 0 every publish or receive sends at once (one message per item and
 * peer). Above 0, items wait for the next flush in `tick` and go together, one message per peer per flush
 * (under `messageBytesMax` and `opsPerMessageMax`): fewer messages, up to flushIntervalMs more latency
 * per hop. With `flushLeading` (the daemon's setting) a node that flushed nothing in the last
 * flushIntervalMs sends at once and batches only what follows within flushIntervalMs: no delay per hop
 * when idle, still one message per peer per flushIntervalMs under load.
 *
 * A received message is checked (validity rules numbered at `checkMessage`); a bad one is dropped and
 * reported in `rejected` for peer scoring. `receive` never throws on input. Nothing here verifies op
 * signatures: the caller may pass `admit`, and an item it refuses is neither delivered nor relayed.
 */
import * as core from '../core/index.ts'
import type { NodeId, Prng } from '../core/index.ts'
import type { AuthorId, SignedOp } from '../log/index.ts'
import {
  authorBytes,
  authorIdFromBytes,
  authorLength,
  batchOpsMax,
  decodeBatch,
  encodeBatch,
  hashLength,
  signatureLength,
} from '../log/index.ts'
import { batchBytes } from './anti-entropy.ts'

const { prng: prngOps, codec } = core

// ---- settings

export type BroadcastMode = 'push' | 'plumtree'
export type Topology = 'mesh' | 'hub-spoke'

export type BroadcastConfig = {
  /**
   * Push (infect-and-die gossip) or plumtree (eager tree plus lazy announcements). Default 'push': in the
   * efficient-broadcast simulation (sim/report.ts, bench/results/propagation.json; 25 nodes, 100 ms links,
   * 50 new ops a second from every node) push with 100 ms batching over one hub took 2.9 messages per op,
   * median 355 ms, max 415 ms; plumtree there sent the same gossip (a star is already a tree), and with two
   * hubs or in a mesh its tree churned under many concurrent sources (prunes cut more links than a tree
   * can spare, grafts add them back): 6.8 messages per op and a 2.1 s max with two hubs against push's
   * 4.6 and 415 ms; in a mesh 18 messages per op against push's 5.5 (plumtree's median 800 ms against
   * 925). Plumtree pays off with one or few sources and larger views; choose it there.
   */
  readonly mode: BroadcastMode
  /** Default 'mesh'. 'hub-spoke' needs at least one hub in `hubs`. */
  readonly topology: Topology
  /** The hubs, in hub-spoke topology (ignored in mesh). Default none. Limit 0..64. */
  readonly hubs: readonly NodeId[]
  /**
   * Push: peers each relay goes to. Plumtree: eager peers a node starts with (the rest of its view is
   * lazy). Default 3: in push, a rumor reaches all but about 6% of the nodes before anti-entropy helps; higher reaches more at once and costs fanout messages per item per node. Limit 1..64.
   */
  readonly fanout: number
  /**
   * Push in a mesh: peers an item this node publishes goes to (relays use `fanout`). 0 (default): fanout.
   * Higher saves hops where they cost most: at or above the number of peers every node gets a publish in
   * one hop, and relays only cover what the publisher missed. Limit 0..1024.
   */
  readonly publishFanout: number
  /**
   * Push in hub-spoke: hubs a spoke sends what it publishes to. Default 1: one message up, and the hub
   * relays to everyone; 2 survives the loss of one upward message (or a hub that died before membership
   * noticed) at twice the messages, as every hub then relays to everyone. Limit 1..64.
   */
  readonly hubFanout: number
  /**
   * Plumtree: peers in a node's view (eager + lazy), a random sample of the peers it is given (a hub uses
   * all). Default 6: enough redundant lazy links to repair the tree after a loss or a departure; larger
   * repairs faster and sends more announcements. Limit fanout..1024.
   */
  readonly viewSize: number
  /**
   * Items wait this long to be sent together (0: at once). Default 100 ms: under load one message per
   * peer per 100 ms carries every new item, and a hop takes up to 100 ms longer. In the efficient-broadcast
   * simulation (one hub) 0 took 12.5 messages per op at a 200 ms max, 50 ms 4.5 at 315 ms, 100 ms 2.9 at
   * 415 ms, 150 ms 2.5 at 515 ms. Limit 0..60000.
   */
  readonly flushIntervalMs: number
  /**
   * Flush at once when nothing was flushed in the last flushIntervalMs (the leading edge), and batch only
   * what comes within flushIntervalMs of a flush: an idle node adds no delay per hop, a busy one still
   * sends one message per peer per flushIntervalMs. Default false (every item waits for the next flush).
   */
  readonly flushLeading: boolean
  /**
   * Plumtree: lazy announcements (bc.ihave) are batched and sent this often. Default 250 ms: one
   * announcement per lazy peer per 250 ms at most; shorter repairs a lost eager message sooner at more
   * messages. Limit 1..60000.
   */
  readonly lazyIntervalMs: number
  /**
   * Plumtree: an announced item not received this long after its first announcement is grafted. Default
   * 400 ms: a little over two 100 ms hops plus a flush, so a slow eager path is not mistaken for a lost one;
   * shorter repairs sooner and grafts links that were only slow. Limit 1..600000.
   */
  readonly graftTimeoutMs: number
  /**
   * Largest bc.gossip message (as `messageBytes` counts it). Default 64 KiB, as anti-entropy; an item
   * larger than this is left to anti-entropy. Limit 4 KiB..16 MiB.
   */
  readonly messageBytesMax: number
  /** Most ops in one bc.gossip message. Default 1024. Limit 1..65536. */
  readonly opsPerMessageMax: number
  /** Most ids in one bc.ihave or bc.graft. Default 1024 (about 42 KiB). Limit 1..65536. */
  readonly idsPerMessageMax: number
  /**
   * Ids remembered as seen; the oldest is forgotten first. Default 65536 (a few MiB): an id forgotten
   * while copies of its item still travel is delivered again (the log dedupes) and relayed once more.
   * Limit 16..16777216.
   */
  readonly seenMax: number
  /**
   * Items kept to answer grafts. Default 4096: at 100 new items a second, 40 s of history; a graft for an
   * item no longer kept is left to anti-entropy. Limit 0..1048576.
   */
  readonly cacheMax: number
  /**
   * Items waiting for the next flush (push) or per eager peer (plumtree); past it the oldest are dropped
   * (anti-entropy carries them). Default 4096. Limit 1..1048576.
   */
  readonly outboxMax: number
  /** Ids waiting for the next lazy flush, and announced ids awaiting their item. Default 4096; past it the oldest go. Limit 1..1048576. */
  readonly lazyQueueMax: number
}

export const broadcastDefaults: BroadcastConfig = {
  mode: 'push',
  topology: 'mesh',
  hubs: [],
  fanout: 3,
  publishFanout: 0,
  hubFanout: 1,
  viewSize: 6,
  flushIntervalMs: 100,
  flushLeading: false,
  lazyIntervalMs: 250,
  graftTimeoutMs: 400,
  messageBytesMax: 64 * 1024,
  opsPerMessageMax: 1024,
  idsPerMessageMax: 1024,
  seenMax: 65536,
  cacheMax: 4096,
  outboxMax: 4096,
  lazyQueueMax: 4096,
}

/** Framing of a message: type, counts. */
export const messageOverheadBytes = 16
/** Bytes one id counts for: a 32-byte author and an up to 9-byte uvarint seq. */
export const idBytes = 32 + 9

/** Checks a configuration, filling defaults; an error says which setting is out of range and what fits. */
export function parseConfig(
  partial: Partial<BroadcastConfig> = {},
): core.Result<BroadcastConfig, 'invalid_config'> {
  const c: BroadcastConfig = { ...broadcastDefaults, ...partial }
  const bad = (detail: string) => core.fail('invalid_config', `broadcast: ${detail}`)
  if (c.mode !== 'push' && c.mode !== 'plumtree')
    return bad(`mode must be 'push' or 'plumtree', not ${String(c.mode)}`)
  if (typeof c.flushLeading !== 'boolean') return bad(`flushLeading must be true or false, not ${String(c.flushLeading)}`)
  if (c.topology !== 'mesh' && c.topology !== 'hub-spoke')
    return bad(`topology must be 'mesh' or 'hub-spoke', not ${String(c.topology)}`)
  if (!Array.isArray(c.hubs) || c.hubs.length > 64 || !c.hubs.every((h) => core.ids.parseNodeId(h).ok))
    return bad('hubs must be at most 64 node ids')
  if (c.topology === 'hub-spoke' && c.hubs.length === 0)
    return bad('hub-spoke topology needs at least one hub')
  const checks: [keyof BroadcastConfig, number, number][] = [
    ['fanout', 1, 64],
    ['publishFanout', 0, 1024],
    ['hubFanout', 1, 64],
    ['viewSize', 1, 1024],
    ['flushIntervalMs', 0, 60_000],
    ['lazyIntervalMs', 1, 60_000],
    ['graftTimeoutMs', 1, 600_000],
    ['messageBytesMax', 4096, 16 * 1024 * 1024],
    ['opsPerMessageMax', 1, 65536],
    ['idsPerMessageMax', 1, 65536],
    ['seenMax', 16, 16 * 1024 * 1024],
    ['cacheMax', 0, 1024 * 1024],
    ['outboxMax', 1, 1024 * 1024],
    ['lazyQueueMax', 1, 1024 * 1024],
  ]
  for (const [k, lo, hi] of checks) {
    const v = c[k]
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi))
      return bad(`${k} must be an integer in ${lo}..${hi}, not ${String(v)}`)
  }
  if (c.viewSize < c.fanout) return bad(`viewSize ${c.viewSize} must be at least fanout ${c.fanout}`)
  return core.ok(c)
}

// ---- messages

/** An item's id: its author and the seq of its last op. */
export type ItemId = readonly [AuthorId, number]

/** Items: runs of one author's consecutive ops, each ending at a signed op. */
export type GossipMessage = { readonly type: 'bc.gossip'; readonly batches: readonly (readonly SignedOp[])[] }
/** Plumtree: "I have these items" (to lazy peers). */
export type IHaveMessage = { readonly type: 'bc.ihave'; readonly ids: readonly ItemId[] }
/** Plumtree: "send me these items, and make me eager". */
export type GraftMessage = { readonly type: 'bc.graft'; readonly ids: readonly ItemId[] }
/** Plumtree: "you sent me only duplicates: make me lazy". */
export type PruneMessage = { readonly type: 'bc.prune' }
export type BroadcastMessage = GossipMessage | IHaveMessage | GraftMessage | PruneMessage

export type Outgoing = { readonly to: NodeId; readonly message: BroadcastMessage }
/** A dropped message, for peer scoring. */
export type Rejected = {
  readonly from: NodeId
  readonly reason: 'malformed' | 'too_large'
  readonly detail: string
}

export type Output = {
  readonly send: Outgoing[]
  /** Items seen for the first time (and admitted), for the caller to validate and ingest. */
  readonly received: SignedOp[][]
  readonly rejected: Rejected[]
}

/** What the machine did so far (for the simulator's report and for tests). */
export type BroadcastStats = {
  /** Messages returned to send, by type. */
  sent: { gossip: number; ihave: number; graft: number; prune: number }
  /** Items delivered for the first time (published ones included). */
  delivered: number
  /** Items received that were already seen. */
  duplicates: number
  /** Items dropped by a limit (outbox full, larger than a message); anti-entropy carries them. */
  dropped: number
  /** Announced ids dropped by a limit (lazy queue or missing set full). */
  idsDropped: number
  /** Grafts for items no longer cached. */
  graftMisses: number
  rejected: number
}

/** The bytes a message counts for against messageBytesMax (its wire form is at most this). */
export function messageBytes(m: BroadcastMessage): number {
  if (m.type === 'bc.gossip') {
    let n = messageOverheadBytes
    for (const b of m.batches) n += batchBytes(b)
    return n
  }
  if (m.type === 'bc.prune') return messageOverheadBytes
  return messageOverheadBytes + m.ids.length * idBytes
}

// ---- validation

type Check<T> = { ok: true; value: T } | { ok: false; reason: Rejected['reason']; detail: string }
const bad = <T>(detail: string, reason: Rejected['reason'] = 'malformed'): Check<T> => ({
  ok: false,
  reason,
  detail,
})

const authorPattern = /^[0-9a-f]{64}$/

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function isBytes(x: unknown, length?: number): x is Uint8Array {
  return x instanceof Uint8Array && (length === undefined || x.length === length)
}

function checkIds(x: unknown, config: BroadcastConfig): Check<ItemId[]> {
  if (!Array.isArray(x) || x.length < 1) return bad('ids is not a non-empty array (B4)')
  if (x.length > config.idsPerMessageMax)
    return bad(`${x.length} ids, over the limit ${config.idsPerMessageMax} (B4)`, 'too_large')
  const seen = new Set<string>()
  for (let i = 0; i < x.length; i++) {
    const e: unknown = x[i]
    if (!Array.isArray(e) || e.length !== 2) return bad(`id ${i} is not [author, seq] (B5)`)
    const [a, s] = e as [unknown, unknown]
    if (typeof a !== 'string' || !authorPattern.test(a))
      return bad(`id ${i}: author is not 64 lowercase hex characters (B5)`)
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 1)
      return bad(`id ${i}: seq must be a safe integer >= 1 (B5)`)
    const k = `${a}:${s}`
    if (seen.has(k)) return bad(`id ${i} is listed twice (B5)`)
    seen.add(k)
  }
  return { ok: true, value: x as ItemId[] }
}

function checkGossip(x: Record<string, unknown>, config: BroadcastConfig): Check<GossipMessage> {
  const batches = x['batches']
  if (!Array.isArray(batches) || batches.length < 1) return bad('batches is not a non-empty array (B2)')
  let ops = 0
  let bytes = messageOverheadBytes
  const ids = new Set<string>()
  for (let i = 0; i < batches.length; i++) {
    const b: unknown = batches[i]
    if (!Array.isArray(b) || b.length < 1 || b.length > batchOpsMax)
      return bad(`batch ${i} is not an array of 1..${batchOpsMax} ops (B2)`)
    ops += b.length
    if (ops > config.opsPerMessageMax) return bad(`over ${config.opsPerMessageMax} ops (B3)`, 'too_large')
    let author = ''
    let prevSeq = 0
    for (let j = 0; j < b.length; j++) {
      const e: unknown = b[j]
      if (!isRecord(e) || !isBytes(e['bytes']) || !isBytes(e['hash'], hashLength) || !isRecord(e['op']))
        return bad(`batch ${i} op ${j} is not a signed op (op, bytes, hash) (B2)`)
      const sig = e['sig']
      if (sig !== undefined && !isBytes(sig, signatureLength))
        return bad(`batch ${i} op ${j}: sig is not ${signatureLength} bytes (B2)`)
      if (j === b.length - 1 && sig === undefined) return bad(`batch ${i} does not end at a signed op (B2)`)
      const op = e['op']
      const a = op['author']
      const seq = op['seq']
      if (typeof a !== 'string' || !authorPattern.test(a))
        return bad(`batch ${i} op ${j}: author is not 64 lowercase hex characters (B2)`)
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1)
        return bad(`batch ${i} op ${j}: seq must be a safe integer >= 1 (B2)`)
      if (j > 0 && (a !== author || seq !== prevSeq + 1))
        return bad(`batch ${i} op ${j}: not the next op of the batch's author (B2)`)
      author = a
      prevSeq = seq
    }
    const id = `${author}:${prevSeq}`
    if (ids.has(id)) return bad(`batch ${i} repeats an item of this message (B2)`)
    ids.add(id)
    bytes += batchBytes(b as SignedOp[])
  }
  if (bytes > config.messageBytesMax)
    return bad(`message counts ${bytes} bytes, over the limit ${config.messageBytesMax} (B3)`, 'too_large')
  return { ok: true, value: { type: 'bc.gossip', batches: batches as SignedOp[][] } }
}

/**
 * A message is valid if and only if:
 *   (B1) it is an object whose `type` is one of bc.gossip, bc.ihave, bc.graft, bc.prune;
 *   (B2) `batches` (gossip) is a non-empty array of items, each 1..batchOpsMax signed ops (op, bytes, a
 *        32-byte hash, sig absent or 64 bytes) of one author (64 lowercase hex) with consecutive safe-integer
 *        seqs >= 1, the last one signed, no item twice;
 *   (B3) a gossip message holds at most opsPerMessageMax ops and counts at most messageBytesMax bytes;
 *   (B4) `ids` (ihave, graft) is a non-empty array of at most idsPerMessageMax ids;
 *   (B5) each id is [author (64 lowercase hex), seq (safe integer >= 1)], none twice.
 * Never throws (a hostile getter or proxy is a bad message too).
 */
export function checkMessage(x: unknown, config: BroadcastConfig): Check<BroadcastMessage> {
  try {
    if (!isRecord(x)) return bad('message is not an object (B1)')
    const t = x['type']
    if (t === 'bc.gossip') return checkGossip(x, config)
    if (t === 'bc.ihave' || t === 'bc.graft') {
      const ids = checkIds(x['ids'], config)
      return ids.ok ? { ok: true, value: { type: t, ids: ids.value } } : ids
    }
    if (t === 'bc.prune') return { ok: true, value: { type: 'bc.prune' } }
    return bad('type is not bc.gossip, bc.ihave, bc.graft or bc.prune (B1)')
  } catch (err) {
    return bad(`message could not be read: ${String(err)}`)
  }
}

// ---- the wire form

const typeCodes = { 'bc.gossip': 0x11, 'bc.ihave': 0x12, 'bc.graft': 0x13, 'bc.prune': 0x14 } as const

/**
 * A message's bytes:
 *
 *   type    1 byte: 0x11 bc.gossip, 0x12 bc.ihave, 0x13 bc.graft, 0x14 bc.prune
 *   gossip  uvarint item count, then per item a uvarint length and the batch (batch.ts, batch_head form)
 *   ihave,
 *   graft   uvarint id count, then per id the 32-byte author and a uvarint seq
 *   prune   nothing more
 *
 * messageBytes() counts at least these bytes. decodeMessage checks the framing; checkMessage the rules.
 */
export function encodeMessage(m: BroadcastMessage): Uint8Array {
  const w = codec.createWriter(messageBytes(m) + 16)
  codec.writeByte(w, typeCodes[m.type])
  if (m.type === 'bc.gossip') {
    codec.writeUvarint(w, m.batches.length)
    for (const b of m.batches) {
      const bytes = encodeBatch(b, 'batch_head')
      codec.writeUvarint(w, bytes.length)
      codec.writeFixed(w, bytes)
    }
  } else if (m.type === 'bc.ihave' || m.type === 'bc.graft') {
    codec.writeUvarint(w, m.ids.length)
    for (const [a, s] of m.ids) {
      codec.writeFixed(w, authorBytes(a))
      codec.writeUvarint(w, s)
    }
  }
  return codec.finish(w)
}



/** Untrusted bytes to a message object (its protocol rules are checkMessage's). Never throws. */
export function decodeMessage(bytes: Uint8Array, config: BroadcastConfig): Check<unknown> {
  const limit = Math.max(config.messageBytesMax, messageOverheadBytes + config.idsPerMessageMax * idBytes)
  if (bytes.length > limit)
    return bad(`message is ${bytes.length} bytes, over the limit ${limit}`, 'too_large')
  let failure: string | undefined
  const d = codec.decodeWith(bytes, (r): unknown => {
    const type = codec.readByte(r)
    let out: unknown
    if (type === 0x11) {
      const n = codec.readCount(r, 2)
      if (n > config.opsPerMessageMax) codec.malformed(`${n} items, over ${config.opsPerMessageMax} ops`)
      const batches: SignedOp[][] = []
      for (let i = 0; i < n; i++) {
        const len = codec.readCount(r)
        const b = decodeBatch(codec.readFixed(r, len))
        if (!b.ok) {
          failure = `item ${i}: ${b.detail}`
          return codec.malformed(failure)
        }
        batches.push([...b.value.ops])
      }
      out = { type: 'bc.gossip', batches }
    } else if (type === 0x12 || type === 0x13) {
      const n = codec.readCount(r, authorLength + 1)
      if (n > config.idsPerMessageMax) codec.malformed(`${n} ids, over ${config.idsPerMessageMax}`)
      const ids: ItemId[] = []
      for (let i = 0; i < n; i++)
        ids.push([authorIdFromBytes(codec.readFixed(r, authorLength)), codec.readUvarint(r)])
      out = { type: type === 0x12 ? 'bc.ihave' : 'bc.graft', ids }
    } else if (type === 0x14) out = { type: 'bc.prune' }
    else codec.malformed(`unknown message type ${type}`)
    if (codec.remaining(r) !== 0) codec.malformed(`${codec.remaining(r)} trailing bytes`)
    return out
  })
  return d.ok ? { ok: true, value: d.value } : bad(failure ?? d.detail)
}

// ---- the state machine

export type Broadcast = {
  readonly config: BroadcastConfig
  /** A new local item (a run of this node's ops ending at a signed op): delivered to self as seen, and sent. */
  publish(batch: readonly SignedOp[], nowMs: number): Output
  /** Handles a message from a peer (its bytes or a message object). A bad one is dropped and reported in `rejected`. */
  receive(from: NodeId, message: unknown, nowMs: number): Output
  /** Flushes batched items and announcements when due, and grafts announced items that did not come. */
  tick(nowMs: number): Output
  /** The membership change hook: the peers this node may use now (self excluded). Departed peers leave the tree. */
  setPeers(peers: readonly NodeId[]): void
  /** Plumtree: the current eager and lazy peers (for tests and the simulator). */
  links(): { eager: NodeId[]; lazy: NodeId[] }
  /** Has this id been seen (and not yet forgotten)? */
  hasSeen(author: AuthorId, seq: number): boolean
  stats(): BroadcastStats
}

type Item = {
  readonly id: string
  readonly ops: readonly SignedOp[]
  readonly from: NodeId | undefined
  /** Plumtree: peers sent the item itself; the lazy flush announces it to the other view peers. */
  readonly sentTo: Set<NodeId>
  /** Has the item left the outbox (sent eagerly, or dropped by the outbox limit)? Only then is it announced. */
  flushed: boolean
}

/** Plumtree: each announcer of a missing item is asked at most this many times. */
export const graftRounds = 3

const idKey = (author: string, seq: number): string => `${author}:${seq}`
const itemIdOf = (b: readonly SignedOp[]): ItemId => {
  const last = b[b.length - 1] as SignedOp
  return [last.op.author, last.op.seq]
}

export function createBroadcast(opts: {
  self: NodeId
  prng: Prng
  config?: Partial<BroadcastConfig>
  /** Should a first-seen item be delivered and relayed? (The node checks signatures here.) Default: yes. */
  admit?: (batch: readonly SignedOp[]) => boolean
}): Broadcast {
  const parsed = parseConfig(opts.config)
  if (!parsed.ok) throw new RangeError(parsed.detail)
  const config = parsed.value
  const { self, prng } = opts
  const hubs = new Set<NodeId>(config.hubs)
  const hubSpoke = config.topology === 'hub-spoke'
  const selfIsHub = hubSpoke && hubs.has(self)

  /** Peers this node may talk to under its topology. */
  let peers: NodeId[] = []
  let peerSet = new Set<NodeId>()
  const eager = new Set<NodeId>()
  const lazy = new Set<NodeId>()
  /** Ids seen, oldest first (a Map keeps insertion order). */
  const seen = new Map<string, true>()
  /** Recent items, for grafts, oldest first. */
  const cache = new Map<string, Item>()
  /** Push: items for the next flush. Plumtree: items for the eager peers' next flush. */
  let outbox: Item[] = []
  /** Plumtree: items to announce at the next lazy flush. */
  let lazyQueue: Item[] = []
  /** Plumtree: announced ids not yet received: who announced them (in order) and when to graft. */
  const missing = new Map<string, { id: ItemId; announcers: NodeId[]; grafts: number; graftAtMs: number }>()
  let nextFlushMs: number | undefined
  /** When the last flush went (flushLeading). */
  let lastFlushMs: number | undefined
  let nextLazyMs: number | undefined
  const stats: BroadcastStats = {
    sent: { gossip: 0, ihave: 0, graft: 0, prune: 0 },
    delivered: 0,
    duplicates: 0,
    dropped: 0,
    idsDropped: 0,
    graftMisses: 0,
    rejected: 0,
  }

  const allowed = (p: NodeId): boolean => p !== self && (!hubSpoke || selfIsHub || hubs.has(p))

  const sample = (from: readonly NodeId[], k: number): NodeId[] => {
    const xs = [...from]
    const n = Math.min(k, xs.length)
    for (let i = 0; i < n; i++) {
      const j = i + prngOps.nextInt(prng, xs.length - i)
      const t = xs[i] as NodeId
      xs[i] = xs[j] as NodeId
      xs[j] = t
    }
    return xs.slice(0, n)
  }

  /** Plumtree: keep the view at viewSize (a hub's view is all its peers) and at least `fanout` eager peers. */
  const refillView = (): void => {
    for (const p of eager) if (!peerSet.has(p)) eager.delete(p)
    for (const p of lazy) if (!peerSet.has(p)) lazy.delete(p)
    const size = selfIsHub ? peers.length : config.viewSize
    const outside = peers.filter((p) => !eager.has(p) && !lazy.has(p))
    const room = size - eager.size - lazy.size
    // A hub starts with every peer eager (it relays to all); a mesh node or a spoke with `fanout`.
    for (const p of sample(outside, Math.max(0, room))) {
      if (selfIsHub || eager.size < config.fanout) eager.add(p)
      else lazy.add(p)
    }
    if (eager.size < Math.min(config.fanout, peers.length) && lazy.size > 0) {
      for (const p of sample([...lazy], config.fanout - eager.size)) {
        lazy.delete(p)
        eager.add(p)
      }
    }
  }

  const remember = (id: string): void => {
    seen.set(id, true)
    while (seen.size > config.seenMax) seen.delete(seen.keys().next().value as string)
  }

  const cacheItem = (item: Item): void => {
    if (config.cacheMax === 0) return
    cache.set(item.id, item)
    while (cache.size > config.cacheMax) cache.delete(cache.keys().next().value as string)
  }

  /** Packs items into gossip messages to one peer under the message limits. */
  const sendItems = (to: NodeId, items: readonly Item[], out: Output): void => {
    let batch: SignedOp[][] = []
    let bytes = messageOverheadBytes
    let ops = 0
    const push = (): void => {
      if (batch.length === 0) return
      out.send.push({ to, message: { type: 'bc.gossip', batches: batch } })
      stats.sent.gossip++
      batch = []
      bytes = messageOverheadBytes
      ops = 0
    }
    for (const it of items) {
      it.sentTo.add(to)
      const size = batchBytes(it.ops)
      if (messageOverheadBytes + size > config.messageBytesMax || it.ops.length > config.opsPerMessageMax) {
        stats.dropped++ // too large for the fast path: anti-entropy carries it
        continue
      }
      if (bytes + size > config.messageBytesMax || ops + it.ops.length > config.opsPerMessageMax) push()
      batch.push(it.ops as SignedOp[])
      bytes += size
      ops += it.ops.length
    }
    push()
  }

  /** Push: the peers an item (or a flush of items) goes to. */
  const pushTargets = (from: NodeId | undefined): NodeId[] => {
    if (selfIsHub) {
      if (from !== undefined && hubs.has(from)) return [] // the sending hub reached everyone
      return peers
    }
    if (hubSpoke) return from === undefined ? sample(peers, config.hubFanout) : [] // a spoke relays nothing
    if (from === undefined) return sample(peers, config.publishFanout === 0 ? config.fanout : config.publishFanout)
    return sample(
      peers.filter((p) => p !== from),
      config.fanout,
    )
  }

  const flushPush = (out: Output): void => {
    if (outbox.length === 0) return
    const items = outbox
    outbox = []
    if (config.flushIntervalMs === 0 || hubSpoke) {
      // Per source: hub-spoke's rules depend on where the item came from, and an item never goes back.
      const bySource = new Map<NodeId | undefined, Item[]>()
      for (const it of items) {
        const xs = bySource.get(it.from) ?? []
        xs.push(it)
        bySource.set(it.from, xs)
      }
      const perPeer = new Map<NodeId, Item[]>()
      for (const [from, xs] of bySource) {
        for (const p of pushTargets(from)) {
          if (p === from) continue
          const list = perPeer.get(p) ?? []
          list.push(...xs)
          perPeer.set(p, list)
        }
      }
      for (const [p, xs] of perPeer) sendItems(p, xs, out)
      return
    }
    // A batched flush: `fanout` peers for the relayed items of the whole flush (each gets what it did not
    // send us), publishFanout peers for this node's own; one message per peer.
    const own = items.filter((it) => it.from === undefined)
    const relayed = items.filter((it) => it.from !== undefined)
    const relayOrder = relayed.length > 0 || (own.length > 0 && config.publishFanout === 0) ? sample(peers, config.fanout) : []
    const ownOrder = own.length > 0 && config.publishFanout > 0 ? pushTargets(undefined) : []
    const relayTo = new Set(relayOrder)
    const ownTo = new Set(ownOrder)
    for (const p of [...relayOrder, ...ownOrder.filter((q) => !relayTo.has(q))]) {
      const xs: Item[] = []
      if (ownTo.has(p) || (config.publishFanout === 0 && relayTo.has(p))) xs.push(...own)
      if (relayTo.has(p)) for (const it of relayed) if (it.from !== p) xs.push(it)
      if (xs.length > 0) sendItems(p, xs, out)
    }
  }

  const flushEager = (out: Output): void => {
    if (outbox.length === 0) return
    const items = outbox
    outbox = []
    for (const it of items) it.flushed = true
    for (const p of eager) {
      const xs = items.filter((it) => it.from !== p)
      if (xs.length > 0) sendItems(p, xs, out)
    }
  }

  const flushLazy = (out: Output): void => {
    if (lazyQueue.length === 0) return
    // An item still in the outbox waits: announcing it before its eager flush would announce it to
    // the eager peers too.
    const q = lazyQueue.filter((it) => it.flushed)
    lazyQueue = lazyQueue.filter((it) => !it.flushed)
    // Every view peer not sent the item gets its id: the lazy peers, and a peer that became eager after
    // the item's eager flush (otherwise it would get neither).
    for (const p of [...lazy, ...eager]) {
      const ids = q.filter((it) => it.from !== p && !it.sentTo.has(p)).map((it) => itemIdOf(it.ops))
      if (ids.length === 0) continue
      for (let i = 0; i < ids.length; i += config.idsPerMessageMax) {
        out.send.push({
          to: p,
          message: { type: 'bc.ihave', ids: ids.slice(i, i + config.idsPerMessageMax) },
        })
        stats.sent.ihave++
      }
    }
  }

  const flush = (out: Output): void => {
    if (config.mode === 'push') flushPush(out)
    else flushEager(out)
  }

  /** New items are queued: flush now (interval 0, or the leading edge of an idle node) or at the next flush. */
  const scheduleFlush = (nowMs: number, out: Output): void => {
    if (config.flushIntervalMs === 0) return flush(out)
    if (config.flushLeading) {
      if (nextFlushMs === undefined && (lastFlushMs === undefined || nowMs - lastFlushMs >= config.flushIntervalMs)) {
        lastFlushMs = nowMs
        return flush(out)
      }
      nextFlushMs ??= (lastFlushMs ?? nowMs) + config.flushIntervalMs
      return
    }
    nextFlushMs ??= nowMs + config.flushIntervalMs
  }

  /** A first-seen item: remember, cache, queue for relay. */
  const accept = (item: Item, out: Output | undefined): void => {
    remember(item.id)
    stats.delivered++
    cacheItem(item)
    missing.delete(item.id)
    if (out !== undefined) out.received.push(item.ops as SignedOp[])
    outbox.push(item)
    if (outbox.length > config.outboxMax) {
      stats.dropped += outbox.length - config.outboxMax
      for (const it of outbox.slice(0, outbox.length - config.outboxMax)) it.flushed = true // announced lazily
      outbox = outbox.slice(outbox.length - config.outboxMax)
    }
    if (config.mode === 'plumtree') {
      lazyQueue.push(item)
      if (lazyQueue.length > config.lazyQueueMax) {
        stats.idsDropped += lazyQueue.length - config.lazyQueueMax
        lazyQueue = lazyQueue.slice(lazyQueue.length - config.lazyQueueMax)
      }
    }
  }

  const isKnown = (author: AuthorId, seq: number): boolean => {
    return seen.has(idKey(author, seq))
  }

  const output = (): Output => ({ send: [], received: [], rejected: [] })

  /**
   * A mesh node's view stays at viewSize: a peer that made itself eager (it sent us an item first, or
   * grafted) pushes a random lazy peer out, so announcements go to at most viewSize peers. (Without this
   * the views of a 25-node mesh grew to every peer and announcements cost 98 messages an item.)
   */
  const trimView = (): void => {
    if (selfIsHub) return
    while (eager.size + lazy.size > config.viewSize && lazy.size > 0) {
      const xs = [...lazy]
      lazy.delete(xs[prngOps.nextInt(prng, xs.length)] as NodeId)
    }
  }

  const makeEager = (p: NodeId): void => {
    if (!peerSet.has(p)) return
    lazy.delete(p)
    eager.add(p)
    trimView()
  }

  const onGossip = (from: NodeId, m: GossipMessage, nowMs: number, out: Output): void => {
    let fresh = 0
    for (const b of m.batches) {
      const [a, s] = itemIdOf(b)
      if (isKnown(a, s)) {
        stats.duplicates++
        continue
      }
      if (opts.admit !== undefined && !opts.admit(b)) continue
      fresh++
      accept({ id: idKey(a, s), ops: b, from, sentTo: new Set(), flushed: false }, out)
    }
    if (config.mode === 'plumtree') {
      if (fresh > 0) makeEager(from)
      else if (peerSet.has(from) && !(eager.size === 1 && eager.has(from))) {
        // Only duplicates: this link is redundant. (A node keeps at least one eager peer: with none, what it
        // publishes would wait for a graft.)
        eager.delete(from)
        lazy.add(from)
        out.send.push({ to: from, message: { type: 'bc.prune' } })
        stats.sent.prune++
      }
    }
    if (fresh === 0) return
    scheduleFlush(nowMs, out)
  }

  const onIHave = (from: NodeId, m: IHaveMessage, nowMs: number): void => {
    if (config.mode !== 'plumtree') return
    for (const [a, s] of m.ids) {
      if (isKnown(a, s)) continue
      const k = idKey(a, s)
      const e = missing.get(k)
      if (e !== undefined) {
        if (!e.announcers.includes(from) && e.announcers.length < 16) e.announcers.push(from)
        continue
      }
      missing.set(k, { id: [a, s], announcers: [from], grafts: 0, graftAtMs: nowMs + config.graftTimeoutMs })
      if (missing.size > config.lazyQueueMax) {
        missing.delete(missing.keys().next().value as string)
        stats.idsDropped++
      }
    }
  }

  const onGraft = (from: NodeId, m: GraftMessage, out: Output): void => {
    if (config.mode !== 'plumtree') return
    makeEager(from)
    const items: Item[] = []
    for (const [a, s] of m.ids) {
      const it = cache.get(idKey(a, s))
      if (it === undefined) stats.graftMisses++
      else items.push(it)
    }
    if (items.length > 0) sendItems(from, items, out)
  }

  /**
   * Grafts due: per announcer, one bc.graft with its ids. The next announcer is tried a timeout later, round
   * robin, up to graftRounds times each (a graft or its answer may be lost too); then anti-entropy repairs.
   */
  const graftDue = (nowMs: number, out: Output): void => {
    const perPeer = new Map<NodeId, ItemId[]>()
    for (const [k, e] of missing) {
      if (e.graftAtMs > nowMs) continue
      if (e.announcers.length === 0 || e.grafts >= graftRounds * e.announcers.length) {
        missing.delete(k)
        continue
      }
      const p = e.announcers[e.grafts % e.announcers.length] as NodeId
      e.grafts++
      e.graftAtMs = nowMs + config.graftTimeoutMs
      const ids = perPeer.get(p) ?? []
      ids.push(e.id)
      perPeer.set(p, ids)
    }
    for (const [p, ids] of perPeer) {
      makeEager(p)
      for (let i = 0; i < ids.length; i += config.idsPerMessageMax) {
        out.send.push({
          to: p,
          message: { type: 'bc.graft', ids: ids.slice(i, i + config.idsPerMessageMax) },
        })
        stats.sent.graft++
      }
    }
  }

  return {
    config,
    setPeers(next) {
      peers = [...new Set(next)].filter(allowed).sort()
      peerSet = new Set(peers)
      if (config.mode === 'plumtree') refillView()
      for (const e of missing.values()) e.announcers = e.announcers.filter((p) => peerSet.has(p))
    },
    links() {
      return { eager: [...eager].sort(), lazy: [...lazy].sort() }
    },
    hasSeen(author, seq) {
      return seen.has(idKey(author, seq))
    },
    stats() {
      return { ...stats, sent: { ...stats.sent } }
    },
    publish(batch, nowMs) {
      const out = output()
      core.assert(
        batch.length >= 1 && (batch[batch.length - 1] as SignedOp).sig !== undefined,
        'broadcast: publish takes a run ending at a signed op',
      )
      const [a, s] = itemIdOf(batch)
      if (seen.has(idKey(a, s))) return out
      accept({ id: idKey(a, s), ops: batch, from: undefined, sentTo: new Set(), flushed: false }, undefined)
      scheduleFlush(nowMs, out)
      return out
    },
    receive(from, message, nowMs) {
      const out = output()
      const raw =
        message instanceof Uint8Array ? decodeMessage(message, config) : { ok: true as const, value: message }
      const m = raw.ok ? checkMessage(raw.value, config) : raw
      if (!m.ok) {
        stats.rejected++
        out.rejected.push({ from, reason: m.reason, detail: m.detail })
        return out
      }
      const msg = m.value
      switch (msg.type) {
        case 'bc.gossip':
          onGossip(from, msg, nowMs, out)
          break
        case 'bc.ihave':
          onIHave(from, msg, nowMs)
          break
        case 'bc.graft':
          onGraft(from, msg, out)
          break
        case 'bc.prune':
          if (config.mode === 'plumtree' && eager.has(from)) {
            eager.delete(from)
            lazy.add(from)
          }
          break
        default:
          core.unreachable(msg)
      }
      return out
    },
    tick(nowMs) {
      const out = output()
      if (nextFlushMs !== undefined && nowMs >= nextFlushMs) {
        nextFlushMs = undefined
        lastFlushMs = nowMs
        flush(out)
      }
      if (config.mode === 'plumtree') {
        nextLazyMs ??= nowMs + config.lazyIntervalMs
        if (nowMs >= nextLazyMs) {
          nextLazyMs = nowMs + config.lazyIntervalMs
          flushLazy(out)
        }
        graftDue(nowMs, out)
      }
      return out
    },
  }
}
