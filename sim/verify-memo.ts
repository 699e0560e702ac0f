/**
 * Signature checks, memoized across a run. An Ed25519 verify costs ~0.1 ms, and every node of a fleet
 * verifies every batch it ingests: in a small-fleet run, 40% of the time went to verifying the same
 * signatures again at the next node. Whether (author, hash, signature) verifies is a pure function, so a
 * run may remember it; everything else validateOps checks (rules 7-10 and 12-14 of src/log/validate.ts)
 * is checked again here, against the receiving node's log, in the same order with the same outcomes.
 * sim.test.ts runs a seed with and without the memo and requires identical traces.
 */
import * as core from '../src/core/index.ts'
import type { Hash, LogView, SignedOp, ValidateOptions, Validation } from '../src/log/index.ts'
import { compareTime, toHex, validateOps } from '../src/log/index.ts'

const { bytesEqual } = core.codec

/** hash hex -> signature hex of signatures some node verified in this run. */
export type VerifyMemo = Map<string, string>

function known(memo: VerifyMemo, e: SignedOp): boolean {
  return e.sig === undefined || memo.get(toHex(e.hash)) === toHex(e.sig)
}

/** validateOps, with rule 11's signature checks answered from the memo when it holds every signature. */
export function validateWithMemo(ops: readonly SignedOp[], view: LogView, opts: ValidateOptions, memo: VerifyMemo | undefined): Validation {
  const last = ops[ops.length - 1]
  if (memo === undefined || last === undefined || last.sig === undefined || !ops.every((e) => known(memo, e))) {
    const v = validateOps(ops, view, opts)
    // rule 11 passed: every signature in the batch verified (a refusal before or at rule 11 records nothing)
    if (memo !== undefined && (v.ok || passedSignatures(v.reason))) {
      for (const e of ops) if (e.sig !== undefined) memo.set(toHex(e.hash), toHex(e.sig))
    }
    return v
  }
  return replay(ops, view, opts)
}

/** Reasons validateOps gives only after rule 11 (so every signature in the batch verified). */
function passedSignatures(reason: string): boolean {
  return reason === 'fork' || reason === 'clock_regress' || reason === 'clock_ahead'
}

/** validateOps' rules in order, rule 11 known to pass. Shape checks (rule 7) held when the memo was filled. */
function replay(ops: readonly SignedOp[], view: LogView, opts: ValidateOptions): Validation {
  const n = ops.length
  const first = ops[0] as SignedOp
  const last = ops[n - 1] as SignedOp
  const author = first.op.author
  const reject = (reason: 'malformed' | 'bad_prev' | 'gap' | 'duplicate' | 'clock_regress' | 'clock_ahead', detail: string): Validation => ({
    ok: false,
    reason,
    detail,
    author,
  })
  for (let i = 0; i < n; i++) {
    const e = ops[i] as SignedOp
    if (e.op.author !== author || e.op.seq !== first.op.seq + i) return validateOps(ops, view, opts) // rule 7: let the real check say it
  }
  for (let i = 1; i < n; i++) {
    const prev = (ops[i] as SignedOp).op.prev
    if (prev === undefined || !bytesEqual(prev, (ops[i - 1] as SignedOp).hash)) return reject('bad_prev', `op seq ${first.op.seq + i}: prev mismatch`)
  }
  const head = view.head(author)
  const heldSeq = head?.seq ?? 0
  if (first.op.seq > heldSeq + 1) return reject('gap', `batch starts at seq ${first.op.seq}, next is ${heldSeq + 1}`)
  let fork: { seq: number; known: Hash; received: Hash } | undefined
  if (head !== undefined) {
    if (first.op.seq === heldSeq + 1) {
      const prev = first.op.prev as Hash
      if (!bytesEqual(prev, head.hash)) fork = { seq: heldSeq, known: head.hash, received: prev }
    } else {
      const seq = Math.min(last.op.seq, heldSeq)
      const mine = ops[seq - first.op.seq] as SignedOp
      const k = seq === heldSeq ? head.hash : view.hashAt?.(author, seq)
      if (k !== undefined && !bytesEqual(k, mine.hash)) fork = { seq, known: k, received: mine.hash }
    }
  }
  if (fork === undefined && last.op.seq <= heldSeq) return reject('duplicate', `ops seq ${first.op.seq}..${last.op.seq} are already held`)
  if (fork !== undefined) {
    return { ok: false, reason: 'fork', author, fork: { author, ...fork }, detail: `author ${author} signed two different ops with seq ${fork.seq}` }
  }
  const fresh = first.op.seq > heldSeq ? ops : ops.slice(heldSeq - first.op.seq + 1)
  let before = head?.hlc
  for (const e of fresh) {
    if (before !== undefined && compareTime(e.op.hlc, before) <= 0) return reject('clock_regress', `op seq ${e.op.seq}: clock not later`)
    before = e.op.hlc
  }
  const aheadMsMax = opts.aheadMsMax ?? core.hlc.aheadMsMaxDefault
  if (last.op.hlc.wallMs - opts.nowMs > aheadMsMax) return reject('clock_ahead', `op seq ${last.op.seq} is ahead of this node's clock`)
  return { ok: true, author, ops: fresh, duplicates: n - fresh.length, head: { seq: last.op.seq, hash: last.hash, hlc: last.op.hlc } }
}
