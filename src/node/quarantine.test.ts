/** applyRevocations: which authors' ops a set of revocations takes out of a store, and from which seq. */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import * as log from '../log/index.ts'
import type { Invite, Signer } from '../log/index.ts'
import { testSigner } from '../log/log.test-util.ts'
import { opLog } from '../store/index.ts'
import { applyRevocations, cutoffOf } from './quarantine.ts'

const dir = mkdtempSync(join(tmpdir(), 'gv-quarantine-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const now = 1_700_000_000_000
const root = testSigner(60)
const fleet = root.author as string as log.FleetId
const invite = (k: number): Invite => {
  const r = log.createInvite(root, { caps: ['read', 'write:*'], issuedAtMs: now, expiresAtMs: now + 3_600_000, nonce: new Uint8Array(16).fill(k) })
  assert.ok(r.ok, r.ok ? '' : r.detail)
  return r.value
}
const revoke = (fields: log.RevocationFields): log.Revocation => {
  const r = log.createRevocation(root, fields)
  assert.ok(r.ok, r.ok ? '' : r.detail)
  return r.value
}

test('applyRevocations: a node past its cutoff; every op of an author whose credentials all came from revoked invites; not one that keeps a live credential, not self; twice: nothing more', () => {
  const [inv1, inv2] = [invite(1), invite(2)]
  const [m1, m2, m3, self] = [testSigner(61), testSigner(62), testSigner(63), testSigner(64)]
  const roster = log.createRoster(fleet)
  const member = (m: Signer, i: Invite) => {
    const c = log.createCredential(i, m, now)
    assert.ok(c.ok, c.ok ? '' : c.detail)
    assert.ok(log.rosterAdd(roster, c.value, now).ok)
  }
  member(m1, inv1)
  member(m2, inv2)
  member(m3, inv1)
  member(m3, inv2)
  member(self, inv1)
  const r = opLog.open(join(dir, 's.db'))
  assert.ok(r.ok)
  const store = r.value
  for (const m of [m1, m2, m3, self]) {
    const ops = log.createOps(m.author, undefined, [1, 2, 3].map((i) => ({ hlc: { wallMs: now + i, logical: 0 }, kind: 'counter.add', body: { name: 'c', n: i } })))
    assert.ok(ops.ok)
    assert.ok(opLog.ingest(store, log.signOps(m, ops.value, 'batch_head'), now + 10).ok)
  }
  const revs = log.createRevocations(fleet)
  assert.deepEqual(applyRevocations(store, roster, revs, self.author, now), [])
  assert.ok(log.revocationsAdd(revs, revoke({ inviteId: inv1.id, issuedAtMs: now, reason: 'leaked token' })).ok)
  assert.ok(log.revocationsAdd(revs, revoke({ node: m2.author, cutoffSeq: 1, issuedAtMs: now, reason: 'stolen laptop' })).ok)
  assert.deepEqual(cutoffOf(roster, revs, m3.author), undefined)
  const got = applyRevocations(store, roster, revs, self.author, now + 20)
  const byAuthor = new Map(got.map((q) => [q.author, q]))
  assert.equal(got.length, 2)
  assert.deepEqual([byAuthor.get(m1.author)?.cutoff, byAuthor.get(m1.author)?.moved], [0, 3])
  assert.match(byAuthor.get(m1.author)?.reason ?? '', /every credential.*leaked token/)
  assert.deepEqual([byAuthor.get(m2.author)?.cutoff, byAuthor.get(m2.author)?.moved], [1, 2])
  assert.match(byAuthor.get(m2.author)?.reason ?? '', /node.*stolen laptop/)
  const vv = opLog.versionVector(store)
  assert.deepEqual([vv.get(m1.author), vv.get(m2.author), vv.get(m3.author), vv.get(self.author)], [undefined, 1, 3, 3])
  assert.deepEqual(applyRevocations(store, roster, revs, self.author, now + 30), [])
  assert.equal(opLog.quarantinedCount(store), 5)
  // a second, higher cutoff for m2 changes nothing (the lower one holds); a lower one takes more
  assert.ok(log.revocationsAdd(revs, revoke({ node: m2.author, cutoffSeq: 2, issuedAtMs: now + 1 })).ok)
  assert.deepEqual(applyRevocations(store, roster, revs, self.author, now + 40), [])
  assert.ok(log.revocationsAdd(revs, revoke({ node: m2.author, cutoffSeq: 0, issuedAtMs: now + 2 })).ok)
  assert.deepEqual(applyRevocations(store, roster, revs, self.author, now + 50).map((q) => [q.cutoff, q.moved]), [[0, 1]])
  // no roster (a plain store): node revocations still apply
  assert.ok(log.revocationsAdd(revs, revoke({ node: m3.author, cutoffSeq: 2, issuedAtMs: now })).ok)
  assert.deepEqual(applyRevocations(store, undefined, revs, self.author, now + 60).map((q) => [q.cutoff, q.moved]), [[2, 1]])
  opLog.close(store)
})
