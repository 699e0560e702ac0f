/**
 * A node partitioned during a revocation drops the revoked node's ops it took meanwhile (docs/PROTOCOL.md
 * section 5): live fleet daemons on loopback. The root A is down while X, a member, writes to B and C;
 * A revokes X with a cutoff before those writes. B learns the revocation from A when they meet again and
 * C finds it in its home at start: both quarantine X's later ops and end with A's state (stateHash).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type * as log from '../log/index.ts'
import { opLog } from '../store/index.ts'
import type { Daemon, DaemonOptions } from './daemon.ts'
import { createTestFleet, daemonHarness, fastGossip, identityOf, seqOf, writeEntry } from './daemon.test-util.ts'
import * as fleetHome from './fleet-home.ts'
import { stateHash } from './folder-sync.ts'
import { closeLocal, openLocal, reads } from './local.ts'
import type { Local } from './local.ts'

const { tempHome, start: startWith, stop, waitFor } = daemonHarness({ tmpPrefix: 'gv-revoke-', label: 'revoke test' })
const authorOf = (h: string): log.AuthorId => identityOf(h).signer.author
/** One channel entry (no fact id) written through a second connection to the node's store; its seq. */
const publish = (dir: string, text: string): number => writeEntry(dir, text, { factId: false }).seq

function withLocal<T>(dir: string, f: (l: Local) => T): T {
  const l = openLocal(dir)
  assert.ok(l.ok)
  try {
    return f(l.value)
  } finally {
    closeLocal(l.value)
  }
}

const texts = (dir: string): string[] =>
  withLocal(dir, (l) => reads(l).entries({ nowMs: Date.now() }).map((e) => String(e.value))).sort()
const found = (dir: string, text: string): number => withLocal(dir, (l) => reads(l).search({ text, limit: 10, nowMs: Date.now() }).length)

describe('revocation during a partition (live fleet daemons on loopback)', { timeout: 40_000 }, () => {
  const now = Date.now()
  const [ha, hb, hc, hx] = [tempHome('root'), tempHome('bee'), tempHome('cee'), tempHome('ex')]
  const { root } = createTestFleet(ha, [hb, hc, hx], { caps: ['read', 'write:*'], ttlMs: 600_000, nowMs: () => now })
  const said = new Map<string, string[]>()
  const start = async (h: string, o: Partial<DaemonOptions> = {}): Promise<Daemon> => {
    const lines: string[] = []
    said.set(h, lines)
    return startWith({ home: h, listenHost: '127.0.0.1', listenPort: 0, security: 'fleet', ...fastGossip, log: (line) => lines.push(line), ...o })
  }

  it('ops of the revoked node past the cutoff, taken while partitioned, leave log and views; the states converge', async () => {
    let a = await start(ha)
    const b = await start(hb, { join: [a.address] })
    let c = await start(hc, { join: [a.address] })
    const x = await start(hx, { join: [a.address] })
    const ex = authorOf(hx)
    const pre = publish(hx, 'ex before the revocation')
    await waitFor('everyone has ex\'s early entry', () => [a, b, c].every((d) => seqOf(d, ex) >= pre))
    const cutoff = seqOf(a, ex)

    // the partition: the root goes down; ex writes on, bee and cee (not knowing) take it
    await stop(a)
    const post = publish(hx, 'ex zebra after the revocation')
    await waitFor('bee and cee took ex\'s late entry', () => seqOf(b, ex) >= post && seqOf(c, ex) >= post)
    assert.ok(post > cutoff)
    // the root revokes ex, with the cutoff it saw: nothing ex wrote in the partition counts
    const r = fleetHome.revoke(ha, root, { node: ex, cutoffSeq: cutoff }, 'key leaked', Date.now())
    assert.ok(r.ok, r.ok ? '' : r.detail)
    // cee is down when the partition heals and finds the revocation in its home (as a folder sync leaves it)
    await stop(c)
    assert.ok(fleetHome.saveRevocation(hc, r.value).ok)

    // heal: the root comes back and dials bee; bee learns the revocation right after the hello
    a = await start(ha, { join: [b.address] })
    await waitFor('bee quarantined ex\'s late ops', () => seqOf(b, ex) === cutoff && b.stats().opsQuarantined >= post - cutoff)
    assert.ok(said.get(hb)?.some((l) => /^quarantined \d+ op\(s\) of .* past seq \d+ \(revoked \(node\): key leaked\)/.test(l)), said.get(hb)?.join('\n'))
    // cee quarantines at start, before any link
    c = await start(hc, { join: [b.address] })
    assert.equal(seqOf(c, ex), cutoff)
    assert.equal(c.stats().opsQuarantined, post - cutoff)

    // ex, still running, is refused; everyone's writes flow, and the states are the same
    const marks = [
      [ha, publish(ha, 'root after heal')],
      [hb, publish(hb, 'bee after heal')],
      [hc, publish(hc, 'cee after heal')],
    ] as const
    await waitFor('the heal writes reach everyone', () =>
      marks.every(([h, seq]) => [a, b, c].every((d) => seqOf(d, authorOf(h)) >= seq)),
    )
    await new Promise((res) => setTimeout(res, 300)) // a late relay of ex's ops would show here
    for (const d of [a, b, c]) assert.equal(seqOf(d, ex), cutoff)
    const hashes = [ha, hb, hc].map((h) => withLocal(h, stateHash))
    assert.equal(hashes[1], hashes[0], 'bee = root')
    assert.equal(hashes[2], hashes[0], 'cee = root')
    // tail and search on bee: ex's early entry is there, the late one is not; kept aside for audit
    assert.deepEqual(texts(hb), ['bee after heal', 'cee after heal', 'ex before the revocation', 'root after heal'])
    assert.equal(found(hb, 'zebra'), 0)
    assert.equal(found(hb, 'before'), 1)
    const kept = withLocal(hb, (l) => opLog.quarantined(l.store, ex))
    assert.deepEqual(kept.map((q) => q.op.op.seq), Array.from({ length: post - cutoff }, (_, i) => cutoff + 1 + i))
    assert.equal(a.stats().opsQuarantined, 0)
    await stop(x)
  })
})
