/*
** lf_guard.h — may a LabFlow function with side effects run now? See
** lf_guard.c for the checks and why SQLITE_DIRECTONLY alone is not enough.
*/
#ifndef LF_GUARD_H
#define LF_GUARD_H

#include <stddef.h>
#include "lf_ext.h"

/* 1 (with why set, without the function's name) if the call must be
** refused; writes: the function changes the project (ppl_predict and
** ppl_evaluate only read and stay usable in UPDATE ... SET). Remembers a
** clean schema check in c->schema_clean (see lf_guard.c). */
int lf_guard_refuses_db(sqlite3 *db, lf_conn *c, int writes, char *why, size_t n);
/* The same with the data versions' key already made by the caller
** (lf_guard_db_versions; NULL: none), which then reuses it. */
int lf_guard_refuses_keyed(sqlite3 *db, lf_conn *c, int writes, const char *key, char *why, size_t n);
/* Every attached database's data version ("main=12;aux=3;"), which changes
** with every commit of any connection, this one's included, written into
** buf; -1 (no key) while a database has a write transaction open, on
** error, or when the names do not fit in n bytes. Made once or twice per
** call of a function that reads once per row, so it allocates nothing. */
int lf_guard_db_versions(sqlite3 *db, char *buf, size_t n);
/* Room for the key of a connection with a few attached databases. */
#define LF_GUARD_KEY_MAX 512

/* 1 if a CREATE statement (CREATE TABLE ... AS SELECT) is running on db. */
int lf_guard_create_busy(sqlite3 *db);

#endif
