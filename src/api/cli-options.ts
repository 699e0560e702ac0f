/**
 * A command's options as data, for the commands that have a fast path (cli.ts): commander registers them
 * from this table, and the fast path reads the same table, so there is one copy of the rules. The fast
 * path takes only the plainest command lines (each option at most once, as its exact flag, a value as the
 * next word); anything else, including every mistake, goes to commander, which reports it as ever.
 */
import type { Command } from 'commander'
import type { Result } from '../core/index.ts'
import { arg } from './cli-context.ts'

export type OptionSpec = {
  /** As commander takes them: `-n <count>`, `--channel <channel>`, `--follow`. */
  readonly flags: string
  /** The key of the parsed options (commander's camel case of the long flag, or the short one). */
  readonly key: string
  readonly description: string
  /** Checks a value (an option with `<value>`); a failure is bad usage. Without it, the text itself. */
  readonly parse?: (text: string) => Result<unknown, string>
  readonly default?: unknown
}

/** Registers the options on a commander command. */
export function addOptions(cmd: Command, specs: readonly OptionSpec[]): Command {
  for (const s of specs) {
    const parse = s.parse
    if (parse === undefined) cmd.option(s.flags, s.description, s.default as string | boolean | undefined)
    else cmd.option(s.flags, s.description, (v: string) => arg(parse(v)), s.default)
  }
  return cmd
}

const flagsOf = (s: OptionSpec): string[] => s.flags.split(/[ ,]+/).filter((f) => f.startsWith('-'))
const takesValue = (s: OptionSpec): boolean => s.flags.includes('<')

/**
 * The options of args (what follows the command's name) when they are plain: every word an exact flag of
 * specs, given once, a value option followed by a value that is not itself option-like and that its
 * parser accepts. undefined otherwise: the caller hands the line to commander.
 */
export function parsePlain(specs: readonly OptionSpec[], args: readonly string[]): Record<string, unknown> | undefined {
  const opts: Record<string, unknown> = {}
  for (const s of specs) if (s.default !== undefined) opts[s.key] = s.default
  const seen = new Set<string>()
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    const s = specs.find((x) => flagsOf(x).includes(a))
    if (s === undefined || seen.has(s.key)) return undefined
    seen.add(s.key)
    if (!takesValue(s)) {
      opts[s.key] = true
      continue
    }
    const v = args[++i]
    if (v === undefined || v.startsWith('-')) return undefined
    if (s.parse === undefined) opts[s.key] = v
    else {
      const r = s.parse(v)
      if (!r.ok) return undefined
      opts[s.key] = r.value
    }
  }
  return opts
}
