/**
 * A node's fleet state, in its home next to the identity (home.ts):
 *
 *   <home>/fleet.json   {"format":1,"fleet":<64 hex>,"credential":<base64url>,"root_seed"?:<64 hex>}, mode 0600
 *   <home>/revocations  the fleet's revocations and key rotations this node knows, one per line as base64url (log/fleet.ts
 *                       format), appended by `grapevine revoke` and by the daemon as revocations arrive;
 *                       a line that does not verify is skipped (each is checked against the fleet id)
 *   <home>/roster       the credentials of other members this node learnt (one per line, base64url),
 *                       appended by the daemon: after a restart it can still check, and pass on, the ops
 *                       of members it will not meet again (and, after `grapevine rotate-key`, this
 *                       node's own old credential)
 *   <home>/identity.json.retired-<time>   an identity key replaced by rotateKey (kept, never deleted)
 *
 * `fleet` is the fleet id (the root public key); `credential` this node's membership credential (log/fleet.ts
 * format); `root_seed` the fleet root's private key, present only on the node that created the fleet (it
 * alone can invite). Loading validates everything: the credential decodes and verifies, admits this node's
 * key, and is of the fleet the file names; the root seed gives that fleet id. Randomness (keys, nonces) and
 * the wall clock enter here, in src/node.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { appendFileSync, chmodSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'
import * as log from '../log/index.ts'
import type { AuthorId, Credential, FleetId, Invite, Revocation, Revocations, Signer } from '../log/index.ts'
import { identityFile } from './home.ts'
import type { Identity } from './home.ts'

export const fleetFile = 'fleet.json'
export const revocationsFile = 'revocations'
export const rosterFile = 'roster'
/** How long the creator's invite to itself is valid: it is redeemed at once. */
const selfInviteMs = 24 * 60 * 60 * 1000
/** The longest an invite may be valid: a leaked token is a way in until it expires (or is revoked). */
export const inviteMsMax = 365 * 24 * 60 * 60 * 1000
export const inviteMsDefault = 7 * 24 * 60 * 60 * 1000

/** This node's place in a fleet. `root` only on the node that created the fleet. */
export type FleetState = { readonly fleet: FleetId; readonly credential: Credential; readonly root?: Signer | undefined }

export type FleetHomeFailure = 'missing' | 'unreadable' | 'exists' | 'not_root' | 'io' | 'invalid' | log.CredentialFailure

function fail<R extends FleetHomeFailure>(reason: R, detail: string): core.Fail<R> {
  return core.fail(reason, detail)
}

/** Reads and validates fleet.json for this identity. */
export function load(home: string, identity: Identity): Result<FleetState, FleetHomeFailure> {
  const path = join(home, fleetFile)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return fail('missing', `this node is in no fleet yet (no ${path}): grapevine fleet create, or grapevine join TOKEN`)
    return fail('unreadable', `cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`)
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return fail('unreadable', `${path} is not JSON`)
  }
  const d = doc as { format?: unknown; fleet?: unknown; credential?: unknown; root_seed?: unknown }
  if (typeof d !== 'object' || d === null || d.format !== 1) return fail('unreadable', `${path}: unknown fleet file format`)
  const fleet = log.parseFleetId(d.fleet)
  if (!fleet.ok) return fail('unreadable', `${path}: bad fleet id`)
  if (typeof d.credential !== 'string' || !/^[A-Za-z0-9_-]+$/.test(d.credential) || d.credential.length > 2 * log.credentialBytesMax) {
    return fail('unreadable', `${path}: bad credential`)
  }
  const cred = log.decodeCredential(new Uint8Array(Buffer.from(d.credential, 'base64url')))
  if (!cred.ok) return fail('unreadable', `${path}: credential: ${cred.detail}`)
  if (cred.value.node !== identity.author) return fail('unreadable', `${path}: the credential admits ${cred.value.node.slice(0, 12)}…, not this node (${identity.author.slice(0, 12)}…)`)
  if (cred.value.fleet !== fleet.value) return fail('unreadable', `${path}: the credential is of another fleet`)
  let root: Signer | undefined
  if (d.root_seed !== undefined) {
    if (typeof d.root_seed !== 'string' || !/^[0-9a-f]{64}$/.test(d.root_seed)) return fail('unreadable', `${path}: bad root_seed`)
    const s = log.createSigner(Uint8Array.from(Buffer.from(d.root_seed, 'hex')))
    if (!s.ok || log.fleetOf(s.value) !== fleet.value) return fail('unreadable', `${path}: root_seed is not the key of fleet ${fleet.value.slice(0, 12)}…`)
    root = s.value
  }
  return core.ok({ fleet: fleet.value, credential: cred.value, root })
}

function save(home: string, state: FleetState): Result<FleetState, FleetHomeFailure> {
  const path = join(home, fleetFile)
  const doc: Record<string, unknown> = {
    format: 1,
    fleet: state.fleet,
    credential: Buffer.from(state.credential.bytes).toString('base64url'),
  }
  if (state.root !== undefined) doc['root_seed'] = log.toHex(log.privateKeyBytes(state.root.key))
  const tmp = `${path}.${process.pid}.tmp`
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 })
    writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, path)
    return core.ok(state)
  } catch (e) {
    rmSync(tmp, { force: true })
    return fail('io', `cannot write ${path}: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** Whether home has a fleet file (valid or not): a node is in one fleet, never silently moved to another. */
function existing(home: string, identity: Identity): Result<FleetState | undefined, FleetHomeFailure> {
  const l = load(home, identity)
  if (l.ok) return l
  return l.reason === 'missing' ? core.ok(undefined) : l
}

/**
 * Creates a fleet with this node as its root and first member (capabilities read, write:*). Refuses if the
 * node is already in a fleet.
 */
export function createFleet(home: string, identity: Identity, nowMs: number): Result<FleetState, FleetHomeFailure> {
  const ex = existing(home, identity)
  if (!ex.ok) return ex
  if (ex.value !== undefined) return fail('exists', `this node is already in fleet ${ex.value.fleet}; nothing was changed`)
  const root = log.createSigner(generateKeyPairSync('ed25519').privateKey)
  if (!root.ok) return fail('io', root.detail)
  const inv = log.createInvite(root.value, { caps: log.capsAll, issuedAtMs: nowMs, expiresAtMs: nowMs + selfInviteMs, nonce: new Uint8Array(randomBytes(log.nonceLength)) })
  if (!inv.ok) return fail('invalid', inv.detail)
  const cred = log.createCredential(inv.value, identity.signer, nowMs)
  if (!cred.ok) return cred
  return save(home, { fleet: log.fleetOf(root.value), credential: cred.value, root: root.value })
}

/** An invite of this fleet, signed by its root (only the node that created the fleet holds it). */
export function createInvite(state: FleetState, caps: readonly string[], expiresInMs: number, nowMs: number): Result<Invite, FleetHomeFailure | log.InviteFailure> {
  if (state.root === undefined) return fail('not_root', 'only the node that created the fleet holds its root key and can invite: run grapevine invite there')
  if (!Number.isSafeInteger(expiresInMs) || expiresInMs <= 0 || expiresInMs > inviteMsMax) {
    return fail('invalid', `an invite expires within 1 ms .. ${inviteMsMax / 86_400_000} days`)
  }
  return log.createInvite(state.root, { caps, issuedAtMs: nowMs, expiresAtMs: nowMs + expiresInMs, nonce: new Uint8Array(randomBytes(log.nonceLength)) })
}

/**
 * Joins the fleet of an invite token: validates it, binds it to this node's key, stores the credential.
 * A node already in another fleet is refused; joining its own fleet again replaces its credential (new
 * capabilities) and keeps the root key if it holds it.
 */
export function joinFleet(home: string, identity: Identity, token: string, nowMs: number): Result<FleetState, FleetHomeFailure | log.InviteFailure> {
  const inv = log.decodeInviteToken(token)
  if (!inv.ok) return inv
  if (nowMs > inv.value.expiresAtMs) {
    return fail('expired_invite', `the invite expired at ${new Date(inv.value.expiresAtMs).toISOString()}: ask for a new one (grapevine invite on the fleet's root node)`)
  }
  const ex = existing(home, identity)
  if (!ex.ok) return ex
  if (ex.value !== undefined && ex.value.fleet !== inv.value.fleet) {
    return fail('exists', `this node is already in fleet ${ex.value.fleet.slice(0, 12)}…, the invite is for ${inv.value.fleet.slice(0, 12)}…: move ${join(home, fleetFile)} aside to leave it first; nothing was changed`)
  }
  const cred = log.createCredential(inv.value, identity.signer, nowMs)
  if (!cred.ok) return cred
  return save(home, { fleet: inv.value.fleet, credential: cred.value, root: ex.value?.root })
}

/** The revocations recorded in home (lines that do not verify or are of another fleet are skipped). */
export function loadRevocations(home: string, fleet: FleetId): Revocations {
  const set = log.createRevocations(fleet)
  let text: string
  try {
    text = readFileSync(join(home, revocationsFile), 'utf8')
  } catch {
    return set // reason: no file is no revocation
  }
  for (const line of text.split('\n')) {
    const t = line.trim()
    if (t === '' || !/^[A-Za-z0-9_-]+$/.test(t) || t.length > 2 * log.revocationBytesMax) continue
    log.revocationsAdd(set, new Uint8Array(Buffer.from(t, 'base64url')))
  }
  return set
}

/** Records a revocation in home (appends one line; a duplicate line is harmless). */
export function saveRevocation(home: string, rev: Revocation): Result<Revocation, FleetHomeFailure> {
  try {
    appendFileSync(join(home, revocationsFile), Buffer.from(rev.bytes).toString('base64url') + '\n', { mode: 0o600 })
    return core.ok(rev)
  } catch (e) {
    return fail('io', `cannot write ${join(home, revocationsFile)}: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** Revokes a node (ops after cutoffSeq stop counting) or an invite, as the fleet root, and records it in home. */
export function revoke(
  home: string,
  state: FleetState,
  target: { node: AuthorId; cutoffSeq: number } | { inviteId: string },
  reason: string,
  nowMs: number,
): Result<Revocation, FleetHomeFailure | log.RevocationFailure> {
  if (state.root === undefined) return fail('not_root', 'only the node that created the fleet holds its root key and can revoke: run grapevine revoke there')
  if ('node' in target && target.node === state.credential.node) return fail('invalid', 'the root node cannot revoke itself')
  const r = log.createRevocation(state.root, { ...target, issuedAtMs: nowMs, reason })
  if (!r.ok) return r
  return saveRevocation(home, r.value)
}

export type Rotated = {
  /** The new identity (same name, new key), now in <home>/identity.json. */
  readonly identity: Identity
  readonly state: FleetState
  readonly rotation: Revocation
  /** Where the old identity file was kept (never deleted: the old key signed what is in the store). */
  readonly retired: string
}

/**
 * Replaces this node's identity key and keeps its place in the fleet (log/fleet.ts "key rotation"): a new
 * key, a rotation signed by the old key and the new one with the old key's last op that counts
 * (`cutoffSeq`, its head in the store: the caller reads it), and the successor credential. Files, in this
 * order: the old identity is kept as `identity.json.retired-<time>` (a hard link), the new one replaces
 * identity.json (same name: the new key's agent.hello announces it), fleet.json gets the successor
 * credential, the old credential goes into <home>/roster (the daemon still checks and passes on the old
 * key's ops) and the rotation into <home>/revocations (the daemon spreads it). A crash between the
 * identity and fleet.json leaves them apart (fleet.json names the old key): the retired file has the old
 * seed, to put back. A node revoked, or whose key was already rotated, is refused.
 */
export function rotateKey(home: string, identity: Identity, state: FleetState, cutoffSeq: number, nowMs: number): Result<Rotated, FleetHomeFailure | log.RevocationFailure> {
  if (state.credential.node !== identity.author) return fail('invalid', 'fleet.json does not admit this identity')
  const known = loadRevocations(home, state.fleet)
  if (known.revokedNodes.has(identity.author)) return fail('invalid', `this node (${identity.author.slice(0, 12)}…) is revoked: a revoked key cannot name a successor`)
  if (known.rotations.has(identity.author)) return fail('invalid', `this key (${identity.author.slice(0, 12)}…) was already rotated: nothing was changed`)
  const seed = log.privateKeyBytes(generateKeyPairSync('ed25519').privateKey)
  const next = log.createSigner(seed)
  if (!next.ok) return fail('io', next.detail)
  const rot = log.createRotation(state.fleet, identity.signer, next.value, { cutoffSeq, issuedAtMs: nowMs })
  if (!rot.ok) return rot
  const cred = log.createSuccessorCredential(state.credential, rot.value)
  if (!cred.ok) return cred
  const path = join(home, identityFile)
  const stamp = new Date(nowMs).toISOString().replace(/[:.]/g, '-')
  let retired = `${path}.retired-${stamp}`
  const tmp = `${path}.${process.pid}.tmp`
  try {
    for (let i = 2; existsSync(retired); i++) retired = `${path}.retired-${stamp}-${i}`
    linkSync(path, retired)
    const doc = { format: 1, name: identity.name, author: next.value.author, seed: log.toHex(seed) }
    writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    return fail('io', `cannot replace ${path}: ${e instanceof Error ? e.message : String(e)}; nothing was changed`)
  }
  const saved = save(home, { fleet: state.fleet, credential: cred.value, root: state.root })
  if (!saved.ok) return fail('io', `${saved.detail}: the new identity is in ${path}, the old one in ${retired}: put it back before anything else`)
  saveCredentials(home, [state.credential])
  const r = saveRevocation(home, rot.value)
  if (!r.ok) return r
  return core.ok({ identity: { name: identity.name, author: next.value.author, signer: next.value }, state: saved.value, rotation: rot.value, retired })
}

/** Adds the credentials recorded in home to a roster (lines that do not verify or are of another fleet are skipped). */
export function loadRoster(home: string, roster: log.Roster, nowMs: number): void {
  let text: string
  try {
    text = readFileSync(join(home, rosterFile), 'utf8')
  } catch {
    return // reason: no file yet
  }
  for (const line of text.split('\n')) {
    const t = line.trim()
    if (t === '' || !/^[A-Za-z0-9_-]+$/.test(t) || t.length > 2 * log.credentialBytesMax) continue
    log.rosterAdd(roster, new Uint8Array(Buffer.from(t, 'base64url')), nowMs)
  }
}

/** Records credentials new to this node in home (appended; a failure to write only costs the memory of them). */
export function saveCredentials(home: string, creds: readonly Credential[]): void {
  if (creds.length === 0) return
  try {
    appendFileSync(join(home, rosterFile), creds.map((c) => Buffer.from(c.bytes).toString('base64url') + '\n').join(''), { mode: 0o600 })
  } catch {
    // reason: the roster still holds them until the daemon stops; peers send them again on the next link
  }
}
