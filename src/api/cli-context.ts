/**
 * What every command of the CLI shares: the streams it writes to, the one error type it maps to an exit
 * code, opening the node's home, and turning what a user typed into a checked op body.
 */
import type { Clock, Json, Result } from '../core/index.ts'
import * as core from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import type { SignedOp } from '../log/index.ts'
import { home, local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import type { Intent } from '../store/index.ts'

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

/** Runs fn with the node's home open, and closes it whatever happens. */
export async function withLocal<T>(io: Io, fn: (l: Local) => T | Promise<T>): Promise<T> {
  const l = openLocal(io)
  try {
    return await fn(l)
  } finally {
    local.closeLocal(l)
  }
}

/** A body for a new op, checked by the knowledge layer: a refused field is bad usage (exit 2). */
export function draft(kind: knowledge.KindName, input: Record<string, unknown>, idempotencyKey?: string): Intent {
  const d = knowledge.draftBody(kind, input)
  if (!d.ok) throw new CliError(explain(d), 2)
  return { kind: d.value.kind, body: d.value.body, idempotencyKey }
}

/** A body failure as one line, with a hint for the fields people type. */
function explain(f: knowledge.BodyFailure): string {
  const hints: Record<string, string> = {
    fact_id: `a fact id is 1..${knowledge.factIdBytesMax} bytes with no control characters`,
    value: `keep values under ${knowledge.valueBytesMax} bytes; put files elsewhere and publish their path`,
    text: `shorten the text to at most ${knowledge.textBytesMax} bytes`,
    supersedes: `the fact has more than ${knowledge.supersedesMax} live versions: verify it first`,
    observed: `the fact has more than ${knowledge.supersedesMax} live versions: verify it first`,
  }
  const field = f.field.replace(/\[.*$/, '').replace(/\..*$/, '')
  const hint = hints[field]
  return hint === undefined ? f.detail : `${f.detail} (${hint})`
}

/** Writes intents as this node (local.commit); a store that refuses them is a failure (exit 1). */
export function commit(l: Local, intents: readonly Intent[]): { ops: readonly SignedOp[]; written: readonly boolean[] } {
  const r = local.commit(l, intents)
  if (!r.ok) throw new CliError(`the store refused the write: ${r.detail}`)
  return r.value
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

/** A --channel value: one of the channels, or bad usage naming them. */
export function parseChannel(text: string): Result<knowledge.Channel, 'bad_channel'> {
  const c = knowledge.channels.find((x) => x === text)
  return c === undefined
    ? core.fail('bad_channel', `unknown channel ${JSON.stringify(text)}: use one of ${knowledge.channels.join(', ')}`)
    : core.ok(c)
}

/** A --health value. */
export function parseHealth(text: string): Result<knowledge.Health, 'bad_health'> {
  const h = knowledge.healths.find((x) => x === text)
  return h === undefined
    ? core.fail('bad_health', `unknown health ${JSON.stringify(text)}: use one of ${knowledge.healths.join(', ')}`)
    : core.ok(h)
}

/** Collects a repeatable option (--tag a --tag b). */
export function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v]
}
