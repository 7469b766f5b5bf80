/*
** manage_funcs.c — housekeeping of pipelines: ppl_archive, ppl_unarchive,
** ppl_delete, ppl_clean, ppl_transfer, ppl_sync, ppl_plot.
**
** Argument checking and results only; the work is in core/lf_archive.c,
** lf_transfer.c, lf_sync.c and lf_plot.c.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_ext.h"
#include "../core/lf_archive.h"
#include "../core/lf_plot.h"
#include "../core/lf_sync.h"
#include "../core/lf_transfer.h"

#define ERRLEN 2048

/* The ppls argument: a pplid or a JSON array of them. allow_null: NULL
** means "all" and leaves *out empty with *is_all = 1. */
static int arg_ppls(sqlite3_context *ctx, sqlite3_value **argv, int i, const char *fn,
                    int allow_null, lf_pplist *out, int *is_all){
  memset(out, 0, sizeof *out);
  if( is_all ) *is_all = 0;
  int t = sqlite3_value_type(argv[i]);
  if( t==SQLITE_NULL && allow_null ){
    *is_all = 1;
    return 0;
  }
  if( t != SQLITE_TEXT && t != SQLITE_BLOB ){
    lf_errorf(ctx, "%s: ppls must be a pplid or a JSON array of pplids%s", fn,
              allow_null ? " (or NULL for all)" : "");
    return -1;
  }
  char err[ERRLEN], what[64];
  snprintf(what, sizeof what, "%s: ppls", fn);
  const char *text = lf_arg_json(ctx, argv, i, what);
  if( !text ) return -1;
  if( lf_pplist_parse(text, out, err, sizeof err) ){
    lf_errorf(ctx, "%s: %s", fn, err);
    return -1;
  }
  return 0;
}

static void archive(sqlite3_context *ctx, const char *fn, sqlite3_value **argv, int reverse){
  lf_pplist ids;
  if( arg_ppls(ctx, argv, 0, fn, 0, &ids, NULL) ) return;
  char err[ERRLEN];
  int k = lf_archive(sqlite3_context_db_handle(ctx), &ids, reverse, err, sizeof err);
  lf_pplist_free(&ids);
  if( k < 0 ) lf_errorf(ctx, "%s: %s", fn, err);
  else sqlite3_result_int(ctx, k);
}

void lf_fn_ppl_archive(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  int reverse;
  if( lf_arg_flag(ctx, argv, argc, 1, "ppl_archive", "reverse", &reverse) ) return;
  archive(ctx, "ppl_archive", argv, reverse);
}

void lf_fn_ppl_unarchive(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  archive(ctx, "ppl_unarchive", argv, 1);
}

void lf_fn_ppl_delete(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  lf_pplist ids;
  if( arg_ppls(ctx, argv, 0, "ppl_delete", 0, &ids, NULL) ) return;
  char err[ERRLEN];
  int k = lf_delete_archived(sqlite3_context_db_handle(ctx), &ids, err, sizeof err);
  lf_pplist_free(&ids);
  if( k < 0 ) lf_errorf(ctx, "ppl_delete: %s", err);
  else sqlite3_result_int(ctx, k);
}

void lf_fn_ppl_clean(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *keep = "best,last";
  if( argc > 1 ){
    keep = lf_arg_text(ctx, argv, 1, "ppl_clean: keep");
    if( !keep ) return;
  }
  lf_pplist ids;
  if( arg_ppls(ctx, argv, 0, "ppl_clean", 0, &ids, NULL) ) return;
  char err[ERRLEN];
  sqlite3_int64 freed = lf_clean(sqlite3_context_db_handle(ctx), &ids, keep, err, sizeof err);
  lf_pplist_free(&ids);
  if( freed < 0 ) lf_errorf(ctx, "ppl_clean: %s", err);
  else sqlite3_result_int64(ctx, freed);
}

void lf_fn_ppl_transfer(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *fn = "ppl_transfer";
  const char *dir = lf_arg_text(ctx, argv, 1, "ppl_transfer: direction");
  if( !dir ) return;
  const char *mode = lf_arg_text(ctx, argv, 2, "ppl_transfer: mode");
  if( !mode ) return;
  int is_export = strcmp(dir, "export")==0;
  if( !is_export && strcmp(dir, "import") != 0 ){
    lf_errorf(ctx, "%s: direction must be 'export' or 'import', not '%.40s'", fn, dir);
    return;
  }
  int move = strcmp(mode, "move")==0;
  if( !move && strcmp(mode, "copy") != 0 ){
    lf_errorf(ctx, "%s: mode must be 'copy' or 'move', not '%.40s'", fn, mode);
    return;
  }
  const char *bundle = NULL, *remap = NULL;
  if( argc > 3 && sqlite3_value_type(argv[3]) != SQLITE_NULL ){
    bundle = lf_arg_text(ctx, argv, 3, "ppl_transfer: bundle_path");
    if( !bundle ) return;
    if( !bundle[0] ){ lf_errorf(ctx, "%s: bundle_path is empty", fn); return; }
  }
  if( argc > 4 && sqlite3_value_type(argv[4]) != SQLITE_NULL ){
    if( is_export ){ lf_errorf(ctx, "%s: remapping data paths applies to 'import' only", fn); return; }
    remap = lf_arg_json(ctx, argv, 4, "ppl_transfer: remap");
    if( !remap ) return;
  }
  lf_pplist ids;
  int all;
  if( arg_ppls(ctx, argv, 0, fn, 1, &ids, &all) ) return;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  char err[ERRLEN];
  int k = is_export ? lf_transfer_export(db, all ? NULL : &ids, move, bundle, NULL, err, sizeof err)
                    : lf_transfer_import(db, all ? NULL : &ids, move, bundle, remap, err, sizeof err);
  lf_pplist_free(&ids);
  if( k < 0 ){ lf_errorf(ctx, "%s: %s", fn, err); return; }
  /* Importing creates pipelines: the connection is logged as ppl_new does. */
  if( !is_export && k > 0 && !lf_conn_logid(lf_ctx_conn(ctx), db, err, sizeof err) ){
    lf_errorf(ctx, "%s: %d pipelines were imported, but %s", fn, k, err);
    return;
  }
  sqlite3_result_int(ctx, k);
}

void lf_fn_ppl_sync(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  const char *pplid = lf_arg_pplid(ctx, argv, 0, "ppl_sync");
  if( !pplid ) return;
  char err[ERRLEN];
  char *path = lf_sync(sqlite3_context_db_handle(ctx), pplid, err, sizeof err);
  if( !path ) lf_errorf(ctx, "ppl_sync: %s", err);
  else sqlite3_result_text(ctx, path, -1, free);
}

void lf_fn_ppl_plot(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *fn = "ppl_plot";
  const char *metrics = NULL, *x = "epoch";
  if( sqlite3_value_type(argv[1]) != SQLITE_NULL ){
    metrics = lf_arg_json(ctx, argv, 1, "ppl_plot: metrics");
    if( !metrics ) return;
  }
  const char *out = lf_arg_text(ctx, argv, 2, "ppl_plot: out_path");
  if( !out ) return;
  if( !out[0] ){ lf_errorf(ctx, "%s: out_path is empty", fn); return; }
  if( argc > 3 && sqlite3_value_type(argv[3]) != SQLITE_NULL ){
    x = lf_arg_text(ctx, argv, 3, "ppl_plot: x");
    if( !x ) return;
  }
  const char *options = NULL;
  if( argc > 4 && sqlite3_value_type(argv[4]) != SQLITE_NULL ){
    options = lf_arg_json(ctx, argv, 4, "ppl_plot: options");
    if( !options ) return;
  }
  lf_pplist ids;
  int all;
  if( arg_ppls(ctx, argv, 0, fn, 1, &ids, &all) ) return;
  char err[ERRLEN];
  char *files = lf_plot(sqlite3_context_db_handle(ctx), all ? NULL : &ids, metrics, out, x, options,
                        err, sizeof err);
  lf_pplist_free(&ids);
  if( !files ){ lf_errorf(ctx, "%s: %s", fn, err); return; }
  sqlite3_result_text(ctx, files, -1, free);
  sqlite3_result_subtype(ctx, 'J');
}
