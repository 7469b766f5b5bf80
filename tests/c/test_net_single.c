/*
** test_net_single.c — the one-sample plain-C path (kernels/lf_net_single.c)
** gives what the oneDNN path gives for the nets it accepts (within float
** rounding: the sums run in another order) for narrow and wide layers,
** and refuses every net it cannot run (a convolution, batch
** norm, a bf16 net), which then keep the oneDNN path.
*/
#include "lf_test.h"
#include "lf_test_spec.h"
#include "lf_net.h"
#include "lf_net_single.h"
#include "lf_layer.h"
#include "lf_registry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static lf_layer_spec linear(int out, int bias){
  lf_layer_spec s = spec("Linear");
  ((lf_linear_args*)s.args)->out = out;
  ((lf_linear_args*)s.args)->bias = bias;
  return s;
}

static lf_shape shape1(int f){
  lf_shape s;
  memset(&s, 0, sizeof s);
  s.ndim = 1; s.dim[0] = f;
  return s;
}

/* Largest |a-b| / max(1, |b|) over the outputs of one random sample. */
static double compare(lf_net *net, lf_net_single *p, int nin, int nout, unsigned seed){
  float x[64];
  char err[256];
  srand(seed);
  for(int i=0; i<nin; i++) x[i] = (float)rand() / RAND_MAX * 4.0f - 2.0f;
  const float *ref = lf_net_forward(net, x, 1, 0, NULL, err, sizeof err);
  if( !ref ) return 1e9;
  float want[64];
  memcpy(want, ref, sizeof(float) * (size_t)nout);
  float xin[64];
  memcpy(xin, x, sizeof xin);
  const float *got = lf_net_single_forward(p, x);
  if( memcmp(xin, x, sizeof(float) * (size_t)nin) ) return 1e9;   /* the input is the caller's */
  double worst = 0;
  for(int k=0; k<nout; k++){
    double d = fabs((double)got[k] - want[k]) / fmax(1.0, fabs((double)want[k]));
    if( !(d <= worst) ) worst = d;
  }
  return worst;
}

static void test_mlp_matches(void){
  lf_layer_spec L[9];
  char err[256];
  lf_rng rng;
  lf_shape in = shape1(20);
  L[0] = linear(32, 1);
  L[1] = spec("ReLU");
  L[2] = spec("Dropout");
  L[3] = linear(16, 0);
  L[4] = spec("LeakyReLU");
  ((lf_leakyrelu_args*)L[4].args)->negative_slope = 0.1;
  L[5] = linear(8, 1);
  L[6] = spec("Tanh");
  L[7] = linear(3, 1);
  L[8] = spec("Sigmoid");
  lf_net *net = lf_net_create(L, 9, &in, err, sizeof err);
  CHECK(net!=0, "single: an MLP of Linear, ReLU, Dropout, LeakyReLU, Tanh, Sigmoid builds (%s)", net ? "" : err);
  if( !net ) return;
  lf_rng_seed(&rng, 5);
  lf_net_init_params(net, &rng);
  lf_net_single *p = lf_net_single_plan(net);
  CHECK(p!=0, "single: such an MLP gets a plan");
  if( p ){
    double worst = 0;
    for(unsigned s=1; s<=50; s++){ double d = compare(net, p, 20, 3, s); if( d > worst ) worst = d; }
    CHECK(worst <= 1e-5, "single: 50 samples agree with the oneDNN forward within 1e-5 (worst %.2g)", worst);
    /* Weights loaded later need a new plan (it keeps a transposed copy). */
    lf_param *w = lf_net_param(net, 0);
    for(int64_t i=0; i<w->n; i++) w->data[i] *= -0.5f;
    lf_net_single_free(p);
    p = lf_net_single_plan(net);
    double after = p ? compare(net, p, 20, 3, 77) : 1e9;
    CHECK(after <= 1e-5, "single: a plan made after new weights are loaded uses them (%.2g)", after);
  }
  lf_net_single_free(p);
  lf_net_free(net);
}

/* A model that ends in a no-op layer, and one that is only Linear. */
static void test_edges(void){
  lf_layer_spec L[3];
  char err[256];
  lf_rng rng;
  lf_shape in = shape1(7);
  L[0] = linear(5, 1);
  L[1] = spec("ReLU");
  L[2] = spec("Flatten");
  lf_net *net = lf_net_create(L, 3, &in, err, sizeof err);
  lf_net_single *p = net ? lf_net_single_plan(net) : NULL;
  if( net ){ lf_rng_seed(&rng, 9); lf_net_init_params(net, &rng); }
  CHECK(p && compare(net, p, 7, 5, 3) <= 1e-5, "single: Linear, ReLU, Flatten agrees with oneDNN");
  lf_net_single_free(p);
  lf_net_free(net);
  L[0] = linear(4, 0);
  net = lf_net_create(L, 1, &in, err, sizeof err);
  p = net ? lf_net_single_plan(net) : NULL;
  if( net ){ lf_rng_seed(&rng, 4); lf_net_init_params(net, &rng); }
  CHECK(p && compare(net, p, 7, 4, 8) <= 1e-5, "single: one Linear without bias agrees with oneDNN");
  lf_net_single_free(p);
  lf_net_free(net);
}

static void test_refused(void){
  lf_layer_spec L[4];
  char err[256];
  lf_shape in;
  memset(&in, 0, sizeof in);
  in.ndim = 3; in.dim[0] = 1; in.dim[1] = 6; in.dim[2] = 6;
  L[0] = spec("Conv2d");
  ((lf_conv2d_args*)L[0].args)->out = 2;
  ((lf_conv2d_args*)L[0].args)->kernel[0] = ((lf_conv2d_args*)L[0].args)->kernel[1] = 3;
  L[1] = spec("Flatten");
  L[2] = linear(3, 1);
  lf_net *net = lf_net_create(L, 3, &in, err, sizeof err);
  CHECK(net && lf_net_single_plan(net)==NULL, "single: a net with a convolution gets no plan (oneDNN path)");
  lf_net_free(net);
  lf_shape v = shape1(6);
  L[0] = linear(4, 1);
  L[1] = spec("BatchNorm1d");
  L[2] = linear(2, 1);
  net = lf_net_create(L, 3, &v, err, sizeof err);
  CHECK(net && lf_net_single_plan(net)==NULL, "single: a net with batch norm gets no plan");
  lf_net_free(net);
  L[0] = linear(4, 1);
  L[1] = spec("GELU");
  net = lf_net_create(L, 2, &v, err, sizeof err);
  CHECK(net && lf_net_single_plan(net)==NULL, "single: an activation it does not compute (GELU) gets no plan");
  lf_net_free(net);
  CHECK(lf_net_single_plan(NULL)==NULL, "single: no net, no plan");
}

int main(void){
  test_mlp_matches();
  test_edges();
  test_refused();
  TEST_EXIT();
}
