/**
 * One system's memory and encoded sizes, measured in a process of its own (spawned by bench/crdt.ts with
 * --expose-gc). Every child imports the same modules (all systems), so a child that builds nothing
 * ("none") is the baseline whose resident set the others are compared to.
 *
 * Usage: node --expose-gc bench/lib/crdt-child.ts '<json ChildParams>'; prints one JSON ChildReport line.
 */
import { fullGc } from './gc.ts'
import { lwwAdapters, lwwKey, systems } from './crdt-systems.ts'
import type { LwwWork, System } from './crdt-systems.ts'

export type ChildParams = { system: System | 'none'; ops: number; keyCount: number; deltaOps: number }

export type ChildReport = {
  system: System | 'none'
  rssBytes: number
  heapUsedBytes: number
  externalBytes: number
  buildMs: number
  fullStateBytes: number
  deltaBytes: number
  checks: number
}

function parseParams(arg: string | undefined): ChildParams {
  const p = JSON.parse(arg ?? '') as Partial<ChildParams>
  const okSystem = p.system === 'none' || systems.includes(p.system as System)
  const okNums = [p.ops, p.keyCount, p.deltaOps].every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
  if (!okSystem || !okNums) throw new Error(`crdt-child: bad parameters ${arg ?? '(none)'}`)
  return p as ChildParams
}

function run(p: ChildParams): ChildReport {
  const report: ChildReport = {
    system: p.system,
    rssBytes: 0,
    heapUsedBytes: 0,
    externalBytes: 0,
    buildMs: 0,
    fullStateBytes: 0,
    deltaBytes: 0,
    checks: 0,
  }
  // The baseline builds the same inputs, so that only the CRDT state differs.
  const keys = Array.from({ length: p.keyCount }, (_, i) => `k${i}`)
  if (p.system === 'none') {
    fullGc()
    const mem = process.memoryUsage()
    return { ...report, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external }
  }
  const adapter = lwwAdapters[p.system]
  const w: LwwWork = { keys, keyCount: p.keyCount, keyOffset: 0, valueOffset: 0 }

  // Workload (a): ops sets over keyCount keys, one transaction per op; the state stays referenced.
  const t0 = performance.now()
  const s: unknown = adapter.create(1)
  adapter.build(s, w, 0, p.ops)
  report.buildMs = performance.now() - t0
  fullGc()
  const mem = process.memoryUsage()
  report.rssBytes = mem.rss
  report.heapUsedBytes = mem.heapUsed
  report.externalBytes = mem.external

  // (d) sizes: the full state after workload (a), then the delta of deltaOps more sets on the same keys.
  const full = adapter.encodeFull(s)
  report.fullStateBytes = full.length
  const before: unknown = adapter.loadFull(full, 2)
  const delta = adapter.deltaOf(s, w, p.ops, p.ops + p.deltaOps)
  report.deltaBytes = delta.length

  // The delta must take a replica that had the full state to the new state: check every key.
  adapter.applyDelta(before, delta)
  const last = p.ops + p.deltaOps
  for (let j = 0; j < Math.min(p.keyCount, last); j++) {
    const key = lwwKey(w, j)
    const expected = j + p.keyCount * Math.floor((last - 1 - j) / p.keyCount)
    const got = adapter.get(s, key)
    const gotBefore = adapter.get(before, key)
    if (got !== expected || gotBefore !== expected) {
      throw new Error(
        `crdt-child ${p.system}: key ${key}: expected ${expected}, state ${String(got)}, after delta ${String(gotBefore)}`,
      )
    }
    report.checks += 2
  }
  return report
}

process.stdout.write(`${JSON.stringify(run(parseParams(process.argv[2])))}\n`)
