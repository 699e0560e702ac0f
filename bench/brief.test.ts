/**
 * The brief benchmark's smoke test: a tiny run (a 300-entry home, 2 runs) must check both briefs' output
 * and time them against node -e 0 in one hyperfine run. Skipped, saying why, without hyperfine.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { runBrief } from './brief.ts'
import { hyperfineMissing } from './startup.ts'

test('a tiny brief run checks and times both briefs against node -e 0', { skip: hyperfineMissing() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-bench-brief-test-'))
  try {
    const { rows } = await runBrief({ entries: 300, keyedFacts: 8, behind: 40, runs: 2, warmup: 0, dir, outPath: undefined, log: () => {}, quiet: true })
    assert.deepEqual([...new Set(rows.map((r) => r.workload))], ['node_e_0', 'brief_first_300', 'brief_since_300'])
    for (const r of rows) assert.ok(Number.isFinite(r.value) && r.value > 0, `${r.workload}/${r.metric} = ${r.value}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
