/**
 * A deterministic corpus of agent knowledge entries for the search benchmark: short notes (100-200
 * characters) drawn from a Zipf-Mandelbrot vocabulary of a few thousand words (a head of real English
 * and engineering words, a long tail of made-up identifiers), sprinkled with code-ish tokens (file paths,
 * error names, versions), in 3 channels with 0-4 tags, ~50 authors, timestamps spread over 90 days and
 * some with a TTL. One word, `quarterWord`, is planted in ~25% of the entries (twice in a few of them):
 * the "matches a quarter of the store" query of issue 3.
 *
 * Entry i depends only on (seed, i): `entryAt` regenerates any entry without generating the others, so
 * the benchmark can stream 1M entries into SQLite and tests can check single entries.
 */
import * as core from '../../src/core/index.ts'

export const channels = ['discoveries', 'patterns', 'warnings'] as const
export type Channel = (typeof channels)[number]

export type Entry = {
  /** 0-based position in the corpus; also its insertion order (timestamps grow with it) */
  readonly id: number
  readonly text: string
  readonly channel: Channel
  readonly tags: readonly string[]
  readonly author: string
  readonly createdMs: number
  /** absent: never stale */
  readonly ttlSeconds?: number
}

/** The planted word: in ~25% of entries (and twice in ~8% of those). Not in the Zipf vocabulary. */
export const quarterWord = 'deploy'
export const quarterShare = 0.25

export const authors = Array.from({ length: 50 }, (_, i) => `agent-${String(i).padStart(2, '0')}`)
export const tagNames = [
  'convex',
  'latency',
  'ci',
  'build',
  'auth',
  'postgres',
  'infra',
  'flaky',
  'memory',
  'network',
  'security',
  'docs',
  'perf',
  'deps',
  'k8s',
  'docker',
  'sqlite',
  'api',
  'frontend',
  'billing',
] as const

/** The corpus spans 90 days ending at `corpusEndMs`; `nowMs` for staleness is a minute after. */
export const corpusStartMs = Date.UTC(2026, 7, 1)
export const corpusSpanMs = 90 * 86_400_000
export const corpusEndMs = corpusStartMs + corpusSpanMs
export const corpusNowMs = corpusEndMs + 60_000

// The head of the vocabulary, most frequent first: what agents' notes are made of.
const headWords = (
  'the to a and of is in it on for with when that this after not be by at from or as if are ' +
  'build test run fails error use set needs before only but then first every its one all times ' +
  'server request timeout cache config version file job ci node api client query database user ' +
  'retry works returns takes seconds connection service deploys install update start restart ' +
  'memory disk network log logs worker queue task lock token auth key secret env variable path ' +
  'docker image container pod cluster region instance host port proxy dns tls cert ssl http ' +
  'https json yaml schema migration index table row column transaction commit branch merge pull ' +
  'push release tag package lockfile dependency module import export function type build script ' +
  'flag option default value limit size max min rate slow fast stale fresh cold warm hot idle ' +
  'first last next previous old new large small empty full missing broken flaky stable unstable ' +
  'upload download stream buffer batch chunk page cursor offset sort filter search match ' +
  'postgres redis kafka convex vercel s3 sqlite mysql mongo elastic nginx envoy grpc graphql ' +
  'webpack vite esbuild tsc eslint jest vitest pnpm npm yarn bun deno python go rust java ' +
  'linux macos windows arm64 x86 ubuntu debian alpine kernel glibc musl openssl libssl ' +
  'pr review approve reject revert fix workaround patch bump pin unpin upgrade downgrade ' +
  'crash panic hang deadlock leak spike drop loss corrupt race retries backoff jitter ' +
  'monday nightly weekly hourly daily morning staging production preview local remote ' +
  'agent fleet peer gossip sync merge conflict verify verified ticket resolve owner team ' +
  'always never usually sometimes rarely again twice once until while since because unless ' +
  'should must can may might will would could does did done was were has had have been'
).split(' ')

const syllables = [
  'ka',
  'lo',
  'mi',
  'ren',
  'tor',
  'vex',
  'zu',
  'pla',
  'qui',
  'dro',
  'sen',
  'fal',
  'gri',
  'hup',
  'jat',
  'mor',
  'nev',
  'osk',
  'pri',
  'rul',
  'sta',
  'tiv',
  'ulm',
  'wex',
  'yor',
  'bra',
  'cin',
  'dus',
  'elk',
  'fyn',
] as const

/** ~3,000 made-up tail words (identifiers, product names), deterministic. */
function tailWords(count: number): string[] {
  const p = core.prng.create(0x7a11)
  const seen = new Set(headWords)
  seen.add(quarterWord)
  const out: string[] = []
  while (out.length < count) {
    const n = 2 + core.prng.nextInt(p, 2)
    let w = ''
    for (let i = 0; i < n; i++) w += syllables[core.prng.nextInt(p, syllables.length)] as string
    if (!seen.has(w)) {
      seen.add(w)
      out.push(w)
    }
  }
  return out
}

/** The vocabulary, most frequent first. */
export const vocabulary: readonly string[] = [...new Set(headWords)].concat(tailWords(3_000))

/** Zipf-Mandelbrot weights 1 / (rank + q)^s with s = 1.05, q = 2.7: a natural-language frequency curve. */
const cumulative: Float64Array = (() => {
  const c = new Float64Array(vocabulary.length)
  let sum = 0
  for (let r = 0; r < vocabulary.length; r++) {
    sum += 1 / Math.pow(r + 1 + 2.7, 1.05)
    c[r] = sum
  }
  for (let r = 0; r < c.length; r++) c[r] = (c[r] as number) / sum
  return c
})()

function zipfWord(p: core.Prng): string {
  const x = core.prng.nextFloat(p)
  let lo = 0
  let hi = cumulative.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((cumulative[mid] as number) > x) hi = mid
    else lo = mid + 1
  }
  return vocabulary[lo] as string
}

const dirs = [
  'src/store',
  'src/api',
  'lib/db',
  'packages/web',
  'app/routes',
  'infra/terraform',
  'scripts',
] as const
const files = ['client', 'index', 'server', 'config', 'migrate', 'auth', 'worker', 'queue', 'cache'] as const
const exts = ['ts', 'js', 'py', 'go', 'yaml', 'json', 'sql'] as const
const errorNames = [
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOSPC',
  'EADDRINUSE',
  'TypeError',
  'RangeError',
  'SQLITE_BUSY',
  'ERR_MODULE_NOT_FOUND',
  'OOMKilled',
  'CrashLoopBackOff',
  'HTTP 503',
  'HTTP 429',
] as const
const ttls = [3_600, 86_400, 7 * 86_400, 30 * 86_400] as const

function pick<T>(p: core.Prng, xs: readonly T[]): T {
  return xs[core.prng.nextInt(p, xs.length)] as T
}

/** The i-th entry of the corpus of `size` entries made from `seed`: depends on (seed, size, i) only. */
export function entryAt(seed: number, size: number, i: number): Entry {
  if (!Number.isInteger(i) || i < 0 || i >= size)
    throw new RangeError(`corpus: entry ${i} outside 0..${size - 1}`)
  const p = core.prng.create((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0)
  const lengthChars = 100 + core.prng.nextInt(p, 101)
  const words: string[] = []
  let chars = 0
  const add = (w: string): void => {
    words.push(w)
    chars += w.length + 1
  }
  while (chars < lengthChars) {
    const r = core.prng.nextFloat(p)
    if (r < 0.02) add(`${pick(p, dirs)}/${pick(p, files)}.${pick(p, exts)}`)
    else if (r < 0.03) add(pick(p, errorNames))
    else if (r < 0.035) add(`v${1 + core.prng.nextInt(p, 20)}.${core.prng.nextInt(p, 10)}`)
    else add(zipfWord(p))
  }
  if (core.prng.chance(p, quarterShare)) {
    const copies = core.prng.chance(p, 0.08) ? 2 : 1
    for (let c = 0; c < copies; c++) words.splice(core.prng.nextInt(p, words.length + 1), 0, quarterWord)
  }
  let text = words.join(' ')
  if (text.length > 200) text = text.slice(0, text.lastIndexOf(' ', 200))
  text = text.charAt(0).toUpperCase() + text.slice(1)
  const tagCount = core.prng.nextInt(p, 5)
  const tags = new Set<string>()
  while (tags.size < tagCount) tags.add(pick(p, tagNames))
  // authors write unevenly: a few agents write most of the notes
  const author = authors[Math.floor(authors.length * Math.pow(core.prng.nextFloat(p), 2))] as string
  const channel = channels[core.prng.nextInt(p, 10) < 5 ? 0 : core.prng.nextInt(p, 2) + 1] as Channel
  const createdMs = corpusStartMs + Math.floor(((i + core.prng.nextFloat(p)) / size) * corpusSpanMs)
  const base = { id: i, text, channel, tags: [...tags], author, createdMs }
  return core.prng.chance(p, 0.3) ? { ...base, ttlSeconds: pick(p, ttls) } : base
}

/** True if the entry's TTL has run out at `nowMs` (stale entries are hidden from searches by default). */
export function isStale(e: Entry, nowMs: number): boolean {
  return e.ttlSeconds !== undefined && e.createdMs + e.ttlSeconds * 1000 <= nowMs
}
