/**
 * Test helpers for live daemons in process (daemon*.test.ts, rotate.test.ts, revoke-partition.test.ts):
 * temporary homes and daemons that a file's after() cleans up even when a test failed, a polling wait,
 * a fleet set up in its homes, and a write through a second connection to a node's store.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import * as log from '../log/index.ts'
import type { SignedOp } from '../log/index.ts'
import { startDaemon } from './daemon.ts'
import type { Daemon, DaemonOptions } from './daemon.ts'
import * as fleetHome from './fleet-home.ts'
import type { FleetState } from './fleet-home.ts'
import * as home from './home.ts'
import { closeLocal, commit, openLocal } from './local.ts'

/** Membership and anti-entropy rounds of 200 ms, no state file: what most daemon tests run with. */
export const fastGossip: Partial<DaemonOptions> = {
  membership: { protocolPeriodMs: 200, probeTimeoutMs: 100 },
  antiEntropy: { intervalMs: 200 },
  stateFile: false,
}

export type DaemonHarness = {
  /** A new home (init'ed under `name`) in a temporary directory. */
  tempHome(name: string): string
  /** A new empty temporary directory, removed at the end of the file. */
  tempDir(): string
  /** startDaemon with the harness's defaults under `o`; the daemon is closed at the end of the file. */
  start(o: Partial<DaemonOptions> & { home: string }): Promise<Daemon>
  /** Closes a daemon and forgets it. */
  stop(d: Daemon): Promise<void>
  /** The daemons started and not stopped, in the order they started. */
  daemons(): Daemon[]
  /** Polls cond every 10 ms until it holds; fails after deadlineMs (a condition, not a fixed sleep). */
  waitFor(what: string, cond: () => boolean, deadlineMs?: number): Promise<void>
}

/**
 * A test file's daemons and homes. Call once at the top of the file: it registers the after() that
 * closes every daemon still running (a failed test leaves its daemons up, and their timers would keep the
 * file from ending) and removes every home.
 */
export function daemonHarness(o: { tmpPrefix: string; label: string; waitMs?: number; defaults?: Partial<DaemonOptions> }): DaemonHarness {
  const dirs: string[] = []
  const running = new Set<Daemon>()
  after(async () => {
    for (const d of running) await d.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), o.tmpPrefix))
    dirs.push(d)
    return d
  }
  return {
    tempHome(name) {
      const d = tempDir()
      assert.ok(home.init(d, name).ok)
      return d
    },
    tempDir,
    async start(opts) {
      const d = await startDaemon({ ...o.defaults, ...opts } as DaemonOptions) // the defaults or opts give listenHost and listenPort
      running.add(d)
      return d
    },
    async stop(d) {
      running.delete(d)
      await d.close()
    },
    daemons: () => [...running],
    async waitFor(what, cond, deadlineMs = o.waitMs ?? 8000) {
      const t0 = performance.now()
      while (!cond()) {
        if (performance.now() - t0 > deadlineMs) throw new Error(`${o.label}: ${what} not within ${deadlineMs} ms`)
        await new Promise((r) => setTimeout(r, 10))
      }
    },
  }
}

/** A home's identity (its signer and author). */
export function identityOf(h: string): home.Identity {
  const r = home.load(h)
  assert.ok(r.ok, r.ok ? '' : r.detail)
  return r.value
}

/**
 * A fleet whose root is `rootHome`, joined by every home of `members` through an invite of `caps` valid
 * `ttlMs`: one invite for all of them, or one each with `invitePerMember`. The root and the (last) invite.
 */
export function createTestFleet(
  rootHome: string,
  members: readonly string[],
  o: { caps: readonly string[]; ttlMs: number; nowMs: () => number; invitePerMember?: boolean },
): { root: FleetState; invite: log.Invite } {
  const root = fleetHome.createFleet(rootHome, identityOf(rootHome), o.nowMs())
  assert.ok(root.ok, root.ok ? '' : root.detail)
  const newInvite = (): log.Invite => {
    const inv = fleetHome.createInvite(root.value, o.caps, o.ttlMs, o.nowMs())
    assert.ok(inv.ok)
    return inv.value
  }
  let invite = newInvite()
  members.forEach((h, i) => {
    if (o.invitePerMember === true && i > 0) invite = newInvite()
    assert.ok(fleetHome.joinFleet(h, identityOf(h), log.encodeInviteToken(invite), o.nowMs()).ok)
  })
  return { root: root.value, invite }
}

/**
 * Writes one channel entry through a second connection to the node's store, as the CLI does (no
 * capability check: local.commit is below the service); with fact id `e/<text>` unless `factId` is false.
 * Its seq and the node's author.
 */
export function writeEntry(dir: string, text: string, o: { factId?: boolean } = {}): { seq: number; author: log.AuthorId } {
  const l = openLocal(dir)
  assert.ok(l.ok)
  const body = { ...(o.factId === false ? {} : { fact_id: `e/${text}` }), value: text, channel: 'discoveries', supersedes: [], verified: false }
  const r = commit(l.value, [{ kind: 'fact.assert', body }])
  closeLocal(l.value)
  assert.ok(r.ok, r.ok ? '' : r.detail)
  return { seq: (r.value.ops[r.value.ops.length - 1] as SignedOp).op.seq, author: l.value.identity.author }
}

/** The highest seq of `author` a daemon holds (0 for none). */
export const seqOf = (d: Daemon, author: string): number => d.versionVector().get(author as never) ?? 0
/** Whether `d` has a live link to `other`. */
export const linked = (d: Daemon, other: Daemon): boolean => d.peers().some((p) => p.id === other.id && p.linked)
