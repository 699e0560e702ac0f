/**
 * The command line of a benchmark's `main`: flags (`--quick`), whole numbers (`--rounds N`, each with a
 * lower bound) and paths (`--out PATH`). One parser for every bench, so each says the same thing about
 * a bad argument: what was wrong and the usage, on stderr, and `main` returns 2.
 */

export type ArgKind = 'flag' | 'count' | 'path'

export type ParsedArgs<S extends Record<string, ArgKind>> = {
  [K in keyof S]: S[K] extends 'flag'
    ? boolean
    : S[K] extends 'count'
      ? number | undefined
      : string | undefined
}

/**
 * Parses argv against spec (`{ quick: 'flag', rounds: 'count', out: 'path' }` for `--quick --rounds 3
 * --out x.json`). A count must be a whole number >= its minimum (default 1). Undefined on bad input,
 * after saying why.
 */
export function parseBenchArgs<S extends Record<string, ArgKind>>(
  bench: string,
  argv: readonly string[],
  spec: S,
  usage: string,
  minimums: Partial<Record<keyof S, number>> = {},
): ParsedArgs<S> | undefined {
  const out: Record<string, boolean | number | string | undefined> = {}
  for (const [name, kind] of Object.entries(spec)) out[name] = kind === 'flag' ? false : undefined
  const fail = (why: string): undefined => {
    process.stderr.write(`bench ${bench}: ${why}\n${usage}\n`)
    return undefined
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    const name = a.startsWith('--') ? a.slice(2) : ''
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined
    if (kind === undefined) return fail(`unknown argument ${JSON.stringify(a)}`)
    if (kind === 'flag') {
      out[name] = true
      continue
    }
    const v = argv[++i]
    if (v === undefined) return fail(`${a} needs a value`)
    if (kind === 'path') out[name] = v
    else {
      const min = minimums[name as keyof S] ?? 1
      if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min)
        return fail(`${a} needs a whole number >= ${min}, not ${JSON.stringify(v)}`)
      out[name] = Number(v)
    }
  }
  return out as ParsedArgs<S>
}

/** The object without its undefined properties (options objects under exactOptionalPropertyTypes). */
export function defined<T extends Record<string, unknown>>(
  o: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const r: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) if (v !== undefined) r[k] = v
  return r as { [K in keyof T]?: Exclude<T[K], undefined> }
}
