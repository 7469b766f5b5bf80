/*
** mpi_dp.c — one pipeline, data-parallel (mpi_dp.h).
**
** Every rank holds the whole model and the whole data and draws the same
** permutation (the pipeline's rng, identical on every rank). Each global
** batch of the config's train_batch samples is split into contiguous
** parts, one per rank; each rank runs forward and backward on its part,
** then one MPI_Allgather gives every rank every part's gradients, BatchNorm
** running statistics, summed loss, outputs and targets. Every rank then
** adds the parts up in rank order, each weighted by its share of the
** batch, with the same code on the same numbers, so the sum is bitwise the
** same on every rank and in every run with the same rank count (an
** MPI_Allreduce leaves the order of a floating-point sum to the library and
** the network, so it is not used). The optimizer steps on identical
** gradients, so the weights stay identical; a hash of them is compared at
** every epoch's end.
**
** BatchNorm normalises with each part's own batch statistics (as PyTorch's
** DistributedDataParallel without SyncBatchNorm); the running mean and
** variance are replaced after every step by the parts' weighted average,
** so every rank holds the same buffers. Dropout draws from a stream per
** rank derived from the pipeline's rng at each epoch's start.
**
** Metrics: every rank updates the metrics with every part's outputs in
** rank order, exactly the updates one process makes over the whole batch.
** Validation is sharded: each rank runs its contiguous slice of the
** validation set, the outputs are gathered (MPI_Allgatherv) and loss and
** metrics are computed over them in order, as lf_train does.
**
** Rank 0 alone touches the database: it claims the pipeline, sends the
** job (mpi_project.c), writes the epoch's files from its copy of the state
** (the ordinary format: ppl_train resumes them) and commits. A stop request
** seen by rank 0 travels in the next batch's exchange, so all ranks stop
** after the same batch.
*/
#include <mpi.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "mpi_dp.h"
#include "../../core/lf_project.h"
#include "../../core/lf_sha256.h"

typedef struct dp {
  lf_mpi *c;
  mp_claim *cl;             /* rank 0 */
  int nout, tw, maxpart;
  int64_t ngrad, nbuf;      /* floats of gradients and of buffers */
  size_t rec;               /* bytes of one rank's record */
  unsigned char *send, *recv;
  float *acc;
  lf_rng drop_rng;
  int pending_stop;         /* rank 0: to send with the next exchange */
  int agreed_stop;          /* what rank 0 sent last */
  double comm_seconds;
  int64_t steps;
  float *vout;              /* validation outputs, whole set */
  int *vcounts, *vdispls;
} dp;

#define HDR 24              /* double loss sum, i64 part size, i64 stop */

static void part_of(int64_t n, int size, int rank, int64_t *lo, int64_t *hi){
  *lo = n * rank / size;
  *hi = n * (rank + 1) / size;
}

static void shard(void *arg, int64_t start, int nb, int64_t *at, int *my_nb){
  dp *d = arg;
  int64_t lo, hi;
  part_of(nb, d->c->size, d->c->rank, &lo, &hi);
  *at = start + lo;
  *my_nb = (int)(hi - lo);
}

static int dp_stop(void *arg, int force){
  dp *d = arg;
  (void)force;
  if( d->c->rank==0 && !d->pending_stop ) d->pending_stop = mp_claim_check(d->c, d->cl, 0);
  return d->agreed_stop;
}

static int combine(void *arg, lf_trainer *t, const float *y, const float *yb, int my_nb, int nb,
                   double *loss, char *err, size_t n){
  dp *d = arg;
  lf_net *net = t->m.net;
  int np = lf_net_param_count(net);
  unsigned char *h = d->send;
  double lsum = *loss * my_nb;
  int64_t part = my_nb, stop = d->c->rank==0 ? d->pending_stop : 0;
  memcpy(h, &lsum, 8); memcpy(h + 8, &part, 8); memcpy(h + 16, &stop, 8);
  float *f = (float*)(h + HDR);
  for(int i=0; i<np; i++){
    lf_param *p = lf_net_param(net, i);
    if( p->grad ){ memcpy(f, p->grad, (size_t)p->n * sizeof(float)); f += p->n; }
  }
  for(int i=0; i<np; i++){
    lf_param *p = lf_net_param(net, i);
    if( !p->grad ){ memcpy(f, p->data, (size_t)p->n * sizeof(float)); f += p->n; }
  }
  if( my_nb > 0 ){
    memcpy(f, y, (size_t)my_nb * (size_t)d->nout * sizeof(float));
    memcpy(f + (size_t)d->maxpart * (size_t)d->nout, yb, (size_t)my_nb * (size_t)d->tw * sizeof(float));
  }
  double t0 = MPI_Wtime();
  if( MPI_Allgather(d->send, (int)d->rec, MPI_BYTE, d->recv, (int)d->rec, MPI_BYTE, MPI_COMM_WORLD) != MPI_SUCCESS ){
    snprintf(err, n, "MPI_Allgather failed");
    return -1;
  }
  d->comm_seconds += MPI_Wtime() - t0;
  d->steps++;
  /* The sums, in rank order, identical on every rank. */
  int64_t total = d->ngrad + d->nbuf;
  memset(d->acc, 0, (size_t)total * sizeof(float));
  double ltot = 0;
  for(int r=0; r<d->c->size; r++){
    const unsigned char *rh = d->recv + (size_t)r * d->rec;
    double ls; int64_t pn, st;
    memcpy(&ls, rh, 8); memcpy(&pn, rh + 8, 8); memcpy(&st, rh + 16, 8);
    if( r==0 ) d->agreed_stop = (int)st;
    ltot += ls;
    if( pn==0 ) continue;
    const float *rf = (const float*)(rh + HDR);
    float w = (float)pn / (float)nb;
    for(int64_t i=0; i<total; i++) d->acc[i] += w * rf[i];
    const float *ry = rf + total, *rt = ry + (size_t)d->maxpart * (size_t)d->nout;
    for(int i=0; i<t->m.spec.nmetrics; i++) lf_metric_update(t->metrics[i], ry, rt, (int)pn);
  }
  if( d->c->rank==0 && d->agreed_stop ) d->pending_stop = 0;
  const float *a = d->acc;
  for(int i=0; i<np; i++){
    lf_param *p = lf_net_param(net, i);
    if( p->grad ){ memcpy(p->grad, a, (size_t)p->n * sizeof(float)); a += p->n; }
  }
  for(int i=0; i<np; i++){
    lf_param *p = lf_net_param(net, i);
    if( !p->grad ){ memcpy(p->data, a, (size_t)p->n * sizeof(float)); a += p->n; }
  }
  *loss = ltot / (double)nb;
  return 0;
}

/* Sharded validation: this rank's slice, every rank's outputs gathered,
** then loss and metrics over the whole set in lf_train's batch order. */
static int evaluate(void *arg, lf_trainer *t, double *loss_out, char *err, size_t n){
  dp *d = arg;
  lf_model *m = &t->m;
  const lf_dataset *v = &t->val;
  int bs = m->spec.val_batch, size = d->c->size;
  int64_t cnt = lf_shape_count(&v->shape), lo, hi;
  part_of(v->n, size, d->c->rank, &lo, &hi);
  if( !d->vout ){
    d->vout = malloc(sizeof(float) * (size_t)(v->n ? v->n : 1) * (size_t)d->nout);
    d->vcounts = calloc((size_t)size, sizeof(int));
    d->vdispls = calloc((size_t)size, sizeof(int));
    if( !d->vout || !d->vcounts || !d->vdispls ){ snprintf(err, n, "out of memory"); return -1; }
    for(int r=0; r<size; r++){
      int64_t a, b;
      part_of(v->n, size, r, &a, &b);
      d->vcounts[r] = (int)((b - a) * d->nout);
      d->vdispls[r] = (int)(a * d->nout);
    }
  }
  for(int64_t start=lo; start<hi; start+=bs){
    int nb = (int)((hi - start) < bs ? (hi - start) : bs);
    char why[512];
    const float *y = v->x16 ? lf_net_forward_bf16(m->net, v->x16 + (size_t)start*(size_t)cnt, nb, 0, NULL, why, sizeof why)
                            : lf_net_forward(m->net, v->x + (size_t)start*(size_t)cnt, nb, 0, NULL, why, sizeof why);
    if( !y ){ snprintf(err, n, "forward pass failed: %s", why); return -1; }
    memcpy(d->vout + (size_t)start * (size_t)d->nout, y, sizeof(float) * (size_t)nb * (size_t)d->nout);
  }
  if( MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, d->vout, d->vcounts, d->vdispls, MPI_FLOAT,
                     MPI_COMM_WORLD) != MPI_SUCCESS ){
    snprintf(err, n, "MPI_Allgatherv failed");
    return -1;
  }
  double loss_sum = 0;
  for(int i=0; i<m->spec.nmetrics; i++) lf_metric_reset(t->metrics[i]);
  for(int64_t start=0; start<v->n; start+=bs){
    int nb = (int)((v->n - start) < bs ? (v->n - start) : bs);
    const float *y = d->vout + (size_t)start * (size_t)d->nout, *ys = v->y + start;
    if( d->tw != 1 ){
      for(int i=0; i<nb; i++) for(int k=0; k<d->tw; k++) t->yb[(size_t)i*d->tw + k] = v->y[start + i];
      ys = t->yb;
    }
    loss_sum += lf_loss_compute(&m->spec.loss, y, ys, nb, d->nout, NULL) * nb;
    for(int i=0; i<m->spec.nmetrics; i++) lf_metric_update(t->metrics[i], y, ys, nb);
  }
  *loss_out = v->n ? loss_sum / (double)v->n : NAN;
  return 0;
}

/* SHA-256 of every parameter and buffer, in state_dict order. */
static int weights_hash(lf_trainer *t, uint8_t out[32]){
  lf_net *net = t->m.net;
  size_t total = 0;
  for(int i=0; i<lf_net_param_count(net); i++) total += (size_t)lf_net_param(net, i)->n * sizeof(float);
  unsigned char *b = malloc(total ? total : 1), *q = b;
  if( !b ) return -1;
  for(int i=0; i<lf_net_param_count(net); i++){
    lf_param *p = lf_net_param(net, i);
    memcpy(q, p->data, (size_t)p->n * sizeof(float));
    q += (size_t)p->n * sizeof(float);
  }
  lf_sha256(b, total, out);
  free(b);
  return 0;
}

static void hex(const uint8_t *h, char *out){
  for(int i=0; i<32; i++) sprintf(out + 2*i, "%02x", h[i]);
}

static int dp_setup(dp *d, lf_trainer *t, char *err, size_t n){
  lf_net *net = t->m.net;
  d->nout = (int)lf_shape_count(&t->m.out);
  d->tw = lf_loss_is_classification(&t->m.spec.loss) ? 1 : d->nout;
  d->maxpart = (t->m.spec.train_batch + d->c->size - 1) / d->c->size;
  for(int i=0; i<lf_net_param_count(net); i++){
    lf_param *p = lf_net_param(net, i);
    if( p->grad ) d->ngrad += p->n; else d->nbuf += p->n;
  }
  size_t floats = (size_t)(d->ngrad + d->nbuf) + (size_t)d->maxpart * (size_t)(d->nout + d->tw);
  d->rec = (HDR + floats * sizeof(float) + 7) / 8 * 8;
  d->send = calloc(1, d->rec);
  d->recv = malloc(d->rec * (size_t)d->c->size);
  d->acc = malloc(sizeof(float) * (size_t)(d->ngrad + d->nbuf ? d->ngrad + d->nbuf : 1));
  if( !d->send || !d->recv || !d->acc ){ snprintf(err, n, "out of memory for the exchange buffers"); return -1; }
  return 0;
}

static void dp_free(dp *d){
  free(d->send); free(d->recv); free(d->acc);
  free(d->vout); free(d->vcounts); free(d->vdispls);
}

/* Every rank's ok (1) or not (0): all must agree before going on. */
static int all_ok(int ok){
  int all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all;
}

enum { GO_ON = 0, END_STOP = 1, END_INTERRUPT = 2, END_ERROR = 3, END_EARLY = 4 };

int mp_dp_train(lf_mpi *c, const char *pplid, int epochs, int until, int patience, int print_hashes){
  char err[2048] = "";
  mp_claim cl;
  memset(&cl, 0, sizeof cl);
  lf_msg msg = {0};
  int go = 0, result = 1;
  if( c->rank==0 ){
    char *summary = NULL;
    int k = mp_claim_job(c, pplid, epochs, until, patience, 1, &cl, &msg, &summary, err, sizeof err);
    if( k==1 ) go = 1;
    else if( k==0 ){ printf("%s\n", summary); fflush(stdout); free(summary); result = 0; }
    else if( k==2 ) snprintf(err, sizeof err, "pipeline '%s' reads its data with a SQL query of the project, "
                             "which only rank 0 can read; data-parallel training needs file data every rank "
                             "can read at the same path", pplid);
    if( k < 0 || k==2 ) fprintf(stderr, "labflow-mpi: %s\n", err);
  }
  MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if( !go ){
    MPI_Bcast(&result, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return result;
  }
  if( msg_bcast(&msg, 0) ){ fprintf(stderr, "labflow-mpi: rank %d: cannot receive the job\n", c->rank); MPI_Abort(MPI_COMM_WORLD, 1); }
  mp_job job;
  lf_trainer t;
  dp d;
  memset(&d, 0, sizeof d);
  d.c = c;
  d.cl = c->rank==0 ? &cl : NULL;
  int ok = mp_trainer_from_job(c, &msg, &job, &t, err, sizeof err)==0 && dp_setup(&d, &t, err, sizeof err)==0;
  msg_free(&msg);
  if( !ok ) fprintf(stderr, "labflow-mpi: rank %d: %s\n", c->rank, err);
  const char *ended = "error";
  char message[2048] = "";
  int hashes_equal = 1;
  char rank0_hash[65] = "";
  if( !all_ok(ok) ){
    if( c->rank==0 && ok ) snprintf(message, sizeof message, "another rank could not set up the pipeline (its error is above)");
    else snprintf(message, sizeof message, "%s", err);
    goto finish;
  }
  t.hooks.shard = shard;
  t.hooks.combine = combine;
  t.hooks.evaluate = evaluate;
  t.hooks.stop = dp_stop;
  t.hooks.arg = &d;
  t.fwd_rng = &d.drop_rng;
  /* Rank 0's line per epoch (mp_epoch_line); no live line. */
  lf_progress pg;
  lf_progress_init(&pg, 0, job.pplid, job.last_epoch + 1, job.last_epoch + job.epochs, NULL, 0, 1);
  int show = c->rank==0 && !c->quiet && t.m.settings.progress;
  char tag[32];
  snprintf(tag, sizeof tag, "%d ranks", c->size);
  ended = "finished";
  for(int k=0; k<job.epochs; k++){
    int e = t.last_epoch + 1, improved = 0;
    lf_epoch_result r;
    /* Dropout: a stream per rank and epoch, from the pipeline's rng at
    ** the epoch's start (the same on every rank, and saved with the
    ** state, so a resumed run draws the same). */
    lf_rng_seed(&d.drop_rng, t.rng.s[0] ^ t.rng.s[3] ^ (0x9E3779B97F4A7C15ull * (uint64_t)(c->rank + 1)) ^ (uint64_t)e);
    int s = lf_trainer_epoch(&t, &pg, &r, &improved, err, sizeof err);
    if( s < 0 ){
      fprintf(stderr, "labflow-mpi: rank %d: %s\n", c->rank, err);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if( s > 0 ){ ended = s==1 ? "stop_requested" : "interrupted"; break; }
    uint8_t h[32];
    weights_hash(&t, h);
    uint8_t *all = malloc(32 * (size_t)c->size);
    if( !all ) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Allgather(h, 32, MPI_BYTE, all, 32, MPI_BYTE, MPI_COMM_WORLD);
    int decision = GO_ON;
    if( c->rank==0 ){
      for(int q=1; q<c->size; q++) if( memcmp(all, all + 32*q, 32) != 0 ){
        hashes_equal = 0;
        snprintf(message, sizeof message, "after epoch %d the weights of rank %d differ from rank 0's", e, q);
      }
      hex(all, rank0_hash);
      if( print_hashes ){
        fprintf(stderr, "%s epoch %d weights sha256:", job.pplid, e);
        for(int q=0; q<c->size; q++){ char x[65]; hex(all + 32*q, x); fprintf(stderr, " rank%d=%.16s", q, x); }
        fprintf(stderr, "\n");
      }
      cl.best_epoch = t.best_epoch; cl.have_best = t.have_best; cl.best_value = t.best_value;
      if( t.classes_json && !cl.classes_json ) cl.classes_json = strdup(t.classes_json);
      if( !hashes_equal ) decision = END_ERROR;
      else if( mp_record_epoch_local(c, &cl, &t, e, &r, err, sizeof err) ){
        snprintf(message, sizeof message, "%s", err);
        decision = END_ERROR;
      }else{
        if( show ) mp_epoch_line(job.pplid, tag, e, job.last_epoch + job.epochs, &r, improved);
        int since = e - (t.have_best ? t.best_epoch : 0);
        if( job.patience > 0 && since >= job.patience ){
          decision = END_EARLY;
          snprintf(message, sizeof message, "no improvement of %s for %d epochs (best epoch %d)",
                   t.m.settings.monitor, since, t.have_best ? t.best_epoch : 0);
        }else{
          int s2 = mp_claim_check(c, &cl, 1);
          if( s2 && k < job.epochs - 1 ) decision = s2;
        }
      }
    }
    free(all);
    MPI_Bcast(&decision, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if( decision == END_ERROR ){ ended = "error"; break; }
    t.last_epoch = e;
    if( decision == END_EARLY ){ ended = "early_stop"; break; }
    if( decision == END_STOP ){ ended = "stop_requested"; break; }
    if( decision == END_INTERRUPT ){ ended = "interrupted"; break; }
  }
finish:
  if( c->rank==0 ){
    cl.dropped_train = t.train.dropped;
    cl.dropped_val = t.val.dropped;
    if( strcmp(ended, "error")==0 ){
      fprintf(stderr, "labflow-mpi: %s\n", message);
      result = 1;
    }else{
      char *s = mp_summary(&cl, ended, strcmp(ended, "early_stop")==0 ? message : NULL);
      cJSON *o = s ? cJSON_Parse(s) : NULL;
      free(s);
      if( o ){
        cJSON *mp = cJSON_AddObjectToObject(o, "mpi");
        cJSON_AddNumberToObject(mp, "ranks", c->size);
        cJSON_AddNumberToObject(mp, "steps", (double)d.steps);
        cJSON_AddNumberToObject(mp, "comm_seconds", d.comm_seconds);
        cJSON_AddNumberToObject(mp, "comm_ms_per_step", d.steps ? 1000.0 * d.comm_seconds / (double)d.steps : 0);
        /* An Allgather sends one record and receives size-1 of them. */
        cJSON_AddNumberToObject(mp, "bytes_sent_per_step_per_rank", (double)d.rec);
        cJSON_AddNumberToObject(mp, "bytes_received_per_step_per_rank", (double)d.rec * (c->size - 1));
        cJSON_AddBoolToObject(mp, "weights_equal_on_all_ranks", hashes_equal);
        if( rank0_hash[0] ) cJSON_AddStringToObject(mp, "weights_sha256", rank0_hash);
        char *line = cJSON_PrintUnformatted(o);
        if( line ) printf("%s\n", line);
        free(line);
        cJSON_Delete(o);
      }
      fflush(stdout);
      result = 0;
    }
    mp_release(c, &cl, ended);
  }
  mp_trainer_free(&t);
  mp_job_free(&job);
  dp_free(&d);
  if( strcmp(ended, "interrupted")==0 ) result = -2;
  MPI_Bcast(&result, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return result;
}
