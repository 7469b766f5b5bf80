/*
** mpi_job.c — any rank's side of a job: an lf_trainer rebuilt from a job
** message, and a trained epoch turned into bytes (mpi_common.h).
**
** The resume state travels as the very weight and state files ppl_train
** reads and writes (lf_ckpt format), through a folder private to the rank,
** so restoring and saving are lf_train.c's own code, byte for byte.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mpi_common.h"
#include "../../core/lf_ckpt.h"
#include "../../core/lf_project.h"

void mp_job_free(mp_job *job){
  free(job->pplid);
  memset(job, 0, sizeof *job);
}

static void scratch(lf_mpi *c, char *w, char *s, size_t k){
  snprintf(w, k, "%s/weights.lfw", c->tmpdir);
  snprintf(s, k, "%s/state.lfs", c->tmpdir);
}

/* Data this rank cannot load is named with the rank and host: every rank
** must see the data at the same path. */
static void name_rank(lf_mpi *c, char *err, size_t n){
  char host[256], why[2048];
  if( gethostname(host, sizeof host) ) snprintf(host, sizeof host, "unknown");
  host[sizeof host - 1] = 0;
  snprintf(why, sizeof why, "%s", err);
  snprintf(err, n, "rank %d on host %s: %s (labflow-mpi needs the data at the same path on every node: "
           "a shared file system, or a copy at that path)", c->rank, host, why);
}

int mp_trainer_from_job(lf_mpi *c, lf_msg *msg, mp_job *job, lf_trainer *t, char *err, size_t n){
  memset(job, 0, sizeof *job);
  memset(t, 0, sizeof *t);
  msg->at = 0;
  job->seq = msg_get_i64(msg);
  job->pplid = msg_get_str(msg);
  job->last_epoch = (int)msg_get_i64(msg);
  job->best_epoch = (int)msg_get_i64(msg);
  job->have_best = (int)msg_get_i64(msg);
  job->best_value = msg_get_f64(msg);
  job->epochs = (int)msg_get_i64(msg);
  job->patience = (int)msg_get_i64(msg);
  char *settings = msg_get_str(msg), *config = msg_get_str(msg), *classes = msg_get_str(msg);
  char *train = msg_get_str(msg), *val = msg_get_str(msg);
  size_t wlen = 0, slen = 0;
  const void *w = msg_get_blob(msg, &wlen), *s = msg_get_blob(msg, &slen);
  int rc = -1;
  char wpath[4200], spath[4200];
  scratch(c, wpath, spath, sizeof wpath);
  if( msg->bad || !job->pplid || !settings || !config || !train || !val ){
    snprintf(err, n, "rank %d received a malformed job", c->rank);
    goto done;
  }
  t->pplid = job->pplid;
  if( lf_model_open_text(settings, config, classes, &t->m, err, n) ) goto done;
  if( t->m.spec.bf16 && !lf_bf16_supported() ){
    snprintf(err, n, "rank %d: precision \"bf16\" needs a CPU with AVX-512 BF16 instructions; use \"precision\": \"f32\"", c->rank);
    goto done;
  }
  /* A rank's process trains one job at a time: the count stays. */
  lf_threads_apply(t->m.settings.threads);
  if( lf_trainer_load_data(t, train, val, NULL, err, n) ){ name_rank(c, err, n); goto done; }
  t->last_epoch = job->last_epoch;
  t->best_epoch = job->best_epoch;
  t->have_best = job->have_best;
  t->best_value = job->best_value;
  if( job->last_epoch > 0 ){
    if( lf_write_file_atomic(wpath, w, wlen, err, n) || lf_write_file_atomic(spath, s, slen, err, n) ) goto done;
  }
  rc = lf_trainer_prepare(t, wpath, spath, err, n);
  unlink(wpath);
  unlink(spath);
done:
  free(settings); free(config); free(classes); free(train); free(val);
  return rc;
}

int mp_trainer_bytes(lf_mpi *c, lf_trainer *t, unsigned char **w, size_t *wlen,
                     unsigned char **s, size_t *slen, char *err, size_t n){
  char wpath[4200], spath[4200];
  int64_t wbytes = 0;
  *w = *s = NULL;
  scratch(c, wpath, spath, sizeof wpath);
  int rc = lf_trainer_save(t, wpath, spath, &wbytes, err, n);
  if( rc==0 ) rc = read_whole_file(wpath, w, wlen, err, n);
  if( rc==0 ) rc = read_whole_file(spath, s, slen, err, n);
  unlink(wpath);
  unlink(spath);
  if( rc ){ free(*w); free(*s); *w = *s = NULL; }
  return rc;
}

void mp_put_result(lf_msg *m, const lf_epoch_result *r){
  msg_put_i64(m, r->n);
  for(int i=0; i<r->n; i++){
    msg_put_str(m, r->names[i]);
    msg_put_f64(m, r->values[i]);
  }
}

void mp_get_result(lf_msg *m, lf_epoch_result *r){
  int64_t k = msg_get_i64(m);
  r->n = 0;
  if( k < 0 || k > LF_MAX_QUANTITIES ){ m->bad = 1; return; }
  for(int i=0; i<k; i++){
    char *s = msg_get_str(m);
    snprintf(r->name_buf[i], sizeof r->name_buf[0], "%s", s ? s : "");
    free(s);
    r->names[i] = r->name_buf[i];
    r->values[i] = msg_get_f64(m);
  }
  r->n = (int)k;
}
