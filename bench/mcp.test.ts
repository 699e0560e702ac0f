/**
 * The MCP benchmark's smoke test: a tiny run (a 300-entry home, 20 calls) against a real server must time
 * recent and ping and produce well-formed rows (the benchmark itself checks every recent answer).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { runMcp } from './mcp.ts'

test('a tiny mcp run times recent against ping and writes well-formed rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-bench-mcp-test-'))
  try {
    const { rows } = await runMcp({ entries: 300, keyedFacts: 8, calls: 20, warmup: 2, dir, outPath: undefined, log: () => {} })
    assert.deepEqual([...new Set(rows.map((r) => r.workload))], ['recent_n20_300', 'ping_300'])
    for (const r of rows) assert.ok(Number.isFinite(r.value) && r.value > 0, `${r.workload}/${r.metric} = ${r.value}`)
    assert.equal(rows.find((r) => r.workload === 'recent_n20_300' && r.metric === 'calls')?.value, 20)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
