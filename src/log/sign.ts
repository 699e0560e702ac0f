/**
 * Signing ops with the author's Ed25519 key, through node:crypto. Keys come as KeyObjects or as raw bytes
 * (a 32-byte public key; a 32-byte private seed), wrapped in the fixed DER prefixes of RFC 8410, which
 * every Node since 12 imports. This layer never makes a key: key generation is randomness, and belongs
 * to src/node.
 *
 * What is signed: the 16 ASCII bytes "grapevine/op/v1\n" followed by the op's 32-byte hash (SHA-256 of its
 * canonical bytes), so the signature covers the exact bytes, never a re-serialization. The prefix is
 * domain separation: the same key signs other things (a transport handshake's challenge, say), and
 * without it a peer could get a node to sign a 32-byte "challenge" that is in fact the hash of an op of the
 * peer's choosing.
 *
 * The scheme, measured by `npm run bench -- log` (bench/results/log.json) and argued in docs/FORMAT.md:
 * BATCH HEAD. The author signs only the last op of each batch it writes; every earlier op of the batch is
 * bound to that op by the hash chain (op n's `prev` is the hash of op n-1), so one signature authenticates
 * the whole run, as in Hypercore. Measured on one core of a 2-core EPYC (Node 24): with a signature per
 * op, verification tops out near 13k ops/s whatever the batch size, below the 20k ops/s the store must
 * ingest with storage and views on top; with the batch head, 256-op batches verify at about 145k ops/s
 * (11x), where decoding and hashing, not Ed25519, dominate, and cost 64 bytes less per op. Signing is
 * about 40x cheaper too. An op written on its own (one CLI command) is a batch of one and carries its own
 * signature, so single writes lose nothing. The price: a run of ops can only be sent up to a signed op.
 * Relays keep the signature of every batch head they receive and cut what they send at those ops
 * (batch.ts cutBatches), which also means that a catch-up from a relay costs one verification per up to
 * 256 ops, however the author wrote them.
 */
import * as crypto from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'
import { authorBytes, authorIdFromBytes, hashLength, opBytesMax } from './op.ts'
import type { AuthorId, EncodedOp, Hash } from './op.ts'

/** An Ed25519 signature: 64 bytes. */
export type Signature = Uint8Array
export const signatureLength = 64

/** per_op: every op carries a signature. batch_head: only the last op of each batch does. */
export type SignScheme = 'batch_head' | 'per_op'

/** The default, chosen on the measurements in the header. */
export const signSchemeDefault: SignScheme = 'batch_head'

/** An op as it is sent and stored: its bytes, its hash, and a signature if it ends a batch (or per_op). */
export type SignedOp = EncodedOp & { readonly sig?: Signature | undefined }

/** Ops per batch: bounds what one bad op at the end of a batch wastes of a receiver's work. */
export const batchOpsMax = 256

/** Bytes per encoded batch: 1 MiB, room for 15 ops at the largest body. A transport frame must hold one. */
export const batchBytesMax = 1024 * 1024

// ---- keys

/** ASN.1 DER prefixes (RFC 8410) of an Ed25519 SubjectPublicKeyInfo and of a PKCS#8 private key. */
const spkiPrefix = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
const pkcs8Prefix = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
])
const rawKeyLength = 32

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

export type KeyFailure = 'invalid_key'

/** The author id of an Ed25519 public key (KeyObject, or raw 32 bytes); a private key gives its public half. */
export function authorOf(key: KeyObject | Uint8Array): Result<AuthorId, KeyFailure> {
  if (key instanceof Uint8Array) {
    if (key.length !== rawKeyLength)
      return core.fail('invalid_key', `a raw Ed25519 public key is 32 bytes, not ${key.length}`)
    return core.ok(authorIdFromBytes(key))
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    return core.fail('invalid_key', `an author key is Ed25519, not ${key.asymmetricKeyType ?? key.type}`)
  }
  const pub = key.type === 'private' ? crypto.createPublicKey(key) : key
  const der = pub.export({ type: 'spki', format: 'der' })
  return core.ok(
    authorIdFromBytes(new Uint8Array(der.buffer, der.byteOffset + spkiPrefix.length, rawKeyLength)),
  )
}

/** A private key ready to sign, with the author it signs as. Make one per node, at start. */
export type Signer = { readonly author: AuthorId; readonly key: KeyObject }

/** A signer from an Ed25519 private key: a KeyObject, or the raw 32-byte seed. */
export function createSigner(privateKey: KeyObject | Uint8Array): Result<Signer, KeyFailure> {
  let key: KeyObject
  if (privateKey instanceof Uint8Array) {
    if (privateKey.length !== rawKeyLength) {
      return core.fail(
        'invalid_key',
        `a raw Ed25519 private key is a 32-byte seed, not ${privateKey.length} bytes`,
      )
    }
    key = crypto.createPrivateKey({
      key: Buffer.from(concat(pkcs8Prefix, privateKey)),
      format: 'der',
      type: 'pkcs8',
    })
  } else {
    key = privateKey
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    return core.fail('invalid_key', 'a signer needs an Ed25519 private key')
  }
  const author = authorOf(key)
  return author.ok ? core.ok({ author: author.value, key }) : author
}

/**
 * A signer from a stored 32-byte seed and the author it is recorded with (an identity file), built
 * without node:crypto: the key is made, and checked against that author, when it first signs (`key` is
 * read). Loading node:crypto costs a start ~10 ms (it loads Node's streams), and most commands (tail,
 * search, fact get) read only. A seed that does not give the author never signs: reading `key` throws.
 */
export function seedSigner(seed: Uint8Array, author: AuthorId): Result<Signer, KeyFailure> {
  if (seed.length !== rawKeyLength)
    return core.fail('invalid_key', `a raw Ed25519 private key is a 32-byte seed, not ${seed.length} bytes`)
  const copy = seed.slice()
  let key: KeyObject | undefined
  return core.ok({
    author,
    get key(): KeyObject {
      if (key === undefined) {
        const s = createSigner(copy)
        if (!s.ok) throw new Error(`log: ${s.detail}`)
        if (s.value.author !== author)
          throw new Error(`log: the seed is the key of ${s.value.author}, not of ${author}: it cannot sign as ${author}`)
        key = s.value.key
      }
      return key
    },
  })
}

/** The raw 32-byte seed of an Ed25519 private key, to store it (src/node keeps the identity file). */
export function privateKeyBytes(key: KeyObject): Uint8Array {
  core.assert(
    key.type === 'private' && key.asymmetricKeyType === 'ed25519',
    'log: not an Ed25519 private key',
  )
  const der = key.export({ type: 'pkcs8', format: 'der' })
  return new Uint8Array(der.buffer, der.byteOffset + pkcs8Prefix.length, rawKeyLength).slice()
}

/**
 * Public KeyObjects by author, so a verification does not parse a key (a parse costs as much as a
 * third of a verify). A memo, not state: bounded, and cleared whole when full.
 */
const keyCache = new Map<AuthorId, KeyObject>()
const keyCacheMax = 4096

/** The public key of an author, as node:crypto wants it. */
export function publicKeyOf(author: AuthorId): KeyObject {
  let k = keyCache.get(author)
  if (k === undefined) {
    if (keyCache.size >= keyCacheMax) keyCache.clear()
    k = crypto.createPublicKey({
      key: Buffer.from(concat(spkiPrefix, authorBytes(author))),
      format: 'der',
      type: 'spki',
    })
    keyCache.set(author, k)
  }
  return k
}

// ---- signatures

/** "grapevine/op/v1\n": domain separation (see the header). */
export const signDomain = Uint8Array.from('grapevine/op/v1\n', (c) => c.charCodeAt(0))

function message(hash: Hash): Uint8Array {
  core.assert(hash.length === hashLength, 'log: an op hash is 32 bytes')
  const m = new Uint8Array(signDomain.length + hashLength)
  m.set(signDomain)
  m.set(hash, signDomain.length)
  return m
}

/** Signs an op's hash. */
export function signHash(signer: Signer, hash: Hash): Signature {
  const s = crypto.sign(null, message(hash), signer.key)
  return new Uint8Array(s.buffer, s.byteOffset, s.byteLength)
}

/** Does sig sign this op hash under the author's key? Never throws: a bad key or signature is false. */
export function verifyHash(author: AuthorId, hash: Hash, sig: Uint8Array): boolean {
  if (!(sig instanceof Uint8Array) || sig.length !== signatureLength || hash.length !== hashLength)
    return false
  try {
    return crypto.verify(null, message(hash), publicKeyOf(author), sig)
  } catch {
    return false
  }
}

// ---- batches


/** Encoded size of a batch of ops whose byte lengths sum (with their length prefixes) to `opsBytes`. */
export function batchBytesOf(count: number, opsBytes: number, scheme: SignScheme): number {
  return 1 + core.codec.uvarintLength(count) + opsBytes + (scheme === 'per_op' ? count : 1) * signatureLength
}

/** An op's share of a batch: its bytes and their length prefix. */
export function opShareBytes(e: EncodedOp): number {
  return core.codec.uvarintLength(e.bytes.length) + e.bytes.length
}

/**
 * Signs a run of the signer's own consecutive ops. per_op signs each. batch_head cuts the run into
 * batches of at most batchOpsMax ops and batchBytesMax bytes and signs the last op of each: those are the
 * ops a batch may end at (batch.ts). Ops of another author or out of order are a caller bug.
 */
export function signOps(
  signer: Signer,
  ops: readonly EncodedOp[],
  scheme: SignScheme = signSchemeDefault,
): SignedOp[] {
  const out: SignedOp[] = []
  let count = 0
  let bytes = 0
  for (let i = 0; i < ops.length; i++) {
    const e = ops[i] as EncodedOp
    core.assert(e.op.author === signer.author, 'log: signOps: an op of another author')
    core.assert(
      i === 0 || e.op.seq === (ops[i - 1] as EncodedOp).op.seq + 1,
      'log: signOps: seqs must be consecutive',
    )
    core.assert(e.bytes.length <= opBytesMax, 'log: signOps: op over opBytesMax')
    if (scheme === 'per_op') {
      out.push({ ...e, sig: signHash(signer, e.hash) })
      continue
    }
    const share = opShareBytes(e)
    if (
      count > 0 &&
      (count + 1 > batchOpsMax || batchBytesOf(count + 1, bytes + share, 'batch_head') > batchBytesMax)
    ) {
      const last = out[out.length - 1] as SignedOp
      out[out.length - 1] = { ...last, sig: signHash(signer, last.hash) }
      count = 0
      bytes = 0
    }
    out.push(e)
    count++
    bytes += share
  }
  if (scheme === 'batch_head' && out.length > 0) {
    const last = out[out.length - 1] as SignedOp
    out[out.length - 1] = { ...last, sig: signHash(signer, last.hash) }
  }
  return out
}
