/*
** vtab_history.c — ppl_history / ppl_history(pplid): the wide view of the
** narrow history table [get_histories].
**
**   SELECT * FROM ppl_history('p1');
**   pplid|epoch|train_accuracy|train_loss|train_duration|val_accuracy|val_loss|val_duration
**
** One row per (pplid, epoch) that has history rows, ordered by pplid, epoch.
** The metric columns come from the project's settings when the table is
** first used on a connection; after lab_settings adds metrics, a statement
** prepared before says so once and the next one has the new columns.
** Each xFilter reads the history table afresh, so epochs a trainer commits
** on another connection show up in the next query.
*/
#include <string.h>
#include "lf_ext.h"
#include "lf_vtab.h"
#include "../core/lf_pplid.h"

#define FN "ppl_history"
#define COL_PPLID 0
#define COL_EPOCH 1
#define COL_FIRST 2            /* first quantity column */

typedef struct hist_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
  char **names;                /* quantity column names, in column order */
  int nnames;
  int col_arg;                 /* the HIDDEN pplid argument column */
} hist_vtab;

typedef struct hist_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *st;            /* (pplid, epoch, name, value) in order */
  int pending;                 /* st holds a row not yet folded into a row */
  int eof;
  char *pplid;                 /* the current row (sqlite3_malloc) */
  sqlite3_int64 epoch;
  double *val;                 /* nnames values ... */
  unsigned char *set;          /* ... and whether each was present */
  sqlite3_int64 rowid;
} hist_cursor;

static int hist_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **ppVtab, char **pzErr){
  (void)aux; (void)argc; (void)argv;
  hist_vtab *vt = sqlite3_malloc(sizeof *vt);
  if( !vt ) return SQLITE_NOMEM;
  memset(vt, 0, sizeof *vt);
  vt->db = db;
  int rc = lf_vt_declare_history(db, FN, "pplid TEXT, epoch INTEGER", "ppl HIDDEN", &vt->names, &vt->nnames, pzErr);
  if( rc != SQLITE_OK ){
    sqlite3_free(vt);
    return rc;
  }
  vt->col_arg = COL_FIRST + vt->nnames;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  *ppVtab = &vt->base;
  return SQLITE_OK;
}

static int hist_disconnect(sqlite3_vtab *p){
  hist_vtab *vt = (hist_vtab*)p;
  lf_history_names_free(vt->names, vt->nnames);
  sqlite3_free(vt);
  return SQLITE_OK;
}

static int hist_open(sqlite3_vtab *p, sqlite3_vtab_cursor **ppCur){
  hist_vtab *vt = (hist_vtab*)p;
  hist_cursor *c = sqlite3_malloc(sizeof *c);
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

static int hist_close(sqlite3_vtab_cursor *cur){
  hist_cursor *c = (hist_cursor*)cur;
  sqlite3_finalize(c->st);
  sqlite3_free(c->pplid);
  sqlite3_free(c->val);
  sqlite3_free(c->set);
  sqlite3_free(c);
  return SQLITE_OK;
}

/* Folds the consecutive narrow rows of one (pplid, epoch) into the row. */
static int hist_next(sqlite3_vtab_cursor *cur){
  hist_cursor *c = (hist_cursor*)cur;
  hist_vtab *vt = (hist_vtab*)cur->pVtab;
  if( !c->pending ){ c->eof = 1; return SQLITE_OK; }
  sqlite3_free(c->pplid);
  c->pplid = NULL;
  char why[512];
  const char *id = lf_pplid_column(c->st, 0, "history", why, sizeof why);
  if( !id ) return lf_vt_error(cur->pVtab, FN ": %s", why);
  c->pplid = sqlite3_mprintf("%s", id);
  if( !c->pplid ) return SQLITE_NOMEM;
  c->epoch = sqlite3_column_int64(c->st, 1);
  memset(c->set, 0, (size_t)vt->nnames);
  for(;;){
    const char *name = (const char*)sqlite3_column_text(c->st, 2);
    int i = name ? lf_vt_name_index(vt->names, vt->nnames, name) : -1;
    /* Quantities that are not columns (none today) are left out. */
    if( i >= 0 && sqlite3_column_type(c->st, 3) != SQLITE_NULL ){
      c->val[i] = sqlite3_column_double(c->st, 3);
      c->set[i] = 1;
    }
    int rc = sqlite3_step(c->st);
    if( rc==SQLITE_DONE ){ c->pending = 0; break; }
    if( rc != SQLITE_ROW ) return lf_vt_error(cur->pVtab, FN ": %s", sqlite3_errmsg(vt->db));
    if( sqlite3_column_int64(c->st, 1) != c->epoch
     || sqlite3_column_type(c->st, 0) != SQLITE_TEXT
     || strcmp((const char*)sqlite3_column_text(c->st, 0), c->pplid) != 0 ) break;
  }
  c->eof = 0;
  c->rowid++;
  return SQLITE_OK;
}

static const int hist_order[] = {COL_PPLID, COL_EPOCH};
static const char *const hist_arg_names[] = {"ppl"};

static int hist_best_index(sqlite3_vtab *p, sqlite3_index_info *info){
  hist_vtab *vt = (hist_vtab*)p;
  lf_vt_plan plan = {
    .nargs = 1, .arg_cols = &vt->col_arg, .arg_names = hist_arg_names,
    .nrequired = 0, .pplid_arg = 0, .pplid_col = COL_PPLID,
    .order_cols = hist_order, .norder = 2,
    .rows_one = 50, .rows_all = 5000,
  };
  return lf_vt_best_index(p, info, &plan);
}

static int hist_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                       int argc, sqlite3_value **argv){
  hist_cursor *c = (hist_cursor*)cur;
  hist_vtab *vt = (hist_vtab*)cur->pVtab;
  (void)idxStr;
  sqlite3_finalize(c->st);
  c->st = NULL;
  c->pending = 0;
  c->eof = 1;
  c->rowid = 0;
  int stale = lf_vt_history_current(cur->pVtab, vt->db, FN, vt->names, vt->nnames);
  if( stale ) return stale;
  sqlite3_value *arg, *eq;
  lf_vt_split_args(idxNum, argc, argv, 1, &arg, &eq);
  const char *pplid = NULL;
  if( arg ){
    /* ppl_history('x'): a bad or unknown pplid is an error ... */
    pplid = lf_vt_pplid_arg(cur->pVtab, FN, arg);
    if( !pplid ) return SQLITE_ERROR;
    int rc = lf_vt_ppl_must_exist(cur->pVtab, vt->db, FN, pplid);
    if( rc ) return rc;
  }else if( eq ){
    /* ... WHERE pplid = 'x' is a filter: no such pipeline, no rows. */
    pplid = lf_vt_pplid_eq(eq);
    if( !pplid ) return SQLITE_OK;
  }
  /* Joined with ppls so only pipelines that are listed (not archived). */
  int rc = lf_vt_prepare(cur->pVtab, vt->db, FN, pplid
    ? "SELECT h.pplid, h.epoch, h.name, h.value FROM main.ppls p"
      " JOIN main.history h ON h.pplid=p.pplid WHERE p.pplid=?1 ORDER BY h.epoch"
    : "SELECT h.pplid, h.epoch, h.name, h.value FROM main.ppls p"
      " JOIN main.history h ON h.pplid=p.pplid ORDER BY h.pplid, h.epoch", &c->st);
  if( rc ) return rc;
  if( pplid ) sqlite3_bind_text(c->st, 1, pplid, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(c->st);
  if( rc==SQLITE_ROW ) c->pending = 1;
  else if( rc != SQLITE_DONE ) return lf_vt_error(cur->pVtab, FN ": %s", sqlite3_errmsg(vt->db));
  return hist_next(cur);
}

static int hist_eof(sqlite3_vtab_cursor *cur){
  return ((hist_cursor*)cur)->eof;
}

static int hist_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i){
  hist_cursor *c = (hist_cursor*)cur;
  hist_vtab *vt = (hist_vtab*)cur->pVtab;
  if( i==COL_PPLID || i==vt->col_arg ){
    sqlite3_result_text(ctx, c->pplid, -1, SQLITE_TRANSIENT);
  }else if( i==COL_EPOCH ){
    sqlite3_result_int64(ctx, c->epoch);
  }else if( i >= COL_FIRST && i < COL_FIRST + vt->nnames && c->set[i-COL_FIRST] ){
    sqlite3_result_double(ctx, c->val[i-COL_FIRST]);
  }
  /* else NULL: the quantity was not recorded for this epoch */
  return SQLITE_OK;
}

static int hist_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid){
  *pRowid = ((hist_cursor*)cur)->rowid;
  return SQLITE_OK;
}

const sqlite3_module lf_history_module = {
  .iVersion = 0,
  .xCreate = 0,                  /* eponymous only */
  .xConnect = hist_connect,
  .xBestIndex = hist_best_index,
  .xDisconnect = hist_disconnect,
  .xDestroy = 0,
  .xOpen = hist_open,
  .xClose = hist_close,
  .xFilter = hist_filter,
  .xNext = hist_next,
  .xEof = hist_eof,
  .xColumn = hist_column,
  .xRowid = hist_rowid,
};
