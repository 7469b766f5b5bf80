/*
** lf_data_inputs.c — named inputs of csv/sql sources while rows are read:
** categorical values, missing values, and which columns are standardised.
*/
#include "lf_data_source.h"
#include "lf_tabular.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lf_data_inputs_free(lf_data_inputs *t){
  free(t->cat_index);
  free(t->off);
  free(t->arena);
  memset(t, 0, sizeof *t);
}

int lf_data_inputs_init(lf_data_inputs *t, const lf_dataset_spec *spec, int nfeat, char *err, size_t errlen){
  memset(t, 0, sizeof *t);
  if( !LF_DS_TABULAR(spec) ) return 0;
  t->on = 1;
  t->nfeat = nfeat;
  t->cat_index = malloc((size_t)nfeat * sizeof *t->cat_index);
  if( t->cat_index == NULL ){ lf_data_err(err, errlen, "out of memory"); return -1; }
  int j = 0;
  for(int g = 0; g < spec->ninputs; g++)
    for(int c = 0; c < spec->inputs[g].ncolumns && j < nfeat; c++, j++)
      t->cat_index[j] = spec->inputs[g].categorical ? t->ncat++ : -1;
  for(; j < nfeat; j++) t->cat_index[j] = -1;
  return 0;
}

/* Room for the categorical offsets of row `row`. */
int lf_data_inputs_reserve(lf_data_inputs *t, int64_t row, char *err, size_t errlen){
  if( !t->on || t->ncat == 0 || row < t->cap ) return 0;
  int64_t cap = t->cap ? t->cap * 2 : 256;
  while( cap <= row ) cap *= 2;
  size_t *o = realloc(t->off, (size_t)(cap * t->ncat) * sizeof *o);
  if( o == NULL ){ lf_data_err(err, errlen, "out of memory loading the dataset"); return -1; }
  t->off = o;
  t->cap = cap;
  return 0;
}

static int is_na(const lf_dataset_spec *spec, const char *v){
  if( *v == 0 ) return 1;
  if( spec->na_values == NULL ) return strcmp(v, "?") == 0;
  for(int i = 0; i < spec->nna_values; i++)
    if( spec->na_values[i] && strcmp(v, spec->na_values[i]) == 0 ) return 1;
  return 0;
}

/* One feature value of row `row` (text NULL: SQL NULL). Returns 1 if it
** was handled here (missing, or categorical), 0 if the caller parses it as
** a number, -1 on error. */
int lf_data_inputs_cell(lf_data_inputs *t, const lf_dataset_spec *spec, int64_t row, int j, const char *text, size_t len,
                        float *dst, int *missing, char *err, size_t errlen){
  char buf[1024];
  const char *v = text ? lf_tabular_trim(text, len, buf, sizeof buf) : "";
  int k = t->cat_index[j];
  if( v == NULL ){
    if( k < 0 ) return 0;
    lf_data_err(err, errlen, "a categorical value of %zu bytes is too long (at most %zu)", len, sizeof buf - 1);
    return -1;
  }
  if( is_na(spec, v) ){
    *missing = 1;
    if( k >= 0 ) t->off[row * t->ncat + k] = SIZE_MAX;
    else *dst = NAN;
    return 1;
  }
  if( k < 0 ) return 0;
  size_t l = strlen(v) + 1;
  if( t->acap - t->len < l ){
    size_t cap = t->acap ? t->acap : 4096;
    while( cap - t->len < l ) cap *= 2;
    char *a = realloc(t->arena, cap);
    if( a == NULL ){ lf_data_err(err, errlen, "out of memory loading the dataset"); return -1; }
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
int lf_data_inputs_finish(lf_data_inputs *t, const lf_dataset_spec *spec, const lf_tabular *given, const char *src,
                          lf_dataset *out, char *err, size_t errlen){
  (void)spec;
  int nf = t->nfeat;
  int64_t n = out->n;
  if( given != NULL && given->ncols != nf ){
    lf_data_err(err, errlen, "%s has %d input columns; the pipeline was trained on %d", src, nf, given->ncols);
    return -1;
  }
  lf_tabular *tab = given ? lf_tabular_copy(given) : lf_tabular_new(nf);
  const char **vals = malloc((size_t)(n > 0 ? n : 1) * sizeof *vals);
  if( tab == NULL || vals == NULL ){ lf_data_err(err, errlen, "out of memory"); free(vals); lf_tabular_free(tab); return -1; }
  for(int j = 0; j < nf; j++){
    int k = t->cat_index[j];
    if( given != NULL && (given->categorical[j] != 0) != (k >= 0) ){
      lf_data_err(err, errlen, "%s: input column %d is %s here but was %s in training", src, j + 1,
                  k >= 0 ? "categorical" : "continuous", given->categorical[j] ? "categorical" : "continuous");
      free(vals);
      lf_tabular_free(tab);
      return -1;
    }
    if( k >= 0 ){
      if( given == NULL ){
        int64_t m = 0;
        for(int64_t i = 0; i < n; i++){
          size_t o = t->off[i * t->ncat + k];
          if( o != SIZE_MAX ) vals[m++] = t->arena + o;
        }
        qsort(vals, (size_t)m, sizeof *vals, lf_data_cmp_str);
        int64_t u = 0;
        for(int64_t i = 0; i < m; i++)
          if( u == 0 || strcmp(vals[u - 1], vals[i]) != 0 ) vals[u++] = vals[i];
        if( u > 10000000 ){
          lf_data_err(err, errlen, "%s: a categorical column has %lld distinct values (at most 10000000)", src, (long long)u);
          free(vals);
          lf_tabular_free(tab);
          return -1;
        }
        tab->categorical[j] = 1;
        tab->vocab[j] = calloc((size_t)(u ? u : 1), sizeof(char *));
        if( tab->vocab[j] == NULL ){ lf_data_err(err, errlen, "out of memory"); free(vals); lf_tabular_free(tab); return -1; }
        for(int64_t i = 0; i < u; i++){
          tab->vocab[j][i] = strdup(vals[i]);
          if( tab->vocab[j][i] == NULL ){ lf_data_err(err, errlen, "out of memory"); free(vals); lf_tabular_free(tab); return -1; }
          tab->nvocab[j] = (int)(i + 1);
        }
      }
      for(int64_t i = 0; i < n; i++){
        size_t o = t->off[i * t->ncat + k];
        out->x[i * nf + j] = o == SIZE_MAX ? 0.0f : (float)lf_tabular_code(tab, j, t->arena + o);
      }
    }else{
      if( given == NULL ){
        double sum = 0;
        int64_t m = 0;
        for(int64_t i = 0; i < n; i++){
          float v = out->x[i * nf + j];
          if( v == v ){ sum += v; m++; }
        }
        tab->fill[j] = m ? (float)(sum / (double)m) : 0.0f;
      }
      for(int64_t i = 0; i < n; i++)
        if( out->x[i * nf + j] != out->x[i * nf + j] ) out->x[i * nf + j] = tab->fill[j];
    }
  }
  free(vals);
  out->tab = tab;
  out->dropped = t->dropped;
  return 0;
}

int *lf_dataset_standardized_columns(const lf_dataset_spec *spec, int ncols){
  int *z = calloc((size_t)(ncols > 0 ? ncols : 1), sizeof *z);
  if( z == NULL ) return NULL;
  if( !LF_DS_TABULAR(spec) ){
    for(int j = 0; j < ncols; j++) z[j] = spec->standardize != 0;
    return z;
  }
  int j = 0;
  for(int g = 0; g < spec->ninputs; g++)
    for(int c = 0; c < spec->inputs[g].ncolumns && j < ncols; c++, j++)
      z[j] = spec->inputs[g].standardize && !spec->inputs[g].categorical;
  return z;
}

int lf_dataset_wants_standardize(const lf_dataset_spec *spec){
  if( !LF_DS_TABULAR(spec) ) return spec->standardize != 0;
  for(int g = 0; g < spec->ninputs; g++)
    if( spec->inputs[g].standardize && !spec->inputs[g].categorical ) return 1;
  return 0;
}
