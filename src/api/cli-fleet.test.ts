import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import * as core from '../core/index.ts'
import type * as log from '../log/index.ts'
import { fleetHome, home, local } from '../node/index.ts'
import { startDaemon } from '../node/network.ts'
import { opLog } from '../store/index.ts'
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

test('cli: rotate-key replaces the key, keeps the name, the caps and the old key file; cutoff at the old head; refused while a daemon runs', async () => {
  const a = join(root, 'ra')
  const b = join(root, 'rb')
  assert.equal((await cli(a, 'fleet', 'create')).code, 0)
  const token = (await cli(a, 'invite', '--caps', 'read,write:discoveries')).out.trim()
  assert.equal((await cli(b, 'join', token)).code, 0)
  assert.equal((await cli(b, 'publish', 'written with the old key')).code, 0)
  const old = home.load(b)
  assert.ok(old.ok)

  const outside = await cli(join(root, 'rc'), 'rotate-key')
  assert.equal(outside.code, 1)
  assert.match(outside.err, /in no fleet/)

  // a daemon runs on b: refused, nothing changed; once it stopped, rotation goes through
  const d = await startDaemon({ home: b, listenHost: '127.0.0.1', listenPort: 0, security: 'fleet' })
  try {
    const t0 = performance.now()
    while (!existsSync(join(b, 'daemon.json')) && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20))
    const busy = await cli(b, 'rotate-key')
    assert.equal(busy.code, 1)
    assert.match(busy.err, /stop the daemon first: grapevine rotate-key changes the identity the daemon signs with/)
    assert.equal((home.load(b) as { value: home.Identity }).value.author, old.value.author, 'nothing was changed')
  } finally {
    await d.close()
  }
  const r = await cli(b, '--json', 'rotate-key')
  assert.equal(r.code, 0, r.err)
  const doc = JSON.parse(r.out) as { old_node: string; node: string; name: string; cutoff_seq: number; caps: string[]; retired: string }
  assert.equal(doc.old_node, old.value.author)
  assert.notEqual(doc.node, old.value.author)
  assert.equal(doc.name, old.value.name)
  assert.equal(doc.cutoff_seq, 2, 'the old key\'s hello and entry')
  assert.deepEqual(doc.caps, ['read', 'write:discoveries'], 'the old credential\'s caps')
  assert.equal((JSON.parse(readFileSync(doc.retired, 'utf8')) as { author: string }).author, old.value.author, 'the old key file is kept')
  const now = home.load(b)
  assert.ok(now.ok)
  assert.equal(now.value.author, doc.node)
  assert.equal(now.value.name, old.value.name)
  const st = fleetHome.load(b, now.value)
  assert.ok(st.ok, st.ok ? '' : st.detail)
  assert.equal(st.value.credential.rotations?.[0]?.node, old.value.author)
  assert.equal(fleetHome.loadRevocations(b, st.value.fleet).rotations.get(old.value.author as log.AuthorId)?.cutoffSeq, 2)
  // the new key introduced itself under the same name; the old key's ops are all still in the store
  const l = local.openLocal(b)
  assert.ok(l.ok)
  const hello = opLog.opsAfter(l.value.store, now.value.author, 0, 10)
  const olds = opLog.opsAfter(l.value.store, old.value.author, 0, 10)
  local.closeLocal(l.value)
  assert.deepEqual(hello.map((o) => [o.op.kind, o.op.body]), [['agent.hello', { name: old.value.name }]])
  assert.equal(olds.length, 2)
  // the new key writes within its caps; a second rotation of the same old key is impossible (its key is gone from identity.json)
  assert.equal((await cli(b, 'publish', 'written with the new key')).code, 0)
  const listed = await cli(b, '--json', 'fleet')
  assert.equal(listed.code, 0)
  assert.equal((JSON.parse(listed.out) as { name: string }[]).filter((x) => x.name === old.value.name).length >= 1, true)
  const text = await cli(b, 'rotate-key')
  assert.equal(text.code, 0, text.err)
  assert.match(text.out, /^rotated .*: .*… -> [0-9a-f]{64} \(the old key's ops up to seq 2 stay valid; read,write:discoveries\)/)
})
