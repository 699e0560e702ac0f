/**
 * Benchmark runner: `npm run bench -- NAME [args]` runs bench/NAME.ts, whose `main(args)` returns the exit
 * code. An unknown or missing name lists the benchmarks and exits 2.
 */
import { readdirSync } from 'node:fs'

type BenchModule = { main(argv: readonly string[]): Promise<number> }

const benchDir = new URL('./', import.meta.url)

/** Every bench/NAME.ts except this runner and tests; helpers live in bench/lib/. */
function available(): string[] {
  return readdirSync(benchDir)
    .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -'.ts'.length))
    .sort()
}

async function run(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  const names = available()
  if (name === undefined || !names.includes(name)) {
    const what = name === undefined ? 'no benchmark named' : `unknown benchmark ${JSON.stringify(name)}`
    process.stderr.write(
      `bench: ${what}; available: ${names.join(', ')}\nusage: npm run bench -- NAME [args]\n`,
    )
    return 2
  }
  const mod = (await import(new URL(`${name}.ts`, benchDir).href)) as BenchModule
  return mod.main(rest)
}

process.exitCode = await run(process.argv.slice(2))
