/*
** lf_journal.c — the roll-forward journal of housekeeping's file steps
** (lf_journal.h).
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lf_journal.h"
#include "lf_db.h"
#include "lf_archive.h"
#include "lf_ckpt.h"
#include "lf_claim.h"
#include "lf_project.h"
#include "lf_txn.h"
#include "lf_util.h"

static const char journal_ddl[] =
  "CREATE TABLE IF NOT EXISTS main.file_journal("
  " step INTEGER PRIMARY KEY,"     /* order of the steps */
  " action TEXT NOT NULL,"         /* move, remove, rmdir */
  " src TEXT NOT NULL,"            /* relative to the artifacts folder */
  " dst TEXT,"                     /* move only */
  " host TEXT NOT NULL, pid INTEGER NOT NULL, proc_start INTEGER NOT NULL,"
  " created REAL NOT NULL)";

/* Operations of this process between their commit and their cleared rows. */
static atomic_int in_flight;

void lf_test_kill_point(const char *name){
  const char *at = getenv("LF_TEST_KILL_AT");
  if( at && strcmp(at, name)==0 ) raise(SIGKILL);
}

/* ---- paths ------------------------------------------------------------ */

static int plain_char(char c){
  return (c>='A'&&c<='Z') || (c>='a'&&c<='z') || (c>='0'&&c<='9') || c=='_' || c=='.' || c=='-';
}

/* A journal path: relative, plain components, no "." or "..", a leading
** '.' only on a first component that is a staging folder. */
static int rel_ok(const char *rel){
  if( !rel || !rel[0] || rel[0]=='/' ) return 0;
  const char *p = rel;
  int first = 1;
  while( *p ){
    const char *e = strchr(p, '/');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if( len==0 ) return 0;
    for(size_t i=0; i<len; i++) if( !plain_char(p[i]) ) return 0;
    if( p[0]=='.' ){
      if( !first ) return 0;
      if( strncmp(p, ".import-", 8) != 0 && strncmp(p, ".trash-", 7) != 0 ) return 0;
      if( len < 9 ) return 0;
    }
    first = 0;
    if( !e ) break;
    p = e + 1;
    if( !*p ) return 0;
  }
  return 1;
}

/* rel of an absolute path under art, or NULL. */
static const char *rel_of(const char *art, const char *path){
  size_t l = strlen(art);
  if( strncmp(path, art, l) != 0 || path[l] != '/' ) return NULL;
  return path + l + 1;
}

/* Every existing folder on the way from art to rel's parent is a real
** folder, not a symbolic link (rename and rmdir would follow one). */
static int parents_safe(const char *art, const char *rel){
  char *p = lf_path_join(art, rel);
  if( !p ) return 0;
  size_t l = strlen(art);
  int ok = 1;
  for(char *s = p + l + 1; ok && (s = strchr(s, '/')) != NULL; s++){
    *s = 0;
    struct stat sb;
    if( lstat(p, &sb)==0 && !S_ISDIR(sb.st_mode) ) ok = 0;
    *s = '/';
  }
  free(p);
  return ok;
}

static void sync_dir_of(const char *path){
  char *d = strdup(path);
  if( !d ) return;
  char *s = strrchr(d, '/');
  if( s && s != d ) *s = 0;
  int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if( fd >= 0 ){ fsync(fd); close(fd); }
  free(d);
}

/* A move's destination must be free and its folders makeable: every
** existing folder on the way is a real folder (checked before the commit,
** so that the steps after it do not fail on something in the way). */
static int dest_ok(const char *art, const char *to, char *err, size_t n){
  if( lf_path_exists(to) ){
    snprintf(err, n, "%s already exists (move it away first)", to);
    return -1;
  }
  char *p = strdup(to);
  if( !p ){ snprintf(err, n, "out of memory"); return -1; }
  int rc = 0;
  for(char *s = p + strlen(art) + 1; (s = strchr(s, '/')) != NULL; s++){
    *s = 0;
    struct stat sb;
    if( lstat(p, &sb)==0 && !S_ISDIR(sb.st_mode) ){
      snprintf(err, n, "cannot create directory %s: a file of that name exists", p);
      rc = -1;
      break;
    }
    *s = '/';
  }
  free(p);
  return rc;
}

/* mkdir -p of path's parent below art. */
static int make_parents(const char *art, const char *path, char *err, size_t n){
  char *d = strdup(path);
  if( !d ){ snprintf(err, n, "out of memory"); return -1; }
  char *s = strrchr(d, '/');
  if( s ) *s = 0;
  int rc = strlen(d) > strlen(art) ? lf_mkdirs(d, err, n) : 0;
  free(d);
  return rc;
}

/* ---- recording -------------------------------------------------------- */

int lf_journal_begin(lf_journal *j, sqlite3 *db, const char *art, char *err, size_t n){
  memset(j, 0, sizeof *j);
  j->db = db;
  j->art = art;
  if( lf_exec(db, journal_ddl, err, n) ) return -1;
  return 0;
}

static int record(lf_journal *j, const char *action, const char *from, const char *to,
                  char *err, size_t n){
  const char *src = rel_of(j->art, from), *dst = to ? rel_of(j->art, to) : NULL;
  if( !src || !rel_ok(src) || (to && (!dst || !rel_ok(dst))) ){
    snprintf(err, n, "refusing a file step outside the artifacts folder %s: %s%s%s",
             j->art, from, to ? " -> " : "", to ? to : "");
    return -1;
  }
  /* A link itself may move or go; nothing moves through one. */
  if( lf_no_links_below(j->art, from, 0, err, n) || (to && lf_no_links_below(j->art, to, 0, err, n)) ) return -1;
  if( to && dest_ok(j->art, to, err, n) ) return -1;
  char host[256];
  long pid;
  long long start;
  lf_process_identity(host, sizeof host, &pid, &start);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(j->db, "INSERT INTO main.file_journal(action, src, dst, host, pid, proc_start, created)"
                              " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, src, -1, SQLITE_STATIC);
    if( dst ) sqlite3_bind_text(st, 3, dst, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, host, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, pid);
    sqlite3_bind_int64(st, 6, start);
    sqlite3_bind_double(st, 7, lf_now_unix());
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_DONE ){
    snprintf(err, n, "cannot record a file step: %s", sqlite3_errmsg(j->db));
    return -1;
  }
  if( !j->first ) j->first = sqlite3_last_insert_rowid(j->db);
  j->nsteps++;
  if( !j->counted ){ atomic_fetch_add(&in_flight, 1); j->counted = 1; }
  return 0;
}

int lf_journal_move(lf_journal *j, const char *from, const char *to, char *err, size_t n){
  return record(j, "move", from, to, err, n);
}

int lf_journal_remove(lf_journal *j, const char *path, char *err, size_t n){
  return record(j, "remove", path, NULL, err, n);
}

int lf_journal_rmdir(lf_journal *j, const char *dir, char *err, size_t n){
  return record(j, "rmdir", dir, NULL, err, n);
}

void lf_journal_abandon(lf_journal *j){
  if( j->counted ){ atomic_fetch_sub(&in_flight, 1); j->counted = 0; }
  j->first = 0;
  j->nsteps = 0;
}

/* ---- doing ------------------------------------------------------------ */

/* Does one step, idempotently. 0, or -1 with err. */
static int do_step(const char *art, const char *action, const char *src, const char *dst,
                   char *err, size_t n){
  if( !rel_ok(src) || (dst && !rel_ok(dst)) || !parents_safe(art, src) || (dst && !parents_safe(art, dst)) ){
    snprintf(err, n, "journal step %s '%.100s' is not a plain path inside the artifacts folder (skipped)",
             action, src);
    return 1;   /* never done: dropped with a warning */
  }
  char *a = lf_path_join(art, src), *b = dst ? lf_path_join(art, dst) : NULL;
  int rc = 0;
  if( !a || (dst && !b) ){ snprintf(err, n, "out of memory"); rc = -1; goto done; }
  if( strcmp(action, "move")==0 && dst ){
    if( lf_path_exists(a) && lf_path_exists(b) ){
      /* Something was put there after the step was recorded (the call was
      ** killed after its commit, or a file appeared since): not done, and
      ** kept, so the next housekeeping call says so until it is moved. */
      snprintf(err, n, "cannot finish moving %s to %s (a file step of an earlier call): %s already exists "
               "(move it away first)", a, b, b);
      rc = -1;
      goto done;
    }
    if( lf_path_exists(a) ){
      if( make_parents(art, b, err, n) ){ rc = -1; goto done; }
      if( rename(a, b) != 0 ){
        snprintf(err, n, "cannot move %s to %s: %s", a, b, strerror(errno));
        rc = -1;
        goto done;
      }
      sync_dir_of(a);
      sync_dir_of(b);
    }
  }else if( strcmp(action, "remove")==0 ){
    if( lf_rm_tree(a, err, n) ){ rc = -1; goto done; }
    sync_dir_of(a);
  }else if( strcmp(action, "rmdir")==0 ){
    lf_rmdir_empty(a, art);
  }else{
    snprintf(err, n, "unknown journal step '%.20s' (skipped)", action);
    rc = 1;
  }
done:
  free(a);
  free(b);
  return rc;
}

static int delete_steps(sqlite3 *db, sqlite3_int64 lo, sqlite3_int64 hi, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "DELETE FROM main.file_journal WHERE step BETWEEN ?1 AND ?2", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, hi);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_DONE ){
    snprintf(err, n, "cannot clear the file journal: %s", sqlite3_errmsg(db));
    return -1;
  }
  return 0;
}

int lf_journal_apply(lf_journal *j, char *err, size_t n){
  if( !j->first ) return 0;
  lf_test_kill_point("hk_after_commit");
  sqlite3_stmt *st = NULL;
  int rc = 0, k = 0;
  sqlite3_int64 last = j->first + j->nsteps - 1;
  if( sqlite3_prepare_v2(j->db, "SELECT action, src, dst FROM main.file_journal WHERE step BETWEEN ?1 AND ?2 "
                         "ORDER BY step", -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "cannot read the file journal: %s", sqlite3_errmsg(j->db));
    rc = -1;
  }else{
    sqlite3_bind_int64(st, 1, j->first);
    sqlite3_bind_int64(st, 2, last);
    while( sqlite3_step(st)==SQLITE_ROW ){
      int r = do_step(j->art, (const char*)sqlite3_column_text(st, 0), (const char*)sqlite3_column_text(st, 1),
                      (const char*)sqlite3_column_text(st, 2), err, n);
      if( r < 0 ){ rc = -1; break; }
      char point[32];
      snprintf(point, sizeof point, "hk_after_step:%d", ++k);
      lf_test_kill_point(point);
    }
  }
  sqlite3_finalize(st);
  if( rc==0 ){
    lf_test_kill_point("hk_before_clear");
    char e2[512];
    int txn = lf_txn_begin_top(j->db, e2, sizeof e2);
    if( txn < 0 || delete_steps(j->db, j->first, last, e2, sizeof e2) || lf_txn_commit(j->db, txn, e2, sizeof e2) ){
      /* The steps are done; the next settle finds them done and clears. */
      if( txn > 0 ) lf_txn_rollback(j->db, txn);
    }
  }
  lf_journal_abandon(j);
  return rc;
}

/* ---- settling what dead processes left ---------------------------------- */

/* File steps take milliseconds to minutes: a row older than this (or
** dated in the future) belongs to no live operation, whatever its pid. */
#define STEP_MAX_AGE 3600.0

static int owner_alive(const char *host, long pid, long long start, double created){
  char me[256];
  long mypid;
  long long mystart;
  lf_process_identity(me, sizeof me, &mypid, &mystart);
  if( host && strcmp(host, me)==0 && pid==mypid ) return atomic_load(&in_flight) > 0;
  double age = lf_now_unix() - created;
  if( !host || age > STEP_MAX_AGE || age < -60 ) return 0;
  return lf_process_alive(host, pid, start, created);
}

/* 1 if some journal row belongs to a live process (other than steps this
** process has abandoned), 0 if none, -1 if there is no journal. *any: rows
** of dead owners exist. */
static int scan_owners(sqlite3 *db, int *any_dead){
  sqlite3_stmt *st = NULL;
  *any_dead = 0;
  if( sqlite3_prepare_v2(db, "SELECT DISTINCT host, pid, proc_start, created FROM main.file_journal",
                         -1, &st, NULL) != SQLITE_OK ){
    sqlite3_finalize(st);
    return -1;
  }
  int live = 0;
  while( sqlite3_step(st)==SQLITE_ROW ){
    int alive = owner_alive((const char*)sqlite3_column_text(st, 0), (long)sqlite3_column_int64(st, 1),
                            sqlite3_column_int64(st, 2), sqlite3_column_double(st, 3));
    if( alive ) live = 1; else *any_dead = 1;
  }
  sqlite3_finalize(st);
  return live;
}

/* Rolls forward every step of dead owners, under the write lock. */
static int roll_forward(sqlite3 *db, char *err, size_t n){
  lf_proj pj;
  if( lf_proj_open(db, &pj, err, n) ) return -1;
  int txn = lf_txn_begin_top(db, err, n);
  if( txn < 0 ){ lf_proj_close(&pj); return -1; }
  sqlite3_stmt *st = NULL, *del = NULL;
  int rc = 0;
  if( sqlite3_prepare_v2(db, "SELECT step, action, src, dst, host, pid, proc_start, created FROM main.file_journal "
                         "ORDER BY step", -1, &st, NULL) != SQLITE_OK
   || sqlite3_prepare_v2(db, "DELETE FROM main.file_journal WHERE step=?1", -1, &del, NULL) != SQLITE_OK ){
    snprintf(err, n, "cannot read the file journal: %s", sqlite3_errmsg(db));
    rc = -1;
  }
  while( rc==0 && sqlite3_step(st)==SQLITE_ROW ){
    if( owner_alive((const char*)sqlite3_column_text(st, 4), (long)sqlite3_column_int64(st, 5),
                    sqlite3_column_int64(st, 6), sqlite3_column_double(st, 7)) ) continue;
    const char *action = (const char*)sqlite3_column_text(st, 1);
    int r = do_step(pj.art, action ? action : "", (const char*)sqlite3_column_text(st, 2),
                    (const char*)sqlite3_column_text(st, 3), err, n);
    if( r < 0 ){ rc = -1; break; }
    if( r > 0 ) fprintf(stderr, "labflow: %s\n", err);
    sqlite3_bind_int64(del, 1, sqlite3_column_int64(st, 0));
    if( sqlite3_step(del) != SQLITE_DONE ){
      snprintf(err, n, "cannot clear the file journal: %s", sqlite3_errmsg(db));
      rc = -1;
    }
    sqlite3_reset(del);
  }
  sqlite3_finalize(st);
  sqlite3_finalize(del);
  if( rc==0 ) rc = lf_txn_commit(db, txn, err, n);
  else lf_txn_rollback(db, txn);
  if( rc==0 ) lf_journal_sweep(pj.art);
  lf_proj_close(&pj);
  return rc;
}

int lf_journal_settle(sqlite3 *db, double wait_seconds, char *err, size_t n){
  if( !sqlite3_get_autocommit(db) || sqlite3_db_readonly(db, "main") != 0 ) return 0;
  double t0 = lf_now_unix();
  for(;;){
    int dead = 0;
    int live = scan_owners(db, &dead);
    if( live < 0 ) return 0;            /* no journal in this project */
    if( dead ) return roll_forward(db, err, n) ? -1 : 1;
    if( !live || lf_now_unix() - t0 >= wait_seconds ) return 0;
    lf_txn_pause();
  }
}

void lf_journal_sweep(const char *art){
  DIR *d = opendir(art);
  if( !d ) return;
  char me[256];
  long mypid;
  long long mystart;
  lf_process_identity(me, sizeof me, &mypid, &mystart);
  struct dirent *de;
  while( (de = readdir(d)) != NULL ){
    if( strncmp(de->d_name, ".import-", 8) != 0 ) continue;
    char *end = NULL;
    long pid = strtol(de->d_name + 8, &end, 10);
    if( end==de->d_name + 8 || *end != '-' || pid <= 0 ) continue;
    if( pid==mypid || lf_process_alive(me, pid, 0, 0) ) continue;
    char *p = lf_path_join(art, de->d_name);
    char e2[256];
    struct stat sb;
    if( p && lstat(p, &sb)==0 && S_ISDIR(sb.st_mode) ) lf_rm_tree(p, e2, sizeof e2);
    free(p);
  }
  closedir(d);
}
