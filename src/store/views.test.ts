/** The SQLite views against the reference model: same rows, same query results, incremental = rebuild. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import * as core from '../core/index.ts'
import { arbOpSet, t0Ms } from '../knowledge/knowledge.test-util.ts'
import * as log from '../log/index.ts'
import * as opLog from './op-log.ts'
import type { OpLog } from './op-log.ts'
import { memoryReads } from './reads.ts'
import * as views from './views.ts'
import { viewTables } from './views-schema.ts'
import * as viewsWrite from './views-write.ts'
import { arbDelivery, compareReads, ingestNowMs, resign, signers, tempStores } from './views.test-util.ts'

const { fresh, drop } = tempStores('grapevine-views-')

/** Heavy properties: 150 runs by default (a store file per run); FC_NUM_RUNS overrides. */
const numRuns = Number(process.env['FC_NUM_RUNS'] ?? 150)

test('views: any delivery in signed batches gives the reference model’s rows and query results; rebuild gives the same', () => {
  const arb = arbOpSet(40)
    .map(resign)
    .chain((chains) => fc.tuple(fc.constant(chains), arbDelivery(chains)))
  fc.assert(
    fc.property(arb, ([chains, delivery]) => {
      const s = fresh()
      try {
        for (const batch of delivery) {
          const v = opLog.ingest(s, batch, ingestNowMs)
          assert.ok(v.ok || v.reason === 'duplicate' || v.reason === 'gap', v.ok ? '' : v.detail)
        }
        const all = chains.flat()
        const want = memoryReads(all)
        compareReads(views.sqlReads(s), want, all)
        const before = views.sqlReads(s).dump()
        views.rebuild(s)
        assert.deepEqual(views.sqlReads(s).dump(), before, 'rebuild')
      } finally {
        drop(s)
      }
    }),
    { numRuns },
  )
})

test('views: purge takes expired versions out of the views and counts them; rebuild and later ops keep them out', () => {
  const arb = arbOpSet(40)
    .map(resign)
    .chain((chains) =>
      fc.tuple(fc.constant(chains), arbDelivery(chains), fc.integer({ min: 0, max: 200_000 })),
    )
  fc.assert(
    fc.property(arb, ([chains, delivery, afterMs]) => {
      const s = fresh()
      try {
        const half = Math.floor(delivery.length / 2)
        for (const batch of delivery.slice(0, half)) opLog.ingest(s, batch, ingestNowMs)
        const mark = t0Ms + afterMs
        const purged = views.purgeExpired(s, mark + 1000, 1000)
        for (const batch of delivery.slice(half)) opLog.ingest(s, batch, ingestNowMs)
        const want = memoryReads(chains.flat()).dump()
        const kept = want.versions.filter(
          (r) => r.ttl_seconds === null || r.created_at.wallMs + r.ttl_seconds * 1000 > mark,
        )
        const got = views.sqlReads(s).dump()
        assert.deepEqual(got, { ...want, versions: kept })
        const m = views.metrics(s)
        assert.equal(m.ttl_purged_versions, purged)
        assert.equal(m.purge_watermark_ms, mark)
        // purged entries are out of the search index too
        const tagged = kept.filter((r) => r.channel !== null && r.tags.includes('x')).map((r) => r.dot)
        const found = () =>
          views
            .sqlReads(s)
            .search({ text: 'x', limit: 1000, nowMs: t0Ms, includeStale: true })
            .map((h) => h.dot)
        assert.deepEqual(found().sort(), [...tagged].sort())
        views.rebuild(s)
        assert.deepEqual(views.sqlReads(s).dump(), got, 'rebuild after purge')
        assert.deepEqual(found().sort(), [...tagged].sort())
        assert.equal(
          views.metrics(s).ttl_purged_versions,
          purged,
          'the count survives a rebuild',
        )
        // the watermark never moves back
        views.purgeExpired(s, t0Ms, 0)
        assert.equal(views.metrics(s).purge_watermark_ms, mark)
      } finally {
        drop(s)
      }
    }),
    { numRuns: Math.ceil(numRuns / 3) },
  )
})

const clockAt = (ms: number) => core.clock.createManualClock(ms)

test('views: local appends update the views in their transaction; duplicates from a peer are counted', () => {
  const s = fresh()
  const signer = signers[0] as log.Signer
  const hlc = core.hlc.create(signer.author)
  const r = opLog.append(s, signer, hlc, clockAt(t0Ms), [
    { kind: 'fact.assert', body: { fact_id: 'deploy.region', value: 'eu', supersedes: [], verified: false } },
    { kind: 'counter.add', body: { name: 'hits', n: 2 } },
    { kind: 'status.set', body: { text: 'working', health: 'ok' } },
    { kind: 'task.create', body: { task_id: 't1', title: 'build', depends: [] }, idempotencyKey: 'k1' },
    { kind: 'fact.future', body: { x: 1 } },
  ])
  assert.ok(r.ok)
  const reads = views.sqlReads(s)
  assert.equal(reads.fact('deploy.region', { nowMs: t0Ms })?.value, 'eu')
  assert.equal(reads.counter('hits')?.value, 2)
  assert.equal(reads.statuses()[0]?.text, 'working')
  assert.equal(reads.readyTasks()[0]?.task_id, 't1')
  const again = opLog.append(s, signer, hlc, clockAt(t0Ms + 1000), [
    { kind: 'counter.add', body: { name: 'hits', n: -5 } },
    { kind: 'status.set', body: { text: 'done', health: 'ok' } },
    { kind: 'task.done', body: { task_id: 't1' } },
  ])
  assert.ok(again.ok)
  const all = [...opLog.scan(s)]
  compareReads(views.sqlReads(s), memoryReads(all), all)
  // a peer's copy of these ops is a duplicate: counted, nothing changes
  const other = fresh()
  const ops = [...opLog.scan(s)]
  assert.ok(opLog.ingest(other, log.signOps(signer, ops, 'batch_head'), ingestNowMs).ok)
  const dup = opLog.ingest(other, log.signOps(signer, ops.slice(0, 3), 'batch_head'), ingestNowMs)
  assert.ok(!dup.ok && dup.reason === 'duplicate')
  const m = views.metrics(other)
  assert.equal(m.duplicate_ops_ignored, 3)
  assert.equal(m.unknown_kind_ops, 1)
  assert.equal(m.ops, 8)
  assert.deepEqual(views.sqlReads(other).dump(), views.sqlReads(s).dump())
  drop(s)
  drop(other)
})

test('views: search quotes every word (FTS syntax in the text never throws) and ranks the rarer match first', () => {
  const s = fresh()
  const signer = signers[1] as log.Signer
  const hlc = core.hlc.create(signer.author)
  const entry = (text: string, tags: string[] = []) => ({
    kind: 'fact.assert',
    body: { value: text, supersedes: [], verified: false, channel: 'discoveries', tags },
  })
  const common = Array.from({ length: 20 }, (_, i) => entry(`convex deploy note ${i}`))
  const r = opLog.append(s, signer, hlc, clockAt(t0Ms), [
    ...common,
    entry('convex cold start after idle: zanzibar timeout', ['convex']),
    entry('AND OR NOT "quoted" NEAR(a b) col:x * - ^'),
    entry('convex convex convex zanzibar'),
    entry('convex zanzibar zanzibar zanzibar'),
  ])
  assert.ok(r.ok)
  const reads = views.sqlReads(s)
  const q = (text: string) => reads.search({ text, limit: 5, nowMs: t0Ms })
  for (const t of [
    '"',
    '*',
    'NEAR(',
    '-convex',
    'col:x',
    'a"b',
    '^',
    'AND',
    'OR NOT',
    '(((',
    '',
    '   ',
    'é"*',
  ]) {
    assert.doesNotThrow(() => q(t), t)
  }
  assert.equal(q('').length, 0)
  const hits = q('convex zanzibar')
  assert.equal(hits.length, 3)
  // of two entries of one length with both words three and one times, the rare word's wins (BM25 IDF)
  assert.equal(hits[0]?.value, 'convex zanzibar zanzibar zanzibar')
  assert.equal(hits[1]?.value, 'convex convex convex zanzibar')
  const ranked = reads.search({ text: 'convex', limit: 30, nowMs: t0Ms })
  assert.equal(ranked.length, 23)
  // best first: scores never rise
  for (let i = 1; i < ranked.length; i++) assert.ok((ranked[i - 1]?.score ?? 0) >= (ranked[i]?.score ?? 0))
  const or = reads.search({ text: 'zanzibar OR deploy', limit: 30, nowMs: t0Ms })
  assert.equal(or.length, 0, 'OR is a word here, not an operator: no entry has it')
  assert.equal(q('near quoted').length, 1, 'NEAR and quotes are plain words')
  assert.deepEqual(views.ftsQuery('a "b" c*'), '"a" AND "b" AND "c"')
  drop(s)
})

/** A few authors' batches of every sort (entries, a rewritten keyed fact, keys, a counter, a status). */
function randomOpsForUpgrade(): [log.Signer, log.EncodedOp[]][] {
  return signers.slice(0, 3).map((signer, k) => {
    const at = (i: number) => ({ wallMs: t0Ms + i * 1000 + k, logical: 0 })
    const drafts: log.Draft[] = [
      { hlc: at(1), kind: 'fact.assert', body: { fact_id: 'shared', value: k, supersedes: [], verified: false } },
      {
        hlc: at(2),
        kind: 'fact.assert',
        body: { value: `entry ${k} deploy`, supersedes: [], verified: false, channel: 'discoveries', tags: ['x'] },
        idempotencyKey: `key-${k}`,
      },
      {
        hlc: at(3),
        kind: 'fact.assert',
        body: { value: `again ${k}`, supersedes: [], verified: false, channel: 'warnings', tags: [] },
        idempotencyKey: `key-${k}`,
      },
      { hlc: at(4), kind: 'counter.add', body: { name: 'c', n: k + 1 } },
      { hlc: at(5), kind: 'status.set', body: { text: `s${k}`, health: 'ok' } },
      {
        hlc: at(6),
        kind: 'fact.assert',
        body: { fact_id: 'shared', value: k + 10, supersedes: [`${signer.author}:1`], verified: false },
      },
    ]
    const r = log.createOps(signer.author, undefined, drafts)
    assert.ok(r.ok)
    return [signer, r.value]
  })
}

/** Rewrites a store's op log as format 1 and 2 had it: the author's key in every op row, a UNIQUE hash. */
function toFormat2Ops(s: OpLog): void {
  s.db.exec(`
    ALTER TABLE ops RENAME TO ops3;
    DROP INDEX ops_by_time;
    CREATE TABLE ops (
      author TEXT NOT NULL, seq INTEGER NOT NULL CHECK (seq >= 1), hash BLOB NOT NULL UNIQUE,
      wall_ms INTEGER NOT NULL, logical INTEGER NOT NULL, kind TEXT NOT NULL, idempotency_key TEXT,
      bytes BLOB NOT NULL, sig BLOB, PRIMARY KEY (author, seq)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX ops_by_time ON ops (wall_ms, logical, author);
    CREATE INDEX ops_by_idempotency_key ON ops (author, idempotency_key) WHERE idempotency_key IS NOT NULL;
    INSERT INTO ops SELECT a.author, o.seq, o.hash, o.wall_ms, o.logical, o.kind, o.idempotency_key, o.bytes, o.sig
      FROM ops3 o JOIN authors a ON a.no = o.author;
    DROP TABLE ops3;
    DROP TABLE authors;
  `)
}

test('views: a format 2 store (authors\' keys in the op rows) is upgraded on open: same log, same views', () => {
  const s = fresh()
  const ops = randomOpsForUpgrade()
  for (const [signer, batch] of ops) assert.ok(opLog.ingest(s, log.signOps(signer, batch, 'batch_head'), ingestNowMs).ok)
  const want = views.sqlReads(s).dump()
  const count = opLog.opCount(s)
  const vv = [...opLog.versionVector(s)].sort()
  const path = s.path
  toFormat2Ops(s)
  s.db.exec('PRAGMA user_version = 2')
  opLog.close(s)
  let told = 0
  const r = opLog.open(path, { onViewsUpgrade: () => told++ })
  assert.ok(r.ok, r.ok ? '' : r.detail)
  const u = r.value
  assert.equal(told, 1)
  assert.equal(u.viewsProblem, undefined)
  assert.equal((u.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, opLog.formatVersion)
  assert.equal(opLog.opCount(u), count)
  assert.deepEqual([...opLog.versionVector(u)].sort(), vv)
  assert.deepEqual(views.sqlReads(u).dump(), want)
  assert.deepEqual(opLog.integrityCheck(u), ['ok'])
  // the log goes on where it was: the next op of an author chains onto its stored head
  const [signer, batch] = ops[0] as [log.Signer, log.EncodedOp[]]
  const more = log.createOps(signer.author, opLog.head(u, signer.author), [
    { hlc: { wallMs: t0Ms + 10_000_000, logical: 0 }, kind: 'counter.add', body: { name: 'after', n: 2 } },
  ])
  assert.ok(more.ok && batch.length > 0)
  assert.ok(opLog.ingest(u, log.signOps(signer, more.value, 'batch_head'), ingestNowMs).ok)
  assert.equal(opLog.opCount(u), count + 1)
  drop(u)
})

test('views: a v1 store (an op log without views) gets its views on open; damaged views do not stop open, rebuild repairs them', () => {
  const s = fresh()
  const signer = signers[2] as log.Signer
  const hlc = core.hlc.create(signer.author)
  assert.ok(
    opLog.append(s, signer, hlc, clockAt(t0Ms), [
      { kind: 'fact.assert', body: { fact_id: 'a', value: 1, supersedes: [], verified: false } },
      { kind: 'counter.add', body: { name: 'c', n: 1 } },
    ]).ok,
  )
  const want = views.sqlReads(s).dump()
  const path = s.path
  // make it a v1 store: format 2's op log (authors' keys in the rows), no view tables
  toFormat2Ops(s)
  for (const t of viewTables) s.db.exec(`DROP TABLE ${t}`)
  const left = s.db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all()
  assert.deepEqual(
    left.map((r) => (r as { name: string }).name),
    ['forks', 'heads', 'ops', 'revoked_ops'],
  )
  s.db.exec('PRAGMA user_version = 1')
  opLog.close(s)
  const r = opLog.open(path)
  assert.ok(r.ok, r.ok ? '' : r.detail)
  assert.equal(r.value.viewsProblem, undefined)
  assert.deepEqual(views.sqlReads(r.value).dump(), want)
  assert.equal(
    (r.value.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version,
    opLog.formatVersion,
  )
  // damage: a view table with the wrong columns
  r.value.db.exec('DROP TABLE counters; CREATE TABLE counters (x)')
  opLog.close(r.value)
  const d = opLog.open(path)
  assert.ok(d.ok, d.ok ? '' : d.detail)
  assert.match(d.value.viewsProblem ?? '', /damaged/)
  assert.throws(() => views.sqlReads(d.value), /rebuild/)
  // the log still takes writes
  assert.ok(
    opLog.append(d.value, signer, hlc, clockAt(t0Ms + 5000), [
      { kind: 'counter.add', body: { name: 'c', n: 2 } },
    ]).ok,
  )
  views.rebuild(d.value)
  assert.equal(d.value.viewsProblem, undefined)
  assert.equal(views.sqlReads(d.value).counter('c')?.value, 3)
  // the rebuild's copy of the view pages was checkpointed and the WAL truncated (frames in it: 0)
  const wal = d.value.db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get() as { log: number }
  assert.equal(wal.log, 0)
  drop(d.value)
})

test('views: rule 3 displacement (an earlier op with the key arriving later) re-derives the displaced op’s entity', () => {
  // the log takes an author's ops in seq order only, so this reaches the writer directly, as a writer
  // that skipped the chain check would
  fc.assert(
    fc.property(arbOpSet(30), fc.infiniteStream(fc.nat()), (ops, picks) => {
      const s = fresh()
      try {
        const order = ops.map((e, i) => ({ e, k: picks.next().value as number, i }))
        order.sort((a, b) => a.k - b.k || a.i - b.i)
        for (const { e } of order) {
          const o = e.op
          s.st.insertOp.run(
            opLog.authorNo(s, o.author),
            o.seq,
            e.hash,
            o.hlc.wallMs,
            o.hlc.logical,
            o.kind,
            o.idempotencyKey ?? null,
            e.bytes,
            null,
          )
          opLog.transaction(s, () => viewsWrite.applyOps(s.views as viewsWrite.ViewWriter, [e]))
        }
        assert.deepEqual(views.sqlReads(s).dump(), memoryReads(ops).dump())
      } finally {
        drop(s)
      }
    }),
    { numRuns: Math.ceil(numRuns / 3) },
  )
})

test('views: two connections writing one store: each one’s cached fact views take in the other’s ops', () => {
  const arb = arbOpSet(40)
    .map(resign)
    .chain((chains) =>
      fc.tuple(fc.constant(chains), arbDelivery(chains), fc.array(fc.boolean(), { maxLength: 200 })),
    )
  fc.assert(
    fc.property(arb, ([chains, delivery, which]) => {
      const one = fresh()
      const other = opLog.open(one.path)
      assert.ok(other.ok)
      const two = other.value
      try {
        delivery.forEach((batch, i) => {
          const v = opLog.ingest(which[i] === true ? two : one, batch, ingestNowMs)
          assert.ok(v.ok || v.reason === 'duplicate' || v.reason === 'gap', v.ok ? '' : v.detail)
        })
        const all = chains.flat()
        const want = memoryReads(all).dump()
        assert.deepEqual(views.sqlReads(one).dump(), want)
        assert.deepEqual(views.sqlReads(two).dump(), want)
      } finally {
        opLog.close(two)
        drop(one)
      }
    }),
    { numRuns: Math.ceil(numRuns / 3) },
  )
})

test('views: a fact one connection cached and another wrote to since is derived with the other’s op', () => {
  const one = fresh()
  const other = opLog.open(one.path)
  assert.ok(other.ok)
  const two = other.value
  const [sa, sb] = signers as [log.Signer, log.Signer]
  const put = (signer: log.Signer, i: number, value: string, supersedes: string[], head?: log.Head) => {
    const r = log.createOps(signer.author, head, [
      {
        hlc: { wallMs: t0Ms + i * 1000, logical: 0 },
        kind: 'fact.assert',
        body: { fact_id: 'deploy.region', value, supersedes, verified: false },
      },
    ])
    assert.ok(r.ok)
    return r.value[0] as log.EncodedOp
  }
  const a1 = put(sa, 1, 'eu', [])
  const a2 = put(sa, 2, 'us', [`${sa.author}:1`], log.headOf(a1))
  const b1 = put(sb, 3, 'ap', [`${sa.author}:2`]) // the other connection's writer saw a2
  const a3 = put(sa, 4, 'sa', [`${sa.author}:2`], log.headOf(a2)) // concurrent with b1
  const send = (s: OpLog, signer: log.Signer, e: log.EncodedOp) =>
    assert.ok(opLog.ingest(s, log.signOps(signer, [e], 'batch_head'), ingestNowMs).ok)
  send(one, sa, a1)
  send(one, sa, a2) // `one` caches the fact's views
  send(two, sb, b1)
  send(one, sa, a3) // `one` must see b1, written by `two`
  const want = memoryReads([a1, a2, b1, a3]).dump()
  assert.equal(want.versions.length, 2) // b1 and a3, concurrent: a conflict
  assert.deepEqual(views.sqlReads(one).dump(), want)
  opLog.close(two)
  drop(one)
})

test('views: a rolled-back batch leaves nothing in the writer’s cached fact views', () => {
  const s = fresh()
  const signer = signers[0] as log.Signer
  const at = (i: number) => ({ wallMs: t0Ms + i * 1000, logical: 0 })
  const assertOf = (i: number, value: string, supersedes: string[]) => ({
    hlc: at(i),
    kind: 'fact.assert',
    body: { fact_id: 'deploy.region', value, supersedes, verified: false },
  })
  const first = log.createOps(signer.author, undefined, [
    assertOf(1, 'eu', []),
    assertOf(2, 'us', [`${signer.author}:1`]),
  ])
  assert.ok(first.ok)
  const [a1, a2] = first.value as [log.EncodedOp, log.EncodedOp]
  // two batches: the second touches a fact the writer has seen, so it caches the fact's views
  assert.ok(opLog.ingest(s, log.signOps(signer, [a1], 'batch_head'), ingestNowMs).ok)
  assert.ok(opLog.ingest(s, log.signOps(signer, [a2], 'batch_head'), ingestNowMs).ok)
  const head = log.headOf(a2)
  const wrong = log.createOps(signer.author, head, [assertOf(3, 'wrong', [`${signer.author}:2`])])
  const right = log.createOps(signer.author, head, [assertOf(3, 'right', [`${signer.author}:2`])])
  assert.ok(wrong.ok && right.ok)
  const w3 = wrong.value[0] as log.EncodedOp
  // op 3 reaches the views, then the transaction fails (a full disk, say) and rolls back
  assert.throws(
    () =>
      opLog.transaction(s, () => {
        const o = w3.op
        s.st.insertOp.run(opLog.authorNo(s, o.author), o.seq, w3.hash, o.hlc.wallMs, o.hlc.logical, o.kind, null, w3.bytes, null)
        viewsWrite.applyOps(s.views as viewsWrite.ViewWriter, [w3])
        throw new Error('disk full')
      }),
    /disk full/,
  )
  // the author's real op 3 (it never sent the other): the views must hold it, not the rolled-back one
  assert.ok(opLog.ingest(s, log.signOps(signer, right.value, 'batch_head'), ingestNowMs).ok)
  const all = [a1, a2, right.value[0] as log.EncodedOp]
  assert.deepEqual(views.sqlReads(s).dump(), memoryReads(all).dump())
  assert.equal(views.sqlReads(s).fact('deploy.region', { nowMs: ingestNowMs })?.value, 'right')
  drop(s)
})

test('views: stale reads are counted (hidden or shown), persisted at close, kept by a rebuild; stale entries now', () => {
  const s = fresh()
  const signer = signers[0] as log.Signer
  const hlc = core.hlc.create(signer.author)
  const entry = (value: string, ttl?: number) => ({
    kind: 'fact.assert',
    body: { value, supersedes: [], verified: false, channel: 'discoveries', ...(ttl === undefined ? {} : { ttl_seconds: ttl }) },
  })
  assert.ok(opLog.append(s, signer, hlc, clockAt(t0Ms), [entry('old cache note', 60)]).ok)
  assert.ok(opLog.append(s, signer, hlc, clockAt(t0Ms + 1000), [entry('fresh cache note')]).ok)
  assert.ok(
    opLog.append(s, signer, hlc, clockAt(t0Ms + 2000), [
      { kind: 'fact.assert', body: { fact_id: 'region', value: 'eu', supersedes: [], verified: false, ttl_seconds: 60 } },
    ]).ok,
  )
  const r = views.sqlReads(s)
  const count = () => views.metrics(s).stale_reads
  const early = t0Ms + 10_000
  const late = t0Ms + 120_000
  // nothing stale yet: no read counts
  assert.equal(r.entries({ nowMs: early, limit: 20 }).length, 2)
  assert.equal(r.fact('region', { nowMs: early })?.value, 'eu')
  assert.equal(r.search({ text: 'cache', limit: 5, nowMs: early, includeStale: true }).length, 2)
  assert.equal(count(), 0)
  assert.equal(views.metrics(s, early).stale_entries_now, 0)
  assert.equal(views.metrics(s).stale_entries_now, null)
  // later: the first entry and the fact are stale
  assert.equal(views.metrics(s, late).stale_entries_now, 1)
  assert.equal(r.entries({ nowMs: late, limit: 1 }).length, 1) // shows the fresh one; the stale one is older: not hidden
  assert.equal(count(), 0)
  assert.equal(r.entries({ nowMs: late, limit: 20 }).length, 1) // hid the stale one
  assert.equal(count(), 1)
  assert.equal(r.entries({ nowMs: late, limit: 20, channel: 'patterns' }).length, 0) // none of that channel
  assert.equal(count(), 1)
  assert.equal(r.entries({ nowMs: late, limit: 20, includeStale: true }).length, 2) // showed it
  assert.equal(count(), 2)
  assert.equal(r.fact('region', { nowMs: late }), undefined) // hid its only version
  assert.equal(count(), 3)
  assert.equal(r.fact('region', { nowMs: late, includeStale: true })?.value, 'eu') // showed it
  assert.equal(count(), 4)
  assert.equal(r.search({ text: 'fresh', limit: 5, nowMs: late }).length, 1)
  assert.equal(count(), 4)
  assert.equal(r.search({ text: 'old', limit: 5, nowMs: late, includeStale: true }).length, 1)
  assert.equal(count(), 5)
  assert.equal([...r.facts({ nowMs: late })].length, 1) // a listing counts once
  assert.equal(count(), 6)
  // written at close, read back after reopening; a rebuild keeps the count
  const path = s.path
  opLog.close(s)
  const again = opLog.open(path)
  assert.ok(again.ok)
  const s2 = again.value
  assert.equal(views.metrics(s2).stale_reads, 6)
  views.sqlReads(s2).entries({ nowMs: late, limit: 20 })
  views.rebuild(s2)
  assert.equal(views.metrics(s2).stale_reads, 7)
  // a write carries the count with it
  assert.ok(opLog.append(s2, signer, hlc, clockAt(late), [entry('another')]).ok)
  assert.equal(viewsWrite.metaValue(s2.views as viewsWrite.ViewWriter, viewsWrite.meta.staleReads), 7)
  // a close while another process holds the write lock drops the count rather than wait for the lock
  views.sqlReads(s2).entries({ nowMs: late, limit: 20 })
  const other = opLog.open(path)
  assert.ok(other.ok)
  other.value.db.exec('BEGIN IMMEDIATE')
  opLog.close(s2)
  other.value.db.exec('ROLLBACK')
  assert.equal(views.metrics(other.value).stale_reads, 7)
  drop(other.value)
})
