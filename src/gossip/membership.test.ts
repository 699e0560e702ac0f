import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import * as core from '../core/index.ts'
import type { NodeId } from '../core/index.ts'
import type { Membership, MembershipMessage, MemberStatus, Update } from './membership.ts'
import {
  checkMessage,
  createMembership,
  decodeMessage,
  encodeMessage,
  messageBytes,
  messageBytesLimit,
  membershipDefaults,
  parseConfig,
  piggybackEntriesLimit,
  retransmitLimit,
  suspicionBoundsMs,
  suspicionTimeoutMs,
  updateBytes,
} from './membership.ts'
import {
  converged,
  createTestNet,
  joinAllThroughSeed,
  measureDetection,
  measureFalsePositives,
  nodeId,
  reportFailureDetection,
  summarize,
} from './membership.test-util.ts'

const period = membershipDefaults.protocolPeriodMs
const node = (net: { nodes: Map<NodeId, Membership> }, id: NodeId): Membership => net.nodes.get(id) as Membership

/** A converged net of n nodes (joined through node 0), or a failed assertion. */
function convergedNet(n: number, seed: number, loss = 0) {
  const net = createTestNet({ n, seed, loss })
  joinAllThroughSeed(net)
  const took = net.runUntil(() => converged(net), 60 * period)
  assert.ok(took !== undefined, `seed ${seed}: ${n} nodes did not converge within 60 periods`)
  return net
}

describe('membership: settings and timing math', () => {
  it('accepts the defaults and names the setting that is out of range', () => {
    assert.ok(parseConfig().ok)
    const r = parseConfig({ indirectChecks: 0 })
    assert.ok(!r.ok && r.detail.includes('indirectChecks'), JSON.stringify(r))
    const t = parseConfig({ probeTimeoutMs: 1000, protocolPeriodMs: 1000 })
    assert.ok(!t.ok && t.detail.includes('probeTimeoutMs'))
    assert.throws(() => createMembership(nodeId(0), { piggybackBytesMax: 1.5 }, core.prng.create(1)), /piggybackBytesMax/)
  })

  it('suspicion timeout shrinks from max to min with confirmations, on a log scale', () => {
    assert.equal(suspicionTimeoutMs(1000, 6000, 0, 3), 6000)
    assert.equal(suspicionTimeoutMs(1000, 6000, 3, 3), 1000)
    assert.equal(suspicionTimeoutMs(1000, 6000, 9, 3), 1000)
    assert.equal(suspicionTimeoutMs(1000, 6000, 1, 3), 6000 - Math.floor(0.5 * 5000)) // log 2 / log 4 = 1/2
    assert.equal(suspicionTimeoutMs(1000, 6000, 0, 0), 1000)
    let last = Infinity
    for (let c = 0; c <= 5; c++) {
      const t = suspicionTimeoutMs(1000, 6000, c, 5)
      assert.ok(t <= last)
      last = t
    }
  })

  it('suspicion bounds scale with log10(n), floored at one', () => {
    const c = { ...membershipDefaults, suspicionMult: 4, suspicionMaxMult: 3, protocolPeriodMs: 1000 }
    assert.deepEqual(suspicionBoundsMs(c, 5), [4000, 12000])
    assert.deepEqual(suspicionBoundsMs(c, 100), [8000, 24000])
  })

  it('retransmit limit is lambda * ceil(log10(n + 1))', () => {
    assert.equal(retransmitLimit(4, 1), 4)
    assert.equal(retransmitLimit(4, 9), 4)
    assert.equal(retransmitLimit(4, 10), 8)
    assert.equal(retransmitLimit(4, 1000), 16)
  })
})

describe('membership: a small network on a manual clock', () => {
  it('all nodes converge to the same member list after joining through one seed', () => {
    const net = createTestNet({ n: 12, seed: 7 })
    joinAllThroughSeed(net)
    const took = net.runUntil(() => converged(net), 60 * period)
    assert.ok(took !== undefined, 'not converged in 60 periods')
    const lists = net.ids.map((id) => [id, ...node(net, id).members().map((m) => m.id)].sort().join(','))
    assert.equal(new Set(lists).size, 1)
  })

  it('50 nodes joining through any already-joined member converge', () => {
    const net = createTestNet({ n: 50, seed: 31 })
    const pick = core.prng.create(31)
    for (let i = 1; i < net.ids.length; i++) {
      const via = net.ids[core.prng.nextInt(pick, i)] as NodeId
      net.inject(net.ids[i] as NodeId, node(net, net.ids[i] as NodeId).join(via, net.nowMs))
      net.run(200)
    }
    const took = net.runUntil(() => converged(net), 60 * period)
    assert.ok(took !== undefined, '50 nodes did not converge in 60 periods')
  })

  it('every message keeps to the piggyback and join-answer limits', () => {
    const config = { piggybackEntriesMax: 3, piggybackBytesMax: 100, membersPerMessageMax: 5 }
    const net = createTestNet({ n: 30, seed: 41, loss: 0.05, config })
    let checked = 0
    net.onSend = (_f, _t, m) => {
      const msg = m as { updates?: Update[]; members?: Update[] }
      if (msg.updates !== undefined) {
        assert.ok(msg.updates.length <= config.piggybackEntriesMax, `${msg.updates.length} updates`)
        const bytes = msg.updates.reduce((sum, u) => sum + updateBytes(u), 0)
        assert.ok(bytes <= config.piggybackBytesMax, `${bytes} piggyback bytes`)
        checked++
      }
      if (msg.members !== undefined) assert.ok(msg.members.length <= config.membersPerMessageMax)
    }
    joinAllThroughSeed(net)
    assert.ok(net.runUntil(() => converged(net), 120 * period) !== undefined, 'not converged under tight limits')
    assert.ok(checked > 1000)
  })

  it('is deterministic: the same seed gives the same trace', () => {
    const trace = () => {
      const net = createTestNet({ n: 8, seed: 37, loss: 0.1 })
      joinAllThroughSeed(net)
      net.run(40 * period)
      net.down.add(net.ids[2] as NodeId)
      net.run(40 * period)
      return JSON.stringify(net.changes) + net.delivered
    }
    assert.equal(trace(), trace())
  })

  it('a join answer is bounded by membersPerMessageMax; the rest arrives by gossip', () => {
    const net = createTestNet({ n: 10, seed: 3, config: { membersPerMessageMax: 3 } })
    let biggest = 0
    net.onSend = (_f, _t, m) => {
      const msg = m as { type: string; members?: unknown[] }
      if (msg.type === 'm.members') biggest = Math.max(biggest, msg.members?.length ?? 0)
    }
    joinAllThroughSeed(net)
    assert.ok(net.runUntil(() => converged(net), 60 * period) !== undefined)
    assert.ok(biggest > 0 && biggest <= 3, `largest join answer ${biggest}`)
  })

  it('a lost join is retried', () => {
    const net = createTestNet({ n: 3, seed: 5 })
    net.down.add(net.ids[0] as NodeId)
    joinAllThroughSeed(net)
    net.run(5 * period)
    net.down.delete(net.ids[0] as NodeId)
    assert.ok(net.runUntil(() => converged(net), 30 * period) !== undefined)
  })

  it('a crashed node is suspected, then marked offline by every other node within the bound', () => {
    const n = 10
    const net = convergedNet(n, 11)
    net.run(5 * period)
    const victim = net.ids[4] as NodeId
    net.down.add(victim)
    const crashAt = net.nowMs
    // Probed within two rounds of the shuffled list; then the suspicion runs out (at most the lone max).
    const [, maxMs] = suspicionBoundsMs(membershipDefaults, n)
    const boundMs = 2 * (n - 1) * period + maxMs + 10 * period
    const took = net.runUntil(() => net.ids.every((id) => id === victim || net.statusAt(id, victim) === 'offline'), boundMs)
    assert.ok(took !== undefined, `not offline everywhere within ${boundMs} ms`)
    assert.ok(
      net.changes.some((c) => c.id === victim && c.status === 'suspect' && c.atMs >= crashAt),
      'offline without passing through suspect',
    )
    // Kept, not forgotten, and no one else was touched.
    for (const id of net.ids) {
      if (id === victim) continue
      assert.equal(node(net, id).members().length, n - 1)
      for (const other of net.ids) if (other !== victim) assert.equal(net.statusAt(id, other), 'alive')
    }
  })

  it('a falsely suspected node refutes with a higher incarnation and is never marked offline', () => {
    const net = convergedNet(6, 13)
    const [a, b, x] = net.ids as [NodeId, NodeId, NodeId]
    const inc = node(net, b).member(x)?.incarnation ?? -1
    // a tells b that x is suspect, as if a's probe of x had failed.
    const out = node(net, b).receive(a, { type: 'm.ping', seq: 1, updates: [{ id: x, incarnation: inc, status: 'suspect', by: a }] }, net.nowMs)
    net.inject(b, out)
    assert.equal(net.statusAt(b, x), 'suspect')
    const took = net.runUntil(() => net.ids.every((id) => net.statusAt(id, x) === 'alive'), 20 * period)
    assert.ok(took !== undefined, 'suspicion was not refuted')
    assert.ok(node(net, x).incarnation() > inc)
    assert.ok(node(net, x).health() >= 0)
    assert.ok(!net.changes.some((c) => c.id === x && c.status === 'offline'))
  })

  it('a node back after being offline is alive again everywhere', () => {
    const cfg = membershipDefaults
    const net = convergedNet(8, 17)
    const x = net.ids[5] as NodeId
    net.down.add(x)
    assert.ok(net.runUntil(() => net.ids.every((id) => id === x || net.statusAt(id, x) === 'offline'), 120 * period) !== undefined)
    net.run(30 * period) // a long sleep
    net.down.delete(x)
    const took = net.runUntil(() => converged(net), (2 * cfg.offlineProbeEvery + 40) * period)
    assert.ok(took !== undefined, 'the node that came back is not alive everywhere')
  })

  it('a node that hears nothing raises its local health multiplier and probes less often', () => {
    const net = convergedNet(6, 19)
    const x = net.ids[2] as NodeId
    let pings = 0
    net.onSend = (from, _to, m) => {
      if (from === x && (m as { type: string }).type === 'm.ping') pings++
    }
    net.run(20 * period)
    const healthyPings = pings
    net.deaf.add(x)
    net.run(20 * period) // ramp up
    pings = 0
    net.run(20 * period)
    assert.ok(node(net, x).health() >= 3, `health ${node(net, x).health()}`)
    assert.ok(pings < healthyPings / 2, `deaf node sent ${pings} pings in 20 periods, healthy ${healthyPings}`)
    net.deaf.delete(x)
    assert.ok(net.runUntil(() => node(net, x).health() === 0, 120 * period) !== undefined, 'health never recovered')
  })

  it('retransmits are bounded: a quiet fleet stops piggybacking', () => {
    const net = convergedNet(8, 23)
    net.run(60 * period)
    let updates = 0
    net.onSend = (_f, _t, m) => {
      const u = (m as { updates?: unknown[] }).updates
      if (u !== undefined) updates += u.length
    }
    net.run(10 * period)
    assert.equal(updates, 0)
  })

  it('a retired member stays retired and is spread to all', () => {
    const net = convergedNet(5, 29)
    const [a, , , , r] = net.ids as [NodeId, NodeId, NodeId, NodeId, NodeId]
    net.down.add(r)
    net.inject(a, node(net, a).retire(r, net.nowMs))
    assert.ok(net.runUntil(() => net.ids.every((id) => id === r || net.statusAt(id, r) === 'retired'), 30 * period) !== undefined)
    net.down.delete(r)
    net.run(30 * period)
    for (const id of net.ids) if (id !== r) assert.equal(net.statusAt(id, r), 'retired')
  })

  it('10% message loss over 300 periods marks no live node offline (50 seeds)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), fc.integer({ min: 4, max: 8 }), (seed, n) => {
        const net = convergedNet(n, seed)
        net.loss = 0.1
        net.run(300 * period)
        const offline = net.changes.filter((c) => c.status === 'offline')
        assert.deepEqual(offline, [], `seed ${seed} n ${n}: false offline marks`)
      }),
      { numRuns: 50, seed: 42 },
    )
  })
})

describe('membership: failure detection scenario (issue 4, small)', () => {
  it('N = 30, 10% loss, short pauses: every member marks a crash offline within 25 s, no false offline (8 seeds)', () => {
    const runs = Array.from({ length: 8 }, (_, i) => measureDetection({ n: 30, seed: 500 + i }))
    for (const r of runs) {
      assert.ok(r.detectMs !== undefined && r.detectMs <= 25_000, `seed ${r.seed}: ${r.detectMs} ms`)
      assert.equal(r.falseOffline, 0, `seed ${r.seed}`)
    }
    const s = summarize(runs.map((r) => r.detectMs))
    assert.ok(s.min <= s.median && s.median <= s.p99 && s.p99 <= s.max)
  })

  it('the report function the propagation report calls gives consistent figures', () => {
    const r = reportFailureDetection({ n: 12, seeds: 3, quietHours: 0 })
    assert.equal(r.seeds, 3)
    assert.ok(Number.isFinite(r.detectMs.max) && r.detectMs.min <= r.detectMs.p99, JSON.stringify(r))
    assert.equal(r.detectFalseOffline, 0)
    assert.equal(r.quietFalseOffline, 0)
  })

  it('N = 30, 10% loss, short pauses, 10 simulated minutes: pauses cause suspicions but no offline mark', () => {
    const r = measureFalsePositives({ n: 30, seed: 77, durationMs: 600_000 })
    assert.ok(r.converged)
    assert.ok(r.pauses > 100, `${r.pauses} pauses`)
    assert.ok(r.falseSuspect > 0, 'no pause was long enough to be suspected: the scenario tests nothing')
    assert.equal(r.falseOffline, 0)
  })
})

describe('membership: one machine, by hand', () => {
  const self = nodeId(0)
  const peers = Array.from({ length: 9 }, (_, i) => nodeId(i + 1))
  const machine = () => {
    const m = createMembership(self, {}, core.prng.create(3))
    m.receive(peers[0] as NodeId, { type: 'm.members', members: peers.map((id) => ({ id, incarnation: 0, status: 'alive' })) }, 0)
    return m
  }
  /** Time from the first accusation until the target goes offline, with `accusers` distinct accusers. */
  const offlineAfter = (accusers: number): number => {
    const m = machine()
    const target = peers[8] as NodeId
    for (let i = 0; i < accusers; i++) {
      const by = peers[i] as NodeId
      m.receive(by, { type: 'm.ping', seq: i, updates: [{ id: target, incarnation: 0, status: 'suspect', by }] }, 0)
    }
    assert.equal(m.member(target)?.status, 'suspect')
    for (let t = 0; t <= 60_000; t += 100) {
      // The machine probes the suspect itself; the target acks (without refuting), so the only
      // confirmations are the accusers fed in above.
      for (const o of m.tick(t).send) {
        const msg = o.message
        if (o.to === target && msg.type === 'm.ping') m.receive(target, { type: 'm.ack', seq: msg.seq, updates: [] }, t)
      }
      if (m.member(target)?.status === 'offline') return t
    }
    return Infinity
  }

  it('independent confirmations shorten the suspicion timeout down to the minimum (Lifeguard)', () => {
    const [minMs, maxMs] = suspicionBoundsMs(membershipDefaults, 10)
    const lone = offlineAfter(1)
    const two = offlineAfter(2)
    const full = offlineAfter(1 + membershipDefaults.indirectChecks)
    assert.ok(lone >= maxMs && lone < maxMs + 200, `lone ${lone}, max ${maxMs}`)
    assert.ok(two < lone && two > full, `two ${two}`)
    assert.ok(full >= minMs && full < minMs + 200, `confirmed ${full}, min ${minMs}`)
  })

  it('an offline member is pinged only every offlineProbeEvery periods', () => {
    const m = machine()
    const target = peers[8] as NodeId
    m.receive(peers[0] as NodeId, { type: 'm.ping', seq: 1, updates: [{ id: target, incarnation: 0, status: 'offline' }] }, 0)
    let pings = 0
    let tOffline = 0
    for (let t = 0; t < 200 * period; t += 100) {
      for (const o of m.tick(t).send) {
        if (o.to === target) {
          pings++
          // Its own offline entry rides first, so it can refute on contact.
          const u = (o.message as unknown as { updates: { id: string; status: string }[] }).updates[0]
          assert.deepEqual([u?.id, u?.status], [target, 'offline'])
        }
      }
      tOffline = t
    }
    const expected = tOffline / (membershipDefaults.offlineProbeEvery * period)
    assert.ok(pings >= expected - 1 && pings <= expected + 1, `${pings} pings in ${tOffline} ms, expected about ${expected}`)
  })
})

describe('membership: suspicion is checked by every holder', () => {
  const ids = Array.from({ length: 10 }, (_, i) => nodeId(i))
  const machine = (self: NodeId, seed = 3) => {
    const m = createMembership(self, {}, core.prng.create(seed))
    m.receive(ids[1] === self ? (ids[2] as NodeId) : (ids[1] as NodeId), { type: 'm.members', members: ids.filter((id) => id !== self).map((id) => ({ id, incarnation: 0, status: 'alive' })) }, 0)
    return m
  }
  const [a, b, x] = ids as [NodeId, NodeId, NodeId]

  it('a node that hears a suspicion probes the suspect first, and its failed probe confirms it', () => {
    const m = machine(a)
    m.receive(b, { type: 'm.ping', seq: 1, updates: [{ id: x, incarnation: 0, status: 'suspect', by: b }] }, 0)
    const first = m.tick(0).send.find((o) => o.message.type === 'm.ping')
    assert.equal(first?.to, x, 'the suspect was not probed first')
    // No ack: ping-reqs go out, then the period ends and our own confirmation is gossiped.
    const sent: Update[] = []
    for (let t = 100; t <= 3000; t += 100) {
      for (const o of m.tick(t).send) {
        const msg = o.message
        if (msg.type === 'm.ping-req' && msg.target === x) assert.deepEqual(msg.updates[0], { id: x, incarnation: 0, status: 'suspect', by: b }, 'the target entry leads a ping-req')
        if (msg.type === 'm.ping' || msg.type === 'm.ping-req') sent.push(...msg.updates)
      }
    }
    assert.ok(sent.some((u) => u.id === x && u.status === 'suspect' && u.by === a), 'no confirmation by a was gossiped')
  })

  it('the suspect refutes in its ack, first, so the prober clears the suspicion itself', () => {
    const prober = machine(a)
    const suspect = machine(x, 4)
    prober.receive(b, { type: 'm.ping', seq: 1, updates: [{ id: x, incarnation: 0, status: 'suspect', by: b }] }, 0)
    const ping = prober.tick(0).send.find((o) => o.to === x)
    assert.ok(ping !== undefined && ping.message.type === 'm.ping')
    assert.deepEqual(ping.message.updates[0], { id: x, incarnation: 0, status: 'suspect', by: b })
    const ack = suspect.receive(a, ping.message, 50).send[0]
    assert.ok(ack !== undefined && ack.message.type === 'm.ack')
    assert.deepEqual(ack.message.updates[0], { id: x, incarnation: 1, status: 'alive' })
    prober.receive(x, ack.message, 100)
    assert.deepEqual([prober.member(x)?.status, prober.member(x)?.incarnation], ['alive', 1])
  })

  it('a relay passes the suspicion to the target and forwards its refutation to the origin', () => {
    const relay = machine(b, 5)
    const suspect = machine(x, 6)
    const req = { type: 'm.ping-req', seq: 7, target: x, updates: [{ id: x, incarnation: 0, status: 'suspect', by: a }] }
    const ping = relay.receive(a, req, 0).send.find((o) => o.to === x)
    assert.ok(ping !== undefined && ping.message.type === 'm.ping')
    assert.equal(ping.message.updates[0]?.id, x)
    const ack = suspect.receive(b, ping.message, 50).send[0]
    assert.ok(ack !== undefined)
    const fwd = relay.receive(x, ack.message, 100).send.find((o) => o.to === a)
    assert.ok(fwd !== undefined && fwd.message.type === 'm.ack')
    assert.equal(fwd.message.seq, 7)
    assert.deepEqual(fwd.message.updates[0], { id: x, incarnation: 1, status: 'alive' })
  })

  it('probing a dead member raises health only for missing nacks (Lifeguard)', () => {
    const m = machine(a)
    const dead = x
    m.receive(b, { type: 'm.ping', seq: 1, updates: [{ id: dead, incarnation: 0, status: 'suspect', by: b }] }, 0)
    // Every relay answers nack: our links are fine, the target is down.
    for (let t = 0; t <= 1000; t += 100) {
      for (const o of m.tick(t).send) {
        if (o.message.type === 'm.ping-req') m.receive(o.to, { type: 'm.nack', seq: o.message.seq }, t)
      }
    }
    assert.equal(m.health(), 0)
  })

  it('nacks that arrive after the probe period still count (a slow link is not a bad node)', () => {
    const run = (nackDelayMs: number): number => {
      const m = machine(a)
      m.receive(b, { type: 'm.ping', seq: 1, updates: [{ id: x, incarnation: 0, status: 'suspect', by: b }] }, 0)
      const late: { from: NodeId; seq: number; atMs: number }[] = []
      // Up to just before the next probe (started at 1000, no acks either) would be judged.
      for (let t = 0; t <= 1900; t += 100) {
        for (const l of late.filter((n) => n.atMs === t)) m.receive(l.from, { type: 'm.nack', seq: l.seq }, t)
        for (const o of m.tick(t).send) {
          if (o.message.type === 'm.ping-req' && o.message.target === x) late.push({ from: o.to, seq: o.message.seq, atMs: t + nackDelayMs })
        }
      }
      return m.health()
    }
    assert.equal(run(700), 0, 'nacks 200 ms after the period end were ignored')
    assert.ok(run(2000) > 0, 'nacks that never came in time must raise health')
  })
})

describe('membership: bad input', () => {
  const self = nodeId(0)
  const peer = nodeId(1)
  const fresh = () => {
    const m = createMembership(self, {}, core.prng.create(9))
    m.receive(peer, { type: 'm.members', members: [{ id: peer, incarnation: 0, status: 'alive' }] }, 0)
    return m
  }

  it('rejects wrong types, huge lists and impossible incarnations without throwing or changing state', () => {
    const bad: unknown[] = [
      null,
      42,
      'm.ping',
      [],
      { type: 'm.nope' },
      { type: 'm.ping' },
      { type: 'm.ping', seq: -1, updates: [] },
      { type: 'm.ping', seq: 1.5, updates: [] },
      { type: 'm.ping', seq: 2 ** 40, updates: [] },
      { type: 'm.ping', seq: 1, updates: 'x' },
      { type: 'm.ping', seq: 1, updates: [{ id: '', incarnation: 0, status: 'alive' }] },
      { type: 'm.ping', seq: 1, updates: [{ id: 'x', incarnation: -1, status: 'alive' }] },
      { type: 'm.ping', seq: 1, updates: [{ id: 'x', incarnation: 2 ** 53, status: 'alive' }] },
      { type: 'm.ping', seq: 1, updates: [{ id: 'x', incarnation: 0, status: 'zombie' }] },
      { type: 'm.ping', seq: 1, updates: [{ id: 'x', incarnation: 0, status: 'suspect', by: 7 }] },
      { type: 'm.ping', seq: 1, updates: Array.from({ length: piggybackEntriesLimit + 1 }, (_, i) => ({ id: `n${i}`, incarnation: 0, status: 'alive' })) },
      { type: 'm.ping-req', seq: 1, updates: [], target: '' },
      { type: 'm.join', self: { id: peer, incarnation: 0, status: 'suspect' } },
      { type: 'm.members', members: Array.from({ length: 5000 }, (_, i) => ({ id: `n${i}`, incarnation: 0, status: 'alive' })) },
    ]
    const m = fresh()
    const before = JSON.stringify(m.members())
    for (const b of bad) {
      const out = m.receive(peer, b, 1)
      assert.equal(out.rejected.length, 1, `not rejected: ${JSON.stringify(b)?.slice(0, 80)}`)
      assert.equal(out.send.length, 0)
    }
    assert.equal(JSON.stringify(m.members()), before)
    const huge = m.receive(peer, bad.at(-1), 1)
    assert.equal(huge.rejected[0]?.reason, 'too_large')
  })

  it('ignores accusations about unknown members and a join that names another node', () => {
    const m = fresh()
    const stranger = core.ids.asNodeId('stranger')
    m.receive(peer, { type: 'm.ping', seq: 1, updates: [{ id: stranger, incarnation: 99, status: 'suspect', by: peer }] }, 1)
    m.receive(peer, { type: 'm.ping', seq: 2, updates: [{ id: stranger, incarnation: 99, status: 'offline' }] }, 1)
    assert.equal(m.member(stranger), undefined)
    const j = m.receive(peer, { type: 'm.join', self: { id: stranger, incarnation: 0, status: 'alive' } }, 1)
    assert.equal(j.rejected.length, 1)
    assert.equal(m.member(stranger), undefined)
  })

  it('refutes a suspicion of itself at its incarnation or above, and ignores a stale one', () => {
    const m = fresh()
    m.receive(peer, { type: 'm.ping', seq: 1, updates: [{ id: self, incarnation: 5, status: 'suspect', by: peer }] }, 1)
    assert.equal(m.incarnation(), 6)
    m.receive(peer, { type: 'm.ping', seq: 2, updates: [{ id: self, incarnation: 3, status: 'offline' }] }, 1)
    assert.equal(m.incarnation(), 6)
    const ack = m.receive(peer, { type: 'm.ping', seq: 3, updates: [] }, 1)
    const sent = ack.send[0]?.message as unknown as { updates: { id: string; incarnation: number; status: string }[] }
    assert.ok(sent.updates.some((u) => u.id === self && u.incarnation === 6 && u.status === 'alive'))
  })

  it('never throws on arbitrary input (fuzz)', () => {
    const m = fresh()
    const update = fc.record({
      id: fc.oneof(fc.constant(self), fc.constant(peer), fc.string()),
      incarnation: fc.oneof(fc.integer(), fc.double()),
      status: fc.oneof(fc.constantFrom('alive', 'suspect', 'offline', 'retired'), fc.string()),
      by: fc.option(fc.oneof(fc.constant(peer), fc.anything()), { nil: undefined }),
    })
    const message = fc.oneof(
      fc.anything(),
      fc.record({
        type: fc.constantFrom('m.ping', 'm.ack', 'm.ping-req', 'm.nack', 'm.join', 'm.members', 'x'),
        seq: fc.oneof(fc.nat(), fc.integer(), fc.double()),
        target: fc.oneof(fc.constant(peer), fc.constant(self), fc.anything()),
        updates: fc.array(update, { maxLength: 20 }),
        members: fc.array(update, { maxLength: 20 }),
        self: update,
      }),
    )
    let t = 0
    fc.assert(
      fc.property(message, (msg) => {
        t += 10
        const out = m.receive(peer, msg, t)
        m.tick(t)
        assert.ok(out.rejected.length > 0 || checkMessage(msg).ok)
      }),
      { numRuns: 3000, seed: 1 },
    )
  })
})

describe('membership: wire form', () => {
  const nodeIdArb = fc.oneof(
    fc.constantFrom(nodeId(0), nodeId(1), nodeId(42)),
    fc.string({ minLength: 1, maxLength: core.ids.nodeIdCharsMax, unit: 'grapheme' }).map((s) => s as NodeId),
  )
  const updateArb: fc.Arbitrary<Update> = fc
    .record({
      id: nodeIdArb,
      incarnation: fc.oneof(fc.nat(10), fc.integer({ min: 0, max: 0xffffffff })),
      status: fc.constantFrom<MemberStatus>('alive', 'suspect', 'offline', 'retired'),
      by: fc.option(nodeIdArb, { nil: undefined }),
    })
    .map((u) => (u.by === undefined ? { id: u.id, incarnation: u.incarnation, status: u.status } : u))
  const seqArb = fc.integer({ min: 0, max: 0xffffffff })
  const updatesArb = fc.array(updateArb, { maxLength: 20 })
  const messageArb: fc.Arbitrary<MembershipMessage> = fc.oneof(
    fc.record({ type: fc.constant('m.ping' as const), seq: seqArb, updates: updatesArb }),
    fc.record({ type: fc.constant('m.ack' as const), seq: seqArb, updates: updatesArb }),
    fc.record({ type: fc.constant('m.ping-req' as const), seq: seqArb, target: nodeIdArb, updates: updatesArb }),
    fc.record({ type: fc.constant('m.nack' as const), seq: seqArb }),
    fc.record({ type: fc.constant('m.join' as const), self: updateArb.map((u) => ({ ...u, status: 'alive' as const })) }),
    fc.record({ type: fc.constant('m.members' as const), members: updatesArb }),
    fc.record({ type: fc.constant('m.sync' as const), members: updatesArb }),
  )

  it('round-trips every valid message, and messageBytes is the exact length', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        assert.ok(checkMessage(m).ok, JSON.stringify(m))
        const bytes = encodeMessage(m)
        assert.equal(bytes.length, messageBytes(m))
        const back = decodeMessage(bytes)
        assert.ok(back.ok, back.ok ? '' : back.detail)
        assert.deepEqual(back.value, JSON.parse(JSON.stringify(m)))
      }),
      { numRuns: 600, seed: 11 },
    )
  })

  it('rejects every truncation and any trailing byte, without throwing', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), (m, extra) => {
        const bytes = encodeMessage(m)
        for (let cut = 0; cut < bytes.length; cut++) {
          const r = decodeMessage(bytes.subarray(0, cut))
          // A cut that lands on a shorter valid message is possible only for the count-prefixed tail.
          if (r.ok) assert.notDeepEqual(r.value, JSON.parse(JSON.stringify(m)))
        }
        const longer = new Uint8Array(bytes.length + 1)
        longer.set(bytes)
        longer[bytes.length] = extra & 0xff
        assert.equal(decodeMessage(longer).ok, false)
      }),
      { numRuns: 120, seed: 12 },
    )
  })

  it('rejects frames over messageBytesLimit unread, unknown types and flags, out-of-range numbers', () => {
    const huge = decodeMessage(new Uint8Array(messageBytesLimit + 1))
    assert.ok(!huge.ok && huge.reason === 'too_large')
    const ping = encodeMessage({ type: 'm.ping', seq: 1, updates: [{ id: nodeId(3), incarnation: 1, status: 'alive' }] })
    const badType = ping.slice()
    badType[0] = 0x09
    assert.equal(decodeMessage(badType).ok, false)
    const badFlags = ping.slice()
    badFlags[1 + 1 + 1 + 1 + nodeId(3).length] = 0x08 // the update's flags byte
    assert.equal(decodeMessage(badFlags).ok, false)
    // seq 2^32: a valid varint, out of range (M2).
    const big = core.codec.encodeWith((w) => {
      core.codec.writeByte(w, 0x04)
      core.codec.writeUvarint(w, 2 ** 32)
    })
    assert.equal(decodeMessage(big).ok, false)
    // Too many piggybacked updates (M3), even though each is valid.
    const many = { type: 'm.ping' as const, seq: 1, updates: Array.from({ length: piggybackEntriesLimit + 1 }, (_, i) => ({ id: nodeId(i), incarnation: 0, status: 'alive' as const })) }
    const r = decodeMessage(encodeMessage(many))
    assert.ok(!r.ok && r.detail.includes('over'), JSON.stringify(r))
  })

  it('a message whose wire form would exceed messageBytesLimit is too_large as an object too (M7)', () => {
    const longId = (i: number) => `${'\u4e00'.repeat(120)}${i}` as NodeId // 3 UTF-8 bytes a character
    const members = Array.from({ length: 200 }, (_, i) => ({ id: longId(i), incarnation: 0, status: 'suspect' as const, by: longId(i + 1) }))
    const c = checkMessage({ type: 'm.members', members })
    assert.ok(!c.ok && c.reason === 'too_large', JSON.stringify(c).slice(0, 200))
  })

  it('a member window stays under messageBytesLimit even with long non-ASCII ids', () => {
    const m = createMembership(nodeId(0), { membersPerMessageMax: 1024 }, core.prng.create(1))
    const longId = (i: number) => `${'\u4e00'.repeat(120)}${i}` as NodeId
    for (let i = 0; i < 300; i += 50) {
      m.receive(nodeId(1), { type: 'm.members', members: Array.from({ length: 50 }, (_, j) => ({ id: longId(i + j), incarnation: 0, status: 'alive' })) }, 0)
    }
    const out = m.receive(nodeId(1), { type: 'm.sync', members: [] }, 1)
    const reply = out.send[0]?.message
    assert.ok(reply !== undefined && reply.type === 'm.members')
    assert.ok(reply.members.length > 100 && reply.members.length < 300, `${reply.members.length} members`)
    assert.ok(encodeMessage(reply).length <= messageBytesLimit)
  })
})
