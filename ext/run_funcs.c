/*
** run_funcs.c — training and using pipelines: ppl_train, ppl_stop,
** ppl_is_running, ppl_predict (on the connection's model cache),
** ppl_predict_cache, ppl_evaluate.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lf_ext.h"
#include "lf_guard.h"
#include "../core/lf_claim.h"
#include "../core/lf_ppl.h"
#include "../core/lf_project.h"
#include "../core/lf_predict.h"
#include "../core/lf_infer.h"
#include "../core/lf_train.h"
#include "../core/lf_txn.h"

#define ERRLEN 2048

/* The pipeline must exist in an initialised project. */
static int require_pipeline(sqlite3_context *ctx, const char *fn, const char *pplid){
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  char err[ERRLEN];
  lf_settings s;
  if( lf_project_settings(db, &s, err, sizeof err) ){ lf_errorf(ctx, "%s: %s", fn, err); return -1; }
  lf_settings_free(&s);
  if( lf_ppl_require(db, pplid, err, sizeof err) ){ lf_errorf(ctx, "%s: %s", fn, err); return -1; }
  return 0;
}

void lf_fn_ppl_is_running(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  const char *pplid = lf_arg_pplid(ctx, argv, 0, "ppl_is_running");
  if( !pplid || require_pipeline(ctx, "ppl_is_running", pplid) ) return;
  char err[ERRLEN];
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  /* It may clear a dead trainer's claim: a write that waits (lf_txn.h). */
  int txn = lf_txn_begin(db, err, sizeof err);
  sqlite3_int64 logid = txn < 0 ? -1 : lf_claim_running(db, pplid, err, sizeof err);
  if( txn > 0 ){
    if( logid < 0 ) lf_txn_rollback(db, txn);
    else if( lf_txn_commit(db, txn, err, sizeof err) ) logid = -1;
  }
  if( logid < 0 ) lf_errorf(ctx, "ppl_is_running: %s", err);
  else if( logid==0 ) sqlite3_result_null(ctx);
  else sqlite3_result_int64(ctx, logid);
}

void lf_fn_ppl_stop(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  const char *pplid = lf_arg_pplid(ctx, argv, 0, "ppl_stop");
  if( !pplid || require_pipeline(ctx, "ppl_stop", pplid) ) return;
  char err[ERRLEN];
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  /* The request waits for a trainer's epoch commit instead of being lost
  ** to SQLITE_BUSY (lf_txn.h). */
  int txn = lf_txn_begin(db, err, sizeof err);
  int r = txn < 0 ? -1 : lf_claim_request_stop(db, pplid, err, sizeof err);
  if( txn > 0 ){
    if( r < 0 ) lf_txn_rollback(db, txn);
    else if( lf_txn_commit(db, txn, err, sizeof err) ) r = -1;
  }
  /* Then waits (up to LF_TXN_WAIT_SECONDS; Ctrl-C ends the wait) until
  ** the trainer has stopped, so that the call after it (ppl_archive, the
  ** advice "stop it with ppl_stop(...) first") finds it stopped. Only with
  ** no transaction or snapshot held: one would keep the trainer from
  ** committing, or show a claim it has released. */
  if( r==1 && txn==LF_TXN_TOP && sqlite3_txn_state(db, "main")==SQLITE_TXN_NONE ){
    double t0 = lf_now_unix();
    char e2[ERRLEN];
    while( lf_now_unix() - t0 < LF_TXN_WAIT_SECONDS ){
      int t = lf_txn_begin(db, e2, sizeof e2);
      sqlite3_int64 logid = t < 0 ? -1 : lf_claim_running(db, pplid, e2, sizeof e2);
      if( t > 0 ){
        if( logid < 0 ) lf_txn_rollback(db, t);
        else if( lf_txn_commit(db, t, e2, sizeof e2) ) logid = -1;
      }
      if( logid <= 0 ) break;   /* stopped, or unreadable: the request stands */
      lf_txn_pause();
    }
  }
  if( r < 0 ) lf_errorf(ctx, "ppl_stop: %s", err);
  else sqlite3_result_int(ctx, r);
}

/* verbose: NULL or 1 (everything), 0 (nothing), a quantity name or a JSON
** list of names (lf_progress.h). */
static int parse_verbose(sqlite3_context *ctx, sqlite3_value *v, char ***names, int *n, int *quiet){
  *names = NULL;
  *n = 0;
  if( sqlite3_value_type(v)==SQLITE_NULL ) return 0;
  if( sqlite3_value_type(v)==SQLITE_INTEGER && (sqlite3_value_int64(v)==0 || sqlite3_value_int64(v)==1) ){
    *quiet = sqlite3_value_int64(v)==0;
    return 0;
  }
  if( sqlite3_value_type(v) != SQLITE_TEXT && sqlite3_value_type(v) != SQLITE_BLOB ){
    lf_errorf(ctx, "ppl_train: verbose must be 0 (no progress), 1 (all), a metric name or a JSON list of them");
    return -1;
  }
  const char *t = lf_arg_json(ctx, &v, 0, "ppl_train: verbose");
  if( !t ) return -1;
  cJSON *a = t[0]=='[' ? cJSON_Parse(t) : NULL;
  if( t[0]=='[' && (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > 32) ){
    cJSON_Delete(a);
    lf_errorf(ctx, "ppl_train: verbose must be a metric name or a JSON list of up to 32 names");
    return -1;
  }
  int k = a ? cJSON_GetArraySize(a) : 1;
  *names = calloc((size_t)(k ? k : 1), sizeof(char*));
  if( !*names ){ cJSON_Delete(a); sqlite3_result_error_nomem(ctx); return -1; }
  for(int i=0; i<k; i++){
    const cJSON *e = a ? cJSON_GetArrayItem(a, i) : NULL;
    const char *s = a ? (cJSON_IsString(e) ? e->valuestring : NULL) : t;
    if( !s ){
      cJSON_Delete(a);
      lf_errorf(ctx, "ppl_train: verbose[%d] must be a metric name", i);
      for(int j=0; j<*n; j++) free((*names)[j]);
      free(*names);
      *names = NULL;
      *n = 0;
      return -1;
    }
    (*names)[i] = strdup(s);
    *n = i + 1;
  }
  cJSON_Delete(a);
  return 0;
}

/* An integer argument within [lo, hi]; NULL gives dflt. */
static int int_arg(sqlite3_context *ctx, const char *fn, sqlite3_value *v, const char *what,
                   int lo, int hi, int dflt, int *out){
  if( sqlite3_value_type(v)==SQLITE_NULL ){ *out = dflt; return 0; }
  if( sqlite3_value_type(v) != SQLITE_INTEGER || sqlite3_value_int64(v) < lo || sqlite3_value_int64(v) > hi ){
    lf_errorf(ctx, "%s: %s must be an integer from %d to %d%s", fn, what, lo, hi,
              strcmp(what, "patience")==0 ? " (0: no early stopping; NULL: the strategy's)" : "");
    return -1;
  }
  *out = (int)sqlite3_value_int64(v);
  return 0;
}

/* ppl_train(pplid, epochs, ...) and ppl_train_to(pplid, last_epoch, ...):
** the second argument counts more epochs, or names the epoch to reach. */
static void train_call(sqlite3_context *ctx, const char *fn, int until, int argc, sqlite3_value **argv){
  const char *pplid = lf_arg_pplid(ctx, argv, 0, fn);
  if( !pplid || require_pipeline(ctx, fn, pplid) ) return;
  lf_train_request req;
  memset(&req, 0, sizeof req);
  req.pplid = pplid;
  req.epochs = 5;
  req.patience = -1;
  if( until ){
    if( sqlite3_value_type(argv[1])==SQLITE_NULL ){
      lf_errorf(ctx, "%s: last_epoch must be an integer from 0 to 1000000, got NULL", fn);
      return;
    }
    if( int_arg(ctx, fn, argv[1], "last_epoch", 0, 1000000, 0, &req.until_epoch) ) return;
    req.epochs = 0;   /* until_epoch 0: already there */
  }else if( argc >= 2 && int_arg(ctx, fn, argv[1], "epochs", 0, 1000000, 5, &req.epochs) ) return;
  if( argc >= 3 && int_arg(ctx, fn, argv[2], "patience", 0, 1000000, -1, &req.patience) ) return;
  if( argc >= 4 && parse_verbose(ctx, argv[3], &req.verbose, &req.nverbose, &req.quiet) ) return;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  if( sqlite3_txn_state(db, "main")==SQLITE_TXN_WRITE && lf_guard_create_busy(db) ){
    lf_errorf(ctx, "%s: cannot train inside CREATE TABLE ... AS SELECT on the project's database: that "
              "statement holds the database's write lock until it ends, and the trainer commits each epoch "
              "through its own connection, so it would wait for it. Create a TEMP table instead "
              "(CREATE TEMP TABLE t AS SELECT pplid, %s(pplid, ...) FROM ppls) or use "
              "SELECT * FROM ppl_train_each(...)", fn, fn);
    for(int i=0; i<req.nverbose; i++) free(req.verbose[i]);
    free(req.verbose);
    return;
  }
  req.logid = &lf_ctx_conn(ctx)->logid;
  char err[ERRLEN];
  err[0] = 0;
  char *summary = lf_train(sqlite3_context_db_handle(ctx), &req, err, sizeof err);
  for(int i=0; i<req.nverbose; i++) free(req.verbose[i]);
  free(req.verbose);
  if( !summary ){ lf_errorf(ctx, "%s: %s", fn, err); return; }
  sqlite3_result_text(ctx, summary, -1, free);
  sqlite3_result_subtype(ctx, 'J');
}

void lf_fn_ppl_train(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  train_call(ctx, "ppl_train", 0, argc, argv);
}

void lf_fn_ppl_train_to(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  train_call(ctx, "ppl_train_to", 1, argc, argv);
}

/* 'best', 'last' or an epoch number, as text for the core. */
static int epoch_arg(sqlite3_context *ctx, const char *fn, sqlite3_value *v, char *buf, size_t n){
  if( sqlite3_value_type(v)==SQLITE_INTEGER ){
    snprintf(buf, n, "%lld", (long long)sqlite3_value_int64(v));
    return 0;
  }
  if( sqlite3_value_type(v)==SQLITE_TEXT ){
    snprintf(buf, n, "%s", (const char*)sqlite3_value_text(v));
    return 0;
  }
  lf_errorf(ctx, "%s: epoch must be 'best', 'last' or an epoch number", fn);
  return -1;
}

void lf_fn_ppl_predict(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *pplid = lf_arg_pplid(ctx, argv, 0, "ppl_predict");
  if( !pplid ) return;
  char which[64] = "best";
  if( argc >= 3 && epoch_arg(ctx, "ppl_predict", argv[2], which, sizeof which) ) return;
  lf_predict_mode mode = LF_PREDICT_RAW;
  if( argc >= 4 ){
    const char *m = lf_arg_text(ctx, argv, 3, "ppl_predict: mode");
    if( !m ) return;
    if( lf_predict_mode_parse(m, &mode) ){
      lf_errorf(ctx, "ppl_predict: mode must be 'raw', 'proba' or 'class', got '%.40s'", m);
      return;
    }
  }
  const char *json = NULL;
  const void *blob = NULL;
  int blob_len = 0;
  if( sqlite3_value_type(argv[1])==SQLITE_BLOB ){
    blob = sqlite3_value_blob(argv[1]);
    blob_len = sqlite3_value_bytes(argv[1]);
  }else if( sqlite3_value_type(argv[1])==SQLITE_TEXT ){
    json = (const char*)sqlite3_value_text(argv[1]);
  }else{
    lf_errorf(ctx, "ppl_predict: input must be a JSON array or object (one sample or a list of samples) "
              "or a BLOB of uint8 or float32");
    return;
  }
  lf_model_cache *models = lf_conn_models(lf_ctx_conn(ctx));
  if( !models ){ sqlite3_result_error_nomem(ctx); return; }
  char err[ERRLEN];
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  /* The statement's stamp for the model cache: auxiliary data of the pplid
  ** argument, which SQLite keeps across the rows of one statement while
  ** that argument is a constant, and drops when the statement ends. */
  uint64_t *stamp = sqlite3_get_auxdata(ctx, 0);
  if( !stamp && (stamp = sqlite3_malloc(sizeof *stamp)) != NULL ){
    *stamp = 0;
    sqlite3_set_auxdata(ctx, 0, stamp, sqlite3_free);
    stamp = sqlite3_get_auxdata(ctx, 0);   /* NULL if SQLite dropped it at once */
  }
  /* The cache answers without SQL while nothing changed; on a failure,
  ** "no such pipeline" is said the way every other function says it. */
  char *out = lf_predict(models, db, pplid, which, json, blob, blob_len, mode, stamp, err, sizeof err);
  if( !out ){
    if( require_pipeline(ctx, "ppl_predict", pplid)==0 ) lf_errorf(ctx, "ppl_predict: %s", err);
    return;
  }
  sqlite3_result_text(ctx, out, -1, sqlite3_free);
  sqlite3_result_subtype(ctx, 'J');
}

/* ppl_predict_cache([max_mb]): the connection's model cache, its bound
** changed first when max_mb is given. */
void lf_fn_ppl_predict_cache(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  lf_model_cache *models = lf_conn_models(lf_ctx_conn(ctx));
  if( !models ){ sqlite3_result_error_nomem(ctx); return; }
  if( argc >= 1 ){
    int t = sqlite3_value_type(argv[0]);
    double mb = sqlite3_value_double(argv[0]);
    if( (t != SQLITE_INTEGER && t != SQLITE_FLOAT) || !(mb >= 0 && mb <= 1048576) ){
      lf_errorf(ctx, "ppl_predict_cache: max_mb must be a number of megabytes from 0 (keep no model "
                "between calls) to 1048576, e.g. ppl_predict_cache(512)");
      return;
    }
    lf_model_cache_set_limit(models, (int64_t)(mb * 1048576.0));
  }
  char *stats = lf_model_cache_stats(models);
  if( !stats ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, stats, -1, free);
  sqlite3_result_subtype(ctx, 'J');
}

void lf_fn_ppl_evaluate(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *pplid = lf_arg_pplid(ctx, argv, 0, "ppl_evaluate");
  if( !pplid || require_pipeline(ctx, "ppl_evaluate", pplid) ) return;
  const char *src = lf_arg_text(ctx, argv, 1, "ppl_evaluate: data_src");
  if( !src ) return;
  char which[64] = "best";
  if( argc >= 3 && epoch_arg(ctx, "ppl_evaluate", argv[2], which, sizeof which) ) return;
  char err[ERRLEN];
  char *out = lf_evaluate(sqlite3_context_db_handle(ctx), pplid, src, which, err, sizeof err);
  if( !out ){ lf_errorf(ctx, "ppl_evaluate: %s", err); return; }
  sqlite3_result_text(ctx, out, -1, free);
  sqlite3_result_subtype(ctx, 'J');
}
