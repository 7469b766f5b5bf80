/*
** lf_progress.c — progress lines on stderr for ppl_train.
*/
#include <stdio.h>
#include <unistd.h>
#include "lf_progress.h"
#include "lf_project.h"

void lf_progress_init(lf_progress *p, int enabled, const char *pplid){
  p->enabled = enabled;
  p->tty = enabled && isatty(STDERR_FILENO);
  p->pplid = pplid;
  p->epoch = 0;
  p->nbatches = 0;
  p->t_start = p->t_last_draw = 0;
}

void lf_progress_epoch_begin(lf_progress *p, int epoch, int64_t nbatches){
  p->epoch = epoch;
  p->nbatches = nbatches;
  p->t_start = lf_now_unix();
  p->t_last_draw = 0;
}

void lf_progress_batch(lf_progress *p, int64_t batch, int64_t samples,
                       const char *const *names, const double *values, int n){
  if( !p->tty ) return;
  double now = lf_now_unix();
  if( batch < p->nbatches && now - p->t_last_draw < 0.1 ) return;
  p->t_last_draw = now;
  double el = now - p->t_start;
  double rate = el > 0 ? samples / el : 0;
  double eta = batch > 0 ? el * (double)(p->nbatches - batch) / (double)batch : 0;
  int width = 24, fill = p->nbatches ? (int)(width * batch / p->nbatches) : 0;
  char bar[32];
  for(int i=0; i<width; i++) bar[i] = i < fill ? '#' : '.';
  bar[width] = 0;
  fprintf(stderr, "\r\033[K%s epoch %d [%s] %lld/%lld %.0f samples/s ETA %.1fs",
          p->pplid, p->epoch, bar, (long long)batch, (long long)p->nbatches, rate, eta);
  for(int i=0; i<n; i++) fprintf(stderr, " %s %.4f", names[i], values[i]);
  fflush(stderr);
}

void lf_progress_epoch_end(lf_progress *p, const char *const *names,
                           const double *values, int n, const char *note){
  if( !p->enabled ) return;
  if( p->tty ) fprintf(stderr, "\r\033[K");
  fprintf(stderr, "%s epoch %d:", p->pplid, p->epoch);
  for(int i=0; i<n; i++) fprintf(stderr, " %s=%.4f", names[i], values[i]);
  if( note && note[0] ) fprintf(stderr, " (%s)", note);
  fprintf(stderr, "\n");
  fflush(stderr);
}
