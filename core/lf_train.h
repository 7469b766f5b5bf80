/*
** lf_train.h — the training loop behind ppl_train() (ppl_evaluate:
** lf_infer.h; ppl_predict: lf_predict.h).
*/
#ifndef LF_TRAIN_H
#define LF_TRAIN_H

#include "lf_sqlite.h"

typedef struct lf_train_request {
  const char *pplid;
  int epochs;              /* more epochs to run (>= 0) */
  int until_epoch;         /* > 0: train up to this epoch instead (epochs
                              is then ignored); already there: nothing */
  int patience;            /* early stopping after this many epochs since
                              the best epoch of the whole history;
                              0: none; < 0: the strategy's (none if unset) */
  char **verbose;          /* quantities shown (NULL: all; lf_progress.h) */
  int nverbose;
  int quiet;               /* verbose = 0: no progress output */
  /* The caller's lab_logs row (a connection's, a labflow-mpi run's):
  ** made through the trainer's own connection when 0 or gone, and removed
  ** again if this call then commits no epoch (lf_log_ensure/delete). */
  sqlite3_int64 *logid;
  /* Called at every batch's stop check, before it (labflow-mpi's rank 0
  ** serves its workers from here while it trains a pipeline itself):
  ** 0 go on, 1 stop as if ppl_stop asked, 2 as if interrupted. NULL: none. */
  int (*poll)(void *arg);
  void *poll_arg;
  const char *progress_label;  /* progress lines' name; NULL: the pplid */
} lf_train_request;

/* Trains; the caller's connection `db` is only read (config, sql
** datasets) and watched for sqlite3_interrupt(). Writes go through a
** private connection to the same file. Returns a malloc'ed JSON summary, or
** NULL with err set. */
char *lf_train(sqlite3 *db, const lf_train_request *req, char *err, size_t n);

#endif
