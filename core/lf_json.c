/*
** lf_json.c — reading JSON text LabFlow is handed (lf_json.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_json.h"

#define MAX_JSON_DEPTH 64

static int json_depth(const cJSON *v, int depth){
  if( depth > MAX_JSON_DEPTH ) return depth;
  int worst = depth;
  for(const cJSON *c = v->child; c; c = c->next){
    int d = json_depth(c, depth+1);
    if( d > worst ) worst = d;
    if( worst > MAX_JSON_DEPTH ) break;
  }
  return worst;
}

static int cmp_key(const void *a, const void *b){
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key that appears twice in one object anywhere in v, or NULL. */
static const char *duplicate_key(const cJSON *v){
  int count = 0;
  for(const cJSON *c = v->child; c; c = c->next){
    if( cJSON_IsObject(c) || cJSON_IsArray(c) ){
      const char *d = duplicate_key(c);
      if( d ) return d;
    }
    count++;
  }
  if( !cJSON_IsObject(v) || count < 2 ) return NULL;
  const char **keys = malloc(sizeof(char*) * (size_t)count);
  if( !keys ) return NULL;
  int k = 0;
  for(const cJSON *c = v->child; c; c = c->next) keys[k++] = c->string ? c->string : "";
  qsort(keys, (size_t)count, sizeof *keys, cmp_key);
  const char *dup = NULL;
  for(int i=1; i<count && !dup; i++) if( strcmp(keys[i-1], keys[i])==0 ) dup = keys[i];
  free(keys);
  return dup;
}

cJSON *lf_json_parse_object(const char *text, const char *what, char *err, size_t n){
  if( !text ){ snprintf(err, n, "%s is NULL; pass a JSON object", what); return NULL; }
  const char *end = NULL;
  cJSON *v = cJSON_ParseWithOpts(text, &end, 1);
  if( !v ){
    size_t off = end ? (size_t)(end - text) : 0;
    snprintf(err, n, "%s is not valid JSON (error near byte %zu)", what, off);
    return NULL;
  }
  if( !cJSON_IsObject(v) ){
    cJSON_Delete(v);
    snprintf(err, n, "%s must be a JSON object", what);
    return NULL;
  }
  if( json_depth(v, 0) > MAX_JSON_DEPTH ){
    cJSON_Delete(v);
    snprintf(err, n, "%s is nested deeper than %d levels", what, MAX_JSON_DEPTH);
    return NULL;
  }
  /* A key given twice would be validated with one value and, after the
  ** canonical sort, possibly trained with the other. */
  const char *dup = duplicate_key(v);
  if( dup ){
    snprintf(err, n, "%s has the key \"%.60s\" twice in one object", what, dup);
    cJSON_Delete(v);
    return NULL;
  }
  return v;
}
