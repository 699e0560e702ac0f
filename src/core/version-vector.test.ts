import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { fcParams, nodeNames, runDecoderFuzz } from './crdt-laws.test-util.ts'
import type { NodeId } from './ids.ts'
import * as vv from './version-vector.ts'

const arbVv = fc
  .array(fc.tuple(fc.constantFrom(...nodeNames), fc.integer({ min: 0, max: 6 })), { maxLength: 6 })
  .map((entries) => {
    const v = vv.empty()
    for (const [n, s] of entries) vv.raise(v, n, s)
    return v
  })

/** Reference model: a vector is the set of dots it covers. */
function covers(a: vv.VersionVector, b: vv.VersionVector): boolean {
  for (const [n, s] of b) if (vv.get(a, n) < s) return false
  return true
}

test('version vector: compare agrees with dot-set inclusion and is antisymmetric', () => {
  fc.assert(
    fc.property(arbVv, arbVv, (a, b) => {
      const expected = covers(a, b) ? (covers(b, a) ? 'equal' : 'after') : covers(b, a) ? 'before' : 'concurrent'
      assert.equal(vv.compare(a, b), expected)
      const flip = { before: 'after', after: 'before', equal: 'equal', concurrent: 'concurrent' } as const
      assert.equal(vv.compare(b, a), flip[expected])
    }),
    fcParams(),
  )
})

test('version vector: merge is the least upper bound (commutative, associative, idempotent)', () => {
  fc.assert(
    fc.property(arbVv, arbVv, arbVv, (a, b, c) => {
      const ab = vv.merge(a, b)
      assert.ok(vv.equals(ab, vv.merge(b, a)))
      assert.ok(vv.equals(vv.merge(ab, c), vv.merge(a, vv.merge(b, c))))
      assert.ok(vv.equals(vv.merge(a, a), a))
      assert.ok(covers(ab, a) && covers(ab, b))
      // least: any upper bound of a and b covers a⊔b
      const ub = vv.merge(ab, c)
      assert.ok(covers(ub, ab))
      const target = vv.clone(a)
      assert.equal(vv.mergeInto(target, b), !vv.equals(a, ab))
      for (const n of nodeNames) for (let s = 1; s <= 7; s++) assert.equal(vv.containsDot(ab, { node: n, seq: s }), vv.containsDot(a, { node: n, seq: s }) || vv.containsDot(b, { node: n, seq: s }))
    }),
    fcParams(),
  )
})

test('version vector: decode(encode(v)) ≡ v; zero entries are rejected', () => {
  fc.assert(
    fc.property(arbVv, (a) => {
      const r = vv.decode(vv.encode(a))
      assert.ok(r.ok && vv.equals(r.value, a))
    }),
    fcParams(),
  )
  const zero = vv.decode(Uint8Array.from([1, 1, 97, 0]))
  assert.ok(!zero.ok && /zero/.test(zero.detail))
  const v = new Map([['a' as NodeId, 3]])
  assert.deepEqual([...vv.encode(v)], [1, 1, 97, 3])
})

runDecoderFuzz('version vector', vv.decode, vv.encode, arbVv.map(vv.encode))
