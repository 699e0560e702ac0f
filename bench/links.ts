/**
 * Peer links on loopback: raw TCP with our length-prefixed frames (src/transport/frames.ts, what
 * links.ts runs) against WebSocket (ws, binary messages, permessage-deflate off), to choose the daemon's
 * transport on measurement (issue 5).
 *
 * Setup: the server runs in a child process (this file, `--serve`), the client here, so the two do not
 * share an event loop. Both servers do the same: they read every frame and echo the ones whose first
 * byte is 1. Plaintext frames, no session: sealing costs the same on either transport.
 *
 * Workloads, for small (64 B) and large (64 KiB) frames:
 *   - throughput: the client sends `frames` frames as fast as the socket takes them (waiting on
 *     back-pressure: 'drain' for TCP, bufferedAmount for ws), the last one asks for an echo; frames/s
 *     from the first send to the echo.
 *   - latency: `pings` round trips one at a time; p50 and p99 of the round trip (ms).
 * Each (workload, size) runs `rounds` times, the systems alternating (tcp ws tcp ws ...), medians
 * reported with min..max; ratio = tcp / ws (frames/s: higher is better for tcp; latency: lower).
 *
 * Also, the daemon's pick-up of writes made by other processes (issue 5: within 50 ms): a daemon in this
 * process on a temporary home, `pickups` writes through a second connection to its store (as the CLI
 * writes), each timed from its commit to the daemon's push of it (its `published` count moving; the
 * daemon polls PRAGMA data_version every 20 ms). Workload `pickup`, system `daemon`, p50/p95/max in ms.
 *
 * Rows go to bench/results/links.json: {bench: 'links', workload, system: 'tcp' | 'ws', metric, value,
 * unit}, plus system 'tcp/ws' rows with the ratios.
 *
 * Usage: npm run bench -- links [--quick] [--rounds N] [--out PATH]
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as net from 'node:net'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocket, WebSocketServer } from 'ws'
import { home, local } from '../src/node/index.ts'
import { startDaemon } from '../src/node/network.ts'
import { createFrameDecoder, encodeFrame } from '../src/transport/frames.ts'
import { parseBenchArgs } from './lib/args.ts'
import { describeMachine, packageVersion } from './lib/machine.ts'
import * as fmt from './lib/stats.ts'

type System = 'tcp' | 'ws'
type Row = { bench: 'links'; workload: string; system: string; metric: string; value: number; unit: string }

const usage = 'usage: npm run bench -- links [--quick] [--rounds N] [--out PATH]'
const runFile = fileURLToPath(new URL('./run.ts', import.meta.url))
const defaultOut = fileURLToPath(new URL('./results/links.json', import.meta.url))

// ---- servers (child process)

function serveTcp(): Promise<number> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    const d = createFrameDecoder(1 << 20)
    socket.on('data', (chunk: Buffer) => {
      const r = d.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))
      if (!r.ok) {
        socket.destroy()
        return
      }
      for (const f of r.value) if (f[0] === 1) socket.write(encodeFrame(f))
    })
    socket.on('error', () => undefined)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)))
}

function serveWs(): Promise<number> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1 << 20 })
  server.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      if (data[0] === 1) ws.send(data)
    })
  })
  return new Promise((resolve) => server.on('listening', () => resolve((server.address() as net.AddressInfo).port)))
}

// ---- clients

type Client = {
  /** Sends a frame; resolves when the transport can take more (back-pressure). */
  send(f: Uint8Array): Promise<void> | undefined
  /** The next echo. */
  echo(): Promise<void>
  close(): void
}

async function tcpClient(port: number): Promise<Client> {
  const socket = net.connect({ host: '127.0.0.1', port })
  await new Promise((r) => socket.once('connect', r))
  socket.setNoDelay(true)
  const d = createFrameDecoder(1 << 20)
  let waiting: (() => void)[] = []
  let echoes = 0
  socket.on('data', (chunk: Buffer) => {
    const r = d.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))
    if (!r.ok) throw new Error(r.detail)
    echoes += r.value.length
    while (echoes > 0 && waiting.length > 0) {
      echoes--
      ;(waiting.shift() as () => void)()
    }
  })
  return {
    send(f) {
      if (socket.write(encodeFrame(f))) return undefined
      return new Promise((r) => socket.once('drain', r))
    },
    echo() {
      if (echoes > 0) {
        echoes--
        return Promise.resolve()
      }
      return new Promise((r) => waiting.push(r))
    },
    close() {
      waiting = []
      socket.destroy()
    },
  }
}

async function wsClient(port: number): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 1 << 20 })
  await new Promise((r) => ws.once('open', r))
  let waiting: (() => void)[] = []
  let echoes = 0
  ws.on('message', () => {
    echoes++
    while (echoes > 0 && waiting.length > 0) {
      echoes--
      ;(waiting.shift() as () => void)()
    }
  })
  const highWater = 4 << 20
  return {
    send(f) {
      ws.send(f, { binary: true })
      if (ws.bufferedAmount < highWater) return undefined
      // ws has no 'drain': wait until its buffer empties below the mark
      return new Promise<void>((resolve) => {
        const check = (): void => {
          if (ws.bufferedAmount < highWater / 2) resolve()
          else setImmediate(check)
        }
        setImmediate(check)
      })
    },
    echo() {
      if (echoes > 0) {
        echoes--
        return Promise.resolve()
      }
      return new Promise((r) => waiting.push(r))
    },
    close() {
      waiting = []
      ws.terminate()
    },
  }
}

async function throughput(c: Client, size: number, frames: number): Promise<number> {
  const body = new Uint8Array(size)
  const last = new Uint8Array(size)
  last[0] = 1
  const t0 = performance.now()
  for (let i = 0; i < frames - 1; i++) {
    const wait = c.send(body)
    if (wait !== undefined) await wait
  }
  await c.send(last)
  await c.echo()
  return frames / ((performance.now() - t0) / 1000)
}

async function latency(c: Client, size: number, pings: number): Promise<{ p50: number; p99: number }> {
  const body = new Uint8Array(size)
  body[0] = 1
  const xs: number[] = []
  for (let i = 0; i < pings; i++) {
    const t0 = performance.now()
    await c.send(body)
    await c.echo()
    xs.push(performance.now() - t0)
  }
  xs.sort((a, b) => a - b)
  return { p50: xs[Math.floor(xs.length * 0.5)] as number, p99: xs[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))] as number }
}

function startServer(system: System): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [runFile, 'links', '--serve', system], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (nl >= 0) resolve({ child, port: Number(out.slice(0, nl)) })
    })
    child.on('exit', (code) => reject(new Error(`links server exited ${code}`)))
  })
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === '--serve') {
    const port = await (argv[1] === 'ws' ? serveWs() : serveTcp())
    process.stdout.write(`${port}\n`)
    return new Promise(() => undefined) // serves until killed
  }
  const args = parseBenchArgs('links', argv, { quick: 'flag', rounds: 'count', out: 'path' }, usage)
  if (args === undefined) return 2
  const rounds = args.rounds ?? (args.quick ? 1 : 5)
  const sizes = [
    { name: 'small_64B', size: 64, frames: args.quick ? 20_000 : 200_000, pings: args.quick ? 200 : 2000 },
    { name: 'large_64KiB', size: 64 * 1024, frames: args.quick ? 200 : 2000, pings: args.quick ? 50 : 500 },
  ]
  process.stdout.write(`bench links: tcp (node:net + frames.ts) vs ws@${packageVersion('ws')} on loopback, ${rounds} rounds alternating\n`)
  for (const l of describeMachine(['ws'])) process.stdout.write(`  ${l}\n`)

  const servers = { tcp: await startServer('tcp'), ws: await startServer('ws') }
  const connect = (s: System): Promise<Client> => (s === 'tcp' ? tcpClient(servers.tcp.port) : wsClient(servers.ws.port))
  const results = new Map<string, number[]>()
  const note = (k: string, v: number): void => {
    const xs = results.get(k) ?? []
    xs.push(v)
    results.set(k, xs)
  }
  try {
    for (let r = 0; r < rounds; r++) {
      for (const s of sizes) {
        for (const system of ['tcp', 'ws'] as const) {
          const c = await connect(system)
          note(`${s.name}|throughput|${system}`, await throughput(c, s.size, s.frames))
          const lat = await latency(c, s.size, s.pings)
          note(`${s.name}|latency_p50|${system}`, lat.p50)
          note(`${s.name}|latency_p99|${system}`, lat.p99)
          c.close()
        }
      }
    }
  } finally {
    servers.tcp.child.kill()
    servers.ws.child.kill()
  }

  // the daemon's pick-up of other processes' writes
  const dir = mkdtempSync(join(tmpdir(), 'gv-bench-pickup-'))
  const pickupMs: number[] = []
  try {
    if (!home.init(dir, 'bench').ok) throw new Error('bench links: no home')
    const d = await startDaemon({ home: dir, listenHost: '127.0.0.1', listenPort: 0, stateFile: false })
    const l = local.openLocal(dir)
    if (!l.ok) throw new Error(l.detail)
    const pickups = args.quick ? 10 : 40
    for (let i = 0; i < pickups; i++) {
      const before = d.stats().published
      const r = local.commit(l.value, [{ kind: 'counter.add', body: { name: 'bench', n: 1 } }])
      const t0 = performance.now()
      if (!r.ok) throw new Error(r.detail)
      while (d.stats().published === before) await new Promise((res) => setTimeout(res, 1))
      pickupMs.push(performance.now() - t0)
      await new Promise((res) => setTimeout(res, 7 + (i % 13))) // writes at varied phases of the poll
    }
    local.closeLocal(l.value)
    await d.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }

  const rows: Row[] = []
  const table: string[][] = []
  for (const s of sizes) {
    for (const [metric, unit] of [
      ['throughput', 'frames/s'],
      ['latency_p50', 'ms'],
      ['latency_p99', 'ms'],
    ] as const) {
      const tcp = fmt.summarize(results.get(`${s.name}|${metric}|tcp`) ?? [])
      const ws = fmt.summarize(results.get(`${s.name}|${metric}|ws`) ?? [])
      const show = (x: fmt.Summary): string =>
        unit === 'ms' ? `${fmt.ms(x.median)} [${fmt.ms(x.min)}..${fmt.ms(x.max)}]` : `${fmt.si(x.median)} [${fmt.si(x.min)}..${fmt.si(x.max)}]`
      table.push([`${s.name} ${metric}`, show(tcp), show(ws), fmt.ratio(tcp.median / ws.median)])
      rows.push({ bench: 'links', workload: s.name, system: 'tcp', metric, value: tcp.median, unit })
      rows.push({ bench: 'links', workload: s.name, system: 'ws', metric, value: ws.median, unit })
      rows.push({ bench: 'links', workload: s.name, system: 'tcp/ws', metric: `${metric}_ratio`, value: tcp.median / ws.median, unit: 'x' })
    }
  }
  process.stdout.write(fmt.table(['workload (median [min..max])', 'tcp', 'ws', 'tcp/ws'], table) + '\n')
  const sortedPickup = [...pickupMs].sort((a, b) => a - b)
  const pq = (q: number): number => sortedPickup[Math.min(sortedPickup.length - 1, Math.floor(q * sortedPickup.length))] as number
  process.stdout.write(`pickup (another process's write -> the daemon pushes it), ${pickupMs.length} writes: p50 ${fmt.ms(pq(0.5))}, p95 ${fmt.ms(pq(0.95))}, max ${fmt.ms(pq(1))} (target 50 ms)\n`)
  for (const [metric, value] of [
    ['p50', pq(0.5)],
    ['p95', pq(0.95)],
    ['max', pq(1)],
  ] as const) rows.push({ bench: 'links', workload: 'pickup', system: 'daemon', metric, value, unit: 'ms' })
  if (!args.quick || args.out !== undefined) {
    const out = args.out ?? defaultOut
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(out, JSON.stringify(rows, null, 2) + '\n')
    process.stdout.write(`wrote ${out}\n`)
  }
  return 0
}
