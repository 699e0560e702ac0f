/**
 * LWW-Map: string keys to JSON values, each key a last-writer-wins register (see lww-register.ts for the
 * order: HLC timestamp, i.e. wall ms, logical counter, node id). A remove is a write too: it leaves a
 * timestamped tombstone (an entry without a value), so a remove beats any older set of the key, even one
 * that arrives later from a replica that was offline, and a set after the remove beats the tombstone.
 *
 * Tombstones are kept. Dropping one early would let an older set still travelling in the fleet (a laptop
 * that was offline for days) resurrect the key, and no replica could tell that set from a new one. A
 * tombstone can go once it is causally stable: when every replica is known to have seen it, any set
 * older than it has already reached every replica (and lost), and any later set is newer. Knowing that
 * takes the membership and version vectors of the layers above, so compaction is left to a future
 * `compact(s, stableBefore)` driven from there; until then a tombstone costs one small entry.
 *
 * Causality: a write beats what its writer has seen if the writer's clock observed it: call
 * `replica.observe(r, maxTimestamp(incoming))` before merging a remote state or delta (as the op log
 * does per op). Two different writes with an identical timestamp can only come from a broken replica; the
 * tie still breaks the same way everywhere, so merge stays commutative: a tombstone beats a value, and
 * between values the greater in json.compare (canonical bytes) wins.
 *
 * Performance (this map is on the hot path; see bench/): an entry is one flat object {value, wallMs,
 * logical, node} that is itself a Timestamp, owned by exactly one map. A write that wins over a key's
 * current entry overwrites that entry's fields in place, so overwriting a key costs one Map lookup and
 * no allocation and no Map write; only a key new to the map allocates an entry and writes the Map. Never
 * sorts or encodes. Because entries are owned, merge, clone and deltas copy the four fields instead of
 * sharing the object (a merge allocates one entry per key new to the target). The count of live keys is
 * kept up to date so `size` is O(1). Values are not deep-checked on a set (that is the caller's edge's
 * job, with json.isJson); `encode` throws a RangeError on a value that is not JSON. Values themselves
 * are shared by reference, as before: JSON values are treated as immutable.
 *
 * Encoding, byte by byte:
 *   node table   (codec.ts) the distinct nodes that wrote the entries, sorted
 *   count        uvarint, the number of entries (live and tombstones); the empty map is 0x00 0x00
 *   baseMs       uvarint, the smallest wallMs of the entries (only when count > 0)
 *   then per entry, keys in strictly increasing UTF-16 code unit order:
 *     key        codec.writeSortedKey: uvarint length of the prefix shared with the previous key (0 for
 *                the first), then the rest of the key as a string
 *     wallMs     uvarint, wallMs - baseMs (hlc.write with baseMs: a delta of recent writes stays short)
 *     logical    uvarint
 *     node       uvarint index into the node table
 *     value      the value in json.ts's canonical form (tag 0..7), or the single byte 0xff for a
 *                tombstone (json.ts never writes 0xff as a tag, so one byte says "no value")
 * A map is valid if and only if:
 *   (1) its node table is canonical (codec.readNodeTable) and every node in it is used (codec.decodeWith);
 *   (2) the count fits in the input (codec.readCount: an entry takes at least 5 bytes);
 *   (3) keys are well-formed UTF-8 in strictly increasing order (no duplicates), each with exactly the
 *       longest shared prefix that does not split a surrogate pair (codec.readSortedKey);
 *   (4) every timestamp is valid (hlc.read: minimal uvarints, wallMs a safe integer, logical <= 2^32-1,
 *       node index inside the table);
 *   (5) baseMs is the smallest wallMs: some entry has the offset 0 (else baseMs could take other values);
 *   (6) every value is canonical JSON (json.read) or 0xff;
 *   (7) nothing follows the last entry (codec.decodeWith).
 */
import type { Reader, Writer } from './codec.ts'
import * as codec from './codec.ts'
import type { Crdt } from './crdt.ts'
import * as hlc from './hlc.ts'
import type { Timestamp } from './hlc.ts'
import * as json from './json.ts'
import type { Json } from './json.ts'
import type { NodeId } from './ids.ts'
import type { Stamp } from './replica.ts'
import type { Result } from './result.ts'

/**
 * The winning write of one key: its value (undefined for a tombstone) and its timestamp. Owned by one
 * map, which overwrites it in place when a newer write of the key arrives: read it, don't keep it.
 */
export type Entry = { value: Json | undefined; wallMs: number; logical: number; node: NodeId }

export type LwwMap = {
  /** key -> its winning write; tombstones included */
  readonly entries: Map<string, Entry>
  /** number of entries with a value (kept in step with `entries`, so `size` is O(1)) */
  live: number
}

export type Op =
  | { readonly type: 'set'; readonly key: string; readonly value: Json }
  | { readonly type: 'remove'; readonly key: string }

/** The byte that stands for "no value" in the value position of the encoding. */
const tombstoneTag = 0xff

/** Bytes an entry takes at least: empty key, three one-byte uvarints, a one-byte value. */
const entryBytesMin = 5

export function empty(): LwwMap {
  return { entries: new Map(), live: 0 }
}

/** Does the write (value at wallMs, logical, node) beat entry b? Timestamp order; a tie: see the header. */
function beats(value: Json | undefined, wallMs: number, logical: number, node: NodeId, b: Entry): boolean {
  if (wallMs !== b.wallMs) return wallMs > b.wallMs
  if (logical !== b.logical) return logical > b.logical
  if (node !== b.node) return node > b.node
  return value !== b.value && valueBeats(value, b.value)
}

/** The tiebreak for two writes with one timestamp (only a broken replica makes them). */
function valueBeats(a: Json | undefined, b: Json | undefined): boolean {
  if (a === undefined) return b !== undefined
  if (b === undefined) return false
  return !json.equals(a, b) && json.compare(a, b) > 0
}

/**
 * Joins one write of key (value at wallMs, logical, node) into s; returns whether s changed. The hot
 * path of set, remove and merge: the write comes as fields, so a caller never allocates an entry for a
 * write that loses or that overwrites one in place. `checkKey`: a local write's key must be well-formed,
 * but only a key new to the map needs the check (every key already in it passed one, here or in decode's
 * strict UTF-8), which keeps it off the common path of overwriting a key.
 */
function put(
  s: LwwMap,
  key: string,
  value: Json | undefined,
  wallMs: number,
  logical: number,
  node: NodeId,
  checkKey: boolean,
): boolean {
  const old = s.entries.get(key)
  if (old === undefined) {
    if (checkKey && !(typeof key === 'string' && key.isWellFormed())) {
      throw new RangeError('lww-map: a key is a well-formed string')
    }
    s.entries.set(key, { value, wallMs, logical, node })
    if (value !== undefined) s.live++
    return true
  }
  if (!beats(value, wallMs, logical, node, old)) return false
  if (value === undefined) {
    if (old.value !== undefined) s.live--
  } else if (old.value === undefined) s.live++
  old.value = value
  old.wallMs = wallMs
  old.logical = logical
  old.node = node
  return true
}

/**
 * Applies a set or a remove at the stamp's timestamp, in place; the delta is the one entry written. Like
 * any write it takes effect only if its timestamp is the greatest for the key (observe before you write).
 * An invalid key or stamp is a caller bug: it throws a RangeError.
 */
export function apply(s: LwwMap, op: Op, stamp: Stamp, delta?: LwwMap): void {
  switch (op.type) {
    case 'set':
      return set(s, op.key, op.value, stamp, delta)
    case 'remove':
      return remove(s, op.key, stamp, delta)
  }
}

/** Sets key to value (in place); see `apply`. `value` must be JSON (json.isJson), checked at encode. */
export function set(s: LwwMap, key: string, value: Json, stamp: Stamp, delta?: LwwMap): void {
  if (!hlc.isValid(stamp)) throw new RangeError('lww-map: invalid stamp')
  if (value === undefined) throw new RangeError('lww-map: set needs a value (remove deletes)')
  const { wallMs, logical, node } = stamp
  put(s, key, value, wallMs, logical, node, true)
  if (delta !== undefined) put(delta, key, value, wallMs, logical, node, false)
}

/** Removes key (in place), leaving a tombstone that beats every older set; see `apply`. */
export function remove(s: LwwMap, key: string, stamp: Stamp, delta?: LwwMap): void {
  if (!hlc.isValid(stamp)) throw new RangeError('lww-map: invalid stamp')
  const { wallMs, logical, node } = stamp
  put(s, key, undefined, wallMs, logical, node, true)
  if (delta !== undefined) put(delta, key, undefined, wallMs, logical, node, false)
}

/** Per key, the winning write, into target (copied: entries are owned; values are shared). */
export function mergeInto(target: LwwMap, source: LwwMap): boolean {
  let changed = false
  for (const [key, e] of source.entries) {
    if (put(target, key, e.value, e.wallMs, e.logical, e.node, false)) changed = true
  }
  return changed
}

export function merge(a: LwwMap, b: LwwMap): LwwMap {
  // Start from the larger side: copying entries (no comparisons) is cheaper than joining them one by one.
  const [big, small] = a.entries.size >= b.entries.size ? [a, b] : [b, a]
  const out = clone(big)
  mergeInto(out, small)
  return out
}

function entryEquals(x: Entry, y: Entry): boolean {
  if (x === y) return true
  if (x.wallMs !== y.wallMs || x.logical !== y.logical || x.node !== y.node) return false
  if (x.value === undefined || y.value === undefined) return x.value === y.value
  return json.equals(x.value, y.value)
}

export function equals(a: LwwMap, b: LwwMap): boolean {
  if (a.entries.size !== b.entries.size || a.live !== b.live) return false
  for (const [key, x] of a.entries) {
    const y = b.entries.get(key)
    if (y === undefined || !entryEquals(x, y)) return false
  }
  return true
}

/** A copy with its own entries (values are shared: JSON values are treated as immutable). */
export function clone(s: LwwMap): LwwMap {
  const entries = new Map<string, Entry>()
  for (const [key, e] of s.entries) {
    entries.set(key, { value: e.value, wallMs: e.wallMs, logical: e.logical, node: e.node })
  }
  return { entries, live: s.live }
}

function write(w: Writer, s: LwwMap): void {
  const keys = [...s.entries.keys()].sort()
  const nodes = new Set<NodeId>()
  let baseMs = Number.MAX_SAFE_INTEGER
  for (const e of s.entries.values()) {
    nodes.add(e.node)
    if (e.wallMs < baseMs) baseMs = e.wallMs
  }
  codec.writeNodeTable(w, nodes)
  codec.writeUvarint(w, keys.length)
  if (keys.length === 0) return
  codec.writeUvarint(w, baseMs)
  let prev = ''
  for (const key of keys) {
    const e = s.entries.get(key) as Entry
    codec.writeSortedKey(w, prev, key)
    prev = key
    hlc.write(w, e, baseMs)
    if (e.value === undefined) codec.writeByte(w, tombstoneTag)
    else json.write(w, e.value)
  }
}

/** The canonical bytes; throws a RangeError if a value is not JSON (a caller bug). */
export function encode(s: LwwMap): Uint8Array {
  return codec.encodeWith((w) => write(w, s), 16 + s.entries.size * 16)
}

function read(r: Reader): LwwMap {
  codec.readNodeTable(r) // rule (1); decodeWith checks that every node is used
  const n = codec.readCount(r, entryBytesMin) // rule (2)
  const s = empty()
  if (n === 0) return s
  const baseMs = codec.readUvarint(r)
  let prev: string | undefined
  let offsetMsMin = Number.MAX_SAFE_INTEGER
  for (let i = 0; i < n; i++) {
    const key = codec.readSortedKey(r, prev) // rule (3)
    prev = key
    const t = hlc.read(r, baseMs) // rule (4)
    if (t.wallMs - baseMs < offsetMsMin) offsetMsMin = t.wallMs - baseMs
    let value: Json | undefined
    if (r.pos < r.buf.length && r.buf[r.pos] === tombstoneTag)
      r.pos++ // rule (6)
    else value = json.read(r)
    s.entries.set(key, { value, wallMs: t.wallMs, logical: t.logical, node: t.node })
    if (value !== undefined) s.live++
  }
  if (offsetMsMin !== 0) codec.malformed('lww-map baseMs is not the smallest wallMs') // rule (5)
  return s
}

/** Untrusted bytes to a map; rule (7) is decodeWith's trailing-bytes check. */
export function decode(bytes: Uint8Array): Result<LwwMap, codec.DecodeFailure> {
  return codec.decodeWith(bytes, read)
}

export const crdt: Crdt<LwwMap, Op> = {
  name: 'lww-map',
  empty,
  apply,
  merge,
  mergeInto,
  equals,
  clone,
  encode,
  decode,
}

/** The value of key, or undefined if it was never set or is removed. */
export function get(s: LwwMap, key: string): Json | undefined {
  return s.entries.get(key)?.value
}

export function has(s: LwwMap, key: string): boolean {
  return s.entries.get(key)?.value !== undefined
}

/** Number of live keys (tombstones not counted). O(1). */
export function size(s: LwwMap): number {
  return s.live
}

/** The live [key, value] pairs, in no particular order. */
export function* entries(s: LwwMap): Generator<[string, Json]> {
  for (const [key, e] of s.entries) if (e.value !== undefined) yield [key, e.value]
}

/**
 * The greatest timestamp in the state (undefined when it has no entries), O(entries). Observe it
 * (`replica.observe`) before merging a remote state or delta, so the next local write beats all of it.
 */
export function maxTimestamp(s: LwwMap): Timestamp | undefined {
  let max: Entry | undefined
  for (const e of s.entries.values()) if (max === undefined || hlc.compare(e, max) > 0) max = e
  return max === undefined ? undefined : { wallMs: max.wallMs, logical: max.logical, node: max.node }
}
