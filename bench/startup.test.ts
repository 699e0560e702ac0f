/**
 * The start-up benchmark's smoke test: a --quick run (a small home, 3 runs) must build a home whose
 * commands print what they must, time every command in one hyperfine run and write well-formed rows;
 * a hyperfine that fails must stop the benchmark. Skipped, saying why, when hyperfine is not installed.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { cases, homeDir, hyperfineMissing, quickParams, runStartup } from './startup.ts'
import type { Params, Row } from './startup.ts'

const missing = hyperfineMissing()

test(
  'a quick run builds a home, times every command against node -e 0 and writes well-formed rows',
  { skip: missing },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'grapevine-bench-startup-test-'))
    try {
      const outPath = join(dir, 'startup.json')
      const p: Params = { ...quickParams, entries: 300, dir, outPath, log: () => {} }
      const { rows } = await runStartup(p)
      assert.ok(existsSync(join(homeDir(p), 'ready')), 'the home is cached')
      assert.deepEqual(JSON.parse(readFileSync(outPath, 'utf8')) as Row[], rows)
      for (const r of rows) {
        assert.deepEqual(Object.keys(r).sort(), ['bench', 'metric', 'system', 'unit', 'value', 'workload'])
        assert.equal(r.bench, 'startup')
        assert.ok(r.system === 'grapevine' || r.system === 'node_e_0', r.system)
        assert.ok(Number.isFinite(r.value) && r.value > 0, `${r.workload}/${r.metric} = ${r.value}`)
      }
      const names = cases(p).map((c) => c.name)
      assert.deepEqual(names, [
        'node_e_0',
        'tail_n20',
        'tail_n20_source',
        'tail_n20_json',
        'search',
        'fact_get',
      ])
      for (const w of [
        'node_e_0',
        'tail_n20_300',
        'tail_n20_source_300',
        'tail_n20_json_300',
        'search_300',
        'fact_get_300',
      ]) {
        const runs = rows.find((r) => r.workload === w && r.metric === 'runs')
        assert.equal(runs?.value, 3, `${w} ran 3 times`)
      }
      const ratio = rows.find((r) => r.workload === 'tail_n20_300' && r.metric === 'ratio_mean_to_node_e_0')
      assert.ok(ratio !== undefined && ratio.value > 1, 'grapevine does more than start Node')

      // a second run reuses the cached home; a hyperfine that fails stops the benchmark
      await assert.rejects(
        runStartup({ ...p, outPath: undefined, hyperfine: () => ({ status: 1, stderr: 'planted failure' }) }),
        /hyperfine failed \(exit 1\): planted failure/,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
)
