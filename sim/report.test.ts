import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  createCluster,
  efficientBroadcast,
  efficientVariants,
  median,
  pushBound,
  pushPullBound,
  roundsToAll,
} from './report.ts'

describe('propagation report', () => {
  it('bounds: push-pull log3 N + ln ln N, push ideal log_(f+1) N', () => {
    assert.ok(Math.abs(pushPullBound(7) - (Math.log(7) / Math.log(3) + Math.log(Math.log(7)))) < 1e-12)
    assert.ok(Math.abs(pushPullBound(5000) - 9.894) < 0.01)
    assert.equal(pushBound(8, 1), 3)
    assert.equal(pushBound(49, 6), 2)
    assert.equal(median([3, 1, 2]), 2)
    assert.equal(median([4, 1, 2, 3]), 2.5)
  })

  it('rounds: 7 nodes at fanout 2 reach everyone in at most 3 rounds (the design note), same seed same count', () => {
    const rs = [1, 2, 3, 4, 5].map((s) => roundsToAll(7, 2, s))
    for (const r of rs) assert.ok(r >= 1 && r <= 3, `rounds ${rs.join(',')}`)
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((s) => roundsToAll(7, 2, s)),
      rs,
    )
    // More fanout never needs more rounds on the same seeds' median, and 50 nodes need more than 7.
    const r50 = [1, 2, 3].map((s) => roundsToAll(50, 2, s))
    assert.ok(median(r50) > median(rs))
    assert.ok(median([1, 2, 3].map((s) => roundsToAll(50, 6, s))) <= median(r50))
  })

  it('the cluster parks ops that arrive ahead of a gap and appends them once the gap fills', () => {
    // Push at once over 30 ms links with 1 s anti-entropy: every node ends with the whole chain, in order.
    const c = createCluster({
      n: 5,
      seed: 3,
      latencyMs: 30,
      tickMs: 10,
      phases: 'random',
      bc: { mode: 'push', fanout: 4, flushIntervalMs: 0 },
      ae: {},
      bcPeersMax: Infinity,
      hubs: 0,
    })
    c.k.run(100)
    const dots: string[] = []
    for (let i = 0; i < 10; i++) dots.push(c.write(0))
    c.k.run(3000)
    for (const d of dots) assert.ok(c.everywhereAt(d) !== undefined, d)
    for (const x of c.nodes) {
      const chain = [...x.log.values()][0] ?? []
      assert.deepEqual(
        chain.map((e) => e.op.seq),
        Array.from({ length: 10 }, (_, i) => i + 1),
      )
    }
  })

  it('efficient broadcast: push over one hub (default mode, fanout and flush) meets the target (msgs/op <= 5, median <= 400 ms, max <= 600 ms)', () => {
    const v = efficientVariants()[0]
    assert.ok(v !== undefined && v.hubs === 1 && v.name.includes('hub-spoke'), v?.name)
    const r = efficientBroadcast(v, 1)
    assert.ok(r.broadcasts > 900 && r.broadcasts < 1100, `${r.broadcasts} broadcasts`)
    assert.ok(r.msgsPerOp <= 5, `msgs/op ${r.msgsPerOp}`)
    assert.ok(r.medianMs <= 400, `median ${r.medianMs} ms`)
    assert.ok(r.maxMs <= 600, `max ${r.maxMs} ms`)
    // Every op needs at least two 100 ms hops (spoke -> hub -> spoke) to be everywhere.
    assert.ok(r.medianMs >= 200)
  })
})
