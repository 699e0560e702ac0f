/**
 * `npm start`: runs `grapevine up` with the embedded defaults (peers on 127.0.0.1:7400, the HTTP API and
 * dashboard on 127.0.0.1:7401, this machine's home; config.json and GRAPEVINE_* still apply) and says
 * where everything is. Arguments after `npm start --` go to `up` (e.g. `npm start -- --join HOST:PORT`).
 * Ctrl-C stops it cleanly (exit 0).
 */
import { fdWriter, main } from './cli.ts'

const banner = `Grapevine: a peer-to-peer, offline-first knowledge fabric for fleets of AI agents.
Starting this node (grapevine up). Open its dashboard at the address printed after "dashboard on"
(the #token= part is this home's API token: the browser keeps it, never sends it, and drops it from the
address bar). Other terminals can use the CLI meanwhile, e.g.
  node bin/grapevine.js publish "something worth knowing" --tag demo
  node bin/grapevine.js tail -n 20      node bin/grapevine.js peers
Another machine joins with: grapevine up --join <this host>:7400 (after grapevine fleet create / join).
`

const err = fdWriter(2)
err(banner)
const stop = new AbortController()
process.once('SIGINT', () => stop.abort())
process.exitCode = await main(['up', ...process.argv.slice(2)], {
  out: fdWriter(1),
  err,
  env: process.env,
  interrupts: () => stop.signal,
})
