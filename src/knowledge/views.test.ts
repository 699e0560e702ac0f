/** One test per rule of views.ts (the numbers in its header). */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Json } from '../core/index.ts'
import type { EncodedOp } from '../log/index.ts'
import * as k from './index.ts'
import { assertBody, createWriter, dotOfOp, t0Ms, testAuthor, write } from './knowledge.test-util.ts'
import type { TestWriter } from './knowledge.test-util.ts'

const now = { nowMs: t0Ms + 3_600_000 }

function views(...ops: EncodedOp[]): k.Views {
  return k.viewsOf(ops)
}

function fact(
  w: TestWriter,
  id: string | undefined,
  value: Json,
  supersedes: EncodedOp[] = [],
  extra: Record<string, Json> = {},
  atMs?: number,
): EncodedOp {
  return write(w, 'fact.assert', assertBody(id, value, supersedes, extra), atMs === undefined ? {} : { atMs })
}

function valuesOf(r: k.FactRead | undefined): Json[] {
  return r === undefined ? [] : r.versions.map((x) => x.value)
}

// ---- rules 1-3

test('(1) a duplicate op does nothing; a different op with a known dot is a fork and does nothing', () => {
  const a = createWriter(0)
  const e = fact(a, 'f', 1)
  const v = k.createViews()
  assert.equal(k.apply(v, e).outcome, 'applied')
  const again = k.apply(v, e)
  assert.equal(again.outcome, 'duplicate')
  assert.deepEqual(again.changes, [])
  const other = fact(createWriter(0), 'f', 2) // the same author and seq 1, another body
  const fork = k.apply(v, other)
  assert.equal(fork.outcome, 'fork')
  assert.deepEqual(valuesOf(k.getFact(v, 'f', now)), [1])
  assert.equal(v.stats.duplicates, 1)
  assert.equal(v.stats.forks, 1)
})

test('(2) an invalid body or an unknown kind has no effect, and says why', () => {
  const a = createWriter(0)
  const v = k.createViews()
  const bad = k.apply(v, write(a, 'fact.assert', { fact_id: 'f', value: 1, supersedes: [], verified: 'yes' }))
  assert.equal(bad.outcome, 'invalid_body')
  assert.equal(bad.failure?.field, 'verified')
  assert.match(bad.detail ?? '', /verified must be true or false/)
  const unknown = k.apply(v, write(a, 'fact.upsert', { x: 1 }))
  assert.equal(unknown.outcome, 'unknown_kind')
  assert.equal(k.getFact(v, 'f', now), undefined)
  assert.deepEqual(k.dump(v), k.dump(k.createViews()))
})

test('(3) idempotency: the lowest seq with a key is the op, whatever arrives first', () => {
  const a = createWriter(0)
  const first = write(a, 'fact.assert', assertBody(undefined, 'cold starts', [], { channel: 'warnings' }), {
    key: 'k',
  })
  const retry = write(
    a,
    'fact.assert',
    assertBody(undefined, 'cold starts (retry)', [], { channel: 'warnings' }),
    { key: 'k' },
  )
  const c1 = write(a, 'counter.add', { name: 'c', n: 5 }, { key: 'c' })
  const c2 = write(a, 'counter.add', { name: 'c', n: 7 }, { key: 'c' })
  const inOrder = views(first, retry, c1, c2)
  const v = k.createViews()
  assert.equal(k.apply(v, c2).outcome, 'applied')
  assert.equal(k.apply(v, retry).outcome, 'applied')
  const late = k.apply(v, first) // the earlier seq arrives last and displaces the retry
  assert.equal(late.outcome, 'applied')
  assert.equal(k.apply(v, c1).outcome, 'applied')
  assert.equal(k.apply(v, retry).outcome, 'duplicate')
  assert.deepEqual(k.dump(v), k.dump(inOrder))
  assert.equal(k.getCounter(v, 'c')?.value, 5)
  const entries = k.channelEntries(v, { ...now, channel: 'warnings' })
  assert.deepEqual(
    entries.map((x) => x.value),
    ['cold starts'],
  )
  const row = k.idempotent(v, a.author, 'k')
  assert.equal(row?.dot, dotOfOp(first))
  assert.equal(row?.fact_id, k.entryFactId(a.author, 'k', 1))
  assert.equal(entries[0]?.fact_id, row?.fact_id)
  assert.equal(k.idempotent(v, a.author, 'nope'), undefined)
  assert.equal(k.idempotent(v, testAuthor(1), 'k'), undefined)
})

// ---- rule 4: facts

test('(4) an assert that saw a version supersedes it; history keeps both', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const v1 = fact(a, 'deploy.region', 'eu-west-1')
  const v2 = fact(b, 'deploy.region', 'eu-central-1', [v1])
  const v = views(v2, v1)
  const r = k.getFact(v, 'deploy.region', now)
  assert.deepEqual(valuesOf(r), ['eu-central-1'])
  assert.equal(r?.conflict, false)
  assert.deepEqual(
    k.factHistory(v, 'deploy.region').map((h) => (h.type === 'assert' ? [h.version.value, h.live] : h.type)),
    [
      ['eu-west-1', false],
      ['eu-central-1', true],
    ],
  )
})

test('(4) concurrent asserts all stay live: a conflict; equal values are not one', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const c = createWriter(2)
  const v = views(fact(a, 'f', 'x'), fact(b, 'f', 'y'), fact(a, 'g', 1), fact(c, 'g', 1))
  const f = k.getFact(v, 'f', now)
  assert.deepEqual(new Set(valuesOf(f)), new Set(['x', 'y']))
  assert.equal(f?.conflict, true)
  const g = k.getFact(v, 'g', now)
  assert.equal(g?.versions.length, 2)
  assert.equal(g?.conflict, false)
  assert.deepEqual(
    k.openTickets(v).map((t) => t.fact_id),
    ['f'],
  )
})

test('(4) a retract removes what it observed; an assert concurrent with it survives (add wins)', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const v1 = fact(a, 'f', 1)
  const retract = write(b, 'fact.retract', { fact_id: 'f', observed: [dotOfOp(v1)], reason: 'wrong' })
  assert.equal(k.getFact(views(v1, retract), 'f', now), undefined)
  const concurrent = fact(a, 'f', 2, [v1]) // a rewrote f without seeing the retract
  const v = views(retract, concurrent, v1)
  assert.deepEqual(valuesOf(k.getFact(v, 'f', now)), [2])
  const hist = k.factHistory(v, 'f')
  assert.deepEqual(
    hist.map((h) => h.type),
    ['assert', 'retract', 'assert'],
  )
  const r = hist.find((h) => h.type === 'retract')
  assert.equal(r?.type === 'retract' ? r.retract.reason : null, 'wrong')
})

test('(4) a dot of another fact, or of nothing, supersedes nothing', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const g = fact(a, 'g', 'keep me')
  const f = write(b, 'fact.assert', {
    fact_id: 'f',
    value: 1,
    supersedes: [dotOfOp(g), `${'9'.repeat(64)}:4`],
    verified: false,
  })
  const v = views(g, f)
  assert.deepEqual(valuesOf(k.getFact(v, 'g', now)), ['keep me'])
  assert.deepEqual(valuesOf(k.getFact(v, 'f', now)), [1])
})

// ---- rule 5: entries

test('(5) channel entries: generated fact ids, newest first, filtered by channel, tag and author', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const e1 = fact(a, undefined, 'convex cold starts', [], { channel: 'warnings', tags: ['convex'] })
  const e2 = fact(b, undefined, 'use batches', [], { channel: 'patterns' })
  const e3 = fact(a, undefined, 'retry 3x', [], { channel: 'warnings', text: 'why: flaky' })
  const keyed = fact(b, 'deploy.region', 'eu') // no channel: not an entry
  const v = views(e3, keyed, e1, e2)
  const all = k.channelEntries(v, now)
  assert.deepEqual(
    all.map((x) => x.value),
    ['retry 3x', 'use batches', 'convex cold starts'],
  )
  assert.equal(all[2]?.fact_id, k.entryFactId(a.author, undefined, 1))
  assert.deepEqual(
    k.channelEntries(v, { ...now, channel: 'warnings', limit: 1 }).map((x) => x.value),
    ['retry 3x'],
  )
  assert.deepEqual(
    k.channelEntries(v, { ...now, tag: 'convex' }).map((x) => x.value),
    ['convex cold starts'],
  )
  assert.deepEqual(
    k.channelEntries(v, { ...now, author: b.author }).map((x) => x.value),
    ['use batches'],
  )
  // an entry is a fact: a retract removes it
  const gone = write(b, 'fact.retract', { fact_id: all[0]?.fact_id as string, observed: [dotOfOp(e3)] })
  const applied = k.apply(v, gone)
  assert.deepEqual(applied.changes[0], { view: 'fact', fact_id: all[0]?.fact_id, channels: ['warnings'] })
  assert.equal(k.channelEntries(v, { ...now, channel: 'warnings' }).length, 1)
})

// ---- rule 6: tickets

test('(6) a conflict has one ticket whose id every replica derives; a third version makes a new one', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const c = createWriter(2)
  const x = fact(a, 'f', 'x')
  const y = fact(b, 'f', 'y', [], {}, t0Ms + 5000)
  const r1 = views(x, y)
  const r2 = views(y, x)
  const [t1] = k.openTickets(r1)
  const [t2] = k.openTickets(r2)
  assert.deepEqual(t1, t2)
  assert.equal(t1?.ticket_id, k.ticketId('f', [dotOfOp(x), dotOfOp(y)]))
  assert.deepEqual(t1?.opened_at, { wallMs: t0Ms + 5000, logical: 0 })
  assert.equal(k.getFact(r1, 'f', now)?.ticket_id, t1?.ticket_id)
  const z = fact(c, 'f', 'z')
  const res = k.apply(r1, z)
  assert.deepEqual(
    res.changes.filter((ch) => ch.view === 'ticket').map((ch) => (ch.view === 'ticket' ? ch.ticket_id : '')),
    [t1?.ticket_id, k.ticketId('f', [dotOfOp(x), dotOfOp(y), dotOfOp(z)])],
  )
  assert.equal(k.openTickets(r1).length, 1)
  assert.equal(k.getTicket(r1, t1?.ticket_id as string), undefined)
})

test('(6) a verified assert that supersedes the live versions resolves the ticket, with time to verify', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const c = createWriter(2)
  const x = fact(a, 'f', 'x', [], {}, t0Ms)
  const y = fact(b, 'f', 'y', [], {}, t0Ms + 1000)
  const ticket = k.ticketId('f', [dotOfOp(x), dotOfOp(y)])
  const verify = fact(c, 'f', 'y', [x, y], { verified: true }, t0Ms + 61_000)
  for (const order of [
    [x, y, verify],
    [verify, y, x],
    [y, verify, x],
  ]) {
    const v = views(...order)
    assert.deepEqual(k.openTickets(v), [])
    const r = k.getFact(v, 'f', now)
    assert.deepEqual(valuesOf(r), ['y'])
    assert.equal(r?.winner.verified, true)
    assert.deepEqual(k.resolvedTickets(v), [
      {
        ticket_id: ticket,
        fact_id: 'f',
        dots: [dotOfOp(x), dotOfOp(y)],
        opened_at: { wallMs: t0Ms + 1000, logical: 0 },
        resolved_by: dotOfOp(verify),
        resolved_at: { wallMs: t0Ms + 61_000, logical: 0 },
        value: 'y',
        time_to_verify_ms: 60_000,
      },
    ])
    assert.equal(k.getTicket(v, ticket)?.state, 'resolved')
  }
  // an unverified assert that supersedes both ends the conflict without resolving a ticket
  const merge = fact(c, 'f', 'x+y', [x, y])
  const v = views(x, y, merge)
  assert.deepEqual(k.openTickets(v), [])
  assert.deepEqual(k.resolvedTickets(v), [])
  // two verifiers of the same versions: the ticket is resolved once, by the earlier
  const d = createWriter(3)
  const verify2 = fact(d, 'f', 'x', [x, y], { verified: true }, t0Ms + 90_000)
  const both = views(x, y, verify2, verify)
  assert.deepEqual(
    k.resolvedTickets(both).map((t) => t.resolved_by),
    [dotOfOp(verify)],
  )
  // and the two verified values now conflict: a new ticket
  assert.deepEqual(
    k.openTickets(both).map((t) => t.dots),
    [[dotOfOp(verify), dotOfOp(verify2)].sort(k.compareDotRefs as (p: string, q: string) => number)],
  )
})

// ---- rule 7: trust

test('(7) trust: versions that a verified assert of another author superseded, agreeing or not', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const c = createWriter(2)
  const x = fact(a, 'f', 'right')
  const y = fact(b, 'f', 'wrong')
  const own = fact(c, 'f', 'mine')
  const verify = fact(c, 'f', 'right', [x, y, own], { verified: true })
  for (const order of [
    [x, y, own, verify],
    [verify, own, y, x],
  ]) {
    const v = views(...order)
    assert.deepEqual(k.trustOf(v, a.author), { author: a.author, agreed: 1, disagreed: 0, score: 1 })
    assert.deepEqual(k.trustOf(v, b.author), { author: b.author, agreed: 0, disagreed: 1, score: -1 })
    assert.deepEqual(k.trustOf(v, c.author), { author: c.author, agreed: 0, disagreed: 0, score: 0 }) // own version: no count
    assert.deepEqual(
      k.trustRows(v).map((t) => t.author),
      [a.author, b.author],
    )
  }
})

// ---- rule 8: read winner and TTL

test('(8) read winner: verified > trust > later HLC > greater author', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const c = createWriter(2)
  // later HLC wins among equals
  const old = fact(a, 'f', 'older', [], {}, t0Ms)
  const newer = fact(b, 'f', 'newer', [], {}, t0Ms + 10)
  assert.equal(k.getFact(views(old, newer), 'f', now)?.value, 'newer')
  // the same HLC: the greater author wins
  const same1 = fact(createWriter(0), 'g', 'by a', [], {}, t0Ms)
  const same2 = fact(createWriter(1), 'g', 'by b', [], {}, t0Ms)
  assert.equal(k.getFact(views(same1, same2), 'g', now)?.value, 'by b')
  // verified beats a later unverified version
  const checked = fact(a, 'h', 'checked', [], { verified: true }, t0Ms + 20)
  const later = fact(b, 'h', 'later', [], {}, t0Ms + 30)
  const h = k.getFact(views(checked, later), 'h', now)
  assert.equal(h?.value, 'checked')
  assert.equal(h?.conflict, true) // still a conflict: the verified version did not supersede the other
  // trust beats HLC: c earned trust on another fact, so its older version wins over b's newer one
  const p1 = fact(c, 'p', 1, [], {}, t0Ms + 40)
  const pv = fact(a, 'p', 1, [p1], { verified: true }, t0Ms + 50)
  const q1 = fact(c, 'q', 'c says', [], {}, t0Ms + 60)
  const q2 = fact(b, 'q', 'b says', [], {}, t0Ms + 70)
  const v = views(p1, pv, q1, q2)
  assert.equal(k.trustOf(v, c.author).score, 1)
  const q = k.getFact(v, 'q', now)
  assert.equal(q?.value, 'c says')
  assert.deepEqual(
    q?.versions.map((x) => x.trust),
    [1, 0],
  )
})

test('(8) TTL: a version is stale from created_at + ttl; hidden unless includeStale, and never the winner over a fresh one', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const short = fact(a, 'f', 'short-lived', [], { ttl_seconds: 60, verified: true }, t0Ms)
  const v = views(short)
  const expires = t0Ms + 60_000
  assert.equal(k.getFact(v, 'f', { nowMs: expires - 1 })?.winner.stale, false)
  assert.equal(k.getFact(v, 'f', { nowMs: expires }), undefined)
  const shown = k.getFact(v, 'f', { nowMs: expires, includeStale: true })
  assert.equal(shown?.winner.stale, true)
  assert.equal(shown?.winner.expires_at_ms, expires)
  // a fresh unverified version wins over a stale verified one, even with includeStale
  k.apply(v, fact(b, 'f', 'fresh', [], {}, t0Ms + 1000))
  assert.equal(k.getFact(v, 'f', { nowMs: expires, includeStale: true })?.value, 'fresh')
  assert.equal(k.getFact(v, 'f', { nowMs: expires - 1 })?.value, 'short-lived')
  assert.deepEqual(valuesOf(k.getFact(v, 'f', { nowMs: expires })), ['fresh'])
  // channel entries too
  const e = fact(a, undefined, 'temporary warning', [], { channel: 'warnings', ttl_seconds: 1 }, t0Ms + 5000)
  k.apply(v, e)
  assert.equal(k.channelEntries(v, { nowMs: t0Ms + 5999 }).length, 1)
  assert.equal(k.channelEntries(v, { nowMs: t0Ms + 6000 }).length, 0)
  assert.equal(k.channelEntries(v, { nowMs: t0Ms + 6000, includeStale: true })[0]?.stale, true)
  // the rows themselves do not depend on time
  assert.equal(k.dump(v).versions.length, 3)
})

// ---- rule 9: status, agents, config

test('(9) status and agent name: the author’s latest op', () => {
  const a = createWriter(0)
  const s1 = write(a, 'status.set', { text: 'building', health: 'ok', working_on: 'frontend' })
  const s2 = write(a, 'status.set', { text: 'stuck on auth', health: 'blocked' })
  const h1 = write(a, 'agent.hello', { name: 'london-1' })
  const h2 = write(a, 'agent.hello', { name: 'london-2' })
  const v = views(s2, h2, s1, h1)
  assert.deepEqual(k.statusOf(v, a.author), {
    author: a.author,
    text: 'stuck on auth',
    health: 'blocked',
    working_on: null,
    updated_at: s2.op.hlc,
    dot: dotOfOp(s2),
  })
  assert.equal(k.agentOf(v, a.author)?.name, 'london-2')
  assert.equal(k.statusOf(v, testAuthor(1)), undefined)
})

test('(9) config: the highest version wins, a lower one never does; equal versions: later HLC', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const v5 = write(a, 'config.set', { key: 'retries', value: 5, version: 5 }, { atMs: t0Ms })
  const v3late = write(b, 'config.set', { key: 'retries', value: 3, version: 3 }, { atMs: t0Ms + 60_000 })
  const v = views(v3late, v5)
  assert.equal(k.getConfig(v, 'retries')?.value, 5)
  const v5b = write(b, 'config.set', { key: 'retries', value: 6, version: 5 }, { atMs: t0Ms + 70_000 })
  k.apply(v, v5b)
  assert.equal(k.getConfig(v, 'retries')?.value, 6)
  assert.deepEqual(
    k.listConfigs(v).map((c) => [c.key, c.version, c.author]),
    [['retries', 5, b.author]],
  )
})

// ---- rule 10: tasks

test('(10) tasks: concurrent claims have one winner, the earliest; the loser sees it lost', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const create = write(
    a,
    'task.create',
    { task_id: 'build', title: 'build frontend', depends: [] },
    { atMs: t0Ms },
  )
  const claimB = write(b, 'task.claim', { task_id: 'build' }, { atMs: t0Ms + 100 })
  const claimA = write(a, 'task.claim', { task_id: 'build' }, { atMs: t0Ms + 200 })
  for (const order of [
    [create, claimA, claimB],
    [claimB, claimA, create],
  ]) {
    const t = k.getTask(views(...order), 'build') as k.TaskRow
    assert.equal(t.state, 'claimed')
    assert.equal(t.claimed_by, b.author)
    assert.equal(k.claimOutcome(t, b.author), 'won')
    assert.equal(k.claimOutcome(t, a.author), 'lost')
    assert.equal(k.claimOutcome(t, testAuthor(2)), 'none')
  }
  // b releases: a's claim, still active, wins; a's release does not release b's claim
  const releaseB = write(b, 'task.release', { task_id: 'build' })
  assert.equal(k.getTask(views(create, claimA, claimB, releaseB), 'build')?.claimed_by, a.author)
  const releaseA = write(a, 'task.release', { task_id: 'build' })
  const t = k.getTask(views(create, claimA, claimB, releaseA), 'build')
  assert.equal(t?.claimed_by, b.author)
  assert.equal(t?.claims.length, 1)
  const open = k.getTask(views(create, claimA, claimB, releaseA, releaseB), 'build')
  assert.equal(open?.state, 'open')
  // a claim after one's own release is active again
  const again = write(a, 'task.claim', { task_id: 'build' })
  assert.equal(k.getTask(views(create, claimA, releaseA, again), 'build')?.claimed_by, a.author)
})

test('(10) tasks: ready when every dependency is done and nobody holds it; done is for good', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const t1 = write(a, 'task.create', { task_id: 'build', title: 'build frontend', depends: [] })
  const t2 = write(a, 'task.create', {
    task_id: 'push',
    title: 'push to staging',
    depends: ['build'],
    assignee: 'bob',
  })
  const t3 = write(a, 'task.create', {
    task_id: 'later',
    title: 'needs a task nobody made',
    depends: ['ghost'],
  })
  const v = views(t1, t2, t3)
  assert.deepEqual(
    k.readyTasks(v).map((t) => t.task_id),
    ['build'],
  )
  const claim = write(b, 'task.claim', { task_id: 'build' })
  k.apply(v, claim)
  assert.deepEqual(k.readyTasks(v), [])
  const done = write(b, 'task.done', { task_id: 'build', result: { url: 'https://staging' } })
  k.apply(v, done)
  const built = k.getTask(v, 'build')
  assert.equal(built?.state, 'done')
  assert.deepEqual(built?.result, { url: 'https://staging' })
  assert.equal(built?.done_by, b.author)
  assert.deepEqual(
    k.readyTasks(v).map((t) => t.task_id),
    ['push'],
  )
  k.apply(v, write(b, 'task.release', { task_id: 'build' }))
  assert.equal(k.getTask(v, 'build')?.state, 'done')
  assert.deepEqual(
    k.listTasks(v, { mine: { author: b.author, name: 'bob' } }).map((t) => t.task_id),
    ['push'],
  )
  assert.deepEqual(
    k.listTasks(v, { mine: { author: b.author } }).map((t) => t.task_id),
    [],
  )
  // a claim before the create arrives is kept; the task exists from its create
  const w = createWriter(2)
  const early = write(w, 'task.claim', { task_id: 'x' })
  const late = write(a, 'task.create', { task_id: 'x', title: 'x', depends: [] })
  const v2 = views(early)
  assert.equal(k.getTask(v2, 'x'), undefined)
  k.apply(v2, late)
  assert.equal(k.getTask(v2, 'x')?.claimed_by, w.author)
})

test('(10) tasks: title, depends and assignee are LWW over creates; created_by is the earliest', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const c1 = write(a, 'task.create', { task_id: 't', title: 'first', depends: [] }, { atMs: t0Ms })
  const c2 = write(
    b,
    'task.create',
    { task_id: 't', title: 'second', depends: ['u'], assignee: 'carol' },
    { atMs: t0Ms + 5 },
  )
  const t = k.getTask(views(c2, c1), 't')
  assert.equal(t?.title, 'second')
  assert.deepEqual(t?.depends, ['u'])
  assert.equal(t?.assignee, 'carol')
  assert.equal(t?.created_by, a.author)
})

// ---- rule 11: counters

test('(11) counters: per-author sums of increments and decrements', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const v = views(
    write(a, 'counter.add', { name: 'deploys', n: 5 }),
    write(b, 'counter.add', { name: 'deploys', n: -2 }),
    write(a, 'counter.add', { name: 'deploys', n: -1 }),
    write(b, 'counter.add', { name: 'other', n: 1 }),
  )
  assert.deepEqual(k.getCounter(v, 'deploys'), {
    name: 'deploys',
    value: 2,
    authors: [
      { name: 'deploys', author: a.author, p: 5, n: 1 },
      { name: 'deploys', author: b.author, p: 0, n: 2 },
    ],
  })
  assert.equal(k.getCounter(v, 'none'), undefined)
  assert.deepEqual(
    k.listCounters(v).map((c) => [c.name, c.value]),
    [
      ['deploys', 2],
      ['other', 1],
    ],
  )
  assert.equal(
    k.counterValue([
      { name: 'x', author: a.author, p: Number.MAX_SAFE_INTEGER, n: 0 },
      { name: 'x', author: b.author, p: 0, n: Number.MAX_SAFE_INTEGER },
    ]),
    0,
  )
})

// ---- as_of

test('as_of: views of the ops recorded at or before T', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const x = fact(a, 'f', 'x', [], {}, t0Ms)
  const y = fact(b, 'f', 'y', [x], {}, t0Ms + 10_000)
  const ops = [x, y]
  assert.equal(k.getFact(k.viewsOf(k.opsAsOf(ops, t0Ms + 9_999)), 'f', now)?.value, 'x')
  assert.equal(k.getFact(k.viewsOf(k.opsAsOf(ops, t0Ms + 10_000)), 'f', now)?.value, 'y')
  assert.equal(k.getFact(k.viewsOf(k.opsAsOf(ops, t0Ms - 1)), 'f', now), undefined)
})

test('apply reports the rows it changed', () => {
  const a = createWriter(0)
  const b = createWriter(1)
  const c = createWriter(2)
  const v = k.createViews()
  const x = fact(a, 'f', 'x', [], { channel: 'warnings' })
  assert.deepEqual(k.apply(v, x).changes, [{ view: 'fact', fact_id: 'f', channels: ['warnings'] }])
  const y = fact(b, 'f', 'y')
  const ticket = k.ticketId('f', [dotOfOp(x), dotOfOp(y)])
  assert.deepEqual(k.apply(v, y).changes, [
    { view: 'ticket', ticket_id: ticket, fact_id: 'f' },
    { view: 'fact', fact_id: 'f', channels: ['warnings'] },
  ])
  const verify = fact(c, 'f', 'y', [x, y], { verified: true })
  assert.deepEqual(k.apply(v, verify).changes, [
    { view: 'trust', author: a.author },
    { view: 'trust', author: b.author },
    { view: 'ticket', ticket_id: ticket, fact_id: 'f' },
    { view: 'fact', fact_id: 'f', channels: ['warnings'] },
  ])
  assert.deepEqual(k.apply(v, write(a, 'task.claim', { task_id: 't' }, { key: 'k' })).changes, [
    { view: 'idempotency', author: a.author, idempotency_key: 'k' },
    { view: 'task', task_id: 't' },
  ])
})
