/*
** lf_artifacts_owner.h — may this database direct writes and deletions
** into its artifacts folder? (issue 19 item 8)
**
** The `artifacts` setting is read from the database, which may come from
** someone else. A folder inside the database's own folder (the default
** <db>.labflow, or a relative path that stays inside) is always the
** project's. A folder anywhere else is used only if it holds the marker
** file .labflow-project with this project's id (lab_meta 'project_id'):
** lab_init writes both when it creates the project, or when it is called
** again with the same settings — that call is the user saying "yes, this
** folder is my project's". A sender cannot forge the marker in a folder of
** yours, so a database cannot point LabFlow at one.
*/
#ifndef LF_ARTIFACTS_OWNER_H
#define LF_ARTIFACTS_OWNER_H

#include <stddef.h>
#include "lf_sqlite.h"

#define LF_ARTIFACTS_MARKER ".labflow-project"

/* 0 if LabFlow may write and delete under artifacts; else -1 with err
** saying why and how to confirm (settings_json: the project's settings,
** for the lab_init call the message proposes). */
int lf_artifacts_owned(sqlite3 *db, const char *artifacts, const char *settings_json, char *err, size_t n);

/* lab_init's consent: gives the project an id if it has none and, if
** artifacts is outside the database's folder, writes the marker. */
int lf_artifacts_claim(sqlite3 *db, const char *artifacts, char *err, size_t n);

#endif
