/**
 * Sync through a git repository (design.md section 7, issue 6): the shared folder's shards live in a
 * work tree, and `grapevine sync --git` commits this node's shards, pulls with rebase, ingests, and
 * pushes, retrying a push the remote rejected because another node pushed first. Every node writes only
 * its own folder and only appends, so a rebase never meets a conflict and history stays linear (no
 * merge commits).
 *
 * It runs the real `git` with argument arrays (never a shell), and refuses, changing nothing, when the
 * repository is in a state it should not touch: detached HEAD, a rebase, merge, cherry-pick or revert in
 * progress, or unmerged (conflicted) files anywhere. Other uncommitted changes of the user's are left
 * alone: only this node's folder is staged and committed, and the pull stashes and restores the rest
 * (`--autostash`); a pull that fails is aborted, which restores the work tree.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { isAbsolute, join, relative, resolve } from 'node:path'
import type { AuthorId } from '../log/index.ts'
import { folder } from '../transport/index.ts'
import type { Problem } from '../transport/index.ts'
import { syncFolder } from './folder-sync.ts'
import type { FolderSyncReport } from './folder-sync.ts'
import type { Local } from './local.ts'

/** How often a push the remote rejected (someone pushed first) is retried after another pull. */
export const pushRetriesDefault = 5

/** The shard folder inside the work tree when none is given. */
export const defaultFolder = 'grapevine'

export type GitSyncOptions = {
  /** A directory inside the work tree. */
  readonly cwd: string
  /** The remote to pull from and push to; default the branch's upstream remote, else `origin` if it exists. */
  readonly remote?: string | undefined
  /** The shard folder, inside the work tree; default `<top>/grapevine`. */
  readonly dir?: string | undefined
  readonly pushRetries?: number | undefined
  readonly packBefore?: string | undefined
  /** Also relay other authors' ops this node holds into the folder (FolderSyncOptions.relay). */
  readonly relay?: boolean | undefined
  /** Tests: runs right before each push (another node may push in between). */
  readonly beforePush?: (() => void) | undefined
}

export type GitSyncReport = {
  readonly dir: string
  readonly branch: string
  /** The remote used; undefined when the repository has none (commit and ingest only). */
  readonly remote: string | undefined
  readonly written: number
  readonly ingested: number
  readonly pending: number
  readonly problems: readonly Problem[]
  /** Whether this sync made a commit of this node's shards. */
  readonly committed: boolean
  /** Push attempts made (0: no remote, or nothing to push). */
  readonly pushAttempts: number
  readonly packed?: FolderSyncReport['packed']
}

export type GitSyncFailure = 'not_a_repo' | 'detached_head' | 'in_progress' | 'conflicts' | 'outside' | 'no_remote' | 'git' | 'folder'

export type GitSyncResult = { ok: true; value: GitSyncReport } | { ok: false; reason: GitSyncFailure; detail: string }

type Run = { code: number; out: string; err: string }

function git(cwd: string, args: readonly string[]): Run {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } })
  if (r.error !== undefined) return { code: 127, out: '', err: `cannot run git: ${r.error.message}` }
  return { code: r.status ?? 1, out: r.stdout, err: r.stderr }
}

function fail(reason: GitSyncFailure, detail: string): GitSyncResult {
  return { ok: false, reason, detail }
}

/** Why the repository cannot be synced now, or undefined: the checks that come before any change. */
function refusal(top: string, gitDir: string): { reason: GitSyncFailure; detail: string } | undefined {
  const head = git(top, ['symbolic-ref', '-q', '--short', 'HEAD'])
  if (head.code !== 0)
    return { reason: 'detached_head', detail: `${top} is on a detached HEAD: check out a branch (git switch BRANCH), then sync again; nothing was changed` }
  for (const [marker, what] of [
    ['rebase-merge', 'a rebase'],
    ['rebase-apply', 'a rebase or am'],
    ['MERGE_HEAD', 'a merge'],
    ['CHERRY_PICK_HEAD', 'a cherry-pick'],
    ['REVERT_HEAD', 'a revert'],
  ] as const) {
    if (existsSync(join(gitDir, marker)))
      return { reason: 'in_progress', detail: `${what} is in progress in ${top}: finish or abort it (git status says how), then sync again; nothing was changed` }
  }
  const u = git(top, ['diff', '--name-only', '--diff-filter=U'])
  if (u.code !== 0) return { reason: 'git', detail: `git diff failed: ${u.err.trim()}` }
  const files = u.out.split('\n').filter((x) => x !== '')
  if (files.length > 0)
    return { reason: 'conflicts', detail: `${top} has unresolved conflicts in ${files.slice(0, 5).join(', ')}${files.length > 5 ? ', …' : ''}: resolve them (or git checkout -- FILE), then sync again; nothing was changed` }
  return undefined
}

/** The remote to use: given, the branch's upstream, or origin; undefined if the repository has none. */
function pickRemote(config: Map<string, string>, branch: string, given: string | undefined): { ok: true; remote: string | undefined } | { ok: false; detail: string } {
  const remotes = [...config.keys()].flatMap((k) => {
    const m = /^remote\.(.+)\.url$/.exec(k)
    return m === null ? [] : [m[1] as string]
  })
  if (given !== undefined) return remotes.includes(given) ? { ok: true, remote: given } : { ok: false, detail: `no remote named ${given} in this repository (git remote -v lists them)` }
  const up = config.get(`branch.${branch}.remote`)
  if (up !== undefined && remotes.includes(up)) return { ok: true, remote: up }
  if (remotes.includes('origin')) return { ok: true, remote: 'origin' }
  return { ok: true, remote: remotes[0] }
}

/** `git config --list` as a map (the last value of a key wins, as git reads it). */
function configOf(top: string): Map<string, string> {
  const m = new Map<string, string>()
  for (const line of git(top, ['config', '--list']).out.split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0) m.set(line.slice(0, eq), line.slice(eq + 1))
  }
  return m
}

/**
 * Commit, pull --rebase (a fetch, then a rebase when the remote moved), ingest, push. The shard folder is written and read through syncFolder (so its
 * crash safety holds here too); the commit holds this node's folder only.
 */
export function syncGit(l: Local, opts: GitSyncOptions): GitSyncResult {
  const t = git(opts.cwd, ['rev-parse', '--show-toplevel', '--absolute-git-dir'])
  if (t.code !== 0) return fail(t.code === 127 ? 'git' : 'not_a_repo', t.code === 127 ? t.err : `${opts.cwd} is not inside a git work tree: run grapevine sync --git from a clone of the fleet's repository (or use --dir)`)
  const [top = '', gitDir = ''] = t.out.split('\n')
  const refused = refusal(top, gitDir)
  if (refused !== undefined) return fail(refused.reason, refused.detail)
  const branch = git(top, ['symbolic-ref', '-q', '--short', 'HEAD']).out.trim()
  const dir = resolve(opts.cwd, opts.dir ?? join(top, defaultFolder))
  const rel = relative(top, dir)
  if (rel.startsWith('..') || isAbsolute(rel)) return fail('outside', `${dir} is outside the work tree ${top}: the shard folder must be inside it`)
  const config = configOf(top)
  const r = pickRemote(config, branch, opts.remote)
  if (!r.ok) return fail('no_remote', r.detail)
  const remote = r.remote
  const ownRel = join(rel, l.identity.author)
  const identity = (config.get('user.email') ?? '') === '' ? ['-c', `user.name=${l.identity.name}`, '-c', `user.email=${l.identity.name}@grapevine.invalid`] : []

  let written = 0
  let ingested = 0
  let pending = 0
  const problems: Problem[] = []
  let packed: FolderSyncReport['packed']
  const folderSync = (packBefore?: string): GitSyncResult | undefined => {
    const f = syncFolder(l, dir, { packBefore, relay: opts.relay })
    if (!f.ok) return fail('folder', f.detail)
    written += f.value.written
    ingested += f.value.ingested
    pending = f.value.pending
    problems.push(...f.value.problems)
    if (f.value.packed !== undefined) packed = f.value.packed
    return undefined
  }
  const tracking = `refs/remotes/${remote ?? ''}/${branch}`
  /** Commits on the remote branch that HEAD lacks, and HEAD's that the remote lacks; undefined: no such branch there. */
  const divergence = (): { behind: number; ahead: number } | undefined => {
    const c = git(top, ['rev-list', '--count', '--left-right', `${tracking}...HEAD`])
    if (c.code !== 0) return undefined
    const [behind = 0, ahead = 0] = c.out.trim().split(/\s+/).map(Number)
    return { behind, ahead }
  }
  const pull = (): GitSyncResult | undefined => {
    if (remote === undefined) return undefined
    const f = git(top, ['fetch', '-q', remote, `+refs/heads/${branch}:${tracking}`])
    if (f.code !== 0) {
      if (/couldn't find remote ref/i.test(f.err)) return undefined // not on the remote yet: the push creates it
      return fail('git', `cannot fetch from ${remote}: ${f.err.trim()}`)
    }
    const d = divergence()
    if (d === undefined || d.behind === 0) return undefined
    const p = git(top, ['rebase', '-q', '--autostash', tracking])
    if (p.code !== 0) {
      if (existsSync(join(gitDir, 'rebase-merge')) || existsSync(join(gitDir, 'rebase-apply'))) git(top, ['rebase', '--abort'])
      return fail('git', `git pull --rebase ${remote} ${branch} failed (aborted, your work tree is as it was): ${(p.err || p.out).trim()}`)
    }
    return undefined
  }

  // 1. this node's new ops into its shards (and what the work tree already holds into the store)
  const f1 = folderSync(opts.packBefore)
  if (f1 !== undefined) return f1
  // 2. commit this node's folder only
  let committed = false
  // this node's files: its folder, and (relay) its relay files in other authors' folders
  // (and in a fleet, its credential and revocations in .fleet/, which folder-sync writes)
  const fleetFiles = ['cred', 'revocations'].map((x) => join(rel, '.fleet', `${l.identity.author}.${x}`))
  const mine = [ownRel, ...relayFiles(dir, l.identity.author).map((f) => join(rel, f)), ...fleetFiles].filter((p) => existsSync(join(top, p)))
  if (mine.length === 0) mine.push(ownRel)
  const add = git(top, ['add', '-A', '--', ...mine])
  if (add.code !== 0 && existsSync(join(top, ownRel))) return fail('git', `git add ${ownRel} failed: ${add.err.trim()}`)
  if (git(top, ['diff', '--cached', '--quiet', '--', ...mine]).code === 1) {
    const msg = `grapevine: ${l.identity.name} (${l.identity.author.slice(0, 12)}) ${written} op${written === 1 ? '' : 's'}`
    const c = git(top, [...identity, 'commit', '-q', '--no-verify', '-m', msg, '--only', '--', ...mine])
    if (c.code !== 0) return fail('git', `git commit failed: ${(c.err || c.out).trim()}`)
    committed = true
  }
  // 3. pull with rebase, 4. ingest, 5. push (again after a pull when the remote rejects it)
  const retries = opts.pushRetries ?? pushRetriesDefault
  let pushAttempts = 0
  for (let attempt = 0; ; attempt++) {
    const p = pull()
    if (p !== undefined) return p
    const f2 = folderSync()
    if (f2 !== undefined) return f2
    if (remote === undefined) break
    const d = divergence()
    if (d !== undefined && d.ahead === 0) break // nothing of ours to push
    if (d === undefined && git(top, ['rev-parse', '-q', '--verify', 'HEAD']).code !== 0) break // an empty branch
    opts.beforePush?.()
    pushAttempts++
    const push = git(top, ['push', '-q', remote, `HEAD:refs/heads/${branch}`])
    if (push.code === 0) break
    const rejected = /\[rejected\]|non-fast-forward|fetch first|failed to push some refs/.test(push.err)
    if (!rejected || attempt >= retries) return fail('git', `git push ${remote} ${branch} failed${rejected ? ` ${attempt + 1} times (others keep pushing first): sync again` : ''}: ${push.err.trim()}`)
  }
  problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line))
  return { ok: true, value: { dir, branch, remote, written, ingested, pending, problems: dedupe(problems), committed, pushAttempts, packed } }
}

/** This node's relay files in the folder (`<author>/<day>.via-<its key>.jsonl`), relative to it. */
function relayFiles(dir: string, me: AuthorId): string[] {
  const out: string[] = []
  for (const a of folder.authorDirs(dir)) {
    if (a === me) continue
    for (const f of folder.authorFiles(dir, a)) {
      const m = folder.relayFilePattern.exec(f)
      if (m !== null && me.startsWith(m[4] as string)) out.push(join(a, f))
    }
  }
  return out
}

/** The same problem seen by both folder passes of one sync, once. */
function dedupe(ps: readonly Problem[]): Problem[] {
  const seen = new Set<string>()
  return ps.filter((p) => {
    const k = `${p.file}\n${p.line}\n${p.reason}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}
