/**
 * Scenarios: one seed draws a fleet, a workload and faults, then runs two phases (TigerBeetle's VOPR):
 *
 *   safety    the workload runs while faults fire: loss, duplication, delay and reordering, partitions
 *             of every shape (symmetric and one-way) that start and heal, crashes that lose un-synced
 *             writes and restart later, pauses, clock skew and jumps, and (scenario `days`) one node
 *             offline for 3-30 simulated days while the others write, retract and resolve conflicts.
 *   liveness  writes stop; a core of nodes is healed (partitions gone, crashed ones restarted, faults off
 *             on links among them); the run goes on until the core agrees, and the invariants are checked
 *             (invariants.ts). A last settle phase calms every link so that every acknowledged op can be
 *             looked for everywhere.
 *
 * Scenarios: `small` (3-9 nodes), `large` (50 nodes, shorter), `days` (a laptop away for days), `canary`
 * (one node with a deliberately broken merge: the invariants must catch it), `mixed` (the seed picks one
 * of the first three: what CI and the long run use).
 *
 * Simulated days cost little: the world is frozen between short bursts of activity (kernel.warp), so a
 * day is one warp plus a few seconds of gossip. Gossip timers run on monotonic clocks and see no time
 * pass; wall clocks, HLCs and op timestamps do.
 */
import * as core from '../src/core/index.ts'
import type { NodeId, Prng } from '../src/core/index.ts'
import { antiEntropy as ae } from '../src/gossip/index.ts'
import type { FaultClass, Kernel, Network } from './kernel.ts'
import { clockJumpMsMax, createKernel, createNetwork, createSimClock } from './kernel.ts'
import type { FastPathFactory, SimNode } from './node.ts'
import { channelMembership, createSimNode } from './node.ts'
import { broadcastFastPath } from './fast-path.ts'
import * as inv from './invariants.ts'
import type { Ledger, WorkloadShape } from './workload.ts'
import { createLedger, dotKey, writeOne } from './workload.ts'

const { prng: prngOps } = core

export const scenarioNames = ['mixed', 'small', 'large', 'days', 'canary'] as const
export type ScenarioName = (typeof scenarioNames)[number]

/** Everything a seed draws: printing it says what the run did. */
export type ScenarioParams = {
  readonly scenario: Exclude<ScenarioName, 'mixed'>
  readonly n: number
  readonly warmupMs: number
  readonly safetyMs: number
  readonly tickMs: number
  readonly syncEveryMs: number
  /** Mean writes per node per second during safety. */
  readonly writesPerNodePerS: number
  /** Nodes that write (all in small fleets; a subset in large ones). */
  readonly writers: number
  readonly loss: number
  readonly duplicate: number
  readonly jitterMs: number
  readonly latencyMsMin: number
  readonly latencyMsMax: number
  readonly partitions: number
  readonly crashes: number
  readonly pauses: number
  readonly clockSkew: boolean
  readonly clockJumps: number
  /** Scenario days: simulated days the away node is offline (0: none). */
  readonly offlineDays: number
  /** Whether the liveness phase leaves one node out of the healed core (still faulty). */
  readonly flakyOutsider: boolean
  readonly brokenMerge: boolean
  readonly shape: WorkloadShape
  /** The fast path in front of anti-entropy: none, or broadcast.ts in push or plumtree mode. */
  readonly fastPath: 'none' | 'push' | 'plumtree'
  /** The fast path's topology: 0 is a mesh; k > 0 is hub-spoke with the first k nodes as hubs. */
  readonly hubs: number
}

/** Gossip settings of the simulated nodes (the defaults, stated here so a report can name them). */
export const antiEntropyIntervalMs = ae.antiEntropyDefaults.intervalMs

/** Draws a scenario's parameters from the seed (its own stream, so adding a fault class later shifts little). */
export function drawScenario(seed: number, name: ScenarioName = 'mixed'): ScenarioParams {
  const rng = prngOps.create(seed ^ 0x5ce7a210)
  const int = (lo: number, hi: number): number => lo + prngOps.nextInt(rng, hi - lo + 1)
  const maybe = (p: number): boolean => prngOps.chance(rng, p)
  let scenario: Exclude<ScenarioName, 'mixed'>
  if (name === 'mixed') {
    const x = prngOps.nextInt(rng, 100)
    scenario = x < 80 ? 'small' : x < 90 ? 'large' : 'days'
  } else scenario = name
  const large = scenario === 'large'
  const n = large ? 50 : scenario === 'canary' ? int(3, 5) : int(3, 9)
  return {
    scenario,
    n,
    warmupMs: large ? 8000 : 4000,
    safetyMs: large ? int(8000, 12000) : int(15000, 30000),
    tickMs: 100,
    syncEveryMs: int(50, 500),
    writesPerNodePerS: large ? 0.5 : scenario === 'canary' ? 1 : 0.2 + prngOps.nextFloat(rng) * 0.8,
    writers: large ? int(5, 10) : n,
    loss: maybe(0.7) ? prngOps.nextFloat(rng) * 0.3 : 0,
    duplicate: maybe(0.6) ? prngOps.nextFloat(rng) * 0.5 : 0,
    jitterMs: maybe(0.7) ? int(10, 400) : 0,
    latencyMsMin: int(1, 20),
    latencyMsMax: int(30, 150),
    partitions: maybe(0.75) ? int(1, 3) : 0,
    crashes: maybe(0.6) ? int(1, 3) : 0,
    pauses: maybe(0.5) ? int(1, 3) : 0,
    clockSkew: maybe(0.5),
    clockJumps: maybe(0.5) ? int(1, 3) : 0,
    offlineDays: scenario === 'days' ? int(3, 30) : 0,
    flakyOutsider: n >= 5 && maybe(0.4),
    brokenMerge: scenario === 'canary',
    shape: { facts: scenario === 'canary' ? 2 : int(2, 6), tasks: int(1, 4), counters: int(1, 3) },
    fastPath: drawFastPath(seed),
    hubs: drawHubs(seed, n),
  }
}

/** Half the seeds run a mesh, the rest hub-spoke with one or two hubs (own stream, like drawFastPath). */
function drawHubs(seed: number, n: number): number {
  const x = prngOps.nextInt(prngOps.create(seed ^ 0x0b0b5a0e), 4)
  return n < 3 || x < 2 ? 0 : x - 1
}

/** Drawn from a stream of its own, so that the other draws of a seed stay as they were before it existed. */
function drawFastPath(seed: number): ScenarioParams['fastPath'] {
  const x = prngOps.nextInt(prngOps.create(seed ^ 0x0fa57fa5), 3)
  return x === 0 ? 'none' : x === 1 ? 'push' : 'plumtree'
}

export type RunResult = {
  readonly seed: number
  readonly params: ScenarioParams
  readonly failures: string[]
  readonly traceHash: string
  readonly traceEvents: number
  readonly faults: ReadonlyMap<FaultClass, number>
  /** Anti-entropy rounds the core took to agree after heal, and the bound 2*ceil(log2 N)+5. */
  readonly rounds: number | undefined
  readonly roundsBound: number
  /** Days scenario: bytes the returning node received to catch up / bytes of the ops it missed. */
  readonly catchUpRatio: number | undefined
  /** Days scenario: stored bytes of the ops the returning node missed (I7 is checked from catchUpCheckBytesMin). */
  readonly catchUpMissedBytes: number | undefined
  readonly opsWritten: number
  readonly opsAcked: number
  readonly simMs: number
  readonly counters: ReadonlyMap<string, number>
}

export type RunOptions = {
  /** Plugs a fast path into every node (sim/report.ts and broadcast.ts's tests); overrides fastPathMode. */
  readonly fastPath?: FastPathFactory | undefined
  /** Overrides the seed's drawn fast path (regression seeds pin the one they failed with). */
  readonly fastPathMode?: ScenarioParams['fastPath'] | undefined
  /** Overrides any drawn parameter (a minimized failure: the seed with some faults switched off). */
  readonly override?: Partial<ScenarioParams> | undefined
  /** Called once the fleet exists, before anything runs (tracing: set fleet.net.tap; reports). */
  readonly onFleet?: ((fleet: Fleet) => void) | undefined
  /** Verify every signature at every node instead of remembering verified ones (verify-memo.ts). */
  readonly verifyEveryTime?: boolean | undefined
}

/** The seed-derived signing key of node i: 32 bytes. */
function keySeed(rng: Prng): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i += 4) {
    const x = prngOps.nextU32(rng)
    out[i] = x & 0xff
    out[i + 1] = (x >>> 8) & 0xff
    out[i + 2] = (x >>> 16) & 0xff
    out[i + 3] = x >>> 24
  }
  return out
}

export const epochMs = 1_800_000_000_000
const dayMs = 86_400_000
const dayActions = ['fact.set', 'fact.set', 'fact.retract', 'ticket.resolve', 'counter.add'] as const

/** A fleet on a kernel and network: the pieces a scenario or a report drives. */
export type Fleet = {
  readonly k: Kernel
  readonly net: Network
  readonly nodes: SimNode[]
  readonly ledger: Ledger
}

/** Builds a fleet of n nodes that join through node 0 (a report can use this without the scenario). */
const nodeIdOf = (i: number): NodeId => core.ids.asNodeId(`n${String(i).padStart(2, '0')}`)

export function createFleet(
  seed: number,
  p: Pick<ScenarioParams, 'n' | 'tickMs' | 'syncEveryMs' | 'latencyMsMin' | 'latencyMsMax' | 'clockSkew' | 'brokenMerge'>,
  opts: RunOptions = {},
): Fleet {
  const k = createKernel(seed)
  const net = createNetwork(k, { latencyMsMin: p.latencyMsMin, latencyMsMax: p.latencyMsMax })
  const rng = prngOps.fork(k.prng)
  const ledger = createLedger()
  const verifyMemo = opts.verifyEveryTime === true ? undefined : new Map<string, string>()
  const nodes: SimNode[] = []
  for (let i = 0; i < p.n; i++) {
    const id = nodeIdOf(i)
    const skewMs = p.clockSkew ? prngOps.nextInt(rng, 2 * clockJumpMsMax + 1) - clockJumpMsMax : 0
    nodes.push(
      createSimNode({
        index: i,
        id,
        kernel: k,
        net,
        clock: createSimClock(k, { epochMs, skewMs }),
        keySeed: keySeed(rng),
        tickMs: p.tickMs,
        syncEveryMs: p.syncEveryMs,
        fastPath: opts.fastPath,
        brokenMerge: p.brokenMerge && i === 0,
        verifyMemo,
        onAck: (_node, e) => {
          ledger.acked.add(dotKey(e))
        },
      }),
    )
  }
  const seedNode = nodes[0] as SimNode
  for (const node of nodes.slice(1)) node.join(seedNode.id)
  return { k, net, nodes, ledger }
}

export function runScenario(seed: number, name: ScenarioName = 'mixed', opts: RunOptions = {}): RunResult {
  const drawn = drawScenario(seed, name)
  const p: ScenarioParams = {
    ...drawn,
    ...opts.override,
    ...(opts.fastPathMode === undefined ? {} : { fastPath: opts.fastPathMode }),
  }
  const fastPath =
    opts.fastPath ??
    (p.fastPath === 'none'
      ? undefined
      : broadcastFastPath(
          p.hubs > 0
            ? { mode: p.fastPath, topology: 'hub-spoke', hubs: Array.from({ length: p.hubs }, (_, i) => nodeIdOf(i)) }
            : { mode: p.fastPath },
        ))
  const fleet = createFleet(seed, p, { ...opts, fastPath })
  opts.onFleet?.(fleet)
  const { k, net, nodes, ledger } = fleet
  // I7 measures what peers sent a node, not the copies the simulated network made of it: a duplicate is
  // the same byte array delivered again (a sender's resend is a new one and counts). Without this, one
  // 64 KiB delta over the flaky outsider's duplicating link counted twice (seed 20447: 2.05x, 1.3x without).
  const dataDupBytesIn = new Map<NodeId, number>()
  const deliveredData = new WeakSet<Uint8Array>()
  const tapBefore = net.tap
  net.tap = (from, to, bytes) => {
    if (bytes[0] !== channelMembership) {
      if (deliveredData.has(bytes)) dataDupBytesIn.set(to, (dataDupBytesIn.get(to) ?? 0) + bytes.length)
      else deliveredData.add(bytes)
    }
    tapBefore?.(from, to, bytes)
  }
  const rng = prngOps.fork(k.prng)
  const failures: string[] = []
  const ids = nodes.map((x) => x.id)
  const byId = new Map(nodes.map((x) => [x.id, x] as const))
  let faultsOn = false
  let writesOn = false

  // ---- safety: workload and faults
  const t0 = p.warmupMs
  const t1 = t0 + p.safetyMs
  const wrng = prngOps.fork(rng)
  const writers = nodes.slice(0, p.writers)
  const away = p.offlineDays > 0 ? (nodes[1 + prngOps.nextInt(rng, p.n - 1)] as SimNode) : undefined
  for (const w of writers) {
    const meanGapMs = 1000 / p.writesPerNodePerS
    const next = (): void => {
      if (writesOn) writeOne(w, wrng, p.shape, ledger)
      k.after(1 + prngOps.nextInt(wrng, Math.ceil(2 * meanGapMs)), 'workload', next)
    }
    k.at(t0 + prngOps.nextInt(wrng, Math.ceil(meanGapMs)), 'workload', next)
  }
  k.at(t0, 'faults.on', () => {
    faultsOn = true
    writesOn = true
    net.faults = { loss: p.loss, duplicate: p.duplicate, jitterMs: p.jitterMs }
  })
  const during = (): number => t0 + prngOps.nextInt(rng, Math.max(1, p.safetyMs - 2000))
  const shapes = ['split', 'isolate', 'ring'] as const
  for (let i = 0; i < p.partitions; i++) {
    const shape = shapes[(i + prngOps.nextInt(rng, 3)) % 3] as (typeof shapes)[number]
    const oneWay = prngOps.chance(rng, 0.35)
    const lastsMs = 2000 + prngOps.nextInt(rng, 13000)
    k.at(during(), 'fault.partition', () => {
      if (!faultsOn) return
      const part = net.partition(shape, ids, oneWay)
      k.after(lastsMs, 'fault.heal', () => net.heal(part))
    })
  }
  for (let i = 0; i < p.crashes; i++) {
    const victim = nodes[prngOps.nextInt(rng, p.n)] as SimNode
    const downMs = 500 + prngOps.nextInt(rng, 10000)
    const restartLater = prngOps.chance(rng, 0.7) // else it stays down until liveness
    k.at(during(), 'fault.crash', () => {
      if (!faultsOn || victim.state() !== 'up' || victim === away) return
      victim.crash()
      if (restartLater) k.after(downMs, 'fault.restart', () => victim.restart())
    })
  }
  for (let i = 0; i < p.pauses; i++) {
    const victim = nodes[prngOps.nextInt(rng, p.n)] as SimNode
    const forMs = 200 + prngOps.nextInt(rng, 8000)
    k.at(during(), 'fault.pause', () => {
      if (faultsOn) victim.pause(forMs)
    })
  }
  for (let i = 0; i < p.clockJumps; i++) {
    const victim = nodes[prngOps.nextInt(rng, p.n)] as SimNode
    // the new skew stays within +-262 s of true time, so two clocks differ by less than the HLC's 10 min
    const target = prngOps.nextInt(rng, 2 * clockJumpMsMax + 1) - clockJumpMsMax
    k.at(during(), 'fault.clock-jump', () => {
      if (faultsOn) victim.clock.jump(target - victim.clock.skewMs())
    })
  }
  if (away !== undefined) k.at(t0 + Math.floor(p.safetyMs / 3), 'fault.offline', () => away.goOffline())

  k.run(t1)

  // ---- days away: the fleet writes a little each day while one node is offline
  if (away !== undefined) {
    const activeMs = 6000
    for (let d = 0; d < p.offlineDays; d++) {
      k.warp(dayMs - activeMs)
      const burst = 1 + prngOps.nextInt(rng, 3)
      for (let j = 0; j < burst; j++) {
        const w = writers[prngOps.nextInt(rng, writers.length)] as SimNode
        // while it is away the others set facts in conflict, retract them and resolve tickets
        if (w !== away) k.at(k.nowMs() + prngOps.nextInt(rng, activeMs / 2), 'workload.day', () => writeOne(w, wrng, p.shape, ledger, dayActions))
      }
      k.run(k.nowMs() + activeMs)
    }
  }

  // ---- liveness: heal a core, stop faults on it, run until it agrees
  faultsOn = false
  writesOn = false
  const outsider =
    p.flakyOutsider ? (nodes.filter((x) => x !== away)[prngOps.nextInt(rng, p.n - (away === undefined ? 0 : 1))] as SimNode) : undefined
  const coreNodes = nodes.filter((x) => x !== outsider)
  net.healAll()
  for (const x of coreNodes) net.calm.add(x.id)
  for (const x of coreNodes) {
    if (x.state() === 'down') x.restart()
    if (x.state() === 'offline') x.goOnline()
    if (x.state() === 'paused') x.resume()
  }
  // what the core (the away node is in it) holds that the away node lacks: the outsider's ops may not
  // reach the core during liveness, so they are not counted
  const missed = away === undefined ? undefined : inv.missedBytes(away, coreNodes.filter((x) => x !== away))
  const sentBytesIn = (x: SimNode): number => x.dataBytesIn() - (dataDupBytesIn.get(x.id) ?? 0)
  const bytesAtHeal = away === undefined ? 0 : sentBytesIn(away)
  let catchUpBytes: number | undefined
  const roundsBound = 2 * Math.ceil(Math.log2(p.n)) + 5
  const agreeMs = k.runUntil(
    () => {
      if (away !== undefined && catchUpBytes === undefined && missed !== undefined && inv.covers(away, missed.target)) {
        catchUpBytes = sentBytesIn(away) - bytesAtHeal
      }
      return inv.agree(coreNodes)
    },
    3 * roundsBound * antiEntropyIntervalMs,
    100,
  )
  const rounds = agreeMs === undefined ? undefined : Math.ceil(agreeMs / antiEntropyIntervalMs)
  if (rounds === undefined) failures.push(`liveness: the core of ${coreNodes.length} did not agree within ${3 * roundsBound} rounds (${inv.disagreement(coreNodes)})`)
  else if (rounds > roundsBound) failures.push(`liveness: the core took ${rounds} rounds to agree, over the bound ${roundsBound}`)

  // membership: no healthy core node left marked dead
  const aliveMs = k.runUntil(() => inv.deadMarks(coreNodes).length === 0, 60_000, 200)
  if (aliveMs === undefined) failures.push(`membership: core nodes still marked offline 60 s after heal: ${inv.deadMarks(coreNodes).slice(0, 5).join(', ')}`)

  // ---- settle: calm every link, bring every node back, let everything arrive
  for (const x of nodes) {
    net.calm.add(x.id)
    if (x.state() === 'down') x.restart()
    if (x.state() === 'offline') x.goOnline()
    if (x.state() === 'paused') x.resume()
  }
  const settled = k.runUntil(() => inv.agree(nodes), 120_000, 200)
  if (settled === undefined) failures.push(`settle: the whole fleet did not agree within 120 s after calming every link (${inv.disagreement(nodes)})`)

  failures.push(...inv.checkAll({ nodes, coreNodes, ledger, byId }))
  let catchUpRatio: number | undefined
  if (missed !== undefined && missed.bytes > 0) {
    const got = catchUpBytes ?? sentBytesIn(away!) - bytesAtHeal
    catchUpRatio = got / missed.bytes
    if (catchUpBytes === undefined) failures.push('days: the returning node never caught up with what it missed')
    else if (missed.bytes >= inv.catchUpCheckBytesMin && catchUpRatio > 2) {
      failures.push(`days: the returning node took ${got} bytes to catch up with ${missed.bytes} bytes of ops (${catchUpRatio.toFixed(2)}x, bound 2x)`)
    }
  }
  return {
    seed,
    params: p,
    failures,
    traceHash: k.traceHash(),
    traceEvents: k.traceEvents(),
    faults: k.faultsFired(),
    rounds,
    roundsBound,
    catchUpRatio,
    catchUpMissedBytes: missed?.bytes,
    opsWritten: ledger.written.size,
    opsAcked: ledger.acked.size,
    simMs: k.nowMs() - k.warpedMs(),
    counters: k.counters,
  }
}
