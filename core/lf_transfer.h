/*
** lf_transfer.h — moving pipelines between projects in one bundle file
** [transfer_ppl].
**
** A bundle ("*.lfbundle") is itself an SQLite database (application_id
** 'LFBN', user_version = format version) holding:
**   manifest(key, value)      format_version (1), origin_project,
**                             origin_host, labflow_version, created_time,
**                             settings (the origin project's), plugins
**                             (JSON list of the C plugins the pipelines
**                             need: plugin, version, sha256)
**   ppls, ppl_state, history, ppl_edges, ppl_weight_files, ppl_tags,
**   ppl_plugins               the pipelines' rows, same columns as a project
**   files(path, pplid, data)  every artifact file as a BLOB, path relative
**                             to the artifacts folder ("Weights/p/e3.lfw")
** It is built under a temporary name, closed, fsynced and renamed into
** place, so a bundle that exists is complete.
**
** Import treats a bundle as hostile: the manifest and format version are
** checked, paths must be the plain relative names a pipeline's artifacts
** have (no "..", no absolute paths), weight and state files must pass
** their checksums, configs must validate against this project and hash to
** what the bundle says. A pipeline whose C plugins are not loaded is
** refused with their names (import never loads a plugin).
*/
#ifndef LF_TRANSFER_H
#define LF_TRANSFER_H

#include <stddef.h>
#include "lf_sqlite.h"
#include "lf_archive.h"

#define LF_BUNDLE_FORMAT 1
#define LF_BUNDLE_APP_ID 0x4C46424E   /* "LFBN" */

/* Writes the pipelines (ids; NULL = every active one) into one bundle at
** bundle_path (NULL: <artifacts>/Transfer/<first pplid>.lfbundle, or with
** a -<timestamp> suffix when that exists; an existing explicit path is
** refused). move: the pipelines are removed once the bundle is durable.
** Returns the count, *written the bundle's path (malloc'ed, if not NULL). */
int lf_transfer_export(sqlite3 *db, const lf_pplist *ids, int move, const char *bundle_path,
                       char **written, char *err, size_t n);

/* Imports pipelines (ids; NULL = all) from bundle_path (NULL: every
** *.lfbundle in <artifacts>/Transfer, in name order). Pipelines whose
** configuration already exists in the project (active or archived) are
** skipped; a colliding pplid is an error naming it. remap_json (or NULL):
** {"<old prefix>": "<new prefix>", ...} rewrites train_data_src and
** val_data_src (longest matching prefix), after which the config is
** re-canonicalised and re-hashed. move: the bundle files are deleted after
** the import commits. Returns the number imported. */
int lf_transfer_import(sqlite3 *db, const lf_pplist *ids, int move, const char *bundle_path,
                       const char *remap_json, char *err, size_t n);

#endif
