import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import * as core from '../core/index.ts'
import { fleetHome, home } from '../node/index.ts'
import { secure } from '../transport/index.ts'
import { main } from './cli.ts'

const root = mkdtempSync(join(tmpdir(), 'grapevine-cli-fleet-'))
after(() => rmSync(root, { recursive: true, force: true }))
const clock = core.clock.createManualClock(1_800_000_000_000)

async function cli(dir: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s), env: { GRAPEVINE_HOME: dir }, clock })
  return { code, out, err }
}

test('cli: fleet create, invite, join; the two nodes then complete a secure handshake', async () => {
  const a = join(root, 'a')
  const b = join(root, 'b')
  const created = await cli(a, '--json', 'fleet', 'create')
  assert.equal(created.code, 0, created.err)
  const doc = JSON.parse(created.out) as { fleet: string; caps: string[]; root: boolean }
  assert.match(doc.fleet, /^[0-9a-f]{64}$/)
  assert.deepEqual(doc.caps, ['read', 'write:*'])
  assert.equal(statSync(join(a, fleetHome.fleetFile)).mode & 0o777, 0o600)
  assert.equal((await cli(a, 'fleet', 'create')).code, 1, 'a node is in one fleet')
  const listing = await cli(a, '--json', 'fleet')
  assert.equal(listing.code, 0, 'grapevine fleet still lists the agents')
  assert.ok(Array.isArray(JSON.parse(listing.out)))

  const bad = await cli(a, 'invite', '--caps', 'write:news')
  assert.equal(bad.code, 2)
  assert.match(bad.err, /bad capability/)
  assert.equal((await cli(a, 'invite', '--expires', '400d')).code, 2)

  const inv = await cli(a, 'invite', '--caps', 'write:discoveries,read', '--expires', '1d')
  assert.equal(inv.code, 0, inv.err)
  const token = inv.out.trim()
  assert.match(token, /^gvi1\./)
  assert.match(inv.err, /grapevine join TOKEN/)

  assert.equal((await cli(b, 'join', 'gvi1.nonsense')).code, 2)
  const joined = await cli(b, '--json', 'join', token)
  assert.equal(joined.code, 0, joined.err)
  assert.deepEqual((JSON.parse(joined.out) as { caps: string[] }).caps, ['read', 'write:discoveries'])
  assert.equal((await cli(b, 'invite')).code, 1, 'only the root invites')

  // a token used after it expired
  clock.advance(2 * 86_400_000)
  const late = await cli(join(root, 'c'), 'join', token)
  assert.equal(late.code, 1)
  assert.match(late.err, /expired/)

  // what the homes hold is enough for a session
  const creds = (dir: string) => {
    const id = home.load(dir)
    assert.ok(id.ok)
    const s = fleetHome.load(dir, id.value)
    assert.ok(s.ok)
    return { signer: id.value.signer, credential: s.value.credential }
  }
  const e = { nowMs: clock.nowMs(), random: (n: number) => new Uint8Array(randomBytes(n)) }
  const { handshake, first } = secure.initiate(creds(b), e)
  const hr = secure.respond(creds(a), e)
  const m2 = hr.receive(first)
  assert.ok(m2.ok, m2.ok ? '' : m2.detail)
  const m3 = handshake.receive(m2.value.send as Uint8Array)
  assert.ok(m3.ok, m3.ok ? '' : m3.detail)
  const done = hr.receive(m3.value.send as Uint8Array)
  assert.ok(done.ok, done.ok ? '' : done.detail)
  assert.deepEqual(done.value.session?.caps, ['read', 'write:discoveries'])
  // b's invite has expired by now (and a's self-invite): members they stay
  assert.ok(clock.nowMs() > done.value.session!.credential.invite.expiresAtMs)
})
