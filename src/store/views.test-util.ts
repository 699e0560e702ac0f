/**
 * Test helpers of the store's views: random op sets of the knowledge tests (knowledge.test-util.ts
 * arbOpSet), re-written by real signers so a store's ingest accepts them, and delivered to a store in
 * random signed batches.
 */
import fc from 'fast-check'
import type { Json } from '../core/index.ts'
import * as log from '../log/index.ts'
import type { EncodedOp, SignedOp, Signer } from '../log/index.ts'
import { testSigner } from '../log/log.test-util.ts'
import { testAuthor } from '../knowledge/knowledge.test-util.ts'

export const signers: readonly Signer[] = [0, 1, 2, 3, 4].map((i) => testSigner(i))

/**
 * The same ops under real keys: test author i becomes signer i (dot refs in bodies follow), chains and
 * clocks kept. Returned per author, in seq order.
 */
export function resign(ops: readonly EncodedOp[]): EncodedOp[][] {
  const swap = (s: string): string => {
    let out = s
    signers.forEach((sg, i) => (out = out.replaceAll(testAuthor(i), sg.author)))
    return out
  }
  return signers.map((sg, i) => {
    const mine = ops.filter((e) => e.op.author === testAuthor(i)).sort((a, b) => a.op.seq - b.op.seq)
    const drafts = mine.map((e) => ({
      hlc: e.op.hlc,
      kind: e.op.kind,
      body: JSON.parse(swap(JSON.stringify(e.op.body))) as Json,
      idempotencyKey: e.op.idempotencyKey,
    }))
    const r = log.createOps(sg.author, undefined, drafts)
    if (!r.ok) throw new Error(r.detail)
    return r.value
  })
}

/** One delivery step: a signed batch (consecutive ops of one author), maybe one sent before. */
export type Delivery = readonly (readonly SignedOp[])[]

/**
 * Random batches: each author's chain cut at random places, the pieces interleaved across authors in a
 * random order (one author's pieces stay in order: the log takes a chain in order), some sent twice.
 */
export function arbDelivery(chains: readonly EncodedOp[][]): fc.Arbitrary<Delivery> {
  return fc
    .record({
      cuts: fc.array(fc.array(fc.boolean(), { maxLength: 40 }), { minLength: 5, maxLength: 5 }),
      order: fc.array(fc.nat(4), { maxLength: 200 }),
      resend: fc.array(fc.nat(), { maxLength: 4 }),
    })
    .map(({ cuts, order, resend }) => {
      const pieces = chains.map((chain, a) => {
        const out: SignedOp[][] = []
        let cur: EncodedOp[] = []
        chain.forEach((e, i) => {
          cur.push(e)
          if (cuts[a]?.[i] === true || i === chain.length - 1) {
            out.push(log.signOps(signers[a] as Signer, cur, 'batch_head') as SignedOp[])
            cur = []
          }
        })
        return out
      })
      const next = pieces.map(() => 0)
      const sent: (readonly SignedOp[])[] = []
      const step = (a: number): void => {
        const p = pieces[a]?.[next[a] as number]
        if (p === undefined) return
        next[a] = (next[a] as number) + 1
        sent.push(p)
      }
      for (const a of order) step(a)
      for (let a = 0; a < pieces.length; a++) while ((next[a] as number) < (pieces[a]?.length ?? 0)) step(a)
      for (const r of resend)
        if (sent.length > 0) sent.splice(r % (sent.length + 1), 0, sent[r % sent.length] as SignedOp[])
      return sent
    })
}
