/**
 * `npm run bench -- folder`: offline-first sync through a git repository (issue 6). Ten nodes write for
 * thirty simulated days (injected clocks) into one shared folder inside a git work tree; each node, once
 * a simulated day, writes its ops, syncs the folder and commits its own shards (one commit per node per
 * day, as `grapevine sync --git` would). Then:
 *
 *   - repo size: the shards in the work tree, and .git after `git gc`;
 *   - full sync: a fresh node replays the whole folder (every op verified and stored, the views built),
 *     timed over several fresh homes; its state hash (ops and view rows) must equal every writer's;
 *   - incremental sync: one node writes one new op and syncs; a node that has read everything before
 *     syncs again and takes that one line: timed over several rounds, beside a sync that finds nothing new;
 *   - packed: every node packs its first month; a fresh node replaying the packed folder reaches the same
 *     state hash;
 *   - a year: 10 authors x 365 days of synthetic signed ops written straight to a folder, read once; then
 *     one new line at a time, timed, with the days as they are and with every month but the last packed.
 *
 * Writes bench/results/folder.json (rows: bench, workload, system, metric, value, unit).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as log from '../src/log/index.ts'
import { testSigner } from '../src/log/log.test-util.ts'
import { folderSync } from '../src/node/network.ts'
import { folder } from '../src/transport/index.ts'
import { addTask, closeAgent, createAgent, doneTask, publish, retract, setFact } from '../src/node/folder-sync.test-util.ts'
import type { Agent } from '../src/node/folder-sync.test-util.ts'
import { opLog } from '../src/store/index.ts'
import { parseBenchArgs } from './lib/args.ts'
import { describeMachine } from './lib/machine.ts'
import * as fmt from './lib/stats.ts'

export type Params = {
  readonly nodes: number
  readonly days: number
  /** Writes per node per simulated day (entries, keyed facts, retractions, tasks). */
  readonly writesPerDay: number
  /** Fresh homes replaying the whole folder (full sync). */
  readonly fullRounds: number
  /** One-new-line syncs timed. */
  readonly incrementalRounds: number
}

export const fullParams: Params = { nodes: 10, days: 30, writesPerDay: 40, fullRounds: 3, incrementalRounds: 9 }
export const quickParams: Params = { nodes: 3, days: 3, writesPerDay: 5, fullRounds: 1, incrementalRounds: 3 }

export type Row = { bench: 'folder'; workload: string; system: string; metric: string; value: number; unit: string }

export type FolderResult = { rows: Row[]; outPath: string; identical: boolean; packedIdentical: boolean }

const dayMs = 86_400_000
/** Day 0 of a run of `days`: half of them in October, half in November, so one month gets packed. */
function startMs(days: number): number {
  return Date.UTC(2026, 10, 1, 6) - Math.ceil(days / 2) * dayMs
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function dirBytes(path: string): number {
  let n = 0
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name)
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size
  }
  return n
}

function syncOk(a: Agent, dir: string): folderSync.FolderSyncReport {
  const r = folderSync.syncFolder(a.l, dir)
  if (!r.ok) throw new Error(`bench folder: sync failed: ${r.detail}`)
  if (r.value.problems.length > 0) throw new Error(`bench folder: problems in a clean folder: ${JSON.stringify(r.value.problems.slice(0, 3))}`)
  return r.value
}

/** One node's writes of one simulated day, spread over its hours. */
function writeDay(a: Agent, node: number, day: number, writes: number): void {
  for (let w = 0; w < writes; w++) {
    a.clock.advance(Math.floor((dayMs / 2) / writes))
    const k = (node * 7 + day * 3 + w) % 20
    if (w % 10 === 3) setFact(a, `node${node}.k${k % 5}`, { day, w })
    else if (w % 10 === 6) setFact(a, `shared.k${k % 4}`, `${node}:${day}:${w}`) // concurrent writers: conflicts
    else if (w % 40 === 9 && day > 0) retract(a, `node${node}.k${(k + 1) % 5}`)
    else if (w % 40 === 12) addTask(a, `t-${node}-${day}`, `task of node ${node}, day ${day}`)
    else if (w % 40 === 13) doneTask(a, `t-${node}-${day}`)
    else publish(a, `node ${node} day ${day} note ${w}: cold start ${k} ms on deploy ${day * w}`, w % 3 === 0 ? 'warnings' : 'discoveries')
  }
}

export async function runFolder(opts: { quick?: boolean; outPath?: string; log?: (s: string) => void } = {}): Promise<FolderResult> {
  const p = opts.quick === true ? quickParams : fullParams
  const say = opts.log ?? ((s: string) => console.log(s))
  const outPath = opts.outPath ?? (opts.quick === true ? join(tmpdir(), 'grapevine-bench-folder.quick.json') : fileURLToPath(new URL('results/folder.json', import.meta.url)))
  const t0 = startMs(p.days)
  const rows: Row[] = []
  const row = (workload: string, metric: string, value: number, unit: string) => rows.push({ bench: 'folder', workload, system: 'grapevine', metric, value, unit })
  say(`bench folder: ${p.nodes} nodes x ${p.days} simulated days, ${p.writesPerDay} writes per node per day, one git commit per node per day`)
  for (const l of describeMachine([])) say(`  ${l}`)
  const root = mkdtempSync(join(tmpdir(), 'grapevine-bench-folder-'))
  const agents: Agent[] = []
  try {
    const repo = join(root, 'repo')
    mkdirSync(repo)
    git(repo, 'init', '-q', '-b', 'main')
    git(repo, 'config', 'user.name', 'bench')
    git(repo, 'config', 'user.email', 'bench@example.invalid')
    const dir = join(repo, 'grapevine')
    for (let i = 0; i < p.nodes; i++) agents.push(createAgent(root, `node${i}`, t0 + i * 1000))
    const started = performance.now()
    let syncMs = 0
    let syncs = 0
    for (let day = 0; day < p.days; day++) {
      for (const [i, a] of agents.entries()) {
        a.clock.set(t0 + day * dayMs + i * 1000)
        writeDay(a, i, day, p.writesPerDay)
        const s0 = performance.now()
        syncOk(a, dir)
        syncMs += performance.now() - s0
        syncs++
        git(repo, 'add', '-A', '--', join('grapevine', a.l.identity.author))
        git(repo, 'commit', '-q', '-m', `node${i} day ${day}`, '--', join('grapevine', a.l.identity.author))
      }
    }
    for (const a of agents) syncOk(a, dir) // everyone reads the last day's lines of the others
    const ops = opLog.opCount((agents[0] as Agent).l.store)
    say(`  simulated in ${((performance.now() - started) / 1000).toFixed(1)} s: ${ops} ops, ${syncs} daily syncs (mean ${(syncMs / syncs).toFixed(1)} ms each, writing and reading)`)
    const hashes = new Set(agents.map((a) => folderSync.stateHash(a.l)))
    if (hashes.size !== 1) throw new Error(`bench folder: the ${p.nodes} writers disagree (${hashes.size} state hashes)`)
    const [writerHash] = [...hashes] as [string]
    git(repo, 'gc', '-q')
    const shardBytes = dirBytes(dir)
    const gitBytes = dirBytes(join(repo, '.git'))
    const commits = Number(git(repo, 'rev-list', '--count', 'HEAD').trim())
    row('repo', 'ops', ops, 'ops')
    row('repo', 'shard_bytes', shardBytes, 'B')
    row('repo', 'shard_bytes_per_op', shardBytes / ops, 'B')
    row('repo', 'git_bytes_after_gc', gitBytes, 'B')
    row('repo', 'commits', commits, 'commits')
    row('repo', 'daily_sync_ms_mean', syncMs / syncs, 'ms')

    // full sync: fresh homes replay the whole folder
    const fullMs: number[] = []
    let identical = true
    for (let r = 0; r < p.fullRounds; r++) {
      const fresh = createAgent(root, `replay${r}`, t0 + p.days * dayMs)
      const s0 = performance.now()
      const rep = syncOk(fresh, dir)
      fullMs.push(performance.now() - s0)
      if (rep.ingested !== ops) throw new Error(`bench folder: the replay took ${rep.ingested} ops of ${ops}`)
      // reason: a node's hello is its own first op; the replaying node wrote none, so its hash must equal
      identical &&= folderSync.stateHash(fresh.l) === writerHash
      closeAgent(fresh)
    }
    const full = fmt.summarize(fullMs)
    row('full_sync', 'ms_median', full.median, 'ms')
    row('full_sync', 'ms_min', full.min, 'ms')
    row('full_sync', 'ms_max', full.max, 'ms')
    row('full_sync', 'ops_per_s', ops / (full.median / 1000), 'ops/s')
    row('full_sync', 'identical_state', identical ? 1 : 0, 'bool')

    // incremental: one new line, against a sync that finds nothing
    const reader = agents[0] as Agent
    const incMs: number[] = []
    const idleMs: number[] = []
    for (let r = 0; r < p.incrementalRounds; r++) {
      const w = agents[1 + (r % (agents.length - 1))] as Agent
      w.clock.advance(60_000)
      publish(w, `one more line ${r}`)
      syncOk(w, dir)
      const s0 = performance.now()
      const rep = syncOk(reader, dir)
      incMs.push(performance.now() - s0)
      if (rep.ingested !== 1) throw new Error(`bench folder: the incremental sync took ${rep.ingested} ops, not 1`)
      const s1 = performance.now()
      syncOk(reader, dir)
      idleMs.push(performance.now() - s1)
    }
    const inc = fmt.summarize(incMs)
    const idle = fmt.summarize(idleMs)
    row('incremental_sync', 'ms_median', inc.median, 'ms')
    row('incremental_sync', 'ms_min', inc.min, 'ms')
    row('incremental_sync', 'ms_max', inc.max, 'ms')
    row('idle_sync', 'ms_median', idle.median, 'ms')
    row('idle_sync', 'ms_min', idle.min, 'ms')
    row('idle_sync', 'ms_max', idle.max, 'ms')
    row('incremental_sync', 'files', readdirSync(dir).reduce((n, a) => n + readdirSync(join(dir, a)).length, 0), 'files')

    // packed: each node packs its months before the last day's month; a fresh node replays the packed folder
    for (const a of agents) {
      a.clock.advance(60_000)
      const r = folderSync.syncFolder(a.l, dir, { packBefore: new Date(t0 + (p.days - 1) * dayMs).toISOString().slice(0, 7) })
      if (!r.ok) throw new Error(r.detail)
    }
    for (const a of agents) syncOk(a, dir)
    const finalHash = folderSync.stateHash(reader.l)
    const packedFresh = createAgent(root, 'replay-packed', t0 + (p.days + 1) * dayMs)
    const s0 = performance.now()
    syncOk(packedFresh, dir)
    const packedMs = performance.now() - s0
    const packedIdentical = folderSync.stateHash(packedFresh.l) === finalHash
    closeAgent(packedFresh)
    const packFiles = readdirSync(dir).reduce((n, a) => n + readdirSync(join(dir, a)).filter((f) => f.endsWith('.pack.jsonl')).length, 0)
    row('packed', 'pack_files', packFiles, 'files')
    row('packed', 'full_sync_ms', packedMs, 'ms')
    row('packed', 'identical_state', packedIdentical ? 1 : 0, 'bool')

    // a year of history: 10 authors x 365 days (synthetic signed chains written straight to the folder),
    // read once by a node; then one new line, timed, unpacked and with every month but the last packed
    const year = yearRun(root, p, say)
    row('year', 'files', year.files, 'files')
    row('year', 'ops', year.ops, 'ops')
    row('year', 'one_line_ms_median', year.oneLine.median, 'ms')
    row('year', 'one_line_ms_min', year.oneLine.min, 'ms')
    row('year', 'one_line_ms_max', year.oneLine.max, 'ms')
    row('year_packed', 'files', year.packedFiles, 'files')
    row('year_packed', 'one_line_ms_median', year.oneLinePacked.median, 'ms')
    row('year_packed', 'one_line_ms_min', year.oneLinePacked.min, 'ms')
    row('year_packed', 'one_line_ms_max', year.oneLinePacked.max, 'ms')

    say('')
    say(fmt.table(
      ['measure', 'value'],
      [
        ['ops in the repo', String(ops)],
        ['shards in the work tree', `${fmt.bytes(shardBytes)} (${(shardBytes / ops).toFixed(0)} B/op)`],
        ['.git after gc', `${fmt.bytes(gitBytes)} (${commits} commits)`],
        [`full sync, fresh node (median of ${full.n} [min..max])`, `${fmt.ms(full.median)} [${fmt.ms(full.min)}..${fmt.ms(full.max)}], ${fmt.si(ops / (full.median / 1000))} ops/s`],
        ['replay = writers\' state', identical ? 'identical' : 'DIFFERENT'],
        [`incremental sync, one new line (median of ${inc.n})`, `${fmt.ms(inc.median)} [${fmt.ms(inc.min)}..${fmt.ms(inc.max)}]`],
        [`sync with nothing new (median of ${idle.n})`, `${fmt.ms(idle.median)} [${fmt.ms(idle.min)}..${fmt.ms(idle.max)}]`],
        [`packed (${packFiles} monthly files): fresh replay`, `${fmt.ms(packedMs)}, ${packedIdentical ? 'identical state' : 'DIFFERENT state'}`],
        [`a year (${year.ops} ops, ${year.files} files): one new line (median of ${year.oneLine.n})`, `${fmt.ms(year.oneLine.median)} [${fmt.ms(year.oneLine.min)}..${fmt.ms(year.oneLine.max)}]`],
        [`the year packed (${year.packedFiles} files): one new line`, `${fmt.ms(year.oneLinePacked.median)} [${fmt.ms(year.oneLinePacked.min)}..${fmt.ms(year.oneLinePacked.max)}]`],
      ],
    ))
    mkdirSync(dirname(outPath), { recursive: true })
    writeFileSync(outPath, `${JSON.stringify(rows, null, 2)}\n`)
    say(`${rows.length} rows written to ${outPath}`)
    return { rows, outPath, identical, packedIdentical }
  } finally {
    for (const a of agents) closeAgent(a)
    rmSync(root, { recursive: true, force: true })
  }
}

/** Synthetic year: authors x days, opsPerDay each, every op its own signed batch as a CLI writes. */
function yearRun(root: string, p: Params, say: (s: string) => void): { files: number; ops: number; oneLine: fmt.Summary; packedFiles: number; oneLinePacked: fmt.Summary } {
  const authors = p.nodes
  const days = p.days === fullParams.days ? 365 : 20
  const opsPerDay = p.days === fullParams.days ? 4 : 2
  const dir = join(root, 'year')
  const start = Date.UTC(2025, 11, 1)
  const heads = new Map<number, log.Head>()
  const signers = Array.from({ length: authors }, (_, i) => testSigner(100 + i))
  const lastMs = new Map<number, number>()
  const write = (i: number, count: number, fromMs: number, stepMs: number) => {
    const s = signers[i] as log.Signer
    const c = log.createOps(s.author, heads.get(i), Array.from({ length: count }, (_, k) => ({ hlc: { wallMs: fromMs + k * stepMs, logical: 0 }, kind: 'fact.assert', body: { value: `author ${i} note ${k}`, channel: 'discoveries', tags: [], supersedes: [], verified: false } })))
    if (!c.ok) throw new Error(c.detail)
    const signed = log.signOps(s, c.value, 'per_op')
    folder.appendOps(dir, s.author, signed)
    const last = signed[signed.length - 1] as log.SignedOp
    heads.set(i, log.headOf(last))
    lastMs.set(i, last.op.hlc.wallMs)
  }
  for (let i = 0; i < authors; i++) write(i, days * opsPerDay, start + i, Math.floor(dayMs / opsPerDay))
  const ops = authors * days * opsPerDay
  const reader = createAgent(root, 'year-reader', start + (days + 1) * dayMs)
  try {
    const full = syncOk(reader, dir)
    if (full.ingested !== ops) throw new Error(`bench folder: the year's replay took ${full.ingested} of ${ops}`)
    const oneLine = (rounds: number): fmt.Summary => {
      const xs: number[] = []
      for (let r = 0; r < rounds; r++) {
        const i = r % authors
        write(i, 1, (lastMs.get(i) as number) + 1000, 1)
        const t = performance.now()
        const rep = syncOk(reader, dir)
        xs.push(performance.now() - t)
        if (rep.ingested !== 1) throw new Error(`bench folder: one new line took ${rep.ingested} ops`)
      }
      return fmt.summarize(xs)
    }
    const count = () => readdirSync(dir).reduce((n, a) => n + readdirSync(join(dir, a)).length, 0)
    const files = count()
    const a = oneLine(p.incrementalRounds)
    const lastMonth = new Date(start + (days - 1) * dayMs).toISOString().slice(0, 7)
    for (const s of signers) {
      const r = folder.packMonths(dir, s.author, lastMonth)
      if (!r.ok) throw new Error(r.detail)
    }
    syncOk(reader, dir) // reads the packs once (their ops are held: duplicates)
    const packedFiles = count()
    const b = oneLine(p.incrementalRounds)
    say(`  a year: ${ops} ops in ${files} files, read once; one new line ${fmt.ms(a.median)}; packed into ${packedFiles} files: ${fmt.ms(b.median)}`)
    return { files, ops, oneLine: a, packedFiles, oneLinePacked: b }
  } finally {
    closeAgent(reader)
  }
}

const usage = 'usage: npm run bench -- folder [--quick] [--out PATH]'

export async function main(argv: readonly string[]): Promise<number> {
  const a = parseBenchArgs('folder', argv, { quick: 'flag', out: 'path' }, usage)
  if (a === undefined) return 2
  const r = await runFolder({ quick: a.quick, ...(a.out === undefined ? {} : { outPath: a.out }) })
  return r.identical && r.packedIdentical ? 0 : 1
}
