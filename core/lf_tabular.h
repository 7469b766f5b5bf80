/*
** lf_tabular.h — what a pipeline with named inputs keeps from its
** training split: which feature columns are categorical, each categorical
** column's vocabulary, and the value that fills a missing entry.
**
** Categorical values become codes: 0 is the reserved unknown code (a value
** not seen in training, or a missing one when missing values are filled),
** 1..V the training split's distinct values in byte order. The same codes
** are used by ppl_predict, ppl_evaluate and a transferred bundle, because
** the vocabulary is stored in every weight file ("__tab_*" tensors).
*/
#ifndef LF_TABULAR_H
#define LF_TABULAR_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "lf_ckpt.h"

typedef struct lf_tabular {
  int ncols;               /* feature columns, in the order of the inputs */
  int *categorical;        /* per column: 1 categorical, 0 continuous */
  int *nvocab;             /* per column: distinct training values (0 if continuous) */
  char ***vocab;           /* per column: sorted values, or NULL */
  float *fill;             /* per column: a missing entry's value (raw units;
                           ** continuous: training mean; categorical: 0) */
} lf_tabular;

lf_tabular *lf_tabular_new(int ncols);
void lf_tabular_free(lf_tabular *t);
lf_tabular *lf_tabular_copy(const lf_tabular *t);

/* Code of a categorical value: 1 + its index in the vocabulary, or 0. */
int lf_tabular_code(const lf_tabular *t, int col, const char *value);

/* Cardinality of column col's codes (V + 1, the unknown code included),
** 0 for a continuous column. */
int lf_tabular_cardinality(const lf_tabular *t, int col);

/* Trims blanks at both ends into buf (values are compared trimmed);
** returns buf, or NULL if the value does not fit. */
const char *lf_tabular_trim(const char *s, size_t len, char *buf, size_t n);

/* Weight-file records: "__tab_kind" (int64 per column: cardinality, 0 if
** continuous), "__tab_fill" (float32 per column) and "__tab_vocab.<j>"
** (uint8: the values NUL-separated) per categorical column. *recs and the
** data they point to are malloc'ed into *owned (free with
** lf_tabular_recs_free). */
int lf_tabular_to_recs(const lf_tabular *t, lf_tensor_rec **recs, int *nrec);
void lf_tabular_recs_free(lf_tensor_rec *recs, int nrec);
/* Reads them back; NULL if the file has none; err set on damage. */
lf_tabular *lf_tabular_from_recs(const lf_tensor_rec *recs, int nrec, const char *path,
                                 char *err, size_t n);

#endif
