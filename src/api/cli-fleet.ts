/**
 * The secure fleet's commands: `fleet create` (registered under `fleet` in cli-tasks.ts, which loads
 * fleetCreate from here), `invite`, `join` and `revoke`. They touch only the home's identity, fleet.json and
 * revocations (src/node/fleet-home.ts); revoke reads the store for the revoked node's head (its cutoff). Log/fleet.ts explains invites, capabilities and expiry.
 */
import type { Command } from 'commander'
import * as log from '../log/index.ts'
import type { Capability } from '../log/index.ts'
import { fleetHome, home } from '../node/index.ts'
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
}
