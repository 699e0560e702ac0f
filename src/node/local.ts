/**
 * A node's local side as the CLI and the MCP server use it: its identity and its store, opened from its
 * home directory, with the real clock. Works with no daemon and no network.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import * as core from '../core/index.ts'
import type { Clock, Result } from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import type { AuthorId } from '../log/index.ts'
import { memoryReads, opLog } from '../store/index.ts'
import type { Intent, OpLog, Reads, ViewCounts } from '../store/index.ts'
import * as home from './home.ts'
import type { Identity } from './home.ts'

/** The real wall clock: the one place below the API where Date.now is read. */
export const systemClock: Clock = { nowMs: () => Date.now() }

export type Local = {
  readonly home: string
  readonly identity: Identity
  readonly store: OpLog
  readonly clock: Clock
  readonly hlc: core.hlc.Hlc
  /** Whether the identity was created by this open (the CLI says so on stderr). */
  readonly created: boolean
}

export type LocalFailure = home.HomeFailure | 'missing' | opLog.OpenFailure

export function openLocal(dir: string, clock: Clock = systemClock): Result<Local, LocalFailure> {
  const id = home.loadOrInit(dir)
  if (!id.ok) return id
  const store = opLog.open(join(dir, home.storeFile))
  if (!store.ok) return store
  const { identity, created } = id.value
  return core.ok({ home: dir, identity, store: store.value, clock, hlc: core.hlc.create(identity.author), created })
}

/** Appends local ops (see opLog.append). */
export function write(l: Local, intents: readonly Intent[]): ReturnType<typeof opLog.append> {
  return opLog.append(l.store, l.identity.signer, l.hlc, l.clock, intents)
}

export function closeLocal(l: Local): void {
  opLog.close(l.store)
}

/**
 * The node's read side. Every read of the CLI (and later the MCP server) goes through here, so the store's
 * incremental SQLite views replace the reference model in this one place when they land.
 */
export function reads(l: Local): Reads {
  return memoryReads(opLog.scan(l.store))
}

/**
 * The views as they were at a time: the reference model over the ops recorded by then (design.md: as_of
 * replays to a time). Legitimately the reference model whatever the store: it is a replay.
 */
export function readsAsOf(l: Local, asOfMs: number): Reads {
  return memoryReads(knowledge.opsAsOf(opLog.scan(l.store), asOfMs))
}

/**
 * Appends intents as `write` does, and introduces the node first: a node's first op is preceded by an
 * `agent.hello` with its name, so fleet listings and author names work everywhere the op goes. The result
 * has one op per intent given (the hello is not in it).
 */
export function commit(l: Local, intents: readonly Intent[]): ReturnType<typeof opLog.append> {
  const first = opLog.head(l.store, l.identity.author) === undefined
  const all: Intent[] = first ? [{ kind: 'agent.hello', body: { name: l.identity.name } }, ...intents] : [...intents]
  const r = write(l, all)
  if (!r.ok || !first) return r
  return core.ok({ ops: r.value.ops.slice(1), written: r.value.written.slice(1) })
}

/** When an author's last op was written, as far as this store knows (ms), for "last seen". */
export function lastSeenMs(l: Local, author: AuthorId): number | undefined {
  return opLog.head(l.store, author)?.hlc.wallMs
}

/**
 * The figures `grapevine metrics` prints that the store can give today: ops by kind and in all, forks
 * seen, bytes on disk, and the views' counts. (Duplicates ignored at ingest, TTL purges and stale reads
 * are not recorded by the store yet.)
 */
export type LocalMetrics = {
  readonly ops_total: number
  readonly ops_by_kind: Readonly<Record<string, number>>
  readonly authors: number
  readonly forks: number
  readonly store_bytes: number
  readonly wal_bytes: number
  readonly views: ViewCounts
  readonly stale_entries: number
}

export function metrics(l: Local): LocalMetrics {
  const byKind: Record<string, number> = {}
  const authors = new Set<string>()
  let total = 0
  for (const e of opLog.scan(l.store)) {
    total++
    authors.add(e.op.author)
    byKind[e.op.kind] = (byKind[e.op.kind] ?? 0) + 1
  }
  const size = (p: string): number => {
    try {
      return statSync(p).size
    } catch {
      return 0
    }
  }
  const nowMs = l.clock.nowMs()
  const r = reads(l)
  const all = r.entries({ nowMs, includeStale: true }).length
  const fresh = r.entries({ nowMs }).length
  return {
    ops_total: total,
    ops_by_kind: Object.fromEntries(Object.entries(byKind).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    authors: authors.size,
    forks: opLog.forks(l.store).length,
    store_bytes: size(l.store.path),
    wal_bytes: size(`${l.store.path}-wal`),
    views: r.counts(nowMs),
    stale_entries: all - fresh,
  }
}
