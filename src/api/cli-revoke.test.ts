import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import * as core from '../core/index.ts'
import type { AuthorId, FleetId } from '../log/index.ts'
import { fleetHome } from '../node/index.ts'
import { main } from './cli.ts'

const root = mkdtempSync(join(tmpdir(), 'grapevine-cli-revoke-'))
after(() => rmSync(root, { recursive: true, force: true }))
const clock = core.clock.createManualClock(Date.UTC(2026, 10, 30))

async function cli(dir: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s), env: { GRAPEVINE_HOME: dir }, clock })
  return { code, out, err }
}

test('cli: revoke a node by name (cutoff: its head here) or an invite, on the root only; a member with fewer caps is refused a write', async () => {
  const a = join(root, 'a')
  const b = join(root, 'b')
  const fleet = (JSON.parse((await cli(a, '--json', 'fleet', 'create')).out) as { fleet: FleetId }).fleet
  const inv = JSON.parse((await cli(a, '--json', 'invite', '--caps', 'read,write:status')).out) as { token: string; invite_id: string }
  const joined = JSON.parse((await cli(b, '--json', 'join', inv.token)).out) as { node: AuthorId; name: string }
  // b may set its status but not publish
  assert.equal((await cli(b, 'status', 'set', 'fine')).code, 0)
  const refused = await cli(b, 'publish', 'not allowed')
  assert.equal(refused.code, 1)
  assert.match(refused.err, /may not write fact\.assert \(channel discoveries\)/)
  // a learns b's ops (and name) as a folder or the daemon would bring them: here through a shared folder
  const shared = join(root, 'shared')
  assert.equal((await cli(b, 'sync', '--dir', shared)).code, 0)
  assert.equal((await cli(a, 'sync', '--dir', shared)).code, 0)
  assert.equal((await cli(b, 'revoke', joined.node)).code, 1, 'only the root revokes')
  assert.equal((await cli(a, 'revoke')).code, 2, 'a node or --invite')
  const r = await cli(a, '--json', 'revoke', joined.name, '--reason', 'left the team')
  assert.equal(r.code, 0, r.err)
  const doc = JSON.parse(r.out) as { node: string; cutoff_seq: number; reason: string }
  assert.equal(doc.node, joined.node)
  assert.equal(doc.cutoff_seq, 2, 'its hello and its status')
  assert.equal(doc.reason, 'left the team')
  const byInvite = await cli(a, 'revoke', '--invite', inv.invite_id)
  assert.equal(byInvite.code, 0, byInvite.err)
  const set = fleetHome.loadRevocations(a, fleet)
  assert.equal(set.nodes.get(joined.node), 2)
  assert.ok(set.invites.has(inv.invite_id))
})
