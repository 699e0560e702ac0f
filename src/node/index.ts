/** The node: wires the layers to real time, real randomness and real files. */
export * as home from './home.ts'
export type { Identity } from './home.ts'
export * as local from './local.ts'
export type { Local } from './local.ts'
export * as folderSync from './folder-sync.ts'
export type { FolderSyncReport, FolderSyncResult } from './folder-sync.ts'
