/*
** lf_sweep.c — creating sweeps and running successive halving over their
** members (the model is described in lf_sweep.h).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lf_sweep.h"
#include "lf_db.h"
#include "lf_canon.h"
#include "lf_json_patch.h"
#include "lf_ppl.h"
#include "lf_pplid.h"
#include "lf_query.h"
#include "lf_space.h"
#include "lf_txn.h"

#define ERRLEN 1024

/* ==== creating a sweep ================================================ */

typedef struct member {
  char pplid[160];
  char *params;              /* canonical {path: value} */
  char *config;              /* canonical config */
  char hash[65];
  char *patch;               /* canonical merge patch from the base */
  int reused;
} member;

static void members_free(member *m, int count){
  for(int i=0; i<count && m; i++){
    free(m[i].params);
    free(m[i].config);
    free(m[i].patch);
  }
  free(m);
}

/* Builds and checks member i's config from the base and its parameters. */
static int build_member(sqlite3 *db, const lf_settings *s, const char *name, const cJSON *base,
                        const cJSON *set, int i, member *m, char *err, size_t n){
  char why[ERRLEN];
  int rc = -1;
  cJSON *cfg = cJSON_Duplicate(base, 1), *patch = NULL;
  m->params = lf_canon_json(set);
  if( !cfg || !m->params ){ snprintf(err, n, "out of memory"); goto done; }
  for(const cJSON *p = set->child; p; p = p->next){
    cJSON *v = cJSON_Duplicate(p, 1);
    if( !v ){ snprintf(err, n, "out of memory"); goto done; }
    if( lf_json_set(cfg, p->string, v, why, sizeof why) ){
      cJSON_Delete(v);
      snprintf(err, n, "space: %s", why);
      goto done;
    }
  }
  lf_pipeline_spec spec;
  if( lf_ppl_check_spec(db, s, cfg, &spec, NULL, NULL, why, sizeof why) ){
    snprintf(err, n, "member %d %.200s makes an invalid config: %s", i + 1, m->params, why);
    goto done;
  }
  lf_pipeline_spec_free(&spec);
  m->config = lf_canon_json(cfg);
  patch = lf_json_merge_diff(base, cfg);
  m->patch = patch ? lf_canon_json(patch) : NULL;
  if( !m->config || !m->patch || lf_config_identity_hash(cfg, m->hash) ){ snprintf(err, n, "out of memory"); goto done; }
  char *existing = lf_ppl_by_hash(db, m->hash, why, sizeof why);
  if( existing ){
    snprintf(m->pplid, sizeof m->pplid, "%s", existing);
    free(existing);
    m->reused = 1;
  }else if( why[0] ){
    snprintf(err, n, "%s", why);
    goto done;
  }else{
    snprintf(m->pplid, sizeof m->pplid, "%s-%d", name, i + 1);
    int ex = lf_ppl_exists(db, m->pplid, why, sizeof why);
    if( ex ){
      if( ex > 0 ) snprintf(err, n, "pipeline '%s' already exists with another config; choose another sweep name", m->pplid);
      else snprintf(err, n, "%s", why);
      goto done;
    }
  }
  rc = 0;
done:
  cJSON_Delete(cfg);
  cJSON_Delete(patch);
  return rc;
}

static int insert_rows(sqlite3 *db, const lf_sweep_request *req, const char *space_canon,
                       const member *m, int count, char *err, size_t n){
  char now[32];
  lf_now_text(now, sizeof now);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "INSERT INTO main.sweeps(name, base, space, method, n, seed, created) "
                              "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    int random = strcmp(req->method, "random")==0;
    sqlite3_bind_text(st, 1, req->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, req->base, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, space_canon, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, req->method, -1, SQLITE_STATIC);
    if( random ){ sqlite3_bind_int(st, 5, req->n); sqlite3_bind_int64(st, 6, req->seed); }
    sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
    rc = sqlite3_step(st)==SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
  }
  sqlite3_finalize(st);
  st = NULL;
  if( rc==SQLITE_OK ){
    rc = sqlite3_prepare_v2(db, "INSERT INTO main.sweep_members(sweep, member, pplid, params, reused) "
                            "VALUES(?1, ?2, ?3, ?4, ?5)", -1, &st, NULL);
  }
  for(int i=0; i<count && rc==SQLITE_OK; i++){
    sqlite3_bind_text(st, 1, req->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, i + 1);
    sqlite3_bind_text(st, 3, m[i].pplid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, m[i].params, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, m[i].reused);
    rc = sqlite3_step(st)==SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_OK ){
    snprintf(err, n, "cannot record sweep '%s': %s", req->name, sqlite3_errmsg(db));
    return -1;
  }
  return 0;
}

int lf_sweep_create(sqlite3 *db, const lf_settings *s, const lf_sweep_request *req,
                    int *nmembers, int *nreused, char *err, size_t n){
  char why[ERRLEN];
  lf_space sp;
  memset(&sp, 0, sizeof sp);
  cJSON *sets = NULL, *base = NULL;
  char *base_text = NULL, *space_canon = NULL;
  member *m = NULL;
  int count = 0, rc = -1;
  *nmembers = *nreused = 0;
  if( lf_pplid_check(req->name, -1, why, sizeof why) ){
    snprintf(err, n, "sweep name: %s", why);
    return -1;
  }
  if( strlen(req->name) > 120 ){
    snprintf(err, n, "sweep name is %zu characters; at most 120 (members are named <name>-<i>)", strlen(req->name));
    return -1;
  }
  int random = strcmp(req->method, "random")==0;
  if( !random && strcmp(req->method, "grid")!=0 ){
    snprintf(err, n, "method must be 'grid' or 'random', got '%.40s'", req->method);
    return -1;
  }
  if( lf_project_upgrade(db, err, n) ) return -1;
  int ex = lf_db_exists(db, "SELECT 1 FROM main.sweeps WHERE name=?1", req->name, why, sizeof why);
  if( ex ){
    if( ex > 0 ) snprintf(err, n, "sweep '%s' already exists (see ppl_sweep_status('%s')); choose another name",
                          req->name, req->name);
    else snprintf(err, n, "%s", why);
    return -1;
  }
  base_text = lf_ppl_config(db, req->base, why, sizeof why);
  if( !base_text ){ snprintf(err, n, "base: %s", why); goto done; }
  base = cJSON_Parse(base_text);
  if( !cJSON_IsObject(base) ){ snprintf(err, n, "base '%s' has a config that is not a JSON object", req->base); goto done; }
  if( lf_space_parse(req->space_json, &sp, err, n) ) goto done;
  sets = random ? lf_space_random(&sp, req->n, (uint64_t)req->seed, err, n) : lf_space_grid(&sp, err, n);
  if( !sets ) goto done;
  {
    cJSON *space = cJSON_Parse(req->space_json);
    space_canon = space ? lf_canon_json(space) : NULL;
    cJSON_Delete(space);
    if( !space_canon ){ snprintf(err, n, "out of memory"); goto done; }
  }
  count = cJSON_GetArraySize(sets);
  m = calloc((size_t)count, sizeof *m);
  if( !m ){ snprintf(err, n, "out of memory"); goto done; }
  /* Every member is checked before anything is written. */
  int i = 0;
  for(const cJSON *set = sets->child; set; set = set->next, i++){
    if( build_member(db, s, req->name, base, set, i, &m[i], err, n) ) goto done;
  }
  /* A write that waits for trainers' commits (lf_txn.h). */
  int txn = lf_txn_begin(db, err, n);
  if( txn < 0 ) goto done;
  for(i=0; i<count; i++){
    if( m[i].reused ) continue;
    if( lf_ppl_insert(db, m[i].pplid, m[i].config, m[i].hash, req->base, m[i].patch, err, n) ) goto rollback;
  }
  if( insert_rows(db, req, space_canon, m, count, err, n) ) goto rollback;
  if( lf_txn_commit(db, txn, err, n) ) goto done;
  *nmembers = count;
  for(i=0; i<count; i++) *nreused += m[i].reused;
  rc = 0;
  goto done;
rollback:
  lf_txn_rollback(db, txn);
done:
  members_free(m, count);
  cJSON_Delete(sets);
  cJSON_Delete(base);
  free(base_text);
  free(space_canon);
  lf_space_free(&sp);
  return rc;
}

/* ==== successive halving ============================================== */

/* The stored progress (sweeps.halving). */
typedef struct progress {
  int min_epochs, max_epochs, eta;
  int rung;                  /* current rung */
  int done;
  char winner[160];
} progress;

/* Epochs of rung k: min(min_epochs * eta^k, max_epochs). */
static int rung_epochs(const progress *g, int k){
  double e = g->min_epochs;
  for(int i=0; i<k && e < g->max_epochs; i++) e *= g->eta;
  return e < g->max_epochs ? (int)e : g->max_epochs;
}

static int final_rung(const progress *g){
  int k = 0;
  while( rung_epochs(g, k) < g->max_epochs ) k++;
  return k;
}

static char *progress_json(const progress *g){
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "min_epochs", g->min_epochs);
  cJSON_AddNumberToObject(o, "max_epochs", g->max_epochs);
  cJSON_AddNumberToObject(o, "eta", g->eta);
  cJSON_AddNumberToObject(o, "rung", g->rung);
  cJSON_AddBoolToObject(o, "done", g->done);
  if( g->winner[0] ) cJSON_AddStringToObject(o, "winner", g->winner);
  else cJSON_AddNullToObject(o, "winner");
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

static int int_field(const cJSON *o, const char *k, int *out){
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if( !cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9 ) return -1;
  *out = (int)v->valuedouble;
  return 0;
}

/* Reads sweeps.halving; 1 if present, 0 if the sweep never ran halving,
** -1 with err (unknown sweep, damaged progress). */
static int read_progress(sqlite3 *db, const char *sweep, progress *g, char *err, size_t n){
  memset(g, 0, sizeof *g);
  sqlite3_stmt *st = NULL;
  if( sqlite3_prepare_v2(db, "SELECT halving FROM main.sweeps WHERE name=?1", -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
  }
  sqlite3_bind_text(st, 1, sweep, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if( rc != SQLITE_ROW ){
    if( rc==SQLITE_DONE ) snprintf(err, n, "no sweep '%s' in this project (make one with ppl_sweep)", sweep);
    else snprintf(err, n, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
  }
  const char *text = (const char*)sqlite3_column_text(st, 0);
  cJSON *o = text ? cJSON_Parse(text) : NULL;
  sqlite3_finalize(st);
  if( !text ) return 0;
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "winner");
  if( !cJSON_IsObject(o) || int_field(o, "min_epochs", &g->min_epochs) || int_field(o, "max_epochs", &g->max_epochs)
   || int_field(o, "eta", &g->eta) || int_field(o, "rung", &g->rung) || g->eta < 2 || g->min_epochs < 1 ){
    cJSON_Delete(o);
    snprintf(err, n, "sweep '%s' has damaged halving progress (sweeps.halving); set it to NULL to start over", sweep);
    return -1;
  }
  g->done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "done"));
  if( cJSON_IsString(w) ) snprintf(g->winner, sizeof g->winner, "%s", w->valuestring);
  cJSON_Delete(o);
  return 1;
}

static int write_progress(sqlite3 *db, const char *sweep, const progress *g, char *err, size_t n){
  char *json = progress_json(g);
  sqlite3_stmt *st = NULL;
  int rc = json ? sqlite3_prepare_v2(db, "UPDATE main.sweeps SET halving=?2 WHERE name=?1", -1, &st, NULL) : SQLITE_NOMEM;
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, sweep, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
    rc = sqlite3_step(st)==SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
  }
  sqlite3_finalize(st);
  free(json);
  if( rc != SQLITE_OK ){ snprintf(err, n, "cannot record halving progress: %s", sqlite3_errmsg(db)); return -1; }
  return 0;
}

/* A live member of the race. */
typedef struct racer {
  char pplid[160];
  int last_epoch;
  int has_score;
  double score;              /* best monitor value over epochs 1..r_k */
} racer;

/* The sweep's live (not pruned) members in member order, with their last
** epochs. */
static int live_members(sqlite3 *db, const char *sweep, racer **out, int *count, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  *out = NULL;
  *count = 0;
  if( sqlite3_prepare_v2(db, "SELECT m.pplid, s.last_epoch, p.pplid IS NOT NULL FROM main.sweep_members m "
                         "LEFT JOIN main.ppl_state s ON s.pplid=m.pplid LEFT JOIN main.ppls p ON p.pplid=m.pplid "
                         "WHERE m.sweep=?1 AND m.pruned_rung IS NULL ORDER BY m.member", -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
  }
  sqlite3_bind_text(st, 1, sweep, -1, SQLITE_STATIC);
  int rc, cap = 0;
  while( (rc = sqlite3_step(st))==SQLITE_ROW ){
    const char *id = (const char*)sqlite3_column_text(st, 0);
    if( !sqlite3_column_int(st, 2) ){
      snprintf(err, n, "member '%s' of sweep '%s' is no longer an active pipeline (archived or deleted); "
               "unarchive it, or make a new sweep", id ? id : "?", sweep);
      goto fail;
    }
    if( *count == cap ){
      cap = cap ? 2*cap : 16;
      racer *v = realloc(*out, sizeof *v * (size_t)cap);
      if( !v ){ snprintf(err, n, "out of memory"); goto fail; }
      *out = v;
    }
    racer *r = &(*out)[(*count)++];
    memset(r, 0, sizeof *r);
    snprintf(r->pplid, sizeof r->pplid, "%s", id);
    r->last_epoch = sqlite3_column_int(st, 1);
  }
  if( rc != SQLITE_DONE ){ snprintf(err, n, "%s", sqlite3_errmsg(db)); goto fail; }
  sqlite3_finalize(st);
  return 0;
fail:
  sqlite3_finalize(st);
  free(*out);
  *out = NULL;
  *count = 0;
  return -1;
}

/* qsort takes no context: rank() sets the strategy's direction here, per
** thread, just before sorting. */
static __thread int rank_mode_max;

static int compare_racers(const void *x, const void *y){
  const racer *a = x, *b = y;
  if( a->has_score != b->has_score ) return a->has_score ? -1 : 1;
  if( a->has_score && a->score != b->score ){
    int a_better = rank_mode_max ? a->score > b->score : a->score < b->score;
    return a_better ? -1 : 1;
  }
  return strcmp(a->pplid, b->pplid);
}

/* Sorts racers best first by their best monitor value over epochs
** 1..epochs (no value last, ties by pplid). */
static int rank(sqlite3 *db, const lf_settings *s, racer *r, int count, int epochs, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  const char *sql = s->mode_max
    ? "SELECT max(value) FROM main.history WHERE pplid=?1 AND name=?2 AND epoch<=?3"
    : "SELECT min(value) FROM main.history WHERE pplid=?1 AND name=?2 AND epoch<=?3";
  if( sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
  }
  for(int i=0; i<count; i++){
    sqlite3_bind_text(st, 1, r[i].pplid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->monitor, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, epochs);
    if( sqlite3_step(st)==SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ){
      r[i].has_score = 1;
      r[i].score = sqlite3_column_double(st, 0);
    }
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  rank_mode_max = s->mode_max;
  qsort(r, (size_t)count, sizeof *r, compare_racers);
  return 0;
}

/* Ranks the live members of a rung whose training is complete and commits
** the outcome: the losers pruned, the next rung (or the winner). */
static int settle(sqlite3 *db, const lf_settings *s, const char *sweep, progress *g,
                  racer *r, int count, char *err, size_t n){
  int epochs = rung_epochs(g, g->rung);
  if( rank(db, s, r, count, epochs, err, n) ) return -1;
  progress next = *g;
  int keep = count;
  if( epochs >= g->max_epochs ){
    next.done = 1;
    snprintf(next.winner, sizeof next.winner, "%s", r[0].pplid);
  }else{
    keep = count / g->eta;
    if( keep < 1 ) keep = 1;
    next.rung = g->rung + 1;
  }
  if( lf_txn_begin_top(db, err, n) < 0 ) return -1;
  /* Another process (a second ppl_halving, a rank of a runner) may have
  ** settled this rung while we ranked: then take its outcome. */
  progress now;
  if( read_progress(db, sweep, &now, err, n) < 0 ) goto rollback;
  if( now.rung != g->rung || now.done ){
    char e2[64];
    lf_exec(db, "ROLLBACK", e2, sizeof e2);
    *g = now;
    return 0;
  }
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "UPDATE main.sweep_members SET pruned_rung=?3, pruned_epochs=?4 "
                              "WHERE sweep=?1 AND pplid=?2", -1, &st, NULL);
  for(int i=keep; i<count && rc==SQLITE_OK; i++){
    sqlite3_bind_text(st, 1, sweep, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r[i].pplid, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, g->rung);
    sqlite3_bind_int(st, 4, epochs);
    rc = sqlite3_step(st)==SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_OK ){
    snprintf(err, n, "cannot record the pruned members: %s", sqlite3_errmsg(db));
    goto rollback;
  }
  if( write_progress(db, sweep, &next, err, n) ) goto rollback;
  if( lf_exec(db, "COMMIT", err, n) ) goto rollback;
  *g = next;
  return 0;
rollback:
  {
    char e2[64];
    lf_exec(db, "ROLLBACK", e2, sizeof e2);
  }
  return -1;
}

void lf_halving_work_free(lf_halving_work *w){
  for(int i=0; i<w->npending; i++) free(w->pending[i]);
  free(w->pending);
  free(w->more);
  memset(w, 0, sizeof *w);
}

/* Loads the progress, or records the schedule on a first call. */
static int start_progress(sqlite3 *db, const lf_halving_params *p, progress *g, char *err, size_t n){
  int have = read_progress(db, p->sweep, g, err, n);
  if( have < 0 ) return -1;
  int same = have && g->min_epochs == p->min_epochs && g->max_epochs == p->max_epochs && g->eta == p->eta;
  if( same ) return 0;
  /* Before the first rung is settled nothing depends on the schedule: a
  ** call with another one (after a first call failed, say) replaces it. */
  if( have && (g->rung > 0 || g->done) ){
    snprintf(err, n, "sweep '%s' is being halved with min_epochs %d, max_epochs %d, eta %d; call "
             "ppl_halving('%s', %d, %d, %d) to continue it, or make a new sweep for another schedule",
             p->sweep, g->min_epochs, g->max_epochs, g->eta, p->sweep, g->min_epochs, g->max_epochs, g->eta);
    return -1;
  }
  memset(g, 0, sizeof *g);
  g->min_epochs = p->min_epochs;
  g->max_epochs = p->max_epochs;
  g->eta = p->eta;
  return write_progress(db, p->sweep, g, err, n);
}

int lf_halving_step(sqlite3 *db, const lf_halving_params *p, lf_halving_work *work,
                    char *err, size_t n){
  memset(work, 0, sizeof *work);
  if( p->min_epochs < 1 || p->max_epochs < p->min_epochs || p->eta < 2 ){
    snprintf(err, n, "need 1 <= min_epochs <= max_epochs and eta >= 2 (got %d, %d, %d)",
             p->min_epochs, p->max_epochs, p->eta);
    return -1;
  }
  lf_settings s;
  if( lf_project_settings(db, &s, err, n) ) return -1;
  progress g;
  racer *r = NULL;
  int count = 0, rc = -1;
  /* The members are checked before the schedule is recorded, so a call
  ** refused for them changes nothing. */
  err[0] = 0;
  if( lf_db_exists(db, "SELECT 1 FROM main.sweeps WHERE name=?1", p->sweep, err, n) != 1 ){
    if( !err[0] || strstr(err, "no such table") ) snprintf(err, n, "no sweep '%s' in this project (make one with ppl_sweep)", p->sweep);
    goto done;
  }
  if( live_members(db, p->sweep, &r, &count, err, n) ) goto done;
  if( start_progress(db, p, &g, err, n) ) goto done;
  while( !g.done ){
    free(r);
    r = NULL;
    if( live_members(db, p->sweep, &r, &count, err, n) ) goto done;
    if( count==0 ){ snprintf(err, n, "sweep '%s' has no members left to train", p->sweep); goto done; }
    int epochs = rung_epochs(&g, g.rung);
    for(int i=0; i<count; i++){
      if( r[i].last_epoch >= epochs ) continue;
      if( !work->pending ){
        work->pending = calloc((size_t)count, sizeof(char*));
        work->more = calloc((size_t)count, sizeof(int));
        if( !work->pending || !work->more ){ snprintf(err, n, "out of memory"); goto done; }
      }
      work->pending[work->npending] = strdup(r[i].pplid);
      if( !work->pending[work->npending] ){ snprintf(err, n, "out of memory"); goto done; }
      work->more[work->npending++] = epochs - r[i].last_epoch;
    }
    if( work->npending ){
      work->rung = g.rung;
      work->epochs = epochs;
      rc = 1;
      goto done;
    }
    if( settle(db, &s, p->sweep, &g, r, count, err, n) ) goto done;
  }
  rc = 0;
done:
  if( rc < 0 ) lf_halving_work_free(work);
  free(r);
  lf_settings_free(&s);
  return rc;
}

/* JSON array of the pplids of a rung's members (pruned at or after it). */
static cJSON *rung_list(sqlite3 *db, const char *sweep, int rung, int after, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  const char *sql = after
    ? "SELECT pplid FROM main.sweep_members WHERE sweep=?1 AND (pruned_rung IS NULL OR pruned_rung>?2) ORDER BY member"
    : "SELECT pplid FROM main.sweep_members WHERE sweep=?1 AND (pruned_rung IS NULL OR pruned_rung>=?2) ORDER BY member";
  if( sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return NULL;
  }
  sqlite3_bind_text(st, 1, sweep, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, rung);
  cJSON *a = cJSON_CreateArray();
  while( a && sqlite3_step(st)==SQLITE_ROW ){
    cJSON_AddItemToArray(a, cJSON_CreateString((const char*)sqlite3_column_text(st, 0)));
  }
  sqlite3_finalize(st);
  if( !a ) snprintf(err, n, "out of memory");
  return a;
}

char *lf_halving_summary(sqlite3 *db, const char *sweep, const char *ended,
                         int epochs_trained, char *err, size_t n){
  progress g;
  lf_settings s;
  int have = read_progress(db, sweep, &g, err, n);
  if( have < 0 ) return NULL;
  if( !have ){ snprintf(err, n, "sweep '%s' has not been halved yet", sweep); return NULL; }
  if( lf_project_settings(db, &s, err, n) ) return NULL;
  cJSON *o = cJSON_CreateObject();
  char *out = NULL;
  sqlite3_stmt *st = NULL;
  cJSON_AddStringToObject(o, "sweep", sweep);
  cJSON_AddStringToObject(o, "ended", ended);
  if( g.done ) cJSON_AddStringToObject(o, "winner", g.winner);
  else cJSON_AddNullToObject(o, "winner");
  cJSON_AddStringToObject(o, "monitor", s.monitor);
  cJSON_AddStringToObject(o, "mode", s.mode_max ? "max" : "min");
  if( g.done ){
    /* The winner's best value within the budget, and the epoch of it. */
    const char *sql = s.mode_max
      ? "SELECT epoch, value FROM main.history WHERE pplid=?1 AND name=?2 AND epoch<=?3 AND value IS NOT NULL ORDER BY value DESC, epoch LIMIT 1"
      : "SELECT epoch, value FROM main.history WHERE pplid=?1 AND name=?2 AND epoch<=?3 AND value IS NOT NULL ORDER BY value ASC, epoch LIMIT 1";
    if( sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ){ snprintf(err, n, "%s", sqlite3_errmsg(db)); goto done; }
    sqlite3_bind_text(st, 1, g.winner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s.monitor, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, g.max_epochs);
    if( sqlite3_step(st)==SQLITE_ROW ){
      cJSON_AddNumberToObject(o, "value", sqlite3_column_double(st, 1));
      cJSON_AddNumberToObject(o, "best_epoch", sqlite3_column_int(st, 0));
    }else{
      cJSON_AddNullToObject(o, "value");
      cJSON_AddNullToObject(o, "best_epoch");
    }
    sqlite3_finalize(st);
    st = NULL;
  }
  cJSON *rungs = cJSON_AddArrayToObject(o, "rungs");
  int last = g.done ? final_rung(&g) : g.rung;
  for(int k=0; k<=last && k<=final_rung(&g); k++){
    cJSON *rg = cJSON_CreateObject();
    cJSON_AddItemToArray(rungs, rg);
    cJSON_AddNumberToObject(rg, "rung", k);
    cJSON_AddNumberToObject(rg, "epochs", rung_epochs(&g, k));
    cJSON *members = rung_list(db, sweep, k, 0, err, n);
    if( !members ) goto done;
    cJSON_AddItemToObject(rg, "members", members);
    if( k < g.rung || g.done ){
      cJSON *kept = NULL;
      if( g.done && k==last ){
        kept = cJSON_CreateArray();
        cJSON_AddItemToArray(kept, cJSON_CreateString(g.winner));
      }else{
        kept = rung_list(db, sweep, k, 1, err, n);
      }
      if( !kept ) goto done;
      cJSON_AddItemToObject(rg, "kept", kept);
    }else{
      cJSON_AddNullToObject(rg, "kept");
    }
  }
  /* Epochs the schedule gives each member: a pruned one those of its rung,
  ** a live one those it has reached within the current rung's budget. */
  if( sqlite3_prepare_v2(db, "SELECT m.pruned_epochs, coalesce(s.last_epoch, 0) FROM main.sweep_members m "
                         "LEFT JOIN main.ppl_state s ON s.pplid=m.pplid WHERE m.sweep=?1", -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    goto done;
  }
  sqlite3_bind_text(st, 1, sweep, -1, SQLITE_STATIC);
  long spent = 0, nmembers = 0;
  int budget = g.done ? g.max_epochs : rung_epochs(&g, g.rung);
  while( sqlite3_step(st)==SQLITE_ROW ){
    nmembers++;
    if( sqlite3_column_type(st, 0) != SQLITE_NULL ) spent += sqlite3_column_int(st, 0);
    else spent += sqlite3_column_int(st, 1) < budget ? sqlite3_column_int(st, 1) : budget;
  }
  sqlite3_finalize(st);
  st = NULL;
  cJSON_AddNumberToObject(o, "members", (double)nmembers);
  cJSON_AddNumberToObject(o, "epochs_spent", (double)spent);
  cJSON_AddNumberToObject(o, "epochs_full_grid", (double)nmembers * g.max_epochs);
  cJSON_AddNumberToObject(o, "epochs_trained", epochs_trained);
  if( !g.done ){
    cJSON_AddStringToObject(o, "message", "the search is not finished: call ppl_halving again with the same "
                            "arguments to continue where it stopped");
  }
  out = cJSON_PrintUnformatted(o);
  if( !out ) snprintf(err, n, "out of memory");
done:
  sqlite3_finalize(st);
  cJSON_Delete(o);
  lf_settings_free(&s);
  return out;
}

/* The bookkeeping connection: the caller's file, WAL, waits for trainers'
** commits instead of failing. */
static sqlite3 *open_private(sqlite3 *caller, char *err, size_t n){
  const char *file = sqlite3_db_filename(caller, "main");
  if( !file || !file[0] ){
    snprintf(err, n, "halving needs a database file (an in-memory database cannot be shared with the trainer)");
    return NULL;
  }
  if( sqlite3_txn_state(caller, "main")==SQLITE_TXN_WRITE && lf_txn_in_writing_statement(caller) ){
    snprintf(err, n, "cannot run inside CREATE TABLE ... AS SELECT on the project's database: that statement "
             "holds the database's write lock until it ends, and halving commits its progress and each epoch "
             "through its own connections, so it would wait for it. Create a TEMP table instead "
             "(CREATE TEMP TABLE t AS SELECT ppl_halving(...) AS summary)");
    return NULL;
  }
  if( sqlite3_txn_state(caller, "main")==SQLITE_TXN_WRITE ){
    snprintf(err, n, "this connection holds an open write transaction; halving commits its progress and each "
             "epoch through its own connections. COMMIT (or ROLLBACK) first, and call ppl_halving outside "
             "BEGIN ... COMMIT");
    return NULL;
  }
  sqlite3 *db = NULL;
  if( sqlite3_open_v2(file, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ){
    snprintf(err, n, "cannot open %s: %s", file, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, 30000);
  if( lf_project_upgrade(db, err, n) ){ sqlite3_close(db); return NULL; }
  return db;
}

char *lf_halving_run(sqlite3 *caller, const lf_halving_params *p,
                     lf_halving_trainer train, void *train_arg, char *err, size_t n){
  sqlite3 *db = open_private(caller, err, n);
  if( !db ) return NULL;
  char *out = NULL;
  const char *ended = "finished";
  int trained = 0;
  lf_halving_work w;
  memset(&w, 0, sizeof w);
  for(;;){
    int r = lf_halving_step(db, p, &w, err, n);
    if( r < 0 ) goto done;
    if( r==0 ) break;
    for(int i=0; i<w.npending; i++){
      char why[ERRLEN];
      char *summary = train(train_arg, w.pending[i], w.epochs, why, sizeof why);
      if( !summary ){
        snprintf(err, n, "training member '%s' (rung %d, to epoch %d): %s", w.pending[i], w.rung, w.epochs, why);
        goto done;
      }
      cJSON *o = cJSON_Parse(summary);
      const cJSON *how = cJSON_GetObjectItemCaseSensitive(o, "ended");
      const cJSON *run = cJSON_GetObjectItemCaseSensitive(o, "epochs_run");
      int ran = cJSON_IsNumber(run) ? (int)run->valuedouble : 0;
      trained += ran;
      int stopped = cJSON_IsString(how) && (strcmp(how->valuestring, "stop_requested")==0
                                            || strcmp(how->valuestring, "interrupted")==0);
      if( stopped ) ended = strcmp(how->valuestring, "interrupted")==0 ? "interrupted" : "stop_requested";
      int stuck = !stopped && ran < w.more[i];
      if( stuck ){
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message");
        snprintf(err, n, "member '%s' trained %d of the %d epochs rung %d needs (ended: %s%s%s)", w.pending[i],
                 ran, w.more[i], w.rung, cJSON_IsString(how) ? how->valuestring : "?",
                 cJSON_IsString(msg) ? ", " : "", cJSON_IsString(msg) ? msg->valuestring : "");
      }
      cJSON_Delete(o);
      free(summary);
      if( stuck ) goto done;
      if( stopped ) goto summarise;
    }
    lf_halving_work_free(&w);
  }
summarise:
  out = lf_halving_summary(db, p->sweep, ended, trained, err, n);
done:
  lf_halving_work_free(&w);
  sqlite3_close(db);
  return out;
}
