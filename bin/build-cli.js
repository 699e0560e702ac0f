#!/usr/bin/env node
// Builds dist/grapevine.mjs: the CLI (src/api/cli.ts and everything it imports, commander and zod
// included) as ONE ES module, types stripped. Loading one cached file instead of ~150 modules (Grapevine's
// .ts sources, zod's ~95 files, commander's) is most of the CLI's start-up; bin/grapevine.js uses the bundle
// when it is at least as new as every source file it was built from, and the sources otherwise.
//
// Run by `npm install` / `npm ci` (the `prepare` script) and by hand: `npm run build:cli`. Without esbuild
// (a production install leaves devDependencies out) it says so and exits 0: the CLI runs from the sources.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = new URL('../', import.meta.url)
const entry = fileURLToPath(new URL('src/api/cli.ts', root))
export const bundlePath = fileURLToPath(new URL('dist/grapevine.mjs', root))

/**
 * The files a bundle was built from, beside it (`grapevine.mjs` -> `grapevine.inputs.json`): the sources
 * it holds, relative to the repo root, this script, and node_modules/.package-lock.json, which npm
 * rewrites whenever it changes a dependency. bin/grapevine.js takes the bundle only if none of them is newer than it.
 * @param {string} bundle
 */
export const inputsPathOf = (bundle) => bundle.replace(/\.mjs$/, '') + '.inputs.json'

/**
 * Built-in modules loaded on first use rather than when the bundle starts: the common commands (tail,
 * search, fact get) never call them, and loading one costs a start 1-5 ms. Named imports of their
 * functions become wrappers that load the module when called (process.getBuiltinModule, Node >= 22.3).
 * Importing anything but a function (a class, a constant) from them fails the build. node:crypto is one:
 * only signing, verifying and hashing call it, and loading it costs ~5 ms; node:tty loads net and the
 * streams, and only a command that paints on a character device asks it (src/api/cli.ts).
 */
const lazyBuiltins = ['node:readline', 'node:timers/promises', 'node:child_process', 'node:crypto', 'node:tty', 'node:net']

/**
 * Every built-in module is taken from process.getBuiltinModule, never through an ES `import`: importing
 * a built-in builds its ES facade, which reads every export, and node:fs's ReadStream, WriteStream and
 * promises are getters that load the whole streams machinery (~5 ms of a start that prints 20 lines).
 * Eager built-ins export their data properties (functions, classes, constants) bound once, and their
 * module as the default export; their accessors (fs.ReadStream ...) are left out: importing one fails
 * the build. Lazy ones export only wrappers of their functions.
 */
/** @type {import('esbuild').Plugin} */
const builtinsPlugin = {
  name: 'builtins',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'builtin' }))
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, async (a) => {
      const mod = /** @type {Record<string, unknown>} */ (process.getBuiltinModule(a.path))
      if (mod === undefined) throw new Error(`${a.path} is not a built-in module`)
      const id = /^[A-Za-z_$][\w$]*$/
      const lines = []
      if (lazyBuiltins.includes(a.path)) {
        lines.push(`const m = () => process.getBuiltinModule(${JSON.stringify(a.path)})`)
        const fns = Object.keys(mod).filter((k) => typeof mod[k] === 'function' && /^[a-z][\w$]*$/.test(k))
        for (const k of fns) lines.push(`export const ${k} = (...args) => m().${k}(...args)`)
      } else {
        lines.push(`const m = process.getBuiltinModule(${JSON.stringify(a.path)})`, 'export default m')
        const own = Object.getOwnPropertyDescriptors(mod)
        for (const [k, d] of Object.entries(own)) {
          if ('value' in d && id.test(k) && k !== 'default') lines.push(`export const ${k} = m.${k}`)
        }
      }
      return { contents: lines.join('\n'), loader: 'js' }
    })
  },
}

/**
 * Packages the bundle loads on first use, not at start. They are bundled apart, as CommonJS, into a file
 * beside the bundle (lazyPathOf), and imports of them become a module of wrappers of their functions that
 * require that file when one is first called. zod: src/knowledge/kinds.ts builds its schemas on first
 * use, so the reading commands never load zod, nor even read its code (138 kB of the 390 kB bundle;
 * ~4 ms of a start). Importing anything but a function from them fails the build.
 */
const lazyPackages = ['zod']

/** The file of a bundle's lazy package, beside it: `grapevine.mjs` -> `grapevine.zod.cjs`. */
export const lazyPathOf = (bundle, pkg) => bundle.replace(/\.mjs$/, '') + `.${pkg}.cjs`

/** The names of a package's functions (what the wrappers stand for, and all its lazy file exports). */
async function functionsOf(pkg) {
  const mod = /** @type {Record<string, unknown>} */ (await import(pkg))
  return Object.keys(mod).filter((k) => typeof mod[k] === 'function' && /^[A-Za-z_$][\w$]*$/.test(k))
}

/**
 * @param {string} bundle the bundle's path (its lazy files are beside it)
 * @returns {import('esbuild').Plugin}
 */
const lazyPackagesPlugin = (bundle) => ({
  name: 'lazy-packages',
  setup(build) {
    const filter = new RegExp(`^(${lazyPackages.join('|')})$`)
    build.onResolve({ filter }, (a) => ({ path: a.path, namespace: 'lazy-package' }))
    build.onLoad({ filter: /.*/, namespace: 'lazy-package' }, async (a) => {
      const fns = await functionsOf(a.path)
      const file = `./${basename(lazyPathOf(bundle, a.path))}`
      const lines = [
        `let p; const m = () => (p ??= process.getBuiltinModule('node:module').createRequire(import.meta.url)(${JSON.stringify(file)}))`,
      ]
      // through a local name: some exports are reserved words (z.catch)
      for (const k of fns)
        lines.push(`function f_${k}(...args) { return new.target ? new (m().${k})(...args) : m().${k}(...args) }`, `export { f_${k} as ${k} }`)
      return { contents: lines.join('\n'), loader: 'js' }
    })
  },
})

/**
 * The `require` of the bundle's CommonJS parts (commander): they require only built-ins, which
 * process.getBuiltinModule gives without a createRequire; node:child_process (commander runs
 * executable subcommands with it, which grapevine has none of) is loaded only if used.
 */
const requireShim = [
  'const require = (id) => {',
  "  if (id === 'node:child_process') return new Proxy({}, { get: (_, k) => process.getBuiltinModule(id)[k] })",
  '  const m = process.getBuiltinModule(id)',
  '  if (m === undefined) throw new Error(`grapevine bundle: ${id} is not a built-in module (bin/build-cli.js)`)',
  '  return m',
  '};',
].join('\n')

/** @returns {Promise<boolean>} whether the bundle was written */
export async function buildCli(out = bundlePath) {
  /** @type {typeof import('esbuild') | undefined} */
  let esbuild
  try {
    esbuild = await import('esbuild')
  } catch {
    console.error('build-cli: esbuild is not installed (npm install --include=dev); the CLI will run from src/')
    return false
  }
  mkdirSync(dirname(out), { recursive: true })
  const tmp = `${out}.${process.pid}.tmp`
  const lazyOuts = lazyPackages.map((pkg) => lazyPathOf(out, pkg))
  const lazyTmp = (f) => `${f}.${process.pid}.tmp`
  try {
    // the lazy packages first, so a bundle is never there without the files it requires; each as
    // CommonJS, of the package's functions only (its ES build, tree-shaken: zod's CommonJS build would
    // bring every locale, 714 kB)
    for (const [i, pkg] of lazyPackages.entries()) {
      const f = /** @type {string} */ (lazyOuts[i])
      await esbuild.build({
        absWorkingDir: fileURLToPath(root),
        stdin: {
          contents: `export { ${(await functionsOf(pkg)).join(', ')} } from ${JSON.stringify(pkg)}`,
          resolveDir: fileURLToPath(root),
          loader: 'js',
        },
        outfile: lazyTmp(f),
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node22',
        minifyWhitespace: true,
        minifySyntax: true,
        legalComments: 'eof',
        logLevel: 'warning',
      })
      renameSync(lazyTmp(f), f)
    }
    const r = await esbuild.build({
      absWorkingDir: fileURLToPath(root), // metafile paths are relative to the repo root
      entryPoints: [entry],
      outfile: tmp,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      // whitespace and syntax only: names stay, so a stack trace (GRAPEVINE_DEBUG) still reads
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: 'eof',
      metafile: true,
      logLevel: 'warning',
      banner: { js: requireShim },
      plugins: [builtinsPlugin, lazyPackagesPlugin(out)],
    })
    // files only (not the lazy-builtin shims), and not node_modules': npm's lock file stands for them
    const inputs = Object.keys(r.metafile.inputs).filter((f) => !f.startsWith('node_modules/') && !f.includes(':'))
    inputs.push('bin/build-cli.js') // a bundle built another way is stale too
    // written first, so never newer; missing: stale
    for (const f of lazyOuts) inputs.push(relative(fileURLToPath(root), f))
    // npm rewrites this on every change to node_modules (other package managers do not write it)
    if (existsSync(new URL('node_modules/.package-lock.json', root))) inputs.push('node_modules/.package-lock.json')
    writeFileSync(`${tmp}.inputs`, JSON.stringify({ bundle: 'grapevine.mjs', inputs }, null, 1) + '\n')
    renameSync(`${tmp}.inputs`, inputsPathOf(out))
    // atomic: a CLI starting meanwhile loads the old bundle or the new one, never half of one
    renameSync(tmp, out)
  } finally {
    rmSync(tmp, { force: true })
    rmSync(`${tmp}.inputs`, { force: true })
    for (const f of lazyOuts) rmSync(lazyTmp(f), { force: true })
  }
  return true
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? bundlePath
  try {
    if (await buildCli(out)) console.error(`build-cli: wrote ${out}`)
  } catch (e) {
    console.error(`build-cli: ${e instanceof Error ? e.message : String(e)}`)
    process.exitCode = 1
  }
}
