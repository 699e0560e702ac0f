/**
 * The op log on disk: SQLite through node:sqlite, in WAL mode. This file holds the only SQL of the log;
 * views (knowledge rows, FTS) join it in the same transactions as they arrive.
 *
 * Durability contract (design.md section 5):
 *   - `synchronous = FULL` with WAL: a transaction that returned has been fsynced to the WAL, so an op
 *     this store reported as written survives a process crash (SIGKILL at any moment) AND a power loss or
 *     kernel panic. NORMAL would survive a process crash only: on power loss the last commits could roll
 *     back, and a node that had already gossiped its op N would then write a different op N, which every
 *     peer must treat as a fork (a stolen key). FULL costs one fsync per commit; commits are per batch,
 *     so ingest stays batched.
 *   - One transaction per batch: ops, the author's head and (later) the view rows commit together, so a
 *     crash never leaves half an op, a head ahead of its ops, or a view ahead of the log.
 *   - Writers take the write lock up front (BEGIN IMMEDIATE) and read the author's head inside it, so
 *     several processes (CLI, MCP server, daemon) appending for one author allocate seqs atomically: no
 *     two ops ever share a seq (no forks) and none is lost. A writer waits for the lock up to busyMs.
 *
 * Format version: PRAGMA user_version. 0 is a new file (the schema is created), 4 is this format (the
 * op log, the views of views-schema.ts, and `revoked_ops`). Older formats are upgraded on open, in one
 * transaction: 3 (format 4 without `revoked_ops`) gets the empty table, its views stay; 2 (the op log
 * with views, the author's 64-character key in every op row and a UNIQUE index on the hash) and 1 (the
 * same op log without views) have their ops moved into format 3's tables (authors numbered, ops keyed
 * by (author number, seq), no hash index: nothing looks an op up by its hash, and a hash names its
 * author and seq; no index by idempotency key: the views' idempotency table answers that lookup), get
 * `revoked_ops`, and their views are built from the ops. Anything newer is refused untouched: an older
 * binary never rewrites a newer store (nor, since format 2, writes ops without their view rows; nor,
 * since format 4, takes back ops a revocation quarantined without knowing it).
 *
 * Quarantine (docs/PROTOCOL.md section 5): `quarantine(store, author, cutoff, ...)` takes the author's ops
 * after cutoff out of the log into `revoked_ops` (kept for audit with the revocation's reason and when;
 * nothing written is destroyed), sets the author's head back to its op at cutoff and derives again the
 * views of the entities those ops touched, all in one transaction: a node that took a revoked node's later ops while partitioned
 * ends with the log and views of a node that never took them.
 *
 * Authors: the ops table and its indexes name an author by its number in `authors` (given in order of
 * first appearance in this store; never changed or reused), which saves the 64-character key in every
 * row of the log and its indexes (~250 bytes per op). Numbers are local to a store: nothing outside
 * this file and the views' writer sees them.
 *
 * Views: every insert of ops is followed, in the same transaction, by views-write.ts applyOps. A views
 * schema that is missing or of another version is rebuilt on open; one that is damaged (a statement
 * does not prepare) does not stop the log: open reports it (`viewsProblem`), writes go on without view
 * rows and leave a mark that makes the next open rebuild, and views.ts rebuild repairs it at once.
 */
import { DatabaseSync } from 'node:sqlite'
import type { StatementSync } from 'node:sqlite'
import * as core from '../core/index.ts'
import type { Clock, Result } from '../core/index.ts'
import * as log from '../log/index.ts'
import type { AuthorId, Draft, Head, SignedOp, Signer } from '../log/index.ts'
import * as viewsWrite from './views-write.ts'
import type { ViewWriter } from './views-write.ts'

/** The on-disk format this code reads and writes. */
export const formatVersion = 4

/** How long a writer waits for another process's write transaction before giving up. */
export const busyMsDefault = 10_000


const opsSchema = `
CREATE TABLE authors (
  no     INTEGER PRIMARY KEY,
  author TEXT    NOT NULL UNIQUE
) STRICT;
CREATE TABLE ops (
  author          INTEGER NOT NULL,
  seq             INTEGER NOT NULL CHECK (seq >= 1),
  hash            BLOB    NOT NULL,
  wall_ms         INTEGER NOT NULL,
  logical         INTEGER NOT NULL,
  kind            TEXT    NOT NULL,
  idempotency_key TEXT,
  bytes           BLOB    NOT NULL,
  sig             BLOB,
  PRIMARY KEY (author, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX ops_by_time ON ops (wall_ms, logical, author);
`

/**
 * Ops a revocation took out of the log (quarantine): the ops table's columns, then the cutoff they were
 * past, the revocation's reason and when they were moved. Keyed by (author, seq, hash): quarantining
 * again adds nothing.
 */
const revokedSchema = `
CREATE TABLE IF NOT EXISTS revoked_ops (
  author          INTEGER NOT NULL,
  seq             INTEGER NOT NULL,
  hash            BLOB    NOT NULL,
  wall_ms         INTEGER NOT NULL,
  logical         INTEGER NOT NULL,
  kind            TEXT    NOT NULL,
  idempotency_key TEXT,
  bytes           BLOB    NOT NULL,
  sig             BLOB,
  cutoff          INTEGER NOT NULL,
  reason          TEXT    NOT NULL,
  quarantined_ms  INTEGER NOT NULL,
  PRIMARY KEY (author, seq, hash)
) STRICT, WITHOUT ROWID;
`

const schema = `${opsSchema}${revokedSchema}
CREATE TABLE heads (
  author  TEXT    PRIMARY KEY,
  seq     INTEGER NOT NULL,
  hash    BLOB    NOT NULL,
  wall_ms INTEGER NOT NULL,
  logical INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE forks (
  author   TEXT    NOT NULL,
  seq      INTEGER NOT NULL,
  known    BLOB    NOT NULL,
  received BLOB    NOT NULL,
  PRIMARY KEY (author, seq, received)
) STRICT, WITHOUT ROWID;
`

/**
 * Format 2's ops table (the author's key in every row, a UNIQUE index on the hash): open moves its rows
 * into format 3's tables (upgradeFormat2).
 */
const opsFormat2Columns = 'author, seq, hash, wall_ms, logical, kind, idempotency_key, bytes, sig'

export type OpLog = {
  readonly db: DatabaseSync
  readonly path: string
  readonly st: Statements
  /** The views' statements; undefined while the views schema is damaged (see viewsProblem). */
  views: ViewWriter | undefined
  /** Why the views are unusable, until a rebuild repairs them. */
  viewsProblem: string | undefined
  /** Authors' numbers (authors table) this connection read or gave; dropped when a transaction rolls back. */
  readonly authorNos: Map<string, number>
}

type Statements = {
  authorNo: StatementSync
  newAuthor: StatementSync
  head: StatementSync
  hashAt: StatementSync
  byKeyScan: StatementSync
  insertOp: StatementSync
  upsertHead: StatementSync
  heads: StatementSync
  after: StatementSync
  insertFork: StatementSync
  count: StatementSync
}

export type OpenFailure = 'newer_format' | 'corrupt' | 'unavailable'

/** SQL for an author's number, given its key as the parameter (no row: NULL, which matches no op). */
export const authorNoSql = '(SELECT no FROM authors WHERE author = ?)'

function prepare(db: DatabaseSync): Statements {
  return {
    authorNo: db.prepare('SELECT no FROM authors WHERE author = ?'),
    newAuthor: db.prepare('INSERT INTO authors (author) VALUES (?)'),
    head: db.prepare('SELECT seq, hash, wall_ms, logical FROM heads WHERE author = ?'),
    hashAt: db.prepare(`SELECT hash FROM ops WHERE author = ${authorNoSql} AND seq = ?`),
    // without the views (damaged, until a rebuild): a walk of the author's ops (priorWithKey)
    byKeyScan: db.prepare(
      `SELECT bytes, sig FROM ops WHERE author = ${authorNoSql} AND idempotency_key = ? ORDER BY seq LIMIT 1`,
    ),
    insertOp: db.prepare(
      'INSERT INTO ops (author, seq, hash, wall_ms, logical, kind, idempotency_key, bytes, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    upsertHead: db.prepare(
      'INSERT INTO heads (author, seq, hash, wall_ms, logical) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (author) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, wall_ms = excluded.wall_ms, logical = excluded.logical',
    ),
    heads: db.prepare('SELECT author, seq FROM heads'),
    after: db.prepare(`SELECT bytes, sig FROM ops WHERE author = ${authorNoSql} AND seq > ? ORDER BY seq LIMIT ?`),
    insertFork: db.prepare('INSERT OR IGNORE INTO forks (author, seq, known, received) VALUES (?, ?, ?, ?)'),
    count: db.prepare('SELECT count(*) AS n FROM ops'),
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/**
 * Opens (creating if need be) the store at path. A file that is not a SQLite database, or whose schema
 * is not ours, is `corrupt`; a newer format is `newer_format`; neither is ever written to.
 */
export type OpenOptions = {
  readonly busyMs?: number
  /**
   * Called (once) before the views are built on open (a store of an older format, whose ops are moved
   * first, or views of another version): that replays the whole log, minutes for millions of ops, so a
   * caller can say so first.
   */
  readonly onViewsUpgrade?: (ops: number) => void
}

export function open(path: string, opts: OpenOptions = {}): Result<OpLog, OpenFailure> {
  let db: DatabaseSync
  try {
    db = new DatabaseSync(path, { timeout: opts.busyMs ?? busyMsDefault })
  } catch (e) {
    return core.fail('unavailable', `cannot open ${path}: ${message(e)}`)
  }
  try {
    const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
    if (version > formatVersion) {
      db.close()
      return core.fail(
        'newer_format',
        `${path} is a Grapevine store of format ${version}; this version reads format ${formatVersion}. Upgrade grapevine; the store was left untouched.`,
      )
    }
    db.exec('PRAGMA journal_mode = WAL')
    db.exec('PRAGMA synchronous = FULL')
    // a 32 MiB page cache (SQLite's default is 2 MiB) and a checkpoint every 4000 WAL pages (16 MiB; default
    // 1000): ingest touches pages all over the random-keyed indexes (entities, idempotency, search), and a
    // page changed in several commits between checkpoints is copied to the file once. Measured side by
    // side on 100k ops, three pairs: 5% less CPU per op (91-95 against 97-100 us)
    db.exec(`PRAGMA cache_size = -32768`)
    db.exec('PRAGMA wal_autocheckpoint = 4000')
    let told = false
    if (version === 1 || version === 2) {
      // the move of the ops and the views' rebuild after it take minutes for millions of ops: say so first
      const n = (db.prepare('SELECT count(*) AS n FROM ops').get() as { n: number }).n
      if (n > 0) opts.onViewsUpgrade?.(n)
      told = true
      upgradeFormat(db)
    }
    if (version === 3) upgradeFormat3(db)
    if (version === 0) {
      db.exec('BEGIN IMMEDIATE')
      try {
        // another process may have created it while we waited for the lock
        const again = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
        if (again === 0) {
          const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number }
          if (tables.n > 0) throw new Error('the file has tables but no Grapevine format version')
          db.exec(schema)
          viewsWrite.resetViews(db)
          db.exec(`PRAGMA user_version = ${formatVersion}`)
        }
        db.exec('COMMIT')
      } catch (e) {
        db.exec('ROLLBACK')
        throw e
      }
    }
    // the op log's own tables must be sound (prepare throws if not): else the file is not a usable store
    const s: OpLog = { db, path, st: prepare(db), views: undefined, viewsProblem: undefined, authorNos: new Map() }
    try {
      // format 3's views are format 4's: only 1 and 2 (whose views named ops the old way) rebuild them
      if (version === 1 || version === 2 || !viewsWrite.viewsCurrent(db)) {
        const n = opCount(s)
        if (n > 0 && !told) opts.onViewsUpgrade?.(n) // a new store's empty views take no time: nothing to say
        upgradeViews(s)
      }
      s.views = viewsWrite.createViewWriter(db)
    } catch (e) {
      s.viewsProblem = `the views are damaged or could not be built (${message(e)}); rebuild them from the op log`
    }
    return core.ok(s)
  } catch (e) {
    try {
      db.close()
    } catch {
      // reason: closing a handle on a broken file may fail too; the open failure is what matters
    }
    return core.fail('corrupt', `${path} is not a readable Grapevine store: ${message(e)}`)
  }
}

/**
 * Moves the ops of a format 1 or 2 store into format 3's tables (one transaction; the views, if any,
 * are rebuilt right after, as their version mark says). Another process may have done it while this one
 * waited for the lock: then there is nothing to do.
 */
function upgradeFormat(db: DatabaseSync): void {
  db.exec('BEGIN IMMEDIATE')
  try {
    const again = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
    if (again === 1 || again === 2) {
      db.exec('ALTER TABLE ops RENAME TO ops_format2')
      db.exec('DROP INDEX IF EXISTS ops_by_time')
      db.exec('DROP INDEX IF EXISTS ops_by_idempotency_key')
      db.exec(opsSchema)
      db.exec('INSERT INTO authors (author) SELECT DISTINCT author FROM ops_format2 ORDER BY author')
      db.exec(
        `INSERT INTO ops (${opsFormat2Columns}) SELECT a.no, o.seq, o.hash, o.wall_ms, o.logical, o.kind, ` +
          'o.idempotency_key, o.bytes, o.sig FROM ops_format2 o JOIN authors a ON a.author = o.author',
      )
      db.exec('DROP TABLE ops_format2')
      db.exec(revokedSchema)
      // the views (if any) name ops the old way: without their version mark, open rebuilds them
      if (db.prepare("SELECT 1 AS x FROM sqlite_schema WHERE name = 'views_meta'").get() !== undefined)
        db.prepare('DELETE FROM views_meta WHERE key = ?').run(viewsWrite.meta.version)
      db.exec(`PRAGMA user_version = ${formatVersion}`)
    }
    db.exec('COMMIT')
  } catch (e) {
    db.exec('ROLLBACK')
    throw e
  }
}

/** Format 3 to 4: the (empty) table of quarantined ops; the log and its views stay as they are. */
function upgradeFormat3(db: DatabaseSync): void {
  db.exec('BEGIN IMMEDIATE')
  try {
    const again = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
    if (again === 3) {
      db.exec(revokedSchema)
      db.exec(`PRAGMA user_version = ${formatVersion}`)
    }
    db.exec('COMMIT')
  } catch (e) {
    db.exec('ROLLBACK')
    throw e
  }
}

/** Builds the views of an op log without them (format 1) or with views of another version. */
function upgradeViews(s: OpLog): void {
  transaction(s, () => {
    // another process may have done it while we waited for the lock
    const again = (s.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
    if (again === formatVersion && viewsWrite.viewsCurrent(s.db)) return
    viewsWrite.rebuildViews(s.db)
    s.db.exec(`PRAGMA user_version = ${formatVersion}`)
  })
  shrinkWal(s)
}

/**
 * After a rebuild (one transaction that rewrites every view page) the WAL holds a copy of most of the
 * file: 920 MiB after rebuilding 1M ops. Copy it back and truncate it now rather than leave it to the next
 * writer's checkpoint. Best effort: with readers still on old pages SQLite reports busy and keeps the WAL.
 */
export function shrinkWal(s: OpLog): void {
  s.db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
}

/** Closes the store (after writing the stale reads this connection counted: views-write.ts flushStaleReads). */
export function close(s: OpLog): void {
  if (s.views !== undefined && s.db.isOpen) viewsWrite.flushStaleReads(s.views)
  s.db.close()
}

/** Runs fn in one write transaction (BEGIN IMMEDIATE: the lock is taken before anything is read). */
export function transaction<T>(s: OpLog, fn: () => T): T {
  s.db.exec('BEGIN IMMEDIATE')
  try {
    const out = fn()
    s.db.exec('COMMIT')
    return out
  } catch (e) {
    if (s.db.isTransaction) s.db.exec('ROLLBACK')
    // the view writer may have cached what the rollback undid, and so may authorNo
    s.authorNos.clear()
    if (s.views !== undefined) viewsWrite.dropCaches(s.views)
    throw e
  }
}

type HeadRow = { seq: number; hash: Uint8Array; wall_ms: number; logical: number }

export function head(s: OpLog, author: AuthorId): Head | undefined {
  const r = s.st.head.get(author) as HeadRow | undefined
  return r === undefined ? undefined : { seq: r.seq, hash: r.hash, hlc: { wallMs: r.wall_ms, logical: r.logical } }
}

/** What validation needs of this log (log.LogView). */
export function view(s: OpLog): log.LogView {
  return {
    head: (author) => head(s, author),
    hashAt: (author, seq) => (s.st.hashAt.get(author, seq) as { hash: Uint8Array } | undefined)?.hash,
  }
}

/** The version vector: every author's highest contiguous seq (the log only ever holds gap-free prefixes). */
export function versionVector(s: OpLog): core.VersionVector {
  const vv = core.versionVector.empty()
  for (const r of s.st.heads.all() as { author: string; seq: number }[]) vv.set(r.author as core.NodeId, r.seq)
  return vv
}

export function opCount(s: OpLog): number {
  return (s.st.count.get() as { n: number }).n
}

function decodeRow(r: { bytes: Uint8Array; sig: Uint8Array | null }): SignedOp {
  const d = log.decodeEncodedOp(r.bytes)
  // reason: these bytes passed validation on the way in; a failure here means the file was altered
  if (!d.ok) throw new core.AssertionFailed(`store: a stored op does not decode: ${d.detail}`)
  return r.sig === null ? d.value : { ...d.value, sig: r.sig }
}

/** The author's ops after seq, oldest first, at most limit. */
export function opsAfter(s: OpLog, author: AuthorId, seq: number, limit: number): SignedOp[] {
  return (s.st.after.all(author, seq, limit) as { bytes: Uint8Array; sig: Uint8Array | null }[]).map(decodeRow)
}

/** Every op, by author then seq (a generator: a large store is never held in memory at once). */
export function* scan(s: OpLog): Generator<SignedOp> {
  for (const r of s.db.prepare('SELECT bytes, sig FROM ops ORDER BY author, seq').iterate()) {
    yield decodeRow(r as { bytes: Uint8Array; sig: Uint8Array | null })
  }
}

export type RecentQuery = {
  readonly limit: number
  readonly author?: AuthorId | undefined
  /** Only ops created at or before this wall time (ms): the log as of then. */
  readonly asOfMs?: number | undefined
}

/** The newest ops first (by HLC time, then author), optionally of one author or as of a time. */
export function recent(s: OpLog, q: RecentQuery): SignedOp[] {
  const where: string[] = []
  const args: (string | number)[] = []
  if (q.author !== undefined) {
    where.push(`author = ${authorNoSql}`)
    args.push(q.author)
  }
  if (q.asOfMs !== undefined) {
    where.push('wall_ms <= ?')
    args.push(q.asOfMs)
  }
  const sql =
    `SELECT bytes, sig FROM ops ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ` +
    // ties of time by the author's key (its number is local to this store)
    'ORDER BY wall_ms DESC, logical DESC, (SELECT author FROM authors WHERE no = ops.author) DESC LIMIT ?'
  return (s.db.prepare(sql).all(...args, q.limit) as { bytes: Uint8Array; sig: Uint8Array | null }[]).map(decodeRow)
}

/** Inserts validated ops of one author, moves its head and updates the views; call inside a transaction. */
function insert(s: OpLog, ops: readonly SignedOp[]): void {
  const first = ops[0]
  if (first === undefined) return
  const no = authorNo(s, first.op.author)
  for (const e of ops) {
    const o = e.op
    // reason: callers pass one author's ops (validateOps and append make them so)
    if (o.author !== first.op.author) throw new core.AssertionFailed('store: insert of several authors\' ops')
    s.st.insertOp.run(no, o.seq, e.hash, o.hlc.wallMs, o.hlc.logical, o.kind, o.idempotencyKey ?? null, e.bytes, e.sig ?? null)
  }
  const last = ops[ops.length - 1]
  if (last !== undefined) {
    s.st.upsertHead.run(last.op.author, last.op.seq, last.hash, last.op.hlc.wallMs, last.op.hlc.logical)
  }
  if (s.views !== undefined) viewsWrite.applyOps(s.views, ops)
  else if (ops.length > 0) markViewsStale(s)
}

/** The author's number in this store, given now if it has none (inside the caller's transaction). */
export function authorNo(s: OpLog, author: AuthorId): number {
  const known = s.authorNos.get(author)
  if (known !== undefined) return known
  const r = s.st.authorNo.get(author) as { no: number } | undefined
  const no = r !== undefined ? r.no : Number(s.st.newAuthor.run(author).lastInsertRowid)
  s.authorNos.set(author, no)
  return no
}

/** The views missed ops: make sure the next open rebuilds them (the version mark goes). */
function markViewsStale(s: OpLog): void {
  try {
    s.db.exec(`DELETE FROM views_meta WHERE key = '${viewsWrite.meta.version}'`)
  } catch {
    s.db.exec('DROP TABLE IF EXISTS views_meta')
  }
}

/** The author's first op with the idempotency key, if any. */
function priorWithKey(s: OpLog, author: AuthorId, key: string): { bytes: Uint8Array; sig: Uint8Array | null } | undefined {
  type Row = { bytes: Uint8Array; sig: Uint8Array | null }
  if (s.views === undefined) return s.st.byKeyScan.get(author, key) as Row | undefined
  // the views' idempotency table holds every (author, key)'s first op, written in the transaction that
  // stores the op (format 2 also kept an index of the ops by key: the same lookup, kept twice)
  let st = byKeyStatements.get(s.db)
  if (st === undefined) {
    st = s.db.prepare(
      `SELECT o.bytes AS bytes, o.sig AS sig FROM idempotency i JOIN ops o ON o.author = ${authorNoSql} AND o.seq = i.seq ` +
        'WHERE i.author = ? AND i.key = ?',
    )
    byKeyStatements.set(s.db, st)
  }
  return st.get(author, author, key) as Row | undefined
}

/** priorWithKey's statement (over a views table: prepared once the views are known to be sound). */
const byKeyStatements = new WeakMap<DatabaseSync, StatementSync>()

/** A local write: what to append. The store stamps it with the next seq and a fresh HLC time. */
export type Intent = { readonly kind: string; readonly body: core.Json; readonly idempotencyKey?: string | undefined }

export type AppendResult = {
  /** One op per intent: the new op, or for a repeated idempotency key the op written the first time. */
  readonly ops: readonly SignedOp[]
  /** Which of `ops` were written now (false: an earlier op with the same idempotency key). */
  readonly written: readonly boolean[]
}

export type AppendFailure = 'invalid' | 'too_large'

/**
 * Appends local ops for the signer, atomically with every other writer of this store. Each op's HLC time
 * is after both the author's last op (which another process may have written) and the local clock;
 * `hlc` is the caller's clock state, advanced here. A repeated idempotency key writes nothing and
 * returns the first op with that key.
 */
export function append(
  s: OpLog,
  signer: Signer,
  hlc: core.hlc.Hlc,
  clock: Clock,
  intents: readonly Intent[],
  scheme: log.SignScheme = log.signSchemeDefault,
): Result<AppendResult, AppendFailure> {
  return transaction(s, () => {
    const h = head(s, signer.author)
    if (h !== undefined) {
      // another process may have written after our clock's last reading: move past its op
      const r = core.hlc.receive(hlc, { wallMs: h.hlc.wallMs, logical: h.hlc.logical, node: hlc.node }, clock)
      if (!r.ok) return core.fail('invalid', `the author's last op is from the future: ${r.detail}`)
    }
    const drafts: Draft[] = []
    const existing: (SignedOp | undefined)[] = []
    const seen = new Set<string>()
    for (const it of intents) {
      const key = it.idempotencyKey
      const prior = key === undefined ? undefined : priorWithKey(s, signer.author, key)
      if (prior !== undefined) {
        existing.push(decodeRow(prior))
        continue
      }
      if (key !== undefined) {
        if (seen.has(key)) return core.fail('invalid', `idempotency key ${JSON.stringify(key)} appears twice in one append`)
        seen.add(key)
      }
      existing.push(undefined)
      const t = core.hlc.now(hlc, clock)
      drafts.push({ hlc: { wallMs: t.wallMs, logical: t.logical }, kind: it.kind, body: it.body, idempotencyKey: key })
    }
    const created = log.createOps(signer.author, h, drafts)
    if (!created.ok) return created
    const signed = log.signOps(signer, created.value, scheme)
    insert(s, signed)
    const ops: SignedOp[] = []
    const written: boolean[] = []
    let k = 0
    for (const e of existing) {
      if (e === undefined) {
        ops.push(signed[k++] as SignedOp)
        written.push(true)
      } else {
        ops.push(e)
        written.push(false)
      }
    }
    return core.ok({ ops, written })
  })
}

/** A batch refused by validation, or one the disk could not take (full, read-only, locked too long). */
export type IngestResult = log.Validation | { readonly ok: false; readonly reason: 'storage'; readonly detail: string }

/**
 * Validates ops received from a peer (a batch of one author) against this log and stores the new ones,
 * in one transaction. A fork is recorded as evidence before it is reported. Never throws for bad input
 * or a failing disk: the network's input must not reach the event loop as an exception.
 */
export function ingest(s: OpLog, ops: readonly SignedOp[], nowMs: number): IngestResult {
  try {
    return transaction(s, () => ingestInTransaction(s, ops, nowMs))
  } catch (e) {
    if (e instanceof core.AssertionFailed) throw e
    return storageFailure(e)
  }
}

function storageFailure(e: unknown): IngestResult {
  return { ok: false, reason: 'storage', detail: `the store could not take the batch: ${message(e)}` }
}

/** One batch of ingest, inside the caller's transaction: a refused batch writes nothing but its fork evidence. */
function ingestInTransaction(s: OpLog, ops: readonly SignedOp[], nowMs: number): log.Validation {
  const v = log.validateOps(ops, view(s), { nowMs })
  if (v.ok) insert(s, v.ops)
  else if (v.reason === 'fork') s.st.insertFork.run(v.fork.author, v.fork.seq, v.fork.known, v.fork.received)
  // duplicates are a metric (design.md section 10): ops a peer sent that this store already held
  const duplicates = v.ok ? v.duplicates : v.reason === 'duplicate' ? ops.length : 0
  if (s.views !== undefined) viewsWrite.addToMeta(s.views, viewsWrite.meta.duplicateOps, duplicates)
  return v
}

/**
 * Group commit: batches received together (one anti-entropy message, one folder sync) ingested in ONE
 * transaction, so they cost one commit (one fsync under synchronous = FULL) instead of one each. The
 * result is what ingest of each batch in turn gives, one result per batch in order: each batch is
 * validated against the log as the batches before it left it, and stored or refused on its own. No
 * savepoints are needed for that: validation only reads, and a refused batch writes nothing (a fork
 * writes its evidence, as ingest does), so a bad batch takes no other batch down with it. Results are
 * returned only once the transaction committed, so an ok result is as durable as ingest's. If the disk
 * fails inside the group (full, I/O error, the commit itself), the whole group rolls back and its
 * batches are ingested again one by one (ingest, one transaction each): the outcome is then exactly
 * ingest's. If the write lock cannot be had (busy past busyMs), every batch reports `storage` at once
 * (ingest would wait busyMs once per batch). The write lock is held for the whole group: a 64 KiB message
 * of ops is ~15 ms of ingest, a whole folder sync longer (other writers wait up to busyMs).
 */
export function ingestMany(s: OpLog, batches: readonly (readonly SignedOp[])[], nowMs: number): IngestResult[] {
  if (batches.length <= 1) return batches.map((b) => ingest(s, b, nowMs))
  try {
    s.db.exec('BEGIN IMMEDIATE')
  } catch (e) {
    const f = storageFailure(e)
    return batches.map(() => f)
  }
  let out: IngestResult[]
  try {
    // the group's search index rows go in once, sorted, before the commit (views-write.ts endGroup)
    if (s.views !== undefined) viewsWrite.beginGroup(s.views)
    out = batches.map((b) => ingestInTransaction(s, b, nowMs))
    if (s.views !== undefined) viewsWrite.endGroup(s.views)
    s.db.exec('COMMIT')
  } catch (e) {
    if (s.db.isTransaction) s.db.exec('ROLLBACK')
    s.authorNos.clear()
    if (s.views !== undefined) viewsWrite.dropCaches(s.views)
    if (e instanceof core.AssertionFailed) throw e
    return batches.map((b) => ingest(s, b, nowMs))
  }
  return out
}

/** Forks seen so far: evidence that an author's key signs two histories. */
export function forks(s: OpLog): { author: AuthorId; seq: number; known: Uint8Array; received: Uint8Array }[] {
  return s.db.prepare('SELECT author, seq, known, received FROM forks ORDER BY author, seq').all() as {
    author: AuthorId
    seq: number
    known: Uint8Array
    received: Uint8Array
  }[]
}

/** SQLite's own consistency check of every page and index: 'ok' or the problems it found. */
export function integrityCheck(s: OpLog): string[] {
  return (s.db.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[]).map((r) => r.integrity_check)
}

/** Why ops are quarantined: the revocation's reason (may be '') and the time of the quarantine. */
export type QuarantineCause = { readonly reason: string; readonly atMs: number }

/**
 * Takes the author's ops after `cutoff` out of the log, in one transaction (a crash leaves the old state
 * or the new one, never a mix): they move to `revoked_ops` with the cause, the author's head becomes its
 * op at cutoff (none at cutoff 0), arrival numbers of the moved ops go (cursor.ts: a stream does not
 * name them again), and the views become the same rows as a store that never took those ops: only the
 * entities the moved ops belonged to are derived again from the ops that remain (views-write.ts
 * removeOps: milliseconds for a few ops, whatever the store's size), or, when more than
 * quarantineRebuildMin ops move and they are over half the log, all views are rebuilt from the log
 * (rebuildViews: seconds per 100k ops); damaged views are marked for the next open's rebuild instead.
 * Returns how many ops moved: 0 when the log holds nothing after cutoff (quarantining twice moves
 * nothing the second time).
 */
export function quarantine(s: OpLog, author: AuthorId, cutoff: number, cause: QuarantineCause): number {
  core.assert(Number.isSafeInteger(cutoff) && cutoff >= 0, 'store: a quarantine cutoff is a seq >= 0')
  core.assert(Number.isSafeInteger(cause.atMs), 'store: a quarantine time is integer ms')
  const staleReads = s.views?.staleReads ?? 0
  const out = transaction(s, (): { moved: number; rebuilt: ViewWriter | undefined } => {
    const h = head(s, author)
    if (h === undefined || h.seq <= cutoff) return { moved: 0, rebuilt: undefined }
    const no = authorNo(s, author)
    s.db
      .prepare(
        `INSERT OR IGNORE INTO revoked_ops (${opsFormat2Columns}, cutoff, reason, quarantined_ms) ` +
          `SELECT ${opsFormat2Columns}, ?, ?, ? FROM ops WHERE author = ? AND seq > ?`,
      )
      .run(cutoff, cause.reason, cause.atMs, no, cutoff)
    const removed = s.views === undefined
      ? []
      : (s.db.prepare('SELECT bytes, hash FROM ops WHERE author = ? AND seq > ? ORDER BY seq').all(no, cutoff) as {
          bytes: Uint8Array
          hash: Uint8Array
        }[])
    const moved = Number(s.db.prepare('DELETE FROM ops WHERE author = ? AND seq > ?').run(no, cutoff).changes)
    const at = s.db.prepare('SELECT seq, hash, wall_ms, logical FROM ops WHERE author = ? AND seq = ?').get(no, cutoff) as
      HeadRow | undefined
    if (at === undefined) s.db.prepare('DELETE FROM heads WHERE author = ?').run(author)
    else s.st.upsertHead.run(author, at.seq, at.hash, at.wall_ms, at.logical)
    if (s.db.prepare("SELECT 1 AS x FROM sqlite_schema WHERE name = 'op_arrivals'").get() !== undefined)
      s.db.prepare('DELETE FROM op_arrivals WHERE author = ? AND seq > ?').run(no, cutoff)
    if (s.views === undefined) {
      markViewsStale(s)
      return { moved, rebuilt: undefined }
    }
    // most of the log leaving: one pass over what remains costs less than entity by entity
    if (moved > quarantineRebuildMin && moved * 2 > opCount(s)) return { moved, rebuilt: viewsWrite.rebuildViews(s.db) }
    viewsWrite.removeOps(s.views, removed)
    return { moved, rebuilt: undefined }
  })
  if (out.rebuilt !== undefined) {
    out.rebuilt.staleReads += staleReads
    s.views = out.rebuilt
    shrinkWal(s)
  }
  return out.moved
}

/** Quarantines of at most this many ops always re-derive only the entities they touched (removeOps). */
export const quarantineRebuildMin = 4096

/** An op a revocation took out of the log (quarantine), as kept for audit. */
export type QuarantinedOp = {
  readonly op: SignedOp
  readonly cutoff: number
  readonly reason: string
  readonly quarantinedMs: number
}

/** The ops quarantined so far, of one author or all, by author then seq. */
export function quarantined(s: OpLog, author?: AuthorId): QuarantinedOp[] {
  const where = author === undefined ? '' : `WHERE r.author = ${authorNoSql}`
  const rows = s.db
    .prepare(
      'SELECT r.bytes AS bytes, r.sig AS sig, r.cutoff AS cutoff, r.reason AS reason, r.quarantined_ms AS quarantined_ms ' +
        `FROM revoked_ops r ${where} ORDER BY (SELECT author FROM authors WHERE no = r.author), r.seq`,
    )
    .all(...(author === undefined ? [] : [author])) as {
    bytes: Uint8Array
    sig: Uint8Array | null
    cutoff: number
    reason: string
    quarantined_ms: number
  }[]
  return rows.map((r) => ({ op: decodeRow(r), cutoff: r.cutoff, reason: r.reason, quarantinedMs: r.quarantined_ms }))
}

/** How many ops quarantine has taken out of the log (the metrics' revoked_ops_quarantined). */
export function quarantinedCount(s: OpLog): number {
  return (s.db.prepare('SELECT count(*) AS n FROM revoked_ops').get() as { n: number }).n
}
