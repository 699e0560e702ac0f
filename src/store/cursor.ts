/**
 * Ops in the order they arrived in this store, for streams a reader can resume (the HTTP API's event
 * stream, `Last-Event-ID`): every op that arrives gets the next number of this store, its cursor, and
 * a reader that has seen everything up to cursor c asks for the ops after c.
 *
 * The numbers come from a table, `op_arrivals`, filled by a trigger on the ops table, so every writer
 * numbers its ops, whatever process it is (CLI, MCP server, daemon, an older binary), in the same
 * transaction as the op. Writers hold the write lock for their whole transaction (op-log.ts), so numbers
 * become visible in increasing order: a reader never sees cursor c + 1 before c, and nothing is skipped.
 *
 * `install` adds the table and the trigger (idempotent, called by whoever wants cursors); ops that
 * arrived before it have no cursor: a stream starts at the store's present. The cost is one row of three
 * integers per op (~20 bytes) and one insert in each write transaction, only in stores where install ran.
 */
import type { AuthorId, SignedOp } from '../log/index.ts'
import * as opLog from './op-log.ts'
import type { OpLog } from './op-log.ts'

const schema = `
CREATE TABLE IF NOT EXISTS op_arrivals (
  no     INTEGER PRIMARY KEY,
  author INTEGER NOT NULL,
  seq    INTEGER NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS op_arrival AFTER INSERT ON ops
BEGIN
  INSERT INTO op_arrivals (author, seq) VALUES (NEW.author, NEW.seq);
END;
`

/** Most ops one `after` call returns. */
export const afterLimitMax = 10_000

/** Numbers every op that arrives from now on (idempotent; any process may have done it already). */
export function install(s: OpLog): void {
  const has = s.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'trigger' AND name = 'op_arrival'").get() as { n: number }
  if (has.n === 1) return
  opLog.transaction(s, () => s.db.exec(schema))
}

/** The cursor of the latest op that arrived (0: none since install). */
export function latest(s: OpLog): number {
  return (s.db.prepare('SELECT coalesce(max(no), 0) AS c FROM op_arrivals').get() as { c: number }).c
}

export type Arrival = { readonly cursor: number; readonly op: SignedOp }

/** The ops that arrived after cursor, in arrival order, at most limit. */
export function after(s: OpLog, cursor: number, limit: number): Arrival[] {
  const n = Math.max(1, Math.min(afterLimitMax, Math.floor(limit)))
  const rows = s.db
    .prepare('SELECT a.no AS no, au.author AS author, a.seq AS seq FROM op_arrivals a JOIN authors au ON au.no = a.author WHERE a.no > ? ORDER BY a.no LIMIT ?')
    .all(cursor, n) as { no: number; author: string; seq: number }[]
  const out: Arrival[] = []
  for (const r of rows) {
    const op = opLog.opsAfter(s, r.author as AuthorId, r.seq - 1, 1)[0]
    if (op !== undefined) out.push({ cursor: r.no, op })
  }
  return out
}
