/*
** lf_infer.h — ppl_evaluate: a trained pipeline measured on another data
** source (code: lf_infer.c; ppl_predict: lf_predict.h).
*/
#ifndef LF_INFER_H
#define LF_INFER_H

#include "lf_sqlite.h"

/* Loss and every metric of the model on another data source. */
char *lf_evaluate(sqlite3 *db, const char *pplid, const char *data_src,
                  const char *which, char *err, size_t n);

#endif
