/**
 * A secure fleet (design.md section 8): the fleet root key, invites it signs, the membership credential a
 * node makes from an invite, and the capability check every op passes before it is applied or relayed.
 * Pure: node:crypto for Ed25519 only; keys, nonces and times are arguments (src/node makes them).
 *
 * THE FLEET. A fleet is named by its root key, an Ed25519 key pair made by `grapevine fleet create`. The
 * fleet id is the root's public key as 64 lowercase hex characters, so an invite or a credential proves
 * its fleet by itself: nothing to look up, nothing to trust but the 32 bytes every member was given
 * with its invite.
 *
 * CAPABILITIES. What a member may do, as a list of strings (at most capsMax, each at most capBytesMax
 * bytes, no whitespace, no comma):
 *
 *   read                  receive the fleet's ops (a peer without it is sent none)
 *   write:*               write every kind of op, present and future
 *   write:discoveries     channel entries of that channel (also write:patterns, write:warnings): a
 *                         fact.assert whose `channel` is the channel
 *   write:fact:PATTERN    keyed facts whose fact_id matches PATTERN: fact.assert and fact.retract.
 *                         PATTERN is an exact fact id, or a prefix ending in `*` (`deploy.*`,
 *                         `write:fact:*` is every fact); `*` nowhere else
 *   write:status          status.set          write:task      task.create, claim, release, done
 *   write:counter         counter.add         write:config    config.set
 *
 * An `agent.hello` (a node naming itself, the first op of every node) needs no capability. A fact.assert
 * that has both a `channel` and a `fact_id` (a verified entry, an entry under a chosen id) needs both the
 * channel's capability and a fact capability matching its id: a channel writer must not reach a keyed
 * fact by naming it. A kind this list does not name needs write:*. The channel names are those of
 * src/knowledge/kinds.ts (this layer sits below it and keeps its own copy).
 *
 * INVITES AND CREDENTIALS. An invite is signed by the root and names the fleet, a 16-byte nonce (which
 * makes every invite distinct and names it: its id), when it was issued, when it expires, and the
 * capabilities it grants. It is a bearer token: whoever holds it may join, until it expires. Joining makes
 * a credential: the invite, the joining node's public key, the time it joined, all signed by the node's
 * own key (proof of possession: a credential names exactly one key and only that key can make it).
 *
 * EXPIRY (a design choice). An invite must be redeemed before it expires; the credential then lasts until
 * it is revoked: membership does not age, so a fleet keeps working, and a node that joins next year can
 * still talk to one that joined today. The joining time is the joiner's own statement, signed by it: an
 * honest node cannot join late (createCredential refuses, and so does every peer decoding a credential
 * that says it joined after the expiry), but the holder of a leaked token could redeem it after expiry by
 * backdating. Expiry is therefore a limit on honest use and on how long a token lying in a chat log is
 * worth stealing, not the last line: the hard stop is revoking the invite by its id (every credential
 * carries it; the handshake asks `isRevoked(node, inviteId)`). Refusing credentials whose invite expired
 * "unless the node is already known" was considered and rejected: a node that has just joined knows
 * nobody, and would refuse every older member.
 *
 * Formats (uvarint and string as in the core codec, docs/PROTOCOL.md has them too):
 *
 *   invite      u8 version (1), u8 0x49 'I', 32 root public key, 16 nonce, uvarint issuedAtMs,
 *               uvarint expiresAtMs, uvarint cap count (1..capsMax), each cap a string, strictly
 *               ascending by bytes (one invite, one encoding), then the root's 64-byte Ed25519
 *               signature over "grapevine/invite/v1\n" and every byte before it.
 *   token       "gvi1." and the base64url (no padding) of the signed invite bytes.
 *   credential  u8 version (1), u8 0x43 'C', 32 node public key, uvarint joinedAtMs, the signed invite as
 *               uvarint length and bytes, then the node's signature over "grapevine/credential/v1\n" and
 *               every byte before it.
 *
 * A credential is valid if and only if: (1) it decodes, within credentialBytesMax, with no trailing byte;
 * (2) its invite decodes and (3) the invite's signature verifies under the root key it names; (4) the
 * proof of possession verifies under the node key it names; (5) joinedAtMs <= the invite's expiresAtMs
 * and issuedAtMs <= expiresAtMs. checkMembership adds the context: (6) the fleet is ours;
 * (7) joinedAtMs is not in the future beyond the skew (a node cannot date its joining ahead to dodge
 * a revocation recorded by time).
 */
import * as crypto from 'node:crypto'
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'
import type { AuthorId } from './op.ts'
import { authorBytes, authorIdFromBytes, authorLength, parseAuthorId } from './op.ts'
import type { Signer } from './sign.ts'
import { publicKeyOf, signatureLength } from './sign.ts'

const { codec } = core

// ---- limits

/** Capabilities per invite. */
export const capsMax = 32
/** Bytes per capability: room for `write:fact:` and the longest fact id (256 bytes) and a `*`. */
export const capBytesMax = 300
/** A fact id pattern's bytes: a fact id is at most 256 bytes (kinds.ts factIdBytesMax). */
export const factPatternBytesMax = 257
export const nonceLength = 16
/** Encoded invite (signature included): every cap at its largest fits. */
export const inviteBytesMax = 10 * 1024
/** Encoded credential made at joining: an invite, a key, a time and a signature. */
export const baseCredentialBytesMax = inviteBytesMax + 128
/** Rotations a successor credential may carry (a key rotated this many times joins again with an invite). */
export const rotationChainMax = 8
/** Rotation certificate: version, tag, three keys, two uvarints, two signatures. */
export const rotationBytesMax = 2 + 3 * 32 + 2 * 10 + 2 * 64
/** Encoded credential of any form: a successor credential is a base credential and its rotations. */
export const credentialBytesMax = baseCredentialBytesMax + 8 + rotationChainMax * (rotationBytesMax + 2)
/** An invite token's characters: "gvi1." and base64url of inviteBytesMax bytes. */
export const tokenCharsMax = 5 + Math.ceil((inviteBytesMax * 4) / 3)
/** Clock skew tolerated between nodes, for times a peer states (joinedAtMs, handshake timestamps). */
export const clockSkewMsDefault = 5 * 60 * 1000

export const fleetFormatVersion = 1
const inviteType = 0x49
const credentialType = 0x43
const successorType = 0x53
export const tokenPrefix = 'gvi1.'

const inviteDomain = core.codec.utf8Encode('grapevine/invite/v1\n')
const credentialDomain = core.codec.utf8Encode('grapevine/credential/v1\n')

// ---- capabilities

/** A capability string that parsed (see the header's grammar). */
export type Capability = string & { readonly __capability: 'Capability' }

/** The channels of entries: kinds.ts `channels`, copied because this layer sits below knowledge. */
export const capChannels = ['discoveries', 'patterns', 'warnings'] as const
/** Kind families and the kinds each covers. */
export const capFamilies = {
  status: ['status.set'],
  task: ['task.create', 'task.claim', 'task.release', 'task.done'],
  counter: ['counter.add'],
  config: ['config.set'],
} as const satisfies Record<string, readonly string[]>

/** What a fleet's creator grants itself, and `grapevine invite` grants when no --caps is given. */
export const capsAll = ['read', 'write:*'] as Capability[]

export type CapabilityFailure = 'invalid_capability'

/** Checks one capability string against the grammar. */
export function parseCapability(s: string): Result<Capability, CapabilityFailure> {
  const bad = (why: string) =>
    core.fail('invalid_capability', `bad capability ${JSON.stringify(s.slice(0, 80))}: ${why}`)
  if (typeof s !== 'string' || s.length === 0) return bad('empty')
  if (codec.utf8Length(s) > capBytesMax) return bad(`longer than ${capBytesMax} bytes`)
  // eslint-disable-next-line no-control-regex -- reason: control characters are exactly what is refused
  if (/[\s,\u0000-\u001f\u007f]/u.test(s) || !codec.isWellFormed(s)) return bad('no whitespace, commas or control characters')
  if (s === 'read' || s === 'write:*') return core.ok(s as Capability)
  if (!s.startsWith('write:')) return bad('use read, write:*, write:CHANNEL, write:fact:PATTERN or write:status|task|counter|config')
  const rest = s.slice('write:'.length)
  if ((capChannels as readonly string[]).includes(rest) || Object.hasOwn(capFamilies, rest)) return core.ok(s as Capability)
  if (rest.startsWith('fact:')) {
    const pattern = rest.slice('fact:'.length)
    if (pattern.length === 0) return bad('a fact pattern is a fact id or a prefix ending in *')
    if (pattern.slice(0, -1).includes('*')) return bad('* may only end a fact pattern')
    if (codec.utf8Length(pattern) > factPatternBytesMax) return bad(`a fact pattern is at most ${factPatternBytesMax} bytes`)
    return core.ok(s as Capability)
  }
  return bad(`unknown write target ${JSON.stringify(rest.slice(0, 40))} (channels: ${capChannels.join(', ')}; families: ${Object.keys(capFamilies).join(', ')}; or fact:PATTERN)`)
}

/** A list of capabilities, from an array or a comma-separated string: each checked, sorted, without duplicates. */
export function parseCapabilities(input: string | readonly string[]): Result<Capability[], CapabilityFailure> {
  const parts = typeof input === 'string' ? input.split(',').map((p) => p.trim()) : [...input]
  const out = new Set<Capability>()
  for (const p of parts) {
    const c = parseCapability(p)
    if (!c.ok) return c
    out.add(c.value)
  }
  if (out.size === 0) return core.fail('invalid_capability', 'an invite grants at least one capability')
  if (out.size > capsMax) return core.fail('invalid_capability', `at most ${capsMax} capabilities`)
  return core.ok(sortCaps([...out]))
}

function sortCaps(caps: Capability[]): Capability[] {
  return caps.sort((a, b) => codec.compareBytes(codec.utf8Encode(a), codec.utf8Encode(b)))
}

/** May a member with these capabilities receive the fleet's ops? */
export function mayRead(caps: readonly Capability[]): boolean {
  return caps.includes('read' as Capability)
}

function factAllowed(caps: readonly Capability[], factId: unknown): boolean {
  if (typeof factId !== 'string') return false
  for (const c of caps) {
    if (!c.startsWith('write:fact:')) continue
    const p = c.slice('write:fact:'.length)
    if (p.endsWith('*') ? factId.startsWith(p.slice(0, -1)) : factId === p) return true
  }
  return false
}

/**
 * May a member with these capabilities write an op of this kind and body? Pure and total: a body of the
 * wrong shape is refused (false), never thrown on. The header has the rules.
 */
export function mayWrite(caps: readonly Capability[], kind: string, body: unknown): boolean {
  if (caps.includes('write:*' as Capability)) return true
  if (kind === 'agent.hello') return true
  const b = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined
  if (kind === 'fact.assert') {
    if (b === undefined) return false
    const channel = b['channel']
    const factId = b['fact_id']
    if (channel === undefined && factId === undefined) return false
    if (channel !== undefined && (typeof channel !== 'string' || !caps.includes(`write:${channel}` as Capability) || !(capChannels as readonly string[]).includes(channel))) return false
    return factId === undefined || factAllowed(caps, factId)
  }
  if (kind === 'fact.retract') return b !== undefined && factAllowed(caps, b['fact_id'])
  for (const [family, kinds] of Object.entries(capFamilies)) {
    if ((kinds as readonly string[]).includes(kind)) return caps.includes(`write:${family}` as Capability)
  }
  return false
}

// ---- fleet ids

/** A fleet's id: its root public key, 64 lowercase hex characters. */
export type FleetId = string & { readonly __fleet: 'FleetId' }

export function parseFleetId(s: unknown): Result<FleetId, 'invalid_fleet'> {
  const a = parseAuthorId(s)
  return a.ok ? core.ok(a.value as string as FleetId) : core.fail('invalid_fleet', 'a fleet id is the root public key: 64 lowercase hex characters')
}

/** The fleet a root key (as a signer) names. */
export function fleetOf(root: Signer): FleetId {
  return root.author as string as FleetId
}

function fleetKey(fleet: FleetId): AuthorId {
  return fleet as string as AuthorId
}

function sign(signer: Signer, domain: Uint8Array, bytes: Uint8Array): Uint8Array {
  const s = crypto.sign(null, concat(domain, bytes), signer.key)
  return new Uint8Array(s.buffer, s.byteOffset, s.byteLength)
}

function verify(key: AuthorId, domain: Uint8Array, bytes: Uint8Array, sig: Uint8Array): boolean {
  try {
    return crypto.verify(null, concat(domain, bytes), publicKeyOf(key), sig)
  } catch {
    return false
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

// ---- invites

export type Invite = {
  readonly fleet: FleetId
  readonly nonce: Uint8Array
  readonly issuedAtMs: number
  readonly expiresAtMs: number
  readonly caps: readonly Capability[]
  /** The invite's name: its nonce as 32 hex characters (what a revocation of the invite would name). */
  readonly id: string
  /** The signed bytes (the token's content). */
  readonly bytes: Uint8Array
}

export type InviteFields = {
  readonly caps: readonly string[]
  readonly issuedAtMs: number
  readonly expiresAtMs: number
  /** 16 random bytes from the caller (src/node): this layer has no randomness. */
  readonly nonce: Uint8Array
}

export type InviteFailure = 'malformed' | 'too_large' | 'unsupported_version' | 'forged_invite' | 'invalid_capability' | 'invalid'

function isTime(ms: unknown): ms is number {
  return typeof ms === 'number' && Number.isSafeInteger(ms) && ms >= 0
}

/** Makes an invite signed by the fleet's root. */
export function createInvite(root: Signer, fields: InviteFields): Result<Invite, InviteFailure> {
  const caps = parseCapabilities(fields.caps)
  if (!caps.ok) return caps
  if (!isTime(fields.issuedAtMs) || !isTime(fields.expiresAtMs) || fields.expiresAtMs <= fields.issuedAtMs) {
    return core.fail('invalid', 'an invite expires after it is issued (times: ms since the Unix epoch)')
  }
  if (!(fields.nonce instanceof Uint8Array) || fields.nonce.length !== nonceLength) {
    return core.fail('invalid', `an invite nonce is ${nonceLength} bytes`)
  }
  const body = codec.encodeWith((w) => {
    codec.writeByte(w, fleetFormatVersion)
    codec.writeByte(w, inviteType)
    codec.writeFixed(w, authorBytes(root.author))
    codec.writeFixed(w, fields.nonce)
    codec.writeUvarint(w, fields.issuedAtMs)
    codec.writeUvarint(w, fields.expiresAtMs)
    codec.writeUvarint(w, caps.value.length)
    for (const c of caps.value) codec.writeString(w, c)
  }, 256)
  const bytes = concat(body, sign(root, inviteDomain, body))
  if (bytes.length > inviteBytesMax) return core.fail('too_large', `an invite is at most ${inviteBytesMax} bytes`)
  return decodeInvite(bytes)
}

type InviteFieldsRead = Omit<Invite, 'bytes' | 'id'> & { readonly bodyLength: number; readonly badOrder: boolean }

/** Decodes and verifies signed invite bytes: every field checked, the root's signature verified. */
export function decodeInvite(bytes: Uint8Array): Result<Invite, InviteFailure> {
  if (!(bytes instanceof Uint8Array)) return core.fail('malformed', 'an invite is bytes')
  if (bytes.length > inviteBytesMax) return core.fail('too_large', `an invite is at most ${inviteBytesMax} bytes, this one ${bytes.length}`)
  if (bytes.length >= 2 && bytes[1] === inviteType && (bytes[0] as number) > fleetFormatVersion) return core.fail('unsupported_version', `invite format ${bytes[0]} (this node reads ${fleetFormatVersion}): upgrade grapevine`)
  const r = codec.decodeWith(bytes, (rd): InviteFieldsRead => {
    if (codec.readByte(rd) !== fleetFormatVersion || codec.readByte(rd) !== inviteType) codec.malformed('not an invite')
    const fleet = authorIdFromBytes(codec.readFixed(rd, authorLength)) as string as FleetId
    const nonce = codec.readFixed(rd, nonceLength).slice()
    const issuedAtMs = codec.readUvarint(rd)
    const expiresAtMs = codec.readUvarint(rd)
    const n = codec.readCount(rd, 2)
    if (n === 0 || n > capsMax) codec.malformed(`an invite grants 1..${capsMax} capabilities, not ${n}`)
    const caps: Capability[] = []
    let badOrder = false
    let prev: Uint8Array | undefined
    for (let i = 0; i < n; i++) {
      const s = codec.readString(rd)
      const c = parseCapability(s)
      if (!c.ok) return codec.malformed(c.detail)
      const cur = codec.utf8Encode(s)
      if (prev !== undefined && codec.compareBytes(prev, cur) >= 0) badOrder = true
      prev = cur
      caps.push(c.value)
    }
    const bodyLength = rd.pos
    codec.readFixed(rd, signatureLength)
    return { fleet, nonce, issuedAtMs, expiresAtMs, caps, bodyLength, badOrder }
  })
  if (!r.ok) return core.fail('malformed', `invite: ${r.detail}`)
  const f = r.value
  if (f.badOrder) return core.fail('malformed', 'invite: capabilities must be strictly ascending')
  if (f.expiresAtMs <= f.issuedAtMs) return core.fail('malformed', 'invite: expires before it is issued')
  const body = bytes.subarray(0, f.bodyLength)
  const sig = bytes.subarray(f.bodyLength)
  if (!verify(fleetKey(f.fleet), inviteDomain, body, sig)) {
    return core.fail('forged_invite', `invite: the signature is not the fleet root's (fleet ${f.fleet.slice(0, 12)}…)`)
  }
  return core.ok({
    fleet: f.fleet,
    nonce: f.nonce,
    issuedAtMs: f.issuedAtMs,
    expiresAtMs: f.expiresAtMs,
    caps: f.caps,
    id: Buffer.from(f.nonce).toString('hex'),
    bytes: bytes.slice(),
  })
}

/** The text token of an invite, to print and paste. */
export function encodeInviteToken(invite: Invite): string {
  return tokenPrefix + Buffer.from(invite.bytes).toString('base64url')
}

/** Decodes and verifies a token typed or pasted by a person (surrounding whitespace is ignored). */
export function decodeInviteToken(text: string): Result<Invite, InviteFailure> {
  if (typeof text !== 'string') return core.fail('malformed', 'an invite token is text')
  const t = text.trim()
  if (t.length > tokenCharsMax) return core.fail('too_large', `an invite token is at most ${tokenCharsMax} characters`)
  if (!t.startsWith(tokenPrefix)) return core.fail('malformed', `an invite token starts with ${tokenPrefix}`)
  const b64 = t.slice(tokenPrefix.length)
  if (!/^[A-Za-z0-9_-]*$/.test(b64)) return core.fail('malformed', 'an invite token is base64url after its prefix')
  const bytes = new Uint8Array(Buffer.from(b64, 'base64url'))
  // one token, one text: a base64url string with non-zero spare bits would be a second spelling
  if (Buffer.from(bytes).toString('base64url') !== b64) return core.fail('malformed', 'the invite token is not canonical base64url')
  return decodeInvite(bytes)
}

// ---- credentials

export type Credential = {
  readonly fleet: FleetId
  readonly node: AuthorId
  readonly caps: readonly Capability[]
  readonly joinedAtMs: number
  readonly invite: Invite
  /** The signed credential bytes, as a handshake sends them. */
  readonly bytes: Uint8Array
  /**
   * A successor credential (the node's key was rotated): the rotations from the base credential's key to
   * `node`, oldest first, and that base credential (what the member joined with: its invite and caps).
   * Undefined for a credential made at joining.
   */
  readonly rotations?: readonly Revocation[] | undefined
  readonly base?: Credential | undefined
}

export type CredentialFailure = InviteFailure | 'bad_proof' | 'expired_invite' | 'forged_rotation'

/** Joins: binds an invite to this node's key. Refused if the invite has expired at joinedAtMs. */
export function createCredential(invite: Invite, node: Signer, joinedAtMs: number): Result<Credential, CredentialFailure> {
  if (!isTime(joinedAtMs)) return core.fail('invalid', 'joinedAtMs is ms since the Unix epoch')
  if (joinedAtMs > invite.expiresAtMs) {
    return core.fail('expired_invite', `the invite expired at ${new Date(invite.expiresAtMs).toISOString()}: ask for a new one`)
  }
  const body = codec.encodeWith((w) => {
    codec.writeByte(w, fleetFormatVersion)
    codec.writeByte(w, credentialType)
    codec.writeFixed(w, authorBytes(node.author))
    codec.writeUvarint(w, joinedAtMs)
    codec.writeBytes(w, invite.bytes)
  }, invite.bytes.length + 64)
  return decodeCredential(concat(body, sign(node, credentialDomain, body)))
}

/** Decodes and verifies a credential (rules 1-5 of the header), made at joining or a successor's. */
export function decodeCredential(bytes: Uint8Array): Result<Credential, CredentialFailure> {
  if (!(bytes instanceof Uint8Array)) return core.fail('malformed', 'a credential is bytes')
  if (bytes.length > credentialBytesMax) return core.fail('too_large', `a credential is at most ${credentialBytesMax} bytes, this one ${bytes.length}`)
  if (bytes.length >= 2 && bytes[1] === successorType) return decodeSuccessorCredential(bytes)
  if (bytes.length > baseCredentialBytesMax) return core.fail('too_large', `a credential made at joining is at most ${baseCredentialBytesMax} bytes, this one ${bytes.length}`)
  if (bytes.length >= 2 && bytes[1] === credentialType && (bytes[0] as number) > fleetFormatVersion) return core.fail('unsupported_version', `credential format ${bytes[0]} (this node reads ${fleetFormatVersion}): upgrade grapevine`)
  const r = codec.decodeWith(bytes, (rd) => {
    if (codec.readByte(rd) !== fleetFormatVersion || codec.readByte(rd) !== credentialType) codec.malformed('not a credential')
    const node = authorIdFromBytes(codec.readFixed(rd, authorLength))
    const joinedAtMs = codec.readUvarint(rd)
    const invite = codec.readBytes(rd)
    const bodyLength = rd.pos
    codec.readFixed(rd, signatureLength)
    return { node, joinedAtMs, invite, bodyLength }
  })
  if (!r.ok) return core.fail('malformed', `credential: ${r.detail}`)
  const inv = decodeInvite(r.value.invite)
  if (!inv.ok) return inv
  const body = bytes.subarray(0, r.value.bodyLength)
  if (!verify(r.value.node, credentialDomain, body, bytes.subarray(r.value.bodyLength))) {
    return core.fail('bad_proof', `credential: not signed by the key it admits (${r.value.node.slice(0, 12)}…)`)
  }
  if (r.value.joinedAtMs > inv.value.expiresAtMs) return core.fail('expired_invite', 'credential: joined after its invite expired')
  return core.ok({
    fleet: inv.value.fleet,
    node: r.value.node,
    caps: inv.value.caps,
    joinedAtMs: r.value.joinedAtMs,
    invite: inv.value,
    bytes: bytes.slice(),
  })
}

/**
 * A successor's credential: the member's credential made at joining (the base) and the rotations from its
 * key to this one (see "key rotation" below). Refused if the rotation does not rotate this credential's
 * key, or the chain would pass rotationChainMax (a key rotated that often joins again with an invite).
 */
export function createSuccessorCredential(prev: Credential, rotation: Revocation): Result<Credential, CredentialFailure> {
  if (rotation.successor === undefined || rotation.node !== prev.node || rotation.fleet !== prev.fleet) {
    return core.fail('invalid', `the rotation does not rotate this credential's key (${prev.node.slice(0, 12)}…)`)
  }
  const base = prev.base ?? prev
  const rotations = [...(prev.rotations ?? []), rotation]
  if (rotations.length > rotationChainMax) return core.fail('invalid', `a key rotated ${rotationChainMax} times joins again with a new invite`)
  const bytes = codec.encodeWith((w) => {
    codec.writeByte(w, fleetFormatVersion)
    codec.writeByte(w, successorType)
    codec.writeBytes(w, base.bytes)
    codec.writeUvarint(w, rotations.length)
    for (const r of rotations) codec.writeBytes(w, r.bytes)
  }, base.bytes.length + 16 + rotations.length * (rotationBytesMax + 2))
  return decodeCredential(bytes)
}

function decodeSuccessorCredential(bytes: Uint8Array): Result<Credential, CredentialFailure> {
  if ((bytes[0] as number) > fleetFormatVersion) return core.fail('unsupported_version', `credential format ${bytes[0]} (this node reads ${fleetFormatVersion}): upgrade grapevine`)
  const r = codec.decodeWith(bytes, (rd) => {
    if (codec.readByte(rd) !== fleetFormatVersion || codec.readByte(rd) !== successorType) codec.malformed('not a successor credential')
    const base = codec.readBytes(rd)
    const n = codec.readCount(rd, 2)
    if (n === 0 || n > rotationChainMax) codec.malformed(`a successor credential carries 1..${rotationChainMax} rotations, not ${n}`)
    const rotations: Uint8Array[] = []
    for (let i = 0; i < n; i++) {
      const b = codec.readBytes(rd)
      if (b.length > rotationBytesMax) codec.malformed(`a rotation over ${rotationBytesMax} bytes`)
      rotations.push(b)
    }
    return { base, rotations }
  })
  if (!r.ok) return core.fail('malformed', `successor credential: ${r.detail}`)
  if (r.value.base[1] !== credentialType) return core.fail('malformed', 'successor credential: its base is a credential made at joining')
  const b = decodeCredential(r.value.base)
  if (!b.ok) return b
  let node = b.value.node
  const rotations: Revocation[] = []
  for (const rb of r.value.rotations) {
    const d = decodeRotation(rb)
    if (!d.ok) return d.reason === 'forged_revocation' ? core.fail('malformed', d.detail) : core.fail(d.reason, d.detail)
    if (d.value.fleet !== b.value.fleet) return core.fail('malformed', 'successor credential: a rotation of another fleet')
    if (d.value.node !== node) return core.fail('malformed', `successor credential: the rotations do not chain from ${b.value.node.slice(0, 12)}…`)
    node = d.value.successor as AuthorId
    rotations.push(d.value)
  }
  return core.ok({
    fleet: b.value.fleet,
    node,
    caps: b.value.caps,
    joinedAtMs: (rotations[rotations.length - 1] as Revocation).issuedAtMs,
    invite: b.value.invite,
    bytes: bytes.slice(),
    rotations,
    base: b.value,
  })
}

export type MembershipFailure = 'wrong_fleet' | 'not_yet_valid'

export type MembershipContext = {
  /** Our fleet. */
  readonly fleet: FleetId
  /** Our clock, ms since the Unix epoch. */
  readonly nowMs: number
  readonly skewMs?: number | undefined
}

/** Rules 6-7 of the header: is this (decoded, verified) credential a member of our fleet now? */
export function checkMembership(cred: Credential, ctx: MembershipContext): Result<Credential, MembershipFailure> {
  if (cred.fleet !== ctx.fleet) {
    return core.fail('wrong_fleet', `the credential is of fleet ${cred.fleet.slice(0, 12)}…, not ours (${ctx.fleet.slice(0, 12)}…)`)
  }
  const skew = ctx.skewMs ?? clockSkewMsDefault
  if (cred.joinedAtMs > ctx.nowMs + skew) return core.fail('not_yet_valid', 'the credential says it was made in the future: check the clocks')
  return core.ok(cred)
}

// ---- rosters

/**
 * Every member's credentials as far as this node knows them: what lets a node check the capabilities of
 * an op's author when the author is not a peer it met (ops are relayed). Nodes exchange rosters (the
 * handshake gives each side its peer's credential; a roster message carries the rest), so a credential
 * spreads like an op. An author may hold several valid credentials (it joined again with other
 * capabilities): each is valid, so its capabilities are their union. Bounded: rosterMembersMax authors,
 * credentialsPerMemberMax credentials each (the latest joined kept).
 */
export type Roster = { readonly fleet: FleetId; readonly members: Map<AuthorId, Credential[]> }

export const rosterMembersMax = 10_000
export const credentialsPerMemberMax = 4
/** A roster message: at most this many credentials (a node sends a large roster in several). */
export const rosterMessageCredentialsMax = 256
export const rosterMessageBytesMax = 1024 * 1024

export function createRoster(fleet: FleetId): Roster {
  return { fleet, members: new Map() }
}

export type RosterFailure = CredentialFailure | MembershipFailure | 'full'

/** Adds a credential (bytes from a peer, or a decoded one): verified, of this fleet. Whether it was new. */
export function rosterAdd(roster: Roster, credential: Uint8Array | Credential, nowMs: number): Result<boolean, RosterFailure> {
  const c = credential instanceof Uint8Array ? decodeCredential(credential) : core.ok(credential)
  if (!c.ok) return c
  const m = checkMembership(c.value, { fleet: roster.fleet, nowMs })
  if (!m.ok) return m
  const cred = c.value
  const list = roster.members.get(cred.node)
  if (list === undefined) {
    if (roster.members.size >= rosterMembersMax) return core.fail('full', `a roster holds at most ${rosterMembersMax} members`)
    roster.members.set(cred.node, [cred])
    rosterSummaries.delete(roster)
    return core.ok(true)
  }
  if (list.some((x) => codec.bytesEqual(x.bytes, cred.bytes))) return core.ok(false)
  list.push(cred)
  list.sort((a, b) => b.joinedAtMs - a.joinedAtMs)
  if (list.length > credentialsPerMemberMax) list.length = credentialsPerMemberMax
  // a credential older than the kept ones is cut again at once: the list is as it was
  const added = list.includes(cred)
  if (added) rosterSummaries.delete(roster)
  return core.ok(added)
}

/** The capabilities of a member (the union over its credentials), or undefined for a node not in the roster. */
export function capsOf(roster: Roster, node: AuthorId): readonly Capability[] | undefined {
  const list = roster.members.get(node)
  if (list === undefined) return undefined
  if (list.length === 1) return (list[0] as Credential).caps
  return sortCaps([...new Set(list.flatMap((c) => c.caps))])
}

/**
 * The roster and revocation messages share one form: uvarint count (<= rosterMessageCredentialsMax), then
 * each item as uvarint length and bytes (credentials or revocation certificates, which the receiver then
 * verifies one by one).
 */
function encodeItems(items: readonly { readonly bytes: Uint8Array }[], what: string, capacity: number): Uint8Array {
  core.assert(items.length <= rosterMessageCredentialsMax, `log: too many ${what}s for one message`)
  return codec.encodeWith((w) => {
    codec.writeUvarint(w, items.length)
    for (const c of items) codec.writeBytes(w, c.bytes)
  }, capacity)
}

function decodeItems(bytes: Uint8Array, what: string, itemBytesMax: number): Result<Uint8Array[], 'malformed' | 'too_large'> {
  if (bytes instanceof Uint8Array && bytes.length > rosterMessageBytesMax) return core.fail('too_large', `a ${what} message is at most ${rosterMessageBytesMax} bytes`)
  const r = codec.decodeWith(bytes, (rd) => {
    const n = codec.readCount(rd, 2)
    if (n > rosterMessageCredentialsMax) codec.malformed(`at most ${rosterMessageCredentialsMax} ${what}s`)
    const out: Uint8Array[] = []
    for (let i = 0; i < n; i++) {
      const b = codec.readBytes(rd)
      if (b.length > itemBytesMax) codec.malformed(`a ${what} over ${itemBytesMax} bytes`)
      out.push(b)
    }
    return out
  })
  return r.ok ? r : core.fail('malformed', `${what} message: ${r.detail}`)
}

/** A roster message: its credentials (encodeItems' form). */
export function encodeRosterMessage(credentials: readonly Credential[]): Uint8Array {
  return encodeItems(credentials, 'credential', 1024)
}

/** Splits a roster message into credential bytes (each then goes to rosterAdd, which verifies it). */
export function decodeRosterMessage(bytes: Uint8Array): Result<Uint8Array[], 'malformed' | 'too_large'> {
  return decodeItems(bytes, 'credential', credentialBytesMax)
}

// ---- revocations

/**
 * A revocation: the root's signed statement that a node, or every credential made from an invite, is no
 * longer a member. It is a certificate, not an op (docs/PROTOCOL.md section 5 says why): it travels in
 * revocation messages, which nodes flood to every link when they learn one and exchange on every new
 * link, and in the shared folder; whoever holds it can check it against the fleet id alone.
 *
 *   revocation  u8 version (1), u8 0x52 'R', 32 root public key, u8 target (1 node, 2 invite), the
 *               target (32 node key, or 16 invite nonce), uvarint cutoffSeq, uvarint issuedAtMs, string
 *               reason (at most revocationReasonBytesMax), then the root's signature over
 *               "grapevine/revocation/v1\n" and every byte before it.
 *
 * `cutoffSeq` (node revocations): the last op of the revoked node that still counts, its head as the root
 * saw it; its ops after it are refused by every node. An invite revocation has cutoff 0 and refuses the
 * credentials made from it: handshakes, and ops of authors whose every credential came from it.
 */
export type Revocation = {
  readonly fleet: FleetId
  readonly node?: AuthorId | undefined
  readonly inviteId?: string | undefined
  readonly cutoffSeq: number
  readonly issuedAtMs: number
  readonly reason: string
  readonly bytes: Uint8Array
  /** A rotation (see "key rotation" below): `node` is the old key, this its successor; reason ''. */
  readonly successor?: AuthorId | undefined
}

export type RevocationFields =
  | { readonly node: AuthorId; readonly cutoffSeq: number; readonly issuedAtMs: number; readonly reason?: string | undefined }
  | { readonly inviteId: string; readonly issuedAtMs: number; readonly reason?: string | undefined }

export type RevocationFailure = 'malformed' | 'too_large' | 'forged_revocation' | 'forged_rotation' | 'bad_proof' | 'invalid'

export const revocationReasonBytesMax = 200
export const revocationBytesMax = 2 + 32 + 1 + 32 + 10 + 10 + 2 + revocationReasonBytesMax + 64
const revocationType = 0x52
const revocationDomain = core.codec.utf8Encode('grapevine/revocation/v1\n')

/** Makes a revocation signed by the fleet's root. */
export function createRevocation(root: Signer, fields: RevocationFields): Result<Revocation, RevocationFailure> {
  const reason = fields.reason ?? ''
  if (typeof reason !== 'string' || codec.utf8Encode(reason).length > revocationReasonBytesMax) return core.fail('invalid', `a revocation reason is at most ${revocationReasonBytesMax} bytes`)
  if (!isTime(fields.issuedAtMs)) return core.fail('invalid', 'issuedAtMs is ms since the Unix epoch')
  let target: Uint8Array
  let kind: number
  let cutoff = 0
  if ('node' in fields) {
    const a = parseAuthorId(fields.node)
    if (!a.ok) return core.fail('invalid', 'a revoked node is an author id (64 hex)')
    if (!Number.isSafeInteger(fields.cutoffSeq) || fields.cutoffSeq < 0) return core.fail('invalid', 'cutoffSeq is a seq >= 0')
    target = authorBytes(a.value)
    kind = 1
    cutoff = fields.cutoffSeq
  } else {
    if (typeof fields.inviteId !== 'string' || !/^[0-9a-f]{32}$/.test(fields.inviteId)) return core.fail('invalid', 'an invite id is 32 lowercase hex characters')
    target = new Uint8Array(Buffer.from(fields.inviteId, 'hex'))
    kind = 2
  }
  const body = codec.encodeWith((w) => {
    codec.writeByte(w, fleetFormatVersion)
    codec.writeByte(w, revocationType)
    codec.writeFixed(w, authorBytes(root.author))
    codec.writeByte(w, kind)
    codec.writeFixed(w, target)
    codec.writeUvarint(w, cutoff)
    codec.writeUvarint(w, fields.issuedAtMs)
    codec.writeString(w, reason)
  }, 128)
  return decodeRevocation(concat(body, sign(root, revocationDomain, body)))
}

/** Decodes and verifies a revocation: every field, and the root's signature. */
export function decodeRevocation(bytes: Uint8Array): Result<Revocation, RevocationFailure> {
  if (!(bytes instanceof Uint8Array)) return core.fail('malformed', 'a revocation is bytes')
  if (bytes.length > revocationBytesMax) return core.fail('too_large', `a revocation is at most ${revocationBytesMax} bytes`)
  const r = codec.decodeWith(bytes, (rd) => {
    if (codec.readByte(rd) !== fleetFormatVersion || codec.readByte(rd) !== revocationType) codec.malformed('not a revocation')
    const fleet = authorIdFromBytes(codec.readFixed(rd, authorLength)) as string as FleetId
    const kind = codec.readByte(rd)
    let node: AuthorId | undefined
    let inviteId: string | undefined
    if (kind === 1) node = authorIdFromBytes(codec.readFixed(rd, authorLength))
    else if (kind === 2) inviteId = Buffer.from(codec.readFixed(rd, nonceLength)).toString('hex')
    else codec.malformed('a revocation names a node (1) or an invite (2)')
    const cutoffSeq = codec.readUvarint(rd)
    const issuedAtMs = codec.readUvarint(rd)
    const reason = codec.readString(rd)
    const bodyLength = rd.pos
    codec.readFixed(rd, signatureLength)
    return { fleet, node, inviteId, cutoffSeq, issuedAtMs, reason, bodyLength }
  })
  if (!r.ok) return core.fail('malformed', `revocation: ${r.detail}`)
  const f = r.value
  if (codec.utf8Encode(f.reason).length > revocationReasonBytesMax) return core.fail('malformed', 'revocation: reason too long')
  if (f.inviteId !== undefined && f.cutoffSeq !== 0) return core.fail('malformed', 'revocation: an invite revocation has no cutoff')
  if (!verify(fleetKey(f.fleet), revocationDomain, bytes.subarray(0, f.bodyLength), bytes.subarray(f.bodyLength))) {
    return core.fail('forged_revocation', `revocation: the signature is not the fleet root's (fleet ${f.fleet.slice(0, 12)}…)`)
  }
  return core.ok({ fleet: f.fleet, node: f.node, inviteId: f.inviteId, cutoffSeq: f.cutoffSeq, issuedAtMs: f.issuedAtMs, reason: f.reason, bytes: bytes.slice() })
}

// ---- key rotation

/**
 * A rotation: a member replaces its node key (a suspected leak, or routine) and keeps its place. It is a
 * certificate like a revocation, signed by the OLD key (only the member can end its key) and by the NEW key
 * (the successor holds it), and it is both halves of what docs/PROTOCOL.md section 5 describes: a
 * self-issued revocation of the old key with a cutoff (its ops up to cutoffSeq stay valid, later ones are
 * refused as a revoked node's; its handshakes are refused), and the proof in the successor's credential
 * (the base credential and its rotations: the new key has the base credential's capabilities, even after
 * the invite expired, because the member vouched with its own key).
 *
 *   rotation   u8 version (1), u8 0x4b 'K', 32 fleet id, 32 old key, 32 new key, uvarint cutoffSeq,
 *              uvarint issuedAtMs, then the old key's signature and the new key's, each over
 *              "grapevine/rotation/v1\n" and every byte before the first signature.
 *   successor  u8 version (1), u8 0x53 'S', the base credential (made at joining) as uvarint length and
 *   credential bytes, uvarint count (1..rotationChainMax), each rotation as uvarint length and bytes: the
 *              first rotates the base credential's key, each next one the previous one's new key.
 *
 * In a Revocations set a rotation is a Revocation with `successor` set (node: the old key; reason ''), so
 * it travels, is kept and is enforced wherever revocations are. Conflicts are a function of the set alone:
 * a key rotated twice (two successors) keeps the rotation to the lower new key (hex order) and its cutoff;
 * the other successor is refused. A successor of a key the root revoked gets nothing (revoking a member
 * covers the keys it rotates to), whichever arrived first.
 */
export type RotationFields = { readonly cutoffSeq: number; readonly issuedAtMs: number }

const rotationType = 0x4b
const rotationDomain = core.codec.utf8Encode('grapevine/rotation/v1\n')

/** Makes a rotation of `old` to `successor` in `fleet`, signed by both keys. */
export function createRotation(fleet: FleetId, old: Signer, successor: Signer, fields: RotationFields): Result<Revocation, RevocationFailure> {
  if (!parseFleetId(fleet).ok) return core.fail('invalid', 'a fleet id is 64 lowercase hex characters')
  if (!Number.isSafeInteger(fields.cutoffSeq) || fields.cutoffSeq < 0) return core.fail('invalid', 'cutoffSeq is a seq >= 0')
  if (!isTime(fields.issuedAtMs)) return core.fail('invalid', 'issuedAtMs is ms since the Unix epoch')
  if (old.author === successor.author) return core.fail('invalid', 'the new key is the old key')
  const body = codec.encodeWith((w) => {
    codec.writeByte(w, fleetFormatVersion)
    codec.writeByte(w, rotationType)
    codec.writeFixed(w, authorBytes(fleetKey(fleet)))
    codec.writeFixed(w, authorBytes(old.author))
    codec.writeFixed(w, authorBytes(successor.author))
    codec.writeUvarint(w, fields.cutoffSeq)
    codec.writeUvarint(w, fields.issuedAtMs)
  }, 128)
  return decodeRotation(concat(concat(body, sign(old, rotationDomain, body)), sign(successor, rotationDomain, body)))
}

/** Decodes and verifies a rotation: every field, the old key's signature (`forged_rotation`), the new key's (`bad_proof`). */
export function decodeRotation(bytes: Uint8Array): Result<Revocation, RevocationFailure> {
  if (!(bytes instanceof Uint8Array)) return core.fail('malformed', 'a rotation is bytes')
  if (bytes.length > rotationBytesMax) return core.fail('too_large', `a rotation is at most ${rotationBytesMax} bytes`)
  const r = codec.decodeWith(bytes, (rd) => {
    if (codec.readByte(rd) !== fleetFormatVersion || codec.readByte(rd) !== rotationType) codec.malformed('not a rotation')
    const fleet = authorIdFromBytes(codec.readFixed(rd, authorLength)) as string as FleetId
    const node = authorIdFromBytes(codec.readFixed(rd, authorLength))
    const successor = authorIdFromBytes(codec.readFixed(rd, authorLength))
    const cutoffSeq = codec.readUvarint(rd)
    const issuedAtMs = codec.readUvarint(rd)
    const bodyLength = rd.pos
    codec.readFixed(rd, signatureLength)
    codec.readFixed(rd, signatureLength)
    return { fleet, node, successor, cutoffSeq, issuedAtMs, bodyLength }
  })
  if (!r.ok) return core.fail('malformed', `rotation: ${r.detail}`)
  const f = r.value
  if (f.node === f.successor) return core.fail('malformed', 'rotation: the new key is the old key')
  const body = bytes.subarray(0, f.bodyLength)
  if (!verify(f.node, rotationDomain, body, bytes.subarray(f.bodyLength, f.bodyLength + signatureLength))) {
    return core.fail('forged_rotation', `rotation: not signed by the old key (${f.node.slice(0, 12)}…)`)
  }
  if (!verify(f.successor, rotationDomain, body, bytes.subarray(f.bodyLength + signatureLength))) {
    return core.fail('bad_proof', `rotation: not signed by the new key (${f.successor.slice(0, 12)}…)`)
  }
  return core.ok({ fleet: f.fleet, node: f.node, successor: f.successor, inviteId: undefined, cutoffSeq: f.cutoffSeq, issuedAtMs: f.issuedAtMs, reason: '', bytes: bytes.slice() })
}

/** A revocation or a rotation, by its tag (what revocation messages and files carry). */
export function decodeFleetCertificate(bytes: Uint8Array): Result<Revocation, RevocationFailure> {
  return bytes instanceof Uint8Array && bytes.length >= 2 && bytes[1] === rotationType ? decodeRotation(bytes) : decodeRevocation(bytes)
}

// ---- the set of revocations and rotations

/**
 * The revocations and rotations a node knows, for one fleet. Enforcement is a function of this set only
 * (not of the order they arrived in): a node revoked twice has the lower cutoff; a node both revoked and
 * rotated, the lower of the two.
 */
export type Revocations = {
  readonly fleet: FleetId
  readonly all: Revocation[]
  /** Node cutoffs in force: the root's revocations and the rotations in force, the lower. */
  readonly nodes: Map<AuthorId, number>
  readonly invites: Set<string>
  /** Nodes the root revoked, with the lower cutoff: a successor of one gets nothing. */
  readonly revokedNodes: Map<AuthorId, number>
  /** Per old key, the rotation in force: of two, the one to the lower new key. */
  readonly rotations: Map<AuthorId, Revocation>
}

export const revocationsMax = 10_000

export function createRevocations(fleet: FleetId): Revocations {
  return { fleet, all: [], nodes: new Map(), invites: new Set(), revokedNodes: new Map(), rotations: new Map() }
}

/**
 * Adds a revocation or a rotation (bytes from a peer or a file, or a decoded one): verified, of this fleet.
 * Whether it was new. With a roster, a rotation of a key that is not in it is not kept (ok false): any key
 * pair can sign a rotation, and only a member's matters (a member's credential travels ahead of it).
 */
export function revocationsAdd(set: Revocations, rev: Uint8Array | Revocation, roster?: Roster): Result<boolean, RevocationFailure | 'wrong_fleet' | 'full'> {
  const d = rev instanceof Uint8Array ? decodeFleetCertificate(rev) : core.ok(rev)
  if (!d.ok) return d
  const r = d.value
  if (r.fleet !== set.fleet) return core.fail('wrong_fleet', 'a revocation of another fleet')
  if (set.all.some((x) => codec.bytesEqual(x.bytes, r.bytes))) return core.ok(false)
  if (r.successor !== undefined && roster !== undefined && r.node !== undefined && !roster.members.has(r.node)) return core.ok(false)
  if (set.all.length >= revocationsMax) return core.fail('full', `at most ${revocationsMax} revocations`)
  set.all.push(r)
  if (r.node !== undefined) {
    if (r.successor !== undefined) {
      const w = set.rotations.get(r.node)
      if (w === undefined || r.successor < (w.successor as AuthorId)) set.rotations.set(r.node, r)
    } else set.revokedNodes.set(r.node, Math.min(set.revokedNodes.get(r.node) ?? Number.MAX_SAFE_INTEGER, r.cutoffSeq))
    const a = set.revokedNodes.get(r.node) ?? Number.MAX_SAFE_INTEGER
    const b = set.rotations.get(r.node)?.cutoffSeq ?? Number.MAX_SAFE_INTEGER
    set.nodes.set(r.node, Math.min(a, b))
  }
  if (r.inviteId !== undefined) set.invites.add(r.inviteId)
  return core.ok(true)
}

/** The rotations a credential carries that are new to the set (added): a successor's credential brings them. */
export function learnRotations(set: Revocations, cred: Credential, roster?: Roster): Revocation[] {
  const out: Revocation[] = []
  for (const r of cred.rotations ?? []) {
    const a = revocationsAdd(set, r, roster)
    if (a.ok && a.value) out.push(r)
  }
  return out
}

/**
 * Whether a credential's rotations all hold: each is the rotation in force for its old key (or one the set
 * does not know yet: the credential carries it), and no key of the chain was revoked by the root.
 */
export function successionHolds(set: Revocations, cred: Credential): boolean {
  for (const r of cred.rotations ?? []) {
    const old = r.node as AuthorId
    if (set.revokedNodes.has(old)) return false
    const w = set.rotations.get(old)
    if (w !== undefined && w.successor !== r.successor) return false
  }
  return true
}

/**
 * Whether a handshake with this node (holding a credential of this invite) is refused: the node is revoked
 * or rotated away, the invite is revoked, or (given the credential) a rotation it rests on does not hold.
 */
export function isRevoked(set: Revocations, node: AuthorId, inviteId: string, cred?: Credential): boolean {
  return set.nodes.has(node) || set.invites.has(inviteId) || (cred !== undefined && !successionHolds(set, cred))
}

/**
 * The capabilities an op of `author` at `seq` is checked against: undefined when the author is not in
 * the roster (the op waits); [] when the op is revoked (the author's node revoked or rotated with a cutoff
 * below seq, or every credential it has comes from a revoked invite or rests on a rotation that does not
 * hold). The fleet root itself may write nothing (it speaks in revocations, not ops).
 */
export function capsAt(roster: Roster, revs: Revocations | undefined, author: AuthorId, seq: number): readonly Capability[] | undefined {
  const list = roster.members.get(author)
  if (list === undefined) return undefined
  if (revs === undefined) return capsOf(roster, author)
  const cutoff = revs.nodes.get(author)
  if (cutoff !== undefined && seq > cutoff) return []
  const live = list.filter((c) => !revs.invites.has(c.invite.id) && successionHolds(revs, c))
  if (live.length === list.length) return capsOf(roster, author)
  return sortCaps([...new Set(live.flatMap((c) => c.caps))])
}

/** A revocation message: its revocations (encodeItems' form). */
export function encodeRevocationMessage(revs: readonly Revocation[]): Uint8Array {
  return encodeItems(revs, 'revocation', 256)
}

/** Splits a revocation message into revocation bytes (each then goes to revocationsAdd, which verifies it). */
export function decodeRevocationMessage(bytes: Uint8Array): Result<Uint8Array[], 'malformed' | 'too_large'> {
  return decodeItems(bytes, 'revocation', revocationBytesMax)
}

/**
 * The fleet's rule for one signed batch of received ops, before it is applied: undefined (may be applied),
 * 'waiting' (an author not in the roster yet: keep it for later), 'revoked' (past the author's cutoff),
 * 'refused' (outside the author's capabilities).
 */
export function batchRule(roster: Roster, revs: Revocations | undefined, batch: readonly { readonly op: { readonly author: AuthorId; readonly seq: number; readonly kind: string; readonly body: unknown } }[]): 'waiting' | 'revoked' | 'refused' | undefined {
  for (const e of batch) {
    const caps = capsAt(roster, revs, e.op.author, e.op.seq)
    if (caps === undefined) return 'waiting'
    if (caps.length === 0) return 'revoked'
    if (!mayWrite(caps, e.op.kind, e.op.body)) return 'refused'
  }
  return undefined
}

// ---- summaries: what a new link exchanges instead of whole rosters (docs/PROTOCOL.md sections 1 and 5)

/** A set of credentials or revocations in 33+ bytes: how many, and a hash over the sorted item hashes. */
export type SetSummary = { readonly count: number; readonly hash: Uint8Array }
export type FleetSummary = { readonly roster: SetSummary; readonly revocations: SetSummary }

export const fleetSummaryVersion = 1
/** u8 version, then per set a uvarint count (at most 8 bytes) and 32 hash bytes. */
export const fleetSummaryBytesMax = 1 + 2 * (8 + 32)
const rosterSummaryDomain = core.codec.utf8Encode('grapevine/roster-summary/v1\n')
const revocationsSummaryDomain = core.codec.utf8Encode('grapevine/revocations-summary/v1\n')

/** H(bytes) per item, kept while the item's bytes live (a roster of 10,000 credentials of 12 KB is not rehashed per link). */
const itemHashes = new WeakMap<Uint8Array, Uint8Array>()
function itemHash(bytes: Uint8Array): Uint8Array {
  let h = itemHashes.get(bytes)
  if (h === undefined) {
    h = new Uint8Array(crypto.createHash('sha256').update(bytes).digest())
    itemHashes.set(bytes, h)
  }
  return h
}

/** H(domain || the items' H(bytes), sorted bytewise): the same set gives the same hash whatever the order it was learnt in. */
function summarize(domain: Uint8Array, items: readonly { readonly bytes: Uint8Array }[]): SetSummary {
  const hashes = items.map((x) => itemHash(x.bytes)).sort(codec.compareBytes)
  const h = crypto.createHash('sha256').update(domain)
  for (const x of hashes) h.update(x)
  return { count: hashes.length, hash: new Uint8Array(h.digest()) }
}

/** Every credential the roster holds (all members', all kept per member). */
export function rosterCredentials(roster: Roster): Credential[] {
  return [...roster.members.values()].flat()
}

/**
 * Summaries already made, until the set changes (every new link asks for ours, and a peer reconnecting in
 * a loop must not cost a sort and hash of the whole roster each time): a roster's is dropped by rosterAdd
 * when it adds (the only way a roster changes); revocations only grow, so their count names the set.
 */
const rosterSummaries = new WeakMap<Roster, SetSummary>()
const revocationSummaries = new WeakMap<Revocations, SetSummary>()

export function rosterSummary(roster: Roster): SetSummary {
  let s = rosterSummaries.get(roster)
  if (s === undefined) rosterSummaries.set(roster, (s = summarize(rosterSummaryDomain, rosterCredentials(roster))))
  return s
}

export function revocationsSummary(revs: Revocations): SetSummary {
  let s = revocationSummaries.get(revs)
  if (s === undefined || s.count !== revs.all.length) revocationSummaries.set(revs, (s = summarize(revocationsSummaryDomain, revs.all)))
  return s
}

export function fleetSummary(roster: Roster, revs: Revocations): FleetSummary {
  return { roster: rosterSummary(roster), revocations: revocationsSummary(revs) }
}

/** Do two summaries describe the same set? (The hash decides; equal hashes with different counts cannot come from honest peers.) */
export function sameSet(a: SetSummary, b: SetSummary): boolean {
  return a.count === b.count && codec.bytesEqual(a.hash, b.hash)
}

/** The summary message: u8 version (1), uvarint credential count, 32 roster hash, uvarint revocation count, 32 revocations hash. */
export function encodeFleetSummary(s: FleetSummary): Uint8Array {
  return codec.encodeWith((w) => {
    codec.writeByte(w, fleetSummaryVersion)
    for (const x of [s.roster, s.revocations]) {
      codec.writeUvarint(w, x.count)
      codec.writeFixed(w, x.hash)
    }
  }, fleetSummaryBytesMax)
}

/**
 * A summary message, or undefined for a later version (its first byte above 1: ignored, so a later
 * summary form can be added without old nodes scoring its senders down). Malformed: anything else that
 * is not exactly the layout above.
 */
export function decodeFleetSummary(bytes: Uint8Array): Result<FleetSummary | undefined, 'malformed' | 'too_large'> {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return core.fail('malformed', 'an empty summary')
  if ((bytes[0] as number) > fleetSummaryVersion) return core.ok(undefined)
  if (bytes.length > fleetSummaryBytesMax) return core.fail('too_large', `a summary is at most ${fleetSummaryBytesMax} bytes`)
  const r = codec.decodeWith(bytes, (rd) => {
    if (codec.readByte(rd) !== fleetSummaryVersion) codec.malformed('summary version 0')
    const set = (): SetSummary => ({ count: codec.readUvarint(rd), hash: codec.readFixed(rd, 32) })
    const roster = set()
    return { roster, revocations: set() }
  })
  return r.ok ? r : core.fail('malformed', `summary: ${r.detail}`)
}
