/**
 * CRDT benchmark: Grapevine's LWW map and OR-set against Yjs, Loro, Automerge and a plain JS Map, on the
 * same workloads, side by side in one run.
 *
 *   (a) lww_set: N sets over K keys, one op at a time (without a delta, with a delta per op);
 *   (b) orset:   add N ids, remove N/2 of them, one op at a time (without / with a delta per op);
 *       every system's loop gets the same inputs (see crdt-systems.ts for the work each does per op);
 *       *_fixed_clock (info): Grapevine with a clock that never moves, against the same rounds' systems,
 *       to show how much of Grapevine's time per op is the wall-clock read of its HLC stamp;
 *   (c) merge:   two replicas each make M sets over K keys (half the keys shared), then B merges into A;
 *   (d) sizes:   encoded full state after (a), and the delta of D more sets;
 *   memory:      resident set after (a), one child process per system, against a baseline child.
 *
 * Timed runs are interleaved: every round runs every system once per workload, in an order that rotates
 * from round to round, so that a shared machine's drift reaches all systems alike. Ratios are taken per
 * round (systems side by side) and reported as the median with min and max; so are the raw figures.
 * Within a round, (a) and (b) run every system `repeats` times, interleaved (A B C, A B C, ...), and the
 * round keeps each system's fastest run: the fast systems' runs last a few milliseconds, and on a shared
 * machine one preemption by another process can double such a run; interference only ever adds time, so
 * the fastest of a few runs is the best estimate of each system's own cost. Every system gets the same
 * treatment, so the side-by-side ratios stay fair.
 *
 * Usage: npm run bench -- crdt [--quick] [--rounds N] [--repeats N] [--out PATH]
 */
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { ChildParams, ChildReport } from './lib/crdt-child.ts'
import { lwwAdapters, lwwKey, peers, setAdapters, systems } from './lib/crdt-systems.ts'
import type { AnyLww, AnySet, DeltaMode, LwwWork, SetWork, System } from './lib/crdt-systems.ts'
import { grapevineLwwFixedClock, grapevineLwwFromBytes, grapevineSetFixedClock } from './lib/crdt-systems.ts'
import { fullGc } from './lib/gc.ts'
import { describeMachine } from './lib/machine.ts'
import * as fmt from './lib/stats.ts'
import { summarize } from './lib/stats.ts'
import { defined, parseBenchArgs } from './lib/args.ts'

/** One result: the JSON file is an array of these. Ratios and targets are rows too (system "grapevine"). */
export type Row = {
  readonly bench: 'crdt'
  readonly workload: string
  readonly system: System
  readonly metric: string
  readonly value: number
  readonly unit: string
}

export type Params = {
  /** (a) sets per run, and the key space they cycle through */
  readonly lwwOps: number
  readonly keyCount: number
  /** (b) adds per run; removes take every other added id */
  readonly setAdds: number
  readonly setRemoves: number
  /** Automerge pays O(keys) per A.change (its immutable view), so it runs a prefix of (a) and (b) */
  readonly automergeLwwOps: number
  readonly automergeSetAdds: number
  readonly automergeSetRemoves: number
  /** (c) sets per replica; replica B's keys start keyCount / 2 further, so half the keys conflict */
  readonly mergeOps: number
  /** (d) sets covered by the measured delta */
  readonly deltaOps: number
  /** timed rounds of (a), (b), (c); child-process rounds of memory and sizes */
  readonly rounds: number
  /** runs per system and round in (a) and (b), interleaved; the round keeps the fastest (see the header) */
  readonly repeats: number
  readonly memoryRounds: number
}

export const fullParams: Params = {
  lwwOps: 100_000,
  keyCount: 10_000,
  setAdds: 100_000,
  setRemoves: 50_000,
  automergeLwwOps: 2_000,
  automergeSetAdds: 2_000,
  automergeSetRemoves: 1_000,
  mergeOps: 50_000,
  deltaOps: 1_000,
  rounds: 7,
  repeats: 3,
  memoryRounds: 3,
}

export const quickParams: Params = {
  lwwOps: 2_000,
  keyCount: 200,
  setAdds: 2_000,
  setRemoves: 1_000,
  automergeLwwOps: 200,
  automergeSetAdds: 200,
  automergeSetRemoves: 100,
  mergeOps: 1_000,
  deltaOps: 100,
  rounds: 1,
  repeats: 1,
  memoryRounds: 1,
}

export type CrdtOptions = {
  readonly quick?: boolean
  readonly rounds?: number
  readonly repeats?: number
  /** where the JSON goes; default bench/results/crdt.json (full run) or the OS temp dir (quick run) */
  readonly outPath?: string
  readonly log?: (line: string) => void
}

export type CrdtResult = {
  readonly rows: Row[]
  readonly checks: number
  readonly outPath: string
  readonly params: Params
}

type Throughput = {
  readonly workload: string
  readonly mode: DeltaMode
  readonly kind: 'lww' | 'set'
  readonly systems: readonly System[]
  readonly compareTo: string
  /** Grapevine's replica reads a clock that never moves (info variants; default: the wall clock) */
  readonly fixedClock?: boolean
}

/** (a) and (b). `compareTo` is the workload whose peer runs a Grapevine variant is compared with. */
const throughputWorkloads: readonly Throughput[] = [
  { workload: 'lww_set', kind: 'lww', mode: 'none', systems, compareTo: 'lww_set' },
  {
    workload: 'lww_set_delta',
    kind: 'lww',
    mode: 'state',
    systems: ['grapevine', ...peers],
    compareTo: 'lww_set_delta',
  },
  {
    workload: 'lww_set_delta_encoded',
    kind: 'lww',
    mode: 'bytes',
    systems: ['grapevine'],
    compareTo: 'lww_set_delta',
  },
  {
    workload: 'lww_set_fixed_clock',
    kind: 'lww',
    mode: 'none',
    systems: ['grapevine'],
    compareTo: 'lww_set',
    fixedClock: true,
  },
  { workload: 'orset', kind: 'set', mode: 'none', systems, compareTo: 'orset' },
  {
    workload: 'orset_fixed_clock',
    kind: 'set',
    mode: 'none',
    systems: ['grapevine'],
    compareTo: 'orset',
    fixedClock: true,
  },
  {
    workload: 'orset_delta',
    kind: 'set',
    mode: 'state',
    systems: ['grapevine', ...peers],
    compareTo: 'orset_delta',
  },
  {
    workload: 'orset_delta_encoded',
    kind: 'set',
    mode: 'bytes',
    systems: ['grapevine'],
    compareTo: 'orset_delta',
  },
]

const peerPackages = ['yjs', 'loro-crdt', '@automerge/automerge'] as const

/** Per (workload, system): one sample per round, index = round. */
class Samples {
  readonly byKey = new Map<string, number[]>()
  add(workload: string, system: System, round: number, x: number): void {
    const k = `${workload}|${system}`
    let xs = this.byKey.get(k)
    if (xs === undefined) this.byKey.set(k, (xs = []))
    xs[round] = x
  }
  get(workload: string, system: System): number[] | undefined {
    return this.byKey.get(`${workload}|${system}`)
  }
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  const n = by % xs.length
  return [...xs.slice(n), ...xs.slice(0, n)]
}

function assertBench(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(`bench crdt: ${msg}`)
}

/** Expected value of key index j after ops [0, ops) of w: the last op that wrote it. */
function lastWrite(w: LwwWork, j: number, ops: number): number | undefined {
  if (j >= ops) return undefined
  return w.valueOffset + j + w.keyCount * Math.floor((ops - 1 - j) / w.keyCount)
}

/**
 * Checks that a replica holds what ops [0, ops) of w wrote, key by key (so that a benchmark cannot
 * silently measure nothing); throws on the first wrong key, returns the number of keys checked.
 */
export function checkLwwState(a: AnyLww, s: unknown, w: LwwWork, ops: number): number {
  let n = 0
  for (let j = 0; j < Math.min(w.keyCount, ops); j++) {
    const got = a.get(s, lwwKey(w, j))
    assertBench(
      got === lastWrite(w, j, ops),
      `${a.system}: key ${lwwKey(w, j)} holds ${String(got)}, expected ${lastWrite(w, j, ops)}`,
    )
    n++
  }
  return n
}

/** Checks an OR-set after SetWork w: its size, and membership of every id it touched. */
export function checkSetState(a: AnySet, s: unknown, w: SetWork): number {
  assertBench(
    a.size(s) === w.adds - w.removes,
    `${a.system}: size ${a.size(s)}, expected ${w.adds - w.removes}`,
  )
  for (let i = 0; i < w.adds; i++) {
    const expected = !(i % 2 === 0 && i / 2 < w.removes)
    assertBench(
      a.has(s, w.ids[i] as string) === expected,
      `${a.system}: has(${w.ids[i]}) should be ${expected}`,
    )
  }
  return w.adds + 1
}

export async function runCrdt(opts: CrdtOptions = {}): Promise<CrdtResult> {
  const quick = opts.quick ?? false
  const params: Params = {
    ...(quick ? quickParams : fullParams),
    ...(opts.rounds === undefined ? {} : { rounds: opts.rounds }),
    ...(opts.repeats === undefined ? {} : { repeats: opts.repeats }),
  }
  const log = opts.log ?? ((line: string) => console.log(line))
  const outPath =
    opts.outPath ??
    (quick
      ? join(tmpdir(), 'grapevine-bench-crdt.quick.json')
      : fileURLToPath(new URL('results/crdt.json', import.meta.url)))
  const rows: Row[] = []
  let checks = 0
  const row = (workload: string, system: System, metric: string, value: number, unit: string): void => {
    assertBench(Number.isFinite(value), `${workload}/${system}/${metric} is not a finite number: ${value}`)
    rows.push({ bench: 'crdt', workload, system, metric, value, unit })
  }
  const started = performance.now()
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)} s`

  // ---- parameters and machine
  const p = params
  log(`crdt benchmark${quick ? ' (--quick smoke run: tiny sizes, 1 round; figures mean nothing)' : ''}`)
  for (const line of describeMachine(peerPackages)) log(`  ${line}`)
  log(
    `  (a) lww_set: ${p.lwwOps} sets over ${p.keyCount} keys, one transaction per op (Automerge: the first ${p.automergeLwwOps})`,
  )
  log(
    `  (b) orset:   ${p.setAdds} adds then ${p.setRemoves} removes, one op at a time (Automerge: ${p.automergeSetAdds} + ${p.automergeSetRemoves})`,
  )
  log(
    `  (c) merge:   two replicas x ${p.mergeOps} sets over ${p.keyCount} keys each, ${p.keyCount / 2} keys shared`,
  )
  log(
    `  (d) sizes:   full state after (a), delta of ${p.deltaOps} more sets; memory after (a) in child processes`,
  )
  log(
    `  rounds: ${p.rounds} timed (interleaved, order rotating), ${p.memoryRounds} memory; figures are medians [min..max]`,
  )
  log(`  (a)(b): each round runs every system ${p.repeats}x, interleaved, and keeps each one's fastest run`)
  log('')

  // ---- shared inputs: built once, outside every timed region, identical for all systems
  const keys = Array.from({ length: p.keyCount + p.keyCount / 2 }, (_, i) => `k${i}`)
  const ids = Array.from({ length: p.setAdds }, (_, i) => `id${i}`)
  const lwwWork: LwwWork = { keys, keyCount: p.keyCount, keyOffset: 0, valueOffset: 0 }
  assertBench(
    2 * p.setRemoves <= p.setAdds && 2 * p.automergeSetRemoves <= p.automergeSetAdds,
    'removes must be at most half the adds',
  )

  const lwwOpsOf = (s: System): number => (s === 'automerge' ? p.automergeLwwOps : p.lwwOps)
  const setWorkOf = (s: System): SetWork =>
    s === 'automerge'
      ? { ids, adds: p.automergeSetAdds, removes: p.automergeSetRemoves }
      : { ids, adds: p.setAdds, removes: p.setRemoves }
  const opsOf = (t: Throughput, s: System): number => {
    if (t.kind === 'lww') return lwwOpsOf(s)
    const w = setWorkOf(s)
    return w.adds + w.removes
  }

  /** One timed run of a throughput workload; verifies the final state outside the timed region. */
  const runOnce = (t: Throughput, system: System, scale: number): number => {
    fullGc()
    if (t.kind === 'lww') {
      const a = t.fixedClock === true ? grapevineLwwFixedClock : lwwAdapters[system]
      const ops = Math.max(1, Math.floor(lwwOpsOf(system) * scale))
      const s: unknown = a.create(1)
      const t0 = performance.now()
      const emitted = a.sets(s, lwwWork, 0, ops, t.mode)
      const ms = performance.now() - t0
      checks += checkLwwState(a, s, lwwWork, ops)
      a.dispose(s)
      if (t.mode !== 'none')
        assertBench(
          emitted.deltas === ops,
          `${system} ${t.workload}: ${emitted.deltas} deltas for ${ops} ops`,
        )
      if (t.mode === 'bytes' || (t.mode === 'state' && system !== 'grapevine'))
        assertBench(emitted.bytes > ops, `${system} ${t.workload}: only ${emitted.bytes} delta bytes`)
      return (ops / ms) * 1000
    }
    const a = t.fixedClock === true ? grapevineSetFixedClock : setAdapters[system]
    const full = setWorkOf(system)
    const w: SetWork = {
      ids,
      adds: Math.max(2, Math.floor(full.adds * scale)),
      removes: Math.max(1, Math.floor(full.removes * scale)),
    }
    const s: unknown = a.create(1)
    const t0 = performance.now()
    const emitted = a.run(s, w, t.mode)
    const ms = performance.now() - t0
    checks += checkSetState(a, s, w)
    a.dispose(s)
    if (t.mode !== 'none')
      assertBench(emitted.deltas === w.adds + w.removes, `${system} ${t.workload}: ${emitted.deltas} deltas`)
    return ((w.adds + w.removes) / ms) * 1000
  }

  // ---- (a), (b): warm up every code path on a tenth of the work, then interleaved rounds
  log('warming up ...')
  for (const t of throughputWorkloads) for (const s of t.systems) runOnce(t, s, 0.1)
  const thr = new Samples()
  for (let round = 0; round < p.rounds; round++) {
    log(`throughput round ${round + 1}/${p.rounds} ... (at ${elapsed()})`)
    for (const t of throughputWorkloads) {
      const order = rotate(t.systems, round)
      const best = new Map<System, number>()
      for (let k = 0; k < p.repeats; k++) {
        for (const s of order) best.set(s, Math.max(best.get(s) ?? 0, runOnce(t, s, 1)))
      }
      for (const s of order) thr.add(t.workload, s, round, best.get(s) as number)
    }
  }

  // Rows and per-round ratios. Speedup = Grapevine ops/s / peer ops/s in the same round (> 1: Grapevine faster).
  const thrTable: string[][] = []
  for (const t of throughputWorkloads) {
    for (const s of t.systems) {
      const sm = summarize(thr.get(t.workload, s) ?? [])
      row(t.workload, s, 'ops_per_s', sm.median, 'ops/s')
      row(t.workload, s, 'ops_per_s_min', sm.min, 'ops/s')
      row(t.workload, s, 'ops_per_s_max', sm.max, 'ops/s')
      row(t.workload, s, 'ops', opsOf(t, s), 'ops')
      row(t.workload, s, 'rounds', sm.n, 'rounds')
      row(t.workload, s, 'repeats_per_round', p.repeats, 'runs')
      thrTable.push([
        t.workload,
        s,
        String(opsOf(t, s)),
        fmt.si(sm.median),
        `${fmt.si(sm.min)}..${fmt.si(sm.max)}`,
        '',
      ])
    }
    const gv = thr.get(t.workload, 'grapevine')
    if (gv === undefined) continue
    const cmp = throughputWorkloads.find((c) => c.workload === t.compareTo) as Throughput
    const ratioCells: string[] = []
    for (const other of cmp.systems) {
      if (other === 'grapevine') continue
      const o = thr.get(cmp.workload, other)
      if (o === undefined) continue
      const sm = summarize(gv.map((x, r) => x / (o[r] as number)))
      row(t.workload, 'grapevine', `speedup_vs_${other}`, sm.median, 'x')
      row(t.workload, 'grapevine', `speedup_vs_${other}_min`, sm.min, 'x')
      row(t.workload, 'grapevine', `speedup_vs_${other}_max`, sm.max, 'x')
      ratioCells.push(`${other} ${fmt.ratio(sm.median)} [${fmt.ratio(sm.min)}..${fmt.ratio(sm.max)}]`)
    }
    if (t.mode !== 'none') {
      // The stricter reading of "10x Yjs with a delta per op": against Yjs with no update listener at all.
      const plain = throughputWorkloads.find((c) => c.kind === t.kind && c.mode === 'none') as Throughput
      const o = thr.get(plain.workload, 'yjs') as number[]
      const sm = summarize(gv.map((x, r) => x / (o[r] as number)))
      row(t.workload, 'grapevine', 'speedup_vs_yjs_without_delta', sm.median, 'x')
      ratioCells.push(`yjs without delta ${fmt.ratio(sm.median)}`)
    }
    const gvRow = thrTable.find((r) => r[0] === t.workload && r[1] === 'grapevine') as string[]
    gvRow[5] = ratioCells.join(', ')
  }
  log('')
  log('(a)(b) throughput, one op per transaction; speedup = grapevine ops/s / system ops/s, per round')
  log(
    '       *_delta: a delta per op (grapevine: delta state; yjs: update event; loro: export since the version before; automerge: last change)',
  )
  log(
    "       *_delta_encoded: grapevine also encodes each delta to bytes, compared with the peers' *_delta runs",
  )
  log(
    '       map: a plain JS Map (a Set for orset), no CRDT metadata. automerge: fewer ops (see "ops"), one A.change each',
  )
  log(
    "       orset peers: a map of id -> true, remove = delete (their nearest built-in; not add-wins like grapevine's)",
  )
  log(
    '       same inputs for all (prebuilt key/id strings, integer values); grapevine also makes an HLC stamp per op',
  )
  log(
    '       *_fixed_clock (info): grapevine with a clock that never moves (no Date.now per op), vs the same rounds',
  )
  log(fmt.table(['workload', 'system', 'ops', 'ops/s', '[min..max]', 'grapevine speedup vs'], thrTable))
  log('')

  // ---- (c) merge: build the replicas once (untimed), then per round copy A and time the merge of B into it
  log(`merge: building replicas ... (at ${elapsed()})`)
  const wA: LwwWork = { keys, keyCount: p.keyCount, keyOffset: 0, valueOffset: 0 }
  const wB: LwwWork = { keys, keyCount: p.keyCount, keyOffset: p.keyCount / 2, valueOffset: 1_000_000 }
  type MergeCase = { workload: string; system: System; adapter: AnyLww; a: unknown; source: unknown }
  const cases: MergeCase[] = []
  const built: (() => void)[] = []
  for (const s of systems) {
    const adapter = lwwAdapters[s]
    const a: unknown = adapter.create(1)
    const b: unknown = adapter.create(2)
    adapter.build(a, wA, 0, p.mergeOps)
    adapter.build(b, wB, 0, p.mergeOps)
    cases.push({ workload: 'merge', system: s, adapter, a, source: adapter.mergeSource(b) })
    built.push(() => {
      adapter.dispose(a)
      adapter.dispose(b)
    })
    if (s === 'grapevine') {
      const fromBytes: AnyLww = grapevineLwwFromBytes
      cases.push({
        workload: 'merge_decode',
        system: s,
        adapter: fromBytes,
        a,
        source: fromBytes.mergeSource(b),
      })
    }
  }
  const verifyMerge = (c: MergeCase, merged: unknown): void => {
    for (let x = 0; x < p.keyCount + p.keyCount / 2; x++) {
      const fromA = x < p.keyCount ? lastWrite(wA, x, p.mergeOps) : undefined
      const fromB = x >= p.keyCount / 2 ? lastWrite(wB, x - p.keyCount / 2, p.mergeOps) : undefined
      const got = c.adapter.get(merged, keys[x] as string)
      const ok = (fromA !== undefined && got === fromA) || (fromB !== undefined && got === fromB)
      assertBench(
        ok || (fromA === undefined && fromB === undefined),
        `${c.system} ${c.workload}: key ${keys[x]} holds ${String(got)}, expected ${fromA} or ${fromB}`,
      )
      checks++
    }
  }
  const mergeMs = new Samples()
  for (let round = -1; round < p.rounds; round++) {
    if (round >= 0) log(`merge round ${round + 1}/${p.rounds} ... (at ${elapsed()})`)
    for (const c of rotate(cases, Math.max(0, round))) {
      const local: unknown = c.adapter.copy(c.a, 3)
      fullGc()
      const t0 = performance.now()
      const merged: unknown = c.adapter.merge(local, c.source)
      const ms = performance.now() - t0
      verifyMerge(c, merged)
      c.adapter.dispose(merged)
      if (round >= 0) mergeMs.add(c.workload, c.system, round, ms) // round -1 is the warm-up
    }
  }
  for (const dispose of built) dispose()
  const mergeTable: string[][] = []
  const fastestPeerMs = (round: number): number =>
    Math.min(...peers.map((s) => (mergeMs.get('merge', s) as number[])[round] as number))
  for (const c of cases) {
    const xs = mergeMs.get(c.workload, c.system) as number[]
    const sm = summarize(xs)
    row(c.workload, c.system, 'ms', sm.median, 'ms')
    row(c.workload, c.system, 'ms_min', sm.min, 'ms')
    row(c.workload, c.system, 'ms_max', sm.max, 'ms')
    row(c.workload, c.system, 'ops_per_replica', p.mergeOps, 'ops')
    let ratioCell = ''
    if (c.system === 'grapevine') {
      const cells: string[] = []
      for (const peer of peers) {
        const o = mergeMs.get('merge', peer) as number[]
        const r = summarize(xs.map((x, i) => (o[i] as number) / x))
        row(c.workload, 'grapevine', `speedup_vs_${peer}`, r.median, 'x')
        row(c.workload, 'grapevine', `speedup_vs_${peer}_min`, r.min, 'x')
        row(c.workload, 'grapevine', `speedup_vs_${peer}_max`, r.max, 'x')
        cells.push(`${peer} ${fmt.ratio(r.median)}`)
      }
      const f = summarize(xs.map((x, i) => fastestPeerMs(i) / x))
      row(c.workload, 'grapevine', 'speedup_vs_fastest_peer', f.median, 'x')
      row(c.workload, 'grapevine', 'speedup_vs_fastest_peer_min', f.min, 'x')
      row(c.workload, 'grapevine', 'speedup_vs_fastest_peer_max', f.max, 'x')
      cells.push(`fastest peer ${fmt.ratio(f.median)} [${fmt.ratio(f.min)}..${fmt.ratio(f.max)}]`)
      ratioCell = cells.join(', ')
    }
    mergeTable.push([
      c.workload,
      c.system,
      fmt.ms(sm.median),
      `${fmt.ms(sm.min)}..${fmt.ms(sm.max)}`,
      ratioCell,
    ])
  }
  log('')
  log(
    `(c) merge of replica B into a copy of replica A (${p.mergeOps} sets each); speedup = system ms / grapevine ms, per round`,
  )
  log(
    '    merge: grapevine lwwMap.mergeInto of in-memory states; yjs Y.applyUpdate(update of B); loro import(update of B);',
  )
  log(
    '           automerge A.merge(docs; histories built by put+commit per op, the same changes as A.change per op);',
  )
  log('           map: blind overwrite, no conflict resolution (a floor, not a peer)')
  log('    merge_decode: grapevine decode(bytes of B) + mergeInto, i.e. from bytes like yjs and loro')
  log(fmt.table(['workload', 'system', 'ms', '[min..max]', 'grapevine speedup vs'], mergeTable))
  log('')

  // ---- (d) sizes and memory: one child process per system and round, baseline first, others rotating
  const childPath = fileURLToPath(new URL('lib/crdt-child.ts', import.meta.url))
  const runChild = async (system: System | 'none'): Promise<ChildReport> => {
    const cp: ChildParams = { system, ops: p.lwwOps, keyCount: p.keyCount, deltaOps: p.deltaOps }
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', childPath, JSON.stringify(cp)],
      { maxBuffer: 1 << 20 },
    )
    const lines = stdout.trim().split('\n')
    return JSON.parse(lines[lines.length - 1] as string) as ChildReport
  }
  const mem = new Map<System | 'none', ChildReport[]>()
  for (let round = 0; round < p.memoryRounds; round++) {
    log(`memory and sizes round ${round + 1}/${p.memoryRounds} (child processes) ... (at ${elapsed()})`)
    for (const s of ['none', ...rotate(systems, round)] as const) {
      const r = await runChild(s)
      checks += r.checks
      mem.set(s, [...(mem.get(s) ?? []), r])
    }
  }
  const baseline = mem.get('none') as ChildReport[]
  const rssDelta = (s: System): number[] =>
    (mem.get(s) as ChildReport[]).map((r, i) => r.rssBytes - (baseline[i] as ChildReport).rssBytes)
  const sizeTable: string[][] = []
  const memTable: string[][] = []
  const sizeOf = (s: System, k: 'fullStateBytes' | 'deltaBytes'): number =>
    summarize((mem.get(s) as ChildReport[]).map((r) => r[k])).median
  for (const s of systems) {
    const reports = mem.get(s) as ChildReport[]
    const full = sizeOf(s, 'fullStateBytes')
    const delta = sizeOf(s, 'deltaBytes')
    row('encoded_size', s, 'full_state_bytes', full, 'bytes')
    row('encoded_size', s, 'delta_bytes', delta, 'bytes')
    row('encoded_size', s, 'state_ops', p.lwwOps, 'ops')
    row('encoded_size', s, 'delta_ops', p.deltaOps, 'ops')
    const rd = summarize(rssDelta(s))
    const heap = summarize(
      reports.map((r, i) => r.heapUsedBytes - (baseline[i] as ChildReport).heapUsedBytes),
    )
    row('memory', s, 'rss_delta_bytes', rd.median, 'bytes')
    row('memory', s, 'rss_delta_bytes_min', rd.min, 'bytes')
    row('memory', s, 'rss_delta_bytes_max', rd.max, 'bytes')
    row('memory', s, 'heap_used_delta_bytes', heap.median, 'bytes')
    row('memory', s, 'ops', p.lwwOps, 'ops')
    let sizeRatios = ''
    let memRatios = ''
    if (s === 'grapevine') {
      const sc: string[] = []
      const mc: string[] = []
      for (const o of systems) {
        if (o === 'grapevine') continue
        row('encoded_size', 'grapevine', `delta_size_ratio_vs_${o}`, delta / sizeOf(o, 'deltaBytes'), 'x')
        row('encoded_size', 'grapevine', `full_size_ratio_vs_${o}`, full / sizeOf(o, 'fullStateBytes'), 'x')
        sc.push(
          `${o} ${fmt.ratio(delta / sizeOf(o, 'deltaBytes'))} / ${fmt.ratio(full / sizeOf(o, 'fullStateBytes'))}`,
        )
        if (o === 'map') continue
        const r = summarize(rssDelta('grapevine').map((x, i) => x / (rssDelta(o)[i] as number)))
        row('memory', 'grapevine', `rss_ratio_vs_${o}`, r.median, 'x')
        mc.push(`${o} ${fmt.ratio(r.median)}`)
      }
      sizeRatios = sc.join(', ')
      memRatios = mc.join(', ')
    }
    sizeTable.push(['encoded_size', s, fmt.bytes(full), fmt.bytes(delta), sizeRatios])
    memTable.push([
      'memory',
      s,
      fmt.bytes(rd.median),
      `${fmt.bytes(rd.min)}..${fmt.bytes(rd.max)}`,
      fmt.bytes(heap.median),
      memRatios,
    ])
  }
  log('')
  log(
    `(d) encoded sizes after ${p.lwwOps} sets; delta = exactly the next ${p.deltaOps} sets; ratio = grapevine bytes / system bytes (delta / full)`,
  )
  log(
    '    full state: grapevine lwwMap.encode; yjs encodeStateAsUpdate; loro export snapshot; automerge save; map JSON',
  )
  log(
    '    delta: grapevine encode(delta accumulated over the ops); yjs encodeStateAsUpdate(doc, state vector before);',
  )
  log(
    '           loro export update from the version before; automerge saveSince(heads before); map JSON of changed entries',
  )
  log(
    fmt.table(
      [
        'workload',
        'system',
        'full state',
        `delta (${p.deltaOps} ops)`,
        'grapevine size ratio vs (delta / full)',
      ],
      sizeTable,
    ),
  )
  log('')
  log(
    `memory: resident set after ${p.lwwOps} sets minus a baseline child that loaded the same modules (gc() before reading)`,
  )
  log(
    '        ratio = grapevine / system; wasm peers (loro, automerge) keep their linear memory high-water mark',
  )
  log(
    fmt.table(
      ['workload', 'system', 'rss delta', '[min..max]', 'heap delta', 'grapevine ratio vs'],
      memTable,
    ),
  )
  log('')

  // ---- targets from the issue, judged on medians
  const get = (workload: string, metric: string): number => {
    const r = rows.find((x) => x.workload === workload && x.system === 'grapevine' && x.metric === metric)
    assertBench(r !== undefined, `missing row ${workload}/${metric}`)
    return r.value
  }
  type Target = { id: string; text: string; value: number; op: '>=' | '<='; bound: number; target: boolean }
  const targets: Target[] = [
    {
      id: 'lww_set_vs_yjs',
      text: 'lww_set ops/s >= 10x yjs',
      value: get('lww_set', 'speedup_vs_yjs'),
      op: '>=',
      bound: 10,
      target: true,
    },
    {
      id: 'lww_set_delta_vs_yjs',
      text: 'lww_set_delta ops/s >= 10x yjs (yjs emitting updates)',
      value: get('lww_set_delta', 'speedup_vs_yjs'),
      op: '>=',
      bound: 10,
      target: true,
    },
    {
      id: 'orset_vs_yjs',
      text: 'orset ops/s >= 10x yjs',
      value: get('orset', 'speedup_vs_yjs'),
      op: '>=',
      bound: 10,
      target: true,
    },
    {
      id: 'orset_delta_vs_yjs',
      text: 'orset_delta ops/s >= 10x yjs (yjs emitting updates)',
      value: get('orset_delta', 'speedup_vs_yjs'),
      op: '>=',
      bound: 10,
      target: true,
    },
    {
      id: 'lww_set_vs_map',
      text: 'lww_set ops/s >= 1/3 of plain Map',
      value: get('lww_set', 'speedup_vs_map'),
      op: '>=',
      bound: 1 / 3,
      target: true,
    },
    {
      id: 'orset_vs_map',
      text: 'orset ops/s >= 1/3 of plain Set',
      value: get('orset', 'speedup_vs_map'),
      op: '>=',
      bound: 1 / 3,
      target: true,
    },
    {
      id: 'merge_vs_fastest_peer',
      text: 'merge >= 10x faster than the fastest peer',
      value: get('merge', 'speedup_vs_fastest_peer'),
      op: '>=',
      bound: 10,
      target: true,
    },
    {
      id: 'delta_size_vs_yjs',
      text: `delta of ${p.deltaOps} ops <= yjs's (ratio)`,
      value: get('encoded_size', 'delta_size_ratio_vs_yjs'),
      op: '<=',
      bound: 1,
      target: true,
    },
    {
      id: 'rss_vs_yjs',
      text: `rss after ${p.lwwOps} ops <= yjs's (ratio)`,
      value: get('memory', 'rss_ratio_vs_yjs'),
      op: '<=',
      bound: 1,
      target: true,
    },
    // Not targets; reported so that the easier comparisons above cannot hide the harder ones.
    {
      id: 'lww_set_delta_vs_yjs_without_delta',
      text: '(info) lww_set_delta vs yjs without updates',
      value: get('lww_set_delta', 'speedup_vs_yjs_without_delta'),
      op: '>=',
      bound: 10,
      target: false,
    },
    {
      id: 'orset_delta_vs_yjs_without_delta',
      text: '(info) orset_delta vs yjs without updates',
      value: get('orset_delta', 'speedup_vs_yjs_without_delta'),
      op: '>=',
      bound: 10,
      target: false,
    },
    {
      id: 'lww_set_fixed_clock_vs_map',
      text: '(info) lww_set with a clock that never moves vs plain Map',
      value: get('lww_set_fixed_clock', 'speedup_vs_map'),
      op: '>=',
      bound: 1 / 3,
      target: false,
    },
    {
      id: 'orset_fixed_clock_vs_map',
      text: '(info) orset with a clock that never moves vs plain Set',
      value: get('orset_fixed_clock', 'speedup_vs_map'),
      op: '>=',
      bound: 1 / 3,
      target: false,
    },
    {
      id: 'lww_set_delta_encoded_vs_yjs',
      text: '(info) lww_set_delta_encoded vs yjs',
      value: get('lww_set_delta_encoded', 'speedup_vs_yjs'),
      op: '>=',
      bound: 10,
      target: false,
    },
    {
      id: 'orset_delta_encoded_vs_yjs',
      text: '(info) orset_delta_encoded vs yjs',
      value: get('orset_delta_encoded', 'speedup_vs_yjs'),
      op: '>=',
      bound: 10,
      target: false,
    },
    {
      id: 'merge_decode_vs_fastest_peer',
      text: '(info) merge_decode vs the fastest peer',
      value: get('merge_decode', 'speedup_vs_fastest_peer'),
      op: '>=',
      bound: 10,
      target: false,
    },
    {
      id: 'delta_size_vs_loro',
      text: '(info) delta size ratio to loro',
      value: get('encoded_size', 'delta_size_ratio_vs_loro'),
      op: '<=',
      bound: 1,
      target: false,
    },
  ]
  const targetTable: string[][] = []
  for (const t of targets) {
    const met = t.op === '>=' ? t.value >= t.bound : t.value <= t.bound
    row('targets', 'grapevine', t.id, t.value, 'x')
    row('targets', 'grapevine', `${t.id}_bound`, t.bound, 'x')
    if (t.target) row('targets', 'grapevine', `${t.id}_met`, met ? 1 : 0, 'bool')
    targetTable.push([
      t.text,
      fmt.ratio(t.value),
      `${t.op} ${fmt.ratio(t.bound)}`,
      t.target ? (met ? 'met' : 'MISSED') : met ? '(yes)' : '(no)',
    ])
  }
  log('targets (issue), on medians:')
  log(fmt.table(['target', 'measured', 'needed', 'result'], targetTable))
  log('')

  // ---- JSON
  mkdirSync(dirname(outPath), { recursive: true })
  writeFileSync(outPath, `${JSON.stringify(rows, null, 2)}\n`)
  log(
    `${rows.length} rows written to ${outPath}; ${checks} state checks passed; ${((performance.now() - started) / 1000).toFixed(1)} s`,
  )
  return { rows, checks, outPath, params }
}

const usage = 'usage: npm run bench -- crdt [--quick] [--rounds N] [--repeats N] [--out PATH]'

/** Entry point for bench/run.ts; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const a = parseBenchArgs(
    'crdt',
    argv,
    { quick: 'flag', rounds: 'count', repeats: 'count', out: 'path' },
    usage,
  )
  if (a === undefined) return 2
  await runCrdt({ quick: a.quick, ...defined({ rounds: a.rounds, repeats: a.repeats, outPath: a.out }) })
  return 0
}
