/**
 * The fleet's summary-first exchange on new links (issue 5's fuzz finding: every new link used to carry
 * the whole roster and every revocation). Live daemons on loopback with a roster of 200 credentials: a
 * member reconnecting with the same roster costs the node a summary, not the roster; one whose roster
 * differs still gets every missing credential; a peer sending a summary that differs link after link
 * gets the whole roster once per fleetResendMs, not once per link.
 */
import assert from 'node:assert/strict'
import * as crypto from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import * as log from '../log/index.ts'
import type { Credential } from '../log/index.ts'
import { testSigner } from '../log/log.test-util.ts'
import { links, secure } from '../transport/index.ts'
import { channelFleetSummary } from './daemon.ts'
import type { Daemon, DaemonOptions } from './daemon.ts'
import { createTestFleet, daemonHarness, linked } from './daemon.test-util.ts'
import * as fleetHome from './fleet-home.ts'

const { tempHome, start: startWith, stop, daemons, waitFor } = daemonHarness({ tmpPrefix: 'gv-roster-', label: 'roster test' })
const start = (o: Partial<DaemonOptions> & { home: string }): Promise<Daemon> =>
  startWith({ listenHost: '127.0.0.1', listenPort: 0, security: 'fleet', stateFile: false, ...o })

/** The node keys in a home's roster file. */
function rosterNodes(h: string): Set<string> {
  const out = new Set<string>()
  let text: string
  try {
    text = readFileSync(join(h, 'roster'), 'utf8')
  } catch {
    return out // reason: no roster file yet
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const c = log.decodeCredential(new Uint8Array(Buffer.from(line.trim(), 'base64url')))
    if (c.ok) out.add(c.value.node)
  }
  return out
}

describe('fleet summary exchange (live daemons, a roster of 200 credentials)', { timeout: 40_000 }, () => {
  const now = Date.now()
  const [ha, hb, hc] = [tempHome('root'), tempHome('bee'), tempHome('cee')]
  const { root, invite: inv } = createTestFleet(ha, [hb, hc], { caps: ['read', 'write:*'], ttlMs: 600_000, nowMs: () => now })
  // 200 members the daemons never meet: their credentials in the root's and bee's homes, not in cee's
  const members: Credential[] = []
  for (let i = 0; i < 200; i++) {
    const c = log.createCredential(inv, testSigner(1000 + i), now)
    assert.ok(c.ok)
    members.push(c.value)
  }
  const rosterBytes = members.reduce((n, c) => n + c.bytes.length, 0)
  fleetHome.saveCredentials(ha, members)
  fleetHome.saveCredentials(hb, members)

  it('a member reconnecting with the same roster costs a summary; a member missing 200 credentials gets them all', async () => {
    const a = await start({ home: ha })
    let b = await start({ home: hb, join: [a.address] })
    await waitFor('a and b linked', () => linked(a, b) && linked(b, a))
    // the first link: each side adds the other's credential at the handshake, then both rosters are equal
    await new Promise((r) => setTimeout(r, 300))
    await stop(b)
    const before = a.stats().fleetBytesOut
    b = await start({ home: hb, join: [a.address] })
    await waitFor('a and b linked again', () => linked(a, b) && linked(b, a))
    await new Promise((r) => setTimeout(r, 300))
    const sent = a.stats().fleetBytesOut - before
    assert.ok(rosterBytes > 40_000, `the roster is ${rosterBytes} bytes`)
    // was: the whole roster (~${rosterBytes} bytes) and every revocation on each new link
    assert.ok(sent < 2048, `the node sent ${sent} bytes of fleet messages to a reconnecting member with the same roster`)
    assert.ok(sent > 0, 'the summary went')

    // cee knows only itself and the root's credential it met: it gets the 200 it lacks
    assert.ok(![...members].some((m) => rosterNodes(hc).has(m.node)))
    const before2 = a.stats().fleetBytesOut
    const c = await start({ home: hc, join: [a.address] })
    const lines = (): number => readFileSync(join(hc, 'roster'), { encoding: 'utf8', flag: 'a+' }).split('\n').length - 1
    await waitFor('cee has 200 credentials more in its roster', () => lines() >= members.length)
    const got = rosterNodes(hc)
    assert.ok(members.every((m) => got.has(m.node)), 'cee has every member')
    assert.ok(a.stats().fleetBytesOut - before2 >= rosterBytes, 'the whole roster went to cee')
    await waitFor('cee linked', () => linked(c, a))
  })

  it('a peer whose summary differs link after link gets the whole roster once per window, not per link', async () => {
    const a = daemons()[0] as Daemon
    const port = Number(a.address.split(':')[1])
    // a member held by the test: it dials, says hello, and claims an empty roster each time
    const gee = testSigner(50)
    const cred = log.createCredential(inv, gee, now)
    assert.ok(cred.ok)
    const security = secure.createSecurity({ signer: gee, credential: cred.value }, () => Date.now(), (n) => new Uint8Array(crypto.randomBytes(n)))
    const empty = log.encodeFleetSummary(log.fleetSummary(log.createRoster(root.fleet), log.createRevocations(root.fleet)))
    const frame = (channel: number, body: Uint8Array): Uint8Array => new Uint8Array([channel, ...body])
    const hello = frame(3, new TextEncoder().encode(JSON.stringify({ id: `${gee.author}@127.0.0.1:9` })))
    const costs: number[] = []
    for (let round = 0; round < 3; round++) {
      const before = a.stats().fleetBytesOut
      let got = 0
      let closed = false
      const link = links.dial('127.0.0.1', port, {
        security,
        events: {
          onOpen: (l) => {
            l.send(hello, false)
            l.send(frame(channelFleetSummary, empty), false)
          },
          onMessage: (_l, plain) => void (got += plain.length),
          onInvalid: () => undefined,
          onClose: () => void (closed = true),
        },
      })
      // the summary is answered with the roster (round 0) or not at all: wait for the bytes to settle
      let last = -1
      await waitFor('a answered', () => {
        const n = a.stats().fleetBytesOut
        const settled = n === last && n > before
        last = n
        return settled
      })
      await new Promise((r) => setTimeout(r, 200))
      costs.push(a.stats().fleetBytesOut - before)
      link.close('round over')
      await waitFor('closed', () => closed)
      assert.ok(got > 0)
    }
    const [first, second, third] = costs as [number, number, number]
    assert.ok(first >= rosterBytes, `the first link got the whole roster (${first} bytes)`)
    assert.ok(second < 2048 && third < 2048, `later links within the window cost ${second} and ${third} bytes`)
  })
})
