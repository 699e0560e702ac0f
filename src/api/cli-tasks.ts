/**
 * The coordination commands: agent status and the fleet, tasks with dependencies and claims, counters.
 */
import type { Command } from 'commander'
import type { Json } from '../core/index.ts'
import type { Health } from '../knowledge/index.ts'
import { arg, CliError, collect, parseHealth, parseValue, withLocal } from './cli-context.ts'
import type { Ctx } from './cli-context.ts'
import * as fmt from './format.ts'
import * as service from './service.ts'

/** The counter step parser the CLI shares with every edge (service.ts). */
export { parseStep } from './service.ts'

export function registerTasks(program: Command, ctx: Ctx): void {
  const { io } = ctx
  const out = (s: string) => io.out(s)
  const printTask = (doc: Record<string, Json>) => {
    if (ctx.json()) out(JSON.stringify(doc) + '\n')
  }
  const note = (m: string) => io.err(`grapevine: note: ${m}\n`)

  const status = program.command('status').description("this agent's status, as the fleet sees it")
  status
    .command('set <text>')
    .description('say what this agent is doing')
    .option('--health <health>', 'ok, degraded or blocked', (v) => arg(parseHealth(v)), 'ok' as Health)
    .option('--working-on <what>', 'a task id, a path…')
    .action(async (text: string, opts: { health: Health; workingOn?: string }) => {
      await withLocal(io, (l) => {
        const doc = service.statusSet(l, { text, health: opts.health, working_on: opts.workingOn })
        if (ctx.json()) out(JSON.stringify(doc) + '\n')
        else out(`status of ${l.identity.name}: ${opts.health}  ${fmt.oneLine(text)}\n`)
      })
    })

  const fleet = program
    .command('fleet')
    .description('the agents this node has heard of: name, status, health, working on, last seen')
    .action(async () => {
      await withLocal(io, (l) => {
        const nowMs = l.clock.nowMs()
        const rows = service.fleet(l)
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

  fleet
    .command('create')
    .description('create a secure fleet: this node makes and keeps its root key, and is its first member')
    .action(async () => (await import('./cli-fleet.ts')).fleetCreate(ctx))

  const task = program.command('task').description('tasks: dependencies, claims (one winner), done')

  task
    .command('add <title>')
    .description('create a task (it is ready once every task it depends on is done)')
    .option('--depends <id>', 'a task that must be done first (repeatable)', collect)
    .option('--assign <agent>', 'the agent it is meant for (a name or an author id)')
    .action(async (title: string, opts: { depends?: string[]; assign?: string }) => {
      await withLocal(io, (l) => {
        const t = service.taskAdd(l, { title, depends: opts.depends, assign: opts.assign })
        printTask(t)
        const after = t['depends'] as string[]
        if (!ctx.json()) out(`added task ${String(t['task_id'])}: ${fmt.oneLine(title, 80)}${after.length > 0 ? ` (after ${after.join(', ')})` : ''}\n`)
      })
    })

  task
    .command('claim <id>')
    .description('claim a task; the earliest claim wins everywhere (exit 1 if another agent holds it)')
    .action(async (id: string) => {
      await withLocal(io, (l) => {
        const t = service.taskClaim(l, { id }, note)
        const by = t['claimed_by']
        const holder = typeof by !== 'string' ? null : ((t['claimed_by_name'] as string | null) ?? by.slice(0, 12))
        printTask(t)
        if (t['outcome'] === 'won') {
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
        printTask(service.taskRelease(l, { id }))
        if (!ctx.json()) out(`released task ${id}\n`)
      })
    })

  task
    .command('done <id>')
    .description('mark a task done (for good); RESULT is parsed as JSON if it is valid JSON, else a string')
    .option('--result <result>', 'what came of it')
    .action(async (id: string, opts: { result?: string }) => {
      await withLocal(io, (l) => {
        printTask(service.taskDone(l, { id, result: opts.result === undefined ? undefined : parseValue(opts.result) }))
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
        const { rows, r, names } = service.taskRows(l, opts)
        if (ctx.json()) {
          out(JSON.stringify(rows.map((t) => fmt.taskJson(t, names, service.isReady(r, t)))) + '\n')
          return
        }
        const p = fmt.paint(io)
        for (const t of rows) {
          const label = t.state === 'open' ? (service.isReady(r, t) ? 'ready' : 'waiting') : t.state
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
      await withLocal(io, (l) => {
        const doc = service.counterAdd(l, { name, n })
        if (ctx.json()) out(JSON.stringify(doc) + '\n')
        else out(`${name} = ${doc.value}\n`)
      })
    })

  counter
    .command('get <name>')
    .description("a counter's value (0 if nobody has added to it)")
    .action(async (name: string) => {
      await withLocal(io, (l) => {
        const doc = service.counterGet(l, { name })
        if (ctx.json()) out(JSON.stringify(doc) + '\n')
        else out(`${name} = ${doc.value}\n`)
      })
    })
}
