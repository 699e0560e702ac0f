/** entityOf: every effective op belongs to one entity, and an entity's rows come from its ops alone. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import type { EncodedOp } from '../log/index.ts'
import * as k from './index.ts'
import { arbOpSet, assertBody, createWriter, write } from './knowledge.test-util.ts'

test('entityOf: one entity per kind; an invalid body or an unknown kind has none', () => {
  const w = createWriter(0)
  const a = w.author
  const cases: [string, unknown, string | undefined][] = [
    ['fact.assert', assertBody('deploy.region', 'eu'), 'fact:deploy.region'],
    ['fact.retract', { fact_id: 'deploy.region', observed: [`${'9'.repeat(64)}:1`] }, 'fact:deploy.region'],
    ['task.create', { task_id: 't1', title: 'x', depends: [] }, 'task:t1'],
    ['task.claim', { task_id: 't1' }, 'task:t1'],
    ['task.release', { task_id: 't1' }, 'task:t1'],
    ['task.done', { task_id: 't1' }, 'task:t1'],
    ['counter.add', { name: 'hits', n: 2 }, 'counter:hits'],
    ['config.set', { key: 'k', value: 1, version: 0 }, 'config:k'],
    ['status.set', { text: 'ok', health: 'ok' }, `status:${a}`],
    ['agent.hello', { name: 'laptop' }, `agent:${a}`],
    ['fact.assert', { fact_id: 'f', value: 1, supersedes: [], verified: 'yes' }, undefined],
    ['fact.future', { x: 1 }, undefined],
  ]
  for (const [kind, body, want] of cases) {
    const e = write(w, kind, body as never)
    assert.equal(k.entityOf(e.op), want, kind)
  }
  // an entry without a fact_id: its generated id
  const e = write(w, 'fact.assert', { value: 'v', supersedes: [], verified: false, channel: 'warnings' })
  assert.equal(k.entityOf(e.op), `fact:${k.entryFactId(a, undefined, e.op.seq)}`)
})

/** The effective ops (rule 3: of an author's ops with one key, the lowest seq), grouped by entity. */
function byEntity(ops: readonly EncodedOp[]): Map<string, EncodedOp[]> {
  const first = new Map<string, number>()
  for (const e of ops) {
    const key = e.op.idempotencyKey
    if (key === undefined) continue
    const id = `${e.op.author}\n${key}`
    first.set(id, Math.min(first.get(id) ?? Infinity, e.op.seq))
  }
  const out = new Map<string, EncodedOp[]>()
  for (const e of ops) {
    const key = e.op.idempotencyKey
    if (key !== undefined && first.get(`${e.op.author}\n${key}`) !== e.op.seq) continue
    const entity = k.entityOf(e.op)
    if (entity === undefined) continue
    out.set(entity, [...(out.get(entity) ?? []), e])
  }
  return out
}

test('entityOf: the views of all ops are the union of the views of each entity’s effective ops', () => {
  fc.assert(
    fc.property(arbOpSet(40), (ops) => {
      const whole = k.dump(k.viewsOf(ops))
      const parts = [...byEntity(ops).values()].map((es) => k.dump(k.viewsOf(es)))
      const cat = <T>(f: (d: k.Dump) => readonly T[]): T[] => parts.flatMap(f)
      assert.deepEqual([...cat((d) => d.versions)].sort(k.compareVersions), whole.versions)
      const byId = (a: { ticket_id: string }, b: { ticket_id: string }) =>
        k.compareStrings(a.ticket_id, b.ticket_id)
      assert.deepEqual(cat((d) => d.tickets).sort(byId), whole.tickets)
      assert.deepEqual(cat((d) => d.resolved).sort(byId), [...whole.resolved].sort(byId))
      const trust = new Map<string, { agreed: number; disagreed: number }>()
      for (const t of cat((d) => d.trust)) {
        const s = trust.get(t.author) ?? { agreed: 0, disagreed: 0 }
        trust.set(t.author, { agreed: s.agreed + t.agreed, disagreed: s.disagreed + t.disagreed })
      }
      assert.deepEqual(
        [...trust.entries()]
          .map(([author, s]) => ({ author, ...s, score: s.agreed - s.disagreed }))
          .sort((a, b) => k.compareStrings(a.author, b.author)),
        whole.trust,
      )
      for (const f of ['statuses', 'agents', 'tasks', 'counters', 'configs'] as const) {
        const rows = (xs: readonly unknown[]) => xs.map((r) => JSON.stringify(r)).sort()
        assert.deepEqual(rows(cat((d) => d[f] as readonly unknown[])), rows(whole[f]), f)
      }
    }),
    { numRuns: 300 },
  )
})
