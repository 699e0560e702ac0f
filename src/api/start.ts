/**
 * `npm start`, and `grapevine` while src/api/cli.ts does not exist: until the daemon is built, say what
 * Grapevine is and what works today, and exit 0.
 */
const message = `Grapevine: a peer-to-peer, offline-first knowledge fabric for fleets of AI agents.
When one agent learns something, every other agent has it at its next step: gossip and CRDTs,
no central server, no lost writes.

The daemon, its dashboard and the grapevine CLI are not built yet. What works today:
  npm test                  the CRDT core's tests, with fast-check properties
  npm run bench -- crdt     the CRDT core against Yjs, Automerge and Loro, side by side
  npm run lint              eslint and the layer rules (dependency-cruiser)
  npm run typecheck         tsc, and the core again with no Node types
`

process.stdout.write(message)
