/*
** lf_ppl.h — the pipeline store: creating, finding and describing
** pipelines in the project database. Everything is checked before anything
** is written, and writes happen inside one savepoint.
*/
#ifndef LF_PPL_H
#define LF_PPL_H

#include "lf_sqlite.h"
#include "lf_project.h"
#include "lf_config.h"

/* Validates config_text completely for this project (keys, locs, args,
** metrics, data sources and every layer's shapes). On success returns 0 with
** the canonical config text (malloc'ed) and its SHA-256 hex. */
int lf_ppl_check_config(sqlite3 *db, const lf_settings *s, const char *config_text,
                        char **canon, char hash[65], char *err, size_t n);

/* As lf_ppl_check_config on a parsed object; fills *spec (caller frees) and
** the input/output shapes if not NULL. */
int lf_ppl_check_spec(sqlite3 *db, const lf_settings *s, const cJSON *cfg,
                      lf_pipeline_spec *spec, lf_shape *in, lf_shape *out,
                      char *err, size_t n);

/* Inserts a new pipeline (and its fork edge when base is not NULL). Refuses
** an existing pplid and a config hash already in the project with
** "same configuration already exists in: <pplid>". */
int lf_ppl_insert(sqlite3 *db, const char *pplid, const char *canon,
                  const char *hash, const char *base, const char *patch,
                  char *err, size_t n);

/* Once per project: recomputes every stored config_hash (ppls and
** archived_ppls) in the current form, lf_config_identity_hash (defaults
** filled in), and records lab_meta 'config_hash_form' = LF_CONFIG_HASH_FORM
** (lf_config.h), in one savepoint. Projects
** made since have it from the start. No-op when done, read-only or not a
** project; -1 with err if the update failed (nothing changed). */
int lf_ppl_rehash_once(sqlite3 *db, char *err, size_t n);

/* -1 with err ("... is archived ...: choose another pplid, or ...") if
** pplid is an archived pipeline's; 0 if not. */
int lf_ppl_archived_refuse(sqlite3 *db, const char *pplid, char *err, size_t n);
/* 1 if the pipeline exists, 0 if not, -1 on error. */
int lf_ppl_exists(sqlite3 *db, const char *pplid, char *err, size_t n);
/* 0 if the pipeline exists; else -1 with err: "no pipeline '<pplid>' in
** this project", or the database's error. */
int lf_ppl_require(sqlite3 *db, const char *pplid, char *err, size_t n);
/* The stored config text of pplid (malloc'ed), NULL with err if unknown. */
char *lf_ppl_config(sqlite3 *db, const char *pplid, char *err, size_t n);
/* The pplid with this config hash (malloc'ed), or NULL (err[0]==0 if none). */
char *lf_ppl_by_hash(sqlite3 *db, const char *hash, char *err, size_t n);

/* Epochs stop here: a stored number beyond it is refused. */
#define LF_MAX_EPOCH 1000000

/* last/best epoch of a pipeline (0 / -1 when none yet). */
int lf_ppl_epochs(sqlite3 *db, const char *pplid, int *last, int *best, char *err, size_t n);
/* The same and the best monitored value, after checking ppl_state against
** the pipeline's history (a sent database or bundle may hold anything):
** -1 with err naming the pipeline, the value and the fix. */
int lf_ppl_state(sqlite3 *db, const char *pplid, int *last, int *best, double *best_value,
                 char *err, size_t n);

/* Artifact paths (malloc'ed). of: config, weight, gradient, history, quick;
** epoch is used by weight and gradient. */
char *lf_ppl_path(const char *artifacts, const char *of, const char *pplid, int epoch,
                  char *err, size_t n);
/* The optimizer and random state saved with an epoch (for resuming); only
** the last epoch's is kept. malloc'ed. */
char *lf_ppl_state_path(const char *artifacts, const char *pplid, int epoch);

#endif
