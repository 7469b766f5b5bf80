/*
** mpi_project.c — rank 0's side of labflow-mpi: the project database,
** claims, job messages and the per-epoch commit (mpi_common.h).
**
** The steps follow lf_train() one for one (claim, state check, patience,
** files durable first, one commit per epoch, release with the final
** status), so a sqlite3 shell cannot tell an MPI run from ppl_train.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "mpi_common.h"
#include "../../core/lf_db.h"
#include "../../core/lf_claim.h"
#include "../../core/lf_ppl.h"
#include "../../core/lf_project.h"
#include "../../core/lf_txn.h"

#define CHECK_SECONDS 0.2

volatile sig_atomic_t mp_signalled = 0;

int mp_open_project(lf_mpi *c, const char *path, char *err, size_t n){
  if( sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ){
    snprintf(err, n, "cannot open the project %s: %s", path, c->db ? sqlite3_errmsg(c->db) : "out of memory");
    return -1;
  }
  sqlite3_busy_timeout(c->db, 30000);
  lf_settings s;
  if( lf_project_settings(c->db, &s, err, n) ) return -1;
  lf_settings_free(&s);
  char e2[512];
  if( lf_project_check_wal(c->db, e2, sizeof e2) ){
    snprintf(err, n, "%s: %s", path, e2);
    return -1;
  }
  if( lf_exec(c->db, "PRAGMA synchronous=FULL", err, n) ) return -1;
  /* A run killed earlier left claims nobody holds: they go now. */
  lf_claim_sweep(c->db, 1);
  char host[256], called_at[512];
  if( gethostname(host, sizeof host) ) snprintf(host, sizeof host, "unknown");
  host[sizeof host - 1] = 0;
  snprintf(called_at, sizeof called_at, "labflow-mpi pid %ld on %s (%d ranks)", (long)getpid(), host, c->size);
  c->logid = lf_log_insert(c->db, called_at, e2, sizeof e2);
  if( !c->logid ){
    snprintf(err, n, "cannot record this run in lab_logs: %s", e2);
    return -1;
  }
  return 0;
}

void mp_close_project(lf_mpi *c){
  if( c->db ) sqlite3_close(c->db);
  c->db = NULL;
}

static void claim_free(mp_claim *cl){
  free(cl->pplid);
  free(cl->classes_json);
  lf_model_close(&cl->m);
  memset(cl, 0, sizeof *cl);
}

static int read_state(sqlite3 *db, mp_claim *cl, char *err, size_t n){
  int best = -1;
  if( lf_ppl_state(db, cl->pplid, &cl->last_epoch, &best, &cl->best_value, err, n) ) return -1;
  cl->have_best = best >= 1;
  cl->best_epoch = cl->have_best ? best : 0;
  return 0;
}

char *mp_summary(const mp_claim *cl, const char *ended, const char *message){
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "pplid", cl->pplid);
  if( cl->first <= cl->last_epoch ){
    cJSON_AddNumberToObject(o, "first_epoch", cl->first);
    cJSON_AddNumberToObject(o, "last_epoch", cl->last_epoch);
  }else{
    cJSON_AddNullToObject(o, "first_epoch");
    cJSON_AddNullToObject(o, "last_epoch");
  }
  int run = cl->last_epoch - cl->first + 1;
  cJSON_AddNumberToObject(o, "epochs_run", run > 0 ? run : 0);
  if( cl->have_best ){
    cJSON_AddNumberToObject(o, "best_epoch", cl->best_epoch);
    cJSON_AddNumberToObject(o, cl->m.settings.monitor, cl->best_value);
  }else{
    cJSON_AddNullToObject(o, "best_epoch");
  }
  cJSON_AddStringToObject(o, "ended", ended);
  if( cl->tabular ){
    cJSON *d = cJSON_AddObjectToObject(o, "dropped_rows");
    cJSON_AddNumberToObject(d, "train", (double)cl->dropped_train);
    cJSON_AddNumberToObject(d, "val", (double)cl->dropped_val);
  }
  if( message ) cJSON_AddStringToObject(o, "message", message);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

/* The job message: what a rank needs to rebuild the trainer. */
static int build_job(lf_mpi *c, mp_claim *cl, int64_t seq, lf_msg *msg, char *err, size_t n){
  int rc = -1;
  char *settings = lf_db_text(c->db, "SELECT value FROM main.lab_meta WHERE key='settings'", NULL, err, n);
  char *config = lf_ppl_config(c->db, cl->pplid, err, n);
  char *classes = lf_db_text(c->db, "SELECT classes FROM main.ppl_state WHERE pplid=?1 AND typeof(classes)='text'",
                             cl->pplid, err, n);
  char *train = lf_project_resolve_path(c->db, cl->m.spec.train_src);
  char *val = lf_project_resolve_path(c->db, cl->m.spec.val_src);
  char *wpath = NULL, *spath = NULL;
  unsigned char *w = NULL, *s = NULL;
  size_t wlen = 0, slen = 0;
  if( !settings || !config || !train || !val ){
    if( !err[0] ) snprintf(err, n, "out of memory");
    goto done;
  }
  if( cl->last_epoch > 0 ){
    wpath = lf_ppl_path(cl->m.artifacts, "weight", cl->pplid, cl->last_epoch, err, n);
    spath = lf_ppl_state_path(cl->m.artifacts, cl->pplid, cl->last_epoch);
    if( !wpath || !spath ) goto done;
    if( read_whole_file(wpath, &w, &wlen, err, n) || read_whole_file(spath, &s, &slen, err, n) ) goto done;
  }
  msg_free(msg);
  msg_put_i64(msg, seq);
  msg_put_str(msg, cl->pplid);
  msg_put_i64(msg, cl->last_epoch);
  msg_put_i64(msg, cl->best_epoch);
  msg_put_i64(msg, cl->have_best);
  msg_put_f64(msg, cl->best_value);
  msg_put_i64(msg, cl->epochs);
  msg_put_i64(msg, cl->patience);
  msg_put_str(msg, settings);
  msg_put_str(msg, config);
  msg_put_str(msg, classes);
  msg_put_str(msg, train);
  msg_put_str(msg, val);
  msg_put_blob(msg, w, wlen);
  msg_put_blob(msg, s, slen);
  if( msg->bad ){ snprintf(err, n, "out of memory packing the job of '%s'", cl->pplid); goto done; }
  rc = 0;
done:
  free(settings); free(config); free(classes); free(train); free(val);
  free(wpath); free(spath); free(w); free(s);
  return rc;
}

int mp_claim_job(lf_mpi *c, const char *pplid, int epochs, int until_epoch, int patience,
                 int64_t seq, mp_claim *cl, lf_msg *msg, char **summary, char *err, size_t n){
  memset(cl, 0, sizeof *cl);
  *summary = NULL;
  err[0] = 0;
  if( lf_ppl_require(c->db, pplid, err, n) ) return -1;
  cl->pplid = strdup(pplid);
  if( !cl->pplid ){ snprintf(err, n, "out of memory"); return -1; }
  if( lf_model_open(c->db, pplid, &cl->m, err, n) ) goto fail;
  cl->tabular = LF_DS_TABULAR(&cl->m.spec.dataset);
  if( cl->m.spec.dataset.kind==LF_DS_SQL ){ claim_free(cl); return 2; }
  if( read_state(c->db, cl, err, n) ) goto fail;
  cl->first = cl->last_epoch + 1;
  if( until_epoch > 0 ? until_epoch <= cl->last_epoch : epochs <= 0 ){
    *summary = mp_summary(cl, "finished", NULL);
    claim_free(cl);
    return 0;
  }
  if( lf_claim_take(c->db, pplid, c->logid, &cl->runid, cl->prev_status, sizeof cl->prev_status, err, n) ) goto fail;
  cl->claimed = 1;
  if( read_state(c->db, cl, err, n) ) goto fail_claimed;
  lf_trainer_remove_stale_temps(cl->m.artifacts, pplid);
  cl->first = cl->last_epoch + 1;
  cl->patience = patience >= 0 ? patience : cl->m.settings.patience;
  cl->epochs = until_epoch > 0 ? until_epoch - cl->last_epoch : epochs;
  if( cl->epochs <= 0 ){
    *summary = mp_summary(cl, "finished", NULL);
    mp_release(c, cl, "finished");
    return 0;
  }
  int since = cl->last_epoch - (cl->have_best ? cl->best_epoch : 0);
  if( cl->patience > 0 && since >= cl->patience ){
    snprintf(err, n, "pipeline '%s' has gone %d epochs without improving %s (last epoch %d), which "
             "exhausts patience %d; to train on, pass a larger --patience (e.g. %d), or 0 for no early "
             "stopping", pplid, since, cl->m.settings.monitor, cl->last_epoch, cl->patience, since + cl->patience);
    goto fail_claimed;
  }
  if( build_job(c, cl, seq, msg, err, n) ) goto fail_claimed;
  cl->t_last_check = cl->t_last_beat = lf_now_unix();
  return 1;
fail_claimed:
  mp_release(c, cl, "error");
  return -1;
fail:
  claim_free(cl);
  return -1;
}

static int record_common(lf_mpi *c, mp_claim *cl, int e, const lf_epoch_result *r, int64_t wbytes,
                         char *err, size_t n){
  int drop[64], ndrop = 0;
  if( lf_epoch_commit(c->db, cl->pplid, e, r, wbytes, cl->best_epoch, cl->best_value, cl->classes_json,
                      cl->m.settings.keep_all, drop, &ndrop, err, n) ) return -1;
  cl->last_epoch = e;
  free(cl->classes_json);       /* stored now: coalesce keeps the first */
  cl->classes_json = NULL;
  lf_epoch_cleanup(cl->m.artifacts, cl->pplid, e, drop, ndrop);
  return 0;
}

/* The epoch's two file paths and their folder, made. */
static int epoch_paths(mp_claim *cl, int e, char **wpath, char **spath, char *err, size_t n){
  *wpath = lf_ppl_path(cl->m.artifacts, "weight", cl->pplid, e, err, n);
  *spath = lf_ppl_state_path(cl->m.artifacts, cl->pplid, e);
  if( !*wpath || !*spath ){ if( !err[0] ) snprintf(err, n, "out of memory"); return -1; }
  char *dir = strdup(*wpath);
  if( !dir ){ snprintf(err, n, "out of memory"); return -1; }
  char *slash = strrchr(dir, '/');
  if( slash ) *slash = 0;
  int rc = slash ? lf_mkdirs(dir, err, n) : 0;
  free(dir);
  return rc;
}

int mp_record_epoch(sqlite3 *db, mp_claim *cl, const mp_epoch *ep, char *err, size_t n){
  char *wpath = NULL, *spath = NULL;
  err[0] = 0;
  int rc = epoch_paths(cl, ep->e, &wpath, &spath, err, n);
  /* Files first, durable (the same bytes lf_trainer_save writes); then the
  ** commit that makes them count. */
  if( rc==0 ) rc = lf_write_file_atomic(wpath, ep->w, ep->wlen, err, n) || lf_write_file_atomic(spath, ep->s, ep->slen, err, n) ? -1 : 0;
  int drop[64], ndrop = 0;
  if( rc==0 ) rc = lf_epoch_commit(db, cl->pplid, ep->e, &ep->r, (int64_t)ep->wlen, ep->best_epoch, ep->best_value,
                                   ep->classes, cl->m.settings.keep_all, drop, &ndrop, err, n);
  if( rc ){
    if( wpath ) unlink(wpath);
    if( spath ) unlink(spath);
  }else{
    cl->last_epoch = ep->e;
    lf_epoch_cleanup(cl->m.artifacts, cl->pplid, ep->e, drop, ndrop);
  }
  free(wpath); free(spath);
  return rc;
}

int mp_record_epoch_local(lf_mpi *c, mp_claim *cl, lf_trainer *t, int e, const lf_epoch_result *r,
                          char *err, size_t n){
  char *wpath = NULL, *spath = NULL;
  int64_t wbytes = 0;
  err[0] = 0;
  int rc = epoch_paths(cl, e, &wpath, &spath, err, n);
  if( rc==0 ) rc = lf_trainer_save(t, wpath, spath, &wbytes, err, n);
  if( rc==0 ) rc = record_common(c, cl, e, r, wbytes, err, n);
  if( rc ){
    if( wpath ) unlink(wpath);
    if( spath ) unlink(spath);
  }
  free(wpath); free(spath);
  return rc;
}

int mp_claim_check(lf_mpi *c, mp_claim *cl, int force){
  if( mp_signalled ) return 2;
  double now = lf_now_unix();
  if( !force && now - cl->t_last_check < CHECK_SECONDS ) return 0;
  cl->t_last_check = now;
  int beat = now - cl->t_last_beat >= LF_HEARTBEAT_SECONDS;
  if( beat ) cl->t_last_beat = now;
  return lf_claim_beat(c->db, cl->runid, beat) != 0 ? 1 : 0;
}

void mp_release(lf_mpi *c, mp_claim *cl, const char *ended){
  /* What docs/sql-reference.md promises for ppls.status, as lf_train. */
  const char *status;
  if( strcmp(ended, "early_stop")==0 ) status = "early_stopped";
  else if( strcmp(ended, "finished")==0 ) status = cl->last_epoch >= cl->first ? "trained" : cl->prev_status;
  else if( strcmp(ended, "error")==0 ) status = cl->last_epoch >= cl->first ? "stopped" : cl->prev_status;
  else status = "stopped";
  if( cl->claimed ) lf_claim_release(c->db, cl->runid, cl->pplid, status);
  claim_free(cl);
}

/* Columns of the terminal rank 0's stderr ends on: mpirun pipes it, so
** the tty cannot be asked; $COLUMNS when given (mpirun -x COLUMNS, or
** COLUMNS=$COLUMNS mpirun ...), else 80. */
static int line_columns(void){
  const char *v = getenv("COLUMNS");
  int k = v ? atoi(v) : 0;
  return k > 0 ? k : 80;
}

void mp_epoch_line(const char *pplid, const char *tag, int e, int last, const lf_epoch_result *r, int improved){
  char line[4096];
  lf_progress_epoch_fit(line, sizeof line, line_columns(), pplid, tag, e, last, r->names, r->values, r->n,
                        improved ? "best" : "");
  fprintf(stderr, "%s\n", line);
  fflush(stderr);
}

void mp_progress_line(lf_mpi *c, const mp_claim *cl, int rank, int e, const lf_epoch_result *r, int improved){
  if( c->quiet || !cl->m.settings.progress ) return;
  char tag[32];
  snprintf(tag, sizeof tag, "rank %d", rank);
  mp_epoch_line(cl->pplid, tag, e, cl->first + cl->epochs - 1, r, improved);
}
