/*
** lf_vtab.h — what LabFlow's virtual tables (table-valued functions) share:
** their modules, one planner for argument and pplid constraints, argument
** checks and the project's history column names.
**
** Every table is eponymous-only (xCreate is NULL, like generate_series):
** it exists in "main" as soon as the extension is loaded and never gets a
** row in sqlite_schema, so a database does not depend on the extension.
*/
#ifndef LF_VTAB_H
#define LF_VTAB_H

#include "../core/lf_sqlite.h"
#include "../core/lf_project.h"
#include "../core/lf_history.h"

extern const sqlite3_module lf_history_module;   /* vtab_history.c */
extern const sqlite3_module lf_status_module;    /* vtab_status.c */
extern const sqlite3_module lf_details_module;   /* vtab_details.c */
extern const sqlite3_module lf_train_each_module; /* vtab_train_each.c: aux is the lf_conn */
extern const sqlite3_module lf_filter_module;    /* vtab_filter.c */
extern const sqlite3_module lf_matching_module;  /* vtab_filter.c */
extern const sqlite3_module lf_weights_module;   /* vtab_weights.c */
/* vtab_predict_rows.c; registered by labflow.c with the connection's
** lf_conn as client data (it uses the model cache). */
extern const sqlite3_module lf_predict_rows_module;
extern const sqlite3_module lf_sweep_status_module; /* vtab_sweep_status.c */

/* Replaces vt->zErrMsg with the formatted message; returns SQLITE_ERROR,
** or SQLITE_NOMEM when the message cannot be allocated. */
int lf_vt_error(sqlite3_vtab *vt, const char *fmt, ...);

/* How a table's rows can be looked up, for lf_vt_best_index().
** Hidden argument columns are listed in call order: the first nrequired
** must be given (their absence is reported by xFilter). */
typedef struct lf_vt_plan {
  int nargs;                 /* hidden argument columns (<= 8) */
  const int *arg_cols;       /* their column numbers */
  const char *const *arg_names;
  int nrequired;
  int pplid_arg;             /* index in arg_cols of a pplid argument, or -1 */
  int pplid_col;             /* column number of a visible pplid, or -1 */
  const int *order_cols;     /* columns the rows come out sorted by */
  int norder;
  double rows_one;           /* estimated rows of one pipeline */
  double rows_all;           /* estimated rows of a full scan */
} lf_vt_plan;

/* idxNum bit i: argument i is in argv; bit LF_VT_PPLID_BIT: an equality on
** the visible pplid column follows the arguments in argv. */
#define LF_VT_PPLID_BIT 8

/* xBestIndex shared by every table: uses each usable equality on an
** argument column and, when no pplid argument is given, an equality on the
** visible pplid column. Returns SQLITE_CONSTRAINT when an argument's
** constraint is unusable (so the planner picks an order where it is). */
int lf_vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info, const lf_vt_plan *plan);

/* Splits xFilter's argv by idxNum: args[i] is argument i or NULL, *pplid_eq
** the visible pplid column's value or NULL. */
void lf_vt_split_args(int idxNum, int argc, sqlite3_value **argv, int nargs,
                      sqlite3_value **args, sqlite3_value **pplid_eq);

/* A pplid argument (lf_value_pplid, as the SQL functions' lf_arg_pplid);
** NULL with vt->zErrMsg set ("<fn>: ...") otherwise. */
const char *lf_vt_pplid_arg(sqlite3_vtab *vt, const char *fn, sqlite3_value *v);
/* A 0/1 flag argument (lf_value_flag, as the SQL functions' lf_arg_flag;
** v NULL: absent, 0); -1 with vt->zErrMsg set ("<fn>: ..."). */
int lf_vt_flag_arg(sqlite3_vtab *vt, const char *fn, const char *what, sqlite3_value *v);

/* The text an equality on a visible pplid column compares with, or NULL
** when it cannot equal any pplid (SQL NULL, a blob, an invalid id). */
const char *lf_vt_pplid_eq(sqlite3_value *v);

/* SQLITE_OK if the pipeline exists; otherwise an error in vt->zErrMsg
** ("<fn>: no pipeline 'x' in this project"). */
int lf_vt_ppl_must_exist(sqlite3_vtab *vt, sqlite3 *db, const char *fn, const char *pplid);

/* Prepares sql on db; on failure sets vt->zErrMsg to "<fn>: <why>" and
** returns the error code. A missing table means the database is not a
** project, and says so. */
int lf_vt_prepare(sqlite3_vtab *vt, sqlite3 *db, const char *fn, const char *sql,
                  sqlite3_stmt **st);

/* Declares ppl_history, ppl_status and ppl_details afresh on the next use
** (after lab_settings added metrics). */
void lf_vt_refresh_metric_tables(sqlite3 *db);
/* SQLITE_OK if the project's metrics are still metrics[0..nmetrics) (the
** columns the table was declared with); else refreshes the tables and
** reports that the statement must run again. */
int lf_vt_metrics_current(sqlite3_vtab *vt, sqlite3 *db, const char *fn, char *const *metrics, int nmetrics);
/* The same for a table declared with lf_vt_declare_history's names. */
int lf_vt_history_current(sqlite3_vtab *vt, sqlite3 *db, const char *fn, char *const *names, int nnames);
void lf_vt_free_names(char **names, int n);
/* Connects a table whose columns are `head`, one REAL column per history
** quantity of the project, then `tail` (e.g. "pplid TEXT, epoch INTEGER"
** and "ppl HIDDEN"). Fails with "<fn>: not a LabFlow project ..." before
** lab_init(), so the first use after it connects with the right columns.
** *names receives the quantity names (core/lf_history.h: free with
** lf_history_names_free). */
int lf_vt_declare_history(sqlite3 *db, const char *fn, const char *head,
                          const char *tail, char ***names, int *n, char **pzErr);
/* Index of name in names, or -1. */
int lf_vt_name_index(char *const *names, int n, const char *name);

#endif
