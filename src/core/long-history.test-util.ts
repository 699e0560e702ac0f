/**
 * Longer random histories than crdt-laws.test-util.ts's `arbHistory`, for the type-semantics properties
 * of the counters and LWW types. fast-check's default size ('small') caps `fc.array` at about 10 items
 * whatever its maxLength says, so `arbHistory` histories average about 5 steps (2 or 3 ops); a model
 * check wants overwrites, removes and syncs interleaved. Same step mix and clock skew as arbHistory, 10 to
 * 40 steps. Drop this once arbHistory takes a size.
 */
import fc from 'fast-check'
import type { History, Step } from './crdt-laws.test-util.ts'

export function arbLongHistory<Op>(
  arbOp: fc.Arbitrary<Op>,
  minSteps = 10,
  maxSteps = 40,
): fc.Arbitrary<History<Op>> {
  return fc.integer({ min: 2, max: 5 }).chain((n) => {
    const idx = fc.integer({ min: 0, max: n - 1 })
    const step: fc.Arbitrary<Step<Op>> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ t: fc.constant('op' as const), r: idx, op: arbOp }) },
      {
        weight: 3,
        arbitrary: fc.record({ t: fc.constant('delta' as const), from: idx, to: idx, pick: fc.nat() }),
      },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('full' as const), from: idx, to: idx }) },
      {
        weight: 1,
        arbitrary: fc.record({
          t: fc.constant('tick' as const),
          r: idx,
          ms: fc.integer({ min: 0, max: 2000 }),
        }),
      },
    )
    return fc.record({
      replicas: fc.constant(n),
      skewMs: fc.array(fc.integer({ min: -300_000, max: 300_000 }), { minLength: n, maxLength: n }),
      steps: fc.array(step, { minLength: minSteps, maxLength: maxSteps, size: 'max' }),
    })
  })
}
