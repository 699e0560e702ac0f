/**
 * Key rotation (log/fleet.ts "key rotation", docs/PROTOCOL.md section 5): the certificate's layout and
 * failure reasons, the successor credential, and its effects on the set of revocations (the old key cut
 * off past its cutoff and refused at handshakes, the new key with the old credential's capabilities,
 * conflicts decided by the set alone).
 */
import assert from 'node:assert/strict'
import * as crypto from 'node:crypto'
import { test } from 'node:test'
import fc from 'fast-check'
import * as core from '../core/index.ts'
import { runDecoderFuzz } from '../core/crdt-laws.test-util.ts'
import { signedChain, testSigner } from './log.test-util.ts'
import * as log from './index.ts'
import type { AuthorId, Credential, Invite, Revocation, Signer } from './index.ts'

const root = testSigner(10)
const otherRoot = testSigner(11)
const alice = testSigner(0)
const alice2 = testSigner(1)
const alice3 = testSigner(2)
const bob = testSigner(3)
const t0 = 1_800_000_000_000
const dayMs = 86_400_000
const fleet = log.fleetOf(root)

function invite(caps: readonly string[], n: number, r = root): Invite {
  const i = log.createInvite(r, { caps, issuedAtMs: t0, expiresAtMs: t0 + dayMs, nonce: new Uint8Array(16).fill(n) })
  assert.ok(i.ok, i.ok ? '' : i.detail)
  return i.value
}
function cred(inv: Invite, s: Signer): Credential {
  const c = log.createCredential(inv, s, t0)
  assert.ok(c.ok, c.ok ? '' : c.detail)
  return c.value
}
function rotation(old: Signer, next: Signer, cutoffSeq: number, at = t0 + 30 * dayMs, f = fleet): Revocation {
  const r = log.createRotation(f, old, next, { cutoffSeq, issuedAtMs: at })
  assert.ok(r.ok, r.ok ? '' : r.detail)
  return r.value
}
function successor(prev: Credential, r: Revocation): Credential {
  const c = log.createSuccessorCredential(prev, r)
  assert.ok(c.ok, c.ok ? '' : c.detail)
  return c.value
}
const reason = (r: { ok: boolean; reason?: string }): string => (r.ok ? 'ok' : (r.reason as string))

/** Rotation bytes made by hand: any fields, each signature by any key (createRotation refuses these). */
function craftRotation(f: { fleet?: string; old: AuthorId; next: AuthorId; cutoffSeq?: number; oldSigner: Signer; newSigner: Signer }): Uint8Array {
  const body = core.codec.encodeWith((w) => {
    core.codec.writeByte(w, 1)
    core.codec.writeByte(w, 0x4b)
    core.codec.writeFixed(w, log.authorBytes((f.fleet ?? fleet) as string as AuthorId))
    core.codec.writeFixed(w, log.authorBytes(f.old))
    core.codec.writeFixed(w, log.authorBytes(f.next))
    core.codec.writeUvarint(w, f.cutoffSeq ?? 3)
    core.codec.writeUvarint(w, t0)
  }, 128)
  const sig = (s: Signer) => crypto.sign(null, Buffer.concat([Buffer.from('grapevine/rotation/v1\n'), body]), s.key)
  return new Uint8Array(Buffer.concat([body, sig(f.oldSigner), sig(f.newSigner)]))
}

/** A successor credential made by hand from a base credential and rotation bytes (no chain check). */
function craftSuccessor(base: Uint8Array, rotations: readonly Uint8Array[]): Uint8Array {
  return core.codec.encodeWith((w) => {
    core.codec.writeByte(w, 1)
    core.codec.writeByte(w, 0x53)
    core.codec.writeBytes(w, base)
    core.codec.writeUvarint(w, rotations.length)
    for (const r of rotations) core.codec.writeBytes(w, r)
  }, 1024)
}

test('rotation: the layout round-trips; each field is where PROTOCOL.md says; every flipped byte is refused', () => {
  const r = rotation(alice, alice2, 5)
  assert.equal(r.node, alice.author)
  assert.equal(r.successor, alice2.author)
  assert.equal(r.cutoffSeq, 5)
  assert.equal(r.reason, '')
  assert.ok(r.bytes.length <= log.rotationBytesMax)
  // version, tag, fleet, old, new, cutoff, issuedAt, 64 + 64
  assert.deepEqual([r.bytes[0], r.bytes[1]], [1, 0x4b])
  assert.equal(Buffer.from(r.bytes.subarray(2, 34)).toString('hex'), fleet)
  assert.equal(Buffer.from(r.bytes.subarray(34, 66)).toString('hex'), alice.author)
  assert.equal(Buffer.from(r.bytes.subarray(66, 98)).toString('hex'), alice2.author)
  assert.equal(r.bytes.length, 98 + 1 + 6 + 128)
  assert.deepEqual(log.decodeRotation(r.bytes), { ok: true, value: r })
  assert.deepEqual(log.decodeFleetCertificate(r.bytes), { ok: true, value: r }, 'revocation messages and files carry it by its tag')
  for (let i = 0; i < r.bytes.length; i++) {
    const b = r.bytes.slice()
    b[i] = (b[i] as number) ^ 1
    assert.equal(log.decodeRotation(b).ok, false, `byte ${i}`)
  }
})

test('rotation: each failure reason', () => {
  const r = rotation(alice, alice2, 5)
  assert.equal(reason(log.decodeRotation(r.bytes.subarray(0, r.bytes.length - 1))), 'malformed', 'truncated')
  assert.equal(reason(log.decodeRotation(new Uint8Array([...r.bytes, 0]))), 'malformed', 'a trailing byte')
  assert.equal(reason(log.decodeRotation(new Uint8Array(log.rotationBytesMax + 1))), 'too_large')
  assert.equal(reason(log.decodeRotation('x' as unknown as Uint8Array)), 'malformed')
  const notRot = r.bytes.slice()
  notRot[1] = 0x52
  assert.equal(reason(log.decodeRotation(notRot)), 'malformed', 'another tag')
  // a forged signature by either key
  assert.equal(reason(log.decodeRotation(craftRotation({ old: alice.author, next: alice2.author, oldSigner: bob, newSigner: alice2 }))), 'forged_rotation', 'the old key did not sign')
  assert.equal(reason(log.decodeRotation(craftRotation({ old: alice.author, next: alice2.author, oldSigner: alice, newSigner: bob }))), 'bad_proof', 'the new key did not sign')
  assert.equal(reason(log.decodeRotation(craftRotation({ old: alice.author, next: alice.author, oldSigner: alice, newSigner: alice }))), 'malformed', 'to itself')
  // making one: bad fields refused before anything is signed
  assert.equal(reason(log.createRotation(fleet, alice, alice, { cutoffSeq: 1, issuedAtMs: t0 })), 'invalid')
  assert.equal(reason(log.createRotation(fleet, alice, alice2, { cutoffSeq: -1, issuedAtMs: t0 })), 'invalid')
  assert.equal(reason(log.createRotation(fleet, alice, alice2, { cutoffSeq: 1, issuedAtMs: 1.5 })), 'invalid')
  assert.equal(reason(log.createRotation('nope' as log.FleetId, alice, alice2, { cutoffSeq: 1, issuedAtMs: t0 })), 'invalid')
  // another fleet's rotation: the set refuses it
  const set = log.createRevocations(fleet)
  assert.equal(reason(log.revocationsAdd(set, rotation(alice, alice2, 1, t0, log.fleetOf(otherRoot)).bytes)), 'wrong_fleet')
})

runDecoderFuzz(
  'rotation',
  log.decodeRotation,
  (r) => r.bytes,
  fc.tuple(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 45 })).map(([cutoffSeq, issuedAtMs]) => rotation(alice, alice2, cutoffSeq, issuedAtMs).bytes),
  Number(process.env['FUZZ_RUNS'] ?? 5000),
)

test('successor credential: the new key, the base credential\'s caps and invite, accepted after the invite expired; chains; bad chains refused', () => {
  const base = cred(invite(['read', 'write:status'], 1), alice)
  const r1 = rotation(alice, alice2, 4, t0 + 30 * dayMs)
  assert.ok(r1.issuedAtMs > base.invite.expiresAtMs, 'long after the invite expired')
  const s1 = successor(base, r1)
  assert.equal(s1.node, alice2.author)
  assert.deepEqual(s1.caps, base.caps)
  assert.equal(s1.invite.id, base.invite.id)
  assert.equal(s1.joinedAtMs, r1.issuedAtMs)
  assert.deepEqual(s1.rotations, [r1])
  assert.ok(s1.bytes.length <= log.credentialBytesMax)
  const d = log.decodeCredential(s1.bytes)
  assert.ok(d.ok, d.ok ? '' : d.detail)
  assert.equal(d.value.node, alice2.author)
  assert.deepEqual(d.value.caps, base.caps)
  assert.ok(log.checkMembership(d.value, { fleet, nowMs: t0 + 31 * dayMs }).ok)
  assert.equal(reason(log.checkMembership(d.value, { fleet, nowMs: t0 })), 'not_yet_valid', 'a rotation dated ahead of the clock')
  // rotated again: one base, two rotations
  const r2 = rotation(alice2, alice3, 2, t0 + 40 * dayMs)
  const s2 = successor(s1, r2)
  assert.equal(s2.node, alice3.author)
  assert.deepEqual(s2.rotations, [r1, r2])
  assert.equal(s2.base?.node, alice.author)
  assert.deepEqual(log.decodeCredential(s2.bytes), { ok: true, value: s2 })
  // refused: a rotation of another key, too long a chain, a broken or forged chain, a successor as base
  assert.equal(reason(log.createSuccessorCredential(base, r2)), 'invalid')
  let long = base
  const keys = Array.from({ length: log.rotationChainMax + 1 }, (_, i) => testSigner(20 + i))
  let prev: Signer = alice
  for (const k of keys.slice(0, log.rotationChainMax)) {
    long = successor(long, rotation(prev, k, 1))
    prev = k
  }
  assert.equal(reason(log.createSuccessorCredential(long, rotation(prev, keys[log.rotationChainMax] as Signer, 1))), 'invalid')
  assert.ok(long.bytes.length <= log.credentialBytesMax, 'the longest chain fits the limit')
  assert.equal(reason(log.decodeCredential(craftSuccessor(base.bytes, [r2.bytes]))), 'malformed', 'the chain does not start at the base key')
  assert.equal(reason(log.decodeCredential(craftSuccessor(base.bytes, [r1.bytes, r1.bytes]))), 'malformed', 'the chain does not continue')
  assert.equal(reason(log.decodeCredential(craftSuccessor(base.bytes, []))), 'malformed', 'no rotation')
  assert.equal(reason(log.decodeCredential(craftSuccessor(s1.bytes, [r2.bytes]))), 'malformed', 'a successor as base')
  const forged = craftRotation({ old: alice.author, next: bob.author, oldSigner: bob, newSigner: bob })
  assert.equal(reason(log.decodeCredential(craftSuccessor(base.bytes, [forged]))), 'forged_rotation', 'someone else names a successor of alice')
  const noProof = craftRotation({ old: alice.author, next: bob.author, oldSigner: alice, newSigner: alice })
  assert.equal(reason(log.decodeCredential(craftSuccessor(base.bytes, [noProof]))), 'bad_proof')
  const foreign = rotation(alice, alice2, 1, t0, log.fleetOf(otherRoot))
  assert.equal(reason(log.decodeCredential(craftSuccessor(base.bytes, [foreign.bytes]))), 'malformed', 'a rotation of another fleet')
})

test('rotation in force: the old key keeps its ops up to the cutoff and loses the rest and its handshakes; the new key has its caps', () => {
  const inv = invite(['read', 'write:*'], 1)
  const base = cred(inv, alice)
  const r = rotation(alice, alice2, 3)
  const s = successor(base, r)
  const roster = log.createRoster(fleet)
  assert.ok(log.rosterAdd(roster, base, t0).ok)
  assert.ok(log.rosterAdd(roster, s.bytes, t0 + 31 * dayMs).ok, 'a successor credential joins a roster as bytes from a peer')
  const set = log.createRevocations(fleet)
  // before the set knows it: the old key is still whole
  assert.equal(log.isRevoked(set, alice.author, inv.id, base), false)
  assert.deepEqual(log.learnRotations(set, s), [r], 'the successor credential brings its rotation')
  assert.deepEqual(log.learnRotations(set, s), [], 'once')
  assert.deepEqual(log.capsAt(roster, set, alice.author, 3), inv.caps)
  assert.deepEqual(log.capsAt(roster, set, alice.author, 4), [])
  assert.deepEqual(log.capsAt(roster, set, alice2.author, 1), inv.caps)
  assert.equal(log.isRevoked(set, alice.author, inv.id, base), true, 'the old key can no longer complete a handshake')
  assert.equal(log.isRevoked(set, alice2.author, inv.id, s), false, 'the new key can')
  const old = signedChain(alice, 4)
  assert.equal(log.batchRule(roster, set, old.slice(0, 3)), undefined)
  assert.equal(log.batchRule(roster, set, old.slice(3)), 'revoked', 'an op of the old key past the cutoff')
  assert.equal(log.batchRule(roster, set, signedChain(alice2, 2)), undefined)
  // the invite revoked: the successor goes with it
  const byInvite = log.createRevocation(root, { inviteId: inv.id, issuedAtMs: t0 })
  assert.ok(byInvite.ok)
  assert.ok(log.revocationsAdd(set, byInvite.value).ok)
  assert.deepEqual(log.capsAt(roster, set, alice2.author, 1), [])
  assert.equal(log.isRevoked(set, alice2.author, inv.id, s), true)
})

test('rotation conflicts are a function of the set: two successors, the lower key wins; a revoked node\'s successor gets nothing; strangers\' rotations are not kept', () => {
  const inv = invite(['read', 'write:*'], 1)
  const base = cred(inv, alice)
  const [lo, hi] = [alice2, alice3].sort((a, b) => (a.author < b.author ? -1 : 1)) as [Signer, Signer]
  const rLo = rotation(alice, lo, 7)
  const rHi = rotation(alice, hi, 2)
  const sLo = successor(base, rLo)
  const sHi = successor(base, rHi)
  for (const order of [[rLo, rHi], [rHi, rLo]]) {
    const roster = log.createRoster(fleet)
    for (const c of [base, sLo, sHi]) assert.ok(log.rosterAdd(roster, c, t0 + 31 * dayMs).ok)
    const set = log.createRevocations(fleet)
    for (const r of order) assert.deepEqual(log.revocationsAdd(set, r.bytes, roster), { ok: true, value: true })
    assert.equal(set.rotations.get(alice.author)?.successor, lo.author)
    assert.equal(set.nodes.get(alice.author), 7, 'the cutoff of the rotation in force')
    assert.deepEqual(log.capsAt(roster, set, lo.author, 1), inv.caps)
    assert.deepEqual(log.capsAt(roster, set, hi.author, 1), [], 'the other successor is refused')
    assert.equal(log.isRevoked(set, hi.author, inv.id, sHi), true)
    assert.equal(log.isRevoked(set, lo.author, inv.id, sLo), false)
  }
  // the root revoked alice: her successor gets nothing, whichever came first; the lower cutoff holds
  const rev = log.createRevocation(root, { node: alice.author, cutoffSeq: 5, issuedAtMs: t0 })
  assert.ok(rev.ok)
  for (const order of [[rev.value, rLo], [rLo, rev.value]]) {
    const roster = log.createRoster(fleet)
    for (const c of [base, sLo]) assert.ok(log.rosterAdd(roster, c, t0 + 31 * dayMs).ok)
    const set = log.createRevocations(fleet)
    for (const r of order) assert.ok(log.revocationsAdd(set, r.bytes).ok)
    assert.deepEqual(log.capsAt(roster, set, lo.author, 1), [])
    assert.equal(log.isRevoked(set, lo.author, inv.id, sLo), true)
    assert.equal(set.nodes.get(alice.author), 5)
  }
  // a rotation of a key in no roster (any key pair can sign one) is not kept when the roster is given
  const roster = log.createRoster(fleet)
  const set = log.createRevocations(fleet)
  assert.deepEqual(log.revocationsAdd(set, rotation(bob, alice3, 0).bytes, roster), { ok: true, value: false })
  assert.equal(set.all.length, 0)
  // and a revocation message carries rotations next to revocations
  const msg = log.decodeRevocationMessage(log.encodeRevocationMessage([rev.value, rLo]))
  assert.ok(msg.ok)
  assert.deepEqual(msg.value.map((b) => reason(log.decodeFleetCertificate(b))), ['ok', 'ok'])
})
