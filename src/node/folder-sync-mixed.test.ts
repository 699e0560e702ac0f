/**
 * Issue 6's mixed fleet over real daemons: N1 and N2 gossip on loopback (startDaemon, plain links), N2
 * also syncs a shared folder with --relay through a second connection to its store (as the CLI or a
 * daemon's watchFolder would), and N3 only syncs the folder. Every node writes; all three must end with
 * the same state hash. Waits on conditions with a deadline, never on fixed sleeps.
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import * as knowledge from '../knowledge/index.ts'
import { opLog } from '../store/index.ts'
import { startDaemon } from './daemon.ts'
import type { Daemon, DaemonOptions } from './daemon.ts'
import { stateHash, syncFolder } from './folder-sync.ts'
import * as home from './home.ts'
import * as local from './local.ts'
import type { Local } from './local.ts'

const root = mkdtempSync(join(tmpdir(), 'gv-mixed-'))
const running: Daemon[] = []
const opened: Local[] = []
after(async () => {
  for (const d of running) await d.close()
  for (const l of opened) local.closeLocal(l)
  rmSync(root, { recursive: true, force: true })
})

const fastGossip: Partial<DaemonOptions> = {
  membership: { protocolPeriodMs: 200, probeTimeoutMs: 100 },
  antiEntropy: { intervalMs: 200 },
  stateFile: false,
}

function newHome(name: string): string {
  const d = join(root, name)
  mkdirSync(d)
  const r = home.init(d, name)
  assert.ok(r.ok)
  return d
}

function open(dir: string): Local {
  const l = local.openLocal(dir)
  assert.ok(l.ok)
  opened.push(l.value)
  return l.value
}

function publish(l: Local, text: string): void {
  const d = knowledge.draftBody('fact.assert', { value: text, channel: 'discoveries', supersedes: [], verified: false })
  assert.ok(d.ok)
  assert.ok(local.commit(l, [{ kind: d.value.kind, body: d.value.body }]).ok)
}

function vv(l: Local): string {
  return JSON.stringify([...opLog.versionVector(l.store)].sort())
}

describe('folder sync in a mixed fleet (real daemons)', { timeout: 30_000 }, () => {
  it('N1 and N2 gossip, N2 also syncs the folder with --relay, N3 only the folder: all three converge', async () => {
    const dir = join(root, 'shared')
    const h1 = newHome('n1')
    const h2 = newHome('n2')
    const h3 = newHome('n3')
    const d1 = await startDaemon({ home: h1, listenHost: '127.0.0.1', listenPort: 0, security: 'plain', ...fastGossip })
    running.push(d1)
    const d2 = await startDaemon({ home: h2, listenHost: '127.0.0.1', listenPort: 0, security: 'plain', join: [d1.address], ...fastGossip })
    running.push(d2)
    const [l1, l2, l3] = [open(h1), open(h2), open(h3)]
    for (let i = 0; i < 3; i++) {
      publish(l1, `n1 says ${i}`)
      publish(l2, `n2 says ${i}`)
      publish(l3, `n3 says ${i}`)
    }
    const deadline = performance.now() + 20_000
    for (;;) {
      const r2 = syncFolder(l2, dir, { relay: true })
      const r3 = syncFolder(l3, dir)
      assert.ok(r2.ok && r3.ok)
      assert.deepEqual([...r2.value.problems, ...r3.value.problems], [])
      if (vv(l1) === vv(l2) && vv(l2) === vv(l3) && opLog.versionVector(l1.store).size === 3) break
      if (performance.now() > deadline) assert.fail(`no convergence within 20 s: ${vv(l1)} / ${vv(l2)} / ${vv(l3)}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.equal(stateHash(l1), stateHash(l2))
    assert.equal(stateHash(l3), stateHash(l2))
    assert.equal(local.reads(l3).entries({ nowMs: Date.now(), limit: 100 }).length, 9)
  })
})
