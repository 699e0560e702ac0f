/**
 * A cluster of the real gossip machines (src/gossip broadcast + anti-entropy) on the simulator kernel's
 * network, for the measurements: the propagation report (sim/report.ts) and anti-entropy's steady-state
 * bytes (sim/ae-steady.ts). In-memory logs of real signed ops; no faults beyond what a caller sets.
 */
import * as core from '../src/core/index.ts'
import type { NodeId } from '../src/core/index.ts'
import { antiEntropy, broadcast } from '../src/gossip/index.ts'
import type { BroadcastConfig } from '../src/gossip/index.ts'
import type { AuthorId, SignedOp, Signer } from '../src/log/index.ts'
import { createOps, createSigner, signOps } from '../src/log/index.ts'
import { createKernel, createNetwork } from './kernel.ts'
import type { Kernel } from './kernel.ts'

const { prng: prngOps } = core
// ---- a cluster of real gossip machines on the kernel

type ClusterNode = {
  readonly id: NodeId
  readonly index: number
  readonly log: Map<AuthorId, SignedOp[]>
  /** Ops that arrived ahead of a gap (a broadcast item overtaking an earlier one): author -> seq -> op. */
  readonly pending: Map<AuthorId, Map<number, SignedOp>>
  readonly bc: broadcast.Broadcast
  readonly ae: antiEntropy.AntiEntropy
  signer: Signer | undefined
}

export type ClusterOptions = {
  readonly n: number
  readonly seed: number
  readonly latencyMs: number
  /** Every node's machines tick this often. */
  readonly tickMs: number
  /** Tick phases: all at 0 (synchronous rounds) or spread at random over a tick. */
  readonly phases: 'aligned' | 'random'
  readonly bc: Partial<BroadcastConfig>
  readonly ae: Partial<antiEntropy.AntiEntropyConfig>
  /** Most broadcast peers a node is given (a random sample of the others); Infinity for all. */
  readonly bcPeersMax: number
  /** Hub-spoke: the first `hubs` nodes are hubs (0: mesh). */
  readonly hubs: number
}

export type Cluster = {
  readonly k: Kernel
  readonly nodes: readonly ClusterNode[]
  /** Node i writes a new op now and publishes it; returns its dot "author:seq". */
  write(i: number): string
  /** Node i writes a new op now and every node holds it at once, no messages (history from before the run). */
  writeEverywhere(i: number): string
  /** When every node had the op of this dot (virtual ms), if yet. */
  everywhereAt(dot: string): number | undefined
  /** Server messages sent so far, by kind. */
  readonly sent: Map<string, number>
}

/** The wall clock of the cluster's nodes (HLC epoch ms) at virtual time 0: all nodes' clocks agree. */
export const clusterEpochMs = 1_780_000_000_000

const nodeName = (i: number): NodeId => core.ids.asNodeId(`n${String(i).padStart(4, '0')}`)

function signerFor(i: number): Signer {
  const seed = new Uint8Array(32)
  seed[0] = 0x5e
  seed[1] = i & 0xff
  seed[2] = (i >>> 8) & 0xff
  const s = createSigner(seed)
  core.assert(s.ok, 'report: signer')
  return s.value
}

/** "All nodes but me" as an array-like view (anti-entropy only reads length and one index). */
function othersView(all: readonly NodeId[], me: number): readonly NodeId[] {
  return new Proxy(all as NodeId[], {
    get(target, prop, receiver) {
      if (prop === 'length') return target.length - 1
      if (typeof prop === 'string' && /^\d+$/.test(prop)) {
        const j = Number(prop)
        return target[j < me ? j : j + 1]
      }
      return Reflect.get(target, prop, receiver) as unknown
    },
  })
}

export function createCluster(o: ClusterOptions): Cluster {
  const k = createKernel(o.seed)
  const net = createNetwork(k, { latencyMsMin: o.latencyMs, latencyMsMax: o.latencyMs })
  const rng = prngOps.fork(k.prng)
  const ids = Array.from({ length: o.n }, (_, i) => nodeName(i))
  const hubIds = ids.slice(0, o.hubs)
  const isHub = (i: number): boolean => i < o.hubs
  const bcConfig: Partial<BroadcastConfig> =
    o.hubs > 0 ? { ...o.bc, topology: 'hub-spoke', hubs: hubIds } : o.bc
  const sent = new Map<string, number>()
  /** dot -> how many nodes hold it, and when the last one got it. */
  const holders = new Map<string, number>()
  const doneAt = new Map<string, number>()
  const nodes: ClusterNode[] = []

  const have = (x: ClusterNode, e: SignedOp): void => {
    const dot = `${e.op.author}:${e.op.seq}`
    const c = (holders.get(dot) ?? 0) + 1
    holders.set(dot, c)
    if (c === o.n) doneAt.set(dot, k.nowMs())
  }

  /** Appends what follows the log, parks what is ahead of a gap, drains the park. */
  const ingest = (x: ClusterNode, ops: readonly SignedOp[]): void => {
    for (const e of ops) {
      const a = e.op.author
      const xs = x.log.get(a) ?? []
      if (!x.log.has(a)) x.log.set(a, xs)
      if (e.op.seq <= xs.length) continue
      if (e.op.seq > xs.length + 1) {
        let p = x.pending.get(a)
        if (p === undefined) x.pending.set(a, (p = new Map()))
        p.set(e.op.seq, e)
        continue
      }
      xs.push(e)
      have(x, e)
      const p = x.pending.get(a)
      if (p !== undefined) {
        for (let next = p.get(xs.length + 1); next !== undefined; next = p.get(xs.length + 1)) {
          p.delete(next.op.seq)
          xs.push(next)
          have(x, next)
        }
      }
    }
  }

  const count = (kind: string): void => {
    sent.set(kind, (sent.get(kind) ?? 0) + 1)
  }

  const sendAll = (
    x: ClusterNode,
    out: { send: { to: NodeId; message: unknown }[] },
    kind: 'ae' | 'bc',
  ): void => {
    for (const s of out.send) {
      const m = s.message as { type: string }
      count(m.type)
      const bytes =
        kind === 'ae'
          ? antiEntropy.encodeMessage(m as antiEntropy.AntiEntropyMessage)
          : broadcast.encodeMessage(m as broadcast.BroadcastMessage)
      net.send(x.id, s.to, bytes)
    }
  }

  for (let i = 0; i < o.n; i++) {
    const id = ids[i] as NodeId
    const log = new Map<AuthorId, SignedOp[]>()
    const x: ClusterNode = {
      id,
      index: i,
      log,
      pending: new Map(),
      signer: undefined,
      ae: antiEntropy.createAntiEntropy({
        prng: prngOps.fork(rng),
        config: o.ae,
        log: {
          versionVector() {
            const vv: core.VersionVector = new Map()
            for (const [a, xs] of log) if (xs.length > 0) vv.set(a, xs.length)
            return vv
          },
          opsAfter: (a, seq, limit) => (log.get(a) ?? []).slice(seq, seq + limit),
        },
      }),
      bc: broadcast.createBroadcast({
        self: id,
        prng: prngOps.fork(rng),
        config: bcConfig,
      }),
    }
    nodes.push(x)
  }

  for (const x of nodes) {
    // Broadcast peers: everyone (a hub-spoke spoke keeps only the hubs), or a random sample.
    let peers = ids.filter((p) => p !== x.id)
    if (peers.length > o.bcPeersMax) {
      const picked = new Set<NodeId>(hubIds.filter((h) => h !== x.id))
      while (picked.size < o.bcPeersMax) picked.add(peers[prngOps.nextInt(rng, peers.length)] as NodeId)
      peers = [...picked].sort()
    }
    x.bc.setPeers(peers)
    const aePeers = o.hubs > 0 && !isHub(x.index) ? hubIds : othersView(ids, x.index)
    net.register(x.id, (from, _to, bytes) => {
      const now = k.nowMs()
      if ((bytes[0] ?? 0) >= 0x11) {
        const out = x.bc.receive(from, bytes, now)
        core.assert(
          out.rejected.length === 0,
          `report: a broadcast message was rejected: ${out.rejected[0]?.detail}`,
        )
        for (const b of out.received) ingest(x, b)
        sendAll(x, out, 'bc')
      } else {
        const out = x.ae.receive(from, bytes, now, clusterEpochMs + now)
        core.assert(
          out.rejected.length === 0,
          `report: an anti-entropy message was rejected: ${out.rejected[0]?.detail}`,
        )
        for (const r of out.received) ingest(x, r.ops)
        sendAll(x, out, 'ae')
      }
    })
    const tick = (): void => {
      const now = k.nowMs()
      sendAll(x, x.bc.tick(now), 'bc')
      sendAll(x, x.ae.tick(now, aePeers), 'ae')
      k.after(o.tickMs, 'tick', tick)
    }
    k.at(o.phases === 'aligned' ? 0 : prngOps.nextInt(rng, o.tickMs), 'tick', tick)
  }

  /** A new signed op of node i's author, following its log. */
  const newOp = (i: number): SignedOp[] => {
    const x = nodes[i] as ClusterNode
    x.signer ??= signerFor(i)
    const a = x.signer.author
    const xs = x.log.get(a) ?? []
    const head = xs[xs.length - 1]
    const seq = xs.length + 1
    const drafts = [
      {
        hlc: { wallMs: clusterEpochMs + k.nowMs(), logical: seq },
        kind: 'fact.assert',
        body: { fact_id: `f${seq}`, value: `observation ${seq} of ${x.id}`, channel: 'discoveries' },
      },
    ]
    const created = createOps(
      a,
      head === undefined ? undefined : { seq: head.op.seq, hash: head.hash, hlc: head.op.hlc },
      drafts,
    )
    core.assert(created.ok, 'report: createOps')
    return signOps(x.signer, created.value)
  }

  return {
    k,
    nodes,
    sent,
    writeEverywhere(i) {
      const signed = newOp(i)
      for (const x of nodes) ingest(x, signed)
      const e = signed[0] as SignedOp
      return `${e.op.author}:${e.op.seq}`
    },
    write(i) {
      const x = nodes[i] as ClusterNode
      const signed = newOp(i)
      ingest(x, signed)
      sendAll(x, x.bc.publish(signed, k.nowMs()), 'bc')
      const e = signed[0] as SignedOp
      return `${e.op.author}:${e.op.seq}`
    },
    everywhereAt: (dot) => doneAt.get(dot),
  }
}
