/**
 * A dot on the wire and in view rows: the compact string `<author>:<seq>`, the author's 64 lowercase hex
 * characters, a colon, then the seq in decimal with no leading zero (`ab…ab:17`). One dot, one string:
 * that makes the string usable as a key (a SQL column, a Map key, ticket-id input) without parsing.
 *
 * Why a string and not `{author, seq}`: a fact's `supersedes` list is the part of a body that grows with
 * concurrency, and the string is 13 bytes shorter per dot than the object; it also reads well in the
 * JSONL of the shared folder, and `sort` on the strings groups a dot list by author.
 */
import type { Dot } from '../core/index.ts'
import type { AuthorId } from '../log/index.ts'

/** `<author hex>:<seq>`; made by formatDot or checked by parseDotRef. */
export type DotRef = string & { readonly __brand: 'DotRef' }

/** The longest dot ref: 64 hex, a colon, and the 16 digits of 2^53-1. */
export const dotRefCharsMax = 64 + 1 + 16

const dotRefPattern = /^([0-9a-f]{64}):([1-9][0-9]{0,15})$/

/** A dot with its author typed as the log types it. */
export type AuthorDot = { readonly node: AuthorId; readonly seq: number }

export function formatDot(d: Dot): DotRef {
  return `${d.node}:${d.seq}` as DotRef
}

/** The dot a ref names, or undefined if the string is not a canonical dot ref. */
export function parseDotRef(s: unknown): AuthorDot | undefined {
  if (typeof s !== 'string' || s.length > dotRefCharsMax) return undefined
  const m = dotRefPattern.exec(s)
  if (m === null) return undefined
  const seq = Number(m[2])
  if (!Number.isSafeInteger(seq)) return undefined
  return { node: m[1] as AuthorId, seq }
}

/** Is this string a canonical dot ref? */
export function isDotRef(s: unknown): s is DotRef {
  return parseDotRef(s) !== undefined
}

/** Canonical order of dot refs: author, then seq as a number (so `a:9` sorts before `a:10`). */
export function compareDotRefs(a: DotRef, b: DotRef): number {
  const i = a.indexOf(':')
  const j = b.indexOf(':')
  const an = a.slice(0, i)
  const bn = b.slice(0, j)
  if (an !== bn) return an < bn ? -1 : 1
  return Number(a.slice(i + 1)) - Number(b.slice(j + 1))
}
