/**
 * The read side of a store: every query the CLI, the MCP server and the HTTP API ask, as one interface
 * with two implementations that must agree row for row:
 *
 *   - `memoryReads(ops)`: the knowledge layer's reference model (knowledge/views.ts) over a set of ops.
 *     Correct by definition, O(all ops) to build: the oracle of the differential tests, and what
 *     `as_of` reads use (views as of a time are the views of the ops recorded by then).
 *   - the SQLite views (views.ts in this folder): incremental, maintained in the transaction that stores
 *     the op, so a read costs what its query costs, whatever the store's size.
 *
 * Shapes are the reference model's (FactRead, EntryRead, TaskRow …): the CLI's `--json` is built from
 * them, so both implementations print the same documents.
 */
import * as knowledge from '../knowledge/index.ts'
import type {
  AgentRow,
  Channel,
  ConfigRow,
  CounterRead,
  Dump,
  EntryQuery,
  EntryRead,
  FactRead,
  HistoryRow,
  IdempotencyRow,
  ReadOptions,
  ResolvedTicketRow,
  StatusRow,
  TaskQuery,
  TaskRow,
  TicketRow,
  TrustRow,
} from '../knowledge/index.ts'
import type { AuthorId, EncodedOp } from '../log/index.ts'
import { tokenize } from './fts.ts'

export type SearchQuery = ReadOptions & {
  /** Words to match (all of them); the store turns them into a safe full-text query. */
  readonly text: string
  readonly limit: number
  readonly channel?: Channel | undefined
  readonly tag?: string | undefined
  readonly author?: AuthorId | undefined
  /** Only entries recorded at or after this wall time (ms). */
  readonly sinceMs?: number | undefined
}

/** A channel entry that matched a search, best first; `score` is higher for a better match. */
export type SearchHit = EntryRead & { readonly score: number }

export type Ticket =
  | { readonly state: 'open'; readonly ticket: TicketRow }
  | { readonly state: 'resolved'; readonly ticket: ResolvedTicketRow }

/** What the views hold, counted (the `grapevine metrics` figures that come from the views). */
export type ViewCounts = {
  readonly facts: number
  readonly live_versions: number
  readonly entries_by_channel: Readonly<Record<Channel, number>>
  readonly open_tickets: number
  readonly resolved_tickets: number
  /** Mean time from a ticket opening to its verified resolution, ms; null with none resolved. */
  readonly time_to_verify_ms_mean: number | null
  readonly tasks: number
  readonly counters: number
  readonly agents: number
}

/** Which facts `facts` lists: those with a version to show, or only those with one in `channel`. */
export type FactsQuery = ReadOptions & { readonly channel?: Channel | undefined }

export type Reads = {
  fact(factId: string, opts: ReadOptions): FactRead | undefined
  /**
   * Every fact with a version to show, each as `fact` reads it, ordered by the wall time of its newest
   * live version, then fact_id (compareFactsListed). A generator: a store of a million facts streams
   * through it without being held in memory.
   */
  facts(q: FactsQuery): Iterable<FactRead>
  history(factId: string): HistoryRow[]
  /** Channel entries, newest first (tail). */
  entries(q: EntryQuery): EntryRead[]
  search(q: SearchQuery): SearchHit[]
  openTickets(): TicketRow[]
  resolvedTickets(): ResolvedTicketRow[]
  ticket(id: string): Ticket | undefined
  trust(): TrustRow[]
  statuses(): StatusRow[]
  agents(): AgentRow[]
  task(id: string): TaskRow | undefined
  tasks(q?: TaskQuery): TaskRow[]
  readyTasks(q?: TaskQuery): TaskRow[]
  counter(name: string): CounterRead | undefined
  counters(): CounterRead[]
  config(key: string): ConfigRow | undefined
  configs(): ConfigRow[]
  idempotent(author: AuthorId, key: string): IdempotencyRow | undefined
  /** Every live version counts, stale or not: no time needed. */
  counts(): ViewCounts
  /** Every row, canonically ordered: equal dumps are equal views. */
  dump(): Dump
}

/**
 * Words of a search text as the search index makes them (fts.ts tokenize: NFKD, marks dropped, lower
 * case); the reference model's notion of a match (every word appears).
 */
export function searchWords(text: string): string[] {
  return tokenize(text)
}

/**
 * What search matches in an entry: its text (else its value, when the value is a string) and its tags.
 * The SQLite full-text index holds the same (views-write.ts writeFact, two columns: body and tags).
 */
export function searchText(r: {
  readonly text: string | null
  readonly value: unknown
  readonly tags: readonly string[]
}): string {
  return [r.text ?? (typeof r.value === 'string' ? r.value : ''), ...r.tags].join(' ')
}

/** The order of `facts`: newest live version's wall time (of every live version, shown or not), then fact_id. */
export function compareFactsListed(a: { newestMs: number; fact_id: string }, b: { newestMs: number; fact_id: string }): number {
  return a.newestMs - b.newestMs || knowledge.compareStrings(a.fact_id, b.fact_id)
}

/** The reference model as Reads. Search here is a plain all-words filter, newest first (no ranking). */
export function memoryReads(ops: Iterable<EncodedOp>): Reads {
  const v = knowledge.viewsOf(ops)
  return {
    fact: (id, o) => knowledge.getFact(v, id, o),
    facts: (q) => {
      const newest = new Map<string, number>()
      const inChannel = new Set<string>()
      for (const r of knowledge.dump(v).versions) {
        newest.set(r.fact_id, Math.max(newest.get(r.fact_id) ?? -Infinity, r.created_at.wallMs))
        if (r.channel !== null && r.channel === q.channel) inChannel.add(r.fact_id)
      }
      return knowledge
        .listFacts(v, q)
        .filter((f) => q.channel === undefined || inChannel.has(f.fact_id))
        .map((f) => ({ f, newestMs: newest.get(f.fact_id) as number, fact_id: f.fact_id }))
        .sort(compareFactsListed)
        .map((x) => x.f)
    },
    history: (id) => knowledge.factHistory(v, id),
    entries: (q) => knowledge.channelEntries(v, q),
    search: (q) => {
      const words = searchWords(q.text)
      const all = knowledge.channelEntries(v, { ...q, limit: undefined })
      const hits: SearchHit[] = []
      for (const e of all) {
        if (q.sinceMs !== undefined && e.created_at.wallMs < q.sinceMs) continue
        const have = new Set(searchWords(searchText(e)))
        if (words.length > 0 && words.every((w) => have.has(w))) hits.push({ ...e, score: 0 })
        if (hits.length >= q.limit) break
      }
      return hits
    },
    openTickets: () => knowledge.openTickets(v),
    resolvedTickets: () => knowledge.resolvedTickets(v),
    ticket: (id) => knowledge.getTicket(v, id),
    trust: () => knowledge.trustRows(v),
    statuses: () => knowledge.statuses(v),
    agents: () => knowledge.agents(v),
    task: (id) => knowledge.getTask(v, id),
    tasks: (q) => knowledge.listTasks(v, q),
    readyTasks: (q) => knowledge.readyTasks(v, q),
    counter: (n) => knowledge.getCounter(v, n),
    counters: () => knowledge.listCounters(v),
    config: (k) => knowledge.getConfig(v, k),
    configs: () => knowledge.listConfigs(v),
    idempotent: (a, k) => knowledge.idempotent(v, a, k),
    counts: () => {
      const d = knowledge.dump(v)
      const byChannel: Record<Channel, number> = { discoveries: 0, patterns: 0, warnings: 0 }
      for (const r of d.versions) if (r.channel !== null) byChannel[r.channel]++
      const ttv = d.resolved.map((r) => r.time_to_verify_ms)
      return {
        facts: new Set(d.versions.map((r) => r.fact_id)).size,
        live_versions: d.versions.length,
        entries_by_channel: byChannel,
        open_tickets: d.tickets.length,
        resolved_tickets: d.resolved.length,
        time_to_verify_ms_mean: ttv.length === 0 ? null : ttv.reduce((a, b) => a + b, 0) / ttv.length,
        tasks: d.tasks.length,
        counters: new Set(d.counters.map((c) => c.name)).size,
        agents: d.agents.length,
      }
    },
    dump: () => knowledge.dump(v),
  }
}
