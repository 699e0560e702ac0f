import assert from 'node:assert/strict'
import { generateKeyPairSync, verify } from 'node:crypto'
import { test } from 'node:test'
import fc from 'fast-check'
import * as core from '../core/index.ts'
import { fcParams, runDecoderFuzz } from '../core/crdt-laws.test-util.ts'
import { draft, encodedChain, signedChain, testSigner } from './log.test-util.ts'
import * as log from './index.ts'
import type { SignedOp } from './index.ts'

const alice = testSigner(0)
const bob = testSigner(1)

test('keys: raw bytes and KeyObjects name the same author; a raw seed and its KeyObject sign alike', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const fromKey = log.authorOf(publicKey)
  assert.ok(fromKey.ok)
  const raw = publicKey.export({ format: 'jwk' }).x as string
  const fromRaw = log.authorOf(Uint8Array.from(Buffer.from(raw, 'base64url')))
  assert.ok(fromRaw.ok)
  assert.equal(fromRaw.value, fromKey.value)
  const fromPrivate = log.authorOf(privateKey)
  assert.ok(fromPrivate.ok)
  assert.equal(fromPrivate.value, fromKey.value)

  const s1 = log.createSigner(privateKey)
  assert.ok(s1.ok)
  assert.equal(s1.value.author, fromKey.value)
  const seed = log.privateKeyBytes(privateKey)
  assert.equal(seed.length, 32)
  const s2 = log.createSigner(seed)
  assert.ok(s2.ok)
  assert.equal(s2.value.author, s1.value.author)
  const h = new Uint8Array(32).fill(7)
  assert.deepEqual(log.signHash(s1.value, h), log.signHash(s2.value, h)) // Ed25519 is deterministic
  assert.ok(log.publicKeyOf(s1.value.author).equals(publicKey))

  // the fixed test keys: the same seed is the same author on every run
  assert.equal(testSigner(0).author, alice.author)
  assert.notEqual(alice.author, bob.author)
})

test('keys: a seed signer signs as createSigner does, and a seed that is not the author\'s never signs', () => {
  const { privateKey } = generateKeyPairSync('ed25519')
  const seed = log.privateKeyBytes(privateKey)
  const eager = log.createSigner(seed)
  assert.ok(eager.ok)
  const lazy = log.seedSigner(seed, eager.value.author)
  assert.ok(lazy.ok)
  assert.equal(lazy.value.author, eager.value.author)
  seed.fill(0) // the signer keeps its own copy
  const h = new Uint8Array(32).fill(9)
  assert.deepEqual(log.signHash(lazy.value, h), log.signHash(eager.value, h))
  assert.equal(lazy.value.key, lazy.value.key, 'the key is made once')
  const wrong = log.seedSigner(log.privateKeyBytes(generateKeyPairSync('ed25519').privateKey), eager.value.author)
  assert.ok(wrong.ok, 'nothing is checked before it signs')
  assert.throws(() => log.signHash(wrong.value, h), /cannot sign as/)
  assert.equal((log.seedSigner(new Uint8Array(31), eager.value.author) as { reason?: string }).reason, 'invalid_key')
})

test('keys: anything but an Ed25519 key is refused as a value', () => {
  const x = generateKeyPairSync('x25519')
  assert.equal((log.authorOf(x.publicKey) as { reason?: string }).reason, 'invalid_key')
  assert.equal((log.createSigner(x.privateKey) as { reason?: string }).reason, 'invalid_key')
  const ed = generateKeyPairSync('ed25519')
  assert.equal((log.createSigner(ed.publicKey) as { reason?: string }).reason, 'invalid_key')
  assert.equal((log.createSigner(new Uint8Array(31)) as { reason?: string }).reason, 'invalid_key')
  assert.equal((log.authorOf(new Uint8Array(33)) as { reason?: string }).reason, 'invalid_key')
})

test('signatures: over "grapevine/op/v1\\n" + hash, verifiable with plain node:crypto; anything else fails', () => {
  const h = encodedChain(alice.author, undefined, 1)[0]!.hash
  const sig = log.signHash(alice, h)
  assert.equal(sig.length, 64)
  const message = Buffer.concat([Buffer.from('grapevine/op/v1\n'), h])
  assert.ok(verify(null, message, log.publicKeyOf(alice.author), sig), 'independent check')
  assert.ok(!verify(null, h, log.publicKeyOf(alice.author), sig), 'the bare hash is not what is signed')
  assert.ok(log.verifyHash(alice.author, h, sig))
  assert.ok(!log.verifyHash(bob.author, h, sig))
  assert.ok(!log.verifyHash(alice.author, new Uint8Array(32), sig))
  assert.ok(!log.verifyHash(alice.author, h, sig.subarray(0, 63)))
  assert.ok(!log.verifyHash(alice.author, h, new Uint8Array(64)))
  for (let i = 0; i < 64; i++) {
    const bad = Uint8Array.from(sig)
    bad[i]! ^= 0x10
    assert.ok(!log.verifyHash(alice.author, h, bad), `flipped signature byte ${i}`)
  }
  // a key that is not a curve point, or any 32 bytes at all: false, never a throw
  const odd = log.authorIdFromBytes(new Uint8Array(32).fill(0xff))
  assert.equal(log.verifyHash(odd, h, sig), false)
})

test('signOps: per_op signs every op; batch_head signs the last op of each batch, cut by count and bytes', () => {
  const ops = encodedChain(alice.author, undefined, 600)
  const every = log.signOps(alice, ops, 'per_op')
  assert.ok(every.every((e) => e.sig !== undefined && log.verifyHash(alice.author, e.hash, e.sig)))
  const heads = log.signOps(alice, ops)
  const signedAt = heads.flatMap((e, i) => (e.sig === undefined ? [] : [i + 1]))
  assert.deepEqual(signedAt, [256, 512, 600])
  assert.ok(heads.every((e, i) => e.hash === ops[i]!.hash && e.bytes === ops[i]!.bytes))

  // 60 KiB bodies: a 1 MiB batch holds 17 of them
  const big = log.createOps(
    alice.author,
    undefined,
    Array.from({ length: 40 }, (_, i) => ({ ...draft(i + 1), body: 'x'.repeat(60 * 1024) + i })),
  )
  assert.ok(big.ok)
  const bigHeads = log.signOps(alice, big.value)
  const at = bigHeads.flatMap((e, i) => (e.sig === undefined ? [] : [i + 1]))
  assert.deepEqual(at, [17, 34, 40])
  const { batches, rest } = log.cutBatches(bigHeads)
  assert.equal(rest.length, 0)
  for (const b of batches) assert.ok(log.encodeBatch(b).length <= log.batchBytesMax)

  assert.throws(() => log.signOps(bob, ops.slice(0, 1)), core.AssertionFailed)
  assert.throws(() => log.signOps(alice, [ops[0]!, ops[2]!]), core.AssertionFailed)
})

test('batches: decode(encode(b)) is b in both forms, and per_op costs 64 bytes an op more', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.constantFrom<log.SignScheme>('batch_head', 'per_op'),
      (n, scheme) => {
        const ops = signedChain(alice, n, { scheme })
        const bytes = log.encodeBatch(ops, scheme)
        const d = log.decodeBatch(bytes)
        assert.ok(d.ok, d.ok ? '' : d.detail)
        assert.equal(d.value.scheme, scheme)
        assert.equal(d.value.ops.length, n)
        d.value.ops.forEach((e, i) => {
          assert.deepEqual(e.bytes, ops[i]!.bytes)
          assert.deepEqual(e.hash, ops[i]!.hash)
          assert.deepEqual(e.sig, scheme === 'per_op' || i === n - 1 ? ops[i]!.sig : undefined)
        })
        assert.deepEqual(log.encodeBatch(d.value.ops, scheme), bytes)
        if (scheme === 'per_op') {
          assert.equal(bytes.length - log.encodeBatch(ops, 'batch_head').length, 64 * (n - 1))
        }
      },
    ),
    fcParams({ numRuns: 200 }),
  )
})

test('batches: refused whole when empty, over the limits, mixed or out of order', () => {
  const ops = signedChain(alice, 3, { scheme: 'per_op' })
  const reason = (b: Uint8Array): string => {
    const r = log.decodeBatch(b)
    return r.ok ? 'ok' : r.reason
  }
  assert.equal(reason(log.encodeBatch(ops)), 'ok')
  assert.equal(reason(Uint8Array.from([1, 0])), 'malformed')
  assert.equal(reason(Uint8Array.from([3, 1])), 'malformed')
  assert.equal(reason(Uint8Array.from([1, 0x81, 0x02])), 'too_large') // 257 ops
  assert.equal(reason(new Uint8Array(log.batchBytesMax + 1)), 'too_large')
  const other = signedChain(bob, 3, { scheme: 'per_op' })
  const mixed = log.encodeBatch([ops[0]!, other[1]!], 'per_op')
  assert.equal(reason(mixed), 'malformed')
  assert.equal(reason(log.encodeBatch([ops[0]!, ops[2]!], 'per_op')), 'malformed')
  assert.equal(reason(log.encodeBatch([ops[1]!, ops[0]!], 'per_op')), 'malformed')
  assert.throws(() => log.encodeBatch([]), core.AssertionFailed)
  assert.throws(() => log.encodeBatch(signedChain(alice, 3).slice(0, 2)), core.AssertionFailed) // unsigned head
  assert.throws(() => log.encodeBatch(signedChain(alice, 3), 'per_op'), core.AssertionFailed)
})

runDecoderFuzz(
  'batch',
  (bytes) => {
    const r = log.decodeBatch(bytes)
    return r.ok ? { ok: true, value: r.value } : r
  },
  (b: log.Batch) => log.encodeBatch(b.ops, b.scheme),
  fc
    .tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom<log.SignScheme>('batch_head', 'per_op'), fc.nat(2))
    .map(([n, scheme, who]) => log.encodeBatch(signedChain(testSigner(who), n, { scheme }), scheme)),
)

test('cutBatches: every batch ends at a signed op and fits; what follows the last signature stays', () => {
  const ops = signedChain(alice, 10, { scheme: 'per_op' })
  const strip = (xs: SignedOp[], keep: number[]): SignedOp[] =>
    xs.map((e, i) => (keep.includes(i + 1) ? e : { op: e.op, bytes: e.bytes, hash: e.hash }))
  const cut = log.cutBatches(strip(ops, [3, 4, 9]))
  assert.deepEqual(
    cut.batches.map((b) => b.map((e) => e.op.seq)),
    [[1, 2, 3, 4, 5, 6, 7, 8, 9]], // as long as the limits allow: fewer signatures to check
  )
  assert.deepEqual(
    cut.rest.map((e) => e.op.seq),
    [10],
  )
  for (const b of cut.batches) assert.ok(log.decodeBatch(log.encodeBatch(b)).ok)
  const long = log.signOps(alice, encodedChain(alice.author, undefined, 700))
  const c2 = log.cutBatches(long)
  assert.deepEqual(
    c2.batches.map((b) => b.length),
    [256, 256, 188],
  )
  assert.equal(log.cutBatches([]).batches.length, 0)
  assert.equal(log.cutBatches(strip(ops, [])).rest.length, 10)
})
