#!/usr/bin/env node
// Builds dist/grapevine.mjs: the CLI (src/api/cli.ts and everything it imports, commander and zod
// included) as ONE ES module, types stripped. Loading one cached file instead of ~150 modules (Grapevine's
// .ts sources, zod's ~95 files, commander's) is most of the CLI's start-up; bin/grapevine.js uses the bundle
// when it is at least as new as every source file it was built from, and the sources otherwise.
//
// Run by `npm install` / `npm ci` (the `prepare` script) and by hand: `npm run build:cli`. Without esbuild
// (a production install leaves devDependencies out) it says so and exits 0: the CLI runs from the sources.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = new URL('../', import.meta.url)
const entry = fileURLToPath(new URL('src/api/cli.ts', root))
export const bundlePath = fileURLToPath(new URL('dist/grapevine.mjs', root))

/**
 * The files a bundle was built from, beside it (`grapevine.mjs` -> `grapevine.inputs.json`): the sources
 * it holds, relative to the repo root, and node_modules/.package-lock.json, which npm rewrites whenever it
 * changes a dependency. bin/grapevine.js takes the bundle only if none of them is newer than it.
 * @param {string} bundle
 */
export const inputsPathOf = (bundle) => bundle.replace(/\.mjs$/, '') + '.inputs.json'

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
  try {
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
      // commander is CommonJS: its require('node:events') needs a require in an ES module
      banner: { js: "import { createRequire as __gvCreateRequire } from 'node:module'; const require = __gvCreateRequire(import.meta.url);" },
    })
    const inputs = Object.keys(r.metafile.inputs).filter((f) => !f.startsWith('node_modules/'))
    inputs.push('node_modules/.package-lock.json')
    writeFileSync(inputsPathOf(out), JSON.stringify({ bundle: 'grapevine.mjs', inputs }, null, 1) + '\n')
    // atomic: a CLI starting meanwhile loads the old bundle or the new one, never half of one
    renameSync(tmp, out)
  } finally {
    rmSync(tmp, { force: true })
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
