import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import * as log from '../log/index.ts'
import { fleetHome, home, local } from '../node/index.ts'
import { main } from './cli.ts'
import { createHttpApp } from './http.ts'
import { createMcpServer } from './mcp.ts'
import * as service from './service.ts'
import { ServiceError } from './service.ts'

const dir = mkdtempSync(join(tmpdir(), 'grapevine-caps-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** A member home of a new fleet whose invite gives it only read, write:status and write:warnings. */
function memberOfFleet(name: string): string {
  const now = Date.now()
  const rootHome = join(dir, `${name}-root`)
  const memberHome = join(dir, name)
  const rid = home.loadOrInit(rootHome)
  const mid = home.loadOrInit(memberHome)
  assert.ok(rid.ok && mid.ok)
  const f = fleetHome.createFleet(rootHome, rid.value.identity, now)
  assert.ok(f.ok)
  const inv = fleetHome.createInvite(f.value, ['read', 'write:status', 'write:warnings'], 60_000, now)
  assert.ok(inv.ok)
  assert.ok(fleetHome.joinFleet(memberHome, mid.value.identity, log.encodeInviteToken(inv.value), now).ok)
  return memberHome
}

test('a write outside this node\'s fleet capabilities is refused (forbidden) with a clear message and writes nothing; inside, it is written', () => {
  const l = local.openLocal(memberOfFleet('member'))
  assert.ok(l.ok)
  try {
    assert.throws(
      () => service.call(l.value, 'publish', { text: 'not mine to say' }),
      (e: unknown) => e instanceof ServiceError && e.kind === 'forbidden' && /may not write fact\.assert \(channel discoveries\).*read,write:status,write:warnings/.test(e.message),
    )
    assert.throws(() => service.call(l.value, 'taskAdd', { title: 't' }), /may not write task\.create/)
    // nothing was written, not even the hello that precedes a node's first op
    assert.equal(log.parseAuthorId(l.value.identity.author).ok, true)
    assert.equal(service.recentOps(l.value, {}).length, 0)
    service.call(l.value, 'publish', { text: 'the disk is almost full', channel: 'warnings' })
    service.call(l.value, 'statusSet', { text: 'fine' })
    assert.deepEqual(service.recentOps(l.value, {}).map((e) => e.op.kind).sort(), ['agent.hello', 'fact.assert', 'status.set'])
  } finally {
    local.closeLocal(l.value)
  }
  // a home in no fleet writes anything, as before
  const plain = local.openLocal(join(dir, 'plain'))
  assert.ok(plain.ok)
  service.call(plain.value, 'taskAdd', { title: 't' })
  local.closeLocal(plain.value)
})

test('forbidden at each edge: HTTP 403 with kind forbidden, CLI exit 1 with the message, MCP an isError result', async () => {
  const memberHome = memberOfFleet('edges')
  const refused = /may not write fact\.assert \(channel discoveries\): its fleet capabilities are read,write:status,write:warnings/
  // CLI: a failure (exit 1), not bad usage (2), with the service's message on stderr
  let err = ''
  const code = await main(['publish', 'not mine to say'], { out: () => undefined, err: (s) => (err += s), env: { GRAPEVINE_HOME: memberHome } })
  assert.equal(code, 1, err)
  assert.match(err, refused)
  const l = local.openLocal(memberHome)
  assert.ok(l.ok)
  try {
    // HTTP: 403, the kind and the message
    const token = 'c'.repeat(64)
    const h = await createHttpApp({ local: l.value, token })
    try {
      const post = (body: unknown) => h.app.request('/v1/publish', { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      const r = await post({ text: 'not mine to say' })
      assert.equal(r.status, 403)
      const doc = (await r.json()) as { error: { kind: string; message: string } }
      assert.equal(doc.error.kind, 'forbidden')
      assert.match(doc.error.message, refused)
      assert.equal((await post({ text: 'mine to say', channel: 'warnings' })).status, 201, 'inside the caps: written')
    } finally {
      h.close()
    }
    // MCP: an isError result naming the kind
    const server = await createMcpServer(l.value, () => undefined)
    const [a, b] = InMemoryTransport.createLinkedPair()
    const client = new Client({ name: 'caps-test', version: '1.0.0' })
    await Promise.all([server.connect(a), client.connect(b)])
    try {
      const r = (await client.callTool({ name: 'publish', arguments: { text: 'not mine to say' } })) as CallToolResult
      assert.equal(r.isError, true)
      const text = r.content[0]?.type === 'text' ? r.content[0].text : ''
      assert.match(text, /^forbidden: /)
      assert.match(text, refused)
    } finally {
      await client.close()
      await server.close()
    }
    // only the one write inside the caps (and the hello before it) reached the store
    assert.deepEqual(service.recentOps(l.value, {}).map((e) => e.op.kind).sort(), ['agent.hello', 'fact.assert'])
  } finally {
    local.closeLocal(l.value)
  }
})
