/*
** lf_space.c — parsing a sweep's search space and drawing its members'
** parameter sets (the space is described in lf_space.h).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_space.h"
#include "lf_canon.h"
#include "../kernels/lf_tensor.h"

void lf_space_free(lf_space *sp){
  for(int i=0; i<sp->ndims; i++){
    free(sp->dims[i].path);
    cJSON_Delete(sp->dims[i].values);
  }
  free(sp->dims);
  memset(sp, 0, sizeof *sp);
}

/* 1 if path a is b or leads into b ("optimizer" and "optimizer>args>lr"). */
static int path_within(const char *a, const char *b){
  size_t k = strlen(a);
  return strncmp(a, b, k)==0 && (b[k]==0 || b[k]=='>' || b[k]=='[');
}

/* A list of values: non-empty, no value twice. */
static int check_list(const char *path, const cJSON *list, char *err, size_t n){
  int size = cJSON_GetArraySize(list);
  if( size==0 ){
    snprintf(err, n, "space: '%.80s' has an empty list of values; give at least one", path);
    return -1;
  }
  char **texts = calloc((size_t)size, sizeof *texts);
  if( !texts ){ snprintf(err, n, "out of memory"); return -1; }
  int rc = 0, i = 0;
  for(const cJSON *v = list->child; v && rc==0; v = v->next, i++){
    texts[i] = lf_canon_json(v);
    if( !texts[i] ){ snprintf(err, n, "out of memory"); rc = -1; break; }
    for(int j=0; j<i; j++){
      if( strcmp(texts[i], texts[j])==0 ){
        snprintf(err, n, "space: '%.80s' lists %.60s twice", path, texts[i]);
        rc = -1;
        break;
      }
    }
  }
  for(int j=0; j<size; j++) free(texts[j]);
  free(texts);
  return rc;
}

/* Fills d from a distribution object {"<kind>": [...]}. */
static int parse_distribution(lf_space_dim *d, const cJSON *obj, char *err, size_t n){
  const cJSON *c = obj->child;
  if( !c || c->next ){
    snprintf(err, n, "space: '%.80s' must be a list of values or one distribution "
             "({\"uniform\": [a, b]}, {\"log_uniform\": [a, b]}, {\"int\": [a, b]}, {\"choice\": [...]})", d->path);
    return -1;
  }
  const char *kind = c->string;
  if( strcmp(kind, "choice")==0 ){
    if( !cJSON_IsArray(c) ){ snprintf(err, n, "space: '%.80s': choice must be a list of values", d->path); return -1; }
    if( check_list(d->path, c, err, n) ) return -1;
    d->kind = LF_DIST_LIST;
    d->values = cJSON_Duplicate(c, 1);
    if( !d->values ){ snprintf(err, n, "out of memory"); return -1; }
    return 0;
  }
  if( strcmp(kind, "uniform")==0 ) d->kind = LF_DIST_UNIFORM;
  else if( strcmp(kind, "log_uniform")==0 ) d->kind = LF_DIST_LOG_UNIFORM;
  else if( strcmp(kind, "int")==0 ) d->kind = LF_DIST_INT;
  else{
    snprintf(err, n, "space: '%.80s': unknown distribution '%.40s' (known: uniform, log_uniform, int, choice)",
             d->path, kind);
    return -1;
  }
  const cJSON *lo = cJSON_GetArrayItem(c, 0), *hi = cJSON_GetArrayItem(c, 1);
  if( !cJSON_IsArray(c) || cJSON_GetArraySize(c) != 2 || !cJSON_IsNumber(lo) || !cJSON_IsNumber(hi)
   || !isfinite(lo->valuedouble) || !isfinite(hi->valuedouble) ){
    snprintf(err, n, "space: '%.80s': %s takes two numbers [a, b]", d->path, kind);
    return -1;
  }
  d->a = lo->valuedouble;
  d->b = hi->valuedouble;
  if( d->a > d->b ){
    snprintf(err, n, "space: '%.80s': %s [%g, %g] has a > b; write the smaller bound first", d->path, kind, d->a, d->b);
    return -1;
  }
  if( d->kind==LF_DIST_LOG_UNIFORM && d->a <= 0 ){
    snprintf(err, n, "space: '%.80s': log_uniform needs 0 < a (got %g)", d->path, d->a);
    return -1;
  }
  if( d->kind==LF_DIST_INT && (d->a != floor(d->a) || d->b != floor(d->b) || fabs(d->a) > 1e9 || fabs(d->b) > 1e9) ){
    snprintf(err, n, "space: '%.80s': int takes two integers [a, b] (|a|, |b| <= 1e9)", d->path);
    return -1;
  }
  return 0;
}

int lf_space_parse(const char *json, lf_space *sp, char *err, size_t n){
  memset(sp, 0, sizeof *sp);
  cJSON *root = json ? cJSON_Parse(json) : NULL;
  if( !cJSON_IsObject(root) ){
    snprintf(err, n, "space must be a JSON object mapping config paths to values, e.g. "
             "{\"optimizer>args>lr\": [0.1, 0.01]}");
    cJSON_Delete(root);
    return -1;
  }
  int size = cJSON_GetArraySize(root), rc = -1;
  if( size==0 ){
    snprintf(err, n, "space is empty; map at least one config path to values, e.g. {\"optimizer>args>lr\": [0.1, 0.01]}");
    goto done;
  }
  sp->dims = calloc((size_t)size, sizeof *sp->dims);
  if( !sp->dims ){ snprintf(err, n, "out of memory"); goto done; }
  for(const cJSON *c = root->child; c; c = c->next){
    lf_space_dim *d = &sp->dims[sp->ndims++];
    d->path = strdup(c->string);
    if( !d->path ){ snprintf(err, n, "out of memory"); goto done; }
    if( !d->path[0] ){ snprintf(err, n, "space: a path is empty"); goto done; }
    for(int j=0; j<sp->ndims-1; j++){
      const char *other = sp->dims[j].path;
      if( path_within(other, d->path) || path_within(d->path, other) ){
        snprintf(err, n, "space: paths '%.80s' and '%.80s' overlap; vary each setting through one path",
                 other, d->path);
        goto done;
      }
    }
    if( cJSON_IsArray(c) ){
      if( check_list(d->path, c, err, n) ) goto done;
      d->kind = LF_DIST_LIST;
      d->values = cJSON_Duplicate(c, 1);
      if( !d->values ){ snprintf(err, n, "out of memory"); goto done; }
    }else if( cJSON_IsObject(c) ){
      if( parse_distribution(d, c, err, n) ) goto done;
    }else{
      snprintf(err, n, "space: '%.80s' must be a list of values or a distribution object, "
               "e.g. [0.1, 0.01] or {\"log_uniform\": [1e-4, 1e-1]}", d->path);
      goto done;
    }
  }
  rc = 0;
done:
  cJSON_Delete(root);
  if( rc ) lf_space_free(sp);
  return rc;
}

/* How many values a grid takes from d; -1 for a real distribution. */
static double grid_size(const lf_space_dim *d){
  switch( d->kind ){
    case LF_DIST_LIST: return cJSON_GetArraySize(d->values);
    case LF_DIST_INT: return d->b - d->a + 1;
    default: return -1;
  }
}

static cJSON *grid_value(const lf_space_dim *d, int i){
  if( d->kind==LF_DIST_LIST ) return cJSON_Duplicate(cJSON_GetArrayItem(d->values, i), 1);
  return cJSON_CreateNumber(d->a + i);
}

cJSON *lf_space_grid(const lf_space *sp, char *err, size_t n){
  double total = 1;
  for(int i=0; i<sp->ndims; i++){
    double k = grid_size(&sp->dims[i]);
    if( k < 0 ){
      snprintf(err, n, "space: '%.80s' is a real distribution; a grid needs lists of values "
               "(or use method 'random')", sp->dims[i].path);
      return NULL;
    }
    total *= k;
  }
  if( total > LF_SPACE_MAX_MEMBERS ){
    snprintf(err, n, "the grid has %.0f members, more than %d; make the lists shorter or use method 'random'",
             total, LF_SPACE_MAX_MEMBERS);
    return NULL;
  }
  cJSON *out = cJSON_CreateArray();
  int *at = calloc((size_t)sp->ndims, sizeof *at);
  if( !out || !at ) goto oom;
  for(int m=0; m<(int)total; m++){
    cJSON *set = cJSON_CreateObject();
    if( !set ) goto oom;
    cJSON_AddItemToArray(out, set);
    for(int i=0; i<sp->ndims; i++){
      cJSON *v = grid_value(&sp->dims[i], at[i]);
      if( !v ) goto oom;
      cJSON_AddItemToObject(set, sp->dims[i].path, v);
    }
    /* Odometer: the last path turns fastest. */
    for(int i=sp->ndims-1; i>=0; i--){
      if( ++at[i] < (int)grid_size(&sp->dims[i]) ) break;
      at[i] = 0;
    }
  }
  free(at);
  return out;
oom:
  free(at);
  cJSON_Delete(out);
  snprintf(err, n, "out of memory");
  return NULL;
}

/* A double in [0, 1) with all 53 bits drawn. */
static double draw_unit(lf_rng *r){
  return (double)(lf_rng_next(r) >> 11) * 0x1.0p-53;
}

static cJSON *draw_value(const lf_space_dim *d, lf_rng *r){
  double u = draw_unit(r);
  switch( d->kind ){
    case LF_DIST_LIST: {
      int k = cJSON_GetArraySize(d->values);
      int i = (int)(u * k);
      return cJSON_Duplicate(cJSON_GetArrayItem(d->values, i < k ? i : k - 1), 1);
    }
    case LF_DIST_UNIFORM: return cJSON_CreateNumber(d->a + (d->b - d->a) * u);
    case LF_DIST_LOG_UNIFORM: {
      double la = log(d->a), lb = log(d->b);
      double v = exp(la + (lb - la) * u);
      /* exp(log(x)) may land a hair outside [a, b]. */
      return cJSON_CreateNumber(v < d->a ? d->a : v > d->b ? d->b : v);
    }
    case LF_DIST_INT: {
      double span = d->b - d->a + 1;
      double v = d->a + floor(u * span);
      return cJSON_CreateNumber(v > d->b ? d->b : v);
    }
  }
  return NULL;
}

cJSON *lf_space_random(const lf_space *sp, int count, uint64_t seed, char *err, size_t n){
  if( count < 1 || count > LF_SPACE_MAX_MEMBERS ){
    snprintf(err, n, "random search needs n from 1 to %d members", LF_SPACE_MAX_MEMBERS);
    return NULL;
  }
  lf_rng r;
  lf_rng_seed(&r, seed);
  cJSON *out = cJSON_CreateArray();
  char **seen = calloc((size_t)count, sizeof *seen);
  int nseen = 0;
  long attempts = 0, max_attempts = 100L * count;
  if( !out || !seen ) goto oom;
  while( nseen < count ){
    if( attempts++ >= max_attempts ){
      snprintf(err, n, "the space gave only %d distinct members in %ld draws; ask for fewer than %d "
               "or widen the space", nseen, max_attempts, count);
      goto fail;
    }
    cJSON *set = cJSON_CreateObject();
    if( !set ) goto oom;
    for(int i=0; i<sp->ndims; i++){
      cJSON *v = draw_value(&sp->dims[i], &r);
      if( !v ){ cJSON_Delete(set); goto oom; }
      cJSON_AddItemToObject(set, sp->dims[i].path, v);
    }
    char *text = lf_canon_json(set);
    if( !text ){ cJSON_Delete(set); goto oom; }
    int dup = 0;
    for(int j=0; j<nseen && !dup; j++) dup = strcmp(seen[j], text)==0;
    if( dup ){ free(text); cJSON_Delete(set); continue; }
    seen[nseen++] = text;
    cJSON_AddItemToArray(out, set);
  }
  for(int j=0; j<nseen; j++) free(seen[j]);
  free(seen);
  return out;
oom:
  snprintf(err, n, "out of memory");
fail:
  if( seen ) for(int j=0; j<nseen; j++) free(seen[j]);
  free(seen);
  cJSON_Delete(out);
  return NULL;
}
