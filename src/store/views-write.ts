/**
 * Keeping the views (views-schema.ts) in step with the op log, inside the transaction that stores the
 * ops. The store does not re-implement the knowledge rules in SQL: an entity's rows are re-derived with
 * the reference model (knowledge viewsOf + dump) from that entity's effective ops, once per batch.
 *
 *   - Every stored op of a known kind with a valid body gets an op_entity row (knowledge entityOf).
 *   - Rule (3) is across entities: `idempotency` holds each (author, key)'s first op. An op with a key
 *     whose holder has a lower seq is shadowed; one with a lower seq than the holder displaces it (the
 *     holder is shadowed and its entity re-derived without it). The log accepts an author's ops in seq
 *     order only, so displacement does not happen through ingest; it is kept for any other writer.
 *   - Per touched entity: if it is new (no op of it before the batch: every new channel entry), its
 *     rows come from the batch's ops alone: nothing to load, nothing to delete; a new fact of a single
 *     assert (a channel entry) skips the model altogether: its one row is knowledge versionRowOf's.
 *     Otherwise its old rows go and new ones come from its effective ops; a fact's from the model
 *     views this writer cached for it with the new ops applied (else derived from all its ops, loaded
 *     from the log: see ViewWriter.facts for when the cache is dropped), a register (status, agent,
 *     config) needs only its current winner and the new ops, and a counter only adds the new ops' sums
 *     to its rows (both: unless a displacement took an op out). Ops loaded from the log come from a
 *     hash-checked cache of decoded, checked ops when they are there (ViewWriter.opCache). A fact whose
 *     one live version (not a channel entry) gives way to one other has its row updated in place
 *     (rewriteInPlace), not deleted and inserted.
 *   - In a group of batches (ingestMany: one transaction), the search index rows wait for the group's
 *     end (beginGroup, endGroup), so FTS5 gets them as one sorted run.
 *   - Versions that expired at or before the purge watermark (views_meta) are not written (purge).
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite'
import * as core from '../core/index.ts'
import type { Json } from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import type { Dump, VersionRow } from '../knowledge/index.ts'
import * as log from '../log/index.ts'
import type { AuthorId, EncodedOp } from '../log/index.ts'
import * as fts from './fts.ts'
import { viewTables, viewsSchema, viewsVersion } from './views-schema.ts'

/** Keys of views_meta. */
export const meta = {
  version: 'views_version',
  duplicateOps: 'duplicate_ops',
  invalidOps: 'invalid_ops',
  unknownKindOps: 'unknown_kind_ops',
  purgedVersions: 'purged_versions',
  purgeWatermarkMs: 'purge_watermark_ms',
  staleReads: 'stale_reads',
} as const

export type ViewWriter = {
  readonly db: DatabaseSync
  readonly st: ReturnType<typeof prepare>
  /**
   * Ops this writer derived rows from lately (all but lone new channel entries, which are seldom touched
   * again: caching them cost ~2% of ingest CPU), by author and seq, each with its body check remembered (parseOpOnce
   * keys on the op object): re-deriving an entity touched again (a keyed fact rewritten) reads its ops'
   * dots and hashes from the log and decodes and checks only those not here. An entry is used only if
   * its hash is the stored op's (a dot names one op in a store, forks are refused; the hash check also
   * covers an op cached by a transaction that rolled back). At most opCacheMax entries, oldest out.
   */
  readonly opCache: Cache<string, EncodedOp>
  /**
   * The model's views (knowledge Views) of facts this writer derived lately, by entity number, equal to
   * viewsOf(the fact's effective ops) as of this writer's last commit: a fact touched again gets its
   * new ops applied to them (the model is incremental) instead of being derived from every op it ever
   * had. Valid only while no one else wrote: dropped when another connection committed (PRAGMA
   * data_version, read at the start of every batch) and when a transaction of this writer rolled back
   * (op-log.ts transaction calls dropCaches); a fact an op left (rule 3) is derived again in full.
   */
  readonly facts: Cache<number, knowledge.Views>
  /**
   * Facts in `facts` whose rows, as this writer last wrote them, hold no ticket, resolution or trust
   * share (most facts: those need two versions): rewriting one skips those three deletes. Kept and
   * dropped with `facts`.
   */
  readonly factsPlain: Set<number>
  /**
   * Entity names -> numbers this writer made or read lately: a number never changes once committed,
   * but a rebuild by another connection renumbers them, so this is dropped with `facts` (another
   * connection committed, or a rollback). Saves the insert attempt and the lookup of an entity met
   * again (a keyed fact rewritten, a task claimed).
   */
  readonly entityIds: Cache<string, number>
  /** PRAGMA data_version when this writer last looked: another connection's commit changes it. */
  dataVersion: number
  /** Authors' numbers (op-log.ts authors), as read: a number never changes once committed. */
  readonly authorNos: Map<string, number>
  /**
   * Stale reads (views.ts sqlReads) this connection counted and has not written to views_meta yet: a read
   * does not write; the count goes in with this connection's next write transaction (applyOps) or when
   * the store is closed (op-log.ts close: flushStaleReads).
   */
  staleReads: number
  /**
   * Inside a group (beginGroup .. endGroup: one transaction of several batches, op-log.ts ingestMany):
   * applyOps leaves its search index rows queued and endGroup inserts them, so the group's FTS5 rows go
   * in as one run in search key order (one FTS5 segment per commit instead of one per batch: FTS5 starts
   * a segment whenever a rowid comes lower than the one before). At most groupPendingMax rows wait.
   */
  grouped: boolean
}

/** Ops kept by a writer's opCache: with their decoded bodies and checks, ~2 KB each: ~30 MB at most. */
export const opCacheMax = 16_384
/** Facts whose model views a writer keeps. */
export const factCacheMax = 4096

/**
 * A bounded map that forgets in generations: entries go into `young`; when it is full it becomes
 * `old` (the previous old is dropped). O(1) per operation, no per-entry bookkeeping.
 */
type Cache<K, V> = { young: Map<K, V>; old: Map<K, V>; readonly half: number }

function cache<K, V>(max: number): Cache<K, V> {
  return { young: new Map(), old: new Map(), half: Math.max(1, Math.floor(max / 2)) }
}

function cacheGet<K, V>(c: Cache<K, V>, k: K): V | undefined {
  return c.young.get(k) ?? c.old.get(k)
}

function cacheSet<K, V>(c: Cache<K, V>, k: K, v: V): void {
  if (c.young.size >= c.half) {
    c.old = c.young
    c.young = new Map()
  }
  c.young.set(k, v)
}

/** Forgets every cached op and fact view (a transaction rolled back: they may hold what it undid). */
export function dropCaches(w: ViewWriter): void {
  w.opCache.young.clear()
  w.opCache.old.clear()
  dropFacts(w)
  w.authorNos.clear()
  w.grouped = false
  fts.dropPending(w.db)
}

/** Search index rows a group leaves queued at most (~200 B each); more are inserted at a batch's end. */
export const groupPendingMax = 32_768

/** Starts a group of batches in the caller's transaction (see ViewWriter.grouped). */
export function beginGroup(w: ViewWriter): void {
  w.grouped = true
}

/** Ends the group: its queued search index rows go in (inside the transaction, before its commit). */
export function endGroup(w: ViewWriter): void {
  w.grouped = false
  fts.flushIndex(w.db)
}

/** Forgets the cached fact views and entity numbers. */
function dropFacts(w: ViewWriter): void {
  w.facts.young.clear()
  w.facts.old.clear()
  w.factsPlain.clear()
  w.entityIds.young.clear()
  w.entityIds.old.clear()
}

/** Entity numbers a writer remembers (about 100 B each). */
export const entityCacheMax = 16_384

function prepare(db: DatabaseSync) {
  const p = (sql: string): StatementSync => db.prepare(sql)
  return {
    metaGet: p('SELECT value FROM views_meta WHERE key = ?'),
    dataVersion: p('PRAGMA data_version'),
    metaSet: p(
      'INSERT INTO views_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
    metaAdd: p(
      'INSERT INTO views_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value',
    ),
    idemGet: p('SELECT seq, entity FROM idempotency WHERE author = ? AND key = ?'),
    idemPut: p(
      'INSERT INTO idempotency (author, key, seq, kind, fact_id, entity) VALUES (?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (author, key) DO UPDATE SET seq = excluded.seq, kind = excluded.kind, fact_id = excluded.fact_id, ' +
        'entity = excluded.entity',
    ),
    entityName: p('SELECT entity FROM entities WHERE id = ?'),
    authorNo: p('SELECT no FROM authors WHERE author = ?'),
    shadow: p('UPDATE op_entity SET shadowed = 1 WHERE entity = ? AND author = ? AND seq = ?'),
    entityId: p('SELECT id FROM entities WHERE entity = ?'),
    // a plain insert that tells by its change count whether it made the row (RETURNING costs more)
    newEntity: p('INSERT INTO entities (entity) VALUES (?) ON CONFLICT (entity) DO NOTHING'),
    idemNew: p(
      'INSERT INTO idempotency (author, key, seq, kind, fact_id, entity) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    insertEntity: p('INSERT INTO op_entity (entity, author, seq, shadowed) VALUES (?, ?, ?, ?)'),
    entityOps: p(
      'SELECT a.author AS author, o.seq AS seq, o.hash AS hash FROM op_entity e ' +
        'JOIN ops o ON o.author = e.author AND o.seq = e.seq JOIN authors a ON a.no = e.author ' +
        'WHERE e.entity = ? AND e.shadowed = 0',
    ),
    opAt: p(
      'SELECT bytes, hash FROM ops WHERE author = (SELECT no FROM authors WHERE author = ?) AND seq = ?',
    ),
    insertVersion: p(
      'INSERT INTO versions (entity, fact_id, author, seq, wall_ms, logical, value, verified, ttl_seconds, expires_ms, ' +
        'valid_from, valid_to, causal_id, idempotency_key, channel, tags, text, supersedes) ' +
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    insertTicket: p(
      'INSERT INTO tickets (ticket_id, fact_id, dots, wall_ms, logical) VALUES (?, ?, ?, ?, ?)',
    ),
    insertResolved: p(
      'INSERT INTO resolved (ticket_id, fact_id, dots, opened_wall_ms, opened_logical, resolved_by, ' +
        'resolved_wall_ms, resolved_logical, value, time_to_verify_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    insertTrust: p('INSERT INTO trust_shares (fact_id, author, agreed, disagreed) VALUES (?, ?, ?, ?)'),
    versionIds: p('SELECT rowid AS id, channel FROM versions WHERE entity = ?'),
    updateVersion: p(
      'UPDATE versions SET fact_id = ?, author = ?, seq = ?, wall_ms = ?, logical = ?, value = ?, verified = ?, ' +
        'ttl_seconds = ?, expires_ms = ?, valid_from = ?, valid_to = ?, causal_id = ?, idempotency_key = ?, channel = ?, ' +
        'tags = ?, text = ?, supersedes = ? WHERE rowid = ?',
    ),
    deleteVersions: p(
      'DELETE FROM versions WHERE entity = ? RETURNING rowid AS id, channel, text, value, tags',
    ),
    deleteTickets: p('DELETE FROM tickets WHERE fact_id = ?'),
    deleteResolved: p('DELETE FROM resolved WHERE fact_id = ?'),
    deleteTrust: p('DELETE FROM trust_shares WHERE fact_id = ?'),
    putStatus: p(
      'INSERT OR REPLACE INTO statuses (author, text, health, working_on, wall_ms, logical, seq) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    statusSeq: p('SELECT seq FROM statuses WHERE author = ?'),
    deleteStatus: p('DELETE FROM statuses WHERE author = ?'),
    putAgent: p('INSERT OR REPLACE INTO agents (author, name, wall_ms, logical, seq) VALUES (?, ?, ?, ?, ?)'),
    agentSeq: p('SELECT seq FROM agents WHERE author = ?'),
    deleteAgent: p('DELETE FROM agents WHERE author = ?'),
    putConfig: p(
      'INSERT OR REPLACE INTO configs (key, value, version, author, wall_ms, logical, seq) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    configDot: p('SELECT author, seq FROM configs WHERE key = ?'),
    deleteConfig: p('DELETE FROM configs WHERE key = ?'),
    addCounter: p(
      'INSERT INTO counters (name, author, p, n) VALUES (?, ?, ?, ?) ON CONFLICT (name, author) DO UPDATE SET ' +
        `p = min(${Number.MAX_SAFE_INTEGER}, p + excluded.p), n = min(${Number.MAX_SAFE_INTEGER}, n + excluded.n)`,
    ),
    deleteCounter: p('DELETE FROM counters WHERE name = ?'),
    putTask: p(
      'INSERT INTO tasks (task_id, title, depends, assignee, created_by, created_wall_ms, created_logical, state, ' +
        'claimed_by, claims, done_by, done_wall_ms, done_logical, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    putDepend: p('INSERT INTO task_depends (task_id, dep) VALUES (?, ?)'),
    deleteTask: p('DELETE FROM tasks WHERE task_id = ?'),
    deleteDepends: p('DELETE FROM task_depends WHERE task_id = ?'),
  }
}

/** Does the file hold views of this code's version? (false: none, or another version: rebuild) */
export function viewsCurrent(db: DatabaseSync): boolean {
  try {
    const r = db.prepare('SELECT value FROM views_meta WHERE key = ?').get(meta.version) as
      { value: number } | undefined
    return r?.value === viewsVersion
  } catch {
    return false // reason: no views_meta, or a damaged one: either way the views are rebuilt
  }
}

/**
 * Prepares the statements of the views; throws if a table is missing or not the expected shape (a
 * damaged views schema: rebuild repairs it).
 */
export function createViewWriter(db: DatabaseSync): ViewWriter {
  const st = prepare(db)
  const dataVersion = (st.dataVersion.get() as { data_version: number }).data_version
  return {
    db,
    st,
    opCache: cache(opCacheMax),
    facts: cache(factCacheMax),
    factsPlain: new Set(),
    entityIds: cache(entityCacheMax),
    dataVersion,
    authorNos: new Map(),
    staleReads: 0,
    grouped: false,
  }
}

/** The number of an author whose ops are stored (the caller inserted them first). */
function authorNo(w: ViewWriter, author: string): number {
  let no = w.authorNos.get(author)
  if (no === undefined) {
    const r = w.st.authorNo.get(author) as { no: number } | undefined
    // reason: applyOps runs after the ops' insert, which numbers their author
    if (r === undefined)
      throw new core.AssertionFailed(`store: ops of an author without a number (${author})`)
    no = r.no
    w.authorNos.set(author, no)
  }
  return no
}

function cacheKey(author: string, seq: number): string {
  return `${author}\n${seq}`
}

function remember(w: ViewWriter, e: EncodedOp): void {
  // an op decoded from a batch is a view of the batch's bytes (log decodeBatch): the cache keeps a copy
  // of its own bytes, not the whole batch
  const own = e.bytes.byteLength === e.bytes.buffer.byteLength ? e : { ...e, bytes: e.bytes.slice() }
  cacheSet(w.opCache, cacheKey(e.op.author, e.op.seq), own)
}

/** Drops every view table and creates them empty (inside the caller's transaction). */
export function resetViews(db: DatabaseSync): void {
  for (const t of viewTables) db.exec(`DROP TABLE IF EXISTS ${t}`)
  db.exec(viewsSchema)
  db.prepare('INSERT INTO views_meta (key, value) VALUES (?, ?)').run(meta.version, viewsVersion)
}

export function metaValue(w: ViewWriter, key: string): number {
  return (w.st.metaGet.get(key) as { value: number } | undefined)?.value ?? 0
}

export function addToMeta(w: ViewWriter, key: string, n: number): void {
  if (n !== 0) w.st.metaAdd.run(key, n)
}

// ---- applying a batch

/** An entity touched by a batch: its new effective ops, and how its rows are to be derived. */
type Touch = {
  /** Its number in `entities`. */
  readonly id: number
  /** No op before the batch: no rows to delete, the batch's ops are all its ops. */
  readonly fresh: boolean
  /** An op left it (rule 3): derive from every effective op. */
  displaced: boolean
  /** Its rows are to be derived again (an op joined or left it). */
  touched: boolean
  readonly ops: EncodedOp[]
}

/**
 * Brings the views up to date with ops just inserted into the ops table (the caller's transaction).
 * Ops of one author must come in seq order; any author order.
 */
export function applyOps(w: ViewWriter, ops: readonly EncodedOp[]): void {
  const st = w.st
  const dv = (st.dataVersion.get() as { data_version: number }).data_version
  if (dv !== w.dataVersion) {
    // another connection committed since this writer last looked: its cached fact views may be stale
    dropFacts(w)
    w.dataVersion = dv
  }
  fts.beginBatch(w.db)
  const touched = new Map<string, Touch>()
  let invalid = 0
  let unknown = 0
  /** The entity's Touch, numbered now if new; `derive` only those marked touched. */
  const entry = (entity: string): Touch => {
    let t = touched.get(entity)
    if (t === undefined) {
      let id = cacheGet(w.entityIds, entity)
      let fresh = false
      if (id === undefined) {
        // most entities are new (every channel entry): try the insert first
        const made = st.newEntity.run(entity)
        fresh = made.changes === 1
        id = fresh ? Number(made.lastInsertRowid) : (st.entityId.get(entity) as { id: number }).id
        // remembered when met again (not fresh), or by derive (not a lone channel entry)
        if (!fresh) cacheSet(w.entityIds, entity, id)
      }
      t = { id, fresh, displaced: false, touched: false, ops: [] }
      touched.set(entity, t)
    }
    return t
  }
  // each op's body check, made once here (derive reads it; remembered for the model only where needed)
  const parsed = new Map<EncodedOp, knowledge.BodyResult>()
  for (const e of ops) {
    const op = e.op
    const r = knowledge.parseOp(op)
    parsed.set(e, r)
    let entity: string | undefined
    if (r.ok) entity = knowledge.entityOfKnown(op, r.value)
    else if (r.reason === 'unknown_kind') unknown++
    else invalid++
    const t = entity === undefined ? undefined : entry(entity)
    const no = authorNo(w, op.author)
    let shadowed = false
    const key = op.idempotencyKey
    if (key !== undefined) {
      // most keys are new: try the insert first; only a key already held needs its holder read
      const factId = entity?.startsWith('fact:') === true ? entity.slice(5) : null
      const eid = t === undefined ? null : t.id
      if (st.idemNew.run(op.author, key, op.seq, op.kind, factId, eid).changes === 0) {
        const holder = st.idemGet.get(op.author, key) as { seq: number; entity: number | null }
        if (holder.seq < op.seq) shadowed = true
        else {
          st.idemPut.run(op.author, key, op.seq, op.kind, factId, eid)
          if (holder.entity !== null) displace(w, no, op.author, holder.seq, holder.entity, entry)
        }
      }
    }
    if (t === undefined) continue
    st.insertEntity.run(t.id, no, op.seq, shadowed ? 1 : 0)
    if (shadowed) continue
    t.touched = true
    t.ops.push(e)
  }
  const watermark = metaValue(w, meta.purgeWatermarkMs)
  for (const [entity, t] of touched) if (t.touched) derive(w, entity, t, watermark, parsed)
  // the batch's search index rows, in key order (a group's at its end: endGroup)
  if (!w.grouped || fts.pendingCount(w.db) >= groupPendingMax) fts.flushIndex(w.db)
  addToMeta(w, meta.invalidOps, invalid)
  addToMeta(w, meta.unknownKindOps, unknown)
  if (w.staleReads > 0) {
    // a rollback loses them: a metric, not data
    addToMeta(w, meta.staleReads, w.staleReads)
    w.staleReads = 0
  }
}

/**
 * Writes the stale reads counted since the last write (ViewWriter.staleReads), when the connection is
 * about to close: one small transaction, without waiting for the write lock (busy_timeout 0: if another
 * process holds it, the count is dropped: a metric, never worth stalling a read) and without an fsync
 * (synchronous = OFF for this last commit: a power loss may drop the count, never the log's ops, which
 * were synced when they were written). Nothing is written when nothing was counted.
 */
export function flushStaleReads(w: ViewWriter): void {
  if (w.staleReads === 0 || w.db.isTransaction) return
  try {
    w.db.exec('PRAGMA busy_timeout = 0')
    w.db.exec('PRAGMA synchronous = OFF')
    w.db.exec('BEGIN IMMEDIATE')
    try {
      addToMeta(w, meta.staleReads, w.staleReads)
      w.db.exec('COMMIT')
      w.staleReads = 0
    } catch {
      if (w.db.isTransaction) w.db.exec('ROLLBACK')
    }
  } catch {
    // reason: busy (another writer), read-only or full: the count is a metric and is dropped
  }
}

/** Rule (3): the op at (author, seq), of the entity numbered entityNo, is no longer its key's first op. */
function displace(
  w: ViewWriter,
  no: number,
  author: AuthorId,
  seq: number,
  entityNo: number,
  entry: (entity: string) => Touch,
): void {
  w.st.shadow.run(entityNo, no, seq)
  const name = (w.st.entityName.get(entityNo) as { entity: string } | undefined)?.entity
  // reason: idempotency rows name entities this writer numbered in the same transactions
  if (name === undefined) throw new core.AssertionFailed(`store: entity ${entityNo} has no name`)
  const t = entry(name)
  t.displaced = true
  t.touched = true
  const i = t.ops.findIndex((e) => e.op.author === author && e.op.seq === seq)
  if (i >= 0) t.ops.splice(i, 1)
}

function decodeStored(r: { bytes: Uint8Array; hash: Uint8Array }): EncodedOp {
  const d = log.decodeOp(r.bytes)
  // reason: these bytes passed validation on the way in; a failure here means the file was altered
  if (!d.ok) throw new core.AssertionFailed(`store: a stored op does not decode: ${d.detail}`)
  return { op: d.value, bytes: r.bytes, hash: r.hash }
}

/** The entity's effective ops, from the log. */
export function loadEntity(w: ViewWriter, entity: string): EncodedOp[] {
  const r = w.st.entityId.get(entity) as { id: number } | undefined
  return r === undefined ? [] : loadEntityId(w, r.id)
}

function loadEntityId(w: ViewWriter, id: number): EncodedOp[] {
  const rows = w.st.entityOps.all(id) as { author: string; seq: number; hash: Uint8Array }[]
  const out: EncodedOp[] = []
  for (const r of rows) {
    const e = opAt(w, r.author, r.seq, r.hash)
    // reason: op_entity rows name stored ops (same transaction, and the join found it)
    if (e === undefined) throw new core.AssertionFailed(`store: op ${r.seq} of ${r.author} vanished`)
    out.push(e)
  }
  return out
}

/** The stored op at (author, seq), from the cache when its hash is known and matches. */
function opAt(w: ViewWriter, author: string, seq: number, hash?: Uint8Array): EncodedOp | undefined {
  const hit = cacheGet(w.opCache, cacheKey(author, seq))
  if (hit !== undefined && hash !== undefined && core.codec.bytesEqual(hit.hash, hash)) return hit
  const r = w.st.opAt.get(author, seq) as { bytes: Uint8Array; hash: Uint8Array } | undefined
  if (r === undefined) return undefined
  if (hit !== undefined && core.codec.bytesEqual(hit.hash, r.hash)) return hit
  const e = decodeStored(r)
  remember(w, e)
  return e
}

/** Replaces an entity's rows with those the model derives (see the header for the shortcuts). */
function derive(
  w: ViewWriter,
  entity: string,
  t: Touch,
  watermarkMs: number,
  parsed: ReadonlyMap<EncodedOp, knowledge.BodyResult>,
): void {
  const st = w.st
  const colon = entity.indexOf(':')
  const type = entity.slice(0, colon)
  const id = entity.slice(colon + 1)
  const incremental = !t.fresh && !t.displaced
  if (t.fresh && type === 'fact' && t.ops.length === 1) {
    // a new fact of one op (every channel entry): an assert is its only version, live (nothing else can
    // supersede it), with no ticket, resolution or trust (those need two versions); a lone retract
    // observes nothing present and makes no row
    const e = t.ops[0] as EncodedOp
    const r = parsed.get(e) ?? knowledge.parseOpOnce(e.op)
    // neither the op nor the entity number is cached: most such facts are never touched again
    if (r.ok && r.value.kind === 'fact.assert') {
      const dot = knowledge.formatDot({ node: e.op.author, seq: e.op.seq })
      writeVersion(w, knowledge.versionRowOf(e.op, dot, id, r.value.body), t.id, watermarkMs)
    }
    return
  }
  if (t.fresh) cacheSet(w.entityIds, entity, t.id)
  for (const e of t.ops) {
    const r = parsed.get(e)
    if (r !== undefined) knowledge.rememberParse(e.op, r)
    remember(w, e)
  }
  let ops: EncodedOp[]
  if (t.fresh) ops = t.ops
  else if (incremental && (type === 'status' || type === 'agent' || type === 'config')) {
    // a register's winner is the greatest of its ops: the old winner and the new ops suffice
    const at = winnerDot(st, type, id)
    const winner = at === undefined ? undefined : opAt(w, at.author, at.seq)
    ops = winner === undefined ? loadEntityId(w, t.id) : [winner, ...t.ops]
  } else if (incremental && type === 'counter') {
    // sums only grow: add the new ops' sums (saturating, as the model does)
    for (const c of knowledge.dump(knowledge.viewsOf(t.ops)).counters)
      st.addCounter.run(c.name, c.author, c.p, c.n)
    return
  } else if (type === 'fact') {
    // the fact's model views: cached ones with the new ops applied, else derived from all its ops
    let v = incremental ? cacheGet(w.facts, t.id) : undefined
    // the rows written from the cached views had no ticket, resolution or trust share: none to delete
    const plain = v !== undefined && w.factsPlain.has(t.id)
    if (v === undefined) v = knowledge.viewsOf(loadEntityId(w, t.id))
    else for (const e of t.ops) knowledge.apply(v, e)
    const d = knowledge.dump(v)
    const inPlace = rewriteInPlace(w, d.versions, t.id, watermarkMs)
    if (!inPlace) deleteVersions(w, st.deleteVersions.all(t.id))
    if (!plain) {
      st.deleteTickets.run(id)
      st.deleteResolved.run(id)
      st.deleteTrust.run(id)
    }
    writeFact(w, d, t.id, id, watermarkMs, inPlace)
    rememberFact(w, t.id, v, d)
    return
  } else ops = loadEntityId(w, t.id)
  const d = knowledge.dump(knowledge.viewsOf(ops))
  switch (type) {
    case 'fact':
      if (!t.fresh) {
        deleteVersions(w, st.deleteVersions.all(t.id))
        st.deleteTickets.run(id)
        st.deleteResolved.run(id)
        st.deleteTrust.run(id)
      }
      writeFact(w, d, t.id, id, watermarkMs)
      return
    case 'task':
      if (!t.fresh) {
        st.deleteTask.run(id)
        st.deleteDepends.run(id)
      }
      for (const r of d.tasks) {
        st.putTask.run(
          r.task_id,
          r.title,
          JSON.stringify(r.depends),
          r.assignee,
          r.created_by,
          r.created_at.wallMs,
          r.created_at.logical,
          r.state,
          r.claimed_by,
          JSON.stringify(r.claims),
          r.done_by,
          r.done_at?.wallMs ?? null,
          r.done_at?.logical ?? null,
          r.result === null ? null : JSON.stringify(r.result),
        )
        for (const dep of r.depends) st.putDepend.run(r.task_id, dep)
      }
      return
    case 'status':
      if (!t.fresh) st.deleteStatus.run(id)
      for (const r of d.statuses)
        st.putStatus.run(
          r.author,
          r.text,
          r.health,
          r.working_on,
          r.updated_at.wallMs,
          r.updated_at.logical,
          seqOf(r.dot),
        )
      return
    case 'agent':
      if (!t.fresh) st.deleteAgent.run(id)
      for (const r of d.agents)
        st.putAgent.run(r.author, r.name, r.updated_at.wallMs, r.updated_at.logical, seqOf(r.dot))
      return
    case 'config':
      if (!t.fresh) st.deleteConfig.run(id)
      for (const r of d.configs)
        st.putConfig.run(
          r.key,
          JSON.stringify(r.value),
          r.version,
          r.author,
          r.set_at.wallMs,
          r.set_at.logical,
          seqOf(r.dot),
        )
      return
    case 'counter':
      if (!t.fresh) st.deleteCounter.run(id)
      for (const c of d.counters) st.addCounter.run(c.name, c.author, c.p, c.n)
      return
    default:
      throw new core.AssertionFailed(`store: an op of an unknown entity ${entity}`)
  }
}

/** Caches a fact's model views after its rows (d) were written. */
function rememberFact(w: ViewWriter, id: number, v: knowledge.Views, d: Dump): void {
  const young = w.facts.young
  cacheSet(w.facts, id, v)
  if (w.facts.young !== young) {
    // a generation went: keep the plain marks of the facts still cached only
    for (const f of w.factsPlain) if (!w.facts.young.has(f) && !w.facts.old.has(f)) w.factsPlain.delete(f)
  }
  if (d.tickets.length === 0 && d.resolved.length === 0 && d.trust.length === 0) w.factsPlain.add(id)
  else w.factsPlain.delete(id)
}

function winnerDot(
  st: ViewWriter['st'],
  type: string,
  id: string,
): { author: string; seq: number } | undefined {
  if (type === 'config') return st.configDot.get(id) as { author: string; seq: number } | undefined
  const r = (type === 'status' ? st.statusSeq : st.agentSeq).get(id) as { seq: number } | undefined
  return r === undefined ? undefined : { author: id, seq: r.seq }
}

function seqOf(dot: string): number {
  return Number(dot.slice(dot.lastIndexOf(':') + 1))
}

/** created_at + ttl, or null without a TTL. */
export function expiresMs(r: VersionRow): number | null {
  return r.ttl_seconds === null ? null : r.created_at.wallMs + r.ttl_seconds * 1000
}

/** The text column of an entry's search index (reads.ts searchText without the tags). */
function searchBody(r: VersionRow): string {
  return r.text ?? (typeof r.value === 'string' ? r.value : '')
}

/** Takes deleted versions' entries out of the search index (DELETE ... RETURNING rowid AS id, channel, text, value, tags). */
export function deleteVersions(w: ViewWriter, deleted: readonly unknown[]): void {
  fts.unindexDeleted(w.db, deleted)
}

/** A live version's row (and its search index entry if it is a channel entry), unless purged. */
function writeVersion(w: ViewWriter, r: VersionRow, entityNo: number, watermarkMs: number): void {
  const st = w.st
  const exp = expiresMs(r)
  if (exp !== null && exp <= watermarkMs) return // purged
  const { lastInsertRowid } = st.insertVersion.run(entityNo, ...versionArgs(r, exp))
  if (r.channel !== null) fts.indexEntry(w.db, Number(lastInsertRowid), searchBody(r), r.tags)
}

/**
 * The common rewrite of a fact, one live version (not a channel entry) replaced by one other, as one
 * UPDATE of its row in place instead of a delete and an insert: the row keeps its id, so versions_by_entity
 * keeps its entry, and the partial indexes hold no row without a channel (nor, without a TTL, by expiry).
 * Returns false, writing nothing, for any other case (the caller deletes and inserts).
 */
function rewriteInPlace(w: ViewWriter, rows: readonly VersionRow[], entityNo: number, watermarkMs: number): boolean {
  const r = rows[0]
  if (rows.length !== 1 || r === undefined || r.channel !== null) return false
  const exp = expiresMs(r)
  if (exp !== null && exp <= watermarkMs) return false // purged: no row
  const old = w.st.versionIds.all(entityNo) as { id: number; channel: string | null }[]
  const o = old[0]
  if (old.length !== 1 || o === undefined || o.channel !== null) return false
  w.st.updateVersion.run(...versionArgs(r, exp), o.id)
  return true
}

/** A version row's columns after `entity`, in insertVersion's (and updateVersion's) order. */
function versionArgs(r: VersionRow, exp: number | null): SQLInputValue[] {
  return [
    r.fact_id,
    r.author,
    r.seq,
    r.created_at.wallMs,
    r.created_at.logical,
    JSON.stringify(r.value),
    r.verified ? 1 : 0,
    r.ttl_seconds,
    exp,
    r.valid_from,
    r.valid_to,
    r.causal_id,
    r.idempotency_key,
    r.channel,
    jsonList(r.tags),
    r.text,
    jsonList(r.supersedes),
  ]
}

/** A list as JSON text ('[]' for the empty one, most versions' supersedes and many entries' tags). */
function jsonList(xs: readonly string[]): string {
  return xs.length === 0 ? '[]' : JSON.stringify(xs)
}

function writeFact(w: ViewWriter, d: Dump, entityNo: number, factId: string, watermarkMs: number, versionsDone = false): void {
  const st = w.st
  if (!versionsDone) for (const r of d.versions) writeVersion(w, r, entityNo, watermarkMs)
  for (const r of d.tickets)
    st.insertTicket.run(r.ticket_id, factId, JSON.stringify(r.dots), r.opened_at.wallMs, r.opened_at.logical)
  for (const r of d.resolved)
    st.insertResolved.run(
      r.ticket_id,
      factId,
      JSON.stringify(r.dots),
      r.opened_at.wallMs,
      r.opened_at.logical,
      r.resolved_by,
      r.resolved_at.wallMs,
      r.resolved_at.logical,
      JSON.stringify(r.value as Json),
      r.time_to_verify_ms,
    )
  for (const r of d.trust) st.insertTrust.run(factId, r.author, r.agreed, r.disagreed)
}

// ---- rebuild

/** Ops read per page while rebuilding. */
const rebuildPageOps = 4096

/**
 * Drops every view table and derives them again from the op log, author by author in seq order, a
 * page at a time (the caller's transaction). The metrics counters that only ingest can know (duplicate
 * ops ignored, purges) and the purge watermark are kept.
 */
export function rebuildViews(db: DatabaseSync): ViewWriter {
  const kept = new Map<string, number>()
  if (db.prepare("SELECT 1 AS x FROM sqlite_schema WHERE name = 'views_meta'").get() !== undefined) {
    try {
      for (const k of [meta.duplicateOps, meta.purgedVersions, meta.purgeWatermarkMs, meta.staleReads]) {
        const r = db.prepare('SELECT value FROM views_meta WHERE key = ?').get(k) as
          { value: number } | undefined
        if (r !== undefined) kept.set(k, r.value)
      }
    } catch {
      // reason: a damaged meta table is what a rebuild repairs; its counters start again from zero
    }
  }
  resetViews(db)
  const w = createViewWriter(db)
  for (const [k, v] of kept) w.st.metaSet.run(k, v)
  const page = db.prepare(
    'SELECT author, bytes, hash FROM ops WHERE author > ? OR (author = ? AND seq > ?) ORDER BY author, seq LIMIT ?',
  )
  let author = 0
  let seq = 0
  for (;;) {
    const rows = page.all(author, author, seq, rebuildPageOps) as {
      author: number
      bytes: Uint8Array
      hash: Uint8Array
    }[]
    if (rows.length === 0) break
    const ops = rows.map(decodeStored)
    applyOps(w, ops)
    const last = ops[ops.length - 1] as EncodedOp
    author = (rows[rows.length - 1] as { author: number }).author
    seq = last.op.seq
  }
  return w
}

// ---- removing ops (quarantine)

/**
 * Brings the views up to date after ops were deleted from the ops table (the caller's transaction;
 * op-log.ts quarantine): `removed` are their stored rows. Their op_entity and idempotency rows go, the
 * invalid/unknown-kind counts lose them, and exactly the entities they belonged to are derived again
 * from the effective ops that remain (facts with their tickets, resolutions and trust shares, tasks
 * with their depends, registers, counters summed again from the remaining adds); an entity left with
 * no op loses its number, as a store that never took the ops would not have it.
 *
 * Requires that no remaining op was shadowed (rule 3) by a removed one: true when, per author, the
 * removed ops are all its ops after some seq (a key's holder is its author's first op with it, so every
 * op it shadows is later and removed with it).
 */
export function removeOps(w: ViewWriter, removed: readonly { bytes: Uint8Array; hash: Uint8Array }[]): void {
  const st = w.st
  // the fact views and entity numbers cached may hold what leaves: forget them (and see another
  // connection's commits, as applyOps does)
  dropFacts(w)
  w.dataVersion = (st.dataVersion.get() as { data_version: number }).data_version
  fts.beginBatch(w.db)
  const del = {
    opEntity: w.db.prepare('DELETE FROM op_entity WHERE entity = ? AND author = ? AND seq = ?'),
    idem: w.db.prepare('DELETE FROM idempotency WHERE author = ? AND key = ? AND seq = ?'),
    anyOp: w.db.prepare('SELECT 1 AS x FROM op_entity WHERE entity = ? LIMIT 1'),
    entity: w.db.prepare('DELETE FROM entities WHERE id = ?'),
  }
  const entities = new Map<string, number>()
  let invalid = 0
  let unknown = 0
  for (const row of removed) {
    const e = decodeStored(row)
    const op = e.op
    if (op.idempotencyKey !== undefined) del.idem.run(op.author, op.idempotencyKey, op.seq)
    const r = knowledge.parseOpOnce(op)
    if (!r.ok) {
      if (r.reason === 'unknown_kind') unknown++
      else invalid++
      continue
    }
    const entity = knowledge.entityOfKnown(op, r.value)
    let id = entities.get(entity)
    if (id === undefined) {
      // reason: every stored op of a known kind with a valid body has its entity numbered (applyOps)
      const found = st.entityId.get(entity) as { id: number } | undefined
      if (found === undefined) throw new core.AssertionFailed(`store: a stored op's entity ${entity} has no number`)
      id = found.id
      entities.set(entity, id)
    }
    del.opEntity.run(id, authorNo(w, op.author), op.seq)
  }
  const watermark = metaValue(w, meta.purgeWatermarkMs)
  for (const [entity, id] of entities) {
    derive(w, entity, { id, fresh: false, displaced: true, touched: true, ops: [] }, watermark, new Map())
    if (del.anyOp.get(id) === undefined) {
      del.entity.run(id)
      w.facts.young.delete(id)
      w.facts.old.delete(id)
      w.factsPlain.delete(id)
    }
  }
  fts.flushIndex(w.db)
  addToMeta(w, meta.invalidOps, -invalid)
  addToMeta(w, meta.unknownKindOps, -unknown)
}
