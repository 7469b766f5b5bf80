/*
** vtab_weights.c — ppl_weights(pplid [, epoch='best']): the tensors of a
** pipeline's weight file, one row each.
**
**   name|shape|dtype|data
**   0.weight|[2,2]|float32|<BLOB of 16 bytes, little-endian>
**
** epoch is 'best', 'last' or a number; an epoch whose file the project's
** keep setting did not keep is an error that says so (ppl_weight_files
** lists the kept ones). Internal records (names starting "__": input shape,
** standardisation) are not shown. The hidden epoch column reads as the
** resolved epoch number.
**
** Registered DIRECTONLY: it reads files under the artifacts folder, so a
** view or trigger in a database someone sent you cannot use it.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_ext.h"
#include "lf_vtab.h"
#include "../core/lf_ckpt.h"
#include "../core/lf_model.h"
#include "../core/lf_ppl.h"

#define FN "ppl_weights"
enum { W_NAME, W_SHAPE, W_DTYPE, W_DATA, W_PPLID, W_EPOCH };

typedef struct weights_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
} weights_vtab;

typedef struct weights_cursor {
  sqlite3_vtab_cursor base;
  lf_tensor_rec *recs;          /* the whole file, owned (lf_ckpt_free) */
  int nrecs;
  int i;                        /* current record */
  char *pplid;                  /* sqlite3_malloc */
  int epoch;
} weights_cursor;

static int weights_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                           sqlite3_vtab **ppVtab, char **pzErr){
  (void)aux; (void)argc; (void)argv; (void)pzErr;
  int rc = sqlite3_declare_vtab(db,
    "CREATE TABLE x(name TEXT, shape TEXT, dtype TEXT, data BLOB, pplid HIDDEN, epoch HIDDEN)");
  if( rc != SQLITE_OK ) return rc;
  weights_vtab *vt = sqlite3_malloc(sizeof *vt);
  if( !vt ) return SQLITE_NOMEM;
  memset(vt, 0, sizeof *vt);
  vt->db = db;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  *ppVtab = &vt->base;
  return SQLITE_OK;
}

static int weights_disconnect(sqlite3_vtab *vt){
  sqlite3_free(vt);
  return SQLITE_OK;
}

static int weights_open(sqlite3_vtab *p, sqlite3_vtab_cursor **ppCur){
  (void)p;
  weights_cursor *c = sqlite3_malloc(sizeof *c);
  if( !c ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *ppCur = &c->base;
  return SQLITE_OK;
}

static void weights_reset(weights_cursor *c){
  lf_ckpt_free(c->recs, c->nrecs);
  c->recs = NULL;
  c->nrecs = 0;
  c->i = 0;
  sqlite3_free(c->pplid);
  c->pplid = NULL;
  c->epoch = 0;
}

static int weights_close(sqlite3_vtab_cursor *cur){
  weights_reset((weights_cursor*)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* Skips records that are not user-visible tensors. */
static void skip_internal(weights_cursor *c){
  while( c->i < c->nrecs && c->recs[c->i].name && strncmp(c->recs[c->i].name, "__", 2)==0 ) c->i++;
}

static int weights_next(sqlite3_vtab_cursor *cur){
  weights_cursor *c = (weights_cursor*)cur;
  c->i++;
  skip_internal(c);
  return SQLITE_OK;
}

static const int weights_args[] = {W_PPLID, W_EPOCH};
static const char *const weights_arg_names[] = {"pplid", "epoch"};

static int weights_best_index(sqlite3_vtab *p, sqlite3_index_info *info){
  lf_vt_plan plan = {
    .nargs = 2, .arg_cols = weights_args, .arg_names = weights_arg_names,
    .nrequired = 1, .pplid_arg = 0, .pplid_col = -1,
    .order_cols = NULL, .norder = 0,
    .rows_one = 20, .rows_all = 20,
  };
  return lf_vt_best_index(p, info, &plan);
}

/* The path of the weight file of (pplid, epoch), or NULL with err. */
static char *weight_path(sqlite3 *db, const char *pplid, int epoch, char *err, size_t n){
  lf_settings s;
  if( lf_project_settings(db, &s, err, n) ) return NULL;
  char *art = lf_project_artifacts(db, &s, err, n);
  lf_settings_free(&s);
  if( !art ) return NULL;
  char *path = lf_ppl_path(art, "weight", pplid, epoch, err, n);
  free(art);
  return path;
}

static int weights_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                          int argc, sqlite3_value **argv){
  weights_cursor *c = (weights_cursor*)cur;
  weights_vtab *vt = (weights_vtab*)cur->pVtab;
  (void)idxStr;
  weights_reset(c);
  sqlite3_value *args[2], *unused;
  lf_vt_split_args(idxNum, argc, argv, 2, args, &unused);
  if( !args[0] ) return lf_vt_error(cur->pVtab, FN ": missing pplid, e.g. ppl_weights('p1', 'best')");
  const char *pplid = lf_vt_pplid_arg(cur->pVtab, FN, args[0]);
  if( !pplid ) return SQLITE_ERROR;
  c->pplid = sqlite3_mprintf("%s", pplid);
  if( !c->pplid ) return SQLITE_NOMEM;
  int rc = lf_vt_ppl_must_exist(cur->pVtab, vt->db, FN, c->pplid);
  if( rc ) return rc;

  char which[32] = "best";
  if( args[1] ){
    int t = sqlite3_value_type(args[1]);
    const char *s = (const char*)sqlite3_value_text(args[1]);
    if( t==SQLITE_INTEGER ){
      snprintf(which, sizeof which, "%lld", (long long)sqlite3_value_int64(args[1]));
    }else if( t==SQLITE_TEXT && s && strlen(s) < sizeof which ){
      snprintf(which, sizeof which, "%s", s);
    }else{
      return lf_vt_error(cur->pVtab, FN ": epoch must be 'best', 'last' or a number >= 1");
    }
  }
  char err[1024];
  if( lf_model_pick_epoch(vt->db, c->pplid, which, &c->epoch, err, sizeof err) ){
    return lf_vt_error(cur->pVtab, FN ": %s", err);
  }
  /* best and last are always kept by training, but ppl_clean may drop one. */
  sqlite3_stmt *st;
  rc = lf_vt_prepare(cur->pVtab, vt->db, FN,
                     "SELECT 1 FROM main.ppl_weight_files WHERE pplid=?1 AND epoch=?2", &st);
  if( rc ) return rc;
  sqlite3_bind_text(st, 1, c->pplid, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, c->epoch);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if( rc==SQLITE_DONE ){
    return lf_vt_error(cur->pVtab, FN ": the weights of epoch %d of '%s' were not kept (the project's keep "
                       "setting keeps only the best and last epochs; to keep every epoch trained from now on: "
                       "SELECT lab_settings('{\"keep\": \"all\"}'))",
                       c->epoch, c->pplid);
  }
  if( rc != SQLITE_ROW ) return lf_vt_error(cur->pVtab, FN ": %s", sqlite3_errmsg(vt->db));

  char *path = weight_path(vt->db, c->pplid, c->epoch, err, sizeof err);
  if( !path ) return lf_vt_error(cur->pVtab, FN ": %s", err);
  rc = lf_ckpt_read(path, &c->recs, &c->nrecs, err, sizeof err);
  free(path);
  if( rc ){
    c->recs = NULL; c->nrecs = 0;
    return lf_vt_error(cur->pVtab, FN ": %s", err);
  }
  c->i = 0;
  skip_internal(c);
  return SQLITE_OK;
}

static int weights_eof(sqlite3_vtab_cursor *cur){
  weights_cursor *c = (weights_cursor*)cur;
  return c->i >= c->nrecs;
}

static const char *dtype_name(int dtype){
  switch( dtype ){
    case 1: return "uint8";
    case 4: return "float32";
    case 8: return "int64";
  }
  return "unknown";
}

static int weights_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i){
  weights_cursor *c = (weights_cursor*)cur;
  const lf_tensor_rec *r = &c->recs[c->i];
  switch( i ){
    case W_NAME:
      sqlite3_result_text(ctx, r->name, -1, SQLITE_TRANSIENT);
      break;
    case W_SHAPE: {
      sqlite3_str *s = sqlite3_str_new(NULL);
      sqlite3_str_appendchar(s, 1, '[');
      for(int d=0; d<r->ndim; d++) sqlite3_str_appendf(s, "%s%lld", d ? "," : "", (long long)r->dim[d]);
      sqlite3_str_appendchar(s, 1, ']');
      char *text = sqlite3_str_finish(s);
      if( !text ) return SQLITE_NOMEM;
      sqlite3_result_text(ctx, text, -1, sqlite3_free);
      sqlite3_result_subtype(ctx, 'J');
      break;
    }
    case W_DTYPE:
      sqlite3_result_text(ctx, dtype_name(r->dtype), -1, SQLITE_STATIC);
      break;
    case W_DATA: {
      /* lf_ckpt_read checked that count * dtype bytes are there. */
      sqlite3_uint64 bytes = (sqlite3_uint64)r->dtype;
      for(int d=0; d<r->ndim; d++) bytes *= (sqlite3_uint64)r->dim[d];
      if( bytes==0 || !r->data ) sqlite3_result_zeroblob(ctx, 0);
      else sqlite3_result_blob64(ctx, r->data, bytes, SQLITE_TRANSIENT);
      break;
    }
    case W_PPLID:
      sqlite3_result_text(ctx, c->pplid, -1, SQLITE_TRANSIENT);
      break;
    case W_EPOCH:
      sqlite3_result_int(ctx, c->epoch);
      break;
  }
  return SQLITE_OK;
}

static int weights_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid){
  *pRowid = ((weights_cursor*)cur)->i;
  return SQLITE_OK;
}

const sqlite3_module lf_weights_module = {
  .iVersion = 0,
  .xCreate = 0,                  /* eponymous only */
  .xConnect = weights_connect,
  .xBestIndex = weights_best_index,
  .xDisconnect = weights_disconnect,
  .xOpen = weights_open,
  .xClose = weights_close,
  .xFilter = weights_filter,
  .xNext = weights_next,
  .xEof = weights_eof,
  .xColumn = weights_column,
  .xRowid = weights_rowid,
};
