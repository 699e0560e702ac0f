import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as core from '../core/index.ts'
import type { NodeId } from '../core/index.ts'
import type { LogSource } from './anti-entropy.ts'
import { createAntiEntropy } from './anti-entropy.ts'
import { createMembership } from './membership.ts'
import { createScores, parseScoreConfig, scoreDefaults } from './scores.ts'

const peer = (i: number): NodeId => core.ids.asNodeId(`peer-${i}`)
const minute = 60_000

describe('scores', () => {
  it('checks its settings and names the one out of range', () => {
    assert.ok(parseScoreConfig().ok)
    const r = parseScoreConfig({ blockMs: 10 })
    assert.ok(!r.ok && r.detail.includes('blockMs'))
    const p = parseScoreConfig({ penalty: { ...scoreDefaults.penalty, malformed: -1 } })
    assert.ok(!p.ok && p.detail.includes('penalty.malformed'))
    assert.throws(() => createScores({ scoreAfterBlock: 0 }), /scoreAfterBlock/)
  })

  it('a clean peer is allowed at full score and kept nowhere', () => {
    const s = createScores()
    assert.ok(s.allowed(peer(1), 0))
    assert.equal(s.score(peer(1), 0), scoreDefaults.scoreMax)
    assert.equal(s.size(), 0)
  })

  it('five malformed messages block a peer for blockMs; then it restarts at scoreAfterBlock', () => {
    const s = createScores()
    for (let i = 0; i < 4; i++) assert.equal(s.penalize(peer(1), 'malformed', 5), false)
    assert.ok(s.allowed(peer(1), 5))
    assert.equal(s.penalize(peer(1), 'malformed', 5), true)
    assert.equal(s.allowed(peer(1), 6), false)
    assert.deepEqual(s.blocked(6), [peer(1)])
    assert.ok(s.allowed(peer(2), 6), 'other peers are untouched')
    assert.equal(s.allowed(peer(1), 5 + scoreDefaults.blockMs - 1), false)
    assert.ok(s.allowed(peer(1), 5 + scoreDefaults.blockMs))
    assert.equal(s.score(peer(1), 5 + scoreDefaults.blockMs), scoreDefaults.scoreAfterBlock)
  })

  it('a repeat offender is blocked twice as long', () => {
    const s = createScores()
    for (let i = 0; i < 5; i++) s.penalize(peer(1), 'malformed', 0)
    const back = scoreDefaults.blockMs
    assert.ok(s.allowed(peer(1), back))
    for (let i = 0; i < 3; i++) s.penalize(peer(1), 'malformed', back) // 50 - 60 <= 0
    assert.equal(s.allowed(peer(1), back + 2 * scoreDefaults.blockMs - 1), false)
    assert.ok(s.allowed(peer(1), back + 2 * scoreDefaults.blockMs))
  })

  it('oversized messages cost more: three block', () => {
    const s = createScores()
    assert.equal(s.penalize(peer(1), 'too_large', 0), false)
    assert.equal(s.penalize(peer(1), 'too_large', 0), false)
    assert.equal(s.penalize(peer(1), 'too_large', 0), true)
  })

  it('recovers slowly: a malformed message every two minutes never blocks, and a recovered peer is forgotten', () => {
    const s = createScores()
    for (let t = 0; t < 120 * minute; t += 2 * minute) assert.equal(s.penalize(peer(1), 'malformed', t), false, `blocked at ${t}`)
    assert.ok(s.score(peer(1), 118 * minute + 1) < scoreDefaults.scoreMax)
    assert.ok(s.allowed(peer(1), 200 * minute))
    assert.equal(s.score(peer(1), 200 * minute), scoreDefaults.scoreMax)
    assert.equal(s.size(), 0)
    // A burst, then quiet: partial recovery in between is linear.
    s.penalize(peer(2), 'malformed', 0)
    s.penalize(peer(2), 'malformed', 0)
    assert.equal(s.score(peer(2), 3 * minute), 60 + 30)
  })

  it('time that runs backwards changes nothing', () => {
    const s = createScores()
    s.penalize(peer(1), 'malformed', 10 * minute)
    assert.equal(s.score(peer(1), 0), 80)
    assert.equal(s.score(peer(1), 10 * minute), 80)
  })

  it('keeps at most peersMax records, dropping the most recovered unblocked one first', () => {
    const s = createScores({ peersMax: 3 })
    for (let i = 0; i < 5; i++) s.penalize(peer(1), 'malformed', 0) // blocked
    s.penalize(peer(2), 'malformed', 0)
    s.penalize(peer(3), 'protocol', 0)
    s.penalize(peer(4), 'malformed', 0)
    assert.equal(s.size(), 3)
    assert.equal(s.allowed(peer(1), 1), false, 'the blocked peer must not be evicted while others can be')
    assert.equal(s.score(peer(3), 1), scoreDefaults.scoreMax, 'peer 3 (least penalized) was dropped')
    for (let i = 10; i < 100; i++) s.penalize(peer(i), 'malformed', 2)
    assert.ok(s.size() <= 3)
  })
})

describe('scores wired into the machines', () => {
  it('membership: a peer sending garbage is blocked, unheard, and no longer probed', () => {
    const scores = createScores()
    const self = peer(0)
    const m = createMembership(self, {}, core.prng.create(1), scores)
    const others = [peer(1), peer(2), peer(3)]
    m.receive(peer(1), { type: 'm.members', members: others.map((id) => ({ id, incarnation: 0, status: 'alive' })) }, 0)
    for (let i = 0; i < 5; i++) assert.equal(m.receive(peer(2), new Uint8Array([0xff, i]), 1).rejected.length, 1)
    assert.equal(scores.allowed(peer(2), 2), false)
    // Its valid ping is dropped unread: no ack.
    assert.deepEqual(m.receive(peer(2), { type: 'm.ping', seq: 1, updates: [] }, 2).send, [])
    const probed = new Set<string>()
    for (let t = 0; t < 60_000; t += 100) for (const o of m.tick(t).send) probed.add(o.to)
    assert.ok(probed.has(peer(1)) && probed.has(peer(3)), [...probed].join(','))
    assert.ok(!probed.has(peer(2)), 'a blocked peer was sent a message')
    // The healthy peers still get acks.
    assert.equal(m.receive(peer(3), { type: 'm.ping', seq: 9, updates: [] }, 60_000).send.length, 1)
  })

  it('membership: a join naming another node is a protocol offence', () => {
    const scores = createScores()
    const m = createMembership(peer(0), {}, core.prng.create(1), scores)
    const out = m.receive(peer(1), { type: 'm.join', self: { id: peer(7), incarnation: 0, status: 'alive' } }, 0)
    assert.equal(out.rejected[0]?.reason, 'protocol')
    assert.equal(scores.score(peer(1), 0), scoreDefaults.scoreMax - scoreDefaults.penalty.protocol)
  })

  it('anti-entropy: a peer sending garbage is blocked, unheard, and never picked for an exchange', () => {
    const scores = createScores()
    const log: LogSource = { versionVector: () => new Map(), opsAfter: () => [] }
    const ae = createAntiEntropy({ log, prng: core.prng.create(2), scores, config: { intervalMs: 100 } })
    for (let i = 0; i < 5; i++) assert.equal(ae.receive(peer(2), { type: 'ae.nope' }, 1).rejected.length, 1)
    assert.equal(scores.allowed(peer(2), 2), false)
    assert.equal(ae.receive(peer(2), { type: 'ae.digest', digest: { entries: [] } }, 2).send.length, 0)
    assert.equal(ae.receive(peer(1), { type: 'ae.digest', digest: { entries: [], range: { from: '', to: null } } }, 2).rejected.length, 0)
    const picked = new Set<string>()
    for (let t = 0; t < 10_000; t += 50) for (const o of ae.tick(t, [peer(1), peer(2)]).send) picked.add(o.to)
    assert.deepEqual([...picked], [peer(1)])
  })
})
