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
import type { ManualClock } from './clock.ts'
import type { Crdt } from './crdt.ts'
import * as hlc from './hlc.ts'
import * as json from './json.ts'
import type { Json } from './json.ts'
import * as lwwMap from './lww-map.ts'
import type { LwwMap } from './lww-map.ts'
import * as replica from './replica.ts'
import type { Replica, Stamp } from './replica.ts'

// '\uffff' sorts after '😀' in UTF-16 but before it in UTF-8: the key order must be UTF-16's everywhere.
const keys = ['a', 'b', 'c', '', '\uffff', '😀']
const arbKey = fc.constantFrom(...keys)
const arbValue: fc.Arbitrary<Json> = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom<Json>(null, true, false, 'x', '', 0.5, -1e300, 2 ** 60),
  fc
    .jsonValue({ maxDepth: 2 })
    .filter((v) => json.isJson(v))
    .map((v) => v as Json),
)
const arbOp: fc.Arbitrary<lwwMap.Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ type: fc.constant('set' as const), key: arbKey, value: arbValue }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('remove' as const), key: arbKey }) },
)

runCrdtLaws({ crdt: lwwMap.crdt, arbOp })
runDecoderFuzz('lww-map', lwwMap.decode, lwwMap.encode, arbEncoded(lwwMap.crdt, arbOp))

type Logged = { op: lwwMap.Op; stamp: Stamp }

function recording(log: Logged[]): Crdt<LwwMap, lwwMap.Op> {
  return {
    ...lwwMap.crdt,
    apply: (s, op, stamp, d) => (log.push({ op, stamp }), lwwMap.apply(s, op, stamp, d)),
  }
}

/** The live keys, recounted from the entries (checks the kept `live` count). */
function liveCount(s: LwwMap): number {
  let n = 0
  for (const e of s.entries.values()) if (e.value !== undefined) n++
  return n
}

test('lww-map: once replicas have synced, each key holds its write with the greatest timestamp', () => {
  fc.assert(
    fc.property(arbHistory(arbOp, 40, 10), (h) => {
      const log: Logged[] = []
      const run = play(recording(log), h)
      for (const s of run.states) assert.equal(lwwMap.size(s), liveCount(s), 'live count drifted')
      const synced = lwwMap.empty()
      for (const s of run.states) lwwMap.mergeInto(synced, s)
      const want = new Map<string, Json>()
      for (const key of keys) {
        let last: Logged | undefined
        for (const x of log)
          if (x.op.key === key && (last === undefined || hlc.compare(x.stamp, last.stamp) > 0)) last = x
        if (last?.op.type === 'set') want.set(key, last.op.value)
        assert.equal(lwwMap.has(synced, key), last?.op.type === 'set', `has(${key})`)
      }
      const got = [...lwwMap.entries(synced)].sort((x, y) => (x[0] < y[0] ? -1 : 1))
      const exp = [...want].sort((x, y) => (x[0] < y[0] ? -1 : 1))
      assert.equal(got.length, exp.length)
      got.forEach(([k, v], i) =>
        assert.ok(
          k === exp[i]![0] && json.equals(v, exp[i]![1]) && json.equals(lwwMap.get(synced, k) as Json, v),
        ),
      )
      assert.equal(lwwMap.size(synced), want.size)
      assert.equal(lwwMap.size(synced), liveCount(synced))
      // maxTimestamp is the greatest stamp of any op
      let max: Stamp | undefined
      for (const x of log) if (max === undefined || hlc.compare(x.stamp, max) > 0) max = x.stamp
      const ts = lwwMap.maxTimestamp(synced)
      if (max === undefined) assert.equal(ts, undefined)
      else assert.ok(ts !== undefined && hlc.equals(ts, max))
    }),
    fcParams(),
  )
})

const advance = (r: Replica, ms: number): void => (r.clock as ManualClock).advance(ms)

test('lww-map: a causally later write wins everywhere, even from a clock up to 5 minutes behind', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 300_000 }),
      fc.array(fc.tuple(arbOp, fc.integer({ min: 0, max: 2000 })), { minLength: 1, maxLength: 8 }),
      fc.boolean(),
      fc.boolean(),
      (behindMs, history, viaDelta, removeLast) => {
        const a = replica.create(nodeNames[0]!, createManualClock(1_700_000_000_000))
        const b = replica.create(nodeNames[1]!, createManualClock(1_700_000_000_000 - behindMs))
        const sa = lwwMap.empty()
        const sb = lwwMap.empty()
        const da = lwwMap.empty()
        for (const [op, ms] of history) {
          advance(a, ms)
          lwwMap.apply(sa, op, replica.next(a), da)
          lwwMap.apply(sb, op, replica.next(b)) // b's own, older writes: they must not matter
        }
        const key = history[history.length - 1]![0].key
        // b receives a's writes and observes their greatest timestamp before merging (as the op log does)
        const incoming = viaDelta ? da : sa
        const seen = lwwMap.maxTimestamp(incoming)
        assert.ok(seen !== undefined && replica.observe(b, seen).ok)
        lwwMap.mergeInto(sb, incoming)
        const db = lwwMap.empty()
        if (removeLast) lwwMap.remove(sb, key, replica.next(b), db)
        else lwwMap.set(sb, key, 'from b', replica.next(b), db)
        lwwMap.mergeInto(sa, db)
        for (const s of [sa, sb]) {
          if (removeLast) assert.ok(!lwwMap.has(s, key))
          else assert.equal(lwwMap.get(s, key), 'from b')
        }
        assert.ok(lwwMap.equals(lwwMap.merge(sa, sb), sb), 'b holds everything')
      },
    ),
    fcParams(),
  )
})

test('lww-map: without observing, a write from a clock 5 minutes behind loses (what the test above guards)', () => {
  const a = replica.create(nodeNames[0]!, createManualClock(1_700_000_300_000))
  const b = replica.create(nodeNames[1]!, createManualClock(1_700_000_000_000))
  const sa = lwwMap.empty()
  lwwMap.set(sa, 'k', 'from a', replica.next(a))
  const sb = lwwMap.clone(sa)
  lwwMap.set(sb, 'k', 'from b', replica.next(b))
  assert.equal(lwwMap.get(sb, 'k'), 'from a')
})

test('lww-map: a remove beats an older concurrent set, even one that arrives after it', () => {
  const clock = createManualClock(1_700_000_000_000)
  const [a, b, c] = nodeNames.slice(0, 3).map((n) => replica.create(n, clock)) as [Replica, Replica, Replica]
  const sa = lwwMap.empty()
  const sb = lwwMap.empty()
  const sc = lwwMap.empty()
  lwwMap.set(sc, 'k', 'old from c', replica.next(c)) // c is offline with this
  clock.advance(10)
  lwwMap.set(sa, 'k', 'from a', replica.next(a))
  clock.advance(10)
  lwwMap.remove(sb, 'k', replica.next(b)) // b never saw either set: concurrent, and later
  for (const [x, y] of [
    [sa, sb],
    [sb, sa],
  ] as const) {
    const m = lwwMap.merge(x, y)
    assert.ok(!lwwMap.has(m, 'k'))
    lwwMap.mergeInto(m, sc) // the stale set arrives late
    assert.ok(!lwwMap.has(m, 'k'))
    assert.equal(lwwMap.size(m), 0)
  }
})

test('lww-map: a set after a remove wins, and a remove of a key never set is a tombstone', () => {
  const clock = createManualClock(1_700_000_000_000)
  const a = replica.create(nodeNames[0]!, clock)
  const b = replica.create(nodeNames[1]!, createManualClock(1_700_000_000_000 - 240_000)) // 4 min behind
  const sa = lwwMap.empty()
  lwwMap.set(sa, 'k', 1, replica.next(a))
  lwwMap.remove(sa, 'k', replica.next(a))
  lwwMap.remove(sa, 'never', replica.next(a))
  assert.equal(lwwMap.size(sa), 0)
  assert.equal(sa.entries.size, 2)
  const sb = lwwMap.empty()
  assert.ok(replica.observe(b, lwwMap.maxTimestamp(sa)!).ok)
  lwwMap.mergeInto(sb, sa)
  lwwMap.set(sb, 'k', 2, replica.next(b))
  lwwMap.mergeInto(sa, sb)
  assert.equal(lwwMap.get(sa, 'k'), 2)
  assert.deepEqual([...lwwMap.entries(sa)], [['k', 2]])
})

test('lww-map: a tie on one timestamp breaks the same in both directions (tombstone, then value order)', () => {
  const arbWrite = fc.option(arbValue, { nil: undefined })
  fc.assert(
    fc.property(arbWrite, arbWrite, fc.nat(), fc.nat(), (x, y, wallMs, logical) => {
      const stamp: Stamp = { node: nodeNames[2]!, seq: 1, wallMs, logical: logical % 2 ** 32 }
      const write = (v: Json | undefined): LwwMap => {
        const s = lwwMap.empty()
        if (v === undefined) lwwMap.remove(s, 'k', stamp)
        else lwwMap.set(s, 'k', v, stamp)
        return s
      }
      const xy = lwwMap.merge(write(x), write(y))
      const yx = lwwMap.merge(write(y), write(x))
      assert.ok(lwwMap.equals(xy, yx))
      const want = x === undefined || y === undefined ? undefined : json.compare(x, y) >= 0 ? x : y
      const got = lwwMap.get(xy, 'k')
      assert.ok(want === undefined ? got === undefined : json.equals(got as Json, want))
      assert.equal(lwwMap.size(xy), want === undefined ? 0 : 1)
    }),
    fcParams(),
  )
})

test('lww-map: entries are owned (a write in place never reaches a delta, a merge or a clone); values are shared', () => {
  const r = replica.create(nodeNames[0]!, createManualClock(1000))
  const s = lwwMap.empty()
  const d = lwwMap.empty()
  const big = { big: [1, 2, 3] }
  lwwMap.set(s, 'k', big, replica.next(r), d)
  assert.notEqual(d.entries.get('k'), s.entries.get('k'), 'the delta has its own entry')
  assert.equal(lwwMap.get(d, 'k'), big, 'and shares the value')
  const t = lwwMap.merge(lwwMap.empty(), s)
  const c = lwwMap.clone(s)
  const u = lwwMap.empty()
  lwwMap.mergeInto(u, s)
  for (const x of [t, c, u]) {
    assert.notEqual(x.entries.get('k'), s.entries.get('k'))
    assert.equal(lwwMap.get(x, 'k'), big)
  }
  const before = lwwMap.encode(s)
  lwwMap.set(t, 'k', 2, replica.next(r)) // overwrites t's entry in place
  lwwMap.remove(c, 'k', replica.next(r))
  lwwMap.set(u, 'k', 3, replica.next(r))
  assert.deepEqual(lwwMap.encode(s), before, 'writing the copies left the source alone')
  assert.equal(lwwMap.get(d, 'k'), big)
  lwwMap.set(s, 'k', 4, replica.next(r))
  lwwMap.remove(s, 'j', replica.next(r))
  assert.equal(lwwMap.get(d, 'k'), big, 'writing the source left its old delta alone')
  assert.equal(lwwMap.get(t, 'k'), 2)
  assert.equal(lwwMap.get(c, 'k'), undefined)
  assert.equal(lwwMap.get(u, 'k'), 3)
  assert.deepEqual([lwwMap.size(s), lwwMap.size(t), lwwMap.size(c), lwwMap.size(u), lwwMap.size(d)], [1, 1, 0, 1, 1])
})

test('lww-map: set and remove reject bad keys and stamps; encode rejects a value that is not JSON', () => {
  const s = lwwMap.empty()
  const ok: Stamp = { node: nodeNames[0]!, seq: 1, wallMs: 5, logical: 0 }
  assert.throws(() => lwwMap.set(s, '\ud800', 1, ok), RangeError)
  assert.throws(() => lwwMap.remove(s, 'x\udc00', ok), RangeError)
  assert.throws(() => lwwMap.set(s, 1 as unknown as string, 1, ok), RangeError)
  assert.throws(() => lwwMap.set(s, 'k', undefined as unknown as Json, ok), RangeError)
  for (const bad of [
    { ...ok, wallMs: -1 },
    { ...ok, logical: 2 ** 32 },
    { ...ok, node: '' },
  ]) {
    assert.throws(() => lwwMap.set(s, 'k', 1, bad as Stamp), RangeError)
    assert.throws(() => lwwMap.remove(s, 'k', bad as Stamp), RangeError)
  }
  assert.equal(s.entries.size, 0)
  lwwMap.set(s, 'k', Number.NaN, ok)
  assert.throws(() => lwwMap.encode(s), RangeError)
})

test('lww-map: the encoding, byte for byte: node table, count, baseMs, entries by key with relative times', () => {
  assert.deepEqual([...lwwMap.encode(lwwMap.empty())], [0, 0])
  const e = lwwMap.decode(Uint8Array.from([0, 0]))
  assert.ok(e.ok && lwwMap.size(e.value) === 0 && e.value.entries.size === 0)
  const s = lwwMap.empty()
  lwwMap.set(s, 'y', 'hi', { node: nodeNames[1]!, seq: 1, wallMs: 1_000_300, logical: 0 })
  lwwMap.remove(s, 'x', { node: nodeNames[0]!, seq: 1, wallMs: 1_000_000, logical: 2 })
  const bytes = [
    ...[2, 1, 97, 1, 98], // node table: 'a', 'b'
    2, // two entries
    ...[0xc0, 0x84, 0x3d], // baseMs 1_000_000
    ...[0, 1, 120, 0, 2, 0, 0xff], // 'x' (no shared prefix): +0 ms, logical 2, node a, tombstone
    ...[0, 1, 121, 0xac, 0x02, 0, 1, 5, 2, 104, 105], // 'y' (no shared prefix): +300 ms, logical 0, node b, "hi"
  ]
  assert.deepEqual([...lwwMap.encode(s)], bytes)
  const back = lwwMap.decode(Uint8Array.from(bytes))
  assert.ok(back.ok && lwwMap.equals(back.value, s) && lwwMap.size(back.value) === 1)
})

test('lww-map: decode rejects unsorted or duplicate keys, a wrong baseMs, bad tags, bad varints and unused nodes', () => {
  const reject = (bytes: number[], why: RegExp): void => {
    const r = lwwMap.decode(Uint8Array.from(bytes))
    assert.ok(!r.ok, `accepted ${bytes}`)
    assert.match(r.detail, why)
  }
  // With a one-node table a node reference takes no bytes (codec.ts); table2 names two nodes.
  const table = [1, 1, 97]
  const table2 = [2, 1, 97, 1, 98]
  const k = [0, 1, 107, 0, 0, 0xff] // 'k' (no shared prefix) +0 ms, logical 0, tombstone
  const j = [0, 1, 106, 0, 0, 3, 10] // 'j' (no shared prefix) +0 ms, logical 0, value 5
  assert.ok(lwwMap.decode(Uint8Array.from([...table, 2, 100, ...j, ...k])).ok)
  reject([...table, 2, 100, ...j, ...k, 0], /trailing/)
  reject([...table, 2, 100, ...k, ...j], /not strictly increasing/)
  reject([...table, 2, 100, ...k, 1, 0, 0, 0, 0xff], /not strictly increasing/) // 'k' again, as prefix 1 + ''
  const ka = [0, 2, 107, 97, 0, 0, 0xff] // 'ka'
  assert.ok(lwwMap.decode(Uint8Array.from([...table, 2, 100, ...ka, 1, 1, 98, 0, 0, 0xff])).ok) // 'kb' as 'k' + 'b'
  reject([...table, 2, 100, ...ka, 0, 2, 107, 98, 0, 0, 0xff], /non-canonical shared key prefix/) // 'kb' spelled out
  reject([...table, 2, 100, ...ka, 3, 1, 98, 0, 0, 0xff], /longer than the previous key/)
  reject([...table, 1, 100, 0, 1, 107, 1, 0, 0xff], /baseMs/) // the only entry is at +1 ms
  reject([...table, 1, 100, 0, 1, 107, 0, 0, 8], /unknown json tag/)
  reject([...table, 1, 100, 0, 1, 107, 0, 0, 0xfe], /unknown json tag/)
  reject([...table, 1, 100, 0, 1, 107, 0, 0], /end of input/)
  reject([...table, 1, 0xe4, 0x00, ...k], /non-minimal/)
  reject([...table, 0x81, 0x00, 100, ...k], /non-minimal/)
  reject([...table, 1, 100, 0, 1, 107, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 0xff], /uint32/)
  reject([...table2, 1, 100, 0, 1, 107, 0, 0, 2, 0xff], /outside the node table/)
  reject([...table2, 1, 100, 0, 1, 107, 0, 0, 0, 0xff], /does not use/)
  reject([...table, 0], /does not use/)
  reject([0, 9, 100, ...k], /exceeds/)
  reject([0, 1, 100, 0, 1, 107, 0, 0, 0, 0xff], /outside the node table/) // a node reference with an empty table
  reject([...table, 1, 100, 0, 1, 107, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f], /non-canonical float/) // 1.0 as f64
})
