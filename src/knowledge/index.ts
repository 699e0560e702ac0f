/**
 * The knowledge schema (design.md section 4): the registry of op kinds and their bodies (kinds.ts) and
 * the view rows every store must produce (rows.ts). Pure: no I/O, no clock.
 */
export * from './dot-ref.ts'
export * from './kinds.ts'
export * from './ids.ts'
export * from './rows.ts'
