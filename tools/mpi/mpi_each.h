/*
** mpi_each.h — labflow-mpi's "each" and "halving" modes: many pipelines,
** one per rank at a time (rank 0 trains one too, between serving the
** others).
*/
#ifndef LF_MPI_EACH_H
#define LF_MPI_EACH_H

#include "mpi_common.h"

/* Rank 0: trains the pipelines (pplids) for `epochs` more each, or up to
** epoch `until` (> 0; then epochs is ignored) (patience
** < 0: the project's), printing one JSON line per pipeline on stdout;
** the other ranks: mp_each_worker. Returns the number of pipelines that
** ended in an error, or -1 when the run itself failed. */
int mp_each(lf_mpi *c, char **pplids, int npplids, int epochs, int until, int patience);
/* Rank 0: successive halving of a sweep (lf_sweep.h), each rung's members
** spread over the ranks; prints the halving summary. */
int mp_halving(lf_mpi *c, const char *sweep, int min_epochs, int max_epochs, int eta);
/* Ranks > 0: runs jobs until rank 0 says quit. */
int mp_each_worker(lf_mpi *c);

#endif
