/**
 * Issue 5's fuzz bullet: malformed frames at a live fleet node (a daemon in a child process, so its
 * memory is its own): no crash, no hang, no memory growth, and an honest member still syncs afterwards.
 *
 * What "at the node" means here, honestly: the node refuses most of a flood without reading it. Two
 * kinds of attacker, alternating until `--frames` frames have been sent (written to a socket the node
 * had open):
 *   - unauthenticated connections writing a burst of small random frames: the first one fails the
 *     handshake and the node closes the connection; the rest are written but never read;
 *   - authenticated members (distinct keys, one invite: a leaked token) that send sealed messages with
 *     random bytes on random channels after their hello: each is decoded and dropped, scoring the member
 *     down until it is blocked and its link closed (a handful of messages each).
 * Reported: frames sent, frames the node counted as invalid, its links opened, bytes it read, its RSS
 * before and after (after a settle of 2 s and a full GC: the child runs with --expose-gc), elapsed time, and whether the honest member synced.
 *
 * Usage: npm run bench -- fuzz [--frames N] (default 1,000,000)
 */
import { spawn } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import * as net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import * as log from '../src/log/index.ts'
import { fleetHome, home, local } from '../src/node/index.ts'
import { startDaemon } from '../src/node/network.ts'
import { frames, links, secure } from '../src/transport/index.ts'
import { parseBenchArgs } from './lib/args.ts'

const usage = 'usage: npm run bench -- fuzz [--frames N]'

async function serve(dir: string): Promise<void> {
  const d = await startDaemon({ home: dir, listenHost: '127.0.0.1', listenPort: 0, security: 'fleet', stateFile: false, antiEntropy: { intervalMs: 200 } })
  const say = (x: unknown): void => void process.stdout.write(JSON.stringify(x) + '\n')
  say({ address: d.address })
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'quit') break
    const author = line.startsWith('seq ') ? line.slice(4) : ''
    ;(globalThis as { gc?: () => void }).gc?.()
    say({ rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed, external: process.memoryUsage().external, stats: d.stats(), seq: author === '' ? 0 : (d.versionVector().get(author as never) ?? 0) })
  }
  await d.close()
  process.exit(0)
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === '--serve') {
    await serve(argv[1] as string)
    return 0
  }
  const args = parseBenchArgs('fuzz', argv, { frames: 'count' }, usage)
  if (args === undefined) return 2
  const target = args.frames ?? 1_000_000
  const root = mkdtempSync(join(tmpdir(), 'gv-fuzz-'))
  try {
    const nodeHome = join(root, 'node')
    const id = home.init(nodeHome, 'target')
    if (!id.ok) throw new Error(id.detail)
    const now = Date.now()
    const fleet = fleetHome.createFleet(nodeHome, id.value, now)
    if (!fleet.ok) throw new Error(fleet.detail)
    const inv = fleetHome.createInvite(fleet.value, ['read', 'write:*'], 3_600_000, now)
    if (!inv.ok) throw new Error(inv.detail)
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(new URL('./run.ts', import.meta.url)), 'fuzz', '--serve', nodeHome], { stdio: ['pipe', 'pipe', 'inherit'] })
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
    const next = async (): Promise<Record<string, unknown>> => JSON.parse(((await lines.next()).value as string) ?? 'null') as Record<string, unknown>
    const ask = async (q: string): Promise<{ rss: number; heap: number; external: number; stats: Record<string, number>; seq: number }> => {
      child.stdin.write(q + '\n')
      return (await next()) as never
    }
    const address = (await next())['address'] as string
    const port = Number(address.split(':')[1])

    const member = () => {
      const kp = generateKeyPairSync('ed25519')
      const s = log.createSigner(kp.privateKey)
      if (!s.ok) throw new Error(s.detail)
      const c = log.createCredential(inv.value, s.value, Date.now())
      if (!c.ok) throw new Error(c.detail)
      return { signer: s.value, credential: c.value }
    }
    const security = (creds: secure.Creds) => secure.createSecurity(creds, () => Date.now(), (n) => new Uint8Array(randomBytes(n)))
    const rand = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

    // warm-up: one round of each kind, then the baseline
    let sent = 0
    const garbage = async (count: number): Promise<void> => {
      const chunks: Uint8Array[] = []
      for (let i = 0; i < count; i++) chunks.push(frames.encodeFrame(rand(1 + (i % 40))))
      const s = net.connect({ host: '127.0.0.1', port })
      s.on('error', () => undefined)
      await new Promise<void>((r) => s.once('connect', () => r()))
      s.write(Buffer.concat(chunks))
      sent += count
      await new Promise<void>((r) => {
        s.once('close', () => r())
        s.end()
      })
    }
    const rogue = async (count: number): Promise<void> => {
      const creds = member()
      await new Promise<void>((resolve) => {
        links.dial('127.0.0.1', port, {
          security: security(creds),
          events: {
            onOpen: (l) => {
              l.send(new Uint8Array([3, ...new TextEncoder().encode(JSON.stringify({ id: `${creds.signer.author}@127.0.0.1:9` }))]), false)
              for (let i = 0; i < count; i++) {
                const body = rand(2 + (i % 60))
                body[0] = [0, 1, 2, 5, 6][i % 5] as number
                if (l.send(body, false)) sent++
              }
              setTimeout(() => l.close('done'), 50)
            },
            onMessage: () => undefined,
            onInvalid: () => undefined,
            onClose: () => resolve(),
          },
        })
      })
    }
    await garbage(1000)
    await rogue(100)
    await new Promise((r) => setTimeout(r, 2000))
    const before = await ask('rss')
    sent = 0
    const t0 = performance.now()
    let rounds = 0
    while (sent < target) {
      await Promise.all([garbage(5000), garbage(5000), rogue(200), rogue(200)])
      rounds++
    }
    const elapsedMs = performance.now() - t0
    await new Promise((r) => setTimeout(r, 2000))
    const after = await ask('rss')
    // an honest member still syncs
    const honestHome = join(root, 'honest')
    const hid = home.init(honestHome, 'honest')
    if (!hid.ok) throw new Error(hid.detail)
    const joined = fleetHome.joinFleet(honestHome, hid.value, log.encodeInviteToken(inv.value), Date.now())
    if (!joined.ok) throw new Error(joined.detail)
    const honest = await startDaemon({ home: honestHome, listenHost: '127.0.0.1', listenPort: 0, security: 'fleet', stateFile: false, join: [address] })
    const l = local.openLocal(honestHome)
    if (!l.ok) throw new Error(l.detail)
    const w = local.commit(l.value, [{ kind: 'fact.assert', body: { value: 'still serving', channel: 'discoveries', supersedes: [], verified: false } }])
    local.closeLocal(l.value)
    if (!w.ok) throw new Error(w.detail)
    let synced = false
    const ts = performance.now()
    while (performance.now() - ts < 10_000) {
      if ((await ask(`seq ${hid.value.author}`)).seq >= 2) {
        synced = true
        break
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    const syncMs = performance.now() - ts
    await honest.close()
    child.stdin.write('quit\n')
    await new Promise((r) => child.once('exit', r))
    const mb = (x: number): string => (x / 1024 / 1024).toFixed(1)
    const d = (k: string): number => (after.stats[k] ?? 0) - (before.stats[k] ?? 0)
    process.stdout.write(
      [
        `fuzz: ${sent} malformed frames sent in ${(elapsedMs / 1000).toFixed(1)} s (${rounds} rounds: 2 garbage connections x 5000 frames, 2 authenticated members x 200 messages)`,
        `node read ${mb(d('bytesIn'))} MiB, counted ${d('invalidFrames')} invalid frames, opened ${d('linksOpened')} links (each rogue member is blocked after a few messages; a garbage connection is closed at its first frame)`,
        `node RSS ${mb(before.rss)} MiB before, ${mb(after.rss)} MiB after (${((after.rss / before.rss - 1) * 100).toFixed(1)}%); JS heap used ${mb(before.heap)} -> ${mb(after.heap)} MiB, external ${mb(before.external)} -> ${mb(after.external)} MiB`,
        `honest member synced: ${synced} (${syncMs.toFixed(0)} ms)`,
      ].join('\n') + '\n',
    )
    return synced ? 0 : 1
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
