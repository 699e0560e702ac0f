/**
 * Anti-entropy (design.md section 6): the reliable path. A sans-I/O state machine: `tick(now, peers)` and
 * `receive(from, message, now)` return the messages to send and the ops to ingest; no sockets, no timers,
 * no wall clock (time is an argument, choices come from a core Prng).
 *
 * The exchange (Scuttlebutt-style push-pull with flow control):
 *   1. Every `intervalMs` (with jitter) a node picks a peer and sends `ae.digest`: its version vector,
 *      author -> highest contiguous seq.
 *   2. The peer answers `ae.delta`: the ops the sender lacks, whole signed runs oldest first per author,
 *      round-robin across authors, under `messageBytesMax`, with `more` set when the budget cut it short;
 *      and its own digest, so the first node can answer in turn with what the peer lacks.
 *   3. A node that receives a delta with `more` asks again at once (a new digest that counts the ops it
 *      just received), so a large backlog streams message by message without waiting for the interval.
 *      Each delta of such a stream may be twice the size of the one before, from messageBytesMax up to
 *      `streamBytesMax` (64 KiB to 1 MiB by default): a backlog takes fewer round trips, and its receiver
 *      stores it in larger transactions, which cost less per op; the first delta to a peer, which another
 *      peer may be answering too, stays small. A stream that pauses for intervalMs starts over small.
 *
 * Small digests for large fleets. On the wire a digest entry names its author by an 8-byte prefix
 * (shortAuthorBytes; about 10 bytes an entry instead of 34), with the whole ids of the authors the
 * receiver may not know yet in `names`. A node remembers, per peer, its own vector when it last sent that peer a
 * digest, and usually sends only the entries that changed since then (a *partial* digest: unlisted
 * authors mean "no news", not "nothing"). Every `fullDigestEvery`-th digest to a peer, and the first one,
 * is *full*: it lists every author in a key range, and an author in the range that is not listed means
 * seq 0. A full digest of more than `digestEntriesMax` authors is paged: each page covers the next range
 * of the sorted authors, and a cursor per peer walks the pages. The receiver keeps what each peer told it
 * (`theirs`) and answers for every author it knows the peer to lack, so partial digests lose nothing: an
 * author the peer never mentioned is sent after the peer's next full page names the range it lives in.
 * Lost digests only make the receiver's view of the peer stale-low, which costs re-sent ops (duplicates
 * are harmless) and never a gap; a node that is sent ops it holds lists their authors in its next digest
 * to that peer, and a node that never heard a full digest from a peer (the first was lost) sets
 * `wantFull`, so the peer's next digest is full.
 *
 * Catch-up without duplicates. A backlog bigger than one message streams over several round trips, and
 * other messages cross it: the receiver's interval digest and follow-ups, other peers' exchanges. Two
 * rules keep a node from being sent the same ops twice (the simulator's days scenario checks that a node
 * back from days offline receives at most 2x the bytes it missed; without them, up to 4.1x):
 *   - Sender side: per peer and author, the highest seq sent and when. For `inFlightMs` after sending, an
 *     answer to that peer starts past it, not at what the peer's (possibly crossing) digest says; the
 *     entry goes once a digest of the peer shows the seq, or when it expires, so a lost delta is re-sent
 *     after at most inFlightMs. One entry per author per peer.
 *   - Receiver side: while a peer's deltas say `more`, the authors it is moving (those in its last delta
 *     and those it holds more of than we do) are that peer's stream: one stream per author. Our digests
 *     to other peers list them as `busy` and those peers send none of their ops. A stream ends with a
 *     delta without `more` or inFlightMs after its last delta. A peer's digest showing it holds more of
 *     an author than we do claims that author the same way (our answer carries our digest, and the peer
 *     answers it with those ops), and so does our own interval digest to a peer we know (from its last
 *     digest) to hold more: two peers that start exchanges with a returning node at once, or one that
 *     does while the node asks another, do not both send it the same backlog (a lost or dead stream
 *     frees its authors for any peer). One entry per author named, pruned as they expire.
 * And a backlog (more than one message) is not streamed from a stale view: if the peer's last digest
 * reached us over fullDigestEvery x intervalMs ago and its new one is partial, its digests in between may
 * have been lost (a partial digest then omits what it got since), so the answer is an empty delta with
 * `more` and `wantFull`, and the peer asks again at once with a full digest. One round trip, only before
 * a backlog.
 * A clock that goes back ends what was in flight (nothing is trusted past `now < sent`). inFlightMs 0
 * turns both rules off.
 *
 * Young ops. With a fast path in front (broadcast.ts), a new op is on its way to every node while
 * anti-entropy exchanges digests; answering a digest with it sends a second copy (sim/ae-steady.ts:
 * 0.34-0.45 anti-entropy copies per delivery with holdMs 0, 0.16-0.24 with 500, most of those repairing
 * what a fanout-2 push missed). So a delta leaves out the ops this node has held for less than
 * `holdMs`, unless anti-entropy itself brought them (those the push is not carrying here), or they were
 * born (HLC wall time) holdMs ago or earlier: the fast path had holdMs from the op's birth to deliver it,
 * and an older op a peer still lacks is what anti-entropy is for. Held time comes from snapshots of the
 * vector taken at ticks and receives (one per holdMs / 4 at most): an op is held-young if the first
 * snapshot taken at or after now - holdMs lacks it. Birth needs the wall clock, which the caller passes
 * to `receive` (`wallMs`; without it only held time counts): per author, past the snapshot, the ops
 * born by then go, up to the first younger one (HLC wall times never go down along an author's seqs, so
 * what goes stays gap-free). A clock behind the author's makes ops look younger (held as without it); one
 * ahead makes them look older (sent: more bytes, never a gap). Digests still list everything held (so a
 * peer does not send us what we have). holdMs 0 turns it off; a node without a fast path must (sim/node.ts
 * does).
 * Why birth counts, in the propagation report's rounds (round 1000 ms, links 100 ms, push flushed once a
 * round): an op pushed to a node arrives with the peers' digests of that round, so the node held it 0 ms
 * and, by held time alone, passed it on by pull only a round later; with birth, an op born a round ago
 * goes at once. And a matched vector sum (below) is acked with what the peer lacked then, if it most
 * likely still lacks it: ops born 2 x holdMs ago or earlier (the sum is of its vector holdMs ago; an op
 * it lacked holdMs after the op's birth is one the push missed), or without a wall clock, held here since
 * 2 x holdMs ago. Without that, a node that lacked an op and sent a sum to one that had it was acked with
 * nothing for up to 4 x holdMs (the sum matched a vector held before the op came). Side by side at the
 * same commit (the report's 20 seeds a cell), max rounds at 7 nodes fanout 1 / 2, 50 nodes fanout 1 / 2:
 * held time only 5 / 4 / 7 / 7, with birth 4 / 4 / 7 / 5, with birth and the sum's pull 3 / 3 / 6 / 5
 * (holdMs 0: 3 / 3 / 6 / 5); sim/ae-steady.ts 25 nodes at 1 / 10 ops/s 1.09x / 0.71x -> 1.04x / 0.80x.
 *
 * Steady-state bytes (sim/ae-steady.ts, also in the propagation report): digests are most of them, so
 * digest entries name authors by an 8-byte prefix (see shortAuthorBytes). The number of entries was the
 * rest: a partial digest lists every author changed since our last digest to *that* peer, and with peers
 * picked at random that is nearly every change, once per pair of nodes (25 nodes at 1 op/s: about 650
 * entries per op, 2.08x the op's bytes). So an interval digest that would be partial, to a peer we expect
 * no ops from, is a *vector sum* instead (`sums`): a 64-bit hash of our vector as of holdMs ago (the
 * first snapshot since now - holdMs: the ops in flight on the fast path are left out, as they are from
 * deltas). The peer compares it with the vectors it held over the last 4 x holdMs (snapshots, only those
 * that changed): ops reach nodes in different orders and at different times, so ours from holdMs ago is
 * usually one of its recent ones. A match means we hold at least that vector: the peer raises its view of
 * us to it and acks with the same sum (both ~13 bytes); on the ack we raise our view of the peer and our
 * per-peer baseline (lastSent) to it, so the entries of a later partial digest are few. No match (ops
 * one of us lacks: a repair to do, or a vector that changes faster than it spreads) is answered with the
 * peer's digest and `more`, no ops, and we ask again at once with our changed entries: the exchange as
 * without sums, one round trip later. Full digests stay on their schedule (fullDigestEvery). While most
 * sums miss (a recent average of answers under 0.5), only every 4th digest tries one. Measured side by
 * side (sums false vs true, one run): 25 nodes 1 op/s 2.08x -> 1.09x; 10 and 100 ops/s 0.67 -> 0.71,
 * 0.62 -> 0.64; 7 nodes 0.82 -> 0.68, 0.36 -> 0.37, 0.53 -> 0.54. 79% of sums matched at 25 nodes,
 * 1 op/s (63% when matched against the last 1 x holdMs only).
 *
 * A run of ops can only end at a signed op (sign.ts, batch_head): the unit a sender moves is the run from
 * the peer's seq up to the author's next signed op. Units that do not fit the remaining budget are
 * skipped (that author stops for this message, so what is sent stays gap-free) while smaller units of
 * other authors still go in. A unit larger than the whole budget (up to batchBytesMax, 1 MiB) is sent on
 * its own in a message that carries nothing else, so progress never stalls; that message's size is
 * bounded by deltaBytesLimit, not messageBytesMax.
 *
 * `receive` takes a message's bytes (encodeMessage / decodeMessage: the wire form) or, in-process, the
 * message object. Received ops are handed to the caller, grouped per author in seq order. Nothing here checks them
 * beyond the message's shape: the node layer validates signatures and chains through the store.
 * A message of the wrong shape or out of bounds is dropped and reported in `rejected` (for peer
 * scoring); `receive` never throws on input.
 */
import * as core from '../core/index.ts'
import type { NodeId, Prng, VersionVector } from '../core/index.ts'
import type { Scores } from './scores.ts'
import type { AuthorId, SignedOp } from '../log/index.ts'
import {
  authorBytes,
  authorIdFromBytes,
  authorLength,
  batchBytesMax,
  batchBytesOf,
  batchOpsMax,
  decodeBatch,
  encodeBatch,
  hashLength,
  opShareBytes,
  signatureLength,
} from '../log/index.ts'

const { versionVector: vvOps, prng: prngOps, codec } = core

// ---- the local log, as this machine sees it

/** The node's op log: its version vector and the ops of an author after a seq, oldest first. */
export type LogSource = {
  versionVector(): VersionVector
  opsAfter(author: AuthorId, seq: number, limit: number): readonly SignedOp[]
}

// ---- settings

export type AntiEntropyConfig = {
  /**
   * Time between exchanges this node starts. Default 1000 ms: with a push fast path in front, anti-entropy
   * only repairs, and one exchange a second keeps repair latency to seconds at two messages a second per
   * node. Shorter converges faster after loss and costs proportionally more digests. Limit 10 ms..1 h.
   */
  readonly intervalMs: number
  /**
   * Random spread of the interval, as a fraction of it. Default 0.2: enough to keep a fleet started at
   * once from exchanging in lockstep. Limit 0..0.9.
   */
  readonly jitter: number
  /**
   * Largest delta message: ops (in their batch form) plus the digest plus framing. Default 64 KiB: a
   * few hundred typical ops per message, small enough not to hold a slow link for long; larger moves a
   * backlog in fewer round trips. Limit 4 KiB..16 MiB. A single signed run bigger than this is still sent,
   * alone (see the header).
   */
  readonly messageBytesMax: number
  /**
   * Largest delta of a backlog stream. A peer we stream a backlog to (our last delta to it said `more`,
   * and it asked again within intervalMs) gets a budget twice the last one's, from messageBytesMax up to
   * this: 64 KiB, 128 KiB, ... 1 MiB by default. A backlog then moves in fewer round trips and its
   * receiver stores it in fewer, larger transactions (a store's commit costs per page it dirties, and
   * a larger group dirties fewer pages per op: bench/store.ts measures it), while a first reply, which
   * another peer may be answering at the same time, stays at messageBytesMax. A node accepts deltas up
   * to its own streamBytesMax: keep it the same across a fleet. Limit messageBytesMax..16 MiB; the
   * daemon's frames hold 2 MiB.
   */
  readonly streamBytesMax: number
  /**
   * Most entries in one digest. Default 512 (about 21 KiB at 41 bytes an entry, a third of the default
   * message): a fleet of more authors pages its full digests. Smaller keeps messages small and makes
   * full coverage take more rounds. Limit 16..65536, and the digest must fit in half a message.
   */
  readonly digestEntriesMax: number
  /**
   * Every how many digests to a peer one is full (the rest list only changed authors). Default 10:
   * a lost digest or a stale view of a peer is repaired within 10 exchanges with it; 1 sends full digests
   * always (simplest, most bytes). Also sets when a view of a peer counts as stale: not refreshed by its
   * digest for fullDigestEvery x intervalMs, a backlog to it waits for its full digest (see the header).
   * Limit 1..10000.
   */
  readonly fullDigestEvery: number
  /**
   * Most delta messages sent back to back for one digest. Default 1: a reply is one message, and a
   * backlog streams one round trip per message. More moves a backlog faster over lossy or long links (a
   * lost message stalls the stream only until the next exchange) at the cost of bursts of up to
   * deltasPerReply x messageBytesMax. Needs an in-order link: a burst that arrives reordered loses the
   * messages that overtook the first (receive drops what would leave a gap); in the 5-node test's
   * reordering network, 4 took more intervals than 1 (298 vs 213 over its 20 runs). Limit 1..64.
   */
  readonly deltasPerReply: number
  /**
   * How long a sent delta is presumed in flight, and a peer's `more` stream presumed alive (see "Catch-up
   * without duplicates" in the header). Default 1000 ms (one interval): a sender does not resend ops to a
   * peer that it sent them less than this ago, and a node being streamed an author's backlog asks other
   * peers not to send that author for this long after the stream's last delta. Longer saves bytes on slow
   * links and delays the repair of a lost delta by up to this much; 0 turns both off (every crossing
   * digest is answered with the same ops, and concurrent streams overlap: the simulator's days scenario
   * then saw up to 4.1x the missed bytes to catch up). Limit 0..3600000.
   */
  readonly inFlightMs: number
  /**
   * Ops this node has held for less than this long are left out of its deltas, unless anti-entropy
   * brought them (see "Young ops" in the header). Default 500 ms: with a push fast path in front, the
   * time a new op takes to reach most of a fleet (sim/ae-steady.ts: 7-25 nodes, 50 ms links, 100 ms
   * batching); there it takes anti-entropy's op copies per delivery from 0.34-0.45 to 0.16-0.24. Ops born
   * (HLC wall time) this long ago are not held, when `receive` is given the wall clock. Longer saves more
   * duplicates and delays the repair of what the fast path lost by as much; 0 when there is no fast path
   * (every new op then travels by anti-entropy alone). Limit 0..60000.
   */
  readonly holdMs: number
  /**
   * Whether an interval digest that would list only changed authors sends a 64-bit sum of our vector as
   * of holdMs ago instead, when we expect no ops from the peer (see "Steady-state bytes" in the header).
   * Default true: at 25 nodes and 1 op/s a digest then costs ~20 bytes and its ack ~20 instead of a
   * listing of every author changed since our last digest to that peer; a peer that does not know the
   * sum answers with its digest and the exchange goes on as without (one round trip more). false: the
   * changed entries always.
   */
  readonly sums: boolean
}

export const antiEntropyDefaults: AntiEntropyConfig = {
  intervalMs: 1000,
  jitter: 0.2,
  messageBytesMax: 64 * 1024,
  streamBytesMax: 1024 * 1024,
  digestEntriesMax: 512,
  fullDigestEvery: 10,
  deltasPerReply: 1,
  inFlightMs: 1000,
  holdMs: 500,
  sums: true,
}

/** Bytes one digest entry counts for: a 32-byte author and an up to 9-byte uvarint seq. */
export const digestEntryBytes = 32 + 9
/** Framing of a message: type, flags, counts, a range's two bounds. */
export const messageOverheadBytes = 16 + 2 * 32
/** Framing of one batch in a delta beyond batchBytesOf: the author-group count and batch length prefix. */
export const batchFramingBytes = 8
/** Most batches in one delta a receiver accepts: a 16 MiB message of the smallest batches. */
export const deltaBatchesMax = 65536

/** The largest delta a node with this config may send (and so accept): the budget, or one oversize run. */
export function deltaBytesLimit(config: AntiEntropyConfig): number {
  return Math.max(
    config.messageBytesMax,
    config.streamBytesMax,
    messageOverheadBytes + config.digestEntriesMax * digestEntryBytes + batchFramingBytes + batchBytesMax,
  )
}

/** Checks a configuration, filling defaults; an error says which setting is out of range and what fits. */
export function parseConfig(
  partial: Partial<AntiEntropyConfig> = {},
): core.Result<AntiEntropyConfig, 'invalid_config'> {
  let c: AntiEntropyConfig = { ...antiEntropyDefaults, ...partial }
  // a budget raised past the default stream's, with no stream given: streams start (and stay) there
  if (partial.streamBytesMax === undefined && Number.isInteger(c.messageBytesMax) && c.messageBytesMax > c.streamBytesMax)
    c = { ...c, streamBytesMax: c.messageBytesMax }
  const bad = (detail: string) => core.fail('invalid_config', `anti-entropy: ${detail}`)
  const intIn = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi
  if (!intIn(c.intervalMs, 10, 3_600_000)) return bad(`intervalMs must be an integer in 10..3600000, not ${c.intervalMs}`)
  if (!(typeof c.jitter === 'number' && c.jitter >= 0 && c.jitter <= 0.9)) return bad(`jitter must be in 0..0.9, not ${c.jitter}`)
  if (!intIn(c.messageBytesMax, 4096, 16 * 1024 * 1024))
    return bad(`messageBytesMax must be an integer in 4096..16777216, not ${c.messageBytesMax}`)
  if (!intIn(c.streamBytesMax, c.messageBytesMax, 16 * 1024 * 1024))
    return bad(`streamBytesMax must be an integer in messageBytesMax (${c.messageBytesMax})..16777216, not ${c.streamBytesMax}`)
  if (!intIn(c.digestEntriesMax, 16, 65536))
    return bad(`digestEntriesMax must be an integer in 16..65536, not ${c.digestEntriesMax}`)
  if (messageOverheadBytes + c.digestEntriesMax * digestEntryBytes > c.messageBytesMax / 2) {
    return bad(
      `a full digest of ${c.digestEntriesMax} entries would take over half of messageBytesMax ${c.messageBytesMax}; lower digestEntriesMax or raise messageBytesMax`,
    )
  }
  if (!intIn(c.fullDigestEvery, 1, 10000))
    return bad(`fullDigestEvery must be an integer in 1..10000, not ${c.fullDigestEvery}`)
  if (!intIn(c.deltasPerReply, 1, 64)) return bad(`deltasPerReply must be an integer in 1..64, not ${c.deltasPerReply}`)
  if (!intIn(c.inFlightMs, 0, 3_600_000)) return bad(`inFlightMs must be an integer in 0..3600000, not ${c.inFlightMs}`)
  if (!intIn(c.holdMs, 0, 60_000)) return bad(`holdMs must be an integer in 0..60000, not ${c.holdMs}`)
  if (typeof c.sums !== 'boolean') return bad(`sums must be a boolean, not ${String(c.sums)}`)
  return core.ok(c)
}

// ---- messages

/** One digest entry: an author and the highest seq the sender holds contiguously (>= 1). */
export type DigestEntry = readonly [AuthorId, number]

/**
 * A digest. With `range`, it is full over [range.from, range.to) (to null: to the end): an author in the
 * range that is not listed is at seq 0. Without, it is partial: only the listed authors are news.
 * Entries are sorted by author, strictly ascending.
 */
export type Digest = {
  readonly entries: readonly DigestEntry[]
  readonly range?: { readonly from: string; readonly to: string | null } | undefined
  /**
   * Whole ids of listed authors the receiver may not know (it has not told us it holds them): on the
   * wire entries carry 8-byte prefixes (shortAuthorBytes), and these let the receiver name the rest.
   * Sorted strictly ascending, each an author of `entries`.
   */
  readonly names?: readonly AuthorId[] | undefined
  /**
   * A vector sum (see "Steady state" in the header): 16 hex characters, a 64-bit hash of a vector the
   * sender held (its vector as of holdMs ago). Only on a digest with no entries and no range. On an
   * `ae.digest`: "I hold at least the vector with this sum"; on an `ae.delta`: "so do I" (the ack).
   */
  readonly sum?: string | undefined
}

/**
 * `wantFull` (on either message): the sender has never received a full digest page from the receiver
 * (the first was lost), so it cannot tell which authors the receiver lacks entirely; the receiver's next
 * digest to it is full.
 */
export type DigestMessage = {
  readonly type: 'ae.digest'
  readonly digest: Digest
  readonly wantFull?: boolean | undefined
  readonly busy?: readonly AuthorId[] | undefined
}

/**
 * The ops the receiver lacks: batches, each a run of one author's consecutive ops ending at a signed op;
 * one author's batches are adjacent and consecutive. `digest`, when present, asks for what the sender
 * lacks in turn. `more`: the budget cut the reply short; ask again.
 *
 * `busy` (on either message, with a digest): authors whose backlog another peer is streaming to the
 * sender right now; the receiver sends no ops of theirs in its answer (it still learns the digest).
 * Sorted strictly ascending, at most digestEntriesMax.
 */
export type DeltaMessage = {
  readonly type: 'ae.delta'
  readonly batches: readonly (readonly SignedOp[])[]
  readonly more: boolean
  readonly digest?: Digest | undefined
  readonly wantFull?: boolean | undefined
  readonly busy?: readonly AuthorId[] | undefined
}

export type AntiEntropyMessage = DigestMessage | DeltaMessage

export type Outgoing = { readonly to: NodeId; readonly message: AntiEntropyMessage }

/** Received ops of one author, in seq order, for the caller to validate and ingest. */
export type ReceivedOps = { readonly author: AuthorId; readonly ops: readonly SignedOp[] }

/** A dropped message, for peer scoring. */
export type Rejected = { readonly from: NodeId; readonly reason: 'malformed' | 'too_large'; readonly detail: string }

export type Output = {
  readonly send: Outgoing[]
  readonly received: ReceivedOps[]
  readonly rejected: Rejected[]
  /** Ops of this delta not handed over because they would not follow what we hold (see receive). */
  gapOpsDropped: number
}

function digestBytes(d: Digest | undefined): number {
  return d === undefined ? 0 : d.entries.length * digestEntryBytes + (d.names?.length ?? 0) * authorLength + (d.sum === undefined ? 0 : 8)
}

/** Bytes a busy list counts for: 32 per author and a count. */
function busyBytes(busy: readonly AuthorId[] | undefined): number {
  return busy === undefined ? 0 : 4 + busy.length * authorLength
}

/** A batch's bytes as the delta counts them: its batch_head form plus framing. */
export function batchBytes(batch: readonly SignedOp[]): number {
  let ops = 0
  for (const e of batch) ops += opShareBytes(e)
  return batchBytesOf(batch.length, ops, 'batch_head') + batchFramingBytes
}

/** The bytes a message counts for against messageBytesMax (its wire form is at most this). */
export function messageBytes(m: AntiEntropyMessage): number {
  let n = messageOverheadBytes + digestBytes(m.digest) + busyBytes(m.busy)
  if (m.type === 'ae.delta') for (const b of m.batches) n += batchBytes(b)
  return n
}

// ---- validation

const authorPattern = /^[0-9a-f]{64}$/
/**
 * Bytes of an author id a digest carries on the wire: 8 (a 64-bit prefix) instead of 32, so an entry is
 * about 10 bytes, not 34 (in steady state digests are most of anti-entropy's bytes: sim/ae-steady.ts).
 * The receiver finds the author among those it knows (its log's and what peers told it); a prefix it
 * cannot place is an author it does not hold, handled as a full id of an unknown author is: its next
 * digest to the sender is full, and the sender, seeing the author missing from its range, sends its
 * ops. Range bounds (paging) stay whole. Two authors sharing a 64-bit prefix would only make a digest
 * entry count for the wrong one (ops are checked by the node layer; anti-entropy would resend or wait).
 */
export const shortAuthorBytes = 8
const shortAuthorPattern = /^[0-9a-f]{16}$/
const sumPattern = /^[0-9a-f]{16}$/

/**
 * A vector's sum: a 64-bit hash (two 32-bit FNV-1a lanes) of its entries in author order. Not
 * cryptographic: a peer that forges a match only keeps ops from itself.
 */
export function vectorSum(vv: VersionVector): string {
  const keys = [...vv.keys()].sort(compareAuthors)
  let h1 = 0x811c9dc5
  let h2 = 0x050c5d1f
  const mix = (c: number): void => {
    h1 = Math.imul(h1 ^ c, 0x01000193)
    h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h2 >>> 15)
  }
  for (const a of keys) {
    for (let i = 0; i < a.length; i++) mix(a.charCodeAt(i))
    mix(0x3a)
    const t = String(vv.get(a))
    for (let i = 0; i < t.length; i++) mix(t.charCodeAt(i))
    mix(0x2c)
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0')
}
function shortHex(raw: Uint8Array): string {
  let out = ''
  for (const x of raw) out += x.toString(16).padStart(2, '0')
  return out
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

type Check<T> = { ok: true; value: T } | { ok: false; reason: Rejected['reason']; detail: string }
const bad = <T>(detail: string, reason: Rejected['reason'] = 'malformed'): Check<T> => ({ ok: false, reason, detail })

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function checkDigest(x: unknown, entriesMax: number): Check<Digest> {
  if (!isRecord(x)) return bad('digest is not an object')
  const entries = x['entries']
  if (!Array.isArray(entries)) return bad('digest.entries is not an array')
  if (entries.length > entriesMax) return bad(`digest has ${entries.length} entries, over the limit ${entriesMax}`, 'too_large')
  let range: Digest['range']
  const r = x['range']
  if (r !== undefined) {
    if (!isRecord(r)) return bad('digest.range is not an object')
    const from = r['from']
    const to = r['to']
    if (typeof from !== 'string' || (from !== '' && !authorPattern.test(from))) return bad('digest.range.from is not "" or an author id')
    if (to !== null && (typeof to !== 'string' || !authorPattern.test(to))) return bad('digest.range.to is not null or an author id')
    if (to !== null && !(from < to)) return bad('digest.range is empty or reversed')
    range = { from, to }
  }
  let prev = ''
  // A partial digest off the wire names authors by their first shortAuthorBytes bytes (all or none).
  const first: unknown = Array.isArray(entries[0]) ? (entries[0] as unknown[])[0] : undefined
  const short = typeof first === 'string' && first.length === 2 * shortAuthorBytes
  const pattern = short ? shortAuthorPattern : authorPattern
  for (let i = 0; i < entries.length; i++) {
    const e: unknown = entries[i]
    if (!Array.isArray(e) || e.length !== 2) return bad(`digest entry ${i} is not [author, seq]`)
    const [a, s] = e as [unknown, unknown]
    if (typeof a !== 'string' || !pattern.test(a)) {
      return bad(`digest entry ${i}: author is not ${short ? 2 * shortAuthorBytes : 64} lowercase hex characters`)
    }
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 1) return bad(`digest entry ${i}: seq must be a safe integer >= 1`)
    if (i > 0 && !(a > prev)) return bad(`digest entry ${i}: authors must be strictly ascending`)
    // (a short id is compared by its prefix: one equal to the upper bound's may still sort below it)
    const n = a.length
    if (range !== undefined && (a < range.from.slice(0, n) || (range.to !== null && (short ? a > range.to.slice(0, n) : a >= range.to)))) {
      return bad(`digest entry ${i}: author outside the digest's range`)
    }
    prev = a
  }
  const names = x['names']
  if (names !== undefined) {
    if (!Array.isArray(names)) return bad('digest.names is not an array')
    if (names.length > entries.length) return bad('digest.names lists more authors than the digest has entries', 'too_large')
    let last = ''
    for (let i = 0; i < names.length; i++) {
      const a: unknown = names[i]
      if (typeof a !== 'string' || !authorPattern.test(a)) return bad(`digest.names ${i} is not 64 lowercase hex characters`)
      if (i > 0 && !(a > last)) return bad(`digest.names ${i}: authors must be strictly ascending`)
      last = a
    }
  }
  const sum = x['sum']
  if (sum !== undefined) {
    if (typeof sum !== 'string' || !sumPattern.test(sum)) return bad('digest.sum is not 16 lowercase hex characters')
    if (entries.length > 0 || range !== undefined) return bad('digest.sum on a digest with entries or a range')
  }
  return { ok: true, value: { entries: entries as DigestEntry[], range, names: names as AuthorId[] | undefined, sum } }
}

function checkBusy(x: unknown, entriesMax: number): Check<AuthorId[] | undefined> {
  if (x === undefined) return { ok: true, value: undefined }
  if (!Array.isArray(x)) return bad('busy is not an array')
  if (x.length > entriesMax) return bad(`busy lists ${x.length} authors, over the limit ${entriesMax}`, 'too_large')
  let prev = ''
  for (let i = 0; i < x.length; i++) {
    const a: unknown = x[i]
    if (typeof a !== 'string' || !authorPattern.test(a)) return bad(`busy ${i}: author is not 64 lowercase hex characters`)
    if (i > 0 && !(a > prev)) return bad(`busy ${i}: authors must be strictly ascending`)
    prev = a
  }
  return { ok: true, value: x as AuthorId[] }
}

function isBytes(x: unknown, length?: number): x is Uint8Array {
  return x instanceof Uint8Array && (length === undefined || x.length === length)
}

function checkDelta(x: Record<string, unknown>, config: AntiEntropyConfig): Check<DeltaMessage> {
  if (typeof x['more'] !== 'boolean') return bad('delta.more is not a boolean')
  const wantFull = x['wantFull']
  if (wantFull !== undefined && typeof wantFull !== 'boolean') return bad('delta.wantFull is not a boolean')
  let digest: Digest | undefined
  if (x['digest'] !== undefined) {
    const d = checkDigest(x['digest'], config.digestEntriesMax)
    if (!d.ok) return d
    digest = d.value
  }
  const busy = checkBusy(x['busy'], config.digestEntriesMax)
  if (!busy.ok) return busy
  if (busy.value !== undefined && digest === undefined) return bad('delta.busy without a digest')
  const batches = x['batches']
  if (!Array.isArray(batches)) return bad('delta.batches is not an array')
  if (batches.length > deltaBatchesMax) return bad(`delta has ${batches.length} batches, over ${deltaBatchesMax}`, 'too_large')
  const seen = new Set<string>()
  let bytes = messageOverheadBytes + digestBytes(digest) + busyBytes(busy.value)
  let lastAuthor = ''
  let lastSeq = 0
  for (let i = 0; i < batches.length; i++) {
    const b: unknown = batches[i]
    if (!Array.isArray(b) || b.length < 1 || b.length > batchOpsMax) return bad(`batch ${i} is not an array of 1..${batchOpsMax} ops`)
    for (let j = 0; j < b.length; j++) {
      const e: unknown = b[j]
      if (!isRecord(e) || !isBytes(e['bytes']) || !isBytes(e['hash'], hashLength) || !isRecord(e['op'])) {
        return bad(`batch ${i} op ${j} is not a signed op (op, bytes, hash)`)
      }
      const sig = e['sig']
      if (sig !== undefined && !isBytes(sig, signatureLength)) return bad(`batch ${i} op ${j}: sig is not ${signatureLength} bytes`)
      if (j === b.length - 1 && sig === undefined) return bad(`batch ${i} does not end at a signed op`)
      const op = e['op']
      const author = op['author']
      const seq = op['seq']
      if (typeof author !== 'string' || !authorPattern.test(author)) return bad(`batch ${i} op ${j}: author is not 64 lowercase hex characters`)
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return bad(`batch ${i} op ${j}: seq must be a safe integer >= 1`)
      if (j === 0) {
        if (author === lastAuthor) {
          if (seq !== lastSeq + 1) return bad(`batch ${i}: seq ${seq} does not follow ${lastSeq} of the author's previous batch`)
        } else {
          if (seen.has(author)) return bad(`batch ${i}: the author's batches are not adjacent`)
          seen.add(author)
        }
      } else {
        if (author !== lastAuthor) return bad(`batch ${i} mixes authors`)
        if (seq !== lastSeq + 1) return bad(`batch ${i} op ${j}: seq ${seq} does not follow ${lastSeq}`)
      }
      lastAuthor = author
      lastSeq = seq
    }
    bytes += batchBytes(b as SignedOp[])
  }
  const limit = deltaBytesLimit(config)
  if (bytes > limit) return bad(`delta counts ${bytes} bytes, over the limit ${limit}`, 'too_large')
  return { ok: true, value: { type: 'ae.delta', batches: batches as SignedOp[][], more: x['more'], digest, wantFull, busy: busy.value } }
}

/** Checks a message from a peer: shape, bounds, author ids, seq ranges. Never throws. */
export function checkMessage(x: unknown, config: AntiEntropyConfig): Check<AntiEntropyMessage> {
  try {
    if (!isRecord(x)) return bad('message is not an object')
    if (x['type'] === 'ae.digest') {
      const d = checkDigest(x['digest'], config.digestEntriesMax)
      const wantFull = x['wantFull']
      if (wantFull !== undefined && typeof wantFull !== 'boolean') return bad('digest message wantFull is not a boolean')
      if (!d.ok) return d
      const busy = checkBusy(x['busy'], config.digestEntriesMax)
      if (!busy.ok) return busy
      return { ok: true, value: { type: 'ae.digest', digest: d.value, wantFull, busy: busy.value } }
    }
    if (x['type'] === 'ae.delta') return checkDelta(x, config)
    return bad('message type is not ae.digest or ae.delta')
  } catch (err) {
    // A getter or proxy on a hostile object: still a bad message, never an exception out of receive.
    return bad(`message could not be read: ${String(err)}`)
  }
}

// ---- the wire form

/**
 * A message's bytes:
 *
 *   type     1 byte: 0x01 ae.digest, 0x02 ae.delta
 *   flags    1 byte: 0x01 more, 0x02 wantFull, 0x04 has a digest, 0x08 the digest has a range,
 *            0x10 the range has an upper bound, 0x20 the range's lower bound is not "", 0x40 has a busy list
 *   digest   [range.from: 32-byte author] [range.to: 32-byte author], uvarint entry count, then per entry
 *            the 32-byte author and a uvarint seq
 *   busy     uvarint count, then the 32-byte authors
 *   batches  (delta only) uvarint count, then per batch a uvarint length and the batch (batch.ts,
 *            batch_head form: a relay keeps only each batch's last signature)
 *
 * messageBytes() counts at least these bytes, so a budget checked there holds on the wire.
 */
export function encodeMessage(m: AntiEntropyMessage): Uint8Array {
  const batches = m.type === 'ae.delta' ? m.batches.map((b) => encodeBatch(b, 'batch_head')) : []
  const d = m.digest
  let size = 2 + 2 * authorLength + 10 + (d?.entries.length ?? 0) * (authorLength + 9) + 10 + (d?.names?.length ?? 0) * authorLength + 10 + busyBytes(m.busy) + 6
  for (const b of batches) size += 5 + b.length
  const w = codec.createWriter(size)
  codec.writeByte(w, (m.type === 'ae.digest' ? 0x01 : 0x02) | (d?.sum !== undefined ? 0x04 : 0))
  const more = m.type === 'ae.delta' && m.more
  const r = d?.range
  codec.writeByte(
    w,
    (more ? 0x01 : 0) |
      (m.wantFull === true ? 0x02 : 0) |
      (d !== undefined ? 0x04 : 0) |
      (r !== undefined ? 0x08 : 0) |
      (r !== undefined && r.to !== null ? 0x10 : 0) |
      (r !== undefined && r.from !== '' ? 0x20 : 0) |
      (m.busy !== undefined ? 0x40 : 0) |
      (d !== undefined ? 0x80 : 0),
  )
  if (d?.sum !== undefined) codec.writeFixed(w, hexBytes(d.sum))
  if (d !== undefined) {
    if (r !== undefined && r.from !== '') codec.writeFixed(w, authorBytes(r.from as AuthorId))
    if (r !== undefined && r.to !== null) codec.writeFixed(w, authorBytes(r.to as AuthorId))
    codec.writeUvarint(w, d.entries.length)
    for (const [a, n] of d.entries) {
      codec.writeFixed(w, authorBytes(a).subarray(0, shortAuthorBytes))
      codec.writeUvarint(w, n)
    }
    codec.writeUvarint(w, d.names?.length ?? 0)
    for (const a of d.names ?? []) codec.writeFixed(w, authorBytes(a))
  }
  if (m.busy !== undefined) {
    codec.writeUvarint(w, m.busy.length)
    for (const a of m.busy) codec.writeFixed(w, authorBytes(a))
  }
  if (m.type === 'ae.delta') {
    codec.writeUvarint(w, batches.length)
    for (const b of batches) {
      codec.writeUvarint(w, b.length)
      codec.writeFixed(w, b)
    }
  }
  return codec.finish(w)
}



/** Untrusted bytes to a message object (its protocol rules are checkMessage's). Never throws. */
export function decodeMessage(bytes: Uint8Array, config: AntiEntropyConfig): Check<unknown> {
  const limit = deltaBytesLimit(config)
  if (bytes.length > limit) return bad(`message is ${bytes.length} bytes, over the limit ${limit}`, 'too_large')
  let failure: string | undefined
  const d = codec.decodeWith(bytes, (r) => {
    const typeByte = codec.readByte(r)
    const type = typeByte & ~0x04
    if (type !== 0x01 && type !== 0x02) codec.malformed(`unknown message type ${typeByte}`)
    const flags = codec.readByte(r)
    if ((flags & ~0xff) !== 0) codec.malformed(`unknown flags ${flags}`)
    const sum = (typeByte & 0x04) !== 0 ? shortHex(codec.readFixed(r, 8)) : undefined
    if (sum !== undefined && (flags & 0x04) === 0) codec.malformed('a vector sum without a digest')
    const short = (flags & 0x80) !== 0
    if (short && (flags & 0x04) === 0) codec.malformed('short author ids without a digest')
    let digest: Digest | undefined
    if ((flags & 0x04) !== 0) {
      let range: Digest['range']
      if ((flags & 0x08) !== 0) {
        const from = (flags & 0x20) !== 0 ? authorIdFromBytes(codec.readFixed(r, authorLength)) : ''
        const to = (flags & 0x10) !== 0 ? authorIdFromBytes(codec.readFixed(r, authorLength)) : null
        range = { from, to }
      } else if ((flags & 0x30) !== 0) codec.malformed('range bounds without a range')
      const idBytes = short ? shortAuthorBytes : authorLength
      const count = codec.readCount(r, idBytes + 1)
      if (count > config.digestEntriesMax) codec.malformed(`digest has ${count} entries, over ${config.digestEntriesMax}`)
      const entries: DigestEntry[] = []
      for (let i = 0; i < count; i++) {
        const raw = codec.readFixed(r, idBytes)
        const a = short ? (shortHex(raw) as AuthorId) : authorIdFromBytes(raw)
        entries.push([a, codec.readUvarint(r)])
      }
      const namesCount = short ? codec.readCount(r, authorLength) : 0
      if (namesCount > count) codec.malformed(`digest names ${namesCount} authors for ${count} entries`)
      const names: AuthorId[] = []
      for (let i = 0; i < namesCount; i++) names.push(authorIdFromBytes(codec.readFixed(r, authorLength)))
      digest = namesCount > 0 ? { entries, range, names } : { entries, range }
      if (sum !== undefined) digest = { ...digest, sum }
    } else if ((flags & 0x38) !== 0) codec.malformed('range flags without a digest')
    let busy: AuthorId[] | undefined
    if ((flags & 0x40) !== 0) {
      const count = codec.readCount(r, authorLength)
      if (count > config.digestEntriesMax) codec.malformed(`busy lists ${count} authors, over ${config.digestEntriesMax}`)
      busy = []
      for (let i = 0; i < count; i++) busy.push(authorIdFromBytes(codec.readFixed(r, authorLength)))
    }
    const wantFull = (flags & 0x02) !== 0 ? true : undefined
    if (type === 0x01) {
      if (digest === undefined) return codec.malformed('a digest message without a digest')
      if ((flags & 0x01) !== 0) codec.malformed('a digest message has no "more"')
      return { type: 'ae.digest', digest, wantFull, busy }
    }
    const n = codec.readCount(r, 2)
    if (n > deltaBatchesMax) codec.malformed(`delta has ${n} batches, over ${deltaBatchesMax}`)
    const batches: SignedOp[][] = []
    for (let i = 0; i < n; i++) {
      const len = codec.readCount(r)
      const b = decodeBatch(codec.readFixed(r, len))
      if (!b.ok) {
        failure = `batch ${i}: ${b.detail}`
        return codec.malformed(failure)
      }
      batches.push([...b.value.ops])
    }
    if (codec.remaining(r) !== 0) codec.malformed(`${codec.remaining(r)} trailing bytes`)
    return { type: 'ae.delta', batches, more: (flags & 0x01) !== 0, digest, wantFull, busy }
  })
  return d.ok ? { ok: true, value: d.value } : bad(failure ?? d.detail)
}

// ---- the state machine

type PeerState = {
  /** What the peer told us it holds (0: it holds none, in a range of a full digest it sent). */
  theirs: Map<AuthorId, number>
  /** Our vector's entries as of our last digest to the peer. Undefined: never sent one. */
  lastSent: Map<AuthorId, number> | undefined
  /** Digests sent to the peer (fullDigestEvery counts these). */
  digests: number
  /** Where the next full digest page starts ('' = the first author). */
  fullFrom: string
  /** Has the peer ever sent us a full digest page? Until then we ask for one (wantFull). */
  heardFull: boolean
  /** Where the next delta to the peer starts its round-robin (an index into the sorted authors). */
  rotation: number
  /**
   * Per author, the highest seq we sent the peer and when: for inFlightMs we answer from past it, not from
   * `theirs` (a digest of the peer that crossed our delta would otherwise fetch the same ops again).
   * Entries go once the peer's digest shows the seq, or when they expire; at most one per author we hold.
   */
  sent: Map<AuthorId, { seq: number; atMs: number }>
  /** When the peer's last digest reached us (undefined: never). */
  heardAtMs: number | undefined
  /**
   * A backlog we are streaming to the peer: the budget of our next delta to it, and when our last delta
   * (which said `more`) went. Undefined: no stream (the next delta's budget is messageBytesMax).
   */
  stream: { bytes: number; atMs: number } | undefined
}

export type AntiEntropy = {
  readonly config: AntiEntropyConfig
  /** Starts an exchange with one of `peers` when the interval has passed. */
  tick(nowMs: number, peers: readonly NodeId[]): Output
  /**
   * Handles a message from a peer (its bytes, or a message object). A bad one is dropped and reported in
   * `rejected`. `wallMs`, optional: the wall clock now, in the HLC's epoch (ms since 1970), so that ops
   * born over holdMs ago are not held back even if they reached us recently (see "Young ops"); without
   * it, only how long we have held an op counts.
   */
  receive(from: NodeId, message: unknown, nowMs: number, wallMs?: number): Output
  /** Builds a digest for a peer now (and records it as sent). Exposed for the node's fast paths and tests. */
  digestFor(peer: NodeId): Digest
  /** Drops what is kept about a peer (membership retired it): state per peer is O(authors). */
  forget(peer: NodeId): void
  /** Peers with state kept. */
  peerCount(): number
  /** Authors whose seq at this peer we keep (bounded: our vector's size plus digestEntriesMax). */
  knownEntries(peer: NodeId): number
  /**
   * What the peer holds as far as we know (its digests, and a matched vector sum raises it to the vector
   * the sum named): author -> seq. Empty for a peer we have heard nothing from. For a node's lag figures.
   */
  peerVector(peer: NodeId): ReadonlyMap<string, number>
}

function compareAuthors(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export function createAntiEntropy(opts: {
  log: LogSource
  prng: Prng
  config?: Partial<AntiEntropyConfig>
  /** Peer scoring (scores.ts): rejected messages count against their sender; a blocked peer is ignored. */
  scores?: Scores
}): AntiEntropy {
  const parsed = parseConfig(opts.config)
  if (!parsed.ok) throw new RangeError(parsed.detail)
  const config = parsed.value
  const { log, prng } = opts
  const peers = new Map<NodeId, PeerState>()
  let nextAt: number | undefined
  /**
   * Seqs handed to the caller and maybe not yet in the log (ingest may be asynchronous): a delta may
   * follow them. Cleared whenever this node starts an exchange, so ops the caller rejected are asked for
   * again rather than trusted.
   */
  const handed: VersionVector = new Map()
  /**
   * Authors whose backlog a peer is streaming to us (its last delta had `more`), and when that delta came:
   * for inFlightMs our digests to other peers list them as `busy`. One stream per author; at most one
   * entry per author that a live stream names, pruned as they expire.
   */
  const streams = new Map<AuthorId, { peer: NodeId; atMs: number }>()
  /**
   * Young ops: snapshots of our vector (at ticks and receives, one per holdMs / 4 at most), oldest first,
   * kept from the newest one taken before now - holdMs. An op is young if it is not in the first snapshot
   * taken at or after now - holdMs (so it came less than holdMs ago; one that came between two sparse
   * snapshots may pass for up to their gap older than it is). `viaAe`: per author, the highest seq
   * anti-entropy handed over (not the fast path's to deliver), kept while it is young.
   */
  let snaps: { atMs: number; vv: VersionVector; sum?: string }[] = []
  /**
   * Vectors we held over the last 4 x holdMs (the snapshots whose vector changed, with their seq totals),
   * for the sums of peers: a peer's vector as of holdMs ago is usually one of ours in that window (ops
   * reach nodes in different orders and at different times; 1 x holdMs matched 0.63 of the digests at
   * 25 nodes and 1 op/s, 4 x 0.79, sim/ae-steady.ts).
   */
  let recent: { atMs: number; vv: VersionVector; total: number; sum?: string }[] = []
  const viaAe = new Map<AuthorId, number>()
  const sample = (nowMs: number): void => {
    if (config.holdMs === 0) return
    const last = snaps[snaps.length - 1]
    if (last !== undefined && nowMs < last.atMs) snaps = [] // a clock that went back: start over
    if (last !== undefined && nowMs < last.atMs) recent = []
    if (last === undefined || nowMs - last.atMs >= config.holdMs / 4) {
      const vv = new Map(log.versionVector())
      snaps.push({ atMs: nowMs, vv })
      // A vector only grows: the same total of seqs over as many authors is the same vector.
      let total = 0
      for (const n of vv.values()) total += n
      const r = recent[recent.length - 1]
      if (r === undefined || r.total !== total || r.vv.size !== vv.size) recent.push({ atMs: nowMs, vv, total })
      else r.atMs = nowMs
    }
    while (snaps.length >= 2 && (snaps[1] as { atMs: number }).atMs < nowMs - config.holdMs) snaps.shift()
    while (recent.length >= 2 && (recent[0] as { atMs: number }).atMs < nowMs - 4 * config.holdMs) recent.shift()
  }
  /**
   * How far each author may be sent now: all we hold, but for ops held less than holdMs that the fast
   * path brought (or we wrote), which stop at what we held holdMs ago; and, given the wall clock
   * (`wallMs`), past that over the following ops born (HLC wall time) at least holdMs ago, up to the
   * first younger one (see "Young ops" in the header). Undefined: everything may go.
   */
  const sendable = (ours: VersionVector, nowMs: number, wallMs: number | undefined): VersionVector | undefined => {
    if (config.holdMs === 0) return undefined
    const old = snaps.find((x) => x.atMs >= nowMs - config.holdMs)
    if (old === undefined || snaps[0] === old) return undefined // no snapshot from before the hold: all may go
    const limit: VersionVector = new Map()
    const bornBy = wallMs === undefined ? undefined : wallMs - config.holdMs
    for (const [a, n] of ours) {
      const got = viaAe.get(a as AuthorId) ?? 0
      const mature = old.vv.get(a) ?? 0
      if (got > 0 && mature >= got) viaAe.delete(a as AuthorId)
      const seq = Math.max(mature, Math.min(n, got))
      limit.set(a, bornBy === undefined ? seq : bornUpTo(a as AuthorId, seq, n, bornBy))
    }
    return limit
  }
  /**
   * Past `seq`, up to `to`: the highest seq such that every op after `seq` up to it was born (HLC wall
   * time) at or before `bornBy`. An author's HLC wall times never go down along its seqs, so this stops
   * at the first younger op (what is sent stays gap-free). At most batchOpsMax ops a call.
   */
  const bornUpTo = (author: AuthorId, seq: number, to: number, bornBy: number): number => {
    if (seq >= to) return seq
    for (const e of log.opsAfter(author, seq, Math.min(to - seq, batchOpsMax))) {
      if (e.op.seq !== seq + 1 || !(e.op.hlc.wallMs <= bornBy)) break
      seq = e.op.seq
    }
    return seq
  }
  /**
   * What a peer whose vector sum we matched may be sent with the ack (see "Young ops" in the header):
   * of what may be sent (`limit`), past what we know it holds, only the ops it most likely still lacks:
   * born 2 x holdMs ago or earlier (with the wall clock), or else held here since then.
   */
  const pullable = (s: PeerState, limit: VersionVector, nowMs: number, wallMs: number | undefined): VersionVector => {
    const out: VersionVector = new Map()
    const before = wallMs === undefined ? recent.find((x) => x.atMs >= nowMs - 2 * config.holdMs)?.vv : undefined
    for (const [a, n] of limit) {
      const t = s.theirs.get(a as AuthorId)
      if (t === undefined || n <= t) out.set(a, n)
      else if (wallMs !== undefined) out.set(a, bornUpTo(a as AuthorId, t, n, wallMs - 2 * config.holdMs))
      else out.set(a, Math.max(t, Math.min(n, before?.get(a) ?? 0)))
    }
    return out
  }
  /** Is something stamped at `atMs` still in flight at `nowMs`? (A clock that went back ends it.) */
  const live = (atMs: number, nowMs: number): boolean => nowMs >= atMs && nowMs - atMs < config.inFlightMs
  /** Marks `author` as coming from `peer` (unless another peer's live stream has it). */
  const claim = (author: AuthorId, peer: NodeId, nowMs: number): void => {
    const x = streams.get(author)
    if (x === undefined || x.peer === peer || !live(x.atMs, nowMs)) streams.set(author, { peer, atMs: nowMs })
  }
  /** The authors other peers than `peer` are streaming to us: what `peer` should not send now. */
  const busyFor = (peer: NodeId, nowMs: number): AuthorId[] | undefined => {
    const busy: AuthorId[] = []
    for (const [a, x] of streams) {
      if (!live(x.atMs, nowMs)) streams.delete(a)
      else if (x.peer !== peer) busy.push(a)
    }
    if (busy.length === 0) return undefined
    return busy.sort(compareAuthors).slice(0, config.digestEntriesMax)
  }

  /** Authors by their short id (a partial digest's), rebuilt at most once a message when one is not found. */
  let byPrefix = new Map<string, AuthorId>()
  const resolve = (d: Digest, ours: VersionVector): { digest: Digest; unknown: boolean } => {
    const first = d.entries[0]
    if (first === undefined || first[0].length !== 2 * shortAuthorBytes) return { digest: d, unknown: false }
    let rebuilt = false
    let unknown = false
    const entries: DigestEntry[] = []
    for (const [p, n] of d.entries) {
      let a = byPrefix.get(p)
      if (a === undefined && !rebuilt) {
        rebuilt = true
        byPrefix = new Map()
        for (const x of d.names ?? []) byPrefix.set(x.slice(0, 2 * shortAuthorBytes), x)
        for (const x of ours.keys()) byPrefix.set(x.slice(0, 2 * shortAuthorBytes), x as AuthorId)
        for (const ps of peers.values()) for (const x of ps.theirs.keys()) byPrefix.set(x.slice(0, 2 * shortAuthorBytes), x)
        a = byPrefix.get(p)
      }
      if (a === undefined) unknown = true
      else entries.push([a, n]) // prefixes ascending and distinct: the ids are too
    }
    return { digest: { entries, range: d.range }, unknown }
  }

  const peerState = (p: NodeId): PeerState => {
    let s = peers.get(p)
    if (s === undefined) {
      s = { theirs: new Map(), lastSent: undefined, digests: 0, fullFrom: '', rotation: 0, heardFull: false, sent: new Map(), heardAtMs: undefined, stream: undefined }
      peers.set(p, s)
    }
    return s
  }

  /** Adds the whole ids of the listed authors the peer has not told us it holds (see Digest.names). */
  const withNames = (s: PeerState, d: Digest): Digest => {
    // Every time, not once per peer: a peer that restarted has forgotten what it was told (days seed 20209).
    const names = d.entries.filter(([a]) => (s.theirs.get(a) ?? 0) < 1).map(([a]) => a)
    return names.length === 0 ? d : { ...d, names }
  }

  /** Our digest for a peer, from vector `vv`: full page or changed entries (see the header). */
  const makeDigest = (peer: NodeId, vv: VersionVector): Digest => {
    const s = peerState(peer)
    const full = s.lastSent === undefined || s.digests % config.fullDigestEvery === 0
    s.digests++
    const sent = (s.lastSent ??= new Map())
    const max = config.digestEntriesMax
    if (full) {
      const authors = ([...vv.keys()] as AuthorId[]).filter((a) => a >= s.fullFrom).sort(compareAuthors)
      const page = authors.slice(0, max)
      const to = authors.length > max ? (authors[max] as AuthorId) : null
      const entries: DigestEntry[] = page.map((a) => [a, vv.get(a) as number])
      for (const [a, n] of entries) sent.set(a, n)
      const range = { from: s.fullFrom, to }
      s.fullFrom = to ?? ''
      return withNames(s, { entries, range })
    }
    const changed: AuthorId[] = []
    for (const [a, n] of vv) if ((sent.get(a as AuthorId) ?? 0) !== n) changed.push(a as AuthorId)
    changed.sort(compareAuthors)
    // Over the limit: the rest stay "changed" and go in the next digests.
    const entries: DigestEntry[] = changed.slice(0, max).map((a) => [a, vv.get(a) as number])
    for (const [a, n] of entries) sent.set(a, n)
    return withNames(s, { entries })
  }

  /** Learns what a peer holds from its digest. */
  const learn = (s: PeerState, d: Digest, ours: VersionVector): void => {
    const r = d.range
    // A partial digest only raises what we know (a late duplicate must not lower it and cause re-sends);
    // a full one is the peer's whole word on its range, and replaces it.
    for (const [a, n] of d.entries) if (r !== undefined || n > (s.theirs.get(a) ?? 0)) s.theirs.set(a, n)
    // The peer holds ops of an author beyond ours: make sure it learns our seq for that author, or it
    // answers nothing for it (it only sends authors it knows we hold, at the seq we last listed). Found
    // by the simulator (seed 3): a node lacking an author entirely, or whose digest naming it was lost,
    // waited up to fullDigestEvery exchanges per peer for a full digest. An author we hold is listed
    // again in our next digest; one we lack entirely can only be said by a full digest (no zero entries).
    for (const [a, n] of d.entries) {
      const have = ours.get(a)
      if (have === undefined) s.lastSent = undefined
      else if (n > have) s.lastSent?.delete(a)
    }
    // Entries of authors we do not hold yet are kept (once we get their ops, we know what the peer lacks
    // without waiting for its next full digest), but a peer listing made-up authors must not grow this
    // map without bound: past our vector's size plus one digest, they go.
    if (s.theirs.size > ours.size + config.digestEntriesMax) {
      for (const a of s.theirs.keys()) if (!ours.has(a)) s.theirs.delete(a)
    }
    if (r === undefined) return
    s.heardFull = true
    const listed = new Set<string>(d.entries.map((e) => e[0]))
    for (const a of ours.keys()) {
      if (a >= r.from && (r.to === null || a < r.to) && !listed.has(a)) s.theirs.set(a as AuthorId, 0)
    }
  }

  /**
   * The batches a peer lacks under `budget` bytes: per author, the runs after the peer's seq up to the
   * next signed op, round-robin. Returns the batches and whether anything was left out.
   */
  const lacking = (
    s: PeerState,
    known: Map<AuthorId, number>,
    ours: VersionVector,
    budget: number,
  ): { batches: SignedOp[][]; more: boolean } => {
    // `ours` here is what may be sent (sendable): young ops are not part of it
    const authors: AuthorId[] = []
    for (const [a, n] of ours) {
      const t = known.get(a as AuthorId)
      if (t !== undefined && n > t) authors.push(a as AuthorId)
    }
    if (authors.length === 0) return { batches: [], more: false }
    authors.sort(compareAuthors)
    const start = s.rotation % authors.length
    s.rotation++
    const order = [...authors.slice(start), ...authors.slice(0, start)]
    const next = new Map<AuthorId, number>(order.map((a) => [a, known.get(a) as number]))
    const runs = new Map<AuthorId, SignedOp[][]>()
    let used = 0
    let more = false
    let oversize: { author: AuthorId; run: SignedOp[] } | undefined
    let active = order
    while (active.length > 0) {
      const still: AuthorId[] = []
      for (const a of active) {
        const from = next.get(a) as number
        if (from >= (ours.get(a) ?? 0)) continue
        const run = nextRun(a, from)
        if (run === undefined) continue // no signed op ahead: nothing sendable yet
        const size = batchBytes(run)
        if (used + size > budget) {
          more = true
          if (size > budget && oversize === undefined && used === 0) oversize = { author: a, run }
          continue // this author stops for this message: what it sent stays gap-free
        }
        used += size
        const list = runs.get(a) ?? []
        list.push(run)
        runs.set(a, list)
        next.set(a, (run[run.length - 1] as SignedOp).op.seq)
        if ((run[run.length - 1] as SignedOp).op.seq < (ours.get(a) ?? 0)) still.push(a)
      }
      active = still
    }
    if (used === 0 && oversize !== undefined) {
      runs.set(oversize.author, [oversize.run])
      more = true
    }
    const batches: SignedOp[][] = []
    for (const a of order) {
      for (const r of runs.get(a) ?? []) {
        batches.push(r)
        known.set(a, (r[r.length - 1] as SignedOp).op.seq) // what the next message of a burst starts after
      }
    }
    return { batches, more }
  }

  /** The run of `author` after `seq` up to its next signed op, within batch limits; undefined if none. */
  const nextRun = (author: AuthorId, seq: number): SignedOp[] | undefined => {
    const ops = log.opsAfter(author, seq, batchOpsMax)
    let bytes = 0
    for (let i = 0; i < ops.length; i++) {
      const e = ops[i] as SignedOp
      if (e.op.seq !== seq + 1 + i) return undefined // the log broke its promise: send nothing rather than a gap
      bytes += opShareBytes(e)
      if (batchBytesOf(i + 1, bytes, 'batch_head') > batchBytesMax) return undefined
      if (e.sig !== undefined) return ops.slice(0, i + 1)
    }
    return undefined
  }

  /** The vector our sums name: what we held holdMs ago (the first snapshot since), or all we hold. */
  const sumBase = (nowMs: number): VersionVector => {
    for (const x of snaps) if (x.atMs >= nowMs - config.holdMs) return x.vv
    return log.versionVector()
  }
  /** A vector we held recently (a snapshot, or now) whose sum is `sum`; undefined if none. */
  const matchSum = (sum: string): VersionVector | undefined => {
    for (const x of recent) {
      x.sum ??= vectorSum(x.vv)
      if (x.sum === sum) return x.vv
    }
    const ours = log.versionVector()
    return vectorSum(ours) === sum ? ours : undefined
  }

  /** How often our sums were known lately (an average over about 10 answers): 1 all, 0 none. */
  let sumHits = 1

  const output = (): Output => ({ send: [], received: [], rejected: [], gapOpsDropped: 0 })

  const reply = (
    to: NodeId,
    s: PeerState,
    ours: VersionVector,
    digest: Digest | undefined,
    out: Output,
    nowMs: number,
    busy: readonly AuthorId[] | undefined,
    wallMs: number | undefined,
    stale = false,
    pull = false,
  ): void => {
    // Where each author starts: what the peer said it holds, or past what we sent it while that is in
    // flight; authors the peer's other streams are moving (busy) are left out.
    const known = new Map(s.theirs)
    for (const [a, x] of s.sent) {
      const t = s.theirs.get(a)
      if (!live(x.atMs, nowMs) || (t !== undefined && t >= x.seq)) s.sent.delete(a)
      else if (t !== undefined) known.set(a, x.seq)
    }
    for (const a of busy ?? []) known.delete(a)
    let limit = sendable(ours, nowMs, wallMs) ?? ours
    if (pull) limit = pullable(s, limit, nowMs, wallMs)
    const askBusy = digest === undefined ? undefined : busyFor(to, nowMs)
    // A stream's budget: doubled for each delta with `more` the peer asked again after (within intervalMs)
    const st = s.stream
    const grown = st !== undefined && nowMs >= st.atMs && nowMs - st.atMs < config.intervalMs ? st.bytes : config.messageBytesMax
    s.stream = undefined
    // A burst of up to deltasPerReply messages; only the first carries our digest, and only the last can
    // say more (one follow-up digest per burst).
    for (let i = 0; i < config.deltasPerReply; i++) {
      const d = i === 0 ? digest : undefined
      const b = i === 0 ? askBusy : undefined
      const budget = grown - messageOverheadBytes - digestBytes(d) - busyBytes(b)
      const { batches, more } = lacking(s, known, limit, budget)
      const asks = d !== undefined && (d.entries.length > 0 || d.range !== undefined)
      if (batches.length === 0 && !asks) return
      if (stale && more && d !== undefined) {
        // A backlog from a view of the peer we have not refreshed for long: its digests may have been
        // lost (partial ones then say nothing of what it got since), so ask for a full digest first.
        out.send.push({ to, message: { type: 'ae.delta', batches: [], more: true, digest: d, wantFull: true, busy: b } })
        return
      }
      const last = !more || i === config.deltasPerReply - 1
      const wantFull = d !== undefined && !s.heardFull ? true : undefined
      if (config.inFlightMs > 0) {
        for (const run of batches) {
          const e = run[run.length - 1] as SignedOp
          s.sent.set(e.op.author, { seq: e.op.seq, atMs: nowMs })
        }
      }
      out.send.push({ to, message: { type: 'ae.delta', batches, more: more && last, digest: d, wantFull, busy: b } })
      if (more && last) s.stream = { bytes: Math.min(config.streamBytesMax, grown * 2), atMs: nowMs }
      if (last) return
    }
  }

  return {
    config,
    forget(peer) {
      peers.delete(peer)
    },
    peerCount() {
      return peers.size
    },
    knownEntries(peer) {
      return peers.get(peer)?.theirs.size ?? 0
    },
    peerVector(peer) {
      return new Map<string, number>(peers.get(peer)?.theirs ?? [])
    },
    digestFor(peer) {
      return makeDigest(peer, log.versionVector())
    },
    tick(nowMs, candidates) {
      const out = output()
      if (nextAt === undefined) nextAt = nowMs + Math.floor(prngOps.nextFloat(prng) * config.intervalMs)
      sample(nowMs)
      if (nowMs < nextAt) return out
      handed.clear()
      const spread = config.intervalMs * config.jitter
      nextAt = nowMs + config.intervalMs - spread + Math.floor(prngOps.nextFloat(prng) * 2 * spread)
      const scores = opts.scores
      if (scores !== undefined) candidates = candidates.filter((p) => scores.allowed(p, nowMs))
      if (candidates.length === 0) return out
      const peer = candidates[prngOps.nextInt(prng, candidates.length)] as NodeId
      const s = peerState(peer)
      const ours = log.versionVector()
      // A sum instead of the changed entries when this would be a partial digest and we expect no ops
      // from the peer (see "Steady-state bytes" in the header).
      // While most sums miss (the fleet's vectors change faster than they spread), only every 4th digest
      // tries one.
      let summed = config.sums && s.heardFull && s.lastSent !== undefined && s.digests % config.fullDigestEvery !== 0
      summed &&= sumHits >= 0.5 || s.digests % 4 === 1
      if (summed) for (const [a, n] of s.theirs) if (n > vvOps.get(ours, a)) summed = false
      let digest: Digest
      if (summed) {
        s.digests++
        digest = { entries: [], sum: vectorSum(sumBase(nowMs)) }
      } else digest = makeDigest(peer, ours)
      const busy = busyFor(peer, nowMs)
      // We ask this peer for what we know it holds more of than we do: those authors are coming from it
      // (its answer), and peers whose digests cross this one are asked not to send them meanwhile.
      if (config.inFlightMs > 0) for (const [a, n] of s.theirs) if (n > vvOps.get(ours, a)) claim(a, peer, nowMs)
      out.send.push({ to: peer, message: { type: 'ae.digest', digest, wantFull: s.heardFull ? undefined : true, busy } })
      return out
    },
    receive(from, message, nowMs, wallArg) {
      const out = output()
      const wallMs = typeof wallArg === 'number' && Number.isFinite(wallArg) ? wallArg : undefined
      if (opts.scores !== undefined && !opts.scores.allowed(from, nowMs)) return out
      const raw = message instanceof Uint8Array ? decodeMessage(message, config) : { ok: true as const, value: message }
      const m = raw.ok ? checkMessage(raw.value, config) : raw
      if (!m.ok) {
        out.rejected.push({ from, reason: m.reason, detail: m.detail })
        opts.scores?.penalize(from, m.reason, nowMs)
        return out
      }
      let msg = m.value
      sample(nowMs)
      const s = peerState(from)
      const ours = log.versionVector()
      if (msg.digest !== undefined) {
        const r = resolve(msg.digest, ours)
        if (r.unknown) s.lastSent = undefined // the peer holds an author we do not: our next digest is full
        if (r.digest !== msg.digest) msg = { ...msg, digest: r.digest }
      }
      if (msg.wantFull === true) s.lastSent = undefined // our next digest to it is full
      const sum = msg.digest?.sum
      if (sum !== undefined) {
        // A vector sum: the peer holds at least the vector it names. One we held recently: we know the
        // peer holds at least that, and say so (the ack). Otherwise we answer with our digest and `more`,
        // and the peer asks again with its changed entries.
        const x = matchSum(sum)
        if (x !== undefined) {
          for (const [a, n] of x) if (n > (s.theirs.get(a as AuthorId) ?? 0)) s.theirs.set(a as AuthorId, n)
          s.heardAtMs = nowMs
          if (msg.type === 'ae.digest') {
            out.send.push({ to: from, message: { type: 'ae.delta', batches: [], more: false, digest: { entries: [], sum } } })
            // and what the peer lacked then and most likely still lacks (see "Young ops" in the header)
            reply(from, s, ours, undefined, out, nowMs, msg.busy, wallMs, false, true)
          } else {
            sumHits = 0.9 * sumHits + 0.1
            if (s.lastSent !== undefined) for (const [a, n] of x) s.lastSent.set(a as AuthorId, n)
          }
        } else if (msg.type === 'ae.digest') {
          const digest = makeDigest(from, ours)
          out.send.push({ to: from, message: { type: 'ae.delta', batches: [], more: true, digest, wantFull: s.heardFull ? undefined : true, busy: busyFor(from, nowMs) } })
        }
        return out
      }
      if (msg.type === 'ae.digest') {
        const staleMs = config.fullDigestEvery * config.intervalMs
        const stale = msg.digest.range === undefined && (s.heardAtMs === undefined || !(nowMs >= s.heardAtMs && nowMs - s.heardAtMs < staleMs))
        learn(s, msg.digest, ours)
        s.heardAtMs = nowMs
        // Our answer carries our digest, and the peer answers it with what it holds more of than we do:
        // those authors are coming from it, and other peers are asked not to send them meanwhile.
        if (config.inFlightMs > 0) for (const [a, n] of msg.digest.entries) if (n > vvOps.get(ours, a)) claim(a, from, nowMs)
        reply(from, s, ours, makeDigest(from, ours), out, nowMs, msg.busy, wallMs, stale)
        return out
      }
      // A delta: hand its ops over, grouped per author (its batches of one author are adjacent). A batch
      // that starts past what we hold or were already handed (+1) would leave a gap (a reordered burst,
      // a stale message): it is dropped and counted, and comes again in a later exchange.
      const after = vvOps.merge(ours, handed)
      let advanced = false
      for (const b of msg.batches) {
        const author = (b[0] as SignedOp).op.author
        const first = (b[0] as SignedOp).op.seq
        const end = (b[b.length - 1] as SignedOp).op.seq
        if (first > vvOps.get(after, author) + 1) {
          out.gapOpsDropped += b.length
          continue
        }
        if (end > vvOps.get(after, author)) {
          const last = out.received[out.received.length - 1]
          if (last !== undefined && last.author === author) (last.ops as SignedOp[]).push(...b)
          else out.received.push({ author, ops: [...b] })
          vvOps.raise(after, author, end)
          vvOps.raise(handed, author, end)
          if (config.holdMs > 0 && end > (viaAe.get(author) ?? 0)) viaAe.set(author, end)
          advanced = true
        }
        // Ops we already hold: the peer's view of us is stale (a digest of ours was lost), so list this
        // author in our next digest to it rather than wait for a full one.
        if (end <= vvOps.get(ours, author)) s.lastSent?.delete(author)
      }
      if (msg.digest !== undefined) {
        learn(s, msg.digest, ours)
        s.heardAtMs = nowMs
        reply(from, s, ours, undefined, out, nowMs, msg.busy, wallMs)
      }
      // The peer's stream: while its deltas say `more`, the authors it is moving (those of this delta and
      // those it holds more of than we now do) are its own; other peers are asked not to send them.
      if (config.inFlightMs > 0) {
        for (const [a, x] of streams) if (x.peer === from) streams.delete(a)
        if (msg.more && advanced) {
          for (const b of msg.batches) claim((b[0] as SignedOp).op.author, from, nowMs)
          for (const [a, n] of s.theirs) if (n > vvOps.get(after, a)) claim(a, from, nowMs)
        }
      }
      // Ask again only if this delta moved us on: a duplicated or stale delta must not start a second
      // stream of digests and replies (duplication would otherwise multiply messages).
      // A peer about to stream us a backlog from an old view asks for a full digest first (no batches).
      const asksFull = msg.more && msg.batches.length === 0 && msg.wantFull === true
      // So does a peer that did not know our vector sum (a delta with `more`, its digest and no batches).
      const missed = msg.more && msg.batches.length === 0 && msg.digest !== undefined
      if (missed && msg.wantFull !== true) sumHits *= 0.9
      if (msg.more && (advanced || asksFull || missed)) {
        // The peer streams what it holds more of once it has this digest (as in the digest branch above):
        // those authors are coming from it, so a peer whose digest crosses ours is asked not to send them.
        if (config.inFlightMs > 0 && !advanced) for (const [a, n] of s.theirs) if (n > vvOps.get(after, a)) claim(a, from, nowMs)
        const digest = makeDigest(from, after)
        const busy = busyFor(from, nowMs)
        out.send.push({ to: from, message: { type: 'ae.digest', digest, wantFull: s.heardFull ? undefined : true, busy } })
      }
      return out
    },
  }
}
