/**
 * The view rows: plain data, the contract between this reference model (views.ts) and the SQLite store,
 * which must produce the same rows from the same ops. Field names are snake_case because they are
 * columns and the CLI's `--json` fields (the seed schema's `fact_id`, `created_at`, `causal_id` …).
 * Absent optional values are null, as in SQL and JSON.
 *
 * Every row is a function of the op SET alone: none depends on the time of the query. What does
 * (staleness by TTL, read winners, which depend on trust) is computed by the query functions in
 * views.ts from these rows and a `nowMs` the caller passes in.
 *
 * Canonical order of strings (ids, names, keys): Unicode code point order, which is UTF-8 byte order,
 * so SQLite's default BINARY collation sorts them the same way. Times are HLC readings
 * (`OpTime`: wallMs, then logical); two times of different authors tie-break on the author.
 */
import type { Json } from '../core/index.ts'
import type { AuthorId, OpTime } from '../log/index.ts'
import type { DotRef } from './dot-ref.ts'
import { compareDotRefs } from './dot-ref.ts'
import type { Channel, Health } from './kinds.ts'

/** One version of a fact: one `fact.assert`. Live versions are rows of the facts view. */
export type VersionRow = {
  readonly fact_id: string
  readonly dot: DotRef
  readonly author: AuthorId
  readonly seq: number
  /** The op's HLC: created_at, the recorded time. */
  readonly created_at: OpTime
  readonly value: Json
  readonly verified: boolean
  readonly ttl_seconds: number | null
  /** When the value is true in the world (ms since the Unix epoch). */
  readonly valid_from: number | null
  readonly valid_to: number | null
  readonly causal_id: string | null
  readonly idempotency_key: string | null
  readonly channel: Channel | null
  /** As written (distinct). */
  readonly tags: readonly string[]
  readonly text: string | null
  /** The versions this one superseded, as written. */
  readonly supersedes: readonly DotRef[]
}

/** One `fact.retract`, for a fact's history (it adds no row to the facts view). */
export type RetractRow = {
  readonly fact_id: string
  readonly dot: DotRef
  readonly author: AuthorId
  readonly created_at: OpTime
  readonly observed: readonly DotRef[]
  readonly reason: string | null
}

/** An open verify ticket: a fact whose live versions hold two or more different values. */
export type TicketRow = {
  /** ids.ts ticketId(fact_id, dots): every replica derives the same id for the same conflict. */
  readonly ticket_id: string
  readonly fact_id: string
  /** The live versions in conflict, sorted (compareDotRefs). */
  readonly dots: readonly DotRef[]
  /** The latest created_at of those versions: when this set of versions came to exist. */
  readonly opened_at: OpTime
}

/**
 * A ticket resolved by a verified assert: the versions of the fact that the assert superseded held two
 * or more different values. If several verified asserts supersede the same versions, the earliest (HLC,
 * then author) is the resolution.
 */
export type ResolvedTicketRow = {
  readonly ticket_id: string
  readonly fact_id: string
  readonly dots: readonly DotRef[]
  readonly opened_at: OpTime
  /** The verified assert. */
  readonly resolved_by: DotRef
  readonly resolved_at: OpTime
  readonly value: Json
  /** resolved_at.wallMs - opened_at.wallMs, at least 0 (clocks of different authors may disagree). */
  readonly time_to_verify_ms: number
}

/**
 * Trust of an author, from how its versions fared against verified asserts of OTHER authors: each pair
 * (verified assert V, version u that V superseded, u's author not V's) counts once, as `agreed` if u
 * held V's value and `disagreed` otherwise. score = agreed - disagreed (an integer: no float to
 * reproduce). Authors with no such pair have no row and score 0.
 */
export type TrustRow = {
  readonly author: AuthorId
  readonly agreed: number
  readonly disagreed: number
  readonly score: number
}

/** An agent's status: the author's latest `status.set` (one writer, so HLC order is its own order). */
export type StatusRow = {
  readonly author: AuthorId
  readonly text: string
  readonly health: Health
  readonly working_on: string | null
  readonly updated_at: OpTime
  readonly dot: DotRef
}

/** An agent's human-readable name: the author's latest `agent.hello`. */
export type AgentRow = {
  readonly author: AuthorId
  readonly name: string
  readonly updated_at: OpTime
  readonly dot: DotRef
}

/** An active (unreleased) claim on a task. */
export type ClaimRow = { readonly author: AuthorId; readonly claimed_at: OpTime; readonly dot: DotRef }

export type TaskState = 'open' | 'claimed' | 'done'

/**
 * A task: exists once any `task.create` for its id exists. title, depends and assignee come from the
 * latest create (LWW, HLC then author); created_by and created_at from the earliest.
 */
export type TaskRow = {
  readonly task_id: string
  readonly title: string
  readonly depends: readonly string[]
  readonly assignee: string | null
  readonly created_by: AuthorId
  readonly created_at: OpTime
  readonly state: TaskState
  /** The winning claim's author: the earliest active claim (HLC, then author). */
  readonly claimed_by: AuthorId | null
  readonly claimed_at: OpTime | null
  /** Every active claim, winner first: a claimer that is not first sees it lost. */
  readonly claims: readonly ClaimRow[]
  /** From the latest `task.done` (LWW). */
  readonly done_by: AuthorId | null
  readonly done_at: OpTime | null
  readonly result: Json | null
}

/** One author's contribution to a PN-counter: its increments (p) and decrements (n), each >= 0. */
export type CounterRow = {
  readonly name: string
  readonly author: AuthorId
  readonly p: number
  readonly n: number
}

/** A config key's winner: the highest version; on equal versions the latest HLC (then author). */
export type ConfigRow = {
  readonly key: string
  readonly value: Json
  readonly version: number
  readonly author: AuthorId
  readonly set_at: OpTime
  readonly dot: DotRef
}

/** The first op (lowest seq) of an author with an idempotency key: later ones have no effect. */
export type IdempotencyRow = {
  readonly author: AuthorId
  readonly idempotency_key: string
  readonly dot: DotRef
  readonly kind: string
  /** The fact the op wrote (given or generated), for fact.assert and fact.retract with a valid body. */
  readonly fact_id: string | null
}

/** Every row of every view, canonically ordered: what a store must reproduce from the same ops. */
export type Dump = {
  /** Live versions, by fact_id then dot. */
  readonly versions: readonly VersionRow[]
  /** By ticket_id. */
  readonly tickets: readonly TicketRow[]
  readonly resolved: readonly ResolvedTicketRow[]
  /** By author. */
  readonly trust: readonly TrustRow[]
  readonly statuses: readonly StatusRow[]
  readonly agents: readonly AgentRow[]
  /** By task_id. */
  readonly tasks: readonly TaskRow[]
  /** By name, then author. */
  readonly counters: readonly CounterRow[]
  /** By key. */
  readonly configs: readonly ConfigRow[]
  /** By author, then idempotency_key. */
  readonly idempotency: readonly IdempotencyRow[]
}

// ---- canonical order

/** Unicode code point order (= UTF-8 byte order = SQLite BINARY). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) {
      // Surrogates (0xd800-0xdfff) encode code points above 0xffff: they sort after every other unit.
      const xs = x >= 0xd800 && x <= 0xdfff
      const ys = y >= 0xd800 && y <= 0xdfff
      if (xs !== ys) return xs ? 1 : -1
      return x - y
    }
  }
  return a.length - b.length
}

/** HLC order: wallMs, then logical. */
export function compareTimes(a: OpTime, b: OpTime): number {
  return a.wallMs !== b.wallMs ? a.wallMs - b.wallMs : a.logical - b.logical
}

/** The total order of events of different authors: HLC, then author id. */
export function compareStamps(at: OpTime, aa: AuthorId, bt: OpTime, ba: AuthorId): number {
  return compareTimes(at, bt) || (aa < ba ? -1 : aa > ba ? 1 : 0)
}

export function compareVersions(a: VersionRow, b: VersionRow): number {
  return compareStrings(a.fact_id, b.fact_id) || compareDotRefs(a.dot, b.dot)
}
