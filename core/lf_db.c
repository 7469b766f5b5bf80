/*
** lf_db.c — small helpers over the SQLite API (lf_db.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_db.h"

int lf_exec(sqlite3 *db, const char *sql, char *err, size_t n){
  char *msg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if( rc != SQLITE_OK ){
    snprintf(err, n, "%s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

int lf_db_exists(sqlite3 *db, const char *sql, const char *arg, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  if( sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    return -1;
  }
  if( arg ) sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if( rc==SQLITE_ROW ) return 1;
  if( rc==SQLITE_DONE ) return 0;
  snprintf(err, n, "%s", sqlite3_errmsg(db));
  return -1;
}

char *lf_db_text(sqlite3 *db, const char *sql, const char *arg, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  char *out = NULL;
  err[0] = 0;
  if( sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    return NULL;
  }
  if( arg ) sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if( rc==SQLITE_ROW ){
    const char *t = (const char*)sqlite3_column_text(st, 0);
    out = strdup(t ? t : "");
    if( !out ) snprintf(err, n, "out of memory");
  }else if( rc != SQLITE_DONE ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(st);
  return out;
}

const char *lf_sqlite_type_name(int type){
  static const char *const names[] = {"?", "an integer", "a real", "text", "a blob", "NULL"};
  return type >= 1 && type <= 5 ? names[type] : names[0];
}
