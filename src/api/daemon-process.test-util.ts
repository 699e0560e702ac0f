/**
 * Test helper for `grapevine up` as a real process (cli-daemon.test.ts, cli-daemon-chaos.test.ts,
 * dashboard.test.ts): starts it with --json and reads the document it prints first (where it listens).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The CLI's entry point. */
export const bin = fileURLToPath(new URL('../../bin/grapevine.js', import.meta.url))

/** What `grapevine up --json` prints first. */
export type UpDoc = { address: string; api: string; dashboard: string }

export type UpProcess = {
  child: ChildProcess
  /** Its exit code once it exited. */
  exited: Promise<number | null>
  /** Its first line, parsed; rejected (with its stderr, unless `quiet`) if it exits before. */
  ready: Promise<UpDoc>
}

/**
 * Spawns `grapevine <argv>` (argv starts with `up --json`) with `env`. `quiet`: stdin and stderr
 * ignored (a process restarted many times, whose messages the test does not read).
 */
export function spawnUp(argv: readonly string[], env: NodeJS.ProcessEnv, o: { quiet?: boolean } = {}): UpProcess {
  const child = spawn(process.execPath, [bin, ...argv], o.quiet === true ? { env, stdio: ['ignore', 'pipe', 'ignore'] } : { env })
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  let err = ''
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  const ready = new Promise<UpDoc>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (nl < 0) return
      resolve(JSON.parse(out.slice(0, nl)) as UpDoc)
    })
    child.on('exit', (code) => reject(new Error(o.quiet === true ? `grapevine up exited ${code}` : `grapevine up exited ${code}: ${err}`)))
  })
  return { child, exited, ready }
}
