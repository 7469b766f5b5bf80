/*
** vtab_predict_rows.c — ppl_predict_rows(pplid, select_sql [, epoch='best'
** [, mode='raw']]): set-based scoring. Runs select_sql and yields, per row
** of it, the row's key column(s) and the model's prediction:
**
**   SELECT key, prediction FROM ppl_predict_rows('m', 'SELECT id, x1, x2 FROM t', 'best', 'class');
**   key|prediction
**   1|"big"
**
** Columns: key (the first key column's value, as it was), keys (a JSON
** object of every key column by name), prediction (JSON text, the same as
** ppl_predict gives for that row's sample). rowid is the row's number in
** the query, from 1.
**
** Which columns are the sample:
**   1. when the dataset names its feature columns (args "features", or the
**      columns of named "inputs") and the query has all of them: those
**      columns, in the config's order (categorical text as the data had it);
**   2. else, when the dataset reads a blob column or a sequence column
**      (docs/sequences.md) and the query has a column of that name: that
**      column;
**   3. else the query's last column, holding the sample as ppl_predict
**      takes it (a BLOB of uint8 or float32, a JSON array, a JSON object).
** A sequence pipeline's column holds one sequence per row as its data
** does: JSON text ([v1, v2, ...]) or a BLOB (float32, or int32 token ids),
** padded or cut to max_len and masked as in training.
** Every other column is a key.
**
** The query is read in batches of the pipeline's val_batch_size, each run
** through the network in one forward pass with the project's `threads`
** setting (the caller's thread count is restored before a row is
** returned). The network comes from the connection's model cache and stays
** pinned while the cursor is open. The query obeys the read-only rules of
** `sql` data sources (lf_prepare_readonly). Registered DIRECTONLY: it reads
** files under the artifacts folder and runs SQL given as an argument.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_ext.h"
#include "lf_vtab.h"
#include "../core/lf_model_cache.h"
#include "../core/lf_predict.h"
#include "../core/lf_readonly_query.h"
#include "../core/lf_dataset.h"
#include <cjson/cJSON.h>

#define FN "ppl_predict_rows"
enum { R_KEY, R_KEYS, R_PREDICTION, R_PPLID, R_SELECT, R_EPOCH, R_MODE };

typedef struct rows_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
  lf_conn *conn;
} rows_vtab;

typedef struct rows_cursor {
  sqlite3_vtab_cursor base;
  lf_model_cache *cache;
  lf_cached_model *model;       /* pinned while the cursor is open */
  lf_predict_mode mode;
  sqlite3_stmt *st;             /* the caller's query */
  int done;                     /* the query has no more rows */
  int *key_cols, nkeys;
  int *feat_cols, nfeat;        /* rule 1: numeric columns of one sample */
  int input_col;                /* rules 2, 3: the column holding the sample */
  int cap;                      /* rows per batch */
  float *x;                     /* cap * count(in) */
  sqlite3_value **keys;         /* cap * nkeys, sqlite3_value_dup'ed */
  char *pred;                   /* the batch's predictions, back to back */
  int *pred_at;                 /* cap + 1 offsets into pred */
  int nbatch, pos;              /* rows in the batch, current one */
  sqlite3_int64 row;            /* rowid: the current row's number */
  int eof;
} rows_cursor;

static int rows_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **ppVtab, char **pzErr){
  (void)argc; (void)argv; (void)pzErr;
  int rc = sqlite3_declare_vtab(db,
    "CREATE TABLE x(key, keys TEXT, prediction TEXT, "
    "pplid HIDDEN, select_sql HIDDEN, epoch HIDDEN, mode HIDDEN)");
  if( rc != SQLITE_OK ) return rc;
  rows_vtab *vt = sqlite3_malloc(sizeof *vt);
  if( !vt ) return SQLITE_NOMEM;
  memset(vt, 0, sizeof *vt);
  vt->db = db;
  vt->conn = aux;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  *ppVtab = &vt->base;
  return SQLITE_OK;
}

static int rows_disconnect(sqlite3_vtab *vt){
  sqlite3_free(vt);
  return SQLITE_OK;
}

static int rows_open(sqlite3_vtab *p, sqlite3_vtab_cursor **ppCur){
  (void)p;
  rows_cursor *c = sqlite3_malloc(sizeof *c);
  if( !c ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *ppCur = &c->base;
  return SQLITE_OK;
}

static void batch_clear(rows_cursor *c){
  for(int i=0; i<c->nbatch; i++){
    for(int k=0; k<c->nkeys; k++){
      sqlite3_value_free(c->keys[(size_t)i*c->nkeys + k]);
      c->keys[(size_t)i*c->nkeys + k] = NULL;
    }
  }
  c->nbatch = 0;
  c->pos = 0;
}

static void rows_reset(rows_cursor *c){
  batch_clear(c);
  sqlite3_finalize(c->st);
  if( c->model ) lf_model_cache_release(c->cache, c->model);
  sqlite3_free(c->key_cols);
  sqlite3_free(c->feat_cols);
  sqlite3_free(c->x);
  sqlite3_free(c->keys);
  sqlite3_free(c->pred);
  sqlite3_free(c->pred_at);
  memset((char*)c + sizeof c->base, 0, sizeof *c - sizeof c->base);
}

static int rows_close(sqlite3_vtab_cursor *cur){
  rows_reset((rows_cursor*)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static const int rows_args[] = {R_PPLID, R_SELECT, R_EPOCH, R_MODE};
static const char *const rows_arg_names[] = {"pplid", "select_sql", "epoch", "mode"};

static int rows_best_index(sqlite3_vtab *p, sqlite3_index_info *info){
  lf_vt_plan plan = {
    .nargs = 4, .arg_cols = rows_args, .arg_names = rows_arg_names,
    .nrequired = 2, .pplid_arg = 0, .pplid_col = -1,
    .order_cols = NULL, .norder = 0,
    .rows_one = 100000, .rows_all = 100000,
  };
  return lf_vt_best_index(p, info, &plan);
}

/* Picks the sample's columns by the rules in the header comment. */
static int choose_columns(rows_cursor *c, sqlite3_vtab *vt){
  const lf_dataset_spec *d = &c->model->m.spec.dataset;
  int ncol = sqlite3_column_count(c->st);
  int64_t cnt = lf_shape_count(&c->model->m.in);
  int *is_input = sqlite3_malloc64(sizeof(int) * (sqlite3_uint64)(ncol + 1));
  c->key_cols = sqlite3_malloc64(sizeof(int) * (sqlite3_uint64)(ncol + 1));
  if( !is_input || !c->key_cols ){ sqlite3_free(is_input); return SQLITE_NOMEM; }
  memset(is_input, 0, sizeof(int) * (size_t)ncol);
  c->input_col = -1;
  if( d->features && d->nfeatures > 0 && (d->nfeatures == cnt || c->model->m.tab) ){
    c->feat_cols = sqlite3_malloc64(sizeof(int) * (sqlite3_uint64)d->nfeatures);
    if( !c->feat_cols ){ sqlite3_free(is_input); return SQLITE_NOMEM; }
    int found = 0;
    for(int i=0; i<d->nfeatures; i++){
      for(int k=0; k<ncol; k++){
        const char *name = sqlite3_column_name(c->st, k);
        if( name && !is_input[k] && sqlite3_stricmp(name, d->features[i])==0 ){
          c->feat_cols[found++] = k;
          is_input[k] = 1;
          break;
        }
      }
    }
    if( found == d->nfeatures ) c->nfeat = found;
    else{
      memset(is_input, 0, sizeof(int) * (size_t)ncol);
      sqlite3_free(c->feat_cols);
      c->feat_cols = NULL;
    }
  }
  const char *named = d->seq_column ? d->seq_column : d->blob;
  if( !c->nfeat && named && *named ){
    for(int k=0; k<ncol && c->input_col < 0; k++){
      const char *name = sqlite3_column_name(c->st, k);
      if( name && sqlite3_stricmp(name, named)==0 ) c->input_col = k;
    }
  }
  if( !c->nfeat && c->input_col < 0 ) c->input_col = ncol - 1;
  if( c->input_col >= 0 ) is_input[c->input_col] = 1;
  for(int k=0; k<ncol; k++) if( !is_input[k] ) c->key_cols[c->nkeys++] = k;
  sqlite3_free(is_input);
  (void)vt;
  return SQLITE_OK;
}

static void append_json_string(sqlite3_str *s, const char *t);

/* One numeric column value of rule 1. */
static int numeric_value(sqlite3_stmt *st, int col, double *v){
  int t = sqlite3_column_type(st, col);
  if( t==SQLITE_INTEGER || t==SQLITE_FLOAT ){ *v = sqlite3_column_double(st, col); return isfinite(*v) ? 0 : -1; }
  if( t==SQLITE_TEXT ){
    const char *s = (const char*)sqlite3_column_text(st, col);
    char *end = NULL;
    *v = s ? strtod(s, &end) : 0;
    return s && end != s && *end == 0 && isfinite(*v) ? 0 : -1;
  }
  return -1;
}

/* The current row's sample into dst (count(in) raw floats). */
static int read_sample(rows_cursor *c, sqlite3_vtab *vt, float *dst){
  const lf_model *m = &c->model->m;
  int64_t cnt = lf_shape_count(&m->in);
  sqlite3_int64 rowno = c->row + c->nbatch + 1;
  if( c->nfeat && m->tab ){
    /* Named inputs (categorical values, missing-value rules): the columns
    ** as the JSON object ppl_predict would take. */
    sqlite3_str *o = sqlite3_str_new(NULL);
    sqlite3_str_appendchar(o, 1, '{');
    for(int i=0; i<c->nfeat; i++){
      int col = c->feat_cols[i], t = sqlite3_column_type(c->st, col);
      if( i ) sqlite3_str_appendchar(o, 1, ',');
      append_json_string(o, m->spec.dataset.features[i]);
      sqlite3_str_appendchar(o, 1, ':');
      if( t==SQLITE_INTEGER ) sqlite3_str_appendf(o, "%lld", (long long)sqlite3_column_int64(c->st, col));
      else if( t==SQLITE_FLOAT && isfinite(sqlite3_column_double(c->st, col)) ) sqlite3_str_appendf(o, "%!.17g", sqlite3_column_double(c->st, col));
      else if( t==SQLITE_TEXT ) append_json_string(o, (const char*)sqlite3_column_text(c->st, col));
      else sqlite3_str_appendall(o, "null");
    }
    sqlite3_str_appendchar(o, 1, '}');
    if( sqlite3_str_errcode(o) ){ sqlite3_free(sqlite3_str_finish(o)); return SQLITE_NOMEM; }
    char *json = sqlite3_str_finish(o);
    float *x = NULL;
    int64_t ns = 0;
    int one = 0;
    char err[1024];
    int rc = lf_predict_parse_input(m, json, NULL, 0, &x, &ns, &one, err, sizeof err);
    sqlite3_free(json);
    if( rc ) return lf_vt_error(vt, FN ": row %lld: %s", (long long)rowno, err);
    memcpy(dst, x, sizeof(float) * (size_t)cnt);
    free(x);
    return SQLITE_OK;
  }
  if( c->nfeat ){
    for(int i=0; i<c->nfeat; i++){
      double v;
      if( numeric_value(c->st, c->feat_cols[i], &v) ){
        return lf_vt_error(vt, FN ": row %lld column '%s': not a finite number", (long long)rowno,
                           sqlite3_column_name(c->st, c->feat_cols[i]));
      }
      dst[i] = (float)v;
    }
    return SQLITE_OK;
  }
  int t = sqlite3_column_type(c->st, c->input_col);
  const char *name = sqlite3_column_name(c->st, c->input_col);
  if( m->spec.dataset.seq_column && t == SQLITE_NULL ){
    return lf_vt_error(vt, FN ": row %lld column '%s': the sequence is NULL (write [] for an empty one)",
                       (long long)rowno, name);
  }
  if( m->spec.dataset.seq_column && (t == SQLITE_BLOB || t == SQLITE_TEXT) ){
    /* One sequence per row, as the data holds it (a JSON object goes the
    ** ppl_predict way below). */
    char err[1024];
    int rc = 0, done = 1;
    if( t == SQLITE_BLOB ){
      rc = lf_seqdata_encode_blob(&m->spec.dataset, sqlite3_column_blob(c->st, c->input_col),
                                  sqlite3_column_bytes(c->st, c->input_col), rowno, dst, err, sizeof err);
    }else{
      cJSON *j = cJSON_Parse((const char*)sqlite3_column_text(c->st, c->input_col));
      if( cJSON_IsObject(j) ) done = 0;
      else if( !cJSON_IsArray(j) ){
        snprintf(err, sizeof err, "input row %lld column '%s': not a JSON array (write the sequence as [v1, v2, ...], "
                 "as the data has it)", (long long)rowno, name);
        rc = -1;
      }else rc = lf_seqdata_encode(&m->spec.dataset, j, rowno, dst, err, sizeof err);
      cJSON_Delete(j);
    }
    if( rc ) return lf_vt_error(vt, FN ": %s", err);
    if( done ) return SQLITE_OK;
  }
  if( t != SQLITE_BLOB && t != SQLITE_TEXT ){
    return lf_vt_error(vt, FN ": row %lld column '%s': the sample must be a BLOB (uint8 or float32) or JSON "
                       "text, got %s; or select the dataset's feature columns by name", (long long)rowno, name,
                       t==SQLITE_NULL ? "NULL" : "a number");
  }
  if( t==SQLITE_BLOB ){
    /* One sample of uint8 or float32: straight into the batch. */
    const void *b = sqlite3_column_blob(c->st, c->input_col);
    int64_t len = sqlite3_column_bytes(c->st, c->input_col);
    if( b && len == cnt ){
      const unsigned char *u = b;
      for(int64_t i=0; i<cnt; i++) dst[i] = (float)u[i];
      return SQLITE_OK;
    }
    if( b && len == cnt * (int64_t)sizeof(float) ){
      memcpy(dst, b, (size_t)len);
      int64_t i = 0;
      while( i<cnt && isfinite(dst[i]) ) i++;
      if( i==cnt ) return SQLITE_OK;
    }
  }
  float *x = NULL;
  int64_t ns = 0;
  int one = 0;
  char err[1024];
  int rc;
  if( t==SQLITE_BLOB ){
    rc = lf_predict_parse_input(m, NULL, sqlite3_column_blob(c->st, c->input_col),
                                sqlite3_column_bytes(c->st, c->input_col), &x, &ns, &one, err, sizeof err);
  }else{
    rc = lf_predict_parse_input(m, (const char*)sqlite3_column_text(c->st, c->input_col), NULL, 0,
                                &x, &ns, &one, err, sizeof err);
  }
  if( rc ) return lf_vt_error(vt, FN ": row %lld column '%s': %s", (long long)rowno, name, err);
  if( ns != 1 ){
    free(x);
    return lf_vt_error(vt, FN ": row %lld column '%s' holds %lld samples; give one sample per row",
                       (long long)rowno, name, (long long)ns);
  }
  memcpy(dst, x, sizeof(float) * (size_t)cnt);
  free(x);
  return SQLITE_OK;
}

/* Reads, runs and formats the next batch; eof when the query is done. */
static int next_batch(rows_cursor *c, sqlite3_vtab *vt){
  c->row += c->nbatch;
  batch_clear(c);
  const lf_model *m = &c->model->m;
  int64_t cnt = lf_shape_count(&m->in), nout = lf_shape_count(&m->out);
  while( !c->done && c->nbatch < c->cap ){
    int rc = sqlite3_step(c->st);
    if( rc==SQLITE_DONE ){ c->done = 1; break; }
    if( rc != SQLITE_ROW ){
      return lf_vt_error(vt, FN ": the query failed at row %lld: %s", (long long)(c->row + c->nbatch + 1),
                         sqlite3_errmsg(sqlite3_db_handle(c->st)));
    }
    rc = read_sample(c, vt, c->x + (size_t)c->nbatch * (size_t)cnt);
    if( rc ) return rc;
    for(int k=0; k<c->nkeys; k++){
      sqlite3_value *v = sqlite3_value_dup(sqlite3_column_value(c->st, c->key_cols[k]));
      if( !v ){
        for(int j=0; j<k; j++){
          sqlite3_value_free(c->keys[(size_t)c->nbatch*c->nkeys + j]);
          c->keys[(size_t)c->nbatch*c->nkeys + j] = NULL;
        }
        return SQLITE_NOMEM;
      }
      c->keys[(size_t)c->nbatch*c->nkeys + k] = v;
    }
    c->nbatch++;
  }
  if( c->nbatch==0 ){ c->eof = 1; return SQLITE_OK; }
  lf_predict_transform(m, c->x, c->nbatch);
  char err[1024];
  const float *y = lf_cached_forward(c->cache, c->model, c->x, c->nbatch, err, sizeof err);
  if( !y ) return lf_vt_error(vt, FN ": forward pass failed: %s", err);
  sqlite3_str *s = sqlite3_str_new(NULL);
  for(int i=0; i<c->nbatch; i++){
    c->pred_at[i] = sqlite3_str_length(s);
    lf_predict_format(c->model, y + (size_t)i*(size_t)nout, c->mode, s);
  }
  c->pred_at[c->nbatch] = sqlite3_str_length(s);
  sqlite3_free(c->pred);
  c->pred = NULL;
  if( sqlite3_str_errcode(s) ){ sqlite3_free(sqlite3_str_finish(s)); return SQLITE_NOMEM; }
  c->pred = sqlite3_str_finish(s);
  if( !c->pred ) return SQLITE_NOMEM;
  return SQLITE_OK;
}

static int rows_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                       int argc, sqlite3_value **argv){
  rows_cursor *c = (rows_cursor*)cur;
  rows_vtab *vt = (rows_vtab*)cur->pVtab;
  (void)idxStr;
  rows_reset(c);
  sqlite3_value *args[4], *unused;
  lf_vt_split_args(idxNum, argc, argv, 4, args, &unused);
  if( !args[0] || !args[1] ){
    return lf_vt_error(cur->pVtab, FN ": needs a pplid and a SELECT, e.g. "
                       "ppl_predict_rows('p1', 'SELECT id, features FROM t')");
  }
  const char *pplid = lf_vt_pplid_arg(cur->pVtab, FN, args[0]);
  if( !pplid ) return SQLITE_ERROR;
  if( sqlite3_value_type(args[1]) != SQLITE_TEXT ){
    return lf_vt_error(cur->pVtab, FN ": select_sql must be the text of a SELECT statement");
  }
  char which[32] = "best";
  if( args[2] ){
    int t = sqlite3_value_type(args[2]);
    const char *s = (const char*)sqlite3_value_text(args[2]);
    if( t==SQLITE_INTEGER ) snprintf(which, sizeof which, "%lld", (long long)sqlite3_value_int64(args[2]));
    else if( t==SQLITE_TEXT && s && strlen(s) < sizeof which ) snprintf(which, sizeof which, "%s", s);
    else return lf_vt_error(cur->pVtab, FN ": epoch must be 'best', 'last' or a number >= 1");
  }
  c->mode = LF_PREDICT_RAW;
  if( args[3] ){
    const char *s = (const char*)sqlite3_value_text(args[3]);
    if( sqlite3_value_type(args[3]) != SQLITE_TEXT || !s || lf_predict_mode_parse(s, &c->mode) ){
      return lf_vt_error(cur->pVtab, FN ": mode must be 'raw', 'proba' or 'class'");
    }
  }
  c->cache = lf_conn_models(vt->conn);
  if( !c->cache ) return SQLITE_NOMEM;
  char err[2048];
  c->model = lf_model_cache_get(c->cache, vt->db, pplid, which, err, sizeof err);
  if( !c->model ){
    int rc = lf_vt_ppl_must_exist(cur->pVtab, vt->db, FN, pplid);
    return rc ? rc : lf_vt_error(cur->pVtab, FN ": %s", err);
  }
  if( lf_predict_check_mode(&c->model->m, c->mode, err, sizeof err) ){
    return lf_vt_error(cur->pVtab, FN ": %s", err);
  }
  char *why = NULL;
  if( lf_prepare_readonly(vt->db, (const char*)sqlite3_value_text(args[1]), &c->st, &why) ){
    int rc = lf_vt_error(cur->pVtab, FN ": select_sql: %s", why ? why : "cannot be prepared");
    sqlite3_free(why);
    return rc;
  }
  if( sqlite3_column_count(c->st) < 1 ){
    return lf_vt_error(cur->pVtab, FN ": select_sql returns no columns (it must be a SELECT)");
  }
  int rc = choose_columns(c, cur->pVtab);
  if( rc ) return rc;
  c->cap = c->model->m.spec.val_batch > 0 ? c->model->m.spec.val_batch : 256;
  int64_t cnt = lf_shape_count(&c->model->m.in);
  c->x = sqlite3_malloc64(sizeof(float) * (sqlite3_uint64)c->cap * (sqlite3_uint64)cnt);
  c->keys = sqlite3_malloc64(sizeof(sqlite3_value*) * (sqlite3_uint64)c->cap * (sqlite3_uint64)(c->nkeys + 1));
  c->pred_at = sqlite3_malloc64(sizeof(int) * ((sqlite3_uint64)c->cap + 1));
  if( !c->x || !c->keys || !c->pred_at ) return SQLITE_NOMEM;
  memset(c->keys, 0, sizeof(sqlite3_value*) * (size_t)c->cap * (size_t)(c->nkeys + 1));
  return next_batch(c, cur->pVtab);
}

static int rows_next(sqlite3_vtab_cursor *cur){
  rows_cursor *c = (rows_cursor*)cur;
  if( ++c->pos < c->nbatch ) return SQLITE_OK;
  return next_batch(c, cur->pVtab);
}

static int rows_eof(sqlite3_vtab_cursor *cur){
  return ((rows_cursor*)cur)->eof;
}

static void append_json_string(sqlite3_str *s, const char *t){
  sqlite3_str_appendchar(s, 1, '"');
  for(const unsigned char *p = (const unsigned char*)t; *p; p++){
    if( *p=='"' || *p=='\\' ) sqlite3_str_appendf(s, "\\%c", *p);
    else if( *p < 0x20 ) sqlite3_str_appendf(s, "\\u%04x", *p);
    else sqlite3_str_appendchar(s, 1, (char)*p);
  }
  sqlite3_str_appendchar(s, 1, '"');
}

/* {"name": value, ...} of the current row's keys; a BLOB as hex text. */
static char *keys_json(rows_cursor *c){
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendchar(s, 1, '{');
  for(int k=0; k<c->nkeys; k++){
    sqlite3_value *v = c->keys[(size_t)c->pos*c->nkeys + k];
    const char *name = sqlite3_column_name(c->st, c->key_cols[k]);
    if( k ) sqlite3_str_appendchar(s, 1, ',');
    append_json_string(s, name ? name : "");
    sqlite3_str_appendchar(s, 1, ':');
    switch( sqlite3_value_type(v) ){
      case SQLITE_INTEGER: sqlite3_str_appendf(s, "%lld", (long long)sqlite3_value_int64(v)); break;
      case SQLITE_FLOAT: {
        double d = sqlite3_value_double(v);
        if( isfinite(d) ) sqlite3_str_appendf(s, "%!.17g", d);
        else sqlite3_str_appendall(s, "null");
        break;
      }
      case SQLITE_TEXT: append_json_string(s, (const char*)sqlite3_value_text(v)); break;
      case SQLITE_BLOB: {
        const unsigned char *b = sqlite3_value_blob(v);
        int nb = sqlite3_value_bytes(v);
        sqlite3_str_appendchar(s, 1, '"');
        for(int i=0; i<nb; i++) sqlite3_str_appendf(s, "%02x", b[i]);
        sqlite3_str_appendchar(s, 1, '"');
        break;
      }
      default: sqlite3_str_appendall(s, "null");
    }
  }
  sqlite3_str_appendchar(s, 1, '}');
  if( sqlite3_str_errcode(s) ){ sqlite3_free(sqlite3_str_finish(s)); return NULL; }
  return sqlite3_str_finish(s);
}

static int rows_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i){
  rows_cursor *c = (rows_cursor*)cur;
  switch( i ){
    case R_KEY:
      if( c->nkeys ) sqlite3_result_value(ctx, c->keys[(size_t)c->pos*c->nkeys]);
      break;
    case R_KEYS: {
      char *k = keys_json(c);
      if( !k ) return SQLITE_NOMEM;
      sqlite3_result_text(ctx, k, -1, sqlite3_free);
      sqlite3_result_subtype(ctx, 'J');
      break;
    }
    case R_PREDICTION:
      sqlite3_result_text(ctx, c->pred + c->pred_at[c->pos], c->pred_at[c->pos + 1] - c->pred_at[c->pos],
                          SQLITE_TRANSIENT);
      sqlite3_result_subtype(ctx, 'J');
      break;
    case R_PPLID:
      sqlite3_result_text(ctx, c->model->pplid, -1, SQLITE_TRANSIENT);
      break;
    case R_SELECT:
      sqlite3_result_text(ctx, sqlite3_sql(c->st), -1, SQLITE_TRANSIENT);
      break;
    case R_EPOCH:
      sqlite3_result_int(ctx, c->model->epoch);
      break;
    case R_MODE:
      sqlite3_result_text(ctx, c->mode==LF_PREDICT_RAW ? "raw" : c->mode==LF_PREDICT_PROBA ? "proba" : "class",
                          -1, SQLITE_STATIC);
      break;
  }
  return SQLITE_OK;
}

static int rows_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *pRowid){
  rows_cursor *c = (rows_cursor*)cur;
  *pRowid = c->row + c->pos + 1;
  return SQLITE_OK;
}

const sqlite3_module lf_predict_rows_module = {
  .iVersion = 0,
  .xCreate = 0,                  /* eponymous only */
  .xConnect = rows_connect,
  .xBestIndex = rows_best_index,
  .xDisconnect = rows_disconnect,
  .xOpen = rows_open,
  .xClose = rows_close,
  .xFilter = rows_filter,
  .xNext = rows_next,
  .xEof = rows_eof,
  .xColumn = rows_column,
  .xRowid = rows_rowid,
};
