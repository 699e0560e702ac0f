/**
 * Several processes on one store (CLI, MCP server and daemon share a node's identity): seq allocation
 * is atomic, and a process killed at any moment loses nothing it reported as written.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import * as log from '../log/index.ts'
import { testSigner } from '../log/log.test-util.ts'
import { opLog } from '../store/index.ts'

const writer = new URL('./store-writer.test-util.ts', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'grapevine-procs-'))
after(() => rmSync(dir, { recursive: true, force: true }))

type Child = { acked: Map<number, string>; ready: Promise<void>; exited: Promise<number | null>; kill(): void }

function startWriter(path: string, args: string[]): Child {
  const p = spawn(process.execPath, [writer, path, '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const acked = new Map<number, string>()
  let buffered = ''
  let stderr = ''
  let onReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (onReady = resolve))
  p.stdout.setEncoding('utf8')
  p.stdout.on('data', (chunk: string) => {
    buffered += chunk
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line === 'ready') onReady()
      const m = /^ok (\d+) ([0-9a-f]{64})$/.exec(line)
      if (m !== null) acked.set(Number(m[1]), m[2] as string)
    }
  })
  p.stderr.setEncoding('utf8')
  p.stderr.on('data', (c: string) => (stderr += c))
  const exited = new Promise<number | null>((resolve) =>
    p.on('close', (code) => {
      if (code !== 0 && code !== null) process.stderr.write(`writer exited ${code}: ${stderr}\n`)
      resolve(code)
    }),
  )
  return { acked, ready, exited, kill: () => p.kill('SIGKILL') }
}

/** Every acked op is in the store with the acked hash; seqs are 1..head with no hole; the chain verifies. */
function checkStore(path: string, acked: Map<number, string>): number {
  const r = opLog.open(path)
  assert.ok(r.ok, r.ok ? '' : r.detail)
  const s = r.value
  try {
    assert.deepEqual(opLog.integrityCheck(s), ['ok'])
    const author = testSigner(0).author
    const head = opLog.head(s, author)?.seq ?? 0
    const ops = opLog.opsAfter(s, author, 0, 1_000_000)
    assert.equal(ops.length, head, 'ops and head disagree: a half-applied write')
    ops.forEach((e, i) => assert.equal(e.op.seq, i + 1, 'a hole or a duplicate seq'))
    for (const [seq, hash] of acked) assert.equal(log.toHex(ops[seq - 1]!.hash), hash, `acked op ${seq} lost or changed`)
    // end to end: a fresh receiver accepts the whole history, batch by batch (every append ends signed)
    const fresh = opLog.open(join(dir, `verify-${Math.random().toString(36).slice(2)}.db`))
    assert.ok(fresh.ok)
    const { batches, rest } = log.cutBatches(ops)
    assert.equal(rest.length, 0, 'the stored history ends in an unsigned op')
    for (const b of batches) {
      const v = opLog.ingest(fresh.value, b, Date.now())
      assert.ok(v.ok, v.ok ? '' : `${v.reason}: ${v.detail}`)
    }
    opLog.close(fresh.value)
    return head
  } finally {
    opLog.close(s)
  }
}

test('store: two processes publishing 50 ops/s each for 10 s lose nothing and fork nothing', async () => {
  const path = join(dir, 'two.db')
  const seconds = Number(process.env['STORE_PROCS_SECONDS'] ?? 10)
  const a = startWriter(path, ['rate', '50', String(seconds)])
  const b = startWriter(path, ['rate', '50', String(seconds)])
  assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0])
  const acked = new Map([...a.acked, ...b.acked])
  assert.equal(acked.size, a.acked.size + b.acked.size, 'two processes were told they wrote the same seq')
  const head = checkStore(path, acked)
  assert.equal(head, acked.size)
  assert.ok(acked.size >= seconds * 100 * 0.8, `only ${acked.size} ops in ${seconds} s`)
})

test('store: 100 SIGKILLs at random moments lose no acknowledged op and leave no half-applied one', async () => {
  const path = join(dir, 'killed.db')
  const cycles = Number(process.env['STORE_KILL_CYCLES'] ?? 100)
  const acked = new Map<number, string>()
  let seed = 12345
  for (let c = 0; c < cycles; c++) {
    const w = startWriter(path, ['loop'])
    await w.ready
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
    await new Promise((resolve) => setTimeout(resolve, 5 + (seed % 60)))
    w.kill()
    await w.exited
    for (const [k, v] of w.acked) acked.set(k, v)
  }
  const head = checkStore(path, acked)
  assert.ok(head >= acked.size && acked.size > cycles, `acked ${acked.size}, head ${head}`)
})
