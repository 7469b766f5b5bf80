/*
** lf_journal.h — crash-safe file steps for housekeeping: a roll-forward
** journal of planned moves and removals.
**
** Archive, unarchive, delete, clean, export 'move' and import change rows
** and files together. Files cannot be in the database's transaction, so
** every such operation:
**   1. validates and changes its rows in one write transaction, and records
**      in the same transaction (table file_journal) every file step still to
**      do: move src -> dst, remove path, remove an emptied folder;
**   2. commits: from here on the operation has happened;
**   3. carries out the steps (each one is idempotent: a move whose source is
**      gone and whose destination exists is done), fsyncs the folders, and
**      deletes its journal rows.
** A process killed anywhere leaves either nothing (before the commit: the
** rows are unchanged and no file was touched; an import's staged copies
** sit in a .import-<pid>-* folder that is swept later) or journal rows
** whose owner is dead: lf_journal_settle(), run by every LabFlow call and
** when the extension is loaded, finishes those steps (roll forward).
** Steps of a live owner are waited for, not touched.
**
** Paths in the journal are relative to the artifacts folder and must be
** plain names (no "..", no absolute path, no leading '.' except the
** .import-/.trash- staging folders) whose folders are not symbolic links,
** so journal rows in a database someone sent you cannot move or delete
** anything outside that database's own artifacts folder.
*/
#ifndef LF_JOURNAL_H
#define LF_JOURNAL_H

#include <stddef.h>
#include "lf_sqlite.h"

typedef struct lf_journal {
  sqlite3 *db;
  const char *art;        /* artifacts folder (not owned) */
  sqlite3_int64 first;    /* first step of this operation, 0 if none yet */
  int nsteps;
  int counted;            /* counted as in flight in this process */
} lf_journal;

/* Starts recording inside the caller's open write transaction (creates
** the journal table if this project has none yet). */
int lf_journal_begin(lf_journal *j, sqlite3 *db, const char *art, char *err, size_t n);
/* Records a step; paths are absolute and must lie under art. */
int lf_journal_move(lf_journal *j, const char *from, const char *to, char *err, size_t n);
int lf_journal_remove(lf_journal *j, const char *path, char *err, size_t n);
/* Removes dir if empty, and its parents up to art while they empty. */
int lf_journal_rmdir(lf_journal *j, const char *dir, char *err, size_t n);
/* After the COMMIT: does the steps, makes them durable, clears the rows.
** On error the rows stay and the next LabFlow call retries them. */
int lf_journal_apply(lf_journal *j, char *err, size_t n);
/* The transaction was rolled back: nothing was recorded. */
void lf_journal_abandon(lf_journal *j);

/* Finishes the steps of operations whose process died. wait_seconds: how
** long to wait for a live process's steps to finish (0: do not wait).
** Best effort: does nothing inside the caller's transaction or on a
** read-only database; returns 0 (nothing to do), 1 (steps were done), or
** -1 with err when steps remain. */
int lf_journal_settle(sqlite3 *db, double wait_seconds, char *err, size_t n);

/* Removes staging folders (<art>/.import-<pid>-*) of dead processes. */
void lf_journal_sweep(const char *art);

/* Test hook: when the environment variable LF_TEST_KILL_AT equals name,
** the process kills itself with SIGKILL. Only the environment of the
** process (a test harness) can set it; nothing in a database can. */
void lf_test_kill_point(const char *name);

#endif
