/**
 * The propagation report (issue 4, part 3): `npm run sim -- report` (or `node sim/report.ts`) runs the
 * real gossip machines (src/gossip broadcast + anti-entropy) over the simulator kernel's network and
 * writes bench/results/propagation.json. Two experiments:
 *
 * 1. Rounds until every node has a new op, for N in {7, 50, 200, 1000, 5000} x fanout {1, 2, 3, 6}.
 *    A round is one gossip period T = 1000 ms (anti-entropy's default interval) and links take T/10, so
 *    the run is the synchronous-rounds model of the theory: every node ticks at multiples of T; in a
 *    round a node forwards what it first saw in the previous round to `fanout` random peers (the push
 *    fast path, infect-and-die, flushed once per round) and starts one anti-entropy exchange (push-pull:
 *    digest, delta, delta back) with a random peer. The op is published just before a round's tick;
 *    `rounds` = ceil((time the last node has it - that tick) / T). Compared with the push-pull bound
 *    log3 N + ln ln N (Karp et al. 2000: log3 N + O(log log N); we take the O's constant as 1) and the
 *    pure-push ideal log_(f+1) N (the informed set can at most multiply by f+1 a round).
 *    For N > 200 each node's broadcast peers are a random sample of 128 (a partial view, as HyParView
 *    keeps; membership still knows all), so 5000 nodes do not hold 25 M peer entries; anti-entropy picks
 *    from everyone.
 * 2. Maelstrom's "efficient broadcast" (Gossip Glomers 3d/3e) in simulation: 25 nodes, 100 ms links, 100
 *    client ops a second for 20 s at random nodes, half broadcasts (a new signed op), half reads (local,
 *    no messages). Server messages per op (all server-to-server messages, broadcast and anti-entropy, over
 *    all client ops, reads included, as Maelstrom counts), and the median and max time until an op is in
 *    every node's log. Several variants side by side; the default configuration's rows carry the
 *    workload name `efficient-broadcast`.
 * 3. Failure detection at N = 50: the real membership machine on membership.test-util.ts's deterministic
 *    network (10% loss, short pauses): time until every member marks a crashed node offline, and offline
 *    marks of live members over quiet simulated hours (failureDetectionRows).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as core from '../src/core/index.ts'
import type { NodeId } from '../src/core/index.ts'
import { antiEntropy, broadcast } from '../src/gossip/index.ts'
import type { BroadcastConfig } from '../src/gossip/index.ts'
import type { AuthorId, SignedOp, Signer } from '../src/log/index.ts'
import { createOps, createSigner, signOps } from '../src/log/index.ts'
import { createKernel, createNetwork } from './kernel.ts'
import type { Kernel } from './kernel.ts'
import { reportFailureDetection } from '../src/gossip/membership.test-util.ts'

const { prng: prngOps } = core

// ---- a cluster of real gossip machines on the kernel

type ClusterNode = {
  readonly id: NodeId
  readonly index: number
  readonly log: Map<AuthorId, SignedOp[]>
  /** Ops that arrived ahead of a gap (a broadcast item overtaking an earlier one): author -> seq -> op. */
  readonly pending: Map<AuthorId, Map<number, SignedOp>>
  readonly bc: broadcast.Broadcast
  readonly ae: antiEntropy.AntiEntropy
  signer: Signer | undefined
}

export type ClusterOptions = {
  readonly n: number
  readonly seed: number
  readonly latencyMs: number
  /** Every node's machines tick this often. */
  readonly tickMs: number
  /** Tick phases: all at 0 (synchronous rounds) or spread at random over a tick. */
  readonly phases: 'aligned' | 'random'
  readonly bc: Partial<BroadcastConfig>
  readonly ae: Partial<antiEntropy.AntiEntropyConfig>
  /** Most broadcast peers a node is given (a random sample of the others); Infinity for all. */
  readonly bcPeersMax: number
  /** Hub-spoke: the first `hubs` nodes are hubs (0: mesh). */
  readonly hubs: number
}

export type Cluster = {
  readonly k: Kernel
  readonly nodes: readonly ClusterNode[]
  /** Node i writes a new op now and publishes it; returns its dot "author:seq". */
  write(i: number): string
  /** Node i writes a new op now and every node holds it at once, no messages (history from before the run). */
  writeEverywhere(i: number): string
  /** When every node had the op of this dot (virtual ms), if yet. */
  everywhereAt(dot: string): number | undefined
  /** Server messages sent so far, by kind. */
  readonly sent: Map<string, number>
}

const nodeName = (i: number): NodeId => core.ids.asNodeId(`n${String(i).padStart(4, '0')}`)

function signerFor(i: number): Signer {
  const seed = new Uint8Array(32)
  seed[0] = 0x5e
  seed[1] = i & 0xff
  seed[2] = (i >>> 8) & 0xff
  const s = createSigner(seed)
  core.assert(s.ok, 'report: signer')
  return s.value
}

/** "All nodes but me" as an array-like view (anti-entropy only reads length and one index). */
function othersView(all: readonly NodeId[], me: number): readonly NodeId[] {
  return new Proxy(all as NodeId[], {
    get(target, prop, receiver) {
      if (prop === 'length') return target.length - 1
      if (typeof prop === 'string' && /^\d+$/.test(prop)) {
        const j = Number(prop)
        return target[j < me ? j : j + 1]
      }
      return Reflect.get(target, prop, receiver) as unknown
    },
  })
}

export function createCluster(o: ClusterOptions): Cluster {
  const k = createKernel(o.seed)
  const net = createNetwork(k, { latencyMsMin: o.latencyMs, latencyMsMax: o.latencyMs })
  const rng = prngOps.fork(k.prng)
  const ids = Array.from({ length: o.n }, (_, i) => nodeName(i))
  const hubIds = ids.slice(0, o.hubs)
  const isHub = (i: number): boolean => i < o.hubs
  const bcConfig: Partial<BroadcastConfig> =
    o.hubs > 0 ? { ...o.bc, topology: 'hub-spoke', hubs: hubIds } : o.bc
  const sent = new Map<string, number>()
  /** dot -> how many nodes hold it, and when the last one got it. */
  const holders = new Map<string, number>()
  const doneAt = new Map<string, number>()
  const nodes: ClusterNode[] = []

  const have = (x: ClusterNode, e: SignedOp): void => {
    const dot = `${e.op.author}:${e.op.seq}`
    const c = (holders.get(dot) ?? 0) + 1
    holders.set(dot, c)
    if (c === o.n) doneAt.set(dot, k.nowMs())
  }

  /** Appends what follows the log, parks what is ahead of a gap, drains the park. */
  const ingest = (x: ClusterNode, ops: readonly SignedOp[]): void => {
    for (const e of ops) {
      const a = e.op.author
      const xs = x.log.get(a) ?? []
      if (!x.log.has(a)) x.log.set(a, xs)
      if (e.op.seq <= xs.length) continue
      if (e.op.seq > xs.length + 1) {
        let p = x.pending.get(a)
        if (p === undefined) x.pending.set(a, (p = new Map()))
        p.set(e.op.seq, e)
        continue
      }
      xs.push(e)
      have(x, e)
      const p = x.pending.get(a)
      if (p !== undefined) {
        for (let next = p.get(xs.length + 1); next !== undefined; next = p.get(xs.length + 1)) {
          p.delete(next.op.seq)
          xs.push(next)
          have(x, next)
        }
      }
    }
  }

  const count = (kind: string): void => {
    sent.set(kind, (sent.get(kind) ?? 0) + 1)
  }

  const sendAll = (
    x: ClusterNode,
    out: { send: { to: NodeId; message: unknown }[] },
    kind: 'ae' | 'bc',
  ): void => {
    for (const s of out.send) {
      const m = s.message as { type: string }
      count(m.type)
      const bytes =
        kind === 'ae'
          ? antiEntropy.encodeMessage(m as antiEntropy.AntiEntropyMessage)
          : broadcast.encodeMessage(m as broadcast.BroadcastMessage)
      net.send(x.id, s.to, bytes)
    }
  }

  for (let i = 0; i < o.n; i++) {
    const id = ids[i] as NodeId
    const log = new Map<AuthorId, SignedOp[]>()
    const x: ClusterNode = {
      id,
      index: i,
      log,
      pending: new Map(),
      signer: undefined,
      ae: antiEntropy.createAntiEntropy({
        prng: prngOps.fork(rng),
        config: o.ae,
        log: {
          versionVector() {
            const vv: core.VersionVector = new Map()
            for (const [a, xs] of log) if (xs.length > 0) vv.set(a, xs.length)
            return vv
          },
          opsAfter: (a, seq, limit) => (log.get(a) ?? []).slice(seq, seq + limit),
        },
      }),
      bc: broadcast.createBroadcast({
        self: id,
        prng: prngOps.fork(rng),
        config: bcConfig,
      }),
    }
    nodes.push(x)
  }

  for (const x of nodes) {
    // Broadcast peers: everyone (a hub-spoke spoke keeps only the hubs), or a random sample.
    let peers = ids.filter((p) => p !== x.id)
    if (peers.length > o.bcPeersMax) {
      const picked = new Set<NodeId>(hubIds.filter((h) => h !== x.id))
      while (picked.size < o.bcPeersMax) picked.add(peers[prngOps.nextInt(rng, peers.length)] as NodeId)
      peers = [...picked].sort()
    }
    x.bc.setPeers(peers)
    const aePeers = o.hubs > 0 && !isHub(x.index) ? hubIds : othersView(ids, x.index)
    net.register(x.id, (from, _to, bytes) => {
      const now = k.nowMs()
      if ((bytes[0] ?? 0) >= 0x11) {
        const out = x.bc.receive(from, bytes, now)
        core.assert(
          out.rejected.length === 0,
          `report: a broadcast message was rejected: ${out.rejected[0]?.detail}`,
        )
        for (const b of out.received) ingest(x, b)
        sendAll(x, out, 'bc')
      } else {
        const out = x.ae.receive(from, bytes, now)
        core.assert(
          out.rejected.length === 0,
          `report: an anti-entropy message was rejected: ${out.rejected[0]?.detail}`,
        )
        for (const r of out.received) ingest(x, r.ops)
        sendAll(x, out, 'ae')
      }
    })
    const tick = (): void => {
      const now = k.nowMs()
      sendAll(x, x.bc.tick(now), 'bc')
      sendAll(x, x.ae.tick(now, aePeers), 'ae')
      k.after(o.tickMs, 'tick', tick)
    }
    k.at(o.phases === 'aligned' ? 0 : prngOps.nextInt(rng, o.tickMs), 'tick', tick)
  }

  /** A new signed op of node i's author, following its log. */
  const newOp = (i: number): SignedOp[] => {
    const x = nodes[i] as ClusterNode
    x.signer ??= signerFor(i)
    const a = x.signer.author
    const xs = x.log.get(a) ?? []
    const head = xs[xs.length - 1]
    const seq = xs.length + 1
    const drafts = [
      {
        hlc: { wallMs: 1_780_000_000_000 + k.nowMs(), logical: seq },
        kind: 'fact.assert',
        body: { fact_id: `f${seq}`, value: `observation ${seq} of ${x.id}`, channel: 'discoveries' },
      },
    ]
    const created = createOps(
      a,
      head === undefined ? undefined : { seq: head.op.seq, hash: head.hash, hlc: head.op.hlc },
      drafts,
    )
    core.assert(created.ok, 'report: createOps')
    return signOps(x.signer, created.value)
  }

  return {
    k,
    nodes,
    sent,
    writeEverywhere(i) {
      const signed = newOp(i)
      for (const x of nodes) ingest(x, signed)
      const e = signed[0] as SignedOp
      return `${e.op.author}:${e.op.seq}`
    },
    write(i) {
      const x = nodes[i] as ClusterNode
      const signed = newOp(i)
      ingest(x, signed)
      sendAll(x, x.bc.publish(signed, k.nowMs()), 'bc')
      const e = signed[0] as SignedOp
      return `${e.op.author}:${e.op.seq}`
    },
    everywhereAt: (dot) => doneAt.get(dot),
  }
}

// ---- experiment 1: rounds to full propagation

export const roundMs = 1000

/** Karp et al.'s push-pull bound with the O(log log N) term's constant taken as 1: log3 N + ln ln N. */
export function pushPullBound(n: number): number {
  return Math.log(n) / Math.log(3) + Math.log(Math.log(n))
}

/** The pure-push ideal: the informed set at most multiplies by (fanout + 1) a round. */
export function pushBound(n: number, fanout: number): number {
  return Math.log(n) / Math.log(fanout + 1)
}

/**
 * Rounds until all n nodes hold one new op, with push fanout f and anti-entropy each round. The op's author
 * is known everywhere (every node holds its previous op, the steady state of a fleet whose agents write
 * repeatedly) unless `newAuthor`: anti-entropy's partial digests do not tell a peer about an author the
 * sender has never held, so a brand-new author spreads by push and by full digests (every
 * fullDigestEvery-th exchange with a peer) only.
 */
export function roundsToAll(n: number, fanout: number, seed: number, newAuthor = false): number {
  const c = createCluster({
    n,
    seed,
    latencyMs: roundMs / 10,
    tickMs: roundMs,
    phases: 'aligned',
    bc: { mode: 'push', fanout, viewSize: Math.max(fanout, 6), flushIntervalMs: 1 },
    ae: { intervalMs: roundMs, jitter: 0 },
    bcPeersMax: 128,
    hubs: 0,
  })
  // Two quiet rounds first (anti-entropy's first exchanges), then the op, just before a round's tick.
  const t0 = 3 * roundMs
  const author = prngOps.nextInt(c.k.prng, n)
  if (!newAuthor) c.writeEverywhere(author)
  c.k.run(t0 - 1)
  const dot = c.write(author)
  const took = c.k.runUntil(() => c.everywhereAt(dot) !== undefined, 200 * roundMs, roundMs)
  core.assert(
    took !== undefined,
    `report: ${n} nodes, fanout ${fanout}, seed ${seed}: never reached everyone`,
  )
  return Math.ceil(((c.everywhereAt(dot) as number) - t0) / roundMs)
}

// ---- experiment 2: Maelstrom efficient broadcast

export type EfficientVariant = {
  readonly name: string
  readonly bc: Partial<BroadcastConfig>
  readonly hubs: number
  readonly tickMs: number
  /** Client ops a second (default efficientParams.opsPerS); the low-rate rows are plumtree's home ground. */
  readonly opsPerS?: number | undefined
}

export type EfficientResult = {
  msgsPerOp: number
  msgsPerBroadcast: number
  medianMs: number
  p99Ms: number
  maxMs: number
  broadcasts: number
  ops: number
  byType: Record<string, number>
}

export const efficientParams = { nodes: 25, latencyMs: 100, opsPerS: 100, seconds: 20 } as const

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

export function efficientBroadcast(v: EfficientVariant, seed: number): EfficientResult {
  const p = efficientParams
  const c = createCluster({
    n: p.nodes,
    seed,
    latencyMs: p.latencyMs,
    tickMs: v.tickMs,
    phases: 'random',
    bc: v.bc,
    ae: {},
    bcPeersMax: Infinity,
    hubs: v.hubs,
  })
  const rng = prngOps.fork(c.k.prng)
  const opsPerS = v.opsPerS ?? p.opsPerS
  const ops = opsPerS * p.seconds
  const dots: { dot: string; atMs: number }[] = []
  const startMs = 1000
  for (let j = 0; j < ops; j++) {
    const at = startMs + Math.floor((j * 1000) / opsPerS)
    const node = prngOps.nextInt(rng, p.nodes)
    const isBroadcast = prngOps.chance(rng, 0.5)
    c.k.at(at, 'client', () => {
      if (isBroadcast) dots.push({ dot: c.write(node), atMs: c.k.nowMs() })
      // a read is answered from the node's own log: no server messages
    })
  }
  const endMs = startMs + p.seconds * 1000
  c.k.run(startMs)
  const before = [...c.sent.values()].reduce((a, b) => a + b, 0)
  c.k.run(endMs)
  const all = (): boolean => dots.every((d) => c.everywhereAt(d.dot) !== undefined)
  const settled = c.k.runUntil(all, 60_000, 100)
  core.assert(settled !== undefined, `report: ${v.name}: ops never reached every node`)
  const msgs = [...c.sent.values()].reduce((a, b) => a + b, 0) - before
  const lat = dots.map((d) => (c.everywhereAt(d.dot) as number) - d.atMs).sort((a, b) => a - b)
  return {
    msgsPerOp: msgs / ops,
    msgsPerBroadcast: msgs / dots.length,
    medianMs: quantile(lat, 0.5),
    p99Ms: quantile(lat, 0.99),
    maxMs: lat[lat.length - 1] as number,
    broadcasts: dots.length,
    ops,
    byType: Object.fromEntries(c.sent),
  }
}

/**
 * The variants compared. The first is the default configuration (broadcastDefaults) in hub-spoke with one
 * hub: the target is for this workload's best topology, and the default topology (mesh) is
 * measured next to it.
 */
export function efficientVariants(): EfficientVariant[] {
  const d = broadcast.broadcastDefaults
  const tickMs = 10
  const v = (name: string, bc: Partial<BroadcastConfig>, hubs: number): EfficientVariant => ({
    name,
    bc,
    hubs,
    tickMs,
  })
  return [
    v(`default (${d.mode}, hub-spoke 1 hub, flush ${d.flushIntervalMs} ms)`, {}, 1),
    v(`default (${d.mode}, mesh, flush ${d.flushIntervalMs} ms)`, {}, 0),
    v('push, mesh, fanout 3, flush 0', { mode: 'push', fanout: 3, flushIntervalMs: 0 }, 0),
    v('push, mesh, fanout 3, flush 100 ms', { mode: 'push', fanout: 3, flushIntervalMs: 100 }, 0),
    v('push, mesh, fanout 6, flush 100 ms', { mode: 'push', fanout: 6, flushIntervalMs: 100 }, 0),
    v('plumtree, mesh, flush 0', { mode: 'plumtree', flushIntervalMs: 0 }, 0),
    v('plumtree, mesh, flush 100 ms', { mode: 'plumtree', flushIntervalMs: 100 }, 0),
    v('push, hub-spoke 1 hub, flush 0', { mode: 'push', flushIntervalMs: 0 }, 1),
    v('push, hub-spoke 1 hub, flush 50 ms', { mode: 'push', flushIntervalMs: 50 }, 1),
    v('push, hub-spoke 1 hub, flush 150 ms', { mode: 'push', flushIntervalMs: 150 }, 1),
    v('plumtree, hub-spoke 1 hub, flush 100 ms', { mode: 'plumtree', flushIntervalMs: 100 }, 1),
    v('push, hub-spoke 2 hubs, flush 100 ms', { mode: 'push', flushIntervalMs: 100 }, 2),
    v('plumtree, hub-spoke 2 hubs, flush 100 ms', { mode: 'plumtree', flushIntervalMs: 100 }, 2),
    {
      ...v('10 ops/s: push, mesh, fanout 3, flush 0', { mode: 'push', fanout: 3, flushIntervalMs: 0 }, 0),
      opsPerS: 10,
    },
    {
      ...v('10 ops/s: push, mesh, fanout 6, flush 0', { mode: 'push', fanout: 6, flushIntervalMs: 0 }, 0),
      opsPerS: 10,
    },
    { ...v('10 ops/s: plumtree, mesh, flush 0', { mode: 'plumtree', flushIntervalMs: 0 }, 0), opsPerS: 10 },
  ]
}

// ---- the report

export type Row = {
  bench: 'propagation'
  workload: string
  system: 'grapevine'
  metric: string
  value: number
  unit: string
}

const row = (workload: string, metric: string, value: number, unit: string): Row => ({
  bench: 'propagation',
  workload,
  system: 'grapevine',
  metric,
  value,
  unit,
})

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

export type ReportOptions = {
  sizes: readonly number[]
  fanouts: readonly number[]
  seeds: (n: number) => number
  /** [N, fanout] cells also run with a brand-new author (see roundsToAll). */
  newAuthor: readonly (readonly [number, number])[]
  efficientSeeds: number
  /** Failure detection at N = 50 (membership.test-util's deterministic network): crash seeds, quiet hours. */
  failureSeeds: number
  quietHours: number
}

export const fullReport: ReportOptions = {
  sizes: [7, 50, 200, 1000, 5000],
  fanouts: [1, 2, 3, 6],
  seeds: (n) => (n <= 200 ? 20 : n <= 1000 ? 5 : 3),
  newAuthor: [
    [7, 2],
    [50, 1],
    [50, 3],
    [1000, 3],
  ],
  efficientSeeds: 2,
  failureSeeds: 300,
  quietHours: 10,
}

export function runReport(opts: ReportOptions, print: (line: string) => void): Row[] {
  const rows: Row[] = []
  print(`propagation report: node ${process.version}, ${availableParallelism()} cores`)
  print(
    `rounds: round = ${roundMs} ms gossip period, links ${roundMs / 10} ms; push (infect-and-die, flushed once a round) + anti-entropy (one exchange a round)`,
  )
  print(
    'N      fanout  seeds  median  max   push-pull bound  1.3x bound  median/bound  push ideal log_(f+1) N',
  )
  let allWithin = true
  for (const n of opts.sizes) {
    for (const f of opts.fanouts) {
      const seeds = opts.seeds(n)
      const rs: number[] = []
      for (let s = 1; s <= seeds; s++) rs.push(roundsToAll(n, f, s))
      const med = median(rs)
      const max = Math.max(...rs)
      const bound = pushPullBound(n)
      const within = med <= 1.3 * bound
      if (!within) allWithin = false
      const w = `rounds/n${n}/fanout${f}`
      rows.push(
        row(w, 'rounds_median', med, 'rounds'),
        row(w, 'rounds_max', max, 'rounds'),
        row(w, 'seeds', seeds, 'runs'),
        row(w, 'push_pull_bound', bound, 'rounds'),
        row(w, 'ratio_median_to_bound', med / bound, 'x'),
        row(w, 'ratio_max_to_bound', max / bound, 'x'),
        row(w, 'push_ideal', pushBound(n, f), 'rounds'),
      )
      print(
        `${String(n).padEnd(7)}${String(f).padEnd(8)}${String(seeds).padEnd(7)}${String(med).padEnd(8)}${String(max).padEnd(6)}${bound.toFixed(2).padEnd(17)}${(1.3 * bound).toFixed(2).padEnd(12)}${(med / bound).toFixed(2)}${within ? '' : ' (over 1.3x)'}${max > 1.3 * bound ? ' (max over 1.3x)' : ''}`.padEnd(
          90,
        ) + pushBound(n, f).toFixed(2),
      )
    }
  }
  print(
    `target: every N and fanout within 1.3x the push-pull bound (median over seeds): ${allWithin ? 'met' : 'MISSED'}`,
  )
  for (const [n, f] of opts.newAuthor) {
    const seeds = opts.seeds(n)
    const rs: number[] = []
    for (let s = 1; s <= seeds; s++) rs.push(roundsToAll(n, f, s, true))
    const w = `rounds-new-author/n${n}/fanout${f}`
    rows.push(row(w, 'rounds_median', median(rs), 'rounds'), row(w, 'rounds_max', Math.max(...rs), 'rounds'))
    print(
      `a brand-new author's first op, N ${n}, fanout ${f}: median ${median(rs)}, max ${Math.max(...rs)} rounds (${seeds} seeds)`,
    )
  }
  const seven = rows.find((r) => r.workload === 'rounds/n7/fanout2' && r.metric === 'rounds_max')
  if (seven !== undefined)
    print(
      `design note: "7 agents with fanout 2 converge in about 3 rounds": measured at most ${seven.value} rounds`,
    )
  const p = efficientParams
  print('')
  print(
    `efficient broadcast: ${p.nodes} nodes, ${p.latencyMs} ms links, ${p.opsPerS} ops/s for ${p.seconds} s (half broadcasts, half reads), ${opts.efficientSeeds} seed(s) each`,
  )
  print(
    'variant                                       msgs/op  msgs/bcast  median ms  p99 ms  max ms  target',
  )
  const variants = efficientVariants()
  for (let vi = 0; vi < variants.length; vi++) {
    const v = variants[vi] as EfficientVariant
    const rs: EfficientResult[] = []
    for (let s = 1; s <= opts.efficientSeeds; s++) rs.push(efficientBroadcast(v, s))
    // Across seeds: the mean of messages, the median of medians, the worst max.
    const mpo = rs.reduce((a, r) => a + r.msgsPerOp, 0) / rs.length
    const mpb = rs.reduce((a, r) => a + r.msgsPerBroadcast, 0) / rs.length
    const med = median(rs.map((r) => r.medianMs))
    const p99 = Math.max(...rs.map((r) => r.p99Ms))
    const max = Math.max(...rs.map((r) => r.maxMs))
    const met = v.opsPerS !== undefined ? '-' : mpo <= 5 && med <= 400 && max <= 600 ? 'met' : 'missed'
    const w = vi === 0 ? 'efficient-broadcast' : `efficient-broadcast/${v.name.replace(/[ ,]+/g, '-')}`
    rows.push(
      row(w, 'msgs_per_op', mpo, 'msgs/op'),
      row(w, 'msgs_per_broadcast', mpb, 'msgs/op'),
      row(w, 'median_ms', med, 'ms'),
      row(w, 'p99_ms', p99, 'ms'),
      row(w, 'max_ms', max, 'ms'),
    )
    const byType = rs[0]?.byType ?? {}
    print(
      `${v.name.padEnd(46)}${mpo.toFixed(2).padEnd(9)}${mpb.toFixed(2).padEnd(12)}${String(med).padEnd(11)}${String(p99).padEnd(8)}${String(max).padEnd(8)}${met}  ${JSON.stringify(byType)}`,
    )
  }
  print('target: msgs/op <= 5 AND median <= 400 ms AND max <= 600 ms')
  if (opts.failureSeeds > 0) rows.push(...failureDetectionRows(opts, print))
  return rows
}

/**
 * Failure detection (issue 4): the real membership machine on the deterministic network of
 * membership.test-util.ts (10% loss, short pauses, messages as bytes): time until every member marks a
 * crashed node offline at N = 50, over `failureSeeds` seeds, and offline marks of live members in
 * `quietHours` simulated hours without a crash.
 */
function failureDetectionRows(opts: ReportOptions, print: (line: string) => void): Row[] {
  const r = reportFailureDetection({ n: 50, seeds: opts.failureSeeds, quietHours: opts.quietHours })
  const w = 'failure-detection/n50'
  const s = (ms: number): string => (ms / 1000).toFixed(1)
  print('')
  print(
    `failure detection, N ${r.n}, ${r.loss * 100}% loss, short pauses, ${r.seeds} seeds: all members mark a crashed node offline in ${s(r.detectMs.min)} / ${s(r.detectMs.median)} / ${s(r.detectMs.p99)} / ${s(r.detectMs.max)} s (min / median / p99 / max); target p99 <= 15 s: ${r.detectMs.p99 <= 15_000 ? 'met' : 'MISSED'}`,
  )
  print(
    `false positives: ${r.detectFalseOffline} offline marks of live members in the crash runs, ${r.quietFalseOffline} in ${r.quietHours} quiet hours (${r.quietFalseSuspect} suspicions raised and refuted); ${r.messagesPerNodeSecond.toFixed(2)} messages per node per second`,
  )
  return [
    row(w, 'detect_ms_median', r.detectMs.median, 'ms'),
    row(w, 'detect_ms_p99', r.detectMs.p99, 'ms'),
    row(w, 'detect_ms_max', r.detectMs.max, 'ms'),
    row(w, 'seeds', r.seeds, 'runs'),
    row(w, 'false_offline_in_crash_runs', r.detectFalseOffline, 'marks'),
    row(w, 'quiet_hours', r.quietHours, 'hours'),
    row(w, 'false_offline_in_quiet_hours', r.quietFalseOffline, 'marks'),
    row(w, 'messages_per_node_s', r.messagesPerNodeSecond, 'msgs/s'),
  ]
}

export function writeReport(rows: readonly Row[], path: string): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, `${JSON.stringify(rows, null, 2)}\n`)
}

const here = dirname(fileURLToPath(import.meta.url))
export const reportPath = join(here, '..', 'bench', 'results', 'propagation.json')

/** `npm run sim -- report [--quick]`: --quick runs a small table (for a smoke check) and writes nothing. */
export function main(args: readonly string[]): void {
  const quick = args.includes('--quick')
  const opts: ReportOptions = quick
    ? { sizes: [7, 50], fanouts: [1, 2], seeds: () => 3, newAuthor: [[7, 2]], efficientSeeds: 1, failureSeeds: 3, quietHours: 0 }
    : fullReport
  const rows = runReport(opts, (l) => console.log(l))
  if (!quick) {
    writeReport(rows, reportPath)
    console.log(`wrote ${rows.length} rows to ${reportPath}`)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2))
