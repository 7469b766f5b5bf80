/*
** lab_funcs.c — lab_init() and lab_settings(): the project as a whole.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_ext.h"
#include "../core/lf_project.h"
#include "../core/lf_settings_patch.h"
#include "lf_vtab.h"

void lf_fn_lab_init(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *json = lf_arg_json(ctx, argv, 0, "lab_init: settings_json");
  if( !json ) return;
  char err[1024];
  lf_settings check;
  if( lf_settings_parse(json, &check, err, sizeof err) ){
    lf_errorf(ctx, "lab_init: %s", err);
    return;
  }
  lf_settings_free(&check);
  /* Training writes through a second connection while the caller reads,
  ** which needs WAL. Switching is only possible outside a transaction. */
  if( lf_project_use_wal(db, 1, err, sizeof err) ){
    lf_errorf(ctx, "lab_init: %s", err);
    return;
  }
  int created = 0;
  char *artifacts = lf_project_init(db, json, &created, err, sizeof err);
  if( !artifacts ){
    lf_errorf(ctx, "lab_init: %s", err);
    return;
  }
  lf_conn *c = lf_ctx_conn(ctx);
  /* A connection is logged when it first changes the project. */
  if( created && !lf_conn_logid(c, db, err, sizeof err) ){
    free(artifacts);
    lf_errorf(ctx, "lab_init: %s", err);
    return;
  }
  sqlite3_result_text(ctx, artifacts, -1, free);
}

void lf_fn_lab_settings(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; (void)argv;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  lf_settings s;
  char err[512];
  if( lf_project_settings(db, &s, err, sizeof err) ){
    lf_errorf(ctx, "lab_settings: %s", err);
    return;
  }
  char *json = lf_settings_json(&s);
  lf_settings_free(&s);
  if( !json ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, json, -1, free);
}

void lf_fn_lab_settings_patch(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *patch = lf_arg_json(ctx, argv, 0, "lab_settings: patch_json");
  if( !patch ) return;
  char err[2048];
  char *json = lf_settings_patch(db, patch, err, sizeof err);
  if( !json ){ lf_errorf(ctx, "lab_settings: %s", err); return; }
  /* A connection is logged when it first changes the project. */
  lf_conn *c = lf_ctx_conn(ctx);
  if( !lf_conn_logid(c, db, err, sizeof err) ){
    free(json);
    lf_errorf(ctx, "lab_settings: the settings changed, but %s", err);
    return;
  }
  /* This connection's next statement sees added metric columns. */
  lf_vt_refresh_metric_tables(db);
  sqlite3_result_text(ctx, json, -1, free);
  sqlite3_result_subtype(ctx, 'J');
}
