/**
 * The op log's pure core (design.md section 3): the op and its canonical bytes, signing, batches, and
 * validation against a receiver's log. No I/O, no clock, no randomness: the store persists what this
 * layer accepts, gossip carries the batches, src/node makes the key. docs/FORMAT.md explains the format.
 */
export * from './op.ts'
export * from './sign.ts'
export * from './batch.ts'
export * from './validate.ts'
export * from './fleet.ts'
