/**
 * The search index (fts.ts) inside a real store: the store's search returns plain FTS5's BM25 top k (same
 * ranks to the bit, same entries above the last rank) under every filter, after supersedes and purges;
 * the index's side tables stay exact; a search writes nothing; entries without words are skipped.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, test } from 'node:test'
import fc from 'fast-check'
import * as core from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import { t0Ms } from '../knowledge/knowledge.test-util.ts'
import type * as log from '../log/index.ts'
import * as fts from './fts.ts'
import * as opLog from './op-log.ts'
import type { OpLog } from './op-log.ts'
import * as views from './views.ts'
import { signers } from './views.test-util.ts'

const dir = mkdtempSync(join(tmpdir(), 'grapevine-fts-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** A small deterministic generator (the store's tests take no Math.random). */
function lcg(seed: number): () => number {
  let x = seed >>> 0
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    return x / 4294967296
  }
}

/** Words with skewed frequencies: w0 in most entries, w40 in a few. */
const words = Array.from({ length: 60 }, (_, i) => `w${i}`)
const channels = ['discoveries', 'patterns', 'warnings'] as const
const tagPool = ['ci', 'db', 'x']

type Filter = {
  channel?: (typeof channels)[number]
  tag?: string
  author?: log.AuthorId
  sinceMs?: number
  includeStale?: boolean
}

/** The filters as views.ts applies them, for the plain FTS5 reference. */
function scopeOf(f: Filter, nowMs: number): fts.Scope {
  const where = ['v.channel IS NOT NULL']
  const params: (string | number)[] = []
  const add = (sql: string, v: string | number | undefined): void => {
    if (v === undefined) return
    where.push(sql)
    params.push(v)
  }
  add('v.channel = ?', f.channel)
  add('v.author = ?', f.author)
  add('EXISTS (SELECT 1 FROM json_each(v.tags) AS t WHERE t.value = ?)', f.tag)
  add('(v.expires_ms IS NULL OR v.expires_ms > ?)', f.includeStale === true ? undefined : nowMs)
  add('v.wall_ms >= ?', f.sinceMs)
  return {
    join: (sk) => `versions v ON v.rowid = ${fts.keyIdSql(sk)}`,
    where: ` AND ${where.join(' AND ')}`,
    params,
  }
}

/**
 * Is `got` (dot, score) plain FTS5's answer `ref` (sk, rank)? Equal ranks at every position, to the bit,
 * and the same entries wherever the rank is better than the last one (ties there: FTS5's order is none).
 */
function sameTop(
  db: DatabaseSync,
  ref: readonly fts.Hit[],
  got: readonly { dot: string; score: number }[],
): string {
  if (ref.length !== got.length) return `${got.length} hits, plain FTS5 has ${ref.length}`
  const dotOf = db.prepare('SELECT author, seq FROM versions WHERE rowid = ?')
  for (let i = 0; i < ref.length; i++)
    if (-(got[i]?.score ?? 0) !== ref[i]?.rank)
      return `rank ${i + 1}: ${-(got[i]?.score ?? 0)} vs ${ref[i]?.rank}`
  const last = ref.at(-1)?.rank
  const better = ref
    .filter((h) => h.rank !== last)
    .map((h) => {
      const r = dotOf.get(fts.keyId(h.sk)) as { author: string; seq: number }
      return knowledge.formatDot({ node: r.author as core.NodeId, seq: r.seq })
    })
    .sort()
  const mine = got
    .filter((h) => -h.score !== last)
    .map((h) => h.dot)
    .sort()
  return better.join() === mine.join() ? '' : 'other entries above the last rank'
}

function entryText(rnd: () => number): string {
  const n = 3 + Math.floor(rnd() * 12)
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(words[Math.floor(words.length * rnd() ** 2.5)] as string)
  return out.join(rnd() < 0.3 ? ', ' : ' ')
}

/** A store of ~1,300 entries from three authors: keyed rewrites, TTLs, tags, entries without words. */
function build(path: string): { s: OpLog; nowMs: number; authors: string[] } {
  const r = opLog.open(path)
  assert.ok(r.ok, r.ok ? '' : r.detail)
  const s = r.value
  const rnd = lcg(7)
  const authors: string[] = []
  for (let a = 0; a < 3; a++) {
    const signer = signers[a] as log.Signer
    authors.push(signer.author)
    const hlc = core.hlc.create(signer.author)
    for (let batch = 0; batch < 4; batch++) {
      const ops = Array.from({ length: 110 }, (_, i) => {
        const keyed = i % 9 === 0 ? { fact_id: `k${a}.${i % 27}` } : {}
        const ttl = i % 5 === 0 ? { ttl_seconds: 60 + batch * 60 } : {}
        const text = i % 37 === 0 ? '!!! 😀 --' : entryText(rnd)
        const tags = tagPool.filter(() => rnd() < 0.3)
        return {
          kind: 'fact.assert',
          body: {
            ...keyed,
            ...ttl,
            value: i % 2 === 0 ? text : { n: i },
            ...(i % 2 === 0 ? {} : { text }),
            supersedes: [],
            verified: false,
            channel: channels[(i + batch) % 3] as string,
            tags,
          },
        }
      })
      const res = opLog.append(s, signer, hlc, core.clock.createManualClock(t0Ms + batch * 100_000 + a), ops)
      assert.ok(res.ok, res.ok ? '' : JSON.stringify(res))
    }
  }
  return { s, nowMs: t0Ms + 150_000, authors }
}

/** The index's side tables against the live entries: FTS5 rows, reps rows, tracked counts. */
function checkTables(s: OpLog): void {
  const live = s.db
    .prepare('SELECT rowid AS id, text, value, tags FROM versions WHERE channel IS NOT NULL')
    .all() as { id: number; text: string | null; value: string; tags: string }[]
  const reps: string[] = []
  let indexed = 0
  for (const e of live) {
    const value = JSON.parse(e.value) as unknown
    const t = fts.entryTokens(
      e.text ?? (typeof value === 'string' ? value : ''),
      JSON.parse(e.tags) as string[],
    )
    if (t.length === 0) continue
    indexed++
    const sk = fts.searchKey(t.length, e.id)
    for (const [term, n] of fts.termFrequencies(t)) if (n >= 2) reps.push(`${term} ${sk} ${n}`)
  }
  const stored = (
    s.db.prepare('SELECT term, sk, tf FROM search_reps').all() as { term: string; sk: number; tf: number }[]
  ).map((r) => `${r.term} ${r.sk} ${r.tf}`)
  assert.deepEqual(stored.sort(), reps.sort(), 'reps: one row per repeated term of a live entry')
  const docs = (s.db.prepare('SELECT count(*) AS n FROM versions_fts_docsize').get() as { n: number }).n
  assert.equal(docs, indexed, 'one FTS5 row per live entry with words')
  for (const r of s.db.prepare('SELECT term, df FROM search_term_df').all() as { term: string; df: number }[])
    assert.equal(r.df, fts.docCount(s.db, r.term), `term_df of ${r.term}`)
}

test('fts: the store search is plain FTS5 BM25 top k under every filter, after rewrites and a purge; a planted bug is caught', () => {
  const { s, nowMs, authors } = build(join(dir, 'exact.db'))
  try {
    assert.ok(views.purgeExpired(s, t0Ms + 200_000, 0) > 0, 'some entries were purged')
    checkTables(s)
    const reads = views.sqlReads(s)
    const filters: Filter[] = [
      {},
      { includeStale: true },
      { channel: 'patterns' },
      { tag: 'ci' },
      { author: authors[1] as log.AuthorId },
      { sinceMs: t0Ms + 250_000, channel: 'warnings' },
    ]
    let compared = 0
    let caught = 0
    for (const q of [
      'w0',
      'w1',
      'w5',
      'w20',
      'w45',
      'w0 w1',
      'w2 w9',
      'w0 w30',
      'w3 W3 ci',
      'nosuch',
      'x w4',
    ])
      for (const f of filters)
        for (const k of [1, 5, 20, 1000]) {
          const terms = fts.queryTerms(q)
          const ref = fts.searchPlain(s.db, terms, scopeOf(f, nowMs), k)
          const got = reads.search({ text: q, limit: k, nowMs, ...f })
          assert.equal(sameTop(s.db, ref, got), '', `${q} ${JSON.stringify(f)} k=${k}`)
          compared += ref.length > 0 ? 1 : 0
          const wrong = fts.searchTop(s.db, terms, scopeOf(f, nowMs), k, { withP1: false })
          if (wrong.map((h) => h.rank).join() !== ref.map((h) => h.rank).join()) caught++
        }
    assert.ok(compared > 150, `${compared} non-empty answers compared`)
    assert.ok(caught > 10, `the strategy without repeated terms differs from plain FTS5 (${caught} answers)`)
  } finally {
    opLog.close(s)
  }
})

test('fts: a search writes nothing and runs on a read-only connection; the next write tracks the frequent terms it met', () => {
  const path = join(dir, 'track.db')
  const { s, nowMs } = build(path)
  try {
    const tracked = () =>
      (s.db.prepare('SELECT term FROM search_term_df ORDER BY term').all() as { term: string }[]).map(
        (r) => r.term,
      )
    assert.deepEqual(tracked(), [])
    const before = (s.db.prepare('PRAGMA data_version').get() as { data_version: number }).data_version
    const changes = (s.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n
    const hits = views.sqlReads(s).search({ text: 'w0 w1', limit: 20, nowMs })
    assert.equal(hits.length, 20)
    assert.equal(
      (s.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n,
      changes,
      'no row written',
    )
    assert.equal((s.db.prepare('PRAGMA data_version').get() as { data_version: number }).data_version, before)
    assert.deepEqual(tracked(), [], 'nothing tracked until a write')
    // a read-only connection answers the same
    const ro = new DatabaseSync(path, { readOnly: true })
    try {
      const scope = scopeOf({}, nowMs)
      const a = fts.searchTop(ro, ['w0'], scope, 20)
      assert.deepEqual(a, fts.searchTop(s.db, ['w0'], scope, 20))
      assert.equal(a.length, 20)
    } finally {
      ro.close()
    }
    // the next write of this connection tracks w0 and w1 (in >= 1% of the entries), with exact counts
    const signer = signers[4] as log.Signer
    const r = opLog.append(s, signer, core.hlc.create(signer.author), core.clock.createManualClock(t0Ms), [
      {
        kind: 'fact.assert',
        body: { value: 'w0 w0 w1 later', supersedes: [], verified: false, channel: 'patterns' },
      },
    ])
    assert.ok(r.ok)
    assert.deepEqual(tracked(), ['w0', 'w1'])
    checkTables(s)
    // another connection starts tracking w2: this writer's next entries count it too
    const other = new DatabaseSync(path)
    try {
      other.exec('BEGIN IMMEDIATE')
      fts.trackTerms(other, ['w2'])
      other.exec('COMMIT')
    } finally {
      other.close()
    }
    const r2 = opLog.append(
      s,
      signer,
      core.hlc.create(signer.author),
      core.clock.createManualClock(t0Ms + 1),
      [
        {
          kind: 'fact.assert',
          body: { value: 'w2 w2 w0 again', supersedes: [], verified: false, channel: 'patterns' },
        },
      ],
    )
    assert.ok(r2.ok)
    assert.deepEqual(tracked(), ['w0', 'w1', 'w2'])
    checkTables(s)
    views.rebuild(s)
    checkTables(s)
  } finally {
    opLog.close(s)
  }
})

test('fts: entries without words are stored and not indexed; a query without words finds nothing', () => {
  const r = opLog.open(join(dir, 'empty.db'))
  assert.ok(r.ok)
  const s = r.value
  try {
    const signer = signers[0] as log.Signer
    const hlc = core.hlc.create(signer.author)
    const entry = (value: string, fact_id?: string) => ({
      kind: 'fact.assert',
      body: {
        ...(fact_id === undefined ? {} : { fact_id }),
        value,
        supersedes: [],
        verified: false,
        channel: 'warnings',
      },
    })
    const a = opLog.append(s, signer, hlc, core.clock.createManualClock(t0Ms), [
      entry('😀 !!!', 'e'),
      entry(''),
      entry('ไทย'),
      entry('real words here'),
    ])
    assert.ok(a.ok)
    // a keyed entry without words rewritten: its deletion finds nothing to take out of the index
    const b = opLog.append(s, signer, hlc, core.clock.createManualClock(t0Ms + 1), [entry('-- ?', 'e')])
    assert.ok(b.ok)
    const reads = views.sqlReads(s)
    assert.equal(reads.entries({ nowMs: t0Ms }).length, 5)
    assert.equal((s.db.prepare('SELECT count(*) AS n FROM versions_fts_docsize').get() as { n: number }).n, 1)
    for (const q of ['😀', '', '!!!', 'ไทย'])
      assert.deepEqual(reads.search({ text: q, limit: 5, nowMs: t0Ms }), [])
    assert.equal(reads.search({ text: 'WORDS', limit: 5, nowMs: t0Ms }).length, 1)
    checkTables(s)
  } finally {
    opLog.close(s)
  }
})

test('fts: tokens are what FTS5 makes of them, and the key orders by length, then newest first', () => {
  const text = 'Ünïcode straße, SQLITE_BUSY at 3pm: Ελλάδα/Москва 東京 😀 x×y'
  const tokens = fts.tokenize(text)
  assert.deepEqual(tokens, [
    'unicode',
    'straße',
    'sqlite_busy',
    'at',
    '3pm',
    'ελλαδα',
    'москва',
    '東京',
    'x',
    'y',
  ])
  const db = new DatabaseSync(':memory:')
  try {
    db.exec(fts.ftsSchema)
    db.exec('BEGIN')
    const sk = fts.indexEntry(db, 41, text, ['Tag One'])
    assert.deepEqual(fts.readStats(db), { rows: 0, tokens: 0 }, 'queued until flushIndex')
    fts.flushIndex(db)
    db.exec('COMMIT')
    assert.equal(sk, fts.searchKey(12, 41))
    const vocab = (db.prepare('SELECT term FROM versions_fts_terms').all() as { term: string }[]).map(
      (r) => r.term,
    )
    assert.deepEqual(vocab.sort(), [...new Set([...tokens, 'tag', 'one'])].sort())
    assert.deepEqual(fts.readStats(db), { rows: 1, tokens: 12 })
    assert.throws(() => fts.indexEntry(db, 42, 'outside', []), /inside the transaction/)
  } finally {
    db.close()
  }
  // queued rows: a delete in the same transaction takes one out of the queue; a rollback's are dropped
  const q = new DatabaseSync(':memory:')
  try {
    q.exec(fts.ftsSchema)
    const terms = () =>
      (q.prepare('SELECT term FROM versions_fts_terms').all() as { term: string }[]).map((r) => r.term)
    q.exec('BEGIN')
    fts.indexEntry(q, 1, 'rolled back', [])
    q.exec('ROLLBACK')
    fts.dropPending(q)
    q.exec('BEGIN')
    fts.indexEntry(q, 2, 'kept kept', [])
    fts.indexEntry(q, 3, 'gone soon', [])
    fts.unindexEntry(q, 3, 'gone soon', [])
    fts.flushIndex(q)
    q.exec('COMMIT')
    assert.deepEqual(terms(), ['kept'])
    assert.deepEqual(
      (q.prepare('SELECT term, tf FROM search_reps').all() as { term: string; tf: number }[]).map(
        (r) => `${r.term} ${r.tf}`,
      ),
      ['kept 2'],
    )
  } finally {
    q.close()
  }
  assert.equal(fts.keyTokens(fts.searchKey(9, 5)), 9)
  assert.equal(fts.keyId(fts.searchKey(9, 5)), 5)
  assert.ok(fts.searchKey(9, 6) < fts.searchKey(9, 5), 'newer first among equal lengths')
  assert.ok(fts.searchKey(9, 2 ** 32 - 1) > fts.searchKey(8, 0), 'shorter first')
  assert.throws(() => fts.searchKey(0, 1), /an entry of 0 tokens/)
  assert.throws(() => fts.searchKey(1, 2 ** 32), /outside/)
})

test('fts: the text FTS5 is given (ASCII as it is, other text as tokens) makes exactly the entry\'s tokens', () => {
  // ASCII with every kind of separator, case and '_', and some non-ASCII text mixed in
  const ascii = fc.string({ unit: fc.constantFrom(...'aZ09_ -.,:;/\\\'"!?()[]{}<>@#$%^&*+=|~`\t\n\u0001Qx'), maxLength: 80 })
  const mixed = fc.string({ unit: fc.constantFrom('a', 'B', ' ', '_', 'é', 'Ü', 'ß', 'Ω', '東', '😀', '-', '9'), maxLength: 30 })
  const tag = fc.string({ unit: fc.constantFrom(...'abXY09_-.:'), minLength: 1, maxLength: 12 })
  fc.assert(
    fc.property(fc.oneof(ascii, mixed), fc.uniqueArray(fc.oneof(tag, fc.constant('Ωmega-tag')), { maxLength: 3 }), (body, tags) => {
      const t = fts.entryTokens(body, tags)
      const db = new DatabaseSync(':memory:')
      try {
        db.exec(fts.ftsSchema)
        // every token FTS5 made, by column and position
        db.exec("CREATE VIRTUAL TABLE v_inst USING fts5vocab(versions_fts, 'instance')")
        db.prepare('INSERT INTO versions_fts (rowid, body, tags) VALUES (1, ?, ?)').run(t.bodyText, t.tagsText)
        const rows = db.prepare('SELECT term, col, offset FROM v_inst ORDER BY col, offset').all() as { term: string; col: string }[]
        assert.deepEqual(rows.filter((r) => r.col === 'body').map((r) => r.term), t.body, `body ${JSON.stringify(body)}`)
        assert.deepEqual(rows.filter((r) => r.col === 'tags').map((r) => r.term), t.tags, `tags ${JSON.stringify(tags)}`)
      } finally {
        db.close()
      }
    }),
    { numRuns: 500 },
  )
})

test('fts: term counts are a Map\'s count of the tokens, for any text, and for crafted terms that share one hash', () => {
  const mapCount = (t: fts.EntryTokens): [string, number][] => {
    const m = new Map<string, number>()
    for (const w of [...t.body, ...t.tags]) m.set(w, (m.get(w) ?? 0) + 1)
    return [...m]
  }
  const word = fc.constantFrom('a', 'an', 'the', 'lock', 'retry', 'x1', 'y_2', 'cache', 'q')
  fc.assert(
    fc.property(fc.array(word, { maxLength: 200 }), fc.uniqueArray(word, { maxLength: 3 }), (ws, tags) => {
      const t = fts.entryTokens(ws.join(' '), tags)
      const c = fts.termCounts(t)
      assert.deepEqual(c.terms.map((w, i) => [w, c.counts[i]]), mapCount(t))
      assert.deepEqual([...fts.termFrequencies(t)], mapCount(t))
    }),
    { numRuns: 500 },
  )
  // 'an' and 'c0' hash alike as two-character blocks (31 * 97 + 110 = 31 * 99 + 48), so the 64 words of
  // six such blocks share one hash: counting them falls back to a Map, with the same counts
  const words = Array.from({ length: 64 }, (_, i) => Array.from({ length: 6 }, (_, b) => ((i >> b) & 1) === 1 ? 'c0' : 'an').join(''))
  const text = [...words, ...words.slice(0, 10), words[3]].join(' ')
  const t = fts.entryTokens(text, [])
  const c = fts.termCounts(t)
  assert.deepEqual(c.terms.map((w, i) => [w, c.counts[i]]), mapCount(t))
  assert.equal(c.counts[3], 3)
  // and the table is left empty: a plain entry after it counts as usual
  const after = fts.entryTokens('an an c0', [])
  assert.deepEqual(fts.termCounts(after), { terms: ['an', 'c0'], counts: [2, 1] })
})
