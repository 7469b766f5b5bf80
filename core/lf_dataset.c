/*
** lf_dataset.c — loads a whole dataset into memory as float32 features and
** float labels, from idx files (MNIST style, plain or gzip), a CSV file, or
** a SELECT statement.
**
** Every source is untrusted: sizes are checked before they are allocated,
** every value must be a finite number, and each error names the file (or
** query), the row and the column so the user can fix the data. Rows are
** counted from 1 for the first data row (the CSV header is not counted).
**
** Labels of csv/sql sources are gathered as text first and interpreted
** once all rows are in: all non-negative integers -> class indices; else
** text classes sorted by strcmp (or the mapping the caller passes for a
** validation split); regression -> plain numbers.
*/
#include "lf_dataset.h"
#include "lf_file.h"
#include "lf_readonly_query.h"
#include "lf_tabular.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DS_MAX_IMAGE_SIDE 65536
#define DS_MAX_IMAGE_PIXELS ((int64_t)1 << 26)   /* per idx image */
#define DS_MAX_CLASSES 100000
/* 64 GiB of float32: far more than fits in memory, but stops a forged
** header or a huge shape from overflowing size computations. */
#define DS_MAX_VALUES ((int64_t)1 << 34)
#define DS_COLUMN_LIST_MAX 400

static void lf_data_err(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  if (err == NULL || errlen == 0) return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Element count of a per-sample shape; -1 if a dim is not positive or the
** count is absurd. */
static int64_t lf_data_count(const lf_shape *s)
{
  if (s->ndim < 1 || s->ndim > LF_MAX_DIMS) return -1;
  int64_t c = 1;
  for (int i = 0; i < s->ndim; i++) {
    if (s->dim[i] <= 0 || s->dim[i] > DS_MAX_VALUES || c > DS_MAX_VALUES / s->dim[i]) return -1;
    c *= s->dim[i];
  }
  return c;
}

/* Writes "[1,28,28]" into buf. */
static char *lf_data_shape_str(const lf_shape *s, char *buf, size_t n)
{
  size_t used = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < s->ndim && i < LF_MAX_DIMS && used < n; i++)
    used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? "," : "", (long long)s->dim[i]);
  if (used < n) snprintf(buf + used, n - used, "]");
  return buf;
}

/* Parses a whole field as a finite number (surrounding blanks allowed). */
static int lf_data_parse_number(const char *s, double *v)
{
  char *end;
  while (isspace((unsigned char)*s)) s++;
  if (*s == 0) return 0;
  errno = 0;
  double d = strtod(s, &end);
  if (end == s) return 0;
  while (isspace((unsigned char)*end)) end++;
  if (*end != 0 || !isfinite(d)) return 0;
  *v = d;
  return 1;
}

/* Writes "a, b, c" (cut short with "...") for "available columns" hints. */
static void lf_data_column_list(char *buf, size_t n, const char *const *names, int count)
{
  size_t used = 0;
  buf[0] = 0;
  for (int i = 0; i < count; i++) {
    const char *name = names[i] ? names[i] : "?";
    size_t k = strlen(name);
    if (used + k + 6 >= n) { snprintf(buf + used, n - used, "%s...", i ? ", " : ""); return; }
    used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", name);
  }
}

/* ---------------------------------------------------------------- builder */

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

static void lf_data_rows_free(lf_data_rows *b)
{
  free(b->x);
  free(b->label_off);
  free(b->arena);
  memset(b, 0, sizeof *b);
}

/* Room for one more sample: returns where its features go, or NULL. */
static float *lf_data_rows_add(lf_data_rows *b, char *err, size_t errlen)
{
  if (b->n == b->cap) {
    int64_t cap = b->cap ? b->cap * 2 : 256;
    if (cap * b->nvals > DS_MAX_VALUES) cap = DS_MAX_VALUES / b->nvals;
    if (cap <= b->n) {
      lf_data_err(err, errlen, "dataset is too large (over %lld values)", (long long)DS_MAX_VALUES);
      return NULL;
    }
    float *x = realloc(b->x, (size_t)(cap * b->nvals) * sizeof *x);
    if (x == NULL) { lf_data_err(err, errlen, "out of memory loading the dataset (%lld rows)", (long long)cap); return NULL; }
    b->x = x;
    size_t *off = realloc(b->label_off, (size_t)cap * sizeof *off);
    if (off == NULL) { lf_data_err(err, errlen, "out of memory loading the dataset (%lld rows)", (long long)cap); return NULL; }
    b->label_off = off;
    b->cap = cap;
  }
  return b->x + b->n * b->nvals;
}

/* Stores the label text of the row lf_data_rows_add just handed out and counts
** the row as complete. */
static int lf_data_rows_label(lf_data_rows *b, const char *text, size_t len, char *err, size_t errlen)
{
  if (b->arena_cap - b->arena_len < len + 1) {
    size_t cap = b->arena_cap ? b->arena_cap : 4096;
    while (cap - b->arena_len < len + 1) cap *= 2;
    char *a = realloc(b->arena, cap);
    if (a == NULL) { lf_data_err(err, errlen, "out of memory loading the dataset labels"); return -1; }
    b->arena = a;
    b->arena_cap = cap;
  }
  memcpy(b->arena + b->arena_len, text, len);
  b->arena[b->arena_len + len] = 0;
  b->label_off[b->n] = b->arena_len;
  b->arena_len += len + 1;
  b->n++;
  return 0;
}

static int lf_data_cmp_str(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A class name and its index, for looking up a given mapping. */
typedef struct ds_named { const char *name; int index; } ds_named;

static int cmp_named(const void *a, const void *b)
{
  return strcmp(((const ds_named *)a)->name, ((const ds_named *)b)->name);
}

/* Index of text in the sorted, distinct names[0..n) or -1. */
static int find_name(const char *const *sorted, int n, const char *text)
{
  const char *const *hit = bsearch(&text, sorted, (size_t)n, sizeof *sorted, lf_data_cmp_str);
  return hit ? (int)(hit - sorted) : -1;
}

static void lf_data_free_names(char **names, int n)
{
  if (names == NULL) return;
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

/* Turns the gathered label texts into out->y / nclasses / class_names. */
static int builder_labels(lf_data_rows *b, const lf_dataset_spec *spec, char *const *given, int ngiven,
                          const char *src, lf_dataset *out, char *err, size_t errlen)
{
  const char **text = malloc((size_t)(b->n > 0 ? b->n : 1) * sizeof *text);
  if (text == NULL) { lf_data_err(err, errlen, "out of memory loading the dataset labels"); return -1; }
  for (int64_t i = 0; i < b->n; i++) text[i] = b->arena + b->label_off[i];
  int rc = lf_dataset_labels(spec, text, b->n, given, ngiven, src, out, err, errlen);
  free(text);
  return rc;
}

int lf_dataset_labels(const lf_dataset_spec *spec, const char *const *text, int64_t n,
                      char *const *given, int ngiven, const char *src, lf_dataset *out,
                      char *err, size_t errlen)
{
  float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
  const char **sorted = NULL;
  ds_named *named = NULL;
  char **names = NULL;
  int nnames = 0, rc = -1;
  if (y == NULL) { lf_data_err(err, errlen, "out of memory loading the dataset labels"); goto done; }

  if (spec->regression) {
    for (int64_t i = 0; i < n; i++) {
      double v;
      if (!lf_data_parse_number(text[i], &v) || !isfinite((float)v)) {
        lf_data_err(err, errlen, "%s row %lld: label '%s' is not a number (regression needs numeric labels)",
               src, (long long)(i + 1), text[i]);
        goto done;
      }
      y[i] = (float)v;
    }
    out->nclasses = 0;
    rc = 0;
    goto done;
  }

  if (given != NULL && ngiven > 0) {
    /* The training split's classes: look each label up by name, the class
    ** being its position in given. */
    named = malloc((size_t)ngiven * sizeof *named);
    names = calloc((size_t)ngiven, sizeof *names);
    if (named == NULL || names == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
    for (int i = 0; i < ngiven; i++) {
      named[i].name = given[i] ? given[i] : "";
      named[i].index = i;
    }
    qsort(named, (size_t)ngiven, sizeof *named, cmp_named);
    for (int64_t i = 0; i < n; i++) {
      ds_named key = { text[i], 0 };
      const ds_named *hit = bsearch(&key, named, (size_t)ngiven, sizeof *named, cmp_named);
      if (hit == NULL) {
        char list[DS_COLUMN_LIST_MAX];
        lf_data_column_list(list, sizeof list, (const char *const *)given, ngiven);
        lf_data_err(err, errlen, "%s row %lld: label '%s' is not one of the training classes (%s)",
               src, (long long)(i + 1), text[i], list);
        goto done;
      }
      y[i] = (float)hit->index;
    }
    for (nnames = 0; nnames < ngiven; nnames++) {
      names[nnames] = strdup(given[nnames] ? given[nnames] : "");
      if (names[nnames] == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
    }
    out->nclasses = ngiven;
    rc = 0;
    goto done;
  }

  /* All non-negative integers: class indices as they are. */
  int64_t i;
  double max = -1;
  for (i = 0; i < n; i++) {
    double v;
    if (!lf_data_parse_number(text[i], &v) || v < 0 || v != floor(v)) break;
    if (v > max) max = v;
    y[i] = (float)v;
  }
  if (i == n) {
    if (max >= DS_MAX_CLASSES) {
      lf_data_err(err, errlen, "%s: label %.0f is too large for a class index (at most %d classes); "
             "use text labels, or regression for numeric targets", src, max, DS_MAX_CLASSES);
      goto done;
    }
    out->nclasses = (int)max + 1;
    rc = 0;
    goto done;
  }

  /* Text classes: the distinct labels in strcmp order. */
  sorted = malloc((size_t)n * sizeof *sorted);
  if (sorted == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
  memcpy(sorted, text, (size_t)n * sizeof *sorted);
  qsort(sorted, (size_t)n, sizeof *sorted, lf_data_cmp_str);
  int64_t distinct = 0;
  for (int64_t k = 0; k < n; k++)
    if (k == 0 || strcmp(sorted[k], sorted[distinct - 1]) != 0) sorted[distinct++] = sorted[k];
  if (distinct > DS_MAX_CLASSES) {
    lf_data_err(err, errlen, "%s: %lld distinct text labels (at most %d classes); is the label column right?",
           src, (long long)distinct, DS_MAX_CLASSES);
    goto done;
  }
  names = calloc((size_t)distinct, sizeof *names);
  if (names == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
  for (nnames = 0; nnames < (int)distinct; nnames++) {
    names[nnames] = strdup(sorted[nnames]);
    if (names[nnames] == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
  }
  for (int64_t k = 0; k < n; k++) y[k] = (float)find_name(sorted, (int)distinct, text[k]);
  out->nclasses = (int)distinct;
  rc = 0;

done:
  free(sorted);
  free(named);
  if (rc == 0) {
    out->y = y;
    out->class_names = names;
  } else {
    free(y);
    lf_data_free_names(names, nnames);
  }
  return rc;
}

/* Moves the builder's rows into out (x trimmed to size) and sets labels. */
static int lf_data_rows_finish(lf_data_rows *b, const lf_dataset_spec *spec, char *const *given, int ngiven,
                          const char *src, lf_dataset *out, char *err, size_t errlen)
{
  if (b->n == 0) {
    lf_data_err(err, errlen, "%s has no data rows (the dataset is empty)", src);
    return -1;
  }
  if (builder_labels(b, spec, given, ngiven, src, out, err, errlen) != 0) return -1;
  float *x = realloc(b->x, (size_t)(b->n * b->nvals) * sizeof *x);
  if (x != NULL) b->x = x;            /* else keep the larger block */
  out->x = b->x;
  out->n = b->n;
  b->x = NULL;
  return 0;
}

/* Column index of name in names[0..n), or -1. SQL names compare without
** case, like SQL identifiers; CSV headers exactly. */
static int lf_data_find_column(const char *const *names, int n, const char *name, int nocase)
{
  for (int i = 0; i < n; i++)
    if (names[i] && (nocase ? strcasecmp(names[i], name) : strcmp(names[i], name)) == 0) return i;
  return -1;
}

/* Resolves the label column and the feature columns (spec->features, or
** every column except the label and except skip). *feat is malloc'ed. */
static int lf_data_resolve_columns(const lf_dataset_spec *spec, const char *const *names, int ncol, int nocase,
                              int skip, const char *src, int *label_col, int **feat, int *nfeat,
                              char *err, size_t errlen)
{
  char list[DS_COLUMN_LIST_MAX];
  const char *label = spec->label && *spec->label ? spec->label : "label";
  *feat = NULL;
  *nfeat = 0;
  *label_col = lf_data_find_column(names, ncol, label, nocase);
  if (*label_col < 0) {
    lf_data_column_list(list, sizeof list, names, ncol);
    lf_data_err(err, errlen, "%s has no label column '%s' (columns: %s)", src, label, list);
    return -1;
  }
  if (skip >= 0) return 0;            /* features come from a blob column */
  int *f = malloc((size_t)(ncol > spec->nfeatures ? ncol : spec->nfeatures) * sizeof *f + sizeof *f);
  if (f == NULL) { lf_data_err(err, errlen, "out of memory"); return -1; }
  int k = 0;
  if (spec->features != NULL && spec->nfeatures > 0) {
    for (int i = 0; i < spec->nfeatures; i++) {
      int c = spec->features[i] ? lf_data_find_column(names, ncol, spec->features[i], nocase) : -1;
      if (c < 0) {
        lf_data_column_list(list, sizeof list, names, ncol);
        lf_data_err(err, errlen, "%s has no feature column '%s' (columns: %s)", src,
               spec->features[i] ? spec->features[i] : "(null)", list);
        free(f);
        return -1;
      }
      f[k++] = c;
    }
  } else {
    for (int c = 0; c < ncol; c++)
      if (c != *label_col) f[k++] = c;
  }
  if (k == 0) {
    lf_data_err(err, errlen, "%s has no feature columns besides the label '%s'", src, label);
    free(f);
    return -1;
  }
  *feat = f;
  *nfeat = k;
  return 0;
}

/* ---------------------------------------------------------- named inputs */

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

static void lf_data_inputs_free(lf_data_inputs *t)
{
  free(t->cat_index);
  free(t->off);
  free(t->arena);
  memset(t, 0, sizeof *t);
}

static int lf_data_inputs_init(lf_data_inputs *t, const lf_dataset_spec *spec, int nfeat, char *err, size_t errlen)
{
  memset(t, 0, sizeof *t);
  if (!LF_DS_TABULAR(spec)) return 0;
  t->on = 1;
  t->nfeat = nfeat;
  t->cat_index = malloc((size_t)nfeat * sizeof *t->cat_index);
  if (t->cat_index == NULL) { lf_data_err(err, errlen, "out of memory"); return -1; }
  int j = 0;
  for (int g = 0; g < spec->ninputs; g++)
    for (int c = 0; c < spec->inputs[g].ncolumns && j < nfeat; c++, j++)
      t->cat_index[j] = spec->inputs[g].categorical ? t->ncat++ : -1;
  for (; j < nfeat; j++) t->cat_index[j] = -1;
  return 0;
}

/* Room for the categorical offsets of row `row`. */
static int lf_data_inputs_reserve(lf_data_inputs *t, int64_t row, char *err, size_t errlen)
{
  if (!t->on || t->ncat == 0 || row < t->cap) return 0;
  int64_t cap = t->cap ? t->cap * 2 : 256;
  while (cap <= row) cap *= 2;
  size_t *o = realloc(t->off, (size_t)(cap * t->ncat) * sizeof *o);
  if (o == NULL) { lf_data_err(err, errlen, "out of memory loading the dataset"); return -1; }
  t->off = o;
  t->cap = cap;
  return 0;
}

static int is_na(const lf_dataset_spec *spec, const char *v)
{
  if (*v == 0) return 1;
  if (spec->na_values == NULL) return strcmp(v, "?") == 0;
  for (int i = 0; i < spec->nna_values; i++)
    if (spec->na_values[i] && strcmp(v, spec->na_values[i]) == 0) return 1;
  return 0;
}

/* One feature value of row `row` (text NULL: SQL NULL). Returns 1 if it
** was handled here (missing, or categorical), 0 if the caller parses it as
** a number, -1 on error. */
static int lf_data_inputs_cell(lf_data_inputs *t, const lf_dataset_spec *spec, int64_t row, int j, const char *text, size_t len,
                    float *dst, int *missing, char *err, size_t errlen)
{
  char buf[1024];
  const char *v = text ? lf_tabular_trim(text, len, buf, sizeof buf) : "";
  int k = t->cat_index[j];
  if (v == NULL) {
    if (k < 0) return 0;
    lf_data_err(err, errlen, "a categorical value of %zu bytes is too long (at most %zu)", len, sizeof buf - 1);
    return -1;
  }
  if (is_na(spec, v)) {
    *missing = 1;
    if (k >= 0) t->off[row * t->ncat + k] = SIZE_MAX;
    else *dst = NAN;
    return 1;
  }
  if (k < 0) return 0;
  size_t l = strlen(v) + 1;
  if (t->acap - t->len < l) {
    size_t cap = t->acap ? t->acap : 4096;
    while (cap - t->len < l) cap *= 2;
    char *a = realloc(t->arena, cap);
    if (a == NULL) { lf_data_err(err, errlen, "out of memory loading the dataset"); return -1; }
    t->arena = a;
    t->acap = cap;
  }
  memcpy(t->arena + t->len, v, l);
  t->off[row * t->ncat + k] = t->len;
  t->len += l;
  *dst = 0;
  return 1;
}

/* After the rows are in out: vocabularies (built here, or given),
** categorical codes and the fill of missing continuous values. */
static int lf_data_inputs_finish(lf_data_inputs *t, const lf_dataset_spec *spec, const lf_tabular *given, const char *src,
                      lf_dataset *out, char *err, size_t errlen)
{
  (void)spec;
  int nf = t->nfeat;
  int64_t n = out->n;
  if (given != NULL && given->ncols != nf) {
    lf_data_err(err, errlen, "%s has %d input columns; the pipeline was trained on %d", src, nf, given->ncols);
    return -1;
  }
  lf_tabular *tab = given ? lf_tabular_copy(given) : lf_tabular_new(nf);
  const char **vals = malloc((size_t)(n > 0 ? n : 1) * sizeof *vals);
  if (tab == NULL || vals == NULL) { lf_data_err(err, errlen, "out of memory"); free(vals); lf_tabular_free(tab); return -1; }
  for (int j = 0; j < nf; j++) {
    int k = t->cat_index[j];
    if (given != NULL && (given->categorical[j] != 0) != (k >= 0)) {
      lf_data_err(err, errlen, "%s: input column %d is %s here but was %s in training", src, j + 1,
             k >= 0 ? "categorical" : "continuous", given->categorical[j] ? "categorical" : "continuous");
      free(vals);
      lf_tabular_free(tab);
      return -1;
    }
    if (k >= 0) {
      if (given == NULL) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
          size_t o = t->off[i * t->ncat + k];
          if (o != SIZE_MAX) vals[m++] = t->arena + o;
        }
        qsort(vals, (size_t)m, sizeof *vals, lf_data_cmp_str);
        int64_t u = 0;
        for (int64_t i = 0; i < m; i++)
          if (u == 0 || strcmp(vals[u - 1], vals[i]) != 0) vals[u++] = vals[i];
        if (u > 10000000) {
          lf_data_err(err, errlen, "%s: a categorical column has %lld distinct values (at most 10000000)", src, (long long)u);
          free(vals);
          lf_tabular_free(tab);
          return -1;
        }
        tab->categorical[j] = 1;
        tab->vocab[j] = calloc((size_t)(u ? u : 1), sizeof(char *));
        if (tab->vocab[j] == NULL) { lf_data_err(err, errlen, "out of memory"); free(vals); lf_tabular_free(tab); return -1; }
        for (int64_t i = 0; i < u; i++) {
          tab->vocab[j][i] = strdup(vals[i]);
          if (tab->vocab[j][i] == NULL) { lf_data_err(err, errlen, "out of memory"); free(vals); lf_tabular_free(tab); return -1; }
          tab->nvocab[j] = (int)(i + 1);
        }
      }
      for (int64_t i = 0; i < n; i++) {
        size_t o = t->off[i * t->ncat + k];
        out->x[i * nf + j] = o == SIZE_MAX ? 0.0f : (float)lf_tabular_code(tab, j, t->arena + o);
      }
    } else {
      if (given == NULL) {
        double sum = 0;
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
          float v = out->x[i * nf + j];
          if (v == v) { sum += v; m++; }
        }
        tab->fill[j] = m ? (float)(sum / (double)m) : 0.0f;
      }
      for (int64_t i = 0; i < n; i++)
        if (out->x[i * nf + j] != out->x[i * nf + j]) out->x[i * nf + j] = tab->fill[j];
    }
  }
  free(vals);
  out->tab = tab;
  out->dropped = t->dropped;
  return 0;
}

int *lf_dataset_standardized_columns(const lf_dataset_spec *spec, int ncols)
{
  int *z = calloc((size_t)(ncols > 0 ? ncols : 1), sizeof *z);
  if (z == NULL) return NULL;
  if (!LF_DS_TABULAR(spec)) {
    for (int j = 0; j < ncols; j++) z[j] = spec->standardize != 0;
    return z;
  }
  int j = 0;
  for (int g = 0; g < spec->ninputs; g++)
    for (int c = 0; c < spec->inputs[g].ncolumns && j < ncols; c++, j++)
      z[j] = spec->inputs[g].standardize && !spec->inputs[g].categorical;
  return z;
}

int lf_dataset_wants_standardize(const lf_dataset_spec *spec)
{
  if (!LF_DS_TABULAR(spec)) return spec->standardize != 0;
  for (int g = 0; g < spec->ninputs; g++)
    if (spec->inputs[g].standardize && !spec->inputs[g].categorical) return 1;
  return 0;
}

/* Stores v / scale as float32; 0 if it does not fit. */
static int lf_data_store(float *dst, double v, double scale)
{
  if (scale != 0) v /= scale;
  float f = (float)v;
  if (!isfinite(f)) return 0;
  *dst = f;
  return 1;
}

/* -------------------------------------------------------------------- idx */

static uint32_t be32(const unsigned char *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Opens "<prefix>-<suffix>", else the same with ".gz". gzopen reads plain
** files as they are. *name (malloc'ed) is the file actually opened. */
static gzFile idx_open(const char *prefix, const char *suffix, char **name, char *err, size_t errlen)
{
  size_t len = strlen(prefix) + strlen(suffix) + 8;
  char *p = malloc(len);
  struct stat st;
  *name = NULL;
  if (p == NULL) { lf_data_err(err, errlen, "out of memory"); return NULL; }
  snprintf(p, len, "%s-%s", prefix, suffix);
  if (stat(p, &st) != 0) {
    int e = errno;
    snprintf(p, len, "%s-%s.gz", prefix, suffix);
    if (stat(p, &st) != 0) {
      lf_data_err(err, errlen, "cannot open %s-%s (or .gz): %s", prefix, suffix, strerror(e));
      free(p);
      return NULL;
    }
  }
  int fd = lf_open_regular(p, "", err, errlen);
  if (fd < 0) {
    free(p);
    return NULL;
  }
  gzFile g = gzdopen(fd, "rb");
  if (g == NULL) {
    close(fd);
    lf_data_err(err, errlen, "cannot open %s: %s", p, errno ? strerror(errno) : "out of memory");
    free(p);
    return NULL;
  }
  gzbuffer(g, 1 << 17);
  *name = p;
  return g;
}

/* Reads up to len bytes; returns the count (short only at end of file) or
** -1 with err set. A gzip stream cut short counts as the end of file. */
static int64_t idx_read(gzFile g, void *buf, size_t len, const char *name, char *err, size_t errlen)
{
  size_t got = 0;
  while (got < len) {
    size_t want = len - got;
    if (want > (1u << 30)) want = 1u << 30;
    int k = gzread(g, (char *)buf + got, (unsigned)want);
    if (k < 0) {
      int zerr;
      const char *msg = gzerror(g, &zerr);
      if (zerr == Z_BUF_ERROR) break;   /* "unexpected end of file" */
      lf_data_err(err, errlen, "cannot read %s: %s", name, zerr == Z_ERRNO ? strerror(errno) : msg);
      return -1;
    }
    if (k == 0) break;
    got += (size_t)k;
  }
  return (int64_t)got;
}

static int lf_data_idx_load(const lf_dataset_spec *spec, const char *prefix, lf_dataset *out,
                       char *err, size_t errlen)
{
  char *iname = NULL, *lname = NULL;
  gzFile gi = NULL, gl = NULL;
  unsigned char hi[16], hl[8], *chunk = NULL, *labels = NULL;
  float *x = NULL, *y = NULL;
  int rc = -1;
  int64_t got;

  gi = idx_open(prefix, "images-idx3-ubyte", &iname, err, errlen);
  if (gi == NULL) goto done;
  gl = idx_open(prefix, "labels-idx1-ubyte", &lname, err, errlen);
  if (gl == NULL) goto done;

  if ((got = idx_read(gi, hi, 16, iname, err, errlen)) < 0) goto done;
  if (got < 16) {
    lf_data_err(err, errlen, "%s is truncated: expected a 16-byte idx3 header, found %lld bytes", iname, (long long)got);
    goto done;
  }
  if ((got = idx_read(gl, hl, 8, lname, err, errlen)) < 0) goto done;
  if (got < 8) {
    lf_data_err(err, errlen, "%s is truncated: expected an 8-byte idx1 header, found %lld bytes", lname, (long long)got);
    goto done;
  }
  if (be32(hi) != 0x00000803) {
    lf_data_err(err, errlen, "%s is not an idx3 image file: magic 0x%08x, expected 0x00000803", iname, be32(hi));
    goto done;
  }
  if (be32(hl) != 0x00000801) {
    lf_data_err(err, errlen, "%s is not an idx1 label file: magic 0x%08x, expected 0x00000801", lname, be32(hl));
    goto done;
  }
  int64_t n = be32(hi + 4), rows = be32(hi + 8), cols = be32(hi + 12), nl = be32(hl + 4);
  if (n == 0) { lf_data_err(err, errlen, "%s holds no images (the dataset is empty)", iname); goto done; }
  if (rows == 0 || cols == 0 || rows > DS_MAX_IMAGE_SIDE || cols > DS_MAX_IMAGE_SIDE) {
    lf_data_err(err, errlen, "%s: bad image size %lldx%lld", iname, (long long)rows, (long long)cols);
    goto done;
  }
  int64_t img = rows * cols;
  if (img > DS_MAX_IMAGE_PIXELS) {
    lf_data_err(err, errlen, "%s: images of %lldx%lld are too large", iname, (long long)rows, (long long)cols);
    goto done;
  }
  if (n > DS_MAX_VALUES / img) {
    lf_data_err(err, errlen, "%s: %lld images of %lldx%lld is too large", iname, (long long)n, (long long)rows, (long long)cols);
    goto done;
  }
  if (nl != n) {
    lf_data_err(err, errlen, "%s has %lld labels but %s has %lld images", lname, (long long)nl, iname, (long long)n);
    goto done;
  }

  float lut[256];
  for (int v = 0; v < 256; v++) lut[v] = spec->scale != 0 ? (float)(v / spec->scale) : (float)v;

  /* Read in chunks, growing x as data actually arrives: a forged count
  ** fails on the short read, not on a giant allocation. */
  int64_t per_chunk = (1 << 20) / img + 1, cap = 0, have = 0;
  chunk = malloc((size_t)(per_chunk * img));
  if (chunk == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
  while (have < n) {
    int64_t k = n - have < per_chunk ? n - have : per_chunk;
    if (have + k > cap) {
      int64_t c = cap ? cap * 2 : per_chunk;
      if (c > n) c = n;
      if (c < have + k) c = have + k;
      float *nx = realloc(x, (size_t)(c * img) * sizeof *nx);
      if (nx == NULL) { lf_data_err(err, errlen, "out of memory for %lld images", (long long)c); goto done; }
      x = nx;
      cap = c;
    }
    got = idx_read(gi, chunk, (size_t)(k * img), iname, err, errlen);
    if (got < 0) goto done;
    if (got < k * img) {
      lf_data_err(err, errlen, "%s is truncated: header declares %lld images of %lldx%lld (%lld bytes of pixels), "
             "found only %lld", iname, (long long)n, (long long)rows, (long long)cols,
             (long long)(n * img), (long long)(have * img + got));
      goto done;
    }
    float *dst = x + have * img;
    for (int64_t j = 0; j < k * img; j++) dst[j] = lut[chunk[j]];
    have += k;
  }

  labels = malloc((size_t)n);
  y = malloc((size_t)n * sizeof *y);
  if (labels == NULL || y == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
  got = idx_read(gl, labels, (size_t)n, lname, err, errlen);
  if (got < 0) goto done;
  if (got < n) {
    lf_data_err(err, errlen, "%s is truncated: header declares %lld labels, found only %lld",
           lname, (long long)n, (long long)got);
    goto done;
  }
  int maxl = 0;
  for (int64_t i = 0; i < n; i++) {
    y[i] = labels[i];
    if (labels[i] > maxl) maxl = labels[i];
  }
  out->n = n;
  out->shape.ndim = 3;
  out->shape.dim[0] = 1;
  out->shape.dim[1] = rows;
  out->shape.dim[2] = cols;
  out->x = x;
  out->y = y;
  out->nclasses = spec->regression ? 0 : maxl + 1;
  x = NULL;
  y = NULL;
  rc = 0;

done:
  if (gi) gzclose(gi);
  if (gl) gzclose(gl);
  free(iname);
  free(lname);
  free(chunk);
  free(labels);
  free(x);
  free(y);
  return rc;
}

/* -------------------------------------------------------------------- csv */

/* An RFC 4180 reader over a whole file held in memory (with a NUL after
** it). Fields are unquoted in place and NUL-terminated, so they point into
** the buffer and live as long as it. */
typedef struct lf_csv_reader {
  char *p, *end;
  const char *name;
  char **field;
  int nfield, cap;
} lf_csv_reader;

/* Next record into r->field[0..nfield): 1, 0 at end of file, -1 on error.
** Empty lines are skipped. row is the row number for messages. */
static int lf_csv_next(lf_csv_reader *r, int64_t row, char *err, size_t errlen)
{
  while (r->p < r->end && (*r->p == '\n' || *r->p == '\r')) r->p++;
  if (r->p >= r->end) return 0;
  r->nfield = 0;
  for (;;) {
    char *start = r->p, *w;
    if (*r->p == '"') {
      char *q = r->p + 1;
      w = start;
      for (;;) {
        if (q >= r->end) {
          lf_data_err(err, errlen, "%s row %lld: a quoted field is never closed", r->name, (long long)row);
          return -1;
        }
        if (*q == '"') {
          if (q + 1 < r->end && q[1] == '"') { *w++ = '"'; q += 2; continue; }
          q++;
          break;
        }
        *w++ = *q++;
      }
      r->p = q;
      if (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
        lf_data_err(err, errlen, "%s row %lld column %d: text after the closing quote of a field",
               r->name, (long long)row, r->nfield + 1);
        return -1;
      }
    } else {
      while (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') r->p++;
      w = r->p;
    }
    char sep = r->p < r->end ? *r->p : 0;
    *w = 0;                           /* safe: w <= p, and end has a spare byte */
    if (r->nfield == r->cap) {
      int cap = r->cap ? r->cap * 2 : 32;
      char **f = realloc(r->field, (size_t)cap * sizeof *f);
      if (f == NULL) { lf_data_err(err, errlen, "out of memory reading %s", r->name); return -1; }
      r->field = f;
      r->cap = cap;
    }
    r->field[r->nfield++] = start;
    if (sep == ',') { r->p++; continue; }
    if (sep == '\r') { r->p++; if (r->p < r->end && *r->p == '\n') r->p++; }
    else if (sep == '\n') r->p++;
    return 1;
  }
}

/* Reads a whole file, with one spare NUL byte after it. */
static char *lf_data_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
  int fd = lf_open_regular(path, "", err, errlen);
  if (fd < 0) return NULL;
  FILE *f = fdopen(fd, "rb");
  if (f == NULL) { lf_data_err(err, errlen, "cannot open %s: %s", path, strerror(errno)); close(fd); return NULL; }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    lf_data_err(err, errlen, "%s is not a regular file", path);
    fclose(f);
    return NULL;
  }
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 1);
  if (buf == NULL) { lf_data_err(err, errlen, "out of memory reading %s (%zu bytes)", path, size); fclose(f); return NULL; }
  size_t got = fread(buf, 1, size, f);
  if (got != size && ferror(f)) {
    lf_data_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  buf[got] = 0;
  *len = got;
  return buf;
}

static int lf_data_csv_load(const lf_dataset_spec *spec, const char *path, char *const *given, int ngiven,
                       const lf_tabular *tgiven, lf_dataset *out, char *err, size_t errlen)
{
  lf_data_inputs tc;
  memset(&tc, 0, sizeof tc);
  size_t len = 0;
  char *buf = lf_data_read_file(path, &len, err, errlen);
  if (buf == NULL) return -1;
  lf_csv_reader r = { buf, buf + len, path, NULL, 0, 0 };
  if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) r.p += 3;   /* UTF-8 BOM */
  lf_data_rows b;
  memset(&b, 0, sizeof b);
  const char **header = NULL;
  int *feat = NULL, nfeat = 0, label_col = -1, nhdr = 0, rc = -1;

  int k = lf_csv_next(&r, 0, err, errlen);
  if (k < 0) goto done;
  if (k == 0) { lf_data_err(err, errlen, "%s is empty (a header row is required)", path); goto done; }
  nhdr = r.nfield;
  header = malloc((size_t)nhdr * sizeof *header);
  if (header == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
  memcpy(header, r.field, (size_t)nhdr * sizeof *header);
  if (lf_data_resolve_columns(spec, header, nhdr, 0, -1, path, &label_col, &feat, &nfeat, err, errlen) != 0)
    goto done;

  b.nvals = nfeat;
  if (lf_data_inputs_init(&tc, spec, nfeat, err, errlen) != 0) goto done;
  for (int64_t row = 1;; row++) {
    k = lf_csv_next(&r, row, err, errlen);
    if (k < 0) goto done;
    if (k == 0) break;
    if (r.nfield != nhdr) {
      lf_data_err(err, errlen, "%s row %lld has %d fields, the header has %d", path, (long long)row, r.nfield, nhdr);
      goto done;
    }
    float *dst = lf_data_rows_add(&b, err, errlen);
    if (dst == NULL) goto done;
    if (lf_data_inputs_reserve(&tc, b.n, err, errlen) != 0) goto done;
    int missing = 0;
    for (int j = 0; j < nfeat; j++) {
      const char *s = r.field[feat[j]];
      double v;
      if (tc.on) {
        char why[256];
        int h = lf_data_inputs_cell(&tc, spec, b.n, j, s, strlen(s), dst + j, &missing, why, sizeof why);
        if (h < 0) { lf_data_err(err, errlen, "%s row %lld column '%s': %s", path, (long long)row, header[feat[j]], why); goto done; }
        if (h) continue;
      }
      if (!lf_data_parse_number(s, &v)) {
        lf_data_err(err, errlen, "%s row %lld column '%s': '%s' is not a number", path, (long long)row, header[feat[j]], s);
        goto done;
      }
      if (!lf_data_store(dst + j, v, spec->scale)) {
        lf_data_err(err, errlen, "%s row %lld column '%s': '%s' is out of float32 range", path, (long long)row, header[feat[j]], s);
        goto done;
      }
    }
    if (missing && !spec->na_fill) { tc.dropped++; continue; }
    const char *lab = r.field[label_col];
    if (*lab == 0) {
      lf_data_err(err, errlen, "%s row %lld: the label ('%s') is empty", path, (long long)row, header[label_col]);
      goto done;
    }
    if (lf_data_rows_label(&b, lab, strlen(lab), err, errlen) != 0) goto done;
  }
  if (b.n == 0 && tc.dropped > 0) {
    lf_data_err(err, errlen, "%s: all %lld rows have a missing value and were dropped (use \"na\": \"fill\")", path,
           (long long)tc.dropped);
    goto done;
  }
  if (lf_data_rows_finish(&b, spec, given, ngiven, path, out, err, errlen) != 0) goto done;
  out->shape.ndim = 1;
  out->shape.dim[0] = nfeat;
  if (tc.on && lf_data_inputs_finish(&tc, spec, tgiven, path, out, err, errlen) != 0) goto done;
  rc = 0;

done:
  lf_data_inputs_free(&tc);
  lf_data_rows_free(&b);
  free(header);
  free(feat);
  free(r.field);
  free(buf);
  return rc;
}

/* -------------------------------------------------------------------- sql */

#define SQL_SRC "dataset query"

/* Prepares src as exactly one read-only statement that returns rows: a
** config may come from a bundle or a database someone sent, so its query
** may only read (lf_readonly_query.h). */
static sqlite3_stmt *lf_data_sql_prepare(sqlite3 *db, const char *src, char *err, size_t errlen)
{
  sqlite3_stmt *st = NULL;
  char *why = NULL;
  if (lf_prepare_readonly(db, src, &st, &why) != SQLITE_OK) {
    lf_data_err(err, errlen, SQL_SRC " %s", why ? why : "cannot be prepared (out of memory)");
    sqlite3_free(why);
    return NULL;
  }
  return st;
}

/* A numeric feature value of the current row; 0 with err set if it is not
** a number. */
static int sql_value(sqlite3_stmt *st, int col, const char *name, int64_t row, double *v,
                     char *err, size_t errlen)
{
  switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
      *v = sqlite3_column_double(st, col);
      if (isfinite(*v)) return 1;
      lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': value is not finite", (long long)row, name);
      return 0;
    case SQLITE_TEXT: {
      const char *s = (const char *)sqlite3_column_text(st, col);
      if (s && lf_data_parse_number(s, v)) return 1;
      lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': '%s' is not a number", (long long)row,
             name, s ? s : "");
      return 0;
    }
    case SQLITE_NULL:
      lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': value is NULL", (long long)row, name);
      return 0;
    default:
      lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': a BLOB is not a number", (long long)row, name);
      return 0;
  }
}

static int lf_data_sql_load(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                       char *const *given, int ngiven, const lf_tabular *tgiven, lf_dataset *out,
                       char *err, size_t errlen)
{
  lf_data_inputs tc;
  memset(&tc, 0, sizeof tc);
  lf_data_rows b;
  memset(&b, 0, sizeof b);
  const char **names = NULL;
  int *feat = NULL, nfeat = 0, label_col = -1, blob_col = -1, rc = -1;
  lf_shape shape;
  memset(&shape, 0, sizeof shape);
  int64_t sample_bytes = 0;
  float lut[256];

  sqlite3_stmt *st = lf_data_sql_prepare(db, src ? src : "", err, errlen);
  if (st == NULL) return -1;
  int ncol = sqlite3_column_count(st);
  names = calloc((size_t)ncol, sizeof *names);
  if (names == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
  /* Copies: sqlite3_column_name's result dies if step re-prepares. */
  for (int c = 0; c < ncol; c++) {
    const char *nm = sqlite3_column_name(st, c);
    names[c] = strdup(nm ? nm : "?");
    if (names[c] == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
  }

  int use_blob = spec->blob != NULL && *spec->blob;
  if (use_blob) {
    if (spec->features != NULL && spec->nfeatures > 0) {
      lf_data_err(err, errlen, SQL_SRC ": give either a blob column or feature columns, not both");
      goto done;
    }
    if (spec->blob_dtype != 1 && spec->blob_dtype != 4) {
      lf_data_err(err, errlen, SQL_SRC ": blob dtype %d is not supported (1 = uint8, 4 = float32)", spec->blob_dtype);
      goto done;
    }
    blob_col = lf_data_find_column(names, ncol, spec->blob, 1);
    if (blob_col < 0) {
      char list[DS_COLUMN_LIST_MAX];
      lf_data_column_list(list, sizeof list, names, ncol);
      lf_data_err(err, errlen, SQL_SRC " has no blob column '%s' (columns: %s)", spec->blob, list);
      goto done;
    }
    if (spec->blob_shape.ndim > 0) {
      shape = spec->blob_shape;
      if (lf_data_count(&shape) < 0) {
        char s[64];
        lf_data_err(err, errlen, SQL_SRC ": bad blob shape %s", lf_data_shape_str(&shape, s, sizeof s));
        goto done;
      }
      sample_bytes = lf_data_count(&shape) * spec->blob_dtype;
    }
    for (int v = 0; v < 256; v++) lut[v] = spec->scale != 0 ? (float)(v / spec->scale) : (float)v;
  }
  if (lf_data_resolve_columns(spec, names, ncol, 1, blob_col, SQL_SRC, &label_col, &feat, &nfeat, err, errlen) != 0)
    goto done;
  b.nvals = use_blob ? lf_data_count(&shape) : nfeat;   /* blob without shape: set on row 1 */
  if (!use_blob && lf_data_inputs_init(&tc, spec, nfeat, err, errlen) != 0) goto done;
  int missing = 0;

  for (int64_t row = 1;; row++) {
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE) break;
    if (s != SQLITE_ROW) {
      lf_data_err(err, errlen, SQL_SRC " failed at row %lld: %s", (long long)row, sqlite3_errmsg(db));
      goto done;
    }
    if (use_blob) {
      int t = sqlite3_column_type(st, blob_col);
      const void *blob = sqlite3_column_blob(st, blob_col);
      int64_t bytes = sqlite3_column_bytes(st, blob_col);
      if (t != SQLITE_BLOB) {
        lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': expected a BLOB, got %s", (long long)row,
               names[blob_col], t == SQLITE_NULL ? "NULL" : t == SQLITE_TEXT ? "TEXT" : "a number");
        goto done;
      }
      if (sample_bytes == 0) {
        /* No shape given: the first row's blob fixes [len]. */
        if (bytes == 0 || bytes % spec->blob_dtype != 0) {
          lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': blob of %lld bytes is not a whole number of %s values",
                 (long long)row, names[blob_col], (long long)bytes, spec->blob_dtype == 1 ? "uint8" : "float32");
          goto done;
        }
        shape.ndim = 1;
        shape.dim[0] = bytes / spec->blob_dtype;
        sample_bytes = bytes;
        b.nvals = shape.dim[0];
      }
      if (bytes != sample_bytes) {
        char sh[64];
        lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': blob has %lld bytes, expected %lld (%s %s)",
               (long long)row, names[blob_col], (long long)bytes, (long long)sample_bytes,
               lf_data_shape_str(&shape, sh, sizeof sh), spec->blob_dtype == 1 ? "uint8" : "float32");
        goto done;
      }
      float *dst = lf_data_rows_add(&b, err, errlen);
      if (dst == NULL) goto done;
      if (spec->blob_dtype == 1) {
        const unsigned char *u = blob;
        for (int64_t j = 0; j < b.nvals; j++) dst[j] = lut[u[j]];
      } else {
        memcpy(dst, blob, (size_t)bytes);   /* float32, host byte order */
        for (int64_t j = 0; j < b.nvals; j++) {
          if (!isfinite(dst[j]) || !lf_data_store(dst + j, dst[j], spec->scale)) {
            lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': element %lld of the blob is not a finite number",
                   (long long)row, names[blob_col], (long long)j);
            goto done;
          }
        }
      }
    } else {
      float *dst = lf_data_rows_add(&b, err, errlen);
      if (dst == NULL) goto done;
      if (lf_data_inputs_reserve(&tc, b.n, err, errlen) != 0) goto done;
      missing = 0;
      for (int j = 0; j < nfeat; j++) {
        double v;
        if (tc.on) {
          int ty = sqlite3_column_type(st, feat[j]);
          if (ty == SQLITE_NULL || ty == SQLITE_TEXT || tc.cat_index[j] >= 0) {
            /* column_text converts a number in place: only for these */
            const char *s = ty == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(st, feat[j]);
            size_t len = s ? (size_t)sqlite3_column_bytes(st, feat[j]) : 0;
            char why[256];
            int h = lf_data_inputs_cell(&tc, spec, b.n, j, s, len, dst + j, &missing, why, sizeof why);
            if (h < 0) {
              lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': %s", (long long)row, names[feat[j]], why);
              goto done;
            }
            if (h) continue;
          }
        }
        if (!sql_value(st, feat[j], names[feat[j]], row, &v, err, errlen)) goto done;
        if (!lf_data_store(dst + j, v, spec->scale)) {
          lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': %g is out of float32 range", (long long)row, names[feat[j]], v);
          goto done;
        }
      }
    }
    if (missing && !spec->na_fill) { tc.dropped++; continue; }
    int t = sqlite3_column_type(st, label_col);
    if (t == SQLITE_NULL || t == SQLITE_BLOB) {
      lf_data_err(err, errlen, SQL_SRC " row %lld: the label ('%s') is %s", (long long)row, names[label_col],
             t == SQLITE_NULL ? "NULL" : "a BLOB");
      goto done;
    }
    const char *lab = (const char *)sqlite3_column_text(st, label_col);
    int lablen = sqlite3_column_bytes(st, label_col);
    if (lab == NULL || lablen == 0) {
      lf_data_err(err, errlen, SQL_SRC " row %lld: the label ('%s') is empty", (long long)row, names[label_col]);
      goto done;
    }
    if (lf_data_rows_label(&b, lab, (size_t)lablen, err, errlen) != 0) goto done;
  }
  if (b.n == 0 && tc.dropped > 0) {
    lf_data_err(err, errlen, SQL_SRC ": all %lld rows have a missing value and were dropped (use \"na\": \"fill\")",
           (long long)tc.dropped);
    goto done;
  }
  if (lf_data_rows_finish(&b, spec, given, ngiven, SQL_SRC, out, err, errlen) != 0) goto done;
  if (use_blob) {
    out->shape = shape;
  } else {
    out->shape.ndim = 1;
    out->shape.dim[0] = nfeat;
  }
  if (tc.on && lf_data_inputs_finish(&tc, spec, tgiven, SQL_SRC, out, err, errlen) != 0) goto done;
  rc = 0;

done:
  lf_data_inputs_free(&tc);
  lf_data_rows_free(&b);
  free(feat);
  if (names != NULL) for (int c = 0; c < ncol; c++) free((char *)names[c]);
  free(names);
  sqlite3_finalize(st);
  return rc;
}

/* ------------------------------------------------------------------- scan */

int lf_scan_column(const lf_scan_header *h, const char *name, const char *role, char *err, size_t errlen)
{
  int c = lf_data_find_column(h->names, h->ncol, name, h->nocase);
  if (c < 0) {
    char list[DS_COLUMN_LIST_MAX];
    lf_data_column_list(list, sizeof list, h->names, h->ncol);
    lf_data_err(err, errlen, "%s has no %s column '%s' (columns: %s)", h->src, role, name, list);
  }
  return c;
}

int lf_scan_number(const lf_scan_cell *c, double *v)
{
  return c->type == LF_CELL_TEXT && lf_data_parse_number((const char *)c->p, v);
}

int lf_dataset_scan(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                    lf_scan_header_fn on_header, lf_scan_row_fn on_row, void *ctx,
                    char *err, size_t errlen)
{
  lf_scan_header h;
  lf_scan_cell *cells = NULL;
  int rc = -1;
  memset(&h, 0, sizeof h);
  if (spec->kind == LF_DS_CSV) {
    size_t len = 0;
    char *buf = lf_data_read_file(src, &len, err, errlen);
    if (buf == NULL) return -1;
    lf_csv_reader r = { buf, buf + len, src, NULL, 0, 0 };
    const char **header = NULL;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) r.p += 3;
    int k = lf_csv_next(&r, 0, err, errlen);
    if (k == 0) lf_data_err(err, errlen, "%s is empty (a header row is required)", src);
    if (k <= 0) goto csv_done;
    h.ncol = r.nfield;
    header = malloc((size_t)h.ncol * sizeof *header);
    cells = calloc((size_t)h.ncol, sizeof *cells);
    if (header == NULL || cells == NULL) { lf_data_err(err, errlen, "out of memory"); goto csv_done; }
    memcpy(header, r.field, (size_t)h.ncol * sizeof *header);
    h.names = header;
    h.src = src;
    if (on_header(ctx, &h, err, errlen) != 0) goto csv_done;
    if (on_row == NULL) { rc = 0; goto csv_done; }
    for (int64_t row = 1;; row++) {
      k = lf_csv_next(&r, row, err, errlen);
      if (k < 0) goto csv_done;
      if (k == 0) break;
      if (r.nfield != h.ncol) {
        lf_data_err(err, errlen, "%s row %lld has %d fields, the header has %d", src, (long long)row, r.nfield, h.ncol);
        goto csv_done;
      }
      for (int j = 0; j < h.ncol; j++) {
        cells[j].p = r.field[j];
        cells[j].len = (int64_t)strlen(r.field[j]);
        cells[j].type = LF_CELL_TEXT;
      }
      if (on_row(ctx, row, cells, err, errlen) != 0) goto csv_done;
    }
    rc = 0;
  csv_done:
    free(header);
    free(cells);
    free(r.field);
    free(buf);
    return rc;
  }
  if (spec->kind != LF_DS_SQL) {
    lf_data_err(err, errlen, "sequence and window datasets read a csv or sql source");
    return -1;
  }
  sqlite3_stmt *st = lf_data_sql_prepare(db, src, err, errlen);
  char **names = NULL;
  if (st == NULL) return -1;
  h.ncol = sqlite3_column_count(st);
  names = calloc((size_t)h.ncol + 1, sizeof *names);
  cells = calloc((size_t)h.ncol + 1, sizeof *cells);
  if (names == NULL || cells == NULL) { lf_data_err(err, errlen, "out of memory"); goto sql_done; }
  for (int c = 0; c < h.ncol; c++) {
    const char *nm = sqlite3_column_name(st, c);
    names[c] = strdup(nm ? nm : "?");
    if (names[c] == NULL) { lf_data_err(err, errlen, "out of memory"); goto sql_done; }
  }
  h.names = (const char *const *)names;
  h.src = SQL_SRC;
  h.nocase = 1;
  if (on_header(ctx, &h, err, errlen) != 0) goto sql_done;
  if (on_row == NULL) { rc = 0; goto sql_done; }
  for (int64_t row = 1;; row++) {
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE) break;
    if (s != SQLITE_ROW) {
      lf_data_err(err, errlen, SQL_SRC " failed at row %lld: %s", (long long)row, sqlite3_errmsg(db));
      goto sql_done;
    }
    for (int j = 0; j < h.ncol; j++) {
      int t = sqlite3_column_type(st, j);
      if (t == SQLITE_NULL) { cells[j].type = LF_CELL_NULL; cells[j].p = ""; cells[j].len = 0; continue; }
      if (t == SQLITE_BLOB) {
        cells[j].type = LF_CELL_BLOB;
        cells[j].p = sqlite3_column_blob(st, j);
        cells[j].len = sqlite3_column_bytes(st, j);
        if (cells[j].p == NULL) cells[j].p = "";
        continue;
      }
      cells[j].type = LF_CELL_TEXT;
      cells[j].p = sqlite3_column_text(st, j);
      cells[j].len = sqlite3_column_bytes(st, j);
      if (cells[j].p == NULL) { lf_data_err(err, errlen, "out of memory"); goto sql_done; }
    }
    if (on_row(ctx, row, cells, err, errlen) != 0) goto sql_done;
  }
  rc = 0;
sql_done:
  if (names != NULL) for (int c = 0; c < h.ncol; c++) free(names[c]);
  free(names);
  free(cells);
  sqlite3_finalize(st);
  return rc;
}

/* ----------------------------------------------------------------- public */

int lf_dataset_load(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                    char *const *class_names, int nclass_names,
                    lf_dataset *out, char *err, size_t errlen)
{
  return lf_dataset_load_tab(spec, src, db, class_names, nclass_names, NULL, out, err, errlen);
}

int lf_dataset_fill_alloc(lf_dataset_fill *f, int64_t n, const lf_shape *shape, char *err, size_t errlen)
{
  int64_t per = 1;
  if (n < 1 || n > ((int64_t)1 << 31) || !shape || shape->ndim < 1 || shape->ndim > LF_MAX_DIMS) {
    lf_data_err(err, errlen, "dataset: %lld samples of %d dimensions cannot be held (1..2^31 samples, 1..%d dimensions)",
           (long long)n, shape ? shape->ndim : 0, LF_MAX_DIMS);
    return -1;
  }
  for (int d = 0; d < shape->ndim; d++) {
    if (shape->dim[d] < 1 || shape->dim[d] > 100000000) { lf_data_err(err, errlen, "dataset: bad shape dimension"); return -1; }
    per *= shape->dim[d];
    if (per > 100000000) { lf_data_err(err, errlen, "dataset: more than 100000000 values per sample"); return -1; }
  }
  if ((double)per * (double)n > 4e9) { lf_data_err(err, errlen, "dataset: more than 4e9 values"); return -1; }
  free(f->x);
  free(f->y);
  f->x = calloc((size_t)(per * n), sizeof(float));
  f->y = calloc((size_t)n, sizeof(float));
  if (!f->x || !f->y) {
    free(f->x); free(f->y); f->x = f->y = NULL;
    lf_data_err(err, errlen, "dataset: out of memory for %lld samples", (long long)n);
    return -1;
  }
  f->n = n;
  f->shape = *shape;
  return 0;
}

/* A plugin dataset: its load fills x and y, checked here like a file's. */
static int lf_data_plugin_load(const lf_dataset_spec *spec, const char *src, char *const *class_names, int nclass_names,
                   lf_dataset *out, char *err, size_t errlen)
{
  lf_dataset_fill f;
  memset(&f, 0, sizeof f);
  err[0] = 0;
  if (spec->fn->load(spec->fn_args, src, &f, err, errlen) || !f.x || !f.y || f.n < 1) {
    if (!err[0]) lf_data_err(err, errlen, "dataset: the plugin's load gave no samples");
    free(f.x); free(f.y);
    return -1;
  }
  int64_t per = lf_shape_count(&f.shape), total = per * f.n;
  for (int64_t i = 0; i < total; i++) {
    if (!isfinite(f.x[i])) {
      lf_data_err(err, errlen, "dataset: sample %lld has a value that is not a finite number", (long long)(i / per + 1));
      free(f.x); free(f.y);
      return -1;
    }
  }
  int top = -1;
  for (int64_t i = 0; i < f.n; i++) {
    float y = f.y[i];
    if (!isfinite(y) || (!spec->regression && (y < 0 || y != floorf(y) || y > 1e6))) {
      lf_data_err(err, errlen, "dataset: the label of sample %lld is not %s", (long long)(i + 1),
             spec->regression ? "a finite number" : "a class index (0, 1, ...)");
      free(f.x); free(f.y);
      return -1;
    }
    if (!spec->regression && (int)y > top) top = (int)y;
  }
  (void)class_names;
  out->n = f.n;
  out->shape = f.shape;
  out->x = f.x;
  out->y = f.y;
  out->nclasses = spec->regression ? 0 : (f.nclasses > top ? f.nclasses : top + 1);
  if (nclass_names > out->nclasses) out->nclasses = nclass_names;
  return 0;
}

int lf_dataset_load_tab(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                        char *const *class_names, int nclass_names, const lf_tabular *given,
                        lf_dataset *out, char *err, size_t errlen)
{
  memset(out, 0, sizeof *out);
  if (spec == NULL || src == NULL) { lf_data_err(err, errlen, "dataset: no source given"); return -1; }
  if (spec->fn) return lf_data_plugin_load(spec, src, class_names, nclass_names, out, err, errlen);
  if (!(spec->scale >= 0) || !isfinite(spec->scale)) {
    lf_data_err(err, errlen, "dataset: scale %g must be a positive number (or 0 for none)", spec->scale);
    return -1;
  }
  int rc;
  if (LF_DS_SEQUENTIAL(spec)) {
    rc = lf_seqdata_load(spec, src, db, class_names, nclass_names, out, err, errlen);
    if (rc != 0) lf_dataset_free(out);
    return rc;
  }
  switch (spec->kind) {
    case LF_DS_IDX: rc = lf_data_idx_load(spec, src, out, err, errlen); break;
    case LF_DS_CSV: rc = lf_data_csv_load(spec, src, class_names, nclass_names, given, out, err, errlen); break;
    case LF_DS_SQL: rc = lf_data_sql_load(spec, src, db, class_names, nclass_names, given, out, err, errlen); break;
    default:
      lf_data_err(err, errlen, "dataset: unknown kind %d", (int)spec->kind);
      return -1;
  }
  if (rc != 0) lf_dataset_free(out);
  return rc;
}

/* ------------------------------------------------------------------ probe */

static int lf_data_idx_probe(const char *prefix, lf_shape *shape, char *err, size_t errlen)
{
  char *iname = NULL, *lname = NULL;
  unsigned char hi[16], hl[8];
  int rc = -1;
  gzFile gl = NULL, gi = idx_open(prefix, "images-idx3-ubyte", &iname, err, errlen);
  if (gi == NULL) goto done;
  gl = idx_open(prefix, "labels-idx1-ubyte", &lname, err, errlen);
  if (gl == NULL) goto done;
  int64_t got = idx_read(gi, hi, 16, iname, err, errlen);
  if (got < 0) goto done;
  if (got < 16) { lf_data_err(err, errlen, "%s is truncated: expected a 16-byte idx3 header", iname); goto done; }
  if ((got = idx_read(gl, hl, 8, lname, err, errlen)) < 0) goto done;
  if (got < 8) { lf_data_err(err, errlen, "%s is truncated: expected an 8-byte idx1 header", lname); goto done; }
  if (be32(hi) != 0x00000803) {
    lf_data_err(err, errlen, "%s is not an idx3 image file: magic 0x%08x, expected 0x00000803", iname, be32(hi));
    goto done;
  }
  if (be32(hl) != 0x00000801) {
    lf_data_err(err, errlen, "%s is not an idx1 label file: magic 0x%08x, expected 0x00000801", lname, be32(hl));
    goto done;
  }
  uint32_t n = be32(hi + 4), rows = be32(hi + 8), cols = be32(hi + 12);
  if (n == 0) { lf_data_err(err, errlen, "%s holds no images (the dataset is empty)", iname); goto done; }
  if (rows == 0 || cols == 0 || rows > DS_MAX_IMAGE_SIDE || cols > DS_MAX_IMAGE_SIDE
      || (int64_t)rows * cols > DS_MAX_IMAGE_PIXELS) {
    lf_data_err(err, errlen, "%s: bad image size %ux%u", iname, rows, cols);
    goto done;
  }
  if (be32(hl + 4) != n) {
    lf_data_err(err, errlen, "%s has %u labels but %s has %u images", lname, be32(hl + 4), iname, n);
    goto done;
  }
  shape->ndim = 3;
  shape->dim[0] = 1;
  shape->dim[1] = rows;
  shape->dim[2] = cols;
  rc = 0;
done:
  if (gi) gzclose(gi);
  if (gl) gzclose(gl);
  free(iname);
  free(lname);
  return rc;
}

/* Reads only as much of the file as the header row needs. */
static int lf_data_csv_probe(const lf_dataset_spec *spec, const char *path, lf_shape *shape, char *err, size_t errlen)
{
  /* Only regular files: /dev/zero would be read forever, a FIFO blocks. */
  int fd = lf_open_regular(path, "", err, errlen);
  if (fd < 0) return -1;
  FILE *f = fdopen(fd, "rb");
  if (f == NULL) { lf_data_err(err, errlen, "cannot open %s: %s", path, strerror(errno)); close(fd); return -1; }
  char *buf = NULL;
  size_t len = 0, cap = 0, scanned = 0;
  int in_quote = 0, seen = 0, complete = 0, rc = -1;
  while (!complete) {
    if (len > ((size_t)16 << 20)) {
      lf_data_err(err, errlen, "%s: the header row is longer than 16 MiB (is it a CSV file?)", path);
      goto done;
    }
    if (cap - len < 65536 + 1) {
      size_t c = cap ? cap * 2 : 65536 * 2;
      char *b = realloc(buf, c);
      if (b == NULL) { lf_data_err(err, errlen, "out of memory reading %s", path); goto done; }
      buf = b;
      cap = c;
    }
    size_t k = fread(buf + len, 1, 65536, f);
    if (k == 0) {
      if (ferror(f)) { lf_data_err(err, errlen, "cannot read %s: %s", path, strerror(errno)); goto done; }
      break;
    }
    len += k;
    /* The header ends at the first line break outside quotes after some
    ** content (blank lines before it are skipped, as when loading). */
    for (; scanned < len; scanned++) {
      char ch = buf[scanned];
      if (ch == '"') in_quote = !in_quote;
      if (!in_quote && (ch == '\n' || ch == '\r')) {
        if (seen) { complete = 1; break; }
      } else {
        seen = 1;
      }
    }
  }
  buf = buf ? buf : malloc(1);
  if (buf == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
  buf[len] = 0;
  lf_csv_reader r = { buf, buf + len, path, NULL, 0, 0 };
  if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) r.p += 3;
  int k = lf_csv_next(&r, 0, err, errlen);
  if (k == 0) lf_data_err(err, errlen, "%s is empty (a header row is required)", path);
  if (k == 1) {
    int label_col, *feat = NULL, nfeat = 0;
    if (lf_data_resolve_columns(spec, (const char *const *)r.field, r.nfield, 0, -1, path, &label_col, &feat, &nfeat,
                           err, errlen) == 0) {
      shape->ndim = 1;
      shape->dim[0] = nfeat;
      rc = 0;
    }
    free(feat);
  }
  free(r.field);
done:
  fclose(f);
  free(buf);
  return rc;
}

/* Prepares the statement and resolves its columns; only a blob without a
** shape needs a row (its length gives the shape). */
static int lf_data_sql_probe(const lf_dataset_spec *spec, const char *src, sqlite3 *db, lf_shape *shape,
                     char *err, size_t errlen)
{
  sqlite3_stmt *st = lf_data_sql_prepare(db, src, err, errlen);
  if (st == NULL) return -1;
  int ncol = sqlite3_column_count(st), rc = -1, label_col, blob_col = -1, *feat = NULL, nfeat = 0;
  char **names = calloc((size_t)ncol, sizeof *names);
  if (names == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
  for (int c = 0; c < ncol; c++) {
    const char *nm = sqlite3_column_name(st, c);
    names[c] = strdup(nm ? nm : "?");
    if (names[c] == NULL) { lf_data_err(err, errlen, "out of memory"); goto done; }
  }
  int use_blob = spec->blob != NULL && *spec->blob;
  if (use_blob) {
    if (spec->features != NULL && spec->nfeatures > 0) {
      lf_data_err(err, errlen, SQL_SRC ": give either a blob column or feature columns, not both");
      goto done;
    }
    if (spec->blob_dtype != 1 && spec->blob_dtype != 4) {
      lf_data_err(err, errlen, SQL_SRC ": blob dtype %d is not supported (1 = uint8, 4 = float32)", spec->blob_dtype);
      goto done;
    }
    blob_col = lf_data_find_column((const char *const *)names, ncol, spec->blob, 1);
    if (blob_col < 0) {
      char list[DS_COLUMN_LIST_MAX];
      lf_data_column_list(list, sizeof list, (const char *const *)names, ncol);
      lf_data_err(err, errlen, SQL_SRC " has no blob column '%s' (columns: %s)", spec->blob, list);
      goto done;
    }
  }
  if (lf_data_resolve_columns(spec, (const char *const *)names, ncol, 1, blob_col, SQL_SRC, &label_col, &feat, &nfeat,
                         err, errlen) != 0)
    goto done;
  if (!use_blob) {
    shape->ndim = 1;
    shape->dim[0] = nfeat;
  } else if (spec->blob_shape.ndim > 0) {
    *shape = spec->blob_shape;
    if (lf_data_count(shape) < 0) {
      char sh[64];
      lf_data_err(err, errlen, SQL_SRC ": bad blob shape %s", lf_data_shape_str(shape, sh, sizeof sh));
      goto done;
    }
  } else {
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE) { lf_data_err(err, errlen, SQL_SRC " has no data rows (the dataset is empty)"); goto done; }
    if (s != SQLITE_ROW) { lf_data_err(err, errlen, SQL_SRC " failed at row 1: %s", sqlite3_errmsg(db)); goto done; }
    int64_t bytes = sqlite3_column_bytes(st, blob_col);
    if (sqlite3_column_type(st, blob_col) != SQLITE_BLOB || bytes == 0 || bytes % spec->blob_dtype != 0) {
      lf_data_err(err, errlen, SQL_SRC " row 1 column '%s': not a blob of whole %s values", names[blob_col],
             spec->blob_dtype == 1 ? "uint8" : "float32");
      goto done;
    }
    shape->ndim = 1;
    shape->dim[0] = bytes / spec->blob_dtype;
  }
  rc = 0;
done:
  free(feat);
  if (names != NULL) for (int c = 0; c < ncol; c++) free(names[c]);
  free(names);
  sqlite3_finalize(st);
  return rc;
}

int lf_dataset_probe(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                     lf_shape *shape, char *err, size_t errlen)
{
  memset(shape, 0, sizeof *shape);
  if (spec == NULL || src == NULL) { lf_data_err(err, errlen, "dataset: no source given"); return -1; }
  if (spec->fn) {
    /* A plugin has no cheaper look than loading. */
    lf_dataset d;
    memset(&d, 0, sizeof d);
    if (lf_data_plugin_load(spec, src, NULL, 0, &d, err, errlen)) return -1;
    *shape = d.shape;
    lf_dataset_free(&d);
    return 0;
  }
  if (LF_DS_SEQUENTIAL(spec)) return lf_seqdata_probe(spec, src, db, shape, err, errlen);
  switch (spec->kind) {
    case LF_DS_IDX: return lf_data_idx_probe(src, shape, err, errlen);
    case LF_DS_CSV: return lf_data_csv_probe(spec, src, shape, err, errlen);
    case LF_DS_SQL: return lf_data_sql_probe(spec, src, db, shape, err, errlen);
    default:
      lf_data_err(err, errlen, "dataset: unknown kind %d", (int)spec->kind);
      return -1;
  }
}

void lf_dataset_to_bf16(lf_dataset *d)
{
  enum { BLOCK = 4096 };
  uint16_t block[BLOCK];
  if (d == NULL || d->x == NULL) return;
  int64_t total = d->n * lf_shape_count(&d->shape);
  uint16_t *x16 = (uint16_t *)d->x;
  /* Front to back through a small block: block k is written to bytes
  ** [2*k*B, 2*(k+1)*B), below the floats of block k+1 at 4*(k+1)*B, so no
  ** value is overwritten before it is read. */
  for (int64_t i = 0; i < total; i += BLOCK) {
    int64_t m = total - i < BLOCK ? total - i : BLOCK;
    lf_bf16_from_f32_n(block, d->x + i, m);
    memcpy(x16 + i, block, (size_t)m * sizeof(uint16_t));
  }
  uint16_t *shrunk = realloc(x16, (size_t)(total > 0 ? total : 1) * sizeof(uint16_t));
  d->x16 = shrunk ? shrunk : x16;
  d->x = NULL;
}

void lf_dataset_free(lf_dataset *d)
{
  if (d == NULL) return;
  free(d->x);
  free(d->x16);
  free(d->y);
  lf_data_free_names(d->class_names, d->nclasses);
  lf_tabular_free(d->tab);
  memset(d, 0, sizeof *d);
}

void lf_dataset_stats(const lf_dataset *d, float **mean, float **std)
{
  *mean = NULL;
  *std = NULL;
  int64_t f = lf_data_count(&d->shape);
  if (f <= 0) return;
  double *sum = calloc((size_t)f, sizeof *sum), *sq = calloc((size_t)f, sizeof *sq);
  float *m = malloc((size_t)f * sizeof *m), *s = malloc((size_t)f * sizeof *s);
  if (sum == NULL || sq == NULL || m == NULL || s == NULL) {
    free(sum); free(sq); free(m); free(s);
    return;
  }
  /* Two passes (mean, then squared deviations) for accuracy. */
  for (int64_t i = 0; i < d->n; i++) {
    const float *row = d->x + i * f;
    for (int64_t j = 0; j < f; j++) sum[j] += row[j];
  }
  for (int64_t j = 0; j < f; j++) sum[j] = d->n > 0 ? sum[j] / (double)d->n : 0.0;
  for (int64_t i = 0; i < d->n; i++) {
    const float *row = d->x + i * f;
    for (int64_t j = 0; j < f; j++) { double e = row[j] - sum[j]; sq[j] += e * e; }
  }
  for (int64_t j = 0; j < f; j++) {
    double sd = d->n > 0 ? sqrt(sq[j] / (double)d->n) : 0.0;
    m[j] = (float)sum[j];
    s[j] = (float)sd;
    if (!(s[j] > 0) || !isfinite(s[j])) s[j] = 1.0f;   /* constant feature: leave centred */
  }
  free(sum);
  free(sq);
  *mean = m;
  *std = s;
}

void lf_dataset_standardize(lf_dataset *d, const float *mean, const float *std)
{
  int64_t f = lf_data_count(&d->shape);
  if (f <= 0 || mean == NULL || std == NULL) return;
  for (int64_t i = 0; i < d->n; i++) {
    float *row = d->x + i * f;
    for (int64_t j = 0; j < f; j++) {
      float s = std[j] > 0 ? std[j] : 1.0f;
      row[j] = (row[j] - mean[j]) / s;
    }
  }
}
