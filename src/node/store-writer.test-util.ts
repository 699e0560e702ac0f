/**
 * A child process that appends to a store, for the multi-process and crash tests: it prints one line
 * `ok <seq> <hash hex>` for every op only after the append that wrote it has committed, so every line
 * the parent reads is an op the store reported as written.
 *
 *   node store-writer.test-util.ts <db> <signer index> rate <ops per second> <seconds>
 *   node store-writer.test-util.ts <db> <signer index> loop
 */
import * as core from '../core/index.ts'
import * as log from '../log/index.ts'
import { testSigner } from '../log/log.test-util.ts'
import { opLog } from '../store/index.ts'

const [path, signerIndex, mode, a, b] = process.argv.slice(2)
const opened = opLog.open(path as string)
if (!opened.ok) {
  process.stderr.write(`${opened.reason}: ${opened.detail}\n`)
  process.exit(1)
}
const s = opened.value
const signer = testSigner(Number(signerIndex))
const clock: core.Clock = { nowMs: () => Date.now() }
const hlc = core.hlc.create(signer.author)
let i = 0

function appendSome(count: number): void {
  const intents = Array.from({ length: count }, () => ({
    kind: 'fact.assert',
    body: { fact_id: `p${process.pid}-${i}`, value: `written by ${process.pid}, op ${i++}` },
  }))
  const r = opLog.append(s, signer, hlc, clock, intents)
  if (!r.ok) throw new Error(r.detail)
  process.stdout.write(r.value.ops.map((e) => `ok ${e.op.seq} ${log.toHex(e.hash)}\n`).join(''))
}

process.stdout.write('ready\n')
if (mode === 'rate') {
  const perSecond = Number(a)
  const endMs = Date.now() + Number(b) * 1000
  const timer = setInterval(() => {
    if (Date.now() >= endMs) {
      clearInterval(timer)
      opLog.close(s)
      return
    }
    appendSome(1)
  }, 1000 / perSecond)
} else {
  // as fast as it can, in appends of 1..4 ops, until killed
  for (;;) appendSome(1 + (i % 4))
}
