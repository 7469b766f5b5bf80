/*
** lf_progress.c — progress lines on stderr for ppl_train (lf_progress.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "lf_progress.h"
#include "lf_project.h"

#define BAR_MIN 10
#define BAR_MAX 30
#define MAX_PIECES 48
#define PPLID_MAX 24

void lf_progress_init(lf_progress *p, int enabled, const char *pplid,
                      int first_epoch, int last_epoch,
                      char *const *show, int nshow, int quiet){
  memset(p, 0, sizeof *p);
  p->enabled = enabled && !quiet;
  p->tty = p->enabled && isatty(STDERR_FILENO);
  p->pplid = pplid;
  p->first_epoch = first_epoch;
  p->last_epoch = last_epoch;
  p->show = show;
  p->nshow = nshow;
}

int lf_progress_shows(const lf_progress *p, const char *name){
  if( !p->show ) return 1;
  const char *base = name;
  if( strncmp(name, "train_", 6)==0 ) base = name + 6;
  else if( strncmp(name, "val_", 4)==0 ) base = name + 4;
  if( strcmp(base, "loss")==0 ) return 1;
  for(int i=0; i<p->nshow; i++){
    if( strcmp(p->show[i], base)==0 || strcmp(p->show[i], name)==0 ) return 1;
  }
  return 0;
}

/* Columns of the terminal on stderr: the tty's size, else $COLUMNS, else 80. */
static int terminal_columns(void){
  struct winsize ws;
  if( ioctl(STDERR_FILENO, TIOCGWINSZ, &ws)==0 && ws.ws_col > 0 ) return ws.ws_col;
  const char *c = getenv("COLUMNS");
  int v = c ? atoi(c) : 0;
  return v > 0 ? v : 80;
}

static void format_duration(char *buf, size_t n, double s){
  long t = (long)(s + 0.5);
  if( t < 60 ) snprintf(buf, n, "%lds", t);
  else if( t < 3600 ) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
  else snprintf(buf, n, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}

/* One field of the live line: its text, its place on the line and how much
** it matters (0 first) when the line is too narrow for all of them. */
typedef struct piece {
  char text[72];
  int order, rank, shown;
} piece;

void lf_progress_format(char *buf, size_t size, int cols, const char *pplid,
                        int epoch, int last_epoch, int64_t batch, int64_t nbatches,
                        double rate, double eta, const char *const *names,
                        const double *values, int n){
  piece pc[MAX_PIECES];
  int np = 0, bar_at = -1;
  int avail = cols - 1;       /* the last column would make some terminals wrap */
  if( avail < 1 ) avail = 1;
#define ADD(ord, rk, ...) do{ if( np < MAX_PIECES ){ \
    snprintf(pc[np].text, sizeof pc[np].text, __VA_ARGS__); \
    pc[np].order = (ord); pc[np].rank = (rk); pc[np].shown = 0; np++; } }while(0)
  /* A long pplid keeps its start and end (where names tend to differ). */
  size_t idl = strlen(pplid);
  if( idl <= PPLID_MAX ) ADD(0, 4, "%s", pplid);
  else ADD(0, 4, "%.*s..%s", PPLID_MAX / 2 - 1, pplid, pplid + idl - (PPLID_MAX / 2 - 1));
  ADD(1, 0, "epoch %d/%d", epoch, last_epoch);
  bar_at = np;
  ADD(2, 2, "%*s", BAR_MIN + 2, "");
  ADD(3, 3, "%lld/%lld", (long long)batch, (long long)nbatches);
  char d[32];
  if( eta >= 0 ) format_duration(d, sizeof d, eta);
  else snprintf(d, sizeof d, "--");
  ADD(5, 1, "ETA %s", d);
  for(int i=0; i<n; i++) ADD(6 + i, 10 + i, "%s %.4f", names[i], values[i]);
  ADD(6 + n, 95, "%.0f/s", rate);
#undef ADD
  /* Most important first, while they fit (one space between pieces). */
  int used = 0;
  for(int r = 0; r < 100; r++){
    for(int i=0; i<np; i++){
      if( pc[i].rank != r ) continue;
      int len = (int)strlen(pc[i].text) + (used ? 1 : 0);
      if( used + len <= avail ){ pc[i].shown = 1; used += len; }
    }
  }
  /* The bar takes what is left, up to its widest. */
  int barw = BAR_MIN;
  if( pc[bar_at].shown ){
    barw += avail - used;
    if( barw > BAR_MAX ) barw = BAR_MAX;
    int fill = nbatches ? (int)((int64_t)barw * batch / nbatches) : 0;
    pc[bar_at].text[0] = '[';
    for(int i=0; i<barw; i++) pc[bar_at].text[1 + i] = i < fill ? '#' : '.';
    pc[bar_at].text[1 + barw] = ']';
    pc[bar_at].text[2 + barw] = 0;
  }
  size_t k = 0;
  buf[0] = 0;
  for(int o = 0; o < 7 + n; o++){
    for(int i=0; i<np; i++){
      if( pc[i].order != o || !pc[i].shown ) continue;
      int w = snprintf(buf + k, size - k, "%s%s", k ? " " : "", pc[i].text);
      if( w < 0 || (size_t)w >= size - k ){ buf[size - 1] = 0; return; }
      k += (size_t)w;
    }
  }
  /* Even the epoch alone is too wide for a very narrow terminal. */
  if( (int)k > avail ) buf[avail] = 0;
}

/* How much a finished epoch's quantity matters on a narrow line (0 most):
** the validation loss, then validation metrics, the training loss, the
** training metrics, the learning rate, and the durations last. */
static int quantity_rank(const char *name){
  size_t k = strlen(name);
  if( k >= 9 && strcmp(name + k - 9, "_duration")==0 ) return 5;
  if( strcmp(name, "lr")==0 ) return 4;
  if( strcmp(name, "val_loss")==0 ) return 0;
  if( strncmp(name, "val_", 4)==0 ) return 1;
  if( strcmp(name, "train_loss")==0 ) return 2;
  return 3;
}

void lf_progress_epoch_fit(char *buf, size_t size, int cols, const char *pplid, const char *tag,
                           int epoch, int last_epoch, const char *const *names, const double *values,
                           int n, const char *note){
  int avail = cols - 1;
  if( avail < 1 ) avail = 1;
  char head[160], tail[64] = "";
  size_t idl = strlen(pplid);
  char tagpart[72] = "";
  if( tag && tag[0] ) snprintf(tagpart, sizeof tagpart, " [%s]", tag);
  if( note && note[0] ) snprintf(tail, sizeof tail, " (%s)", note);
  /* The whole pplid when it leaves room for a field or two, else its
  ** start and end (where names tend to differ). */
  int full = snprintf(head, sizeof head, "%s%s epoch %d/%d:", pplid, tagpart, epoch, last_epoch);
  if( idl > PPLID_MAX && (full >= (int)sizeof head || full + (int)strlen(tail) + 24 > avail) ){
    snprintf(head, sizeof head, "%.*s..%s%s epoch %d/%d:", PPLID_MAX / 2 - 1, pplid,
             pplid + idl - (PPLID_MAX / 2 - 1), tagpart, epoch, last_epoch);
  }
  int used = (int)strlen(head) + (int)strlen(tail);
  char f[MAX_PIECES][96];
  int shown[MAX_PIECES] = {0};
  if( n > MAX_PIECES ) n = MAX_PIECES;
  for(int i=0; i<n; i++) snprintf(f[i], sizeof f[i], " %s=%.4f", names[i], values[i]);
  /* The most useful fields first, until one does not fit (a less useful
  ** one never takes the place of a more useful one). */
  int full_line = 0;
  for(int r=0; r<=5 && !full_line; r++){
    for(int i=0; i<n && !full_line; i++){
      if( quantity_rank(names[i]) != r ) continue;
      int len = (int)strlen(f[i]);
      if( used + len <= avail ){ shown[i] = 1; used += len; }
      else full_line = 1;
    }
  }
  size_t k = (size_t)snprintf(buf, size, "%s", head);
  for(int i=0; i<n && k < size; i++){
    if( shown[i] ) k += (size_t)snprintf(buf + k, size - k, "%s", f[i]);
  }
  if( k < size ) snprintf(buf + k, size - k, "%s", tail);
  /* Even the head alone can be too wide for a very narrow terminal. */
  if( (int)strlen(buf) > avail && (size_t)avail < size ) buf[avail] = 0;
}

void lf_progress_epoch_begin(lf_progress *p, int epoch, int64_t nbatches){
  p->epoch = epoch;
  p->nbatches = nbatches;
  p->t_start = lf_now_unix();
  if( p->t_call == 0 ) p->t_call = p->t_start;
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
  /* ETA of the whole call, from the time per batch so far (validation and
  ** commits included once an epoch has finished). */
  int64_t done = (int64_t)(p->epoch - p->first_epoch) * p->nbatches + batch;
  int64_t total = (int64_t)(p->last_epoch - p->first_epoch + 1) * p->nbatches;
  /* The first batches include warm-up (oneDNN's JIT, first touch of the
  ** data): no estimate until a second has passed or an epoch is done. */
  double spent = now - p->t_call;
  double eta = done > 0 && (spent >= 1.0 || done >= p->nbatches)
             ? spent * (double)(total - done) / (double)done : -1;
  char line[1024];
  lf_progress_format(line, sizeof line, terminal_columns(), p->pplid, p->epoch, p->last_epoch,
                     batch, p->nbatches, rate, eta, names, values, n);
  fprintf(stderr, "\r\033[K%s", line);
  fflush(stderr);
}

void lf_progress_epoch_end(lf_progress *p, const char *const *names,
                           const double *values, int n, const char *note){
  if( !p->enabled ) return;
  int avail = p->tty ? terminal_columns() - 1 : 0, col;
  if( p->tty ) fprintf(stderr, "\r\033[K");
  col = fprintf(stderr, "%s epoch %d:", p->pplid, p->epoch);
  for(int i=0; i<n; i++){
    if( !lf_progress_shows(p, names[i]) ) continue;
    char f[96];
    int len = snprintf(f, sizeof f, " %s=%.4f", names[i], values[i]);
    /* On a terminal, wrap between fields rather than inside one. */
    if( avail > 0 && col + len > avail ){ fprintf(stderr, "\n "); col = 1; }
    col += fprintf(stderr, "%s", f);
  }
  if( note && note[0] ){
    if( avail > 0 && col + (int)strlen(note) + 3 > avail ) fprintf(stderr, "\n ");
    fprintf(stderr, " (%s)", note);
  }
  fprintf(stderr, "\n");
  fflush(stderr);
}
