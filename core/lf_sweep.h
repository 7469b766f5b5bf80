/*
** lf_sweep.h — hyperparameter sweeps: creating a sweep's member pipelines
** (ppl_sweep) and successive halving over them (ppl_halving).
**
** A sweep is a row of `sweeps` and one row of `sweep_members` per member.
** Members are forks of the base named <sweep>-<i> (i from 1, in the order
** lf_space_grid / lf_space_random give), except that a member whose config
** already exists in the project is that pipeline (reused = 1).
**
** Halving is synchronous successive halving on exact resume. Rung k trains
** every live member until its last epoch is r_k = min(min_epochs * eta^k,
** max_epochs) (never retraining an epoch it has), then ranks them by the
** best value of the project's monitor over epochs 1..r_k (NULL last, ties
** by pplid) and keeps max(1, floor(live / eta)); the others are marked
** pruned at rung k. The rung after the one reaching max_epochs names the
** winner. The schedule and the current rung are stored in sweeps.halving,
** committed with the prunings, so after a kill, Ctrl-C or ppl_stop a new
** call continues where the last stopped.
**
** The driver is split so that other runners (the MPI runner of the
** scale-out issue) can train one rung's members on several ranks:
** lf_halving_step() says what the current rung still needs, the runner
** trains those members with lf_train (any order, any process), and calls
** lf_halving_step() again until it reports the search finished.
*/
#ifndef LF_SWEEP_H
#define LF_SWEEP_H

#include "lf_sqlite.h"
#include "lf_project.h"

typedef struct lf_sweep_request {
  const char *name;
  const char *base;          /* base pplid */
  const char *space_json;
  const char *method;        /* "grid" or "random" */
  int n;                     /* random: members to draw */
  sqlite3_int64 seed;        /* random: the stream's seed */
} lf_sweep_request;

/* Checks every member (space, paths, full config validation as ppl_new)
** before creating anything, then creates the members and the sweep's rows
** in one savepoint on db. *nmembers: members of the sweep, *nreused: those
** that are existing pipelines. 0, or -1 with err. */
int lf_sweep_create(sqlite3 *db, const lf_settings *s, const lf_sweep_request *req,
                    int *nmembers, int *nreused, char *err, size_t n);

typedef struct lf_halving_params {
  const char *sweep;
  int min_epochs, max_epochs, eta;
} lf_halving_params;

/* What the current rung still needs: members whose last epoch is below
** `epochs`, with how many epochs each must add. */
typedef struct lf_halving_work {
  int rung;                  /* index of the current rung */
  int epochs;                /* r_k */
  int npending;
  char **pending;            /* pplids (malloc'ed) */
  int *more;                 /* epochs to add to each */
} lf_halving_work;

void lf_halving_work_free(lf_halving_work *w);

/* Records the schedule on the first call (a different schedule later is
** refused), settles every rung whose members have all reached its epochs
** (pruning, committed on db), and fills *work with the current rung's
** unfinished members. Returns 1 when there is work, 0 when the search is
** finished (*work empty), -1 with err. db must be a connection that may
** write now (the caller's own private connection: WAL, busy timeout). */
int lf_halving_step(sqlite3 *db, const lf_halving_params *p, lf_halving_work *work,
                    char *err, size_t n);

/* The JSON summary of the sweep's halving: winner (NULL until finished),
** its monitored value and best epoch, rungs with their members and
** survivors, epochs the schedule spends against the full grid's, and
** `ended` as given. malloc'ed, NULL with err. */
char *lf_halving_summary(sqlite3 *db, const char *sweep, const char *ended,
                         int epochs_trained, char *err, size_t n);

/* Trains one member on until its last epoch is `until_epoch` (ppl_train's
** core, lf_train with until_epoch and early stopping off); returns
** lf_train's malloc'ed JSON summary, or NULL with err. */
typedef char *(*lf_halving_trainer)(void *arg, const char *pplid, int until_epoch, char *err, size_t n);

/* The whole search in this process: steps and trains until finished, a
** stop request or an interrupt. `caller` is the caller's connection (only
** read: its file is opened privately for the bookkeeping). Returns the
** summary (malloc'ed) or NULL with err. */
char *lf_halving_run(sqlite3 *caller, const lf_halving_params *p,
                     lf_halving_trainer train, void *train_arg, char *err, size_t n);

#endif
