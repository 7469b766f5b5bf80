/*
** ppl_funcs.c — creating and looking up pipelines: ppl_new, ppl_fork,
** ppl_verify, ppl_find, ppl_config, ppl_path.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_ext.h"
#include "../core/lf_canon.h"
#include "../core/lf_json_patch.h"
#include "../core/lf_ppl.h"
#include "../core/lf_txn.h"

#define ERRLEN 1024

/* Checks config_text and inserts it as pplid; base/patch for forks. */
static void create_pipeline(sqlite3_context *ctx, const char *fn, const char *pplid,
                            const char *config_text, const char *base, const char *patch){
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  char err[ERRLEN], hash[65];
  char *canon = NULL;
  lf_settings s;
  if( lf_project_settings(db, &s, err, sizeof err) ){
    lf_errorf(ctx, "%s: %s", fn, err);
    return;
  }
  if( lf_ppl_rehash_once(db, err, sizeof err) ){
    lf_errorf(ctx, "%s: %s", fn, err);
    goto done;
  }
  /* Cheap refusals first, so a duplicate id does not cost a data probe. */
  int ex = lf_ppl_exists(db, pplid, err, sizeof err);
  if( ex ){
    if( ex > 0 ) lf_errorf(ctx, "%s: pipeline '%s' already exists", fn, pplid);
    else lf_errorf(ctx, "%s: %s", fn, err);
    goto done;
  }
  if( lf_ppl_archived_refuse(db, pplid, err, sizeof err) ){
    lf_errorf(ctx, "%s: %s", fn, err);
    goto done;
  }
  if( lf_ppl_check_config(db, &s, config_text, &canon, hash, err, sizeof err) ){
    lf_errorf(ctx, "%s: %s", fn, err);
    goto done;
  }
  /* The rows and this connection's lab_logs row in one write transaction
  ** that waits for a trainer's commit instead of failing (lf_txn.h). */
  int txn = lf_txn_begin(db, err, sizeof err);
  if( txn < 0 ){
    lf_errorf(ctx, "%s: %s", fn, err);
    goto done;
  }
  if( lf_ppl_insert(db, pplid, canon, hash, base, patch, err, sizeof err) ){
    lf_txn_rollback(db, txn);
    lf_errorf(ctx, "%s: %s", fn, err);
    goto done;
  }
  /* A connection is logged when it first changes the project. */
  lf_conn *c = lf_ctx_conn(ctx);
  if( !lf_conn_logid(c, db, err, sizeof err) || lf_txn_commit(db, txn, err, sizeof err) ){
    lf_txn_rollback(db, txn);
    lf_errorf(ctx, "%s: %s", fn, err);
    goto done;
  }
  sqlite3_result_text(ctx, pplid, -1, SQLITE_TRANSIENT);
done:
  free(canon);
  lf_settings_free(&s);
}

void lf_fn_ppl_new(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  const char *pplid = lf_arg_pplid(ctx, argv, 0, "ppl_new");
  if( !pplid ) return;
  const char *cfg = lf_arg_json(ctx, argv, 1, "ppl_new: config_json");
  if( !cfg ) return;
  create_pipeline(ctx, "ppl_new", pplid, cfg, NULL, NULL);
}

void lf_fn_ppl_fork(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *pplid = lf_arg_pplid(ctx, argv, 0, "ppl_fork");
  if( !pplid ) return;
  const char *base = lf_arg_pplid(ctx, argv, 1, "ppl_fork");
  if( !base ) return;
  const char *patch_text = lf_arg_json(ctx, argv, 2, "ppl_fork: patch_json");
  if( !patch_text ) return;
  char err[ERRLEN];
  cJSON *patch = lf_json_parse_object(patch_text, "patch_json", err, sizeof err);
  if( !patch ){ lf_errorf(ctx, "ppl_fork: %s", err); return; }
  char *base_cfg_text = lf_ppl_config(db, base, err, sizeof err);
  if( !base_cfg_text ){
    cJSON_Delete(patch);
    lf_errorf(ctx, "ppl_fork: base %s", err);
    return;
  }
  cJSON *base_cfg = cJSON_Parse(base_cfg_text);
  free(base_cfg_text);
  cJSON *merged = base_cfg ? lf_json_merge_patch(base_cfg, patch) : NULL;
  char *merged_text = merged ? cJSON_PrintUnformatted(merged) : NULL;
  char *patch_canon = lf_canon_json(patch);
  if( merged_text && patch_canon ){
    create_pipeline(ctx, "ppl_fork", pplid, merged_text, base, patch_canon);
  }else{
    sqlite3_result_error_nomem(ctx);
  }
  free(patch_canon);
  free(merged_text);
  cJSON_Delete(merged);
  cJSON_Delete(base_cfg);
  cJSON_Delete(patch);
}

void lf_fn_ppl_verify(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *pplid = lf_arg_text(ctx, argv, 0, "ppl_verify: pplid");
  if( !pplid ) return;
  char err[ERRLEN];
  lf_settings s;
  if( lf_project_settings(db, &s, err, sizeof err) ){ lf_errorf(ctx, "ppl_verify: %s", err); return; }
  lf_settings_free(&s);
  int ex = lf_ppl_exists(db, pplid, err, sizeof err);
  if( ex < 0 ){ lf_errorf(ctx, "ppl_verify: %s", err); return; }
  if( ex ) sqlite3_result_value(ctx, argv[0]);
  else sqlite3_result_null(ctx);
}

void lf_fn_ppl_find(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *text = lf_arg_json(ctx, argv, 0, "ppl_find: config_json");
  if( !text ) return;
  char err[ERRLEN], hash[65];
  lf_settings s;
  if( lf_project_settings(db, &s, err, sizeof err) ){ lf_errorf(ctx, "ppl_find: %s", err); return; }
  lf_settings_free(&s);
  cJSON *cfg = lf_json_parse_object(text, "config_json", err, sizeof err);
  if( !cfg ){ lf_errorf(ctx, "ppl_find: %s", err); return; }
  int rc = lf_config_identity_hash(cfg, hash);
  cJSON_Delete(cfg);
  if( rc ){ sqlite3_result_error_nomem(ctx); return; }
  char *pplid = lf_ppl_by_hash(db, hash, err, sizeof err);
  if( pplid ) sqlite3_result_text(ctx, pplid, -1, free);
  else if( err[0] ) lf_errorf(ctx, "ppl_find: %s", err);
  else sqlite3_result_null(ctx);
}

void lf_fn_ppl_config(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *pplid = lf_arg_pplid(ctx, argv, 0, "ppl_config");
  if( !pplid ) return;
  char err[ERRLEN];
  char *cfg = lf_ppl_config(db, pplid, err, sizeof err);
  if( !cfg ){ lf_errorf(ctx, "ppl_config: %s", err); return; }
  sqlite3_result_text(ctx, cfg, -1, free);
  sqlite3_result_subtype(ctx, 'J');
}

void lf_fn_ppl_path(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *of = lf_arg_text(ctx, argv, 0, "ppl_path: of");
  if( !of ) return;
  const char *pplid = lf_arg_pplid(ctx, argv, 1, "ppl_path");
  if( !pplid ) return;
  char err[ERRLEN];
  lf_settings s;
  if( lf_project_settings(db, &s, err, sizeof err) ){ lf_errorf(ctx, "ppl_path: %s", err); return; }
  char *art = lf_project_artifacts(db, &s, err, sizeof err);
  lf_settings_free(&s);
  if( !art ){ lf_errorf(ctx, "ppl_path: %s", err); return; }
  char *path = NULL;
  int epoch = 0;
  if( lf_ppl_require(db, pplid, err, sizeof err) ){
    lf_errorf(ctx, "ppl_path: %s", err);
    goto done;
  }
  int wants_epoch = strcmp(of, "weight")==0 || strcmp(of, "gradient")==0;
  if( argc==3 && !wants_epoch ){
    lf_errorf(ctx, "ppl_path: epoch applies only to 'weight' and 'gradient', not '%.40s'", of);
    goto done;
  }
  if( wants_epoch ){
    int last, best;
    if( lf_ppl_epochs(db, pplid, &last, &best, err, sizeof err) ){ lf_errorf(ctx, "ppl_path: %s", err); goto done; }
    const char *which = "best";
    if( argc==3 && sqlite3_value_type(argv[2])==SQLITE_INTEGER ){
      sqlite3_int64 e = sqlite3_value_int64(argv[2]);
      if( e < 1 || e > 1000000 ){ lf_errorf(ctx, "ppl_path: epoch must be >= 1, 'best' or 'last'"); goto done; }
      epoch = (int)e;
      which = NULL;
    }else if( argc==3 ){
      which = sqlite3_value_type(argv[2])==SQLITE_TEXT ? (const char*)sqlite3_value_text(argv[2]) : "";
      if( strcmp(which, "best")!=0 && strcmp(which, "last")!=0 ){
        lf_errorf(ctx, "ppl_path: epoch must be an integer >= 1, 'best' or 'last'");
        goto done;
      }
    }else if( strcmp(of, "gradient")==0 ){
      lf_errorf(ctx, "ppl_path: 'gradient' needs an epoch");
      goto done;
    }
    if( which ){
      epoch = strcmp(which, "best")==0 ? best : last;
      if( epoch < 1 ){
        lf_errorf(ctx, "ppl_path: pipeline '%s' has no %s epoch yet (train it first)", pplid, which);
        goto done;
      }
    }
  }
  path = lf_ppl_path(art, of, pplid, epoch, err, sizeof err);
  if( !path ) lf_errorf(ctx, "ppl_path: %s", err);
  else sqlite3_result_text(ctx, path, -1, free);
done:
  free(art);
}
