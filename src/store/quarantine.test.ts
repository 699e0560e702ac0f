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
import { arbOpSet, createWriter, dotOfOp, t0Ms, write } from '../knowledge/knowledge.test-util.ts'
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

/**
 * What the reads do not show but later ingest builds on, by names (entity and author numbers are local
 * to a store): entities, op_entity with its shadowed marks, idempotency holders, and the metrics of the
 * views (invalid and unknown-kind ops, shadowed ops, row counts).
 */
function hiddenViews(s: OpLog): unknown {
  const all = (sql: string) => s.db.prepare(sql).all().map((r) => ({ ...r }))
  const m = views.metrics(s)
  return {
    entities: all('SELECT entity FROM entities ORDER BY entity'),
    opEntity: all(
      'SELECT n.entity AS entity, a.author AS author, e.seq AS seq, e.shadowed AS shadowed FROM op_entity e ' +
        'JOIN entities n ON n.id = e.entity JOIN authors a ON a.no = e.author ORDER BY 1, 2, 3',
    ),
    idempotency: all(
      'SELECT i.author AS author, i.key AS key, i.seq AS seq, i.kind AS kind, i.fact_id AS fact_id, n.entity AS entity ' +
        'FROM idempotency i LEFT JOIN entities n ON n.id = i.entity ORDER BY 1, 2',
    ),
    metrics: [m.invalid_ops, m.unknown_kind_ops, m.shadowed_ops, m.views],
  }
}

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
        assert.deepEqual(hiddenViews(s), hiddenViews(t))
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
        assert.deepEqual(hiddenViews(s), hiddenViews(t))
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

/**
 * Author 1 (to be revoked) writes 2 ops that stay, then ops that reach into everyone's entities: it
 * supersedes author 0's fact, opens a conflict on a fact author 2 also wrote, resolves (verified) the
 * conflict authors 0 and 2 have on another, claims and finishes the task another task waits for, adds to
 * a counter (with an idempotency key, then the same key again: shadowed), sets its status, agent name and
 * a config, retracts author 2's fact, and writes an invalid and an unknown-kind op.
 */
function reachingOps(): { chains: EncodedOp[][]; cutoff: number } {
  const [a, r, b] = [0, 1, 2].map((i) => createWriter(i, t0Ms + i * 100)) as [
    ReturnType<typeof createWriter>,
    ReturnType<typeof createWriter>,
    ReturnType<typeof createWriter>,
  ]
  const fact = (factId: string, value: string, supersedes: string[] = [], verified = false) => ({
    fact_id: factId,
    value,
    supersedes,
    verified,
  })
  const ops: EncodedOp[] = []
  const w = (...x: Parameters<typeof write>) => {
    const e = write(...x)
    ops.push(e)
    return e
  }
  const ax = w(a, 'fact.assert', fact('fact/x', 'eu-west-1'))
  const aw = w(a, 'fact.assert', fact('fact/w', 'eu-west-1'))
  const bw = w(b, 'fact.assert', fact('fact/w', 'us-east-1'))
  const bz = w(b, 'fact.assert', fact('fact/z', 'zebra'))
  w(a, 'task.create', { task_id: 'task/0', title: 'build', depends: [] })
  w(a, 'task.create', { task_id: 'task/1', title: 'ship', depends: ['task/0'] })
  w(r, 'status.set', { text: 'fine', health: 'ok' })
  w(r, 'counter.add', { name: 'deploys', n: 3 })
  // past the cutoff (2)
  w(r, 'fact.assert', fact('fact/x', 'us-west-2', [dotOfOp(ax)]))
  w(r, 'fact.assert', fact('fact/y', 'left'))
  w(r, 'fact.assert', fact('fact/w', 'eu-west-1', [dotOfOp(aw), dotOfOp(bw)], true))
  w(r, 'task.claim', { task_id: 'task/0' })
  w(r, 'task.done', { task_id: 'task/0' })
  w(r, 'counter.add', { name: 'deploys', n: 5 }, { key: 'k1' })
  w(r, 'counter.add', { name: 'deploys', n: 7 }, { key: 'k1' })
  w(r, 'counter.add', { name: 'fresh', n: 2 })
  w(r, 'status.set', { text: 'owned', health: 'blocked' })
  w(r, 'agent.hello', { name: 'mallory' })
  w(r, 'config.set', { key: 'k0', value: 'evil', version: 9 })
  w(r, 'fact.retract', { fact_id: 'fact/z', observed: [dotOfOp(bz)] })
  w(r, 'fact.assert', { fact_id: 'fact/v', value: 1, supersedes: [], verified: 'yes' })
  w(r, 'fact.future', { x: 1 })
  w(b, 'fact.assert', fact('fact/y', 'right'))
  w(b, 'counter.add', { name: 'deploys', n: 1 }, { key: 'k1' })
  return { chains: resign(ops), cutoff: 2 }
}

test('quarantine: ops that superseded, resolved, claimed, counted, keyed and retracted in others\' entities leave no trace', () => {
  const { chains, cutoff } = reachingOps()
  const s = fresh()
  const t = fresh()
  try {
    ingestChains(s, chains)
    const rs = views.sqlReads(s)
    const r = (signers[1] as Signer).author
    // before: author 1's ops show
    assert.equal(rs.fact('fact/x', { nowMs: t0Ms })?.versions.length, 1)
    assert.equal(rs.openTickets().filter((k) => k.fact_id === 'fact/y').length, 1)
    assert.equal(rs.resolvedTickets().filter((k) => k.fact_id === 'fact/w').length, 1)
    assert.equal(rs.task('task/0')?.state, 'done')
    assert.deepEqual(rs.readyTasks().map((k) => k.task_id), ['task/1'])
    assert.equal(rs.counter('deploys')?.value, 3 + 5 + 1)
    assert.equal(rs.statuses().find((x) => x.author === r)?.health, 'blocked')
    assert.ok(views.metrics(s).invalid_ops >= 1 && views.metrics(s).unknown_kind_ops >= 1)
    assert.equal(opLog.quarantine(s, r, cutoff, cause), (chains[1] as EncodedOp[]).length - cutoff)
    // after: as if never taken
    const kept = chains.map((c, i) => (i === 1 ? c.filter((e) => e.op.seq <= cutoff) : c))
    ingestChains(t, kept)
    const all = kept.flat()
    compareReads(views.sqlReads(s), memoryReads(all), all)
    assert.deepEqual(views.sqlReads(s).dump(), views.sqlReads(t).dump())
    assert.deepEqual(hiddenViews(s), hiddenViews(t))
    assert.equal(rs.fact('fact/x', { nowMs: t0Ms })?.versions[0]?.value, 'eu-west-1')
    assert.equal(rs.openTickets().filter((k) => k.fact_id === 'fact/y').length, 0) // the conflict went
    assert.equal(rs.openTickets().filter((k) => k.fact_id === 'fact/w').length, 1) // the resolved one is back
    assert.equal(rs.resolvedTickets().length, 0)
    assert.equal(rs.task('task/0')?.state, 'open')
    assert.deepEqual(rs.readyTasks().map((k) => k.task_id), ['task/0'])
    assert.equal(rs.counter('deploys')?.value, 3 + 1)
    assert.equal(rs.counter('fresh'), undefined)
    assert.equal(rs.statuses().find((x) => x.author === r)?.health, 'ok')
    assert.deepEqual(rs.agents(), [])
    assert.deepEqual(rs.configs(), [])
    assert.equal(rs.idempotent(r, 'k1'), undefined)
    assert.equal(rs.fact('fact/z', { nowMs: t0Ms })?.versions[0]?.value, 'zebra')
    assert.equal(views.metrics(s).invalid_ops, 0)
    assert.equal(views.metrics(s).unknown_kind_ops, 0)
    // the revoked author writes again from its cutoff (a new key, say): the same views as the other store
    const again = log.createOps(r, opLog.head(s, r), [
      { hlc: { wallMs: t0Ms + 90_000, logical: 0 }, kind: 'counter.add', body: { name: 'deploys', n: 10 }, idempotencyKey: 'k1' },
      { hlc: { wallMs: t0Ms + 91_000, logical: 0 }, kind: 'task.claim', body: { task_id: 'task/0' } },
    ])
    assert.ok(again.ok)
    const batch = log.signOps(signers[1] as Signer, again.value, 'batch_head')
    assert.ok(opLog.ingest(s, batch, ingestNowMs).ok)
    assert.ok(opLog.ingest(t, batch, ingestNowMs).ok)
    assert.deepEqual(views.sqlReads(s).dump(), views.sqlReads(t).dump())
    assert.deepEqual(hiddenViews(s), hiddenViews(t))
    assert.equal(rs.counter('deploys')?.value, 3 + 1 + 10)
  } finally {
    drop(s)
    drop(t)
  }
})

test('quarantine: when more than quarantineRebuildMin ops and over half the log move, the views are rebuilt and still equal', () => {
  const s = fresh()
  const t = fresh()
  try {
    const other = signers[0] as Signer
    const gone = signers[1] as Signer
    const entry = (i: number) => ({
      hlc: { wallMs: t0Ms + i, logical: 0 },
      kind: 'fact.assert',
      body: { value: `entry ${i} deploy`, channel: 'discoveries', supersedes: [], verified: false, tags: [] },
    })
    const put = (sg: Signer, n: number, into: OpLog[]) => {
      const ops = log.createOps(sg.author, undefined, Array.from({ length: n }, (_, i) => entry(i)))
      assert.ok(ops.ok)
      for (let k = 0; k < n; k += 256) {
        const batch = log.signOps(sg, ops.value.slice(k, k + 256), 'batch_head')
        for (const x of into) assert.ok(opLog.ingest(x, batch, ingestNowMs).ok)
      }
    }
    put(other, 10, [s, t])
    put(gone, opLog.quarantineRebuildMin + 1, [s])
    const before = s.views
    assert.equal(opLog.quarantine(s, gone.author, 0, cause), opLog.quarantineRebuildMin + 1)
    assert.notEqual(s.views, before) // a new writer: the views were rebuilt
    assert.deepEqual(views.sqlReads(s).dump(), views.sqlReads(t).dump())
    assert.deepEqual(hiddenViews(s), hiddenViews(t))
    assert.deepEqual(search(s, 'deploy').length, 10)
  } finally {
    drop(s)
    drop(t)
  }
})
