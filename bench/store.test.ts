/**
 * The store benchmark's smoke test: a --quick run in process must produce well-formed rows for every
 * system and target, and the ingest it times must really store the peer's history and build its views:
 * planted bugs (an ingest that validates every batch but stores nothing; one that stores the ops but
 * no view rows) must stop the benchmark, so it cannot quietly measure an ingest that skips work. The
 * history's bodies must all be valid (an invalid body makes no view rows: it would measure the refusal).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import * as log from '../src/log/index.ts'
import type { AuthorId, Head } from '../src/log/index.ts'
import { opLog } from '../src/store/index.ts'
import * as knowledge from '../src/knowledge/index.ts'
import { views } from '../src/store/index.ts'
import {
  checkStore,
  checkViews,
  ingestRun,
  main,
  packMessages,
  peerHistory,
  plantedWord,
  quickParams,
  rawPlan,
  rawRun,
  runStore,
  systems,
} from './store.ts'
import type { IngestFn, Row } from './store.ts'

/** The planted bug: validates every batch (against heads it keeps in memory) and writes nothing. */
function storesNothing(): IngestFn {
  const heads = new Map<AuthorId, Head>()
  return (_s, batches, nowMs) =>
    batches.map((ops) => {
      const v = log.validateOps(ops, { head: (a) => heads.get(a) }, { nowMs })
      if (v.ok) heads.set(v.author, v.head)
      return v
    })
}

/** The other planted bug: stores the ops (and their chain) but writes no view rows. */
const skipsViews: IngestFn = (s, batches, nowMs) => {
  const w = s.views
  s.views = undefined
  try {
    return opLog.ingestMany(s, batches, nowMs)
  } finally {
    s.views = w
  }
}

test('a quick run writes well-formed rows for every system and target, and leaves no files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-bench-store-test-'))
  try {
    const outPath = join(dir, 'store.json')
    const result = await runStore({ quick: true, outPath, dir, log: () => {} })
    const rows = JSON.parse(readFileSync(outPath, 'utf8')) as Row[]
    assert.deepEqual(rows, result.rows)
    assert.deepEqual(readdirSync(dir), ['store.json'], 'the store files are removed')
    const ops = quickParams.authors * quickParams.opsPerAuthor
    // every ingest and raw run (warm-up and rounds) is checked to hold every op
    assert.equal(result.checks, 3 * ops * (1 + result.params.rounds))
    for (const r of rows) {
      assert.deepEqual(Object.keys(r).sort(), ['bench', 'metric', 'system', 'unit', 'value', 'workload'])
      assert.equal(r.bench, 'store')
      assert.ok((systems as readonly string[]).includes(r.system), r.system)
      assert.ok(Number.isFinite(r.value), `${r.workload}/${r.system}/${r.metric}`)
    }
    const find = (workload: string, system: string, metric: string): Row | undefined =>
      rows.find((r) => r.workload === workload && r.system === system && r.metric === metric)
    for (const s of systems) assert.ok((find('peer_history', s, 'ops_per_s')?.value ?? 0) > 0, s)
    const wire = find('peer_history', 'grapevine_ingest', 'wire_bytes_per_op')!.value
    assert.ok(wire > 200 && wire < 500, `${wire} B/op on the wire`)
    for (const s of ['grapevine_ingest', 'raw_sqlite', 'raw_sqlite_nosync']) {
      // the ops table holds every op's bytes, plus keys and indexes
      assert.ok(find('peer_history', s, 'disk_bytes_per_op')!.value > wire, s)
    }
    assert.ok(find('peer_history', 'grapevine_ingest', 'ratio_vs_raw_sqlite') !== undefined)
    assert.ok(find('cost_split', 'decode_validate', 'us_per_op') !== undefined)
    assert.ok(find('cost_split', 'grapevine_ingest', 'store_us_per_op') !== undefined)
    const met = rows.filter((r) => r.workload === 'targets' && r.metric.endsWith('_met'))
    assert.equal(met.length, 2)
    assert.ok(find('cost_split', 'decode_validate_parse', 'body_check_us_per_op') !== undefined)
    for (const r of met) assert.ok(r.value === 0 || r.value === 1)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('the history is realistic: several authors, valid bodies, mostly entries, some rewrites and tasks', () => {
  const h = peerHistory(quickParams)
  assert.equal(h.authors.length, quickParams.authors)
  assert.ok(h.bodyJsonBytes.median >= 150 && h.bodyJsonBytes.max <= 400, JSON.stringify(h.bodyJsonBytes))
  const first = log.decodeBatch(h.batches[0]!)
  assert.ok(first.ok)
  assert.equal(first.value.ops.length, quickParams.batchOps)
  assert.equal(first.value.scheme, 'batch_head')
  const byKind = new Map<string, number>()
  let planted = 0
  for (const b of h.batches) {
    const d = log.decodeBatch(b)
    assert.ok(d.ok)
    for (const e of d.value.ops) {
      const r = knowledge.parseOp(e.op)
      assert.ok(r.ok, r.ok ? '' : r.detail) // every body valid: the views get a row of every op
      byKind.set(e.op.kind, (byKind.get(e.op.kind) ?? 0) + 1)
      if (JSON.stringify(e.op.body).includes(plantedWord)) planted++
    }
  }
  assert.deepEqual(Object.fromEntries(byKind), h.expect.byKind)
  assert.equal(planted, h.expect.planted)
  const n = h.ops
  assert.ok((byKind.get('fact.assert') ?? 0) / n > 0.75, 'mostly asserts')
  assert.ok(h.expect.entries / n > 0.6, 'mostly channel entries')
  for (const k of ['status.set', 'task.create', 'task.claim', 'task.done', 'counter.add'])
    assert.ok((byKind.get(k) ?? 0) > 0, k)
  assert.ok(h.expect.superseding > 0 && h.expect.rewritten > 0, 'keyed facts are rewritten')
})

test('messages: batches packed in wire order under a byte budget, an oversize batch alone', () => {
  const bytes = (n: number): Uint8Array => new Uint8Array(n)
  const msgs = packMessages([bytes(1000), bytes(1000), bytes(70_000), bytes(500), bytes(3000)], 4096)
  // 4096 - 80 B of message framing; each batch counts 8 B more (its framing in the delta)
  assert.deepEqual(msgs, [[0, 1], [2], [3, 4]])
  assert.deepEqual(packMessages([bytes(2000), bytes(2001)], 4096), [[0], [1]])
  const h = peerHistory(quickParams)
  assert.deepEqual(h.messages.flat(), h.batches.map((_, k) => k), 'every batch once, in wire order')
  const big = packMessages(h.batches, 1024 * 1024)
  assert.ok(big.length < packMessages(h.batches, 65536).length && big.every((m) => m.reduce((n, k) => n + h.batches[k]!.length, 0) <= 1024 * 1024))
  // a stream: the first message's budget, then twice the last one's, up to the most
  const grow = packMessages(Array.from({ length: 40 }, () => bytes(1000)), 4096, 16384)
  // 1008 B a batch with its framing, 80 B a message: 3 under 4 KiB, 8 under 8 KiB, 16 under 16 KiB, the rest
  assert.deepEqual(grow.map((m) => m.length), [3, 8, 16, 13], 'budgets 4, 8, 16, 16 KiB')
})

test('bad arguments: a stream ceiling below the first message, an unknown flag: usage, exit 2', async () => {
  const errors: string[] = []
  const saved = console.error
  console.error = (...xs: unknown[]) => void errors.push(xs.join(' '))
  try {
    assert.equal(await main(['--stream-bytes', '8192']), 2)
    assert.match(errors.join('\n'), /--stream-bytes 8192 is below the first message's 65536 B/)
    assert.equal(await main(['--message-bytes', '100000', '--stream-bytes', '65536']), 2)
    assert.equal(await main(['--bogus']), 2)
  } finally {
    console.error = saved
  }
})

test('raw_sqlite inserts the same rows ingest leaves: every table, row for row', () => {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-bench-store-test-'))
  try {
    const h = peerHistory(quickParams)
    const plan = rawPlan(h, dir)
    assert.deepEqual(readdirSync(dir), [], 'the scratch store is removed')
    const open = (name: string): opLog.OpLog => {
      const r = opLog.open(join(dir, name))
      assert.ok(r.ok)
      return r.value
    }
    const ing = open('ingest.db')
    ingestRun(ing, h)
    const raw = open('raw.db')
    rawRun(raw.db, plan, h.messages)
    assert.equal(checkViews(raw.db, h), checkViews(ing.db, h))
    const tables = (s: opLog.OpLog): string[] =>
      (
        s.db
          .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'versions_fts%' AND name NOT IN ('views_meta', 'heads', 'forks') ORDER BY name",
          )
          .all() as { name: string }[]
      ).map((r) => r.name)
    assert.deepEqual(tables(raw), tables(ing))
    for (const t of tables(ing)) {
      const all = (s: opLog.OpLog): unknown[] =>
        s.db
          .prepare(
            t === 'versions'
              ? 'SELECT rowid AS r, * FROM versions ORDER BY rowid'
              : `SELECT * FROM ${t} ORDER BY 1, 2`,
          )
          .all()
      assert.deepEqual(all(raw), all(ing), t)
    }
    // the full-text index answers the same (what the reads see)
    const hits = (s: opLog.OpLog): unknown[] =>
      views
        .sqlReads(s)
        .search({ text: plantedWord, limit: 1000, nowMs: h.nowMs, includeStale: true })
        .map((x) => x.fact_id)
    assert.equal(hits(ing).length, h.expect.planted)
    assert.deepEqual(hits(raw), hits(ing))
    opLog.close(ing)
    opLog.close(raw)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('canary: an ingest that stores nothing fails the check, and stops the benchmark', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-bench-store-test-'))
  try {
    const h = peerHistory(quickParams)
    const open = (name: string): opLog.OpLog => {
      const r = opLog.open(join(dir, name))
      assert.ok(r.ok)
      return r.value
    }
    const good = open('good.db')
    ingestRun(good, h)
    assert.equal(checkStore(good, h, { deep: true }), h.ops)
    opLog.close(good)

    const bad = open('bad.db')
    ingestRun(bad, h, storesNothing()) // every batch "accepted"
    assert.throws(() => checkStore(bad, h), /holds 0 of \d+ ops/)
    opLog.close(bad)

    await assert.rejects(
      runStore({ quick: true, dir, outPath: join(dir, 'out.json'), ingest: storesNothing(), log: () => {} }),
      /holds 0 of \d+ ops/,
    )

    // the ops stored, the views skipped: the views canary stops it
    const noViews = open('no-views.db')
    ingestRun(noViews, h, skipsViews)
    assert.equal(checkStore(noViews, h), h.ops)
    assert.throws(() => checkViews(noViews.db, h), /the views hold 0 versions rows/)
    opLog.close(noViews)
    await assert.rejects(
      runStore({ quick: true, dir, outPath: join(dir, 'out2.json'), ingest: skipsViews, log: () => {} }),
      /the views hold 0 versions rows/,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
