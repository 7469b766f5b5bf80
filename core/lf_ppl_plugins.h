/*
** lf_ppl_plugins.h — which C plugin builds a pipeline needs (the
** ppl_plugins table): recorded when the pipeline is made, checked before
** it trains, predicts or evaluates, re-accepted on request.
*/
#ifndef LF_PPL_PLUGINS_H
#define LF_PPL_PLUGINS_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "lf_sqlite.h"

/* Records the loaded plugins whose components cfg names, for pplid (inside
** the caller's transaction). 0, or -1 with err. */
int lf_ppl_plugins_record(sqlite3 *db, const char *pplid, const cJSON *cfg,
                          char *err, size_t n);

/* 0 if every plugin pplid needs is loaded in the build it recorded and
** every plugin-looking loc of cfg (may be NULL) is loaded; else -1 with
** "pipeline 'p' needs plugin 'x' (version v, ...); load it with
** lab_load_plugin" or the build mismatch and how to accept it. */
int lf_ppl_plugins_check(sqlite3 *db, const char *pplid, const cJSON *cfg,
                         char *err, size_t n);

/* The plugins pplid's rows in db (main.ppl_plugins; a bundle) name and
** the plugin namespaces cfg's locs use that are not loaded in this
** process: their count, and "'x' version v (sha256 ...), ..." in list. -1
** with list set to the reason if the rows cannot be read. */
int lf_ppl_plugins_missing(sqlite3 *db, const char *pplid, const cJSON *cfg,
                           char *list, size_t n);

/* Records the loaded build of plugin as the one pplid needs (the caller
** accepts that exact resume is no longer guaranteed). 0 with a
** description in msg, or -1 with err. */
int lf_ppl_plugins_accept(sqlite3 *db, const char *pplid, const char *plugin,
                          char *msg, size_t n);

#endif
