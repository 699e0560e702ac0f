/** What a benchmark ran on: printed with every result so that figures can be compared honestly. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import * as os from 'node:os'

const repoRoot = new URL('../../', import.meta.url)

/** The installed version of a package, read from its package.json (exports maps may hide it from import). */
export function packageVersion(name: string): string {
  try {
    const pkg: unknown = JSON.parse(
      readFileSync(new URL(`node_modules/${name}/package.json`, repoRoot), 'utf8'),
    )
    const v = (pkg as { version?: unknown }).version
    return typeof v === 'string' ? v : 'unknown'
  } catch {
    return 'not installed'
  }
}

/** The commit the benchmark ran at, with "+dirty" when the tree has uncommitted changes. */
function gitRevision(): string {
  try {
    const cwd = repoRoot.pathname
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' }).trim()
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
        cwd,
        encoding: 'utf8',
      }).trim() !== ''
    return dirty ? `${rev}+dirty` : rev
  } catch {
    return 'unknown'
  }
}

/** One line per fact: cores, CPU, memory, Node, OS, commit, and the versions of the given packages. */
export function describeMachine(packages: readonly string[]): string[] {
  const cpus = os.cpus()
  return [
    `cores:  ${os.availableParallelism()} (${cpus[0]?.model.trim() ?? 'unknown CPU'})`,
    `memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB total, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `node:   ${process.version} (${process.platform} ${process.arch}, V8 ${process.versions.v8})`,
    `commit: ${gitRevision()}`,
    `peers:  ${packages.map((p) => `${p}@${packageVersion(p)}`).join(', ')}`,
  ]
}
