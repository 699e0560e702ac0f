import assert from 'node:assert/strict'
import { test } from 'node:test'
import { testSigner } from './log.test-util.ts'
import * as log from './index.ts'
import type { Credential, Invite } from './index.ts'

const root = testSigner(10)
const otherRoot = testSigner(11)
const alice = testSigner(0)
const bob = testSigner(1)
const t0 = 1_800_000_000_000
const fleet = log.fleetOf(root)

function invite(caps: readonly string[], n: number): Invite {
  const i = log.createInvite(root, { caps, issuedAtMs: t0, expiresAtMs: t0 + 1000, nonce: new Uint8Array(16).fill(n) })
  assert.ok(i.ok)
  return i.value
}
function cred(inv: Invite, s = alice): Credential {
  const c = log.createCredential(inv, s, t0)
  assert.ok(c.ok)
  return c.value
}

test('revocation: round trip, forged or altered refused, another fleet refused by the set', () => {
  const r = log.createRevocation(root, { node: alice.author, cutoffSeq: 7, issuedAtMs: t0, reason: 'lost laptop' })
  assert.ok(r.ok, r.ok ? '' : r.detail)
  assert.equal(r.value.node, alice.author)
  assert.equal(r.value.cutoffSeq, 7)
  const d = log.decodeRevocation(r.value.bytes)
  assert.ok(d.ok)
  assert.equal(d.value.reason, 'lost laptop')
  // every flipped byte is refused (the signature covers every field)
  for (let i = 0; i < r.value.bytes.length; i++) {
    const b = r.value.bytes.slice()
    b[i] = (b[i] as number) ^ 1
    assert.equal(log.decodeRevocation(b).ok, false, `byte ${i}`)
  }
  // signed by another key but naming our fleet
  const forged = log.createRevocation(otherRoot, { node: alice.author, cutoffSeq: 0, issuedAtMs: t0 })
  assert.ok(forged.ok)
  const swapped = forged.value.bytes.slice()
  swapped.set(log.authorBytes(root.author), 2)
  const f = log.decodeRevocation(swapped)
  assert.equal(f.ok ? 'ok' : f.reason, 'forged_revocation')
  const set = log.createRevocations(fleet)
  const w = log.revocationsAdd(set, forged.value.bytes)
  assert.equal(w.ok ? 'ok' : w.reason, 'wrong_fleet')
  assert.deepEqual(log.revocationsAdd(set, r.value.bytes), { ok: true, value: true })
  assert.deepEqual(log.revocationsAdd(set, r.value.bytes), { ok: true, value: false })
  assert.equal(log.isRevoked(set, alice.author, 'x'), true)
  assert.equal(log.isRevoked(set, bob.author, 'x'), false)
})

test('capsAt: ops up to the cutoff keep their caps, later ones have none; unknown authors undefined; invite revocation', () => {
  const roster = log.createRoster(fleet)
  const invA = invite(['read', 'write:*'], 1)
  const invB1 = invite(['read', 'write:status'], 2)
  const invB2 = invite(['read', 'write:task'], 3)
  assert.ok(log.rosterAdd(roster, cred(invA, alice), t0).ok)
  assert.ok(log.rosterAdd(roster, cred(invB1, bob), t0).ok)
  assert.ok(log.rosterAdd(roster, cred(invB2, bob), t0).ok)
  const set = log.createRevocations(fleet)
  const rA = log.createRevocation(root, { node: alice.author, cutoffSeq: 3, issuedAtMs: t0 })
  assert.ok(rA.ok)
  assert.ok(log.revocationsAdd(set, rA.value).ok)
  assert.deepEqual(log.capsAt(roster, set, alice.author, 3), ['read', 'write:*'])
  assert.deepEqual(log.capsAt(roster, set, alice.author, 4), [])
  assert.equal(log.capsAt(roster, set, testSigner(5).author, 1), undefined)
  assert.deepEqual(log.capsAt(roster, set, bob.author, 9), ['read', 'write:status', 'write:task'])
  const rI = log.createRevocation(root, { inviteId: invB1.id, issuedAtMs: t0 })
  assert.ok(rI.ok)
  assert.ok(log.revocationsAdd(set, rI.value).ok)
  assert.deepEqual(log.capsAt(roster, set, bob.author, 9), ['read', 'write:task'])
  assert.equal(log.isRevoked(set, bob.author, invB1.id), true)
  assert.equal(log.isRevoked(set, bob.author, invB2.id), false)
  // a message carries them; garbage is refused, not thrown
  const m = log.decodeRevocationMessage(log.encodeRevocationMessage(set.all))
  assert.ok(m.ok)
  assert.equal(m.value.length, 2)
  assert.equal(log.decodeRevocationMessage(new Uint8Array([5, 1])).ok, false)
})
