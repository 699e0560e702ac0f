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
import type { Channel, EntryRead, FactRead } from '../knowledge/index.ts'
import { local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import { opLog } from '../store/index.ts'
import { arg, CliError, collect, parseChannel, parseValue, withLocal } from './cli-context.ts'
import type { Ctx } from './cli-context.ts'
import { addOptions } from './cli-options.ts'
import type { OptionSpec } from './cli-options.ts'
import * as fmt from './format.ts'
import { parseCount, parseDuration } from './parse.ts'
import * as service from './service.ts'

/** How often `tail --follow` looks at the store for new entries. */
export const followPollMs = 200

/** The value parsers the CLI shares with every edge (service.ts). */
export { parseKey, resolveAuthor } from './service.ts'

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
    const { rows: first, names, nowMs } = service.entries(l, { n: opts.n, channel: opts.channel, include_stale: opts.includeStale, as_of: opts.asOf })
    const p = fmt.paint(io)
    const show = (e: EntryRead, n: fmt.Names, now: number) => out(ctx.json() ? JSON.stringify(fmt.entryJson(e, n)) + '\n' : fmt.entryLine(e, n, now, p) + '\n')
    if (opts.follow !== true) {
      if (ctx.json()) out(JSON.stringify(first.map((e) => fmt.entryJson(e, names))) + '\n')
      else for (const e of first) show(e, names, nowMs)
      return
    }
    for (const e of first) show(e, names, nowMs)
    await follow(l, ctx, opts.channel, opts.includeStale === true, new Set(first.map((e) => e.dot)), show)
  })
}

export function registerFacts(program: Command, ctx: Ctx): void {
  const { io } = ctx
  const out = (s: string) => io.out(s)
  const note = (m: string) => io.err(`grapevine: note: ${m}\n`)

  program
    .command('publish <text>')
    .description('publish an entry (a discovery, pattern or warning) for every agent')
    .option('--channel <channel>', `discoveries, patterns or warnings`, (v) => arg(parseChannel(v)), 'discoveries' as Channel)
    .option('--tag <tag>', 'a tag (repeatable)', collect)
    .option('--ttl <duration>', 'stale after this long (90s, 2h, 7d)', (v) => arg(parseDuration(v)))
    .option('--idempotency-key <key>', 'publishing again with the same key writes nothing and returns the same fact')
    .option('--verified', 'you checked it')
    .action(async (text: string, opts: { channel: Channel; tag?: string[]; ttl?: number; idempotencyKey?: string; verified?: boolean }) => {
      await withLocal(io, (l) => {
        const i = { text, channel: opts.channel, tags: opts.tag, ttl: opts.ttl, idempotency_key: opts.idempotencyKey, verified: opts.verified }
        const doc = service.publish(l, i, note)
        if (ctx.json()) out(JSON.stringify(doc) + '\n')
        else out(doc['written'] === true ? `published ${String(doc['fact_id'])} to ${opts.channel}\n` : `already published ${String(doc['fact_id'])} with idempotency key ${JSON.stringify(opts.idempotencyKey)}: nothing written\n`)
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
      await withLocal(io, (l) => {
        const { hits, names, nowMs } = service.searchHits(l, { q: query, ...opts })
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
        const doc = service.factSet(l, { id, value: parseValue(value), verified: opts.verified, ttl: opts.ttl })
        if (ctx.json()) out(JSON.stringify(doc) + '\n')
        else showFact(ctx, service.factRead(l, { id, include_stale: true }))
      })
    })

  fact
    .command('get <id>')
    .description('a fact: its read winner and every live version (more than one value: a conflict)')
    .option('--include-stale', 'also versions past their TTL')
    .option('--as-of <time>', 'the fact as it was at a time (ISO date, or an age like 2h)')
    .action(async (id: string, opts: { includeStale?: boolean; asOf?: string }) => {
      await withLocal(io, (l) => showFact(ctx, service.factRead(l, { id, include_stale: opts.includeStale, as_of: opts.asOf })))
    })

  fact
    .command('retract <id>')
    .description('remove the versions of a fact seen here (a concurrent write elsewhere survives it)')
    .option('--reason <reason>', 'why')
    .action(async (id: string, opts: { reason?: string }) => {
      await withLocal(io, (l) => {
        const doc = service.factRetract(l, { id, reason: opts.reason })
        const n = (doc['retracted'] as unknown[]).length
        if (ctx.json()) out(JSON.stringify(doc) + '\n')
        else out(`retracted ${n} version${n === 1 ? '' : 's'} of ${id}\n`)
      })
    })

  fact
    .command('history <id>')
    .description('every write and retract of a fact, oldest first')
    .action(async (id: string) => {
      await withLocal(io, (l) => {
        const { rows, names } = service.historyRows(l, { id })
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
        const { tickets, names, nowMs } = service.conflictRows(l)
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
        const v = parseValue(value)
        const doc = service.verify(l, { id, value: v })
        const factId = doc.fact === null ? id : String(doc.fact['fact_id'])
        if (ctx.json()) out(JSON.stringify(doc) + '\n')
        else out(`${doc.resolved_ticket === null ? 'verified' : `resolved ticket ${doc.resolved_ticket}:`} ${factId} = ${fmt.oneLine(fmt.valueText(v), 80)}\n`)
      })
    })
}

function showFact(ctx: Ctx, { f, names, nowMs }: { f: FactRead; names: fmt.Names; nowMs: number }): void {
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
