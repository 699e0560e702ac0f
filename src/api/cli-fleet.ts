/**
 * The secure fleet's commands: `fleet create` (registered under `fleet` in cli-tasks.ts, which loads
 * fleetCreate from here), `invite`, `join`, `revoke` and `rotate-key`. They touch only the home's identity, fleet.json and
 * revocations (src/node/fleet-home.ts); revoke reads the store for the revoked node's head (its cutoff). Log/fleet.ts explains invites, capabilities and expiry.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import * as core from '../core/index.ts'
import * as log from '../log/index.ts'
import type { Capability } from '../log/index.ts'
import { fleetHome, home, local } from '../node/index.ts'
import { opLog } from '../store/index.ts'
import * as service from './service.ts'
import type { Identity } from '../node/index.ts'
import { arg, CliError, cli, UsageError, withLocal } from './cli-context.ts'
import type { Ctx, Io } from './cli-context.ts'
import { parseDuration } from './parse.ts'

function nowMs(io: Io): number {
  return io.clock?.nowMs() ?? Date.now()
}

/** This node's identity, made on first use (and said so on stderr), as every command does. */
function identity(io: Io): { dir: string; id: Identity } {
  const dir = home.resolveHome(io.env)
  const r = home.loadOrInit(dir)
  if (!r.ok) throw new CliError(`${r.detail} (check GRAPEVINE_HOME)`)
  if (r.value.created) io.err(`grapevine: created identity ${r.value.identity.name} (${r.value.identity.author.slice(0, 12)}…) in ${dir}\n`)
  return { dir, id: r.value.identity }
}

function capsText(caps: readonly Capability[]): string {
  return caps.join(',')
}

/** `grapevine fleet create`: a new fleet whose root key this node holds, with this node its first member. */
export async function fleetCreate(ctx: Ctx): Promise<void> {
  const { io } = ctx
  const { dir, id } = identity(io)
  const r = fleetHome.createFleet(dir, id, nowMs(io))
  if (!r.ok) throw new CliError(r.detail)
  const doc = { fleet: r.value.fleet, node: id.author, name: id.name, caps: r.value.credential.caps, root: true, home: dir }
  if (ctx.json()) io.out(JSON.stringify(doc) + '\n')
  else {
    io.out(`created fleet ${r.value.fleet}\n`)
    io.err(`grapevine: this node (${id.name}) holds the fleet's root key in ${dir}/${fleetHome.fleetFile}: keep it private; invite others with grapevine invite\n`)
  }
}

export function registerFleet(program: Command, ctx: Ctx): void {
  const { io } = ctx

  program
    .command('invite')
    .description('print an invite token for another node to join this fleet (on the node that created it)')
    .option('--caps <caps>', 'what the member may do, comma-separated: read, write:*, write:discoveries|patterns|warnings, write:fact:PREFIX*, write:status|task|counter|config', (v) => arg(log.parseCapabilities(v)), log.capsAll)
    .option('--expires <dur>', 'redeem it within this long (e.g. 1h, 7d; at most 365d)', (v) => arg(parseDuration(v)) * 1000, fleetHome.inviteMsDefault)
    .action((opts: { caps: Capability[]; expires: number }) => {
      const { dir, id } = identity(io)
      const state = fleetHome.load(dir, id)
      if (!state.ok) throw new CliError(state.detail)
      const now = nowMs(io)
      const inv = fleetHome.createInvite(state.value, opts.caps, opts.expires, now)
      if (!inv.ok) throw inv.reason === 'invalid' || inv.reason === 'invalid_capability' ? new UsageError(inv.detail) : new CliError(inv.detail)
      const token = log.encodeInviteToken(inv.value)
      const expiresAt = new Date(inv.value.expiresAtMs).toISOString()
      if (ctx.json()) {
        io.out(JSON.stringify({ token, fleet: inv.value.fleet, caps: inv.value.caps, expires_at: expiresAt, invite_id: inv.value.id }) + '\n')
      } else {
        io.out(token + '\n')
        io.err(`grapevine: invite ${inv.value.id} to fleet ${inv.value.fleet.slice(0, 12)}… (${capsText(inv.value.caps)}), to redeem before ${expiresAt}: on the new node run grapevine join TOKEN. Anyone holding the token can join until then: send it privately\n`)
      }
    })

  program
    .command('join <token>')
    .description('join a fleet with an invite token (from grapevine invite)')
    .action((token: string) => {
      const { dir, id } = identity(io)
      const r = fleetHome.joinFleet(dir, id, token, nowMs(io))
      if (!r.ok) {
        const usage = r.reason === 'malformed' || r.reason === 'too_large'
        throw usage ? new UsageError(`not an invite token: ${r.detail}`) : new CliError(r.detail)
      }
      const c = r.value.credential
      const doc = { fleet: r.value.fleet, node: id.author, name: id.name, caps: c.caps, invite_id: c.invite.id, joined_at: new Date(c.joinedAtMs).toISOString() }
      if (ctx.json()) io.out(JSON.stringify(doc) + '\n')
      else io.out(`joined fleet ${r.value.fleet.slice(0, 12)}… as ${id.name} (${capsText(c.caps)})\n`)
    })

  program
    .command('revoke [node]')
    .description('revoke a node (author id or a name grapevine fleet lists) or, with --invite, every node that joined with an invite (on the node that created the fleet); every node refuses it once the revocation reaches it')
    .option('--invite <id>', 'revoke the invite with this id (32 hex: grapevine invite printed it) and every credential made from it')
    .option('--reason <text>', 'why (kept with the revocation, at most 200 bytes)', '')
    .action(async (node: string | undefined, opts: { invite?: string; reason: string }) => {
      if ((node === undefined) === (opts.invite === undefined)) throw new UsageError('give a node (author id or name) or --invite ID, not both')
      const { dir, id } = identity(io)
      const state = fleetHome.load(dir, id)
      if (!state.ok) throw new CliError(state.detail)
      if (state.value.root === undefined) throw new CliError('only the node that created the fleet holds its root key and can revoke: run grapevine revoke there')
      let target: { node: log.AuthorId; cutoffSeq: number } | { inviteId: string }
      if (opts.invite !== undefined) {
        if (!/^[0-9a-f]{32}$/.test(opts.invite)) throw new UsageError('an invite id is 32 lowercase hex characters (grapevine invite printed it)')
        target = { inviteId: opts.invite }
      } else {
        // the cutoff: the revoked node's last op this node holds; its later ops are refused everywhere
        target = await withLocal(io, (l) => {
          const author = cli(() => service.resolveAuthor(service.readsAt(l, undefined).r, node as string))
          return { node: author, cutoffSeq: opLog.head(l.store, author)?.seq ?? 0 }
        })
      }
      const r = fleetHome.revoke(dir, state.value, target, opts.reason, nowMs(io))
      if (!r.ok) throw r.reason === 'invalid' ? new UsageError(r.detail) : new CliError(r.detail)
      const doc = { node: r.value.node ?? null, invite_id: r.value.inviteId ?? null, cutoff_seq: r.value.cutoffSeq, reason: r.value.reason, revoked_at: new Date(r.value.issuedAtMs).toISOString() }
      if (ctx.json()) io.out(JSON.stringify(doc) + '\n')
      else {
        io.out(r.value.node !== undefined ? `revoked node ${r.value.node} (its ops after seq ${r.value.cutoffSeq} are refused)\n` : `revoked invite ${r.value.inviteId}\n`)
        io.err('grapevine: recorded in this home; a running daemon here passes it to every peer within a second, and each passes it on\n')
      }
    })

  program
    .command('rotate-key')
    .description("replace this node's identity key (a suspected leak, or routine) and keep its place in the fleet: the old key's ops so far stay valid, its later ones and its handshakes are refused; the new key keeps the name and capabilities (stop the daemon first)")
    .action(async () => {
      const { dir, id } = identity(io)
      const state = fleetHome.load(dir, id)
      if (!state.ok) throw new CliError(state.reason === 'missing' ? `${state.detail} (a key outside a fleet has nobody to vouch for its successor)` : state.detail)
      const pid = daemonRunning(dir)
      if (pid !== undefined) throw new CliError(`stop the daemon first: grapevine rotate-key changes the identity the daemon signs with (a daemon runs on ${dir}, pid ${pid}); nothing was changed`)
      const now = nowMs(io)
      // under one store connection: the cutoff is the old key's head, and the new key's hello follows it
      const done = await withLocal(io, (l) => {
        const cutoff = opLog.head(l.store, id.author)?.seq ?? 0
        const r = fleetHome.rotateKey(dir, id, state.value, cutoff, now)
        if (!r.ok) throw new CliError(r.detail)
        // the new key introduces itself at once, under the node's name (views show author names per key)
        const hello = local.commit({ ...l, identity: r.value.identity, hlc: core.hlc.create(r.value.identity.author) }, [])
        return { r: r.value, cutoff, hello: hello.ok }
      })
      const doc = {
        old_node: id.author,
        node: done.r.identity.author,
        name: done.r.identity.name,
        cutoff_seq: done.cutoff,
        caps: done.r.state.credential.caps,
        retired: done.r.retired,
        rotated_at: new Date(done.r.rotation.issuedAtMs).toISOString(),
      }
      if (ctx.json()) io.out(JSON.stringify(doc) + '\n')
      else {
        io.out(`rotated ${id.name}: ${id.author.slice(0, 12)}… -> ${done.r.identity.author} (the old key's ops up to seq ${done.cutoff} stay valid; ${capsText(doc.caps)})\n`)
        io.err(`grapevine: the old key is kept in ${done.r.retired}; the rotation is recorded in this home: the daemon (grapevine up) passes it to every peer, which then refuses the old key\n`)
      }
      if (!done.hello) io.err("grapevine: the new key's agent.hello was not written; it will be with this node's next write\n")
    })
}

/**
 * The pid of a daemon running on this home, if one is: it rewrites <home>/daemon.json every second (and
 * says `stopped` when it closes). Rotation refuses then: the daemon holds the old key in memory, signs
 * with it and has every link authenticated with it; taking the new key up would mean re-handshaking every
 * link and swapping the store writer's signer mid-run, and a write it made in between would be past the
 * cutoff, lost. Stopping it first is one clear step.
 */
function daemonRunning(dir: string): number | undefined {
  let doc: unknown
  try {
    doc = JSON.parse(readFileSync(join(dir, 'daemon.json'), 'utf8'))
  } catch {
    return undefined // reason: no daemon ever ran here, or the file is mid-write garbage: nothing says one runs
  }
  const d = doc as { pid?: unknown; atMs?: unknown; stopped?: unknown }
  if (typeof d !== 'object' || d === null || d.stopped === true || typeof d.pid !== 'number' || typeof d.atMs !== 'number') return undefined
  if (Math.abs(Date.now() - d.atMs) > 5000) return undefined
  try {
    process.kill(d.pid, 0)
    return d.pid
  } catch {
    return undefined // reason: that process is gone
  }
}
