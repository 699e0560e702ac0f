/**
 * Peer links over TCP (node:net): one byte stream per link, cut into frames (frames.ts), the handshake
 * first, then every frame sealed by the session the handshake produced. Raw TCP rather than WebSocket was
 * chosen on measurement (bench/links.ts, README "The daemon"): the frames here already do what a WebSocket
 * adds on top of TCP (message boundaries), without its per-frame masking and header parsing.
 *
 * A link's life:
 *   1. connected. The dialer sends `initiate().first`; the acceptor feeds frames to `respond()`. Each
 *      handshake frame is at most `handshakeBytesMax` (16 KiB), checked on its length prefix: a stranger's
 *      prefix over it is refused (`too_large`) before a byte of its payload is waited for or buffered, so
 *      a connection that never authenticated holds at most 16 KiB, not the 2 MiB frame limit (1,024
 *      connections: 16 MiB, not 2 GiB). A handshake error closes the link.
 *   2. open (the handshake produced a Session): `onOpen`. Every later frame is `session.open`ed; a frame
 *      that does not open (forged, replayed, flipped) closes the link and is reported (`onInvalid`), so
 *      the node can score the peer down.
 *   3. closed: by either side, by a frame over the limit or a truncated stream, or by a socket error;
 *      `onClose` once, with the reason. Frames are handled one at a time as the stream completes them:
 *      the frames a read completed before a bad prefix (or a frame that does not open) are delivered
 *      first, then the link closes. That is safe (each was checked on its own: sealed, in order) and
 *      loses nothing an honest peer sent ahead of a corrupted stretch.
 *
 * Back-pressure. What the socket has not yet handed to the kernel is the link's outbox (bytes), bounded:
 * past `outboxBytesMax` a droppable frame (a fast-path push: anti-entropy repairs what it carried) is
 * dropped; past twice that, every frame is dropped (membership tolerates loss, anti-entropy asks again).
 * A peer that stops reading therefore costs at most ~2 x outboxBytesMax of memory, never more.
 *
 * No timers here (the layer rules): the node closes links whose handshake takes too long, reconnects,
 * and sends keepalives.
 */
import * as net from 'node:net'
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'
import { createFrameDecoder, encodeFrame, frameBytesMaxDefault } from './frames.ts'

/** An authenticated, encrypted channel to one peer (src/transport/secure.ts makes them). */
export type Session = {
  /** Who the peer proved to be (its node key). */
  readonly peer: string
  seal(plain: Uint8Array): Uint8Array
  open(sealed: Uint8Array): Result<Uint8Array, string>
}

/** One side of a handshake in progress: feed it the peer's frames. */
export type Handshake = {
  receive(bytes: Uint8Array): Result<{ send?: Uint8Array | undefined; session?: Session | undefined }, string>
}

/** How links authenticate and seal: the node binds its credentials and clock into one of these. */
export type Security = {
  /** The dialer's side: its first frame, and the handshake that takes the answer. */
  initiate(expectedPeer?: string): { handshake: Handshake; first: Uint8Array }
  /** The acceptor's side. */
  respond(): Handshake
}

export type LinkState = 'handshake' | 'open' | 'closed'

export type LinkStats = {
  framesOut: number
  framesIn: number
  bytesOut: number
  bytesIn: number
  /** Frames dropped because the outbox was full. */
  dropped: number
}

export type Link = {
  readonly id: number
  /** Did this node dial (true) or accept (false) the link? */
  readonly dialed: boolean
  /** host:port of the other end of the socket (for an accepted link, its ephemeral port). */
  readonly remote: string
  state(): LinkState
  session(): Session | undefined
  /**
   * Seals and queues one message; false if it was dropped (not open, or the outbox full). `droppable`
   * messages are dropped first (see the header).
   */
  send(plain: Uint8Array, droppable: boolean): boolean
  /** Bytes queued in the socket, not yet taken by the kernel. */
  outboxBytes(): number
  readonly stats: LinkStats
  close(reason: string): void
}

export type LinkEvents = {
  onOpen(link: Link): void
  onMessage(link: Link, plain: Uint8Array): void
  /** A frame that broke the rules (too large, truncated, did not open): the link is closing. */
  onInvalid(link: Link, reason: 'too_large' | 'truncated' | 'unsealed' | 'handshake', detail: string): void
  onClose(link: Link, reason: string): void
}

export type LinkOptions = {
  readonly security: Security
  readonly events: LinkEvents
  /** Largest frame accepted (sealed bytes). Default frames.frameBytesMaxDefault. */
  readonly frameBytesMax?: number | undefined
  /** Largest handshake frame. Default 16 KiB. */
  readonly handshakeBytesMax?: number | undefined
  /** Outbox bound (see the header). Default 4 MiB: 64 deltas of 64 KiB, or 4 of a backlog stream's 1 MiB. */
  readonly outboxBytesMax?: number | undefined
}

export const handshakeBytesMaxDefault = 16 * 1024
export const outboxBytesMaxDefault = 4 * 1024 * 1024
/** Most accepted connections open at once (past it the system refuses new ones). */
export const connectionsMaxDefault = 1024

let nextLinkId = 1

function wrap(socket: net.Socket, dialed: boolean, o: LinkOptions, expectedPeer: string | undefined): Link {
  const frameBytesMax = o.frameBytesMax ?? frameBytesMaxDefault
  const handshakeBytesMax = o.handshakeBytesMax ?? handshakeBytesMaxDefault
  const outboxBytesMax = o.outboxBytesMax ?? outboxBytesMaxDefault
  let state: LinkState = 'handshake'
  // until the handshake is done a frame may be at most handshakeBytesMax: a stranger's lying prefix is
  // refused at its four bytes, and holds at most that much buffered, not the frame limit
  const decoder = createFrameDecoder(() => (state === 'handshake' ? handshakeBytesMax : frameBytesMax))
  let session: Session | undefined
  let handshake: Handshake | undefined
  let closeReason: string | undefined
  const stats: LinkStats = { framesOut: 0, framesIn: 0, bytesOut: 0, bytesIn: 0, dropped: 0 }
  socket.setNoDelay(true)

  const writeFrame = (payload: Uint8Array): void => {
    const f = encodeFrame(payload)
    stats.framesOut++
    stats.bytesOut += f.length
    socket.write(f)
  }

  const invalid = (reason: 'too_large' | 'truncated' | 'unsealed' | 'handshake', detail: string): void => {
    if (state === 'closed') return
    o.events.onInvalid(link, reason, detail)
    link.close(`${reason}: ${detail}`)
  }

  const onFrame = (frame: Uint8Array): void => {
    if (state === 'closed') return
    stats.framesIn++
    if (state === 'open') {
      const s = session as Session
      const plain = s.open(frame)
      if (!plain.ok) return invalid('unsealed', plain.detail)
      o.events.onMessage(link, plain.value)
      return
    }
    if (handshake === undefined) return invalid('handshake', 'a frame before the handshake started')
    let r: ReturnType<Handshake['receive']>
    try {
      r = handshake.receive(frame)
    } catch (e) {
      // reason: a handshake implementation must not throw on input, but a link must survive one that does
      r = core.fail('threw', e instanceof Error ? e.message : String(e))
    }
    if (!r.ok) return invalid('handshake', r.detail)
    if (r.value.send !== undefined) writeFrame(r.value.send)
    if (r.value.session !== undefined) {
      if (expectedPeer !== undefined && r.value.session.peer !== expectedPeer) {
        return invalid('handshake', `expected peer ${expectedPeer}, met ${r.value.session.peer}`)
      }
      session = r.value.session
      state = 'open'
      o.events.onOpen(link)
    }
  }

  const link: Link = {
    id: nextLinkId++,
    dialed,
    remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
    state: () => state,
    session: () => session,
    send(plain, droppable) {
      if (state !== 'open') return false
      const queued = socket.writableLength
      if (queued >= outboxBytesMax * 2 || (droppable && queued >= outboxBytesMax)) {
        stats.dropped++
        return false
      }
      writeFrame((session as Session).seal(plain))
      return true
    },
    outboxBytes: () => socket.writableLength,
    stats,
    close(reason) {
      if (state === 'closed') return
      state = 'closed'
      closeReason = reason
      socket.destroy()
      o.events.onClose(link, reason)
    },
  }

  const guard = (fn: () => void): void => {
    try {
      fn()
    } catch (e) {
      // reason: a security implementation must not throw on input, but a link must survive one that does
      invalid('handshake', e instanceof Error ? e.message : String(e))
    }
  }
  if (dialed) {
    socket.once('connect', () =>
      guard(() => {
        if (state === 'closed') return
        const i = o.security.initiate(expectedPeer)
        handshake = i.handshake
        writeFrame(i.first)
      }),
    )
  } else guard(() => (handshake = o.security.respond()))

  socket.on('data', (chunk: Buffer) => {
    if (state === 'closed') return
    stats.bytesIn += chunk.length
    // each frame is handled before the next prefix is read: a handshake's last frame opens the link, and
    // the frames after it in the same read are held to the frame limit; frames before a bad prefix are
    // delivered, then the link closes
    const r = decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length), (f) => {
      onFrame(f)
      return link.state() !== 'closed'
    })
    if (!r.ok) invalid(r.reason, r.detail)
  })
  socket.on('end', () => {
    const e = decoder.end()
    if (!e.ok) invalid(e.reason, e.detail)
    else link.close('closed by peer')
  })
  socket.on('error', (e) => link.close(`socket: ${e.message}`))
  socket.on('close', () => link.close(closeReason ?? 'socket closed'))
  return link
}

/** Dials host:port; the link reports through `o.events` (a failed connect is an onClose). */
export function dial(host: string, port: number, o: LinkOptions & { readonly expectedPeer?: string | undefined }): Link {
  return wrap(net.connect({ host, port }), true, o, o.expectedPeer)
}

export type Listener = {
  /** The bound host and port (port 0 asked: the one the system gave). */
  readonly host: string
  readonly port: number
  /** Stops accepting (links already open stay open). */
  close(): Promise<void>
}

/** Accepts links on host:port. Resolves once bound; rejects if the port cannot be bound. */
export function listen(
  host: string,
  port: number,
  o: LinkOptions & { readonly onLink?: (link: Link) => void; readonly connectionsMax?: number | undefined },
): Promise<Listener> {
  const server = net.createServer((socket) => {
    const link = wrap(socket, false, o, undefined)
    o.onLink?.(link)
  })
  // strangers opening connections cost a socket each until their handshake times out: bounded
  server.maxConnections = o.connectionsMax ?? connectionsMaxDefault
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port }, () => {
      server.off('error', reject)
      server.on('error', () => undefined) // reason: accept errors after bind are per connection; the link reports them
      const a = server.address() as net.AddressInfo
      resolve({
        host: a.address,
        port: a.port,
        close: () => new Promise<void>((res) => server.close(() => res())),
      })
    })
  })
}
