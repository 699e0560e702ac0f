/**
 * `npm run sim -- --seed S [--scenario X]`: runs one seed and prints a summary.
 * `npm run sim -- --seeds N [--seed BASE] [--scenario X]`: runs N seeds from BASE (default 1).
 * `--fast-path none|push|plumtree` overrides the fast path each seed draws; `--override '<json>'` any
 * drawn parameter (ScenarioParams).
 * `npm run sim -- --seed S --minimize`: switches faults off one by one while the seed still fails the same
 * way, and prints the smallest failing override (what regressions.json keeps).
 * `npm run sim -- report [--quick]`: the propagation report (sim/report.ts).
 * A failure prints `reproduce: npm run sim -- --seed <seed> --scenario <x>`, which replays it exactly.
 */
import type { ScenarioName, ScenarioParams } from './scenario.ts'
import { reproduceCommand as reproduce, summary } from './summary.ts'
import { runScenario, scenarioNames } from './scenario.ts'
import { faultClasses } from './kernel.ts'
import { minimize } from './minimize.ts'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

function main(): number {
  const name = (arg('scenario') ?? 'mixed') as ScenarioName
  if (!scenarioNames.includes(name)) {
    console.error(`sim: unknown scenario ${name}; one of ${scenarioNames.join(', ')}`)
    return 2
  }
  const fastPathMode = arg('fast-path') as ScenarioParams['fastPath'] | undefined
  if (fastPathMode !== undefined && !['none', 'push', 'plumtree'].includes(fastPathMode)) {
    console.error('sim: --fast-path takes none, push or plumtree')
    return 2
  }
  let override: Partial<ScenarioParams> = {}
  const rawOverride = arg('override')
  if (rawOverride !== undefined) {
    try {
      override = JSON.parse(rawOverride) as Partial<ScenarioParams>
    } catch {
      console.error("sim: --override takes JSON, e.g. '{\"loss\":0}'")
      return 2
    }
  }
  if (fastPathMode !== undefined) override = { ...override, fastPath: fastPathMode }
  const opts = { override }
  const seeds = arg('seeds')
  const base = Number(arg('seed') ?? 1)
  if (!Number.isSafeInteger(base)) {
    console.error('sim: --seed takes an integer')
    return 2
  }
  if (process.argv.includes('--minimize')) {
    const m = minimize(base, name, override, (line) => console.log(line))
    if (m === undefined) {
      console.log(`seed ${base} passes: nothing to minimize`)
      return 0
    }
    console.log(summary(m.result))
    console.log(reproduce(m.result, name, m.override))
    return 1
  }
  if (seeds === undefined) {
    const r = runScenario(base, name, opts)
    console.log(summary(r))
    if (r.failures.length > 0) console.log(reproduce(r, name, override))
    return r.failures.length === 0 ? 0 : 1
  }
  const count = Number(seeds)
  const started = performance.now()
  const fired = new Map<string, number>()
  let failed = 0
  /** Rounds the core took to agree, as a share of its bound: how much room the liveness bound leaves. */
  const roundShares: number[] = []
  let catchUpMax = 0
  for (let s = base; s < base + count; s++) {
    const r = runScenario(s, name, opts)
    if (r.rounds !== undefined) roundShares.push(r.rounds / r.roundsBound)
    if (r.catchUpRatio !== undefined) catchUpMax = Math.max(catchUpMax, r.catchUpRatio)
    for (const [c, n] of r.faults) fired.set(c, (fired.get(c) ?? 0) + n)
    if (r.failures.length > 0) {
      failed++
      console.log(summary(r))
      console.log(reproduce(r, name, override))
    }
  }
  const secs = (performance.now() - started) / 1000
  const never = faultClasses.filter((c) => !fired.has(c))
  console.log(`${count} seeds from ${base}: ${failed} failed, ${secs.toFixed(1)} s (${(count / secs).toFixed(2)} seeds/s)`)
  roundShares.sort((a, b) => a - b)
  const at = (q: number): string => ((roundShares[Math.min(roundShares.length - 1, Math.floor(q * roundShares.length))] ?? 0) * 100).toFixed(0)
  console.log(`rounds to agree as % of the bound: median ${at(0.5)}%, p99 ${at(0.99)}%, max ${at(1)}%; days catch-up max ${catchUpMax.toFixed(2)}x`)
  console.log(`fault classes fired: ${[...fired].map(([c, n]) => `${c}:${n}`).join(' ')}`)
  if (never.length > 0 && name !== 'canary') console.log(`FAIL fault classes that never fired: ${never.join(', ')}`)
  return failed > 0 || (never.length > 0 && name !== 'canary') ? 1 : 0
}

if (process.argv[2] === 'report') {
  // the propagation report (sim/report.ts) lives beside the simulator and shares its kernel
  const report = await import('./report.ts')
  report.main(process.argv.slice(3))
} else process.exitCode = main()
