/**
 * The simulator's workload: what simulated agents write. Each write is one op of the knowledge model,
 * chosen from what the writing node currently sees, so concurrent writers collide the way agents do:
 * two nodes set the same fact without seeing each other's version (a conflict and its verify ticket),
 * a retract races an assert, a verified assert resolves a ticket while another node writes a third
 * value, claims on one task race, counters take adds from everyone.
 *
 * The ledger records every op written and whether it was acknowledged (durable at its author), for the
 * invariants: an acknowledged op must never be lost, and a counter must equal its acknowledged adds plus
 * some of the indeterminate ones.
 */
import * as core from '../src/core/index.ts'
import type { Json, Prng } from '../src/core/index.ts'
import * as knowledge from '../src/knowledge/index.ts'
import type { SignedOp } from '../src/log/index.ts'
import type { SimNode } from './node.ts'

const { prng: prngOps } = core

export type Ledger = {
  /** Every op written, by dot "author:seq". */
  readonly written: Map<string, SignedOp>
  /** Dots of acknowledged ops. */
  readonly acked: Set<string>
  /** Writes by action, for the summary. */
  readonly actions: Map<string, number>
}

export function createLedger(): Ledger {
  return { written: new Map(), acked: new Set(), actions: new Map() }
}

export const dotKey = (e: SignedOp): string => `${e.op.author}:${e.op.seq}`

export type WorkloadShape = {
  /** Distinct keyed facts writers share: fewer means more concurrent conflicting sets. */
  readonly facts: number
  readonly tasks: number
  readonly counters: number
}

export const actions = [
  'entry',
  'fact.set',
  'fact.retract',
  'ticket.resolve',
  'counter.add',
  'task.create',
  'task.claim',
  'task.release',
  'task.done',
  'status.set',
] as const
export type Action = (typeof actions)[number]

/** Relative weights of the actions (sets and counters dominate; every action happens in a long run). */
const weights: Record<Action, number> = {
  entry: 3,
  'fact.set': 6,
  'fact.retract': 2,
  'ticket.resolve': 3,
  'counter.add': 4,
  'task.create': 1,
  'task.claim': 2,
  'task.release': 1,
  'task.done': 1,
  'status.set': 1,
}
const weightTotal = actions.reduce((s, a) => s + weights[a], 0)

function pickAction(rng: Prng): Action {
  let x = prngOps.nextInt(rng, weightTotal)
  for (const a of actions) {
    x -= weights[a]
    if (x < 0) return a
  }
  return 'fact.set'
}

function pick<T>(rng: Prng, xs: readonly T[]): T | undefined {
  return xs.length === 0 ? undefined : xs[prngOps.nextInt(rng, xs.length)]
}

/**
 * One write by `node`, chosen from what it sees now (from `among` if given). Returns the op, or undefined
 * if the node is not up.
 */
export function writeOne(
  node: SimNode,
  rng: Prng,
  shape: WorkloadShape,
  ledger: Ledger,
  among?: readonly Action[],
): SignedOp | undefined {
  if (node.state() !== 'up') return undefined
  const v = node.views()
  const nowMs = node.clock.wall.nowMs()
  let action = among === undefined ? pickAction(rng) : (pick(rng, among) ?? pickAction(rng))
  const factId = `fact/${prngOps.nextInt(rng, shape.facts)}`
  const live = (fid: string): string[] =>
    (knowledge.getFact(v, fid, { nowMs, includeStale: true })?.versions ?? []).map((x) => x.dot)
  let kind: string
  let body: Json
  let key: string | undefined
  if (action === 'ticket.resolve') {
    const t = pick(rng, knowledge.openTickets(v))
    if (t === undefined) action = 'fact.set'
    else {
      // verify one of the conflicting values (or, a tenth of the time, a third one)
      const versions = knowledge.getFact(v, t.fact_id, { nowMs, includeStale: true })?.versions ?? []
      const chosen = pick(rng, versions)
      const value: Json = chosen === undefined || prngOps.chance(rng, 0.1) ? `checked ${prngOps.nextInt(rng, 3)}` : chosen.value
      kind = 'fact.assert'
      body = { fact_id: t.fact_id, value, supersedes: [...t.dots], verified: true }
      return record(node, ledger, action, kind, body, key)
    }
  }
  if (action === 'fact.retract') {
    const dots = live(factId)
    if (dots.length === 0) action = 'fact.set'
    else {
      kind = 'fact.retract'
      body = { fact_id: factId, observed: dots.slice(0, knowledge.supersedesMax), reason: 'stale' }
      return record(node, ledger, action, kind, body, key)
    }
  }
  switch (action) {
    case 'entry':
      kind = 'fact.assert'
      body = {
        value: `finding ${prngOps.nextInt(rng, 1000)}`,
        supersedes: [],
        verified: false,
        channel: pick(rng, knowledge.channels) ?? 'discoveries',
      }
      // an idempotency key, sometimes reused (a retry: only the first op with it counts)
      key = prngOps.chance(rng, 0.3) ? `entry-${prngOps.nextInt(rng, 4)}` : undefined
      break
    case 'counter.add': {
      const n = (1 + prngOps.nextInt(rng, 5)) * (prngOps.chance(rng, 0.3) ? -1 : 1)
      kind = 'counter.add'
      body = { name: `counter/${prngOps.nextInt(rng, shape.counters)}`, n }
      break
    }
    case 'task.create':
    case 'task.claim':
    case 'task.release':
    case 'task.done': {
      const taskId = `task/${prngOps.nextInt(rng, shape.tasks)}`
      kind = action
      body =
        action === 'task.create'
          ? { task_id: taskId, title: `do ${taskId}`, depends: [] }
          : action === 'task.done'
            ? { task_id: taskId, result: prngOps.nextInt(rng, 10) }
            : { task_id: taskId }
      break
    }
    case 'status.set':
      kind = 'status.set'
      body = { text: `working ${prngOps.nextInt(rng, 100)}`, health: pick(rng, knowledge.healths) ?? 'ok' }
      break
    case 'fact.set': {
      // fact.set (and the retract or resolve that found nothing to act on): a new value superseding the versions this writer sees (concurrent sets both stay live)
      kind = 'fact.assert'
      body = { fact_id: factId, value: `v${prngOps.nextInt(rng, 4)}`, supersedes: live(factId).slice(0, knowledge.supersedesMax), verified: false }
      action = 'fact.set'
    }
  }
  return record(node, ledger, action, kind, body, key)
}

function record(node: SimNode, ledger: Ledger, action: Action, kind: string, body: Json, key: string | undefined): SignedOp | undefined {
  const e = node.write(kind, body, key)
  if (e !== undefined) {
    ledger.written.set(dotKey(e), e)
    ledger.actions.set(action, (ledger.actions.get(action) ?? 0) + 1)
  }
  return e
}
