/**
 * Issue 5's security bullet on live daemons (in process, on loopback, fleet handshake on every link): each
 * attack is rejected, nothing of it is stored or relayed, and an honest write still propagates after it.
 * README's daemon section lists which test covers which attack (some are in daemon.test.ts).
 */
import assert from 'node:assert/strict'
import * as crypto from 'node:crypto'
import * as net from 'node:net'
import { describe, it } from 'node:test'
import * as core from '../core/index.ts'
import { antiEntropy } from '../gossip/index.ts'
import * as log from '../log/index.ts'
import type { Credential, Invite, SignedOp, Signer } from '../log/index.ts'
import { signedChain, testSigner } from '../log/log.test-util.ts'
import { frames, links, plainSecurity, secure } from '../transport/index.ts'
import type { Link, Security } from '../transport/index.ts'
import { createFaultProxy } from './daemon-fault-proxy.test-util.ts'
import type { Daemon, DaemonOptions } from './daemon.ts'
import { createTestFleet, daemonHarness, fastGossip, identityOf, seqOf, writeEntry } from './daemon.test-util.ts'
import * as fleetHome from './fleet-home.ts'
import { closeLocal, openLocal } from './local.ts'
import { opLog } from '../store/index.ts'

const { tempHome, start: startWith, waitFor } = daemonHarness({ tmpPrefix: 'gv-sec-', label: 'security test' })
const start = (o: Partial<DaemonOptions> & { home: string }): Promise<Daemon> =>
  startWith({ listenHost: '127.0.0.1', listenPort: 0, security: 'fleet', ...fastGossip, ...o })
const signerOf = (h: string): Signer => identityOf(h).signer
/** Writes one entry through a second connection to the node's store (no capability check: local.commit is below the service). */
const publish = (dir: string, text: string): number => writeEntry(dir, text).seq

/** An honest write on `from` reaches every node of `to` (the node still serves its honest peers). */
async function honestWrite(fromHome: string, to: readonly Daemon[], text: string): Promise<void> {
  const author = signerOf(fromHome).author
  const seq = publish(fromHome, text)
  await waitFor(`honest write ${text}`, () => to.every((d) => seqOf(d, author) >= seq))
}

const rand = (n: number): Uint8Array => new Uint8Array(crypto.randomBytes(n))
const securityOf = (creds: secure.Creds): Security => secure.createSecurity(creds, () => Date.now(), rand)
const frame = (channel: number, body: Uint8Array): Uint8Array => new Uint8Array([channel, ...body])
const helloOf = (author: string): Uint8Array => frame(3, new TextEncoder().encode(JSON.stringify({ id: `${author}@127.0.0.1:9` })))
const delta = (batch: readonly SignedOp[]): Uint8Array => frame(1, antiEntropy.encodeMessage({ type: 'ae.delta', batches: [batch], more: false }))

/** Credential bytes made by hand (createCredential refuses what these tests need: a late join, a forged invite). */
function rawCredential(node: Signer, joinedAtMs: number, inviteBytes: Uint8Array, fleet: log.FleetId): Credential {
  const body = core.codec.encodeWith((w) => {
    core.codec.writeByte(w, 1)
    core.codec.writeByte(w, 0x43)
    core.codec.writeFixed(w, log.authorBytes(node.author))
    core.codec.writeUvarint(w, joinedAtMs)
    core.codec.writeBytes(w, inviteBytes)
  }, 512)
  const sig = crypto.sign(null, Buffer.concat([Buffer.from('grapevine/credential/v1\n'), body]), node.key)
  return { fleet, bytes: new Uint8Array(Buffer.concat([body, sig])) } as unknown as Credential
}

type Probe = { link: Link; opened: boolean; closed: boolean }
/** Dials a node with a Security of the test's; sends `onOpen` frames once the session is up. */
function dialProbe(port: number, security: Security, onOpen: (l: Link) => void = () => undefined): Probe {
  const p: Probe = { link: undefined as unknown as Link, opened: false, closed: false }
  p.link = links.dial('127.0.0.1', port, {
    security,
    events: {
      onOpen: (l) => {
        p.opened = true
        onOpen(l)
      },
      onMessage: () => undefined,
      onInvalid: () => undefined,
      onClose: () => void (p.closed = true),
    },
  })
  return p
}

/** A raw TCP connection: writes bytes, reports what came back and when it closed. */
async function raw(port: number, bytes: Uint8Array, end = false): Promise<{ got: number }> {
  const s = net.connect({ host: '127.0.0.1', port })
  await new Promise((r) => s.once('connect', r))
  const out = { got: 0 }
  s.on('data', (b) => void (out.got += b.length))
  s.on('error', () => undefined)
  s.write(bytes)
  if (end) s.end()
  await new Promise((r) => s.once('close', r))
  return out
}

describe('daemon security (live fleet daemons on loopback)', { timeout: 40_000 }, () => {
  const now = Date.now()
  const [ha, hb, he, hx, hc] = [tempHome('root'), tempHome('bee'), tempHome('eve'), tempHome('ex'), tempHome('cee')]
  const { root } = createTestFleet(ha, [hb, he, hx, hc], { caps: ['read', 'write:*'], ttlMs: 600_000, nowMs: () => now })
  const fleet = root.fleet
  const invite = (caps: string[], ms = 600_000): Invite => {
    const i = fleetHome.createInvite(root, caps, ms, now)
    assert.ok(i.ok)
    return i.value
  }
  // a member that may only set its status, held by the test (not a daemon): it attacks from inside
  const gee = testSigner(50)
  const geeCred = log.createCredential(invite(['read', 'write:status']), gee, now)
  assert.ok(geeCred.ok)
  const geeSecurity = (): Security => securityOf({ signer: gee, credential: geeCred.value })

  it('ops: an unknown author waits, outside the caps and forged or altered ops are refused; nothing stored or relayed; honest writes flow', async () => {
    const a = await start({ home: ha })
    const b = await start({ home: hb, join: [a.address] })
    await waitFor('a and b linked', () => a.peers().some((p) => p.id === b.id && p.linked))
    await honestWrite(hb, [a], 'first')
    const port = Number(a.address.split(':')[1])
    const bee = signerOf(hb)
    const stranger = testSigner(40)
    const beeHead = seqOf(a, bee.author)
    const beeLast = opsOf(hb, bee.author).at(-1) as SignedOp
    const next = log.createOps(bee.author, log.headOf(beeLast), [{ hlc: { wallMs: Date.now(), logical: 0 }, kind: 'status.set', body: { text: 'qqqq' } }])
    assert.ok(next.ok)
    const [beeNext] = log.signOps(bee, next.value)
    assert.ok(beeNext !== undefined)
    const forged = { ...beeNext, sig: Uint8Array.from(beeNext.sig ?? []).map((x, i) => (i === 0 ? x ^ 1 : x)) }
    const altered = delta([beeNext])
    const at = Buffer.from(altered).indexOf(Buffer.from('qqqq'))
    assert.ok(at > 0)
    altered[at] = 0x70 // qqqq -> pqqq under the same signature
    const probe = dialProbe(port, geeSecurity(), (l) => {
      l.send(helloOf(gee.author), false)
      l.send(delta(signedChain(stranger, 1)), false) // an author not in any roster: waits
      l.send(delta(signedChain(gee, 1)), false) // gee may only write status: a fact.assert is refused
      l.send(delta([forged]), false)
      l.send(altered, false)
    })
    await waitFor('the attacks counted', () => probe.opened && a.stats().opsWaiting >= 1 && a.stats().opsRefused >= 1 && a.stats().invalidOps >= 1)
    await honestWrite(hb, [a], 'after-ops')
    for (const d of [a, b]) {
      assert.equal(seqOf(d, stranger.author), 0, 'the stranger\'s op stored nowhere')
      assert.equal(seqOf(d, gee.author), 0, 'the op outside the caps stored nowhere')
    }
    assert.equal(seqOf(a, bee.author), beeHead + 1, 'only the honest ops of bee (hello already there): neither the forged nor the altered one')
    probe.link.close('done')
    await a.close()
    await b.close()
  })

  it('handshakes and frames: unknown node, wrong fleet, expired and forged invites, replayed handshake, replayed frame, flipped byte, oversized frame, lying prefix', async () => {
    const said: string[] = []
    const a = await start({ home: ha, log: (s) => void said.push(s) })
    const b = await start({ home: hb, join: [a.address] })
    await waitFor('a and b linked', () => a.peers().some((p) => p.id === b.id && p.linked))
    const port = Number(a.address.split(':')[1])
    const refused = async (what: string, security: Security, pattern: RegExp): Promise<void> => {
      const before = a.stats().invalidFrames
      const p = dialProbe(port, security, (l) => void l.send(helloOf(l.session()?.peer ?? ''), false))
      // (the initiator has its session after msg2: the responder refuses msg3 and closes)
      await waitFor(`${what} closed`, () => p.closed)
      await waitFor(`${what} counted`, () => a.stats().invalidFrames > before)
      assert.ok(said.some((s) => pattern.test(s)), `${what}: ${pattern} in the log: ${said.slice(-3).join(' | ')}`)
    }
    // an unknown node: no fleet at all (plain links), and a made-up credential of our fleet signed by nobody's root
    const before = a.stats().invalidFrames
    const plain = dialProbe(port, plainSecurity(testSigner(60).author))
    await waitFor('plain link closed', () => plain.closed && a.stats().invalidFrames > before)
    assert.equal(plain.opened, false)
    // a wrong fleet: a member of another fleet
    const otherRoot = testSigner(61)
    const otherInv = log.createInvite(otherRoot, { caps: ['read', 'write:*'], issuedAtMs: now, expiresAtMs: now + 60_000, nonce: rand(16) })
    assert.ok(otherInv.ok)
    const otherCred = log.createCredential(otherInv.value, testSigner(62), now)
    assert.ok(otherCred.ok)
    await refused('wrong fleet', securityOf({ signer: testSigner(62), credential: otherCred.value }), /asks for fleet|of fleet/)
    // an expired invite: joined after it expired (the joiner's own statement; createCredential refuses it)
    const old = log.createInvite(root.root as Signer, { caps: ['read', 'write:*'], issuedAtMs: now - 7_200_000, expiresAtMs: now - 3_600_000, nonce: rand(16) })
    assert.ok(old.ok)
    await refused('expired invite', securityOf({ signer: testSigner(63), credential: rawCredential(testSigner(63), now, old.value.bytes, fleet) }), /expired/)
    // a forged invite: signed by another key, naming our fleet
    const forgedInv = otherInv.value.bytes.slice()
    forgedInv.set(log.authorBytes(fleet as string as log.AuthorId), 2)
    await refused('forged invite', securityOf({ signer: testSigner(64), credential: rawCredential(testSigner(64), now, forgedInv, fleet) }), /not the fleet root/)
    // a replayed handshake: the same first message on two connections; the second gets nothing back
    const { first } = secure.initiate({ signer: gee, credential: geeCred.value }, { nowMs: Date.now(), random: rand })
    const s1 = net.connect({ host: '127.0.0.1', port })
    await new Promise((r) => s1.once('connect', r))
    let got1 = 0
    s1.on('data', (x) => void (got1 += x.length))
    s1.write(frames.encodeFrame(first))
    await waitFor('an answer to the first', () => got1 > 0)
    const r2 = await raw(port, frames.encodeFrame(first))
    assert.equal(r2.got, 0, 'the replay is answered with nothing')
    assert.ok(said.some((s) => /seen before: a replay/.test(s)))
    s1.destroy()
    // an oversized frame and a length prefix that lies, at a fleet node
    const big = new Uint8Array(4)
    new DataView(big.buffer).setUint32(0, 64 * 1024 * 1024, false)
    assert.equal((await raw(port, big)).got, 0)
    const liar = new Uint8Array(14)
    new DataView(liar.buffer).setUint32(0, 1000, false)
    assert.equal((await raw(port, liar, true)).got, 0)
    assert.ok(said.some((s) => /over the limit/.test(s)) && said.some((s) => /bytes short of a 1000-byte frame/.test(s)))
    await honestWrite(hb, [a], 'after-handshakes')
    // a replayed frame and a flipped byte: a member's link through a proxy that duplicates, then flips
    const proxy = await createFaultProxy(port, 7)
    for (const [what, pattern] of [['dup', /replayed or reordered/], ['flip', /does not authenticate/]] as const) {
      const p = dialProbe(proxy.port, geeSecurity(), (l) => {
        l.send(helloOf(gee.author), false)
        // the handshake and the hello pass clean; the next sealed frame is duplicated (or flipped) on the way
        setTimeout(() => {
          proxy.faults.in[what] = 1
          l.send(delta(signedChain(testSigner(41), 1)), false)
        }, 100)
      })
      await waitFor(`${what}: the link closed`, () => p.closed)
      assert.ok(said.some((s) => pattern.test(s)), `${what}: ${pattern}: ${said.filter((x) => x.startsWith('link')).slice(-4).join(' | ')}`)
      proxy.faults.in[what] = 0
    }
    assert.equal(seqOf(a, testSigner(41).author), 0)
    await proxy.close()
    await honestWrite(hb, [a], 'after-frames')
    await a.close()
    await b.close()
  })

  it('rosters persist: after a restart a node still passes on the ops of a member it will not meet again', async () => {
    let a = await start({ home: ha })
    const x = await start({ home: hx, join: [a.address] })
    await honestWrite(hx, [a], 'from-ex')
    const ex = signerOf(hx).author
    await x.close()
    await a.close()
    a = await start({ home: ha })
    const c = await start({ home: hc, join: [a.address] })
    await waitFor('cee has ex\'s ops, checked against the credential a kept', () => seqOf(c, ex) === seqOf(a, ex) && seqOf(a, ex) >= 2)
    assert.equal(c.stats().opsRefused, 0)
    await c.close()
    await a.close()
  })

  it('revocation: the root revokes a node; it is refused everywhere, a node partitioned meanwhile included; its ops up to the cutoff stay', async () => {
    const a = await start({ home: ha })
    const b = await start({ home: hb, join: [a.address] })
    let e = await start({ home: he, join: [a.address] })
    await waitFor('all linked', () => a.peers().filter((p) => p.linked).length === 2)
    const bee = signerOf(hb).author
    await honestWrite(hb, [a, e], 'before-revocation')
    const cutoff = seqOf(a, bee)
    // eve is partitioned when the revocation is made
    await e.close()
    const r = fleetHome.revoke(ha, root, { node: bee as log.AuthorId, cutoffSeq: cutoff }, 'test', Date.now())
    assert.ok(r.ok, r.ok ? '' : r.detail)
    await waitFor('a refuses bee', () => a.stats().linksClosed > 0 && !a.peers().some((p) => p.id === b.id && p.linked), 5000)
    publish(hb, 'after-revocation')
    // a member relays bee's op past the cutoff: refused
    const [late] = opsOf(hb, bee).slice(-1)
    const relay = dialProbe(Number(a.address.split(':')[1]), geeSecurity(), (l) => {
      l.send(helloOf(gee.author), false)
      l.send(delta([late as SignedOp]), false)
    })
    await waitFor('the relayed late op refused', () => a.stats().opsRevoked >= 1)
    relay.link.close('done')
    // eve heals (it restarts, knowing nothing of the revocation), meets the root, then bee dials it
    e = await start({ home: he, join: [a.address] })
    await waitFor('eve learnt the revocation', () => fleetHome.loadRevocations(he, fleet).nodes.has(bee as log.AuthorId))
    const b2Before = e.stats().invalidFrames
    await b.close()
    const b2 = await start({ home: hb, join: [e.address] })
    await waitFor('eve refuses bee at the handshake', () => e.stats().invalidFrames > b2Before)
    await honestWrite(ha, [e], 'after-heal')
    assert.equal(seqOf(a, bee), cutoff, 'bee\'s ops up to the cutoff stay, none after')
    assert.equal(seqOf(e, bee), cutoff)
    assert.ok(seqOf(b2, bee) > cutoff, 'bee itself wrote on')
    for (const d of [a, b2, e]) await d.close()
  })
})

/** An author's ops in a home's store. */
function opsOf(h: string, author: string): SignedOp[] {
  const l = openLocal(h)
  assert.ok(l.ok)
  const out = opLog.opsAfter(l.value.store, author as log.AuthorId, 0, 10_000)
  closeLocal(l.value)
  return out
}
