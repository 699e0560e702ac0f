import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { arbEncoded, arbHistory, fcParams, nodeNames, play, runCrdtLaws, runDecoderFuzz } from './crdt-laws.test-util.ts'
import { createManualClock } from './clock.ts'
import * as dotSet from './dot-set.ts'
import * as orSet from './or-set.ts'
import * as replica from './replica.ts'

const elem = fc.constantFrom('x', 'y', 'z', 'w')
const arbOp: fc.Arbitrary<orSet.Op> = fc.oneof(
  fc.record({ type: fc.constant('add' as const), elem }),
  fc.record({ type: fc.constant('remove' as const), elem }),
)

runCrdtLaws({ crdt: orSet.crdt, arbOp })
runDecoderFuzz('or-set', orSet.decode, orSet.encode, arbEncoded(orSet.crdt, arbOp))

function setup(): { r: replica.Replica[]; s: orSet.OrSet[] } {
  const clk = createManualClock(1000)
  return { r: nodeNames.slice(0, 2).map((n) => replica.create(n, clk)), s: [orSet.empty(), orSet.empty()] }
}

test('or-set: an add wins over a concurrent remove, in either merge direction', () => {
  const { r, s } = setup()
  const [a, b] = s as [orSet.OrSet, orSet.OrSet]
  orSet.add(a, 'x', replica.next(r[0]!))
  orSet.mergeInto(b, a)
  orSet.remove(b, 'x', replica.next(r[1]!)) // b removes what it saw
  orSet.add(a, 'x', replica.next(r[0]!)) // a re-adds concurrently
  const ab = orSet.merge(a, b)
  const ba = orSet.merge(b, a)
  assert.ok(orSet.has(ab, 'x') && orSet.has(ba, 'x'))
})

test('or-set: a remove that observed the add removes it everywhere', () => {
  const { r, s } = setup()
  const [a, b] = s as [orSet.OrSet, orSet.OrSet]
  orSet.add(a, 'x', replica.next(r[0]!))
  orSet.mergeInto(b, a)
  const d = orSet.empty()
  orSet.remove(b, 'x', replica.next(r[1]!), d)
  orSet.mergeInto(a, d)
  assert.ok(!orSet.has(a, 'x') && !orSet.has(b, 'x'))
  assert.equal(orSet.size(a), 0)
})

test('or-set: membership matches the add-wins model over random histories', () => {
  // Model: x is in the converged set iff some add(x) was not observed by any remove(x) or later add(x)
  // of x. Equivalently: replay all deltas; x is live iff an add(x) dot survives. Checked by dots.
  fc.assert(
    fc.property(arbHistory(arbOp), (h) => {
      const run = play(orSet.crdt, h)
      const all = orSet.empty()
      for (const d of run.outboxes.flat()) orSet.mergeInto(all, d)
      // every live dot must come from an add whose element it names, and no remove delta may have seen it
      const removedOrReplaced = dotSet.empty()
      for (const d of run.outboxes.flat()) {
        const live = new Set<string>()
        for (const e of d.store.entries.keys()) for (const x of orSet.dotsOf(d, e)) live.add(`${x.node}:${x.seq}`)
        dotSet.forEach(d.ctx, (node, seq) => {
          if (!live.has(`${node}:${seq}`)) dotSet.add(removedOrReplaced, node, seq)
        })
      }
      for (const e of all.store.entries.keys()) {
        const dots = orSet.dotsOf(all, e)
        assert.ok(dots.length > 0, `live element ${e} without dots`)
        for (const x of dots) assert.ok(!dotSet.has(removedOrReplaced, x.node, x.seq), `${e} kept a removed dot`)
      }
      // and every add dot that nobody observed-and-dropped is live
      for (const d of run.outboxes.flat()) {
        for (const e of d.store.entries.keys()) {
          const dots = orSet.dotsOf(d, e)
          for (const x of dots) {
            if (!dotSet.has(removedOrReplaced, x.node, x.seq)) assert.ok(orSet.has(all, e), `${e} lost an unobserved add`)
          }
        }
      }
    }),
    fcParams(),
  )
})

test('or-set: the causal context stays one range per replica after 1M local ops', () => {
  const clk = createManualClock(0)
  const r = replica.create(nodeNames[0]!, clk)
  const s = orSet.empty()
  for (let i = 0; i < 1_000_000; i++) {
    if (i % 3 === 2) orSet.remove(s, `e${i - 1}`, replica.next(r))
    else orSet.add(s, `e${i % 50_000}`, replica.next(r))
  }
  assert.equal(dotSet.rangeCount(s.ctx), 1)
  assert.equal(dotSet.size(s.ctx), 1_000_000)
})

test('or-set: a dot is used once', () => {
  const { r, s } = setup()
  const st = replica.next(r[0]!)
  orSet.add(s[0]!, 'x', st)
  assert.throws(() => orSet.add(s[0]!, 'y', st), /already used/)
})

test('or-set: decode rejects a store dot missing from the context, unsorted elements and trailing bytes', () => {
  const { r, s } = setup()
  orSet.add(s[0]!, 'x', replica.next(r[0]!))
  orSet.add(s[0]!, 'y', replica.next(r[0]!))
  const good = orSet.encode(s[0]!)
  assert.ok(orSet.decode(good).ok)
  const trailing = orSet.decode(Uint8Array.from([...good, 0]))
  assert.ok(!trailing.ok && /trailing/.test(trailing.detail))
  // table: 1, 'a'; ctx: 1 node, 1 range, start-1=0, len=1 -> [1,2]; store: 2 elems 'y' [a:2], 'x' [a:1]
  // (with a one-node table a node reference takes no bytes)
  const swapped = Uint8Array.from([1, 1, 97, 1, 1, 0, 1, 2, 1, 121, 1, 2, 1, 120, 1, 1])
  const r1 = orSet.decode(swapped)
  assert.ok(!r1.ok && /strictly increasing/.test(r1.detail), JSON.stringify(r1))
  const outside = Uint8Array.from([1, 1, 97, 1, 1, 0, 0, 1, 1, 120, 1, 2])
  const r2 = orSet.decode(outside)
  assert.ok(!r2.ok && /not the context/.test(r2.detail), JSON.stringify(r2))
})

test('or-set: the dot index survives long histories, compaction and out-of-order delivery', () => {
  const clk = createManualClock(0)
  const a = replica.create(nodeNames[0]!, clk)
  const sa = orSet.empty()
  const deltas: orSet.OrSet[] = []
  for (let i = 0; i < 6000; i++) {
    const d = orSet.empty()
    // add 0..5999, and remove every element but each tenth shortly after adding it
    orSet.add(sa, `e${i}`, replica.next(a), d)
    deltas.push(d)
    if (i >= 3 && (i - 3) % 10 !== 0) {
      const r = orSet.empty()
      orSet.remove(sa, `e${i - 3}`, replica.next(a), r)
      deltas.push(r)
    }
  }
  // b gets the deltas newest first (every seq lands far from the index window), c in order, twice
  const sb = orSet.empty()
  for (let i = deltas.length - 1; i >= 0; i--) orSet.mergeInto(sb, deltas[i]!)
  const sc = orSet.empty()
  for (const d of [...deltas, ...deltas]) orSet.mergeInto(sc, d)
  assert.ok(orSet.equals(sb, sa) && orSet.equals(sc, sa))
  // now remove the survivors at a through small deltas; b and c must find them through their index
  for (const e of [...orSet.values(sa)]) {
    const d = orSet.empty()
    orSet.remove(sa, e, replica.next(a), d)
    orSet.mergeInto(sb, d)
    orSet.mergeInto(sc, d)
  }
  assert.equal(orSet.size(sa), 0)
  assert.ok(orSet.equals(sb, sa) && orSet.equals(sc, sa))
})

test('or-set: a dot first indexed far from the window is still found after the window grows over it', () => {
  // Regression (found in review): a:100 went to the far map, a:2..99 then grew the array over seq 100,
  // and a later remove of a:100's element was missed, so two replicas stayed different forever.
  const a = nodeNames[0]!
  const t = orSet.empty()
  const addAt = (seq: number, e: string): orSet.OrSet => {
    const d = orSet.empty()
    orSet.add(d, e, { node: a, seq, wallMs: 1, logical: 0 })
    return d
  }
  orSet.mergeInto(t, addAt(1, 'x1'))
  orSet.mergeInto(t, addAt(100, 'far'))
  for (let s = 2; s < 100; s++) orSet.mergeInto(t, addAt(s, `x${s}`))
  orSet.mergeInto(t, addAt(101, 'x101'))
  const r = orSet.clone(t)
  const d = orSet.empty()
  orSet.remove(r, 'far', { node: nodeNames[1]!, seq: 1, wallMs: 2, logical: 0 }, d)
  orSet.mergeInto(t, d)
  assert.equal(orSet.has(t, 'far'), false)
  assert.ok(orSet.equals(t, r))
})

test('or-set: bad input to a mutator is refused before it can reach the state', () => {
  const { r, s } = setup()
  assert.throws(() => orSet.add(s[0]!, 'x\ud800', replica.next(r[0]!)), /lone surrogate/)
  assert.throws(() => orSet.add(s[0]!, 'x', { node: nodeNames[0]!, seq: 0, wallMs: 0, logical: 0 }), /invalid dot/)
  assert.equal(orSet.size(s[0]!), 0)
})

test('or-set: replicas large enough to keep a dot index converge like small ones', () => {
  // The law suite's four elements keep stores below the index threshold; here stores cross it, so joins
  // take the indexed path for small deltas and the scan path for full states.
  const many = fc.integer({ min: 0, max: 79 }).map((i) => `e${i}`)
  const bigOp: fc.Arbitrary<orSet.Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ type: fc.constant('add' as const), elem: many }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('remove' as const), elem: many }) },
  )
  fc.assert(
    fc.property(arbHistory(bigOp, 200, 100), (h) => {
      const run = play(orSet.crdt, h)
      const all = run.outboxes.flat()
      const joined = orSet.empty()
      for (const d of all) orSet.mergeInto(joined, d)
      for (const s of run.states) {
        for (const d of [...all].reverse()) orSet.mergeInto(s, d)
        assert.ok(orSet.equals(s, joined), 'a replica differs from the join of all updates')
      }
    }),
    fcParams(),
  )
})

test('or-set: add and remove without a delta (the fused fast path) give the states the generic path gives', () => {
  // orSet.add/remove with no delta skip causal.apply; crdt.apply always takes it. Run one history both
  // ways and compare after each step. 40 filler elements first, so the stores keep a dot index; then ops
  // on a few elements, so re-adds and removes of what the other replica saw are frequent. The other
  // replica's updates arrive as small deltas (joins that look dots up in the index the fast path kept)
  // and as full states (joins that scan).
  const elemOf = fc.integer({ min: 0, max: 5 }).map((i) => `e${i}`)
  const step = fc.record({
    t: fc.constantFrom('add', 'remove', 'delta', 'full'),
    r: fc.nat(1),
    elem: elemOf,
    remove: fc.boolean(),
  })
  fc.assert(
    fc.property(fc.array(step, { minLength: 20, maxLength: 200, size: 'max' }), (steps) => {
      const clk = createManualClock(1000)
      const rs = [replica.create(nodeNames[0]!, clk), replica.create(nodeNames[1]!, clk)]
      const fast = [orSet.empty(), orSet.empty()]
      const slow = [orSet.empty(), orSet.empty()]
      for (let i = 0; i < 40; i++) {
        const stamp = replica.next(rs[i % 2]!)
        orSet.add(fast[i % 2]!, `f${i}`, stamp)
        orSet.crdt.apply(slow[i % 2]!, { type: 'add', elem: `f${i}` }, stamp)
      }
      for (const w of [fast, slow]) orSet.mergeInto(w[0]!, w[1]!)
      for (const w of [fast, slow]) orSet.mergeInto(w[1]!, w[0]!)
      for (const { t, r, elem, remove } of steps) {
        if (t === 'full') {
          orSet.mergeInto(fast[r]!, fast[1 - r]!)
          orSet.mergeInto(slow[r]!, slow[1 - r]!)
        } else if (t === 'delta') {
          // the other replica updates elem through a delta (the generic path in both worlds), r joins it
          const stamp = replica.next(rs[1 - r]!)
          const op: orSet.Op = { type: remove ? 'remove' : 'add', elem }
          for (const w of [fast, slow]) {
            const d = orSet.empty()
            orSet.crdt.apply(w[1 - r]!, op, stamp, d)
            orSet.mergeInto(w[r]!, d)
          }
        } else {
          const stamp = replica.next(rs[r]!)
          if (t === 'add') orSet.add(fast[r]!, elem, stamp)
          else orSet.remove(fast[r]!, elem, stamp)
          orSet.crdt.apply(slow[r]!, { type: t as 'add' | 'remove', elem }, stamp)
          assert.throws(() => orSet.add(fast[r]!, 'x', stamp), /already used/)
        }
        assert.ok(orSet.equals(fast[r]!, slow[r]!), 'the fast path and the generic path differ')
      }
      for (const r of [0, 1]) {
        orSet.mergeInto(fast[r]!, fast[1 - r]!)
        orSet.mergeInto(slow[r]!, slow[1 - r]!)
        assert.ok(orSet.equals(fast[r]!, slow[r]!))
      }
      assert.ok(orSet.equals(fast[0]!, fast[1]!), 'the fast-path replicas do not converge')
    }),
    fcParams(),
  )
})
