/**
 * A Grapevine fleet on loopback for bench/network.ts: n homes in one secure fleet (node 0 creates it and
 * invites the others, done in process through src/node/fleet-home.ts, as `grapevine fleet create`,
 * `invite` and `join` do), each running `grapevine up` as a process of its own with its HTTP API on a free
 * loopback port; node 0 is the seed every other joins through.
 *
 * "Visible" on a daemon is what a client of its HTTP API sees: the SSE stream GET /v1/events, one per
 * daemon, held open by this process; an op counts as visible on a daemon when its event arrives here.
 * Resolution: the API notices ops the daemon stored within its poll period (http.ts pollMsDefault,
 * 50 ms) and streams them at once; ops published through that same API wake the stream at once.
 */
import { spawn, spawnSync } from 'node:child_process'
import * as http from 'node:http'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as log from '../../src/log/index.ts'
import { fleetHome, home } from '../../src/node/index.ts'

const bin = fileURLToPath(new URL('../../bin/grapevine.js', import.meta.url))
const buildScript = fileURLToPath(new URL('../../bin/build-cli.js', import.meta.url))

/**
 * Bundles the CLI as the sources are now into dir (bin/build-cli.js) with a launcher that does what
 * bin/grapevine.js does with a fresh bundle, so every daemon of a run runs the same code even while
 * others edit the shared tree. Returns the launcher's path, or undefined when nothing was built (no
 * esbuild): the daemons then run the sources.
 */
export function buildCli(dir: string): string | undefined {
  mkdirSync(dir, { recursive: true })
  const bundle = join(dir, 'grapevine.mjs')
  const r = spawnSync(process.execPath, [buildScript, bundle], { encoding: 'utf8' })
  if (r.status !== 0 || !existsSync(bundle)) return undefined
  const launcher = join(dir, 'launch.mjs')
  writeFileSync(
    launcher,
    "process.getBuiltinModule('node:module').enableCompileCache?.()\nconst mod = await import('./grapevine.mjs')\nawait mod.run()\n",
  )
  return launcher
}

/** Every daemon process started and not yet exited: killAll ends them when a run fails half-way. */
const live = new Set<ChildProcess>()

/** SIGKILLs every daemon still running (a run that failed must not leave processes behind). */
export function killAll(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}

/** Makes n homes (identity, fleet credential) under root: g0 creates the fleet and invites g1..g(n-1). */
export function makeFleetHomes(root: string, n: number): string[] {
  const dirs: string[] = []
  const now = Date.now()
  let state: fleetHome.FleetState | undefined
  for (let i = 0; i < n; i++) {
    const dir = join(root, `g${i}`)
    mkdirSync(dir, { recursive: true })
    const id = home.init(dir, `g${i}`)
    if (!id.ok) throw new Error(`network bench: home ${dir}: ${id.detail}`)
    if (i === 0) {
      const f = fleetHome.createFleet(dir, id.value, now)
      if (!f.ok) throw new Error(`network bench: fleet create: ${f.detail}`)
      state = f.value
    } else {
      const inv = fleetHome.createInvite(state as fleetHome.FleetState, log.capsAll, 86_400_000, now)
      if (!inv.ok) throw new Error(`network bench: invite: ${inv.detail}`)
      const j = fleetHome.joinFleet(dir, id.value, log.encodeInviteToken(inv.value), now)
      if (!j.ok) throw new Error(`network bench: join: ${j.detail}`)
    }
    dirs.push(dir)
  }
  return dirs
}

export type Daemon = {
  readonly index: number
  readonly dir: string
  readonly child: ChildProcess
  readonly pid: number
  /** The peer address (host:port). */
  readonly address: string
  /** http://127.0.0.1:PORT */
  readonly api: string
  readonly token: string
  readonly exited: Promise<void>
}

/**
 * Starts `grapevine up` on a home (peer port and API port chosen by the system) and waits until it
 * listens. cli: a launcher from buildCli, or undefined for the sources (GRAPEVINE_CLI=source).
 */
export function startDaemon(
  index: number,
  dir: string,
  joinAddrs: readonly string[],
  cli: string | undefined,
  timeoutMs = 120_000,
  extraEnv: Record<string, string> = {},
): Promise<Daemon> {
  const args = [
    cli ?? bin,
    '--json',
    'up',
    '--listen',
    '127.0.0.1:0',
    '--api',
    '127.0.0.1:0',
    ...joinAddrs.flatMap((j) => ['--join', j]),
  ]
  // without a private bundle, the sources as they are now: the one in dist/ may be older on a shared tree
  const child = spawn(process.execPath, args, {
    env: { ...process.env, GRAPEVINE_HOME: dir, GRAPEVINE_CLI: 'source', NO_COLOR: '1', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  void exited.then(() => live.delete(child))
  let err = ''
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000)
  })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`grapevine up on ${dir} did not start within ${timeoutMs} ms: ${err}`))
    }, timeoutMs)
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (nl < 0) return
      clearTimeout(timer)
      child.stdout?.resume()
      try {
        const doc = JSON.parse(out.slice(0, nl)) as { address: string; api: string }
        const token = readFileSync(join(dir, 'api-token'), 'utf8').trim()
        resolve({
          index,
          dir,
          child,
          pid: child.pid as number,
          address: doc.address,
          api: doc.api,
          token,
          exited,
        })
      } catch (e) {
        reject(
          new Error(
            `grapevine up on ${dir} printed ${JSON.stringify(out.slice(0, nl))}: ${(e as Error).message}`,
          ),
        )
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`grapevine up on ${dir} exited ${code}: ${err}`))
    })
  })
}

const auth = (d: Daemon): Record<string, string> => ({ authorization: `Bearer ${d.token}` })

/** GET a JSON document from a daemon's API. */
export async function getJson(d: Daemon, path: string, timeoutMs = 5000): Promise<unknown> {
  const r = await fetch(`${d.api}${path}`, { headers: auth(d), signal: AbortSignal.timeout(timeoutMs) })
  if (!r.ok) throw new Error(`GET ${path} on g${d.index}: ${r.status}`)
  return r.json()
}

/** Kept-alive connections for publishes (node:http: lighter than fetch in a process shared with the daemons). */
const publishAgent = new http.Agent({ keepAlive: true, maxSockets: 256 })

/** Publishes an entry through a daemon's API (POST /v1/publish); resolves once the 201 arrived. */
export function publish(d: Daemon, textValue: string): Promise<void> {
  const url = new URL(`${d.api}/v1/publish`)
  const body = JSON.stringify({ text: textValue, channel: 'discoveries' })
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: publishAgent,
        timeout: 10_000,
        headers: { ...auth(d), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () =>
          res.statusCode === 201 ? resolve() : reject(new Error(`publish on g${d.index}: ${res.statusCode} ${text}`)),
        )
        res.on('error', reject)
      },
    )
    req.on('socket', (s) => s.setNoDelay(true))
    req.on('timeout', () => req.destroy(new Error(`publish on g${d.index}: no answer within 10 s`)))
    req.on('error', reject)
    req.end(body)
  })
}

export type PeerRow = { id: string; address: string; state: string; member_id?: string }

export async function peers(d: Daemon): Promise<PeerRow[]> {
  const v = await getJson(d, '/peers')
  return Array.isArray(v) ? (v as PeerRow[]) : []
}

/** Bytes this daemon received from peers so far (grapevine_sync_bytes_total of its /metrics). */
export async function syncBytes(d: Daemon): Promise<number> {
  const r = await fetch(`${d.api}/metrics`, { headers: auth(d), signal: AbortSignal.timeout(10_000) })
  const t = await r.text()
  const m = /^grapevine_sync_bytes_total (\d+(?:\.\d+)?(?:e\+?\d+)?)$/m.exec(t)
  return m === null ? 0 : Number(m[1])
}

/**
 * An open SSE stream of a daemon's new ops: calls onOp(data, arrival time) for each `op` event. Read with
 * node:http (a socket's 'data' events, the time taken as each chunk comes), not fetch: 30 web streams in
 * this process cost more CPU per chunk and a few promise turns each before the time is taken, and this
 * process shares the machine with the daemons it measures (Serf's receipts are read from raw sockets).
 */
export type EventStream = { close(): void; readonly done: Promise<void> }

export async function openEvents(
  d: Daemon,
  onOp: (data: string, atMs: number) => void,
): Promise<EventStream> {
  const url = new URL(`${d.api}/v1/events`)
  let helloed: () => void = () => undefined
  const hello = new Promise<void>((res) => (helloed = res))
  let finished: () => void = () => undefined
  const done = new Promise<void>((res) => (finished = res))
  const req = http.get(
    { host: url.hostname, port: url.port, path: url.pathname, headers: { ...auth(d), accept: 'text/event-stream' } },
    (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        failed(new Error(`GET /v1/events on g${d.index}: ${res.statusCode}`))
        return
      }
      res.socket.setNoDelay(true)
      res.setEncoding('utf8')
      let buf = ''
      let event = ''
      let data = ''
      res.on('data', (chunk: string) => {
        const atMs = performance.now()
        buf += chunk
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.charCodeAt(nl - 1) === 13 ? buf.slice(0, nl - 1) : buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          if (line === '') {
            if (event === 'hello') helloed()
            else if (event === 'op') onOp(data, atMs)
            event = ''
            data = ''
          } else if (line.startsWith('event:')) event = line.slice(6).trim()
          else if (line.startsWith('data:')) data += line.slice(5).trimStart()
        }
      })
      res.on('end', () => finished())
      res.on('error', () => finished())
      res.on('close', () => finished())
    },
  )
  let failed: (e: Error) => void = () => undefined
  const failure = new Promise<never>((_, rej) => (failed = rej))
  // reason: aborted by close(), or the daemon went away (kill -9): the stream just ends
  req.on('error', (e) => {
    failed(e)
    finished()
  })
  await Promise.race([hello, failure, done.then(() => Promise.reject(new Error(`GET /v1/events on g${d.index}: ended before its hello`)))])
  return { close: () => req.destroy(), done }
}
