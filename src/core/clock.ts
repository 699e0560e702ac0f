/**
 * The wall clock, as a port. Below src/node nothing reads real time: the daemon passes a clock backed by
 * Date.now, the simulator and tests pass a manual one they move themselves.
 */
export type Clock = {
  /** Milliseconds since the Unix epoch. May jump backwards (NTP); the HLC copes with that. */
  nowMs(): number
}

/** A clock that only moves when told to: for tests and the simulator. */
export type ManualClock = Clock & {
  set(ms: number): void
  advance(ms: number): void
}

export function createManualClock(startMs = 0): ManualClock {
  let t = startMs
  return {
    nowMs: () => t,
    set(ms) {
      t = ms
    },
    advance(ms) {
      t += ms
    },
  }
}
