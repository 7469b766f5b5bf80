/*
** lf_project.h — a LabFlow project: one database file, its settings and the
** artifacts folder beside it.
**
** The artifacts folder of "/dir/name.db" is "/dir/name.db.labflow" (the full
** file name plus ".labflow", so two databases in one folder never share
** one), unless the settings name one explicitly; an explicit relative path
** is taken relative to the database's folder. ":memory:" and temporary
** databases need an explicit absolute `artifacts`.
*/
#ifndef LF_PROJECT_H
#define LF_PROJECT_H

#include "lf_sqlite.h"
#include <stdint.h>

typedef struct lf_settings {
  char **metrics;        /* metric names, as given (owned) */
  int nmetrics;
  char *monitor;         /* e.g. "val_loss" (owned) */
  int mode_max;          /* strategy mode: 1 = max, 0 = min */
  int patience;          /* strategy patience: early stopping after this many
                            epochs since the best one; 0 = none */
  char *artifacts;       /* explicit artifacts path, or NULL (owned) */
  int threads;           /* 0 = oneDNN's default (all cores) */
  int keep_all;          /* keep: "all" (1) or "best_last" (0) */
  int progress;          /* progress lines on stderr */
} lf_settings;

/* Parses and validates settings JSON; fills defaults. */
int lf_settings_parse(const char *json, lf_settings *out, char *err, size_t n);
/* Canonical JSON of the settings with every default spelled out (malloc'ed). */
char *lf_settings_json(const lf_settings *s);
void lf_settings_free(lf_settings *s);
/* Index of a metric name, or -1. */
int lf_settings_metric_index(const lf_settings *s, const char *name);

/* Reads the project's settings; -1 with "not a LabFlow project: run
** lab_init(...) first" when the database was never initialised. */
int lf_project_settings(sqlite3 *db, lf_settings *out, char *err, size_t n);

/* Artifacts folder of the project (malloc'ed absolute path). */
char *lf_project_artifacts(sqlite3 *db, const lf_settings *s, char *err, size_t n);

/* Folder of the main database file, or NULL for :memory:/temp (malloc'ed). */
char *lf_project_dbdir(sqlite3 *db);

/* Resolves a data path of a config: absolute stays, relative is joined to
** the database folder (or the current directory for :memory:). malloc'ed. */
char *lf_project_resolve_path(sqlite3 *db, const char *path);

/* Initialises (or checks) the project; returns the artifacts path.
** *created is 1 if this call made the project, 0 if it already was one. */
char *lf_project_init(sqlite3 *db, const char *settings_json, int *created,
                      char *err, size_t n);

/* Brings a project made by an earlier LabFlow up to this schema (adds the
** tables added since, in one transaction). 0 when there is nothing to do,
** also for a database that is no project; -1 with err otherwise. */
int lf_project_upgrade(sqlite3 *db, char *err, size_t n);

/* Current UTC time as "YYYY-MM-DD HH:MM:SS" into buf[20+]. */
void lf_now_text(char *buf, size_t n);
double lf_now_unix(void);

/* lab_logs rows are made and removed here only. */
/* Adds a lab_logs row (called_at, now) for a caller: a connection or a
** labflow-mpi run. Returns its logid, or 0 with "<what failed>: <why>" in
** err. The caller owns the transaction around it. */
sqlite3_int64 lf_log_insert(sqlite3 *db, const char *called_at, char *err, size_t n);
/* The lab_logs row a caller keeps in *logid (a connection's: ext/'s
** lf_conn): *logid if that row exists, else a new row ("<program> pid N on
** <host>") committed through db (a write that waits, lf_txn.h), then
** stored in *logid. Returns the logid, or 0 with err set ("cannot record
** this connection in lab_logs: ..."). *created (may be NULL): 1 if this
** call made the row. */
sqlite3_int64 lf_log_ensure(sqlite3 *db, sqlite3_int64 *logid, int *created, char *err, size_t n);
/* Removes the row lf_log_ensure made for a call that then changed nothing
** (a training that committed no epoch); best effort. */
void lf_log_delete(sqlite3 *db, sqlite3_int64 logid);

/* WAL is every project's journal mode: a trainer writes through its own
** connection while the caller's reads, which only WAL allows. The policy
** is here only. */
/* Switches the main database to WAL (nothing for an in-memory one). wait:
** up to LF_TXN_WAIT_SECONDS for another connection's lock. 0, or -1 with
** err saying why and what to do. */
int lf_project_use_wal(sqlite3 *db, int wait, char *err, size_t n);
/* 0 if the main database is in WAL mode; -1 with err saying how to switch. */
int lf_project_check_wal(sqlite3 *db, char *err, size_t n);
/* When the extension is loaded: an existing, writable project is switched
** to WAL and gets the tables added since it was made (lf_project_upgrade).
** Best effort. (The load then has lf_ppl_rehash_once recompute config
** hashes of an earlier form: lf_ppl is above the project store.) */
void lf_project_open(sqlite3 *db);

#endif
