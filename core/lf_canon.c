/*
** lf_canon.c — canonical JSON text of a cJSON tree, and the config hash.
**
** Two configs that mean the same (key order, whitespace, 1 vs 1.0, \u00fc vs
** raw UTF-8) must hash the same, so we never use cJSON_Print: we walk the
** tree and write the form lf_canon.h specifies.
**
** Choices the header leaves open:
**   - Duplicate keys: cJSON keeps every member; we keep the LAST occurrence
**     (what Python, JavaScript and most parsers do).
**   - Control characters other than \b \f \n \r \t are written \u00xx with
**     lowercase hex (as Python's json and RFC 8785 do). DEL and "/" are kept.
**   - NaN, Inf (impossible from JSON text) and cJSON_Raw/cJSON_Invalid nodes
**     (never produced by the parser) are written as null.
**   - Strings are copied byte for byte; cJSON does not validate UTF-8 and
**     neither do we. A "\u0000" escape ends the string in cJSON, so such a
**     value canonicalises to its prefix.
*/
#include "lf_canon.h"
#include "lf_sha256.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable output buffer; after an allocation failure it stays failed
** and every later append is a no-op, so callers check once at the end. */
typedef struct lf_buf {
  char *z;
  size_t n, cap;
  int oom;
} lf_buf;

static void lf_buf_append(lf_buf *b, const char *s, size_t n){
  if( b->oom ) return;
  if( b->n + n + 1 > b->cap ){
    size_t cap = b->cap ? b->cap : 256;
    char *z;
    while( cap < b->n + n + 1 ) cap *= 2;
    z = realloc(b->z, cap);
    if( z == NULL ){ b->oom = 1; return; }
    b->z = z;
    b->cap = cap;
  }
  memcpy(b->z + b->n, s, n);
  b->n += n;
  b->z[b->n] = 0;
}

static void lf_buf_puts(lf_buf *b, const char *s){
  lf_buf_append(b, s, strlen(s));
}

/* Numbers: integral values in [-2^53, 2^53] as integers (exactly
** representable, so 1, 1.0 and 1e0 agree); anything else as the shortest
** of %.15g/%.16g/%.17g that reads back as the same double (%.17g always does). */
static void lf_canon_number(lf_buf *b, double d){
  char z[40];
  int prec;
  if( isnan(d) || isinf(d) ){
    lf_buf_puts(b, "null");
    return;
  }
  if( d == floor(d) && fabs(d) <= 9007199254740992.0 ){
    /* -0.0 converts to 0, so negative zero prints as "0". */
    snprintf(z, sizeof z, "%lld", (long long)d);
  }else{
    char *r, *w;
    for(prec = 15; prec <= 17; prec++){
      snprintf(z, sizeof z, "%.*g", prec, d);
      if( strtod(z, NULL) == d ) break;
    }
    /* A host application may have set a locale whose decimal point is ','
    ** or even multi-byte: the canonical text always has one '.' there. */
    for(r = w = z; *r; r++){
      if( (*r >= '0' && *r <= '9') || *r == '-' || *r == '+' || *r == 'e' ){
        *w++ = *r;
      }else if( w == z || w[-1] != '.' ){
        *w++ = '.';
      }
    }
    *w = 0;
  }
  lf_buf_puts(b, z);
}

/* Only the escapes JSON requires; bytes >= 0x80 pass through as UTF-8. */
static void lf_canon_string(lf_buf *b, const char *s){
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  const unsigned char *run = p;  /* start of bytes not yet copied */
  lf_buf_append(b, "\"", 1);
  for(; *p; p++){
    char esc[8];
    const char *e = NULL;
    if( *p == '"' ) e = "\\\"";
    else if( *p == '\\' ) e = "\\\\";
    else if( *p < 0x20 ){
      switch( *p ){
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default:
          snprintf(esc, sizeof esc, "\\u%04x", *p);
          e = esc;
      }
    }
    if( e ){
      lf_buf_append(b, (const char *)run, (size_t)(p - run));
      lf_buf_puts(b, e);
      run = p + 1;
    }
  }
  lf_buf_append(b, (const char *)run, (size_t)(p - run));
  lf_buf_append(b, "\"", 1);
}

/* An object member with its position, so equal keys sort in input order
** and the last one can be picked. */
typedef struct lf_member {
  const cJSON *item;
  size_t pos;
} lf_member;

static const char *lf_member_key(const lf_member *m){
  return m->item->string ? m->item->string : "";
}

/* strcmp compares as unsigned char, i.e. by UTF-8 bytes. */
static int lf_member_cmp(const void *a, const void *b){
  const lf_member *x = a, *y = b;
  int c = strcmp(lf_member_key(x), lf_member_key(y));
  if( c ) return c;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void lf_canon_value(lf_buf *b, const cJSON *v);

static void lf_canon_object(lf_buf *b, const cJSON *v){
  const cJSON *c;
  lf_member *m;
  size_t n = 0, i;
  int first = 1;
  for(c = v->child; c; c = c->next) n++;
  if( n == 0 ){
    lf_buf_puts(b, "{}");
    return;
  }
  m = malloc(n * sizeof *m);
  if( m == NULL ){ b->oom = 1; return; }
  for(c = v->child, i = 0; c; c = c->next, i++){
    m[i].item = c;
    m[i].pos = i;
  }
  qsort(m, n, sizeof *m, lf_member_cmp);
  lf_buf_append(b, "{", 1);
  for(i = 0; i < n; i++){
    /* Of a run of equal keys only the last (in input order) is written. */
    if( i + 1 < n && strcmp(lf_member_key(&m[i]), lf_member_key(&m[i+1])) == 0 ){
      continue;
    }
    if( !first ) lf_buf_append(b, ",", 1);
    first = 0;
    lf_canon_string(b, lf_member_key(&m[i]));
    lf_buf_append(b, ":", 1);
    lf_canon_value(b, m[i].item);
  }
  lf_buf_append(b, "}", 1);
  free(m);
}

/* Recursion depth is bounded by cJSON's parse nesting limit (1000). */
static void lf_canon_value(lf_buf *b, const cJSON *v){
  const cJSON *c;
  switch( v->type & 0xFF ){
    case cJSON_False:  lf_buf_puts(b, "false"); break;
    case cJSON_True:   lf_buf_puts(b, "true"); break;
    case cJSON_NULL:   lf_buf_puts(b, "null"); break;
    case cJSON_Number: lf_canon_number(b, v->valuedouble); break;
    case cJSON_String: lf_canon_string(b, v->valuestring); break;
    case cJSON_Array:
      lf_buf_append(b, "[", 1);
      for(c = v->child; c; c = c->next){
        if( c != v->child ) lf_buf_append(b, ",", 1);
        lf_canon_value(b, c);
      }
      lf_buf_append(b, "]", 1);
      break;
    case cJSON_Object: lf_canon_object(b, v); break;
    default:           lf_buf_puts(b, "null"); break;
  }
}

char *lf_canon_json(const cJSON *v){
  lf_buf b = {NULL, 0, 0, 0};
  if( v ) lf_canon_value(&b, v);
  else lf_buf_puts(&b, "null");
  if( b.oom ){
    free(b.z);
    return NULL;
  }
  return b.z;
}

int lf_config_hash(const cJSON *v, char hex[65]){
  static const char digits[] = "0123456789abcdef";
  uint8_t d[32];
  int i;
  char *text = lf_canon_json(v);
  if( text == NULL ) return -1;
  lf_sha256(text, strlen(text), d);
  free(text);
  for(i = 0; i < 32; i++){
    hex[2*i] = digits[d[i] >> 4];
    hex[2*i+1] = digits[d[i] & 15];
  }
  hex[64] = 0;
  return 0;
}
