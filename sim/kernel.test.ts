import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as core from '../src/core/index.ts'
import type { NodeId } from '../src/core/index.ts'
import { createKernel, createNetwork, createSimClock } from './kernel.ts'

const ids = (n: number): NodeId[] => Array.from({ length: n }, (_, i) => core.ids.asNodeId(`n${String(i).padStart(2, '0')}`))

describe('sim kernel', () => {
  it('runs events in time order, ties in scheduling order', () => {
    const k = createKernel(1)
    const seen: string[] = []
    k.at(20, 'x', () => seen.push('c'))
    k.at(10, 'x', () => seen.push('a'))
    k.at(10, 'x', () => {
      seen.push('b')
      k.after(0, 'x', () => seen.push('b2'))
    })
    k.at(30, 'x', () => seen.push('late'))
    k.run(25)
    assert.deepEqual(seen, ['a', 'b', 'b2', 'c'])
    assert.equal(k.nowMs(), 25)
    assert.equal(k.pending(), 1)
  })

  it('runUntil stops when the condition holds, or gives up at the limit', () => {
    const k = createKernel(2)
    let n = 0
    const tick = (): void => {
      n++
      k.after(10, 'tick', tick)
    }
    tick()
    assert.equal(k.runUntil(() => n >= 5, 1000, 10), 40)
    assert.equal(k.runUntil(() => false, 100, 10), undefined)
  })

  it('a clock skews and jumps; the monotonic clock does not', () => {
    const k = createKernel(3)
    const c = createSimClock(k, { epochMs: 1_000_000, skewMs: -500 })
    k.run(100)
    assert.equal(c.wall.nowMs(), 1_000_000 + 100 - 500)
    c.jump(-262_000)
    assert.equal(c.wall.nowMs(), 1_000_000 + 100 - 500 - 262_000)
    assert.equal(c.monoMs(), 100)
    assert.equal(k.faultsFired().get('clock.jump'), 1)
    assert.equal(k.faultsFired().get('clock.skew'), 1)
  })

  it('a warp moves wall clocks and pending events by days, and no monotonic clock sees it', () => {
    const k = createKernel(4)
    const c = createSimClock(k, { epochMs: 0 })
    const seen: number[] = []
    k.at(50, 'x', () => seen.push(k.nowMs()))
    k.run(10)
    k.warp(86_400_000)
    assert.equal(c.wall.nowMs(), 86_400_010)
    assert.equal(c.monoMs(), 10)
    k.run(86_400_049)
    assert.deepEqual(seen, [])
    k.run(86_400_050)
    assert.deepEqual(seen, [86_400_050])
    assert.equal(k.warpedMs(), 86_400_000)
  })

  /** Sends `count` messages n0 -> n1 one ms apart and returns what arrived, in arrival order. */
  function traffic(seed: number, faults: { loss: number; duplicate: number; jitterMs: number }, count: number) {
    const k = createKernel(seed)
    const net = createNetwork(k, { latencyMsMin: 10, latencyMsMax: 10, faults })
    const got: number[] = []
    const [a, b] = ids(2) as [NodeId, NodeId]
    net.register(b, (_from, _to, bytes) => got.push(bytes[0] as number))
    net.register(a, () => {})
    for (let i = 0; i < count; i++) k.at(i, 'send', () => net.send(a, b, Uint8Array.of(i % 256)))
    k.run(10_000)
    return { k, got }
  }

  it('loses, duplicates and reorders at the drawn rates, and replays exactly from a seed', () => {
    const { k, got } = traffic(7, { loss: 0.2, duplicate: 0.3, jitterMs: 50 }, 2000)
    const lost = k.counters.get('net.dropped.loss') ?? 0
    const dup = k.counters.get('net.duplicated') ?? 0
    assert.ok(lost > 300 && lost < 500, `lost ${lost} of 2000 at 20%`)
    assert.ok(dup > 350 && dup < 600, `duplicated ${dup} of ~1600 at 30%`)
    assert.equal(got.length, 2000 - lost + dup)
    assert.ok((k.faultsFired().get('reorder') ?? 0) > 100)
    const again = traffic(7, { loss: 0.2, duplicate: 0.3, jitterMs: 50 }, 2000)
    assert.equal(again.k.traceHash(), k.traceHash())
    assert.deepEqual(again.got, got)
    assert.notEqual(traffic(8, { loss: 0.2, duplicate: 0.3, jitterMs: 50 }, 2000).k.traceHash(), k.traceHash())
  })

  it('without jitter a link keeps its order and loses nothing', () => {
    const { k, got } = traffic(9, { loss: 0, duplicate: 0, jitterMs: 0 }, 300)
    assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => i % 256))
    assert.equal(k.faultsFired().get('reorder'), undefined)
  })

  it('partitions cut by shape, one-way cuts one direction, calm nodes pass, heal restores', () => {
    const k = createKernel(11)
    const net = createNetwork(k)
    const nodes = ids(9)
    const reach = (a: NodeId) => nodes.filter((b) => b !== a && net.connected(a, b))

    const iso = net.partition('isolate', nodes, false)
    const cutOff = nodes.filter((a) => reach(a).length === 0)
    assert.equal(cutOff.length, 1)
    for (const a of nodes) if (a !== cutOff[0]) assert.equal(reach(a).length, 7)
    net.heal(iso)

    const split = net.partition('split', nodes, true)
    const pairs = nodes.flatMap((a) => nodes.filter((b) => b !== a).map((b) => [a, b] as const))
    for (const [a, b] of pairs) assert.ok(net.connected(a, b) || net.connected(b, a), 'one-way: one direction stays')
    assert.ok(pairs.some(([a, b]) => !net.connected(a, b)))
    net.heal(split)

    const ring = net.partition('ring', nodes, false)
    const seen = new Set<string>()
    for (const a of nodes) {
      const r = reach(a)
      assert.ok(r.length + 1 > nodes.length / 2, `${a} reaches a majority (${r.length + 1} of 9)`)
      assert.ok(r.length < nodes.length - 1)
      seen.add([a, ...r].sort().join(','))
    }
    assert.equal(seen.size, nodes.length, 'no two nodes see the same majority')
    const [x, y] = nodes.filter((a) => reach(a).length < 8)
    net.calm.add(x as NodeId)
    net.calm.add(y as NodeId)
    assert.ok(net.connected(x as NodeId, y as NodeId))
    net.heal(ring)
    for (const a of nodes) assert.equal(reach(a).length, 8)
    for (const c of ['partition.isolate', 'partition.split', 'partition.ring', 'partition.one-way'] as const) {
      assert.equal(k.faultsFired().get(c), 1, c)
    }
  })
})
