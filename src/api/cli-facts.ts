/**
 * The knowledge commands: publish and read channel entries (publish, tail, search), keyed facts (fact set,
 * get, retract, history), and conflicts with their verify tickets (conflicts, verify).
 *
 * A write replaces what this node sees: `fact set` and `verify` supersede every live version of the fact
 * here (stale ones included), `fact retract` names them as observed. Versions written concurrently
 * elsewhere stay live beside the new one until a write that saw them: that is a conflict, kept visible.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'commander'
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import type { Channel, DotRef, EntryRead, FactRead } from '../knowledge/index.ts'
import * as log from '../log/index.ts'
import type { AuthorId } from '../log/index.ts'
import { local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import { opLog, searchWords } from '../store/index.ts'
import type { Reads } from '../store/index.ts'
import { arg, CliError, collect, commit, draft, parseChannel, parseValue, withLocal } from './cli-context.ts'
import type { Ctx } from './cli-context.ts'
import { addOptions } from './cli-options.ts'
import type { OptionSpec } from './cli-options.ts'
import * as fmt from './format.ts'
import { parseCount, parseDuration, parseTime } from './parse.ts'

/** How often `tail --follow` looks at the store for new entries. */
export const followPollMs = 200

const utf8 = new TextEncoder()

/** An --idempotency-key: 1..256 bytes of UTF-8 (the log's limit). */
export function parseKey(text: string): Result<string, 'bad_key'> {
  const n = utf8.encode(text).length
  if (n === 0 || n > log.idempotencyKeyBytesMax || !text.isWellFormed()) {
    return core.fail('bad_key', `bad idempotency key: use 1..${log.idempotencyKeyBytesMax} bytes of text (it is ${n})`)
  }
  return core.ok(text)
}

/** Reads now, or as of a time (--as-of): the reference model over the ops recorded by then. */
function readsAt(l: Local, asOf: string | undefined): { r: Reads; nowMs: number } {
  const nowMs = l.clock.nowMs()
  if (asOf === undefined) return { r: local.reads(l), nowMs }
  const t = arg(parseTime(asOf, nowMs))
  return { r: local.readsAsOf(l, t), nowMs: t }
}

/** An --author: 64 hex characters, or the name of an agent this node has heard of. */
export function resolveAuthor(r: Reads, text: string): AuthorId {
  const id = log.parseAuthorId(text)
  if (id.ok) return id.value
  const named = r.agents().filter((a) => a.name === text)
  if (named.length === 1) return (named[0] as knowledge.AgentRow).author
  if (named.length > 1) throw new CliError(`${named.length} agents are named ${JSON.stringify(text)}: give the author id (grapevine fleet lists them)`, 2)
  throw new CliError(`no agent named ${JSON.stringify(text)} and not an author id (64 hex characters): grapevine fleet lists the agents`, 2)
}

/** The live versions of a fact as this node sees them, stale ones included: what a new write supersedes. */
function liveDots(r: Reads, factId: string, nowMs: number): DotRef[] {
  return r.fact(factId, { nowMs, includeStale: true })?.versions.map((v) => v.dot) ?? []
}

function factOrFail(r: Reads, factId: string, nowMs: number, includeStale: boolean): FactRead {
  const f = r.fact(factId, { nowMs, includeStale })
  if (f !== undefined) return f
  if (!includeStale && r.fact(factId, { nowMs, includeStale: true }) !== undefined) {
    throw new CliError(`fact ${JSON.stringify(factId)} has only stale versions (past their TTL): add --include-stale to see them`)
  }
  const past = r.history(factId).length > 0
  throw new CliError(
    past
      ? `fact ${JSON.stringify(factId)} has no live version (it was retracted or superseded): grapevine fact history ${factId} shows its past`
      : `unknown fact ${JSON.stringify(factId)}: nothing was ever written under this id here (check the id, or sync first)`,
  )
}

const tailDescription = 'the latest entries, oldest of them first (like tail on discoveries.jsonl)'

/** tail's options: commander's, and the fast path's (cli.ts), from this one table. */
export const tailOptions: readonly OptionSpec[] = [
  { flags: '-n <count>', key: 'n', description: 'how many entries', parse: (v) => parseCount(v, 10_000), default: 20 },
  { flags: '--channel <channel>', key: 'channel', description: 'only this channel', parse: parseChannel },
  { flags: '--include-stale', key: 'includeStale', description: 'also entries past their TTL' },
  { flags: '--follow', key: 'follow', description: 'keep printing new entries as they arrive (Ctrl-C ends)' },
  { flags: '--as-of <time>', key: 'asOf', description: 'the entries as they were at a time (ISO date, or an age like 2h)' },
]

export type TailOptions = { n: number; channel?: Channel; includeStale?: boolean; follow?: boolean; asOf?: string }

/** `grapevine tail`. */
export async function tail(ctx: Ctx, opts: TailOptions): Promise<void> {
  const { io } = ctx
  const out = (s: string) => io.out(s)
  if (opts.follow === true && opts.asOf !== undefined) throw new CliError('--follow and --as-of do not go together: the past does not change', 2)
  await withLocal(io, async (l) => {
    const { r, nowMs } = readsAt(l, opts.asOf)
    const q = { nowMs, channel: opts.channel, includeStale: opts.includeStale === true }
    const first = r.entries({ ...q, limit: opts.n }).reverse()
    const names = fmt.namesOf(r.agents())
    const p = fmt.paint(io)
    const show = (e: EntryRead, n: fmt.Names, now: number) => out(ctx.json() ? JSON.stringify(fmt.entryJson(e, n)) + '\n' : fmt.entryLine(e, n, now, p) + '\n')
    if (opts.follow !== true) {
      if (ctx.json()) out(JSON.stringify(first.map((e) => fmt.entryJson(e, names))) + '\n')
      else for (const e of first) show(e, names, nowMs)
      return
    }
    for (const e of first) show(e, names, nowMs)
    await follow(l, ctx, q.channel, q.includeStale, new Set(first.map((e) => e.dot)), show)
  })
}

export function registerFacts(program: Command, ctx: Ctx): void {
  const { io } = ctx
  const out = (s: string) => io.out(s)

  program
    .command('publish <text>')
    .description('publish an entry (a discovery, pattern or warning) for every agent')
    .option('--channel <channel>', `discoveries, patterns or warnings`, (v) => arg(parseChannel(v)), 'discoveries' as Channel)
    .option('--tag <tag>', 'a tag (repeatable)', collect)
    .option('--ttl <duration>', 'stale after this long (90s, 2h, 7d)', (v) => arg(parseDuration(v)))
    .option('--idempotency-key <key>', 'publishing again with the same key writes nothing and returns the same fact')
    .option('--verified', 'you checked it')
    .action(async (text: string, opts: { channel: Channel; tag?: string[]; ttl?: number; idempotencyKey?: string; verified?: boolean }) => {
      if (text.trim() === '') throw new CliError('nothing to publish: give the text of the entry', 2)
      const key = opts.idempotencyKey === undefined ? undefined : arg(parseKey(opts.idempotencyKey))
      const intent = draft(
        'fact.assert',
        { value: text, channel: opts.channel, tags: opts.tag, ttl_seconds: opts.ttl, verified: opts.verified === true, supersedes: [] },
        key,
      )
      await withLocal(io, (l) => {
        const w = commit(l, [intent])
        const op = (w.ops[0] as log.SignedOp).op
        const factId = knowledge.entryFactId(op.author, op.idempotencyKey, op.seq)
        const nowMs = l.clock.nowMs()
        const r = local.reads(l)
        const f = r.fact(factId, { nowMs, includeStale: true })
        const written = w.written[0] === true
        const firstBody = op.body as { value?: unknown } | null
        if (!written && (firstBody === null || firstBody.value !== text)) {
          io.err(`grapevine: note: idempotency key ${JSON.stringify(key)} was first used for a different text; that entry stands and nothing was written\n`)
        }
        if (ctx.json()) {
          const doc = f === undefined ? { fact_id: factId } : fmt.factJson(f, fmt.namesOf(r.agents()))
          out(JSON.stringify({ ...doc, written }) + '\n')
        } else {
          out(written ? `published ${factId} to ${opts.channel}\n` : `already published ${factId} with idempotency key ${JSON.stringify(key)}: nothing written\n`)
        }
      })
    })

  addOptions(program.command('tail').description(tailDescription), tailOptions).action((opts: TailOptions) => tail(ctx, opts))

  program
    .command('search <query>')
    .description('entries that contain every word of the query, best match first')
    .option('--limit <n>', 'at most this many', (v) => arg(parseCount(v, 1000)), 20)
    .option('--channel <channel>', 'only this channel', (v) => arg(parseChannel(v)))
    .option('--tag <tag>', 'only entries with this tag')
    .option('--author <author>', 'only entries of this agent (a name, or its 64-hex author id)')
    .option('--since <time>', 'only entries recorded since (ISO date, or an age like 2h)')
    .action(async (query: string, opts: { limit: number; channel?: Channel; tag?: string; author?: string; since?: string }) => {
      if (searchWords(query).length === 0) throw new CliError('search needs at least one word (letters or digits)', 2)
      await withLocal(io, (l) => {
        const nowMs = l.clock.nowMs()
        const sinceMs = opts.since === undefined ? undefined : arg(parseTime(opts.since, nowMs))
        const r = local.reads(l)
        const author = opts.author === undefined ? undefined : resolveAuthor(r, opts.author)
        const hits = r.search({ text: query, limit: opts.limit, channel: opts.channel, tag: opts.tag, author, sinceMs, nowMs })
        const names = fmt.namesOf(r.agents())
        if (ctx.json()) out(JSON.stringify(hits.map((h) => fmt.entryJson(h, names))) + '\n')
        else {
          const p = fmt.paint(io)
          for (const h of hits) out(fmt.entryLine(h, names, nowMs, p) + '\n')
          if (hits.length === 0) io.err('grapevine: no entry matches\n')
        }
      })
    })

  const fact = program.command('fact').description('keyed facts: one value per id, concurrent writes kept as a conflict')

  fact
    .command('set <id> <value>')
    .description('write a value (VALUE is parsed as JSON if it is valid JSON, else taken as a string), replacing the versions seen here')
    .option('--verified', 'you checked it (a verified value wins reads and resolves a conflict)')
    .option('--ttl <duration>', 'stale after this long (90s, 2h, 7d)', (v) => arg(parseDuration(v)))
    .action(async (id: string, value: string, opts: { verified?: boolean; ttl?: number }) => {
      await withLocal(io, (l) => {
        const r0 = local.reads(l)
        const supersedes = liveDots(r0, id, l.clock.nowMs())
        const intent = draft('fact.assert', { fact_id: id, value: parseValue(value), supersedes, verified: opts.verified === true, ttl_seconds: opts.ttl })
        commit(l, [intent])
        printFact(ctx, l, id)
      })
    })

  fact
    .command('get <id>')
    .description('a fact: its read winner and every live version (more than one value: a conflict)')
    .option('--include-stale', 'also versions past their TTL')
    .option('--as-of <time>', 'the fact as it was at a time (ISO date, or an age like 2h)')
    .action(async (id: string, opts: { includeStale?: boolean; asOf?: string }) => {
      await withLocal(io, (l) => {
        const { r, nowMs } = readsAt(l, opts.asOf)
        const f = factOrFail(r, id, nowMs, opts.includeStale === true)
        showFact(ctx, f, fmt.namesOf(r.agents()), nowMs)
      })
    })

  fact
    .command('retract <id>')
    .description('remove the versions of a fact seen here (a concurrent write elsewhere survives it)')
    .option('--reason <reason>', 'why')
    .action(async (id: string, opts: { reason?: string }) => {
      await withLocal(io, (l) => {
        const r = local.reads(l)
        const observed = liveDots(r, id, l.clock.nowMs())
        if (observed.length === 0) factOrFail(r, id, l.clock.nowMs(), true) // says why there is nothing to retract
        const w = commit(l, [draft('fact.retract', { fact_id: id, observed, reason: opts.reason })])
        const dot = knowledge.formatDot({ node: (w.ops[0] as log.SignedOp).op.author, seq: (w.ops[0] as log.SignedOp).op.seq })
        if (ctx.json()) out(JSON.stringify({ fact_id: id, retracted: observed, dot, reason: opts.reason ?? null }) + '\n')
        else out(`retracted ${observed.length} version${observed.length === 1 ? '' : 's'} of ${id}\n`)
      })
    })

  fact
    .command('history <id>')
    .description('every write and retract of a fact, oldest first')
    .action(async (id: string) => {
      await withLocal(io, (l) => {
        const r = local.reads(l)
        const rows = r.history(id)
        if (rows.length === 0) throw new CliError(`unknown fact ${JSON.stringify(id)}: nothing was ever written under this id here`)
        const names = fmt.namesOf(r.agents())
        if (ctx.json()) {
          out(JSON.stringify(rows.map((h) => fmt.historyJson(h, names))) + '\n')
          return
        }
        const p = fmt.paint(io)
        for (const h of rows) {
          if (h.type === 'assert') {
            const v = h.version
            const flags = [v.verified ? p.green('[verified]') : '', h.live ? p.bold('[live]') : p.dim('[superseded]')].filter((x) => x !== '')
            out(`${new Date(v.created_at.wallMs).toISOString()}  ${p.cyan(fmt.authorLabel(v.author, names))}  set  ${fmt.oneLine(fmt.valueText(v.value))}  ${flags.join(' ')}\n`)
          } else {
            const x = h.retract
            out(`${new Date(x.created_at.wallMs).toISOString()}  ${p.cyan(fmt.authorLabel(x.author, names))}  retract ${x.observed.length}${x.reason === null ? '' : `  (${fmt.oneLine(x.reason)})`}\n`)
          }
        }
      })
    })

  program
    .command('conflicts')
    .description('open verify tickets: facts whose live versions disagree (grapevine verify resolves one)')
    .action(async () => {
      await withLocal(io, (l) => {
        const nowMs = l.clock.nowMs()
        const r = local.reads(l)
        const names = fmt.namesOf(r.agents())
        const tickets = r.openTickets().map((t) => ({ t, f: r.fact(t.fact_id, { nowMs, includeStale: true }) }))
        if (ctx.json()) {
          out(JSON.stringify(tickets.map(({ t, f }) => fmt.ticketJson(t, f, names))) + '\n')
          return
        }
        const p = fmt.paint(io)
        if (tickets.length === 0) io.err('grapevine: no conflicts\n')
        for (const { t, f } of tickets) {
          out(`${p.red('CONFLICT')}  ${t.fact_id}  ticket ${t.ticket_id}  ${t.dots.length} versions, opened ${fmt.age(t.opened_at.wallMs, nowMs)} ago\n`)
          for (const v of f?.versions ?? []) if (t.dots.includes(v.dot)) out(fmt.versionLine(v, names, nowMs, p, v.dot === f?.winner.dot) + '\n')
        }
      })
    })

  program
    .command('verify <id> <value>')
    .description('resolve a conflict: write a verified VALUE (JSON, else a string) superseding every version of the ticket (or fact) ID')
    .action(async (id: string, value: string) => {
      await withLocal(io, (l) => {
        const nowMs = l.clock.nowMs()
        const r = local.reads(l)
        const t = r.ticket(id)
        let factId: string
        let supersedes: DotRef[]
        if (t?.state === 'resolved') {
          const by = knowledge.parseDotRef(t.ticket.resolved_by)
          const name = by === undefined ? t.ticket.resolved_by : fmt.authorLabel(by.node, fmt.namesOf(r.agents()))
          throw new CliError(`ticket ${id} was already resolved by ${name} with ${fmt.oneLine(fmt.valueText(t.ticket.value), 60)}: grapevine fact get ${t.ticket.fact_id} shows the fact now`)
        }
        if (t?.state === 'open') {
          factId = t.ticket.fact_id
          supersedes = [...new Set([...t.ticket.dots, ...liveDots(r, factId, nowMs)])]
        } else {
          factId = id
          supersedes = liveDots(r, id, nowMs)
          if (supersedes.length === 0) {
            throw new CliError(`unknown ticket or fact ${JSON.stringify(id)}: grapevine conflicts lists the open tickets (use grapevine fact set for a new fact)`)
          }
        }
        const current = r.fact(factId, { nowMs, includeStale: true })
        const winner = current?.winner
        const v = parseValue(value)
        const input: Record<string, unknown> = { fact_id: factId, value: v, supersedes, verified: true }
        if (winner !== undefined && winner.channel !== null) {
          // an entry stays an entry of its channel once verified
          input['channel'] = winner.channel
          input['tags'] = winner.tags
          if (typeof v !== 'string') input['text'] = JSON.stringify(v) // a string value is its own search text
        }
        const ticketBefore = current?.ticket_id ?? null
        commit(l, [draft('fact.assert', input)])
        const after = local.reads(l)
        const resolved = ticketBefore === null ? null : after.ticket(ticketBefore)?.state === 'resolved' ? ticketBefore : null
        const f = after.fact(factId, { nowMs: l.clock.nowMs(), includeStale: true })
        const names = fmt.namesOf(after.agents())
        if (ctx.json()) out(JSON.stringify({ resolved_ticket: resolved, fact: f === undefined ? null : fmt.factJson(f, names) }) + '\n')
        else out(`${resolved === null ? 'verified' : `resolved ticket ${resolved}:`} ${factId} = ${fmt.oneLine(fmt.valueText(v), 80)}\n`)
      })
    })
}

function printFact(ctx: Ctx, l: Local, id: string): void {
  const nowMs = l.clock.nowMs()
  const r = local.reads(l)
  const f = r.fact(id, { nowMs, includeStale: true })
  core.assert(f !== undefined, 'cli: a fact just written has a live version')
  showFact(ctx, f, fmt.namesOf(r.agents()), nowMs)
}

function showFact(ctx: Ctx, f: FactRead, names: fmt.Names, nowMs: number): void {
  if (ctx.json()) {
    ctx.io.out(JSON.stringify(fmt.factJson(f, names)) + '\n')
    return
  }
  const p = fmt.paint(ctx.io)
  const head = `${f.fact_id} = ${fmt.oneLine(fmt.valueText(f.value))}`
  ctx.io.out(f.conflict ? `${head}  ${p.red('[CONFLICT]')} ticket ${f.ticket_id ?? ''}: ${f.versions.length} live versions\n` : `${head}\n`)
  for (const v of f.versions) ctx.io.out(fmt.versionLine(v, names, nowMs, p, v.dot === f.winner.dot) + '\n')
}

/**
 * tail --follow: look at the store every followPollMs and print entries not printed yet, oldest first,
 * until the signal fires (SIGINT). A look reads the authors' heads; the entries only when one moved.
 */
async function follow(
  l: Local,
  ctx: Ctx,
  channel: Channel | undefined,
  includeStale: boolean,
  printed: Set<string>,
  show: (e: EntryRead, names: fmt.Names, nowMs: number) => void,
): Promise<void> {
  const signal = ctx.io.interrupts?.()
  // the heads of the authors: a new op anywhere moves one (cheaper than counting ops)
  const mark = () => {
    let n = 0
    for (const seq of opLog.versionVector(l.store).values()) n += seq
    return n
  }
  let seen = mark()
  while (signal?.aborted !== true) {
    try {
      await sleep(followPollMs, undefined, signal === undefined ? {} : { signal })
    } catch {
      return // aborted: a clean exit
    }
    const n = mark()
    if (n === seen) continue
    seen = n
    const nowMs = l.clock.nowMs()
    const r = local.reads(l)
    const names = fmt.namesOf(r.agents())
    const fresh = r.entries({ nowMs, channel, includeStale, limit: 1000 }).filter((e) => !printed.has(e.dot)).reverse()
    for (const e of fresh) {
      printed.add(e.dot)
      show(e, names, nowMs)
    }
  }
}
