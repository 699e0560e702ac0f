import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { arbEncoded, arbHistory, fcParams, nodeNames, play, runCrdtLaws, runDecoderFuzz } from './crdt-laws.test-util.ts'
import { createManualClock } from './clock.ts'
import type { Crdt } from './crdt.ts'
import * as pnCounter from './pn-counter.ts'
import type { PnCounter } from './pn-counter.ts'
import * as replica from './replica.ts'
import type { Stamp } from './replica.ts'

const arbOp: fc.Arbitrary<pnCounter.Op> = fc.record({
  type: fc.constant('add' as const),
  n: fc.integer({ min: -1000, max: 1000 }).filter((n) => n !== 0),
})

runCrdtLaws({ crdt: pnCounter.crdt, arbOp })
runDecoderFuzz('pn-counter', pnCounter.decode, pnCounter.encode, arbEncoded(pnCounter.crdt, arbOp))

function recording(log: { op: pnCounter.Op; stamp: Stamp }[]): Crdt<PnCounter, pnCounter.Op> {
  return {
    ...pnCounter.crdt,
    apply: (s, op, stamp, d) => (log.push({ op, stamp }), pnCounter.apply(s, op, stamp, d)),
  }
}

test('pn-counter: once replicas have synced, the value is the sum of every add applied anywhere', () => {
  fc.assert(
    fc.property(arbHistory(arbOp, 40, 10), (h) => {
      const log: { op: pnCounter.Op; stamp: Stamp }[] = []
      const run = play(recording(log), h)
      const synced = pnCounter.empty()
      for (const s of run.states) pnCounter.mergeInto(synced, s)
      for (const s of run.states) pnCounter.mergeInto(s, synced)
      const model = log.reduce((sum, x) => sum + x.op.n, 0)
      for (const s of run.states) assert.equal(pnCounter.value(s), model)
      for (const node of nodeNames) {
        const own = log.filter((x) => x.stamp.node === node).reduce((sum, x) => sum + x.op.n, 0)
        assert.equal(pnCounter.get(synced, node), own)
      }
    }),
    fcParams(),
  )
})

function stamps(): () => Stamp {
  const r = replica.create(nodeNames[0]!, createManualClock(1000))
  return () => replica.next(r)
}

test('pn-counter: a decrement is not undone by merging an older state that had only the increment', () => {
  const next = stamps()
  const s = pnCounter.empty()
  pnCounter.add(s, 5, next())
  const old = pnCounter.clone(s)
  const d = pnCounter.empty()
  pnCounter.add(s, -3, next(), d)
  assert.deepEqual([...d.p], [])
  assert.deepEqual([...d.n], [[nodeNames[0], 3]])
  pnCounter.mergeInto(s, old)
  assert.equal(pnCounter.value(s), 2)
  assert.equal(pnCounter.value(pnCounter.merge(old, d)), 2)
})

test('pn-counter: add rejects zero, fractional and unsafe amounts', () => {
  const next = stamps()
  const s = pnCounter.empty()
  for (const n of [0, -0, 0.5, -1.5, Number.NaN, -Infinity, 2 ** 53, -(2 ** 53)]) {
    assert.throws(() => pnCounter.add(s, n, next()), RangeError, `n = ${n}`)
  }
  assert.ok(pnCounter.equals(s, pnCounter.empty()))
  pnCounter.add(s, -Number.MAX_SAFE_INTEGER, next())
  assert.equal(pnCounter.value(s), -Number.MAX_SAFE_INTEGER)
})

test('pn-counter: the encoding is the node table then (p, n) per node, byte for byte', () => {
  assert.deepEqual([...pnCounter.encode(pnCounter.empty())], [0])
  const s = pnCounter.empty()
  pnCounter.add(s, -2, { node: nodeNames[1]!, seq: 1, wallMs: 0, logical: 0 })
  pnCounter.add(s, 7, { node: nodeNames[0]!, seq: 1, wallMs: 0, logical: 0 })
  pnCounter.add(s, 1, { node: nodeNames[1]!, seq: 2, wallMs: 0, logical: 0 })
  // table: 'a', 'b'; a: p=7 n=0; b: p=1 n=2
  assert.deepEqual([...pnCounter.encode(s)], [2, 1, 97, 1, 98, 7, 0, 1, 2])
})

test('pn-counter: decode rejects a node with no totals, trailing bytes, unsorted tables and long varints', () => {
  const reject = (bytes: number[], why: RegExp): void => {
    const r = pnCounter.decode(Uint8Array.from(bytes))
    assert.ok(!r.ok, `accepted ${bytes}`)
    assert.match(r.detail, why)
  }
  assert.ok(pnCounter.decode(Uint8Array.from([1, 1, 97, 0, 4])).ok)
  reject([1, 1, 97, 0, 0], /non-zero/)
  reject([1, 1, 97, 0, 4, 0], /trailing/)
  reject([2, 1, 98, 1, 97, 1, 0, 1, 0], /sorted/)
  reject([1, 1, 97, 0x81, 0x00, 0], /non-minimal/)
  reject([1, 1, 97, 3], /end of input/)
})
