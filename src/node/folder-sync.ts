/**
 * Sync through a shared folder (design.md section 7; the format is src/transport/folder.ts's, explained
 * in docs/FORMAT.md section 8): write this node's new ops to its own shards, then ingest every author's
 * new complete lines, verified as the network's ops are (opLog.ingest: chain, signatures, forks).
 *
 * Crash safety. What was written is read back from the folder itself (folder.writtenSeq: the last
 * complete line of this node's newest shard), never from a remembered number, so a sync killed between
 * appending and saving its state neither loses a line nor writes one twice. What was read is remembered
 * per file (byte offset and line number) in `<home>/sync/<hash of the folder's path>.json`, written to a
 * temporary file, fsynced and renamed; it is saved only after the ops it covers are in the store, so a
 * crash re-reads lines, which the store recognises as duplicates. A lock file beside it keeps two syncs
 * of one home and folder (a CLI run and the daemon's watch) from interleaving.
 *
 * What is left for a later sync (the offsets stay before it): ops after a gap in an author's seqs (the
 * missing file may still be on its way: reported each time until it arrives), ops after the author's last
 * signed op (the rest of a batch still being written), and ops whose clock is ahead of ours. A batch the
 * store refuses (bad signature, broken chain, fork) is reported with its file and line and skipped.
 *
 * A fleet (the home has fleet.json): the folder carries credentials and revocations in `.fleet/`, one
 * writer per file: `<author>.cred` (that node's credential, base64url) and `<author>.revocations` (the
 * revocations that node knows, a copy of its home's file). Every sync writes its own, reads everyone's
 * (each verified against the fleet id; new revocations join the home's file, so the daemon enforces them
 * too), and checks every batch as the daemon does (log.batchRule): an author with no credential in the
 * folder or the roster waits (pending), ops past a revocation's cutoff or outside the author's
 * capabilities are reported and skipped; ops past a cutoff that the store took before the revocation
 * was known leave its log and views (quarantine.ts), as the daemon does.
 */
import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, watch, writeFileSync, writeSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { AuthorId, SignedOp } from '../log/index.ts'
import * as log from '../log/index.ts'
import { opLog } from '../store/index.ts'
import { folder } from '../transport/index.ts'
import type { FileOffset, Offsets, Problem, ShardOp } from '../transport/index.ts'
import * as fleetHome from './fleet-home.ts'
import * as local from './local.ts'
import type { Local } from './local.ts'
import { applyRevocations } from './quarantine.ts'

/** Ops read from the store per append to the folder. */
const writeChunkOps = 4096

export type FolderSyncOptions = {
  /** Pack this node's day files of months before this one (yyyy-mm) into monthly files first. */
  readonly packBefore?: string | undefined
  /**
   * Also write the ops of other authors that this node holds and the folder lacks (got by gossip), into
   * relay files of their folders (`<author>/<day>.via-<this node>.jsonl`): what a node that is both on
   * the network and on a folder does, so folder-only nodes get the networked ones' ops. Off by default:
   * in a folder-only fleet every author writes its own, and a relay would only add copies.
   */
  readonly relay?: boolean | undefined
}

export type FolderSyncReport = {
  readonly dir: string
  /** This node's ops appended to its shards by this sync. */
  readonly written: number
  /** Ops of other authors (or this one's, restored) taken into the store. */
  readonly ingested: number
  /** Ops read again that the store already held. */
  readonly duplicates: number
  /** Ops left for a later sync (after a gap, an unsigned tail, a clock ahead of ours). */
  readonly pending: number
  /** Other authors' ops this node relayed into the folder (relay option). */
  readonly relayed: number
  /**
   * Fleet: ops of revoked authors past their cutoff that the store held (taken before this node knew of
   * the revocation) and this sync took out of the log and views (quarantine.ts).
   */
  readonly quarantined: number
  /** Bad input, with file and line: skipped. */
  readonly problems: readonly Problem[]
  readonly packed?: folder.PackReport | undefined
}

export type FolderSyncFailure = 'busy' | 'io' | 'own_folder'

export type FolderSyncResult = { ok: true; value: FolderSyncReport } | { ok: false; reason: FolderSyncFailure; detail: string }

/** Offsets per file, and per author the highest seq seen in the folder (any of its files). */
type State = { readonly dir: string; offsets: Offsets; seen: Record<string, number> }

/** Where the read offsets of a folder live: the node's home, one file per folder. */
export function statePath(home: string, dir: string): string {
  const id = createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 16)
  return join(home, 'sync', `${id}.json`)
}

function loadState(path: string, dir: string): State {
  try {
    const d = JSON.parse(readFileSync(path, 'utf8')) as { dir?: unknown; offsets?: unknown; seen?: unknown }
    if (typeof d.offsets === 'object' && d.offsets !== null) {
      const offsets: Offsets = {}
      for (const [k, v] of Object.entries(d.offsets as Record<string, unknown>)) {
        const o = v as { offset?: unknown; line?: unknown }
        if (typeof o.offset === 'number' && typeof o.line === 'number' && o.offset >= 0 && o.line >= 0) offsets[k] = { offset: o.offset, line: o.line }
      }
      const seen: Record<string, number> = {}
      if (typeof d.seen === 'object' && d.seen !== null)
        for (const [k, v] of Object.entries(d.seen as Record<string, unknown>)) if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) seen[k] = v
      // without the seqs seen, offsets would hide lines a relay must know of: read everything again
      return d.seen === undefined ? { dir, offsets: {}, seen } : { dir, offsets, seen }
    }
  } catch {
    // reason: no state (first sync) or an unreadable one: read the folder from the start; the store
    // recognises what it already holds, so this costs time, never correctness
  }
  return { dir, offsets: {}, seen: {} }
}

function saveState(path: string, s: State): void {
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w', 0o600)
  try {
    writeSync(fd, JSON.stringify({ dir: resolve(s.dir), offsets: s.offsets, seen: s.seen }))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
}

/** Takes the lock file (its content: our pid); a lock whose process is gone is taken over. */
function lock(path: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return true
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      let pid = NaN
      try {
        pid = Number(readFileSync(path, 'utf8'))
      } catch {
        // reason: removed meanwhile: try again
      }
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) return false
      try {
        unlinkSync(path)
      } catch {
        // reason: someone else took it over first; the next openSync says who won
      }
    }
  }
  return false
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Writes this node's ops that its folder lacks; returns how many. The folder says what it holds
 * (writtenSeq); a store behind its own folder (a restored home) writes nothing and reads its ops back.
 */
export function writeOwn(l: Local, dir: string): number {
  const me = l.identity.author
  const w = folder.writtenSeq(dir, me)
  if (!w.ok) throw new Error(w.detail)
  let after = w.value
  let written = 0
  for (;;) {
    const ops = opLog.opsAfter(l.store, me, after, writeChunkOps)
    if (ops.length === 0) return written
    folder.appendOps(dir, me, ops)
    written += ops.length
    after = (ops[ops.length - 1] as SignedOp).op.seq
  }
}

/**
 * Writes the ops of other authors that the store holds past what the folder holds of them (`seen`) into
 * this node's relay files of their folders; moves `seen`. A crash after appending and before the state is
 * saved is harmless: the next scan reads the relay lines and moves `seen` past them.
 */
function relay(l: Local, dir: string, seen: Record<string, number>): number {
  const me = l.identity.author
  let relayed = 0
  for (const [author, head] of opLog.versionVector(l.store)) {
    if (author === me) continue
    let after = seen[author] ?? 0
    while (after < head) {
      const ops = opLog.opsAfter(l.store, author as AuthorId, after, writeChunkOps)
      if (ops.length === 0) break
      folder.appendOps(dir, author as AuthorId, ops, me)
      relayed += ops.length
      after = (ops[ops.length - 1] as SignedOp).op.seq
    }
    seen[author] = after
  }
  return relayed
}

type AuthorOutcome = { ingested: number; duplicates: number; pending: ShardOp[]; problems: Problem[] }

/** One author's new lines into the store: in seq order from its head, batches cut at signed ops. */
type FleetRules = { readonly roster: log.Roster; readonly revs: log.Revocations }

/** A fleet home: writes its credential and revocations into `<dir>/.fleet`, reads everyone's. Undefined: no fleet. */
function fleetRules(l: Local, dir: string): FleetRules | undefined {
  const f = fleetHome.load(l.home, l.identity)
  if (!f.ok) return undefined
  const fleet = f.value.fleet
  const roster = log.createRoster(fleet)
  log.rosterAdd(roster, f.value.credential, l.clock.nowMs())
  const revs = fleetHome.loadRevocations(l.home, fleet)
  const fd = join(dir, '.fleet')
  const me = l.identity.author
  try {
    mkdirSync(fd, { recursive: true })
    const cred = Buffer.from(f.value.credential.bytes).toString('base64url') + '\n'
    const credFile = join(fd, `${me}.cred`)
    let had = ''
    try {
      had = readFileSync(credFile, 'utf8')
    } catch {
      had = '' // reason: not written yet
    }
    if (had !== cred) writeFileSync(credFile, cred)
  } catch {
    // reason: a read-only folder still syncs in; the peers then lack this node's credential and wait
  }
  let names: string[]
  try {
    names = readdirSync(fd)
  } catch {
    names = [] // reason: no .fleet yet
  }
  const known = revs.all.length
  for (const n of names) {
    const m = /^([0-9a-f]{64})\.(cred|revocations)$/.exec(n)
    if (m === null) continue
    let text: string
    try {
      text = readFileSync(join(fd, n), 'utf8')
    } catch {
      continue // reason: a file going away is read at the next sync
    }
    for (const line of text.split('\n')) {
      const t = line.trim()
      if (t === '' || !/^[A-Za-z0-9_-]+$/.test(t) || t.length > 2 * log.credentialBytesMax) continue
      const bytes = new Uint8Array(Buffer.from(t, 'base64url'))
      if (m[2] === 'cred') {
        const c = log.decodeCredential(bytes)
        if (c.ok && log.rosterAdd(roster, c.value, l.clock.nowMs()).ok) {
          // a successor's credential carries its key rotations: kept and passed on as revocations are
          for (const r of log.learnRotations(revs, c.value)) fleetHome.saveRevocation(l.home, r)
        }
      } else {
        const r = log.revocationsAdd(revs, bytes)
        if (r.ok && r.value) fleetHome.saveRevocation(l.home, revs.all[revs.all.length - 1] as log.Revocation)
      }
    }
  }
  if (revs.all.length > 0) {
    const mine = revs.all.map((r) => Buffer.from(r.bytes).toString('base64url')).join('\n') + '\n'
    try {
      const file = join(fd, `${me}.revocations`)
      let had = ''
      try {
        had = readFileSync(file, 'utf8')
      } catch {
        had = '' // reason: not written yet
      }
      if (had !== mine || known !== revs.all.length) writeFileSync(file, mine)
    } catch {
      // reason: as for the credential
    }
  }
  return { roster, revs }
}

/** A batch with only its last op's signature (the chain binds the ops before it): one verification. */
function headSigned(b: readonly SignedOp[]): SignedOp[] {
  return b.map((e, k) => (k === b.length - 1 || e.sig === undefined ? e : { ...e, sig: undefined }))
}

function ingestAuthor(l: Local, author: AuthorId, lines: ShardOp[], rules?: FleetRules): AuthorOutcome {
  const out: AuthorOutcome = { ingested: 0, duplicates: 0, pending: [], problems: [] }
  const sorted = [...lines].sort((a, b) => a.op.op.seq - b.op.op.seq)
  let next = (opLog.head(l.store, author)?.seq ?? 0) + 1
  const run: ShardOp[] = []
  let i = 0
  for (; i < sorted.length; i++) {
    const s = sorted[i] as ShardOp
    const seq = s.op.op.seq
    if (seq < next) {
      // held already, or the same op twice (a pack beside the days it replaced). Two different lines
      // for one seq are a fork: reported here, and recorded by the store if a batch brings it
      const before = sorted[i - 1]
      if (before !== undefined && before.op.op.seq === seq && !bytesEqual(before.op.hash, s.op.hash)) {
        out.problems.push({ file: s.file, line: s.line, reason: 'fork', detail: `two different ops of seq ${seq} (the other at ${before.file}:${before.line}): skipped` })
      } else out.duplicates++
      continue
    }
    if (seq > next) {
      out.problems.push({ file: s.file, line: s.line, reason: 'gap', detail: `seq ${seq} follows seq ${next - 1}: ops ${next}..${seq - 1} of this author are missing (left for a later sync)` })
      break
    }
    run.push(s)
    next = seq + 1
  }
  const rest = sorted.slice(i)
  const byOp = new Map<SignedOp, ShardOp>()
  for (const s of run) byOp.set(s.op, s)
  const cut = log.cutBatches(run.map((s) => s.op))
  // a refused batch that holds several signed ops is tried again cut at each of them, so the good ops
  // before a bad one go in and the report names the very line that is bad
  const queue: SignedOp[][] = [...cut.batches]
  // group commit: the leading batches the fleet's rule lets through go in together (opLog.ingestMany,
  // one transaction), each stored or refused on its own; from the first one not stored on, the loop
  // below takes them one by one as before (it cuts a refused batch at its signatures, names the line)
  let lead = 0
  while (lead < queue.length && (rules === undefined || log.batchRule(rules.roster, rules.revs, queue[lead] as SignedOp[]) === undefined)) lead++
  if (lead > 1) {
    const group = queue.slice(0, lead)
    const rs = opLog.ingestMany(l.store, group.map(headSigned), l.clock.nowMs())
    let k = 0
    for (; k < rs.length; k++) {
      const r = rs[k] as opLog.IngestResult
      if (r.ok) {
        out.ingested += r.ops.length
        out.duplicates += r.duplicates
      } else if (r.reason === 'duplicate') out.duplicates += (group[k] as SignedOp[]).length
      else break
    }
    queue.splice(0, k)
  }
  let stopped = false
  for (let b = queue.shift(); b !== undefined; b = queue.shift()) {
    if (stopped) {
      for (const e of b) out.pending.push(byOp.get(e) as ShardOp)
      continue
    }
    const rule = rules === undefined ? undefined : log.batchRule(rules.roster, rules.revs, b)
    if (rule !== undefined) {
      // several signed ops: each part on its own (the ops before a revocation's cutoff go in)
      const parts = log.splitAtSignatures(b)
      if (parts.length > 1) {
        queue.unshift(...parts)
        continue
      }
      stopped = true
      for (const e of b) out.pending.push(byOp.get(e) as ShardOp)
      if (rule !== 'waiting') {
        const last = byOp.get(b[b.length - 1] as SignedOp) as ShardOp
        out.problems.push({ file: last.file, line: last.line, reason: rule, detail: rule === 'revoked' ? `the author is revoked (ops after seq ${rules?.revs.nodes.get(author) ?? 0} do not count): skipped` : `outside the author's fleet capabilities: skipped` })
      }
      continue
    }
    // only the batch's last signature is checked: its chain binds the ops before it (docs/FORMAT.md
    // section 4), as a relay sends them. A CLI writes every op as its own signed batch, so this is one
    // verification per up to 256 ops instead of one per op
    const r = opLog.ingest(l.store, headSigned(b), l.clock.nowMs())
    if (r.ok) {
      out.ingested += r.ops.length
      out.duplicates += r.duplicates
      continue
    }
    if (r.reason === 'duplicate') {
      out.duplicates += b.length
      continue
    }
    const parts = r.reason === 'clock_ahead' || r.reason === 'storage' ? [b] : log.splitAtSignatures(b)
    if (parts.length > 1) {
      queue.unshift(...parts)
      continue
    }
    stopped = true
    if (r.reason === 'clock_ahead' || r.reason === 'storage') {
      // not the lines' fault: take them again later
      for (const e of b) out.pending.push(byOp.get(e) as ShardOp)
      const last = byOp.get(b[b.length - 1] as SignedOp) as ShardOp
      if (r.reason === 'storage') out.problems.push({ file: last.file, line: last.line, reason: r.reason, detail: r.detail })
      continue
    }
    const first = byOp.get(b[0] as SignedOp) as ShardOp
    const last = byOp.get(b[b.length - 1] as SignedOp) as ShardOp
    const where = first === last ? '' : ` (the batch of lines ${first.file}:${first.line}..${last.line})`
    out.problems.push({ file: last.file, line: last.line, reason: r.reason, detail: `${r.detail}${where}: skipped` })
  }
  for (const e of cut.rest) out.pending.push(byOp.get(e) as ShardOp)
  out.pending.push(...rest)
  return out
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/**
 * One sync with a shared folder: pack (if asked), write this node's new ops, ingest everyone's new lines.
 * Never throws for bad input in the folder (each is a Problem); fails only when the folder or the home
 * cannot be written, or another sync of this home and folder is running.
 */
export function syncFolder(l: Local, dir: string, opts: FolderSyncOptions = {}): FolderSyncResult {
  const statFile = statePath(l.home, dir)
  try {
    mkdirSync(dir, { recursive: true })
    mkdirSync(join(l.home, 'sync'), { recursive: true })
  } catch (e) {
    return { ok: false, reason: 'io', detail: `cannot create ${dir}: ${e instanceof Error ? e.message : String(e)}` }
  }
  const lockFile = `${statFile}.lock`
  if (!lock(lockFile)) return { ok: false, reason: 'busy', detail: `another sync of ${dir} is running for this home (${lockFile})` }
  try {
    let packed: folder.PackReport | undefined
    if (opts.packBefore !== undefined) {
      const p = folder.packMonths(dir, l.identity.author, opts.packBefore)
      if (!p.ok) return { ok: false, reason: 'own_folder', detail: p.detail }
      packed = p.value
    }
    let written: number
    try {
      written = writeOwn(l, dir)
    } catch (e) {
      return { ok: false, reason: 'io', detail: `cannot write this node's shards in ${dir}: ${e instanceof Error ? e.message : String(e)}` }
    }
    const state = loadState(statFile, dir)
    const rules = fleetRules(l, dir)
    // the revocations known now (the home's and the folder's) applied to what the store already holds
    let quarantined = 0
    if (rules !== undefined) {
      try {
        for (const q of applyRevocations(l.store, rules.roster, rules.revs, l.identity.author, l.clock.nowMs())) quarantined += q.moved
      } catch (e) {
        return { ok: false, reason: 'io', detail: `cannot take revoked ops out of the store: ${e instanceof Error ? e.message : String(e)}` }
      }
    }
    const scan = folder.scanFolder(dir, state.offsets)
    const problems: Problem[] = [...scan.problems]
    let ingested = 0
    let duplicates = 0
    const pendingFrom = new Map<string, FileOffset>() // file -> where its first pending line starts
    let pending = 0
    for (const [author, lines] of scan.ops) {
      const o = ingestAuthor(l, author, lines, rules)
      ingested += o.ingested
      duplicates += o.duplicates
      problems.push(...o.problems)
      pending += o.pending.length
      for (const p of o.pending) {
        const at = pendingFrom.get(p.file)
        if (at === undefined || p.start < at.offset) pendingFrom.set(p.file, { offset: p.start, line: p.line - 1 })
      }
    }
    const seenBefore = JSON.stringify(state.seen)
    for (const [author, lines] of scan.ops) for (const x of lines) state.seen[author] = Math.max(state.seen[author] ?? 0, x.op.op.seq)
    let relayed = 0
    if (opts.relay === true) {
      try {
        relayed = relay(l, dir, state.seen)
      } catch (e) {
        return { ok: false, reason: 'io', detail: `cannot write relay files in ${dir}: ${e instanceof Error ? e.message : String(e)}` }
      }
    }
    // files not seen any more (packed away) drop out of the state with the rest
    const offsets: Offsets = {}
    for (const f of scan.files) offsets[f.file] = pendingFrom.get(f.file) ?? f.to
    // a sync that moved no offset (nothing new) skips the write and its fsync
    const changed = JSON.stringify(offsets) !== JSON.stringify(state.offsets) || JSON.stringify(state.seen) !== seenBefore
    state.offsets = offsets
    if (changed) saveState(statFile, state)
    problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line))
    return { ok: true, value: { dir, written, ingested, duplicates, pending, relayed, quarantined, problems, packed } }
  } finally {
    try {
      unlinkSync(lockFile)
    } catch {
      // reason: already gone; nothing to release
    }
  }
}

/** A way to stop what watchFolder started. */
export type Watch = { stop(): void }

/**
 * Syncs `dir` now and then every `intervalMs` (and soon after a change the OS reports, where fs.watch
 * works), until stopped: what the daemon calls for `grapevine up --dir PATH`, with `relay: true` (a
 * node on the network and on a folder carries the networked nodes' ops to the folder-only ones). Each
 * sync's report (or failure) goes to onSync; a sync never overlaps another; a sync runs synchronously
 * (a few ms for a few new lines).
 */
export function watchFolder(
  l: Local,
  dir: string,
  onSync: (r: FolderSyncResult) => void,
  opts: { readonly intervalMs?: number; readonly debounceMs?: number; readonly relay?: boolean } = {},
): Watch {
  const intervalMs = opts.intervalMs ?? 5_000
  const debounceMs = opts.debounceMs ?? 200
  let stopped = false
  let soon: ReturnType<typeof setTimeout> | undefined
  const run = () => {
    if (stopped) return
    soon = undefined
    onSync(syncFolder(l, dir, { relay: opts.relay }))
  }
  const timer = setInterval(run, intervalMs)
  let watcher: { close(): void } | undefined
  try {
    mkdirSync(dir, { recursive: true })
    // reason: fs.watch is a hint only (not every platform or network filesystem reports changes); the interval is the guarantee
    watcher = watchDir(dir, () => {
      if (soon === undefined && !stopped) soon = setTimeout(run, debounceMs)
    })
  } catch {
    watcher = undefined
  }
  queueMicrotask(run)
  return {
    stop() {
      stopped = true
      clearInterval(timer)
      if (soon !== undefined) clearTimeout(soon)
      watcher?.close()
    },
  }
}

function watchDir(dir: string, onChange: () => void): { close(): void } {
  return watch(dir, { recursive: true, persistent: false }, onChange)
}

/**
 * A digest of a node's state: SHA-256 of every op's (author, seq, hash), sorted, and of every view row
 * (reads.dump(), canonically ordered). Two nodes with equal hashes hold the same ops and show the same
 * knowledge.
 */
export function stateHash(l: Local): string {
  const ops: string[] = []
  for (const e of opLog.scan(l.store)) ops.push(`${e.op.author}:${String(e.op.seq).padStart(16, '0')}:${log.toHex(e.hash)}`)
  ops.sort()
  const h = createHash('sha256')
  for (const o of ops) h.update(o + '\n')
  h.update(JSON.stringify(local.reads(l).dump()))
  return h.digest('hex')
}
