/**
 * Issue 5's fuzz bullet as a benchmark: malformed frames at a live fleet node (a daemon in a child
 * process, so its memory is its own): no crash, no hang, no memory growth, and an honest member still
 * syncs afterwards. The flood and its attackers are bench/lib/fuzz-flood.ts (read its header for what
 * "at the node" means); bench/fuzz.test.ts runs the same flood of 1M frames in CI and asserts on it.
 *
 * Reported: frames sent, by kind; what the node counted (invalid frames, links opened, bytes read); its
 * memory before and after (after a settle of 2 s and a full GC); elapsed time; whether the honest member
 * synced. FUZZ_LOG=1 prints the target daemon's log lines (one per refused link) on stderr.
 *
 * Usage: npm run bench -- fuzz [--frames N] (default 1,000,000)
 */
import { parseBenchArgs } from './lib/args.ts'
import { attackKinds, runFlood } from './lib/fuzz-flood.ts'
import type { FloodReport } from './lib/fuzz-flood.ts'

const usage = 'usage: npm run bench -- fuzz [--frames N]'

const mib = (x: number): string => (x / 1024 / 1024).toFixed(1)

/** The report, as lines of text. */
export function describe(r: FloodReport): string[] {
  const d = (k: keyof FloodReport['after']['stats']): number => r.after.stats[k] - r.before.stats[k]
  const kinds = attackKinds.map((k) => `${k} ${r.sentByKind[k]} (${r.connectionsByKind[k]} conn.)`).join(', ')
  return [
    `fuzz: ${r.sent} malformed frames sent in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.rounds} rounds: ${kinds}`,
    `node counted ${d('invalidFrames')} invalid frames (${r.invalidExpected} connections had to end that way), opened ${d('linksOpened')} links (${r.handshakes} handshakes), closed ${d('linksClosed')}, read ${mib(d('bytesIn'))} MiB; blocked ${r.roguesClosedByNode} of ${r.connectionsByKind.rogue} rogue members`,
    `node RSS ${mib(r.before.rss)} -> ${mib(r.after.rss)} MiB (${((r.after.rss / r.before.rss - 1) * 100).toFixed(1)}%); JS heap used ${mib(r.before.heap)} -> ${mib(r.after.heap)} MiB (reserved ${mib(r.before.heapTotal)} -> ${mib(r.after.heapTotal)}), external ${mib(r.before.external)} -> ${mib(r.after.external)} MiB`,
    `alive after: ${r.aliveAfter}; honest member synced: ${r.synced} (${r.syncMs.toFixed(0)} ms); exit code after quit ${String(r.exitCode)}`,
  ]
}

export async function main(argv: readonly string[]): Promise<number> {
  const args = parseBenchArgs('fuzz', argv, { frames: 'count' }, usage)
  if (args === undefined) return 2
  const r = await runFlood({ frames: args.frames ?? 1_000_000 })
  process.stdout.write(describe(r).join('\n') + '\n')
  return r.aliveAfter && r.synced ? 0 : 1
}
