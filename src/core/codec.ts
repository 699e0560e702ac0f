/**
 * The canonical binary form shared by every type in the core.
 *
 * Primitives:
 *   uvarint  unsigned LEB128 of a safe integer (0 .. 2^53-1), minimal length: a multi-byte varint never
 *            ends in a 0x00 byte. That makes the form canonical (one integer, one encoding).
 *   string   uvarint byte length, then strict UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
 *   f64      8 bytes, IEEE 754 little-endian.
 *   node     uvarint index into the node table written at the head of each encoded state (node ids are
 *            long keys; a state names each once). When the table names exactly one node, a node
 *            reference takes no bytes at all: there is only one choice (a delta from one writer, the
 *            common case, saves a byte per entry).
 *
 * A decoder reads untrusted bytes: it never allocates more than the input could describe (every count is
 * checked against the bytes left before anything is built), it bounds nesting depth, and every failure is
 * a `DecodeError` that `decodeWith` turns into a typed result. Any other exception is a bug.
 */
import type { NodeId } from './ids.ts'
import { nodeIdCharsMax } from './ids.ts'
import { fail, ok, type Result } from './result.ts'

export type DecodeFailure = 'malformed'

/** Thrown inside decoders only; `decodeWith` turns it into `{ ok: false, reason: 'malformed' }`. */
export class DecodeError extends Error {
  override name = 'DecodeError'
}

/** Nesting bound for recursive values (JSON, nested maps): deeper input is malformed, never a stack overflow. */
export const depthMax = 64

export type Writer = {
  buf: Uint8Array
  pos: number
  /** Node id -> index in the table at the head of the state being written. */
  nodes: Map<string, number> | undefined
}

export type Reader = {
  readonly buf: Uint8Array
  pos: number
  nodes: NodeId[] | undefined
  /** Which table entries the state used: an unused entry would be a second encoding of the same state. */
  nodesUsed: Uint8Array | undefined
}

export function createWriter(capacity = 64): Writer {
  return { buf: new Uint8Array(capacity), pos: 0, nodes: undefined }
}

export function createReader(buf: Uint8Array): Reader {
  return { buf, pos: 0, nodes: undefined, nodesUsed: undefined }
}

/** The bytes written so far (a copy-free view when the buffer is exactly full). */
export function finish(w: Writer): Uint8Array {
  return w.pos === w.buf.length ? w.buf : w.buf.slice(0, w.pos)
}

function ensure(w: Writer, n: number): void {
  if (w.pos + n <= w.buf.length) return
  let size = w.buf.length * 2
  while (size < w.pos + n) size *= 2
  const next = new Uint8Array(size)
  next.set(w.buf.subarray(0, w.pos))
  w.buf = next
}

export function writeByte(w: Writer, b: number): void {
  ensure(w, 1)
  w.buf[w.pos++] = b
}

export function writeUvarint(w: Writer, n: number): void {
  if (!(Number.isSafeInteger(n) && n >= 0)) throw new RangeError(`codec: uvarint out of range: ${n}`)
  ensure(w, 8)
  const buf = w.buf
  while (n >= 0x80) {
    buf[w.pos++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[w.pos++] = n
}

/** Largest magnitude an svarint holds: zigzag doubles it, and the result must stay a safe integer. */
export const svarintAbsMax = 2 ** 52 - 1

/** Signed integers with |n| <= svarintAbsMax, zigzag-mapped so small magnitudes stay short. */
export function writeSvarint(w: Writer, n: number): void {
  if (!(Number.isInteger(n) && Math.abs(n) <= svarintAbsMax)) throw new RangeError(`codec: svarint out of range: ${n}`)
  writeUvarint(w, n >= 0 ? n * 2 : -n * 2 - 1)
}

export function writeF64(w: Writer, x: number): void {
  ensure(w, 8)
  new DataView(w.buf.buffer, w.buf.byteOffset).setFloat64(w.pos, x, true)
  w.pos += 8
}

export function writeBytes(w: Writer, bytes: Uint8Array): void {
  writeUvarint(w, bytes.length)
  ensure(w, bytes.length)
  w.buf.set(bytes, w.pos)
  w.pos += bytes.length
}

/** Fixed-length raw bytes, no length prefix (hashes, keys, signatures; or bytes framed by the caller). */
export function writeFixed(w: Writer, bytes: Uint8Array): void {
  ensure(w, bytes.length)
  w.buf.set(bytes, w.pos)
  w.pos += bytes.length
}

/** Bytes writeUvarint takes for n. */
export function uvarintLength(n: number): number {
  let len = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    len++
  }
  return len
}

/** UTF-8 length of a string without encoding it (a lone surrogate counts as 3, as the encoder's U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

/** Writes a well-formed string as UTF-8. A lone surrogate is a caller bug (validate at the edge). */
export function writeString(w: Writer, s: string): void {
  const n = s.length
  // Fast path: ASCII, the common case for keys and ids.
  let ascii = true
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false
      break
    }
  }
  if (ascii) {
    writeUvarint(w, n)
    ensure(w, n)
    const buf = w.buf
    let p = w.pos
    for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i)
    w.pos = p
    return
  }
  const bytes = utf8Encode(s)
  writeBytes(w, bytes)
}

/** UTF-8 of a well-formed UTF-16 string; throws on a lone surrogate. */
export function utf8Encode(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 3)
  let p = 0
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      out[p++] = c
    } else if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6)
      out[p++] = 0x80 | (c & 0x3f)
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const lo = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (c > 0xdbff || lo < 0xdc00 || lo > 0xdfff) throw new RangeError('codec: string has a lone surrogate')
      c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00)
      i++
      out[p++] = 0xf0 | (c >> 18)
      out[p++] = 0x80 | ((c >> 12) & 0x3f)
      out[p++] = 0x80 | ((c >> 6) & 0x3f)
      out[p++] = 0x80 | (c & 0x3f)
    } else {
      out[p++] = 0xe0 | (c >> 12)
      out[p++] = 0x80 | ((c >> 6) & 0x3f)
      out[p++] = 0x80 | (c & 0x3f)
    }
  }
  return out.slice(0, p)
}

/** True when the string has no lone surrogate, so it has a UTF-8 form. */
export function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdfff) {
      const lo = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (c > 0xdbff || lo < 0xdc00 || lo > 0xdfff) return false
      i++
    }
  }
  return true
}

/**
 * Length of the prefix a key shares with the previous key in a sorted run, in UTF-16 code units, cut
 * back by one where it would split a surrogate pair (so the suffix is a well-formed string).
 */
export function sharedPrefix(prev: string, key: string): number {
  const n = Math.min(prev.length, key.length)
  let p = 0
  while (p < n && prev.charCodeAt(p) === key.charCodeAt(p)) p++
  if (p > 0 && p < key.length) {
    const c = key.charCodeAt(p - 1)
    if (c >= 0xd800 && c <= 0xdbff) p--
  }
  return p
}

/**
 * Writes the next key of a strictly increasing run as (shared prefix length, suffix string). Sorted keys
 * such as k1000, k1001 share most of their bytes, so a state or delta of many keys stays small.
 */
export function writeSortedKey(w: Writer, prev: string, key: string): void {
  const p = sharedPrefix(prev, key)
  writeUvarint(w, p)
  writeString(w, p === 0 ? key : key.slice(p))
}

/**
 * Reads a key written by writeSortedKey. Canonical: the prefix length must be exactly sharedPrefix, and
 * the key must sort strictly after prev (pass undefined for the first key of a run).
 */
export function readSortedKey(r: Reader, prev: string | undefined): string {
  const p = readUvarint(r)
  const before = prev ?? ''
  if (p > before.length) malformed('shared key prefix longer than the previous key')
  const suffix = readString(r)
  const key = p === 0 ? suffix : before.slice(0, p) + suffix
  if (sharedPrefix(before, key) !== p) malformed('non-canonical shared key prefix')
  if (prev !== undefined && !(prev < key)) malformed('keys not strictly increasing')
  return key
}

/** Writes the node table for a state: the distinct node ids, sorted, and remembers their indexes. */
export function writeNodeTable(w: Writer, nodes: Iterable<NodeId>): void {
  const sorted = [...new Set(nodes)].sort()
  writeUvarint(w, sorted.length)
  const index = new Map<string, number>()
  for (let i = 0; i < sorted.length; i++) {
    const node = sorted[i] as NodeId
    writeString(w, node)
    index.set(node, i)
  }
  w.nodes = index
}

export function writeNode(w: Writer, node: NodeId): void {
  const nodes = w.nodes
  const i = nodes?.get(node)
  if (i === undefined) throw new RangeError(`codec: node ${node} is missing from the node table`)
  if ((nodes as Map<string, number>).size > 1) writeUvarint(w, i)
}

// ---- reading ----

export function malformed(detail: string): never {
  throw new DecodeError(detail)
}

export function remaining(r: Reader): number {
  return r.buf.length - r.pos
}

export function readByte(r: Reader): number {
  if (r.pos >= r.buf.length) malformed('unexpected end of input')
  return r.buf[r.pos++] as number
}

export function readUvarint(r: Reader): number {
  const buf = r.buf
  let result = 0
  let scale = 1
  for (let i = 0; ; i++) {
    if (r.pos >= buf.length) malformed('unexpected end of input in a varint')
    const b = buf[r.pos++] as number
    result += (b & 0x7f) * scale
    if (b < 0x80) {
      if (b === 0 && i > 0) malformed('non-minimal varint')
      if (!Number.isSafeInteger(result)) malformed('varint beyond 2^53-1')
      return result
    }
    if (i >= 7) malformed('varint longer than 8 bytes')
    scale *= 0x80
  }
}

export function readSvarint(r: Reader): number {
  const u = readUvarint(r)
  if (u > 2 * svarintAbsMax) malformed('svarint out of range')
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2
}

export function readF64(r: Reader): number {
  if (remaining(r) < 8) malformed('unexpected end of input in a float')
  const x = new DataView(r.buf.buffer, r.buf.byteOffset).getFloat64(r.pos, true)
  r.pos += 8
  return x
}

/** A count of items that each take at least `bytesEach` bytes: bounded by what is left, before allocating. */
export function readCount(r: Reader, bytesEach = 1): number {
  const n = readUvarint(r)
  if (n * bytesEach > remaining(r)) malformed(`count ${n} exceeds the input`)
  return n
}

/** n raw bytes: a view into the input (copy what must outlive it). */
export function readFixed(r: Reader, n: number): Uint8Array {
  if (remaining(r) < n) malformed('unexpected end of input')
  const out = r.buf.subarray(r.pos, r.pos + n)
  r.pos += n
  return out
}

export function readBytes(r: Reader): Uint8Array {
  const n = readCount(r)
  const out = r.buf.slice(r.pos, r.pos + n)
  r.pos += n
  return out
}

export function readString(r: Reader): string {
  const n = readCount(r)
  const buf = r.buf
  const end = r.pos + n
  let s: string
  if (n > shortStringBytes) {
    // the platform's strict decoder (native): what utf8Decode accepts, ~5x cheaper on a body's text;
    // on a refusal utf8Decode runs to say what is wrong
    try {
      s = strictUtf8.decode(buf.subarray(r.pos, end))
    } catch {
      s = utf8Decode(buf, r.pos, end)
    }
  } else {
    // ASCII fast path (through the cache of short strings), then strict UTF-8 for the rest.
    let p = r.pos
    let h = n
    for (; p < end; p++) {
      const b = buf[p] as number
      if (b >= 0x80) break
      h = (Math.imul(h, 31) + b) | 0
    }
    s = p === end ? shortAscii(buf, r.pos, end, h) : utf8Decode(buf, r.pos, end)
  }
  r.pos = end
  return s
}

/**
 * Short ASCII strings met lately, direct-mapped by a hash of their bytes: an op's field names, kinds,
 * channels and tags recur in every op, and one string object per such name (instead of a new one per
 * read) is cheaper to come by and keeps its hash for the Maps that key on it (a peer's batches decoded
 * and validated: 9.2 -> 6.5 us per op with this cache). A slot holds the last string that hashed to it;
 * a hit is checked byte for byte.
 */
const shortCache: (string | undefined)[] = new Array<string | undefined>(4096).fill(undefined)

function shortAscii(buf: Uint8Array, start: number, end: number, h: number): string {
  const slot = (h ^ (h >>> 12)) & 4095
  const hit = shortCache[slot]
  if (hit !== undefined && hit.length === end - start) {
    let i = 0
    while (i < hit.length && hit.charCodeAt(i) === buf[start + i]) i++
    if (i === hit.length) return hit
  }
  const s = asciiString(buf, start, end)
  shortCache[slot] = s
  return s
}

/** Strings up to this many bytes are decoded in JS (a native call costs more than the loop). */
const shortStringBytes = 16

/**
 * Strict UTF-8 (fatal: refuses exactly what utf8Decode refuses, codec.test.ts checks it) that keeps a
 * leading BOM as the code point it is.
 */
const strictUtf8 = new (
  // the WHATWG decoder every runtime this runs on has (Node, browsers, Deno), outside ECMAScript's lib
  (globalThis as unknown as { TextDecoder: new (label: string, o: { fatal: boolean; ignoreBOM: boolean }) => { decode(b: Uint8Array): string } })
    .TextDecoder
)('utf-8', { fatal: true, ignoreBOM: true })

function asciiString(buf: Uint8Array, start: number, end: number): string {
  return String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[])
}

function utf8Decode(buf: Uint8Array, start: number, end: number): string {
  const units: number[] = []
  let p = start
  while (p < end) {
    const b0 = buf[p++] as number
    if (b0 < 0x80) {
      units.push(b0)
      continue
    }
    let need: number
    let cp: number
    let min: number
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      need = 1
      cp = b0 & 0x1f
      min = 0x80
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      need = 2
      cp = b0 & 0x0f
      min = 0x800
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      need = 3
      cp = b0 & 0x07
      min = 0x10000
    } else {
      malformed('invalid UTF-8 lead byte')
    }
    if (p + need > end) malformed('truncated UTF-8 sequence')
    for (let k = 0; k < need; k++) {
      const b = buf[p++] as number
      if ((b & 0xc0) !== 0x80) malformed('invalid UTF-8 continuation byte')
      cp = (cp << 6) | (b & 0x3f)
    }
    if (cp < min) malformed('overlong UTF-8')
    if (cp >= 0xd800 && cp <= 0xdfff) malformed('UTF-8 encodes a surrogate')
    if (cp > 0x10ffff) malformed('code point beyond U+10FFFF')
    if (cp >= 0x10000) {
      cp -= 0x10000
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff))
    } else {
      units.push(cp)
    }
  }
  let s = ''
  for (let i = 0; i < units.length; i += 4096) s += String.fromCharCode.apply(null, units.slice(i, i + 4096))
  return s
}

/** Reads a node table; ids must be valid, distinct and strictly increasing (so the table is canonical). */
export function readNodeTable(r: Reader): NodeId[] {
  const n = readCount(r, 2)
  const nodes: NodeId[] = []
  let prev: string | undefined
  for (let i = 0; i < n; i++) {
    const s = readString(r)
    if (s.length === 0 || s.length > nodeIdCharsMax) malformed('invalid node id in the node table')
    if (prev !== undefined && !(prev < s)) malformed('node table not strictly sorted')
    nodes.push(s as NodeId)
    prev = s
  }
  if (r.nodes !== undefined) malformed('a state has one node table')
  r.nodes = nodes
  r.nodesUsed = new Uint8Array(nodes.length)
  return nodes
}

/** The node at a table index, marked as used. */
export function nodeAt(r: Reader, i: number): NodeId {
  const node = r.nodes?.[i]
  if (node === undefined) malformed(`node index ${i} is outside the node table`)
  ;(r.nodesUsed as Uint8Array)[i] = 1
  return node
}

/** Reads a node reference as a table index (no bytes when the table names one node; see the header). */
export function readNodeIndex(r: Reader): number {
  if (r.nodes === undefined) malformed('a node reference before the node table')
  return r.nodes.length === 1 ? 0 : readUvarint(r)
}

export function readNode(r: Reader): NodeId {
  return nodeAt(r, readNodeIndex(r))
}

/**
 * Runs a decoder over untrusted bytes: malformed input and trailing bytes become a typed failure.
 * Anything other than a DecodeError escaping a decoder is a bug and is rethrown.
 */
export function decodeWith<T>(bytes: Uint8Array, read: (r: Reader) => T): Result<T, DecodeFailure> {
  if (!(bytes instanceof Uint8Array)) return fail('malformed', 'input is not a Uint8Array')
  const r = createReader(bytes)
  try {
    const value = read(r)
    if (r.pos !== bytes.length) return fail('malformed', `${bytes.length - r.pos} trailing bytes`)
    if (r.nodesUsed?.includes(0)) return fail('malformed', 'the node table names a node the state does not use')
    return ok(value)
  } catch (e) {
    if (e instanceof DecodeError) return fail('malformed', e.message)
    throw e
  }
}

/** Encodes with a fresh writer. */
export function encodeWith(write: (w: Writer) => void, capacity = 64): Uint8Array {
  const w = createWriter(capacity)
  write(w)
  return finish(w)
}

/** Byte-wise order of two encodings; the canonical sort key for values that have no natural order. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.length - b.length
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
