import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Daemon, DaemonOptions } from './daemon.ts'
import { daemonHarness, writeEntry } from './daemon.test-util.ts'

const { tempHome, start, waitFor } = daemonHarness({ tmpPrefix: 'gv-fastpath-', label: 'fast path test' })

/** Anti-entropy far too slow to deliver within the test: whatever arrives came by the fast path. */
const fastOnly: Partial<DaemonOptions> = {
  membership: { protocolPeriodMs: 200, probeTimeoutMs: 100 },
  antiEntropy: { intervalMs: 60_000 },
  stateFile: false,
}

/** Writes one entry through a second connection (as the CLI does): the author's hello and the entry, one batch. */
const publish = (dir: string, text: string): string => writeEntry(dir, text).author

async function fleet(n: number, o: Partial<DaemonOptions>, hubFirst: boolean): Promise<{ ds: Daemon[]; homes: string[] }> {
  const homes = Array.from({ length: n }, (_, i) => tempHome(`n${i}`))
  const first = await start({ home: homes[0] as string, listenHost: '127.0.0.1', listenPort: 0, ...o, hub: hubFirst, ...fastOnly })
  const rest: Daemon[] = []
  for (const h of homes.slice(1)) rest.push(await start({ home: h, listenHost: '127.0.0.1', listenPort: 0, ...o, join: [first.address], ...fastOnly }))
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
