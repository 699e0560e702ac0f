/**
 * Search benchmark: top-20 BM25 search over a store of agent notes in SQLite FTS5, with the filters the
 * CLI offers (channel, tag, author, since, stale hidden by default), side by side:
 *
 *   fts5_plain: `... WHERE fts MATCH ? ORDER BY rank LIMIT 20`, joined to the notes for the filters.
 *               FTS5 computes bm25() for every matching row (a docsize lookup and a poslist walk each),
 *               then sorts: its cost grows with the number of matches (issue 3 measured 1.4 s at p95
 *               for a term in 25% of 1M notes).
 *   grapevine:  the same FTS5 index, queried so that only a few dozen rows are scored (see docs/SEARCH.md):
 *
 *     - the FTS5 rowid is a *search key* sk = D * 2^32 + (2^32 - 1 - id), where D is the note's length in
 *       tokens: a doclist walked in rowid order visits the shortest notes first (newest first among equal
 *       lengths);
 *     - `reps(term, sk, tf)` holds the (term, note) pairs where the term occurs twice or more (tf >= 2);
 *     - BM25 of a query is a sum over its terms of idf * tf(k1+1) / (tf + k1(1 - b + b D/avgdl)): for
 *       fixed tfs it falls as D grows. So among the notes where every query term occurs once (P0), the
 *       top k are the first k in sk order: an FTS5 scan in rowid order stopped after k rows that pass the
 *       filters and have no reps row. The rest (P1, some term repeated) is small: for one term, the first
 *       k in sk order of each tf group of reps; for several, the whole of P1.
 *     - the candidates (at most k per group, plus P1) are scored in JS with the formula and the very
 *       statistics FTS5's bm25() uses (row count and token total from the FTS5 averages record; the
 *       term's document count from `term_df`, kept exactly for frequent terms, else from fts5vocab;
 *       the logarithm from SQLite's ln(), the C log() that bm25() calls), and the top k are taken by
 *       (rank, sk): the ranks equal FTS5's to the bit.
 *
 * The two systems must return the same top 20: every query of every round is compared (the same ranks
 * within 1e-9, and the same notes for every rank above the 20th rank: notes tied at the 20th rank may
 * differ, as FTS5 breaks ties in no defined order; the largest rank difference is reported). A mismatch
 * stops the benchmark. The design, and what the store must maintain, is docs/SEARCH.md.
 *
 * Also measured: the index build (time, size per table), and what reps and term_df add to an insert (the
 * same 50,000 notes indexed with and without them into fresh files, 3 interleaved rounds).
 *
 * Rounds are interleaved: every round runs every query on both systems, in an order that alternates
 * from round to round, so drift of a shared machine reaches both alike. Latencies are in-process
 * (prepare cached, rows read into JS), per query; per class p50 / p95 / max over all queries and rounds.
 *
 * Usage: npm run bench -- search [--quick] [--rows N] [--rounds N] [--out PATH] [--dir DIR]
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import type { StatementSync } from 'node:sqlite'
import { fileURLToPath } from 'node:url'
import * as fts from '../src/store/fts.ts'
import type { Hit, Trace } from '../src/store/fts.ts'
import * as corpus from './lib/corpus.ts'
import type { Entry } from './lib/corpus.ts'
import { fullGc } from './lib/gc.ts'
import { describeMachine } from './lib/machine.ts'
import * as fmt from './lib/stats.ts'
import { summarize } from './lib/stats.ts'
import { defined, parseBenchArgs } from './lib/args.ts'

export const systems = ['fts5_plain', 'grapevine'] as const
export type System = (typeof systems)[number]

/** One result: the JSON file is an array of these. */
export type { Hit, Trace } from '../src/store/fts.ts'
export { keyId, keyTokens, searchKey, tokenize } from '../src/store/fts.ts'

export type Row = {
  readonly bench: 'search'
  readonly workload: string
  readonly system: System
  readonly metric: string
  readonly value: number
  readonly unit: string
}

function assertBench(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(`bench search: ${msg}`)
}

// ---- the index: the store's own search index (src/store/fts.ts), beside stand-in tables for the filters

/** A note's tokens as the index sees them: its text, then its tags. */
export function noteTokens(e: Entry): fts.EntryTokens {
  return fts.entryTokens(e.text, e.tags)
}

/**
 * `notes` stands in for the store's facts view (the filter columns), keyed by the note's id as versions
 * is by its rowid; the search index is the store's (fts.ftsSchema: contentless FTS5 keyed by the search
 * key, reps, term_df).
 */
export const schemaSql = `
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  channel TEXT NOT NULL,
  author TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER
);
CREATE TABLE note_tags (tag TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (tag, id)) WITHOUT ROWID;
${fts.ftsSchema}
`

export type Index = {
  readonly db: DatabaseSync
  readonly cache: Map<string, StatementSync>
  /** a term found in at least this many notes gets its count kept in term_df (by the next write) */
  readonly trackDfMin: number
  /** several terms: if P1 looks bigger than this many notes, rank with plain FTS5 instead */
  readonly p1Max: number
}

/** Counting a term's notes walks its doclist (~80 ns a note): from 10,000 notes on, keep the count. */
export const trackDfMinDefault = 10_000

export function openIndex(path: string, opts: { trackDfMin?: number; p1Max?: number } = {}): Index {
  const db = new DatabaseSync(path)
  db.exec('PRAGMA journal_mode = WAL')
  db.exec('PRAGMA synchronous = NORMAL')
  db.exec('PRAGMA cache_size = -262144') // 256 MiB: the whole index of 1M notes stays hot
  db.exec('PRAGMA busy_timeout = 1000')
  return {
    db,
    cache: new Map(),
    trackDfMin: opts.trackDfMin ?? trackDfMinDefault,
    p1Max: opts.p1Max ?? fts.p1MaxDefault,
  }
}

/** Creates the tables; `tracked` terms get a term_df row from the start (count 0 in an empty index). */
export function createSchema(ix: Index, tracked: readonly string[] = []): void {
  ix.db.exec(schemaSql)
  ix.db.exec('BEGIN IMMEDIATE')
  fts.trackTerms(ix.db, tracked)
  ix.db.exec('COMMIT')
}

/**
 * What a write transaction of the store does first: start tracking the frequent terms searches met
 * (fts.ts: a search writes nothing). The benchmark runs it after the warm-up, as a store that keeps
 * ingesting would.
 */
export function applyTracking(ix: Index): void {
  ix.db.exec('BEGIN IMMEDIATE')
  fts.trackWanted(ix.db)
  ix.db.exec('COMMIT')
}

export function closeIndex(ix: Index): void {
  ix.cache.clear()
  ix.db.close()
}

function stmt(ix: Index, sql: string): StatementSync {
  let s = ix.cache.get(sql)
  if (s === undefined) {
    s = ix.db.prepare(sql)
    ix.cache.set(sql, s)
  }
  return s
}

/** Indexes a batch of notes inside the caller's transaction, as the store's writer does; returns their sks. */
export function indexNotes(ix: Index, es: readonly Entry[]): number[] {
  assertBench(ix.db.isTransaction, 'indexNotes runs inside the transaction that stores the ops')
  const sks = es.map((e) => {
    noteRows(ix, e)
    const sk = fts.indexEntry(ix.db, e.id, e.text, e.tags)
    assertBench(sk !== undefined, `note ${e.id} has no tokens`)
    return sk
  })
  fts.flushIndex(ix.db)
  return sks
}

/** A note's stand-in rows (notes, note_tags): what the store's versions row holds. */
function noteRows(ix: Index, e: Entry): void {
  const expires = e.ttlSeconds === undefined ? null : e.createdMs + e.ttlSeconds * 1000
  stmt(ix, 'INSERT INTO notes (id, channel, author, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?)').run(
    e.id,
    e.channel,
    e.author,
    e.createdMs,
    expires,
  )
  for (const t of e.tags) stmt(ix, 'INSERT INTO note_tags (tag, id) VALUES (?, ?)').run(t, e.id)
}

/** Removes a note from the index (what a purge or retract does): the reverse of indexNotes. */
export function unindexNote(ix: Index, e: Entry): void {
  fts.unindexEntry(ix.db, e.id, e.text, e.tags)
  stmt(ix, 'DELETE FROM note_tags WHERE id = ?').run(e.id)
  stmt(ix, 'DELETE FROM notes WHERE id = ?').run(e.id)
}

/** Number of notes holding the term, by walking its doclist. */
export function docCount(ix: Index, term: string): number {
  return fts.docCount(ix.db, term)
}

/** Number of notes holding the term, as a search finds it (term_df, else the doclist). */
export function documentFrequency(ix: Index, term: string): number {
  return fts.documentFrequency(ix.db, term, ix.trackDfMin)
}

// ---- queries

export type Filter = {
  readonly channel?: corpus.Channel
  readonly tag?: string
  readonly author?: string
  /** only notes created at or after this time */
  readonly sinceMs?: number
  /** stale notes (TTL run out at nowMs) are hidden unless this is true */
  readonly includeStale?: boolean
  readonly nowMs: number
}

/** The filter as conditions on notes `n`, joined to a search key by the id inside it. */
function scopeOf(f: Filter): fts.Scope {
  const parts: string[] = []
  const params: (string | number)[] = []
  if (f.channel !== undefined) {
    parts.push('n.channel = ?')
    params.push(f.channel)
  }
  if (f.author !== undefined) {
    parts.push('n.author = ?')
    params.push(f.author)
  }
  if (f.sinceMs !== undefined) {
    parts.push('n.created_ms >= ?')
    params.push(f.sinceMs)
  }
  if (f.tag !== undefined) {
    parts.push('EXISTS (SELECT 1 FROM note_tags g WHERE g.tag = ? AND g.id = n.id)')
    params.push(f.tag)
  }
  if (f.includeStale !== true) {
    parts.push('(n.expires_ms IS NULL OR n.expires_ms > ?)')
    params.push(f.nowMs)
  }
  return {
    join: (sk) => `notes n ON n.id = ${fts.keyIdSql(sk)}`,
    where: parts.length === 0 ? '' : ` AND ${parts.join(' AND ')}`,
    params,
  }
}

/** The terms of a query, tokenized as the index is (fts.queryTerms); a query without words is refused. */
export function queryTerms(query: string): string[] {
  const terms = fts.queryTerms(query)
  if (terms.length === 0)
    throw new Error(`search: the query ${JSON.stringify(query)} has no words to search for`)
  return terms
}

/** fts5_plain: FTS5 ranks every match with bm25() and sorts. */
export function searchPlain(ix: Index, terms: readonly string[], f: Filter, k: number): Hit[] {
  return fts.searchPlain(ix.db, terms, scopeOf(f), k)
}

/** grapevine: the store's search (fts.searchTop): the first k of P0 in sk order, plus P1, scored in JS. */
export function searchGrapevine(
  ix: Index,
  terms: readonly string[],
  f: Filter,
  k: number,
  trace?: Trace,
): Hit[] {
  return fts.searchTop(ix.db, terms, scopeOf(f), k, {
    trackDfMin: ix.trackDfMin,
    p1Max: ix.p1Max,
    ...(trace === undefined ? {} : { trace }),
  })
}

/** A planted bug for the smoke test's canary: grapevine without P1, as if no term were ever repeated. */
export function searchIgnoringRepeats(
  ix: Index,
  terms: readonly string[],
  f: Filter,
  k: number,
  trace?: Trace,
): Hit[] {
  return fts.searchTop(ix.db, terms, scopeOf(f), k, {
    trackDfMin: ix.trackDfMin,
    p1Max: ix.p1Max,
    withP1: false,
    ...(trace === undefined ? {} : { trace }),
  })
}

// ---- comparing results

export type Agreement = {
  /** same ranks (within tolerance), and the same notes wherever the rank is above the last one */
  readonly same: boolean
  /** notes in both lists / k */
  readonly overlap: number
  readonly maxRankDiff: number
  readonly detail: string
}

const rankTolerance = 1e-9

/** Compares a top-k with the reference (fts5_plain), tie-aware at the k-th rank. */
export function agree(reference: readonly Hit[], got: readonly Hit[]): Agreement {
  const both = new Set(reference.map((h) => h.sk))
  const overlap = reference.length === 0 ? 1 : got.filter((h) => both.has(h.sk)).length / reference.length
  if (reference.length !== got.length)
    return {
      same: false,
      overlap,
      maxRankDiff: Infinity,
      detail: `${got.length} hits, reference has ${reference.length}`,
    }
  let maxRankDiff = 0
  for (let i = 0; i < reference.length; i++) {
    const d = Math.abs((reference[i] as Hit).rank - (got[i] as Hit).rank)
    maxRankDiff = Math.max(maxRankDiff, d)
    if (d > rankTolerance * Math.max(1, Math.abs((reference[i] as Hit).rank)))
      return {
        same: false,
        overlap,
        maxRankDiff,
        detail: `rank ${i + 1} differs: ${(reference[i] as Hit).rank} vs ${(got[i] as Hit).rank}`,
      }
  }
  const last = reference[reference.length - 1]
  if (last !== undefined) {
    const above = (hs: readonly Hit[]): string[] =>
      hs
        .filter((h) => h.rank < last.rank - rankTolerance * Math.max(1, Math.abs(last.rank)))
        .map((h) => String(h.sk))
        .sort()
    const a = above(reference)
    const g = above(got)
    if (a.join() !== g.join())
      return { same: false, overlap, maxRankDiff, detail: 'different notes above the last rank' }
  }
  return { same: true, overlap, maxRankDiff, detail: '' }
}

// ---- the benchmark

export type Params = {
  readonly rows: number
  readonly rounds: number
  /** queries per class drawn from the index's vocabulary */
  readonly perClass: number
  /** runs of the quarter-word query per filter variant per round */
  readonly quarterRuns: number
  /** notes per run of the insert-cost comparison */
  readonly insertRows: number
  readonly k: number
  readonly seed: number
}

export const fullParams: Params = {
  rows: 1_000_000,
  rounds: 10,
  perClass: 20,
  quarterRuns: 4,
  insertRows: 50_000,
  k: 20,
  seed: 0x5ea4c4,
}
export const quickParams: Params = {
  rows: 20_000,
  rounds: 1,
  perClass: 6,
  quarterRuns: 2,
  insertRows: 2_000,
  k: 20,
  seed: 0x5ea4c4,
}

/** Issue 3: p95 under 20 ms for the mix of rare, mid-frequency and two-term queries ... */
export const mixP95MsMax = 20
/** ... and under 200 ms for a term that matches a quarter of the store. */
export const quarterP95MsMax = 200

export type Query = {
  readonly cls: string
  readonly text: string
  readonly filter: Filter
  /** part of the issue's mix (rare, mid, two-term) or the quarter-term target */
  readonly target: 'mix' | 'quarter' | 'none'
}

type Vocab = { readonly term: string; readonly doc: number }[]

/** Evenly spaced picks from a sorted list: deterministic, spread over the whole range. */
function spread<T>(xs: readonly T[], n: number): T[] {
  if (xs.length <= n) return [...xs]
  return Array.from({ length: n }, (_, i) => xs[Math.floor(((i + 0.5) * xs.length) / n)] as T)
}

/** The query mix, drawn from the index's own vocabulary by document frequency. */
export function queryMix(vocab: Vocab, p: Params, nowMs: number): Query[] {
  const n = p.rows
  const words = vocab.filter((v) => /^[a-z]+$/.test(v.term) && v.term !== corpus.quarterWord)
  const byDoc = (lo: number, hi: number): string[] =>
    words
      .filter((v) => v.doc >= lo && v.doc <= hi)
      .sort((a, b) => a.doc - b.doc || (a.term < b.term ? -1 : 1))
      .map((v) => v.term)
  const rare = spread(byDoc(Math.max(2, n * 0.00005), n * 0.001), p.perClass)
  const mid = spread(byDoc(n * 0.005, n * 0.05), p.perClass)
  assertBench(
    rare.length >= 2 && mid.length >= 4,
    `too few rare (${rare.length}) or mid (${mid.length}) terms`,
  )
  const pairs: string[] = []
  const half = Math.ceil(p.perClass / 2)
  for (let i = 0; i < half; i++) pairs.push(`${mid[i % mid.length]} ${mid[(i * 7 + 3) % mid.length]}`)
  for (let i = 0; pairs.length < p.perClass - Math.floor(p.perClass / 4); i++)
    pairs.push(`${rare[i % rare.length]} ${mid[(i * 5 + 1) % mid.length]}`)
  for (let i = 0; pairs.length < p.perClass; i++)
    pairs.push(`${mid[(i * 3) % mid.length]} ${corpus.quarterWord}`)
  const base: Filter = { nowMs }
  const out: Query[] = []
  const both = (cls: string, texts: readonly string[], target: Query['target']): void => {
    texts.forEach((text, i) => {
      if (text.split(' ').length === 2 && text.split(' ')[0] === text.split(' ')[1]) return
      out.push({ cls, text, filter: base, target })
      out.push({
        cls: `${cls}+channel`,
        text,
        filter: { ...base, channel: corpus.channels[i % corpus.channels.length] as corpus.Channel },
        target,
      })
    })
  }
  both('rare', rare, 'mix')
  both('mid', mid, 'mix')
  both('two_term', pairs, 'mix')
  both(
    'quarter',
    Array.from({ length: p.quarterRuns }, () => corpus.quarterWord),
    'quarter',
  )
  // the other filters, alone and together, to show they are exact too (not part of a target)
  const dayMs = 86_400_000
  const others: Filter[] = [
    { ...base, tag: 'postgres' },
    { ...base, author: corpus.authors[3] as string },
    { ...base, sinceMs: nowMs - 7 * dayMs },
    { ...base, includeStale: true },
    { ...base, channel: 'warnings', tag: 'ci', sinceMs: nowMs - 30 * dayMs },
    { ...base, author: corpus.authors[0] as string, sinceMs: nowMs - 14 * dayMs },
  ]
  // a very common word with another (not part of a target): P1 is most of the matches, so these take
  // the plain-FTS5 path; they show that path costs what plain costs
  const head = [...words].sort((a, b) => b.doc - a.doc || (a.term < b.term ? -1 : 1)).map((v) => v.term)
  out.push({ cls: 'common_pair', text: `${head[0]} ${corpus.quarterWord}`, filter: base, target: 'none' })
  out.push({ cls: 'common_pair', text: `${head[1]} ${mid[0]}`, filter: base, target: 'none' })
  others.forEach((filter, i) => {
    out.push({ cls: 'filters', text: corpus.quarterWord, filter, target: 'none' })
    out.push({ cls: 'filters', text: mid[i % mid.length] as string, filter, target: 'none' })
    out.push({ cls: 'filters', text: pairs[i % pairs.length] as string, filter, target: 'none' })
  })
  return out
}

export type SearchOptions = {
  readonly quick?: boolean
  readonly rows?: number
  readonly rounds?: number
  /** where the JSON goes; default bench/results/search.json (full run) or the OS temp dir (quick run) */
  readonly outPath?: string
  /** where the index files go (a directory is made inside and removed); default the OS temp dir */
  readonly dir?: string
  /** the strategy under test; default searchGrapevine (the smoke test plants a wrong one) */
  readonly search?: typeof searchGrapevine
  readonly log?: (line: string) => void
}

export type SearchResult = {
  readonly rows: Row[]
  readonly outPath: string
  readonly params: Params
  /** query results compared with fts5_plain (all agreed, or the run would have thrown) */
  readonly compared: number
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0)
}

function percentile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number
}

/** Builds the index of `rows` notes in batches of 1,000 per transaction; returns the seconds spent indexing. */
export function buildIndex(ix: Index, p: Params, rows: number, withReps = true): number {
  let ms = 0
  for (let i = 0; i < rows; i += 1000) {
    // generating the notes is not indexing: only the transaction is timed (tokenizing is, in it)
    const batch: Entry[] = []
    for (let j = i; j < Math.min(rows, i + 1000); j++) batch.push(corpus.entryAt(p.seed, rows, j))
    const t0 = performance.now()
    ix.db.exec('BEGIN IMMEDIATE')
    if (withReps) indexNotes(ix, batch)
    else for (const e of batch) indexNoteWithoutReps(ix, e)
    ix.db.exec('COMMIT')
    ms += performance.now() - t0
  }
  return ms / 1000
}

/**
 * fts5_plain's share of indexing (notes, tags, FTS5 keyed by the note's id, as a plain index is: rows in
 * rowid order): to price what the search key, reps and term_df add to an insert.
 */
function indexNoteWithoutReps(ix: Index, e: Entry): void {
  noteRows(ix, e)
  const tokens = noteTokens(e)
  stmt(ix, 'INSERT INTO versions_fts (rowid, body, tags) VALUES (?, ?, ?)').run(
    e.id,
    tokens.bodyText,
    tokens.tagsText,
  )
}

/**
 * Checks the index against the corpus: FTS5's row count and token total equal the notes' and the sum of
 * JS token counts, and (all notes when `every`, else every 97th) each note's FTS5 docsize equals the D in
 * its key, so the key's order is FTS5's length order.
 */
export function checkIndex(ix: Index, p: Params, rows: number, every: boolean): number {
  const st = fts.readStats(ix.db)
  let tokens = 0
  let checked = 0
  const size = stmt(ix, 'SELECT sz FROM versions_fts_docsize WHERE id = ?')
  for (let i = 0; i < rows; i++) {
    const d = noteTokens(corpus.entryAt(p.seed, rows, i)).length
    tokens += d
    if (every || i % 97 === 0) {
      const r = size.get(fts.searchKey(d, i)) as { sz: Uint8Array } | undefined
      assertBench(r !== undefined, `note ${i} is missing from the FTS5 index`)
      // the docsize record: one varint per column
      let counted = 0
      for (let at = 0; at < r.sz.length;) {
        const [n, next] = fts.readVarint(r.sz, at)
        counted += n
        at = next
      }
      assertBench(counted === d, `note ${i}: FTS5 counts ${counted} tokens, the key says ${d}`)
      checked++
    }
  }
  assertBench(st.rows === rows, `FTS5 counts ${st.rows} rows, ${rows} were indexed`)
  assertBench(st.tokens === tokens, `FTS5 counts ${st.tokens} tokens, the notes have ${tokens}`)
  return checked
}

export async function runSearch(opts: SearchOptions = {}): Promise<SearchResult> {
  const quick = opts.quick ?? false
  const p: Params = {
    ...(quick ? quickParams : fullParams),
    ...(opts.rows === undefined ? {} : { rows: opts.rows }),
    ...(opts.rounds === undefined ? {} : { rounds: opts.rounds }),
  }
  const say = opts.log ?? ((line: string) => console.log(line))
  const outPath =
    opts.outPath ??
    (quick
      ? join(tmpdir(), 'grapevine-bench-search.quick.json')
      : fileURLToPath(new URL('results/search.json', import.meta.url)))
  const search = opts.search ?? searchGrapevine
  const base = mkdtempSync(join(opts.dir ?? tmpdir(), 'grapevine-bench-search-'))
  const rows: Row[] = []
  const row = (workload: string, system: System, metric: string, value: number, unit: string): void => {
    assertBench(Number.isFinite(value), `${workload}/${system}/${metric} is not a finite number: ${value}`)
    rows.push({ bench: 'search', workload, system, metric, value, unit })
  }
  const started = performance.now()
  const at = (): string => `${((performance.now() - started) / 1000).toFixed(0)} s`
  let compared = 0
  try {
    say(`search benchmark${quick ? ' (--quick smoke run: tiny sizes, 1 round; figures mean nothing)' : ''}`)
    for (const line of describeMachine([])) if (!line.startsWith('peers:')) say(`  ${line}`)

    // the 200 most frequent words are tracked in term_df from the start (as a store could ship a list of
    // common words); other terms are tracked once a search finds them in rows/100 notes or more
    const tracked = corpus.vocabulary.slice(0, 200)
    const trackDfMin = Math.max(100, Math.round(p.rows / 100))
    // ---- what reps and term_df add to an insert: the same notes indexed with and without, interleaved
    const insertSamples: Record<'with' | 'without', number[]> = { with: [], without: [] }
    for (let round = 0; round < 3; round++) {
      for (const variant of round % 2 === 0
        ? (['with', 'without'] as const)
        : (['without', 'with'] as const)) {
        const d = mkdtempSync(join(base, `insert-${variant}-`))
        const ix = openIndex(join(d, 'index.db'))
        try {
          createSchema(ix, variant === 'with' ? tracked : [])
          fullGc()
          const s = buildIndex(ix, p, p.insertRows, variant === 'with')
          insertSamples[variant].push(p.insertRows / s)
        } finally {
          closeIndex(ix)
          rmSync(d, { recursive: true, force: true })
        }
      }
    }

    // ---- the index
    const dir = mkdtempSync(join(base, 'index-'))
    const ix = openIndex(join(dir, 'index.db'), { trackDfMin })
    try {
      const sqliteVersion = (ix.db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v
      say(`  sqlite: ${sqliteVersion} (node:sqlite), WAL; files in ${dir} (removed after)`)
      createSchema(ix, tracked)
      say(`building the index of ${p.rows} notes ... (at ${at()})`)
      fullGc()
      const buildS = buildIndex(ix, p, p.rows)
      ix.db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
      const checked = checkIndex(ix, p, p.rows, quick)
      const sizes = ix.db
        .prepare(
          "SELECT CASE WHEN name LIKE 'versions_fts%' THEN 'fts5' WHEN name LIKE 'search_reps%' THEN 'reps' " +
            "WHEN name LIKE '%note_tags%' THEN 'note_tags' WHEN name LIKE '%notes%' THEN 'notes' ELSE 'other' END AS part, " +
            'sum(pgsize) AS bytes FROM dbstat GROUP BY part ORDER BY part',
        )
        .all() as { part: string; bytes: number }[]
      const fileBytes = dirBytes(dir)
      const st = fts.readStats(ix.db)
      say(
        `  built in ${buildS.toFixed(1)} s (${fmt.si(p.rows / buildS)} notes/s, 1,000 per transaction); ` +
          `${st.tokens} tokens (avg ${(st.tokens / st.rows).toFixed(1)} per note); docsize checked for ${checked} notes`,
      )
      say(
        `  on disk ${fmt.bytes(fileBytes)}: ${sizes.map((s) => `${s.part} ${fmt.bytes(s.bytes)}`).join(', ')}`,
      )
      row('build', 'grapevine', 'build_s', buildS, 's')
      row('build', 'grapevine', 'notes_per_s', p.rows / buildS, 'notes/s')
      row('build', 'grapevine', 'file_bytes', fileBytes, 'bytes')
      for (const s of sizes)
        row('build', s.part === 'reps' ? 'grapevine' : 'fts5_plain', `${s.part}_bytes`, s.bytes, 'bytes')
      const repsRows = (ix.db.prepare('SELECT count(*) AS n FROM search_reps').get() as { n: number }).n
      row('build', 'grapevine', 'reps_rows', repsRows, 'rows')
      const ins = { with: summarize(insertSamples.with), without: summarize(insertSamples.without) }
      row('insert', 'grapevine', 'notes_per_s', ins.with.median, 'notes/s')
      row('insert', 'fts5_plain', 'notes_per_s', ins.without.median, 'notes/s')
      const insRatio = summarize(insertSamples.with.map((x, i) => x / (insertSamples.without[i] as number)))
      row('insert', 'grapevine', 'ratio_vs_fts5_plain', insRatio.median, 'x')
      say(
        `  reps: ${repsRows} rows (${(repsRows / p.rows).toFixed(2)} per note); indexing ${p.insertRows} notes into a fresh file, ` +
          `3 rounds: with reps ${fmt.si(ins.with.median)} notes/s, without ${fmt.si(ins.without.median)} (${fmt.ratio(insRatio.median)})`,
      )

      // ---- the queries
      const vocab = ix.db.prepare('SELECT term, doc FROM versions_fts_terms').all() as Vocab
      const queries = queryMix(vocab, p, corpus.corpusNowMs)
      const dfs = new Map(vocab.map((v) => [v.term, v.doc]))
      const classes = [...new Set(queries.map((q) => q.cls))]
      for (const c of classes) {
        const qs = queries.filter((q) => q.cls === c)
        const df = [...new Set(qs.flatMap((q) => queryTerms(q.text)))].map((t) => dfs.get(t) ?? 0)
        say(
          `  ${c}: ${qs.length} queries, e.g. ${JSON.stringify(qs[0]?.text)}; term df ${Math.min(...df)}..${Math.max(...df)} ` +
            `(${((Math.min(...df) / p.rows) * 100).toPrecision(2)}%..${((Math.max(...df) / p.rows) * 100).toPrecision(2)}%)`,
        )
      }
      say(`  rounds: ${p.rounds} (+1 warm-up), interleaved; every answer compared with fts5_plain`)
      const lat = new Map<string, number[]>()
      const trace: Trace = { queries: 0, plain: 0, p0: 0, p1: 0, scored: 0 }
      const agreeStats = new Map<string, { n: number; minOverlap: number; maxDiff: number }>()
      const runQuery = (q: Query, first: System, record: boolean): void => {
        const terms = queryTerms(q.text)
        const got = new Map<System, Hit[]>()
        for (const s of first === 'grapevine'
          ? (['grapevine', 'fts5_plain'] as const)
          : (['fts5_plain', 'grapevine'] as const)) {
          const t0 = performance.now()
          const hits =
            s === 'grapevine'
              ? search(ix, terms, q.filter, p.k, trace)
              : searchPlain(ix, terms, q.filter, p.k)
          const ms = performance.now() - t0
          got.set(s, hits)
          if (record) {
            const key = `${q.cls}|${s}`
            const xs = lat.get(key) ?? []
            xs.push(ms)
            lat.set(key, xs)
          }
        }
        const ag = agree(got.get('fts5_plain') as Hit[], got.get('grapevine') as Hit[])
        assertBench(
          ag.same,
          `${q.cls} ${JSON.stringify(q.text)} ${JSON.stringify(q.filter)}: not the top ${p.k} of fts5_plain (${ag.detail})`,
        )
        compared++
        const a = agreeStats.get(q.cls) ?? { n: 0, minOverlap: 1, maxDiff: 0 }
        agreeStats.set(q.cls, {
          n: a.n + 1,
          minOverlap: Math.min(a.minOverlap, ag.overlap),
          maxDiff: Math.max(a.maxDiff, ag.maxRankDiff),
        })
      }
      say(`warming up ... (at ${at()})`)
      queries.forEach((q, i) => runQuery(q, i % 2 === 0 ? 'grapevine' : 'fts5_plain', false))
      // the frequent terms the warm-up met are tracked by the next write, as in a store that ingests
      applyTracking(ix)
      for (let round = 0; round < p.rounds; round++) {
        say(`round ${round + 1}/${p.rounds} ... (at ${at()})`)
        fullGc()
        queries.forEach((q, i) => runQuery(q, (i + round) % 2 === 0 ? 'grapevine' : 'fts5_plain', true))
      }

      // ---- latency per class
      const table: string[][] = []
      for (const c of classes) {
        const cells: string[] = [c]
        const p95s: number[] = []
        for (const s of systems) {
          const xs = lat.get(`${c}|${s}`) as number[]
          const p50 = percentile(xs, 0.5)
          const p95 = percentile(xs, 0.95)
          const max = Math.max(...xs)
          row(c, s, 'p50_ms', p50, 'ms')
          row(c, s, 'p95_ms', p95, 'ms')
          row(c, s, 'max_ms', max, 'ms')
          row(c, s, 'samples', xs.length, 'queries')
          p95s.push(p95)
          cells.push(fmt.ms(p50), fmt.ms(p95), fmt.ms(max))
        }
        const plainP95 = p95s[0] as number
        const gvP95 = p95s[1] as number
        const p50Ratio =
          percentile(lat.get(`${c}|fts5_plain`) as number[], 0.5) /
          percentile(lat.get(`${c}|grapevine`) as number[], 0.5)
        row(c, 'grapevine', 'speedup_p95', plainP95 / gvP95, 'x')
        row(c, 'grapevine', 'speedup_p50', p50Ratio, 'x')
        const a = agreeStats.get(c) as { n: number; minOverlap: number; maxDiff: number }
        row(c, 'grapevine', 'answers_compared', a.n, 'queries')
        row(c, 'grapevine', 'answers_same', a.n, 'queries')
        row(c, 'grapevine', 'min_overlap', a.minOverlap, 'fraction')
        row(c, 'grapevine', 'max_rank_diff', a.maxDiff, 'bm25')
        cells.push(
          fmt.ratio(plainP95 / gvP95),
          `${a.n}/${a.n}`,
          a.minOverlap.toFixed(2),
          a.maxDiff.toExponential(1),
        )
        table.push(cells)
      }
      say('')
      say(
        `latency per query in ms over all queries and rounds (top ${p.k}, in process); plain = fts5_plain, gv = grapevine`,
      )
      say(
        fmt.table(
          [
            'class',
            'plain p50',
            'p95',
            'max',
            'gv p50',
            'p95',
            'max',
            'p95 speedup',
            'same top-k',
            'min overlap',
            'max rank diff',
          ],
          table,
        ),
      )
      say(
        `grapevine scored ${(trace.scored / trace.queries).toFixed(0)} candidates per query on average ` +
          `(P0 ${(trace.p0 / trace.queries).toFixed(0)}, P1 ${(trace.p1 / trace.queries).toFixed(0)}); ` +
          `${trace.plain} of ${trace.queries} ranked by plain FTS5 (P1 too big)`,
      )
      row('all', 'grapevine', 'candidates_per_query', trace.scored / trace.queries, 'notes')
      row('all', 'grapevine', 'plain_fallbacks', trace.plain, 'queries')

      // ---- targets, on p95 over the classes of each target
      const targetP95 = (target: Query['target'], s: System): number => {
        const cs = [...new Set(queries.filter((q) => q.target === target).map((q) => q.cls))]
        return percentile(
          cs.flatMap((c) => lat.get(`${c}|${s}`) as number[]),
          0.95,
        )
      }
      const targets = [
        {
          id: 'mix_p95_ms',
          text: 'rare + mid + two-term, with and without channel',
          target: 'mix' as const,
          bound: mixP95MsMax,
        },
        {
          id: 'quarter_p95_ms',
          text: `"${corpus.quarterWord}" (~25% of notes), with and without channel`,
          target: 'quarter' as const,
          bound: quarterP95MsMax,
        },
      ]
      const tt: string[][] = []
      for (const tg of targets) {
        const gv = targetP95(tg.target, 'grapevine')
        const plain = targetP95(tg.target, 'fts5_plain')
        row('targets', 'grapevine', tg.id, gv, 'ms')
        row('targets', 'fts5_plain', tg.id, plain, 'ms')
        row('targets', 'grapevine', `${tg.id}_bound`, tg.bound, 'ms')
        row('targets', 'grapevine', `${tg.id}_met`, gv < tg.bound ? 1 : 0, 'bool')
        tt.push([tg.text, fmt.ms(plain), fmt.ms(gv), `< ${tg.bound} ms`, gv < tg.bound ? 'met' : 'MISSED'])
      }
      say('')
      say(`targets of issue 3 (p95 over every query of the classes, ${p.rows} notes):`)
      say(fmt.table(['target', 'fts5_plain p95', 'grapevine p95', 'needed', 'result'], tt))
    } finally {
      closeIndex(ix)
    }
    say('')
    mkdirSync(dirname(outPath), { recursive: true })
    writeFileSync(outPath, `${JSON.stringify(rows, null, 2)}\n`)
    say(
      `${rows.length} rows written to ${outPath}; ${compared} answers compared; ${((performance.now() - started) / 1000).toFixed(1)} s`,
    )
    return { rows, outPath, params: p, compared }
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
}

const usage = 'usage: npm run bench -- search [--quick] [--rows N] [--rounds N] [--out PATH] [--dir DIR]'

/** Entry point for bench/run.ts; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const spec = { quick: 'flag', rows: 'count', rounds: 'count', out: 'path', dir: 'path' } as const
  const a = parseBenchArgs('search', argv, spec, usage, { rows: 5_000 })
  if (a === undefined) return 2
  await runSearch({
    quick: a.quick,
    ...defined({ rows: a.rows, rounds: a.rounds, outPath: a.out, dir: a.dir }),
  })
  return 0
}
