/*
** lf_gradcheck.c — finite-difference gradient check of a net
** (lf_gradcheck.h), moved here from the layer tests so plugin authors run
** the very same check through lab_gradcheck().
*/
#include "lf_gradcheck.h"
#include "lf_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROBE 48

/* L = sum(y .* r) in double. rng0 (if any) is copied for each pass so
** Dropout draws the same mask every time. */
static double loss_of(lf_net *net, const float *x, int batch, int training,
                      const lf_rng *rng0, const float *r, int64_t nout,
                      char *err, size_t errlen){
  lf_rng rng;
  const float *y;
  double L = 0;
  int64_t i;
  if( rng0 ) rng = *rng0;
  y = lf_net_forward(net, x, batch, training, rng0 ? &rng : 0, err, errlen);
  if( y==0 ) return NAN;
  for(i=0; i<nout; i++) L += (double)y[i] * r[i];
  return L;
}

/* ||a-b|| / max(||a||,||b||) */
static double rel_err(const double *a, const double *b, int n){
  double d = 0, na = 0, nb = 0;
  int i;
  for(i=0; i<n; i++){
    d += (a[i]-b[i])*(a[i]-b[i]);
    na += a[i]*a[i];
    nb += b[i]*b[i];
  }
  na = sqrt(na > nb ? na : nb);
  return na < 1e-12 ? sqrt(d) : sqrt(d) / na;
}

/* Central differences on up to MAX_PROBE coordinates of v (the input or a
** parameter), compared with the analytical gradient g. */
static double probe(lf_net *net, float *v, int64_t nv, const float *g,
                    const float *x, int batch, const lf_rng *rng0,
                    const float *r, int64_t nout, double h, lf_rng *pick){
  double num[MAX_PROBE], ana[MAX_PROBE];
  char err[256];
  int k, n = nv < MAX_PROBE ? (int)nv : MAX_PROBE;
  for(k=0; k<n; k++){
    int64_t j = nv <= MAX_PROBE ? k : (int64_t)(lf_rng_next(pick) % (uint64_t)nv);
    float old = v[j];
    double lp, lm;
    v[j] = old + (float)h;
    lp = loss_of(net, x, batch, 1, rng0, r, nout, err, sizeof err);
    v[j] = old - (float)h;
    lm = loss_of(net, x, batch, 1, rng0, r, nout, err, sizeof err);
    v[j] = old;
    num[k] = (lp - lm) / (2*h);
    ana[k] = g[j];
  }
  return rel_err(ana, num, n);
}

int lf_gradcheck_net(lf_net *net, lf_shape in, int batch, const float *xgiven,
                     double h, int perturb_1d,
                     void (*report)(void *ctx, const char *what, double rel_err),
                     void *ctx, char *err, size_t errlen){
  lf_rng rng, rng0, pick;
  lf_shape out;
  int64_t nin, nout, j;
  float *x = 0, *r = 0, **gsave = 0;
  const float *gx;
  int i, np, rc = -1;

  lf_rng_seed(&rng, 42);
  lf_rng_seed(&rng0, 7);
  lf_rng_seed(&pick, 3);
  lf_net_init_params(net, &rng);
  lf_net_want_input_grad(net, 1);
  out = lf_net_out_shape(net);
  nin = lf_shape_count(&in) * batch;
  nout = lf_shape_count(&out) * batch;
  x = malloc(sizeof(float) * (size_t)nin);
  r = malloc(sizeof(float) * (size_t)nout);
  np = lf_net_param_count(net);
  gsave = calloc((size_t)np + 1, sizeof(float*));
  if( !x || !r || !gsave ){ snprintf(err, errlen, "out of memory"); goto done; }
  if( xgiven ) memcpy(x, xgiven, sizeof(float) * (size_t)nin);
  else for(j=0; j<nin; j++) x[j] = lf_rng_normal(&rng);
  for(j=0; j<nout; j++) r[j] = lf_rng_normal(&rng);
  for(i=0; perturb_1d && i<np; i++){
    lf_param *p = lf_net_param(net, i);
    if( strstr(p->name, "running") ) continue;
    if( p->grad && p->shape.ndim==1 ){
      for(j=0; j<p->n; j++) p->data[j] += 0.3f * lf_rng_normal(&rng);
    }
  }
  if( isnan(loss_of(net, x, batch, 1, &rng0, r, nout, err, errlen)) ){
    if( !err[0] ) snprintf(err, errlen, "the forward pass gave NaN");
    goto done;
  }
  if( lf_net_backward(net, r, batch, err, errlen) ) goto done;
  for(i=0; i<np; i++){
    lf_param *p = lf_net_param(net, i);
    if( p->grad ){
      gsave[i] = malloc(sizeof(float) * (size_t)p->n);
      if( !gsave[i] ){ snprintf(err, errlen, "out of memory"); goto done; }
      memcpy(gsave[i], p->grad, sizeof(float) * (size_t)p->n);
    }
  }
  gx = lf_net_input_grad(net, batch);
  if( !gx ){ snprintf(err, errlen, "the net computed no input gradient"); goto done; }
  {
    float *gxs = malloc(sizeof(float) * (size_t)nin);
    if( !gxs ){ snprintf(err, errlen, "out of memory"); goto done; }
    memcpy(gxs, gx, sizeof(float) * (size_t)nin);
    report(ctx, "input", probe(net, x, nin, gxs, x, batch, &rng0, r, nout, h, &pick));
    free(gxs);
  }
  for(i=0; i<np; i++){
    lf_param *p = lf_net_param(net, i);
    if( !gsave[i] ) continue;
    report(ctx, p->name, probe(net, p->data, p->n, gsave[i], x, batch, &rng0, r, nout, h, &pick));
  }
  rc = 0;
done:
  for(i=0; gsave && i<np; i++) free(gsave[i]);
  free(gsave);
  free(x);
  free(r);
  return rc;
}
