import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { fcParams, runDecoderFuzz } from '../core/crdt-laws.test-util.ts'
import { craftCredential, testSigner } from './log.test-util.ts'
import * as log from './index.ts'
import type { Capability, Invite } from './index.ts'

const root = testSigner(10)
const otherRoot = testSigner(11)
const alice = testSigner(0)
const bob = testSigner(1)
const t0 = 1_800_000_000_000
const dayMs = 86_400_000
const nonce = (i: number) => new Uint8Array(16).fill(i)

function invite(caps: readonly string[] = ['read', 'write:*'], r = root, n = 1): Invite {
  const i = log.createInvite(r, { caps, issuedAtMs: t0, expiresAtMs: t0 + 7 * dayMs, nonce: nonce(n) })
  assert.ok(i.ok, i.ok ? '' : i.detail)
  return i.value
}

function caps(...c: string[]): Capability[] {
  const r = log.parseCapabilities(c)
  assert.ok(r.ok, r.ok ? '' : r.detail)
  return r.value
}

test('capabilities: the grammar accepts its forms, sorted and deduplicated, and refuses everything else with a reason', () => {
  assert.deepEqual(log.parseCapabilities('write:discoveries, read,write:fact:deploy.*,read'), {
    ok: true,
    value: ['read', 'write:discoveries', 'write:fact:deploy.*'],
  })
  for (const good of ['read', 'write:*', 'write:patterns', 'write:warnings', 'write:task', 'write:status', 'write:counter', 'write:config', 'write:fact:*', 'write:fact:x', 'write:fact:deploy/ü*']) {
    assert.ok(log.parseCapability(good).ok, good)
  }
  for (const bad of ['', 'admin', 'write', 'write:', 'write:news', 'write:fact:', 'write:fact:a*b', 'write:fact:a b', 'read,write:*', 'write:fact:\u0001', `write:fact:${'x'.repeat(300)}`, 'Read']) {
    const r = log.parseCapability(bad)
    assert.ok(!r.ok, JSON.stringify(bad))
    assert.equal(r.reason, 'invalid_capability')
    assert.match(r.detail, /bad capability/)
  }
  assert.ok(!log.parseCapabilities('').ok)
  assert.ok(!log.parseCapabilities(Array.from({ length: 33 }, (_, i) => `write:fact:f${i}`)).ok)
})

test('mayWrite: each capability admits exactly its ops', () => {
  const entry = (channel: string, extra: object = {}) => ({ value: 'v', channel, supersedes: [], verified: false, ...extra })
  const fact = (fact_id: string) => ({ fact_id, value: 1, supersedes: [], verified: false })
  const d = caps('write:discoveries')
  assert.ok(log.mayWrite(d, 'fact.assert', entry('discoveries')))
  assert.ok(!log.mayWrite(d, 'fact.assert', entry('warnings')), 'another channel')
  assert.ok(!log.mayWrite(d, 'fact.assert', fact('deploy.x')), 'a keyed fact')
  assert.ok(!log.mayWrite(d, 'fact.assert', entry('discoveries', { fact_id: 'deploy.x' })), 'a channel entry may not name a keyed fact')
  assert.ok(!log.mayWrite(d, 'fact.retract', { fact_id: 'x', observed: [] }))
  assert.ok(!log.mayWrite(d, 'task.create', { task_id: 't', title: 'x', depends: [] }))
  assert.ok(log.mayWrite(d, 'agent.hello', { name: 'a' }), 'a node may always name itself')
  assert.ok(!log.mayWrite(d, 'status.set', { text: 'x', health: 'ok' }))

  const f = caps('write:fact:deploy.*', 'write:fact:exact')
  assert.ok(log.mayWrite(f, 'fact.assert', fact('deploy.x')))
  assert.ok(log.mayWrite(f, 'fact.assert', fact('deploy.')))
  assert.ok(log.mayWrite(f, 'fact.retract', { fact_id: 'deploy.y', observed: [] }))
  assert.ok(log.mayWrite(f, 'fact.assert', fact('exact')))
  assert.ok(!log.mayWrite(f, 'fact.assert', fact('exactly')), 'an exact pattern is no prefix')
  assert.ok(!log.mayWrite(f, 'fact.assert', fact('deploy')), 'the prefix is deploy. with its dot')
  assert.ok(!log.mayWrite(f, 'fact.assert', fact('other')))
  assert.ok(!log.mayWrite(f, 'fact.assert', entry('discoveries')), 'no channel capability')
  assert.ok(log.mayWrite(caps('write:fact:deploy.*', 'write:warnings'), 'fact.assert', entry('warnings', { fact_id: 'deploy.z' })), 'both capabilities: a verified entry')

  assert.ok(log.mayWrite(caps('write:task'), 'task.claim', { task_id: 't' }))
  assert.ok(log.mayWrite(caps('write:task'), 'task.done', { task_id: 't' }))
  assert.ok(!log.mayWrite(caps('write:task'), 'counter.add', { name: 'n', n: 1 }))
  assert.ok(log.mayWrite(caps('write:counter'), 'counter.add', { name: 'n', n: 1 }))
  assert.ok(log.mayWrite(caps('write:config'), 'config.set', { key: 'k', value: 1, version: 0 }))
  assert.ok(log.mayWrite(caps('write:status'), 'status.set', { text: 'x', health: 'ok' }))
  assert.ok(!log.mayWrite(caps('read'), 'status.set', { text: 'x', health: 'ok' }))
  assert.ok(!log.mayWrite(caps('write:task', 'write:fact:*'), 'fleet.revoke', {}), 'an unknown kind needs write:*')
  assert.ok(log.mayWrite(caps('write:*'), 'fleet.revoke', {}))

  // bodies of the wrong shape are refused, never thrown on
  for (const body of [null, 3, 'x', [], { channel: 7 }, { fact_id: 7 }, {}, { channel: 'discoveries', fact_id: 3 }, { channel: '__proto__' }]) {
    assert.equal(log.mayWrite(caps('write:discoveries', 'write:fact:*'), 'fact.assert', body), false, JSON.stringify(body))
  }
  assert.ok(log.mayRead(caps('read', 'write:task')))
  assert.ok(!log.mayRead(caps('write:*')))
})

test('invites: a token round-trips; a forged, altered, oversized or garbled one is refused with its reason', () => {
  const i = invite(['write:discoveries', 'read'])
  assert.equal(i.fleet, log.fleetOf(root))
  assert.deepEqual(i.caps, ['read', 'write:discoveries'])
  assert.equal(i.id, '01'.repeat(16))
  const token = log.encodeInviteToken(i)
  assert.match(token, /^gvi1\.[A-Za-z0-9_-]+$/)
  const back = log.decodeInviteToken(`  ${token}\n`)
  assert.ok(back.ok)
  assert.deepEqual(back.value, i)

  // forged: the right fields signed by another key, naming our root
  const forged = log.createInvite(otherRoot, { caps: ['write:*'], issuedAtMs: t0, expiresAtMs: t0 + dayMs, nonce: nonce(2) })
  assert.ok(forged.ok)
  const swapped = forged.value.bytes.slice()
  swapped.set(i.bytes.subarray(2, 34), 2) // claim our fleet's root
  const f = log.decodeInvite(swapped)
  assert.ok(!f.ok)
  assert.equal(f.reason, 'forged_invite')

  // altered: widen the capabilities of a real invite (read -> ... by flipping a byte in a cap)
  for (let k = 0; k < i.bytes.length; k++) {
    const b = i.bytes.slice()
    b[k] = (b[k] as number) ^ 0x01
    const r = log.decodeInvite(b)
    assert.ok(!r.ok, `flipped byte ${k} still decodes`)
  }
  assert.equal((log.decodeInviteToken('gvi1.' + 'A'.repeat(log.tokenCharsMax)) as { reason: string }).reason, 'too_large')
  assert.equal((log.decodeInviteToken('hello') as { reason: string }).reason, 'malformed')
  assert.equal((log.decodeInviteToken('gvi1.a+b') as { reason: string }).reason, 'malformed')
  const v2 = i.bytes.slice()
  v2[0] = 2
  assert.equal((log.decodeInvite(v2) as { reason: string }).reason, 'unsupported_version')

  // bad fields at creation
  assert.equal((log.createInvite(root, { caps: ['write:news'], issuedAtMs: t0, expiresAtMs: t0 + 1, nonce: nonce(1) }) as { reason: string }).reason, 'invalid_capability')
  assert.equal((log.createInvite(root, { caps: ['read'], issuedAtMs: t0, expiresAtMs: t0, nonce: nonce(1) }) as { reason: string }).reason, 'invalid')
  assert.equal((log.createInvite(root, { caps: ['read'], issuedAtMs: t0, expiresAtMs: t0 + 1, nonce: new Uint8Array(3) }) as { reason: string }).reason, 'invalid')
})

test('credentials: bound to the joining key by its own signature; expiry is checked at joining; membership then does not age', () => {
  const i = invite(['read', 'write:discoveries'])
  const c = log.createCredential(i, alice, t0 + dayMs)
  assert.ok(c.ok)
  assert.equal(c.value.node, alice.author)
  assert.equal(c.value.fleet, log.fleetOf(root))
  assert.deepEqual(c.value.caps, ['read', 'write:discoveries'])
  const back = log.decodeCredential(c.value.bytes)
  assert.ok(back.ok)
  assert.deepEqual(back.value, c.value)

  // proof of possession: bob cannot pass alice's invite off as his by rewriting the node key
  const stolen = c.value.bytes.slice()
  stolen.set(Buffer.from(bob.author, 'hex'), 2)
  assert.equal((log.decodeCredential(stolen) as { reason: string }).reason, 'bad_proof')

  // redeemed too late
  const late = log.createCredential(i, alice, i.expiresAtMs + 1)
  assert.ok(!late.ok)
  assert.equal(late.reason, 'expired_invite')

  // membership in context
  const fleet = log.fleetOf(root)
  assert.ok(log.checkMembership(c.value, { fleet, nowMs: t0 + 2 * dayMs }).ok)
  const wrong = log.checkMembership(c.value, { fleet: log.fleetOf(otherRoot), nowMs: t0 + 2 * dayMs })
  assert.ok(!wrong.ok)
  assert.equal(wrong.reason, 'wrong_fleet')
  assert.ok(log.checkMembership(c.value, { fleet, nowMs: i.expiresAtMs + 365 * dayMs }).ok, 'a member does not age')
  // a credential that says it joined after the expiry is refused when decoded (a peer's check)
  const lateBytes = craftCredential(alice, i.expiresAtMs + 1, i.bytes)
  assert.equal((log.decodeCredential(lateBytes) as { reason: string }).reason, 'expired_invite')
  const future = log.checkMembership(c.value, { fleet, nowMs: t0 })
  assert.ok(!future.ok)
  assert.equal(future.reason, 'not_yet_valid')

  // every flipped byte is refused
  for (let k = 0; k < c.value.bytes.length; k += 7) {
    const b = c.value.bytes.slice()
    b[k] = (b[k] as number) ^ 0x80
    assert.ok(!log.decodeCredential(b).ok, `flipped byte ${k}`)
  }
  assert.equal((log.decodeCredential(new Uint8Array(log.credentialBytesMax + 1)) as { reason: string }).reason, 'too_large')
})

const arbInvite = fc
  .record({
    caps: fc.subarray(['read', 'write:*', 'write:discoveries', 'write:task', 'write:fact:a.*', 'write:fact:b'], { minLength: 1 }),
    n: fc.integer({ min: 0, max: 255 }),
    life: fc.integer({ min: 1, max: 30 * dayMs }),
  })
  .map(({ caps: c, n, life }) => {
    const r = log.createInvite(root, { caps: c, issuedAtMs: t0, expiresAtMs: t0 + life, nonce: nonce(n) })
    assert.ok(r.ok)
    return r.value
  })

test('invites and credentials: decoding is the inverse of encoding (property)', () => {
  fc.assert(
    fc.property(arbInvite, fc.integer({ min: 0, max: 10 * dayMs }), (i, dt) => {
      const back = log.decodeInviteToken(log.encodeInviteToken(i))
      assert.ok(back.ok)
      assert.deepEqual(back.value, i)
      const c = log.createCredential(i, alice, Math.min(t0 + dt, i.expiresAtMs))
      assert.ok(c.ok)
      assert.deepEqual(log.decodeCredential(c.value.bytes), c)
    }),
    fcParams({ numRuns: 100 }),
  )
})

// Signature checks make each decode ~50 us: a few thousand inputs, not the core's 100,000.
runDecoderFuzz('invite', log.decodeInvite, (i) => i.bytes, arbInvite.map((i) => i.bytes), Number(process.env['FUZZ_RUNS'] ?? 20_000))
runDecoderFuzz(
  'credential',
  log.decodeCredential,
  (c) => c.bytes,
  arbInvite.map((i) => {
    const c = log.createCredential(i, bob, t0)
    assert.ok(c.ok)
    return c.value.bytes
  }),
  Number(process.env['FUZZ_RUNS'] ?? 20_000),
)

test('roster: members and their capabilities from verified credentials; a roster message round-trips and validates', () => {
  const fleet = log.fleetOf(root)
  const roster = log.createRoster(fleet)
  const ca = log.createCredential(invite(['write:discoveries'], root, 1), alice, t0)
  const ca2 = log.createCredential(invite(['read', 'write:task'], root, 2), alice, t0 + 1)
  const cb = log.createCredential(invite(['read'], root, 3), bob, t0)
  const stranger = log.createCredential(invite(['write:*'], otherRoot, 4), bob, t0)
  assert.ok(ca.ok && ca2.ok && cb.ok && stranger.ok)
  assert.deepEqual(log.rosterAdd(roster, ca.value.bytes, t0), { ok: true, value: true })
  assert.deepEqual(log.rosterAdd(roster, ca.value, t0), { ok: true, value: false }, 'the same credential twice')
  assert.deepEqual(log.capsOf(roster, alice.author), ['write:discoveries'])
  assert.equal(log.capsOf(roster, bob.author), undefined, 'not a member yet: its ops cannot be checked')
  // alice joined again with other capabilities: both credentials are valid, so both grant
  assert.ok(log.rosterAdd(roster, ca2.value, t0).ok)
  assert.deepEqual(log.capsOf(roster, alice.author), ['read', 'write:discoveries', 'write:task'])
  assert.equal((log.rosterAdd(roster, stranger.value.bytes, t0) as { reason: string }).reason, 'wrong_fleet')
  const tampered = cb.value.bytes.slice()
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1
  assert.equal((log.rosterAdd(roster, tampered, t0) as { reason: string }).reason, 'bad_proof')
  assert.equal(log.capsOf(roster, bob.author), undefined)

  const msg = log.encodeRosterMessage([ca.value, cb.value])
  const parts = log.decodeRosterMessage(msg)
  assert.ok(parts.ok)
  const other = log.createRoster(fleet)
  for (const p of parts.value) assert.ok(log.rosterAdd(other, p, t0).ok)
  assert.deepEqual(log.capsOf(other, bob.author), ['read'])
  assert.equal((log.decodeRosterMessage(msg.subarray(0, msg.length - 1)) as { reason: string }).reason, 'malformed')
  assert.equal((log.decodeRosterMessage(new Uint8Array([0xff, 0x7f])) as { reason: string }).reason, 'malformed')
})
