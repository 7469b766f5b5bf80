/*
** mpi_job.c — any rank's side of a job: an lf_trainer rebuilt from a job
** message, and a trained epoch turned into bytes (mpi_common.h).
**
** The resume state travels as the very weight and state files ppl_train
** reads and writes (lf_ckpt format), through a folder private to the rank,
** so restoring and saving are lf_train.c's own code, byte for byte.
**
** Data is read once per rank and run: the last data loaded (after
** standardisation) is kept and lent to the next job whose data is the same
** files read the same way (same dataset, loss and settings texts, the same
** resolved paths and stored classes), as many pipelines of a sweep are.
** Loading is deterministic, so a lent dataset is bitwise the one a fresh
** load gives; the trainer only reads it. Data kept in bf16, tabular,
** sequence and plugin datasets are loaded each time.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
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

/* ---- the data cache (one entry per rank) ----------------------------- */

static struct {
  char *key;
  lf_dataset train, val;
  float *mean, *std;
  int64_t nmean;
  char *classes_json;
} cache;

void mp_data_cache_free(void){
  free(cache.key);
  lf_dataset_free(&cache.train);
  lf_dataset_free(&cache.val);
  free(cache.mean); free(cache.std); free(cache.classes_json);
  memset(&cache, 0, sizeof cache);
}

static char *print_item(const cJSON *o, const char *name){
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
  return it ? cJSON_PrintUnformatted(it) : strdup("null");
}

/* What decides the loaded data, or NULL when this job's data is not kept
** (or out of memory: then it is loaded as usual). */
static char *data_key(const lf_model *m, const char *settings, const char *config, const char *classes,
                      const char *train, const char *val){
  const lf_dataset_spec *d = &m->spec.dataset;
  if( m->spec.bf16 || d->kind==LF_DS_SQL || LF_DS_TABULAR(d) || LF_DS_SEQUENTIAL(d) || d->fn ) return NULL;
  cJSON *cfg = cJSON_Parse(config);
  if( !cfg ) return NULL;
  char *ds = print_item(cfg, "dataset"), *loss = print_item(cfg, "loss"), *key = NULL;
  cJSON_Delete(cfg);
  if( ds && loss ){
    size_t k = strlen(settings) + strlen(ds) + strlen(loss) + strlen(train) + strlen(val)
             + (classes ? strlen(classes) : 0) + 8;
    key = malloc(k);
    if( key ) snprintf(key, k, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", settings, ds, loss, train, val, classes ? classes : "");
  }
  free(ds); free(loss);
  return key;
}

static float *dup_floats(const float *p, int64_t n){
  if( !p ) return NULL;
  float *q = malloc(sizeof(float) * (size_t)(n ? n : 1));
  if( q ) memcpy(q, p, sizeof(float) * (size_t)n);
  return q;
}

/* lf_trainer_load_data, or its result kept from an earlier job. */
static int load_data(lf_mpi *c, lf_trainer *t, char *key, const char *train, const char *val,
                     char *err, size_t n){
  lf_model *m = &t->m;
  double t0 = lf_now_unix();
  if( key && cache.key && strcmp(key, cache.key)==0 ){
    int64_t cnt = lf_shape_count(&cache.train.shape);
    t->train = cache.train;
    t->val = cache.val;
    m->mean = dup_floats(cache.mean, cnt);
    m->std = dup_floats(cache.std, cnt);
    t->classes_json = cache.classes_json ? strdup(cache.classes_json) : NULL;
    free(key);
    if( (cache.mean && (!m->mean || !m->std)) || (cache.classes_json && !t->classes_json) ){
      snprintf(err, n, "out of memory");
      return -1;
    }
    c->times.data_hits++;
    c->times.data += lf_now_unix() - t0;
    return 0;
  }
  int rc = lf_trainer_load_data(t, train, val, NULL, err, n);
  c->times.data_loads++;
  c->times.data += lf_now_unix() - t0;
  if( rc || !key ){ free(key); return rc; }
  /* Kept for the next job (the previous entry goes: one job at a time). */
  mp_data_cache_free();
  int64_t cnt = lf_shape_count(&t->train.shape);
  cache.mean = dup_floats(m->mean, cnt);
  cache.std = dup_floats(m->std, cnt);
  cache.classes_json = t->classes_json ? strdup(t->classes_json) : NULL;
  if( (m->mean && (!cache.mean || !cache.std)) || (t->classes_json && !cache.classes_json) ){
    mp_data_cache_free();
    free(key);
    return 0;
  }
  cache.key = key;
  cache.train = t->train;
  cache.val = t->val;
  return 0;
}

void mp_trainer_free(lf_trainer *t){
  if( cache.key ){
    if( t->train.y == cache.train.y && t->train.x == cache.train.x ) memset(&t->train, 0, sizeof t->train);
    if( t->val.y == cache.val.y && t->val.x == cache.val.x ) memset(&t->val, 0, sizeof t->val);
  }
  lf_trainer_free(t);
}

void mp_print_times(lf_mpi *c){
  if( !c->timing ) return;
  const mp_times *m = &c->times;
  fprintf(stderr, "labflow-mpi timing: rank %d: wall %.2f s, data %.2f s (%d loads, %d reused), setup %.2f s, "
          "train %.2f s, checkpoint bytes %.2f s, send %.2f s, commit %.2f s, jobs %.2f s, idle %.2f s\n",
          c->rank, lf_now_unix() - m->start, m->data, m->data_loads, m->data_hits, m->setup, m->train,
          m->ckpt, m->send, m->commit, m->jobs, m->idle);
  fflush(stderr);
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
  if( load_data(c, t, data_key(&t->m, settings, config, classes, train, val), train, val, err, n) ){
    name_rank(c, err, n);
    goto done;
  }
  double t0 = lf_now_unix();
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
  c->times.setup += lf_now_unix() - t0;
done:
  free(settings); free(config); free(classes); free(train); free(val);
  return rc;
}

int mp_trainer_bytes(lf_mpi *c, lf_trainer *t, unsigned char **w, size_t *wlen,
                     unsigned char **s, size_t *slen, char *err, size_t n){
  char wpath[4200], spath[4200];
  int64_t wbytes = 0;
  double t0 = lf_now_unix();
  *w = *s = NULL;
  scratch(c, wpath, spath, sizeof wpath);
  int rc = lf_trainer_save(t, wpath, spath, &wbytes, err, n);
  if( rc==0 ) rc = read_whole_file(wpath, w, wlen, err, n);
  if( rc==0 ) rc = read_whole_file(spath, s, slen, err, n);
  unlink(wpath);
  unlink(spath);
  if( rc ){ free(*w); free(*s); *w = *s = NULL; }
  c->times.ckpt += lf_now_unix() - t0;
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
