import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseChannel, parseValue } from './cli-context.ts'
import { parseKey } from './cli-facts.ts'
import { parseStep } from './cli-tasks.ts'
import { age, oneLine, paint } from './format.ts'

test('format: ages are compact and never negative', () => {
  const now = 10_000_000_000
  assert.deepEqual(
    [0, 59_000, 60_000, 3_599_000, 3_600_000, 86_400_000, 13 * 86_400_000, 15 * 86_400_000].map((d) => age(now - d, now)),
    ['0s', '59s', '1m', '59m', '1h', '1d', '13d', '2w'],
  )
  assert.equal(age(now + 5000, now), '0s', 'a clock ahead of ours')
})

test('format: one line, shortened', () => {
  assert.equal(oneLine('a\n\tb  c'), 'a b c')
  assert.equal(oneLine('x'.repeat(10), 5), 'xxxx…')
})

test('format: colour only on a terminal without NO_COLOR', () => {
  const io = (isTTY: boolean, env: Record<string, string>) => ({ out: () => {}, err: () => {}, env, isTTY })
  assert.equal(paint(io(true, {})).red('x'), '\u001b[31mx\u001b[0m')
  assert.equal(paint(io(true, { NO_COLOR: '1' })).red('x'), 'x')
  assert.equal(paint(io(false, {})).red('x'), 'x')
  assert.equal(paint(io(true, { NO_COLOR: '' })).red('x'), '\u001b[31mx\u001b[0m', 'an empty NO_COLOR is unset (no-color.org)')
})

test('parsers: values, channels, keys, counter steps', () => {
  assert.equal(parseValue('42'), 42)
  assert.deepEqual(parseValue('{"a":[1,null]}'), { a: [1, null] })
  assert.equal(parseValue('eu-west-1'), 'eu-west-1')
  assert.equal(parseValue('"quoted"'), 'quoted')
  assert.equal(parseValue('1e999'), '1e999', 'not a finite JSON number: kept as text')
  assert.deepEqual(parseChannel('warnings'), { ok: true, value: 'warnings' })
  assert.ok(!parseChannel('Warnings').ok)
  assert.ok(parseKey('k').ok && !parseKey('').ok && !parseKey('é'.repeat(129)).ok)
  assert.deepEqual(parseStep('-3'), { ok: true, value: -3 })
  for (const s of ['0', '1.5', '', '2000000000', 'x']) assert.ok(!parseStep(s).ok, s)
})
