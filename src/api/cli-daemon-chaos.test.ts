import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import * as core from '../core/index.ts'
import { encodeInviteToken } from '../log/index.ts'
import type { AuthorId } from '../log/index.ts'
import { fleetHome, home, local } from '../node/index.ts'
import type { Local } from '../node/index.ts'
import { createFaultProxy, noFaults } from '../node/daemon-fault-proxy.test-util.ts'
import type { FaultProxy } from '../node/daemon-fault-proxy.test-util.ts'
import { opLog } from '../store/index.ts'
import { spawnUp } from './daemon-process.test-util.ts'

// Chaos on real processes (issue 5, Tests): five daemons in one fleet (secure links), each behind a fault
// proxy; writers publish on every node all along (each write acknowledged when its commit returns); for
// a while daemons are killed with SIGKILL and restarted, proxies drop, delay, duplicate and flip frames,
// cut one direction or every connection. Then everything heals: within 10 s every node must hold every
// acknowledged op and the same state (version vector and a hash of every fact).
// The seed of a run is printed; CHAOS_SEED=<seed> replays its choice of faults (not the OS's timing).

const root = mkdtempSync(join(tmpdir(), 'gv-chaos-'))
const children = new Set<ChildProcess>()
const proxies: FaultProxy[] = []
after(async () => {
  // after a failure too: nothing left running keeps the file from ending
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const p of proxies) await p.close()
  rmSync(root, { recursive: true, force: true })
})

const seed = process.env['CHAOS_SEED'] !== undefined ? Number(process.env['CHAOS_SEED']) : Date.now() % 1_000_000
const env = (dir: string): NodeJS.ProcessEnv => ({ ...process.env, GRAPEVINE_HOME: dir, GRAPEVINE_CLI: 'source', NO_COLOR: '1' })

type Node = { dir: string; proxy: FaultProxy; child: ChildProcess | undefined; exited: Promise<unknown> | undefined; join: string[] }

async function up(n: Node): Promise<void> {
  const args = ['up', '--json', '--listen', '127.0.0.1:0', '--api', '127.0.0.1:0', '--advertise', `127.0.0.1:${n.proxy.port}`, ...n.join.flatMap((j) => ['--join', j])]
  const p = spawnUp(args, env(n.dir), { quiet: true })
  children.add(p.child)
  n.child = p.child
  n.exited = p.exited
  const doc = await p.ready
  n.proxy.target = Number(doc.address.split(':')[1])
}

async function kill9(n: Node): Promise<void> {
  n.child?.kill('SIGKILL')
  await n.exited
  n.child = undefined
}

function stateHash(l: Local): string {
  const h = createHash('sha256')
  const vv = [...opLog.versionVector(l.store)].sort((a, b) => (a[0] < b[0] ? -1 : 1))
  h.update(JSON.stringify(vv))
  for (const f of local.reads(l).facts({ nowMs: 0, includeStale: true })) h.update(JSON.stringify([f.fact_id, f.versions.map((v) => v.value)]))
  return h.digest('hex').slice(0, 16)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('chaos: five daemons behind fault proxies (real processes)', { timeout: 120_000 }, () => {
  it(`after kill -9s, restarts, drops, delays, duplicates, flips and cuts, all converge within 10 s and lose no acknowledged op (seed ${seed})`, async () => {
    const rng = core.prng.create(seed)
    process.stderr.write(`# chaos seed ${seed} (replay: CHAOS_SEED=${seed})\n`)
    const nodes: Node[] = []
    for (let i = 0; i < 5; i++) {
      const dir = join(root, `n${i}`)
      assert.ok(home.init(dir, `chaos-${i}`).ok)
      const proxy = await createFaultProxy(0, seed + i)
      proxies.push(proxy)
      nodes.push({ dir, proxy, child: undefined, exited: undefined, join: [] })
    }
    // one fleet: node 0 creates it, the others join with its invites
    const now = Date.now()
    const id0 = home.load(nodes[0]?.dir as string)
    assert.ok(id0.ok)
    const fleet = fleetHome.createFleet(nodes[0]?.dir as string, id0.value, now)
    assert.ok(fleet.ok)
    for (const n of nodes.slice(1)) {
      const inv = fleetHome.createInvite(fleet.value, ['read', 'write:*'], 600_000, now)
      assert.ok(inv.ok)
      const id = home.load(n.dir)
      assert.ok(id.ok)
      assert.ok(fleetHome.joinFleet(n.dir, id.value, encodeInviteToken(inv.value), now).ok)
    }
    for (const [i, n] of nodes.entries()) n.join = [`127.0.0.1:${(nodes[i === 0 ? 1 : 0] as Node).proxy.port}`]
    await Promise.all(nodes.map(up))

    // writers: one store connection per node in this process (as the CLI or MCP server would write)
    const locals = nodes.map((n) => {
      const l = local.openLocal(n.dir)
      assert.ok(l.ok)
      return l.value
    })
    const acked: { author: AuthorId; seq: number }[] = []
    let writing = true
    let written = 0
    const writer = (async () => {
      while (writing) {
        const i = core.prng.nextInt(rng, 5)
        const l = locals[i] as Local
        const r = local.commit(l, [{ kind: 'fact.assert', body: { fact_id: `chaos/${written}`, value: written, channel: 'discoveries', supersedes: [], verified: false } }])
        assert.ok(r.ok)
        for (const e of r.value.ops) acked.push({ author: e.op.author, seq: e.op.seq })
        written++
        await sleep(30)
      }
    })()

    // chaos for ~8 s
    const down = new Set<number>()
    const restarts: Promise<void>[] = []
    const t0 = performance.now()
    while (performance.now() - t0 < 8000) {
      const i = core.prng.nextInt(rng, 5)
      const n = nodes[i] as Node
      const action = core.prng.nextInt(rng, 4)
      if (action === 0 && !down.has(i) && down.size < 2) {
        down.add(i)
        await kill9(n)
        restarts.push(
          sleep(500 + core.prng.nextInt(rng, 1500)).then(async () => {
            await up(n)
            down.delete(i)
          }),
        )
      } else if (action === 1) {
        const f = { drop: core.prng.nextFloat(rng) * 0.3, dup: core.prng.nextFloat(rng) * 0.2, flip: core.prng.nextFloat(rng) * 0.02, delayMs: core.prng.nextInt(rng, 100), cut: false }
        n.proxy.faults[core.prng.chance(rng, 0.5) ? 'in' : 'out'] = f
      } else if (action === 2) {
        n.proxy.faults[core.prng.chance(rng, 0.5) ? 'in' : 'out'] = { ...noFaults(), cut: true }
      } else {
        n.proxy.cutAll()
      }
      await sleep(400)
    }

    // heal
    writing = false
    await writer
    await Promise.all(restarts)
    for (const n of nodes) {
      n.proxy.faults.in = noFaults()
      n.proxy.faults.out = noFaults()
    }
    const healedAt = performance.now()
    let hashes: string[] = []
    const holdsAll = (l: Local): boolean => {
      const vv = opLog.versionVector(l.store)
      return acked.every((a) => (vv.get(a.author as never) ?? 0) >= a.seq)
    }
    while (performance.now() - healedAt < 30_000) {
      hashes = locals.map(stateHash)
      if (locals.every(holdsAll) && hashes.every((h) => h === hashes[0])) break
      await sleep(100)
    }
    const convergedMs = performance.now() - healedAt
    const counts = nodes.map((n) => n.proxy.counts)
    process.stderr.write(
      `# chaos: ${written} writes acknowledged; converged ${convergedMs.toFixed(0)} ms after heal; proxies dropped ${counts.reduce((s, c) => s + c.dropped, 0)}, duplicated ${counts.reduce((s, c) => s + c.duplicated, 0)}, flipped ${counts.reduce((s, c) => s + c.flipped, 0)} of ${counts.reduce((s, c) => s + c.frames, 0)} frames\n`,
    )
    for (const l of locals) assert.ok(holdsAll(l), 'every acknowledged op on every node')
    assert.ok(hashes.every((h) => h === hashes[0]), `one state hash: ${hashes.join(' ')}`)
    assert.ok(convergedMs <= 10_000, `converged ${convergedMs.toFixed(0)} ms after heal (bound 10 s)`)

    for (const l of locals) local.closeLocal(l)
    for (const n of nodes) n.child?.kill('SIGTERM')
    for (const n of nodes) await n.exited
  })
})
