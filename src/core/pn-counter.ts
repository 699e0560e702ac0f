/**
 * PN-Counter: a counter that goes up and down, as two G-counters (g-counter.ts), one of the increments
 * (p) and one of the decrements (n). Each replica's p and n totals only grow, so merge stays a join, and
 * the value is sum(p) - sum(n).
 *
 * Encoding, byte by byte:
 *   node table   (codec.ts) the nodes with a non-zero p or n total, sorted; the empty counter is 0x00
 *   totals       for each node in table order: its p total, then its n total, as uvarints
 * A counter is valid if and only if:
 *   (1) its node table is canonical (codec.readNodeTable: valid ids, strictly increasing);
 *   (2) every total is a minimal uvarint of a safe integer (codec.readUvarint);
 *   (3) a node's p and n totals are not both zero (zero totals are not stored, so a node with neither
 *       would be a second form of the same counter);
 *   (4) nothing follows the last total (codec.decodeWith).
 */
import type { Reader } from './codec.ts'
import * as codec from './codec.ts'
import type { Crdt } from './crdt.ts'
import * as gCounter from './g-counter.ts'
import type { GCounter } from './g-counter.ts'
import type { NodeId } from './ids.ts'
import type { Stamp } from './replica.ts'
import type { Result } from './result.ts'

export type PnCounter = { readonly p: GCounter; readonly n: GCounter }

export type Op = { readonly type: 'add'; readonly n: number }

export function empty(): PnCounter {
  return { p: gCounter.empty(), n: gCounter.empty() }
}

/**
 * Adds op.n (a non-zero safe integer; negative decrements), in place. The delta is the stamp's node's new
 * p or n total. A bad n, or a total past 2^53-1, is a caller bug: it throws a RangeError.
 */
export function apply(s: PnCounter, op: Op, stamp: Stamp, delta?: PnCounter): void {
  const n = op.n
  if (!(Number.isSafeInteger(n) && n !== 0))
    throw new RangeError(`pn-counter: add needs a non-zero safe integer, got ${n}`)
  if (n > 0) gCounter.apply(s.p, { type: 'inc', n }, stamp, delta?.p)
  else gCounter.apply(s.n, { type: 'inc', n: -n }, stamp, delta?.n)
}

export function mergeInto(target: PnCounter, source: PnCounter): boolean {
  const p = gCounter.mergeInto(target.p, source.p)
  const n = gCounter.mergeInto(target.n, source.n)
  return p || n
}

export function merge(a: PnCounter, b: PnCounter): PnCounter {
  const out = clone(a)
  mergeInto(out, b)
  return out
}

export function equals(a: PnCounter, b: PnCounter): boolean {
  return gCounter.equals(a.p, b.p) && gCounter.equals(a.n, b.n)
}

export function clone(s: PnCounter): PnCounter {
  return { p: gCounter.clone(s.p), n: gCounter.clone(s.n) }
}

export function encode(s: PnCounter): Uint8Array {
  return codec.encodeWith((w) => {
    const nodes = [...new Set([...s.p.keys(), ...s.n.keys()])].sort()
    codec.writeNodeTable(w, nodes)
    for (const node of nodes) {
      codec.writeUvarint(w, s.p.get(node) ?? 0)
      codec.writeUvarint(w, s.n.get(node) ?? 0)
    }
  })
}

function read(r: Reader): PnCounter {
  const nodes = codec.readNodeTable(r) // rule (1)
  const s = empty()
  for (let i = 0; i < nodes.length; i++) {
    const node = codec.nodeAt(r, i)
    const p = codec.readUvarint(r) // rule (2)
    const n = codec.readUvarint(r)
    if (p === 0 && n === 0) codec.malformed('a pn-counter node has a non-zero total') // rule (3)
    if (p > 0) s.p.set(node, p)
    if (n > 0) s.n.set(node, n)
  }
  return s
}

/** Untrusted bytes to a counter; rule (4) is decodeWith's trailing-bytes check. */
export function decode(bytes: Uint8Array): Result<PnCounter, codec.DecodeFailure> {
  return codec.decodeWith(bytes, read)
}

export const crdt: Crdt<PnCounter, Op> = {
  name: 'pn-counter',
  empty,
  apply,
  merge,
  mergeInto,
  equals,
  clone,
  encode,
  decode,
}

/** Adds n (a non-zero safe integer; negative decrements), in place. */
export function add(s: PnCounter, n: number, stamp: Stamp, delta?: PnCounter): void {
  apply(s, { type: 'add', n }, stamp, delta)
}

/** Increments minus decrements over all replicas (exact while both sums stay below 2^53). */
export function value(s: PnCounter): number {
  return gCounter.value(s.p) - gCounter.value(s.n)
}

/** One replica's net contribution. */
export function get(s: PnCounter, node: NodeId): number {
  return gCounter.get(s.p, node) - gCounter.get(s.n, node)
}
