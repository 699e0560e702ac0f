import assert from 'node:assert/strict'
import { randomBytes, verify } from 'node:crypto'
import { test } from 'node:test'
import fc from 'fast-check'
import { fcParams } from '../core/crdt-laws.test-util.ts'
import { createMemoryLog, encodedChain, signedChain, t0Ms, testSigner } from './log.test-util.ts'
import type { MemoryLog } from './log.test-util.ts'
import * as log from './index.ts'
import type { SignedOp, Validation } from './index.ts'

const alice = testSigner(0)
const bob = testSigner(1)
const now = { nowMs: t0Ms + 1_000_000 }

function reasonOf(v: Validation): string {
  return v.ok ? 'ok' : v.reason
}

/** A memory log that already holds alice's ops 1..n of the given chain. */
function holding(chain: readonly SignedOp[], n: number, opts: { hashAt?: boolean } = {}): MemoryLog {
  const m = createMemoryLog(opts)
  if (n === 0) return m
  const first = log.cutBatches(log.signOps(alice, chain.slice(0, n)))
  for (const b of first.batches) {
    const v = log.validateOps(b, m.view, now)
    assert.ok(v.ok, v.ok ? '' : v.detail)
    m.store(v)
  }
  return m
}

/** Ops from..to (1-based, inclusive) with only the last one signed, as a batch_head sender sends them. */
function run(chain: readonly SignedOp[], from: number, to: number): SignedOp[] {
  const xs = chain.slice(from - 1, to)
  return xs.map((e, i) =>
    i === xs.length - 1
      ? { ...e, sig: log.signHash(alice, e.hash) }
      : { op: e.op, bytes: e.bytes, hash: e.hash },
  )
}

test('validate: a chain arrives in batches of either form, from bytes', () => {
  const m = createMemoryLog()
  const ops = signedChain(alice, 50, { scheme: 'per_op' })
  let next = 0
  for (const [size, scheme] of [
    [1, 'batch_head'],
    [16, 'batch_head'],
    [3, 'per_op'],
    [20, 'batch_head'],
    [10, 'per_op'],
  ] as const) {
    const batch = scheme === 'per_op' ? ops.slice(next, next + size) : run(ops, next + 1, next + size)
    const v = log.validateBatch(log.encodeBatch(batch, scheme), m.view, now)
    assert.ok(v.ok, v.ok ? '' : v.detail)
    assert.equal(v.author, alice.author)
    assert.equal(v.ops.length, size)
    assert.equal(v.duplicates, 0)
    assert.equal(v.head.seq, next + size)
    assert.deepEqual(v.head.hash, ops[next + size - 1]!.hash)
    m.store(v)
    next += size
  }
  assert.equal(m.ops.get(alice.author)!.length, 50)
})

test('validate: flipping any bit of any byte of a signed batch gets it refused', () => {
  const chain = signedChain(alice, 6, { scheme: 'per_op' })
  const cases: { name: string; bytes: Uint8Array; m: MemoryLog }[] = [
    { name: 'batch_head from empty', bytes: log.encodeBatch(run(chain, 1, 3)), m: createMemoryLog() },
    { name: 'per_op from empty', bytes: log.encodeBatch(chain.slice(0, 3), 'per_op'), m: createMemoryLog() },
    { name: 'batch_head after a head', bytes: log.encodeBatch(run(chain, 4, 6)), m: holding(chain, 3) },
    {
      name: 'batch_head overlapping the head',
      bytes: log.encodeBatch(run(chain, 2, 5)),
      m: holding(chain, 3),
    },
  ]
  for (const c of cases) {
    assert.ok(log.validateBatch(c.bytes, c.m.view, now).ok, c.name)
    for (let i = 0; i < c.bytes.length; i++) {
      for (const mask of [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff]) {
        const bad = Uint8Array.from(c.bytes)
        bad[i]! ^= mask
        const v = log.validateBatch(bad, c.m.view, now)
        assert.ok(!v.ok, `${c.name}: byte ${i} ^ 0x${mask.toString(16)} accepted`)
      }
    }
  }
})

test('validate: batch_head accepts exactly the chains whose head signature verifies (node:crypto is the oracle)', () => {
  const eve = testSigner(4)
  const chains = [1, 2, 7].map((n) => encodedChain(alice.author, undefined, n))
  const domain = Buffer.from('grapevine/op/v1\n')
  fc.assert(
    fc.property(fc.nat(chains.length - 1), fc.nat(5), fc.nat(63), (which, variant, at) => {
      const ops = chains[which]!
      const head = ops[ops.length - 1]!
      let sig: Uint8Array
      if (variant === 0) sig = log.signHash(alice, head.hash)
      else if (variant === 1)
        sig = log.signHash(eve, head.hash) // another key
      else if (variant === 2)
        sig = log.signHash(alice, ops[0]!.hash) // the right key, another op
      else if (variant === 3) sig = Uint8Array.from(randomBytes(64))
      else if (variant === 4) {
        sig = Uint8Array.from(log.signHash(alice, head.hash))
        sig[at]! ^= 1 << (at % 8)
      } else sig = log.signHash(alice, Uint8Array.from(head.hash).reverse())
      const batch: SignedOp[] = [...ops.slice(0, -1), { ...head, sig }]
      const oracle = verify(null, Buffer.concat([domain, head.hash]), log.publicKeyOf(alice.author), sig)
      const v = log.validateOps(batch, createMemoryLog().view, now)
      assert.equal(v.ok, oracle, `variant ${variant}: ${reasonOf(v)}`)
      if (!v.ok) assert.equal(v.reason, 'bad_signature')
      const b = log.validateBatch(log.encodeBatch(batch), createMemoryLog().view, now)
      assert.equal(b.ok, oracle)
    }),
    fcParams({ numRuns: 300 }),
  )
})

test('validate: any delivery order, with duplicates, ends with the whole chain and never a false fork', () => {
  const chain = encodedChain(alice.author, undefined, 30)
  // ranges [from, to] as a batch_head sender cuts them: each ends at a signed op
  const arbRange = fc
    .tuple(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 12 }))
    .map(([from, len]) => {
      const to = Math.min(30, from + len)
      return [from, to] as const
    })
  fc.assert(
    fc.property(fc.array(arbRange, { maxLength: 25 }), fc.boolean(), (ranges, hashAt) => {
      const m = createMemoryLog({ hashAt })
      for (const [from, to] of ranges) {
        const held = m.ops.get(alice.author)?.length ?? 0
        const v = log.validateOps(run(chain, from, to), m.view, now)
        const expected = from > held + 1 ? 'gap' : to <= held ? 'duplicate' : 'ok'
        assert.equal(reasonOf(v), expected, `[${from}..${to}] on ${held} held`)
        if (v.ok) {
          assert.equal(v.duplicates, held - from + 1 > 0 ? held - from + 1 : 0)
          assert.equal(v.ops[0]!.op.seq, held + 1)
          m.store(v)
        }
      }
      const held = m.ops.get(alice.author)?.length ?? 0
      if (held < 30) {
        const v = log.validateOps(run(chain, held + 1, 30), m.view, now)
        assert.ok(v.ok)
        m.store(v)
      }
      assert.deepEqual(
        m.ops.get(alice.author)!.map((e) => e.hash),
        chain.map((e) => e.hash),
      )
    }),
    fcParams({ numRuns: 200 }),
  )
})

test('validate: gap, duplicate and overlap against the head', () => {
  const chain = encodedChain(alice.author, undefined, 8) as SignedOp[]
  const m = holding(chain, 4)
  const gap = log.validateOps(run(chain, 6, 8), m.view, now)
  assert.equal(reasonOf(gap), 'gap')
  assert.match((gap as { detail: string }).detail, /next op of this author is seq 5/)
  assert.equal(reasonOf(log.validateOps(run(chain, 1, 4), m.view, now)), 'duplicate')
  assert.equal(reasonOf(log.validateOps(run(chain, 2, 3), m.view, now)), 'duplicate')
  // a duplicate is not worth a signature check: it is recognised by hash alone
  const resent = run(chain, 3, 4).map((e) => ({ ...e, sig: undefined }))
  assert.equal(reasonOf(log.validateOps(resent, m.view, now)), 'duplicate')
  const overlap = log.validateOps(run(chain, 3, 6), m.view, now)
  assert.ok(overlap.ok)
  assert.equal(overlap.duplicates, 2)
  assert.deepEqual(
    overlap.ops.map((e) => e.op.seq),
    [5, 6],
  )
  assert.ok(overlap.ops[1]!.sig !== undefined)
  assert.equal(reasonOf(log.validateOps(run(chain, 1, 1), createMemoryLog().view, now)), 'ok')
  assert.equal(reasonOf(log.validateOps(run(chain, 2, 2), createMemoryLog().view, now)), 'gap')
})

test('validate: a fork (the same author signs two ops with one seq) is reported with both hashes', () => {
  const a = encodedChain(alice.author, undefined, 6, 'a') as SignedOp[]
  const head3 = log.headOf(a[2]!)
  const b = [...a.slice(0, 3), ...encodedChain(alice.author, head3, 3, 'b')] as SignedOp[] // b shares 1..3, differs at 4
  assert.notDeepEqual(a[3]!.hash, b[3]!.hash)

  // (1) the receiver holds a's 1..4; b's op 4 arrives (the copied key wrote it on another machine)
  const m = holding(a, 4)
  const v = log.validateOps(run(b, 4, 4), m.view, now)
  assert.equal(reasonOf(v), 'fork')
  if (v.ok || v.reason !== 'fork') return
  assert.equal(v.fork.author, alice.author)
  assert.equal(v.fork.seq, 4)
  assert.deepEqual(v.fork.known, a[3]!.hash)
  assert.deepEqual(v.fork.received, b[3]!.hash)

  // (2) the receiver holds a's 1..4; b's 5..6 arrive: b's op 5 names a different op 4 as its prev
  const w = log.validateOps(run(b, 5, 6), m.view, now)
  assert.ok(!w.ok && w.reason === 'fork')
  assert.equal(w.fork.seq, 4)
  assert.deepEqual(w.fork.known, a[3]!.hash)
  assert.deepEqual(w.fork.received, b[3]!.hash)

  // (3) below the head: the receiver holds a's 1..6; b's 2..4 arrive
  const m6 = holding(a, 6)
  const x = log.validateOps(run(b, 2, 4), m6.view, now)
  assert.ok(!x.ok && x.reason === 'fork')
  assert.equal(x.fork.seq, 4)
  // without hashAt the receiver cannot tell: a duplicate, as far as it knows
  assert.equal(
    reasonOf(log.validateOps(run(b, 2, 4), holding(a, 6, { hashAt: false }).view, now)),
    'duplicate',
  )
  // overlapping the head: b's 3..5 on a's 1..4
  const y = log.validateOps(run(b, 3, 5), m.view, now)
  assert.ok(!y.ok && y.reason === 'fork')
  assert.equal(y.fork.seq, 4)

  // (4) no one can forge a fork on alice: the same ops signed by another key are a bad signature
  const forged = run(b, 4, 4).map((e) => ({ ...e, sig: log.signHash(bob, e.hash) }))
  assert.equal(reasonOf(log.validateOps(forged, m.view, now)), 'bad_signature')
  const unsigned = run(b, 4, 4).map((e) => ({ op: e.op, bytes: e.bytes, hash: e.hash }))
  assert.equal(reasonOf(log.validateOps(unsigned, m.view, now)), 'bad_signature')
})

test('validate: a broken chain inside a batch is bad_prev, whoever signed it', () => {
  const a = encodedChain(alice.author, undefined, 4, 'a')
  const b = encodedChain(alice.author, undefined, 4, 'b')
  const broken = [a[0]!, a[1]!, { ...b[2]!, sig: log.signHash(alice, b[2]!.hash) }] // b's op 3 names b's op 2
  assert.equal(reasonOf(log.validateOps(broken, createMemoryLog().view, now)), 'bad_prev')
  const bytes = log.encodeBatch(broken)
  assert.equal(reasonOf(log.validateBatch(bytes, createMemoryLog().view, now)), 'bad_prev')
})

test('validate: signatures: the head must be signed, and every signature carried must verify', () => {
  const ops = signedChain(alice, 4, { scheme: 'per_op' })
  assert.ok(log.validateOps(ops, createMemoryLog().view, now).ok)
  const badMiddle = ops.map((e, i) => (i === 1 ? { ...e, sig: log.signHash(bob, e.hash) } : e))
  const v = log.validateOps(badMiddle, createMemoryLog().view, now)
  assert.ok(!v.ok && v.reason === 'bad_signature' && /seq 2/.test(v.detail))
  const noHead = ops.map((e, i) => (i === 3 ? { op: e.op, bytes: e.bytes, hash: e.hash } : e))
  const u = log.validateOps(noHead, createMemoryLog().view, now)
  assert.ok(!u.ok && u.reason === 'bad_signature' && /unsigned/.test(u.detail))
})

test('validate: clocks: an author whose clock goes back, or runs far ahead of ours', () => {
  const back = log.createOps(alice.author, undefined, [
    { hlc: { wallMs: t0Ms, logical: 3 }, kind: 'k', body: 1 },
  ])
  assert.ok(back.ok)
  // createOps refuses a backwards clock, so build the second op by hand, as a broken author would
  const second = log.createOp({
    author: alice.author,
    seq: 2,
    prev: back.value[0]!.hash,
    hlc: { wallMs: t0Ms, logical: 3 },
    kind: 'k',
    body: 2,
  })
  assert.ok(second.ok)
  const pair = log.signOps(alice, [back.value[0]!, second.value])
  assert.equal(reasonOf(log.validateOps(pair, createMemoryLog().view, now)), 'clock_regress')
  // against the head's clock too
  const m = createMemoryLog()
  const first = log.validateOps(
    pair.slice(0, 1).map((e) => ({ ...e, sig: log.signHash(alice, e.hash) })),
    m.view,
    now,
  )
  assert.ok(first.ok)
  m.store(first)
  assert.equal(reasonOf(log.validateOps(pair.slice(1), m.view, now)), 'clock_regress')

  const ops = signedChain(alice, 3)
  const last = ops[2]!.op.hlc.wallMs
  const tenMin = 10 * 60 * 1000
  assert.equal(reasonOf(log.validateOps(ops, createMemoryLog().view, { nowMs: last - tenMin })), 'ok')
  const ahead = log.validateOps(ops, createMemoryLog().view, { nowMs: last - tenMin - 1 })
  assert.ok(!ahead.ok && ahead.reason === 'clock_ahead' && /retry later/.test(ahead.detail))
  assert.equal(
    reasonOf(log.validateOps(ops, createMemoryLog().view, { nowMs: last - 5, aheadMsMax: 4 })),
    'clock_ahead',
  )
})

test('validate: shape: empty, too many, mixed authors, out of order', () => {
  const m = createMemoryLog()
  assert.equal(reasonOf(log.validateOps([], m.view, now)), 'malformed')
  const many = signedChain(alice, 257, { scheme: 'per_op' })
  assert.equal(reasonOf(log.validateOps(many, m.view, now)), 'too_large')
  const a = signedChain(alice, 2, { scheme: 'per_op' })
  const b = signedChain(bob, 2, { scheme: 'per_op' })
  assert.equal(reasonOf(log.validateOps([a[0]!, b[1]!], m.view, now)), 'malformed')
  assert.equal(reasonOf(log.validateOps([a[1]!, a[0]!], m.view, now)), 'malformed')
  assert.equal(reasonOf(log.validateBatch(Uint8Array.from([9]), m.view, now)), 'malformed')
})

test('validate: deterministic: the same drafts make the same bytes, and validate alike', () => {
  const one = log.encodeBatch(signedChain(alice, 5))
  const two = log.encodeBatch(signedChain(testSigner(0), 5))
  assert.deepEqual(one, two)
  const v1 = log.validateBatch(one, createMemoryLog().view, now)
  const v2 = log.validateBatch(two, createMemoryLog().view, now)
  assert.deepEqual(v1, v2)
})
