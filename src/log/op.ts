/**
 * The op: one immutable event in its author's log (design.md section 3), and its one canonical byte form.
 * docs/FORMAT.md is the essay; this is the summary, byte by byte, in the order written:
 *
 *   version         1 byte, 0x01
 *   author          32 bytes: the author's raw Ed25519 public key
 *   seq             uvarint >= 1: the op's place in its author's log (1, 2, 3 ... contiguous)
 *   prev            32 bytes: SHA-256 of the author's op seq-1; present if and only if seq > 1
 *   hlc.wallMs      uvarint: hybrid logical clock, ms since the Unix epoch (the op's created_at)
 *   hlc.logical     uvarint <= 2^32-1: the HLC's counter
 *   kind            string (uvarint byte length, UTF-8): 1..64 bytes, a lowercase dotted name (`fact.assert`)
 *   body            a JSON value in the core's canonical form (json.ts), at most 64 KiB
 *   idempotency key string: 0..256 bytes of UTF-8; empty means the op has none
 *
 * Every field has exactly one encoding (minimal varints, strict UTF-8, sorted object keys, a float tag
 * only on a non-integer), so decode then encode gives back the very bytes, and an op's hash (SHA-256 of
 * these bytes) names it. The signature is not part of these bytes: it signs their hash (sign.ts).
 *
 * An op is well-formed if and only if (the numbers are docs/FORMAT.md's, and validate.ts continues them):
 *   (1) it is at most opBytesMax bytes long, its body at most bodyBytesMax;
 *   (2) it starts with version 1;
 *   (3) seq is a minimal uvarint >= 1, and prev is present exactly when seq > 1;
 *   (4) hlc.wallMs is a safe integer and hlc.logical <= 2^32-1, both minimal uvarints;
 *   (5) kind is 1..64 bytes matching kindPattern;
 *   (6) the body is canonical JSON (json.read), the idempotency key is 0..256 bytes of strict UTF-8, and
 *       nothing follows it.
 */
import { hash as cryptoHash } from 'node:crypto'
import * as core from '../core/index.ts'
import type { Json, NodeId, Result } from '../core/index.ts'

const { codec, json } = core
type Reader = core.codec.Reader
type Writer = core.codec.Writer

// ---- identities and hashes

/**
 * An author: the node's Ed25519 public key as 64 lowercase hex characters. It is also the node's id in the
 * core (a NodeId), so CRDT stamps and version vectors name authors directly.
 */
export type AuthorId = NodeId & { readonly __author: 'AuthorId' }

/** Raw Ed25519 public keys and SHA-256 hashes are both 32 bytes. */
export const authorLength = 32
export const hashLength = 32

const authorPattern = /^[0-9a-f]{64}$/

/** Checks a string from outside (a CLI argument, a JSONL line) and brands it. */
export function parseAuthorId(s: unknown): Result<AuthorId, 'invalid_author'> {
  if (typeof s !== 'string' || !authorPattern.test(s)) {
    return core.fail('invalid_author', 'an author is an Ed25519 public key: 64 lowercase hex characters')
  }
  return core.ok(s as AuthorId)
}

/** The author id of a raw 32-byte public key. */
export function authorIdFromBytes(raw: Uint8Array): AuthorId {
  core.assert(raw.length === authorLength, 'log: an author key is 32 bytes')
  return toHex(raw) as AuthorId
}

/** The raw 32-byte public key of an author. */
export function authorBytes(author: AuthorId): Uint8Array {
  return fromHex(author)
}

/** SHA-256 of an op's canonical bytes: the op's name, the `prev` of the author's next op. 32 bytes. */
export type Hash = Uint8Array

/** The op's hash: SHA-256 of its canonical bytes (encodeOp). */
export function hashOp(bytes: Uint8Array): Hash {
  const b = cryptoHash('sha256', bytes, 'buffer')
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/**
 * SHA-256 of a string's UTF-8 bytes, as lowercase hex: what toHex(hashOp(utf8 bytes)) gives, in one native
 * call (~3x cheaper: derived ids, knowledge ids.ts, are made for every channel entry a store takes in).
 */
export function hashTextHex(s: string): string {
  return cryptoHash('sha256', s, 'hex')
}

/** Lowercase hex, for hashes in messages, logs and JSON. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function fromHex(s: string): Uint8Array {
  const b = Buffer.from(s, 'hex')
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

// ---- the op

/** An op's hybrid logical clock reading. The node is the author; `timestampOf` gives the core Timestamp. */
export type OpTime = { readonly wallMs: number; readonly logical: number }

export type Op = {
  readonly author: AuthorId
  /** 1, 2, 3 ... contiguous per author; (author, seq) is the op's dot. */
  readonly seq: number
  /** Hash of the author's op seq-1; absent for seq 1. */
  readonly prev?: Hash | undefined
  readonly hlc: OpTime
  /** What happened, from the registry of the knowledge layer (`fact.assert`, `task.claim` ...). */
  readonly kind: string
  readonly body: Json
  /** Set by a client that may retry: the knowledge layer writes one op per key. Never the empty string. */
  readonly idempotencyKey?: string | undefined
}

/** An op with its canonical bytes and their hash; made only by createOp, createOps and the decoders. */
export type EncodedOp = { readonly op: Op; readonly bytes: Uint8Array; readonly hash: Hash }

/** The author's last op as a receiver knows it: what the next op must follow. */
export type Head = { readonly seq: number; readonly hash: Hash; readonly hlc: OpTime }

/** The head an encoded op leaves its author's log at. */
export function headOf(e: EncodedOp): Head {
  return { seq: e.op.seq, hash: e.hash, hlc: e.op.hlc }
}

/** The op's dot: (author, seq). */
export function dotOf(op: Op): core.Dot {
  return { node: op.author, seq: op.seq }
}

/** The op's HLC timestamp as the core orders it (the author is the node). */
export function timestampOf(op: Op): core.Timestamp {
  return { wallMs: op.hlc.wallMs, logical: op.hlc.logical, node: op.author }
}

/** Order of two clock readings of one author: wall ms, then the logical counter. */
export function compareTime(a: OpTime, b: OpTime): number {
  return a.wallMs !== b.wallMs ? a.wallMs - b.wallMs : a.logical - b.logical
}

// ---- limits (docs/FORMAT.md, "Limits")

export const formatVersion = 1

/** Longest kind, in bytes (kinds are ASCII, so also characters). */
export const kindBytesMax = 64

/** A kind: lowercase dotted words (`fact.assert`), each starting with a letter. */
export const kindPattern = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$/

/**
 * Largest body, encoded: 64 KiB. A body is knowledge for agents (a fact, a warning, a task), not a file:
 * 64 KiB holds pages of text, keeps one op well inside a gossip message, and bounds what one bad op
 * costs a receiver to parse.
 */
export const bodyBytesMax = 64 * 1024

/** Longest idempotency key, in bytes of UTF-8 (256 ASCII characters). */
export const idempotencyKeyBytesMax = 256

/**
 * Longest op: every field at its maximum (seq and wallMs 8-byte uvarints, logical 5, the kind's length 1
 * byte, the key's 2). Checked before anything is parsed.
 */
export const opBytesMax =
  1 + authorLength + 8 + hashLength + 8 + 5 + (1 + kindBytesMax) + bodyBytesMax + (2 + idempotencyKeyBytesMax)

// ---- encoding

export type OpFailure = 'invalid' | 'too_large'

/** Why an op value cannot be encoded, or undefined if it can (body size aside: that needs the encoding). */
function invalidField(op: Op): string | undefined {
  if (typeof op.author !== 'string' || !authorPattern.test(op.author))
    return 'author is not 64 lowercase hex characters'
  if (!core.dot.isValidSeq(op.seq)) return `seq must be a safe integer >= 1, not ${String(op.seq)}`
  if (op.seq === 1) {
    if (op.prev !== undefined) return 'the first op (seq 1) has no prev'
  } else if (!(op.prev instanceof Uint8Array) || op.prev.length !== hashLength) {
    return 'an op after seq 1 needs prev, the 32-byte hash of the previous op'
  }
  const t = op.hlc as OpTime | undefined
  if (t === undefined || !Number.isSafeInteger(t.wallMs) || t.wallMs < 0)
    return 'hlc.wallMs must be a safe integer >= 0'
  if (!Number.isInteger(t.logical) || t.logical < 0 || t.logical > core.hlc.logicalMax) {
    return 'hlc.logical must be an integer in 0..2^32-1'
  }
  if (typeof op.kind !== 'string' || op.kind.length > kindBytesMax || !kindPattern.test(op.kind)) {
    return `kind must be a lowercase dotted name of 1..${kindBytesMax} characters (like fact.assert), not ${JSON.stringify(op.kind)}`
  }
  if (!json.isJson(op.body))
    return 'body is not a JSON value (finite numbers, well-formed strings, plain data, depth <= 64)'
  const k = op.idempotencyKey
  if (k !== undefined) {
    if (typeof k !== 'string' || k.length === 0 || !codec.isWellFormed(k)) {
      return 'idempotency key must be a non-empty, well-formed string'
    }
    if (codec.utf8Length(k) > idempotencyKeyBytesMax)
      return `idempotency key is over ${idempotencyKeyBytesMax} bytes`
  }
  return undefined
}



/** Writes a checked op; returns the encoded body's length. */
function writeOp(w: Writer, op: Op): number {
  codec.writeByte(w, formatVersion)
  codec.writeFixed(w, fromHex(op.author))
  codec.writeUvarint(w, op.seq)
  if (op.prev !== undefined) codec.writeFixed(w, op.prev)
  codec.writeUvarint(w, op.hlc.wallMs)
  codec.writeUvarint(w, op.hlc.logical)
  codec.writeString(w, op.kind)
  const start = w.pos
  json.write(w, op.body)
  const bodyBytes = w.pos - start
  codec.writeString(w, op.idempotencyKey ?? '')
  return bodyBytes
}

function tryEncode(op: Op): Result<Uint8Array, OpFailure> {
  const bad = invalidField(op)
  if (bad !== undefined) return core.fail('invalid', `op: ${bad}`)
  const w = codec.createWriter(256)
  const bodyBytes = writeOp(w, op)
  if (bodyBytes > bodyBytesMax) {
    return core.fail(
      'too_large',
      `op: the body is ${bodyBytes} bytes encoded, over the limit of ${bodyBytesMax}`,
    )
  }
  return core.ok(codec.finish(w))
}

/**
 * Checks an op value from outside (a CLI argument, an import) and encodes and hashes it: `invalid` names
 * the bad field, `too_large` the body's size.
 */
export function createOp(op: Op): Result<EncodedOp, OpFailure> {
  const r = tryEncode(op)
  return r.ok ? core.ok({ op, bytes: r.value, hash: hashOp(r.value) }) : r
}

/** The canonical bytes of an op the caller knows to be valid; an invalid op is a bug and throws. */
export function encodeOp(op: Op): Uint8Array {
  const r = tryEncode(op)
  if (!r.ok) throw new core.AssertionFailed(`log: encodeOp of an invalid op: ${r.detail}`)
  return r.value
}

/** One new op for an author's log: everything but the author and the chain, which createOps fills in. */
export type Draft = {
  readonly hlc: OpTime
  readonly kind: string
  readonly body: Json
  readonly idempotencyKey?: string | undefined
}

/**
 * Appends drafts to an author's log after `head` (undefined: the log is empty): seq and prev follow the
 * chain, and each op's clock must be later than the one before (rule 13, checked here at the source too).
 */
export function createOps(
  author: AuthorId,
  head: Head | undefined,
  drafts: readonly Draft[],
): Result<EncodedOp[], OpFailure> {
  const out: EncodedOp[] = []
  let seq = head?.seq ?? 0
  let prev = head?.hash
  let last = head?.hlc
  for (const d of drafts) {
    if (last !== undefined && d.hlc !== undefined && compareTime(d.hlc, last) <= 0) {
      return core.fail(
        'invalid',
        `op: hlc ${d.hlc.wallMs}.${d.hlc.logical} is not after the previous op's ${last.wallMs}.${last.logical}`,
      )
    }
    seq++
    const op: Op = {
      author,
      seq,
      prev: seq === 1 ? undefined : prev,
      hlc: d.hlc,
      kind: d.kind,
      body: d.body,
      idempotencyKey: d.idempotencyKey,
    }
    const r = createOp(op)
    if (!r.ok) return r
    out.push(r.value)
    prev = r.value.hash
    last = d.hlc
  }
  return core.ok(out)
}

// ---- decoding

export type OpDecodeFailure = 'malformed' | 'too_large'

/** Thrown inside readOp for rule (1)'s body bound; decodeOp turns it into `too_large`. */
class TooLarge extends Error {
  override name = 'TooLarge'
}


/** A string field whose byte length is bounded before it is read. */
function readBoundedString(r: Reader, bytesMax: number, what: string): string {
  const at = r.pos
  const n = codec.readUvarint(r)
  if (n > bytesMax) codec.malformed(`${what} is over ${bytesMax} bytes`)
  r.pos = at
  return codec.readString(r)
}

/** Reads one op that fills the reader exactly; the rule numbers are the header's. */
function readOp(r: Reader): Op {
  const version = codec.readByte(r)
  if (version !== formatVersion) codec.malformed(`unknown op version ${version}`) // rule (2)
  if (codec.remaining(r) < authorLength) codec.malformed('unexpected end of input in the author')
  const author = Buffer.from(r.buf.buffer, r.buf.byteOffset + r.pos, authorLength).toString('hex') as AuthorId
  r.pos += authorLength
  const seq = codec.readUvarint(r) // rule (3): minimal uvarint
  if (seq < 1) codec.malformed('seq 0: seqs count from 1')
  const prev = seq > 1 ? codec.readFixed(r, hashLength).slice() : undefined // rule (3)
  const wallMs = codec.readUvarint(r) // rule (4): readUvarint bounds it to 2^53-1
  const logical = codec.readUvarint(r)
  if (logical > core.hlc.logicalMax) codec.malformed('hlc logical counter beyond 2^32-1')
  const kind = readBoundedString(r, kindBytesMax, 'kind') // rule (5)
  if (!kindPattern.test(kind)) codec.malformed('kind is not a lowercase dotted name')
  const start = r.pos
  const body = json.read(r) // rule (6)
  if (r.pos - start > bodyBytesMax)
    throw new TooLarge(`the body is ${r.pos - start} bytes, over ${bodyBytesMax}`) // rule (1)
  const key = readBoundedString(r, idempotencyKeyBytesMax, 'idempotency key') // rule (6)
  return {
    author,
    seq,
    prev,
    hlc: { wallMs, logical },
    kind,
    body,
    idempotencyKey: key === '' ? undefined : key,
  }
}

/**
 * Untrusted bytes to an op (rules 1-6). Never throws: anything that is not exactly the canonical form of
 * an op is `malformed`, anything over the limits `too_large`.
 */
export function decodeOp(bytes: Uint8Array): Result<Op, OpDecodeFailure> {
  if (!(bytes instanceof Uint8Array)) return core.fail('malformed', 'op: input is not a Uint8Array')
  if (bytes.length > opBytesMax)
    return core.fail('too_large', `op: ${bytes.length} bytes, over the limit of ${opBytesMax}`) // rule (1)
  const r = codec.createReader(bytes)
  try {
    const op = readOp(r)
    if (r.pos !== bytes.length) return core.fail('malformed', `op: ${bytes.length - r.pos} trailing bytes`) // rule (6)
    return core.ok(op)
  } catch (e) {
    if (e instanceof codec.DecodeError) return core.fail('malformed', `op: ${e.message}`)
    if (e instanceof TooLarge) return core.fail('too_large', `op: ${e.message}`)
    throw e
  }
}

/** Untrusted bytes to an encoded op: decodeOp, plus the hash. The bytes are copied. */
export function decodeEncodedOp(bytes: Uint8Array): Result<EncodedOp, OpDecodeFailure> {
  return decodeEncodedOpView(bytes instanceof Uint8Array ? bytes.slice() : bytes)
}

/**
 * decodeEncodedOp without the copy: the op's bytes are `bytes` itself, a view the caller owns and never
 * changes (decodeBatch: a view of its own copy of the batch, one allocation per batch instead of one
 * per op).
 */
export function decodeEncodedOpView(bytes: Uint8Array): Result<EncodedOp, OpDecodeFailure> {
  const r = decodeOp(bytes)
  if (!r.ok) return r
  return core.ok({ op: r.value, bytes, hash: hashOp(bytes) })
}
