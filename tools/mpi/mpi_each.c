/*
** mpi_each.c — many pipelines over the ranks (mpi_each.h).
**
** Rank 0 keeps a queue of pipelines. A free worker rank gets one as a job
** (mp_claim_job: claimed in `runnings`, resume state included), trains it
** epoch by epoch with lf_train.c's own step and sends back each finished
** epoch's history values, weight and state files; rank 0 records each with
** ppl_train's protocol (mp_record_epoch) and prints its progress line.
** Rank 0 trains a pipeline itself with lf_train() at the same time; its
** stop check at every batch is where it serves the workers' messages, the
** stop requests (ppl_stop from any shell, checked every 0.2 s) and the
** dispatch of further jobs.
**
** A worker decides the end of its job as lf_train would (epochs done,
** patience exhausted, stop), so it never waits for rank 0 between epochs.
** STOP messages carry the job's number: one that arrives after its job
** ended is ignored.
*/
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "mpi_commit.h"
#include "mpi_each.h"
#include "../../core/lf_project.h"
#include "../../core/lf_ppl.h"
#include "../../core/lf_sweep.h"
#include "../../core/lf_train.h"

/* ---- a worker rank --------------------------------------------------- */

typedef struct worker_job {
  int64_t seq;
  int stop;                 /* 1 stop requested, 2 interrupted */
  lf_mpi *c;
  /* The last epoch sent, still on its way while the next one trains. */
  lf_msg out;
  MPI_Request req;
  int sending;
} worker_job;

/* Waits until the epoch on its way has gone (rank 0 received it). */
static void finish_send(worker_job *w){
  if( !w->sending ) return;
  double t0 = lf_now_unix();
  MPI_Wait(&w->req, MPI_STATUS_IGNORE);
  w->c->times.send += lf_now_unix() - t0;
  w->sending = 0;
  msg_free(&w->out);
}

/* The trainer's stop check: a STOP for this job from rank 0. */
static int worker_stop(void *arg, int force){
  worker_job *w = arg;
  (void)force;
  if( w->sending ){
    /* Drives the send along (no progress thread in Open MPI). */
    int done = 0;
    MPI_Test(&w->req, &done, MPI_STATUS_IGNORE);
    if( done ){ w->sending = 0; msg_free(&w->out); }
  }
  for(;;){
    int flag = 0;
    MPI_Iprobe(0, TAG_STOP, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    if( !flag ) return w->stop;
    lf_msg m = {0};
    if( msg_recv(&m, 0, TAG_STOP, NULL, NULL)==0 ){
      int64_t seq = msg_get_i64(&m), how = msg_get_i64(&m);
      if( seq==w->seq && !w->stop ) w->stop = how==2 ? 2 : 1;
    }
    msg_free(&m);
  }
}

static void send_ended(int64_t seq, const char *ended, const char *message, const lf_trainer *t){
  lf_msg m = {0};
  msg_put_i64(&m, seq);
  msg_put_str(&m, ended);
  msg_put_str(&m, message);
  msg_put_i64(&m, t->train.dropped);
  msg_put_i64(&m, t->val.dropped);
  if( msg_send(&m, 0, TAG_ENDED) ) MPI_Abort(MPI_COMM_WORLD, 1);
  msg_free(&m);
}

/* What an epoch loop does with each finished epoch: 0 go on, -1 the job
** ends with `ended` and `message` set. */
typedef int (*epoch_sink)(void *arg, lf_trainer *t, int e, const lf_epoch_result *r, int improved,
                          char *message, size_t n);

/* The epochs of a job, lf_train's loop without the database: the stop
** hook and `sink` (the worker sends each epoch to rank 0, rank 0 commits
** its own) are the difference. Returns how it ended. */
static const char *job_epochs(lf_mpi *c, lf_trainer *t, const mp_job *job, epoch_sink sink, void *arg,
                              char *message, size_t n){
  lf_progress pg;
  lf_progress_init(&pg, 0, job->pplid, 1, 1, NULL, 0, 1);
  char err[2048] = "";
  for(int k=0; k<job->epochs; k++){
    int e = t->last_epoch + 1, improved = 0;
    lf_epoch_result r;
    double t0 = lf_now_unix(), served = c->times.jobs;
    int s = lf_trainer_epoch(t, &pg, &r, &improved, err, sizeof err);
    c->times.train += lf_now_unix() - t0 - (c->times.jobs - served);
    if( s < 0 ){ snprintf(message, n, "%s", err); return "error"; }
    if( s > 0 ) return s==1 ? "stop_requested" : "interrupted";
    if( sink(arg, t, e, &r, improved, message, n) ) return "error";
    t->last_epoch = e;
    int since = e - (t->have_best ? t->best_epoch : 0);
    if( job->patience > 0 && since >= job->patience ){
      snprintf(message, n, "no improvement of %s for %d epochs (best epoch %d)",
               t->m.settings.monitor, since, t->have_best ? t->best_epoch : 0);
      return "early_stop";
    }
    int s2 = t->hooks.stop ? t->hooks.stop(t->hooks.arg, 1) : 0;
    if( s2 && k < job->epochs - 1 ) return s2==1 ? "stop_requested" : "interrupted";
  }
  return "finished";
}


/* A worker's epoch goes to rank 0: history values, weight and state files. */
static int send_epoch(void *arg, lf_trainer *t, int e, const lf_epoch_result *r, int improved,
                      char *message, size_t n){
  worker_job *w = arg;
  lf_mpi *c = w->c;
  char err[2048] = "";
  unsigned char *wb = NULL, *sb = NULL;
  size_t wlen = 0, slen = 0;
  if( mp_trainer_bytes(c, t, &wb, &wlen, &sb, &slen, err, sizeof err) ){
    snprintf(message, n, "rank %d: %s", c->rank, err);
    return -1;
  }
  lf_msg m = {0};
  msg_put_i64(&m, w->seq);
  msg_put_i64(&m, e);
  msg_put_i64(&m, improved);
  msg_put_i64(&m, t->best_epoch);
  msg_put_i64(&m, t->have_best);
  msg_put_f64(&m, t->best_value);
  mp_put_result(&m, r);
  msg_put_str(&m, t->classes_json);
  msg_put_blob(&m, wb, wlen);
  msg_put_blob(&m, sb, slen);
  free(wb); free(sb);
  /* Sent while the next epoch trains; the one before must have gone. */
  finish_send(w);
  w->out = m;
  if( msg_isend(&w->out, 0, TAG_RESULT, &w->req) ) MPI_Abort(MPI_COMM_WORLD, 1);
  w->sending = 1;
  return 0;
}

static void run_job(lf_mpi *c, lf_msg *msg){
  char err[2048] = "";
  mp_job job;
  lf_trainer t;
  worker_job w = {0};
  if( mp_trainer_from_job(c, msg, &job, &t, err, sizeof err) ){
    send_ended(job.seq, "error", err, &t);
    mp_trainer_free(&t);
    mp_job_free(&job);
    return;
  }
  w.seq = job.seq;
  w.c = c;
  t.hooks.stop = worker_stop;
  t.hooks.arg = &w;
  char message[256] = "";
  const char *ended = job_epochs(c, &t, &job, send_epoch, &w, message, sizeof message);
  finish_send(&w);
  send_ended(job.seq, ended, message[0] ? message : NULL, &t);
  mp_trainer_free(&t);
  mp_job_free(&job);
}

int mp_each_worker(lf_mpi *c){
  lf_msg msg = {0};
  for(;;){
    int tag = 0;
    double t0 = lf_now_unix();
    if( msg_recv(&msg, 0, MPI_ANY_TAG, NULL, &tag) ) MPI_Abort(MPI_COMM_WORLD, 1);
    c->times.idle += lf_now_unix() - t0;
    if( tag==TAG_QUIT ) break;
    if( tag==TAG_JOB ) run_job(c, &msg);
    /* a STOP here belongs to a job that already ended */
  }
  msg_free(&msg);
  return 0;
}

/* ---- rank 0 ---------------------------------------------------------- */

typedef struct item {
  char *pplid;
  int until_epoch;          /* halving: train up to this epoch */
  char *summary, *error;
} item;

typedef struct slot {       /* a worker rank and its job */
  int busy, failed, stop_sent;
  int next_e;               /* the epoch due next from the worker */
  int64_t seq;
  int item;
  mp_claim cl;
  char error[1024];
} slot;

typedef struct each_run {
  lf_mpi *c;
  item *items;
  int nitems, next;
  int *local;               /* items only rank 0 can train (sql data) */
  int nlocal;
  slot *slots;
  int64_t seq;
  int epochs, patience;
  int until_mode;           /* halving: until_epoch, no early stopping */
  int stopping;
} each_run;

static void send_stop(int rank, int64_t seq, int how){
  lf_msg m = {0};
  msg_put_i64(&m, seq);
  msg_put_i64(&m, how);
  msg_send(&m, rank, TAG_STOP);
  msg_free(&m);
}

static void set_error(item *it, const char *e){
  free(it->error);
  it->error = strdup(e && e[0] ? e : "failed");
}

/* Gives free workers the next pipelines of the queue. */
static void dispatch(each_run *run){
  lf_mpi *c = run->c;
  for(int r=1; r<c->size && !run->stopping; r++){
    slot *sl = &run->slots[r];
    while( !sl->busy && run->next < run->nitems ){
      int i = run->next++;
      item *it = &run->items[i];
      char err[2048] = "", *summary = NULL;
      lf_msg msg = {0};
      int64_t seq = ++run->seq;
      double t0 = lf_now_unix();
      int k = mp_claim_job(c, it->pplid, run->epochs, it->until_epoch, run->until_mode ? 0 : run->patience,
                           seq, &sl->cl, &msg, &summary, err, sizeof err);
      if( k==1 && msg_send(&msg, r, TAG_JOB) ) MPI_Abort(MPI_COMM_WORLD, 1);
      c->times.jobs += lf_now_unix() - t0;
      if( k==1 ){
        sl->busy = 1;
        sl->failed = sl->stop_sent = 0;
        sl->seq = seq;
        sl->item = i;
        sl->next_e = sl->cl.first;
      }else if( k==0 ){
        it->summary = summary;
      }else if( k==2 ){
        run->local[run->nlocal++] = i;
      }else{
        set_error(it, err);
      }
      msg_free(&msg);
    }
  }
}

static void on_result(each_run *run, int r, lf_msg *m){
  lf_mpi *c = run->c;
  slot *sl = &run->slots[r];
  int64_t seq = msg_get_i64(m);
  if( !sl->busy || seq != sl->seq || sl->failed ) return;
  mp_epoch ep;
  memset(&ep, 0, sizeof ep);
  ep.rank = r;
  ep.e = (int)msg_get_i64(m);
  ep.improved = (int)msg_get_i64(m);
  ep.best_epoch = (int)msg_get_i64(m);
  ep.have_best = (int)msg_get_i64(m);
  ep.best_value = msg_get_f64(m);
  mp_get_result(m, &ep.r);
  ep.classes = msg_get_str(m);
  ep.w = msg_get_blob(m, &ep.wlen);
  ep.s = msg_get_blob(m, &ep.slen);
  char err[1024] = "";
  if( m->bad ) snprintf(err, sizeof err, "rank %d sent a malformed epoch", r);
  else if( ep.e != sl->next_e ) snprintf(err, sizeof err, "rank %d sent epoch %d where epoch %d was due", r, ep.e, sl->next_e);
  if( err[0] ){
    /* The epoch did not happen: the worker stops, later epochs are dropped. */
    free(ep.classes);
    sl->failed = 1;
    snprintf(sl->error, sizeof sl->error, "%s", err);
    if( !sl->stop_sent ){ send_stop(r, sl->seq, 1); sl->stop_sent = 1; }
    return;
  }
  sl->next_e++;
  /* Recorded by the commit thread while rank 0 goes on. */
  mp_commit_push(c, &sl->cl, &ep, m);
}

static void on_ended(each_run *run, int r, lf_msg *m){
  slot *sl = &run->slots[r];
  int64_t seq = msg_get_i64(m);
  if( !sl->busy || seq != sl->seq ) return;
  char *ended = msg_get_str(m), *message = msg_get_str(m);
  sl->cl.dropped_train = msg_get_i64(m);
  sl->cl.dropped_val = msg_get_i64(m);
  item *it = &run->items[sl->item];
  const char *how = ended ? ended : "error";
  mp_commit_wait(run->c, &sl->cl);
  if( !sl->failed && mp_commit_failed(run->c, &sl->cl, sl->error, sizeof sl->error) ) sl->failed = 1;
  if( sl->failed ){
    set_error(it, sl->error);
    how = "error";
  }else if( strcmp(how, "error")==0 ){
    set_error(it, message);
  }else{
    it->summary = mp_summary(&sl->cl, how, strcmp(how, "early_stop")==0 ? message : NULL);
  }
  mp_release(run->c, &sl->cl, how);
  sl->busy = 0;
  free(ended);
  free(message);
}

static int any_busy(each_run *run){
  for(int r=1; r<run->c->size; r++) if( run->slots[r].busy ) return 1;
  return 0;
}

/* Everything rank 0 owes the workers: their messages, the stop requests
** of their pipelines, new jobs. Also lf_train's poll while rank 0 trains:
** 2 (interrupted) once a signal came. */
static int serve(void *arg){
  each_run *run = arg;
  lf_mpi *c = run->c;
  for(;;){
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if( !flag ) break;
    lf_msg m = {0};
    int from = 0, tag = 0;
    if( msg_recv(&m, st.MPI_SOURCE, st.MPI_TAG, &from, &tag) ) MPI_Abort(MPI_COMM_WORLD, 1);
    if( tag==TAG_RESULT ) on_result(run, from, &m);
    else if( tag==TAG_ENDED ) on_ended(run, from, &m);
    msg_free(&m);
  }
  for(int r=1; r<c->size; r++){
    slot *sl = &run->slots[r];
    if( !sl->busy || sl->stop_sent ) continue;
    if( !sl->failed && mp_commit_failed(c, &sl->cl, sl->error, sizeof sl->error) ){
      sl->failed = 1;
      send_stop(r, sl->seq, 1);
      sl->stop_sent = 1;
      continue;
    }
    int s = mp_claim_check(c, &sl->cl, 0);
    if( s ){ send_stop(r, sl->seq, s); sl->stop_sent = 1; }
  }
  if( mp_signalled ) run->stopping = 1;
  dispatch(run);
  return mp_signalled ? 2 : 0;
}

/* Rank 0 trains item i itself with ppl_train's own code, when its data
** is a SQL query of the project (only rank 0 can read it). */
static void run_local_sql(each_run *run, int i){
  lf_mpi *c = run->c;
  item *it = &run->items[i];
  char err[2048] = "", label[300];
  snprintf(label, sizeof label, "%s [rank 0]", it->pplid);
  lf_train_request req;
  memset(&req, 0, sizeof req);
  req.pplid = it->pplid;
  req.epochs = run->epochs;
  req.until_epoch = it->until_epoch;
  req.patience = run->until_mode ? 0 : run->patience;
  req.quiet = c->quiet;
  req.logid = &c->logid;
  req.poll = serve;
  req.poll_arg = run;
  req.progress_label = label;
  if( lf_ppl_require(c->db, it->pplid, err, sizeof err)==0 ) it->summary = lf_train(c->db, &req, err, sizeof err);
  if( !it->summary ) set_error(it, err);
}

typedef struct local_job {
  each_run *run;
  mp_claim *cl;
  int stop;
} local_job;

/* Rank 0's trainer's stop hook: serves the workers at every batch, and
** sees ppl_stop and signals as lf_train does. */
static int local_stop(void *arg, int force){
  local_job *lj = arg;
  int s = serve(lj->run);
  if( s ) return s;
  if( !lj->stop ) lj->stop = mp_claim_check(lj->run->c, lj->cl, force);
  return lj->stop;
}

/* Rank 0's own epoch goes to the commit thread as a worker's would (the
** same bytes lf_trainer_save writes), so rank 0 trains on meanwhile. */
static int commit_local(void *arg, lf_trainer *t, int e, const lf_epoch_result *r, int improved,
                        char *message, size_t n){
  local_job *lj = arg;
  lf_mpi *c = lj->run->c;
  if( mp_commit_failed(c, lj->cl, message, n) ) return -1;
  unsigned char *wb = NULL, *sb = NULL;
  size_t wlen = 0, slen = 0;
  if( mp_trainer_bytes(c, t, &wb, &wlen, &sb, &slen, message, n) ) return -1;
  lf_msg m = {0};
  msg_put_blob(&m, wb, wlen);
  msg_put_blob(&m, sb, slen);
  free(wb); free(sb);
  if( m.bad ){ msg_free(&m); snprintf(message, n, "out of memory"); return -1; }
  mp_epoch ep;
  memset(&ep, 0, sizeof ep);
  ep.e = e;
  ep.improved = improved;
  ep.best_epoch = t->best_epoch;
  ep.have_best = t->have_best;
  ep.best_value = t->best_value;
  ep.r = *r;
  ep.classes = t->classes_json ? strdup(t->classes_json) : NULL;
  ep.w = msg_get_blob(&m, &ep.wlen);
  ep.s = msg_get_blob(&m, &ep.slen);
  mp_commit_push(c, lj->cl, &ep, &m);
  return 0;
}

/* Rank 0 trains item i itself, as a worker does (the same job, the same
** epoch step, the data cache), committing its epochs directly. */
static void run_local(each_run *run, int i){
  lf_mpi *c = run->c;
  item *it = &run->items[i];
  char err[2048] = "", *summary = NULL;
  lf_msg msg = {0};
  mp_claim cl;
  double t0 = lf_now_unix();
  int k = mp_claim_job(c, it->pplid, run->epochs, it->until_epoch, run->until_mode ? 0 : run->patience,
                       ++run->seq, &cl, &msg, &summary, err, sizeof err);
  c->times.jobs += lf_now_unix() - t0;
  if( k != 1 ){
    msg_free(&msg);
    if( k==0 ) it->summary = summary;
    else if( k==2 ) run_local_sql(run, i);
    else set_error(it, err);
    return;
  }
  mp_job job;
  lf_trainer t;
  int rc = mp_trainer_from_job(c, &msg, &job, &t, err, sizeof err);
  msg_free(&msg);
  if( rc ){
    set_error(it, err);
    mp_release(c, &cl, "error");
  }else{
    local_job lj = { run, &cl, 0 };
    t.hooks.stop = local_stop;
    t.hooks.arg = &lj;
    char message[2048] = "";
    const char *ended = job_epochs(c, &t, &job, commit_local, &lj, message, sizeof message);
    mp_commit_wait(c, &cl);
    if( strcmp(ended, "error") && mp_commit_failed(c, &cl, message, sizeof message) ) ended = "error";
    cl.dropped_train = t.train.dropped;
    cl.dropped_val = t.val.dropped;
    if( strcmp(ended, "error")==0 ) set_error(it, message);
    else it->summary = mp_summary(&cl, ended, strcmp(ended, "early_stop")==0 ? message : NULL);
    mp_release(c, &cl, ended);
  }
  mp_trainer_free(&t);
  mp_job_free(&job);
}

/* After a signal: the workers are being killed with us, so nobody waits
** for them; their claims go with status 'stopped' (every finished epoch
** is committed already). */
static void abandon(each_run *run){
  for(int r=1; r<run->c->size; r++){
    slot *sl = &run->slots[r];
    if( !sl->busy ) continue;
    mp_commit_wait(run->c, &sl->cl);
    set_error(&run->items[sl->item], "interrupted");
    mp_release(run->c, &sl->cl, "interrupted");
    sl->busy = 0;
  }
}

/* Trains every item; rank 0 takes one whenever it is free. */
static void run_items(each_run *run){
  for(;;){
    serve(run);
    if( run->stopping ){ abandon(run); break; }
    int i = -1;
    if( run->nlocal > 0 ) i = run->local[--run->nlocal];
    else if( run->next < run->nitems ) i = run->next++;
    if( i >= 0 ){ run_local(run, i); continue; }
    if( !any_busy(run) ) break;
    double t0 = lf_now_unix();
    usleep(2000);
    run->c->times.idle += lf_now_unix() - t0;
  }
}

static int run_init(each_run *run, lf_mpi *c, int nitems){
  memset(run, 0, sizeof *run);
  run->c = c;
  run->items = calloc((size_t)(nitems ? nitems : 1), sizeof *run->items);
  run->local = calloc((size_t)(nitems ? nitems : 1), sizeof *run->local);
  run->slots = calloc((size_t)c->size, sizeof *run->slots);
  if( !run->items || !run->local || !run->slots ){
    fprintf(stderr, "labflow-mpi: out of memory\n");
    return -1;
  }
  char err[1024];
  if( mp_commit_start(c, err, sizeof err) ){
    fprintf(stderr, "labflow-mpi: %s\n", err);
    return -1;
  }
  return 0;
}

/* Prints the items' rows and frees them; returns how many failed. */
static int run_report(each_run *run){
  int failed = 0;
  for(int i=0; i<run->nitems; i++){
    item *it = &run->items[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "pplid", it->pplid);
    if( it->summary ){
      cJSON *s = cJSON_Parse(it->summary);
      if( s ) cJSON_AddItemToObject(o, "summary", s);
    }
    if( it->error || !it->summary ){
      cJSON_AddStringToObject(o, "error", it->error ? it->error : "not trained (the run was interrupted)");
      failed++;
    }
    char *line = cJSON_PrintUnformatted(o);
    if( line ) printf("%s\n", line);
    free(line);
    cJSON_Delete(o);
    free(it->pplid); free(it->summary); free(it->error);
  }
  fflush(stdout);
  run->nitems = run->next = run->nlocal = 0;
  return failed;
}

static void run_free(each_run *run){
  mp_commit_stop(run->c);
  free(run->items);
  free(run->local);
  free(run->slots);
}

static void quit_workers(lf_mpi *c){
  lf_msg m = {0};
  msg_put_i64(&m, 0);
  for(int r=1; r<c->size; r++) msg_send(&m, r, TAG_QUIT);
  msg_free(&m);
}

int mp_each(lf_mpi *c, char **pplids, int npplids, int epochs, int until, int patience){
  each_run run;
  if( run_init(&run, c, npplids) ){ run_free(&run); quit_workers(c); return -1; }
  run.epochs = epochs;
  run.patience = patience;
  for(int i=0; i<npplids; i++){
    run.items[i].pplid = strdup(pplids[i]);
    run.items[i].until_epoch = until;
  }
  run.nitems = npplids;
  run_items(&run);
  int stopped = run.stopping;
  int failed = run_report(&run);
  run_free(&run);
  if( stopped ) return -2;
  quit_workers(c);
  return failed;
}

int mp_halving(lf_mpi *c, const char *sweep, int min_epochs, int max_epochs, int eta){
  each_run run;
  if( run_init(&run, c, 0) ){ run_free(&run); quit_workers(c); return -1; }
  run.until_mode = 1;
  lf_halving_params p = { sweep, min_epochs, max_epochs, eta };
  char err[2048] = "";
  int failed = 0, rc = 0, trained = 0;
  const char *ended = "finished";
  for(;;){
    lf_halving_work w;
    memset(&w, 0, sizeof w);
    int k = lf_halving_step(c->db, &p, &w, err, sizeof err);
    if( k < 0 ){ fprintf(stderr, "labflow-mpi: %s\n", err); rc = -1; break; }
    if( k==0 ){ lf_halving_work_free(&w); break; }
    free(run.items);
    free(run.local);
    run.items = calloc((size_t)w.npending, sizeof *run.items);
    run.local = calloc((size_t)w.npending, sizeof *run.local);
    if( !run.items || !run.local ){ lf_halving_work_free(&w); rc = -1; break; }
    for(int i=0; i<w.npending; i++){
      run.items[i].pplid = strdup(w.pending[i]);
      run.items[i].until_epoch = w.epochs;
      trained += w.more[i];
    }
    run.nitems = w.npending;
    lf_halving_work_free(&w);
    run_items(&run);
    int stopped = run.stopping, asked = 0;
    /* A member that did not reach the rung (ppl_stop, an error) leaves it
    ** unsettled: stop here; the same command goes on from there. */
    for(int i=0; i<run.nitems; i++){
      const char *sm = run.items[i].summary;
      if( sm && !strstr(sm, "\"ended\":\"finished\"") ) asked = 1;
    }
    int f = run_report(&run);
    failed += f;
    if( stopped ){ ended = "interrupted"; rc = -2; break; }
    if( f ){ ended = "error"; break; }
    if( asked ){ ended = "stop_requested"; break; }
  }
  if( rc != -1 ){
    char *s = lf_halving_summary(c->db, sweep, ended, trained, err, sizeof err);
    if( s ){ printf("%s\n", s); free(s); }
    else fprintf(stderr, "labflow-mpi: %s\n", err);
    fflush(stdout);
  }
  run_free(&run);
  if( rc==-2 ) return -2;
  quit_workers(c);
  return rc < 0 ? -1 : failed;
}
