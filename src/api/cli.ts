/**
 * The grapevine command line. Every command works with no daemon and no network: it opens the node's
 * home (GRAPEVINE_HOME) and its store directly. Data goes to stdout (one JSON document with --json, one
 * object per line for streams), everything else to stderr. Exit codes: 0 success, 1 failure, 2 bad
 * usage. Errors are mapped here, once: one line on stderr saying what was wrong and what to do.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import { home } from '../node/index.ts'
import { CliError, withLocal } from './cli-context.ts'
import type { Ctx, Io } from './cli-context.ts'

export { CliError } from './cli-context.ts'
export type { Io } from './cli-context.ts'

/**
 * The modules that register the commands, by the top-level commands each registers. A run loads only the
 * module of the command it was given (start-up: `tail` never loads the task or import code); help, no
 * command or an unknown one load them all, so help and suggestions list every command.
 * cli.test.ts checks that each module registers exactly these.
 */
export const commandModules = {
  facts: { commands: ['publish', 'tail', 'search', 'fact', 'conflicts', 'verify'], load: async () => (await import('./cli-facts.ts')).registerFacts },
  tasks: { commands: ['status', 'fleet', 'task', 'counter'], load: async () => (await import('./cli-tasks.ts')).registerTasks },
  io: { commands: ['export', 'import', 'log', 'metrics', 'rebuild'], load: async () => (await import('./cli-io.ts')).registerIo },
} as const

/** The command argv names: its first word that is not an option (the only global option, --json, takes no value). */
function commandOf(argv: readonly string[]): string | undefined {
  for (const a of argv) {
    if (a === '--') return undefined
    if (!a.startsWith('-')) return a
  }
  return undefined
}

/** The program for argv: `init` and every command of the modules argv needs (all of them when unsure). */
export async function createProgram(io: Io, argv?: readonly string[]): Promise<Command> {
  const program = new Command('grapevine')
    .description('Peer-to-peer, offline-first knowledge for fleets of AI agents')
    .option('--json', 'print JSON (one document; one object per line for streams)')
    .showHelpAfterError('(run grapevine --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
  const ctx: Ctx = { io, json: () => program.opts<{ json?: boolean }>().json === true }

  program
    .command('init')
    .description("create this node's identity and store in GRAPEVINE_HOME")
    .option('--name <name>', 'a human-readable name for this node')
    .action(async (opts: { name?: string }) => {
      const dir = home.resolveHome(io.env)
      const r = home.init(dir, opts.name ?? home.generatedName())
      if (!r.ok) throw new CliError(r.reason === 'invalid_name' ? r.detail : `${r.detail}; nothing was changed`, r.reason === 'invalid_name' ? 2 : 1)
      await withLocal(io, () => undefined) // creates the store next to the identity
      const doc = { name: r.value.name, author: r.value.author, home: dir }
      io.out(ctx.json() ? JSON.stringify(doc) + '\n' : `initialised ${doc.name} (${doc.author}) in ${dir}\n`)
    })

  const name = argv === undefined ? undefined : commandOf(argv)
  const modules = Object.values(commandModules)
  const only = modules.find((m) => (m.commands as readonly string[]).includes(name ?? ''))
  for (const m of only === undefined ? (name === 'init' ? [] : modules) : [only]) (await m.load())(program, ctx)
  return program
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const program = await createProgram(io, argv)
  try {
    await program.parseAsync(argv as string[], { from: 'user' })
    return 0
  } catch (e) {
    if (e instanceof InvalidArgumentError) {
      // thrown by a parser inside an action (commander prints the ones its own option parsing catches,
      // and rethrows them as plain CommanderErrors)
      io.err(`grapevine: ${e.message}\n`)
      return 2
    }
    if (e instanceof CommanderError) {
      // help and version are not failures; everything else commander reports is bad usage
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0 ? 0 : 2
    }
    if (e instanceof CliError) {
      io.err(`grapevine: ${e.message}\n`)
      return e.exitCode
    }
    // Anything else is a store that failed under us (a damaged file, a full disk) or a bug: one line,
    // never a stack trace, unless GRAPEVINE_DEBUG asks for it.
    const msg = e instanceof Error ? e.message : String(e)
    const damaged = /malformed|not a database|corrupt|does not decode/i.test(msg)
    io.err(`grapevine: ${damaged ? `the store is damaged (${msg}): move it aside or restore a backup, then sync from a peer` : msg}\n`)
    if (io.env['GRAPEVINE_DEBUG'] !== undefined && e instanceof Error && e.stack !== undefined) io.err(`${e.stack}\n`)
    return 1
  }
}

/** Runs the CLI on this process's arguments and streams (bin/grapevine.js calls it). */
export async function run(): Promise<void> {
  const stop = new AbortController()
  const onSigint = () => stop.abort()
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0) // the reader went away (| head): not a failure
  })
  try {
    process.exitCode = await main(process.argv.slice(2), {
      out: (s) => process.stdout.write(s),
      err: (s) => process.stderr.write(s),
      env: process.env,
      isTTY: process.stdout.isTTY,
      interrupts: () => {
        process.once('SIGINT', onSigint)
        return stop.signal
      },
    })
  } finally {
    process.off('SIGINT', onSigint)
  }
}

if (import.meta.main) await run()
