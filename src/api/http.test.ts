import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import { createHttpApp, parseListen, startHttpApi, tokenFile } from './http.ts'
import type { HttpApp, NodeView } from './http.ts'
import * as service from './service.ts'
import { exportLine } from './service.ts'

const root = mkdtempSync(join(tmpdir(), 'grapevine-http-'))
after(() => rmSync(root, { recursive: true, force: true }))
let homes = 0
const token = 'a'.repeat(64)
const auth = { Authorization: `Bearer ${token}` }

function open(dir = join(root, `h${homes++}`)): Local {
  const l = local.openLocal(dir)
  assert.ok(l.ok)
  return l.value
}

type Doc = Record<string, unknown>

function client(h: HttpApp) {
  const req = async (method: string, path: string, body?: unknown, headers: Record<string, string> = auth) => {
    const init: RequestInit = { method, headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) } }
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body)
    const r = await h.app.request(path, init)
    const text = await r.text()
    return { status: r.status, body: text === '' ? null : (JSON.parse(text) as unknown), headers: r.headers }
  }
  return {
    req,
    ok: async (method: string, path: string, body?: unknown, status = 200) => {
      const r = await req(method, path, body)
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`)
      return r.body
    },
    /** A failing request: its status and error message. */
    fails: async (method: string, path: string, status: number, message: RegExp, body?: unknown) => {
      const r = await req(method, path, body)
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`)
      assert.match((r.body as { error: { message: string } }).error.message, message, `${method} ${path}`)
    },
  }
}

test('http: the token is required everywhere but /healthz; a wrong one is refused', async () => {
  const l = open()
  const h = await createHttpApp({ local: l, token })
  const c = client(h)
  assert.deepEqual((await c.req('GET', '/healthz', undefined, {})).body, { ok: true })
  for (const headers of [{}, { Authorization: `Bearer ${'b'.repeat(64)}` }, { Authorization: token }, { Authorization: `Bearer ${token}x` }]) {
    const r = await c.req('GET', '/v1/tail', undefined, headers)
    assert.equal(r.status, 401, JSON.stringify(headers))
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/)
    assert.equal((await c.req('GET', '/metrics', undefined, headers)).status, 401)
    assert.equal((await c.req('POST', '/v1/publish', { text: 'x' }, headers)).status, 401)
  }
  assert.equal((await c.ok('GET', '/v1/tail')) instanceof Array, true)
  h.close()
  local.closeLocal(l)
})

test('http: every route answers with the CLI --json shapes', async () => {
  const l = open()
  const h = await createHttpApp({ local: l, token })
  const c = client(h)
  const p = (await c.ok('POST', '/v1/publish', { text: 'convex cold starts after 2h idle', channel: 'warnings', tags: ['convex'], ttl: '7d' }, 201)) as Doc
  assert.equal(p['written'], true)
  assert.equal(p['channel'], 'warnings')
  const again = (await c.ok('POST', '/v1/publish', { text: 'once', idempotency_key: 'k1' }, 201)) as Doc
  assert.equal(((await c.ok('POST', '/v1/publish', { text: 'once', idempotency_key: 'k1' }, 201)) as Doc)['fact_id'], again['fact_id'])
  const tail = (await c.ok('GET', '/v1/tail?n=1')) as Doc[]
  assert.deepEqual(tail.map((e) => e['fact_id']), [again['fact_id']])
  assert.deepEqual(((await c.ok('GET', '/v1/tail?channel=warnings&include_stale=true')) as Doc[]).map((e) => e['fact_id']), [p['fact_id']])
  const hits = (await c.ok('GET', '/v1/search?q=convex&limit=5')) as Doc[]
  assert.equal(hits.length, 1)
  assert.equal(typeof hits[0]?.['score'], 'number')
  // facts: the same documents the service (and so the CLI) gives
  const set = (await c.ok('PUT', '/v1/facts/deploy.region', { value: 'eu-west-1' })) as Doc
  assert.equal(set['value'], 'eu-west-1')
  await c.ok('PUT', `/v1/facts/${encodeURIComponent('deploy.region')}`, { value: { zone: 'b' }, verified: true })
  // an id with a slash, percent-encoded in the path
  assert.equal(((await c.ok('PUT', `/v1/facts/${encodeURIComponent('a/b c')}`, { value: 1 })) as Doc)['fact_id'], 'a/b c')
  assert.equal(((await c.ok('GET', `/v1/facts/${encodeURIComponent('a/b c')}`)) as Doc)['value'], 1)
  const got = (await c.ok('GET', '/v1/facts/deploy.region')) as Doc
  assert.deepEqual(got, service.factGet(l, { id: 'deploy.region' }))
  assert.deepEqual(got['value'], { zone: 'b' })
  assert.equal(((await c.ok('GET', '/v1/facts/deploy.region/history')) as Doc[]).length, 2)
  const del = (await c.ok('DELETE', '/v1/facts/deploy.region?reason=moved')) as Doc
  assert.equal(del['reason'], 'moved')
  await c.fails('GET', '/v1/facts/deploy.region', 404, /no live version/)
  assert.deepEqual(await c.ok('GET', '/v1/conflicts'), [])
  await c.ok('PUT', '/v1/facts/n', { value: 1 })
  const v = (await c.ok('POST', '/v1/verify', { id: 'n', value: 2 })) as { fact: Doc; resolved_ticket: null }
  assert.equal(v.fact['verified'], true)
  // status, fleet
  const st = (await c.ok('PUT', '/v1/status', { text: 'building', health: 'degraded' })) as Doc
  assert.equal(st['health'], 'degraded')
  const fleet = (await c.ok('GET', '/v1/fleet')) as Doc[]
  assert.equal(fleet[0]?.['status'], 'building')
  // tasks
  const a = (await c.ok('POST', '/v1/tasks', { title: 'build' }, 201)) as Doc
  const b = (await c.ok('POST', '/v1/tasks', { title: 'ship', depends: [a['task_id']] }, 201)) as Doc
  assert.deepEqual(((await c.ok('GET', '/v1/tasks?ready=true')) as Doc[]).map((t) => t['task_id']), [a['task_id']])
  assert.equal(((await c.ok('POST', `/v1/tasks/${String(a['task_id'])}/claim`)) as Doc)['outcome'], 'won')
  assert.equal(((await c.ok('POST', `/v1/tasks/${String(a['task_id'])}/release`)) as Doc)['state'], 'open')
  assert.equal(((await c.ok('POST', `/v1/tasks/${String(a['task_id'])}/done`, { result: { ok: true } })) as Doc)['state'], 'done')
  await c.fails('POST', `/v1/tasks/${String(a['task_id'])}/done`, 409, /already done/)
  assert.deepEqual(((await c.ok('GET', '/v1/tasks?ready=true')) as Doc[]).map((t) => t['task_id']), [b['task_id']])
  // counters, log, metrics
  assert.deepEqual(await c.ok('POST', '/v1/counters/runs', { n: 5 }), { name: 'runs', value: 5, added: 5 })
  assert.deepEqual(await c.ok('POST', '/v1/counters/runs'), { name: 'runs', value: 6, added: 1 })
  assert.equal(((await c.ok('GET', '/v1/counters/runs')) as Doc)['value'], 6)
  const ops = (await c.ok('GET', '/v1/log?n=2')) as Doc[]
  assert.deepEqual(ops.map((o) => o['kind']), ['counter.add', 'counter.add'])
  assert.equal(((await c.ok('GET', '/v1/metrics')) as Doc)['ops'], service.metrics(l).ops)
  // export: the CLI's lines, streamed as NDJSON
  const ex = await h.app.request('/v1/export', { headers: auth })
  assert.equal(ex.status, 200)
  assert.match(ex.headers.get('content-type') ?? '', /application\/x-ndjson/)
  const lines = (await ex.text()).split('\n')
  assert.equal(lines.pop(), '', 'every line ends with a newline')
  assert.deepEqual(lines, [...service.exportLines(l, {})])
  const n = lines.map((x) => JSON.parse(x) as Doc).find((x) => x['fact_id'] === 'n')
  assert.deepEqual(n, exportLine(service.factGet(l, { id: 'n', include_stale: true })))
  const warnings = (await (await h.app.request('/v1/export?channel=warnings', { headers: auth })).text()).trim().split('\n')
  assert.deepEqual(warnings.map((x) => (JSON.parse(x) as Doc)['fact_id']), [p['fact_id']])
  await c.fails('GET', '/v1/export?channel=nope', 400, /unknown channel "nope"/)
  h.close()
  local.closeLocal(l)
})

test('http: bad input is a 400 with the message, missing things 404, big bodies 413, no daemon 503', async () => {
  const l = open()
  const h = await createHttpApp({ local: l, token, bodyBytesMax: 4096 })
  const c = client(h)
  await c.fails('POST', '/v1/publish', 400, /unknown channel "gossip": use one of discoveries, patterns, warnings/, { text: 'x', channel: 'gossip' })
  await c.fails('POST', '/v1/publish', 400, /bad duration "soon"/, { text: 'x', ttl: 'soon' })
  await c.fails('POST', '/v1/publish', 400, /text/, { channel: 'warnings' })
  await c.fails('POST', '/v1/publish', 400, /not JSON/, '{"text": ')
  await c.fails('POST', '/v1/publish', 400, /JSON object/, '["x"]')
  await c.fails('GET', '/v1/tail?n=0', 400, /bad count "0"/)
  await c.fails('GET', '/v1/tail?colour=red', 400, /colour/)
  await c.fails('GET', '/v1/tail?include_stale=maybe', 400, /include_stale/)
  await c.fails('GET', '/v1/search?q=%21%21', 400, /at least one word/)
  await c.fails('GET', '/v1/search', 400, /q/)
  await c.fails('PUT', '/v1/facts/x', 400, /value/, {})
  await c.fails('POST', '/v1/counters/c', 400, /bad counter step "0"/, { n: 0 })
  await c.fails('GET', '/v1/facts/nope', 404, /unknown fact "nope"/)
  await c.fails('POST', '/v1/tasks/nope/claim', 404, /unknown task "nope"/)
  await c.fails('GET', '/v1/nothing-here', 404, /no route GET \/v1\/nothing-here/)
  await c.fails('GET', '/v1/events?after=x', 400, /bad event cursor/)
  await c.fails('GET', '/peers', 503, /no daemon/)
  await c.fails('POST', '/v1/publish', 413, /over 4096 bytes/, { text: 'x'.repeat(5000) })
  // what was refused wrote nothing
  assert.deepEqual(await c.ok('GET', '/v1/tail'), [])
  h.close()
  local.closeLocal(l)
})

/** Reads server-sent events from a response until `count` events (not comments) have come, or the deadline. */
function sseReader(res: Response) {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const dec = new TextDecoder()
  let buf = ''
  return {
    async next(count: number, deadlineMs = 5000): Promise<{ event: string; id: string | undefined; data: Doc }[]> {
      const out: { event: string; id: string | undefined; data: Doc }[] = []
      const deadline = Date.now() + deadlineMs
      while (out.length < count) {
        let cut = buf.indexOf('\n\n')
        while (cut >= 0 && out.length < count) {
          const block = buf.slice(0, cut)
          buf = buf.slice(cut + 2)
          const fields = new Map<string, string>()
          for (const line of block.split('\n')) {
            if (line.startsWith(':') || line === '') continue
            const i = line.indexOf(':')
            fields.set(line.slice(0, i), line.slice(i + 1).replace(/^ /, ''))
          }
          if (fields.has('data')) out.push({ event: fields.get('event') ?? 'message', id: fields.get('id'), data: JSON.parse(fields.get('data') as string) as Doc })
          cut = buf.indexOf('\n\n')
        }
        if (out.length >= count) break
        const left = deadline - Date.now()
        assert.ok(left > 0, `only ${out.length} of ${count} events before the deadline`)
        let timer: NodeJS.Timeout | undefined
        const r = await Promise.race([reader.read(), new Promise<'late'>((res) => (timer = setTimeout(() => res('late'), left)))])
        clearTimeout(timer)
        if (r === 'late') continue
        if (r.done) assert.fail(`the stream ended after ${out.length} of ${count} events`)
        buf += dec.decode(r.value, { stream: true })
      }
      return out
    },
    close: () => reader.cancel(),
  }
}

test('http: the event stream sends each op once, with what it changed, and resumes from Last-Event-ID with nothing lost or repeated', async () => {
  const dir = join(root, `h${homes++}`)
  const l = open(dir)
  const h = await createHttpApp({ local: l, token, pollMs: 10 })
  const c = client(h)
  await c.ok('POST', '/v1/publish', { text: 'before the stream' }, 201) // the stream starts at the present
  const res1 = await h.app.request('/v1/events', { headers: auth })
  assert.equal(res1.status, 200)
  assert.match(res1.headers.get('content-type') ?? '', /text\/event-stream/)
  const s1 = sseReader(res1)
  const [hello] = await s1.next(1)
  assert.equal(hello?.event, 'hello')
  const texts = ['one', 'two', 'three']
  for (const t of texts) await c.ok('POST', '/v1/publish', { text: t, channel: 'patterns' }, 201)
  const first = await s1.next(3)
  assert.deepEqual(first.map((e) => ((e.data['op'] as Doc)['body'] as Doc)['value']), texts)
  assert.deepEqual(first.map((e) => e.event), ['op', 'op', 'op'])
  const ids = first.map((e) => Number(e.id))
  assert.deepEqual(ids, [ids[0] as number, (ids[0] as number) + 1, (ids[0] as number) + 2])
  const change = first[0]?.data['change'] as { type: string; fact: Doc }
  assert.equal(change.type, 'fact')
  assert.equal(change.fact['value'], 'one')
  assert.equal(change.fact['channel'], 'patterns')
  await s1.close()

  // while disconnected: a write through the API, and one by another process (its own connection to the store)
  await c.ok('PUT', '/v1/facts/k', { value: 1 })
  const other = open(dir)
  service.counterAdd(other, { name: 'hits', n: 2 })
  // resume after the second event: the third again (never acknowledged), then the two new ones, once each
  const res2 = await h.app.request('/v1/events', { headers: { ...auth, 'Last-Event-ID': String(ids[1]) } })
  const s2 = sseReader(res2)
  const resumed = (await s2.next(4)).filter((e) => e.event === 'op')
  assert.deepEqual(resumed.map((e) => Number(e.id)), [(ids[2] as number), (ids[2] as number) + 1, (ids[2] as number) + 2])
  assert.deepEqual(resumed.map((e) => (e.data['change'] as { type: string }).type), ['fact', 'fact', 'counter'])
  assert.deepEqual(resumed[2]?.data['change'], { type: 'counter', name: 'hits', value: 2 })
  // live again: another process's write arrives by polling, an API write at once
  service.taskAdd(other, { title: 'from the CLI' })
  const [task] = await s2.next(1)
  assert.equal(((task?.data['change'] as { task: Doc }).task)['title'], 'from the CLI')
  await s2.close()
  // ?after= does the same as the header
  const s3 = sseReader(await h.app.request(`/v1/events?after=${String(ids[2])}`, { headers: auth }))
  const viaQuery = (await s3.next(4)).filter((e) => e.event === 'op')
  assert.deepEqual(viaQuery.map((e) => Number(e.id)), [1, 2, 3].map((i) => (ids[2] as number) + i))
  h.close() // ends the stream
  await s3.close()
  // a limit on open streams
  const h2 = await createHttpApp({ local: l, token, streamsMax: 1 })
  const only = sseReader(await h2.app.request('/v1/events', { headers: auth }))
  await only.next(1)
  await client(h2).fails('GET', '/v1/events', 503, /1 event streams are open already/)
  h2.close()
  await only.close()
  local.closeLocal(other)
  local.closeLocal(l)
})

test('http: /metrics is Prometheus text with the store figures, and the daemon figures when given a node', async () => {
  const l = open()
  const node: NodeView = {
    peers: () => [
      { id: 'p1', name: 'berlin', state: 'alive', lag_ops: 3 },
      { id: 'p2', state: 'suspect', lag_ops: null },
      { id: 'p3', state: 'alive' },
    ],
    stats: () => ({ publish_visible: [{ peer: 'berlin', p50_ms: 40, p95_ms: 120, samples: 10 }], syncs: 7, sync_ops: 70, sync_bytes: 7000 }),
  }
  const h = await createHttpApp({ local: l, token, node })
  const c = client(h)
  await c.ok('POST', '/v1/publish', { text: 'hello' }, 201)
  const r = await h.app.request('/metrics', { headers: auth })
  assert.equal(r.status, 200)
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/)
  const text = await r.text()
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line)
    assert.ok(m !== null, `not a Prometheus sample line: ${JSON.stringify(line)}`)
    samples.set(m[1] as string, Number(m[2]))
  }
  assert.equal(samples.get('grapevine_store_ops{kind="fact.assert"}'), 1)
  assert.equal(samples.get('grapevine_store_ops{kind="agent.hello"}'), 1)
  assert.equal(samples.get('grapevine_entries{channel="discoveries"}'), 1)
  assert.equal(samples.get('grapevine_verify_tickets{state="open"}'), 0)
  assert.ok((samples.get('grapevine_store_bytes{file="db"}') ?? 0) > 0)
  assert.equal(samples.get('grapevine_publish_visible_seconds{peer="berlin",quantile="0.95"}'), 0.12)
  assert.equal(samples.get('grapevine_peer_lag_ops{peer="berlin"}'), 3)
  assert.equal(samples.get('grapevine_members{state="alive"}'), 2)
  assert.equal(samples.get('grapevine_members{state="suspect"}'), 1)
  assert.equal(samples.get('grapevine_syncs_total'), 7)
  assert.equal(samples.get('grapevine_sync_bytes_total'), 7000)
  // scraped twice: counters are set, not added up
  const again = await (await h.app.request('/metrics', { headers: auth })).text()
  assert.match(again, /^grapevine_syncs_total 7$/m)
  const peers = (await c.ok('GET', '/peers')) as Doc[]
  assert.deepEqual(peers.map((p) => p['state']), ['alive', 'suspect', 'alive'])
  h.close()
  local.closeLocal(l)
})

test('http: /mcp answers MCP over Streamable HTTP with grapevine mcp\'s tools, behind the token', async () => {
  const l = open()
  const h = await createHttpApp({ local: l, token })
  const rpc = async (body: unknown, headers: Record<string, string> = auth) => {
    const r = await h.app.request('/mcp', {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify(body),
    })
    return { status: r.status, body: (await r.text()) }
  }
  assert.equal((await rpc({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, {})).status, 401)
  const init = await rpc({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } })
  assert.equal(init.status, 200, init.body)
  const list = await rpc({ jsonrpc: '2.0', id: 2, method: 'tools/list' })
  assert.equal(list.status, 200, list.body)
  const names = (JSON.parse(list.body) as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name)
  assert.ok(names.includes('publish') && names.includes('search'), names.join(' '))
  const call = await rpc({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'publish', arguments: { text: 'via mcp over http' } } })
  assert.equal(call.status, 200, call.body)
  assert.equal((JSON.parse(call.body) as { result: { isError?: boolean } }).result.isError ?? false, false, call.body)
  assert.deepEqual(service.tail(l, {}).map((e) => (e as Doc)['value']), ['via mcp over http'])
  h.close()
  local.closeLocal(l)
})

test('http: listen addresses', () => {
  assert.deepEqual(parseListen('127.0.0.1:7401'), { host: '127.0.0.1', port: 7401 })
  assert.deepEqual(parseListen(':0'), { host: '127.0.0.1', port: 0 })
  assert.deepEqual(parseListen('8080'), { host: '127.0.0.1', port: 8080 })
  assert.deepEqual(parseListen('[::1]:9'), { host: '::1', port: 9 })
  for (const bad of ['x', '1.2.3.4:99999', 'host:port', '']) assert.throws(() => parseListen(bad), /bad listen address/, bad)
})

test('http: on a real socket, with the home token made 0600 on first start', async () => {
  const l = open()
  const api = await startHttpApi({ local: l, listen: '127.0.0.1:0' })
  try {
    assert.match(api.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(statSync(join(l.home, tokenFile)).mode & 0o777, 0o600)
    assert.match(api.token, /^[0-9a-f]{64}$/)
    assert.equal((await fetch(`${api.url}/healthz`)).status, 200)
    assert.equal((await fetch(`${api.url}/v1/tail`)).status, 401)
    const h = { Authorization: `Bearer ${api.token}`, 'Content-Type': 'application/json' }
    const p = await fetch(`${api.url}/v1/publish`, { method: 'POST', headers: h, body: JSON.stringify({ text: 'over the wire' }) })
    assert.equal(p.status, 201)
    const tail = (await (await fetch(`${api.url}/v1/tail`, { headers: h })).json()) as Doc[]
    assert.deepEqual(tail.map((e) => e['value']), ['over the wire'])
    // an open event stream does not keep close() waiting
    const ev = await fetch(`${api.url}/v1/events?after=0`, { headers: h })
    const s = sseReader(ev)
    const got = await s.next(2)
    assert.equal(got[1]?.event, 'op')
  } finally {
    await api.close()
  }
  // a second start reuses the token
  const again = await startHttpApi({ local: l, listen: '127.0.0.1:0' })
  const first = (await import('node:fs')).readFileSync(join(l.home, tokenFile), 'utf8').trim()
  assert.equal(again.token, first)
  await again.close()
  local.closeLocal(l)
})
