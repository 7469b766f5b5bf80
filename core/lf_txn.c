/*
** lf_txn.c — write transactions that wait for other writers (lf_txn.h).
*/
#include <stdio.h>
#include <time.h>
#include "lf_txn.h"
#include "lf_db.h"
#include "lf_project.h"

void lf_txn_pause(void){
  struct timespec ts = { 0, 20 * 1000 * 1000 };
  nanosleep(&ts, NULL);
}

/* sqlite3_interrupt() (Ctrl-C in the shell) makes every statement on the
** connection fail while the caller's statement runs. */
static int interrupted(sqlite3 *db){
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT 1", -1, &st, NULL);
  if( rc==SQLITE_OK ) rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc==SQLITE_INTERRUPT;
}

int lf_txn_in_writing_statement(sqlite3 *db){
  for(sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s)){
    if( sqlite3_stmt_busy(s) && !sqlite3_stmt_readonly(s) ) return 1;
  }
  return 0;
}

/* Runs a statement that takes main's write lock, retried while another
** connection holds it (up to LF_TXN_WAIT_SECONDS, or until interrupted).
** `fails` names the write in the error of a failure that waiting cannot
** help; `snapshot` is the error when this connection's running statement
** reads an older snapshot than the database now has. */
static int take_write_lock(sqlite3 *db, const char *sql, const char *fails,
                           const char *snapshot, char *err, size_t n){
  double t0 = lf_now_unix();
  for(;;){
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if( rc==SQLITE_OK ) return 0;
    if( sqlite3_extended_errcode(db)==SQLITE_BUSY_SNAPSHOT ){
      snprintf(err, n, "another process (a trainer?) changed the project while this statement was "
               "reading it, so this connection cannot write now: %s", snapshot);
      return -1;
    }
    if( (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED ){
      snprintf(err, n, "%s: %s", fails, sqlite3_errmsg(db));
      return -1;
    }
    if( interrupted(db) ){
      snprintf(err, n, "interrupted while waiting for another process's write to finish");
      return -1;
    }
    if( lf_now_unix() - t0 > LF_TXN_WAIT_SECONDS ){
      snprintf(err, n, "the project stayed locked by another connection for %d s (%s); "
               "is a transaction left open in another program?", LF_TXN_WAIT_SECONDS, sqlite3_errmsg(db));
      return -1;
    }
    lf_txn_pause();
  }
}

/* Inside a writing statement: takes main's write lock with a write that
** changes nothing, as BEGIN IMMEDIATE would. */
static int lock_in_statement(sqlite3 *db, char *err, size_t n){
  if( sqlite3_txn_state(db, "main")==SQLITE_TXN_WRITE ) return LF_TXN_STATEMENT;
  /* Not "run the statement again": a statement that trains (a TEMP
  ** table of ppl_train) changes the project again each time it runs. */
  if( take_write_lock(db, "UPDATE main.lab_meta SET value=value WHERE 0", "cannot write to the project",
                      "run the call in a SELECT statement of its own (without FROM over project tables), "
                      "then create the table from the project's tables", err, n) ) return -1;
  return LF_TXN_STATEMENT;
}

int lf_txn_begin_top(sqlite3 *db, char *err, size_t n){
  if( lf_txn_in_writing_statement(db) ){
    snprintf(err, n, "cannot run inside a statement that writes, such as CREATE [TEMP] TABLE ... AS SELECT: "
             "its files change only once its own commit is done, and that statement holds every commit "
             "until it ends; run it in a SELECT statement of its own first, then create the table from "
             "the project's tables (ppls, archived_ppls, ...)");
    return -1;
  }
  if( !sqlite3_get_autocommit(db) ){
    snprintf(err, n, "cannot run inside a transaction: COMMIT or ROLLBACK first");
    return -1;
  }
  if( take_write_lock(db, "BEGIN IMMEDIATE", "cannot start a write transaction",
                      "run the call in a statement of its own (SELECT ...; without FROM over project "
                      "tables)", err, n) ) return -1;
  return LF_TXN_TOP;
}

int lf_txn_begin(sqlite3 *db, char *err, size_t n){
  if( lf_txn_in_writing_statement(db) ) return lock_in_statement(db, err, n);
  if( sqlite3_get_autocommit(db) ) return lf_txn_begin_top(db, err, n);
  if( lf_exec(db, "SAVEPOINT lf_txn", err, n) ) return -1;
  return LF_TXN_NESTED;
}

int lf_txn_commit(sqlite3 *db, int kind, char *err, size_t n){
  char e2[512];
  if( kind==LF_TXN_STATEMENT ) return 0;   /* the statement commits when it ends */
  if( lf_exec(db, kind==LF_TXN_NESTED ? "RELEASE lf_txn" : "COMMIT", e2, sizeof e2) ){
    snprintf(err, n, "cannot commit: %s", e2);
    lf_txn_rollback(db, kind);
    return -1;
  }
  return 0;
}

void lf_txn_rollback(sqlite3 *db, int kind){
  if( kind==LF_TXN_NESTED ){
    sqlite3_exec(db, "ROLLBACK TO lf_txn", NULL, NULL, NULL);
    sqlite3_exec(db, "RELEASE lf_txn", NULL, NULL, NULL);
  }else if( kind==LF_TXN_TOP && !sqlite3_get_autocommit(db) ){
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  }
}

int lf_txn_savepoint(sqlite3 *db, const char *name, char *err, size_t n){
  if( lf_txn_in_writing_statement(db) ) return 0;
  char sql[96];
  snprintf(sql, sizeof sql, "SAVEPOINT %s", name);
  return lf_exec(db, sql, err, n);
}

int lf_txn_release(sqlite3 *db, const char *name, char *err, size_t n){
  if( lf_txn_in_writing_statement(db) ) return 0;
  char sql[96];
  snprintf(sql, sizeof sql, "RELEASE %s", name);
  return lf_exec(db, sql, err, n);
}

void lf_txn_undo(sqlite3 *db, const char *name){
  if( lf_txn_in_writing_statement(db) ) return;
  char sql[96];
  snprintf(sql, sizeof sql, "ROLLBACK TO %s", name);
  sqlite3_exec(db, sql, NULL, NULL, NULL);
  snprintf(sql, sizeof sql, "RELEASE %s", name);
  sqlite3_exec(db, sql, NULL, NULL, NULL);
}
