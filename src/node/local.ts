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
import { memoryReads, opLog, views } from '../store/index.ts'
import type { Intent, OpLog, Reads, StoreMetrics } from '../store/index.ts'
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

export function openLocal(
  dir: string,
  clock: Clock = systemClock,
  opts: Pick<opLog.OpenOptions, 'onViewsUpgrade'> = {},
): Result<Local, LocalFailure> {
  const id = home.loadOrInit(dir)
  if (!id.ok) return id
  const store = opLog.open(join(dir, home.storeFile), opts)
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
 * The node's read side: the store's SQLite views. Every read of the CLI (and later the MCP server) goes
 * through here. If the views are damaged (the store says so on open: `viewsProblem`), reads fall back to
 * the reference model over the op log, which is always right but costs O(all ops) per read, until
 * `rebuild` repairs the views.
 */
export function reads(l: Local): Reads {
  return l.store.views === undefined ? memoryReads(opLog.scan(l.store)) : views.sqlReads(l.store)
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
 * The figures of `grapevine metrics` (design.md section 10) a single node can tell: the store's (ops by
 * kind, duplicates ignored, forks, TTL purges, stale reads and entries stale now, view counts, bytes, index bytes), plus the WAL's size on
 * disk. Undefined while the views are damaged (rebuild first).
 */
export type LocalMetrics = StoreMetrics & { readonly wal_bytes: number }

export function metrics(l: Local): LocalMetrics | undefined {
  if (l.store.views === undefined) return undefined
  const m = views.metrics(l.store, l.clock.nowMs())
  let wal = 0
  try {
    wal = statSync(`${l.store.path}-wal`).size
  } catch {
    // reason: no WAL file (checkpointed and removed) is 0 bytes of WAL
  }
  return { ...m, wal_bytes: wal }
}

/** Recomputes every view from the op log (store views.rebuild); returns how long it took (ms). */
export function rebuild(l: Local): number {
  const t0 = performance.now()
  views.rebuild(l.store)
  return performance.now() - t0
}
