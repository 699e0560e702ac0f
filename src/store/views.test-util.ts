/**
 * Test helpers of the store's views: random op sets of the knowledge tests (knowledge.test-util.ts
 * arbOpSet), re-written by real signers so a store's ingest accepts them, and delivered to a store in
 * random signed batches.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import fc from 'fast-check'
import type { Json } from '../core/index.ts'
import * as log from '../log/index.ts'
import type { EncodedOp, SignedOp, Signer } from '../log/index.ts'
import { testSigner } from '../log/log.test-util.ts'
import { t0Ms, testAuthor } from '../knowledge/knowledge.test-util.ts'
import * as opLog from './op-log.ts'
import type { OpLog } from './op-log.ts'
import type { Reads } from './reads.ts'

/** The ingest time of the views' tests: a day after the random op sets' clocks start. */
export const ingestNowMs = t0Ms + 86_400_000

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

/** Every query of Reads, at a few times (stale or not), compared between two implementations. */
export function compareReads(got: Reads, want: Reads, ops: readonly EncodedOp[]): void {
  assert.deepEqual(got.dump(), want.dump(), 'dump')
  const d = want.dump()
  const factIds = [...new Set([...d.versions.map((r) => r.fact_id), 'fact/0', 'fact/3', 'absent'])]
  const authors = [...new Set(ops.map((e) => e.op.author))]
  for (const nowMs of [t0Ms, t0Ms + 30_000, t0Ms + 120_000, ingestNowMs]) {
    for (const includeStale of [false, true]) {
      const o = { nowMs, includeStale }
      for (const id of factIds) assert.deepEqual(got.fact(id, o), want.fact(id, o), `fact ${id}`)
      for (const channel of [undefined, 'warnings' as const])
        assert.deepEqual([...got.facts({ ...o, channel })], [...want.facts({ ...o, channel })], `facts ${channel}`)
      for (const q of [
        {},
        { channel: 'warnings' as const },
        { channel: 'discoveries' as const, limit: 2 },
        { tag: 'x' },
        { author: authors[0] },
        { limit: 3 },
      ])
        assert.deepEqual(
          got.entries({ ...o, ...q }),
          want.entries({ ...o, ...q }),
          `entries ${JSON.stringify(q)}`,
        )
      for (const text of ['entry', 'eu west', 'x', 'region us', '"*NEAR(-', 'nothing']) {
        const q = { ...o, text, limit: 1000 }
        const dots = (hs: readonly { dot: string }[]) => hs.map((h) => h.dot).sort()
        assert.deepEqual(dots(got.search(q)), dots(want.search(q)), `search ${text}`)
      }
    }
  }
  for (const id of factIds) assert.deepEqual(got.history(id), want.history(id), `history ${id}`)
  assert.deepEqual(got.openTickets(), want.openTickets())
  assert.deepEqual(got.resolvedTickets(), want.resolvedTickets())
  for (const t of [...d.tickets, ...d.resolved])
    assert.deepEqual(got.ticket(t.ticket_id), want.ticket(t.ticket_id))
  assert.equal(got.ticket('absent'), undefined)
  assert.deepEqual(got.trust(), want.trust())
  assert.deepEqual(got.statuses(), want.statuses())
  assert.deepEqual(got.agents(), want.agents())
  for (const id of ['task/0', 'task/1', 'absent']) assert.deepEqual(got.task(id), want.task(id))
  for (const q of [
    {},
    { mine: { author: authors[0] as never } },
    { mine: { author: authors[1] as never, name: 'x' } },
  ]) {
    assert.deepEqual(got.tasks(q), want.tasks(q))
    assert.deepEqual(got.readyTasks(q), want.readyTasks(q))
  }
  for (const c of ['c0', 'c1', 'absent']) assert.deepEqual(got.counter(c), want.counter(c))
  assert.deepEqual(got.counters(), want.counters())
  for (const k of ['k0', 'k1', 'absent']) assert.deepEqual(got.config(k), want.config(k))
  assert.deepEqual(got.configs(), want.configs())
  for (const a of authors)
    for (const key of ['key-0', 'key-1', 'key-2'])
      assert.deepEqual(got.idempotent(a, key), want.idempotent(a, key))
  assert.deepEqual(got.counts(), want.counts())
}

/**
 * Store files of a test file in one temporary directory, removed by an after() this registers: `fresh()`
 * opens a new store there, `drop(s)` closes one and removes its files (with -wal and -shm).
 */
export function tempStores(prefix: string): { dir: string; fresh: () => OpLog; drop: (s: OpLog) => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  after(() => rmSync(dir, { recursive: true, force: true }))
  let n = 0
  return {
    dir,
    fresh() {
      const r = opLog.open(join(dir, `s${n++}.db`))
      assert.ok(r.ok, r.ok ? '' : r.detail)
      return r.value
    },
    drop(s) {
      opLog.close(s)
      for (const x of ['', '-wal', '-shm']) rmSync(`${s.path}${x}`, { force: true })
    },
  }
}
