/*
** lf_optim.h — optimizers and learning-rate schedulers with the exact
** update rules of PyTorch 1.13 (SGD with momentum/nesterov/weight_decay,
** Adam, AdamW, RMSprop; StepLR, CosineAnnealingLR, LinearLR and
** ReduceLROnPlateau stepped once per epoch, OneCycleLR once per batch),
** and gradient clipping by global norm (torch.nn.utils.clip_grad_norm_).
*/
#ifndef LF_OPTIM_H
#define LF_OPTIM_H

#include "lf_tensor.h"

typedef enum lf_optim_kind { LF_OPT_SGD = 1, LF_OPT_ADAM, LF_OPT_ADAMW, LF_OPT_RMSPROP } lf_optim_kind;
typedef enum lf_sched_kind {
  LF_SCHED_NONE = 0, LF_SCHED_STEP, LF_SCHED_COSINE,
  LF_SCHED_LINEAR,     /* LinearLR: linear warm-up (or decay) per epoch */
  LF_SCHED_ONECYCLE,   /* OneCycleLR: per batch, lr and momentum */
  LF_SCHED_PLATEAU     /* ReduceLROnPlateau: per epoch, on a quantity */
} lf_sched_kind;

/* A scheduler given by a function (a plugin's, core/lf_plugin.c): the
** learning rate after `epoch` epochs from the optimizer's lr, in closed
** form, so resuming from the epoch counter is exact. Stepped per epoch. */
typedef struct lf_sched_fn {
  double (*lr_at)(const void *args, double base_lr, int64_t epoch);
} lf_sched_fn;

/* An optimizer given by a function (a plugin's, core/lf_plugin.c). Each
** trainable param gets nstate zeroed float buffers of its size, named
** "<param>.<state_names[j]>" in checkpoints (exact resume). step updates
** one param in place from its grad: lr is the scheduled rate, t the step
** number (1 for the first), decay 1 for weights that take weight decay. */
#define LF_OPTIM_FN_MAX_STATE 4
#define LF_OPTIM_FN_ARGS_BYTES 256
typedef struct lf_optim_fn {
  int nstate;
  const char *state_names[LF_OPTIM_FN_MAX_STATE];
  void (*step)(const void *args, double lr, int64_t t, float *w, const float *g,
               int64_t n, int decay, float *const *state);
} lf_optim_fn;

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
  /* Fields below were added after the ones above; keep new ones last so
  ** positional initialisers stay valid. */
  double alpha;              /* RMSprop smoothing constant, 0.99 */
  int centered;              /* RMSprop: divide by the centred variance */
  double grad_clip;          /* max global L2 norm of all grads; 0: off */
  double start_factor, end_factor;  /* LinearLR: 1/3 -> 1 */
  int total_iters;           /* LinearLR: epochs of the ramp, 5 */
  double max_lr;             /* OneCycleLR peak lr (required) */
  int64_t total_steps;       /* OneCycleLR: batches; 0: epochs*steps_per_epoch */
  int cycle_epochs;          /* OneCycleLR "epochs" when total_steps is 0 */
  int64_t steps_per_epoch;   /* set by the trainer: batches per epoch */
  double pct_start;          /* OneCycleLR: 0.3 */
  int anneal_linear;         /* OneCycleLR: 0 cos, 1 linear */
  double div_factor, final_div_factor;   /* OneCycleLR: 25, 1e4 */
  int three_phase;           /* OneCycleLR */
  int cycle_momentum;        /* OneCycleLR: 1 */
  double base_momentum, max_momentum;    /* OneCycleLR: 0.85, 0.95 */
  int plateau_max;           /* ReduceLROnPlateau: mode "max" */
  double factor;             /* ReduceLROnPlateau: 0.1 */
  int patience;              /* ReduceLROnPlateau: 10 */
  double threshold;          /* ReduceLROnPlateau: 1e-4 */
  int threshold_abs;         /* ReduceLROnPlateau: threshold_mode "abs" */
  int cooldown;              /* ReduceLROnPlateau: 0 */
  double min_lr;             /* ReduceLROnPlateau: 0 */
  double plateau_eps;        /* ReduceLROnPlateau: 1e-8 */
  char *monitor;             /* ReduceLROnPlateau quantity (owned by the
                             ** config; the kernel never reads it) */
  char *mode_str, *threshold_mode_str;   /* as written (owned likewise) */
  char *anneal_str;          /* OneCycleLR anneal_strategy (owned likewise) */
  const lf_sched_fn *sched_fn;  /* a plugin scheduler (sched is then NONE) */
  void *sched_args;          /* its args struct (owned by the config) */
  const lf_optim_fn *optim_fn;  /* a plugin optimizer (kind is then 0) */
  double fn_args[LF_OPTIM_FN_ARGS_BYTES / sizeof(double)];  /* its args
                             ** struct, inline: the spec is copied whole */
} lf_optim_spec;

typedef struct lf_optim lf_optim;

/* The optimizer updates the given params (those with grad != NULL).
** It keeps pointers to them; they must outlive it. */
lf_optim *lf_optim_create(const lf_optim_spec *s, lf_param *const *params,
                          int nparams);
void lf_optim_free(lf_optim *o);
void lf_optim_step(lf_optim *o);            /* one update from current grads */
void lf_optim_epoch_end(lf_optim *o);       /* advances the scheduler */
/* ReduceLROnPlateau: the epoch's monitored quantity; call once per epoch
** before lf_optim_epoch_end. No-op for other schedulers. */
void lf_optim_plateau_step(lf_optim *o, double value);
double lf_optim_lr(const lf_optim *o);      /* current learning rate */

/* State for exact resume: named float tensors (momentum buffers, exp_avg,
** exp_avg_sq, in param order) plus two counters. */
int lf_optim_state_count(const lf_optim *o);
lf_param *lf_optim_state(lf_optim *o, int i);  /* name, shape, data */
void lf_optim_get_counters(const lf_optim *o, int64_t *step, int64_t *epoch);
void lf_optim_set_counters(lf_optim *o, int64_t step, int64_t epoch);
/* Scheduler state that is not a function of the counters
** (ReduceLROnPlateau: lr, best, bad epochs, cooldown), as 4 int64 words
** (doubles bit for bit). Set it after lf_optim_set_counters. */
#define LF_OPTIM_SCHED_WORDS 4
void lf_optim_get_sched_state(const lf_optim *o, int64_t w[LF_OPTIM_SCHED_WORDS]);
void lf_optim_set_sched_state(lf_optim *o, const int64_t w[LF_OPTIM_SCHED_WORDS]);
/* Global L2 norm of the gradients before clipping in the last step
** (0 before any step, or when grad_clip is off). */
double lf_optim_last_grad_norm(const lf_optim *o);

#endif
