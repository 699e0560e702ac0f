/**
 * The shared contract suite for every CRDT module (style.md: one suite, run against every
 * implementation). States are never built by hand: they come from random histories of up to five
 * replicas that apply random ops and exchange deltas and full states in random order, with duplicates and
 * drops, so every state tested is one a real replica could reach.
 *
 * Runs: FC_NUM_RUNS (default 1000, as CI requires). A failure prints fast-check's seed and path; replay
 * it with FC_SEED=<seed> FC_PATH=<path> npx node --test <file>.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import type { Crdt } from './crdt.ts'
import { createManualClock } from './clock.ts'
import { asNodeId } from './ids.ts'
import * as replica from './replica.ts'
import type { Replica } from './replica.ts'
import * as codec from './codec.ts'

/** fast-check parameters shared by every property in the project. */
export function fcParams(overrides: { numRuns?: number } = {}): fc.Parameters<unknown> {
  const numRuns = Number(process.env['FC_NUM_RUNS'] ?? overrides.numRuns ?? 1000)
  const seed = process.env['FC_SEED']
  const path = process.env['FC_PATH']
  return {
    numRuns,
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    ...(path === undefined ? {} : { path }),
  }
}

export const nodeNames = ['a', 'b', 'c', 'd', 'e'].map(asNodeId)

export type Step<Op> =
  | { readonly t: 'op'; readonly r: number; readonly op: Op }
  /** deliver one delta from `from`'s outbox (index pick, modulo its length) to `to` */
  | { readonly t: 'delta'; readonly from: number; readonly to: number; readonly pick: number }
  | { readonly t: 'full'; readonly from: number; readonly to: number }
  | { readonly t: 'tick'; readonly r: number; readonly ms: number }

export type History<Op> = { readonly replicas: number; readonly skewMs: readonly number[]; readonly steps: readonly Step<Op>[] }

/**
 * A random history over 2..5 replicas with clock skew up to +-5 minutes, of minSteps..maxSteps steps
 * drawn uniformly (size 'max': fast-check's default size would cap arrays near 10 items).
 */
export function arbHistory<Op>(arbOp: fc.Arbitrary<Op>, maxSteps = 40, minSteps = 0): fc.Arbitrary<History<Op>> {
  return fc.integer({ min: 2, max: 5 }).chain((n) => {
    const idx = fc.integer({ min: 0, max: n - 1 })
    const step: fc.Arbitrary<Step<Op>> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ t: fc.constant('op' as const), r: idx, op: arbOp }) },
      { weight: 3, arbitrary: fc.record({ t: fc.constant('delta' as const), from: idx, to: idx, pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('full' as const), from: idx, to: idx }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('tick' as const), r: idx, ms: fc.integer({ min: 0, max: 2000 }) }) },
    )
    return fc.record({
      replicas: fc.constant(n),
      skewMs: fc.array(fc.integer({ min: -300_000, max: 300_000 }), { minLength: n, maxLength: n }),
      steps: fc.array(step, { minLength: minSteps, maxLength: maxSteps, size: 'max' }),
    })
  })
}

export type Run<S> = { states: S[]; outboxes: S[][]; replicas: Replica[] }

/** Plays a history: every op's delta goes to its replica's outbox; deliveries merge deltas or states. */
export function play<S, Op>(crdt: Crdt<S, Op>, h: History<Op>): Run<S> {
  const states: S[] = []
  const outboxes: S[][] = []
  const replicas: Replica[] = []
  for (let i = 0; i < h.replicas; i++) {
    states.push(crdt.empty())
    outboxes.push([])
    replicas.push(replica.create(nodeNames[i]!, createManualClock(1_700_000_000_000 + (h.skewMs[i] ?? 0))))
  }
  for (const s of h.steps) {
    switch (s.t) {
      case 'op': {
        const delta = crdt.empty()
        crdt.apply(states[s.r]!, s.op, replica.next(replicas[s.r]!), delta)
        outboxes[s.r]!.push(delta)
        break
      }
      case 'delta': {
        const box = outboxes[s.from]!
        if (box.length > 0) crdt.mergeInto(states[s.to]!, box[s.pick % box.length]!)
        break
      }
      case 'full':
        crdt.mergeInto(states[s.to]!, states[s.from]!)
        break
      case 'tick':
        ;(replicas[s.r]!.clock as ReturnType<typeof createManualClock>).advance(s.ms)
        break
    }
  }
  return { states, outboxes, replicas }
}

/** Three states reachable by replicas (taken from one history, so they share causal structure). */
export function arbStates<S, Op>(crdt: Crdt<S, Op>, arbOp: fc.Arbitrary<Op>): fc.Arbitrary<[S, S, S]> {
  return fc.tuple(arbHistory(arbOp), fc.nat(), fc.nat(), fc.nat()).map(([h, i, j, k]) => {
    const { states } = play(crdt, h)
    const n = states.length
    return [states[i % n]!, states[j % n]!, states[k % n]!] as [S, S, S]
  })
}

export type LawSubject<S, Op> = {
  readonly crdt: Crdt<S, Op>
  readonly arbOp: fc.Arbitrary<Op>
  /** Optional: a human-readable snapshot to show in failures. */
  readonly show?: (s: S) => unknown
}

function eq<S, Op>(crdt: Crdt<S, Op>, a: S, b: S, what: string): void {
  if (!crdt.equals(a, b)) {
    assert.fail(`${crdt.name}: ${what}\n  left:  ${hex(crdt.encode(a))}\n  right: ${hex(crdt.encode(b))}`)
  }
  // equal states have one canonical encoding
  assert.ok(codec.bytesEqual(crdt.encode(a), crdt.encode(b)), `${crdt.name}: ${what}: equal states encode differently`)
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

/** Registers the CRDT laws for one module as node:test tests. */
export function runCrdtLaws<S, Op>(subject: LawSubject<S, Op>, params = fcParams()): void {
  const { crdt, arbOp } = subject
  const states = arbStates(crdt, arbOp)
  const m = crdt.merge

  test(`${crdt.name}: merge is commutative, associative and idempotent`, () => {
    fc.assert(
      fc.property(states, ([a, b, c]) => {
        eq(crdt, m(a, b), m(b, a), 'a⊔b ≠ b⊔a')
        eq(crdt, m(m(a, b), c), m(a, m(b, c)), '(a⊔b)⊔c ≠ a⊔(b⊔c)')
        eq(crdt, m(a, a), a, 'a⊔a ≠ a')
      }),
      params,
    )
  })

  test(`${crdt.name}: merge is monotone (an inflation) and mergeInto reports change truthfully`, () => {
    fc.assert(
      fc.property(states, ([a, b, c]) => {
        const ab = m(a, b)
        eq(crdt, m(ab, a), ab, 'a ≰ a⊔b')
        eq(crdt, m(ab, b), ab, 'b ≰ a⊔b')
        // a ≤ a⊔b implies a⊔c ≤ (a⊔b)⊔c
        const abc = m(ab, c)
        eq(crdt, m(abc, m(a, c)), abc, 'join not monotone')
        const target = crdt.clone(a)
        const sourceBytes = crdt.encode(b)
        const changed = crdt.mergeInto(target, b)
        eq(crdt, target, ab, 'mergeInto ≠ merge')
        assert.equal(changed, !crdt.equals(a, ab), `${crdt.name}: mergeInto's changed flag is wrong`)
        assert.ok(codec.bytesEqual(crdt.encode(b), sourceBytes), `${crdt.name}: mergeInto modified its source`)
        // no aliasing: changing the target afterwards leaves the source alone
        const r = replica.create(nodeNames[0]!, createManualClock(1_800_000_000_000), { seq: 1_000_000 })
        fc.sample(arbOp, { numRuns: 3, seed: 7 }).forEach((op) => crdt.apply(target, op, replica.next(r)))
        assert.ok(codec.bytesEqual(crdt.encode(b), sourceBytes), `${crdt.name}: mergeInto aliased its source`)
      }),
      params,
    )
  })

  test(`${crdt.name}: an update is an inflation, and its delta merged anywhere equals the full state`, () => {
    fc.assert(
      fc.property(states, fc.array(arbOp, { minLength: 1, maxLength: 8 }), ([a, b], ops) => {
        const before = crdt.clone(a)
        const r = replica.create(nodeNames[0]!, createManualClock(1_800_000_000_000), { seq: 1_000_000 })
        const deltas: S[] = []
        const buffer = crdt.empty()
        for (const op of ops) {
          const d = crdt.empty()
          const stamp = replica.next(r)
          crdt.apply(a, op, stamp, d)
          crdt.apply(crdt.empty(), op, stamp, buffer) // the same updates, collected into one delta buffer
          deltas.push(d)
        }
        eq(crdt, m(a, before), a, 'an update is not an inflation')
        // b ⊔ before ⊔ δ1 ⊔ … ⊔ δk  ≡  b ⊔ after
        const viaDeltas = m(b, before)
        for (const d of deltas) crdt.mergeInto(viaDeltas, d)
        eq(crdt, viaDeltas, m(b, a), 'delta merge ≠ full-state merge')
        // each delta is below the state that produced it
        for (const d of deltas) eq(crdt, m(a, d), a, 'a delta is not below its state')
      }),
      params,
    )
  })

  test(`${crdt.name}: replicas converge for any delivery order, with duplicates and drops then resends`, () => {
    fc.assert(
      fc.property(arbHistory(arbOp), fc.nat(), (h, seed) => {
        const run = play(crdt, h)
        const all = run.outboxes.flat()
        // resend everything to everyone in a seeded shuffle, each delta twice
        let x = seed >>> 0
        const rand = (n: number): number => {
          x = (Math.imul(x, 1664525) + 1013904223) >>> 0
          return x % n
        }
        for (const s of run.states) {
          const order = [...all, ...all]
          for (let i = order.length - 1; i > 0; i--) {
            const j = rand(i + 1)
            ;[order[i], order[j]] = [order[j]!, order[i]!]
          }
          for (const d of order) crdt.mergeInto(s, d)
        }
        const first = run.states[0]!
        for (const s of run.states) eq(crdt, s, first, 'replicas did not converge')
        // and the converged state is the join of all deltas
        const joined = crdt.empty()
        for (const d of all) crdt.mergeInto(joined, d)
        eq(crdt, first, joined, 'converged state ≠ join of all updates')
      }),
      params,
    )
  })

  test(`${crdt.name}: decode(encode(s)) ≡ s, and the encoding is canonical`, () => {
    fc.assert(
      fc.property(states, ([a]) => {
        const bytes = crdt.encode(a)
        const back = crdt.decode(bytes)
        assert.ok(back.ok, `${crdt.name}: decode failed: ${back.ok ? '' : back.detail}`)
        eq(crdt, back.value, a, 'decode(encode(s)) ≠ s')
        assert.ok(codec.bytesEqual(crdt.encode(back.value), bytes))
        // a decoded copy shares no objects with s: merging it back must change nothing
        assert.equal(crdt.mergeInto(crdt.clone(a), back.value), false, `${crdt.name}: merging an equal copy reported a change`)
        eq(crdt, crdt.clone(a), a, 'clone(s) ≠ s')
      }),
      params,
    )
  })
}

/** Byte-level mutations of a valid encoding: flip, set, insert, delete, truncate, duplicate a slice. */
function arbMutated(valid: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(5), fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
    .map(([base, edits]) => {
      let b = Array.from(base)
      for (const [kind, at, byte] of edits) {
        const i = b.length === 0 ? 0 : at % b.length
        if (kind === 0 && b.length > 0) b[i] = (b[i]! ^ (1 << (byte % 8))) & 0xff
        else if (kind === 1 && b.length > 0) b[i] = byte
        else if (kind === 2) b.splice(i, 0, byte)
        else if (kind === 3) b.splice(i, 1)
        else if (kind === 4) b = b.slice(0, i)
        else b.splice(i, 0, ...b.slice(i, i + 1 + (byte % 8)))
      }
      return Uint8Array.from(b)
    })
}

/**
 * Fuzzes a decoder with random bytes and with mutations of valid encodings: it never throws, and
 * anything it accepts is canonical (re-encodes to the very same bytes).
 */
export function runDecoderFuzz<S>(
  name: string,
  decode: (bytes: Uint8Array) => { ok: true; value: S } | { ok: false; reason: string; detail: string },
  encode: (s: S) => Uint8Array,
  valid: fc.Arbitrary<Uint8Array>,
  runs = Number(process.env['FUZZ_RUNS'] ?? 100_000),
): void {
  test(`${name}: decode never throws on ${runs} random and mutated inputs, and accepts only canonical bytes`, () => {
    const samples = fc.sample(valid, { numRuns: 200, seed: 42 })
    const check = (bytes: Uint8Array): void => {
      const r = decode(bytes)
      assert.equal(typeof r.ok, 'boolean')
      if (r.ok) assert.ok(codec.bytesEqual(encode(r.value), bytes), `${name}: accepted non-canonical bytes ${hex(bytes)}`)
      else assert.equal(typeof r.detail, 'string')
    }
    const p = fcParams()
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), check), { ...p, numRuns: Math.ceil(runs / 2) })
    fc.assert(fc.property(arbMutated(samples), check), { ...p, numRuns: Math.floor(runs / 2) })
  })
}

/** Valid encodings of states reachable by replicas, for the fuzzers. */
export function arbEncoded<S, Op>(crdt: Crdt<S, Op>, arbOp: fc.Arbitrary<Op>): fc.Arbitrary<Uint8Array> {
  return arbStates(crdt, arbOp).map(([a]) => crdt.encode(a))
}
