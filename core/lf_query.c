/*
** lf_query.c — parsing and evaluating config queries, and flattening
** configs (the language is described in lf_query.h).
*/
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_query.h"

/* One step of a path: an object key, or (key == NULL) a list index. */
typedef struct qstep {
  char *key;
  long index;
} qstep;

typedef struct qpath {
  qstep *v;
  int n, cap;
} qpath;

typedef struct qterm {
  qpath path;               /* from the config's root */
  int lists;                /* "key=": report the value, compare nothing */
  cJSON *lit;               /* the value to compare with (owned) */
  char *raw;                /* the value as written, unquoted (owned) */
  int quoted;               /* written as a JSON string: strings only */
} qterm;

struct lf_query {
  qterm *terms;
  int nterms;
  char *path;               /* the last term's path, plain form */
};

static void path_free(qpath *p){
  for(int i=0; i<p->n; i++) free(p->v[i].key);
  free(p->v);
  memset(p, 0, sizeof *p);
}

static int path_push(qpath *p, const char *key, size_t keylen, long index){
  if( p->n == p->cap ){
    int cap = p->cap ? 2*p->cap : 8;
    qstep *v = realloc(p->v, sizeof *v * (size_t)cap);
    if( !v ) return -1;
    p->v = v; p->cap = cap;
  }
  qstep *s = &p->v[p->n];
  s->key = NULL;
  s->index = index;
  if( key ){
    s->key = malloc(keylen + 1);
    if( !s->key ) return -1;
    memcpy(s->key, key, keylen);
    s->key[keylen] = 0;
  }
  p->n++;
  return 0;
}

static int path_copy(qpath *dst, const qpath *src){
  memset(dst, 0, sizeof *dst);
  for(int i=0; i<src->n; i++){
    const qstep *s = &src->v[i];
    if( path_push(dst, s->key, s->key ? strlen(s->key) : 0, s->index) ){ path_free(dst); return -1; }
  }
  return 0;
}

/* Plain text of a path: "model>args>layers[1]>args>out" (malloc'ed). */
static char *path_text(const qpath *p){
  size_t len = 1;
  for(int i=0; i<p->n; i++) len += (p->v[i].key ? strlen(p->v[i].key) + 1 : 24);
  char *out = malloc(len), *o = out;
  if( !out ) return NULL;
  *o = 0;
  for(int i=0; i<p->n; i++){
    if( p->v[i].key ) o += sprintf(o, "%s%s", i ? ">" : "", p->v[i].key);
    else o += sprintf(o, "[%ld]", p->v[i].index);
  }
  return out;
}

static void trim(const char **s, size_t *len){
  while( *len && isspace((unsigned char)**s) ){ (*s)++; (*len)--; }
  while( *len && isspace((unsigned char)(*s)[*len-1]) ) (*len)--;
}

/* Appends the steps of one segment "name", "name[1][2]" or "[0]" to p.
** Returns 0, or -1 with why set. */
static int parse_segment(const char *s, size_t len, qpath *p, const char **why){
  trim(&s, &len);
  size_t i = 0;
  while( i < len && s[i] != '[' ){
    if( s[i]==']' || s[i]=='"' || s[i]=='=' ){ *why = "a key holds '\"', '=' or ']'"; return -1; }
    i++;
  }
  size_t name_len = i;
  while( name_len && isspace((unsigned char)s[name_len-1]) ) name_len--;
  if( name_len && path_push(p, s, name_len, 0) ){ *why = "out of memory"; return -1; }
  int nidx = 0;
  while( i < len ){
    if( s[i] != '[' ){ *why = "text after ']' in a key"; return -1; }
    i++;
    size_t d = i;
    while( i < len && isdigit((unsigned char)s[i]) ) i++;
    if( i==d || i >= len || s[i] != ']' ){ *why = "a list index must be [<digits>]"; return -1; }
    if( i - d > 9 ){ *why = "list index too large"; return -1; }
    long idx = strtol(s + d, NULL, 10);
    i++;
    if( path_push(p, NULL, 0, idx) ){ *why = "out of memory"; return -1; }
    nidx++;
  }
  if( !name_len && !nidx ){ *why = "empty key"; return -1; }
  return 0;
}

/* Fills t's literal from the text after '='. */
static int parse_value(qterm *t, const char *s, size_t len, const char **why){
  trim(&s, &len);
  t->raw = malloc(len + 1);
  if( !t->raw ){ *why = "out of memory"; return -1; }
  memcpy(t->raw, s, len);
  t->raw[len] = 0;
  if( len==0 ){ t->lists = 1; return 0; }
  if( s[0]=='"' || s[0]=='[' || s[0]=='{' ){
    t->lit = cJSON_Parse(t->raw);
    if( !t->lit || (s[0]=='"' && !cJSON_IsString(t->lit)) ){
      *why = s[0]=='"' ? "a quoted value must be one JSON string" : "a [..] or {..} value must be valid JSON";
      return -1;
    }
    if( s[0]=='"' ){
      t->quoted = 1;
      char *unq = malloc(strlen(t->lit->valuestring) + 1);
      if( !unq ){ *why = "out of memory"; return -1; }
      strcpy(unq, t->lit->valuestring);
      free(t->raw);
      t->raw = unq;
    }
    return 0;
  }
  if( strcmp(t->raw, "true")==0 ) t->lit = cJSON_CreateTrue();
  else if( strcmp(t->raw, "false")==0 ) t->lit = cJSON_CreateFalse();
  else if( strcmp(t->raw, "null")==0 ) t->lit = cJSON_CreateNull();
  else{
    char *end;
    double d = strtod(t->raw, &end);
    /* strtod also takes "inf", "nan" and hex: only JSON-like numbers count. */
    int numeric = *end==0 && isfinite(d) && strpbrk(t->raw, "xXnNiI")==NULL;
    t->lit = numeric ? cJSON_CreateNumber(d) : cJSON_CreateString(t->raw);
  }
  if( !t->lit ){ *why = "out of memory"; return -1; }
  return 0;
}

void lf_query_free(lf_query *q){
  if( !q ) return;
  for(int i=0; i<q->nterms; i++){
    path_free(&q->terms[i].path);
    cJSON_Delete(q->terms[i].lit);
    free(q->terms[i].raw);
  }
  free(q->terms);
  free(q->path);
  free(q);
}

lf_query *lf_query_parse(const char *text, char *err, size_t n){
  lf_query *q = calloc(1, sizeof *q);
  qpath prefix = {0};
  const char *why = NULL;
  if( !q ){ snprintf(err, n, "out of memory"); return NULL; }
  size_t len = text ? strlen(text) : 0;
  size_t start = 0;
  int last_was_term = 0;
  const char *t0 = text ? text : "";
  size_t tlen = len;
  trim(&t0, &tlen);
  if( tlen==0 ) why = "empty query (write key=value, e.g. optimizer=Adam)";
  for(size_t i=0; i<=len && !why; i++){
    /* A piece ends at a '>' outside "..." (values may quote a '>'). */
    if( i < len && text[i]=='"' ){
      for(i++; i<len && text[i]!='"'; i++) if( text[i]=='\\' && i+1<len ) i++;
      if( i >= len ){ why = "unterminated \""; break; }
      continue;
    }
    if( i < len && text[i] != '>' ) continue;
    const char *piece = text + start;
    size_t plen = i - start;
    start = i + 1;
    if( q->nterms && q->terms[q->nterms-1].lists ){ why = "'key=' (listing values) must be the last piece"; break; }
    const char *eq = NULL;
    for(size_t k=0; k<plen; k++){
      if( piece[k]=='"' ) break;
      if( piece[k]=='=' ){ eq = piece + k; break; }
    }
    if( !eq ){
      if( parse_segment(piece, plen, &prefix, &why) ) break;
      last_was_term = 0;
      continue;
    }
    qterm *terms = realloc(q->terms, sizeof *terms * (size_t)(q->nterms + 1));
    if( !terms ){ why = "out of memory"; break; }
    q->terms = terms;
    qterm *t = &q->terms[q->nterms++];
    memset(t, 0, sizeof *t);
    if( path_copy(&t->path, &prefix) ){ why = "out of memory"; break; }
    if( parse_segment(piece, (size_t)(eq - piece), &t->path, &why) ) break;
    if( parse_value(t, eq + 1, plen - (size_t)(eq - piece) - 1, &why) ) break;
    /* What follows a comparison is inside the component's args. */
    path_free(&prefix);
    if( path_copy(&prefix, &t->path) || path_push(&prefix, "args", 4, 0) ){ why = "out of memory"; break; }
    last_was_term = 1;
  }
  if( !why && !last_was_term ) why = "does not end with key=value (or key= to list the values)";
  if( !why ){
    q->path = path_text(&q->terms[q->nterms-1].path);
    if( !q->path ) why = "out of memory";
  }
  path_free(&prefix);
  if( why ){
    snprintf(err, n, "query '%.80s': %s", text ? text : "", why);
    lf_query_free(q);
    return NULL;
  }
  return q;
}

int lf_query_lists(const lf_query *q){
  return q->nterms > 0 && q->terms[q->nterms-1].lists;
}

const char *lf_query_path(const lf_query *q){
  return q->path;
}

static const cJSON *resolve(const cJSON *node, const qpath *p){
  for(int i=0; i<p->n && node; i++){
    if( p->v[i].key ){
      node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, p->v[i].key) : NULL;
    }else{
      node = cJSON_IsArray(node) ? cJSON_GetArrayItem(node, (int)p->v[i].index) : NULL;
    }
  }
  return node;
}

int lf_json_equal(const cJSON *a, const cJSON *b){
  if( !a || !b ) return 0;
  if( cJSON_IsNumber(a) && cJSON_IsNumber(b) ) return a->valuedouble == b->valuedouble;
  if( cJSON_IsString(a) && cJSON_IsString(b) ) return strcmp(a->valuestring, b->valuestring)==0;
  if( cJSON_IsTrue(a) || cJSON_IsFalse(a) || cJSON_IsNull(a) ){
    return (a->type & 0xFF) == (b->type & 0xFF);
  }
  if( cJSON_IsArray(a) && cJSON_IsArray(b) ){
    const cJSON *x = a->child, *y = b->child;
    for(; x && y; x = x->next, y = y->next) if( !lf_json_equal(x, y) ) return 0;
    return !x && !y;
  }
  if( cJSON_IsObject(a) && cJSON_IsObject(b) ){
    if( cJSON_GetArraySize(a) != cJSON_GetArraySize(b) ) return 0;
    for(const cJSON *x = a->child; x; x = x->next){
      if( !lf_json_equal(x, cJSON_GetObjectItemCaseSensitive(b, x->string)) ) return 0;
    }
    return 1;
  }
  return 0;
}

/* Does the config's node satisfy term t? */
static int term_holds(const qterm *t, const cJSON *node){
  if( !node ) return 0;
  /* A component is compared by its loc, unless the value is an object. */
  const cJSON *loc = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, "loc") : NULL;
  if( cJSON_IsString(loc) && !cJSON_IsObject(t->lit) ) node = loc;
  if( cJSON_IsString(node) ){
    /* Unquoted 0.001 or true still matches the text "0.001" / "true". */
    return strcmp(node->valuestring, t->raw)==0;
  }
  if( t->quoted ) return 0;
  return lf_json_equal(t->lit, node);
}

int lf_query_match(const lf_query *q, const cJSON *cfg, const cJSON **value){
  const cJSON *node = NULL;
  if( value ) *value = NULL;
  for(int i=0; i<q->nterms; i++){
    node = resolve(cfg, &q->terms[i].path);
    if( !q->terms[i].lists && !term_holds(&q->terms[i], node) ) return 0;
  }
  if( value ) *value = node;
  return 1;
}

const cJSON *lf_json_at(const cJSON *root, const char *path){
  qpath p = {0};
  const char *why = NULL;
  const char *s = path;
  for(;;){
    const char *gt = strchr(s, '>');
    size_t len = gt ? (size_t)(gt - s) : strlen(s);
    if( parse_segment(s, len, &p, &why) ){ path_free(&p); return NULL; }
    if( !gt ) break;
    s = gt + 1;
  }
  const cJSON *node = resolve(root, &p);
  path_free(&p);
  return node;
}

/* Parses a plain path into p; -1 with *why when malformed. */
static int parse_plain_path(const char *path, qpath *p, const char **why){
  const char *s = path;
  for(;;){
    const char *gt = strchr(s, '>');
    size_t len = gt ? (size_t)(gt - s) : strlen(s);
    if( parse_segment(s, len, p, why) ) return -1;
    if( !gt ) return 0;
    s = gt + 1;
  }
}

int lf_json_set(cJSON *root, const char *path, cJSON *value, char *err, size_t n){
  qpath p = {0};
  const char *why = NULL;
  int rc = -1;
  if( parse_plain_path(path, &p, &why) ){
    snprintf(err, n, "path '%.80s': %s", path, why);
    goto done;
  }
  cJSON *node = root;
  for(int i=0; i<p.n; i++){
    const qstep *s = &p.v[i];
    int last = i == p.n - 1;
    cJSON *next = NULL;
    if( s->key ){
      if( !cJSON_IsObject(node) ){
        qpath head = { p.v, i, 0 };
        char *at = path_text(&head);
        snprintf(err, n, "path '%.80s': '%.80s' is not an object, it has no key '%.40s'", path, at ? at : "", s->key);
        free(at);
        goto done;
      }
      next = cJSON_GetObjectItemCaseSensitive(node, s->key);
      if( last ){
        /* A key the base does not write is an optional arg: added here,
        ** judged by the config's validation like any other arg. */
        if( next ) cJSON_ReplaceItemInObjectCaseSensitive(node, s->key, value);
        else cJSON_AddItemToObject(node, s->key, value);
        rc = 0;
        goto done;
      }
    }else{
      int size = cJSON_IsArray(node) ? cJSON_GetArraySize(node) : -1;
      if( s->index >= size ){
        qpath head = { p.v, i, 0 };
        char *at = path_text(&head);
        if( size < 0 ) snprintf(err, n, "path '%.80s': '%.80s' is not a list", path, at ? at : "");
        else snprintf(err, n, "path '%.80s': '%.80s' has %d items, no [%ld]", path, at ? at : "", size, s->index);
        free(at);
        goto done;
      }
      if( last ){
        cJSON_ReplaceItemInArray(node, (int)s->index, value);
        rc = 0;
        goto done;
      }
      next = cJSON_GetArrayItem(node, (int)s->index);
    }
    if( !next ){
      qpath head = { p.v, i + 1, 0 };
      char *at = path_text(&head);
      snprintf(err, n, "unknown path '%.80s': the base config has no '%.80s'", path, at ? at : "");
      free(at);
      goto done;
    }
    node = next;
  }
  snprintf(err, n, "empty path");
done:
  path_free(&p);
  return rc;
}

/* ---- flattening ------------------------------------------------------ */

typedef struct flat_acc {
  lf_flat *v;
  int n, cap;
  int oom;
} flat_acc;

static void flat_walk(flat_acc *a, const cJSON *node, const char *key){
  if( a->oom ) return;
  int container = cJSON_IsObject(node) || cJSON_IsArray(node);
  if( !container || !node->child ){
    if( a->n == a->cap ){
      int cap = a->cap ? 2*a->cap : 32;
      lf_flat *v = realloc(a->v, sizeof *v * (size_t)cap);
      if( !v ){ a->oom = 1; return; }
      a->v = v; a->cap = cap;
    }
    char *k = malloc(strlen(key) + 1);
    if( !k ){ a->oom = 1; return; }
    strcpy(k, key);
    a->v[a->n].key = k;
    a->v[a->n].value = node;
    a->n++;
    return;
  }
  size_t klen = strlen(key);
  int i = 0;
  for(const cJSON *c = node->child; c && !a->oom; c = c->next, i++){
    size_t need = klen + (c->string ? strlen(c->string) : 0) + 24;
    char *sub = malloc(need);
    if( !sub ){ a->oom = 1; return; }
    if( cJSON_IsObject(node) ) snprintf(sub, need, "%s%s%s", key, klen ? ">" : "", c->string ? c->string : "");
    else snprintf(sub, need, "%s[%d]", key, i);
    flat_walk(a, c, sub);
    free(sub);
  }
}

int lf_json_flatten(const cJSON *root, lf_flat **out, int *n){
  flat_acc a = {0};
  *out = NULL; *n = 0;
  if( root && root->child ){
    flat_walk(&a, root, "");
  }
  if( a.oom ){ lf_flat_free(a.v, a.n); return -1; }
  *out = a.v; *n = a.n;
  return 0;
}

void lf_flat_free(lf_flat *f, int n){
  if( !f ) return;
  for(int i=0; i<n; i++) free(f[i].key);
  free(f);
}
