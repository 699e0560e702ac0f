/** One run's summary lines and the command that replays it (run.ts prints them; tests put them in failures). */
import type { RunResult, ScenarioName, ScenarioParams } from './scenario.ts'

export function summary(r: RunResult): string {
  const p = r.params
  const faults = [...r.faults].map(([c, n]) => `${c}:${n}`).join(' ')
  return [
    `seed ${r.seed} ${p.scenario} n=${p.n} fast-path ${p.fastPath}${p.fastPath !== 'none' && p.hubs > 0 ? ` hub-spoke(${p.hubs})` : ''} ${r.failures.length === 0 ? 'ok' : 'FAILED'} trace ${r.traceHash}`,
    `  ops written ${r.opsWritten} acked ${r.opsAcked}; rounds to agree ${r.rounds ?? '-'} (bound ${r.roundsBound})` +
      (r.catchUpRatio === undefined ? '' : `; days ${p.offlineDays} catch-up ${r.catchUpRatio.toFixed(2)}x`) +
      `; simulated ${(r.simMs / 1000).toFixed(1)} s`,
    `  faults: ${faults || 'none'}`,
    ...r.failures.map((f) => `  FAIL ${f}`),
  ].join('\n')
}

/** The line that replays a run exactly. */
export function reproduceCommand(r: RunResult, name: ScenarioName, override?: Partial<ScenarioParams>): string {
  const o = override === undefined || Object.keys(override).length === 0 ? '' : ` --override '${JSON.stringify(override)}'`
  return `reproduce: npm run sim -- --seed ${r.seed}${name === 'mixed' ? '' : ` --scenario ${name}`}${o}`
}
