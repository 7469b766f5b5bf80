/*
** lf_optim.c — SGD, Adam, AdamW and RMSprop with the update rules of
** PyTorch 1.13 (torch/optim/{sgd,adam,adamw,rmsprop}.py, the
** _single_tensor_* paths); StepLR, CosineAnnealingLR and LinearLR in closed
** form per epoch, OneCycleLR in closed form per batch (lr and momentum /
** beta1, torch/optim/lr_scheduler.py), ReduceLROnPlateau as a small state
** machine fed one value per epoch; clip_grad_norm_ before each update.
**
** lf_optim_step() is on the hot path of every training step: it allocates
** nothing and makes one fused pass over each parameter. Element math is
** done in float with float-rounded coefficients, as torch does on float32
** tensors, so results agree with torch to the last bits or so.
**
** Weight decay applies only to params with decay==1 (the network decides,
** like a torch param group with weight_decay=0 for biases); the others
** are updated with weight_decay 0.
**
** All state (moment buffers, step and epoch counters) is exposed through
** lf_optim_state() / lf_optim_{get,set}_counters() for exact resume.
*/
#include "lf_optim.h"
#include "lf_signals.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
# include <omp.h>
#endif

/* One step is one OpenMP parallel region over all parameters (on oneDNN's
** OpenMP pool: there is no other), each thread updating its slice of every
** tensor; small nets stay serial (a region costs more than their update).
** Elements are independent, so the split never changes a result.
**
** The element loops are compiled twice, for AVX-512 and for the baseline
** ISA, and picked once at run time: at the project's -O2 without -march
** GCC would only use 128-bit vectors. Both compute the same float
** operations in the same order (no FMA contraction under -std=c11), so the
** results are bit-identical on every machine. GCC's -O2 cost model skips
** loops of unknown length, and sqrtf's errno handling blocks vectorising
** Adam (v is never negative, so errno is moot here): hence the
** per-function optimize attributes. */
#define LF_OPTIM_PAR_MIN 65536
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
# define LF_OPT_ATTR __attribute__((noinline, optimize("no-math-errno", \
                                    "vect-cost-model=dynamic")))
# define LF_OPT_AVX512 __attribute__((noinline, target("avx512f,avx512bw,\
avx512dq,avx512vl,prefer-vector-width=512"), optimize("no-math-errno", \
                                    "vect-cost-model=dynamic")))
# define LF_HAVE_AVX512_CLONE 1
#elif defined(__GNUC__) && !defined(__clang__)
# define LF_OPT_ATTR __attribute__((noinline, optimize("no-math-errno", \
                                    "vect-cost-model=dynamic")))
#else
# define LF_OPT_ATTR
#endif

/* Coefficients of one step, shared by every element loop. */
typedef struct lf_coef {
  int kind, first, nesterov, centered;
  float lr, wd, mom;                       /* SGD, RMSprop */
  float b1, c1, b2, c2, neg_step, bc2_sqrt, eps, keep;   /* Adam(W) */
  float alpha, c_alpha;                    /* RMSprop */
} lf_coef;

struct lf_optim {
  lf_optim_spec spec;
  int nparams;              /* trainable params only */
  lf_param **params;        /* borrowed; owned by the network */
  int nstate;               /* 0, 1 or 2 buffers per param */
  int nper;                 /* buffers per param */
  lf_param *state;          /* nparams*nper, data owned here */
  int64_t step;             /* optimizer steps taken */
  int64_t epoch;            /* epochs ended (scheduler position) */
  double lr;                /* current learning rate */
  double mom;               /* current momentum (SGD, RMSprop) or beta1 */
  int has_buf, has_gavg;    /* RMSprop: momentum buffer, grad average */
  /* ReduceLROnPlateau */
  double best;
  int64_t num_bad, cooldown_left;
  double grad_norm;         /* before clipping, last step */
  lf_coef *coef;            /* nparams, rewritten every step */
};

/* OneCycleLR's annealing between two values, pct in [0,1]. */
static double lf_anneal(int linear, double start, double end, double pct){
  if( linear ) return (end - start) * pct + start;
  return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0);
}

static int64_t lf_onecycle_total(const lf_optim_spec *s){
  if( s->total_steps>0 ) return s->total_steps;
  return (int64_t)s->cycle_epochs * s->steps_per_epoch;
}

/* OneCycleLR at batch k (torch's get_lr with last_epoch = k): lr and, if
** cycled, momentum. Past the last step both stay at their final values
** (torch raises instead). */
static void lf_onecycle_at(const lf_optim_spec *s, int64_t k, double *lr, double *mom){
  double total = (double)lf_onecycle_total(s);
  double initial = s->max_lr / s->div_factor;
  double min_lr = initial / s->final_div_factor;
  double end[3], lr0[3], lr1[3], m0[3], m1[3];
  int nph, i;
  double start = 0.0, step;
  if( s->three_phase ){
    nph = 3;
    end[0] = s->pct_start * total - 1.0;       lr0[0] = initial; lr1[0] = s->max_lr;
    m0[0] = s->max_momentum; m1[0] = s->base_momentum;
    end[1] = 2.0 * s->pct_start * total - 2.0; lr0[1] = s->max_lr; lr1[1] = initial;
    m0[1] = s->base_momentum; m1[1] = s->max_momentum;
    end[2] = total - 1.0;                      lr0[2] = initial; lr1[2] = min_lr;
    m0[2] = s->max_momentum; m1[2] = s->max_momentum;
  }else{
    nph = 2;
    end[0] = s->pct_start * total - 1.0;       lr0[0] = initial; lr1[0] = s->max_lr;
    m0[0] = s->max_momentum; m1[0] = s->base_momentum;
    end[1] = total - 1.0;                      lr0[1] = s->max_lr; lr1[1] = min_lr;
    m0[1] = s->base_momentum; m1[1] = s->max_momentum;
  }
  if( k > (int64_t)total - 1 ) k = (int64_t)total - 1;
  step = (double)k;
  for(i=0; i<nph; i++){
    if( step <= end[i] || i==nph-1 ){
      double pct = (step - start) / (end[i] - start);
      *lr = lf_anneal(s->anneal_linear, lr0[i], lr1[i], pct);
      if( s->cycle_momentum ) *mom = lf_anneal(s->anneal_linear, m0[i], m1[i], pct);
      return;
    }
    start = end[i];
  }
}

/* Learning rate after `epoch` scheduler steps, in closed form (torch's
** _get_closed_form_lr). Malformed schedule parameters leave lr constant. */
static double lf_sched_lr(const lf_optim_spec *s, int64_t epoch){
  if( s->sched_fn ){
    double lr = s->sched_fn->lr_at(s->sched_args, s->lr, epoch);
    return isfinite(lr) && lr >= 0.0 ? lr : s->lr;
  }
  switch( s->sched ){
    case LF_SCHED_STEP:
      if( s->step_size<=0 ) return s->lr;
      return s->lr * pow(s->gamma, (double)(epoch / s->step_size));  /* NOLINT(bugprone-integer-division): floored, as PyTorch's StepLR */
    case LF_SCHED_COSINE:
      if( s->t_max<=0 ) return s->lr;
      return s->eta_min + (s->lr - s->eta_min)
             * (1.0 + cos(M_PI * (double)epoch / (double)s->t_max)) / 2.0;
    case LF_SCHED_LINEAR: {
      int64_t e = epoch < s->total_iters ? epoch : s->total_iters;
      return s->lr * (s->start_factor + (s->end_factor - s->start_factor)
                      * (double)e / (double)s->total_iters);
    }
    case LF_SCHED_ONECYCLE: {
      double lr = s->lr, mom = 0;
      lf_onecycle_at(s, 0, &lr, &mom);
      return lr;
    }
    case LF_SCHED_PLATEAU:
    case LF_SCHED_NONE:
      break;
  }
  return s->lr;
}

/* The momentum (beta1 for Adam/AdamW) the optimizer starts with. */
static double lf_base_momentum(const lf_optim_spec *s){
  if( s->sched==LF_SCHED_ONECYCLE && s->cycle_momentum ) return s->max_momentum;
  return (s->kind==LF_OPT_ADAM || s->kind==LF_OPT_ADAMW) ? s->beta1 : s->momentum;
}

/* Rejects what torch's constructors reject (and what would make NaNs). */
static int lf_spec_ok(const lf_optim_spec *s){
  if( !(s->lr>=0.0) || !(s->weight_decay>=0.0) ) return 0;
  if( s->optim_fn ){
    if( s->optim_fn->nstate<0 || s->optim_fn->nstate>LF_OPTIM_FN_MAX_STATE || !s->optim_fn->step ) return 0;
  }else switch( s->kind ){
    case LF_OPT_SGD:
      if( !(s->momentum>=0.0) ) return 0;
      if( s->nesterov && !(s->momentum>0.0) ) return 0;
      break;
    case LF_OPT_ADAM:
    case LF_OPT_ADAMW:
      if( !(s->beta1>=0.0 && s->beta1<1.0) ) return 0;
      if( !(s->beta2>=0.0 && s->beta2<1.0) ) return 0;
      if( !(s->eps>=0.0) ) return 0;
      break;
    case LF_OPT_RMSPROP:
      if( !(s->alpha>=0.0) || !(s->eps>=0.0) || !(s->momentum>=0.0) ) return 0;
      break;
    default:
      return 0;
  }
  if( !(s->grad_clip>=0.0) ) return 0;
  switch( s->sched ){
    case LF_SCHED_NONE: break;
    case LF_SCHED_STEP:   if( s->step_size<=0 ) return 0; break;
    case LF_SCHED_COSINE: if( s->t_max<=0 ) return 0; break;
    case LF_SCHED_LINEAR:
      if( s->total_iters<=0 || !(s->start_factor>0.0 && s->start_factor<=1.0)
       || !(s->end_factor>=0.0 && s->end_factor<=1.0) ) return 0;
      break;
    case LF_SCHED_ONECYCLE: {
      double total = (double)lf_onecycle_total(s);
      if( !(s->max_lr>0.0) || !(s->div_factor>0.0) || !(s->final_div_factor>0.0) ) return 0;
      if( !(s->pct_start>0.0 && s->pct_start<1.0) ) return 0;
      /* Every phase at least one step long, or torch divides by zero. */
      if( !(s->pct_start*total - 1.0 > 0.0) ) return 0;
      if( s->three_phase ? !(2.0*s->pct_start*total - 2.0 > s->pct_start*total - 1.0
                             && total - 1.0 > 2.0*s->pct_start*total - 2.0)
                         : !(total - 1.0 > s->pct_start*total - 1.0) ) return 0;
      break;
    }
    case LF_SCHED_PLATEAU:
      if( !(s->factor>=0.0 && s->factor<1.0) || s->patience<0 || s->cooldown<0
       || !(s->threshold>=0.0) || !(s->min_lr>=0.0) || !(s->plateau_eps>=0.0) ) return 0;
      break;
    default: return 0;
  }
  return 1;
}

lf_optim *lf_optim_create(const lf_optim_spec *s, lf_param *const *params,
                          int nparams){
  lf_optim *o;
  int i, j, k;
  static const char *const adam_names[] = { "exp_avg", "exp_avg_sq" };
  static const char *const rms_names[] = { "square_avg", "momentum_buffer", "grad_avg" };
  int rms_slot[3] = { 0, 1, 2 };
  if( s==0 || nparams<0 || (nparams>0 && params==0) || !lf_spec_ok(s) ){
    return 0;
  }
  o = calloc(1, sizeof(*o));
  if( o==0 ) return 0;
  o->spec = *s;
  o->params = calloc(nparams>0 ? (size_t)nparams : 1, sizeof(lf_param*));
  o->coef = calloc(nparams>0 ? (size_t)nparams : 1, sizeof(lf_coef));
  if( o->params==0 || o->coef==0 ) goto fail;
  for(i=0; i<nparams; i++){
    lf_param *p = params[i];
    if( p && p->grad && p->data && p->n>0 ) o->params[o->nparams++] = p;
  }
  o->mom = lf_base_momentum(s);
  if( s->kind==LF_OPT_SGD ) o->nper = o->mom!=0.0 ? 1 : 0;
  else if( s->kind==LF_OPT_RMSPROP ){
    /* torch creates the buffers when momentum > 0 / centered on the first
    ** step; OneCycleLR has set the momentum by then. */
    o->has_buf = o->mom > 0.0;
    o->has_gavg = s->centered!=0;
    o->nper = 1 + o->has_buf + o->has_gavg;
  }
  else o->nper = 2;
  if( s->optim_fn ) o->nper = s->optim_fn->nstate;
  o->nstate = o->nparams * o->nper;
  if( o->nstate>0 ){
    o->state = calloc((size_t)o->nstate, sizeof(lf_param));
    if( o->state==0 ) goto fail;
  }
  if( s->kind==LF_OPT_RMSPROP && !o->has_buf ) rms_slot[1] = 2;
  for(i=0, k=0; i<o->nparams; i++){
    const lf_param *p = o->params[i];
    for(j=0; j<o->nper; j++, k++){
      lf_param *st = &o->state[k];
      const char *suffix = s->optim_fn ? s->optim_fn->state_names[j]
                         : s->kind==LF_OPT_SGD ? "momentum_buffer"
                         : s->kind==LF_OPT_RMSPROP ? rms_names[rms_slot[j]]
                         : adam_names[j];
      size_t lp = strnlen(p->name, sizeof(p->name)), ls = strlen(suffix);
      /* A truncated name could collide with another in a checkpoint. */
      if( lp + 1 + ls >= sizeof(st->name) ) goto fail;
      memcpy(st->name, p->name, lp);
      st->name[lp] = '.';
      memcpy(st->name + lp + 1, suffix, ls + 1);
      st->shape = p->shape;
      st->n = p->n;
      st->data = calloc((size_t)p->n, sizeof(float));
      if( st->data==0 ) goto fail;
    }
  }
  o->lr = lf_sched_lr(s, 0);
  o->best = s->plateau_max ? -INFINITY : INFINITY;
  return o;
fail:
  lf_optim_free(o);
  return 0;
}

void lf_optim_free(lf_optim *o){
  int i;
  if( o==0 ) return;
  if( o->state ){
    for(i=0; i<o->nstate; i++) free(o->state[i].data);
    free(o->state);
  }
  free(o->params);
  free(o->coef);
  free(o);
}

/* torch _single_tensor_sgd, dampening 0:
**   d = g + wd*p
**   buf = d on the first step, else momentum*buf + d
**   d = nesterov ? d + momentum*buf : buf
**   p -= lr*d
** torch _single_tensor_adam / _single_tensor_adamw, step already counted:
**   AdamW: p *= 1 - lr*wd            Adam: g += wd*p
**   m = b1*m + (1-b1)*g ;  v = b2*v + (1-b2)*g*g
**   p -= (lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
** torch _single_tensor_rmsprop:
**   g += wd*p ;  sq = alpha*sq + (1-alpha)*g*g
**   centered: ga = alpha*ga + (1-alpha)*g ; avg = sqrt(sq - ga*ga) + eps
**   else avg = sqrt(sq) + eps
**   momentum: buf = momentum*buf + g/avg ; p -= lr*buf
**   else p -= lr * g/avg
** Elements [lo,hi) of one tensor; w16, if not NULL, receives bf16(p).
** State buffers: SGD buf = s0; Adam m = s0, v = s1; RMSprop square_avg =
** s0, momentum buffer = s1, grad average = s2 (NULL when not kept). */
#define LF_UPDATE_BODY                                                       \
  int64_t i;                                                                 \
  float *restrict buf = s0, *restrict m = s0, *restrict v = s1;              \
  if( c->kind==LF_OPT_RMSPROP ){                                             \
    const float lr = c->lr, wd = c->wd, mom = c->mom, eps = c->eps;          \
    const float alpha = c->alpha, ca = c->c_alpha;                           \
    float *restrict sq = s0, *restrict mb = s1, *restrict ga = s2;           \
    for(i=lo; i<hi; i++){                                                    \
      float gi = g[i] + wd*w[i];                                             \
      float si = sq[i]*alpha + ca*gi*gi;                                     \
      float avg;                                                             \
      sq[i] = si;                                                            \
      if( ga ){                                                              \
        float a = ga[i]*alpha + ca*gi;                                       \
        ga[i] = a;                                                           \
        avg = sqrtf(si - a*a) + eps;                                         \
      }else{                                                                 \
        avg = sqrtf(si) + eps;                                               \
      }                                                                      \
      if( mb ){                                                              \
        float b = mb[i]*mom + gi/avg;                                        \
        mb[i] = b;                                                           \
        w[i] = w[i] + (-lr)*b;                                               \
      }else{                                                                 \
        w[i] = w[i] + (-lr)*gi/avg;                                          \
      }                                                                      \
    }                                                                        \
  }else if( c->kind==LF_OPT_SGD ){                                           \
    const float lr = c->lr, wd = c->wd, mom = c->mom;                        \
    if( buf==0 ){                                                            \
      for(i=lo; i<hi; i++){                                                  \
        float d = g[i] + wd*w[i];                                            \
        w[i] = w[i] + (-lr)*d;                                               \
      }                                                                      \
    }else if( c->first ){                                                    \
      const int nesterov = c->nesterov;                                      \
      for(i=lo; i<hi; i++){                                                  \
        float d = g[i] + wd*w[i];                                            \
        buf[i] = d;                                                          \
        if( nesterov ) d = d + mom*d;                                        \
        w[i] = w[i] + (-lr)*d;                                               \
      }                                                                      \
    }else if( c->nesterov ){                                                 \
      for(i=lo; i<hi; i++){                                                  \
        float d = g[i] + wd*w[i];                                            \
        float b = buf[i]*mom + d;                                            \
        buf[i] = b;                                                          \
        w[i] = w[i] + (-lr)*(d + mom*b);                                     \
      }                                                                      \
    }else{                                                                   \
      for(i=lo; i<hi; i++){                                                  \
        float d = g[i] + wd*w[i];                                            \
        float b = buf[i]*mom + d;                                            \
        buf[i] = b;                                                          \
        w[i] = w[i] + (-lr)*b;                                               \
      }                                                                      \
    }                                                                        \
  }else{                                                                     \
    const float b1 = c->b1, c1 = c->c1, b2 = c->b2, c2 = c->c2;              \
    const float neg_step = c->neg_step, bc2_sqrt = c->bc2_sqrt;              \
    const float eps = c->eps, keep = c->keep, wd = c->wd;                    \
    if( c->kind==LF_OPT_ADAMW ){                                             \
      for(i=lo; i<hi; i++){                                                  \
        float wi = w[i]*keep;                                                \
        float gi = g[i];                                                     \
        float mi = m[i]*b1 + c1*gi;                                          \
        float vi = v[i]*b2 + c2*gi*gi;                                       \
        m[i] = mi;                                                           \
        v[i] = vi;                                                           \
        w[i] = wi + neg_step*mi / (sqrtf(vi)/bc2_sqrt + eps);                \
      }                                                                      \
    }else{                                                                   \
      for(i=lo; i<hi; i++){                                                  \
        float wi = w[i];                                                     \
        float gi = g[i] + wd*wi;                                             \
        float mi = m[i]*b1 + c1*gi;                                          \
        float vi = v[i]*b2 + c2*gi*gi;                                       \
        m[i] = mi;                                                           \
        v[i] = vi;                                                           \
        w[i] = wi + neg_step*mi / (sqrtf(vi)/bc2_sqrt + eps);                \
      }                                                                      \
    }                                                                        \
  }                                                                          \
  if( w16 ){                                                                 \
    /* The bf16 copy, while the slice is still in cache. */                  \
    for(i=lo; i<hi; i++) w16[i] = lf_bf16_from_f32(w[i]);                    \
  }

typedef void (*lf_update_fn)(const lf_coef *c, int64_t lo, int64_t hi,
                             float *restrict w, const float *restrict g,
                             float *s0, float *s1, float *s2,
                             uint16_t *restrict w16);

LF_OPT_ATTR
static void lf_update_base(const lf_coef *c, int64_t lo, int64_t hi,
                           float *restrict w, const float *restrict g,
                           float *s0, float *s1, float *s2,
                           uint16_t *restrict w16){
  LF_UPDATE_BODY
}

#ifdef LF_HAVE_AVX512_CLONE
LF_OPT_AVX512
static void lf_update_avx512(const lf_coef *c, int64_t lo, int64_t hi,
                             float *restrict w, const float *restrict g,
                             float *s0, float *s1, float *s2,
                             uint16_t *restrict w16){
  LF_UPDATE_BODY
}
#endif

static lf_update_fn lf_update_pick(void){
#ifdef LF_HAVE_AVX512_CLONE
  __builtin_cpu_init();
  if( __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
   && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") ){
    return lf_update_avx512;
  }
#endif
  return lf_update_base;
}

static lf_coef lf_coef_for(const lf_optim *o, const lf_param *p){
  const lf_optim_spec *s = &o->spec;
  lf_coef c;
  memset(&c, 0, sizeof c);
  c.kind = s->kind;
  if( s->kind==LF_OPT_SGD ){
    c.lr = (float)o->lr;
    c.wd = p->decay ? (float)s->weight_decay : 0.0f;
    c.mom = (float)o->mom;
    c.first = o->step==0;
    c.nesterov = s->nesterov;
  }else if( s->kind==LF_OPT_RMSPROP ){
    c.lr = (float)o->lr;
    c.wd = p->decay ? (float)s->weight_decay : 0.0f;
    c.mom = (float)o->mom;
    c.eps = (float)s->eps;
    c.alpha = (float)s->alpha;
    c.c_alpha = (float)(1.0 - s->alpha);
    c.centered = s->centered;
  }else{
    const double b1 = o->mom;   /* beta1, cycled by OneCycleLR */
    const double t = (double)o->step;
    const double bc1 = 1.0 - pow(b1, t);
    const double bc2 = 1.0 - pow(s->beta2, t);
    c.b1 = (float)b1; c.c1 = (float)(1.0 - b1);
    c.b2 = (float)s->beta2; c.c2 = (float)(1.0 - s->beta2);
    c.neg_step = (float)(-(o->lr / bc1));
    c.bc2_sqrt = (float)sqrt(bc2);
    c.eps = (float)s->eps;
    c.wd = p->decay ? (float)s->weight_decay : 0.0f;
    c.keep = s->kind==LF_OPT_ADAMW && p->decay
             ? (float)(1.0 - o->lr * s->weight_decay) : 1.0f;
  }
  return c;
}

/* torch.nn.utils.clip_grad_norm_(params, grad_clip): the global L2 norm
** over every gradient; when above grad_clip, every gradient is scaled by
** grad_clip / (norm + 1e-6). Summed in double, serially, in param order,
** so the result does not depend on the thread count. */
static void lf_clip_grads(lf_optim *o){
  double sum = 0.0, coef;
  int j;
  int64_t i;
  for(j=0; j<o->nparams; j++){
    const lf_param *p = o->params[j];
    double ps = 0.0;
    for(i=0; i<p->n; i++) ps += (double)p->grad[i] * (double)p->grad[i];
    sum += ps;
  }
  o->grad_norm = sqrt(sum);
  coef = o->spec.grad_clip / (o->grad_norm + 1e-6);
  if( !(coef < 1.0) ) return;
  {
    const float cf = (float)coef;
    for(j=0; j<o->nparams; j++){
      lf_param *p = o->params[j];
      for(i=0; i<p->n; i++) p->grad[i] *= cf;
    }
  }
}

/* Slice [lo,hi) of n elements for thread t of nt, cut at multiples of 16
** floats (64 bytes) so that threads never share a cache line. */
static void lf_slice(int64_t n, int t, int nt, int64_t *lo, int64_t *hi){
  int64_t blocks = (n + 15) / 16;
  int64_t a = blocks * t / nt, b = blocks * (t+1) / nt;
  *lo = a*16 < n ? a*16 : n;
  *hi = b*16 < n ? b*16 : n;
}

void lf_optim_step(lf_optim *o){
  static lf_update_fn update;
  lf_coef *cf;
  int64_t total = 0;
  int i;
  if( o==0 ) return;
  if( update==0 ) update = lf_update_pick();   /* idempotent */
  if( o->spec.sched==LF_SCHED_ONECYCLE ){
    /* The step about to be taken is batch number o->step (0-based). */
    lf_onecycle_at(&o->spec, o->step, &o->lr, &o->mom);
  }
  if( o->spec.grad_clip > 0.0 ) lf_clip_grads(o);
  if( o->spec.optim_fn ){
    /* A plugin's update, param by param in order (its own threads, if any). */
    o->step++;
    for(i=0; i<o->nparams; i++){
      lf_param *p = o->params[i];
      float *st[LF_OPTIM_FN_MAX_STATE] = {0};
      for(int j=0; j<o->nper; j++) st[j] = o->state[(size_t)i*o->nper + j].data;
      o->spec.optim_fn->step(o->spec.fn_args, o->lr, o->step, p->data, p->grad, p->n, p->decay, st);
      if( p->data16 ) lf_bf16_from_f32_n(p->data16, p->data, p->n);
    }
    return;
  }
  if( o->spec.kind==LF_OPT_ADAM || o->spec.kind==LF_OPT_ADAMW ) o->step++;   /* torch counts it first */
  cf = o->coef;
  for(i=0; i<o->nparams; i++){
    cf[i] = lf_coef_for(o, o->params[i]);
    total += o->params[i]->n;
  }
  /* Held so that any worker this region starts inherits blocked signals
  ** (lf_signals.h); inside a training batch this only counts. */
  lf_signals_hold();
  #pragma omp parallel if(total >= LF_OPTIM_PAR_MIN)
  {
#ifdef _OPENMP
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    int t = 0, nt = 1;
#endif
    int j;
    for(j=0; j<o->nparams; j++){
      lf_param *p = o->params[j];
      int64_t lo, hi;
      if( p->grad==0 ) continue;
      lf_slice(p->n, t, nt, &lo, &hi);
      if( lo>=hi ) continue;
      lf_param *st = o->nper ? &o->state[(size_t)j*o->nper] : 0;
      float *s0 = o->nper>0 ? st[0].data : 0;
      float *s1 = 0, *s2 = 0;
      if( o->spec.kind==LF_OPT_RMSPROP ){
        s1 = o->has_buf ? st[1].data : 0;
        s2 = o->has_gavg ? st[1 + o->has_buf].data : 0;
      }else if( o->nper>1 ){
        s1 = st[1].data;
      }
      update(&cf[j], lo, hi, p->data, p->grad, s0, s1, s2, p->data16);
    }
  }
  lf_signals_release();
  if( o->spec.kind==LF_OPT_SGD || o->spec.kind==LF_OPT_RMSPROP ) o->step++;
}

void lf_optim_epoch_end(lf_optim *o){
  if( o==0 ) return;
  o->epoch++;
  /* OneCycleLR moves per batch, ReduceLROnPlateau on its values. */
  if( o->spec.sched!=LF_SCHED_PLATEAU && o->spec.sched!=LF_SCHED_ONECYCLE ){
    o->lr = lf_sched_lr(&o->spec, o->epoch);
  }
}

/* torch ReduceLROnPlateau.step(value) with one param group. A NaN value is
** never better, so it counts as a bad epoch. */
void lf_optim_plateau_step(lf_optim *o, double value){
  const lf_optim_spec *s;
  int better;
  if( o==0 || o->spec.sched!=LF_SCHED_PLATEAU ) return;
  s = &o->spec;
  if( s->plateau_max ){
    better = s->threshold_abs ? value > o->best + s->threshold
                              : value > o->best * (s->threshold + 1.0);
  }else{
    better = s->threshold_abs ? value < o->best - s->threshold
                              : value < o->best * (1.0 - s->threshold);
  }
  if( better ){ o->best = value; o->num_bad = 0; }
  else o->num_bad++;
  if( o->cooldown_left > 0 ){ o->cooldown_left--; o->num_bad = 0; }
  if( o->num_bad > s->patience ){
    double old_lr = o->lr, new_lr = old_lr * s->factor;
    if( new_lr < s->min_lr ) new_lr = s->min_lr;
    if( old_lr - new_lr > s->plateau_eps ) o->lr = new_lr;
    o->cooldown_left = s->cooldown;
    o->num_bad = 0;
  }
}

double lf_optim_lr(const lf_optim *o){
  return o ? o->lr : 0.0;
}

int lf_optim_state_count(const lf_optim *o){
  return o ? o->nstate : 0;
}

lf_param *lf_optim_state(lf_optim *o, int i){
  if( o==0 || i<0 || i>=o->nstate ) return 0;
  return &o->state[i];
}

void lf_optim_get_counters(const lf_optim *o, int64_t *step, int64_t *epoch){
  if( step ) *step = o ? o->step : 0;
  if( epoch ) *epoch = o ? o->epoch : 0;
}

/* Restoring the epoch also restores the scheduled learning rate. */
void lf_optim_set_counters(lf_optim *o, int64_t step, int64_t epoch){
  if( o==0 ) return;
  o->step = step<0 ? 0 : step;
  o->epoch = epoch<0 ? 0 : epoch;
  o->lr = lf_sched_lr(&o->spec, o->epoch);
  if( o->spec.sched==LF_SCHED_ONECYCLE ){
    /* The lr and momentum the last step used, as an uninterrupted run
    ** would report them; the next step recomputes both anyway. */
    if( o->step > 0 ) lf_onecycle_at(&o->spec, o->step - 1, &o->lr, &o->mom);
  }
}

void lf_optim_get_sched_state(const lf_optim *o, int64_t w[LF_OPTIM_SCHED_WORDS]){
  memset(w, 0, sizeof(int64_t) * LF_OPTIM_SCHED_WORDS);
  if( o==0 ) return;
  memcpy(&w[0], &o->lr, sizeof(double));
  memcpy(&w[1], &o->best, sizeof(double));
  w[2] = o->num_bad;
  w[3] = o->cooldown_left;
}

void lf_optim_set_sched_state(lf_optim *o, const int64_t w[LF_OPTIM_SCHED_WORDS]){
  if( o==0 || o->spec.sched!=LF_SCHED_PLATEAU ) return;
  memcpy(&o->lr, &w[0], sizeof(double));
  memcpy(&o->best, &w[1], sizeof(double));
  o->num_bad = w[2];
  o->cooldown_left = w[3];
}

double lf_optim_last_grad_norm(const lf_optim *o){
  return o ? o->grad_norm : 0.0;
}
