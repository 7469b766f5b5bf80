/*
** lf_util.h — small string helpers shared by core/ files.
*/
#ifndef LF_UTIL_H
#define LF_UTIL_H

#include <stddef.h>

/* printf into a malloc'ed string; NULL on out of memory. */
char *lf_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* malloc'ed "<a>/<b>" (no doubled slash). */
char *lf_path_join(const char *a, const char *b);

/* printf into err[errlen] (nothing when err is NULL or errlen 0). */
void lf_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
