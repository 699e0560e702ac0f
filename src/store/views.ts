/**
 * The SQLite implementation of Reads (reads.ts) over the materialized views (views-schema.ts, kept by
 * views-write.ts in the transactions of op-log.ts), and what maintains them besides ingest: rebuild,
 * purge of expired versions, and the store's metrics.
 *
 * What depends on the time of the query is computed here, never stored: staleness (created_at + ttl <=
 * nowMs, a filter on expires_ms) and read winners (trust is a SUM over trust_shares, taken when read;
 * the order is knowledge compareReadOrder over a fact's few live versions).
 *
 * Purge (TTL: stale, then purged from the views, counted): `purgeExpired(store, nowMs, graceMs)` moves a
 * watermark to nowMs - graceMs (never back) and deletes every version that expired at or before it from
 * the views (tail, search, fact reads; the op log keeps its op). The writer leaves such versions out
 * from then on, and so does a rebuild, which keeps the watermark: views are a function of the op set and
 * the watermark. Tickets, resolutions and trust still count purged versions, as the model does.
 *
 * Stale reads (metrics stale_reads, design.md section 10): a read whose answer TTL changed: a stale
 * version hidden, or shown with include_stale (StoreMetrics.stale_reads says which reads look). A read
 * does not write: the count is kept by the connection's view writer and written to views_meta with its
 * next write transaction or when the store is closed (views-write.ts flushStaleReads).
 */
import * as core from '../core/index.ts'
import type { Json } from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import type {
  AgentRow,
  Channel,
  ConfigRow,
  CounterRead,
  CounterRow,
  DotRef,
  Dump,
  EntryQuery,
  EntryRead,
  FactRead,
  IdempotencyRow,
  ReadOptions,
  ResolvedTicketRow,
  StatusRow,
  TaskQuery,
  TaskRow,
  TicketRow,
  TrustRow,
  VersionRead,
  VersionRow,
} from '../knowledge/index.ts'
import type { AuthorId, OpTime } from '../log/index.ts'
import * as opLog from './op-log.ts'
import type { OpLog } from './op-log.ts'
import type { FactsQuery, Reads, SearchHit, SearchQuery, Ticket, ViewCounts } from './reads.ts'
import * as fts from './fts.ts'
import * as viewsWrite from './views-write.ts'
import type { ViewWriter } from './views-write.ts'

function writerOf(s: OpLog): ViewWriter {
  if (s.views === undefined) {
    throw new Error(`store ${s.path}: ${s.viewsProblem ?? 'the views are unusable'} (views.rebuild)`)
  }
  return s.views
}

const time = (wallMs: number, logical: number): OpTime => ({ wallMs, logical })
const dotOf = (author: string, seq: number): DotRef =>
  knowledge.formatDot({ node: author as core.NodeId, seq })
const parse = <T>(s: string): T => JSON.parse(s) as T

// ---- rows from columns

type VersionCols = {
  rowid: number
  fact_id: string
  author: string
  seq: number
  wall_ms: number
  logical: number
  value: string
  verified: number
  ttl_seconds: number | null
  valid_from: number | null
  valid_to: number | null
  causal_id: string | null
  idempotency_key: string | null
  channel: string | null
  tags: string
  text: string | null
  supersedes: string
}

const versionCols =
  'v.rowid AS rowid, v.fact_id, v.author, v.seq, v.wall_ms, v.logical, v.value, v.verified, v.ttl_seconds, ' +
  'v.valid_from, v.valid_to, v.causal_id, v.idempotency_key, v.channel, v.tags, v.text, v.supersedes'

function versionRow(c: VersionCols): VersionRow {
  return {
    fact_id: c.fact_id,
    dot: dotOf(c.author, c.seq),
    author: c.author as AuthorId,
    seq: c.seq,
    created_at: time(c.wall_ms, c.logical),
    value: parse<Json>(c.value),
    verified: c.verified === 1,
    ttl_seconds: c.ttl_seconds,
    valid_from: c.valid_from,
    valid_to: c.valid_to,
    causal_id: c.causal_id,
    idempotency_key: c.idempotency_key,
    channel: c.channel as Channel | null,
    tags: parse<string[]>(c.tags),
    text: c.text,
    supersedes: parse<DotRef[]>(c.supersedes),
  }
}

type TicketCols = { ticket_id: string; fact_id: string; dots: string; wall_ms: number; logical: number }

function ticketRow(c: TicketCols): TicketRow {
  return {
    ticket_id: c.ticket_id,
    fact_id: c.fact_id,
    dots: parse(c.dots),
    opened_at: time(c.wall_ms, c.logical),
  }
}

type ResolvedCols = {
  ticket_id: string
  fact_id: string
  dots: string
  opened_wall_ms: number
  opened_logical: number
  resolved_by: string
  resolved_wall_ms: number
  resolved_logical: number
  value: string
  time_to_verify_ms: number
}

function resolvedRow(c: ResolvedCols): ResolvedTicketRow {
  return {
    ticket_id: c.ticket_id,
    fact_id: c.fact_id,
    dots: parse(c.dots),
    opened_at: time(c.opened_wall_ms, c.opened_logical),
    resolved_by: c.resolved_by as DotRef,
    resolved_at: time(c.resolved_wall_ms, c.resolved_logical),
    value: parse<Json>(c.value),
    time_to_verify_ms: c.time_to_verify_ms,
  }
}

type TaskCols = {
  task_id: string
  title: string
  depends: string
  assignee: string | null
  created_by: string
  created_wall_ms: number
  created_logical: number
  state: string
  claimed_by: string | null
  claims: string
  done_by: string | null
  done_wall_ms: number | null
  done_logical: number | null
  result: string | null
}

function taskRow(c: TaskCols): TaskRow {
  const claims = parse<TaskRow['claims']>(c.claims)
  return {
    task_id: c.task_id,
    title: c.title,
    depends: parse(c.depends),
    assignee: c.assignee,
    created_by: c.created_by as AuthorId,
    created_at: time(c.created_wall_ms, c.created_logical),
    state: c.state as TaskRow['state'],
    claimed_by: c.claimed_by as AuthorId | null,
    claimed_at: claims[0]?.claimed_at ?? null,
    claims,
    done_by: c.done_by as AuthorId | null,
    done_at: c.done_wall_ms === null ? null : time(c.done_wall_ms, c.done_logical ?? 0),
    result: c.result === null ? null : parse<Json>(c.result),
  }
}

type StatusCols = {
  author: string
  text: string
  health: string
  working_on: string | null
  wall_ms: number
  logical: number
  seq: number
}

function statusRow(c: StatusCols): StatusRow {
  return {
    author: c.author as AuthorId,
    text: c.text,
    health: c.health as StatusRow['health'],
    working_on: c.working_on,
    updated_at: time(c.wall_ms, c.logical),
    dot: dotOf(c.author, c.seq),
  }
}

type AgentCols = { author: string; name: string; wall_ms: number; logical: number; seq: number }

function agentRow(c: AgentCols): AgentRow {
  return {
    author: c.author as AuthorId,
    name: c.name,
    updated_at: time(c.wall_ms, c.logical),
    dot: dotOf(c.author, c.seq),
  }
}

type ConfigCols = {
  key: string
  value: string
  version: number
  author: string
  wall_ms: number
  logical: number
  seq: number
}

function configRow(c: ConfigCols): ConfigRow {
  return {
    key: c.key,
    value: parse<Json>(c.value),
    version: c.version,
    author: c.author as AuthorId,
    set_at: time(c.wall_ms, c.logical),
    dot: dotOf(c.author, c.seq),
  }
}

type IdemCols = { author: string; key: string; seq: number; kind: string; fact_id: string | null }

function idempotencyRow(c: IdemCols): IdempotencyRow {
  return {
    author: c.author as AuthorId,
    idempotency_key: c.key,
    dot: dotOf(c.author, c.seq),
    kind: c.kind,
    fact_id: c.fact_id,
  }
}

function counterReads(rows: readonly CounterRow[]): CounterRead[] {
  const byName = new Map<string, CounterRow[]>()
  for (const r of rows) byName.set(r.name, [...(byName.get(r.name) ?? []), r])
  return [...byName.entries()].map(([name, authors]) => ({
    name,
    value: knowledge.counterValue(authors),
    authors,
  }))
}

// ---- the SQLite Reads

function compareByCreation(a: TaskRow, b: TaskRow): number {
  return (
    knowledge.compareStamps(a.created_at, a.created_by, b.created_at, b.created_by) ||
    knowledge.compareStrings(a.task_id, b.task_id)
  )
}

const byTicketId = (a: { ticket_id: string }, b: { ticket_id: string }) =>
  knowledge.compareStrings(a.ticket_id, b.ticket_id)

/** The views of this store as Reads: the same rows and shapes as memoryReads over its ops. */
export function sqlReads(s: OpLog): Reads {
  const db = s.db
  const w = writerOf(s)
  /** A stale read (see the header): counted in memory, written with the next write or at close. */
  const staleRead = (): void => {
    w.staleReads++
  }
  const q = (sql: string) => db.prepare(sql)
  const st = {
    factVersions: q(
      `SELECT ${versionCols} FROM versions v WHERE v.entity = (SELECT id FROM entities WHERE entity = 'fact:' || ?)`,
    ),
    factTicket: q('SELECT ticket_id FROM tickets WHERE fact_id = ?'),
    searchRow: q(
      `SELECT ${versionCols}, (SELECT t.ticket_id FROM tickets t WHERE t.fact_id = v.fact_id) AS ticket_id ` +
        'FROM versions v WHERE v.rowid = ?',
    ),
    trustOf: q('SELECT sum(agreed) - sum(disagreed) AS score FROM trust_shares WHERE author = ?'),
    tickets: q('SELECT ticket_id, fact_id, dots, wall_ms, logical FROM tickets'),
    ticket: q('SELECT ticket_id, fact_id, dots, wall_ms, logical FROM tickets WHERE ticket_id = ?'),
    resolved: q('SELECT * FROM resolved'),
    resolvedOne: q('SELECT * FROM resolved WHERE ticket_id = ?'),
    trust: q(
      'SELECT author, sum(agreed) AS agreed, sum(disagreed) AS disagreed FROM trust_shares GROUP BY author ORDER BY author',
    ),
    statuses: q('SELECT * FROM statuses ORDER BY author'),
    agents: q('SELECT * FROM agents ORDER BY author'),
    task: q('SELECT * FROM tasks WHERE task_id = ?'),
    tasks: q('SELECT * FROM tasks'),
    ready: q(
      "SELECT * FROM tasks t WHERE t.state = 'open' AND NOT EXISTS (SELECT 1 FROM task_depends d " +
        "WHERE d.task_id = t.task_id AND NOT EXISTS (SELECT 1 FROM tasks u WHERE u.task_id = d.dep AND u.state = 'done'))",
    ),
    counter: q('SELECT name, author, p, n FROM counters WHERE name = ? ORDER BY author'),
    counters: q('SELECT name, author, p, n FROM counters ORDER BY name, author'),
    config: q('SELECT * FROM configs WHERE key = ?'),
    configs: q('SELECT * FROM configs ORDER BY key'),
    idem: q('SELECT author, key, seq, kind, fact_id FROM idempotency WHERE author = ? AND key = ?'),
    idems: q('SELECT author, key, seq, kind, fact_id FROM idempotency ORDER BY author, key'),
    versions: q(`SELECT ${versionCols} FROM versions v`),
  }

  /** Trust scores, read once per query per author. */
  const scorer = () => {
    const cache = new Map<string, number>()
    return (author: string): number => {
      let t = cache.get(author)
      if (t === undefined) {
        t = (st.trustOf.get(author) as { score: number | null }).score ?? 0
        cache.set(author, t)
      }
      return t
    }
  }

  const readOf = (r: VersionRow, nowMs: number, score: (a: string) => number): VersionRead => {
    const expires = viewsWrite.expiresMs(r)
    return {
      ...r,
      expires_at_ms: expires,
      stale: expires !== null && expires <= nowMs,
      trust: score(r.author),
    }
  }

  /**
   * A fact as read from its live version rows (a ticket needs two or more of them). `stale` is told
   * whether a stale version was among them (shown with includeStale, else hidden).
   */
  const factOf = (
    factId: string,
    rows: readonly VersionCols[],
    opts: ReadOptions,
    score: (a: string) => number,
    stale?: () => void,
  ): FactRead | undefined => {
    const all = rows.map((c) => readOf(versionRow(c), opts.nowMs, score))
    if (stale !== undefined && all.some((r) => r.stale)) stale()
    const shown = (opts.includeStale === true ? all : all.filter((r) => !r.stale)).sort(knowledge.compareReadOrder)
    const winner = shown[0]
    if (winner === undefined) return undefined
    const t = rows.length < 2 ? undefined : (st.factTicket.get(factId) as { ticket_id: string } | undefined)
    return {
      fact_id: factId,
      value: winner.value,
      winner,
      versions: shown,
      conflict: t !== undefined,
      ticket_id: t?.ticket_id ?? null,
    }
  }

  const fact = (factId: string, opts: ReadOptions): FactRead | undefined =>
    factOf(factId, st.factVersions.all(factId) as VersionCols[], opts, scorer(), staleRead)

  /**
   * Every fact, streamed: the live versions in the order of reads.ts compareFactsListed (a fact's rows
   * are consecutive, since fact_id names its entity), one fact built at a time.
   */
  function* facts(x: FactsQuery): Generator<FactRead> {
    const inChannel = x.channel === undefined ? '' : 'WHERE entity IN (SELECT entity FROM versions WHERE channel = ?) '
    const rows = db
      .prepare(
        `SELECT ${versionCols} FROM versions v JOIN (SELECT entity, max(wall_ms) AS newest FROM versions ${inChannel}` +
          'GROUP BY entity) m ON m.entity = v.entity ORDER BY m.newest, v.fact_id',
      )
      .iterate(...(x.channel === undefined ? [] : [x.channel])) as Iterable<VersionCols & { fact_id: string }>
    const score = scorer()
    // one stale read per listing, however many of its facts had stale versions
    let counted = false
    const stale = (): void => {
      if (!counted) staleRead()
      counted = true
    }
    let group: (VersionCols & { fact_id: string })[] = []
    const flush = (): FactRead | undefined => {
      const first = group[0]
      const f = first === undefined ? undefined : factOf(first.fact_id, group, x, score, stale)
      group = []
      return f
    }
    for (const c of rows) {
      if (group.length > 0 && (group[0] as { fact_id: string }).fact_id !== c.fact_id) {
        const f = flush()
        if (f !== undefined) yield f
      }
      group.push(c)
    }
    const f = flush()
    if (f !== undefined) yield f
  }

  /** WHERE clauses of tail and search: channel, tag, author, stale, since. */
  const entryFilter = (
    x: EntryQuery & { sinceMs?: number | undefined },
  ): { where: string[]; args: (string | number)[] } => {
    const where = ['v.channel IS NOT NULL']
    const args: (string | number)[] = []
    if (x.channel !== undefined) {
      where.push('v.channel = ?')
      args.push(x.channel)
    }
    if (x.author !== undefined) {
      where.push('v.author = ?')
      args.push(x.author)
    }
    if (x.tag !== undefined) {
      where.push('EXISTS (SELECT 1 FROM json_each(v.tags) AS t WHERE t.value = ?)')
      args.push(x.tag)
    }
    if (x.includeStale !== true) {
      where.push('(v.expires_ms IS NULL OR v.expires_ms > ?)')
      args.push(x.nowMs)
    }
    if (x.sinceMs !== undefined) {
      where.push('v.wall_ms >= ?')
      args.push(x.sinceMs)
    }
    return { where, args }
  }

  const entryOf = (
    c: VersionCols & { ticket_id: string | null },
    nowMs: number,
    score: (a: string) => number,
  ): EntryRead => ({
    ...readOf(versionRow(c), nowMs, score),
    conflict: c.ticket_id !== null,
    ticket_id: c.ticket_id,
  })

  const entries = (x: EntryQuery): EntryRead[] => {
    const { where, args } = entryFilter(x)
    const limit = x.limit === undefined ? -1 : x.limit
    const rows = db
      .prepare(
        `SELECT ${versionCols}, (SELECT t.ticket_id FROM tickets t WHERE t.fact_id = v.fact_id) AS ticket_id ` +
          `FROM versions v WHERE ${where.join(' AND ')} ` +
          'ORDER BY v.wall_ms DESC, v.logical DESC, v.author DESC, v.seq DESC LIMIT ?',
      )
      .all(...args, limit) as (VersionCols & { ticket_id: string | null })[]
    const score = scorer()
    const out = rows.map((c) => entryOf(c, x.nowMs, score))
    if (x.includeStale === true ? out.some((e) => e.stale) : hidStale(x, rows, limit)) staleRead()
    return out
  }

  /**
   * Did the stale filter of this tail hide an entry it would have shown: a stale entry matching the
   * other filters, newer than the last row shown (any, when fewer than limit rows came)? One indexed
   * probe, LIMIT 1, over at most the rows the tail itself walked past (entries_by_time, newest first;
   * `+v.expires_ms` keeps the planner off the expiry index, which would walk stale entries oldest first).
   */
  const hidStale = (x: EntryQuery, rows: readonly VersionCols[], limit: number): boolean => {
    if (limit === 0) return false
    const { where, args } = entryFilter({ ...x, includeStale: true })
    where.push('+v.expires_ms <= ?')
    args.push(x.nowMs)
    const last = rows[rows.length - 1]
    if (limit > 0 && rows.length >= limit && last !== undefined) {
      where.push('(v.wall_ms, v.logical, v.author, v.seq) > (?, ?, ?, ?)')
      args.push(last.wall_ms, last.logical, last.author, last.seq)
    }
    const sql = `SELECT 1 AS x FROM versions v WHERE ${where.join(' AND ')} ORDER BY v.wall_ms DESC, v.logical DESC LIMIT 1`
    return db.prepare(sql).get(...args) !== undefined
  }

  /**
   * BM25 top `limit` over the entries' words (fts.ts searchTop: the same entries and ranks as plain FTS5
   * ranking, up to ties at the last rank), best first (rank, then shorter, then newer).
   */
  const search = (x: SearchQuery): SearchHit[] => {
    const terms = fts.queryTerms(x.text)
    if (terms.length === 0 || x.limit <= 0) return []
    const { where, args } = entryFilter(x)
    const scope: fts.Scope = {
      join: (sk) => `versions v ON v.rowid = ${fts.keyIdSql(sk)}`,
      where: ` AND ${where.join(' AND ')}`,
      params: args,
    }
    const hits = fts.searchTop(db, terms, scope, x.limit)
    const score = scorer()
    const out = hits.map((h) => {
      const c = st.searchRow.get(fts.keyId(h.sk)) as VersionCols & { ticket_id: string | null }
      return { ...entryOf(c, x.nowMs, score), score: -h.rank }
    })
    // the stale entries it showed (includeStale); those its filter hid are not looked for (a second
    // full-text query, as costly as the search)
    if (out.some((e) => e.stale)) staleRead()
    return out
  }

  const openTickets = (): TicketRow[] =>
    (st.tickets.all() as TicketCols[])
      .map(ticketRow)
      .sort((a, b) => knowledge.compareTimes(a.opened_at, b.opened_at) || byTicketId(a, b))
  const resolvedTickets = (): ResolvedTicketRow[] =>
    (st.resolved.all() as ResolvedCols[])
      .map(resolvedRow)
      .sort((a, b) => knowledge.compareTimes(a.resolved_at, b.resolved_at) || byTicketId(a, b))
  const ticket = (id: string): Ticket | undefined => {
    const o = st.ticket.get(id) as TicketCols | undefined
    if (o !== undefined) return { state: 'open', ticket: ticketRow(o) }
    const r = st.resolvedOne.get(id) as ResolvedCols | undefined
    return r === undefined ? undefined : { state: 'resolved', ticket: resolvedRow(r) }
  }
  const trust = (): TrustRow[] =>
    (st.trust.all() as { author: string; agreed: number; disagreed: number }[])
      .map((r) => ({
        author: r.author as AuthorId,
        agreed: r.agreed,
        disagreed: r.disagreed,
        score: r.agreed - r.disagreed,
      }))
      .sort((a, b) => knowledge.compareStrings(a.author, b.author))
  const mine = (q: TaskQuery) => (r: TaskRow) => {
    if (q.mine === undefined) return true
    const m = q.mine
    const assigned = r.assignee !== null && (r.assignee === m.author || r.assignee === m.name)
    return assigned || r.claimed_by === m.author
  }
  const tasks = (q: TaskQuery = {}): TaskRow[] =>
    (st.tasks.all() as TaskCols[]).map(taskRow).filter(mine(q)).sort(compareByCreation)
  const readyTasks = (q: TaskQuery = {}): TaskRow[] =>
    (st.ready.all() as TaskCols[]).map(taskRow).filter(mine(q)).sort(compareByCreation)
  const counterRows = (rows: unknown[]): CounterRow[] =>
    (rows as { name: string; author: string; p: number; n: number }[]).map((r) => ({
      name: r.name,
      author: r.author as AuthorId,
      p: r.p,
      n: r.n,
    }))
  const counters = (): CounterRead[] =>
    counterReads(counterRows(st.counters.all())).sort((a, b) => knowledge.compareStrings(a.name, b.name))
  const configs = (): ConfigRow[] =>
    (st.configs.all() as ConfigCols[]).map(configRow).sort((a, b) => knowledge.compareStrings(a.key, b.key))

  const dump = (): Dump => ({
    versions: (st.versions.all() as VersionCols[]).map(versionRow).sort(knowledge.compareVersions),
    tickets: openTickets().sort(byTicketId),
    resolved: resolvedTickets().sort(byTicketId),
    trust: trust(),
    statuses: (st.statuses.all() as StatusCols[])
      .map(statusRow)
      .sort((a, b) => knowledge.compareStrings(a.author, b.author)),
    agents: (st.agents.all() as AgentCols[])
      .map(agentRow)
      .sort((a, b) => knowledge.compareStrings(a.author, b.author)),
    tasks: (st.tasks.all() as TaskCols[])
      .map(taskRow)
      .sort((a, b) => knowledge.compareStrings(a.task_id, b.task_id)),
    counters: counters().flatMap((c) => c.authors),
    configs: configs(),
    idempotency: (st.idems.all() as IdemCols[])
      .map(idempotencyRow)
      .sort(
        (a, b) =>
          knowledge.compareStrings(a.author, b.author) ||
          knowledge.compareStrings(a.idempotency_key, b.idempotency_key),
      ),
  })

  return {
    fact,
    facts,
    history: (factId) =>
      knowledge.factHistory(knowledge.viewsOf(viewsWrite.loadEntity(writerOf(s), `fact:${factId}`)), factId),
    entries,
    search,
    openTickets,
    resolvedTickets,
    ticket,
    trust,
    statuses: () =>
      (st.statuses.all() as StatusCols[])
        .map(statusRow)
        .sort((a, b) => knowledge.compareStrings(a.author, b.author)),
    agents: () =>
      (st.agents.all() as AgentCols[])
        .map(agentRow)
        .sort((a, b) => knowledge.compareStrings(a.author, b.author)),
    task: (id) => {
      const c = st.task.get(id) as TaskCols | undefined
      return c === undefined ? undefined : taskRow(c)
    },
    tasks,
    readyTasks,
    counter: (name) => counterReads(counterRows(st.counter.all(name)))[0],
    counters,
    config: (key) => {
      const c = st.config.get(key) as ConfigCols | undefined
      return c === undefined ? undefined : configRow(c)
    },
    configs,
    idempotent: (author, key) => {
      const c = st.idem.get(author, key) as IdemCols | undefined
      return c === undefined ? undefined : idempotencyRow(c)
    },
    counts: () => counts(s),
    dump,
  }
}

/**
 * A user's words as a safe FTS5 query: every word (fts.ts tokenize: letters, digits, `_`) quoted, all of
 * them required. No FTS5 syntax of the user's (quotes, `*`, NEAR, `-`, column filters) survives: it is
 * split away with the other punctuation. undefined when no word is left.
 */
export function ftsQuery(text: string): string | undefined {
  const terms = fts.queryTerms(text)
  return terms.length === 0 ? undefined : fts.matchExpr(terms)
}

function counts(s: OpLog): ViewCounts {
  const one = (sql: string, ...args: number[]): number =>
    (s.db.prepare(sql).get(...args) as { n: number | null }).n ?? 0
  const byChannel: Record<Channel, number> = { discoveries: 0, patterns: 0, warnings: 0 }
  for (const r of s.db
    .prepare('SELECT channel, count(*) AS n FROM versions WHERE channel IS NOT NULL GROUP BY channel')
    .all() as { channel: Channel; n: number }[])
    byChannel[r.channel] = r.n
  const resolved = one('SELECT count(*) AS n FROM resolved')
  return {
    facts: one('SELECT count(DISTINCT fact_id) AS n FROM versions'),
    live_versions: one('SELECT count(*) AS n FROM versions'),
    entries_by_channel: byChannel,
    open_tickets: one('SELECT count(*) AS n FROM tickets'),
    resolved_tickets: resolved,
    time_to_verify_ms_mean: resolved === 0 ? null : one('SELECT avg(time_to_verify_ms) AS n FROM resolved'),
    tasks: one('SELECT count(*) AS n FROM tasks'),
    counters: one('SELECT count(DISTINCT name) AS n FROM counters'),
    agents: one('SELECT count(*) AS n FROM agents'),
  }
}

// ---- maintenance

/**
 * Drops and recomputes every view table from the op log, in one transaction: repairs damaged views and
 * gives the same rows as the incremental maintenance did (the differential tests check it).
 */
export function rebuild(s: OpLog): void {
  const staleReads = s.views?.staleReads ?? 0 // counted, not written yet: kept
  const w = opLog.transaction(s, () => {
    s.views = viewsWrite.rebuildViews(s.db)
    return s.views
  })
  w.staleReads += staleReads
  s.viewsProblem = undefined
  opLog.shrinkWal(s)
}

/**
 * TTL purge: versions that expired at or before nowMs - graceMs leave the views (see the header);
 * returns how many went (also added to the purge counter of the metrics).
 */
export function purgeExpired(s: OpLog, nowMs: number, graceMs: number): number {
  core.assert(
    Number.isSafeInteger(nowMs) && Number.isSafeInteger(graceMs) && graceMs >= 0,
    'store: purge needs integer nowMs and graceMs >= 0',
  )
  const w = writerOf(s)
  return opLog.transaction(s, () => {
    const mark = Math.max(viewsWrite.metaValue(w, viewsWrite.meta.purgeWatermarkMs), nowMs - graceMs)
    w.st.metaSet.run(viewsWrite.meta.purgeWatermarkMs, mark)
    const gone = s.db
      .prepare('DELETE FROM versions WHERE expires_ms <= ? RETURNING rowid AS id, channel, text, value, tags')
      .all(mark)
    viewsWrite.deleteVersions(w, gone)
    const n = gone.length
    viewsWrite.addToMeta(w, viewsWrite.meta.purgedVersions, n)
    return n
  })
}

/** The store's figures for `grapevine metrics` (design.md section 10) that the store itself can tell. */
export type StoreMetrics = {
  readonly ops: number
  readonly ops_by_kind: Readonly<Record<string, number>>
  /** Ops a peer sent that this store already held (ignored on ingest). */
  readonly duplicate_ops_ignored: number
  readonly forks: number
  /**
   * Ops taken out of the log by a revocation (op-log.ts quarantine: a revoked node's ops past its cutoff
   * that this node took before it knew), kept aside for audit in revoked_ops.
   */
  readonly revoked_ops_quarantined: number
  readonly invalid_ops: number
  readonly unknown_kind_ops: number
  /** Ops without effect because an earlier op of their author had the same idempotency key. */
  readonly shadowed_ops: number
  readonly views: ViewCounts
  readonly ttl_purged_versions: number
  readonly purge_watermark_ms: number
  /**
   * Reads where TTL changed what was seen (design.md section 10 "stale reads"): a fact read (fact get,
   * a listing of facts or an export, counted once per call) among whose live versions one was stale
   * (hidden, or shown with include_stale); a tail that hid a stale entry it would have shown, or showed
   * one; a search that showed one (one it hid is not looked for). Counted by every connection of this
   * store, written with its next write or when it closes (a count is dropped if another process holds
   * the write lock at that moment); kept by a rebuild.
   */
  readonly stale_reads: number
  /** Channel entries stale at nowMs and not yet purged from the views; null when no time was given. */
  readonly stale_entries_now: number | null
  /** page_count * page_size of the main file (the WAL is beside it; src/store reads no files). */
  readonly db_bytes: number
  readonly free_bytes: number
  /** Bytes of the full-text index's pages (dbstat), or null where SQLite lacks dbstat. */
  readonly fts_bytes: number | null
  /** The views could not be used: why (rebuild repairs them); null when they are sound. */
  readonly views_problem: string | null
}

export function metrics(s: OpLog, nowMs?: number): StoreMetrics {
  const w = writerOf(s)
  const db = s.db
  const one = (sql: string): number => (db.prepare(sql).get() as { n: number | null }).n ?? 0
  const byKind: Record<string, number> = {}
  for (const r of db.prepare('SELECT kind, count(*) AS n FROM ops GROUP BY kind ORDER BY kind').all() as {
    kind: string
    n: number
  }[])
    byKind[r.kind] = r.n
  let ftsBytes: number | null
  try {
    ftsBytes = one("SELECT sum(pgsize) AS n FROM dbstat WHERE name LIKE 'versions_fts%' OR name LIKE 'search_%'")
  } catch {
    ftsBytes = null // reason: SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
  }
  const pageSize = one('SELECT page_size AS n FROM pragma_page_size')
  return {
    ops: Object.values(byKind).reduce((a, b) => a + b, 0),
    ops_by_kind: byKind,
    duplicate_ops_ignored: viewsWrite.metaValue(w, viewsWrite.meta.duplicateOps),
    forks: one('SELECT count(*) AS n FROM forks'),
    revoked_ops_quarantined: opLog.quarantinedCount(s),
    invalid_ops: viewsWrite.metaValue(w, viewsWrite.meta.invalidOps),
    unknown_kind_ops: viewsWrite.metaValue(w, viewsWrite.meta.unknownKindOps),
    shadowed_ops: one('SELECT count(*) AS n FROM op_entity WHERE shadowed = 1'),
    views: counts(s),
    ttl_purged_versions: viewsWrite.metaValue(w, viewsWrite.meta.purgedVersions),
    purge_watermark_ms: viewsWrite.metaValue(w, viewsWrite.meta.purgeWatermarkMs),
    stale_reads: viewsWrite.metaValue(w, viewsWrite.meta.staleReads) + w.staleReads,
    stale_entries_now:
      nowMs === undefined
        ? null
        : one(`SELECT count(*) AS n FROM versions WHERE expires_ms <= ${Math.trunc(nowMs)} AND channel IS NOT NULL`),
    db_bytes: one('SELECT page_count AS n FROM pragma_page_count') * pageSize,
    free_bytes: one('SELECT freelist_count AS n FROM pragma_freelist_count') * pageSize,
    fts_bytes: ftsBytes,
    views_problem: s.viewsProblem ?? null,
  }
}
