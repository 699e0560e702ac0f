/**
 * The MCP benchmark (issue 7, "Numbers to reach"): a `recent` tool call's round trip over stdio, p50
 * under 5 ms.
 *
 * One `grapevine mcp` process (node bin/grapevine.js mcp) on the start-up benchmark's cached home (1M
 * channel entries by 4 authors; --quick: 2000), driven by the official SDK's Client over stdio from this
 * process. Each round trip is timed here, from the request to its parsed answer: `recent` with n = 20
 * (the JSON of 20 entries back) and, interleaved with it (A B A B, so the machine's drift falls on
 * both), the protocol's `ping` (the floor: the same pipes and JSON-RPC with no work). Every recent
 * answer is checked (20 entries, not an error).
 *
 * Usage: npm run bench -- mcp [--quick] [--calls N] [--warmup N] [--entries N] [--dir DIR] [--out PATH]
 * Rows to bench/results/mcp.json: {bench: 'mcp', workload, system: 'grapevine', metric, value, unit}.
 */
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { parseBenchArgs } from './lib/args.ts'
import { describeMachine } from './lib/machine.ts'
import * as fmt from './lib/stats.ts'
import { rank, writeRows } from './brief.ts'
import { buildHome, quickParams } from './startup.ts'

const repoRoot = fileURLToPath(new URL('../', import.meta.url))
export const p50TargetMs = 5

export type Row = { bench: 'mcp'; workload: string; system: 'grapevine'; metric: string; value: number; unit: string }

export type Params = {
  readonly entries: number
  readonly keyedFacts: number
  readonly calls: number
  readonly warmup: number
  readonly dir: string
  readonly outPath: string | undefined
  readonly log: (s: string) => void
}


export async function runMcp(p: Params): Promise<{ rows: Row[] }> {
  for (const line of describeMachine(['@modelcontextprotocol/sdk', 'zod'])) p.log(line)
  const dir = buildHome({ ...p, runs: 1, outPath: undefined })
  p.log(`home: ${dir} (${fmt.si(p.entries)} entries)`)
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(repoRoot, 'bin', 'grapevine.js'), 'mcp'],
    env: { ...process.env, GRAPEVINE_HOME: dir, NO_COLOR: '1' } as Record<string, string>,
    stderr: 'ignore',
  })
  const client = new Client({ name: 'grapevine-bench', version: '1.0.0' })
  await client.connect(transport)
  try {
    const recent = async (): Promise<number> => {
      const t0 = performance.now()
      const r = await client.callTool({ name: 'recent', arguments: { n: 20 } })
      const ms = performance.now() - t0
      const entries = (r.structuredContent as { entries?: unknown[] } | undefined)?.entries
      if (r.isError === true || entries?.length !== Math.min(20, p.entries)) throw new Error(`mcp bench: recent answered ${JSON.stringify(r).slice(0, 300)}`)
      return ms
    }
    const ping = async (): Promise<number> => {
      const t0 = performance.now()
      await client.ping()
      return performance.now() - t0
    }
    for (let i = 0; i < p.warmup; i++) {
      await recent()
      await ping()
    }
    const times = { recent: [] as number[], ping: [] as number[] }
    for (let i = 0; i < p.calls; i++) {
      times.recent.push(await recent())
      times.ping.push(await ping())
    }
    const rows: Row[] = []
    const table: string[][] = []
    const pingMedian = fmt.summarize(times.ping).median
    for (const [name, ts] of Object.entries(times)) {
      const sorted = [...ts].sort((a, b) => a - b)
      const s = fmt.summarize(sorted)
      const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length
      const workload = `${name}_${name === 'recent' ? 'n20_' : ''}${fmt.si(p.entries)}`
      for (const [metric, value] of [['p50_ms', s.median], ['p95_ms', rank(sorted, 0.95)], ['p99_ms', rank(sorted, 0.99)], ['mean_ms', mean], ['min_ms', s.min]] as const) {
        rows.push({ bench: 'mcp', workload, system: 'grapevine', metric, value, unit: 'ms' })
      }
      rows.push({ bench: 'mcp', workload, system: 'grapevine', metric: 'calls', value: sorted.length, unit: 'calls' })
      if (name === 'recent') rows.push({ bench: 'mcp', workload, system: 'grapevine', metric: 'ratio_p50_to_ping', value: s.median / pingMedian, unit: 'x' })
      table.push([name, fmt.ms(s.median), fmt.ms(rank(sorted, 0.95)), fmt.ms(rank(sorted, 0.99)), fmt.ms(mean), fmt.ms(s.min), name === 'recent' ? fmt.ratio(s.median / pingMedian) : '', name === 'recent' ? (s.median < p50TargetMs ? 'met' : 'MISSED') : ''])
    }
    p.log(`\nMCP round trips over stdio, ${p.calls} of each interleaved after ${p.warmup} warmup, ${fmt.si(p.entries)}-entry store (target: recent p50 < ${p50TargetMs} ms):`)
    p.log(fmt.table(['call', 'p50', 'p95', 'p99', 'mean', 'min', 'x ping (p50)', 'target'], table))
    writeRows(p.outPath, rows, p.log)
    return { rows }
  } finally {
    await client.close()
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const spec = { quick: 'flag', calls: 'count', warmup: 'count', entries: 'count', dir: 'path', out: 'path' } as const
  const usage = 'usage: npm run bench -- mcp [--quick] [--calls N] [--warmup N] [--entries N] [--dir DIR] [--out PATH]'
  const a = parseBenchArgs('mcp', argv, spec, usage, { warmup: 0 })
  if (a === undefined) return 2
  const base = a.quick ? { entries: quickParams.entries, keyedFacts: quickParams.keyedFacts, calls: 50, warmup: 10 } : { entries: 1_000_000, keyedFacts: 1000, calls: 500, warmup: 50 }
  await runMcp({
    entries: a.entries ?? base.entries,
    keyedFacts: base.keyedFacts,
    calls: a.calls ?? base.calls,
    warmup: a.warmup ?? base.warmup,
    dir: a.dir ?? join(tmpdir(), 'grapevine-bench'),
    outPath: a.out ?? (a.quick ? undefined : join(repoRoot, 'bench', 'results', 'mcp.json')),
    log: (s) => process.stdout.write(s + '\n'),
  })
  return 0
}
