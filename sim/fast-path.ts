/**
 * The fast path in the simulator: src/gossip/broadcast.ts (push or Plumtree) behind the node's FastPath
 * plug. Own ops are published when they become durable, one item per signed run; items received for the
 * first time go through the node's validation and ingest like anti-entropy's; the peer list follows
 * membership (alive and suspect members).
 */
import type { NodeId } from '../src/core/index.ts'
import { broadcast, createBroadcast } from '../src/gossip/index.ts'
import type { BroadcastConfig } from '../src/gossip/index.ts'
import { cutBatches } from '../src/log/index.ts'
import type { SignedOp } from '../src/log/index.ts'
import type { FastPath, FastPathFactory, FastPathSend } from './node.ts'

export function broadcastFastPath(config: Partial<BroadcastConfig> = {}): FastPathFactory {
  return ({ id, prng }): FastPath => {
    const b = createBroadcast({ self: id, prng, config })
    // the node hands the same array until membership changes (node.ts peerCache): identity first, then
    // content, so that a change that leaves the same peers (alive -> suspect) does not reset the machine
    let last: readonly NodeId[] = []
    const follow = (peers: readonly NodeId[]): void => {
      if (peers === last) return
      const same = peers.length === last.length && peers.every((p, i) => p === last[i])
      last = peers
      if (!same) b.setPeers(peers)
    }
    const encode = (out: broadcast.Output): FastPathSend[] =>
      out.send.map((s) => ({ to: s.to, bytes: broadcast.encodeMessage(s.message) }))
    return {
      published(ops, nowMs, peers) {
        follow(peers)
        const out: FastPathSend[] = []
        for (const batch of cutBatches(ops).batches) out.push(...encode(b.publish(batch, nowMs)))
        return out
      },
      stored() {
        return [] // broadcast relays what it receives itself; ops anti-entropy brought are not re-spread
      },
      receive(from, bytes, nowMs) {
        const out = b.receive(from, bytes, nowMs)
        return {
          send: encode(out),
          received: out.received.map((ops) => ({ author: (ops[0] as SignedOp).op.author, ops })),
        }
      },
      tick(nowMs, peers) {
        follow(peers)
        return encode(b.tick(nowMs))
      },
    }
  }
}
