/**
 * `npm run bench -- network --trace`: where propagation's time goes, per hop. The daemons run with
 * GRAPEVINE_TRACE=1 and append, in epoch ms (performance.timeOrigin + now(), one clock for every process
 * of the machine):
 *   <home>/trace-daemon.log  `push AUTHOR SEQ T0 T1 TW`         the origin's fast-path push of its own op
 *                                                               (T0 before, T1 after sealing every frame;
 *                                                               TW when the API said it wrote)
 *                            `in AUTHOR SEQ fast|ae RX T0 T1`   an op stored from a peer: RX the fast-path
 *                                                               frame's arrival (opened), T0-T1 the ingest
 *   <home>/trace-api.log     `sse AUTHOR SEQ T`                 the op's event written to an SSE stream
 * and this process notes, per event, when the publish request went and when each stream's chunk came.
 * Hops of each (event, receiving daemon): request -> API committed -> origin push, push -> frame opened on the receiver,
 * opened -> ingest start, ingest, stored -> SSE written, SSE written -> this process's receipt.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { quantile } from './network-proc.ts'

/** One traced event: the publish request's time and every node's receipt (epoch ms), and its op. */
export type TracedEvent = {
  readonly origin: number
  readonly sentMs: number
  author: string | undefined
  seq: number | undefined
  readonly receivedMs: number[]
}

type DaemonTrace = {
  push: Map<string, { t0: number; t1: number; written: number }>
  in: Map<string, { kind: string; rx: number; t0: number; t1: number }>
  sse: Map<string, number>
}

const lines = (path: string): string[] => {
  try {
    return readFileSync(path, 'utf8').split('\n')
  } catch {
    return []
  }
}

export function readTrace(home: string): DaemonTrace {
  const t: DaemonTrace = { push: new Map(), in: new Map(), sse: new Map() }
  for (const l of lines(join(home, 'trace-daemon.log'))) {
    const f = l.split(' ')
    if (f[0] === 'push' && f.length === 6)
      t.push.set(`${f[1]}/${f[2]}`, { t0: Number(f[3]), t1: Number(f[4]), written: Number(f[5]) })
    else if (f[0] === 'in' && f.length === 7)
      t.in.set(`${f[1]}/${f[2]}`, { kind: f[3] as string, rx: Number(f[4]), t0: Number(f[5]), t1: Number(f[6]) })
  }
  for (const l of lines(join(home, 'trace-api.log'))) {
    const f = l.split(' ')
    const k = `${f[1]}/${f[2]}`
    if (f[0] === 'sse' && f.length === 4 && !t.sse.has(k)) t.sse.set(k, Number(f[3]))
  }
  return t
}

/** The op (author, seq) an SSE op event's data names. */
export function opOf(data: string): { author: string; seq: number } | undefined {
  const m = /"author":"([^"]+)","seq":(\d+)/.exec(data)
  return m === null ? undefined : { author: m[1] as string, seq: Number(m[2]) }
}

const hops = [
  'request -> API committed (origin)',
  'API committed -> origin push',
  'origin push (seal, write all)',
  'push -> frame opened on receiver',
  'opened -> ingest start',
  'ingest (verify, SQLite, fsync)',
  'stored -> SSE written',
  'SSE written -> bench receipt',
] as const

/** Lines summing the hops over every (event, receiving daemon), and over the last daemon of each event. */
export function summarize(events: readonly TracedEvent[], homes: readonly string[]): string[] {
  const traces = homes.map((h) => readTrace(h))
  const all: number[][] = hops.map(() => [])
  const last: number[][] = hops.map(() => [])
  const toAll: number[] = []
  let viaAe = 0
  let missing = 0
  let pairs = 0
  for (const e of events) {
    if (e.author === undefined || e.seq === undefined) continue
    const k = `${e.author}/${e.seq}`
    const push = traces[e.origin]?.push.get(k)
    if (push === undefined) {
      missing++
      continue
    }
    let worst: number[] | undefined
    let worstAt = -Infinity
    for (let j = 0; j < traces.length; j++) {
      if (j === e.origin) continue
      const t = traces[j] as DaemonTrace
      const got = t.in.get(k)
      const sse = t.sse.get(k)
      const rec = e.receivedMs[j] as number
      pairs++
      if (got === undefined || sse === undefined || !Number.isFinite(rec)) {
        missing++
        continue
      }
      if (got.kind !== 'fast') viaAe++
      const xs = [
        push.written - e.sentMs,
        push.t0 - push.written,
        push.t1 - push.t0,
        got.rx - push.t0,
        got.t0 - got.rx,
        got.t1 - got.t0,
        sse - got.t1,
        rec - sse,
      ]
      xs.forEach((x, h) => (all[h] as number[]).push(x))
      if (rec > worstAt) {
        worstAt = rec
        worst = xs
      }
    }
    if (worst !== undefined) {
      worst.forEach((x, h) => (last[h] as number[]).push(x))
      toAll.push(worstAt - e.sentMs)
    }
  }
  const f = (x: number): string => x.toFixed(1).padStart(7)
  const out = [
    `trace: ${events.length} events, ${pairs} (event, receiver) pairs, ${viaAe} stored through anti-entropy, ${missing} without a full trace; ms`,
    `  ${'hop'.padEnd(36)} ${'p50'.padStart(7)} ${'p95'.padStart(7)} ${'max'.padStart(7)} | last receiver: ${'p50'.padStart(7)} ${'mean'.padStart(7)}`,
  ]
  hops.forEach((name, h) => {
    const a = all[h] as number[]
    const l = last[h] as number[]
    const mean = l.length === 0 ? NaN : l.reduce((s, x) => s + x, 0) / l.length
    out.push(
      `  ${name.padEnd(36)} ${f(quantile(a, 0.5))} ${f(quantile(a, 0.95))} ${f(quantile(a, 1))} |                ${f(quantile(l, 0.5))} ${f(mean)}`,
    )
  })
  out.push(`  to all (traced events): p50 ${quantile(toAll, 0.5).toFixed(1)} p95 ${quantile(toAll, 0.95).toFixed(1)}`)
  return out
}
