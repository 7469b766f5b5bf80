/*
** vtab_status.c — ppl_status / ppl_status(pplid): one row per pipeline
** with its status, the logid training it, its best epoch's history and its
** last epoch [get_ppl_status].
**
**   pplid|status|running_logid|best_epoch|train_<metric>...|train_loss|
**   train_duration|val_<metric>...|val_loss|val_duration|last_epoch
**
** running_logid is the claim recorded in runnings; a claim whose trainer
** died stays visible until ppl_is_running() (which may write) clears it.
** A pipeline never trained has best_epoch and the history columns NULL and
** last_epoch 0.
*/
#include <string.h>
#include "lf_ext.h"
#include "lf_vtab.h"
#include "../core/lf_pplid.h"
#include "../core/lf_claim.h"

#define FN "ppl_status"
#define COL_PPLID 0
#define COL_STATUS 1
#define COL_LOGID 2
#define COL_BEST 3
#define COL_FIRST 4            /* first history column */

typedef struct status_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
  char **names;                /* history column names, in column order */
  int nnames;
  int col_last;                /* last_epoch */
  int col_arg;                 /* HIDDEN pplid argument */
} status_vtab;

/* One statement joins every pipeline with its best epoch's history rows
** (one output row per quantity), so a full scan is a single pass instead of
** a lookup per pipeline. The cursor folds each pipeline's rows into one. */
typedef struct status_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *st;            /* pplid, status, logid, best, last, name, value */
  int st_done;                 /* st has no more rows */
  int eof;
  sqlite3_value *head[5];      /* pplid, status, logid, best, last of this row */
  const char *status_now;      /* the status to show instead of head[1], or NULL */
  int claim_live;              /* head[2] is a live trainer's logid */
  double *val;
  unsigned char *set;
  sqlite3_int64 rowid;
} status_cursor;

static int status_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                           sqlite3_vtab **ppVtab, char **pzErr){
  (void)aux; (void)argc; (void)argv;
  status_vtab *vt = sqlite3_malloc(sizeof *vt);
  if( !vt ) return SQLITE_NOMEM;
  memset(vt, 0, sizeof *vt);
  vt->db = db;
  int rc = lf_vt_declare_history(db, FN, "pplid TEXT, status TEXT, running_logid INTEGER, best_epoch INTEGER", "last_epoch INTEGER, ppl HIDDEN", &vt->names, &vt->nnames, pzErr);
  if( rc != SQLITE_OK ){
    sqlite3_free(vt);
    return rc;
  }
  vt->col_last = COL_FIRST + vt->nnames;
  vt->col_arg = vt->col_last + 1;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  *ppVtab = &vt->base;
  return SQLITE_OK;
}

static int status_disconnect(sqlite3_vtab *p){
  status_vtab *vt = (status_vtab*)p;
  lf_history_names_free(vt->names, vt->nnames);
  sqlite3_free(vt);
  return SQLITE_OK;
}

static int status_open(sqlite3_vtab *p, sqlite3_vtab_cursor **ppCur){
  status_vtab *vt = (status_vtab*)p;
  status_cursor *c = sqlite3_malloc(sizeof *c);
  if( !c ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->val = sqlite3_malloc64(sizeof(double) * (sqlite3_uint64)vt->nnames + 1);
  c->set = sqlite3_malloc64((sqlite3_uint64)vt->nnames + 1);
  if( !c->val || !c->set ){
    sqlite3_free(c->val); sqlite3_free(c->set); sqlite3_free(c);
    return SQLITE_NOMEM;
  }
  c->eof = 1;
  *ppCur = &c->base;
  return SQLITE_OK;
}

static void status_clear_head(status_cursor *c){
  for(int i=0; i<5; i++){ sqlite3_value_free(c->head[i]); c->head[i] = NULL; }
}

static int status_close(sqlite3_vtab_cursor *cur){
  status_cursor *c = (status_cursor*)cur;
  sqlite3_finalize(c->st);
  status_clear_head(c);
  sqlite3_free(c->val);
  sqlite3_free(c->set);
  sqlite3_free(c);
  return SQLITE_OK;
}

static int same_text(const unsigned char *a, const unsigned char *b){
  return a && b && strcmp((const char*)a, (const char*)b)==0;
}

/* Takes the pipeline at st's current row and folds in its history rows,
** leaving st on the next pipeline's first row (or done). */
static int status_next(sqlite3_vtab_cursor *cur){
  status_cursor *c = (status_cursor*)cur;
  status_vtab *vt = (status_vtab*)cur->pVtab;
  status_clear_head(c);
  if( c->st_done ){ c->eof = 1; return SQLITE_OK; }
  char why[512];
  if( !lf_pplid_column(c->st, 0, "ppls", why, sizeof why) ) return lf_vt_error(cur->pVtab, FN ": %s", why);
  for(int i=0; i<5; i++){
    c->head[i] = sqlite3_value_dup(sqlite3_column_value(c->st, i));
    if( !c->head[i] ) return SQLITE_NOMEM;
  }
  /* Status and running_logid as they are now: a claim counts only while
  ** its trainer lives, and 'running' without a live trainer is 'stopped'
  ** (what the next LabFlow call writes into ppls). */
  c->status_now = NULL;
  c->claim_live = sqlite3_column_type(c->st, 2) != SQLITE_NULL && sqlite3_column_type(c->st, 7)==SQLITE_TEXT
    && lf_process_alive((const char*)sqlite3_column_text(c->st, 7), (long)sqlite3_column_int64(c->st, 8),
                        sqlite3_column_int64(c->st, 9), sqlite3_column_double(c->st, 10));
  if( c->claim_live ) c->status_now = "running";
  else if( sqlite3_value_type(c->head[1])==SQLITE_TEXT
        && strcmp((const char*)sqlite3_value_text(c->head[1]), "running")==0 ) c->status_now = "stopped";
  memset(c->set, 0, (size_t)vt->nnames);
  const unsigned char *pplid = sqlite3_value_text(c->head[0]);
  int rc;
  do{
    const char *name = (const char*)sqlite3_column_text(c->st, 5);
    int i = name ? lf_vt_name_index(vt->names, vt->nnames, name) : -1;
    if( i >= 0 && sqlite3_column_type(c->st, 6) != SQLITE_NULL ){
      c->val[i] = sqlite3_column_double(c->st, 6);
      c->set[i] = 1;
    }
    rc = sqlite3_step(c->st);
  }while( rc==SQLITE_ROW && same_text(sqlite3_column_text(c->st, 0), pplid) );
  if( rc==SQLITE_DONE ) c->st_done = 1;
  else if( rc != SQLITE_ROW ) return lf_vt_error(cur->pVtab, FN ": %s", sqlite3_errmsg(vt->db));
  c->eof = 0;
  c->rowid++;
  return SQLITE_OK;
}

static const int status_order[] = {COL_PPLID};
static const char *const status_arg_names[] = {"ppl"};

static int status_best_index(sqlite3_vtab *p, sqlite3_index_info *info){
  status_vtab *vt = (status_vtab*)p;
  lf_vt_plan plan = {
    .nargs = 1, .arg_cols = &vt->col_arg, .arg_names = status_arg_names,
    .nrequired = 0, .pplid_arg = 0, .pplid_col = COL_PPLID,
    .order_cols = status_order, .norder = 1,
    .rows_one = 1, .rows_all = 100,
  };
  return lf_vt_best_index(p, info, &plan);
}

static int status_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                         int argc, sqlite3_value **argv){
  status_cursor *c = (status_cursor*)cur;
  status_vtab *vt = (status_vtab*)cur->pVtab;
  (void)idxStr;
  sqlite3_finalize(c->st);
  c->st = NULL;
  status_clear_head(c);
  c->st_done = 0;
  c->eof = 1;
  c->rowid = 0;
  int stale = lf_vt_history_current(cur->pVtab, vt->db, FN, vt->names, vt->nnames);
  if( stale ) return stale;
  sqlite3_value *arg, *eq;
  lf_vt_split_args(idxNum, argc, argv, 1, &arg, &eq);
  const char *pplid = NULL;
  if( arg ){
    pplid = lf_vt_pplid_arg(cur->pVtab, FN, arg);
    if( !pplid ) return SQLITE_ERROR;
    int rc = lf_vt_ppl_must_exist(cur->pVtab, vt->db, FN, pplid);
    if( rc ) return rc;
  }else if( eq ){
    pplid = lf_vt_pplid_eq(eq);
    if( !pplid ) return SQLITE_OK;
  }
  static const char *const sel =
    "SELECT p.pplid, p.status, r.logid, s.best_epoch, COALESCE(s.last_epoch, 0), h.name, h.value,"
    " r.host, r.pid, r.proc_start, r.heartbeat"
    " FROM main.ppls p LEFT JOIN main.ppl_state s ON s.pplid=p.pplid"
    " LEFT JOIN main.runnings r ON r.pplid=p.pplid"
    " LEFT JOIN main.history h ON h.pplid=p.pplid AND h.epoch=s.best_epoch";
  char *sql = sqlite3_mprintf("%s%s ORDER BY p.pplid", sel, pplid ? " WHERE p.pplid=?1" : "");
  if( !sql ) return SQLITE_NOMEM;
  int rc = lf_vt_prepare(cur->pVtab, vt->db, FN, sql, &c->st);
  sqlite3_free(sql);
  if( rc ) return rc;
  if( pplid ) sqlite3_bind_text(c->st, 1, pplid, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(c->st);
  if( rc==SQLITE_DONE ) c->st_done = 1;
  else if( rc != SQLITE_ROW ) return lf_vt_error(cur->pVtab, FN ": %s", sqlite3_errmsg(vt->db));
  return status_next(cur);
}

static int status_eof(sqlite3_vtab_cursor *cur){
  return ((status_cursor*)cur)->eof;
}

static int status_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i){
  status_cursor *c = (status_cursor*)cur;
  status_vtab *vt = (status_vtab*)cur->pVtab;
  if( i==COL_PPLID || i==vt->col_arg ) sqlite3_result_value(ctx, c->head[0]);
  else if( i==COL_STATUS ){
    if( c->status_now ) sqlite3_result_text(ctx, c->status_now, -1, SQLITE_STATIC);
    else sqlite3_result_value(ctx, c->head[1]);
  }
  else if( i==COL_LOGID ){ if( c->claim_live ) sqlite3_result_value(ctx, c->head[2]); }
  else if( i==COL_BEST ) sqlite3_result_value(ctx, c->head[3]);
  else if( i==vt->col_last ) sqlite3_result_value(ctx, c->head[4]);
  else if( i >= COL_FIRST && i < vt->col_last && c->set[i-COL_FIRST] ){
    sqlite3_result_double(ctx, c->val[i-COL_FIRST]);
  }
  return SQLITE_OK;
}

static int status_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid){
  *pRowid = ((status_cursor*)cur)->rowid;
  return SQLITE_OK;
}

const sqlite3_module lf_status_module = {
  .iVersion = 0,
  .xCreate = 0,                  /* eponymous only */
  .xConnect = status_connect,
  .xBestIndex = status_best_index,
  .xDisconnect = status_disconnect,
  .xOpen = status_open,
  .xClose = status_close,
  .xFilter = status_filter,
  .xNext = status_next,
  .xEof = status_eof,
  .xColumn = status_column,
  .xRowid = status_rowid,
};
