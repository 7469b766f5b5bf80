/*
** lf_archive.h — housekeeping of pipelines: archive, unarchive, delete and
** clean, plus the pieces the other housekeeping files share (pplid lists,
** the all-or-nothing transaction, undoable file moves).
**
** Every operation validates everything first, then acts: rows change in
** one transaction on the caller's connection together with the journal of
** the file moves and removals still to do; after the commit the files
** follow, and a process killed in between has its steps finished by the
** next LabFlow call (lf_journal.h).
**
** Archived pipelines live in tables with the same columns as the active
** ones (archived_ppls, archived_ppl_state, archived_history,
** archived_ppl_edges, archived_ppl_weight_files), created by the first
** archive, and their files under <artifacts>/Archived/ with the same
** layout as <artifacts>/.
*/
#ifndef LF_ARCHIVE_H
#define LF_ARCHIVE_H

#include <stddef.h>
#include "lf_file.h"
#include "lf_sqlite.h"
#include "lf_project.h"
#include "lf_journal.h"

/* ---- pplid lists ------------------------------------------------------ */

/* Distinct pplids in argument order (owned). */
typedef struct lf_pplist {
  char **ids;
  int n;
} lf_pplist;

/* Parses a ppls argument: one pplid, or a JSON array of pplids (text
** starting with '['). Every id is checked with lf_pplid_check; repeats are
** dropped. An empty array gives an empty list. */
int lf_pplist_parse(const char *text, lf_pplist *out, char *err, size_t n);
/* Every active pipeline, in pplid order. */
int lf_pplist_all(sqlite3 *db, lf_pplist *out, char *err, size_t n);
/* Adds id if not yet present; 0 or -1 (out of memory). */
int lf_pplist_add(lf_pplist *l, const char *id);
int lf_pplist_has(const lf_pplist *l, const char *id);
void lf_pplist_free(lf_pplist *l);

/* ---- the project a housekeeping call works on --------------------------- */

typedef struct lf_proj {
  lf_settings s;
  char *art;               /* artifacts folder (owned) */
} lf_proj;
int lf_proj_open(sqlite3 *db, lf_proj *p, char *err, size_t n);
void lf_proj_close(lf_proj *p);

/* ---- the all-or-nothing transaction ------------------------------------- */

/* Finishes what killed housekeeping calls left (lf_journal_settle), then
** BEGIN IMMEDIATE on the caller's connection, retrying while another
** connection (a trainer) holds the write lock. Taking the lock first means
** no trainer can claim a pipeline between our checks and our commit.
** Refused inside the caller's own transaction, whose later ROLLBACK could
** not bring moved or deleted files back. */
int lf_hk_begin(sqlite3 *db, char *err, size_t n);
int lf_hk_commit(sqlite3 *db, char *err, size_t n);
/* After lf_hk_commit: carries out the journal's file steps; on failure
** err says "<what>, but a file step failed: ...". */
int lf_hk_finish(lf_journal *j, const char *what, char *err, size_t n);
void lf_hk_rollback(sqlite3 *db);

/* Refuses a pipeline that a live trainer holds: 0, or -1 with
** "pipeline 'p' is running (logid N): stop it with ppl_stop('p') first". */
int lf_hk_not_running(sqlite3 *db, const char *pplid, char *err, size_t n);

/* The artifacts of a pipeline, relative to an artifacts root:
** "Weights/<p>", "Gradients/<p>", "Configs/<p>.json", "Histories/<p>.csv",
** "Quicks/<p>.json". Fills rel[LF_ART_ITEMS][...]. */
#define LF_ART_ITEMS 5
void lf_art_items(const char *pplid, char rel[LF_ART_ITEMS][200]);

/* ---- the operations ----------------------------------------------------- */

/* Archives (reverse = 0) or unarchives (reverse = 1) the pipelines.
** Returns how many, or -1 with err. */
int lf_archive(sqlite3 *db, const lf_pplist *ids, int reverse, char *err, size_t n);

/* Deletes archived pipelines (rows and files). Returns how many, or -1. */
int lf_delete_archived(sqlite3 *db, const lf_pplist *ids, char *err, size_t n);

/* Deletes weight files of epochs other than those kept. keep: comma list
** of "best", "last" and epoch numbers. The last epoch's weights and state
** are always kept (ppl_train resumes from them). Returns bytes freed, or
** -1 with err. */
sqlite3_int64 lf_clean(sqlite3 *db, const lf_pplist *ids, const char *keep,
                       char *err, size_t n);

/* Deletes active pipelines' rows in the caller's open transaction
** (lf_hk_begin) and journals the removal of their files; ppl_transfer
** 'move' uses it after its bundle is durable. */
int lf_remove_active(sqlite3 *db, const char *art, const lf_pplist *ids,
                     lf_journal *jr, char *err, size_t n);

#endif
