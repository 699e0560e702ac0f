/**
 * The node's operations, once, for every edge: the CLI (cli-*.ts), the HTTP API (http.ts) and the MCP
 * server call these, so a fact is published, read and verified the same way whichever way it came in.
 *
 * An operation takes the open node (`Local`) and a plain object, and returns exactly the document the
 * CLI prints with `--json` (format.ts). `call(l, name, input)` first checks an input that came from
 * outside (an HTTP body, an MCP tool call) against the operation's zod schema: the shape and the types
 * (zod's messages, naming the field). The values themselves (a channel, a duration, a count, a key) are
 * checked inside the operation by the CLI's own parsers (parse.ts, parseChannel, ...), so every edge
 * refuses a bad value with the same message and limits. Typed callers (the CLI, whose options are parsed
 * already) call the operation functions directly, and never load zod for it.
 *
 * Failures are one type, ServiceError, with a kind each edge maps once: bad_input (HTTP 400, CLI exit 2),
 * not_found (404, exit 1), conflict (409, exit 1: the request is fine but the state refuses it, e.g. a
 * task already done), unavailable (503, exit 1: the store refused the write).
 */
import { randomBytes } from 'node:crypto'
import * as z from 'zod'
import * as core from '../core/index.ts'
import type { Json, Result } from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import type { Channel, DotRef, EntryRead, FactRead, Health, HistoryRow, TaskRow, TicketRow } from '../knowledge/index.ts'
import * as log from '../log/index.ts'
import type { AuthorId, SignedOp } from '../log/index.ts'
import { fleetHome, local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import { opLog, searchWords } from '../store/index.ts'
import type { Intent, Reads, SearchHit } from '../store/index.ts'
import * as fmt from './format.ts'
import { parseCount, parseDuration, parseTime } from './parse.ts'

// ---- the one error

/**
 * bad_input: the request itself is wrong (fix it); not_found: no such fact, task, ticket; conflict: the
 * state refuses it (a task already done, a ticket already resolved); forbidden: this node may not do it
 * (a write outside its fleet capabilities); unavailable: the store or the daemon cannot serve it now.
 */
export type ServiceErrorKind = 'bad_input' | 'not_found' | 'conflict' | 'forbidden' | 'unavailable'

/** A failure of an operation the caller can act on: its kind (mapped once per edge) and one line saying what to do. */
export class ServiceError extends Error {
  readonly kind: ServiceErrorKind
  constructor(kind: ServiceErrorKind, message: string) {
    super(message)
    this.kind = kind
    this.name = 'ServiceError'
  }
}

function badInput(message: string): never {
  throw new ServiceError('bad_input', message)
}

/** Unwraps a parser's result: a failure is bad input, with the parser's message. */
export function must<T>(r: Result<T, string>): T {
  if (!r.ok) badInput(r.detail)
  return r.value
}

/** Where an operation says something that is not an error (the CLI prints it on stderr as a note). */
export type Notes = (message: string) => void

const ignore: Notes = () => undefined

// ---- value parsers shared by every edge (the CLI registers them as its options' parsers)

const utf8 = new TextEncoder()

/** A channel name: one of the channels, or a message naming them. */
export function parseChannel(text: string): Result<Channel, 'bad_channel'> {
  const c = knowledge.channels.find((x) => x === text)
  return c === undefined
    ? core.fail('bad_channel', `unknown channel ${JSON.stringify(text)}: use one of ${knowledge.channels.join(', ')}`)
    : core.ok(c)
}

/** A health value. */
export function parseHealth(text: string): Result<Health, 'bad_health'> {
  const h = knowledge.healths.find((x) => x === text)
  return h === undefined
    ? core.fail('bad_health', `unknown health ${JSON.stringify(text)}: use one of ${knowledge.healths.join(', ')}`)
    : core.ok(h)
}

/** An idempotency key: 1..256 bytes of UTF-8 (the log's limit). */
export function parseKey(text: string): Result<string, 'bad_key'> {
  const n = utf8.encode(text).length
  if (n === 0 || n > log.idempotencyKeyBytesMax || !text.isWellFormed()) {
    return core.fail('bad_key', `bad idempotency key: use 1..${log.idempotencyKeyBytesMax} bytes of text (it is ${n})`)
  }
  return core.ok(text)
}

/** A counter step: a non-zero integer within the kind's limit. */
export function parseStep(text: string): Result<number, 'bad_step'> {
  const n = /^[+-]?\d{1,10}$/.test(text.trim()) ? Number(text) : NaN
  const max = knowledge.counterStepAbsMax
  if (!Number.isSafeInteger(n) || n === 0 || Math.abs(n) > max) {
    return core.fail('bad_step', `bad counter step ${JSON.stringify(text)}: use a non-zero whole number from -${max} to ${max}`)
  }
  return core.ok(n)
}

/** The most entries tail returns, ops log returns, and hits search returns. */
export const tailMax = 10_000
export const logMax = 100_000
export const searchLimitMax = 1000

// ---- writing

/** A body for a new op, checked by the knowledge layer: a refused field is bad input. */
export function draft(kind: knowledge.KindName, input: Record<string, unknown>, idempotencyKey?: string): Intent {
  const d = knowledge.draftBody(kind, input)
  if (!d.ok) badInput(explain(d))
  return { kind: d.value.kind, body: d.value.body, idempotencyKey }
}

/** A body failure as one line, with a hint for the fields people type. */
function explain(f: knowledge.BodyFailure): string {
  const hints: Record<string, string> = {
    fact_id: `a fact id is 1..${knowledge.factIdBytesMax} bytes with no control characters`,
    value: `keep values under ${knowledge.valueBytesMax} bytes; put files elsewhere and publish their path`,
    text: `shorten the text to at most ${knowledge.textBytesMax} bytes`,
    supersedes: `the fact has more than ${knowledge.supersedesMax} live versions: verify it first`,
    observed: `the fact has more than ${knowledge.supersedesMax} live versions: verify it first`,
  }
  const field = f.field.replace(/\[.*$/, '').replace(/\..*$/, '')
  const hint = hints[field]
  return hint === undefined ? f.detail : `${f.detail} (${hint})`
}

/** This node's capabilities when its home is in a fleet (read once per Local); undefined: no fleet, any write. */
const ownCaps = new WeakMap<Local, readonly log.Capability[] | null>()

/**
 * Refuses a write outside this node's capabilities (its credential in fleet.json): every peer would drop
 * the op, so it is not written at all. A home in no fleet writes anything, as before.
 */
export function checkCaps(l: Local, intents: readonly Intent[]): void {
  let caps = ownCaps.get(l)
  if (caps === undefined) {
    const f = fleetHome.load(l.home, l.identity)
    if (!f.ok && f.reason !== 'missing') throw new ServiceError('unavailable', `the fleet file is unreadable: ${f.detail}`)
    caps = f.ok ? f.value.credential.caps : null
    ownCaps.set(l, caps)
  }
  if (caps === null) return
  for (const i of intents) {
    if (!log.mayWrite(caps, i.kind, i.body)) {
      throw new ServiceError('forbidden', `this node may not write ${i.kind}${describeTarget(i.body)}: its fleet capabilities are ${caps.join(',')} (ask the fleet's root for an invite with more, then grapevine join it)`)
    }
  }
}

function describeTarget(body: unknown): string {
  const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
  const parts: string[] = []
  if (typeof b['channel'] === 'string') parts.push(`channel ${b['channel']}`)
  if (typeof b['fact_id'] === 'string') parts.push(`fact ${b['fact_id']}`)
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`
}

/** Writes intents as this node (local.commit); a store that refuses them is unavailable. */
export function commit(l: Local, intents: readonly Intent[]): { ops: readonly SignedOp[]; written: readonly boolean[] } {
  checkCaps(l, intents)
  const r = local.commit(l, intents)
  if (!r.ok) throw new ServiceError('unavailable', `the store refused the write: ${r.detail}`)
  return r.value
}

// ---- reading helpers (the CLI's human output reads the same rows)

/** Reads now, or as of a time (an ISO date or an age): the reference model over the ops recorded by then. */
export function readsAt(l: Local, asOf: string | undefined): { r: Reads; nowMs: number } {
  const nowMs = l.clock.nowMs()
  if (asOf === undefined) return { r: local.reads(l), nowMs }
  const t = must(parseTime(asOf, nowMs))
  return { r: local.readsAsOf(l, t), nowMs: t }
}

/** An author: 64 hex characters, or the name of an agent this node has heard of. */
export function resolveAuthor(r: Reads, text: string): AuthorId {
  const id = log.parseAuthorId(text)
  if (id.ok) return id.value
  const named = r.agents().filter((a) => a.name === text)
  if (named.length === 1) return (named[0] as knowledge.AgentRow).author
  if (named.length > 1) badInput(`${named.length} agents are named ${JSON.stringify(text)}: give the author id (grapevine fleet lists them)`)
  return badInput(`no agent named ${JSON.stringify(text)} and not an author id (64 hex characters): grapevine fleet lists the agents`)
}

/** The live versions of a fact as this node sees them, stale ones included: what a new write supersedes. */
function liveDots(r: Reads, factId: string, nowMs: number): DotRef[] {
  return r.fact(factId, { nowMs, includeStale: true })?.versions.map((v) => v.dot) ?? []
}

/** A fact, or not_found saying why there is none. */
function factOrFail(r: Reads, factId: string, nowMs: number, includeStale: boolean): FactRead {
  const f = r.fact(factId, { nowMs, includeStale })
  if (f !== undefined) return f
  if (!includeStale && r.fact(factId, { nowMs, includeStale: true }) !== undefined) {
    throw new ServiceError('not_found', `fact ${JSON.stringify(factId)} has only stale versions (past their TTL): add --include-stale to see them`)
  }
  const past = r.history(factId).length > 0
  throw new ServiceError(
    'not_found',
    past
      ? `fact ${JSON.stringify(factId)} has no live version (it was retracted or superseded): grapevine fact history ${factId} shows its past`
      : `unknown fact ${JSON.stringify(factId)}: nothing was ever written under this id here (check the id, or sync first)`,
  )
}

function taskOrFail(r: Reads, id: string): TaskRow {
  const t = r.task(id)
  if (t === undefined) throw new ServiceError('not_found', `unknown task ${JSON.stringify(id)}: grapevine task list shows the tasks this node knows (sync first if it was created elsewhere)`)
  return t
}

/** Open, and every task it depends on done. */
export function isReady(r: Reads, t: TaskRow): boolean {
  return t.state === 'open' && t.depends.every((d) => r.task(d)?.state === 'done')
}

/** A new task's id: 10 hex characters (40 random bits), short enough to type. */
function newTaskId(): string {
  return randomBytes(5).toString('hex')
}

const on = (v: boolean | string | undefined): boolean => v === true || v === 'true' || v === '1'
const opt = <T>(v: T | undefined, f: (v: T) => unknown) => (v === undefined ? undefined : f(v))

// ---- inputs (the zod schemas, built on first use: a CLI read never loads zod)

function buildSchemas() {
  const text = z.string()
  /** A number, or its text (an HTTP query parameter): the operation parses it. */
  const num = z.union([z.number(), z.string()])
  /** true/false, or their text (a query parameter: true, false, 1, 0). */
  const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
  // reason: zod's JSON type is the same set of values as core's Json, spelled differently
  const json = z.json() as unknown as z.ZodType<Json>
  const none = z.strictObject({})
  const id = z.strictObject({ id: text })
  return {
    publish: z.strictObject({
      text,
      channel: text.optional(),
      tags: z.array(text).optional(),
      ttl: num.optional(),
      idempotency_key: text.optional(),
      verified: flag.optional(),
    }),
    tail: z.strictObject({ n: num.optional(), channel: text.optional(), include_stale: flag.optional(), as_of: text.optional() }),
    search: z.strictObject({
      q: text,
      limit: num.optional(),
      channel: text.optional(),
      tag: text.optional(),
      author: text.optional(),
      since: text.optional(),
    }),
    factGet: z.strictObject({ id: text, include_stale: flag.optional(), as_of: text.optional() }),
    factSet: z.strictObject({ id: text, value: json, verified: flag.optional(), ttl: num.optional() }),
    factRetract: z.strictObject({ id: text, reason: text.optional() }),
    factHistory: id,
    conflicts: none,
    verify: z.strictObject({ id: text, value: json }),
    statusSet: z.strictObject({ text, health: text.optional(), working_on: text.optional() }),
    fleet: none,
    taskAdd: z.strictObject({ title: text, depends: z.array(text).optional(), assign: text.optional() }),
    taskClaim: id,
    taskRelease: id,
    taskDone: z.strictObject({ id: text, result: json.optional() }),
    taskList: z.strictObject({ ready: flag.optional(), mine: flag.optional() }),
    counterAdd: z.strictObject({ name: text, n: num.optional() }),
    counterGet: z.strictObject({ name: text }),
    log: z.strictObject({ n: num.optional(), author: text.optional(), as_of: text.optional() }),
    export: z.strictObject({ channel: text.optional() }),
    metrics: none,
  }
}

type Schemas = ReturnType<typeof buildSchemas>
let schemasBuilt: Schemas | undefined

/** The input schemas of the operations, by name (the MCP server lists them as its tools' inputs). */
export function schemas(): Schemas {
  schemasBuilt ??= buildSchemas()
  return schemasBuilt
}

export type OpName = keyof Schemas
export type Input<N extends OpName> = z.infer<Schemas[N]>

// ---- the operations

/** Publishes an entry of a channel: the fact --json shape plus written (false: the idempotency key was used before). */
export function publish(l: Local, i: Input<'publish'>, note: Notes = ignore): Record<string, Json> {
  if (i.text.trim() === '') badInput('nothing to publish: give the text of the entry')
  const key = opt(i.idempotency_key, (k) => must(parseKey(k)))
  const channel = i.channel === undefined ? 'discoveries' : must(parseChannel(i.channel))
  const ttl = opt(i.ttl, (t) => must(parseDuration(String(t))))
  const intent = draft('fact.assert', { value: i.text, channel, tags: i.tags, ttl_seconds: ttl, verified: on(i.verified), supersedes: [] }, key as string | undefined)
  const w = commit(l, [intent])
  const op = (w.ops[0] as SignedOp).op
  const factId = knowledge.entryFactId(op.author, op.idempotencyKey, op.seq)
  const r = local.reads(l)
  const f = r.fact(factId, { nowMs: l.clock.nowMs(), includeStale: true })
  const written = w.written[0] === true
  const firstBody = op.body as { value?: unknown } | null
  if (!written && (firstBody === null || firstBody.value !== i.text)) {
    note(`idempotency key ${JSON.stringify(key)} was first used for a different text; that entry stands and nothing was written`)
  }
  const doc = f === undefined ? { fact_id: factId } : fmt.factJson(f, fmt.namesOf(r.agents()))
  return { ...doc, written }
}

/** The latest entries, oldest of them first, as rows (tail's human lines) with their names and time. */
export function entries(l: Local, i: Input<'tail'>): { rows: EntryRead[]; names: fmt.Names; nowMs: number } {
  const n = i.n === undefined ? 20 : must(parseCount(String(i.n), tailMax))
  const channel = opt(i.channel, (c) => must(parseChannel(c))) as Channel | undefined
  const { r, nowMs } = readsAt(l, i.as_of)
  const rows = r.entries({ nowMs, channel, includeStale: on(i.include_stale), limit: n }).reverse()
  return { rows, names: fmt.namesOf(r.agents()), nowMs }
}

export function tail(l: Local, i: Input<'tail'>): Json[] {
  const { rows, names } = entries(l, i)
  return rows.map((e) => fmt.entryJson(e, names))
}

/** Entries that contain every word of the query, best first, as rows. */
export function searchHits(l: Local, i: Input<'search'>): { hits: SearchHit[]; names: fmt.Names; nowMs: number } {
  if (searchWords(i.q).length === 0) badInput('search needs at least one word (letters or digits)')
  const limit = i.limit === undefined ? 20 : must(parseCount(String(i.limit), searchLimitMax))
  const channel = opt(i.channel, (c) => must(parseChannel(c))) as Channel | undefined
  const nowMs = l.clock.nowMs()
  const sinceMs = opt(i.since, (s) => must(parseTime(s, nowMs))) as number | undefined
  const r = local.reads(l)
  const author = opt(i.author, (a) => resolveAuthor(r, a)) as AuthorId | undefined
  const hits = r.search({ text: i.q, limit, channel, tag: i.tag, author, sinceMs, nowMs })
  return { hits, names: fmt.namesOf(r.agents()), nowMs }
}

export function search(l: Local, i: Input<'search'>): Json[] {
  const { hits, names } = searchHits(l, i)
  return hits.map((h) => fmt.entryJson(h, names))
}

/** A fact as a row (fact get's human lines). */
export function factRead(l: Local, i: Input<'factGet'>): { f: FactRead; names: fmt.Names; nowMs: number } {
  const { r, nowMs } = readsAt(l, i.as_of)
  return { f: factOrFail(r, i.id, nowMs, on(i.include_stale)), names: fmt.namesOf(r.agents()), nowMs }
}

export function factGet(l: Local, i: Input<'factGet'>): Record<string, Json> {
  const { f, names } = factRead(l, i)
  return fmt.factJson(f, names)
}

/** Writes a keyed fact, superseding every version of it this node sees. */
export function factSet(l: Local, i: Input<'factSet'>): Record<string, Json> {
  const ttl = opt(i.ttl, (t) => must(parseDuration(String(t))))
  const supersedes = liveDots(local.reads(l), i.id, l.clock.nowMs())
  commit(l, [draft('fact.assert', { fact_id: i.id, value: i.value, supersedes, verified: on(i.verified), ttl_seconds: ttl })])
  return factGet(l, { id: i.id, include_stale: true })
}

/** Retracts the versions of a fact this node sees (not_found, saying why, if there are none). */
export function factRetract(l: Local, i: Input<'factRetract'>): Record<string, Json> {
  const r = local.reads(l)
  const observed = liveDots(r, i.id, l.clock.nowMs())
  if (observed.length === 0) factOrFail(r, i.id, l.clock.nowMs(), true) // says why there is nothing to retract
  const w = commit(l, [draft('fact.retract', { fact_id: i.id, observed, reason: i.reason })])
  const op = (w.ops[0] as SignedOp).op
  return { fact_id: i.id, retracted: observed, dot: knowledge.formatDot({ node: op.author, seq: op.seq }), reason: i.reason ?? null }
}

export function historyRows(l: Local, i: Input<'factHistory'>): { rows: HistoryRow[]; names: fmt.Names } {
  const r = local.reads(l)
  const rows = r.history(i.id)
  if (rows.length === 0) throw new ServiceError('not_found', `unknown fact ${JSON.stringify(i.id)}: nothing was ever written under this id here`)
  return { rows, names: fmt.namesOf(r.agents()) }
}

export function factHistory(l: Local, i: Input<'factHistory'>): Json[] {
  const { rows, names } = historyRows(l, i)
  return rows.map((h) => fmt.historyJson(h, names))
}

/** The open verify tickets with their facts, as rows. */
export function conflictRows(l: Local): { tickets: { t: TicketRow; f: FactRead | undefined }[]; names: fmt.Names; nowMs: number } {
  const nowMs = l.clock.nowMs()
  const r = local.reads(l)
  const tickets = r.openTickets().map((t) => ({ t, f: r.fact(t.fact_id, { nowMs, includeStale: true }) }))
  return { tickets, names: fmt.namesOf(r.agents()), nowMs }
}

export function conflicts(l: Local, _i: Input<'conflicts'> = {}): Json[] {
  const { tickets, names } = conflictRows(l)
  return tickets.map(({ t, f }) => fmt.ticketJson(t, f, names))
}

/** Writes a verified value superseding every version of a ticket (or a fact): resolves its conflict. */
export function verify(l: Local, i: Input<'verify'>): { resolved_ticket: string | null; fact: Record<string, Json> | null } {
  const nowMs = l.clock.nowMs()
  const r = local.reads(l)
  const t = r.ticket(i.id)
  let factId: string
  let supersedes: DotRef[]
  if (t?.state === 'resolved') {
    const by = knowledge.parseDotRef(t.ticket.resolved_by)
    const name = by === undefined ? t.ticket.resolved_by : fmt.authorLabel(by.node, fmt.namesOf(r.agents()))
    throw new ServiceError('conflict', `ticket ${i.id} was already resolved by ${name} with ${fmt.oneLine(fmt.valueText(t.ticket.value), 60)}: grapevine fact get ${t.ticket.fact_id} shows the fact now`)
  }
  if (t?.state === 'open') {
    factId = t.ticket.fact_id
    supersedes = [...new Set([...t.ticket.dots, ...liveDots(r, factId, nowMs)])]
  } else {
    factId = i.id
    supersedes = liveDots(r, i.id, nowMs)
    if (supersedes.length === 0) {
      throw new ServiceError('not_found', `unknown ticket or fact ${JSON.stringify(i.id)}: grapevine conflicts lists the open tickets (use grapevine fact set for a new fact)`)
    }
  }
  const winner = r.fact(factId, { nowMs, includeStale: true })?.winner
  const input: Record<string, unknown> = { fact_id: factId, value: i.value, supersedes, verified: true }
  if (winner !== undefined && winner.channel !== null) {
    // an entry stays an entry of its channel once verified
    input['channel'] = winner.channel
    input['tags'] = winner.tags
    if (typeof i.value !== 'string') input['text'] = JSON.stringify(i.value) // a string value is its own search text
  }
  const ticketBefore = r.fact(factId, { nowMs, includeStale: true })?.ticket_id ?? null
  commit(l, [draft('fact.assert', input)])
  const after = local.reads(l)
  const resolved = ticketBefore === null ? null : after.ticket(ticketBefore)?.state === 'resolved' ? ticketBefore : null
  const f = after.fact(factId, { nowMs: l.clock.nowMs(), includeStale: true })
  return { resolved_ticket: resolved, fact: f === undefined ? null : fmt.factJson(f, fmt.namesOf(after.agents())) }
}

/** Sets this agent's status; returns it as the fleet sees it. */
export function statusSet(l: Local, i: Input<'statusSet'>): Record<string, Json> {
  const health = i.health === undefined ? 'ok' : must(parseHealth(i.health))
  commit(l, [draft('status.set', { text: i.text, health, working_on: i.working_on })])
  const s = local.reads(l).statuses().find((x) => x.author === l.identity.author)
  return { author_agent_id: l.identity.author, name: l.identity.name, ...fmt.statusJson(s) }
}

export type FleetRow = ReturnType<typeof fmt.statusJson> & { author_agent_id: string; name: string | null; last_seen: string | null; me: boolean }

/** The agents this node has heard of: name, status, health, working on, last seen. */
export function fleet(l: Local, _i: Input<'fleet'> = {}): FleetRow[] {
  const r = local.reads(l)
  const names = fmt.namesOf(r.agents())
  const statuses = new Map(r.statuses().map((s) => [s.author, s]))
  const authors = [...new Set([...names.keys(), ...statuses.keys()])].sort()
  return authors.map((a) => {
    const seen = local.lastSeenMs(l, a as AuthorId)
    return {
      author_agent_id: a,
      name: names.get(a) ?? null,
      ...fmt.statusJson(statuses.get(a as AuthorId)),
      last_seen: seen === undefined ? null : new Date(seen).toISOString(),
      me: a === l.identity.author,
    }
  })
}

function taskDoc(l: Local, id: string, extra: Record<string, Json> = {}): Record<string, Json> {
  const r = local.reads(l)
  const t = r.task(id)
  core.assert(t !== undefined, 'service: a task just written exists')
  return { ...fmt.taskJson(t, fmt.namesOf(r.agents()), isReady(r, t)), ...extra }
}

/** Creates a task (every task it depends on must exist here). */
export function taskAdd(l: Local, i: Input<'taskAdd'>): Record<string, Json> {
  const id = newTaskId()
  const intent = draft('task.create', { task_id: id, title: i.title, depends: i.depends ?? [], assignee: i.assign })
  const r = local.reads(l)
  for (const d of i.depends ?? []) taskOrFail(r, d)
  commit(l, [intent])
  return taskDoc(l, id)
}

/**
 * Claims a task: the task with outcome `won` or `lost` (the earliest claim wins on every node). A lost
 * claim is an answer, not an error: each edge says how it shows it (the CLI exits 1).
 */
export function taskClaim(l: Local, i: Input<'taskClaim'>, note: Notes = ignore): Record<string, Json> {
  const r = local.reads(l)
  const t = taskOrFail(r, i.id)
  if (t.state === 'done') throw new ServiceError('conflict', `task ${i.id} is already done (by ${fmt.authorLabel(t.done_by ?? '', fmt.namesOf(r.agents()))}): nothing to claim`)
  if (knowledge.claimOutcome(t, l.identity.author) !== 'won') {
    const waiting = t.depends.filter((d) => r.task(d)?.state !== 'done')
    if (waiting.length > 0) note(`task ${i.id} waits for ${waiting.join(', ')} (not done yet)`)
    commit(l, [draft('task.claim', { task_id: i.id })])
  }
  const after = local.reads(l).task(i.id) as TaskRow
  return taskDoc(l, i.id, { outcome: knowledge.claimOutcome(after, l.identity.author) })
}

export function taskRelease(l: Local, i: Input<'taskRelease'>): Record<string, Json> {
  const t = taskOrFail(local.reads(l), i.id)
  if (!t.claims.some((c) => c.author === l.identity.author)) throw new ServiceError('conflict', `you hold no claim on task ${i.id}: nothing to release`)
  commit(l, [draft('task.release', { task_id: i.id })])
  return taskDoc(l, i.id)
}

export function taskDone(l: Local, i: Input<'taskDone'>): Record<string, Json> {
  const r = local.reads(l)
  const t = taskOrFail(r, i.id)
  if (t.state === 'done') throw new ServiceError('conflict', `task ${i.id} is already done (by ${fmt.authorLabel(t.done_by ?? '', fmt.namesOf(r.agents()))})`)
  commit(l, [draft('task.done', { task_id: i.id, result: i.result })])
  return taskDoc(l, i.id)
}

/** Tasks, oldest first, as rows (task list's human lines). */
export function taskRows(l: Local, i: Input<'taskList'>): { rows: TaskRow[]; r: Reads; names: fmt.Names } {
  const r = local.reads(l)
  const q = on(i.mine) ? { mine: { author: l.identity.author, name: l.identity.name } } : {}
  const rows = on(i.ready) ? r.readyTasks(q) : r.tasks(q)
  return { rows, r, names: fmt.namesOf(r.agents()) }
}

export function taskList(l: Local, i: Input<'taskList'>): Json[] {
  const { rows, r, names } = taskRows(l, i)
  return rows.map((t) => fmt.taskJson(t, names, isReady(r, t)))
}

export function counterAdd(l: Local, i: Input<'counterAdd'>): { name: string; value: number; added: number } {
  const step = i.n === undefined ? 1 : must(parseStep(String(i.n)))
  commit(l, [draft('counter.add', { name: i.name, n: step })])
  return { name: i.name, value: local.reads(l).counter(i.name)?.value ?? 0, added: step }
}

/** A counter's value (0 if nobody has added to it) and each author's part. */
export function counterGet(l: Local, i: Input<'counterGet'>): { name: string; value: number; authors: Json[] } {
  const r = local.reads(l)
  const c = r.counter(i.name)
  const names = fmt.namesOf(r.agents())
  const authors = (c?.authors ?? []).map((a) => ({ author_agent_id: a.author, author_name: names.get(a.author) ?? null, p: a.p, n: a.n }))
  return { name: i.name, value: c?.value ?? 0, authors }
}

/** An op as the CLI shows it (the --json shape of `log`, and of the HTTP API's event stream). */
export function opJson(e: SignedOp): Record<string, Json> {
  const o = e.op
  return {
    author: o.author,
    seq: o.seq,
    hash: log.toHex(e.hash),
    created_at: new Date(o.hlc.wallMs).toISOString(),
    hlc: `${o.hlc.wallMs}.${o.hlc.logical}`,
    kind: o.kind,
    body: o.body,
    idempotency_key: o.idempotencyKey ?? null,
  }
}

/** The op log, newest first. */
export function recentOps(l: Local, i: Input<'log'>): SignedOp[] {
  const n = i.n === undefined ? 20 : must(parseCount(String(i.n), logMax))
  const asOfMs = opt(i.as_of, (t) => must(parseTime(t, l.clock.nowMs()))) as number | undefined
  const author = opt(i.author, (a) => resolveAuthor(local.reads(l), a)) as AuthorId | undefined
  return opLog.recent(l.store, { limit: n, author, asOfMs })
}

export function recent(l: Local, i: Input<'log'>): Json[] {
  return recentOps(l, i).map(opJson)
}

/** What design.md section 10 asks for that one node's store cannot tell. */
export const notRecorded = ['publish_visible_latency (with gossip)', 'per_peer_lag (with gossip)']

/** The store's figures (grapevine metrics --json); unavailable while the views are damaged. */
export function metrics(l: Local, _i: Input<'metrics'> = {}): local.LocalMetrics & { conflict_rate: number | null; not_recorded: string[] } {
  const m = local.metrics(l)
  if (m === undefined) throw new ServiceError('unavailable', `the views are damaged (${l.store.viewsProblem ?? 'unusable'}): run grapevine rebuild, then metrics again`)
  const v = m.views
  return { ...m, conflict_rate: v.facts === 0 ? null : v.open_tickets / v.facts, not_recorded: [...notRecorded] }
}

/**
 * A fact as one export line: the `fact get --json` shape, plus the fields of the plain one-entry-per-line
 * files agents keep (discoveries.jsonl), so tools that read those read this: `text` (the value, when it
 * is a string and no separate text was given), `author` (the author's name, else its id) and `timestamp`
 * (when it was true from, else when it was written). Import reads either form back.
 */
export function exportLine(f: Record<string, Json>): Record<string, Json> {
  const text = f['text'] ?? (typeof f['value'] === 'string' ? f['value'] : null)
  return { ...f, text, author: f['author_name'] ?? f['author_agent_id'] ?? null, timestamp: f['valid_from'] ?? f['created_at'] ?? null }
}

/**
 * Every fact (stale ones too) as export lines (JSON text, no newline), oldest first by its newest live
 * version, streamed from the views: a million facts never sit in memory at once. The input is checked
 * now, the facts read as the lines are taken.
 */
export function exportLines(l: Local, i: Input<'export'>): Iterable<string> {
  const channel = opt(i.channel, (c) => must(parseChannel(c))) as Channel | undefined
  const nowMs = l.clock.nowMs()
  const r = local.reads(l)
  const names = fmt.namesOf(r.agents())
  return (function* () {
    for (const f of r.facts({ nowMs, includeStale: true, channel })) yield JSON.stringify(exportLine(fmt.factJson(f, names)))
  })()
}

// ---- calling an operation with outside input

const operations: { readonly [N in OpName]: (l: Local, i: Input<N>, note: Notes) => unknown } = {
  publish,
  tail,
  search,
  factGet,
  factSet,
  factRetract,
  factHistory,
  conflicts,
  verify,
  statusSet,
  fleet,
  taskAdd,
  taskClaim,
  taskRelease,
  taskDone,
  taskList,
  counterAdd,
  counterGet,
  log: recent,
  export: exportLines,
  metrics,
}

/** The operations' names. */
export const opNames = Object.keys(operations) as OpName[]

/** Checks an outside input against an operation's schema: the input, or bad_input naming the field. */
export function check<N extends OpName>(name: N, input: unknown): Input<N> {
  const r = schemas()[name].safeParse(input ?? {})
  if (r.success) return r.data as Input<N>
  const issue = r.error.issues[0]
  const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.join('.')}: `
  return badInput(`bad ${name} input: ${where}${issue?.message ?? 'invalid'}`)
}

/** Runs an operation on an outside input: its --json document, or a ServiceError. */
export function call<N extends OpName>(l: Local, name: N, input: unknown, note: Notes = ignore): unknown {
  const op = operations[name] as (l: Local, i: Input<N>, note: Notes) => unknown
  return op(l, check(name, input), note)
}
