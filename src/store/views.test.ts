/** The SQLite views against the reference model: same rows, same query results, incremental = rebuild. */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import fc from 'fast-check'
import { arbOpSet, t0Ms } from '../knowledge/knowledge.test-util.ts'
import type { EncodedOp } from '../log/index.ts'
import * as opLog from './op-log.ts'
import type { OpLog } from './op-log.ts'
import type { Reads } from './reads.ts'
import { memoryReads } from './reads.ts'
import * as views from './views.ts'
import { arbDelivery, resign } from './views.test-util.ts'

const dir = mkdtempSync(join(tmpdir(), 'grapevine-views-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
function fresh(): OpLog {
  const r = opLog.open(join(dir, `v${n++}.db`))
  assert.ok(r.ok, r.ok ? '' : r.detail)
  return r.value
}
function drop(s: OpLog): void {
  opLog.close(s)
  for (const x of ['', '-wal', '-shm']) rmSync(`${s.path}${x}`, { force: true })
}

const ingestNowMs = t0Ms + 86_400_000
/** Heavy properties: 150 runs by default (a store file per run); FC_NUM_RUNS overrides. */
const numRuns = Number(process.env['FC_NUM_RUNS'] ?? 150)

/** Every query of Reads, at a few times (stale or not), compared between two implementations. */
function compareReads(got: Reads, want: Reads, ops: readonly EncodedOp[]): void {
  assert.deepEqual(got.dump(), want.dump(), 'dump')
  const d = want.dump()
  const factIds = [...new Set([...d.versions.map((r) => r.fact_id), 'fact/0', 'fact/3', 'absent'])]
  const authors = [...new Set(ops.map((e) => e.op.author))]
  for (const nowMs of [t0Ms, t0Ms + 30_000, t0Ms + 120_000, ingestNowMs]) {
    for (const includeStale of [false, true]) {
      const o = { nowMs, includeStale }
      for (const id of factIds) assert.deepEqual(got.fact(id, o), want.fact(id, o), `fact ${id}`)
      for (const q of [
        {},
        { channel: 'warnings' as const },
        { channel: 'discoveries' as const, limit: 2 },
        { tag: 'x' },
        { author: authors[0] },
        { limit: 3 },
      ])
        assert.deepEqual(
          got.entries({ ...o, ...q }),
          want.entries({ ...o, ...q }),
          `entries ${JSON.stringify(q)}`,
        )
      for (const text of ['entry', 'eu west', 'x', 'region us', '"*NEAR(-', 'nothing']) {
        const q = { ...o, text, limit: 1000 }
        const dots = (hs: readonly { dot: string }[]) => hs.map((h) => h.dot).sort()
        assert.deepEqual(dots(got.search(q)), dots(want.search(q)), `search ${text}`)
      }
    }
  }
  for (const id of factIds) assert.deepEqual(got.history(id), want.history(id), `history ${id}`)
  assert.deepEqual(got.openTickets(), want.openTickets())
  assert.deepEqual(got.resolvedTickets(), want.resolvedTickets())
  for (const t of [...d.tickets, ...d.resolved])
    assert.deepEqual(got.ticket(t.ticket_id), want.ticket(t.ticket_id))
  assert.equal(got.ticket('absent'), undefined)
  assert.deepEqual(got.trust(), want.trust())
  assert.deepEqual(got.statuses(), want.statuses())
  assert.deepEqual(got.agents(), want.agents())
  for (const id of ['task/0', 'task/1', 'absent']) assert.deepEqual(got.task(id), want.task(id))
  for (const q of [
    {},
    { mine: { author: authors[0] as never } },
    { mine: { author: authors[1] as never, name: 'x' } },
  ]) {
    assert.deepEqual(got.tasks(q), want.tasks(q))
    assert.deepEqual(got.readyTasks(q), want.readyTasks(q))
  }
  for (const c of ['c0', 'c1', 'absent']) assert.deepEqual(got.counter(c), want.counter(c))
  assert.deepEqual(got.counters(), want.counters())
  for (const k of ['k0', 'k1', 'absent']) assert.deepEqual(got.config(k), want.config(k))
  assert.deepEqual(got.configs(), want.configs())
  for (const a of authors)
    for (const key of ['key-0', 'key-1', 'key-2'])
      assert.deepEqual(got.idempotent(a, key), want.idempotent(a, key))
  assert.deepEqual(got.counts(ingestNowMs), want.counts(ingestNowMs))
}

test('views: any delivery in signed batches gives the reference model’s rows and query results; rebuild gives the same', () => {
  const arb = arbOpSet(40)
    .map(resign)
    .chain((chains) => fc.tuple(fc.constant(chains), arbDelivery(chains)))
  fc.assert(
    fc.property(arb, ([chains, delivery]) => {
      const s = fresh()
      try {
        for (const batch of delivery) {
          const v = opLog.ingest(s, batch, ingestNowMs)
          assert.ok(v.ok || v.reason === 'duplicate' || v.reason === 'gap', v.ok ? '' : v.detail)
        }
        const all = chains.flat()
        const want = memoryReads(all)
        compareReads(views.sqlReads(s), want, all)
        const before = views.sqlReads(s).dump()
        views.rebuild(s)
        assert.deepEqual(views.sqlReads(s).dump(), before, 'rebuild')
      } finally {
        drop(s)
      }
    }),
    { numRuns },
  )
})
