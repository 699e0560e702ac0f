/**
 * JSON values: what registers and maps hold. Canonical binary form, one tag byte then the payload:
 *   0 null | 1 false | 2 true
 *   3 integer: svarint, for every integer of magnitude <= 2^52-1 (so 1 and 1.0 are one value; -0 is
 *     written as 0)
 *   4 float: f64, for every other finite number (a float tag on an integer of magnitude <= 2^52-1, on
 *     -0, NaN or an infinity is malformed)
 *   5 string | 6 array: count, items | 7 object: count, then key/value pairs with keys strictly
 *     increasing in UTF-16 code unit order (no duplicates)
 * Nesting is bounded by `depthMax`.
 */
import type { Reader, Writer } from './codec.ts'
import * as codec from './codec.ts'

export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json }

/** Is this a JSON value the core can hold: finite numbers, well-formed strings, plain data, bounded depth. */
export function isJson(v: unknown, depth = 0): v is Json {
  if (depth > codec.depthMax) return false
  if (v === null || typeof v === 'boolean') return true
  if (typeof v === 'number') return Number.isFinite(v)
  if (typeof v === 'string') return codec.isWellFormed(v)
  if (Array.isArray(v)) {
    // a for loop, not every(): every() skips the holes of a sparse array, which has no JSON form
    for (let i = 0; i < v.length; i++) if (!(i in v) || !isJson(v[i], depth + 1)) return false
    return true
  }
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v) as unknown
    if (proto !== Object.prototype && proto !== null) return false
    for (const [k, x] of Object.entries(v)) if (!codec.isWellFormed(k) || !isJson(x, depth + 1)) return false
    return true
  }
  return false
}

function isSmallInteger(v: number): boolean {
  return Number.isInteger(v) && Math.abs(v) <= codec.svarintAbsMax
}

export function write(w: Writer, v: Json, depth = 0): void {
  if (depth > codec.depthMax) throw new RangeError('json: nested deeper than depthMax')
  if (v === null) return codec.writeByte(w, 0)
  if (v === false) return codec.writeByte(w, 1)
  if (v === true) return codec.writeByte(w, 2)
  if (typeof v === 'number') {
    if (isSmallInteger(v)) {
      codec.writeByte(w, 3)
      return codec.writeSvarint(w, v === 0 ? 0 : v)
    }
    if (!Number.isFinite(v)) throw new RangeError('json: numbers must be finite')
    codec.writeByte(w, 4)
    return codec.writeF64(w, v)
  }
  if (typeof v === 'string') {
    codec.writeByte(w, 5)
    return codec.writeString(w, v)
  }
  if (Array.isArray(v)) {
    codec.writeByte(w, 6)
    codec.writeUvarint(w, v.length)
    for (const x of v as readonly Json[]) write(w, x, depth + 1)
    return
  }
  const obj = v as { readonly [key: string]: Json }
  const keys = Object.keys(obj).sort()
  codec.writeByte(w, 7)
  codec.writeUvarint(w, keys.length)
  for (const k of keys) {
    codec.writeString(w, k)
    write(w, obj[k] as Json, depth + 1)
  }
}

export function read(r: Reader, depth = 0): Json {
  if (depth > codec.depthMax) codec.malformed('json nested deeper than depthMax')
  const tag = codec.readByte(r)
  switch (tag) {
    case 0:
      return null
    case 1:
      return false
    case 2:
      return true
    case 3:
      return codec.readSvarint(r)
    case 4: {
      const x = codec.readF64(r)
      if (!Number.isFinite(x) || isSmallInteger(x) || Object.is(x, -0)) {
        codec.malformed('non-canonical float')
      }
      return x
    }
    case 5:
      return codec.readString(r)
    case 6: {
      const n = codec.readCount(r)
      const out: Json[] = []
      for (let i = 0; i < n; i++) out.push(read(r, depth + 1))
      return out
    }
    case 7: {
      const n = codec.readCount(r, 2)
      const out: Record<string, Json> = {}
      let prev: string | undefined
      for (let i = 0; i < n; i++) {
        const k = codec.readString(r)
        if (prev !== undefined && !(prev < k)) codec.malformed('object keys not strictly sorted')
        prev = k
        const v = read(r, depth + 1)
        // a key named __proto__ must stay data, never change the prototype: define it; assign the rest (fast)
        if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true })
        else out[k] = v
      }
      return out
    }
    default:
      return codec.malformed(`unknown json tag ${tag}`)
  }
}

export function encode(v: Json): Uint8Array {
  return codec.encodeWith((w) => write(w, v))
}

/** Deep equality with JSON semantics (object key order does not matter; -0 equals 0). */
export function equals(a: Json, b: Json): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!equals(a[i] as Json, b[i] as Json)) return false
    return true
  }
  if (Array.isArray(b)) return false
  const ao = a as { readonly [key: string]: Json }
  const bo = b as { readonly [key: string]: Json }
  const ka = Object.keys(ao)
  if (ka.length !== Object.keys(bo).length) return false
  for (const k of ka) if (!Object.hasOwn(bo, k) || !equals(ao[k] as Json, bo[k] as Json)) return false
  return true
}

/** A total order on values (by canonical bytes), for deterministic tiebreaks. Fast for primitives. */
export function compare(a: Json, b: Json): number {
  if (a === b) return 0
  return codec.compareBytes(encode(a), encode(b))
}
