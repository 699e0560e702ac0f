/**
 * The knowledge model: the semantics of design.md section 4 as a deterministic function of the SET of
 * ops (any delivery order, any duplicates, same rows), kept in memory and updated one op at a time. It
 * is the reference model: the SQLite store must produce the same rows (rows.ts), and the simulator uses
 * it as its in-memory store.
 *
 * What an op does (the rules the tests check one by one):
 *
 *   (1) Identity. An op is named by its dot (author, seq). The same dot again is a duplicate and does
 *       nothing. A different op with a known dot is a fork: it does nothing here (the first one stays);
 *       the log reports forks with their evidence, and the node flags the author.
 *   (2) Validity. An op whose kind is unknown or whose body its kind refuses (kinds.ts parseOp) stays in
 *       the log and has no effect.
 *   (3) Idempotency. Of an author's ops with one idempotency key, the one with the lowest seq is the op;
 *       the others have no effect, whatever arrives first (an earlier seq arriving later displaces the
 *       later one, whose entity is then rebuilt without it). `idempotent()` returns that first op, and
 *       the fact it wrote, so a store can answer a retry without writing.
 *   (4) Facts: per fact_id, an MV-register (core mvRegister): each `fact.assert` adds a version and
 *       supersedes the versions of the same fact named in `supersedes`; each `fact.retract` supersedes
 *       those named in `observed`. A version is live until an op of its fact names it, so concurrent
 *       asserts all stay live and an assert concurrent with a retract survives it (add wins). A dot that
 *       names a version of another fact, or no version at all, does nothing.
 *   (5) Entries: an assert with a `channel` is an entry of that channel; without a fact_id it gets one
 *       from the op (ids.ts entryFactId: the author and idempotency key, else the dot).
 *   (6) Conflicts: a fact whose live versions hold two or more different values has one open verify
 *       ticket, id = ticketId(fact_id, live dots). A verified assert whose superseded versions (of its
 *       fact, present) hold two or more different values resolved the ticket of those versions.
 *   (7) Trust: see rows.ts TrustRow.
 *   (8) Read winner (a query, since it depends on trust and on the time): not stale > verified > higher
 *       trust score > later HLC > greater author id. Stale: created_at.wallMs + ttl_seconds * 1000 <=
 *       nowMs; hidden unless includeStale.
 *   (9) Status and agent name: LWW per author by HLC. Config: highest version wins; on equal versions
 *       the later HLC, then the greater author.
 *  (10) Tasks: see rows.ts TaskRow. A claim is active unless its author released the task in a later op
 *       (a release only releases the releaser's own earlier claims); the earliest active claim wins.
 *       Done is for good: the latest `task.done` gives done_by, done_at and result. Ready: open (not
 *       done, no active claim), and every task in depends exists and is done.
 *  (11) Counters: per name and author, the sum of increments (p) and of decrements (n), each saturating
 *       at 2^53-1 (an order-independent bound; only a broken author gets there).
 *
 * Cost: an op costs O(live versions of its fact) (plus its verified dots), a task op O(ops of the task),
 * others O(1). Displacement by an idempotency key (3) rebuilds one entity from its ops.
 */
import * as core from '../core/index.ts'
import type { Dot, Json } from '../core/index.ts'
import type { AuthorId, EncodedOp, Op, OpTime } from '../log/index.ts'
import { toHex } from '../log/index.ts'
import { compareDotRefs, formatDot, parseDotRef, type DotRef } from './dot-ref.ts'
import { entryFactId, ticketId } from './ids.ts'
import type { BodyFailure, Channel, KnownBody } from './kinds.ts'
import { channels as allChannels, parseOp } from './kinds.ts'
import type {
  AgentRow,
  ClaimRow,
  ConfigRow,
  CounterRow,
  Dump,
  IdempotencyRow,
  ResolvedTicketRow,
  RetractRow,
  StatusRow,
  TaskRow,
  TicketRow,
  TrustRow,
  VersionRow,
} from './rows.ts'
import { compareStamps, compareStrings, compareTimes, compareVersions } from './rows.ts'

const { mvRegister, json } = core
type MvRegister = core.mvRegister.MvRegister

// ---- the state

/** One op as the model holds it. */
type Entry = {
  readonly op: Op
  readonly hash: string
  readonly dot: DotRef
  readonly known: KnownBody | undefined
  readonly failure: BodyFailure | undefined
  /** For fact ops with a valid body: the fact (given or generated). */
  readonly factId: string | undefined
  /** Displaced by an earlier op with the same idempotency key (rule 3). */
  shadowed: boolean
}

type TrustCount = { agreed: number; disagreed: number }

type FactState = {
  readonly fact_id: string
  readonly reg: MvRegister
  /** Every assert of this fact (live or not). */
  readonly versions: Map<DotRef, VersionRow>
  readonly retracts: Map<DotRef, RetractRow>
  /** A dot named by verified asserts of this fact -> those asserts. */
  readonly verifiers: Map<DotRef, DotRef[]>
  /** A verified assert -> the ticket it resolved. */
  readonly resolutions: Map<DotRef, ResolvedTicketRow>
  /** This fact's share of every author's trust (so a rebuild can take it back). */
  readonly trust: Map<AuthorId, TrustCount>
  ticket: TicketRow | undefined
  readonly entries: Entry[]
}

type TaskEntity = { readonly entries: Entry[]; row: TaskRow | undefined }
/** A register entity: its ops and the winning one. */
type RegisterEntity = { readonly entries: Entry[]; winner: Entry }
type CounterEntity = { readonly entries: Entry[]; readonly sums: Map<AuthorId, { p: number; n: number }> }

/** What apply did with ops, by outcome (delivery-dependent: not part of the rows). */
export type ViewStats = {
  /** Ops that took effect, by kind. */
  readonly appliedByKind: Map<string, number>
  duplicates: number
  forks: number
  invalid: number
  unknownKind: number
  /** Ops without effect because of an earlier op with the same idempotency key (rule 3). */
  shadowed: number
}

/** The in-memory views. Read them through the query functions below; the maps are internal. */
export type Views = {
  readonly ops: Map<DotRef, Entry>
  /** author "\n" idempotency key -> that author's ops with the key, by seq. */
  readonly byKey: Map<string, Entry[]>
  readonly facts: Map<string, FactState>
  readonly tasks: Map<string, TaskEntity>
  readonly statuses: Map<AuthorId, RegisterEntity>
  readonly agents: Map<AuthorId, RegisterEntity>
  readonly counters: Map<string, CounterEntity>
  readonly configs: Map<string, RegisterEntity>
  readonly trust: Map<AuthorId, TrustCount>
  readonly stats: ViewStats
}

export function createViews(): Views {
  return {
    ops: new Map(),
    byKey: new Map(),
    facts: new Map(),
    tasks: new Map(),
    statuses: new Map(),
    agents: new Map(),
    counters: new Map(),
    configs: new Map(),
    trust: new Map(),
    stats: { appliedByKind: new Map(), duplicates: 0, forks: 0, invalid: 0, unknownKind: 0, shadowed: 0 },
  }
}

// ---- apply

export type Outcome = 'applied' | 'duplicate' | 'fork' | 'invalid_body' | 'unknown_kind' | 'shadowed'

/**
 * A row that apply changed (or may have: a store can re-read it). A trust change can move the read
 * winner of a conflicted fact with a version by that author; a task becoming done can make the tasks
 * that depend on it ready: both are queries, not rows.
 */
export type Change =
  | { readonly view: 'fact'; readonly fact_id: string; readonly channels: readonly Channel[] }
  | { readonly view: 'ticket'; readonly ticket_id: string; readonly fact_id: string }
  | { readonly view: 'trust'; readonly author: AuthorId }
  | { readonly view: 'status'; readonly author: AuthorId }
  | { readonly view: 'agent'; readonly author: AuthorId }
  | { readonly view: 'task'; readonly task_id: string }
  | { readonly view: 'counter'; readonly name: string }
  | { readonly view: 'config'; readonly key: string }
  | { readonly view: 'idempotency'; readonly author: AuthorId; readonly idempotency_key: string }

export type ApplyResult = {
  readonly outcome: Outcome
  /** Why the op had no effect (invalid_body, unknown_kind, shadowed, fork); null otherwise. */
  readonly detail: string | null
  /** The body failure of an invalid_body or unknown_kind op, for the CLI and metrics. */
  readonly failure: BodyFailure | null
  readonly changes: readonly Change[]
}

/** Changes, each once, in the order first seen. */
type Changes = Map<string, Change>

function note(ch: Changes, c: Change): void {
  const k =
    c.view === 'fact'
      ? `fact\n${c.fact_id}`
      : c.view === 'ticket'
        ? `ticket\n${c.ticket_id}`
        : c.view === 'task'
          ? `task\n${c.task_id}`
          : c.view === 'counter'
            ? `counter\n${c.name}`
            : c.view === 'config'
              ? `config\n${c.key}`
              : c.view === 'idempotency'
                ? `idempotency\n${c.author}\n${c.idempotency_key}`
                : `${c.view}\n${c.author}`
  const prev = ch.get(k)
  if (prev !== undefined && prev.view === 'fact' && c.view === 'fact') {
    const channels = allChannels.filter((x) => prev.channels.includes(x) || c.channels.includes(x))
    ch.set(k, { view: 'fact', fact_id: c.fact_id, channels })
  } else if (prev === undefined) ch.set(k, c)
}

function result(
  outcome: Outcome,
  detail: string | null,
  failure: BodyFailure | null,
  ch: Changes,
): ApplyResult {
  return { outcome, detail, failure, changes: [...ch.values()] }
}

/**
 * Applies one op (in place) and says what it did and which rows changed. Any order, any duplicates: the
 * rows after a set of ops are the same (rules 1-3).
 */
export function apply(v: Views, e: EncodedOp): ApplyResult {
  const op = e.op
  const dot = formatDot({ node: op.author, seq: op.seq })
  const hash = toHex(e.hash)
  const ch: Changes = new Map()
  const seen = v.ops.get(dot)
  if (seen !== undefined) {
    if (seen.hash === hash) {
      v.stats.duplicates++
      return result('duplicate', null, null, ch)
    }
    v.stats.forks++
    return result('fork', `a different op ${seen.hash} already has the dot ${dot}`, null, ch) // rule (1)
  }
  const r = parseOpOnce(op) // rule (2)
  const kb = r.ok ? r.value : undefined
  const x: Entry = {
    op,
    hash,
    dot,
    known: kb,
    failure: r.ok ? undefined : r,
    factId: kb === undefined ? undefined : factIdOf(op, kb),
    shadowed: false,
  }
  v.ops.set(dot, x)

  const key = op.idempotencyKey
  if (key !== undefined) {
    // rule (3): the lowest seq with the key is the op
    const k = `${op.author}\n${key}`
    const list = v.byKey.get(k) ?? []
    const first = list[0]
    let i = list.length
    while (i > 0 && (list[i - 1] as Entry).op.seq > op.seq) i--
    list.splice(i, 0, x)
    v.byKey.set(k, list)
    if (first !== undefined && first.op.seq < op.seq) {
      x.shadowed = true
      v.stats.shadowed++
      return result('shadowed', `op ${first.dot} has the same idempotency key and comes first`, null, ch)
    }
    note(ch, { view: 'idempotency', author: op.author, idempotency_key: key })
    if (first !== undefined) {
      first.shadowed = true
      v.stats.shadowed++
      if (first.known !== undefined) {
        remove(v, first, ch)
        decrement(v.stats.appliedByKind, first.known.kind)
      }
    }
  }
  if (!r.ok) {
    if (r.reason === 'unknown_kind') v.stats.unknownKind++
    else v.stats.invalid++
    return result(r.reason === 'unknown_kind' ? 'unknown_kind' : 'invalid_body', r.detail, r, ch)
  }
  add(v, x, ch)
  v.stats.appliedByKind.set(r.value.kind, (v.stats.appliedByKind.get(r.value.kind) ?? 0) + 1)
  return result('applied', null, null, ch)
}

function decrement(m: Map<string, number>, k: string): void {
  const n = (m.get(k) ?? 0) - 1
  if (n > 0) m.set(k, n)
  else m.delete(k)
}

/** Applies every op; returns the views. */
export function applyAll(v: Views, ops: Iterable<EncodedOp>): Views {
  for (const e of ops) apply(v, e)
  return v
}

/** Views of exactly these ops. */
export function viewsOf(ops: Iterable<EncodedOp>): Views {
  return applyAll(createViews(), ops)
}

/** as_of: the ops recorded at or before asOfMs (created_at.wallMs <= asOfMs); build views of them. */
export function opsAsOf(ops: Iterable<EncodedOp>, asOfMs: number): EncodedOp[] {
  const out: EncodedOp[] = []
  for (const e of ops) if (e.op.hlc.wallMs <= asOfMs) out.push(e)
  return out
}

/**
 * parseOp, remembered per op object (ops are immutable): a store that asks for an op's entity and then
 * derives views from the same op validates its body once, not twice.
 */
const parsedOps = new WeakMap<Op, ReturnType<typeof parseOp>>()

export function parseOpOnce(op: Op): ReturnType<typeof parseOp> {
  let r = parsedOps.get(op)
  if (r === undefined) {
    r = parseOp(op)
    parsedOps.set(op, r)
  }
  return r
}

/**
 * Remembers what parseOp said of an op (the caller parsed it itself), so that parseOpOnce does not parse
 * it again: a store's writer parses every op it takes in, and remembers only those it derives views from
 * (a WeakMap entry per op costs the garbage collector more than the lone entries need).
 */
export function rememberParse(op: Op, r: ReturnType<typeof parseOp>): void {
  parsedOps.set(op, r)
}

/**
 * The entity an op belongs to: a store keeps view rows per entity and re-derives an entity's rows from
 * that entity's effective ops alone (every rule above reads only the ops of one entity, except (3),
 * which is across entities, and trust, which is a sum of per-fact shares). `fact:<fact_id>` (an entry
 * gets its generated fact_id, rule 5), `task:<task_id>`, `counter:<name>`, `config:<key>`,
 * `status:<author>`, `agent:<author>`. An op of an unknown kind or with an invalid body has none.
 */
export function entityOf(op: Op): string | undefined {
  const r = parseOpOnce(op)
  return r.ok ? entityOfKnown(op, r.value) : undefined
}

/** entityOf for an op whose body parseOp already accepted. */
export function entityOfKnown(op: Op, k: KnownBody): string {
  switch (k.kind) {
    case 'fact.assert':
    case 'fact.retract':
      return `fact:${factIdOf(op, k) as string}`
    case 'task.create':
    case 'task.claim':
    case 'task.release':
    case 'task.done':
      return `task:${k.body.task_id}`
    case 'counter.add':
      return `counter:${k.body.name}`
    case 'config.set':
      return `config:${k.body.key}`
    case 'status.set':
      return `status:${op.author}`
    case 'agent.hello':
      return `agent:${op.author}`
    default:
      return core.unreachable(k, 'knowledge: unknown kind')
  }
}

function factIdOf(op: Op, k: KnownBody): string | undefined {
  if (k.kind === 'fact.assert') return k.body.fact_id ?? entryFactId(op.author, op.idempotencyKey, op.seq)
  if (k.kind === 'fact.retract') return k.body.fact_id
  return undefined
}

function known(x: Entry): KnownBody {
  core.assert(x.known !== undefined, 'knowledge: only valid ops reach the views')
  return x.known
}

/** Adds an effective op to its entity. */
function add(v: Views, x: Entry, ch: Changes): void {
  const k = known(x)
  const op = x.op
  switch (k.kind) {
    case 'fact.assert':
    case 'fact.retract':
      addFact(v, factState(v, x.factId as string), x, ch)
      return
    case 'task.create':
    case 'task.claim':
    case 'task.release':
    case 'task.done': {
      const id = k.body.task_id
      const t: TaskEntity = v.tasks.get(id) ?? { entries: [], row: undefined }
      v.tasks.set(id, t)
      t.entries.push(x)
      t.row = taskRow(id, t.entries)
      note(ch, { view: 'task', task_id: id })
      return
    }
    case 'status.set':
      addRegister(v.statuses, op.author, x, laterStamp)
      note(ch, { view: 'status', author: op.author })
      return
    case 'agent.hello':
      addRegister(v.agents, op.author, x, laterStamp)
      note(ch, { view: 'agent', author: op.author })
      return
    case 'config.set':
      addRegister(v.configs, k.body.key, x, configBeats)
      note(ch, { view: 'config', key: k.body.key })
      return
    case 'counter.add': {
      const name = k.body.name
      const c: CounterEntity = v.counters.get(name) ?? { entries: [], sums: new Map() }
      v.counters.set(name, c)
      c.entries.push(x)
      addToCounter(c, op.author, k.body.n)
      note(ch, { view: 'counter', name })
      return
    }
    default:
      core.unreachable(k, 'knowledge: unknown kind')
  }
}

/** Takes an effective op back out (rule 3's displacement): rebuilds its entity from the other ops. */
function remove(v: Views, x: Entry, ch: Changes): void {
  const k = known(x)
  const op = x.op
  const others = (entries: readonly Entry[]): Entry[] => entries.filter((y) => y !== x)
  switch (k.kind) {
    case 'fact.assert':
    case 'fact.retract':
      rebuildFact(v, x.factId as string, x, ch)
      return
    case 'task.create':
    case 'task.claim':
    case 'task.release':
    case 'task.done': {
      const id = k.body.task_id
      const t = v.tasks.get(id) as TaskEntity
      const rest = others(t.entries)
      if (rest.length === 0) v.tasks.delete(id)
      else v.tasks.set(id, { entries: rest, row: taskRow(id, rest) })
      note(ch, { view: 'task', task_id: id })
      return
    }
    case 'status.set':
      removeFromRegister(v.statuses, op.author, x, laterStamp)
      note(ch, { view: 'status', author: op.author })
      return
    case 'agent.hello':
      removeFromRegister(v.agents, op.author, x, laterStamp)
      note(ch, { view: 'agent', author: op.author })
      return
    case 'config.set':
      removeFromRegister(v.configs, k.body.key, x, configBeats)
      note(ch, { view: 'config', key: k.body.key })
      return
    case 'counter.add': {
      const name = k.body.name
      const rest = others((v.counters.get(name) as CounterEntity).entries)
      if (rest.length === 0) v.counters.delete(name)
      else {
        const c: CounterEntity = { entries: rest, sums: new Map() }
        for (const y of rest) addToCounter(c, y.op.author, (known(y).body as { n: number }).n)
        v.counters.set(name, c)
      }
      note(ch, { view: 'counter', name })
      return
    }
    default:
      core.unreachable(k, 'knowledge: unknown kind')
  }
}

// ---- registers (status, agent, config)

function laterStamp(a: Entry, b: Entry): boolean {
  return compareStamps(a.op.hlc, a.op.author, b.op.hlc, b.op.author) > 0
}

function configBeats(a: Entry, b: Entry): boolean {
  const va = (known(a).body as { version: number }).version
  const vb = (known(b).body as { version: number }).version
  return va !== vb ? va > vb : laterStamp(a, b)
}

function addRegister<K>(
  m: Map<K, RegisterEntity>,
  id: K,
  x: Entry,
  beats: (a: Entry, b: Entry) => boolean,
): void {
  const r = m.get(id)
  if (r === undefined) m.set(id, { entries: [x], winner: x })
  else {
    r.entries.push(x)
    if (beats(x, r.winner)) r.winner = x
  }
}

function removeFromRegister<K>(
  m: Map<K, RegisterEntity>,
  id: K,
  x: Entry,
  beats: (a: Entry, b: Entry) => boolean,
): void {
  const r = m.get(id) as RegisterEntity
  const rest = r.entries.filter((y) => y !== x)
  m.delete(id)
  for (const y of rest) addRegister(m, id, y, beats)
}

// ---- counters

function addToCounter(c: CounterEntity, author: AuthorId, n: number): void {
  const s = c.sums.get(author) ?? { p: 0, n: 0 }
  // saturating sums: min(2^53-1, total) is the same in any order, since every step is positive
  if (n > 0) s.p = Math.min(Number.MAX_SAFE_INTEGER, s.p + n)
  else s.n = Math.min(Number.MAX_SAFE_INTEGER, s.n - n)
  c.sums.set(author, s)
}

/** A counter's value: sum(p) - sum(n) over its rows, computed exactly, then as the nearest number. */
export function counterValue(rows: readonly CounterRow[]): number {
  let total = 0n
  for (const r of rows) total += BigInt(r.p) - BigInt(r.n)
  return Number(total)
}

// ---- facts

function factState(v: Views, id: string): FactState {
  let f = v.facts.get(id)
  if (f === undefined) {
    f = {
      fact_id: id,
      reg: mvRegister.empty(),
      versions: new Map(),
      retracts: new Map(),
      verifiers: new Map(),
      resolutions: new Map(),
      trust: new Map(),
      ticket: undefined,
      entries: [],
    }
    v.facts.set(id, f)
  }
  return f
}

function stampOf(op: Op): core.Stamp {
  return { node: op.author, seq: op.seq, wallMs: op.hlc.wallMs, logical: op.hlc.logical }
}

function dotsOf(refs: readonly DotRef[]): Dot[] {
  return refs.map((r) => parseDotRef(r) as Dot)
}

function liveRows(f: FactState): VersionRow[] {
  return mvRegister.versions(f.reg).map((x) => f.versions.get(formatDot(x.dot)) as VersionRow)
}

function liveChannels(f: FactState | undefined): Channel[] {
  if (f === undefined) return []
  const out = new Set<Channel>()
  for (const r of liveRows(f)) if (r.channel !== null) out.add(r.channel)
  return allChannels.filter((c) => out.has(c))
}

function versionRow(
  x: Entry,
  factId: string,
  b: Extract<KnownBody, { kind: 'fact.assert' }>['body'],
): VersionRow {
  return versionRowOf(x.op, x.dot, factId, b)
}

/**
 * The version row of a `fact.assert` op (its dot and fact given): the one place a VersionRow is made,
 * so a store writing a new fact's only version without the model writes the model's row.
 */
export function versionRowOf(
  op: Op,
  dot: DotRef,
  factId: string,
  b: Extract<KnownBody, { kind: 'fact.assert' }>['body'],
): VersionRow {
  return {
    fact_id: factId,
    dot,
    author: op.author,
    seq: op.seq,
    created_at: op.hlc,
    value: b.value,
    verified: b.verified,
    ttl_seconds: b.ttl_seconds ?? null,
    valid_from: b.valid_from ?? null,
    valid_to: b.valid_to ?? null,
    causal_id: b.causal_id ?? null,
    idempotency_key: op.idempotencyKey ?? null,
    channel: b.channel ?? null,
    tags: b.tags ?? [],
    text: b.text ?? null,
    supersedes: b.supersedes,
  }
}

function addFact(v: Views, f: FactState, x: Entry, ch: Changes): void {
  const before = liveChannels(f)
  const k = known(x)
  f.entries.push(x)
  if (k.kind === 'fact.assert') {
    const row = versionRow(x, f.fact_id, k.body)
    f.versions.set(row.dot, row)
    mvRegister.mergeInto(f.reg, mvRegister.setDelta(row.value, stampOf(x.op), dotsOf(row.supersedes))) // rule (4)
    if (row.verified) {
      for (const s of row.supersedes) {
        const list = f.verifiers.get(s)
        if (list === undefined) f.verifiers.set(s, [row.dot])
        else list.push(row.dot)
        const u = f.versions.get(s)
        if (u !== undefined) contribute(v, f, row, u, ch)
      }
      resolve(f, row, ch)
    }
    // verified asserts that arrived before this version, and superseded it
    for (const vd of f.verifiers.get(row.dot) ?? []) {
      const V = f.versions.get(vd) as VersionRow
      contribute(v, f, V, row, ch)
      resolve(f, V, ch)
    }
  } else if (k.kind === 'fact.retract') {
    f.retracts.set(x.dot, {
      fact_id: f.fact_id,
      dot: x.dot,
      author: x.op.author,
      created_at: x.op.hlc,
      observed: k.body.observed,
      reason: k.body.reason ?? null,
    })
    mvRegister.mergeInto(f.reg, mvRegister.clearDelta(stampOf(x.op), dotsOf(k.body.observed))) // rule (4)
  }
  refreshTicket(f, ch)
  note(ch, { view: 'fact', fact_id: f.fact_id, channels: unionChannels(before, liveChannels(f)) })
}

function unionChannels(a: readonly Channel[], b: readonly Channel[]): Channel[] {
  return allChannels.filter((c) => a.includes(c) || b.includes(c))
}

/** Rule (7): the pair (verified V, version u it superseded) counts once for u's author. */
function contribute(v: Views, f: FactState, V: VersionRow, u: VersionRow, ch: Changes): void {
  if (u.author === V.author) return
  const agreed = json.equals(u.value, V.value)
  for (const m of [f.trust, v.trust]) {
    const t = m.get(u.author) ?? { agreed: 0, disagreed: 0 }
    if (agreed) t.agreed++
    else t.disagreed++
    m.set(u.author, t)
  }
  note(ch, { view: 'trust', author: u.author })
}

/** Rule (6), resolution: what verified assert V resolved, given the versions present now. */
function resolve(f: FactState, V: VersionRow, ch: Changes): void {
  const present: VersionRow[] = []
  for (const s of V.supersedes) {
    const u = f.versions.get(s)
    if (u !== undefined) present.push(u)
  }
  const old = f.resolutions.get(V.dot)
  if (!hasDistinctValues(present)) return // present only grows, so there was no resolution before either
  present.sort((a, b) => compareDotRefs(a.dot, b.dot))
  const dots = present.map((u) => u.dot)
  const id = ticketId(f.fact_id, dots)
  if (old?.ticket_id === id) return
  const opened = latest(present)
  f.resolutions.set(V.dot, {
    ticket_id: id,
    fact_id: f.fact_id,
    dots,
    opened_at: opened,
    resolved_by: V.dot,
    resolved_at: V.created_at,
    value: V.value,
    time_to_verify_ms: Math.max(0, V.created_at.wallMs - opened.wallMs),
  })
  if (old !== undefined) note(ch, { view: 'ticket', ticket_id: old.ticket_id, fact_id: f.fact_id })
  note(ch, { view: 'ticket', ticket_id: id, fact_id: f.fact_id })
}

function hasDistinctValues(rows: readonly VersionRow[]): boolean {
  const first = rows[0]
  if (first === undefined) return false
  for (let i = 1; i < rows.length; i++)
    if (!json.equals(first.value, (rows[i] as VersionRow).value)) return true
  return false
}

function latest(rows: readonly VersionRow[]): OpTime {
  let t = (rows[0] as VersionRow).created_at
  for (const r of rows) if (compareTimes(r.created_at, t) > 0) t = r.created_at
  return t
}

/** Rule (6), open ticket: the live versions, if they hold different values. */
function refreshTicket(f: FactState, ch: Changes): void {
  const old = f.ticket
  const live = liveRows(f)
  let next: TicketRow | undefined
  if (hasDistinctValues(live)) {
    const dots = live.map((r) => r.dot) // the register keeps dot order, which is compareDotRefs order
    next = { ticket_id: ticketId(f.fact_id, dots), fact_id: f.fact_id, dots, opened_at: latest(live) }
  }
  if (old?.ticket_id === next?.ticket_id) return
  f.ticket = next
  if (old !== undefined) note(ch, { view: 'ticket', ticket_id: old.ticket_id, fact_id: f.fact_id })
  if (next !== undefined) note(ch, { view: 'ticket', ticket_id: next.ticket_id, fact_id: f.fact_id })
}

function rebuildFact(v: Views, id: string, without: Entry, ch: Changes): void {
  const f = v.facts.get(id) as FactState
  const before = liveChannels(f)
  for (const [author, t] of f.trust) {
    const g = v.trust.get(author) as TrustCount
    g.agreed -= t.agreed
    g.disagreed -= t.disagreed
    if (g.agreed === 0 && g.disagreed === 0) v.trust.delete(author)
    note(ch, { view: 'trust', author })
  }
  for (const r of f.resolutions.values()) note(ch, { view: 'ticket', ticket_id: r.ticket_id, fact_id: id })
  if (f.ticket !== undefined) note(ch, { view: 'ticket', ticket_id: f.ticket.ticket_id, fact_id: id })
  v.facts.delete(id)
  const rest = f.entries.filter((y) => y !== without)
  for (const y of rest) addFact(v, factState(v, id), y, ch)
  note(ch, { view: 'fact', fact_id: id, channels: unionChannels(before, liveChannels(v.facts.get(id))) })
}

// ---- tasks

function taskRow(id: string, entries: readonly Entry[]): TaskRow | undefined {
  let earliest: Entry | undefined
  let latestCreate: Entry | undefined
  let latestDone: Entry | undefined
  const claims: Entry[] = []
  const releases: Entry[] = []
  for (const x of entries) {
    const kind = known(x).kind
    if (kind === 'task.create') {
      if (earliest === undefined || laterStamp(earliest, x)) earliest = x
      if (latestCreate === undefined || laterStamp(x, latestCreate)) latestCreate = x
    } else if (kind === 'task.claim') claims.push(x)
    else if (kind === 'task.release') releases.push(x)
    else if (kind === 'task.done') {
      if (latestDone === undefined || laterStamp(x, latestDone)) latestDone = x
    } else core.assert(false, `knowledge: a ${kind} op in a task`)
  }
  if (earliest === undefined || latestCreate === undefined) return undefined
  const active = claims
    .filter((c) => !releases.some((r) => r.op.author === c.op.author && r.op.seq > c.op.seq))
    .sort((a, b) => compareStamps(a.op.hlc, a.op.author, b.op.hlc, b.op.author))
  const claimRows: ClaimRow[] = active.map((c) => ({ author: c.op.author, claimed_at: c.op.hlc, dot: c.dot }))
  const create = known(latestCreate).body as {
    title: string
    depends: string[]
    assignee?: string | undefined
  }
  const owner = claimRows[0]
  const done =
    latestDone === undefined ? undefined : (known(latestDone).body as { result?: Json | undefined })
  return {
    task_id: id,
    title: create.title,
    depends: create.depends,
    assignee: create.assignee ?? null,
    created_by: earliest.op.author,
    created_at: earliest.op.hlc,
    state: latestDone !== undefined ? 'done' : owner !== undefined ? 'claimed' : 'open',
    claimed_by: owner?.author ?? null,
    claimed_at: owner?.claimed_at ?? null,
    claims: claimRows,
    done_by: latestDone?.op.author ?? null,
    done_at: latestDone?.op.hlc ?? null,
    result: done?.result ?? null,
  }
}

// ---- queries

/** What a read needs: the time (never read from a clock here) and whether to show stale versions. */
export type ReadOptions = { readonly nowMs: number; readonly includeStale?: boolean | undefined }

/** A live version as a read shows it. */
export type VersionRead = VersionRow & {
  /** created_at.wallMs + ttl_seconds * 1000, or null without a TTL. */
  readonly expires_at_ms: number | null
  readonly stale: boolean
  /** The author's trust score when read. */
  readonly trust: number
}

/** A keyed fact as `fact get` shows it. */
export type FactRead = {
  readonly fact_id: string
  /** The read winner's value. */
  readonly value: Json
  readonly winner: VersionRead
  /** The versions shown, in read order (the winner first). */
  readonly versions: readonly VersionRead[]
  /** There is an open verify ticket (the live versions hold different values, stale ones included). */
  readonly conflict: boolean
  readonly ticket_id: string | null
}

function expiresAtMs(r: VersionRow): number | null {
  return r.ttl_seconds === null ? null : r.created_at.wallMs + r.ttl_seconds * 1000
}

/** Is the version stale at nowMs (rule 8)? */
export function isStale(r: VersionRow, nowMs: number): boolean {
  const t = expiresAtMs(r)
  return t !== null && t <= nowMs
}

function readOf(v: Views, r: VersionRow, nowMs: number): VersionRead {
  return { ...r, expires_at_ms: expiresAtMs(r), stale: isStale(r, nowMs), trust: trustOf(v, r.author).score }
}

/**
 * Read order (rule 8), best first: not stale, verified, higher trust, later HLC, greater author. The
 * store's SQL: ORDER BY stale, verified DESC, trust DESC, wall_ms DESC, logical DESC, author DESC.
 */
export function compareReadOrder(a: VersionRead, b: VersionRead): number {
  if (a.stale !== b.stale) return a.stale ? 1 : -1
  if (a.verified !== b.verified) return a.verified ? -1 : 1
  if (a.trust !== b.trust) return b.trust - a.trust
  return compareStamps(b.created_at, b.author, a.created_at, a.author)
}

function readFact(v: Views, f: FactState, opts: ReadOptions): FactRead | undefined {
  const shown = liveRows(f)
    .map((r) => readOf(v, r, opts.nowMs))
    .filter((r) => opts.includeStale === true || !r.stale)
    .sort(compareReadOrder)
  const winner = shown[0]
  if (winner === undefined) return undefined
  return {
    fact_id: f.fact_id,
    value: winner.value,
    winner,
    versions: shown,
    conflict: f.ticket !== undefined,
    ticket_id: f.ticket?.ticket_id ?? null,
  }
}

/** A fact's live versions and read winner; undefined if it has none (to show). */
export function getFact(v: Views, factId: string, opts: ReadOptions): FactRead | undefined {
  const f = v.facts.get(factId)
  return f === undefined ? undefined : readFact(v, f, opts)
}

/** Every fact with a version to show, by fact_id. */
export function listFacts(v: Views, opts: ReadOptions): FactRead[] {
  const out: FactRead[] = []
  for (const id of [...v.facts.keys()].sort(compareStrings)) {
    const r = readFact(v, v.facts.get(id) as FactState, opts)
    if (r !== undefined) out.push(r)
  }
  return out
}

/** One step of a fact's history. */
export type HistoryRow =
  | { readonly type: 'assert'; readonly live: boolean; readonly version: VersionRow }
  | { readonly type: 'retract'; readonly retract: RetractRow }

/** Every assert and retract of a fact, oldest first (HLC, then author); asserts say whether they are live. */
export function factHistory(v: Views, factId: string): HistoryRow[] {
  const f = v.facts.get(factId)
  if (f === undefined) return []
  const live = new Set(liveRows(f).map((r) => r.dot))
  const rows: HistoryRow[] = [
    ...[...f.versions.values()].map((version): HistoryRow => ({
      type: 'assert',
      live: live.has(version.dot),
      version,
    })),
    ...[...f.retracts.values()].map((retract): HistoryRow => ({ type: 'retract', retract })),
  ]
  const at = (h: HistoryRow) => (h.type === 'assert' ? h.version : h.retract)
  return rows.sort((a, b) => compareStamps(at(a).created_at, at(a).author, at(b).created_at, at(b).author))
}

/** A channel entry as `tail` shows it. */
export type EntryRead = VersionRead & { readonly conflict: boolean; readonly ticket_id: string | null }

export type EntryQuery = ReadOptions & {
  readonly channel?: Channel | undefined
  readonly tag?: string | undefined
  readonly author?: AuthorId | undefined
  /** At most this many, newest first. */
  readonly limit?: number | undefined
}

/**
 * Channel entries (rule 5): live versions with a channel, newest first (HLC, then author, descending).
 * A conflicted entry shows each live version, each marked.
 */
export function channelEntries(v: Views, q: EntryQuery): EntryRead[] {
  const out: EntryRead[] = []
  for (const f of v.facts.values()) {
    for (const r of liveRows(f)) {
      if (r.channel === null || (q.channel !== undefined && r.channel !== q.channel)) continue
      if (q.tag !== undefined && !r.tags.includes(q.tag)) continue
      if (q.author !== undefined && r.author !== q.author) continue
      const read = readOf(v, r, q.nowMs)
      if (read.stale && q.includeStale !== true) continue
      out.push({ ...read, conflict: f.ticket !== undefined, ticket_id: f.ticket?.ticket_id ?? null })
    }
  }
  out.sort((a, b) => compareStamps(b.created_at, b.author, a.created_at, a.author))
  return q.limit === undefined ? out : out.slice(0, q.limit)
}

/** Open verify tickets, oldest first (opened_at, then ticket_id). */
export function openTickets(v: Views): TicketRow[] {
  const out: TicketRow[] = []
  for (const f of v.facts.values()) if (f.ticket !== undefined) out.push(f.ticket)
  return out.sort(
    (a, b) => compareTimes(a.opened_at, b.opened_at) || compareStrings(a.ticket_id, b.ticket_id),
  )
}

/** Resolved tickets, each once (its earliest verified resolution), oldest resolution first. */
export function resolvedTickets(v: Views): ResolvedTicketRow[] {
  const byId = new Map<string, ResolvedTicketRow>()
  for (const f of v.facts.values()) {
    for (const r of f.resolutions.values()) {
      const prev = byId.get(r.ticket_id)
      if (prev === undefined || compareResolution(r, prev) < 0) byId.set(r.ticket_id, r)
    }
  }
  return [...byId.values()].sort(
    (a, b) => compareTimes(a.resolved_at, b.resolved_at) || compareStrings(a.ticket_id, b.ticket_id),
  )
}

function compareResolution(a: ResolvedTicketRow, b: ResolvedTicketRow): number {
  return compareTimes(a.resolved_at, b.resolved_at) || compareDotRefs(a.resolved_by, b.resolved_by)
}

/** A ticket by id: open, resolved, or undefined. */
export function getTicket(
  v: Views,
  id: string,
):
  | { readonly state: 'open'; readonly ticket: TicketRow }
  | { readonly state: 'resolved'; readonly ticket: ResolvedTicketRow }
  | undefined {
  for (const f of v.facts.values()) if (f.ticket?.ticket_id === id) return { state: 'open', ticket: f.ticket }
  const r = resolvedTickets(v).find((t) => t.ticket_id === id)
  return r === undefined ? undefined : { state: 'resolved', ticket: r }
}

/** An author's trust (rule 7); zeros for an author with no verified outcome. */
export function trustOf(v: Views, author: AuthorId): TrustRow {
  const t = v.trust.get(author)
  const agreed = t?.agreed ?? 0
  const disagreed = t?.disagreed ?? 0
  return { author, agreed, disagreed, score: agreed - disagreed }
}

export function trustRows(v: Views): TrustRow[] {
  return [...v.trust.keys()].sort(compareStrings).map((a) => trustOf(v, a))
}

function statusRow(x: Entry): StatusRow {
  const b = known(x).body as { text: string; health: StatusRow['health']; working_on?: string | undefined }
  return {
    author: x.op.author,
    text: b.text,
    health: b.health,
    working_on: b.working_on ?? null,
    updated_at: x.op.hlc,
    dot: x.dot,
  }
}

export function statusOf(v: Views, author: AuthorId): StatusRow | undefined {
  const r = v.statuses.get(author)
  return r === undefined ? undefined : statusRow(r.winner)
}

/** Every agent's status, by author. */
export function statuses(v: Views): StatusRow[] {
  return [...v.statuses.keys()]
    .sort(compareStrings)
    .map((a) => statusRow((v.statuses.get(a) as RegisterEntity).winner))
}

function agentRow(x: Entry): AgentRow {
  return {
    author: x.op.author,
    name: (known(x).body as { name: string }).name,
    updated_at: x.op.hlc,
    dot: x.dot,
  }
}

export function agentOf(v: Views, author: AuthorId): AgentRow | undefined {
  const r = v.agents.get(author)
  return r === undefined ? undefined : agentRow(r.winner)
}

export function agents(v: Views): AgentRow[] {
  return [...v.agents.keys()]
    .sort(compareStrings)
    .map((a) => agentRow((v.agents.get(a) as RegisterEntity).winner))
}

export function getTask(v: Views, taskId: string): TaskRow | undefined {
  return v.tasks.get(taskId)?.row
}

export type TaskQuery = {
  /** Only tasks assigned to or claimed by this agent (its author id, or its name as an assignee). */
  readonly mine?: { readonly author: AuthorId; readonly name?: string | undefined } | undefined
}

function byCreation(a: TaskRow, b: TaskRow): number {
  return (
    compareStamps(a.created_at, a.created_by, b.created_at, b.created_by) ||
    compareStrings(a.task_id, b.task_id)
  )
}

/** Every task, oldest first (created_at, then created_by, then task_id). */
export function listTasks(v: Views, q: TaskQuery = {}): TaskRow[] {
  const out: TaskRow[] = []
  for (const t of v.tasks.values()) {
    const r = t.row
    if (r === undefined) continue
    if (q.mine !== undefined) {
      const m = q.mine
      const assigned = r.assignee !== null && (r.assignee === m.author || r.assignee === m.name)
      if (!assigned && r.claimed_by !== m.author) continue
    }
    out.push(r)
  }
  return out.sort(byCreation)
}

/** Rule (10): open tasks (not done, no active claim) whose every dependency exists and is done. */
export function readyTasks(v: Views, q: TaskQuery = {}): TaskRow[] {
  return listTasks(v, q).filter(
    (r) => r.state === 'open' && r.depends.every((d) => v.tasks.get(d)?.row?.state === 'done'),
  )
}

/** How an agent's claim on a task fared: it holds the task, it lost to an earlier claim, or it has none. */
export function claimOutcome(task: TaskRow, author: AuthorId): 'won' | 'lost' | 'none' {
  if (task.claimed_by === author) return 'won'
  return task.claims.some((c) => c.author === author) ? 'lost' : 'none'
}

function counterRows(name: string, c: CounterEntity): CounterRow[] {
  return [...c.sums.keys()].sort(compareStrings).map((author) => {
    const s = c.sums.get(author) as { p: number; n: number }
    return { name, author, p: s.p, n: s.n }
  })
}

export type CounterRead = {
  readonly name: string
  readonly value: number
  readonly authors: readonly CounterRow[]
}

export function getCounter(v: Views, name: string): CounterRead | undefined {
  const c = v.counters.get(name)
  if (c === undefined) return undefined
  const authors = counterRows(name, c)
  return { name, value: counterValue(authors), authors }
}

export function listCounters(v: Views): CounterRead[] {
  return [...v.counters.keys()].sort(compareStrings).map((n) => getCounter(v, n) as CounterRead)
}

function configRow(x: Entry): ConfigRow {
  const b = known(x).body as { key: string; value: Json; version: number }
  return { key: b.key, value: b.value, version: b.version, author: x.op.author, set_at: x.op.hlc, dot: x.dot }
}

export function getConfig(v: Views, key: string): ConfigRow | undefined {
  const r = v.configs.get(key)
  return r === undefined ? undefined : configRow(r.winner)
}

export function listConfigs(v: Views): ConfigRow[] {
  return [...v.configs.keys()]
    .sort(compareStrings)
    .map((k) => configRow((v.configs.get(k) as RegisterEntity).winner))
}

function idempotencyRow(list: readonly Entry[]): IdempotencyRow {
  const x = list[0] as Entry
  return {
    author: x.op.author,
    idempotency_key: x.op.idempotencyKey as string,
    dot: x.dot,
    kind: x.op.kind,
    fact_id: x.factId ?? null,
  }
}

/** Rule (3): the op an author wrote first with this idempotency key, and the fact it wrote. */
export function idempotent(v: Views, author: AuthorId, key: string): IdempotencyRow | undefined {
  const list = v.byKey.get(`${author}\n${key}`)
  return list === undefined ? undefined : idempotencyRow(list)
}

/** Every row, canonically ordered (rows.ts Dump): compare two of these to compare two replicas. */
export function dump(v: Views): Dump {
  const versions: VersionRow[] = []
  const tickets: TicketRow[] = []
  for (const f of v.facts.values()) {
    versions.push(...liveRows(f))
    if (f.ticket !== undefined) tickets.push(f.ticket)
  }
  const tasks: TaskRow[] = []
  for (const t of v.tasks.values()) if (t.row !== undefined) tasks.push(t.row)
  const counters: CounterRow[] = []
  for (const c of listCounters(v)) counters.push(...c.authors)
  const byTicketId = (a: { ticket_id: string }, b: { ticket_id: string }) =>
    compareStrings(a.ticket_id, b.ticket_id)
  return {
    versions: versions.sort(compareVersions),
    tickets: tickets.sort(byTicketId),
    resolved: resolvedTickets(v).sort(byTicketId),
    trust: trustRows(v),
    statuses: statuses(v),
    agents: agents(v),
    tasks: tasks.sort((a, b) => compareStrings(a.task_id, b.task_id)),
    counters,
    configs: listConfigs(v),
    idempotency: [...v.byKey.values()]
      .map(idempotencyRow)
      .sort(
        (a, b) => compareStrings(a.author, b.author) || compareStrings(a.idempotency_key, b.idempotency_key),
      ),
  }
}
