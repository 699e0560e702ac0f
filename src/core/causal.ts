/**
 * Causal CRDTs (Almeida, Shoker, Baquero, "Delta State Replicated Data Types", 2018): a state is a dot
 * store plus a causal context (the dots this replica has seen). Every dot in the store is in the
 * context. Join keeps a dot if both sides have it, or if one side has it and the other has not seen it:
 * a dot the other side saw but no longer holds was removed there. So removal needs no tombstones: a
 * removed element's dots simply stay in the context, which dot-set.ts keeps as compact ranges.
 *
 * OR-Set, MV-Register and OR-Map are dot stores of different shapes (`DotStoreKind`); this module turns
 * any kind into a full CRDT with the uniform shape of crdt.ts. OR-Map nests kinds, sharing one context.
 *
 * Encoding of a causal state: node table (the context's nodes), context (dot-set.ts), store (the kind's
 * own form). A decoder checks that every dot in the store is in the context and appears once.
 */
import type { Reader, Writer } from './codec.ts'
import * as codec from './codec.ts'
import type { Crdt } from './crdt.ts'
import { isValidSeq } from './dot.ts'
import * as dotSet from './dot-set.ts'
import type { DotSet } from './dot-set.ts'
import type { NodeId } from './ids.ts'
import type { Stamp } from './replica.ts'
import type { Result } from './result.ts'

/** A delta under construction: a store and the dots it observed. */
export type DeltaParts<S> = { store: S; ctx: DotSet }

export type DotStoreKind<S, Op> = {
  readonly name: string
  emptyStore(): S
  isEmpty(s: S): boolean
  /**
   * target := join(target under targetCtx, source under sourceCtx), in place; both contexts are the
   * ones from before this join (the caller merges contexts afterwards). Returns whether target changed.
   */
  joinInto(target: S, targetCtx: DotSet, source: S, sourceCtx: DotSet): boolean
  /**
   * Applies a local update with the fresh dot `stamp` to the store, in place. If `delta` is given, writes
   * the update's delta store into delta.store (empty on entry) and the dots it supersedes into delta.ctx
   * (the caller adds the stamp's own dot to both contexts). Contract: delta.ctx names only dots that were
   * in the store before the update, because the caller adds nothing but the stamp's dot to the state's
   * context; so the updated state always equals the old state joined with the delta.
   */
  applyOp(s: S, op: Op, stamp: Stamp, delta: DeltaParts<S> | undefined): void
  /** Calls fn for every dot in the store. */
  forEachDot(s: S, fn: (node: NodeId, seq: number) => void): void
  equalsStore(a: S, b: S): boolean
  cloneStore(s: S): S
  /** Writes the store (the node table is already written). */
  writeStore(w: Writer, s: S): void
  /** Reads a store (the node table is already read); `depth` bounds nesting. */
  readStore(r: Reader, depth: number): S
}

export type Causal<S> = { store: S; ctx: DotSet }

export function emptyOf<S>(kind: DotStoreKind<S, unknown>): Causal<S> {
  return { store: kind.emptyStore(), ctx: dotSet.empty() }
}

/** Applies a local update (in place), adding the stamp's dot to the context; see crdt.ts for `delta`. */
export function apply<S, Op>(kind: DotStoreKind<S, Op>, state: Causal<S>, op: Op, stamp: Stamp, delta?: Causal<S>): void {
  if (!isValidSeq(stamp.seq) || typeof stamp.node !== 'string' || stamp.node.length === 0) {
    throw new RangeError(`causal: invalid dot ${String(stamp.node)}:${stamp.seq}`)
  }
  // The usual stamp is the next seq of a node already in the context: one lookup serves the duplicate
  // check and the insertion.
  const ranges = state.ctx.get(stamp.node)
  const next = ranges !== undefined && stamp.seq === (ranges[ranges.length - 1] as number) + 1
  if (!next && dotSet.has(state.ctx, stamp.node, stamp.seq)) {
    throw new RangeError(`causal: dot ${stamp.node}:${stamp.seq} was already used`)
  }
  if (delta === undefined) {
    kind.applyOp(state.store, op, stamp, undefined)
  } else if (dotSet.isEmpty(delta.ctx) && kind.isEmpty(delta.store)) {
    // a fresh delta (the delta-per-op case): write straight into it
    kind.applyOp(state.store, op, stamp, delta)
    dotSet.add(delta.ctx, stamp.node, stamp.seq)
  } else {
    const parts: DeltaParts<S> = { store: kind.emptyStore(), ctx: dotSet.empty() }
    kind.applyOp(state.store, op, stamp, parts)
    dotSet.add(parts.ctx, stamp.node, stamp.seq)
    // join the update's delta into the accumulated one (a delta buffer)
    kind.joinInto(delta.store, delta.ctx, parts.store, parts.ctx)
    dotSet.mergeInto(delta.ctx, parts.ctx)
  }
  if (next) (ranges as number[])[ranges.length - 1] = stamp.seq
  else dotSet.add(state.ctx, stamp.node, stamp.seq)
}

export function mergeInto<S>(kind: DotStoreKind<S, never>, target: Causal<S>, source: Causal<S>): boolean {
  const storeChanged = kind.joinInto(target.store, target.ctx, source.store, source.ctx)
  const ctxChanged = dotSet.mergeInto(target.ctx, source.ctx)
  return storeChanged || ctxChanged
}

export function clone<S>(kind: DotStoreKind<S, never>, s: Causal<S>): Causal<S> {
  return { store: kind.cloneStore(s.store), ctx: dotSet.clone(s.ctx) }
}

export function equals<S>(kind: DotStoreKind<S, never>, a: Causal<S>, b: Causal<S>): boolean {
  return dotSet.equals(a.ctx, b.ctx) && kind.equalsStore(a.store, b.store)
}

export function encode<S>(kind: DotStoreKind<S, never>, s: Causal<S>): Uint8Array {
  return codec.encodeWith((w) => {
    codec.writeNodeTable(w, dotSet.nodes(s.ctx))
    dotSet.write(w, s.ctx)
    kind.writeStore(w, s.store)
  })
}

export function decode<S>(kind: DotStoreKind<S, never>, bytes: Uint8Array): Result<Causal<S>, codec.DecodeFailure> {
  return codec.decodeWith(bytes, (r) => {
    codec.readNodeTable(r)
    const ctx = dotSet.read(r)
    const store = kind.readStore(r, 0)
    const seen = dotSet.empty()
    kind.forEachDot(store, (node, seq) => {
      if (!dotSet.has(ctx, node, seq)) codec.malformed(`dot ${node}:${seq} is in the store but not the context`)
      if (!dotSet.add(seen, node, seq)) codec.malformed(`dot ${node}:${seq} appears twice in the store`)
    })
    return { store, ctx }
  })
}

/** The uniform CRDT object for a dot store kind. */
export function crdtOf<S, Op>(kind: DotStoreKind<S, Op>): Crdt<Causal<S>, Op> {
  const k = kind as DotStoreKind<S, never>
  return {
    name: kind.name,
    empty: () => emptyOf(kind),
    apply: (state, op, stamp, delta) => apply(kind, state, op, stamp, delta),
    merge: (a, b) => {
      const out = clone(k, a)
      mergeInto(k, out, b)
      return out
    },
    mergeInto: (target, source) => mergeInto(k, target, source),
    equals: (a, b) => equals(k, a, b),
    clone: (s) => clone(k, s),
    encode: (s) => encode(k, s),
    decode: (bytes) => decode(k, bytes),
  }
}
