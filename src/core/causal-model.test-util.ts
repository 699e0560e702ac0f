/**
 * A reference model for causal CRDTs whose updates create and supersede versions (MV-register, OR-Set,
 * OR-Map of them), checked against the real thing over random histories of up to five replicas.
 *
 * The model knows nothing of dot stores. It records every update as an event: its dot, its scope (the
 * path it touches: [] for a register, [key] for a map entry, [key, elem] for a set element in a map),
 * whether it creates a version (set, add) or only supersedes (clear, remove), and the events its replica
 * had observed when it was made (the happened-before relation). An event e' kills a version e if and
 * only if e' observed e and e' covers e's scope (e'.scope is a prefix of e.scope); an op that names what
 * it supersedes (`supersedes: dots`) kills only the named versions. A version is live at a replica if
 * and only if the replica knows it and knows no event that kills it.
 *
 * Replicas exchange full states only, so what a replica knows is always causally closed and the model is
 * exact at every step, not just after convergence. (Deltas delivered out of causal order are covered by
 * the law suite, and by the final check here that the deltas of all updates, merged in any order, give
 * the converged state.)
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Causal } from './causal.ts'
import type { Crdt } from './crdt.ts'
import { nodeNames } from './crdt-laws.test-util.ts'
import * as dot from './dot.ts'
import type { Dot } from './dot.ts'
import * as dotSet from './dot-set.ts'
import * as json from './json.ts'
import type { Json } from './json.ts'
import * as prng from './prng.ts'
import type { Stamp } from './replica.ts'

/** Random choices a subject turns into a concrete op (each subject reads them its own way). */
export type OpChoice = {
  readonly kind: number
  readonly key: number
  readonly sub: number
  readonly value: number
  /** bits choosing which known versions an op that names its supersedes will name */
  readonly pick: number
}

export type ModelStep =
  | { readonly t: 'op'; readonly r: number; readonly c: OpChoice }
  | { readonly t: 'sync'; readonly from: number; readonly to: number }

export type ModelHistory = { readonly replicas: number; readonly steps: readonly ModelStep[] }

export function arbModelHistory(maxSteps = 40): fc.Arbitrary<ModelHistory> {
  return fc.integer({ min: 1, max: 5 }).chain((n) => {
    const idx = fc.integer({ min: 0, max: n - 1 })
    const choice = fc.record({
      kind: fc.nat(15),
      key: fc.nat(2),
      sub: fc.nat(2),
      value: fc.nat(3),
      pick: fc.nat(0xffff),
    })
    const step: fc.Arbitrary<ModelStep> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ t: fc.constant('op' as const), r: idx, c: choice }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('sync' as const), from: idx, to: idx }) },
    )
    // size 'max': lengths uniform up to maxSteps (fast-check's default size keeps arrays near 10 items)
    return fc.record({
      replicas: fc.constant(n),
      steps: fc.array(step, { maxLength: maxSteps, size: 'max' }),
    })
  })
}

export type ModelEvent = {
  readonly id: number
  readonly dot: Dot
  readonly scope: readonly string[]
  readonly creates: boolean
  readonly value: Json
  readonly observed: ReadonlySet<number>
  readonly supersedes: readonly Dot[] | undefined
}

/** What a subject's op does, in the model's terms. */
export type Planned<Op> = {
  readonly op: Op
  readonly scope: readonly string[]
  readonly creates: boolean
  readonly value?: Json
  readonly supersedes?: readonly Dot[]
}

/** One live version: where it is, its dot, its value (null for set elements, which have none). */
export type Live = { readonly scope: readonly string[]; readonly dot: Dot; readonly value: Json }

export type ModelSubject<S, Op> = {
  readonly crdt: Crdt<Causal<S>, Op>
  /** A concrete op from random choices; `known` are the events the acting replica knows. */
  plan(c: OpChoice, known: readonly ModelEvent[]): Planned<Op>
  /** The live versions of a state (and a place to assert the subject's own invariants). */
  live(s: Causal<S>): Live[]
}

/** Picks versions from `known` by the bits of `pick`: the dots an op that names its supersedes names. */
export function pickDots(known: readonly ModelEvent[], pick: number): Dot[] {
  const out: Dot[] = []
  const creates = known.filter((e) => e.creates)
  for (let i = 0; i < creates.length; i++)
    if ((pick >> (i % 16)) & 1) out.push((creates[i] as ModelEvent).dot)
  return out
}

function isPrefix(p: readonly string[], of: readonly string[]): boolean {
  if (p.length > of.length) return false
  for (let i = 0; i < p.length; i++) if (p[i] !== of[i]) return false
  return true
}

function kills(k: ModelEvent, e: ModelEvent): boolean {
  if (!k.observed.has(e.id) || !isPrefix(k.scope, e.scope)) return false
  return k.supersedes === undefined || k.supersedes.some((d) => dot.equals(d, e.dot))
}

/** The model: the versions live among `known` events. */
export function expectedLive(known: readonly ModelEvent[]): Live[] {
  return known
    .filter((e) => e.creates && !known.some((k) => kills(k, e)))
    .map((e) => ({ scope: e.scope, dot: e.dot, value: e.value }))
}

/** A canonical, comparable form of a set of live versions. */
export function showLive(live: readonly Live[]): string[] {
  return live
    .map((l) => `${JSON.stringify(l.scope)} ${l.dot.node}:${l.dot.seq} ${hex(json.encode(l.value))}`)
    .sort()
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

type Rep<S> = { state: Causal<S>; known: Set<number>; seq: number }

/**
 * Plays a history against the real CRDT and the model, checking after every step that the acting
 * replica's live versions and causal context are what the model says, then that the replicas converge
 * to the model's state over all events, and that the deltas of all updates merged in a seeded shuffle
 * give that same state. Returns the converged state.
 */
export function checkHistory<S, Op>(
  subject: ModelSubject<S, Op>,
  h: ModelHistory,
  shuffleSeed: number,
): Causal<S> {
  const { crdt } = subject
  const events: ModelEvent[] = []
  const deltas: Causal<S>[] = []
  const reps: Rep<S>[] = []
  for (let i = 0; i < h.replicas; i++) reps.push({ state: crdt.empty(), known: new Set(), seq: 0 })

  const knownOf = (r: Rep<S>): ModelEvent[] => events.filter((e) => r.known.has(e.id))
  const check = (r: Rep<S>, i: number, when: string): void => {
    const known = knownOf(r)
    assert.deepEqual(
      showLive(subject.live(r.state)),
      showLive(expectedLive(known)),
      `replica ${i} ${when}: live versions`,
    )
    const ctx = dotSet.empty()
    for (const e of known) dotSet.addDot(ctx, e.dot)
    assert.ok(dotSet.equals(r.state.ctx, ctx), `replica ${i} ${when}: the context is not the observed dots`)
  }

  h.steps.forEach((step, n) => {
    if (step.t === 'op') {
      const r = reps[step.r] as Rep<S>
      const p = subject.plan(step.c, knownOf(r))
      const stamp: Stamp = { node: nodeNames[step.r]!, seq: ++r.seq, wallMs: 0, logical: 0 }
      const delta = crdt.empty()
      crdt.apply(r.state, p.op, stamp, delta)
      deltas.push(delta)
      const id = events.length
      events.push({
        id,
        dot: { node: stamp.node, seq: stamp.seq },
        scope: p.scope,
        creates: p.creates,
        value: p.value ?? null,
        observed: new Set(r.known),
        supersedes: p.supersedes,
      })
      r.known.add(id)
      check(r, step.r, `after step ${n} (${JSON.stringify(p.op)})`)
    } else {
      const from = reps[step.from] as Rep<S>
      const to = reps[step.to] as Rep<S>
      crdt.mergeInto(to.state, from.state)
      for (const id of from.known) to.known.add(id)
      check(to, step.to, `after step ${n} (sync ${step.from} -> ${step.to})`)
    }
  })

  // Convergence: everyone learns everything.
  const first = reps[0] as Rep<S>
  for (const r of reps) crdt.mergeInto(first.state, r.state)
  for (const r of reps) crdt.mergeInto(r.state, first.state)
  for (const r of reps) r.known = new Set(events.map((e) => e.id))
  reps.forEach((r, i) => {
    check(r, i, 'after convergence')
    assert.ok(crdt.equals(r.state, first.state), `replica ${i} did not converge`)
  })

  // The deltas alone, in any order and with duplicates, give the same state.
  const p = prng.create(shuffleSeed)
  const order = [...deltas, ...deltas]
  for (let i = order.length - 1; i > 0; i--) {
    const j = prng.nextInt(p, i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const joined = crdt.empty()
  for (const d of order) crdt.mergeInto(joined, d)
  assert.ok(crdt.equals(joined, first.state), 'the join of all deltas is not the converged state')

  const back = crdt.decode(crdt.encode(first.state))
  assert.ok(back.ok && crdt.equals(back.value, first.state), 'decode(encode(converged)) differs')
  return first.state
}
