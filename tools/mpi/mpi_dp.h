/*
** mpi_dp.h — labflow-mpi's "train" mode: one pipeline, data-parallel over
** every rank.
*/
#ifndef LF_MPI_DP_H
#define LF_MPI_DP_H

#include "mpi_common.h"

/* All ranks call it. Rank 0 claims pplid and prints the summary JSON
** (with the communication figures) on stdout; print_hashes: rank 0 prints
** every rank's weight hash after each epoch on stderr. 0, 1 (the pipeline
** failed, error printed), -2 (signalled). */
int mp_dp_train(lf_mpi *c, const char *pplid, int epochs, int until, int patience, int print_hashes);

#endif
