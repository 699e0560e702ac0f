/** The store: SQLite through node:sqlite. The only SQL in the codebase lives in this layer. */
export * as opLog from './op-log.ts'
export type { OpLog, Intent, AppendResult } from './op-log.ts'
export * from './reads.ts'
export * as views from './views.ts'
export type { StoreMetrics } from './views.ts'
export * as cursor from './cursor.ts'
