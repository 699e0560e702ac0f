import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import * as core from '../core/index.ts'
import { fcParams } from '../core/crdt-laws.test-util.ts'
import * as log from '../log/index.ts'
import { craftCredential } from '../log/log.test-util.ts'
import type { Credential, Signer } from '../log/index.ts'
import * as secure from './secure.ts'
import type { Creds, Env, HandshakeOptions, Session } from './secure.ts'

function signer(i: number): Signer {
  const r = log.createSigner(new Uint8Array(32).fill(i))
  assert.ok(r.ok)
  return r.value
}

const root = signer(40)
const otherRoot = signer(41)
const alice = signer(1)
const bob = signer(2)
const mallory = signer(3)
const t0 = 1_800_000_000_000
const dayMs = 86_400_000

/** Seeded randomness: the same run builds the same ephemeral keys. */
function seededRandom(seed: number): (n: number) => Uint8Array {
  const p = core.prng.create(seed)
  return (n) => Uint8Array.from({ length: n }, () => core.prng.nextU32(p) & 0xff)
}

function member(s: Signer, r = root, caps: readonly string[] = ['read', 'write:*'], expiresAtMs = t0 + 7 * dayMs): Creds {
  const inv = log.createInvite(r, { caps, issuedAtMs: t0 - dayMs, expiresAtMs, nonce: new Uint8Array(16).fill(s.author.charCodeAt(0)) })
  assert.ok(inv.ok)
  const c = log.createCredential(inv.value, s, t0 - dayMs)
  assert.ok(c.ok, c.ok ? '' : c.detail)
  return { signer: s, credential: c.value }
}

const env = (seed: number, nowMs = t0): Env => ({ nowMs, random: seededRandom(seed) })

type Run = { msg1: Uint8Array; msg2?: Uint8Array; msg3?: Uint8Array; initiator?: Session; responder?: Session; failure?: { side: 'initiator' | 'responder'; reason: string; detail: string } }

/** One handshake between two nodes, message by message, stopping at the first failure. */
function handshake(i: Creds, r: Creds, o: { envI?: Env; envR?: Env; optsI?: HandshakeOptions; optsR?: HandshakeOptions } = {}): Run {
  const { handshake: hi, first } = secure.initiate(i, o.envI ?? env(1), o.optsI)
  const hr = secure.respond(r, o.envR ?? env(2), o.optsR)
  const run: Run = { msg1: first }
  const a = hr.receive(first)
  if (!a.ok) return { ...run, failure: { side: 'responder', reason: a.reason, detail: a.detail } }
  assert.equal(a.value.session, undefined)
  run.msg2 = a.value.send as Uint8Array
  const b = hi.receive(run.msg2)
  if (!b.ok) return { ...run, failure: { side: 'initiator', reason: b.reason, detail: b.detail } }
  run.msg3 = b.value.send as Uint8Array
  run.initiator = b.value.session as Session
  const c = hr.receive(run.msg3)
  if (!c.ok) return { ...run, failure: { side: 'responder', reason: c.reason, detail: c.detail } }
  assert.equal(c.value.send, undefined)
  run.responder = c.value.session as Session
  return run
}

function refused(run: Run, side: 'initiator' | 'responder', reason: string): void {
  assert.ok(run.failure !== undefined, `expected ${side} to refuse with ${reason}, but the handshake succeeded`)
  assert.deepEqual({ side: run.failure.side, reason: run.failure.reason }, { side, reason }, run.failure.detail)
  assert.ok(run.failure.detail.length > 0)
  if (side === 'responder') assert.equal(run.responder, undefined)
}

const A = member(alice)
const B = member(bob)
const text = (s: string) => new TextEncoder().encode(s)

test('handshake: two members authenticate each other, agree on a session, and frames travel both ways', () => {
  const run = handshake(A, B)
  assert.equal(run.failure, undefined)
  const si = run.initiator as Session
  const sr = run.responder as Session
  assert.equal(si.peer, bob.author)
  assert.equal(sr.peer, alice.author)
  assert.deepEqual(sr.caps, ['read', 'write:*'])
  assert.deepEqual(si.id, sr.id)
  assert.ok(run.msg1.length <= secure.handshakeBytesMax && (run.msg2 as Uint8Array).length <= secure.handshakeBytesMax)
  for (let k = 0; k < 5; k++) {
    const a = sr.open(si.seal(text(`to bob ${k}`)))
    assert.ok(a.ok)
    assert.equal(new TextDecoder().decode(a.value), `to bob ${k}`)
    const b = si.open(sr.seal(text(`to alice ${k}`)))
    assert.ok(b.ok)
    assert.equal(new TextDecoder().decode(b.value), `to alice ${k}`)
  }
  // one key per direction: a frame reflected back at its sender does not open
  const own = si.seal(text('x'))
  const reflected = si.open(own)
  assert.ok(!reflected.ok)
  assert.equal(reflected.reason, 'bad_frame')
  // the payload is encrypted
  const secret = text('the secret deploy key is hunter2')
  const sealed = si.seal(secret)
  assert.equal(Buffer.from(sealed).indexOf(Buffer.from('hunter2')), -1)
  assert.equal(sealed.length, secret.length + secure.frameOverheadBytes)
  // an empty frame is a frame
  assert.deepEqual(sr.open(si.seal(new Uint8Array(0))), { ok: true, value: new Uint8Array(0) })
})

test('handshake: a capability-limited member gets a session that carries its capabilities', () => {
  const limited = member(mallory, root, ['write:discoveries'])
  const run = handshake(limited, B)
  const s = run.responder as Session
  assert.deepEqual(s.caps, ['write:discoveries'])
  assert.ok(log.mayWrite(s.caps, 'fact.assert', { channel: 'discoveries', value: 'x', supersedes: [], verified: false }))
  assert.ok(!log.mayWrite(s.caps, 'fact.assert', { fact_id: 'deploy.key', value: 'x', supersedes: [], verified: false }))
  assert.ok(!log.mayRead(s.caps))
})

test('rejections: wrong fleet, unknown node, forged or expired invite, revoked, unexpected peer, talking to oneself', () => {
  // wrong fleet: a member of another fleet dials us, and we dial one
  const stranger = member(mallory, otherRoot)
  refused(handshake(stranger, B), 'responder', 'wrong_fleet')
  // ... or claims our fleet in message 1 but shows its own fleet's credential
  const claimsOurs: Creds = { signer: mallory, credential: { ...stranger.credential, fleet: B.credential.fleet } }
  refused(handshake(claimsOurs, B), 'responder', 'wrong_fleet')
  // a responder of another fleet cannot answer us: our message 1 names our fleet
  refused(handshake(A, stranger), 'responder', 'wrong_fleet')

  // unknown node: a node with no credential of its own shows alice's: it cannot sign as alice
  const thief: Creds = { signer: mallory, credential: A.credential }
  refused(handshake(thief, B), 'responder', 'bad_signature')
  refused(handshake(B, thief), 'initiator', 'bad_signature')

  // forged invite: mallory signs an invite with her own key, rewrites its root to ours, and binds it to herself
  const forgedInvite = log.createInvite(mallory, { caps: ['read', 'write:*'], issuedAtMs: t0 - dayMs, expiresAtMs: t0 + dayMs, nonce: new Uint8Array(16) })
  assert.ok(forgedInvite.ok)
  const inviteBytes = forgedInvite.value.bytes.slice()
  inviteBytes.set(Buffer.from(root.author, 'hex'), 2)
  const forgedCred = craftCredential(mallory, t0 - dayMs, inviteBytes)
  const forger: Creds = { signer: mallory, credential: { ...A.credential, node: mallory.author, bytes: forgedCred } }
  refused(handshake(forger, B), 'responder', 'forged_invite')
  refused(handshake(B, forger), 'initiator', 'forged_invite')

  // a credential whose proof of possession does not verify
  const badProof = A.credential.bytes.slice()
  badProof[badProof.length - 1] = (badProof[badProof.length - 1] as number) ^ 1
  refused(handshake({ signer: alice, credential: { ...A.credential, bytes: badProof } }, B), 'responder', 'bad_credential')

  // expired invite: a credential that says it joined after its invite expired (a forged joining time
  // needs the node's own key, so this is a node that joined late and lied about nothing)
  const lateInvite = log.createInvite(root, { caps: ['read'], issuedAtMs: t0 - 3 * dayMs, expiresAtMs: t0 - 2 * dayMs, nonce: new Uint8Array(16).fill(7) })
  assert.ok(lateInvite.ok)
  const late: Creds = { signer: mallory, credential: { ...A.credential, node: mallory.author, bytes: craftCredential(mallory, t0 - dayMs, lateInvite.value.bytes) } }
  refused(handshake(late, B), 'responder', 'expired_invite')
  refused(handshake(B, late), 'initiator', 'expired_invite')
  // a member whose invite expired long after it joined is still a member (membership does not age)
  const expiring = member(alice, root, ['read', 'write:*'], t0 + dayMs)
  const later = t0 + 30 * dayMs
  assert.equal(handshake(expiring, B, { envI: env(1, later), envR: env(2, later) }).failure, undefined)
  // a credential dated in the future (beyond the skew) is refused
  const future: Creds = { signer: mallory, credential: { ...A.credential, node: mallory.author, bytes: craftCredential(mallory, t0 + dayMs, B.credential.invite.bytes) } }
  refused(handshake(future, B), 'responder', 'bad_credential')

  // revoked node or invite
  refused(handshake(A, B, { optsR: { isRevoked: (n) => n === alice.author } }), 'responder', 'revoked')
  refused(handshake(A, B, { optsI: { isRevoked: (_n, inviteId) => inviteId === B.credential.invite.id } }), 'initiator', 'revoked')

  // the initiator dialled a specific node and another answered
  refused(handshake(A, B, { optsI: { expectedPeer: mallory.author } }), 'initiator', 'unexpected_peer')
  assert.equal(handshake(A, B, { optsI: { expectedPeer: bob.author } }).failure, undefined)

  // a node that dials itself
  refused(handshake(A, A), 'initiator', 'self')
})

test('replayed handshakes produce no session; stale ones are refused by their timestamp', () => {
  const first = handshake(A, B)
  assert.equal(first.failure, undefined)
  // an attacker who recorded alice's messages replays them to bob: bob answers with a fresh key, and
  // alice's old message 3 does not authenticate against it
  const hr = secure.respond(B, env(9))
  const a = hr.receive(first.msg1)
  assert.ok(a.ok)
  assert.notDeepEqual(a.value.send, first.msg2)
  const c = hr.receive(first.msg3 as Uint8Array)
  assert.ok(!c.ok)
  assert.equal(c.reason, 'bad_handshake')
  // with the listener's replay guard, the replayed message 1 is refused before any work
  const guard = secure.createReplayGuard()
  assert.equal(handshake(A, B, { envI: env(5), optsR: { replayGuard: guard } }).failure, undefined)
  const again = secure.respond(B, env(6), { replayGuard: guard }).receive(handshake(A, B, { envI: env(5) }).msg1)
  assert.ok(!again.ok)
  assert.equal(again.reason, 'replayed_handshake')
  // replaying message 2 to a new initiator: its fresh ephemeral key makes the old answer unreadable
  const { handshake: hi } = secure.initiate(A, env(10))
  const b = hi.receive(first.msg2 as Uint8Array)
  assert.ok(!b.ok)
  assert.equal(b.reason, 'bad_handshake')
  // a message 1 older than the window (a replay days later, or a clock far off)
  refused(handshake(A, B, { envR: env(2, t0 + secure.handshakeWindowMsDefault + 1) }), 'responder', 'stale_handshake')
  refused(handshake(A, B, { envI: env(1, t0 + secure.handshakeWindowMsDefault + 1), optsR: { windowMs: dayMs } }), 'initiator', 'stale_handshake')
  // a handshake is one-shot: after it ends (or fails) it takes nothing more
  const hr2 = secure.respond(B, env(3))
  assert.equal((hr2.receive(new Uint8Array([9])) as { reason: string }).reason, 'malformed')
  assert.equal((hr2.receive(first.msg1) as { reason: string }).reason, 'closed')
})

test('frames: replayed, reordered and dropped-then-replayed frames are refused; a refused frame does not move the counter', () => {
  const run = handshake(A, B)
  const si = run.initiator as Session
  const sr = run.responder as Session
  const f = [1, 2, 3, 4, 5].map((k) => si.seal(text(`frame ${k}`)))
  const [f1, f2, f3, f4, f5] = f as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array]
  assert.ok(sr.open(f1).ok)
  assert.equal((sr.open(f1) as { reason: string }).reason, 'replayed_frame') // replay
  assert.ok(sr.open(f3).ok) // f2 dropped by the link: allowed
  assert.equal((sr.open(f2) as { reason: string }).reason, 'replayed_frame') // dropped, then replayed: too late
  // a forged frame with a huge counter does not move the counter (f4 still opens after it)
  const forged = f5.slice()
  new DataView(forged.buffer).setBigUint64(0, 1000n)
  assert.equal((sr.open(forged) as { reason: string }).reason, 'bad_frame')
  assert.ok(sr.open(f4).ok)
  assert.ok(sr.open(f5).ok)
  assert.equal((sr.open(f4) as { reason: string }).reason, 'replayed_frame') // reordered
  // frames of another session (same nodes, new handshake) do not open
  const other = handshake(A, B, { envI: env(7), envR: env(8) })
  assert.equal(((other.responder as Session).open(si.seal(text('x'))) as { reason: string }).reason, 'bad_frame')
  // sizes
  assert.equal((sr.open(new Uint8Array(secure.frameOverheadBytes - 1)) as { reason: string }).reason, 'malformed')
  assert.equal((sr.open(new Uint8Array(secure.frameBytesMax + 1)) as { reason: string }).reason, 'too_large')
  assert.throws(() => si.seal(new Uint8Array(secure.framePlainBytesMax + 1)), /framePlainBytesMax/)
})

test('flipped bytes: a frame with any byte changed never opens, and the session goes on (property)', () => {
  const run = handshake(A, B)
  const si = run.initiator as Session
  const sr = run.responder as Session
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (plain, at, x) => {
      const sealed = si.seal(plain)
      const bad = sealed.slice()
      const k = at % bad.length
      bad[k] = (bad[k] as number) ^ x
      const r = sr.open(bad)
      assert.ok(!r.ok, `flipping byte ${k} of ${bad.length} opened`)
      const good = sr.open(sealed)
      assert.ok(good.ok)
      assert.deepEqual(good.value, plain)
    }),
    fcParams({ numRuns: 1000 }),
  )
})

test('flipped bytes: a handshake message with any byte changed produces no session (property)', () => {
  const genuine = handshake(A, B)
  fc.assert(
    fc.property(fc.constantFrom<'msg1' | 'msg2' | 'msg3'>('msg1', 'msg2', 'msg3'), fc.nat(), fc.integer({ min: 1, max: 255 }), (which, at, x) => {
      const { handshake: hi, first } = secure.initiate(A, env(1))
      const hr = secure.respond(B, env(2))
      const flip = (m: Uint8Array) => {
        const b = m.slice()
        const k = at % b.length
        b[k] = (b[k] as number) ^ x
        return b
      }
      assert.deepEqual(first, genuine.msg1) // seeded: the same messages as the genuine run
      const a = hr.receive(which === 'msg1' ? flip(first) : first)
      if (!a.ok) return
      const b = hi.receive(which === 'msg2' ? flip(a.value.send as Uint8Array) : (a.value.send as Uint8Array))
      if (!b.ok) return
      // a flipped message 1 or 2 must have failed by now (both transcripts differ); message 3 fails at bob
      assert.equal(which, 'msg3', `a flipped ${which} was accepted by alice`)
      const c = hr.receive(flip(b.value.send as Uint8Array))
      assert.ok(!c.ok, 'a flipped message 3 was accepted by bob')
    }),
    fcParams({ numRuns: 150 }),
  )
})

test('garbage: random bytes at either side of a handshake never throw and never make a session', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, asFirst) => {
      if (asFirst) {
        const r = secure.respond(B, env(2)).receive(bytes)
        if (r.ok) assert.equal(r.value.session, undefined)
      } else {
        const r = secure.initiate(A, env(1)).handshake.receive(bytes)
        assert.ok(!r.ok)
      }
    }),
    fcParams({ numRuns: 2000 }),
  )
  const big = new Uint8Array(secure.handshakeBytesMax + 1)
  big[0] = 1
  big[1] = 1
  assert.equal((secure.respond(B, env(2)).receive(big) as { reason: string }).reason, 'too_large')
  const v2 = handshake(A, B).msg1.slice()
  v2[0] = 2
  assert.equal((secure.respond(B, env(2)).receive(v2) as { reason: string }).reason, 'unsupported_version')
  // an all-zero (low-order) ephemeral key gives no shared secret: refused, not thrown
  const zero = handshake(A, B).msg1.slice()
  zero.fill(0, 34, 66)
  assert.equal((secure.respond(B, env(2)).receive(zero) as { reason: string }).reason, 'bad_handshake')
})

test('createSecurity: the Security shape links.ts takes, with a shared replay guard on the listening side', () => {
  let now = t0
  const sa = secure.createSecurity(A, () => now, seededRandom(11))
  const sb = secure.createSecurity(B, () => now, seededRandom(12))
  const { handshake: hi, first } = sa.initiate(bob.author)
  const hr = sb.respond()
  const m2 = hr.receive(first)
  assert.ok(m2.ok)
  const m3 = hi.receive(m2.value.send as Uint8Array)
  assert.ok(m3.ok)
  const done = hr.receive(m3.value.send as Uint8Array)
  assert.ok(done.ok)
  assert.equal(done.value.session?.peer, alice.author)
  const replay = sb.respond().receive(first)
  assert.ok(!replay.ok)
  assert.equal(replay.reason, 'replayed_handshake')
  now += 10 * 60 * 1000
  const stale = sb.respond().receive(first)
  assert.equal((stale as { reason: string }).reason, 'stale_handshake')
})

test('credential sizes: the largest credential fits a handshake message', () => {
  const caps = Array.from({ length: log.capsMax }, (_, i) => `write:fact:${String(i).padStart(2, '0')}${'x'.repeat(log.factPatternBytesMax - 3)}*`)
  const big = member(alice, root, caps)
  const cred: Credential = big.credential
  assert.ok(cred.bytes.length <= log.credentialBytesMax, `${cred.bytes.length}`)
  const run = handshake(big, B)
  assert.equal(run.failure, undefined)
  assert.ok((run.msg3 as Uint8Array).length <= secure.handshakeBytesMax)
})

test('replay guard: remembers first messages within the window, forgets them after, and refuses a flood beyond its size', () => {
  const g = secure.createReplayGuard(3)
  const key = (i: number) => new Uint8Array(32).fill(i)
  const first = (i: number, nowMs: number) => {
    const { first: f } = secure.initiate(A, { nowMs, random: () => key(i) })
    return secure.respond(B, env(2, nowMs), { replayGuard: g }).receive(f)
  }
  assert.ok(first(1, t0).ok)
  assert.equal((first(1, t0 + 1000) as { reason: string }).reason, 'replayed_handshake')
  assert.ok(first(2, t0).ok)
  assert.ok(first(3, t0).ok)
  assert.equal((first(4, t0) as { reason: string }).reason, 'busy')
  // past the window the entries expire: room again (and the old message is stale anyway)
  const later = t0 + 3 * secure.handshakeWindowMsDefault
  assert.ok(first(4, later).ok)
  assert.ok(first(1, later).ok)
  assert.ok(g.seen.size <= 3)
})
