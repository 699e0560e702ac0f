/**
 * The materialized views of the knowledge model, as SQLite tables in the store's file: rows of rows.ts
 * per entity (knowledge/views.ts entityOf), kept by views-write.ts in the transaction that stores the
 * ops, and rebuilt from the op log on demand.
 *
 *   entities      entity name (knowledge entityOf: `fact:<id>`, `task:<id>` ...) -> a number, given in order
 *                 of first appearance, so the per-entity indexes below grow at their end (a new entity
 *                 costs one insert at a random place, here, instead of one per index).
 *   op_entity     every stored op that belongs to an entity (valid body, known kind), keyed by (entity,
 *                 author number, seq) (op-log.ts authors; one B-tree, no second index: what reads it asks
 *                 by entity, and a displacement finds its op's entity in `idempotency`), shadowed = 1 once
 *                 an earlier op of its author with the same idempotency key displaced it (rule 3). An
 *                 entity's effective ops are its rows with shadowed = 0.
 *   idempotency   (author, key) -> the author's first op with the key, whatever its kind or validity,
 *                 with that op's entity number (NULL: it has none).
 *   versions      live versions (facts and channel entries), one row per assert, with the columns tail
 *                 and search filter and sort on; `expires_ms` is created_at + ttl (NULL without a TTL).
 *                 Versions that expired at or before the purge watermark are left out (purge).
 *   versions_fts, versions_fts_terms, search_reps, search_term_df
 *                 the search index of the channel entries (fts.ts; docs/SEARCH.md): FTS5 over the
 *                 entries' tokens (body, tags), contentless, keyed by a search key made of the entry's
 *                 length and versions.rowid; the repeated terms; exact counts of frequent terms. Written
 *                 beside versions by the writer through fts.ts (not by triggers: an FTS5 insert from a
 *                 trigger measured ~10x slower than a direct one, ~40 against ~4 us per entry).
 *   tickets, resolved          open verify tickets and resolutions, per fact.
 *   trust_shares  each fact's share of every author's trust; trust = SUM GROUP BY author.
 *   statuses, agents, configs  register winners.  counters  per name and author: p, n.
 *   tasks, task_depends        task rows; depends as rows too, for the ready query.
 *   views_meta    key -> integer: the views' schema version, counters of the metrics (duplicate ops
 *                 ignored, invalid and unknown-kind ops, purges, stale reads), the purge watermark.
 *                 A rebuild keeps the counters only ingest and reads can know (duplicates, purges, stale
 *                 reads) and the watermark.
 *
 * Values (JSON) are stored as JSON text; lists (dots, tags, claims) as JSON arrays. Times are HLC
 * readings in two integer columns (wall_ms, logical).
 */

import { ftsSchema, ftsTables } from './fts.ts'

/** Bump when a table changes: a store with other views is rebuilt from its op log on open. */
export const viewsVersion = 5

/** Every table of the views, in drop order (triggers go with their tables). */
export const viewTables = [
  ...ftsTables,
  'versions',
  'op_entity',
  'entities',
  'idempotency',
  'tickets',
  'resolved',
  'trust_shares',
  'statuses',
  'agents',
  'configs',
  'counters',
  'task_depends',
  'tasks',
  'views_meta',
] as const

export const viewsSchema = `
CREATE TABLE views_meta (
  key   TEXT    PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE entities (
  id     INTEGER PRIMARY KEY,
  entity TEXT    NOT NULL UNIQUE
) STRICT;
CREATE TABLE op_entity (
  entity   INTEGER NOT NULL,
  author   INTEGER NOT NULL,
  seq      INTEGER NOT NULL,
  shadowed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (entity, author, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE idempotency (
  author  TEXT    NOT NULL,
  key     TEXT    NOT NULL,
  seq     INTEGER NOT NULL,
  kind    TEXT    NOT NULL,
  fact_id TEXT,
  entity  INTEGER,
  PRIMARY KEY (author, key)
) STRICT, WITHOUT ROWID;
CREATE TABLE versions (
  entity          INTEGER NOT NULL,
  fact_id         TEXT    NOT NULL,
  author          TEXT    NOT NULL,
  seq             INTEGER NOT NULL,
  wall_ms         INTEGER NOT NULL,
  logical         INTEGER NOT NULL,
  value           TEXT    NOT NULL,
  verified        INTEGER NOT NULL,
  ttl_seconds     INTEGER,
  expires_ms      INTEGER,
  valid_from      INTEGER,
  valid_to        INTEGER,
  causal_id       TEXT,
  idempotency_key TEXT,
  channel         TEXT,
  tags            TEXT    NOT NULL,
  text            TEXT,
  supersedes      TEXT    NOT NULL
) STRICT;
CREATE INDEX versions_by_entity ON versions (entity);
CREATE INDEX entries_by_time ON versions (wall_ms, logical, author) WHERE channel IS NOT NULL;
CREATE INDEX versions_by_expiry ON versions (expires_ms) WHERE expires_ms IS NOT NULL;
${ftsSchema}
CREATE TABLE tickets (
  ticket_id TEXT    PRIMARY KEY,
  fact_id   TEXT    NOT NULL,
  dots      TEXT    NOT NULL,
  wall_ms   INTEGER NOT NULL,
  logical   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX tickets_by_fact ON tickets (fact_id);
CREATE TABLE resolved (
  ticket_id        TEXT    PRIMARY KEY,
  fact_id          TEXT    NOT NULL,
  dots             TEXT    NOT NULL,
  opened_wall_ms   INTEGER NOT NULL,
  opened_logical   INTEGER NOT NULL,
  resolved_by      TEXT    NOT NULL,
  resolved_wall_ms INTEGER NOT NULL,
  resolved_logical INTEGER NOT NULL,
  value            TEXT    NOT NULL,
  time_to_verify_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX resolved_by_fact ON resolved (fact_id);
CREATE TABLE trust_shares (
  fact_id   TEXT    NOT NULL,
  author    TEXT    NOT NULL,
  agreed    INTEGER NOT NULL,
  disagreed INTEGER NOT NULL,
  PRIMARY KEY (fact_id, author)
) STRICT, WITHOUT ROWID;
CREATE INDEX trust_shares_by_author ON trust_shares (author);
CREATE TABLE statuses (
  author     TEXT    PRIMARY KEY,
  text       TEXT    NOT NULL,
  health     TEXT    NOT NULL,
  working_on TEXT,
  wall_ms    INTEGER NOT NULL,
  logical    INTEGER NOT NULL,
  seq        INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE agents (
  author  TEXT    PRIMARY KEY,
  name    TEXT    NOT NULL,
  wall_ms INTEGER NOT NULL,
  logical INTEGER NOT NULL,
  seq     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE configs (
  key     TEXT    PRIMARY KEY,
  value   TEXT    NOT NULL,
  version INTEGER NOT NULL,
  author  TEXT    NOT NULL,
  wall_ms INTEGER NOT NULL,
  logical INTEGER NOT NULL,
  seq     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE counters (
  name   TEXT    NOT NULL,
  author TEXT    NOT NULL,
  p      INTEGER NOT NULL,
  n      INTEGER NOT NULL,
  PRIMARY KEY (name, author)
) STRICT, WITHOUT ROWID;
CREATE TABLE tasks (
  task_id          TEXT    PRIMARY KEY,
  title            TEXT    NOT NULL,
  depends          TEXT    NOT NULL,
  assignee         TEXT,
  created_by       TEXT    NOT NULL,
  created_wall_ms  INTEGER NOT NULL,
  created_logical  INTEGER NOT NULL,
  state            TEXT    NOT NULL,
  claimed_by       TEXT,
  claims           TEXT    NOT NULL,
  done_by          TEXT,
  done_wall_ms     INTEGER,
  done_logical     INTEGER,
  result           TEXT
) STRICT, WITHOUT ROWID;
CREATE TABLE task_depends (
  task_id TEXT NOT NULL,
  dep     TEXT NOT NULL,
  PRIMARY KEY (task_id, dep)
) STRICT, WITHOUT ROWID;
CREATE INDEX task_depends_by_dep ON task_depends (dep);
`
