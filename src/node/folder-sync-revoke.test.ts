import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import * as log from '../log/index.ts'
import { opLog } from '../store/index.ts'
import * as fleetHome from './fleet-home.ts'
import { closeAgent, createAgent, publish } from './folder-sync.test-util.ts'
import { stateHash, syncFolder } from './folder-sync.ts'
import * as local from './local.ts'

const root = mkdtempSync(join(tmpdir(), 'gv-folder-revoke-'))
after(() => rmSync(root, { recursive: true, force: true }))

test('folder sync in a fleet: a revocation read from .fleet takes the revoked ops the store took before out of log and views; the states converge', () => {
  const t0 = Date.UTC(2026, 10, 1)
  const [a, b, x] = ['a', 'b', 'x'].map((n) => createAgent(root, n, t0)) as [ReturnType<typeof createAgent>, ReturnType<typeof createAgent>, ReturnType<typeof createAgent>]
  const dir = join(root, 'shared')
  const f = fleetHome.createFleet(a.l.home, a.l.identity, t0)
  assert.ok(f.ok)
  const inv = fleetHome.createInvite(f.value, ['read', 'write:*'], 60_000, t0)
  assert.ok(inv.ok)
  for (const m of [b, x]) assert.ok(fleetHome.joinFleet(m.l.home, m.l.identity, log.encodeInviteToken(inv.value), t0).ok)
  const ex = x.l.identity.author
  const head = (l: local.Local) => opLog.head(l.store, ex)?.seq ?? 0
  const sync = (m: typeof a) => {
    const r = syncFolder(m.l, dir)
    assert.ok(r.ok, r.ok ? '' : r.detail)
    return r.value
  }
  publish(x, 'x early')
  for (const m of [x, a, b]) sync(m)
  const cutoff = head(a.l)
  assert.ok(cutoff >= 1 && head(b.l) === cutoff)
  // b takes x's later entry; the root does not sync, then revokes x with the cutoff it saw
  publish(x, 'x zebra late')
  sync(x)
  sync(b)
  assert.equal(head(b.l), cutoff + 1)
  const rev = fleetHome.revoke(a.l.home, f.value, { node: ex, cutoffSeq: cutoff }, 'test', t0 + 1)
  assert.ok(rev.ok)
  const ra = sync(a)
  assert.ok(ra.problems.some((p) => p.reason === 'revoked'))
  assert.equal(head(a.l), cutoff)
  // b reads the revocation in .fleet: quarantined
  const rb = sync(b)
  assert.equal(rb.quarantined, 1)
  assert.equal(head(b.l), cutoff)
  const search = (m: typeof a, text: string) => local.reads(m.l).search({ text, limit: 10, nowMs: t0 + 10 }).length
  assert.equal(search(b, 'zebra'), 0)
  assert.equal(search(b, 'early'), 1)
  assert.equal(opLog.quarantined(b.l.store, ex).length, 1)
  for (const m of [a, b]) assert.equal(sync(m).quarantined, 0)
  assert.equal(stateHash(b.l), stateHash(a.l))
  for (const m of [a, b, x]) closeAgent(m)
})
