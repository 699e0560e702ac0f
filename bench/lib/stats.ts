/** Summary statistics for repeated measurements: a benchmark reports a median and its spread, never one run. */

export type Summary = {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

/** Median, min and max of a non-empty sample. */
export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0) throw new RangeError('stats: cannot summarize an empty sample')
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
  return { median, min: s[0] as number, max: s[s.length - 1] as number, n: s.length }
}

/** 1234567 -> "1.23M", 4321 -> "4.32k": three significant digits with an SI suffix. */
export function si(x: number): string {
  const a = Math.abs(x)
  if (a >= 1e9) return `${(x / 1e9).toPrecision(3)}G`
  if (a >= 1e6) return `${(x / 1e6).toPrecision(3)}M`
  if (a >= 1e3) return `${(x / 1e3).toPrecision(3)}k`
  return x.toPrecision(3)
}

/** Bytes as B / KB / MB (powers of 1000, like the figures). */
export function bytes(x: number): string {
  const a = Math.abs(x)
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)} MB`
  if (a >= 1e3) return `${(x / 1e3).toFixed(1)} KB`
  return `${Math.round(x)} B`
}

/** Milliseconds with a precision that suits their size. */
export function ms(x: number): string {
  return x >= 100 ? `${x.toFixed(0)} ms` : x >= 10 ? `${x.toFixed(1)} ms` : `${x.toFixed(2)} ms`
}

/** A ratio such as 12.3x or 0.41x. */
export function ratio(x: number): string {
  return x >= 100
    ? `${x.toFixed(0)}x`
    : x >= 10
      ? `${x.toFixed(1)}x`
      : x >= 1
        ? `${x.toFixed(2)}x`
        : `${x.toFixed(3)}x`
}

/** Renders rows of cells as a left/right aligned text table (first column left, the rest right). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}
