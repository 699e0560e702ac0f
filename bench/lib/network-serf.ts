/**
 * A HashiCorp Serf cluster on loopback for bench/network.ts: installing serf (Debian package) when it is
 * missing, starting agents, and talking to each agent over its RPC port (the protocol `serf event`,
 * `serf members` and `serf monitor` speak: MessagePack request and response headers, then bodies).
 *
 * Receipt times come from each agent's RPC event stream (the `stream` command, the same stream an
 * event handler is fed from): this process holds one RPC connection per agent and notes when each
 * event record arrives on it. Events are fired through the `event` RPC command, which is what `serf
 * event` sends (without starting a Go process per event, which would be timed as Serf's latency).
 *
 * Bytes: agents send their telemetry to a statsite sink (`statsite_addr`) this process serves; memberlist
 * counts every packet and stream it sends (memberlist.udp.sent, memberlist.tcp.sent: payload bytes, no
 * IP/UDP/TCP headers).
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import * as net from 'node:net'
import { join } from 'node:path'
import * as mp from './network-msgpack.ts'
import type { Packable, Unpacked } from './network-msgpack.ts'
import { sleep } from './network-proc.ts'

/** The serf binary's path, installing the Debian package when it is missing; undefined (and why) if it cannot. */
export function ensureSerf(say: (s: string) => void): { path: string } | { missing: string } {
  const which = (): string | undefined => {
    const r = spawnSync('sh', ['-c', 'command -v serf'], { encoding: 'utf8' })
    const p = r.stdout.trim()
    return r.status === 0 && p !== '' ? p : undefined
  }
  const found = which()
  if (found !== undefined) return { path: found }
  if (process.getuid?.() !== 0)
    return { missing: 'serf is not installed and this is not root: apt-get install serf' }
  say('serf is missing: apt-get update -qq && apt-get install -y -qq serf')
  const r = spawnSync(
    'sh',
    ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq serf'],
    { encoding: 'utf8', timeout: 300_000 },
  )
  const after = which()
  if (after !== undefined) return { path: after }
  return {
    missing: `apt-get install serf failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}`,
  }
}

/** The version line of the serf binary ("Serf v0.8.2-dev"). */
export function serfVersion(path: string): string {
  const r = spawnSync(path, ['version'], { encoding: 'utf8' })
  return r.stdout.split('\n')[0]?.trim() ?? 'unknown'
}

export type SerfEvent =
  | { readonly kind: 'user'; readonly name: string; readonly payload: string; readonly atMs: number }
  | {
      readonly kind: 'member'
      readonly event: string
      readonly names: readonly string[]
      readonly atMs: number
    }

type Pending = { resolve: (body: Unpacked | undefined) => void; reject: (e: Error) => void; body: boolean }

/** One RPC connection to an agent (handshake done). */
export type SerfRpc = {
  /** Fires a user event (coalescing off) through this agent. */
  event(name: string, payload: string): Promise<void>
  /** Every member this agent knows, with its status (alive, failed, left, leaving). */
  members(): Promise<{ name: string; status: string }[]>
  /** Streams events of a type ('user', 'member-failed', '*') to onEvent, stamped on arrival. */
  stream(type: string, onEvent: (e: SerfEvent) => void): Promise<void>
  close(): void
}

const text = (v: Unpacked | undefined): string =>
  typeof v === 'string' ? v : v instanceof Uint8Array ? new TextDecoder().decode(v) : ''

/** Connects to an agent's RPC address and does the handshake (protocol version 1). */
export async function connectRpc(host: string, port: number): Promise<SerfRpc> {
  const socket = net.connect(port, host)
  socket.setNoDelay(true)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('error', reject)
  })
  const dec = mp.createDecoder()
  const pending = new Map<number, Pending>()
  const streams = new Map<number, { acked: boolean; ack: Pending; onEvent: (e: SerfEvent) => void }>()
  let seq = 0
  /** A header was read whose body is still to come, for this seq. */
  let bodyFor: number | undefined
  let failed: Error | undefined
  const failAll = (e: Error): void => {
    failed = e
    for (const p of pending.values()) p.reject(e)
    pending.clear()
  }
  socket.on('error', (e) => failAll(e))
  socket.on('close', () => failAll(new Error('serf rpc: connection closed')))
  socket.on('data', (chunk: Buffer) => {
    const atMs = performance.now()
    dec.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))
    for (;;) {
      let got: { value: Unpacked } | undefined
      try {
        got = dec.next()
      } catch (e) {
        socket.destroy()
        failAll(e as Error)
        return
      }
      if (got === undefined) return
      const v = got.value as { [k: string]: Unpacked }
      if (bodyFor !== undefined) {
        const s = bodyFor
        bodyFor = undefined
        const st = streams.get(s)
        if (st !== undefined) {
          const ev = text(v['Event'])
          if (ev === 'user')
            st.onEvent({ kind: 'user', name: text(v['Name']), payload: text(v['Payload']), atMs })
          else {
            const ms = Array.isArray(v['Members']) ? v['Members'] : []
            st.onEvent({
              kind: 'member',
              event: ev,
              names: ms.map((m) => text((m as { [k: string]: Unpacked })['Name'])),
              atMs,
            })
          }
          continue
        }
        const p = pending.get(s)
        pending.delete(s)
        p?.resolve(v)
        continue
      }
      // a response header
      const s = typeof v['Seq'] === 'number' ? v['Seq'] : -1
      const err = text(v['Error'])
      const st = streams.get(s)
      if (st !== undefined) {
        if (!st.acked) {
          st.acked = true
          if (err !== '') st.ack.reject(new Error(`serf rpc stream: ${err}`))
          else st.ack.resolve(undefined)
        } else bodyFor = s
        continue
      }
      const p = pending.get(s)
      if (p === undefined) continue
      if (err !== '') {
        pending.delete(s)
        p.reject(new Error(`serf rpc: ${err}`))
      } else if (p.body) bodyFor = s
      else {
        pending.delete(s)
        p.resolve(undefined)
      }
    }
  })
  const request = (
    command: string,
    body: Packable | undefined,
    expectBody: boolean,
  ): { seq: number; done: Promise<Unpacked | undefined>; p: Pending } => {
    const s = seq++
    let p: Pending = { resolve: () => undefined, reject: () => undefined, body: expectBody }
    const done = new Promise<Unpacked | undefined>((resolve, reject) => {
      p = { resolve, reject, body: expectBody }
    })
    if (failed !== undefined) p.reject(failed)
    const parts = [mp.encode({ Command: command, Seq: s })]
    if (body !== undefined) parts.push(mp.encode(body))
    socket.write(Buffer.concat(parts))
    return { seq: s, done, p }
  }
  const call = (
    command: string,
    body: Packable | undefined,
    expectBody: boolean,
  ): Promise<Unpacked | undefined> => {
    const r = request(command, body, expectBody)
    pending.set(r.seq, r.p)
    return r.done
  }
  await call('handshake', { Version: 1 }, false)
  return {
    async event(name, payload) {
      await call('event', { Name: name, Payload: new TextEncoder().encode(payload), Coalesce: false }, false)
    },
    async members() {
      const r = (await call('members', undefined, true)) as { Members?: Unpacked } | undefined
      const ms = Array.isArray(r?.Members) ? r.Members : []
      return ms.map((m) => {
        const o = m as { [k: string]: Unpacked }
        return { name: text(o['Name']), status: text(o['Status']) }
      })
    },
    async stream(type, onEvent) {
      const r = request('stream', { Type: type }, false)
      streams.set(r.seq, { acked: false, ack: r.p, onEvent })
      await r.done
    },
    close() {
      socket.destroy()
    },
  }
}

/** A statsite sink: sums the counters agents send ("key:value|c" lines), by key. */
export type Statsite = { readonly port: number; counters: Map<string, number>; close(): Promise<void> }

/** Agents started and not yet exited, and statsite sinks not yet closed: closeAll ends them after a failed run. */
const liveAgents = new Set<ChildProcess>()
const liveSinks = new Set<Statsite>()

/** SIGKILLs every agent still running and closes every statsite sink (a failed run leaves nothing behind). */
export async function closeAll(): Promise<void> {
  for (const c of liveAgents) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await Promise.all([...liveSinks].map((s) => s.close()))
}

export async function startStatsite(): Promise<Statsite> {
  const counters = new Map<string, number>()
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    let rest = ''
    s.on('data', (d: Buffer) => {
      const lines = (rest + d.toString('utf8')).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        const m = /^([^:]+):([-0-9.eE+]+)\|c$/.exec(line)
        if (m === null) continue
        counters.set(m[1] as string, (counters.get(m[1] as string) ?? 0) + Number(m[2]))
      }
    })
    s.on('error', () => undefined)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  let closing: Promise<void> | undefined
  const sink: Statsite = {
    port: (server.address() as net.AddressInfo).port,
    counters,
    close: () =>
      (closing ??= new Promise<void>((r) => {
        liveSinks.delete(sink)
        for (const s of sockets) s.destroy()
        server.close(() => r())
      })),
  }
  liveSinks.add(sink)
  return sink
}

/** Bytes all agents sent so far (memberlist's UDP packets and TCP streams), as their telemetry reported it. */
export function serfBytesSent(st: Statsite): number {
  let n = 0
  for (const [k, v] of st.counters) if (/(^|\.)memberlist\.(udp|tcp)\.sent$/.test(k)) n += v
  return n
}

export type SerfAgent = {
  readonly name: string
  readonly bind: number
  readonly rpc: number
  readonly child: ChildProcess
  readonly exited: Promise<void>
}

/**
 * Starts n agents on loopback (LAN profile; agent 0 first, the others joining it), their telemetry to
 * statsitePort. ports: 2n free ports (bind ports, then RPC ports).
 */
export async function startAgents(
  serf: string,
  dir: string,
  n: number,
  ports: readonly number[],
  statsitePort: number,
): Promise<SerfAgent[]> {
  mkdirSync(dir, { recursive: true })
  const cfg = join(dir, 'telemetry.json')
  writeFileSync(cfg, JSON.stringify({ statsite_addr: `127.0.0.1:${statsitePort}` }))
  const agents: SerfAgent[] = []
  for (let i = 0; i < n; i++) {
    const bind = ports[i] as number
    const rpc = ports[n + i] as number
    const args = [
      'agent',
      `-node=s${i}`,
      `-bind=127.0.0.1:${bind}`,
      `-advertise=127.0.0.1:${bind}`,
      `-rpc-addr=127.0.0.1:${rpc}`,
      '-profile=lan',
      '-log-level=warn',
      `-config-file=${cfg}`,
    ]
    if (i > 0) args.push(`-retry-join=127.0.0.1:${ports[0]}`, '-retry-interval=1s')
    const child = spawn(serf, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr?.resume()
    liveAgents.add(child)
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    void exited.then(() => liveAgents.delete(child))
    agents.push({ name: `s${i}`, bind, rpc, child, exited })
    if (i === 0) await sleep(300)
  }
  return agents
}

/** Connects to an agent's RPC port, retrying while it starts (up to deadlineMs). */
export async function connectAgent(a: SerfAgent, deadlineMs = 15_000): Promise<SerfRpc> {
  const t0 = performance.now()
  for (;;) {
    try {
      return await connectRpc('127.0.0.1', a.rpc)
    } catch (e) {
      if (performance.now() - t0 > deadlineMs)
        throw new Error(`serf agent ${a.name}: RPC on ${a.rpc} did not answer: ${(e as Error).message}`, {
          cause: e,
        })
      await sleep(100)
    }
  }
}
