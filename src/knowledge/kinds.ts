/**
 * The registry of op kinds and their bodies (design.md section 4), validated here, at the edge of the
 * knowledge layer, with zod. To the log a body is any JSON value; this file decides which bodies mean
 * something. A body that fails is a value (`BodyFailure`) naming the field and what was wrong, which the
 * CLI prints as it is; an op from a peer whose body fails stays in the log (its chain needs it) and has
 * no effect on any view (views.ts).
 *
 * Bodies are strict: an unknown field is an error (a typo such as `valu` must not pass silently), and a
 * kind that is not in the registry is `unknown_kind`. Growing the schema therefore means a new kind, or
 * a release that accepts the new field on every node before any node writes it.
 *
 * The kinds, field by field (`?` marks an optional field; limits are the constants below):
 *
 *   fact.assert   fact_id?      the fact's key; required unless `channel` is set, when the knowledge layer
 *                               generates it from the op (ids.ts: entryFactId)
 *                 value         any JSON value, at most valueBytesMax in the core's canonical form
 *                 supersedes    dot refs (dot-ref.ts) of the versions of this fact the writer saw live;
 *                               they stop being live. [] for a first write. No duplicates; a dot of the
 *                               op's own author must be of an earlier op (parseOp checks it)
 *                 verified      boolean: the writer checked the value (resolves conflicts, builds trust)
 *                 ttl_seconds?  integer 1..ttlSecondsMax: the version is stale from created_at + ttl
 *                 valid_from?   ms since the Unix epoch: when it became true in the world (bi-temporal)
 *                 valid_to?     ms since the Unix epoch, >= valid_from
 *                 causal_id?    an id of what caused this (a task, a session, another fact)
 *                 channel?      discoveries | patterns | warnings: the version is an entry of that channel
 *                 tags?         distinct tags, no whitespace
 *                 text?         free text for search, beside the value
 *   fact.retract  fact_id, observed (dot refs the writer saw live, at least one), reason?
 *   status.set    text, health (ok | degraded | blocked), working_on?
 *   task.create   task_id, title, depends (task ids, distinct, not the task itself), assignee?
 *   task.claim    task_id          task.release  task_id          task.done  task_id, result? (JSON)
 *   counter.add   name, n (a non-zero integer, |n| <= counterStepAbsMax)
 *   config.set    key, value (JSON), version (integer >= 0)
 *   agent.hello   name: the human-readable name of the author's node (metadata; the id is the key)
 *
 * Sizes are UTF-8 bytes for strings and canonical-form bytes for JSON values, as in docs/FORMAT.md, so a
 * limit means the same in every language. Every field together stays under the log's 64 KiB body limit.
 * An id (fact_id, task_id, names, keys, tags) has no control characters and no leading or trailing
 * whitespace: ids are typed on command lines and printed one per line.
 */
import * as z from 'zod'
import * as core from '../core/index.ts'
import type { Json } from '../core/index.ts'
import type { Op } from '../log/index.ts'
import { parseDotRef, type DotRef } from './dot-ref.ts'

// ---- limits

/** A fact id holds `entity/attribute` keys of a knowledge graph: room for two long names. */
export const factIdBytesMax = 256
/** Task ids, assignees, counter names, config keys, causal ids. */
export const idBytesMax = 128
/** A node's human-readable name. */
export const agentNameBytesMax = 64
/** A fact's value, in the core's canonical form: text for agents, not files (half the body limit). */
export const valueBytesMax = 32 * 1024
/** A fact's search text, beside its value. */
export const textBytesMax = 16 * 1024
/** Tags per version, and bytes per tag. */
export const tagsMax = 16
export const tagBytesMax = 64
/**
 * Dots one assert may supersede or one retract may observe: the live versions of a fact, which only
 * concurrent writers multiply. 64 is far beyond a real fleet's concurrency and keeps a body under 5 KiB
 * of dots.
 */
export const supersedesMax = 64
/** Ten years: a longer TTL is no TTL. */
export const ttlSecondsMax = 315_576_000
/** A retract's reason, a status text, a task title. */
export const reasonBytesMax = 1024
export const statusTextBytesMax = 1024
export const taskTitleBytesMax = 1024
/** What an agent works on (a task id, a path). */
export const workingOnBytesMax = 256
/** A task's dependencies. */
export const dependsMax = 32
/** A task's result, in the core's canonical form. */
export const resultBytesMax = 16 * 1024
/** Largest step of one counter.add: keeps a counter exact (below 2^53) for millions of ops. */
export const counterStepAbsMax = 1_000_000_000

/** The channels of entries (design.md section 4). */
export const channels = ['discoveries', 'patterns', 'warnings'] as const
export type Channel = (typeof channels)[number]

export const healths = ['ok', 'degraded', 'blocked'] as const
export type Health = (typeof healths)[number]

// ---- field builders


function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true
  }
  return false
}

function isSpace(c: string | undefined): boolean {
  return c !== undefined && /\s/.test(c)
}

function hasSpace(s: string): boolean {
  return /\s/.test(s)
}

/** The message of a missing or mistyped field. */
function typeError(what: string) {
  return (iss: { input: unknown }): string =>
    iss.input === undefined ? 'is required' : `must be ${what}, not ${describe(iss.input)}`
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`
  if (typeof v === 'object') return 'an object'
  return `${typeof v} ${String(v)}`
}

/** An id: 1..bytesMax bytes of UTF-8, no control characters, no surrounding whitespace. */
function idString(bytesMax: number, noun = 'an id') {
  return z.string({ error: typeError(`${noun} (a string)`) }).superRefine((s, ctx) => {
    const n = core.codec.utf8Length(s)
    if (n === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' })
    else if (n > bytesMax)
      ctx.addIssue({ code: 'custom', message: `is ${n} bytes, over the limit of ${bytesMax}` })
    else if (hasControl(s)) ctx.addIssue({ code: 'custom', message: 'must not contain control characters' })
    else if (isSpace(s[0]) || isSpace(s[s.length - 1]))
      ctx.addIssue({ code: 'custom', message: 'must not start or end with whitespace' })
  })
}

/** Free text: 0..bytesMax bytes of UTF-8 (newlines allowed). */
function freeText(bytesMax: number) {
  return z.string({ error: typeError('a string') }).superRefine((s, ctx) => {
    const n = core.codec.utf8Length(s)
    if (n > bytesMax)
      ctx.addIssue({ code: 'custom', message: `is ${n} bytes, over the limit of ${bytesMax}` })
  })
}

/** Most bytes a uvarint or svarint of a safe integer takes (7 bits a byte, 53 bits), and an f64. */
const varintBytesMax = 8

/**
 * An upper bound of a JSON value's canonical size (core json.ts: a tag byte, varint counts and lengths,
 * <= 3 UTF-8 bytes per UTF-16 unit), without encoding it; stops counting once over `limit`. A value
 * whose bound is within a limit is within it; only one over it needs the exact (encoded) size.
 */
function jsonBytesBound(v: Json, limit: number): number {
  if (typeof v === 'string') return 1 + varintBytesMax + 3 * v.length
  if (v === null || typeof v !== 'object') return 1 + varintBytesMax
  let n = 1 + varintBytesMax
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length && n <= limit; i++) n += jsonBytesBound(v[i] as Json, limit - n)
    return n
  }
  for (const k in v) {
    if (n > limit) break
    n += varintBytesMax + 3 * k.length + jsonBytesBound((v as { readonly [key: string]: Json })[k] as Json, limit - n)
  }
  return n
}

/** Any JSON value of at most bytesMax bytes in the core's canonical form. */
function jsonValue(bytesMax: number) {
  return z
    .custom<Json>((v) => v !== undefined && core.json.isJson(v), {
      error: typeError('a JSON value'),
    })
    .superRefine((v, ctx) => {
      if (jsonBytesBound(v, bytesMax) <= bytesMax) return
      const n = core.json.encode(v).length
      if (n > bytesMax)
        ctx.addIssue({ code: 'custom', message: `is ${n} bytes encoded, over the limit of ${bytesMax}` })
    })
}

/** A list of distinct dot refs, at most max of them. */
function dotList(max: number) {
  return z
    .array(
      z
        .string({ error: typeError('a dot ref "<author hex>:<seq>"') })
        .refine((s) => parseDotRef(s) !== undefined, {
          error: (iss) =>
            `must be a dot ref "<64 lowercase hex>:<seq>" (seq >= 1, no leading zero), not ${describe(iss.input)}`,
        }),
      { error: typeError('an array of dot refs') },
    )
    .max(max, { error: `lists more than ${max} dots` })
    .superRefine((xs, ctx) => {
      const seen = new Set<string>()
      xs.forEach((x, i) => {
        if (seen.has(x)) ctx.addIssue({ code: 'custom', path: [i], message: `repeats the dot ${x}` })
        seen.add(x)
      })
    })
    .transform((xs) => xs as DotRef[])
}

/** A list of distinct strings built with `item`, at most max of them. */
function distinctList<T extends z.ZodType<string>>(item: T, max: number, noun: string) {
  return z
    .array(item, { error: typeError(`an array of ${noun}s`) })
    .max(max, { error: `lists more than ${max} ${noun}s` })
    .superRefine((xs, ctx) => {
      const seen = new Set<string>()
      xs.forEach((x, i) => {
        if (seen.has(x))
          ctx.addIssue({ code: 'custom', path: [i], message: `repeats the ${noun} ${JSON.stringify(x)}` })
        seen.add(x)
      })
    })
}

/**
 * The body schemas, built on first use (`schemas()`): zod and these ~40 schemas cost a start ~7 ms, and
 * the commands that only read (tail, search, fact get) never check a body. The CLI's bundle loads zod
 * itself on first use too (bin/build-cli.js).
 */
function buildSchemas() {
  const timeMs = z
    .int({ error: typeError('ms since the Unix epoch (an integer)') })
    .min(0, { error: 'must be ms since the Unix epoch (>= 0)' })

  const factId = idString(factIdBytesMax, 'a fact id')
  const taskId = idString(idBytesMax, 'a task id')

  const tag = z.string({ error: typeError('a tag (a string)') }).superRefine((s, ctx) => {
    const n = core.codec.utf8Length(s)
    if (n === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' })
    else if (n > tagBytesMax)
      ctx.addIssue({ code: 'custom', message: `is ${n} bytes, over the limit of ${tagBytesMax}` })
    else if (hasControl(s) || hasSpace(s))
      ctx.addIssue({ code: 'custom', message: 'must not contain whitespace or control characters' })
  })

  const channel = z.enum(channels, {
    error: (iss) =>
      iss.input === undefined
        ? 'is required'
        : `must be one of ${channels.join(', ')}, not ${describe(iss.input)}`,
  })

  const health = z.enum(healths, {
    error: (iss) =>
      iss.input === undefined
        ? 'is required'
        : `must be one of ${healths.join(', ')}, not ${describe(iss.input)}`,
  })

  // ---- the bodies

  const factAssertFields = z.strictObject({
      fact_id: factId.optional(),
      value: jsonValue(valueBytesMax),
      supersedes: dotList(supersedesMax),
      verified: z.boolean({ error: typeError('true or false') }),
      ttl_seconds: z
        .int({ error: typeError('a whole number of seconds') })
        .min(1, { error: 'must be at least 1 second' })
        .max(ttlSecondsMax, { error: `must be at most ${ttlSecondsMax} seconds (10 years)` })
        .optional(),
      valid_from: timeMs.optional(),
      valid_to: timeMs.optional(),
      causal_id: idString(idBytesMax).optional(),
      channel: channel.optional(),
      tags: distinctList(tag, tagsMax, 'tag').optional(),
      text: freeText(textBytesMax).optional(),
  })

  /** What fact.assert requires across its fields (each field's own checks passed). */
  function factAssertCross(b: z.output<typeof factAssertFields>): CrossIssue[] {
    const out: CrossIssue[] = []
    if (b.fact_id === undefined && b.channel === undefined)
      out.push({
        path: ['fact_id'],
        message: 'is required unless channel is set (a channel entry gets a generated fact_id)',
      })
    if (b.valid_from !== undefined && b.valid_to !== undefined && b.valid_to < b.valid_from)
      out.push({ path: ['valid_to'], message: 'must not be before valid_from' })
    return out
  }

  /** An issue between fields, found after each field passed its own checks. */
  type CrossIssue = { readonly path: (string | number)[]; readonly message: string }

  /** A schema of fields with its cross-field checks as a refinement: the schema of the registry. */
  function withCross<T extends z.ZodType>(fields: T, cross: (b: z.output<T>) => CrossIssue[]) {
    return fields.superRefine((b, ctx) => {
      for (const i of cross(b)) ctx.addIssue({ code: 'custom', path: i.path, message: i.message })
    })
  }

  const factAssert = withCross(factAssertFields, factAssertCross)

  const factRetract = z.strictObject({
    fact_id: factId,
    observed: dotList(supersedesMax).refine((xs) => xs.length > 0, {
      error: 'must name at least one version (a retract removes the versions it saw)',
    }),
    reason: freeText(reasonBytesMax).optional(),
  })

  const statusSet = z.strictObject({
    text: freeText(statusTextBytesMax),
    health,
    working_on: idString(workingOnBytesMax).optional(),
  })

  const taskCreateFields = z.strictObject({
    task_id: taskId,
    title: idString(taskTitleBytesMax, 'a title'),
    depends: distinctList(taskId, dependsMax, 'task id'),
    assignee: idString(idBytesMax, 'an agent').optional(),
  })

  function taskCreateCross(b: z.output<typeof taskCreateFields>): CrossIssue[] {
    const i = b.depends.indexOf(b.task_id)
    return i >= 0 ? [{ path: ['depends', i], message: 'names the task itself' }] : []
  }

  const taskCreate = withCross(taskCreateFields, taskCreateCross)

  const taskRef = z.strictObject({ task_id: taskId })

  const taskDone = z.strictObject({ task_id: taskId, result: jsonValue(resultBytesMax).optional() })

  const counterAdd = z.strictObject({
    name: idString(idBytesMax, 'a counter name'),
    n: z
      .int({ error: typeError('a whole number') })
      .refine((n) => n !== 0 && Math.abs(n) <= counterStepAbsMax, {
        error: `must be a non-zero integer from -${counterStepAbsMax} to ${counterStepAbsMax}`,
      }),
  })

  const configSet = z.strictObject({
    key: idString(idBytesMax, 'a config key'),
    value: jsonValue(valueBytesMax),
    version: z.int({ error: typeError('a whole number') }).min(0, { error: 'must be >= 0' }),
  })

  const agentHello = z.strictObject({ name: idString(agentNameBytesMax, 'a name') })

  /** The registry: every kind the knowledge layer gives a meaning to, and its body's schema. */
  const kinds = {
    'fact.assert': factAssert,
    'fact.retract': factRetract,
    'status.set': statusSet,
    'task.create': taskCreate,
    'task.claim': taskRef,
    'task.release': taskRef,
    'task.done': taskDone,
    'counter.add': counterAdd,
    'config.set': configSet,
    'agent.hello': agentHello,
  } as const

  const built = { kinds, factAssertFields, factAssertCross, taskCreateFields, taskCreateCross }
  const names = Object.keys(kinds)
  core.assert(
    names.length === kindNames.length && names.every((k, i) => k === kindNames[i]),
    'knowledge: kindNames lists the registry in order',
  )
  return built
}

type Schemas = ReturnType<typeof buildSchemas>
let builtSchemas: Schemas | undefined

/** The body schemas (built on first call). */
export function schemas(): Schemas {
  builtSchemas ??= buildSchemas()
  return builtSchemas
}

type Kinds = Schemas['kinds']
export type KindName = keyof Kinds
/** The registry's kinds, in its order (known without building it). */
export const kindNames: readonly KindName[] = [
  'fact.assert',
  'fact.retract',
  'status.set',
  'task.create',
  'task.claim',
  'task.release',
  'task.done',
  'counter.add',
  'config.set',
  'agent.hello',
]

export type FactAssertBody = z.output<Kinds['fact.assert']>
export type FactRetractBody = z.output<Kinds['fact.retract']>
export type StatusSetBody = z.output<Kinds['status.set']>
export type TaskCreateBody = z.output<Kinds['task.create']>
export type TaskRefBody = z.output<Kinds['task.claim']>
export type TaskDoneBody = z.output<Kinds['task.done']>
export type CounterAddBody = z.output<Kinds['counter.add']>
export type ConfigSetBody = z.output<Kinds['config.set']>
export type AgentHelloBody = z.output<Kinds['agent.hello']>

/** A body that passed its kind's schema, tagged with the kind. */
export type KnownBody =
  | { readonly kind: 'fact.assert'; readonly body: FactAssertBody }
  | { readonly kind: 'fact.retract'; readonly body: FactRetractBody }
  | { readonly kind: 'status.set'; readonly body: StatusSetBody }
  | { readonly kind: 'task.create'; readonly body: TaskCreateBody }
  | { readonly kind: 'task.claim'; readonly body: TaskRefBody }
  | { readonly kind: 'task.release'; readonly body: TaskRefBody }
  | { readonly kind: 'task.done'; readonly body: TaskDoneBody }
  | { readonly kind: 'counter.add'; readonly body: CounterAddBody }
  | { readonly kind: 'config.set'; readonly body: ConfigSetBody }
  | { readonly kind: 'agent.hello'; readonly body: AgentHelloBody }

// ---- failures

/** One thing wrong with a body: the field (`tags[2]`, `supersedes[0]`; `body` for the body itself). */
export type BodyIssue = { readonly field: string; readonly message: string }

/**
 * Why a body means nothing: an unknown kind, or a body its kind's schema refuses. `detail` is one line
 * for a person (`fact.assert: tags[2] is 70 bytes, over the limit of 64`), `field` the first bad field,
 * `issues` every one.
 */
export type BodyFailure = {
  readonly ok: false
  readonly reason: 'unknown_kind' | 'invalid_body'
  readonly kind: string
  readonly field: string
  readonly detail: string
  readonly issues: readonly BodyIssue[]
}

export type BodyResult = { readonly ok: true; readonly value: KnownBody } | BodyFailure

function fieldOf(path: readonly PropertyKey[]): string {
  let s = ''
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`
  return s === '' ? 'body' : s
}

function failure(kind: string, reason: BodyFailure['reason'], issues: BodyIssue[]): BodyFailure {
  const first = issues[0] ?? { field: 'body', message: 'is invalid' }
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''
  return {
    ok: false,
    reason,
    kind,
    field: first.field,
    detail: `${kind}: ${first.field} ${first.message}${more}`,
    issues,
  }
}

function isKindName(kind: string): kind is KindName {
  return (kindNames as readonly string[]).includes(kind)
}

/** Messages for the issues no field builder words itself (a body that is not an object, mostly). */
function fallbackMessage(iss: { code: string; input?: unknown; expected?: string }): string {
  if (iss.code === 'invalid_type') {
    const what =
      iss.expected === undefined
        ? 'something else'
        : /^[aeiou]/.test(iss.expected)
          ? `an ${iss.expected}`
          : `a ${iss.expected}`
    return iss.input === undefined ? 'is required' : `must be ${what}, not ${describe(iss.input)}`
  }
  return 'is invalid'
}

/** Checks a body against its kind's schema. Never throws. */
export function parseBody(kind: string, body: unknown): BodyResult {
  if (!isKindName(kind)) {
    return failure(kind, 'unknown_kind', [
      { field: 'kind', message: `is not a known kind (known: ${kindNames.join(', ')})` },
    ])
  }
  const quick = quickParse(kind, body)
  if (quick !== undefined) return { ok: true, value: { kind, body: quick } as KnownBody }
  const r = schemas().kinds[kind].safeParse(body, { error: fallbackMessage })
  if (r.success) return { ok: true, value: { kind, body: r.data } as KnownBody }
  const issues: BodyIssue[] = []
  for (const iss of r.error.issues) {
    if (iss.code === 'unrecognized_keys') {
      const shape = Object.keys(kindShape(kind)).join(', ')
      for (const k of iss.keys)
        issues.push({
          field: fieldOf([...iss.path, k]),
          message: `is not a field of ${kind} (its fields: ${shape})`,
        })
    } else {
      issues.push({ field: fieldOf(iss.path), message: iss.message })
    }
  }
  return failure(kind, 'invalid_body', issues)
}

/**
 * The accepting path of the kinds with cross-field checks: the fields' schema, then the cross checks
 * as plain calls (a zod refinement on an object measured ~3 us of the ~6 us of a fact.assert body).
 * It accepts exactly what the registry's schema accepts (the same fields' schema; the refinement runs
 * the same checks, only once the fields passed); anything it does not accept is parsed again by the
 * registry's schema, for the same issues as ever. undefined: not accepted here.
 */
function quickParse(kind: KindName, body: unknown): unknown {
  const s = schemas()
  if (kind === 'fact.assert') {
    const r = s.factAssertFields.safeParse(body)
    return r.success && s.factAssertCross(r.data).length === 0 ? r.data : undefined
  }
  if (kind === 'task.create') {
    const r = s.taskCreateFields.safeParse(body)
    return r.success && s.taskCreateCross(r.data).length === 0 ? r.data : undefined
  }
  return undefined
}

function kindShape(kind: KindName): Record<string, unknown> {
  const s = schemas().kinds[kind] as unknown as {
    shape?: Record<string, unknown>
    def?: { in?: { shape?: Record<string, unknown> } }
  }
  return s.shape ?? s.def?.in?.shape ?? {}
}

// ---- the ingest path's checks, by hand

/**
 * The body checks of the ingest path, written out by hand: each of a peer's ops has its body checked,
 * and zod measured ~6-8 us per body (of ~70 us per ingested op); these take ~1 us. They accept a body
 * only if its kind's zod schema accepts it, with the same value: the same fields, limits and cross-field
 * checks, read from the same builders' rules (idString, freeText, dot lists, distinct lists, jsonValue).
 * Anything they do not accept (a wrong body, and anything unusual: a non-plain object, a field holding
 * `undefined`) goes to the zod schema, which decides and words the issues, so parseOp's results are the
 * registry's exactly (kinds.test.ts checks both ways on generated and mutated bodies). The CLI's and
 * the API's writers (draftBody, parseBody) use the zod schemas only.
 *
 * Each returns the body itself (zod's output is an equal copy) or undefined.
 */
type Fields = { readonly [key: string]: unknown }

/** A plain object whose own keys are all in `allowed` and none holds undefined; else undefined. */
function plainFields(body: unknown, allowed: ReadonlySet<string>): Fields | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const proto = Object.getPrototypeOf(body) as unknown
  if (proto !== Object.prototype && proto !== null) return undefined
  const b = body as Fields
  for (const k of Object.keys(b)) if (!allowed.has(k) || b[k] === undefined) return undefined
  return b
}

function idOk(s: unknown, bytesMax: number): boolean {
  if (typeof s !== 'string') return false
  const n = core.codec.utf8Length(s)
  return n !== 0 && n <= bytesMax && !hasControl(s) && !isSpace(s[0]) && !isSpace(s[s.length - 1])
}

function textOk(s: unknown, bytesMax: number): boolean {
  return typeof s === 'string' && core.codec.utf8Length(s) <= bytesMax
}

function tagOk(s: unknown): boolean {
  if (typeof s !== 'string') return false
  const n = core.codec.utf8Length(s)
  return n !== 0 && n <= tagBytesMax && !hasControl(s) && !hasSpace(s)
}

function jsonOk(v: unknown, bytesMax: number): boolean {
  if (v === undefined || !core.json.isJson(v)) return false
  return jsonBytesBound(v, bytesMax) <= bytesMax || core.json.encode(v).length <= bytesMax
}

/** A list of at most max distinct items, each passing ok. */
function distinctOk(xs: unknown, max: number, ok: (x: unknown) => boolean): boolean {
  if (!Array.isArray(xs) || xs.length > max) return false
  for (let i = 0; i < xs.length; i++) {
    const x: unknown = xs[i]
    if (!ok(x)) return false
    for (let j = 0; j < i; j++) if (xs[j] === x) return false
  }
  return true
}

const isDot = (x: unknown): boolean => parseDotRef(x) !== undefined
const isTimeMs = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0

const factAssertKeys = new Set([
  'fact_id', 'value', 'supersedes', 'verified', 'ttl_seconds', 'valid_from', 'valid_to', 'causal_id', 'channel', 'tags', 'text',
])
const factRetractKeys = new Set(['fact_id', 'observed', 'reason'])
const statusSetKeys = new Set(['text', 'health', 'working_on'])
const taskCreateKeys = new Set(['task_id', 'title', 'depends', 'assignee'])
const taskRefKeys = new Set(['task_id'])
const taskDoneKeys = new Set(['task_id', 'result'])
const counterAddKeys = new Set(['name', 'n'])
const configSetKeys = new Set(['key', 'value', 'version'])
const agentHelloKeys = new Set(['name'])

/** The hand-written check of a kind's body (see above): the body if accepted, else undefined. */
export function fastBody(kind: string, body: unknown): Fields | undefined {
  switch (kind) {
    case 'fact.assert': {
      const b = plainFields(body, factAssertKeys)
      if (b === undefined) return undefined
      const { fact_id, ttl_seconds: ttl, valid_from: from, valid_to: to, causal_id, channel, tags, text } = b
      const ok =
        (fact_id === undefined ? channel !== undefined : idOk(fact_id, factIdBytesMax)) &&
        jsonOk(b.value, valueBytesMax) &&
        distinctOk(b.supersedes, supersedesMax, isDot) &&
        typeof b.verified === 'boolean' &&
        (ttl === undefined || (typeof ttl === 'number' && Number.isSafeInteger(ttl) && ttl >= 1 && ttl <= ttlSecondsMax)) &&
        (from === undefined || isTimeMs(from)) &&
        (to === undefined || (isTimeMs(to) && (from === undefined || (to as number) >= (from as number)))) &&
        (causal_id === undefined || idOk(causal_id, idBytesMax)) &&
        (channel === undefined || (channels as readonly unknown[]).includes(channel)) &&
        (tags === undefined || distinctOk(tags, tagsMax, tagOk)) &&
        (text === undefined || textOk(text, textBytesMax))
      return ok ? b : undefined
    }
    case 'fact.retract': {
      const b = plainFields(body, factRetractKeys)
      const ok =
        b !== undefined &&
        idOk(b.fact_id, factIdBytesMax) &&
        distinctOk(b.observed, supersedesMax, isDot) &&
        (b.observed as unknown[]).length > 0 &&
        (b.reason === undefined || textOk(b.reason, reasonBytesMax))
      return ok ? b : undefined
    }
    case 'status.set': {
      const b = plainFields(body, statusSetKeys)
      const ok =
        b !== undefined &&
        textOk(b.text, statusTextBytesMax) &&
        (healths as readonly unknown[]).includes(b.health) &&
        (b.working_on === undefined || idOk(b.working_on, workingOnBytesMax))
      return ok ? b : undefined
    }
    case 'task.create': {
      const b = plainFields(body, taskCreateKeys)
      const ok =
        b !== undefined &&
        idOk(b.task_id, idBytesMax) &&
        idOk(b.title, taskTitleBytesMax) &&
        distinctOk(b.depends, dependsMax, (x) => idOk(x, idBytesMax)) &&
        !(b.depends as unknown[]).includes(b.task_id) &&
        (b.assignee === undefined || idOk(b.assignee, idBytesMax))
      return ok ? b : undefined
    }
    case 'task.claim':
    case 'task.release': {
      const b = plainFields(body, taskRefKeys)
      return b !== undefined && idOk(b.task_id, idBytesMax) ? b : undefined
    }
    case 'task.done': {
      const b = plainFields(body, taskDoneKeys)
      const ok =
        b !== undefined && idOk(b.task_id, idBytesMax) && (b.result === undefined || jsonOk(b.result, resultBytesMax))
      return ok ? b : undefined
    }
    case 'counter.add': {
      const b = plainFields(body, counterAddKeys)
      const n = b?.n
      const ok =
        b !== undefined &&
        idOk(b.name, idBytesMax) &&
        typeof n === 'number' &&
        Number.isSafeInteger(n) &&
        n !== 0 &&
        Math.abs(n) <= counterStepAbsMax
      return ok ? b : undefined
    }
    case 'config.set': {
      const b = plainFields(body, configSetKeys)
      const v = b?.version
      const ok =
        b !== undefined &&
        idOk(b.key, idBytesMax) &&
        jsonOk(b.value, valueBytesMax) &&
        typeof v === 'number' &&
        Number.isSafeInteger(v) &&
        v >= 0
      return ok ? b : undefined
    }
    case 'agent.hello': {
      const b = plainFields(body, agentHelloKeys)
      return b !== undefined && idOk(b.name, agentNameBytesMax) ? b : undefined
    }
    default:
      return undefined
  }
}

/**
 * Checks an op's body and what only the op can tell: a dot of the op's own author in `supersedes` or
 * `observed` names an earlier op of that author (a version cannot supersede itself or a future op).
 * Bodies go through the hand-written checks first (fastBody), and through zod only if those do not
 * accept them: the same results, ~6x cheaper on a peer's ops.
 */
export function parseOp(op: Op): BodyResult {
  const fast = fastBody(op.kind, op.body)
  const r: BodyResult =
    fast !== undefined ? { ok: true, value: { kind: op.kind, body: fast } as KnownBody } : parseBody(op.kind, op.body)
  if (!r.ok) return r
  const k = r.value
  const dots =
    k.kind === 'fact.assert' ? k.body.supersedes : k.kind === 'fact.retract' ? k.body.observed : undefined
  if (dots !== undefined) {
    const field = k.kind === 'fact.assert' ? 'supersedes' : 'observed'
    for (let i = 0; i < dots.length; i++) {
      const d = parseDotRef(dots[i])
      if (d !== undefined && d.node === op.author && d.seq >= op.seq) {
        return failure(op.kind, 'invalid_body', [
          {
            field: `${field}[${i}]`,
            message: `names op ${d.seq} of the op's own author, which is not before this op (${op.seq})`,
          },
        ])
      }
    }
  }
  return r
}

/**
 * A body for a new op, from a writer (the CLI, an import): checked, with absent optional fields left
 * out, as a JSON value the log can carry. The same checks as parseBody.
 */
export function draftBody(
  kind: string,
  input: unknown,
): { readonly ok: true; readonly value: { readonly kind: KindName; readonly body: Json } } | BodyFailure {
  const stripped = stripUndefined(input)
  const r = parseBody(kind, stripped)
  if (!r.ok) return r
  return { ok: true, value: { kind: r.value.kind, body: stripUndefined(r.value.body) as Json } }
}

function stripUndefined(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
  const proto = Object.getPrototypeOf(v) as unknown
  if (proto !== Object.prototype && proto !== null) return v
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) {
    // define, not assign: an own `__proto__` key from JSON.parse must stay a key (and be refused)
    if (x !== undefined)
      Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true })
  }
  return out
}
