/**
 * The invariants every seed is checked against (issue 4). Each check returns failures as sentences; an
 * empty list is a pass.
 *
 *   (I1) No acknowledged op is lost: after the settle phase every node holds every acknowledged op, with
 *        the very hash its author signed.
 *   (I2) The core converges: all core nodes reach one version vector and one canonical state hash (of
 *        the knowledge views) within 2*ceil(log2 N)+5 anti-entropy rounds after heal (scenario.ts
 *        measures it with `agree`).
 *   (I3) Duplicates change nothing: a node's views rebuilt from its log with every op applied twice, in
 *        a shuffled order, hash the same as the views it built from arrival order.
 *   (I4) Counters equal the sum of acknowledged adds plus a subset of the indeterminate ones (written,
 *        never acknowledged): exactly those that survived somewhere.
 *   (I5) Nothing goes backwards across restarts: the version vector after a restart covers the durable
 *        one before the crash, the HLC resumes at or above the persisted one, and every author's ops
 *        carry strictly increasing clocks (a restarted node never signs an op older than its last).
 *   (I6) No healthy core node is left marked dead (offline) by another core node (scenario.ts).
 *   (I7) A node back from days offline catches up with at most 2x the bytes of what it missed
 *        (scenario.ts, with `missedBytes`).
 *   (I8) No node saw a fork or a clock regression from an honest author (the log's rules 12 and 13).
 */
import { createHash } from 'node:crypto'
import * as core from '../src/core/index.ts'
import type { NodeId, VersionVector } from '../src/core/index.ts'
import * as knowledge from '../src/knowledge/index.ts'
import type { AuthorId, SignedOp } from '../src/log/index.ts'
import { toHex } from '../src/log/index.ts'
import type { SimNode } from './node.ts'
import type { Ledger } from './workload.ts'

const { versionVector: vvOps, prng: prngOps } = core

/** Below this many missed bytes the 2x catch-up bound is not checked: a digest exchange alone is ~1 KiB. */
export const catchUpCheckBytesMin = 4096

/** Do these nodes hold the same ops and the same canonical state? (All must be up.) */
export function agree(nodes: readonly SimNode[]): boolean {
  const first = nodes[0]
  if (first === undefined) return true
  for (const x of nodes) if (x.state() !== 'up') return false
  const vv = first.versionVector()
  for (const x of nodes) if (!vvOps.equals(vv, x.versionVector())) return false
  const h = first.stateHash()
  for (const x of nodes) if (x.stateHash() !== h) return false
  return true
}

/** What keeps nodes from agreeing, in a few words. */
export function disagreement(nodes: readonly SimNode[]): string {
  const down = nodes.filter((x) => x.state() !== 'up').map((x) => `${x.id} ${x.state()}`)
  const vvs = new Set(nodes.map((x) => [...x.versionVector()].sort().map(([a, s]) => `${a.slice(0, 6)}:${s}`).join(',')))
  const hashes = new Set(nodes.map((x) => x.stateHash()))
  return `${vvs.size} version vectors, ${hashes.size} state hashes${down.length > 0 ? `, not up: ${down.join(' ')}` : ''}`
}

/** "a holds b offline" for every pair of up core nodes where that is so. */
export function deadMarks(coreNodes: readonly SimNode[]): string[] {
  const out: string[] = []
  for (const a of coreNodes) {
    if (a.state() !== 'up') continue
    for (const b of coreNodes) {
      if (a === b || b.state() !== 'up') continue
      const s = a.statusOf(b.id)
      if (s === 'offline' || s === 'retired') out.push(`${a.id} holds ${b.id} ${s}`)
    }
  }
  return out
}

/** The stored size of an op: its bytes and, if it carries one, its signature. */
function storedBytes(e: SignedOp): number {
  return e.bytes.length + (e.sig === undefined ? 0 : e.sig.length)
}

/** What `node` lacks of what `others` hold: their union vector, and the stored bytes of the ops beyond node's. */
export function missedBytes(node: SimNode, others: readonly SimNode[]): { target: VersionVector; bytes: number } {
  const target: VersionVector = new Map()
  for (const x of others) vvOps.mergeInto(target, x.versionVector())
  const have = node.versionVector()
  let bytes = 0
  for (const [a, n] of target) {
    const from = vvOps.get(have, a)
    if (n <= from) continue
    const holder = others.find((x) => vvOps.get(x.versionVector(), a) >= n) as SimNode
    const xs = holder.log().get(a as AuthorId) ?? []
    for (let s = from; s < n; s++) bytes += storedBytes(xs[s] as SignedOp)
  }
  return { target, bytes }
}

export function covers(node: SimNode, target: VersionVector): boolean {
  const have = node.versionVector()
  for (const [a, n] of target) if (vvOps.get(have, a) < n) return false
  return true
}

function dumpHash(v: knowledge.Views): string {
  return createHash('sha256').update(JSON.stringify(knowledge.dump(v))).digest('hex').slice(0, 16)
}

function opAt(node: SimNode, dot: string): SignedOp | undefined {
  const i = dot.lastIndexOf(':')
  return node.log().get(dot.slice(0, i) as AuthorId)?.[Number(dot.slice(i + 1)) - 1]
}

export type CheckInput = {
  readonly nodes: readonly SimNode[]
  readonly coreNodes: readonly SimNode[]
  readonly ledger: Ledger
  readonly byId: ReadonlyMap<NodeId, SimNode>
}

/** I1, I3, I4, I5, I8 on the settled fleet. */
export function checkAll(c: CheckInput): string[] {
  const out: string[] = []
  const { nodes, ledger } = c

  // (I1) acknowledged ops, everywhere, with the signed hash
  let lost = 0
  let example = ''
  for (const dot of ledger.acked) {
    const want = ledger.written.get(dot) as SignedOp
    for (const x of nodes) {
      const got = opAt(x, dot)
      if (got === undefined || toHex(got.hash) !== toHex(want.hash)) {
        lost++
        if (example === '') example = `${dot.slice(0, 8)}…${dot.slice(dot.lastIndexOf(':'))} missing at ${x.id}`
      }
    }
  }
  if (lost > 0) out.push(`I1: ${lost} (node, acknowledged op) pairs lost, e.g. ${example}`)

  // (I3) duplicates and order change nothing
  const probe = c.coreNodes.find((x) => x.state() === 'up')
  if (probe !== undefined) {
    const all: SignedOp[] = []
    for (const xs of probe.log().values()) all.push(...xs, ...xs)
    const rng = prngOps.create(all.length)
    for (let i = all.length - 1; i > 0; i--) {
      const j = prngOps.nextInt(rng, i + 1)
      ;[all[i], all[j]] = [all[j] as SignedOp, all[i] as SignedOp]
    }
    const rebuilt = knowledge.viewsOf(all)
    if (dumpHash(rebuilt) !== dumpHash(probe.views())) out.push(`I3: ${probe.id}'s views differ from its log's ops applied twice in a shuffled order`)
  }

  // (I4) counters: acknowledged adds plus the indeterminate adds that survived
  for (const x of nodes) {
    if (x.state() !== 'up') continue
    const expect = new Map<string, number>()
    for (const [dot, e] of ledger.written) {
      if (e.op.kind !== 'counter.add') continue
      const survived = opAt(x, dot) !== undefined
      if (!ledger.acked.has(dot) && !survived) continue
      const b = e.op.body as { name: string; n: number }
      expect.set(b.name, (expect.get(b.name) ?? 0) + b.n)
    }
    const state = JSON.parse(stateCounters(x)) as [string, number][]
    const got = new Map(state)
    for (const [name, want] of expect) {
      const have = got.get(name) ?? 0
      if (have !== want) {
        out.push(`I4: at ${x.id} counter ${name} is ${have}, expected ${want} (acknowledged adds plus surviving indeterminate ones)`)
        break
      }
    }
  }

  // (I5) restarts never go backwards; each author's clock strictly increases along its log
  for (const x of nodes) {
    for (const r of x.restarts) {
      for (const [a, n] of r.durableBefore) {
        if (vvOps.get(r.after, a) < n) out.push(`I5: ${x.id} restarted at ${r.atMs} ms with ${a.slice(0, 8)}… at seq ${vvOps.get(r.after, a)}, below its durable ${n}`)
      }
      const b = r.hlcBefore
      const h = r.hlcAfter
      if (h.wallMs < b.wallMs || (h.wallMs === b.wallMs && h.logical < b.logical)) out.push(`I5: ${x.id}'s HLC went back across a restart`)
    }
    const own = x.log().get(x.author) ?? []
    for (let i = 1; i < own.length; i++) {
      const p = (own[i - 1] as SignedOp).op.hlc
      const q = (own[i] as SignedOp).op.hlc
      if (q.wallMs < p.wallMs || (q.wallMs === p.wallMs && q.logical <= p.logical)) {
        out.push(`I5: ${x.id}'s own op ${i + 1} has a clock not after op ${i}'s`)
        break
      }
    }
  }

  // (I8) forks and clock regressions mean an honest node broke its own log
  for (const x of nodes) {
    for (const reason of ['fork', 'clock_regress', 'bad_signature', 'bad_prev']) {
      const n = x.stats.get(`ingest.${reason}`) ?? 0
      if (n > 0) out.push(`I8: ${x.id} refused ${n} batches as ${reason}`)
    }
  }
  return out
}

/** A node's counters as its state hash sees them (the canary's broken ones for the canary), as JSON. */
function stateCounters(x: SimNode): string {
  return JSON.stringify(x.counterValues())
}
