/*
** lf_project.c — project settings, the schema and the artifacts folder.
*/
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "lf_project.h"
#include "lf_db.h"
#include "lf_artifacts_owner.h"
#include "lf_canon.h"
#include "lf_json_patch.h"
#include "lf_json.h"
#include "lf_ckpt.h"
#include "lf_txn.h"
#include "lf_util.h"

extern const char lf_schema_sql[];
/* 2: ppl_tags, archived_ppl_tags (run notes and tags).
** 3: sweeps, sweep_members (ppl_sweep, ppl_halving).
** 4: ppl_plugins, archived_ppl_plugins (C plugins a pipeline needs). */
#define LF_SCHEMA_VERSION "4"


void lf_now_text(char *buf, size_t n){
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

double lf_now_unix(void){
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + tv.tv_usec*1e-6;
}

/* Metric names become column names (train_<name>, val_<name>). */
static int metric_name_ok(const char *s){
  if( !s[0] || strlen(s) > 48 ) return 0;
  if( !(islower((unsigned char)s[0])) ) return 0;
  for(const char *c = s; *c; c++){
    if( !(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c=='_') ) return 0;
  }
  return strcmp(s, "loss")!=0 && strcmp(s, "duration")!=0;
}

void lf_settings_free(lf_settings *s){
  for(int i=0; i<s->nmetrics; i++) free(s->metrics[i]);
  free(s->metrics);
  free(s->monitor);
  free(s->artifacts);
  memset(s, 0, sizeof *s);
}

int lf_settings_metric_index(const lf_settings *s, const char *name){
  for(int i=0; i<s->nmetrics; i++) if( strcmp(s->metrics[i], name)==0 ) return i;
  return -1;
}

int lf_settings_parse(const char *json, lf_settings *s, char *err, size_t n){
  memset(s, 0, sizeof *s);
  s->progress = 1;
  cJSON *v = lf_json_parse_object(json, "settings", err, n);
  if( !v ) return -1;
  const cJSON *strategy = NULL;
  int rc = -1;
  for(const cJSON *c = v->child; c; c = c->next){
    const char *k = c->string;
    if( strcmp(k, "metrics")==0 ){
      int m = cJSON_IsArray(c) ? cJSON_GetArraySize(c) : -1;
      if( m < 0 || m > 32 ){ snprintf(err, n, "settings: metrics must be a list of up to 32 metric names"); goto done; }
      s->metrics = calloc((size_t)(m ? m : 1), sizeof(char*));
      if( !s->metrics ){ snprintf(err, n, "out of memory"); goto done; }
      int i = 0;
      for(const cJSON *e = c->child; e; e = e->next, i++){
        if( !cJSON_IsString(e) || !metric_name_ok(e->valuestring) ){
          snprintf(err, n, "settings: metrics[%d] must be a name of lowercase letters, digits and _ "
                   "(starting with a letter, not 'loss' or 'duration')", i);
          goto done;
        }
        if( lf_settings_metric_index(s, e->valuestring) >= 0 ){
          snprintf(err, n, "settings: metric '%s' is listed twice", e->valuestring);
          goto done;
        }
        s->metrics[i] = strdup(e->valuestring);
        if( !s->metrics[i] ){ snprintf(err, n, "out of memory"); goto done; }
        s->nmetrics = i + 1;
      }
    }else if( strcmp(k, "strategy")==0 ){
      strategy = c;
    }else if( strcmp(k, "artifacts")==0 ){
      if( !cJSON_IsString(c) || !c->valuestring[0] ){ snprintf(err, n, "settings: artifacts must be a path"); goto done; }
      s->artifacts = strdup(c->valuestring);
    }else if( strcmp(k, "threads")==0 ){
      if( !cJSON_IsNumber(c) || c->valuedouble != (int)c->valuedouble || c->valuedouble < 0 || c->valuedouble > 1024 ){
        snprintf(err, n, "settings: threads must be an integer from 0 (all cores) to 1024");
        goto done;
      }
      s->threads = (int)c->valuedouble;
    }else if( strcmp(k, "keep")==0 ){
      if( cJSON_IsString(c) && strcmp(c->valuestring, "all")==0 ) s->keep_all = 1;
      else if( cJSON_IsString(c) && strcmp(c->valuestring, "best_last")==0 ) s->keep_all = 0;
      else { snprintf(err, n, "settings: keep must be \"best_last\" or \"all\""); goto done; }
    }else if( strcmp(k, "progress")==0 ){
      if( !cJSON_IsBool(c) ){ snprintf(err, n, "settings: progress must be true or false"); goto done; }
      s->progress = cJSON_IsTrue(c);
    }else{
      snprintf(err, n, "settings: unknown key %s (known: metrics, strategy, artifacts, threads, keep, progress)", k);
      goto done;
    }
  }
  if( !s->metrics ){
    snprintf(err, n, "settings: metrics is missing (a list of metric names, e.g. [\"accuracy\"])");
    goto done;
  }
  s->monitor = strdup("val_loss");
  if( strategy ){
    if( !cJSON_IsObject(strategy) ){ snprintf(err, n, "settings: strategy must be {\"monitor\": ..., \"mode\": \"min\"|\"max\"}"); goto done; }
    int have_mode = 0;
    for(const cJSON *c = strategy->child; c; c = c->next){
      if( strcmp(c->string, "monitor")==0 ){
        if( !cJSON_IsString(c) ){ snprintf(err, n, "settings: strategy>monitor must be a string"); goto done; }
        free(s->monitor);
        s->monitor = strdup(c->valuestring);
      }else if( strcmp(c->string, "mode")==0 ){
        if( cJSON_IsString(c) && strcmp(c->valuestring, "min")==0 ) s->mode_max = 0;
        else if( cJSON_IsString(c) && strcmp(c->valuestring, "max")==0 ) s->mode_max = 1;
        else { snprintf(err, n, "settings: strategy>mode must be \"min\" or \"max\""); goto done; }
        have_mode = 1;
      }else if( strcmp(c->string, "patience")==0 ){
        if( !cJSON_IsNumber(c) || c->valuedouble != (int)c->valuedouble || c->valuedouble < 1 || c->valuedouble > 1000000 ){
          snprintf(err, n, "settings: strategy>patience must be an integer from 1 to 1000000 "
                   "(leave it out for no early stopping)");
          goto done;
        }
        s->patience = (int)c->valuedouble;
      }else{
        snprintf(err, n, "settings: unknown key strategy>%s (known: monitor, mode, patience)", c->string);
        goto done;
      }
    }
    if( !have_mode ){ snprintf(err, n, "settings: strategy>mode is missing (\"min\" or \"max\")"); goto done; }
  }
  /* The monitor must be a history column: (train|val)_(loss|<metric>). */
  const char *m = s->monitor;
  const char *rest = strncmp(m, "val_", 4)==0 ? m+4 : strncmp(m, "train_", 6)==0 ? m+6 : NULL;
  if( !rest || !(strcmp(rest, "loss")==0 || lf_settings_metric_index(s, rest) >= 0) ){
    snprintf(err, n, "settings: strategy>monitor '%.60s' is not a history column "
             "(val_loss, train_loss, val_<metric> or train_<metric>)", m);
    goto done;
  }
  rc = 0;
done:
  cJSON_Delete(v);
  if( rc ) lf_settings_free(s);
  return rc;
}

char *lf_settings_json(const lf_settings *s){
  cJSON *o = cJSON_CreateObject();
  cJSON *m = cJSON_AddArrayToObject(o, "metrics");
  for(int i=0; i<s->nmetrics; i++) cJSON_AddItemToArray(m, cJSON_CreateString(s->metrics[i]));
  cJSON *st = cJSON_AddObjectToObject(o, "strategy");
  cJSON_AddStringToObject(st, "monitor", s->monitor);
  cJSON_AddStringToObject(st, "mode", s->mode_max ? "max" : "min");
  /* Only when set, so settings stored before it existed stay the same. */
  if( s->patience > 0 ) cJSON_AddNumberToObject(st, "patience", s->patience);
  if( s->artifacts ) cJSON_AddStringToObject(o, "artifacts", s->artifacts);
  cJSON_AddNumberToObject(o, "threads", s->threads);
  cJSON_AddStringToObject(o, "keep", s->keep_all ? "all" : "best_last");
  cJSON_AddBoolToObject(o, "progress", s->progress);
  char *out = lf_canon_json(o);
  cJSON_Delete(o);
  return out;
}

int lf_project_settings(sqlite3 *db, lf_settings *out, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  memset(out, 0, sizeof *out);
  int rc = sqlite3_prepare_v2(db, "SELECT value FROM main.lab_meta WHERE key='settings'", -1, &st, NULL);
  if( rc != SQLITE_OK ){
    sqlite3_finalize(st);
    snprintf(err, n, "not a LabFlow project: run lab_init('{\"metrics\": [...]}') first");
    return -1;
  }
  rc = sqlite3_step(st);
  if( rc != SQLITE_ROW ){
    sqlite3_finalize(st);
    snprintf(err, n, "not a LabFlow project: run lab_init('{\"metrics\": [...]}') first");
    return -1;
  }
  if( sqlite3_column_type(st, 0) != SQLITE_TEXT ){
    sqlite3_finalize(st);
    snprintf(err, n, "the project's settings (lab_meta key 'settings') are not text: the database was changed "
             "outside LabFlow; restore the JSON you gave lab_init: "
             "UPDATE main.lab_meta SET value = '{\"metrics\": [...]}' WHERE key = 'settings'");
    return -1;
  }
  char *json = strdup((const char*)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  if( !json ){ snprintf(err, n, "out of memory"); return -1; }
  int r = lf_settings_parse(json, out, err, n);
  free(json);
  return r;
}

char *lf_project_dbdir(sqlite3 *db){
  const char *f = sqlite3_db_filename(db, "main");
  if( !f || !f[0] ) return NULL;
  char *d = strdup(f);
  if( !d ) return NULL;
  char *slash = strrchr(d, '/');
  if( slash == d ) d[1] = 0;
  else if( slash ) *slash = 0;
  else { free(d); d = getcwd(NULL, 0); }
  return d;
}

char *lf_project_resolve_path(sqlite3 *db, const char *path){
  if( path[0]=='/' ) return strdup(path);
  char *dir = lf_project_dbdir(db);
  if( !dir ) dir = getcwd(NULL, 0);
  if( !dir ) return NULL;
  char *p = lf_path_join(dir, path);
  free(dir);
  return p;
}

/* The folder the settings name, trusted or not. */
static char *artifacts_path(sqlite3 *db, const lf_settings *s, char *err, size_t n){
  if( s->artifacts ){
    if( s->artifacts[0]=='/' ) return strdup(s->artifacts);
    char *dir = lf_project_dbdir(db);
    if( !dir ){
      snprintf(err, n, "artifacts '%s' is relative but the database has no folder; give an absolute path", s->artifacts);
      return NULL;
    }
    char *p = lf_path_join(dir, s->artifacts);
    free(dir);
    return p;
  }
  const char *f = sqlite3_db_filename(db, "main");
  if( !f || !f[0] ){
    snprintf(err, n, "an in-memory or temporary database has no folder for artifacts: "
             "pass \"artifacts\": \"/some/dir\" in the settings");
    return NULL;
  }
  size_t len = strlen(f) + sizeof ".labflow";
  char *p = malloc(len);
  if( p ) snprintf(p, len, "%s.labflow", f);
  return p;
}

/* The folder only if this database may direct writes and deletions there
** (lf_artifacts_owner.h). */
char *lf_project_artifacts(sqlite3 *db, const lf_settings *s, char *err, size_t n){
  char *p = artifacts_path(db, s, err, n);
  if( !p ) return NULL;
  char *json = lf_settings_json(s);
  int bad = lf_artifacts_owned(db, p, json, err, n);
  free(json);
  if( bad ){ free(p); return NULL; }
  return p;
}

/* Names the first setting that differs, for lab_init's refusal. */
static void describe_difference(const char *old_json, const char *new_json, char *buf, size_t n){
  cJSON *a = cJSON_Parse(old_json), *b = cJSON_Parse(new_json);
  snprintf(buf, n, "settings differ");
  if( a && b ){
    for(const cJSON *c = a->child; c; c = c->next){
      const cJSON *d = cJSON_GetObjectItemCaseSensitive(b, c->string);
      if( !d || !cJSON_Compare(c, d, 1) ){
        char *x = cJSON_PrintUnformatted(c), *y = d ? cJSON_PrintUnformatted(d) : NULL;
        snprintf(buf, n, "%s is %s in this project, %s given", c->string, x ? x : "?", y ? y : "nothing");
        free(x); free(y);
        break;
      }
    }
    for(const cJSON *d = b->child; d; d = d->next){
      if( !cJSON_GetObjectItemCaseSensitive(a, d->string) ){
        char *y = cJSON_PrintUnformatted(d);
        snprintf(buf, n, "%s is not set in this project, %s given", d->string, y ? y : "?");
        free(y);
        break;
      }
    }
  }
  cJSON_Delete(a);
  cJSON_Delete(b);
}

/* What to do instead of lab_init: the lab_settings call that makes the
** settings these, when lab_settings accepts it (metrics only added,
** artifacts unchanged). */
static void settings_advice(const char *old_json, const char *new_json, char *buf, size_t n){
  cJSON *a = cJSON_Parse(old_json), *b = cJSON_Parse(new_json);
  const cJSON *am = a ? cJSON_GetObjectItemCaseSensitive(a, "metrics") : NULL;
  const cJSON *bm = b ? cJSON_GetObjectItemCaseSensitive(b, "metrics") : NULL;
  const cJSON *aa = a ? cJSON_GetObjectItemCaseSensitive(a, "artifacts") : NULL;
  const cJSON *ba = b ? cJSON_GetObjectItemCaseSensitive(b, "artifacts") : NULL;
  int ok = a && b && ((!aa && !ba) || (aa && ba && cJSON_Compare(aa, ba, 1)));
  for(const cJSON *m = am ? am->child : NULL; ok && m; m = m->next){
    int found = 0;
    for(const cJSON *k = bm ? bm->child : NULL; k && !found; k = k->next) found = cJSON_Compare(m, k, 1);
    ok = found;
  }
  cJSON *patch = ok ? lf_json_merge_diff(a, b) : NULL;
  char *text = patch ? cJSON_PrintUnformatted(patch) : NULL;
  if( text && strlen(text) + 64 < n && !strchr(text, '\'') ){
    snprintf(buf, n, "to change them: SELECT lab_settings('%s')", text);
  }else{
    snprintf(buf, n, "lab_settings(patch) changes threads, progress, keep and strategy and adds metrics; "
             "metrics cannot be removed and artifacts cannot change");
  }
  free(text);
  cJSON_Delete(patch);
  cJSON_Delete(a);
  cJSON_Delete(b);
}

char *lf_project_init(sqlite3 *db, const char *settings_json, int *created,
                      char *err, size_t n){
  lf_settings s;
  *created = 0;
  char *canon = NULL, *artifacts = NULL, *existing = NULL;
  int txn = 0;
  if( lf_settings_parse(settings_json, &s, err, n) ) return NULL;
  canon = lf_settings_json(&s);
  artifacts = artifacts_path(db, &s, err, n);
  if( !canon || !artifacts ) goto fail;
  if( sqlite3_db_readonly(db, "main")==1 ){
    snprintf(err, n, "the database is read-only");
    goto fail;
  }
  /* The write lock first (waiting for another process's lab_init or
  ** trainer), then the check: of two lab_init racing on a new file, the
  ** second sees the first's project. */
  txn = lf_txn_begin(db, err, n);
  if( txn < 0 ) goto fail;
  /* Is the project already initialised? Then the settings must match. */
  {
    lf_settings old;
    char e2[256];
    if( lf_project_settings(db, &old, e2, sizeof e2)==0 ){
      existing = lf_settings_json(&old);
      lf_settings_free(&old);
      if( existing && strcmp(existing, canon)==0 ){
        if( lf_project_upgrade(db, err, n) || lf_mkdirs(artifacts, err, n)
         || lf_artifacts_claim(db, artifacts, err, n) ) goto rollback;
        if( lf_txn_commit(db, txn, err, n) ) goto fail;
        free(canon); free(existing); lf_settings_free(&s);
        return artifacts;
      }
      lf_txn_rollback(db, txn);
      char diff[512], advice[1024];
      describe_difference(existing ? existing : "{}", canon, diff, sizeof diff);
      settings_advice(existing ? existing : "{}", canon, advice, sizeof advice);
      snprintf(err, n, "project already initialised with other settings: %s; %s", diff, advice);
      goto fail;
    }
  }
  if( lf_exec(db, lf_schema_sql, err, n) ) goto rollback;
  {
    sqlite3_stmt *st = NULL;
    char now[32];
    lf_now_text(now, sizeof now);
    int rc = sqlite3_prepare_v2(db, "INSERT INTO lab_meta(key, value) VALUES"
                                    "('schema_version', '" LF_SCHEMA_VERSION "'), ('settings', ?1), ('created_time', ?2), "
                                    "('config_hash_form', '" LF_CONFIG_HASH_FORM_TEXT "')",
                                -1, &st, NULL);
    if( rc==SQLITE_OK ){
      sqlite3_bind_text(st, 1, canon, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
      rc = sqlite3_step(st);
    }
    if( rc != SQLITE_DONE ){
      snprintf(err, n, "cannot record settings: %s", sqlite3_errmsg(db));
      sqlite3_finalize(st);
      goto rollback;
    }
    sqlite3_finalize(st);
  }
  /* Folders last: if they cannot be made, the schema is rolled back. */
  if( lf_mkdirs(artifacts, err, n) || lf_artifacts_claim(db, artifacts, err, n) ) goto rollback;
  if( lf_txn_commit(db, txn, err, n) ) goto fail;
  *created = 1;
  free(canon); lf_settings_free(&s);
  return artifacts;
rollback:
  lf_txn_rollback(db, txn);
fail:
  free(canon); free(artifacts); free(existing);
  lf_settings_free(&s);
  return NULL;
}

/* Projects made by an earlier LabFlow lack the tables added since. The
** schema is idempotent (CREATE ... IF NOT EXISTS), so applying it again
** adds exactly those; schema_version then records the upgrade. */
int lf_project_upgrade(sqlite3 *db, char *err, size_t n){
  char e2[256];
  int is_project = lf_db_exists(db, "SELECT 1 FROM main.sqlite_schema WHERE name=?1", "lab_meta", e2, sizeof e2);
  if( is_project != 1 ) return 0;
  char *v = lf_db_text(db, "SELECT value FROM main.lab_meta WHERE key=?1", "schema_version", e2, sizeof e2);
  long have = v ? strtol(v, NULL, 10) : 0;
  free(v);
  if( have >= strtol(LF_SCHEMA_VERSION, NULL, 10) ) return 0;
  if( sqlite3_db_readonly(db, "main")==1 ){
    snprintf(err, n, "this project was made by an older LabFlow (schema %ld) and needs new tables, "
             "but the database is read-only: open it writable once (any LabFlow call upgrades it)", have);
    return -1;
  }
  /* A write that waits for other writers (lf_txn.h). */
  int txn = lf_txn_begin(db, err, n);
  if( txn < 0 ) return -1;
  if( lf_exec(db, lf_schema_sql, err, n)
   || lf_exec(db, "INSERT OR REPLACE INTO main.lab_meta(key, value) VALUES('schema_version', '"
                  LF_SCHEMA_VERSION "')", err, n) ){
    lf_txn_rollback(db, txn);
    return -1;
  }
  return lf_txn_commit(db, txn, err, n);
}

sqlite3_int64 lf_log_insert(sqlite3 *db, const char *called_at, char *err, size_t n){
  char now[32];
  lf_now_text(now, sizeof now);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "INSERT INTO main.lab_logs(called_at, created_time) VALUES(?1, ?2)", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, called_at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_DONE ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    return 0;
  }
  return sqlite3_last_insert_rowid(db);
}

sqlite3_int64 lf_log_ensure(sqlite3 *db, sqlite3_int64 *logid, int *created, char *err, size_t n){
  if( created ) *created = 0;
  /* The row may have been rolled back with the caller's transaction, or
  ** deleted with a call that changed nothing (lf_log_delete). */
  if( *logid ){
    sqlite3_stmt *st = NULL;
    int found = 0;
    if( sqlite3_prepare_v2(db, "SELECT 1 FROM main.lab_logs WHERE logid=?1", -1, &st, NULL)==SQLITE_OK ){
      sqlite3_bind_int64(st, 1, *logid);
      found = sqlite3_step(st)==SQLITE_ROW;
    }
    sqlite3_finalize(st);
    if( found ) return *logid;
  }
  char called_at[512], host[256], comm[64] = "?";
  FILE *f = fopen("/proc/self/comm", "r");
  if( f ){
    if( fgets(comm, sizeof comm, f) ) comm[strcspn(comm, "\n")] = 0;
    fclose(f);
  }
  if( gethostname(host, sizeof host) ) snprintf(host, sizeof host, "unknown");
  host[sizeof host - 1] = 0;
  snprintf(called_at, sizeof called_at, "%s pid %ld on %s", comm, (long)getpid(), host);
  char e2[512];
  int txn = lf_txn_begin(db, e2, sizeof e2);
  if( txn < 0 ){
    snprintf(err, n, "cannot record this connection in lab_logs: %s", e2);
    return 0;
  }
  sqlite3_int64 id = lf_log_insert(db, called_at, e2, sizeof e2);
  if( !id ){
    snprintf(err, n, "cannot record this connection in lab_logs: %s", e2);
    lf_txn_rollback(db, txn);
    return 0;
  }
  if( lf_txn_commit(db, txn, e2, sizeof e2) ){
    snprintf(err, n, "cannot record this connection in lab_logs: %s", e2);
    return 0;
  }
  *logid = id;
  if( created ) *created = 1;
  return id;
}

void lf_log_delete(sqlite3 *db, sqlite3_int64 logid){
  sqlite3_stmt *st = NULL;
  if( sqlite3_prepare_v2(db, "DELETE FROM main.lab_logs WHERE logid=?1", -1, &st, NULL)==SQLITE_OK ){
    sqlite3_bind_int64(st, 1, logid);
    sqlite3_step(st);
  }
  sqlite3_finalize(st);
}

int lf_project_check_wal(sqlite3 *db, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  char mode[16] = "";
  if( sqlite3_prepare_v2(db, "PRAGMA main.journal_mode", -1, &st, NULL)==SQLITE_OK && sqlite3_step(st)==SQLITE_ROW ){
    snprintf(mode, sizeof mode, "%s", (const char*)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  if( strcmp(mode, "wal")==0 ) return 0;
  snprintf(err, n, "the project database is not in WAL mode (journal_mode=%s); run "
           "PRAGMA journal_mode=WAL once, or reload LabFlow, which switches projects to WAL", mode);
  return -1;
}

int lf_project_use_wal(sqlite3 *db, int wait, char *err, size_t n){
  const char *f = sqlite3_db_filename(db, "main");
  if( !f || !f[0] ) return 0;   /* in memory or temp: one connection, no WAL */
  char e2[8];
  if( lf_project_check_wal(db, e2, sizeof e2)==0 ) return 0;
  /* Another process opening or initialising the same file may hold a
  ** lock for a moment: wait for it (lf_txn.h), as every LabFlow write. */
  double t0 = lf_now_unix();
  for(;;){
    int rc = sqlite3_exec(db, "PRAGMA main.journal_mode=WAL", NULL, NULL, NULL);
    if( rc==SQLITE_OK ) return 0;
    if( (rc & 0xff)==SQLITE_BUSY && wait && lf_now_unix() - t0 < LF_TXN_WAIT_SECONDS ){
      lf_txn_pause();
      continue;
    }
    if( (rc & 0xff)==SQLITE_BUSY ){
      snprintf(err, n, "cannot switch the database to WAL mode: another connection kept it locked for %d s (%s)",
               wait ? LF_TXN_WAIT_SECONDS : 0, sqlite3_errmsg(db));
    }else if( !sqlite3_get_autocommit(db) ){
      snprintf(err, n, "cannot switch the database to WAL mode inside a transaction (%s): COMMIT or ROLLBACK first",
               sqlite3_errmsg(db));
    }else{
      snprintf(err, n, "cannot switch the database to WAL mode (%s); call lab_init alone in its statement",
               sqlite3_errmsg(db));
    }
    return -1;
  }
}

void lf_project_open(sqlite3 *db){
  sqlite3_stmt *st = NULL;
  int is_project = 0;
  if( sqlite3_prepare_v2(db, "SELECT 1 FROM main.sqlite_schema WHERE name='lab_meta'", -1, &st, NULL)==SQLITE_OK ){
    is_project = sqlite3_step(st)==SQLITE_ROW;
  }
  sqlite3_finalize(st);
  if( !is_project || sqlite3_db_readonly(db, "main") != 0 ) return;
  char err[256];
  lf_project_use_wal(db, 0, err, sizeof err);
  /* A project of an earlier LabFlow gets the new tables now; if that is
  ** not possible here (a statement is running), the functions that need
  ** them try again. */
  lf_project_upgrade(db, err, sizeof err);
}
