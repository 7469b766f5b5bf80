/*
** lf_claim.c — the runnings table: atomic claims and dead-trainer recovery.
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lf_claim.h"
#include "lf_db.h"
#include "lf_project.h"
#include "lf_ppl.h"
#include "lf_txn.h"

/* Reads /proc/<pid>/stat once: the start time (field 22; 0 if unknown)
** and the state letter (field 3; 0 if unknown). The command name in field
** 2 may contain spaces and parentheses, so parse after the last ')'. */
static void proc_stat(long pid, long long *start, char *state){
  char path[64], buf[1024];
  *start = 0;
  *state = 0;
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if( !f ) return;
  size_t got = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[got] = 0;
  char *p = strrchr(buf, ')');
  if( !p || p[1]!=' ' ) return;
  *state = p[2];
  p++;
  /* After ')' come fields 3.. ; starttime is field 22, the 20th after. */
  for(int field = 3; field < 22 && p; field++){
    p = strchr(p + 1, ' ');
  }
  if( p ) *start = atoll(p + 1);
}

void lf_process_identity(char *host, size_t hostlen, long *pid, long long *start){
  if( gethostname(host, hostlen) != 0 ) snprintf(host, hostlen, "unknown");
  host[hostlen-1] = 0;
  *pid = (long)getpid();
  char state;
  proc_stat(*pid, start, &state);
}

/* Is the trainer recorded in a runnings row still alive? */
int lf_process_alive(const char *host, long pid, long long start, double heartbeat){
  char me[256];
  long mypid;
  long long mystart;
  lf_process_identity(me, sizeof me, &mypid, &mystart);
  if( strcmp(host, me)==0 ){
    if( kill((pid_t)pid, 0) != 0 && errno == ESRCH ) return 0;
    long long now_start;
    char state;
    proc_stat(pid, &now_start, &state);
    if( start && now_start && now_start != start ) return 0;  /* pid reused */
    /* A killed process whose parent has not reaped it yet (state Z, or X)
    ** will never release its claim (labflow-mpi's ranks when mpirun kills
    ** the job, until init reaps them). */
    return state!='Z' && state!='X';
  }
  return lf_now_unix() - heartbeat < LF_STALE_SECONDS;
}

typedef struct claim_row {
  sqlite3_int64 runid, logid;
  char host[256];
  long pid;
  long long start;
  double heartbeat;
} claim_row;

/* 1 if found, 0 if not, -1 on error. */
static int read_claim(sqlite3 *db, const char *pplid, claim_row *r, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db,
      "SELECT runid, logid, host, pid, proc_start, heartbeat FROM main.runnings WHERE pplid=?1",
      -1, &st, NULL);
  if( rc != SQLITE_OK ){
    snprintf(err, n, "cannot read runnings: %s", sqlite3_errmsg(db));
    return -1;
  }
  sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  int found = 0;
  if( rc==SQLITE_ROW ){
    r->runid = sqlite3_column_int64(st, 0);
    r->logid = sqlite3_column_int64(st, 1);
    const char *host = (const char*)sqlite3_column_text(st, 2);
    snprintf(r->host, sizeof r->host, "%s", host ? host : "?");
    r->pid = (long)sqlite3_column_int64(st, 3);
    r->start = sqlite3_column_int64(st, 4);
    r->heartbeat = sqlite3_column_double(st, 5);
    found = 1;
  }else if( rc != SQLITE_DONE ){
    snprintf(err, n, "cannot read runnings: %s", sqlite3_errmsg(db));
    found = -1;
  }
  sqlite3_finalize(st);
  return found;
}

static int delete_claim(sqlite3 *db, sqlite3_int64 runid){
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "DELETE FROM main.runnings WHERE runid=?1", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_int64(st, 1, runid);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  return rc==SQLITE_DONE ? 0 : -1;
}

/* Sets ppls.status of pplid; 0 or -1. only_if: change only that status. */
static int set_status(sqlite3 *db, const char *pplid, const char *status, const char *only_if){
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, only_if ? "UPDATE main.ppls SET status=?2 WHERE pplid=?1 AND status=?3"
                                          : "UPDATE main.ppls SET status=?2 WHERE pplid=?1", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    if( only_if ) sqlite3_bind_text(st, 3, only_if, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  return rc==SQLITE_DONE ? 0 : -1;
}

int lf_claim_take(sqlite3 *db, const char *pplid, sqlite3_int64 logid,
                  sqlite3_int64 *runid, char *prev, size_t prevlen, char *err, size_t n){
  claim_row r;
  char e2[64];
  if( lf_exec(db, "BEGIN IMMEDIATE", err, n) ) return -1;
  int found = read_claim(db, pplid, &r, err, n);
  if( found < 0 ) goto fail;
  {
    /* The status before this run; 'running' left by a killed trainer
    ** means that run was stopped. */
    sqlite3_stmt *st = NULL;
    snprintf(prev, prevlen, "new");
    if( sqlite3_prepare_v2(db, "SELECT status FROM main.ppls WHERE pplid=?1", -1, &st, NULL)==SQLITE_OK ){
      sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
      if( sqlite3_step(st)==SQLITE_ROW && sqlite3_column_type(st, 0)==SQLITE_TEXT ){
        snprintf(prev, prevlen, "%s", (const char*)sqlite3_column_text(st, 0));
      }
    }
    sqlite3_finalize(st);
    if( strcmp(prev, "running")==0 ) snprintf(prev, prevlen, "stopped");
  }
  if( found ){
    if( lf_process_alive(r.host, r.pid, r.start, r.heartbeat) ){
      snprintf(err, n, "already running in logid: %lld (pid %ld on %s)", (long long)r.logid, r.pid, r.host);
      goto fail;
    }
    if( delete_claim(db, r.runid) ){ snprintf(err, n, "cannot clear a dead claim: %s", sqlite3_errmsg(db)); goto fail; }
  }
  {
    char host[256], now[32];
    long pid;
    long long start;
    lf_process_identity(host, sizeof host, &pid, &start);
    lf_now_text(now, sizeof now);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
        "INSERT INTO main.runnings(pplid, logid, parity, started_time, host, pid, proc_start, heartbeat)"
        " VALUES(?1, ?2, 'run', ?3, ?4, ?5, ?6, ?7)", -1, &st, NULL);
    if( rc==SQLITE_OK ){
      sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 2, logid);
      sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 4, host, -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 5, pid);
      sqlite3_bind_int64(st, 6, start);
      sqlite3_bind_double(st, 7, lf_now_unix());
      rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if( rc != SQLITE_DONE ){ snprintf(err, n, "cannot claim %s: %s", pplid, sqlite3_errmsg(db)); goto fail; }
    *runid = sqlite3_last_insert_rowid(db);
    if( set_status(db, pplid, "running", NULL) ){
      snprintf(err, n, "cannot mark %s running: %s", pplid, sqlite3_errmsg(db));
      goto fail;
    }
  }
  if( lf_exec(db, "COMMIT", err, n) ) goto fail;
  return 0;
fail:
  lf_exec(db, "ROLLBACK", e2, sizeof e2);
  return -1;
}

int lf_claim_release(sqlite3 *db, sqlite3_int64 runid, const char *pplid, const char *status){
  char e2[64];
  if( lf_exec(db, "BEGIN IMMEDIATE", e2, sizeof e2) ) return -1;
  if( set_status(db, pplid, status, NULL) || delete_claim(db, runid) || lf_exec(db, "COMMIT", e2, sizeof e2) ){
    lf_exec(db, "ROLLBACK", e2, sizeof e2);
    return -1;
  }
  return 0;
}

int lf_claim_beat(sqlite3 *db, sqlite3_int64 runid, int write_heartbeat){
  sqlite3_stmt *st = NULL;
  if( write_heartbeat ){
    if( sqlite3_prepare_v2(db, "UPDATE main.runnings SET heartbeat=?2 WHERE runid=?1", -1, &st, NULL)==SQLITE_OK ){
      sqlite3_bind_int64(st, 1, runid);
      sqlite3_bind_double(st, 2, lf_now_unix());
      sqlite3_step(st);   /* a busy database only delays the heartbeat */
    }
    sqlite3_finalize(st);
    st = NULL;
  }
  int result = -1;
  if( sqlite3_prepare_v2(db, "SELECT parity FROM main.runnings WHERE runid=?1", -1, &st, NULL)==SQLITE_OK ){
    sqlite3_bind_int64(st, 1, runid);
    int rc = sqlite3_step(st);
    if( rc==SQLITE_ROW ){
      const char *p = (const char*)sqlite3_column_text(st, 0);
      result = (p && strcmp(p, "stop")==0) ? 1 : 0;
    }else if( rc != SQLITE_DONE ){
      result = 0;   /* unreadable right now (busy): keep going, ask again */
    }
  }else{
    result = 0;
  }
  sqlite3_finalize(st);
  return result;
}

sqlite3_int64 lf_claim_running(sqlite3 *db, const char *pplid, char *err, size_t n){
  claim_row r;
  int found = read_claim(db, pplid, &r, err, n);
  if( found <= 0 ) return found;
  if( lf_process_alive(r.host, r.pid, r.start, r.heartbeat) ) return r.logid;
  if( delete_claim(db, r.runid) || set_status(db, pplid, "stopped", "running") ){
    snprintf(err, n, "cannot clear the dead claim of %s: %s", pplid, sqlite3_errmsg(db));
    return -1;
  }
  return 0;
}

int lf_claim_request_stop(sqlite3 *db, const char *pplid, char *err, size_t n){
  sqlite3_int64 logid = lf_claim_running(db, pplid, err, n);
  if( logid <= 0 ) return (int)logid;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "UPDATE main.runnings SET parity='stop' WHERE pplid=?1", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_DONE ){
    snprintf(err, n, "cannot request a stop: %s", sqlite3_errmsg(db));
    return -1;
  }
  return 1;
}

int lf_claim_sweep(sqlite3 *db, int full){
  if( !sqlite3_get_autocommit(db) || sqlite3_db_readonly(db, "main") != 0 ) return 0;
  sqlite3_stmt *st = NULL;
  int dead = 0;
  if( sqlite3_prepare_v2(db, "SELECT host, pid, proc_start, heartbeat FROM main.runnings", -1, &st, NULL) != SQLITE_OK ){
    sqlite3_finalize(st);
    return 0;   /* not a project */
  }
  while( !dead && sqlite3_step(st)==SQLITE_ROW ){
    const char *host = (const char*)sqlite3_column_text(st, 0);
    dead = !host || !lf_process_alive(host, (long)sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
                                      sqlite3_column_double(st, 3));
  }
  sqlite3_finalize(st);
  if( !dead && full ){
    char e2[64];
    dead = lf_db_exists(db, "SELECT 1 FROM main.ppls WHERE status='running' AND pplid NOT IN "
                            "(SELECT pplid FROM main.runnings WHERE pplid IS NOT NULL)",
                        NULL, e2, sizeof e2) == 1;
  }
  if( !dead ) return 0;
  char err[256];
  int txn = lf_txn_begin_top(db, err, sizeof err);
  if( txn < 0 ) return -1;
  int rc = 0;
  sqlite3_stmt *del = NULL;
  if( sqlite3_prepare_v2(db, "SELECT runid, pplid, host, pid, proc_start, heartbeat FROM main.runnings", -1, &st, NULL) != SQLITE_OK
   || sqlite3_prepare_v2(db, "DELETE FROM main.runnings WHERE runid=?1", -1, &del, NULL) != SQLITE_OK ) rc = -1;
  while( rc==0 && sqlite3_step(st)==SQLITE_ROW ){
    const char *host = (const char*)sqlite3_column_text(st, 2);
    if( host && lf_process_alive(host, (long)sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
                                 sqlite3_column_double(st, 5)) ) continue;
    sqlite3_bind_int64(del, 1, sqlite3_column_int64(st, 0));
    if( sqlite3_step(del) != SQLITE_DONE ) rc = -1;
    sqlite3_reset(del);
  }
  sqlite3_finalize(st);
  sqlite3_finalize(del);
  if( rc==0 && lf_exec(db, "UPDATE main.ppls SET status='stopped' WHERE status='running' AND pplid NOT IN "
                           "(SELECT pplid FROM main.runnings WHERE pplid IS NOT NULL)", err, sizeof err) ) rc = -1;
  if( rc==0 ) rc = lf_txn_commit(db, txn, err, sizeof err);
  else lf_txn_rollback(db, txn);
  return rc;
}
