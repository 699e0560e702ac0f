/**
 * The search index: exact BM25 top k over the channel entries without ranking every match (the design,
 * its proof and its figures: docs/SEARCH.md; the benchmark bench/search.ts measures this module).
 *
 *   - Tokens are made here (`tokenize`) and FTS5 is fed text it splits into exactly these tokens (ASCII
 *     text as it is, other text as `tokens.join(' ')`: entryTokens): FTS5 sees exactly these
 *     tokens, so an entry's length D (body + tags tokens, what bm25() uses) is known before the insert.
 *   - The FTS5 rowid is a search key sk = D * 2^32 + (2^32 - 1 - id), id the entry's row id (versions.rowid
 *     in the store): a doclist walked in rowid order visits the shortest entries first (newest first among
 *     equal lengths), and the id comes back from the key (`keyId`), so no column is needed to join.
 *   - `search_reps(term, sk, tf)` holds the (term, entry) pairs where the term occurs twice or more.
 *   - `search_term_df(term, df)` holds exact document counts of tracked terms (frequent ones), kept by
 *     every writer; other terms are counted by walking their doclist (fts5vocab). A search never writes:
 *     it notes a frequent untracked term in memory, and the next write of this process (`indexEntry`, in
 *     the writer's transaction) starts tracking it with its exact count.
 *   - A search of words: the first k of P0 (every query term once) in sk order, plus P1 (some term
 *     repeated: per tf group for one term, all of it for several), scored in JS with FTS5's own formula
 *     and statistics (ranks equal FTS5's bm25() to the bit), top k by (rank, sk). A query whose P1 looks
 *     large (a very common word with another) is ranked by plain FTS5, as is one of more than 16 words.
 *
 * Everything here runs inside the caller's connection; the write functions inside its transaction.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite'

function fail(msg: string): never {
  throw new Error(`search index: ${msg}`)
}

// ---- tokens and keys

/**
 * Letters and digits outside ASCII that count as token characters: blocks whose letters FTS5's unicode61
 * tables (Unicode 6.1) already class as letters (Latin-1 and Latin Extended, Greek, Cyrillic, Armenian,
 * Hebrew, Arabic, kana, CJK unified ideographs up to U+9FCC, Hangul syllables). Anything else separates
 * tokens, so a token never holds a character FTS5 would split on: the D computed here is FTS5's D. (Text
 * in other scripts is not searchable until its block is added here and checked.)
 */
const tokenRe =
  /(?:[a-z0-9_]|[[\p{L}\p{N}]&&[\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF\u0531-\u0587\u05D0-\u05EA\u0620-\u064A\u3041-\u3096\u30A1-\u30FA\u4E00-\u9FCC\uAC00-\uD7A3]])+/gv

/**
 * The tokens of a text: NFKD, combining marks removed, lower case, runs of token characters (ASCII
 * letters, digits and `_`, as the FTS5 tokenizer has tokenchars '_'; and the letters of `tokenRe`).
 */
export function tokenize(text: string): string[] {
  // ASCII text (most of it) is its own NFKD form, has no combining marks, and only [a-z0-9_] of tokenRe
  // can match in it: the same tokens, without the normalization and the Unicode classes
  if (asciiRe.test(text)) return text.toLowerCase().match(asciiTokenRe) ?? []
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().match(tokenRe) ?? []
}

const asciiRe = /^\p{ASCII}*$/u
const asciiTokenRe = /[a-z0-9_]+/g

/**
 * An entry as the index sees it, its two FTS5 columns: body text, then tags; the tokens, and the text
 * FTS5 is given for each column (`bodyText`, `tagsText`), of which FTS5's tokenizer makes exactly these
 * tokens: ASCII text as it is (FTS5's unicode61 splits ASCII at the same characters and folds its case as
 * tokenize does: no copy to make), other text as its tokens joined by spaces.
 */
export type EntryTokens = {
  readonly body: string[]
  readonly tags: string[]
  readonly length: number
  readonly bodyText: string
  readonly tagsText: string
}

export function entryTokens(body: string, tags: readonly string[]): EntryTokens {
  const ascii = asciiRe.test(body)
  const b = ascii ? (body.toLowerCase().match(asciiTokenRe) ?? []) : tokenize(body)
  const t = tags.flatMap(tokenize)
  const bodyText = ascii ? body : b.join(' ')
  const tagsText = tags.every((x) => asciiRe.test(x)) ? tags.join(' ') : t.join(' ')
  return { body: b, tags: t, length: b.length + t.length, bodyText, tagsText }
}

/** Each term's frequency in the entry, over both columns (bm25() sums a phrase's hits over columns). */
export function termFrequencies(t: EntryTokens): Map<string, number> {
  const c = termCounts(t)
  return new Map(c.terms.map((w, i) => [w, c.counts[i] as number]))
}

/** The entry's distinct terms (both columns) in order of first occurrence, and how often each occurs. */
export type TermCounts = { readonly terms: string[]; readonly counts: number[] }

/**
 * termFrequencies as two lists, counted in a scratch table of open addressing kept between calls (a Map
 * per entry grows and rehashes its table several times: counting this way costs about half). A term
 * whose probe runs past probeMax (crafted text whose terms share a hash) sends the entry to a Map.
 */
export function termCounts(t: EntryTokens): TermCounts {
  const n = t.body.length + t.tags.length
  let size = 64
  while (size < 2 * n) size *= 2
  if (size > table.length) {
    table = new Array<string | undefined>(size).fill(undefined)
    tableCounts = new Int32Array(size)
  }
  const terms: string[] = []
  const slots: number[] = []
  const ok = countInto(t.body, size - 1, terms, slots) && countInto(t.tags, size - 1, terms, slots)
  const counts = slots.map((k) => tableCounts[k] as number)
  for (const k of slots) table[k] = undefined
  if (ok) return { terms, counts }
  const m = new Map<string, number>()
  for (const w of t.body) m.set(w, (m.get(w) ?? 0) + 1)
  for (const w of t.tags) m.set(w, (m.get(w) ?? 0) + 1)
  return { terms: [...m.keys()], counts: [...m.values()] }
}

let table: (string | undefined)[] = new Array<string | undefined>(64).fill(undefined)
let tableCounts = new Int32Array(64)
const probeMax = 16

function countInto(words: readonly string[], mask: number, terms: string[], slots: number[]): boolean {
  for (const w of words) {
    let h = w.length
    for (let i = 0; i < w.length; i++) h = (Math.imul(h, 31) + w.charCodeAt(i)) | 0
    let k = (h ^ (h >>> 15)) & mask
    for (let probe = 0; ; probe++) {
      const x = table[k]
      if (x === undefined) {
        table[k] = w
        tableCounts[k] = 1
        terms.push(w)
        slots.push(k)
        break
      }
      if (x === w) {
        tableCounts[k] = (tableCounts[k] as number) + 1
        break
      }
      if (probe >= probeMax) return false
      k = (k + 1) & mask
    }
  }
  return true
}

const two32 = 4_294_967_296
/** Entries of this many tokens or more are not indexed (a fact's text is far shorter: bytes are capped). */
export const tokensMax = 1 << 20

/** The search key: length-major (shortest first), then newest first (larger id first). */
export function searchKey(tokens: number, id: number): number {
  if (!(Number.isInteger(tokens) && tokens >= 1 && tokens < tokensMax)) fail(`an entry of ${tokens} tokens`)
  if (!(Number.isInteger(id) && id >= 0 && id < two32)) fail(`entry id ${id} outside 0..2^32-1`)
  return tokens * two32 + (two32 - 1 - id)
}

export function keyTokens(sk: number): number {
  return Math.floor(sk / two32)
}

export function keyId(sk: number): number {
  return two32 - 1 - (sk % two32)
}

/** SQL for the id of a search key expression (joins the filtered table by its id). */
export function keyIdSql(sk: string): string {
  return `(${two32 - 1} - (${sk} % ${two32}))`
}

// ---- the tables

/** The FTS5 table (contentless: the text lives with the entries), its vocabulary, reps and term_df. */
export const ftsSchema = `
CREATE VIRTUAL TABLE versions_fts USING fts5(
  body, tags, content = '', contentless_delete = 1,
  tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);
CREATE VIRTUAL TABLE versions_fts_terms USING fts5vocab(versions_fts, 'row');
CREATE TABLE search_reps (
  term TEXT    NOT NULL,
  sk   INTEGER NOT NULL,
  tf   INTEGER NOT NULL,
  PRIMARY KEY (term, sk)
) STRICT, WITHOUT ROWID;
CREATE INDEX search_reps_by_tf ON search_reps (term, tf, sk);
CREATE TABLE search_term_df (
  term TEXT    PRIMARY KEY,
  df   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
`

/** The tables of ftsSchema, in drop order (the vocabulary before its FTS5 table). */
export const ftsTables = ['versions_fts_terms', 'versions_fts', 'search_reps', 'search_term_df'] as const

const statements = new WeakMap<DatabaseSync, Map<string, StatementSync>>()

function stmt(db: DatabaseSync, sql: string): StatementSync {
  let m = statements.get(db)
  if (m === undefined) {
    m = new Map()
    statements.set(db, m)
  }
  let s = m.get(sql)
  if (s === undefined) {
    s = db.prepare(sql)
    m.set(sql, s)
  }
  return s
}

/**
 * The tracked terms (term_df's keys) as this connection last read them, with the PRAGMA data_version of
 * that read: another connection's commit changes it, so a writer re-reads the set after one; this
 * connection's own changes (trackWanted) are added as they are made. A term in the set whose row a
 * rebuild or a rollback took away costs an UPDATE of no row, nothing more.
 */
const trackedCache = new WeakMap<DatabaseSync, { version: number; terms: Set<string> }>()

/**
 * Connections inside a batch whose writer already read PRAGMA data_version (beginBatch): no other
 * connection can commit while this one holds the write transaction, so the version read at the batch's
 * start holds until flushIndex ends the batch (one pragma per batch instead of one per entry).
 */
const inBatch = new WeakSet<DatabaseSync>()

function trackedTerms(db: DatabaseSync): Set<string> {
  let c = trackedCache.get(db)
  if (c !== undefined && inBatch.has(db)) return c.terms
  const version = (stmt(db, 'PRAGMA data_version').get() as { data_version: number }).data_version
  if (c === undefined || c.version !== version) {
    const rows = stmt(db, 'SELECT term FROM search_term_df').all() as { term: string }[]
    c = { version, terms: new Set(rows.map((r) => r.term)) }
    trackedCache.set(db, c)
  }
  return c.terms
}

/**
 * The writer starts a batch inside its write transaction: the tracked terms are checked against PRAGMA
 * data_version once here, not again until flushIndex (the batch's end) or dropPending.
 */
export function beginBatch(db: DatabaseSync): void {
  if (!db.isTransaction) fail('beginBatch runs inside the transaction that stores the ops')
  inBatch.delete(db)
  trackedTerms(db)
  inBatch.add(db)
}

/** Adds delta to the counts of the entry's terms that are tracked (most entries hold few or none). */
function countTracked(db: DatabaseSync, tf: TermCounts, delta: 1 | -1): void {
  const tracked = trackedTerms(db)
  if (tracked.size === 0) return
  const present: string[] = []
  for (const t of tf.terms) if (tracked.has(t)) present.push(t)
  if (present.length === 0) return
  if (present.length <= 4)
    for (const t of present) stmt(db, 'UPDATE search_term_df SET df = df + ? WHERE term = ?').run(delta, t)
  else
    stmt(db, 'UPDATE search_term_df SET df = df + ? WHERE term IN (SELECT value FROM json_each(?))').run(
      delta,
      JSON.stringify(present),
    )
}

/** Frequent untracked terms that searches met, per connection: the next write tracks them. */
const wanted = new WeakMap<DatabaseSync, Set<string>>()

/**
 * Starts keeping term_df rows for the terms searches asked for (exact counts, from the doclists as they
 * are in the caller's transaction). Runs inside a write transaction; indexEntry calls it.
 */
export function trackWanted(db: DatabaseSync): void {
  const w = wanted.get(db)
  if (w === undefined || w.size === 0) return
  if (!db.isTransaction) fail('trackWanted runs inside the transaction of a write')
  // the exact count is the doclist's: the queued rows go in first
  flushIndex(db)
  const tracked = trackedTerms(db)
  for (const t of w) {
    stmt(
      db,
      'INSERT OR IGNORE INTO search_term_df (term, df) SELECT ?, coalesce((SELECT doc FROM versions_fts_terms WHERE term = ?), 0)',
    ).run(t, t)
    tracked.add(t)
  }
  w.clear()
}

/** Tracks these terms from now on (exact counts); inside a write transaction. */
export function trackTerms(db: DatabaseSync, terms: Iterable<string>): void {
  const w = wanted.get(db) ?? new Set<string>()
  wanted.set(db, w)
  for (const t of terms) w.add(t)
  trackWanted(db)
}

/**
 * FTS5 rows waiting for flushIndex, per connection, by search key. FTS5 writes its in-memory postings out
 * as a new segment whenever a rowid comes lower than the one before (fts5_index.c BeginWrite); entries
 * arrive in id order, which is random in sk order, so inserting them one by one flushed a segment almost
 * every entry (a 20,000-entry test: 31 us per entry against 16 us in sk order). The writer inserts a
 * batch's rows sorted, once, at the end of the batch.
 */
const pending = new WeakMap<DatabaseSync, Map<number, { body: string; tags: string }>>()

/**
 * Inserts the FTS5 rows indexEntry queued, in search key order. The writer calls it at the end of every
 * batch, inside its transaction (before the commit).
 */
export function flushIndex(db: DatabaseSync): void {
  inBatch.delete(db)
  const p = pending.get(db)
  if (p === undefined || p.size === 0) return
  if (!db.isTransaction) fail('flushIndex runs inside the transaction that stores the ops')
  const ins = stmt(db, 'INSERT INTO versions_fts (rowid, body, tags) VALUES (?, ?, ?)')
  // search keys are integers below 2^53: a Float64Array sorts them natively, without a comparator call each
  for (const sk of Float64Array.from(p.keys()).sort()) {
    const r = p.get(sk) as { body: string; tags: string }
    ins.run(sk, r.body, r.tags)
  }
  p.clear()
}

/** FTS5 rows queued on this connection (indexEntry) and not yet inserted (flushIndex). */
export function pendingCount(db: DatabaseSync): number {
  return pending.get(db)?.size ?? 0
}

/** Forgets queued FTS5 rows: the transaction that queued them rolled back (the writer's dropCaches). */
export function dropPending(db: DatabaseSync): void {
  inBatch.delete(db)
  pending.get(db)?.clear()
}

/**
 * Indexes an entry (id: its row id, < 2^32) inside the writer's transaction: its FTS5 row under its search
 * key (queued: flushIndex inserts it before the commit), a reps row per repeated term, +1 to the df of its
 * tracked terms. An entry without tokens can match nothing and is not indexed; returns the search key,
 * or undefined when not indexed.
 */
export function indexEntry(
  db: DatabaseSync,
  id: number,
  body: string,
  tags: readonly string[],
): number | undefined {
  if (!db.isTransaction) fail('indexEntry runs inside the transaction that stores the ops')
  const tokens = entryTokens(body, tags)
  if (tokens.length === 0 || tokens.length >= tokensMax) return undefined
  trackWanted(db)
  const sk = searchKey(tokens.length, id)
  let p = pending.get(db)
  if (p === undefined) {
    p = new Map()
    pending.set(db, p)
  }
  if (p.has(sk)) fail(`entry ${id} is indexed twice`)
  p.set(sk, { body: tokens.bodyText, tags: tokens.tagsText })
  const tf = termCounts(tokens)
  for (let i = 0; i < tf.terms.length; i++) {
    const n = tf.counts[i] as number
    if (n >= 2) stmt(db, 'INSERT INTO search_reps (term, sk, tf) VALUES (?, ?, ?)').run(tf.terms[i] as string, sk, n)
  }
  countTracked(db, tf, 1)
  return sk
}

/** The reverse of indexEntry, given what was indexed (the entry's id, body and tags). */
export function unindexEntry(db: DatabaseSync, id: number, body: string, tags: readonly string[]): void {
  const tokens = entryTokens(body, tags)
  if (tokens.length === 0 || tokens.length >= tokensMax) return
  const sk = searchKey(tokens.length, id)
  // an entry indexed in this transaction is still queued: taking it out of the queue is its delete
  if (pending.get(db)?.delete(sk) !== true) stmt(db, 'DELETE FROM versions_fts WHERE rowid = ?').run(sk)
  const tf = termCounts(tokens)
  for (let i = 0; i < tf.terms.length; i++)
    if ((tf.counts[i] as number) >= 2) stmt(db, 'DELETE FROM search_reps WHERE term = ? AND sk = ?').run(tf.terms[i] as string, sk)
  countTracked(db, tf, -1)
}

/**
 * Takes deleted versions out of the index, given the rows of `DELETE FROM versions ... RETURNING rowid AS
 * id, channel, text, value, tags` (value and tags as stored: JSON): an entry's body is its text, else its
 * value when that is a string (as the writer indexed it).
 */
export function unindexDeleted(db: DatabaseSync, deleted: readonly unknown[]): void {
  for (const d of deleted as {
    id: number
    channel: string | null
    text: string | null
    value: string
    tags: string
  }[]) {
    if (d.channel === null) continue
    const value = JSON.parse(d.value) as unknown
    unindexEntry(db, d.id, d.text ?? (typeof value === 'string' ? value : ''), JSON.parse(d.tags) as string[])
  }
}

// ---- statistics

/** SQLite varint (FTS5's record format): big-endian 7-bit groups, a 9th byte of 8 bits. */
export function readVarint(b: Uint8Array, at: number): [value: number, next: number] {
  let v = 0
  for (let i = 0; i < 8; i++) {
    const x = b[at + i]
    if (x === undefined) fail('truncated varint in an FTS5 record')
    v = v * 128 + (x & 0x7f)
    if ((x & 0x80) === 0) return [v, at + i + 1]
  }
  const last = b[at + 8]
  if (last === undefined) fail('truncated varint in an FTS5 record')
  return [v * 256 + last, at + 9]
}

export type Stats = { readonly rows: number; readonly tokens: number }

/**
 * FTS5's own row count and token total over all columns (the averages record, id 1 of the data table: a
 * varint row count, then a varint token total per column): what bm25() divides by. A contentless_delete
 * delete leaves it as it was, and bm25() reads it as it is, so this does too.
 */
export function readStats(db: DatabaseSync): Stats {
  const r = stmt(db, 'SELECT block FROM versions_fts_data WHERE id = 1').get() as
    { block: Uint8Array } | undefined
  // an index that never held a row has an empty record
  if (r === undefined || r.block.length === 0) return { rows: 0, tokens: 0 }
  const [rows, first] = readVarint(r.block, 0)
  let at = first
  let tokens = 0
  while (at < r.block.length) {
    const [n, next] = readVarint(r.block, at)
    tokens += n
    at = next
  }
  return { rows, tokens }
}

/** Number of entries holding the term (FTS5's nHit for a one-term phrase), by walking its doclist. */
export function docCount(db: DatabaseSync, term: string): number {
  const r = stmt(db, 'SELECT doc FROM versions_fts_terms WHERE term = ?').get(term) as
    { doc: number } | undefined
  return r?.doc ?? 0
}

/**
 * Number of entries holding the term: from term_df if tracked, else by walking its doclist; a term found
 * in trackDfMin entries or more is noted for tracking by the next write (the search itself writes nothing).
 */
export function documentFrequency(db: DatabaseSync, term: string, trackDfMin: number): number {
  const kept = stmt(db, 'SELECT df FROM search_term_df WHERE term = ?').get(term) as
    { df: number } | undefined
  if (kept !== undefined) return kept.df
  const n = docCount(db, term)
  if (n >= trackDfMin) {
    const w = wanted.get(db) ?? new Set<string>()
    wanted.set(db, w)
    w.add(term)
  }
  return n
}

// ---- queries

/** The most distinct words a query is answered for by the strategy (more: plain FTS5 ranking). */
export const termsMax = 16

/** The distinct terms of a query, tokenized as the index is (empty when it has no words). */
export function queryTerms(query: string): string[] {
  return [...new Set(tokenize(query))]
}

/** All terms must occur, each quoted, so no word is read as an FTS5 operator. */
export function matchExpr(terms: readonly string[]): string {
  return terms.map((t) => `"${t.replaceAll('"', '""')}"`).join(' AND ')
}

/**
 * The filters of a search: `join(sk)` joins the filtered table for a search key expression (e.g.
 * `versions v ON v.rowid = ${keyIdSql(sk)}`), `where` is '' or ' AND ...' on it, with its parameters.
 */
export type Scope = {
  readonly join: (sk: string) => string
  readonly where: string
  readonly params: readonly (string | number)[]
}

export type Hit = { readonly sk: number; readonly rank: number }

/** Plain FTS5: bm25() for every match, sorted. The reference, and the path of the queries noted above. */
export function searchPlain(db: DatabaseSync, terms: readonly string[], f: Scope, k: number): Hit[] {
  if (terms.length === 0 || k <= 0) return []
  const sql =
    `SELECT versions_fts.rowid AS sk, versions_fts.rank AS rank FROM versions_fts CROSS JOIN ${f.join('versions_fts.rowid')} ` +
    `WHERE versions_fts MATCH ?${f.where} ORDER BY versions_fts.rank, versions_fts.rowid LIMIT ?`
  return stmt(db, sql).all(matchExpr(terms), ...f.params, k) as Hit[]
}

const k1 = 1.2
const b = 0.75

/** FTS5's bm25() for one entry (as fts5_aux.c computes it, term by term in query order): lower is better. */
export function bm25Rank(
  idf: readonly number[],
  tfs: readonly number[],
  tokens: number,
  avgdl: number,
): number {
  let score = 0
  for (let i = 0; i < idf.length; i++) {
    const f = tfs[i] as number
    score += (idf[i] as number) * ((f * (k1 + 1.0)) / (f + k1 * (1 - b + (b * tokens) / avgdl)))
  }
  return -1.0 * score
}

export type Trace = { queries: number; plain: number; p0: number; p1: number; scored: number }

export type SearchOptions = {
  /** a term in at least this many entries is noted for tracking; default max(100, rows / 100) */
  readonly trackDfMin?: number
  /** several terms: if P1 looks bigger than this many entries, rank with plain FTS5; default 5,000 */
  readonly p1Max?: number
  readonly trace?: Trace
  /** false only for the tests' planted bug: P1 skipped, as if no term were ever repeated */
  readonly withP1?: boolean
}

/**
 * Scoring a P1 entry costs ~5 us (tf lookups, JS), about what bm25() costs FTS5 per match; past a few
 * thousand, plain FTS5 ranking is as fast and needs no walk of its own.
 */
export const p1MaxDefault = 5_000

/** The top k by BM25 (rank, then sk), equal to searchPlain's up to ties at the k-th rank. */
export function searchTop(
  db: DatabaseSync,
  terms: readonly string[],
  f: Scope,
  k: number,
  opts: SearchOptions = {},
): Hit[] {
  if (terms.length === 0 || k <= 0) return []
  const trace = opts.trace
  if (trace !== undefined) trace.queries++
  if (terms.length > termsMax) {
    if (trace !== undefined) trace.plain++
    return searchPlain(db, terms, f, k)
  }
  const st = readStats(db)
  if (st.rows === 0) return []
  const avgdl = st.tokens / st.rows
  const trackDfMin = opts.trackDfMin ?? Math.max(100, Math.ceil(st.rows / 100))
  const dfs: number[] = []
  const idf = terms.map((t) => {
    const n = documentFrequency(db, t, trackDfMin)
    dfs.push(n)
    // SQLite's ln() is the C library's log(), the one fts5_aux.c calls; V8's Math.log differs from it
    // in the last bit for ~2% of arguments
    const x = (stmt(db, 'SELECT ln(?) AS x').get((st.rows - n + 0.5) / (n + 0.5)) as { x: number }).x
    return x <= 0.0 ? 1e-6 : x
  })
  if (dfs.includes(0)) return []
  const m = matchExpr(terms)
  const inTerms = terms.map(() => '?').join(', ')
  // several terms: how to find P1 (below), and whether it is worth it. Matches are estimated as if the
  // terms were independent; each term's repeats are counted up to a cap (~0.1 us a reps row).
  const matchesEst = dfs.reduce((x, n) => (x * n) / st.rows, st.rows)
  const cap = Math.min(Math.ceil(4 * matchesEst) + 256, 20_000)
  const listed: string[] = []
  const probed: string[] = []
  if (terms.length > 1) {
    let p1Est = 0
    terms.forEach((t, i) => {
      const r = stmt(db, 'SELECT count(*) AS n FROM (SELECT 1 FROM search_reps WHERE term = ? LIMIT ?)').get(
        t,
        cap,
      ) as { n: number }
      if (r.n < cap) listed.push(t)
      else probed.push(t)
      p1Est = Math.max(p1Est, (matchesEst * r.n) / (dfs[i] as number))
    })
    if (p1Est > (opts.p1Max ?? p1MaxDefault)) {
      // a very common word repeats in most matches ("the AND deploy"): P1 is most of the matches
      if (trace !== undefined) trace.plain++
      return searchPlain(db, terms, f, k)
    }
  }
  // P0: every term once; walk the matches shortest first, stop at k
  const p0 = stmt(
    db,
    `SELECT versions_fts.rowid AS sk FROM versions_fts CROSS JOIN ${f.join('versions_fts.rowid')} ` +
      `WHERE versions_fts MATCH ?${f.where} AND NOT EXISTS (SELECT 1 FROM search_reps r WHERE r.term IN (${inTerms}) ` +
      'AND r.sk = versions_fts.rowid) ORDER BY versions_fts.rowid LIMIT ?',
  ).all(m, ...f.params, ...terms, k) as { sk: number }[]
  const hits: Hit[] = []
  const ones = terms.map(() => 1)
  for (const r of p0) hits.push({ sk: r.sk, rank: bm25Rank(idf, ones, keyTokens(r.sk), avgdl) })
  let p1 = 0
  if (opts.withP1 === false) {
    // the planted bug: P1 skipped
  } else if (terms.length === 1) {
    // P1 for one term: each tf group of reps, shortest first, k each
    const term = terms[0] as string
    const group = stmt(
      db,
      `SELECT r.sk AS sk FROM search_reps r CROSS JOIN ${f.join('r.sk')} ` +
        `WHERE r.term = ? AND r.tf = ?${f.where} ORDER BY r.sk LIMIT ?`,
    )
    const nextTf = stmt(db, 'SELECT max(tf) AS tf FROM search_reps WHERE term = ? AND tf < ?')
    let tf = (nextTf.get(term, tokensMax) as { tf: number | null }).tf
    while (tf !== null) {
      const rows = group.all(term, tf, ...f.params, k) as { sk: number }[]
      p1 += rows.length
      for (const r of rows) hits.push({ sk: r.sk, rank: bm25Rank(idf, [tf], keyTokens(r.sk), avgdl) })
      tf = (nextTf.get(term, tf) as { tf: number | null }).tf
    }
  } else {
    // P1 for several terms: every match with a repeated query term, with each term's tf. A match is
    // tested against a list of a term's repeats built once (~0.3 us a reps row), or by a probe of reps
    // per match (~1-2 us a match) when the term has more repeats than 4x the estimated matches.
    const marks = (xs: readonly string[]): string => xs.map(() => '?').join(', ')
    const tests: string[] = []
    // `+` keeps SQLite from driving FTS5 by rowid from the list (a seek per row, ~30 us each)
    if (listed.length > 0)
      tests.push(`+versions_fts.rowid IN (SELECT sk FROM search_reps WHERE term IN (${marks(listed)}))`)
    if (probed.length > 0)
      tests.push(
        `EXISTS (SELECT 1 FROM search_reps r WHERE r.term IN (${marks(probed)}) AND r.sk = versions_fts.rowid)`,
      )
    const tfCols = terms
      .map(
        (_, i) => `(SELECT tf FROM search_reps r WHERE r.term = ? AND r.sk = versions_fts.rowid) AS tf${i}`,
      )
      .join(', ')
    const rows = stmt(
      db,
      `SELECT versions_fts.rowid AS sk, ${tfCols} FROM versions_fts CROSS JOIN ${f.join('versions_fts.rowid')} ` +
        `WHERE versions_fts MATCH ? AND (${tests.join(' OR ')})${f.where}`,
    ).all(...terms, m, ...listed, ...probed, ...f.params) as Record<string, number | null>[]
    p1 = rows.length
    for (const r of rows) {
      const sk = r['sk'] as number
      const tfs = terms.map((_, i) => r[`tf${i}`] ?? 1)
      hits.push({ sk, rank: bm25Rank(idf, tfs, keyTokens(sk), avgdl) })
    }
  }
  if (trace !== undefined) {
    trace.p0 += p0.length
    trace.p1 += p1
    trace.scored += hits.length
  }
  hits.sort((x, y) => x.rank - y.rank || x.sk - y.sk)
  return hits.slice(0, k)
}
