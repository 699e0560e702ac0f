/**
 * Agents for the folder and git sync tests and the folder benchmark: a home each, opened in process
 * with a manual clock, and the writes an agent makes (entries, keyed facts, retractions, verified
 * resolutions, tasks), built as the CLI builds them.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import * as core from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import * as home from './home.ts'
import * as local from './local.ts'
import type { Local } from './local.ts'

export type Agent = { readonly l: Local; readonly clock: core.clock.ManualClock }

/** A new agent named name, its home under root, its clock at startMs. */
export function createAgent(root: string, name: string, startMs: number): Agent {
  const dir = join(root, `home-${name}`)
  mkdirSync(dir, { recursive: true })
  const id = home.init(dir, name)
  if (!id.ok) throw new Error(id.detail)
  const clock = core.clock.createManualClock(startMs)
  const l = local.openLocal(dir, clock)
  if (!l.ok) throw new Error(l.detail)
  return { l: l.value, clock }
}

function write(a: Agent, kind: string, input: Record<string, unknown>): void {
  const d = knowledge.draftBody(kind, input)
  if (!d.ok) throw new Error(d.detail)
  const r = local.commit(a.l, [{ kind: d.value.kind, body: d.value.body }])
  if (!r.ok) throw new Error(r.detail)
}

function live(a: Agent, factId: string): string[] {
  return local.reads(a.l).fact(factId, { nowMs: a.clock.nowMs(), includeStale: true })?.versions.map((v) => v.dot) ?? []
}

export function publish(a: Agent, text: string, channel: knowledge.Channel = 'discoveries'): void {
  write(a, 'fact.assert', { value: text, channel, tags: ['sync'], supersedes: [], verified: false })
}

export function setFact(a: Agent, id: string, value: core.Json, verified = false): void {
  write(a, 'fact.assert', { fact_id: id, value, supersedes: live(a, id), verified })
}

export function retract(a: Agent, id: string): void {
  write(a, 'fact.retract', { fact_id: id, observed: live(a, id), reason: 'wrong' })
}

export function addTask(a: Agent, id: string, title: string): void {
  write(a, 'task.create', { task_id: id, title, depends: [] })
}

export function doneTask(a: Agent, id: string): void {
  write(a, 'task.done', { task_id: id, result: 'ok' })
}

export function closeAgent(a: Agent): void {
  local.closeLocal(a.l)
}
