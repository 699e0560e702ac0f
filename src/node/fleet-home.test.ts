import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import * as log from '../log/index.ts'
import * as fleetHome from './fleet-home.ts'
import * as home from './home.ts'

const t0 = 1_800_000_000_000

function identity(dir: string): home.Identity {
  const i = home.init(dir, 'n')
  assert.ok(i.ok)
  return i.value
}

test('fleet home: create, invite, join; the file is 0600 and validated on load', (t) => {
  const base = mkdtempSync(join(tmpdir(), 'gv-fleet-'))
  t.after(() => rmSync(base, { recursive: true, force: true }))
  const [ha, hb, hc] = ['a', 'b', 'c'].map((n) => join(base, n)) as [string, string, string]
  const a = identity(ha)
  const b = identity(hb)
  const c = identity(hc)

  assert.equal((fleetHome.load(ha, a) as { reason: string }).reason, 'missing')
  const created = fleetHome.createFleet(ha, a, t0)
  assert.ok(created.ok)
  assert.ok(created.value.root !== undefined)
  assert.deepEqual(created.value.credential.caps, log.capsAll)
  assert.equal(statSync(join(ha, fleetHome.fleetFile)).mode & 0o777, 0o600)
  assert.equal((fleetHome.createFleet(ha, a, t0) as { reason: string }).reason, 'exists')
  const loaded = fleetHome.load(ha, a)
  assert.ok(loaded.ok)
  assert.equal(loaded.value.fleet, created.value.fleet)
  assert.equal(loaded.value.root?.author, created.value.root.author)

  const inv = fleetHome.createInvite(loaded.value, ['write:discoveries', 'read'], 7 * 86_400_000, t0)
  assert.ok(inv.ok)
  const token = log.encodeInviteToken(inv.value)
  const joined = fleetHome.joinFleet(hb, b, token, t0 + 1000)
  assert.ok(joined.ok)
  assert.equal(joined.value.root, undefined)
  assert.deepEqual(joined.value.credential.caps, ['read', 'write:discoveries'])
  assert.equal(joined.value.credential.node, b.author)
  const bl = fleetHome.load(hb, b)
  assert.ok(bl.ok)
  assert.equal((fleetHome.createInvite(bl.value, ['read'], 1000, t0) as { reason: string }).reason, 'not_root')
  assert.equal((fleetHome.createInvite(loaded.value, ['read'], 0, t0) as { reason: string }).reason, 'invalid')

  // expired, forged, or another fleet's token
  assert.equal((fleetHome.joinFleet(hc, c, token, inv.value.expiresAtMs + 1) as { reason: string }).reason, 'expired_invite')
  const flipped = token.slice(0, 20) + (token[20] === 'A' ? 'B' : 'A') + token.slice(21)
  assert.ok(!fleetHome.joinFleet(hc, c, flipped, t0).ok)
  const other = fleetHome.createFleet(hc, c, t0)
  assert.ok(other.ok)
  assert.equal((fleetHome.joinFleet(hc, c, token, t0) as { reason: string }).reason, 'exists')

  // a fleet file that is not this node's, or tampered with, does not load
  writeFileSync(join(hc, fleetHome.fleetFile), readFileSync(join(hb, fleetHome.fleetFile)))
  assert.match((fleetHome.load(hc, c) as { detail: string }).detail, /not this node/)
  const doc = JSON.parse(readFileSync(join(ha, fleetHome.fleetFile), 'utf8')) as Record<string, string>
  writeFileSync(join(hc, fleetHome.fleetFile), JSON.stringify({ ...doc, root_seed: '00'.repeat(32) }))
  assert.equal((fleetHome.load(hc, c) as { reason: string }).reason, 'unreadable')
  writeFileSync(join(ha, fleetHome.fleetFile), JSON.stringify({ ...doc, root_seed: '11'.repeat(32) }))
  assert.match((fleetHome.load(ha, a) as { detail: string }).detail, /root_seed is not the key/)
  writeFileSync(join(ha, fleetHome.fleetFile), 'nope')
  assert.equal((fleetHome.load(ha, a) as { reason: string }).reason, 'unreadable')
})
