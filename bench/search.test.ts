/**
 * The search benchmark's smoke test: a --quick run in process must produce well-formed rows for every
 * class and both systems, with every grapevine answer equal to fts5_plain's top 20; and a planted bug (the
 * strategy without its repeated-term candidates) must stop the benchmark, so a fast wrong answer cannot
 * pass. The strategy is also checked against fts5_plain on a small index after deletes, for every filter.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { test } from 'node:test'
import * as corpus from './lib/corpus.ts'
import {
  agree,
  applyTracking,
  buildIndex,
  checkIndex,
  closeIndex,
  createSchema,
  docCount,
  documentFrequency,
  keyId,
  keyTokens,
  openIndex,
  queryTerms,
  quickParams,
  runSearch,
  searchGrapevine,
  searchIgnoringRepeats,
  searchKey,
  searchPlain,
  systems,
  tokenize,
  unindexNote,
} from './search.ts'
import type { Filter, Row } from './search.ts'

test('a quick run writes well-formed rows for every class and both systems, and leaves no files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-bench-search-test-'))
  try {
    const outPath = join(dir, 'search.json')
    const result = await runSearch({ quick: true, outPath, dir, log: () => {} })
    const rows = JSON.parse(readFileSync(outPath, 'utf8')) as Row[]
    assert.deepEqual(rows, result.rows)
    assert.deepEqual(readdirSync(dir), ['search.json'], 'the index files are removed')
    assert.ok(result.compared > 100, `${result.compared} answers compared`)
    for (const r of rows) {
      assert.deepEqual(Object.keys(r).sort(), ['bench', 'metric', 'system', 'unit', 'value', 'workload'])
      assert.equal(r.bench, 'search')
      assert.ok((systems as readonly string[]).includes(r.system), r.system)
      assert.ok(Number.isFinite(r.value), `${r.workload}/${r.system}/${r.metric}`)
    }
    const find = (workload: string, system: string, metric: string): number | undefined =>
      rows.find((r) => r.workload === workload && r.system === system && r.metric === metric)?.value
    for (const c of ['rare', 'mid', 'two_term', 'quarter', 'rare+channel', 'quarter+channel', 'filters'])
      for (const s of systems) assert.ok((find(c, s, 'p95_ms') ?? -1) >= 0, `${c}/${s}`)
    assert.equal(find('quarter', 'grapevine', 'min_overlap'), 1)
    // ranks computed as FTS5 computes them, to the last bit
    for (const r of rows.filter((x) => x.metric === 'max_rank_diff')) assert.equal(r.value, 0, r.workload)
    assert.ok((find('build', 'grapevine', 'reps_rows') ?? 0) > 0)
    assert.ok((find('build', 'fts5_plain', 'fts5_bytes') ?? 0) > 0)
    const met = rows.filter((r) => r.workload === 'targets' && r.metric.endsWith('_met'))
    assert.equal(met.length, 2)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('canary: the strategy without its repeated-term candidates is caught and stops the benchmark', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-bench-search-test-'))
  try {
    await assert.rejects(
      runSearch({
        quick: true,
        dir,
        outPath: join(dir, 'out.json'),
        search: searchIgnoringRepeats,
        log: () => {},
      }),
      /not the top 20 of fts5_plain/,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('tokens and keys: unicode61-like tokens; the key orders by length, then newest first', () => {
  assert.deepEqual(tokenize('Café ECONNRESET in src/store/op-log.ts (v1.2)'), [
    'cafe',
    'econnreset',
    'in',
    'src',
    'store',
    'op',
    'log',
    'ts',
    'v1',
    '2',
  ])
  assert.deepEqual(tokenize('SQLITE_BUSY at 3pm'), ['sqlite_busy', 'at', '3pm'])
  // other scripts: letters of blocks FTS5 knows are kept, anything else separates
  const mixed = 'Ελλάδα, Москва; 東京 😀 straße Ωmega 1×2'
  const tokens = tokenize(mixed)
  assert.deepEqual(tokens, ['ελλαδα', 'москва', '東京', 'straße', 'ωmega', '1', '2'])
  // and FTS5 (unicode61, tokenchars '_') takes each of them as one token
  const db = new DatabaseSync(':memory:')
  db.exec(
    `CREATE VIRTUAL TABLE f USING fts5(body, tokenize = "unicode61 remove_diacritics 0 tokenchars '_'")`,
  )
  db.exec(`CREATE VIRTUAL TABLE v USING fts5vocab(f, 'row')`)
  db.prepare('INSERT INTO f (body) VALUES (?)').run(tokens.join(' '))
  const vocab = (db.prepare('SELECT term FROM v').all() as { term: string }[]).map((r) => r.term)
  assert.deepEqual(vocab.sort(), [...tokens].sort())
  db.close()
  const a = searchKey(12, 7)
  assert.equal(keyTokens(a), 12)
  assert.equal(keyId(a), 7)
  assert.ok(searchKey(12, 8) < searchKey(12, 7), 'newer first among equal lengths')
  assert.ok(searchKey(12, 0) < searchKey(13, 2 ** 32 - 1), 'shorter first')
  assert.throws(() => searchKey(0, 1), /an entry of 0 tokens/)
  assert.throws(() => searchKey(3, 2 ** 32), /outside/)
  assert.throws(() => queryTerms(' -- '), /no words to search for/)
})

test('agree: ties at the last rank may differ, anything above may not', () => {
  const ref = [
    { sk: 1, rank: -3 },
    { sk: 2, rank: -2 },
    { sk: 3, rank: -1 },
  ]
  assert.ok(agree(ref, ref).same)
  assert.ok(agree(ref, [ref[0]!, ref[1]!, { sk: 9, rank: -1 }]).same, 'another note tied at the last rank')
  assert.ok(!agree(ref, [ref[1]!, ref[0]!, ref[2]!]).same, 'ranks out of order')
  assert.ok(!agree(ref, [{ sk: 8, rank: -3 }, ref[1]!, ref[2]!]).same, 'another note above the last rank')
  assert.ok(!agree(ref, [ref[0]!, { sk: 3, rank: -2 + 1e-6 }, ref[2]!]).same, 'a rank off by 1e-6')
  assert.ok(!agree(ref, ref.slice(0, 2)).same, 'fewer hits')
})

test('after deletes, every filter: grapevine returns fts5_plain top-k, with identical ranks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-bench-search-test-'))
  const p = { ...quickParams, rows: 6_000 }
  // p1Max low enough that the commonest pairs take the plain path at this size
  const ix = openIndex(join(dir, 'index.db'), { trackDfMin: 300, p1Max: 200 })
  try {
    createSchema(ix, ['the', 'to'])
    buildIndex(ix, p, p.rows)
    assert.equal(checkIndex(ix, p, p.rows, true), p.rows)
    // tracked from the start, and tracked by a search (deploy is in ~25% of notes): counts kept exactly
    const rare = corpus.vocabulary[1500]!
    const kept = (t: string): number | undefined =>
      (ix.db.prepare('SELECT df FROM search_term_df WHERE term = ?').get(t) as { df: number } | undefined)?.df
    for (const t of ['the', 'to', corpus.quarterWord, rare]) documentFrequency(ix, t)
    assert.equal(kept(corpus.quarterWord), undefined, 'a search writes nothing')
    applyTracking(ix)
    assert.equal(kept('the'), docCount(ix, 'the'))
    assert.equal(kept(corpus.quarterWord), docCount(ix, corpus.quarterWord))
    assert.ok(docCount(ix, rare) < 300)
    assert.equal(kept(rare), undefined, 'a term in fewer notes is not tracked')
    // remove every 7th note (a purge or retract)
    ix.db.exec('BEGIN')
    for (let i = 0; i < p.rows; i += 7) unindexNote(ix, corpus.entryAt(p.seed, p.rows, i))
    ix.db.exec('COMMIT')
    for (const t of ['the', 'to', corpus.quarterWord])
      assert.equal(kept(t), docCount(ix, t), `${t} after deletes`)
    const now = corpus.corpusNowMs
    const filters: Filter[] = [
      { nowMs: now },
      { nowMs: now, includeStale: true },
      { nowMs: now, channel: 'patterns' },
      { nowMs: now, tag: 'ci' },
      { nowMs: now, author: corpus.authors[1]! },
      { nowMs: now, sinceMs: now - 20 * 86_400_000, channel: 'warnings' },
    ]
    let nonEmpty = 0
    const trace = { queries: 0, plain: 0, p0: 0, p1: 0, scored: 0 }
    const paths = new Map<string, string>()
    for (const q of [
      corpus.quarterWord,
      'the',
      'retry',
      'the to',
      'timeout cache',
      `retry ${corpus.quarterWord}`,
      'nosuchword',
    ])
      for (const f of filters)
        for (const k of [1, 5, 20]) {
          const terms = queryTerms(q)
          const ref = searchPlain(ix, terms, f, k)
          const before = trace.plain
          const got = searchGrapevine(ix, terms, f, k, trace)
          if (f.channel === undefined && f.tag === undefined && f.author === undefined && k === 20)
            paths.set(q, trace.plain > before ? 'plain' : 'grapevine')
          const ag = agree(ref, got)
          assert.ok(ag.same, `${q} ${JSON.stringify(f)} k=${k}: ${ag.detail}`)
          assert.equal(ag.maxRankDiff, 0, `${q}: ranks are computed as FTS5 does`)
          if (ref.length > 0) nonEmpty++
        }
    assert.ok(nonEmpty > 100, `${nonEmpty} non-empty answers`)
    // "the" repeats in most notes: its pair goes to plain FTS5; the others take the fast path
    assert.equal(paths.get('the to'), 'plain')
    assert.equal(paths.get('timeout cache'), 'grapevine')
    assert.equal(paths.get(`retry ${corpus.quarterWord}`), 'grapevine')
  } finally {
    closeIndex(ix)
    rmSync(dir, { recursive: true, force: true })
  }
})
