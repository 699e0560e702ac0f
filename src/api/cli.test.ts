import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { DatabaseSync } from 'node:sqlite'
import { home, local } from '../node/index.ts'
import { Command } from 'commander'
import { commandModules, createProgram, fastRun, fdWriter, main } from './cli.ts'
import { parseDuration, parseTime } from './parse.ts'

const root = mkdtempSync(join(tmpdir(), 'grapevine-cli-'))
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0

async function cli(dir: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s), env: { GRAPEVINE_HOME: dir } })
  return { code, out, err }
}

const freshHome = (): string => join(root, `h${n++}`)

test('cli: init creates a private identity once; a second init changes nothing and fails', async () => {
  const dir = freshHome()
  const one = await cli(dir, '--json', 'init', '--name', 'london')
  assert.equal(one.code, 0, one.err)
  const doc = JSON.parse(one.out) as { name: string; author: string }
  assert.equal(doc.name, 'london')
  assert.match(doc.author, /^[0-9a-f]{64}$/)
  const file = join(dir, home.identityFile)
  assert.equal(statSync(file).mode & 0o777, 0o600)
  const before = readFileSync(file)
  const two = await cli(dir, 'init', '--name', 'paris')
  assert.equal(two.code, 1)
  assert.match(two.err, /already has an identity; nothing was changed/)
  assert.deepEqual(readFileSync(file), before)
})

test('cli: bad usage exits 2 with one line that says what was wrong', async () => {
  const dir = freshHome()
  for (const argv of [['init', '--name', ''], ['init', '--name', 'a\u0007b'], ['log', '-n', '0'], ['log', '-n', 'lots'], ['log', '--author', 'bob'], ['log', '--as-of', 'yesterday-ish'], ['frobnicate']]) {
    const r = await cli(dir, ...argv)
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`)
    assert.ok(r.err.length > 0 && !/\n\s+at /.test(r.err), `${argv.join(' ')}: no stack traces, a message: ${r.err}`)
  }
})

test('cli: any command initialises implicitly, says so on stderr, and log shows ops newest first', async () => {
  const dir = freshHome()
  const first = await cli(dir, '--json', 'log')
  assert.equal(first.code, 0)
  assert.match(first.err, /created identity agent-[0-9a-f]{6}/)
  assert.deepEqual(JSON.parse(first.out), [])
  let t = 1_700_000_000_000
  const opened = local.openLocal(dir, { nowMs: () => (t += 1000) })
  assert.ok(opened.ok)
  const w = local.write(opened.value, [1, 2, 3].map((i) => ({ kind: 'fact.assert', body: { fact_id: `f${i}`, value: i } })))
  assert.ok(w.ok)
  local.closeLocal(opened.value)
  const again = await cli(dir, '--json', 'log', '-n', '2')
  assert.equal(again.err, '', 'no second init')
  const ops = JSON.parse(again.out) as { seq: number; kind: string; body: { value: number } }[]
  assert.deepEqual(
    ops.map((o) => o.seq),
    [3, 2],
  )
  const asOf = await cli(dir, '--json', 'log', '--as-of', new Date(1_700_000_002_500).toISOString())
  assert.deepEqual(
    (JSON.parse(asOf.out) as { seq: number }[]).map((o) => o.seq),
    [2, 1],
  )
  const human = await cli(dir, 'log', '-n', '1')
  assert.match(human.out, /#3 {2}fact\.assert {2}\{"fact_id":"f3","value":3\}/)
})

test('cli: a damaged identity or a newer store is reported in one line, and nothing is rewritten', async () => {
  const dir = freshHome()
  assert.equal((await cli(dir, 'init')).code, 0)
  const idFile = join(dir, home.identityFile)
  const good = readFileSync(idFile, 'utf8')
  writeFileSync(idFile, good.replace(/"seed": "[0-9a-f]{2}/, '"seed": "zz'))
  const bad = await cli(dir, 'log')
  assert.equal(bad.code, 1)
  assert.match(bad.err, /bad seed/)
  writeFileSync(idFile, good)
  const db = new DatabaseSync(join(dir, home.storeFile))
  db.exec('PRAGMA user_version = 9')
  db.close()
  const before = readFileSync(join(dir, home.storeFile))
  const newer = await cli(dir, 'log')
  assert.equal(newer.code, 1)
  assert.match(newer.err, /format 9.*Upgrade grapevine/)
  assert.deepEqual(readFileSync(join(dir, home.storeFile)), before)
})

test('cli: an identity whose seed is not its author\'s key reads, and refuses to write in one line', async () => {
  const dir = freshHome()
  assert.equal((await cli(dir, 'init')).code, 0)
  const idFile = join(dir, home.identityFile)
  const doc = JSON.parse(readFileSync(idFile, 'utf8')) as { seed: string }
  writeFileSync(idFile, JSON.stringify({ ...doc, seed: doc.seed.replace(/^../, (x) => (x === '00' ? '01' : '00')) }))
  assert.equal((await cli(dir, 'tail')).code, 0, 'reading needs no key')
  const w = await cli(dir, 'publish', 'x')
  assert.equal(w.code, 1)
  assert.match(w.err, /^grapevine: .*cannot sign as [0-9a-f]{64}\n$/)
})

test('cli: the stdout writer writes whole strings, survives partial writes, and falls back to the stream on EAGAIN', () => {
  const got: Buffer[] = []
  let calls = 0
  const partial = (fd: number, buf: Uint8Array, off = 0) => {
    calls++
    const n = Math.min(3, buf.length - off) // at most 3 bytes a call
    got.push(Buffer.from(buf.subarray(off, off + n)))
    return n
  }
  fdWriter(1, partial as never)('héllo wörld\n')
  assert.equal(Buffer.concat(got).toString('utf8'), 'héllo wörld\n')
  assert.ok(calls > 4)
  const streamed: string[] = []
  const write = process.stdout.write
  process.stdout.write = ((b: Uint8Array | string) => (streamed.push(Buffer.from(b).toString('utf8')), true)) as never
  try {
    let first = true
    const eagain = (_fd: number, buf: Uint8Array, off = 0) => {
      if (first) {
        first = false
        return 2
      }
      void buf
      void off
      throw Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' })
    }
    const out = fdWriter(1, eagain as never)
    out('abcdef')
    out('gh')
    assert.deepEqual(streamed, ['cdef', 'gh'], 'the rest, then everything after, goes through the stream in order')
  } finally {
    process.stdout.write = write
  }
})

test('cli: tail\'s fast path takes only plain lines, and prints what commander\'s path prints for them', async () => {
  const dir = freshHome()
  let t = 1_800_000_000_000
  const clock = { nowMs: () => t }
  const io = (sink: { out: string; err: string }) => ({
    out: (s: string) => (sink.out += s),
    err: (s: string) => (sink.err += s),
    env: { GRAPEVINE_HOME: dir },
    clock,
  })
  for (const [i, ch] of ['warnings', 'patterns', 'discoveries', 'warnings'].entries()) {
    const sink = { out: '', err: '' }
    assert.equal(await main(['publish', `entry ${i}`, '--channel', ch, '--ttl', i === 0 ? '1h' : '7d'], io(sink)), 0, sink.err)
    t += 1000
  }
  t += 2 * 3_600_000 // entry 0 is stale now
  const plain = [
    ['tail'],
    ['--json', 'tail'],
    ['tail', '-n', '2'],
    ['tail', '--channel', 'warnings', '-n', '5'],
    ['--json', 'tail', '--include-stale', '--channel', 'warnings'],
    ['tail', '--as-of', '2h'],
  ]
  for (const argv of plain) {
    assert.notEqual(await fastRun(argv, io({ out: '', err: '' })), undefined, `fast: ${argv.join(' ')}`)
    const fast = { out: '', err: '' }
    assert.equal(await main(argv, io(fast)), 0, fast.err)
    const slow = { out: '', err: '' }
    await (await createProgram(io(slow), argv)).parseAsync(argv, { from: 'user' })
    assert.deepEqual(fast, slow, argv.join(' '))
    assert.ok(fast.out.length > 0, argv.join(' '))
  }
  // everything else goes to commander, which words its own errors
  const other = [
    ['tail', '-n', 'lots'],
    ['tail', '-n', '0'],
    ['tail', '-n'],
    ['tail', '-n', '-3'],
    ['tail', '-n20'],
    ['tail', '--channel=warnings'],
    ['tail', '--channel', 'rumours'],
    ['tail', '-n', '2', '-n', '3'],
    ['tail', 'extra'],
    ['tail', '--help'],
    ['tail', '--json'],
    ['tail', '--as-of', 'last tuesday', '--follow'],
    ['publish', 'x'],
  ]
  for (const argv of other.slice(0, -2)) assert.equal(await fastRun(argv, io({ out: '', err: '' })), undefined, argv.join(' '))
  const bad = { out: '', err: '' }
  assert.equal(await main(['tail', '-n', 'lots'], io(bad)), 2)
  assert.match(bad.err, /^error: option '-n <count>' argument 'lots' is invalid\. bad count "lots": use a whole number from 1 to 10000\n/)
  const channel = { out: '', err: '' }
  assert.equal(await main(['tail', '--channel', 'rumours'], io(channel)), 2)
  assert.match(channel.err, /unknown channel "rumours": use one of discoveries, patterns, warnings/)
  // a fast line whose action refuses is reported as commander's path reports it
  const both = { out: '', err: '' }
  assert.equal(await main(['tail', '--as-of', '2h', '--follow'], io(both)), 2)
  assert.equal(both.err, 'grapevine: --follow and --as-of do not go together: the past does not change\n')
  const asOf = { out: '', err: '' }
  assert.equal(await main(['tail', '--as-of', 'last tuesday'], io(asOf)), 2)
  assert.match(asOf.err, /^grapevine: bad time "last tuesday"/)
})

test('cli: durations and times parse, and say what is accepted when they do not', () => {
  assert.deepEqual(parseDuration('7d'), { ok: true, value: 604_800 })
  assert.deepEqual(parseDuration('90'), { ok: true, value: 90 })
  for (const bad of ['', '0s', '-1h', '7 days', '1y', '99999999999d']) {
    const r = parseDuration(bad)
    assert.ok(!r.ok && /use a positive number/.test(r.detail), bad)
  }
  assert.deepEqual(parseTime('2h', 10_000_000), { ok: true, value: 10_000_000 - 7_200_000 })
  assert.deepEqual(parseTime('2026-11-22T08:00:00Z', 0), { ok: true, value: Date.parse('2026-11-22T08:00:00Z') })
  assert.ok(!parseTime('last tuesday', 0).ok)
})

test('cli: each command module registers exactly the commands cli.ts loads it for; a run loads only its own', async () => {
  const io = { out: () => {}, err: () => {}, env: {} }
  const ctx = { io, json: () => false }
  const seen: string[] = []
  for (const [key, m] of Object.entries(commandModules)) {
    const program = new Command('grapevine')
    ;(await m.load())(program, ctx)
    assert.deepEqual(program.commands.map((c) => c.name()).sort(), [...m.commands].sort(), key)
    seen.push(...m.commands)
  }
  const names = async (...argv: string[]) => (await createProgram(io, argv)).commands.map((c) => c.name()).sort()
  assert.deepEqual(await names(), ['init', ...seen].sort(), 'help lists every command')
  assert.deepEqual(await names('--json', 'tail', '-n', '3'), ['init', ...commandModules.facts.commands].sort())
  assert.deepEqual(await names('task', 'list'), ['init', ...commandModules.tasks.commands].sort())
  assert.deepEqual(await names('init'), ['init'])
  assert.deepEqual(await names('tial'), ['init', ...seen].sort(), 'an unknown command gets suggestions from all')
  const typo = await cli(freshHome(), 'tial')
  assert.equal(typo.code, 2)
  assert.match(typo.err, /unknown command 'tial'[\s\S]*Did you mean tail\?/)
})
