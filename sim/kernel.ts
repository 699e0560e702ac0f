/**
 * The simulator's kernel: virtual time, a seeded event queue, per-node clocks and a faulty network. Every
 * source of nondeterminism in a run comes from one seed through here, so a run is a pure function of its
 * seed and replays exactly (FoundationDB simulation, TigerBeetle's VOPR).
 *
 * API (what sim/node.ts, sim/scenario.ts and sim/report.ts build on):
 *
 *   const k = createKernel(seed)
 *   k.at(timeMs, 'kind', fn) / k.after(delayMs, 'kind', fn)   schedule an event (virtual ms)
 *   k.run(untilMs)                                           run every event due up to untilMs
 *   k.runUntil(done, limitMs, checkEveryMs)                  run until done() holds (checked between slices)
 *   k.warp(deltaMs)                                          freeze the world while days pass (wall clocks move)
 *   k.count('name', n) / k.counters                          counters of what fired (any name)
 *   k.fault('loss')                                          a fault class fired (k.faultsFired())
 *   k.trace(...parts) / k.traceHash()                        the running hash of every delivered event
 *
 *   const clock = createSimClock(k, { epochMs, skewMs })     a node's clocks: wall (core Clock, skew and
 *                                                            jumps) and monotonic (timers; never jumps)
 *   const net = createNetwork(k, { latency..., loss, dup })  bytes between nodes, with loss, duplication,
 *                                                            delay/reorder and partitions
 *
 * Determinism: events due at the same virtual ms run in the order they were scheduled (a sequence number
 * breaks ties); nothing reads real time; every random draw comes from the kernel's Prng or a fork of it.
 */
import * as core from '../src/core/index.ts'
import type { Clock, NodeId, Prng } from '../src/core/index.ts'

const { prng: prngOps } = core

// ---- the running trace hash

/**
 * Two 32-bit FNV-1a-style lanes with different offsets: a 64-bit running hash, cheap enough to fold in
 * every delivered message's bytes. Not cryptographic: it only has to change when the run changes.
 */
export type TraceHash = { a: number; b: number; events: number }

function createTraceHash(): TraceHash {
  return { a: 0x811c9dc5, b: 0x01000193 ^ 0x5bd1e995, events: 0 }
}

function foldByte(t: TraceHash, x: number): void {
  t.a = Math.imul(t.a ^ x, 0x01000193)
  t.b = Math.imul(t.b ^ x, 0x5bd1e995) ^ (t.b >>> 15)
}

function foldNumber(t: TraceHash, n: number): void {
  // integers up to 2^53 as two 32-bit halves, non-integers through their string form
  if (Number.isSafeInteger(n)) {
    const lo = n >>> 0
    const hi = Math.floor(n / 4294967296) >>> 0
    for (let s = 0; s < 32; s += 8) foldByte(t, (lo >>> s) & 0xff)
    for (let s = 0; s < 32; s += 8) foldByte(t, (hi >>> s) & 0xff)
  } else foldString(t, String(n))
}

function foldString(t: TraceHash, s: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    foldByte(t, c & 0xff)
    if (c > 0xff) foldByte(t, c >>> 8)
  }
  foldByte(t, 0)
}

function foldBytes(t: TraceHash, b: Uint8Array): void {
  foldNumber(t, b.length)
  for (let i = 0; i < b.length; i++) foldByte(t, b[i] as number)
}

function traceHex(t: TraceHash): string {
  return (t.a >>> 0).toString(16).padStart(8, '0') + (t.b >>> 0).toString(16).padStart(8, '0')
}

// ---- the event queue

type Event = { atMs: number; readonly seq: number; readonly kind: string; readonly fn: () => void }

function before(x: Event, y: Event): boolean {
  return x.atMs < y.atMs || (x.atMs === y.atMs && x.seq < y.seq)
}

/** A binary min-heap on (atMs, seq). */
type Heap = Event[]

function heapPush(h: Heap, e: Event): void {
  h.push(e)
  let i = h.length - 1
  while (i > 0) {
    const p = (i - 1) >> 1
    if (!before(h[i] as Event, h[p] as Event)) break
    ;[h[i], h[p]] = [h[p] as Event, h[i] as Event]
    i = p
  }
}

function heapPop(h: Heap): Event | undefined {
  const top = h[0]
  const last = h.pop()
  if (top === undefined || last === undefined || h.length === 0) return top
  h[0] = last
  let i = 0
  for (;;) {
    const l = 2 * i + 1
    const r = l + 1
    let m = i
    if (l < h.length && before(h[l] as Event, h[m] as Event)) m = l
    if (r < h.length && before(h[r] as Event, h[m] as Event)) m = r
    if (m === i) break
    ;[h[i], h[m]] = [h[m] as Event, h[i] as Event]
    i = m
  }
  return top
}

// ---- the kernel

/** Fault classes a run can report as fired (scenario.ts injects them; the kernel and network count them). */
export const faultClasses = [
  'loss',
  'duplicate',
  'reorder',
  'partition.split',
  'partition.isolate',
  'partition.ring',
  'partition.one-way',
  'crash',
  'lost-unsynced',
  'restart',
  'pause',
  'clock.skew',
  'clock.jump',
  'offline-days',
] as const
export type FaultClass = (typeof faultClasses)[number]

export type Kernel = {
  readonly seed: number
  /** The kernel's own generator; fork it (prng.fork) for each independent consumer. */
  readonly prng: Prng
  /** Virtual time, ms since the start of the run. */
  nowMs(): number
  /** Schedules fn at virtual time atMs (not before now). `kind` names it in the counters. */
  at(atMs: number, kind: string, fn: () => void): void
  /** Schedules fn delayMs from now. */
  after(delayMs: number, kind: string, fn: () => void): void
  /** Runs every event due at or before untilMs, in order; then the clock reads untilMs. */
  run(untilMs: number): void
  /**
   * Runs in slices of checkEveryMs until done() holds (checked before each slice) or limitMs of virtual
   * time passes; returns the virtual ms it took, or undefined if done() never held.
   */
  runUntil(done: () => boolean, limitMs: number, checkEveryMs: number): number | undefined
  /**
   * Freezes the world for deltaMs: virtual time (and so every wall clock) moves on by deltaMs, and every
   * pending event moves with it, so nothing runs in between and nothing notices except through wall
   * clocks. Simulated days cost nothing this way. Monotonic clocks (SimClock.monoMs) do not count warps:
   * protocol timers see no time pass.
   */
  warp(deltaMs: number): void
  /** Total ms warped so far. */
  warpedMs(): number
  /** Events waiting. */
  pending(): number
  readonly counters: Map<string, number>
  count(name: string, n?: number): void
  /** Records that a fault class fired (also counted as `fault.<class>`). */
  fault(c: FaultClass): void
  faultsFired(): Map<FaultClass, number>
  /** Folds parts of a delivered event into the trace hash. */
  trace(...parts: readonly (string | number | Uint8Array)[]): void
  /** The trace hash so far (16 hex digits), and how many events it covers. */
  traceHash(): string
  traceEvents(): number
}

/** Most events a run may execute: a bound so that a protocol bug that loops forever fails instead of hanging. */
export const eventsMax = 50_000_000

export function createKernel(seed: number): Kernel {
  const heap: Heap = []
  let now = 0
  let seq = 0
  let executed = 0
  let warped = 0
  const counters = new Map<string, number>()
  const fired = new Map<FaultClass, number>()
  const th = createTraceHash()
  const k: Kernel = {
    seed,
    prng: prngOps.create(seed),
    nowMs: () => now,
    at(atMs, kind, fn) {
      core.assert(Number.isFinite(atMs), 'sim: event time must be finite')
      heapPush(heap, { atMs: Math.max(atMs, now), seq: seq++, kind, fn })
    },
    after(delayMs, kind, fn) {
      k.at(now + Math.max(0, delayMs), kind, fn)
    },
    run(untilMs) {
      for (;;) {
        const top = heap[0]
        if (top === undefined || top.atMs > untilMs) break
        heapPop(heap)
        now = top.atMs
        executed++
        core.assert(executed <= eventsMax, `sim: more than ${eventsMax} events: a runaway loop?`)
        top.fn()
      }
      if (untilMs > now) now = untilMs
    },
    runUntil(done, limitMs, checkEveryMs) {
      const start = now
      for (;;) {
        if (done()) return now - start
        if (now - start >= limitMs) return undefined
        k.run(Math.min(now + checkEveryMs, start + limitMs))
      }
    },
    warp(deltaMs) {
      core.assert(deltaMs >= 0 && Number.isFinite(deltaMs), 'sim: warp forward only')
      for (const e of heap) e.atMs += deltaMs // a uniform shift keeps the heap ordered
      now += deltaMs
      warped += deltaMs
      k.trace('warp', now, deltaMs)
    },
    warpedMs: () => warped,
    pending: () => heap.length,
    counters,
    count(name, n = 1) {
      counters.set(name, (counters.get(name) ?? 0) + n)
    },
    fault(c) {
      fired.set(c, (fired.get(c) ?? 0) + 1)
      k.count(`fault.${c}`)
    },
    faultsFired: () => fired,
    trace(...parts) {
      th.events++
      for (const p of parts) {
        if (typeof p === 'string') foldString(th, p)
        else if (typeof p === 'number') foldNumber(th, p)
        else foldBytes(th, p)
      }
    },
    traceHash: () => traceHex(th),
    traceEvents: () => th.events,
  }
  return k
}

// ---- clocks

/**
 * A node's two clocks. `wall` is the core Clock the HLC and op timestamps read: the run's epoch plus
 * virtual time plus this node's skew, and it jumps when a fault says so (up to +-262 s, forwards or
 * backwards, as NTP steps a laptop's clock). `monoMs` drives the gossip timers: a real daemon times its
 * protocol periods with a monotonic clock, which no NTP step moves.
 */
export type SimClock = {
  readonly wall: Clock
  monoMs(): number
  /** The wall clock's offset from true virtual time, ms. */
  skewMs(): number
  /** Steps the wall clock by deltaMs (a jump); counted as clock.jump. */
  jump(deltaMs: number): void
}

/** Largest clock jump or skew the scenarios draw: +-262 s (the bound; HLC tolerates 10 min). */
export const clockJumpMsMax = 262_000

export function createSimClock(k: Kernel, opts: { epochMs: number; skewMs?: number }): SimClock {
  let skew = opts.skewMs ?? 0
  if (skew !== 0) k.fault('clock.skew')
  return {
    wall: { nowMs: () => opts.epochMs + k.nowMs() + skew },
    monoMs: () => k.nowMs() - k.warpedMs(),
    skewMs: () => skew,
    jump(deltaMs) {
      skew += deltaMs
      k.fault('clock.jump')
    },
  }
}

// ---- the network

/** Delivers a message's bytes to a node. The node decides what a down or paused node does with it. */
export type Deliver = (from: NodeId, to: NodeId, bytes: Uint8Array) => void

export type LinkFaults = {
  /** Chance a message is lost, 0..0.3 in the scenarios. */
  loss: number
  /** Chance a message is delivered twice (the copy with its own delay), 0..0.5. */
  duplicate: number
  /**
   * Random extra delay per message, uniform in 0..jitterMs: messages on one link overtake each other
   * when it exceeds their spacing (reordering).
   */
  jitterMs: number
}

export type PartitionShape = 'split' | 'isolate' | 'ring'

export type Partition = {
  readonly id: number
  readonly shape: PartitionShape
  readonly oneWay: boolean
  /** Directed pairs "from\nto" that cannot talk. */
  readonly blocked: ReadonlySet<string>
}

export type Network = {
  /** Base one-way latency of a link, drawn per directed link on first use from [latencyMsMin, latencyMsMax]. */
  readonly latencyMsMin: number
  readonly latencyMsMax: number
  /** The faults on every link outside the calm set. */
  faults: LinkFaults
  /**
   * Nodes whose links among themselves are healthy: no loss, duplication, jitter or partition (the
   * liveness phase's healed core). A link with one end outside keeps the faults.
   */
  readonly calm: Set<NodeId>
  /** Sees every delivered message before its node does (tracing, reports). */
  tap: Deliver | undefined
  register(id: NodeId, deliver: Deliver): void
  /** Sends bytes from one node to another; they arrive after the link's latency, or not at all. */
  send(from: NodeId, to: NodeId, bytes: Uint8Array): void
  /**
   * Cuts the given nodes by a shape: `split` into two random halves, `isolate` one random node from the
   * rest, `ring` (majorities ring: each node reaches only its ring neighbours, a majority, and no two
   * nodes see the same majority). One-way: only one direction of each cut pair is blocked. Returns it.
   */
  partition(shape: PartitionShape, nodes: readonly NodeId[], oneWay: boolean): Partition
  heal(p: Partition): void
  healAll(): void
  partitions(): readonly Partition[]
  /** Whether a message from one node to another would pass the partitions now. */
  connected(from: NodeId, to: NodeId): boolean
  /** Messages in flight. */
  inFlight(): number
}

const pairKey = (from: NodeId, to: NodeId): string => `${from}\n${to}`

export function createNetwork(
  k: Kernel,
  opts: { latencyMsMin?: number; latencyMsMax?: number; faults?: Partial<LinkFaults> } = {},
): Network {
  const rng = prngOps.fork(k.prng)
  const handlers = new Map<NodeId, Deliver>()
  const latency = new Map<string, number>()
  /** Per directed link: the send number of the last delivered message (to detect reordering). */
  const sentOnLink = new Map<string, number>()
  const deliveredOnLink = new Map<string, number>()
  let active: Partition[] = []
  let partitionIds = 0
  let inFlight = 0
  const lo = opts.latencyMsMin ?? 5
  const hi = Math.max(lo, opts.latencyMsMax ?? 80)

  const linkLatency = (key: string): number => {
    let l = latency.get(key)
    if (l === undefined) {
      l = lo + prngOps.nextInt(rng, hi - lo + 1)
      latency.set(key, l)
    }
    return l
  }

  const blockedNow = (from: NodeId, to: NodeId): boolean => {
    if (net.calm.has(from) && net.calm.has(to)) return false
    const key = pairKey(from, to)
    for (const p of active) if (p.blocked.has(key)) return true
    return false
  }

  const transmit = (from: NodeId, to: NodeId, bytes: Uint8Array, key: string, n: number, calm: boolean): void => {
    const f = net.faults
    const delay = linkLatency(key) + (calm || f.jitterMs <= 0 ? 0 : prngOps.nextInt(rng, Math.floor(f.jitterMs) + 1))
    inFlight++
    k.after(delay, 'net.deliver', () => {
      inFlight--
      if (blockedNow(from, to)) {
        k.count('net.dropped.partition')
        return
      }
      const last = deliveredOnLink.get(key) ?? 0
      if (n < last) k.fault('reorder')
      else deliveredOnLink.set(key, n)
      const h = handlers.get(to)
      if (h === undefined) {
        k.count('net.dropped.unknown')
        return
      }
      k.count('net.delivered')
      k.count('net.bytes.delivered', bytes.length)
      k.trace('d', k.nowMs(), from, to, bytes)
      net.tap?.(from, to, bytes)
      h(from, to, bytes)
    })
  }

  const net: Network = {
    latencyMsMin: lo,
    latencyMsMax: hi,
    faults: { loss: 0, duplicate: 0, jitterMs: 0, ...opts.faults },
    calm: new Set(),
    tap: undefined,
    register(id, deliver) {
      handlers.set(id, deliver)
    },
    send(from, to, bytes) {
      k.count('net.sent')
      k.count('net.bytes.sent', bytes.length)
      const key = pairKey(from, to)
      const n = (sentOnLink.get(key) ?? 0) + 1
      sentOnLink.set(key, n)
      if (blockedNow(from, to)) {
        k.count('net.dropped.partition')
        return
      }
      const calm = net.calm.has(from) && net.calm.has(to)
      const f = net.faults
      if (!calm && f.loss > 0 && prngOps.chance(rng, f.loss)) {
        k.count('net.dropped.loss')
        k.fault('loss')
        return
      }
      transmit(from, to, bytes, key, n, calm)
      if (!calm && f.duplicate > 0 && prngOps.chance(rng, f.duplicate)) {
        k.count('net.duplicated')
        k.fault('duplicate')
        transmit(from, to, bytes, key, n, calm)
      }
    },
    partition(shape, nodes, oneWay) {
      const blocked = new Set<string>()
      const cut = (a: NodeId, b: NodeId): void => {
        blocked.add(pairKey(a, b))
        if (!oneWay) blocked.add(pairKey(b, a))
      }
      const ids = [...nodes]
      // a random order of the nodes: the shapes below cut along it
      for (let i = ids.length - 1; i > 0; i--) {
        const j = prngOps.nextInt(rng, i + 1)
        ;[ids[i], ids[j]] = [ids[j] as NodeId, ids[i] as NodeId]
      }
      if (shape === 'split') {
        const cutAt = 1 + prngOps.nextInt(rng, Math.max(1, ids.length - 1))
        const left = ids.slice(0, cutAt)
        const right = ids.slice(cutAt)
        for (const a of left) for (const b of right) cut(a, b)
      } else if (shape === 'isolate') {
        const [one, ...rest] = ids
        if (one !== undefined) for (const b of rest) cut(one, b)
      } else {
        // majorities ring: node i reaches i-r..i+r around the ring, r = ceil(floor(n/2)/2), so it sees itself
        // and 2r >= floor(n/2) others, a majority; two nodes see the same set only if they are the same.
        const n = ids.length
        const r = Math.ceil(Math.floor(n / 2) / 2)
        for (let i = 0; i < n; i++) {
          for (let j = i + 1; j < n; j++) {
            const d = Math.min(j - i, n - (j - i))
            if (d > r) cut(ids[i] as NodeId, ids[j] as NodeId)
          }
        }
      }
      const p: Partition = { id: ++partitionIds, shape, oneWay, blocked }
      active.push(p)
      if (blocked.size > 0) {
        k.fault(`partition.${shape}`)
        if (oneWay) k.fault('partition.one-way')
      }
      k.trace('partition', k.nowMs(), shape, oneWay ? 1 : 0, blocked.size)
      return p
    },
    heal(p) {
      active = active.filter((q) => q.id !== p.id)
      k.trace('heal', k.nowMs(), p.id)
    },
    healAll() {
      active = []
      k.trace('heal-all', k.nowMs())
    },
    partitions: () => active,
    connected: (from, to) => !blockedNow(from, to),
    inFlight: () => inFlight,
  }
  return net
}
