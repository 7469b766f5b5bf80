/*
** lf_data_rows.c — the rows of a csv or sql source as they are read
** (features and label texts), and the checks every value goes through.
*/
#include "lf_data_source.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lf_data_err(char *err, size_t errlen, const char *fmt, ...){
  va_list ap;
  if( err == NULL || errlen == 0 ) return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Element count of a per-sample shape; -1 if a dim is not positive or the
** count is absurd. */
int64_t lf_data_count(const lf_shape *s){
  int64_t c = s->ndim < 1 ? -1 : lf_shape_count(s);
  return c < 1 || c > DS_MAX_VALUES ? -1 : c;
}

/* Parses a whole field as a finite number (surrounding blanks allowed). */
int lf_data_parse_number(const char *s, double *v){
  char *end;
  while( isspace((unsigned char)*s) ) s++;
  if( *s == 0 ) return 0;
  errno = 0;
  double d = strtod(s, &end);
  if( end == s ) return 0;
  while( isspace((unsigned char)*end) ) end++;
  if( *end != 0 || !isfinite(d) ) return 0;
  *v = d;
  return 1;
}

void lf_data_rows_free(lf_data_rows *b){
  free(b->x);
  free(b->label_off);
  free(b->arena);
  memset(b, 0, sizeof *b);
}

/* Room for one more sample: returns where its features go, or NULL. */
float *lf_data_rows_add(lf_data_rows *b, char *err, size_t errlen){
  if( b->n == b->cap ){
    int64_t cap = b->cap ? b->cap * 2 : 256;
    if( cap * b->nvals > DS_MAX_VALUES ) cap = DS_MAX_VALUES / b->nvals;
    if( cap <= b->n ){
      lf_data_err(err, errlen, "dataset is too large (over %lld values)", (long long)DS_MAX_VALUES);
      return NULL;
    }
    float *x = realloc(b->x, (size_t)(cap * b->nvals) * sizeof *x);
    if( x == NULL ){ lf_data_err(err, errlen, "out of memory loading the dataset (%lld rows)", (long long)cap); return NULL; }
    b->x = x;
    size_t *off = realloc(b->label_off, (size_t)cap * sizeof *off);
    if( off == NULL ){ lf_data_err(err, errlen, "out of memory loading the dataset (%lld rows)", (long long)cap); return NULL; }
    b->label_off = off;
    b->cap = cap;
  }
  return b->x + b->n * b->nvals;
}

/* Stores the label text of the row lf_data_rows_add just handed out and counts
** the row as complete. */
int lf_data_rows_label(lf_data_rows *b, const char *text, size_t len, char *err, size_t errlen){
  if( b->arena_cap - b->arena_len < len + 1 ){
    size_t cap = b->arena_cap ? b->arena_cap : 4096;
    while( cap - b->arena_len < len + 1 ) cap *= 2;
    char *a = realloc(b->arena, cap);
    if( a == NULL ){ lf_data_err(err, errlen, "out of memory loading the dataset labels"); return -1; }
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

/* Turns the gathered label texts into out->y / nclasses / class_names. */
static int builder_labels(lf_data_rows *b, const lf_dataset_spec *spec, char *const *given, int ngiven,
                          const char *src, lf_dataset *out, char *err, size_t errlen){
  const char **text = malloc((size_t)(b->n > 0 ? b->n : 1) * sizeof *text);
  if( text == NULL ){ lf_data_err(err, errlen, "out of memory loading the dataset labels"); return -1; }
  for(int64_t i = 0; i < b->n; i++) text[i] = b->arena + b->label_off[i];
  int rc = lf_dataset_labels(spec, text, b->n, given, ngiven, src, out, err, errlen);
  free(text);
  return rc;
}

/* Moves the builder's rows into out (x trimmed to size) and sets labels. */
int lf_data_rows_finish(lf_data_rows *b, const lf_dataset_spec *spec, char *const *given, int ngiven,
                        const char *src, lf_dataset *out, char *err, size_t errlen){
  if( b->n == 0 ){
    lf_data_err(err, errlen, "%s has no data rows (the dataset is empty)", src);
    return -1;
  }
  if( builder_labels(b, spec, given, ngiven, src, out, err, errlen) != 0 ) return -1;
  float *x = realloc(b->x, (size_t)(b->n * b->nvals) * sizeof *x);
  if( x != NULL ) b->x = x;            /* else keep the larger block */
  out->x = b->x;
  out->n = b->n;
  b->x = NULL;
  return 0;
}

/* Stores v / scale as float32; 0 if it does not fit. */
int lf_data_store(float *dst, double v, double scale){
  if( scale != 0 ) v /= scale;
  float f = (float)v;
  if( !isfinite(f) ) return 0;
  *dst = f;
  return 1;
}
