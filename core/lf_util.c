/*
** lf_util.c — small string helpers shared by core/ files.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_util.h"

char *lf_strf(const char *fmt, ...){
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if( k < 0 ) return NULL;
  char *s = malloc((size_t)k + 1);
  if( !s ) return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)k + 1, fmt, ap);
  va_end(ap);
  return s;
}

char *lf_path_join(const char *a, const char *b){
  return lf_strf("%s%s%s", a, a[0] && a[strlen(a)-1]=='/' ? "" : "/", b);
}

void lf_errf(char *err, size_t errlen, const char *fmt, ...){
  va_list ap;
  if( err == NULL || errlen == 0 ) return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}
