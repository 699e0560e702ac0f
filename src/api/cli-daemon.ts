/**
 * `grapevine up` (run the node: gossip with peers, until SIGINT/SIGTERM) and `grapevine peers` (what the
 * running node sees). Settings come from flags, then the environment (GRAPEVINE_LISTEN, GRAPEVINE_API,
 * GRAPEVINE_JOIN comma-separated, GRAPEVINE_HUB, GRAPEVINE_TOPOLOGY), then <home>/config.json (checked
 * with zod), then the defaults; a bad value anywhere is bad usage (exit 2) naming where it came from.
 *
 * `up` serves the HTTP API (http.ts) beside the daemon, on --api. `peers` asks the running node through
 * that API (GET /peers, with the home's api-token) at the address the same settings give; when the API
 * does not answer it falls back to <home>/daemon.json, which the daemon rewrites every second, and says so.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import * as z from 'zod'
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'
import { fleetHome, home, local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import { daemon as daemonOps, folderSync, startDaemon } from '../node/network.ts'
import type { Daemon, PeerView } from '../node/network.ts'
import { CliError, collect, openLocal, UsageError } from './cli-context.ts'
import type { Ctx } from './cli-context.ts'
import type { NodeView } from './http.ts'

export type Topology = 'mesh' | 'hub-spoke'

/** What `up` runs with, once every source is merged and checked. */
export type UpConfig = {
  readonly listen: { readonly host: string; readonly port: number }
  readonly api: { readonly host: string; readonly port: number }
  readonly join: readonly string[]
  readonly hub: boolean
  readonly topology: Topology
  readonly insecure: boolean
}

export const upDefaults = { listen: '127.0.0.1:7400', api: '127.0.0.1:7401', join: [] as string[], hub: false, topology: 'mesh' as Topology }

export const configFile = 'config.json'

/** <home>/config.json: every field optional, nothing else allowed (a typo is an error, not ignored). */
const fileSchema = z.strictObject({
  listen: z.string().optional(),
  api: z.string().optional(),
  join: z.array(z.string()).max(64).optional(),
  hub: z.boolean().optional(),
  topology: z.enum(['mesh', 'hub-spoke']).optional(),
})

type Raw = { listen?: string | undefined; api?: string | undefined; join?: string[] | undefined; hub?: boolean | undefined; topology?: string | undefined; insecure?: boolean | undefined }

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host)

function address(what: string, from: string, s: string, portZeroOk: boolean): Result<{ host: string; port: number }, 'bad_config'> {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s)
  const port = m === null ? NaN : Number(m[2])
  if (m === null || !(port <= 65535) || (port === 0 && !portZeroOk)) {
    return core.fail('bad_config', `${what} from ${from}: ${JSON.stringify(s)} is not HOST:PORT (e.g. 127.0.0.1:7400)`)
  }
  return core.ok({ host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port })
}

/**
 * Merges the settings: flags > env > file > defaults. `file` is config.json's parsed JSON (undefined: no
 * file). Every failure names the setting and where it came from.
 */
export function resolveUpConfig(flags: Raw, env: NodeJS.ProcessEnv, file: unknown, secured = false): Result<UpConfig, 'bad_config'> {
  let fromFile: Raw = {}
  if (file !== undefined) {
    const p = fileSchema.safeParse(file)
    if (!p.success) {
      const issue = p.error.issues[0]
      const where = issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.join('.')}`
      return core.fail('bad_config', `${configFile}${where}: ${issue?.message ?? 'invalid'}`)
    }
    fromFile = p.data
  }
  const fromEnv: Raw = {}
  const e = (k: string): string | undefined => (env[k] === undefined || env[k] === '' ? undefined : env[k])
  fromEnv.listen = e('GRAPEVINE_LISTEN')
  fromEnv.api = e('GRAPEVINE_API')
  const joinEnv = e('GRAPEVINE_JOIN')
  if (joinEnv !== undefined) fromEnv.join = joinEnv.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const hubEnv = e('GRAPEVINE_HUB')
  if (hubEnv !== undefined) {
    if (!/^(1|0|true|false|yes|no)$/i.test(hubEnv)) return core.fail('bad_config', `GRAPEVINE_HUB: ${JSON.stringify(hubEnv)} is not true or false`)
    fromEnv.hub = /^(1|true|yes)$/i.test(hubEnv)
  }
  fromEnv.topology = e('GRAPEVINE_TOPOLOGY')

  const pick = <K extends keyof Raw>(k: K): { value: Raw[K]; from: string } => {
    if (flags[k] !== undefined) return { value: flags[k], from: `--${k}` }
    if (fromEnv[k] !== undefined) return { value: fromEnv[k], from: `GRAPEVINE_${k.toUpperCase()}` }
    if (fromFile[k] !== undefined) return { value: fromFile[k], from: configFile }
    return { value: (upDefaults as Raw)[k], from: 'the defaults' }
  }
  const l = pick('listen')
  const listen = address('the peer address', l.from, l.value as string, true)
  if (!listen.ok) return listen
  const a = pick('api')
  const api = address('the API address', a.from, a.value as string, true)
  if (!api.ok) return api
  const j = pick('join')
  const joins: string[] = []
  for (const s of (j.value as string[]) ?? []) {
    const r = address('a join address', j.from, s, false)
    if (!r.ok) return r
    joins.push(s)
  }
  const t = pick('topology')
  if (t.value !== 'mesh' && t.value !== 'hub-spoke') return core.fail('bad_config', `topology from ${t.from}: ${JSON.stringify(t.value)} is not mesh or hub-spoke`)
  const insecure = flags.insecure === true
  if (!secured && !insecure && !isLoopback(listen.value.host)) {
    return core.fail('bad_config', `the peer address ${l.value} is not loopback and this node is in no fleet, so its links would be neither authenticated nor encrypted: grapevine fleet create / join first, or add --insecure to accept that`)
  }
  return core.ok({ listen: listen.value, api: api.value, join: joins, hub: pick('hub').value === true, topology: t.value, insecure })
}

/** Reads <home>/config.json: undefined if there is none; bad JSON is bad usage. */
function readConfigFile(dir: string): unknown {
  const path = join(dir, configFile)
  if (!existsSync(path)) return undefined
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    throw new UsageError(`${path} is not valid JSON (${e instanceof Error ? e.message : String(e)}): fix or remove it`)
  }
}

type DaemonState = { id: string; name: string; pid: number; address: string; atMs: number; peers: PeerView[]; stats: Record<string, number> }

export function registerDaemon(program: Command, ctx: Ctx): void {
  const { io } = ctx
  program
    .command('up')
    .description('run this node: gossip with peers (links, membership, anti-entropy, push) until Ctrl-C or SIGTERM')
    .option('--listen <host:port>', `peer address to listen on (default ${upDefaults.listen}; port 0: any free port)`)
    .option('--api <host:port>', `HTTP API address (default ${upDefaults.api})`)
    .option('--advertise <host:port>', 'the address peers reach this node at, if not --listen (NAT, port forward, proxy)')
    .option('--join <addr>', 'a peer to join through (repeatable)', collect)
    .option('--hub', 'this node is a hub (hub-spoke topology)')
    .option('--topology <t>', 'mesh or hub-spoke (default mesh)')
    .option('--insecure', 'allow unauthenticated, unencrypted peer links on a non-loopback address')
    .option('--dir <path>', 'also sync through this shared folder, continuously (as grapevine sync --dir PATH --relay)')
    .action(async (opts: Raw & { advertise?: string; dir?: string }) => {
      const dir = home.resolveHome(io.env)
      if (opts.advertise !== undefined && daemonOps.parseAddress(opts.advertise) === undefined) throw new UsageError(`--advertise ${JSON.stringify(opts.advertise)} is not HOST:PORT`)
      const id = home.loadOrInit(dir)
      if (!id.ok) throw new CliError(id.detail)
      const secured = fleetHome.load(dir, id.value.identity).ok
      const cfg = resolveUpConfig(opts, io.env, readConfigFile(dir), secured)
      if (!cfg.ok) throw new UsageError(cfg.detail)
      const c = cfg.value
      // a member id carries the address peers dial: "every interface" is no address to dial
      if ((c.listen.host === '0.0.0.0' || c.listen.host === '::') && opts.advertise === undefined) {
        throw new UsageError(`--listen ${c.listen.host}:${c.listen.port} listens on every interface: say which address peers reach this node at with --advertise HOST:PORT`)
      }
      const d = await startDaemon({
        home: dir,
        listenHost: c.listen.host,
        listenPort: c.listen.port,
        advertise: opts.advertise,
        join: c.join,
        hub: c.hub,
        topology: c.topology,
        log: (line) => io.err(`grapevine: ${line}\n`),
      }).catch((e: unknown) => {
        const msg = e instanceof Error ? e.message : String(e)
        throw new CliError(/EADDRINUSE/.test(msg) ? `${c.listen.host}:${c.listen.port} is in use (another grapevine up?): choose another with --listen` : msg)
      })
      if (d.fleet === undefined) io.err('grapevine: warning: this node is in no fleet: its peer links are neither authenticated nor encrypted (grapevine fleet create / join)\n')
      const l = openLocal(io)
      let api: { url: string; token: string; close(): Promise<void> }
      try {
        const { startHttpApi } = await import('./http.ts')
        api = await startHttpApi({ local: l, node: nodeView(d), listen: `${c.api.host.includes(':') ? `[${c.api.host}]` : c.api.host}:${c.api.port}` })
      } catch (e) {
        await d.close()
        local.closeLocal(l)
        const msg = e instanceof Error ? e.message : String(e)
        throw new CliError(/EADDRINUSE/.test(msg) ? `the API address ${c.api.host}:${c.api.port} is in use: choose another with --api` : `the HTTP API did not start: ${msg}`)
      }
      const folder = opts.dir === undefined ? undefined : resolve(opts.dir)
      const watch = folder === undefined ? undefined : watchFolder(l, folder, io)
      // Jupyter-style: the token in the URL's fragment, which the browser never sends (web/app.js takes it)
      const dashboard = `${api.url}/#token=${api.token}`
      const doc = { id: d.id, name: d.name, address: d.address, api: api.url, dashboard, fleet: d.fleet ?? null, dir: folder ?? null, pid: process.pid }
      io.out(ctx.json() ? JSON.stringify(doc) + '\n' : `grapevine: ${d.name} up (Ctrl-C stops it): peers on ${d.address}; HTTP API on ${api.url} (bearer token in ${join(dir, 'api-token')}); dashboard on ${dashboard}\n`)
      await new Promise<void>((resolve) => {
        const signal = io.interrupts?.()
        signal?.addEventListener('abort', () => resolve(), { once: true })
        process.once('SIGTERM', () => resolve())
      })
      watch?.stop()
      await api.close()
      await d.close()
      local.closeLocal(l)
      io.err(`grapevine: ${d.name} stopped\n`)
    })

  program
    .command('peers')
    .description("the members the running node knows: state, link, lag (ops they lack) and publish->visible latency")
    .option('--api <host:port>', 'where the node serves its API (default: as grapevine up would)')
    .action(async (opts: { api?: string }) => {
      const dir = home.resolveHome(io.env)
      const cfg = resolveUpConfig({ api: opts.api }, io.env, readConfigFile(dir), true)
      if (!cfg.ok) throw new UsageError(cfg.detail)
      const fromApi = await askApi(dir, cfg.value.api)
      if (fromApi !== undefined) {
        if (ctx.json()) io.out(JSON.stringify({ source: 'api', peers: fromApi }) + '\n')
        else {
          if (fromApi.length === 0) io.out('no peers known\n')
          for (const p of fromApi) io.out(`${String(p['state']).padEnd(8)} ${String(p['address'] ?? '').padEnd(22)} ${String(p['id']).slice(0, 12)}  lag ${String(p['lag_ops'] ?? '?')} ops\n`)
        }
        return
      }
      const path = join(dir, 'daemon.json')
      let s: DaemonState
      try {
        s = JSON.parse(readFileSync(path, 'utf8')) as DaemonState
      } catch {
        throw new CliError(`no node answers on ${cfg.value.api.host}:${cfg.value.api.port} and none has run in ${dir} (no daemon.json): start one with grapevine up`)
      }
      const ageMs = Date.now() - s.atMs
      let running = true
      try {
        process.kill(s.pid, 0)
      } catch {
        running = false
      }
      io.err(`grapevine: the API did not answer on ${cfg.value.api.host}:${cfg.value.api.port}; this is ${path}${!running || ageMs > 5000 ? ` (${(ageMs / 1000).toFixed(0)} s old: the node is not running)` : ''}\n`)
      if (ctx.json()) {
        io.out(JSON.stringify({ source: 'daemon.json', id: s.id, name: s.name, address: s.address, running, age_ms: ageMs, peers: s.peers, stats: s.stats }) + '\n')
        return
      }
      if (s.peers.length === 0) io.out('no peers known\n')
      for (const p of s.peers) {
        const lag = Object.values(p.lag).reduce((n, x) => n + x, 0)
        const lat = p.latency.p50Ms === undefined ? '' : `  latency p50 ${p.latency.p50Ms} ms p95 ${p.latency.p95Ms} ms`
        io.out(`${p.state.padEnd(8)} ${p.linked ? 'linked ' : 'no link'} ${p.address.padEnd(22)} ${p.author.slice(0, 12)}  lag ${lag} op${lag === 1 ? '' : 's'}${lat}\n`)
      }
    })
}

/** GET /peers from the node's API with the home's token; undefined if it does not answer (or there is no token). */
async function askApi(dir: string, api: { host: string; port: number }): Promise<Record<string, unknown>[] | undefined> {
  let token: string
  try {
    token = readFileSync(join(dir, 'api-token'), 'utf8').trim()
  } catch {
    return undefined
  }
  const host = api.host.includes(':') ? `[${api.host}]` : api.host
  try {
    const r = await fetch(`http://${host}:${api.port}/peers`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2000) })
    if (!r.ok) return undefined
    const body: unknown = await r.json()
    return Array.isArray(body) ? (body as Record<string, unknown>[]) : undefined
  } catch {
    return undefined
  }
}

/** The daemon as the HTTP API sees it (http.ts NodeView). */
export function nodeView(d: Daemon): NodeView {
  return {
    peers: () =>
      d.peers().map((p) => ({
        id: p.author,
        address: p.address,
        state: p.state,
        lag_ops: Object.values(p.lag).reduce((n, x) => n + x, 0),
        member_id: p.id,
        linked: p.linked,
      })),
    stats: () => {
      const s = d.stats()
      const rows = []
      for (const p of d.peers()) {
        if (p.latency.p50Ms === undefined || p.latency.p95Ms === undefined) continue
        rows.push({ peer: p.author, p50_ms: p.latency.p50Ms, p95_ms: p.latency.p95Ms, samples: p.latency.samples })
      }
      return { publish_visible: rows, sync_ops: s.opsIn, sync_bytes: s.bytesIn }
    },
    onStored: (listener) => d.onStored(listener),
    written: () => d.written(),
  }
}

/** Re-exported for tests: member ids carry the address. */
export const parseMemberId = daemonOps.parseMemberId

/**
 * `up --dir`: the folder synced continuously beside the daemon (folder-sync's watchFolder: at once, on
 * every change it is told of, and every 5 s), relaying what this node got by gossip to folder-only nodes.
 * The ops it takes in reach the daemon's peers by anti-entropy. Each bad line is said once (a gap is met
 * again at every sync until it fills), a failed sync every time.
 */
function watchFolder(l: Local, dir: string, io: Ctx['io']): { stop(): void } {
  const said = new Set<string>()
  return folderSync.watchFolder(
    l,
    dir,
    (r) => {
      if (!r.ok) {
        io.err(`grapevine: folder sync of ${dir} failed: ${r.detail}\n`)
        return
      }
      for (const p of r.value.problems) {
        const line = `${p.file}${p.line > 0 ? `:${p.line}` : ''}: ${p.reason}: ${p.detail}`
        if (said.has(line)) continue
        said.add(line)
        io.err(`grapevine: ${line}\n`)
      }
    },
    { relay: true },
  )
}
