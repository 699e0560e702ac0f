/**
 * What every command of the CLI shares: the streams it writes to, the one error type it maps to an exit
 * code, opening the node's home, and turning what a user typed into a checked op body.
 */
import type { Clock, Json, Result } from '../core/index.ts'
import * as core from '../core/index.ts'
import type * as knowledge from '../knowledge/index.ts'
import type { SignedOp } from '../log/index.ts'
import { home, local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import type { Intent } from '../store/index.ts'
import * as service from './service.ts'
import { ServiceError } from './service.ts'

/**
 * The CLI's outside world, passed in so tests run it in process. `isTTY` says whether stdout is a
 * terminal (colour only then). `interrupts()` is called by a command that runs until interrupted
 * (`tail --follow`): from then on, Ctrl-C (SIGINT) fires the signal it returns instead of killing the
 * process, so the command ends cleanly; every other command keeps the default (Ctrl-C stops it).
 */
export type Io = {
  out(s: string): void
  err(s: string): void
  env: NodeJS.ProcessEnv
  isTTY?: boolean | undefined
  interrupts?: (() => AbortSignal) | undefined
  /** The wall clock (tests pass a fake one); the system clock by default. */
  clock?: Clock | undefined
}

/** What a command needs: the streams, and whether --json was given. */
export type Ctx = { readonly io: Io; json(): boolean }

/** A failure the user can act on: printed as one line, with the exit code it maps to. */
export class CliError extends Error {
  readonly exitCode: 1 | 2
  constructor(message: string, exitCode: 1 | 2 = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

/**
 * Bad usage found in a value (exit 2). Thrown by an option's parser, commander reports it as its own
 * InvalidArgumentError, which it knows by this `code` (commander's Command._callParseArg: "error: option
 * ... argument ... is invalid." and the message); thrown by an action, main() prints it. So this module
 * does not load commander, which tail's fast path (cli.ts) never does.
 */
export class UsageError extends CliError {
  readonly code = 'commander.invalidArgument'
  constructor(message: string) {
    super(message, 2)
  }
}

/** Unwraps a parser result: a failure is bad usage (exit 2). */
export function arg<T>(r: Result<T, string>): T {
  if (!r.ok) throw new UsageError(r.detail)
  return r.value
}

/** Opens the node's home, creating its identity on first use (and saying so on stderr). */
export function openLocal(io: Io): Local {
  const l = local.openLocal(home.resolveHome(io.env), io.clock, {
    onViewsUpgrade: (ops) =>
      io.err(`grapevine: building this store's views from its ${ops} ops (once, after an upgrade)…\n`),
  })
  if (!l.ok) {
    const hint =
      l.reason === 'newer_format'
        ? ''
        : l.reason === 'corrupt'
          ? '; move it aside (or restore a backup) and sync from a peer; nothing was changed'
          : ' (check GRAPEVINE_HOME)'
    throw new CliError(`${l.detail}${hint}`)
  }
  if (l.value.store.viewsProblem !== undefined) {
    io.err(`grapevine: warning: ${l.value.store.viewsProblem}; reading the op log directly (slow) until grapevine rebuild repairs them\n`)
  }
  if (l.value.created) io.err(`grapevine: created identity ${l.value.identity.name} (${l.value.identity.author.slice(0, 12)}…) in ${l.value.home}\n`)
  return l.value
}

/**
 * The CLI's one mapping of the service's errors (service.ts): bad input is bad usage (exit 2), anything
 * else (not found, a conflict, forbidden by the fleet capabilities, the store unavailable) a failure
 * (exit 1), with the service's message.
 */
export function cliError(e: ServiceError): CliError {
  return new CliError(e.message, e.kind === 'bad_input' ? 2 : 1)
}

/** Runs fn, turning a ServiceError it throws into the CliError it maps to. */
export function cli<T>(fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    throw e instanceof ServiceError ? cliError(e) : e
  }
}

/** Runs fn with the node's home open, and closes it whatever happens; a ServiceError becomes its CliError. */
export async function withLocal<T>(io: Io, fn: (l: Local) => T | Promise<T>): Promise<T> {
  const l = openLocal(io)
  try {
    return await fn(l)
  } catch (e) {
    throw e instanceof ServiceError ? cliError(e) : e
  } finally {
    local.closeLocal(l)
  }
}

/** A body for a new op (service.draft): a refused field is bad usage (exit 2). */
export function draft(kind: knowledge.KindName, input: Record<string, unknown>, idempotencyKey?: string): Intent {
  return cli(() => service.draft(kind, input, idempotencyKey))
}

/** Writes intents as this node (service.commit); a store that refuses them is a failure (exit 1). */
export function commit(l: Local, intents: readonly Intent[]): { ops: readonly SignedOp[]; written: readonly boolean[] } {
  return cli(() => service.commit(l, intents))
}

/** A VALUE typed on the command line: JSON if it parses as JSON, else the text as a string. */
export function parseValue(text: string): Json {
  try {
    const v: unknown = JSON.parse(text)
    if (core.json.isJson(v)) return v
  } catch {
    // not JSON: the text itself
  }
  return text
}

/** A --channel value and a --health value: the service's parsers, so every edge says the same. */
export { parseChannel, parseHealth } from './service.ts'

/** Collects a repeatable option (--tag a --tag b). */
export function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v]
}
