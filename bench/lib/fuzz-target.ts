/**
 * The fuzz's target (bench/lib/fuzz-flood.ts spawns it): a fleet daemon in a process of its own, so that
 * its memory is measured apart from the attackers'. It prints `{"address"}` once listening, then answers
 * each line on stdin with one JSON sample, taken after a full GC: `sample` (memory and the daemon's
 * counters), `seq AUTHOR` (the same, and the highest seq of AUTHOR this node holds); `quit` closes the
 * daemon and exits 0.
 *
 * Usage: node --expose-gc bench/lib/fuzz-target.ts HOME
 */
import { createInterface } from 'node:readline'
import type { AuthorId } from '../../src/log/index.ts'
import { startDaemon } from '../../src/node/network.ts'
import type { DaemonStats } from '../../src/node/network.ts'
import { fullGc } from './gc.ts'

export type TargetSample = {
  /**
   * Bytes after a full GC: the resident set; the JS heap used and reserved (heapTotal: pages V8 holds);
   * external memory (Buffers, ArrayBuffers).
   */
  rss: number
  heap: number
  heapTotal: number
  external: number
  stats: DaemonStats
  /** The highest seq held of the author asked about (0 for `sample`). */
  seq: number
}

const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: node --expose-gc bench/lib/fuzz-target.ts HOME')
const d = await startDaemon({ home: dir, listenHost: '127.0.0.1', listenPort: 0, security: 'fleet', stateFile: false, antiEntropy: { intervalMs: 200 }, log: process.env['FUZZ_LOG'] === '1' ? (l) => void process.stderr.write(l + '\n') : undefined })
const say = (x: unknown): void => void process.stdout.write(JSON.stringify(x) + '\n')
say({ address: d.address })
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'quit') break
  const author = line.startsWith('seq ') ? line.slice(4) : ''
  fullGc()
  const m = process.memoryUsage()
  const sample: TargetSample = { rss: m.rss, heap: m.heapUsed, heapTotal: m.heapTotal, external: m.external, stats: d.stats(), seq: author === '' ? 0 : (d.versionVector().get(author as AuthorId) ?? 0) }
  say(sample)
}
await d.close()
process.exit(0)
