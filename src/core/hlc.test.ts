import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { createManualClock } from './clock.ts'
import { fcParams, nodeNames, runDecoderFuzz } from './crdt-laws.test-util.ts'
import * as hlc from './hlc.ts'
import { asNodeId } from './ids.ts'

const base = 1_700_000_000_000
const fiveMin = 5 * 60 * 1000

test('hlc: now is strictly monotonic while the wall clock jumps back and forth by up to 5 minutes', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -fiveMin, max: fiveMin }), { maxLength: 200 }), (jumps) => {
      const clock = createManualClock(base)
      const h = hlc.create(nodeNames[0]!)
      let prev = hlc.now(h, clock)
      for (const j of jumps) {
        clock.set(base + j)
        const t = hlc.now(h, clock)
        assert.equal(hlc.compare(prev, t), -1)
        prev = t
      }
    }),
    fcParams(),
  )
})

type Event = { t: 'local'; n: number } | { t: 'send'; from: number; to: number } | { t: 'deliver'; pick: number } | { t: 'skew'; n: number; ms: number }

test('hlc: happened-before implies timestamp order across 5 nodes with clock skew of +-5 minutes', () => {
  const node = fc.integer({ min: 0, max: 4 })
  const event: fc.Arbitrary<Event> = fc.oneof(
    fc.record({ t: fc.constant('local' as const), n: node }),
    fc.record({ t: fc.constant('send' as const), from: node, to: node }),
    fc.record({ t: fc.constant('deliver' as const), pick: fc.nat() }),
    fc.record({ t: fc.constant('skew' as const), n: node, ms: fc.integer({ min: -fiveMin, max: fiveMin }) }),
  )
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -fiveMin, max: fiveMin }), { minLength: 5, maxLength: 5 }), fc.array(event, { maxLength: 150 }), (skews, events) => {
      const clocks = skews.map((s) => createManualClock(base + s))
      const hs = nodeNames.map((n) => hlc.create(n))
      // last[n] = the latest timestamp of node n: every later event of n, or any event it causes, must exceed it
      const last: (hlc.Timestamp | undefined)[] = [undefined, undefined, undefined, undefined, undefined]
      const inFlight: { to: number; ts: hlc.Timestamp }[] = []
      const after = (n: number, t: hlc.Timestamp): void => {
        const l = last[n]
        if (l !== undefined) assert.equal(hlc.compare(l, t), -1, 'a later event on the same node got an earlier timestamp')
        last[n] = t
      }
      for (const e of events) {
        if (e.t === 'local') after(e.n, hlc.now(hs[e.n]!, clocks[e.n]!))
        else if (e.t === 'send') {
          const ts = hlc.now(hs[e.from]!, clocks[e.from]!)
          after(e.from, ts)
          inFlight.push({ to: e.to, ts })
        } else if (e.t === 'deliver' && inFlight.length > 0) {
          const [m] = inFlight.splice(e.pick % inFlight.length, 1)
          const r = hlc.receive(hs[m!.to]!, m!.ts, clocks[m!.to]!)
          assert.ok(r.ok, 'skew within 10 minutes must be accepted')
          assert.equal(hlc.compare(m!.ts, r.value), -1, 'receive did not move past the sender')
          after(m!.to, r.value)
        } else if (e.t === 'skew') clocks[e.n]!.set(base + e.ms) // jumps anywhere within +-5 minutes
      }
    }),
    fcParams(),
  )
})

test('hlc: a timestamp further ahead than the bound is rejected and leaves the clock untouched', () => {
  const clock = createManualClock(base)
  const h = hlc.create(asNodeId('me'), { aheadMsMax: 60_000 })
  hlc.now(h, clock)
  const before = { ...h }
  const r = hlc.receive(h, { wallMs: base + 60_001, logical: 0, node: asNodeId('far') }, clock)
  assert.ok(!r.ok && r.reason === 'ahead')
  assert.deepEqual({ ...h }, before)
  const ok = hlc.receive(h, { wallMs: base + 60_000, logical: 7, node: asNodeId('near') }, clock)
  assert.ok(ok.ok)
  assert.deepEqual([ok.value.wallMs, ok.value.logical], [base + 60_000, 8])
  const bad = hlc.receive(h, { wallMs: -1, logical: 0, node: asNodeId('x') }, clock)
  assert.ok(!bad.ok && bad.reason === 'invalid')
})

test('hlc: the logical counter borrows a millisecond rather than overflow', () => {
  const clock = createManualClock(base)
  const h = hlc.create(asNodeId('me'), { wallMs: base, logical: hlc.logicalMax })
  const t = hlc.now(h, clock)
  assert.deepEqual([t.wallMs, t.logical], [base + 1, 0])
})

test('hlc: compare is a total order with the node id as the last tiebreak', () => {
  const ts = fc.record({ wallMs: fc.integer({ min: 0, max: 5 }), logical: fc.integer({ min: 0, max: 3 }), node: fc.constantFrom(...nodeNames) })
  fc.assert(
    fc.property(ts, ts, ts, (a, b, c) => {
      assert.equal(hlc.compare(a, b), -hlc.compare(b, a) || 0)
      assert.equal(hlc.compare(a, b) === 0, hlc.equals(a, b))
      if (hlc.compare(a, b) <= 0 && hlc.compare(b, c) <= 0) assert.ok(hlc.compare(a, c) <= 0)
    }),
    fcParams(),
  )
  const x = { wallMs: 1, logical: 1, node: asNodeId('a') }
  assert.equal(hlc.compare(x, { ...x, node: asNodeId('b') }), -1)
})

const arbTs = fc.record({ wallMs: fc.maxSafeNat(), logical: fc.integer({ min: 0, max: hlc.logicalMax }), node: fc.constantFrom(...nodeNames) })

test('hlc: decode(encode(t)) ≡ t', () => {
  fc.assert(
    fc.property(arbTs, (t) => {
      const r = hlc.decode(hlc.encode(t))
      assert.ok(r.ok && hlc.equals(r.value, t))
    }),
    fcParams(),
  )
})

runDecoderFuzz('hlc timestamp', hlc.decode, hlc.encode, arbTs.map(hlc.encode))
