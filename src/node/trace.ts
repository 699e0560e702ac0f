/**
 * GRAPEVINE_TRACE=1 (off by default; bench/network.ts --trace): the daemon and the HTTP API append one line
 * per hop of an op (pushed, stored from a peer, written to an event stream) to a file in the node's home,
 * with times in epoch ms (performance.timeOrigin + now(): comparable across the processes of one machine),
 * to show where propagation's time goes. A trace is diagnostics: a failed write is ignored.
 */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'

export type Tracer = {
  /** Appends one line. */
  readonly line: (text: string) => void
  /** Now, in epoch ms with sub-ms precision. */
  readonly nowMs: () => number
}

/** A tracer writing `<home>/<file>` when GRAPEVINE_TRACE=1, else undefined (callers skip their timing). */
export function open(home: string, file: string): Tracer | undefined {
  if (process.env['GRAPEVINE_TRACE'] !== '1') return undefined
  const path = join(home, file)
  return {
    line: (text) => {
      try {
        appendFileSync(path, `${text}\n`)
      } catch {
        // reason: a trace never breaks the node
      }
    },
    nowMs: () => performance.timeOrigin + performance.now(),
  }
}
