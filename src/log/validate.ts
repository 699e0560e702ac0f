/**
 * Validation of an incoming batch (or a single op: a batch of one) against what the receiver holds of
 * its author's log. Every replica runs this on everything it receives, before it stores, applies or
 * relays an op (design.md section 8). Expected failures are values, never exceptions: the caller drops
 * the batch, counts the reason and scores the peer.
 *
 * A batch is accepted if and only if rules (1)-(7) hold (op.ts, batch.ts) and, checked in this order,
 * cheapest first and with nothing verified that can be refused for less:
 *   (8)  each op after the first names the one before it: prev = its hash (else `bad_prev`);
 *   (9)  the batch starts at or below the receiver's next seq for the author, head.seq + 1 (else `gap`:
 *        ask for the missing ops first);
 *   (10) it reaches past the receiver's head, or it differs from what the receiver holds (else
 *        `duplicate`: nothing new, and no signature is checked, since the receiver already holds these
 *        very ops, verified);
 *   (11) its last op carries a signature, and every signature it carries verifies under the author's key
 *        over "grapevine/op/v1\n" + the op's hash (else `bad_signature`); by rule (8) the chain binds
 *        every op to the last one's signature;
 *   (12) it agrees with what the receiver holds: the op at each seq the receiver holds has the held hash,
 *        and the first op past the head names the head as prev (else `fork`: the author signed two
 *        different ops with one seq, which only a copied or stolen key does; reported with both hashes
 *        as evidence, and only after rule 11, so that no one can forge a fork on an honest author);
 *   (13) each new op's clock is later than the op before it (else `clock_regress`: the author's HLC went
 *        backwards, and last-writer-wins would order its own writes against their seq);
 *   (14) no new op's clock is more than aheadMsMax (10 minutes) ahead of the receiver's wall clock (else
 *        `clock_ahead`: not a fault of the ops; hold them back and take them again once local time has
 *        caught up, as core/hlc.ts explains).
 * The batch is all or nothing: one bad op refuses it whole, because the signature that vouches for the
 * early ops sits on the last one.
 */
import * as core from '../core/index.ts'
import { decodeBatch } from './batch.ts'
import { compareTime } from './op.ts'
import type { AuthorId, Hash, Head } from './op.ts'
import { batchBytesMax, batchBytesOf, batchOpsMax, opShareBytes, verifyHash } from './sign.ts'
import type { SignedOp } from './sign.ts'

const { bytesEqual } = core.codec

/**
 * What validation needs to know of the receiver's log (the store implements it). Both reads are
 * synchronous: node:sqlite is, and validation is on the ingest path.
 */
export type LogView = {
  /** The author's last accepted op, or undefined if the receiver holds none of its ops. */
  head(author: AuthorId): Head | undefined
  /**
   * The hash of the author's op at seq (1 <= seq <= head.seq), if held. Optional: without it a fork is
   * still caught at the head, but a resent older op that differs passes for a duplicate.
   */
  hashAt?(author: AuthorId, seq: number): Hash | undefined
}

export type ValidateOptions = {
  /** The receiver's wall clock, ms since the Unix epoch (rule 14). */
  readonly nowMs: number
  /** Rule 14's bound; default core.hlc.aheadMsMaxDefault, the bound the HLC itself applies. */
  readonly aheadMsMax?: number
}

/** Evidence of a copied key: two different ops the author signed for one seq. */
export type Fork = {
  readonly author: AuthorId
  readonly seq: number
  /** The hash of the op the receiver holds at seq. */
  readonly known: Hash
  /** The hash of the op at seq in the signed batch (for a fork at the head: the first new op's prev). */
  readonly received: Hash
}

export type RejectReason =
  | 'malformed'
  | 'too_large'
  | 'bad_prev'
  | 'gap'
  | 'duplicate'
  | 'bad_signature'
  | 'clock_regress'
  | 'clock_ahead'

export type Rejection =
  | {
      readonly ok: false
      readonly reason: RejectReason
      readonly detail: string
      /** The batch's author, once the batch decoded. */
      readonly author?: AuthorId | undefined
    }
  | {
      readonly ok: false
      readonly reason: 'fork'
      readonly detail: string
      readonly author: AuthorId
      readonly fork: Fork
    }

export type Accepted = {
  readonly ok: true
  readonly author: AuthorId
  /** The ops past the receiver's head, in seq order: store these. The last carries the batch's signature. */
  readonly ops: readonly SignedOp[]
  /** How many ops of the batch the receiver already held (ignored). */
  readonly duplicates: number
  /** The author's head once `ops` are stored. */
  readonly head: Head
}

export type Validation = Accepted | Rejection

function reject(reason: RejectReason, detail: string, author?: AuthorId): Rejection {
  return { ok: false, reason, detail, author }
}

/** Validates a batch as it arrived: decodes it (rules 1-7), then validateOps. */
export function validateBatch(bytes: Uint8Array, view: LogView, opts: ValidateOptions): Validation {
  const d = decodeBatch(bytes)
  if (!d.ok) return reject(d.reason, d.detail)
  return validateOps(d.value.ops, view, opts)
}

/**
 * Validates decoded ops (from decodeBatch, or read one by one from a shared folder) as one batch:
 * rules (7)-(14) in the header, each at the check that enforces it.
 */
export function validateOps(ops: readonly SignedOp[], view: LogView, opts: ValidateOptions): Validation {
  // rule (7): the batch's shape; decodeBatch checked it too, but these ops may come from elsewhere
  const n = ops.length
  if (n === 0) return reject('malformed', 'batch: no ops')
  if (n > batchOpsMax) return reject('too_large', `batch: ${n} ops, over the limit of ${batchOpsMax}`)
  const first = ops[0] as SignedOp
  const last = ops[n - 1] as SignedOp
  const author = first.op.author
  let opsBytes = 0
  for (let i = 0; i < n; i++) {
    const e = ops[i] as SignedOp
    opsBytes += opShareBytes(e)
    if (e.op.author !== author) return reject('malformed', `batch: op ${i} has another author`, author)
    if (e.op.seq !== first.op.seq + i)
      return reject('malformed', `batch: seqs are not consecutive at op ${i}`, author)
  }
  if (batchBytesOf(n, opsBytes, 'batch_head') > batchBytesMax) {
    return reject('too_large', `batch: over the limit of ${batchBytesMax} bytes`, author)
  }

  // rule (8): the chain inside the batch
  for (let i = 1; i < n; i++) {
    const prev = (ops[i] as SignedOp).op.prev
    if (prev === undefined || !bytesEqual(prev, (ops[i - 1] as SignedOp).hash)) {
      return reject(
        'bad_prev',
        `op seq ${first.op.seq + i}: prev is not the hash of op seq ${first.op.seq + i - 1}`,
        author,
      )
    }
  }

  // rule (9): no gap between the receiver's head and the batch
  const head = view.head(author)
  const heldSeq = head?.seq ?? 0
  if (first.op.seq > heldSeq + 1) {
    return reject(
      'gap',
      `batch starts at seq ${first.op.seq}, but the next op of this author is seq ${heldSeq + 1}`,
      author,
    )
  }

  // rules (10) and (12), the comparison: where the batch meets what is held. By rule (8) one hash
  // comparison at the highest common seq speaks for every op at or below it.
  let fork: Fork | undefined
  if (head !== undefined) {
    if (first.op.seq === heldSeq + 1) {
      const prev = first.op.prev as Hash // rule (3): present since seq > 1
      if (!bytesEqual(prev, head.hash)) fork = { author, seq: heldSeq, known: head.hash, received: prev }
    } else {
      const seq = Math.min(last.op.seq, heldSeq)
      const mine = ops[seq - first.op.seq] as SignedOp
      const known = seq === heldSeq ? head.hash : view.hashAt?.(author, seq)
      if (known !== undefined && !bytesEqual(known, mine.hash))
        fork = { author, seq, known, received: mine.hash }
    }
  }
  // rule (10): nothing new
  if (fork === undefined && last.op.seq <= heldSeq) {
    return reject('duplicate', `ops seq ${first.op.seq}..${last.op.seq} are already held`, author)
  }

  // rule (11): signatures, the head's first
  if (last.sig === undefined)
    return reject('bad_signature', `the batch's last op (seq ${last.op.seq}) is unsigned`, author)
  if (!verifyHash(author, last.hash, last.sig)) {
    return reject('bad_signature', `the signature of op seq ${last.op.seq} does not verify`, author)
  }
  for (let i = 0; i < n - 1; i++) {
    const e = ops[i] as SignedOp
    if (e.sig !== undefined && !verifyHash(author, e.hash, e.sig)) {
      return reject('bad_signature', `the signature of op seq ${e.op.seq} does not verify`, author)
    }
  }

  // rule (12): a fork, now that the author's signature vouches for the batch
  if (fork !== undefined) {
    return {
      ok: false,
      reason: 'fork',
      author,
      fork,
      detail: `author ${author} signed two different ops with seq ${fork.seq}: its key is in two places`,
    }
  }

  const fresh = first.op.seq > heldSeq ? ops : ops.slice(heldSeq - first.op.seq + 1)

  // rule (13): the author's clock moves forward along its chain
  let before = head?.hlc
  for (const e of fresh) {
    if (before !== undefined && compareTime(e.op.hlc, before) <= 0) {
      return reject(
        'clock_regress',
        `op seq ${e.op.seq}: its clock is not later than the op before it`,
        author,
      )
    }
    before = e.op.hlc
  }

  // rule (14): by rule (13) the last op has the latest clock
  const aheadMsMax = opts.aheadMsMax ?? core.hlc.aheadMsMaxDefault
  const aheadMs = last.op.hlc.wallMs - opts.nowMs
  if (aheadMs > aheadMsMax) {
    return reject(
      'clock_ahead',
      `op seq ${last.op.seq} is ${aheadMs} ms ahead of this node's clock (bound ${aheadMsMax} ms); retry later`,
      author,
    )
  }

  return {
    ok: true,
    author,
    ops: fresh,
    duplicates: n - fresh.length,
    head: { seq: last.op.seq, hash: last.hash, hlc: last.op.hlc },
  }
}
