/**
 * The coordination commands: agent status and the fleet, tasks with dependencies and claims, counters.
 */
import { randomBytes } from 'node:crypto'
import type { Command } from 'commander'
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import type { Health, TaskRow } from '../knowledge/index.ts'
import { local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import type { Reads } from '../store/index.ts'
import { arg, CliError, collect, commit, draft, parseHealth, parseValue, withLocal } from './cli-context.ts'
import type { Ctx } from './cli-context.ts'
import * as fmt from './format.ts'

/** A counter step typed on the command line: a non-zero integer within the kind's limit. */
export function parseStep(text: string): Result<number, 'bad_step'> {
  const n = /^[+-]?\d{1,10}$/.test(text.trim()) ? Number(text) : NaN
  const max = knowledge.counterStepAbsMax
  if (!Number.isSafeInteger(n) || n === 0 || Math.abs(n) > max) {
    return core.fail('bad_step', `bad counter step ${JSON.stringify(text)}: use a non-zero whole number from -${max} to ${max}`)
  }
  return core.ok(n)
}

/** A new task's id: 10 hex characters (40 random bits), short enough to type. */
function newTaskId(): string {
  return randomBytes(5).toString('hex')
}

function taskOrFail(r: Reads, id: string): TaskRow {
  const t = r.task(id)
  if (t === undefined) throw new CliError(`unknown task ${JSON.stringify(id)}: grapevine task list shows the tasks this node knows (sync first if it was created elsewhere)`)
  return t
}

function isReady(r: Reads, t: TaskRow): boolean {
  return t.state === 'open' && t.depends.every((d) => r.task(d)?.state === 'done')
}

export function registerTasks(program: Command, ctx: Ctx): void {
  const { io } = ctx
  const out = (s: string) => io.out(s)
  const printTask = (l: Local, id: string, extra: Record<string, unknown> = {}): TaskRow => {
    const r = local.reads(l)
    const t = r.task(id)
    core.assert(t !== undefined, 'cli: a task just written exists')
    const names = fmt.namesOf(r.agents())
    if (ctx.json()) out(JSON.stringify({ ...fmt.taskJson(t, names, isReady(r, t)), ...extra }) + '\n')
    return t
  }

  const status = program.command('status').description("this agent's status, as the fleet sees it")
  status
    .command('set <text>')
    .description('say what this agent is doing')
    .option('--health <health>', 'ok, degraded or blocked', (v) => arg(parseHealth(v)), 'ok' as Health)
    .option('--working-on <what>', 'a task id, a path…')
    .action(async (text: string, opts: { health: Health; workingOn?: string }) => {
      const intent = draft('status.set', { text, health: opts.health, working_on: opts.workingOn })
      await withLocal(io, (l) => {
        commit(l, [intent])
        const s = local.reads(l).statuses().find((x) => x.author === l.identity.author)
        if (ctx.json()) out(JSON.stringify({ author_agent_id: l.identity.author, name: l.identity.name, ...fmt.statusJson(s) }) + '\n')
        else out(`status of ${l.identity.name}: ${opts.health}  ${fmt.oneLine(text)}\n`)
      })
    })

  program
    .command('fleet')
    .description('the agents this node has heard of: name, status, health, working on, last seen')
    .action(async () => {
      await withLocal(io, (l) => {
        const nowMs = l.clock.nowMs()
        const r = local.reads(l)
        const names = fmt.namesOf(r.agents())
        const statuses = new Map(r.statuses().map((s) => [s.author, s]))
        const authors = [...new Set([...names.keys(), ...statuses.keys()])].sort()
        const rows = authors.map((a) => {
          const seen = local.lastSeenMs(l, a as knowledge.AgentRow['author'])
          return {
            author_agent_id: a,
            name: names.get(a) ?? null,
            ...fmt.statusJson(statuses.get(a as knowledge.AgentRow['author'])),
            last_seen: seen === undefined ? null : new Date(seen).toISOString(),
            me: a === l.identity.author,
          }
        })
        if (ctx.json()) {
          out(JSON.stringify(rows) + '\n')
          return
        }
        const p = fmt.paint(io)
        for (const row of rows) {
          const h = row.health === 'blocked' ? p.red('blocked') : row.health === 'degraded' ? p.yellow('degraded') : row.health === 'ok' ? p.green('ok') : p.dim('-')
          const seen = row.last_seen === null ? '' : p.dim(`seen ${fmt.age(Date.parse(row.last_seen), nowMs)} ago`)
          const parts = [p.cyan(row.name ?? row.author_agent_id.slice(0, 12)) + (row.me ? p.dim(' (me)') : ''), h, fmt.oneLine(row.status ?? '', 80), row.working_on === null ? '' : `working on ${row.working_on}`, seen]
          out(parts.filter((x) => x !== '').join('  ') + '\n')
        }
      })
    })

  const task = program.command('task').description('tasks: dependencies, claims (one winner), done')

  task
    .command('add <title>')
    .description('create a task (it is ready once every task it depends on is done)')
    .option('--depends <id>', 'a task that must be done first (repeatable)', collect)
    .option('--assign <agent>', 'the agent it is meant for (a name or an author id)')
    .action(async (title: string, opts: { depends?: string[]; assign?: string }) => {
      const id = newTaskId()
      const intent = draft('task.create', { task_id: id, title, depends: opts.depends ?? [], assignee: opts.assign })
      await withLocal(io, (l) => {
        const r = local.reads(l)
        for (const d of opts.depends ?? []) taskOrFail(r, d)
        commit(l, [intent])
        const t = printTask(l, id)
        if (!ctx.json()) out(`added task ${id}: ${fmt.oneLine(t.title, 80)}${t.depends.length > 0 ? ` (after ${t.depends.join(', ')})` : ''}\n`)
      })
    })

  task
    .command('claim <id>')
    .description('claim a task; the earliest claim wins everywhere (exit 1 if another agent holds it)')
    .action(async (id: string) => {
      await withLocal(io, (l) => {
        const r = local.reads(l)
        const t = taskOrFail(r, id)
        const names = fmt.namesOf(r.agents())
        if (t.state === 'done') throw new CliError(`task ${id} is already done (by ${fmt.authorLabel(t.done_by ?? '', names)}): nothing to claim`)
        if (knowledge.claimOutcome(t, l.identity.author) !== 'won') {
          const waiting = t.depends.filter((d) => r.task(d)?.state !== 'done')
          if (waiting.length > 0) io.err(`grapevine: note: task ${id} waits for ${waiting.join(', ')} (not done yet)\n`)
          commit(l, [draft('task.claim', { task_id: id })])
        }
        const after = local.reads(l).task(id) as TaskRow
        const outcome = knowledge.claimOutcome(after, l.identity.author)
        const holder = after.claimed_by === null ? null : fmt.authorLabel(after.claimed_by, fmt.namesOf(local.reads(l).agents()))
        printTask(l, id, { outcome })
        if (outcome === 'won') {
          if (!ctx.json()) out(`won: you hold task ${id}\n`)
        } else {
          if (!ctx.json()) out(`lost: task ${id} is held by ${holder ?? 'another agent'}\n`)
          throw new CliError(`lost the claim on task ${id}: ${holder ?? 'another agent'} claimed it first`)
        }
      })
    })

  task
    .command('release <id>')
    .description('give up your claim on a task, so another agent can take it')
    .action(async (id: string) => {
      await withLocal(io, (l) => {
        const t = taskOrFail(local.reads(l), id)
        if (!t.claims.some((c) => c.author === l.identity.author)) throw new CliError(`you hold no claim on task ${id}: nothing to release`)
        commit(l, [draft('task.release', { task_id: id })])
        printTask(l, id)
        if (!ctx.json()) out(`released task ${id}\n`)
      })
    })

  task
    .command('done <id>')
    .description('mark a task done (for good); RESULT is parsed as JSON if it is valid JSON, else a string')
    .option('--result <result>', 'what came of it')
    .action(async (id: string, opts: { result?: string }) => {
      await withLocal(io, (l) => {
        const r = local.reads(l)
        const t = taskOrFail(r, id)
        if (t.state === 'done') throw new CliError(`task ${id} is already done (by ${fmt.authorLabel(t.done_by ?? '', fmt.namesOf(r.agents()))})`)
        commit(l, [draft('task.done', { task_id: id, result: opts.result === undefined ? undefined : parseValue(opts.result) })])
        printTask(l, id)
        if (!ctx.json()) out(`done: task ${id}\n`)
      })
    })

  task
    .command('list')
    .description('tasks, oldest first')
    .option('--ready', 'only tasks that can start now (open, every dependency done)')
    .option('--mine', 'only tasks assigned to or claimed by this agent')
    .action(async (opts: { ready?: boolean; mine?: boolean }) => {
      await withLocal(io, (l) => {
        const r = local.reads(l)
        const q = opts.mine === true ? { mine: { author: l.identity.author, name: l.identity.name } } : {}
        const rows = opts.ready === true ? r.readyTasks(q) : r.tasks(q)
        const names = fmt.namesOf(r.agents())
        if (ctx.json()) {
          out(JSON.stringify(rows.map((t) => fmt.taskJson(t, names, isReady(r, t)))) + '\n')
          return
        }
        const p = fmt.paint(io)
        for (const t of rows) {
          const label = t.state === 'open' ? (isReady(r, t) ? 'ready' : 'waiting') : t.state
          const state = (label === 'done' ? p.dim : label === 'claimed' ? p.yellow : label === 'ready' ? p.green : (s: string) => s)(label.padEnd(7))
          const who = t.claimed_by === null ? '' : `by ${fmt.authorLabel(t.claimed_by, names)}`
          const parts = [t.task_id, state, fmt.oneLine(t.title, 80), who, t.depends.length > 0 ? p.dim(`after ${t.depends.join(', ')}`) : '', t.assignee === null ? '' : p.dim(`for ${t.assignee}`)]
          out(parts.filter((x) => x !== '').join('  ') + '\n')
        }
      })
    })

  const counter = program.command('counter').description('counters every agent can add to (PN-counters)')
  counter
    .command('add <name> [n]')
    .description('add N (default 1; negative subtracts) to a counter')
    .action(async (name: string, n: string | undefined) => {
      const step = n === undefined ? 1 : arg(parseStep(n))
      const intent = draft('counter.add', { name, n: step })
      await withLocal(io, (l) => {
        commit(l, [intent])
        const c = local.reads(l).counter(name)
        const value = c?.value ?? 0
        if (ctx.json()) out(JSON.stringify({ name, value, added: step }) + '\n')
        else out(`${name} = ${value}\n`)
      })
    })

  counter
    .command('get <name>')
    .description("a counter's value (0 if nobody has added to it)")
    .action(async (name: string) => {
      await withLocal(io, (l) => {
        const r = local.reads(l)
        const c = r.counter(name)
        const names = fmt.namesOf(r.agents())
        if (ctx.json()) {
          const authors = (c?.authors ?? []).map((a) => ({ author_agent_id: a.author, author_name: names.get(a.author) ?? null, p: a.p, n: a.n }))
          out(JSON.stringify({ name, value: c?.value ?? 0, authors }) + '\n')
        } else out(`${name} = ${c?.value ?? 0}\n`)
      })
    })
}
