import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { fcParams, nodeNames, runDecoderFuzz } from './crdt-laws.test-util.ts'
import * as dotSet from './dot-set.ts'
import type { NodeId } from './ids.ts'

const arbDots = fc.array(fc.tuple(fc.constantFrom(...nodeNames.slice(0, 3)), fc.integer({ min: 1, max: 40 })), { maxLength: 80 })

function build(dots: [NodeId, number][]): { ds: dotSet.DotSet; model: Set<string> } {
  const ds = dotSet.empty()
  const model = new Set<string>()
  for (const [n, s] of dots) {
    assert.equal(dotSet.add(ds, n, s), !model.has(`${n}:${s}`))
    model.add(`${n}:${s}`)
  }
  return { ds, model }
}

function assertCanonical(ds: dotSet.DotSet): void {
  for (const r of ds.values()) {
    assert.ok(r.length >= 2 && r.length % 2 === 0)
    for (let i = 0; i < r.length; i += 2) {
      assert.ok(r[i]! <= r[i + 1]!, 'range start after end')
      if (i > 0) assert.ok(r[i]! > r[i - 1]! + 1, 'ranges overlap or touch')
    }
  }
}

test('dot set: add, has, size and ranges agree with a plain set of dots', () => {
  fc.assert(
    fc.property(arbDots, (dots) => {
      const { ds, model } = build(dots)
      assertCanonical(ds)
      assert.equal(dotSet.size(ds), model.size)
      for (const n of nodeNames.slice(0, 3)) for (let s = 0; s <= 42; s++) assert.equal(dotSet.has(ds, n, s), model.has(`${n}:${s}`))
      const seen = new Set<string>()
      dotSet.forEach(ds, (n, s) => seen.add(`${n}:${s}`))
      assert.deepEqual([...seen].sort(), [...model].sort())
    }),
    fcParams(),
  )
})

test('dot set: mergeInto is set union, reports change, and leaves ranges canonical', () => {
  fc.assert(
    fc.property(arbDots, arbDots, (x, y) => {
      const a = build(x)
      const b = build(y)
      const target = dotSet.clone(a.ds)
      const changed = dotSet.mergeInto(target, b.ds)
      assertCanonical(target)
      const union = build([...x, ...y])
      assert.ok(dotSet.equals(target, union.ds))
      assert.equal(changed, union.model.size !== a.model.size)
      assert.ok(dotSet.equals(dotSet.merge(a.ds, b.ds), dotSet.merge(b.ds, a.ds)))
    }),
    fcParams(),
  )
})

test('dot set: version vector round trip covers exactly the contiguous prefixes', () => {
  fc.assert(
    fc.property(arbDots, (dots) => {
      const { ds, model } = build(dots)
      const v = dotSet.toVersionVector(ds)
      for (const n of nodeNames.slice(0, 3)) {
        let k = 0
        while (model.has(`${n}:${k + 1}`)) k++
        assert.equal(v.get(n) ?? 0, k)
      }
      const back = dotSet.fromVersionVector(v)
      for (const [n, k] of v) assert.equal(dotSet.size(new Map([[n, back.get(n)!]])), k)
    }),
    fcParams(),
  )
})

test('dot set: a million in-order dots (with a few out of order) stay a handful of ranges', () => {
  const ds = dotSet.empty()
  const n = nodeNames[0]!
  for (let s = 1; s <= 1_000_000; s++) if (s % 250_000 !== 0) dotSet.add(ds, n, s)
  assert.equal(dotSet.rangeCount(ds), 4) // three holes
  for (let s = 250_000; s < 1_000_000; s += 250_000) dotSet.add(ds, n, s)
  assert.equal(dotSet.rangeCount(ds), 1)
  assert.equal(dotSet.encode(ds).length, 9) // table 3, count 1, (node: none with one node), ranges 1, start 1, length 3
})

test('dot set: decode(encode(d)) ≡ d', () => {
  fc.assert(
    fc.property(arbDots, (dots) => {
      const { ds } = build(dots)
      const r = dotSet.decode(dotSet.encode(ds))
      assert.ok(r.ok && dotSet.equals(r.value, ds))
    }),
    fcParams(),
  )
})

runDecoderFuzz('dot set', dotSet.decode, dotSet.encode, arbDots.map((d) => dotSet.encode(build(d).ds)))
