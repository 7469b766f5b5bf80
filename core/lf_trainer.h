/*
** lf_trainer.h — the parts of ppl_train's loop that other trainers reuse.
**
** lf_trainer is one pipeline's compute state (model, data, optimizer,
** metrics, random state, batch buffers) and knows nothing of the project
** database: lf_train (ppl_train) wraps it with the claim, the private
** connection and the commit; labflow-mpi (tools/mpi/) runs the same epoch
** step on a worker rank that never opens the database, and the same commit
** on rank 0. Running the same code on the same state is what makes an
** epoch trained by labflow-mpi bitwise the epoch ppl_train would train.
**
** Use: fill t->m (lf_model_open or lf_model_open_text, classes included),
** lf_trainer_load_data, lf_trainer_prepare (fresh or from the last epoch's
** files), then lf_trainer_epoch and lf_trainer_save per epoch, and
** lf_epoch_commit + lf_epoch_cleanup on the side that owns the database.
*/
#ifndef LF_TRAINER_H
#define LF_TRAINER_H

#include "lf_sqlite.h"
#include "lf_dataset.h"
#include "lf_model.h"
#include "lf_progress.h"
#include "../kernels/lf_metric.h"
#include "../kernels/lf_optim.h"

#define LF_MAX_QUANTITIES (2 * (32 + 2) + 1)   /* + lr */

/* One epoch's history rows: names and values in commit order. */
typedef struct lf_epoch_result {
  const char *names[LF_MAX_QUANTITIES];
  char name_buf[LF_MAX_QUANTITIES][64];
  double values[LF_MAX_QUANTITIES];
  int n;
} lf_epoch_result;

typedef struct lf_trainer lf_trainer;

/* How the epoch step talks to whoever runs it. Every member may be NULL. */
typedef struct lf_trainer_hooks {
  /* At every batch (force 0) and after each epoch (force 1): 0 go on,
  ** 1 stop requested, 2 interrupted. NULL: never stops. */
  int (*stop)(void *arg, int force);
  /* Data-parallel runners: the part [*at, *at + *nb) of the global batch
  ** perm[start .. start+nb) this process computes. */
  void (*shard)(void *arg, int64_t start, int nb, int64_t *at, int *my_nb);
  /* After the backward pass on this process's part, before the optimizer
  ** step: makes the gradients the global batch's, updates the metrics with
  ** every part's outputs and sets *loss to the global batch's mean loss.
  ** y/yb: this part's outputs and targets. 0 or -1 with err. */
  int (*combine)(void *arg, lf_trainer *t, const float *y, const float *yb, int my_nb, int nb,
                 double *loss, char *err, size_t n);
  /* Replaces the validation pass (sharded validation): loss and metrics. */
  int (*evaluate)(void *arg, lf_trainer *t, double *loss, char *err, size_t n);
  void *arg;
} lf_trainer_hooks;

struct lf_trainer {
  const char *pplid;        /* for messages */
  lf_model m;
  lf_dataset train, val;
  lf_optim *opt;
  lf_metric **metrics;      /* m.spec.nmetrics */
  lf_rng rng;               /* shuffles (and dropout unless fwd_rng) */
  lf_rng *fwd_rng;          /* dropout's stream; NULL: &rng */
  int last_epoch, best_epoch;
  double best_value;
  int have_best;
  int64_t *perm;
  float *xb, *yb, *dy;      /* batch buffers, allocated once */
  char *classes_json;       /* text-label mapping to store, or NULL */
  lf_trainer_hooks hooks;
};

/* Loads and standardises the splits from sources already resolved
** (file paths; sql sources need db, the project connection, else NULL).
** m's classes must be loaded first (a resumed pipeline's label order). */
int lf_trainer_load_data(lf_trainer *t, const char *train_src, const char *val_src,
                         sqlite3 *db, char *err, size_t n);
/* Builds the net, optimizer and metrics, then restores the state of
** t->last_epoch from wpath/spath (t->last_epoch > 0) or initialises the
** parameters from the seed, and allocates the batch buffers. */
int lf_trainer_prepare(lf_trainer *t, const char *wpath, const char *spath, char *err, size_t n);
/* Trains and validates epoch t->last_epoch + 1 into *r (history order),
** updates the best epoch (*improved) and the plateau scheduler. Does not
** advance t->last_epoch (the caller does once the epoch is recorded).
** 0 done, 1 stop requested, 2 interrupted, -1 error. */
int lf_trainer_epoch(lf_trainer *t, lf_progress *pg, lf_epoch_result *r, int *improved,
                     char *err, size_t n);
/* Writes the weight file and the state file (optimizer, scheduler, rng)
** atomically; *wbytes receives the weight file's size. */
int lf_trainer_save(lf_trainer *t, const char *wpath, const char *spath, int64_t *wbytes,
                    char *err, size_t n);
void lf_trainer_free(lf_trainer *t);

/* Makes epoch e count, once its files are durable: one transaction with
** its history rows, ppl_state and the kept weight files. *drop receives
** the epochs whose weight files are no longer kept (at most 64). */
int lf_epoch_commit(sqlite3 *db, const char *pplid, int e, const lf_epoch_result *r,
                    int64_t wbytes, int best_epoch, double best_value, const char *classes_json,
                    int keep_all, int *drop, int *ndrop, char *err, size_t n);
/* After the commit: removes the dropped weight files and the previous
** epoch's state file. */
void lf_epoch_cleanup(const char *artifacts, const char *pplid, int e, const int *drop, int ndrop);
/* Removes "<file>.tmp-<pid>" leftovers of a killed trainer from pplid's
** folder (call while holding its claim). */
void lf_trainer_remove_stale_temps(const char *artifacts, const char *pplid);

#endif
