/**
 * Frames: how messages travel on a peer link (a byte stream: TCP). A frame is
 *
 *   length  u32, big-endian: the payload's byte count
 *   payload `length` bytes
 *
 * A frame is valid if and only if:
 *   (1) its length is at most the receiver's `frameBytesMax` (checked on the four prefix bytes, before
 *       a byte of the payload is buffered or allocated: a lying prefix costs the receiver nothing);
 *   (2) the stream carries all `length` payload bytes before it ends (a stream ending inside a frame is
 *       `truncated`).
 * A zero-length payload is a valid frame (links use none, but the format does not forbid it).
 *
 * The decoder takes the stream in chunks cut anywhere (one byte at a time, or many frames in one chunk)
 * and returns the same frames. Once it has failed it stays failed: the link is closed, never resynced,
 * since nothing after a bad prefix can be trusted to be a frame boundary.
 */
import * as core from '../core/index.ts'
import type { Result } from '../core/index.ts'

/** Bytes of the length prefix. */
export const prefixBytes = 4

/**
 * Default largest payload: 2 MiB and 1 KiB. The largest message a node sends is an anti-entropy delta of
 * one signed run (up to 1 MiB of ops, log batchBytesMax) with its digest (secure.ts framePlainBytesMax:
 * 2 MiB), plus the session's sealing overhead (24 bytes today; the rest is room).
 */
export const frameBytesMaxDefault = 2 * 1024 * 1024 + 1024

/** Hard ceiling whatever the configuration (u32, and a limit that still means something). */
export const frameBytesLimit = 64 * 1024 * 1024

export type FrameFailure = 'too_large' | 'truncated'

/** One frame's bytes: the prefix then the payload. Throws (a bug) on a payload over frameBytesLimit. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  core.assert(payload.length <= frameBytesLimit, 'frames: payload over frameBytesLimit')
  const n = payload.length
  const out = new Uint8Array(prefixBytes + n)
  out[0] = n >>> 24
  out[1] = (n >>> 16) & 0xff
  out[2] = (n >>> 8) & 0xff
  out[3] = n & 0xff
  out.set(payload, prefixBytes)
  return out
}

export type FrameDecoder = {
  /**
   * Feeds the next chunk of the stream; returns the frames it completed, in order, or the failure. With
   * `each`, every frame goes to it as soon as it is complete, before the next prefix is read (so `each`
   * may change a limit function's answer for the frames after it), and the result's list stays empty;
   * `each` returning false stops the push there (the rest of the chunk is dropped and the decoder fails:
   * the caller is closing the stream). A failure after some frames: those frames were handed to `each`
   * already (without `each` they are lost with the chunk).
   */
  push(chunk: Uint8Array, each?: (frame: Uint8Array) => boolean): Result<Uint8Array[], FrameFailure>
  /** The stream ended: ok if it ended on a frame boundary, `truncated` otherwise. */
  end(): Result<void, FrameFailure>
  /** Bytes held for the frame in progress (at most prefixBytes + frameBytesMax). */
  buffered(): number
}

/**
 * `frameBytesMax`: a number, or a function asked at every prefix (links.ts: the handshake's limit until
 * the handshake is done, then the frame limit); its answer must be an integer in 0..frameBytesLimit.
 */
export function createFrameDecoder(frameBytesMax: number | (() => number) = frameBytesMaxDefault): FrameDecoder {
  const limit = typeof frameBytesMax === 'number' ? () => frameBytesMax : frameBytesMax
  const checkLimit = (n: number): number => {
    core.assert(Number.isInteger(n) && n >= 0 && n <= frameBytesLimit, 'frames: frameBytesMax out of range')
    return n
  }
  if (typeof frameBytesMax === 'number') checkLimit(frameBytesMax)
  const prefix = new Uint8Array(prefixBytes)
  let prefixHave = 0
  /** The payload being filled (allocated once its length passed rule 1), or undefined while reading a prefix. */
  let payload: Uint8Array | undefined
  let payloadHave = 0
  let failed: core.Fail<FrameFailure> | undefined

  const fail = (reason: FrameFailure, detail: string): core.Fail<FrameFailure> => {
    failed = core.fail(reason, detail)
    payload = undefined
    return failed
  }

  return {
    push(chunk, each) {
      if (failed !== undefined) return failed
      const out: Uint8Array[] = []
      let stop = false
      const emit = (f: Uint8Array): void => {
        if (each === undefined) out.push(f)
        else if (!each(f)) stop = true
      }
      let i = 0
      while (i < chunk.length) {
        if (payload === undefined) {
          const take = Math.min(prefixBytes - prefixHave, chunk.length - i)
          prefix.set(chunk.subarray(i, i + take), prefixHave)
          prefixHave += take
          i += take
          if (prefixHave < prefixBytes) break
          const length = ((prefix[0] as number) * 0x1000000 + ((prefix[1] as number) << 16) + ((prefix[2] as number) << 8) + (prefix[3] as number))
          prefixHave = 0
          // rule (1), before anything is allocated
          const max = checkLimit(limit())
          if (length > max) return fail('too_large', `frame of ${length} bytes, over the limit of ${max}`)
          if (length === 0) {
            emit(new Uint8Array(0))
            if (stop) return fail('truncated', 'stopped by the reader')
            continue
          }
          // a whole frame inside the chunk: a view, no copy (the caller owns the chunk from here)
          if (chunk.length - i >= length) {
            emit(chunk.subarray(i, i + length))
            i += length
            if (stop) return fail('truncated', 'stopped by the reader')
            continue
          }
          payload = new Uint8Array(length)
          payloadHave = 0
        }
        const take = Math.min(payload.length - payloadHave, chunk.length - i)
        payload.set(chunk.subarray(i, i + take), payloadHave)
        payloadHave += take
        i += take
        if (payloadHave === payload.length) {
          const f = payload
          payload = undefined
          emit(f)
          if (stop) return fail('truncated', 'stopped by the reader')
        }
      }
      return core.ok(out)
    },
    end() {
      if (failed !== undefined) return failed
      // rule (2)
      if (payload !== undefined) return fail('truncated', `the stream ended ${payload.length - payloadHave} bytes short of a ${payload.length}-byte frame`)
      if (prefixHave > 0) return fail('truncated', `the stream ended inside a length prefix (${prefixHave} of ${prefixBytes} bytes)`)
      return core.ok(undefined)
    },
    buffered() {
      return prefixHave + (payload === undefined ? 0 : payloadHave)
    },
  }
}
