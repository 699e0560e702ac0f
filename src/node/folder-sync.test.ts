import assert from 'node:assert/strict'
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import * as log from '../log/index.ts'
import type { SignedOp } from '../log/index.ts'
import { signedChain, testSigner } from '../log/log.test-util.ts'
import { opLog } from '../store/index.ts'
import { folder } from '../transport/index.ts'
import { syncFolder, stateHash, statePath, watchFolder } from './folder-sync.ts'
import type { FolderSyncReport } from './folder-sync.ts'
import { addTask, closeAgent, createAgent, doneTask, publish, retract, setFact } from './folder-sync.test-util.ts'
import type { Agent } from './folder-sync.test-util.ts'
import * as local from './local.ts'

const root = mkdtempSync(join(tmpdir(), 'gv-fsync-'))
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0
const fresh = (what: string) => {
  const d = join(root, `${what}${n++}`)
  mkdirSync(d)
  return d
}
const t0 = Date.UTC(2026, 9, 28, 9) // 2026-10-28 09:00 UTC
const hourMs = 3_600_000

function sync(a: Agent, dir: string, packBefore?: string): FolderSyncReport {
  const r = syncFolder(a.l, dir, { packBefore })
  assert.ok(r.ok, r.ok ? '' : r.detail)
  return r.value
}

describe('folder sync', () => {
  it('two agents converge through a folder, incrementally, and a partial line waits without a report', () => {
    const dir = fresh('shared')
    const a = createAgent(root, `a${n}`, t0)
    const b = createAgent(root, `b${n}`, t0 + 1000)
    publish(a, 'Convex cold-starts after 2h idle')
    setFact(a, 'deploy.region', 'eu-west-1')
    publish(b, 'the staging DB resets nightly')
    const ra = sync(a, dir)
    assert.equal(ra.written, 3) // hello, entry, fact
    const rb = sync(b, dir)
    assert.deepEqual([rb.written, rb.ingested, rb.problems.length], [2, 3, 0])
    const ra2 = sync(a, dir)
    assert.deepEqual([ra2.written, ra2.ingested, ra2.duplicates], [0, 2, 0]) // offsets: its own lines are not read again
    assert.equal(stateHash(a.l), stateHash(b.l))
    // b writes more; a sync tool has copied half of the new line so far
    a.clock.advance(hourMs)
    b.clock.advance(hourMs)
    publish(b, 'second')
    const bFile = join(dir, b.l.identity.author, `${folder.dayOf(b.clock.nowMs())}.jsonl`)
    const text = readFileSync(bFile, 'utf8')
    sync(b, dir)
    const full = readFileSync(bFile, 'utf8')
    writeFileSync(bFile, full.slice(0, text.length + 30))
    const ra3 = sync(a, dir)
    assert.deepEqual([ra3.ingested, ra3.problems.length], [0, 0])
    writeFileSync(bFile, full)
    const ra4 = sync(a, dir)
    assert.deepEqual([ra4.ingested, ra4.problems.length, ra4.duplicates], [1, 0, 0])
    assert.equal(stateHash(a.l), stateHash(b.l))
    closeAgent(a)
    closeAgent(b)
  })

  it('a sync killed between writing and saving its offsets neither loses nor repeats a line', () => {
    const dir = fresh('shared')
    const a = createAgent(root, `a${n}`, t0)
    const b = createAgent(root, `b${n}`, t0)
    publish(a, 'one')
    sync(a, dir)
    sync(b, dir)
    publish(a, 'two')
    sync(a, dir)
    // b's state from before its last sync, as if that sync died after ingesting
    const stateFile = statePath(b.l.home, dir)
    const before = readFileSync(stateFile, 'utf8')
    sync(b, dir)
    writeFileSync(stateFile, before)
    const again = sync(b, dir)
    assert.deepEqual([again.ingested, again.duplicates, again.problems.length], [0, 1, 0])
    // a's state lost entirely (a crash before its first save): it writes nothing twice
    rmSync(statePath(a.l.home, dir))
    const ra = sync(a, dir)
    assert.equal(ra.written, 0)
    const lines = readdirSync(join(dir, a.l.identity.author)).map((f) => readFileSync(join(dir, a.l.identity.author, f), 'utf8').split('\n').filter((x) => x !== '').length)
    assert.equal(lines.reduce((x, y) => x + y, 0), 3)
    assert.equal(stateHash(a.l), stateHash(b.l))
    closeAgent(a)
    closeAgent(b)
  })

  it('reports a bad signature, a gap and a shard in the wrong folder with file and line, and takes the rest', () => {
    const dir = fresh('shared')
    const a = createAgent(root, `a${n}`, Date.now())
    // x: a valid chain (each op signed: per_op) whose last signature is broken: only a batch's last
    // signature is checked (the chain binds the rest), so the batch is tried again cut at each signed op,
    // ops 1-3 go in and line 4 is reported; y: a chain with a hole
    const x = signedChain(testSigner(10), 4, { scheme: 'per_op' })
    const badSig = (x[3] as SignedOp).sig as Uint8Array
    const broken = x.map((e, i) => (i === 3 ? { ...e, sig: badSig.map((v, k) => (k === 0 ? v ^ 1 : v)) } : e))
    const xa = testSigner(10).author
    folder.appendOps(dir, xa, broken)
    const y = signedChain(testSigner(11), 5, { scheme: 'per_op' })
    const ya = testSigner(11).author
    folder.appendOps(dir, ya, [y[0], y[1], y[3], y[4]] as SignedOp[])
    // z's folder holds an op of x
    const z = signedChain(testSigner(12), 2)
    const za = testSigner(12).author
    folder.appendOps(dir, za, z)
    const zFile = readdirSync(join(dir, za))[0] as string
    appendFileSync(join(dir, za, zFile), folder.encodeLine(x[0] as SignedOp))
    const r = sync(a, dir)
    const xFile = `${xa}/${readdirSync(join(dir, xa))[0] as string}`
    const yFile = `${ya}/${readdirSync(join(dir, ya))[0] as string}`
    const got = r.problems.map((p) => [p.file, p.line, p.reason])
    assert.deepEqual(
      got.sort(),
      [
        [xFile, 4, 'bad_signature'],
        [yFile, 3, 'gap'],
        [`${za}/${zFile}`, 3, 'wrong_folder'],
      ].sort(),
    )
    assert.equal(opLog.head(a.l.store, xa)?.seq, 3)
    assert.equal(opLog.head(a.l.store, ya)?.seq, 2)
    assert.equal(opLog.head(a.l.store, za)?.seq, 2)
    // the gap is filled later (a file that arrived late): y's rest goes in
    const yDir = join(dir, ya)
    const yPath = join(yDir, readdirSync(yDir)[0] as string)
    const yLines = readFileSync(yPath, 'utf8').split('\n')
    writeFileSync(yPath, [yLines[0], yLines[1], folder.encodeLine(y[2] as SignedOp).slice(0, -1), yLines[2], yLines[3], ''].join('\n'))
    const r2 = sync(a, dir)
    assert.equal(opLog.head(a.l.store, ya)?.seq, 5)
    assert.ok(r2.problems.every((p) => p.reason !== 'gap' || !p.file.startsWith(ya)))
    closeAgent(a)
  })

  it('a packed folder gives the same state as the unpacked one, and reading it again takes nothing new', () => {
    const dir = fresh('shared')
    const a = createAgent(root, `a${n}`, t0)
    const b = createAgent(root, `b${n}`, t0)
    const c = createAgent(root, `c${n}`, t0)
    for (let d = 0; d < 12; d++) {
      publish(a, `day ${d}`)
      setFact(a, `k${d % 3}`, d)
      if (d === 5) retract(a, 'k1')
      if (d === 2) addTask(a, 't1', 'ship it')
      if (d === 7) doneTask(a, 't1')
      a.clock.advance(24 * hourMs)
      b.clock.advance(24 * hourMs)
      c.clock.advance(24 * hourMs)
      sync(a, dir)
    }
    sync(b, dir) // b reads the day files
    const r = sync(a, dir, '2026-11') // a packs October
    assert.ok(r.packed !== undefined && r.packed.months.includes('2026-10'))
    assert.ok(readdirSync(join(dir, a.l.identity.author)).includes('2026-10.pack.jsonl'))
    const rc = sync(c, dir) // c reads the pack and November's days
    assert.equal(rc.problems.length, 0)
    const rb = sync(b, dir) // b, which read the days, now sees the pack: nothing new
    assert.deepEqual([rb.ingested, rb.problems.length], [0, 0])
    assert.equal(stateHash(c.l), stateHash(a.l))
    assert.equal(stateHash(b.l), stateHash(a.l))
    assert.equal(local.reads(c.l).fact('k1', { nowMs: c.clock.nowMs(), includeStale: true })?.value, 10) // set again after the retract
    closeAgent(a)
    closeAgent(b)
    closeAgent(c)
  })

  it('the offsets file names the folder, and a second sync of the same home waits for none (lock released)', () => {
    const dir = fresh('shared')
    const a = createAgent(root, `a${n}`, t0)
    publish(a, 'x')
    sync(a, dir)
    sync(a, dir)
    const st = JSON.parse(readFileSync(statePath(a.l.home, dir), 'utf8')) as { dir: string; offsets: Record<string, unknown> }
    assert.equal(st.dir, dir)
    assert.equal(Object.keys(st.offsets).length, 1)
    assert.equal(log.parseAuthorId(Object.keys(st.offsets)[0]?.split('/')[0]).ok, true)
    closeAgent(a)
  })

  it('watchFolder syncs at once and again when another node writes, until stopped', async () => {
    const dir = fresh('shared')
    const a = createAgent(root, `a${n}`, Date.now())
    const b = createAgent(root, `b${n}`, Date.now())
    publish(a, 'watched')
    const reports: number[] = []
    const w = watchFolder(a.l, dir, (r) => reports.push(r.ok ? r.value.ingested : -1), { intervalMs: 40, debounceMs: 10 })
    const until = async (cond: () => boolean, what: string) => {
      const deadline = Date.now() + 10_000
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
        await new Promise((r) => setTimeout(r, 10))
      }
    }
    try {
      await until(() => reports.length > 0, 'the first sync')
      publish(b, 'from b')
      assert.equal(syncFolder(b.l, dir).ok, true)
      await until(() => opLog.head(a.l.store, b.l.identity.author) !== undefined, 'b\'s ops at a')
      assert.ok(reports.every((x) => x >= 0))
    } finally {
      w.stop()
    }
    const seen = reports.length
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(reports.length, seen, 'no sync after stop')
    closeAgent(a)
    closeAgent(b)
  })

  it('a mixed fleet: N1 and N2 gossip, N2 also syncs the folder with --relay, N3 only syncs the folder: all three converge', () => {
    const dir = fresh('shared')
    const n1 = createAgent(root, `n1-${n}`, t0)
    const n2 = createAgent(root, `n2-${n}`, t0 + 3)
    const n3 = createAgent(root, `n3-${n}`, t0 + 5)
    /** Gossip between two nodes, as anti-entropy does it: each takes the other's ops past its heads. */
    const gossip = (x: Agent, y: Agent) => {
      for (const [from, to] of [[x, y], [y, x]] as const) {
        for (const [author, head] of opLog.versionVector(from.l.store)) {
          const have = opLog.head(to.l.store, author as SignedOp['op']['author'])?.seq ?? 0
          if (head <= have) continue
          const cut = log.cutBatches(opLog.opsAfter(from.l.store, author as SignedOp['op']['author'], have, 10_000))
          for (const b of cut.batches) assert.ok(opLog.ingest(to.l.store, b, to.clock.nowMs()).ok)
        }
      }
    }
    for (let round = 0; round < 4; round++) {
      for (const x of [n1, n2, n3]) x.clock.advance(hourMs)
      publish(n1, `n1 round ${round}`)
      setFact(n2, 'shared.k', round)
      publish(n3, `n3 round ${round}`)
      if (round === 2) retract(n1, 'shared.k')
      gossip(n1, n2)
      assert.ok(syncFolder(n2.l, dir, { relay: true }).ok)
      const r3 = syncFolder(n3.l, dir)
      assert.ok(r3.ok && r3.value.problems.length === 0)
    }
    // one more exchange each way carries the last writes everywhere
    assert.ok(syncFolder(n2.l, dir, { relay: true }).ok)
    gossip(n1, n2)
    assert.ok(syncFolder(n2.l, dir, { relay: true }).ok)
    assert.ok(syncFolder(n3.l, dir).ok)
    assert.equal(stateHash(n1.l), stateHash(n2.l))
    assert.equal(stateHash(n3.l), stateHash(n2.l))
    // n1's ops reached the folder only through n2's relay files; n1 has no folder of its own
    const n1Files = readdirSync(join(dir, n1.l.identity.author))
    assert.ok(n1Files.length > 0 && n1Files.every((f) => folder.relayFilePattern.test(f)))
    // relaying again writes nothing new
    const again = syncFolder(n2.l, dir, { relay: true })
    assert.ok(again.ok && again.value.relayed === 0)
    for (const x of [n1, n2, n3]) closeAgent(x)
  })
})
