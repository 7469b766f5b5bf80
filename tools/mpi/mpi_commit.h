/*
** mpi_commit.h — rank 0 records epochs on a thread of its own.
**
** Recording an epoch is mostly waiting for the disk (two files written
** and fsynced, their folder fsynced, a transaction with synchronous=FULL):
** tens of milliseconds per epoch, which on rank 0's main thread would stop
** its own training and its serving of the workers. The commit thread does
** exactly mp_record_epoch (ppl_train's order: files durable, then the
** transaction) on its own connection to the project, one epoch at a time
** in the order they were queued, so a pipeline's epochs are recorded in
** order and each only after the one before it. An epoch that cannot be
** recorded marks its claim failed and drops the pipeline's later epochs;
** the main thread sees it (mp_claim.commit_failed) and stops the pipeline.
** The main thread waits for a pipeline's queued epochs (mp_commit_wait)
** before it releases the claim, so the release comes after every commit.
*/
#ifndef LF_MPI_COMMIT_H
#define LF_MPI_COMMIT_H

#include "mpi_common.h"

/* Opens the thread's connection to rank 0's project and starts it. */
int mp_commit_start(lf_mpi *c, char *err, size_t n);
/* Waits for every queued epoch, ends the thread, closes its connection. */
void mp_commit_stop(lf_mpi *c);
/* Queues epoch ep of cl; takes ownership of *msg (ep's bytes point into
** it; *msg is left empty) and of ep->classes. Blocks while the queue
** holds too many epochs. */
void mp_commit_push(lf_mpi *c, mp_claim *cl, mp_epoch *ep, lf_msg *msg);
/* Waits until every queued epoch of cl is recorded or dropped; then
** cl->last_epoch and cl->commit_failed are final. */
void mp_commit_wait(lf_mpi *c, mp_claim *cl);
/* 1 if an epoch of cl could not be recorded (its error in err). */
int mp_commit_failed(lf_mpi *c, mp_claim *cl, char *err, size_t n);

#endif
