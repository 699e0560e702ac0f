import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  arbEncoded,
  arbHistory,
  fcParams,
  nodeNames,
  play,
  runCrdtLaws,
  runDecoderFuzz,
} from './crdt-laws.test-util.ts'
import { createManualClock } from './clock.ts'
import type { Crdt } from './crdt.ts'
import * as hlc from './hlc.ts'
import * as json from './json.ts'
import type { Json } from './json.ts'
import * as lwwRegister from './lww-register.ts'
import type { LwwRegister } from './lww-register.ts'
import * as replica from './replica.ts'
import type { Stamp } from './replica.ts'

const arbValue: fc.Arbitrary<Json> = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom<Json>(null, true, false, 'x', '', 0.5, -1e300, 2 ** 60),
  fc
    .jsonValue({ maxDepth: 2 })
    .filter((v) => json.isJson(v))
    .map((v) => v as Json),
)
const arbOp: fc.Arbitrary<lwwRegister.Op> = fc.record({ type: fc.constant('set' as const), value: arbValue })

runCrdtLaws({ crdt: lwwRegister.crdt, arbOp })
runDecoderFuzz('lww-register', lwwRegister.decode, lwwRegister.encode, arbEncoded(lwwRegister.crdt, arbOp))

function recording(log: { op: lwwRegister.Op; stamp: Stamp }[]): Crdt<LwwRegister, lwwRegister.Op> {
  return {
    ...lwwRegister.crdt,
    apply: (s, op, stamp, d) => (log.push({ op, stamp }), lwwRegister.apply(s, op, stamp, d)),
  }
}

test('lww-register: once replicas have synced, the value is the write with the greatest timestamp', () => {
  fc.assert(
    fc.property(arbHistory(arbOp, 40, 10), (h) => {
      const log: { op: lwwRegister.Op; stamp: Stamp }[] = []
      const run = play(recording(log), h)
      const synced = lwwRegister.empty()
      for (const s of run.states) lwwRegister.mergeInto(synced, s)
      let last: { op: lwwRegister.Op; stamp: Stamp } | undefined
      for (const x of log) if (last === undefined || hlc.compare(x.stamp, last.stamp) > 0) last = x
      if (last === undefined) {
        assert.equal(lwwRegister.get(synced), undefined)
        assert.equal(lwwRegister.maxTimestamp(synced), undefined)
        return
      }
      assert.ok(json.equals(lwwRegister.get(synced) as Json, last.op.value))
      const ts = lwwRegister.maxTimestamp(synced)
      assert.ok(ts !== undefined && hlc.equals(ts, last.stamp))
    }),
    fcParams(),
  )
})

test('lww-register: a causally later write wins everywhere, even from a clock up to 5 minutes behind', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 300_000 }),
      fc.array(fc.tuple(arbValue, fc.integer({ min: 0, max: 2000 })), { minLength: 1, maxLength: 5 }),
      fc.boolean(),
      (behindMs, writes, viaDelta) => {
        const a = replica.create(nodeNames[0]!, createManualClock(1_700_000_000_000))
        const b = replica.create(nodeNames[1]!, createManualClock(1_700_000_000_000 - behindMs))
        const sa = lwwRegister.empty()
        const da = lwwRegister.empty()
        for (const [value, ms] of writes) {
          ;(a.clock as ReturnType<typeof createManualClock>).advance(ms)
          lwwRegister.set(sa, value, replica.next(a), da)
        }
        // b receives what a wrote: it observes the greatest timestamp before merging (as the op log does)
        const incoming = viaDelta ? da : sa
        const sb = lwwRegister.empty()
        const seen = lwwRegister.maxTimestamp(incoming)
        assert.ok(seen !== undefined && replica.observe(b, seen).ok)
        lwwRegister.mergeInto(sb, incoming)
        const db = lwwRegister.empty()
        lwwRegister.set(sb, 'from b', replica.next(b), db)
        lwwRegister.mergeInto(sa, db)
        assert.equal(lwwRegister.get(sb), 'from b')
        assert.equal(lwwRegister.get(sa), 'from b')
        assert.ok(lwwRegister.equals(sa, sb))
      },
    ),
    fcParams(),
  )
})

test('lww-register: without observing, a write from a clock 5 minutes behind loses (what the test above guards)', () => {
  const a = replica.create(nodeNames[0]!, createManualClock(1_700_000_300_000))
  const b = replica.create(nodeNames[1]!, createManualClock(1_700_000_000_000))
  const sa = lwwRegister.empty()
  lwwRegister.set(sa, 'from a', replica.next(a))
  const sb = lwwRegister.merge(lwwRegister.empty(), sa)
  lwwRegister.set(sb, 'from b', replica.next(b))
  assert.equal(lwwRegister.get(sb), 'from a')
})

test('lww-register: a tie on one timestamp breaks by canonical value order, the same in both directions', () => {
  fc.assert(
    fc.property(arbValue, arbValue, fc.nat(), fc.nat(), (x, y, wallMs, logical) => {
      const stamp: Stamp = { node: nodeNames[2]!, seq: 1, wallMs, logical: logical % 2 ** 32 }
      const sx = lwwRegister.empty()
      const sy = lwwRegister.empty()
      lwwRegister.set(sx, x, stamp)
      lwwRegister.set(sy, y, stamp)
      const xy = lwwRegister.merge(sx, sy)
      const yx = lwwRegister.merge(sy, sx)
      assert.ok(lwwRegister.equals(xy, yx))
      const want = json.compare(x, y) >= 0 ? x : y
      assert.ok(json.equals(lwwRegister.get(xy) as Json, want))
    }),
    fcParams(),
  )
})

test('lww-register: set rejects non-JSON values and invalid stamps', () => {
  const s = lwwRegister.empty()
  const ok: Stamp = { node: nodeNames[0]!, seq: 1, wallMs: 5, logical: 0 }
  for (const v of [Number.NaN, Infinity, undefined, () => 1, new Date(0), '\ud800', [1n]]) {
    assert.throws(() => lwwRegister.set(s, v as unknown as Json, ok), RangeError, String(v))
  }
  for (const bad of [
    { ...ok, wallMs: -1 },
    { ...ok, logical: 2 ** 32 },
    { ...ok, wallMs: 1.5 },
  ]) {
    assert.throws(() => lwwRegister.set(s, 1, bad), RangeError)
  }
  assert.equal(lwwRegister.get(s), undefined)
})

test('lww-register: the encoding is the node table, timestamp and value, byte for byte', () => {
  assert.deepEqual([...lwwRegister.encode(lwwRegister.empty())], [0])
  const e = lwwRegister.decode(Uint8Array.from([0]))
  assert.ok(e.ok && lwwRegister.get(e.value) === undefined)
  const s = lwwRegister.empty()
  lwwRegister.set(s, 'hi', { node: nodeNames[0]!, seq: 1, wallMs: 300, logical: 2 })
  // table 'a'; wallMs 300 = 0xac 0x02; logical 2; (the node: no bytes, the table names one); json string tag 5, 'hi'
  assert.deepEqual([...lwwRegister.encode(s)], [1, 1, 97, 0xac, 0x02, 2, 5, 2, 104, 105])
})

test('lww-register: decode rejects two nodes, trailing bytes, bad timestamps and bad values', () => {
  const reject = (bytes: number[], why: RegExp): void => {
    const r = lwwRegister.decode(Uint8Array.from(bytes))
    assert.ok(!r.ok, `accepted ${bytes}`)
    assert.match(r.detail, why)
  }
  assert.ok(lwwRegister.decode(Uint8Array.from([1, 1, 97, 7, 0, 0])).ok)
  reject([2, 1, 97, 1, 98, 7, 0, 0, 0], /at most one node/)
  reject([1, 1, 97, 7, 0, 0, 0], /trailing/)
  reject([0, 0], /trailing/)
  reject([1, 1, 97, 7, 0x80, 0x80, 0x80, 0x80, 0x10, 0], /uint32/)
  reject([1, 1, 97, 0x87, 0x00, 0, 0], /non-minimal/)
  reject([1, 1, 97, 7, 0, 8], /unknown json tag/)
  reject([1, 1, 97, 7, 0], /end of input/)
})
