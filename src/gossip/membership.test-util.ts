/**
 * A minimal in-test network of membership machines on a manual clock (the real simulator comes later in
 * sim/). Each step advances the clock by `stepMs`, delivers the messages sent in the previous step (one
 * step of latency, each dropped with probability `loss`), then ticks every running node. Messages travel
 * as bytes (encodeMessage, and receive decodes), unless `wire: false`.
 *
 * Short pauses (a GC stop, a starved process, a laptop lid closed for a moment): a paused node neither
 * ticks nor handles messages; what arrives meanwhile waits in its socket buffer and is handled when it
 * resumes (as with a real kernel buffer), after the same loss draw as any message.
 *
 * `measureDetection` and `measureFalsePositives` are the failure-detection scenarios of issue 4, shared by
 * the tests and the propagation report (`npm run sim -- report`).
 */
import * as core from '../core/index.ts'
import type { NodeId, Prng } from '../core/index.ts'
import type { Membership, MembershipConfig, MemberStatus, Output } from './membership.ts'
import { createMembership, encodeMessage } from './membership.ts'

type InFlight = { from: NodeId; to: NodeId; message: unknown }

/** Random short pauses: each running node starts one with probability stepMs / everyMs per step. */
export type Pauses = { readonly everyMs: number; readonly minMs: number; readonly maxMs: number }

/**
 * The "short pauses": about one per node per minute, 0.1 to 2 s long. Longer than the probe
 * timeout (so a paused node misses probes and gets suspected), shorter than the suspicion timeout floor.
 */
export const shortPauses: Pauses = { everyMs: 60_000, minMs: 100, maxMs: 2000 }

export type TestNet = {
  readonly ids: NodeId[]
  readonly nodes: Map<NodeId, Membership>
  /** Nodes that neither tick nor receive (crashed or asleep); messages to them are lost. */
  readonly down: Set<NodeId>
  /** Nodes that run but hear nothing (every message to them is lost). */
  readonly deaf: Set<NodeId>
  /** Paused nodes and when they resume; their inbound messages wait. */
  readonly paused: Map<NodeId, number>
  pauses: Pauses | undefined
  /** Pauses started so far. */
  pauseCount: number
  /** Every status change any node reported, in order. */
  readonly changes: { viewer: NodeId; id: NodeId; status: MemberStatus; atMs: number }[]
  /** Called for every message a node sends. */
  onSend: ((from: NodeId, to: NodeId, message: unknown) => void) | undefined
  nowMs: number
  loss: number
  /** Messages delivered and dropped so far. */
  delivered: number
  dropped: number
  /** Puts messages a node produced outside tick/receive (join, retire) on the network. */
  inject(from: NodeId, out: Output): void
  step(): void
  run(ms: number): void
  /** Runs until `done()` holds or `limitMs` passes; returns the time it took, or undefined. */
  runUntil(done: () => boolean, limitMs: number): number | undefined
  /** What `viewer` holds about `id` ('alive' for itself). */
  statusAt(viewer: NodeId, id: NodeId): MemberStatus | undefined
}

export function nodeId(i: number): NodeId {
  return core.ids.asNodeId(`node-${String(i).padStart(3, '0')}`)
}

export function createTestNet(opts: {
  n: number
  seed: number
  stepMs?: number
  loss?: number
  pauses?: Pauses
  config?: Partial<MembershipConfig>
  wire?: boolean
}): TestNet {
  const wire = opts.wire ?? true
  const rng: Prng = core.prng.create(opts.seed)
  const pauseRng: Prng = core.prng.create(opts.seed ^ 0x5bd1e995)
  /** Messages that reached a paused node, handled when it resumes. */
  const held = new Map<NodeId, InFlight[]>()
  const stepMs = opts.stepMs ?? 100
  const ids = Array.from({ length: opts.n }, (_, i) => nodeId(i))
  const nodes = new Map<NodeId, Membership>()
  for (const id of ids) nodes.set(id, createMembership(id, opts.config, core.prng.fork(rng)))
  let pending: InFlight[] = []
  const collect = (from: NodeId, out: Output): void => {
    for (const c of out.changes) net.changes.push({ viewer: from, id: c.id, status: c.status, atMs: net.nowMs })
    for (const o of out.send) {
      net.onSend?.(from, o.to, o.message)
      pending.push({ from, to: o.to, message: wire ? encodeMessage(o.message) : o.message })
    }
  }
  const net: TestNet = {
    ids,
    nodes,
    down: new Set(),
    deaf: new Set(),
    paused: new Map(),
    pauses: opts.pauses,
    pauseCount: 0,
    changes: [],
    onSend: undefined,
    nowMs: 0,
    loss: opts.loss ?? 0,
    delivered: 0,
    dropped: 0,
    inject(from, out) {
      collect(from, out)
    },
    step() {
      net.nowMs += stepMs
      const p = net.pauses
      if (p !== undefined) {
        for (const id of ids) {
          if (net.down.has(id) || net.paused.has(id) || !core.prng.chance(pauseRng, stepMs / p.everyMs)) continue
          net.paused.set(id, net.nowMs + p.minMs + Math.floor(core.prng.nextFloat(pauseRng) * (p.maxMs - p.minMs)))
          net.pauseCount++
        }
      }
      const batch: InFlight[] = []
      for (const [id, until] of net.paused) {
        if (net.nowMs < until) continue
        net.paused.delete(id)
        batch.push(...(held.get(id) ?? []))
        held.delete(id)
      }
      batch.push(...pending)
      pending = []
      for (const m of batch) {
        const node = nodes.get(m.to)
        if (node === undefined || net.down.has(m.to) || net.deaf.has(m.to) || core.prng.chance(rng, net.loss)) {
          net.dropped++
          continue
        }
        if (net.paused.has(m.to)) {
          const q = held.get(m.to) ?? []
          q.push(m)
          held.set(m.to, q)
          continue
        }
        net.delivered++
        collect(m.to, node.receive(m.from, m.message, net.nowMs))
      }
      for (const id of ids) {
        if (net.down.has(id) || net.paused.has(id)) continue
        collect(id, (nodes.get(id) as Membership).tick(net.nowMs))
      }
    },
    run(ms) {
      const end = net.nowMs + ms
      while (net.nowMs < end) net.step()
    },
    runUntil(done, limitMs) {
      const start = net.nowMs
      while (net.nowMs - start <= limitMs) {
        if (done()) return net.nowMs - start
        net.step()
      }
      return undefined
    },
    statusAt(viewer, id) {
      if (viewer === id) return 'alive'
      return nodes.get(viewer)?.member(id)?.status
    },
  }
  return net
}

/** Joins every node but the first through the first (the seed), at the current time. */
export function joinAllThroughSeed(net: TestNet): void {
  const seed = net.ids[0] as NodeId
  for (const id of net.ids.slice(1)) net.inject(id, (net.nodes.get(id) as Membership).join(seed, net.nowMs))
}

/** True when every running node holds every other running node alive and the same member set. */
export function converged(net: TestNet): boolean {
  const up = net.ids.filter((id) => !net.down.has(id))
  for (const a of up) {
    const m = (net.nodes.get(a) as Membership).members()
    if (m.length !== net.ids.length - 1) return false
    for (const b of up) if (net.statusAt(a, b) !== 'alive') return false
  }
  return true
}

/** One failure-detection run: a converged fleet under loss and pauses, then one node crashes. */
export type DetectionRun = {
  readonly seed: number
  readonly n: number
  /** From the crash until every other member holds the crashed node offline; undefined: not within limitMs. */
  readonly detectMs: number | undefined
  /** From the crash until the first member suspects it. */
  readonly firstSuspectMs: number | undefined
  /** From the crash until the first member holds it offline (the rest is the verdict's dissemination). */
  readonly firstOfflineMs: number | undefined
  /** Offline marks of members that never crashed (false positives), during the whole run. */
  readonly falseOffline: number
}

/** Converges n nodes joined through node 0 with no loss; returns the net or undefined if they did not. */
function joinedNet(opts: { n: number; seed: number; config?: Partial<MembershipConfig> | undefined }): TestNet | undefined {
  const net = createTestNet({ n: opts.n, seed: opts.seed, ...(opts.config === undefined ? {} : { config: opts.config }) })
  joinAllThroughSeed(net)
  return net.runUntil(() => converged(net), 120_000) === undefined ? undefined : net
}

/**
 * Issue 4's detection scenario: n nodes converge, then run `warmupMs` under `loss` and `pauses`; one node
 * (chosen by the seed, never the seed node 0) crashes; measures until all others mark it offline.
 */
export function measureDetection(opts: {
  n: number
  seed: number
  loss?: number
  pauses?: Pauses | undefined
  config?: Partial<MembershipConfig>
  warmupMs?: number
  limitMs?: number
}): DetectionRun {
  const net = joinedNet(opts)
  if (net === undefined) {
    return { seed: opts.seed, n: opts.n, detectMs: undefined, firstSuspectMs: undefined, firstOfflineMs: undefined, falseOffline: 0 }
  }
  net.loss = opts.loss ?? 0.1
  net.pauses = 'pauses' in opts ? opts.pauses : shortPauses
  net.run(opts.warmupMs ?? 20_000)
  const victim = net.ids[1 + core.prng.nextInt(core.prng.create(opts.seed), net.ids.length - 1)] as NodeId
  net.down.add(victim)
  net.paused.delete(victim)
  const crashAt = net.nowMs
  const others = net.ids.filter((id) => id !== victim)
  const detectMs = net.runUntil(() => others.every((id) => net.statusAt(id, victim) === 'offline'), opts.limitMs ?? 120_000)
  const first = (status: MemberStatus): number | undefined => {
    const c = net.changes.find((c) => c.id === victim && c.status === status && c.atMs >= crashAt)
    return c === undefined ? undefined : c.atMs - crashAt
  }
  const falseOffline = net.changes.filter((c) => c.id !== victim && c.status === 'offline').length
  return { seed: opts.seed, n: opts.n, detectMs, firstSuspectMs: first('suspect'), firstOfflineMs: first('offline'), falseOffline }
}

/** Issue 4's false-positive scenario: no crash, `durationMs` (default one hour) under loss and pauses. */
export function measureFalsePositives(opts: {
  n: number
  seed: number
  loss?: number
  pauses?: Pauses | undefined
  config?: Partial<MembershipConfig>
  durationMs?: number
}): { seed: number; n: number; converged: boolean; falseOffline: number; falseSuspect: number; pauses: number; messages: number } {
  const net = joinedNet(opts)
  if (net === undefined) return { seed: opts.seed, n: opts.n, converged: false, falseOffline: 0, falseSuspect: 0, pauses: 0, messages: 0 }
  net.loss = opts.loss ?? 0.1
  net.pauses = 'pauses' in opts ? opts.pauses : shortPauses
  const from = net.changes.length
  const sent = net.delivered + net.dropped
  net.run(opts.durationMs ?? 3_600_000)
  const changes = net.changes.slice(from)
  return {
    seed: opts.seed,
    n: opts.n,
    converged: true,
    falseOffline: changes.filter((c) => c.status === 'offline').length,
    falseSuspect: changes.filter((c) => c.status === 'suspect').length,
    pauses: net.pauseCount,
    messages: net.delivered + net.dropped - sent,
  }
}

/** min, median, p99 (nearest rank) and max of some values; undefined counts as Infinity (not detected). */
export function summarize(values: readonly (number | undefined)[]): { min: number; median: number; p99: number; max: number } {
  const v = values.map((x) => x ?? Infinity).sort((a, b) => a - b)
  const at = (q: number): number => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))] ?? NaN
  return { min: v[0] ?? NaN, median: at(0.5), p99: at(0.99), max: v[v.length - 1] ?? NaN }
}

/** What the propagation report prints for failure detection (issue 4). */
export type FailureDetectionReport = {
  readonly n: number
  readonly loss: number
  readonly pauses: Pauses
  readonly seeds: number
  /** Time until every member marks the crashed node offline, over the seeds (Infinity: not within 120 s). */
  readonly detectMs: { min: number; median: number; p99: number; max: number }
  /** Offline marks of live members during the detection runs. */
  readonly detectFalseOffline: number
  /** Simulated hours without a crash, and the offline marks of live members in them (should be 0). */
  readonly quietHours: number
  readonly quietFalseOffline: number
  /** Suspicions raised in the quiet hours (pauses cause them; each must end refuted, not offline). */
  readonly quietFalseSuspect: number
  /** Messages per node per second in the quiet hours. */
  readonly messagesPerNodeSecond: number
}

/**
 * Issue 4's failure-detection figures: `seeds` crash runs (measureDetection) and `quietHours` hours
 * without a crash (measureFalsePositives), N = n, 10% loss and short pauses unless told otherwise.
 * Defaults: N = 50, 300 seeds from 1000, 10 quiet hours from seed 500 (about a minute of CPU on one core).
 */
export function reportFailureDetection(
  opts: { n?: number; seeds?: number; seed0?: number; quietHours?: number; quietSeed0?: number; loss?: number; pauses?: Pauses; config?: Partial<MembershipConfig> } = {},
): FailureDetectionReport {
  const n = opts.n ?? 50
  const loss = opts.loss ?? 0.1
  const pauses = opts.pauses ?? shortPauses
  const seeds = opts.seeds ?? 300
  const seed0 = opts.seed0 ?? 1000
  const quietHours = opts.quietHours ?? 10
  const quietSeed0 = opts.quietSeed0 ?? 500
  const config = opts.config ?? {}
  const runs = Array.from({ length: seeds }, (_, i) => measureDetection({ n, seed: seed0 + i, loss, pauses, config }))
  const quiet = Array.from({ length: quietHours }, (_, i) => measureFalsePositives({ n, seed: quietSeed0 + i, loss, pauses, config }))
  const messages = quiet.reduce((s, q) => s + q.messages, 0)
  return {
    n,
    loss,
    pauses,
    seeds,
    detectMs: summarize(runs.map((r) => r.detectMs)),
    detectFalseOffline: runs.reduce((s, r) => s + r.falseOffline, 0),
    quietHours,
    quietFalseOffline: quiet.reduce((s, q) => s + q.falseOffline + (q.converged ? 0 : 1), 0),
    quietFalseSuspect: quiet.reduce((s, q) => s + q.falseSuspect, 0),
    messagesPerNodeSecond: quietHours === 0 ? 0 : messages / (quietHours * 3600 * n),
  }
}
