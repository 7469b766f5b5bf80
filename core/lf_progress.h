/*
** lf_progress.h — training progress on stderr. On a terminal: one bar per
** epoch, redrawn in place (batches done, samples/s, ETA, running loss and
** metrics). Otherwise (a pipe, a host program's captured output): one
** plain line per epoch, no control characters.
*/
#ifndef LF_PROGRESS_H
#define LF_PROGRESS_H

#include <stdint.h>

typedef struct lf_progress {
  int enabled;
  int tty;
  const char *pplid;
  int epoch;
  int64_t nbatches;
  double t_start, t_last_draw;
} lf_progress;

void lf_progress_init(lf_progress *p, int enabled, const char *pplid);
void lf_progress_epoch_begin(lf_progress *p, int epoch, int64_t nbatches);
/* names/values: the running quantities to show (already filtered). */
void lf_progress_batch(lf_progress *p, int64_t batch, int64_t samples,
                       const char *const *names, const double *values, int n);
/* The finished epoch's line: every quantity given. */
void lf_progress_epoch_end(lf_progress *p, const char *const *names,
                           const double *values, int n, const char *note);

#endif
