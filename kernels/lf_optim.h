/*
** lf_optim.h — optimizers and learning-rate schedulers with the exact
** update rules of PyTorch 1.13 (SGD with momentum/nesterov/weight_decay,
** Adam, AdamW; StepLR, CosineAnnealingLR stepped once per epoch).
*/
#ifndef LF_OPTIM_H
#define LF_OPTIM_H

#include "lf_tensor.h"

typedef enum lf_optim_kind { LF_OPT_SGD = 1, LF_OPT_ADAM, LF_OPT_ADAMW } lf_optim_kind;
typedef enum lf_sched_kind { LF_SCHED_NONE = 0, LF_SCHED_STEP, LF_SCHED_COSINE } lf_sched_kind;

typedef struct lf_optim_spec {
  lf_optim_kind kind;
  double lr;                 /* required */
  double momentum;           /* SGD, default 0 */
  int nesterov;              /* SGD, default 0 */
  double weight_decay;       /* default 0 (SGD, Adam), 0.01 (AdamW) */
  double beta1, beta2, eps;  /* Adam/AdamW: 0.9, 0.999, 1e-8 */
  lf_sched_kind sched;
  int step_size;             /* StepLR */
  double gamma;              /* StepLR, default 0.1 */
  int t_max;                 /* CosineAnnealingLR */
  double eta_min;            /* CosineAnnealingLR, default 0 */
} lf_optim_spec;

typedef struct lf_optim lf_optim;

/* The optimizer updates the given params (those with grad != NULL).
** It keeps pointers to them; they must outlive it. */
lf_optim *lf_optim_create(const lf_optim_spec *s, lf_param *const *params,
                          int nparams);
void lf_optim_free(lf_optim *o);
void lf_optim_step(lf_optim *o);            /* one update from current grads */
void lf_optim_epoch_end(lf_optim *o);       /* advances the scheduler */
double lf_optim_lr(const lf_optim *o);      /* current learning rate */

/* State for exact resume: named float tensors (momentum buffers, exp_avg,
** exp_avg_sq, in param order) plus two counters. */
int lf_optim_state_count(const lf_optim *o);
lf_param *lf_optim_state(lf_optim *o, int i);  /* name, shape, data */
void lf_optim_get_counters(const lf_optim *o, int64_t *step, int64_t *epoch);
void lf_optim_set_counters(lf_optim *o, int64_t step, int64_t epoch);

#endif
