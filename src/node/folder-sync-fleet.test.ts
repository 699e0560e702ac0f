import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import * as log from '../log/index.ts'
import * as fleetHome from './fleet-home.ts'
import { closeAgent, createAgent, publish } from './folder-sync.test-util.ts'
import { syncFolder } from './folder-sync.ts'
import { opLog } from '../store/index.ts'

const root = mkdtempSync(join(tmpdir(), 'gv-folder-fleet-'))
after(() => rmSync(root, { recursive: true, force: true }))

test('folder sync in a fleet: credentials travel in .fleet; ops outside the caps and past a revocation are skipped; an unknown author waits', () => {
  const t0 = Date.UTC(2026, 10, 1)
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => createAgent(root, n, t0)) as [ReturnType<typeof createAgent>, ReturnType<typeof createAgent>, ReturnType<typeof createAgent>, ReturnType<typeof createAgent>]
  const dir = join(root, 'shared')
  const f = fleetHome.createFleet(a.l.home, a.l.identity, t0)
  assert.ok(f.ok)
  const inv = (caps: string[]) => {
    const i = fleetHome.createInvite(f.value, caps, 60_000, t0)
    assert.ok(i.ok)
    return log.encodeInviteToken(i.value)
  }
  assert.ok(fleetHome.joinFleet(b.l.home, b.l.identity, inv(['read', 'write:*']), t0).ok)
  assert.ok(fleetHome.joinFleet(c.l.home, c.l.identity, inv(['read', 'write:warnings']), t0).ok)
  publish(b, 'from b')
  publish(c, 'c may only warn') // discoveries: outside c's caps (written below the service, which would refuse it)
  publish(d, 'd is in no fleet')
  for (const x of [b, c, d]) assert.ok(syncFolder(x.l, dir).ok)
  const r = syncFolder(a.l, dir)
  assert.ok(r.ok)
  const seq = (author: string) => opLog.head(a.l.store, author as log.AuthorId)?.seq ?? 0
  assert.equal(seq(b.l.identity.author), 2, 'b: hello and entry')
  assert.equal(seq(c.l.identity.author), 0, 'c: its batch (hello and entry) is outside its caps')
  assert.equal(seq(d.l.identity.author), 0, 'd: no credential, waits')
  assert.ok(r.value.problems.some((p) => p.reason === 'refused'))
  assert.ok(r.value.pending >= 1)
  // a revocation by the root reaches a folder-only member through the folder, and b's later ops are skipped there
  const rev = fleetHome.revoke(a.l.home, f.value, { node: b.l.identity.author, cutoffSeq: 2 }, 'test', t0 + 1)
  assert.ok(rev.ok)
  assert.ok(syncFolder(a.l, dir).ok)
  const e = createAgent(root, 'e', t0)
  assert.ok(fleetHome.joinFleet(e.l.home, e.l.identity, inv(['read', 'write:*']), t0).ok)
  publish(b, 'b after its revocation')
  assert.ok(syncFolder(b.l, dir).ok)
  const re = syncFolder(e.l, dir)
  assert.ok(re.ok)
  assert.equal(fleetHome.loadRevocations(e.l.home, f.value.fleet).nodes.get(b.l.identity.author), 2, 'e keeps the revocation in its home')
  assert.equal(opLog.head(e.l.store, b.l.identity.author)?.seq, 2, JSON.stringify(re.value.problems) + 'b\'s ops up to the cutoff stay, the later one is skipped')
  assert.ok(re.value.problems.some((p) => p.reason === 'revoked'))
  for (const x of [a, b, c, d, e]) closeAgent(x)
})
