// The gossip layer (design.md section 6): sans-I/O state machines driven by tick(now) and receive(from, message).
export * as membership from './membership.ts'
export * as antiEntropy from './anti-entropy.ts'
export { createMembership, membershipDefaults } from './membership.ts'
export type { Membership, MembershipConfig, MembershipMessage, Member, MemberStatus } from './membership.ts'
export * as broadcast from './broadcast.ts'
export { createBroadcast, broadcastDefaults } from './broadcast.ts'
export type { Broadcast, BroadcastConfig, BroadcastMessage, BroadcastMode, Topology } from './broadcast.ts'
