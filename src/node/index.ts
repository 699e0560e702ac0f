/**
 * The node: wires the layers to real time, real randomness and real files. This entry is the light side
 * every command loads (the home, the local store, fleet credentials); what moves ops between nodes (the
 * daemon, folder and git sync) is the second entry, network.ts, loaded only by the commands that use it:
 * a bundled `tail` initializing the daemon, the transports and the gossip machines cost it ~4 ms of CPU.
 */
export * as home from './home.ts'
export type { Identity } from './home.ts'
export * as local from './local.ts'
export type { Local } from './local.ts'
export * as fleetHome from './fleet-home.ts'
export * as trace from './trace.ts'
