/**
 * The commands for coding agents: `brief` (the session-start catch-up, also as an agent's SessionStart
 * hook), `hooks` (install the hook and the MCP server into an agent's config) and `mcp` (the MCP server
 * over stdio). `hooks` and `mcp` load their modules only when run: `brief --hook` starts every session.
 */
import type { Command } from 'commander'
import { home, local } from '../node/index.ts'
import * as brief from './brief.ts'
import { briefOf, parseAgent, parseBudget } from './brief.ts'
import type { HookAgent } from './brief.ts'
import { arg, withLocal } from './cli-context.ts'
import type { Ctx } from './cli-context.ts'
import { addOptions } from './cli-options.ts'
import type { OptionSpec } from './cli-options.ts'

/** brief's options: commander's, and the fast path's (cli.ts), from this one table. */
export const briefOptions: readonly OptionSpec[] = [
  { flags: '--budget-chars <n>', key: 'budgetChars', description: 'fit the brief in this many characters', parse: parseBudget, default: brief.budgetCharsDefault },
  { flags: '--hook <agent>', key: 'hook', description: "print what this agent's SessionStart hook expects (claude, codex, gemini, cursor); prints nothing if the store cannot be read", parse: parseAgent },
  { flags: '--peek', key: 'peek', description: 'do not remember this brief: the next one shows the same news again' },
]

export type BriefOptions = { budgetChars: number; hook?: HookAgent; peek?: boolean }

/** `grapevine brief`. */
export async function runBrief(ctx: Ctx, opts: BriefOptions): Promise<void> {
  const { io } = ctx
  const agent = opts.hook
  if (agent === undefined) {
    await withLocal(io, (l) => {
      const { data, rendered } = briefOf(l, 'cli', opts.budgetChars, opts.peek === true)
      io.out(ctx.json() ? JSON.stringify(brief.briefJson(data, rendered)) + '\n' : rendered.text + '\n')
    })
    return
  }
  // A hook never fails the agent's session and never creates a home: anything wrong prints nothing.
  let out: string | undefined
  try {
    const dir = home.resolveHome(io.env)
    if (!home.load(dir).ok) return
    const l = local.openLocal(dir, io.clock)
    if (!l.ok) return
    try {
      // damaged views would make every read a scan of the whole op log: too slow for a session's start
      if (l.value.store.views === undefined) return
      out = brief.hookOutput(agent, briefOf(l.value, agent, opts.budgetChars, opts.peek === true).rendered.text)
    } finally {
      local.closeLocal(l.value)
    }
  } catch {
    return // reason: a damaged store or home must not stop the agent's session (the hook's contract)
  }
  io.out(out + '\n')
}

export function registerAgents(program: Command, ctx: Ctx): void {
  addOptions(
    program.command('brief').description("what the fleet learned since this agent's last brief: warnings first, then discoveries, open tickets, tasks, fleet status"),
    briefOptions,
  ).action((opts: BriefOptions) => runBrief(ctx, opts))

  const hooks = program.command('hooks').description("install grapevine into a coding agent's config: its SessionStart hook runs grapevine brief, and grapevine mcp is registered")
  const scope = (c: Command) =>
    c
      .option('--project', 'the config of the project in the current directory (the default)')
      .option('--user', "the user's config, for every project")
  scope(hooks.command('install').description('add the SessionStart hook and the MCP server (again: changes nothing)'))
    .requiredOption('--agent <agent>', 'claude, codex, gemini or cursor', (v) => arg(parseAgent(v)))
    .action(async (opts: { agent: HookAgent; project?: boolean; user?: boolean }) => (await import('./hooks.ts')).installCommand(ctx, opts))
  scope(hooks.command('uninstall').description('remove what install added, restoring each file as it was before'))
    .requiredOption('--agent <agent>', 'claude, codex, gemini or cursor', (v) => arg(parseAgent(v)))
    .action(async (opts: { agent: HookAgent; project?: boolean; user?: boolean }) => (await import('./hooks.ts')).uninstallCommand(ctx, opts))
  scope(hooks.command('status').description('what is installed, for each agent'))
    .action(async (opts: { project?: boolean; user?: boolean }) => (await import('./hooks.ts')).statusCommand(ctx, opts))

  program
    .command('mcp')
    .description('serve the MCP tools (brief, publish, search, facts, tasks...) over stdio, for an agent to start')
    .action(async () => (await import('./mcp.ts')).serveStdio(ctx.io))
}
