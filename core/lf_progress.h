/*
** lf_progress.h — training progress on stderr.
**
** On a terminal: one live line per epoch, redrawn in place and always
** narrower than the terminal (a line that wraps cannot be erased with \r,
** and every redraw would leave a line behind). It shows, as room allows and
** in this order of importance: `epoch i/N` (N: the last epoch this call
** trains), the ETA of the whole call, a bar, batches done, the pplid
** (shortened in the middle past 24 characters), the running loss, the
** running metrics, samples/s. After each epoch its finished
** line, wrapped at the terminal's width. Otherwise (a pipe, a host
** program's captured output): one plain line per epoch,
** "<pplid> epoch <i>: name=value ...", no control characters.
**
** Which quantities the lines show is ppl_train's `verbose`: NULL shows the
** loss and every metric live and every quantity per epoch; a list of names
** shows the loss and those (`duration`: the epoch's seconds; `lr`), for
** train and val; quiet shows nothing.
*/
#ifndef LF_PROGRESS_H
#define LF_PROGRESS_H

#include <stdint.h>

typedef struct lf_progress {
  int enabled;
  int tty;
  const char *pplid;
  char *const *show;        /* quantities chosen (verbose), NULL: all */
  int nshow;
  int epoch, first_epoch, last_epoch;
  int64_t nbatches;
  double t_start, t_last_draw, t_call;
} lf_progress;

/* first_epoch..last_epoch: the epochs this call would train. show/nshow:
** the verbose names (NULL: all); quiet: nothing at all. */
void lf_progress_init(lf_progress *p, int enabled, const char *pplid,
                      int first_epoch, int last_epoch,
                      char *const *show, int nshow, int quiet);
/* 1 if the quantity (a metric name, "loss", or a history name such as
** "val_accuracy") is one the caller chose to see. */
int lf_progress_shows(const lf_progress *p, const char *name);
void lf_progress_epoch_begin(lf_progress *p, int epoch, int64_t nbatches);
/* names/values: the running quantities to show (already filtered). */
void lf_progress_batch(lf_progress *p, int64_t batch, int64_t samples,
                       const char *const *names, const double *values, int n);
/* The finished epoch's line: the chosen ones of the quantities given. */
void lf_progress_epoch_end(lf_progress *p, const char *const *names,
                           const double *values, int n, const char *note);
/* Builds the live line into buf (at most cols-1 characters); exposed for
** the unit test. eta < 0: not known yet ("ETA --"). */
void lf_progress_format(char *buf, size_t size, int cols, const char *pplid,
                        int epoch, int last_epoch, int64_t batch, int64_t nbatches,
                        double rate, double eta, const char *const *names,
                        const double *values, int n);

/* A finished epoch's plain line that fits cols-1 characters, for output
** that is not a terminal but ends up on one (labflow-mpi's rank 0, whose
** stderr mpirun pipes): "<pplid> [<tag>] epoch <e>/<last>: name=value ...
** (<note>)". The quantities stay in their order; when they do not all fit
** the least useful go first (durations, the learning rate, training
** metrics, the training loss, validation metrics; the validation loss
** last), and a long pplid is shortened in the middle. tag, note: NULL or
** "" for none. */
void lf_progress_epoch_fit(char *buf, size_t size, int cols, const char *pplid, const char *tag,
                           int epoch, int last_epoch, const char *const *names, const double *values,
                           int n, const char *note);

#endif
