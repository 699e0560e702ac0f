import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import * as core from '../core/index.ts'
import { testSigner } from '../log/log.test-util.ts'
import * as cursor from './cursor.ts'
import * as opLog from './op-log.ts'

const dir = mkdtempSync(join(tmpdir(), 'grapevine-cursor-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const intent = (i: number): opLog.Intent => ({ kind: 'fact.assert', body: { fact_id: `f${i}`, value: `v${i}` } })

test('cursor: ops get cursors in arrival order from install on, from every connection; after() resumes with nothing lost or repeated', () => {
  const path = join(dir, 's.db')
  const a = opLog.open(path)
  const b = opLog.open(path)
  assert.ok(a.ok && b.ok)
  const s = a.value
  const clock = core.clock.createManualClock(1_700_000_000_000)
  const sa = testSigner(0)
  const sb = testSigner(1)
  const ha = core.hlc.create(sa.author)
  const hb = core.hlc.create(sb.author)
  assert.ok(opLog.append(s, sa, ha, clock, [intent(0)]).ok) // before install: no cursor
  cursor.install(s)
  cursor.install(s) // idempotent
  assert.equal(cursor.latest(s), 0)
  // two writers (connections) interleaved, as the CLI and the daemon would be
  const order: string[] = []
  for (let i = 1; i <= 6; i++) {
    const w = i % 2 === 0 ? { c: b.value, signer: sb, h: hb } : { c: s, signer: sa, h: ha }
    const r = opLog.append(w.c, w.signer, w.h, clock, [intent(i)])
    assert.ok(r.ok)
    order.push(`f${i}`)
  }
  const all = cursor.after(s, 0, 100)
  assert.deepEqual(all.map((x) => (x.op.op.body as { fact_id: string }).fact_id), order)
  assert.deepEqual(all.map((x) => x.cursor), [1, 2, 3, 4, 5, 6])
  assert.equal(cursor.latest(s), 6)
  // resume in pages: every op once
  const seen: number[] = []
  let c = 0
  for (;;) {
    const page = cursor.after(s, c, 4)
    if (page.length === 0) break
    for (const x of page) seen.push(x.cursor)
    c = (page.at(-1) as cursor.Arrival).cursor
  }
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6])
  // an op received again (a duplicate from gossip) gets no second cursor
  const mine = all.map((x) => x.op).filter((e) => e.op.author === sa.author)
  const again = opLog.ingest(b.value, mine, 1_700_000_100_000)
  assert.ok(!again.ok && again.reason === 'duplicate', JSON.stringify(again))
  assert.equal(cursor.latest(s), 6)
  opLog.close(s)
  opLog.close(b.value)
})
