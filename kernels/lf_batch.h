/*
** lf_batch.h — copying a batch of samples out of a dataset's arrays into
** the buffers the net reads (training's shuffled batches, and evaluation's
** when targets must be widened).
*/
#ifndef LF_BATCH_H
#define LF_BATCH_H

#include <stdint.h>

/* A dataset's samples as the batch gather reads them: n samples of count
** values each, in x (f32) or, when x16 is not NULL, in x16 (bf16), and one
** target value each in y. */
typedef struct lf_batch_src {
  const float *x;
  const uint16_t *x16;
  const float *y;
  int64_t count;
} lf_batch_src;

/* Copies samples idx[start..start+nb) (start+i when idx is NULL) into the
** batch buffers: xb as f32, or as bf16 (x16, the net's compute type) when
** x16 is not NULL, from samples already in bf16 (src->x16) or converted on
** the way; each target is repeated tw times into yb. Rows are split across
** the OpenMP threads (oneDNN's pool) when the batch is large enough for
** that to pay; asynchronous signals are held meanwhile (lf_signals.h). */
void lf_batch_gather(const lf_batch_src *src, const int64_t *idx, int64_t start, int nb,
                     int tw, float *xb, uint16_t *x16, float *yb);

#endif
