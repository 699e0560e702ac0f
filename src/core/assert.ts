/** An invariant that only a bug can break: throws, and the process should stop. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailed(message)
}

/** The error a broken invariant throws; never used for bad input, which is a value (see result.ts). */
export class AssertionFailed extends Error {
  override name = 'AssertionFailed'
}

/** Marks a switch as exhaustive: the compiler proves `value` is `never`, the runtime says which case slipped. */
export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionFailed(`${message}: ${JSON.stringify(value)}`)
}
