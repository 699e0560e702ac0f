/**
 * Peer scoring (issue 4, design.md section 6): a peer that sends malformed, oversized or protocol-violating
 * messages loses score; the score recovers slowly with time; below a threshold the node stops talking to
 * that peer (ignores its messages, does not pick it for probes, relays or exchanges) for a while. Sans-I/O:
 * every call takes `nowMs`; nothing here reads a clock.
 *
 * The model, per peer:
 *   - The score starts at `scoreMax` and never exceeds it. A rejected message costs `penalty[reason]`.
 *   - It recovers linearly, `recoveryPerMinute` points a minute (computed lazily from the last change).
 *   - Falling to `blockBelow` or lower blocks the peer for `blockMs`, doubled for each earlier block still
 *     remembered (up to `blockMsMax`): a repeat offender is shut out longer. When a block ends the score
 *     restarts at `scoreAfterBlock`, so a few more bad messages block it again.
 *   - A peer back at scoreMax is forgotten (after blockMsMax more if it was ever blocked, so blocks keep
 *     doubling for a repeat offender): the table holds only peers that misbehaved recently, at most
 *     `peersMax` of them (past that, the most recovered unblocked entry is dropped).
 *
 * Why these defaults: an honest peer never sends a malformed message except through a bug or a version
 * skew, so a handful of them is already a strong signal; five malformed messages inside a few minutes
 * (or three oversized ones) block a peer for ten minutes, while one bad message an hour is forgotten.
 */
import type { NodeId } from '../core/index.ts'
import * as core from '../core/index.ts'

/** Why a message counted against its sender: the `rejected` reasons of membership and anti-entropy. */
export type Offence = 'malformed' | 'too_large' | 'protocol'

export type ScoreConfig = {
  /** Score of a peer with a clean record. Default 100. Limit 1..1e6. */
  readonly scoreMax: number
  /**
   * Points lost per rejected message, by reason. Defaults: malformed 20 (five block), too_large 34 (an
   * oversized message costs the receiver bytes before it is rejected; three block), protocol 10 (a
   * well-formed message breaking a rule, such as a join naming another node; ten block, since version
   * skew can cause these honestly). Each 0..scoreMax.
   */
  readonly penalty: Readonly<Record<Offence, number>>
  /**
   * Points regained per minute. Default 10: a peer at 20 recovers fully in 8 minutes; one malformed
   * message every two minutes never blocks. Higher forgives sooner and lets a slow attacker keep
   * talking. Limit 0..1e6.
   */
  readonly recoveryPerMinute: number
  /** A peer at or below this score is blocked. Default 0. Limit below scoreMax. */
  readonly blockBelow: number
  /** First block's length. Default 10 minutes. Limit 1 s..1 day. */
  readonly blockMs: number
  /** Longest block (blocks double). Default 1 day. Limit blockMs..30 days. */
  readonly blockMsMax: number
  /** Score a peer restarts at when its block ends. Default 50. Limit blockBelow+1..scoreMax. */
  readonly scoreAfterBlock: number
  /** Most peers with a record kept. Default 10000. Limit 1..1e6. */
  readonly peersMax: number
}

export const scoreDefaults: ScoreConfig = {
  scoreMax: 100,
  penalty: { malformed: 20, too_large: 34, protocol: 10 },
  recoveryPerMinute: 10,
  blockBelow: 0,
  blockMs: 10 * 60_000,
  blockMsMax: 24 * 60 * 60_000,
  scoreAfterBlock: 50,
  peersMax: 10_000,
}

/** Checks a configuration, filling defaults; an error names the setting out of range. */
export function parseScoreConfig(partial: Partial<ScoreConfig> = {}): core.Result<ScoreConfig, 'invalid_config'> {
  const c: ScoreConfig = { ...scoreDefaults, ...partial, penalty: { ...scoreDefaults.penalty, ...partial.penalty } }
  const bad = (detail: string) => core.fail('invalid_config', `scores: ${detail}`)
  const num = (x: number, lo: number, hi: number) => Number.isFinite(x) && x >= lo && x <= hi
  if (!num(c.scoreMax, 1, 1e6)) return bad(`scoreMax must be in 1..1e6, not ${c.scoreMax}`)
  for (const [k, v] of Object.entries(c.penalty)) {
    if (!num(v, 0, c.scoreMax)) return bad(`penalty.${k} must be in 0..scoreMax, not ${v}`)
  }
  if (!num(c.recoveryPerMinute, 0, 1e6)) return bad(`recoveryPerMinute must be in 0..1e6, not ${c.recoveryPerMinute}`)
  if (!(Number.isFinite(c.blockBelow) && c.blockBelow < c.scoreMax)) return bad(`blockBelow must be below scoreMax, not ${c.blockBelow}`)
  if (!num(c.blockMs, 1000, 86_400_000)) return bad(`blockMs must be in 1 s..1 day, not ${c.blockMs}`)
  if (!num(c.blockMsMax, c.blockMs, 30 * 86_400_000)) return bad(`blockMsMax must be in blockMs..30 days, not ${c.blockMsMax}`)
  if (!num(c.scoreAfterBlock, c.blockBelow + 1, c.scoreMax)) return bad(`scoreAfterBlock must be in blockBelow+1..scoreMax, not ${c.scoreAfterBlock}`)
  if (!(Number.isInteger(c.peersMax) && c.peersMax >= 1 && c.peersMax <= 1e6)) return bad(`peersMax must be an integer in 1..1e6, not ${c.peersMax}`)
  return core.ok(c)
}

export type Scores = {
  readonly config: ScoreConfig
  /** Counts one rejected message against `peer`. Returns true if the peer is (now) blocked. */
  penalize(peer: NodeId, offence: Offence, nowMs: number): boolean
  /** Counts every entry of a machine's `rejected` output. */
  penalizeAll(rejected: readonly { readonly from: NodeId; readonly reason: Offence }[], nowMs: number): void
  /** May we talk to this peer now (send to it, handle its messages)? */
  allowed(peer: NodeId, nowMs: number): boolean
  /** The peer's score now (scoreMax for one with no record). */
  score(peer: NodeId, nowMs: number): number
  /** Peers blocked now, sorted. */
  blocked(nowMs: number): NodeId[]
  /** Peers with a record kept (bounded by peersMax). */
  size(): number
}

type Entry = { score: number; atMs: number; blockedUntilMs: number; blocks: number; lastBlockEndMs: number }

export function createScores(config: Partial<ScoreConfig> = {}): Scores {
  const parsed = parseScoreConfig(config)
  if (!parsed.ok) throw new RangeError(parsed.detail)
  const cfg = parsed.value
  const table = new Map<NodeId, Entry>()

  /** Brings an entry up to `nowMs`: ends a block that is over, adds recovery. Time never runs backwards here. */
  const advance = (e: Entry, nowMs: number): void => {
    if (e.blockedUntilMs > 0) {
      if (nowMs < e.blockedUntilMs) return
      e.atMs = e.blockedUntilMs
      e.lastBlockEndMs = e.blockedUntilMs
      e.blockedUntilMs = 0
      e.score = cfg.scoreAfterBlock
    }
    if (nowMs > e.atMs) {
      e.score = Math.min(cfg.scoreMax, e.score + ((nowMs - e.atMs) * cfg.recoveryPerMinute) / 60_000)
      e.atMs = nowMs
    }
  }

  /** A peer back at full score is forgotten, once blockMsMax has passed since its last block ended. */
  const tidy = (peer: NodeId, e: Entry, nowMs: number): void => {
    if (e.blockedUntilMs === 0 && e.score >= cfg.scoreMax && (e.blocks === 0 || nowMs - e.lastBlockEndMs >= cfg.blockMsMax)) {
      table.delete(peer)
    }
  }

  const evict = (nowMs: number): void => {
    let best: NodeId | undefined
    let bestScore = -Infinity
    for (const [id, e] of table) {
      advance(e, nowMs)
      if (e.blockedUntilMs === 0 && e.score > bestScore) {
        best = id
        bestScore = e.score
      }
    }
    // All blocked: drop the one whose block ends first (the oldest insertion on a tie).
    if (best === undefined) {
      let end = Infinity
      for (const [id, e] of table) {
        if (e.blockedUntilMs < end) {
          best = id
          end = e.blockedUntilMs
        }
      }
    }
    if (best !== undefined) table.delete(best)
  }

  const penalize = (peer: NodeId, offence: Offence, nowMs: number): boolean => {
    let e = table.get(peer)
    if (e === undefined) {
      if (table.size >= cfg.peersMax) evict(nowMs)
      e = { score: cfg.scoreMax, atMs: nowMs, blockedUntilMs: 0, blocks: 0, lastBlockEndMs: 0 }
      table.set(peer, e)
    }
    advance(e, nowMs)
    if (e.blockedUntilMs > 0) return true // already shut out: its messages should not have been read
    e.score -= cfg.penalty[offence] ?? cfg.penalty.malformed
    if (e.score <= cfg.blockBelow) {
      e.blockedUntilMs = nowMs + Math.min(cfg.blockMsMax, cfg.blockMs * 2 ** Math.min(30, e.blocks))
      e.blocks++
      return true
    }
    return false
  }

  return {
    config: cfg,
    penalize,
    penalizeAll(rejected, nowMs) {
      for (const r of rejected) penalize(r.from, r.reason, nowMs)
    },
    allowed(peer, nowMs) {
      const e = table.get(peer)
      if (e === undefined) return true
      advance(e, nowMs)
      const ok = e.blockedUntilMs === 0
      tidy(peer, e, nowMs)
      return ok
    },
    score(peer, nowMs) {
      const e = table.get(peer)
      if (e === undefined) return cfg.scoreMax
      advance(e, nowMs)
      return e.blockedUntilMs > 0 ? Math.min(e.score, cfg.blockBelow) : e.score
    },
    blocked(nowMs) {
      const out: NodeId[] = []
      for (const [id, e] of table) {
        advance(e, nowMs)
        if (e.blockedUntilMs > 0) out.push(id)
      }
      return out.sort(core.ids.compareNodeIds)
    },
    size: () => table.size,
  }
}
