/*
** vtab_filter.c — searching pipelines by config [filter_ppls,
** get_matching_ppls]:
**
**   ppl_filter(query [, params=0])       -> pplid, params
**   ppl_matching(base_pplid [, query [, include=0]]) -> key, value, pplid
**
** The query language and the flattening live in core/lf_query.c; this file
** only walks the ppls table and shapes rows. Each xFilter reads ppls afresh.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lf_ext.h"
#include "lf_vtab.h"
#include "../core/lf_canon.h"
#include "../core/lf_query.h"

/* Parses the query argument; NULL with the error set. */
static lf_query *query_arg(sqlite3_vtab *vt, const char *fn, sqlite3_value *v){
  if( sqlite3_value_type(v) != SQLITE_TEXT ){
    lf_vt_error(vt, "%s: query must be text, got %s", fn, lf_value_type_name(v));
    return NULL;
  }
  char err[512];
  lf_query *q = lf_query_parse((const char*)sqlite3_value_text(v), err, sizeof err);
  if( !q ) lf_vt_error(vt, "%s: %s", fn, err);
  return q;
}

/* Both tables keep nothing but the connection. */
typedef struct conn_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
} conn_vtab;

static int connect_with(sqlite3 *db, const char *ddl, sqlite3_vtab **ppVtab){
  int rc = sqlite3_declare_vtab(db, ddl);
  if( rc != SQLITE_OK ) return rc;
  conn_vtab *vt = sqlite3_malloc(sizeof *vt);
  if( !vt ) return SQLITE_NOMEM;
  memset(vt, 0, sizeof *vt);
  vt->db = db;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  *ppVtab = &vt->base;
  return SQLITE_OK;
}

static int conn_disconnect(sqlite3_vtab *vt){
  sqlite3_free(vt);
  return SQLITE_OK;
}

/* Prepares the walk over candidate pipelines (one, if pplid is not NULL). */
static int prepare_ppls(sqlite3_vtab *vt, const char *fn, const char *pplid, sqlite3_stmt **st){
  int rc = lf_vt_prepare(vt, ((conn_vtab*)vt)->db, fn, pplid
    ? "SELECT pplid, config FROM main.ppls WHERE pplid=?1"
    : "SELECT pplid, config FROM main.ppls ORDER BY pplid", st);
  if( rc==SQLITE_OK && pplid ) sqlite3_bind_text(*st, 1, pplid, -1, SQLITE_TRANSIENT);
  return rc;
}

/* ==== ppl_filter ======================================================= */

#define FFN "ppl_filter"
enum { F_PPLID, F_PARAMS, F_QUERY, F_WITH_PARAMS };

typedef struct filter_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *st;            /* pplid, config of candidate pipelines */
  lf_query *q;
  sqlite3_value *query;        /* the query argument (a copy) */
  int with_params;
  char *params;                /* the current row's params JSON (malloc) */
  int eof;
  sqlite3_int64 rowid;
} filter_cursor;

static int filter_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                          sqlite3_vtab **ppVtab, char **pzErr){
  (void)aux; (void)argc; (void)argv; (void)pzErr;
  return connect_with(db, "CREATE TABLE x(pplid TEXT, params TEXT, query HIDDEN, with_params HIDDEN)", ppVtab);
}

static int filter_open(sqlite3_vtab *p, sqlite3_vtab_cursor **ppCur){
  (void)p;
  filter_cursor *c = sqlite3_malloc(sizeof *c);
  if( !c ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->eof = 1;
  *ppCur = &c->base;
  return SQLITE_OK;
}

static void filter_reset(filter_cursor *c){
  sqlite3_finalize(c->st);
  c->st = NULL;
  lf_query_free(c->q);
  c->q = NULL;
  sqlite3_value_free(c->query);
  c->query = NULL;
  free(c->params);
  c->params = NULL;
  c->with_params = 0;
  c->eof = 1;
  c->rowid = 0;
}

static int filter_close(sqlite3_vtab_cursor *cur){
  filter_reset((filter_cursor*)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* Steps to the next pipeline whose config satisfies the query. */
static int filter_next(sqlite3_vtab_cursor *cur){
  filter_cursor *c = (filter_cursor*)cur;
  free(c->params);
  c->params = NULL;
  for(;;){
    int rc = sqlite3_step(c->st);
    if( rc==SQLITE_DONE ){ c->eof = 1; return SQLITE_OK; }
    if( rc != SQLITE_ROW ){
      return lf_vt_error(cur->pVtab, FFN ": %s", sqlite3_errmsg(((conn_vtab*)cur->pVtab)->db));
    }
    const char *text = (const char*)sqlite3_column_text(c->st, 1);
    cJSON *cfg = text ? cJSON_Parse(text) : NULL;
    if( !cfg ) continue;             /* not JSON: matches no query */
    const cJSON *value = NULL;
    int hit = lf_query_match(c->q, cfg, &value);
    if( hit && value && (c->with_params || lf_query_lists(c->q)) ){
      c->params = lf_canon_json(value);
      if( !c->params ){ cJSON_Delete(cfg); return SQLITE_NOMEM; }
    }
    cJSON_Delete(cfg);
    if( hit ) break;
  }
  c->eof = 0;
  c->rowid++;
  return SQLITE_OK;
}

static const int filter_args[] = {F_QUERY, F_WITH_PARAMS};
static const char *const filter_arg_names[] = {"query", "with_params"};
static const int filter_order[] = {F_PPLID};

static int filter_best_index(sqlite3_vtab *p, sqlite3_index_info *info){
  lf_vt_plan plan = {
    .nargs = 2, .arg_cols = filter_args, .arg_names = filter_arg_names,
    .nrequired = 1, .pplid_arg = -1, .pplid_col = F_PPLID,
    .order_cols = filter_order, .norder = 1,
    .rows_one = 1, .rows_all = 100,
  };
  return lf_vt_best_index(p, info, &plan);
}

static int filter_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                         int argc, sqlite3_value **argv){
  filter_cursor *c = (filter_cursor*)cur;
  (void)idxStr;
  filter_reset(c);
  sqlite3_value *args[2], *eq;
  lf_vt_split_args(idxNum, argc, argv, 2, args, &eq);
  if( !args[0] ){
    return lf_vt_error(cur->pVtab, FFN ": missing query, e.g. ppl_filter('optimizer=Adam>lr=0.001') "
                       "or ppl_filter('optimizer>args>lr=0.001')");
  }
  c->q = query_arg(cur->pVtab, FFN, args[0]);
  if( !c->q ) return SQLITE_ERROR;
  c->query = sqlite3_value_dup(args[0]);
  if( !c->query ) return SQLITE_NOMEM;
  c->with_params = lf_vt_flag_arg(cur->pVtab, FFN, "params", args[1]);
  if( c->with_params < 0 ) return SQLITE_ERROR;
  const char *pplid = NULL;
  if( eq && !(pplid = lf_vt_pplid_eq(eq)) ) return SQLITE_OK;   /* no such pplid */
  int rc = prepare_ppls(cur->pVtab, FFN, pplid, &c->st);
  if( rc ) return rc;
  return filter_next(cur);
}

static int filter_eof(sqlite3_vtab_cursor *cur){
  return ((filter_cursor*)cur)->eof;
}

static int filter_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i){
  filter_cursor *c = (filter_cursor*)cur;
  switch( i ){
    case F_PPLID:
      sqlite3_result_value(ctx, sqlite3_column_value(c->st, 0));
      break;
    case F_PARAMS:
      if( c->params ){
        sqlite3_result_text(ctx, c->params, -1, SQLITE_TRANSIENT);
        sqlite3_result_subtype(ctx, 'J');
      }
      break;
    case F_QUERY:
      sqlite3_result_value(ctx, c->query);
      break;
    case F_WITH_PARAMS:
      sqlite3_result_int(ctx, c->with_params);
      break;
  }
  return SQLITE_OK;
}

static int filter_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid){
  *pRowid = ((filter_cursor*)cur)->rowid;
  return SQLITE_OK;
}

const sqlite3_module lf_filter_module = {
  .iVersion = 0,
  .xCreate = 0,                  /* eponymous only */
  .xConnect = filter_connect,
  .xBestIndex = filter_best_index,
  .xDisconnect = conn_disconnect,
  .xOpen = filter_open,
  .xClose = filter_close,
  .xFilter = filter_filter,
  .xNext = filter_next,
  .xEof = filter_eof,
  .xColumn = filter_column,
  .xRowid = filter_rowid,
};

/* ==== ppl_matching ===================================================== */

#define MFN "ppl_matching"
enum { M_KEY, M_VALUE, M_PPLID, M_BASE, M_QUERY, M_INCLUDE };

typedef struct matching_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *st;            /* pplid, config of candidate pipelines */
  char *base_pplid;            /* sqlite3_malloc */
  cJSON *base_cfg;
  lf_flat *leaves;             /* the base's flattened config */
  int nleaves;
  lf_query *q;                 /* or NULL */
  sqlite3_value *query;        /* the query argument (a copy), or NULL */
  int include;
  cJSON *cfg;                  /* the current candidate's config */
  int k;                       /* the current leaf */
  int eof;
  sqlite3_int64 rowid;
} matching_cursor;

static int matching_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                            sqlite3_vtab **ppVtab, char **pzErr){
  (void)aux; (void)argc; (void)argv; (void)pzErr;
  return connect_with(db, "CREATE TABLE x(key TEXT, value, pplid TEXT,"
                          " base_pplid HIDDEN, query HIDDEN, include HIDDEN)", ppVtab);
}

static int matching_open(sqlite3_vtab *p, sqlite3_vtab_cursor **ppCur){
  (void)p;
  matching_cursor *c = sqlite3_malloc(sizeof *c);
  if( !c ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->eof = 1;
  *ppCur = &c->base;
  return SQLITE_OK;
}

static void matching_reset(matching_cursor *c){
  sqlite3_finalize(c->st);
  c->st = NULL;
  sqlite3_free(c->base_pplid);
  c->base_pplid = NULL;
  lf_flat_free(c->leaves, c->nleaves);
  c->leaves = NULL;
  c->nleaves = 0;
  cJSON_Delete(c->base_cfg);
  c->base_cfg = NULL;
  cJSON_Delete(c->cfg);
  c->cfg = NULL;
  lf_query_free(c->q);
  c->q = NULL;
  sqlite3_value_free(c->query);
  c->query = NULL;
  c->include = 0;
  c->eof = 1;
  c->rowid = 0;
}

static int matching_close(sqlite3_vtab_cursor *cur){
  matching_reset((matching_cursor*)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* Next (candidate, leaf) pair whose values are equal: leaves of the current
** candidate first, then the next candidates that pass the query. */
static int matching_next(sqlite3_vtab_cursor *cur){
  matching_cursor *c = (matching_cursor*)cur;
  for(;;){
    if( c->cfg ){
      while( ++c->k < c->nleaves ){
        const lf_flat *leaf = &c->leaves[c->k];
        if( lf_json_equal(leaf->value, lf_json_at(c->cfg, leaf->key)) ){
          c->eof = 0;
          c->rowid++;
          return SQLITE_OK;
        }
      }
      cJSON_Delete(c->cfg);
      c->cfg = NULL;
    }
    int rc = sqlite3_step(c->st);
    if( rc==SQLITE_DONE ){ c->eof = 1; return SQLITE_OK; }
    if( rc != SQLITE_ROW ){
      return lf_vt_error(cur->pVtab, MFN ": %s", sqlite3_errmsg(((conn_vtab*)cur->pVtab)->db));
    }
    const char *pplid = (const char*)sqlite3_column_text(c->st, 0);
    if( !c->include && pplid && strcmp(pplid, c->base_pplid)==0 ) continue;
    const char *text = (const char*)sqlite3_column_text(c->st, 1);
    c->cfg = text ? cJSON_Parse(text) : NULL;
    if( c->cfg && c->q && !lf_query_match(c->q, c->cfg, NULL) ){
      cJSON_Delete(c->cfg);
      c->cfg = NULL;
    }
    c->k = -1;
  }
}

static const int matching_args[] = {M_BASE, M_QUERY, M_INCLUDE};
static const char *const matching_arg_names[] = {"base_pplid", "query", "include"};
static const int matching_order[] = {M_PPLID};

static int matching_best_index(sqlite3_vtab *p, sqlite3_index_info *info){
  lf_vt_plan plan = {
    .nargs = 3, .arg_cols = matching_args, .arg_names = matching_arg_names,
    .nrequired = 1, .pplid_arg = -1, .pplid_col = M_PPLID,
    .order_cols = matching_order, .norder = 1,   /* by pplid, then base key order */
    .rows_one = 20, .rows_all = 2000,
  };
  return lf_vt_best_index(p, info, &plan);
}

static int matching_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                           int argc, sqlite3_value **argv){
  matching_cursor *c = (matching_cursor*)cur;
  conn_vtab *vt = (conn_vtab*)cur->pVtab;
  (void)idxStr;
  matching_reset(c);
  sqlite3_value *args[3], *eq;
  lf_vt_split_args(idxNum, argc, argv, 3, args, &eq);
  if( !args[0] ) return lf_vt_error(cur->pVtab, MFN ": missing base_pplid, e.g. ppl_matching('p1')");
  const char *base = lf_vt_pplid_arg(cur->pVtab, MFN, args[0]);
  if( !base ) return SQLITE_ERROR;
  c->base_pplid = sqlite3_mprintf("%s", base);
  if( !c->base_pplid ) return SQLITE_NOMEM;
  /* A NULL query means none, so ppl_matching('p', NULL, 1) works. */
  if( args[1] && sqlite3_value_type(args[1]) != SQLITE_NULL ){
    c->q = query_arg(cur->pVtab, MFN, args[1]);
    if( !c->q ) return SQLITE_ERROR;
    c->query = sqlite3_value_dup(args[1]);
    if( !c->query ) return SQLITE_NOMEM;
  }
  c->include = lf_vt_flag_arg(cur->pVtab, MFN, "include", args[2]);
  if( c->include < 0 ) return SQLITE_ERROR;

  sqlite3_stmt *st;
  int rc = lf_vt_prepare(cur->pVtab, vt->db, MFN, "SELECT config FROM main.ppls WHERE pplid=?1", &st);
  if( rc ) return rc;
  sqlite3_bind_text(st, 1, c->base_pplid, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if( rc==SQLITE_ROW ){
    const char *text = (const char*)sqlite3_column_text(st, 0);
    c->base_cfg = text ? cJSON_Parse(text) : NULL;
    rc = c->base_cfg ? SQLITE_OK : lf_vt_error(cur->pVtab, MFN ": the config of '%s' is not JSON", c->base_pplid);
  }else if( rc==SQLITE_DONE ){
    rc = lf_vt_error(cur->pVtab, MFN ": no pipeline '%s' in this project", c->base_pplid);
  }else{
    rc = lf_vt_error(cur->pVtab, MFN ": %s", sqlite3_errmsg(vt->db));
  }
  sqlite3_finalize(st);
  if( rc ) return rc;
  if( lf_json_flatten(c->base_cfg, &c->leaves, &c->nleaves) ) return SQLITE_NOMEM;

  const char *pplid = NULL;
  if( eq && !(pplid = lf_vt_pplid_eq(eq)) ) return SQLITE_OK;
  rc = prepare_ppls(cur->pVtab, MFN, pplid, &c->st);
  if( rc ) return rc;
  return matching_next(cur);
}

static int matching_eof(sqlite3_vtab_cursor *cur){
  return ((matching_cursor*)cur)->eof;
}

/* A flattened leaf as an SQL value, as json_each() shows atoms: numbers
** as INTEGER when integral, true/false as 1/0, empty {} / [] as JSON. */
static void result_json_atom(sqlite3_context *ctx, const cJSON *v){
  if( cJSON_IsString(v) ){
    sqlite3_result_text(ctx, v->valuestring, -1, SQLITE_TRANSIENT);
  }else if( cJSON_IsNumber(v) ){
    double d = v->valuedouble;
    if( d == floor(d) && fabs(d) <= 9007199254740992.0 ) sqlite3_result_int64(ctx, (sqlite3_int64)d);
    else sqlite3_result_double(ctx, d);
  }else if( cJSON_IsTrue(v) ){
    sqlite3_result_int(ctx, 1);
  }else if( cJSON_IsFalse(v) ){
    sqlite3_result_int(ctx, 0);
  }else if( cJSON_IsArray(v) || cJSON_IsObject(v) ){
    sqlite3_result_text(ctx, cJSON_IsArray(v) ? "[]" : "{}", -1, SQLITE_STATIC);
    sqlite3_result_subtype(ctx, 'J');
  }
  /* null: SQL NULL */
}

static int matching_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i){
  matching_cursor *c = (matching_cursor*)cur;
  switch( i ){
    case M_KEY:
      sqlite3_result_text(ctx, c->leaves[c->k].key, -1, SQLITE_TRANSIENT);
      break;
    case M_VALUE:
      result_json_atom(ctx, c->leaves[c->k].value);
      break;
    case M_PPLID:
      sqlite3_result_value(ctx, sqlite3_column_value(c->st, 0));
      break;
    case M_BASE:
      sqlite3_result_text(ctx, c->base_pplid, -1, SQLITE_TRANSIENT);
      break;
    case M_QUERY:
      if( c->query ) sqlite3_result_value(ctx, c->query);
      break;
    case M_INCLUDE:
      sqlite3_result_int(ctx, c->include);
      break;
  }
  return SQLITE_OK;
}

static int matching_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid){
  *pRowid = ((matching_cursor*)cur)->rowid;
  return SQLITE_OK;
}

const sqlite3_module lf_matching_module = {
  .iVersion = 0,
  .xCreate = 0,                  /* eponymous only */
  .xConnect = matching_connect,
  .xBestIndex = matching_best_index,
  .xDisconnect = conn_disconnect,
  .xOpen = matching_open,
  .xClose = matching_close,
  .xFilter = matching_filter,
  .xNext = matching_next,
  .xEof = matching_eof,
  .xColumn = matching_column,
  .xRowid = matching_rowid,
};
