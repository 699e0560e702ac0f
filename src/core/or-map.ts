/**
 * OR-Map (observed-remove map): string keys to nested causal CRDTs, as a causal dot store (causal.ts).
 * It is parameterised by the kind of its values: `kindOf(orSet.kind)` is a map of OR-Sets,
 * `kindOf(kindOf(mvRegister.kind))` a map of maps of MV-registers.
 *
 * All values share the map's one causal context, so a nested store is just a dot store and the map needs
 * no per-key bookkeeping:
 *   - `update(key, op)` applies the value kind's op to the key's store (an empty one if the key is
 *     absent); the nested delta, under that key, is the map's delta.
 *   - `remove(key)` supersedes every dot under the key: its delta is an empty store and a context of
 *     those dots.
 *   - join joins each key's stores recursively with the same two contexts, and a key whose store comes
 *     out empty is gone. So a remove concurrent with an update loses to it: the update's new dots are not
 *     in the remover's context, and the key stays with those dots only (update wins; a value the remover
 *     had observed is gone). A remove and a later update simply re-create the key.
 *
 * A key is present if and only if its store is non-empty; an empty store is never kept (nor encoded).
 *
 * Join never aliases the source: a key only the source holds is joined into a fresh empty store of the
 * value kind, which copies what it takes (immutable leaves, such as dots or MV versions, are shared).
 *
 * Cost: a join visits every key of the source, and every key of the target that the source lacks (to
 * drop the dots the source has seen), so merging a small delta into a big map is linear in the map's
 * keys, with a cheap check per key. (An index from dot to key, as or-set.ts keeps, would make it
 * proportional to the delta; the store type is a plain Map so nested stores stay simple.)
 *
 * Nesting depth: a map nested d maps deep reads its values at depth d + 1; a depth beyond codec.depthMax
 * is malformed. `kindOf` refuses to build a kind nested deeper than the decoder would accept, so every
 * state it can encode decodes.
 *
 * Store encoding, byte by byte (inside a causal state: node table, context, then this; see causal.ts):
 *   count     uvarint, the number of keys
 *   then per key, in strictly increasing UTF-16 code unit order:
 *     key     string (codec.ts)
 *     value   the value kind's store encoding
 * A store is valid if and only if:
 *   (1) its depth is at most codec.depthMax;
 *   (2) the count fits in the input (codec.readCount: a key and a store take at least 2 bytes);
 *   (3) keys are well-formed UTF-8 (codec.readString) in strictly increasing order (no duplicates);
 *   (4) every value is a valid, non-empty store of the value kind, read at depth + 1;
 *   (5) every dot is in the context, once across all keys (causal.decode), and nothing follows the
 *       state (codec.decodeWith).
 */
import { unreachable } from './assert.ts'
import * as causal from './causal.ts'
import type { Causal, DeltaParts, DotStoreKind } from './causal.ts'
import type { Reader, Writer } from './codec.ts'
import * as codec from './codec.ts'
import type { Crdt } from './crdt.ts'
import * as dotSet from './dot-set.ts'
import type { DotSet } from './dot-set.ts'
import type { NodeId } from './ids.ts'
import type { Stamp } from './replica.ts'

export type OrMapOp<ValueOp> =
  | { readonly type: 'update'; readonly key: string; readonly op: ValueOp }
  | { readonly type: 'remove'; readonly key: string }

/** key -> the key's nested store, never empty. */
export type Store<V> = Map<string, V>

export type OrMap<V> = Causal<Store<V>>

type AnyKind = DotStoreKind<unknown, unknown>

/** Map levels of the kinds built here: kindOf(leaf) has 1, kindOf(kindOf(leaf)) has 2. */
const levelsOf = new WeakMap<object, number>()
const kinds = new WeakMap<object, AnyKind>()
const crdts = new WeakMap<object, Crdt<Causal<unknown>, unknown>>()

/**
 * The OR-Map of `valueKind` as a dot store kind (one object per value kind). Throws a RangeError if the
 * nesting would be deeper than the decoder accepts (codec.depthMax + 1 map levels).
 */
export function kindOf<V, VOp>(valueKind: DotStoreKind<V, VOp>): DotStoreKind<Store<V>, OrMapOp<VOp>> {
  const known = kinds.get(valueKind)
  if (known !== undefined) return known as DotStoreKind<Store<V>, OrMapOp<VOp>>
  const levels = (levelsOf.get(valueKind) ?? 0) + 1
  // The innermost map is read at depth levels - 1; rule (1) accepts depths up to codec.depthMax.
  if (levels - 1 > codec.depthMax) throw new RangeError(`or-map: nested deeper than ${codec.depthMax}`)
  const k = build(valueKind)
  levelsOf.set(k, levels)
  kinds.set(valueKind, k as AnyKind)
  return k
}

/** The OR-Map of `valueKind` as a full CRDT (one object per value kind). */
export function crdtOf<V, VOp>(valueKind: DotStoreKind<V, VOp>): Crdt<OrMap<V>, OrMapOp<VOp>> {
  const known = crdts.get(valueKind)
  if (known !== undefined) return known as unknown as Crdt<OrMap<V>, OrMapOp<VOp>>
  const c = causal.crdtOf(kindOf(valueKind))
  crdts.set(valueKind, c as unknown as Crdt<Causal<unknown>, unknown>)
  return c
}

function build<V, VOp>(vk: DotStoreKind<V, VOp>): DotStoreKind<Store<V>, OrMapOp<VOp>> {
  function joinInto(t: Store<V>, tctx: DotSet, src: Store<V>, sctx: DotSet): boolean {
    let changed = false
    for (const [key, sv] of src) {
      const tv = t.get(key)
      if (tv === undefined) {
        // A fresh store, so nothing of the source is aliased; it takes the dots the target has not seen.
        const nv = vk.emptyStore()
        vk.joinInto(nv, tctx, sv, sctx)
        if (!vk.isEmpty(nv)) {
          t.set(key, nv)
          changed = true
        }
      } else if (vk.joinInto(tv, tctx, sv, sctx)) {
        changed = true
        if (vk.isEmpty(tv)) t.delete(key)
      }
    }
    // Keys only the target holds lose the dots the source has seen (superseded or removed there).
    if (dotSet.isEmpty(sctx)) return changed
    let none: V | undefined
    for (const [key, tv] of t) {
      if (src.has(key)) continue
      none ??= vk.emptyStore()
      if (vk.joinInto(tv, tctx, none, sctx)) {
        changed = true
        if (vk.isEmpty(tv)) t.delete(key) // deleting the current entry is safe while iterating a Map
      }
    }
    return changed
  }

  function applyOp(
    s: Store<V>,
    op: OrMapOp<VOp>,
    stamp: Stamp,
    delta: DeltaParts<Store<V>> | undefined,
  ): void {
    switch (op.type) {
      case 'update': {
        if (!codec.isWellFormed(op.key)) throw new RangeError('or-map: a key has a lone surrogate')
        const old = s.get(op.key)
        const v = old ?? vk.emptyStore()
        // The nested op writes the dots it supersedes straight into the map delta's context (empty on entry).
        const parts = delta === undefined ? undefined : { store: vk.emptyStore(), ctx: delta.ctx }
        vk.applyOp(v, op.op, stamp, parts)
        if (vk.isEmpty(v)) {
          if (old !== undefined) s.delete(op.key)
        } else if (old === undefined) s.set(op.key, v)
        if (delta !== undefined && parts !== undefined) {
          // (should a kind replace parts.ctx rather than fill it, its dots still reach the map delta)
          if (parts.ctx !== delta.ctx) dotSet.mergeInto(delta.ctx, parts.ctx)
          if (!vk.isEmpty(parts.store)) delta.store.set(op.key, parts.store)
        }
        return
      }
      case 'remove': {
        const old = s.get(op.key)
        if (old === undefined) return
        if (delta !== undefined) vk.forEachDot(old, (node, seq) => dotSet.add(delta.ctx, node, seq))
        s.delete(op.key)
        return
      }
      default:
        unreachable(op, 'or-map: unknown op')
    }
  }

  function forEachDot(s: Store<V>, fn: (node: NodeId, seq: number) => void): void {
    for (const v of s.values()) vk.forEachDot(v, fn)
  }

  function equalsStore(a: Store<V>, b: Store<V>): boolean {
    if (a.size !== b.size) return false
    for (const [key, va] of a) {
      const vb = b.get(key)
      if (vb === undefined || !vk.equalsStore(va, vb)) return false
    }
    return true
  }

  function cloneStore(s: Store<V>): Store<V> {
    const out: Store<V> = new Map()
    for (const [key, v] of s) out.set(key, vk.cloneStore(v))
    return out
  }

  function writeStore(w: Writer, s: Store<V>): void {
    const keys = [...s.keys()].sort()
    codec.writeUvarint(w, keys.length)
    for (const key of keys) {
      codec.writeString(w, key)
      vk.writeStore(w, s.get(key) as V)
    }
  }

  function readStore(r: Reader, depth: number): Store<V> {
    if (depth > codec.depthMax) codec.malformed('or-map nested deeper than depthMax') // rule (1)
    const n = codec.readCount(r, 2) // rule (2)
    const s: Store<V> = new Map()
    let prev: string | undefined
    for (let i = 0; i < n; i++) {
      const key = codec.readString(r) // rule (3)
      if (prev !== undefined && !(prev < key)) codec.malformed('map keys not strictly increasing')
      prev = key
      const v = vk.readStore(r, depth + 1) // rule (4)
      if (vk.isEmpty(v)) codec.malformed('a map key holds an empty store')
      s.set(key, v)
    }
    return s
  }

  return {
    name: `or-map<${vk.name}>`,
    emptyStore: () => new Map(),
    isEmpty: (s) => s.size === 0,
    joinInto,
    applyOp,
    forEachDot,
    equalsStore,
    cloneStore,
    writeStore,
    readStore,
  }
}

/** Applies `op` to the value under `key` (in place), creating the key if absent. */
export function update<V, VOp>(
  valueKind: DotStoreKind<V, VOp>,
  s: OrMap<V>,
  key: string,
  op: VOp,
  stamp: Stamp,
  delta?: OrMap<V>,
): void {
  causal.apply(kindOf(valueKind), s, { type: 'update', key, op }, stamp, delta)
}

/** Removes `key` as this replica has observed it (in place); a concurrent update keeps the key. */
export function remove<V, VOp>(
  valueKind: DotStoreKind<V, VOp>,
  s: OrMap<V>,
  key: string,
  stamp: Stamp,
  delta?: OrMap<V>,
): void {
  causal.apply(kindOf(valueKind), s, { type: 'remove', key }, stamp, delta)
}

/** The nested store under `key`, or undefined. Read it only: it is the map's own. */
export function get<V>(s: OrMap<V>, key: string): V | undefined {
  return s.store.get(key)
}

/**
 * The value under `key` as a causal state, for the value module's readers (`mvRegister.values(view(s, k))`),
 * or undefined. A read-only view: it shares the map's store and context.
 */
export function view<V>(s: OrMap<V>, key: string): Causal<V> | undefined {
  const store = s.store.get(key)
  return store === undefined ? undefined : { store, ctx: s.ctx }
}

export function has<V>(s: OrMap<V>, key: string): boolean {
  return s.store.has(key)
}

export function size<V>(s: OrMap<V>): number {
  return s.store.size
}

/** The keys, in no particular order. */
export function keys<V>(s: OrMap<V>): IterableIterator<string> {
  return s.store.keys()
}
