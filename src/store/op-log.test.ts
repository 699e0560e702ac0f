import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { DatabaseSync } from 'node:sqlite'
import * as core from '../core/index.ts'
import * as log from '../log/index.ts'
import { testSigner } from '../log/log.test-util.ts'
import * as opLog from './op-log.ts'

const dir = mkdtempSync(join(tmpdir(), 'grapevine-store-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const fresh = (): string => join(dir, `s${n++}.db`)

function openOk(path: string): opLog.OpLog {
  const r = opLog.open(path)
  assert.ok(r.ok, r.ok ? '' : r.detail)
  return r.value
}

const t0 = 1_700_000_000_000
const intent = (i: number, key?: string): opLog.Intent => ({
  kind: 'fact.assert',
  body: { fact_id: `f${i}`, value: `v${i}` },
  idempotencyKey: key,
})

test('store: a new file gets the schema and format version; reopening keeps what was written', () => {
  const path = fresh()
  const s = openOk(path)
  const signer = testSigner(0)
  const clock = core.clock.createManualClock(t0)
  const r = opLog.append(s, signer, core.hlc.create(signer.author), clock, [intent(1), intent(2)])
  assert.ok(r.ok)
  assert.deepEqual(r.value.written, [true, true])
  assert.deepEqual(
    r.value.ops.map((e) => e.op.seq),
    [1, 2],
  )
  opLog.close(s)
  const again = openOk(path)
  assert.equal(opLog.head(again, signer.author)?.seq, 2)
  assert.equal(opLog.versionVector(again).get(signer.author), 2)
  assert.deepEqual(opLog.integrityCheck(again), ['ok'])
  opLog.close(again)
})

test('store: a newer format is refused and left untouched; a file that is not a store is reported, not thrown', () => {
  const path = fresh()
  const db = new DatabaseSync(path)
  db.exec('CREATE TABLE x (a); PRAGMA user_version = 7')
  db.close()
  const before = readFileSync(path)
  const r = opLog.open(path)
  assert.ok(!r.ok && r.reason === 'newer_format' && /format 7/.test(r.detail), JSON.stringify(r))
  assert.deepEqual(readFileSync(path), before)

  const junk = fresh()
  writeFileSync(junk, Buffer.from('this is not a database, just some bytes in a file '.repeat(100)))
  const j = opLog.open(junk)
  assert.ok(!j.ok && j.reason === 'corrupt', JSON.stringify(j))

  const foreign = fresh()
  const f = new DatabaseSync(foreign)
  f.exec('CREATE TABLE notes (text TEXT)')
  f.close()
  const g = opLog.open(foreign)
  assert.ok(!g.ok && g.reason === 'corrupt' && /no Grapevine format version/.test(g.detail), JSON.stringify(g))
})

test('store: appends chain and sign correctly, so another store ingests them; its clock never runs backwards', () => {
  const a = openOk(fresh())
  const b = openOk(fresh())
  const signer = testSigner(1)
  const clock = core.clock.createManualClock(t0)
  const h = core.hlc.create(signer.author)
  const first = opLog.append(a, signer, h, clock, [intent(1), intent(2), intent(3)])
  clock.set(t0 - 60_000) // the wall clock jumps back a minute
  const second = opLog.append(a, signer, core.hlc.create(signer.author), clock, [intent(4)]) // a fresh process: new HLC state
  assert.ok(first.ok && second.ok)
  const all = opLog.opsAfter(a, signer.author, 0, 100)
  assert.deepEqual(
    all.map((e) => e.op.seq),
    [1, 2, 3, 4],
  )
  for (let i = 1; i < all.length; i++) assert.ok(log.compareTime(all[i - 1]!.op.hlc, all[i]!.op.hlc) < 0, 'HLC went backwards')
  const v = opLog.ingest(b, all, t0)
  assert.ok(v.ok, v.ok ? '' : v.detail)
  assert.equal(opLog.head(b, signer.author)?.seq, 4)
  const dup = opLog.ingest(b, all.slice(0, 3), t0)
  assert.ok(!dup.ok && dup.reason === 'duplicate')
  assert.equal(opLog.opCount(b), 4)
})

test('store: an idempotency key writes once and returns the first op on every retry', () => {
  const s = openOk(fresh())
  const signer = testSigner(2)
  const clock = core.clock.createManualClock(t0)
  const h = core.hlc.create(signer.author)
  const one = opLog.append(s, signer, h, clock, [intent(1, 'k')])
  const two = opLog.append(s, signer, h, clock, [intent(9, 'k'), intent(2)])
  assert.ok(one.ok && two.ok)
  assert.deepEqual(two.value.written, [false, true])
  assert.deepEqual(two.value.ops[0]!.hash, one.value.ops[0]!.hash)
  assert.equal(two.value.ops[1]!.op.seq, 2)
  assert.equal(opLog.opCount(s), 2)
  const twice = opLog.append(s, signer, h, clock, [intent(3, 'z'), intent(4, 'z')])
  assert.ok(!twice.ok && /twice/.test(twice.detail))
  assert.equal(opLog.opCount(s), 2, 'a refused append writes nothing')
})

test('store: a gap is refused, and a fork is refused and kept as evidence', () => {
  const s = openOk(fresh())
  const signer = testSigner(3)
  const draft = (i: number, body: core.Json): log.Draft => ({ hlc: { wallMs: t0 + i, logical: 0 }, kind: 'fact.assert', body })
  const created = log.createOps(signer.author, undefined, [draft(0, 0), draft(1, 1), draft(2, 2)])
  assert.ok(created.ok)
  const chain = log.signOps(signer, created.value, 'per_op') // every op signed, so any prefix is a batch
  const gap = opLog.ingest(s, chain.slice(1), t0)
  assert.ok(!gap.ok && gap.reason === 'gap')
  assert.ok(opLog.ingest(s, chain.slice(0, 2), t0).ok)
  // the same key signs a different op 2: a copied key
  const evil = log.createOps(signer.author, log.headOf(chain[0]!), [draft(5, 'evil')])
  assert.ok(evil.ok)
  const other = log.signOps(signer, evil.value)
  const fork = opLog.ingest(s, other, t0)
  assert.ok(!fork.ok && fork.reason === 'fork', JSON.stringify(fork))
  const evidence = opLog.forks(s)
  assert.equal(evidence.length, 1)
  assert.equal(evidence[0]!.seq, 2)
  assert.equal(opLog.head(s, signer.author)?.seq, 2, 'the held history stays')
})

test('store: a peer chain that reuses an idempotency key is stored whole (the chain needs every op)', () => {
  const s = openOk(fresh())
  const signer = testSigner(4)
  const draft = (i: number): log.Draft => ({ hlc: { wallMs: t0 + i, logical: 0 }, kind: 'fact.assert', body: i, idempotencyKey: 'same' })
  const created = log.createOps(signer.author, undefined, [draft(0), draft(1), draft(2)])
  assert.ok(created.ok)
  const v = opLog.ingest(s, log.signOps(signer, created.value), t0)
  assert.ok(v.ok, v.ok ? '' : v.detail)
  assert.equal(opLog.head(s, signer.author)?.seq, 3)
  // a local retry with that key returns the first op
  const again = opLog.append(s, signer, core.hlc.create(signer.author), core.clock.createManualClock(t0 + 10), [intent(7, 'same')])
  assert.ok(again.ok && again.value.written[0] === false && again.value.ops[0]!.op.seq === 1)
})

/** An author's ops cut into signed batches of `size` (batch_head: only each batch's last op is signed). */
function signedBatches(i: number, count: number, size: number): log.SignedOp[][] {
  const signer = testSigner(i)
  const drafts = Array.from({ length: count }, (_, k): log.Draft => ({
    hlc: { wallMs: t0 + k, logical: 0 },
    kind: 'fact.assert',
    body: { fact_id: `a${i}-${k}`, value: `v${k}`, supersedes: [], verified: false },
  }))
  const created = log.createOps(signer.author, undefined, drafts)
  assert.ok(created.ok)
  const out: log.SignedOp[][] = []
  for (let k = 0; k < count; k += size) out.push(log.signOps(signer, created.value.slice(k, k + size)))
  return out
}

const viewRows = (s: opLog.OpLog): number[] =>
  ['versions', 'op_entity', 'entities'].map((t) => (s.db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n)

test('store: ingestMany stores a message of batches in one transaction; a bad batch in the middle is refused alone', () => {
  const [a1, a2] = signedBatches(20, 6, 3) as [log.SignedOp[], log.SignedOp[]]
  const [b1, b2] = signedBatches(21, 4, 2) as [log.SignedOp[], log.SignedOp[]]
  const [c1] = signedBatches(22, 2, 2) as [log.SignedOp[]]
  const last = b1[b1.length - 1]!
  const badB1 = [...b1.slice(0, -1), { ...last, sig: new Uint8Array(64) }] // a signature that does not verify
  const message = [a1, badB1, a2, c1, b2]
  const group = openOk(fresh())
  const rs = opLog.ingestMany(group, message, t0)
  assert.deepEqual(
    rs.map((r) => (r.ok ? 'ok' : r.reason)),
    ['ok', 'bad_signature', 'ok', 'ok', 'gap'],
  )
  assert.equal(opLog.head(group, a1[0]!.op.author)?.seq, 6)
  assert.equal(opLog.head(group, b1[0]!.op.author), undefined, 'nothing of the refused author went in')
  assert.equal(opLog.head(group, c1[0]!.op.author)?.seq, 2)
  // the same as one ingest per batch, views included
  const single = openOk(fresh())
  assert.deepEqual(
    message.map((b) => opLog.ingest(single, b, t0)).map((r) => (r.ok ? 'ok' : r.reason)),
    rs.map((r) => (r.ok ? 'ok' : r.reason)),
  )
  assert.equal(opLog.opCount(group), 8)
  assert.deepEqual(viewRows(group), viewRows(single))
  assert.ok(viewRows(group)[0]! > 0)
  // a message that repeats what is held: duplicates, counted as ingest counts them
  const again = opLog.ingestMany(group, [a1, c1], t0)
  assert.deepEqual(
    again.map((r) => (r.ok ? 'ok' : r.reason)),
    ['duplicate', 'duplicate'],
  )
  assert.deepEqual(opLog.integrityCheck(group), ['ok'])
})

test('store: a storage failure inside ingestMany rolls the group back and ingests batch by batch, as ingest would', () => {
  const as = signedBatches(23, 6, 2)
  const [c1] = signedBatches(24, 2, 2) as [log.SignedOp[]]
  const message = [as[0]!, as[1]!, c1, as[2]!]
  const s = openOk(fresh())
  // the disk "fails" on the author's op 3 (the second batch), whichever transaction writes it
  s.db.exec("CREATE TEMP TRIGGER fail_op3 BEFORE INSERT ON ops WHEN NEW.seq = 3 BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END")
  const rs = opLog.ingestMany(s, message, t0)
  assert.deepEqual(
    rs.map((r) => (r.ok ? 'ok' : r.reason)),
    ['ok', 'storage', 'ok', 'gap'],
  )
  assert.match((rs[1] as { detail: string }).detail, /simulated/)
  assert.equal(opLog.head(s, as[0]![0]!.op.author)?.seq, 2, 'the batch before the failure is stored')
  assert.equal(opLog.head(s, c1[0]!.op.author)?.seq, 2, 'another author\'s batch after it too')
  assert.equal(opLog.opCount(s), 4)
  s.db.exec('DROP TRIGGER fail_op3')
  const rest = opLog.ingestMany(s, as.slice(1), t0)
  assert.ok(rest.every((r) => r.ok))
  assert.equal(opLog.head(s, as[0]![0]!.op.author)?.seq, 6)
  assert.deepEqual(opLog.integrityCheck(s), ['ok'])
})

/** An author's channel entries (searchable text, some words repeated), cut into signed batches of `size`. */
function entryBatches(i: number, count: number, size: number): log.SignedOp[][] {
  const signer = testSigner(i)
  const words = ['cache', 'retry', 'timeout', 'lock', 'deploy', 'token', 'quota', 'index']
  const drafts = Array.from({ length: count }, (_, k): log.Draft => ({
    hlc: { wallMs: t0 + k, logical: 0 },
    kind: 'fact.assert',
    body: {
      value: `${words[(i + k) % 8]} ${words[(k * 3) % 8]} then ${words[(i + k) % 8]} again, entry ${i}-${k}`,
      supersedes: [],
      verified: false,
      channel: 'discoveries',
      tags: [`t${k % 3}`],
    },
    // every 5th entry rewrites the author's keyed entry: its old version leaves the index
    idempotencyKey: k % 5 === 0 ? `key-${k % 2}` : undefined,
  }))
  const created = log.createOps(signer.author, undefined, drafts)
  assert.ok(created.ok)
  const out: log.SignedOp[][] = []
  for (let k = 0; k < count; k += size) out.push(log.signOps(signer, created.value.slice(k, k + size)))
  return out
}

/** The search index as rows: vocabulary (term, docs, hits), the repeated-term rows, the term counts. */
function searchIndex(s: opLog.OpLog): unknown[] {
  s.db.exec("INSERT INTO versions_fts (versions_fts) VALUES ('integrity-check')")
  return [
    s.db.prepare('SELECT term, doc, cnt FROM versions_fts_terms ORDER BY term').all(),
    s.db.prepare('SELECT term, sk, tf FROM search_reps ORDER BY term, sk').all(),
    s.db.prepare("SELECT rowid FROM versions_fts WHERE versions_fts MATCH 'retry' ORDER BY rowid").all(),
  ]
}

test('store: a group commit queues its batches\' search rows and inserts them at its end: the index of one ingest per batch', () => {
  // interleaved authors, as a message carries them: each batch's search keys start below the last one's
  const perAuthor = [30, 31, 32].map((i) => entryBatches(i, 40, 8))
  const message: log.SignedOp[][] = []
  for (let k = 0; k < 5; k++) for (const b of perAuthor) message.push(b[k]!)
  const group = openOk(fresh())
  assert.ok(opLog.ingestMany(group, message, t0).every((r) => r.ok))
  const single = openOk(fresh())
  for (const b of message) assert.ok(opLog.ingest(single, b, t0).ok)
  const want = searchIndex(single)
  assert.ok((want[0] as unknown[]).length > 10 && (want[1] as unknown[]).length > 10 && (want[2] as unknown[]).length > 10)
  assert.deepEqual(searchIndex(group), want)
  // a group that rolls back leaves nothing queued behind: its batches go in one by one, as ingest would
  const more = [33, 34].map((i) => entryBatches(i, 16, 8))
  const failing = openOk(fresh())
  const again = openOk(fresh())
  for (const s of [failing, again]) assert.ok(opLog.ingestMany(s, message, t0).every((r) => r.ok))
  const victim = more[0]![0]![0]!.op.author
  failing.db.exec(
    `CREATE TEMP TRIGGER fail_late BEFORE INSERT ON ops WHEN NEW.seq = 12 AND NEW.author = (SELECT no FROM authors WHERE author = '${victim}') ` +
      "BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END",
  )
  const rs = opLog.ingestMany(failing, [more[0]![0]!, more[1]![0]!, more[0]![1]!, more[1]![1]!], t0)
  assert.deepEqual(rs.map((r) => (r.ok ? 'ok' : r.reason)), ['ok', 'ok', 'storage', 'ok'])
  for (const b of [more[0]![0]!, more[1]![0]!, more[1]![1]!]) assert.ok(opLog.ingest(again, b, t0).ok)
  assert.deepEqual(searchIndex(failing), searchIndex(again))
  assert.deepEqual(opLog.integrityCheck(failing), ['ok'])
})
