/*
** lf_query.h — the config query language of ppl_filter / ppl_matching, and
** the flattening of a config into path=value pairs. No SQLite here, so it
** is unit-tested alone (tests/c/test_query.c).
**
** A query is a chain of pieces separated by '>':
**   key=value   compare the value at key (relative to the current place);
**               if that value is a component ({"loc": ..}), compare its loc,
**               then continue inside the component's "args":
**                 optimizer=Adam>lr=0.001
**   key         step into key without comparing (a plain path):
**                 optimizer>args>lr=0.001
**   key=        (last piece only) match everything so far and report the
**               value at key: model=   optimizer=Adam>lr=
** Keys may carry list indices: layers[1], and a piece may be only [i].
** All comparisons must hold (AND).
**
** Values: a number compares numerically with numbers (0.001 == 1e-3,
** 1 == 1.0) and as its exact text with strings; true/false/null compare
** with booleans/null (and as text with strings); "..." is a JSON string and
** compares with strings only (use it for text holding '>' or looking like
** a number); [..] / {..} compare structurally; anything else is a string.
*/
#ifndef LF_QUERY_H
#define LF_QUERY_H

#include <stddef.h>
#include <cjson/cJSON.h>

typedef struct lf_query lf_query;

/* Parses a query; NULL with err set ("query '<q>': <why>") if malformed. */
lf_query *lf_query_parse(const char *text, char *err, size_t n);
void lf_query_free(lf_query *q);

/* 1 if the query ends with a listing piece ("key=" with nothing after). */
int lf_query_lists(const lf_query *q);

/* The query's final path in plain form ("optimizer>args>lr"), owned by q. */
const char *lf_query_path(const lf_query *q);

/* 1 if cfg satisfies every comparison of q, else 0. If value is not NULL it
** receives the node at the query's final path (borrowed from cfg; NULL when
** the path does not exist). */
int lf_query_match(const lf_query *q, const cJSON *cfg, const cJSON **value);

/* Equality of two JSON values: numbers numerically, strings byte-wise,
** arrays element-wise, objects key-wise (any order). NULL equals nothing. */
int lf_json_equal(const cJSON *a, const cJSON *b);

/* The node at a plain path ("model>args>layers[1]>args>out"), or NULL if it
** does not exist or the path is malformed. */
const cJSON *lf_json_at(const cJSON *root, const char *path);

/* Sets the node at a plain path of root to value (owned by root on
** success). Every step but the last must exist; the last may be a new key
** of an existing object (an optional arg the config does not write).
** Returns 0, or -1 with err naming the step that is missing. */
int lf_json_set(cJSON *root, const char *path, cJSON *value, char *err, size_t n);

/* One leaf of a flattened config: key is a plain path (malloc'ed), value
** borrowed from the flattened tree (a scalar, or an empty object/list). */
typedef struct lf_flat {
  char *key;
  const cJSON *value;
} lf_flat;

/* Flattens root depth-first in document order: objects by key
** ("optimizer>args>lr"), lists by index ("layers[0]"). Returns 0 with
** *out malloc'ed (free with lf_flat_free), or -1 when out of memory. */
int lf_json_flatten(const cJSON *root, lf_flat **out, int *n);
void lf_flat_free(lf_flat *f, int n);

#endif
