/*
** lf_claim.h — claiming a pipeline for training (the runnings table).
**
** A claim is one row per pplid, inserted in an IMMEDIATE transaction, so two
** trainers racing for one pipeline cannot both win. The row records who
** holds it (host, pid, process start time) and a heartbeat, so anyone can
** tell a live trainer from a dead one and clear the dead one's row.
*/
#ifndef LF_CLAIM_H
#define LF_CLAIM_H

#include "lf_sqlite.h"

/* A claim older than this many seconds without heartbeat, held by another
** host, is considered dead. Trainers beat every LF_HEARTBEAT_SECONDS. */
#define LF_HEARTBEAT_SECONDS 5
#define LF_STALE_SECONDS 120

/* Takes the claim and sets ppls.status to 'running' in one transaction;
** prev receives the status before ('stopped' for a killed trainer's
** 'running'). On conflict with a live trainer returns -1 with
** "already running in logid: N". A dead trainer's row is replaced. */
int lf_claim_take(sqlite3 *db, const char *pplid, sqlite3_int64 logid,
                  sqlite3_int64 *runid, char *prev, size_t prevlen, char *err, size_t n);
/* Removes the claim and sets the final status, in one transaction (end of
** training). */
int lf_claim_release(sqlite3 *db, sqlite3_int64 runid, const char *pplid, const char *status);
/* Refreshes the heartbeat; returns 1 if a stop was requested, 0 if not,
** -1 if the claim row is gone (someone cleared it: stop too). */
int lf_claim_beat(sqlite3 *db, sqlite3_int64 runid, int write_heartbeat);

/* logid of the live trainer of pplid, 0 if none (a dead one's row is
** deleted and a 'running' status becomes 'stopped'), -1 on error. */
sqlite3_int64 lf_claim_running(sqlite3 *db, const char *pplid, char *err, size_t n);
/* Asks the live trainer of pplid to stop: 1 if asked, 0 if none runs. */
int lf_claim_request_stop(sqlite3 *db, const char *pplid, char *err, size_t n);

/* This process's identity: host name, pid and start time (clock ticks since
** boot, from /proc/self/stat; 0 where unavailable). */
void lf_process_identity(char *host, size_t hostlen, long *pid, long long *start);
/* Is the process so identified alive? Same host: its pid exists with the
** same start time; another host: heartbeat (unix time) is recent. */
int lf_process_alive(const char *host, long pid, long long start, double heartbeat);

/* Clears the claims of dead trainers and turns their pipelines' 'running'
** status into 'stopped'; full: also a 'running' with no claim at all
** (a scan of ppls). Run when LabFlow is loaded (full) and before every
** LabFlow call; best effort: nothing inside the caller's transaction or on
** a read-only database. */
int lf_claim_sweep(sqlite3 *db, int full);

#endif
