/**
 * A node's local side as the CLI and the MCP server use it: its identity and its store, opened from its
 * home directory, with the real clock. Works with no daemon and no network.
 */
import { join } from 'node:path'
import * as core from '../core/index.ts'
import type { Clock, Result } from '../core/index.ts'
import { opLog } from '../store/index.ts'
import type { Intent, OpLog } from '../store/index.ts'
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
