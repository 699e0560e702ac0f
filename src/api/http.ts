/**
 * The HTTP API (hono): REST for everything the CLI does, with the CLI's --json shapes (service.ts does the
 * work; this file only maps HTTP to it), an event stream of new ops and what they changed (SSE, resumable
 * with Last-Event-ID), Prometheus /metrics and /healthz.
 *
 * Security: loopback by default; every route but /healthz needs `Authorization: Bearer <token>`, the
 * token in `<home>/api-token` (32 random bytes as hex, created mode 0600 on first start), compared in
 * constant time. Bodies are JSON objects of at most bodyBytesMax bytes (413 beyond).
 *
 * Errors: a ServiceError maps once, here, to its status (bad_input 400, not_found 404, conflict 409,
 * forbidden 403, unavailable 503) with the body `{"error": {"kind", "message"}}`; anything else is a 500
 * whose message says only that (the process logs it).
 *
 * Routes (query parameters and body fields are the service's input names; booleans as true/false):
 *   GET    /healthz                          {ok: true}, no token needed
 *   GET    /, /app.js, /style.css ...        the dashboard's files (dashboard.ts), no token needed
 *   GET    /metrics                          Prometheus text: the store's figures, and the daemon's if any
 *   GET    /v1/events[?after=CURSOR]         SSE: one `op` event per op that arrives, id = its cursor
 *   POST   /v1/publish                       {text, channel?, tags?, ttl?, idempotency_key?, verified?}
 *   GET    /v1/tail?n=&channel=&include_stale=&as_of=
 *   GET    /v1/search?q=&limit=&channel=&tag=&author=&since=
 *   GET    /v1/facts/:id?include_stale=&as_of=
 *   PUT    /v1/facts/:id                     {value, verified?, ttl?}
 *   DELETE /v1/facts/:id?reason=
 *   GET    /v1/facts/:id/history
 *   GET    /v1/conflicts
 *   POST   /v1/verify                        {id, value}   (id: a ticket or a fact)
 *   PUT    /v1/status                        {text, health?, working_on?}
 *   GET    /v1/fleet
 *   GET    /v1/tasks?ready=&mine=            POST /v1/tasks {title, depends?, assign?}
 *   POST   /v1/tasks/:id/claim | /release | /done {result?}
 *   GET    /v1/counters/:name                POST /v1/counters/:name {n?}
 *   GET    /v1/log?n=&author=&as_of=         GET /v1/metrics (the metrics --json document)
 *   GET    /v1/export?channel=               every fact as JSON lines (application/x-ndjson), streamed
 *   GET    /peers, /v1/peers                 the daemon's members (503 without a daemon)
 *   POST   /mcp                              MCP over Streamable HTTP (stateless, JSON answers): grapevine mcp's tools
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type * as HonoServer from '@hono/node-server'
import type * as HonoCore from 'hono'
import type { Context, Hono } from 'hono'
import type * as HonoBodyLimit from 'hono/body-limit'
import type * as HonoStreaming from 'hono/streaming'
import type * as PromClient from 'prom-client'
import type { Counter } from 'prom-client'
import type { Json } from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import type { Local } from '../node/index.ts'
import { local as localNode, trace } from '../node/index.ts'
import { cursor } from '../store/index.ts'
import * as dashboard from './dashboard.ts'
import * as fmt from './format.ts'
import * as service from './service.ts'
import { ServiceError } from './service.ts'
import type { OpName, ServiceErrorKind } from './service.ts'
import type * as SdkHttp from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'

/** The SDK's web-standard HTTP transport, imported by a computed name so the CLI's bundle does not carry the SDK. */
const mcpTransportModule = '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
const computed = (name: string): string => name

type Deps = {
  Hono: typeof HonoCore.Hono
  bodyLimit: typeof HonoBodyLimit.bodyLimit
  streamSSE: typeof HonoStreaming.streamSSE
  serve: typeof HonoServer.serve
  prom: typeof PromClient
}
let deps: Deps | undefined

/**
 * hono, its node server and prom-client, loaded on first use by computed names: `grapevine up` loads this
 * file lazily, but a static import would put ~300 kB of them into the CLI's bundle (bin/build-cli.js),
 * which every command (tail included) would then read at start.
 */
async function loadDeps(): Promise<Deps> {
  if (deps !== undefined) return deps
  const [core, limit, streaming, server, prom] = await Promise.all([
    import(computed('hono')) as Promise<typeof HonoCore>,
    import(computed('hono/body-limit')) as Promise<typeof HonoBodyLimit>,
    import(computed('hono/streaming')) as Promise<typeof HonoStreaming>,
    import(computed('@hono/node-server')) as Promise<typeof HonoServer>,
    import(computed('prom-client')) as Promise<typeof PromClient>,
  ])
  deps = { Hono: core.Hono, bodyLimit: limit.bodyLimit, streamSSE: streaming.streamSSE, serve: server.serve, prom }
  return deps
}

// ---- what the daemon tells (a structural port: src/node/daemon.ts satisfies it)

/** A member of the fleet as the daemon sees it. */
export type PeerRow = {
  /** The peer's node id (its author id). */
  readonly id: string
  readonly name?: string | null | undefined
  readonly address?: string | null | undefined
  /** The membership state: alive, suspect, dead, left. */
  readonly state: string
  /** Ops of this peer's authors we lack, or it lacks of ours, as the last digests showed; null unknown. */
  readonly lag_ops?: number | null | undefined
  /** When we last heard from it, ms since the epoch. */
  readonly last_seen_ms?: number | null | undefined
}

/** Publish->visible latency of one peer: from an op's creation here to its arrival there (or back), ms. */
export type LatencyRow = { readonly peer: string; readonly p50_ms: number; readonly p95_ms: number; readonly samples: number }

/** The daemon's running figures (cumulative counts since it started). */
export type NodeStats = {
  readonly publish_visible?: readonly LatencyRow[] | undefined
  readonly syncs?: number | undefined
  readonly sync_ops?: number | undefined
  readonly sync_bytes?: number | undefined
}

/** What the HTTP API asks of a running daemon; without one, /peers is 503 and /metrics has the store's figures only. */
export type NodeView = {
  peers(): readonly PeerRow[]
  stats(): NodeStats
  /** Calls listener when the daemon stored ops from peers (event streams wake at once, not at the next poll); returns the unsubscribe. */
  onStored?(listener: () => void): () => void
  /** This API wrote own ops: the daemon pushes them at once rather than at its next store poll. */
  written?(): void
}

// ---- the token

export const tokenFile = 'api-token'

/** The API token of a home: read from `<home>/api-token`, or made (32 random bytes, hex, mode 0600) on first start. */
export function loadOrCreateToken(home: string): string {
  const path = join(home, tokenFile)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const t = readFileSync(path, 'utf8').trim()
      if (!/^[0-9a-f]{64}$/.test(t)) throw new Error(`${path} does not hold a token (64 hex characters): delete it and start again to make a new one`)
      return t
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    try {
      writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e // another process made it first: read that
    }
  }
  throw new Error(`cannot read or create ${path}`)
}

/** Constant-time comparison of a presented token with the expected one (hashed first: equal lengths). */
function tokenMatches(presented: string, expected: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest()
  return timingSafeEqual(h(presented), h(expected))
}

// ---- the app

export type HttpApiOptions = {
  readonly local: Local
  readonly token: string
  readonly node?: NodeView | undefined
  /** Largest request body accepted (413 beyond): a value is at most 32 KiB canonical; JSON escapes can grow it. */
  readonly bodyBytesMax?: number | undefined
  /** How often event streams look at the store for ops written by other processes. */
  readonly pollMs?: number | undefined
  /** Event streams open at once at most (503 beyond): each holds a socket and a loop. */
  readonly streamsMax?: number | undefined
  /** A comment line on idle event streams this often, so proxies and clients see the link is alive. */
  readonly heartbeatMs?: number | undefined
}

export const bodyBytesMaxDefault = 256 * 1024
export const pollMsDefault = 50
export const heartbeatMsDefault = 15_000
export const streamsMaxDefault = 64
/** Characters of export lines put in one chunk of the response. */
export const exportChunkChars = 256 * 1024
/** Ops an event stream reads from the store at once. */
export const eventBatchMax = 256

const statusOf: Record<ServiceErrorKind, 400 | 403 | 404 | 409 | 503> = { bad_input: 400, not_found: 404, conflict: 409, forbidden: 403, unavailable: 503 }

export type HttpApp = {
  readonly app: Hono
  /** Ends every event stream (their clients see the end and reconnect elsewhere) and stops polling. */
  close(): void
}

/** The API as a hono app, for a server or for in-process tests (app.request()). */
export async function createHttpApp(opts: HttpApiOptions): Promise<HttpApp> {
  const { Hono, bodyLimit, streamSSE, prom: promClient } = await loadDeps()
  const l = opts.local
  const pollMs = opts.pollMs ?? pollMsDefault
  const heartbeatMs = opts.heartbeatMs ?? heartbeatMsDefault
  cursor.install(l.store)
  const app = new Hono()
  const events = createEventHub(l, pollMs)
  /** GRAPEVINE_TRACE=1: when each op event was written to a stream (node/trace.ts). */
  const tracer = trace.open(l.home, 'trace-api.log')
  const unsubscribeStored = opts.node?.onStored?.(() => events.wake())
  /** After a write through this API: the streams and the daemon hear of it at once. */
  const wrote = () => {
    // the daemon's push first: the peers' work starts before this process's own streams
    opts.node?.written?.()
    events.wake()
  }

  app.onError((err, c) => {
    if (err instanceof ServiceError) return c.json({ error: { kind: err.kind, message: err.message } }, statusOf[err.kind])
    console.error('grapevine http:', err)
    return c.json({ error: { kind: 'internal', message: 'internal error (the server logged it)' } }, 500)
  })
  app.notFound((c) => c.json({ error: { kind: 'not_found', message: `no route ${c.req.method} ${c.req.path}: see the routes in src/api/http.ts` } }, 404))

  app.get('/healthz', (c) => c.json({ ok: true }))

  // the dashboard's files (dashboard.ts: a fixed table, no token, strict CSP); a GET of any other path
  // outside the API is a 404 here, so it never reaches the token check below
  const asset = dashboard.createAssets()
  app.get('*', async (c, next) => {
    const a = asset(c.req.path)
    if (a !== undefined) return c.body(a.body, 200, { ...dashboard.headers, 'Content-Type': a.type })
    if (!dashboard.isApiPath(c.req.path)) return c.json({ error: { kind: 'not_found', message: `no file ${c.req.path}: the dashboard is at /` } }, 404, dashboard.headers)
    await next()
    return undefined
  })

  app.use('*', async (c, next) => {
    const h = c.req.header('authorization') ?? ''
    const m = /^Bearer +(\S+)\s*$/i.exec(h)
    if (m === null || !tokenMatches(m[1] as string, opts.token)) {
      c.header('WWW-Authenticate', 'Bearer realm="grapevine"')
      return c.json({ error: { kind: 'unauthorized', message: `send Authorization: Bearer <token>, the token in ${join(l.home, tokenFile)}` } }, 401)
    }
    await next()
    return undefined
  })
  app.use(
    '*',
    bodyLimit({
      maxSize: opts.bodyBytesMax ?? bodyBytesMaxDefault,
      onError: (c) => c.json({ error: { kind: 'too_large', message: `the body is over ${opts.bodyBytesMax ?? bodyBytesMaxDefault} bytes` } }, 413),
    }),
  )

  const read = <N extends OpName>(c: Context, name: N, extra: Record<string, unknown> = {}) => c.json(service.call(l, name, { ...c.req.query(), ...extra }) as Json)
  const write = async <N extends OpName>(c: Context, name: N, extra: Record<string, unknown> = {}, status: 200 | 201 = 200) => {
    const doc = service.call(l, name, { ...(await jsonBody(c)), ...extra }) as Json
    wrote()
    return c.json(doc, status)
  }
  const id = (c: Context) => ({ id: c.req.param('id') })

  app.post('/v1/publish', (c) => write(c, 'publish', {}, 201))
  app.get('/v1/tail', (c) => read(c, 'tail'))
  app.get('/v1/search', (c) => read(c, 'search'))
  app.get('/v1/facts/:id/history', (c) => read(c, 'factHistory', id(c)))
  app.get('/v1/facts/:id', (c) => read(c, 'factGet', id(c)))
  app.put('/v1/facts/:id', (c) => write(c, 'factSet', id(c)))
  app.delete('/v1/facts/:id', (c) => {
    const doc = service.call(l, 'factRetract', { ...c.req.query(), ...id(c) }) as Json
    wrote()
    return c.json(doc)
  })
  app.get('/v1/conflicts', (c) => read(c, 'conflicts'))
  app.post('/v1/verify', (c) => write(c, 'verify'))
  app.put('/v1/status', (c) => write(c, 'statusSet'))
  app.get('/v1/fleet', (c) => read(c, 'fleet'))
  app.get('/v1/tasks', (c) => read(c, 'taskList'))
  app.post('/v1/tasks', (c) => write(c, 'taskAdd', {}, 201))
  app.post('/v1/tasks/:id/claim', (c) => write(c, 'taskClaim', id(c)))
  app.post('/v1/tasks/:id/release', (c) => write(c, 'taskRelease', id(c)))
  app.post('/v1/tasks/:id/done', (c) => write(c, 'taskDone', id(c)))
  app.get('/v1/counters/:name', (c) => read(c, 'counterGet', { name: c.req.param('name') }))
  app.post('/v1/counters/:name', (c) => write(c, 'counterAdd', { name: c.req.param('name') }))
  app.get('/v1/log', (c) => read(c, 'log'))
  app.get('/v1/metrics', (c) => read(c, 'metrics'))
  app.get('/v1/export', (c) => {
    // the input is checked before the first byte; the lines are read from the views as the client takes them
    const it = service.exportLines(l, service.check('export', c.req.query()))[Symbol.iterator]()
    const enc = new TextEncoder()
    const body = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        let chunk = ''
        while (chunk.length < exportChunkChars) {
          const n = it.next()
          if (n.done === true) {
            if (chunk !== '') ctrl.enqueue(enc.encode(chunk))
            ctrl.close()
            return
          }
          chunk += n.value + '\n'
        }
        ctrl.enqueue(enc.encode(chunk))
      },
      cancel() {
        it.return?.()
      },
    })
    return c.body(body, 200, { 'Content-Type': 'application/x-ndjson' })
  })

  // MCP over Streamable HTTP, stateless: each POST gets a fresh server (mcp.ts createMcpServer: the same
  // tools as grapevine mcp) and transport, answered as JSON. The SDK loads on the first call only.
  app.all('/mcp', async (c) => {
    const [{ createMcpServer }, { WebStandardStreamableHTTPServerTransport: Transport }] = await Promise.all([
      import('./mcp.ts'),
      import(computed(mcpTransportModule)) as Promise<typeof SdkHttp>,
    ])
    const server = await createMcpServer(l)
    const transport = new Transport({ enableJsonResponse: true })
    await server.connect(transport)
    try {
      return await transport.handleRequest(c.req.raw)
    } finally {
      await server.close()
      events.wake() // a tool may have written
    }
  })

  const peers = (c: Context) => {
    if (opts.node === undefined) throw new ServiceError('unavailable', 'no daemon runs with this API: start one with grapevine up')
    return c.json(opts.node.peers().map((p) => ({ ...p, last_seen: p.last_seen_ms === undefined || p.last_seen_ms === null ? null : new Date(p.last_seen_ms).toISOString() })) as unknown as Json)
  }
  app.get('/peers', peers)
  app.get('/v1/peers', peers)

  const prom = createPrometheus(promClient, l, opts.node)
  app.get('/metrics', async (c) => {
    const text = await prom.scrape()
    return c.body(text, 200, { 'Content-Type': prom.contentType })
  })

  app.get('/v1/events', (c) => {
    const from = c.req.header('last-event-id') ?? c.req.query('after')
    let cur: number
    if (from === undefined) cur = cursor.latest(l.store)
    else if (/^\d{1,15}$/.test(from.trim())) cur = Number(from.trim())
    else throw new ServiceError('bad_input', `bad event cursor ${JSON.stringify(from)}: Last-Event-ID (or ?after=) is the id of the last event received, a whole number`)
    const streamsMax = opts.streamsMax ?? streamsMaxDefault
    if (events.open() >= streamsMax) throw new ServiceError('unavailable', `${streamsMax} event streams are open already: close one, or try again later`)
    // subscribed before the stream starts, so a burst of requests cannot pass the limit together
    let open = true
    const sub = events.subscribe(() => {
      open = false
    })
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => {
        open = false
        sub.cancel()
      })
      try {
        await stream.writeSSE({ event: 'hello', data: JSON.stringify({ cursor: cur }), retry: 1000 })
        while (open) {
          const batch = cursor.after(l.store, cur, eventBatchMax)
          for (const a of batch) {
            await stream.writeSSE({ id: String(a.cursor), event: 'op', data: JSON.stringify(eventJson(l, a)) })
            cur = a.cursor
            if (tracer !== undefined) tracer.line(`sse ${a.op.op.author} ${a.op.op.seq} ${tracer.nowMs().toFixed(3)}`)
          }
          // look again before waiting: ops that arrived while this wrote woke nobody. An empty look and
          // the wait follow each other with no await between, so no wake-up is missed.
          if (batch.length > 0) continue
          const why = await sub.wait(heartbeatMs)
          if (why === 'timeout' && open) await stream.write(': ping\n\n')
        }
      } finally {
        sub.cancel()
      }
    })
  })

  return {
    app,
    close: () => {
      unsubscribeStored?.()
      events.close()
    },
  }
}

/** The body of a request as a JSON object ({} when empty), or bad input saying what is wrong with it. */
async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text()
  if (text.trim() === '') return {}
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e) {
    throw new ServiceError('bad_input', `the body is not JSON (${e instanceof Error ? e.message : String(e)}): send a JSON object`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ServiceError('bad_input', 'the body must be a JSON object')
  return v as Record<string, unknown>
}

/**
 * The views' reads for event streams, made once per store's views: views.sqlReads prepares some thirty
 * statements, which was about 0.8 ms of CPU per event per stream (a daemon's largest cost per received op
 * after the ingest itself; CPU profile of a receiving daemon at 40 ops/s). Without views (damaged) each
 * event reads anew.
 */
const eventReadsCache = new WeakMap<object, ReturnType<typeof localNode.reads>>()
function eventReads(l: Local): ReturnType<typeof localNode.reads> {
  const key = l.store.views
  if (key === undefined) return localNode.reads(l)
  let r = eventReadsCache.get(key)
  if (r === undefined) eventReadsCache.set(key, (r = localNode.reads(l)))
  return r
}

/**
 * An event of the stream: the op (the `log --json` shape) and what it changed, as it is when the event is
 * sent: the fact (null once it has no live version), the task, the counter or the agent.
 */
export function eventJson(l: Local, a: cursor.Arrival): Record<string, Json> {
  const reads = () => eventReads(l)
  const o = a.op.op
  const body = (o.body ?? {}) as Record<string, Json>
  let change: Json = null
  if (o.kind === 'fact.assert' || o.kind === 'fact.retract') {
    const factId = typeof body['fact_id'] === 'string' ? body['fact_id'] : knowledge.entryFactId(o.author, o.idempotencyKey, o.seq)
    const r = reads()
    const f = r.fact(factId, { nowMs: l.clock.nowMs(), includeStale: true })
    change = { type: 'fact', fact_id: factId, fact: f === undefined ? null : fmt.factJson(f, fmt.namesOf(r.agents())) }
  } else if (o.kind.startsWith('task.') && typeof body['task_id'] === 'string') {
    const r = reads()
    const t = r.task(body['task_id'])
    change = { type: 'task', task_id: body['task_id'], task: t === undefined ? null : fmt.taskJson(t, fmt.namesOf(r.agents()), service.isReady(r, t)) }
  } else if (o.kind === 'counter.add' && typeof body['name'] === 'string') {
    const c = service.counterGet(l, { name: body['name'] })
    change = { type: 'counter', name: c.name, value: c.value }
  } else if (o.kind === 'status.set' || o.kind === 'agent.hello') {
    const row = service.fleet(l).find((x) => x.author_agent_id === o.author)
    change = { type: 'agent', agent: row ?? null }
  }
  return { cursor: a.cursor, op: service.opJson(a.op), change }
}

// ---- event streams: one poller for all of them

type Subscription = {
  /** Resolves when the store may have new ops (woken, or a poll saw the latest cursor move), or after ms. */
  wait(ms: number): Promise<'woken' | 'timeout'>
  cancel(): void
}

/**
 * Wakes the event streams when the store has new ops: at once for writes through this API, and within
 * pollMs for writes of other processes (one look at the latest cursor per pollMs, only while a stream
 * is open).
 */
function createEventHub(l: Local, pollMs: number) {
  const waiting = new Set<() => void>()
  const closers = new Set<() => void>()
  let timer: NodeJS.Timeout | undefined
  let seen = -1
  const wakeAll = () => {
    for (const w of [...waiting]) w()
  }
  const poll = () => {
    const c = cursor.latest(l.store)
    if (c !== seen) {
      seen = c
      wakeAll()
    }
  }
  const ensureTimer = () => {
    if (timer === undefined && closers.size > 0) timer = setInterval(poll, pollMs).unref()
    if (timer !== undefined && closers.size === 0) {
      clearInterval(timer)
      timer = undefined
    }
  }
  return {
    wake: wakeAll,
    /** How many streams are subscribed. */
    open: () => closers.size,
    subscribe(onClose: () => void): Subscription {
      let current: (() => void) | undefined
      const close = () => {
        onClose()
        current?.()
      }
      closers.add(close)
      ensureTimer()
      return {
        wait: (ms) =>
          new Promise((resolve) => {
            const t = setTimeout(() => done('timeout'), Math.max(1, ms)).unref()
            const done = (why: 'woken' | 'timeout') => {
              clearTimeout(t)
              waiting.delete(wake)
              current = undefined
              resolve(why)
            }
            const wake = () => done('woken')
            current = wake
            waiting.add(wake)
          }),
        cancel: () => {
          closers.delete(close)
          current?.()
          ensureTimer()
        },
      }
    },
    close() {
      for (const c of [...closers]) c()
      closers.clear()
      ensureTimer()
    },
  }
}

// ---- Prometheus

/**
 * The figures of design.md section 10 as Prometheus metrics, read when scraped: the store's (every
 * node), and the daemon's when one runs (publish->visible latency per peer, per-peer lag, membership
 * states, syncs with their ops and bytes).
 */
function createPrometheus({ Counter, Gauge, Registry }: typeof PromClient, l: Local, node: NodeView | undefined) {
  const registry = new Registry()
  const g = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] })
  const c = (name: string, help: string) => new Counter({ name, help, registers: [registry] })
  const m = {
    ops: g('grapevine_store_ops', 'Ops held in the store, by kind', ['kind']),
    duplicates: g('grapevine_duplicate_ops_ignored', 'Ops received again and ignored (duplicates)'),
    duplicateRate: g('grapevine_duplicate_rate', 'Duplicates ignored per op received (duplicates / (ops + duplicates))'),
    invalid: g('grapevine_invalid_ops', 'Ops refused as invalid'),
    forks: g('grapevine_forks', 'Forks seen (two ops of one author with one seq)'),
    shadowed: g('grapevine_shadowed_ops', 'Ops without effect: an earlier op of their author had the same idempotency key'),
    purged: g('grapevine_ttl_purged_versions', 'Fact versions purged from the views past their TTL'),
    facts: g('grapevine_facts', 'Facts with a live version'),
    versions: g('grapevine_live_versions', 'Live versions of facts (more than one per fact: a conflict)'),
    entries: g('grapevine_entries', 'Channel entries, by channel', ['channel']),
    tickets: g('grapevine_verify_tickets', 'Verify tickets, by state', ['state']),
    ttv: g('grapevine_time_to_verify_seconds_mean', 'Mean time from a ticket opening to its resolution'),
    conflictRate: g('grapevine_conflict_rate', 'Open verify tickets per fact'),
    tasks: g('grapevine_tasks', 'Tasks'),
    agents: g('grapevine_agents', 'Agents this node has heard of'),
    bytes: g('grapevine_store_bytes', 'Bytes of the store on disk, by file (db, wal) and free pages in the db', ['file']),
    index: g('grapevine_search_index_bytes', 'Bytes of the full-text search index'),
    latency: g('grapevine_publish_visible_seconds', 'Publish->visible latency per peer (quantile 0.5 and 0.95)', ['peer', 'quantile']),
    lag: g('grapevine_peer_lag_ops', 'Ops between this node and a peer, as the last digests showed', ['peer']),
    members: g('grapevine_members', 'Fleet members by membership state', ['state']),
    syncs: c('grapevine_syncs_total', 'Sync exchanges with peers completed'),
    syncOps: c('grapevine_sync_ops_total', 'Ops received from peers (push and anti-entropy)'),
    syncBytes: c('grapevine_sync_bytes_total', 'Bytes received from peers'),
  }
  const setCounter = (x: Counter, v: number | undefined) => {
    x.reset()
    if (v !== undefined && v > 0) x.inc(v)
  }
  return {
    contentType: registry.contentType,
    async scrape(): Promise<string> {
      const s = service.metrics(l)
      m.ops.reset()
      for (const [k, n] of Object.entries(s.ops_by_kind)) m.ops.set({ kind: k }, n)
      m.duplicates.set(s.duplicate_ops_ignored)
      m.duplicateRate.set(s.ops + s.duplicate_ops_ignored === 0 ? 0 : s.duplicate_ops_ignored / (s.ops + s.duplicate_ops_ignored))
      m.invalid.set(s.invalid_ops)
      m.forks.set(s.forks)
      m.shadowed.set(s.shadowed_ops)
      m.purged.set(s.ttl_purged_versions)
      m.facts.set(s.views.facts)
      m.versions.set(s.views.live_versions)
      for (const [ch, n] of Object.entries(s.views.entries_by_channel)) m.entries.set({ channel: ch }, n)
      m.tickets.set({ state: 'open' }, s.views.open_tickets)
      m.tickets.set({ state: 'resolved' }, s.views.resolved_tickets)
      m.ttv.set(s.views.time_to_verify_ms_mean === null ? 0 : s.views.time_to_verify_ms_mean / 1000)
      m.conflictRate.set(s.conflict_rate ?? 0)
      m.tasks.set(s.views.tasks)
      m.agents.set(s.views.agents)
      m.bytes.set({ file: 'db' }, s.db_bytes)
      m.bytes.set({ file: 'wal' }, s.wal_bytes)
      m.bytes.set({ file: 'free' }, s.free_bytes)
      if (s.fts_bytes !== null) m.index.set(s.fts_bytes)
      m.latency.reset()
      m.lag.reset()
      m.members.reset()
      if (node !== undefined) {
        const st = node.stats()
        for (const r of st.publish_visible ?? []) {
          m.latency.set({ peer: r.peer, quantile: '0.5' }, r.p50_ms / 1000)
          m.latency.set({ peer: r.peer, quantile: '0.95' }, r.p95_ms / 1000)
        }
        const states = new Map<string, number>()
        for (const p of node.peers()) {
          states.set(p.state, (states.get(p.state) ?? 0) + 1)
          if (p.lag_ops !== undefined && p.lag_ops !== null) m.lag.set({ peer: p.name ?? p.id }, p.lag_ops)
        }
        for (const [state, n] of states) m.members.set({ state }, n)
        setCounter(m.syncs, st.syncs)
        setCounter(m.syncOps, st.sync_ops)
        setCounter(m.syncBytes, st.sync_bytes)
      }
      return registry.metrics()
    },
  }
}

// ---- the server

export type StartOptions = HttpApiOptions & {
  /** HOST:PORT to listen on; loopback (127.0.0.1) when the host is left out; port 0 picks a free one. */
  readonly listen?: string | undefined
}

export const listenDefault = '127.0.0.1:7401'

/** HOST:PORT (or :PORT, or PORT) to a host and port; IPv6 hosts in brackets ([::1]:7401). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]*):)?(\d{1,5})$/.exec(text.trim())
  const port = m === null ? NaN : Number(m[2])
  if (m === null || port > 65_535) throw new ServiceError('bad_input', `bad listen address ${JSON.stringify(text)}: use HOST:PORT (e.g. 127.0.0.1:7401; port 0 picks a free one)`)
  const host = m[1] === undefined || m[1] === '' ? '127.0.0.1' : m[1].replace(/^\[|\]$/g, '')
  return { host, port }
}

/**
 * Serves the API on a socket (loopback by default). The token defaults to the home's (`<home>/api-token`,
 * made on first start). Resolves once it listens, with its URL; close() ends the event streams and the server.
 */
export async function startHttpApi(opts: Omit<StartOptions, 'token'> & { readonly token?: string | undefined }): Promise<{ url: string; token: string; close(): Promise<void> }> {
  const { host, port } = parseListen(opts.listen ?? listenDefault)
  const token = opts.token ?? loadOrCreateToken(opts.local.home)
  const h = await createHttpApp({ ...opts, token })
  const { serve } = await loadDeps()
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: h.app.fetch, hostname: host, port }, () => resolve(s))
    s.once('error', reject)
  })
  const addr = server.address() as AddressInfo
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  return {
    url: `http://${shown}:${addr.port}`,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        h.close()
        server.close(() => resolve())
        if ('closeAllConnections' in server) server.closeAllConnections()
      }),
  }
}
