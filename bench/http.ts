/**
 * The HTTP API benchmark: what a client of `grapevine up`'s API waits for.
 *
 * The API runs in a child process (src/api/http.ts startHttpApi on 127.0.0.1, its home's token) on a
 * fresh home seeded with --seed entries; this process is the client (fetch, keep-alive). Measured:
 *   - round trips, interleaved (A B C A B C, so the machine's drift falls on all): GET /healthz (the
 *     floor: the same socket and hono with no store work), GET /v1/tail?n=20, POST /v1/publish (a signed
 *     write, fsynced);
 *   - event delivery on one open GET /v1/events stream: from the start of a write to the arrival of its
 *     `op` event here, for a write through the API (POST /v1/publish: the API wakes its streams at once)
 *     and a write by another process (this one, on its own connection to the store: the API's streams
 *     see it by polling the store's latest cursor every 50 ms), alternated, each after a random pause of
 *     0-60 ms (so writes fall anywhere in the poll's period).
 *
 * Usage: npm run bench -- http [--quick] [--calls N] [--seed N] [--out PATH]
 * Rows to bench/results/http.json: {bench: 'http', workload, system: 'grapevine', metric, value, unit}.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import * as service from '../src/api/service.ts'
import { local } from '../src/node/index.ts'
import { parseBenchArgs } from './lib/args.ts'
import { describeMachine } from './lib/machine.ts'
import * as fmt from './lib/stats.ts'

const repoRoot = fileURLToPath(new URL('../', import.meta.url))

export type Row = { bench: 'http'; workload: string; system: 'grapevine'; metric: string; value: number; unit: string }

const rank = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number

/** Starts the API in a child process on home; resolves with its URL, token and a stop function. */
async function startChild(home: string): Promise<{ url: string; token: string; stop(): void }> {
  const script = [
    `const { local } = await import(${JSON.stringify(join(repoRoot, 'src/node/index.ts'))})`,
    `const { startHttpApi } = await import(${JSON.stringify(join(repoRoot, 'src/api/http.ts'))})`,
    `const l = local.openLocal(process.env.GRAPEVINE_HOME)`,
    `if (!l.ok) throw new Error(l.detail)`,
    `const api = await startHttpApi({ local: l.value, listen: '127.0.0.1:0' })`,
    `process.stdout.write(JSON.stringify({ url: api.url, token: api.token }) + '\\n')`,
  ].join('\n')
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, GRAPEVINE_HOME: home }, stdio: ['ignore', 'pipe', 'inherit'] })
  const first = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout })
    rl.once('line', (line) => resolve(line))
    child.once('exit', (code) => reject(new Error(`http bench: the API process exited (${String(code)}) before it listened`)))
  })
  const info = JSON.parse(first) as { url: string; token: string }
  return { ...info, stop: () => child.kill('SIGTERM') }
}

export async function runHttp(p: { calls: number; seed: number; outPath: string | undefined; log: (s: string) => void }): Promise<Row[]> {
  for (const line of describeMachine(['hono', '@hono/node-server', 'prom-client'])) p.log(line)
  const home = mkdtempSync(join(tmpdir(), 'grapevine-http-bench-'))
  const me = local.openLocal(home) // creates the identity; this process's own connection writes "from another process"
  if (!me.ok) throw new Error(me.detail)
  const api = await startChild(home)
  const h = { Authorization: `Bearer ${api.token}`, 'Content-Type': 'application/json' }
  let n = 0
  const publish = async (text: string) => {
    const r = await fetch(`${api.url}/v1/publish`, { method: 'POST', headers: h, body: JSON.stringify({ text }) })
    if (r.status !== 201) throw new Error(`http bench: publish answered ${r.status}: ${await r.text()}`)
    await r.arrayBuffer()
  }
  try {
    for (let i = 0; i < p.seed; i++) service.publish(me.value, { text: `seed entry ${i} with a few words of text` })
    p.log(`home: ${home} (${p.seed} entries); API ${api.url} in a child process`)

    // ---- round trips
    const get = async (path: string) => {
      const t0 = performance.now()
      const r = await fetch(`${api.url}${path}`, { headers: h })
      const body = await r.text()
      const ms = performance.now() - t0
      if (r.status !== 200 || body.length === 0) throw new Error(`http bench: ${path} answered ${r.status}`)
      return ms
    }
    const post = async () => {
      const t0 = performance.now()
      await publish(`round trip ${n++}`)
      return performance.now() - t0
    }
    const trips = { healthz: [] as number[], tail_n20: [] as number[], publish: [] as number[] }
    for (let i = 0; i < Math.min(20, p.calls); i++) {
      await get('/healthz')
      await get('/v1/tail?n=20')
      await post()
    }
    for (let i = 0; i < p.calls; i++) {
      trips.healthz.push(await get('/healthz'))
      trips.tail_n20.push(await get('/v1/tail?n=20'))
      trips.publish.push(await post())
    }

    // ---- event delivery
    const res = await fetch(`${api.url}/v1/events`, { headers: h })
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const dec = new TextDecoder()
    const waiting = new Map<string, (t: number) => void>()
    let buf = ''
    let reading = true
    const pump = (async () => {
      while (reading) {
        const r = await reader.read()
        if (r.done) return
        const t = performance.now()
        buf += dec.decode(r.value, { stream: true })
        let cut: number
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut)
          buf = buf.slice(cut + 2)
          const data = block.split('\n').find((l) => l.startsWith('data: '))
          if (data === undefined || !block.includes('event: op')) continue
          const text = ((JSON.parse(data.slice(6)) as { op: { body: { value?: unknown } } }).op.body.value ?? '') as string
          waiting.get(text)?.(t)
        }
      }
    })()
    const delivered = (text: string) => new Promise<number>((resolve) => waiting.set(text, resolve))
    const events = { via_api: [] as number[], other_process: [] as number[] }
    for (let i = 0; i < p.calls + 10; i++) {
      for (const how of ['via_api', 'other_process'] as const) {
        const text = `event ${how} ${i}`
        // a random pause first: without it the loop locks onto the API's 50 ms poll and every write
        // lands just after a look (measuring the worst case only)
        await new Promise((r) => setTimeout(r, Math.random() * 60))
        const arrived = delivered(text)
        const t0 = performance.now()
        if (how === 'via_api') await publish(text)
        else service.publish(me.value, { text })
        const ms = (await arrived) - t0
        waiting.delete(text)
        if (i >= 10) events[how].push(ms) // the first 10 of each warm up
      }
    }
    reading = false
    await reader.cancel()
    await pump.catch(() => undefined)

    // ---- report
    const rows: Row[] = []
    const table: string[][] = []
    const floor = fmt.summarize(trips.healthz).median
    const add = (group: string, name: string, ts: number[]) => {
      const sorted = [...ts].sort((a, b) => a - b)
      const s = fmt.summarize(sorted)
      const workload = `${group}_${name}`
      for (const [metric, value] of [['p50_ms', s.median], ['p95_ms', rank(sorted, 0.95)], ['p99_ms', rank(sorted, 0.99)], ['min_ms', s.min], ['max_ms', s.max]] as const) {
        rows.push({ bench: 'http', workload, system: 'grapevine', metric, value, unit: 'ms' })
      }
      rows.push({ bench: 'http', workload, system: 'grapevine', metric: 'samples', value: sorted.length, unit: 'calls' })
      table.push([workload, fmt.ms(s.median), fmt.ms(rank(sorted, 0.95)), fmt.ms(rank(sorted, 0.99)), fmt.ms(s.min), fmt.ms(s.max), group === 'round_trip' && name !== 'healthz' ? fmt.ratio(s.median / floor) : ''])
    }
    for (const [name, ts] of Object.entries(trips)) add('round_trip', name, ts)
    for (const [name, ts] of Object.entries(events)) add('event', name, ts)
    p.log(`\nHTTP API on loopback, ${p.calls} samples each (interleaved, after warmup); events: write start -> op event received:`)
    p.log(fmt.table(['workload', 'p50', 'p95', 'p99', 'min', 'max', 'x healthz (p50)'], table))
    if (p.outPath !== undefined) {
      mkdirSync(dirname(p.outPath), { recursive: true })
      writeFileSync(p.outPath, JSON.stringify(rows, null, 2) + '\n')
      p.log(`rows written to ${p.outPath}`)
    }
    return rows
  } finally {
    api.stop()
    local.closeLocal(me.value)
    rmSync(home, { recursive: true, force: true })
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const spec = { quick: 'flag', calls: 'count', seed: 'count', out: 'path' } as const
  const usage = 'usage: npm run bench -- http [--quick] [--calls N] [--seed N] [--out PATH]'
  const a = parseBenchArgs('http', argv, spec, usage, { seed: 0 })
  if (a === undefined) return 2
  await runHttp({
    calls: a.calls ?? (a.quick ? 30 : 300),
    seed: a.seed ?? (a.quick ? 200 : 5000),
    outPath: a.out ?? (a.quick ? undefined : join(repoRoot, 'bench', 'results', 'http.json')),
    log: (s) => process.stdout.write(s + '\n'),
  })
  return 0
}
