/**
 * The views are a function of the op SET: random op sets from up to five authors, delivered in random
 * orders with duplicates, give identical dumps; and those dumps agree with an oracle that computes the
 * core rules (live versions, tickets, trust, counters, idempotency) directly from the set, with no
 * incremental state and no CRDT library.
 *
 * Replay a failure with FC_SEED=<seed> FC_PATH=<path> npx node --test src/knowledge/convergence.test.ts
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { fcParams } from '../core/crdt-laws.test-util.ts'
import * as core from '../core/index.ts'
import type { EncodedOp } from '../log/index.ts'
import * as k from './index.ts'
import { arbDelivery, arbOpSet, dotOfOp } from './knowledge.test-util.ts'

/** The rows the oracle derives straight from the set of ops. */
function oracle(ops: readonly EncodedOp[]) {
  const unique = new Map<string, EncodedOp>()
  for (const e of ops) unique.set(dotOfOp(e), e)
  const firstSeq = new Map<string, number>()
  for (const e of unique.values()) {
    const key = e.op.idempotencyKey
    if (key === undefined) continue
    const id = `${e.op.author}\n${key}`
    firstSeq.set(id, Math.min(firstSeq.get(id) ?? Infinity, e.op.seq))
  }
  type Eff = { e: EncodedOp; body: k.KnownBody }
  const eff: Eff[] = []
  for (const e of unique.values()) {
    const key = e.op.idempotencyKey
    if (key !== undefined && firstSeq.get(`${e.op.author}\n${key}`) !== e.op.seq) continue
    const r = k.parseOp(e.op)
    if (r.ok) eff.push({ e, body: r.value })
  }
  const factOf = (x: Eff): string => {
    const b = x.body
    if (b.kind === 'fact.assert')
      return b.body.fact_id ?? k.entryFactId(x.e.op.author, x.e.op.idempotencyKey, x.e.op.seq)
    if (b.kind === 'fact.retract') return b.body.fact_id
    return ''
  }
  const asserts = eff.filter((x) => x.body.kind === 'fact.assert')
  const named = new Set<string>() // fact \n dot, named by an op of that fact
  for (const x of eff) {
    if (x.body.kind === 'fact.assert') for (const d of x.body.body.supersedes) named.add(`${factOf(x)}\n${d}`)
    if (x.body.kind === 'fact.retract') for (const d of x.body.body.observed) named.add(`${factOf(x)}\n${d}`)
  }
  const live = asserts.filter((x) => !named.has(`${factOf(x)}\n${dotOfOp(x.e)}`))
  const versions = live.map((x) => `${factOf(x)} ${dotOfOp(x.e)}`).sort()
  const byFact = new Map<string, Eff[]>()
  for (const x of live) byFact.set(factOf(x), [...(byFact.get(factOf(x)) ?? []), x])
  const valueOf = (x: Eff) => (x.body.body as { value: core.Json }).value
  const tickets: string[] = []
  for (const [f, xs] of byFact) {
    if (xs.some((x) => !core.json.equals(valueOf(x), valueOf(xs[0] as Eff)))) {
      tickets.push(
        k.ticketId(
          f,
          xs.map((x) => dotOfOp(x.e)),
        ),
      )
    }
  }
  const trust = new Map<string, [number, number]>()
  const byDot = new Map(asserts.map((x) => [`${factOf(x)}\n${dotOfOp(x.e)}`, x]))
  for (const V of asserts) {
    const b = V.body.body as k.FactAssertBody
    if (!b.verified) continue
    for (const d of b.supersedes) {
      const u = byDot.get(`${factOf(V)}\n${d}`)
      if (u === undefined || u.e.op.author === V.e.op.author) continue
      const t = trust.get(u.e.op.author) ?? [0, 0]
      if (core.json.equals(valueOf(u), b.value)) t[0]++
      else t[1]++
      trust.set(u.e.op.author, t)
    }
  }
  const counters = new Map<string, number>()
  for (const x of eff) {
    if (x.body.kind === 'counter.add')
      counters.set(x.body.body.name, (counters.get(x.body.body.name) ?? 0) + x.body.body.n)
  }
  const keys = [...firstSeq.keys()].sort()
  return { versions, tickets: tickets.sort(), trust, counters, keys }
}

function checkAgainstOracle(d: k.Dump, v: k.Views, ops: readonly EncodedOp[]): void {
  const o = oracle(ops)
  assert.deepEqual(d.versions.map((r) => `${r.fact_id} ${r.dot}`).sort(), o.versions)
  assert.deepEqual(d.tickets.map((t) => t.ticket_id).sort(), o.tickets)
  assert.deepEqual(
    d.trust.map((t) => [t.author, t.agreed, t.disagreed]),
    [...o.trust.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([a, [g, n]]) => [a, g, n]),
  )
  assert.deepEqual(
    k.listCounters(v).map((c) => [c.name, c.value]),
    [...o.counters.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
  )
  assert.deepEqual(d.idempotency.map((r) => `${r.author}\n${r.idempotency_key}`).sort(), o.keys)
}

test('views: any delivery order, with duplicates, gives the same rows, and they agree with the oracle', () => {
  const arb = arbOpSet(40).chain((ops) => fc.tuple(fc.constant(ops), arbDelivery(ops), arbDelivery(ops)))
  fc.assert(
    fc.property(arb, ([ops, d1, d2]) => {
      const reference = k.viewsOf(ops)
      const expected = k.dump(reference)
      assert.deepEqual(k.dump(k.viewsOf(d1)), expected)
      assert.deepEqual(k.dump(k.viewsOf(d2)), expected)
      checkAgainstOracle(expected, reference, ops)
      // the queries built on the rows agree too
      const nowMs = 1_700_000_100_000
      const r1 = k.viewsOf(d1)
      assert.deepEqual(
        k.listFacts(r1, { nowMs, includeStale: true }),
        k.listFacts(reference, { nowMs, includeStale: true }),
      )
      assert.deepEqual(k.channelEntries(r1, { nowMs }), k.channelEntries(reference, { nowMs }))
      assert.deepEqual(k.readyTasks(r1), k.readyTasks(reference))
    }),
    fcParams(),
  )
})

test('views: a set split between two replicas converges when each gets the other half', () => {
  const arb = arbOpSet(40).chain((ops) =>
    fc.tuple(fc.constant(ops), fc.array(fc.boolean(), { minLength: ops.length, maxLength: ops.length })),
  )
  fc.assert(
    fc.property(arb, ([ops, side]) => {
      const left = ops.filter((_, i) => side[i])
      const right = ops.filter((_, i) => !side[i])
      const a = k.viewsOf(left)
      const b = k.viewsOf(right)
      k.applyAll(a, right)
      k.applyAll(b, left)
      assert.deepEqual(k.dump(a), k.dump(b))
      // ticket ids are the same on both replicas
      assert.deepEqual(k.openTickets(a), k.openTickets(b))
    }),
    fcParams(),
  )
})
