/*
** lf_loss.h — loss functions (mean reduction, as PyTorch's defaults).
*/
#ifndef LF_LOSS_H
#define LF_LOSS_H

#include "lf_tensor.h"

typedef enum lf_loss_kind {
  LF_LOSS_CROSS_ENTROPY = 1,  /* y: logits (batch,K); target: class index */
  LF_LOSS_MSE,                /* y and target: (batch,K) */
  LF_LOSS_L1,
  LF_LOSS_BCE_WITH_LOGITS,    /* y: logits (batch,K); target in [0,1] */
  LF_LOSS_HUBER               /* y and target: (batch,K) */
} lf_loss_kind;

/* A loss given by functions instead of a built-in kind (a plugin's loss,
** core/lf_plugin.c). compute has lf_loss_compute's contract, reading its
** own args struct. */
typedef struct lf_loss_fn {
  int classification;         /* 1: targets are class indices */
  double (*compute)(const void *args, const float *y, const float *target,
                    int batch, int nout, float *dy);
} lf_loss_fn;

typedef struct lf_loss_spec {
  lf_loss_kind kind;          /* 0 when fn is set */
  double label_smoothing;     /* CrossEntropyLoss only, default 0 */
  double pos_weight;          /* BCEWithLogitsLoss: weight of the positive
                              ** term; 0 means not given (weight 1) */
  double delta;               /* HuberLoss: > 0 (the registry's default 1) */
  const lf_loss_fn *fn;       /* a plugin loss, else NULL */
  void *fn_args;              /* its args struct (owned by the spec's owner) */
} lf_loss_spec;

/* Returns the mean loss over the batch. target holds batch floats (class
** indices) for cross-entropy, else batch*nout floats. If dy is not NULL it
** receives dLoss/dy (batch*nout floats). */
double lf_loss_compute(const lf_loss_spec *s, const float *y,
                       const float *target, int batch, int nout, float *dy);

/* True if the loss takes class indices as targets (cross-entropy). */
int lf_loss_is_classification(const lf_loss_spec *s);

/* Outputs read as probabilities (ppl_predict's proba), in double. Softmax
** of a row y[0..n): lf_softmax_norm gives its max and sum of exp(y - max),
** then each value's probability is lf_softmax_prob(y[k], mx, z). A
** BCEWithLogitsLoss output's is lf_sigmoid(y[k]). */
void lf_softmax_norm(const float *y, int n, double *mx, double *z);
double lf_softmax_prob(double v, double mx, double z);
double lf_sigmoid(double v);

#endif
