/**
 * Transports (design.md section 7): moving bytes between nodes. secure.ts is the peer session, sans-I/O:
 * the handshake that authenticates fleet members and the sealed frames that follow it.
 */
export * as secure from './secure.ts'
export type { Creds, Env, Handshake, HandshakeFailure, HandshakeOptions, FrameFailure, ReplayGuard, Session, Step } from './secure.ts'
