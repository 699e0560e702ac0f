/**
 * The grapevine command line. Every command works with no daemon and no network: it opens the node's
 * home (GRAPEVINE_HOME) and its store directly. Data goes to stdout (one JSON document with --json, one
 * object per line for streams), everything else to stderr. Exit codes: 0 success, 1 failure, 2 bad
 * usage. Errors are mapped here, once: one line on stderr saying what was wrong and what to do.
 */
import { fstatSync, writeSync } from 'node:fs'
import { isatty } from 'node:tty'
import type { Command } from 'commander'
import { home } from '../node/index.ts'
import { CliError, withLocal } from './cli-context.ts'
import type { Ctx, Io } from './cli-context.ts'
import { parsePlain } from './cli-options.ts'

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
  fleet: { commands: ['invite', 'join', 'revoke', 'rotate-key'], load: async () => (await import('./cli-fleet.ts')).registerFleet },
  sync: { commands: ['sync'], load: async () => (await import('./cli-sync.ts')).registerSync },
  daemon: { commands: ['up', 'peers'], load: async () => (await import('./cli-daemon.ts')).registerDaemon },
  agents: { commands: ['brief', 'hooks', 'mcp'], load: async () => (await import('./cli-agents.ts')).registerAgents },
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
  const { Command } = await import('commander')
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

/**
 * The commands with a fast path: a plain command line of one of them (cli-options.ts parsePlain: each
 * option once, as its exact flag, every value accepted by the option's own parser) runs its action
 * directly, without commander (loading it and building the program is ~5 ms of a start that tail, the
 * command every agent session starts with, spends mostly starting Node). Any other line of them, help
 * and every mistake included, goes to commander as ever. The options and the action are the command's
 * own, the ones commander registers. cli.test.ts runs the command lines of both paths.
 */
export const fastCommands = {
  tail: async () => {
    const m = await import('./cli-facts.ts')
    return { options: m.tailOptions, run: (ctx: Ctx, opts: Record<string, unknown>) => m.tail(ctx, opts as never) }
  },
  brief: async () => {
    const m = await import('./cli-agents.ts')
    return { options: m.briefOptions, run: (ctx: Ctx, opts: Record<string, unknown>) => m.runBrief(ctx, opts as never) }
  },
} as const

/** The fast path's run of argv, or undefined when argv is not a plain line of a fast command. */
export async function fastRun(argv: readonly string[], io: Io): Promise<(() => Promise<void>) | undefined> {
  const json = argv[0] === '--json'
  const name = argv[json ? 1 : 0]
  if (name === undefined || !Object.hasOwn(fastCommands, name)) return undefined
  const c = await fastCommands[name as keyof typeof fastCommands]()
  const opts = parsePlain(c.options, argv.slice(json ? 2 : 1))
  if (opts === undefined) return undefined
  const ctx: Ctx = { io, json: () => json }
  return () => c.run(ctx, opts)
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const fast = await fastRun(argv, io)
  if (fast !== undefined) {
    try {
      await fast()
      return 0
    } catch (e) {
      return failed(e, io)
    }
  }
  const { CommanderError } = await import('commander')
  const program = await createProgram(io, argv)
  try {
    await program.parseAsync(argv as string[], { from: 'user' })
    return 0
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not failures; everything else commander reports is bad usage (a value
      // refused by an option's parser included: cli-context.ts UsageError)
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0 ? 0 : 2
    }
    return failed(e, io)
  }
}

/** An action's failure as one line on stderr; returns the exit code. */
function failed(e: unknown, io: Io): number {
  if (e instanceof CliError) {
    // a UsageError (a CliError, exit 2) thrown by a parser inside an action comes here too
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

/**
 * A writer of one of this process's standard streams (1 or 2) that writes each string whole before it
 * returns, straight to the file descriptor: process.stdout and process.stderr build Node's streams
 * machinery on first use (~5 ms of a start that prints 20 lines), and a synchronous write also keeps
 * stdout and stderr in the order they were written. A descriptor in non-blocking mode (a pipe shared with
 * a parent that made it so) can refuse with EAGAIN: the rest of the run then goes through the stream,
 * which waits for the reader. A reader that went away (EPIPE, `| head`) ends the run with exit 0 on stdout,
 * and is ignored on stderr.
 */
export function fdWriter(fd: 1 | 2, write: typeof writeSync = writeSync): (s: string) => void {
  let stream: NodeJS.WriteStream | undefined
  const gone = (e: unknown) => (e as NodeJS.ErrnoException).code === 'EPIPE'
  return (s) => {
    if (stream !== undefined) {
      stream.write(s)
      return
    }
    const buf = Buffer.from(s, 'utf8')
    let off = 0
    try {
      while (off < buf.length) off += write(fd, buf, off)
    } catch (e) {
      if (gone(e)) {
        if (fd === 1) process.exit(0)
        return
      }
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e
      stream = fd === 1 ? process.stdout : process.stderr
      stream.on('error', (err) => {
        if (!gone(err)) throw err
        if (fd === 1) process.exit(0)
      })
      stream.write(buf.subarray(off))
    }
  }
}

let tty: boolean | undefined

/**
 * Whether stdout is a terminal, asked only when a command paints (NO_COLOR unset): node:tty loads net and
 * the streams (~5 ms). A terminal is a character device, so anything else (a pipe, a file) is answered by
 * one fstat without loading it.
 */
function stdoutIsTty(): boolean {
  if (tty === undefined) {
    try {
      tty = fstatSync(1).isCharacterDevice() && isatty(1)
    } catch {
      tty = false // reason: a closed stdout is no terminal
    }
  }
  return tty
}

/** Runs the CLI on this process's arguments and streams (bin/grapevine.js calls it). */
export async function run(): Promise<void> {
  const stop = new AbortController()
  const onSigint = () => stop.abort()
  try {
    process.exitCode = await main(process.argv.slice(2), {
      out: fdWriter(1),
      err: fdWriter(2),
      env: process.env,
      get isTTY() {
        return stdoutIsTty()
      },
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
