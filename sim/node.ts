/**
 * A simulated Grapevine node: the real gossip machines (membership, anti-entropy, and a plug for the fast
 * path) over an in-memory op log of real signed ops and the knowledge reference model (src/knowledge
 * views: the same logic the store runs), on a simulated disk and simulated clocks.
 *
 * The disk. Every write (a local op, a received op) lands in memory first and becomes durable only at the
 * next sync point (every `syncEveryMs`). A crash drops the un-synced tail of every author's log and all
 * in-memory state; a restart rebuilds the views from the durable log and starts fresh gossip machines.
 * What is persisted so that nothing goes backwards across a restart: the log (so the version vector), the
 * HLC at the last sync, and the peers this node knew (to rejoin through).
 *
 * Acknowledgement. A local write is acknowledged (the caller is told it is safe) only once it is synced;
 * an own op is served to peers only once it is durable too. Serving an un-synced own op would let a crash
 * forget an op that peers hold, and the restarted node would sign a different op with the same seq: a
 * fork of its own log.
 *
 * The wire. Every message is bytes: one channel byte, then the machine's own encoding (anti-entropy's
 * wire form; membership's byte form, which its receive decodes and validates; the fast path's own
 * bytes).
 *
 * Timers. The gossip machines read the monotonic clock (a daemon times protocol periods with one); ops
 * and the HLC read the wall clock, which skews and jumps.
 */
import { createHash } from 'node:crypto'
import * as core from '../src/core/index.ts'
import type { NodeId, VersionVector } from '../src/core/index.ts'
type Hlc = core.hlc.Hlc
import { antiEntropy as ae, createMembership, membership as membershipCodec } from '../src/gossip/index.ts'
import type { Membership, MembershipConfig, MembershipMessage, MemberStatus } from '../src/gossip/index.ts'
import * as knowledge from '../src/knowledge/index.ts'
import type { Views } from '../src/knowledge/index.ts'
import type { AuthorId, Draft, Head, Signer, SignedOp } from '../src/log/index.ts'
import { createOps, createSigner, cutBatches, headOf, signHash, timestampOf } from '../src/log/index.ts'
import type { Json } from '../src/core/index.ts'
import type { Kernel, Network, SimClock } from './kernel.ts'
import type { VerifyMemo } from './verify-memo.ts'
import { validateWithMemo } from './verify-memo.ts'

const { prng: prngOps } = core

/** Wire channels: the first byte of every message. */
export const channelMembership = 0
export const channelAntiEntropy = 1
export const channelFastPath = 2

/** A message the fast path wants sent. */
export type FastPathSend = { readonly to: NodeId; readonly bytes: Uint8Array }

/**
 * Where the fast path (src/gossip/broadcast.ts: push to fanout peers or a Plumtree) plugs in. The node
 * frames its bytes on channel 2 and hands it received bytes; the ops it returns go through the same
 * validation and ingest as anti-entropy's.
 */
export type FastPath = {
  /** Own ops just became durable (acknowledged): push them now. */
  published(ops: readonly SignedOp[], nowMs: number, peers: readonly NodeId[]): FastPathSend[]
  /** Ops another path just stored here (for relaying, or lazy repair bookkeeping). */
  stored(ops: readonly SignedOp[], from: NodeId, nowMs: number, peers: readonly NodeId[]): FastPathSend[]
  receive(from: NodeId, bytes: Uint8Array, nowMs: number): { send: FastPathSend[]; received: ae.ReceivedOps[] }
  tick(nowMs: number, peers: readonly NodeId[]): FastPathSend[]
}

/** What a fast path is built from: the node's durable log view, its own generator, its id. */
export type FastPathFactory = (ctx: { id: NodeId; log: ae.LogSource; prng: core.Prng }) => FastPath

export type SimNodeOptions = {
  readonly index: number
  readonly id: NodeId
  readonly kernel: Kernel
  readonly net: Network
  readonly clock: SimClock
  /** Seed bytes of the node's signing key (Ed25519 signatures are deterministic). */
  readonly keySeed: Uint8Array
  /** How often the node ticks its machines (virtual ms). */
  readonly tickMs: number
  /** Time between sync points of the simulated disk. */
  readonly syncEveryMs: number
  readonly membership?: Partial<MembershipConfig> | undefined
  readonly antiEntropy?: Partial<ae.AntiEntropyConfig> | undefined
  readonly fastPath?: FastPathFactory | undefined
  /**
   * The canary's planted bug: this node's state applies facts and counters in arrival order (the last
   * assert to arrive is the fact's only version; a counter is its last add) instead of the CRDT rules.
   */
  readonly brokenMerge?: boolean | undefined
  /** Signatures verified so far in the run, shared by its nodes (verify-memo.ts); undefined: verify every time. */
  readonly verifyMemo?: VerifyMemo | undefined
  /** Called when a local write is acknowledged (durable). */
  readonly onAck?: ((node: SimNode, op: SignedOp) => void) | undefined
}

/** A restart's before/after, for the no-going-backwards invariants. */
export type RestartRecord = {
  readonly atMs: number
  readonly durableBefore: VersionVector
  readonly after: VersionVector
  readonly hlcBefore: { wallMs: number; logical: number }
  readonly hlcAfter: { wallMs: number; logical: number }
  readonly lostOps: number
}

export type NodeState = 'up' | 'down' | 'paused' | 'offline'

export type SimNode = {
  readonly index: number
  readonly id: NodeId
  readonly author: AuthorId
  readonly clock: SimClock
  state(): NodeState
  /** Writes a local op now; returns it (not yet acknowledged), or undefined if the node is not up. */
  write(kind: string, body: Json, idempotencyKey?: string): SignedOp | undefined
  /** The node's views (the knowledge reference model over what it holds). */
  views(): Views
  /** The canonical state hash of its views (the canary's broken state, for the canary node). */
  stateHash(): string
  /** Every counter's value as this node's state has it: [name, value], by name (the canary's broken values). */
  counterValues(): [string, number][]
  /** Version vector of everything it holds (durable or not). */
  versionVector(): VersionVector
  /** Every op held, per author, in seq order. */
  log(): ReadonlyMap<AuthorId, readonly SignedOp[]>
  hasOp(author: AuthorId, seq: number): boolean
  hlc(): Hlc
  membership(): Membership
  statusOf(id: NodeId): MemberStatus | undefined
  join(seed: NodeId): void
  /** Syncs the disk now (writes in memory become durable; pending writes are acknowledged). */
  sync(): void
  /** Crashes: un-synced writes and all in-memory state are lost; the node is down until restart. */
  crash(): void
  restart(): void
  /** Stops ticking for durationMs; messages meanwhile wait (up to pausedInboxMax) and arrive at resume. */
  pause(durationMs: number): void
  /** Ends a pause now (the liveness phase stops faults on the core). */
  resume(): void
  /** Goes offline (a closed laptop): state kept, no ticks, messages lost, until goOnline. */
  goOffline(): void
  goOnline(): void
  readonly restarts: RestartRecord[]
  /** Bytes delivered to this node on the anti-entropy and fast-path channels. */
  dataBytesIn(): number
  readonly stats: Map<string, number>
}

/** Most messages a paused node holds for its resume (a socket buffer); the rest are lost. */
export const pausedInboxMax = 256


function frame(channel: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1)
  out[0] = channel
  out.set(body, 1)
  return out
}

export function createSimNode(o: SimNodeOptions): SimNode {
  const k = o.kernel
  const rng = prngOps.fork(k.prng)
  const signerResult = createSigner(o.keySeed)
  if (!signerResult.ok) throw new Error(signerResult.detail)
  const signer: Signer = signerResult.value
  const author = signer.author

  // ---- disk: what survives a crash
  const durable = {
    len: new Map<AuthorId, number>(),
    hlc: { wallMs: 0, logical: 0 },
    peers: new Set<NodeId>(),
  }

  // ---- memory: lost on a crash
  let logs = new Map<AuthorId, SignedOp[]>()
  let views = knowledge.createViews()
  let hlc: Hlc = core.hlc.create(author)
  let membership: Membership = createMembership(o.id, o.membership ?? {}, prngOps.fork(rng))
  let antiEntropy: ae.AntiEntropy
  let fastPath: FastPath | undefined
  let unacked: SignedOp[] = []
  let state: NodeState = 'up'
  let pausedInbox: { from: NodeId; bytes: Uint8Array }[] = []
  /** Canary state: per fact the last assert to arrive; per counter the last add to arrive. */
  let arrivalFacts = new Map<string, string>()
  let arrivalCounters = new Map<string, number>()
  let dataBytesIn = 0
  /** Ops the last crash dropped (for its restart record). */
  let crashedLost = 0
  /** Pauses so far: a resume event ends only its own pause. */
  let pauses = 0
  const stats = new Map<string, number>()
  const count = (name: string, n = 1): void => {
    stats.set(name, (stats.get(name) ?? 0) + n)
    k.count(`node.${name}`, n)
  }

  /** The log as gossip serves it: every author's ops, own ops only up to the durable point. */
  const source: ae.LogSource = {
    versionVector() {
      const vv: VersionVector = new Map()
      for (const [a, xs] of logs) {
        const n = a === author ? Math.min(xs.length, durable.len.get(a) ?? 0) : xs.length
        if (n > 0) vv.set(a, n)
      }
      return vv
    },
    opsAfter(a, seq, limit) {
      const xs = logs.get(a) ?? []
      const end = a === author ? Math.min(xs.length, durable.len.get(a) ?? 0) : xs.length
      return xs.slice(seq, Math.min(end, seq + limit))
    },
  }

  const head = (a: AuthorId): Head | undefined => {
    const xs = logs.get(a)
    const last = xs?.[xs.length - 1]
    return last === undefined ? undefined : headOf(last)
  }
  const logView = {
    head,
    hashAt: (a: AuthorId, seq: number) => logs.get(a)?.[seq - 1]?.hash,
  }

  const applyOp = (e: SignedOp): void => {
    knowledge.apply(views, e)
    if (o.brokenMerge === true) {
      const op = e.op
      const b = op.body as Record<string, Json> | null
      if (op.kind === 'fact.assert' && b !== null && typeof b === 'object' && typeof b['fact_id'] === 'string') {
        arrivalFacts.set(b['fact_id'], `${op.author}:${op.seq}`)
      }
      if (op.kind === 'counter.add' && b !== null && typeof b === 'object' && typeof b['name'] === 'string') {
        arrivalCounters.set(b['name'], Number(b['n']))
      }
    }
  }

  const store = (ops: readonly SignedOp[]): void => {
    const a = (ops[0] as SignedOp).op.author
    const xs = logs.get(a) ?? []
    for (const e of ops) {
      core.assert(e.op.seq === xs.length + 1, 'sim node: stored ops must follow the head')
      xs.push(e)
      applyOp(e)
    }
    logs.set(a, xs)
  }

  /** Alive and suspect members (the gossip targets), recomputed only when membership reports a change. */
  let peerCache: NodeId[] | undefined
  const peers = (): NodeId[] => {
    if (peerCache === undefined) {
      const live: NodeId[] = []
      for (const m of membership.members()) if (m.status === 'alive' || m.status === 'suspect') live.push(m.id)
      peerCache = live.length > 0 ? live : [...durable.peers].filter((p) => p !== o.id).sort()
    }
    return peerCache
  }

  const send = (to: NodeId, channel: number, body: Uint8Array): void => {
    o.net.send(o.id, to, frame(channel, body))
  }

  const sendMembership = (out: {
    send: readonly { to: NodeId; message: MembershipMessage }[]
    changes: readonly { id: NodeId }[]
    rejected: readonly unknown[]
  }): void => {
    if (out.rejected.length > 0) count('membership.rejected', out.rejected.length)
    for (const s of out.send) send(s.to, channelMembership, membershipCodec.encodeMessage(s.message))
    if (out.changes.length > 0) {
      peerCache = undefined
      for (const c of out.changes) if (c.id !== o.id) durable.peers.add(c.id) // the peer list a node persists
    }
  }

  const sendFast = (out: readonly FastPathSend[]): void => {
    for (const s of out) send(s.to, channelFastPath, s.bytes)
  }

  /** Validates (src/log validateOps: chain, signature, clock rules) and stores received ops of one author. */
  const ingest = (r: ae.ReceivedOps, from: NodeId, via: 'ae' | 'fast'): SignedOp[] => {
    const { batches, rest } = cutBatches(r.ops)
    if (rest.length > 0) count('ingest.unsigned_tail', rest.length)
    const stored: SignedOp[] = []
    for (const b of batches) {
      const v = validateWithMemo(b, logView, { nowMs: o.clock.wall.nowMs() }, o.verifyMemo)
      if (!v.ok) {
        count(`ingest.${v.reason}`)
        continue
      }
      if (v.ops.length === 0) continue
      const last = v.ops[v.ops.length - 1] as SignedOp
      const t = core.hlc.receive(hlc, timestampOf(last.op), o.clock.wall)
      if (!t.ok) count(`hlc.${t.reason}`)
      store(v.ops)
      stored.push(...v.ops)
      count(`ingest.${via}.ops`, v.ops.length)
    }
    if (stored.length > 0 && fastPath !== undefined) sendFast(fastPath.stored(stored, from, o.clock.monoMs(), peers()))
    return stored
  }

  const handleAe = (out: ae.Output, from: NodeId | undefined): void => {
    for (const s of out.send) send(s.to, channelAntiEntropy, ae.encodeMessage(s.message))
    if (out.rejected.length > 0) count('ae.rejected', out.rejected.length)
    if (out.gapOpsDropped > 0) count('ae.gap_ops_dropped', out.gapOpsDropped)
    for (const r of out.received) ingest(r, from ?? o.id, 'ae')
  }

  const startMachines = (): void => {
    // without a fast path every new op travels by anti-entropy: nothing is held back for a push (holdMs)
    const aeConfig = o.fastPath === undefined ? { holdMs: 0, ...o.antiEntropy } : (o.antiEntropy ?? {})
    antiEntropy = ae.createAntiEntropy({ log: source, prng: prngOps.fork(rng), config: aeConfig })
    fastPath = o.fastPath?.({ id: o.id, log: source, prng: prngOps.fork(rng) })
  }
  startMachines()

  const receive = (from: NodeId, bytes: Uint8Array): void => {
    const channel = bytes[0]
    const body = bytes.subarray(1)
    const now = o.clock.monoMs()
    if (channel === channelMembership) {
      // bytes: membership decodes and validates them (a bad frame is reported in `rejected`)
      sendMembership(membership.receive(from, body, now))
    } else if (channel === channelAntiEntropy) {
      dataBytesIn += bytes.length
      handleAe(antiEntropy.receive(from, body, now, o.clock.wall.nowMs()), from)
    } else if (channel === channelFastPath) {
      dataBytesIn += bytes.length
      if (fastPath === undefined) return
      const out = fastPath.receive(from, body, now)
      sendFast(out.send)
      for (const r of out.received) ingest(r, from, 'fast')
    } else count('unknown_channel')
  }

  o.net.register(o.id, (from, _to, bytes) => {
    if (state === 'up') receive(from, bytes)
    else if (state === 'paused') {
      if (pausedInbox.length < pausedInboxMax) pausedInbox.push({ from, bytes })
      else count('paused.inbox_overflow')
    } else count(`dropped.${state}`)
  })

  const tick = (): void => {
    if (state === 'up') {
      const now = o.clock.monoMs()
      sendMembership(membership.tick(now))
      const ps = peers()
      handleAe(antiEntropy.tick(now, ps), undefined)
      if (fastPath !== undefined) sendFast(fastPath.tick(now, ps))
    }
    k.after(o.tickMs, 'node.tick', tick)
  }
  k.after(prngOps.nextInt(rng, o.tickMs) + 1, 'node.tick', tick)

  const syncLoop = (): void => {
    if (state === 'up' || state === 'paused' || state === 'offline') node.sync()
    k.after(o.syncEveryMs, 'node.sync', syncLoop)
  }
  k.after(prngOps.nextInt(rng, o.syncEveryMs) + 1, 'node.sync', syncLoop)

  const canaryDump = (): unknown => {
    const d = knowledge.dump(views)
    if (o.brokenMerge !== true) return d
    const versions = d.versions.filter((v) => arrivalFacts.get(v.fact_id) === v.dot || !arrivalFacts.has(v.fact_id))
    const counters = [...arrivalCounters].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    return { ...d, versions, counters, tickets: [] }
  }

  const node: SimNode = {
    index: o.index,
    id: o.id,
    author,
    clock: o.clock,
    state: () => state,
    write(kind, body, idempotencyKey) {
      if (state !== 'up') return undefined
      core.hlc.tick(hlc, o.clock.wall)
      const draft: Draft = { hlc: { wallMs: hlc.wallMs, logical: hlc.logical }, kind, body, idempotencyKey }
      const r = createOps(author, head(author), [draft])
      if (!r.ok) {
        count('write.refused')
        return undefined
      }
      const signed = signOne(signer, r.value[0] as SignedOp)
      store([signed])
      unacked.push(signed)
      count('write')
      return signed
    },
    views: () => views,
    stateHash() {
      return createHash('sha256').update(JSON.stringify(canaryDump())).digest('hex').slice(0, 16)
    },
    counterValues() {
      if (o.brokenMerge === true) return [...arrivalCounters].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      return knowledge.listCounters(views).map((c): [string, number] => [c.name, c.value])
    },
    versionVector() {
      const vv: VersionVector = new Map()
      for (const [a, xs] of logs) if (xs.length > 0) vv.set(a, xs.length)
      return vv
    },
    log: () => logs,
    hasOp: (a, seq) => (logs.get(a)?.length ?? 0) >= seq,
    hlc: () => hlc,
    membership: () => membership,
    statusOf: (id) => (id === o.id ? 'alive' : membership.member(id)?.status),
    join(seed) {
      durable.peers.add(seed)
      sendMembership(membership.join(seed, o.clock.monoMs()))
    },
    sync() {
      for (const [a, xs] of logs) {
        const before = durable.len.get(a) ?? 0
        core.assert(xs.length >= before, 'sim node: the durable log never shrinks while up')
        durable.len.set(a, xs.length)
      }
      durable.hlc = { wallMs: hlc.wallMs, logical: hlc.logical }
      if (unacked.length > 0) {
        const acked = unacked
        unacked = []
        for (const e of acked) o.onAck?.(node, e)
        if (fastPath !== undefined && state === 'up') sendFast(fastPath.published(acked, o.clock.monoMs(), peers()))
      }
    },
    crash() {
      if (state === 'down') return
      state = 'down'
      let lost = 0
      for (const [a, xs] of logs) lost += xs.length - (durable.len.get(a) ?? 0)
      k.fault('crash')
      if (lost > 0) k.fault('lost-unsynced')
      count('crash')
      count('lost_ops', lost)
      unacked = [] // never acknowledged: the writer was told nothing
      pausedInbox = []
      k.trace('crash', k.nowMs(), o.id, lost)
      crashedLost = lost
    },
    restart() {
      if (state !== 'down') return
      const durableBefore: VersionVector = new Map()
      for (const [a, n] of durable.len) if (n > 0) durableBefore.set(a, n)
      const hlcBefore = { ...durable.hlc }
      // read the disk: the durable prefix of every log
      const kept = new Map<AuthorId, SignedOp[]>()
      for (const [a, xs] of logs) {
        const n = durable.len.get(a) ?? 0
        if (n > 0) kept.set(a, xs.slice(0, n))
      }
      logs = new Map()
      views = knowledge.createViews()
      arrivalFacts = new Map()
      arrivalCounters = new Map()
      for (const xs of kept.values()) store(xs)
      // the HLC resumes above everything it issued or saw that survived
      hlc = core.hlc.create(author, { wallMs: durable.hlc.wallMs, logical: durable.hlc.logical })
      for (const xs of kept.values()) {
        const last = xs[xs.length - 1] as SignedOp
        const t = last.op.hlc
        if (t.wallMs > hlc.wallMs || (t.wallMs === hlc.wallMs && t.logical > hlc.logical)) {
          hlc.wallMs = t.wallMs
          hlc.logical = t.logical
        }
      }
      membership = createMembership(o.id, o.membership ?? {}, prngOps.fork(rng))
      peerCache = undefined
      startMachines()
      state = 'up'
      k.fault('restart')
      count('restart')
      node.restarts.push({
        atMs: k.nowMs(),
        durableBefore,
        after: node.versionVector(),
        hlcBefore,
        hlcAfter: { wallMs: hlc.wallMs, logical: hlc.logical },
        lostOps: crashedLost,
      })
      k.trace('restart', k.nowMs(), o.id)
      const known = [...durable.peers].filter((p) => p !== o.id).sort()
      if (known.length > 0) node.join(known[prngOps.nextInt(rng, known.length)] as NodeId)
    },
    pause(durationMs) {
      if (state !== 'up') return
      state = 'paused'
      k.fault('pause')
      const token = ++pauses
      k.after(durationMs, 'node.resume', () => {
        if (token === pauses) node.resume()
      })
    },
    resume() {
      if (state !== 'paused') return
      state = 'up'
      const inbox = pausedInbox
      pausedInbox = []
      for (const m of inbox) if (state === 'up') receive(m.from, m.bytes)
    },
    goOffline() {
      if (state === 'paused') node.resume() // the lid closes on a stalled process too
      if (state !== 'up') return
      state = 'offline'
      k.fault('offline-days')
    },
    goOnline() {
      if (state === 'offline') state = 'up'
    },
    restarts: [],
    dataBytesIn: () => dataBytesIn,
    stats,
  }
  return node
}

/** Signs one op (a batch of one: its own signature). */
function signOne(signer: Signer, e: SignedOp): SignedOp {
  return { ...e, sig: signHash(signer, e.hash) }
}
