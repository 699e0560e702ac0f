/**
 * A node's home: its identity (Ed25519 key and a human-readable name) and its store, in one directory.
 * GRAPEVINE_HOME selects it; the default is the XDG data directory ($XDG_DATA_HOME/grapevine, else
 * ~/.local/share/grapevine). Key generation is randomness, so it lives here in src/node, not below.
 *
 *   <home>/identity.json   {"format":1,"name":…,"author":<64 hex>,"seed":<64 hex>}, mode 0600
 *   <home>/store.db        the SQLite store (plus its -wal and -shm files)
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'
import * as log from '../log/index.ts'
import type { AuthorId, Signer } from '../log/index.ts'

export const identityFile = 'identity.json'
export const storeFile = 'store.db'
export const nameCharsMax = 64

export type Identity = { readonly name: string; readonly author: AuthorId; readonly signer: Signer }

/** The home directory: GRAPEVINE_HOME, else the XDG data directory. */
export function resolveHome(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['GRAPEVINE_HOME']
  if (explicit !== undefined && explicit !== '') return explicit
  const xdg = env['XDG_DATA_HOME']
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.local', 'share'), 'grapevine')
}

export type HomeFailure = 'invalid_name' | 'exists' | 'unreadable' | 'io'

/** A name as people see it: 1..64 printable characters, no control characters. */
export function parseName(name: string): Result<string, 'invalid_name'> {
  // eslint-disable-next-line no-control-regex -- reason: control characters are exactly what is refused
  if (name.length === 0 || name.length > nameCharsMax || /[\u0000-\u001f\u007f]/.test(name)) {
    return core.fail('invalid_name', `a node name is 1..${nameCharsMax} printable characters`)
  }
  return core.ok(name)
}

/** A generated name for an implicit init: readable, and different on every machine. */
export function generatedName(): string {
  return `agent-${randomBytes(3).toString('hex')}`
}

/**
 * Creates the identity in home. Never overwrites one: the file is written to a temporary name and
 * hard-linked into place, which fails if another process got there first (then its identity stands).
 */
export function init(home: string, name: string): Result<Identity, HomeFailure> {
  const n = parseName(name)
  if (!n.ok) return n
  const path = join(home, identityFile)
  if (existsSync(path)) return core.fail('exists', `${home} already has an identity`)
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 })
    const { privateKey } = generateKeyPairSync('ed25519')
    const seed = log.privateKeyBytes(privateKey)
    const signer = log.createSigner(seed)
    if (!signer.ok) return core.fail('io', signer.detail)
    const doc = { format: 1, name: n.value, author: signer.value.author, seed: log.toHex(seed) }
    const tmp = `${path}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
    try {
      linkSync(tmp, path)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return core.fail('exists', `${home} already has an identity`)
      throw e
    } finally {
      rmSync(tmp, { force: true })
    }
    chmodSync(path, 0o600)
    return core.ok({ name: n.value, author: signer.value.author, signer: signer.value })
  } catch (e) {
    return core.fail('io', `cannot create an identity in ${home}: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** Reads the identity of home, validating every field (the file is input from outside). */
export function load(home: string): Result<Identity, 'missing' | 'unreadable'> {
  const path = join(home, identityFile)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return core.fail('missing', `no identity in ${home}`)
    return core.fail('unreadable', `cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`)
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return core.fail('unreadable', `${path} is not JSON`)
  }
  const d = doc as { format?: unknown; name?: unknown; author?: unknown; seed?: unknown }
  if (typeof d !== 'object' || d === null || d.format !== 1) return core.fail('unreadable', `${path}: unknown identity format`)
  if (typeof d.name !== 'string' || !parseName(d.name).ok) return core.fail('unreadable', `${path}: bad name`)
  if (typeof d.seed !== 'string' || !/^[0-9a-f]{64}$/.test(d.seed)) return core.fail('unreadable', `${path}: bad seed`)
  const author = log.parseAuthorId(d.author)
  if (!author.ok) return core.fail('unreadable', `${path}: bad author (${author.detail})`)
  // the key is made, and checked to be the author's, when it first signs: reads never load node:crypto
  const signer = log.seedSigner(Uint8Array.from(Buffer.from(d.seed, 'hex')), author.value)
  if (!signer.ok) return core.fail('unreadable', `${path}: ${signer.detail}`)
  return core.ok({ name: d.name, author: author.value, signer: signer.value })
}

/**
 * The identity of home, creating one with a generated name on first use (design.md: every command runs
 * init implicitly). `created` says whether it was made now, so the CLI can say so on stderr.
 */
export function loadOrInit(home: string): Result<{ identity: Identity; created: boolean }, HomeFailure | 'missing'> {
  const l = load(home)
  if (l.ok) return core.ok({ identity: l.value, created: false })
  if (l.reason !== 'missing') return l
  const i = init(home, generatedName())
  if (i.ok) return core.ok({ identity: i.value, created: true })
  if (i.reason !== 'exists') return i
  const again = load(home) // another process initialised it first
  return again.ok ? core.ok({ identity: again.value, created: false }) : again
}
