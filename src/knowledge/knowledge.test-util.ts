/**
 * Test helpers for the knowledge layer: authors that write chained ops (unsigned: the views read ops,
 * signatures are the log's business), and a fast-check arbitrary of op sets from up to five authors.
 */
import fc from 'fast-check'
import type { Json } from '../core/index.ts'
import type { AuthorId, EncodedOp, Head } from '../log/index.ts'
import { createOps, headOf } from '../log/index.ts'
import { formatDot, type DotRef } from './dot-ref.ts'

export const t0Ms = 1_700_000_000_000

/** Author i: 64 hex characters of one digit, so authors sort as their index (a < b < c …). */
export function testAuthor(i: number): AuthorId {
  return 'abcdef0123456789'.charAt(i).repeat(64) as AuthorId
}

export type TestWriter = {
  readonly author: AuthorId
  head: Head | undefined
  /** The wall ms of the next op unless `atMs` says otherwise (then it moves on from there). */
  nextMs: number
}

export function createWriter(i: number, startMs = t0Ms): TestWriter {
  return { author: testAuthor(i), head: undefined, nextMs: startMs }
}

export type WriteOpts = { readonly key?: string; readonly atMs?: number; readonly logical?: number }

/** The writer's next op (1 s after its previous one by default). Throws on a body the log refuses. */
export function write(w: TestWriter, kind: string, body: Json, opts: WriteOpts = {}): EncodedOp {
  const wallMs = opts.atMs ?? w.nextMs
  const r = createOps(w.author, w.head, [
    { hlc: { wallMs, logical: opts.logical ?? 0 }, kind, body, idempotencyKey: opts.key },
  ])
  if (!r.ok) throw new Error(r.detail)
  const e = r.value[0] as EncodedOp
  w.head = headOf(e)
  w.nextMs = wallMs + 1000
  return e
}

export function dotOfOp(e: EncodedOp): DotRef {
  return formatDot({ node: e.op.author, seq: e.op.seq })
}

/** A fact.assert body with the required fields and `extra`. */
export function assertBody(
  factId: string | undefined,
  value: Json,
  supersedes: readonly EncodedOp[] = [],
  extra: Record<string, Json> = {},
): Json {
  return {
    ...(factId === undefined ? {} : { fact_id: factId }),
    value,
    supersedes: supersedes.map(dotOfOp),
    verified: false,
    ...extra,
  }
}

// ---- random op sets

/** One op to write, with references resolved against the ops written before it. */
type Plan = {
  readonly author: number
  readonly kind: number
  readonly id: number
  readonly value: number
  readonly verified: boolean
  readonly picks: readonly number[]
  readonly key: number
  readonly ttl: number
  readonly gapMs: number
  readonly n: number
}

const arbPlan: fc.Arbitrary<Plan> = fc.record({
  author: fc.nat(4),
  kind: fc.nat(99),
  id: fc.nat(3),
  value: fc.nat(2),
  verified: fc.boolean(),
  picks: fc.array(fc.nat(), { maxLength: 4, size: 'max' }),
  key: fc.nat(9),
  ttl: fc.nat(3),
  gapMs: fc.integer({ min: -3000, max: 3000 }),
  n: fc.integer({ min: -5, max: 5 }),
})

/**
 * A random set of chained ops from up to five authors, mostly on a few shared facts, tasks, counters
 * and config keys, so that concurrent writes, supersedes, retracts, verified resolutions, claims and
 * repeated idempotency keys meet. References (supersedes, observed) point at ops written earlier by
 * anyone, as a writer that has received them would, plus an occasional dot that names nothing. Clocks
 * of different authors are skewed (gapMs), so HLC order and write order differ. Some bodies are invalid.
 */
export function arbOpSet(maxOps = 40): fc.Arbitrary<EncodedOp[]> {
  return fc.array(arbPlan, { minLength: 1, maxLength: maxOps, size: 'max' }).map((plans) => {
    const writers = [0, 1, 2, 3, 4].map((i) => createWriter(i, t0Ms + i * 700))
    const asserts: EncodedOp[] = []
    const byFact = new Map<string, EncodedOp[]>()
    const out: EncodedOp[] = []
    for (const p of plans) {
      const w = writers[p.author] as TestWriter
      const fid = `fact/${p.id}`
      const tid = `task/${p.id % 2}`
      // mostly versions of the same fact, sometimes of any fact, rarely a dot that names nothing
      const same = byFact.get(fid) ?? []
      const refs = p.picks.map((k) => {
        const pool = k % 5 === 4 || same.length === 0 ? asserts : same
        return k % 11 === 10 || pool.length === 0
          ? `${'9'.repeat(64)}:${(k % 3) + 1}`
          : dotOfOp(pool[Math.floor(k / 5) % pool.length] as EncodedOp)
      })
      const supersedes = [...new Set(refs)].filter(
        (d) => !d.startsWith(`${w.author}:`) || Number(d.split(':')[1]) <= (w.head?.seq ?? 0),
      )
      const value: Json = ['eu-west-1', 'eu-central-1', { region: 'us' }][p.value] as Json
      let kind: string
      let body: Json
      const k = p.kind
      if (k < 35) {
        kind = 'fact.assert'
        body = {
          fact_id: fid,
          value,
          supersedes,
          verified: p.verified && k % 2 === 0,
          ...(p.ttl === 0 ? { ttl_seconds: 1 + (p.n + 5) * 10 } : {}),
          ...(k % 4 === 0 ? { channel: 'warnings', tags: ['x'] } : {}),
        }
      } else if (k < 42) {
        kind = 'fact.assert'
        body = {
          value: `entry ${p.value}`,
          supersedes: [],
          verified: false,
          channel: p.value === 0 ? 'discoveries' : 'patterns',
        }
      } else if (k < 50) {
        kind = 'fact.retract'
        body = { fact_id: fid, observed: supersedes.length > 0 ? supersedes : [`${'8'.repeat(64)}:1`] }
      } else if (k < 56) {
        kind = 'task.create'
        body = {
          task_id: tid,
          title: `t${p.value}`,
          depends: p.id % 2 === 1 && p.value > 0 ? [`task/0`] : [],
        }
      } else if (k < 63) {
        kind = 'task.claim'
        body = { task_id: tid }
      } else if (k < 67) {
        kind = 'task.release'
        body = { task_id: tid }
      } else if (k < 71) {
        kind = 'task.done'
        body = { task_id: tid, ...(p.value === 0 ? {} : { result: value }) }
      } else if (k < 78) {
        kind = 'counter.add'
        body = { name: `c${p.id % 2}`, n: p.n === 0 ? 1 : p.n }
      } else if (k < 84) {
        kind = 'config.set'
        body = { key: `k${p.id % 2}`, value, version: p.value }
      } else if (k < 89) {
        kind = 'status.set'
        body = { text: `s${p.value}`, health: (['ok', 'degraded', 'blocked'] as const)[p.value] as string }
      } else if (k < 92) {
        kind = 'agent.hello'
        body = { name: `agent-${p.value}` }
      } else if (k < 96) {
        kind = 'fact.assert'
        body = { fact_id: fid, value, supersedes, verified: 'yes' } // invalid body
      } else {
        kind = 'fact.future'
        body = { x: 1 } // unknown kind
      }
      const key = p.key < 3 ? `key-${p.key}` : undefined
      const e = write(w, kind, body, {
        atMs: w.nextMs + Math.max(-999, p.gapMs),
        ...(key === undefined ? {} : { key }),
      })
      // fast-check prints a failing set with this: author letter, seq, wall ms offset, kind, body, key
      Object.defineProperty(e, fc.toStringMethod, {
        value: () =>
          `${e.op.author[0]}:${e.op.seq}@${e.op.hlc.wallMs - t0Ms} ${kind} ${JSON.stringify(body)}${key === undefined ? '' : ` key=${key}`}`,
      })
      out.push(e)
      if (kind === 'fact.assert') {
        asserts.push(e)
        if (k < 35) byFact.set(fid, [...same, e])
      }
    }
    return out
  })
}

/** A delivery: every op at least once, in a random order, some twice. */
export function arbDelivery(ops: readonly EncodedOp[]): fc.Arbitrary<EncodedOp[]> {
  return fc
    .tuple(
      fc.shuffledSubarray([...ops], { minLength: ops.length, maxLength: ops.length }),
      fc.array(fc.nat(), { maxLength: 8, size: 'max' }),
      fc.array(fc.nat(), { maxLength: 8, size: 'max' }),
    )
    .map(([order, dupes, places]) => {
      const out = [...order]
      dupes.forEach((d, i) =>
        out.splice((places[i] ?? 0) % (out.length + 1), 0, ops[d % ops.length] as EncodedOp),
      )
      return out
    })
}
