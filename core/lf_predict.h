/*
** lf_predict.h — inputs and outputs of a trained model, shared by
** ppl_predict (one value: a sample or a list) and ppl_predict_rows (one
** sample per row of a query).
**
** Inputs are in the units of the dataset's source rows; the dataset's scale
** and the training split's standardisation are applied as in training.
** An input is:
**   - a BLOB of uint8 holding exactly one sample (count(shape) bytes: an
**     image row as the data had it), or of float32 holding one or more
**     samples (a multiple of 4 * count(shape) bytes);
**   - a JSON array: one sample (flat, or nested like the shape) or a list
**     of samples;
**   - a JSON object by column name, or a JSON array of them, when the
**     dataset names its feature columns (args "features"): the values of
**     those columns in the config's order (other keys are ignored).
** Outputs are JSON text: mode raw (outputs), proba (softmax, or sigmoid for
** BCEWithLogitsLoss) or class (index, or text label).
*/
#ifndef LF_PREDICT_H
#define LF_PREDICT_H

#include "lf_model_cache.h"

typedef enum lf_predict_mode { LF_PREDICT_RAW, LF_PREDICT_PROBA, LF_PREDICT_CLASS } lf_predict_mode;

/* "raw", "proba" or "class"; -1 for anything else. */
int lf_predict_mode_parse(const char *s, lf_predict_mode *mode);
/* -1 with err when the mode needs a classification loss the model lacks. */
int lf_predict_check_mode(const lf_model *m, lf_predict_mode mode, char *err, size_t n);

/* Parses one input (json text, or blob when blob != NULL) into *x
** (malloc'ed, nsamples * count(in) floats, raw units). *one_sample is 1
** when the input was a single sample rather than a list. */
int lf_predict_parse_input(const lf_model *m, const char *json, const void *blob, int blob_len,
                           float **x, int64_t *nsamples, int *one_sample, char *err, size_t n);

/* Scale and standardise raw samples in place, as the dataset loader did. */
void lf_predict_transform(const lf_model *m, float *x, int64_t nsamples);

/* Appends the JSON text of one sample's prediction y (count(out) values). */
void lf_predict_format(const lf_cached_model *e, const float *y, lf_predict_mode mode, sqlite3_str *out);

/* ppl_predict: the prediction for one input, as JSON text (sqlite3_free),
** or NULL with err. which: "best", "last" or an epoch number as text.
** stamp: NULL, or the calling statement's stamp (lf_model_cache_get_stmt). */
char *lf_predict(lf_model_cache *c, sqlite3 *db, const char *pplid, const char *which,
                 const char *json, const void *blob, int blob_len, lf_predict_mode mode,
                 uint64_t *stamp, char *err, size_t n);

#endif
