/**
 * Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014): a timestamp is
 * (wallMs, logical, node). It never goes backwards, stays close to wall time, and orders causally related
 * events correctly whatever the clocks say: if e happened before f, ts(e) < ts(f).
 *
 * Bound: a received timestamp more than `aheadMsMax` ahead of our wall clock is REJECTED, not clamped.
 * The op that carries it is signed and immutable, so its timestamp cannot be changed; if we applied it
 * without moving our clock to it, our next local write could sort before it although it happened after
 * it (a causally later write would lose). If we moved our clock to it, one node with a wild clock (a
 * laptop set to 2099) would drag the whole fleet's clocks into the future forever. Rejecting keeps both
 * promises: the caller holds the op back and retries it once local wall time has caught up (anti-entropy
 * sends it again), and counts the rejection so the bad clock is visible.
 */
import type { Clock } from './clock.ts'
import type { Reader, Writer } from './codec.ts'
import * as codec from './codec.ts'
import { compareNodeIds, type NodeId } from './ids.ts'
import { fail, ok, type Result } from './result.ts'

export type Timestamp = { readonly wallMs: number; readonly logical: number; readonly node: NodeId }

/** A node's clock state. Mutable: `now` and `receive` advance it. Persist wallMs/logical across restarts. */
export type Hlc = { wallMs: number; logical: number; readonly node: NodeId; readonly aheadMsMax: number }

/**
 * Default bound on how far ahead a remote timestamp may be: 10 minutes. Larger than any skew NTP-synced
 * machines or the simulator's faults (+-262 s) produce, small enough that a wrong clock cannot poison
 * the fleet for long.
 */
export const aheadMsMaxDefault = 10 * 60 * 1000

/** The logical counter is a uint32; past it, the clock borrows 1 ms from the future rather than wrap. */
export const logicalMax = 0xffffffff

export function create(node: NodeId, opts: { aheadMsMax?: number; wallMs?: number; logical?: number } = {}): Hlc {
  return { wallMs: opts.wallMs ?? 0, logical: opts.logical ?? 0, node, aheadMsMax: opts.aheadMsMax ?? aheadMsMaxDefault }
}

/** A timestamp for a local event, strictly greater than every timestamp this clock issued or received. */
export function now(h: Hlc, clock: Clock): Timestamp {
  tick(h, clock)
  return { wallMs: h.wallMs, logical: h.logical, node: h.node }
}

/** Advances the clock for a local event without allocating; read the new time from h.wallMs, h.logical. */
export function tick(h: Hlc, clock: Clock): void {
  const pt = Math.floor(clock.nowMs())
  if (pt > h.wallMs) {
    h.wallMs = pt
    h.logical = 0
  } else if (h.logical < logicalMax) {
    h.logical++
  } else {
    h.wallMs++
    h.logical = 0
  }
}

export type ReceiveFailure = 'ahead' | 'invalid'

/**
 * Merges a remote timestamp into the clock (call it before applying what carried it). Returns the
 * timestamp of the receive event, greater than both the remote one and anything issued before.
 */
export function receive(h: Hlc, remote: Timestamp, clock: Clock): Result<Timestamp, ReceiveFailure> {
  if (!isValid(remote)) return fail('invalid', 'timestamp fields must be non-negative safe integers')
  const pt = Math.floor(clock.nowMs())
  if (remote.wallMs > pt + h.aheadMsMax) {
    return fail('ahead', `remote clock is ${remote.wallMs - pt} ms ahead (bound ${h.aheadMsMax} ms)`)
  }
  const wall = Math.max(h.wallMs, remote.wallMs, pt)
  let logical: number
  if (wall === h.wallMs && wall === remote.wallMs) logical = Math.max(h.logical, remote.logical) + 1
  else if (wall === h.wallMs) logical = h.logical + 1
  else if (wall === remote.wallMs) logical = remote.logical + 1
  else logical = 0
  if (logical > logicalMax) {
    h.wallMs = wall + 1
    h.logical = 0
  } else {
    h.wallMs = wall
    h.logical = logical
  }
  return ok({ wallMs: h.wallMs, logical: h.logical, node: h.node })
}

export function isValid(t: Timestamp): boolean {
  return (
    Number.isSafeInteger(t.wallMs) &&
    t.wallMs >= 0 &&
    Number.isInteger(t.logical) &&
    t.logical >= 0 &&
    t.logical <= logicalMax &&
    typeof t.node === 'string' &&
    t.node.length > 0
  )
}

/** Total order: wall time, then logical counter, then node id. */
export function compare(a: Timestamp, b: Timestamp): -1 | 0 | 1 {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1
  return compareNodeIds(a.node, b.node)
}

export function equals(a: Timestamp, b: Timestamp): boolean {
  return a.wallMs === b.wallMs && a.logical === b.logical && a.node === b.node
}

/** Writes (wallMs - baseMs, logical, node): states write their timestamps relative to their oldest one. */
export function write(w: Writer, t: Timestamp, baseMs = 0): void {
  codec.writeUvarint(w, t.wallMs - baseMs)
  codec.writeUvarint(w, t.logical)
  codec.writeNode(w, t.node)
}

export function read(r: Reader, baseMs = 0): Timestamp {
  const wallMs = baseMs + codec.readUvarint(r)
  if (!Number.isSafeInteger(wallMs)) codec.malformed('timestamp beyond 2^53-1')
  const logical = codec.readUvarint(r)
  if (logical > logicalMax) codec.malformed('logical counter beyond uint32')
  return { wallMs, logical, node: codec.readNode(r) }
}

/** A timestamp on its own, with its one-entry node table. */
export function encode(t: Timestamp): Uint8Array {
  return codec.encodeWith((w) => {
    codec.writeNodeTable(w, [t.node])
    write(w, t)
  })
}

export function decode(bytes: Uint8Array): Result<Timestamp, codec.DecodeFailure> {
  return codec.decodeWith(bytes, (r) => {
    if (codec.readNodeTable(r).length !== 1) codec.malformed('a timestamp names exactly one node')
    return read(r)
  })
}
