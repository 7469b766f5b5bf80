/*
** lf_db.h — small helpers over the SQLite API shared by core/: one
** statement run for its effect, one text value or whether a row exists.
** (Not to be confused with lf_query.h, the query language over configs.)
*/
#ifndef LF_DB_H
#define LF_DB_H

#include <stddef.h>
#include "lf_sqlite.h"

/* Executes SQL text (no parameters) with sqlite3_exec; 0, or -1 with the
** error text in err. */
int lf_exec(sqlite3 *db, const char *sql, char *err, size_t n);

/* Runs a one-text-column query with (if arg is not NULL) one text
** parameter; malloc'ed result, NULL if no row (err[0] stays 0) or on error
** (err set). */
char *lf_db_text(sqlite3 *db, const char *sql, const char *arg, char *err, size_t n);
/* 1 if the query (with arg bound as above) returns a row, 0 if not, -1 with
** err on error. */
int lf_db_exists(sqlite3 *db, const char *sql, const char *arg, char *err, size_t n);

/* A SQLite fundamental type (SQLITE_INTEGER ... SQLITE_NULL) as messages
** name it: "an integer", "a real", "text", "a blob", "NULL" ("?" else). */
const char *lf_sqlite_type_name(int type);

#endif
