/*
** vtab_sweep_status.c — ppl_sweep_status(sweep): one row per member of a
** sweep, in member order:
**
**   member|pplid|params|status|epochs|best_epoch|best_value|rank|
**   pruned_rung|pruned_epochs|reused
**
** params is the JSON object of the member's varied settings ({path:
** value}). status is 'pruned' once ppl_halving dropped the member (at
** pruned_rung, with pruned_epochs epochs), else the pipeline's status
** ('running' while a trainer holds its claim; 'archived' or 'deleted' when it
** left the active tables). epochs is its last finished epoch, best_epoch
** and best_value its best epoch and monitored value by the project's
** strategy; rank orders the members by best_value (1 = best; ties by
** pplid; NULL while a member has no value). reused is 1 for a member that
** is a pipeline which existed before the sweep.
*/
#include <string.h>
#include "lf_ext.h"
#include "lf_vtab.h"

#define FN "ppl_sweep_status"
enum { S_MEMBER, S_PPLID, S_PARAMS, S_STATUS, S_EPOCHS, S_BEST_EPOCH, S_BEST_VALUE,
       S_RANK, S_PRUNED_RUNG, S_PRUNED_EPOCHS, S_REUSED, S_SWEEP };

typedef struct sweep_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
} sweep_vtab;

typedef struct sweep_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *st;
  sqlite3_value *sweep;        /* the argument (a copy) */
  int eof;
  sqlite3_int64 rowid;
} sweep_cursor;

static int sweep_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **ppVtab, char **pzErr){
  (void)aux; (void)argc; (void)argv; (void)pzErr;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(member INTEGER, pplid TEXT, params TEXT, status TEXT, "
                                    "epochs INTEGER, best_epoch INTEGER, best_value REAL, rank INTEGER, "
                                    "pruned_rung INTEGER, pruned_epochs INTEGER, reused INTEGER, sweep HIDDEN)");
  if( rc != SQLITE_OK ) return rc;
  sweep_vtab *vt = sqlite3_malloc(sizeof *vt);
  if( !vt ) return SQLITE_NOMEM;
  memset(vt, 0, sizeof *vt);
  vt->db = db;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  *ppVtab = &vt->base;
  return SQLITE_OK;
}

static int sweep_disconnect(sqlite3_vtab *vt){
  sqlite3_free(vt);
  return SQLITE_OK;
}

static int sweep_open(sqlite3_vtab *p, sqlite3_vtab_cursor **ppCur){
  (void)p;
  sweep_cursor *c = sqlite3_malloc(sizeof *c);
  if( !c ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->eof = 1;
  *ppCur = &c->base;
  return SQLITE_OK;
}

static void sweep_reset(sweep_cursor *c){
  sqlite3_finalize(c->st);
  c->st = NULL;
  sqlite3_value_free(c->sweep);
  c->sweep = NULL;
  c->eof = 1;
  c->rowid = 0;
}

static int sweep_close(sqlite3_vtab_cursor *cur){
  sweep_reset((sweep_cursor*)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static const int sweep_args[] = {S_SWEEP};
static const char *const sweep_arg_names[] = {"sweep"};
static const int sweep_order[] = {S_MEMBER};

static int sweep_best_index(sqlite3_vtab *p, sqlite3_index_info *info){
  lf_vt_plan plan = {
    .nargs = 1, .arg_cols = sweep_args, .arg_names = sweep_arg_names,
    .nrequired = 1, .pplid_arg = -1, .pplid_col = -1,
    .order_cols = sweep_order, .norder = 1,
    .rows_one = 10, .rows_all = 10,
  };
  return lf_vt_best_index(p, info, &plan);
}

static int sweep_next(sqlite3_vtab_cursor *cur){
  sweep_cursor *c = (sweep_cursor*)cur;
  int rc = sqlite3_step(c->st);
  if( rc==SQLITE_ROW ){ c->eof = 0; c->rowid++; return SQLITE_OK; }
  c->eof = 1;
  if( rc==SQLITE_DONE ) return SQLITE_OK;
  return lf_vt_error(cur->pVtab, FN ": %s", sqlite3_errmsg(((sweep_vtab*)cur->pVtab)->db));
}

/* The rank's direction follows the strategy; the text is chosen, never
** built from input. */
static const char *const member_sql[2] = {
#define MEMBER_SQL(DIR) \
  "SELECT m.member, m.pplid, m.params," \
  " CASE WHEN m.pruned_rung IS NOT NULL THEN 'pruned'" \
  "      WHEN r.pplid IS NOT NULL THEN 'running'" \
  "      WHEN p.pplid IS NOT NULL THEN p.status" \
  "      WHEN EXISTS(SELECT 1 FROM main.archived_ppls a WHERE a.pplid=m.pplid) THEN 'archived'" \
  "      ELSE 'deleted' END," \
  " s.last_epoch, s.best_epoch, s.best_value," \
  " CASE WHEN s.best_value IS NULL THEN NULL ELSE" \
  "   row_number() OVER (ORDER BY s.best_value IS NULL, s.best_value " DIR ", m.pplid) END," \
  " m.pruned_rung, m.pruned_epochs, m.reused" \
  " FROM main.sweep_members m" \
  " LEFT JOIN main.ppls p ON p.pplid=m.pplid" \
  " LEFT JOIN main.ppl_state s ON s.pplid=m.pplid AND p.pplid IS NOT NULL" \
  " LEFT JOIN main.runnings r ON r.pplid=m.pplid" \
  " WHERE m.sweep=?1 ORDER BY m.member"
  MEMBER_SQL("ASC"), MEMBER_SQL("DESC")
#undef MEMBER_SQL
};

static int sweep_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                        int argc, sqlite3_value **argv){
  sweep_cursor *c = (sweep_cursor*)cur;
  sweep_vtab *vt = (sweep_vtab*)cur->pVtab;
  (void)idxStr;
  sweep_reset(c);
  sqlite3_value *args[1], *eq;
  lf_vt_split_args(idxNum, argc, argv, 1, args, &eq);
  if( !args[0] ) return lf_vt_error(cur->pVtab, FN ": missing sweep name: SELECT * FROM ppl_sweep_status('name')");
  if( sqlite3_value_type(args[0]) != SQLITE_TEXT ){
    return lf_vt_error(cur->pVtab, FN ": sweep name must be text");
  }
  c->sweep = sqlite3_value_dup(args[0]);
  if( !c->sweep ) return SQLITE_NOMEM;
  const char *name = (const char*)sqlite3_value_text(c->sweep);
  lf_settings s;
  char err[512];
  if( lf_project_settings(vt->db, &s, err, sizeof err) ) return lf_vt_error(cur->pVtab, FN ": %s", err);
  int mode_max = s.mode_max;
  lf_settings_free(&s);
  sqlite3_stmt *st;
  int rc = lf_vt_prepare(cur->pVtab, vt->db, FN, "SELECT 1 FROM main.sweeps WHERE name=?1", &st);
  if( rc ){
    if( strstr(cur->pVtab->zErrMsg ? cur->pVtab->zErrMsg : "", "not a LabFlow project") ){
      /* A project made before sweeps existed, not reloaded since. */
      return lf_vt_error(cur->pVtab, FN ": no sweep '%s' in this project (make one with ppl_sweep)", name);
    }
    return rc;
  }
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if( rc==SQLITE_DONE ) return lf_vt_error(cur->pVtab, FN ": no sweep '%s' in this project (make one with ppl_sweep)", name);
  if( rc != SQLITE_ROW ) return lf_vt_error(cur->pVtab, FN ": %s", sqlite3_errmsg(vt->db));
  rc = lf_vt_prepare(cur->pVtab, vt->db, FN, member_sql[mode_max ? 1 : 0], &c->st);
  if( rc ) return rc;
  sqlite3_bind_text(c->st, 1, name, -1, SQLITE_STATIC);
  return sweep_next(cur);
}

static int sweep_eof(sqlite3_vtab_cursor *cur){
  return ((sweep_cursor*)cur)->eof;
}

static int sweep_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i){
  sweep_cursor *c = (sweep_cursor*)cur;
  if( i==S_SWEEP ){
    sqlite3_result_value(ctx, c->sweep);
  }else{
    sqlite3_result_value(ctx, sqlite3_column_value(c->st, i));
    if( i==S_PARAMS ) sqlite3_result_subtype(ctx, 'J');
  }
  return SQLITE_OK;
}

static int sweep_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid){
  *pRowid = ((sweep_cursor*)cur)->rowid;
  return SQLITE_OK;
}

const sqlite3_module lf_sweep_status_module = {
  .iVersion = 0,
  .xCreate = 0,                  /* eponymous only */
  .xConnect = sweep_connect,
  .xBestIndex = sweep_best_index,
  .xDisconnect = sweep_disconnect,
  .xOpen = sweep_open,
  .xClose = sweep_close,
  .xFilter = sweep_filter,
  .xNext = sweep_next,
  .xEof = sweep_eof,
  .xColumn = sweep_column,
  .xRowid = sweep_rowid,
};
