/*
** lf_data_sql.c — datasets from a read-only SELECT: load and probe.
*/
#include "lf_data_source.h"
#include "lf_readonly_query.h"
#include "lf_tabular.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_SRC "dataset query"

/* Prepares src as exactly one read-only statement that returns rows: a
** config may come from a bundle or a database someone sent, so its query
** may only read (lf_readonly_query.h). */
static sqlite3_stmt *sql_prepare(sqlite3 *db, const char *src, char *err, size_t errlen){
  sqlite3_stmt *st = NULL;
  char *why = NULL;
  if( lf_prepare_readonly(db, src, &st, &why) != SQLITE_OK ){
    lf_data_err(err, errlen, SQL_SRC " %s", why ? why : "cannot be prepared (out of memory)");
    sqlite3_free(why);
    return NULL;
  }
  return st;
}

/* Steps to the next row (row: its number, for the message): 1 a row,
** 0 no more rows, -1 with err set. */
static int sql_step(sqlite3_stmt *st, sqlite3 *db, int64_t row, char *err, size_t errlen){
  int s = sqlite3_step(st);
  if( s == SQLITE_ROW ) return 1;
  if( s == SQLITE_DONE ) return 0;
  lf_data_err(err, errlen, SQL_SRC " failed at row %lld: %s", (long long)row, sqlite3_errmsg(db));
  return -1;
}

/* A numeric feature value of the current row; 0 with err set if it is not
** a number. */
static int sql_value(sqlite3_stmt *st, int col, const char *name, int64_t row, double *v,
                     char *err, size_t errlen){
  switch( sqlite3_column_type(st, col) ){
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
      *v = sqlite3_column_double(st, col);
      if( isfinite(*v) ) return 1;
      lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': value is not finite", (long long)row, name);
      return 0;
    case SQLITE_TEXT: {
      const char *s = (const char *)sqlite3_column_text(st, col);
      if( s && lf_data_parse_number(s, v) ) return 1;
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

/* The statement's column names, copied: sqlite3_column_name's result dies
** if step re-prepares. NULL with err set if out of memory. */
static char **sql_column_names(sqlite3_stmt *st, int ncol, char *err, size_t errlen){
  char **names = calloc((size_t)ncol + 1, sizeof *names);
  if( names == NULL ){ lf_data_err(err, errlen, "out of memory"); return NULL; }
  for(int c = 0; c < ncol; c++){
    const char *nm = sqlite3_column_name(st, c);
    names[c] = strdup(nm ? nm : "?");
    if( names[c] == NULL ){
      lf_data_err(err, errlen, "out of memory");
      lf_data_free_names(names, ncol);
      return NULL;
    }
  }
  return names;
}

/* For a spec with a blob column: no feature columns besides it, a dtype
** it can read, and the column itself. Its index, or -1 with err set. */
static int sql_blob_column(const lf_dataset_spec *spec, const char *const *names, int ncol, char *err, size_t errlen){
  if( spec->features != NULL && spec->nfeatures > 0 ){
    lf_data_err(err, errlen, SQL_SRC ": give either a blob column or feature columns, not both");
    return -1;
  }
  if( spec->blob_dtype != 1 && spec->blob_dtype != 4 ){
    lf_data_err(err, errlen, SQL_SRC ": blob dtype %d is not supported (1 = uint8, 4 = float32)", spec->blob_dtype);
    return -1;
  }
  int c = lf_data_find_column(names, ncol, spec->blob, 1);
  if( c < 0 ){
    char list[DS_COLUMN_LIST_MAX];
    lf_data_column_list(list, sizeof list, names, ncol);
    lf_data_err(err, errlen, SQL_SRC " has no blob column '%s' (columns: %s)", spec->blob, list);
  }
  return c;
}

int lf_data_sql_load(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                     char *const *given, int ngiven, const lf_tabular *tgiven, lf_dataset *out,
                     char *err, size_t errlen){
  lf_data_inputs tc;
  memset(&tc, 0, sizeof tc);
  lf_data_rows b;
  memset(&b, 0, sizeof b);
  char **names = NULL;
  int *feat = NULL, nfeat = 0, label_col = -1, blob_col = -1, rc = -1;
  lf_shape shape;
  memset(&shape, 0, sizeof shape);
  int64_t sample_bytes = 0;
  float lut[256];

  sqlite3_stmt *st = sql_prepare(db, src ? src : "", err, errlen);
  if( st == NULL ) return -1;
  int ncol = sqlite3_column_count(st);
  names = sql_column_names(st, ncol, err, errlen);
  if( names == NULL ) goto done;

  int use_blob = spec->blob != NULL && *spec->blob;
  if( use_blob ){
    blob_col = sql_blob_column(spec, (const char *const *)names, ncol, err, errlen);
    if( blob_col < 0 ) goto done;
    if( spec->blob_shape.ndim > 0 ){
      shape = spec->blob_shape;
      if( lf_data_count(&shape) < 0 ){
        char s[64];
        lf_data_err(err, errlen, SQL_SRC ": bad blob shape %s", lf_shape_str(&shape, s, sizeof s));
        goto done;
      }
      sample_bytes = lf_data_count(&shape) * spec->blob_dtype;
    }
    for(int v = 0; v < 256; v++) lut[v] = spec->scale != 0 ? (float)(v / spec->scale) : (float)v;
  }
  if( lf_data_resolve_columns(spec, (const char *const *)names, ncol, 1, blob_col, SQL_SRC, &label_col, &feat,
                              &nfeat, err, errlen) != 0 )
    goto done;
  b.nvals = use_blob ? lf_data_count(&shape) : nfeat;   /* blob without shape: set on row 1 */
  if( !use_blob && lf_data_inputs_init(&tc, spec, nfeat, err, errlen) != 0 ) goto done;
  int missing = 0;

  for(int64_t row = 1;; row++){
    int s = sql_step(st, db, row, err, errlen);
    if( s < 0 ) goto done;
    if( s == 0 ) break;
    if( use_blob ){
      int t = sqlite3_column_type(st, blob_col);
      const void *blob = sqlite3_column_blob(st, blob_col);
      int64_t bytes = sqlite3_column_bytes(st, blob_col);
      if( t != SQLITE_BLOB ){
        lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': expected a BLOB, got %s", (long long)row,
                    names[blob_col], t == SQLITE_NULL ? "NULL" : t == SQLITE_TEXT ? "TEXT" : "a number");
        goto done;
      }
      if( sample_bytes == 0 ){
        /* No shape given: the first row's blob fixes [len]. */
        if( bytes == 0 || bytes % spec->blob_dtype != 0 ){
          lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': blob of %lld bytes is not a whole number of %s values",
                      (long long)row, names[blob_col], (long long)bytes, spec->blob_dtype == 1 ? "uint8" : "float32");
          goto done;
        }
        shape.ndim = 1;
        shape.dim[0] = bytes / spec->blob_dtype;
        sample_bytes = bytes;
        b.nvals = shape.dim[0];
      }
      if( bytes != sample_bytes ){
        char sh[64];
        lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': blob has %lld bytes, expected %lld (%s %s)",
                    (long long)row, names[blob_col], (long long)bytes, (long long)sample_bytes,
                    lf_shape_str(&shape, sh, sizeof sh), spec->blob_dtype == 1 ? "uint8" : "float32");
        goto done;
      }
      float *dst = lf_data_rows_add(&b, err, errlen);
      if( dst == NULL ) goto done;
      if( spec->blob_dtype == 1 ){
        const unsigned char *u = blob;
        for(int64_t j = 0; j < b.nvals; j++) dst[j] = lut[u[j]];
      }else{
        memcpy(dst, blob, (size_t)bytes);   /* float32, host byte order */
        for(int64_t j = 0; j < b.nvals; j++){
          if( !isfinite(dst[j]) || !lf_data_store(dst + j, dst[j], spec->scale) ){
            lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': element %lld of the blob is not a finite number",
                        (long long)row, names[blob_col], (long long)j);
            goto done;
          }
        }
      }
    }else{
      float *dst = lf_data_rows_add(&b, err, errlen);
      if( dst == NULL ) goto done;
      if( lf_data_inputs_reserve(&tc, b.n, err, errlen) != 0 ) goto done;
      missing = 0;
      for(int j = 0; j < nfeat; j++){
        double v;
        if( tc.on ){
          int ty = sqlite3_column_type(st, feat[j]);
          if( ty == SQLITE_NULL || ty == SQLITE_TEXT || tc.cat_index[j] >= 0 ){
            /* column_text converts a number in place: only for these */
            const char *s = ty == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(st, feat[j]);
            size_t len = s ? (size_t)sqlite3_column_bytes(st, feat[j]) : 0;
            char why[256];
            int h = lf_data_inputs_cell(&tc, spec, b.n, j, s, len, dst + j, &missing, why, sizeof why);
            if( h < 0 ){
              lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': %s", (long long)row, names[feat[j]], why);
              goto done;
            }
            if( h ) continue;
          }
        }
        if( !sql_value(st, feat[j], names[feat[j]], row, &v, err, errlen) ) goto done;
        if( !lf_data_store(dst + j, v, spec->scale) ){
          lf_data_err(err, errlen, SQL_SRC " row %lld column '%s': %g is out of float32 range", (long long)row, names[feat[j]], v);
          goto done;
        }
      }
    }
    if( missing && !spec->na_fill ){ tc.dropped++; continue; }
    int t = sqlite3_column_type(st, label_col);
    if( t == SQLITE_NULL || t == SQLITE_BLOB ){
      lf_data_err(err, errlen, SQL_SRC " row %lld: the label ('%s') is %s", (long long)row, names[label_col],
                  t == SQLITE_NULL ? "NULL" : "a BLOB");
      goto done;
    }
    const char *lab = (const char *)sqlite3_column_text(st, label_col);
    int lablen = sqlite3_column_bytes(st, label_col);
    if( lab == NULL || lablen == 0 ){
      lf_data_err(err, errlen, SQL_SRC " row %lld: the label ('%s') is empty", (long long)row, names[label_col]);
      goto done;
    }
    if( lf_data_rows_label(&b, lab, (size_t)lablen, err, errlen) != 0 ) goto done;
  }
  if( b.n == 0 && tc.dropped > 0 ){
    lf_data_err(err, errlen, SQL_SRC ": all %lld rows have a missing value and were dropped (use \"na\": \"fill\")",
                (long long)tc.dropped);
    goto done;
  }
  if( lf_data_rows_finish(&b, spec, given, ngiven, SQL_SRC, out, err, errlen) != 0 ) goto done;
  if( use_blob ){
    out->shape = shape;
  }else{
    out->shape.ndim = 1;
    out->shape.dim[0] = nfeat;
  }
  if( tc.on && lf_data_inputs_finish(&tc, spec, tgiven, SQL_SRC, out, err, errlen) != 0 ) goto done;
  rc = 0;

done:
  lf_data_inputs_free(&tc);
  lf_data_rows_free(&b);
  free(feat);
  lf_data_free_names(names, ncol);
  sqlite3_finalize(st);
  return rc;
}

/* Prepares the statement and resolves its columns; only a blob without a
** shape needs a row (its length gives the shape). */
int lf_data_sql_probe(const lf_dataset_spec *spec, const char *src, sqlite3 *db, lf_shape *shape,
                      char *err, size_t errlen){
  sqlite3_stmt *st = sql_prepare(db, src, err, errlen);
  if( st == NULL ) return -1;
  int ncol = sqlite3_column_count(st), rc = -1, label_col, blob_col = -1, *feat = NULL, nfeat = 0;
  char **names = sql_column_names(st, ncol, err, errlen);
  if( names == NULL ) goto done;
  int use_blob = spec->blob != NULL && *spec->blob;
  if( use_blob ){
    blob_col = sql_blob_column(spec, (const char *const *)names, ncol, err, errlen);
    if( blob_col < 0 ) goto done;
  }
  if( lf_data_resolve_columns(spec, (const char *const *)names, ncol, 1, blob_col, SQL_SRC, &label_col, &feat, &nfeat,
                              err, errlen) != 0 )
    goto done;
  if( !use_blob ){
    shape->ndim = 1;
    shape->dim[0] = nfeat;
  }else if( spec->blob_shape.ndim > 0 ){
    *shape = spec->blob_shape;
    if( lf_data_count(shape) < 0 ){
      char sh[64];
      lf_data_err(err, errlen, SQL_SRC ": bad blob shape %s", lf_shape_str(shape, sh, sizeof sh));
      goto done;
    }
  }else{
    int s = sql_step(st, db, 1, err, errlen);
    if( s < 0 ) goto done;
    if( s == 0 ){ lf_data_err(err, errlen, SQL_SRC " has no data rows (the dataset is empty)"); goto done; }
    int64_t bytes = sqlite3_column_bytes(st, blob_col);
    if( sqlite3_column_type(st, blob_col) != SQLITE_BLOB || bytes == 0 || bytes % spec->blob_dtype != 0 ){
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
  lf_data_free_names(names, ncol);
  sqlite3_finalize(st);
  return rc;
}

/* lf_dataset_scan for a SELECT: the statement's column names, then every
** row's cells as TEXT, BLOB or NULL. */
int lf_data_sql_scan(const char *src, sqlite3 *db, lf_scan_header_fn on_header, lf_scan_row_fn on_row,
                     void *ctx, char *err, size_t errlen){
  lf_scan_header h;
  lf_scan_cell *cells = NULL;
  int rc = -1;
  memset(&h, 0, sizeof h);
  sqlite3_stmt *st = sql_prepare(db, src, err, errlen);
  char **names = NULL;
  if( st == NULL ) return -1;
  h.ncol = sqlite3_column_count(st);
  names = sql_column_names(st, h.ncol, err, errlen);
  if( names == NULL ) goto done;
  cells = calloc((size_t)h.ncol + 1, sizeof *cells);
  if( cells == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
  h.names = (const char *const *)names;
  h.src = SQL_SRC;
  h.nocase = 1;
  if( on_header(ctx, &h, err, errlen) != 0 ) goto done;
  if( on_row == NULL ){ rc = 0; goto done; }
  for(int64_t row = 1;; row++){
    int s = sql_step(st, db, row, err, errlen);
    if( s < 0 ) goto done;
    if( s == 0 ) break;
    for(int j = 0; j < h.ncol; j++){
      int t = sqlite3_column_type(st, j);
      if( t == SQLITE_NULL ){ cells[j].type = LF_CELL_NULL; cells[j].p = ""; cells[j].len = 0; continue; }
      if( t == SQLITE_BLOB ){
        cells[j].type = LF_CELL_BLOB;
        cells[j].p = sqlite3_column_blob(st, j);
        cells[j].len = sqlite3_column_bytes(st, j);
        if( cells[j].p == NULL ) cells[j].p = "";
        continue;
      }
      cells[j].type = LF_CELL_TEXT;
      cells[j].p = sqlite3_column_text(st, j);
      cells[j].len = sqlite3_column_bytes(st, j);
      if( cells[j].p == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
    }
    if( on_row(ctx, row, cells, err, errlen) != 0 ) goto done;
  }
  rc = 0;
done:
  lf_data_free_names(names, h.ncol);
  free(cells);
  sqlite3_finalize(st);
  return rc;
}
