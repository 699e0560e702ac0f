/**
 * The op log benchmark's smoke test: a --quick run in process must produce well-formed rows for both
 * schemes at every batch size, and the verify workload must really verify: a planted bug (one flipped
 * byte in one batch) must stop it, so the benchmark cannot quietly measure a verifier that accepts all.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { benchOps, benchSigner, runLog, schemes, signRun, verifyRun } from './log.ts'
import type { Row } from './log.ts'

test('a quick run writes well-formed rows for both schemes at every batch size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-bench-log-test-'))
  try {
    const outPath = join(dir, 'log.json')
    const result = await runLog({ quick: true, outPath, log: () => {} })
    const rows = JSON.parse(readFileSync(outPath, 'utf8')) as Row[]
    assert.deepEqual(rows, result.rows)
    assert.ok(result.checks > 100)
    for (const r of rows) {
      assert.deepEqual(Object.keys(r).sort(), ['bench', 'metric', 'system', 'unit', 'value', 'workload'])
      assert.equal(r.bench, 'log')
      assert.ok((schemes as readonly string[]).includes(r.system))
      assert.ok(Number.isFinite(r.value))
    }
    const find = (workload: string, system: string, metric: string): Row | undefined =>
      rows.find((r) => r.workload === workload && r.system === system && r.metric === metric)
    for (const size of result.params.batchSizes) {
      for (const s of schemes) {
        assert.ok((find(`sign_batch_${size}`, s, 'ops_per_s')?.value ?? 0) > 0)
        assert.ok((find(`verify_batch_${size}`, s, 'ops_per_s')?.value ?? 0) > 0)
        assert.ok((find(`batch_${size}`, s, 'bytes_per_op')?.value ?? 0) > 100)
      }
      assert.ok(find(`verify_batch_${size}`, 'batch_head', 'speedup_vs_per_op') !== undefined)
    }
    // per_op carries a 64-byte signature on every op; batch_head one per batch
    const per = find('batch_256', 'per_op', 'bytes_per_op')!.value
    const head = find('batch_256', 'batch_head', 'bytes_per_op')!.value
    assert.ok(Math.abs(per - head - (64 * 255) / 256) < 0.01, `${per} - ${head}`)
    assert.equal(rows.filter((r) => r.workload === 'targets' && r.metric.endsWith('_met')).length, 1)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('canary: the verify workload stops on a batch with one flipped byte', () => {
  const signer = benchSigner()
  const ops = benchOps(signer, 32)
  for (const scheme of schemes) {
    const batches = signRun(signer, ops, 16, scheme)
    assert.equal(verifyRun(batches, 1_800_000_000_000).seq, 32)
    const bad = batches.map((b) => Uint8Array.from(b))
    bad[1]![bad[1]!.length - 100]! ^= 1
    assert.throws(() => verifyRun(bad, 1_800_000_000_000), /refused/)
  }
})
