/**
 * A compact set of dots: the causal context of a causal CRDT ("which events have I seen?").
 *
 * Per node, a sorted list of disjoint, non-adjacent inclusive ranges, flattened as
 * [start0, end0, start1, end1, ...]. A replica that has seen everything of a node up to n holds one range
 * [1, n] however large n grows; gaps (events delivered out of order, or events of a shared log that
 * belong to other objects) cost one range each until they are filled. Adding the next seq of a node is
 * O(1) (extend the last range); any other add or lookup is a binary search.
 *
 * Encoding (inside a state that has written its node table): uvarint count of nodes with ranges, then
 * per node, in table order: node index, uvarint range count k >= 1, start0 - 1, end0 - start0, and for
 * each next range: (start - previous end - 2), (end - start). Non-adjacent ranges make every gap >= 2,
 * so the form is canonical.
 */
import type { Reader, Writer } from './codec.ts'
import * as codec from './codec.ts'
import type { Dot } from './dot.ts'
import type { NodeId } from './ids.ts'
import type { Result } from './result.ts'
import type { VersionVector } from './version-vector.ts'

export type DotSet = Map<NodeId, number[]>

export function empty(): DotSet {
  return new Map()
}

/** Index of the range containing seq, or -(insertion point) - 1. `r` is the flattened range list. */
function search(r: number[], seq: number): number {
  let lo = 0
  let hi = (r.length >> 1) - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const s = r[mid * 2] as number
    const e = r[mid * 2 + 1] as number
    if (seq < s) hi = mid - 1
    else if (seq > e) lo = mid + 1
    else return mid
  }
  return -lo - 1
}

export function has(ds: DotSet, node: NodeId, seq: number): boolean {
  const r = ds.get(node)
  if (r === undefined) return false
  const n = r.length
  // common case: the dot is inside the first range [1, n]
  if (seq >= (r[0] as number) && seq <= (r[1] as number)) return true
  if (n === 2) return false
  return search(r, seq) >= 0
}

export function hasDot(ds: DotSet, dot: Dot): boolean {
  return has(ds, dot.node, dot.seq)
}

/** Adds one dot in place. Returns false when it was already there. */
export function add(ds: DotSet, node: NodeId, seq: number): boolean {
  const r = ds.get(node)
  if (r === undefined) {
    ds.set(node, [seq, seq])
    return true
  }
  const n = r.length
  const lastEnd = r[n - 1] as number
  if (seq === lastEnd + 1) {
    // O(1) fast path: the next event of this node
    r[n - 1] = seq
    return true
  }
  if (seq > lastEnd + 1) {
    r.push(seq, seq)
    return true
  }
  const i = search(r, seq)
  if (i >= 0) return false
  const at = -i - 1 // range index to insert before
  const joinPrev = at > 0 && (r[at * 2 - 1] as number) === seq - 1
  const joinNext = at * 2 < n && (r[at * 2] as number) === seq + 1
  if (joinPrev && joinNext) {
    r.splice(at * 2 - 1, 2) // drop prev end and next start: the two ranges become one
  } else if (joinPrev) {
    r[at * 2 - 1] = seq
  } else if (joinNext) {
    r[at * 2] = seq
  } else {
    r.splice(at * 2, 0, seq, seq)
  }
  return true
}

export function addDot(ds: DotSet, dot: Dot): boolean {
  return add(ds, dot.node, dot.seq)
}

/** Union of two flattened range lists. */
function unionRanges(a: number[], b: number[]): number[] {
  const out: number[] = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    let s: number
    let e: number
    if (j >= b.length || (i < a.length && (a[i] as number) <= (b[j] as number))) {
      s = a[i] as number
      e = a[i + 1] as number
      i += 2
    } else {
      s = b[j] as number
      e = b[j + 1] as number
      j += 2
    }
    const m = out.length
    if (m > 0 && s <= (out[m - 1] as number) + 1) {
      if (e > (out[m - 1] as number)) out[m - 1] = e
    } else {
      out.push(s, e)
    }
  }
  return out
}

function rangesEqual(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Union in place. Returns whether target changed. */
export function mergeInto(target: DotSet, source: DotSet): boolean {
  let changed = false
  for (const [node, rs] of source) {
    const rt = target.get(node)
    if (rt === undefined) {
      target.set(node, rs.slice())
      changed = true
      continue
    }
    // fast path: source is a single range already covered by target's first range
    if (rs.length === 2 && (rt[0] as number) <= (rs[0] as number) && (rs[1] as number) <= (rt[1] as number)) continue
    const u = unionRanges(rt, rs)
    if (!rangesEqual(u, rt)) {
      target.set(node, u)
      changed = true
    }
  }
  return changed
}

export function merge(a: DotSet, b: DotSet): DotSet {
  const out = clone(a)
  mergeInto(out, b)
  return out
}

export function clone(ds: DotSet): DotSet {
  const out: DotSet = new Map()
  for (const [node, r] of ds) out.set(node, r.slice())
  return out
}

export function equals(a: DotSet, b: DotSet): boolean {
  if (a.size !== b.size) return false
  for (const [node, ra] of a) {
    const rb = b.get(node)
    if (rb === undefined || !rangesEqual(ra, rb)) return false
  }
  return true
}

export function isEmpty(ds: DotSet): boolean {
  return ds.size === 0
}

/** Number of dots in the set. */
export function size(ds: DotSet): number {
  let n = 0
  for (const r of ds.values()) for (let i = 0; i < r.length; i += 2) n += (r[i + 1] as number) - (r[i] as number) + 1
  return n
}

/** Number of ranges in the set: its memory and wire cost. */
export function rangeCount(ds: DotSet): number {
  let n = 0
  for (const r of ds.values()) n += r.length >> 1
  return n
}

/** Highest seq of node in the set (0 if none). */
export function maxSeq(ds: DotSet, node: NodeId): number {
  const r = ds.get(node)
  return r === undefined ? 0 : (r[r.length - 1] as number)
}

/** Calls fn for every dot, nodes in insertion order, seqs ascending. */
export function forEach(ds: DotSet, fn: (node: NodeId, seq: number) => void): void {
  for (const [node, r] of ds) {
    for (let i = 0; i < r.length; i += 2) for (let s = r[i] as number; s <= (r[i + 1] as number); s++) fn(node, s)
  }
}

/** The version vector: for each node, the end of its contiguous prefix starting at 1. */
export function toVersionVector(ds: DotSet): VersionVector {
  const vv: VersionVector = new Map()
  for (const [node, r] of ds) if (r[0] === 1) vv.set(node, r[1] as number)
  return vv
}

export function fromVersionVector(vv: VersionVector): DotSet {
  const ds: DotSet = new Map()
  for (const [node, seq] of vv) if (seq > 0) ds.set(node, [1, seq])
  return ds
}

/** The node ids it mentions (for the node table). */
export function nodes(ds: DotSet): Iterable<NodeId> {
  return ds.keys()
}

/** Writes the set; the writer's node table must name every node in it. */
export function write(w: Writer, ds: DotSet): void {
  const entries = [...ds.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
  codec.writeUvarint(w, entries.length)
  for (const [node, r] of entries) {
    codec.writeNode(w, node)
    codec.writeUvarint(w, r.length >> 1)
    let prevEnd = 0
    for (let i = 0; i < r.length; i += 2) {
      const s = r[i] as number
      const e = r[i + 1] as number
      codec.writeUvarint(w, i === 0 ? s - 1 : s - prevEnd - 2)
      codec.writeUvarint(w, e - s)
      prevEnd = e
    }
  }
}

export function read(r: Reader): DotSet {
  const n = codec.readCount(r, 3)
  const ds: DotSet = new Map()
  let prevIndex = -1
  for (let k = 0; k < n; k++) {
    const index = codec.readNodeIndex(r)
    if (index <= prevIndex) codec.malformed('dot set nodes not strictly increasing')
    prevIndex = index
    const node = codec.nodeAt(r, index)
    const count = codec.readCount(r, 2)
    if (count === 0) codec.malformed('a node in a dot set has at least one range')
    const ranges: number[] = []
    let prevEnd = 0
    for (let i = 0; i < count; i++) {
      const s = i === 0 ? codec.readUvarint(r) + 1 : prevEnd + 2 + codec.readUvarint(r)
      const e = s + codec.readUvarint(r)
      if (!Number.isSafeInteger(e)) codec.malformed('dot seq beyond 2^53-1')
      ranges.push(s, e)
      prevEnd = e
    }
    ds.set(node, ranges)
  }
  return ds
}

export function encode(ds: DotSet): Uint8Array {
  return codec.encodeWith((w) => {
    codec.writeNodeTable(w, ds.keys())
    write(w, ds)
  })
}

export function decode(bytes: Uint8Array): Result<DotSet, codec.DecodeFailure> {
  return codec.decodeWith(bytes, (r) => {
    codec.readNodeTable(r)
    return read(r)
  })
}
