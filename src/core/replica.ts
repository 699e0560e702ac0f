/**
 * A replica's source of stamps. Every update in Grapevine has a dot (node, seq) and an HLC timestamp;
 * in a running node the op log assigns both (design.md section 3). Standalone use of the core (tests,
 * benchmarks) gets them here.
 */
import type { Clock } from './clock.ts'
import type { Dot } from './dot.ts'
import * as hlc from './hlc.ts'
import type { NodeId } from './ids.ts'

/** The identity of one update: its dot and its timestamp (the two share `node`). */
export type Stamp = Dot & hlc.Timestamp

export type Replica = { readonly node: NodeId; seq: number; readonly hlc: hlc.Hlc; readonly clock: Clock }

export function create(node: NodeId, clock: Clock, opts: { seq?: number; aheadMsMax?: number } = {}): Replica {
  const h = hlc.create(node, opts.aheadMsMax === undefined ? {} : { aheadMsMax: opts.aheadMsMax })
  return { node, seq: opts.seq ?? 0, hlc: h, clock }
}

/** The stamp of the next local update. */
export function next(r: Replica): Stamp {
  hlc.tick(r.hlc, r.clock)
  return { node: r.node, seq: ++r.seq, wallMs: r.hlc.wallMs, logical: r.hlc.logical }
}

/** Moves this replica's clock past a remote timestamp before it applies what carried it. */
export function observe(r: Replica, t: hlc.Timestamp): ReturnType<typeof hlc.receive> {
  return hlc.receive(r.hlc, t, r.clock)
}
