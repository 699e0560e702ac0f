/**
 * A minimal in-test network of membership machines on a manual clock (the real simulator comes later in
 * sim/). Each step advances the clock by `stepMs`, delivers the messages sent in the previous step (one
 * step of latency, each dropped with probability `loss`), then ticks every running node.
 */
import * as core from '../core/index.ts'
import type { NodeId, Prng } from '../core/index.ts'
import type { Membership, MembershipConfig, MemberStatus, Output } from './membership.ts'
import { createMembership } from './membership.ts'

type InFlight = { from: NodeId; to: NodeId; message: unknown }

export type TestNet = {
  readonly ids: NodeId[]
  readonly nodes: Map<NodeId, Membership>
  /** Nodes that neither tick nor receive (crashed or asleep); messages to them are lost. */
  readonly down: Set<NodeId>
  /** Nodes that run but hear nothing (every message to them is lost). */
  readonly deaf: Set<NodeId>
  /** Every status change any node reported, in order. */
  readonly changes: { viewer: NodeId; id: NodeId; status: MemberStatus; atMs: number }[]
  /** Called for every message a node sends. */
  onSend: ((from: NodeId, to: NodeId, message: unknown) => void) | undefined
  nowMs: number
  loss: number
  /** Messages delivered and dropped so far. */
  delivered: number
  dropped: number
  /** Puts messages a node produced outside tick/receive (join, retire) on the network. */
  inject(from: NodeId, out: Output): void
  step(): void
  run(ms: number): void
  /** Runs until `done()` holds or `limitMs` passes; returns the time it took, or undefined. */
  runUntil(done: () => boolean, limitMs: number): number | undefined
  /** What `viewer` holds about `id` ('alive' for itself). */
  statusAt(viewer: NodeId, id: NodeId): MemberStatus | undefined
}

export function nodeId(i: number): NodeId {
  return core.ids.asNodeId(`node-${String(i).padStart(3, '0')}`)
}

export function createTestNet(opts: {
  n: number
  seed: number
  stepMs?: number
  loss?: number
  config?: Partial<MembershipConfig>
}): TestNet {
  const rng: Prng = core.prng.create(opts.seed)
  const stepMs = opts.stepMs ?? 100
  const ids = Array.from({ length: opts.n }, (_, i) => nodeId(i))
  const nodes = new Map<NodeId, Membership>()
  for (const id of ids) nodes.set(id, createMembership(id, opts.config, core.prng.fork(rng)))
  let pending: InFlight[] = []
  const collect = (from: NodeId, out: Output): void => {
    for (const c of out.changes) net.changes.push({ viewer: from, id: c.id, status: c.status, atMs: net.nowMs })
    for (const o of out.send) {
      net.onSend?.(from, o.to, o.message)
      pending.push({ from, to: o.to, message: o.message })
    }
  }
  const net: TestNet = {
    ids,
    nodes,
    down: new Set(),
    deaf: new Set(),
    changes: [],
    onSend: undefined,
    nowMs: 0,
    loss: opts.loss ?? 0,
    delivered: 0,
    dropped: 0,
    inject(from, out) {
      collect(from, out)
    },
    step() {
      net.nowMs += stepMs
      const batch = pending
      pending = []
      for (const m of batch) {
        const node = nodes.get(m.to)
        if (node === undefined || net.down.has(m.to) || net.deaf.has(m.to) || core.prng.chance(rng, net.loss)) {
          net.dropped++
          continue
        }
        net.delivered++
        collect(m.to, node.receive(m.from, m.message, net.nowMs))
      }
      for (const id of ids) {
        if (net.down.has(id)) continue
        collect(id, (nodes.get(id) as Membership).tick(net.nowMs))
      }
    },
    run(ms) {
      const end = net.nowMs + ms
      while (net.nowMs < end) net.step()
    },
    runUntil(done, limitMs) {
      const start = net.nowMs
      while (net.nowMs - start <= limitMs) {
        if (done()) return net.nowMs - start
        net.step()
      }
      return undefined
    },
    statusAt(viewer, id) {
      if (viewer === id) return 'alive'
      return nodes.get(viewer)?.member(id)?.status
    },
  }
  return net
}

/** Joins every node but the first through the first (the seed), at the current time. */
export function joinAllThroughSeed(net: TestNet): void {
  const seed = net.ids[0] as NodeId
  for (const id of net.ids.slice(1)) net.inject(id, (net.nodes.get(id) as Membership).join(seed, net.nowMs))
}

/** True when every running node holds every other running node alive and the same member set. */
export function converged(net: TestNet): boolean {
  const up = net.ids.filter((id) => !net.down.has(id))
  for (const a of up) {
    const m = (net.nodes.get(a) as Membership).members()
    if (m.length !== net.ids.length - 1) return false
    for (const b of up) if (net.statusAt(a, b) !== 'alive') return false
  }
  return true
}
