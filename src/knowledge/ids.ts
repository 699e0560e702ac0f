/**
 * Ids the knowledge layer derives, so that every replica derives the same one from the same ops. Each is
 * the first 16 bytes of SHA-256 (the log's hashOp) of a UTF-8 string, as 32 lowercase hex characters:
 * 128 bits, so no two distinct inputs meet by accident in any fleet. The strings, exactly (`\n` is a
 * line feed; the author is 64 hex characters, so every field boundary is unambiguous):
 *
 *   entry fact id, with an idempotency key:    "grapevine/entry/key\n" author "\n" key
 *   entry fact id, without one:                "grapevine/entry/dot\n" author "\n" seq (decimal)
 *   verify ticket id:                          "grapevine/ticket\n" fact_id ("\n" dot)*, the dots sorted
 *                                              by author, then seq as a number (compareDotRefs)
 *
 * A fact id has no control characters (kinds.ts), so it cannot forge a line of the ticket input.
 */
import type { AuthorId } from '../log/index.ts'
import { hashTextHex } from '../log/index.ts'
import { compareDotRefs, type DotRef } from './dot-ref.ts'

/** Length of a derived id, in hex characters. */
export const derivedIdChars = 32

function digest(s: string): string {
  return hashTextHex(s).slice(0, derivedIdChars)
}

/**
 * The fact id of a channel entry published without one: from the author and the idempotency key when
 * there is one (a retried publish maps to the same fact), else from the op's dot.
 */
export function entryFactId(author: AuthorId, idempotencyKey: string | undefined, seq: number): string {
  return idempotencyKey === undefined
    ? digest(`grapevine/entry/dot\n${author}\n${seq}`)
    : digest(`grapevine/entry/key\n${author}\n${idempotencyKey}`)
}

/** The verify ticket of a fact whose live versions are `dots` (any order: they are sorted here). */
export function ticketId(factId: string, dots: readonly DotRef[]): string {
  const sorted = [...dots].sort(compareDotRefs)
  return digest(`grapevine/ticket\n${factId}${sorted.map((d) => `\n${d}`).join('')}`)
}
