/*
** lf_archive.c — archive, unarchive, delete and clean pipelines, and the
** shared machinery: pplid lists, the all-or-nothing transaction and
** undoable file moves (see lf_archive.h).
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "lf_archive.h"
#include "lf_db.h"
#include "lf_ckpt.h"
#include "lf_claim.h"
#include "lf_journal.h"
#include "lf_ppl.h"
#include "lf_pplid.h"
#include "lf_ppl_tables.h"
#include "lf_txn.h"
#include "lf_util.h"

/* ---- small helpers ------------------------------------------------------ */


void lf_art_items(const char *pplid, char rel[LF_ART_ITEMS][200]){
  snprintf(rel[0], 200, "Weights/%s", pplid);
  snprintf(rel[1], 200, "Gradients/%s", pplid);
  snprintf(rel[2], 200, "Configs/%s.json", pplid);
  snprintf(rel[3], 200, "Histories/%s.csv", pplid);
  snprintf(rel[4], 200, "Quicks/%s.json", pplid);
}

/* ---- pplid lists -------------------------------------------------------- */

int lf_pplist_has(const lf_pplist *l, const char *id){
  for(int i=0; i<l->n; i++) if( strcmp(l->ids[i], id)==0 ) return 1;
  return 0;
}

int lf_pplist_add(lf_pplist *l, const char *id){
  if( lf_pplist_has(l, id) ) return 0;
  char **ids = realloc(l->ids, sizeof(char*) * (size_t)(l->n + 1));
  if( !ids ) return -1;
  l->ids = ids;
  l->ids[l->n] = strdup(id);
  if( !l->ids[l->n] ) return -1;
  l->n++;
  return 0;
}

void lf_pplist_free(lf_pplist *l){
  for(int i=0; i<l->n; i++) free(l->ids[i]);
  free(l->ids);
  l->ids = NULL;
  l->n = 0;
}

int lf_pplist_parse(const char *text, lf_pplist *out, char *err, size_t n){
  memset(out, 0, sizeof *out);
  const char *p = text;
  while( *p==' ' || *p=='\t' || *p=='\n' || *p=='\r' ) p++;
  if( *p != '[' ){
    if( lf_pplid_check(text, -1, err, n) ) return -1;
    if( lf_pplist_add(out, text) ){ snprintf(err, n, "out of memory"); return -1; }
    return 0;
  }
  cJSON *a = cJSON_Parse(text);
  if( !cJSON_IsArray(a) ){
    cJSON_Delete(a);
    snprintf(err, n, "ppls must be a pplid or a JSON array of pplids; '%.60s' is not valid JSON", text);
    return -1;
  }
  int i = 0;
  for(const cJSON *e = a->child; e; e = e->next, i++){
    if( !cJSON_IsString(e) ){
      snprintf(err, n, "ppls[%d] must be a pplid (text)", i);
      goto fail;
    }
    if( lf_pplid_check(e->valuestring, -1, err, n) ) goto fail;
    if( lf_pplist_add(out, e->valuestring) ){ snprintf(err, n, "out of memory"); goto fail; }
  }
  cJSON_Delete(a);
  return 0;
fail:
  cJSON_Delete(a);
  lf_pplist_free(out);
  return -1;
}

int lf_pplist_all(sqlite3 *db, lf_pplist *out, char *err, size_t n){
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = NULL;
  if( sqlite3_prepare_v2(db, "SELECT pplid FROM main.ppls ORDER BY pplid", -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    return -1;
  }
  int rc;
  while( (rc = sqlite3_step(st))==SQLITE_ROW ){
    const char *id = lf_pplid_column(st, 0, "ppls", err, n);
    if( !id ){ rc = SQLITE_MISMATCH; break; }
    if( lf_pplist_add(out, id) ){
      snprintf(err, n, "out of memory");
      rc = SQLITE_NOMEM;
      break;
    }
  }
  if( rc != SQLITE_DONE ){
    if( rc != SQLITE_NOMEM && rc != SQLITE_MISMATCH ) snprintf(err, n, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    lf_pplist_free(out);
    return -1;
  }
  sqlite3_finalize(st);
  return 0;
}

/* ---- project ------------------------------------------------------------ */

int lf_proj_open(sqlite3 *db, lf_proj *p, char *err, size_t n){
  memset(p, 0, sizeof *p);
  if( lf_project_upgrade(db, err, n) || lf_project_settings(db, &p->s, err, n) ) return -1;
  p->art = lf_project_artifacts(db, &p->s, err, n);
  if( !p->art ){ lf_settings_free(&p->s); return -1; }
  return 0;
}

void lf_proj_close(lf_proj *p){
  free(p->art);
  lf_settings_free(&p->s);
  memset(p, 0, sizeof *p);
}

/* ---- transaction -------------------------------------------------------- */

int lf_hk_begin(sqlite3 *db, char *err, size_t n){
  if( !sqlite3_get_autocommit(db) ){
    snprintf(err, n, "cannot run inside a transaction (files move with the commit, and a later "
             "ROLLBACK could not bring them back): COMMIT or ROLLBACK first");
    return -1;
  }
  /* What a killed housekeeping call left is finished first; another
  ** process's operation in progress is waited for. */
  if( lf_journal_settle(db, LF_TXN_WAIT_SECONDS, err, n) < 0 ) return -1;
  return lf_txn_begin_top(db, err, n) < 0 ? -1 : 0;
}

int lf_hk_commit(sqlite3 *db, char *err, size_t n){
  char e2[512];
  lf_test_kill_point("hk_before_commit");
  if( lf_exec(db, "COMMIT", e2, sizeof e2) ){
    snprintf(err, n, "cannot commit: %s", e2);
    return -1;
  }
  return 0;
}

int lf_hk_finish(lf_journal *j, const char *what, char *err, size_t n){
  char e2[1024];
  if( lf_journal_apply(j, e2, sizeof e2) ){
    snprintf(err, n, "%s, but a file step failed: %s (the next LabFlow call on this project "
             "retries it)", what, e2);
    return -1;
  }
  return 0;
}

void lf_hk_rollback(sqlite3 *db){
  if( !sqlite3_get_autocommit(db) ) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int lf_hk_not_running(sqlite3 *db, const char *pplid, char *err, size_t n){
  sqlite3_int64 logid = lf_claim_running(db, pplid, err, n);
  if( logid < 0 ) return -1;
  if( logid > 0 ){
    snprintf(err, n, "pipeline '%s' is running (logid %lld): stop it with ppl_stop('%s') first",
             pplid, (long long)logid, pplid);
    return -1;
  }
  return 0;
}

/* ---- rows --------------------------------------------------------------- */


/* Runs sql with ?1 = text; 0 or -1 with err. */
static int exec1(sqlite3 *db, const char *sql, const char *arg, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if( rc==SQLITE_OK ){
    if( arg ) sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
  }
  if( rc != SQLITE_DONE && rc != SQLITE_ROW ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
  }
  sqlite3_finalize(st);
  return 0;
}

/* 1/0/-1: is pplid in ppls (archived = 0) or archived_ppls (archived = 1)? */
static int ppl_in(sqlite3 *db, const char *pplid, int archived, char *err, size_t n){
  return lf_db_exists(db, archived ? "SELECT 1 FROM main.archived_ppls WHERE pplid=?1"
                                   : "SELECT 1 FROM main.ppls WHERE pplid=?1", pplid, err, n);
}

/* Moves a pipeline's rows between the active and the archive tables. */
static int move_rows(sqlite3 *db, const char *pplid, int to_archive, char *err, size_t n){
  for(int i=0; i<LF_PPL_NTABLES; i++){
    const lf_ppl_table *t = &lf_ppl_tables[i];
    const char *src = to_archive ? "" : "archived_", *dst = to_archive ? "archived_" : "";
    char *ins = t->rowid
      ? lf_strf("INSERT INTO main.%s%s(rowid, %s) SELECT CASE WHEN EXISTS(SELECT 1 FROM main.%s%s d "
             "WHERE d.rowid=s.rowid) THEN NULL ELSE s.rowid END, %s FROM main.%s%s s WHERE %s=?1 ORDER BY s.rowid",
             dst, t->name, t->cols, dst, t->name, t->cols, src, t->name, t->key)
      : lf_strf("INSERT INTO main.%s%s(%s) SELECT %s FROM main.%s%s WHERE %s=?1",
             dst, t->name, t->cols, t->cols, src, t->name, t->key);
    char *del = lf_strf("DELETE FROM main.%s%s WHERE %s=?1", src, t->name, t->key);
    int rc = (!ins || !del) ? (snprintf(err, n, "out of memory"), -1)
           : (exec1(db, ins, pplid, err, n) || exec1(db, del, pplid, err, n)) ? -1 : 0;
    free(ins);
    free(del);
    if( rc ) return -1;
  }
  return 0;
}

/* Deletes a pipeline's rows from the active (prefix "") or archive tables. */
static int delete_rows(sqlite3 *db, const char *prefix, const char *pplid, char *err, size_t n){
  for(int i=0; i<LF_PPL_NTABLES; i++){
    char *del = lf_strf("DELETE FROM main.%s%s WHERE %s=?1", prefix, lf_ppl_tables[i].name, lf_ppl_tables[i].key);
    if( !del ){ snprintf(err, n, "out of memory"); return -1; }
    int rc = exec1(db, del, pplid, err, n);
    free(del);
    if( rc ) return -1;
  }
  return 0;
}

/* ---- archive / unarchive ------------------------------------------------ */

/* Paths of the artifacts of ids that exist at `from_root`, with their
** destinations under `to_root`; refuses destinations that exist. */
typedef struct file_plan {
  char **from, **to;
  int n;
} file_plan;

static void plan_free(file_plan *p){
  for(int i=0; i<p->n; i++){ free(p->from[i]); free(p->to[i]); }
  free(p->from);
  free(p->to);
  memset(p, 0, sizeof *p);
}

/* After the plan's files left their folders: each folder left empty goes,
** and its parents up to (not including) art when they empty too. */
static int journal_emptied_folders(lf_journal *j, const file_plan *p, char *err, size_t n){
  for(int i=0; i<p->n; i++){
    char *d = strdup(p->from[i]);
    if( !d ){ snprintf(err, n, "out of memory"); return -1; }
    char *slash = strrchr(d, '/');
    if( slash ) *slash = 0;
    int rc = lf_journal_rmdir(j, d, err, n);
    free(d);
    if( rc ) return -1;
  }
  return 0;
}

static int plan_files(file_plan *p, const lf_pplist *ids, const char *from_root,
                      const char *to_root, const char *verb, char *err, size_t n){
  memset(p, 0, sizeof *p);
  size_t cap = (size_t)ids->n * LF_ART_ITEMS + 1;
  p->from = calloc(cap, sizeof(char*));
  p->to = calloc(cap, sizeof(char*));
  if( !p->from || !p->to ){ snprintf(err, n, "out of memory"); return -1; }
  for(int i=0; i<ids->n; i++){
    char rel[LF_ART_ITEMS][200];
    lf_art_items(ids->ids[i], rel);
    for(int k=0; k<LF_ART_ITEMS; k++){
      char *f = lf_path_join(from_root, rel[k]);
      char *t = to_root ? lf_path_join(to_root, rel[k]) : strdup("");
      if( !f || !t ){ free(f); free(t); snprintf(err, n, "out of memory"); return -1; }
      if( !lf_path_exists(f) ){ free(f); free(t); continue; }
      if( to_root && lf_path_exists(t) ){
        snprintf(err, n, "cannot %s '%s': %s already exists (move it away first)", verb, ids->ids[i], t);
        free(f); free(t);
        return -1;
      }
      p->from[p->n] = f;
      p->to[p->n] = t;
      p->n++;
    }
  }
  return 0;
}

/* Checks that unarchiving ids collides with no active pipeline and with
** no other pipeline of the same call. */
static int check_unarchive(sqlite3 *db, const lf_pplist *ids, char *err, size_t n){
  char e2[512];
  for(int i=0; i<ids->n; i++){
    const char *id = ids->ids[i];
    int in_arch = ppl_in(db, id, 1, err, n);
    if( in_arch < 0 ) return -1;
    int in_act = ppl_in(db, id, 0, err, n);
    if( in_act < 0 ) return -1;
    if( !in_arch ){
      if( in_act ) snprintf(err, n, "pipeline '%s' is not archived", id);
      else snprintf(err, n, "no archived pipeline '%s' in this project", id);
      return -1;
    }
    if( in_act ){
      snprintf(err, n, "cannot unarchive '%s': an active pipeline has the same pplid (a project of an "
               "earlier LabFlow let ppl_new reuse it); move the active one out of the project first "
               "(SELECT ppl_transfer('%s', 'export', 'move', '%s-active.lfbundle')), or delete the archived "
               "one (ppl_delete('%s'))", id, id, id, id);
      return -1;
    }
    char *hash = lf_db_text(db, "SELECT config_hash FROM main.archived_ppls WHERE pplid=?1", id, err, n);
    if( !hash ){ if( !err[0] ) snprintf(err, n, "archived pipeline '%s' has no row", id); return -1; }
    char *other = lf_db_text(db, "SELECT pplid FROM main.ppls WHERE config_hash=?1", hash, e2, sizeof e2);
    if( other ){
      snprintf(err, n, "cannot unarchive '%s': active pipeline '%s' has the same configuration "
               "(archive '%s' first)", id, other, other);
      free(other); free(hash);
      return -1;
    }
    if( e2[0] ){ snprintf(err, n, "%s", e2); free(hash); return -1; }
    for(int j=0; j<i; j++){
      char *h2 = lf_db_text(db, "SELECT config_hash FROM main.archived_ppls WHERE pplid=?1", ids->ids[j], e2, sizeof e2);
      int same = h2 && strcmp(h2, hash)==0;
      free(h2);
      if( same ){
        snprintf(err, n, "cannot unarchive '%s' and '%s' together: they have the same configuration",
                 ids->ids[j], id);
        free(hash);
        return -1;
      }
    }
    free(hash);
  }
  return 0;
}

int lf_archive(sqlite3 *db, const lf_pplist *ids, int reverse, char *err, size_t n){
  lf_proj pj;
  if( lf_proj_open(db, &pj, err, n) ) return -1;
  char *arch = lf_path_join(pj.art, "Archived");
  file_plan plan = {0};
  lf_journal jr;
  memset(&jr, 0, sizeof jr);
  int result = -1;
  if( !arch ){ snprintf(err, n, "out of memory"); goto done; }
  if( ids->n==0 ){ result = 0; goto done; }
  if( lf_hk_begin(db, err, n) ) goto done;
  /* Validate everything. */
  if( !reverse ){
    for(int i=0; i<ids->n; i++){
      const char *id = ids->ids[i];
      int act = ppl_in(db, id, 0, err, n);
      if( act < 0 ) goto fail;
      if( !act ){
        int arc = ppl_in(db, id, 1, err, n);
        if( arc < 0 ) goto fail;
        if( arc ) snprintf(err, n, "pipeline '%s' is already archived", id);
        else snprintf(err, n, "no pipeline '%s' in this project", id);
        goto fail;
      }
      int arc = ppl_in(db, id, 1, err, n);
      if( arc < 0 ) goto fail;
      if( arc ){
        snprintf(err, n, "cannot archive '%s': an archived pipeline has the same pplid "
                 "(delete it with ppl_delete('%s') first)", id, id);
        goto fail;
      }
      if( lf_hk_not_running(db, id, err, n) ) goto fail;
    }
  }else{
    if( check_unarchive(db, ids, err, n) ) goto fail;
  }
  if( plan_files(&plan, ids, reverse ? arch : pj.art, reverse ? pj.art : arch,
                 reverse ? "unarchive" : "archive", err, n) ) goto fail;
  /* Act: the rows and the journal of file moves commit together; the
  ** moves follow (lf_journal.h). */
  for(int i=0; i<ids->n; i++){
    if( move_rows(db, ids->ids[i], !reverse, err, n) ){
      char e2[512];
      snprintf(e2, sizeof e2, "%s", err);
      snprintf(err, n, "cannot move the rows of '%s': %s", ids->ids[i], e2);
      goto fail;
    }
  }
  if( lf_journal_begin(&jr, db, pj.art, err, n) ) goto fail;
  for(int i=0; i<plan.n; i++){
    if( lf_journal_move(&jr, plan.from[i], plan.to[i], err, n) ) goto fail;
  }
  /* Tidy: an emptied Archived/<kind> folder (and Archived/) goes. */
  if( reverse && journal_emptied_folders(&jr, &plan, err, n) ) goto fail;
  if( lf_hk_commit(db, err, n) ) goto fail;
  result = lf_hk_finish(&jr, reverse ? "the pipelines were unarchived" : "the pipelines were archived",
                        err, n) ? -1 : ids->n;
  goto done;
fail:
  lf_journal_abandon(&jr);
  lf_hk_rollback(db);
done:
  plan_free(&plan);
  free(arch);
  lf_proj_close(&pj);
  return result;
}

/* ---- delete ------------------------------------------------------------- */

int lf_delete_archived(sqlite3 *db, const lf_pplist *ids, char *err, size_t n){
  lf_proj pj;
  if( lf_proj_open(db, &pj, err, n) ) return -1;
  char *arch = lf_path_join(pj.art, "Archived");
  file_plan plan = {0};
  lf_journal jr;
  memset(&jr, 0, sizeof jr);
  int result = -1;
  if( !arch ){ snprintf(err, n, "out of memory"); goto done; }
  if( ids->n==0 ){ result = 0; goto done; }
  if( lf_hk_begin(db, err, n) ) goto done;
  for(int i=0; i<ids->n; i++){
    const char *id = ids->ids[i];
    int arc = ppl_in(db, id, 1, err, n);
    if( arc < 0 ) goto fail;
    if( !arc ){
      int act = ppl_in(db, id, 0, err, n);
      if( act < 0 ) goto fail;
      if( act ) snprintf(err, n, "pipeline '%s' is active: archive it first (ppl_archive('%s'))", id, id);
      else snprintf(err, n, "no archived pipeline '%s' in this project", id);
      goto fail;
    }
  }
  if( plan_files(&plan, ids, arch, NULL, "delete", err, n) ) goto fail;
  for(int i=0; i<ids->n; i++){
    if( delete_rows(db, "archived_", ids->ids[i], err, n) ) goto fail;
  }
  if( lf_journal_begin(&jr, db, pj.art, err, n) ) goto fail;
  for(int i=0; i<plan.n; i++){
    if( lf_journal_remove(&jr, plan.from[i], err, n) ) goto fail;
  }
  if( journal_emptied_folders(&jr, &plan, err, n) ) goto fail;
  if( lf_hk_commit(db, err, n) ) goto fail;
  result = lf_hk_finish(&jr, "the pipelines were deleted", err, n) ? -1 : ids->n;
  goto done;
fail:
  lf_journal_abandon(&jr);
  lf_hk_rollback(db);
done:
  plan_free(&plan);
  free(arch);
  lf_proj_close(&pj);
  return result;
}

int lf_remove_active(sqlite3 *db, const char *art, const lf_pplist *ids,
                     lf_journal *jr, char *err, size_t n){
  file_plan plan;
  if( plan_files(&plan, ids, art, NULL, "remove", err, n) ){ plan_free(&plan); return -1; }
  int rc = 0;
  for(int i=0; i<ids->n && !rc; i++) rc = delete_rows(db, "", ids->ids[i], err, n);
  for(int i=0; i<plan.n && !rc; i++) rc = lf_journal_remove(jr, plan.from[i], err, n);
  plan_free(&plan);
  return rc;
}

/* ---- clean -------------------------------------------------------------- */

typedef struct keep_spec {
  int best, last;
  int *epochs;
  int nepochs;
} keep_spec;

static int parse_keep(const char *text, keep_spec *k, char *err, size_t n){
  memset(k, 0, sizeof *k);
  char *copy = strdup(text);
  if( !copy ){ snprintf(err, n, "out of memory"); return -1; }
  k->epochs = malloc(sizeof(int) * (strlen(text) / 2 + 1));
  if( !k->epochs ){ free(copy); snprintf(err, n, "out of memory"); return -1; }
  int items = 0;
  char *save = NULL;
  for(char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)){
    while( *tok==' ' ) tok++;
    char *end = tok + strlen(tok);
    while( end > tok && end[-1]==' ' ) *--end = 0;
    items++;
    if( strcmp(tok, "best")==0 ){ k->best = 1; continue; }
    if( strcmp(tok, "last")==0 ){ k->last = 1; continue; }
    char *e = NULL;
    long v = strtol(tok, &e, 10);
    if( !tok[0] || *e || v < 1 || v > 100000000 ){
      snprintf(err, n, "keep: '%.40s' is not best, last or an epoch number >= 1", tok);
      free(copy); free(k->epochs); k->epochs = NULL;
      return -1;
    }
    k->epochs[k->nepochs++] = (int)v;
  }
  free(copy);
  if( !items ){
    snprintf(err, n, "keep must list what to keep: best, last and/or epoch numbers, e.g. 'best,last'");
    free(k->epochs); k->epochs = NULL;
    return -1;
  }
  return 0;
}

static int kept(const keep_spec *k, int epoch, int best, int last){
  if( epoch==last ) return 1;                 /* ppl_train resumes from it */
  if( k->best && epoch==best ) return 1;
  for(int i=0; i<k->nepochs; i++) if( k->epochs[i]==epoch ) return 1;
  return 0;
}

/* Epoch of a weight-folder file name "e<N>.lfw" / "e<N>.state", or 0. */
static int file_epoch(const char *name){
  if( name[0] != 'e' ) return 0;
  char *end = NULL;
  long v = strtol(name + 1, &end, 10);
  if( end==name + 1 || v < 1 || v > 100000000 ) return 0;
  if( strcmp(end, ".lfw")==0 || strcmp(end, ".state")==0 ) return (int)v;
  return 0;
}

sqlite3_int64 lf_clean(sqlite3 *db, const lf_pplist *ids, const char *keep,
                       char *err, size_t n){
  keep_spec k;
  if( parse_keep(keep, &k, err, n) ) return -1;
  lf_proj pj;
  if( lf_proj_open(db, &pj, err, n) ){ free(k.epochs); return -1; }
  lf_journal jr;
  memset(&jr, 0, sizeof jr);
  sqlite3_int64 freed = 0, result = -1;
  sqlite3_stmt *del = NULL;
  if( ids->n==0 ){ result = 0; goto done; }
  if( lf_hk_begin(db, err, n) ) goto done;
  if( lf_journal_begin(&jr, db, pj.art, err, n) ) goto fail;
  for(int i=0; i<ids->n; i++){
    int act = ppl_in(db, ids->ids[i], 0, err, n);
    if( act < 0 ) goto fail;
    if( !act ){
      int arc = ppl_in(db, ids->ids[i], 1, err, n);
      if( arc < 0 ) goto fail;
      if( arc ) snprintf(err, n, "pipeline '%s' is archived: unarchive it to clean it", ids->ids[i]);
      else snprintf(err, n, "no pipeline '%s' in this project", ids->ids[i]);
      goto fail;
    }
    if( lf_hk_not_running(db, ids->ids[i], err, n) ) goto fail;
  }
  if( sqlite3_prepare_v2(db, "DELETE FROM main.ppl_weight_files WHERE pplid=?1 AND epoch=?2", -1, &del, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(db));
    goto fail;
  }
  for(int i=0; i<ids->n; i++){
    const char *id = ids->ids[i];
    int last = 0, best = -1;
    if( lf_ppl_epochs(db, id, &last, &best, err, n) ) goto fail;
    /* Every e<N>.lfw / e<N>.state on disk, recorded in ppl_weight_files or
    ** not (an interrupted run may leave one behind). */
    char rel[LF_ART_ITEMS][200];
    lf_art_items(id, rel);
    char *wdir = lf_path_join(pj.art, rel[0]);
    if( !wdir ){ snprintf(err, n, "out of memory"); goto fail; }
    if( lf_no_links_below(pj.art, wdir, 1, err, n) ){ free(wdir); goto fail; }
    DIR *d = opendir(wdir);
    if( !d ){ free(wdir); continue; }
    struct dirent *de;
    int rc = 0;
    while( !rc && (de = readdir(d)) != NULL ){
      int e = file_epoch(de->d_name);
      if( e==0 || kept(&k, e, best, last) ) continue;
      char *p = lf_path_join(wdir, de->d_name);
      struct stat sb;
      if( !p ){ snprintf(err, n, "out of memory"); rc = -1; break; }
      if( lstat(p, &sb)==0 && S_ISREG(sb.st_mode) ){
        freed += sb.st_size;
        rc = lf_journal_remove(&jr, p, err, n);
      }
      free(p);
    }
    closedir(d);
    free(wdir);
    if( rc ) goto fail;
    /* The rows of epochs not kept, whether or not their file was there. */
    sqlite3_stmt *st = NULL;
    if( sqlite3_prepare_v2(db, "SELECT epoch FROM main.ppl_weight_files WHERE pplid=?1", -1, &st, NULL) != SQLITE_OK ){
      snprintf(err, n, "%s", sqlite3_errmsg(db));
      goto fail;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int *drop = NULL, ndrop = 0;
    while( sqlite3_step(st)==SQLITE_ROW ){
      int e = sqlite3_column_int(st, 0);
      if( kept(&k, e, best, last) ) continue;
      int *x = realloc(drop, sizeof(int) * (size_t)(ndrop + 1));
      if( !x ){ rc = -1; break; }
      drop = x;
      drop[ndrop++] = e;
    }
    sqlite3_finalize(st);
    for(int j=0; j<ndrop && !rc; j++){
      sqlite3_bind_text(del, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_int(del, 2, drop[j]);
      if( sqlite3_step(del) != SQLITE_DONE ) rc = -1;
      sqlite3_reset(del);
    }
    free(drop);
    if( rc ){ snprintf(err, n, "cannot update ppl_weight_files: %s", sqlite3_errmsg(db)); goto fail; }
  }
  sqlite3_finalize(del);
  del = NULL;
  if( lf_hk_commit(db, err, n) ) goto fail;
  result = lf_hk_finish(&jr, "the rows were cleaned", err, n) ? -1 : freed;
  goto done;
fail:
  sqlite3_finalize(del);
  lf_journal_abandon(&jr);
  lf_hk_rollback(db);
done:
  lf_proj_close(&pj);
  free(k.epochs);
  return result;
}
