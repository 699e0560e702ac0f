/**
 * Commands that move knowledge in and out or look at the store as a whole: export, import, log, metrics.
 */
import { createReadStream } from 'node:fs'
import type { ReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Command } from 'commander'
import * as knowledge from '../knowledge/index.ts'
import type { Channel, DotRef } from '../knowledge/index.ts'
import type { SignedOp } from '../log/index.ts'
import { local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import type { Intent } from '../store/index.ts'
import { arg, CliError, commit, parseChannel, withLocal } from './cli-context.ts'
import type { Ctx } from './cli-context.ts'
import { parseImportLine } from './import-lines.ts'
import type { ImportLine } from './import-lines.ts'
import { parseCount } from './parse.ts'
import * as service from './service.ts'

/** Bad lines of an import listed on stderr (all of them are in the --json report). */
export const badLinesShownMax = 100

/** Lines written per transaction by import: one fsync per batch, not per line. */
export const importBatchMax = 256

/** An op as the CLI shows it (the --json shape of `log`): the service's. */
export { opJson } from './service.ts'

export type ImportReport = { imported: number; unchanged: number; bad: { line: number; error: string }[] }

/**
 * Imports the lines of a file as this node's writes, in batches. A keyed fact supersedes the versions
 * of it seen here (and those this import wrote before it). Bad lines are reported, never fatal.
 */
export async function importFile(l: Local, path: string): Promise<ImportReport> {
  const report: ImportReport = { imported: 0, unchanged: 0, bad: [] }
  const r = local.reads(l)
  const nowMs = l.clock.nowMs()
  const live = new Map<string, DotRef[]>() // fact_id -> its live versions, as this import leaves them
  const liveOf = (id: string): DotRef[] => live.get(id) ?? r.fact(id, { nowMs, includeStale: true })?.versions.map((v) => v.dot) ?? []
  let batch: { line: number; parsed: ImportLine; intent: Intent }[] = []
  const flush = () => {
    if (batch.length === 0) return
    const w = commit(l, batch.map((b) => b.intent))
    batch.forEach((b, i) => {
      const e = w.ops[i] as SignedOp
      if (w.written[i] === true) report.imported++
      else report.unchanged++
      if (b.parsed.factId !== undefined && w.written[i] === true) live.set(b.parsed.factId, [knowledge.formatDot({ node: e.op.author, seq: e.op.seq })])
    })
    batch = []
  }
  let stream: ReadStream
  try {
    const s = createReadStream(path, { encoding: 'utf8' })
    await new Promise<void>((resolve, reject) => {
      s.once('ready', () => resolve())
      s.once('error', reject)
    })
    stream = s
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`)
  }
  let n = 0
  for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
    n++
    const p = parseImportLine(text)
    if (p === undefined) continue
    if (!p.ok) {
      report.bad.push({ line: n, error: p.detail })
      continue
    }
    const line = p.value
    if (batch.some((b) => b.intent.idempotencyKey === line.idempotencyKey)) {
      report.unchanged++ // the same line twice in one batch: the first one writes it
      continue
    }
    if (line.factId !== undefined && batch.some((b) => b.parsed.factId === line.factId)) flush()
    const supersedes = line.factId === undefined ? [] : liveOf(line.factId)
    const d = knowledge.draftBody('fact.assert', { ...line.body, supersedes })
    if (!d.ok) {
      report.bad.push({ line: n, error: d.detail })
      continue
    }
    batch.push({ line: n, parsed: line, intent: { kind: d.value.kind, body: d.value.body, idempotencyKey: line.idempotencyKey } })
    if (batch.length >= importBatchMax) flush()
  }
  flush()
  return report
}

/** A fact as one export line (service.ts, which the HTTP API's export uses too). */
export { exportLine } from './service.ts'

export function registerIo(program: Command, ctx: Ctx): void {
  const { io } = ctx
  const out = (s: string) => io.out(s)

  program
    .command('export')
    .description('every fact as JSONL, one per line (the fact get --json shape plus text, author, timestamp as plain discoveries.jsonl files have them), oldest first (by its newest live version); grapevine import reads it back')
    .option('--channel <channel>', 'only entries of this channel', (v) => arg(parseChannel(v)))
    .action(async (opts: { channel?: Channel }) => {
      await withLocal(io, (l) => {
        // streamed from the views: a million facts never sit in memory at once
        let count = 0
        let chunk = ''
        for (const line of service.exportLines(l, { channel: opts.channel })) {
          count++
          chunk += line + '\n'
          if (chunk.length >= 1 << 20) {
            out(chunk)
            chunk = ''
          }
        }
        out(chunk)
        io.err(`grapevine: exported ${count} fact${count === 1 ? '' : 's'}\n`)
      })
    })

  program
    .command('import <file>')
    .description('import JSONL: a grapevine export, or a plain discoveries.jsonl (text or value, tags, timestamp); importing again writes nothing new')
    .action(async (file: string) => {
      await withLocal(io, async (l) => {
        const rep = await importFile(l, file)
        if (ctx.json()) out(JSON.stringify(rep) + '\n')
        else out(`imported ${rep.imported} line${rep.imported === 1 ? '' : 's'}${rep.unchanged > 0 ? `, ${rep.unchanged} already here` : ''}${rep.bad.length > 0 ? `, ${rep.bad.length} bad` : ''}\n`)
        for (const b of rep.bad.slice(0, badLinesShownMax)) io.err(`grapevine: ${file}:${b.line}: ${b.error}\n`)
        if (rep.bad.length > badLinesShownMax) io.err(`grapevine: … and ${rep.bad.length - badLinesShownMax} more bad lines (--json lists them all)\n`)
        if (rep.bad.length > 0) throw new CliError(`${rep.bad.length} bad line${rep.bad.length === 1 ? '' : 's'} in ${file} (the good lines were imported): fix them and import again`)
      })
    })

  program
    .command('log')
    .description('the op log, newest first: every change this node holds, from every author')
    .option('-n <count>', 'how many ops', (v) => arg(parseCount(v, 100_000)), 20)
    .option('--author <author>', 'only ops of this agent (a name, or its 64-hex author id)')
    .option('--as-of <time>', 'the log as it was at a time (ISO date, or an age like 2h)')
    .action(async (opts: { n: number; author?: string; asOf?: string }) => {
      await withLocal(io, (l) => {
        const ops = service.recentOps(l, { n: opts.n, author: opts.author, as_of: opts.asOf })
        if (ctx.json()) out(JSON.stringify(ops.map(service.opJson)) + '\n')
        else for (const e of ops) out(`${new Date(e.op.hlc.wallMs).toISOString()}  ${e.op.author.slice(0, 12)} #${e.op.seq}  ${e.op.kind}  ${JSON.stringify(e.op.body)}\n`)
      })
    })

  program
    .command('metrics')
    .description("the store's figures: ops by kind, duplicates, conflicts and verify tickets, TTL purges, bytes on disk")
    .action(async () => {
      await withLocal(io, (l) => {
        const doc = service.metrics(l)
        const m = doc
        const v = m.views
        if (ctx.json()) {
          out(JSON.stringify(doc) + '\n')
          return
        }
        const kinds = Object.entries(m.ops_by_kind).map(([k, n]) => `${k} ${n}`).join(', ')
        const mb = (n: number) => `${(n / 1_048_576).toFixed(2)} MiB`
        out(`ops            ${m.ops}${kinds === '' ? '' : ` (${kinds})`}\n`)
        out(`ignored        ${m.duplicate_ops_ignored} duplicates, ${m.shadowed_ops} repeated idempotency keys, ${m.invalid_ops} invalid, ${m.unknown_kind_ops} of unknown kinds; forks seen ${m.forks}; revoked ops quarantined ${m.revoked_ops_quarantined}\n`)
        out(`facts          ${v.facts} (${v.live_versions} live versions); entries: ${Object.entries(v.entries_by_channel).map(([c, n]) => `${c} ${n}`).join(', ')}\n`)
        out(`ttl            ${m.ttl_purged_versions} versions purged from the views, ${m.stale_entries_now ?? 0} entries stale now; ${m.stale_reads} stale reads\n`)
        out(`verify tickets ${v.open_tickets} open, ${v.resolved_tickets} resolved${v.time_to_verify_ms_mean === null ? '' : `, mean time to verify ${(v.time_to_verify_ms_mean / 1000).toFixed(1)} s`}; conflict rate ${doc.conflict_rate === null ? '-' : `${(doc.conflict_rate * 100).toFixed(1)}%`}\n`)
        out(`coordination   ${v.tasks} tasks, ${v.counters} counters, ${v.agents} agents\n`)
        out(`store          ${mb(m.db_bytes)} (${mb(m.free_bytes)} free) + ${mb(m.wal_bytes)} WAL; search index ${m.fts_bytes === null ? 'unknown' : mb(m.fts_bytes)}\n`)
        io.err(`grapevine: not recorded yet: ${doc.not_recorded.join(', ')}\n`)
      })
    })

  program
    .command('rebuild')
    .description('recompute every view (facts, entries, tickets, tasks, counters, search) from the op log')
    .action(async () => {
      await withLocal(io, (l) => {
        const ms = local.rebuild(l)
        const m = local.metrics(l)
        const doc = { rebuilt: true, ms: Math.round(ms), ops: m?.ops ?? null, facts: m?.views.facts ?? null }
        if (ctx.json()) out(JSON.stringify(doc) + '\n')
        else out(`rebuilt the views from ${doc.ops ?? '?'} ops in ${(ms / 1000).toFixed(2)} s\n`)
      })
    })
}
