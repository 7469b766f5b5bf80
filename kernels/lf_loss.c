/*
** lf_loss.c — the losses, mean reduction, with the formulas of
** PyTorch 1.13 so a model trained here matches one trained there.
**
** Sums are kept in double (a batch mean of thousands of float terms would
** otherwise lose digits); gradients are written as float. Bad input
** (non-positive sizes, NULL pointers, a class index outside [0,nout))
** returns NAN and leaves dy untouched: the caller reports the error.
*/
#include "lf_loss.h"

#include <math.h>

int lf_loss_is_classification(const lf_loss_spec *s){
  if( s!=0 && s->fn ) return s->fn->classification;
  return s!=0 && s->kind==LF_LOSS_CROSS_ENTROPY;
}

/* Class index from a float target, or -1 if it is not an integer in
** [0,nout). */
static int lf_class_index(float t, int nout){
  if( !(t>=0.0f) || t>=(float)nout || t!=floorf(t) ) return -1;
  return (int)t;
}

/* CrossEntropyLoss over logits with label smoothing eps, as PyTorch 1.13
** defines it for mean reduction without class weights:
**   loss_i = (1-eps) * -logp[t_i]  +  eps/K * sum_k -logp[k]
** i.e. the target distribution is (1-eps)*onehot + eps/K. Hence
**   dloss_i/dy_k = softmax_k - ((1-eps)*[k==t_i] + eps/K),
** divided by the batch size for the mean. log-softmax subtracts the row
** max so exp() never overflows. */
#define LF_CE_KEEP 256

static double lf_cross_entropy(double eps, const float *y, const float *target,
                               int batch, int nout, float *dy){
  double total = 0.0;
  double inv_batch = 1.0 / batch;
  double off = eps / nout;          /* smoothed mass of every class */
  int i, k;
  for(i=0; i<batch; i++){
    if( lf_class_index(target[i], nout)<0 ) return NAN;
  }
  for(i=0; i<batch; i++){
    const float *row = y + (int64_t)i*nout;
    int t = lf_class_index(target[i], nout);
    double mx = row[0], sumexp = 0.0, logz, sumlogp = 0.0;
    /* exp(y - max) once per element, kept for the gradient when the row
    ** fits the stack buffer (softmax = e / sumexp). */
    double e[LF_CE_KEEP];
    int keep = nout <= LF_CE_KEEP;
    for(k=1; k<nout; k++) if( row[k]>mx ) mx = row[k];
    if( keep ){
      for(k=0; k<nout; k++){ e[k] = exp((double)row[k] - mx); sumexp += e[k]; }
    }else{
      for(k=0; k<nout; k++) sumexp += exp((double)row[k] - mx);
    }
    logz = mx + log(sumexp);
    for(k=0; k<nout; k++) sumlogp += (double)row[k] - logz;
    total += -(1.0 - eps) * ((double)row[t] - logz) - off * sumlogp;
    if( dy ){
      float *g = dy + (int64_t)i*nout;
      const double inv_sum = 1.0 / sumexp;
      for(k=0; k<nout; k++){
        double p = keep ? e[k] * inv_sum : exp((double)row[k] - logz);
        double q = off + (k==t ? 1.0 - eps : 0.0);
        g[k] = (float)((p - q) * inv_batch);
      }
    }
  }
  return total * inv_batch;
}

/* MSE and L1 over all batch*nout elements. L1's gradient uses sign(d)
** with sign(0)=0, as torch.sign. */
static double lf_mse_l1(int l1, const float *y, const float *target,
                        int64_t n, float *dy){
  double total = 0.0, inv_n = 1.0 / (double)n;
  int64_t i;
  for(i=0; i<n; i++){
    double d = (double)y[i] - (double)target[i];
    if( l1 ){
      total += fabs(d);
      if( dy ) dy[i] = (float)(((d>0) - (d<0)) * inv_n);
    }else{
      total += d*d;
      if( dy ) dy[i] = (float)(2.0 * d * inv_n);
    }
  }
  return total * inv_n;
}

/* BCEWithLogitsLoss with pos_weight pw, in torch's overflow-free form
**   l = (1-t)*x + lw*(log(1 + exp(-|x|)) + max(-x,0)),  lw = (pw-1)*t + 1
** (pw = 1 gives max(x,0) - x*t + log(1 + exp(-|x|))), whose gradient is
**   dl/dx = (1-t) - lw*(1 - sigmoid(x))   (= sigmoid(x) - t for pw = 1). */
static double lf_bce_logits(double pw, const float *y, const float *target,
                            int64_t n, float *dy){
  double total = 0.0, inv_n = 1.0 / (double)n;
  int64_t i;
  for(i=0; i<n; i++){
    double x = y[i], t = target[i];
    double lw = (pw - 1.0)*t + 1.0;
    total += (1.0 - t)*x + lw*(log1p(exp(-fabs(x))) + (x<0 ? -x : 0.0));
    if( dy ){
      /* 1 - sigmoid(x) = sigmoid(-x), computed without overflow */
      double sn = x>=0 ? exp(-x)/(1.0 + exp(-x)) : 1.0/(1.0 + exp(x));
      dy[i] = (float)(((1.0 - t) - lw*sn) * inv_n);
    }
  }
  return total * inv_n;
}

/* HuberLoss(delta): 0.5*d^2 where |d| < delta, else delta*(|d| - delta/2);
** gradient d clipped to [-delta, delta] (torch's huber_loss_backward). */
static double lf_huber(double delta, const float *y, const float *target,
                       int64_t n, float *dy){
  double total = 0.0, inv_n = 1.0 / (double)n;
  int64_t i;
  for(i=0; i<n; i++){
    double d = (double)y[i] - (double)target[i], z = fabs(d);
    total += z < delta ? 0.5*d*d : delta*(z - 0.5*delta);
    if( dy ){
      double g = d < -delta ? -delta : d > delta ? delta : d;
      dy[i] = (float)(g * inv_n);
    }
  }
  return total * inv_n;
}

void lf_softmax_norm(const float *y, int n, double *mx, double *z){
  double m = y[0], s = 0;
  for(int k=1; k<n; k++) if( y[k] > m ) m = y[k];
  for(int k=0; k<n; k++) s += exp(y[k] - m);
  *mx = m;
  *z = s;
}

double lf_softmax_prob(double v, double mx, double z){
  return exp(v - mx)/z;
}

double lf_sigmoid(double v){
  return 1.0/(1.0+exp(-v));
}

double lf_loss_compute(const lf_loss_spec *s, const float *y,
                       const float *target, int batch, int nout, float *dy){
  int64_t n;
  if( s==0 || y==0 || target==0 || batch<=0 || nout<=0 ) return NAN;
  n = (int64_t)batch * nout;
  if( s->fn ) return s->fn->compute(s->fn_args, y, target, batch, nout, dy);
  switch( s->kind ){
    case LF_LOSS_CROSS_ENTROPY: {
      double eps = s->label_smoothing;
      if( !(eps>=0.0 && eps<=1.0) ) return NAN;
      return lf_cross_entropy(eps, y, target, batch, nout, dy);
    }
    case LF_LOSS_MSE:             return lf_mse_l1(0, y, target, n, dy);
    case LF_LOSS_L1:              return lf_mse_l1(1, y, target, n, dy);
    case LF_LOSS_BCE_WITH_LOGITS: {
      double pw = s->pos_weight==0.0 ? 1.0 : s->pos_weight;
      if( !(pw>0.0) || !isfinite(pw) ) return NAN;
      return lf_bce_logits(pw, y, target, n, dy);
    }
    case LF_LOSS_HUBER:
      if( !(s->delta>0.0) || !isfinite(s->delta) ) return NAN;
      return lf_huber(s->delta, y, target, n, dy);
  }
  return NAN;
}
