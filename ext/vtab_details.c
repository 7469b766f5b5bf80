/*
** vtab_details.c — ppl_details / ppl_details(pplid): the loc of each of a
** pipeline's components [get_ppl_details].
**
**   pplid|model|dataset|<metric>...|loss|optimizer|plugins
**
** plugins: the C plugins the config's components come from, as JSON
** [{"plugin", "version", "sha256"}] (ppl_plugins), or NULL for none.
**
** One column per project metric holds the loc of config.metrics.<metric>.
** A metric whose name is one of the other column names (pplid, model,
** dataset, optimizer, ppl) is shown as metric_<name>. A component missing
** from a config reads as NULL.
*/
#include <string.h>
#include <cjson/cJSON.h>
#include "lf_ext.h"
#include "lf_vtab.h"

#define FN "ppl_details"
#define COL_PPLID 0
#define COL_MODEL 1
#define COL_DATASET 2
#define COL_FIRST 3             /* first metric column */

typedef struct details_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
  char **metrics;               /* project metric names (sqlite3_malloc) */
  int nmetrics;
  int col_loss, col_optim, col_plugins, col_arg;
} details_vtab;

typedef struct details_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *st;             /* pplid, config */
  cJSON *cfg;                   /* the current row's config, or NULL */
  int eof;
  sqlite3_int64 rowid;
} details_cursor;

static int reserved_name(const char *m){
  static const char *const fixed[] = {"pplid", "model", "dataset", "optimizer", "ppl", "loss"};
  for(size_t i=0; i<sizeof fixed/sizeof fixed[0]; i++) if( strcmp(m, fixed[i])==0 ) return 1;
  return 0;
}

static int details_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                           sqlite3_vtab **ppVtab, char **pzErr){
  (void)aux; (void)argc; (void)argv;
  lf_settings s;
  char err[512];
  /* Metric columns need settings; see vtab_history.c for why this fails. */
  if( lf_project_settings(db, &s, err, sizeof err) ){
    *pzErr = sqlite3_mprintf(FN ": %s", err);
    return SQLITE_ERROR;
  }
  details_vtab *vt = sqlite3_malloc(sizeof *vt);
  if( !vt ){ lf_settings_free(&s); return SQLITE_NOMEM; }
  memset(vt, 0, sizeof *vt);
  vt->db = db;
  int rc = SQLITE_OK;
  vt->metrics = sqlite3_malloc64(sizeof(char*) * (sqlite3_uint64)s.nmetrics + 1);
  if( !vt->metrics ) rc = SQLITE_NOMEM;
  for(int i=0; rc==SQLITE_OK && i<s.nmetrics; i++){
    vt->metrics[i] = sqlite3_mprintf("%s", s.metrics[i]);
    if( !vt->metrics[i] ) rc = SQLITE_NOMEM;
    else vt->nmetrics = i+1;
  }
  lf_settings_free(&s);
  sqlite3_str *sql = sqlite3_str_new(db);
  sqlite3_str_appendall(sql, "CREATE TABLE x(pplid TEXT, model TEXT, dataset TEXT");
  for(int i=0; i<vt->nmetrics; i++){
    sqlite3_str_appendf(sql, ", \"%s%w\" TEXT", reserved_name(vt->metrics[i]) ? "metric_" : "", vt->metrics[i]);
  }
  sqlite3_str_appendall(sql, ", loss TEXT, optimizer TEXT, plugins TEXT, ppl HIDDEN)");
  char *ddl = sqlite3_str_finish(sql);
  if( rc==SQLITE_OK && !ddl ) rc = SQLITE_NOMEM;
  if( rc==SQLITE_OK ) rc = sqlite3_declare_vtab(db, ddl);
  sqlite3_free(ddl);
  if( rc != SQLITE_OK ){
    lf_vt_free_names(vt->metrics, vt->nmetrics);
    sqlite3_free(vt);
    return rc;
  }
  vt->col_loss = COL_FIRST + vt->nmetrics;
  vt->col_optim = vt->col_loss + 1;
  vt->col_plugins = vt->col_optim + 1;
  vt->col_arg = vt->col_plugins + 1;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  *ppVtab = &vt->base;
  return SQLITE_OK;
}

static int details_disconnect(sqlite3_vtab *p){
  details_vtab *vt = (details_vtab*)p;
  lf_vt_free_names(vt->metrics, vt->nmetrics);
  sqlite3_free(vt);
  return SQLITE_OK;
}

static int details_open(sqlite3_vtab *p, sqlite3_vtab_cursor **ppCur){
  (void)p;
  details_cursor *c = sqlite3_malloc(sizeof *c);
  if( !c ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->eof = 1;
  *ppCur = &c->base;
  return SQLITE_OK;
}

static int details_close(sqlite3_vtab_cursor *cur){
  details_cursor *c = (details_cursor*)cur;
  sqlite3_finalize(c->st);
  cJSON_Delete(c->cfg);
  sqlite3_free(c);
  return SQLITE_OK;
}

static int details_next(sqlite3_vtab_cursor *cur){
  details_cursor *c = (details_cursor*)cur;
  details_vtab *vt = (details_vtab*)cur->pVtab;
  cJSON_Delete(c->cfg);
  c->cfg = NULL;
  int rc = sqlite3_step(c->st);
  if( rc==SQLITE_DONE ){ c->eof = 1; return SQLITE_OK; }
  if( rc != SQLITE_ROW ) return lf_vt_error(cur->pVtab, FN ": %s", sqlite3_errmsg(vt->db));
  /* Configs are validated JSON; an unparsable one just reads as NULLs. */
  const char *text = (const char*)sqlite3_column_text(c->st, 1);
  if( text ) c->cfg = cJSON_Parse(text);
  c->eof = 0;
  c->rowid++;
  return SQLITE_OK;
}

static const int details_order[] = {COL_PPLID};
static const char *const details_arg_names[] = {"ppl"};

static int details_best_index(sqlite3_vtab *p, sqlite3_index_info *info){
  details_vtab *vt = (details_vtab*)p;
  lf_vt_plan plan = {
    .nargs = 1, .arg_cols = &vt->col_arg, .arg_names = details_arg_names,
    .nrequired = 0, .pplid_arg = 0, .pplid_col = COL_PPLID,
    .order_cols = details_order, .norder = 1,
    .rows_one = 1, .rows_all = 100,
  };
  return lf_vt_best_index(p, info, &plan);
}

static int details_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                          int argc, sqlite3_value **argv){
  details_cursor *c = (details_cursor*)cur;
  details_vtab *vt = (details_vtab*)cur->pVtab;
  (void)idxStr;
  sqlite3_finalize(c->st);
  c->st = NULL;
  cJSON_Delete(c->cfg);
  c->cfg = NULL;
  c->eof = 1;
  c->rowid = 0;
  int stale = lf_vt_metrics_current(cur->pVtab, vt->db, FN, vt->metrics, vt->nmetrics);
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
#define PLUGINS_COL ", (SELECT json_group_array(json_object('plugin', plugin, 'version', version, 'sha256', sha256)) " \
                    "FROM (SELECT * FROM main.ppl_plugins g WHERE g.pplid = p.pplid ORDER BY plugin) HAVING count(*) > 0)"
  /* A read-only project of an earlier LabFlow has no ppl_plugins: NULLs. */
  int has_plugins = sqlite3_table_column_metadata(vt->db, "main", "ppl_plugins", "sha256", 0, 0, 0, 0, 0)==SQLITE_OK;
  int rc = lf_vt_prepare(cur->pVtab, vt->db, FN, pplid
    ? (has_plugins ? "SELECT pplid, config" PLUGINS_COL " FROM main.ppls p WHERE pplid=?1"
                   : "SELECT pplid, config, NULL FROM main.ppls WHERE pplid=?1")
    : (has_plugins ? "SELECT pplid, config" PLUGINS_COL " FROM main.ppls p ORDER BY pplid"
                   : "SELECT pplid, config, NULL FROM main.ppls ORDER BY pplid"), &c->st);
  if( rc ) return rc;
  if( pplid ) sqlite3_bind_text(c->st, 1, pplid, -1, SQLITE_TRANSIENT);
  return details_next(cur);
}

static int details_eof(sqlite3_vtab_cursor *cur){
  return ((details_cursor*)cur)->eof;
}

/* The loc of a component object, or NULL. */
static const char *loc_of(const cJSON *comp){
  const cJSON *loc = cJSON_GetObjectItemCaseSensitive(comp, "loc");
  return cJSON_IsString(loc) ? loc->valuestring : NULL;
}

static int details_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i){
  details_cursor *c = (details_cursor*)cur;
  details_vtab *vt = (details_vtab*)cur->pVtab;
  if( i==COL_PPLID || i==vt->col_arg ){
    sqlite3_result_value(ctx, sqlite3_column_value(c->st, 0));
    return SQLITE_OK;
  }
  if( i==vt->col_plugins ){
    sqlite3_result_value(ctx, sqlite3_column_value(c->st, 2));
    return SQLITE_OK;
  }
  const cJSON *comp = NULL;
  if( i==COL_MODEL ) comp = cJSON_GetObjectItemCaseSensitive(c->cfg, "model");
  else if( i==COL_DATASET ) comp = cJSON_GetObjectItemCaseSensitive(c->cfg, "dataset");
  else if( i==vt->col_loss ) comp = cJSON_GetObjectItemCaseSensitive(c->cfg, "loss");
  else if( i==vt->col_optim ) comp = cJSON_GetObjectItemCaseSensitive(c->cfg, "optimizer");
  else if( i >= COL_FIRST && i < vt->col_loss ){
    comp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c->cfg, "metrics"),
                                            vt->metrics[i-COL_FIRST]);
  }
  const char *loc = loc_of(comp);
  if( loc ) sqlite3_result_text(ctx, loc, -1, SQLITE_TRANSIENT);
  return SQLITE_OK;
}

static int details_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid){
  *pRowid = ((details_cursor*)cur)->rowid;
  return SQLITE_OK;
}

const sqlite3_module lf_details_module = {
  .iVersion = 0,
  .xCreate = 0,                  /* eponymous only */
  .xConnect = details_connect,
  .xBestIndex = details_best_index,
  .xDisconnect = details_disconnect,
  .xOpen = details_open,
  .xClose = details_close,
  .xFilter = details_filter,
  .xNext = details_next,
  .xEof = details_eof,
  .xColumn = details_column,
  .xRowid = details_rowid,
};
