/*
** lf_test.h — the tiny harness of the C unit tests. Every check prints one
** line, "PASS name" or "FAIL name: why"; tests/run.sh counts them.
** A test binary exits non-zero if any check failed.
*/
#ifndef LF_TEST_H
#define LF_TEST_H
#include <stdio.h>
#include <string.h>

static int lf_test_failed;

#define CHECK(cond, ...) do {                                   \
    int lf_check_ok_ = (cond) ? 1 : 0;                          \
    printf(lf_check_ok_ ? "PASS " : "FAIL ");                   \
    printf(__VA_ARGS__);                                        \
    if (!lf_check_ok_) { printf(" [%s:%d: %s]", __FILE__, __LINE__, #cond); lf_test_failed++; } \
    printf("\n"); fflush(stdout);                               \
  } while (0)

#define TEST_EXIT() return lf_test_failed ? 1 : 0

#endif
