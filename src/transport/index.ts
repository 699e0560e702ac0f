/**
 * Transports (design.md section 7): moving bytes between nodes. folder.ts is the shared-folder transport
 * (one JSONL file per author and day); secure.ts is the peer session, sans-I/O: the handshake that
 * authenticates fleet members and the sealed frames that follow it.
 */
export * as folder from './folder.ts'
export type { FileOffset, Offsets, Problem, ProblemReason, ShardOp, LineFailure, PackReport } from './folder.ts'
export * as secure from './secure.ts'
export type { Creds, Env, Handshake, HandshakeFailure, HandshakeOptions, FrameFailure, ReplayGuard, Session, Step } from './secure.ts'
