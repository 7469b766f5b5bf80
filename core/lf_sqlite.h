/*
** lf_sqlite.h — how core/ and ext/ files see the SQLite API. Inside the
** loadable extension every call goes through the sqlite3_api table set up by
** sqlite3_labflow_init(); standalone C tests (LF_STANDALONE) link libsqlite3.
*/
#ifndef LF_SQLITE_H
#define LF_SQLITE_H
#ifdef LF_STANDALONE
# include <sqlite3.h>
#else
# include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
#endif
#endif
