/*
** lf_sync.h — ppl_sync: the readable copies of a pipeline, written into
** the artifacts folder for people and other tools [sync]:
**
**   Configs/<pplid>.json    the config, pretty-printed, plus "best" and
**                           "last": {"epoch": N, <history column>: value...}
**                           (null before the first epoch)
**   Histories/<pplid>.csv   header epoch,<history columns in ppl_history
**                           order>; one row per epoch; an empty field for
**                           a missing or non-finite value
**
** Both are written atomically (temp file, fsync, rename). Numbers are
** written in the shortest form that reads back as the same double.
*/
#ifndef LF_SYNC_H
#define LF_SYNC_H

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

/* Writes both files; returns the config file's path (malloc'ed) or NULL
** with err. */
char *lf_sync(sqlite3 *db, const char *pplid, char *err, size_t n);

#endif
