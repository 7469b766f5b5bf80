/*
** lf_txn.h — write transactions on the caller's connection that wait for
** other writers instead of failing with SQLITE_BUSY.
**
** A trainer in another process holds the project's write lock for a few
** milliseconds at every epoch commit. The caller's connection may have no
** busy handler (the sqlite3 shell sets none) and LabFlow does not replace
** the host's handler, so every LabFlow write on it starts with
** lf_txn_begin(): BEGIN IMMEDIATE, retried while another connection holds
** the lock (up to LF_TXN_WAIT_SECONDS; an interrupt, Ctrl-C, ends the wait).
** Inside the caller's own transaction it is a SAVEPOINT instead: the write
** belongs to that transaction.
*/
#ifndef LF_TXN_H
#define LF_TXN_H

#include <stddef.h>
#include "lf_sqlite.h"

#define LF_TXN_WAIT_SECONDS 60

/* What lf_txn_begin started: LF_TXN_TOP (BEGIN IMMEDIATE ... COMMIT),
** LF_TXN_NESTED (SAVEPOINT inside the caller's transaction) or
** LF_TXN_STATEMENT: the caller's statement itself writes (CREATE [TEMP]
** TABLE t AS SELECT f(...)), and SQLite then refuses BEGIN, COMMIT and
** SAVEPOINT until it ends. The function's writes join that statement:
** they are committed when it ends and rolled back with it if it fails
** (an error returned by the function fails it), so nothing is committed
** or rolled back here; lf_txn_begin only waits for the write lock. */
enum { LF_TXN_TOP = 1, LF_TXN_NESTED = 2, LF_TXN_STATEMENT = 3 };

/* 1 if a statement that writes is running on db (the caller's CREATE
** TABLE ... AS SELECT that called a LabFlow function). */
int lf_txn_in_writing_statement(sqlite3 *db);

/* Starts a write transaction that holds the write lock: LF_TXN_TOP,
** LF_TXN_NESTED or LF_TXN_STATEMENT, or -1 with err (e.g. the wait ran
** out, or this connection reads a snapshot that another process has
** changed since). */
int lf_txn_begin(sqlite3 *db, char *err, size_t n);
/* BEGIN IMMEDIATE only, for work whose files change after its own commit
** (archive, delete, clean, transfer, claims): refused inside the caller's
** transaction and inside a statement that writes. */
int lf_txn_begin_top(sqlite3 *db, char *err, size_t n);
/* A savepoint inside a transaction lf_txn_begin started (undo of one
** step); inside a writing statement there is none, and the statement's
** own rollback undoes the step when the function fails. */
int lf_txn_savepoint(sqlite3 *db, const char *name, char *err, size_t n);
int lf_txn_release(sqlite3 *db, const char *name, char *err, size_t n);
void lf_txn_undo(sqlite3 *db, const char *name);
int lf_txn_commit(sqlite3 *db, int kind, char *err, size_t n);
void lf_txn_rollback(sqlite3 *db, int kind);

/* Sleeps a little before retrying a busy database (about 20 ms). */
void lf_txn_pause(void);

#endif
