/*
** vtab_train_each.c — ppl_train_each(select_or_json_list, epochs [, patience]):
** trains pipelines one after the other, one row per pipeline, and never
** lets one failure abort the rest (SELECT ppl_train(pplid, ...) FROM ppls
** stops at the first error).
**
**   SELECT * FROM ppl_train_each('SELECT pplid FROM ppls WHERE status = ''new''', 3);
**   pplid|summary|error
**
** The pipelines are listed first (a JSON list of pplids, or the first
** column of a read-only SELECT run on the project), then each row trains
** its pipeline when the row is asked for, so rows come as training goes.
** summary is ppl_train's JSON summary, or NULL with error holding the
** error text. DIRECTONLY, and guarded as the functions with side effects
** are (lf_guard.c). Ctrl-C ends the whole statement, as for ppl_train.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_ext.h"
#include "lf_guard.h"
#include "lf_vtab.h"
#include "../core/lf_archive.h"
#include "../core/lf_model_cache.h"
#include "../core/lf_ppl.h"
#include "../core/lf_readonly_query.h"
#include "../core/lf_train.h"

#define FN "ppl_train_each"
#define COL_PPLID 0
#define COL_SUMMARY 1
#define COL_ERROR 2
#define COL_SRC 3
#define COL_EPOCHS 4
#define COL_PATIENCE 5

typedef struct each_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
  lf_conn *conn;
} each_vtab;

typedef struct each_cursor {
  sqlite3_vtab_cursor base;
  lf_pplist ids;
  int at;                      /* index of the current row in ids */
  int epochs, patience;
  char *summary, *error;       /* of the current row (malloc'ed) */
} each_cursor;

static int each_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **ppVtab, char **pzErr){
  (void)argc; (void)argv; (void)pzErr;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(pplid TEXT, summary TEXT, error TEXT, "
                                    "src HIDDEN, epochs HIDDEN, patience HIDDEN)");
  if( rc != SQLITE_OK ) return rc;
  each_vtab *vt = sqlite3_malloc(sizeof *vt);
  if( !vt ) return SQLITE_NOMEM;
  memset(vt, 0, sizeof *vt);
  vt->db = db;
  vt->conn = aux;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  *ppVtab = &vt->base;
  return SQLITE_OK;
}

static int each_disconnect(sqlite3_vtab *p){
  sqlite3_free(p);
  return SQLITE_OK;
}

static int each_open(sqlite3_vtab *p, sqlite3_vtab_cursor **ppCur){
  (void)p;
  each_cursor *c = sqlite3_malloc(sizeof *c);
  if( !c ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *ppCur = &c->base;
  return SQLITE_OK;
}

static void clear_row(each_cursor *c){
  free(c->summary);
  free(c->error);
  c->summary = c->error = NULL;
}

static int each_close(sqlite3_vtab_cursor *cur){
  each_cursor *c = (each_cursor*)cur;
  clear_row(c);
  lf_pplist_free(&c->ids);
  sqlite3_free(c);
  return SQLITE_OK;
}

static const int each_args[] = {COL_SRC, COL_EPOCHS, COL_PATIENCE};
static const char *const each_arg_names[] = {"src", "epochs", "patience"};

static int each_best_index(sqlite3_vtab *p, sqlite3_index_info *info){
  lf_vt_plan plan = {
    .nargs = 3, .arg_cols = each_args, .arg_names = each_arg_names,
    .nrequired = 2, .pplid_arg = -1, .pplid_col = -1,
    .order_cols = NULL, .norder = 0, .rows_one = 1, .rows_all = 10,
  };
  return lf_vt_best_index(p, info, &plan);
}

/* Trains the pipeline of the current row. */
static void train_row(each_cursor *c, each_vtab *vt){
  clear_row(c);
  if( c->at >= c->ids.n ) return;
  char err[2048];
  err[0] = 0;
  const char *pplid = c->ids.ids[c->at];
  if( lf_guard_refuses_db(vt->db, vt->conn, 1, err, sizeof err) ){
    c->error = strdup(err);
    return;
  }
  lf_train_request req;
  memset(&req, 0, sizeof req);
  req.pplid = pplid;
  req.epochs = c->epochs;
  req.patience = c->patience;
  req.logid = &vt->conn->logid;
  vt->conn->depth++;
  lf_model_cache_changed();
  if( lf_ppl_require(vt->db, pplid, err, sizeof err)==0 ) c->summary = lf_train(vt->db, &req, err, sizeof err);
  lf_model_cache_changed();
  vt->conn->depth--;
  if( !c->summary ) c->error = strdup(err[0] ? err : "out of memory");
}

/* The pipelines: a JSON list of pplids, or the first column of a SELECT. */
static int list_pipelines(each_cursor *c, each_vtab *vt, const char *src){
  char err[1024];
  const char *p = src;
  while( *p==' ' || *p=='\t' || *p=='\n' || *p=='\r' ) p++;
  if( *p=='[' ){
    if( lf_pplist_parse(src, &c->ids, err, sizeof err) ) return lf_vt_error(&vt->base, FN ": %s", err);
    return SQLITE_OK;
  }
  sqlite3_stmt *st = NULL;
  char *why = NULL;
  if( lf_prepare_readonly(vt->db, src, &st, &why) ){
    int rc = lf_vt_error(&vt->base, FN ": the pipelines must be a JSON list of pplids or a SELECT whose "
                         "first column is the pplid: %s", why ? why : "out of memory");
    sqlite3_free(why);
    return rc;
  }
  int rc;
  while( (rc = sqlite3_step(st))==SQLITE_ROW ){
    const char *id = (const char*)sqlite3_column_text(st, 0);
    if( !id ) continue;
    if( lf_pplist_add(&c->ids, id) ){ rc = SQLITE_NOMEM; break; }
  }
  if( rc != SQLITE_DONE && rc != SQLITE_NOMEM ){
    rc = lf_vt_error(&vt->base, FN ": the SELECT failed: %s", sqlite3_errmsg(vt->db));
  }else if( rc==SQLITE_DONE ){
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  return rc;
}

static int int_arg(each_vtab *vt, sqlite3_value *v, const char *what, int lo, int dflt, int *out){
  if( !v || sqlite3_value_type(v)==SQLITE_NULL ){ *out = dflt; return SQLITE_OK; }
  if( sqlite3_value_type(v) != SQLITE_INTEGER || sqlite3_value_int64(v) < lo || sqlite3_value_int64(v) > 1000000 ){
    return lf_vt_error(&vt->base, FN ": %s must be an integer from %d to 1000000", what, lo);
  }
  *out = (int)sqlite3_value_int64(v);
  return SQLITE_OK;
}

static int each_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                       int argc, sqlite3_value **argv){
  each_cursor *c = (each_cursor*)cur;
  each_vtab *vt = (each_vtab*)cur->pVtab;
  (void)idxStr;
  clear_row(c);
  lf_pplist_free(&c->ids);
  memset(&c->ids, 0, sizeof c->ids);
  c->at = 0;
  sqlite3_value *args[3], *eq;
  lf_vt_split_args(idxNum, argc, argv, 3, args, &eq);
  if( !args[0] || !args[1] ){
    return lf_vt_error(cur->pVtab, FN ": needs the pipelines (a JSON list of pplids or a SELECT) and epochs: "
                       "SELECT * FROM ppl_train_each('[\"a\",\"b\"]', 3)");
  }
  int t = sqlite3_value_type(args[0]);
  if( t != SQLITE_TEXT && t != SQLITE_BLOB ){
    return lf_vt_error(cur->pVtab, FN ": the pipelines must be a JSON list of pplids or a SELECT, as text");
  }
  int rc = int_arg(vt, args[1], "epochs", 0, 5, &c->epochs);
  if( rc ) return rc;
  rc = int_arg(vt, args[2], "patience", 0, -1, &c->patience);
  if( rc ) return rc;
  char why[512];
  if( lf_guard_refuses_db(vt->db, vt->conn, 1, why, sizeof why) ) return lf_vt_error(cur->pVtab, FN ": %s", why);
  rc = list_pipelines(c, vt, (const char*)sqlite3_value_text(args[0]));
  if( rc ) return rc;
  train_row(c, vt);
  return SQLITE_OK;
}

static int each_next(sqlite3_vtab_cursor *cur){
  each_cursor *c = (each_cursor*)cur;
  c->at++;
  train_row(c, (each_vtab*)cur->pVtab);
  return SQLITE_OK;
}

static int each_eof(sqlite3_vtab_cursor *cur){
  each_cursor *c = (each_cursor*)cur;
  return c->at >= c->ids.n;
}

static int each_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i){
  each_cursor *c = (each_cursor*)cur;
  if( i==COL_PPLID ) sqlite3_result_text(ctx, c->ids.ids[c->at], -1, SQLITE_TRANSIENT);
  else if( i==COL_SUMMARY && c->summary ){
    sqlite3_result_text(ctx, c->summary, -1, SQLITE_TRANSIENT);
    sqlite3_result_subtype(ctx, 'J');
  }else if( i==COL_ERROR && c->error ) sqlite3_result_text(ctx, c->error, -1, SQLITE_TRANSIENT);
  return SQLITE_OK;
}

static int each_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid){
  *pRowid = ((each_cursor*)cur)->at + 1;
  return SQLITE_OK;
}

const sqlite3_module lf_train_each_module = {
  .iVersion = 0,
  .xCreate = 0,                  /* eponymous only */
  .xConnect = each_connect,
  .xBestIndex = each_best_index,
  .xDisconnect = each_disconnect,
  .xOpen = each_open,
  .xClose = each_close,
  .xFilter = each_filter,
  .xNext = each_next,
  .xEof = each_eof,
  .xColumn = each_column,
  .xRowid = each_rowid,
};
