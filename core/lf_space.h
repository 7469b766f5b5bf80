/*
** lf_space.h — the search space of ppl_sweep and the parameter sets drawn
** from it. No SQLite here, so it is unit-tested alone (tests/c/test_space.c).
**
** A space is a JSON object mapping config paths (the plain path form of
** ppl_filter: "optimizer>args>lr", "model>args>layers[1]>args>out") to
**   [v1, v2, ...]              a list of values
**   {"choice": [v1, ...]}      the same, spelled as a distribution
**   {"uniform": [a, b]}        a real drawn uniformly from [a, b)
**   {"log_uniform": [a, b]}    exp of a uniform draw in [ln a, ln b), 0 < a
**   {"int": [a, b]}            an integer from a to b inclusive
**
** grid: the product of the lists (choice and int count as lists), in the
** order the paths are written, the last path varying fastest, like
** itertools.product. random: `count` draws from a xoshiro256** stream
** seeded with `seed`; each draw takes one value per path in written order;
** a draw equal to an earlier one is drawn again, so the members differ.
*/
#ifndef LF_SPACE_H
#define LF_SPACE_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

/* Sweeps larger than this are refused: every member is a pipeline. */
#define LF_SPACE_MAX_MEMBERS 1000

typedef enum lf_dist_kind {
  LF_DIST_LIST, LF_DIST_UNIFORM, LF_DIST_LOG_UNIFORM, LF_DIST_INT
} lf_dist_kind;

typedef struct lf_space_dim {
  char *path;
  lf_dist_kind kind;
  cJSON *values;          /* LF_DIST_LIST: the values (owned) */
  double a, b;            /* the distributions' bounds */
} lf_space_dim;

typedef struct lf_space {
  lf_space_dim *dims;
  int ndims;
} lf_space;

/* Parses and checks a space: paths well formed and not overlapping (one a
** prefix of another), lists non-empty without repeats, bounds finite with
** a <= b (a > 0 for log_uniform, integers for int). 0, or -1 with err. */
int lf_space_parse(const char *json, lf_space *sp, char *err, size_t n);
void lf_space_free(lf_space *sp);

/* The members' parameter sets as a JSON array of objects {path: value},
** in member order; NULL with err (a real distribution in a grid, too many
** members, too few distinct draws, out of memory). */
cJSON *lf_space_grid(const lf_space *sp, char *err, size_t n);
cJSON *lf_space_random(const lf_space *sp, int count, uint64_t seed, char *err, size_t n);

#endif
