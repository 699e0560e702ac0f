/**
 * The daemon on the network (issue 5, "Numbers to reach"): Grapevine daemons (`grapevine up`, one process
 * each, one secure fleet) against a HashiCorp Serf cluster (Debian package `serf`, installed here when it
 * is missing), side by side in one run on loopback.
 *
 * Phases (each bounded; the load average is printed with each):
 *   1. Start: `nodes` daemons (node 0 the seed) and `nodes` Serf agents (LAN profile), both at once; wait
 *      until every daemon's GET /peers lists nodes-1 alive members and every agent's members are alive.
 *   2. Idle: `idleMs` with nothing published, no API stream open: CPU of all daemons / all agents
 *      (/proc/<pid>/stat) and bytes per second (daemons: the sum of grapevine_sync_bytes_total of every
 *      /metrics, bytes received on peer links; Serf: memberlist.udp.sent + memberlist.tcp.sent of the
 *      agents' telemetry, sent to a statsite sink here).
 *   3. Propagation: first a warm-up, untimed: `warmup` Grapevine events (200; 8 in flight, round-robin
 *      over the daemons) and 10 Serf events, then 3 s of rest. The daemons are fresh Node processes: each
 *      one's first publish loads modules and runs cold code, and a receiver's code is interpreted until V8
 *      has compiled it (traced at cf14cde+: request -> API committed 28 ms cold, 5 ms warm; a receiver's
 *      CPU per op ~3.5 ms over its first 40 ops, 1.8 ms warm). Serf is compiled ahead of time; its few
 *      events warm its connections. Without the warm-up this measured start-up, not propagation: cold,
 *      six runs at cf14cde and with the daemon changes of 622fefd gave p50 137-151 / p95 189-246 ms; warm,
 *      back to back at load 8-10: cf14cde 71 / 91 ms, 622fefd 57 / 72 ms.
 *      Then `events` events, the systems alternating (which goes first alternates too), event i
 *      published on node i mod nodes. Grapevine: POST /v1/publish on that daemon; visible on a daemon when
 *      its op event arrives on that daemon's SSE stream (GET /v1/events, held open by this process; the
 *      API notices ops the daemon stored within 50 ms, its poll period, and at once when the daemon's
 *      ingest wakes it). Serf: a user event (coalescing off) fired through the agent's RPC `event` command
 *      (what `serf event` sends), received when its record arrives on each agent's RPC event stream
 *      (`stream`, type user). Time to all = the last node's receipt minus the moment before the publish
 *      request; p50 and p95 over the events. Both sides are read the same light way: node:http (publish,
 *      kept-alive, and the SSE streams, timed at each socket chunk) and raw sockets (Serf's RPC); fetch's
 *      web streams cost this process, which shares the 2 cores, more CPU per chunk.
 *      --trace: the daemons log per-hop times (GRAPEVINE_TRACE=1, bench/lib/network-trace.ts) and the
 *      phase prints where the time went: request -> API committed -> push -> frame opened on each
 *      receiver -> ingest -> SSE written -> receipt here.
 *   4. Failure detection: kill -9 one daemon (not the seed) and poll GET /peers of every other every
 *      100 ms until all mark it offline (resolution 100 ms); at the same moment kill -9 one Serf agent and
 *      wait for the member-failed event naming it on every other agent's RPC stream.
 *   5. Throughput, on a fresh fleet of `throughputNodes` daemons: publish at a rising rate (POST
 *      /v1/publish round-robin over the daemons, paced, at most 256 requests in flight) for `stepMs` per
 *      rate; a rate is sustained when the publishes kept up (>= 95% of the rate) and every op reached every
 *      daemon's SSE stream within 1 s of its publish request. The ladder goes on while the publishes keep
 *      up and >= 90% make it, so the rows also show how it degrades; the highest rate with 99% within 1 s
 *      is reported too. Per op: CPU of all daemons (the API's HTTP and SSE work included: it runs in the
 *      daemon's process), also above the fleet's idle CPU (measured over 2 s before the ladder, streams
 *      open), and bytes received on peer links above idle.
 *
 * The daemons run a bundle of the sources made at the start (bin/build-cli.js into the run's directory),
 * so that all of them run the same code while others edit the shared tree.
 *
 * Rows go to bench/results/network.json: {bench: 'network', workload, system: 'grapevine' | 'serf' |
 * 'grapevine/serf', metric, value, unit}.
 *
 * Usage: npm run bench -- network [--quick] [--nodes N] [--events N] [--throughput-nodes N] [--no-serf]
 *        [--trace] [--propagation-only] [--out PATH]. --quick: 5 nodes, 6 events, short phases, nothing written unless --out is given.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseBenchArgs } from './lib/args.ts'
import { describeMachine } from './lib/machine.ts'
import * as gv from './lib/network-grapevine.ts'
import type { Daemon, EventStream } from './lib/network-grapevine.ts'
import { opOf, summarize as summarizeTrace } from './lib/network-trace.ts'
import type { TracedEvent } from './lib/network-trace.ts'
import { freePorts, loadAverage, quantile, sleep, totalCpuMs, waitUntil } from './lib/network-proc.ts'
import * as serf from './lib/network-serf.ts'
import type { SerfAgent, SerfRpc, Statsite } from './lib/network-serf.ts'
import * as fmt from './lib/stats.ts'

export type Row = {
  bench: 'network'
  workload: string
  system: 'grapevine' | 'serf' | 'grapevine/serf'
  metric: string
  value: number
  unit: string
}

export type Params = {
  readonly nodes: number
  readonly events: number
  /** Untimed events first (Grapevine; Serf gets warmupSerf): see the header. */
  readonly warmup?: number | undefined
  readonly idleMs: number
  readonly failureRounds: number
  readonly throughputNodes: number
  /** Publish rates tried in turn (ops/s), until one is not sustained. */
  readonly rates: readonly number[]
  readonly stepMs: number
  /** The serf binary, or undefined: Grapevine alone. */
  readonly serfPath: string | undefined
  readonly outPath: string | undefined
  readonly log: (s: string) => void
  /** Daemons with GRAPEVINE_TRACE=1, and the propagation phase's time per hop (bench/lib/network-trace.ts). */
  readonly trace?: boolean | undefined
  /** Start, idle and propagation only (no failure detection, no throughput). */
  readonly propagationOnly?: boolean | undefined
}

export const fullParams = {
  nodes: 30,
  events: 40,
  warmup: 200,
  idleMs: 15_000,
  failureRounds: 3,
  throughputNodes: 5,
  rates: [10, 20, 50, 100, 200, 400, 800, 1600],
  stepMs: 5000,
}
export const quickParams = {
  nodes: 5,
  events: 6,
  warmup: 20,
  idleMs: 2000,
  failureRounds: 1,
  throughputNodes: 3,
  rates: [20, 80],
  stepMs: 1500,
}

const usage =
  'usage: npm run bench -- network [--quick] [--nodes N] [--events N] [--throughput-nodes N] [--no-serf] [--trace] [--propagation-only] [--out PATH]'
const defaultOut = fileURLToPath(new URL('./results/network.json', import.meta.url))
const eventDeadlineMs = 10_000
/** Serf's untimed events before the timed ones (it needs no JIT warm-up; a few warm its connections). */
const warmupSerf = 10
const failureDeadlineMs = 60_000

/** Is serf installed (without installing it)? The path, or undefined. */
export function serfInstalled(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v serf'], { encoding: 'utf8' })
  const p = r.stdout.trim()
  return r.status === 0 && p !== '' ? p : undefined
}

type Fleet = { daemons: Daemon[]; streams: EventStream[] }
type Cluster = { agents: SerfAgent[]; rpcs: SerfRpc[]; statsite: Statsite }

async function startFleet(
  root: string,
  n: number,
  cli: string | undefined,
  say: (s: string) => void,
  env: Record<string, string> = {},
): Promise<Fleet> {
  const dirs = gv.makeFleetHomes(root, n)
  const seed = await gv.startDaemon(0, dirs[0] as string, [], cli, undefined, env)
  const rest = await Promise.all(
    dirs.slice(1).map((d, i) => gv.startDaemon(i + 1, d, [seed.address], cli, undefined, env)),
  )
  say(`grapevine: ${n} daemons up (load ${loadAverage()})`)
  return { daemons: [seed, ...rest], streams: [] }
}

async function stopFleet(f: Fleet): Promise<void> {
  for (const s of f.streams) s.close()
  for (const d of f.daemons)
    if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGTERM')
  // SIGKILL whoever has not stopped within 15 s (an unref'd timer: it must not hold the process)
  const late = setTimeout(() => {
    for (const d of f.daemons)
      if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL')
  }, 15_000)
  late.unref()
  await Promise.all(f.daemons.map((d) => d.exited))
  clearTimeout(late)
}

async function startCluster(
  serfPath: string,
  root: string,
  n: number,
  say: (s: string) => void,
): Promise<Cluster> {
  const statsite = await serf.startStatsite()
  const ports = await freePorts(2 * n)
  const agents = await serf.startAgents(serfPath, root, n, ports, statsite.port)
  const rpcs = await Promise.all(agents.map((a) => serf.connectAgent(a)))
  say(`serf: ${n} agents up (load ${loadAverage()})`)
  return { agents, rpcs, statsite }
}

async function stopCluster(c: Cluster): Promise<void> {
  for (const r of c.rpcs) r.close()
  for (const a of c.agents)
    if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL')
  await Promise.all(c.agents.map((a) => a.exited))
  await c.statsite.close()
}

async function fleetConverged(f: Fleet, alive: number): Promise<boolean> {
  const ps = await Promise.all(f.daemons.map((d) => gv.peers(d).catch(() => [])))
  return ps.every((p) => p.filter((x) => x.state === 'alive').length >= alive)
}

async function clusterConverged(c: Cluster, alive: number): Promise<boolean> {
  const ms = await Promise.all(c.rpcs.map((r) => r.members().catch(() => [])))
  return ms.every((m) => m.filter((x) => x.status === 'alive').length >= alive)
}

/** Sums of CPU ms and bytes at one moment, to subtract. */
type Meter = { cpuMs: number; bytes: number; atMs: number }

async function fleetMeter(daemons: readonly Daemon[]): Promise<Meter> {
  const bytes = (await Promise.all(daemons.map((d) => gv.syncBytes(d)))).reduce((a, b) => a + b, 0)
  return { cpuMs: totalCpuMs(daemons.map((d) => d.pid)), bytes, atMs: performance.now() }
}

function clusterMeter(c: Cluster): Meter {
  return {
    cpuMs: totalCpuMs(c.agents.map((a) => a.child.pid as number)),
    bytes: serf.serfBytesSent(c.statsite),
    atMs: performance.now(),
  }
}

const markerOf = (data: string): string | undefined => /"value":"(nb[0-9a-z-]+)"/.exec(data)?.[1]

/** Receipts of markers on n nodes: marker -> per-node first arrival time. */
function createReceipts(n: number) {
  const seen = new Map<string, Float64Array>()
  const counts = new Map<string, number>()
  return {
    note(marker: string, node: number, atMs: number): void {
      let xs = seen.get(marker)
      if (xs === undefined) seen.set(marker, (xs = new Float64Array(n).fill(NaN)))
      if (!Number.isNaN(xs[node] as number)) return
      xs[node] = atMs
      counts.set(marker, (counts.get(marker) ?? 0) + 1)
    },
    count: (marker: string): number => counts.get(marker) ?? 0,
    /** The last node's arrival, or undefined if some node has not seen it. */
    last(marker: string): number | undefined {
      const xs = seen.get(marker)
      if (xs === undefined || (counts.get(marker) ?? 0) < n) return undefined
      return Math.max(...xs)
    },
    forget(marker: string): void {
      seen.delete(marker)
      counts.delete(marker)
    },
  }
}

/** Kills daemon vi (kill -9) and polls GET /peers of the daemons before it every 100 ms until all mark it offline: ms after the kill, NaN if not within the deadline. */
async function detectGrapevine(f: Fleet, vi: number, say: (s: string) => void): Promise<number> {
  const victim = f.daemons[vi] as Daemon
  const others = f.daemons.filter((d, i) => i < vi && d.child.exitCode === null)
  const marked = new Map<number, number>()
  const tk = performance.now()
  victim.child.kill('SIGKILL')
  await victim.exited
  await waitUntil(
    async () => {
      await Promise.all(
        others.map(async (d) => {
          if (marked.has(d.index)) return
          const ps = await gv.peers(d).catch(() => undefined)
          const v = ps?.find((x) => x.address === victim.address)
          if (v !== undefined && (v.state === 'offline' || v.state === 'retired'))
            marked.set(d.index, performance.now() - tk)
        }),
      )
      return marked.size === others.length
    },
    failureDeadlineMs,
    100,
  )
  const all = marked.size === others.length ? Math.max(...marked.values()) : NaN
  say(
    `failure detection, grapevine g${vi} killed: all ${others.length} others marked it offline after ${Number.isNaN(all) ? `(only ${marked.size} within ${failureDeadlineMs / 1000} s)` : fmt.ms(all)}, first after ${fmt.ms(Math.min(...marked.values()))} (load ${loadAverage()})`,
  )
  return all
}

/** Kills agent vi (kill -9) and waits for member-failed naming it on the RPC stream of every agent before it: ms after the kill, NaN if not within the deadline. */
async function detectSerf(c: Cluster, vi: number, say: (s: string) => void): Promise<number> {
  const victim = c.agents[vi] as SerfAgent
  const marked = new Map<number, number>()
  let tk = 0
  await Promise.all(
    c.rpcs.slice(0, vi).map((rpc, i) =>
      rpc.stream('member-failed', (e) => {
        if (e.kind === 'member' && e.names.includes(victim.name) && !marked.has(i)) marked.set(i, e.atMs - tk)
      }),
    ),
  )
  tk = performance.now()
  victim.child.kill('SIGKILL')
  await waitUntil(() => marked.size === vi, failureDeadlineMs, 20)
  const all = marked.size === vi ? Math.max(...marked.values()) : NaN
  say(
    `failure detection, serf ${victim.name} killed: all ${vi} others got member-failed after ${Number.isNaN(all) ? `(only ${marked.size})` : fmt.ms(all)}, first after ${fmt.ms(Math.min(...marked.values()))} (load ${loadAverage()})`,
  )
  return all
}

export type Result = { rows: Row[]; lines: string[] }

export async function runNetwork(p: Params): Promise<Result> {
  const say = p.log
  const rows: Row[] = []
  const lines: string[] = []
  // a figure that could not be measured (no kill, an event that never arrived everywhere) is left out:
  // JSON has no NaN; the printed lines and the *_missed rows say what is missing
  const row = (
    workload: string,
    system: Row['system'],
    metric: string,
    value: number,
    unit: string,
  ): void => {
    if (Number.isFinite(value)) rows.push({ bench: 'network', workload, system, metric, value, unit })
  }
  const root = mkdtempSync(join(tmpdir(), 'grapevine-bench-network-'))
  const runId = Math.floor(Math.random() * 36 ** 4).toString(36)
  let fleet: Fleet | undefined
  let cluster: Cluster | undefined
  const n = p.nodes
  // one snapshot of the code for every daemon of the run (others may edit the shared tree meanwhile)
  // inside the repository's node_modules, so the bundle's lazy imports (hono, prom-client) resolve
  const cliDir = mkdtempSync(
    join(fileURLToPath(new URL('../node_modules/.cache/', import.meta.url)), 'bench-network-cli-'),
  )
  const cli = gv.buildCli(cliDir)
  say(
    cli === undefined
      ? 'cli: no bundle could be built (esbuild?): the daemons run the sources'
      : `cli: a bundle of the sources as they were at the start, ${cli}`,
  )
  try {
    try {
      // ---- 1. start
      const t0 = performance.now()
      ;[fleet, cluster] = await Promise.all([
        startFleet(join(root, 'gv'), n, cli, say, p.trace === true ? { GRAPEVINE_TRACE: '1' } : {}),
        p.serfPath === undefined
          ? Promise.resolve(undefined)
          : startCluster(p.serfPath, join(root, 'serf'), n, say),
      ])
      const f = fleet
      const c = cluster
      const gvUp = await waitUntil(() => fleetConverged(f, n - 1), 120_000, 500)
      const gvJoinMs = performance.now() - t0
      const sfUp = c === undefined ? true : await waitUntil(() => clusterConverged(c, n), 120_000, 500)
      const sfJoinMs = performance.now() - t0
      if (!gvUp) throw new Error(`grapevine: the ${n} daemons did not all see each other alive within 120 s`)
      if (!sfUp) throw new Error(`serf: the ${n} agents did not all see each other alive within 120 s`)
      say(
        `all up and converged: grapevine ${fmt.ms(gvJoinMs)}, serf ${c === undefined ? '-' : fmt.ms(sfJoinMs)} after start (load ${loadAverage()})`,
      )
      row('startup', 'grapevine', 'all_alive_ms', gvJoinMs, 'ms')
      if (c !== undefined) row('startup', 'serf', 'all_alive_ms', sfJoinMs, 'ms')
      await sleep(Math.min(3000, p.idleMs))

      // ---- 2. idle
      const g0 = await fleetMeter(f.daemons)
      const s0 = c === undefined ? undefined : clusterMeter(c)
      await sleep(p.idleMs)
      const g1 = await fleetMeter(f.daemons)
      const s1 = c === undefined ? undefined : clusterMeter(c)
      const idle = (a: Meter, b: Meter) => {
        const s = (b.atMs - a.atMs) / 1000
        return { cpuPct: (b.cpuMs - a.cpuMs) / 10 / s, bytesPerS: (b.bytes - a.bytes) / s }
      }
      const gi = idle(g0, g1)
      row('idle', 'grapevine', 'cpu_percent_of_a_core', gi.cpuPct, '%')
      row('idle', 'grapevine', 'cpu_percent_per_node', gi.cpuPct / n, '%')
      row('idle', 'grapevine', 'bytes_per_s', gi.bytesPerS, 'B/s')
      row('idle', 'grapevine', 'bytes_per_s_per_node', gi.bytesPerS / n, 'B/s')
      let idleLine = `idle ${n} nodes, ${(p.idleMs / 1000).toFixed(0)} s: grapevine ${gi.cpuPct.toFixed(1)}% of a core (${(gi.cpuPct / n).toFixed(2)}%/node), ${fmt.bytes(gi.bytesPerS)}/s`
      if (s0 !== undefined && s1 !== undefined) {
        const si = idle(s0, s1)
        row('idle', 'serf', 'cpu_percent_of_a_core', si.cpuPct, '%')
        row('idle', 'serf', 'cpu_percent_per_node', si.cpuPct / n, '%')
        row('idle', 'serf', 'bytes_per_s', si.bytesPerS, 'B/s')
        row('idle', 'serf', 'bytes_per_s_per_node', si.bytesPerS / n, 'B/s')
        row('idle', 'grapevine/serf', 'cpu_ratio', gi.cpuPct / si.cpuPct, 'x')
        row('idle', 'grapevine/serf', 'bytes_ratio', gi.bytesPerS / si.bytesPerS, 'x')
        idleLine += `; serf ${si.cpuPct.toFixed(1)}% (${(si.cpuPct / n).toFixed(2)}%/node), ${fmt.bytes(si.bytesPerS)}/s`
      }
      lines.push(`${idleLine} (load ${loadAverage()})`)
      say(lines[lines.length - 1] as string)

      // ---- 3. propagation
      const gvRec = createReceipts(n)
      const traced = new Map<string, TracedEvent>()
      f.streams = await Promise.all(
        f.daemons.map((d, i) =>
          gv.openEvents(d, (data, atMs) => {
            const m = markerOf(data)
            if (m !== undefined) gvRec.note(m, i, atMs)
            const te = m === undefined ? undefined : traced.get(m)
            if (te !== undefined) {
              if (Number.isNaN(te.receivedMs[i] as number)) te.receivedMs[i] = performance.timeOrigin + atMs
              if (te.author === undefined) {
                const op = opOf(data)
                te.author = op?.author
                te.seq = op?.seq
              }
            }
          }),
        ),
      )
      const sfRec = createReceipts(n)
      if (c !== undefined)
        await Promise.all(
          c.rpcs.map((r, i) =>
            r.stream('user', (e) => e.kind === 'user' && sfRec.note(e.payload, i, e.atMs)),
          ),
        )
      // warm-up (untimed): the daemons are fresh processes, their code not yet compiled by V8's JIT (a
      // receiver spent ~3.5 ms of CPU per op over its first 40 ops, 1.8 ms warm); Serf is compiled ahead
      // of time and gets a few events too, so both measure running systems
      const warm = async (count: number, fire: (k: number) => Promise<unknown>): Promise<void> => {
        let next = 0
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (next < count) await fire(next++).catch(() => undefined)
          }),
        )
      }
      const tw = performance.now()
      await Promise.all([
        warm(p.warmup ?? 0, (k) => gv.publish(f.daemons[k % n] as Daemon, `warm${runId}-${k}`)),
        c === undefined
          ? undefined
          : warm(Math.min(p.warmup ?? 0, warmupSerf), (k) => (c.rpcs[k % n] as SerfRpc).event(`warm${k}`, `warm-${k}`)),
      ])
      // the warm-up's ops reach every daemon (anti-entropy the stragglers) and Serf's queues drain
      await sleep(3000)
      say(`warm-up: ${p.warmup ?? 0} grapevine events, ${c === undefined ? 0 : Math.min(p.warmup ?? 0, warmupSerf)} serf events, ${fmt.ms(performance.now() - tw)} (load ${loadAverage()})`)
      const gvLat: number[] = []
      const sfLat: number[] = []
      let gvMiss = 0
      let sfMiss = 0
      const oneGv = async (i: number): Promise<void> => {
        const marker = `nb${runId}-g${i}`
        const t = performance.now()
        if (p.trace === true)
          traced.set(marker, {
            origin: i % n,
            sentMs: performance.timeOrigin + t,
            author: undefined,
            seq: undefined,
            receivedMs: new Array<number>(n).fill(NaN),
          })
        await gv.publish(f.daemons[i % n] as Daemon, marker)
        const ok = await waitUntil(() => gvRec.count(marker) >= n, eventDeadlineMs, 5)
        const last = gvRec.last(marker)
        if (ok && last !== undefined) gvLat.push(last - t)
        else gvMiss++
      }
      const oneSf = async (cl: Cluster, i: number): Promise<void> => {
        const marker = `nb${runId}-s${i}`
        const t = performance.now()
        await (cl.rpcs[i % n] as SerfRpc).event(`nb${i}`, marker)
        const ok = await waitUntil(() => sfRec.count(marker) >= n, eventDeadlineMs, 5)
        const last = sfRec.last(marker)
        if (ok && last !== undefined) sfLat.push(last - t)
        else sfMiss++
      }
      for (let i = 0; i < p.events; i++) {
        if (c === undefined || i % 2 === 0) {
          await oneGv(i)
          await sleep(100)
          if (c !== undefined) await oneSf(c, i)
        } else {
          await oneSf(c, i)
          await sleep(100)
          await oneGv(i)
        }
        await sleep(100)
      }
      const prop = (
        system: 'grapevine' | 'serf',
        xs: number[],
        miss: number,
      ): { p50: number; p95: number } => {
        const q = { p50: quantile(xs, 0.5), p95: quantile(xs, 0.95) }
        row('propagation', system, 'p50', q.p50, 'ms')
        row('propagation', system, 'p95', q.p95, 'ms')
        row('propagation', system, 'max', quantile(xs, 1), 'ms')
        row('propagation', system, 'events_missed', miss, 'events')
        return q
      }
      const gq = prop('grapevine', gvLat, gvMiss)
      let propLine = `propagation to all ${n}, ${p.events} events: grapevine p50 ${fmt.ms(gq.p50)} p95 ${fmt.ms(gq.p95)} max ${fmt.ms(quantile(gvLat, 1))}${gvMiss > 0 ? ` (${gvMiss} not everywhere within ${eventDeadlineMs / 1000} s)` : ''}`
      if (c !== undefined) {
        const sq = prop('serf', sfLat, sfMiss)
        row('propagation', 'grapevine/serf', 'p50_ratio', gq.p50 / sq.p50, 'x')
        row('propagation', 'grapevine/serf', 'p95_ratio', gq.p95 / sq.p95, 'x')
        propLine += `; serf p50 ${fmt.ms(sq.p50)} p95 ${fmt.ms(sq.p95)} max ${fmt.ms(quantile(sfLat, 1))}${sfMiss > 0 ? ` (${sfMiss} missed)` : ''}; p95 ratio ${fmt.ratio(gq.p95 / sq.p95)} (goal <= 0.25x)`
      }
      lines.push(`${propLine} (load ${loadAverage()})`)
      say(lines[lines.length - 1] as string)
      for (const s of f.streams) s.close()
      f.streams = []
      if (p.trace === true)
        for (const l of summarizeTrace(
          [...traced.values()],
          f.daemons.map((d) => d.dir),
        )) {
          lines.push(l)
          say(l)
        }
      if (p.propagationOnly === true) return { rows, lines }

      // ---- 4. failure detection
      const gvFail: number[] = []
      const sfFail: number[] = []
      for (let r = 0; r < p.failureRounds && r < n - 2; r++) {
        // both systems lose a node at the same moment: detection is mostly waiting on timers, and this
        // halves the phase; each system's clock starts at its own kill
        const vi = n - 1 - r
        const [gAll, sAll] = await Promise.all([
          detectGrapevine(f, vi, say),
          c === undefined ? Promise.resolve(undefined) : detectSerf(c, vi, say),
        ])
        gvFail.push(gAll)
        if (sAll !== undefined) sfFail.push(sAll)
      }
      if (gvFail.length > 0) {
        // a kill not detected everywhere within the deadline counts as the deadline (rounds_missed says so)
        const med = (xs: number[]): number =>
          quantile(
            xs.map((x) => (Number.isNaN(x) ? failureDeadlineMs : x)),
            0.5,
          )
        const gF = med(gvFail)
        row('failure_detection', 'grapevine', 'all_marked_ms', gF, 'ms')
        row('failure_detection', 'grapevine', 'rounds', gvFail.length, 'kills')
        row(
          'failure_detection',
          'grapevine',
          'rounds_missed',
          gvFail.filter((x) => Number.isNaN(x)).length,
          'kills',
        )
        let failLine = `failure detection (kill -9, median of ${gvFail.length}): grapevine ${fmt.ms(gF)} until all others mark it offline (GET /peers every 100 ms)`
        if (c !== undefined) {
          const sF = med(sfFail)
          row('failure_detection', 'serf', 'all_marked_ms', sF, 'ms')
          row('failure_detection', 'serf', 'rounds', sfFail.length, 'kills')
          row(
            'failure_detection',
            'serf',
            'rounds_missed',
            sfFail.filter((x) => Number.isNaN(x)).length,
            'kills',
          )
          row('failure_detection', 'grapevine/serf', 'all_marked_ratio', gF / sF, 'x')
          failLine += `; serf ${fmt.ms(sF)} (member-failed on every RPC stream); ratio ${fmt.ratio(gF / sF)} (goal <= 0.5x)`
        }
        lines.push(`${failLine} (load ${loadAverage()})`)
        say(lines[lines.length - 1] as string)
      }
    } finally {
      await Promise.all([
        fleet === undefined ? undefined : stopFleet(fleet),
        cluster === undefined ? undefined : stopCluster(cluster),
      ])
      fleet = undefined
    }

    // ---- 5. throughput (a fresh, small fleet)
    try {
      fleet = await startFleet(join(root, 'tp'), p.throughputNodes, cli, say)
      const f = fleet
      const m = p.throughputNodes
      if (!(await waitUntil(() => fleetConverged(f, m - 1), 60_000, 250)))
        throw new Error(`grapevine: the ${m} throughput daemons did not converge within 60 s`)
      const rec = createReceipts(m)
      f.streams = await Promise.all(
        f.daemons.map((d, i) =>
          gv.openEvents(d, (data, atMs) => {
            const mk = markerOf(data)
            if (mk !== undefined) rec.note(mk, i, atMs)
          }),
        ),
      )
      await sleep(500)
      // the fleet's cost with nothing published (streams open): subtracted to give the cost per op above idle
      const i0 = await fleetMeter(f.daemons)
      await sleep(2000)
      const i1 = await fleetMeter(f.daemons)
      const idleCpuPerMs = (i1.cpuMs - i0.cpuMs) / (i1.atMs - i0.atMs)
      const idleBytesPerMs = (i1.bytes - i0.bytes) / (i1.atMs - i0.atMs)
      type Step = {
        rate: number
        cpuMsPerOp: number
        cpuMsPerOpAboveIdle: number
        bytesPerOp: number
        p95: number
        share: number
      }
      let best: Step | undefined
      let best99: Step | undefined
      for (const rate of p.rates) {
        const a = await fleetMeter(f.daemons)
        const benchCpu0 = process.cpuUsage()
        const sent: { marker: string; t: number }[] = []
        let errors = 0
        let inFlight = 0
        let acked = 0
        const tStart = performance.now()
        let k = 0
        let lastIssueMs = tStart
        const total = Math.floor((p.stepMs * rate) / 1000)
        // op j is due at j / rate seconds
        const due = (): number =>
          Math.min(Math.floor(((performance.now() - tStart) * rate) / 1000) + 1, total)
        while (performance.now() - tStart < p.stepMs) {
          while (k < due() && inFlight < 256) {
            const marker = `nb${runId}-r${rate}-${k}`
            const d = f.daemons[k % m] as Daemon
            k++
            inFlight++
            lastIssueMs = performance.now()
            sent.push({ marker, t: lastIssueMs })
            gv.publish(d, marker).then(
              () => {
                inFlight--
                acked++
              },
              () => {
                inFlight--
                errors++
              },
            )
          }
          await sleep(5)
        }
        await waitUntil(() => inFlight === 0 && sent.every((s) => rec.count(s.marker) >= m), 3000, 20)
        // the publishing window: to the last request plus one interval (a paced run that kept up gives the rate)
        const publishMs = k < total ? p.stepMs : lastIssueMs - tStart + 1000 / rate
        const b = await fleetMeter(f.daemons)
        const benchCpu = process.cpuUsage(benchCpu0)
        const lat = sent.map((s) => {
          const last = rec.last(s.marker)
          return last === undefined ? Infinity : last - s.t
        })
        for (const s of sent) rec.forget(s.marker)
        const within = lat.filter((x) => x <= 1000).length
        const share = sent.length === 0 ? 0 : within / sent.length
        const achieved = acked / (publishMs / 1000)
        const keptUp = errors === 0 && achieved >= 0.95 * rate && sent.length > 0
        const ok = keptUp && within === sent.length
        const ops = Math.max(1, acked)
        const step: Step = {
          rate,
          cpuMsPerOp: (b.cpuMs - a.cpuMs) / ops,
          cpuMsPerOpAboveIdle: (b.cpuMs - a.cpuMs - idleCpuPerMs * (b.atMs - a.atMs)) / ops,
          bytesPerOp: (b.bytes - a.bytes - idleBytesPerMs * (b.atMs - a.atMs)) / ops,
          p95: quantile(lat, 0.95),
          share,
        }
        const benchMsPerOp = (benchCpu.user + benchCpu.system) / 1000 / ops
        const w = `throughput/r${rate}`
        row(w, 'grapevine', 'achieved_ops_per_s', achieved, 'ops/s')
        row(w, 'grapevine', 'visible_within_1s_share', share, 'share')
        row(w, 'grapevine', 'p95_to_all_ms', step.p95, 'ms')
        row(w, 'grapevine', 'cpu_ms_per_op', step.cpuMsPerOp, 'ms')
        row(w, 'grapevine', 'cpu_ms_per_op_above_idle', step.cpuMsPerOpAboveIdle, 'ms')
        row(w, 'grapevine', 'bytes_per_op_above_idle', step.bytesPerOp, 'B')
        row(w, 'grapevine', 'bench_cpu_ms_per_op', benchMsPerOp, 'ms')
        say(
          `throughput ${rate} ops/s on ${m} daemons: published ${acked} (${achieved.toFixed(0)}/s${errors > 0 ? `, ${errors} failed` : ''}), ${within}/${sent.length} everywhere within 1 s, p95 to all ${fmt.ms(step.p95)}; ` +
            `per op ${step.cpuMsPerOp.toFixed(2)} ms CPU (${step.cpuMsPerOpAboveIdle.toFixed(2)} above idle) and ${fmt.bytes(step.bytesPerOp)} on links above idle (this process: ${benchMsPerOp.toFixed(2)} ms/op): ${ok ? 'sustained' : 'NOT sustained'} (load ${loadAverage()})`,
        )
        if (ok) best = step
        if (keptUp && share >= 0.99) best99 = step
        // go on while the publishes keep up and most ops still make it: the figures above the strict limit say how it degrades
        if (!keptUp || share < 0.9) break
        await sleep(500)
      }
      row('throughput', 'grapevine', 'nodes', m, 'daemons')
      row('throughput', 'grapevine', 'idle_cpu_percent_of_a_core', idleCpuPerMs * 100, '%')
      const report = (metricSuffix: string, s: Step | undefined): void => {
        if (s === undefined) return
        row('throughput', 'grapevine', `sustained_ops_per_s${metricSuffix}`, s.rate, 'ops/s')
        row('throughput', 'grapevine', `cpu_ms_per_op${metricSuffix}`, s.cpuMsPerOp, 'ms')
        row('throughput', 'grapevine', `cpu_ms_per_op_above_idle${metricSuffix}`, s.cpuMsPerOpAboveIdle, 'ms')
        row('throughput', 'grapevine', `bytes_per_op_above_idle${metricSuffix}`, s.bytesPerOp, 'B')
        row('throughput', 'grapevine', `p95_to_all_ms${metricSuffix}`, s.p95, 'ms')
      }
      report('', best)
      report('_99pct', best99)
      const show = (s: Step): string =>
        `${s.rate} ops/s (p95 to all ${fmt.ms(s.p95)}; per op ${s.cpuMsPerOp.toFixed(2)} ms CPU of all daemons, ${s.cpuMsPerOpAboveIdle.toFixed(2)} above idle, ${fmt.bytes(s.bytesPerOp)} on links)`
      lines.push(
        `throughput on ${m} daemons: ${best === undefined ? `not even ${p.rates[0]} ops/s with every op everywhere within 1 s` : `${show(best)} with every op everywhere within 1 s`}` +
          `${best99 === undefined ? '' : `; ${show(best99)} with 99% within 1 s`}${best?.rate === p.rates[p.rates.length - 1] ? ' (the highest rate tried)' : ''} (load ${loadAverage()})`,
      )
      say(lines[lines.length - 1] as string)
    } finally {
      if (fleet !== undefined) await stopFleet(fleet)
    }
  } finally {
    // whatever failed half-way: no daemon, agent or sink outlives the run
    gv.killAll()
    await serf.closeAll()
    rmSync(root, { recursive: true, force: true })
    rmSync(cliDir, { recursive: true, force: true })
  }
  if (p.outPath !== undefined) {
    mkdirSync(dirname(p.outPath), { recursive: true })
    writeFileSync(p.outPath, JSON.stringify(rows, null, 2) + '\n')
  }
  return { rows, lines }
}

export async function main(argv: readonly string[]): Promise<number> {
  const args = parseBenchArgs(
    'network',
    argv,
    {
      quick: 'flag',
      nodes: 'count',
      events: 'count',
      'throughput-nodes': 'count',
      'no-serf': 'flag',
      trace: 'flag',
      'propagation-only': 'flag',
      out: 'path',
    },
    usage,
    { nodes: 3, 'throughput-nodes': 2 },
  )
  if (args === undefined) return 2
  const base = args.quick ? quickParams : fullParams
  const say = (s: string): void => {
    process.stdout.write(`${s}\n`)
  }
  let serfPath: string | undefined
  let serfLine = 'serf: left out (--no-serf)'
  if (!args['no-serf']) {
    const s = serf.ensureSerf(say)
    if ('missing' in s) {
      process.stderr.write(`bench network: ${s.missing}; run with --no-serf to measure Grapevine alone\n`)
      return 1
    }
    serfPath = s.path
    serfLine = `serf:   ${serf.serfVersion(s.path)} (${s.path})`
  }
  const p: Params = {
    ...base,
    nodes: args.nodes ?? base.nodes,
    events: args.events ?? base.events,
    throughputNodes: args['throughput-nodes'] ?? base.throughputNodes,
    serfPath,
    // a traced or partial run is a diagnosis: its rows go to --out only
    outPath: args.out ?? (args.quick || args.trace || args['propagation-only'] ? undefined : defaultOut),
    log: say,
    trace: args.trace,
    propagationOnly: args['propagation-only'],
  }
  say(
    `bench network: ${p.nodes} grapevine daemons vs ${serfPath === undefined ? 'no' : p.nodes} serf agents on loopback; throughput on ${p.throughputNodes} daemons`,
  )
  for (const l of describeMachine([])) if (!l.startsWith('peers:')) say(`  ${l}`)
  say(`  ${serfLine}`)
  const r = await runNetwork(p)
  say('\nsummary:')
  for (const l of r.lines) say(`  ${l}`)
  if (p.outPath !== undefined) say(`wrote ${p.outPath}`)
  return 0
}
