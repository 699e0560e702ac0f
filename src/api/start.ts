/**
 * `npm start`: until the daemon is built (gossip, the dashboard, the HTTP API), say what Grapevine is and
 * which commands work today on this machine, and exit 0.
 */
const message = `Grapevine: a peer-to-peer, offline-first knowledge fabric for fleets of AI agents.
When one agent learns something, every other agent has it at its next step: gossip and CRDTs,
no central server, no lost writes.

The daemon (gossip between nodes, the dashboard) is not built yet. The grapevine CLI works now, on
this node's own store (GRAPEVINE_HOME, default ~/.local/share/grapevine), with no network:
  (npm link puts grapevine on your PATH; or run node bin/grapevine.js)

  grapevine publish TEXT [--channel discoveries|patterns|warnings] [--tag T]... [--ttl 7d]
  grapevine tail [-n 20] [--channel C] [--include-stale] [--follow]
  grapevine search QUERY [--limit N] [--channel C] [--tag T] [--author A] [--since 2h]
  grapevine fact set ID VALUE | fact get ID | fact retract ID | fact history ID
  grapevine conflicts | grapevine verify TICKET-OR-FACT VALUE
  grapevine status set TEXT [--health ok|degraded|blocked] | grapevine fleet
  grapevine task add TITLE [--depends ID] | task claim ID | task done ID | task list [--ready]
  grapevine counter add NAME [N] | counter get NAME
  grapevine export | import FILE | log | metrics | rebuild
  Every command takes --json; grapevine --help and grapevine <command> --help say more.

For developers:
  npm test                  every test: unit tests, fast-check properties, decoder fuzzing
  npm run bench -- crdt     the CRDT core against Yjs, Automerge and Loro (also: log, store)
  npm run lint              eslint and the layer rules (dependency-cruiser)
  npm run typecheck         tsc, and the core again with no Node types
`

process.stdout.write(message)
