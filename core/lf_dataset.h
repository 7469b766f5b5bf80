/*
** lf_dataset.h — datasets loaded fully into memory as float32.
**
** Three sources, chosen by the config's dataset loc:
**   idx  prefix P: P-images-idx3-ubyte[.gz], P-labels-idx1-ubyte[.gz] (zlib)
**   csv  a CSV file with a header row
**   sql  a SELECT run on a database connection
*/
#ifndef LF_DATASET_H
#define LF_DATASET_H

#include "lf_sqlite.h"
#include "../kernels/lf_tensor.h"

typedef enum lf_dataset_kind { LF_DS_IDX = 1, LF_DS_CSV, LF_DS_SQL } lf_dataset_kind;

/* A named input group of a csv/sql dataset ("inputs" in the config). */
typedef struct lf_input_group {
  char *name;
  char **columns;
  int ncolumns;
  int categorical;         /* values become codes (lf_tabular.h) */
  int standardize;         /* (x-mean)/std from the train split */
  int64_t width;           /* values of the group when not one per column
                              (a sequence: max_len*F, its mask: max_len);
                              0: ncolumns */
  lf_shape shape;          /* per-sample shape of such a group (ndim 0:
                              [width]) */
} lf_input_group;

/* A dataset given by a function (a plugin's, core/lf_plugin.c): load
** fills an lf_dataset_fill whose x and y were allocated by
** lf_dataset_fill_alloc (freed with the dataset), from src as the config
** gives it (a file path is resolved against the project like csv's). */
typedef struct lf_dataset_fill {
  int64_t n;
  lf_shape shape;
  float *x;                /* n * count(shape) */
  float *y;                /* n labels: class index or regression target */
  int nclasses;            /* 0: max label + 1 */
} lf_dataset_fill;
typedef struct lf_dataset_fn {
  int (*load)(const void *args, const char *src, lf_dataset_fill *out, char *err, size_t errlen);
} lf_dataset_fn;
#define LF_DATASET_FN_ARGS_BYTES 256
/* 0, or -1 with err (too large, out of memory). */
int lf_dataset_fill_alloc(lf_dataset_fill *f, int64_t n, const lf_shape *shape, char *err, size_t errlen);

typedef struct lf_dataset_spec {
  lf_dataset_kind kind;
  double scale;            /* features are divided by it; 0 = no scaling.
                              idx default 255; blob default 1 */
  char *label;             /* csv/sql: label column name */
  char **features;         /* csv/sql: feature column names; NULL = all others */
  int nfeatures;
  int standardize;         /* per-feature (x-mean)/std from the train split */
  char *blob;              /* sql: column holding each row's features */
  int blob_dtype;          /* 1 = uint8, 4 = float32 */
  lf_shape blob_shape;     /* sql blob: per-sample shape; ndim 0 = [len] */
  int regression;          /* labels are numbers (regression loss), not classes */
  /* Named inputs (csv/sql): the feature columns are the groups' columns in
  ** order (the config's finish step writes them into features). */
  lf_input_group *inputs;
  int ninputs;
  char **na_values;        /* missing-value markers besides an empty field
                              and NULL; NULL = {"?"} */
  int nna_values;
  char *na_str;            /* "drop" (default) or "fill", as written */
  int na_fill;             /* 1: fill missing entries instead of dropping rows */
  /* A sequence column (lf_data_seq.c, docs/sequences.md): each row's
  ** sequence padded/truncated to max_len steps of step_features values;
  ** the config's finish step adds the input groups <column> and
  ** <column>_mask. */
  char *seq_column;
  int max_len, step_features;
  char *seq_dtype_str;     /* "float32" (default) or "int32", as written */
  int seq_int32;           /* token ids: per-sample shape [max_len] */
  /* Sliding windows over ordered rows (lf_data_seq.c): window 0 = off. */
  int window, horizon, stride;
  double val_fraction;     /* > 0: the training split keeps the windows whose
                              target is in the first 1-val_fraction of the
                              rows, the validation split the others */
  int split;               /* set by the trainer before each load: 0 every
                              window, 1 the training part, 2 the validation
                              part */
  const lf_dataset_fn *fn; /* a plugin dataset (kind is then 0) */
  double fn_args[LF_DATASET_FN_ARGS_BYTES / sizeof(double)];  /* its args */
} lf_dataset_spec;

/* True if the spec has named inputs (categories, missing values). */
#define LF_DS_TABULAR(spec) ((spec)->ninputs > 0 && (spec)->seq_column == NULL)
/* True if samples are sequences or windows (lf_data_seq.c loads them). */
#define LF_DS_SEQUENTIAL(spec) ((spec)->seq_column != NULL || (spec)->window > 0)

typedef struct lf_dataset {
  int64_t n;               /* samples */
  lf_shape shape;          /* per-sample feature shape */
  float *x;                /* n * count(shape), row-major, owned; NULL
                              after lf_dataset_to_bf16() */
  uint16_t *x16;           /* the same as bfloat16 after lf_dataset_to_bf16(),
                              else NULL; owned */
  float *y;                /* n labels: class index, or regression target */
  int nclasses;            /* classification: max label + 1 (or #names) */
  char **class_names;      /* text labels in sorted order (index = class),
                              NULL when labels were integers; owned */
  struct lf_tabular *tab;  /* named inputs: vocabularies and fills; owned */
  int64_t dropped;         /* rows dropped for a missing value */
} lf_dataset;

/* Loads `src` per spec. db is the connection used by the sql kind (ignored
** otherwise). class_names, if not NULL, fixes the text-label mapping (so the
** validation split uses the training split's classes); a text label not in it
** is an error. Returns 0, or -1 with a message naming the file/column/row. */
int lf_dataset_load(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                    char *const *class_names, int nclass_names,
                    lf_dataset *out, char *err, size_t errlen);
void lf_dataset_free(lf_dataset *d);
/* The same for a spec with named inputs: categorical columns are coded
** with `given`'s vocabularies (the training split's) or, if given is NULL,
** with vocabularies built from this data, kept in out->tab. */
int lf_dataset_load_tab(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                        char *const *class_names, int nclass_names,
                        const struct lf_tabular *given,
                        lf_dataset *out, char *err, size_t errlen);
/* Labels from their texts (one per sample, as the csv/sql loaders gather
** them): class indices, text classes (given: the training split's) or
** regression numbers, into out->y, nclasses, class_names. src names the
** data in messages. */
int lf_dataset_labels(const lf_dataset_spec *spec, const char *const *text, int64_t n,
                      char *const *given, int ngiven, const char *src, lf_dataset *out,
                      char *err, size_t errlen);

/* Row by row reading of a csv file or a SELECT, for the loaders of
** lf_data_seq.c: on_header sees the column names (and may refuse), on_row
** every row's cells (NULL on_row: the header only). */
typedef enum lf_cell_type { LF_CELL_TEXT, LF_CELL_BLOB, LF_CELL_NULL } lf_cell_type;
typedef struct lf_scan_cell {
  const void *p;           /* TEXT: NUL-terminated; BLOB: bytes */
  int64_t len;
  lf_cell_type type;
} lf_scan_cell;
typedef struct lf_scan_header {
  const char *const *names;
  int ncol;
  const char *src;         /* for messages: the file, or "dataset query" */
  int nocase;              /* sql: names compare without case */
} lf_scan_header;
typedef int (*lf_scan_header_fn)(void *ctx, const lf_scan_header *h, char *err, size_t errlen);
typedef int (*lf_scan_row_fn)(void *ctx, int64_t row, const lf_scan_cell *cells, char *err, size_t errlen);
int lf_dataset_scan(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                    lf_scan_header_fn on_header, lf_scan_row_fn on_row, void *ctx,
                    char *err, size_t errlen);
/* Index of column name, or -1 with "<src> has no <role> column ..." */
int lf_scan_column(const lf_scan_header *h, const char *name, const char *role, char *err, size_t errlen);
/* A TEXT cell that is a finite number: 1 and *v; else 0. */
int lf_scan_number(const lf_scan_cell *c, double *v);

/* lf_data_seq.c: load and probe of a spec with LF_DS_SEQUENTIAL. */
int lf_seqdata_load(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                    char *const *class_names, int nclass_names,
                    lf_dataset *out, char *err, size_t errlen);
int lf_seqdata_probe(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                     lf_shape *shape, char *err, size_t errlen);
/* One sample of a sequence-column spec from its JSON sequence (as a cell
** holds it), into row (steps then mask); errors name "input row <sample>". */
struct cJSON;
int lf_seqdata_encode(const lf_dataset_spec *spec, const struct cJSON *seq, int64_t sample, float *row,
                      char *err, size_t errlen);
/* The same from a BLOB as a sql cell holds it (float32 values, F per
** step, or int32 token ids with sequence_dtype "int32"). */
int lf_seqdata_encode_blob(const lf_dataset_spec *spec, const void *blob, int64_t len, int64_t sample,
                           float *row, char *err, size_t errlen);

/* Per column: 1 if it is standardised (named inputs: its group asks for
** it; otherwise the dataset's standardize). malloc'ed, ncols entries. */
int *lf_dataset_standardized_columns(const lf_dataset_spec *spec, int ncols);
/* True if any column is standardised. */
int lf_dataset_wants_standardize(const lf_dataset_spec *spec);

/* Per-feature mean and std over d (std of 0 becomes 1); apply to any split. */
void lf_dataset_stats(const lf_dataset *d, float **mean, float **std);
void lf_dataset_standardize(lf_dataset *d, const float *mean, const float *std);
/* Turns x into x16 (bfloat16, round to nearest even), in place: for a net
** that computes in bf16, half the memory and half the bytes per batch
** gather, and no conversion per step. Idempotent. */
void lf_dataset_to_bf16(lf_dataset *d);



/* Cheap look at a source without loading it: the per-sample feature shape
** (idx: image header; csv: header row; sql: the statement's columns or the
** blob shape). ppl_new uses it to check the model's shapes. 0 or -1. */
int lf_dataset_probe(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                     lf_shape *shape, char *err, size_t errlen);
#endif
