/**
 * G-Counter (grow-only counter): each replica counts its own increments, and the value is the sum over
 * replicas. A replica only ever raises its own entry, so merge is the entry-wise maximum and a counter
 * never loses an increment however its states are delivered.
 *
 * A zero total is never stored, so one counter has one representation (and `equals` is entry equality).
 *
 * Encoding, byte by byte:
 *   node table   (codec.ts) the nodes with a non-zero total, sorted; the empty counter is the one byte 0x00
 *   totals       for each node in table order, its total as a uvarint
 * A counter is valid if and only if:
 *   (1) its node table is canonical (codec.readNodeTable: valid ids, strictly increasing);
 *   (2) every total is a minimal uvarint of a safe integer (codec.readUvarint) and is at least 1;
 *   (3) nothing follows the last total (codec.decodeWith).
 * Every table entry has a total, so every node is used and the form is canonical.
 */
import type { Reader } from './codec.ts'
import * as codec from './codec.ts'
import type { Crdt } from './crdt.ts'
import type { NodeId } from './ids.ts'
import type { Stamp } from './replica.ts'
import type { Result } from './result.ts'

/** Node -> the total of its increments (>= 1; absent means 0). */
export type GCounter = Map<NodeId, number>

export type Op = { readonly type: 'inc'; readonly n: number }

export function empty(): GCounter {
  return new Map()
}

/** Raises node's entry to at least total; returns whether it changed. */
function raise(s: GCounter, node: NodeId, total: number): boolean {
  if (total <= (s.get(node) ?? 0)) return false
  s.set(node, total)
  return true
}

/**
 * Adds op.n (a positive safe integer) to the stamp's node, in place. The delta is {node: new total}.
 * A bad n, or a total past 2^53-1, is a caller bug (validate at the edge): it throws a RangeError.
 */
export function apply(s: GCounter, op: Op, stamp: Stamp, delta?: GCounter): void {
  const n = op.n
  if (!(Number.isSafeInteger(n) && n > 0))
    throw new RangeError(`g-counter: inc needs a positive safe integer, got ${n}`)
  const total = (s.get(stamp.node) ?? 0) + n
  if (!Number.isSafeInteger(total))
    throw new RangeError(`g-counter: the total of ${stamp.node} would pass 2^53-1`)
  s.set(stamp.node, total)
  if (delta !== undefined) raise(delta, stamp.node, total)
}

/** Entry-wise maximum into target. */
export function mergeInto(target: GCounter, source: GCounter): boolean {
  let changed = false
  for (const [node, total] of source) if (raise(target, node, total)) changed = true
  return changed
}

export function merge(a: GCounter, b: GCounter): GCounter {
  const out = new Map(a)
  mergeInto(out, b)
  return out
}

export function equals(a: GCounter, b: GCounter): boolean {
  if (a.size !== b.size) return false
  for (const [node, total] of a) if (b.get(node) !== total) return false
  return true
}

export function clone(s: GCounter): GCounter {
  return new Map(s)
}

export function encode(s: GCounter): Uint8Array {
  return codec.encodeWith((w) => {
    const nodes = [...s.keys()].sort()
    codec.writeNodeTable(w, nodes)
    for (const node of nodes) codec.writeUvarint(w, s.get(node) as number)
  })
}

function read(r: Reader): GCounter {
  const nodes = codec.readNodeTable(r) // rule (1)
  const s: GCounter = new Map()
  for (let i = 0; i < nodes.length; i++) {
    const total = codec.readUvarint(r) // rule (2): minimal, safe
    if (total === 0) codec.malformed('a g-counter stores no zero totals') // rule (2)
    s.set(codec.nodeAt(r, i), total)
  }
  return s
}

/** Untrusted bytes to a counter; rule (3) is decodeWith's trailing-bytes check. */
export function decode(bytes: Uint8Array): Result<GCounter, codec.DecodeFailure> {
  return codec.decodeWith(bytes, read)
}

export const crdt: Crdt<GCounter, Op> = {
  name: 'g-counter',
  empty,
  apply,
  merge,
  mergeInto,
  equals,
  clone,
  encode,
  decode,
}

/** Increments by n (a positive safe integer), in place. */
export function inc(s: GCounter, n: number, stamp: Stamp, delta?: GCounter): void {
  apply(s, { type: 'inc', n }, stamp, delta)
}

/** The sum of all replicas' totals (exact while it stays below 2^53). */
export function value(s: GCounter): number {
  let sum = 0
  for (const total of s.values()) sum += total
  return sum
}

/** One replica's total (0 if it never incremented). */
export function get(s: GCounter, node: NodeId): number {
  return s.get(node) ?? 0
}
