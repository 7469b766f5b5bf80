/*
** mpi_commit.c — rank 0's commit thread (mpi_commit.h).
*/
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpi_commit.h"
#include "../../core/lf_project.h"

#define QUEUE_MAX 8         /* epochs waiting (a few MB each) */

typedef struct job {
  mp_claim *cl;
  mp_epoch ep;
  lf_msg msg;
  struct job *next;
} job;

static struct {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;        /* queue changed (either way) */
  sqlite3 *db;
  job *head, *tail;
  int n, quit, running;
} q = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *thread_main(void *arg){
  lf_mpi *c = arg;
  pthread_mutex_lock(&q.mu);
  for(;;){
    while( !q.head && !q.quit ) pthread_cond_wait(&q.cv, &q.mu);
    if( !q.head ) break;
    job *j = q.head;
    int skip = j->cl->commit_failed;
    pthread_mutex_unlock(&q.mu);
    char err[1024] = "";
    int rc = 0;
    double t0 = lf_now_unix();
    if( !skip ) rc = mp_record_epoch(q.db, j->cl, &j->ep, err, sizeof err);
    if( !skip && rc==0 ) mp_progress_line(c, j->cl, j->ep.rank, j->ep.e, &j->ep.r, j->ep.improved);
    pthread_mutex_lock(&q.mu);
    c->times.commit += lf_now_unix() - t0;
    if( rc ){
      j->cl->commit_failed = 1;
      snprintf(j->cl->commit_err, sizeof j->cl->commit_err, "%s", err);
    }
    j->cl->pending--;
    q.head = j->next;
    if( !q.head ) q.tail = NULL;
    q.n--;
    pthread_cond_broadcast(&q.cv);
    msg_free(&j->msg);
    free(j->ep.classes);
    free(j);
  }
  pthread_mutex_unlock(&q.mu);
  return NULL;
}

int mp_commit_start(lf_mpi *c, char *err, size_t n){
  const char *path = sqlite3_db_filename(c->db, "main");
  if( sqlite3_open_v2(path ? path : "", &q.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ){
    snprintf(err, n, "cannot open the project a second time for the commit thread: %s",
             q.db ? sqlite3_errmsg(q.db) : "out of memory");
    sqlite3_close(q.db);
    q.db = NULL;
    return -1;
  }
  sqlite3_busy_timeout(q.db, 30000);
  char *e2 = NULL;
  if( sqlite3_exec(q.db, "PRAGMA synchronous=FULL", NULL, NULL, &e2) != SQLITE_OK ){
    snprintf(err, n, "the commit thread's connection: %s", e2 ? e2 : "error");
    sqlite3_free(e2);
    sqlite3_close(q.db);
    q.db = NULL;
    return -1;
  }
  q.quit = 0;
  if( pthread_create(&q.thread, NULL, thread_main, c) ){
    snprintf(err, n, "cannot start the commit thread");
    sqlite3_close(q.db);
    q.db = NULL;
    return -1;
  }
  q.running = 1;
  return 0;
}

void mp_commit_stop(lf_mpi *c){
  (void)c;
  if( !q.running ) return;
  pthread_mutex_lock(&q.mu);
  q.quit = 1;
  pthread_cond_broadcast(&q.cv);
  pthread_mutex_unlock(&q.mu);
  pthread_join(q.thread, NULL);
  q.running = 0;
  sqlite3_close(q.db);
  q.db = NULL;
}

void mp_commit_push(lf_mpi *c, mp_claim *cl, mp_epoch *ep, lf_msg *msg){
  job *j = calloc(1, sizeof *j);
  if( !j ){ fprintf(stderr, "labflow-mpi: out of memory queueing an epoch\n"); MPI_Abort(MPI_COMM_WORLD, 1); }
  j->cl = cl;
  j->ep = *ep;
  j->msg = *msg;
  memset(msg, 0, sizeof *msg);
  ep->classes = NULL;
  /* The result's names point into the copy's own buffers. */
  for(int i=0; i<j->ep.r.n; i++) if( j->ep.r.names[i] == ep->r.name_buf[i] ) j->ep.r.names[i] = j->ep.r.name_buf[i];
  double t0 = lf_now_unix();
  pthread_mutex_lock(&q.mu);
  while( q.n >= QUEUE_MAX ) pthread_cond_wait(&q.cv, &q.mu);
  c->times.idle += lf_now_unix() - t0;
  cl->pending++;
  if( q.tail ) q.tail->next = j; else q.head = j;
  q.tail = j;
  q.n++;
  pthread_cond_broadcast(&q.cv);
  pthread_mutex_unlock(&q.mu);
}

void mp_commit_wait(lf_mpi *c, mp_claim *cl){
  double t0 = lf_now_unix();
  pthread_mutex_lock(&q.mu);
  while( cl->pending > 0 ) pthread_cond_wait(&q.cv, &q.mu);
  pthread_mutex_unlock(&q.mu);
  c->times.idle += lf_now_unix() - t0;
}

int mp_commit_failed(lf_mpi *c, mp_claim *cl, char *err, size_t n){
  (void)c;
  pthread_mutex_lock(&q.mu);
  int f = cl->commit_failed;
  if( f && err ) snprintf(err, n, "%s", cl->commit_err);
  pthread_mutex_unlock(&q.mu);
  return f;
}
