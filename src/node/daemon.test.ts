import assert from 'node:assert/strict'
import * as net from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { antiEntropy } from '../gossip/index.ts'
import * as log from '../log/index.ts'
import { signedChain, t0Ms, testSigner } from '../log/log.test-util.ts'
import { opLog } from '../store/index.ts'
import { frames, links, plainSecurity } from '../transport/index.ts'
import type { Link } from '../transport/index.ts'
import type { Daemon } from './daemon.ts'
import { createTestFleet, daemonHarness, fastGossip, identityOf, writeEntry } from './daemon.test-util.ts'
import * as fleetHome from './fleet-home.ts'
import * as home from './home.ts'

const { tempHome, start, waitFor } = daemonHarness({ tmpPrefix: 'gv-daemon-', label: 'daemon test' })

/** Writes one entry through a second connection to the node's store, as the CLI does; the node's author. */
const publish = (dir: string, text: string): string => writeEntry(dir, text).author

describe('daemon (in process, loopback)', { timeout: 30_000 }, () => {
  it('three daemons: a write on one store reaches the others by the fast path; close is clean', async () => {
    const homes = [tempHome('a'), tempHome('b'), tempHome('c')]
    const first = await start({ home: homes[0] as string, listenHost: '127.0.0.1', listenPort: 0, ...fastGossip })
    const ds: Daemon[] = [first]
    for (const h of homes.slice(1)) ds.push(await start({ home: h, listenHost: '127.0.0.1', listenPort: 0, join: [first.address], ...fastGossip, antiEntropy: { intervalMs: 200, fullDigestEvery: 50 } }))
    await waitFor('full membership', () => ds.every((d) => d.peers().filter((p) => p.state === 'alive').length === 2))
    const author = publish(homes[1] as string, 'hello-fleet')
    const t0 = performance.now()
    await waitFor('the op everywhere', () => ds.every((d) => (d.versionVector().get(author as never) ?? 0) >= 2))
    const ms = performance.now() - t0
    assert.ok(ms < 2000, `took ${ms} ms`)
    const s = ds[0]?.stats()
    assert.ok(s !== undefined && s.opsIn >= 2)
    assert.ok((ds[1]?.stats().published ?? 0) >= 2, 'the writing node pushed its own ops')
    // lag: the writer first sees what its peers lack, then, once anti-entropy has heard from them (their
    // digests, or vector sums that match, which list no authors), no lag at all
    const writer = ds[1] as Daemon
    await waitFor('no lag on the writer', () => {
      const ps = writer.peers()
      return ps.length === 2 && ps.every((p) => Object.keys(p.lag).length === 0 && p.state === 'alive')
    })
    // (full digests, which list every author, come every fullDigestEvery-th digest: at most one more in this
    // test's last wait, so the lag must come from the matched sums in between)
    for (let i = 0; i < 5; i++) publish(homes[1] as string, `more-${i}`)
    await waitFor('five more everywhere', () => ds.every((d) => (d.versionVector().get(author as never) ?? 0) >= 7))
    await waitFor('no lag again after anti-entropy rounds', () => writer.peers().every((p) => Object.keys(p.lag).length === 0), 3000)
    for (const d of ds) await d.close()
  })

  it('a backlog streams in deltas that grow past 64 KiB: a node that joins late takes 20,000 ops in a few messages', async () => {
    const [ha, hb] = [tempHome('backlog-a'), tempHome('backlog-b')]
    // a peer's history in a's store: another author's 20,000 entries, signed 256 a batch
    const signer = testSigner(9)
    const created = log.createOps(
      signer.author,
      undefined,
      Array.from({ length: 20_000 }, (_, i): log.Draft => ({
        hlc: { wallMs: t0Ms + i, logical: 0 },
        kind: 'fact.assert',
        body: { value: `entry ${i}: the build cache misses after a lockfile change, clear it first`, channel: 'discoveries', supersedes: [], verified: false },
      })),
    )
    assert.ok(created.ok)
    const opened = opLog.open(join(ha, home.storeFile))
    assert.ok(opened.ok)
    for (let k = 0; k < created.value.length; k += 256) {
      const r = opLog.ingest(opened.value, log.signOps(signer, created.value.slice(k, k + 256), 'batch_head'), Date.now())
      assert.ok(r.ok, r.ok ? '' : r.detail)
    }
    opLog.close(opened.value)
    const bytes = created.value.reduce((n, e) => n + e.bytes.length, 0)
    const a = await start({ home: ha, listenHost: '127.0.0.1', listenPort: 0, ...fastGossip })
    const b = await start({ home: hb, listenHost: '127.0.0.1', listenPort: 0, join: [a.address], ...fastGossip })
    await waitFor('the backlog on b', () => (b.versionVector().get(signer.author) ?? 0) === 20_000, 20_000)
    const st = b.stats()
    // 64 KiB deltas would take over bytes / 64 KiB of them; the stream's grow to 1 MiB
    assert.ok(bytes / 65536 > 60, `the backlog is ${bytes} bytes`)
    assert.ok(st.aeDeltasIn < 20, `${st.aeDeltasIn} deltas, ${st.aeDeltaBytesIn} bytes, the largest ${st.aeDeltaBytesMax}`)
    assert.ok(st.aeDeltaBytesMax > 512 * 1024 && st.aeDeltaBytesMax <= antiEntropy.antiEntropyDefaults.streamBytesMax, `the largest delta: ${st.aeDeltaBytesMax} bytes`)
    assert.equal(st.invalidOps, 0)
  })

  it('a peer that sends frames that lie is cut off and the node keeps serving', async () => {
    const h = tempHome('victim')
    const d = await start({ home: h, listenHost: '127.0.0.1', listenPort: 0, ...fastGossip })
    const port = Number(d.address.split(':')[1])
    for (let i = 0; i < 3; i++) {
      const s = net.connect({ host: '127.0.0.1', port })
      await new Promise((r) => s.once('connect', r))
      const p = new Uint8Array(4)
      new DataView(p.buffer).setUint32(0, 0x7fffffff, false)
      s.write(p)
      await new Promise((r) => s.once('close', r))
    }
    // garbage in the handshake
    const s = net.connect({ host: '127.0.0.1', port })
    await new Promise((r) => s.once('connect', r))
    s.write(frames.encodeFrame(new TextEncoder().encode('not a handshake')))
    await new Promise((r) => s.once('close', r))
    await waitFor('invalid frames counted', () => d.stats().invalidFrames >= 3)
    // still serving an honest peer
    const h2 = tempHome('honest')
    const d2 = await start({ home: h2, listenHost: '127.0.0.1', listenPort: 0, join: [d.address], ...fastGossip })
    await waitFor('honest peer joined', () => d.peers().some((p) => p.state === 'alive'))
    await d2.close()
    await d.close()
  })

  it('with fleet credentials links run the fleet handshake: members gossip, a node of another fleet is refused', async () => {
    const [ha, hb, hx] = [tempHome('fa'), tempHome('fb'), tempHome('fx')]
    const now = Date.now()
    const { root } = createTestFleet(ha, [hb], { caps: ['read', 'write:*'], ttlMs: 60_000, nowMs: () => now })
    assert.ok(fleetHome.createFleet(hx, identityOf(hx), now).ok, 'another fleet')
    const a = await start({ home: ha, listenHost: '127.0.0.1', listenPort: 0, security: 'fleet', ...fastGossip })
    const b = await start({ home: hb, listenHost: '127.0.0.1', listenPort: 0, security: 'fleet', join: [a.address], ...fastGossip })
    const x = await start({ home: hx, listenHost: '127.0.0.1', listenPort: 0, security: 'fleet', join: [a.address], ...fastGossip })
    assert.equal(a.fleet, root.fleet)
    await waitFor('a and b members', () => a.peers().some((p) => p.id === b.id && p.state === 'alive'))
    const author = publish(ha, 'fleet-only')
    await waitFor('the op on b', () => (b.versionVector().get(author as never) ?? 0) >= 2)
    await waitFor('x refused at the handshake', () => a.stats().invalidFrames + x.stats().invalidFrames >= 1)
    assert.ok(!a.peers().some((p) => p.id === x.id), 'the other fleet never became a member')
    assert.equal(x.versionVector().get(author as never), undefined, 'nothing reached the other fleet')
    for (const d of [a, b, x]) await d.close()
  })

  it('an authenticated peer that sends forged ops is scored down and cut off; nothing it sent is stored', async () => {
    const h = tempHome('target')
    const d = await start({ home: h, listenHost: '127.0.0.1', listenPort: 0, security: 'plain', ...fastGossip })
    const port = Number(d.address.split(':')[1])
    const rogue = testSigner(7).author
    const events = { opened: 0, closed: 0 }
    const l: Link = links.dial('127.0.0.1', port, {
      security: plainSecurity(rogue),
      events: {
        onOpen: () => void events.opened++,
        onMessage: () => undefined,
        onInvalid: () => undefined,
        onClose: () => void events.closed++,
      },
    })
    await waitFor('rogue link open', () => events.opened === 1)
    const frame = (channel: number, body: Uint8Array) => new Uint8Array([channel, ...body])
    l.send(frame(3, new TextEncoder().encode(JSON.stringify({ id: `${rogue}@127.0.0.1:9` }))), false)
    // six authors' first ops, each with its signature altered: six bad batches (five malformed cost the
    // whole score, 20 each, but the score recovers a little between them: the sixth blocks)
    for (let i = 0; i < 6; i++) {
      const [op] = signedChain(testSigner(10 + i), 1)
      const sig = Uint8Array.from(op?.sig ?? [])
      sig[0] = (sig[0] as number) ^ 1
      const forged = { ...(op as NonNullable<typeof op>), sig }
      l.send(frame(1, antiEntropy.encodeMessage({ type: 'ae.delta', batches: [[forged]], more: false })), false)
    }
    await waitFor('the rogue cut off', () => events.closed === 1)
    assert.equal(d.stats().invalidOps, 6)
    for (let i = 0; i < 6; i++) assert.equal(d.versionVector().get(testSigner(10 + i).author as never), undefined)
    // and it cannot come back: its new link is closed at the hello
    const again = links.dial('127.0.0.1', port, {
      security: plainSecurity(rogue),
      events: {
        onOpen: (x) => void x.send(frame(3, new TextEncoder().encode(JSON.stringify({ id: `${rogue}@127.0.0.1:9` }))), false),
        onMessage: () => undefined,
        onInvalid: () => undefined,
        onClose: () => void events.closed++,
      },
    })
    await waitFor('the blocked rogue refused again', () => events.closed === 2)
    assert.equal(again.state(), 'closed')
    await d.close()
  })

  it('hub-spoke: spokes learn the hub from its hello, and a write on one spoke reaches the other', async () => {
    const [hh, h1, h2] = [tempHome('hub'), tempHome('s1'), tempHome('s2')]
    const hub = await start({ home: hh, listenHost: '127.0.0.1', listenPort: 0, hub: true, topology: 'hub-spoke', ...fastGossip })
    const s1 = await start({ home: h1, listenHost: '127.0.0.1', listenPort: 0, topology: 'hub-spoke', join: [hub.address], ...fastGossip })
    const s2 = await start({ home: h2, listenHost: '127.0.0.1', listenPort: 0, topology: 'hub-spoke', join: [hub.address], ...fastGossip })
    await waitFor('full membership', () => [hub, s1, s2].every((d) => d.peers().filter((p) => p.state === 'alive').length === 2))
    const author = publish(h1, 'via-the-hub')
    await waitFor('the op on the other spoke and the hub', () => [s2, hub].every((d) => (d.versionVector().get(author as never) ?? 0) >= 2))
    for (const d of [hub, s1, s2]) await d.close()
  })

  it('garbage after the handshake (random channels and bytes from 300 made-up identities) crashes nothing; honest peers still sync', async () => {
    const h = tempHome('fuzzed')
    const d = await start({ home: h, listenHost: '127.0.0.1', listenPort: 0, security: 'plain', ...fastGossip })
    const port = Number(d.address.split(':')[1])
    let seed = 12345
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed % n
    }
    let frames = 0
    let bytes = 0
    const bytesBefore = d.stats().bytesIn
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 30 }, (_, k) => {
          const who = `fuzz${batch}x${k}`
          return new Promise<void>((resolve) => {
            links.dial('127.0.0.1', port, {
              security: plainSecurity(who),
              events: {
                onOpen: (l) => {
                  l.send(new Uint8Array([3, ...new TextEncoder().encode(JSON.stringify({ id: `${who}@127.0.0.1:9` }))]), false)
                  for (let i = 0; i < 30; i++) {
                    const body = new Uint8Array(1 + rand(200))
                    for (let j = 0; j < body.length; j++) body[j] = rand(256)
                    body[0] = rand(6)
                    if (l.send(body, false)) {
                      frames++
                      bytes += body.length + 4
                    }
                  }
                  // the node closes the link when the garbage blocks this identity; else give it time to read
                  setTimeout(() => l.close('done'), 300)
                },
                onMessage: () => undefined,
                onInvalid: () => undefined,
                onClose: () => resolve(),
              },
            })
          })
        }),
      )
    }
    assert.ok(frames >= 8000, `${frames} frames sent`)
    const got = d.stats().bytesIn - bytesBefore
    // identities the garbage got blocked are cut off before the rest of theirs is read: most, not all
    assert.ok(got >= bytes / 4, `the node read ${got} of the ${bytes} bytes sent`)
    const h2 = tempHome('honest2')
    const d2 = await start({ home: h2, listenHost: '127.0.0.1', listenPort: 0, join: [d.address], ...fastGossip })
    const author = publish(h, 'still-serving')
    await waitFor('the honest peer synced', () => (d2.versionVector().get(author as never) ?? 0) >= 2)
    await d2.close()
    await d.close()
  })
})
