/**
 * Version vector: for each replica, the highest seq such that all of 1..seq are known. A zero entry is
 * never stored, so one vector has one representation. Encoded as a node table (sorted), then one
 * uvarint seq per node in table order (no zeros).
 */
import type { Reader, Writer } from './codec.ts'
import * as codec from './codec.ts'
import type { Dot } from './dot.ts'
import type { NodeId } from './ids.ts'
import type { Result } from './result.ts'

export type VersionVector = Map<NodeId, number>

export type Order = 'before' | 'after' | 'equal' | 'concurrent'

export function empty(): VersionVector {
  return new Map()
}

export function get(vv: VersionVector, node: NodeId): number {
  return vv.get(node) ?? 0
}

/** Raises node's entry to at least seq (in place). */
export function raise(vv: VersionVector, node: NodeId, seq: number): void {
  if (seq > (vv.get(node) ?? 0)) vv.set(node, seq)
}

/** Has this vector seen the dot? */
export function containsDot(vv: VersionVector, dot: Dot): boolean {
  return dot.seq <= (vv.get(dot.node) ?? 0)
}

/** How a relates to b: before (a < b), after (a > b), equal, or concurrent. */
export function compare(a: VersionVector, b: VersionVector): Order {
  let less = false
  let greater = false
  for (const [node, sa] of a) {
    const sb = b.get(node) ?? 0
    if (sa < sb) less = true
    else if (sa > sb) greater = true
  }
  for (const [node, sb] of b) {
    if (!a.has(node) && sb > 0) less = true
  }
  if (less && greater) return 'concurrent'
  if (less) return 'before'
  if (greater) return 'after'
  return 'equal'
}

/** Least upper bound, in place: target becomes the entry-wise maximum. Returns whether target changed. */
export function mergeInto(target: VersionVector, source: VersionVector): boolean {
  let changed = false
  for (const [node, s] of source) {
    if (s > (target.get(node) ?? 0)) {
      target.set(node, s)
      changed = true
    }
  }
  return changed
}

export function merge(a: VersionVector, b: VersionVector): VersionVector {
  const out = new Map(a)
  mergeInto(out, b)
  return out
}

export function equals(a: VersionVector, b: VersionVector): boolean {
  return compare(a, b) === 'equal'
}

export function clone(vv: VersionVector): VersionVector {
  return new Map(vv)
}

export function write(w: Writer, vv: VersionVector): void {
  const nodes = [...vv.keys()].sort()
  codec.writeNodeTable(w, nodes)
  for (const node of nodes) codec.writeUvarint(w, vv.get(node) as number)
}

export function read(r: Reader): VersionVector {
  const nodes = codec.readNodeTable(r)
  r.nodesUsed?.fill(1) // every table entry carries a seq
  const vv: VersionVector = new Map()
  for (const node of nodes) {
    const seq = codec.readUvarint(r)
    if (seq === 0) codec.malformed('a version vector stores no zero entries')
    vv.set(node, seq)
  }
  return vv
}

export function encode(vv: VersionVector): Uint8Array {
  return codec.encodeWith((w) => write(w, vv))
}

export function decode(bytes: Uint8Array): Result<VersionVector, codec.DecodeFailure> {
  return codec.decodeWith(bytes, read)
}
