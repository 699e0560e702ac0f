/**
 * The dashboard's static files (web/: index.html, app.js, style.css), as the HTTP API serves them.
 *
 * No path from a URL ever reaches the file system: a fixed table maps the few URL paths to the files,
 * read once on first request and kept. They hold no data (the page asks the API for everything, with the
 * token it reads from the URL's fragment), so they need no token; every answer carries a strict
 * Content-Security-Policy (scripts from this origin only, none inline) and is revalidated (no-cache).
 *
 * web/ is found beside the module: two folders up from src/api/dashboard.ts, or one up from the CLI's
 * bundle (dist/grapevine.mjs, bin/build-cli.js), which holds this module's code; the first that has an
 * index.html wins.
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The URL paths served, and their files in web/ (nothing else is). */
export const assets: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
}

/**
 * Everything from this origin only; no inline script or style, no plugins, no framing, no <base>. The
 * page's data comes from the API (connect-src 'self'); facts are untrusted and rendered as text anyway.
 */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ')

/** Headers of every dashboard answer (and of its 404s). */
export const headers: Readonly<Record<string, string>> = {
  'Content-Security-Policy': contentSecurityPolicy,
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
}

/** Where web/ is: beside the sources (src/api -> ../../web) or beside the bundle (dist -> ../web); undefined if neither has it. */
export function webDir(moduleUrl: string = import.meta.url): string | undefined {
  // the sources' layout first for a .ts module, the bundle's for the bundle
  for (const rel of moduleUrl.endsWith('.ts') ? ['../../web/', '../web/'] : ['../web/', '../../web/']) {
    const dir = fileURLToPath(new URL(rel, moduleUrl))
    if (existsSync(`${dir}index.html`)) return dir
  }
  return undefined
}

export type Asset = { readonly body: Uint8Array<ArrayBuffer>; readonly type: string }

/**
 * The asset of a URL path, undefined for any other path. Files are read on first request and kept (they
 * change only with the package). A missing web/ is an Error naming where it was looked for.
 */
export function createAssets(dir: string | undefined = webDir()): (path: string) => Asset | undefined {
  const cache = new Map<string, Asset>()
  return (path) => {
    if (!Object.hasOwn(assets, path)) return undefined
    const a = assets[path] as { file: string; type: string }
    let hit = cache.get(a.file)
    if (hit === undefined) {
      if (dir === undefined) throw new Error(`the dashboard's files (web/) are not beside ${fileURLToPath(import.meta.url)}: reinstall grapevine`)
      hit = { body: readFileSync(`${dir}${a.file}`), type: a.type }
      cache.set(a.file, hit)
    }
    return hit
  }
}

/**
 * Whether a GET path belongs to the API (which needs the token and answers 401 without it). Any other
 * path that is not an asset is a 404 at once, token or not: no file and no data is behind it.
 */
export function isApiPath(path: string): boolean {
  return /^\/(v1(\/|$)|metrics$|peers$|mcp$|healthz$)/.test(path)
}
