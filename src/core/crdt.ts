/**
 * The one shape every CRDT module has, so that the layers above (store, gossip, sim) handle any of them
 * without switching on the kind. Each module exports these as plain functions and also as a `crdt`
 * object of this type.
 *
 * Updates are in place: `apply` mutates `state`. If `delta` is given, the update's delta (itself a state
 * of the same type, whose merge into any replica has the same effect as the update) is merged into it:
 * pass a fresh `empty()` for a delta per op, or keep one as a delta buffer and ship it when convenient.
 */
import type { DecodeFailure } from './codec.ts'
import type { Stamp } from './replica.ts'
import type { Result } from './result.ts'

export type Crdt<S, Op> = {
  readonly name: string
  empty(): S
  /** Applies a local update stamped with a fresh dot and timestamp (in place). */
  apply(state: S, op: Op, stamp: Stamp, delta?: S): void
  /** Join (least upper bound) of two states; a new state, inputs untouched. */
  merge(a: S, b: S): S
  /** Join in place into target; returns whether target changed. Source is not modified or aliased. */
  mergeInto(target: S, source: S): boolean
  equals(a: S, b: S): boolean
  clone(s: S): S
  /** The canonical byte form: equal states have identical bytes. */
  encode(s: S): Uint8Array
  /** Untrusted bytes to a state, or a typed failure; never throws on bad input. */
  decode(bytes: Uint8Array): Result<S, DecodeFailure>
}
