/*
** lf_metric.h — evaluation metrics accumulated over batches.
*/
#ifndef LF_METRIC_H
#define LF_METRIC_H

#include "lf_tensor.h"

typedef enum lf_metric_kind {
  LF_MET_ACCURACY = 1, LF_MET_PRECISION, LF_MET_RECALL, LF_MET_F1, /* macro */
  LF_MET_AUROC,      /* binary: score = sigmoid(y) if nout==1 else softmax[1] */
  LF_MET_MAE, LF_MET_RMSE, LF_MET_R2,
  LF_MET_AUPRC,      /* binary average precision, scores as AUROC */
  LF_MET_TOPK        /* label among the k highest outputs */
} lf_metric_kind;

/* A metric given by functions instead of a built-in kind (a plugin's
** metric, core/lf_plugin.c): create makes its accumulator for nout outputs
** (NULL: out of memory), update adds a batch (as lf_metric_update), value
** finishes (NAN when undefined), reset empties it, destroy frees it. */
typedef struct lf_metric_fn {
  void *(*create)(const void *args, int nout);
  void (*reset)(void *acc);
  void (*update)(void *acc, const float *y, const float *target, int batch);
  double (*value)(const void *acc);
  void (*destroy)(void *acc);
} lf_metric_fn;

/* Arguments of the metrics that take some (filled from the config). */
typedef struct lf_metric_args {
  int k;             /* TopKAccuracy, >= 1 */
  const lf_metric_fn *fn;  /* a plugin metric (kind 0), else NULL */
  void *fn_args;     /* its args struct (owned by the spec's owner) */
} lf_metric_args;

typedef struct lf_metric lf_metric;

/* Index of the largest of row[0..n) (the first on ties): the predicted
** class of a multi-class output row. */
int lf_argmax(const float *row, int n);

/* nout: model output width (classes for classification). */
lf_metric *lf_metric_create(lf_metric_kind kind, int nout);
/* The same with the metric's arguments (NULL: defaults; TopKAccuracy
** needs k). */
lf_metric *lf_metric_create_args(lf_metric_kind kind, int nout,
                                 const lf_metric_args *args);
void lf_metric_free(lf_metric *m);
void lf_metric_reset(lf_metric *m);
/* y: batch*nout model outputs; target: as for lf_loss_compute (class
** indices for classification metrics, batch*nout values for regression). */
void lf_metric_update(lf_metric *m, const float *y, const float *target,
                      int batch);
double lf_metric_value(const lf_metric *m);

#endif
