/*
** lf_train.c — ppl_train's loop: resume, epochs, validation, durable
** per-epoch commits, early stopping and stopping on request.
**
** The caller's SELECT keeps its transaction open until the statement ends,
** so every write goes through a private connection to the same database
** file (WAL, busy timeout). An epoch becomes visible in one transaction
** (history rows, ppl_state, kept weight files) only after its weight and
** state files are durable on disk; files no longer kept are removed after
** that commit. A crash at any point leaves the last committed epoch whole.
**
** The compute part (lf_trainer: data, model, optimizer, the epoch step) and
** the commit are exported through lf_trainer.h, so that labflow-mpi runs
** the very same code on its ranks.
*/
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lf_train.h"
#include "lf_db.h"
#include "lf_trainer.h"
#include "lf_claim.h"
#include "lf_dataset.h"
#include "lf_data_fit.h"
#include "lf_model.h"
#include "lf_ppl.h"
#include "lf_progress.h"
#include "lf_sigint.h"
#include "lf_txn.h"
#include "lf_tabular.h"
#include "../kernels/lf_batch.h"
#include "../kernels/lf_signals.h"

/* zlib level for weight and state files, chosen by measurement
** (tools/bench/ckpt_bench.c; docs/performance.md, "Checkpoint zlib
** level"): trained float weights and Adam moments hardly shrink at level 1,
** which costs many times the time of level 0 (stored blocks, still
** checksummed) on every epoch. */
#define LF_WEIGHT_ZLEVEL 0
#define LF_CHECK_SECONDS 0.2

/* Everything one ppl_train call owns; released by trainer_close(). */
typedef struct trainer {
  lf_trainer c;             /* the compute state (lf_trainer.h) */
  sqlite3 *db;              /* the caller's connection: read only */
  sqlite3 *priv;            /* our own connection: every write */
  sqlite3_stmt *interrupt_probe;
  const lf_train_request *req;
  sqlite3_int64 runid;
  int claimed;
  double t_last_check, t_last_beat;
  sqlite3_int64 new_logid;  /* lab_logs row this call created, else 0 */
  lf_sigint_watch sigint;   /* SIGINT in hosts other than the shell */
  char prev_status[32];     /* ppls.status before this run */
  const char *end_status;   /* ppls.status when the claim goes */
  int first, epochs;        /* this run's first epoch and epoch count */
  int patience;             /* epochs without improving that end the run */
  int caller_threads;       /* restored at the end (lf_threads_apply) */
  const char *ended;        /* how the run ended: "finished", ... */
  char ended_msg[256];      /* why, for "early_stop" */
} trainer;

static char *dupstr(const char *s){
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if( d ) memcpy(d, s, n);
  return d;
}

static int target_width(const lf_model *m){
  return lf_loss_is_classification(&m->spec.loss) ? 1 : (int)lf_shape_count(&m->out);
}

/* ---- stop requests --------------------------------------------------- */

/* sqlite3_interrupt() on the caller's connection (Ctrl-C in the shell) makes
** every statement on it fail with SQLITE_INTERRUPT, so stepping a trivial
** statement is how a function notices it. */
static int caller_interrupted(trainer *t){
  if( !t->interrupt_probe ) return 0;
  int rc = sqlite3_step(t->interrupt_probe);
  sqlite3_reset(t->interrupt_probe);
  return rc==SQLITE_INTERRUPT;
}

/* 0: go on; 1: ppl_stop() asked; 2: interrupted. Cheap: a SIGINT is seen
** at once, the database looked at most every LF_CHECK_SECONDS. */
static int stop_requested(void *arg, int force){
  trainer *t = arg;
  int polled = t->req->poll ? t->req->poll(t->req->poll_arg) : 0;
  if( polled ) return polled;
  if( lf_sigint_fired(&t->sigint) ) return 2;
  double now = lf_now_unix();
  if( !force && now - t->t_last_check < LF_CHECK_SECONDS ) return 0;
  t->t_last_check = now;
  if( caller_interrupted(t) ) return 2;
  int beat = now - t->t_last_beat >= LF_HEARTBEAT_SECONDS;
  if( beat ) t->t_last_beat = now;
  int r = lf_claim_beat(t->priv, t->runid, beat);
  return r != 0 ? 1 : 0;
}

/* ---- setup ----------------------------------------------------------- */

static int open_private(trainer *t, char *err, size_t n){
  const char *file = sqlite3_db_filename(t->db, "main");
  if( !file || !file[0] ){
    snprintf(err, n, "training needs a database file (an in-memory database cannot be shared "
             "with the trainer's own connection)");
    return -1;
  }
  if( sqlite3_txn_state(t->db, "main")==SQLITE_TXN_WRITE && lf_txn_in_writing_statement(t->db) ){
    snprintf(err, n, "cannot train inside CREATE TABLE ... AS SELECT on the project's database: that statement "
             "holds the database's write lock until it ends, and the trainer commits each epoch through its "
             "own connection, so it would wait for it. Create a TEMP table instead (CREATE TEMP TABLE t AS "
             "SELECT ...)");
    return -1;
  }
  if( sqlite3_txn_state(t->db, "main")==SQLITE_TXN_WRITE ){
    snprintf(err, n, "this connection holds an open write transaction; the trainer commits each epoch "
             "through its own connection, which would wait for yours until the statement ends. "
             "COMMIT (or ROLLBACK) first, and call ppl_train outside BEGIN ... COMMIT");
    return -1;
  }
  int rc = sqlite3_open_v2(file, &t->priv, SQLITE_OPEN_READWRITE, NULL);
  if( rc != SQLITE_OK ){
    snprintf(err, n, "cannot open %s for training: %s", file, t->priv ? sqlite3_errmsg(t->priv) : sqlite3_errstr(rc));
    return -1;
  }
  sqlite3_busy_timeout(t->priv, 30000);
  if( lf_project_check_wal(t->priv, err, n) ) return -1;
  lf_exec(t->priv, "PRAGMA synchronous=FULL", err, n);
  if( sqlite3_prepare_v2(t->db, "SELECT 1", -1, &t->interrupt_probe, NULL) != SQLITE_OK ){
    t->interrupt_probe = NULL;
  }
  return 0;
}

/* Where training resumes: ppl_state, checked against the history
** (lf_ppl_state), so a forged last_epoch cannot name files or rewrite
** finished epochs. */
static int read_state(trainer *t, char *err, size_t n){
  int found = lf_db_exists(t->priv, "SELECT 1 FROM main.ppl_state WHERE pplid=?1", t->req->pplid, err, n);
  if( found < 0 ) return -1;
  if( !found ){
    snprintf(err, n, "pipeline '%s' has no training state row", t->req->pplid);
    return -1;
  }
  int best = -1;
  if( lf_ppl_state(t->priv, t->req->pplid, &t->c.last_epoch, &best, &t->c.best_value, err, n) ) return -1;
  t->c.have_best = best >= 1;
  t->c.best_epoch = t->c.have_best ? best : 0;
  return 0;
}

static char *resolve_src(trainer *t, const char *src){
  return t->c.m.spec.dataset.kind==LF_DS_SQL ? dupstr(src) : lf_project_resolve_path(t->db, src);
}

int lf_trainer_load_data(lf_trainer *t, const char *train_src, const char *val_src,
                         sqlite3 *db, char *err, size_t n){
  char why[1024];
  lf_model *m = &t->m;
  if( m->spec.dataset.kind==LF_DS_SQL && !db ){
    snprintf(err, n, "the pipeline's data is a SQL query of the project database, which only the process "
             "that owns the database can read; export it to a file every process can read "
             "(e.g. a CSV file) and point the config's data at it");
    return -1;
  }
  /* Window datasets with val_fraction keep their split's windows. */
  m->spec.dataset.split = 1;
  int rc = train_src ? lf_dataset_load_tab(&m->spec.dataset, train_src, db, m->classes, m->nclasses_text,
                                           NULL, &t->train, why, sizeof why) : -1;
  m->spec.dataset.split = 0;
  if( rc ){ snprintf(err, n, "train_data_src: %s", train_src ? why : "out of memory"); return -1; }
  /* The validation split uses the training split's text classes. */
  if( t->train.class_names && !m->classes ){
    cJSON *a = cJSON_CreateArray();
    for(int i=0; i<t->train.nclasses; i++) cJSON_AddItemToArray(a, cJSON_CreateString(t->train.class_names[i]));
    t->classes_json = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
  }
  /* ... and the training split's vocabularies and fills. */
  m->spec.dataset.split = 2;
  rc = val_src ? lf_dataset_load_tab(&m->spec.dataset, val_src, db, t->train.class_names,
                                     t->train.class_names ? t->train.nclasses : 0, t->train.tab,
                                     &t->val, why, sizeof why) : -1;
  m->spec.dataset.split = 0;
  if( rc ){ snprintf(err, n, "val_data_src: %s", val_src ? why : "out of memory"); return -1; }
  if( lf_shape_count(&t->val.shape) != lf_shape_count(&t->train.shape) ){
    char a[64], b[64];
    snprintf(err, n, "val_data_src has samples of shape %s, train_data_src %s",
             lf_shape_str(&t->val.shape, a, sizeof a), lf_shape_str(&t->train.shape, b, sizeof b));
    return -1;
  }
  if( t->train.tab ){
    m->tab = lf_tabular_copy(t->train.tab);
    if( !m->tab ){ snprintf(err, n, "out of memory"); return -1; }
  }
  if( lf_dataset_wants_standardize(&m->spec.dataset) ){
    lf_dataset_stats(&t->train, &m->mean, &m->std);
    if( !m->mean || !m->std ){ snprintf(err, n, "out of memory"); return -1; }
    /* Named inputs standardise only their groups that ask for it. */
    int64_t cnt = lf_shape_count(&t->train.shape);
    int *z = lf_dataset_standardized_columns(&m->spec.dataset, (int)cnt);
    if( !z ){ snprintf(err, n, "out of memory"); return -1; }
    for(int64_t j=0; j<cnt; j++) if( !z[j] ){ m->mean[j] = 0.0f; m->std[j] = 1.0f; }
    free(z);
    lf_dataset_standardize(&t->train, m->mean, m->std);
    lf_dataset_standardize(&t->val, m->mean, m->std);
  }
  return 0;
}

static int load_data(trainer *t, char *err, size_t n){
  lf_model *m = &t->c.m;
  if( lf_model_load_classes(t->priv, t->req->pplid, m, err, n) ) return -1;
  char *train_src = resolve_src(t, m->spec.train_src);
  char *val_src = resolve_src(t, m->spec.val_src);
  int rc = lf_trainer_load_data(&t->c, train_src, val_src, t->db, err, n);
  free(train_src);
  free(val_src);
  return rc;
}

/* The model's output must fit the labels. */
static int check_outputs(lf_trainer *t, char *err, size_t n){
  int k = t->train.nclasses > t->val.nclasses ? t->train.nclasses : t->val.nclasses;
  return lf_outputs_fit(&t->m.spec.loss, lf_shape_count(&t->m.out), k, err, n);
}

/* Optimizer state and rng are restored from the last epoch's state file. */
static int restore(lf_trainer *t, const char *wpath, const char *spath, char *err, size_t n){
  lf_model *m = &t->m;
  lf_tensor_rec *recs = NULL;
  int nrec = 0, rc = -1;
  if( !wpath || !spath ){ snprintf(err, n, "out of memory"); goto done; }
  /* The mean/std of this run's data must match the saved ones anyway;
  ** keep those computed from the data. */
  float *mean = m->mean, *std = m->std;
  lf_tabular *tab = m->tab;
  m->mean = m->std = NULL;
  m->tab = NULL;
  rc = lf_model_load_weights(m, wpath, err, n);
  free(m->mean); free(m->std);
  lf_tabular_free(m->tab);
  m->mean = mean; m->std = std;
  m->tab = tab;
  if( rc ) goto done;
  rc = -1;
  if( lf_ckpt_read(spath, &recs, &nrec, err, n) ) goto done;
  const lf_tensor_rec *rng = lf_ckpt_find(recs, nrec, "__rng");
  const lf_tensor_rec *cnt = lf_ckpt_find(recs, nrec, "__optim_counters");
  if( !rng || rng->dtype != 8 || rng->dim[0] != 4 || !cnt || cnt->dtype != 8 || cnt->dim[0] != 2 ){
    snprintf(err, n, "state file %s lacks the random or optimizer state", spath);
    goto done;
  }
  memcpy(t->rng.s, rng->data, sizeof t->rng.s);
  const int64_t *c = cnt->data;
  lf_optim_set_counters(t->opt, c[0], c[1]);
  /* Files written before schedulers kept state have no "__sched". */
  const lf_tensor_rec *sch = lf_ckpt_find(recs, nrec, "__sched");
  if( sch && sch->dtype==8 && sch->dim[0]==LF_OPTIM_SCHED_WORDS ) lf_optim_set_sched_state(t->opt, sch->data);
  else if( m->spec.optim.sched==LF_SCHED_PLATEAU ){
    snprintf(err, n, "state file %s lacks the ReduceLROnPlateau state", spath);
    goto done;
  }
  for(int i=0; i<lf_optim_state_count(t->opt); i++){
    lf_param *p = lf_optim_state(t->opt, i);
    const lf_tensor_rec *r = lf_ckpt_find(recs, nrec, p->name);
    int64_t count = 1;
    if( r ) for(int d=0; d<r->ndim; d++) count *= r->dim[d];
    if( !r || r->dtype != 4 || count != p->n ){
      snprintf(err, n, "state file %s lacks optimizer tensor %s", spath, p->name);
      goto done;
    }
    memcpy(p->data, r->data, (size_t)p->n * sizeof(float));
  }
  rc = 0;
done:
  lf_ckpt_free(recs, nrec);
  return rc;
}

static int save_state(lf_trainer *t, const char *path, char *err, size_t n){
  int ns = lf_optim_state_count(t->opt);
  lf_tensor_rec *recs = calloc((size_t)ns + 3, sizeof *recs);
  if( !recs ){ snprintf(err, n, "out of memory"); return -1; }
  int64_t counters[2], sched[LF_OPTIM_SCHED_WORDS];
  lf_optim_get_counters(t->opt, &counters[0], &counters[1]);
  lf_optim_get_sched_state(t->opt, sched);
  recs[0] = (lf_tensor_rec){ .name = "__rng", .dtype = 8, .ndim = 1, .dim = {4}, .data = t->rng.s };
  recs[1] = (lf_tensor_rec){ .name = "__optim_counters", .dtype = 8, .ndim = 1, .dim = {2}, .data = counters };
  for(int i=0; i<ns; i++){
    lf_param *p = lf_optim_state(t->opt, i);
    recs[i+2].name = p->name;
    recs[i+2].dtype = 4;
    recs[i+2].ndim = p->shape.ndim;
    for(int d=0; d<p->shape.ndim; d++) recs[i+2].dim[d] = p->shape.dim[d];
    recs[i+2].data = p->data;
  }
  recs[ns+2] = (lf_tensor_rec){ .name = "__sched", .dtype = 8, .ndim = 1, .dim = {LF_OPTIM_SCHED_WORDS}, .data = sched };
  int rc = lf_ckpt_write(path, recs, ns + 3, LF_WEIGHT_ZLEVEL, err, n);
  free(recs);
  return rc;
}

int lf_trainer_save(lf_trainer *t, const char *wpath, const char *spath, int64_t *wbytes,
                    char *err, size_t n){
  char *dir = dupstr(wpath);
  if( !dir ){ snprintf(err, n, "out of memory"); return -1; }
  char *slash = strrchr(dir, '/');
  if( slash ) *slash = 0;
  int rc = ((slash && lf_mkdirs(dir, err, n)) || lf_model_save_weights(&t->m, wpath, LF_WEIGHT_ZLEVEL, wbytes, err, n)
            || save_state(t, spath, err, n)) ? -1 : 0;
  free(dir);
  return rc;
}

int lf_trainer_prepare(lf_trainer *t, const char *wpath, const char *spath, char *err, size_t n){
  lf_model *m = &t->m;
  if( lf_model_build(m, &t->train.shape, err, n) ) return -1;
  if( check_outputs(t, err, n) ) return -1;
  {
    int np = lf_net_param_count(m->net);
    lf_param **params = malloc(sizeof(lf_param*) * (size_t)(np ? np : 1));
    if( !params ){ snprintf(err, n, "out of memory"); return -1; }
    /* PyTorch's optimizers decay every parameter, biases included. */
    for(int i=0; i<np; i++){ params[i] = lf_net_param(m->net, i); params[i]->decay = 1; }
    lf_optim_spec *os = &m->spec.optim;
    os->steps_per_epoch = (t->train.n + m->spec.train_batch - 1) / m->spec.train_batch;
    if( os->sched==LF_SCHED_ONECYCLE ){
      int64_t total = os->total_steps > 0 ? os->total_steps : (int64_t)os->cycle_epochs * os->steps_per_epoch;
      double up = os->pct_start * (double)total - 1.0;
      if( !(up > 0.0) || !(total - 1.0 > (os->three_phase ? 2.0*up : up)) ){
        snprintf(err, n, "OneCycleLR: a cycle of %lld batches is too short for pct_start %g (every phase needs "
                 "at least one batch); give more epochs or total_steps, or change pct_start", (long long)total, os->pct_start);
        free(params);
        return -1;
      }
    }
    t->opt = lf_optim_create(os, params, np);
    free(params);
    if( !t->opt ){ snprintf(err, n, "out of memory creating the optimizer"); return -1; }
  }
  t->metrics = calloc((size_t)(m->spec.nmetrics ? m->spec.nmetrics : 1), sizeof(lf_metric*));
  if( !t->metrics ){ snprintf(err, n, "out of memory"); return -1; }
  for(int i=0; i<m->spec.nmetrics; i++){
    t->metrics[i] = lf_metric_create_args(m->spec.metrics[i].kind, (int)lf_shape_count(&m->out), &m->spec.metrics[i].args);
    if( !t->metrics[i] ){ snprintf(err, n, "out of memory"); return -1; }
  }
  if( t->last_epoch > 0 ){
    if( restore(t, wpath, spath, err, n) ) return -1;
  }else{
    lf_rng_seed(&t->rng, m->spec.seed);
    lf_net_init_params(m->net, &t->rng);
  }
  /* Buffers for the whole run, allocated once. */
  int64_t cnt = lf_shape_count(&m->in), nout = lf_shape_count(&m->out);
  int bmax = m->spec.train_batch > m->spec.val_batch ? m->spec.train_batch : m->spec.val_batch;
  t->perm = malloc(sizeof(int64_t) * (size_t)(t->train.n ? t->train.n : 1));
  t->xb = malloc(sizeof(float) * (size_t)bmax * (size_t)cnt);
  t->yb = malloc(sizeof(float) * (size_t)bmax * (size_t)nout);
  t->dy = malloc(sizeof(float) * (size_t)bmax * (size_t)nout);
  if( !t->perm || !t->xb || !t->yb || !t->dy ){ snprintf(err, n, "out of memory for batch buffers"); return -1; }
  /* bf16: f32 master weights (what init/restore filled), bf16 copies for
  ** the kernels, refreshed by the optimizer as it updates. */
  if( m->spec.bf16 && lf_net_set_bf16(m->net, 1, err, n) ) return -1;
  /* ... and the samples kept in bf16 too (lf_dataset_to_bf16), unless
  ** the model reads token ids or category codes from them: those stay f32
  ** (bf16 holds integers exactly only up to 256). */
  if( m->spec.bf16 && lf_net_takes_bf16(m->net) ){ lf_dataset_to_bf16(&t->train); lf_dataset_to_bf16(&t->val); }
  return 0;
}

void lf_trainer_free(lf_trainer *t){
  if( t->metrics ){
    for(int i=0; i<t->m.spec.nmetrics; i++) lf_metric_free(t->metrics[i]);
    free(t->metrics);
  }
  if( t->opt ) lf_optim_free(t->opt);
  lf_dataset_free(&t->train);
  lf_dataset_free(&t->val);
  free(t->perm);
  free(t->xb); free(t->yb); free(t->dy);
  free(t->classes_json);
  lf_model_close(&t->m);
  memset(t, 0, sizeof *t);
}

/* ---- one epoch ------------------------------------------------------- */

static void add_quantity(lf_epoch_result *r, const char *prefix, const char *name, double v){
  snprintf(r->name_buf[r->n], sizeof r->name_buf[0], "%s_%s", prefix, name);
  r->names[r->n] = r->name_buf[r->n];
  r->values[r->n] = v;
  r->n++;
}

/* The batch gather (kernels/lf_batch.c) over dataset d. */
static void gather(const lf_dataset *d, const int64_t *idx, int64_t start, int nb,
                   int tw, float *xb, uint16_t *x16, float *yb){
  lf_batch_src src = { d->x, d->x16, d->y, lf_shape_count(&d->shape) };
  lf_batch_gather(&src, idx, start, nb, tw, xb, x16, yb);
}

/* One optimisation step on the samples perm[start .. start+nb-1] (of
** this process's part of them, data-parallel); *loss receives the batch's
** mean loss. */
static int train_batch(lf_trainer *t, int64_t start, int nb, double *loss, char *err, size_t n){
  lf_model *m = &t->m;
  int nout = (int)lf_shape_count(&m->out), tw = target_width(m);
  int64_t at = start;
  int my_nb = nb;
  if( t->hooks.shard ) t->hooks.shard(t->hooks.arg, start, nb, &at, &my_nb);
  const float *y = NULL;
  char why[512];
  *loss = 0;
  if( my_nb > 0 ){
    /* In bf16 the batch is gathered straight into the compute type (but
    ** token ids stay f32). */
    int x16 = lf_net_takes_bf16(m->net);
    gather(&t->train, t->perm, at, my_nb, tw, t->xb, x16 ? (uint16_t*)t->xb : NULL, t->yb);
    lf_rng *rng = t->fwd_rng ? t->fwd_rng : &t->rng;
    y = x16 ? lf_net_forward_bf16(m->net, (const uint16_t*)t->xb, my_nb, 1, rng, why, sizeof why)
            : lf_net_forward(m->net, t->xb, my_nb, 1, rng, why, sizeof why);
    if( !y ){ snprintf(err, n, "forward pass failed: %s", why); return -1; }
    *loss = lf_loss_compute(&m->spec.loss, y, t->yb, my_nb, nout, t->dy);
  }
  if( !t->hooks.combine ){
    if( !isfinite(*loss) ) goto diverged;
    for(int i=0; i<m->spec.nmetrics; i++) lf_metric_update(t->metrics[i], y, t->yb, my_nb);
  }
  if( my_nb > 0 && lf_net_backward(m->net, t->dy, my_nb, why, sizeof why) ){
    snprintf(err, n, "backward pass failed: %s", why);
    return -1;
  }
  if( my_nb == 0 ){        /* a data-parallel part with no samples adds nothing */
    for(int i=0; i<lf_net_param_count(m->net); i++){
      lf_param *p = lf_net_param(m->net, i);
      if( p->grad ) memset(p->grad, 0, (size_t)p->n * sizeof(float));
    }
  }
  if( t->hooks.combine ){
    if( t->hooks.combine(t->hooks.arg, t, y, t->yb, my_nb, nb, loss, err, n) ) return -1;
    if( !isfinite(*loss) ) goto diverged;
  }
  lf_optim_step(t->opt);
  return 0;
diverged:
  snprintf(err, n, "training diverged in epoch %d (loss is %g); lower the learning rate",
           t->last_epoch + 1, *loss);
  return -1;
}

/* Runs one training epoch. Returns 0 when finished, 1 when stopped on
** request, 2 when interrupted, -1 on error. */
static int train_epoch(lf_trainer *t, lf_progress *pg, lf_epoch_result *r, char *err, size_t n){
  lf_model *m = &t->m;
  int bs = m->spec.train_batch;
  int64_t N = t->train.n, nbatches = (N + bs - 1) / bs;
  double t0 = lf_now_unix(), loss_sum = 0;
  for(int i=0; i<m->spec.nmetrics; i++) lf_metric_reset(t->metrics[i]);
  lf_rng_shuffle(&t->rng, t->perm, N);
  lf_progress_epoch_begin(pg, t->last_epoch + 1, nbatches);
  const char *show_names[34];
  double show_vals[34];
  for(int64_t b=0; b<nbatches; b++){
    int64_t start = b * bs;
    int nb = (int)((N - start) < bs ? (N - start) : bs);
    double loss;
    /* Signals wait while the batch runs (kernels/lf_signals.h); a Ctrl-C
    ** that came meanwhile is handled at the release, before the check
    ** below looks for it. */
    lf_signals_hold();
    int rc = train_batch(t, start, nb, &loss, err, n);
    lf_signals_release();
    if( rc ) return -1;
    loss_sum += loss * nb;
    if( pg->tty ){
      int k = 0;
      show_names[k] = "loss"; show_vals[k++] = loss_sum / (double)(start + nb);
      for(int i=0; i<m->spec.nmetrics && k<34; i++){
        if( lf_progress_shows(pg, m->spec.metrics[i].name) ){ show_names[k] = m->spec.metrics[i].name; show_vals[k++] = lf_metric_value(t->metrics[i]); }
      }
      lf_progress_batch(pg, b + 1, start + nb, show_names, show_vals, k);
    }
    int s = t->hooks.stop ? t->hooks.stop(t->hooks.arg, 0) : 0;
    if( s ) return s;
  }
  /* The learning rate this epoch trained with (its last batch's, after the
  ** schedulers), before the scheduler moves on to the next epoch's. */
  double lr = lf_optim_lr(t->opt);
  lf_optim_epoch_end(t->opt);
  for(int i=0; i<m->spec.nmetrics; i++){
    add_quantity(r, "train", m->spec.metrics[i].name, lf_metric_value(t->metrics[i]));
  }
  add_quantity(r, "train", "loss", loss_sum / (double)N);
  add_quantity(r, "train", "duration", lf_now_unix() - t0);
  snprintf(r->name_buf[r->n], sizeof r->name_buf[0], "lr");
  r->names[r->n] = r->name_buf[r->n];
  r->values[r->n++] = lr;
  return 0;
}

/* Loss and metrics of the model on d, in eval mode. */
static int evaluate_split(lf_model *m, const lf_dataset *d, lf_metric **metrics,
                          float *xb, float *yb, double *loss_out, char *err, size_t n){
  int bs = m->spec.val_batch;
  int nout = (int)lf_shape_count(&m->out), tw = target_width(m);
  double loss_sum = 0;
  for(int i=0; i<m->spec.nmetrics; i++) lf_metric_reset(metrics[i]);
  int64_t cnt = lf_shape_count(&d->shape);
  for(int64_t start=0; start<d->n; start+=bs){
    int nb = (int)((d->n - start) < bs ? (d->n - start) : bs);
    /* Samples in order are already a batch in place: no copy, except of
    ** targets that must be widened. */
    int x16 = d->x16 != NULL;
    const void *xs = x16 ? (const void*)(d->x16 + (size_t)start*(size_t)cnt)
                         : (const void*)(d->x + (size_t)start*(size_t)cnt);
    const float *ys = d->y + start;
    char why[512];
    lf_signals_hold();   /* the gather's threads, like training's */
    if( tw != 1 ){
      gather(d, NULL, start, nb, tw, xb, x16 ? (uint16_t*)xb : NULL, yb);
      xs = xb;
      ys = yb;
    }
    const float *y = x16 ? lf_net_forward_bf16(m->net, xs, nb, 0, NULL, why, sizeof why)
                         : lf_net_forward(m->net, xs, nb, 0, NULL, why, sizeof why);
    lf_signals_release();
    if( !y ){ snprintf(err, n, "forward pass failed: %s", why); return -1; }
    loss_sum += lf_loss_compute(&m->spec.loss, y, ys, nb, nout, NULL) * nb;
    for(int i=0; i<m->spec.nmetrics; i++) lf_metric_update(metrics[i], y, ys, nb);
  }
  *loss_out = d->n ? loss_sum / (double)d->n : NAN;
  return 0;
}

int lf_trainer_epoch(lf_trainer *t, lf_progress *pg, lf_epoch_result *r, int *improved,
                     char *err, size_t n){
  lf_model *m = &t->m;
  int e = t->last_epoch + 1;
  r->n = 0;
  *improved = 0;
  /* The permutation is reshuffled from the identity each epoch so that
  ** a resumed run draws the same order as an uninterrupted one. */
  for(int64_t i=0; i<t->train.n; i++) t->perm[i] = i;
  int s = train_epoch(t, pg, r, err, n);
  if( s ) return s;
  double t0 = lf_now_unix(), vloss;
  int rc = t->hooks.evaluate ? t->hooks.evaluate(t->hooks.arg, t, &vloss, err, n)
                             : evaluate_split(m, &t->val, t->metrics, t->xb, t->yb, &vloss, err, n);
  if( rc ) return -1;
  for(int i=0; i<m->spec.nmetrics; i++) add_quantity(r, "val", m->spec.metrics[i].name, lf_metric_value(t->metrics[i]));
  add_quantity(r, "val", "loss", vloss);
  add_quantity(r, "val", "duration", lf_now_unix() - t0);
  /* Best epoch on the project's strategy. */
  double mv = NAN;
  for(int i=0; i<r->n; i++) if( strcmp(r->names[i], m->settings.monitor)==0 ) mv = r->values[i];
  *improved = isfinite(mv) && (!t->have_best || (m->settings.mode_max ? mv > t->best_value : mv < t->best_value));
  if( *improved ){ t->best_epoch = e; t->best_value = mv; t->have_best = 1; }
  if( m->spec.optim.sched==LF_SCHED_PLATEAU ){
    double pv = NAN;
    for(int i=0; i<r->n; i++) if( strcmp(r->names[i], m->spec.optim.monitor)==0 ) pv = r->values[i];
    lf_optim_plateau_step(t->opt, pv);
  }
  return 0;
}

/* ---- the per-epoch commit ------------------------------------------- */

static int bind_step(sqlite3_stmt *st){
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc==SQLITE_DONE ? 0 : -1;
}

int lf_epoch_commit(sqlite3 *db, const char *pplid, int e, const lf_epoch_result *r,
                    int64_t wbytes, int best_epoch, double best_value, const char *classes_json,
                    int keep_all, int *drop, int *ndrop, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  char e2[64];
  *ndrop = 0;
  if( lf_exec(db, "BEGIN IMMEDIATE", err, n) ) return -1;
  if( sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO main.history(pplid, epoch, name, value) VALUES(?1, ?2, ?3, ?4)",
                         -1, &st, NULL) != SQLITE_OK ) goto fail;
  for(int i=0; i<r->n; i++){
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, e);
    sqlite3_bind_text(st, 3, r->names[i], -1, SQLITE_STATIC);
    if( isfinite(r->values[i]) ) sqlite3_bind_double(st, 4, r->values[i]);
    else sqlite3_bind_null(st, 4);
    if( bind_step(st) ) goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  if( sqlite3_prepare_v2(db, "UPDATE main.ppl_state SET last_epoch=?2, best_epoch=?3, best_value=?4, "
                         "classes=coalesce(classes, ?5) WHERE pplid=?1", -1, &st, NULL) != SQLITE_OK ) goto fail;
  sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, e);
  sqlite3_bind_int(st, 3, best_epoch);
  sqlite3_bind_double(st, 4, best_value);
  if( classes_json ) sqlite3_bind_text(st, 5, classes_json, -1, SQLITE_STATIC);
  else sqlite3_bind_null(st, 5);
  if( bind_step(st) ) goto fail;
  sqlite3_finalize(st);
  st = NULL;
  if( sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO main.ppl_weight_files(pplid, epoch, bytes) VALUES(?1, ?2, ?3)",
                         -1, &st, NULL) != SQLITE_OK ) goto fail;
  sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, e);
  sqlite3_bind_int64(st, 3, wbytes);
  if( bind_step(st) ) goto fail;
  sqlite3_finalize(st);
  st = NULL;
  if( !keep_all ){
    if( sqlite3_prepare_v2(db, "SELECT epoch FROM main.ppl_weight_files WHERE pplid=?1 AND epoch NOT IN (?2, ?3)",
                           -1, &st, NULL) != SQLITE_OK ) goto fail;
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, e);
    sqlite3_bind_int(st, 3, best_epoch);
    while( sqlite3_step(st)==SQLITE_ROW && *ndrop < 64 ) drop[(*ndrop)++] = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if( sqlite3_prepare_v2(db, "DELETE FROM main.ppl_weight_files WHERE pplid=?1 AND epoch=?2", -1, &st, NULL) != SQLITE_OK ) goto fail;
    for(int i=0; i<*ndrop; i++){
      sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
      sqlite3_bind_int(st, 2, drop[i]);
      if( bind_step(st) ) goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
  }
  /* ppls.status stays 'running' until the claim goes (trainer_close). */
  if( lf_exec(db, "COMMIT", err, n) ) goto fail_msg;
  return 0;
fail:
  snprintf(err, n, "cannot record epoch %d: %s", e, sqlite3_errmsg(db));
fail_msg:
  sqlite3_finalize(st);
  lf_exec(db, "ROLLBACK", e2, sizeof e2);
  return -1;
}

/* Removes a file that no committed row refers to any more. */
static void remove_file(char *path){
  if( path ){ unlink(path); free(path); }
}

void lf_epoch_cleanup(const char *artifacts, const char *pplid, int e, const int *drop, int ndrop){
  for(int i=0; i<ndrop; i++){
    char e2[64];
    remove_file(lf_ppl_path(artifacts, "weight", pplid, drop[i], e2, sizeof e2));
  }
  if( e > 1 ) remove_file(lf_ppl_state_path(artifacts, pplid, e - 1));
}

/* A trainer killed while writing a file leaves "<file>.tmp-<pid>" behind;
** whoever holds the claim next is the only writer of the folder and
** removes them. */
void lf_trainer_remove_stale_temps(const char *artifacts, const char *pplid){
  char err[256];
  char *p = lf_ppl_path(artifacts, "weight", pplid, 1, err, sizeof err);
  char *slash = p ? strrchr(p, '/') : NULL;
  if( slash ){
    *slash = 0;
    DIR *d = opendir(p);
    struct dirent *de;
    while( d && (de = readdir(d)) != NULL ){
      if( !strstr(de->d_name, ".tmp-") ) continue;
      size_t k = strlen(p) + strlen(de->d_name) + 2;
      char *f = malloc(k);
      if( f ){ snprintf(f, k, "%s/%s", p, de->d_name); unlink(f); free(f); }
    }
    if( d ) closedir(d);
  }
  free(p);
}

static void trainer_close(trainer *t){
  /* The claim goes with the final status, in one transaction. */
  if( t->claimed ) lf_claim_release(t->priv, t->runid, t->req->pplid, t->end_status ? t->end_status : t->prev_status);
  sqlite3_finalize(t->interrupt_probe);
  if( t->priv ) sqlite3_close(t->priv);
  lf_trainer_free(&t->c);
}

static char *summary(trainer *t, int first, const char *ended, const char *message){
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "pplid", t->req->pplid);
  if( first <= t->c.last_epoch ){
    cJSON_AddNumberToObject(o, "first_epoch", first);
    cJSON_AddNumberToObject(o, "last_epoch", t->c.last_epoch);
  }else{
    cJSON_AddNullToObject(o, "first_epoch");
    cJSON_AddNullToObject(o, "last_epoch");
  }
  cJSON_AddNumberToObject(o, "epochs_run", t->c.last_epoch - first + 1 > 0 ? t->c.last_epoch - first + 1 : 0);
  if( t->c.have_best ){
    cJSON_AddNumberToObject(o, "best_epoch", t->c.best_epoch);
    cJSON_AddNumberToObject(o, t->c.m.settings.monitor, t->c.best_value);
  }else{
    cJSON_AddNullToObject(o, "best_epoch");
  }
  cJSON_AddStringToObject(o, "ended", ended);
  if( LF_DS_TABULAR(&t->c.m.spec.dataset) && t->c.train.n ){
    /* Rows left out for a missing value (na "drop"). */
    cJSON *d = cJSON_AddObjectToObject(o, "dropped_rows");
    cJSON_AddNumberToObject(d, "train", (double)t->c.train.dropped);
    cJSON_AddNumberToObject(d, "val", (double)t->c.val.dropped);
  }
  if( message ) cJSON_AddStringToObject(o, "message", message);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

/* Opens a ppl_train call on t (its model open): checks the request, takes
** the claim and a lab_logs row, reads the pipeline's state, applies the
** project's threads, loads the data and restores the last epoch. 0: ready
** to train t->epochs epochs from t->first; 1: nothing to train; -1 with
** err. Nothing to train from the start takes no claim and no row, so the
** call changes nothing. */
static int train_open(trainer *t, char *err, size_t n){
  const lf_train_request *req = t->req;
  lf_model *m = &t->c.m;
  if( m->spec.bf16 && !lf_bf16_supported() ){
    snprintf(err, n, "precision \"bf16\" needs a CPU with AVX-512 BF16 instructions (avx512_bf16: "
             "Intel Cooper Lake or Sapphire Rapids and later, AMD Zen 4 and later); this CPU has none: "
             "use \"precision\": \"f32\"");
    return -1;
  }
  for(int v=0; v<req->nverbose; v++){
    if( lf_settings_metric_index(&m->settings, req->verbose[v]) < 0 && strcmp(req->verbose[v], "loss")!=0
     && strcmp(req->verbose[v], "duration")!=0 && strcmp(req->verbose[v], "lr")!=0 ){
      snprintf(err, n, "verbose: '%.40s' is not a project metric, 'loss', 'duration' or 'lr'", req->verbose[v]);
      return -1;
    }
  }
  if( open_private(t, err, n) ) return -1;
  if( read_state(t, err, n) ) return -1;
  t->first = t->c.last_epoch + 1;
  if( req->until_epoch > 0 ? req->until_epoch <= t->c.last_epoch : req->epochs <= 0 ) return 1;
  lf_sigint_watch_begin(&t->sigint);
  int made = 0;
  sqlite3_int64 logid = lf_log_ensure(t->priv, req->logid, &made, err, n);
  if( !logid ) return -1;
  if( made ) t->new_logid = logid;
  if( lf_claim_take(t->priv, req->pplid, logid, &t->runid, t->prev_status, sizeof t->prev_status, err, n) ) return -1;
  t->claimed = 1;
  if( read_state(t, err, n) ) return -1;
  lf_trainer_remove_stale_temps(m->artifacts, req->pplid);
  t->first = t->c.last_epoch + 1;
  /* Patience counts epochs since the best epoch of the whole history, as
  ** the reference does; none given and none in the strategy: no early
  ** stopping. */
  int patience = t->patience = req->patience >= 0 ? req->patience : m->settings.patience;
  int epochs = t->epochs = req->until_epoch > 0 ? req->until_epoch - t->c.last_epoch : req->epochs;
  if( epochs <= 0 ) return 1;   /* another trainer got there while we waited for the claim */
  if( patience > 0 && t->c.last_epoch - (t->c.have_best ? t->c.best_epoch : 0) >= patience ){
    int since = t->c.last_epoch - (t->c.have_best ? t->c.best_epoch : 0);
    char best[64];
    if( t->c.have_best ) snprintf(best, sizeof best, "best epoch %d", t->c.best_epoch);
    else snprintf(best, sizeof best, "no best epoch yet");
    snprintf(err, n, "pipeline '%s' has gone %d epochs without improving %s (%s, last epoch %d), which "
             "exhausts patience %d; to train on, pass a larger patience, e.g. ppl_train('%s', %d, %d), "
             "or 0 for no early stopping", req->pplid, since, m->settings.monitor, best, t->c.last_epoch,
             patience, req->pplid, epochs, since + patience);
    return -1;
  }
  t->caller_threads = lf_threads_apply(m->settings.threads);
  if( load_data(t, err, n) ) return -1;
  char *wpath = NULL, *spath = NULL;
  if( t->c.last_epoch > 0 ){
    wpath = lf_ppl_path(m->artifacts, "weight", req->pplid, t->c.last_epoch, err, n);
    spath = lf_ppl_state_path(m->artifacts, req->pplid, t->c.last_epoch);
    if( !wpath ){ free(spath); return -1; }
  }
  int rc = lf_trainer_prepare(&t->c, wpath, spath, err, n);
  free(wpath);
  free(spath);
  return rc ? -1 : 0;
}

/* Runs epoch t->c.last_epoch + 1: trains and validates it, writes its
** files, commits it, then sees whether the run ends (early stopping, a stop
** request; last: this is the run's last epoch anyway). 0 go on, 1 the run
** ended (t->ended says how), -1 with err (the epoch did not happen). */
static int train_one_epoch(trainer *t, lf_progress *pg, int last, char *err, size_t n){
  const lf_train_request *req = t->req;
  lf_model *m = &t->c.m;
  int e = t->c.last_epoch + 1;
  lf_epoch_result r;
  int improved;
  int s = lf_trainer_epoch(&t->c, pg, &r, &improved, err, n);
  if( s < 0 ) return -1;
  if( s > 0 ){
    t->ended = s==1 ? "stop_requested" : "interrupted";
    if( pg->enabled ) fprintf(stderr, "%s%s epoch %d: %s; epoch not recorded\n", pg->tty ? "\r\033[K" : "",
                              pg->pplid, e, t->ended);
    return 1;
  }
  /* Files first, durable; then the commit that makes them count. */
  char *wpath = lf_ppl_path(m->artifacts, "weight", req->pplid, e, err, n);
  char *spath = lf_ppl_state_path(m->artifacts, req->pplid, e);
  int64_t wbytes = 0;
  int rc = (!wpath || !spath) ? -1 : lf_trainer_save(&t->c, wpath, spath, &wbytes, err, n);
  int drop[64], ndrop = 0;
  if( rc==0 ) rc = lf_epoch_commit(t->priv, req->pplid, e, &r, wbytes, t->c.best_epoch, t->c.best_value,
                                   t->c.classes_json, m->settings.keep_all, drop, &ndrop, err, n);
  if( rc ){
    /* The epoch did not happen: its files go, the previous ones stay. */
    if( wpath ) unlink(wpath);
    if( spath ) unlink(spath);
    free(wpath); free(spath);
    return -1;
  }
  free(wpath); free(spath);
  t->c.last_epoch = e;
  lf_epoch_cleanup(m->artifacts, req->pplid, e, drop, ndrop);
  lf_progress_epoch_end(pg, r.names, r.values, r.n, improved ? "best" : "");
  int since = e - (t->c.have_best ? t->c.best_epoch : 0);
  if( t->patience > 0 && since >= t->patience ){
    t->ended = "early_stop";
    snprintf(t->ended_msg, sizeof t->ended_msg, "no improvement of %s for %d epochs (best epoch %d)",
             m->settings.monitor, since, t->c.have_best ? t->c.best_epoch : 0);
    return 1;
  }
  int s2 = stop_requested(t, 1);
  if( s2 && !last ){
    t->ended = s2==1 ? "stop_requested" : "interrupted";
    return 1;
  }
  return 0;
}

/* Ends the call: the answer (ok: the JSON summary, else NULL with err as
** it is), the status the claim leaves, and every resource given back. */
static char *train_finish(trainer *t, int ok, char *err, size_t n){
  char *result = NULL;
  if( ok ){
    result = summary(t, t->first, t->ended, t->ended_msg[0] ? t->ended_msg : NULL);
    if( !result ) snprintf(err, n, "out of memory");
    /* What docs/sql-reference.md promises for ppls.status. */
    t->end_status = strcmp(t->ended, "early_stop")==0 ? "early_stopped"
                  : strcmp(t->ended, "finished")==0 ? (t->c.last_epoch >= t->first ? "trained" : t->prev_status)
                  : "stopped";
  }
  /* A call that failed after committing epochs stopped before its end. */
  if( !t->end_status && t->first > 0 && t->c.last_epoch >= t->first ) t->end_status = "stopped";
  /* A call that failed before committing an epoch changed nothing: the
  ** lab_logs row it made for this connection goes too. */
  if( !result && t->new_logid && (t->first == 0 || t->c.last_epoch < t->first) ) lf_log_delete(t->priv, t->new_logid);
  trainer_close(t);
  lf_sigint_watch_end(&t->sigint);
  lf_threads_restore(t->caller_threads);
  return result;
}

char *lf_train(sqlite3 *db, const lf_train_request *req, char *err, size_t n){
  trainer t;
  memset(&t, 0, sizeof t);
  t.db = db;
  t.req = req;
  t.c.pplid = req->pplid;
  t.c.hooks.stop = stop_requested;
  t.c.hooks.arg = &t;
  t.ended = "finished";
  if( lf_model_open(db, req->pplid, &t.c.m, err, n) ) return NULL;
  int s = train_open(&t, err, n);
  if( s==0 ){
    lf_progress pg;
    lf_progress_init(&pg, t.c.m.settings.progress, req->progress_label ? req->progress_label : req->pplid,
                     t.first, t.first + t.epochs - 1, req->verbose, req->nverbose, req->quiet);
    for(int k=0; s==0 && k<t.epochs; k++) s = train_one_epoch(&t, &pg, k==t.epochs - 1, err, n);
  }
  return train_finish(&t, s >= 0, err, n);
}
