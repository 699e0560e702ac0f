import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, test } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { home, local } from '../node/index.ts'
import { opLog } from '../store/index.ts'
import { tools } from './mcp.ts'

const cli = fileURLToPath(new URL('./cli.ts', import.meta.url))
const root = mkdtempSync(join(tmpdir(), 'grapevine-mcp-'))
after(() => rmSync(root, { recursive: true, force: true }))

/** A real `grapevine mcp` process on a home, with the SDK's client talking to it over stdio. */
async function connect(dir: string): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [cli, 'mcp'], env: { ...process.env, GRAPEVINE_HOME: dir, NO_COLOR: '1' } as Record<string, string>, stderr: 'pipe' })
  let err = ''
  transport.stderr?.on('data', (b: Buffer) => (err += b.toString()))
  const client = new Client({ name: 'grapevine-test', version: '1.0.0' })
  await client.connect(transport)
  return { client, stderr: () => err }
}

const call = async (c: Client, name: string, args: Record<string, unknown> = {}) => (await c.callTool({ name, arguments: args })) as CallToolResult
const ok = (r: CallToolResult): Record<string, unknown> => {
  assert.notEqual(r.isError, true, JSON.stringify(r.content))
  assert.equal(r.content[0]?.type, 'text')
  assert.ok(r.structuredContent !== undefined)
  return r.structuredContent
}

let me: string
let other: string
before(() => {
  me = join(root, 'me')
  other = join(root, 'other')
  assert.ok(home.init(me, 'me').ok)
  assert.ok(home.init(other, 'other').ok)
  const l = local.openLocal(me) // creates the store that other shares
  assert.ok(l.ok)
  local.closeLocal(l.value)
  symlinkSync(join(me, home.storeFile), join(other, home.storeFile))
})

test('mcp: lists every tool with a schema, a description and annotations; each tool works; bad input is an isError result', async () => {
  const { client, stderr } = await connect(me)
  try {
    const listed = await client.listTools()
    const names = listed.tools.map((t) => t.name).sort()
    assert.deepEqual(names, ['brief', ...tools.map((t) => t.name)].sort())
    assert.equal(names.length, 15)
    for (const t of listed.tools) {
      assert.match(t.name, /^[a-z]+(_[a-z]+)*$/, 'snake_case')
      assert.ok((t.description ?? '').length > 40, `${t.name} has a description an agent can act on`)
      assert.equal(t.inputSchema.type, 'object')
      assert.equal(typeof t.annotations?.readOnlyHint, 'boolean')
      assert.equal(typeof t.annotations?.destructiveHint, 'boolean')
    }
    const schema = listed.tools.find((t) => t.name === 'publish')?.inputSchema
    assert.deepEqual(schema?.required, ['text'])
    assert.equal(listed.tools.find((t) => t.name === 'retract_fact')?.annotations?.destructiveHint, true)
    assert.equal(listed.tools.find((t) => t.name === 'recent')?.annotations?.readOnlyHint, true)

    const pub = ok(await call(client, 'publish', { text: 'redis 7.2 drops idle clients after 300s', channel: 'warnings', tags: ['redis'], verified: true }))
    assert.equal(pub['written'], true)
    assert.equal(pub['channel'], 'warnings')
    const recent = ok(await call(client, 'recent', { n: 5 }))
    assert.equal((recent['entries'] as { value: string }[])[0]?.value, 'redis 7.2 drops idle clients after 300s')
    const hits = ok(await call(client, 'search', { q: 'redis idle' }))
    assert.equal((hits['hits'] as unknown[]).length, 1)
    ok(await call(client, 'set_fact', { id: 'deploy.region', value: 'eu-west-1' }))
    assert.equal(ok(await call(client, 'get_fact', { id: 'deploy.region' }))['value'], 'eu-west-1')
    assert.deepEqual(ok(await call(client, 'list_conflicts'))['tickets'], [])
    const v = ok(await call(client, 'verify_fact', { id: 'deploy.region', value: 'eu-west-2' }))
    assert.equal((v['fact'] as { value: string }).value, 'eu-west-2')
    const r = ok(await call(client, 'retract_fact', { id: 'deploy.region', reason: 'moved' }))
    assert.equal((r['retracted'] as unknown[]).length, 1)
    ok(await call(client, 'set_status', { text: 'testing the mcp server', health: 'ok' }))
    const fleet = ok(await call(client, 'fleet_status'))
    assert.ok((fleet['agents'] as { status: string | null }[]).some((a) => a.status === 'testing the mcp server'))
    const task = ok(await call(client, 'create_task', { title: 'ship it' }))
    const id = task['task_id'] as string
    assert.equal(ok(await call(client, 'claim_task', { id }))['outcome'], 'won')
    assert.equal(ok(await call(client, 'complete_task', { id, result: { ok: true } }))['state'], 'done')
    assert.equal((ok(await call(client, 'list_tasks'))['tasks'] as unknown[]).length, 1)
    const b = await call(client, 'brief', { budget_chars: 2000, peek: true })
    assert.match((b.content[0] as { text: string }).text, /Grapevine brief for me/)
    assert.equal(ok(b)['mode'], 'latest')

    // bad input: clear isError results, never a crash of the server
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['publish', { text: 'x', channel: 'rumours' }, /unknown channel "rumours"/],
      ['publish', {}, /text/],
      ['get_fact', { id: 'no.such.fact' }, /unknown fact/],
      ['claim_task', { id: 'nope' }, /unknown task/],
      ['recent', { n: 0 }, /bad count/],
      ['search', { q: 'x', color: 'red' }, /color|unrecognized/i],
      ['brief', { budget_chars: 5 }, /bad budget/],
    ]
    for (const [name, args, why] of bad) {
      const res = await call(client, name, args)
      assert.equal(res.isError, true, `${name} ${JSON.stringify(args)}`)
      assert.match((res.content[0] as { text: string }).text, why)
    }
    assert.equal(ok(await call(client, 'list_tasks'))['tasks'] !== undefined, true, 'the server still answers')
    assert.match(stderr(), /serving 15 tools/)
  } finally {
    await client.close()
  }
})

test('mcp: two server processes and a CLI writing at once lose nothing', async () => {
  const a = await connect(me)
  const b = await connect(other)
  const perWriter = 25
  const perCli = 6 // a process each (~0.3-1 s to start from the sources on a loaded machine)
  try {
    const cliWrites = new Promise<number>((done) => {
      const script = `for i in $(seq 1 ${perCli}); do "${process.execPath}" "${cli}" publish "from the cli $i" >/dev/null || exit 1; done`
      spawn('sh', ['-c', script], { env: { ...process.env, GRAPEVINE_HOME: me }, stdio: 'ignore' }).on('exit', (code) => done(code ?? 1))
    })
    const writes = (c: Client, who: string) =>
      (async () => {
        for (let i = 0; i < perWriter; i++) ok(await call(c, 'publish', { text: `from ${who} ${i}` }))
      })()
    await Promise.all([writes(a.client, 'server a'), writes(b.client, 'server b')])
    assert.equal(await cliWrites, 0)
    // one agent claims a task, then another: the second is told it lost, and who holds it
    const id = ok(await call(a.client, 'create_task', { title: 'only one of us' }))['task_id']
    const first = ok(await call(a.client, 'claim_task', { id }))
    assert.equal(first['outcome'], 'won')
    // a claim in the same millisecond would be concurrent (decided by author id): wait for the next one
    const claimedMs = Date.parse(first['claimed_at'] as string)
    while (Date.now() <= claimedMs + 1) await new Promise((done) => setImmediate(done))
    const second = ok(await call(b.client, 'claim_task', { id }))
    assert.equal(second['outcome'], 'lost')
    assert.equal(second['claimed_by_name'], 'me')
  } finally {
    await a.client.close()
    await b.client.close()
  }
  const l = local.openLocal(me)
  assert.ok(l.ok)
  try {
    const texts = new Set(local.reads(l.value).entries({ nowMs: Date.now(), limit: 1000 }).map((e) => e.value as string))
    for (let i = 0; i < perWriter; i++) {
      assert.ok(texts.has(`from server a ${i}`), `server a ${i}`)
      assert.ok(texts.has(`from server b ${i}`), `server b ${i}`)
    }
    for (let i = 1; i <= perCli; i++) assert.ok(texts.has(`from the cli ${i}`), `cli ${i}`)
    assert.deepEqual(opLog.integrityCheck(l.value.store), ['ok'])
  } finally {
    local.closeLocal(l.value)
  }
})
