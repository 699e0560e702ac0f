/**
 * The folder benchmark's smoke test: a --quick run in process must replay the shards to the writers'
 * very state, packed and unpacked, and write well-formed rows.
 */
import assert from 'node:assert/strict'
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { runFolder } from './folder.ts'
import type { Row } from './folder.ts'

test('bench folder --quick: replay and packed replay reproduce the writers\' state; rows are finite', async () => {
  const outPath = join(tmpdir(), `grapevine-bench-folder-smoke-${process.pid}.json`)
  try {
    const r = await runFolder({ quick: true, outPath, log: () => undefined })
    assert.equal(r.identical, true)
    assert.equal(r.packedIdentical, true)
    const rows = JSON.parse(readFileSync(outPath, 'utf8')) as Row[]
    assert.ok(rows.every((x) => Number.isFinite(x.value)))
    const get = (w: string, m: string) => rows.find((x) => x.workload === w && x.metric === m)?.value
    assert.ok((get('repo', 'ops') ?? 0) > 40)
    assert.ok((get('packed', 'pack_files') ?? 0) >= 3, 'every node packed its first month')
    assert.equal(get('full_sync', 'identical_state'), 1)
  } finally {
    rmSync(outPath, { force: true })
  }
})
