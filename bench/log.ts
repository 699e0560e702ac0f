/**
 * Op log benchmark: the two signature schemes of src/log/sign.ts side by side, per_op (every op signed)
 * and batch_head (only the last op of a batch signed; the hash chain vouches for the rest), for batches
 * of 1, 16 and 256 ops.
 *
 *   sign:    signOps + encodeBatch, over ops already created (encoded and hashed by createOps, which
 *            both schemes pay alike): what signing adds to an author's write;
 *   verify:  validateBatch of the batch bytes against the author's head, batch after batch: decode, hash
 *            every op, check the chain, verify the signatures; what a receiver pays before it stores
 *            (the store's ingest target is 20,000 ops/s with verification and storage together);
 *   bytes:   encoded batch bytes per op.
 *
 * The ops are realistic `fact.assert` ops of one author (a ~120-character discovery, a channel, tags).
 * Timed runs are interleaved: every round runs every (scheme, batch size) once, in an order that rotates
 * from round to round, so a shared machine's drift reaches both schemes alike. Ratios are taken per
 * round and reported as the median with min and max; so are the raw figures.
 *
 * Usage: npm run bench -- log [--quick] [--rounds N] [--out PATH]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as log from '../src/log/index.ts'
import type { EncodedOp, Head, LogView, SignScheme, Signer } from '../src/log/index.ts'
import { fullGc } from './lib/gc.ts'
import { describeMachine } from './lib/machine.ts'
import * as fmt from './lib/stats.ts'
import { summarize } from './lib/stats.ts'
import { defined, parseBenchArgs } from './lib/args.ts'

export const schemes = ['per_op', 'batch_head'] as const satisfies readonly SignScheme[]

/** One result: the JSON file is an array of these. Ratios and targets are rows of system batch_head. */
export type Row = {
  readonly bench: 'log'
  readonly workload: string
  readonly system: SignScheme
  readonly metric: string
  readonly value: number
  readonly unit: string
}

export type Params = {
  /** ops signed or verified per timed run (a multiple of every batch size) */
  readonly ops: number
  readonly batchSizes: readonly number[]
  readonly rounds: number
}

export const fullParams: Params = { ops: 4096, batchSizes: [1, 16, 256], rounds: 7 }
export const quickParams: Params = { ops: 256, batchSizes: [1, 16, 256], rounds: 1 }

/** The ingest target of issue 3 (verify + store + views), which verification must leave room for. */
export const ingestTargetOpsPerS = 20_000

/** Verification may take at most a fifth of the ingest budget: verify >= 5x the ingest target. */
export const verifyHeadroomMin = 5

export type LogOptions = {
  readonly quick?: boolean
  readonly rounds?: number
  /** where the JSON goes; default bench/results/log.json (full run) or the OS temp dir (quick run) */
  readonly outPath?: string
  readonly log?: (line: string) => void
}

export type LogResult = {
  readonly rows: Row[]
  readonly outPath: string
  readonly params: Params
  readonly checks: number
}

function assertBench(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(`bench log: ${msg}`)
}

/** The benchmark's author: a fixed seed, so every run signs the same bytes. */
export function benchSigner(): Signer {
  const s = log.createSigner(new Uint8Array(32).fill(0x42))
  assertBench(s.ok, 'the fixed key is refused')
  return s.value
}

/** `count` fact.assert ops of one author, from seq 1. */
export function benchOps(signer: Signer, count: number): EncodedOp[] {
  const drafts = Array.from({ length: count }, (_, i) => ({
    hlc: { wallMs: 1_700_000_000_000 + i * 7, logical: 0 },
    kind: 'fact.assert',
    body: {
      fact_id: `d-${String(i).padStart(8, '0')}`,
      value: `Convex cold-starts after 2h idle: the first request takes 30 s; warm it with a cron ping (#${i})`,
      channel: 'warnings',
      tags: ['convex', 'latency'],
      verified: false,
      ttl_seconds: 604_800,
    },
  }))
  const r = log.createOps(signer.author, undefined, drafts)
  assertBench(r.ok, r.ok ? '' : r.detail)
  return r.value
}

/** Signs and encodes ops in batches of `size`: the sign workload. Returns the batches' bytes. */
export function signRun(
  signer: Signer,
  ops: readonly EncodedOp[],
  size: number,
  scheme: SignScheme,
): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < ops.length; i += size) {
    const signed = log.signOps(signer, ops.slice(i, i + size), scheme)
    out.push(log.encodeBatch(signed, scheme))
  }
  return out
}

/**
 * Validates batches one after the other into a fresh log view that keeps only the head: the verify
 * workload. Throws if any batch is refused, so a broken verifier cannot pass for a fast one.
 */
export function verifyRun(batches: readonly Uint8Array[], nowMs: number): Head {
  let head: Head | undefined
  const view: LogView = { head: () => head }
  for (const b of batches) {
    const v = log.validateBatch(b, view, { nowMs })
    if (!v.ok) throw new Error(`bench log: a batch was refused (${v.reason}: ${v.detail})`)
    head = v.head
  }
  assertBench(head !== undefined, 'nothing verified')
  return head
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  const n = by % xs.length
  return [...xs.slice(n), ...xs.slice(0, n)]
}

export async function runLog(opts: LogOptions = {}): Promise<LogResult> {
  const quick = opts.quick ?? false
  const p: Params = {
    ...(quick ? quickParams : fullParams),
    ...(opts.rounds === undefined ? {} : { rounds: opts.rounds }),
  }
  const say = opts.log ?? ((line: string) => console.log(line))
  const outPath =
    opts.outPath ??
    (quick
      ? join(tmpdir(), 'grapevine-bench-log.quick.json')
      : fileURLToPath(new URL('results/log.json', import.meta.url)))
  const rows: Row[] = []
  let checks = 0
  const row = (workload: string, system: SignScheme, metric: string, value: number, unit: string): void => {
    assertBench(Number.isFinite(value), `${workload}/${system}/${metric} is not a finite number: ${value}`)
    rows.push({ bench: 'log', workload, system, metric, value, unit })
  }
  const started = performance.now()

  say(`log benchmark${quick ? ' (--quick smoke run: tiny sizes, 1 round; figures mean nothing)' : ''}`)
  for (const line of describeMachine([])) if (!line.startsWith('peers:')) say(`  ${line}`)
  say(`  schemes: ${schemes.join(', ')}; batch sizes: ${p.batchSizes.join(', ')}; ${p.ops} ops per timed run`)
  say('  sign:   signOps + encodeBatch of created ops (createOps, paid alike by both schemes, is outside)')
  say("  verify: validateBatch of each batch's bytes against the head: decode, hash, chain, signatures")
  say(`  rounds: ${p.rounds} (interleaved, order rotating); figures are medians [min..max]`)
  say('')

  for (const size of p.batchSizes)
    assertBench(p.ops % size === 0, `ops must be a multiple of batch size ${size}`)
  const signer = benchSigner()
  const ops = benchOps(signer, p.ops)
  const nowMs = 1_700_000_000_000 + p.ops * 7
  type Config = { readonly scheme: SignScheme; readonly size: number; readonly batches: Uint8Array[] }
  const configs: Config[] = []
  for (const size of p.batchSizes) {
    for (const scheme of schemes) configs.push({ scheme, size, batches: signRun(signer, ops, size, scheme) })
  }
  // The bytes a run signs must be the bytes it verifies, and both must be deterministic.
  for (const c of configs) {
    const again = signRun(signer, ops, c.size, c.scheme)
    assertBench(
      again.length === c.batches.length &&
        again.every((b, i) => Buffer.compare(b, c.batches[i] as Uint8Array) === 0),
      `${c.scheme}/${c.size}: signing is not deterministic`,
    )
    const head = verifyRun(c.batches, nowMs)
    assertBench(
      head.seq === p.ops && Buffer.compare(head.hash, (ops[p.ops - 1] as EncodedOp).hash) === 0,
      'wrong head',
    )
    checks += c.batches.length
  }

  const key = (c: Config): string => `${c.scheme}|${c.size}`
  const signS = new Map<string, number[]>()
  const verifyS = new Map<string, number[]>()
  const push = (m: Map<string, number[]>, k: string, x: number): void => {
    m.set(k, [...(m.get(k) ?? []), x])
  }
  const time = (f: () => void): number => {
    fullGc()
    const t0 = performance.now()
    f()
    return (p.ops / (performance.now() - t0)) * 1000
  }

  say('warming up ...')
  for (const c of configs) {
    signRun(signer, ops, c.size, c.scheme)
    verifyRun(c.batches, nowMs)
  }
  for (let round = 0; round < p.rounds; round++) {
    say(`round ${round + 1}/${p.rounds} ... (at ${((performance.now() - started) / 1000).toFixed(0)} s)`)
    for (const c of rotate(configs, round)) {
      push(
        signS,
        key(c),
        time(() => signRun(signer, ops, c.size, c.scheme)),
      )
      push(
        verifyS,
        key(c),
        time(() => void verifyRun(c.batches, nowMs)),
      )
      checks += c.batches.length
    }
  }

  const table: string[][] = []
  for (const size of p.batchSizes) {
    for (const scheme of schemes) {
      const c = configs.find((x) => x.scheme === scheme && x.size === size) as Config
      const bytes = c.batches.reduce((n, b) => n + b.length, 0) / p.ops
      const s = summarize(signS.get(key(c)) as number[])
      const v = summarize(verifyS.get(key(c)) as number[])
      for (const [workload, sm] of [
        [`sign_batch_${size}`, s],
        [`verify_batch_${size}`, v],
      ] as const) {
        row(workload, scheme, 'ops_per_s', sm.median, 'ops/s')
        row(workload, scheme, 'ops_per_s_min', sm.min, 'ops/s')
        row(workload, scheme, 'ops_per_s_max', sm.max, 'ops/s')
        row(workload, scheme, 'rounds', sm.n, 'rounds')
      }
      row(`batch_${size}`, scheme, 'bytes_per_op', bytes, 'bytes')
      let ratios = ''
      if (scheme === 'batch_head') {
        const per = configs.find((x) => x.scheme === 'per_op' && x.size === size) as Config
        const cells: string[] = []
        for (const [workload, m] of [
          [`sign_batch_${size}`, signS],
          [`verify_batch_${size}`, verifyS],
        ] as const) {
          const mine = m.get(key(c)) as number[]
          const theirs = m.get(key(per)) as number[]
          const r = summarize(mine.map((x, i) => x / (theirs[i] as number)))
          row(workload, 'batch_head', 'speedup_vs_per_op', r.median, 'x')
          row(workload, 'batch_head', 'speedup_vs_per_op_min', r.min, 'x')
          row(workload, 'batch_head', 'speedup_vs_per_op_max', r.max, 'x')
          cells.push(
            `${workload.split('_')[0]} ${fmt.ratio(r.median)} [${fmt.ratio(r.min)}..${fmt.ratio(r.max)}]`,
          )
        }
        ratios = cells.join(', ')
      }
      table.push([
        String(size),
        scheme,
        fmt.si(s.median),
        `${fmt.si(s.min)}..${fmt.si(s.max)}`,
        fmt.si(v.median),
        `${fmt.si(v.min)}..${fmt.si(v.max)}`,
        bytes.toFixed(1),
        ratios,
      ])
    }
  }
  say('')
  say('ops/s per scheme and batch size; speedup = batch_head / per_op in the same round')
  say(
    fmt.table(
      [
        'batch',
        'scheme',
        'sign ops/s',
        '[min..max]',
        'verify ops/s',
        '[min..max]',
        'B/op',
        'batch_head speedup',
      ],
      table,
    ),
  )
  say('')

  // ---- targets: verification must not cap ingest (issue 3: 20k ops/s verify + store + views)
  const largest = p.batchSizes[p.batchSizes.length - 1] as number
  const get = (workload: string, system: SignScheme): number =>
    (rows.find((r) => r.workload === workload && r.system === system && r.metric === 'ops_per_s') as Row)
      .value
  const headroom = (system: SignScheme): number =>
    get(`verify_batch_${largest}`, system) / ingestTargetOpsPerS
  const chosen = log.signSchemeDefault
  const targets = [
    {
      id: 'verify_headroom_default',
      text: `${chosen} verify, batches of ${largest}: ops/s / ${ingestTargetOpsPerS} ingest target`,
      value: headroom(chosen),
      target: true,
    },
    {
      id: 'verify_headroom_per_op',
      text: `(info) per_op verify, batches of ${largest}: ops/s / ${ingestTargetOpsPerS}`,
      value: headroom('per_op'),
      target: false,
    },
  ]
  const targetTable: string[][] = []
  for (const t of targets) {
    const met = t.value >= verifyHeadroomMin
    row('targets', 'batch_head', t.id, t.value, 'x')
    row('targets', 'batch_head', `${t.id}_bound`, verifyHeadroomMin, 'x')
    if (t.target) row('targets', 'batch_head', `${t.id}_met`, met ? 1 : 0, 'bool')
    targetTable.push([
      t.text,
      fmt.ratio(t.value),
      `>= ${fmt.ratio(verifyHeadroomMin)}`,
      t.target ? (met ? 'met' : 'MISSED') : met ? '(yes)' : '(no)',
    ])
  }
  say(`targets, on medians (verification may take at most 1/${verifyHeadroomMin} of the ingest budget):`)
  say(fmt.table(['target', 'measured', 'needed', 'result'], targetTable))
  say('')

  mkdirSync(dirname(outPath), { recursive: true })
  writeFileSync(outPath, `${JSON.stringify(rows, null, 2)}\n`)
  say(
    `${rows.length} rows written to ${outPath}; ${checks} batches verified; ${((performance.now() - started) / 1000).toFixed(1)} s`,
  )
  return { rows, outPath, params: p, checks }
}

const usage = 'usage: npm run bench -- log [--quick] [--rounds N] [--out PATH]'

/** Entry point for bench/run.ts; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const a = parseBenchArgs('log', argv, { quick: 'flag', rounds: 'count', out: 'path' }, usage)
  if (a === undefined) return 2
  await runLog({ quick: a.quick, ...defined({ rounds: a.rounds, outPath: a.out }) })
  return 0
}
