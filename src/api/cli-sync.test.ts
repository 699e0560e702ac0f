import assert from 'node:assert/strict'
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { main } from './cli.ts'

const root = mkdtempSync(join(tmpdir(), 'grapevine-sync-'))
after(() => rmSync(root, { recursive: true, force: true }))

type Run = { code: number; out: string; err: string }

let t = 1_800_000_000_000
const clock = { nowMs: () => t++ }

async function run(home: string, ...argv: string[]): Promise<Run> {
  let out = ''
  let err = ''
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s), env: { GRAPEVINE_HOME: join(root, home) }, clock })
  return { code, out, err }
}

test('grapevine sync --dir: two homes meet through a folder; bad lines are reported as FILE:LINE and skipped; usage errors exit 2', async () => {
  const dir = join(root, 'shared')
  assert.equal((await run('a', 'publish', 'from a', '--tag', 'sync')).code, 0)
  assert.equal((await run('b', 'publish', 'from b')).code, 0)
  const a1 = await run('a', '--json', 'sync', '--dir', dir)
  assert.equal(a1.code, 0, a1.err)
  assert.deepEqual((JSON.parse(a1.out) as { written: number }).written, 2)
  const b1 = await run('b', 'sync', '--dir', dir)
  assert.equal(b1.code, 0, b1.err)
  assert.match(b1.out, /wrote 2 ops, took 2/)
  assert.equal((await run('a', 'sync', '--dir', dir)).code, 0)
  const tail = await run('a', '--json', 'tail')
  assert.deepEqual((JSON.parse(tail.out) as { value: string }[]).map((e) => e.value).sort(), ['from a', 'from b'])
  // a bad line in one shard: b reports it with file and line, exit 0 (the rest was synced)
  const [aDir] = readdirSync(dir).filter((d) => readdirSync(join(dir, d)).length > 0)
  const file = readdirSync(join(dir, aDir as string))[0] as string
  appendFileSync(join(dir, aDir as string, file), 'not json\n')
  const b2 = await run('b', 'sync', '--dir', dir)
  assert.equal(b2.code, 0)
  assert.match(b2.err, new RegExp(`${aDir}/${file}:3: not_json`))
  // usage
  assert.equal((await run('a', 'sync')).code, 2)
  assert.equal((await run('a', 'sync', '--dir', dir, '--pack-before', '2026-13')).code, 2)
  assert.equal((await run('a', 'sync', '--dir', dir, '--remote', 'origin')).code, 2)
  // --git outside a work tree: one line, exit 1
  const g = await run('a', 'sync', '--git', '--dir', join(root, 'nogit'))
  assert.equal(g.code, 1)
  assert.match(g.err, /not inside a git work tree/)
})
