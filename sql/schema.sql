-- LabFlow project schema (version 2; core/lf_project.c upgrades older projects).
-- Applied by lab_init() inside one transaction; every statement is
-- idempotent so initialising an initialised project changes nothing.

-- Project-wide facts: 'schema_version', 'settings' (canonical JSON),
-- 'created_time'.
CREATE TABLE IF NOT EXISTS lab_meta(
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per connection that used the project [get_logs].
CREATE TABLE IF NOT EXISTS lab_logs(
  logid        INTEGER PRIMARY KEY,
  called_at    TEXT NOT NULL,        -- "<program> pid <pid> on <host>"
  created_time TEXT NOT NULL
);

-- Pipelines (experiments). status: new, running, trained, early_stopped,
-- stopped (a run was stopped before its epochs were done).
CREATE TABLE IF NOT EXISTS ppls(
  pplid        TEXT PRIMARY KEY NOT NULL,  -- a rowid table allows NULL keys otherwise
  config       TEXT NOT NULL,        -- canonical JSON
  config_hash  TEXT NOT NULL UNIQUE, -- SHA-256 of config
  status       TEXT NOT NULL DEFAULT 'new',
  created_time TEXT NOT NULL
);

-- Fork edges: child was made from base with an RFC 7396 merge patch.
CREATE TABLE IF NOT EXISTS ppl_edges(
  child  TEXT PRIMARY KEY,
  base   TEXT NOT NULL,
  patch  TEXT NOT NULL
) WITHOUT ROWID;

-- Training state of each pipeline, updated in the same transaction as the
-- epoch's history rows. classes: JSON array of text labels, or NULL.
CREATE TABLE IF NOT EXISTS ppl_state(
  pplid      TEXT PRIMARY KEY,
  last_epoch INTEGER NOT NULL DEFAULT 0,
  best_epoch INTEGER,
  best_value REAL,
  classes    TEXT
) WITHOUT ROWID;

-- History, narrow: one row per pipeline, epoch and quantity
-- (train_loss, val_accuracy, train_duration, ...). ppl_history is the wide
-- view of it.
CREATE TABLE IF NOT EXISTS history(
  pplid TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  name  TEXT NOT NULL,
  value REAL,
  PRIMARY KEY(pplid, epoch, name)
) WITHOUT ROWID;

-- Weight files that exist for a pipeline (which epochs were kept).
CREATE TABLE IF NOT EXISTS ppl_weight_files(
  pplid TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY(pplid, epoch)
) WITHOUT ROWID;

-- Claims of pipelines being trained: at most one per pplid. host, pid,
-- proc_start (the process start time in clock ticks since boot, from
-- /proc/<pid>/stat, so a reused pid is not mistaken for the trainer) and
-- heartbeat (unix time, refreshed every few seconds) tell a live trainer
-- from a dead one. parity is 'run', or 'stop' once ppl_stop() asked.
CREATE TABLE IF NOT EXISTS runnings(
  runid        INTEGER PRIMARY KEY,
  pplid        TEXT NOT NULL UNIQUE,
  logid        INTEGER NOT NULL,
  parity       TEXT NOT NULL DEFAULT 'run',
  started_time TEXT NOT NULL,
  host         TEXT NOT NULL,
  pid          INTEGER NOT NULL,
  proc_start   INTEGER NOT NULL,
  heartbeat    REAL NOT NULL
);

-- Archived pipelines: the same columns as the active tables, rows moved
-- here by ppl_archive() and back by ppl_unarchive(). config_hash is not
-- UNIQUE: two archived pipelines may share a configuration.
CREATE TABLE IF NOT EXISTS archived_ppls(
  pplid TEXT PRIMARY KEY NOT NULL, config TEXT NOT NULL, config_hash TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'new', created_time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS archived_ppl_edges(
  child TEXT PRIMARY KEY, base TEXT NOT NULL, patch TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS archived_ppl_state(
  pplid TEXT PRIMARY KEY, last_epoch INTEGER NOT NULL DEFAULT 0, best_epoch INTEGER,
  best_value REAL, classes TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS archived_history(
  pplid TEXT NOT NULL, epoch INTEGER NOT NULL, name TEXT NOT NULL, value REAL,
  PRIMARY KEY(pplid, epoch, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS archived_ppl_weight_files(
  pplid TEXT NOT NULL, epoch INTEGER NOT NULL, bytes INTEGER NOT NULL,
  PRIMARY KEY(pplid, epoch)) WITHOUT ROWID;

-- Tags researchers put on a pipeline (MLflow's tags): one value per key.
-- The key 'note' holds the pipeline's free-text note (ppl_note). value is
-- text or a number. Kept through archive (archived_ppl_tags), bundles and
-- forks (a fork starts with its base's tags).
CREATE TABLE IF NOT EXISTS ppl_tags(
  pplid TEXT NOT NULL,
  key   TEXT NOT NULL,
  value NOT NULL,
  PRIMARY KEY(pplid, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS archived_ppl_tags(
  pplid TEXT NOT NULL, key TEXT NOT NULL, value NOT NULL,
  PRIMARY KEY(pplid, key)) WITHOUT ROWID;

-- The C plugins (lab_load_plugin) whose components a pipeline's config
-- names: the plugin's name, version and the SHA-256 of its library as
-- loaded when the pipeline was made (or accepted with ppl_accept_plugin).
-- Training, predicting and evaluating need that build loaded. Kept through
-- archive, bundles and forks.
CREATE TABLE IF NOT EXISTS ppl_plugins(
  pplid   TEXT NOT NULL,
  plugin  TEXT NOT NULL,
  version TEXT NOT NULL,
  sha256  TEXT NOT NULL,
  PRIMARY KEY(pplid, plugin)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS archived_ppl_plugins(
  pplid TEXT NOT NULL, plugin TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL,
  PRIMARY KEY(pplid, plugin)) WITHOUT ROWID;

-- Hyperparameter sweeps (ppl_sweep). space: the canonical JSON space;
-- method 'grid' or 'random' (n draws from seed); halving: the progress of
-- ppl_halving as JSON {min_epochs, max_epochs, eta, rung, done, winner},
-- NULL until it first runs.
CREATE TABLE IF NOT EXISTS sweeps(
  name    TEXT PRIMARY KEY,
  base    TEXT NOT NULL,
  space   TEXT NOT NULL,
  method  TEXT NOT NULL,
  n       INTEGER,
  seed    INTEGER,
  created TEXT NOT NULL,
  halving TEXT
) WITHOUT ROWID;

-- One row per member of a sweep: the pipeline (a fork <sweep>-<member> of
-- the base, or an existing pipeline with the same config: reused=1), the
-- parameters it was given, and where ppl_halving pruned it (rung index and
-- the epochs it had reached then; NULL while it is in the race).
CREATE TABLE IF NOT EXISTS sweep_members(
  sweep         TEXT NOT NULL,
  member        INTEGER NOT NULL,
  pplid         TEXT NOT NULL,
  params        TEXT NOT NULL,
  reused        INTEGER NOT NULL DEFAULT 0,
  pruned_rung   INTEGER,
  pruned_epochs INTEGER,
  PRIMARY KEY(sweep, member)
) WITHOUT ROWID;
