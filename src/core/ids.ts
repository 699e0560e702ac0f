import { fail, ok, type Result } from './result.ts'

/**
 * A replica's identity. In a fleet it is the node's Ed25519 public key (design.md section 3); the core only
 * needs it to be a short, non-empty string that totally orders replicas (the last LWW tiebreak).
 */
export type NodeId = string & { readonly __brand: 'NodeId' }

/** Longest node id the core accepts: a hex Ed25519 key is 64, so this leaves room for a prefix. */
export const nodeIdCharsMax = 128

/** Checks a string from outside and brands it. */
export function parseNodeId(s: unknown): Result<NodeId, 'invalid_node_id'> {
  if (typeof s !== 'string' || s.length === 0 || s.length > nodeIdCharsMax) {
    return fail('invalid_node_id', `a node id is a string of 1..${nodeIdCharsMax} characters`)
  }
  return ok(s as NodeId)
}

/** Brands a string the caller knows to be valid (tests, constants); throws on an invalid one. */
export function asNodeId(s: string): NodeId {
  const r = parseNodeId(s)
  if (!r.ok) throw new TypeError(`${r.detail}: ${JSON.stringify(s)}`)
  return r.value
}

/** Total order on node ids: plain UTF-16 code unit order, the same on every replica. */
export function compareNodeIds(a: NodeId, b: NodeId): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0
}
