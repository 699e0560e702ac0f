/**
 * Multi-value register of JSON values, as a causal dot store (causal.ts): the store is the set of live
 * versions, each a (dot, value) pair. This is the semantics of a Grapevine fact (design.md section 4):
 *
 *   - a version is live until an op that observed it supersedes it;
 *   - a set supersedes the versions its replica has observed and adds one new version, so concurrent
 *     sets all stay live: the register then holds several values, a conflict;
 *   - a clear (a retract) supersedes what it observed and adds nothing, so a set concurrent with a
 *     clear survives it: add wins.
 *
 * Superseded versions need no tombstones: their dots stay in the causal context, so when a replica that
 * still holds one merges with a replica that has superseded it, the join drops it (causal.ts).
 *
 * Two ways to say what an op supersedes:
 *   - `{ type: 'set', value }` / `{ type: 'clear' }`: every live version of this replica. That is every
 *     version it has observed, because an observed version that is no longer live was superseded by an
 *     op this replica has also observed.
 *   - `{ type: 'set', value, supersedes }` / `{ type: 'clear', supersedes }`: exactly the listed dots
 *     (`fact.assert{supersedes[dots]}`, `fact.retract{observed[dots]}`). A listed dot that is not live
 *     here is ignored: either it is already superseded here, or this replica never observed it, and a
 *     local op cannot supersede what its replica has not seen (`setObserving` and `clearObserving`
 *     reject that as a caller bug). To apply another author's op, whose list may name versions this
 *     replica has not received yet, merge `setDelta` / `clearDelta` instead: that delta is a function of
 *     the op alone, so merging the deltas of a set of ops gives the same state in any order.
 *
 * The delta of an op is (the new version, if any; the superseded dots and the op's own dot). Its context
 * never names a dot outside the store it came from, which causal.apply relies on (it adds only the op's
 * own dot to the state's context).
 *
 * Versions are immutable objects that states, clones and deltas share by reference; values are treated
 * as immutable too (the register keeps the reference it was given, as lww-register.ts does).
 *
 * Store encoding, byte by byte (inside a causal state: node table, context, then this; see causal.ts):
 *   count     uvarint, the number of live versions
 *   then per version, in strictly increasing (node, seq) order:
 *     node    uvarint index into the node table
 *     seq     uvarint, >= 1
 *     value   the value in json.ts's canonical form
 * A store is valid if and only if:
 *   (1) the count fits in the input (codec.readCount: a version takes at least 2 bytes: a seq and a JSON tag, the node index being empty with a one-node table);
 *   (2) every node index is inside the node table and every seq is >= 1;
 *   (3) the dots are strictly increasing (so no dot appears twice, and the order is the canonical one);
 *   (4) every value is canonical JSON (json.read: known tags, sorted keys, canonical numbers), nested at
 *       most codec.depthMax deep; JSON depth is counted on its own, from 0, so a value that is valid in a
 *       top-level register is valid in a register nested in maps too;
 *   (5) every dot is in the context, once (causal.decode), and nothing follows the state
 *       (codec.decodeWith).
 */
import { unreachable } from './assert.ts'
import * as causal from './causal.ts'
import type { Causal, DeltaParts, DotStoreKind } from './causal.ts'
import type { Reader, Writer } from './codec.ts'
import * as codec from './codec.ts'
import * as dot from './dot.ts'
import type { Dot } from './dot.ts'
import * as dotSet from './dot-set.ts'
import type { DotSet } from './dot-set.ts'
import { parseNodeId } from './ids.ts'
import type { NodeId } from './ids.ts'
import * as json from './json.ts'
import type { Json } from './json.ts'
import type { Stamp } from './replica.ts'

/** One version: the value an update wrote, named by the update's dot. Immutable, shared. */
export type Version = { readonly dot: Dot; readonly value: Json }

/** The live versions, sorted by dot (strictly increasing). */
export type Store = Version[]

export type MvRegister = Causal<Store>

export type Op =
  | { readonly type: 'set'; readonly value: Json; readonly supersedes?: readonly Dot[] }
  | { readonly type: 'clear'; readonly supersedes?: readonly Dot[] }

function emptyStore(): Store {
  return []
}

/** Inserts a version at its place in dot order (stores are tiny: a linear scan from the end). */
function insertSorted(s: Store, v: Version): void {
  let i = s.length
  while (i > 0 && dot.compare((s[i - 1] as Version).dot, v.dot) > 0) i--
  s.splice(i, 0, v)
}

function joinInto(t: Store, tctx: DotSet, src: Store, sctx: DotSet): boolean {
  // One pass over both sorted lists. A version both sides hold stays; one only the target holds stays
  // unless the source has seen its dot (then the source superseded it); one only the source holds comes
  // in unless the target has seen its dot (then the target superseded it).
  const out: Version[] = []
  let changed = false
  let i = 0
  let j = 0
  while (i < t.length || j < src.length) {
    const a = t[i]
    const b = src[j]
    const c = a === undefined ? 1 : b === undefined ? -1 : dot.compare(a.dot, b.dot)
    if (c < 0) {
      const v = a as Version
      if (dotSet.hasDot(sctx, v.dot)) changed = true
      else out.push(v)
      i++
    } else if (c > 0) {
      const v = b as Version
      if (dotSet.hasDot(tctx, v.dot)) {
        // superseded here
      } else {
        out.push(v)
        changed = true
      }
      j++
    } else {
      out.push(a as Version) // one dot names one update, so both sides hold the same value
      i++
      j++
    }
  }
  if (changed) {
    t.length = 0
    for (const v of out) t.push(v) // not push(...out): a decoded store may be too long to spread
  }
  return changed
}

function applyOp(s: Store, op: Op, stamp: Stamp, delta: DeltaParts<Store> | undefined): void {
  switch (op.type) {
    case 'set':
      if (!json.isJson(op.value)) throw new RangeError('mv-register: the value is not JSON')
      break
    case 'clear':
      break
    default:
      unreachable(op, 'mv-register: unknown op')
  }
  const only = op.supersedes === undefined ? undefined : dotSetOf(op.supersedes)
  let kept = 0
  for (const v of s) {
    if (only !== undefined && !dotSet.hasDot(only, v.dot)) s[kept++] = v
    else if (delta !== undefined) dotSet.addDot(delta.ctx, v.dot) // superseded: live here, so observed
  }
  s.length = kept
  if (op.type === 'set') {
    const v: Version = { dot: { node: stamp.node, seq: stamp.seq }, value: op.value }
    insertSorted(s, v)
    if (delta !== undefined) delta.store.push(v)
  }
}

function dotSetOf(dots: readonly Dot[]): DotSet {
  const ds = dotSet.empty()
  for (const d of dots) dotSet.addDot(ds, d)
  return ds
}

function forEachDot(s: Store, fn: (node: NodeId, seq: number) => void): void {
  for (const v of s) fn(v.dot.node, v.dot.seq)
}

function equalsStore(a: Store, b: Store): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Version
    const y = b[i] as Version
    if (x !== y && !(dot.equals(x.dot, y.dot) && json.equals(x.value, y.value))) return false
  }
  return true
}

function cloneStore(s: Store): Store {
  return s.slice()
}

function writeStore(w: Writer, s: Store): void {
  codec.writeUvarint(w, s.length)
  for (const v of s) {
    codec.writeNode(w, v.dot.node)
    codec.writeUvarint(w, v.dot.seq)
    json.write(w, v.value)
  }
}

function readStore(r: Reader, _depth: number): Store {
  const n = codec.readCount(r, 2) // rule (1)
  const s: Store = []
  let prev: Dot | undefined
  for (let i = 0; i < n; i++) {
    const d: Dot = { node: codec.readNode(r), seq: codec.readUvarint(r) } // rule (2)
    if (d.seq === 0) codec.malformed('dot seq starts at 1')
    if (prev !== undefined && dot.compare(prev, d) >= 0)
      codec.malformed('versions not strictly increasing by dot') // rule (3)
    s.push({ dot: d, value: json.read(r) }) // rule (4)
    prev = d
  }
  return s
}

/** The MV-register as a dot store, for nesting in an OR-Map. */
export const kind: DotStoreKind<Store, Op> = {
  name: 'mv-register',
  emptyStore,
  isEmpty: (s) => s.length === 0,
  joinInto,
  applyOp,
  forEachDot,
  equalsStore,
  cloneStore,
  writeStore,
  readStore,
}

export const crdt = causal.crdtOf(kind)
export const { empty, apply, merge, mergeInto, equals, clone, encode, decode } = crdt

/** Sets the value (in place), superseding every version this replica has observed. */
export function set(s: MvRegister, value: Json, stamp: Stamp, delta?: MvRegister): void {
  causal.apply(kind, s, { type: 'set', value }, stamp, delta)
}

/**
 * Sets the value (in place), superseding exactly the `observed` versions that are still live; the others
 * stay live. Every observed dot must be in this replica's context: naming a version it has not seen is
 * a caller bug (RangeError), since it would not be superseded when it arrives (see `setDelta`).
 */
export function setObserving(
  s: MvRegister,
  value: Json,
  stamp: Stamp,
  observed: readonly Dot[],
  delta?: MvRegister,
): void {
  checkObserved(s, observed)
  causal.apply(kind, s, { type: 'set', value, supersedes: observed }, stamp, delta)
}

/** Clears the register (in place): supersedes every version this replica has observed, adds none. */
export function clear(s: MvRegister, stamp: Stamp, delta?: MvRegister): void {
  causal.apply(kind, s, { type: 'clear' }, stamp, delta)
}

/** Supersedes exactly the `observed` versions (in place), adding none; the same rule as `setObserving`. */
export function clearObserving(
  s: MvRegister,
  stamp: Stamp,
  observed: readonly Dot[],
  delta?: MvRegister,
): void {
  checkObserved(s, observed)
  causal.apply(kind, s, { type: 'clear', supersedes: observed }, stamp, delta)
}

function checkObserved(s: MvRegister, observed: readonly Dot[]): void {
  for (const d of observed) {
    if (!dotSet.hasDot(s.ctx, d))
      throw new RangeError(`mv-register: dot ${d.node}:${d.seq} was not observed here`)
  }
}

/**
 * The delta of a set that supersedes exactly `supersedes`, as a function of the op alone: the new version,
 * and a context of the superseded dots and the op's own dot. Merging it is how a replica applies another
 * author's `fact.assert`: a listed version it already holds goes, and one that arrives later is dropped
 * on arrival, so the deltas of any set of ops merge to the same state in any order. Invalid dots or a
 * value that is not JSON are a caller bug (RangeError): validate ops at the edge.
 */
export function setDelta(value: Json, stamp: Stamp, supersedes: readonly Dot[]): MvRegister {
  if (!json.isJson(value)) throw new RangeError('mv-register: the value is not JSON')
  const d = opDelta(stamp, supersedes)
  d.store.push({ dot: { node: stamp.node, seq: stamp.seq }, value })
  return d
}

/** The delta of a clear (`fact.retract`) that supersedes exactly `supersedes`; see `setDelta`. */
export function clearDelta(stamp: Stamp, supersedes: readonly Dot[]): MvRegister {
  return opDelta(stamp, supersedes)
}

function opDelta(stamp: Stamp, supersedes: readonly Dot[]): MvRegister {
  const ctx = dotSet.empty()
  for (const d of [stamp, ...supersedes]) {
    if (!parseNodeId(d.node).ok || !dot.isValidSeq(d.seq)) {
      throw new RangeError(`mv-register: invalid dot ${JSON.stringify({ node: d.node, seq: d.seq })}`)
    }
    dotSet.add(ctx, d.node, d.seq)
  }
  return { store: [], ctx }
}

/** The live values, in dot order; equal values written by concurrent sets each appear once per version. */
export function values(s: MvRegister): Json[] {
  return s.store.map((v) => v.value)
}

/** The live versions, in dot order. */
export function versions(s: MvRegister): readonly Version[] {
  return s.store
}

/** The dots of the live versions, in order: what a set that resolves the register should supersede. */
export function dots(s: MvRegister): Dot[] {
  return s.store.map((v) => v.dot)
}

/**
 * Is the register in conflict: do live versions hold different values? Concurrent sets of one value
 * agree, so they are not a conflict (design.md: "concurrent different values -> a verify ticket").
 */
export function isConflict(s: MvRegister): boolean {
  const first = s.store[0]
  if (first === undefined) return false
  for (let i = 1; i < s.store.length; i++)
    if (!json.equals(first.value, (s.store[i] as Version).value)) return true
  return false
}
