/**
 * A fault proxy for tests on real processes: a TCP listener that forwards every connection to a target
 * port, frame by frame (frames.ts), and can drop, delay, duplicate or flip a byte of frames, cut one
 * direction (frames vanish, the connection stays up), or cut every connection at once. Each direction of
 * each connection has its own faults, set on the proxy and read per frame, so a test changes them while
 * traffic flows. Randomness is a seeded Prng: a run's faults replay from its seed (timing aside).
 *
 * A node sits behind its proxy by advertising the proxy's port (daemon `advertise`): every peer then
 * reaches it through the proxy, and what the node sends back on those links passes it too.
 */
import * as net from 'node:net'
import * as core from '../core/index.ts'
import { frames } from '../transport/index.ts'

export type Faults = {
  /** Probability a frame is dropped. */
  drop: number
  /** Probability a frame is sent twice. */
  dup: number
  /** Probability one byte of a frame's payload is flipped. */
  flip: number
  /** Every frame is held this long (order kept). */
  delayMs: number
  /** Frames in this direction vanish. */
  cut: boolean
}

export const noFaults = (): Faults => ({ drop: 0, dup: 0, flip: 0, delayMs: 0, cut: false })

export type FaultProxy = {
  readonly port: number
  /** Where new connections go (a restarted node may listen elsewhere: its id names the proxy). */
  target: number
  /** Faults of frames towards the target (`in`) and back from it (`out`). */
  readonly faults: { in: Faults; out: Faults }
  /** Destroys every connection now (both ends see a reset). */
  cutAll(): void
  /** Frames seen and what was done to them. */
  readonly counts: { frames: number; dropped: number; duplicated: number; flipped: number }
  close(): Promise<void>
}

export async function createFaultProxy(targetPort: number, seed: number): Promise<FaultProxy> {
  const rng = core.prng.create(seed)
  const sockets = new Set<net.Socket>()
  const faults = { in: noFaults(), out: noFaults() }
  const counts = { frames: 0, dropped: 0, duplicated: 0, flipped: 0 }

  /** Forwards frames from `from` to `to` under faults `f()`. */
  const pipe = (from: net.Socket, to: net.Socket, f: () => Faults): void => {
    const d = frames.createFrameDecoder(frames.frameBytesLimit)
    let lastAtMs = 0
    const emit = (bytes: Uint8Array, delayMs: number): void => {
      if (delayMs <= 0 && lastAtMs <= performance.now()) {
        if (!to.destroyed) to.write(bytes)
        return
      }
      // order kept: never before the frame held before it
      const at = Math.max(performance.now() + delayMs, lastAtMs)
      lastAtMs = at
      setTimeout(() => {
        if (!to.destroyed) to.write(bytes)
      }, at - performance.now())
    }
    from.on('data', (chunk: Buffer) => {
      const r = d.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))
      if (!r.ok) {
        from.destroy()
        to.destroy()
        return
      }
      for (const payload of r.value) {
        counts.frames++
        const x = f()
        if (x.cut || core.prng.chance(rng, x.drop)) {
          counts.dropped++
          continue
        }
        let p = payload
        if (p.length > 0 && core.prng.chance(rng, x.flip)) {
          p = p.slice()
          const i = core.prng.nextInt(rng, p.length)
          p[i] = (p[i] as number) ^ (1 << core.prng.nextInt(rng, 8))
          counts.flipped++
        }
        const bytes = frames.encodeFrame(p)
        emit(bytes, x.delayMs)
        if (core.prng.chance(rng, x.dup)) {
          counts.duplicated++
          emit(bytes, x.delayMs)
        }
      }
    })
    from.on('end', () => to.end())
  }

  const state = { target: targetPort }
  const server = net.createServer((client) => {
    const target = net.connect({ host: '127.0.0.1', port: state.target })
    sockets.add(client)
    sockets.add(target)
    const gone = (): void => {
      client.destroy()
      target.destroy()
      sockets.delete(client)
      sockets.delete(target)
    }
    client.on('error', gone)
    target.on('error', gone)
    client.on('close', gone)
    target.on('close', gone)
    client.setNoDelay(true)
    target.setNoDelay(true)
    pipe(client, target, () => faults.in)
    pipe(target, client, () => faults.out)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as net.AddressInfo).port
  const proxy: FaultProxy = {
    port,
    get target() {
      return state.target
    },
    set target(t: number) {
      state.target = t
    },
    faults,
    counts,
    cutAll() {
      for (const s of sockets) s.destroy()
      sockets.clear()
    },
    close() {
      for (const s of sockets) s.destroy()
      return new Promise((r) => server.close(() => r()))
    },
  }
  return proxy
}
