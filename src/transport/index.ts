/**
 * Transports (design.md section 7): moving bytes between nodes. folder.ts is the shared-folder transport
 * (one JSONL file per author and day); secure.ts is the peer session, sans-I/O: the handshake that
 * authenticates fleet members and the sealed frames that follow it.
 */
export * as folder from './folder.ts'
export type { FileOffset, Offsets, Problem, ProblemReason, ShardOp, LineFailure, PackReport } from './folder.ts'
export * as secure from './secure.ts'
export type { Creds, Env, Handshake, HandshakeFailure, HandshakeOptions, FrameFailure, ReplayGuard, Session, Step } from './secure.ts'
export * as frames from './frames.ts'
export * as links from './links.ts'
export type { Link, LinkEvents, LinkOptions, Listener, Security } from './links.ts'
export { plainSecurity } from './plain-security.ts'
