/*
** lf_data_plugin.c — datasets given by a plugin's load function.
*/
#include "lf_data_source.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lf_dataset_fill_alloc(lf_dataset_fill *f, int64_t n, const lf_shape *shape, char *err, size_t errlen){
  int64_t per = 1;
  if( n < 1 || n > ((int64_t)1 << 31) || !shape || shape->ndim < 1 || shape->ndim > LF_MAX_DIMS ){
    lf_data_err(err, errlen, "dataset: %lld samples of %d dimensions cannot be held (1..2^31 samples, 1..%d dimensions)",
                (long long)n, shape ? shape->ndim : 0, LF_MAX_DIMS);
    return -1;
  }
  for(int d = 0; d < shape->ndim; d++){
    if( shape->dim[d] < 1 || shape->dim[d] > 100000000 ){ lf_data_err(err, errlen, "dataset: bad shape dimension"); return -1; }
    per *= shape->dim[d];
    if( per > 100000000 ){ lf_data_err(err, errlen, "dataset: more than 100000000 values per sample"); return -1; }
  }
  if( (double)per * (double)n > 4e9 ){ lf_data_err(err, errlen, "dataset: more than 4e9 values"); return -1; }
  free(f->x);
  free(f->y);
  f->x = calloc((size_t)(per * n), sizeof(float));
  f->y = calloc((size_t)n, sizeof(float));
  if( !f->x || !f->y ){
    free(f->x); free(f->y); f->x = f->y = NULL;
    lf_data_err(err, errlen, "dataset: out of memory for %lld samples", (long long)n);
    return -1;
  }
  f->n = n;
  f->shape = *shape;
  return 0;
}

/* A plugin dataset: its load fills x and y, checked here like a file's. */
int lf_data_plugin_load(const lf_dataset_spec *spec, const char *src, char *const *class_names, int nclass_names,
                        lf_dataset *out, char *err, size_t errlen){
  lf_dataset_fill f;
  memset(&f, 0, sizeof f);
  err[0] = 0;
  if( spec->fn->load(spec->fn_args, src, &f, err, errlen) || !f.x || !f.y || f.n < 1 ){
    if( !err[0] ) lf_data_err(err, errlen, "dataset: the plugin's load gave no samples");
    free(f.x); free(f.y);
    return -1;
  }
  int64_t per = lf_shape_count(&f.shape), total = per * f.n;
  for(int64_t i = 0; i < total; i++){
    if( !isfinite(f.x[i]) ){
      lf_data_err(err, errlen, "dataset: sample %lld has a value that is not a finite number", (long long)(i / per + 1));
      free(f.x); free(f.y);
      return -1;
    }
  }
  int top = -1;
  for(int64_t i = 0; i < f.n; i++){
    float y = f.y[i];
    if( !isfinite(y) || (!spec->regression && (y < 0 || y != floorf(y) || y > 1e6)) ){
      lf_data_err(err, errlen, "dataset: the label of sample %lld is not %s", (long long)(i + 1),
                  spec->regression ? "a finite number" : "a class index (0, 1, ...)");
      free(f.x); free(f.y);
      return -1;
    }
    if( !spec->regression && (int)y > top ) top = (int)y;
  }
  (void)class_names;
  out->n = f.n;
  out->shape = f.shape;
  out->x = f.x;
  out->y = f.y;
  out->nclasses = spec->regression ? 0 : (f.nclasses > top ? f.nclasses : top + 1);
  if( nclass_names > out->nclasses ) out->nclasses = nclass_names;
  return 0;
}
