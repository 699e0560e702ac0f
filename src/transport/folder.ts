/**
 * The shared-folder transport (design.md section 7; docs/FORMAT.md section 8 explains the format): each
 * node appends its own ops to `<dir>/<author>/<yyyy-mm-dd>.jsonl` (the UTC day of the op's HLC time), one
 * op per line, human-readable JSON. One writer per file, lines only ever appended, so git, Syncthing,
 * Dropbox or NFS can carry the folder and never see a conflict. Old days may be packed into
 * `<dir>/<author>/<yyyy-mm>.pack.jsonl`: the same lines, in order, and a last line with their checksum.
 * A node that got an author's ops by gossip may relay them into `<dir>/<author>/<day>.via-<node>.jsonl`
 * (its own file there: still one writer per file).
 *
 * This file is bytes and files only: encoding and decoding lines, reading the new complete lines of a
 * folder since remembered offsets, appending, packing. What to ingest (the store's heads, signatures,
 * gaps) is src/node/folder-sync.ts's. No clock is read here: nothing in the format depends on time
 * beyond the ops' own HLC.
 *
 * A line is valid (the reader checks, in this order; a failure is a Problem with file and line, and the
 * line is skipped):
 *   (1) it is complete: it ends with a newline. The last line of a file without one is a write in
 *       progress (a sync tool caught mid-copy): left for later, never reported;
 *   (2) it is at most lineBytesMax bytes and parses as a JSON object (`not_json`);
 *   (3) its fields have their types and the op they make is well-formed (`malformed`);
 *   (4) the op's canonical bytes hash to the line's `hash`: the line is exactly the signed op, byte for
 *       byte (`hash_mismatch`);
 *   (5) its author is the author whose folder holds the file (`wrong_folder`).
 * A file whose size is below the offset already read has shrunk (`shrank`): reported, and read again
 * from its start (the ops it still holds are recognised as duplicates downstream). A pack whose
 * checksum line does not match its lines is `bad_pack`, and none of its lines are read; one without its
 * checksum line is still being copied, and waits.
 */
import { createHash } from 'node:crypto'
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import * as core from '../core/index.ts'
import type { Json, Result } from '../core/index.ts'
import * as log from '../log/index.ts'
import type { AuthorId, SignedOp } from '../log/index.ts'

/** A line longer than this is refused before it is parsed (an op is at most ~66 KB; JSON escapes grow it). */
export const lineBytesMax = 1024 * 1024

/** The file of one UTC day of an author's ops. */
export const dayFilePattern = /^(\d{4})-(\d{2})-(\d{2})\.jsonl$/
/** A month of an author's ops, packed. */
export const packFilePattern = /^(\d{4})-(\d{2})\.pack\.jsonl$/
/**
 * A day of an author's ops relayed by another node (the first 16 hex characters of its key): a node that
 * gets ops by gossip writes them here for the folder's other readers. Its only writer is the relay.
 */
export const relayFilePattern = /^(\d{4})-(\d{2})-(\d{2})\.via-([0-9a-f]{16})\.jsonl$/

/** The relay's file name of a day: `<yyyy-mm-dd>.via-<first 16 hex of its key>.jsonl`. */
export function relayFileName(day: string, via: AuthorId): string {
  return `${day}.via-${via.slice(0, 16)}.jsonl`
}

// ---- one line

/** The UTC day (yyyy-mm-dd) of a wall time in ms. */
export function dayOf(wallMs: number): string {
  // beyond year 9999 (a clock no receiver accepts, rule 14) a day name would not sort: the last day holds it
  return wallMs < dateMsMax ? new Date(wallMs).toISOString().slice(0, 10) : '9999-12-31'
}

/** 10000-01-01T00:00:00Z: the first time without a four-digit year. */
const dateMsMax = 253_402_300_800_000

/**
 * An op as one line of JSON (with its newline). Fields in a fixed order for readers: author, seq, prev
 * (absent for seq 1), wall_ms, logical, time (the ISO form of wall_ms, for people; not read back), kind,
 * body, key (the idempotency key, if any), hash (SHA-256 of the canonical bytes), sig (if the op carries
 * the signature of its batch).
 */
export function encodeLine(e: SignedOp): string {
  const o = e.op
  const doc: Record<string, Json> = { author: o.author, seq: o.seq }
  if (o.prev !== undefined) doc['prev'] = log.toHex(o.prev)
  doc['wall_ms'] = o.hlc.wallMs
  doc['logical'] = o.hlc.logical
  if (o.hlc.wallMs < dateMsMax) doc['time'] = new Date(o.hlc.wallMs).toISOString()
  doc['kind'] = o.kind
  doc['body'] = o.body
  if (o.idempotencyKey !== undefined) doc['key'] = o.idempotencyKey
  doc['hash'] = log.toHex(e.hash)
  if (e.sig !== undefined) doc['sig'] = log.toHex(e.sig)
  return JSON.stringify(doc) + '\n'
}

export type LineFailure = 'not_json' | 'malformed' | 'hash_mismatch'

const hexPattern = /^[0-9a-f]*$/

function hexBytes(v: unknown, bytes: number, field: string): Result<Uint8Array, 'malformed'> {
  if (typeof v !== 'string' || v.length !== bytes * 2 || !hexPattern.test(v))
    return core.fail('malformed', `${field} must be ${bytes * 2} lowercase hex characters`)
  return core.ok(Uint8Array.from(Buffer.from(v, 'hex')))
}

function natural(v: unknown, field: string): Result<number, 'malformed'> {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return core.fail('malformed', `${field} must be a whole number`)
  return core.ok(v)
}

/** One line (without its newline) back to the signed op it was written from: rules (2)-(4). Never throws. */
export function decodeLine(text: string): Result<SignedOp, LineFailure> {
  if (text.length > lineBytesMax) return core.fail('not_json', `the line is over ${lineBytesMax} characters`)
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (e) {
    return core.fail('not_json', `not JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return core.fail('not_json', 'a line must be a JSON object')
  const d = doc as Record<string, unknown>
  const author = log.parseAuthorId(d['author'])
  if (!author.ok) return core.fail('malformed', 'author must be 64 lowercase hex characters')
  const seq = natural(d['seq'], 'seq')
  if (!seq.ok) return seq
  let prev: Uint8Array | undefined
  if (d['prev'] !== undefined) {
    const p = hexBytes(d['prev'], log.hashLength, 'prev')
    if (!p.ok) return p
    prev = p.value
  }
  const wallMs = natural(d['wall_ms'], 'wall_ms')
  if (!wallMs.ok) return wallMs
  const logical = natural(d['logical'], 'logical')
  if (!logical.ok) return logical
  if (typeof d['kind'] !== 'string') return core.fail('malformed', 'kind must be a string')
  const body = d['body']
  if (body === undefined || !core.json.isJson(body)) return core.fail('malformed', 'body must be a JSON value')
  const key = d['key']
  if (key !== undefined && (typeof key !== 'string' || key === '')) return core.fail('malformed', 'key must be a non-empty string')
  const hash = hexBytes(d['hash'], log.hashLength, 'hash')
  if (!hash.ok) return hash
  let sig: Uint8Array | undefined
  if (d['sig'] !== undefined) {
    const s = hexBytes(d['sig'], log.signatureLength, 'sig')
    if (!s.ok) return s
    sig = s.value
  }
  const made = log.createOp({
    author: author.value,
    seq: seq.value,
    prev,
    hlc: { wallMs: wallMs.value, logical: logical.value },
    kind: d['kind'],
    body,
    idempotencyKey: key,
  })
  if (!made.ok) return core.fail('malformed', made.detail)
  // the decoders' rules too (prev present exactly when seq > 1, seq >= 1, the limits): createOp encodes
  // whatever it is given, so decode its bytes back as a receiver of the wire form would
  const again = log.decodeOp(made.value.bytes)
  if (!again.ok) return core.fail('malformed', again.detail)
  if (!bytesEqual(made.value.hash, hash.value))
    return core.fail('hash_mismatch', `the op's canonical bytes hash to ${log.toHex(made.value.hash)}, not the line's ${log.toHex(hash.value)}: the line was altered`)
  return core.ok(sig === undefined ? made.value : { ...made.value, sig })
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

// ---- reading a folder

/** A file's read position: the bytes and lines already taken (complete lines only). */
export type FileOffset = { readonly offset: number; readonly line: number }

/** Per file (its path relative to the folder, `author/name`), how far it was read. */
export type Offsets = Record<string, FileOffset>

export type ProblemReason = LineFailure | 'wrong_folder' | 'shrank' | 'bad_pack' | 'unreadable'

/** Bad input found in the folder: where, and why. `line` counts from 1; 0 names the whole file. */
export type Problem = { readonly file: string; readonly line: number; readonly reason: string; readonly detail: string }

/** A good line: its op and where it is. */
export type ShardOp = {
  readonly op: SignedOp
  readonly file: string
  readonly line: number
  /** Byte offsets of the line in its file: [start, end), the newline included. */
  readonly start: number
  readonly end: number
}

/** What one scan found in one file. */
export type FileScan = {
  readonly file: string
  readonly author: AuthorId
  readonly pack: boolean
  /** Where this scan started, and where its complete lines end (the next scan starts there if all is taken). */
  readonly from: FileOffset
  readonly to: FileOffset
}

export type ScanResult = {
  /** The new good lines, per author, in the order of its files (packs by month, then days) and lines. */
  readonly ops: Map<AuthorId, ShardOp[]>
  readonly problems: Problem[]
  readonly files: FileScan[]
}

/** The shard files of one author's folder, in order: packs by month, then days. */
export function authorFiles(dir: string, author: string): string[] {
  let names: string[]
  try {
    names = readdirSync(join(dir, author))
  } catch {
    return []
  }
  const packs = names.filter((n) => packFilePattern.test(n)).sort()
  const days = names.filter((n) => dayFilePattern.test(n) || relayFilePattern.test(n)).sort()
  return [...packs, ...days]
}

/** The files the author itself writes (packs, then days): what writtenSeq and packMonths look at. */
function ownFiles(dir: string, author: string): string[] {
  return authorFiles(dir, author).filter((n) => !relayFilePattern.test(n))
}

/** The author folders of a shared folder (names that are author ids; anything else is not ours). */
export function authorDirs(dir: string): AuthorId[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const out: AuthorId[] = []
  for (const n of names.sort()) {
    const a = log.parseAuthorId(n)
    if (a.ok) out.push(a.value)
  }
  return out
}

function readRange(path: string, from: number, to: number): Buffer {
  const fd = openSync(path, 'r')
  try {
    const buf = Buffer.alloc(to - from)
    let got = 0
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, from + got)
      if (n === 0) break
      got += n
    }
    return got === buf.length ? buf : buf.subarray(0, got)
  } finally {
    closeSync(fd)
  }
}

/** The complete lines of buf (each with the byte offsets of its start and end, the newline included). */
function completeLines(buf: Buffer, base: number): { text: string; start: number; end: number }[] {
  const out: { text: string; start: number; end: number }[] = []
  let s = 0
  for (;;) {
    const nl = buf.indexOf(10, s)
    if (nl < 0) break
    let e = nl
    if (e > s && buf[e - 1] === 13) e-- // a CRLF line (an editor or a checkout changed the ending)
    out.push({ text: buf.toString('utf8', s, e), start: base + s, end: base + nl + 1 })
    s = nl + 1
  }
  return out
}

/** The trailer (last line) of a pack: what it holds and the SHA-256 of every byte before it. */
export type PackTrailer = { readonly pack: 1; readonly month: string; readonly ops: number; readonly sha256: string }

function parseTrailer(text: string): PackTrailer | undefined {
  try {
    const d = JSON.parse(text) as Record<string, unknown>
    if (d['pack'] === 1 && typeof d['sha256'] === 'string' && typeof d['ops'] === 'number' && typeof d['month'] === 'string')
      return d as PackTrailer
  } catch {
    // reason: not a trailer: the caller reports the pack as bad
  }
  return undefined
}

/**
 * Reads the complete lines added to every shard file since `offsets`: never more than what the files
 * hold now, never a line twice unless a file shrank. Problems are reported, never thrown; a file that
 * cannot be read is one Problem and the rest of the folder is read.
 */
export function scanFolder(dir: string, offsets: Offsets): ScanResult {
  const ops = new Map<AuthorId, ShardOp[]>()
  const problems: Problem[] = []
  const files: FileScan[] = []
  for (const author of authorDirs(dir)) {
    const list: ShardOp[] = []
    for (const name of authorFiles(dir, author)) {
      const file = `${author}/${name}`
      const path = join(dir, author, name)
      const pack = packFilePattern.test(name)
      let from = offsets[file] ?? { offset: 0, line: 0 }
      try {
        const size = statSync(path).size
        if (size < from.offset) {
          problems.push({ file, line: 0, reason: 'shrank', detail: `the file shrank from ${from.offset} to ${size} bytes (lines are only ever appended): read again from its start` })
          from = { offset: 0, line: 0 }
        }
        if (size === from.offset) {
          files.push({ file, author, pack, from, to: from })
          continue
        }
        if (pack && from.offset > 0) {
          // a pack is written once, whole; one that grew was replaced: read it again
          from = { offset: 0, line: 0 }
        }
        const buf = readRange(path, from.offset, size)
        const lines = completeLines(buf, from.offset)
        if (pack) {
          const r = readPack(file, lines, buf)
          if (r === 'incomplete') {
            files.push({ file, author, pack, from, to: from })
            continue
          }
          if (!r.ok) {
            problems.push({ file, line: 0, reason: 'bad_pack', detail: r.detail })
            const last = lines[lines.length - 1]
            files.push({ file, author, pack, from, to: { offset: last?.end ?? from.offset, line: from.line + lines.length } })
            continue
          }
          lines.pop() // the trailer
        }
        let n = from.line
        for (const l of lines) {
          n++
          if (l.text.trim() === '') continue
          const d = decodeLine(l.text)
          if (!d.ok) {
            problems.push({ file, line: n, reason: d.reason, detail: d.detail })
            continue
          }
          if (d.value.op.author !== author) {
            problems.push({ file, line: n, reason: 'wrong_folder', detail: `an op of ${d.value.op.author.slice(0, 12)}… in the folder of ${author.slice(0, 12)}…: each author writes only its own folder` })
            continue
          }
          list.push({ op: d.value, file, line: n, start: l.start, end: l.end })
        }
        const last = lines[lines.length - 1]
        const to = last === undefined ? from : { offset: pack ? size : last.end, line: pack ? from.line + lines.length + 1 : n }
        files.push({ file, author, pack, from, to })
      } catch (e) {
        problems.push({ file, line: 0, reason: 'unreadable', detail: `cannot read the file: ${e instanceof Error ? e.message : String(e)}` })
      }
    }
    if (list.length > 0) ops.set(author, list)
  }
  return { ops, problems, files }
}

/** A pack's lines checked against its trailer: ok, bad, or incomplete (no trailer yet: still arriving). */
function readPack(file: string, lines: { text: string; start: number; end: number }[], buf: Buffer): Result<true, 'bad_pack'> | 'incomplete' {
  const last = lines[lines.length - 1]
  if (last === undefined) return 'incomplete'
  const t = parseTrailer(last.text)
  // a pack is written whole and renamed into place by its author: without its trailer it is still being
  // copied here (a copy may pause at a line's end), so it waits; one that never completes leaves its
  // author's later ops after a gap, which is reported
  if (t === undefined) return 'incomplete'
  const digest = createHash('sha256').update(buf.subarray(0, last.start)).digest('hex')
  if (digest !== t.sha256) return core.fail('bad_pack', `${file}'s lines hash to ${digest}, not its checksum ${t.sha256}: the pack was altered`)
  if (t.ops !== lines.length - 1) return core.fail('bad_pack', `${file} says it holds ${t.ops} ops but has ${lines.length - 1} lines`)
  return core.ok(true)
}

// ---- writing (one author, its own folder only)

/**
 * Makes a file end at a complete line: a write cut short by a crash leaves a partial last line, which
 * nobody has taken (readers skip an incomplete line), so it is cut off before the next append.
 */
function cutPartialLine(path: string): void {
  const fd = openSync(path, 'r+')
  try {
    const size = fstatSync(fd).size
    if (size === 0) return
    const chunk = 64 * 1024
    let end = size
    for (;;) {
      const from = Math.max(0, end - chunk)
      const buf = Buffer.alloc(end - from)
      readSync(fd, buf, 0, buf.length, from)
      const nl = buf.lastIndexOf(10)
      if (nl >= 0) {
        const keep = from + nl + 1
        if (keep < size) {
          ftruncateSync(fd, keep)
          fsyncSync(fd)
        }
        return
      }
      if (from === 0) {
        ftruncateSync(fd, 0)
        fsyncSync(fd)
        return
      }
      end = from
    }
  } finally {
    closeSync(fd)
  }
}

/** The last complete line of a file, or undefined. */
function lastLine(path: string): string | undefined {
  const fd = openSync(path, 'r')
  try {
    const size = fstatSync(fd).size
    const chunk = 64 * 1024
    let end = size
    let tail = Buffer.alloc(0)
    for (;;) {
      const from = Math.max(0, end - chunk)
      const buf = Buffer.alloc(end - from)
      readSync(fd, buf, 0, buf.length, from)
      tail = Buffer.concat([buf, tail])
      const lastNl = tail.lastIndexOf(10)
      if (lastNl >= 0) {
        const before = tail.lastIndexOf(10, lastNl - 1)
        if (before >= 0 || from === 0) return tail.toString('utf8', before + 1, lastNl)
      }
      if (from === 0) return undefined
      end = from
    }
  } finally {
    closeSync(fd)
  }
}

/**
 * The highest seq of the author's ops in its own folder: the last complete line of its newest file (a
 * pack's last op is the line before its trailer). The folder, not a remembered number, says what was
 * written, so a sync killed between writing and remembering neither loses nor repeats a line.
 */
export function writtenSeq(dir: string, author: AuthorId): Result<number, 'malformed'> {
  const names = ownFiles(dir, author)
  for (let i = names.length - 1; i >= 0; i--) {
    const name = names[i] as string
    const path = join(dir, author, name)
    const pack = packFilePattern.test(name)
    const last = pack ? undefined : lastLine(path)
    const quick = last === undefined ? undefined : decodeLine(last)
    if (quick !== undefined && quick.ok && quick.value.op.author === author) return core.ok(quick.value.op.seq)
    // a pack (its last line is the trailer), or a last line that is not this author's op (someone
    // appended to this folder): the last good line of the file, read whole
    const lines = completeLines(readRange(path, 0, statSync(path).size), 0)
    if (pack) lines.pop()
    for (let k = lines.length - 1; k >= 0; k--) {
      const d = decodeLine((lines[k] as { text: string }).text)
      if (d.ok && d.value.op.author === author) return core.ok(d.value.op.seq)
    }
  }
  return core.ok(0)
}

/**
 * Appends the author's ops (consecutive, after writtenSeq) to its day files, each file fsynced; with
 * `via`, to that relay's files of the days instead (relayFileName).
 */
export function appendOps(dir: string, author: AuthorId, ops: readonly SignedOp[], via?: AuthorId): void {
  const byDay = new Map<string, string[]>()
  for (const e of ops) {
    // reason: an author's folder holds only its ops; the caller passes the author's ops
    core.assert(e.op.author === author, 'folder: appendOps of another author\'s op')
    const day = dayOf(e.op.hlc.wallMs)
    let l = byDay.get(day)
    if (l === undefined) byDay.set(day, (l = []))
    l.push(encodeLine(e))
  }
  const folder = join(dir, author)
  mkdirSync(folder, { recursive: true })
  for (const [day, lines] of [...byDay].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const path = join(folder, via === undefined ? `${day}.jsonl` : relayFileName(day, via))
    if (existsSync(path)) cutPartialLine(path)
    const fd = openSync(path, 'a')
    try {
      const buf = Buffer.from(lines.join(''), 'utf8')
      let off = 0
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  }
}

/** What pack did: the months packed, and how many day files and ops went into them. */
export type PackReport = { readonly months: string[]; readonly days: number; readonly ops: number }

/**
 * Packs the author's day files of every month before `beforeMonth` (yyyy-mm) into one file per month,
 * `<yyyy-mm>.pack.jsonl`: the day files' lines unchanged, in order, then a trailer line with their count
 * and SHA-256. Each pack is written to a temporary name, fsynced and renamed into place before its day
 * files are removed, so a crash leaves either the days or the pack (or both: the same ops twice, which
 * readers take once). A month that already has a pack is packed again with the new days added.
 * Partial last lines are left out (they are not ops yet).
 */
export function packMonths(dir: string, author: AuthorId, beforeMonth: string): Result<PackReport, 'malformed'> {
  const folder = join(dir, author)
  const names = ownFiles(dir, author)
  const months = new Map<string, { pack: string | undefined; days: string[] }>()
  for (const n of names) {
    const p = packFilePattern.exec(n)
    const d = dayFilePattern.exec(n)
    const month = p !== null ? `${p[1]}-${p[2]}` : d !== null ? `${d[1]}-${d[2]}` : undefined
    if (month === undefined || month >= beforeMonth) continue
    let m = months.get(month)
    if (m === undefined) months.set(month, (m = { pack: undefined, days: [] }))
    if (p !== null) m.pack = n
    else m.days.push(n)
  }
  const report = { months: [] as string[], days: 0, ops: 0 }
  for (const [month, m] of [...months].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (m.days.length === 0) continue
    const parts: Buffer[] = []
    let count = 0
    const take = (name: string, isPack: boolean): Result<true, 'malformed'> => {
      const path = join(folder, name)
      const buf = readRange(path, 0, statSync(path).size)
      const lines = completeLines(buf, 0)
      if (isPack) lines.pop()
      for (const l of lines) {
        if (l.text.trim() === '') continue
        const e = decodeLine(l.text)
        if (!e.ok || e.value.op.author !== author) return core.fail('malformed', `${author}/${name}: a line does not decode as this author's op; nothing was packed`)
        parts.push(buf.subarray(l.start, l.end))
        count++
      }
      return core.ok(true)
    }
    if (m.pack !== undefined) {
      const t = take(m.pack, true)
      if (!t.ok) return t
    }
    for (const d of m.days) {
      const t = take(d, false)
      if (!t.ok) return t
    }
    const body = Buffer.concat(parts)
    const trailer: PackTrailer = { pack: 1, month, ops: count, sha256: createHash('sha256').update(body).digest('hex') }
    const final = join(folder, `${month}.pack.jsonl`)
    const tmp = join(folder, `.${month}.pack.jsonl.tmp`)
    const fd = openSync(tmp, 'w')
    try {
      const all = Buffer.concat([body, Buffer.from(JSON.stringify(trailer) + '\n', 'utf8')])
      let off = 0
      while (off < all.length) off += writeSync(fd, all, off, all.length - off)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, final)
    fsyncDir(folder)
    for (const d of m.days) unlinkSync(join(folder, d))
    fsyncDir(folder)
    report.months.push(month)
    report.days += m.days.length
    report.ops += count
  }
  return core.ok(report)
}

function fsyncDir(path: string): void {
  try {
    const fd = openSync(path, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    // reason: some platforms cannot fsync a directory; the rename is still atomic
  }
}
