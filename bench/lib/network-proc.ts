/**
 * Process-level figures for bench/network.ts: CPU time of a process from /proc/<pid>/stat, free loopback
 * ports (TCP and UDP at once, as a Serf agent binds both), the load average, and waiting on a condition.
 */
import { readFileSync } from 'node:fs'
import * as dgram from 'node:dgram'
import * as net from 'node:net'
import * as os from 'node:os'

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux everywhere). */
export const clockTicksPerSecond = 100

/** User + system CPU time of a process so far, in ms; undefined once it is gone. */
export function cpuMs(pid: number): number | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // the command name (field 2) may hold spaces and parentheses: count fields after the last ')'
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const utime = Number(rest[11])
  const stime = Number(rest[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined
  return ((utime + stime) * 1000) / clockTicksPerSecond
}

/** The sum of cpuMs over processes (the gone ones count 0). */
export function totalCpuMs(pids: readonly number[]): number {
  let n = 0
  for (const p of pids) n += cpuMs(p) ?? 0
  return n
}

/** The 1, 5 and 15 minute load averages, as printed. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
}

async function portFree(port: number): Promise<boolean> {
  const tcp = await new Promise<net.Server | undefined>((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(undefined))
    s.listen(port, '127.0.0.1', () => resolve(s))
  })
  if (tcp === undefined) return false
  const udp = await new Promise<dgram.Socket | undefined>((resolve) => {
    const s = dgram.createSocket('udp4')
    s.once('error', () => resolve(undefined))
    s.bind(port, '127.0.0.1', () => resolve(s))
  })
  await new Promise<void>((r) => tcp.close(() => r()))
  if (udp === undefined) return false
  await new Promise<void>((r) => udp.close(() => r()))
  return true
}

/**
 * n loopback ports free for both TCP and UDP just now, from a random start in 20000..50000 (another
 * process could still take one before it is bound; the caller then sees its agent fail to start).
 */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = []
  let p = 20_000 + Math.floor(Math.random() * 30_000)
  while (out.length < n) {
    if (p > 60_000) p = 20_000
    if (await portFree(p)) out.push(p)
    p++
  }
  return out
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Polls cond every stepMs until it holds (true) or deadlineMs passes (false). */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  deadlineMs: number,
  stepMs = 50,
): Promise<boolean> {
  const t0 = performance.now()
  for (;;) {
    if (await cond()) return true
    if (performance.now() - t0 > deadlineMs) return false
    await sleep(stepMs)
  }
}

/** The q-quantile of a sample (nearest rank, q in 0..1); NaN for an empty one. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number
}
