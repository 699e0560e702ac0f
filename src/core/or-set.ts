/**
 * OR-Set (observed-remove, add-wins) of strings, as a causal dot store: element -> the dots of the adds
 * that are live. A remove drops the element's dots (they stay in the context, compactly), so an add
 * concurrent with a remove keeps its own dot and wins. Re-adding an element replaces its dots with the
 * new one, so a live element almost always holds one dot.
 *
 * An index from dot to element lets a small delta (a remove names only the dots it observed) be applied
 * in time proportional to the delta, not to the set.
 *
 * Store encoding: uvarint count, then per element in increasing UTF-16 order: string, uvarint dot count
 * (>= 1), dots in increasing (node, seq) order as (node index, seq).
 */
import * as causal from './causal.ts'
import type { Causal, DeltaParts, DotStoreKind } from './causal.ts'
import type { Reader, Writer } from './codec.ts'
import * as codec from './codec.ts'
import * as dot from './dot.ts'
import { isValidSeq } from './dot.ts'
import type { Dot } from './dot.ts'
import * as dotSet from './dot-set.ts'
import type { DotSet } from './dot-set.ts'
import type { NodeId } from './ids.ts'
import type { Stamp } from './replica.ts'

/**
 * The live dots of one element: the dot itself when there is one (almost always: an add replaces the
 * element's dots), an array of two or more sorted by (node, seq) otherwise. One object per element
 * instead of two keeps memory and GC work down on the hot path.
 */
export type Live = Dot | Dot[]

export type Store = {
  /** element -> live dots */
  readonly entries: Map<string, Live>
  /**
   * node -> seq -> element, for every live dot; absent while the store is small (up to `indexFrom`
   * elements, e.g. a delta), where a scan is as fast and no index has to be built and kept.
   */
  byDot: Map<NodeId, SeqIndex> | undefined
  /**
   * The last node looked up in byDot and its index: local updates come from one node, so this saves a
   * hash lookup per op. Cleared whenever that node's index leaves byDot.
   */
  hotNode: NodeId | undefined
  hot: SeqIndex | undefined
}

export type OrSet = Causal<Store>

export type Op = { readonly type: 'add'; readonly elem: string } | { readonly type: 'remove'; readonly elem: string }

/**
 * seq -> element for one node. A node's dots mostly arrive in order, so they live in an array indexed by
 * seq - offset (a store and a load, no hashing); a seq far from that window goes to a Map. When the
 * array's front has gone dead it is dropped, so memory follows the live dots, not the history.
 */
type SeqIndex = { offset: number; slots: (string | undefined)[]; dead: number; far: Map<number, string> | undefined }

/** How far past the array's end a seq may land and still be stored in the array (holes cost 8 bytes). */
const seqGapMax = 64

function seqSet(x: SeqIndex, seq: number, elem: string): void {
  const i = seq - x.offset
  const n = x.slots.length
  if (n === 0 && x.dead === 0) {
    x.offset = seq
    x.slots.push(elem)
  } else if (i >= 0 && i < n) {
    if (x.slots[i] === undefined) x.dead--
    x.slots[i] = elem
  } else if (i >= n && i - n <= seqGapMax) {
    for (let k = n; k < i; k++) x.slots.push(undefined)
    x.dead += i - n
    x.slots.push(elem)
  } else {
    ;(x.far ??= new Map()).set(seq, elem)
  }
}

function seqGet(x: SeqIndex, seq: number): string | undefined {
  const i = seq - x.offset
  // a seq stored far away stays in `far` even after the array window grows over it
  const inSlots = i >= 0 && i < x.slots.length ? x.slots[i] : undefined
  return inSlots ?? x.far?.get(seq)
}

function seqDelete(x: SeqIndex, seq: number): void {
  const i = seq - x.offset
  if (i < 0 || i >= x.slots.length || x.slots[i] === undefined) {
    x.far?.delete(seq)
    return
  }
  x.slots[i] = undefined
  x.dead++
  if (x.dead === x.slots.length) {
    x.slots = []
    x.dead = 0
  } else if (x.dead > 1024 && x.dead * 2 > x.slots.length) compact(x)
}

/**
 * More than half the array is dead. If the dead part is mostly the front, drop it; otherwise the live
 * seqs are scattered, so move them to `far` and start a fresh window. Either way the work is paid for by
 * the deletes since the last compaction, so it is amortized O(1) per delete.
 */
function compact(x: SeqIndex): void {
  let k = 0
  while (x.slots[k] === undefined) k++
  if (k * 2 >= x.slots.length) {
    x.slots = x.slots.slice(k)
    x.offset += k
    x.dead -= k
    return
  }
  const far = (x.far ??= new Map())
  for (let i = k; i < x.slots.length; i++) {
    const elem = x.slots[i]
    if (elem !== undefined) far.set(x.offset + i, elem)
  }
  x.slots = []
  x.dead = 0
}

function seqSize(x: SeqIndex): number {
  return x.slots.length - x.dead + (x.far?.size ?? 0)
}

/** Stores with more elements than this keep the dot index. */
const indexFrom = 32

function emptyStore(): Store {
  return { entries: new Map(), byDot: undefined, hotNode: undefined, hot: undefined }
}

/** Builds the index once the store has grown past `indexFrom` (call after adding elements). */
function indexIfLarge(s: Store): void {
  if (s.byDot !== undefined || s.entries.size <= indexFrom) return
  s.byDot = new Map()
  for (const [elem, v] of s.entries) for (const d of list(v)) indexAdd(s, d, elem)
}

/** The seq index of node (through the one-entry cache), or undefined. */
function seqIndexOf(byDot: Map<NodeId, SeqIndex>, s: Store, node: NodeId): SeqIndex | undefined {
  if (s.hotNode === node) return s.hot
  const x = byDot.get(node)
  if (x !== undefined) {
    s.hotNode = node
    s.hot = x
  }
  return x
}

function indexAdd(s: Store, d: Dot, elem: string): void {
  const byDot = s.byDot
  if (byDot === undefined) return
  let x = seqIndexOf(byDot, s, d.node)
  if (x === undefined) {
    x = { offset: 0, slots: [], dead: 0, far: undefined }
    byDot.set(d.node, x)
  }
  seqSet(x, d.seq, elem)
}

function indexDelete(s: Store, d: Dot): void {
  const byDot = s.byDot
  if (byDot === undefined) return
  const x = seqIndexOf(byDot, s, d.node)
  if (x === undefined) return
  seqDelete(x, d.seq)
  if (seqSize(x) === 0) {
    byDot.delete(d.node)
    if (s.hotNode === d.node) {
      s.hotNode = undefined
      s.hot = undefined
    }
  }
}

function includesDot(dots: readonly Dot[], d: Dot): boolean {
  for (const x of dots) if (x.seq === d.seq && x.node === d.node) return true
  return false
}

/** The live dots as a list (allocates for the single-dot form: not for hot paths). */
function list(v: Live): readonly Dot[] {
  return Array.isArray(v) ? v : [v]
}

function setDots(s: Store, elem: string, dots: Dot[]): void {
  if (dots.length === 0) s.entries.delete(elem)
  else if (dots.length === 1) s.entries.set(elem, dots[0] as Dot)
  else s.entries.set(elem, dots.sort(dot.compare))
}

function joinInto(t: Store, tctx: DotSet, src: Store, sctx: DotSet): boolean {
  let changed = false
  for (const [elem, sdv] of src.entries) {
    const sd = list(sdv)
    const tdv = t.entries.get(elem)
    if (tdv === undefined) {
      let keep: Dot[] | undefined
      for (const d of sd) {
        if (dotSet.has(tctx, d.node, d.seq)) continue
        ;(keep ??= []).push(d)
        indexAdd(t, d, elem)
      }
      if (keep !== undefined) {
        setDots(t, elem, keep)
        changed = true
      }
      continue
    }
    const td = list(tdv)
    const out: Dot[] = []
    let touched = false
    for (const d of td) {
      if (includesDot(sd, d) || !dotSet.has(sctx, d.node, d.seq)) out.push(d)
      else {
        indexDelete(t, d)
        touched = true
      }
    }
    for (const d of sd) {
      if (!includesDot(td, d) && !dotSet.has(tctx, d.node, d.seq)) {
        out.push(d)
        indexAdd(t, d, elem)
        touched = true
      }
    }
    if (touched) {
      setDots(t, elem, out)
      changed = true
    }
  }
  // Elements only the target holds lose the dots the source has seen (removed there). Walk whichever is
  // smaller: the source's context (through the dot index) or the target's elements.
  const byDot = t.byDot
  if (byDot !== undefined && dotSet.size(sctx) <= t.entries.size) {
    dotSet.forEach(sctx, (node, seq) => {
      const x = byDot.get(node)
      const elem = x === undefined ? undefined : seqGet(x, seq)
      if (elem === undefined || src.entries.has(elem)) return
      const td = list(t.entries.get(elem) as Live)
      setDots(
        t,
        elem,
        td.filter((d) => d.seq !== seq || d.node !== node),
      )
      indexDelete(t, { node, seq })
      changed = true
    })
  } else {
    for (const [elem, tdv] of t.entries) {
      if (src.entries.has(elem)) continue
      const td = list(tdv)
      let out: Dot[] | undefined
      for (let i = 0; i < td.length; i++) {
        const d = td[i] as Dot
        if (dotSet.has(sctx, d.node, d.seq)) {
          out ??= td.slice(0, i)
          indexDelete(t, d)
        } else if (out !== undefined) out.push(d)
      }
      if (out !== undefined) {
        setDots(t, elem, out)
        changed = true
      }
    }
  }
  indexIfLarge(t)
  return changed
}

function applyOp(s: Store, op: Op, stamp: Stamp, delta: DeltaParts<Store> | undefined): void {
  const old = s.entries.get(op.elem)
  if (old !== undefined) {
    if (Array.isArray(old)) {
      for (const d of old) {
        indexDelete(s, d)
        if (delta !== undefined) dotSet.add(delta.ctx, d.node, d.seq)
      }
    } else {
      indexDelete(s, old)
      if (delta !== undefined) dotSet.add(delta.ctx, old.node, old.seq)
    }
  }
  if (op.type === 'add') {
    if (old === undefined && !codec.isWellFormed(op.elem)) throw new RangeError('or-set: element has a lone surrogate')
    const d: Dot = { node: stamp.node, seq: stamp.seq }
    s.entries.set(op.elem, d)
    if (s.byDot === undefined) indexIfLarge(s)
    else indexAdd(s, d, op.elem)
    if (delta !== undefined) {
      delta.store.entries.set(op.elem, d)
      indexAdd(delta.store, d, op.elem)
    }
  } else {
    s.entries.delete(op.elem)
  }
}

function forEachDot(s: Store, fn: (node: NodeId, seq: number) => void): void {
  for (const v of s.entries.values()) {
    if (Array.isArray(v)) for (const d of v) fn(d.node, d.seq)
    else fn(v.node, v.seq)
  }
}

function equalsStore(a: Store, b: Store): boolean {
  if (a.entries.size !== b.entries.size) return false
  for (const [elem, va] of a.entries) {
    const vb = b.entries.get(elem)
    if (vb === undefined) return false
    const da = list(va)
    const db = list(vb)
    if (da.length !== db.length) return false
    for (let i = 0; i < da.length; i++) if (!dot.equals(da[i] as Dot, db[i] as Dot)) return false
  }
  return true
}

function cloneStore(s: Store): Store {
  const out = emptyStore()
  for (const [elem, v] of s.entries) out.entries.set(elem, Array.isArray(v) ? v.slice() : v)
  indexIfLarge(out)
  return out
}

function writeStore(w: Writer, s: Store): void {
  const elems = [...s.entries.keys()].sort()
  codec.writeUvarint(w, elems.length)
  for (const elem of elems) {
    const dots = list(s.entries.get(elem) as Live)
    codec.writeString(w, elem)
    codec.writeUvarint(w, dots.length)
    for (const d of dots) {
      codec.writeNode(w, d.node)
      codec.writeUvarint(w, d.seq)
    }
  }
}

/** Reads dots in strictly increasing (node, seq) order; shared by the kinds that store dot lists. */
export function readDots(r: Reader): Dot[] {
  const n = codec.readCount(r, 1) // a dot takes at least 1 byte (a seq; no node index with a one-node table)
  if (n === 0) codec.malformed('a live entry has at least one dot')
  const dots: Dot[] = []
  let prev: Dot | undefined
  for (let i = 0; i < n; i++) {
    const d: Dot = { node: codec.readNode(r), seq: codec.readUvarint(r) }
    if (d.seq === 0) codec.malformed('dot seq starts at 1')
    if (prev !== undefined && dot.compare(prev, d) >= 0) codec.malformed('dots not strictly increasing')
    dots.push(d)
    prev = d
  }
  return dots
}

function readStore(r: Reader): Store {
  const n = codec.readCount(r, 3)
  const s = emptyStore()
  let prev: string | undefined
  for (let i = 0; i < n; i++) {
    const elem = codec.readString(r)
    if (prev !== undefined && !(prev < elem)) codec.malformed('set elements not strictly increasing')
    prev = elem
    const dots = readDots(r)
    s.entries.set(elem, dots.length === 1 ? (dots[0] as Dot) : dots)
  }
  indexIfLarge(s)
  return s
}

/** The OR-Set as a dot store, for nesting in an OR-Map. */
export const kind: DotStoreKind<Store, Op> = {
  name: 'or-set',
  emptyStore,
  isEmpty: (s) => s.entries.size === 0,
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

/**
 * The no-delta path of add and remove: causal.apply and applyOp fused for this one kind, with the same
 * checks and the same result (or-set.test.ts checks it against the generic path). It allocates only the
 * new dot of an add: no op object, no call through the kind (which is megamorphic in a process that uses
 * several kinds).
 */
function applyLocal(s: OrSet, elem: string, stamp: Stamp, isAdd: boolean): void {
  const node = stamp.node
  const seq = stamp.seq
  if (!isValidSeq(seq) || typeof node !== 'string' || node.length === 0) {
    throw new RangeError(`causal: invalid dot ${String(node)}:${seq}`)
  }
  const ctx = s.ctx
  const ranges = ctx.get(node)
  const next = ranges !== undefined && seq === (ranges[ranges.length - 1] as number) + 1
  if (!next && dotSet.has(ctx, node, seq)) throw new RangeError(`causal: dot ${node}:${seq} was already used`)
  const st = s.store
  const old = st.entries.get(elem)
  if (old !== undefined && st.byDot !== undefined) {
    if (Array.isArray(old)) for (const d of old) indexDelete(st, d)
    else indexDelete(st, old)
  }
  if (isAdd) {
    if (old === undefined && !elem.isWellFormed()) throw new RangeError('or-set: element has a lone surrogate')
    const d: Dot = { node, seq }
    st.entries.set(elem, d)
    if (st.byDot === undefined) indexIfLarge(st)
    else indexAdd(st, d, elem)
  } else if (old !== undefined) st.entries.delete(elem)
  if (next) (ranges as number[])[ranges.length - 1] = seq
  else dotSet.add(ctx, node, seq)
}

/** Adds elem (in place); an add wins over a concurrent remove. */
export function add(s: OrSet, elem: string, stamp: Stamp, delta?: OrSet): void {
  if (delta === undefined) applyLocal(s, elem, stamp, true)
  else causal.apply(kind, s, { type: 'add', elem }, stamp, delta)
}

/** Removes elem as this replica has observed it (in place). */
export function remove(s: OrSet, elem: string, stamp: Stamp, delta?: OrSet): void {
  if (delta === undefined) applyLocal(s, elem, stamp, false)
  else causal.apply(kind, s, { type: 'remove', elem }, stamp, delta)
}

/** The live dots of elem (empty when absent). */
export function dotsOf(s: OrSet, elem: string): readonly Dot[] {
  const v = s.store.entries.get(elem)
  return v === undefined ? [] : list(v)
}

export function has(s: OrSet, elem: string): boolean {
  return s.store.entries.has(elem)
}

export function size(s: OrSet): number {
  return s.store.entries.size
}

/** The elements, in no particular order (a live view: do not update the set while iterating). */
export function values(s: OrSet): IterableIterator<string> {
  return s.store.entries.keys()
}
