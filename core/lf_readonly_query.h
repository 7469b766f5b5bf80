/*
** lf_readonly_query.h — prepares SQL that came from a config, a bundle or a
** database someone sent (a `sql` dataset source, a prediction query) so
** that it can only read.
**
**   sqlite3_stmt *st; char *why;
**   if( lf_prepare_readonly(db, sql, &st, &why) ){ report why; sqlite3_free(why); }
**
** The text must be exactly one SELECT, WITH or VALUES statement (trailing
** blanks, semicolons and comments allowed, nothing else). It is checked
** before SQLite sees it, and then prepared under an authorizer that allows
** only reading tables and calling functions without side effects: PRAGMA,
** ATTACH/DETACH, every write, schema change and transaction control, the
** pragma_* table-valued functions and any function registered
** SQLITE_DIRECTONLY (writefile, load_extension, LabFlow's ppl_train, ...)
** are refused while preparing, so nothing takes effect.
**
** SQLite has no way to read the authorizer a host installed, so the one in
** place before the call cannot be put back: the connection is left with
** no authorizer (docs/guarantees.md says so).
*/
#ifndef LF_READONLY_QUERY_H
#define LF_READONLY_QUERY_H

#include "lf_sqlite.h"

/* 0 with *out a prepared statement that returns rows; else an SQLite error
** code, *out NULL and *errmsg (sqlite3_malloc'ed, free with sqlite3_free)
** saying what is not allowed. errmsg may be NULL. */
int lf_prepare_readonly(sqlite3 *db, const char *sql, sqlite3_stmt **out, char **errmsg);

/* Skips blanks and SQL comments; an unterminated block comment runs to
** the end, as in SQLite's tokenizer. */
const char *lf_sql_skip_blanks(const char *p);

/* 1 if p starts with the keyword `word` (any case) as a whole word. */
int lf_sql_starts_with_word(const char *p, const char *word);

#endif
