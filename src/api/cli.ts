/**
 * The grapevine command line. Every command works with no daemon and no network: it opens the node's
 * home (GRAPEVINE_HOME) and its store directly. Data goes to stdout (one JSON document with --json, one
 * object per line for streams), everything else to stderr. Exit codes: 0 success, 1 failure, 2 bad
 * usage. Errors are mapped here, once: one line on stderr saying what was wrong and what to do.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import type { Result } from '../core/index.ts'
import * as log from '../log/index.ts'
import type { SignedOp } from '../log/index.ts'
import { home, local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import { opLog } from '../store/index.ts'
import { parseCount, parseTime } from './parse.ts'

/** A failure the user can act on: printed as one line, with the exit code it maps to. */
export class CliError extends Error {
  readonly exitCode: 1 | 2
  constructor(message: string, exitCode: 1 | 2 = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

/** Unwraps a parser result for commander: a failure is bad usage (exit 2). */
function arg<T>(r: Result<T, string>): T {
  if (!r.ok) throw new InvalidArgumentError(r.detail)
  return r.value
}

type Io = { out(s: string): void; err(s: string): void; env: NodeJS.ProcessEnv }

function openLocal(io: Io): Local {
  const l = local.openLocal(home.resolveHome(io.env))
  if (!l.ok) throw new CliError(`${l.detail}${l.reason === 'newer_format' ? '' : ' (check GRAPEVINE_HOME)'}`)
  if (l.value.created) io.err(`grapevine: created identity ${l.value.identity.name} (${l.value.identity.author.slice(0, 12)}…) in ${l.value.home}\n`)
  return l.value
}

function withLocal<T>(io: Io, fn: (l: Local) => T): T {
  const l = openLocal(io)
  try {
    return fn(l)
  } finally {
    local.closeLocal(l)
  }
}

/** An op as the CLI shows it (the --json shape of `log`). */
export function opJson(e: SignedOp): Record<string, unknown> {
  const o = e.op
  return {
    author: o.author,
    seq: o.seq,
    hash: log.toHex(e.hash),
    created_at: new Date(o.hlc.wallMs).toISOString(),
    hlc: `${o.hlc.wallMs}.${o.hlc.logical}`,
    kind: o.kind,
    body: o.body,
    idempotency_key: o.idempotencyKey ?? null,
  }
}

export function createProgram(io: Io): Command {
  const program = new Command('grapevine')
    .description('Peer-to-peer, offline-first knowledge for fleets of AI agents')
    .option('--json', 'print JSON (one document; one object per line for streams)')
    .showHelpAfterError('(run grapevine --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
  const json = (): boolean => program.opts<{ json?: boolean }>().json === true

  program
    .command('init')
    .description("create this node's identity and store in GRAPEVINE_HOME")
    .option('--name <name>', 'a human-readable name for this node')
    .action((opts: { name?: string }) => {
      const dir = home.resolveHome(io.env)
      const r = home.init(dir, opts.name ?? home.generatedName())
      if (!r.ok) throw new CliError(r.reason === 'invalid_name' ? r.detail : `${r.detail}; nothing was changed`, r.reason === 'invalid_name' ? 2 : 1)
      withLocal(io, () => undefined) // creates the store next to the identity
      const doc = { name: r.value.name, author: r.value.author, home: dir }
      io.out(json() ? JSON.stringify(doc) + '\n' : `initialised ${doc.name} (${doc.author}) in ${dir}\n`)
    })

  program
    .command('log')
    .description('the op log, newest first: every change this node holds, from every author')
    .option('-n <count>', 'how many ops', (v) => arg(parseCount(v, 100_000)), 20)
    .option('--author <author>', 'only ops of this author (64 hex characters)', (v) => arg(log.parseAuthorId(v)))
    .option('--as-of <time>', 'the log as it was at a time (ISO date, or an age like 2h)')
    .action((opts: { n: number; author?: log.AuthorId; asOf?: string }) => {
      withLocal(io, (l) => {
        const asOfMs = opts.asOf === undefined ? undefined : arg(parseTime(opts.asOf, l.clock.nowMs()))
        const ops = opLog.recent(l.store, { limit: opts.n, author: opts.author, asOfMs })
        if (json()) io.out(JSON.stringify(ops.map(opJson)) + '\n')
        else for (const e of ops) io.out(`${new Date(e.op.hlc.wallMs).toISOString()}  ${e.op.author.slice(0, 12)} #${e.op.seq}  ${e.op.kind}  ${JSON.stringify(e.op.body)}\n`)
      })
    })
  return program
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const program = createProgram(io)
  try {
    await program.parseAsync(argv as string[], { from: 'user' })
    return 0
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not failures; everything else commander reports is bad usage
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0 ? 0 : 2
    }
    if (e instanceof InvalidArgumentError) {
      io.err(`grapevine: ${e.message}\n`)
      return 2
    }
    if (e instanceof CliError) {
      io.err(`grapevine: ${e.message}\n`)
      return e.exitCode
    }
    throw e
  }
}

/** Runs the CLI on this process's arguments and streams (bin/grapevine.js calls it). */
export async function run(): Promise<void> {
  process.exitCode = await main(process.argv.slice(2), {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    env: process.env,
  })
}

if (import.meta.main) await run()
