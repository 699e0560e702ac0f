/**
 * Quarantine (op-log.ts): a revoked author's ops past a cutoff leave the log for revoked_ops in one
 * transaction, and the views become those of a store that never took them.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { DatabaseSync } from 'node:sqlite'
import fc from 'fast-check'
import * as core from '../core/index.ts'
import { arbOpSet, t0Ms } from '../knowledge/knowledge.test-util.ts'
import * as log from '../log/index.ts'
import type { EncodedOp, Signer } from '../log/index.ts'
import * as cursor from './cursor.ts'
import * as opLog from './op-log.ts'
import type { OpLog } from './op-log.ts'
import { memoryReads } from './reads.ts'
import * as views from './views.ts'
import { compareReads, ingestNowMs, resign, signers, tempStores } from './views.test-util.ts'

const { dir, fresh, drop } = tempStores('grapevine-quarantine-')
const numRuns = Number(process.env['FC_NUM_RUNS'] ?? 25)

/** Each author's chain as one signed batch into the store. */
function ingestChains(s: OpLog, chains: readonly EncodedOp[][]): void {
  chains.forEach((chain, a) => {
    if (chain.length === 0) return
    const v = opLog.ingest(s, log.signOps(signers[a] as Signer, chain, 'batch_head'), ingestNowMs)
    assert.ok(v.ok, v.ok ? '' : v.detail)
  })
}

const cause = { reason: 'key leaked', atMs: t0Ms + 5 }

test('quarantine: exactly the ops past the cutoff leave the log; log and views equal a store that never took them', () => {
  const arb = arbOpSet(40)
    .map(resign)
    .chain((chains) =>
      fc.tuple(fc.constant(chains), fc.nat(4), fc.nat(40)).map(([c, a, k]) => ({ chains: c, a, cutoff: k % ((c[a]?.length ?? 0) + 1) })),
    )
  fc.assert(
    fc.property(arb, ({ chains, a, cutoff }) => {
      const s = fresh()
      const t = fresh()
      try {
        ingestChains(s, chains)
        const author = (signers[a] as Signer).author
        const mine = chains[a] as EncodedOp[]
        const kept = chains.map((c, i) => (i === a ? c.filter((e) => e.op.seq <= cutoff) : c))
        const moved = opLog.quarantine(s, author, cutoff, cause)
        assert.equal(moved, mine.length - cutoff)
        // the log: the other store took only the kept ops
        ingestChains(t, kept)
        assert.deepEqual([...opLog.versionVector(s)].sort(), [...opLog.versionVector(t)].sort())
        assert.deepEqual(opLog.head(s, author), opLog.head(t, author))
        assert.deepEqual([...opLog.scan(s)].map((e) => e.hash), [...opLog.scan(t)].map((e) => e.hash))
        // the views: the reference model's over the kept ops, and the other store's
        const all = kept.flat()
        compareReads(views.sqlReads(s), memoryReads(all), all)
        assert.deepEqual(views.sqlReads(s).dump(), views.sqlReads(t).dump())
        // kept for audit, counted
        const q = opLog.quarantined(s)
        assert.deepEqual(q.map((x) => x.op.hash), mine.slice(cutoff).map((e) => e.hash))
        assert.ok(q.every((x) => x.cutoff === cutoff && x.reason === cause.reason && x.quarantinedMs === cause.atMs))
        assert.equal(views.metrics(s).revoked_ops_quarantined, moved)
        // again: nothing moves, nothing changes
        const dump = views.sqlReads(s).dump()
        assert.equal(opLog.quarantine(s, author, cutoff, { reason: 'again', atMs: cause.atMs + 1 }), 0)
        assert.deepEqual(views.sqlReads(s).dump(), dump)
        assert.equal(opLog.quarantinedCount(s), moved)
        // and the store goes on: the other authors' later ops and the views they make
        const other = (a + 1) % signers.length
        const more = log.createOps((signers[other] as Signer).author, opLog.head(s, (signers[other] as Signer).author), [
          { hlc: { wallMs: t0Ms + 50_000_000, logical: 0 }, kind: 'counter.add', body: { name: 'after', n: 1 } },
        ])
        assert.ok(more.ok)
        const batch = log.signOps(signers[other] as Signer, more.value, 'batch_head')
        assert.ok(opLog.ingest(s, batch, ingestNowMs).ok)
        assert.ok(opLog.ingest(t, batch, ingestNowMs).ok)
        assert.deepEqual(views.sqlReads(s).dump(), views.sqlReads(t).dump())
      } finally {
        drop(s)
        drop(t)
      }
    }),
    { numRuns },
  )
})

/** A store with two authors' channel entries: signer 0 writes 3 (the 3rd says "zebra"), signer 1 one. */
function entries(s: OpLog): void {
  const write = (sg: Signer, texts: string[]) =>
    assert.ok(
      opLog.append(
        s,
        sg,
        core.hlc.create(sg.author),
        core.clock.createManualClock(t0Ms),
        texts.map((value) => ({ kind: 'fact.assert', body: { value, supersedes: [], verified: false, channel: 'discoveries', tags: [] } })),
      ).ok,
    )
  write(signers[0] as Signer, ['alpha deploy', 'beta deploy', 'zebra deploy'])
  write(signers[1] as Signer, ['gamma deploy'])
}

const search = (s: OpLog, text: string) =>
  views
    .sqlReads(s)
    .search({ text, limit: 10, nowMs: t0Ms })
    .map((h) => h.value)
    .sort()

test('quarantine: full-text search no longer finds the ops\' text; the head goes back; cutoff 0 empties the author; the event stream skips them', () => {
  const s = fresh()
  try {
    cursor.install(s)
    entries(s)
    const a = (signers[0] as Signer).author
    assert.deepEqual(search(s, 'zebra'), ['zebra deploy'])
    assert.equal(cursor.after(s, 0, 100).length, 4)
    assert.equal(opLog.quarantine(s, a, 2, cause), 1)
    assert.deepEqual(search(s, 'zebra'), [])
    assert.deepEqual(search(s, 'deploy'), ['alpha deploy', 'beta deploy', 'gamma deploy'])
    assert.equal(opLog.head(s, a)?.seq, 2)
    assert.equal(opLog.versionVector(s).get(a), 2)
    assert.equal(cursor.after(s, 0, 100).length, 3)
    assert.equal(opLog.quarantine(s, a, 0, cause), 2)
    assert.equal(opLog.head(s, a), undefined)
    assert.equal(opLog.versionVector(s).get(a), undefined)
    assert.deepEqual(search(s, 'deploy'), ['gamma deploy'])
    assert.equal(views.metrics(s).revoked_ops_quarantined, 3)
    assert.deepEqual(opLog.quarantined(s, a).map((q) => [q.op.op.seq, q.cutoff]), [[1, 0], [2, 0], [3, 2]])
    // an unknown author, or a cutoff at or past the head: nothing to do
    assert.equal(opLog.quarantine(s, (signers[4] as Signer).author, 0, cause), 0)
    assert.equal(opLog.quarantine(s, (signers[1] as Signer).author, 1, cause), 0)
    assert.deepEqual(opLog.integrityCheck(s), ['ok'])
  } finally {
    drop(s)
  }
})

test('quarantine: a failure inside the transaction leaves the old state, and the store goes on', () => {
  const s = fresh()
  try {
    entries(s)
    const a = (signers[0] as Signer).author
    const before = views.sqlReads(s).dump()
    // fails after the ops were moved and deleted, when the head is set back
    s.db.exec("CREATE TEMP TRIGGER fail_head BEFORE UPDATE ON main.heads BEGIN SELECT RAISE(ABORT, 'disk gone'); END")
    assert.throws(() => opLog.quarantine(s, a, 1, cause), /disk gone/)
    s.db.exec('DROP TRIGGER temp.fail_head')
    assert.equal(opLog.opCount(s), 4)
    assert.equal(opLog.head(s, a)?.seq, 3)
    assert.equal(opLog.quarantinedCount(s), 0)
    assert.deepEqual(views.sqlReads(s).dump(), before)
    assert.equal(opLog.quarantine(s, a, 1, cause), 2)
    assert.equal(opLog.opCount(s), 2)
  } finally {
    drop(s)
  }
})

test('quarantine: a process killed between begin and commit leaves the old state on disk', () => {
  const s = fresh()
  entries(s)
  const a = (signers[0] as Signer).author
  const before = views.sqlReads(s).dump()
  const path = s.path
  opLog.close(s)
  // a child that dies (SIGKILL) inside the quarantine's transaction: the ops moved and deleted, the head
  // about to go back (the views' tables are dropped and made again, so no trigger on them would last)
  const script = join(dir, 'kill-mid-quarantine.ts')
  writeFileSync(
    script,
    `import * as opLog from ${JSON.stringify(new URL('./op-log.ts', import.meta.url).pathname)}
const r = opLog.open(${JSON.stringify(path)})
if (!r.ok) process.exit(3)
r.value.db.function('die', () => { process.kill(process.pid, 'SIGKILL'); return 0 })
r.value.db.exec("CREATE TEMP TRIGGER die_mid BEFORE UPDATE ON main.heads BEGIN SELECT die(); END")
opLog.quarantine(r.value, ${JSON.stringify(a)}, 1, { reason: 'x', atMs: 1 })
process.exit(4)
`,
  )
  const c = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(c.signal, 'SIGKILL', `${c.status} ${c.stderr}`)
  const r = opLog.open(path)
  assert.ok(r.ok, r.ok ? '' : r.detail)
  const t = r.value
  try {
    assert.equal(opLog.opCount(t), 4)
    assert.equal(opLog.head(t, a)?.seq, 3)
    assert.equal(opLog.quarantinedCount(t), 0)
    assert.deepEqual(views.sqlReads(t).dump(), before)
    assert.deepEqual(opLog.integrityCheck(t), ['ok'])
  } finally {
    drop(t)
  }
})

test('quarantine: a format 3 store opens as format 4 (revoked_ops added, views kept, not rebuilt); format 5 is refused', () => {
  const s = fresh()
  entries(s)
  const before = views.sqlReads(s).dump()
  const path = s.path
  s.db.exec('DROP TABLE revoked_ops; PRAGMA user_version = 3')
  opLog.close(s)
  let told = 0
  const r = opLog.open(path, { onViewsUpgrade: () => told++ })
  assert.ok(r.ok, r.ok ? '' : r.detail)
  const u = r.value
  assert.equal(told, 0)
  assert.equal((u.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, 4)
  assert.deepEqual(views.sqlReads(u).dump(), before)
  assert.equal(opLog.quarantine(u, (signers[0] as Signer).author, 2, cause), 1)
  opLog.close(u)
  const db = new DatabaseSync(path)
  db.exec('PRAGMA user_version = 5')
  db.close()
  const newer = opLog.open(path)
  assert.ok(!newer.ok && newer.reason === 'newer_format')
  for (const x of ['', '-wal', '-shm']) rmSync(`${path}${x}`, { force: true })
})
