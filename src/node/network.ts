/**
 * The node's second entry (index.ts is the first): what moves ops between nodes, the daemon on peer
 * links and sync through a shared folder or git. Only the commands that run them import it.
 */
export * as folderSync from './folder-sync.ts'
export type { FolderSyncReport, FolderSyncResult } from './folder-sync.ts'
export * as daemon from './daemon.ts'
export { startDaemon } from './daemon.ts'
export type { Daemon, DaemonOptions, DaemonStats, PeerView } from './daemon.ts'
export * as gitSync from './git-sync.ts'
export type { GitSyncReport, GitSyncResult } from './git-sync.ts'
