import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import fc from 'fast-check'
import * as core from '../core/index.ts'
import { fcParams, runDecoderFuzz } from '../core/crdt-laws.test-util.ts'
import { arbOp, encodedChain, t0Ms } from './log.test-util.ts'
import * as log from './index.ts'
import type { Op } from './index.ts'

const author = log.authorIdFromBytes(new Uint8Array(32).fill(0xab))

/** Field-wise equality of two ops (JSON bodies compared as JSON). */
function sameOp(a: Op, b: Op): boolean {
  return (
    a.author === b.author &&
    a.seq === b.seq &&
    (a.prev === undefined
      ? b.prev === undefined
      : b.prev !== undefined && core.codec.bytesEqual(a.prev, b.prev)) &&
    a.hlc.wallMs === b.hlc.wallMs &&
    a.hlc.logical === b.hlc.logical &&
    a.kind === b.kind &&
    core.json.equals(a.body, b.body) &&
    a.idempotencyKey === b.idempotencyKey
  )
}

test('op: golden bytes, checked against an independent encoder (the format is frozen)', () => {
  // Python: b'\x01' + b'\xab'*32 + uv(1) + uv(1700000000000) + uv(0) + uv(11) + b'fact.assert'
  //         + bytes([7,1,1]) + b'v' + bytes([3,2]) + uv(0)        (body {"v": 1}, no idempotency key)
  const one = log.createOp({
    author,
    seq: 1,
    hlc: { wallMs: t0Ms, logical: 0 },
    kind: 'fact.assert',
    body: { v: 1 },
  })
  assert.ok(one.ok)
  assert.equal(
    log.toHex(one.value.bytes),
    '01' +
      'ab'.repeat(32) +
      '01' +
      '80d095ffbc31' +
      '00' +
      '0b' +
      '666163742e617373657274' +
      '07010176' +
      '0302' +
      '00',
  )
  assert.equal(log.toHex(one.value.hash), 'a953cb701253d7413840f10998c1b96102ebf6a63d86b9f00f2bc00ab622a84a')
  assert.equal(log.toHex(one.value.hash), createHash('sha256').update(one.value.bytes).digest('hex'))
  const two = log.createOp({
    author,
    seq: 2,
    prev: one.value.hash,
    hlc: { wallMs: t0Ms, logical: 1 },
    kind: 'a',
    body: 'x',
    idempotencyKey: 'k',
  })
  assert.ok(two.ok)
  assert.equal(
    log.toHex(two.value.bytes),
    '01' +
      'ab'.repeat(32) +
      '02' +
      log.toHex(one.value.hash) +
      '80d095ffbc31' +
      '01' +
      '0161' +
      '050178' +
      '016b',
  )
})

test('op: decode(encode(op)) is the op, and encoding is deterministic', () => {
  fc.assert(
    fc.property(arbOp, (op) => {
      const bytes = log.encodeOp(op)
      const back = log.decodeOp(bytes)
      assert.ok(back.ok, back.ok ? '' : back.detail)
      assert.ok(sameOp(back.value, op))
      assert.ok(core.codec.bytesEqual(log.encodeOp(back.value), bytes))
      assert.ok(core.codec.bytesEqual(log.encodeOp(op), bytes), 'same op, different bytes')
      const c = log.createOp(op)
      assert.ok(c.ok && core.codec.bytesEqual(c.value.bytes, bytes))
      assert.equal(log.toHex(c.value.hash), createHash('sha256').update(bytes).digest('hex'))
      assert.ok(bytes.length <= log.opBytesMax)
    }),
    fcParams(),
  )
})

test('op: the same op built with its object keys in another order has the same bytes', () => {
  const a = log.encodeOp({
    author,
    seq: 1,
    hlc: { wallMs: 5, logical: 0 },
    kind: 'k',
    body: { b: 1, a: [2, { y: 1, x: 0 }] },
  })
  const b = log.encodeOp({
    kind: 'k',
    body: { a: [2, { x: 0, y: 1 }], b: 1 },
    hlc: { logical: 0, wallMs: 5 },
    seq: 1,
    author,
  })
  assert.ok(core.codec.bytesEqual(a, b))
})

runDecoderFuzz(
  'op',
  log.decodeOp,
  log.encodeOp,
  fc.oneof(
    arbOp.map((op) => log.encodeOp(op)),
    fc.constant(encodedChain(author, undefined, 2)[1]!.bytes),
  ),
)

test('op: createOp names the bad field, and sizes at the limits', () => {
  const base: Op = { author, seq: 1, hlc: { wallMs: 0, logical: 0 }, kind: 'fact.assert', body: null }
  const bad = (op: Op, reason: string, pattern: RegExp): void => {
    const r = log.createOp(op)
    assert.ok(!r.ok, `accepted ${JSON.stringify({ ...op, prev: undefined })}`)
    assert.equal(r.reason, reason)
    assert.match(r.detail, pattern)
    assert.throws(() => log.encodeOp(op), core.AssertionFailed)
  }
  assert.ok(log.createOp(base).ok)
  bad({ ...base, author: author.toUpperCase() as log.AuthorId }, 'invalid', /author/)
  bad({ ...base, seq: 0 }, 'invalid', /seq/)
  bad({ ...base, seq: 1.5 }, 'invalid', /seq/)
  bad({ ...base, prev: new Uint8Array(32) }, 'invalid', /no prev/)
  bad({ ...base, seq: 2 }, 'invalid', /prev/)
  bad({ ...base, seq: 2, prev: new Uint8Array(31) }, 'invalid', /prev/)
  bad({ ...base, hlc: { wallMs: -1, logical: 0 } }, 'invalid', /wallMs/)
  bad({ ...base, hlc: { wallMs: 0, logical: 2 ** 32 } }, 'invalid', /logical/)
  for (const kind of [
    '',
    'Fact.assert',
    'fact..assert',
    '.fact',
    'fact.',
    '1fact',
    'fact-assert',
    'fact assert',
    'a'.repeat(65),
  ]) {
    bad({ ...base, kind }, 'invalid', /kind/)
  }
  assert.ok(log.createOp({ ...base, kind: 'a'.repeat(64) }).ok)
  assert.ok(log.createOp({ ...base, kind: 'x1.y_2.z' }).ok)
  bad({ ...base, body: Number.NaN }, 'invalid', /body/)
  bad({ ...base, body: { a: undefined } as unknown as Op['body'] }, 'invalid', /body/)
  bad({ ...base, body: 'a\ud800' }, 'invalid', /body/)
  bad({ ...base, idempotencyKey: '' }, 'invalid', /idempotency/)
  bad({ ...base, idempotencyKey: 'a\udc00' }, 'invalid', /idempotency/)
  bad({ ...base, idempotencyKey: 'k'.repeat(257) }, 'invalid', /idempotency key is over 256 bytes/)
  bad({ ...base, idempotencyKey: 'é'.repeat(129) }, 'invalid', /over 256 bytes/) // 258 bytes of UTF-8
  assert.ok(log.createOp({ ...base, idempotencyKey: 'é'.repeat(128) }).ok)
  assert.ok(log.createOp({ ...base, idempotencyKey: '\ud83d\ude00'.repeat(64) }).ok) // 256 bytes

  // A string body of n ASCII bytes encodes as 1 tag byte + its uvarint length + n.
  const fits = 'x'.repeat(log.bodyBytesMax - 4)
  assert.equal(core.json.encode(fits).length, log.bodyBytesMax)
  const max: Op = {
    ...base,
    seq: Number.MAX_SAFE_INTEGER,
    prev: new Uint8Array(32),
    hlc: { wallMs: Number.MAX_SAFE_INTEGER, logical: core.hlc.logicalMax },
    kind: 'k'.repeat(64),
    body: fits,
    idempotencyKey: 'i'.repeat(256),
  }
  const big = log.createOp(max)
  assert.ok(big.ok)
  assert.equal(big.value.bytes.length, log.opBytesMax, 'opBytesMax is the largest op there is')
  assert.ok(log.decodeOp(big.value.bytes).ok)
  bad({ ...base, body: fits + 'x' }, 'too_large', /body/)
})

test('op: decodeOp refuses what is not exactly an op, with a typed reason', () => {
  const bytes = log.encodeOp({ author, seq: 1, hlc: { wallMs: 9, logical: 0 }, kind: 'k', body: 1 })
  const reason = (b: Uint8Array): string => {
    const r = log.decodeOp(b)
    return r.ok ? 'ok' : r.reason
  }
  assert.equal(reason(bytes), 'ok')
  assert.equal(reason(Uint8Array.from([2, ...bytes.subarray(1)])), 'malformed') // version
  assert.equal(reason(Uint8Array.from([...bytes, 0])), 'malformed') // trailing byte
  assert.equal(reason(bytes.subarray(0, bytes.length - 1)), 'malformed') // truncated
  const seq0 = Uint8Array.from(bytes)
  seq0[33] = 0
  assert.equal(reason(seq0), 'malformed')
  assert.equal(reason(new Uint8Array(log.opBytesMax + 1)), 'too_large')
  assert.equal(reason('not bytes' as unknown as Uint8Array), 'malformed')
  // a body over 64 KiB inside an op that is itself under opBytesMax
  const w = core.codec.createWriter()
  core.codec.writeByte(w, 1)
  for (let i = 0; i < 32; i++) core.codec.writeByte(w, 0)
  core.codec.writeUvarint(w, 1)
  core.codec.writeUvarint(w, 0)
  core.codec.writeUvarint(w, 0)
  core.codec.writeString(w, 'k')
  core.json.write(w, 'x'.repeat(log.bodyBytesMax))
  core.codec.writeString(w, '')
  const over = core.codec.finish(w)
  assert.ok(over.length <= log.opBytesMax)
  assert.equal(reason(over), 'too_large')
})

test('op: authors, dots and timestamps', () => {
  assert.ok(log.parseAuthorId(author).ok)
  for (const s of ['', 'ab', author.toUpperCase(), author + '0', 42]) assert.ok(!log.parseAuthorId(s).ok)
  assert.deepEqual(log.authorBytes(author), new Uint8Array(32).fill(0xab))
  const [e] = encodedChain(author, undefined, 1)
  assert.deepEqual(log.dotOf(e!.op), { node: author, seq: 1 })
  assert.deepEqual(log.timestampOf(e!.op), { wallMs: t0Ms + 1, logical: 0, node: author })
  assert.deepEqual(log.headOf(e!), { seq: 1, hash: e!.hash, hlc: e!.op.hlc })
  assert.ok(log.compareTime({ wallMs: 1, logical: 5 }, { wallMs: 2, logical: 0 }) < 0)
  assert.ok(log.compareTime({ wallMs: 2, logical: 1 }, { wallMs: 2, logical: 0 }) > 0)
})

test('op: createOps chains seq and prev after a head, and refuses a clock that does not move forward', () => {
  const ops = encodedChain(author, undefined, 3)
  assert.deepEqual(
    ops.map((e) => e.op.seq),
    [1, 2, 3],
  )
  assert.equal(ops[0]!.op.prev, undefined)
  assert.deepEqual(ops[1]!.op.prev, ops[0]!.hash)
  assert.deepEqual(ops[2]!.op.prev, ops[1]!.hash)
  const more = encodedChain(author, log.headOf(ops[2]!), 2)
  assert.equal(more[0]!.op.seq, 4)
  assert.deepEqual(more[0]!.op.prev, ops[2]!.hash)
  const d = { kind: 'k', body: null }
  const r = log.createOps(author, log.headOf(ops[2]!), [{ ...d, hlc: ops[2]!.op.hlc }])
  assert.ok(!r.ok && r.reason === 'invalid' && /not after/.test(r.detail))
  const s = log.createOps(author, undefined, [
    { ...d, hlc: { wallMs: 5, logical: 1 } },
    { ...d, hlc: { wallMs: 5, logical: 0 } },
  ])
  assert.ok(!s.ok && s.reason === 'invalid')
})
