import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { arbModelHistory, checkHistory, pickDots } from './causal-model.test-util.ts'
import type { ModelSubject } from './causal-model.test-util.ts'
import * as codec from './codec.ts'
import { arbEncoded, fcParams, nodeNames, runCrdtLaws, runDecoderFuzz } from './crdt-laws.test-util.ts'
import * as dotSet from './dot-set.ts'
import type { DotSet } from './dot-set.ts'
import type { Json } from './json.ts'
import * as json from './json.ts'
import * as mv from './mv-register.ts'
import type { Stamp } from './replica.ts'

const [A, B, C] = nodeNames as [(typeof nodeNames)[0], (typeof nodeNames)[0], (typeof nodeNames)[0]]
const sampleValues: Json[] = [1, 'x', { a: [1, 2] }, null]
const value = fc.constantFrom(...sampleValues)
// Named dots from the law suite's replicas: some will have been observed, most not (those are ignored).
const someDots = fc.array(
  fc.record({ node: fc.constantFrom(...nodeNames), seq: fc.integer({ min: 1, max: 6 }) }),
  { maxLength: 3 },
)
const arbOp: fc.Arbitrary<mv.Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('set' as const), value }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('clear' as const) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('set' as const), value, supersedes: someDots }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('clear' as const), supersedes: someDots }) },
)

runCrdtLaws({ crdt: mv.crdt, arbOp })
runDecoderFuzz('mv-register', mv.decode, mv.encode, arbEncoded(mv.crdt, arbOp))

function st(node: (typeof nodeNames)[0], seq: number): Stamp {
  return { node, seq, wallMs: 0, logical: 0 }
}

/** The register as the model sees it: one scope, []. */
const subject: ModelSubject<mv.Store, mv.Op> = {
  crdt: mv.crdt,
  plan(c, known) {
    const v = sampleValues[c.value % sampleValues.length] as Json
    switch (c.kind % 4) {
      case 0:
        return { op: { type: 'set', value: v }, scope: [], creates: true, value: v }
      case 1:
        return { op: { type: 'clear' }, scope: [], creates: false }
      case 2: {
        const supersedes = pickDots(known, c.pick)
        return { op: { type: 'set', value: v, supersedes }, scope: [], creates: true, value: v, supersedes }
      }
      default: {
        const supersedes = pickDots(known, c.pick)
        return { op: { type: 'clear', supersedes }, scope: [], creates: false, supersedes }
      }
    }
  },
  live: (s) => mv.versions(s).map((v) => ({ scope: [], dot: v.dot, value: v.value })),
}

test('mv-register: a version is live iff no op that observed it superseded it (model over random histories)', () => {
  fc.assert(
    fc.property(arbModelHistory(), fc.nat(), (h, seed) => {
      const s = checkHistory(subject, h, seed)
      // readers agree with the store
      const vs = mv.versions(s)
      assert.deepEqual(
        mv.values(s),
        vs.map((v) => v.value),
      )
      assert.deepEqual(
        mv.dots(s),
        vs.map((v) => v.dot),
      )
      const distinct = new Set(vs.map((v) => Buffer.from(json.encode(v.value)).toString('hex')))
      assert.equal(mv.isConflict(s), distinct.size > 1)
    }),
    fcParams(),
  )
})

test('mv-register: concurrent sets are all kept, in dot order; a set that observed them resolves them', () => {
  const a = mv.empty()
  const b = mv.empty()
  mv.set(a, 'eu-west-1', st(A, 1))
  mv.set(b, 'us-east-1', st(B, 1))
  const ab = mv.merge(b, a)
  assert.deepEqual(mv.values(ab), ['eu-west-1', 'us-east-1'])
  assert.ok(mv.isConflict(ab))
  assert.ok(mv.equals(ab, mv.merge(a, b)))
  // a replica that saw both resolves the conflict
  mv.set(ab, 'eu-west-1', st(C, 1))
  assert.deepEqual(mv.values(ab), ['eu-west-1'])
  assert.ok(!mv.isConflict(ab))
  // the old versions stay dead whatever arrives later
  mv.mergeInto(ab, a)
  mv.mergeInto(ab, b)
  assert.deepEqual(mv.dots(ab), [{ node: C, seq: 1 }])
})

test('mv-register: concurrent sets of one value are two versions but not a conflict', () => {
  const a = mv.empty()
  const b = mv.empty()
  mv.set(a, { n: 1 }, st(A, 1))
  mv.set(b, { n: 1 }, st(B, 1))
  const ab = mv.merge(a, b)
  assert.equal(mv.versions(ab).length, 2)
  assert.ok(!mv.isConflict(ab))
  assert.ok(!mv.isConflict(mv.empty()))
})

test('mv-register: a set wins over a concurrent clear, and a clear that observed it removes it', () => {
  const a = mv.empty()
  mv.set(a, 1, st(A, 1))
  const b = mv.clone(a)
  mv.clear(b, st(B, 1)) // b retracts what it saw
  mv.set(a, 2, st(A, 2)) // a sets again, concurrently
  assert.deepEqual(mv.values(mv.merge(a, b)), [2])
  assert.deepEqual(mv.values(mv.merge(b, a)), [2])
  const ab = mv.merge(a, b)
  const d = mv.empty()
  mv.clear(ab, st(B, 2), d)
  assert.deepEqual(mv.values(ab), [])
  mv.mergeInto(a, d)
  assert.deepEqual(mv.values(a), [])
  assert.equal(dotSet.size(a.ctx), 3) // a:1, a:2 and the clear's own dot; b:1 never reached a
})

test('mv-register: setObserving supersedes exactly the observed versions; the others stay', () => {
  const s = mv.empty()
  mv.mergeInto(s, mv.setDelta('x', st(A, 1), []))
  mv.mergeInto(s, mv.setDelta('y', st(B, 1), []))
  mv.mergeInto(s, mv.setDelta('z', st(C, 1), []))
  const d = mv.empty()
  mv.setObserving(s, 'w', st(A, 2), [{ node: B, seq: 1 }], d)
  assert.deepEqual(mv.values(s), ['x', 'w', 'z'])
  // the delta carries the new version and exactly the superseded dot besides its own
  assert.deepEqual(mv.values(d), ['w'])
  assert.equal(dotSet.size(d.ctx), 2)
  assert.ok(dotSet.has(d.ctx, B, 1) && dotSet.has(d.ctx, A, 2))
  mv.clearObserving(s, st(A, 3), [
    { node: A, seq: 1 },
    { node: A, seq: 2 },
  ])
  assert.deepEqual(mv.values(s), ['z'])
  // a dot that is observed but already superseded is fine to name, and changes nothing
  mv.setObserving(s, 'v', st(A, 4), [{ node: B, seq: 1 }])
  assert.deepEqual(mv.values(s), ['v', 'z']) // dot order: a:4 before c:1
})

test('mv-register: setObserving rejects a dot this replica has not observed, and leaves the state alone', () => {
  const s = mv.empty()
  mv.set(s, 1, st(A, 1))
  const before = mv.encode(s)
  assert.throws(() => mv.setObserving(s, 2, st(A, 2), [{ node: B, seq: 1 }]), RangeError)
  assert.throws(() => mv.clearObserving(s, st(A, 2), [{ node: A, seq: 9 }]), RangeError)
  assert.ok(codec.bytesEqual(mv.encode(s), before))
  // through the generic apply, an unobserved dot is ignored: it names nothing live here
  mv.apply(s, { type: 'set', value: 2, supersedes: [{ node: B, seq: 1 }] }, st(A, 2))
  assert.deepEqual(mv.values(s), [1, 2])
  assert.ok(!dotSet.has(s.ctx, B, 1))
})

test("mv-register: another author's op, as setDelta/clearDelta, gives the same state in any order", () => {
  // x by a; b asserts y superseding x; c retracts y; a asserts z concurrently with all of it.
  const ops = [
    mv.setDelta('x', st(A, 1), []),
    mv.setDelta('y', st(B, 1), [{ node: A, seq: 1 }]),
    mv.clearDelta(st(C, 1), [{ node: B, seq: 1 }]),
    mv.setDelta('z', st(A, 2), []),
  ]
  const expected = mv.empty()
  for (const d of ops) mv.mergeInto(expected, d)
  assert.deepEqual(mv.values(expected), ['z'])
  const perms = (xs: number[]): number[][] =>
    xs.length <= 1
      ? [xs]
      : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]))
  for (const order of perms([0, 1, 2, 3])) {
    const s = mv.empty()
    for (const i of order) mv.mergeInto(s, ops[i]!)
    assert.ok(mv.equals(s, expected), `order ${order.join(',')}`)
  }
  // the op comes from outside: its dots and value are checked
  assert.throws(() => mv.setDelta('v', st(A, 3), [{ node: A, seq: 0 }]), RangeError)
  assert.throws(() => mv.setDelta(undefined as unknown as Json, st(A, 3), []), RangeError)
})

test('mv-register: apply rejects a value that is not JSON and leaves the state alone', () => {
  const s = mv.empty()
  for (const bad of [undefined, Number.NaN, Infinity, new Map(), { a: () => 1 }, [1, undefined]]) {
    assert.throws(() => mv.set(s, bad as unknown as Json, st(A, 1)), RangeError)
  }
  assert.ok(mv.equals(s, mv.empty()))
  mv.set(s, 1, st(A, 1))
  assert.throws(() => mv.set(s, 2, st(A, 1)), /already used/)
  assert.deepEqual(mv.values(s), [1])
})

test('mv-register: a delta buffer collects several updates into one state-shaped delta', () => {
  const s = mv.empty()
  const buffer = mv.empty()
  mv.set(s, 1, st(A, 1), buffer)
  mv.set(s, 2, st(A, 2), buffer)
  mv.clear(s, st(A, 3), buffer)
  mv.set(s, 3, st(A, 4), buffer)
  const other = mv.empty()
  mv.mergeInto(other, buffer)
  assert.ok(mv.equals(other, s))
})

test('mv-register: JSON values nested codec.depthMax deep round-trip', () => {
  let deep: Json = 1
  for (let i = 0; i < codec.depthMax; i++) deep = [deep]
  const s = mv.empty()
  mv.set(s, deep, st(A, 1))
  const back = mv.decode(mv.encode(s))
  assert.ok(back.ok && mv.equals(back.value, s))
  assert.throws(() => mv.set(s, [deep], st(A, 2)), RangeError)
})

// ---- decode rejections, on hand-built bytes ----

/** A causal state's bytes: node table, context, then a store written by `store`. */
function bytesOf(
  nodes: string[],
  ctx: [string, number, number][],
  store: (w: codec.Writer) => void,
): Uint8Array {
  return codec.encodeWith((w) => {
    codec.writeNodeTable(w, nodes as never[])
    const ds: DotSet = dotSet.empty()
    for (const [node, from, to] of ctx) for (let q = from; q <= to; q++) dotSet.add(ds, node as never, q)
    dotSet.write(w, ds)
    store(w)
  })
}

/** Writes versions as given (any order, any dots). */
function versionsOf(vs: [number, number, Json][]): (w: codec.Writer) => void {
  return (w) => {
    codec.writeUvarint(w, vs.length)
    for (const [node, seq, v] of vs) {
      codec.writeUvarint(w, node)
      codec.writeUvarint(w, seq)
      json.write(w, v)
    }
  }
}

function rejects(bytes: Uint8Array, detail: RegExp): void {
  const r = mv.decode(bytes)
  assert.ok(!r.ok, 'decoded malformed bytes')
  assert.match(r.detail, detail)
}

test('mv-register: decode accepts the hand-built canonical form', () => {
  const good = bytesOf(
    ['a', 'b'],
    [
      ['a', 1, 2],
      ['b', 1, 1],
    ],
    versionsOf([
      [0, 2, 'x'],
      [1, 1, 'y'],
    ]),
  )
  const r = mv.decode(good)
  assert.ok(r.ok)
  assert.deepEqual(mv.values(r.value), ['x', 'y'])
  assert.ok(codec.bytesEqual(mv.encode(r.value), good))
})

test('mv-register: decode rejects trailing bytes, unsorted or duplicate dots, seq 0 and a dot outside the context', () => {
  const ctx: [string, number, number][] = [
    ['a', 1, 2],
    ['b', 1, 1],
  ]
  const good = bytesOf(
    ['a', 'b'],
    ctx,
    versionsOf([
      [0, 2, 'x'],
      [1, 1, 'y'],
    ]),
  )
  rejects(Uint8Array.from([...good, 0]), /trailing/)
  rejects(
    bytesOf(
      ['a', 'b'],
      ctx,
      versionsOf([
        [1, 1, 'y'],
        [0, 2, 'x'],
      ]),
    ),
    /strictly increasing/,
  )
  rejects(
    bytesOf(
      ['a', 'b'],
      ctx,
      versionsOf([
        [0, 1, 'x'],
        [0, 1, 'x'],
      ]),
    ),
    /strictly increasing/,
  )
  rejects(
    bytesOf(
      ['a', 'b'],
      [
        ['a', 1, 1],
        ['b', 1, 1],
      ],
      versionsOf([[0, 0, 'x']]),
    ),
    /seq starts at 1/,
  )
  rejects(bytesOf(['a', 'b'], ctx, versionsOf([[0, 3, 'x']])), /not the context/)
  rejects(bytesOf(['a', 'b'], ctx, versionsOf([[2, 1, 'x']])), /outside the node table/)
})

test('mv-register: decode rejects a count beyond the input, non-canonical JSON and JSON deeper than depthMax', () => {
  const ctx: [string, number, number][] = [['a', 1, 1]]
  rejects(
    bytesOf(['a'], ctx, (w) => codec.writeUvarint(w, 1000)),
    /exceeds the input/,
  )
  // 1.0 written as a float: the integer form is the canonical one
  rejects(
    bytesOf(['a'], ctx, (w) => {
      codec.writeUvarint(w, 1)
      codec.writeUvarint(w, 1)
      codec.writeByte(w, 4)
      codec.writeF64(w, 1)
    }),
    /non-canonical float/,
  )
  rejects(
    bytesOf(['a'], ctx, (w) => {
      codec.writeUvarint(w, 1)
      codec.writeUvarint(w, 1)
      for (let i = 0; i <= codec.depthMax; i++) {
        codec.writeByte(w, 6)
        codec.writeUvarint(w, 1)
      }
      codec.writeByte(w, 0)
    }),
    /deeper than depthMax/,
  )
})

test('mv-register: the empty register encodes as an empty table, context and store', () => {
  assert.deepEqual([...mv.encode(mv.empty())], [0, 0, 0])
  const r = mv.decode(Uint8Array.of(0, 0, 0))
  assert.ok(r.ok && mv.equals(r.value, mv.empty()))
  // a context with no live versions (everything cleared) is a valid state too
  const s = mv.empty()
  mv.set(s, 1, st(A, 1))
  mv.clear(s, st(A, 2))
  const back = mv.decode(mv.encode(s))
  assert.ok(back.ok && mv.equals(back.value, s) && mv.values(back.value).length === 0)
})
