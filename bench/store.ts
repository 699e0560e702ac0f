/**
 * Store benchmark: ingest of a peer's signed history into the store on disk (op log AND knowledge
 * views), side by side with raw node:sqlite inserts of the very same rows, and with the in-memory
 * parts of ingest alone.
 *
 *   grapevine_ingest: for each message as it came off the wire, decodeBatch of its batches +
 *                     opLog.ingestMany into a fresh store file (WAL, synchronous = FULL, as the store sets
 *                     them), as the daemon takes an anti-entropy message: chain and batch-head signature
 *                     checked against the store's heads, every body checked (knowledge parseOp), the ops
 *                     inserted, the head upserted, and the views kept (views-write.ts applyOps:
 *                     op_entity, idempotency, entities, versions + FTS rows, and for an entity touched
 *                     before, its rows deleted and derived again), one transaction per message;
 *   raw_sqlite:       the same rows as plain INSERTs with prepared statements into the same tables of a
 *                     fresh store file (opLog.open makes the schema, indexes included, and sets the same
 *                     pragmas, so it cannot drift): every op row as the store holds it (with its author's
 *                     row in `authors`, in the batch of the author's first op), and every view row ingest
 *                     leaves at the end (read back from an untimed
 *                     ingest of the same history: rawPlan), each inserted once, in the batch of the op
 *                     that made it, one BEGIN IMMEDIATE ... COMMIT per message (the same commits as
 *                     ingest). Nothing validated, derived,
 *                     read, deleted or upserted, no head kept, no metrics counter: a floor;
 *   decode_validate:  decodeBatch + validateOps of the same batches against heads kept in memory;
 *   decode_validate_parse: the same, plus every body through the knowledge check (parseOpOnce), as
 *                     ingest does: what ingest pays before it touches SQLite. ingest -
 *                     decode_validate_parse (per round) is the views' and SQLite's share;
 *   raw_sqlite_nosync: raw_sqlite with synchronous = OFF (not durable: a diagnostic, not a peer), so
 *                     raw_sqlite - raw_sqlite_nosync is what waiting for the disk costs.
 *
 * The history is several authors' ops, signed batch_head (the default scheme) in batches of 256 ops
 * and sent round-robin across authors, as a peer's catch-up would, in the messages of the daemon's
 * anti-entropy stream (gossip antiEntropyDefaults: the first of at most messageBytesMax, 64 KiB, each next
 * one twice the budget of the one before, up to streamBytesMax, 1 MiB: consecutive batches while they
 * fit, a batch over the budget alone, as anti-entropy sends an oversize run); the mix (benchDraft) is 70% channel
 * entries (~150-280 bytes of body JSON), 15% keyed facts that mostly rewrite one of the author's 64
 * facts (superseding its previous version), 5% status.set, 5% task ops, 5% counter.add, every body
 * valid. Building and signing it is untimed.
 *
 * Canaries: after every timed run the store is checked to hold every op (checkStore) and the views
 * what the history must make (checkViews: a versions row per live version, an FTS match of a planted
 * word for exactly the entries that carry it, an op_entity row per op, the rewrites, tasks, statuses,
 * counters), raw_sqlite's files too. The smoke test plants an ingest that stores nothing and one that
 * skips the views; both must stop the benchmark.
 *
 * Timed runs are interleaved: every round runs every system once, in an order that rotates from round
 * to round, each on a fresh file in a fresh temp directory (removed right after), so a shared machine's
 * drift reaches all systems alike. Ratios are taken per round and reported as the median with min and
 * max; so are the raw figures.
 *
 * Usage: npm run bench -- store [--quick] [--rounds N] [--out PATH] [--dir DIR] [--message-bytes N]
 *        [--stream-bytes N] [--batch-ops N] [--per-batch]
 * (--message-bytes: the first message's budget; --stream-bytes: the most a message grows to, default the
 * daemon's, or --message-bytes when only that is given (messages of one fixed size); --batch-ops: ops per
 * signed batch, default 256; --per-batch: one transaction per batch, as before group commit, for ingest
 * and raw alike: run it beside the default to see what group commit saves.)
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { DatabaseSync, SQLInputValue, SQLOutputValue, StatementSync } from 'node:sqlite'
import { fileURLToPath } from 'node:url'
import * as core from '../src/core/index.ts'
import { antiEntropy } from '../src/gossip/index.ts'
import * as log from '../src/log/index.ts'
import type { Json } from '../src/core/index.ts'
import * as knowledge from '../src/knowledge/index.ts'
import type { AuthorId, Draft, Hash, Head, LogView, SignedOp } from '../src/log/index.ts'
import { testSigner } from '../src/log/log.test-util.ts'
import { opLog } from '../src/store/index.ts'
import type { OpLog } from '../src/store/index.ts'
import * as fts from '../src/store/fts.ts'
import { fullGc } from './lib/gc.ts'
import { describeMachine } from './lib/machine.ts'
import * as fmt from './lib/stats.ts'
import { summarize } from './lib/stats.ts'
import type { Summary } from './lib/stats.ts'
import { defined, parseBenchArgs } from './lib/args.ts'
import { tagNames } from './lib/corpus.ts'

export const systems = [
  'grapevine_ingest',
  'raw_sqlite',
  'decode_validate',
  'decode_validate_parse',
  'raw_sqlite_nosync',
] as const
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
  /** a message's byte budget: batches travel (and are ingested, one transaction each) in messages of this size */
  readonly messageBytes: number
  /** ... growing (doubling per message) up to this: the daemon's backlog stream */
  readonly streamBytes: number
  readonly rounds: number
}

/** The daemon's anti-entropy budgets (it passes none of its own): a stream's first message, and its most. */
export const daemonMessageBytes = antiEntropy.antiEntropyDefaults.messageBytesMax
export const daemonStreamBytes = antiEntropy.antiEntropyDefaults.streamBytesMax
const daemonBudgets = { messageBytes: daemonMessageBytes, streamBytes: daemonStreamBytes }
export const fullParams: Params = { authors: 8, opsPerAuthor: 12_500, batchOps: 256, keyEvery: 4, ...daemonBudgets, rounds: 8 }
export const quickParams: Params = { authors: 4, opsPerAuthor: 600, batchOps: 256, keyEvery: 4, ...daemonBudgets, rounds: 1 }

/** Issue 3: ingest of signed ops from a peer (verify + store + views) at >= 20,000 ops/s ... */
export const ingestTargetOpsPerS = 20_000
/** ... and at >= 50% of raw node:sqlite batched-insert throughput of the same rows. */
export const rawRatioMin = 0.5

/** The ingest under test: the batches of one message, one result per batch (opLog.ingestMany). */
export type IngestFn = (s: OpLog, batches: readonly (readonly SignedOp[])[], nowMs: number) => opLog.IngestResult[]

export type StoreOptions = {
  readonly quick?: boolean
  readonly rounds?: number
  /** where the JSON goes; default bench/results/store.json (full run) or the OS temp dir (quick run) */
  readonly outPath?: string
  /** where the store files go (a directory is made inside and removed); default the OS temp dir */
  readonly dir?: string
  /** the ingest under test; default opLog.ingestMany (the smoke test plants a broken one) */
  readonly ingest?: IngestFn
  /** the message budget; default the daemon's (daemonMessageBytes) */
  readonly messageBytes?: number
  /** the most a message grows to; default the daemon's, or messageBytes when only that is given */
  readonly streamBytes?: number
  /** ops per signed batch; default 256 */
  readonly batchOps?: number
  /** every batch its own message (one transaction per batch, ingest's and raw's): what group commit saves */
  readonly perBatch?: boolean
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

/** What the views of the whole history must hold (counted while generating): the views canary. */
export type ViewExpect = {
  /** fact.assert ops */
  readonly asserts: number
  /** live versions: one versions row each (every entry, the last version of every keyed fact) */
  readonly live: number
  /** of them, channel entries: one full-text row each */
  readonly entries: number
  /** entries whose text carries the planted word: what a full-text match of it must count */
  readonly planted: number
  /** keyed facts' asserts that supersede the author's previous version of the fact */
  readonly superseding: number
  /** keyed facts written more than once: their live version supersedes the one before */
  readonly rewritten: number
  readonly tasks: number
  readonly statuses: number
  /** (name, author) pairs of counter.add ops */
  readonly counterRows: number
  /** ops by kind */
  readonly byKind: Readonly<Record<string, number>>
}

export type History = {
  /** encoded batch_head batches in the order a peer sends them (round-robin across authors) */
  readonly batches: readonly Uint8Array[]
  /** the messages they travel in: indexes into batches, consecutive (packMessages) */
  readonly messages: readonly (readonly number[])[]
  readonly ops: number
  readonly authors: readonly AuthorHistory[]
  /** the receiver's clock: a minute after the last op */
  readonly nowMs: number
  readonly wireBytes: number
  /** JSON.stringify length of the bodies */
  readonly bodyJsonBytes: Summary
  readonly opBytes: Summary
  readonly expect: ViewExpect
}

const t0Ms = 1_700_000_000_000

/** A word no generated text holds except where it is planted (every plantEvery-th entry). */
export const plantedWord = 'zanzibarite'
const plantEvery = 37

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
const channelNames = ['discoveries', 'patterns', 'warnings'] as const
/** The first ten tags of the search benchmark's vocabulary: one list of tag names for every bench. */
const tags = tagNames.slice(0, 10)
const attributes = ['endpoint', 'owner', 'timeout_ms', 'region', 'version', 'max_connections'] as const
const healthNames = ['ok', 'ok', 'ok', 'degraded', 'blocked'] as const
const counterNames = ['builds', 'deploys', 'retries', 'incidents'] as const
/** Keyed facts per author: each is rewritten (superseding its last version) about every 64th keyed op. */
const keyedFacts = 64

function pick<T>(p: core.Prng, xs: readonly T[]): T {
  return xs[core.prng.nextInt(p, xs.length)] as T
}

/** One author's generator state: its keyed facts' last versions, its tasks, its counters. */
type AuthorGen = {
  readonly a: number
  readonly author: AuthorId
  /** fact_id -> seq of the author's last version of it */
  readonly lastVersion: Map<string, number>
  /** fact_ids written more than once */
  readonly rewritten: Set<string>
  /** tasks created and not done yet, with whether claimed */
  readonly open: { id: string; claimed: boolean }[]
  tasks: number
  readonly counters: Set<string>
}

type Counts = {
  asserts: number
  entries: number
  planted: number
  superseding: number
  tasks: number
  byKind: Map<string, number>
}

function entryText(p: core.Prng, id: string, plant: boolean): string {
  const s = `${pick(p, subjects)} ${pick(p, findings)}; ${pick(p, advice)} (seen ${1 + core.prng.nextInt(p, 40)} times, build ${id.slice(0, 6)})`
  return plant ? `${s} ${plantedWord}` : s
}

/**
 * The op at seq of one author, from a seeded generator. The mix, per op: 70% channel entries (a
 * discovery of ~100-200 characters as a string value, a channel, 1-3 tags, a TTL of a day or a week on
 * two thirds, every keyEvery-th with an idempotency key), 15% keyed facts (64 per author; a rewrite
 * supersedes the author's previous version, so that fact's rows are re-derived), 5% status.set, 5%
 * task ops (create, then claim, then done) and 5% counter.add. Every body is valid (parseOp accepts it;
 * the views canary checks the rows it must make).
 */
function benchDraft(p: core.Prng, g: AuthorGen, seq: number, keyEvery: number, c: Counts): Draft {
  const i = seq - 1
  const hlc = { wallMs: t0Ms + i * 10 + g.a, logical: 0 } // authors write at once, 10 ms apart per op
  const id = core.prng.nextU32(p).toString(16).padStart(8, '0')
  const r = core.prng.nextFloat(p)
  let kind: string
  let body: Json
  let idempotencyKey: string | undefined
  if (r < 0.7) {
    const tagCount = 1 + core.prng.nextInt(p, 3)
    const ts = new Set<string>()
    while (ts.size < tagCount) ts.add(pick(p, tags))
    const ttl = pick(p, [undefined, 86_400, 604_800])
    const plant = c.entries % plantEvery === 0
    kind = 'fact.assert'
    body = {
      value: entryText(p, id, plant),
      supersedes: [],
      verified: core.prng.chance(p, 0.2),
      channel: pick(p, channelNames),
      tags: [...ts],
      ...(ttl === undefined ? {} : { ttl_seconds: ttl }),
    }
    if (i % keyEvery === keyEvery - 1) idempotencyKey = `publish-${g.a}-${id}`
    c.entries++
    if (plant) c.planted++
    c.asserts++
  } else if (r < 0.85) {
    const k = core.prng.nextInt(p, keyedFacts)
    const subject = (subjects[k % subjects.length] as string).toLowerCase().replaceAll(' ', '-')
    // the author's own keys: concurrent writers of one key (conflicts) are not this benchmark's subject
    const factId = `agent-${g.a}/${subject}/${attributes[k % attributes.length] as string}#${k}`
    const prev = g.lastVersion.get(factId)
    kind = 'fact.assert'
    body = {
      fact_id: factId,
      value: { setting: pick(p, findings).slice(0, 40), n: core.prng.nextInt(p, 10_000), by: `agent-${g.a}` },
      supersedes: prev === undefined ? [] : [knowledge.formatDot({ node: g.author, seq: prev })],
      verified: core.prng.chance(p, 0.3),
      causal_id: `session-${g.a}-${Math.floor(i / 100)}`,
    }
    g.lastVersion.set(factId, seq)
    if (prev !== undefined) {
      c.superseding++
      g.rewritten.add(factId)
    }
    c.asserts++
  } else if (r < 0.9) {
    kind = 'status.set'
    body = {
      text: `${pick(p, ['building', 'testing', 'reviewing', 'deploying'])} ${pick(p, subjects)}`,
      health: pick(p, healthNames),
      working_on: `task-${g.a}-${g.tasks}`,
    }
  } else if (r < 0.95) {
    const t = g.open.length > 0 && core.prng.chance(p, 0.6) ? g.open[0] : undefined
    if (t === undefined) {
      const taskId = `task-${g.a}-${g.tasks++}`
      const prior = g.open[g.open.length - 1]
      kind = 'task.create'
      body = {
        task_id: taskId,
        title: `Fix: ${pick(p, subjects)} ${pick(p, findings)}`,
        depends: prior === undefined ? [] : [prior.id],
      }
      g.open.push({ id: taskId, claimed: false })
      c.tasks++
    } else if (!t.claimed) {
      kind = 'task.claim'
      body = { task_id: t.id }
      t.claimed = true
    } else {
      kind = 'task.done'
      body = { task_id: t.id, result: { ok: true, note: pick(p, advice) } }
      g.open.shift()
    }
  } else {
    const name = pick(p, counterNames)
    kind = 'counter.add'
    body = { name, n: core.prng.chance(p, 0.9) ? 1 + core.prng.nextInt(p, 5) : -1 }
    g.counters.add(name)
  }
  c.byKind.set(kind, (c.byKind.get(kind) ?? 0) + 1)
  return { hlc, kind, body, idempotencyKey }
}

/** Builds and signs the peer's history: untimed. Deterministic (fixed keys and seed). */
export function peerHistory(p: Params): History {
  assertBench(p.batchOps >= 1 && p.batchOps <= log.batchOpsMax, `batchOps must be 1..${log.batchOpsMax}`)
  const prng = core.prng.create(0x5708e)
  const perAuthor: Uint8Array[][] = []
  const authors: AuthorHistory[] = []
  const bodyJson: number[] = []
  const opBytes: number[] = []
  const c: Counts = { asserts: 0, entries: 0, planted: 0, superseding: 0, tasks: 0, byKind: new Map() }
  let statuses = 0
  let counterRows = 0
  let keyed = 0
  let rewritten = 0
  for (let a = 0; a < p.authors; a++) {
    const signer = testSigner(a)
    const g: AuthorGen = {
      a,
      author: signer.author,
      lastVersion: new Map(),
      rewritten: new Set(),
      open: [],
      tasks: 0,
      counters: new Set(),
    }
    const drafts = Array.from({ length: p.opsPerAuthor }, (_, i) => benchDraft(prng, g, i + 1, p.keyEvery, c))
    if (drafts.some((d) => d.kind === 'status.set')) statuses++
    counterRows += g.counters.size
    keyed += g.lastVersion.size
    rewritten += g.rewritten.size
    for (const d of drafts) bodyJson.push(JSON.stringify(d.body).length)
    const created = log.createOps(signer.author, undefined, drafts)
    assertBench(created.ok, created.ok ? '' : created.detail)
    for (const e of created.value) {
      const r = knowledge.parseOp(e.op)
      assertBench(r.ok, r.ok ? '' : `the generator made an invalid body: ${r.detail}`)
    }
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
    messages: packMessages(batches, p.messageBytes, p.streamBytes),
    ops: p.authors * p.opsPerAuthor,
    authors,
    nowMs: t0Ms + p.opsPerAuthor * 10 + 60_000,
    wireBytes: batches.reduce((n, b) => n + b.length, 0),
    bodyJsonBytes: summarize(bodyJson),
    opBytes: summarize(opBytes),
    expect: {
      asserts: c.asserts,
      live: c.entries + keyed,
      entries: c.entries,
      planted: c.planted,
      superseding: c.superseding,
      rewritten,
      tasks: c.tasks,
      statuses,
      counterRows,
      byKind: Object.fromEntries(c.byKind),
    },
  }
}

/**
 * Batches in wire order packed into messages as anti-entropy fills a delta: consecutive batches while
 * their bytes (with the delta's framing) fit the budget; a batch over the budget travels alone.
 */
export function packMessages(batches: readonly Uint8Array[], messageBytes: number, streamBytes = messageBytes): number[][] {
  // the budget of the stream's next message: messageBytes, then doubling up to streamBytes
  let grown = messageBytes
  let budget = grown - antiEntropy.messageOverheadBytes
  const out: number[][] = []
  let cur: number[] = []
  let used = 0
  batches.forEach((b, k) => {
    const size = b.length + antiEntropy.batchFramingBytes
    if (cur.length > 0 && used + size > budget) {
      out.push(cur)
      cur = []
      used = 0
      grown = Math.min(streamBytes, grown * 2)
      budget = grown - antiEntropy.messageOverheadBytes
    }
    cur.push(k)
    used += size
  })
  if (cur.length > 0) out.push(cur)
  return out
}

// ---- the systems

function decodeOk(bytes: Uint8Array): readonly SignedOp[] {
  const d = log.decodeBatch(bytes)
  if (!d.ok) throw new Error(`bench store: a batch does not decode (${d.reason}: ${d.detail})`)
  return d.value.ops
}

/**
 * grapevine_ingest: every message's batches decoded and ingested together, in wire order. Throws if a
 * batch is refused or stores less than it holds, so a broken validator cannot pass for a fast one.
 */
export function ingestRun(s: OpLog, h: History, ingest: IngestFn = opLog.ingestMany): void {
  for (const m of h.messages) {
    const batches = m.map((k) => decodeOk(h.batches[k] as Uint8Array))
    const vs = ingest(s, batches, h.nowMs)
    assertBench(vs.length === batches.length, `ingest answered ${vs.length} of a message's ${batches.length} batches`)
    vs.forEach((v, i) => {
      if (!v.ok) throw new Error(`bench store: ingest refused a batch (${v.reason}: ${v.detail})`)
      const n = (batches[i] as readonly SignedOp[]).length
      assertBench(v.ops.length === n, `ingest took ${v.ops.length} of a batch's ${n} new ops`)
    })
  }
}

/**
 * decode_validate: the same batches through decodeBatch + validateOps against heads in memory; with
 * `bodies`, also every op's body through the knowledge layer's check (parseOpOnce), as ingest does.
 */
export function decodeValidateRun(h: History, bodies = false): number {
  const heads = new Map<AuthorId, Head>()
  const view: LogView = { head: (author) => heads.get(author) }
  let n = 0
  for (const b of h.batches) {
    const v = log.validateOps(decodeOk(b), view, { nowMs: h.nowMs })
    if (!v.ok) throw new Error(`bench store: a batch was refused (${v.reason}: ${v.detail})`)
    heads.set(v.author, v.head)
    n += v.ops.length
    if (bodies) for (const e of v.ops) assertBench(knowledge.parseOpOnce(e.op).ok, 'a body was refused')
  }
  assertBench(n === h.ops, `validated ${n} of ${h.ops} ops`)
  return n
}

/** One statement of raw_sqlite: the index of its SQL in RawPlan.sql, and its arguments. */
export type RawStmt = readonly [sql: number, args: readonly SQLInputValue[]]

/** What raw_sqlite runs: per batch, the INSERTs of that batch's op rows and view rows. */
export type RawPlan = {
  readonly sql: readonly string[]
  readonly batches: readonly (readonly RawStmt[])[]
  /** view rows in the plan (FTS rows included) */
  readonly viewRows: number
}

const insertAuthorSql = 'INSERT INTO authors (no, author) VALUES (?, ?)'
const insertOpSql =
  'INSERT INTO ops (author, seq, hash, wall_ms, logical, kind, idempotency_key, bytes, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'

/**
 * How a view table's rows are placed in batches: by the op that wrote them (`op`: its author and seq
 * columns), or by the batch of the last op of their entity (`entity`: the entity's name from the row).
 * Tables left out: views_meta (metrics counters, not rows of the data), and versions_fts and search_reps
 * (made from versions rows, below).
 */
const rawTables: readonly { table: string; place: 'op' | ((r: Record<string, SQLOutputValue>) => string) }[] =
  [
    { table: 'op_entity', place: 'op' },
    { table: 'idempotency', place: 'op' },
    { table: 'versions', place: 'op' },
    { table: 'tickets', place: (r) => `fact:${String(r.fact_id)}` },
    { table: 'resolved', place: (r) => `fact:${String(r.fact_id)}` },
    { table: 'trust_shares', place: (r) => `fact:${String(r.fact_id)}` },
    { table: 'statuses', place: (r) => `status:${String(r.author)}` },
    { table: 'agents', place: (r) => `agent:${String(r.author)}` },
    { table: 'configs', place: (r) => `config:${String(r.key)}` },
    { table: 'counters', place: (r) => `counter:${String(r.name)}` },
    { table: 'tasks', place: (r) => `task:${String(r.task_id)}` },
    { table: 'task_depends', place: (r) => `task:${String(r.task_id)}` },
  ]

/**
 * raw_sqlite's input, made untimed: the history ingested once by Grapevine into a scratch store in
 * dir, and every row it holds read back: the op rows, and the view rows, each placed in the batch of
 * the op that made it (an entity's number in the batch of its first op; a register, task or counter
 * row, which the store rewrites as its ops come, once, in the batch of its entity's last op); the FTS
 * rows made from the versions rows as the store makes them (views-write.ts searchBody). So raw_sqlite
 * inserts the very rows ingest leaves, each once, batch by batch, with no reads, deletes or upserts.
 */
export function rawPlan(h: History, dir: string): RawPlan {
  const path = join(dir, 'plan.db')
  const s = openFresh(dir, 'plan.db')
  const sql: string[] = [insertAuthorSql, insertOpSql]
  const batches: RawStmt[][] = h.batches.map(() => [])
  const batchOf = new Map<string, number>()
  let viewRows = 0
  try {
    h.batches.forEach((b, k) => {
      for (const e of decodeOk(b)) batchOf.set(`${e.op.author}\n${e.op.seq}`, k)
    })
    ingestRun(s, h)
    checkViews(s.db, h)
    // the op rows as the store holds them (the author by its number), each in its batch, after its
    // author's row (in the batch of the author's first op)
    for (const r of s.db.prepare('SELECT no, author FROM authors ORDER BY no').all()) {
      const k = batchOf.get(`${String(r.author)}\n1`)
      assertBench(k !== undefined, 'an author of the store has no op 1 in the history')
      ;(batches[k] as RawStmt[]).push([0, [r.no as number, r.author as string]])
    }
    const opRows = s.db
      .prepare(
        'SELECT a.author AS key, o.author, o.seq, o.hash, o.wall_ms, o.logical, o.kind, o.idempotency_key, o.bytes, o.sig ' +
          'FROM ops o JOIN authors a ON a.no = o.author ORDER BY o.author, o.seq',
      )
      .all()
    for (const r of opRows) {
      const k = batchOf.get(`${String(r.key)}\n${String(r.seq)}`)
      assertBench(k !== undefined, 'a stored op is not in the history')
      const args = [r.author, r.seq, r.hash, r.wall_ms, r.logical, r.kind, r.idempotency_key, r.bytes, r.sig]
      ;(batches[k] as RawStmt[]).push([1, args as SQLInputValue[]])
    }
    const authorKeys = new Map<number, string>()
    for (const r of s.db.prepare('SELECT no, author FROM authors').all()) authorKeys.set(r.no as number, r.author as string)
    const opBatch = (author: SQLOutputValue | undefined, seq: SQLOutputValue | undefined): number => {
      const k = batchOf.get(`${String(author)}\n${String(seq)}`)
      assertBench(k !== undefined, `a view row names op ${String(seq)} of an author not in the history`)
      return k
    }
    // entities: numbered in order of first appearance; placed in the batch of their first op
    const firstOf = new Map<number, number>()
    const lastOf = new Map<string, number>()
    const names = new Map<number, string>()
    for (const r of s.db.prepare('SELECT id, entity FROM entities').all())
      names.set(r.id as number, r.entity as string)
    for (const r of s.db.prepare('SELECT author, seq, entity FROM op_entity').all()) {
      const k = opBatch(authorKeys.get(r.author as number), r.seq)
      const id = r.entity as number
      firstOf.set(id, Math.min(firstOf.get(id) ?? k, k))
      const name = names.get(id) as string
      lastOf.set(name, Math.max(lastOf.get(name) ?? k, k))
    }
    const ftsRows = new Map<number, Record<string, SQLOutputValue>[]>()
    const add = (k: number, table: string, row: Record<string, SQLOutputValue>): void => {
      const cols = Object.keys(row)
      const text = `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`
      let i = sql.indexOf(text)
      if (i < 0) i = sql.push(text) - 1
      ;(batches[k] as RawStmt[]).push([i, Object.values(row) as SQLInputValue[]])
      viewRows++
    }
    for (const r of s.db.prepare('SELECT id, entity FROM entities ORDER BY id').all())
      add(firstOf.get(r.id as number) as number, 'entities', r)
    for (const { table, place } of rawTables) {
      const select =
        table === 'versions' ? 'SELECT rowid AS rowid, * FROM versions' : `SELECT * FROM ${table}`
      for (const r of s.db.prepare(select).all()) {
        // op_entity names the author by its number, the other tables by its key
        const author = table === 'op_entity' ? authorKeys.get(r.author as number) : r.author
        const k = place === 'op' ? opBatch(author, r.seq) : lastOf.get(place(r))
        assertBench(k !== undefined, `a row of ${table} belongs to no op of the history`)
        add(k, table, r)
        if (table === 'versions' && r.channel !== null) {
          const value = JSON.parse(r.value as string) as unknown
          const body = (r.text as string | null) ?? (typeof value === 'string' ? value : '')
          // the search index's rows as the store makes them (src/store/fts.ts): FTS5 under the search key,
          // a reps row per repeated term
          const tokens = fts.entryTokens(body, JSON.parse(r.tags as string) as string[])
          if (tokens.length > 0) {
            const sk = fts.searchKey(tokens.length, r.rowid as number)
            const rows = ftsRows.get(k) ?? []
            rows.push({ rowid: sk, body: tokens.bodyText, tags: tokens.tagsText })
            ftsRows.set(k, rows)
            for (const [term, tf] of fts.termFrequencies(tokens))
              if (tf >= 2) add(k, 'search_reps', { term, sk, tf })
          }
        }
      }
    }
    // FTS5 rows in search key order, as the store inserts them (fts.ts flushIndex): a message of several
    // batches (a group commit, views-write.ts endGroup) all at once at its end, a lone batch at its end
    const groupEnd = new Map<number, number>()
    for (const m of h.messages) for (const k of m) groupEnd.set(k, m.length > 1 ? (m[m.length - 1] as number) : k)
    const byEnd = new Map<number, Record<string, SQLOutputValue>[]>()
    for (const [k, rows] of ftsRows) {
      const end = groupEnd.get(k) ?? k
      byEnd.set(end, [...(byEnd.get(end) ?? []), ...rows])
    }
    for (const [k, rows] of byEnd)
      for (const row of rows.sort((a, b) => (a.rowid as number) - (b.rowid as number)))
        add(k, 'versions_fts', row)
  } finally {
    opLog.close(s)
    rmSync(path, { force: true })
  }
  return { sql, batches, viewRows }
}

/**
 * raw_sqlite: the plan's INSERTs with prepared statements, one transaction per message (ingest's
 * commits), nothing else.
 */
export function rawRun(db: DatabaseSync, plan: RawPlan, messages: readonly (readonly number[])[]): void {
  const st = plan.sql.map((q) => db.prepare(q))
  for (const m of messages) {
    db.exec('BEGIN IMMEDIATE')
    for (const k of m) for (const [i, args] of plan.batches[k] as readonly RawStmt[]) (st[i] as StatementSync).run(...args)
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
  const got = db
    .prepare('SELECT a.author AS author, count(*) AS n, max(seq) AS top FROM ops o JOIN authors a ON a.no = o.author GROUP BY a.author')
    .all() as {
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

/**
 * The views canary: the view tables hold what the history must make (counted by the generator): a
 * versions row per live version (every entry; a keyed fact's last), an FTS row per entry (a full-text match of the planted word counts exactly
 * the entries that carry it), an op_entity row per op, the keyed facts' rewrites, the tasks, statuses and
 * counter rows. Throws on the first difference, so a benchmark of an ingest that skips the views (or of
 * bodies the validator refuses, which make no rows) cannot report a figure. Returns the rows checked.
 */
export function checkViews(db: DatabaseSync, h: History): number {
  const x = h.expect
  const one = (q: string, ...args: SQLInputValue[]): number => (db.prepare(q).get(...args) as { n: number }).n
  const want: [string, number, number][] = [
    ['versions rows (one per live version)', one('SELECT count(*) AS n FROM versions'), x.live],
    ['channel entries', one('SELECT count(*) AS n FROM versions WHERE channel IS NOT NULL'), x.entries],
    [
      `full-text matches of the planted word "${plantedWord}"`,
      one('SELECT count(*) AS n FROM versions_fts WHERE versions_fts MATCH ?', `"${plantedWord}"`),
      x.planted,
    ],
    ['op_entity rows (one per op)', one('SELECT count(*) AS n FROM op_entity'), h.ops],
    [
      'live versions that superseded one',
      one("SELECT count(*) AS n FROM versions WHERE supersedes <> '[]'"),
      x.rewritten,
    ],
    ['tasks', one('SELECT count(*) AS n FROM tasks'), x.tasks],
    ['statuses', one('SELECT count(*) AS n FROM statuses'), x.statuses],
    ['counter rows', one('SELECT count(*) AS n FROM counters'), x.counterRows],
  ]
  let n = 0
  for (const [what, got, expected] of want) {
    assertBench(got === expected, `the views hold ${got} ${what}, expected ${expected}`)
    n += got
  }
  assertBench(
    x.planted > 0 && x.superseding > 0 && x.tasks > 0,
    'the history has no planted word, rewrite or task',
  )
  return n
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0)
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  const n = by % xs.length
  return [...xs.slice(n), ...xs.slice(0, n)]
}

/** Opens a fresh store, checking that it runs with the durability the store promises. */
function openFresh(dir: string, name = 'store.db'): OpLog {
  const r = opLog.open(join(dir, name))
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

/**
 * One timed run: wall-clock throughput, and the process's CPU time per op (user + system, every thread:
 * what the run computed, whatever else the machine ran meanwhile), and the store's size after.
 */
type Sample = { readonly opsPerS: number; readonly cpuUsPerOp: number; readonly diskBytes?: number }

function cpuUs(since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since)
  return c.user + c.system
}

export async function runStore(opts: StoreOptions = {}): Promise<StoreResult> {
  const quick = opts.quick ?? false
  const p: Params = {
    ...(quick ? quickParams : fullParams),
    ...(opts.rounds === undefined ? {} : { rounds: opts.rounds }),
    ...(opts.messageBytes === undefined ? {} : { messageBytes: opts.messageBytes, streamBytes: opts.messageBytes }),
    ...(opts.streamBytes === undefined ? {} : { streamBytes: opts.streamBytes }),
    ...(opts.batchOps === undefined ? {} : { batchOps: opts.batchOps }),
  }
  const say = opts.log ?? ((line: string) => console.log(line))
  const outPath =
    opts.outPath ??
    (quick
      ? join(tmpdir(), 'grapevine-bench-store.quick.json')
      : fileURLToPath(new URL('results/store.json', import.meta.url)))
  const ingest = opts.ingest ?? opLog.ingestMany
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
    const built = peerHistory(p)
    const h: History = opts.perBatch === true ? { ...built, messages: built.batches.map((_, k) => [k]) } : built
    const planDir = mkdtempSync(join(base, 'plan-'))
    const raw = rawPlan(h, planDir)
    rmSync(planDir, { recursive: true, force: true })
    const n = h.ops
    const kinds = Object.entries(h.expect.byKind)
      .map(([k, c]) => `${k} ${((c / n) * 100).toFixed(0)}%`)
      .join(', ')
    say(
      `  history: ${p.authors} authors x ${p.opsPerAuthor} ops = ${n} ops, signed batch_head in ` +
        `${h.batches.length} batches of <= ${p.batchOps}, sent round-robin; every ${p.keyEvery}th entry has an idempotency key`,
    )
    say(
      `  messages${opts.perBatch === true ? ' (--per-batch: each batch alone)' : ''}: ${h.messages.length} of <= ${p.messageBytes} B growing to <= ${p.streamBytes} B ` +
        `(${p.messageBytes === daemonMessageBytes && p.streamBytes === daemonStreamBytes ? "the daemon's anti-entropy stream" : `the daemon's: ${daemonMessageBytes} B growing to ${daemonStreamBytes} B`}), ` +
        `${(h.batches.length / h.messages.length).toFixed(2)} batches and ${(n / h.messages.length).toFixed(0)} ops per message: one transaction (one fsync) each`,
    )
    say(
      `  ops: ${kinds}; ${h.expect.entries} channel entries, ${h.expect.superseding} rewrites of a keyed fact ` +
        `(superseding the author's last version), ${h.expect.tasks} tasks`,
    )
    say(
      `  view rows: ${raw.viewRows} (${(raw.viewRows / n).toFixed(2)} per op, FTS rows included) beside the ${n} op rows`,
    )
    say(
      `  sizes: body JSON ${h.bodyJsonBytes.median} B [${h.bodyJsonBytes.min}..${h.bodyJsonBytes.max}], op ` +
        `${h.opBytes.median} B [${h.opBytes.min}..${h.opBytes.max}], on the wire ${(h.wireBytes / n).toFixed(1)} B/op ` +
        `(built and signed untimed in ${((performance.now() - t) / 1000).toFixed(1)} s)`,
    )
    say(
      '  grapevine_ingest: decodeBatch + opLog.ingestMany per message into a fresh store (WAL, synchronous=FULL):',
    )
    say('                    chain and signatures verified, bodies checked, ops and view rows written')
    say('  raw_sqlite:       the same op rows and view rows, pre-made, one prepared INSERT each, a')
    say('                    transaction per message; nothing validated, derived, read or deleted')
    say('  decode_validate:  decodeBatch + validateOps against heads in memory (no SQLite)')
    say('  decode_validate_parse: decode_validate + every body checked (knowledge parseOpOnce)')
    say('  raw_sqlite_nosync: raw_sqlite with synchronous=OFF: not durable, a diagnostic of disk waits')
    say(`  rounds: ${p.rounds} (interleaved, order rotating); figures are medians [min..max]`)
    say('')

    const samples = new Map<System, Sample[]>(systems.map((s) => [s, []]))
    const runOnce = (system: System, deep: boolean): Sample => {
      if (system === 'decode_validate' || system === 'decode_validate_parse') {
        fullGc()
        const c0 = process.cpuUsage()
        const t0 = performance.now()
        decodeValidateRun(h, system === 'decode_validate_parse')
        return { opsPerS: (n / (performance.now() - t0)) * 1000, cpuUsPerOp: cpuUs(c0) / n }
      }
      const dir = mkdtempSync(join(base, `${system}-`))
      try {
        const s = openFresh(dir)
        if (system === 'raw_sqlite_nosync') s.db.exec('PRAGMA synchronous = OFF')
        let ms: number
        let cpu: number
        try {
          fullGc()
          const c0 = process.cpuUsage()
          const t0 = performance.now()
          if (system === 'grapevine_ingest') ingestRun(s, h, ingest)
          else rawRun(s.db, raw, h.messages) // raw_sqlite and raw_sqlite_nosync
          ms = performance.now() - t0
          cpu = cpuUs(c0)
          checks += system === 'grapevine_ingest' ? checkStore(s, h, { deep }) : checkRaw(s.db, h)
          checkViews(s.db, h)
          if (deep && system === 'grapevine_ingest') {
            const ic = opLog.integrityCheck(s)
            assertBench(ic.length === 1 && ic[0] === 'ok', `integrity_check: ${ic.join('; ')}`)
          }
        } finally {
          opLog.close(s) // the last connection checkpoints the WAL into the file and removes it
        }
        return { opsPerS: (n / ms) * 1000, cpuUsPerOp: cpu / n, diskBytes: dirBytes(dir) }
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
      const cpu = summarize((samples.get(s) as Sample[]).map((x) => x.cpuUsPerOp))
      row('peer_history', s, 'cpu_us_per_op', cpu.median, 'us')
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
        cpu.median.toFixed(1),
        diskPerOp === undefined ? '(in memory)' : diskPerOp.toFixed(1),
      ])
    }
    row('peer_history', 'grapevine_ingest', 'wire_bytes_per_op', h.wireBytes / n, 'bytes')
    say('')
    say(
      `${n} ops per run; disk = store file after close (WAL checkpointed), per op; wire ${(h.wireBytes / n).toFixed(1)} B/op`,
    )
    say(
      'us/op is wall time; CPU us/op is the process CPU time (all threads) of the run: on a busy machine the wall time grows, the CPU time much less',
    )
    say(fmt.table(['system', 'ops/s', '[min..max]', 'us/op', 'CPU us/op', 'disk B/op'], table))

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

    // ---- where ingest's time goes, per round: decode+validate and body checks measured alone, the rest
    // is deriving view rows and SQLite; raw_sqlite does the same inserts, raw_sqlite_nosync the same
    // without waiting for the disk
    const usIng = usPerOp('grapevine_ingest')
    const usDv = usPerOp('decode_validate')
    const usDvp = usPerOp('decode_validate_parse')
    const usRaw = usPerOp('raw_sqlite')
    const usNosync = usPerOp('raw_sqlite_nosync')
    const perRound = (f: (i: number) => number): Summary => summarize(usIng.map((_, i) => f(i)))
    const atRound = (xs: number[], i: number): number => xs[i] as number
    const parts: [string, string, System, Summary][] = [
      ['ingest, total', 'total_us_per_op', 'grapevine_ingest', summarize(usIng)],
      ['  decode + validate (in memory, measured alone)', 'us_per_op', 'decode_validate', summarize(usDv)],
      [
        '  body checks (decode_validate_parse - decode_validate)',
        'body_check_us_per_op',
        'decode_validate_parse',
        perRound((i) => atRound(usDvp, i) - atRound(usDv, i)),
      ],
      [
        '  views and SQLite (ingest - decode_validate_parse)',
        'store_us_per_op',
        'grapevine_ingest',
        perRound((i) => atRound(usIng, i) - atRound(usDvp, i)),
      ],
      [
        '    inserts of the same rows, not waiting for the disk (raw_sqlite_nosync)',
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
        '    beyond raw inserts (deriving rows, lookups, head, rewrites of touched entities)',
        'store_over_raw_us_per_op',
        'grapevine_ingest',
        perRound((i) => atRound(usIng, i) - atRound(usDvp, i) - atRound(usRaw, i)),
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
        text: 'ingest ops/s (verify + store + views)',
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

const usage =
  'usage: npm run bench -- store [--quick] [--rounds N] [--out PATH] [--dir DIR] [--message-bytes N] [--stream-bytes N] [--batch-ops N] [--per-batch]'

/** Entry point for bench/run.ts; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const a = parseBenchArgs(
    'store',
    argv,
    { quick: 'flag', rounds: 'count', out: 'path', dir: 'path', 'message-bytes': 'count', 'stream-bytes': 'count', 'batch-ops': 'count', 'per-batch': 'flag' },
    usage,
    { 'message-bytes': 4096, 'stream-bytes': 4096 },
  )
  if (a === undefined) return 2
  const first = a['message-bytes'] ?? daemonMessageBytes
  if (a['stream-bytes'] !== undefined && a['stream-bytes'] < first) {
    console.error(`bench store: --stream-bytes ${a['stream-bytes']} is below the first message's ${first} B: a stream only grows\n${usage}`)
    return 2
  }
  await runStore({
    quick: a.quick,
    perBatch: a['per-batch'],
    ...defined({ rounds: a.rounds, outPath: a.out, dir: a.dir, messageBytes: a['message-bytes'], streamBytes: a['stream-bytes'], batchOps: a['batch-ops'] }),
  })
  return 0
}
