import assert from 'node:assert/strict'
import { test } from 'node:test'
import { testSigner } from './log.test-util.ts'
import * as log from './index.ts'

const root = testSigner(10)
const t0 = 1_800_000_000_000
const fleet = log.fleetOf(root)
const inv = log.createInvite(root, { caps: ['read', 'write:*'], issuedAtMs: t0, expiresAtMs: t0 + 1000, nonce: new Uint8Array(16).fill(1) })
assert.ok(inv.ok)
const creds = [0, 1, 2, 3].map((i) => {
  const c = log.createCredential(inv.value, testSigner(i), t0)
  assert.ok(c.ok)
  return c.value
})
const rev = (i: number): log.Revocation => {
  const r = log.createRevocation(root, { node: testSigner(i).author, cutoffSeq: i, issuedAtMs: t0 })
  assert.ok(r.ok)
  return r.value
}

const rosterOf = (cs: readonly log.Credential[]): log.Roster => {
  const r = log.createRoster(fleet)
  for (const c of cs) assert.ok(log.rosterAdd(r, c, t0).ok)
  return r
}
const revsOf = (rs: readonly log.Revocation[]): log.Revocations => {
  const s = log.createRevocations(fleet)
  for (const r of rs) assert.ok(log.revocationsAdd(s, r).ok)
  return s
}

test('fleet summary: the same sets learnt in any order summarize the same; one item more or less does not', () => {
  const [a, b, c, d] = creds as [log.Credential, log.Credential, log.Credential, log.Credential]
  const s1 = log.fleetSummary(rosterOf([a, b, c]), revsOf([rev(5), rev(6)]))
  const s2 = log.fleetSummary(rosterOf([c, a, b]), revsOf([rev(6), rev(5)]))
  assert.ok(log.sameSet(s1.roster, s2.roster))
  assert.ok(log.sameSet(s1.revocations, s2.revocations))
  assert.equal(s1.roster.count, 3)
  assert.equal(s1.revocations.count, 2)
  const fewer = log.fleetSummary(rosterOf([a, b]), revsOf([rev(5)]))
  assert.ok(!log.sameSet(s1.roster, fewer.roster))
  assert.ok(!log.sameSet(s1.revocations, fewer.revocations))
  // same count, another member
  const other = log.fleetSummary(rosterOf([a, b, d]), revsOf([rev(5), rev(7)]))
  assert.ok(!log.sameSet(s1.roster, other.roster))
  assert.ok(!log.sameSet(s1.revocations, other.revocations))
  // the empty sets of the roster and of the revocations hash apart (separate domains)
  const empty = log.fleetSummary(log.createRoster(fleet), log.createRevocations(fleet))
  assert.equal(empty.roster.count, 0)
  assert.ok(!log.sameSet(empty.roster, empty.revocations))
})

test('fleet summary message: round trip, fixed size, a later version ignored, anything else malformed', () => {
  const s = log.fleetSummary(rosterOf(creds), revsOf([rev(5)]))
  const bytes = log.encodeFleetSummary(s)
  assert.equal(bytes.length, 1 + 1 + 32 + 1 + 32)
  assert.ok(bytes.length <= log.fleetSummaryBytesMax)
  const d = log.decodeFleetSummary(bytes)
  assert.ok(d.ok && d.value !== undefined)
  assert.ok(log.sameSet(d.value.roster, s.roster) && log.sameSet(d.value.revocations, s.revocations))
  assert.equal(d.value.roster.count, 4)
  // a later version: no error (the receiver ignores it), whatever follows
  const later = log.decodeFleetSummary(new Uint8Array([2, 0xff]))
  assert.ok(later.ok && later.value === undefined)
  // truncated at every length, a trailing byte, version 0, empty, oversized
  for (let n = 0; n < bytes.length; n++) assert.equal(log.decodeFleetSummary(bytes.subarray(0, n)).ok, false, `${n} bytes`)
  assert.equal(log.decodeFleetSummary(new Uint8Array([...bytes, 0])).ok, false)
  const v0 = bytes.slice()
  v0[0] = 0
  assert.equal(log.decodeFleetSummary(v0).ok, false)
  assert.equal(log.decodeFleetSummary(new Uint8Array(log.fleetSummaryBytesMax + 1).fill(1)).ok, false)
})

test('fleet summary: a set that grows after its summary was made summarizes as a fresh set with the same items', () => {
  const [a, b, c] = creds as [log.Credential, log.Credential, log.Credential]
  const roster = rosterOf([a, b])
  const revs = revsOf([rev(5)])
  const before = log.fleetSummary(roster, revs)
  assert.ok(log.sameSet(before.roster, log.fleetSummary(roster, revs).roster), 'asked again, unchanged')
  assert.ok(log.rosterAdd(roster, c, t0).ok)
  assert.ok(log.revocationsAdd(revs, rev(6)).ok)
  const after = log.fleetSummary(roster, revs)
  assert.ok(!log.sameSet(before.roster, after.roster))
  assert.ok(log.sameSet(after.roster, log.fleetSummary(rosterOf([c, b, a]), revs).roster))
  assert.ok(log.sameSet(after.revocations, log.fleetSummary(roster, revsOf([rev(6), rev(5)])).revocations))
  // adding a credential the roster holds already changes nothing
  assert.deepEqual(log.rosterAdd(roster, c, t0), { ok: true, value: false })
  assert.ok(log.sameSet(after.roster, log.fleetSummary(roster, revs).roster))
})
