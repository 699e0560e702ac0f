import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { createFrameDecoder, encodeFrame, prefixBytes } from './frames.ts'

const concat = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** Cuts `bytes` at the given offsets (sorted, deduplicated, clamped). */
const cut = (bytes: Uint8Array, at: readonly number[]): Uint8Array[] => {
  const points = [...new Set(at.map((x) => x % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let from = 0
  for (const p of points) {
    out.push(bytes.slice(from, p))
    from = p
  }
  out.push(bytes.slice(from))
  return out
}

describe('frames', () => {
  it('decodes the frames of a stream cut at arbitrary boundaries (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (payloads, cuts) => {
          const stream = concat(payloads.map(encodeFrame))
          const d = createFrameDecoder(300)
          const got: Uint8Array[] = []
          for (const chunk of cut(stream, cuts)) {
            const r = d.push(chunk)
            assert.ok(r.ok)
            for (const f of r.value) got.push(f.slice())
          }
          assert.ok(d.end().ok)
          assert.equal(d.buffered(), 0)
          assert.deepEqual(got, payloads.map((p) => Uint8Array.from(p)))
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('one byte at a time gives the same frames', () => {
    const payloads = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(1000).fill(7)]
    const d = createFrameDecoder()
    const got: Uint8Array[] = []
    for (const b of concat(payloads.map(encodeFrame))) {
      const r = d.push(new Uint8Array([b]))
      assert.ok(r.ok)
      got.push(...r.value)
    }
    assert.deepEqual(got, payloads)
  })

  it('a prefix over the limit fails on its four bytes, before any payload is buffered', () => {
    const d = createFrameDecoder(1024)
    const prefix = new Uint8Array(prefixBytes)
    new DataView(prefix.buffer).setUint32(0, 0xffffffff, false)
    const r = d.push(prefix)
    assert.ok(!r.ok)
    assert.equal(r.reason, 'too_large')
    assert.match(r.detail, /4294967295 bytes, over the limit of 1024/)
    assert.equal(d.buffered(), 0)
    // failed for good: even a valid frame after it is refused
    const again = d.push(encodeFrame(new Uint8Array([1])))
    assert.ok(!again.ok && again.reason === 'too_large')
  })

  it('exactly the limit passes, one more byte fails', () => {
    assert.ok(createFrameDecoder(10).push(encodeFrame(new Uint8Array(10))).ok)
    const r = createFrameDecoder(10).push(encodeFrame(new Uint8Array(11)))
    assert.ok(!r.ok && r.reason === 'too_large')
  })

  it('a stream that ends inside a frame or a prefix is truncated; on a boundary it is fine', () => {
    const whole = encodeFrame(new Uint8Array(100))
    for (const cutAt of [1, 3, 4, 50, 103]) {
      const d = createFrameDecoder()
      assert.ok(d.push(whole.subarray(0, cutAt)).ok)
      const e = d.end()
      assert.ok(!e.ok && e.reason === 'truncated', `cut at ${cutAt}`)
    }
    const d = createFrameDecoder()
    assert.ok(d.push(whole).ok)
    assert.ok(d.end().ok)
  })

  it('random garbage never throws: it decodes or fails with a reason (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const d = createFrameDecoder(256)
        for (const c of chunks) {
          const r = d.push(c)
          if (!r.ok) {
            assert.ok(r.reason === 'too_large')
            break
          }
          for (const f of r.value) assert.ok(f.length <= 256)
        }
        assert.ok(d.buffered() <= prefixBytes + 256)
        d.end()
      }),
      { numRuns: 1000 },
    )
  })
})
