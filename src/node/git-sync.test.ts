import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { signedChain, testSigner } from '../log/log.test-util.ts'
import { opLog } from '../store/index.ts'
import { stateHash } from './folder-sync.ts'
import { addTask, closeAgent, createAgent, doneTask, publish, retract, setFact } from './folder-sync.test-util.ts'
import type { Agent } from './folder-sync.test-util.ts'
import { syncGit } from './git-sync.ts'
import type { GitSyncReport } from './git-sync.ts'
import * as local from './local.ts'

const root = mkdtempSync(join(tmpdir(), 'gv-git-'))
after(() => rmSync(root, { recursive: true, force: true }))

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

let n = 0
/** A bare repository and `count` clones of it, each with a committer identity. */
function repos(count: number): { bare: string; clones: string[] } {
  const base = join(root, `r${n++}`)
  mkdirSync(base)
  const bare = join(base, 'fleet.git')
  git(base, 'init', '-q', '--bare', '-b', 'main', bare)
  const clones: string[] = []
  for (let i = 0; i < count; i++) {
    const c = join(base, `clone${i}`)
    git(base, 'clone', '-q', bare, c)
    git(c, 'symbolic-ref', 'HEAD', 'refs/heads/main')
    git(c, 'config', 'user.name', `clone${i}`)
    git(c, 'config', 'user.email', `clone${i}@example.invalid`)
    clones.push(c)
  }
  return { bare, clones }
}

function sync(a: Agent, cwd: string, extra: { beforePush?: () => void } = {}): GitSyncReport {
  const r = syncGit(a.l, { cwd, ...extra })
  assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.detail}`)
  assert.deepEqual(r.value.problems, [])
  return r.value
}

const t0 = Date.UTC(2026, 10, 20, 8)
const hourMs = 3_600_000

describe('git sync', () => {
  it('three clones: A offline for three days while B and C write, retract, resolve a conflict and finish tasks; one sync of A and all agree, nothing lost, no merge', () => {
    const { bare, clones } = repos(3)
    const [ca, cb, cc] = clones as [string, string, string]
    const A = createAgent(root, `A${n}`, t0)
    const B = createAgent(root, `B${n}`, t0 + 7)
    const C = createAgent(root, `C${n}`, t0 + 13)
    const all: [Agent, string][] = [[A, ca], [B, cb], [C, cc]]
    const tick = (ms: number) => all.forEach(([x]) => x.clock.advance(ms))
    // day 0: everyone online
    publish(A, 'A: convex cold-starts after 2h idle')
    setFact(A, 'deploy.region', 'eu-west-1')
    addTask(B, 'build', 'build the frontend')
    addTask(B, 'stage', 'push to staging')
    setFact(C, 'flaky.test', 'auth.spec.ts')
    for (const [x, c] of all) sync(x, c)
    for (const [x, c] of all) sync(x, c)
    assert.equal(stateHash(A.l), stateHash(B.l))
    assert.equal(stateHash(B.l), stateHash(C.l))
    // A goes offline for three simulated days and keeps writing; B and C sync every 6 hours
    let syncs = 0
    for (let h = 0; h < 72; h += 6) {
      tick(6 * hourMs)
      publish(A, `A offline note at +${h}h`)
      if (h % 12 === 0) setFact(A, `a.k${h}`, h)
      publish(B, `B note +${h}h`)
      publish(C, `C note +${h}h`)
      if (h === 6) {
        setFact(B, 'db.pool', 10) // B and C set it at once: a conflict
        setFact(C, 'db.pool', 20)
      }
      if (h === 18) {
        assert.equal(local.reads(C.l).fact('db.pool', { nowMs: C.clock.nowMs(), includeStale: true })?.conflict, true)
        setFact(C, 'db.pool', 15, true) // verified: resolves the ticket
      }
      if (h === 24) retract(B, 'flaky.test')
      if (h === 30) doneTask(C, 'build')
      if (h === 42) doneTask(B, 'stage')
      sync(B, cb)
      sync(C, cc)
      syncs += 2
    }
    assert.ok(syncs >= 24)
    // A reconnects: one sync; then B and C take A's ops in theirs
    tick(hourMs)
    const ra = sync(A, ca)
    assert.ok(ra.ingested > 0 && ra.written > 0)
    sync(B, cb)
    sync(C, cc)
    const h = stateHash(A.l)
    assert.equal(stateHash(B.l), h)
    assert.equal(stateHash(C.l), h)
    for (const [x] of all) {
      const r = local.reads(x.l)
      const nowMs = x.clock.nowMs()
      assert.equal(r.fact('flaky.test', { nowMs, includeStale: true }), undefined, 'a retracted fact came back')
      const pool = r.fact('db.pool', { nowMs, includeStale: true })
      assert.deepEqual([pool?.value, pool?.conflict], [15, false])
      assert.deepEqual(r.tasks().map((t) => [t.task_id, t.state]).sort(), [['build', 'done'], ['stage', 'done']])
      // no op lost: every agent holds every author's whole log
      for (const [y] of all) assert.equal(opLog.head(x.l.store, y.l.identity.author)?.seq, opLog.head(y.l.store, y.l.identity.author)?.seq)
    }
    // linear history, no merge commit anywhere
    for (const c of clones) assert.equal(git(c, 'log', '--merges', '--oneline').trim(), '')
    assert.equal(git(bare, 'log', '--merges', '--oneline', 'main').trim(), '')
    assert.ok(Number(git(bare, 'rev-list', '--count', 'main').trim()) >= 27)
    for (const x of [A, B, C]) closeAgent(x)
  })

  it('retries a push that another node beat, without a merge', () => {
    const { clones } = repos(2)
    const [c0, c1] = clones as [string, string]
    const X = createAgent(root, `X${n}`, t0)
    const Y = createAgent(root, `Y${n}`, t0)
    publish(X, 'x1')
    publish(Y, 'y1')
    sync(Y, c1)
    publish(Y, 'y2')
    let once = false
    const r = sync(X, c0, {
      beforePush: () => {
        if (once) return
        once = true
        sync(Y, c1) // Y pushes first
      },
    })
    assert.equal(r.pushAttempts, 2)
    sync(Y, c1)
    assert.equal(stateHash(X.l), stateHash(Y.l))
    assert.equal(git(c0, 'log', '--merges', '--oneline').trim(), '')
    closeAgent(X)
    closeAgent(Y)
  })

  it('refuses, changing nothing, on a detached HEAD, a merge in progress, or conflicts in unrelated files; commits only its own folder', () => {
    const { clones } = repos(1)
    const c = clones[0] as string
    const Z = createAgent(root, `Z${n}`, t0)
    writeFileSync(join(c, 'notes.txt'), 'one\n')
    git(c, 'add', 'notes.txt')
    git(c, 'commit', '-q', '-m', 'notes')
    publish(Z, 'z1')
    sync(Z, c)
    publish(Z, 'z2')
    const head = git(c, 'rev-parse', 'HEAD').trim()
    const shards = () => readdirSync(join(c, 'grapevine', Z.l.identity.author)).map((f) => f).join()
    const before = shards()
    const expectRefusal = (reason: string) => {
      const r = syncGit(Z.l, { cwd: c })
      assert.equal(r.ok ? 'ok' : r.reason, reason)
      assert.equal(shards(), before)
    }
    // detached HEAD
    git(c, 'checkout', '-q', '--detach')
    expectRefusal('detached_head')
    git(c, 'checkout', '-q', 'main')
    // a merge in progress (a real one, with a conflict)
    git(c, 'checkout', '-q', '-b', 'side')
    writeFileSync(join(c, 'notes.txt'), 'side\n')
    git(c, 'commit', '-q', '-am', 'side')
    git(c, 'checkout', '-q', 'main')
    writeFileSync(join(c, 'notes.txt'), 'main\n')
    git(c, 'commit', '-q', '-am', 'main')
    assert.throws(() => git(c, 'merge', '-q', 'side'))
    expectRefusal('in_progress')
    git(c, 'merge', '--abort')
    // conflicts without a merge (a stash that did not apply cleanly)
    writeFileSync(join(c, 'notes.txt'), 'stashed\n')
    git(c, 'stash', '-q')
    writeFileSync(join(c, 'notes.txt'), 'committed\n')
    git(c, 'commit', '-q', '-am', 'again')
    assert.throws(() => git(c, 'stash', 'pop', '-q'))
    expectRefusal('conflicts')
    git(c, 'checkout', '-q', 'HEAD', '--', 'notes.txt')
    git(c, 'stash', 'drop', '-q')
    // the user's own uncommitted edit stays uncommitted; only the node's folder is committed
    writeFileSync(join(c, 'notes.txt'), 'my edit\n')
    const headNow = git(c, 'rev-parse', 'HEAD').trim()
    assert.notEqual(headNow, head)
    const r = sync(Z, c)
    assert.equal(r.committed, true)
    assert.deepEqual(git(c, 'show', '--name-only', '--format=', 'HEAD').trim().split('\n').map((p) => p.split('/')[0]), ['grapevine'])
    assert.equal(git(c, 'status', '--porcelain', '--', 'notes.txt').trim(), 'M notes.txt')
    assert.ok(existsSync(join(c, 'grapevine', Z.l.identity.author)))
    closeAgent(Z)
  })

  it('says so outside a work tree', () => {
    const Q = createAgent(root, `Q${n}`, t0)
    const d = join(root, `plain${n++}`)
    mkdirSync(d)
    const r = syncGit(Q.l, { cwd: d })
    assert.equal(r.ok ? 'ok' : r.reason, 'not_a_repo')
    closeAgent(Q)
  })

  it('--relay commits the relay files it writes in other authors\' folders too', () => {
    const { clones } = repos(1)
    const c = clones[0] as string
    const R = createAgent(root, `R${n}`, Date.now())
    const other = signedChain(testSigner(20), 3)
    assert.ok(opLog.ingest(R.l.store, other, Date.now()).ok) // got by gossip
    publish(R, 'r1')
    const r = syncGit(R.l, { cwd: c, relay: true })
    assert.ok(r.ok, r.ok ? '' : r.detail)
    const files = git(c, 'show', '--name-only', '--format=', 'HEAD').trim().split('\n')
    assert.ok(files.some((f) => f.startsWith(`grapevine/${testSigner(20).author}/`) && f.includes('.via-')), files.join())
    assert.ok(files.some((f) => f.startsWith(`grapevine/${R.l.identity.author}/`)))
    assert.equal(git(c, 'status', '--porcelain').trim(), '')
    closeAgent(R)
  })
})
