/**
 * The network benchmark's smoke test: a tiny run (3 daemons in one fleet, and 3 Serf agents when serf is
 * installed; 2 events, a short idle, no kill) must see every event everywhere, replicate a low publish rate
 * on 2 daemons and write well-formed rows. The Serf half is skipped, saying so, when serf is not installed
 * (the benchmark itself installs it; this test does not).
 */
import assert from 'node:assert/strict'
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { runNetwork, serfInstalled } from './network.ts'
import type { Params, Row } from './network.ts'

const serfPath = serfInstalled()

test(
  'bench network: a tiny fleet (and Serf cluster) propagates every event, idles, and replicates a low rate',
  { timeout: 120_000 },
  async (t) => {
    if (serfPath === undefined)
      t.diagnostic('serf is not installed: the Serf half is skipped (npm run bench -- network installs it)')
    const outPath = join(tmpdir(), `grapevine-bench-network-smoke-${process.pid}.json`)
    const lines: string[] = []
    const p: Params = {
      nodes: 3,
      events: 2,
      idleMs: 2000,
      failureRounds: 0,
      throughputNodes: 2,
      rates: [10],
      stepMs: 1000,
      serfPath,
      outPath,
      log: (s) => lines.push(s),
    }
    try {
      const r = await runNetwork(p)
      const rows = JSON.parse(readFileSync(outPath, 'utf8')) as Row[]
      assert.deepEqual(rows, r.rows)
      const get = (w: string, s: string, m: string): number | undefined =>
        rows.find((x) => x.workload === w && x.system === s && x.metric === m)?.value
      for (const x of rows) {
        assert.deepEqual(Object.keys(x).sort(), ['bench', 'metric', 'system', 'unit', 'value', 'workload'])
        assert.equal(x.bench, 'network')
      }
      const systems = serfPath === undefined ? ['grapevine'] : ['grapevine', 'serf']
      for (const s of systems) {
        assert.equal(
          get('propagation', s, 'events_missed'),
          0,
          `${s}: both events reached all 3 nodes\n${lines.join('\n')}`,
        )
        const p50 = get('propagation', s, 'p50') ?? NaN
        const p95 = get('propagation', s, 'p95') ?? NaN
        assert.ok(p50 > 0 && p95 >= p50 && p95 < 10_000, `${s} propagation p50 ${p50} p95 ${p95}`)
        assert.ok((get('idle', s, 'cpu_percent_of_a_core') ?? -1) >= 0, `${s} idle CPU measured`)
        assert.ok(
          (get('idle', s, 'bytes_per_s') ?? 0) > 0,
          `${s}: an idle cluster still gossips (bytes measured)`,
        )
      }
      if (serfPath === undefined) assert.equal(rows.filter((x) => x.system !== 'grapevine').length, 0)
      else assert.ok(Number.isFinite(get('propagation', 'grapevine/serf', 'p95_ratio')))
      // no timing asserted here (a loaded CI box decides that): the ops got everywhere, and were measured
      assert.ok(
        Number.isFinite(get('throughput/r10', 'grapevine', 'p95_to_all_ms')),
        `95% of the ops reached both daemons\n${lines.join('\n')}`,
      )
      assert.ok((get('throughput/r10', 'grapevine', 'cpu_ms_per_op') ?? 0) > 0)
      assert.ok(
        (get('throughput/r10', 'grapevine', 'bytes_per_op_above_idle') ?? 0) > 0,
        'ops crossed the peer links',
      )
    } finally {
      rmSync(outPath, { force: true })
    }
  },
)
