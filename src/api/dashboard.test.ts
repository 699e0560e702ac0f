import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { local } from '../node/index.ts'
import { opLog } from '../store/index.ts'
import { contentSecurityPolicy, webDir } from './dashboard.ts'
import { createHttpApp } from './http.ts'
import * as service from './service.ts'
import { bin, spawnUp } from './daemon-process.test-util.ts'

// The dashboard end to end: `grapevine up` as a real process (from the CLI's bundle when it builds, so
// that web/ is found from dist/ too), plain HTTP against its asset routes, then Debian's chromium through
// playwright-core on the page itself.

const chromiumPath = '/usr/bin/chromium'
const root = mkdtempSync(join(tmpdir(), 'gv-dash-'))
const children: ChildProcess[] = []
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  rmSync(root, { recursive: true, force: true })
})

/** The bundle, built from the sources as they are now (as cli-process.test.ts does); source if it cannot be built. */
function buildBundle(): 'bundle' | 'source' {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../../bin/build-cli.js', import.meta.url))], { encoding: 'utf8', timeout: 60_000 })
  return r.status === 0 ? 'bundle' : 'source'
}

type Up = { child: ChildProcess; api: string; dashboard: string; exited: Promise<number | null> }

/** `grapevine up --json` on free ports; resolves once it printed its document. */
async function up(dir: string, mode: 'bundle' | 'source', api = '127.0.0.1:0'): Promise<Up> {
  const p = spawnUp(['up', '--json', '--listen', '127.0.0.1:0', '--api', api], { ...process.env, GRAPEVINE_HOME: dir, GRAPEVINE_CLI: mode, NO_COLOR: '1' })
  children.push(p.child)
  const doc = await p.ready
  return { child: p.child, api: doc.api, dashboard: doc.dashboard, exited: p.exited }
}

/** A GET with the path sent as written (fetch would normalize /../ away before sending). */
function rawGet(base: string, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(base)
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

type Doc = Record<string, unknown>

describe('dashboard', { timeout: 60_000 }, () => {
  const home = join(root, 'node')
  let node: Up
  let token: string
  let mode: 'bundle' | 'source'
  let convexId: string
  const post = async (path: string, body: unknown, method = 'POST'): Promise<Doc> => {
    const r = await fetch(node.api + path, { method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${await r.clone().text()}`)
    return (await r.json()) as Doc
  }

  before(async () => {
    mode = buildBundle()
    assert.equal(spawnSync(process.execPath, [bin, 'init', '--name', 'dash-node'], { env: { ...process.env, GRAPEVINE_HOME: home, GRAPEVINE_CLI: 'source' } }).status, 0)
    node = await up(home, mode)
    const m = /^(http:\/\/127\.0\.0\.1:\d+)\/#token=([0-9a-f]{64})$/.exec(node.dashboard)
    assert.ok(m !== null, `the dashboard URL carries the token in its fragment: ${node.dashboard}`)
    assert.equal(m[1], node.api)
    token = m[2] as string

    // knowledge to show: an entry, a hostile one, a conflict (two authors wrote one key) and two tasks
    convexId = String((await post('/v1/publish', { text: 'convex cold starts after 2h idle', channel: 'warnings', tags: ['convex'] }))['fact_id'])
    await post('/v1/publish', { text: '<img src=x onerror=alert(1)>' })
    await post('/v1/facts/deploy.region', { value: 'eu-west-1' }, 'PUT')
    const other = local.openLocal(join(root, 'other'))
    assert.ok(other.ok)
    service.factSet(other.value, { id: 'deploy.region', value: 'us-east-2' })
    const ops = [...service.recentOps(other.value, { n: 10 })].reverse()
    local.closeLocal(other.value)
    const mine = local.openLocal(home) // a second writer of the daemon's store, as gossip would deliver them
    assert.ok(mine.ok)
    assert.ok(opLog.ingest(mine.value.store, ops, mine.value.clock.nowMs()).ok)
    local.closeLocal(mine.value)
    const first = await post('/v1/tasks', { title: 'build frontend' })
    await post('/v1/tasks', { title: 'push to staging', depends: [first['task_id']] })
  })

  after(async () => {
    if (node === undefined) return
    node.child.kill('SIGTERM')
    assert.equal(await node.exited, 0)
  })

  it('serves the page and its assets without a token, with a strict CSP; nothing else outside the API; the API still wants the token', async () => {
    const page = await fetch(node.api + '/')
    assert.equal(page.status, 200, `GET / from the ${mode}`)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    const csp = page.headers.get('content-security-policy') ?? ''
    assert.equal(csp, contentSecurityPolicy)
    assert.match(csp, /default-src 'self'/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
    assert.equal(page.headers.get('cache-control'), 'no-cache')
    const html = await page.text()
    assert.match(html, /<script type="module" src="\/app.js"><\/script>/)
    assert.ok(!html.includes(token), 'the page never holds the token')
    assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]/, 'no inline script')
    const js = await fetch(node.api + '/app.js')
    assert.equal(js.status, 200)
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/)
    assert.match(await js.text(), /Last-Event-ID/)
    assert.match((await fetch(node.api + '/style.css')).headers.get('content-type') ?? '', /^text\/css/)

    for (const path of ['/../package.json', '/web/../README.md', '/web/app.js', '/package.json', '/%2e%2e/package.json', '/src/api/http.ts', '/web/index.html', '/.git/config']) {
      const r = await rawGet(node.api, path)
      assert.equal(r.status, 404, `${path}: ${r.status} ${r.body.slice(0, 80)}`)
      assert.ok(!r.body.includes('"name": "grapevine"') && !r.body.includes('# Grapevine'), path)
    }
    for (const path of ['/v1/tail', '/v1/fleet', '/v1/events', '/metrics', '/peers']) {
      assert.equal((await rawGet(node.api, path)).status, 401, path)
    }
  })

  it('serves web/ from the sources too (in process)', async () => {
    assert.ok(webDir() !== undefined, 'web/ beside src/api')
    const l = local.openLocal(join(root, 'in-process'))
    assert.ok(l.ok)
    const h = await createHttpApp({ local: l.value, token: 'a'.repeat(64) })
    const r = await h.app.request('/app.js')
    assert.equal(r.status, 200)
    assert.match(await r.text(), /sessionStorage/)
    assert.equal((await h.app.request('/v1/tail')).status, 401)
    h.close()
    local.closeLocal(l.value)
  })

  const haveChromium = existsSync(chromiumPath)
  const skip = haveChromium || process.env['CI'] !== undefined ? false : `no ${chromiumPath}: apt-get install chromium to run the dashboard in a real browser`
  it('in chromium: the feed, conflicts, tasks and metrics; new knowledge arrives live; agents\' text stays text; the token leaves the URL; no token, a form', { skip }, async () => {
    assert.ok(haveChromium, `${chromiumPath} is missing: install it (apt-get install chromium); CI must have it for this test`)
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'], headless: true })
    try {
      const ctx = await browser.newContext()
      const page = await ctx.newPage()
      const dialogs: string[] = []
      const problems: string[] = []
      page.on('dialog', (d) => {
        dialogs.push(d.message())
        void d.dismiss()
      })
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text())
      })
      page.on('pageerror', (e) => problems.push(e.message))
      await page.goto(node.dashboard)
      const feed = page.locator('#feed')
      await feed.locator('li', { hasText: 'convex cold starts after 2h idle' }).waitFor({ timeout: 10_000 })
      assert.equal(new URL(page.url()).hash, '', 'the token left the address bar')
      assert.ok(!page.url().includes(token))
      assert.equal(await page.evaluate(() => sessionStorage.getItem('grapevine-token')), token)

      // the conflict and both its versions; the tasks with their dependency
      const conflict = page.locator('#conflicts li', { hasText: 'deploy.region' }).first()
      await conflict.waitFor({ timeout: 5000 })
      assert.match(await conflict.innerText(), /eu-west-1[\s\S]*us-east-2|us-east-2[\s\S]*eu-west-1/)
      await page.locator('#tasks-ready li', { hasText: 'build frontend' }).waitFor({ timeout: 5000 })
      const waiting = page.locator('#tasks-waiting li', { hasText: 'push to staging' })
      await waiting.waitFor({ timeout: 5000 })
      assert.match(await waiting.innerText(), /depends on: build frontend/)
      assert.match(await page.locator('#me').innerText(), /dash-node/)
      assert.match(await page.locator('#metrics').innerText(), /conflict rate[\s\S]*verify tickets\s*1 open/)
      assert.match(await page.locator('#ops-by-kind').innerText(), /fact\.assert/)
      await page.locator('#live.on').waitFor({ timeout: 5000 })

      // the hostile text is on the page as text, and made no element
      await feed.locator('li', { hasText: '<img src=x onerror=alert(1)>' }).waitFor({ timeout: 5000 })
      assert.equal(await page.locator('img').count(), 0)

      // published after the page loaded: over the event stream, without a reload
      const t0 = performance.now()
      await post('/v1/publish', { text: 'arrived live <b id=pwn>bold</b><script>window.pwned=1</script>', tags: ['live'] })
      await feed.locator('li', { hasText: 'arrived live <b id=pwn>' }).waitFor({ timeout: 5000 })
      const liveMs = performance.now() - t0
      assert.equal(await page.locator('#pwn').count(), 0)
      assert.equal(await page.evaluate(() => (globalThis as { pwned?: unknown }).pwned), undefined)
      // a task claimed meanwhile moves column (the event refreshes the panel)
      const tasks = (await (await fetch(node.api + '/v1/tasks', { headers: { Authorization: `Bearer ${token}` } })).json()) as Doc[]
      const build = tasks.find((t) => t['title'] === 'build frontend')
      await post(`/v1/tasks/${String(build?.['task_id'])}/claim`, {})
      await page.locator('#tasks-claimed li', { hasText: 'build frontend' }).waitFor({ timeout: 5000 })

      // the node restarts; meanwhile a keyed fact is written (not a channel entry: tail never lists it).
      // The page reconnects with Last-Event-ID, so the stream replays what it missed.
      const streams: (string | undefined)[] = []
      page.on('request', (r) => {
        if (new URL(r.url()).pathname === '/v1/events') streams.push(r.headers()['last-event-id'])
      })
      node.child.kill('SIGTERM')
      assert.equal(await node.exited, 0)
      await page.locator('#live.off').waitFor({ timeout: 5000 })
      // from the sources: the bundle built at the start may be stale by now (others edit this tree)
      const set = spawnSync(process.execPath, [bin, 'fact', 'set', 'while.down', 'written while the node was down'], { env: { ...process.env, GRAPEVINE_HOME: home, GRAPEVINE_CLI: 'source' } })
      assert.equal(set.status, 0, set.stderr?.toString())
      node = await up(home, 'source', new URL(node.api).host)
      await feed.locator('li', { hasText: 'written while the node was down' }).waitFor({ timeout: 8000 })
      assert.ok(streams.length > 0 && streams.every((id) => id !== undefined && /^\d+$/.test(id)), `reconnects sent Last-Event-ID: ${JSON.stringify(streams)}`)
      problems.length = 0 // the refused connections while it was down

      // search
      await page.fill('#search-input', 'convex')
      await page.click('#search-form button[type=submit]')
      await page.locator('#results li', { hasText: 'convex cold starts' }).waitFor({ timeout: 5000 })

      // a retraction marks the entry in the feed
      const del = await fetch(`${node.api}/v1/facts/${convexId}?reason=wrong`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } })
      assert.equal(del.status, 200)
      await feed.locator('li.retracted', { hasText: 'convex cold starts after 2h idle' }).waitFor({ state: 'attached', timeout: 5000 }) // the search results show instead

      assert.deepEqual(dialogs, [], 'no script of an agent ran')
      assert.deepEqual(problems.filter((p) => /Content Security Policy|Refused/i.test(p)), [], 'nothing the CSP refused')
      assert.deepEqual(problems, [])

      // without a token: the form, saying where the token is; a wrong one: refused, asked again
      const bare = await (await browser.newContext()).newPage()
      await bare.goto(node.api + '/')
      await bare.locator('#auth').waitFor({ state: 'visible', timeout: 5000 })
      assert.equal(await bare.locator('#board').isVisible(), false)
      assert.match(await bare.locator('#auth').innerText(), /api-token/)
      await bare.goto(`${node.api}/#token=${'f'.repeat(64)}`)
      await bare.locator('#auth-message', { hasText: 'refused' }).waitFor({ timeout: 5000 })
      assert.match(await bare.locator('#auth-message').innerText(), /api-token/)
      // the form takes the right one
      await bare.fill('#token-input', token)
      await bare.click('#auth-form button[type=submit]')
      await bare.locator('#feed li', { hasText: 'arrived live' }).waitFor({ timeout: 5000 })
      assert.equal(await bare.locator('#auth').isVisible(), false)
      console.log(`# dashboard (${mode}): live fact on the page ${liveMs.toFixed(0)} ms after its publish returned`)
    } finally {
      await browser.close()
    }
  })
})
