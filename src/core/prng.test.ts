import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { fcParams } from './crdt-laws.test-util.ts'
import * as prng from './prng.ts'

test('prng: the same seed gives the same stream; clone continues it; fork diverges', () => {
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      const a = prng.create(seed)
      const b = prng.create(seed)
      const xs = Array.from({ length: 8 }, () => prng.nextU32(a))
      assert.deepEqual(xs, Array.from({ length: 8 }, () => prng.nextU32(b)))
      const c = prng.clone(a)
      assert.equal(prng.nextU32(a), prng.nextU32(c))
      const f = prng.fork(a)
      assert.notDeepEqual(Array.from({ length: 4 }, () => prng.nextU32(f)), Array.from({ length: 4 }, () => prng.nextU32(a)))
    }),
    fcParams(),
  )
})

test('prng: nextInt stays in range and is close to uniform (chi-square over 60k draws)', () => {
  const p = prng.create(12345)
  const k = 12
  const counts = new Array<number>(k).fill(0)
  const n = 60_000
  for (let i = 0; i < n; i++) {
    const x = prng.nextInt(p, k)
    assert.ok(Number.isInteger(x) && x >= 0 && x < k)
    counts[x]!++
  }
  const expected = n / k
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0)
  assert.ok(chi2 < 31.3, `chi-square ${chi2} over the 0.001 critical value for 11 degrees of freedom`)
  assert.throws(() => prng.nextInt(p, 0), RangeError)
  const f = prng.nextFloat(p)
  assert.ok(f >= 0 && f < 1)
})
