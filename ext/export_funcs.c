/*
** export_funcs.c — ppl_export(pplid, path [, epoch [, options]]): the
** pipeline's network as an ONNX file (core/lf_export.c).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_ext.h"
#include "../core/lf_export.h"
#include "../core/lf_ppl.h"

#define ERRLEN 2048

/* labflow_version(), for the file's metadata. */
static char *labflow_version(sqlite3 *db){
  sqlite3_stmt *st = NULL;
  char *v = NULL;
  if( sqlite3_prepare_v2(db, "SELECT labflow_version()", -1, &st, NULL)==SQLITE_OK
   && sqlite3_step(st)==SQLITE_ROW && sqlite3_column_text(st, 0) ){
    v = strdup((const char*)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  return v;
}

void lf_fn_ppl_export(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *fn = "ppl_export";
  const char *pplid = lf_arg_pplid(ctx, argv, 0, fn);
  if( !pplid ) return;
  const char *path = lf_arg_text(ctx, argv, 1, "ppl_export: path");
  if( !path ) return;
  char which[64] = "best";
  if( argc >= 3 && sqlite3_value_type(argv[2]) != SQLITE_NULL ){
    if( sqlite3_value_type(argv[2])==SQLITE_INTEGER ){
      snprintf(which, sizeof which, "%lld", (long long)sqlite3_value_int64(argv[2]));
    }else if( sqlite3_value_type(argv[2])==SQLITE_TEXT ){
      snprintf(which, sizeof which, "%s", (const char*)sqlite3_value_text(argv[2]));
    }else{
      lf_errorf(ctx, "%s: epoch must be 'best', 'last' or an epoch number", fn);
      return;
    }
  }
  const char *options = NULL;
  if( argc >= 4 && sqlite3_value_type(argv[3]) != SQLITE_NULL ){
    options = lf_arg_json(ctx, argv, 3, "ppl_export: options");
    if( !options ) return;
  }
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  char *version = labflow_version(db);
  if( !version ){ sqlite3_result_error_nomem(ctx); return; }
  char err[ERRLEN];
  char *out = lf_export_onnx(db, pplid, path, which, options, version, err, sizeof err);
  free(version);
  if( !out ){ lf_errorf(ctx, "%s: %s", fn, err); return; }
  sqlite3_result_text(ctx, out, -1, free);
  sqlite3_result_subtype(ctx, 'J');
}
