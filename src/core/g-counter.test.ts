import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { arbEncoded, arbHistory, fcParams, nodeNames, play, runCrdtLaws, runDecoderFuzz } from './crdt-laws.test-util.ts'
import { createManualClock } from './clock.ts'
import type { Crdt } from './crdt.ts'
import * as gCounter from './g-counter.ts'
import type { GCounter } from './g-counter.ts'
import * as replica from './replica.ts'
import type { Stamp } from './replica.ts'

const arbOp: fc.Arbitrary<gCounter.Op> = fc.record({
  type: fc.constant('inc' as const),
  n: fc.oneof(
    { weight: 9, arbitrary: fc.integer({ min: 1, max: 1000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 ** 40 }) },
  ),
})

runCrdtLaws({ crdt: gCounter.crdt, arbOp })
runDecoderFuzz('g-counter', gCounter.decode, gCounter.encode, arbEncoded(gCounter.crdt, arbOp))

/** The crdt, with every applied op and its stamp recorded: the model's input. */
function recording(log: { op: gCounter.Op; stamp: Stamp }[]): Crdt<GCounter, gCounter.Op> {
  return {
    ...gCounter.crdt,
    apply: (s, op, stamp, d) => (log.push({ op, stamp }), gCounter.apply(s, op, stamp, d)),
  }
}

test('g-counter: once replicas have synced, the value is the sum of every inc applied anywhere', () => {
  fc.assert(
    fc.property(arbHistory(arbOp, 40, 10), (h) => {
      const log: { op: gCounter.Op; stamp: Stamp }[] = []
      const run = play(recording(log), h)
      const synced = gCounter.empty()
      for (const s of run.states) gCounter.mergeInto(synced, s)
      for (const s of run.states) gCounter.mergeInto(s, synced)
      const model = log.reduce((sum, x) => sum + x.op.n, 0)
      for (const s of run.states) assert.equal(gCounter.value(s), model)
      // and each replica's own entry is the sum of its own incs
      for (const node of nodeNames) {
        const own = log.filter((x) => x.stamp.node === node).reduce((sum, x) => sum + x.op.n, 0)
        assert.equal(gCounter.get(synced, node), own)
      }
    }),
    fcParams(),
  )
})

function stamps(): () => Stamp {
  const r = replica.create(nodeNames[0]!, createManualClock(1000))
  return () => replica.next(r)
}

test('g-counter: the delta of an inc is {node: new total}', () => {
  const next = stamps()
  const s = gCounter.empty()
  gCounter.inc(s, 5, next())
  const d = gCounter.empty()
  gCounter.inc(s, 2, next(), d)
  assert.deepEqual([...d], [[nodeNames[0], 7]])
  assert.equal(gCounter.value(s), 7)
})

test('g-counter: inc rejects zero, negative, fractional, unsafe and overflowing amounts', () => {
  const next = stamps()
  const s = gCounter.empty()
  for (const n of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
    assert.throws(() => gCounter.inc(s, n, next()), RangeError, `n = ${n}`)
  }
  assert.equal(s.size, 0, 'a rejected inc left no trace')
  gCounter.inc(s, Number.MAX_SAFE_INTEGER, next())
  assert.throws(() => gCounter.inc(s, 1, next()), RangeError)
  assert.equal(gCounter.value(s), Number.MAX_SAFE_INTEGER)
})

test('g-counter: the empty counter is one byte and reads back', () => {
  const bytes = gCounter.encode(gCounter.empty())
  assert.deepEqual([...bytes], [0])
  const back = gCounter.decode(bytes)
  assert.ok(back.ok && back.value.size === 0 && gCounter.value(back.value) === 0)
})

test('g-counter: the encoding is the node table then the totals, byte for byte', () => {
  const s = gCounter.empty()
  gCounter.inc(s, 300, { node: nodeNames[1]!, seq: 1, wallMs: 0, logical: 0 })
  gCounter.inc(s, 1, { node: nodeNames[0]!, seq: 1, wallMs: 0, logical: 0 })
  // table: 2 nodes, 'a', 'b'; totals in table order: a=1, b=300 (0xac 0x02)
  assert.deepEqual([...gCounter.encode(s)], [2, 1, 97, 1, 98, 1, 0xac, 0x02])
})

test('g-counter: decode rejects zero totals, trailing bytes, unsorted tables, long varints and truncation', () => {
  const reject = (bytes: number[], why: RegExp): void => {
    const r = gCounter.decode(Uint8Array.from(bytes))
    assert.ok(!r.ok, `accepted ${bytes}`)
    assert.match(r.detail, why)
  }
  assert.ok(gCounter.decode(Uint8Array.from([1, 1, 97, 5])).ok)
  reject([1, 1, 97, 0], /zero/)
  reject([1, 1, 97, 5, 0], /trailing/)
  reject([2, 1, 98, 1, 97, 1, 1], /sorted/)
  reject([2, 1, 97, 1, 97, 1, 1], /sorted/)
  reject([1, 1, 97, 0x85, 0x00], /non-minimal/)
  reject([1, 1, 97], /end of input/)
  reject([0x80, 0x00], /non-minimal/)
  reject([5, 1, 97, 1], /exceeds/)
})
