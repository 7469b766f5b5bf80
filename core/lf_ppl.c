/*
** lf_ppl.c — the pipeline store.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_ppl.h"
#include "lf_db.h"
#include "lf_txn.h"
#include "lf_canon.h"
#include "lf_dataset.h"
#include "lf_data_fit.h"
#include "../kernels/lf_layer.h"
#include "lf_graph.h"
#include "lf_model.h"
#include "lf_plugin.h"
#include "lf_ppl_plugins.h"

/* 1e9 f32 parameters is 4 GB of weights (16 GB with Adam's state). */
#define LF_MAX_PARAMS 1e9
#define LF_MAX_ACTIVATIONS 1e8


int lf_ppl_check_spec(sqlite3 *db, const lf_settings *s, const cJSON *cfg,
                      lf_pipeline_spec *spec, lf_shape *in_out, lf_shape *out_out,
                      char *err, size_t n){
  if( lf_config_parse(cfg, s, spec, err, n) ) return -1;
  /* The model's input shape comes from the training data. */
  lf_shape in, out;
  char why[512];
  char *src = spec->dataset.kind==LF_DS_SQL ? strdup(spec->train_src)
                                            : lf_project_resolve_path(db, spec->train_src);
  if( !src ){ snprintf(err, n, "out of memory"); goto fail; }
  int rc = lf_dataset_probe(&spec->dataset, src, db, &in, why, sizeof why);
  free(src);
  if( rc ){ snprintf(err, n, "train_data_src: %s", why); goto fail; }
  char msg[512];
  if( lf_model_single_input(spec, err, n) ) goto fail;
  lf_net_graph g;
  lf_graph_of(spec, &in, &g);
  lf_shape *shapes = calloc((size_t)(spec->ninputs + spec->nnodes), sizeof(lf_shape));
  if( !shapes ){ snprintf(err, n, "out of memory"); goto fail; }
  int bad = lf_net_graph_infer(&g, shapes, &out, msg, sizeof msg);
  if( bad >= 0 ){
    /* The node path says where; the message says why. */
    snprintf(err, n, "%s: %s", spec->node_paths[bad], msg);
    free(shapes);
    goto fail;
  }
  /* Sizes the kernels would accept but no machine can hold: refuse them
  ** here, not with an allocation failure (or the OOM killer) in training. */
  {
    double params = 0;
    for(int i=0; i<spec->nnodes; i++){
      const lf_net_node *nd = &spec->nodes[i];
      double outs = (double)lf_shape_count(&shapes[spec->ninputs + i]);
      params += lf_layer_param_values(&nd->layer, &shapes[nd->in[0]]);
      if( params > LF_MAX_PARAMS || outs > LF_MAX_ACTIVATIONS ){
        snprintf(err, n, "%s: the model is too large: %.0f %s (at most %.0f)", spec->node_paths[i],
                 params > LF_MAX_PARAMS ? params : outs,
                 params > LF_MAX_PARAMS ? "parameters so far" : "values per sample out of this layer",
                 params > LF_MAX_PARAMS ? LF_MAX_PARAMS : LF_MAX_ACTIVATIONS);
        free(shapes);
        goto fail;
      }
    }
  }
  free(shapes);
  if( out.ndim != 1 ){
    char b[64];
    snprintf(err, n, "model output has shape %s; end the model with a vector output (add Flatten and Linear)",
             lf_shape_str(&out, b, sizeof b));
    goto fail;
  }
  /* The output must fit the labels, as ppl_train will check: refuse what
  ** can only fail there, with its message. */
  {
    int nclasses = -1;
    int needs_classes = lf_loss_is_classification(&spec->loss) || spec->loss.kind==LF_LOSS_BCE_WITH_LOGITS;
    if( needs_classes && lf_outputs_fit(&spec->loss, lf_shape_count(&out), -1, err, n)==0 ){
      char *dsrc = spec->dataset.kind==LF_DS_SQL ? strdup(spec->train_src)
                                                 : lf_project_resolve_path(db, spec->train_src);
      if( !dsrc ){ snprintf(err, n, "out of memory"); goto fail; }
      /* Rows the probe did not look at may be bad: that stays ppl_train's
      ** error (it names the row); here the class count is then unknown. */
      char e2[512];
      if( lf_data_classes(db, cfg, spec, dsrc, &nclasses, e2, sizeof e2) ) nclasses = -1;
      free(dsrc);
    }
    if( lf_outputs_fit(&spec->loss, lf_shape_count(&out), nclasses, err, n) ) goto fail;
  }
  if( in_out ) *in_out = in;
  if( out_out ) *out_out = out;
  return 0;
fail:
  lf_pipeline_spec_free(spec);
  return -1;
}

int lf_ppl_check_config(sqlite3 *db, const lf_settings *s, const char *config_text,
                        char **canon, char hash[65], char *err, size_t n){
  cJSON *cfg = lf_json_parse_object(config_text, "config", err, n);
  if( !cfg ) return -1;
  lf_pipeline_spec spec;
  int rc = lf_ppl_check_spec(db, s, cfg, &spec, NULL, NULL, err, n);
  if( rc==0 ){
    lf_pipeline_spec_free(&spec);
    *canon = lf_canon_json(cfg);
    if( !*canon || lf_config_identity_hash(cfg, hash) ){
      free(*canon);
      *canon = NULL;
      snprintf(err, n, "out of memory");
      rc = -1;
    }
  }
  cJSON_Delete(cfg);
  return rc;
}

int lf_ppl_exists(sqlite3 *db, const char *pplid, char *err, size_t n){
  return lf_db_exists(db, "SELECT 1 FROM main.ppls WHERE pplid=?1", pplid, err, n);
}

int lf_ppl_require(sqlite3 *db, const char *pplid, char *err, size_t n){
  int ex = lf_ppl_exists(db, pplid, err, n);
  if( ex==0 ) snprintf(err, n, "no pipeline '%s' in this project", pplid);
  return ex==1 ? 0 : -1;
}

/* An archived pipeline keeps its pplid: a new one under it could then be
** neither archived nor let the old one back (two pipelines, one pplid). */
int lf_ppl_archived_refuse(sqlite3 *db, const char *pplid, char *err, size_t n){
  int arc = lf_db_exists(db, "SELECT 1 FROM main.archived_ppls WHERE pplid=?1", pplid, err, n);
  if( arc < 0 ) return -1;
  if( arc ){
    snprintf(err, n, "pipeline '%s' is archived (its pplid stays taken): choose another pplid, or bring it "
             "back with ppl_unarchive('%s')", pplid, pplid);
    return -1;
  }
  return 0;
}

char *lf_ppl_config(sqlite3 *db, const char *pplid, char *err, size_t n){
  char *c = lf_db_text(db, "SELECT CASE WHEN typeof(config) = 'text' THEN config ELSE '' END "
                       "FROM main.ppls WHERE pplid=?1", pplid, err, n);
  if( !c && !err[0] ) snprintf(err, n, "no pipeline '%s' in this project", pplid);
  if( c && !c[0] ){
    free(c);
    c = NULL;
    snprintf(err, n, "pipeline '%s' has no config (its ppls row holds NULL or a non-text value: the database "
             "was changed outside LabFlow; archive and delete that pipeline)", pplid);
  }
  return c;
}

char *lf_ppl_by_hash(sqlite3 *db, const char *hash, char *err, size_t n){
  return lf_db_text(db, "SELECT pplid FROM main.ppls WHERE config_hash=?1", hash, err, n);
}

int lf_ppl_insert(sqlite3 *db, const char *pplid, const char *canon,
                  const char *hash, const char *base, const char *patch,
                  char *err, size_t n){
  int ex = lf_ppl_exists(db, pplid, err, n);
  if( ex < 0 ) return -1;
  if( ex ){ snprintf(err, n, "pipeline '%s' already exists", pplid); return -1; }
  if( lf_ppl_archived_refuse(db, pplid, err, n) ) return -1;
  char *other = lf_ppl_by_hash(db, hash, err, n);
  if( other ){
    snprintf(err, n, "same configuration already exists in: %s", other);
    free(other);
    return -1;
  }
  if( err[0] ) return -1;
  /* The plugins its components come from (ppl_plugins). */
  cJSON *cfg = cJSON_Parse(canon);
  const lf_plugin_info *used[1];
  int uses_plugins = cfg && lf_plugin_used(cfg, used, 1) > 0;
  if( (base || uses_plugins) && lf_project_upgrade(db, err, n) ){ cJSON_Delete(cfg); return -1; }
  if( lf_txn_savepoint(db, "ppl_insert", err, n) ){ cJSON_Delete(cfg); return -1; }
  char now[32];
  lf_now_text(now, sizeof now);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db,
      "INSERT INTO main.ppls(pplid, config, config_hash, status, created_time) VALUES(?1, ?2, ?3, 'new', ?4)",
      -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, canon, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_DONE ) goto fail;
  rc = sqlite3_prepare_v2(db, "INSERT INTO main.ppl_state(pplid) VALUES(?1)", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_DONE ) goto fail;
  if( uses_plugins && lf_ppl_plugins_record(db, pplid, cfg, err, n) ){
    cJSON_Delete(cfg);
    lf_txn_undo(db, "ppl_insert");
    return -1;
  }
  cJSON_Delete(cfg);
  cfg = NULL;
  if( base ){
    rc = sqlite3_prepare_v2(db, "INSERT INTO main.ppl_edges(child, base, patch) VALUES(?1, ?2, ?3)", -1, &st, NULL);
    if( rc==SQLITE_OK ){
      sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 2, base, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 3, patch, -1, SQLITE_STATIC);
      rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if( rc != SQLITE_DONE ) goto fail;
    /* A fork starts with its base's tags and note. */
    rc = sqlite3_prepare_v2(db, "INSERT INTO main.ppl_tags(pplid, key, value) "
                                "SELECT ?1, key, value FROM main.ppl_tags WHERE pplid=?2", -1, &st, NULL);
    if( rc==SQLITE_OK ){
      sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 2, base, -1, SQLITE_STATIC);
      rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if( rc != SQLITE_DONE ) goto fail;
  }
  return lf_txn_release(db, "ppl_insert", err, n);
fail:
  cJSON_Delete(cfg);
  snprintf(err, n, "cannot record pipeline '%s': %s", pplid, sqlite3_errmsg(db));
  lf_txn_undo(db, "ppl_insert");
  return -1;
}

/* ppl_state may come from a database or a bundle someone sent: every
** number is checked against the history it describes before LabFlow
** uses it to name files or to decide where training resumes. */
int lf_ppl_state(sqlite3 *db, const char *pplid, int *last, int *best, double *best_value,
                 char *err, size_t n){
  sqlite3_stmt *st = NULL;
  *last = 0; *best = -1;
  if( best_value ) *best_value = 0;
  int rc = sqlite3_prepare_v2(db,
      "SELECT typeof(s.last_epoch), s.last_epoch, typeof(s.best_epoch), s.best_epoch, typeof(s.best_value), "
      "s.best_value, h.top, typeof(h.top), h.low, h.n, "
      "(SELECT count(*) FROM main.history WHERE pplid = ?1 AND epoch = s.best_epoch) "
      "FROM main.ppl_state s, (SELECT max(epoch) AS top, min(epoch) AS low, count(DISTINCT epoch) AS n "
      "FROM main.history WHERE pplid = ?1) h WHERE s.pplid = ?1", -1, &st, NULL);
  if( rc != SQLITE_OK ){ snprintf(err, n, "%s", sqlite3_errmsg(db)); sqlite3_finalize(st); return -1; }
  sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if( rc==SQLITE_DONE ){ sqlite3_finalize(st); return 0; }
  if( rc != SQLITE_ROW ){ snprintf(err, n, "%s", sqlite3_errmsg(db)); sqlite3_finalize(st); return -1; }
  const char *last_type = (const char*)sqlite3_column_text(st, 0);
  const char *best_type = (const char*)sqlite3_column_text(st, 2);
  const char *value_type = (const char*)sqlite3_column_text(st, 4);
  const char *top_type = (const char*)sqlite3_column_text(st, 7);
  sqlite3_int64 stored_last = sqlite3_column_int64(st, 1), stored_best = sqlite3_column_int64(st, 3);
  sqlite3_int64 top = sqlite3_column_int64(st, 6), low = sqlite3_column_int64(st, 8), nepochs = sqlite3_column_int64(st, 9);
  int best_rows = sqlite3_column_int(st, 10);
  double value = sqlite3_column_double(st, 5);
  int no_history = top_type && strcmp(top_type, "null")==0;
  int history_ok = no_history || (top_type && strcmp(top_type, "integer")==0 && low >= 1 && top <= LF_MAX_EPOCH && nepochs == top);
  const char *shown_last = sqlite3_column_text(st, 1) ? (const char*)sqlite3_column_text(st, 1) : "NULL";
  int bad = 1;
  if( !history_ok ){
    snprintf(err, n, "pipeline '%s': its history's epochs are not 1, 2, ... (the database was changed outside "
             "LabFlow; remove its history rows that are not whole epochs)", pplid);
  }else if( !last_type || strcmp(last_type, "integer") != 0 || stored_last != (no_history ? 0 : top) ){
    snprintf(err, n, "pipeline '%s': ppl_state.last_epoch is %.40s but its history ends at epoch %lld (the "
             "database was changed outside LabFlow; fix it: UPDATE ppl_state SET last_epoch = %lld WHERE pplid = '%s')",
             pplid, shown_last, (long long)(no_history ? 0 : top), (long long)(no_history ? 0 : top), pplid);
  }else if( best_type && strcmp(best_type, "null") != 0
            && (strcmp(best_type, "integer") != 0 || stored_best < 1 || stored_best > stored_last || best_rows == 0) ){
    snprintf(err, n, "pipeline '%s': ppl_state.best_epoch is %.40s, which is not an epoch of its history (1..%lld) "
             "(the database was changed outside LabFlow)", pplid,
             sqlite3_column_text(st, 3) ? (const char*)sqlite3_column_text(st, 3) : "?", (long long)stored_last);
  }else if( value_type && strcmp(value_type, "null") != 0
            && ((strcmp(value_type, "real") != 0 && strcmp(value_type, "integer") != 0) || !isfinite(value)) ){
    snprintf(err, n, "pipeline '%s': ppl_state.best_value is not a finite number (the database was changed "
             "outside LabFlow)", pplid);
  }else{
    bad = 0;
    *last = (int)stored_last;
    *best = strcmp(best_type, "null")==0 ? -1 : (int)stored_best;
    if( best_value ) *best_value = value;
  }
  sqlite3_finalize(st);
  return bad ? -1 : 0;
}

int lf_ppl_epochs(sqlite3 *db, const char *pplid, int *last, int *best, char *err, size_t n){
  return lf_ppl_state(db, pplid, last, best, NULL, err, n);
}

char *lf_ppl_path(const char *art, const char *of, const char *pplid, int epoch,
                  char *err, size_t n){
  char buf[4096];
  if( strcmp(of, "config")==0 ) snprintf(buf, sizeof buf, "%s/Configs/%s.json", art, pplid);
  else if( strcmp(of, "history")==0 ) snprintf(buf, sizeof buf, "%s/Histories/%s.csv", art, pplid);
  else if( strcmp(of, "quick")==0 ) snprintf(buf, sizeof buf, "%s/Quicks/%s.json", art, pplid);
  else if( strcmp(of, "weight")==0 ) snprintf(buf, sizeof buf, "%s/Weights/%s/e%d.lfw", art, pplid, epoch);
  else if( strcmp(of, "gradient")==0 ) snprintf(buf, sizeof buf, "%s/Gradients/%s/e%d.lfw", art, pplid, epoch);
  else {
    snprintf(err, n, "unknown kind of path '%.40s' (known: config, weight, gradient, history, quick)", of);
    return NULL;
  }
  return strdup(buf);
}

char *lf_ppl_state_path(const char *art, const char *pplid, int epoch){
  char buf[4096];
  snprintf(buf, sizeof buf, "%s/Weights/%s/e%d.state", art, pplid, epoch);
  return strdup(buf);
}

/* ---- config_hash in the current form (lf_config_identity_hash) -------- */

static int rehash_table(sqlite3 *db, const char *table, char *err, size_t n){
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT pplid, config FROM main.%s ORDER BY created_time, pplid", table);
  sqlite3_stmt *st = NULL, *up = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  snprintf(sql, sizeof sql, "UPDATE main.%s SET config_hash=?2 WHERE pplid=?1", table);
  if( rc==SQLITE_OK ) rc = sqlite3_prepare_v2(db, sql, -1, &up, NULL);
  /* Rows are collected first: the updates change the table being read. */
  char **ids = NULL, **hashes = NULL;
  int k = 0, cap = 0;
  while( rc==SQLITE_OK && sqlite3_step(st)==SQLITE_ROW ){
    cJSON *cfg = cJSON_Parse((const char*)sqlite3_column_text(st, 1));
    char hex[65];
    if( !cfg || lf_config_identity_hash(cfg, hex) ){ cJSON_Delete(cfg); continue; }
    cJSON_Delete(cfg);
    if( k==cap ){
      cap = cap ? 2*cap : 16;
      char **a = realloc(ids, sizeof(char*) * (size_t)cap), **b = a ? realloc(hashes, sizeof(char*) * (size_t)cap) : NULL;
      if( a ) ids = a;
      if( b ) hashes = b;
      if( !a || !b ){ rc = SQLITE_NOMEM; break; }
    }
    ids[k] = strdup((const char*)sqlite3_column_text(st, 0));
    hashes[k] = strdup(hex);
    k++;
  }
  sqlite3_finalize(st);
  for(int i=0; i<k && rc==SQLITE_OK; i++){
    if( !ids[i] || !hashes[i] ){ rc = SQLITE_NOMEM; break; }
    sqlite3_bind_text(up, 1, ids[i], -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 2, hashes[i], -1, SQLITE_STATIC);
    int r = sqlite3_step(up);
    sqlite3_reset(up);
    if( r==SQLITE_CONSTRAINT ){
      /* Two pipelines made before that differ only by defaults: both stay,
      ** the later one's hash carries its pplid. */
      char *alt = sqlite3_mprintf("%s-%s", hashes[i], ids[i]);
      sqlite3_bind_text(up, 2, alt, -1, SQLITE_TRANSIENT);
      r = sqlite3_step(up);
      sqlite3_reset(up);
      sqlite3_free(alt);
    }
    if( r != SQLITE_DONE ) rc = SQLITE_ERROR;
  }
  if( rc != SQLITE_OK ) snprintf(err, n, "cannot recompute the config hashes of %s: %s", table, sqlite3_errmsg(db));
  for(int i=0; i<k; i++){ free(ids[i]); free(hashes[i]); }
  free(ids);
  free(hashes);
  sqlite3_finalize(up);
  return rc==SQLITE_OK ? 0 : -1;
}

int lf_ppl_rehash_once(sqlite3 *db, char *err, size_t n){
  char e2[256];
  int done = lf_db_exists(db, "SELECT 1 FROM main.lab_meta WHERE key='config_hash_form' AND value=?1",
                          LF_CONFIG_HASH_FORM_TEXT, e2, sizeof e2);
  if( done != 0 ) return 0;            /* done, or not a project (nothing to do) */
  if( sqlite3_db_readonly(db, "main")==1 ) return 0;
  if( lf_exec(db, "SAVEPOINT lf_rehash", err, n) ) return -1;
  if( rehash_table(db, "ppls", err, n) || rehash_table(db, "archived_ppls", err, n)
   || lf_exec(db, "INSERT OR REPLACE INTO main.lab_meta(key, value) VALUES('config_hash_form', '"
              LF_CONFIG_HASH_FORM_TEXT "')", err, n) ){
    lf_exec(db, "ROLLBACK TO lf_rehash", e2, sizeof e2);
    lf_exec(db, "RELEASE lf_rehash", e2, sizeof e2);
    return -1;
  }
  return lf_exec(db, "RELEASE lf_rehash", err, n);
}
