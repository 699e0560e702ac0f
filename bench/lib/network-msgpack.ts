/**
 * The little MessagePack the Serf agent's RPC speaks (bench/lib/network-serf.ts): maps with string keys,
 * strings, byte strings, integers, booleans, nil, arrays, floats. Written for the benchmark (no MessagePack
 * package is installed); decoding is incremental, since RPC records arrive cut anywhere by TCP.
 */

export type Packable =
  null | boolean | number | string | Uint8Array | readonly Packable[] | { readonly [k: string]: Packable }

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

/** Encodes one value. Integers must be safe integers; other numbers are float64. */
export function encode(v: Packable): Uint8Array {
  const parts: Uint8Array[] = []
  const push = (...bytes: number[]): void => {
    parts.push(Uint8Array.from(bytes))
  }
  const lengthHeader = (
    n: number,
    fix: number | undefined,
    fixMax: number,
    c8: number | undefined,
    c16: number,
    c32: number,
  ): void => {
    if (fix !== undefined && n <= fixMax) push(fix | n)
    else if (c8 !== undefined && n < 0x100) push(c8, n)
    else if (n < 0x10000) push(c16, n >> 8, n & 0xff)
    else push(c32, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
  }
  const walk = (x: Packable): void => {
    if (x === null) push(0xc0)
    else if (x === true) push(0xc3)
    else if (x === false) push(0xc2)
    else if (typeof x === 'number') {
      if (Number.isSafeInteger(x) && x >= 0) {
        if (x < 0x80) push(x)
        else if (x < 0x100) push(0xcc, x)
        else if (x < 0x10000) push(0xcd, x >> 8, x & 0xff)
        else if (x < 0x1_0000_0000) push(0xce, (x >>> 24) & 0xff, (x >> 16) & 0xff, (x >> 8) & 0xff, x & 0xff)
        else {
          const b = new Uint8Array(9)
          b[0] = 0xcf
          new DataView(b.buffer).setBigUint64(1, BigInt(x))
          parts.push(b)
        }
      } else if (Number.isSafeInteger(x) && x >= -32) push(x & 0xff)
      else if (Number.isSafeInteger(x)) {
        const b = new Uint8Array(9)
        b[0] = 0xd3
        new DataView(b.buffer).setBigInt64(1, BigInt(x))
        parts.push(b)
      } else {
        const b = new Uint8Array(9)
        b[0] = 0xcb
        new DataView(b.buffer).setFloat64(1, x)
        parts.push(b)
      }
    } else if (typeof x === 'string') {
      const s = utf8.encode(x)
      lengthHeader(s.length, 0xa0, 31, 0xd9, 0xda, 0xdb)
      parts.push(s)
    } else if (x instanceof Uint8Array) {
      lengthHeader(x.length, undefined, 0, 0xc4, 0xc5, 0xc6)
      parts.push(x)
    } else if (Array.isArray(x)) {
      const xs = x as readonly Packable[]
      lengthHeader(xs.length, 0x90, 15, undefined, 0xdc, 0xdd)
      for (const e of xs) walk(e)
    } else {
      const entries = Object.entries(x as { readonly [k: string]: Packable })
      lengthHeader(entries.length, 0x80, 15, undefined, 0xde, 0xdf)
      for (const [k, e] of entries) {
        walk(k)
        walk(e)
      }
    }
  }
  walk(v)
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Thrown inside the decoder when the buffer ends mid-value: wait for more bytes. */
class Short extends Error {}

/** Decoded values: byte strings come back as Uint8Array, strings as string, maps as plain objects. */
export type Unpacked = null | boolean | number | string | Uint8Array | Unpacked[] | { [k: string]: Unpacked }

/**
 * An incremental decoder: push bytes as they arrive, take whole values out. A malformed stream (a type
 * byte MessagePack does not define) throws: the RPC connection is then useless.
 */
export function createDecoder(): { push(chunk: Uint8Array): void; next(): { value: Unpacked } | undefined } {
  let buf = new Uint8Array(0)
  let pos = 0
  const need = (n: number): void => {
    if (pos + n > buf.length) throw new Short()
  }
  const u8 = (): number => {
    need(1)
    return buf[pos++] as number
  }
  const view = (): DataView => new DataView(buf.buffer, buf.byteOffset, buf.length)
  const uint = (n: 1 | 2 | 4 | 8): number => {
    need(n)
    const dv = view()
    const v =
      n === 1
        ? dv.getUint8(pos)
        : n === 2
          ? dv.getUint16(pos)
          : n === 4
            ? dv.getUint32(pos)
            : Number(dv.getBigUint64(pos))
    pos += n
    return v
  }
  const int = (n: 1 | 2 | 4 | 8): number => {
    need(n)
    const dv = view()
    const v =
      n === 1
        ? dv.getInt8(pos)
        : n === 2
          ? dv.getInt16(pos)
          : n === 4
            ? dv.getInt32(pos)
            : Number(dv.getBigInt64(pos))
    pos += n
    return v
  }
  const bytes = (n: number): Uint8Array => {
    need(n)
    const b = buf.slice(pos, pos + n)
    pos += n
    return b
  }
  const str = (n: number): string => fromUtf8.decode(bytes(n))
  const arr = (n: number): Unpacked[] => Array.from({ length: n }, () => value())
  const map = (n: number): { [k: string]: Unpacked } => {
    const o: { [k: string]: Unpacked } = {}
    for (let i = 0; i < n; i++) {
      const k = value()
      o[k instanceof Uint8Array ? fromUtf8.decode(k) : String(k)] = value()
    }
    return o
  }
  const value = (): Unpacked => {
    const t = u8()
    if (t < 0x80) return t
    if (t >= 0xe0) return t - 0x100
    if (t >= 0x80 && t <= 0x8f) return map(t & 0x0f)
    if (t >= 0x90 && t <= 0x9f) return arr(t & 0x0f)
    if (t >= 0xa0 && t <= 0xbf) return str(t & 0x1f)
    switch (t) {
      case 0xc0:
        return null
      case 0xc2:
        return false
      case 0xc3:
        return true
      case 0xc4:
        return bytes(uint(1))
      case 0xc5:
        return bytes(uint(2))
      case 0xc6:
        return bytes(uint(4))
      case 0xca: {
        need(4)
        const v = view().getFloat32(pos)
        pos += 4
        return v
      }
      case 0xcb: {
        need(8)
        const v = view().getFloat64(pos)
        pos += 8
        return v
      }
      case 0xcc:
        return uint(1)
      case 0xcd:
        return uint(2)
      case 0xce:
        return uint(4)
      case 0xcf:
        return uint(8)
      case 0xd0:
        return int(1)
      case 0xd1:
        return int(2)
      case 0xd2:
        return int(4)
      case 0xd3:
        return int(8)
      case 0xd9:
        return str(uint(1))
      case 0xda:
        return str(uint(2))
      case 0xdb:
        return str(uint(4))
      case 0xdc:
        return arr(uint(2))
      case 0xdd:
        return arr(uint(4))
      case 0xde:
        return map(uint(2))
      case 0xdf:
        return map(uint(4))
      // ext types (fixext 1..16, ext 8/16/32): skipped as their raw bytes
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8: {
        const n = 1 << (t - 0xd4)
        uint(1)
        return bytes(n)
      }
      case 0xc7:
      case 0xc8:
      case 0xc9: {
        const n = uint(t === 0xc7 ? 1 : t === 0xc8 ? 2 : 4)
        uint(1)
        return bytes(n)
      }
      default:
        throw new Error(`msgpack: type byte 0x${t.toString(16)} is not MessagePack`)
    }
  }
  return {
    push(chunk) {
      const rest = buf.subarray(pos)
      const next = new Uint8Array(rest.length + chunk.length)
      next.set(rest)
      next.set(chunk, rest.length)
      buf = next
      pos = 0
    },
    next() {
      const start = pos
      try {
        return { value: value() }
      } catch (e) {
        if (e instanceof Short) {
          pos = start
          return undefined
        }
        throw e
      }
    },
  }
}
