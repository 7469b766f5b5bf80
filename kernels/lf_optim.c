/*
** lf_optim.c — SGD, Adam and AdamW with the update rules of PyTorch 1.13
** (torch/optim/{sgd,adam,adamw}.py, the _single_tensor_* paths) and the
** StepLR / CosineAnnealingLR schedules in closed form.
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

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Large tensors are split across OpenMP threads; small ones stay serial
** (a parallel region costs more than updating a bias). The pragmas only
** exist when the build enables OpenMP (-fopenmp); without it the loops
** are still plain vectorisable loops. The loop bound must be named n. */
#define LF_OPTIM_PAR_MIN 65536

/* The update loops must vectorise at the project's -O2: GCC's -O2 cost
** model skips loops of unknown length, and sqrtf's errno handling blocks
** vectorising Adam (v is never negative, so errno is moot here). GCC 12
** honours the per-function no-math-errno only in GNU modes: with -std=c11
** the build needs -fno-math-errno for the Adam loops to vectorise. */
#if defined(__GNUC__) && !defined(__clang__)
# define LF_VECTORISE __attribute__((noinline, optimize("no-math-errno", \
                                               "vect-cost-model=dynamic")))
#else
# define LF_VECTORISE
#endif
#ifdef _OPENMP
# define LF_PAR_FOR_SIMD \
    _Pragma("omp parallel for simd if(n >= LF_OPTIM_PAR_MIN)")
#else
# define LF_PAR_FOR_SIMD
#endif

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
};

/* Learning rate after `epoch` scheduler steps, in closed form (torch's
** _get_closed_form_lr). Malformed schedule parameters leave lr constant. */
static double lf_sched_lr(const lf_optim_spec *s, int64_t epoch){
  switch( s->sched ){
    case LF_SCHED_STEP:
      if( s->step_size<=0 ) return s->lr;
      return s->lr * pow(s->gamma, (double)(epoch / s->step_size));
    case LF_SCHED_COSINE:
      if( s->t_max<=0 ) return s->lr;
      return s->eta_min + (s->lr - s->eta_min)
             * (1.0 + cos(M_PI * (double)epoch / (double)s->t_max)) / 2.0;
    case LF_SCHED_NONE:
      break;
  }
  return s->lr;
}

/* Rejects what torch's constructors reject (and what would make NaNs). */
static int lf_spec_ok(const lf_optim_spec *s){
  if( !(s->lr>=0.0) || !(s->weight_decay>=0.0) ) return 0;
  switch( s->kind ){
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
    default:
      return 0;
  }
  switch( s->sched ){
    case LF_SCHED_NONE: break;
    case LF_SCHED_STEP:   if( s->step_size<=0 ) return 0; break;
    case LF_SCHED_COSINE: if( s->t_max<=0 ) return 0; break;
    default: return 0;
  }
  return 1;
}

lf_optim *lf_optim_create(const lf_optim_spec *s, lf_param *const *params,
                          int nparams){
  lf_optim *o;
  int i, j, k;
  static const char *const adam_names[] = { "exp_avg", "exp_avg_sq" };
  if( s==0 || nparams<0 || (nparams>0 && params==0) || !lf_spec_ok(s) ){
    return 0;
  }
  o = calloc(1, sizeof(*o));
  if( o==0 ) return 0;
  o->spec = *s;
  o->params = calloc(nparams>0 ? (size_t)nparams : 1, sizeof(lf_param*));
  if( o->params==0 ) goto fail;
  for(i=0; i<nparams; i++){
    lf_param *p = params[i];
    if( p && p->grad && p->data && p->n>0 ) o->params[o->nparams++] = p;
  }
  if( s->kind==LF_OPT_SGD ) o->nper = s->momentum!=0.0 ? 1 : 0;
  else o->nper = 2;
  o->nstate = o->nparams * o->nper;
  if( o->nstate>0 ){
    o->state = calloc((size_t)o->nstate, sizeof(lf_param));
    if( o->state==0 ) goto fail;
  }
  for(i=0, k=0; i<o->nparams; i++){
    const lf_param *p = o->params[i];
    for(j=0; j<o->nper; j++, k++){
      lf_param *st = &o->state[k];
      const char *suffix = s->kind==LF_OPT_SGD ? "momentum_buffer"
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
  free(o);
}

/* torch _single_tensor_sgd, dampening 0:
**   d = g + wd*p
**   buf = d on the first step, else momentum*buf + d
**   d = nesterov ? d + momentum*buf : buf
**   p -= lr*d                                                          */
LF_VECTORISE
static void lf_sgd_param(const lf_optim *o, lf_param *p,
                         float *restrict buf){
  const float lr = (float)o->lr;
  const float wd = p->decay ? (float)o->spec.weight_decay : 0.0f;
  const float mom = (float)o->spec.momentum;
  const int64_t n = p->n;
  float *restrict w = p->data;
  const float *restrict g = p->grad;
  int64_t i;
  if( buf==0 ){
    LF_PAR_FOR_SIMD
    for(i=0; i<n; i++){
      float d = g[i] + wd*w[i];
      w[i] = w[i] + (-lr)*d;
    }
  }else if( o->step==0 ){
    const int nesterov = o->spec.nesterov;
    LF_PAR_FOR_SIMD
    for(i=0; i<n; i++){
      float d = g[i] + wd*w[i];
      buf[i] = d;
      if( nesterov ) d = d + mom*d;
      w[i] = w[i] + (-lr)*d;
    }
  }else if( o->spec.nesterov ){
    LF_PAR_FOR_SIMD
    for(i=0; i<n; i++){
      float d = g[i] + wd*w[i];
      float b = buf[i]*mom + d;
      buf[i] = b;
      w[i] = w[i] + (-lr)*(d + mom*b);
    }
  }else{
    LF_PAR_FOR_SIMD
    for(i=0; i<n; i++){
      float d = g[i] + wd*w[i];
      float b = buf[i]*mom + d;
      buf[i] = b;
      w[i] = w[i] + (-lr)*b;
    }
  }
}

/* torch _single_tensor_adam / _single_tensor_adamw, step already counted:
**   AdamW: p *= 1 - lr*wd            Adam: g += wd*p
**   m = b1*m + (1-b1)*g ;  v = b2*v + (1-b2)*g*g
**   p -= (lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps)              */
LF_VECTORISE
static void lf_adam_param(const lf_optim *o, lf_param *p, float *restrict m,
                          float *restrict v){
  const lf_optim_spec *s = &o->spec;
  const double t = (double)o->step;
  const double bc1 = 1.0 - pow(s->beta1, t);
  const double bc2 = 1.0 - pow(s->beta2, t);
  const float b1 = (float)s->beta1, c1 = (float)(1.0 - s->beta1);
  const float b2 = (float)s->beta2, c2 = (float)(1.0 - s->beta2);
  const float neg_step = (float)(-(o->lr / bc1));
  const float bc2_sqrt = (float)sqrt(bc2);
  const float eps = (float)s->eps;
  const int64_t n = p->n;
  float *restrict w = p->data;
  const float *restrict g = p->grad;
  int64_t i;
  if( s->kind==LF_OPT_ADAMW ){
    const float keep = p->decay ? (float)(1.0 - o->lr * s->weight_decay) : 1.0f;
    LF_PAR_FOR_SIMD
    for(i=0; i<n; i++){
      float wi = w[i]*keep;
      float gi = g[i];
      float mi = m[i]*b1 + c1*gi;
      float vi = v[i]*b2 + c2*gi*gi;
      m[i] = mi;
      v[i] = vi;
      w[i] = wi + neg_step*mi / (sqrtf(vi)/bc2_sqrt + eps);
    }
  }else{
    const float wd = p->decay ? (float)s->weight_decay : 0.0f;
    LF_PAR_FOR_SIMD
    for(i=0; i<n; i++){
      float wi = w[i];
      float gi = g[i] + wd*wi;
      float mi = m[i]*b1 + c1*gi;
      float vi = v[i]*b2 + c2*gi*gi;
      m[i] = mi;
      v[i] = vi;
      w[i] = wi + neg_step*mi / (sqrtf(vi)/bc2_sqrt + eps);
    }
  }
}

void lf_optim_step(lf_optim *o){
  int i;
  if( o==0 ) return;
  if( o->spec.kind==LF_OPT_SGD ){
    for(i=0; i<o->nparams; i++){
      lf_param *p = o->params[i];
      if( p->grad==0 ) continue;
      lf_sgd_param(o, p, o->nper ? o->state[i].data : 0);
    }
    o->step++;
  }else{
    o->step++;               /* torch counts the step before using it */
    for(i=0; i<o->nparams; i++){
      lf_param *p = o->params[i];
      if( p->grad==0 ) continue;
      lf_adam_param(o, p, o->state[2*i].data, o->state[2*i+1].data);
    }
  }
}

void lf_optim_epoch_end(lf_optim *o){
  if( o==0 ) return;
  o->epoch++;
  o->lr = lf_sched_lr(&o->spec, o->epoch);
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
}
