/**
 * `grapevine sync`: offline-first sync through a shared folder (`--dir PATH`: Syncthing, Dropbox, NFS …)
 * or a git repository (`--git [--remote R]`, run inside a clone). The work is src/node's (folder-sync.ts,
 * git-sync.ts); this maps it to the command line: a summary on stdout, each bad line of the folder on
 * stderr as FILE:LINE, and an exit code (1 only when the sync itself could not run: bad lines elsewhere
 * in a fleet's folder are reported and skipped, and must not fail every agent's sync).
 */
import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Command } from 'commander'
import { folderSync, gitSync } from '../node/network.ts'
import type { Problem } from '../transport/index.ts'
import { CliError, UsageError, withLocal } from './cli-context.ts'
import type { Ctx } from './cli-context.ts'

/** Problems listed on stderr (all of them are in the --json report). */
export const problemsShownMax = 50

const monthPattern = /^\d{4}-(0[1-9]|1[0-2])$/

type SyncOptions = { dir?: string; git?: boolean; remote?: string; packBefore?: string; relay?: boolean }

/** The nearest existing directory at or above path (git runs there to find the work tree). */
function existingDir(path: string): string {
  let p = resolve(path)
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p)
  return p
}

export function registerSync(program: Command, ctx: Ctx): void {
  const { io } = ctx
  program
    .command('sync')
    .description('sync through a shared folder (--dir PATH) or a git repository (--git, inside a clone): write this node\'s new ops as JSONL shards, take everyone else\'s')
    .option('--dir <path>', 'the shared folder (with --git: the shard folder inside the work tree, default <top>/grapevine)')
    .option('--git', 'commit this node\'s shards, pull --rebase, ingest, push (run inside a git work tree)')
    .option('--remote <remote>', 'with --git: the remote (default: the branch\'s upstream, else origin)')
    .option('--relay', 'also write the ops of other authors this node holds (got by gossip) that the folder lacks, for folder-only nodes')
    .option('--pack-before <yyyy-mm>', 'first pack this node\'s day files of the months before this one into monthly files')
    .action(async (opts: SyncOptions) => {
      if (opts.git !== true && opts.dir === undefined) throw new UsageError('say where to sync: --dir PATH (a shared folder) or --git (inside a git clone)')
      if (opts.remote !== undefined && opts.git !== true) throw new UsageError('--remote goes with --git')
      if (opts.packBefore !== undefined && !monthPattern.test(opts.packBefore)) throw new UsageError(`--pack-before takes a month, yyyy-mm (e.g. 2026-10), not ${JSON.stringify(opts.packBefore)}`)
      await withLocal(io, (l) => {
        let doc: Record<string, unknown>
        let problems: readonly Problem[]
        if (opts.git === true) {
          const cwd = opts.dir === undefined ? process.cwd() : existingDir(opts.dir)
          const r = gitSync.syncGit(l, { cwd, remote: opts.remote, dir: opts.dir === undefined ? undefined : resolve(opts.dir), packBefore: opts.packBefore, relay: opts.relay })
          if (!r.ok) throw new CliError(r.detail)
          doc = { ...r.value }
          problems = r.value.problems
          if (!ctx.json())
            io.out(`synced ${r.value.dir} on ${r.value.branch}${r.value.remote === undefined ? ' (no remote: committed locally)' : ` with ${r.value.remote}`}: wrote ${r.value.written} op${r.value.written === 1 ? '' : 's'}, took ${r.value.ingested}${r.value.pending > 0 ? `, ${r.value.pending} left for a later sync` : ''}${r.value.pushAttempts > 1 ? ` (pushed after ${r.value.pushAttempts} attempts)` : ''}\n`)
        } else {
          const r = folderSync.syncFolder(l, resolve(opts.dir as string), { packBefore: opts.packBefore, relay: opts.relay })
          if (!r.ok) throw new CliError(r.reason === 'busy' ? `${r.detail}: wait for it, or remove the lock file if no grapevine is running` : r.detail)
          doc = { ...r.value }
          problems = r.value.problems
          if (!ctx.json())
            io.out(`synced ${r.value.dir}: wrote ${r.value.written} op${r.value.written === 1 ? '' : 's'}, took ${r.value.ingested}${r.value.pending > 0 ? `, ${r.value.pending} left for a later sync` : ''}\n`)
        }
        const packed = doc['packed'] as { months: string[]; days: number; ops: number } | undefined
        if (packed !== undefined && !ctx.json()) io.out(`packed ${packed.days} day file${packed.days === 1 ? '' : 's'} (${packed.ops} ops) into ${packed.months.length === 0 ? 'nothing (no day files before that month)' : packed.months.map((m) => `${m}.pack.jsonl`).join(', ')}\n`)
        if (ctx.json()) io.out(JSON.stringify(doc) + '\n')
        for (const p of problems.slice(0, problemsShownMax)) io.err(`grapevine: ${p.file}${p.line > 0 ? `:${p.line}` : ''}: ${p.reason}: ${p.detail}\n`)
        if (problems.length > problemsShownMax) io.err(`grapevine: … and ${problems.length - problemsShownMax} more (--json lists them all)\n`)
        if (problems.length > 0) io.err(`grapevine: ${problems.length} bad line${problems.length === 1 ? '' : 's'} skipped; the rest was synced\n`)
      })
    })
}
