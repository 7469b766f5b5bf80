/*
** lf_history.h — a pipeline's history as LabFlow shows it: the quantity
** names that are ppl_history's (and ppl_status's) columns, Configs/ and
** Histories/ files' fields and ppl_plot's series, and one pipeline's rows
** of the history table read into a dense table.
*/
#ifndef LF_HISTORY_H
#define LF_HISTORY_H

#include <stddef.h>
#include "lf_sqlite.h"
#include "lf_project.h"

/* The project's history quantities in ppl_history column order:
** train_<metric>..., train_loss, train_duration, val_<metric>..., val_loss,
** val_duration, lr. *names is malloc'ed (free with lf_history_names_free). */
int lf_history_names(const lf_settings *s, char ***names, int *n);
void lf_history_names_free(char **names, int n);

/* The history of one pipeline as a dense table: rows[e*ncols + c], with
** present[...] saying whether each value exists (and is finite). */
typedef struct lf_hist {
  int nrows, ncols;
  int *epochs;             /* nrows */
  double *v;               /* nrows * ncols */
  unsigned char *present;  /* nrows * ncols */
} lf_hist;
/* Reads pplid's history for the given columns, ordered by epoch. */
int lf_hist_read(sqlite3 *db, const char *pplid, char **names, int ncols,
                 lf_hist *h, char *err, size_t n);
void lf_hist_free(lf_hist *h);

#endif
