/**
 * The brief benchmark (issue 7, "Numbers to reach"): `grapevine brief --hook claude` on a store of 1M
 * facts answers with p95 under 300 ms wall, measured with hyperfine.
 *
 * The home is the start-up benchmark's (bench/startup.ts buildHome: 1M channel entries by 4 authors plus
 * 1000 keyed facts, cached), so both benchmarks time the same store. The node's own identity wrote none
 * of it: every entry is another agent's, as for an agent joining a busy fleet.
 *
 * Two briefs are timed, both with --peek (the saved vector is read, never moved, so every run does the
 * same work), beside `node -e 0` in ONE hyperfine run:
 *   - brief_first: `brief --hook codex` with no saved vector: a first brief, the newest entries.
 *   - brief_since: `brief --hook claude` with a saved vector `behind` (500) ops short of every author's head:
 *     the catch-up after the fleet wrote 4 x behind ops (the ops past the vector are read and their
 *     entries looked up).
 * Each is run once first and its output checked (the hook's JSON, a brief inside, within the budget).
 * Reported per command: mean, median, p95, min; rows to bench/results/brief.json.
 *
 * Usage: npm run bench -- brief [--quick] [--runs N] [--warmup N] [--entries N] [--behind N] [--dir DIR] [--out PATH]
 * --quick: 2000 entries, 5 runs, nothing written unless --out is given. Needs hyperfine.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { seenPath, saveSeen } from '../src/api/brief.ts'
import { home } from '../src/node/index.ts'
import { opLog } from '../src/store/index.ts'
import { parseBenchArgs } from './lib/args.ts'
import { describeMachine } from './lib/machine.ts'
import * as fmt from './lib/stats.ts'
import { buildHome, hyperfineMissing, quickParams } from './startup.ts'

const repoRoot = fileURLToPath(new URL('../', import.meta.url))
const nodeBin = join(repoRoot, 'node_modules', '.bin', 'node')
/**
 * The CLI as bin/grapevine.js runs it when its bundle is fresh: the bundle, with the compile cache on.
 * Built into a directory of this benchmark's (under node_modules, so packages resolve as from dist/), and
 * started by a launcher doing what bin/grapevine.js does, because on a tree others are editing, dist/
 * goes stale mid-run and bin/grapevine.js then falls back to the sources (2-3x slower starts).
 */
const benchCliDir = join(repoRoot, 'node_modules', '.cache', 'grapevine-bench-brief')
const cliBin = join(benchCliDir, 'launch.mjs')
const launcher = [
  "process.getBuiltinModule('node:module').enableCompileCache?.()",
  "const mod = await import('./grapevine.mjs')",
  'await mod.run()',
  '',
].join('\n')
export const p95TargetMs = 300

export type Row = { bench: 'brief'; workload: string; system: 'grapevine' | 'node_e_0'; metric: string; value: number; unit: string }

export type Params = {
  readonly entries: number
  readonly keyedFacts: number
  readonly behind: number
  readonly runs: number
  readonly warmup: number
  readonly dir: string
  readonly outPath: string | undefined
  readonly log: (s: string) => void
  /** No hyperfine progress on stdout (tests). */
  readonly quiet?: boolean
}

/** The saved vector of brief_since: every author of the store `behind` ops short of its head. */
function plantSince(homeDir: string, behind: number): number {
  const s = opLog.open(join(homeDir, home.storeFile))
  if (!s.ok) throw new Error(`brief bench: cannot open the store: ${s.detail}`)
  try {
    const vv = new Map<string, number>()
    let missed = 0
    for (const [a, seq] of opLog.versionVector(s.value)) {
      vv.set(a, Math.max(0, seq - behind))
      missed += Math.min(seq, behind)
    }
    saveSeen(seenPath(homeDir, 'claude'), vv, Date.now())
    return missed
  } finally {
    opLog.close(s.value)
  }
}

type Case = { name: string; system: Row['system']; argv: string[]; check: (out: string) => string | undefined }

function briefCheck(out: string): string | undefined {
  try {
    const doc = JSON.parse(out) as { hookSpecificOutput?: { hookEventName?: string; additionalContext?: string } }
    const text = doc.hookSpecificOutput?.additionalContext ?? ''
    if (doc.hookSpecificOutput?.hookEventName !== 'SessionStart') return 'no SessionStart hook output'
    if (!text.startsWith('Grapevine brief for ')) return `not a brief: ${JSON.stringify(text.slice(0, 100))}`
    if (!/\[(warnings|discoveries|patterns)\] from /.test(text)) return 'the brief shows no entry'
    return text.length <= 6000 ? undefined : `the brief is ${text.length} characters, over its budget`
  } catch (e) {
    return `not JSON: ${String(e)}`
  }
}

export function cases(): Case[] {
  return [
    { name: 'node_e_0', system: 'node_e_0', argv: [nodeBin, '-e', '0'], check: (o) => (o === '' ? undefined : 'printed something') },
    { name: 'brief_first', system: 'grapevine', argv: [nodeBin, cliBin, 'brief', '--hook', 'codex', '--peek'], check: briefCheck },
    { name: 'brief_since', system: 'grapevine', argv: [nodeBin, cliBin, 'brief', '--hook', 'claude', '--peek'], check: briefCheck },
  ]
}

/** Writes a benchmark's rows as JSON to outPath (nothing without one), and says where. */
export function writeRows(outPath: string | undefined, rows: readonly object[], log: (s: string) => void): void {
  if (outPath === undefined) return
  mkdirSync(dirname(outPath), { recursive: true })
  writeFileSync(outPath, JSON.stringify(rows, null, 2) + '\n')
  log(`rows written to ${outPath}`)
}

/** The p-quantile of sorted times (nearest rank). */
export const rank = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number

export async function runBrief(p: Params): Promise<{ rows: Row[] }> {
  for (const line of describeMachine(['@modelcontextprotocol/sdk'])) p.log(line)
  const t0 = performance.now()
  const dir = buildHome({ ...p, runs: p.runs, warmup: p.warmup, outPath: undefined })
  rmSync(seenPath(dir, 'codex'), { force: true })
  const missed = plantSince(dir, p.behind)
  p.log(`home: ${dir} (${fmt.si(p.entries)} entries + ${p.keyedFacts} keyed facts; ready in ${((performance.now() - t0) / 1000).toFixed(1)} s); brief_since: ${missed} ops past the saved vector`)
  mkdirSync(benchCliDir, { recursive: true })
  const built = spawnSync(nodeBin, [join(repoRoot, 'bin', 'build-cli.js'), join(benchCliDir, 'grapevine.mjs')], { encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`brief bench: bin/build-cli.js failed: ${built.stderr.trim()}`)
  writeFileSync(cliBin, launcher)
  p.log(`cli: the bundle of the sources as they are now, ${join(benchCliDir, 'grapevine.mjs')}`)
  const env: NodeJS.ProcessEnv = { ...process.env, GRAPEVINE_HOME: dir, NO_COLOR: '1' }
  delete env['GRAPEVINE_DEBUG']
  const cs = cases()
  for (const c of cs) {
    const r = spawnSync(c.argv[0] as string, c.argv.slice(1), { env, encoding: 'utf8' })
    const bad = r.status !== 0 ? `exit ${r.status}: ${r.stderr.trim()}` : c.check(r.stdout)
    if (bad !== undefined) throw new Error(`brief bench: ${c.name}: ${bad}`)
  }
  const tmp = mkdtempSync(join(tmpdir(), 'grapevine-brief-bench-'))
  try {
    const json = join(tmp, 'hyperfine.json')
    const args = ['-N', '--style', p.quiet === true ? 'none' : 'basic', '--warmup', String(p.warmup), '--runs', String(p.runs), '--export-json', json]
    for (const c of cs) args.push('-n', c.name, c.argv.map((a) => (/^[\w./=-]+$/.test(a) ? a : `'${a}'`)).join(' '))
    const h = spawnSync('hyperfine', args, { env, encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] })
    if (h.status !== 0) throw new Error(`brief bench: hyperfine failed (exit ${h.status}): ${h.stderr}`)
    const results = (JSON.parse(readFileSync(json, 'utf8')) as { results: { command: string; times: number[] }[] }).results
    const rows: Row[] = []
    const table: string[][] = []
    let base = 0
    for (const c of cs) {
      const times = (results.find((x) => x.command === c.name)?.times ?? []).map((s) => s * 1000).sort((a, b) => a - b)
      if (times.length !== p.runs) throw new Error(`brief bench: hyperfine reported ${times.length} times for ${c.name}, not ${p.runs}`)
      const mean = times.reduce((a, b) => a + b, 0) / times.length
      const s = fmt.summarize(times)
      const p95 = rank(times, 0.95)
      if (c.system === 'node_e_0') base = s.median
      const workload = c.system === 'node_e_0' ? 'node_e_0' : `${c.name}_${fmt.si(p.entries)}`
      for (const [metric, value, unit] of [['mean_ms', mean, 'ms'], ['median_ms', s.median, 'ms'], ['p95_ms', p95, 'ms'], ['min_ms', s.min, 'ms'], ['runs', times.length, 'runs']] as const) {
        rows.push({ bench: 'brief', workload, system: c.system, metric, value, unit })
      }
      table.push([c.name, fmt.ms(mean), fmt.ms(s.median), fmt.ms(p95), fmt.ms(s.min), c.system === 'node_e_0' ? '' : fmt.ratio(s.median / base), c.system === 'node_e_0' ? '' : p95 <= p95TargetMs ? 'met' : 'MISSED'])
    }
    p.log(`\nbrief --hook, ${fmt.si(p.entries)} entries, ${p.runs} runs each after ${p.warmup} warmup (hyperfine -N, one run; target p95 < ${p95TargetMs} ms):`)
    p.log(fmt.table(['command', 'mean', 'median', 'p95', 'min', 'x node (median)', 'p95 target'], table))
    writeRows(p.outPath, rows, p.log)
    return { rows }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const spec = { quick: 'flag', runs: 'count', warmup: 'count', entries: 'count', behind: 'count', dir: 'path', out: 'path' } as const
  const usage = 'usage: npm run bench -- brief [--quick] [--runs N] [--warmup N] [--entries N] [--behind N] [--dir DIR] [--out PATH]'
  const a = parseBenchArgs('brief', argv, spec, usage, { warmup: 0 })
  if (a === undefined) return 2
  const missing = hyperfineMissing()
  if (missing !== undefined) {
    process.stderr.write(`brief bench: ${missing}\n`)
    return 1
  }
  const base = a.quick ? { ...quickParams, runs: 5 } : { entries: 1_000_000, keyedFacts: 1000, runs: 30, warmup: 5 }
  await runBrief({
    entries: a.entries ?? base.entries,
    keyedFacts: base.keyedFacts,
    behind: a.behind ?? 500,
    runs: a.runs ?? base.runs,
    warmup: a.warmup ?? base.warmup,
    dir: a.dir ?? join(tmpdir(), 'grapevine-bench'),
    outPath: a.out ?? (a.quick ? undefined : join(repoRoot, 'bench', 'results', 'brief.json')),
    log: (s) => process.stdout.write(s + '\n'),
  })
  return 0
}
