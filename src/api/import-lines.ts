/**
 * Lines of an import file, read liberally. Two shapes are accepted, one JSON object per line:
 *
 *   - Grapevine's own export (`grapevine export`, the `fact get --json` shape): fact_id, value, channel
 *     (null for a keyed fact), tags, text, verified, ttl_seconds, causal_id, valid_from, valid_to, …
 *   - a plain discoveries.jsonl as agents write it: `text` (or `content`, `message`, `note`, `summary`)
 *     or `value`, and optionally `tags` (or `tag`: an array, or one string of comma- or space-separated
 *     tags), `channel`, `timestamp` (or `ts`, `time`, `date`), `author`.
 *
 * The importing node becomes the author of what it imports (it cannot sign for anyone else), so the
 * original author is not kept as the author; a line's time (valid_from, else timestamp, else created_at)
 * becomes `valid_from`, the time the knowledge was true from. Fields this reader does not know are
 * ignored. Each line's idempotency key is derived from its exact content, so importing a file again
 * writes nothing new.
 */
import { createHash } from 'node:crypto'
import type { Json, Result } from '../core/index.ts'
import * as core from '../core/index.ts'
import * as knowledge from '../knowledge/index.ts'
import type { Channel } from '../knowledge/index.ts'

/** A line longer than this is refused before it is parsed. */
export const lineBytesMax = 1024 * 1024

/** What one good line asks to write: a fact.assert body without `supersedes` (set at write time). */
export type ImportLine = {
  readonly factId: string | undefined
  readonly channel: Channel | undefined
  readonly body: Record<string, unknown>
  readonly idempotencyKey: string
}

/** The idempotency key of a line: its content's hash, so the same line imported twice writes once. */
export function lineKey(line: string): string {
  return `import:${createHash('sha256').update(line.trim()).digest('hex').slice(0, 32)}`
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v
}

/** A time field: ISO text, or a number of ms (or of seconds, below 10^11: Unix timestamps). */
function timeMs(v: unknown, field: string): Result<number | undefined, 'bad_line'> {
  if (v === undefined || v === null) return core.ok(undefined)
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return core.ok(Math.round(v < 1e11 ? v * 1000 : v))
  if (typeof v === 'string') {
    const ms = Date.parse(v)
    if (Number.isFinite(ms) && ms >= 0) return core.ok(ms)
  }
  return core.fail('bad_line', `${field} must be an ISO date or a number of ms since 1970, not ${JSON.stringify(v)}`)
}

function tagsOf(v: unknown): Result<string[] | undefined, 'bad_line'> {
  if (v === undefined || v === null) return core.ok(undefined)
  if (typeof v === 'string') return core.ok([...new Set(v.split(/[\s,]+/).filter((t) => t !== ''))])
  if (Array.isArray(v) && v.every((t) => typeof t === 'string')) return core.ok([...new Set(v as string[])])
  return core.fail('bad_line', `tags must be an array of strings or one string, not ${describe(v)}`)
}

/** Where a plain line's text may be: `text`, else the first of the other names agents use. */
export const textFields = ['text', 'content', 'message', 'note', 'summary'] as const

/** Where a line's time may be, in order: Grapevine's own, then the plain files' names for it. */
export const timeFields = ['valid_from', 'timestamp', 'created_at', 'ts', 'time', 'date'] as const

/** One line, checked (kinds.ts draftBody checks the body as a write would). Blank lines are undefined. */
export function parseImportLine(line: string): Result<ImportLine, 'bad_line'> | undefined {
  if (line.trim() === '') return undefined
  if (line.length > lineBytesMax) return core.fail('bad_line', `the line is over ${lineBytesMax} bytes`)
  let doc: unknown
  try {
    doc = JSON.parse(line)
  } catch (e) {
    return core.fail('bad_line', `not JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return core.fail('bad_line', `a line must be a JSON object, not ${describe(doc)}`)
  const d = doc as Record<string, unknown>
  // the text under the names agents' own files use for it (the first one present)
  const textField = textFields.find((f) => typeof d[f] === 'string')
  const text = textField === undefined ? undefined : (d[textField] as string)
  if (d['text'] !== undefined && d['text'] !== null && text === undefined) return core.fail('bad_line', `text must be a string, not ${describe(d['text'])}`)
  const value: unknown = d['value'] !== undefined ? d['value'] : text
  if (value === undefined || !core.json.isJson(value)) return core.fail('bad_line', 'a line needs a "text" (a string) or a "value" (any JSON)')
  const factId = typeof d['fact_id'] === 'string' ? d['fact_id'] : undefined
  if (d['fact_id'] !== undefined && d['fact_id'] !== null && factId === undefined) return core.fail('bad_line', `fact_id must be a string, not ${describe(d['fact_id'])}`)
  let channel: Channel | undefined
  const c = d['channel']
  if (typeof c === 'string') {
    channel = knowledge.channels.find((x) => x === c)
    if (channel === undefined) return core.fail('bad_line', `unknown channel ${JSON.stringify(c)}: use one of ${knowledge.channels.join(', ')}`)
  } else if (c !== undefined && c !== null) return core.fail('bad_line', `channel must be a string, not ${describe(c)}`)
  // a plain line (no fact_id) is an entry; without a channel it is a discovery
  if (channel === undefined && factId === undefined) channel = 'discoveries'
  const tags = tagsOf(d['tags'] ?? d['tag'])
  if (!tags.ok) return tags
  const timeField = timeFields.find((f) => d[f] !== undefined && d[f] !== null) ?? 'valid_from'
  const from = timeMs(d[timeField], timeField)
  if (!from.ok) return from
  const to = timeMs(d['valid_to'], 'valid_to')
  if (!to.ok) return to
  const body: Record<string, unknown> = {
    fact_id: factId,
    value: value as Json,
    verified: d['verified'] === true,
    ttl_seconds: typeof d['ttl_seconds'] === 'number' ? d['ttl_seconds'] : undefined,
    causal_id: typeof d['causal_id'] === 'string' ? d['causal_id'] : undefined,
    channel,
    tags: tags.value,
    // a string value is its own search text; a separate text is kept only beside a different value
    text: text !== undefined && value !== text ? text : undefined,
    valid_from: from.value,
    valid_to: to.value,
  }
  const check = knowledge.draftBody('fact.assert', { ...body, supersedes: [] })
  if (!check.ok) return core.fail('bad_line', check.detail)
  return core.ok({ factId, channel, body, idempotencyKey: lineKey(line) })
}
