/*
** lf_settings_patch.h — changing a project's settings after lab_init
** (lab_settings(patch_json)); the rules are in lf_settings_patch.c.
*/
#ifndef LF_SETTINGS_PATCH_H
#define LF_SETTINGS_PATCH_H

#include <stddef.h>
#include "lf_sqlite.h"

/* Applies an RFC 7396 merge patch to the settings of the project on db,
** checks the result and records it (recomputing best epochs when the
** strategy changed). Returns the new canonical settings JSON (malloc'ed),
** or NULL with err naming what was refused and why. */
char *lf_settings_patch(sqlite3 *db, const char *patch_json, char *err, size_t n);

#endif
