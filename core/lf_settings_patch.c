/*
** lf_settings_patch.c — lab_settings(patch_json): changing a project's
** settings after lab_init.
**
** threads, progress and keep are read by each ppl_train call when it
** starts, so they change at any time. Metrics may be added (the history
** gains their columns; epochs trained before show NULL there, as do later
** epochs of pipelines whose config does not name them), never removed:
** histories, configs and the strategy refer to them. A new strategy makes
** "best epoch" mean something else, so every pipeline's best epoch is
** recomputed from its history in the same transaction. artifacts never
** changes: every file of the project lives there.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lf_settings_patch.h"
#include "lf_db.h"
#include "lf_claim.h"
#include "lf_config.h"
#include "lf_json_patch.h"
#include "lf_ppl.h"
#include "lf_txn.h"

/* The pplid of a pipeline being trained right now, or NULL (err[0]==0). */
static char *running_pipeline(sqlite3 *db, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  char *found = NULL;
  err[0] = 0;
  if( sqlite3_prepare_v2(db, "SELECT pplid FROM main.runnings ORDER BY pplid", -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    return NULL;
  }
  /* Collect first: lf_claim_running may delete a dead trainer's row. */
  char **ids = NULL;
  int nids = 0;
  while( sqlite3_step(st)==SQLITE_ROW ){
    char **more = realloc(ids, sizeof(char*) * (size_t)(nids + 1));
    if( !more ) break;
    ids = more;
    ids[nids] = strdup((const char*)sqlite3_column_text(st, 0));
    if( ids[nids] ) nids++;
  }
  sqlite3_finalize(st);
  for(int i=0; i<nids; i++){
    if( !found && !err[0] && lf_claim_running(db, ids[i], err, n) > 0 ) found = ids[i];
    else free(ids[i]);
  }
  free(ids);
  return found;
}

/* Best epoch of every pipeline (active and archived) on the monitor, from
** its history: the first epoch with the best finite value, as training
** picks it. */
static int recompute_best(sqlite3 *db, const lf_settings *s, const char *prefix, char *err, size_t n){
  char sql[512];
  snprintf(sql, sizeof sql, "UPDATE main.%sppl_state SET best_epoch=NULL, best_value=NULL", prefix);
  if( lf_exec(db, sql, err, n) ) return -1;
  snprintf(sql, sizeof sql, "SELECT pplid, epoch, value FROM main.%shistory WHERE name=?1 AND value IS NOT NULL "
           "ORDER BY pplid, epoch", prefix);
  sqlite3_stmt *st = NULL, *up = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  snprintf(sql, sizeof sql, "UPDATE main.%sppl_state SET best_epoch=?2, best_value=?3 WHERE pplid=?1", prefix);
  if( rc==SQLITE_OK ) rc = sqlite3_prepare_v2(db, sql, -1, &up, NULL);
  if( rc != SQLITE_OK ){
    snprintf(err, n, "cannot recompute best epochs: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    return -1;
  }
  sqlite3_bind_text(st, 1, s->monitor, -1, SQLITE_STATIC);
  char cur[256] = "";
  int have = 0, best_epoch = 0;
  double best = 0;
  for(;;){
    int r = sqlite3_step(st);
    const char *pplid = r==SQLITE_ROW ? (const char*)sqlite3_column_text(st, 0) : NULL;
    if( have && (!pplid || strcmp(pplid, cur)!=0) ){
      sqlite3_bind_text(up, 1, cur, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int(up, 2, best_epoch);
      sqlite3_bind_double(up, 3, best);
      if( sqlite3_step(up) != SQLITE_DONE ) r = SQLITE_ERROR;
      sqlite3_reset(up);
      have = 0;
    }
    if( r != SQLITE_ROW ){
      rc = r==SQLITE_DONE ? 0 : -1;
      break;
    }
    double v = sqlite3_column_double(st, 2);
    if( !isfinite(v) ) continue;
    if( !have ){
      snprintf(cur, sizeof cur, "%s", pplid);
      best = v;
      best_epoch = sqlite3_column_int(st, 1);
      have = 1;
    }else if( s->mode_max ? v > best : v < best ){
      best = v;
      best_epoch = sqlite3_column_int(st, 1);
    }
  }
  if( rc ) snprintf(err, n, "cannot recompute best epochs: %s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  return rc;
}

char *lf_settings_patch(sqlite3 *db, const char *patch_json, char *err, size_t n){
  lf_settings old, neu;
  int have_old = 0, have_new = 0;
  cJSON *patch = NULL, *cur = NULL, *merged = NULL;
  char *merged_text = NULL, *canon = NULL, *old_canon = NULL, *running = NULL;
  char *result = NULL;
  if( lf_project_settings(db, &old, err, n) ) return NULL;
  have_old = 1;
  patch = lf_json_parse_object(patch_json, "patch_json", err, n);
  if( !patch ) goto done;
  old_canon = lf_settings_json(&old);
  cur = old_canon ? cJSON_Parse(old_canon) : NULL;
  merged = cur ? lf_json_merge_patch(cur, patch) : NULL;
  merged_text = merged ? cJSON_PrintUnformatted(merged) : NULL;
  if( !merged_text ){ snprintf(err, n, "out of memory"); goto done; }
  /* Removal first: it is the reason, whatever else the patch says. */
  const cJSON *nm = cJSON_GetObjectItemCaseSensitive(merged, "metrics");
  for(int i=0; i<old.nmetrics; i++){
    int found = 0;
    for(const cJSON *e = cJSON_IsArray(nm) ? nm->child : NULL; e && !found; e = e->next){
      found = cJSON_IsString(e) && strcmp(e->valuestring, old.metrics[i])==0;
    }
    if( !found ){
      snprintf(err, n, "metric '%s' cannot be removed: the pipelines' configs map it to a component and their "
               "histories hold train_%s and val_%s; metrics can only be added (list every current one: %s)",
               old.metrics[i], old.metrics[i], old.metrics[i], old_canon);
      goto done;
    }
  }
  if( lf_settings_parse(merged_text, &neu, err, n) ) goto done;
  have_new = 1;
  if( (old.artifacts==NULL) != (neu.artifacts==NULL) || (old.artifacts && strcmp(old.artifacts, neu.artifacts)) ){
    snprintf(err, n, "artifacts cannot change: the folder holds every pipeline's files (to move the project, "
             "move the database file together with its folder)");
    goto done;
  }
  int metrics_changed = old.nmetrics != neu.nmetrics;
  for(int i=0; i<old.nmetrics && !metrics_changed; i++) metrics_changed = strcmp(old.metrics[i], neu.metrics[i]) != 0;
  int strategy_changed = strcmp(old.monitor, neu.monitor) != 0 || old.mode_max != neu.mode_max;
  if( metrics_changed || strategy_changed ){
    /* A trainer reads them when it starts and records best epochs with
    ** them: change them between runs, not under one. */
    running = running_pipeline(db, err, n);
    if( running ){
      snprintf(err, n, "pipeline '%s' is training; metrics and strategy change between runs: wait for it to "
               "end (or SELECT ppl_stop('%s')) and call again", running, running);
      goto done;
    }
    if( err[0] ) goto done;
  }
  canon = lf_settings_json(&neu);
  if( !canon ){ snprintf(err, n, "out of memory"); goto done; }
  /* A write that waits for trainers' commits (lf_txn.h). */
  int txn = lf_txn_begin(db, err, n);
  if( txn < 0 ) goto done;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "UPDATE main.lab_meta SET value=?1 WHERE key='settings'", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, canon, -1, SQLITE_STATIC);
    rc = sqlite3_step(st)==SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
  }
  if( rc != SQLITE_OK ) snprintf(err, n, "cannot record the settings: %s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  if( rc==SQLITE_OK && strategy_changed ){
    rc = recompute_best(db, &neu, "", err, n) || recompute_best(db, &neu, "archived_", err, n) ? SQLITE_ERROR : SQLITE_OK;
  }
  if( rc != SQLITE_OK ){
    lf_txn_rollback(db, txn);
    goto done;
  }
  if( lf_txn_commit(db, txn, err, n) ) goto done;
  result = canon;
  canon = NULL;
done:
  free(running);
  free(canon);
  free(old_canon);
  free(merged_text);
  cJSON_Delete(merged);
  cJSON_Delete(cur);
  cJSON_Delete(patch);
  if( have_old ) lf_settings_free(&old);
  if( have_new ) lf_settings_free(&neu);
  return result;
}
