/*
** mpi_common.h — what labflow-mpi's modes share.
**
** Rank 0 alone opens the project database (mpi_project.c): it claims
** pipelines in `runnings` exactly as ppl_train does, packs a claimed
** pipeline into a job message (settings, config, resolved data paths,
** classes, the last epoch's weight and state files), records the epochs
** the ranks send back with ppl_train's commit protocol, and releases the
** claims. Any rank turns a job message into an lf_trainer (mpi_job.c) and
** runs lf_train.c's epoch step on it.
*/
#ifndef LF_MPI_COMMON_H
#define LF_MPI_COMMON_H

#include <signal.h>
#include "../../core/lf_sqlite.h"
#include "../../core/lf_trainer.h"
#include "mpi_wire.h"

/* Seconds this rank spent, by kind (--timing; the bench reads them). */
typedef struct mp_times {
  double start;
  double data;              /* reading and standardising data */
  double setup;             /* building nets, restoring resume state */
  double train;             /* epochs (training and validation) */
  double ckpt;              /* a worker: turning an epoch into bytes */
  double send;              /* a worker: handing an epoch to rank 0 */
  double commit;            /* rank 0: files and transactions of epochs */
  double jobs;              /* rank 0: claiming and packing jobs */
  double idle;              /* waiting for a job (worker) or a worker (rank 0) */
  int data_loads, data_hits;
} mp_times;

typedef struct lf_mpi {
  int rank, size;
  sqlite3 *db;              /* rank 0: the project */
  sqlite3_int64 logid;      /* rank 0: this run's lab_logs row */
  int quiet;                /* --quiet: no progress lines */
  char tmpdir[4096];        /* this rank's scratch folder for job files */
  int timing;               /* --timing: where this rank's time went */
  mp_times times;
} lf_mpi;

/* SIGINT/SIGTERM seen by rank 0 (mpirun passes Ctrl-C on as SIGTERM). */
extern volatile sig_atomic_t mp_signalled;

/* A pipeline claimed by rank 0 for a run (either mode). */
typedef struct mp_claim {
  char *pplid;
  lf_model m;               /* settings, spec, artifacts (no net) */
  sqlite3_int64 runid;
  int claimed;
  char prev_status[32];
  int first;                /* first epoch of this run */
  int last_epoch, best_epoch, have_best;
  double best_value;
  int epochs, patience;     /* to run; effective patience (0: none) */
  char *classes_json;       /* to store with the next epoch, or NULL */
  int64_t dropped_train, dropped_val;
  int tabular;
  double t_last_check, t_last_beat;
  /* The commit thread's (mpi_commit.h), under its lock. */
  int pending;              /* epochs queued, not yet committed or dropped */
  int commit_failed;        /* an epoch could not be recorded: later ones are dropped */
  char commit_err[1024];
} mp_claim;

/* What the job message carries besides the trainer's inputs. */
typedef struct mp_job {
  int64_t seq;
  char *pplid;
  int last_epoch, best_epoch, have_best, epochs, patience;
  double best_value;
} mp_job;

/* ---- rank 0 (mpi_project.c) ------------------------------------------ */

/* Opens the project read-write (WAL, busy timeout), clears dead claims,
** and records this run in lab_logs. */
int mp_open_project(lf_mpi *c, const char *path, char *err, size_t n);
void mp_close_project(lf_mpi *c);
/* Claims pplid for a run of `epochs` more (or up to until_epoch > 0) and
** builds its job message (seq numbers the job). Returns 1 claimed and
** *msg filled; 0 nothing to train (*summary set, nothing claimed); 2 its
** data is a SQL query, which only rank 0 can read (nothing claimed); -1
** error (nothing claimed). */
int mp_claim_job(lf_mpi *c, const char *pplid, int epochs, int until_epoch, int patience,
                 int64_t seq, mp_claim *cl, lf_msg *msg, char **summary, char *err, size_t n);
/* One finished epoch as bytes: what a worker sends rank 0. */
typedef struct mp_epoch {
  int e, improved, best_epoch, have_best, rank;
  double best_value;
  lf_epoch_result r;
  char *classes;            /* text classes to store, or NULL */
  const void *w, *s;        /* the weight and state files' bytes */
  size_t wlen, slen;
} mp_epoch;

/* Makes epoch ep->e of cl durable on db (rank 0's connection, or the
** commit thread's): the weight and state files given as bytes are written
** atomically, then lf_epoch_commit, then the files no longer kept go;
** sets cl->last_epoch. The best epoch is the one the rank computed. */
int mp_record_epoch(sqlite3 *db, mp_claim *cl, const mp_epoch *ep, char *err, size_t n);
/* The same when rank 0 holds the trained state itself (data-parallel). */
int mp_record_epoch_local(lf_mpi *c, mp_claim *cl, lf_trainer *t, int e, const lf_epoch_result *r,
                          char *err, size_t n);
/* 0 go on, 1 ppl_stop asked (or the claim is gone), 2 signalled; reads
** the database at most every 0.2 s unless force, beats the heartbeat. */
int mp_claim_check(lf_mpi *c, mp_claim *cl, int force);
/* ppl_train's summary JSON for the run (malloc'ed). */
char *mp_summary(const mp_claim *cl, const char *ended, const char *message);
/* Releases the claim with the status ppl_train would leave after `ended`
** ("finished", "early_stop", "stop_requested", "interrupted", "error"),
** and frees cl. */
void mp_release(lf_mpi *c, mp_claim *cl, const char *ended);
/* A finished epoch's line on stderr, fitted to $COLUMNS (else 80):
** "<pplid> [<tag>] epoch <e>/<last>: name=value ... (best)". */
void mp_epoch_line(const char *pplid, const char *tag, int e, int last, const lf_epoch_result *r, int improved);
/* mp_epoch_line for a pipeline of `each`, tagged with the rank that
** trained it (nothing when quiet or the project's progress is off). */
void mp_progress_line(lf_mpi *c, const mp_claim *cl, int rank, int e, const lf_epoch_result *r, int improved);

/* ---- any rank (mpi_job.c) -------------------------------------------- */

/* Builds t from a job message: model from its texts, data from its paths
** (a clear error naming this rank and host when they cannot be read),
** state from its files (via this rank's scratch folder). */
int mp_trainer_from_job(lf_mpi *c, lf_msg *msg, mp_job *job, lf_trainer *t, char *err, size_t n);
/* lf_trainer_free for a trainer from mp_trainer_from_job: the data it
** borrowed from this rank's cache stays there for the next job. */
void mp_trainer_free(lf_trainer *t);
/* Drops the data cache (at exit). */
void mp_data_cache_free(void);
/* --timing: one line on stderr with this rank's mp_times. */
void mp_print_times(lf_mpi *c);
void mp_job_free(mp_job *job);
/* Writes t's weight and state files into the scratch folder and reads
** them back as bytes (malloc'ed), exactly what lf_trainer_save writes. */
int mp_trainer_bytes(lf_mpi *c, lf_trainer *t, unsigned char **w, size_t *wlen,
                     unsigned char **s, size_t *slen, char *err, size_t n);
/* Epoch result to/from a message. */
void mp_put_result(lf_msg *m, const lf_epoch_result *r);
void mp_get_result(lf_msg *m, lf_epoch_result *r);

#endif
