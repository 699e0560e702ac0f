/**
 * LWW-Register (last writer wins) of a JSON value: the write with the greatest HLC timestamp (hlc.compare:
 * wall ms, logical counter, node id) is the value. Before the first write the register is empty.
 *
 * A causally later write always wins, whatever the wall clocks say, provided the writer's clock has
 * observed what it overwrites: call `replica.observe(r, maxTimestamp(incoming))` before merging a remote
 * state (the op log does the same per op), and the next stamp is greater than every timestamp seen.
 * Concurrent writes are resolved by timestamp, which is arbitrary but the same on every replica.
 *
 * Two different writes with an identical timestamp can only come from a broken replica (one node, two
 * writes at one HLC instant). Merge must still be commutative, so the tie breaks deterministically: the
 * value that is greater in json.compare (canonical bytes) wins.
 *
 * A write is an immutable entry that states share: merge and clone copy a reference, never the value.
 * Values are treated as immutable too.
 *
 * Encoding, byte by byte:
 *   node table   (codec.ts) empty for an empty register, which is then the single byte 0x00; otherwise
 *                the one node that wrote the value
 *   wallMs       uvarint, ms since the Unix epoch
 *   logical      uvarint
 *   node         uvarint index into the node table (always 0)
 *   value        the value in json.ts's canonical form
 * A register is valid if and only if:
 *   (1) its node table is canonical (codec.readNodeTable) and names at most one node;
 *   (2) an empty table ends the register; otherwise the timestamp is valid (hlc.read: minimal uvarints,
 *       logical <= 2^32-1, node index inside the table);
 *   (3) the value is canonical JSON (json.read: known tags, sorted keys, canonical numbers, bounded depth);
 *   (4) nothing follows the value (codec.decodeWith).
 */
import type { Reader } from './codec.ts'
import * as codec from './codec.ts'
import type { Crdt } from './crdt.ts'
import * as hlc from './hlc.ts'
import type { Timestamp } from './hlc.ts'
import * as json from './json.ts'
import type { Json } from './json.ts'
import type { Stamp } from './replica.ts'
import type { Result } from './result.ts'

/** A write: its value and its timestamp, flattened into one immutable object. */
export type Entry = Timestamp & { readonly value: Json }

export type LwwRegister = { entry: Entry | undefined }

export type Op = { readonly type: 'set'; readonly value: Json }

export function empty(): LwwRegister {
  return { entry: undefined }
}

/** Does write a beat write b? Timestamp order, then the value's canonical bytes on an identical timestamp. */
function beats(a: Entry, b: Entry): boolean {
  const c = hlc.compare(a, b)
  if (c !== 0) return c > 0
  return a !== b && !json.equals(a.value, b.value) && json.compare(a.value, b.value) > 0
}

/** Joins one write into the register; returns whether it changed. */
function put(s: LwwRegister, e: Entry): boolean {
  if (s.entry !== undefined && !beats(e, s.entry)) return false
  s.entry = e
  return true
}

/**
 * Writes op.value at the stamp's timestamp, in place; the delta is the write itself. Like any write it
 * wins only if its timestamp is the greatest (see the header: observe before you write). A value that
 * is not JSON (json.isJson) or an invalid stamp is a caller bug: it throws a RangeError.
 */
export function apply(s: LwwRegister, op: Op, stamp: Stamp, delta?: LwwRegister): void {
  if (!hlc.isValid(stamp)) throw new RangeError('lww-register: invalid stamp')
  if (!json.isJson(op.value)) throw new RangeError('lww-register: the value is not JSON')
  const e: Entry = { value: op.value, wallMs: stamp.wallMs, logical: stamp.logical, node: stamp.node }
  put(s, e)
  if (delta !== undefined) put(delta, e)
}

export function mergeInto(target: LwwRegister, source: LwwRegister): boolean {
  return source.entry !== undefined && put(target, source.entry)
}

export function merge(a: LwwRegister, b: LwwRegister): LwwRegister {
  const out = clone(a)
  mergeInto(out, b)
  return out
}

export function equals(a: LwwRegister, b: LwwRegister): boolean {
  const x = a.entry
  const y = b.entry
  if (x === undefined || y === undefined) return x === y
  return x === y || (hlc.equals(x, y) && json.equals(x.value, y.value))
}

export function clone(s: LwwRegister): LwwRegister {
  return { entry: s.entry }
}

export function encode(s: LwwRegister): Uint8Array {
  return codec.encodeWith((w) => {
    const e = s.entry
    if (e === undefined) return codec.writeNodeTable(w, [])
    codec.writeNodeTable(w, [e.node])
    hlc.write(w, e)
    json.write(w, e.value)
  })
}

function read(r: Reader): LwwRegister {
  const nodes = codec.readNodeTable(r) // rule (1)
  if (nodes.length > 1) codec.malformed('an lww-register names at most one node')
  if (nodes.length === 0) return empty() // rule (2)
  const t = hlc.read(r) // rule (2)
  const value = json.read(r) // rule (3)
  return { entry: { value, wallMs: t.wallMs, logical: t.logical, node: t.node } }
}

/** Untrusted bytes to a register; rule (4) is decodeWith's trailing-bytes check. */
export function decode(bytes: Uint8Array): Result<LwwRegister, codec.DecodeFailure> {
  return codec.decodeWith(bytes, read)
}

export const crdt: Crdt<LwwRegister, Op> = {
  name: 'lww-register',
  empty,
  apply,
  merge,
  mergeInto,
  equals,
  clone,
  encode,
  decode,
}

/** Writes value (in place); see `apply`. */
export function set(s: LwwRegister, value: Json, stamp: Stamp, delta?: LwwRegister): void {
  apply(s, { type: 'set', value }, stamp, delta)
}

/** The current value, or undefined before the first write. */
export function get(s: LwwRegister): Json | undefined {
  return s.entry?.value
}

/**
 * The timestamp of the current value, or undefined before the first write. For a register it is also
 * the greatest timestamp the state holds: observe it before writing over a merged state.
 */
export function maxTimestamp(s: LwwRegister): Timestamp | undefined {
  const e = s.entry
  return e === undefined ? undefined : { wallMs: e.wallMs, logical: e.logical, node: e.node }
}
