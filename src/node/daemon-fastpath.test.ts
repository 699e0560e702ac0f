import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { startDaemon } from './daemon.ts'
import type { Daemon, DaemonOptions } from './daemon.ts'
import * as home from './home.ts'
import { closeLocal, commit, openLocal } from './local.ts'

const dirs: string[] = []
const running: Daemon[] = []
after(async () => {
  for (const d of running) await d.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function tempHome(name: string): string {
  const d = mkdtempSync(join(tmpdir(), 'gv-fastpath-'))
  dirs.push(d)
  assert.ok(home.init(d, name).ok)
  return d
}

async function waitFor(what: string, cond: () => boolean, deadlineMs = 8000): Promise<void> {
  const t0 = performance.now()
  while (!cond()) {
    if (performance.now() - t0 > deadlineMs) throw new Error(`fast path test: ${what} not within ${deadlineMs} ms`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Anti-entropy far too slow to deliver within the test: whatever arrives came by the fast path. */
const fastOnly: Partial<DaemonOptions> = {
  membership: { protocolPeriodMs: 200, probeTimeoutMs: 100 },
  antiEntropy: { intervalMs: 60_000 },
  stateFile: false,
}

/** Writes one entry through a second connection (as the CLI does): the author's hello and the entry, one batch. */
function publish(dir: string, text: string): string {
  const l = openLocal(dir)
  assert.ok(l.ok)
  const r = commit(l.value, [{ kind: 'fact.assert', body: { fact_id: `e/${text}`, value: text, channel: 'discoveries', supersedes: [], verified: false } }])
  closeLocal(l.value)
  assert.ok(r.ok)
  return l.value.identity.author
}

async function fleet(n: number, o: Partial<DaemonOptions>, hubFirst: boolean): Promise<{ ds: Daemon[]; homes: string[] }> {
  const homes = Array.from({ length: n }, (_, i) => tempHome(`n${i}`))
  const first = await startDaemon({ home: homes[0] as string, listenHost: '127.0.0.1', listenPort: 0, ...o, hub: hubFirst, ...fastOnly })
  running.push(first)
  const rest: Daemon[] = []
  for (const h of homes.slice(1)) {
    const d = await startDaemon({ home: h, listenHost: '127.0.0.1', listenPort: 0, ...o, join: [first.address], ...fastOnly })
    running.push(d)
    rest.push(d)
  }
  const ds = [first, ...rest]
  // every link open (membership's probes open them between spokes too): a link that opened later would
  // start with a digest exchange, and anti-entropy would deliver what the fast path did not
  const ready = (d: Daemon): number => d.peers().filter((p) => p.state === 'alive' && p.linked).length
  await waitFor('full membership', () => ds.every((d) => ready(d) === n - 1), 15_000)
  return { ds, homes }
}

describe('daemon fast path', () => {
  it('mesh within publishFanout: the publisher reaches all; each receiver relays its op to one peer, not fanout (4)', async () => {
    const { ds, homes } = await fleet(5, {}, false)
    const before = ds.map((d) => d.stats().opsOut)
    const author = publish(homes[1] as string, 'direct')
    await waitFor('the op everywhere by the fast path', () => ds.every((d) => (d.versionVector().get(author as never) ?? 0) >= 2))
    // late relays (a receiver relays after storing): give them time to go out before counting
    await new Promise((r) => setTimeout(r, 300))
    const relayed = ds.map((d, i) => d.stats().opsOut - (before[i] as number))
    // the item is 2 ops (hello + entry); the publisher sent it to 4 peers; each receiver relayed it once
    assert.equal(relayed[1], 8, `publisher: ${relayed.join(' ')}`)
    for (const [i, x] of relayed.entries()) if (i !== 1) assert.ok(x <= 2, `receiver ${i} relayed ${x} ops (at most one message of 2): ${relayed.join(' ')}`)
    for (const d of ds) await d.close()
  })

  it('hub-spoke: a hub passes a spoke`s own op to every other spoke (the relay limit is for meshes)', async () => {
    const { ds, homes } = await fleet(5, { topology: 'hub-spoke' }, true)
    const author = publish(homes[2] as string, 'via-hub')
    await waitFor('the op on the hub and every spoke by the fast path', () => ds.every((d) => (d.versionVector().get(author as never) ?? 0) >= 2), 5000)
    for (const d of ds) await d.close()
  })
})
