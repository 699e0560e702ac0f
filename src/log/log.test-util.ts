/**
 * Test helpers for the op log: fixed signing keys, chains of ops, an in-memory log that plays the
 * receiver's side, and fast-check arbitraries of valid ops. Keys come from fixed 32-byte seeds, so every
 * run builds the very same bytes (Ed25519 signatures are deterministic).
 */
import * as crypto from 'node:crypto'
import fc from 'fast-check'
import * as core from '../core/index.ts'
import type { Json } from '../core/index.ts'
import type { AuthorId, Draft, EncodedOp, Hash, Head, Op } from './op.ts'
import { createOps, hashLength, headOf, kindBytesMax } from './op.ts'
import type { Signer, SignedOp, SignScheme } from './sign.ts'
import { createSigner, signOps } from './sign.ts'
import type { Accepted, LogView } from './validate.ts'

/** Signer number i (0, 1, 2 ...), from the seed of 32 bytes i+1. */
export function testSigner(i: number): Signer {
  const r = createSigner(new Uint8Array(32).fill(i + 1))
  if (!r.ok) throw new Error(r.detail)
  return r.value
}

export const t0Ms = 1_700_000_000_000

/** The i-th draft of a test chain: distinct bodies, a clock 1 ms apart. */
export function draft(i: number, tag = 'a'): Draft {
  return {
    hlc: { wallMs: t0Ms + i, logical: 0 },
    kind: 'fact.assert',
    body: { fact_id: `f${i}`, value: `Convex cold-starts after ${i} h idle (${tag})`, channel: 'warnings' },
  }
}

/** `count` unsigned ops of an author's chain, following `head` (from seq 1 if undefined). */
export function encodedChain(
  author: AuthorId,
  head: Head | undefined,
  count: number,
  tag = 'a',
): EncodedOp[] {
  const from = (head?.seq ?? 0) + 1
  const r = createOps(
    author,
    head,
    Array.from({ length: count }, (_, i) => draft(from + i, tag)),
  )
  if (!r.ok) throw new Error(r.detail)
  return r.value
}

/** A signed chain of `count` ops from seq 1 (or after `head`). */
export function signedChain(
  signer: Signer,
  count: number,
  opts: { scheme?: SignScheme; head?: Head; tag?: string } = {},
): SignedOp[] {
  return signOps(signer, encodedChain(signer.author, opts.head, count, opts.tag), opts.scheme)
}

/** The receiver's side: every author's accepted ops, in seq order. */
export type MemoryLog = {
  readonly ops: Map<AuthorId, SignedOp[]>
  readonly view: LogView
  store(a: Accepted): void
}

export function createMemoryLog(opts: { hashAt?: boolean } = {}): MemoryLog {
  const ops = new Map<AuthorId, SignedOp[]>()
  const view: LogView = {
    head(author) {
      const xs = ops.get(author)
      const last = xs?.[xs.length - 1]
      return last === undefined ? undefined : headOf(last)
    },
  }
  if (opts.hashAt ?? true) {
    ;(view as { hashAt?: LogView['hashAt'] }).hashAt = (author: AuthorId, seq: number): Hash | undefined =>
      ops.get(author)?.[seq - 1]?.hash
  }
  return {
    ops,
    view,
    store(a) {
      const xs = ops.get(a.author) ?? []
      for (const e of a.ops) {
        core.assert(e.op.seq === xs.length + 1, 'memory log: accepted ops must follow the head')
        xs.push(e)
      }
      ops.set(a.author, xs)
    },
  }
}

// ---- arbitraries

export const arbKind: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'fact.assert',
    'fact.retract',
    'status.set',
    'task.create',
    'task.claim',
    'counter.add',
    'config.set',
  ),
  fc
    .array(fc.stringMatching(/^[a-z][a-z0-9_]{0,9}$/), { minLength: 1, maxLength: 4 })
    .map((ws) => ws.join('.'))
    .filter((k) => k.length <= kindBytesMax),
)

export const arbBody: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, 0, -1, 0.5, 2 ** 60, '', 'é', '\ud83d\ude00', [], {}),
  fc
    .jsonValue({ maxDepth: 3 })
    .filter((v) => core.json.isJson(v))
    .map((v) => v as Json),
)

const arbAuthor = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString('hex') as AuthorId)

/** Any valid op value (not chained: prev is an arbitrary hash). */
export const arbOp: fc.Arbitrary<Op> = fc
  .record({
    author: arbAuthor,
    seq: fc.oneof(
      fc.constant(1),
      fc.integer({ min: 1, max: 1000 }),
      fc.maxSafeNat().map((n) => Math.max(1, n)),
    ),
    prev: fc.uint8Array({ minLength: hashLength, maxLength: hashLength }),
    wallMs: fc.oneof(fc.integer({ min: t0Ms, max: t0Ms + 1e9 }), fc.maxSafeNat()),
    logical: fc.oneof(fc.nat(10), fc.constant(core.hlc.logicalMax)),
    kind: arbKind,
    body: arbBody,
    key: fc.option(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), { nil: undefined }),
  })
  .map((x): Op => ({
    author: x.author,
    seq: x.seq,
    prev: x.seq === 1 ? undefined : x.prev,
    hlc: { wallMs: x.wallMs, logical: x.logical },
    kind: x.kind,
    body: x.body,
    idempotencyKey: x.key,
  }))

/**
 * A credential's bytes made by hand (src/log/fleet.ts's format: version, tag 0x43, node key, joining time,
 * invite bytes, the node's signature), around any invite bytes and joining time: what a forger could send.
 */
export function craftCredential(node: Signer, joinedAtMs: number, invite: Uint8Array): Uint8Array {
  const body = core.codec.encodeWith((w) => {
    core.codec.writeByte(w, 1)
    core.codec.writeByte(w, 0x43)
    core.codec.writeFixed(w, Buffer.from(node.author, 'hex'))
    core.codec.writeUvarint(w, joinedAtMs)
    core.codec.writeBytes(w, invite)
  })
  const sig = crypto.sign(null, Buffer.concat([Buffer.from('grapevine/credential/v1\n'), body]), node.key)
  return Buffer.concat([body, sig])
}
