// The Grapevine dashboard: the fleet, a live feed of new knowledge, conflicts, tasks and the metrics of
// one node, from its HTTP API (src/api/http.ts). Plain ES module, no build step, no dependencies.
//
// The token: `grapevine up` prints this page's address as http://HOST:PORT/#token=<token>. The fragment is
// never sent to the server; this script keeps the token in sessionStorage (this tab only) and removes it
// from the address bar. Without one (or when the API refuses it) the page asks for it.
//
// Everything the API returns came from agents, possibly hostile ones: it is put on the page as text
// (textContent / text nodes), never as HTML.
/* global window, document, location, history, sessionStorage, fetch, TextDecoderStream, AbortController, URLSearchParams, setInterval */

const tokenKey = 'grapevine-token'
const feedMax = 200
const tailN = 50
const refreshEveryMs = 5000
const reconnectMs = 1000

/** @type {string | null} */
let token = null
/** @type {AbortController | null} */
let running = null

class Unauthorized extends Error {}

// ---- small helpers

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id))

/**
 * An element with a class and children; strings become text nodes (never parsed as HTML).
 * @param {string} tag
 * @param {string} [cls]
 * @param {...(Node | string | number | null | undefined)} children
 */
function el(tag, cls, ...children) {
  const e = document.createElement(tag)
  if (cls) e.className = cls
  for (const c of children) {
    if (c === null || c === undefined) continue
    e.append(typeof c === 'object' ? c : document.createTextNode(String(c)))
  }
  return e
}

/** @param {HTMLElement} parent @param {Node[]} nodes */
const fill = (parent, nodes) => parent.replaceChildren(...nodes)

const short = (/** @type {unknown} */ id) => (typeof id === 'string' ? id.slice(0, 12) : '')

/** A version's text: its search text, else its value (JSON unless a string). */
function valueText(/** @type {any} */ v) {
  if (typeof v?.text === 'string' && v.text !== '') return v.text
  return typeof v?.value === 'string' ? v.value : JSON.stringify(v?.value)
}

function when(/** @type {unknown} */ iso) {
  if (typeof iso !== 'string') return ''
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString()
}

function bytes(/** @type {unknown} */ n) {
  if (typeof n !== 'number') return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`
}

function problem(/** @type {string | null} */ text) {
  const p = $('problem')
  p.textContent = text ?? ''
  p.hidden = text === null
}

// ---- the API

/** GET a JSON document of the API; a 401 throws Unauthorized with the server's message. */
async function api(/** @type {string} */ path) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' })
  if (r.status === 401) throw new Unauthorized(await errorMessage(r))
  if (!r.ok) {
    throw Object.assign(new Error(`${path}: ${r.status} ${await errorMessage(r)}`), { status: r.status })
  }
  return path === '/metrics' ? r.text() : r.json()
}

async function errorMessage(/** @type {Response} */ r) {
  try {
    const body = await r.json()
    return typeof body?.error?.message === 'string' ? body.error.message : r.statusText
  } catch {
    return r.statusText
  }
}

// ---- the token

/**
 * Takes the token from the fragment (#token=...) into sessionStorage and removes it from the address bar;
 * whether there was one.
 */
function takeTokenFromUrl() {
  if (location.hash.length <= 1) return false
  const params = new URLSearchParams(location.hash.slice(1))
  const t = params.get('token')
  if (t === null) return false
  params.delete('token')
  const rest = params.toString()
  history.replaceState(null, '', location.pathname + location.search + (rest === '' ? '' : `#${rest}`))
  if (t.trim() === '') return false
  sessionStorage.setItem(tokenKey, t.trim())
  return true
}

/** Shows the token form (and hides the board), with why. */
function askForToken(/** @type {string | null} */ why) {
  running?.abort()
  running = null
  token = null
  sessionStorage.removeItem(tokenKey)
  $('board').hidden = true
  $('auth').hidden = false
  setLive(false)
  $('auth-message').textContent =
    why === null ? "This page needs the node's API token." : `The API refused the token: ${why}`
  $('token-input').focus()
}

// ---- the live feed

/** fact_id -> the feed's items of its versions (to mark them retracted). @type {Map<string, HTMLElement[]>} */
const feedByFact = new Map()
/** Versions (dots) already in the feed. */
const feedDots = new Set()

/** An entry (a fact's version, tail/search/event shape) as a list item. */
function entryItem(/** @type {any} */ f) {
  const badges = []
  if (f.conflict === true) badges.push(el('span', 'badge conflict', 'conflict'))
  if (f.verified === true) badges.push(el('span', 'badge verified', 'verified'))
  if (f.stale === true) badges.push(el('span', 'badge', 'stale'))
  const tags = (Array.isArray(f.tags) ? f.tags : []).map((/** @type {unknown} */ t) => el('span', 'tag', `#${t}`))
  const where = f.channel === null || f.channel === undefined ? `fact ${f.fact_id}` : f.channel
  const li = el(
    'li',
    '',
    el('div', 'text', valueText(f)),
    el(
      'div',
      'meta',
      `${f.author_name ?? short(f.author_agent_id)} · ${where} · ${when(f.created_at)} `,
      ...badges,
      ...tags,
    ),
  )
  li.dataset.fact = String(f.fact_id)
  li.dataset.dot = String(f.dot)
  return li
}

/** Puts a version at the top of the feed (once per version). */
function addToFeed(/** @type {any} */ f, /** @type {boolean} */ live) {
  if (typeof f?.dot !== 'string' || feedDots.has(f.dot)) return
  feedDots.add(f.dot)
  const li = entryItem(f)
  if (live) li.classList.add('new')
  const feed = $('feed')
  feed.prepend(li)
  const items = feedByFact.get(f.fact_id) ?? []
  items.push(li)
  feedByFact.set(f.fact_id, items)
  while (feed.children.length > feedMax) feed.lastElementChild?.remove()
}

async function loadFeed() {
  const entries = await api(`/v1/tail?n=${tailN}`)
  // tail is newest first: add oldest first, so the newest ends on top
  for (const e of [...entries].reverse()) addToFeed(e, false)
}

/** One event of /v1/events: new knowledge goes into the feed; the panels it touches are refreshed. */
function onOp(/** @type {any} */ ev) {
  const change = ev?.change
  if (change?.type === 'fact') {
    const f = change.fact
    // the version this op wrote (the fact's winner may be another one), if it is still live
    const dot = `${ev.op?.author}:${ev.op?.seq}`
    const mine = (f?.versions ?? []).find((/** @type {any} */ v) => v.dot === dot)
    if (f !== null && ev.op?.kind !== 'fact.retract') addToFeed({ ...(mine ?? f), conflict: f.conflict }, true)
    if (ev.op?.kind === 'fact.retract') {
      const live = new Set((f?.versions ?? []).map((/** @type {any} */ v) => v.dot))
      for (const li of feedByFact.get(change.fact_id) ?? []) if (!live.has(li.dataset.dot)) li.classList.add('retracted')
    }
    soon('conflicts')
  } else if (change?.type === 'task') soon('tasks')
  else if (change?.type === 'agent') soon('fleet')
  soon('metrics')
}

/**
 * Reads /v1/events with fetch (EventSource cannot send the Authorization header) and resumes after the
 * last event received (Last-Event-ID) whenever the stream ends or fails.
 */
async function stream(/** @type {AbortSignal} */ signal) {
  /** @type {string | null} */
  let lastId = null
  while (!signal.aborted) {
    try {
      /** @type {Record<string, string>} */
      const headers = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' }
      if (lastId !== null) headers['Last-Event-ID'] = lastId
      const r = await fetch('/v1/events', { headers, signal, cache: 'no-store' })
      if (r.status === 401) throw new Unauthorized(await errorMessage(r))
      if (!r.ok || r.body === null) throw new Error(`/v1/events: ${r.status} ${await errorMessage(r)}`)
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader()
      let buf = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buf += value.replace(/\r\n?/g, '\n')
        let end
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end)
          buf = buf.slice(end + 2)
          const e = parseEvent(block)
          if (e.id !== null) lastId = e.id
          if (e.event === 'hello') {
            setLive(true)
            problem(null)
            await loadAll()
          } else if (e.event === 'op' && e.data !== '') onOp(JSON.parse(e.data))
        }
      }
    } catch (err) {
      if (signal.aborted) return
      if (err instanceof Unauthorized) return askForToken(err.message)
      problem(`live feed: ${err instanceof Error ? err.message : String(err)} (reconnecting)`)
    }
    setLive(false)
    await new Promise((resolve) => setTimeout(resolve, reconnectMs))
  }
}

/** One SSE event block: its event name, data lines joined, and id (null if none). */
function parseEvent(/** @type {string} */ block) {
  let event = 'message'
  /** @type {string[]} */
  const data = []
  /** @type {string | null} */
  let id = null
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue
    const i = line.indexOf(':')
    const field = i < 0 ? line : line.slice(0, i)
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '')
    if (field === 'event') event = value
    else if (field === 'data') data.push(value)
    else if (field === 'id') id = value
  }
  return { event, data: data.join('\n'), id }
}

function setLive(/** @type {boolean} */ on) {
  const live = $('live')
  live.textContent = on ? 'live' : 'offline'
  live.className = `live ${on ? 'on' : 'off'}`
}

// ---- the panels

/** Agent id -> name, from the last fleet read. @type {Map<string, string>} */
let names = new Map()

async function loadFleet() {
  const [agents, peers, prom] = await Promise.all([
    api('/v1/fleet'),
    api('/v1/peers').catch((e) => (e?.status === 503 ? null : Promise.reject(e))),
    api('/metrics').catch((e) => (e instanceof Unauthorized ? Promise.reject(e) : '')),
  ])
  names = new Map(agents.filter((/** @type {any} */ a) => a.name !== null).map((/** @type {any} */ a) => [a.author_agent_id, a.name]))
  const me = agents.find((/** @type {any} */ a) => a.me === true)
  $('me').textContent = me === undefined ? '' : `${me.name ?? 'this node'} · ${short(me.author_agent_id)}`
  fill(
    $('agents').querySelector('tbody'),
    agents.map((/** @type {any} */ a) =>
      el(
        'tr',
        a.me ? 'mine' : '',
        el('td', '', `${a.name ?? short(a.author_agent_id)}${a.me ? ' (this node)' : ''}`),
        el('td', '', a.status ?? ''),
        el('td', '', a.health ?? ''),
        el('td', '', a.working_on ?? ''),
        el('td', '', when(a.last_seen)),
      ),
    ),
  )
  const latency = publishVisible(prom)
  $('peers-note').textContent = peers === null ? 'no daemon runs with this API (grapevine up)' : `${peers.length}`
  fill(
    $('peers').querySelector('tbody'),
    (peers ?? []).map((/** @type {any} */ p) => {
      const lat = latency.get(p.id)
      return el(
        'tr',
        '',
        el('td', '', p.name ?? names.get(p.id) ?? short(p.id)),
        el('td', '', p.address ?? ''),
        el('td', `state-${p.state}`, p.state),
        el('td', '', p.linked === undefined ? '' : p.linked ? 'linked' : 'no link'),
        el('td', '', p.lag_ops ?? '?'),
        el('td', '', lat === undefined ? '–' : `${ms(lat['0.5'])} / ${ms(lat['0.95'])}`),
      )
    }),
  )
  lastLatency = latency
}

const ms = (/** @type {number | undefined} */ s) => (s === undefined ? '?' : `${(s * 1000).toFixed(s < 0.01 ? 2 : 0)} ms`)

/** @type {Map<string, Record<string, number>>} */
let lastLatency = new Map()

/** publish->visible per peer from the Prometheus text of /metrics: peer -> {quantile: seconds}. */
function publishVisible(/** @type {string} */ text) {
  /** @type {Map<string, Record<string, number>>} */
  const out = new Map()
  for (const line of String(text).split('\n')) {
    if (!line.startsWith('grapevine_publish_visible_seconds{')) continue
    const close = line.lastIndexOf('}')
    /** @type {Record<string, string>} */
    const labels = {}
    for (const m of line.slice(0, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]] = m[2]
    const v = Number(line.slice(close + 1).trim())
    if (labels.peer === undefined || labels.quantile === undefined || !Number.isFinite(v)) continue
    const row = out.get(labels.peer) ?? {}
    row[labels.quantile] = v
    out.set(labels.peer, row)
  }
  return out
}

async function loadConflicts() {
  const tickets = await api('/v1/conflicts')
  $('conflicts-count').textContent = tickets.length === 0 ? 'none open' : `${tickets.length} open`
  fill(
    $('conflicts'),
    tickets.map((/** @type {any} */ t) =>
      el(
        'li',
        '',
        el('div', '', el('strong', '', `fact ${t.fact_id}`), el('span', 'meta', ` · ticket ${t.ticket_id} · opened ${when(t.opened_at)}`)),
        el(
          'ul',
          '',
          ...(t.versions ?? []).map((/** @type {any} */ v) =>
            el(
              'li',
              v.dot === t.read_winner ? 'winner' : '',
              el('span', 'text', valueText(v)),
              el('span', 'meta', ` — ${v.author_name ?? short(v.author_agent_id)}, ${when(v.created_at)}${v.dot === t.read_winner ? ' (read now)' : ''}`),
            ),
          ),
        ),
      ),
    ),
  )
}

async function loadTasks() {
  const tasks = await api('/v1/tasks')
  const byId = new Map(tasks.map((/** @type {any} */ t) => [t.task_id, t]))
  /** @type {Record<string, HTMLElement[]>} */
  const cols = { ready: [], waiting: [], claimed: [], done: [] }
  for (const t of tasks) {
    const deps = (t.depends ?? []).map((/** @type {string} */ d) => {
      const dt = byId.get(d)
      return dt === undefined ? short(d) : `${dt.title} (${dt.state})`
    })
    const who =
      t.state === 'claimed'
        ? `claimed by ${t.claimed_by_name ?? short(t.claimed_by)}`
        : t.state === 'done'
          ? `done by ${names.get(t.done_by) ?? short(t.done_by)}${t.result === null || t.result === undefined ? '' : `: ${typeof t.result === 'string' ? t.result : JSON.stringify(t.result)}`}`
          : null
    const li = el(
      'li',
      '',
      el('div', 'text', t.title),
      el('div', 'meta', `${short(t.task_id)}${who === null ? '' : ` · ${who}`}`),
      deps.length === 0 ? null : el('div', 'meta', `depends on: ${deps.join(', ')}`),
    )
    li.dataset.task = String(t.task_id)
    const col = t.state === 'open' ? (t.ready === false ? 'waiting' : 'ready') : t.state === 'claimed' ? 'claimed' : 'done'
    cols[col]?.push(li)
  }
  for (const [name, items] of Object.entries(cols)) fill($(`tasks-${name}`), items)
}

async function loadMetrics() {
  const m = await api('/v1/metrics')
  const v = m.views ?? {}
  const rows = [
    ['ops', m.ops],
    ['facts (live versions)', `${v.facts} (${v.live_versions})`],
    ['conflict rate', m.conflict_rate === null ? '–' : `${(m.conflict_rate * 100).toFixed(1)}% (open tickets per fact)`],
    ['verify tickets', `${v.open_tickets} open, ${v.resolved_tickets} resolved`],
    ['time to verify (mean)', v.time_to_verify_ms_mean === null || v.time_to_verify_ms_mean === undefined ? '–' : `${(v.time_to_verify_ms_mean / 1000).toFixed(1)} s`],
    ['TTL purges (versions)', m.ttl_purged_versions],
    ['stale reads', m.stale_reads],
    ['duplicates ignored', m.duplicate_ops_ignored],
    ['invalid ops', m.invalid_ops],
    ['tasks, agents', `${v.tasks}, ${v.agents}`],
    ['store size', `${bytes((m.db_bytes ?? 0) + (m.wal_bytes ?? 0))} (db ${bytes(m.db_bytes)}, wal ${bytes(m.wal_bytes)})`],
    ['search index', bytes(m.fts_bytes)],
  ]
  for (const [peer, q] of lastLatency) rows.push([`publish→visible ${names.get(peer) ?? short(peer)}`, `p50 ${ms(q['0.5'])}, p95 ${ms(q['0.95'])}`])
  const dl = (/** @type {[string, unknown][]} */ pairs) => pairs.flatMap(([k, x]) => [el('dt', '', k), el('dd', '', x === undefined ? '–' : String(x))])
  fill($('metrics'), dl(/** @type {[string, unknown][]} */ (rows)))
  fill($('ops-by-kind'), dl(Object.entries(m.ops_by_kind ?? {}).sort((a, b) => b[1] - a[1])))
}

const loaders = { fleet: loadFleet, conflicts: loadConflicts, tasks: loadTasks, metrics: loadMetrics }
/**
 * How long a panel waits after an event before it reads again: a burst of events (100 ops/s) reads it once.
 * The metrics read the whole store's figures: at most every 2 s.
 */
const delayMs = { fleet: 1000, conflicts: 300, tasks: 250, metrics: 2000 }
/** Refreshes due, by panel: several events in a burst refresh a panel once. @type {Map<string, ReturnType<typeof setTimeout>>} */
const due = new Map()

function soon(/** @type {keyof typeof loaders} */ name) {
  if (due.has(name)) return
  due.set(
    name,
    setTimeout(() => {
      due.delete(name)
      void guard(loaders[name]())
    }, delayMs[name]),
  )
}

/** Runs a load; a 401 asks for the token again, other failures are said on the page. */
async function guard(/** @type {Promise<unknown>} */ p) {
  try {
    await p
  } catch (err) {
    if (err instanceof Unauthorized) askForToken(err.message)
    else problem(err instanceof Error ? err.message : String(err))
  }
}

async function loadAll() {
  // the fleet first: names and latencies for the others
  await guard(loadFleet())
  await Promise.all([guard(loadFeed()), guard(loadConflicts()), guard(loadTasks()), guard(loadMetrics())])
}

// ---- search

async function search(/** @type {string} */ q) {
  const results = $('results')
  const clear = $('search-clear')
  if (q.trim() === '') {
    results.hidden = true
    clear.hidden = true
    $('feed').hidden = false
    return
  }
  const hits = await api(`/v1/search?q=${encodeURIComponent(q)}&limit=30`)
  fill(results, hits.length === 0 ? [el('li', 'meta', `nothing matches ${JSON.stringify(q)}`)] : hits.map(entryItem))
  results.hidden = false
  clear.hidden = false
  $('feed').hidden = true
}

// ---- start

function start() {
  $('auth').hidden = true
  $('board').hidden = false
  running?.abort()
  running = new AbortController()
  void stream(running.signal)
}

function main() {
  takeTokenFromUrl()
  $('auth-form').addEventListener('submit', (ev) => {
    ev.preventDefault()
    const input = /** @type {HTMLInputElement} */ ($('token-input'))
    const t = input.value.trim()
    if (t === '') return
    sessionStorage.setItem(tokenKey, t)
    input.value = ''
    token = t
    start()
  })
  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault()
    void guard(search(/** @type {HTMLInputElement} */ ($('search-input')).value))
  })
  $('search-clear').addEventListener('click', () => {
    const input = /** @type {HTMLInputElement} */ ($('search-input'))
    input.value = ''
    void guard(search(''))
  })
  // membership states and lag change without ops: look again now and then, while the page is seen
  setInterval(() => {
    if (token !== null && !document.hidden) {
      soon('fleet')
      soon('metrics')
    }
  }, refreshEveryMs)
  // a #token= pasted into this tab's address bar later changes only the fragment: no reload
  window.addEventListener('hashchange', () => {
    if (!takeTokenFromUrl()) return
    token = sessionStorage.getItem(tokenKey)
    start()
  })
  token = sessionStorage.getItem(tokenKey)
  if (token === null) askForToken(null)
  else start()
}

try {
  main()
} catch (err) {
  console.error(err)
  problem(`the dashboard failed to start: ${err instanceof Error ? err.message : String(err)}`)
}
