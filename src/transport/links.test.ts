import assert from 'node:assert/strict'
import * as net from 'node:net'
import { describe, it } from 'node:test'
import * as core from '../core/index.ts'
import { encodeFrame, frameBytesMaxDefault } from './frames.ts'
import { dial, listen } from './links.ts'
import type { Link, LinkEvents, Security } from './links.ts'
import { plainSecurity } from './plain-security.ts'

type Recorder = LinkEvents & {
  opened: Link[]
  messages: { link: Link; text: string }[]
  invalid: string[]
  closed: string[]
  waitFor(cond: () => boolean): Promise<void>
}

/** Link events recorded; waitFor resolves when cond holds after an event (a deadline fails the test). */
function recorder(): Recorder {
  const waiters: { cond: () => boolean; resolve: () => void }[] = []
  const poke = (): void => {
    for (const w of [...waiters]) if (w.cond()) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve()
    }
  }
  const r: Recorder = {
    opened: [],
    messages: [],
    invalid: [],
    closed: [],
    onOpen(l) {
      r.opened.push(l)
      poke()
    },
    onMessage(l, plain) {
      r.messages.push({ link: l, text: new TextDecoder().decode(plain) })
      poke()
    },
    onInvalid(_l, reason, detail) {
      r.invalid.push(`${reason}: ${detail}`)
      poke()
    },
    onClose(_l, reason) {
      r.closed.push(reason)
      poke()
    },
    waitFor(cond) {
      if (cond()) return Promise.resolve()
      // the suite's timeout is the deadline: the condition, not a fixed sleep, ends the wait
      return new Promise((resolve) => waiters.push({ cond, resolve }))
    },
  }
  return r
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('links (TCP, plain session)', { timeout: 10_000 }, () => {
  it('opens after the handshake and carries messages both ways; the acceptor learns the dialer', async () => {
    const a = recorder()
    const b = recorder()
    const server = await listen('127.0.0.1', 0, { security: plainSecurity('node-b'), events: b })
    const l = dial('127.0.0.1', server.port, { security: plainSecurity('node-a'), events: a, expectedPeer: 'node-b' })
    await a.waitFor(() => a.opened.length === 1)
    await b.waitFor(() => b.opened.length === 1)
    assert.equal(l.session()?.peer, 'node-b')
    assert.equal(b.opened[0]?.session()?.peer, 'node-a')
    assert.ok(l.send(text('hello'), false))
    assert.ok(b.opened[0]?.send(text('back'), true))
    await b.waitFor(() => b.messages.length === 1)
    await a.waitFor(() => a.messages.length === 1)
    assert.equal(b.messages[0]?.text, 'hello')
    assert.equal(a.messages[0]?.text, 'back')
    l.close('done')
    await b.waitFor(() => b.closed.length === 1)
    assert.equal(l.state(), 'closed')
    assert.equal(l.send(text('late'), false), false)
    await server.close()
  })

  it('a dialer meeting another peer than it expected closes the link', async () => {
    const a = recorder()
    const server = await listen('127.0.0.1', 0, { security: plainSecurity('node-x'), events: recorder() })
    dial('127.0.0.1', server.port, { security: plainSecurity('node-a'), events: a, expectedPeer: 'node-b' })
    await a.waitFor(() => a.closed.length === 1)
    assert.equal(a.opened.length, 0)
    assert.match(a.invalid[0] ?? '', /handshake/)
    await server.close()
  })

  it('a length prefix that lies (over the limit, or a stream ending early) closes the link, no crash', async () => {
    for (const bytes of [
      (() => {
        const p = new Uint8Array(4)
        new DataView(p.buffer).setUint32(0, 0xfffffff0, false)
        return p
      })(),
      encodeFrame(new Uint8Array(100)).subarray(0, 50),
    ]) {
      const b = recorder()
      const server = await listen('127.0.0.1', 0, { security: plainSecurity('node-b'), events: b, frameBytesMax: 1024 })
      const raw = net.connect({ host: '127.0.0.1', port: server.port })
      await new Promise((r) => raw.once('connect', r))
      raw.end(bytes)
      await b.waitFor(() => b.closed.length === 1)
      assert.equal(b.invalid.length, 1)
      assert.match(b.invalid[0] ?? '', /too_large|truncated/)
      raw.destroy()
      await server.close()
    }
  })

  it('before the handshake a prefix over the handshake limit is refused at once; after it, frames up to the frame limit pass', async () => {
    const prefix = (n: number): Uint8Array => {
      const p = new Uint8Array(4)
      new DataView(p.buffer).setUint32(0, n, false)
      return p
    }
    const b = recorder()
    const server = await listen('127.0.0.1', 0, { security: plainSecurity('node-b'), events: b })
    // a stranger's prefix of 17 KiB: refused on its four bytes, while the socket stays open and no payload follows
    const raw = net.connect({ host: '127.0.0.1', port: server.port })
    await new Promise((r) => raw.once('connect', r))
    raw.write(prefix(17 * 1024))
    await b.waitFor(() => b.closed.length === 1)
    assert.deepEqual(b.invalid, [`too_large: frame of ${17 * 1024} bytes, over the limit of ${16 * 1024}`])
    assert.equal(b.opened.length, 0)
    raw.destroy()
    // the handshake, then a frame of 1 MiB in the same write: the limit changes between the two frames
    const big = new Uint8Array(1024 * 1024).fill(0x61)
    const raw2 = net.connect({ host: '127.0.0.1', port: server.port })
    await new Promise((r) => raw2.once('connect', r))
    raw2.write(Buffer.concat([encodeFrame(text('gv-plain/1 node-a')), encodeFrame(big)]))
    await b.waitFor(() => b.messages.length === 1)
    assert.equal(b.opened.length, 1)
    assert.equal(b.messages[0]?.text.length, big.length)
    // and a prefix past the frame limit still closes the open link
    raw2.write(prefix(frameBytesMaxDefault + 1))
    await b.waitFor(() => b.closed.length === 2)
    assert.equal(b.invalid[1], `too_large: frame of ${frameBytesMaxDefault + 1} bytes, over the limit of ${frameBytesMaxDefault}`)
    raw2.destroy()
    await server.close()
  })

  it('frames a read completed before a bad prefix are delivered, then the link closes', async () => {
    const b = recorder()
    const server = await listen('127.0.0.1', 0, { security: plainSecurity('node-b'), events: b, frameBytesMax: 1024 })
    const raw = net.connect({ host: '127.0.0.1', port: server.port })
    await new Promise((r) => raw.once('connect', r))
    const bad = new Uint8Array(4).fill(0xff)
    raw.write(Buffer.concat([encodeFrame(text('gv-plain/1 node-a')), encodeFrame(text('one')), encodeFrame(text('two')), bad, encodeFrame(text('three'))]))
    await b.waitFor(() => b.closed.length === 1)
    assert.deepEqual(b.messages.map((m) => m.text), ['one', 'two'])
    assert.match(b.invalid[0] ?? '', /^too_large/)
    raw.destroy()
    await server.close()
  })

  it('a frame that does not open under the session is reported and closes the link', async () => {
    const b = recorder()
    const a = recorder()
    // the acceptor's session refuses anything starting with 0xff (a stand-in for a failed authentication tag)
    const plain = plainSecurity('node-b')
    const picky: Security = {
      initiate: plain.initiate,
      respond() {
        const hs = plain.respond()
        return {
          receive(bytes) {
            const r = hs.receive(bytes)
            if (!r.ok || r.value.session === undefined) return r
            const s = r.value.session
            return core.ok({
              send: r.value.send,
              session: { peer: s.peer, seal: s.seal, open: (x: Uint8Array) => (x[0] === 0xff ? core.fail('bad_tag', 'tag mismatch') : core.ok(x)) },
            })
          },
        }
      },
    }
    const server = await listen('127.0.0.1', 0, { security: picky, events: b })
    const l = dial('127.0.0.1', server.port, { security: plainSecurity('node-a'), events: a })
    await a.waitFor(() => a.opened.length === 1)
    l.send(new Uint8Array([1, 2]), false)
    l.send(new Uint8Array([0xff, 2]), false)
    await b.waitFor(() => b.closed.length === 1)
    assert.equal(b.messages.length, 1)
    assert.match(b.invalid[0] ?? '', /unsealed: tag mismatch/)
    await server.close()
  })

  it('a peer that stops reading cannot grow the outbox past its bound: droppable frames go first', async () => {
    const outboxBytesMax = 256 * 1024
    const a = recorder()
    // a peer that completes the handshake, then never reads again
    const sockets: net.Socket[] = []
    const server = net.createServer((socket) => {
      sockets.push(socket)
      socket.once('data', () => {
        socket.write(encodeFrame(text('gv-plain/1 slow')))
        socket.pause()
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as net.AddressInfo).port
    const l = dial('127.0.0.1', port, { security: plainSecurity('node-a'), events: a, outboxBytesMax })
    await a.waitFor(() => a.opened.length === 1)
    const chunk = new Uint8Array(64 * 1024)
    let sent = 0
    let maxOutbox = 0
    // 64 MiB offered, far past the kernel's socket buffers
    for (let i = 0; i < 1024; i++) {
      if (l.send(chunk, i % 2 === 0)) sent++
      maxOutbox = Math.max(maxOutbox, l.outboxBytes())
    }
    assert.ok(l.stats.dropped > 0, 'frames were dropped')
    assert.ok(sent < 1024)
    assert.ok(maxOutbox <= 2 * outboxBytesMax + chunk.length + 8, `outbox reached ${maxOutbox} bytes`)
    // droppable frames stop at the soft bound; the others still pass until the hard one
    assert.ok(l.send(chunk, true) === false)
    l.close('test over')
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => server.close(() => r()))
  })
})
