/**
 * Minimizing a failing seed: switch its faults off one at a time and keep each change under which the
 * seed still fails the same way (the same invariant), so that what remains is what the failure needs.
 * The result is the seed plus an override of its drawn parameters; regressions.json keeps both.
 */
import type { RunResult, ScenarioName, ScenarioParams } from './scenario.ts'
import { runScenario } from './scenario.ts'

/** Which invariant a failure broke: its text up to the first colon ("liveness", "I1", "days"...). */
export function failureClass(failure: string): string {
  const i = failure.indexOf(':')
  return i < 0 ? failure : failure.slice(0, i)
}

/** Simplifications tried in order, each a smaller world than the drawn one. */
function simplifications(p: ScenarioParams): Partial<ScenarioParams>[] {
  return [
    { fastPath: 'none' },
    { partitions: 0 },
    { crashes: 0 },
    { pauses: 0 },
    { clockJumps: 0 },
    { clockSkew: false },
    { flakyOutsider: false },
    { duplicate: 0 },
    { jitterMs: 0 },
    { loss: 0 },
    { writesPerNodePerS: p.writesPerNodePerS / 2 },
    { safetyMs: Math.floor(p.safetyMs / 2) },
  ]
}

export function minimize(
  seed: number,
  name: ScenarioName,
  start: Partial<ScenarioParams>,
  log: (line: string) => void,
): { override: Partial<ScenarioParams>; result: RunResult } | undefined {
  let result = runScenario(seed, name, { override: start })
  const first = result.failures[0]
  if (first === undefined) return undefined
  const target = failureClass(first)
  let override = start
  for (const s of simplifications(result.params)) {
    const candidate = { ...override, ...s }
    const r = runScenario(seed, name, { override: candidate })
    const keeps = r.failures.some((f) => failureClass(f) === target)
    log(`  ${keeps ? 'still fails' : 'passes    '} with ${JSON.stringify(s)}`)
    if (keeps) {
      override = candidate
      result = r
    }
  }
  return { override, result }
}
