/*
** lf_dataset.c — loads a whole dataset into memory as float32 features and
** float labels, or probes its per-sample shape without loading it, by
** handing the spec to its source's file:
**
**   lf_data_idx.c     idx image files (MNIST style, plain or gzip)
**   lf_data_csv.c     a CSV file with a header row
**   lf_data_sql.c     a read-only SELECT
**   lf_data_seq.c     sequences and sliding windows (from csv or sql)
**   lf_data_plugin.c  a plugin's load function
**
** What the csv and sql sources share is in lf_data_columns.c (which
** columns are the label and the features), lf_data_rows.c (rows as they
** are read), lf_data_labels.c (label texts to classes) and
** lf_data_inputs.c (named inputs: categorical and missing values);
** lf_data_source.h declares it. This file also frees a dataset, turns it
** into bfloat16, and standardises it.
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
#include "lf_data_source.h"
#include "lf_tabular.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lf_scan_number(const lf_scan_cell *c, double *v){
  return c->type == LF_CELL_TEXT && lf_data_parse_number((const char *)c->p, v);
}

int lf_dataset_scan(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                    lf_scan_header_fn on_header, lf_scan_row_fn on_row, void *ctx,
                    char *err, size_t errlen){
  if( spec->kind == LF_DS_CSV ) return lf_data_csv_scan(src, on_header, on_row, ctx, err, errlen);
  if( spec->kind != LF_DS_SQL ){
    lf_data_err(err, errlen, "sequence and window datasets read a csv or sql source");
    return -1;
  }
  return lf_data_sql_scan(src, db, on_header, on_row, ctx, err, errlen);
}

int lf_dataset_load(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                    char *const *class_names, int nclass_names,
                    lf_dataset *out, char *err, size_t errlen){
  return lf_dataset_load_tab(spec, src, db, class_names, nclass_names, NULL, out, err, errlen);
}

int lf_dataset_load_tab(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                        char *const *class_names, int nclass_names, const lf_tabular *given,
                        lf_dataset *out, char *err, size_t errlen){
  memset(out, 0, sizeof *out);
  if( spec == NULL || src == NULL ){ lf_data_err(err, errlen, "dataset: no source given"); return -1; }
  if( spec->fn ) return lf_data_plugin_load(spec, src, class_names, nclass_names, out, err, errlen);
  if( !(spec->scale >= 0) || !isfinite(spec->scale) ){
    lf_data_err(err, errlen, "dataset: scale %g must be a positive number (or 0 for none)", spec->scale);
    return -1;
  }
  int rc;
  if( LF_DS_SEQUENTIAL(spec) ){
    rc = lf_seqdata_load(spec, src, db, class_names, nclass_names, out, err, errlen);
    if( rc != 0 ) lf_dataset_free(out);
    return rc;
  }
  switch( spec->kind ){
    case LF_DS_IDX: rc = lf_data_idx_load(spec, src, out, err, errlen); break;
    case LF_DS_CSV: rc = lf_data_csv_load(spec, src, class_names, nclass_names, given, out, err, errlen); break;
    case LF_DS_SQL: rc = lf_data_sql_load(spec, src, db, class_names, nclass_names, given, out, err, errlen); break;
    default:
      lf_data_err(err, errlen, "dataset: unknown kind %d", (int)spec->kind);
      return -1;
  }
  if( rc != 0 ) lf_dataset_free(out);
  return rc;
}

int lf_dataset_probe(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                     lf_shape *shape, char *err, size_t errlen){
  memset(shape, 0, sizeof *shape);
  if( spec == NULL || src == NULL ){ lf_data_err(err, errlen, "dataset: no source given"); return -1; }
  if( spec->fn ){
    /* A plugin has no cheaper look than loading. */
    lf_dataset d;
    memset(&d, 0, sizeof d);
    if( lf_data_plugin_load(spec, src, NULL, 0, &d, err, errlen) ) return -1;
    *shape = d.shape;
    lf_dataset_free(&d);
    return 0;
  }
  if( LF_DS_SEQUENTIAL(spec) ) return lf_seqdata_probe(spec, src, db, shape, err, errlen);
  switch( spec->kind ){
    case LF_DS_IDX: return lf_data_idx_probe(src, shape, err, errlen);
    case LF_DS_CSV: return lf_data_csv_probe(spec, src, shape, err, errlen);
    case LF_DS_SQL: return lf_data_sql_probe(spec, src, db, shape, err, errlen);
    default:
      lf_data_err(err, errlen, "dataset: unknown kind %d", (int)spec->kind);
      return -1;
  }
}

void lf_dataset_to_bf16(lf_dataset *d){
  enum { BLOCK = 4096 };
  uint16_t block[BLOCK];
  if( d == NULL || d->x == NULL ) return;
  int64_t total = d->n * lf_shape_count(&d->shape);
  uint16_t *x16 = (uint16_t *)d->x;
  /* Front to back through a small block: block k is written to bytes
  ** [2*k*B, 2*(k+1)*B), below the floats of block k+1 at 4*(k+1)*B, so no
  ** value is overwritten before it is read. */
  for(int64_t i = 0; i < total; i += BLOCK){
    int64_t m = total - i < BLOCK ? total - i : BLOCK;
    lf_bf16_from_f32_n(block, d->x + i, m);
    memcpy(x16 + i, block, (size_t)m * sizeof(uint16_t));
  }
  uint16_t *shrunk = realloc(x16, (size_t)(total > 0 ? total : 1) * sizeof(uint16_t));
  d->x16 = shrunk ? shrunk : x16;
  d->x = NULL;
}

void lf_dataset_free(lf_dataset *d){
  if( d == NULL ) return;
  free(d->x);
  free(d->x16);
  free(d->y);
  lf_data_free_names(d->class_names, d->nclasses);
  lf_tabular_free(d->tab);
  memset(d, 0, sizeof *d);
}

void lf_dataset_stats(const lf_dataset *d, float **mean, float **std){
  *mean = NULL;
  *std = NULL;
  int64_t f = lf_data_count(&d->shape);
  if( f <= 0 ) return;
  double *sum = calloc((size_t)f, sizeof *sum), *sq = calloc((size_t)f, sizeof *sq);
  float *m = malloc((size_t)f * sizeof *m), *s = malloc((size_t)f * sizeof *s);
  if( sum == NULL || sq == NULL || m == NULL || s == NULL ){
    free(sum); free(sq); free(m); free(s);
    return;
  }
  /* Two passes (mean, then squared deviations) for accuracy. */
  for(int64_t i = 0; i < d->n; i++){
    const float *row = d->x + i * f;
    for(int64_t j = 0; j < f; j++) sum[j] += row[j];
  }
  for(int64_t j = 0; j < f; j++) sum[j] = d->n > 0 ? sum[j] / (double)d->n : 0.0;
  for(int64_t i = 0; i < d->n; i++){
    const float *row = d->x + i * f;
    for(int64_t j = 0; j < f; j++){ double e = row[j] - sum[j]; sq[j] += e * e; }
  }
  for(int64_t j = 0; j < f; j++){
    double sd = d->n > 0 ? sqrt(sq[j] / (double)d->n) : 0.0;
    m[j] = (float)sum[j];
    s[j] = (float)sd;
    if( !(s[j] > 0) || !isfinite(s[j]) ) s[j] = 1.0f;   /* constant feature: leave centred */
  }
  free(sum);
  free(sq);
  *mean = m;
  *std = s;
}

void lf_dataset_standardize(lf_dataset *d, const float *mean, const float *std){
  int64_t f = lf_data_count(&d->shape);
  if( f <= 0 || mean == NULL || std == NULL ) return;
  for(int64_t i = 0; i < d->n; i++){
    float *row = d->x + i * f;
    for(int64_t j = 0; j < f; j++){
      float s = std[j] > 0 ? std[j] : 1.0f;
      row[j] = (row[j] - mean[j]) / s;
    }
  }
}
