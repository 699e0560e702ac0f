/**
 * The simulator in CI: exact replay, the canary, the regression seeds, and a suite of mixed seeds (small
 * fleets, 50-node fleets, days offline) that must hold every invariant and fire every fault class.
 * SIM_SEEDS sets the suite's size (default 300); `npm run sim -- --seeds 10000` is the long run.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { catchUpCheckBytesMin } from './invariants.ts'
import { faultClasses } from './kernel.ts'
import type { FaultClass } from './kernel.ts'
import { reproduceCommand, summary } from './summary.ts'
import type { ScenarioName, ScenarioParams } from './scenario.ts'
import { runScenario } from './scenario.ts'

const suiteSeeds = Number(process.env['SIM_SEEDS'] ?? 300)
/** The suite's first seed: fixed, so CI runs the same seeds every time (the long run explores others). */
const suiteBase = 100_000

type Regression = { seed: number; scenario: ScenarioName; override?: Partial<ScenarioParams>; found: string }
const regressions = JSON.parse(readFileSync(new URL('./regressions.json', import.meta.url), 'utf8')) as {
  fixed: Regression[]
}

describe('simulator', () => {
  it('replays exactly: three seeds run twice give the same trace hash', () => {
    for (const [seed, name] of [
      [11, 'small'],
      [12, 'days'],
      [13, 'large'],
    ] as const) {
      const a = runScenario(seed, name)
      const b = runScenario(seed, name)
      assert.equal(a.traceHash, b.traceHash, `seed ${seed} ${name}`)
      assert.ok(a.traceEvents > 200, `seed ${seed} traced ${a.traceEvents} events`)
      assert.equal(a.opsWritten, b.opsWritten)
      assert.deepEqual([...a.faults], [...b.faults])
    }
    assert.notEqual(runScenario(14, 'small').traceHash, runScenario(15, 'small').traceHash)
    // the signature memo changes no decision: the same trace with every signature verified every time
    assert.equal(runScenario(16, 'small', { verifyEveryTime: true }).traceHash, runScenario(16, 'small').traceHash)
  })

  it('catches the canary: a node that merges in arrival order fails convergence and the counter check', () => {
    for (const seed of [1, 2]) {
      const r = runScenario(seed, 'canary')
      assert.ok(r.failures.some((f) => f.startsWith('liveness')), `seed ${seed}: ${r.failures.join('; ')}`)
      assert.ok(r.failures.some((f) => f.startsWith('I4')), `seed ${seed}: ${r.failures.join('; ')}`)
    }
  })

  it('replays the regression seeds', () => {
    assert.ok(regressions.fixed.length >= 6)
    for (const x of regressions.fixed) {
      const r = runScenario(x.seed, x.scenario, { override: x.override })
      assert.deepEqual(r.failures, [], `${summary(r)}\n${reproduceCommand(r, x.scenario, x.override)}\n(once: ${x.found})`)
    }
  })

  it(`${suiteSeeds} mixed seeds hold every invariant and fire every fault class`, (t) => {
    const fired = new Map<FaultClass, number>()
    const failed: string[] = []
    const sizes = new Set<number>()
    let catchUpsChecked = 0
    let catchUpMax = 0
    for (let seed = suiteBase; seed < suiteBase + suiteSeeds; seed++) {
      const r = runScenario(seed)
      sizes.add(r.params.n)
      if ((r.catchUpMissedBytes ?? 0) >= catchUpCheckBytesMin) {
        catchUpsChecked++
        catchUpMax = Math.max(catchUpMax, r.catchUpRatio ?? 0)
      }
      for (const [c, n] of r.faults) fired.set(c, (fired.get(c) ?? 0) + n)
      if (r.failures.length === 0) continue
      failed.push(`${summary(r)}\n${reproduceCommand(r, 'mixed')}`)
    }
    assert.deepEqual(failed, [], failed.join('\n'))
    const never = faultClasses.filter((c) => !fired.has(c))
    assert.deepEqual(never, [], `fault classes that never fired in ${suiteSeeds} seeds: ${never.join(', ')}`)
    assert.ok(sizes.has(50) && [...sizes].some((n) => n <= 9), `fleet sizes ${[...sizes].join(',')}`)
    assert.ok(catchUpsChecked >= 5, `the days catch-up bound (I7) was checked in ${catchUpsChecked} seeds`)
    t.diagnostic(`days catch-up: checked in ${catchUpsChecked} seeds, max ${catchUpMax.toFixed(2)}x the missed bytes (bound 2x)`)
  })
})
