/**
 * The secure peer session (design.md sections 7-8), sans-I/O: a three-message handshake that
 * authenticates both nodes' keys and fleet memberships and agrees on session keys, then a session that
 * seals and opens frames. No sockets, no timers, no clock: the caller passes `nowMs` and a `random(n)`
 * source, carries the bytes over its own length-prefixed frames, and closes the link on any failure.
 * docs/PROTOCOL.md has the format field by field and the threat model.
 *
 *   initiator                                               responder
 *   msg1  v, 1, fleet, e_i, ts_i                   ->
 *                                                  <-       msg2  v, 2, e_r, ts_r, AEAD_hr(cred_r, sig_r)
 *   msg3  v, 3, AEAD_hi(cred_i, sig_i)             ->
 *
 * e_i, e_r are fresh X25519 keys; dh = X25519(e_i, e_r). The transcript hash runs over every byte sent:
 *   h0 = SHA-256("grapevine/handshake/v1\n" || msg1)
 *   h1 = SHA-256(h0 || msg2 header)        (the header: v, 2, e_r, ts_r)
 *   h2 = SHA-256(h1 || msg2 sealed part)
 *   h3 = SHA-256(h2 || msg3)
 * Handshake keys k_hr || k_hi = HKDF-SHA256(dh, salt h1, "grapevine/handshake-keys/v1", 64); the sealed
 * parts use ChaCha20-Poly1305 with a zero nonce (each key seals once), additional data h1 (msg2) and h2
 * (msg3). sig_r is the responder node's Ed25519 signature over "grapevine/handshake/responder/v1\n" || h1
 * || SHA-256(cred_r); sig_i the initiator's over "grapevine/handshake/initiator/v1\n" || h2 ||
 * SHA-256(cred_i). Session keys k_ir || k_ri = HKDF-SHA256(dh, salt h3, "grapevine/session/v1", 64), one
 * per direction.
 *
 * Why each piece: the signatures over the transcript prove each node holds the key its credential admits
 * and bind both ephemeral keys (so a recorded handshake replayed to a node meets a fresh e_r and cannot be
 * completed); sealing the credentials under dh-derived keys proves the signer also took part in this key
 * exchange (a relay cannot swap in its own credential and signature and make one side believe it talks to
 * the relay: the identity misbinding that plain signed Diffie-Hellman allows); timestamps and a replay
 * guard refuse stale and replayed first messages before any work beyond a check.
 *
 * A sealed frame: u64 counter (big-endian, from 1, +1 per frame), ciphertext, 16-byte Poly1305 tag; the
 * ChaCha20-Poly1305 nonce is 4 zero bytes and the counter, the additional data the counter. A receiver
 * opens only frames whose counter is above the last frame it opened (replays and reorderings are refused;
 * a gap is allowed, since a frame the link dropped must not poison the session, and a dropped frame
 * replayed later is refused), and moves its counter only after the tag verifies.
 */
import * as crypto from 'node:crypto'
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'
import * as log from '../log/index.ts'
import type { AuthorId, Capability, Credential, FleetId, Signer } from '../log/index.ts'

const { codec } = core

// ---- limits

/** Largest handshake message: msg2 with the largest credential, a signature and the AEAD tag. */
export const handshakeBytesMax = log.credentialBytesMax + 256
/** Largest plaintext of one frame: a 1 MiB batch (log.batchBytesMax) and any gossip message around it. */
export const framePlainBytesMax = 2 * 1024 * 1024
/** Bytes a sealed frame adds to its plaintext: the 8-byte counter and the 16-byte tag. */
export const frameOverheadBytes = 8 + 16
export const frameBytesMax = framePlainBytesMax + frameOverheadBytes
/** How far a handshake timestamp may be from our clock, either way. */
export const handshakeWindowMsDefault = 2 * 60 * 1000
/** First messages a replay guard remembers at once (a handshake flood beyond it is refused as busy). */
export const replayGuardEntriesMax = 65_536

export const protocolVersion = 1
const msg1Type = 1
const msg2Type = 2
const msg3Type = 3
const keyLength = 32
const tagLength = 16
const msg1Length = 2 + 32 + 32 // + uvarint timestamp

const enc = (s: string) => codec.utf8Encode(s)
const transcriptLabel = enc('grapevine/handshake/v1\n')
const responderDomain = enc('grapevine/handshake/responder/v1\n')
const initiatorDomain = enc('grapevine/handshake/initiator/v1\n')
const handshakeKeysInfo = enc('grapevine/handshake-keys/v1')
const sessionInfo = enc('grapevine/session/v1')

// ---- types

/** What a node brings to a handshake: its node key and its credential in the fleet. */
export type Creds = { readonly signer: Signer; readonly credential: Credential }

/** The outside world, passed in: the wall clock now, and cryptographic randomness. */
export type Env = { readonly nowMs: number; readonly random: (n: number) => Uint8Array }

export type HandshakeOptions = {
  /** The initiator's expectation: refuse a responder that is another node. */
  readonly expectedPeer?: AuthorId | undefined
  /** Whether this node or its invite (by id) is revoked, or its credential rests on a rotation that does not hold: refused with `revoked`. */
  readonly isRevoked?: ((node: AuthorId, inviteId: string, credential: Credential) => boolean) | undefined
  /** The responder's guard against replayed first messages (one per listening node, shared). */
  readonly replayGuard?: ReplayGuard | undefined
  readonly windowMs?: number | undefined
}

export type HandshakeFailure =
  | 'malformed'
  | 'too_large'
  | 'unsupported_version'
  | 'unexpected_message'
  | 'wrong_fleet'
  | 'stale_handshake'
  | 'replayed_handshake'
  | 'busy'
  | 'bad_handshake'
  | 'forged_invite'
  | 'bad_credential'
  | 'expired_invite'
  | 'bad_signature'
  | 'unexpected_peer'
  | 'revoked'
  | 'self'
  | 'closed'

export type FrameFailure = 'malformed' | 'too_large' | 'replayed_frame' | 'bad_frame'

/** An established session: who the peer is, what it may do, and the two directions' ciphers. */
export type Session = {
  readonly peer: AuthorId
  readonly caps: readonly Capability[]
  readonly credential: Credential
  /** The handshake's transcript hash: the same 32 bytes on both sides (a channel binding). */
  readonly id: Uint8Array
  /** Seals a frame for the peer (plaintext at most framePlainBytesMax; a caller bug beyond). */
  seal(plain: Uint8Array): Uint8Array
  /** Opens a frame from the peer: refused if altered, replayed, reordered or malformed. */
  open(sealed: Uint8Array): Result<Uint8Array, FrameFailure>
}

export type Step = { readonly send?: Uint8Array; readonly session?: Session }

export type Handshake = {
  /** Takes the peer's next handshake message; on a failure the handshake is dead (close the link). */
  receive(bytes: Uint8Array): Result<Step, HandshakeFailure>
}

// ---- replay guard

/** Remembers the ephemeral keys of first messages seen within the window, to refuse a replayed one. */
export type ReplayGuard = { readonly seen: Map<string, number>; readonly entriesMax: number }

export function createReplayGuard(entriesMax = replayGuardEntriesMax): ReplayGuard {
  return { seen: new Map(), entriesMax }
}

function guardCheck(g: ReplayGuard, key: Uint8Array, untilMs: number, nowMs: number): 'ok' | 'replayed_handshake' | 'busy' {
  const k = Buffer.from(key).toString('hex')
  const until = g.seen.get(k)
  if (until !== undefined && until >= nowMs) return 'replayed_handshake'
  // entries arrive roughly in expiry order: drop expired ones from the front, a few per call
  let dropped = 0
  for (const [old, u] of g.seen) {
    if (u >= nowMs || dropped >= 16) break
    g.seen.delete(old)
    dropped++
  }
  if (g.seen.size >= g.entriesMax) {
    for (const [old, u] of g.seen) if (u < nowMs) g.seen.delete(old)
    if (g.seen.size >= g.entriesMax) return 'busy'
  }
  g.seen.delete(k)
  g.seen.set(k, untilMs)
  return 'ok'
}

// ---- primitives

const x25519Pkcs8 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])
const x25519Spki = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])

type Ephemeral = { readonly privateKey: crypto.KeyObject; readonly publicBytes: Uint8Array }

function ephemeral(random: (n: number) => Uint8Array): Ephemeral {
  const seed = random(keyLength)
  core.assert(seed instanceof Uint8Array && seed.length === keyLength, 'transport: random(n) must return n bytes')
  const privateKey = crypto.createPrivateKey({ key: Buffer.concat([x25519Pkcs8, seed]), format: 'der', type: 'pkcs8' })
  const der = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' })
  return { privateKey, publicBytes: new Uint8Array(der.subarray(x25519Spki.length)) }
}

/** X25519 with the peer's raw public key; undefined for a key that gives no secret (a low-order point). */
function agree(own: Ephemeral, peer: Uint8Array): Uint8Array | undefined {
  try {
    const publicKey = crypto.createPublicKey({ key: Buffer.concat([x25519Spki, peer]), format: 'der', type: 'spki' })
    const s = new Uint8Array(crypto.diffieHellman({ privateKey: own.privateKey, publicKey }))
    return s.every((b) => b === 0) ? undefined : s
  } catch {
    return undefined // reason: OpenSSL refuses an all-zero shared secret; that is the peer's bad key
  }
}

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = crypto.createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): [Uint8Array, Uint8Array] {
  const out = new Uint8Array(crypto.hkdfSync('sha256', ikm, salt, info, 2 * keyLength))
  return [out.slice(0, keyLength), out.slice(keyLength)]
}

/** ChaCha20-Poly1305: `prefix || ciphertext || tag`, in one allocation (a frame's counter is its prefix). */
function aeadSeal(key: crypto.KeyObject | Uint8Array, nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array, prefix?: Uint8Array): Uint8Array {
  const c = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: tagLength })
  c.setAAD(aad, { plaintextLength: plain.length })
  const body = c.update(plain)
  c.final()
  const p = prefix?.length ?? 0
  const out = new Uint8Array(p + body.length + tagLength)
  if (prefix !== undefined) out.set(prefix)
  out.set(body, p)
  out.set(c.getAuthTag(), p + body.length)
  return out
}

function aeadOpen(key: crypto.KeyObject | Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < tagLength) return undefined
  const n = sealed.length - tagLength
  try {
    const d = crypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: tagLength })
    d.setAAD(aad, { plaintextLength: n })
    d.setAuthTag(sealed.subarray(n))
    const body = d.update(sealed.subarray(0, n))
    d.final()
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  } catch {
    return undefined // reason: a tag that does not verify is the expected failure here
  }
}

const zeroNonce = new Uint8Array(12)

function signTranscript(signer: Signer, domain: Uint8Array, h: Uint8Array, cred: Uint8Array): Uint8Array {
  const s = crypto.sign(null, Buffer.concat([domain, h, sha256(cred)]), signer.key)
  return new Uint8Array(s)
}

function verifyTranscript(node: AuthorId, domain: Uint8Array, h: Uint8Array, cred: Uint8Array, sig: Uint8Array): boolean {
  try {
    return crypto.verify(null, Buffer.concat([domain, h, sha256(cred)]), log.publicKeyOf(node), sig)
  } catch {
    return false
  }
}

/** The sealed part of msg2 and msg3: the credential (uvarint length, bytes) and the 64-byte signature. */
function identityPayload(cred: Uint8Array, sig: Uint8Array): Uint8Array {
  return codec.encodeWith((w) => {
    codec.writeBytes(w, cred)
    codec.writeFixed(w, sig)
  }, cred.length + 80)
}

function fail(reason: HandshakeFailure, detail: string): core.Fail<HandshakeFailure> {
  return core.fail(reason, detail)
}

/** Opens and checks a peer's identity payload: the credential, its membership, the transcript signature. */
function checkPeer(
  own: Creds,
  env: Env,
  opts: HandshakeOptions,
  payload: Uint8Array,
  domain: Uint8Array,
  h: Uint8Array,
): Result<Credential, HandshakeFailure> {
  const p = codec.decodeWith(payload, (r) => ({ cred: codec.readBytes(r), sig: codec.readFixed(r, log.signatureLength) }))
  if (!p.ok) return fail('malformed', `handshake identity: ${p.detail}`)
  const c = log.decodeCredential(p.value.cred)
  if (!c.ok) {
    const reason: HandshakeFailure =
      c.reason === 'forged_invite' ? 'forged_invite'
        : c.reason === 'expired_invite' ? 'expired_invite'
          : c.reason === 'unsupported_version' ? 'unsupported_version'
            : 'bad_credential'
    return fail(reason, `peer credential: ${c.detail}`)
  }
  const cred = c.value
  const m = log.checkMembership(cred, {
    fleet: own.credential.fleet,
    nowMs: env.nowMs,
  })
  if (!m.ok) return fail(m.reason === 'not_yet_valid' ? 'bad_credential' : m.reason, `peer credential: ${m.detail}`)
  if (!verifyTranscript(cred.node, domain, h, p.value.cred, p.value.sig)) {
    return fail('bad_signature', `the peer does not hold the key of the credential it shows (${cred.node.slice(0, 12)}…)`)
  }
  if (cred.node === own.signer.author) return fail('self', 'the peer is this node')
  if (opts.isRevoked?.(cred.node, cred.invite.id, cred) === true) return fail('revoked', `node ${cred.node.slice(0, 12)}… is revoked`)
  return core.ok(cred)
}

function checkTimestamp(ts: number, env: Env, opts: HandshakeOptions): Result<true, HandshakeFailure> {
  const window = opts.windowMs ?? handshakeWindowMsDefault
  if (Math.abs(ts - env.nowMs) > window) {
    const s = Math.round(Math.abs(env.nowMs - ts) / 1000)
    return fail('stale_handshake', `the handshake is dated ${s} s ${ts < env.nowMs ? 'behind' : 'ahead of'} our clock (window ${window / 1000} s): a replay, or a clock to fix`)
  }
  return core.ok(true)
}

function header(bytes: Uint8Array, type: number): Result<true, HandshakeFailure> {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) return fail('malformed', 'a handshake message is at least 2 bytes')
  if (bytes.length > handshakeBytesMax) return fail('too_large', `a handshake message is at most ${handshakeBytesMax} bytes, not ${bytes.length}`)
  if (bytes[0] !== protocolVersion) return fail('unsupported_version', `handshake version ${bytes[0]} (this node speaks ${protocolVersion})`)
  if (bytes[1] !== type) return fail('unexpected_message', `expected handshake message ${type}, got type ${bytes[1]}`)
  return core.ok(true)
}

// ---- sessions

function createSession(cred: Credential, id: Uint8Array, sendBytes: Uint8Array, receiveBytes: Uint8Array): Session {
  // KeyObjects: a cipher made from one skips the key import, ~3x faster on small frames (measured)
  const sendKey = crypto.createSecretKey(sendBytes)
  const receiveKey = crypto.createSecretKey(receiveBytes)
  let sent = 0
  let opened = 0
  const nonce = (counterBytes: Uint8Array) => {
    const n = new Uint8Array(12)
    n.set(counterBytes, 4)
    return n
  }
  return {
    peer: cred.node,
    caps: cred.caps,
    credential: cred,
    id,
    seal(plain) {
      core.assert(plain.length <= framePlainBytesMax, 'transport: frame plaintext over framePlainBytesMax')
      core.assert(sent < Number.MAX_SAFE_INTEGER, 'transport: frame counter exhausted (rekey with a new handshake)')
      sent++
      const ctr = new Uint8Array(8)
      new DataView(ctr.buffer).setBigUint64(0, BigInt(sent))
      return aeadSeal(sendKey, nonce(ctr), ctr, plain, ctr)
    },
    open(sealed) {
      if (!(sealed instanceof Uint8Array) || sealed.length < frameOverheadBytes) return core.fail('malformed', `a sealed frame is at least ${frameOverheadBytes} bytes`)
      if (sealed.length > frameBytesMax) return core.fail('too_large', `a sealed frame is at most ${frameBytesMax} bytes`)
      const ctrBytes = sealed.subarray(0, 8)
      const ctr = new DataView(ctrBytes.buffer, ctrBytes.byteOffset, 8).getBigUint64(0)
      if (ctr <= BigInt(opened)) return core.fail('replayed_frame', `frame ${ctr} is not after frame ${opened}: replayed or reordered`)
      if (ctr > BigInt(Number.MAX_SAFE_INTEGER)) return core.fail('malformed', 'frame counter beyond 2^53-1')
      const plain = aeadOpen(receiveKey, nonce(ctrBytes), ctrBytes, sealed.subarray(8))
      if (plain === undefined) return core.fail('bad_frame', `frame ${ctr} does not authenticate: altered in transit, or not from this session`)
      opened = Number(ctr)
      return core.ok(plain)
    },
  }
}

// ---- the handshake

/** Starts a handshake as the initiator (the node that dialled): send `first`, then feed it the reply. */
export function initiate(creds: Creds, env: Env, opts: HandshakeOptions = {}): { handshake: Handshake; first: Uint8Array } {
  const e = ephemeral(env.random)
  const first = codec.encodeWith((w) => {
    codec.writeByte(w, protocolVersion)
    codec.writeByte(w, msg1Type)
    codec.writeFixed(w, log.authorBytes(creds.credential.fleet as string as AuthorId))
    codec.writeFixed(w, e.publicBytes)
    codec.writeUvarint(w, env.nowMs)
  }, msg1Length + 9)
  const h0 = sha256(transcriptLabel, first)
  let state: 'wait2' | 'done' = 'wait2'
  return {
    first,
    handshake: {
      receive(bytes) {
        if (state !== 'wait2') return fail('closed', 'this handshake is over')
        state = 'done'
        const hd = header(bytes, msg2Type)
        if (!hd.ok) return hd
        const r = codec.decodeWith(bytes, (rd) => {
          codec.readFixed(rd, 2)
          const er = codec.readFixed(rd, keyLength)
          const ts = codec.readUvarint(rd)
          const headerLength = rd.pos
          const sealed = codec.readFixed(rd, codec.remaining(rd))
          return { er, ts, headerLength, sealed }
        })
        if (!r.ok) return fail('malformed', `handshake message 2: ${r.detail}`)
        const t = checkTimestamp(r.value.ts, env, opts)
        if (!t.ok) return t
        const dh = agree(e, r.value.er)
        if (dh === undefined) return fail('bad_handshake', 'the responder sent an unusable ephemeral key')
        const h1 = sha256(h0, bytes.subarray(0, r.value.headerLength))
        const [khr, khi] = hkdf(dh, h1, handshakeKeysInfo)
        const payload = aeadOpen(khr, zeroNonce, h1, r.value.sealed)
        if (payload === undefined) return fail('bad_handshake', 'handshake message 2 does not authenticate (altered, or not an answer to our message 1)')
        const peer = checkPeer(creds, env, opts, payload, responderDomain, h1)
        if (!peer.ok) return peer
        if (opts.expectedPeer !== undefined && peer.value.node !== opts.expectedPeer) {
          return fail('unexpected_peer', `dialled ${opts.expectedPeer.slice(0, 12)}…, answered by ${peer.value.node.slice(0, 12)}…`)
        }
        const h2 = sha256(h1, r.value.sealed)
        const sig = signTranscript(creds.signer, initiatorDomain, h2, creds.credential.bytes)
        const sealed3 = aeadSeal(khi, zeroNonce, h2, identityPayload(creds.credential.bytes, sig))
        const msg3 = new Uint8Array(2 + sealed3.length)
        msg3[0] = protocolVersion
        msg3[1] = msg3Type
        msg3.set(sealed3, 2)
        const h3 = sha256(h2, msg3)
        const [kir, kri] = hkdf(dh, h3, sessionInfo)
        return core.ok({ send: msg3, session: createSession(peer.value, h3, kir, kri) })
      },
    },
  }
}

/** Starts a handshake as the responder (the node that accepted): feed it message 1, send the reply, feed it message 3. */
export function respond(creds: Creds, env: Env, opts: HandshakeOptions = {}): Handshake {
  let state: 'wait1' | 'wait3' | 'done' = 'wait1'
  let dh: Uint8Array | undefined
  let h2: Uint8Array | undefined
  let khi: Uint8Array | undefined
  return {
    receive(bytes) {
      if (state === 'wait1') {
        state = 'done'
        const hd = header(bytes, msg1Type)
        if (!hd.ok) return hd
        const r = codec.decodeWith(bytes, (rd) => {
          codec.readFixed(rd, 2)
          const fleet = log.authorIdFromBytes(codec.readFixed(rd, keyLength)) as string as FleetId
          const ei = codec.readFixed(rd, keyLength)
          const ts = codec.readUvarint(rd)
          return { fleet, ei, ts }
        })
        if (!r.ok) return fail('malformed', `handshake message 1: ${r.detail}`)
        if (r.value.fleet !== creds.credential.fleet) {
          return fail('wrong_fleet', `the peer asks for fleet ${r.value.fleet.slice(0, 12)}…, this node is in ${creds.credential.fleet.slice(0, 12)}…`)
        }
        const t = checkTimestamp(r.value.ts, env, opts)
        if (!t.ok) return t
        if (opts.replayGuard !== undefined) {
          const g = guardCheck(opts.replayGuard, r.value.ei, r.value.ts + 2 * (opts.windowMs ?? handshakeWindowMsDefault), env.nowMs)
          if (g !== 'ok') return fail(g, g === 'busy' ? 'too many handshakes at once' : 'this handshake was seen before: a replay')
        }
        const e = ephemeral(env.random)
        const secret = agree(e, r.value.ei)
        if (secret === undefined) return fail('bad_handshake', 'the initiator sent an unusable ephemeral key')
        const head = codec.encodeWith((w) => {
          codec.writeByte(w, protocolVersion)
          codec.writeByte(w, msg2Type)
          codec.writeFixed(w, e.publicBytes)
          codec.writeUvarint(w, env.nowMs)
        }, 48)
        const h1 = sha256(sha256(transcriptLabel, bytes), head)
        const [khr, khiOwn] = hkdf(secret, h1, handshakeKeysInfo)
        const sig = signTranscript(creds.signer, responderDomain, h1, creds.credential.bytes)
        const sealed = aeadSeal(khr, zeroNonce, h1, identityPayload(creds.credential.bytes, sig))
        const msg2 = new Uint8Array(head.length + sealed.length)
        msg2.set(head)
        msg2.set(sealed, head.length)
        dh = secret
        h2 = sha256(h1, sealed)
        khi = khiOwn
        state = 'wait3'
        return core.ok({ send: msg2 })
      }
      if (state === 'wait3') {
        state = 'done'
        core.assert(dh !== undefined && h2 !== undefined && khi !== undefined, 'transport: responder state')
        const hd = header(bytes, msg3Type)
        if (!hd.ok) return hd
        const payload = aeadOpen(khi, zeroNonce, h2, bytes.subarray(2))
        if (payload === undefined) return fail('bad_handshake', 'handshake message 3 does not authenticate (altered, or replayed from another handshake)')
        const peer = checkPeer(creds, env, opts, payload, initiatorDomain, h2)
        if (!peer.ok) return peer
        const h3 = sha256(h2, bytes)
        const [kir, kri] = hkdf(dh, h3, sessionInfo)
        return core.ok({ session: createSession(peer.value, h3, kri, kir) })
      }
      return fail('closed', 'this handshake is over')
    },
  }
}

/**
 * The handshake bound to a node's credentials and its clock and randomness, in the shape links.ts takes
 * (`Security`): each handshake reads `now()` once, when it starts. The responder side shares one replay
 * guard unless the options bring their own.
 */
export function createSecurity(
  creds: Creds,
  now: () => number,
  random: (n: number) => Uint8Array,
  opts: Omit<HandshakeOptions, 'expectedPeer'> = {},
): { initiate(expectedPeer?: string): { handshake: Handshake; first: Uint8Array }; respond(): Handshake } {
  const guarded: HandshakeOptions = { ...opts, replayGuard: opts.replayGuard ?? createReplayGuard() }
  return {
    initiate(expectedPeer) {
      const p = expectedPeer === undefined ? undefined : log.parseAuthorId(expectedPeer)
      return initiate(creds, { nowMs: now(), random }, { ...guarded, expectedPeer: p?.ok === true ? p.value : (expectedPeer as AuthorId | undefined) })
    },
    respond: () => respond(creds, { nowMs: now(), random }, guarded),
  }
}
