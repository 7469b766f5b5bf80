/*
** sweep_funcs.c — hyperparameter search from SQL: ppl_sweep and
** ppl_halving. The work is in core/lf_sweep.c; this file checks arguments
** and hands ppl_halving the training entry point ppl_train uses.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_ext.h"
#include "../core/lf_sweep.h"
#include "../core/lf_train.h"

#define ERRLEN 2048

/* An integer argument within [lo, hi]. */
static int int_arg(sqlite3_context *ctx, const char *fn, sqlite3_value *v, const char *what,
                   sqlite3_int64 lo, sqlite3_int64 hi, sqlite3_int64 *out){
  if( sqlite3_value_type(v) != SQLITE_INTEGER || sqlite3_value_int64(v) < lo || sqlite3_value_int64(v) > hi ){
    lf_errorf(ctx, "%s: %s must be an integer from %lld to %lld, got %s", fn, what, (long long)lo, (long long)hi,
              sqlite3_value_type(v)==SQLITE_INTEGER ? "one out of range" : lf_value_type_name(v));
    return -1;
  }
  *out = sqlite3_value_int64(v);
  return 0;
}

void lf_fn_ppl_sweep(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  lf_sweep_request req;
  memset(&req, 0, sizeof req);
  req.name = lf_arg_text(ctx, argv, 0, "ppl_sweep: name");
  if( !req.name ) return;
  req.base = lf_arg_pplid(ctx, argv, 1, "ppl_sweep");
  if( !req.base ) return;
  req.space_json = lf_arg_json(ctx, argv, 2, "ppl_sweep: space_json");
  if( !req.space_json ) return;
  req.method = "grid";
  if( argc >= 4 && sqlite3_value_type(argv[3]) != SQLITE_NULL ){
    req.method = lf_arg_text(ctx, argv, 3, "ppl_sweep: method");
    if( !req.method ) return;
  }
  int random = strcmp(req.method, "random")==0;
  int has_n = argc >= 5 && sqlite3_value_type(argv[4]) != SQLITE_NULL;
  int has_seed = argc >= 6 && sqlite3_value_type(argv[5]) != SQLITE_NULL;
  if( random ){
    sqlite3_int64 v;
    if( !has_n ){
      lf_errorf(ctx, "ppl_sweep: method 'random' needs n, the number of members to draw: "
                "ppl_sweep(name, base, space, 'random', n [, seed])");
      return;
    }
    if( int_arg(ctx, "ppl_sweep", argv[4], "n", 1, 1000, &v) ) return;
    req.n = (int)v;
    if( has_seed && int_arg(ctx, "ppl_sweep", argv[5], "seed", 0, 9007199254740991LL, &req.seed) ) return;
  }else if( strcmp(req.method, "grid")==0 && (has_n || has_seed) ){
    lf_errorf(ctx, "ppl_sweep: n and seed apply to method 'random'; a grid takes every combination");
    return;
  }
  char err[ERRLEN];
  lf_settings s;
  if( lf_project_settings(db, &s, err, sizeof err) ){ lf_errorf(ctx, "ppl_sweep: %s", err); return; }
  int nmembers = 0, nreused = 0;
  int rc = lf_sweep_create(db, &s, &req, &nmembers, &nreused, err, sizeof err);
  lf_settings_free(&s);
  if( rc ){ lf_errorf(ctx, "ppl_sweep: %s", err); return; }
  /* A connection is logged when it first changes the project. */
  if( !lf_conn_logid(lf_ctx_conn(ctx), db, err, sizeof err) ){
    lf_errorf(ctx, "ppl_sweep: sweep '%s' was created, but %s", req.name, err);
    return;
  }
  sqlite3_result_int(ctx, nmembers);
}

/* What ppl_halving needs to call the trainer for the caller's connection. */
typedef struct halving_ctx {
  sqlite3 *db;
  lf_conn *conn;
} halving_ctx;

/* ppl_train's entry point (as ppl_train_to) with early stopping off
** (patience 0, whatever the strategy says): a rung's budget is fixed, and
** the ranking reads the history up to it. */
static char *train_member(void *arg, const char *pplid, int until_epoch, char *err, size_t n){
  halving_ctx *h = arg;
  lf_train_request req;
  memset(&req, 0, sizeof req);
  req.pplid = pplid;
  req.until_epoch = until_epoch;
  req.patience = 0;
  req.logid = &h->conn->logid;
  return lf_train(h->db, &req, err, n);
}

void lf_fn_ppl_halving(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *name = lf_arg_text(ctx, argv, 0, "ppl_halving: name");
  if( !name ) return;
  sqlite3_int64 lo, hi, eta = 3;
  if( int_arg(ctx, "ppl_halving", argv[1], "min_epochs", 1, 1000000, &lo) ) return;
  if( int_arg(ctx, "ppl_halving", argv[2], "max_epochs", 1, 1000000, &hi) ) return;
  if( argc >= 4 && sqlite3_value_type(argv[3]) != SQLITE_NULL
   && int_arg(ctx, "ppl_halving", argv[3], "eta", 2, 1000, &eta) ) return;
  if( hi < lo ){
    lf_errorf(ctx, "ppl_halving: max_epochs (%lld) is below min_epochs (%lld)", (long long)hi, (long long)lo);
    return;
  }
  char err[ERRLEN];
  lf_settings s;
  if( lf_project_settings(db, &s, err, sizeof err) ){ lf_errorf(ctx, "ppl_halving: %s", err); return; }
  lf_settings_free(&s);
  lf_halving_params p = { .sweep = name, .min_epochs = (int)lo, .max_epochs = (int)hi, .eta = (int)eta };
  halving_ctx h = { .db = db, .conn = lf_ctx_conn(ctx) };
  char *summary = lf_halving_run(db, &p, train_member, &h, err, sizeof err);
  if( !summary ){ lf_errorf(ctx, "ppl_halving: %s", err); return; }
  sqlite3_result_text(ctx, summary, -1, free);
  sqlite3_result_subtype(ctx, 'J');
}
