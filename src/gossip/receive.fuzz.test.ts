/**
 * Issue 4's bad-input fuzz: malformed messages fed to `receive` of membership and anti-entropy. Objects are
 * malformed by construction (a valid message with one rule broken), so each must be reported as rejected,
 * send nothing, and change no state; byte frames (valid frames cut, flipped, extended, or random bytes) may
 * by chance still spell a valid message, so for them `receive` must agree with the decoder. Nothing may
 * throw, and the machines' state stays valid throughout.
 *
 * GOSSIP_FUZZ_RUNS sets the total number of messages (default 100000, split evenly over the four suites).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import * as core from '../core/index.ts'
import type { NodeId } from '../core/index.ts'
import type { SignedOp } from '../log/index.ts'
import { signOps } from '../log/index.ts'
import { encodedChain, testSigner } from '../log/log.test-util.ts'
import type { AntiEntropyMessage, LogSource } from './anti-entropy.ts'
import * as ae from './anti-entropy.ts'
import type { Membership, MembershipMessage, MemberStatus, Update } from './membership.ts'
import * as ms from './membership.ts'

const totalRuns = Number(process.env['GOSSIP_FUZZ_RUNS'] ?? 100_000)
const runsEach = Math.max(1, Math.floor(totalRuns / 4))

// ---- membership

const nid = (i: number): NodeId => core.ids.asNodeId(`node-${i}`)
const self = nid(0)
const peer = nid(1)

const idArb = fc.constantFrom(...Array.from({ length: 12 }, (_, i) => nid(i)))
const updateArb: fc.Arbitrary<Update> = fc
  .record({
    id: idArb,
    incarnation: fc.nat(5),
    status: fc.constantFrom<MemberStatus>('alive', 'suspect', 'offline', 'retired'),
    by: fc.option(idArb, { nil: undefined }),
  })
  .map((u) => (u.by === undefined ? { id: u.id, incarnation: u.incarnation, status: u.status } : u))
const updatesArb = fc.array(updateArb, { maxLength: 6 })
const seqArb = fc.nat(1000)
const validMembershipArb: fc.Arbitrary<MembershipMessage> = fc.oneof(
  fc.record({ type: fc.constant('m.ping' as const), seq: seqArb, updates: updatesArb }),
  fc.record({ type: fc.constant('m.ack' as const), seq: seqArb, updates: updatesArb }),
  fc.record({ type: fc.constant('m.ping-req' as const), seq: seqArb, target: idArb, updates: updatesArb }),
  fc.record({ type: fc.constant('m.nack' as const), seq: seqArb }),
  fc.record({ type: fc.constant('m.join' as const), self: updateArb.map((u) => ({ id: u.id, incarnation: u.incarnation, status: 'alive' as const })) }),
  fc.record({ type: fc.constant('m.members' as const), members: updatesArb }),
  fc.record({ type: fc.constant('m.sync' as const), members: updatesArb }),
)

/** Values that are never a valid node id / seq / incarnation / status / list. */
const badId = fc.oneof(fc.constant(''), fc.constant('x'.repeat(129)), fc.constant('a\ud800b'), fc.integer(), fc.constant(null), fc.object())
const badNumber = fc.oneof(
  fc.integer({ max: -1 }),
  fc.double({ noInteger: true }),
  fc.constant(2 ** 32),
  fc.constant(Number.NaN),
  fc.constant(Infinity),
  fc.string(),
  fc.constant(undefined),
  fc.constant(null),
)
const badStatus = fc.oneof(fc.constantFrom('dead', 'ALIVE', '', 'suspected'), fc.integer(), fc.constant(undefined))
const badUpdate = fc.oneof(
  fc.record({ id: badId, incarnation: fc.nat(5), status: fc.constant('alive') }),
  fc.record({ id: idArb, incarnation: badNumber, status: fc.constant('alive') }),
  fc.record({ id: idArb, incarnation: fc.nat(5), status: badStatus }),
  fc.record({ id: idArb, incarnation: fc.nat(5), status: fc.constant('suspect'), by: badId.filter((x) => x !== undefined) }),
  fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.array(fc.nat())),
)
const notAList = fc.oneof(fc.constant(undefined), fc.constant(null), fc.string(), fc.object(), fc.integer())

/** A mutation that breaks exactly the rules that apply to the message's type. */
type Mutation =
  | { kind: 'not-object'; value: unknown }
  | { kind: 'type'; value: unknown }
  | { kind: 'seq'; value: unknown }
  | { kind: 'list'; value: unknown }
  | { kind: 'bad-update'; value: unknown; at: number }
  | { kind: 'too-many' }
  | { kind: 'target'; value: unknown }
  | { kind: 'join-status'; value: MemberStatus }
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('not-object' as const), value: fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.array(fc.anything(), { maxLength: 3 })) }),
  fc.record({ kind: fc.constant('type' as const), value: fc.oneof(fc.string(), fc.constantFrom('m.PING', 'ae.digest', 'm.pingreq'), fc.integer(), fc.constant(undefined)) }),
  fc.record({ kind: fc.constant('seq' as const), value: badNumber }),
  fc.record({ kind: fc.constant('list' as const), value: notAList }),
  fc.record({ kind: fc.constant('bad-update' as const), value: badUpdate, at: fc.nat(6) }),
  fc.record({ kind: fc.constant('too-many' as const) }),
  fc.record({ kind: fc.constant('target' as const), value: badId }),
  fc.record({ kind: fc.constant('join-status' as const), value: fc.constantFrom<MemberStatus>('suspect', 'offline', 'retired') }),
)

function mutateMembership(m: MembershipMessage, mu: Mutation): unknown {
  const x: Record<string, unknown> = { ...m }
  const listKey = 'updates' in m ? 'updates' : 'members' in m ? 'members' : undefined
  switch (mu.kind) {
    case 'not-object':
      return mu.value
    case 'type':
      return { ...x, type: mu.value }
    case 'seq':
      if (!('seq' in m)) break
      return { ...x, seq: mu.value }
    case 'list':
      if (listKey === undefined) break
      return { ...x, [listKey]: mu.value }
    case 'bad-update': {
      if (listKey === undefined) return m.type === 'm.join' ? { ...x, self: mu.value } : { ...x, type: 'm.bad' }
      const list = [...((x[listKey] as unknown[]) ?? [])]
      list.splice(mu.at % (list.length + 1), 0, mu.value)
      return { ...x, [listKey]: list }
    }
    case 'too-many': {
      if (listKey === undefined) break
      const limit = listKey === 'updates' ? ms.piggybackEntriesLimit : ms.membersPerMessageLimit
      return { ...x, [listKey]: Array.from({ length: limit + 1 }, (_, i) => ({ id: nid(i % 12), incarnation: 0, status: 'alive' })) }
    }
    case 'target':
      if (m.type !== 'm.ping-req') break
      return { ...x, target: mu.value }
    case 'join-status':
      if (m.type !== 'm.join') break
      return { ...x, self: { ...m.self, status: mu.value } }
  }
  // The mutation does not apply to this type: break the type instead.
  return { ...x, type: `${m.type}?` }
}

/** A machine that knows a few members and has run a while (so it has probes, relays and queues). */
function membershipMachine(): Membership {
  const m = ms.createMembership(self, {}, core.prng.create(77))
  m.receive(peer, { type: 'm.members', members: Array.from({ length: 8 }, (_, i) => ({ id: nid(i + 1), incarnation: 0, status: 'alive' })) }, 0)
  for (let t = 0; t <= 3000; t += 100) m.tick(t)
  return m
}

function snapshot(m: Membership): string {
  return JSON.stringify([m.members(), m.incarnation(), m.health()])
}

function assertMembershipValid(m: Membership): void {
  const members = m.members()
  assert.ok(members.length <= m.config.membersMax)
  for (const x of members) {
    assert.ok(core.ids.parseNodeId(x.id).ok && x.id !== self, `bad member id ${JSON.stringify(x.id)}`)
    assert.ok(['alive', 'suspect', 'offline', 'retired'].includes(x.status))
    assert.ok(Number.isInteger(x.incarnation) && x.incarnation >= 0 && x.incarnation <= ms.incarnationMax)
  }
  assert.ok(m.incarnation() >= 0 && m.incarnation() <= ms.incarnationMax)
  assert.ok(m.health() >= 0 && m.health() < m.config.awarenessMax)
}

/** Valid frames, then cut, flipped, extended or replaced by random bytes. */
function framesArb<T>(valid: fc.Arbitrary<T>, encode: (m: T) => Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.tuple(valid, fc.nat()).map(([m, n]) => {
      const b = encode(m)
      return b.subarray(0, n % b.length)
    }),
    fc.tuple(valid, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([m, i, x]) => {
      const b = encode(m).slice()
      b[i % b.length] = (b[i % b.length] as number) ^ x
      return b
    }),
    fc.tuple(valid, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([m, extra]) => {
      const b = encode(m)
      const c = new Uint8Array(b.length + extra.length)
      c.set(b)
      c.set(extra, b.length)
      return c
    }),
  )
}

describe(`membership receive fuzz (${runsEach} + ${runsEach} messages)`, () => {
  it('malformed objects: always rejected, nothing sent, state unchanged', () => {
    const m = membershipMachine()
    let t = 3000
    fc.assert(
      fc.property(validMembershipArb, mutationArb, (valid, mu) => {
        const bad = mutateMembership(valid, mu)
        assert.equal(ms.checkMessage(bad).ok, false, `mutation ${mu.kind} left a valid message`)
        const before = snapshot(m)
        const out = m.receive(peer, bad, ++t)
        assert.equal(out.rejected.length, 1)
        assert.deepEqual([out.send, out.changes], [[], []])
        assert.equal(snapshot(m), before)
      }),
      { numRuns: runsEach, seed: 401 },
    )
    assertMembershipValid(m)
  })

  it('malformed frames: rejected when the decoder rejects them, and then nothing changes; state stays valid', () => {
    const m = membershipMachine()
    let t = 3000
    let rejected = 0
    fc.assert(
      fc.property(framesArb(validMembershipArb, ms.encodeMessage), (bytes) => {
        const decoded = ms.decodeMessage(bytes)
        const before = decoded.ok ? '' : snapshot(m)
        t += 10
        const out = m.receive(peer, bytes, t)
        // A frame that decodes can still break a rule of the exchange (a join naming another node).
        assert.equal(out.rejected.length, decoded.ok ? out.rejected.filter((r) => r.reason === 'protocol').length : 1)
        if (!decoded.ok) {
          rejected++
          assert.deepEqual([out.send, out.changes], [[], []])
          assert.equal(snapshot(m), before)
        }
        if (t % 500 === 0) assertMembershipValid(m)
        if (t % 1000 === 0) m.tick(t) // probes, relays and suspicions run on what the fuzz taught it
      }),
      { numRuns: runsEach, seed: 402 },
    )
    assertMembershipValid(m)
    assert.ok(rejected > runsEach / 2, `only ${rejected} of ${runsEach} frames were malformed`)
  })
})

// ---- anti-entropy

const signer = testSigner(3)
const author = signer.author
const ops: SignedOp[] = (() => {
  const all = encodedChain(author, undefined, 12, 'fz')
  const out: SignedOp[] = []
  for (let i = 0; i < all.length; i += 3) out.push(...signOps(signer, all.slice(i, i + 3), 'batch_head'))
  return out
})()
const hexA = author as string
const hexB = 'b'.repeat(64)

const digestArb = fc.record({
  entries: fc.subarray([hexA, hexB].sort()).chain((as) => fc.tuple(...as.map((a) => fc.tuple(fc.constant(a), fc.integer({ min: 1, max: 50 }))))),
  range: fc.option(fc.constant({ from: '', to: null }), { nil: undefined }),
})
const validAeArb = fc.oneof(
  fc.record({ type: fc.constant('ae.digest' as const), digest: digestArb, wantFull: fc.option(fc.boolean(), { nil: undefined }) }),
  fc.record({
    type: fc.constant('ae.delta' as const),
    // Whole signed runs of the author from seq 1: 1..4 batches of 3.
    batches: fc.integer({ min: 1, max: 4 }).map((k) => Array.from({ length: k }, (_, i) => ops.slice(3 * i, 3 * i + 3))),
    more: fc.boolean(),
    digest: fc.option(digestArb, { nil: undefined }),
    wantFull: fc.option(fc.boolean(), { nil: undefined }),
  }),
) as fc.Arbitrary<AntiEntropyMessage>

type AeMutation =
  | { kind: 'not-object'; value: unknown }
  | { kind: 'type'; value: unknown }
  | { kind: 'entry'; value: unknown }
  | { kind: 'unsorted' }
  | { kind: 'want-full'; value: unknown }
  | { kind: 'more'; value: unknown }
  | { kind: 'batches'; value: unknown }
  | { kind: 'empty-batch' }
  | { kind: 'unsigned-end' }
  | { kind: 'gap' }
  | { kind: 'too-many-entries' }
const badEntry = fc.oneof(
  fc.tuple(fc.oneof(fc.string({ maxLength: 70 }), fc.constant('A'.repeat(64)), fc.integer()), fc.integer({ min: 1, max: 9 })),
  fc.tuple(fc.constant(hexB), fc.oneof(fc.constant(0), fc.integer({ max: -1 }), fc.double({ noInteger: true }), fc.constant(2 ** 53), fc.string())),
  fc.oneof(fc.constant(null), fc.string(), fc.tuple(fc.constant(hexB))),
)
const aeMutationArb: fc.Arbitrary<AeMutation> = fc.oneof(
  fc.record({ kind: fc.constant('not-object' as const), value: fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.array(fc.anything(), { maxLength: 3 })) }),
  fc.record({ kind: fc.constant('type' as const), value: fc.oneof(fc.string(), fc.constantFrom('ae.Digest', 'm.ping'), fc.integer()) }),
  fc.record({ kind: fc.constant('entry' as const), value: badEntry }),
  fc.record({ kind: fc.constant('unsorted' as const) }),
  fc.record({ kind: fc.constant('want-full' as const), value: fc.oneof(fc.integer(), fc.string(), fc.constant(null)) }),
  fc.record({ kind: fc.constant('more' as const), value: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.constant(undefined)) }),
  fc.record({ kind: fc.constant('batches' as const), value: notAList }),
  fc.record({ kind: fc.constant('empty-batch' as const) }),
  fc.record({ kind: fc.constant('unsigned-end' as const) }),
  fc.record({ kind: fc.constant('gap' as const) }),
  fc.record({ kind: fc.constant('too-many-entries' as const) }),
)

function mutateAe(m: AntiEntropyMessage, mu: AeMutation): unknown {
  const x: Record<string, unknown> = { ...m }
  const digest = m.digest ?? { entries: [] }
  switch (mu.kind) {
    case 'not-object':
      return mu.value
    case 'type':
      return { ...x, type: mu.value }
    case 'entry':
      return { ...x, digest: { ...digest, entries: [...digest.entries, mu.value] } }
    case 'unsorted':
      return { ...x, digest: { ...digest, entries: [hexA, hexB].sort().reverse().map((a) => [a, 1]) } }
    case 'want-full':
      return { ...x, wantFull: mu.value }
    case 'too-many-entries':
      return {
        ...x,
        digest: { entries: Array.from({ length: ae.antiEntropyDefaults.digestEntriesMax + 1 }, (_, i) => [i.toString(16).padStart(64, '0'), 1]) },
      }
    case 'more':
      if (m.type !== 'ae.delta') break
      return { ...x, more: mu.value }
    case 'batches':
      if (m.type !== 'ae.delta') break
      return { ...x, batches: mu.value }
    case 'empty-batch':
      if (m.type !== 'ae.delta') break
      return { ...x, batches: [...m.batches, []] }
    case 'unsigned-end': {
      if (m.type !== 'ae.delta') break
      const last = m.batches[m.batches.length - 1] as SignedOp[]
      const end = last[last.length - 1] as SignedOp
      return { ...x, batches: [...m.batches.slice(0, -1), [...last.slice(0, -1), { op: end.op, bytes: end.bytes, hash: end.hash }]] }
    }
    case 'gap':
      if (m.type !== 'ae.delta' || m.batches.length < 2) break
      return { ...x, batches: [m.batches[0], ...m.batches.slice(2)].length === 1 ? [m.batches[0], m.batches[0]] : [m.batches[0], ...m.batches.slice(2)] }
  }
  return { ...x, type: `${m.type}?` }
}

describe(`anti-entropy receive fuzz (${runsEach} + ${runsEach} messages)`, () => {
  const log: LogSource = {
    versionVector: () => new Map([[author, 3]]),
    opsAfter: (a, seq, limit) => (a === author ? ops.slice(seq, seq + limit) : []),
  }
  const machine = () => ae.createAntiEntropy({ log, prng: core.prng.create(9) })
  const assertAeValid = (m: ae.AntiEntropy): void => {
    assert.ok(m.peerCount() <= 1)
    assert.ok(m.knownEntries(peer) <= 2 + m.config.digestEntriesMax)
  }

  it('malformed objects: always rejected, nothing sent or handed over', () => {
    const m = machine()
    fc.assert(
      fc.property(validAeArb, aeMutationArb, (valid, mu) => {
        const bad = mutateAe(valid, mu)
        assert.equal(ae.checkMessage(bad, m.config).ok, false, `mutation ${mu.kind} left a valid message`)
        const out = m.receive(peer, bad, 0)
        assert.equal(out.rejected.length, 1)
        assert.deepEqual([out.send, out.received], [[], []])
      }),
      { numRuns: runsEach, seed: 403 },
    )
    assertAeValid(m)
  })

  it('malformed frames: rejected exactly when decoding or checking fails; state stays valid', () => {
    const m = machine()
    let rejected = 0
    fc.assert(
      fc.property(framesArb(validAeArb, ae.encodeMessage), (bytes) => {
        const d = ae.decodeMessage(bytes, m.config)
        const ok = d.ok && ae.checkMessage(d.value, m.config).ok
        const out = m.receive(peer, bytes, 0)
        assert.equal(out.rejected.length, ok ? 0 : 1)
        if (!ok) {
          rejected++
          assert.deepEqual([out.send, out.received], [[], []])
        }
      }),
      { numRuns: runsEach, seed: 404 },
    )
    assertAeValid(m)
    assert.ok(rejected > runsEach / 2, `only ${rejected} of ${runsEach} frames were malformed`)
  })
})
