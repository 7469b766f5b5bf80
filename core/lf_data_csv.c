/*
** lf_data_csv.c — csv datasets (RFC 4180, a header row): load and probe.
*/
#include "lf_data_source.h"
#include "lf_file.h"
#include "lf_tabular.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An RFC 4180 reader over a whole file held in memory (with a NUL after
** it). Fields are unquoted in place and NUL-terminated, so they point into
** the buffer and live as long as it. */
typedef struct csv_reader {
  char *p, *end;
  const char *name;
  char **field;
  int nfield, cap;
} csv_reader;

/* Next record into r->field[0..nfield): 1, 0 at end of file, -1 on error.
** Empty lines are skipped. row is the row number for messages. */
static int csv_next(csv_reader *r, int64_t row, char *err, size_t errlen){
  while( r->p < r->end && (*r->p == '\n' || *r->p == '\r') ) r->p++;
  if( r->p >= r->end ) return 0;
  r->nfield = 0;
  for(;;){
    char *start = r->p, *w;
    if( *r->p == '"' ){
      char *q = r->p + 1;
      w = start;
      for(;;){
        if( q >= r->end ){
          lf_data_err(err, errlen, "%s row %lld: a quoted field is never closed", r->name, (long long)row);
          return -1;
        }
        if( *q == '"' ){
          if( q + 1 < r->end && q[1] == '"' ){ *w++ = '"'; q += 2; continue; }
          q++;
          break;
        }
        *w++ = *q++;
      }
      r->p = q;
      if( r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r' ){
        lf_data_err(err, errlen, "%s row %lld column %d: text after the closing quote of a field",
                    r->name, (long long)row, r->nfield + 1);
        return -1;
      }
    }else{
      while( r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r' ) r->p++;
      w = r->p;
    }
    char sep = r->p < r->end ? *r->p : 0;
    *w = 0;                           /* safe: w <= p, and end has a spare byte */
    if( r->nfield == r->cap ){
      int cap = r->cap ? r->cap * 2 : 32;
      char **f = realloc(r->field, (size_t)cap * sizeof *f);
      if( f == NULL ){ lf_data_err(err, errlen, "out of memory reading %s", r->name); return -1; }
      r->field = f;
      r->cap = cap;
    }
    r->field[r->nfield++] = start;
    if( sep == ',' ){ r->p++; continue; }
    if( sep == '\r' ){ r->p++; if( r->p < r->end && *r->p == '\n' ) r->p++; }
    else if( sep == '\n' ) r->p++;
    return 1;
  }
}

/* Starts r over buf[0..len) (which has a NUL after it), skipping a UTF-8
** byte order mark, and reads the header row into r->field: 0, or -1 with
** err set (a file without a header row is empty). */
static int csv_start(csv_reader *r, char *buf, size_t len, const char *name, char *err, size_t errlen){
  memset(r, 0, sizeof *r);
  r->p = buf;
  r->end = buf + len;
  r->name = name;
  if( len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ) r->p += 3;   /* UTF-8 BOM */
  int k = csv_next(r, 0, err, errlen);
  if( k == 0 ) lf_data_err(err, errlen, "%s is empty (a header row is required)", name);
  return k == 1 ? 0 : -1;
}

/* Reads a whole file, with one spare NUL byte after it. */
static char *read_whole_file(const char *path, size_t *len, char *err, size_t errlen){
  int fd = lf_open_regular(path, "", err, errlen);
  if( fd < 0 ) return NULL;
  FILE *f = fdopen(fd, "rb");
  if( f == NULL ){ lf_data_err(err, errlen, "cannot open %s: %s", path, strerror(errno)); close(fd); return NULL; }
  struct stat st;
  if( fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ){
    lf_data_err(err, errlen, "%s is not a regular file", path);
    fclose(f);
    return NULL;
  }
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 1);
  if( buf == NULL ){ lf_data_err(err, errlen, "out of memory reading %s (%zu bytes)", path, size); fclose(f); return NULL; }
  size_t got = fread(buf, 1, size, f);
  if( got != size && ferror(f) ){
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

int lf_data_csv_load(const lf_dataset_spec *spec, const char *path, char *const *given, int ngiven,
                     const lf_tabular *tgiven, lf_dataset *out, char *err, size_t errlen){
  lf_data_inputs tc;
  memset(&tc, 0, sizeof tc);
  size_t len = 0;
  char *buf = read_whole_file(path, &len, err, errlen);
  if( buf == NULL ) return -1;
  csv_reader r;
  lf_data_rows b;
  memset(&b, 0, sizeof b);
  const char **header = NULL;
  int *feat = NULL, nfeat = 0, label_col = -1, nhdr = 0, rc = -1;

  if( csv_start(&r, buf, len, path, err, errlen) != 0 ) goto done;
  nhdr = r.nfield;
  header = malloc((size_t)nhdr * sizeof *header);
  if( header == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
  memcpy(header, r.field, (size_t)nhdr * sizeof *header);
  if( lf_data_resolve_columns(spec, header, nhdr, 0, -1, path, &label_col, &feat, &nfeat, err, errlen) != 0 )
    goto done;

  b.nvals = nfeat;
  if( lf_data_inputs_init(&tc, spec, nfeat, err, errlen) != 0 ) goto done;
  for(int64_t row = 1;; row++){
    int k = csv_next(&r, row, err, errlen);
    if( k < 0 ) goto done;
    if( k == 0 ) break;
    if( r.nfield != nhdr ){
      lf_data_err(err, errlen, "%s row %lld has %d fields, the header has %d", path, (long long)row, r.nfield, nhdr);
      goto done;
    }
    float *dst = lf_data_rows_add(&b, err, errlen);
    if( dst == NULL ) goto done;
    if( lf_data_inputs_reserve(&tc, b.n, err, errlen) != 0 ) goto done;
    int missing = 0;
    for(int j = 0; j < nfeat; j++){
      const char *s = r.field[feat[j]];
      double v;
      if( tc.on ){
        char why[256];
        int h = lf_data_inputs_cell(&tc, spec, b.n, j, s, strlen(s), dst + j, &missing, why, sizeof why);
        if( h < 0 ){ lf_data_err(err, errlen, "%s row %lld column '%s': %s", path, (long long)row, header[feat[j]], why); goto done; }
        if( h ) continue;
      }
      if( !lf_data_parse_number(s, &v) ){
        lf_data_err(err, errlen, "%s row %lld column '%s': '%s' is not a number", path, (long long)row, header[feat[j]], s);
        goto done;
      }
      if( !lf_data_store(dst + j, v, spec->scale) ){
        lf_data_err(err, errlen, "%s row %lld column '%s': '%s' is out of float32 range", path, (long long)row, header[feat[j]], s);
        goto done;
      }
    }
    if( missing && !spec->na_fill ){ tc.dropped++; continue; }
    const char *lab = r.field[label_col];
    if( *lab == 0 ){
      lf_data_err(err, errlen, "%s row %lld: the label ('%s') is empty", path, (long long)row, header[label_col]);
      goto done;
    }
    if( lf_data_rows_label(&b, lab, strlen(lab), err, errlen) != 0 ) goto done;
  }
  if( b.n == 0 && tc.dropped > 0 ){
    lf_data_err(err, errlen, "%s: all %lld rows have a missing value and were dropped (use \"na\": \"fill\")", path,
                (long long)tc.dropped);
    goto done;
  }
  if( lf_data_rows_finish(&b, spec, given, ngiven, path, out, err, errlen) != 0 ) goto done;
  out->shape.ndim = 1;
  out->shape.dim[0] = nfeat;
  if( tc.on && lf_data_inputs_finish(&tc, spec, tgiven, path, out, err, errlen) != 0 ) goto done;
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

/* Reads only as much of the file as the header row needs. */
int lf_data_csv_probe(const lf_dataset_spec *spec, const char *path, lf_shape *shape, char *err, size_t errlen){
  /* Only regular files: /dev/zero would be read forever, a FIFO blocks. */
  int fd = lf_open_regular(path, "", err, errlen);
  if( fd < 0 ) return -1;
  FILE *f = fdopen(fd, "rb");
  if( f == NULL ){ lf_data_err(err, errlen, "cannot open %s: %s", path, strerror(errno)); close(fd); return -1; }
  char *buf = NULL;
  size_t len = 0, cap = 0, scanned = 0;
  int in_quote = 0, seen = 0, complete = 0, rc = -1;
  while( !complete ){
    if( len > ((size_t)16 << 20) ){
      lf_data_err(err, errlen, "%s: the header row is longer than 16 MiB (is it a CSV file?)", path);
      goto done;
    }
    if( cap - len < 65536 + 1 ){
      size_t c = cap ? cap * 2 : 65536 * 2;
      char *b = realloc(buf, c);
      if( b == NULL ){ lf_data_err(err, errlen, "out of memory reading %s", path); goto done; }
      buf = b;
      cap = c;
    }
    size_t k = fread(buf + len, 1, 65536, f);
    if( k == 0 ){
      if( ferror(f) ){ lf_data_err(err, errlen, "cannot read %s: %s", path, strerror(errno)); goto done; }
      break;
    }
    len += k;
    /* The header ends at the first line break outside quotes after some
    ** content (blank lines before it are skipped, as when loading). */
    for(; scanned < len; scanned++){
      char ch = buf[scanned];
      if( ch == '"' ) in_quote = !in_quote;
      if( !in_quote && (ch == '\n' || ch == '\r') ){
        if( seen ){ complete = 1; break; }
      }else{
        seen = 1;
      }
    }
  }
  buf = buf ? buf : malloc(1);
  if( buf == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
  buf[len] = 0;
  csv_reader r;
  if( csv_start(&r, buf, len, path, err, errlen) == 0 ){
    int label_col, *feat = NULL, nfeat = 0;
    if( lf_data_resolve_columns(spec, (const char *const *)r.field, r.nfield, 0, -1, path, &label_col, &feat, &nfeat,
                                err, errlen) == 0 ){
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

/* lf_dataset_scan for a csv file: the header row, then every row's fields
** as TEXT cells. */
int lf_data_csv_scan(const char *src, lf_scan_header_fn on_header, lf_scan_row_fn on_row, void *ctx,
                     char *err, size_t errlen){
  lf_scan_header h;
  lf_scan_cell *cells = NULL;
  int rc = -1;
  memset(&h, 0, sizeof h);
  size_t len = 0;
  char *buf = read_whole_file(src, &len, err, errlen);
  if( buf == NULL ) return -1;
  csv_reader r;
  const char **header = NULL;
  if( csv_start(&r, buf, len, src, err, errlen) != 0 ) goto done;
  h.ncol = r.nfield;
  header = malloc((size_t)h.ncol * sizeof *header);
  cells = calloc((size_t)h.ncol, sizeof *cells);
  if( header == NULL || cells == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
  memcpy(header, r.field, (size_t)h.ncol * sizeof *header);
  h.names = header;
  h.src = src;
  if( on_header(ctx, &h, err, errlen) != 0 ) goto done;
  if( on_row == NULL ){ rc = 0; goto done; }
  for(int64_t row = 1;; row++){
    int k = csv_next(&r, row, err, errlen);
    if( k < 0 ) goto done;
    if( k == 0 ) break;
    if( r.nfield != h.ncol ){
      lf_data_err(err, errlen, "%s row %lld has %d fields, the header has %d", src, (long long)row, r.nfield, h.ncol);
      goto done;
    }
    for(int j = 0; j < h.ncol; j++){
      cells[j].p = r.field[j];
      cells[j].len = (int64_t)strlen(r.field[j]);
      cells[j].type = LF_CELL_TEXT;
    }
    if( on_row(ctx, row, cells, err, errlen) != 0 ) goto done;
  }
  rc = 0;
done:
  free(header);
  free(cells);
  free(r.field);
  free(buf);
  return rc;
}
