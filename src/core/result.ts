/** Expected failures at a boundary are values, not exceptions (style.md: errors come in three kinds). */
export type Ok<T> = { readonly ok: true; readonly value: T }
export type Fail<R extends string> = { readonly ok: false; readonly reason: R; readonly detail: string }
export type Result<T, R extends string> = Ok<T> | Fail<R>

export function ok<T>(value: T): Ok<T> {
  return { ok: true, value }
}

export function fail<R extends string>(reason: R, detail: string): Fail<R> {
  return { ok: false, reason, detail }
}
