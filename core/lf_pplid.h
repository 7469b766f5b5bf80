/*
** lf_pplid.h — validation of pipeline ids (pplids).
**
** A pplid names directories and rows, so it is restricted to 1..128
** characters of [A-Za-z0-9_.-], not starting with '.' (no "..", no hidden
** files, no path separators, nothing a shell or a file system interprets).
*/
#ifndef LF_PPLID_H
#define LF_PPLID_H

#include <stddef.h>
#include "lf_sqlite.h"

/* s holds nbytes bytes (sqlite3_value_bytes), so an embedded NUL is seen;
** nbytes < 0 means strlen(s); s may be NULL when nbytes <= 0 (SQL NULL).
** Returns 0 if s is a valid pplid, else -1 with err set to
** "invalid pplid '<s shown safely>': <reason>". */
int lf_pplid_check(const char *s, int nbytes, char *err, size_t errlen);

/* The pplid in column col of a row read from `table` (a database, possibly
** someone else's): NULL with err naming the table and the row's value if
** it is NULL, not text, or not a valid pplid. */
const char *lf_pplid_column(sqlite3_stmt *st, int col, const char *table, char *err, size_t errlen);

#endif
