/*
** lf_data_source.h — what the dataset source files (lf_data_*.c and
** lf_dataset.c) share: limits, the row builder, column resolution, named
** inputs, and each source's load and probe. Not for use outside them.
*/
#ifndef LF_DATA_SOURCE_H
#define LF_DATA_SOURCE_H

#include "lf_dataset.h"
#include "lf_tabular.h"

#include <stddef.h>
#include <stdint.h>

#define DS_MAX_CLASSES 100000
/* 64 GiB of float32: far more than fits in memory, but stops a forged
** header or a huge shape from overflowing size computations. */
#define DS_MAX_VALUES ((int64_t)1 << 34)
#define DS_COLUMN_LIST_MAX 400

/* lf_data_rows.c */
/* printf into err[0..errlen) (nothing if err is NULL). */
void lf_data_err(char *err, size_t errlen, const char *fmt, ...);

/* Element count of a per-sample shape; -1 if a dim is not positive or the
** count is absurd. */
int64_t lf_data_count(const lf_shape *s);

/* Parses a whole field as a finite number (surrounding blanks allowed). */
int lf_data_parse_number(const char *s, double *v);

/* Rows accumulate here: features in x (grown geometrically), labels as
** NUL-terminated text back to back in an arena, indexed by offset. */
typedef struct lf_data_rows {
  int64_t nvals;        /* floats per sample */
  int64_t n, cap;       /* samples stored, room for */
  float *x;
  size_t *label_off;
  char *arena;
  size_t arena_len, arena_cap;
} lf_data_rows;

void lf_data_rows_free(lf_data_rows *b);

/* Room for one more sample: returns where its features go, or NULL. */
float *lf_data_rows_add(lf_data_rows *b, char *err, size_t errlen);

/* Stores the label text of the row lf_data_rows_add just handed out and counts
** the row as complete. */
int lf_data_rows_label(lf_data_rows *b, const char *text, size_t len, char *err, size_t errlen);

/* Moves the builder's rows into out (x trimmed to size) and sets labels. */
int lf_data_rows_finish(lf_data_rows *b, const lf_dataset_spec *spec, char *const *given, int ngiven,
                        const char *src, lf_dataset *out, char *err, size_t errlen);

/* Stores v / scale as float32; 0 if it does not fit. */
int lf_data_store(float *dst, double v, double scale);

/* lf_data_labels.c */
int lf_data_cmp_str(const void *a, const void *b);

void lf_data_free_names(char **names, int n);

/* lf_data_columns.c */
/* Writes "a, b, c" (cut short with "...") for "available columns" hints. */
void lf_data_column_list(char *buf, size_t n, const char *const *names, int count);

/* Column index of name in names[0..n), or -1. SQL names compare without
** case, like SQL identifiers; CSV headers exactly. */
int lf_data_find_column(const char *const *names, int n, const char *name, int nocase);

/* Resolves the label column and the feature columns (spec->features, or
** every column except the label and except skip). *feat is malloc'ed. */
int lf_data_resolve_columns(const lf_dataset_spec *spec, const char *const *names, int ncol, int nocase,
                            int skip, const char *src, int *label_col, int **feat, int *nfeat,
                            char *err, size_t errlen);

/* lf_data_inputs.c */
/* While rows are read: which features are categorical, where each
** categorical value's text went (an arena, by offset; SIZE_MAX for a
** missing one), and how many rows were dropped for a missing value. */
typedef struct lf_data_inputs {
  int on, nfeat, ncat;
  int *cat_index;          /* feature -> categorical slot, or -1 */
  size_t *off;             /* rows * ncat */
  int64_t cap;
  char *arena;
  size_t len, acap;
  int64_t dropped;
} lf_data_inputs;

void lf_data_inputs_free(lf_data_inputs *t);

int lf_data_inputs_init(lf_data_inputs *t, const lf_dataset_spec *spec, int nfeat, char *err, size_t errlen);

/* Room for the categorical offsets of row `row`. */
int lf_data_inputs_reserve(lf_data_inputs *t, int64_t row, char *err, size_t errlen);

/* One feature value of row `row` (text NULL: SQL NULL). Returns 1 if it
** was handled here (missing, or categorical), 0 if the caller parses it as
** a number, -1 on error. */
int lf_data_inputs_cell(lf_data_inputs *t, const lf_dataset_spec *spec, int64_t row, int j, const char *text, size_t len,
                        float *dst, int *missing, char *err, size_t errlen);

/* After the rows are in out: vocabularies (built here, or given),
** categorical codes and the fill of missing continuous values. */
int lf_data_inputs_finish(lf_data_inputs *t, const lf_dataset_spec *spec, const lf_tabular *given, const char *src,
                          lf_dataset *out, char *err, size_t errlen);

/* lf_data_idx.c */
int lf_data_idx_load(const lf_dataset_spec *spec, const char *prefix, lf_dataset *out,
                     char *err, size_t errlen);

int lf_data_idx_probe(const char *prefix, lf_shape *shape, char *err, size_t errlen);

/* lf_data_csv.c */
int lf_data_csv_load(const lf_dataset_spec *spec, const char *path, char *const *given, int ngiven,
                     const lf_tabular *tgiven, lf_dataset *out, char *err, size_t errlen);

/* Reads only as much of the file as the header row needs. */
int lf_data_csv_probe(const lf_dataset_spec *spec, const char *path, lf_shape *shape, char *err, size_t errlen);

/* lf_data_sql.c */
int lf_data_sql_load(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                     char *const *given, int ngiven, const lf_tabular *tgiven, lf_dataset *out,
                     char *err, size_t errlen);

/* Prepares the statement and resolves its columns; only a blob without a
** shape needs a row (its length gives the shape). */
int lf_data_sql_probe(const lf_dataset_spec *spec, const char *src, sqlite3 *db, lf_shape *shape,
                      char *err, size_t errlen);

/* lf_dataset_scan of each kind */
int lf_data_csv_scan(const char *src, lf_scan_header_fn on_header, lf_scan_row_fn on_row, void *ctx,
                     char *err, size_t errlen);
int lf_data_sql_scan(const char *src, sqlite3 *db, lf_scan_header_fn on_header, lf_scan_row_fn on_row,
                     void *ctx, char *err, size_t errlen);

/* lf_data_plugin.c */
/* A plugin dataset: its load fills x and y, checked here like a file's. */
int lf_data_plugin_load(const lf_dataset_spec *spec, const char *src, char *const *class_names, int nclass_names,
                        lf_dataset *out, char *err, size_t errlen);

#endif
