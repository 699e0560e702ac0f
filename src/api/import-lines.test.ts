import assert from 'node:assert/strict'
import { test } from 'node:test'
import { lineKey, parseImportLine } from './import-lines.ts'

function good(line: string) {
  const r = parseImportLine(line)
  assert.ok(r !== undefined && r.ok, `${line}: ${r === undefined ? 'blank' : r.ok ? '' : r.detail}`)
  return r.value
}

function bad(line: string, pattern: RegExp): void {
  const r = parseImportLine(line)
  assert.ok(r !== undefined && !r.ok, `${line} is refused`)
  assert.match(r.detail, pattern)
}

test('import lines: a plain line is a discovery; its text is its value; tags as an array or one string', () => {
  const a = good(JSON.stringify({ text: 'cold starts', tags: ['convex'], author: 'claude', extra: 1 }))
  assert.equal(a.channel, 'discoveries')
  assert.equal(a.factId, undefined)
  assert.equal(a.body['value'], 'cold starts')
  assert.equal(a.body['text'], undefined, 'a string value is its own search text')
  assert.deepEqual(a.body['tags'], ['convex'])
  assert.deepEqual(good(JSON.stringify({ text: 'x', tags: 'a, b  c,a' })).body['tags'], ['a', 'b', 'c'])
  const v = good(JSON.stringify({ value: { n: 1 }, text: 'about n', channel: 'patterns' }))
  assert.deepEqual([v.channel, v.body['text']], ['patterns', 'about n'])
  assert.equal(parseImportLine('   '), undefined, 'blank lines are skipped')
})

test('import lines: times become valid_from, as ISO text, ms or Unix seconds', () => {
  const iso = good(JSON.stringify({ text: 'x', timestamp: '2026-11-01T10:00:00Z' }))
  assert.equal(iso.body['valid_from'], Date.parse('2026-11-01T10:00:00Z'))
  assert.equal(good(JSON.stringify({ text: 'x', timestamp: 1_762_000_000 })).body['valid_from'], 1_762_000_000_000)
  assert.equal(good(JSON.stringify({ text: 'x', timestamp: 1_762_000_000_123 })).body['valid_from'], 1_762_000_000_123)
  assert.equal(good(JSON.stringify({ text: 'x', valid_from: null, created_at: '2026-01-01T00:00:00Z' })).body['valid_from'], Date.parse('2026-01-01T00:00:00Z'))
  bad(JSON.stringify({ text: 'x', timestamp: 'yesterday' }), /timestamp must be an ISO date/)
})

test('import lines: our export shape keeps fact_id, channel null makes a keyed fact', () => {
  const k = good(JSON.stringify({ fact_id: 'deploy.region', value: 'eu', channel: null, verified: true, ttl_seconds: 60, versions: [] }))
  assert.deepEqual([k.factId, k.channel, k.body['verified'], k.body['ttl_seconds']], ['deploy.region', undefined, true, 60])
  const e = good(JSON.stringify({ fact_id: 'abc', value: 'an entry', channel: 'warnings', tags: ['t'] }))
  assert.deepEqual([e.factId, e.channel], ['abc', 'warnings'])
})

test('import lines: bad lines say what is wrong', () => {
  bad('{nope', /not JSON/)
  bad('[1]', /must be a JSON object, not an array/)
  bad('"text"', /must be a JSON object, not string/)
  bad(JSON.stringify({ tags: ['x'] }), /needs a "text" .* or a "value"/)
  bad(JSON.stringify({ text: 5 }), /text must be a string, not number/)
  bad(JSON.stringify({ text: 'x', channel: 'rumours' }), /unknown channel "rumours"/)
  bad(JSON.stringify({ text: 'x', tags: [1] }), /tags must be an array of strings/)
  bad(JSON.stringify({ fact_id: 'x'.repeat(300), value: 1 }), /fact_id is 300 bytes, over the limit of 256/)
  bad(JSON.stringify({ text: 'y'.repeat(40_000) }), /value is \d+ bytes encoded, over the limit/)
  bad('x'.repeat(1024 * 1024 + 1), /over 1048576 bytes/)
})

test('import lines: the key is a hash of the line, the same for the same content', () => {
  assert.equal(lineKey('{"text":"a"}'), lineKey('{"text":"a"}  '))
  assert.notEqual(lineKey('{"text":"a"}'), lineKey('{"text":"b"}'))
  assert.match(lineKey('x'), /^import:[0-9a-f]{32}$/)
})

test('import lines: liberal in the names plain files use (content, message, note, summary; tag; ts, time, date)', () => {
  assert.equal(good(JSON.stringify({ content: 'from content' })).body['value'], 'from content')
  assert.equal(good(JSON.stringify({ message: 'from message', tag: 'a,b' })).body['tags']?.toString(), 'a,b')
  assert.equal(good(JSON.stringify({ note: 'n', ts: 1_700_000_000 })).body['valid_from'], 1_700_000_000_000)
  assert.equal(good(JSON.stringify({ summary: 's', date: '2026-11-01' })).body['valid_from'], Date.UTC(2026, 10, 1))
  bad(JSON.stringify({ tags: ['x'] }), /needs a "text"/)
})

test('plain JSONL round trip: import a discoveries.jsonl, export --channel discoveries, and the export reads as the same plain file (text, tags, author, timestamp) and imports into another node as the same entries', async () => {
  const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { main } = await import('./cli.ts')
  const root = mkdtempSync(join(tmpdir(), 'grapevine-plain-'))
  try {
    let t = 1_800_000_000_000
    const clock = { nowMs: () => t++ }
    const run = async (home: string, ...argv: string[]) => {
      let out = ''
      let err = ''
      const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s), env: { GRAPEVINE_HOME: join(root, home) }, clock })
      return { code, out, err }
    }
    const plain = [
      { text: 'Convex cold-starts after 2h idle', tags: ['convex', 'latency'], author: 'claude-1', timestamp: '2026-11-01T10:00:00.000Z' },
      { text: 'staging DB resets nightly', tags: 'db, staging', author: 'codex', timestamp: '2026-11-02T11:30:00.000Z' },
      { content: 'an alias for text', timestamp: 1_793_000_000 },
      { tags: ['no text'] },
      'not json at all',
    ]
    const file = join(root, 'discoveries.jsonl')
    writeFileSync(file, plain.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join('\n') + '\n')
    const imp = await run('a', '--json', 'import', file)
    assert.equal(imp.code, 1) // two bad lines, reported; the good ones imported
    const rep = JSON.parse(imp.out) as { imported: number; bad: { line: number }[] }
    assert.deepEqual([rep.imported, rep.bad.map((b) => b.line)], [3, [4, 5]])
    const exp = await run('a', 'export', '--channel', 'discoveries')
    assert.equal(exp.code, 0)
    const lines = exp.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    const view = (ls: Record<string, unknown>[]) => ls.map((l) => [l['text'], [...(l['tags'] as string[])].sort(), l['timestamp']]).sort()
    assert.deepEqual(view(lines), [
      ['Convex cold-starts after 2h idle', ['convex', 'latency'], '2026-11-01T10:00:00.000Z'],
      ['an alias for text', [], new Date(1_793_000_000_000).toISOString()],
      ['staging DB resets nightly', ['db', 'staging'], '2026-11-02T11:30:00.000Z'],
    ])
    for (const l of lines) assert.equal(typeof l['author'], 'string')
    // the export, imported by another node, gives the same entries (as that node's)
    const out = join(root, 'exported.jsonl')
    writeFileSync(out, exp.out)
    assert.equal((await run('b', 'import', out)).code, 0)
    const again = await run('b', 'export', '--channel', 'discoveries')
    const lines2 = again.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    assert.deepEqual(view(lines2), view(lines))
    assert.equal((await run('b', 'import', out)).code, 0)
    assert.equal((await run('b', 'export', '--channel', 'discoveries')).out.trim().split('\n').length, 3, 'importing the same file again writes nothing')
    assert.ok(readFileSync(out, 'utf8').length > 0)
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})
