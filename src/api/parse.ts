/**
 * Parsers for command-line values. Each returns a value or a message that says what was wrong and what
 * is accepted; the CLI prints it and exits 2.
 */
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'

const unitsS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }

/** Longest duration accepted: ten years, far past any useful TTL, well inside safe integers. */
export const durationSecondsMax = 10 * 365 * 86_400

/** "90s", "15m", "2h", "7d", "1w" (or a plain number of seconds) to seconds. */
export function parseDuration(text: string): Result<number, 'bad_duration'> {
  const m = /^(\d{1,9})([smhdw]?)$/.exec(text.trim())
  const seconds = m === null ? NaN : Number(m[1]) * (unitsS[m[2] || 's'] as number)
  if (!Number.isSafeInteger(seconds) || seconds <= 0 || seconds > durationSecondsMax) {
    return core.fail('bad_duration', `bad duration ${JSON.stringify(text)}: use a positive number with s, m, h, d or w (e.g. 90s, 2h, 7d), at most 10 years`)
  }
  return core.ok(seconds)
}

/** A point in time: an ISO 8601 date/time, or a duration meaning that long before now ("2h", "7d"). */
export function parseTime(text: string, nowMs: number): Result<number, 'bad_time'> {
  const d = parseDuration(text)
  if (d.ok) return core.ok(nowMs - d.value * 1000)
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) {
    const ms = Date.parse(text.trim())
    if (Number.isFinite(ms)) return core.ok(ms)
  }
  return core.fail('bad_time', `bad time ${JSON.stringify(text)}: use an ISO date (2026-11-22 or 2026-11-22T08:00:00Z) or an age (2h, 7d)`)
}

/** A positive integer count, e.g. for -n. */
export function parseCount(text: string, max: number): Result<number, 'bad_count'> {
  const n = /^\d{1,9}$/.test(text.trim()) ? Number(text) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > max) return core.fail('bad_count', `bad count ${JSON.stringify(text)}: use a whole number from 1 to ${max}`)
  return core.ok(n)
}
