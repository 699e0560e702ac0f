/**
 * A seeded pseudo-random generator: sfc32 (Small Fast Counter, Chris Doty-Humphrey, as in PractRand), seeded
 * through splitmix32 so that nearby seeds give unrelated streams. 128 bits of state, period >= 2^32, passes
 * PractRand to many terabytes: plenty for simulation and jitter, and not for cryptography.
 */
export type Prng = { a: number; b: number; c: number; d: number }

function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0
  let z = x
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** A generator from a 32-bit seed (any number; it is truncated to an integer). */
export function create(seed: number): Prng {
  let s = seed >>> 0
  const next = (): number => {
    s = (s + 0x9e3779b9) >>> 0
    return splitmix32(s)
  }
  const p: Prng = { a: next(), b: next(), c: next(), d: next() }
  for (let i = 0; i < 12; i++) nextU32(p) // warm-up, as the sfc32 reference does
  return p
}

/** The next 32 random bits, as an unsigned integer. */
export function nextU32(p: Prng): number {
  const t = (((p.a + p.b) | 0) + p.d) | 0
  p.d = (p.d + 1) | 0
  p.a = p.b ^ (p.b >>> 9)
  p.b = (p.c + (p.c << 3)) | 0
  p.c = (p.c << 21) | (p.c >>> 11)
  p.c = (p.c + t) | 0
  return t >>> 0
}

/** A float in [0, 1) with 32 bits of randomness. */
export function nextFloat(p: Prng): number {
  return nextU32(p) / 4294967296
}

/** An integer in [0, n) for 1 <= n <= 2^32, without modulo bias. */
export function nextInt(p: Prng, n: number): number {
  if (!(n >= 1 && n <= 4294967296 && Number.isInteger(n))) throw new RangeError(`prng: bad bound ${n}`)
  const limit = 4294967296 - (4294967296 % n)
  for (;;) {
    const x = nextU32(p)
    if (x < limit) return x % n
  }
}

/** True with probability `chance` (0..1). */
export function chance(p: Prng, chance: number): boolean {
  return nextFloat(p) < chance
}

/** A new independent generator derived from this one (for giving each simulated node its own stream). */
export function fork(p: Prng): Prng {
  return create(nextU32(p) ^ Math.imul(nextU32(p), 0x27d4eb2d))
}

/** A copy that will produce the same stream from here on. */
export function clone(p: Prng): Prng {
  return { a: p.a, b: p.b, c: p.c, d: p.d }
}
