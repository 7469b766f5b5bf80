/*
** lf_vtab.c — the table of LabFlow's virtual tables (table-valued
** functions), registered by sqlite3_labflow_init() next to the functions,
** and the helpers they share (declared in lf_vtab.h).
*/
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include "lf_ext.h"
#include "lf_vtab.h"
#include "../core/lf_ppl.h"
#include "../core/lf_pplid.h"

typedef struct lf_module_entry {
  const char *name;
  const sqlite3_module *module;
} lf_module_entry;

static const lf_module_entry lf_modules[] = {
  {"ppl_history",  &lf_history_module},
  {"ppl_status",   &lf_status_module},
  {"ppl_details",  &lf_details_module},
  {"ppl_filter",   &lf_filter_module},
  {"ppl_matching", &lf_matching_module},
  {"ppl_weights",  &lf_weights_module},
  {"ppl_sweep_status", &lf_sweep_status_module},
  {0, 0}
};

int lf_register_modules(sqlite3 *db){
  for(int i=0; lf_modules[i].name; i++){
    int rc = sqlite3_create_module(db, lf_modules[i].name, lf_modules[i].module, NULL);
    if( rc != SQLITE_OK ) return rc;
  }
  return SQLITE_OK;
}

/* The tables whose columns follow the project's metrics, declared when a
** connection first uses them. Registering a module again drops its
** eponymous table, so the next statement declares it afresh (statements
** already prepared keep the table they hold). */
void lf_vt_refresh_metric_tables(sqlite3 *db){
  for(int i=0; lf_modules[i].name; i++){
    if( lf_modules[i].module==&lf_history_module || lf_modules[i].module==&lf_status_module
     || lf_modules[i].module==&lf_details_module ){
      sqlite3_create_module(db, lf_modules[i].name, lf_modules[i].module, NULL);
    }
  }
}

int lf_vt_metrics_current(sqlite3_vtab *vt, sqlite3 *db, const char *fn, char *const *metrics, int nmetrics){
  lf_settings s;
  char err[512];
  if( lf_project_settings(db, &s, err, sizeof err) ) return lf_vt_error(vt, "%s: %s", fn, err);
  int same = s.nmetrics == nmetrics;
  for(int i=0; same && i<nmetrics; i++) same = strcmp(s.metrics[i], metrics[i])==0;
  lf_settings_free(&s);
  if( same ) return SQLITE_OK;
  /* The table is declared afresh for the next prepare, and SQLITE_SCHEMA
  ** makes sqlite3_step prepare this statement again and run it (it does so
  ** for statements made by sqlite3_prepare_v2/v3, as every host's are):
  ** the caller sees the new columns, no error. Only a statement from the
  ** legacy sqlite3_prepare() gets this message. */
  lf_vt_refresh_metric_tables(db);
  lf_vt_error(vt, "%s: the project's metrics changed (lab_settings) after this statement was prepared; "
              "run it again to see the new columns", fn);
  return SQLITE_SCHEMA;
}

int lf_vt_history_current(sqlite3_vtab *vt, sqlite3 *db, const char *fn, char *const *names, int nnames){
  /* names: train_<metric>..., train_loss, train_duration, val_..., lr */
  int nm = (nnames - 1) / 2 - 2;
  const char *metrics[34];
  if( nm < 0 || nm > 32 ) nm = 0;
  for(int i=0; i<nm; i++) metrics[i] = names[i] + 6;   /* after "train_" */
  return lf_vt_metrics_current(vt, db, fn, (char *const *)metrics, nm);
}

/* ---- helpers shared by the vtab_*.c files ---------------------------- */

int lf_vt_error(sqlite3_vtab *vt, const char *fmt, ...){
  va_list ap;
  va_start(ap, fmt);
  char *msg = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  sqlite3_free(vt->zErrMsg);
  vt->zErrMsg = msg;
  return msg ? SQLITE_ERROR : SQLITE_NOMEM;
}

int lf_vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info, const lf_vt_plan *plan){
  int arg_at[8], pplid_at = -1;          /* aConstraint index used per arg */
  unsigned unusable = 0, have = 0;
  (void)vt;
  for(int j=0; j<plan->nargs; j++) arg_at[j] = -1;
  for(int i=0; i<info->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    int j;
    for(j=0; j<plan->nargs && plan->arg_cols[j]!=c->iColumn; j++){}
    if( j<plan->nargs ){
      if( c->op != SQLITE_INDEX_CONSTRAINT_EQ ) continue;  /* SQLite checks it */
      if( !c->usable ){ unusable |= 1u<<j; continue; }
      if( arg_at[j] < 0 ){ arg_at[j] = i; have |= 1u<<j; }
    }else if( c->iColumn==plan->pplid_col && c->usable
           && c->op==SQLITE_INDEX_CONSTRAINT_EQ && pplid_at < 0 ){
      /* A lookup finds the exact pplid: pplid = 'P1' COLLATE NOCASE must
      ** scan, or it would miss 'p1'. */
      const char *coll = sqlite3_vtab_collation(info, i);
      if( !coll || sqlite3_stricmp(coll, "BINARY")==0 ) pplid_at = i;
    }
  }
  /* An argument given in the call but not usable in this plan: refuse the
  ** plan rather than run without the argument. */
  if( unusable & ~have ) return SQLITE_CONSTRAINT;

  int by_arg = plan->pplid_arg >= 0 && (have & (1u<<plan->pplid_arg));
  if( by_arg ) pplid_at = -1;            /* the argument already selects it */
  int n = 0;
  sqlite3_str *desc = sqlite3_str_new(NULL);
  for(int j=0; j<plan->nargs; j++){
    if( arg_at[j] < 0 ) continue;
    info->aConstraintUsage[arg_at[j]].argvIndex = ++n;
    info->aConstraintUsage[arg_at[j]].omit = 1;   /* the value is the argument */
    sqlite3_str_appendf(desc, "%s%s=?", n>1 ? " " : "", plan->arg_names[j]);
  }
  int idx = (int)have;
  if( pplid_at >= 0 ){
    /* Not omitted: SQLite re-checks it with the column's own comparison. */
    info->aConstraintUsage[pplid_at].argvIndex = ++n;
    idx |= 1<<LF_VT_PPLID_BIT;
    sqlite3_str_appendf(desc, "%spplid=?", n>1 ? " " : "");
  }
  if( n==0 ) sqlite3_str_appendall(desc, "scan");

  int one = by_arg || pplid_at >= 0;
  double rows = one ? plan->rows_one : plan->rows_all;
  unsigned required = (1u<<plan->nrequired) - 1;
  if( (have & required) != required ){
    /* Runs only to report the missing argument: make every other plan win. */
    info->estimatedCost = 1e18;
    info->estimatedRows = (sqlite3_int64)1e9;
  }else{
    info->estimatedCost = 10.0 + rows*10.0;
    info->estimatedRows = (sqlite3_int64)rows;
    if( one && plan->rows_one <= 1.0 ) info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
  }
  info->idxNum = idx;
  info->idxStr = sqlite3_str_finish(desc);
  info->needToFreeIdxStr = 1;
  if( !info->idxStr ) return SQLITE_NOMEM;

  /* Rows come sorted by plan->order_cols: an ascending ORDER BY on a prefix
  ** of them needs no sorter. */
  if( info->nOrderBy > 0 && info->nOrderBy <= plan->norder ){
    int ok = 1;
    for(int k=0; k<info->nOrderBy && ok; k++){
      ok = info->aOrderBy[k].iColumn==plan->order_cols[k] && !info->aOrderBy[k].desc;
    }
    info->orderByConsumed = ok;
  }
  return SQLITE_OK;
}

void lf_vt_split_args(int idxNum, int argc, sqlite3_value **argv, int nargs,
                      sqlite3_value **args, sqlite3_value **pplid_eq){
  int k = 0;
  for(int j=0; j<nargs; j++){
    args[j] = (idxNum & (1<<j)) && k<argc ? argv[k++] : NULL;
  }
  *pplid_eq = (idxNum & (1<<LF_VT_PPLID_BIT)) && k<argc ? argv[k] : NULL;
}

const char *lf_vt_pplid_arg(sqlite3_vtab *vt, const char *fn, sqlite3_value *v){
  char err[256];
  const char *s = lf_value_pplid(v, err, sizeof err);
  if( !s ) lf_vt_error(vt, "%s: %s", fn, err);
  return s;
}

int lf_vt_flag_arg(sqlite3_vtab *vt, const char *fn, const char *what, sqlite3_value *v){
  char err[256];
  int f = lf_value_flag(v, what, err, sizeof err);
  if( f < 0 ) lf_vt_error(vt, "%s: %s", fn, err);
  return f;
}

const char *lf_vt_pplid_eq(sqlite3_value *v){
  int t = sqlite3_value_type(v);
  if( t==SQLITE_NULL || t==SQLITE_BLOB ) return NULL;
  const char *s = (const char*)sqlite3_value_text(v);
  char err[8];
  if( !s || lf_pplid_check(s, sqlite3_value_bytes(v), err, sizeof err) ) return NULL;
  return s;
}

int lf_vt_prepare(sqlite3_vtab *vt, sqlite3 *db, const char *fn, const char *sql,
                  sqlite3_stmt **st){
  *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
  if( rc==SQLITE_OK ) return SQLITE_OK;
  const char *why = sqlite3_errmsg(db);
  if( strncmp(why, "no such table", 13)==0 ){
    lf_vt_error(vt, "%s: not a LabFlow project: run lab_init('{\"metrics\": [...]}') first", fn);
  }else{
    lf_vt_error(vt, "%s: %s", fn, why);
  }
  return rc==SQLITE_NOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
}

int lf_vt_ppl_must_exist(sqlite3_vtab *vt, sqlite3 *db, const char *fn, const char *pplid){
  /* Preparing says "not a LabFlow project" before lab_init. */
  sqlite3_stmt *st;
  int rc = lf_vt_prepare(vt, db, fn, "SELECT 1 FROM main.ppls", &st);
  sqlite3_finalize(st);
  if( rc ) return rc;
  char err[512];
  if( lf_ppl_require(db, pplid, err, sizeof err) ) return lf_vt_error(vt, "%s: %s", fn, err);
  return SQLITE_OK;
}

void lf_vt_free_names(char **names, int n){
  if( !names ) return;
  for(int i=0; i<n; i++) sqlite3_free(names[i]);
  sqlite3_free(names);
}

int lf_vt_name_index(char *const *names, int n, const char *name){
  for(int i=0; i<n; i++) if( strcmp(names[i], name)==0 ) return i;
  return -1;
}

int lf_vt_declare_history(sqlite3 *db, const char *fn, const char *head,
                          const char *tail, char ***names, int *n, char **pzErr){
  lf_settings s;
  char err[512];
  *names = NULL;
  *n = 0;
  if( lf_project_settings(db, &s, err, sizeof err) ){
    *pzErr = sqlite3_mprintf("%s: %s", fn, err);
    return SQLITE_ERROR;
  }
  int rc = lf_history_names(&s, names, n) ? SQLITE_NOMEM : SQLITE_OK;
  lf_settings_free(&s);
  sqlite3_str *sql = sqlite3_str_new(db);
  sqlite3_str_appendf(sql, "CREATE TABLE x(%s", head);
  for(int i=0; i<*n; i++) sqlite3_str_appendf(sql, ", \"%w\" REAL", (*names)[i]);
  sqlite3_str_appendf(sql, ", %s)", tail);
  char *ddl = sqlite3_str_finish(sql);
  if( rc==SQLITE_OK && !ddl ) rc = SQLITE_NOMEM;
  if( rc==SQLITE_OK ) rc = sqlite3_declare_vtab(db, ddl);
  sqlite3_free(ddl);
  if( rc != SQLITE_OK ){
    lf_history_names_free(*names, *n);
    *names = NULL;
    *n = 0;
  }
  return rc;
}
