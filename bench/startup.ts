/**
 * Start-up benchmark: what an agent pays each time it runs the CLI (issue 3, "Numbers to reach":
 * `grapevine tail -n 20` on a store of 1M facts within 2x `node -e 0`).
 *
 * The home: a GRAPEVINE_HOME holding an identity and a store of `entries` channel entries (discoveries,
 * patterns, warnings; no TTL) written by 4 authors, plus `keyedFacts` keyed facts. It is built once, by
 * generating the authors' signed histories (batch_head, 256-op batches) and handing them to the store's
 * ingest (opLog.ingest: validation, op log and views, as a peer's catch-up would), and cached under
 * DIR/startup-<key> where the key names the size and the store's format; a `ready` file marks a
 * complete build, so an interrupted build is started again.
 *
 * The CLI: as `npm install` leaves it, bundled into dist/grapevine.mjs (bin/build-cli.js, run first, so the
 * bundle holds the sources as they are now; GRAPEVINE_CLI=bundle makes bin/grapevine.js refuse a stale one).
 * Without esbuild, the sources.
 *
 * The timing: ONE hyperfine run over the commands, each started the same way (no shell, the Node of
 * node_modules/.bin): `node -e 0` (the floor: starting Node at all) and `node bin/grapevine.js tail -n 20`,
 * then, for information, the same tail from the .ts sources (GRAPEVINE_CLI=source, through env),
 * `--json tail -n 20`, `search`, and `fact get`. Each is first run once and its
 * output checked (exit 0, the lines it must print), so that a fast failure cannot pass for a fast command.
 * Reported per command: mean, median, p95 and min; and each command's ratio to node -e 0 (mean and median).
 *
 * Rows go to bench/results/startup.json: {bench: 'startup', workload, system: 'grapevine' | 'node_e_0',
 * metric, value, unit}; the workload names the command and the store's size.
 *
 * Usage: npm run bench -- startup [--quick] [--runs N] [--warmup N] [--entries N] [--dir DIR] [--out PATH]
 * --quick: 2000 entries, 3 runs, 1 warmup, nothing written unless --out is given. Needs hyperfine
 * (apt-get install hyperfine): without it the benchmark says so and exits 1.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Json } from '../src/core/index.ts'
import * as core from '../src/core/index.ts'
import * as knowledge from '../src/knowledge/index.ts'
import * as log from '../src/log/index.ts'
import type { Draft } from '../src/log/index.ts'
import { testSigner } from '../src/log/log.test-util.ts'
import { home } from '../src/node/index.ts'
import { opLog } from '../src/store/index.ts'
import { describeMachine } from './lib/machine.ts'
import * as fmt from './lib/stats.ts'
import { parseBenchArgs } from './lib/args.ts'

const repoRoot = fileURLToPath(new URL('../', import.meta.url))
const nodeBin = join(repoRoot, 'node_modules', '.bin', 'node')
const cliBin = join(repoRoot, 'bin', 'grapevine.js')

/** Bump when the home this benchmark builds changes shape: a cached home of another version is rebuilt. */
export const homeVersion = 1

export const authors = 4
/** A word planted in every plantEvery-th entry: what the search command looks for. */
export const plantedWord = 'zephyrine'
export const plantEvery = 1000
const t0Ms = Date.UTC(2026, 0, 1)

export type Row = {
  bench: 'startup'
  workload: string
  system: 'grapevine' | 'node_e_0'
  metric: string
  value: number
  unit: string
}

export type Params = {
  readonly entries: number
  readonly keyedFacts: number
  readonly runs: number
  readonly warmup: number
  /** Where cached homes live. */
  readonly dir: string
  /** Where rows are written; undefined: not written. */
  readonly outPath: string | undefined
  readonly log: (s: string) => void
  /** Show hyperfine's own progress and summary (on this process's stdout). */
  readonly showHyperfine?: boolean
  /** Runs hyperfine (tests swap it for a planted failure). */
  readonly hyperfine?: (
    args: readonly string[],
    env: NodeJS.ProcessEnv,
  ) => { status: number | null; stderr: string }
}

const words = (
  'cache index build flaky test retry timeout socket parser schema deploy rollback queue worker lock ' +
  'memory leak latency shard replica vector clock merge branch commit review lint format config token ' +
  'gateway proxy header cookie session batch stream buffer chunk encode decode hash sign verify quota'
).split(' ')
const channels = knowledge.channels
const tags = ['ci', 'infra', 'db', 'frontend', 'auth', 'perf', 'docs', 'flaky']

function pick<T>(p: core.Prng, xs: readonly T[]): T {
  return xs[core.prng.nextInt(p, xs.length)] as T
}

/** The i-th entry of an author (0-based): a sentence of 12-24 words; every plantEvery-th carries plantedWord. */
function entryDraft(p: core.Prng, i: number, n: number): Draft {
  const len = 12 + core.prng.nextInt(p, 13)
  const ws = Array.from({ length: len }, () => pick(p, words))
  if (n % plantEvery === 0) ws.push(plantedWord)
  const body: Json = {
    value: ws.join(' '),
    supersedes: [],
    verified: false,
    channel: pick(p, channels),
    tags: [pick(p, tags)],
  }
  return { hlc: { wallMs: t0Ms + i, logical: 0 }, kind: 'fact.assert', body }
}

function factDraft(i: number, k: number): Draft {
  return {
    hlc: { wallMs: t0Ms + i, logical: 0 },
    kind: 'fact.assert',
    body: {
      fact_id: factId(k),
      value: { answer: k, note: `keyed fact number ${k}` },
      supersedes: [],
      verified: false,
    },
  }
}

export const factId = (k: number): string => `bench.startup.fact-${k}`

/** The cached home's directory for these sizes (the store's format is part of the key). */
export function homeDir(p: Pick<Params, 'dir' | 'entries' | 'keyedFacts'>): string {
  return join(p.dir, `startup-v${homeVersion}-f${opLog.formatVersion}-${p.entries}e-${p.keyedFacts}k`)
}

/**
 * Builds the home (identity + store) unless a complete one is cached; returns its path. Each author's
 * ops are generated, signed and ingested a chunk at a time (memory stays flat); every batch is one
 * ingest transaction, as from a peer.
 */
export function buildHome(p: Params): string {
  const dir = homeDir(p)
  if (existsSync(join(dir, 'ready'))) return dir
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const id = home.init(dir, 'startup-bench')
  if (!id.ok) throw new Error(`startup bench: cannot create the home in ${dir}: ${id.detail}`)
  const opened = opLog.open(join(dir, home.storeFile))
  if (!opened.ok) throw new Error(`startup bench: cannot open the store in ${dir}: ${opened.detail}`)
  const s = opened.value
  const started = performance.now()
  const prng = core.prng.create(20261130)
  const total = p.entries + p.keyedFacts
  const nowMs = Date.now()
  let written = 0
  try {
    for (let a = 0; a < authors; a++) {
      const signer = testSigner(a)
      // author a writes its share of entries, then its share of keyed facts
      const mine = Math.floor(p.entries / authors) + (a < p.entries % authors ? 1 : 0)
      const facts: number[] = []
      for (let k = a; k < p.keyedFacts; k += authors) facts.push(k)
      const count = mine + facts.length
      let head: log.Head | undefined
      const chunk = 256 * 64
      for (let from = 0; from < count; from += chunk) {
        const drafts: Draft[] = []
        for (let i = from; i < Math.min(count, from + chunk); i++) {
          // interleave the authors' clocks so the newest entries come from all of them
          const tick = i * authors + a
          drafts.push(
            i < mine
              ? entryDraft(prng, tick, written + drafts.length + 1)
              : factDraft(tick, facts[i - mine] as number),
          )
        }
        const created = log.createOps(signer.author, head, drafts)
        if (!created.ok) throw new Error(`startup bench: the generator made an invalid op: ${created.detail}`)
        const signed = log.signOps(signer, created.value, 'batch_head')
        for (let b = 0; b < signed.length; b += log.batchOpsMax) {
          const r = opLog.ingest(s, signed.slice(b, b + log.batchOpsMax), nowMs)
          if (!r.ok) throw new Error(`startup bench: ingest refused a batch: ${r.reason}: ${r.detail}`)
        }
        head = log.headOf(created.value[created.value.length - 1] as log.EncodedOp)
        written += drafts.length
        if (total >= 100_000 && written % (chunk * 4) < chunk) {
          p.log(
            `  built ${fmt.si(written)} of ${fmt.si(total)} ops (${((performance.now() - started) / 1000).toFixed(0)} s)`,
          )
        }
      }
    }
    const n = opLog.opCount(s)
    if (n !== total) throw new Error(`startup bench: the store holds ${n} ops, not ${total}`)
  } finally {
    opLog.close(s)
  }
  writeFileSync(
    join(dir, 'ready'),
    `${total} ops built in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  )
  return dir
}

/** A command timed: its name in the rows, its arguments after node, and a check of its output. */
type Case = {
  name: string
  system: Row['system']
  /** The program and its arguments. */
  argv: string[]
  check: (stdout: string) => string | undefined
}

export function cases(p: Pick<Params, 'entries' | 'keyedFacts'>): Case[] {
  const lines = (s: string) => s.split('\n').filter((l) => l !== '')
  const want = Math.min(20, p.entries)
  const planted = Math.floor(p.entries / plantEvery)
  return [
    {
      name: 'node_e_0',
      system: 'node_e_0',
      argv: [nodeBin, '-e', '0'],
      check: (o) => (o === '' ? undefined : 'printed something'),
    },
    {
      name: 'tail_n20',
      system: 'grapevine',
      argv: [nodeBin, cliBin, 'tail', '-n', '20'],
      check: (o) => (lines(o).length === want ? undefined : `printed ${lines(o).length} lines, not ${want}`),
    },
    {
      // the same command run from the .ts sources, not the bundle (through env: ~1 ms more to start)
      name: 'tail_n20_source',
      system: 'grapevine',
      argv: ['/usr/bin/env', 'GRAPEVINE_CLI=source', nodeBin, cliBin, 'tail', '-n', '20'],
      check: (o) => (lines(o).length === want ? undefined : `printed ${lines(o).length} lines, not ${want}`),
    },
    {
      name: 'tail_n20_json',
      system: 'grapevine',
      argv: [nodeBin, cliBin, '--json', 'tail', '-n', '20'],
      check: (o) => {
        const v: unknown = JSON.parse(o)
        return Array.isArray(v) && v.length === want ? undefined : `did not print an array of ${want} entries`
      },
    },
    {
      name: 'search',
      system: 'grapevine',
      argv: [nodeBin, cliBin, 'search', plantedWord, '--limit', '20'],
      check: (o) =>
        lines(o).length >= Math.min(1, planted) ? undefined : 'found no entry with the planted word',
    },
    {
      name: 'fact_get',
      system: 'grapevine',
      argv: [nodeBin, cliBin, 'fact', 'get', factId(0)],
      check: (o) =>
        o.startsWith(`${factId(0)} = `)
          ? undefined
          : `did not print the fact: ${JSON.stringify(o.slice(0, 200))}`,
    },
  ]
}

function runHyperfine(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): { status: number | null; stderr: string } {
  const r = spawnSync('hyperfine', args, { env, encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] })
  if (r.error !== undefined) return { status: null, stderr: r.error.message }
  return { status: r.status, stderr: r.stderr }
}

/** Whether hyperfine can be run; the message says how to get it when it cannot. */
export function hyperfineMissing(): string | undefined {
  const r = spawnSync('hyperfine', ['--version'], { encoding: 'utf8' })
  return r.error === undefined && r.status === 0
    ? undefined
    : 'hyperfine is not installed: apt-get install -y hyperfine (or cargo install hyperfine)'
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number

export async function runStartup(p: Params): Promise<{ rows: Row[] }> {
  const missing = hyperfineMissing()
  if (missing !== undefined && p.hyperfine === undefined) throw new Error(`startup bench: ${missing}`)
  for (const line of describeMachine(['commander', 'zod'])) p.log(line)
  const started = performance.now()
  const dir = buildHome(p)
  p.log(
    `home: ${dir} (${fmt.si(p.entries)} entries + ${p.keyedFacts} keyed facts; ready in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
  )
  // the CLI as npm install leaves it: bundled (bin/build-cli.js) from the sources as they are now
  const built = spawnSync(nodeBin, [join(repoRoot, 'bin', 'build-cli.js')], { encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`startup bench: bin/build-cli.js failed: ${built.stderr.trim()}`)
  const bundled = existsSync(join(repoRoot, 'dist', 'grapevine.mjs'))
  p.log(bundled ? 'cli: dist/grapevine.mjs, just built' : `cli: from the sources (${built.stderr.trim()})`)
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GRAPEVINE_HOME: dir,
    NO_COLOR: '1',
    GRAPEVINE_CLI: bundled ? 'bundle' : 'source',
  }
  delete env['GRAPEVINE_DEBUG']
  const cs = cases(p)
  for (const c of cs) {
    const r = spawnSync(c.argv[0] as string, c.argv.slice(1), { env, encoding: 'utf8' })
    const bad = r.status !== 0 ? `exit ${r.status}: ${r.stderr.trim()}` : c.check(r.stdout)
    if (bad !== undefined) throw new Error(`startup bench: ${c.name} (${c.argv.join(' ')}): ${bad}`)
  }
  const tmp = mkdtempSync(join(tmpdir(), 'grapevine-startup-'))
  try {
    const json = join(tmp, 'hyperfine.json')
    const args = [
      '-N',
      '--style',
      p.showHyperfine === true ? 'basic' : 'none',
      '--warmup',
      String(p.warmup),
      '--runs',
      String(p.runs),
      '--export-json',
      json,
    ]
    for (const c of cs) args.push('-n', c.name, c.argv.map(quoteArg).join(' '))
    const h = (p.hyperfine ?? runHyperfine)(args, env)
    if (h.status !== 0)
      throw new Error(`startup bench: hyperfine failed (exit ${h.status}): ${h.stderr.trim()}`)
    const doc = JSON.parse(readFileSync(json, 'utf8')) as { results: { command: string; times: number[] }[] }
    const stats = new Map<string, { mean: number; median: number; p95: number; min: number; n: number }>()
    for (const c of cs) {
      const res = doc.results.find((x) => x.command === c.name)
      if (res === undefined || res.times.length !== p.runs)
        throw new Error(`startup bench: hyperfine reported no ${p.runs} times for ${c.name}`)
      const t = [...res.times].map((s) => s * 1000).sort((a, b) => a - b)
      stats.set(c.name, {
        mean: t.reduce((a, b) => a + b, 0) / t.length,
        median: fmt.summarize(t).median,
        p95: quantile(t, 0.95),
        min: t[0] as number,
        n: t.length,
      })
    }
    const base = stats.get('node_e_0') as { mean: number; median: number }
    const size = `${fmt.si(p.entries)}`
    const rows: Row[] = []
    const table: string[][] = []
    for (const c of cs) {
      const s = stats.get(c.name) as { mean: number; median: number; p95: number; min: number; n: number }
      const workload = c.system === 'node_e_0' ? 'node_e_0' : `${c.name}_${size}`
      const row = (metric: string, value: number, unit: string) =>
        rows.push({ bench: 'startup', workload, system: c.system, metric, value, unit })
      row('mean_ms', s.mean, 'ms')
      row('median_ms', s.median, 'ms')
      row('p95_ms', s.p95, 'ms')
      row('min_ms', s.min, 'ms')
      row('runs', s.n, 'runs')
      if (c.system === 'grapevine') {
        row('ratio_mean_to_node_e_0', s.mean / base.mean, 'x')
        row('ratio_median_to_node_e_0', s.median / base.median, 'x')
      }
      table.push([
        c.name,
        fmt.ms(s.mean),
        fmt.ms(s.median),
        fmt.ms(s.p95),
        fmt.ms(s.min),
        fmt.ratio(s.mean / base.mean),
        fmt.ratio(s.median / base.median),
      ])
    }
    p.log(
      `\nstartup, ${fmt.si(p.entries)} entries, ${p.runs} runs each after ${p.warmup} warmup (hyperfine -N, one run):`,
    )
    p.log(fmt.table(['command', 'mean', 'median', 'p95', 'min', 'x node (mean)', 'x node (median)'], table))
    if (p.outPath !== undefined) {
      mkdirSync(dirname(p.outPath), { recursive: true })
      writeFileSync(p.outPath, JSON.stringify(rows, null, 2) + '\n')
      p.log(`rows written to ${p.outPath}`)
    }
    return { rows }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** hyperfine -N splits a command on spaces (shell-like quoting); our arguments have none, but a path may. */
function quoteArg(s: string): string {
  return /^[\w./=-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`
}

export const quickParams = { entries: 2000, keyedFacts: 20, runs: 3, warmup: 1 } as const

export async function main(argv: readonly string[]): Promise<number> {
  const spec = {
    quick: 'flag',
    runs: 'count',
    warmup: 'count',
    entries: 'count',
    dir: 'path',
    out: 'path',
  } as const
  const usage =
    'usage: npm run bench -- startup [--quick] [--runs N] [--warmup N] [--entries N] [--dir DIR] [--out PATH]'
  const a = parseBenchArgs('startup', argv, spec, usage, { warmup: 0 })
  if (a === undefined) return 2
  const missing = hyperfineMissing()
  if (missing !== undefined) {
    process.stderr.write(`startup bench: ${missing}\n`)
    return 1
  }
  const quick = a.quick
  const base = quick ? quickParams : { entries: 1_000_000, keyedFacts: 1000, runs: 30, warmup: 5 }
  await runStartup({
    entries: a.entries ?? base.entries,
    keyedFacts: base.keyedFacts,
    runs: a.runs ?? base.runs,
    warmup: a.warmup ?? base.warmup,
    dir: a.dir ?? join(tmpdir(), 'grapevine-bench'),
    outPath: a.out ?? (quick ? undefined : join(repoRoot, 'bench', 'results', 'startup.json')),
    log: (s) => process.stdout.write(s + '\n'),
    showHyperfine: true,
  })
  return 0
}
