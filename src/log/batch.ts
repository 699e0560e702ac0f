/**
 * A batch: consecutive ops of one author, as they travel (design.md: the wire form and the file form are
 * the same ops). Byte by byte:
 *
 *   form       1 byte: 0x01 batch_head (one signature, after the last op), 0x02 per_op (one after each op)
 *   count      uvarint, 1..batchOpsMax
 *   count x    op length (uvarint, 1..opBytesMax), the op's canonical bytes (op.ts) [per_op: its signature]
 *   signature  batch_head only: 64 bytes, the last op's (sign.ts)
 *
 * A batch is well-formed if and only if (rule 7 of docs/FORMAT.md; rules 1-6 hold for every op in it):
 *   (7) it is at most batchBytesMax bytes, its form byte is known, it holds 1..batchOpsMax ops of one
 *       author with consecutive seqs, and nothing follows its last signature.
 * In the batch_head form the earlier ops' signatures, if the sender held any, are not sent: the head's
 * signature covers them through the chain.
 */
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'
import { decodeEncodedOpView, opBytesMax } from './op.ts'
import type { OpDecodeFailure } from './op.ts'
import {
  batchBytesMax,
  batchBytesOf,
  batchOpsMax,
  opShareBytes,
  signatureLength,
  signSchemeDefault,
} from './sign.ts'
import type { SignedOp, SignScheme } from './sign.ts'

const { codec } = core

export type Batch = { readonly scheme: SignScheme; readonly ops: readonly SignedOp[] }

const formOf: Record<SignScheme, number> = { batch_head: 0x01, per_op: 0x02 }

/** Bytes of a batch in the given form. A batch the layer refuses to send (empty, unsigned head, over the limits) is a bug. */
export function encodeBatch(ops: readonly SignedOp[], scheme: SignScheme = signSchemeDefault): Uint8Array {
  core.assert(ops.length >= 1 && ops.length <= batchOpsMax, `log: a batch holds 1..${batchOpsMax} ops`)
  let opsBytes = 0
  for (const e of ops) opsBytes += opShareBytes(e)
  const size = batchBytesOf(ops.length, opsBytes, scheme)
  core.assert(size <= batchBytesMax, 'log: batch over batchBytesMax (cut it with cutBatches)')
  const w = codec.createWriter(size)
  codec.writeByte(w, formOf[scheme])
  codec.writeUvarint(w, ops.length)
  for (const e of ops) {
    codec.writeUvarint(w, e.bytes.length)
    w.buf.set(e.bytes, w.pos)
    w.pos += e.bytes.length
    if (scheme === 'per_op') writeSig(w, e.sig)
  }
  if (scheme === 'batch_head') writeSig(w, (ops[ops.length - 1] as SignedOp).sig)
  core.assert(w.pos === size, 'log: batch size miscounted')
  return codec.finish(w)
}

function writeSig(w: core.codec.Writer, sig: Uint8Array | undefined): void {
  core.assert(
    sig !== undefined && sig.length === signatureLength,
    'log: a batch op that must be signed is not',
  )
  w.buf.set(sig, w.pos)
  w.pos += signatureLength
}

export type BatchDecodeFailure = OpDecodeFailure

/**
 * Untrusted bytes to a batch (rules 1-7): every op decoded and hashed, signatures attached but NOT
 * verified (validate.ts does that, against the receiver's log). Never throws. The batch's bytes are
 * copied once; each op's `bytes` is a view of that copy (whoever keeps one op of a large batch for long
 * copies its bytes: store/views-write.ts's cache does), so nothing here holds the caller's buffer.
 */
export function decodeBatch(bytes: Uint8Array): Result<Batch, BatchDecodeFailure> {
  if (!(bytes instanceof Uint8Array)) return core.fail('malformed', 'batch: input is not a Uint8Array')
  if (bytes.length > batchBytesMax)
    return core.fail('too_large', `batch: ${bytes.length} bytes, over the limit of ${batchBytesMax}`)
  const r = codec.createReader(bytes.slice())
  try {
    const form = codec.readByte(r)
    const scheme: SignScheme | undefined = form === 0x01 ? 'batch_head' : form === 0x02 ? 'per_op' : undefined
    if (scheme === undefined) return core.fail('malformed', `batch: unknown form ${form}`)
    const count = codec.readUvarint(r)
    if (count === 0) return core.fail('malformed', 'batch: no ops')
    if (count > batchOpsMax)
      return core.fail('too_large', `batch: ${count} ops, over the limit of ${batchOpsMax}`)
    const ops: SignedOp[] = []
    for (let i = 0; i < count; i++) {
      const n = codec.readCount(r)
      if (n > opBytesMax)
        return core.fail('too_large', `batch: op ${i} is ${n} bytes, over the limit of ${opBytesMax}`)
      const d = decodeEncodedOpView(r.buf.subarray(r.pos, r.pos + n))
      if (!d.ok) return core.fail(d.reason, `batch: op ${i}: ${d.detail}`)
      r.pos += n
      const e = d.value
      const prev = ops[i - 1]
      if (prev !== undefined && e.op.author !== prev.op.author)
        return core.fail('malformed', `batch: op ${i} has another author`)
      if (prev !== undefined && e.op.seq !== prev.op.seq + 1) {
        return core.fail(
          'malformed',
          `batch: op ${i} has seq ${e.op.seq} after ${prev.op.seq}: seqs must be consecutive`,
        )
      }
      const sig = scheme === 'per_op' || i === count - 1 ? readSig(r) : undefined
      ops.push(sig === undefined ? e : { ...e, sig })
    }
    if (r.pos !== bytes.length) return core.fail('malformed', `batch: ${bytes.length - r.pos} trailing bytes`)
    return core.ok({ scheme, ops })
  } catch (e) {
    if (e instanceof codec.DecodeError) return core.fail('malformed', `batch: ${e.message}`)
    throw e
  }
}

function readSig(r: core.codec.Reader): Uint8Array {
  if (codec.remaining(r) < signatureLength) codec.malformed('unexpected end of input in a signature')
  const sig = r.buf.slice(r.pos, r.pos + signatureLength)
  r.pos += signatureLength
  return sig
}

/**
 * A batch cut after each of its signed ops, so every part ends at a signature: a receiver takes the ops up
 * to a revocation's cutoff from a batch that crosses it, or retries a refused batch part by part so the
 * report names the very op that is bad. A batch with one signature (or none) is the one part.
 */
export function splitAtSignatures(batch: readonly SignedOp[]): SignedOp[][] {
  const parts: SignedOp[][] = []
  let from = 0
  for (let k = 0; k < batch.length; k++) {
    if ((batch[k] as SignedOp).sig === undefined) continue
    parts.push(batch.slice(from, k + 1))
    from = k + 1
  }
  if (from < batch.length) parts.push(batch.slice(from))
  return parts.length <= 1 ? [[...batch]] : parts
}

/**
 * Cuts a run of one author's consecutive stored ops into batch_head batches that each end at a signed
 * op and fit the limits, as a sender must (a receiver accepts nothing else). `rest` is the tail after
 * the last op that could end a batch: empty for a log that only ever accepted whole batches.
 */
export function cutBatches(ops: readonly SignedOp[]): { batches: SignedOp[][]; rest: SignedOp[] } {
  const batches: SignedOp[][] = []
  let start = 0
  while (start < ops.length) {
    let end = -1 // the last signed op that can end this batch
    let bytes = 0
    for (let i = start; i < ops.length && i - start < batchOpsMax; i++) {
      const e = ops[i] as SignedOp
      bytes += opShareBytes(e)
      if (batchBytesOf(i - start + 1, bytes, 'batch_head') > batchBytesMax) break
      if (e.sig !== undefined) end = i
    }
    if (end < 0) break
    batches.push(ops.slice(start, end + 1))
    start = end + 1
  }
  return { batches, rest: ops.slice(start) }
}
