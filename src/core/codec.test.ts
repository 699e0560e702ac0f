import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import * as codec from './codec.ts'
import { fcParams, runDecoderFuzz } from './crdt-laws.test-util.ts'
import * as json from './json.ts'

const roundTrip = <T>(write: (w: codec.Writer, v: T) => void, read: (r: codec.Reader) => T, v: T): T => {
  const bytes = codec.encodeWith((w) => write(w, v))
  const r = codec.decodeWith(bytes, read)
  assert.ok(r.ok, r.ok ? '' : r.detail)
  return r.value
}

test('codec: uvarint and svarint round-trip every safe integer, and reject non-minimal forms', () => {
  fc.assert(
    fc.property(fc.maxSafeNat(), fc.integer({ min: -codec.svarintAbsMax, max: codec.svarintAbsMax }), (u, s) => {
      assert.equal(roundTrip(codec.writeUvarint, codec.readUvarint, u), u)
      assert.equal(roundTrip(codec.writeSvarint, codec.readSvarint, s), s)
    }),
    fcParams(),
  )
  assert.ok(!codec.decodeWith(Uint8Array.from([0x80, 0x00]), codec.readUvarint).ok) // 0 written in 2 bytes
  assert.ok(!codec.decodeWith(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), codec.readUvarint).ok) // 2^56-1
  assert.ok(!codec.decodeWith(Uint8Array.from([0x80]), codec.readUvarint).ok)
  assert.throws(() => codec.encodeWith((w) => codec.writeUvarint(w, -1)), RangeError)
  assert.throws(() => codec.encodeWith((w) => codec.writeSvarint(w, 2 ** 52)), RangeError)
})

test('codec: strings are exactly UTF-8 (Buffer is the oracle) and round-trip', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
      const bytes = codec.encodeWith((w) => codec.writeString(w, s))
      const r = codec.createReader(bytes)
      const len = codec.readUvarint(r)
      assert.deepEqual(Buffer.from(bytes.subarray(r.pos)), Buffer.from(s, 'utf8'))
      assert.equal(len, Buffer.byteLength(s, 'utf8'))
      assert.equal(roundTrip(codec.writeString, codec.readString, s), s)
    }),
    fcParams(),
  )
  assert.throws(() => codec.utf8Encode('a\ud800b'), /lone surrogate/)
  assert.equal(codec.isWellFormed('a\ud800b'), false)
})

/**
 * A string field of `payload` (under 128 bytes) read by the codec, and what a fatal TextDecoder makes of
 * the payload (undefined: it refuses it). ignoreBOM: the codec keeps every code point, a leading BOM too.
 */
function readBoth(payload: Uint8Array): { r: ReturnType<typeof codec.decodeWith<string>>; expected: string | undefined } {
  const bytes = Uint8Array.from([payload.length, ...payload])
  let expected: string | undefined
  try {
    expected = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(payload)
  } catch {
    expected = undefined
  }
  return { r: codec.decodeWith(bytes, codec.readString), expected }
}

test('codec: the string decoder rejects exactly what a fatal TextDecoder rejects', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 12 }), (payload) => {
      const { r, expected } = readBoth(payload)
      assert.equal(r.ok ? r.value : undefined, expected)
    }),
    fcParams({ numRuns: 20_000 }),
  )
})

test('codec: long strings (the native decoder\'s path) are refused and read exactly as by a fatal TextDecoder', () => {
  const valid = fc.string({ unit: 'binary', minLength: 6, maxLength: 30 }).map((t) => new TextEncoder().encode(t))
  // valid text with one byte changed (most such bytes break it: the refusal path), or random bytes
  const bent = fc
    .tuple(valid, fc.nat(), fc.integer({ min: 0, max: 255 }))
    .map(([b, at, v]) => {
      const c = b.slice()
      if (c.length > 0) c[at % c.length] = v
      return c
    })
  fc.assert(
    fc.property(fc.oneof(valid, bent, fc.uint8Array({ minLength: 17, maxLength: 100 })), (payload) => {
      fc.pre(payload.length > 16 && payload.length < 128)
      const { r, expected } = readBoth(payload)
      assert.equal(r.ok ? r.value : undefined, expected)
      if (!r.ok) assert.match(r.detail, /UTF-8|surrogate|U\+10FFFF/, 'a refusal says what is wrong with the bytes')
    }),
    fcParams({ numRuns: 5_000 }),
  )
})

test('codec: short strings read through the cache are always the bytes read, whatever was cached before', () => {
  // 5000 distinct short strings fill and overwrite the 4096 slots many times over; each is read twice,
  // once cold and once after others may have taken its slot
  const words = Array.from({ length: 5000 }, (_, i) => `k${(i * 7919).toString(36)}${'x'.repeat(i % 9)}`)
  const enc = (t: string): Uint8Array => codec.encodeWith((w) => codec.writeString(w, t))
  for (const order of [words, [...words].reverse(), words]) {
    for (const t of order) {
      const r = codec.decodeWith(enc(t), codec.readString)
      assert.ok(r.ok && r.value === t, `read ${r.ok ? r.value : r.detail} for ${t}`)
    }
  }
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'grapheme-ascii', maxLength: 16 }), { maxLength: 50 }), (ts) => {
      for (const t of [...ts, ...ts]) {
        const r = codec.decodeWith(enc(t), codec.readString)
        assert.equal(r.ok ? r.value : undefined, t)
      }
    }),
    fcParams({ numRuns: 2_000 }),
  )
})

test('codec: sorted keys round-trip with shared prefixes, never splitting a surrogate pair', () => {
  const unit = fc.constantFrom('a', 'b', '\u00e9', '\ud83d\ude00', '\ud83d\ude01', '\ud83e\udd14')
  fc.assert(
    fc.property(fc.uniqueArray(fc.array(unit, { maxLength: 6 }).map((u) => u.join('')), { maxLength: 12 }), (keys) => {
      keys.sort()
      const bytes = codec.encodeWith((w) => {
        let prev = ''
        for (const k of keys) {
          codec.writeSortedKey(w, prev, k)
          prev = k
        }
      })
      const back = codec.decodeWith(bytes, (r) => {
        const out: string[] = []
        let prev: string | undefined
        for (let i = 0; i < keys.length; i++) out.push((prev = codec.readSortedKey(r, prev)))
        return out
      })
      assert.ok(back.ok, back.ok ? '' : back.detail)
      assert.deepEqual(back.value, keys)
    }),
    fcParams(),
  )
  // a prefix that splits a pair would leave a lone surrogate: it is cut back to the pair's start
  assert.equal(codec.sharedPrefix('\ud83d\ude00', '\ud83d\ude01'), 0)
  assert.equal(codec.sharedPrefix('k1000', 'k1001'), 4)
})

const arbJson: fc.Arbitrary<json.Json> = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as json.Json)

test('json: decode(encode(v)) ≡ v, key order does not matter, and isJson accepts it', () => {
  fc.assert(
    fc.property(arbJson, (v) => {
      assert.ok(json.isJson(v))
      const r = json.encode(v)
      const back = codec.decodeWith(r, json.read)
      assert.ok(back.ok && json.equals(back.value, v))
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const reversed = Object.fromEntries(Object.entries(v).reverse()) as json.Json
        assert.ok(codec.bytesEqual(json.encode(reversed), r))
      }
    }),
    fcParams(),
  )
})

test('json: isJson rejects what has no canonical form', () => {
  // eslint-disable-next-line no-sparse-arrays -- reason: a sparse array is the case under test
  for (const bad of [[, 1], NaN, Infinity, undefined, () => 1, new Date(0), 'x\udc00', { a: [1, 2, Symbol('s')] }, new Map()]) {
    assert.equal(json.isJson(bad), false, String(bad))
  }
  let deep: json.Json = 1
  for (let i = 0; i < 70; i++) deep = [deep]
  assert.equal(json.isJson(deep), false)
  assert.throws(() => json.encode(deep), /depthMax/)
  const nested = Uint8Array.from([...Array<number>(70).fill(6).flatMap((t) => [t, 1]), 0])
  const r = codec.decodeWith(nested, json.read)
  assert.ok(!r.ok && /depth/.test(r.detail))
})

test('json: a float tag on an integer, NaN or -0 is non-canonical and rejected; __proto__ stays a key', () => {
  const f = (x: number): Uint8Array => {
    const b = new Uint8Array(9)
    b[0] = 4
    new DataView(b.buffer).setFloat64(1, x, true)
    return b
  }
  for (const x of [1, NaN, Infinity, -0]) assert.ok(!codec.decodeWith(f(x), json.read).ok, String(x))
  assert.ok(codec.decodeWith(f(1.5), json.read).ok)
  assert.ok(codec.decodeWith(f(2 ** 60), json.read).ok)
  for (const big of [2 ** 60, -(2 ** 53), Number.MAX_SAFE_INTEGER]) {
    const back = codec.decodeWith(json.encode(big), json.read)
    assert.ok(back.ok && back.value === big)
  }
  const proto = json.encode(JSON.parse('{"__proto__":{"polluted":true}}') as json.Json)
  const back = codec.decodeWith(proto, json.read)
  assert.ok(back.ok)
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined)
  assert.deepEqual(Object.keys(back.value as object), ['__proto__'])
})

runDecoderFuzz('json', (b) => codec.decodeWith(b, json.read), json.encode, arbJson.map(json.encode))
