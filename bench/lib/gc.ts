/**
 * A garbage collection between measurements, so one system's garbage is not collected on another's clock.
 * `npm run bench` starts node without --expose-gc; V8 can still expose gc() to a fresh context after start.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

type Gc = () => void

function load(): Gc {
  const existing = (globalThis as { gc?: Gc }).gc
  if (typeof existing === 'function') return existing
  setFlagsFromString('--expose-gc')
  const fn: unknown = runInNewContext('gc')
  if (typeof fn !== 'function') throw new Error('bench: could not expose gc()')
  return fn as Gc
}

const gcFn = load()

/** Runs a full collection twice (the second frees what finalizers released). */
export function fullGc(): void {
  gcFn()
  gcFn()
}
