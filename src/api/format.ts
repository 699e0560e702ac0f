/**
 * How the CLI shows things: the `--json` shapes (one place, so every command prints a fact the same way,
 * and `export` lines are exactly `fact get --json` documents) and the human lines (compact, one line per
 * entry; ANSI colour only on a terminal and never with NO_COLOR set).
 */
import type { Json } from '../core/index.ts'
import type {
  EntryRead,
  FactRead,
  HistoryRow,
  StatusRow,
  TaskRow,
  TicketRow,
  VersionRead,
  VersionRow,
} from '../knowledge/index.ts'
import type { AgentRow } from '../knowledge/index.ts'
import type { OpTime } from '../log/index.ts'

/** author id -> name, from the agents view (an author that never said hello has no name). */
export type Names = ReadonlyMap<string, string>

export function namesOf(agents: readonly AgentRow[]): Names {
  return new Map(agents.map((a) => [a.author, a.name]))
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}

function hlc(t: OpTime): string {
  return `${t.wallMs}.${t.logical}`
}

/** A version of a fact as --json shows it: the seed schema's fields, then Grapevine's. */
export function versionJson(r: VersionRow & Partial<Pick<VersionRead, 'stale' | 'trust' | 'expires_at_ms'>>, names: Names): Record<string, Json> {
  return {
    fact_id: r.fact_id,
    value: r.value,
    author_agent_id: r.author,
    author_name: names.get(r.author) ?? null,
    created_at: new Date(r.created_at.wallMs).toISOString(),
    causal_id: r.causal_id,
    verified: r.verified,
    ttl_seconds: r.ttl_seconds,
    idempotency_key: r.idempotency_key,
    channel: r.channel,
    tags: [...r.tags],
    text: r.text,
    stale: r.stale ?? false,
    expires_at: r.expires_at_ms === undefined ? null : iso(r.expires_at_ms),
    valid_from: iso(r.valid_from),
    valid_to: iso(r.valid_to),
    dot: r.dot,
    hlc: hlc(r.created_at),
    supersedes: [...r.supersedes],
    trust: r.trust ?? 0,
  }
}

/** A channel entry (tail, search): one live version, marked if its fact is in conflict. */
export function entryJson(e: EntryRead & { score?: number }, names: Names): Record<string, Json> {
  const o: Record<string, Json> = { ...versionJson(e, names), conflict: e.conflict, ticket_id: e.ticket_id }
  if (e.score !== undefined) o['score'] = e.score
  return o
}

/** A fact (fact get, export): the read winner's fields, the conflict, and every live version. */
export function factJson(f: FactRead, names: Names): Record<string, Json> {
  return {
    ...versionJson(f.winner, names),
    conflict: f.conflict,
    ticket_id: f.ticket_id,
    versions: f.versions.map((v) => versionJson(v, names)),
  }
}

export function historyJson(h: HistoryRow, names: Names): Record<string, Json> {
  if (h.type === 'assert') return { type: 'assert', live: h.live, ...versionJson(h.version, names) }
  const r = h.retract
  return {
    type: 'retract',
    fact_id: r.fact_id,
    author_agent_id: r.author,
    author_name: names.get(r.author) ?? null,
    created_at: new Date(r.created_at.wallMs).toISOString(),
    dot: r.dot,
    hlc: hlc(r.created_at),
    observed: [...r.observed],
    reason: r.reason,
  }
}

export function ticketJson(t: TicketRow, fact: FactRead | undefined, names: Names): Record<string, Json> {
  const versions = (fact?.versions ?? []).filter((v) => t.dots.includes(v.dot))
  return {
    ticket_id: t.ticket_id,
    fact_id: t.fact_id,
    dots: [...t.dots],
    opened_at: new Date(t.opened_at.wallMs).toISOString(),
    read_winner: fact === undefined ? null : fact.winner.dot,
    versions: versions.map((v) => versionJson(v, names)),
  }
}

export function taskJson(t: TaskRow, names: Names, ready?: boolean): Record<string, Json> {
  const o: Record<string, Json> = {
    task_id: t.task_id,
    title: t.title,
    state: t.state,
    depends: [...t.depends],
    assignee: t.assignee,
    created_by: t.created_by,
    created_by_name: names.get(t.created_by) ?? null,
    created_at: new Date(t.created_at.wallMs).toISOString(),
    claimed_by: t.claimed_by,
    claimed_by_name: t.claimed_by === null ? null : (names.get(t.claimed_by) ?? null),
    claimed_at: t.claimed_at === null ? null : new Date(t.claimed_at.wallMs).toISOString(),
    claims: t.claims.map((c) => ({ author: c.author, name: names.get(c.author) ?? null, claimed_at: new Date(c.claimed_at.wallMs).toISOString() })),
    done_by: t.done_by,
    done_at: t.done_at === null ? null : new Date(t.done_at.wallMs).toISOString(),
    result: t.result,
  }
  if (ready !== undefined) o['ready'] = ready
  return o
}

export function statusJson(s: StatusRow | undefined): { status: string | null; health: string | null; working_on: string | null; status_at: string | null } {
  return {
    status: s?.text ?? null,
    health: s?.health ?? null,
    working_on: s?.working_on ?? null,
    status_at: s === undefined ? null : new Date(s.updated_at.wallMs).toISOString(),
  }
}

// ---- human output

/** ANSI styles, or none: NO_COLOR set (to anything non-empty) or stdout not a terminal means plain text. */
export type Paint = {
  dim(s: string): string
  bold(s: string): string
  red(s: string): string
  green(s: string): string
  yellow(s: string): string
  cyan(s: string): string
  magenta(s: string): string
}

/** io: the CLI's Io (cli-context.ts), or anything with its env and isTTY (no import: service.ts uses this file too). */
export function paint(io: { readonly env: NodeJS.ProcessEnv; readonly isTTY?: boolean | undefined }): Paint {
  const noColor = io.env['NO_COLOR'] !== undefined && io.env['NO_COLOR'] !== ''
  const on = !noColor && io.isTTY === true // NO_COLOR first: asking stdout costs a start (cli.ts)
  const sgr = (code: string) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s)
  return { dim: sgr('2'), bold: sgr('1'), red: sgr('31'), green: sgr('32'), yellow: sgr('33'), cyan: sgr('36'), magenta: sgr('35') }
}

/** An age, compact: 42s, 5m, 3h, 2d, 6w. A time ahead of now (another node's clock) shows as 0s. */
export function age(ms: number, nowMs: number): string {
  const s = Math.max(0, Math.floor((nowMs - ms) / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86_400) return `${Math.floor(s / 3600)}h`
  if (s < 14 * 86_400) return `${Math.floor(s / 86_400)}d`
  return `${Math.floor(s / 604_800)}w`
}

/** Text on one line: newlines and tabs shown as spaces, at most max characters. */
export function oneLine(s: string, max = 160): string {
  const flat = s.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

export function valueText(v: Json): string {
  return typeof v === 'string' ? v : JSON.stringify(v)
}

export function authorLabel(author: string, names: Names): string {
  return names.get(author) ?? author.slice(0, 12)
}

/** One entry: age, author, channel, text, [verified], [stale], [CONFLICT]. */
export function entryLine(e: EntryRead, names: Names, nowMs: number, p: Paint): string {
  const ch = e.channel ?? 'fact'
  const chPaint = ch === 'warnings' ? p.yellow : ch === 'patterns' ? p.magenta : p.green
  const parts = [
    p.dim(age(e.created_at.wallMs, nowMs).padStart(3)),
    p.cyan(authorLabel(e.author, names)),
    chPaint(ch),
    oneLine(e.text ?? valueText(e.value)),
  ]
  if (e.tags.length > 0) parts.push(p.dim(e.tags.map((t) => `#${t}`).join(' ')))
  if (e.verified) parts.push(p.green('[verified]'))
  if (e.stale) parts.push(p.dim('[stale]'))
  if (e.conflict) parts.push(p.red('[CONFLICT]'))
  return parts.join('  ')
}

/** One version of a fact: value, author, age, flags, dot. */
export function versionLine(v: VersionRead, names: Names, nowMs: number, p: Paint, winner: boolean): string {
  const flags = [v.verified ? p.green('[verified]') : '', v.stale ? p.dim('[stale]') : '', winner ? p.bold('<- read winner') : ''].filter((x) => x !== '')
  return [`  ${oneLine(valueText(v.value))}`, p.cyan(authorLabel(v.author, names)), p.dim(`${age(v.created_at.wallMs, nowMs)} ago`), ...flags, p.dim(v.dot.slice(0, 12) + '…:' + v.dot.split(':')[1])].join('  ')
}
