/*
** lf_ppl_plugins.c — the plugin builds a pipeline needs (lf_ppl_plugins.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_ppl_plugins.h"
#include "lf_plugin.h"
#include "lf_project.h"
#include "lf_txn.h"

#define MAX_USED 64

int lf_ppl_plugins_record(sqlite3 *db, const char *pplid, const cJSON *cfg,
                          char *err, size_t n){
  const lf_plugin_info *used[MAX_USED];
  int k = lf_plugin_used(cfg, used, MAX_USED);
  if( k==0 ) return 0;
  sqlite3_stmt *st = NULL;
  if( sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO main.ppl_plugins(pplid, plugin, version, sha256) "
                             "VALUES(?1, ?2, ?3, ?4)", -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "cannot record the plugins of '%s': %s", pplid, sqlite3_errmsg(db));
    return -1;
  }
  for(int i=0; i<k; i++){
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, used[i]->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, used[i]->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, used[i]->sha256, -1, SQLITE_STATIC);
    if( sqlite3_step(st) != SQLITE_DONE ){
      snprintf(err, n, "cannot record the plugins of '%s': %s", pplid, sqlite3_errmsg(db));
      sqlite3_finalize(st);
      return -1;
    }
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return 0;
}

/* A loc of cfg that names a plugin namespace not loaded (a config whose
** ppl_plugins rows are missing, e.g. written by hand). */
static int unloaded_namespace(const cJSON *v, char *ns, size_t n){
  if( cJSON_IsObject(v) ){
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(v, "loc");
    if( cJSON_IsString(loc) && lf_plugin_namespace(loc->valuestring, ns, n) && !lf_plugin_get(ns) ) return 1;
  }
  for(const cJSON *c = v ? v->child : NULL; c; c = c->next){
    if( (cJSON_IsObject(c) || cJSON_IsArray(c)) && unloaded_namespace(c, ns, n) ) return 1;
  }
  return 0;
}

int lf_ppl_plugins_check(sqlite3 *db, const char *pplid, const cJSON *cfg,
                         char *err, size_t n){
  sqlite3_stmt *st = NULL;
  /* A project of an earlier LabFlow (read-only, not upgraded) has no
  ** table: its pipelines name no plugin rows. */
  if( sqlite3_prepare_v2(db, "SELECT plugin, version, sha256 FROM main.ppl_plugins WHERE pplid=?1 ORDER BY plugin",
                         -1, &st, NULL) == SQLITE_OK ){
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    int rc;
    while( (rc = sqlite3_step(st))==SQLITE_ROW ){
      const char *name = (const char*)sqlite3_column_text(st, 0);
      const char *version = (const char*)sqlite3_column_text(st, 1);
      const char *sha = (const char*)sqlite3_column_text(st, 2);
      if( !name || !version || !sha ) continue;
      const lf_plugin_info *p = lf_plugin_get(name);
      if( !p ){
        snprintf(err, n, "pipeline '%s' needs plugin '%.48s' (version %.64s, sha256 %.12s); load it with "
                 "lab_load_plugin('<path to the plugin .so>')", pplid, name, version, sha);
        sqlite3_finalize(st);
        return -1;
      }
      if( strcmp(p->sha256, sha) != 0 ){
        snprintf(err, n, "pipeline '%s' was made with plugin '%.48s' version %.64s (sha256 %.12s), but the loaded "
                 "build is version %s (sha256 %.12s) from '%.200s': exact resume needs the same code. Load the "
                 "recorded build in a new process, or accept this one with SELECT ppl_accept_plugin('%s', '%s')",
                 pplid, name, version, sha, p->version, p->sha256, p->path, pplid, p->name);
        sqlite3_finalize(st);
        return -1;
      }
    }
    sqlite3_finalize(st);
    if( rc != SQLITE_DONE ){
      snprintf(err, n, "cannot read the plugins of '%s': %s", pplid, sqlite3_errmsg(db));
      return -1;
    }
  }else{
    sqlite3_finalize(st);
  }
  char ns[64];
  if( cfg && unloaded_namespace(cfg, ns, sizeof ns) ){
    snprintf(err, n, "pipeline '%s' needs plugin '%s'; load it with lab_load_plugin('<path to the plugin .so>')",
             pplid, ns);
    return -1;
  }
  return 0;
}

static void collect_unloaded(const cJSON *v, char *list, size_t n, int *count){
  char ns[64];
  if( cJSON_IsObject(v) ){
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(v, "loc");
    if( cJSON_IsString(loc) && lf_plugin_namespace(loc->valuestring, ns, sizeof ns) && !lf_plugin_get(ns) ){
      char quoted[80];
      snprintf(quoted, sizeof quoted, "'%s'", ns);
      if( !strstr(list, quoted) ){
        size_t used = strlen(list);
        snprintf(list + used, n - used, "%s%s", *count ? ", " : "", quoted);
        (*count)++;
      }
    }
  }
  for(const cJSON *c = v ? v->child : NULL; c; c = c->next){
    if( cJSON_IsObject(c) || cJSON_IsArray(c) ) collect_unloaded(c, list, n, count);
  }
}

int lf_ppl_plugins_missing(sqlite3 *db, const char *pplid, const cJSON *cfg,
                           char *list, size_t n){
  int count = 0;
  sqlite3_stmt *st = NULL;
  list[0] = 0;
  int has = sqlite3_table_column_metadata(db, "main", "ppl_plugins", "sha256", 0, 0, 0, 0, 0)==SQLITE_OK;
  if( has ){
    if( sqlite3_prepare_v2(db, "SELECT plugin, version, sha256 FROM main.ppl_plugins WHERE pplid=?1 ORDER BY plugin",
                           -1, &st, NULL) != SQLITE_OK ){
      snprintf(list, n, "cannot read the plugins of '%s': %s", pplid, sqlite3_errmsg(db));
      return -1;
    }
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    while( sqlite3_step(st)==SQLITE_ROW ){
      const char *name = (const char*)sqlite3_column_text(st, 0);
      const char *version = (const char*)sqlite3_column_text(st, 1);
      const char *sha = (const char*)sqlite3_column_text(st, 2);
      if( !name || !version || !sha || lf_plugin_get(name) ) continue;
      size_t used = strlen(list);
      snprintf(list + used, n - used, "%s'%.48s' version %.64s (sha256 %.12s)", count ? ", " : "", name, version, sha);
      count++;
    }
    sqlite3_finalize(st);
  }
  collect_unloaded(cfg, list, n, &count);
  return count;
}

int lf_ppl_plugins_accept(sqlite3 *db, const char *pplid, const char *plugin,
                          char *msg, size_t n){
  const lf_plugin_info *p = lf_plugin_get(plugin);
  if( !p ){
    snprintf(msg, n, "plugin '%.48s' is not loaded: load the build to accept with lab_load_plugin first", plugin);
    return -1;
  }
  if( lf_project_upgrade(db, msg, n) ) return -1;
  int txn = lf_txn_begin(db, msg, n);
  if( txn < 0 ) return -1;
  sqlite3_stmt *st = NULL;
  char old[65] = "";
  int rc = sqlite3_prepare_v2(db, "SELECT sha256 FROM main.ppl_plugins WHERE pplid=?1 AND plugin=?2", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, plugin, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if( rc==SQLITE_ROW && sqlite3_column_text(st, 0) ) snprintf(old, sizeof old, "%s", (const char*)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  if( rc==SQLITE_DONE ){
    lf_txn_rollback(db, txn);
    snprintf(msg, n, "pipeline '%s' does not use plugin '%s' (see SELECT plugins FROM ppl_details('%s'))", pplid, plugin, pplid);
    return -1;
  }
  if( rc != SQLITE_ROW ) goto fail;
  if( sqlite3_prepare_v2(db, "UPDATE main.ppl_plugins SET version=?3, sha256=?4 WHERE pplid=?1 AND plugin=?2",
                         -1, &st, NULL) != SQLITE_OK ) goto fail;
  sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, plugin, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, p->version, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, p->sha256, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if( rc != SQLITE_DONE ) goto fail;
  if( lf_txn_commit(db, txn, msg, n) ) return -1;
  if( strcmp(old, p->sha256)==0 ) snprintf(msg, n, "pipeline '%s' already uses this build of '%s' (sha256 %.12s)", pplid, plugin, old);
  else snprintf(msg, n, "pipeline '%s' now uses plugin '%s' %s (sha256 %.12s, was %.12s)", pplid, plugin, p->version, p->sha256, old);
  return 0;
fail:
  snprintf(msg, n, "cannot update the plugins of '%s': %s", pplid, sqlite3_errmsg(db));
  lf_txn_rollback(db, txn);
  return -1;
}
