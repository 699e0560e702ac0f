import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, test } from 'node:test'
import { hookAgents } from './brief.ts'
import type { HookAgent } from './brief.ts'
import * as hooks from './hooks.ts'

const root = mkdtempSync(join(tmpdir(), 'grapevine-hooks-'))
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0
const launch: hooks.Launch = { node: '/opt/node 24/bin/node', bin: '/srv/grapevine/bin/grapevine.js', grapevineHome: '/data/fleet home' }

function dirs() {
  const base = join(root, `d${n++}`)
  const d = { home: join(base, 'home'), project: join(base, 'project') }
  mkdirSync(d.home, { recursive: true })
  mkdirSync(d.project, { recursive: true })
  return d
}

/** What the user had before: other settings in every file install touches (its paths, per agent). */
function seed(path: string): string {
  if (path.endsWith('.toml')) {
    return [
      '# my codex config',
      'model = "o4-mini"',
      '',
      '[mcp_servers.other]',
      'command = "other-server"',
      'args = ["--flag"]',
      '',
      '[profiles.fast]',
      "notes = '''",
      '[mcp_servers.grapevine]',
      "not a table: inside a multi-line string'''",
      '',
    ].join('\n')
  }
  if (path.endsWith('hooks.json') && path.includes('.cursor')) return JSON.stringify({ version: 1, hooks: { afterFileEdit: [{ command: './fmt.sh' }] } }, null, 4) + '\n'
  return JSON.stringify({ theme: 'dark', hooks: { SessionStart: [{ matcher: 'startup', hooks: [{ type: 'command', command: 'echo hi' }] }] }, mcpServers: { other: { command: 'x' } } }, null, 2) + '\n'
}

/** The documented shape of each agent's files, checked on the installed text. */
function checkSchema(agent: HookAgent, path: string, text: string): void {
  const command = hooks.hookCommand(launch, agent)
  if (path.endsWith('.toml')) {
    // TOML: our table is the block we own, each line a header or `key = <a JSON literal>` (valid TOML basic strings/arrays)
    const at = text.indexOf('[mcp_servers.grapevine]\ncommand')
    assert.ok(at >= 0)
    const block = text.slice(at).trimEnd().split('\n')
    for (const line of block) if (line !== '' && !line.startsWith('[')) JSON.parse(line.replace(/^\w+ = /, ''))
    assert.match(text, /command = "\/opt\/node 24\/bin\/node"\nargs = \["\/srv\/grapevine\/bin\/grapevine.js", "mcp"\]/)
    assert.match(text, /\[mcp_servers\.grapevine\.env\]\nGRAPEVINE_HOME = "\/data\/fleet home"/)
    return
  }
  const doc = JSON.parse(text) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- reason: a config file's shape, checked field by field
  if (path.endsWith('mcp.json') || path.endsWith('.claude.json') || (agent === 'gemini' && doc['mcpServers'] !== undefined && path.endsWith('settings.json'))) {
    assert.deepEqual(doc['mcpServers']['grapevine'], { command: launch.node, args: [launch.bin, 'mcp'], env: { GRAPEVINE_HOME: launch.grapevineHome } })
  }
  if (agent === 'cursor' && path.endsWith('hooks.json')) {
    assert.equal(doc['version'], 1)
    assert.ok(doc['hooks']['sessionStart'].some((h: { command: string }) => h.command === command))
    return
  }
  if (path.endsWith('settings.json') || path.endsWith('hooks.json')) {
    const groups = doc['hooks']['SessionStart'] as { hooks: { type: string; command: string; name?: string }[] }[]
    const ours = groups.filter((g) => g.hooks.some((h) => h.command === command))
    assert.equal(ours.length, 1)
    assert.equal(ours[0]?.hooks[0]?.type, 'command')
    if (agent === 'gemini') assert.equal(ours[0]?.hooks[0]?.name, 'grapevine-brief')
  }
}

const snapshot = (paths: readonly string[]) => paths.map((p) => (existsSync(p) ? readFileSync(p).toString('base64') : null))

for (const agent of hookAgents) {
  for (const scope of ['project', 'user'] as const) {
    for (const start of ['absent', 'seeded'] as const) {
      test(`hooks ${agent} --${scope}, files ${start}: parses, documented shape, idempotent, uninstall restores the bytes`, () => {
        const d = dirs()
        const edits = hooks.editsFor(agent, scope, d, launch)
        const paths = edits.map((e) => e.path)
        if (start === 'seeded') {
          for (const p of paths) {
            mkdirSync(dirname(p), { recursive: true })
            writeFileSync(p, seed(p))
          }
        }
        const before = snapshot(paths)
        assert.ok(hooks.status(edits).every((s) => !s.installed))

        const first = hooks.install(edits)
        assert.ok(first.every((c) => c.change === 'written'), JSON.stringify(first))
        for (const p of paths) checkSchema(agent, p, readFileSync(p, 'utf8'))
        if (start === 'seeded') {
          for (const p of paths) {
            const t = readFileSync(p, 'utf8')
            if (p.endsWith('.toml')) assert.match(t, /# my codex config[\s\S]*\[mcp_servers\.other\][\s\S]*not a table: inside a multi-line string'''/)
            else if (p.includes('.cursor') && p.endsWith('hooks.json')) assert.match(t, /"afterFileEdit"/)
            else assert.match(t, /"theme": "dark"[\s\S]*"echo hi"/)
          }
        }
        assert.ok(hooks.status(edits).every((s) => s.installed))

        const installed = snapshot(paths)
        const second = hooks.install(edits)
        assert.ok(second.every((c) => c.change === 'unchanged'))
        assert.deepEqual(snapshot(paths), installed, 'a second install changes nothing')

        const gone = hooks.uninstall(edits)
        assert.ok(gone.every((c) => c.change === (start === 'seeded' ? 'restored' : 'deleted')), JSON.stringify(gone))
        assert.deepEqual(snapshot(paths), before, 'uninstall restores the original bytes')
        assert.ok(paths.every((p) => !existsSync(hooks.backupPath(p))))
        if (start === 'absent') assert.ok(paths.every((p) => !existsSync(dirname(p)) || p === join(d.project, '.mcp.json') || p === join(d.home, '.claude.json')), 'directories install made are gone')
      })
    }
  }
}

test('hooks: a file edited after install keeps the edit on uninstall; only grapevine entries go', () => {
  const d = dirs()
  const edits = hooks.editsFor('claude', 'project', d, launch)
  hooks.install(edits)
  const settings = edits[0]?.path as string
  const doc = JSON.parse(readFileSync(settings, 'utf8')) as Record<string, unknown>
  writeFileSync(settings, JSON.stringify({ ...doc, model: 'opus' }, null, 2) + '\n')
  const r = hooks.uninstall(edits)
  assert.equal(r[0]?.change, 'removed_entries')
  assert.deepEqual(JSON.parse(readFileSync(settings, 'utf8')), { model: 'opus' })
})

test('hooks: a config that does not parse is refused and nothing is written', () => {
  const d = dirs()
  const edits = hooks.editsFor('cursor', 'project', d, launch)
  const mcp = edits[1]?.path as string
  mkdirSync(dirname(mcp), { recursive: true })
  writeFileSync(mcp, '{ "mcpServers": { oops')
  assert.throws(() => hooks.install(edits), /is not valid JSON.*nothing was changed/)
  assert.equal(existsSync(edits[0]?.path as string), false, 'the other file was not written either')
  assert.equal(readFileSync(mcp, 'utf8'), '{ "mcpServers": { oops')

  const codex = hooks.editsFor('codex', 'user', d, launch)
  const toml = codex[1]?.path as string
  mkdirSync(dirname(toml), { recursive: true })
  writeFileSync(toml, 'mcp_servers.grapevine.command = "mine"\n')
  assert.throws(() => hooks.install(codex), /outside a \[mcp_servers\.grapevine\] table/)
})

test('hooks: the commands, through the CLI (--user, HOME from the environment)', async () => {
  const { main } = await import('./cli.ts')
  const d = dirs()
  const run = async (...argv: string[]) => {
    let out = ''
    let err = ''
    const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s), env: { HOME: d.home, GRAPEVINE_HOME: join(d.home, 'gv'), NO_COLOR: '1' } })
    return { code, out, err }
  }
  const first = await run('--json', 'hooks', 'install', '--agent', 'gemini', '--user')
  assert.equal(first.code, 0, first.err)
  const doc = JSON.parse(first.out) as { agent: string; scope: string; files: { path: string; change: string }[] }
  assert.deepEqual(doc.files, [{ path: join(d.home, '.gemini', 'settings.json'), change: 'written' }])
  const settings = JSON.parse(readFileSync(join(d.home, '.gemini', 'settings.json'), 'utf8')) as { hooks: { SessionStart: { hooks: { command: string }[] }[] }; mcpServers: { grapevine: { args: string[]; env: Record<string, string> } } }
  assert.match(settings.hooks.SessionStart[0]?.hooks[0]?.command ?? '', /^GRAPEVINE_HOME=\S+ \S+node\S* \S+\/bin\/grapevine\.js brief --hook gemini$/)
  assert.deepEqual(settings.mcpServers.grapevine.env, { GRAPEVINE_HOME: join(d.home, 'gv') })
  assert.match((await run('hooks', 'install', '--agent', 'gemini', '--user')).out, /^unchanged /)
  const st = JSON.parse((await run('--json', 'hooks', 'status', '--user')).out) as { agent: string; installed: boolean }[]
  assert.deepEqual(st.filter((r) => r.installed).map((r) => r.agent), ['gemini'])
  assert.equal((await run('hooks', 'install', '--agent', 'gemini', '--user', '--project')).code, 2)
  assert.equal((await run('hooks', 'install', '--agent', 'emacs')).code, 2)
  assert.match((await run('hooks', 'uninstall', '--agent', 'gemini', '--user')).out, /^deleted /)
  assert.equal(existsSync(join(d.home, '.gemini')), false)
})
