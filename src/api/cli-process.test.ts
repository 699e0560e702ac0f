import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, test } from 'node:test'

const bin = fileURLToPath(new URL('../../bin/grapevine.js', import.meta.url))
const root = mkdtempSync(join(tmpdir(), 'grapevine-proc-'))
after(() => rmSync(root, { recursive: true, force: true }))

// Both ways bin/grapevine.js runs the CLI: from the .ts sources, and from the bundle npm install builds
// (dist/grapevine.mjs), built here from the sources as they are now (again before each test, so that a
// source edited meanwhile in this work tree does not leave it stale).
const buildBundle = () =>
  spawnSync(process.execPath, [fileURLToPath(new URL('../../bin/build-cli.js', import.meta.url))], {
    encoding: 'utf8',
    timeout: 60_000,
  })
const built = buildBundle()
const bundled =
  built.status === 0 && existsSync(fileURLToPath(new URL('../../dist/grapevine.mjs', import.meta.url)))
const modes = [
  { mode: 'source', skip: false as const },
  {
    mode: 'bundle',
    skip: bundled ? (false as const) : `no bundle (bin/build-cli.js: ${built.stderr.trim()})`,
  },
]

for (const { mode, skip } of modes) {
  const env = { ...process.env, GRAPEVINE_CLI: mode }

  function run(dir: string, ...argv: string[]) {
    const r = spawnSync(process.execPath, [bin, ...argv], {
      env: { ...env, GRAPEVINE_HOME: dir, NO_COLOR: '' },
      encoding: 'utf8',
      timeout: 30_000,
    })
    return { code: r.status, out: r.stdout, err: r.stderr }
  }

  test(
    `cli process (${mode}): publish and tail as real processes: data on stdout, messages on stderr, exit codes 0/1/2`,
    { skip },
    () => {
      const dir = join(root, `a-${mode}`)
      if (mode === 'bundle') assert.equal(buildBundle().status, 0, 'bin/build-cli.js')
      const p = run(
        dir,
        '--json',
        'publish',
        'Convex cold-starts after 2h idle',
        '--channel',
        'warnings',
        '--tag',
        'convex',
      )
      assert.equal(p.code, 0, p.err)
      assert.match(
        p.err,
        /^grapevine: created identity agent-[0-9a-f]{6} /,
        'the implicit init is said on stderr',
      )
      const fact = JSON.parse(p.out) as { fact_id: string; channel: string }
      assert.equal(fact.channel, 'warnings')
      const t = run(dir, '--json', 'tail', '-n', '20')
      assert.equal(t.code, 0, t.err)
      assert.equal(t.err, '', 'nothing on stderr when all is well')
      assert.deepEqual(
        (JSON.parse(t.out) as { fact_id: string }[]).map((e) => e.fact_id),
        [fact.fact_id],
      )
      const human = run(dir, 'tail')
      assert.match(
        human.out,
        /^ *\d+s {2}agent-[0-9a-f]{6} {2}warnings {2}Convex cold-starts after 2h idle {2}#convex\n$/,
      )
      const bad = run(dir, 'publish', 'x', '--channel', 'rumours')
      assert.equal(bad.code, 2)
      assert.equal(bad.out, '', 'no data on bad usage')
      assert.match(bad.err, /unknown channel "rumours": use one of discoveries, patterns, warnings/)
      const missing = run(dir, 'fact', 'get', 'nope')
      assert.equal(missing.code, 1)
      assert.equal(missing.out, '')
      assert.equal(missing.err.trimEnd().split('\n').length, 1, 'one line')
    },
  )

  test(
    `cli process (${mode}): tail --follow prints a new entry as it is published, and exits 0 on SIGINT`,
    { skip },
    async () => {
      const dir = join(root, `b-${mode}`)
      if (mode === 'bundle') assert.equal(buildBundle().status, 0, 'bin/build-cli.js')
      assert.equal(run(dir, 'publish', 'first').code, 0)
      const child = spawn(process.execPath, [bin, '--json', 'tail', '--follow'], {
        env: { ...env, GRAPEVINE_HOME: dir },
      })
      let out = ''
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      const waitLines = async (n: number) => {
        const deadline = Date.now() + 20_000
        while (out.split('\n').filter((l) => l !== '').length < n) {
          assert.ok(Date.now() < deadline, `waited for ${n} lines; have ${JSON.stringify(out)}`)
          await new Promise((r) => setTimeout(r, 25))
        }
      }
      try {
        await waitLines(1)
        assert.equal(run(dir, 'publish', 'second').code, 0)
        await waitLines(2)
        child.kill('SIGINT')
        assert.equal(await exited, 0)
      } finally {
        child.kill('SIGKILL')
      }
      const values = out
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { value: string }).value)
      assert.deepEqual(values, ['first', 'second'])
    },
  )
}

test(
  'cli process (bundle): a read loads neither node:crypto, Node\'s streams, zod nor tty; a write loads them when it needs them',
  { skip: modes[1]?.skip ?? false },
  () => {
    assert.equal(buildBundle().status, 0, 'bin/build-cli.js')
    const dir = join(root, 'd-bundle')
    // what a run loaded: the built-in modules, and any of the bundle's lazy files
    const probe = (...argv: string[]) => {
      const script = [
        `process.argv.splice(1, Infinity, "grapevine", ...${JSON.stringify(argv)})`,
        `process.on('exit', () => {`,
        `  const cjs = Object.keys(process.getBuiltinModule('node:module')._cache).filter((f) => f.endsWith('.cjs'))`,
        `  const loaded = JSON.stringify([...process.moduleLoadList, ...cjs]) // before process.stderr loads more`,
        `  process.stderr.write('\\nLOADED ' + loaded + '\\n')`,
        `})`,
        `await (await import(${JSON.stringify(new URL('../../dist/grapevine.mjs', import.meta.url).href)})).run()`,
      ].join('\n')
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, GRAPEVINE_HOME: dir, NO_COLOR: '' },
        encoding: 'utf8',
        timeout: 30_000,
      })
      assert.equal(r.status, 0, r.stderr)
      const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED ')) ?? 'LOADED []'
      const loaded = JSON.parse(line.slice('LOADED '.length)) as string[]
      return (m: string) => loaded.some((x) => x === `NativeModule ${m}` || (m.startsWith('.') && x.endsWith(m)))
    }
    assert.ok(probe('publish', 'first')('crypto'), 'a write signs')
    const read = probe('tail', '-n', '20')
    for (const m of ['crypto', 'stream', 'tty', 'net', '.zod.cjs']) assert.ok(!read(m), `tail loaded ${m}`)
    assert.ok(read('sqlite'), 'the probe sees what is loaded')
    const write = probe('publish', 'second', '--tag', 'x')
    assert.ok(write('.zod.cjs') && write('crypto'), 'a write checks its body (zod) and signs (crypto)')
  },
)

test('cli process: a GRAPEVINE_CLI that is neither source nor bundle is bad usage, said in one line', () => {
  const r = spawnSync(process.execPath, [bin, 'tail'], {
    env: { ...process.env, GRAPEVINE_HOME: join(root, 'c'), GRAPEVINE_CLI: 'fast' },
    encoding: 'utf8',
    timeout: 30_000,
  })
  assert.equal(r.status, 2)
  assert.equal(r.stdout, '')
  assert.equal(r.stderr, 'grapevine: GRAPEVINE_CLI is "fast": use source or bundle, or leave it unset\n')
})
