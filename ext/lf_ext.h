/*
** lf_ext.h — what the SQL-surface files share: the per-connection context,
** the table of SQL functions and small helpers for arguments and errors.
** Files under ext/ check arguments, call the core and shape results; they
** do no math and no file formats themselves.
*/
#ifndef LF_EXT_H
#define LF_EXT_H

#include <stddef.h>
#include "../core/lf_sqlite.h"

struct lf_fn_data;

/* One per connection that loaded LabFlow; shared by all its functions. */
typedef struct lf_conn {
  sqlite3 *db;
  sqlite3_int64 logid;   /* lab_logs row of this connection, 0 until used */
  int refs;              /* functions and modules registered with it (freed at 0) */
  int depth;             /* LabFlow functions with side effects running now */
  struct lf_model_cache *models;  /* ppl_predict's networks, made on first use */
  char *schema_clean;    /* lf_guard.c: schema versions last found clean (sqlite3_malloc) */
  char *settled;         /* labflow.c: data versions when no journal or dead claim was left */
  struct lf_fn_data *fns; /* labflow.c: the functions' user data, one per entry */
} lf_conn;

/* One SQL function. Registered once per argument count in [nmin, nmax]. */
typedef struct lf_func_entry {
  const char *name;
  int nmin, nmax;
  int flags;             /* SQLite's: SQLITE_DIRECTONLY, or SQLITE_INNOCUOUS (|DETERMINISTIC) */
  int writes;            /* DIRECTONLY ones: 1 if it changes the project or its files (refused
                            inside INSERT/UPDATE/DELETE), 0 if it only reads */
  void (*fn)(sqlite3_context*, int, sqlite3_value**);
  const char *usage;     /* "ppl_new(pplid, config_json) -> pplid" */
  const char *help;
} lf_func_entry;

const lf_func_entry *lf_func_entries(int *n);

/* What sqlite3_user_data() returns in every LabFlow function: its entry
** and its connection. DIRECTONLY entries are registered with labflow.c's
** one guarded dispatcher, which runs entry->fn; the others with fn itself. */
typedef struct lf_fn_data {
  lf_conn *conn;
  const lf_func_entry *entry;
} lf_fn_data;

/* The connection of the running LabFlow function. */
lf_conn *lf_ctx_conn(sqlite3_context *ctx);

/* Function groups, one file each. */
void lf_fn_lab_init(sqlite3_context*, int, sqlite3_value**);
void lf_fn_lab_settings(sqlite3_context*, int, sqlite3_value**);
void lf_fn_lab_settings_patch(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_new(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_fork(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_verify(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_find(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_config(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_path(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_is_running(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_stop(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_train(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_train_to(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_predict(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_export(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_predict_cache(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_evaluate(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_archive(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_unarchive(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_delete(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_clean(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_transfer(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_sync(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_plot(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_note(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_tag(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_sweep(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_halving(sqlite3_context*, int, sqlite3_value**);
void lf_fn_lab_load_plugin(sqlite3_context*, int, sqlite3_value**);
void lf_fn_ppl_accept_plugin(sqlite3_context*, int, sqlite3_value**);
void lf_fn_lab_gradcheck(sqlite3_context*, int, sqlite3_value**);

/* sqlite3_result_error with printf formatting. The message is as given:
** callers start it with the function's name themselves ("ppl_new: ..."). */
void lf_errorf(sqlite3_context *ctx, const char *fmt, ...);

/* Text of argument i, or NULL after reporting "<what> must be text, got
** <type>" (what names the function too: "labflow_help: name"); NULL,
** numbers and blobs are refused. */
const char *lf_arg_text(sqlite3_context *ctx, sqlite3_value **argv, int i,
                        const char *what);
/* A JSON argument: text, or a BLOB holding UTF-8 JSON (what readfile()
** returns in the shell). NULL after reporting "<what> is NULL ..." (with
** the hint that readfile() gives NULL for a missing file) or the type. */
const char *lf_arg_json(sqlite3_context *ctx, sqlite3_value **argv, int i,
                        const char *what);
/* A valid pplid argument (lf_value_pplid), or NULL after reporting
** "<fn>: <why>". */
const char *lf_arg_pplid(sqlite3_context *ctx, sqlite3_value **argv, int i,
                         const char *fn);
/* An optional 0/1 flag argument (lf_value_flag; i >= argc: absent, 0):
** 0 with *out set, or -1 after reporting "<fn>: <what> must be 0 or 1, ...". */
int lf_arg_flag(sqlite3_context *ctx, sqlite3_value **argv, int argc, int i,
                const char *fn, const char *what, int *out);

/* The one parser of each kind of argument, shared by the SQL functions
** (lf_arg_*) and the table-valued functions (lf_vt_*_arg), which add the
** function's name and report the error their way. */
/* "an integer", "a real", "text", "a blob" or "NULL": the value's type in
** messages. */
const char *lf_value_type_name(sqlite3_value *v);
/* A pplid: text that lf_pplid_check() accepts (numbers are refused, as
** SQLite would not store them as the text they print as). NULL with err
** set ("pplid must be text, got an integer", "invalid pplid ..."). */
const char *lf_value_pplid(sqlite3_value *v, char *err, size_t n);
/* A 0/1 flag: NULL, or v NULL (argument absent), is 0; an integer or real
** equal to 0 or 1 is itself; else -1 with err set ("<what> must be 0 or 1,
** got text"). */
int lf_value_flag(sqlite3_value *v, const char *what, char *err, size_t n);

/* The connection's model cache (lf_model_cache.h), created on first use;
** NULL when out of memory. Freed with the connection. */
struct lf_model_cache *lf_conn_models(lf_conn *c);

/* The connection's logid, creating its lab_logs row through `writer` (the
** caller's connection, or a trainer's private one). 0 on error (err set). */
sqlite3_int64 lf_conn_logid(lf_conn *c, sqlite3 *writer, char *err, size_t n);

#endif
