/**
 * `grapevine hooks install|uninstall|status`: puts grapevine into a coding agent's own config files, the
 * SessionStart hook (`grapevine brief --hook AGENT`) and the MCP server (`grapevine mcp`), with absolute
 * paths (an agent runs hooks from anywhere, with a PATH of its own).
 *
 * Where each agent reads them (project: the current directory; user: the home directory):
 *
 *   agent   hook file                                   MCP registration
 *   claude  .claude/settings.json  (~/.claude/...)      .mcp.json mcpServers (user: ~/.claude.json mcpServers)
 *   codex   .codex/hooks.json      (~/.codex/...)       .codex/config.toml [mcp_servers.grapevine] (~/.codex/...)
 *   gemini  .gemini/settings.json  (~/.gemini/...)      the same settings.json, mcpServers
 *   cursor  .cursor/hooks.json     (~/.cursor/...)      .cursor/mcp.json mcpServers (~/.cursor/...)
 *
 * Hook entries: Claude Code, Codex and Gemini CLI take `hooks.SessionStart: [{hooks: [{type: "command",
 * command}]}]` (Gemini also a `name`); Cursor takes `{version: 1, hooks: {sessionStart: [{command}]}}`.
 *
 * Safety of the user's files: a JSON file is parsed, changed in grapevine's entries only, and written
 * back with the indentation it had (a file that does not parse is refused, nothing changed). The TOML
 * file is edited as text, only the [mcp_servers.grapevine] table (and its .env subtable): a small
 * line-based editor that knows where a table ends (the next table header outside a multi-line string),
 * because a TOML round trip through a parser would drop the user's comments and layout; a file that
 * names grapevine's server another way (a dotted key, an inline table) is refused.
 *
 * Before the first change to a file, its bytes (or its absence) are saved beside it in
 * FILE.grapevine-backup.json, with the hash of what install wrote. Uninstall restores those bytes
 * exactly when the file is still what install left; if the user changed it since, it removes grapevine's
 * entries only and says so. A second install with nothing to change writes nothing.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { HookAgent } from './brief.ts'
import { hookAgents } from './brief.ts'
import { CliError } from './cli-context.ts'
import type { Ctx } from './cli-context.ts'

export type Scope = 'project' | 'user'

/** What the hook and the server run: node and bin/grapevine.js by absolute path, and the home if one is set. */
export type Launch = { readonly node: string; readonly bin: string; readonly grapevineHome: string | undefined }

export function defaultLaunch(env: NodeJS.ProcessEnv): Launch {
  const h = env['GRAPEVINE_HOME']
  return {
    node: process.execPath,
    bin: fileURLToPath(new URL('../../bin/grapevine.js', import.meta.url)),
    grapevineHome: h === undefined || h === '' ? undefined : resolve(h),
  }
}

const sh = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`)

/** The hook's shell command line. */
export function hookCommand(l: Launch, agent: HookAgent): string {
  const env = l.grapevineHome === undefined ? '' : `GRAPEVINE_HOME=${sh(l.grapevineHome)} `
  return `${env}${sh(l.node)} ${sh(l.bin)} brief --hook ${agent}`
}

/** The MCP server's registration (command, args, env): the shape every agent's mcpServers takes. */
export function mcpServer(l: Launch): Record<string, unknown> {
  const s: Record<string, unknown> = { command: l.node, args: [l.bin, 'mcp'] }
  if (l.grapevineHome !== undefined) s['env'] = { GRAPEVINE_HOME: l.grapevineHome }
  return s
}

/** A hook command of grapevine's for this agent, whatever paths it was installed with. */
const isOurCommand = (c: unknown, agent: HookAgent): boolean => typeof c === 'string' && /grapevine/.test(c) && c.endsWith(` brief --hook ${agent}`)

export const serverName = 'grapevine'

// ---- the files

type Edit = {
  readonly path: string
  /** The file's new text from its current text (undefined: absent), with grapevine's part in or out. */
  readonly apply: (text: string | undefined, on: boolean) => string | undefined
  /** Whether the text holds grapevine's part. */
  readonly has: (text: string) => boolean
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
type Obj = { [k: string]: Json }

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

function parseJsonFile(path: string, text: string | undefined): Obj {
  if (text === undefined || text.trim() === '') return {}
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e) {
    throw new CliError(`${path} is not valid JSON (${e instanceof Error ? e.message : String(e)}): fix it first; nothing was changed`)
  }
  if (!isObj(v)) throw new CliError(`${path} does not hold a JSON object: nothing was changed`)
  return v
}

/** The file's indentation (of its first indented line), 2 spaces by default. */
function indentOf(text: string | undefined): string | number {
  const m = text === undefined ? null : /\n([ \t]+)\S/.exec(text)
  return m?.[1] ?? 2
}

/** A JSON file changed by f (on the parsed object); undefined when the change leaves it empty and it was absent. */
function jsonEdit(path: string, f: (o: Obj, on: boolean) => void, has: (o: Obj) => boolean): Edit {
  return {
    path,
    apply: (text, on) => {
      const o = parseJsonFile(path, text)
      const before = JSON.stringify(o)
      f(o, on)
      if (JSON.stringify(o) === before) return text // nothing to change: the bytes stay
      if (text === undefined && Object.keys(o).length === 0) return undefined
      const nl = text === undefined || text.endsWith('\n') ? '\n' : ''
      return JSON.stringify(o, null, indentOf(text)) + nl
    },
    has: (text) => {
      try {
        const v: unknown = JSON.parse(text)
        return isObj(v) && has(v)
      } catch {
        return false
      }
    },
  }
}

function child(o: Obj, key: string): Obj {
  const v = o[key]
  if (v === undefined) {
    const c: Obj = {}
    o[key] = c
    return c
  }
  if (!isObj(v)) throw new CliError(`"${key}" is not an object in the agent's config: fix it first; nothing was changed`)
  return v
}

/** Drops a key whose object became empty (so an uninstall leaves no `"hooks": {}` behind). */
function prune(o: Obj, key: string): void {
  const v = o[key]
  if (isObj(v) && Object.keys(v).length === 0) delete o[key]
  if (Array.isArray(v) && v.length === 0) delete o[key]
}

/** The Claude / Codex / Gemini shape: hooks.SessionStart = [{hooks: [{type, command}]}]. */
function sessionStartGroups(agent: HookAgent, command: string, named: boolean) {
  const ours = (g: Json) => isObj(g) && Array.isArray(g['hooks']) && g['hooks'].some((h) => isObj(h) && isOurCommand(h['command'], agent))
  const hook: Obj = named ? { name: 'grapevine-brief', type: 'command', command } : { type: 'command', command }
  const group: Obj = { hooks: [hook] }
  return {
    f: (o: Obj, on: boolean) => {
      const hooks = child(o, 'hooks')
      const list = hooks['SessionStart'] ?? []
      if (!Array.isArray(list)) throw new CliError('"hooks.SessionStart" is not a list in the agent\'s config: fix it first; nothing was changed')
      const mine = list.filter(ours)
      if (on && mine.length === 1 && JSON.stringify(mine[0]) === JSON.stringify(group)) return
      const rest = list.filter((g) => !ours(g))
      hooks['SessionStart'] = on ? [...rest, group] : rest
      prune(hooks, 'SessionStart')
      prune(o, 'hooks')
    },
    has: (o: Obj) => isObj(o['hooks']) && Array.isArray(o['hooks']['SessionStart']) && o['hooks']['SessionStart'].some(ours),
  }
}

function cursorHooks(command: string) {
  const ours = (h: Json) => isObj(h) && isOurCommand(h['command'], 'cursor')
  return {
    f: (o: Obj, on: boolean) => {
      if (on && o['version'] === undefined) o['version'] = 1
      const hooks = child(o, 'hooks')
      const list = hooks['sessionStart'] ?? []
      if (!Array.isArray(list)) throw new CliError('"hooks.sessionStart" is not a list in .cursor/hooks.json: fix it first; nothing was changed')
      const mine = list.filter(ours)
      if (on && mine.length === 1 && JSON.stringify(mine[0]) === JSON.stringify({ command })) return
      const rest = list.filter((h) => !ours(h))
      hooks['sessionStart'] = on ? [...rest, { command }] : rest
      prune(hooks, 'sessionStart')
      prune(o, 'hooks')
      if (!on && Object.keys(o).length === 1 && o['version'] === 1) delete o['version']
    },
    has: (o: Obj) => isObj(o['hooks']) && Array.isArray(o['hooks']['sessionStart']) && o['hooks']['sessionStart'].some(ours),
  }
}

function mcpServers(server: Obj) {
  return {
    f: (o: Obj, on: boolean) => {
      const servers = child(o, 'mcpServers')
      if (on) {
        if (JSON.stringify(servers[serverName]) !== JSON.stringify(server)) servers[serverName] = server
      } else delete servers[serverName]
      prune(o, 'mcpServers')
    },
    has: (o: Obj) => isObj(o['mcpServers']) && o['mcpServers'][serverName] !== undefined,
  }
}

function both(a: { f: (o: Obj, on: boolean) => void; has: (o: Obj) => boolean }, b: typeof a): typeof a {
  return { f: (o, on) => (a.f(o, on), b.f(o, on)), has: (o) => a.has(o) && b.has(o) }
}

// ---- TOML: the one table grapevine owns in Codex's config.toml

const tomlTable = `mcp_servers.${serverName}`
const tomlString = (s: string): string => JSON.stringify(s) // a JSON string is a TOML basic string (same escapes)

/** The [mcp_servers.grapevine] table (and its env subtable) as TOML text. */
export function tomlBlock(server: Obj): string {
  const lines = [`[${tomlTable}]`, `command = ${tomlString(server['command'] as string)}`]
  lines.push(`args = [${(server['args'] as string[]).map(tomlString).join(', ')}]`)
  const env = server['env']
  if (isObj(env)) {
    lines.push('', `[${tomlTable}.env]`)
    for (const [k, v] of Object.entries(env)) lines.push(`${k} = ${tomlString(String(v))}`)
  }
  return lines.join('\n') + '\n'
}

/** A table header line's name (dotted, quotes removed), or undefined if the line is no header. */
function headerName(line: string): string | undefined {
  const m = /^\s*\[\[?\s*([^\][]+?)\s*\]\]?\s*(#.*)?$/.exec(line)
  return m?.[1]?.split('.').map((p) => p.trim().replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1')).join('.')
}

/**
 * The lines of the TOML text as [start, end) ranges of grapevine's tables, and whether it names the server
 * another way. Lines inside multi-line strings are never headers.
 */
function tomlScan(text: string): { lines: string[]; ranges: [number, number][]; elsewhere: boolean } {
  const lines = text.split('\n')
  const ranges: [number, number][] = []
  let inString: string | undefined
  let current: string | undefined = ''
  let start = -1
  let elsewhere = false
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    if (inString === undefined) {
      const name = headerName(line)
      if (name !== undefined) {
        const ours = name === tomlTable || name.startsWith(`${tomlTable}.`)
        if (ours && start < 0) start = i
        if (!ours && start >= 0) {
          ranges.push([start, i])
          start = -1
        }
        current = name
        continue
      }
      // a key naming the server outside its table: `mcp_servers.grapevine.x = ` or `grapevine = {` under [mcp_servers]
      const key = /^\s*([\w."'-]+)\s*=/.exec(line)?.[1]?.replaceAll('"', '').replaceAll("'", '')
      if (key !== undefined && start < 0) {
        const full = current === '' ? key : `${current}.${key}`
        if (full === tomlTable || full.startsWith(`${tomlTable}.`)) elsewhere = true
      }
    }
    for (const q of line.match(/"""|'''/g) ?? []) inString = inString === undefined ? q : inString === q ? undefined : inString
  }
  if (start >= 0) ranges.push([start, lines.length])
  return { lines, ranges, elsewhere }
}

function tomlEdit(path: string, server: Obj): Edit {
  const block = tomlBlock(server)
  return {
    path,
    apply: (text, on) => {
      const t = text ?? ''
      const { lines, ranges, elsewhere } = tomlScan(t)
      if (elsewhere) throw new CliError(`${path} names the ${serverName} MCP server outside a [${tomlTable}] table: edit it by hand; nothing was changed`)
      const current = ranges.map(([a, b]) => lines.slice(a, b).join('\n')).join('\n')
      if (on && ranges.length === 1 && current.replace(/\n*$/, '\n') === block) return text
      if (!on && ranges.length === 0) return text
      const kept: string[] = []
      let i = 0
      for (const [a, b] of ranges) {
        kept.push(...lines.slice(i, a))
        i = b
      }
      kept.push(...lines.slice(i))
      let rest = kept.join('\n')
      if (!on) {
        rest = rest.replace(/\n{3,}/g, '\n\n')
        return text === undefined && rest.trim() === '' ? undefined : rest
      }
      if (rest.trim() === '') return block
      return `${rest.replace(/\n*$/, '')}\n\n${block}`
    },
    has: (text) => tomlScan(text).ranges.length > 0,
  }
}

/** The files install changes for an agent in a scope. */
export function editsFor(agent: HookAgent, scope: Scope, dirs: { home: string; project: string }, l: Launch): Edit[] {
  const base = scope === 'user' ? dirs.home : dirs.project
  const command = hookCommand(l, agent)
  const server = mcpServer(l) as Obj
  switch (agent) {
    case 'claude': {
      const s = sessionStartGroups(agent, command, false)
      const m = mcpServers(server)
      return [
        jsonEdit(join(base, '.claude', 'settings.json'), s.f, s.has),
        jsonEdit(scope === 'user' ? join(dirs.home, '.claude.json') : join(dirs.project, '.mcp.json'), m.f, m.has),
      ]
    }
    case 'codex': {
      const s = sessionStartGroups(agent, command, false)
      return [jsonEdit(join(base, '.codex', 'hooks.json'), s.f, s.has), tomlEdit(join(base, '.codex', 'config.toml'), server)]
    }
    case 'gemini': {
      const s = both(sessionStartGroups(agent, command, true), mcpServers(server))
      return [jsonEdit(join(base, '.gemini', 'settings.json'), s.f, s.has)]
    }
    case 'cursor': {
      const h = cursorHooks(command)
      const m = mcpServers(server)
      return [jsonEdit(join(base, '.cursor', 'hooks.json'), h.f, h.has), jsonEdit(join(base, '.cursor', 'mcp.json'), m.f, m.has)]
    }
  }
}

// ---- backups and writes

type Backup = { format: 1; existed: boolean; original: string | null; installed_sha256: string | null; dir_existed?: boolean }

export const backupPath = (path: string): string => `${path}.grapevine-backup.json`

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

function readBytes(path: string): Buffer | undefined {
  try {
    return readFileSync(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new CliError(`cannot read ${path}: ${(e as Error).message}`)
  }
}

function readBackup(path: string): Backup | undefined {
  const b = readBytes(backupPath(path))
  if (b === undefined) return undefined
  try {
    const v = JSON.parse(b.toString('utf8')) as Backup
    if (v.format === 1 && typeof v.existed === 'boolean') return v
  } catch {
    // falls through to the error
  }
  throw new CliError(`${backupPath(path)} is damaged: move it aside and check ${path} by hand`)
}

/** Writes atomically: a temporary file in the same directory, renamed over the target. */
function writeAtomic(path: string, data: Buffer | string): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  try {
    writeFileSync(tmp, data)
    renameSync(tmp, path)
  } finally {
    rmSync(tmp, { force: true })
  }
}

export type FileChange = { readonly path: string; readonly change: 'written' | 'unchanged' | 'restored' | 'removed_entries' | 'deleted' }

/** Adds grapevine to the agent's files; returns what happened to each. */
export function install(edits: readonly Edit[]): FileChange[] {
  // every file is computed first, so a refusal (a file that does not parse) changes nothing at all
  const plans = edits.map((e) => {
    const bytes = readBytes(e.path)
    const text = bytes?.toString('utf8')
    return { e, bytes, text, next: e.apply(text, true), dirExisted: existsSync(dirname(e.path)) }
  })
  return plans.map(({ e, bytes, text, next, dirExisted }) => {
    if (next === text || next === undefined) return { path: e.path, change: 'unchanged' }
    const backup = readBackup(e.path)
    const keep: Backup = backup ?? { format: 1, existed: bytes !== undefined, original: bytes?.toString('base64') ?? null, installed_sha256: null, dir_existed: dirExisted }
    writeAtomic(backupPath(e.path), JSON.stringify({ ...keep, installed_sha256: sha256(next) }) + '\n')
    writeAtomic(e.path, next)
    return { path: e.path, change: 'written' }
  })
}

/** Takes grapevine out of the agent's files: the original bytes back when untouched since install. */
export function uninstall(edits: readonly Edit[]): FileChange[] {
  const plans = edits.map((e) => {
    const bytes = readBytes(e.path)
    const text = bytes?.toString('utf8')
    return { e, bytes, text, backup: readBackup(e.path), next: e.apply(text, false) }
  })
  const createdDirs = new Set<string>()
  const changes = plans.map(({ e, bytes, text, backup, next }): FileChange => {
    if (backup !== undefined && bytes !== undefined && backup.installed_sha256 === sha256(bytes)) {
      if (backup.existed) writeAtomic(e.path, Buffer.from(backup.original ?? '', 'base64'))
      else rmSync(e.path, { force: true })
      rmSync(backupPath(e.path), { force: true })
      if (backup.dir_existed === false) createdDirs.add(dirname(e.path))
      return { path: e.path, change: backup.existed ? 'restored' : 'deleted' }
    }
    rmSync(backupPath(e.path), { force: true })
    if (next === text) return { path: e.path, change: 'unchanged' }
    if (next === undefined) rmSync(e.path, { force: true })
    else writeAtomic(e.path, next)
    return { path: e.path, change: 'removed_entries' }
  })
  // a directory install created goes too, if nothing else is in it now
  for (const d of createdDirs) {
    try {
      rmdirSync(d)
    } catch {
      // reason: not empty (the user put something there since): it stays
    }
  }
  return changes
}

/** Whether each file holds grapevine's part. */
export function status(edits: readonly Edit[]): { path: string; installed: boolean }[] {
  return edits.map((e) => {
    const t = readBytes(e.path)?.toString('utf8')
    return { path: e.path, installed: t !== undefined && e.has(t) }
  })
}

// ---- the commands

type ScopeOpts = { project?: boolean; user?: boolean }

function scopeOf(opts: ScopeOpts): Scope {
  if (opts.project === true && opts.user === true) throw new CliError('give --project or --user, not both', 2)
  return opts.user === true ? 'user' : 'project'
}

function dirsOf(ctx: Ctx): { home: string; project: string } {
  const h = ctx.io.env['HOME']
  return { home: h === undefined || h === '' ? homedir() : h, project: process.cwd() }
}

function report(ctx: Ctx, agent: HookAgent, scope: Scope, changes: readonly FileChange[]): void {
  if (ctx.json()) {
    ctx.io.out(JSON.stringify({ agent, scope, files: changes }) + '\n')
    return
  }
  for (const c of changes) ctx.io.out(`${c.change.replace('_', ' ')}  ${c.path}\n`)
  if (changes.some((c) => c.change === 'removed_entries')) {
    ctx.io.err("grapevine: note: a file changed since install: only grapevine's entries were taken out of it, the rest kept as it is now\n")
  }
}

export function installCommand(ctx: Ctx, opts: ScopeOpts & { agent: HookAgent }): void {
  const scope = scopeOf(opts)
  const changes = install(editsFor(opts.agent, scope, dirsOf(ctx), defaultLaunch(ctx.io.env)))
  report(ctx, opts.agent, scope, changes)
  if (!ctx.json() && opts.agent === 'codex') ctx.io.err('grapevine: note: Codex runs a new hook only once you trust it (its /hooks screen)\n')
}

export function uninstallCommand(ctx: Ctx, opts: ScopeOpts & { agent: HookAgent }): void {
  const scope = scopeOf(opts)
  report(ctx, opts.agent, scope, uninstall(editsFor(opts.agent, scope, dirsOf(ctx), defaultLaunch(ctx.io.env))))
}

export function statusCommand(ctx: Ctx, opts: ScopeOpts): void {
  const scopes: Scope[] = opts.user === true && opts.project !== true ? ['user'] : opts.project === true && opts.user !== true ? ['project'] : ['project', 'user']
  const rows = scopes.flatMap((scope) =>
    hookAgents.map((agent) => {
      const files = status(editsFor(agent, scope, dirsOf(ctx), defaultLaunch(ctx.io.env)))
      return { agent, scope, installed: files.every((f) => f.installed), partly: files.some((f) => f.installed), files }
    }),
  )
  if (ctx.json()) {
    ctx.io.out(JSON.stringify(rows) + '\n')
    return
  }
  for (const r of rows) {
    const state = r.installed ? 'installed' : r.partly ? 'partly installed' : 'not installed'
    ctx.io.out(`${r.agent.padEnd(7)} ${r.scope.padEnd(8)} ${state}${r.partly ? `  (${r.files.filter((f) => f.installed).map((f) => f.path).join(', ')})` : ''}\n`)
  }
}
