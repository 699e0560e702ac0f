import assert from 'node:assert/strict'
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import fc from 'fast-check'
import * as log from '../log/index.ts'
import type { SignedOp } from '../log/index.ts'
import { arbOp, signedChain, testSigner } from '../log/log.test-util.ts'
import * as folder from './folder.ts'

const root = mkdtempSync(join(tmpdir(), 'gv-folder-'))
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0
const freshDir = () => {
  const d = join(root, `f${n++}`)
  mkdirSync(d)
  return d
}

const day = 86_400_000

/** A signed chain whose ops are `stepMs` apart (so they fall into several day files). */
function chain(i: number, count: number, stepMs: number): SignedOp[] {
  const signer = testSigner(i)
  const created = log.createOps(
    signer.author,
    undefined,
    Array.from({ length: count }, (_, k) => ({ hlc: { wallMs: 1_790_000_000_000 + k * stepMs, logical: 0 }, kind: 'fact.assert', body: { fact_id: `f${k}`, value: `v${k}`, channel: 'discoveries' } })),
  )
  if (!created.ok) throw new Error(created.detail)
  return log.signOps(signer, created.value)
}

describe('folder lines', () => {
  it('round-trips every valid op byte for byte (the hash matches, the signature is kept)', () => {
    fc.assert(
      fc.property(arbOp, (op) => {
        const e = log.createOp(op)
        if (!e.ok) return
        const line = folder.encodeLine({ ...e.value, sig: new Uint8Array(64).fill(7) })
        assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'))
        const d = folder.decodeLine(line.slice(0, -1))
        assert.ok(d.ok, d.ok ? '' : d.detail)
        assert.deepEqual(d.value.bytes, e.value.bytes)
        assert.deepEqual(d.value.sig, new Uint8Array(64).fill(7))
      }),
      { numRuns: 300 },
    )
  })

  it('refuses an altered line (hash_mismatch), a line that is not JSON, and bad fields', () => {
    const [e] = signedChain(testSigner(0), 1)
    const line = folder.encodeLine(e as SignedOp).slice(0, -1)
    const altered = line.replace('Convex', 'Konvex')
    const r1 = folder.decodeLine(altered)
    assert.equal(r1.ok ? 'ok' : r1.reason, 'hash_mismatch')
    const r2 = folder.decodeLine(line.slice(0, 20))
    assert.equal(r2.ok ? 'ok' : r2.reason, 'not_json')
    const r3 = folder.decodeLine(line.replace('"seq":1', '"seq":-1'))
    assert.equal(r3.ok ? 'ok' : r3.reason, 'malformed')
    const r4 = folder.decodeLine('[1,2]')
    assert.equal(r4.ok ? 'ok' : r4.reason, 'not_json')
  })
})

describe('folder scan', () => {
  it('writes one file per UTC day and reads back exactly the ops, in order; a second scan from the offsets finds nothing', () => {
    const dir = freshDir()
    const ops = chain(0, 30, day / 4)
    const author = (ops[0] as SignedOp).op.author
    folder.appendOps(dir, author, ops)
    assert.equal(readdirSync(join(dir, author)).length, 8)
    const s = folder.scanFolder(dir, {})
    assert.deepEqual(s.problems, [])
    assert.deepEqual(s.ops.get(author)?.map((x) => log.toHex(x.op.hash)), ops.map((e) => log.toHex(e.hash)))
    assert.deepEqual(s.ops.get(author)?.map((x) => x.op.sig !== undefined), ops.map((e) => e.sig !== undefined))
    const offsets = Object.fromEntries(s.files.map((f) => [f.file, f.to]))
    const again = folder.scanFolder(dir, offsets)
    assert.equal(again.ops.size, 0)
    const w = folder.writtenSeq(dir, author)
    assert.ok(w.ok && w.value === 30)
  })

  it('skips a truncated last line silently until it is complete, then reads it', () => {
    const dir = freshDir()
    const ops = chain(1, 3, 1)
    const author = (ops[0] as SignedOp).op.author
    folder.appendOps(dir, author, ops.slice(0, 2))
    const file = join(dir, author, readdirSync(join(dir, author))[0] as string)
    const third = folder.encodeLine(ops[2] as SignedOp)
    appendFileSync(file, third.slice(0, 40))
    const s = folder.scanFolder(dir, {})
    assert.deepEqual(s.problems, [])
    assert.equal(s.ops.get(author)?.length, 2)
    const offsets = Object.fromEntries(s.files.map((f) => [f.file, f.to]))
    appendFileSync(file, third.slice(40))
    const s2 = folder.scanFolder(dir, offsets)
    assert.deepEqual(s2.problems, [])
    assert.deepEqual(s2.ops.get(author)?.map((x) => [x.op.op.seq, x.line]), [[3, 3]])
  })

  it('the writer cuts off its own partial line (a crash mid-append) before appending again', () => {
    const dir = freshDir()
    const ops = chain(2, 3, 1)
    const author = (ops[0] as SignedOp).op.author
    folder.appendOps(dir, author, ops.slice(0, 2))
    const file = join(dir, author, readdirSync(join(dir, author))[0] as string)
    appendFileSync(file, folder.encodeLine(ops[2] as SignedOp).slice(0, 55))
    const w = folder.writtenSeq(dir, author)
    assert.ok(w.ok && w.value === 2)
    folder.appendOps(dir, author, ops.slice(2))
    const s = folder.scanFolder(dir, {})
    assert.deepEqual(s.problems, [])
    assert.deepEqual(s.ops.get(author)?.map((x) => x.op.op.seq), [1, 2, 3])
  })

  it('reports bad lines with file and line and reads the rest: not JSON, altered, another author in the folder, a file that shrank', () => {
    const dir = freshDir()
    const a = chain(3, 4, 1)
    const b = chain(4, 1, 1)
    const author = (a[0] as SignedOp).op.author
    folder.appendOps(dir, author, a.slice(0, 2))
    const name = readdirSync(join(dir, author))[0] as string
    const file = join(dir, author, name)
    appendFileSync(file, 'this is not json\n')
    appendFileSync(file, folder.encodeLine(b[0] as SignedOp)) // someone else's op in this folder
    appendFileSync(file, folder.encodeLine(a[2] as SignedOp).replace('"v2"', '"v2!"'))
    appendFileSync(file, folder.encodeLine(a[3] as SignedOp))
    const s = folder.scanFolder(dir, {})
    const rel = `${author}/${name}`
    assert.deepEqual(s.problems.map((p) => [p.file, p.line, p.reason]), [
      [rel, 3, 'not_json'],
      [rel, 4, 'wrong_folder'],
      [rel, 5, 'hash_mismatch'],
    ])
    assert.deepEqual(s.ops.get(author)?.map((x) => [x.op.op.seq, x.line]), [[1, 1], [2, 2], [4, 6]])
    const offsets = Object.fromEntries(s.files.map((f) => [f.file, f.to]))
    truncateSync(file, 10)
    const s2 = folder.scanFolder(dir, offsets)
    assert.deepEqual(s2.problems.map((p) => [p.file, p.reason]), [[rel, 'shrank']])
  })

  it('packs a month into one file with a checksum: the same ops, and an altered pack is refused', () => {
    const dir = freshDir()
    const ops = chain(5, 60, day) // two months of daily ops
    const author = (ops[0] as SignedOp).op.author
    folder.appendOps(dir, author, ops)
    const before = folder.scanFolder(dir, {})
    const days = readdirSync(join(dir, author)).sort()
    const firstMonth = (days[0] as string).slice(0, 7)
    const lastMonth = (days[days.length - 1] as string).slice(0, 7)
    const p = folder.packMonths(dir, author, lastMonth)
    assert.ok(p.ok)
    assert.ok(p.value.months.includes(firstMonth) && !p.value.months.includes(lastMonth))
    const files = readdirSync(join(dir, author)).sort()
    assert.ok(files.includes(`${firstMonth}.pack.jsonl`))
    assert.ok(files.length < days.length)
    const after = folder.scanFolder(dir, {})
    assert.deepEqual(after.problems, [])
    const hashes = (r: folder.ScanResult) => r.ops.get(author)?.map((x) => log.toHex(x.op.hash) + (x.op.sig === undefined ? '' : log.toHex(x.op.sig)))
    assert.deepEqual(hashes(after), hashes(before))
    const w = folder.writtenSeq(dir, author)
    assert.ok(w.ok && w.value === 60)
    // a pack still being copied (no trailer yet, even cut at a line's end) waits silently
    const packPath = join(dir, author, `${firstMonth}.pack.jsonl`)
    const whole = readFileSync(packPath, 'utf8')
    const cut = whole.slice(0, whole.lastIndexOf('\n', whole.length - 2) + 1)
    writeFileSync(packPath, cut)
    const copying = folder.scanFolder(dir, {})
    assert.deepEqual(copying.problems, [])
    assert.equal(copying.ops.get(author)?.[0]?.op.op.seq, whole.split('\n').filter((x) => x !== '').length, 'the ops after the waiting pack are read (its ops, then its trailer: the next seq)')
    writeFileSync(packPath, whole)
    // an altered pack: reported whole, none of its lines taken
    const pack = join(dir, author, `${firstMonth}.pack.jsonl`)
    writeFileSync(pack, readFileSync(pack, 'utf8').replace('"v0"', '"v0!"'))
    const bad = folder.scanFolder(dir, {})
    assert.deepEqual(bad.problems.map((x) => [x.file, x.reason]), [[`${author}/${firstMonth}.pack.jsonl`, 'bad_pack']])
    assert.ok((bad.ops.get(author)?.length ?? 0) < 60)
  })
})
