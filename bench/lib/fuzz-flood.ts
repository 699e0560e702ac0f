/**
 * Issue 5's fuzz: malformed frames at a live fleet node (bench/lib/fuzz-target.ts, a daemon in a child
 * process, so its memory is its own), then: is it alive, what did it count, how much memory does it hold
 * after a full GC, and does an honest member still sync with it. One flood for the benchmark
 * (bench/fuzz.ts, which prints the report) and the CI test (bench/fuzz.test.ts, which asserts on it).
 *
 * What "at the node" means here, honestly: the node refuses most of a flood without reading it. A frame
 * is counted as sent when it was written to a socket the node had accepted; a connection's first bad
 * frame closes it, so the frames after it are written but never read. Rounds of attackers run until
 * `frames` frames were sent, each round all of these at once:
 *
 *   unauthenticated (raw TCP, no handshake):
 *   - garbage:    bursts of small frames of random bytes (the first fails the handshake);
 *   - lying:      bursts of frames whose prefix says another length than the payload that follows
 *                 (up to the frame limit: the node may hold a buffer of that size until the stream ends);
 *   - oversized:  bursts of prefixes over the frame limit (refused on the four prefix bytes);
 *   - truncated:  one frame cut short, then the end of the stream;
 *   authenticated (a member of a leaked invite: a fresh key each, a real handshake, then its hello):
 *   - rogue:      sealed messages of random bytes on random channels: each is opened, decoded and
 *                 dropped, scoring the member down until it is blocked and the node closes its link;
 *   - flipped:    sealed messages with one byte flipped (the first does not open: the link closes);
 *   - sealed-truncated: a sealed frame cut short, then the end of the stream;
 *   - sealed-lying: a prefix shorter than the sealed frame behind it, or one over the limit (in turns).
 */
import { spawn } from 'node:child_process'
import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import * as net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import * as log from '../../src/log/index.ts'
import type { Invite } from '../../src/log/index.ts'
import { fleetHome, home, local } from '../../src/node/index.ts'
import { startDaemon } from '../../src/node/network.ts'
import { frames, secure } from '../../src/transport/index.ts'
import type { Creds, Session } from '../../src/transport/index.ts'
import type { TargetSample } from './fuzz-target.ts'

export const attackKinds = ['garbage', 'lying', 'oversized', 'truncated', 'rogue', 'flipped', 'sealed-truncated', 'sealed-lying'] as const
export type AttackKind = (typeof attackKinds)[number]

/** Connections of each kind per round, and frames each writes (see the header). */
export const roundPlan: Readonly<Record<AttackKind, { readonly connections: number; readonly frames: number }>> = {
  garbage: { connections: 2, frames: 4000 },
  lying: { connections: 1, frames: 1000 },
  oversized: { connections: 1, frames: 1000 },
  truncated: { connections: 2, frames: 1 },
  rogue: { connections: 2, frames: 200 },
  flipped: { connections: 1, frames: 100 },
  'sealed-truncated': { connections: 1, frames: 1 },
  'sealed-lying': { connections: 1, frames: 1 },
}

/** Kinds whose every connection must make the node count exactly one invalid frame and close it. */
const invalidKinds: readonly AttackKind[] = ['garbage', 'lying', 'oversized', 'truncated', 'flipped', 'sealed-truncated', 'sealed-lying']

export type FloodParams = {
  /** Frames to send (at least; whole rounds). */
  readonly frames: number
  /** Wait before each memory sample, so closing sockets are gone. Default 2000 ms. */
  readonly settleMs?: number | undefined
}

export type FloodReport = {
  sent: number
  sentByKind: Record<AttackKind, number>
  connectionsByKind: Record<AttackKind, number>
  rounds: number
  elapsedMs: number
  /** Connections the node must have counted one invalid frame for (every kind but rogue). */
  invalidExpected: number
  /** Authenticated connections (the handshake completed). */
  handshakes: number
  /** Rogue members whose link the node closed (blocked) before we gave up waiting. */
  roguesClosedByNode: number
  before: TargetSample
  after: TargetSample
  /** The child had not exited when the flood ended, and answered the sample after it. */
  aliveAfter: boolean
  synced: boolean
  syncMs: number
  /** The child's exit code after `quit` (0: it closed its daemon cleanly). */
  exitCode: number | null
}

const rand = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A 4-byte big-endian length prefix that says n, whatever follows. */
function prefix(n: number): Uint8Array {
  const p = new Uint8Array(4)
  new DataView(p.buffer).setUint32(0, n)
  return p
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

/** Connects, writes bytes, ends the stream and waits for the socket to close (by either side). */
async function writeAndEnd(port: number, bytes: Uint8Array): Promise<void> {
  const s = net.connect({ host: '127.0.0.1', port })
  s.on('error', () => undefined) // reason: the node resets connections it refused; that is the point
  s.on('data', () => undefined)
  await new Promise<void>((resolve) => {
    s.once('close', () => resolve())
    s.once('connect', () => {
      s.write(bytes)
      s.end()
    })
  })
}

/** A whole number in [lo, hi): Math.random, not crypto: the flood makes millions of these. */
const pick = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo))

/**
 * The unauthenticated bursts: the bytes of `count` frames of one kind, payloads of 1-40 random bytes,
 * made as one random buffer whose prefixes are then written in place (cheap enough for a million).
 */
function unauthenticated(kind: 'garbage' | 'lying' | 'oversized' | 'truncated', count: number): Uint8Array {
  if (kind === 'truncated') {
    const parts: Uint8Array[] = []
    for (let i = 0; i < count; i++) {
      const length = pick(2, 4096)
      parts.push(prefix(length), rand(pick(0, length)))
    }
    return concat(parts)
  }
  const lengths = Array.from({ length: count }, () => pick(1, 41))
  const out = rand(lengths.reduce((sum, n) => sum + frames.prefixBytes + n, 0))
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  let at = 0
  for (const n of lengths) {
    const limit = frames.frameBytesMaxDefault
    // lying: one in ten claims a large frame (held until the stream ends), the rest a small wrong length
    const claim = kind === 'garbage' ? n : kind === 'oversized' ? pick(limit + 1, 2 ** 32) : Math.random() < 0.1 ? pick(1, limit + 1) : (n + pick(1, 64)) % 64
    view.setUint32(at, claim)
    at += frames.prefixBytes + n
  }
  return out
}

type Authed = {
  socket: net.Socket
  session: Session
  /** Resolves when the socket closed, by either side. */
  closed: Promise<void>
  /** Did the node close it (true), or did we (close() first)? */
  closedByNode(): boolean
  close(): void
}

/** A member's raw connection: the handshake done by hand (so the frames after it can be anything). */
async function authenticate(port: number, creds: Creds): Promise<Authed | undefined> {
  const socket = net.connect({ host: '127.0.0.1', port })
  socket.on('error', () => undefined) // reason: the node resets the links it closes
  let ended = false
  let byUs = false
  const closed = new Promise<void>((r) =>
    socket.once('close', () => {
      ended = true
      r()
    }),
  )
  const { handshake, first } = secure.initiate(creds, { nowMs: Date.now(), random: rand })
  const decoder = frames.createFrameDecoder(secure.frameBytesMax)
  const session = await new Promise<Session | undefined>((resolve) => {
    void closed.then(() => resolve(undefined))
    socket.once('connect', () => socket.write(frames.encodeFrame(first)))
    const onData = (chunk: Buffer): void => {
      const r = decoder.push(new Uint8Array(chunk))
      if (!r.ok || r.value.length === 0) {
        if (!r.ok) socket.destroy()
        return
      }
      socket.off('data', onData)
      const step = handshake.receive(r.value[0] as Uint8Array)
      if (!step.ok || step.value.send === undefined || step.value.session === undefined) {
        socket.destroy()
        return
      }
      socket.write(frames.encodeFrame(step.value.send))
      // the link is open once the node speaks on it (its hello): only then may the attack begin, or a
      // bad prefix in the same read would close the link before its handshake completed
      socket.once('data', () => resolve(step.value.session))
      socket.on('data', () => undefined) // the node's hello, roster and digests: read and ignored
    }
    socket.on('data', onData)
  })
  if (session === undefined) {
    socket.destroy()
    return undefined
  }
  const close = (): void => {
    byUs = !ended
    socket.destroy()
  }
  return { socket, session, closed, closedByNode: () => ended && !byUs, close }
}

/** What a member says first on its session: channel 3, its member id (a port nobody listens on). */
function helloOf(session: Session, author: string): Uint8Array {
  return frames.encodeFrame(session.seal(concat([new Uint8Array([3]), new TextEncoder().encode(JSON.stringify({ id: `${author}@127.0.0.1:9` }))])))
}

/** Sealed random bytes on a random channel of the ones the node decodes. */
function randomMessage(session: Session, i: number): Uint8Array {
  const body = rand(2 + (i % 60))
  body[0] = [0, 1, 2, 5, 6][i % 5] as number
  return session.seal(body)
}

/**
 * Floods a fresh fleet daemon in a child process with at least p.frames malformed frames, then samples
 * it and has an honest member (a daemon in this process) publish one fact and wait for the child to hold it.
 */
export async function runFlood(p: FloodParams): Promise<FloodReport> {
  const settleMs = p.settleMs ?? 2000
  const root = mkdtempSync(join(tmpdir(), 'gv-fuzz-'))
  const child = { proc: undefined as ReturnType<typeof spawn> | undefined }
  try {
    const nodeHome = join(root, 'node')
    const id = home.init(nodeHome, 'target')
    if (!id.ok) throw new Error(id.detail)
    const now = Date.now()
    const fleet = fleetHome.createFleet(nodeHome, id.value, now)
    if (!fleet.ok) throw new Error(fleet.detail)
    const inv = fleetHome.createInvite(fleet.value, ['read', 'write:*'], 3_600_000, now)
    if (!inv.ok) throw new Error(inv.detail)
    const invite: Invite = inv.value

    const proc = spawn(process.execPath, ['--expose-gc', fileURLToPath(new URL('./fuzz-target.ts', import.meta.url)), nodeHome], { stdio: ['pipe', 'pipe', 'inherit'] })
    child.proc = proc
    let exited = false
    const exit = new Promise<number | null>((r) =>
      proc.once('exit', (code) => {
        exited = true
        r(code)
      }),
    )
    const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]()
    const next = async (): Promise<unknown> => {
      const l = await lines.next()
      if (l.done === true) throw new Error('fuzz: the target exited (see its stderr above)')
      return JSON.parse(l.value) as unknown
    }
    const ask = async (q: string): Promise<TargetSample> => {
      proc.stdin.write(q + '\n')
      return (await next()) as TargetSample
    }
    const address = ((await next()) as { address: string }).address
    const port = Number(address.split(':')[1])

    const member = (): Creds => {
      const kp = generateKeyPairSync('ed25519')
      const s = log.createSigner(kp.privateKey)
      if (!s.ok) throw new Error(s.detail)
      const c = log.createCredential(invite, s.value, Date.now())
      if (!c.ok) throw new Error(c.detail)
      return { signer: s.value, credential: c.value }
    }

    const sentByKind = Object.fromEntries(attackKinds.map((k) => [k, 0])) as Record<AttackKind, number>
    const connectionsByKind = Object.fromEntries(attackKinds.map((k) => [k, 0])) as Record<AttackKind, number>
    let handshakes = 0
    let roguesClosedByNode = 0
    let sealedLying = 0

    const attack = async (kind: AttackKind, count: number): Promise<void> => {
      if (kind === 'garbage' || kind === 'lying' || kind === 'oversized' || kind === 'truncated') {
        await writeAndEnd(port, unauthenticated(kind, count))
        connectionsByKind[kind]++
        sentByKind[kind] += count
        return
      }
      const creds = member()
      const a = await authenticate(port, creds)
      if (a === undefined) throw new Error(`fuzz: a member's handshake failed (${kind})`)
      handshakes++
      connectionsByKind[kind]++
      const hello = helloOf(a.session, creds.signer.author)
      const parts: Uint8Array[] = [hello]
      if (kind === 'rogue') for (let i = 0; i < count; i++) parts.push(frames.encodeFrame(randomMessage(a.session, i)))
      else if (kind === 'flipped') {
        for (let i = 0; i < count; i++) {
          const sealed = randomMessage(a.session, i)
          const at = randomInt(0, sealed.length)
          sealed[at] = (sealed[at] as number) ^ (1 << randomInt(0, 8))
          parts.push(frames.encodeFrame(sealed))
        }
      } else if (kind === 'sealed-truncated') {
        const f = frames.encodeFrame(randomMessage(a.session, 0))
        parts.push(f.subarray(0, randomInt(5, f.length)))
      } else if (sealedLying++ % 2 === 0) {
        // a prefix shorter than the sealed frame behind it (the rest would be read as the next prefix)
        const sealed = randomMessage(a.session, 1)
        parts.push(prefix(randomInt(1, sealed.length)), sealed)
      } else {
        // a prefix over the limit, after a good message (a bad prefix closes the link before the frames
        // read with it are looked at: both in one write)
        parts.push(frames.encodeFrame(randomMessage(a.session, 1)), prefix(frames.frameBytesMaxDefault + 1 + randomInt(0, 1 << 20)), rand(32))
      }
      a.socket.write(concat(parts))
      sentByKind[kind] += count
      if (kind === 'sealed-truncated') a.socket.end()
      // wait for the node to close the link (it must: blocked, or a bad frame), at most 10 s (a loaded CI
      // machine; closing it ourselves first could reset it before the node read the attack)
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([a.closed, new Promise<void>((r) => (timer = setTimeout(r, 10_000)))])
      clearTimeout(timer) // or it would hold the process up to 10 s past the end
      if (kind === 'rogue' && a.closedByNode()) roguesClosedByNode++
      a.close()
      await a.closed
    }
    const round = (): Promise<void[]> =>
      Promise.all(attackKinds.flatMap((k) => Array.from({ length: roundPlan[k].connections }, () => attack(k, roundPlan[k].frames))))
    const sentNow = (): number => attackKinds.reduce((s, k) => s + sentByKind[k], 0)

    // warm-up: one round, then the baseline
    await round()
    await sleep(settleMs)
    const before = await ask('sample')
    for (const k of attackKinds) {
      sentByKind[k] = 0
      connectionsByKind[k] = 0
    }
    handshakes = 0
    roguesClosedByNode = 0
    const t0 = performance.now()
    let rounds = 0
    while (sentNow() < p.frames) {
      await round()
      rounds++
    }
    const elapsedMs = performance.now() - t0
    await sleep(settleMs)
    const aliveBefore = !exited
    const after = await ask('sample')
    const aliveAfter = aliveBefore && !exited

    // an honest member joins now and writes: its fact reaches the node
    const honestHome = join(root, 'honest')
    const hid = home.init(honestHome, 'honest')
    if (!hid.ok) throw new Error(hid.detail)
    const joined = fleetHome.joinFleet(honestHome, hid.value, log.encodeInviteToken(invite), Date.now())
    if (!joined.ok) throw new Error(joined.detail)
    const honest = await startDaemon({ home: honestHome, listenHost: '127.0.0.1', listenPort: 0, security: 'fleet', stateFile: false, join: [address] })
    let synced = false
    const ts = performance.now()
    try {
      const l = local.openLocal(honestHome)
      if (!l.ok) throw new Error(l.detail)
      const w = local.commit(l.value, [{ kind: 'fact.assert', body: { value: 'still serving', channel: 'discoveries', supersedes: [], verified: false } }])
      local.closeLocal(l.value)
      if (!w.ok) throw new Error(w.detail)
      while (performance.now() - ts < 10_000) {
        // its hello (seq 1) and the fact (seq 2)
        if ((await ask(`seq ${hid.value.author}`)).seq >= 2) {
          synced = true
          break
        }
        await sleep(50)
      }
    } finally {
      await honest.close()
    }
    const syncMs = performance.now() - ts
    proc.stdin.write('quit\n')
    const exitCode = await exit
    const invalidExpected = invalidKinds.reduce((s, k) => s + connectionsByKind[k], 0)
    return { sent: sentNow(), sentByKind, connectionsByKind, rounds, elapsedMs, invalidExpected, handshakes, roguesClosedByNode, before, after, aliveAfter, synced, syncMs, exitCode }
  } finally {
    if (child.proc !== undefined && child.proc.exitCode === null) child.proc.kill('SIGKILL')
    rmSync(root, { recursive: true, force: true })
  }
}
