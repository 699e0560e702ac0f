#!/usr/bin/env node
// The `grapevine` command. Plain JavaScript, so that it parses on any Node that can say it is too old.
// Grapevine's sources are TypeScript run by Node's type stripping (Node >= 22.18 or 23.6 by default, or
// 22.13+ with --experimental-strip-types). On an older Node this shim re-runs itself with the Node that
// `npm install` put in this package's node_modules (the `node` devDependency), if there is one.
// No static import of a built-in: an ES import of node:fs builds its ES facade, which loads Node's streams
// (~5 ms of every start). The recent-Node path takes them from process.getBuiltinModule (Node >= 22.3);
// the old-Node path imports them, once it knows it must re-run.

const reexecMark = 'GRAPEVINE_SHIM_REEXEC'
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
const recentEnough = major > 22 || (major === 22 && minor >= 13)
// 'strip' or 'transform' when type stripping is on; false when off; undefined before Node 22.10.
const stripsTypes = Boolean(process.features.typescript)

if (recentEnough && stripsTypes) {
  // Cache the compiled (type-stripped) modules on disk: an agent runs grapevine at every step, and this
  // takes the start-up from ~300 ms to ~100 ms here. The cache lives in the OS temp dir (or
  // NODE_COMPILE_CACHE); a stale or missing cache only costs a recompile.
  process.getBuiltinModule('node:module').enableCompileCache?.()
  const bundle = freshBundle()
  const mod = await import(bundle ?? new URL('../src/api/cli.ts', import.meta.url).href)
  await mod.run()
} else {
  const { existsSync } = await import('node:fs')
  const { fileURLToPath } = await import('node:url')
  const localNode = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url))
  const again = process.env[reexecMark] === '1' // never loop if the re-run Node is no better
  if (!again && existsSync(localNode)) {
    await rerun(localNode, [])
  } else if (!again && recentEnough) {
    await rerun(process.execPath, ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'])
  } else {
    console.error(
      `grapevine needs Node >= 22.13 with type stripping, and this is Node ${process.versions.node}: ` +
        `install Node 24, or run npm install in ${fileURLToPath(new URL('..', import.meta.url))}`,
    )
    process.exit(1)
  }
}

/**
 * The URL of dist/grapevine.mjs, the CLI bundled into one module by bin/build-cli.js (npm install builds
 * it), if it is at least as new as every file it was built from (listed beside it); else undefined, and
 * the CLI runs from the sources, so an edited source is never shadowed by an old bundle. One module
 * instead of ~150 is most of the start-up. GRAPEVINE_CLI=source forces the sources; GRAPEVINE_CLI=bundle
 * the bundle (an error if there is no fresh one: for tests and benchmarks).
 * @returns {string | undefined}
 */
function freshBundle() {
  const { readFileSync, statSync } = process.getBuiltinModule('node:fs')
  const mode = process.env.GRAPEVINE_CLI
  if (mode !== undefined && mode !== '' && mode !== 'source' && mode !== 'bundle') {
    console.error(`grapevine: GRAPEVINE_CLI is ${JSON.stringify(mode)}: use source or bundle, or leave it unset`)
    process.exit(2)
  }
  if (mode === 'source') return undefined
  const root = new URL('..', import.meta.url)
  const bundle = new URL('dist/grapevine.mjs', root)
  let why
  try {
    const builtMs = statSync(bundle).mtimeMs
    /** @type {{ inputs?: unknown }} */
    const meta = JSON.parse(readFileSync(new URL('dist/grapevine.inputs.json', root), 'utf8'))
    if (!Array.isArray(meta.inputs) || meta.inputs.length === 0) why = 'without a list of its inputs'
    for (const f of Array.isArray(meta.inputs) ? meta.inputs : []) {
      if (typeof f !== 'string') why = 'listed with a bad input'
      else if ((statSync(new URL(f, root), { throwIfNoEntry: false })?.mtimeMs ?? Infinity) > builtMs) why = `older than ${f}`
      if (why !== undefined) break
    }
  } catch (e) {
    why = /** @type {NodeJS.ErrnoException} */ (e).code === 'ENOENT' ? 'not built' : `unreadable (${String(e)})`
  }
  if (why === undefined) return bundle.href
  if (mode === 'bundle') {
    console.error(`grapevine: GRAPEVINE_CLI=bundle, but dist/grapevine.mjs is ${why}: run npm run build:cli`)
    process.exit(1)
  }
  return undefined
}

/**
 * Runs this file again under `node` and mirrors its exit. SIGTERM and SIGHUP are forwarded (a supervisor
 * sends them to this pid only); SIGINT is not, because a terminal's Ctrl-C already reaches the whole
 * process group, and a second one would cut a graceful shutdown short.
 * @param {string} node
 * @param {string[]} flags
 */
async function rerun(node, flags) {
  const { spawn } = await import('node:child_process') // only here: loading it costs every start ~2 ms
  const { fileURLToPath } = await import('node:url')
  const child = spawn(node, [...flags, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, [reexecMark]: '1' },
  })
  const ignore = () => {}
  process.on('SIGINT', ignore)
  for (const signal of /** @type {const} */ (['SIGTERM', 'SIGHUP'])) {
    process.on(signal, () => child.kill(signal))
  }
  child.on('error', (err) => {
    console.error(`grapevine: could not run ${node}: ${err.message}`)
    process.exit(1)
  })
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1)
    process.removeAllListeners(signal) // die of the same signal, so the caller sees what happened
    process.kill(process.pid, signal)
  })
}
