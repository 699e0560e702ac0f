import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { local } from '../node/index.ts'
import { resolveUpConfig } from './cli-daemon.ts'
import { bin, spawnUp } from './daemon-process.test-util.ts'

const root = mkdtempSync(join(tmpdir(), 'gv-up-'))
const children: ChildProcess[] = []
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  rmSync(root, { recursive: true, force: true })
})

// the sources, not a bundle that may be older than them (the CLI bundle is cli-process.test.ts's concern)
const env = (dir: string): NodeJS.ProcessEnv => ({ ...process.env, GRAPEVINE_HOME: dir, GRAPEVINE_CLI: 'source', NO_COLOR: '1' })

function cli(dir: string, ...argv: string[]) {
  const r = spawnSync(process.execPath, [bin, ...argv], { env: env(dir), encoding: 'utf8', timeout: 30_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

function cliAsync(dir: string, ...argv: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bin, ...argv], { env: env(dir) })
    let out = ''
    let err = ''
    c.stdout.on('data', (d: Buffer) => (out += d.toString()))
    c.stderr.on('data', (d: Buffer) => (err += d.toString()))
    c.on('close', (code) => resolve({ code, out, err }))
  })
}

type Up = { child: ChildProcess; address: string; api: string; dir: string; exited: Promise<number | null> }

/** Starts `grapevine up --json` and resolves once it printed where it listens. */
async function up(dir: string, listen: string, join: readonly string[], extra: readonly string[] = []): Promise<Up> {
  const args = ['up', '--json', '--listen', listen, '--api', '127.0.0.1:0', ...join.flatMap((j) => ['--join', j]), ...extra]
  const p = spawnUp(args, env(dir))
  children.push(p.child)
  const doc = await p.ready
  return { child: p.child, address: doc.address, api: doc.api.replace(/^http:\/\//, ''), dir, exited: p.exited }
}

async function waitFor(what: string, cond: () => boolean, deadlineMs = 15_000): Promise<void> {
  const t0 = performance.now()
  while (!cond()) {
    if (performance.now() - t0 > deadlineMs) throw new Error(`${what}: not within ${deadlineMs} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** Reads a node's views from its store (a second connection, as the CLI would). */
function readNode<T>(dir: string, fn: (r: ReturnType<typeof local.reads>) => T): T {
  const l = local.openLocal(dir)
  assert.ok(l.ok)
  try {
    return fn(local.reads(l.value))
  } finally {
    local.closeLocal(l.value)
  }
}

describe('grapevine up: settings', () => {
  it('flags > env > config.json > defaults, and bad values say where they came from', () => {
    const d = resolveUpConfig({}, {}, undefined)
    assert.ok(d.ok)
    assert.deepEqual(d.value.listen, { host: '127.0.0.1', port: 7400 })
    assert.deepEqual(d.value.api, { host: '127.0.0.1', port: 7401 })
    assert.equal(d.value.topology, 'mesh')
    const f = resolveUpConfig({}, { GRAPEVINE_LISTEN: '127.0.0.1:9000' }, { listen: '127.0.0.1:8000', join: ['127.0.0.1:1234'], topology: 'hub-spoke' })
    assert.ok(f.ok)
    assert.equal(f.value.listen.port, 9000, 'env over file')
    assert.deepEqual(f.value.join, ['127.0.0.1:1234'])
    assert.equal(f.value.topology, 'hub-spoke')
    const g = resolveUpConfig({ listen: '127.0.0.1:9100', hub: true }, { GRAPEVINE_LISTEN: '127.0.0.1:9000', GRAPEVINE_HUB: 'false' }, {})
    assert.ok(g.ok)
    assert.equal(g.value.listen.port, 9100, 'flag over env')
    assert.equal(g.value.hub, true)
    const bad = [
      resolveUpConfig({}, {}, { listen: 7400 }),
      resolveUpConfig({}, {}, { lisen: '127.0.0.1:1' }),
      resolveUpConfig({}, { GRAPEVINE_TOPOLOGY: 'ring' }, undefined),
      resolveUpConfig({ listen: 'nope' }, {}, undefined),
      resolveUpConfig({}, { GRAPEVINE_HUB: 'maybe' }, undefined),
      resolveUpConfig({ join: ['127.0.0.1:0'] }, {}, undefined),
      resolveUpConfig({ listen: '0.0.0.0:7400' }, {}, undefined),
    ]
    const details = bad.map((r) => (r.ok ? 'ok' : r.detail))
    assert.match(details[0] as string, /config\.json at listen/)
    assert.match(details[1] as string, /config\.json/)
    assert.match(details[2] as string, /topology from GRAPEVINE_TOPOLOGY: "ring"/)
    assert.match(details[3] as string, /from --listen: "nope" is not HOST:PORT/)
    assert.match(details[4] as string, /GRAPEVINE_HUB/)
    assert.match(details[5] as string, /join address/)
    assert.match(details[6] as string, /not loopback.*--insecure/)
    assert.ok(resolveUpConfig({ listen: '0.0.0.0:7400', insecure: true }, {}, undefined).ok)
  })

  it('a bad config.json is bad usage: exit 2 with one line', () => {
    const dir = join(root, 'badcfg')
    assert.equal(cli(dir, 'init', '--name', 'cfg').code, 0)
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ topology: 'star' }))
    const r = cli(dir, 'up')
    assert.equal(r.code, 2)
    assert.match(r.err, /config\.json at topology/)
    // every interface is no address for peers to dial: --advertise is needed
    writeFileSync(join(dir, 'config.json'), '{}')
    const all = cli(dir, 'up', '--listen', '0.0.0.0:0', '--insecure')
    assert.equal(all.code, 2)
    assert.match(all.err, /--advertise/)
  })
})

describe('grapevine up: five daemons on loopback (real processes)', { timeout: 90_000 }, () => {
  it('a fact published by the CLI on one is visible on all; concurrent claims end with one winner; a kill -9 node catches up', async () => {
    const dirs = [0, 1, 2, 3, 4].map((i) => join(root, `n${i}`))
    for (const [i, d] of dirs.entries()) assert.equal(cli(d, 'init', '--name', `node-${i}`).code, 0)
    const nodes: Up[] = [await up(dirs[0] as string, '127.0.0.1:0', [])]
    const seed = (nodes[0] as Up).address
    nodes.push(...(await Promise.all(dirs.slice(1).map((d) => up(d, '127.0.0.1:0', [seed])))))

    // 1. publish through the CLI (a separate process writing node 2's store)
    const p = cli(dirs[2] as string, '--json', 'publish', 'the fleet hears this', '--channel', 'discoveries')
    assert.equal(p.code, 0, p.err)
    const factId = (JSON.parse(p.out) as { fact_id: string }).fact_id
    const t0 = performance.now()
    await waitFor('the fact on all five', () => dirs.every((d) => readNode(d, (r) => r.fact(factId, { nowMs: Date.now() }) !== undefined)))
    const visibleMs = performance.now() - t0

    // 2. a task, claimed at once on two nodes
    const t = cli(dirs[0] as string, '--json', 'task', 'add', 'deploy the thing')
    assert.equal(t.code, 0, t.err)
    const taskId = (JSON.parse(t.out) as { task_id: string }).task_id
    await waitFor('the task on nodes 3 and 4', () => [3, 4].every((i) => readNode(dirs[i] as string, (r) => r.task(taskId) !== undefined)))
    const claims = await Promise.all([cliAsync(dirs[3] as string, '--json', 'task', 'claim', taskId), cliAsync(dirs[4] as string, '--json', 'task', 'claim', taskId)])
    assert.ok(claims.every((c) => c.code === 0 || c.code === 1), claims.map((c) => c.err).join('\n'))
    await waitFor('one winner everywhere', () => {
      const winners = dirs.map((d) => readNode(d, (r) => ({ by: r.task(taskId)?.claimed_by ?? null, n: r.task(taskId)?.claims.length ?? 0 })))
      return winners.every((w) => w.n === 2 && w.by !== null && w.by === winners[0]?.by)
    })

    // 3. kill -9 node 4, write while it is down, restart it on its port: it catches up
    const victim = nodes[4] as Up
    victim.child.kill('SIGKILL')
    await victim.exited
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const w = cli(dirs[1] as string, '--json', 'publish', `while node 4 was down ${i}`)
      assert.equal(w.code, 0, w.err)
      ids.push((JSON.parse(w.out) as { fact_id: string }).fact_id)
    }
    nodes[4] = await up(dirs[4] as string, victim.address, [seed])
    await waitFor('node 4 caught up', () => readNode(dirs[4] as string, (r) => ids.every((id) => r.fact(id, { nowMs: Date.now() }) !== undefined)))

    // peers: the running node's view through its HTTP API
    await waitFor('GET /peers lists four alive peers', () => {
      const r = cli(dirs[0] as string, '--json', 'peers', '--api', (nodes[0] as Up).api)
      if (r.code !== 0) return false
      const doc = JSON.parse(r.out) as { source: string; peers: { state: string }[] }
      return doc.source === 'api' && doc.peers.filter((x) => x.state === 'alive').length === 4
    })

    // graceful shutdown: SIGTERM, exit 0
    for (const n of nodes) n.child.kill('SIGTERM')
    const codes = await Promise.all(nodes.map((n) => n.exited))
    assert.deepEqual(codes, [0, 0, 0, 0, 0])
    process.stderr.write(`# five daemons: publish -> visible on all five in ${visibleMs.toFixed(0)} ms (one run)\n`)
  })
})

describe('grapevine up --dir: the daemon syncs a shared folder continuously', { timeout: 60_000 }, () => {
  it("takes another node's shards in, writes its own ops out, and says a bad line once", async () => {
    const folder = join(root, 'shared')
    const [a, b] = ['dir-a', 'dir-b'].map((n) => join(root, n)) as [string, string]
    assert.equal(cli(a, 'init', '--name', 'folder-only').code, 0)
    assert.equal(cli(b, 'init', '--name', 'daemon').code, 0)
    const p = cli(a, '--json', 'publish', 'written by a folder-only node')
    assert.equal(p.code, 0, p.err)
    const fromA = (JSON.parse(p.out) as { fact_id: string }).fact_id
    assert.equal(cli(a, 'sync', '--dir', folder).code, 0)
    const authorA = (JSON.parse(cli(a, '--json', 'log', '-n', '1').out) as { author: string }[])[0]?.author as string
    writeFileSync(join(folder, authorA, '2020-01-01.jsonl'), 'not json\n')

    const node = await up(b, '127.0.0.1:0', [], ['--dir', folder])
    let err = ''
    node.child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
    await waitFor("the folder-only node's entry in the daemon's store", () => readNode(b, (r) => r.fact(fromA, { nowMs: Date.now() }) !== undefined))

    // the daemon's home writes; the folder-only node reads it from the folder
    const w = cli(b, '--json', 'publish', 'written beside a running daemon')
    assert.equal(w.code, 0, w.err)
    const fromB = (JSON.parse(w.out) as { fact_id: string }).fact_id
    await waitFor('the folder-only node gets it by the folder', () => {
      assert.equal(cli(a, 'sync', '--dir', folder).code, 0)
      return readNode(a, (r) => r.fact(fromB, { nowMs: Date.now() }) !== undefined)
    })
    node.child.kill('SIGTERM')
    assert.equal(await node.exited, 0)
    assert.equal(err.split('2020-01-01.jsonl:1: not_json').length - 1, 1, err)
  })
})
