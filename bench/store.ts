/**
 * Store benchmark: ingest of a peer's signed history into the op log on disk, side by side with raw
 * node:sqlite inserts of the very same rows, and with decoding and validation alone in memory.
 *
 *   grapevine_ingest: for each batch as it came off the wire, decodeBatch + opLog.ingest (validation of
 *                     chain and signatures against the store's heads, inserts, head upsert, one
 *                     transaction per batch) into a fresh store file (WAL, synchronous = FULL, as the
 *                     store sets them);
 *   raw_sqlite:       the same rows (author, seq, hash, clock, kind, key, bytes, signature), already
 *                     decoded, inserted with one prepared INSERT into the same `ops` table of a fresh
 *                     store file (opLog.open makes the schema, so it cannot drift from op-log.ts), one
 *                     BEGIN IMMEDIATE ... COMMIT per 256 rows; nothing validated, no head kept: a floor;
 *   decode_validate:  decodeBatch + validateOps of the same batches against heads kept in memory: what
 *                     ingest pays before it touches SQLite. ingest - decode_validate (per round) is the
 *                     store's share;
 *   raw_sqlite_nosync: raw_sqlite with synchronous = OFF (not durable: a diagnostic, not a peer), so
 *                     raw_sqlite - raw_sqlite_nosync is what waiting for the disk costs.
 *
 * The history is several authors' realistic `fact.assert` ops (a discovery of ~100-200 characters, a
 * channel, tags, a TTL; every 4th op with an idempotency key), signed batch_head (the default scheme)
 * in batches of 256 ops and sent round-robin across authors, as a peer's catch-up would. Building and
 * signing it is untimed. Only the op log is measured: the knowledge views (facts, FTS, tasks...) are
 * not built yet and will add to ingest's cost; the issue's 20,000 ops/s target counts them.
 *
 * Timed runs are interleaved: every round runs every system once, in an order that rotates from round
 * to round, each on a fresh file in a fresh temp directory (removed right after), so a shared machine's
 * drift reaches all systems alike. Ratios are taken per round and reported as the median with min and
 * max; so are the raw figures. After every timed run the store is checked to hold every op.
 *
 * Usage: npm run bench -- store [--quick] [--rounds N] [--out PATH] [--dir DIR]
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { DatabaseSync } from 'node:sqlite'
import { fileURLToPath } from 'node:url'
import * as core from '../src/core/index.ts'
import * as log from '../src/log/index.ts'
import type { AuthorId, Draft, Hash, Head, LogView, SignedOp } from '../src/log/index.ts'
import { testSigner } from '../src/log/log.test-util.ts'
import { opLog } from '../src/store/index.ts'
import type { OpLog } from '../src/store/index.ts'
import { fullGc } from './lib/gc.ts'
import { describeMachine } from './lib/machine.ts'
import * as fmt from './lib/stats.ts'
import { summarize } from './lib/stats.ts'
import type { Summary } from './lib/stats.ts'

export const systems = ['grapevine_ingest', 'raw_sqlite', 'decode_validate', 'raw_sqlite_nosync'] as const
export type System = (typeof systems)[number]

/** One result: the JSON file is an array of these. Ratios and targets are rows of grapevine_ingest. */
export type Row = {
  readonly bench: 'store'
  readonly workload: string
  readonly system: System
  readonly metric: string
  readonly value: number
  readonly unit: string
}

export type Params = {
  readonly authors: number
  readonly opsPerAuthor: number
  /** ops per batch on the wire, and rows per raw transaction (<= log.batchOpsMax) */
  readonly batchOps: number
  /** every keyEvery-th op of an author carries an idempotency key */
  readonly keyEvery: number
  readonly rounds: number
}

export const fullParams: Params = { authors: 8, opsPerAuthor: 12_500, batchOps: 256, keyEvery: 4, rounds: 8 }
export const quickParams: Params = { authors: 4, opsPerAuthor: 600, batchOps: 256, keyEvery: 4, rounds: 1 }

/** Issue 3: ingest of signed ops from a peer (verify + store + views) at >= 20,000 ops/s ... */
export const ingestTargetOpsPerS = 20_000
/** ... and at >= 50% of raw node:sqlite batched-insert throughput of the same rows. */
export const rawRatioMin = 0.5

export type IngestFn = (s: OpLog, ops: readonly SignedOp[], nowMs: number) => opLog.IngestResult

export type StoreOptions = {
  readonly quick?: boolean
  readonly rounds?: number
  /** where the JSON goes; default bench/results/store.json (full run) or the OS temp dir (quick run) */
  readonly outPath?: string
  /** where the store files go (a directory is made inside and removed); default the OS temp dir */
  readonly dir?: string
  /** the ingest under test; default opLog.ingest (the smoke test plants a broken one) */
  readonly ingest?: IngestFn
  readonly log?: (line: string) => void
}

export type StoreResult = {
  readonly rows: Row[]
  readonly outPath: string
  readonly params: Params
  /** ops found in a store after a timed run, summed over runs */
  readonly checks: number
}

function assertBench(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(`bench store: ${msg}`)
}

// ---- the peer's history

export type AuthorHistory = {
  readonly author: AuthorId
  /** every op's hash, seq order: what a store that holds the history must hold */
  readonly hashes: readonly Hash[]
}

export type History = {
  /** encoded batch_head batches in the order a peer sends them (round-robin across authors) */
  readonly batches: readonly Uint8Array[]
  readonly ops: number
  readonly authors: readonly AuthorHistory[]
  /** the receiver's clock: a minute after the last op */
  readonly nowMs: number
  readonly wireBytes: number
  /** JSON.stringify length of the bodies */
  readonly bodyJsonBytes: Summary
  readonly opBytes: Summary
}

const t0Ms = 1_700_000_000_000

const subjects = [
  'Convex',
  'Postgres 16',
  'the CI runner',
  'Vercel preview deploys',
  'Redis',
  'the S3 client',
  'pnpm install',
  'Docker builds on arm64',
  'the auth service',
  'Kafka consumers',
  'Next.js 15',
  'the staging database',
] as const
const findings = [
  'cold-starts after 2h idle: the first request takes 30 s',
  'drops idle connections after 60 s without a keepalive',
  'needs --max-old-space-size=4096 for the full build',
  'times out on uploads over 100 MB unless multipart is on',
  'caches a stale lockfile between jobs',
  'rate-limits at 100 requests/s per API key',
  'ignores TZ and logs in local time',
  'rejects tokens older than 15 minutes',
  'runs migrations twice when two pods start together',
  'reorders messages across partitions after a rebalance',
] as const
const advice = [
  'warm it with a cron ping every 30 min',
  'set keepalive to 30 s',
  'pin the version in package.json',
  'retry with backoff (250 ms, x2, 5 tries)',
  'see runbook section 4.2',
  'clear ~/.cache before retrying',
  'take an advisory lock first',
  'always pass UTC',
] as const
const channels = ['discoveries', 'patterns', 'warnings'] as const
const tags = [
  'convex',
  'latency',
  'ci',
  'build',
  'auth',
  'postgres',
  'infra',
  'flaky',
  'memory',
  'network',
] as const

function pick<T>(p: core.Prng, xs: readonly T[]): T {
  return xs[core.prng.nextInt(p, xs.length)] as T
}

/** The i-th op of author a: a fact.assert body of ~150-300 bytes of JSON, from a seeded generator. */
function benchDraft(p: core.Prng, a: number, i: number, keyEvery: number): Draft {
  const id = core.prng.nextU32(p).toString(16).padStart(8, '0')
  const tagCount = 1 + core.prng.nextInt(p, 3)
  const ts = new Set<string>()
  while (ts.size < tagCount) ts.add(pick(p, tags))
  return {
    // authors write at once: their clocks interleave, 10 ms apart per op
    hlc: { wallMs: t0Ms + i * 10 + a, logical: 0 },
    kind: 'fact.assert',
    body: {
      fact_id: `f-${a}-${id}`,
      value: `${pick(p, subjects)} ${pick(p, findings)}; ${pick(p, advice)} (seen ${1 + core.prng.nextInt(p, 40)} times, build ${id.slice(0, 6)})`,
      channel: pick(p, channels),
      tags: [...ts],
      verified: core.prng.chance(p, 0.2),
      ttl_seconds: pick(p, [0, 86_400, 604_800]),
    },
    idempotencyKey: i % keyEvery === keyEvery - 1 ? `publish-${a}-${id}` : undefined,
  }
}

/** Builds and signs the peer's history: untimed. Deterministic (fixed keys and seed). */
export function peerHistory(p: Params): History {
  assertBench(p.batchOps >= 1 && p.batchOps <= log.batchOpsMax, `batchOps must be 1..${log.batchOpsMax}`)
  const prng = core.prng.create(0x5708e)
  const perAuthor: Uint8Array[][] = []
  const authors: AuthorHistory[] = []
  const bodyJson: number[] = []
  const opBytes: number[] = []
  for (let a = 0; a < p.authors; a++) {
    const signer = testSigner(a)
    const drafts = Array.from({ length: p.opsPerAuthor }, (_, i) => benchDraft(prng, a, i, p.keyEvery))
    for (const d of drafts) bodyJson.push(JSON.stringify(d.body).length)
    const created = log.createOps(signer.author, undefined, drafts)
    assertBench(created.ok, created.ok ? '' : created.detail)
    const batches: Uint8Array[] = []
    for (let i = 0; i < created.value.length; i += p.batchOps) {
      const chunk = created.value.slice(i, i + p.batchOps)
      // one chunk is at most batchOpsMax ops and far below batchBytesMax: signOps signs its last op only
      batches.push(log.encodeBatch(log.signOps(signer, chunk, 'batch_head'), 'batch_head'))
    }
    for (const e of created.value) opBytes.push(e.bytes.length)
    perAuthor.push(batches)
    authors.push({ author: signer.author, hashes: created.value.map((e) => e.hash) })
  }
  const batches: Uint8Array[] = []
  const most = Math.max(...perAuthor.map((b) => b.length))
  for (let k = 0; k < most; k++) for (const b of perAuthor) if (k < b.length) batches.push(b[k] as Uint8Array)
  return {
    batches,
    ops: p.authors * p.opsPerAuthor,
    authors,
    nowMs: t0Ms + p.opsPerAuthor * 10 + 60_000,
    wireBytes: batches.reduce((n, b) => n + b.length, 0),
    bodyJsonBytes: summarize(bodyJson),
    opBytes: summarize(opBytes),
  }
}

// ---- the three systems

function decodeOk(bytes: Uint8Array): readonly SignedOp[] {
  const d = log.decodeBatch(bytes)
  if (!d.ok) throw new Error(`bench store: a batch does not decode (${d.reason}: ${d.detail})`)
  return d.value.ops
}

/**
 * grapevine_ingest: every batch decoded and ingested, in wire order. Throws if a batch is refused or
 * stores less than it holds, so a broken validator cannot pass for a fast one.
 */
export function ingestRun(s: OpLog, h: History, ingest: IngestFn = opLog.ingest): void {
  for (const b of h.batches) {
    const ops = decodeOk(b)
    const v = ingest(s, ops, h.nowMs)
    if (!v.ok) throw new Error(`bench store: ingest refused a batch (${v.reason}: ${v.detail})`)
    assertBench(v.ops.length === ops.length, `ingest took ${v.ops.length} of a batch's ${ops.length} new ops`)
  }
}

/** decode_validate: the same batches through decodeBatch + validateOps against heads in memory. */
export function decodeValidateRun(h: History): number {
  const heads = new Map<AuthorId, Head>()
  const view: LogView = { head: (author) => heads.get(author) }
  let n = 0
  for (const b of h.batches) {
    const v = log.validateOps(decodeOk(b), view, { nowMs: h.nowMs })
    if (!v.ok) throw new Error(`bench store: a batch was refused (${v.reason}: ${v.detail})`)
    heads.set(v.author, v.head)
    n += v.ops.length
  }
  assertBench(n === h.ops, `validated ${n} of ${h.ops} ops`)
  return n
}

/** One ops row as the store writes it (op-log.ts insertOp), in its column order. */
export type RawRow = readonly [
  author: string,
  seq: number,
  hash: Uint8Array,
  wallMs: number,
  logical: number,
  kind: string,
  idempotencyKey: string | null,
  bytes: Uint8Array,
  sig: Uint8Array | null,
]

/** The history's rows, batch by batch, decoded ahead (untimed): raw_sqlite's input. */
export function rawRows(h: History): RawRow[][] {
  return h.batches.map((b) =>
    decodeOk(b).map((e): RawRow => {
      const o = e.op
      return [
        o.author,
        o.seq,
        e.hash,
        o.hlc.wallMs,
        o.hlc.logical,
        o.kind,
        o.idempotencyKey ?? null,
        e.bytes,
        e.sig ?? null,
      ]
    }),
  )
}

const insertSql =
  'INSERT INTO ops (author, seq, hash, wall_ms, logical, kind, idempotency_key, bytes, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'

/** raw_sqlite: one prepared INSERT per row, one transaction per batch of rows, nothing else. */
export function rawRun(db: DatabaseSync, batches: readonly (readonly RawRow[])[]): void {
  const insert = db.prepare(insertSql)
  for (const rows of batches) {
    db.exec('BEGIN IMMEDIATE')
    for (const r of rows) insert.run(...r)
    db.exec('COMMIT')
  }
}

/**
 * Checks that a store holds the whole history: the op count, every author's head (seq and hash), and
 * with `deep` every stored op's hash (recomputed from its stored bytes). Throws on the first
 * difference; returns the ops accounted for.
 */
export function checkStore(s: OpLog, h: History, opts: { deep?: boolean } = {}): number {
  const count = opLog.opCount(s)
  assertBench(count === h.ops, `the store holds ${count} of ${h.ops} ops after ingest`)
  for (const a of h.authors) {
    const head = opLog.head(s, a.author)
    const want = a.hashes.length
    assertBench(
      head?.seq === want,
      `author ${a.author.slice(0, 8)}: head at seq ${head?.seq}, expected ${want}`,
    )
    assertBench(core.codec.bytesEqual(head.hash, a.hashes[want - 1] as Hash), 'a head has the wrong hash')
    if (opts.deep === true) {
      let seq = 0
      for (;;) {
        const page = opLog.opsAfter(s, a.author, seq, 1024)
        if (page.length === 0) break
        for (const e of page) {
          assertBench(e.op.seq === seq + 1, `author ${a.author.slice(0, 8)}: seq ${e.op.seq} after ${seq}`)
          assertBench(core.codec.bytesEqual(e.hash, a.hashes[seq] as Hash), `op seq ${e.op.seq} differs`)
          seq++
        }
      }
      assertBench(seq === want, `author ${a.author.slice(0, 8)}: ${seq} of ${want} ops read back`)
    }
  }
  return count
}

/** The raw table holds every row: count and highest seq per author. */
function checkRaw(db: DatabaseSync, h: History): number {
  const got = db.prepare('SELECT author, count(*) AS n, max(seq) AS top FROM ops GROUP BY author').all() as {
    author: string
    n: number
    top: number
  }[]
  const want = new Map(h.authors.map((a) => [a.author as string, a.hashes.length]))
  assertBench(got.length === want.size, `raw table has ${got.length} authors, expected ${want.size}`)
  for (const r of got)
    assertBench(r.n === want.get(r.author) && r.top === r.n, `raw table: author has ${r.n} rows`)
  return got.reduce((n, r) => n + r.n, 0)
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0)
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  const n = by % xs.length
  return [...xs.slice(n), ...xs.slice(0, n)]
}

/** Opens a fresh store, checking that it runs with the durability the store promises. */
function openFresh(dir: string): OpLog {
  const r = opLog.open(join(dir, 'store.db'))
  assertBench(r.ok, r.ok ? '' : r.detail)
  const s = r.value
  const mode = (s.db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode
  const sync = (s.db.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous
  assertBench(
    mode === 'wal' && sync === 2,
    `store runs journal_mode=${mode}, synchronous=${sync}; expected wal, 2 (FULL)`,
  )
  return s
}

type Sample = { readonly opsPerS: number; readonly diskBytes?: number }

export async function runStore(opts: StoreOptions = {}): Promise<StoreResult> {
  const quick = opts.quick ?? false
  const p: Params = {
    ...(quick ? quickParams : fullParams),
    ...(opts.rounds === undefined ? {} : { rounds: opts.rounds }),
  }
  const say = opts.log ?? ((line: string) => console.log(line))
  const outPath =
    opts.outPath ??
    (quick
      ? join(tmpdir(), 'grapevine-bench-store.quick.json')
      : fileURLToPath(new URL('results/store.json', import.meta.url)))
  const ingest = opts.ingest ?? opLog.ingest
  const base = mkdtempSync(join(opts.dir ?? tmpdir(), 'grapevine-bench-store-'))
  const rows: Row[] = []
  let checks = 0
  const row = (workload: string, system: System, metric: string, value: number, unit: string): void => {
    assertBench(Number.isFinite(value), `${workload}/${system}/${metric} is not a finite number: ${value}`)
    rows.push({ bench: 'store', workload, system, metric, value, unit })
  }
  const started = performance.now()
  const at = (): string => `${((performance.now() - started) / 1000).toFixed(0)} s`
  try {
    say(`store benchmark${quick ? ' (--quick smoke run: tiny sizes, 1 round; figures mean nothing)' : ''}`)
    for (const line of describeMachine([])) if (!line.startsWith('peers:')) say(`  ${line}`)
    const probeDir = mkdtempSync(join(base, 'probe-'))
    const probe = openFresh(probeDir)
    const sqliteVersion = (probe.db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v
    opLog.close(probe)
    rmSync(probeDir, { recursive: true, force: true })
    say(`  sqlite: ${sqliteVersion} (node:sqlite); files in ${base} (fresh per run, removed after)`)

    const t = performance.now()
    const h = peerHistory(p)
    const raw = rawRows(h)
    const n = h.ops
    say(
      `  history: ${p.authors} authors x ${p.opsPerAuthor} ops = ${n} fact.assert ops, signed batch_head in ` +
        `${h.batches.length} batches of <= ${p.batchOps}, sent round-robin; every ${p.keyEvery}th op has an idempotency key`,
    )
    say(
      `  sizes: body JSON ${h.bodyJsonBytes.median} B [${h.bodyJsonBytes.min}..${h.bodyJsonBytes.max}], op ` +
        `${h.opBytes.median} B [${h.opBytes.min}..${h.opBytes.max}], on the wire ${(h.wireBytes / n).toFixed(1)} B/op ` +
        `(built and signed untimed in ${((performance.now() - t) / 1000).toFixed(1)} s)`,
    )
    say('  grapevine_ingest: decodeBatch + opLog.ingest per batch into a fresh store (WAL, synchronous=FULL)')
    say('  raw_sqlite:       the same rows, pre-decoded, one prepared INSERT each, a transaction per batch')
    say('  decode_validate:  decodeBatch + validateOps against heads in memory (no SQLite)')
    say('  raw_sqlite_nosync: raw_sqlite with synchronous=OFF: not durable, a diagnostic of disk waits')
    say('  NOTE: this measures the op log only; the knowledge views are not built yet and will add cost.')
    say(`  rounds: ${p.rounds} (interleaved, order rotating); figures are medians [min..max]`)
    say('')

    const samples = new Map<System, Sample[]>(systems.map((s) => [s, []]))
    const runOnce = (system: System, deep: boolean): Sample => {
      if (system === 'decode_validate') {
        fullGc()
        const t0 = performance.now()
        decodeValidateRun(h)
        return { opsPerS: (n / (performance.now() - t0)) * 1000 }
      }
      const dir = mkdtempSync(join(base, `${system}-`))
      try {
        const s = openFresh(dir)
        if (system === 'raw_sqlite_nosync') s.db.exec('PRAGMA synchronous = OFF')
        let ms: number
        try {
          fullGc()
          const t0 = performance.now()
          if (system === 'grapevine_ingest') ingestRun(s, h, ingest)
          else rawRun(s.db, raw) // raw_sqlite and raw_sqlite_nosync
          ms = performance.now() - t0
          checks += system === 'grapevine_ingest' ? checkStore(s, h, { deep }) : checkRaw(s.db, h)
          if (deep && system === 'grapevine_ingest') {
            const ic = opLog.integrityCheck(s)
            assertBench(ic.length === 1 && ic[0] === 'ok', `integrity_check: ${ic.join('; ')}`)
          }
        } finally {
          opLog.close(s) // the last connection checkpoints the WAL into the file and removes it
        }
        return { opsPerS: (n / ms) * 1000, diskBytes: dirBytes(dir) }
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }

    say('warming up ...')
    for (const s of systems) runOnce(s, true) // also the deep check: every op read back, integrity_check
    for (let round = 0; round < p.rounds; round++) {
      say(`round ${round + 1}/${p.rounds} ... (at ${at()})`)
      for (const s of rotate(systems, round)) (samples.get(s) as Sample[]).push(runOnce(s, false))
    }

    // ---- throughput and disk
    const ops = (s: System): number[] => (samples.get(s) as Sample[]).map((x) => x.opsPerS)
    const usPerOp = (s: System): number[] => ops(s).map((x) => 1e6 / x)
    const table: string[][] = []
    const sums = new Map<System, Summary>()
    for (const s of systems) {
      const sm = summarize(ops(s))
      sums.set(s, sm)
      row('peer_history', s, 'ops_per_s', sm.median, 'ops/s')
      row('peer_history', s, 'ops_per_s_min', sm.min, 'ops/s')
      row('peer_history', s, 'ops_per_s_max', sm.max, 'ops/s')
      row('peer_history', s, 'us_per_op', summarize(usPerOp(s)).median, 'us')
      row('peer_history', s, 'rounds', sm.n, 'rounds')
      const disk = (samples.get(s) as Sample[]).flatMap((x) =>
        x.diskBytes === undefined ? [] : [x.diskBytes],
      )
      const diskPerOp = disk.length > 0 ? summarize(disk).median / n : undefined
      if (diskPerOp !== undefined) row('peer_history', s, 'disk_bytes_per_op', diskPerOp, 'bytes')
      table.push([
        s,
        fmt.si(sm.median),
        `${fmt.si(sm.min)}..${fmt.si(sm.max)}`,
        (1e6 / sm.median).toFixed(1),
        diskPerOp === undefined ? '(in memory)' : diskPerOp.toFixed(1),
      ])
    }
    row('peer_history', 'grapevine_ingest', 'wire_bytes_per_op', h.wireBytes / n, 'bytes')
    say('')
    say(
      `${n} ops per run; disk = store file after close (WAL checkpointed), per op; wire ${(h.wireBytes / n).toFixed(1)} B/op`,
    )
    say(fmt.table(['system', 'ops/s', '[min..max]', 'us/op', 'disk B/op'], table))

    // ---- side by side: per round
    const ing = ops('grapevine_ingest')
    const rawOps = ops('raw_sqlite')
    const vsRaw = summarize(ing.map((x, i) => x / (rawOps[i] as number)))
    row('peer_history', 'grapevine_ingest', 'ratio_vs_raw_sqlite', vsRaw.median, 'x')
    row('peer_history', 'grapevine_ingest', 'ratio_vs_raw_sqlite_min', vsRaw.min, 'x')
    row('peer_history', 'grapevine_ingest', 'ratio_vs_raw_sqlite_max', vsRaw.max, 'x')
    say('')
    say(
      `ingest / raw_sqlite, per round: ${fmt.ratio(vsRaw.median)} [${fmt.ratio(vsRaw.min)}..${fmt.ratio(vsRaw.max)}]`,
    )

    // ---- where ingest's time goes, per round: decode+validate measured alone, the rest is SQLite; of
    // that, raw_sqlite does the same inserts, raw_sqlite_nosync the same without waiting for the disk
    const usIng = usPerOp('grapevine_ingest')
    const usDv = usPerOp('decode_validate')
    const usRaw = usPerOp('raw_sqlite')
    const usNosync = usPerOp('raw_sqlite_nosync')
    const perRound = (f: (i: number) => number): Summary => summarize(usIng.map((_, i) => f(i)))
    const atRound = (xs: number[], i: number): number => xs[i] as number
    const parts: [string, string, System, Summary][] = [
      ['ingest, total', 'total_us_per_op', 'grapevine_ingest', summarize(usIng)],
      ['  decode + validate (in memory, measured alone)', 'us_per_op', 'decode_validate', summarize(usDv)],
      [
        '  SQLite (ingest - decode_validate)',
        'store_us_per_op',
        'grapevine_ingest',
        perRound((i) => atRound(usIng, i) - atRound(usDv, i)),
      ],
      [
        '    inserts, not waiting for the disk (raw_sqlite_nosync)',
        'us_per_op',
        'raw_sqlite_nosync',
        summarize(usNosync),
      ],
      [
        '    waiting for durable writes (raw_sqlite - raw_sqlite_nosync)',
        'disk_wait_us_per_op',
        'raw_sqlite',
        perRound((i) => atRound(usRaw, i) - atRound(usNosync, i)),
      ],
      [
        '    the store beyond raw inserts (head reads and upserts, row binding)',
        'store_over_raw_us_per_op',
        'grapevine_ingest',
        perRound((i) => atRound(usIng, i) - atRound(usDv, i) - atRound(usRaw, i)),
      ],
    ]
    const total = summarize(usIng).median
    const pct = (x: number): string => `${((x / total) * 100).toFixed(0)}%`
    const span = (x: Summary): string => `${x.min.toFixed(1)}..${x.max.toFixed(1)}`
    for (const [, metric, system, sm] of parts) row('cost_split', system, metric, sm.median, 'us')
    say('')
    say('where ingest time goes, us per op (medians of per-round figures; shares of the ingest median):')
    say(
      fmt.table(
        ['part', 'us/op', '[min..max]', 'share'],
        parts.map(([text, , , sm]) => [text, sm.median.toFixed(1), span(sm), pct(sm.median)]),
      ),
    )

    // ---- targets
    const ingMedian = (sums.get('grapevine_ingest') as Summary).median
    const targets = [
      {
        id: 'ingest_ops_per_s',
        text: 'ingest ops/s (op log only: views not built yet)',
        value: ingMedian,
        bound: ingestTargetOpsPerS,
        shown: fmt.si(ingMedian),
        needed: `>= ${fmt.si(ingestTargetOpsPerS)}`,
      },
      {
        id: 'ingest_vs_raw_sqlite',
        text: 'ingest / raw_sqlite, same rows, same run',
        value: vsRaw.median,
        bound: rawRatioMin,
        shown: fmt.ratio(vsRaw.median),
        needed: `>= ${fmt.ratio(rawRatioMin)}`,
      },
    ]
    const targetTable: string[][] = []
    for (const tg of targets) {
      const met = tg.value >= tg.bound
      row('targets', 'grapevine_ingest', tg.id, tg.value, tg.id.endsWith('per_s') ? 'ops/s' : 'x')
      row('targets', 'grapevine_ingest', `${tg.id}_bound`, tg.bound, tg.id.endsWith('per_s') ? 'ops/s' : 'x')
      row('targets', 'grapevine_ingest', `${tg.id}_met`, met ? 1 : 0, 'bool')
      targetTable.push([tg.text, tg.shown, tg.needed, met ? 'met' : 'MISSED'])
    }
    say('')
    say('targets of issue 3, on medians:')
    say(fmt.table(['target', 'measured', 'needed', 'result'], targetTable))
    say('')

    mkdirSync(dirname(outPath), { recursive: true })
    writeFileSync(outPath, `${JSON.stringify(rows, null, 2)}\n`)
    say(
      `${rows.length} rows written to ${outPath}; ${checks} stored ops checked; ${((performance.now() - started) / 1000).toFixed(1)} s`,
    )
    return { rows, outPath, params: p, checks }
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
}

const usage = 'usage: npm run bench -- store [--quick] [--rounds N] [--out PATH] [--dir DIR]'

/** Entry point for bench/run.ts; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let quick = false
  let rounds: number | undefined
  let outPath: string | undefined
  let dir: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick') quick = true
    else if (a === '--rounds' && /^[1-9][0-9]*$/.test(argv[i + 1] ?? '')) rounds = Number(argv[++i])
    else if (a === '--out' && argv[i + 1] !== undefined) outPath = argv[++i]
    else if (a === '--dir' && argv[i + 1] !== undefined) dir = argv[++i]
    else {
      process.stderr.write(`bench store: unknown or incomplete argument ${JSON.stringify(a)}\n${usage}\n`)
      return 2
    }
  }
  await runStore({
    quick,
    ...(rounds === undefined ? {} : { rounds }),
    ...(outPath === undefined ? {} : { outPath }),
    ...(dir === undefined ? {} : { dir }),
  })
  return 0
}
