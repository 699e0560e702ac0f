/**
 * Revocations applied to what a store already holds (docs/PROTOCOL.md section 5, "A node partitioned when
 * it happened"): a node that took a revoked node's ops past its cutoff before it knew of the revocation
 * (it was partitioned from whoever knew, or got them from a node that did not know either) takes them
 * out of its log and views (opLog.quarantine: kept aside in revoked_ops; the entities they touched derived again), so that it ends
 * with the state of the nodes that never took them, and its version vector says the cutoff: anti-entropy
 * then neither offers them nor asks for them (they are refused where they arrive, as before: opsRevoked).
 *
 * The cutoffs mirror the fleet's rule for received ops (log.capsAt, log.batchRule), which is a function of
 * the set of revocations known only: a node revocation's (or key rotation's) cutoffSeq, the lowest if
 * several; and 0 (every op of it, as a node that knew would refuse them all) for an author that has
 * capabilities without the revocations and none with them from seq 1 on: its credentials all came from
 * revoked invites or rest on rotations that do not hold (capsAt gives [] at every seq). An author whose
 * capabilities a revoked invite only narrowed keeps its ops (a node that knew would have refused the
 * ops outside the narrower set: not undone here). The node's own ops are left alone (a revoked node
 * keeps its own log; no one takes its ops anyway).
 */
import type { AuthorId, Revocations, Roster } from '../log/index.ts'
import { capsAt } from '../log/index.ts'
import { opLog } from '../store/index.ts'
import type { OpLog } from '../store/index.ts'

export type Quarantined = { readonly author: AuthorId; readonly cutoff: number; readonly moved: number; readonly reason: string }

/** The cutoff the revocations set on `author` (undefined: none), and the reason to record with it. */
export function cutoffOf(roster: Roster | undefined, revs: Revocations, author: AuthorId): { cutoff: number; reason: string } | undefined {
  const why = (xs: readonly { reason: string }[]): string => [...new Set(xs.map((r) => r.reason).filter((r) => r !== ''))].join('; ')
  if (roster !== undefined) {
    // every capability gone from seq 1 on, that the author had without the revocations: all its ops
    const base = capsAt(roster, undefined, author, 1)
    const first = capsAt(roster, revs, author, 1)
    if (base !== undefined && base.length > 0 && first !== undefined && first.length === 0) {
      const ids = new Set((roster.members.get(author) ?? []).map((c) => c.invite.id))
      const by = revs.all.filter((r) => (r.inviteId !== undefined && ids.has(r.inviteId)) || r.node === author)
      return { cutoff: 0, reason: `revoked (every credential): ${why(by)}` }
    }
  }
  const cutoff = revs.nodes.get(author)
  if (cutoff === undefined) return undefined
  return { cutoff, reason: `revoked (node): ${why(revs.all.filter((r) => r.node === author && r.cutoffSeq === cutoff))}` }
}

/**
 * Quarantines, in the store, every author's ops past the cutoff the known revocations set (but `self`'s):
 * one transaction per author that has any. Returns what moved; nothing when the store holds nothing past
 * any cutoff (the usual case: one indexed head read per author).
 */
export function applyRevocations(store: OpLog, roster: Roster | undefined, revs: Revocations, self: AuthorId, nowMs: number): Quarantined[] {
  if (revs.all.length === 0) return []
  const out: Quarantined[] = []
  for (const [a, seq] of opLog.versionVector(store)) {
    const author = a as AuthorId
    if (author === self) continue
    const c = cutoffOf(roster, revs, author)
    if (c === undefined || seq <= c.cutoff) continue
    const moved = opLog.quarantine(store, author, c.cutoff, { reason: c.reason, atMs: Math.trunc(nowMs) })
    if (moved > 0) out.push({ author, cutoff: c.cutoff, moved, reason: c.reason })
  }
  return out
}
