/**
 * The knowledge schema (design.md section 4): the registry of op kinds and their bodies (kinds.ts), the
 * view rows every store must produce (rows.ts), and the reference model that produces them from any set
 * of ops (views.ts). Pure: no I/O, no clock; a read that depends on time takes `nowMs`.
 */
export * from './dot-ref.ts'
export * from './kinds.ts'
export * from './ids.ts'
export * from './rows.ts'
export * from './views.ts'
