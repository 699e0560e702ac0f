import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import * as causal from './causal.ts'
import type { DotStoreKind } from './causal.ts'
import { arbModelHistory, checkHistory, pickDots } from './causal-model.test-util.ts'
import type { Live, ModelSubject } from './causal-model.test-util.ts'
import * as codec from './codec.ts'
import { arbEncoded, fcParams, nodeNames, runCrdtLaws, runDecoderFuzz } from './crdt-laws.test-util.ts'
import * as dotSet from './dot-set.ts'
import type { Json } from './json.ts'
import * as json from './json.ts'
import * as mv from './mv-register.ts'
import * as orMap from './or-map.ts'
import type { OrMap, OrMapOp } from './or-map.ts'
import * as orSet from './or-set.ts'
import type { Stamp } from './replica.ts'

const [A, B, C] = nodeNames as [(typeof nodeNames)[0], (typeof nodeNames)[0], (typeof nodeNames)[0]]
const keyNames = ['k', 'l', 'm']
const elemNames = ['x', 'y', 'z']
const sampleValues: Json[] = [1, 'x', { a: [1, 2] }, null]

function st(node: (typeof nodeNames)[0], seq: number): Stamp {
  return { node, seq, wallMs: 0, logical: 0 }
}

// ---- the three nestings, as law subjects ----

const mapOfMv = orMap.crdtOf(mv.kind)
const mapOfSet = orMap.crdtOf(orSet.kind)
const mapOfMapOfMv = orMap.crdtOf(orMap.kindOf(mv.kind))

type MvOp = mv.Op
type MapOfMvOp = OrMapOp<MvOp>

const key = fc.constantFrom(...keyNames)
const someDots = fc.array(
  fc.record({ node: fc.constantFrom(...nodeNames), seq: fc.integer({ min: 1, max: 6 }) }),
  { maxLength: 3 },
)
const arbMvOp: fc.Arbitrary<MvOp> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ type: fc.constant('set' as const), value: fc.constantFrom(...sampleValues) }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('clear' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('set' as const),
      value: fc.constantFrom(...sampleValues),
      supersedes: someDots,
    }),
  },
)
const arbSetOp: fc.Arbitrary<orSet.Op> = fc.record({
  type: fc.constantFrom('add' as const, 'remove' as const),
  elem: fc.constantFrom(...elemNames),
})
function arbMapOp<VOp>(valueOp: fc.Arbitrary<VOp>): fc.Arbitrary<OrMapOp<VOp>> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ type: fc.constant('update' as const), key, op: valueOp }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('remove' as const), key }) },
  )
}

runCrdtLaws({ crdt: mapOfMv, arbOp: arbMapOp(arbMvOp) })
runCrdtLaws({ crdt: mapOfSet, arbOp: arbMapOp(arbSetOp) })
runCrdtLaws({ crdt: mapOfMapOfMv, arbOp: arbMapOp(arbMapOp(arbMvOp)) })
runDecoderFuzz(mapOfMv.name, mapOfMv.decode, mapOfMv.encode, arbEncoded(mapOfMv, arbMapOp(arbMvOp)))
runDecoderFuzz(mapOfSet.name, mapOfSet.decode, mapOfSet.encode, arbEncoded(mapOfSet, arbMapOp(arbSetOp)))
runDecoderFuzz(
  mapOfMapOfMv.name,
  mapOfMapOfMv.decode,
  mapOfMapOfMv.encode,
  arbEncoded(mapOfMapOfMv, arbMapOp(arbMapOp(arbMvOp))),
)

// ---- the model (causal-model.test-util.ts): scopes [key], [key, elem], [outer, inner] ----

function mvLive(store: mv.Store, scope: string[]): Live[] {
  assert.ok(store.length > 0, `empty register kept at ${scope.join('/')}`)
  return store.map((v) => ({ scope, dot: v.dot, value: v.value }))
}

const mapOfMvSubject: ModelSubject<orMap.Store<mv.Store>, MapOfMvOp> = {
  crdt: mapOfMv,
  plan(c, known) {
    const k = keyNames[c.key % keyNames.length] as string
    const value = sampleValues[c.value % sampleValues.length] as Json
    switch (c.kind % 5) {
      case 0:
      case 1:
        return {
          op: { type: 'update', key: k, op: { type: 'set', value } },
          scope: [k],
          creates: true,
          value,
        }
      case 2:
        return { op: { type: 'update', key: k, op: { type: 'clear' } }, scope: [k], creates: false }
      case 3: {
        // names versions of any key: those under other keys must be left alone
        const supersedes = pickDots(known, c.pick)
        const op: MapOfMvOp = { type: 'update', key: k, op: { type: 'set', value, supersedes } }
        return { op, scope: [k], creates: true, value, supersedes }
      }
      default:
        return { op: { type: 'remove', key: k }, scope: [k], creates: false }
    }
  },
  live: (s) => [...s.store].flatMap(([k, v]) => mvLive(v, [k])),
}

const mapOfSetSubject: ModelSubject<orMap.Store<orSet.Store>, OrMapOp<orSet.Op>> = {
  crdt: mapOfSet,
  plan(c) {
    const k = keyNames[c.key % keyNames.length] as string
    const elem = elemNames[c.sub % elemNames.length] as string
    switch (c.kind % 4) {
      case 0:
      case 1:
        return { op: { type: 'update', key: k, op: { type: 'add', elem } }, scope: [k, elem], creates: true }
      case 2:
        return {
          op: { type: 'update', key: k, op: { type: 'remove', elem } },
          scope: [k, elem],
          creates: false,
        }
      default:
        return { op: { type: 'remove', key: k }, scope: [k], creates: false }
    }
  },
  live: (s) =>
    [...s.store].flatMap(([k, set]) => {
      assert.ok(set.entries.size > 0, `empty set kept at ${k}`)
      return [...set.entries].flatMap(([elem, live]) =>
        (Array.isArray(live) ? live : [live]).map((d) => ({ scope: [k, elem], dot: d, value: null })),
      )
    }),
}

const mapOfMapOfMvSubject: ModelSubject<orMap.Store<orMap.Store<mv.Store>>, OrMapOp<MapOfMvOp>> = {
  crdt: mapOfMapOfMv,
  plan(c, known) {
    const k = keyNames[c.key % keyNames.length] as string
    const inner = keyNames[c.sub % keyNames.length] as string
    const value = sampleValues[c.value % sampleValues.length] as Json
    const at = (op: MapOfMvOp): OrMapOp<MapOfMvOp> => ({ type: 'update', key: k, op })
    switch (c.kind % 6) {
      case 0:
      case 1:
        return {
          op: at({ type: 'update', key: inner, op: { type: 'set', value } }),
          scope: [k, inner],
          creates: true,
          value,
        }
      case 2:
        return {
          op: at({ type: 'update', key: inner, op: { type: 'clear' } }),
          scope: [k, inner],
          creates: false,
        }
      case 3:
        return { op: at({ type: 'remove', key: inner }), scope: [k, inner], creates: false }
      case 4: {
        const supersedes = pickDots(known, c.pick)
        const op = at({ type: 'update', key: inner, op: { type: 'set', value, supersedes } })
        return { op, scope: [k, inner], creates: true, value, supersedes }
      }
      default:
        return { op: { type: 'remove', key: k }, scope: [k], creates: false }
    }
  },
  live: (s) =>
    [...s.store].flatMap(([k, m]) => {
      assert.ok(m.size > 0, `empty map kept at ${k}`)
      return [...m].flatMap(([inner, v]) => mvLive(v, [k, inner]))
    }),
}

test('or-map<mv-register>: live versions match the model (per key: superseded only by ops on that key)', () => {
  fc.assert(
    fc.property(arbModelHistory(), fc.nat(), (h, seed) => void checkHistory(mapOfMvSubject, h, seed)),
    fcParams(),
  )
})

test('or-map<or-set>: live elements match the model (add wins inside a key; update wins over remove)', () => {
  fc.assert(
    fc.property(arbModelHistory(), fc.nat(), (h, seed) => void checkHistory(mapOfSetSubject, h, seed)),
    fcParams(),
  )
})

test('or-map<or-map<mv-register>>: live versions match the model at two levels', () => {
  fc.assert(
    fc.property(arbModelHistory(), fc.nat(), (h, seed) => void checkHistory(mapOfMapOfMvSubject, h, seed)),
    fcParams(),
  )
})

// ---- scenarios ----

test('or-map: an update wins over a concurrent remove, keeping only the concurrent update', () => {
  const a = mapOfSet.empty()
  orMap.update(orSet.kind, a, 'k', { type: 'add', elem: 'x' }, st(A, 1))
  const b = mapOfSet.clone(a)
  const removal = mapOfSet.empty()
  orMap.remove(orSet.kind, b, 'k', st(B, 1), removal) // b removes the key as it saw it: {x}
  assert.ok(!orMap.has(b, 'k'))
  const update = mapOfSet.empty()
  orMap.update(orSet.kind, a, 'k', { type: 'add', elem: 'y' }, st(A, 2), update) // concurrently, a adds y
  for (const s of [
    mapOfSet.merge(a, b),
    mapOfSet.merge(b, a),
    mapOfSet.merge(mapOfSet.merge(a, removal), update),
  ]) {
    assert.ok(orMap.has(s, 'k'))
    assert.deepEqual([...orSet.values(orMap.view(s, 'k')!)], ['y'])
  }
  // the same with deltas only, in either order, onto a third replica that saw the first add
  for (const order of [
    [removal, update],
    [update, removal],
  ]) {
    const c = mapOfSet.clone(mapOfSet.merge(mapOfSet.empty(), a))
    orMap.remove(orSet.kind, c, 'zzz', st(C, 1)) // an unrelated op: c's own context grows
    for (const d of order) mapOfSet.mergeInto(c, d!)
    assert.deepEqual([...orSet.values(orMap.view(c, 'k')!)], ['y'])
  }
})

test('or-map: a remove that observed every update removes the key; a later update re-creates it', () => {
  const a = mapOfMv.empty()
  orMap.update(mv.kind, a, 'k', { type: 'set', value: 1 }, st(A, 1))
  const b = mapOfMv.empty()
  orMap.update(mv.kind, b, 'k', { type: 'set', value: 2 }, st(B, 1)) // concurrent: k now in conflict
  const ab = mapOfMv.merge(a, b)
  assert.deepEqual(mv.values(orMap.view(ab, 'k')!), [1, 2])
  const removal = mapOfMv.empty()
  orMap.remove(mv.kind, ab, 'k', st(A, 2), removal)
  assert.ok(!orMap.has(ab, 'k') && orMap.size(ab) === 0)
  assert.equal(dotSet.size(removal.ctx), 3) // both versions and the remove's own dot
  const readd = mapOfMv.empty()
  orMap.update(mv.kind, ab, 'k', { type: 'set', value: 3 }, st(A, 3), readd)
  assert.deepEqual(mv.values(orMap.view(ab, 'k')!), [3])
  // a replica that gets the re-add before the remove keeps the re-add
  const c = mapOfMv.merge(mapOfMv.empty(), b)
  mapOfMv.mergeInto(c, readd)
  mapOfMv.mergeInto(c, removal)
  mapOfMv.mergeInto(c, a)
  assert.ok(mapOfMv.equals(c, ab))
  // removing an absent key changes nothing but the context
  const before = mapOfMv.clone(ab)
  orMap.remove(mv.kind, ab, 'nope', st(A, 4))
  assert.ok(
    orMap.get(ab, 'k') !== undefined && mv.kind.equalsStore(orMap.get(ab, 'k')!, orMap.get(before, 'k')!),
  )
  assert.equal(dotSet.size(ab.ctx), dotSet.size(before.ctx) + 1)
})

test('or-map: inside a key, an add wins over a concurrent remove of the element', () => {
  const a = mapOfSet.empty()
  orMap.update(orSet.kind, a, 'k', { type: 'add', elem: 'x' }, st(A, 1))
  orMap.update(orSet.kind, a, 'k', { type: 'add', elem: 'y' }, st(A, 2))
  const b = mapOfSet.merge(mapOfSet.empty(), a)
  orMap.update(orSet.kind, b, 'k', { type: 'remove', elem: 'x' }, st(B, 1))
  orMap.update(orSet.kind, a, 'k', { type: 'add', elem: 'x' }, st(A, 3)) // re-add, concurrent with the remove
  const ab = mapOfSet.merge(a, b)
  assert.ok(mapOfSet.equals(ab, mapOfSet.merge(b, a)))
  assert.deepEqual([...orSet.values(orMap.view(ab, 'k')!)].sort(), ['x', 'y'])
  assert.deepEqual(orMap.get(ab, 'k')!.entries.get('x'), { node: A, seq: 3 })
  // a set emptied by removes takes its key with it
  orMap.update(orSet.kind, ab, 'k', { type: 'remove', elem: 'x' }, st(A, 4))
  orMap.update(orSet.kind, ab, 'k', { type: 'remove', elem: 'y' }, st(A, 5))
  assert.ok(!orMap.has(ab, 'k'))
  // and a remove of an element under an absent key does not create the key
  orMap.update(orSet.kind, ab, 'q', { type: 'remove', elem: 'x' }, st(A, 6))
  assert.ok(!orMap.has(ab, 'q'))
})

test('or-map: a nested map removes inner keys independently, and an outer remove loses to an inner update', () => {
  const kind = orMap.kindOf(mv.kind)
  const a = mapOfMapOfMv.empty()
  const set = (
    s: OrMap<orMap.Store<mv.Store>>,
    outer: string,
    inner: string,
    value: Json,
    stamp: Stamp,
  ): void => orMap.update(kind, s, outer, { type: 'update', key: inner, op: { type: 'set', value } }, stamp)
  set(a, 'k', 'p', 1, st(A, 1))
  set(a, 'k', 'q', 2, st(A, 2))
  const b = mapOfMapOfMv.merge(mapOfMapOfMv.empty(), a)
  orMap.remove(kind, b, 'k', st(B, 1))
  set(a, 'k', 'q', 3, st(A, 3))
  const ab = mapOfMapOfMv.merge(a, b)
  const inner = orMap.get(ab, 'k')!
  assert.deepEqual([...inner.keys()], ['q'])
  assert.deepEqual(
    inner.get('q')!.map((v) => v.value),
    [3],
  )
  orMap.update(kind, ab, 'k', { type: 'remove', key: 'q' }, st(A, 4))
  assert.equal(orMap.size(ab), 0)
})

test('or-map: merging never aliases the source, at any depth', () => {
  const src = mapOfMapOfMv.empty()
  const kind = orMap.kindOf(mv.kind)
  orMap.update(kind, src, 'k', { type: 'update', key: 'p', op: { type: 'set', value: { a: 1 } } }, st(A, 1))
  const srcBytes = mapOfMapOfMv.encode(src)
  const t = mapOfMapOfMv.empty()
  mapOfMapOfMv.mergeInto(t, src)
  assert.notEqual(orMap.get(t, 'k'), orMap.get(src, 'k'))
  assert.notEqual(orMap.get(t, 'k')!.get('p'), orMap.get(src, 'k')!.get('p'))
  orMap.update(kind, t, 'k', { type: 'update', key: 'p', op: { type: 'set', value: 2 } }, st(B, 1))
  orMap.update(kind, t, 'k', { type: 'update', key: 'r', op: { type: 'set', value: 3 } }, st(B, 2))
  assert.ok(codec.bytesEqual(mapOfMapOfMv.encode(src), srcBytes))
  const c = mapOfMapOfMv.clone(t)
  orMap.update(kind, c, 'k', { type: 'remove', key: 'r' }, st(B, 3))
  assert.ok(orMap.get(t, 'k')!.has('r'))
})

test('or-map: readers, kind identity and op checks', () => {
  const s = mapOfMv.empty()
  orMap.update(mv.kind, s, 'b', { type: 'set', value: 1 }, st(A, 1))
  orMap.update(mv.kind, s, 'a', { type: 'set', value: 2 }, st(A, 2))
  assert.equal(orMap.size(s), 2)
  assert.deepEqual([...orMap.keys(s)].sort(), ['a', 'b'])
  assert.ok(orMap.has(s, 'a') && !orMap.has(s, 'c'))
  assert.equal(orMap.get(s, 'c'), undefined)
  assert.equal(orMap.view(s, 'c'), undefined)
  assert.deepEqual(mv.values(orMap.view(s, 'a')!), [2])
  assert.equal(orMap.kindOf(mv.kind), orMap.kindOf(mv.kind))
  assert.equal(orMap.crdtOf(mv.kind), mapOfMv)
  assert.equal(mapOfMapOfMv.name, 'or-map<or-map<mv-register>>')
  // a key with a lone surrogate has no UTF-8 form: rejected before anything changes
  const before = mapOfMv.encode(s)
  assert.throws(() => orMap.update(mv.kind, s, 'x\ud800', { type: 'set', value: 1 }, st(A, 3)), RangeError)
  assert.throws(() => orMap.update(mv.kind, s, 'a', { type: 'set', value: Number.NaN }, st(A, 3)), RangeError)
  assert.ok(codec.bytesEqual(mapOfMv.encode(s), before))
  // keys are plain strings, including the awkward ones
  orMap.update(mv.kind, s, '__proto__', { type: 'set', value: 1 }, st(A, 3))
  orMap.update(mv.kind, s, '', { type: 'set', value: 1 }, st(A, 4))
  orMap.update(mv.kind, s, 'é😀', { type: 'set', value: 1 }, st(A, 5))
  const back = mapOfMv.decode(mapOfMv.encode(s))
  assert.ok(back.ok && mapOfMv.equals(back.value, s) && orMap.size(back.value) === 5)
})

// ---- decoding ----

type V = [number, number, Json]

/** A causal state's bytes: node table, context, then a map store written as given (any order). */
function bytesOf(
  nodes: string[],
  ctx: [string, number, number][],
  write: (w: codec.Writer) => void,
): Uint8Array {
  return codec.encodeWith((w) => {
    codec.writeNodeTable(w, nodes as never[])
    const ds = dotSet.empty()
    for (const [node, from, to] of ctx) for (let q = from; q <= to; q++) dotSet.add(ds, node as never, q)
    dotSet.write(w, ds)
    write(w)
  })
}

/** Writes a map store from entries in the given order: an array is an MV store (node index, seq, value). */
function writeTree(w: codec.Writer, entries: [string, V[] | [string, unknown][]][]): void {
  codec.writeUvarint(w, entries.length)
  for (const [k, v] of entries) {
    codec.writeString(w, k)
    if (v.length > 0 && typeof v[0]![0] === 'string') writeTree(w, v as [string, V[] | [string, unknown][]][])
    else {
      codec.writeUvarint(w, v.length)
      for (const [node, seq, value] of v as V[]) {
        codec.writeUvarint(w, node)
        codec.writeUvarint(w, seq)
        json.write(w, value)
      }
    }
  }
}

function rejects(
  decode: (b: Uint8Array) => { ok: boolean; detail?: string },
  bytes: Uint8Array,
  detail: RegExp,
): void {
  const r = decode(bytes) as { ok: false; detail: string } | { ok: true }
  assert.ok(!r.ok, 'decoded malformed bytes')
  assert.match(r.detail, detail)
}

const ctx2: [string, number, number][] = [
  ['a', 1, 2],
  ['b', 1, 1],
]

test('or-map: decode accepts the hand-built canonical form', () => {
  const good = bytesOf(['a', 'b'], ctx2, (w) =>
    writeTree(w, [
      ['k', [[0, 1, 'x']]],
      [
        'l',
        [
          [0, 2, 'y'],
          [1, 1, 'z'],
        ],
      ],
    ]),
  )
  const r = mapOfMv.decode(good)
  assert.ok(r.ok)
  assert.deepEqual(mv.values(orMap.view(r.value, 'l')!), ['y', 'z'])
  assert.ok(codec.bytesEqual(mapOfMv.encode(r.value), good))
})

test('or-map: decode rejects unsorted or duplicate keys, an empty nested store, trailing bytes', () => {
  const d = mapOfMv.decode
  const k: [string, V[]] = ['k', [[0, 1, 'x']]]
  const l: [string, V[]] = ['l', [[0, 2, 'y']]]
  const good = bytesOf(['a', 'b'], ctx2, (w) => writeTree(w, [k, l, ['m', [[1, 1, 'z']]]]))
  assert.ok(d(good).ok)
  rejects(d, Uint8Array.from([...good, 0]), /trailing/)
  rejects(
    d,
    bytesOf(['a', 'b'], ctx2, (w) => writeTree(w, [l, k, ['m', [[1, 1, 'z']]]])),
    /not strictly increasing/,
  )
  rejects(
    d,
    bytesOf(['a', 'b'], ctx2, (w) => writeTree(w, [k, ['k', [[0, 2, 'y']]], ['m', [[1, 1, 'z']]]])),
    /not strictly increasing/,
  )
  rejects(
    d,
    bytesOf(['a', 'b'], ctx2, (w) => writeTree(w, [k, l, ['m', [[1, 1, 'z']]], ['n', []]])),
    /empty store/,
  )
  rejects(
    d,
    bytesOf(['a', 'b'], ctx2, (w) => writeTree(w, [k, l, ['m', []]])),
    /empty store|node table/,
  )
  // count beyond the input
  rejects(
    d,
    bytesOf(['a'], [['a', 1, 1]], (w) => codec.writeUvarint(w, 100)),
    /exceeds the input/,
  )
})

test('or-map: decode rejects a dot outside the context, and one dot under two keys', () => {
  const d = mapOfMv.decode
  rejects(
    d,
    bytesOf(['a', 'b'], ctx2, (w) =>
      writeTree(w, [
        ['k', [[0, 3, 'x']]],
        ['l', [[1, 1, 'z']]],
      ]),
    ),
    /not the context/,
  )
  rejects(
    d,
    bytesOf(['a', 'b'], ctx2, (w) =>
      writeTree(w, [
        ['k', [[0, 1, 'x']]],
        [
          'l',
          [
            [0, 1, 'x'],
            [1, 1, 'z'],
          ],
        ],
      ]),
    ),
    /twice/,
  )
  // nested: the same dot under two inner keys of one outer key, and under two outer keys
  const dd = mapOfMapOfMv.decode
  const inner = (a: string, b: string): [string, [string, V[]][]] => [
    a,
    [
      [b, [[0, 1, 'x']]],
      ['z', [[0, 2, 'y']]],
    ],
  ]
  const ok = bytesOf(['a', 'b'], ctx2, (w) => writeTree(w, [inner('k', 'p'), ['l', [['p', [[1, 1, 'z']]]]]]))
  assert.ok(dd(ok).ok)
  rejects(
    dd,
    bytesOf(['a', 'b'], ctx2, (w) =>
      writeTree(w, [inner('k', 'p'), inner('l', 'p'), ['m', [['p', [[1, 1, 'z']]]]]]),
    ),
    /twice/,
  )
  rejects(
    dd,
    bytesOf(['a', 'b'], ctx2, (w) => writeTree(w, [inner('k', 'p'), ['l', [['p', []]]]])),
    /empty store|node table/,
  )
  rejects(
    dd,
    bytesOf(['a', 'b'], ctx2, (w) => writeTree(w, [inner('k', 'p'), ['l', []]])),
    /empty store|node table/,
  )
})

test('or-map: nesting is bounded by codec.depthMax, and every nesting kindOf allows decodes', () => {
  // depthMax + 1 map levels: the innermost map is read at depth depthMax, which is allowed
  let kind: DotStoreKind<unknown, unknown> = mv.kind as DotStoreKind<unknown, unknown>
  for (let i = 0; i <= codec.depthMax; i++) kind = orMap.kindOf(kind) as DotStoreKind<unknown, unknown>
  assert.throws(() => orMap.kindOf(kind), RangeError)
  const deep = causal.crdtOf(kind)
  // one path down to a register
  let op: unknown = { type: 'set', value: 1 }
  for (let i = 0; i <= codec.depthMax; i++) op = { type: 'update', key: `k${i}`, op }
  const s = deep.empty()
  deep.apply(s, op as OrMapOp<unknown>, st(A, 1))
  const bytes = deep.encode(s)
  const back = deep.decode(bytes)
  assert.ok(back.ok && deep.equals(back.value, s))
  // the same bytes read one level deeper than the kind allows: the innermost map is past the bound
  const tooDeep = codec.decodeWith(bytes, (r) => {
    codec.readNodeTable(r)
    dotSet.read(r)
    return kind.readStore(r, 1)
  })
  assert.ok(!tooDeep.ok && /deeper than depthMax/.test(tooDeep.detail))
  // and a state reached through the public decoder is always read from depth 0
  const shallow = mapOfMv.decode(mapOfMv.encode(mapOfMv.empty()))
  assert.ok(shallow.ok)
})

test('or-map: JSON depth is counted on its own: a value valid at the top is valid nested in maps', () => {
  let value: Json = 1
  for (let i = 0; i < codec.depthMax; i++) value = { v: value }
  const s = mapOfMapOfMv.empty()
  const op: OrMapOp<MapOfMvOp> = {
    type: 'update',
    key: 'k',
    op: { type: 'update', key: 'p', op: { type: 'set', value } },
  }
  mapOfMapOfMv.apply(s, op, st(A, 1))
  const back = mapOfMapOfMv.decode(mapOfMapOfMv.encode(s))
  assert.ok(back.ok && mapOfMapOfMv.equals(back.value, s))
})
