import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import * as log from '../log/index.ts'
import { fleetHome, home, local } from '../node/index.ts'
import * as service from './service.ts'
import { ServiceError } from './service.ts'

const dir = mkdtempSync(join(tmpdir(), 'grapevine-caps-'))
after(() => rmSync(dir, { recursive: true, force: true }))

test('a write outside this node\'s fleet capabilities is refused with a clear message and writes nothing; inside, it is written', () => {
  const now = Date.now()
  const rootHome = join(dir, 'root')
  const memberHome = join(dir, 'member')
  const rid = home.loadOrInit(rootHome)
  const mid = home.loadOrInit(memberHome)
  assert.ok(rid.ok && mid.ok)
  const f = fleetHome.createFleet(rootHome, rid.value.identity, now)
  assert.ok(f.ok)
  const inv = fleetHome.createInvite(f.value, ['read', 'write:status', 'write:warnings'], 60_000, now)
  assert.ok(inv.ok)
  assert.ok(fleetHome.joinFleet(memberHome, mid.value.identity, log.encodeInviteToken(inv.value), now).ok)

  const l = local.openLocal(memberHome)
  assert.ok(l.ok)
  try {
    assert.throws(
      () => service.call(l.value, 'publish', { text: 'not mine to say' }),
      (e: unknown) => e instanceof ServiceError && e.kind === 'conflict' && /may not write fact\.assert \(channel discoveries\).*read,write:status,write:warnings/.test(e.message),
    )
    assert.throws(() => service.call(l.value, 'taskAdd', { title: 't' }), /may not write task\.create/)
    // nothing was written, not even the hello that precedes a node's first op
    assert.equal(log.parseAuthorId(l.value.identity.author).ok, true)
    assert.equal(service.recentOps(l.value, {}).length, 0)
    service.call(l.value, 'publish', { text: 'the disk is almost full', channel: 'warnings' })
    service.call(l.value, 'statusSet', { text: 'fine' })
    assert.deepEqual(service.recentOps(l.value, {}).map((e) => e.op.kind).sort(), ['agent.hello', 'fact.assert', 'status.set'])
  } finally {
    local.closeLocal(l.value)
  }
  // a home in no fleet writes anything, as before
  const plain = local.openLocal(join(dir, 'plain'))
  assert.ok(plain.ok)
  service.call(plain.value, 'taskAdd', { title: 't' })
  local.closeLocal(plain.value)
})
