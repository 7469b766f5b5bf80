/*
** lf_args.c — the SQL functions' argument checks and error reporting
** (declared in lf_ext.h): text, JSON and pplid arguments.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "lf_ext.h"
#include "../core/lf_db.h"
#include "../core/lf_pplid.h"

void lf_errorf(sqlite3_context *ctx, const char *fmt, ...){
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sqlite3_result_error(ctx, msg, -1);
}

const char *lf_value_type_name(sqlite3_value *v){
  return lf_sqlite_type_name(sqlite3_value_type(v));
}

const char *lf_value_pplid(sqlite3_value *v, char *err, size_t n){
  if( sqlite3_value_type(v) != SQLITE_TEXT ){
    snprintf(err, n, "pplid must be text, got %s", lf_value_type_name(v));
    return NULL;
  }
  const char *s = (const char*)sqlite3_value_text(v);
  if( !s ){ snprintf(err, n, "out of memory"); return NULL; }
  if( lf_pplid_check(s, sqlite3_value_bytes(v), err, n) ) return NULL;
  return s;
}

int lf_value_flag(sqlite3_value *v, const char *what, char *err, size_t n){
  int t = v ? sqlite3_value_type(v) : SQLITE_NULL;
  if( t==SQLITE_NULL ) return 0;
  if( t != SQLITE_INTEGER && t != SQLITE_FLOAT ){
    snprintf(err, n, "%s must be 0 or 1, got %s", what, lf_value_type_name(v));
    return -1;
  }
  double d = sqlite3_value_double(v);
  if( d != 0.0 && d != 1.0 ){
    snprintf(err, n, "%s must be 0 or 1, got %g", what, d);
    return -1;
  }
  return d != 0.0;
}

const char *lf_arg_text(sqlite3_context *ctx, sqlite3_value **argv, int i, const char *what){
  if( sqlite3_value_type(argv[i]) != SQLITE_TEXT ){
    lf_errorf(ctx, "%s must be text, got %s", what, lf_value_type_name(argv[i]));
    return NULL;
  }
  return (const char*)sqlite3_value_text(argv[i]);
}

/* 1 if the n bytes are well-formed UTF-8 without NUL bytes. */
static int utf8_text_ok(const unsigned char *z, int n){
  for(int i=0; i<n; ){
    unsigned c = z[i];
    int len = c < 0x80 ? 1 : (c>>5)==0x6 ? 2 : (c>>4)==0xE ? 3 : (c>>3)==0x1E ? 4 : 0;
    if( c==0 || len==0 || i + len > n ) return 0;
    if( len==2 && c < 0xC2 ) return 0;                       /* overlong */
    for(int k=1; k<len; k++) if( (z[i+k] & 0xC0) != 0x80 ) return 0;
    if( len==3 ){
      unsigned cp = ((c & 0xF)<<12) | ((z[i+1] & 0x3Fu)<<6) | (z[i+2] & 0x3Fu);
      if( cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF) ) return 0;
    }
    if( len==4 ){
      unsigned cp = ((c & 0x7)<<18) | ((z[i+1] & 0x3Fu)<<12) | ((z[i+2] & 0x3Fu)<<6) | (z[i+3] & 0x3Fu);
      if( cp < 0x10000 || cp > 0x10FFFF ) return 0;
    }
    i += len;
  }
  return 1;
}

const char *lf_arg_json(sqlite3_context *ctx, sqlite3_value **argv, int i, const char *what){
  int t = sqlite3_value_type(argv[i]);
  if( t==SQLITE_TEXT ) return (const char*)sqlite3_value_text(argv[i]);
  if( t==SQLITE_NULL ){
    lf_errorf(ctx, "%s is NULL; pass JSON text. If it came from readfile('...'), the file may be missing "
              "or unreadable: readfile() returns NULL then, and a relative path is relative to the "
              "directory the program was started in", what);
    return NULL;
  }
  if( t==SQLITE_BLOB ){
    const unsigned char *z = sqlite3_value_blob(argv[i]);
    int n = sqlite3_value_bytes(argv[i]);
    if( n > 0 && !utf8_text_ok(z, n) ){
      lf_errorf(ctx, "%s is a BLOB that is not UTF-8 text (NUL bytes or invalid UTF-8); pass JSON text", what);
      return NULL;
    }
    /* The value becomes text in place: the same bytes, NUL-terminated. */
    const char *s = (const char*)sqlite3_value_text(argv[i]);
    if( !s ){ sqlite3_result_error_nomem(ctx); return NULL; }
    return s;
  }
  lf_errorf(ctx, "%s must be JSON text (or a BLOB of UTF-8 JSON, as readfile() returns), got %s", what,
            t==SQLITE_INTEGER ? "an integer" : "a real");
  return NULL;
}

const char *lf_arg_pplid(sqlite3_context *ctx, sqlite3_value **argv, int i,
                         const char *fn){
  char err[256];
  const char *s = lf_value_pplid(argv[i], err, sizeof err);
  if( !s ) lf_errorf(ctx, "%s: %s", fn, err);
  return s;
}

int lf_arg_flag(sqlite3_context *ctx, sqlite3_value **argv, int argc, int i,
                const char *fn, const char *what, int *out){
  char err[256];
  *out = lf_value_flag(i < argc ? argv[i] : NULL, what, err, sizeof err);
  if( *out < 0 ){
    lf_errorf(ctx, "%s: %s", fn, err);
    return -1;
  }
  return 0;
}
