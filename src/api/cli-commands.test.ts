import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { DatabaseSync } from 'node:sqlite'
import type { Json } from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import type { SignedOp } from '../log/index.ts'
import { home, local } from '../node/index.ts'
import { opLog } from '../store/index.ts'
import { main } from './cli.ts'
import { exportLine } from './cli-io.ts'

const root = mkdtempSync(join(tmpdir(), 'grapevine-cmd-'))
after(() => rmSync(root, { recursive: true, force: true }))
let homes = 0
const freshHome = (): string => join(root, `h${homes++}`)

/** A fake wall clock shared by a test's homes: every reading moves it 1 ms, and tests jump it. */
function fakeClock(startMs = 1_800_000_000_000) {
  let t = startMs
  return { nowMs: () => t++, advance: (ms: number) => (t += ms) }
}

type Run = { code: number; out: string; err: string }

function runner(clock: { nowMs(): number }, env: Record<string, string> = {}) {
  return async (dir: string, ...argv: string[]): Promise<Run> => {
    let out = ''
    let err = ''
    const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s), env: { GRAPEVINE_HOME: dir, ...env }, clock })
    return { code, out, err }
  }
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr: ${r.err}`)
  return r
}

function json<T = Record<string, unknown>>(r: Run): T {
  return JSON.parse(r.out) as T
}

/** Copies every op of one home into another, author by author (what gossip will do). */
function merge(fromDir: string, toDir: string, nowMs: number): void {
  const from = local.openLocal(fromDir)
  const to = local.openLocal(toDir)
  assert.ok(from.ok && to.ok)
  const byAuthor = new Map<string, SignedOp[]>()
  for (const e of opLog.scan(from.value.store)) byAuthor.set(e.op.author, [...(byAuthor.get(e.op.author) ?? []), e])
  for (const [author, ops] of byAuthor) {
    const have = opLog.head(to.value.store, author as SignedOp['op']['author'])?.seq ?? 0
    const fresh = ops.filter((e) => e.op.seq > have)
    if (fresh.length === 0) continue
    const r = opLog.ingest(to.value.store, fresh, nowMs)
    assert.ok(r.ok, `ingest: ${JSON.stringify(r)}`)
  }
  local.closeLocal(from.value)
  local.closeLocal(to.value)
}

/** Bad input: the exit code, one line on stderr, no stack trace, nothing on stdout. */
function refused(r: Run, code: 1 | 2, pattern: RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}, stderr: ${r.err}`)
  const lines = r.err.split('\n').filter((x) => x !== '' && !/created identity/.test(x))
  assert.ok(lines.length >= 1, `${what}: a message`)
  assert.match(r.err, pattern, what)
  assert.ok(!/\n\s+at /.test(r.err), `${what}: no stack trace: ${r.err}`)
}

type FactDoc = {
  fact_id: string
  value: unknown
  author_agent_id: string
  author_name: string | null
  created_at: string
  causal_id: string | null
  verified: boolean
  ttl_seconds: number | null
  idempotency_key: string | null
  channel: string | null
  tags: string[]
  text: string | null
  stale: boolean
  conflict: boolean
  ticket_id: string | null
  dot: string
  versions: FactDoc[]
  written?: boolean
}

test('cli: publish writes an entry with the seed schema fields, and tail shows it (json and human)', async () => {
  const clock = fakeClock()
  const cli = runner(clock)
  const dir = freshHome()
  ok(await cli(dir, 'init', '--name', 'london'), 'init')
  const p = json<FactDoc>(ok(await cli(dir, '--json', 'publish', 'Convex cold-starts after 2h idle', '--channel', 'warnings', '--tag', 'convex', '--tag', 'latency', '--ttl', '7d', '--verified'), 'publish'))
  for (const k of ['fact_id', 'value', 'author_agent_id', 'created_at', 'causal_id', 'verified', 'ttl_seconds', 'idempotency_key', 'channel', 'tags', 'author_name', 'stale', 'conflict', 'versions']) {
    assert.ok(k in p, `the fact has ${k}`)
  }
  assert.match(p.fact_id, /^[0-9a-f]{32}$/)
  assert.equal(p.value, 'Convex cold-starts after 2h idle')
  assert.equal(p.channel, 'warnings')
  assert.deepEqual(p.tags, ['convex', 'latency'])
  assert.equal(p.ttl_seconds, 604_800)
  assert.equal(p.verified, true)
  assert.equal(p.author_name, 'london')
  assert.match(p.author_agent_id, /^[0-9a-f]{64}$/)
  assert.ok(!Number.isNaN(Date.parse(p.created_at)) && p.created_at.endsWith('Z'))
  assert.equal(p.written, true)
  ok(await cli(dir, 'publish', 'a pattern', '--channel', 'patterns'), 'publish 2')
  ok(await cli(dir, 'publish', 'a discovery'), 'publish 3')

  const all = json<FactDoc[]>(ok(await cli(dir, '--json', 'tail'), 'tail'))
  assert.deepEqual(
    all.map((e) => e.value),
    ['Convex cold-starts after 2h idle', 'a pattern', 'a discovery'],
    'oldest first, like tail',
  )
  const two = json<FactDoc[]>(ok(await cli(dir, '--json', 'tail', '-n', '2'), 'tail -n'))
  assert.deepEqual(two.map((e) => e.value), ['a pattern', 'a discovery'], 'the latest two')
  const warnings = json<FactDoc[]>(ok(await cli(dir, '--json', 'tail', '--channel', 'warnings'), 'tail --channel'))
  assert.deepEqual(warnings.map((e) => e.channel), ['warnings'])

  const human = ok(await cli(dir, 'tail'), 'human tail')
  const lines = human.out.trimEnd().split('\n')
  assert.equal(lines.length, 3, 'one line per entry')
  assert.match(lines[0] as string, /london {2}warnings {2}Convex cold-starts after 2h idle {2}#convex #latency {2}\[verified\]/)
  assert.ok(!human.out.includes('\u001b['), 'no colour when stdout is not a terminal')
  assert.equal(human.err, '')
})

test('cli: colour only on a terminal, and never with NO_COLOR', async () => {
  const clock = fakeClock()
  const dir = freshHome()
  ok(await runner(clock)(dir, 'publish', 'x', '--channel', 'warnings'), 'publish')
  const tty = async (env: Record<string, string>) => {
    let out = ''
    await main(['tail'], { out: (s) => (out += s), err: () => {}, env: { GRAPEVINE_HOME: dir, ...env }, clock, isTTY: true })
    return out
  }
  assert.ok((await tty({})).includes('\u001b['), 'a terminal gets colour')
  assert.ok(!(await tty({ NO_COLOR: '1' })).includes('\u001b['), 'NO_COLOR turns it off')
})

test('cli: the same text with the same idempotency key writes one op and returns the same fact_id', async () => {
  const cli = runner(fakeClock())
  const dir = freshHome()
  const a = json<FactDoc>(ok(await cli(dir, '--json', 'publish', 'retry me', '--idempotency-key', 'job-42'), 'first'))
  const opsBefore = json<unknown[]>(ok(await cli(dir, '--json', 'log', '-n', '1000'), 'log')).length
  const b = json<FactDoc>(ok(await cli(dir, 'publish', 'retry me', '--idempotency-key', 'job-42', '--json'), 'again, --json after the command'))
  const human = ok(await cli(dir, 'publish', 'retry me', '--idempotency-key', 'job-42'), 'human again')
  assert.equal(a.fact_id, b.fact_id)
  assert.equal(a.written, true)
  assert.equal(b.written, false)
  assert.equal(b.idempotency_key, 'job-42')
  assert.match(human.out, /already published .* nothing written/)
  const other = ok(await cli(dir, 'publish', 'a different text', '--idempotency-key', 'job-42'), 'the key reused')
  assert.match(other.err, /was first used for a different text; that entry stands/)
  assert.equal(json<unknown[]>(ok(await cli(dir, '--json', 'log', '-n', '1000'), 'log')).length, opsBefore, 'no op written')
  assert.equal(opsBefore, 2, 'the first write of a node is preceded by its agent.hello')
  assert.equal(json<FactDoc[]>(ok(await cli(dir, '--json', 'tail'), 'tail')).length, 1)
})

test('cli: search finds entries by words, filtered by channel, tag, author and time', async () => {
  const clock = fakeClock()
  const cli = runner(clock)
  const dir = freshHome()
  ok(await cli(dir, 'init', '--name', 'paris'), 'init')
  ok(await cli(dir, 'publish', 'Convex cold start takes 30s', '--channel', 'warnings', '--tag', 'convex'), 'p1')
  clock.advance(3_600_000)
  ok(await cli(dir, 'publish', 'Convex queries are fast when indexed', '--tag', 'db'), 'p2')
  ok(await cli(dir, 'publish', 'Postgres cold start is instant'), 'p3')
  const hits = (argv: string[]) => cli(dir, '--json', 'search', ...argv).then((r) => json<FactDoc[]>(ok(r, argv.join(' '))).map((h) => h.value))
  assert.deepEqual((await hits(['convex'])).sort(), ['Convex cold start takes 30s', 'Convex queries are fast when indexed'])
  assert.deepEqual(await hits(['cold start', '--channel', 'warnings']), ['Convex cold start takes 30s'])
  assert.deepEqual(await hits(['convex', '--tag', 'db']), ['Convex queries are fast when indexed'])
  assert.deepEqual((await hits(['cold', '--author', 'paris'])).length, 2)
  assert.deepEqual(await hits(['cold', '--since', '30m']), ['Postgres cold start is instant'])
  assert.deepEqual(await hits(['nothing-like-this']), [])
  refused(await cli(dir, 'search', '--author', 'nobody', 'x'), 2, /no agent named "nobody"/, 'unknown author')
  refused(await cli(dir, 'search', '...'), 2, /at least one word/, 'an empty query')
})

test('cli: fact set / get / retract / history, with VALUE as JSON when it parses', async () => {
  const cli = runner(fakeClock())
  const dir = freshHome()
  const one = json<FactDoc>(ok(await cli(dir, '--json', 'fact', 'set', 'deploy.region', 'eu-west-1'), 'set'))
  assert.equal(one.value, 'eu-west-1')
  const two = json<FactDoc>(ok(await cli(dir, '--json', 'fact', 'set', 'deploy.region', '{"primary":"eu-central-1","replicas":2}', '--verified'), 'set json'))
  assert.deepEqual(two.value, { primary: 'eu-central-1', replicas: 2 })
  assert.equal(two.versions.length, 1, 'the second write superseded the first')
  assert.equal(two.conflict, false)
  assert.equal(json<FactDoc>(ok(await cli(dir, '--json', 'fact', 'set', 'n', '42'), 'number')).value, 42)
  assert.equal(json<FactDoc>(ok(await cli(dir, '--json', 'fact', 'set', 'b', 'true'), 'bool')).value, true)
  assert.equal(json<FactDoc>(ok(await cli(dir, '--json', 'fact', 'set', 's', '"42"'), 'quoted')).value, '42')
  const got = json<FactDoc>(ok(await cli(dir, '--json', 'fact', 'get', 'deploy.region'), 'get'))
  assert.equal(got.verified, true)
  assert.match(ok(await cli(dir, 'fact', 'get', 'deploy.region'), 'human get').out, /^deploy\.region = \{"primary":"eu-central-1","replicas":2\}\n/)
  const r = json<{ retracted: string[] }>(ok(await cli(dir, '--json', 'fact', 'retract', 'deploy.region', '--reason', 'moved'), 'retract'))
  assert.equal(r.retracted.length, 1)
  refused(await cli(dir, 'fact', 'get', 'deploy.region'), 1, /no live version .* fact history/, 'a retracted fact')
  refused(await cli(dir, 'fact', 'retract', 'deploy.region'), 1, /no live version/, 'nothing left to retract')
  const h = json<{ type: string; live?: boolean; value?: unknown; reason?: string }[]>(ok(await cli(dir, '--json', 'fact', 'history', 'deploy.region'), 'history'))
  assert.deepEqual(
    h.map((x) => x.type),
    ['assert', 'assert', 'retract'],
  )
  assert.equal(h[2]?.reason, 'moved')
  assert.ok(h.every((x) => x.type === 'retract' || x.live === false))
  refused(await cli(dir, 'fact', 'get', 'never.written'), 1, /unknown fact "never\.written"/, 'unknown fact')
  refused(await cli(dir, 'fact', 'history', 'never.written'), 1, /unknown fact/, 'unknown fact history')
})

test('cli: TTL makes a version stale: hidden from tail and fact get, shown with --include-stale; --as-of reads the past', async () => {
  const clock = fakeClock()
  const cli = runner(clock)
  const dir = freshHome()
  ok(await cli(dir, 'publish', 'short-lived', '--ttl', '1h'), 'publish')
  ok(await cli(dir, 'fact', 'set', 'cache.warm', 'yes', '--ttl', '90s'), 'set')
  const before = new Date(clock.nowMs()).toISOString()
  clock.advance(2 * 3_600_000)
  assert.deepEqual(json<unknown[]>(ok(await cli(dir, '--json', 'tail'), 'tail')), [])
  const stale = json<FactDoc[]>(ok(await cli(dir, '--json', 'tail', '--include-stale'), 'tail stale'))
  assert.equal(stale.length, 1)
  assert.equal(stale[0]?.stale, true)
  refused(await cli(dir, 'fact', 'get', 'cache.warm'), 1, /only stale versions.*--include-stale/, 'stale fact')
  assert.equal(json<FactDoc>(ok(await cli(dir, '--json', 'fact', 'get', 'cache.warm', '--include-stale'), 'get stale')).stale, true)
  ok(await cli(dir, 'fact', 'set', 'cache.warm', 'no'), 'set again')
  assert.equal(json<FactDoc>(ok(await cli(dir, '--json', 'fact', 'get', 'cache.warm'), 'now')).value, 'no')
  const past = json<FactDoc>(ok(await cli(dir, '--json', 'fact', 'get', 'cache.warm', '--as-of', before), 'as of'))
  assert.equal(past.value, 'yes', 'as it was then')
  assert.equal(json<FactDoc[]>(ok(await cli(dir, '--json', 'tail', '--as-of', before), 'tail as of')).length, 1)
})

test('cli: concurrent writes on two nodes conflict; fact get shows the winner and both versions; verify resolves the ticket', async () => {
  const clock = fakeClock()
  const cli = runner(clock)
  const london = freshHome()
  const paris = freshHome()
  ok(await cli(london, 'init', '--name', 'london'), 'init london')
  ok(await cli(paris, 'init', '--name', 'paris'), 'init paris')
  ok(await cli(london, 'fact', 'set', 'deploy.region', 'eu-west-1'), 'london writes')
  ok(await cli(paris, 'fact', 'set', 'deploy.region', 'eu-central-1'), 'paris writes, concurrently')
  merge(london, paris, clock.nowMs())
  merge(paris, london, clock.nowMs())
  for (const dir of [london, paris]) {
    const f = json<FactDoc>(ok(await cli(dir, '--json', 'fact', 'get', 'deploy.region'), 'get'))
    assert.equal(f.conflict, true)
    assert.match(f.ticket_id ?? '', /^[0-9a-f]{32}$/)
    assert.deepEqual(f.versions.map((v) => v.value).sort(), ['eu-central-1', 'eu-west-1'])
    assert.equal(f.value, f.versions[0]?.value, 'the read winner comes first')
    assert.deepEqual(f.versions.map((v) => v.author_name).sort(), ['london', 'paris'])
  }
  const human = ok(await cli(london, 'fact', 'get', 'deploy.region'), 'human get')
  assert.match(human.out, /\[CONFLICT\] ticket [0-9a-f]{32}: 2 live versions/)
  const tickets = json<{ ticket_id: string; fact_id: string; versions: FactDoc[] }[]>(ok(await cli(paris, '--json', 'conflicts'), 'conflicts'))
  const tl = json<{ ticket_id: string }[]>(ok(await cli(london, '--json', 'conflicts'), 'conflicts london'))
  assert.equal(tickets.length, 1)
  assert.equal(tickets[0]?.fact_id, 'deploy.region')
  assert.equal(tickets[0]?.versions.length, 2)
  assert.equal(tl[0]?.ticket_id, tickets[0]?.ticket_id, 'both nodes derive the same ticket')
  const ticket = tickets[0]?.ticket_id as string

  const v = json<{ resolved_ticket: string | null; fact: FactDoc }>(ok(await cli(paris, '--json', 'verify', ticket, 'eu-west-1'), 'verify'))
  assert.equal(v.resolved_ticket, ticket)
  assert.equal(v.fact.value, 'eu-west-1')
  assert.equal(v.fact.verified, true)
  assert.equal(v.fact.conflict, false)
  assert.equal(v.fact.versions.length, 1)
  assert.deepEqual(json<unknown[]>(ok(await cli(paris, '--json', 'conflicts'), 'no conflicts')), [])
  refused(await cli(paris, 'verify', ticket, 'eu-west-1'), 1, /already resolved by paris/, 'a resolved ticket')
  merge(paris, london, clock.nowMs())
  assert.deepEqual(json<unknown[]>(ok(await cli(london, '--json', 'conflicts'), 'london sees it resolved')), [])
  const m = json<{ views: { resolved_tickets: number; open_tickets: number } }>(ok(await cli(london, '--json', 'metrics'), 'metrics'))
  assert.equal(m.views.resolved_tickets, 1)
  assert.equal(m.views.open_tickets, 0)
  // verify by fact id
  ok(await cli(london, 'fact', 'set', 'x', '1'), 'x')
  const byFact = json<{ resolved_ticket: string | null; fact: FactDoc }>(ok(await cli(london, '--json', 'verify', 'x', '2'), 'verify fact'))
  assert.equal(byFact.resolved_ticket, null, 'no conflict, so no ticket')
  assert.equal(byFact.fact.value, 2)
  assert.equal(byFact.fact.verified, true)
  refused(await cli(london, 'verify', 'no-such-thing', '1'), 1, /unknown ticket or fact "no-such-thing"/, 'unknown ticket')
})

test('cli: status set and fleet show every agent with its name, status and last seen', async () => {
  const clock = fakeClock()
  const cli = runner(clock)
  const a = freshHome()
  const b = freshHome()
  ok(await cli(a, 'init', '--name', 'london'), 'init')
  ok(await cli(b, 'init', '--name', 'paris'), 'init')
  const s = json<{ name: string; status: string; health: string; working_on: string }>(ok(await cli(a, '--json', 'status', 'set', 'building the frontend', '--health', 'degraded', '--working-on', 'task-7'), 'status'))
  assert.deepEqual([s.name, s.status, s.health, s.working_on], ['london', 'building the frontend', 'degraded', 'task-7'])
  ok(await cli(b, 'publish', 'hello from paris'), 'paris publishes')
  merge(b, a, clock.nowMs())
  const fleet = json<{ name: string; status: string | null; health: string | null; working_on: string | null; last_seen: string | null; me: boolean }[]>(ok(await cli(a, '--json', 'fleet'), 'fleet'))
  const byName = new Map(fleet.map((f) => [f.name, f]))
  assert.deepEqual([...byName.keys()].sort(), ['london', 'paris'])
  assert.equal(byName.get('london')?.health, 'degraded')
  assert.equal(byName.get('london')?.me, true)
  assert.equal(byName.get('paris')?.status, null, 'paris said nothing about its status')
  assert.ok(byName.get('paris')?.last_seen !== null)
  assert.match(ok(await cli(a, 'fleet'), 'human fleet').out, /london \(me\) {2}degraded {2}building the frontend {2}working on task-7 {2}seen \d+s ago/)
  refused(await cli(a, 'status', 'set', 'x', '--health', 'sick'), 2, /unknown health "sick": use one of ok, degraded, blocked/, 'bad health')
})

test('cli: tasks: depends and ready, one claim wins across nodes, release, done', async () => {
  const clock = fakeClock()
  const cli = runner(clock)
  const a = freshHome()
  const b = freshHome()
  ok(await cli(a, 'init', '--name', 'london'), 'init')
  ok(await cli(b, 'init', '--name', 'paris'), 'init')
  const t1 = json<{ task_id: string; ready: boolean }>(ok(await cli(a, '--json', 'task', 'add', 'build frontend'), 'add'))
  assert.equal(t1.ready, true)
  const t2 = json<{ task_id: string; depends: string[]; ready: boolean }>(ok(await cli(a, '--json', 'task', 'add', 'push to staging', '--depends', t1.task_id, '--assign', 'paris'), 'add 2'))
  assert.deepEqual(t2.depends, [t1.task_id])
  assert.equal(t2.ready, false)
  refused(await cli(a, 'task', 'add', 'x', '--depends', 'nope'), 1, /unknown task "nope"/, 'unknown dependency')
  const ready = () => cli(a, '--json', 'task', 'list', '--ready').then((r) => json<{ task_id: string }[]>(ok(r, 'ready')).map((t) => t.task_id))
  assert.deepEqual(await ready(), [t1.task_id])

  merge(a, b, clock.nowMs())
  const mine = json<{ task_id: string }[]>(ok(await cli(b, '--json', 'task', 'list', '--mine'), 'mine'))
  assert.deepEqual(mine.map((t) => t.task_id), [t2.task_id], 'assigned to paris by name')
  const won = await cli(a, '--json', 'task', 'claim', t1.task_id)
  assert.equal(json<{ outcome: string }>(ok(won, 'claim')).outcome, 'won')
  assert.deepEqual(await ready(), [], 'a claimed task is not ready')
  merge(a, b, clock.nowMs())
  const lost = await cli(b, '--json', 'task', 'claim', t1.task_id)
  assert.equal(lost.code, 1, 'a lost claim exits 1')
  assert.equal(json<{ outcome: string; claimed_by_name: string }>(lost).outcome, 'lost')
  assert.match(lost.err, /lost the claim on task .*: london claimed it first/)
  assert.match((await cli(b, 'task', 'claim', t1.task_id)).out, /^lost: task .* is held by london/)
  refused(await cli(b, 'task', 'release', t2.task_id), 1, /you hold no claim/, 'release without a claim')
  ok(await cli(a, 'task', 'release', t1.task_id), 'release')
  assert.deepEqual(await ready(), [t1.task_id], 'released: ready again')
  ok(await cli(a, 'task', 'claim', t1.task_id), 'claim again')
  const done = json<{ state: string; result: unknown }>(ok(await cli(a, '--json', 'task', 'done', t1.task_id, '--result', '{"url":"https://x"}'), 'done'))
  assert.equal(done.state, 'done')
  assert.deepEqual(done.result, { url: 'https://x' })
  assert.deepEqual(await ready(), [t2.task_id], 'its dependent is ready now')
  refused(await cli(a, 'task', 'done', t1.task_id), 1, /already done/, 'done twice')
  refused(await cli(a, 'task', 'claim', 'nope'), 1, /unknown task "nope"/, 'unknown task')
  refused(await cli(a, 'task', 'done', 'nope'), 1, /unknown task "nope"/, 'unknown task done')
  assert.match(ok(await cli(a, 'task', 'list'), 'human list').out, /done {5}build frontend {2}by london\n[0-9a-f]{10} {2}ready {4}push to staging {2}after [0-9a-f]{10} {2}for paris\n/)
})

test('cli: counters add up across nodes; negative steps subtract', async () => {
  const clock = fakeClock()
  const cli = runner(clock)
  const a = freshHome()
  const b = freshHome()
  assert.equal(json<{ value: number }>(ok(await cli(a, '--json', 'counter', 'add', 'deploys'), 'add')).value, 1)
  assert.equal(json<{ value: number }>(ok(await cli(a, '--json', 'counter', 'add', 'deploys', '5'), 'add 5')).value, 6)
  assert.equal(json<{ value: number }>(ok(await cli(b, '--json', 'counter', 'add', 'deploys', '-2'), 'add -2')).value, -2)
  merge(b, a, clock.nowMs())
  const got = json<{ value: number; authors: unknown[] }>(ok(await cli(a, '--json', 'counter', 'get', 'deploys'), 'get'))
  assert.equal(got.value, 4)
  assert.equal(got.authors.length, 2)
  assert.equal(ok(await cli(a, 'counter', 'get', 'deploys'), 'human').out, 'deploys = 4\n')
  assert.equal(json<{ value: number }>(ok(await cli(a, '--json', 'counter', 'get', 'never'), 'unknown')).value, 0)
  refused(await cli(a, 'counter', 'add', 'deploys', '0'), 2, /bad counter step "0"/, 'zero step')
  refused(await cli(a, 'counter', 'add', 'deploys', 'many'), 2, /bad counter step/, 'word step')
})

test('cli: export -> import into a second home gives the same facts, and importing again writes nothing', async () => {
  const clock = fakeClock()
  const cli = runner(clock)
  const a = freshHome()
  const c = freshHome()
  ok(await cli(a, 'publish', 'Convex cold-starts', '--channel', 'warnings', '--tag', 'convex', '--verified'), 'p1')
  ok(await cli(a, 'publish', 'use the batch API', '--channel', 'patterns', '--ttl', '30d'), 'p2')
  ok(await cli(a, 'fact', 'set', 'deploy.region', '{"r":"eu-west-1"}'), 'set')
  ok(await cli(a, 'fact', 'set', 'retries', '3'), 'set 2')
  const exported = ok(await cli(a, 'export'), 'export')
  assert.match(exported.err, /exported 4 facts/)
  const lines = exported.out.trimEnd().split('\n')
  assert.equal(lines.length, 4)
  const file = join(root, 'export.jsonl')
  writeFileSync(file, exported.out)
  const onlyWarnings = ok(await cli(a, 'export', '--channel', 'warnings'), 'export warnings').out.trimEnd().split('\n')
  assert.equal(onlyWarnings.length, 1)

  const imp = json<{ imported: number; unchanged: number; bad: unknown[] }>(ok(await cli(c, '--json', 'import', file), 'import'))
  assert.deepEqual(imp, { imported: 4, unchanged: 0, bad: [] })
  const shape = (out: string) =>
    out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as FactDoc)
      .map((f) => ({ fact_id: f.fact_id, value: f.value, channel: f.channel, tags: f.tags, text: f.text, verified: f.verified, ttl_seconds: f.ttl_seconds }))
      .sort((x, y) => (x.fact_id < y.fact_id ? -1 : 1))
  const back = ok(await cli(c, 'export'), 'export again')
  assert.deepEqual(shape(back.out), shape(exported.out), 'the same facts, ids and values')
  const again = json<{ imported: number; unchanged: number }>(ok(await cli(c, '--json', 'import', file), 'import again'))
  assert.deepEqual([again.imported, again.unchanged], [0, 4])
  const ops = json<unknown[]>(ok(await cli(c, '--json', 'log', '-n', '1000'), 'log'))
  assert.equal(ops.length, 5, 'a hello and four facts, nothing more')
  // a changed value imported over an existing keyed fact supersedes it (no conflict with itself)
  writeFileSync(file, JSON.stringify({ fact_id: 'retries', value: 5, channel: null }) + '\n')
  ok(await cli(c, 'import', file), 'import a change')
  const f = json<FactDoc>(ok(await cli(c, '--json', 'fact', 'get', 'retries'), 'get'))
  assert.equal(f.value, 5)
  assert.equal(f.versions.length, 1)
})

test('cli: import of a plain discoveries.jsonl imports the good lines and reports the bad ones by line number', async () => {
  const cli = runner(fakeClock())
  const dir = freshHome()
  const file = join(root, 'discoveries.jsonl')
  writeFileSync(
    file,
    [
      JSON.stringify({ text: 'Convex cold-starts after 2h idle', tags: ['convex'], author: 'claude-1', timestamp: '2026-11-01T10:00:00Z' }),
      '{not json',
      JSON.stringify({ tags: ['x'] }),
      JSON.stringify({ text: 'bad channel', channel: 'rumours' }),
      '',
      JSON.stringify({ text: 'a tag with a space', tags: ['two words'] }),
      JSON.stringify({ value: { cmd: 'npm ci' }, tags: 'ci, npm', timestamp: 1_762_000_000 }),
      JSON.stringify([1, 2]),
      JSON.stringify({ text: 'a warning', channel: 'warnings' }),
    ].join('\n') + '\n',
  )
  const r = await cli(dir, '--json', 'import', file)
  assert.equal(r.code, 1, 'bad lines make it a failure')
  const rep = JSON.parse(r.out) as { imported: number; bad: { line: number; error: string }[] }
  assert.equal(rep.imported, 3)
  assert.deepEqual(
    rep.bad.map((b) => b.line),
    [2, 3, 4, 6, 8],
  )
  assert.match(r.err, /discoveries\.jsonl:2: not JSON/)
  assert.match(r.err, /discoveries\.jsonl:3: a line needs a "text"/)
  assert.match(r.err, /discoveries\.jsonl:4: unknown channel "rumours": use one of discoveries, patterns, warnings/)
  assert.match(r.err, /discoveries\.jsonl:6: fact\.assert: tags\[0\] must not contain whitespace/)
  assert.match(r.err, /5 bad lines in .*the good lines were imported/)
  assert.ok(!/\n\s+at /.test(r.err))
  const tail = json<FactDoc[]>(ok(await cli(dir, '--json', 'tail'), 'tail'))
  assert.equal(tail.length, 3)
  const first = tail.find((e) => e.value === 'Convex cold-starts after 2h idle')
  assert.ok(first !== undefined)
  assert.deepEqual(first.tags, ['convex'])
  assert.equal(first.channel, 'discoveries')
  assert.deepEqual(tail.find((e) => e.channel === 'discoveries' && typeof e.value === 'object')?.tags, ['ci', 'npm'])
  const again = JSON.parse((await cli(dir, '--json', 'import', file)).out) as { imported: number; unchanged: number }
  assert.deepEqual([again.imported, again.unchanged], [0, 3], 're-import writes nothing new')
  refused(await cli(dir, 'import', join(root, 'no-such-file.jsonl')), 1, /cannot read .*no-such-file\.jsonl/, 'a missing file')
  const many = join(root, 'many-bad.jsonl')
  writeFileSync(many, '{oops\n'.repeat(150))
  const m = await cli(dir, 'import', many)
  assert.equal(m.code, 1)
  assert.equal(m.err.split('\n').filter((l) => /many-bad\.jsonl:\d+: not JSON/.test(l)).length, 100, 'the first 100 bad lines are listed')
  assert.match(m.err, /… and 50 more bad lines \(--json lists them all\)/)
  assert.equal((JSON.parse((await cli(dir, '--json', 'import', many)).out) as { bad: unknown[] }).bad.length, 150)
})

test('cli: bad input is one line naming what was wrong, exit 2 for usage and 1 for failures', async () => {
  const cli = runner(fakeClock())
  const dir = freshHome()
  ok(await cli(dir, 'init'), 'init')
  refused(await cli(dir, 'publish', 'x', '--channel', 'rumours'), 2, /unknown channel "rumours": use one of discoveries, patterns, warnings/, 'unknown channel')
  refused(await cli(dir, 'tail', '--channel', 'rumours'), 2, /use one of discoveries, patterns, warnings/, 'unknown channel on tail')
  refused(await cli(dir, 'publish', 'x', '--ttl', '7days'), 2, /bad duration "7days": use a positive number with s, m, h, d or w/, 'malformed duration')
  refused(await cli(dir, 'fact', 'set', 'k', 'v', '--ttl', '-1h'), 2, /bad duration|unknown option/, 'negative duration')
  refused(await cli(dir, 'fact', 'set', 'x'.repeat(300), 'v'), 2, /fact_id is 300 bytes, over the limit of 256/, 'fact id too long')
  refused(await cli(dir, 'fact', 'set', 'big', 'y'.repeat(40_000)), 2, /value is \d+ bytes encoded, over the limit of 32768.*keep values under/, 'value too large')
  refused(await cli(dir, 'publish', 'z'.repeat(40_000)), 2, /value is \d+ bytes encoded, over the limit of 32768/, 'publish text too large')
  refused(await cli(dir, 'publish', '   '), 2, /nothing to publish/, 'empty text')
  refused(await cli(dir, 'publish', 'x', '--idempotency-key', 'k'.repeat(300)), 2, /bad idempotency key/, 'key too long')
  refused(await cli(dir, 'publish', 'x', '--tag', 'two words'), 2, /tags\[0\] must not contain whitespace/, 'bad tag')
  refused(await cli(dir, 'verify', 'deadbeef', '1'), 1, /unknown ticket or fact/, 'unknown ticket')
  refused(await cli(dir, 'task', 'claim', 'deadbeef'), 1, /unknown task/, 'unknown task')
  refused(await cli(dir, 'tail', '--follow', '--as-of', '2h'), 2, /do not go together/, 'follow and as-of')
  refused(await cli(dir, 'search', 'x', '--since', 'last week'), 2, /bad time/, 'bad --since')
  refused(await cli(dir, 'frobnicate'), 2, /unknown command/, 'unknown command')
})

test('cli: views of another version are rebuilt on open, saying so first; reads are the same after', async () => {
  const cli = runner(fakeClock())
  const h = freshHome()
  ok(await cli(h, 'publish', 'an upgrade keeps this'), 'publish')
  const before = ok(await cli(h, '--json', 'tail'), 'tail').out
  const db = new DatabaseSync(join(h, home.storeFile))
  db.exec("UPDATE views_meta SET value = -1 WHERE key = 'views_version'")
  db.close()
  const r = ok(await cli(h, '--json', 'tail'), 'tail after')
  assert.match(r.err, /building this store's views from its 2 ops/)
  assert.equal(r.out, before)
  assert.doesNotMatch(ok(await cli(h, 'tail'), 'tail again').err, /building/)
})

test('cli: a store from a newer format is refused untouched; a corrupted store is reported in one line (exit 1)', async () => {
  const cli = runner(fakeClock())
  const newer = freshHome()
  ok(await cli(newer, 'publish', 'x'), 'publish')
  const db = new DatabaseSync(join(newer, home.storeFile))
  db.exec('PRAGMA user_version = 7')
  db.close()
  const before = readFileSync(join(newer, home.storeFile))
  refused(await cli(newer, 'publish', 'y'), 1, /format 7.*Upgrade grapevine; the store was left untouched/, 'newer format')
  refused(await cli(newer, 'tail'), 1, /format 7/, 'newer format on read')
  assert.deepEqual(readFileSync(join(newer, home.storeFile)), before)

  const broken = freshHome()
  ok(await cli(broken, 'publish', 'x'), 'publish')
  const file = join(broken, home.storeFile)
  rmSync(`${file}-wal`, { force: true })
  rmSync(`${file}-shm`, { force: true })
  const garbage = Buffer.alloc(readFileSync(file).length, 0x5a)
  writeFileSync(file, garbage)
  for (const argv of [['tail'], ['publish', 'y'], ['fact', 'get', 'x'], ['metrics']]) {
    refused(await cli(broken, ...argv), 1, /not a readable Grapevine store: .*; move it aside \(or restore a backup\)/, `corrupt store: ${argv.join(' ')}`)
  }
  // a file whose header is intact but whose pages are not
  const half = freshHome()
  for (let i = 0; i < 50; i++) ok(await cli(half, 'publish', `entry ${i} ${'padding '.repeat(100)}`), 'publish')
  const f2 = join(half, home.storeFile)
  const c = local.openLocal(half)
  assert.ok(c.ok)
  c.value.store.db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  local.closeLocal(c.value)
  const bytes = readFileSync(f2)
  bytes.fill(0x5a, 4096 * 2, bytes.length - 4096)
  writeFileSync(f2, bytes)
  const r = await cli(half, 'tail')
  refused(r, 1, /damaged|malformed|not a database/, 'corrupt pages')
})

test('cli: metrics counts ops by kind, entries, tickets and bytes on disk', async () => {
  const cli = runner(fakeClock())
  const dir = freshHome()
  ok(await cli(dir, 'publish', 'one'), 'p')
  ok(await cli(dir, 'publish', 'two', '--channel', 'warnings'), 'p')
  ok(await cli(dir, 'counter', 'add', 'c'), 'c')
  const m = json<{ ops: number; ops_by_kind: Record<string, number>; db_bytes: number; views: { entries_by_channel: Record<string, number> }; not_recorded: string[] }>(ok(await cli(dir, '--json', 'metrics'), 'metrics'))
  assert.equal(m.ops, 4)
  assert.deepEqual(m.ops_by_kind, { 'agent.hello': 1, 'counter.add': 1, 'fact.assert': 2 })
  assert.deepEqual(m.views.entries_by_channel, { discoveries: 1, patterns: 0, warnings: 1 })
  assert.ok(m.db_bytes > 0)
  assert.ok(m.not_recorded.length > 0)
  const human = ok(await cli(dir, 'metrics'), 'human')
  assert.match(human.out, /^ops {12}4 \(agent\.hello 1, counter\.add 1, fact\.assert 2\)/)
  assert.match(human.err, /not recorded yet/)
})

test('cli: tail --follow prints entries as they arrive, one JSON object per line, and ends cleanly on its signal', async () => {
  const clock = fakeClock()
  const dir = freshHome()
  ok(await runner(clock)(dir, 'publish', 'before'), 'publish')
  let out = ''
  const stop = new AbortController()
  const running = main(['--json', 'tail', '--follow'], { out: (s) => (out += s), err: () => {}, env: { GRAPEVINE_HOME: dir }, clock, interrupts: () => stop.signal })
  const waitFor = async (n: number) => {
    const deadline = Date.now() + 10_000
    while (out.trimEnd().split('\n').filter((l) => l !== '').length < n) {
      assert.ok(Date.now() < deadline, `waited for ${n} lines, have: ${out}`)
      await new Promise((r) => setImmediate(r))
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  await waitFor(1)
  ok(await runner(clock)(dir, 'publish', 'after'), 'publish while following')
  await waitFor(2)
  stop.abort()
  assert.equal(await running, 0)
  const lines = out.trimEnd().split('\n').map((l) => JSON.parse(l) as FactDoc)
  assert.deepEqual(lines.map((l) => l.value), ['before', 'after'])
})

test('cli: publish writes an agent.hello first, so author_name works on other nodes', async () => {
  const cli = runner(fakeClock())
  const dir = freshHome()
  ok(await cli(dir, 'init', '--name', 'berlin'), 'init')
  ok(await cli(dir, 'publish', 'x'), 'publish')
  const ops = json<{ kind: string; body: { name?: string } }[]>(ok(await cli(dir, '--json', 'log'), 'log'))
  assert.deepEqual(ops.map((o) => o.kind), ['fact.assert', 'agent.hello'])
  assert.equal(ops[1]?.body.name, 'berlin')
  ok(await cli(dir, 'publish', 'y'), 'publish')
  const kinds = json<{ kind: string }[]>(ok(await cli(dir, '--json', 'log'), 'log')).map((o) => o.kind)
  assert.equal(kinds.filter((k) => k === 'agent.hello').length, 1, 'once')
  assert.equal(json<unknown[]>(ok(await cli(dir, '--json', 'log', '--author', 'berlin'), 'log by name')).length, 3)
  refused(await cli(dir, 'log', '--author', 'madrid'), 2, /no agent named "madrid"/, 'log by an unknown name')
  assert.equal(knowledge.channels.length, 3)
})

test('cli: rebuild recomputes the views from the op log and every read stays the same', async () => {
  const clock = fakeClock()
  const cli = runner(clock)
  const a = freshHome()
  const b = freshHome()
  ok(await cli(a, 'publish', 'one', '--tag', 't'), 'p')
  ok(await cli(a, 'fact', 'set', 'k', '1'), 'set')
  ok(await cli(b, 'fact', 'set', 'k', '2'), 'set b')
  ok(await cli(a, 'task', 'add', 'a task'), 'task')
  ok(await cli(a, 'counter', 'add', 'c', '3'), 'counter')
  merge(b, a, clock.nowMs())
  const reads = async () => [
    ok(await cli(a, '--json', 'export'), 'export').out,
    ok(await cli(a, '--json', 'conflicts'), 'conflicts').out,
    ok(await cli(a, '--json', 'task', 'list'), 'tasks').out,
    ok(await cli(a, '--json', 'counter', 'get', 'c'), 'counter').out,
    ok(await cli(a, '--json', 'search', 'one'), 'search').out,
  ]
  const before = await reads()
  const r = json<{ rebuilt: boolean; ops: number; facts: number }>(ok(await cli(a, '--json', 'rebuild'), 'rebuild'))
  assert.equal(r.rebuilt, true)
  assert.equal(r.ops, 7, 'two hellos, four writes of london, one of paris')
  assert.equal(r.facts, 2)
  assert.deepEqual(await reads(), before)
  assert.match(ok(await cli(a, 'rebuild'), 'human').out, /^rebuilt the views from 7 ops in \d+\.\d\d s\n$/)
})

test('cli: every export line is exactly the fact get --json document of its fact plus the plain fields text, author, timestamp (conflicted and stale ones too)', async () => {
  const clock = fakeClock()
  const cli = runner(clock)
  const a = freshHome()
  const b = freshHome()
  ok(await cli(a, 'init', '--name', 'london'), 'init')
  ok(await cli(a, 'publish', 'an entry', '--tag', 'x', '--ttl', '1h'), 'p')
  ok(await cli(a, 'fact', 'set', 'k', '1'), 'k on a')
  ok(await cli(b, 'fact', 'set', 'k', '2'), 'k on b, concurrently')
  ok(await cli(a, 'fact', 'set', 'j', '[1,2]', '--verified'), 'j')
  merge(b, a, clock.nowMs())
  clock.advance(2 * 3_600_000) // the entry is stale now
  const lines = ok(await cli(a, 'export'), 'export').out.trimEnd().split('\n')
  assert.equal(lines.length, 3)
  const conflicted = lines.map((l) => JSON.parse(l) as FactDoc).find((f) => f.fact_id === 'k')
  assert.equal(conflicted?.conflict, true)
  assert.equal(conflicted?.versions.length, 2)
  for (const line of lines) {
    const id = (JSON.parse(line) as FactDoc).fact_id
    const got = ok(await cli(a, '--json', 'fact', 'get', id, '--include-stale'), `get ${id}`)
    assert.deepEqual(JSON.parse(line), exportLine(JSON.parse(got.out) as Record<string, Json>), `export line of ${id}`)
  }
  assert.equal(ok(await cli(a, 'export', '--channel', 'discoveries'), 'export channel').out.trimEnd().split('\n').length, 1)
  assert.equal(ok(await cli(a, 'export', '--channel', 'warnings'), 'export empty channel').out, '')
})
