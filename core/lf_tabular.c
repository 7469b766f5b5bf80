/*
** lf_tabular.c — vocabularies and fill values of named-input pipelines,
** and their round trip through weight files.
*/
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_tabular.h"

lf_tabular *lf_tabular_new(int ncols){
  lf_tabular *t = calloc(1, sizeof *t);
  if( !t ) return NULL;
  t->ncols = ncols;
  size_t c = (size_t)(ncols > 0 ? ncols : 1);
  t->categorical = calloc(c, sizeof(int));
  t->nvocab = calloc(c, sizeof(int));
  t->vocab = calloc(c, sizeof(char**));
  t->fill = calloc(c, sizeof(float));
  if( !t->categorical || !t->nvocab || !t->vocab || !t->fill ){ lf_tabular_free(t); return NULL; }
  return t;
}

void lf_tabular_free(lf_tabular *t){
  if( !t ) return;
  for(int j=0; t->vocab && j<t->ncols; j++){
    if( !t->vocab[j] ) continue;
    for(int i=0; i<t->nvocab[j]; i++) free(t->vocab[j][i]);
    free(t->vocab[j]);
  }
  free(t->vocab);
  free(t->categorical);
  free(t->nvocab);
  free(t->fill);
  free(t);
}

lf_tabular *lf_tabular_copy(const lf_tabular *t){
  if( !t ) return NULL;
  lf_tabular *c = lf_tabular_new(t->ncols);
  if( !c ) return NULL;
  for(int j=0; j<t->ncols; j++){
    c->categorical[j] = t->categorical[j];
    c->fill[j] = t->fill[j];
    if( !t->vocab[j] ) continue;
    c->vocab[j] = calloc((size_t)(t->nvocab[j] ? t->nvocab[j] : 1), sizeof(char*));
    if( !c->vocab[j] ){ lf_tabular_free(c); return NULL; }
    c->nvocab[j] = t->nvocab[j];
    for(int i=0; i<t->nvocab[j]; i++){
      c->vocab[j][i] = strdup(t->vocab[j][i]);
      if( !c->vocab[j][i] ){ lf_tabular_free(c); return NULL; }
    }
  }
  return c;
}

static int cmp_str(const void *a, const void *b){
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int lf_tabular_code(const lf_tabular *t, int col, const char *value){
  if( !t || col < 0 || col >= t->ncols || !t->vocab[col] ) return 0;
  char *const *hit = bsearch(&value, t->vocab[col], (size_t)t->nvocab[col], sizeof(char*), cmp_str);
  return hit ? 1 + (int)(hit - t->vocab[col]) : 0;
}

int lf_tabular_cardinality(const lf_tabular *t, int col){
  if( !t || col < 0 || col >= t->ncols || !t->categorical[col] ) return 0;
  return t->nvocab[col] + 1;
}

const char *lf_tabular_trim(const char *s, size_t len, char *buf, size_t n){
  while( len && isspace((unsigned char)s[0]) ){ s++; len--; }
  while( len && isspace((unsigned char)s[len-1]) ) len--;
  if( len + 1 > n ) return NULL;
  memcpy(buf, s, len);
  buf[len] = 0;
  return buf;
}

void lf_tabular_recs_free(lf_tensor_rec *recs, int nrec){
  if( !recs ) return;
  for(int i=0; i<nrec; i++){ free(recs[i].name); free(recs[i].data); }
  free(recs);
}

int lf_tabular_to_recs(const lf_tabular *t, lf_tensor_rec **out, int *nout){
  int ncat = 0;
  for(int j=0; j<t->ncols; j++) ncat += t->categorical[j] != 0;
  lf_tensor_rec *r = calloc((size_t)ncat + 2, sizeof *r);
  if( !r ) return -1;
  int k = 0;
  int64_t *kind = malloc(sizeof(int64_t) * (size_t)(t->ncols ? t->ncols : 1));
  float *fill = malloc(sizeof(float) * (size_t)(t->ncols ? t->ncols : 1));
  r[k++] = (lf_tensor_rec){ .name = strdup("__tab_kind"), .dtype = 8, .ndim = 1, .dim = {t->ncols}, .data = kind };
  r[k++] = (lf_tensor_rec){ .name = strdup("__tab_fill"), .dtype = 4, .ndim = 1, .dim = {t->ncols}, .data = fill };
  if( !kind || !fill || !r[0].name || !r[1].name ){ lf_tabular_recs_free(r, k); return -1; }
  for(int j=0; j<t->ncols; j++){
    kind[j] = lf_tabular_cardinality(t, j);
    fill[j] = t->fill[j];
    if( !t->categorical[j] ) continue;
    size_t bytes = 0;
    for(int i=0; i<t->nvocab[j]; i++) bytes += strlen(t->vocab[j][i]) + 1;
    char *blob = malloc(bytes ? bytes : 1), name[32];
    snprintf(name, sizeof name, "__tab_vocab.%d", j);
    r[k] = (lf_tensor_rec){ .name = strdup(name), .dtype = 1, .ndim = 1, .dim = {(int64_t)bytes}, .data = blob };
    k++;
    if( !blob || !r[k-1].name ){ lf_tabular_recs_free(r, k); return -1; }
    size_t at = 0;
    for(int i=0; i<t->nvocab[j]; i++){
      size_t l = strlen(t->vocab[j][i]) + 1;
      memcpy(blob + at, t->vocab[j][i], l);
      at += l;
    }
  }
  *out = r;
  *nout = k;
  return 0;
}

static const lf_tensor_rec *find_rec(const lf_tensor_rec *recs, int nrec, const char *name){
  for(int i=0; i<nrec; i++) if( recs[i].name && strcmp(recs[i].name, name)==0 ) return &recs[i];
  return NULL;
}

lf_tabular *lf_tabular_from_recs(const lf_tensor_rec *recs, int nrec, const char *path,
                                 char *err, size_t n){
  const lf_tensor_rec *kind = find_rec(recs, nrec, "__tab_kind");
  const lf_tensor_rec *fill = find_rec(recs, nrec, "__tab_fill");
  err[0] = 0;
  if( !kind && !fill ) return NULL;
  if( !kind || !fill || kind->dtype != 8 || fill->dtype != 4 || kind->ndim != 1 || fill->ndim != 1
   || kind->dim[0] != fill->dim[0] || kind->dim[0] < 1 || kind->dim[0] > 1000000 ){
    snprintf(err, n, "weight file %s: damaged category records (__tab_kind/__tab_fill)", path);
    return NULL;
  }
  int ncols = (int)kind->dim[0];
  lf_tabular *t = lf_tabular_new(ncols);
  if( !t ){ snprintf(err, n, "out of memory"); return NULL; }
  const int64_t *kv = kind->data;
  const float *fv = fill->data;
  for(int j=0; j<ncols; j++){
    t->fill[j] = fv[j];
    if( kv[j] == 0 ) continue;
    char name[32];
    snprintf(name, sizeof name, "__tab_vocab.%d", j);
    const lf_tensor_rec *v = find_rec(recs, nrec, name);
    if( kv[j] < 1 || !v || v->dtype != 1 || v->ndim != 1 ){
      snprintf(err, n, "weight file %s: column %d's vocabulary (%s) is missing or damaged", path, j, name);
      lf_tabular_free(t);
      return NULL;
    }
    const char *p = v->data, *end = p + v->dim[0];
    int want = (int)(kv[j] - 1), got = 0;
    t->categorical[j] = 1;
    t->vocab[j] = calloc((size_t)(want ? want : 1), sizeof(char*));
    if( !t->vocab[j] ){ snprintf(err, n, "out of memory"); lf_tabular_free(t); return NULL; }
    while( p < end && got < want ){
      const char *z = memchr(p, 0, (size_t)(end - p));
      if( !z ) break;
      t->vocab[j][got] = strdup(p);
      if( !t->vocab[j][got] ){ snprintf(err, n, "out of memory"); lf_tabular_free(t); return NULL; }
      got++;
      t->nvocab[j] = got;
      p = z + 1;
    }
    int sorted = 1;
    for(int i=1; i<got; i++) if( strcmp(t->vocab[j][i-1], t->vocab[j][i]) >= 0 ) sorted = 0;
    if( got != want || p != end || !sorted ){
      snprintf(err, n, "weight file %s: column %d's vocabulary (%s) is damaged", path, j, name);
      lf_tabular_free(t);
      return NULL;
    }
  }
  return t;
}
