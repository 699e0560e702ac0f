import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as core from '../core/index.ts'
import type { Json } from '../core/index.ts'
import * as log from '../log/index.ts'
import * as k from './index.ts'
import { createWriter, testAuthor, write } from './knowledge.test-util.ts'

const a = testAuthor(0)
const dot1 = `${a}:1`

/** The first issue of a refused body: [field, message]. */
function refusal(kind: string, body: unknown): [string, string, string] {
  const r = k.parseBody(kind, body)
  assert.equal(r.ok, false, `expected ${kind} ${JSON.stringify(body)} to be refused`)
  if (r.ok) throw new Error('unreachable')
  return [r.reason, r.field, r.detail]
}

const okAssert = { fact_id: 'deploy.region', value: 'eu-west-1', supersedes: [], verified: false }

test('kinds: every kind accepts a well-formed body', () => {
  const bodies: Record<k.KindName, Json> = {
    'fact.assert': {
      ...okAssert,
      supersedes: [dot1],
      ttl_seconds: 3600,
      valid_from: 0,
      valid_to: 10,
      causal_id: 'task-7',
      channel: 'warnings',
      tags: ['convex', 'cold-start'],
      text: 'Convex cold-starts after 2h idle',
    },
    'fact.retract': { fact_id: 'deploy.region', observed: [dot1], reason: 'wrong' },
    'status.set': { text: 'building', health: 'ok', working_on: 'frontend' },
    'task.create': { task_id: 't2', title: 'push to staging', depends: ['t1'], assignee: 'bob' },
    'task.claim': { task_id: 't2' },
    'task.release': { task_id: 't2' },
    'task.done': { task_id: 't2', result: { url: 'https://x' } },
    'counter.add': { name: 'deploys', n: -3 },
    'config.set': { key: 'retries', value: 3, version: 7 },
    'agent.hello': { name: 'london-1' },
  }
  for (const kind of k.kindNames) {
    const r = k.parseBody(kind, bodies[kind])
    assert.ok(r.ok, r.ok ? '' : r.detail)
    assert.equal(r.value.kind, kind)
  }
  // a channel entry needs no fact_id
  assert.ok(
    k.parseBody('fact.assert', { value: 'x', supersedes: [], verified: false, channel: 'patterns' }).ok,
  )
})

test('kinds: refusals name the field and what was wrong', () => {
  const cases: [string, unknown, string, RegExp][] = [
    ['fact.assert', { ...okAssert, fact_id: undefined }, 'fact_id', /is required unless channel is set/],
    ['fact.assert', { ...okAssert, fact_id: '' }, 'fact_id', /must not be empty/],
    ['fact.assert', { ...okAssert, fact_id: 'x'.repeat(257) }, 'fact_id', /257 bytes, over the limit of 256/],
    ['fact.assert', { ...okAssert, fact_id: 'é'.repeat(129) }, 'fact_id', /258 bytes, over the limit of 256/],
    ['fact.assert', { ...okAssert, fact_id: 'a\nb' }, 'fact_id', /control characters/],
    ['fact.assert', { ...okAssert, fact_id: ' a' }, 'fact_id', /whitespace/],
    ['fact.assert', { ...okAssert, fact_id: 7 }, 'fact_id', /must be a fact id \(a string\), not number 7/],
    ['fact.assert', { fact_id: 'f', supersedes: [], verified: false }, 'value', /is required/],
    ['fact.assert', { ...okAssert, value: 'x'.repeat(40_000) }, 'value', /over the limit of 32768/],
    ['fact.assert', { ...okAssert, verified: 'yes' }, 'verified', /must be true or false/],
    ['fact.assert', { ...okAssert, supersedes: undefined }, 'supersedes', /is required/],
    ['fact.assert', { ...okAssert, supersedes: ['abc:1'] }, 'supersedes[0]', /must be a dot ref/],
    ['fact.assert', { ...okAssert, supersedes: [`${a}:01`] }, 'supersedes[0]', /no leading zero/],
    ['fact.assert', { ...okAssert, supersedes: [`${a}:0`] }, 'supersedes[0]', /seq >= 1/],
    ['fact.assert', { ...okAssert, supersedes: [dot1, dot1] }, 'supersedes[1]', /repeats the dot/],
    [
      'fact.assert',
      { ...okAssert, supersedes: Array.from({ length: 65 }, (_, i) => `${a}:${i + 1}`) },
      'supersedes',
      /more than 64 dots/,
    ],
    ['fact.assert', { ...okAssert, ttl_seconds: 0 }, 'ttl_seconds', /at least 1 second/],
    ['fact.assert', { ...okAssert, ttl_seconds: 1.5 }, 'ttl_seconds', /whole number of seconds/],
    ['fact.assert', { ...okAssert, ttl_seconds: 1e12 }, 'ttl_seconds', /10 years/],
    ['fact.assert', { ...okAssert, channel: 'gossip' }, 'channel', /one of discoveries, patterns, warnings/],
    ['fact.assert', { ...okAssert, tags: ['a b'] }, 'tags[0]', /whitespace/],
    ['fact.assert', { ...okAssert, tags: ['x'.repeat(65)] }, 'tags[0]', /65 bytes, over the limit of 64/],
    ['fact.assert', { ...okAssert, tags: ['a', 'a'] }, 'tags[1]', /repeats the tag "a"/],
    [
      'fact.assert',
      { ...okAssert, tags: Array.from({ length: 17 }, (_, i) => `t${i}`) },
      'tags',
      /more than 16 tags/,
    ],
    ['fact.assert', { ...okAssert, valid_from: 10, valid_to: 5 }, 'valid_to', /before valid_from/],
    ['fact.assert', { ...okAssert, valid_from: -1 }, 'valid_from', />= 0/],
    [
      'fact.assert',
      { ...okAssert, valu: 1 },
      'valu',
      /is not a field of fact.assert \(its fields: fact_id, value/,
    ],
    [
      'fact.assert',
      'just a string',
      'body',
      /^fact.assert: body must be an object, not the string "just a string"$/,
    ],
    ['fact.retract', { fact_id: 'f', observed: [] }, 'observed', /at least one version/],
    ['status.set', { text: 'x', health: 'fine' }, 'health', /one of ok, degraded, blocked/],
    ['task.create', { task_id: 't', title: 'x', depends: ['t'] }, 'depends[0]', /names the task itself/],
    ['task.create', { task_id: 't', title: 'x' }, 'depends', /is required/],
    ['task.create', { task_id: 't', title: 'x', depends: ['u', 'u'] }, 'depends[1]', /repeats the task id/],
    ['counter.add', { name: 'c', n: 0 }, 'n', /non-zero integer/],
    ['counter.add', { name: 'c', n: 2e9 }, 'n', /non-zero integer from -1000000000/],
    ['config.set', { key: 'k', value: 1, version: -1 }, 'version', />= 0/],
    ['agent.hello', { name: 'x'.repeat(65) }, 'name', /over the limit of 64/],
  ]
  for (const [kind, body, field, message] of cases) {
    const [reason, f, detail] = refusal(kind, body)
    assert.equal(reason, 'invalid_body')
    assert.equal(f, field, `${kind} ${JSON.stringify(body)?.slice(0, 80)}: ${detail}`)
    assert.match(detail, message)
    assert.ok(detail.startsWith(`${kind}: ${field} `), detail)
  }
})

test('kinds: an unknown kind is its own reason, listing the known ones', () => {
  const [reason, field, detail] = refusal('fact.upsert', {})
  assert.equal(reason, 'unknown_kind')
  assert.equal(field, 'kind')
  assert.match(detail, /known: fact\.assert, fact\.retract/)
})

test('kinds: every issue is listed, the first in detail', () => {
  const r = k.parseBody('fact.assert', { fact_id: '', value: 1, supersedes: 'x', verified: 1, extra: 2 })
  assert.ok(!r.ok)
  assert.deepEqual(
    r.issues.map((i) => i.field),
    ['fact_id', 'supersedes', 'verified', 'extra'],
  )
  assert.match(r.detail, /\(and 3 more\)$/)
})

test('kinds: parseOp refuses a dot of the op’s own author that is not before the op', () => {
  const w = createWriter(0)
  write(w, 'agent.hello', { name: 'a' })
  const self = write(w, 'fact.assert', { fact_id: 'f', value: 1, supersedes: [`${a}:2`], verified: false })
  const r = k.parseOp(self.op)
  assert.ok(!r.ok)
  assert.equal(r.field, 'supersedes[0]')
  assert.match(r.detail, /not before this op/)
  const ok = write(w, 'fact.retract', { fact_id: 'f', observed: [`${a}:1`, `${testAuthor(1)}:99`] })
  assert.ok(k.parseOp(ok.op).ok)
})

test('kinds: draftBody drops absent optional fields and checks like parseBody', () => {
  const r = k.draftBody('fact.assert', {
    fact_id: 'f',
    value: 1,
    supersedes: [],
    verified: true,
    ttl_seconds: undefined,
  })
  assert.ok(r.ok)
  assert.deepEqual(r.value, {
    kind: 'fact.assert',
    body: { fact_id: 'f', value: 1, supersedes: [], verified: true },
  })
  const bad = k.draftBody(
    'fact.assert',
    JSON.parse('{"__proto__": {"x": 1}, "fact_id": "f", "value": 1, "supersedes": [], "verified": true}'),
  )
  assert.ok(!bad.ok)
  assert.equal(bad.field, '__proto__')
})

test('dot refs: canonical form, order by author then seq as a number', () => {
  assert.equal(k.formatDot({ node: a, seq: 12 }), `${a}:12`)
  assert.deepEqual(k.parseDotRef(`${a}:12`), { node: a, seq: 12 })
  for (const bad of [
    `${a}:`,
    `${a}:0`,
    `${a}:012`,
    `${a.toUpperCase()}:1`,
    `${a}:1 `,
    `${a}:99999999999999999`,
    3,
  ])
    assert.equal(k.parseDotRef(bad), undefined, String(bad))
  const b = testAuthor(1)
  const sorted = [`${b}:1`, `${a}:10`, `${a}:9`].sort(k.compareDotRefs as (x: string, y: string) => number)
  assert.deepEqual(sorted, [`${a}:9`, `${a}:10`, `${b}:1`])
})

test('ids: derived ids are stable (golden values) and independent of dot order', () => {
  // Golden values: another implementation (the store, a script) must derive exactly these.
  assert.equal(k.entryFactId(a, 'k1', 5), k.entryFactId(a, 'k1', 9))
  assert.notEqual(k.entryFactId(a, undefined, 5), k.entryFactId(a, undefined, 6))
  assert.match(k.entryFactId(a, undefined, 5), /^[0-9a-f]{32}$/)
  const d = [`${testAuthor(1)}:2`, `${a}:10`, `${a}:9`] as k.DotRef[]
  assert.equal(k.ticketId('f', d), k.ticketId('f', [...d].reverse()))
  assert.notEqual(k.ticketId('f', d), k.ticketId('g', d))
  assert.equal(k.entryFactId(a, 'k1', 1), GOLDEN.entryKey)
  assert.equal(k.entryFactId(a, undefined, 1), GOLDEN.entryDot)
  assert.equal(k.ticketId('deploy.region', d), GOLDEN.ticket)
  // ids hash the UTF-8 bytes of their input (log hashTextHex): non-ASCII keys as SHA-256 of their encoding
  for (const key of ['é☃', '日本', '😀 x', ''])
    assert.equal(
      k.entryFactId(a, key, 1),
      log.toHex(log.hashOp(new TextEncoder().encode(`grapevine/entry/key\n${a}\n${key}`))).slice(0, 32),
    )
})

/** Checked with coreutils: printf 'grapevine/ticket\ndeploy.region\n<a…a>:9\n<a…a>:10\n<b…b>:2' | sha256sum */
const GOLDEN = {
  entryKey: '29f64ed1d94b8627bb3739d36073d6f3',
  entryDot: '0531376e64209147a1e22b06c3ffd9fd',
  ticket: '4085725b0ed46a75e3bfae86e4118263',
}

test('string order is code point order (UTF-8 byte order, as SQLite BINARY)', () => {
  const xs = ['\u{1F600}', '\uFFFD', 'b', 'a', 'ab']
  assert.deepEqual([...xs].sort(k.compareStrings), ['a', 'ab', 'b', '\uFFFD', '\u{1F600}'])
  const bytes = (s: string) => Buffer.from(s, 'utf8')
  assert.deepEqual(
    [...xs].sort(k.compareStrings),
    [...xs].sort((x, y) => Buffer.compare(bytes(x), bytes(y))),
  )
})

test('kinds: a value at the size limit passes and one byte over is refused, whatever its shape', () => {
  // the check first bounds a value's size without encoding it; the limit must stay exact
  const coreEncodedLength = (v: Json): number => core.json.encode(v).length
  const shapes: ((n: number) => Json)[] = [
    (n) => 'x'.repeat(n), // ascii
    (n) => `${'é'.repeat(Math.floor(n / 2))}${n % 2 === 1 ? 'x' : ''}`, // 2-byte UTF-8
    (n) => ({ a: 'x'.repeat(n), b: [1, 2.5, null, true, { c: '€' }] }), // nested
    (n) => ['😀'.repeat(Math.floor(n / 4)), 'y'.repeat(n % 4)], // 4-byte UTF-8, 2 UTF-16 units each
  ]
  for (const shape of shapes) {
    // find the payload length whose encoded size is exactly the limit (sizes grow by 1 per unit of n,
    // up to the multi-byte steps, so search for the largest n within the limit)
    let n = 0
    const bytes = (x: number): number => coreEncodedLength(shape(x))
    while (bytes(n + 4096) <= k.valueBytesMax) n += 4096
    while (bytes(n + 1) <= k.valueBytesMax) n++
    const at = shape(n)
    assert.ok(bytes(n) <= k.valueBytesMax)
    assert.ok(k.parseBody('fact.assert', { ...okAssert, value: at }).ok, `${bytes(n)} bytes`)
    let m = n + 1
    while (bytes(m) <= k.valueBytesMax) m++
    const over = k.parseBody('fact.assert', { ...okAssert, value: shape(m) })
    assert.equal(over.ok, false)
    if (!over.ok) assert.match(over.detail, new RegExp(`value is ${bytes(m)} bytes encoded, over the limit`))
  }
})

/**
 * The ingest path's hand-written checks (fastBody) against the zod schemas (parseBody), on bodies made
 * from a valid one per kind by seeded random mutations (a field set to an edge value, dropped, or an
 * unknown field added; one to three at once): both must accept and refuse the same bodies, and what the
 * hand-written checks accept must equal zod's output. parseOp must answer as zod-only parsing did.
 */
test('kinds: the hand-written checks accept exactly what the zod schemas accept', () => {
  const dot2 = `${a}:2`
  const other = `${testAuthor(1)}:5`
  const base: Record<k.KindName, Record<string, Json>> = {
    'fact.assert': {
      fact_id: 'deploy.region', value: 'eu-west-1', supersedes: [dot1], verified: true, ttl_seconds: 60,
      valid_from: 5, valid_to: 9, causal_id: 'c-1', channel: 'patterns', tags: ['x', 'y'], text: 'hello',
    },
    'fact.retract': { fact_id: 'f', observed: [dot1], reason: 'wrong' },
    'status.set': { text: 'building', health: 'degraded', working_on: 'frontend' },
    'task.create': { task_id: 't2', title: 'push', depends: ['t1'], assignee: 'bob' },
    'task.claim': { task_id: 't2' },
    'task.release': { task_id: 't2' },
    'task.done': { task_id: 't2', result: { ok: true } },
    'counter.add': { name: 'deploys', n: 3 },
    'config.set': { key: 'retries', value: [1, 'two'], version: 0 },
    'agent.hello': { name: 'london-1' },
  }
  const edges: Json[] = [
    '', ' ', 'a', ' a', 'a ', 'a b', 'a\nb', 'a\u0085b', '\u00a0a', 'é', 'x'.repeat(64), 'x'.repeat(65),
    'x'.repeat(128), 'x'.repeat(129), 'x'.repeat(256), 'x'.repeat(257), 'é'.repeat(32), 'é'.repeat(33),
    'é'.repeat(128), 'é'.repeat(129), 'x'.repeat(1024), 'x'.repeat(1025), 'x'.repeat(16 * 1024 + 1),
    'x'.repeat(40_000), 'discoveries', 'warnings', 'gossip', 'ok', 'blocked', 'fine', 't2', 't1', dot1, `${a}:0`,
    `${a}:01`, 'abc:1', 0, -0, 1, -1, 1.5, 59, 315_576_000, 315_576_001, 1_000_000_000, -1_000_000_000,
    1_000_000_001, 2 ** 53, 2 ** 53 - 1, 1e21, true, false, null, [], [dot1], [dot1, dot1], [dot1, dot2],
    [other], ['abc:1'], ['a', 'b'], ['a', 'a'], ['t2'], ['t1', 't3'], ['a b'], [''], [1], ['x'.repeat(65)],
    Array.from({ length: 17 }, (_, i) => `t${i}`), Array.from({ length: 16 }, (_, i) => `t${i}`),
    Array.from({ length: 33 }, (_, i) => `t${i}`), Array.from({ length: 65 }, (_, i) => `${a}:${i + 1}`),
    Array.from({ length: 64 }, (_, i) => `${a}:${i + 1}`), {}, { a: 1 }, { s: 'x'.repeat(33_000) },
  ]
  let accepted = 0
  let refused = 0
  const check = (kind: k.KindName, b: Record<string, Json>): void => {
    const zod = k.parseBody(kind, b)
    const fast = k.fastBody(kind, b)
    assert.equal(fast !== undefined, zod.ok, `${kind} ${JSON.stringify(b).slice(0, 200)}: zod ${zod.ok ? 'accepts' : zod.detail}`)
    if (fast !== undefined && zod.ok) {
      assert.deepEqual(fast, zod.value.body)
      accepted++
    } else refused++
    // parseOp (fast first) answers as the zod-only path: op 1000 of author a, so every dot of a here is earlier
    const op = { author: a, seq: 1000, prev: undefined, hlc: { wallMs: 1, logical: 0 }, kind, body: b } as unknown as Parameters<typeof k.parseOp>[0]
    const viaOp = k.parseOp(op)
    assert.equal(viaOp.ok, zod.ok)
    if (viaOp.ok && zod.ok) assert.deepEqual(viaOp.value, zod.value)
    else if (!viaOp.ok && !zod.ok) assert.equal(viaOp.detail, zod.detail)
  }
  // every field of every kind set to every edge value, or dropped, or an unknown field added
  for (const kind of k.kindNames) {
    for (const f of Object.keys(base[kind])) {
      for (const v of edges) check(kind, { ...base[kind], [f]: v })
      const b = { ...base[kind] }
      delete b[f]
      check(kind, b)
    }
    for (const extra of ['valu', 'extra', '__proto__']) {
      const b = { ...base[kind] }
      Object.defineProperty(b, extra, { value: 1, enumerable: true, writable: true, configurable: true })
      check(kind, b)
    }
  }
  // then two or three mutations at once, drawn from a seeded generator
  const p = core.prng.create(0x6b1)
  const pick = <T>(xs: readonly T[]): T => xs[core.prng.nextInt(p, xs.length)] as T
  for (let i = 0; i < 8000; i++) {
    const kind = pick(k.kindNames)
    const b: Record<string, Json> = { ...base[kind] }
    const fields = Object.keys(base[kind])
    for (let m = 2 + core.prng.nextInt(p, 2); m > 0; m--) {
      if (core.prng.chance(p, 0.8)) b[pick(fields)] = pick(edges)
      else delete b[pick(fields)]
    }
    check(kind, b)
  }
  // the corpus exercises both sides
  assert.ok(accepted > 1000 && refused > 1000, `${accepted} accepted, ${refused} refused`)
})
