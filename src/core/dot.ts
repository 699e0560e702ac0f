/** A dot names one event: the `seq`-th event of replica `node` (seq counts from 1). */
import { compareNodeIds, type NodeId } from './ids.ts'

export type Dot = { readonly node: NodeId; readonly seq: number }

export function compare(a: Dot, b: Dot): number {
  return compareNodeIds(a.node, b.node) || a.seq - b.seq
}

export function equals(a: Dot, b: Dot): boolean {
  return a.node === b.node && a.seq === b.seq
}

export function isValidSeq(seq: number): boolean {
  return Number.isSafeInteger(seq) && seq >= 1
}
