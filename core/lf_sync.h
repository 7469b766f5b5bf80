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
#include "lf_history.h"

/* Writes both files; returns the config file's path (malloc'ed) or NULL
** with err. */
char *lf_sync(sqlite3 *db, const char *pplid, char *err, size_t n);

#endif
