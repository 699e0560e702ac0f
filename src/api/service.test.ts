import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import { opLog } from '../store/index.ts'
import * as service from './service.ts'
import { ServiceError } from './service.ts'

const root = mkdtempSync(join(tmpdir(), 'grapevine-svc-'))
after(() => rmSync(root, { recursive: true, force: true }))
let homes = 0

function open(): Local {
  let t = 1_800_000_000_000
  const l = local.openLocal(join(root, `h${homes++}`), { nowMs: () => t++ })
  assert.ok(l.ok)
  return l.value
}

/** Runs fn and returns the ServiceError it throws (failing if it throws none, or another error). */
function refused(fn: () => unknown): ServiceError {
  try {
    fn()
  } catch (e) {
    assert.ok(e instanceof ServiceError, `not a ServiceError: ${String(e)}`)
    return e
  }
  assert.fail('no error')
}

test('service: publish, tail, search, fact set/get/history/retract through call() with outside input', () => {
  const l = open()
  const p = service.call(l, 'publish', { text: 'convex cold starts after 2h', channel: 'warnings', tags: ['convex'], ttl: '7d' }) as Record<string, unknown>
  assert.equal(p['written'], true)
  assert.equal(p['channel'], 'warnings')
  assert.equal(p['ttl_seconds'], 7 * 86_400)
  const tail = service.call(l, 'tail', { n: '5' }) as Record<string, unknown>[]
  assert.deepEqual(tail.map((e) => e['fact_id']), [p['fact_id']])
  const hits = service.call(l, 'search', { q: 'convex', limit: 3 }) as Record<string, unknown>[]
  assert.equal(hits.length, 1)
  const set = service.call(l, 'factSet', { id: 'deploy.region', value: 'eu-west-1' }) as Record<string, unknown>
  assert.equal(set['value'], 'eu-west-1')
  service.call(l, 'factSet', { id: 'deploy.region', value: { r: 2 } })
  const got = service.call(l, 'factGet', { id: 'deploy.region' }) as Record<string, unknown>
  assert.deepEqual(got['value'], { r: 2 })
  assert.equal((got['versions'] as unknown[]).length, 1, 'a set supersedes the version seen here')
  assert.equal((service.call(l, 'factHistory', { id: 'deploy.region' }) as unknown[]).length, 2)
  const rt = service.call(l, 'factRetract', { id: 'deploy.region', reason: 'moved' }) as Record<string, unknown>
  assert.equal((rt['retracted'] as unknown[]).length, 1)
  assert.match(refused(() => service.call(l, 'factGet', { id: 'deploy.region' })).message, /no live version/)
  local.closeLocal(l)
})

test('service: bad input is bad_input with the CLI parsers\' messages; missing things are not_found; refused states conflict', () => {
  const l = open()
  const cases: [service.OpName, unknown, RegExp][] = [
    ['publish', { text: 'x', channel: 'gossip' }, /unknown channel "gossip": use one of discoveries, patterns, warnings/],
    ['publish', { text: 'x', ttl: '3 days' }, /bad duration "3 days"/],
    ['publish', { text: '  ' }, /nothing to publish/],
    ['publish', { text: 'x', idempotency_key: '' }, /bad idempotency key/],
    ['publish', { text: 'x', tags: ['a b'] }, /whitespace/],
    ['publish', { text: 5 }, /^bad publish input: text: /],
    ['publish', { text: 'x', colour: 'red' }, /colour/],
    ['tail', { n: 0 }, /bad count "0": use a whole number from 1 to 10000/],
    ['tail', { include_stale: 'yes' }, /include_stale/],
    ['search', { q: '!!' }, /at least one word/],
    ['search', { q: 'x', author: 'nobody' }, /no agent named "nobody"/],
    ['counterAdd', { name: 'c', n: 0 }, /bad counter step "0"/],
    ['statusSet', { text: 'x', health: 'fine' }, /unknown health "fine"/],
    ['factGet', { id: 'x', as_of: 'yesterday' }, /bad time "yesterday"/],
  ]
  for (const [name, input, message] of cases) {
    const e = refused(() => service.call(l, name, input))
    assert.equal(e.kind, 'bad_input', `${name} ${JSON.stringify(input)}`)
    assert.match(e.message, message, `${name} ${JSON.stringify(input)}`)
  }
  assert.equal(refused(() => service.call(l, 'factGet', { id: 'nope' })).kind, 'not_found')
  assert.equal(refused(() => service.call(l, 'taskClaim', { id: 'nope' })).kind, 'not_found')
  const t = service.call(l, 'taskAdd', { title: 'build' }) as Record<string, unknown>
  const id = t['task_id'] as string
  assert.equal(refused(() => service.call(l, 'taskRelease', { id })).kind, 'conflict')
  assert.equal((service.call(l, 'taskClaim', { id }) as Record<string, unknown>)['outcome'], 'won')
  service.call(l, 'taskDone', { id, result: { ok: true } })
  assert.equal(refused(() => service.call(l, 'taskDone', { id })).kind, 'conflict')
  assert.equal(refused(() => service.call(l, 'taskClaim', { id })).kind, 'conflict')
  local.closeLocal(l)
})

test('service: tasks, counters, status and fleet, log and metrics', () => {
  const l = open()
  const a = service.taskAdd(l, { title: 'build' })
  const b = service.taskAdd(l, { title: 'ship', depends: [a['task_id'] as string] })
  assert.deepEqual((service.call(l, 'taskList', { ready: 'true' }) as Record<string, unknown>[]).map((t) => t['task_id']), [a['task_id']])
  const notes: string[] = []
  const claim = service.call(l, 'taskClaim', { id: b['task_id'] }, (m) => notes.push(m)) as Record<string, unknown>
  assert.equal(claim['outcome'], 'won')
  assert.match(notes.join('\n'), /waits for/)
  assert.deepEqual(service.call(l, 'counterAdd', { name: 'runs', n: '-3' }), { name: 'runs', value: -3, added: -3 })
  assert.equal((service.call(l, 'counterGet', { name: 'runs' }) as { value: number }).value, -3)
  const s = service.call(l, 'statusSet', { text: 'building', health: 'degraded', working_on: a['task_id'] }) as Record<string, unknown>
  assert.equal(s['health'], 'degraded')
  const fleet = service.call(l, 'fleet', {}) as service.FleetRow[]
  assert.equal(fleet.length, 1)
  assert.equal(fleet[0]?.me, true)
  assert.equal(fleet[0]?.status, 'building')
  const ops = service.call(l, 'log', { n: 3 }) as Record<string, unknown>[]
  assert.equal(ops.length, 3)
  assert.equal(ops[0]?.['kind'], 'status.set')
  const m = service.call(l, 'metrics', undefined) as { ops: number; conflict_rate: number | null }
  assert.ok(m.ops >= 6)
  local.closeLocal(l)
})

test('service: a concurrent write is a conflict; verify by ticket resolves it, and a second verify is a conflict', () => {
  const a = open()
  const b = open()
  service.factSet(a, { id: 'k', value: 1 })
  service.factSet(b, { id: 'k', value: 2 })
  // b's ops reach a (what gossip does)
  const fromB = [...service.recentOps(b, { n: 10 })].reverse()
  assert.ok(opLog.ingest(a.store, fromB, a.clock.nowMs()).ok)
  const c = service.conflicts(a) as Record<string, unknown>[]
  assert.equal(c.length, 1)
  const ticket = c[0]?.['ticket_id'] as string
  const v = service.call(a, 'verify', { id: ticket, value: 3 }) as { resolved_ticket: string | null; fact: Record<string, unknown> }
  assert.equal(v.resolved_ticket, ticket)
  assert.equal(v.fact['value'], 3)
  assert.equal(refused(() => service.call(a, 'verify', { id: ticket, value: 4 })).kind, 'conflict')
  local.closeLocal(a)
  local.closeLocal(b)
})
