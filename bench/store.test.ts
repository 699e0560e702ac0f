/**
 * The store benchmark's smoke test: a --quick run in process must produce well-formed rows for every
 * system and target, and the ingest it times must really store the peer's history: a planted bug (an
 * ingest that validates every batch but stores nothing) must stop the benchmark, so it cannot quietly
 * measure an ingest that writes nothing.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import * as log from '../src/log/index.ts'
import type { AuthorId, Head } from '../src/log/index.ts'
import { opLog } from '../src/store/index.ts'
import { checkStore, ingestRun, peerHistory, quickParams, runStore, systems } from './store.ts'
import type { IngestFn, Row } from './store.ts'

/** The planted bug: validates every batch (against heads it keeps in memory) and writes nothing. */
function storesNothing(): IngestFn {
  const heads = new Map<AuthorId, Head>()
  return (_s, ops, nowMs) => {
    const v = log.validateOps(ops, { head: (a) => heads.get(a) }, { nowMs })
    if (v.ok) heads.set(v.author, v.head)
    return v
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
    for (const r of met) assert.ok(r.value === 0 || r.value === 1)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('the history is realistic: several authors, fact.assert bodies of ~150-300 bytes of JSON', () => {
  const h = peerHistory(quickParams)
  assert.equal(h.authors.length, quickParams.authors)
  assert.ok(h.bodyJsonBytes.min >= 150 && h.bodyJsonBytes.max <= 300, JSON.stringify(h.bodyJsonBytes))
  const first = log.decodeBatch(h.batches[0]!)
  assert.ok(first.ok)
  assert.equal(first.value.ops.length, quickParams.batchOps)
  assert.equal(first.value.scheme, 'batch_head')
  assert.equal(first.value.ops[0]!.op.kind, 'fact.assert')
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
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
