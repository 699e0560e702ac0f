/**
 * Key rotation on live daemons (issue 5: "key rotation without losing messages"; log/fleet.ts "key
 * rotation", fleetHome.rotateKey). A root and members A, B, E on loopback, fleet handshake on every link:
 * A publishes, stops, rotates its key, starts again and publishes with the new key. B has every op of A's
 * (both keys) and A's name on the new key; E, partitioned meanwhile, learns the rotation when it
 * reconnects and drops an op of the old key past the cutoff it took in meanwhile; B refuses that op when a
 * member relays it; the old key's handshake is refused.
 */
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { antiEntropy } from '../gossip/index.ts'
import * as log from '../log/index.ts'
import type { AuthorId, SignedOp, Signer } from '../log/index.ts'
import { opLog } from '../store/index.ts'
import { links, secure } from '../transport/index.ts'
import type { Daemon, DaemonOptions } from './daemon.ts'
import { createTestFleet, daemonHarness, fastGossip, identityOf, linked, seqOf, writeEntry } from './daemon.test-util.ts'
import * as fleetHome from './fleet-home.ts'
import * as home from './home.ts'
import { closeLocal, openLocal, reads } from './local.ts'
import { closeAgent, createAgent, publish as publishEntry } from './folder-sync.test-util.ts'
import type { Agent } from './folder-sync.test-util.ts'
import { syncFolder } from './folder-sync.ts'

const { tempHome, tempDir, start: startWith, waitFor } = daemonHarness({ tmpPrefix: 'gv-rot-', label: 'rotate test', waitMs: 6000 })
const start = (o: Partial<DaemonOptions> & { home: string }): Promise<Daemon> =>
  startWith({ listenHost: '127.0.0.1', listenPort: 0, security: 'fleet', ...fastGossip, ...o })

/** Writes one entry into a home's store, as the node itself (a CLI write). Its seq. */
const publish = (dir: string, text: string): number => writeEntry(dir, text).seq

function opsOf(h: string, author: AuthorId): SignedOp[] {
  const l = openLocal(h)
  assert.ok(l.ok)
  const out = opLog.opsAfter(l.value.store, author, 0, 10_000)
  closeLocal(l.value)
  return out
}

test('rotate-key on live daemons: no op lost, the old key cut off past its cutoff and at the handshake, a partitioned node learns it on reconnecting', async () => {
  const hr = tempHome('root')
  const ha = tempHome('alice')
  const hb = tempHome('bob')
  const he = tempHome('eve')
  const { root } = createTestFleet(hr, [ha, hb, he], { caps: log.capsAll, ttlMs: 60_000, nowMs: () => Date.now(), invitePerMember: true })
  const fleet = root.fleet
  const oldA = identityOf(ha)
  const r = await start({ home: hr })
  let a = await start({ home: ha, join: [r.address] })
  const b = await start({ home: hb, join: [r.address] })
  let e = await start({ home: he, join: [r.address] })
  await waitFor('all linked to the root', () => [a, b, e].every((d) => linked(r, d)))
  const s1 = publish(ha, 'before-rotation')
  await waitFor('the first write everywhere', () => [b, e].every((d) => seqOf(d, oldA.author) >= s1))

  // eve is partitioned; alice stops and rotates (what grapevine rotate-key does)
  await e.close()
  await a.close()
  const fleetJsonBefore = join(ha, 'fleet.before.json')
  copyFileSync(join(ha, fleetHome.fleetFile), fleetJsonBefore)
  const cutoff = opsOf(ha, oldA.author).length
  assert.equal(cutoff, s1, 'the hello and the write')
  const stateA = fleetHome.load(ha, oldA)
  assert.ok(stateA.ok)
  const rot = fleetHome.rotateKey(ha, oldA, stateA.value, cutoff, Date.now())
  assert.ok(rot.ok, rot.ok ? '' : rot.detail)
  const newA = rot.value.identity
  assert.notEqual(newA.author, oldA.author)
  assert.equal(newA.name, 'alice')
  assert.equal(identityOf(ha).author, newA.author)
  assert.equal((JSON.parse(readFileSync(rot.value.retired, 'utf8')) as { author: string }).author, oldA.author, 'the old key is kept')
  assert.equal(fleetHome.rotateKey(ha, oldA, stateA.value, cutoff, Date.now()).ok, false, 'the old key rotated once only')
  // and again before writing anything (routine rotation): a chain of two rotations travels in the credential
  const again = fleetHome.rotateKey(ha, newA, rot.value.state, 0, Date.now())
  assert.ok(again.ok, again.ok ? '' : again.detail)
  const cur = again.value.identity
  assert.deepEqual(again.value.state.credential.rotations?.map((x) => x.successor), [newA.author, cur.author])
  a = await start({ home: ha, join: [r.address] })
  await waitFor('alice back, linked with her new key', () => linked(r, a))
  const s2 = publish(ha, 'after-rotation')
  await waitFor('bob has the new key\'s write', () => seqOf(b, cur.author) >= s2)
  assert.equal(seqOf(b, oldA.author), cutoff, 'and every op of the old key up to the cutoff')
  const lb = openLocal(hb)
  assert.ok(lb.ok)
  const names = new Map(reads(lb.value).agents().map((x) => [x.author, x.name]))
  closeLocal(lb.value)
  assert.equal(names.get(cur.author), 'alice', 'the new key announces the same name')
  assert.equal(names.get(oldA.author), 'alice')

  // the old key (stolen) writes past the cutoff; eve, partitioned, takes it in
  const last = opsOf(ha, oldA.author).at(-1) as SignedOp
  const drafts = log.createOps(oldA.author, log.headOf(last), [{ hlc: { wallMs: Date.now(), logical: 0 }, kind: 'fact.assert', body: { fact_id: 'e/stolen', value: 'stolen', channel: 'discoveries', supersedes: [], verified: false } }])
  assert.ok(drafts.ok)
  const forged = log.signOps(oldA.signer as Signer, drafts.value)
  const le = openLocal(he)
  assert.ok(le.ok)
  assert.ok(opLog.ingest(le.value.store, forged, Date.now()).ok)
  closeLocal(le.value)

  // eve reconnects (through bob): learns the rotation at once and drops the late op (quarantine)
  const revokedBefore = b.stats().opsRevoked
  e = await start({ home: he, join: [b.address] })
  await waitFor('eve learnt the rotation', () => fleetHome.loadRevocations(he, fleet).rotations.get(oldA.author)?.successor === newA.author)
  await waitFor('eve has alice\'s new writes', () => seqOf(e, cur.author) >= s2)
  await waitFor('eve dropped the late op she took while partitioned', () => seqOf(e, oldA.author) === cutoff && e.stats().opsQuarantined >= 1)

  // a member relays that op to bob directly: refused as a revoked node's, nothing stored
  const gee = log.createSigner(new Uint8Array(randomBytes(32)))
  assert.ok(gee.ok)
  const inv = fleetHome.createInvite(root, log.capsAll, 60_000, Date.now())
  assert.ok(inv.ok)
  const geeCred = log.createCredential(inv.value, gee.value, Date.now())
  assert.ok(geeCred.ok)
  const frame = (channel: number, body: Uint8Array): Uint8Array => new Uint8Array([channel, ...body])
  const probe = links.dial('127.0.0.1', Number(b.address.split(':')[1]), {
    security: secure.createSecurity({ signer: gee.value, credential: geeCred.value }, () => Date.now(), (n) => new Uint8Array(randomBytes(n))),
    events: {
      onOpen: (l) => {
        l.send(frame(3, new TextEncoder().encode(JSON.stringify({ id: `${gee.value.author}@127.0.0.1:9` }))), false)
        l.send(frame(1, antiEntropy.encodeMessage({ type: 'ae.delta', batches: [forged], more: false })), false)
      },
      onMessage: () => undefined,
      onInvalid: () => undefined,
      onClose: () => undefined,
    },
  })
  await waitFor('bob refused the old key\'s op past the cutoff', () => b.stats().opsRevoked > revokedBefore)
  probe.close('done')
  assert.equal(seqOf(b, oldA.author), cutoff)
  assert.equal(seqOf(r, oldA.author), cutoff)

  // the old key's handshake: a node holding the retired key and the old credential is refused
  const thief = tempDir()
  mkdirSync(thief, { recursive: true })
  copyFileSync(rot.value.retired, join(thief, home.identityFile))
  copyFileSync(fleetJsonBefore, join(thief, fleetHome.fleetFile))
  const refusedBefore = b.stats().invalidFrames
  const t = await start({ home: thief, join: [b.address] })
  await waitFor('bob refuses the old key at the handshake', () => b.stats().invalidFrames > refusedBefore)
  assert.ok(!linked(b, t))
})

test('rotate-key through a shared folder: the rotation and the successor travel in .fleet; the old key past its cutoff is skipped', () => {
  const t0 = Date.UTC(2026, 10, 1)
  const dirRoot = tempDir()
  const [a, b, c] = ['a', 'b', 'c'].map((n) => createAgent(dirRoot, n, t0)) as [Agent, Agent, Agent]
  const shared = join(dirRoot, 'shared')
  const f = fleetHome.createFleet(a.l.home, a.l.identity, t0)
  assert.ok(f.ok)
  for (const x of [b, c]) {
    const i = fleetHome.createInvite(f.value, log.capsAll, 60_000, t0)
    assert.ok(i.ok)
    assert.ok(fleetHome.joinFleet(x.l.home, x.l.identity, log.encodeInviteToken(i.value), t0).ok)
  }
  publishEntry(b, 'before')
  assert.ok(syncFolder(b.l, shared).ok)
  assert.ok(syncFolder(c.l, shared).ok)
  const oldB = b.l.identity
  assert.equal(opLog.head(c.l.store, oldB.author)?.seq, 2)
  // a thief keeps b's old key and credential (copied before the rotation)
  const thiefHome = join(dirRoot, 'thief')
  mkdirSync(thiefHome)
  copyFileSync(join(b.l.home, home.identityFile), join(thiefHome, home.identityFile))
  copyFileSync(join(b.l.home, fleetHome.fleetFile), join(thiefHome, fleetHome.fleetFile))
  // b rotates (cutoff: its head), reopens its store with the new key and writes again
  const st = fleetHome.load(b.l.home, oldB)
  assert.ok(st.ok)
  const rot = fleetHome.rotateKey(b.l.home, oldB, st.value, 2, t0 + 1000)
  assert.ok(rot.ok, rot.ok ? '' : rot.detail)
  closeAgent(b)
  const lb = openLocal(b.l.home, b.clock)
  assert.ok(lb.ok)
  const b2: Agent = { l: lb.value, clock: b.clock }
  publishEntry(b2, 'after')
  assert.ok(syncFolder(b2.l, shared).ok)
  // the thief writes past the cutoff with the old key and puts it in the folder
  const lt = openLocal(thiefHome, b.clock)
  assert.ok(lt.ok)
  const th: Agent = { l: lt.value, clock: b.clock }
  assert.ok(opLog.ingest(th.l.store, opLog.opsAfter(b2.l.store, oldB.author, 0, 100), t0).ok, 'the thief has the old chain')
  publishEntry(th, 'stolen')
  assert.equal(opLog.head(th.l.store, oldB.author)?.seq, 3)
  const ts = syncFolder(th.l, shared)
  assert.ok(ts.ok)
  // c learns the rotation, takes the new key's ops, skips the old key's past the cutoff
  const rc = syncFolder(c.l, shared)
  assert.ok(rc.ok)
  assert.equal(fleetHome.loadRevocations(c.l.home, f.value.fleet).rotations.get(oldB.author)?.successor, rot.value.identity.author)
  assert.equal(opLog.head(c.l.store, rot.value.identity.author)?.seq, 2, 'the new key\'s hello and entry')
  assert.equal(opLog.head(c.l.store, oldB.author)?.seq, 2, JSON.stringify(rc.value.problems))
  assert.ok(rc.value.problems.some((p) => p.reason === 'revoked'), 'the stolen op is reported and skipped')
  for (const x of [a, b2, c, th]) closeAgent(x)
})
