/*
** test_layers.c — the layers and the net driver (kernels/lf_net.c,
** kernels/layer_*.c): finite-difference gradient checks of every layer
** (w.r.t. the input and every parameter), shape errors, forward results
** against naive loops, BatchNorm/Dropout modes, batch-size caching, and a
** small MLP trained with an inline SGD loop.
*/
#include "lf_test.h"
#include "lf_test_spec.h"
#include "lf_net.h"
#include "lf_layer.h"
#include "lf_registry.h"
#include "lf_gradcheck.h"
#include "lf_conv_phases.h"
#include "lf_conv_wide.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static lf_layer_spec linear(int out, int bias){
  lf_layer_spec s = spec("Linear");
  ARG(s, lf_linear_args)->out = out;
  ARG(s, lf_linear_args)->bias = bias;
  return s;
}

static lf_layer_spec conv(int out, int kh, int kw, int sh, int sw, int ph,
                          int pw, int bias){
  lf_layer_spec s = spec("Conv2d");
  lf_conv2d_args *a = ARG(s, lf_conv2d_args);
  a->out = out;
  a->kernel[0] = kh; a->kernel[1] = kw;
  a->stride[0] = sh; a->stride[1] = sw;
  a->padding[0] = ph; a->padding[1] = pw;
  a->bias = bias;
  return s;
}

static lf_layer_spec pool(const char *loc, int k, int stride, int pad){
  lf_layer_spec s = spec(loc);
  lf_pool2d_args *a = ARG(s, lf_pool2d_args);
  a->kernel[0] = a->kernel[1] = k;
  a->stride[0] = a->stride[1] = stride;
  a->padding[0] = a->padding[1] = pad;
  return s;
}

static lf_shape shape3(int c, int h, int w){
  lf_shape s;
  memset(&s, 0, sizeof s);
  s.ndim = 3; s.dim[0] = c; s.dim[1] = h; s.dim[2] = w;
  return s;
}

static lf_shape shape1(int f){
  lf_shape s;
  memset(&s, 0, sizeof s);
  s.ndim = 1; s.dim[0] = f;
  return s;
}

static float *randn(int64_t n, lf_rng *rng){
  float *x = malloc(sizeof(float) * (size_t)n);
  int64_t i;
  for(i=0; i<n; i++) x[i] = lf_rng_normal(rng);
  return x;
}

/* Input whose values keep clear of 0 (ReLU kinks) and of each other
** (MaxPool ties): a shuffled grid with step `gap`, centred on 0. */
static float *spaced(int64_t n, float gap, lf_rng *rng){
  float *x = malloc(sizeof(float) * (size_t)n);
  int64_t *idx = malloc(sizeof(int64_t) * (size_t)n), i;
  for(i=0; i<n; i++) idx[i] = i;
  lf_rng_shuffle(rng, idx, n);
  for(i=0; i<n; i++) x[i] = ((float)idx[i] - (float)n/2 + 0.5f) * gap;
  free(idx);
  return x;
}

/* The whole gradient check of one net: dL/dx and dL/dparam for every
** trainable param, training mode. x may be given (NULL: normal noise). */
static void gradcheck_net(const char *name, lf_net *net, const char *why,
                          lf_shape in, int batch, float *xgiven, double h);

static void gradcheck(const char *name, const lf_layer_spec *L, int nl,
                      lf_shape in, int batch, float *xgiven, double h){
  char err[512];
  lf_net *net = lf_net_create(L, nl, &in, err, sizeof err);
  gradcheck_net(name, net, err, in, batch, xgiven, h);
}

static void report_check(void *ctx, const char *what, double e){
  CHECK(e < LF_GRADCHECK_TOL, "%s: dL/d%s rel err %.2e", (const char*)ctx, what, e);
}

/* >= 0: the next gradcheck_net also checks that this many gradient sums
** ran as accumulation into a convolution's diff_src (lf_net.c). */
static int expect_accumulated = -1;
/* >= 0: ... that this many convolutions ran their weight gradient on
** channels-last views (lf_net_channels_last_wgrads). */
static int expect_channels_last = -1;

static void gradcheck_net(const char *name, lf_net *net, const char *why,
                          lf_shape in, int batch, float *xgiven, double h){
  char err[512] = "";
  CHECK(net!=0, "%s: create (%s)", name, net ? "" : why);
  if( net==0 ){ free(xgiven); return; }
  /* BatchNorm's affine params are moved off 1 and 0 to make the check
  ** sensitive to them. */
  int rc = lf_gradcheck_net(net, in, batch, xgiven, h, strstr(name, "BatchNorm")!=0,
                            report_check, (void*)name, err, sizeof err);
  CHECK(rc==0, "%s: forward/backward (%s)", name, err);
  if( expect_accumulated>=0 ){
    int got = lf_net_accumulated_sums(net, batch);
    CHECK(got==expect_accumulated, "%s: %d gradient sum(s) by accumulation (expected %d)",
          name, got, expect_accumulated);
    expect_accumulated = -1;
  }
  if( expect_channels_last>=0 ){
    int got = lf_net_channels_last_wgrads(net, batch);
    CHECK(got==expect_channels_last, "%s: %d weight gradient(s) on channels-last views (expected %d)",
          name, got, expect_channels_last);
    expect_channels_last = -1;
  }
  lf_net_free(net);
  free(xgiven);
}

/* ---- tests ---- */

/* The component table and the implementations agree: every layer row has
** a complete implementation of the same name, and no implementation is
** named by two rows. (That every lf_layer_* defined has a row is checked
** from the sources by tests/sh/test_component_table.sh.) */
static void test_registry(void){
  int layers = 0, bad = 0;
  const lf_component *c;
  for(int i=0; (c = lf_registry_at(i))!=0; i++){
    if( c->kind!=LF_KIND_LAYER ){
      if( c->layer ){ bad++; CHECK(0, "%s is not a layer but names a layer implementation", c->loc); }
      continue;
    }
    layers++;
    const lf_layer_ops *o = c->layer;
    if( !o || !o->infer || !o->build || !o->forward || strcmp(o->loc, c->loc)!=0 ){
      bad++;
      CHECK(0, "row %s has a complete implementation of that name", c->loc);
      continue;
    }
    if( lf_registry_find_layer(o)!=c ){ bad++; CHECK(0, "%s: implementation named by one row", c->loc); }
    for(const lf_arg_spec *a = c->args; a && a->name; a++){
      if( a->offset + 1 > c->spec_size ){ bad++; CHECK(0, "%s arg %s lies inside its args struct", c->loc, a->name); }
    }
  }
  CHECK(layers>=13 && bad==0, "every layer row has its implementation (%d rows)", layers);
  CHECK(spec("Conv2d").ops==&lf_layer_conv2d && spec("GELU").ops==&lf_layer_gelu,
        "find known layers");
  CHECK(lf_registry_find_kind(LF_KIND_LAYER, "Conv3d")==0, "unknown layer is NULL");
}

static void test_gradients(void){
  lf_rng rng;
  lf_layer_spec L[8];
  lf_rng_seed(&rng, 11);

  L[0] = linear(5, 1);
  gradcheck("Linear", L, 1, shape1(7), 3, 0, 1e-2);
  L[0] = linear(4, 0);
  gradcheck("Linear(bias=false)", L, 1, shape1(6), 2, 0, 1e-2);

  L[0] = conv(4, 3, 2, 2, 1, 1, 0, 1);
  gradcheck("Conv2d(k3x2,s2x1,p1x0)", L, 1, shape3(3, 7, 6), 2, 0, 1e-2);
  L[0] = conv(3, 5, 5, 1, 1, 2, 2, 0);
  gradcheck("Conv2d(k5,p2,bias=false)", L, 1, shape3(2, 6, 6), 2, 0, 1e-2);

  L[0] = pool("MaxPool2d", 2, 2, 0);
  gradcheck("MaxPool2d(2)", L, 1, shape3(2, 6, 6), 2,
            spaced(2*2*6*6, 0.05f, &rng), 1e-2);
  L[0] = pool("MaxPool2d", 3, 2, 1);
  gradcheck("MaxPool2d(3,s2,p1)", L, 1, shape3(2, 7, 7), 2,
            spaced(2*2*7*7, 0.05f, &rng), 1e-2);
  L[0] = pool("AvgPool2d", 3, 2, 1);
  gradcheck("AvgPool2d(3,s2,p1)", L, 1, shape3(2, 7, 7), 2, 0, 1e-2);

  L[0] = spec("BatchNorm1d");
  gradcheck("BatchNorm1d", L, 1, shape1(5), 6, 0, 1e-2);
  L[0] = spec("BatchNorm2d");
  gradcheck("BatchNorm2d", L, 1, shape3(3, 3, 3), 4, 0, 1e-2);

  L[0] = spec("Dropout"); ARG(L[0], lf_dropout_args)->p = 0.3;
  gradcheck("Dropout(0.3)", L, 1, shape3(2, 3, 3), 3, 0, 1e-2);

  L[0] = spec("ReLU");
  gradcheck("ReLU", L, 1, shape3(2, 3, 3), 2, spaced(36, 0.1f, &rng), 1e-2);
  L[0] = spec("LeakyReLU"); ARG(L[0], lf_leakyrelu_args)->negative_slope = 0.2;
  gradcheck("LeakyReLU(0.2)", L, 1, shape1(10), 3, spaced(30, 0.1f, &rng), 1e-2);
  L[0] = spec("Tanh");
  gradcheck("Tanh", L, 1, shape1(10), 3, 0, 1e-2);
  L[0] = spec("Sigmoid");
  gradcheck("Sigmoid", L, 1, shape1(10), 3, 0, 1e-2);
  L[0] = spec("GELU");
  gradcheck("GELU", L, 1, shape1(10), 3, 0, 1e-2);
  L[0] = spec("Flatten");
  gradcheck("Flatten", L, 1, shape3(2, 3, 4), 2, 0, 1e-2);

  /* Blocked layouts between layers: conv output in nChw16c through BN,
  ** activations, pooling, dropout and Flatten's reorder. */
  L[0] = conv(5, 3, 3, 1, 1, 1, 1, 0);   /* a bias before BN has zero grad */
  L[1] = spec("BatchNorm2d");
  L[2] = spec("Tanh");
  L[3] = pool("AvgPool2d", 2, 2, 0);
  L[4] = spec("Dropout"); ARG(L[4], lf_dropout_args)->p = 0.25;
  L[5] = spec("Flatten");
  L[6] = linear(3, 1);
  gradcheck("Conv-BN-Tanh-AvgPool-Dropout-Flatten-Linear", L, 7,
            shape3(2, 6, 6), 3, 0, 1e-2);
  L[0] = conv(17, 3, 3, 1, 1, 1, 1, 1);   /* 17: padded channel blocks */
  L[1] = spec("GELU");
  L[2] = conv(4, 3, 3, 2, 2, 0, 0, 1);
  L[3] = spec("Sigmoid");
  L[4] = spec("Flatten");
  L[5] = linear(2, 1);
  gradcheck("Conv(17)-GELU-Conv-Sigmoid-Flatten-Linear", L, 6,
            shape3(3, 7, 7), 2, 0, 1e-2);
}

static void test_shape_errors(void){
  lf_layer_spec L[3];
  lf_shape in = shape3(1, 28, 28), out;
  char err[256] = "";
  int bad;
  lf_net *net;

  L[0] = conv(16, 5, 5, 2, 2, 0, 0, 1);
  L[1] = linear(10, 1);
  bad = lf_net_infer(L, 2, &in, &out, err, sizeof err);
  CHECK(bad==1 && strstr(err, "Linear expects a vector (or a sequence [T, F]) input, got [16,12,12]")
        && strstr(err, "Flatten"), "Linear on an image: layer %d, \"%s\"",
        bad, err);
  net = lf_net_create(L, 2, &in, err, sizeof err);
  CHECK(net==0 && strstr(err, "Flatten"), "create refuses it too");

  in = shape3(1, 3, 3);
  L[0] = conv(4, 5, 5, 1, 1, 0, 0, 1);
  bad = lf_net_infer(L, 1, &in, &out, err, sizeof err);
  CHECK(bad==0 && strcmp(err, "Conv2d kernel 5x5 with padding 0 does not fit "
        "input [1,3,3]")==0, "conv kernel too big: \"%s\"", err);
  ARG(L[0], lf_conv2d_args)->kernel[0] = ARG(L[0], lf_conv2d_args)->kernel[1] = 7;
  ARG(L[0], lf_conv2d_args)->padding[0] = ARG(L[0], lf_conv2d_args)->padding[1] = 1;
  bad = lf_net_infer(L, 1, &in, &out, err, sizeof err);
  CHECK(bad==0 && strstr(err, "7x7 with padding 1"), "with padding 1: \"%s\"", err);
  ARG(L[0], lf_conv2d_args)->kernel[0] = ARG(L[0], lf_conv2d_args)->kernel[1] = 5;
  ARG(L[0], lf_conv2d_args)->padding[0] = ARG(L[0], lf_conv2d_args)->padding[1] = 2;
  bad = lf_net_infer(L, 1, &in, &out, err, sizeof err);
  CHECK(bad==-1 && out.ndim==3 && out.dim[0]==4 && out.dim[1]==3
        && out.dim[2]==3, "padding 2 fits: [4,3,3]");

  in = shape1(20);
  L[0] = conv(4, 3, 3, 1, 1, 0, 0, 1);
  bad = lf_net_infer(L, 1, &in, &out, err, sizeof err);
  CHECK(bad==0 && strstr(err, "Conv2d expects an image input (C,H,W), got [20]"),
        "conv on a vector: \"%s\"", err);
  L[0] = pool("MaxPool2d", 2, 2, 0);
  bad = lf_net_infer(L, 1, &in, &out, err, sizeof err);
  CHECK(bad==0 && strstr(err, "MaxPool2d"), "pool on a vector: \"%s\"", err);

  in = shape3(3, 32, 32);
  L[0] = conv(8, 3, 3, 1, 1, 1, 1, 1);
  L[1] = pool("MaxPool2d", 2, 2, 0);
  L[2] = spec("Flatten");
  bad = lf_net_infer(L, 3, &in, &out, err, sizeof err);
  CHECK(bad==-1 && out.ndim==1 && out.dim[0]==8*16*16, "conv-pool-flatten "
        "shape [%lld]", (long long)out.dim[0]);
  L[1] = pool("MaxPool2d", 3, 2, 0);   /* floor((32-3)/2)+1 = 15 */
  bad = lf_net_infer(L, 2, &in, &out, err, sizeof err);
  CHECK(bad==-1 && out.dim[1]==15 && out.dim[2]==15, "pool floor rounding");
}

static void test_params(void){
  lf_layer_spec L[5];
  lf_shape in = shape3(3, 8, 8);
  char err[256];
  lf_net *net;
  lf_rng rng;
  int ok = 1, i;
  L[0] = conv(4, 3, 3, 1, 1, 1, 1, 1);
  L[1] = spec("BatchNorm2d");
  L[2] = spec("ReLU");
  L[3] = spec("Flatten");
  L[4] = linear(10, 0);
  net = lf_net_create(L, 5, &in, err, sizeof err);
  CHECK(net!=0, "create conv-bn net");
  if( net==0 ) return;
  CHECK(lf_net_param_count(net)==7, "7 params (%d)", lf_net_param_count(net));
  {
    static const char *names[] = { "0.weight", "0.bias", "1.weight", "1.bias",
      "1.running_mean", "1.running_var", "4.weight" };
    for(i=0; i<7; i++){
      lf_param *p = lf_net_param(net, i);
      if( !p || strcmp(p->name, names[i])!=0 ) ok = 0;
    }
  }
  CHECK(ok, "state_dict names");
  CHECK(lf_net_param(net, 0)->shape.ndim==4 && lf_net_param(net, 0)->shape.dim[1]==3
        && lf_net_param(net, 0)->shape.dim[2]==3, "conv weight (oc,ic,kh,kw)");
  CHECK(lf_net_param(net, 6)->shape.dim[0]==10
        && lf_net_param(net, 6)->shape.dim[1]==4*8*8, "linear weight (out,in)");
  CHECK(lf_net_param(net, 4)->grad==0 && lf_net_param(net, 5)->grad==0
        && lf_net_param(net, 2)->grad!=0, "buffers have no grad");
  lf_rng_seed(&rng, 1);
  lf_net_init_params(net, &rng);
  {
    lf_param *w = lf_net_param(net, 0), *wl = lf_net_param(net, 6);
    float mx = 0, mxl = 0;
    int64_t j;
    for(j=0; j<w->n; j++) if( fabsf(w->data[j])>mx ) mx = fabsf(w->data[j]);
    for(j=0; j<wl->n; j++) if( fabsf(wl->data[j])>mxl ) mxl = fabsf(wl->data[j]);
    CHECK(mx <= 1/sqrtf(27.0f) && mx > 0.8f/sqrtf(27.0f), "conv init bound "
          "1/sqrt(fan_in) (max %.4f)", mx);
    CHECK(mxl <= 1/sqrtf(256.0f) && mxl > 0.9f/sqrtf(256.0f), "linear init bound");
    CHECK(lf_net_param(net, 2)->data[0]==1 && lf_net_param(net, 3)->data[0]==0
          && lf_net_param(net, 4)->data[1]==0 && lf_net_param(net, 5)->data[2]==1,
          "BatchNorm init 1/0/0/1");
  }
  lf_net_free(net);
}

static void test_linear_forward(void){
  lf_layer_spec L[1];
  lf_shape in = shape1(13);
  char err[256];
  lf_net *net;
  lf_rng rng;
  float *x;
  const float *y;
  double maxd = 0;
  int b, o, i;
  L[0] = linear(9, 1);
  net = lf_net_create(L, 1, &in, err, sizeof err);
  if( !net ){ CHECK(0, "create linear: %s", err); return; }
  lf_rng_seed(&rng, 5);
  lf_net_init_params(net, &rng);
  x = randn(4*13, &rng);
  y = lf_net_forward(net, x, 4, 0, 0, err, sizeof err);
  CHECK(y!=0, "linear forward (%s)", y ? "" : err);
  if( y ){
    const float *W = lf_net_param(net, 0)->data, *B = lf_net_param(net, 1)->data;
    for(b=0; b<4; b++) for(o=0; o<9; o++){
      double s = B[o];
      for(i=0; i<13; i++) s += (double)x[b*13+i] * W[o*13+i];
      if( fabs(s - y[b*9+o]) > maxd ) maxd = fabs(s - y[b*9+o]);
    }
    CHECK(maxd < 1e-5, "linear matches x W^T + b (max diff %.2e)", maxd);
  }
  free(x);
  lf_net_free(net);
}

static void test_conv_forward(void){
  lf_layer_spec L[1];
  int C = 3, H = 9, W = 8, OC = 5, KH = 3, KW = 4, SH = 2, SW = 1, PH = 1, PW = 2;
  int N = 2, OH, OW, n, oc, oh, ow, c, kh, kw;
  lf_shape in = shape3(C, H, W);
  char err[256];
  lf_net *net;
  lf_rng rng;
  float *x;
  const float *y;
  double maxd = 0;
  L[0] = conv(OC, KH, KW, SH, SW, PH, PW, 1);
  OH = (H + 2*PH - KH)/SH + 1;
  OW = (W + 2*PW - KW)/SW + 1;
  net = lf_net_create(L, 1, &in, err, sizeof err);
  if( !net ){ CHECK(0, "create conv: %s", err); return; }
  lf_rng_seed(&rng, 9);
  lf_net_init_params(net, &rng);
  x = randn(N*C*H*W, &rng);
  y = lf_net_forward(net, x, N, 1, &rng, err, sizeof err);
  CHECK(y!=0, "conv forward (%s)", y ? "" : err);
  if( y ){
    const float *Wt = lf_net_param(net, 0)->data, *B = lf_net_param(net, 1)->data;
    for(n=0; n<N; n++) for(oc=0; oc<OC; oc++)
    for(oh=0; oh<OH; oh++) for(ow=0; ow<OW; ow++){
      double s = B[oc];
      for(c=0; c<C; c++) for(kh=0; kh<KH; kh++) for(kw=0; kw<KW; kw++){
        int ih = oh*SH - PH + kh, iw = ow*SW - PW + kw;
        if( ih<0 || ih>=H || iw<0 || iw>=W ) continue;
        s += (double)x[((n*C+c)*H+ih)*W+iw] * Wt[((oc*C+c)*KH+kh)*KW+kw];
      }
      s -= y[((n*OC+oc)*OH+oh)*OW+ow];
      if( fabs(s)>maxd ) maxd = fabs(s);
    }
    CHECK(maxd < 1e-5, "conv matches naive loops, plain (N,C,H,W) output "
          "(max diff %.2e)", maxd);
  }
  free(x);
  lf_net_free(net);
}

/* Layouts that name the same bytes (NHWC and nChw16c with exactly 16
** channels, any two layouts of a 1-channel image) are recognised; others
** are not. Between such layouts a relayout is a view: no buffer of its
** own, no reorder, the primitive reads the outer buffer. With 32 channels
** it still copies, element by element correctly. */
static void test_same_bytes(void){
  char err[256];
  dnnl_memory_desc_t a, b;
  dnnl_dims_t d16 = {2, 16, 3, 5}, d32 = {2, 32, 3, 5}, d1 = {2, 1, 3, 5};
  struct { dnnl_dims_t *d; dnnl_format_tag_t x, y; int same; const char *what; } c[] = {
    { &d16, dnnl_acdb, dnnl_aBcd16b, 1, "NHWC = nChw16c with 16 channels" },
    { &d32, dnnl_acdb, dnnl_aBcd16b, 0, "NHWC != nChw16c with 32 channels" },
    { &d16, dnnl_abcd, dnnl_aBcd16b, 0, "NCHW != nChw16c with 16 channels" },
    { &d1,  dnnl_abcd, dnnl_acdb,    1, "NCHW = NHWC with 1 channel" },
    { &d16, dnnl_acdb, dnnl_acdb,    1, "a layout is itself" },
    { &d16, dnnl_acdb, dnnl_aBcd8b,  0, "NHWC != nChw8c with 16 channels" },
  };
  for(size_t i=0; i<sizeof c/sizeof c[0]; i++){
    dnnl_memory_desc_init_by_tag(&a, 4, *c[i].d, dnnl_f32, c[i].x);
    dnnl_memory_desc_init_by_tag(&b, 4, *c[i].d, dnnl_f32, c[i].y);
    CHECK(lf_dnnl_md_same_bytes(&a, &b)==c[i].same && lf_dnnl_md_same_bytes(&b, &a)==c[i].same,
          "same bytes: %s", c[i].what);
  }
  for(int ch=16; ch<=32; ch+=16){
    dnnl_dims_t d = {2, ch, 3, 5};
    int64_t n = 2 * ch * 15;
    float *x = malloc(sizeof(float) * (size_t)n);
    dnnl_memory_t outer = 0;
    lf_relayout r;
    dnnl_stream_t st = 0;
    dnnl_memory_desc_init_by_tag(&a, 4, d, dnnl_f32, dnnl_acdb);
    dnnl_memory_desc_init_by_tag(&b, 4, d, dnnl_f32, dnnl_aBcd16b);
    for(int64_t k=0; k<n; k++) x[k] = (float)k;
    int ok = lf_dnnl_mem(&outer, &a, x, err, sizeof err)==0
          && lf_relayout_init(&r, &a, &b, 1, err, sizeof err)==0
          && dnnl_stream_create(&st, lf_dnnl_engine(err, sizeof err), dnnl_stream_default_flags)==dnnl_success
          && lf_relayout_run(&r, outer, st, err, sizeof err)==0
          && dnnl_stream_wait(st)==dnnl_success;
    const float *in = ok ? lf_dnnl_ptr(lf_relayout_mem(&r, outer)) : 0;
    int right = in!=0;
    /* element (n,c,h,w) of the inner nChw16c buffer is NHWC's x[((n*3+h)*5+w)*ch+c] */
    for(int nn=0; right && nn<2; nn++) for(int cc=0; cc<ch; cc++) for(int hw=0; hw<15; hw++){
      float want = x[((int64_t)nn*15 + hw)*ch + cc];
      float got = in[(((int64_t)nn*(ch/16) + cc/16)*15 + hw)*16 + cc%16];
      if( got!=want ) right = 0;
    }
    if( ch==16 ){
      CHECK(ok && r.reorder.pd==0 && in==x && right,
            "16 channels, NHWC -> nChw16c: a view of the same buffer, no reorder%s", ok ? "" : err);
    }else{
      CHECK(ok && r.reorder.pd!=0 && in!=x && right,
            "32 channels, NHWC -> nChw16c: reordered into its own buffer%s", ok ? "" : err);
    }
    if( ok ) lf_relayout_free(&r);
    if( outer ) dnnl_memory_destroy(outer);
    if( st ) dnnl_stream_destroy(st);
    free(x);
  }
}

/* One BatchNorm2d (16 channels, training, fused ReLU off) built on an input
** layout src_tag, run forward and backward on x / dy given in NCHW order;
** y, dx (NCHW order) and the scale/shift gradients come back. *kept: the
** output layout the layer reported (a view keeps its input's). */
static int bn16_run(dnnl_format_tag_t src_tag, const float *x, const float *dy,
                    float *y, float *dx, float *gsc, float *gsh, int *kept,
                    char *err, size_t errlen){
  enum { N = 4, C = 16, H = 3, W = 5 };
  lf_batchnorm_args a = { 1e-5, 0.1 };
  float sc[C], sh[C], rm[C], rv[C], g0[C], g1[C];
  lf_param P[4];
  lf_layer L;
  lf_layer_build b;
  lf_layer_run r;
  dnnl_memory_desc_t md;
  dnnl_dims_t d = {N, C, H, W};
  dnnl_memory_t m[4] = {0};
  dnnl_stream_t st = 0;
  float *buf[4];
  int rc = -1, built = 0, i;
  for(i=0; i<C; i++){ sc[i] = 1.0f + 0.1f*i; sh[i] = 0.05f*i; rm[i] = 0; rv[i] = 1; }
  memset(P, 0, sizeof P); memset(&L, 0, sizeof L); memset(&b, 0, sizeof b);
  P[0].data = sc; P[0].grad = g0; P[1].data = sh; P[1].grad = g1;
  P[2].data = rm; P[3].data = rv;
  for(i=0; i<4; i++){ P[i].n = C; P[i].shape.ndim = 1; P[i].shape.dim[0] = C; }
  L.ops = &lf_layer_batchnorm2d; L.args = &a; L.nin = 1; L.nparam = 4;
  L.in = L.ins[0] = (lf_shape){3, {C, H, W}};
  L.out = L.in;
  for(i=0; i<4; i++) L.param[i] = &P[i];
  for(i=0; i<4; i++) buf[i] = malloc(sizeof(float) * N*C*H*W);
  dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, src_tag);
  b.engine = lf_dnnl_engine(err, errlen);
  b.batch = N; b.src_md = b.src_mds[0] = &md; b.nsrc = 1;
  b.need_diff_src = b.need_diff[0] = 1;
  if( !b.engine || L.ops->build(&L, &b, err, errlen) ) goto done;
  built = 1;
  *kept = dnnl_memory_desc_equal(&b.dst_md, &md);
  /* buffers in src_tag order: NCHW -> that layout through a reorder-free
  ** index map (both are dense: abcd or acdb) */
  for(int n=0; n<N; n++) for(int c=0; c<C; c++) for(int hw=0; hw<H*W; hw++){
    int64_t o = src_tag==dnnl_acdb ? ((int64_t)n*H*W + hw)*C + c : ((int64_t)n*C + c)*H*W + hw;
    buf[0][o] = x[((int64_t)n*C + c)*H*W + hw];
    buf[2][o] = dy[((int64_t)n*C + c)*H*W + hw];
  }
  for(i=0; i<4; i++){
    if( lf_dnnl_mem(&m[i], &md, buf[i], err, errlen) ) goto done;
  }
  if( lf_dnnl_check(dnnl_stream_create(&st, b.engine, dnnl_stream_default_flags), "stream", err, errlen) ) goto done;
  memset(&r, 0, sizeof r);
  r.stream = st; r.batch = N; r.training = 1; r.nsrc = 1;
  r.src = r.srcs[0] = m[0]; r.dst = m[1]; r.diff_dst = m[2]; r.diff_src = r.diff_srcs[0] = m[3];
  if( L.ops->forward(&L, b.state, &r, err, errlen)
   || L.ops->backward(&L, b.state, &r, err, errlen)
   || lf_dnnl_check(dnnl_stream_wait(st), "wait", err, errlen) ) goto done;
  for(int n=0; n<N; n++) for(int c=0; c<C; c++) for(int hw=0; hw<H*W; hw++){
    int64_t o = src_tag==dnnl_acdb ? ((int64_t)n*H*W + hw)*C + c : ((int64_t)n*C + c)*H*W + hw;
    y[((int64_t)n*C + c)*H*W + hw] = buf[1][o];
    dx[((int64_t)n*C + c)*H*W + hw] = buf[3][o];
  }
  memcpy(gsc, g0, sizeof g0); memcpy(gsh, g1, sizeof g1);
  rc = 0;
done:
  if( built ) L.ops->release(b.state);
  for(i=0; i<4; i++){ if( m[i] ) dnnl_memory_destroy(m[i]); free(buf[i]); }
  if( st ) dnnl_stream_destroy(st);
  return rc;
}

/* BatchNorm2d on an NHWC input with 16 channels runs oneDNN's blocked
** kernel on a view of the same bytes (layer_batchnorm.c): its output
** layout stays NHWC, and forward and backward agree with the same layer on
** an NCHW input. */
static void test_batchnorm_nhwc16_view(void){
  enum { n = 4*16*3*5 };
  static float x[n], dy[n], y[2][n], dx[2][n];
  float gsc[2][16], gsh[2][16];
  char err[256] = "";
  int kept[2] = {0, 0};
  lf_rng rng;
  lf_rng_seed(&rng, 5);
  for(int i=0; i<n; i++){ x[i] = 2.0f*lf_rng_normal(&rng) + 1.0f; dy[i] = lf_rng_normal(&rng); }
  int ok = bn16_run(dnnl_abcd, x, dy, y[0], dx[0], gsc[0], gsh[0], &kept[0], err, sizeof err)==0
        && bn16_run(dnnl_acdb, x, dy, y[1], dx[1], gsc[1], gsh[1], &kept[1], err, sizeof err)==0;
  double worst = 0;
  for(int i=0; ok && i<n; i++){
    worst = fmax(worst, fabs((double)y[0][i]-y[1][i]));
    worst = fmax(worst, fabs((double)dx[0][i]-dx[1][i]));
  }
  for(int c=0; ok && c<16; c++){
    worst = fmax(worst, fabs((double)gsc[0][c]-gsc[1][c]));
    worst = fmax(worst, fabs((double)gsh[0][c]-gsh[1][c]));
  }
  CHECK(ok && kept[1] && worst < 1e-4,
        "BatchNorm2d on NHWC with 16 channels (blocked view) = on NCHW, forward and backward "
        "(max diff %.1e, output stays NHWC: %d)%s%s", worst, kept[1], ok ? "" : ": ", ok ? "" : err);
}

static void test_batchnorm_modes(void){
  lf_layer_spec L[1];
  lf_shape in = shape3(3, 4, 5);
  int N = 6, C = 3, HW = 20, n, c, i;
  char err[256];
  lf_net *net;
  lf_rng rng;
  float *x;
  const float *y;
  double maxd = 0, maxr = 0;
  L[0] = spec("BatchNorm2d");
  ARG(L[0], lf_batchnorm_args)->momentum = 0.25;
  net = lf_net_create(L, 1, &in, err, sizeof err);
  if( !net ){ CHECK(0, "create bn: %s", err); return; }
  lf_rng_seed(&rng, 2);
  lf_net_init_params(net, &rng);
  for(c=0; c<C; c++){
    lf_net_param(net, 0)->data[c] = 1.5f + c;      /* weight */
    lf_net_param(net, 1)->data[c] = -0.5f * c;     /* bias */
    lf_net_param(net, 2)->data[c] = 0.2f * c;      /* running_mean */
    lf_net_param(net, 3)->data[c] = 2.0f + c;      /* running_var */
  }
  x = randn(N*C*HW, &rng);
  for(i=0; i<N*C*HW; i++) x[i] = 3*x[i] + 1;
  y = lf_net_forward(net, x, N, 0, 0, err, sizeof err);
  CHECK(y!=0, "bn eval forward (%s)", y ? "" : err);
  if( y ){
    for(n=0; n<N; n++) for(c=0; c<C; c++) for(i=0; i<HW; i++){
      int k = (n*C+c)*HW+i;
      double e = (x[k] - 0.2*c) / sqrt(2.0 + c + 1e-5) * (1.5 + c) - 0.5*c;
      if( fabs(e - y[k])>maxd ) maxd = fabs(e - y[k]);
    }
    CHECK(maxd < 1e-5, "eval BatchNorm uses running stats (max diff %.2e)", maxd);
  }
  /* One training pass: running = 0.75 running + 0.25 batch (unbiased var). */
  y = lf_net_forward(net, x, N, 1, &rng, err, sizeof err);
  CHECK(y!=0, "bn train forward");
  for(c=0; c<C; c++){
    double s = 0, ss = 0, mean, var, m = N*HW;
    for(n=0; n<N; n++) for(i=0; i<HW; i++) s += x[(n*C+c)*HW+i];
    mean = s/m;
    for(n=0; n<N; n++) for(i=0; i<HW; i++){
      double d = x[(n*C+c)*HW+i] - mean; ss += d*d;
    }
    var = ss/(m-1);
    maxr = fmax(maxr, fabs(lf_net_param(net, 2)->data[c] - (0.75*0.2*c + 0.25*mean)));
    maxr = fmax(maxr, fabs(lf_net_param(net, 3)->data[c] - (0.75*(2.0+c) + 0.25*var))
                      / (2.0+c));
    if( y ){
      /* training output: normalised with the biased batch variance */
      double vb = ss/m;
      int k = (0*C+c)*HW+3;
      double e = (x[k]-mean)/sqrt(vb+1e-5)*(1.5+c) - 0.5*c;
      maxd = fmax(maxd, fabs(e - y[k]));
    }
  }
  CHECK(maxr < 1e-5, "running stats updated with momentum and unbiased "
        "variance (max diff %.2e)", maxr);
  CHECK(maxd < 1e-4, "training BatchNorm uses batch stats (max diff %.2e)", maxd);
  y = lf_net_forward(net, x, 1, 0, 0, err, sizeof err);
  CHECK(y!=0, "eval batch of 1 works");
  y = lf_net_forward(net, x, 1, 1, &rng, err, sizeof err);
  (void)y;
  L[0] = spec("BatchNorm1d");
  lf_net_free(net);
  in = shape1(4);
  net = lf_net_create(L, 1, &in, err, sizeof err);
  y = net ? lf_net_forward(net, x, 1, 1, &rng, err, sizeof err) : 0;
  CHECK(net && y==0 && strstr(err, "more than 1 value per channel"),
        "BatchNorm1d training on 1 sample is an error: \"%s\"", err);
  lf_net_free(net);
  free(x);
}

static void test_dropout(void){
  lf_layer_spec L[1];
  lf_shape in = shape1(1000);
  char err[256];
  lf_net *net;
  lf_rng rng, r1, r2;
  float *x, *y1;
  const float *y;
  int i, zeros = 0, scaled = 0, same = 1;
  L[0] = spec("Dropout");
  ARG(L[0], lf_dropout_args)->p = 0.4;
  net = lf_net_create(L, 1, &in, err, sizeof err);
  if( !net ){ CHECK(0, "create dropout: %s", err); return; }
  lf_rng_seed(&rng, 4);
  x = randn(2000, &rng);
  y = lf_net_forward(net, x, 2, 0, 0, err, sizeof err);
  CHECK(y && memcmp(x, y, 2000*sizeof(float))==0, "eval Dropout is the identity");
  lf_rng_seed(&r1, 77);
  y = lf_net_forward(net, x, 2, 1, &r1, err, sizeof err);
  if( !y ){ CHECK(0, "dropout train: %s", err); goto done; }
  y1 = malloc(2000*sizeof(float));
  memcpy(y1, y, 2000*sizeof(float));
  for(i=0; i<2000; i++){
    if( y1[i]==0 ) zeros++;
    else if( fabsf(y1[i] - x[i]/0.6f) < 1e-6f*fabsf(x[i])+1e-7f ) scaled++;
  }
  CHECK(zeros>700 && zeros<900 && zeros+scaled==2000, "inverted dropout: %d "
        "zeros, %d scaled by 1/(1-p)", zeros, scaled);
  lf_rng_seed(&r2, 77);
  y = lf_net_forward(net, x, 2, 1, &r2, err, sizeof err);
  for(i=0; y && i<2000; i++) if( y[i]!=y1[i] ) same = 0;
  CHECK(y && same, "same seed, same mask");
  free(y1);
done:
  free(x);
  lf_net_free(net);
}

/* The per-sample results of a net do not depend on the batch size it was
** built for, and returning to an earlier size reuses its build. */
static void test_batch_sizes(void){
  lf_layer_spec L[7];
  lf_shape in = shape3(2, 10, 10);
  int per_in = 200, per_out = 6, i;
  char err[256];
  lf_net *net;
  lf_rng rng;
  float *x, *y5, *g5;
  const float *y;
  double d = 0, dg = 0;
  L[0] = conv(16, 3, 3, 1, 1, 1, 1, 1);
  L[1] = spec("ReLU");
  L[2] = pool("MaxPool2d", 2, 2, 0);
  L[3] = conv(8, 3, 3, 1, 1, 0, 0, 1);
  L[4] = spec("LeakyReLU");
  L[5] = spec("Flatten");
  L[6] = linear(per_out, 1);
  net = lf_net_create(L, 7, &in, err, sizeof err);
  if( !net ){ CHECK(0, "create: %s", err); return; }
  lf_rng_seed(&rng, 8);
  lf_net_init_params(net, &rng);
  lf_net_want_input_grad(net, 1);
  x = randn(5*per_in, &rng);
  y = lf_net_forward(net, x, 5, 1, &rng, err, sizeof err);
  if( !y ){ CHECK(0, "forward 5: %s", err); goto done0; }
  y5 = malloc(5*per_out*sizeof(float));
  g5 = malloc(5*per_in*sizeof(float));
  memcpy(y5, y, 5*per_out*sizeof(float));
  lf_net_backward(net, y5, 5, err, sizeof err);
  memcpy(g5, lf_net_input_grad(net, 5), 5*per_in*sizeof(float));
  y = lf_net_forward(net, x, 2, 1, &rng, err, sizeof err);
  for(i=0; y && i<2*per_out; i++) d = fmax(d, fabs(y[i]-y5[i]));
  CHECK(y && d < 1e-5, "batch 2 matches the first 2 samples of batch 5 "
        "(max diff %.2e)", d);
  if( y && lf_net_backward(net, y5, 2, err, sizeof err)==0 ){
    const float *g = lf_net_input_grad(net, 2);
    for(i=0; i<2*per_in; i++) dg = fmax(dg, fabs(g[i]-g5[i]));
  }else dg = 1;
  CHECK(dg < 1e-5, "batch 2 input grads match (max diff %.2e)", dg);
  y = lf_net_forward(net, x, 5, 0, 0, err, sizeof err);
  d = 0;
  for(i=0; y && i<5*per_out; i++) d = fmax(d, fabs(y[i]-y5[i]));
  CHECK(y && d < 1e-5, "back to batch 5 (max diff %.2e)", d);
  CHECK(lf_net_backward(net, y5, 5, err, sizeof err)!=0,
        "backward after an eval forward is refused: \"%s\"", err);
  /* More sizes than the cache holds: the oldest builds are evicted. */
  d = 0;
  for(i=1; i<=LF_NET_MAX_BATCH_SIZES+2; i++){
    int k = i<=5 ? i : 1 + i%5, j;
    y = lf_net_forward(net, x, k, 0, 0, err, sizeof err);
    for(j=0; y && j<k*per_out; j++) d = fmax(d, fabs(y[j]-y5[j]));
    if( !y ) d = 1;
  }
  for(i=6; i<=LF_NET_MAX_BATCH_SIZES+3; i++){
    float *xx = calloc((size_t)i*per_in, sizeof(float));
    memcpy(xx, x, 5*per_in*sizeof(float));
    y = lf_net_forward(net, xx, i, 0, 0, err, sizeof err);
    for(int j=0; y && j<5*per_out; j++) d = fmax(d, fabs(y[j]-y5[j]));
    if( !y ) d = 1;
    free(xx);
  }
  CHECK(d < 1e-5, "%d batch sizes through a %d-entry cache (max diff %.2e)",
        LF_NET_MAX_BATCH_SIZES+3, LF_NET_MAX_BATCH_SIZES, d);
  free(y5);
  free(g5);
done0:
  free(x);
  lf_net_free(net);
}

/* A 3-class problem of well separated Gaussian blobs in 8-D, learnt by an
** MLP with softmax cross-entropy and plain SGD written here. */
static void test_train_mlp(void){
  enum { D = 8, K = 3, B = 32, STEPS = 300 };
  lf_layer_spec L[5];
  lf_shape in = shape1(D);
  float centre[K][D], x[B*D], dy[B*K];
  int label[B], step, i, k, j, np, correct = 0;
  double loss = 0, first = -1;
  char err[256];
  lf_net *net;
  lf_rng rng;
  L[0] = linear(32, 1);
  L[1] = spec("ReLU");
  L[2] = linear(16, 1);
  L[3] = spec("Tanh");
  L[4] = linear(K, 1);
  net = lf_net_create(L, 5, &in, err, sizeof err);
  if( !net ){ CHECK(0, "create mlp: %s", err); return; }
  lf_rng_seed(&rng, 123);
  lf_net_init_params(net, &rng);
  np = lf_net_param_count(net);
  for(k=0; k<K; k++) for(j=0; j<D; j++) centre[k][j] = 2*lf_rng_normal(&rng);
  for(step=0; step<STEPS; step++){
    const float *y;
    for(i=0; i<B; i++){
      label[i] = (int)(lf_rng_next(&rng) % K);
      for(j=0; j<D; j++) x[i*D+j] = centre[label[i]][j] + 0.5f*lf_rng_normal(&rng);
    }
    y = lf_net_forward(net, x, B, 1, &rng, err, sizeof err);
    if( !y ){ CHECK(0, "train forward: %s", err); break; }
    loss = 0;
    correct = 0;
    for(i=0; i<B; i++){
      double mx = y[i*K], z = 0;
      int arg = 0;
      for(k=1; k<K; k++) if( y[i*K+k]>mx ){ mx = y[i*K+k]; arg = k; }
      for(k=0; k<K; k++) z += exp(y[i*K+k]-mx);
      loss += -(y[i*K+label[i]] - mx - log(z)) / B;
      for(k=0; k<K; k++){
        dy[i*K+k] = (float)((exp(y[i*K+k]-mx)/z - (k==label[i])) / B);
      }
      correct += arg==label[i];
    }
    if( first<0 ) first = loss;
    if( lf_net_backward(net, dy, B, err, sizeof err) ){
      CHECK(0, "train backward: %s", err);
      break;
    }
    for(i=0; i<np; i++){
      lf_param *p = lf_net_param(net, i);
      int64_t e;
      if( !p->grad ) continue;
      for(e=0; e<p->n; e++) p->data[e] -= 0.1f * p->grad[e];
    }
  }
  CHECK(first > 0.5 && loss < 0.05, "MLP trained by SGD: loss %.3f -> %.4f "
        "after %d steps", first, loss, STEPS);
  CHECK(correct==B, "last batch all correct (%d/%d)", correct, B);
  lf_net_free(net);
}

/* ---- graphs ---- */

static lf_net_node node1(lf_layer_spec L, int in){
  lf_net_node n;
  memset(&n, 0, sizeof n);
  n.layer = L; n.nin = 1; n.in[0] = in;
  return n;
}

static lf_net_node node2(lf_layer_spec L, int a, int b){
  lf_net_node n = node1(L, a);
  n.nin = 2; n.in[1] = b;
  return n;
}

static lf_net *graph_net(lf_net_node *nodes, int n, lf_shape in, char *err, size_t errlen){
  lf_net_graph g;
  g.ninputs = 1; g.inputs = &in; g.nnodes = n; g.nodes = nodes; g.output = n;
  return lf_net_create_graph(&g, err, errlen);
}

/* A stride-1 convolution that reads a value another, later node reads
** too adds its diff_src into that node's part (a sum post-op, where its
** diff_src is a forward convolution: AVX-512 in f32) instead of the net
** summing two parts. Where the buffer it would add into is also a
** gradient someone reads after it (its own diff_dst; the Add's other
** input, made before it), the net must sum instead. Finite differences
** check the gradients either way. */
static void test_graph_accumulation(void){
  lf_net_node N[10];
  char err[512];
  int fwd = lf_dnnl_has_isa(dnnl_cpu_isa_avx512_core);
  lf_shape in = shape3(1, 6, 6);
  lf_layer_spec c3 = conv(16, 3, 3, 1, 1, 1, 1, 0);   /* 4 would take oneDNN's reference forward */

  /* The ResNet's identity block (tanh for relu: finite differences and
  ** kinks do not mix): x = tanh(stem); tanh(conv(tanh(bn(conv(x)))) + x). */
  N[0] = node1(c3, 0);
  N[1] = node1(spec("Tanh"), 1);
  N[2] = node1(c3, 2);
  N[3] = node1(spec("BatchNorm2d"), 3);
  N[4] = node1(spec("Tanh"), 4);
  N[5] = node1(c3, 5);
  N[6] = node2(spec("Add"), 6, 2);
  N[7] = node1(spec("Tanh"), 7);
  N[8] = node1(spec("GlobalAvgPool"), 8);
  N[9] = node1(linear(3, 1), 9);
  expect_accumulated = fwd ? 1 : 0;
  gradcheck_net("BatchNorm identity block (the first conv adds into the Add's part on AVX-512)",
                graph_net(N, 10, in, err, sizeof err), err, in, 3, 0, 1e-2);

  /* x + conv(x): the Add hands x the buffer the conv reads its diff_dst
  ** from. */
  N[0] = node1(c3, 0);
  N[1] = node1(spec("Tanh"), 1);
  N[2] = node1(c3, 2);
  N[3] = node2(spec("Add"), 3, 2);
  N[4] = node1(spec("GlobalAvgPool"), 4);
  N[5] = node1(linear(3, 1), 5);
  expect_accumulated = 0;
  gradcheck_net("x + conv(x): no accumulation into the conv's own diff_dst",
                graph_net(N, 6, in, err, sizeof err), err, in, 3, 0, 1e-2);

  /* conv(x) + (x + z), x = tanh(stem), z = sigmoid(stem) made before
  ** the conv: the inner Add passes its buffer to z too, whose producer
  ** reads it after the conv's backward. */
  N[0] = node1(c3, 0);
  N[1] = node1(spec("Tanh"), 1);
  N[2] = node1(spec("Sigmoid"), 1);
  N[3] = node1(c3, 2);
  N[4] = node2(spec("Add"), 2, 3);
  N[5] = node2(spec("Add"), 5, 4);
  N[6] = node1(spec("GlobalAvgPool"), 6);
  N[7] = node1(linear(3, 1), 7);
  expect_accumulated = 0;
  gradcheck_net("conv(x) + (x + z), z made first: no accumulation into z's buffer",
                graph_net(N, 8, in, err, sizeof err), err, in, 3, 0, 1e-2);
}

/* The ResNet's downsampling block built twice: as is, where the Add
** (ReLU fused) writes over its BatchNorm input and the input's two
** gradient parts meet in place (lf_net.c): with a 1x1 shortcut its part
** holds only the pixels it visits (lf_conv_compact_diff_src) and is added
** into the other; with a 3x3 stride-2 shortcut the two are summed into
** the first one's buffer. Built again with Identity views in the way,
** none of that may happen. Outputs and every gradient must agree (to the
** bit where the same kernels run). With 2 channels (nChw16c padded) the
** Add does not run in place: oneDNN's in-place add with a post-op is
** wrong there. */
static lf_net *downsampling_block(int ch, int views, int short_k, lf_shape in){
  lf_net_node N[13];
  char err[256];
  int k = 0, x = 0, bn_main, bn_short;
  /* node k reads value k (the previous node's output) unless told */
#define NEXT(layer) do{ N[k] = node1(layer, k); k++; }while(0)
  if( views ){ NEXT(spec("Identity")); x = k; }
  N[k] = node1(conv(ch, 3, 3, 2, 2, 1, 1, 0), 0); k++;
  NEXT(spec("BatchNorm2d"));
  NEXT(spec("ReLU"));
  NEXT(conv(ch, 3, 3, 1, 1, 1, 1, 0));
  NEXT(spec("BatchNorm2d"));
  if( views ) NEXT(spec("Identity"));
  bn_main = k;
  N[k] = node1(conv(ch, short_k, short_k, 2, 2, short_k/2, short_k/2, 0), x); k++;
  NEXT(spec("BatchNorm2d"));
  bn_short = k;
  N[k] = node2(spec("Add"), bn_main, bn_short); k++;
  NEXT(spec("ReLU"));
  NEXT(spec("GlobalAvgPool"));
  NEXT(linear(3, 1));
#undef NEXT
  lf_net *net = graph_net(N, k, in, err, sizeof err);
  CHECK(net!=0, "downsampling block (%d channels%s): create (%s)", ch, views ? ", views" : "", net ? "" : err);
  if( net ) lf_net_want_input_grad(net, 1);
  return net;
}

static void test_sums_in_place(void){
  for(int t=0; t<3; t++){
    int ch = t==2 ? 2 : 16, sk = t==1 ? 3 : 1;
    lf_shape in = shape3(ch, 6, 6);
    int B = 4, nx = B * ch * 36;
    lf_net *a = downsampling_block(ch, 0, sk, in), *b = downsampling_block(ch, 1, sk, in);
    char err[512] = "";
    lf_rng rng;
    if( !a || !b ){ lf_net_free(a); lf_net_free(b); continue; }
    lf_rng_seed(&rng, 23);
    lf_net_init_params(a, &rng);
    CHECK(lf_net_param_count(a)==lf_net_param_count(b), "%d channels: the same parameters", ch);
    for(int j=0; j<lf_net_param_count(a) && j<lf_net_param_count(b); j++){
      lf_param *p = lf_net_param(a, j), *q = lf_net_param(b, j);
      memcpy(q->data, p->data, sizeof(float) * (size_t)p->n);
    }
    float *x = randn(nx, &rng), *dy = randn(B * 3, &rng);
    float ya[12], gxa_first = 0;
    double dmax = 0, gmax = 0;
    const float *y = lf_net_forward(a, x, B, 1, 0, err, sizeof err);
    int ok = y && (memcpy(ya, y, sizeof ya), lf_net_backward(a, dy, B, err, sizeof err)==0);
    float *gxa = ok ? malloc(sizeof(float) * (size_t)nx) : 0;
    if( gxa ){ memcpy(gxa, lf_net_input_grad(a, B), sizeof(float) * (size_t)nx); gxa_first = gxa[0]; }
    y = ok ? lf_net_forward(b, x, B, 1, 0, err, sizeof err) : 0;
    ok = y && lf_net_backward(b, dy, B, err, sizeof err)==0;
    for(int i=0; ok && i<B*3; i++) dmax = fmax(dmax, fabs((double)y[i] - ya[i]));
    const float *gxb = ok ? lf_net_input_grad(b, B) : 0;
    for(int i=0; gxb && i<nx; i++){
      dmax = fmax(dmax, fabs((double)gxb[i] - gxa[i]));
      gmax = fmax(gmax, fabs((double)gxb[i]));
    }
    for(int j=0; ok && j<lf_net_param_count(a); j++){
      lf_param *p = lf_net_param(a, j), *q = lf_net_param(b, j);
      for(int64_t i=0; p->grad && i<p->n; i++){
        dmax = fmax(dmax, fabs((double)p->grad[i] - q->grad[i]));
        gmax = fmax(gmax, fabs((double)q->grad[i]));
      }
    }
    /* The compact part is a forward convolution, not the backward-data
    ** kernel: its sums may round differently. */
    double tol = sk==1 ? 1e-6 * gmax : 0;
    CHECK(ok && gxb && dmax<=tol && gxa_first!=0,
          "downsampling block, %d channels, %dx%d shortcut: in place = with views in the way "
          "(output, input and parameter gradients, max diff %.2e of %.2e)%s",
          ch, sk, sk, dmax, gmax, ok ? "" : err);
    /* the Add (not with 2 channels), and the input's gradient */
    int want = ch==16 ? 2 : 1, got = lf_net_in_place_sums(a, B), compact = lf_net_compact_parts(a, B);
    CHECK(got==want && compact==(sk==1) && lf_net_in_place_sums(b, B)==0,
          "downsampling block, %d channels, %dx%d shortcut: %d sum(s) written over an input "
          "(expected %d), %d by a compact part (expected %d), none with views",
          ch, sk, sk, got, want, compact, sk==1);
    free(gxa); free(x); free(dy);
    lf_net_free(a); lf_net_free(b);
  }
}

/* In f32 on AVX-512, a Conv2d with 16 channels in and out (nChw16c, the
** same bytes as NHWC) runs its weight gradient on NHWC views
** (layer_conv.c, bwdw_on_channels_last): its gradients by finite
** differences, with and without bias, the first reading the net's input;
** 16->32 and 8->16 convolutions keep their layouts. */
static void test_channels_last_wgrad(void){
  int avx512 = lf_dnnl_has_isa(dnnl_cpu_isa_avx512_core);
  lf_layer_spec L[5] = { conv(16, 3, 3, 1, 1, 1, 1, 1), spec("Tanh"), conv(16, 3, 2, 1, 1, 1, 0, 0),
                         spec("Tanh"), conv(32, 3, 3, 2, 2, 1, 1, 1) };
  expect_channels_last = avx512 ? 2 : 0;
  gradcheck("Conv2d(16->16)-Tanh-Conv2d(16->16,k3x2,bias=false)-Tanh-Conv2d(16->32,s2)", L, 5,
            shape3(16, 5, 6), 2, 0, 1e-2);
  expect_channels_last = 0;
  gradcheck("Conv2d(8->16)", L, 1, shape3(8, 5, 5), 2, 0, 1e-2);
}

static void test_graph_gradients(void){
  lf_net_node N[16];
  char err[512];
  lf_rng rng;
  lf_shape in;
  lf_net *net;
  lf_layer_spec cat;
  lf_rng_seed(&rng, 5);

  /* Residual block on the input: x feeds both the branch and the sum
  ** (two readers: summed input gradient), blocked conv output + plain x. */
  in = shape3(4, 6, 6);
  N[0] = node1(conv(4, 3, 3, 1, 1, 1, 1, 0), 0);
  N[1] = node1(spec("BatchNorm2d"), 1);
  N[2] = node1(spec("Tanh"), 2);
  N[3] = node1(conv(4, 3, 3, 1, 1, 1, 1, 0), 3);
  N[4] = node2(spec("Add"), 4, 0);
  N[5] = node1(spec("Tanh"), 5);
  N[6] = node1(spec("GlobalAvgPool"), 6);
  N[7] = node1(linear(3, 1), 7);
  net = graph_net(N, 8, in, err, sizeof err);
  gradcheck_net("Graph residual (x + conv-bn-tanh-conv(x)) -> GAP", net, err, in, 3, 0, 1e-2);

  /* The ResNet's downsampling block: both branches end in BatchNorm, and
  ** their Add feeds a ReLU: one binary add with the ReLU as a post-op,
  ** whose inputs' gradients are the output gradient's own buffer. Then an
  ** identity block whose Add (LeakyReLU after it) reads the previous
  ** block's output, which its branch reads too. */
  in = shape3(2, 4, 4);
  N[0] = node1(conv(2, 3, 3, 2, 2, 1, 1, 0), 0);
  N[1] = node1(spec("BatchNorm2d"), 1);
  N[2] = node1(spec("ReLU"), 2);
  N[3] = node1(conv(2, 3, 3, 1, 1, 1, 1, 0), 3);
  N[4] = node1(spec("BatchNorm2d"), 4);
  N[5] = node1(conv(2, 1, 1, 2, 2, 0, 0, 0), 0);
  N[6] = node1(spec("BatchNorm2d"), 6);
  N[7] = node2(spec("Add"), 5, 7);
  N[8] = node1(spec("ReLU"), 8);
  N[9] = node1(conv(2, 3, 3, 1, 1, 1, 1, 1), 9);
  N[10] = node2(spec("Add"), 10, 9);
  {
    lf_layer_spec lr = spec("LeakyReLU");
    ARG(lr, lf_leakyrelu_args)->negative_slope = 0.2;
    N[11] = node1(lr, 11);
  }
  N[12] = node1(spec("GlobalAvgPool"), 12);
  N[13] = node1(linear(3, 1), 13);
  net = graph_net(N, 14, in, err, sizeof err);
  gradcheck_net("Graph ResNet blocks (BatchNorm branches, Add then ReLU/LeakyReLU)", net, err, in, 3, 0, 3e-3);

  /* An Add input made by a view that works in place on its gradient
  ** (ReLU fused into the conv before it), with the other branch's
  ** backward running after that view's: that input keeps a buffer of its
  ** own (it must not be the output gradient's). */
  in = shape3(1, 4, 4);
  N[0] = node1(conv(2, 3, 3, 1, 1, 1, 1, 1), 0);
  N[1] = node1(conv(2, 3, 3, 1, 1, 1, 1, 1), 0);
  N[2] = node1(spec("ReLU"), 2);
  N[3] = node2(spec("Add"), 3, 1);
  N[4] = node1(spec("Tanh"), 4);
  N[5] = node1(spec("Flatten"), 5);
  N[6] = node1(linear(2, 1), 6);
  net = graph_net(N, 7, in, err, sizeof err);
  gradcheck_net("Graph Add(ReLU(conv(x)), conv(x))", net, err, in, 2, 0, 1e-3);


  /* Two branches joined by Concat (features), and Concat of blocked conv
  ** channels. */
  in = shape1(6);
  N[0] = node1(linear(4, 1), 0);
  N[1] = node1(linear(3, 1), 0);
  N[2] = node2(spec("Concat"), 1, 2);
  N[3] = node1(spec("Tanh"), 3);
  N[4] = node1(linear(2, 1), 4);
  net = graph_net(N, 5, in, err, sizeof err);
  gradcheck_net("Graph Concat(Linear(x), Linear(x))", net, err, in, 4, 0, 1e-2);

  in = shape3(3, 5, 5);
  N[0] = node1(conv(5, 3, 3, 1, 1, 1, 1, 1), 0);
  N[1] = node1(conv(3, 1, 1, 1, 1, 0, 0, 1), 0);
  N[2] = node2(spec("Concat"), 1, 2);
  N[3] = node1(spec("Sigmoid"), 3);
  N[4] = node1(spec("Flatten"), 4);
  N[5] = node1(linear(2, 1), 5);
  net = graph_net(N, 6, in, err, sizeof err);
  gradcheck_net("Graph Concat of conv channels (5+3)", net, err, in, 2, 0, 1e-2);

  cat = spec("Concat");
  ARG(cat, lf_concat_args)->axis = -1;
  N[0] = node1(conv(2, 3, 3, 1, 1, 1, 1, 1), 0);
  N[1] = node2(cat, 0, 1);          /* [3,5,5] + [2,...]: refused below */
  net = graph_net(N, 2, in, err, sizeof err);
  CHECK(net==0 && strstr(err, "Concat along axis 2") && strstr(err, "[3,5,5]") && strstr(err, "[2,5,5]"),
        "Concat refuses inputs that differ off the axis: \"%s\"", err);
  N[0] = node1(conv(3, 3, 3, 1, 1, 1, 1, 1), 0);
  N[1] = node2(cat, 0, 1);          /* width 5 + 5 */
  N[2] = node1(spec("Flatten"), 2);
  N[3] = node1(linear(2, 1), 3);
  net = graph_net(N, 4, in, err, sizeof err);
  gradcheck_net("Graph Concat(x, conv(x), axis=-1)", net, err, in, 2, 0, 1e-2);

  /* An input used twice by one node, and a gate (Mul). */
  in = shape1(5);
  N[0] = node2(spec("Add"), 0, 0);
  N[1] = node1(linear(3, 1), 1);
  net = graph_net(N, 2, in, err, sizeof err);
  gradcheck_net("Graph Add(x, x)", net, err, in, 3, 0, 1e-2);

  N[0] = node1(linear(4, 1), 0);
  N[1] = node1(linear(4, 1), 0);
  N[2] = node1(spec("Sigmoid"), 2);
  N[3] = node2(spec("Mul"), 1, 3);
  N[4] = node2(spec("Mul"), 4, 4);
  N[5] = node1(linear(2, 1), 5);
  net = graph_net(N, 6, in, err, sizeof err);
  gradcheck_net("Graph Mul(Linear(x), Sigmoid(Linear(x)))^2", net, err, in, 3, 0, 1e-2);

  /* Reshape, Identity, GlobalAvgPool over (C,L). */
  in = shape1(12);
  {
    lf_layer_spec r = spec("Reshape");
    lf_reshape_args *a = ARG(r, lf_reshape_args);
    a->shape.ndim = 2; a->shape.dim[0] = 3; a->shape.dim[1] = -1;
    N[0] = node1(linear(12, 1), 0);
    N[1] = node1(r, 1);
    N[2] = node1(spec("Identity"), 2);
    N[3] = node1(spec("GlobalAvgPool"), 3);
    N[4] = node2(spec("Add"), 4, 4);
    N[5] = node1(linear(2, 1), 5);
    net = graph_net(N, 6, in, err, sizeof err);
    CHECK(net && lf_net_param_count(net)==4 && strcmp(lf_net_param(net, 2)->name, "5.weight")==0,
          "graph params named by node (%s)", net ? lf_net_param(net, 2)->name : err);
    gradcheck_net("Graph Reshape([3,-1]) Identity GlobalAvgPool(C,L)", net, err, in, 3, 0, 1e-2);
  }

  /* Named input groups: two Slices of one input (their gradients summed). */
  in = shape1(6);
  {
    lf_layer_spec s1 = spec("Slice"), s2 = spec("Slice");
    ARG(s1, lf_slice_args)->start = 0; ARG(s1, lf_slice_args)->length = 2;
    ARG(s2, lf_slice_args)->start = 2; ARG(s2, lf_slice_args)->length = 4;
    N[0] = node1(s2, 0);
    N[1] = node1(s1, 0);
    N[2] = node1(linear(3, 1), 1);
    N[3] = node1(linear(3, 1), 2);
    N[4] = node2(spec("Concat"), 3, 4);
    N[5] = node1(spec("Tanh"), 5);
    N[6] = node1(linear(2, 1), 6);
    net = graph_net(N, 7, in, err, sizeof err);
    gradcheck_net("Graph Slice[2:6], Slice[0:2] of one input", net, err, in, 3, 0, 1e-2);
  }

  /* Refusals. */
  in = shape1(5);
  N[0] = node1(linear(3, 1), 0);
  N[1] = node1(linear(4, 1), 0);
  N[2] = node2(spec("Add"), 1, 2);
  net = graph_net(N, 3, in, err, sizeof err);
  CHECK(net==0 && strstr(err, "Add needs inputs of one shape, got [3] and [4]"),
        "Add of [3] and [4] refused: \"%s\"", err);
  N[0] = node1(linear(3, 1), 0);
  N[1] = node1(linear(4, 1), 0);
  net = graph_net(N, 2, in, err, sizeof err);
  CHECK(net==0 && strstr(err, "never used"), "unused node refused: \"%s\"", err);
  N[0] = node1(spec("Add"), 0);
  net = graph_net(N, 1, in, err, sizeof err);
  CHECK(net==0 && strstr(err, "Add needs 2 or more inputs"), "Add of one input refused: \"%s\"", err);

  /* Two inputs: the output is their concatenation. */
  {
    lf_shape ins[2] = { shape1(2), shape1(3) };
    lf_net_graph g;
    float a[4] = {1, 2, 3, 4}, b[6] = {5, 6, 7, 8, 9, 10};
    const float *xs[2] = { a, b };
    const float *y;
    N[0] = node2(spec("Concat"), 0, 1);
    N[1] = node1(spec("Identity"), 2);
    g.ninputs = 2; g.inputs = ins; g.nnodes = 2; g.nodes = N; g.output = 3;
    net = lf_net_create_graph(&g, err, sizeof err);
    y = net ? lf_net_forward_inputs(net, xs, 2, 0, 0, err, sizeof err) : 0;
    CHECK(y && y[0]==1 && y[1]==2 && y[2]==5 && y[4]==7 && y[5]==3 && y[9]==10
          && lf_net_input_count(net)==2 && lf_net_input_shape(net, 1).dim[0]==3,
          "two named inputs concatenated (%s)", y ? "" : err);
    lf_net_free(net);
  }
  test_graph_accumulation();
}

/* CategoricalEmbedding: codes (x.5 so that the finite differences stay on
** one code) in columns 0 and 2, continuous values in 1 and 3; a Linear
** after it sees both. Gradients of the tables (scatter-add, with repeated
** codes in the batch) and of the continuous inputs; the codes' own
** gradient is 0. */
static void test_catemb(void){
  lf_layer_spec L[2];
  lf_rng rng;
  int batch = 5;
  L[0] = spec("CategoricalEmbedding");
  lf_catemb_args *a = ARG(L[0], lf_catemb_args);
  a->dim = 3;
  a->ncols = 4;
  a->card[0] = 4; a->card[1] = 0; a->card[2] = 3; a->card[3] = 0;
  L[1] = linear(2, 1);
  lf_rng_seed(&rng, 5);
  float *x = randn(4 * batch, &rng);
  static const float codes0[5] = { 0, 3, 1, 3, 9 };   /* 9: out of range -> 0 */
  static const float codes2[5] = { 2, 2, 0, 1, 2 };
  for(int i=0; i<batch; i++){ x[i*4] = codes0[i] + 0.5f; x[i*4 + 2] = codes2[i] + 0.5f; }
  gradcheck("CategoricalEmbedding(dim 3) + Linear", L, 2, shape1(4), batch, x, 1e-2);
  lf_shape out;
  char err[256];
  CHECK(lf_net_infer(L, 1, &(lf_shape){1, {4}}, &out, err, sizeof err) < 0 && out.dim[0]==3+3+2,
        "CategoricalEmbedding output: 2 embeddings of 3, then 2 continuous values (%lld)", (long long)out.dim[0]);
  CHECK(lf_layer_param_values(&L[0], &(lf_shape){1, {4}})==(4+3)*3, "one table per categorical column: (4+3)*3 values");
  CHECK(lf_net_infer(L, 1, &(lf_shape){1, {5}}, &out, err, sizeof err)==0 && strstr(err, "must come first"),
        "CategoricalEmbedding on another width says it must come first: %s", err);

  /* One width per categorical column: 2 for column 0, 5 for column 2. */
  static int dims[2] = { 2, 5 };
  a->dim = 0; a->dims = dims; a->ndims = 2;
  float *x2 = randn(4 * batch, &rng);
  for(int i=0; i<batch; i++){ x2[i*4] = codes0[i] + 0.5f; x2[i*4 + 2] = codes2[i] + 0.5f; }
  gradcheck("CategoricalEmbedding(dims [2,5]) + Linear", L, 2, shape1(4), batch, x2, 1e-2);
  CHECK(lf_net_infer(L, 1, &(lf_shape){1, {4}}, &out, err, sizeof err) < 0 && out.dim[0]==2+5+2,
        "CategoricalEmbedding(dims [2,5]) output: 2 + 5 embedding values, then 2 continuous (%lld)", (long long)out.dim[0]);
  CHECK(lf_layer_param_values(&L[0], &(lf_shape){1, {4}})==4*2+3*5, "tables 4 x 2 and 3 x 5: 23 values");
  a->ndims = 1;
  CHECK(lf_net_infer(L, 1, &(lf_shape){1, {4}}, &out, err, sizeof err)==0 && strstr(err, "dims lists 1 width; its input has 2"),
        "dims of the wrong length is refused: %s", err);
}

/* SiLU, ELU, Softplus: finite differences, and values against PyTorch 1.13
** (F.silu, F.elu(alpha=0.5), F.softplus at x = -2, -0.5, 0, 1.5, 25). */
static void test_more_eltwise(void){
  static const float x[5] = { -2.0f, -0.5f, 0.0f, 1.5f, 25.0f };
  static const double want[3][5] = {
    { -0.23840584, -0.18877033, 0.0, 1.22636175, 25.0 },
    { -0.43233236, -0.19673467, 0.0, 1.5, 25.0 },
    { 0.12692801, 0.47407699, 0.69314718, 1.70141327, 25.0 } };
  static const char *const names[3] = { "SiLU", "ELU", "Softplus" };
  for(int k=0; k<3; k++){
    lf_layer_spec L[2];
    char err[256];
    L[0] = spec(names[k]);
    if( k==1 ) ARG(L[0], lf_elu_args)->alpha = 0.5;
    L[1] = linear(3, 1);
    gradcheck(names[k], L, 2, shape1(6), 3, 0, 1e-2);
    lf_shape in = shape1(5);
    lf_net *net = lf_net_create(L, 1, &in, err, sizeof err);
    const float *y = net ? lf_net_forward(net, x, 1, 0, 0, err, sizeof err) : 0;
    int ok = y != 0;
    for(int i=0; ok && i<5; i++) ok = fabs(y[i] - want[k][i]) <= 1e-5 * (1 + fabs(want[k][i]));
    CHECK(ok, "%s values equal PyTorch's (%s)", names[k], y ? "" : err);
    lf_net_free(net);
  }
}

static lf_shape shape2(int a, int b){
  lf_shape s;
  memset(&s, 0, sizeof s);
  s.ndim = 2; s.dim[0] = a; s.dim[1] = b;
  return s;
}

/* y of a one-layer net on x (batch samples), or NULL with err. */
static const float *forward1(lf_net **net, lf_layer_spec L, lf_shape in, const float *x, int batch,
                             char *err, size_t errlen){
  lf_rng rng;
  lf_rng_seed(&rng, 1);
  *net = lf_net_create(&L, 1, &in, err, errlen);
  if( *net ) lf_net_init_params(*net, &rng);
  return *net ? lf_net_forward(*net, x, batch, 0, 0, err, errlen) : 0;
}

/* LayerNorm: gradients over the last dim, over the last two, without
** affine params, after a Conv2d (blocked layout in, reordered) and in a
** chain; values against naive mean/variance loops; shape errors. */
static void test_layernorm(void){
  lf_layer_spec L[4];
  char err[256];
  lf_rng rng;
  lf_rng_seed(&rng, 21);
  L[0] = spec("LayerNorm");
  gradcheck("LayerNorm(default: last dim) on (6)", L, 1, shape1(6), 3, 0, 1e-2);
  gradcheck("LayerNorm(default: last dim) on (4,5)", L, 1, shape2(4, 5), 2, 0, 1e-2);
  L[0] = spec("LayerNorm");
  lf_layernorm_args *a = ARG(L[0], lf_layernorm_args);
  a->normalized_shape = shape2(3, 4);
  gradcheck("LayerNorm([3,4]) on (2,3,4)", L, 1, shape3(2, 3, 4), 2, 0, 1e-2);
  L[0] = spec("LayerNorm");
  ARG(L[0], lf_layernorm_args)->elementwise_affine = 0;
  gradcheck("LayerNorm(elementwise_affine=false)", L, 1, shape2(3, 7), 2, 0, 1e-2);
  L[0] = conv(17, 3, 3, 1, 1, 1, 1, 1);   /* nChw16c out: LayerNorm reorders */
  L[1] = spec("LayerNorm");
  ARG(L[1], lf_layernorm_args)->normalized_shape = shape3(17, 4, 4);
  L[2] = spec("Tanh");
  gradcheck("Conv2d(17)-LayerNorm([17,4,4])-Tanh", L, 3, shape3(2, 4, 4), 2, 0, 1e-2);
  L[0] = linear(6, 1);
  L[1] = spec("LayerNorm");
  L[2] = spec("GELU");
  L[3] = linear(3, 1);
  gradcheck("Linear-LayerNorm-GELU-Linear", L, 4, shape1(5), 4, 0, 1e-2);

  /* Values: (x - mean) / sqrt(var + eps) per row, weight 1 and bias 0. */
  {
    lf_net *net;
    int T = 3, D = 5, batch = 2;
    float *x = randn(batch * T * D, &rng);
    L[0] = spec("LayerNorm");
    const float *y = forward1(&net, L[0], shape2(T, D), x, batch, err, sizeof err);
    double worst = y ? 0 : 1;
    for(int r=0; y && r<batch*T; r++){
      double m = 0, v = 0;
      for(int j=0; j<D; j++) m += x[r*D + j];
      m /= D;
      for(int j=0; j<D; j++) v += (x[r*D + j] - m) * (x[r*D + j] - m);
      v /= D;
      for(int j=0; j<D; j++){
        double e = fabs(y[r*D + j] - (x[r*D + j] - m) / sqrt(v + 1e-5));
        if( e > worst ) worst = e;
      }
    }
    CHECK(worst < 1e-5, "LayerNorm values equal (x-mean)/sqrt(var+eps) per position (worst %.1e) %s", worst, y ? "" : err);
    CHECK(net && lf_net_param_count(net)==2 && strcmp(lf_net_param(net, 0)->name, "0.weight")==0
          && lf_net_param(net, 1)->shape.ndim==1 && lf_net_param(net, 1)->shape.dim[0]==D,
          "LayerNorm params: 0.weight and 0.bias of normalized_shape (%d)", D);
    lf_net_free(net);
    free(x);
  }
  lf_shape out;
  L[0] = spec("LayerNorm");
  ARG(L[0], lf_layernorm_args)->normalized_shape = shape1(4);
  CHECK(lf_net_infer(L, 1, &(lf_shape){2, {3, 5}}, &out, err, sizeof err)==0 && strstr(err, "normalized_shape [4]")
        && strstr(err, "[3,5]"), "LayerNorm refuses a normalized_shape that is not the input's last dims: %s", err);
  ARG(L[0], lf_layernorm_args)->normalized_shape = shape3(1, 3, 5);
  CHECK(lf_net_infer(L, 1, &(lf_shape){2, {3, 5}}, &out, err, sizeof err)==0 && strstr(err, "more dimensions"),
        "LayerNorm refuses a normalized_shape longer than its input: %s", err);
}

/* Softmax: gradients along the last axis, along channels (axis 0) of an
** image, and on a blocked layout after a Conv2d; values against a naive
** loop; a dim that is no axis is refused. */
static void test_softmax(void){
  lf_layer_spec L[3];
  char err[256];
  lf_rng rng;
  lf_rng_seed(&rng, 22);
  L[0] = spec("Softmax");
  gradcheck("Softmax(dim -1) on (6)", L, 1, shape1(6), 3, 0, 1e-2);
  gradcheck("Softmax(dim -1) on (3,5)", L, 1, shape2(3, 5), 2, 0, 1e-2);
  L[0] = spec("Softmax");
  ARG(L[0], lf_softmax_args)->dim = 0;
  gradcheck("Softmax(dim 0) on (4,3,3)", L, 1, shape3(4, 3, 3), 2, 0, 1e-2);
  L[0] = conv(17, 3, 3, 1, 1, 1, 1, 1);
  L[1] = spec("Softmax");
  ARG(L[1], lf_softmax_args)->dim = 0;
  gradcheck("Conv2d(17)-Softmax(dim 0)", L, 2, shape3(2, 3, 3), 2, 0, 1e-2);
  {
    lf_net *net;
    int T = 4, D = 6, batch = 2;
    float *x = randn(batch * T * D, &rng);
    L[0] = spec("Softmax");
    ARG(L[0], lf_softmax_args)->dim = 0;     /* over T, for each of the D columns */
    const float *y = forward1(&net, L[0], shape2(T, D), x, batch, err, sizeof err);
    double worst = y ? 0 : 1;
    for(int b=0; y && b<batch; b++){
      for(int j=0; j<D; j++){
        double z = 0;
        for(int t=0; t<T; t++) z += exp(x[(b*T + t)*D + j]);
        for(int t=0; t<T; t++){
          double e = fabs(y[(b*T + t)*D + j] - exp(x[(b*T + t)*D + j]) / z);
          if( e > worst ) worst = e;
        }
      }
    }
    CHECK(worst < 1e-6, "Softmax(dim 0) on (T,D) normalises each column over T (worst %.1e) %s", worst, y ? "" : err);
    lf_net_free(net);
    free(x);
  }
  lf_shape out;
  ARG(L[0], lf_softmax_args)->dim = 1;
  CHECK(lf_net_infer(L, 1, &(lf_shape){1, {5}}, &out, err, sizeof err)==0 && strstr(err, "dim 1 is not an axis"),
        "Softmax refuses a dim its input does not have: %s", err);
}

/* Embedding: gradients of the table (scatter-add with repeated ids, the
** padding row's gradient zero) and of the ids (zero); gather values;
** padding row initialised to zero; an id out of range is an error. */
static void test_embedding(void){
  lf_layer_spec L[3];
  char err[256];
  lf_rng rng;
  int T = 5, batch = 3;
  static const float ids[15] = { 0, 3, 3, 6, 2,  1, 1, 0, 5, 3,  6, 6, 6, 4, 2 };
  lf_rng_seed(&rng, 23);
  L[0] = spec("Embedding");
  lf_embedding_args *a = ARG(L[0], lf_embedding_args);
  a->num_embeddings = 7; a->embedding_dim = 4; a->padding_idx = -1;
  L[1] = spec("LayerNorm");
  float *x = malloc(sizeof ids);
  for(int i=0; i<15; i++) x[i] = ids[i] + 0.5f;     /* finite differences stay on one id */
  gradcheck("Embedding(7,4)-LayerNorm", L, 2, shape1(T), batch, x, 1e-2);
  a->padding_idx = 3;     /* its row's gradient is 0 by design: checked below */

  lf_net *net = lf_net_create(L, 1, &(lf_shape){1, {T}}, err, sizeof err);
  CHECK(net!=0, "Embedding net (%s)", net ? "" : err);
  if( net ){
    lf_net_init_params(net, &rng);
    lf_param *w = lf_net_param(net, 0);
    int zero = 1, ok;
    for(int d=0; d<4; d++) zero = zero && w->data[3*4 + d]==0.0f;
    CHECK(zero && w->data[0]!=0.0f && strcmp(w->name, "0.weight")==0 && w->shape.dim[0]==7 && w->shape.dim[1]==4,
          "Embedding 0.weight is (7,4), padding row 3 starts at zero");
    const float *y = lf_net_forward(net, ids, batch, 1, 0, err, sizeof err);
    ok = y!=0;
    for(int i=0; ok && i<15; i++) ok = memcmp(y + i*4, w->data + (int)ids[i]*4, 4*sizeof(float))==0;
    CHECK(ok, "Embedding output (3,5,4) is the rows of its ids %s", y ? "" : err);
    float *dy = randn(15*4, &rng);
    ok = y && lf_net_backward(net, dy, batch, err, sizeof err)==0;
    for(int d=0; ok && d<4; d++){
      double want = 0;
      for(int i=0; i<15; i++) if( ids[i]==6 ) want += dy[i*4 + d];
      ok = fabs(w->grad[6*4 + d] - want) < 1e-6 && w->grad[3*4 + d]==0.0f;
    }
    CHECK(ok, "Embedding grad: row 6 sums its 4 uses, padding row 3 gets none");
    float bad[5] = { 0, 1, 7, 2, 2 };
    y = lf_net_forward(net, bad, 1, 0, 0, err, sizeof err);
    CHECK(y==0 && strstr(err, "token id 7") && strstr(err, "position 2") && strstr(err, "[0, 7)"),
          "an id out of range is an error naming it: %s", y ? "(none)" : err);
    free(dy);
    lf_net_free(net);
  }
  lf_shape out;
  CHECK(lf_net_infer(L, 1, &(lf_shape){2, {2, 5}}, &out, err, sizeof err)==-1 && out.ndim==3 && out.dim[2]==4,
        "Embedding on (2,5) ids gives (2,5,4)");
  a->padding_idx = 7;
  CHECK(lf_net_infer(L, 1, &(lf_shape){1, {5}}, &out, err, sizeof err)==0 && strstr(err, "padding_idx 7"),
        "Embedding refuses padding_idx >= num_embeddings: %s", err);
}

/* ---- sequences: LSTM, GRU, SeqPool ---- */


static lf_layer_spec rnn(const char *loc, int hidden, int layers, int bidir, double dropout, int last){
  lf_layer_spec s = spec(loc);
  lf_rnn_args *a = ARG(s, lf_rnn_args);
  a->hidden_size = hidden; a->num_layers = layers; a->bidirectional = bidir;
  a->dropout = dropout; a->last = last;
  return s;
}

static lf_layer_spec seqpool(int code){
  lf_layer_spec s = spec("SeqPool");
  ARG(s, lf_seqpool_args)->code = code;
  return s;
}

static double sigm(double v){ return 1.0 / (1.0 + exp(-v)); }

/* PyTorch's LSTM/GRU equations, one layer, naively: y [N,T,D*H] from x
** [N,T,F] and the params in state_dict order (W_ih, W_hh, b_ih, b_hh per
** direction). */
static void ref_rnn(int gru, int D, int N, int T, int F, int H, const float *x,
                    lf_param *const *p, double *y){
  int G = gru ? 3 : 4;
  double *h = calloc((size_t)H, sizeof(double)), *c = calloc((size_t)H, sizeof(double));
  double *gi = calloc((size_t)(G*H), sizeof(double)), *gh = calloc((size_t)(G*H), sizeof(double));
  for(int d=0; d<D; d++){
    const float *Wi = p[d*4]->data, *Wh = p[d*4+1]->data, *bi = p[d*4+2]->data, *bh = p[d*4+3]->data;
    for(int n=0; n<N; n++){
      memset(h, 0, sizeof(double)*(size_t)H);
      memset(c, 0, sizeof(double)*(size_t)H);
      for(int s=0; s<T; s++){
        int t = d==0 ? s : T-1-s;
        const float *xt = x + ((size_t)n*T + (size_t)t)*F;
        for(int r=0; r<G*H; r++){
          gi[r] = bi[r]; gh[r] = bh[r];
          for(int k=0; k<F; k++) gi[r] += (double)Wi[(size_t)r*F + k] * xt[k];
          for(int k=0; k<H; k++) gh[r] += (double)Wh[(size_t)r*H + k] * h[k];
        }
        for(int o=0; o<H; o++){
          if( gru ){
            double rr = sigm(gi[o] + gh[o]), z = sigm(gi[H+o] + gh[H+o]);
            double nn = tanh(gi[2*H+o] + rr * gh[2*H+o]);
            c[o] = (1 - z) * nn + z * h[o];          /* new h, kept apart */
          }else{
            double i = sigm(gi[o] + gh[o]), f = sigm(gi[H+o] + gh[H+o]);
            double g = tanh(gi[2*H+o] + gh[2*H+o]), oo = sigm(gi[3*H+o] + gh[3*H+o]);
            double cc = f * c[o] + i * g;
            c[o] = cc;
            gi[o] = oo * tanh(cc);                   /* new h, kept apart */
          }
        }
        for(int o=0; o<H; o++){
          h[o] = gru ? c[o] : gi[o];
          y[((size_t)n*T + (size_t)t)*(size_t)(D*H) + (size_t)d*H + o] = h[o];
        }
      }
    }
  }
  free(h); free(c); free(gi); free(gh);
}

static void test_rnn_forward(void){
  for(int gru=0; gru<2; gru++){
    for(int D=1; D<=2; D++){
      const char *loc = gru ? "GRU" : "LSTM";
      lf_layer_spec L = rnn(loc, 5, 1, D==2, 0, 0);
      lf_shape in = shape2(6, 3);
      char err[512];
      lf_rng rng;
      lf_rng_seed(&rng, 9);
      lf_net *net = lf_net_create(&L, 1, &in, err, sizeof err);
      CHECK(net!=0, "%s(bidirectional=%d): create (%s)", loc, D==2, net ? "" : err);
      if( !net ) continue;
      lf_net_init_params(net, &rng);
      int N = 3, n = N*6*3;
      float *x = randn(n, &rng);
      const float *y = lf_net_forward(net, x, N, 0, 0, err, sizeof err);
      lf_param *ps[8];
      for(int i=0; i<lf_net_param_count(net); i++) ps[i] = lf_net_param(net, i);
      double *ref = calloc((size_t)N*6*5*D, sizeof(double)), worst = 0;
      ref_rnn(gru, D, N, 6, 3, 5, x, ps, ref);
      for(int i=0; y && i<N*6*5*D; i++) if( fabs(y[i]-ref[i]) > worst ) worst = fabs(y[i]-ref[i]);
      CHECK(y && worst < 1e-5, "%s(bidirectional=%d) forward matches PyTorch's equations (max diff %.1e)%s",
            loc, D==2, worst, y ? "" : err);
      CHECK(strcmp(ps[0]->name, "0.weight_ih_l0")==0 && ps[0]->shape.dim[0]==(gru ? 15 : 20)
            && ps[1]->shape.dim[1]==5 && (D==1 || strcmp(ps[4]->name, "0.weight_ih_l0_reverse")==0)
            && lf_net_param_count(net)==4*D, "%s(bidirectional=%d): PyTorch's parameter names and shapes", loc, D==2);
      int inb = 1;
      for(int i=0; i<lf_net_param_count(net); i++){
        for(int64_t j=0; j<ps[i]->n; j++) if( fabsf(ps[i]->data[j]) > 1.0f/sqrtf(5.0f) ) inb = 0;
      }
      CHECK(inb, "%s: init within U(-1/sqrt(H), 1/sqrt(H))", loc);
      free(ref); free(x);
      lf_net_free(net);
    }
  }
}

/* Inference (training=0: validation, ppl_evaluate, ppl_predict) runs
** oneDNN's forward_inference primitive, training its forward_training one
** (with the workspace backward reads): on the same weights and batch
** (no dropout) both give the same outputs, and a training step after an
** inference pass still gives the gradients of a step without it. */
static void test_rnn_inference(void){
  for(int gru=0; gru<2; gru++){
    for(int cfg=0; cfg<2; cfg++){
      const char *loc = gru ? "GRU" : "LSTM";
      /* cfg 0: the bench's shape (one layer, last step); 1: 2 layers, bidirectional */
      lf_layer_spec L = cfg==0 ? rnn(loc, 16, 1, 0, 0, 1) : rnn(loc, 6, 2, 1, 0, 0);
      lf_shape in = shape2(7, 5);
      char err[512];
      lf_rng rng;
      lf_rng_seed(&rng, 31 + gru*2 + cfg);
      lf_net *net = lf_net_create(&L, 1, &in, err, sizeof err);
      CHECK(net!=0, "%s cfg %d: create (%s)", loc, cfg, net ? "" : err);
      if( !net ) continue;
      lf_net_init_params(net, &rng);
      int N = 4;
      lf_shape os = lf_net_out_shape(net);
      int64_t nout = (int64_t)N * lf_shape_count(&os);
      float *x = randn(N*7*5, &rng), *dy = randn(nout, &rng);
      float *yt = malloc(sizeof(float)*(size_t)nout), *yi = malloc(sizeof(float)*(size_t)nout);
      int np = lf_net_param_count(net);
      int64_t ng = 0;
      for(int i=0; i<np; i++) ng += lf_net_param(net, i)->n;
      float *g1 = malloc(sizeof(float)*(size_t)ng), *g2 = malloc(sizeof(float)*(size_t)ng);
      lf_rng d1, d2;
      lf_rng_seed(&d1, 5); lf_rng_seed(&d2, 5);
      const float *y = lf_net_forward(net, x, N, 1, &d1, err, sizeof err);
      int ok = y != 0;
      if( ok ) memcpy(yt, y, sizeof(float)*(size_t)nout);
      ok = ok && lf_net_backward(net, dy, N, err, sizeof err)==0;
      for(int i=0, at=0; ok && i<np; at += (int)lf_net_param(net, i)->n, i++){
        memcpy(g1 + at, lf_net_param(net, i)->grad, sizeof(float)*(size_t)lf_net_param(net, i)->n);
      }
      y = ok ? lf_net_forward(net, x, N, 0, 0, err, sizeof err) : 0;
      ok = y != 0;
      if( ok ) memcpy(yi, y, sizeof(float)*(size_t)nout);
      double worst = 0;
      for(int64_t i=0; ok && i<nout; i++) if( fabs((double)yi[i]-yt[i]) > worst ) worst = fabs((double)yi[i]-yt[i]);
      CHECK(ok && worst <= 1e-6, "%s cfg %d: inference forward equals the training forward (max diff %.1e)%s",
            loc, cfg, worst, ok ? "" : err);
      /* inference, then a training step: the same gradients */
      y = ok ? lf_net_forward(net, x, N, 1, &d2, err, sizeof err) : 0;
      ok = y != 0 && lf_net_backward(net, dy, N, err, sizeof err)==0;
      for(int i=0, at=0; ok && i<np; at += (int)lf_net_param(net, i)->n, i++){
        memcpy(g2 + at, lf_net_param(net, i)->grad, sizeof(float)*(size_t)lf_net_param(net, i)->n);
      }
      CHECK(ok && memcmp(g1, g2, sizeof(float)*(size_t)ng)==0,
            "%s cfg %d: a training step after an inference pass gives the same gradients%s", loc, cfg, ok ? "" : err);
      /* another batch size: inference only */
      y = lf_net_forward(net, x, 1, 0, 0, err, sizeof err);
      double w1 = 0;
      int64_t per = nout / N;
      for(int64_t i=0; y && i<per; i++) if( fabs((double)y[i]-yt[i]) > w1 ) w1 = fabs((double)y[i]-yt[i]);
      CHECK(y && w1 <= 1e-6, "%s cfg %d: one sample alone (inference) equals its row of the batch (max diff %.1e)%s",
            loc, cfg, w1, y ? "" : err);
      free(x); free(dy); free(yt); free(yi); free(g1); free(g2);
      lf_net_free(net);
    }
  }
}

/* bf16 (where the CPU has it): the same outputs within bf16 precision,
** and a training step runs; elsewhere a clear refusal. */
static void test_rnn_bf16(void){
  for(int gru=0; gru<2; gru++){
    const char *loc = gru ? "GRU" : "LSTM";
    lf_layer_spec L[2] = { rnn(loc, 8, 2, 1, 0.2, 1), linear(3, 1) };
    lf_shape in = shape2(7, 4);
    char err[512];
    lf_rng rng, drng;
    lf_rng_seed(&rng, 21);
    lf_net *net = lf_net_create(L, 2, &in, err, sizeof err);
    if( !net ){ CHECK(0, "%s bf16: create (%s)", loc, err); continue; }
    lf_net_init_params(net, &rng);
    float *x = randn(4*7*4, &rng), y32[12], *dy = randn(12, &rng);
    const float *y = lf_net_forward(net, x, 4, 0, 0, err, sizeof err);
    if( y ) memcpy(y32, y, sizeof y32);
    if( !lf_bf16_supported() ){
      CHECK(lf_net_set_bf16(net, 1, err, sizeof err)!=0 && strstr(err, "f32"), "%s bf16 refused on this CPU: %s", loc, err);
    }else{
      int rc = lf_net_set_bf16(net, 1, err, sizeof err);
      const float *y16 = rc ? 0 : lf_net_forward(net, x, 4, 0, 0, err, sizeof err);
      double worst = 0;
      for(int i=0; y16 && i<12; i++) if( fabs(y16[i]-y32[i]) > worst ) worst = fabs(y16[i]-y32[i]);
      CHECK(y16 && worst < 0.05, "%s bf16 forward close to f32 (max diff %.3f)%s", loc, worst, y16 ? "" : err);
      lf_rng_seed(&drng, 1);
      int ok = lf_net_forward(net, x, 4, 1, &drng, err, sizeof err) && lf_net_backward(net, dy, 4, err, sizeof err)==0;
      double gn = 0;
      for(int i=0; ok && i<lf_net_param_count(net); i++){
        lf_param *p = lf_net_param(net, i);
        for(int64_t j=0; j<p->n; j++) gn += (double)p->grad[j]*p->grad[j];
      }
      CHECK(ok && gn > 0 && isfinite(gn), "%s bf16 training step gives finite gradients%s%s", loc, ok ? "" : ": ", ok ? "" : err);
    }
    free(x); free(dy);
    lf_net_free(net);
  }
}

static void test_rnn_gradients(void){
  lf_layer_spec L[3];
  lf_net_node N[4];
  char err[512];
  lf_rng rng;
  lf_rng_seed(&rng, 13);
  L[0] = rnn("LSTM", 4, 1, 0, 0, 0);
  gradcheck("LSTM(4)", L, 1, shape2(5, 3), 2, 0, 1e-2);
  /* Two layers: layer 0's recurrent weights get small gradients through
  ** layer 1, so the whole sequence is the output (more signal than f32
  ** rounding in the differences). */
  L[0] = rnn("LSTM", 3, 2, 1, 0.3, 0);
  gradcheck("LSTM(3, 2 layers, bidirectional, dropout 0.3)", L, 1, shape2(4, 2), 3, 0, 1e-2);
  L[0] = rnn("LSTM", 3, 1, 1, 0, 1);
  L[1] = linear(2, 1);
  gradcheck("LSTM(3, bidirectional, last)-Linear", L, 2, shape2(4, 2), 3, 0, 1e-2);
  L[0] = rnn("GRU", 4, 1, 0, 0, 0);
  gradcheck("GRU(4)", L, 1, shape2(5, 3), 2, 0, 1e-2);
  L[0] = rnn("GRU", 3, 2, 1, 0.25, 0);
  gradcheck("GRU(3, 2 layers, bidirectional, dropout 0.25)", L, 1, shape2(4, 2), 2, 0, 1e-2);
  L[0] = rnn("GRU", 3, 1, 0, 0, 1);
  gradcheck("GRU(3, last)", L, 1, shape2(4, 2), 3, 0, 1e-2);

  /* SeqPool without a mask. */
  L[0] = seqpool(LF_SEQPOOL_MEAN);
  gradcheck("SeqPool(mean)", L, 1, shape2(4, 3), 2, 0, 1e-2);
  L[0] = seqpool(LF_SEQPOOL_MAX);
  gradcheck("SeqPool(max)", L, 1, shape2(4, 3), 2, spaced(24, 0.05f, &rng), 1e-2);
  L[0] = seqpool(LF_SEQPOOL_LAST);
  gradcheck("SeqPool(last)", L, 1, shape2(4, 3), 2, 0, 1e-2);

  /* With a mask: input [T, C+1] whose last column is the mask, sliced
  ** apart in a graph (Slice of the flat row, Reshape). */
  for(int mode=0; mode<3; mode++){
    static const char *names[] = {"last", "mean", "max"};
    int T = 5, C = 3, B = 3;
    lf_shape in = shape1(T*C + T);
    lf_layer_spec sx = spec("Slice"), sm = spec("Slice"), rs = spec("Reshape");
    ARG(sx, lf_slice_args)->start = 0; ARG(sx, lf_slice_args)->length = T*C;
    ARG(sm, lf_slice_args)->start = T*C; ARG(sm, lf_slice_args)->length = T;
    ARG(rs, lf_reshape_args)->shape = shape2(T, C);
    N[0] = node1(sx, 0);
    N[1] = node1(rs, 1);
    N[2] = node1(sm, 0);
    N[3] = node2(seqpool(mode), 2, 3);
    lf_net *net = graph_net(N, 4, in, err, sizeof err);
    /* Sample lengths 5, 2 and 0 (all padding). */
    float *x = spaced((int64_t)B*(T*C + T), 0.05f, &rng);
    int len[3] = {5, 2, 0};
    for(int b=0; b<B; b++) for(int t=0; t<T; t++) x[b*(T*C+T) + T*C + t] = t < len[b] ? 1.0f : 0.0f;
    char name[64];
    snprintf(name, sizeof name, "SeqPool(%s) with a mask", names[mode]);
    /* The mask gets no gradient and is not probed: only the values. */
    if( net ){
      const float *y = lf_net_forward(net, x, B, 0, 0, err, sizeof err);
      int ok = y!=0;
      for(int c=0; ok && c<C; c++){
        const float *x1 = x + (T*C + T);     /* sample 1: 2 valid steps */
        double want = mode==0 ? x1[1*C + c] : mode==1 ? (x1[c] + x1[C + c]) / 2
                    : (x1[c] > x1[C + c] ? x1[c] : x1[C + c]);
        if( fabs(y[C + c] - want) > 1e-6 || y[2*C + c] != 0.0f ) ok = 0;
      }
      CHECK(ok, "%s: padding steps are skipped, an empty sequence pools to 0", name);
    }
    lf_net_free(net);
    net = graph_net(N, 4, in, err, sizeof err);
    /* Gradient check on the values; the mask columns keep their 0/1 values
    ** since the probe only moves what it picks: restrict by giving the mask
    ** no gradient (its true derivative is 0 almost everywhere). */
    gradcheck_net(name, net, err, in, B, x, 1e-3);
  }
}

static lf_layer_spec conv1d(int out, int k, int stride, int pad, int dil, int bias){
  lf_layer_spec s = spec("Conv1d");
  lf_conv1d_args *a = ARG(s, lf_conv1d_args);
  a->out = out; a->kernel = k; a->stride = stride; a->padding = pad; a->dilation = dil; a->bias = bias;
  return s;
}

static lf_layer_spec pool1d(const char *loc, int k, int stride, int pad){
  lf_layer_spec s = spec(loc);
  lf_pool1d_args *a = ARG(s, lf_pool1d_args);
  a->kernel = k; a->stride = stride; a->padding = pad;
  return s;
}

/* Conv1d, MaxPool1d, AvgPool1d: gradients (stride, padding, dilation, no
** bias, blocked layouts through a chain), Conv1d against a naive loop,
** output lengths, shape errors. */
static void test_conv1d(void){
  lf_layer_spec L[6];
  char err[256];
  lf_rng rng;
  lf_shape out;
  lf_rng_seed(&rng, 24);
  L[0] = conv1d(4, 3, 2, 1, 1, 1);
  gradcheck("Conv1d(k3,s2,p1)", L, 1, shape2(3, 9), 2, 0, 1e-2);
  L[0] = conv1d(3, 3, 1, 2, 2, 0);
  gradcheck("Conv1d(k3,dilation 2,p2,bias=false)", L, 1, shape2(2, 10), 2, 0, 1e-2);
  L[0] = pool1d("MaxPool1d", 2, 2, 0);
  gradcheck("MaxPool1d(2)", L, 1, shape2(3, 8), 2, spaced(2*3*8, 0.05f, &rng), 1e-2);
  L[0] = pool1d("MaxPool1d", 3, 2, 1);
  gradcheck("MaxPool1d(3,s2,p1)", L, 1, shape2(2, 9), 2, spaced(2*2*9, 0.05f, &rng), 1e-2);
  L[0] = pool1d("AvgPool1d", 3, 2, 1);
  gradcheck("AvgPool1d(3,s2,p1)", L, 1, shape2(2, 9), 2, 0, 1e-2);
  L[0] = conv1d(17, 3, 1, 1, 1, 1);      /* 17 channels: padded blocks */
  L[1] = spec("Tanh");
  L[2] = pool1d("AvgPool1d", 2, 2, 0);
  L[3] = conv1d(5, 3, 1, 1, 2, 1);
  L[4] = spec("GlobalAvgPool");
  L[5] = linear(3, 1);
  gradcheck("Conv1d(17)-Tanh-AvgPool1d-Conv1d(dil 2)-GlobalAvgPool-Linear", L, 6, shape2(2, 12), 2,
            0, 1e-2);
  /* ReLU then MaxPool1d (fused into the conv, then swapped): kinks and
  ** ties a step of 1e-2 would cross, so a smaller step. */
  L[1] = spec("ReLU");
  L[2] = pool1d("MaxPool1d", 2, 2, 0);
  gradcheck("Conv1d(17)-ReLU-MaxPool1d-Conv1d(dil 2)-GlobalAvgPool-Linear", L, 6, shape2(2, 12), 2,
            spaced(2*2*12, 0.05f, &rng), 1e-3);

  /* y[o][t] = b[o] + sum_c,k w[o][c][k] * x[c][t*s - p + k*d] */
  {
    lf_net *net;
    int C = 3, Lin = 11, O = 4, K = 3, S = 2, P = 2, D = 2, batch = 2;
    float *x = randn(batch * C * Lin, &rng);
    const float *y = forward1(&net, conv1d(O, K, S, P, D, 1), shape2(C, Lin), x, batch, err, sizeof err);
    int Lout = (Lin + 2*P - D*(K-1) - 1) / S + 1;
    double worst = y ? 0 : 1;
    const float *w = y ? lf_net_param(net, 0)->data : 0, *bias = y ? lf_net_param(net, 1)->data : 0;
    for(int n=0; y && n<batch; n++) for(int o=0; o<O; o++) for(int t=0; t<Lout; t++){
      double v = bias[o];
      for(int c=0; c<C; c++) for(int k=0; k<K; k++){
        int at = t*S - P + k*D;
        if( at >= 0 && at < Lin ) v += (double)w[(o*C + c)*K + k] * x[(n*C + c)*Lin + at];
      }
      double e = fabs(v - y[(n*O + o)*Lout + t]);
      if( e > worst ) worst = e;
    }
    CHECK(worst < 1e-5, "Conv1d(k3,s2,p2,dilation 2) equals the naive loop (worst %.1e) %s", worst, y ? "" : err);
    CHECK(net && lf_net_out_shape(net).dim[1]==Lout && lf_net_param(net, 0)->shape.ndim==3
          && lf_net_param(net, 0)->shape.dim[2]==K, "Conv1d output (4,%d), weight (out,in,k)", Lout);
    lf_net_free(net);
    free(x);
  }
  L[0] = pool1d("AvgPool1d", 4, 4, 0);
  CHECK(lf_net_infer(L, 1, &(lf_shape){2, {3, 10}}, &out, err, sizeof err)==-1 && out.dim[1]==2,
        "AvgPool1d(4) on (3,10) gives (3,2)");
  L[0] = conv1d(2, 5, 1, 0, 3, 1);
  CHECK(lf_net_infer(L, 1, &(lf_shape){2, {3, 10}}, &out, err, sizeof err)==0 && strstr(err, "dilation 3"),
        "Conv1d refuses a dilated kernel longer than its input: %s", err);
  CHECK(lf_net_infer(L, 1, &(lf_shape){3, {3, 10, 10}}, &out, err, sizeof err)==0 && strstr(err, "(C,L)"),
        "Conv1d refuses an image: %s", err);
  L[0] = pool1d("MaxPool1d", 2, 0, 0);
  CHECK(lf_net_infer(L, 1, &(lf_shape){2, {3, 10}}, &out, err, sizeof err)==0 && strstr(err, "stride >= 1"),
        "a pool whose stride the table did not set is refused: %s", err);
}

/* bf16 convolution gradients agree with f32's within bf16 rounding, on
** every path layer_conv.c takes: strided 3x3 and 1x1 with a narrow output
** (weight gradient in f32 on f32 copies: without AMX for the strided 3x3,
** with AMX for any output at most 8 wide), a wider output (AMX's bf16
** weight gradient), and stride-1 convolutions after another layer, whose
** diff_src on AMX is a forward convolution with flipped weights (a 3x5
** kernel padded (0,2) and a Conv1d): the first layer's gradients go
** through that diff_src. run_c.sh runs it a second time with AMX hidden
** (ONEDNN_MAX_CPU_ISA) on a CPU that has it, so both sides are checked. */
static const char *isa_note = "";
/* >= 0: check_bf16_grads also checks how many gradient sums the bf16 net
** made by accumulation (lf_net_accumulated_sums). */
static int expect_bf16_accumulated = -1;
static int expect_bf16_compact = -1;   /* the same for lf_net_compact_parts */

/* Trains one step of net on a batch of 4 in f32, then in bf16, from the
** same weights, and checks every parameter's gradient agrees (relative
** L2 error below tol). Frees net. */
static void check_bf16_grads(const char *name, lf_net *net, const char *why,
                             lf_shape in, double tol){
  char err[512];
  lf_rng rng;
  if( !net ){ CHECK(0, "%s bf16: create (%s)", name, why); return; }
  lf_rng_seed(&rng, 31);
  lf_net_init_params(net, &rng);
  int64_t nin = 4 * lf_shape_count(&in);
  lf_shape o = lf_net_out_shape(net);
  int64_t nout = 4 * lf_shape_count(&o);
  float *x = randn(nin, &rng), *dy = randn(nout, &rng);
  int np = lf_net_param_count(net);
  float **g32 = calloc((size_t)np, sizeof *g32);
  int ok = g32 && lf_net_forward(net, x, 4, 1, 0, err, sizeof err)
           && lf_net_backward(net, dy, 4, err, sizeof err)==0;
  for(int i=0; ok && i<np; i++){
    lf_param *w = lf_net_param(net, i);
    if( w->grad==0 ) continue;
    g32[i] = malloc(sizeof(float) * (size_t)w->n);
    memcpy(g32[i], w->grad, sizeof(float) * (size_t)w->n);
  }
  ok = ok && lf_net_set_bf16(net, 1, err, sizeof err)==0
       && lf_net_forward(net, x, 4, 1, 0, err, sizeof err) && lf_net_backward(net, dy, 4, err, sizeof err)==0;
  double worst = 0;
  for(int i=0; ok && i<np; i++){
    lf_param *w = lf_net_param(net, i);
    double d = 0, nrm = 0;
    if( w->grad==0 ) continue;
    for(int64_t j=0; j<w->n; j++){ d += (w->grad[j]-g32[i][j])*(double)(w->grad[j]-g32[i][j]); nrm += (double)g32[i][j]*g32[i][j]; }
    double rel = nrm > 0 ? sqrt(d / nrm) : 1;
    if( rel > worst ) worst = rel;
  }
  CHECK(ok && worst < tol, "%s bf16 gradients (%d params) close to f32's%s (worst rel %.1e)%s",
        name, np, isa_note, worst, ok ? "" : err);
  if( ok && expect_bf16_accumulated>=0 ){
    int got = lf_net_accumulated_sums(net, 4);
    CHECK(got==expect_bf16_accumulated, "%s bf16: %d gradient sum(s) by accumulation%s (expected %d)",
          name, got, isa_note, expect_bf16_accumulated);
  }
  if( ok && expect_bf16_compact>=0 ){
    int got = lf_net_compact_parts(net, 4);
    CHECK(got==expect_bf16_compact, "%s bf16: %d compact gradient part(s)%s (expected %d)",
          name, got, isa_note, expect_bf16_compact);
  }
  expect_bf16_accumulated = expect_bf16_compact = -1;
  for(int i=0; g32 && i<np; i++) free(g32[i]);
  free(g32); free(x); free(dy);
  lf_net_free(net);
}

static void test_conv_bf16_grads(void){
  enum { NCASE = 10 };
  lf_layer_spec C[NCASE][2] = {
    { conv(16, 3, 3, 2, 2, 1, 1, 1) }, { conv(16, 1, 1, 2, 2, 0, 0, 0) },
    { conv1d(16, 3, 2, 1, 1, 1) },     { conv(16, 3, 3, 1, 1, 1, 1, 0) },
    { conv(8, 1, 1, 1, 1, 0, 0, 1), conv(16, 3, 5, 1, 1, 0, 2, 1) },
    { conv1d(16, 1, 1, 0, 1, 1), conv1d(16, 3, 1, 1, 1, 0) },
    { conv(16, 1, 1, 1, 1, 0, 0, 1), conv(32, 3, 3, 2, 2, 1, 1, 0) },
    { conv(16, 1, 1, 1, 1, 0, 0, 1), conv(32, 4, 4, 2, 2, 1, 1, 0) },
    { conv(16, 1, 1, 1, 1, 0, 0, 1), conv(32, 5, 3, 2, 2, 2, 0, 0) },
    { conv(16, 1, 1, 1, 1, 0, 0, 1), conv(32, 3, 3, 2, 2, 1, 1, 0) } };
  int nl[NCASE] = { 1, 1, 1, 1, 2, 2, 2, 2, 2, 2 };
  lf_shape ins[NCASE] = { shape3(16, 10, 10), shape3(16, 10, 10), shape2(16, 20),
                          shape3(16, 12, 12), shape3(16, 10, 10), shape2(16, 20),
                          shape3(16, 10, 10), shape3(16, 10, 10), shape3(16, 12, 10),
                          shape3(16, 9, 9) };
  /* The last four: diff_src of a stride-2 Conv2d, by four phase
  ** convolutions on AMX (lf_conv_phases.c) for even sizes (3x3 pad 1, an
  ** even 4x4 kernel, 5x3 pad (2,0)), by the backward kernel for odd ones. */
  const char *names[NCASE] = { "Conv2d(k3,s2)", "Conv2d(k1,s2)", "Conv1d(k3,s2)",
                               "Conv2d(k3,s1) 12 wide", "Conv2d(k1)+Conv2d(k3x5,s1,p0x2)",
                               "Conv1d(k1)+Conv1d(k3,s1)", "Conv2d(k1)+Conv2d(k3,s2,p1)",
                               "Conv2d(k1)+Conv2d(k4,s2,p1)", "Conv2d(k1)+Conv2d(k5x3,s2,p2x0)",
                               "Conv2d(k1)+Conv2d(k3,s2,p1) 9x9" };
  if( !lf_bf16_supported() ) return;
  for(int k=0; k<NCASE; k++){
    char err[512];
    lf_net *net = lf_net_create(C[k], nl[k], &ins[k], err, sizeof err);
    check_bf16_grads(names[k], net, err, ins[k], 2e-2);
  }
}

/* The ResNet's downsampling block in bf16 (no BatchNorm, as above; Tanh
** for ReLU, whose kinks flip under bf16 rounding in a net this small).
** With its 1x1 shortcut, the shortcut's gradient part is compact (only the
** pixels it visits) and added into the strided 3x3's; with a 3x3 stride-2
** shortcut instead, the main branch's diff_src (four phase convolutions
** with AMX) adds into the shortcut's part. */
static void test_downsampling_block_bf16(void){
  lf_net_node N[8];
  char err[512];
  lf_shape in = shape3(1, 12, 12);
  int amx = lf_dnnl_has_isa(dnnl_cpu_isa_avx512_core_amx);
  if( !lf_bf16_supported() ) return;
  for(int sk=1; sk<=3; sk+=2){
    N[0] = node1(conv(16, 3, 3, 1, 1, 1, 1, 0), 0);
    N[1] = node1(spec("Tanh"), 1);
    N[2] = node1(conv(32, 3, 3, 2, 2, 1, 1, 0), 2);
    N[3] = node1(spec("Tanh"), 3);
    N[4] = node1(conv(32, sk, sk, 2, 2, sk/2, sk/2, 0), 2);
    N[5] = node2(spec("Add"), 4, 5);
    N[6] = node1(spec("GlobalAvgPool"), 6);
    N[7] = node1(linear(3, 1), 7);
    expect_bf16_accumulated = sk==3 && amx ? 1 : 0;
    expect_bf16_compact = sk==1;
    check_bf16_grads(sk==1 ? "ResNet downsampling block" : "Downsampling block, 3x3 shortcut",
                     graph_net(N, 8, in, err, sizeof err), err, in, 2e-2);
  }
}

/* lf_conv_wide (the batch side by side, AMX bf16) against oneDNN's
** weight gradient on the images as they are: the same within f32
** rounding of the sums (the bf16 inputs are the same). 20 images: two
** full groups of 8 and a rest of 4. Declined: a 1x1 kernel, an output
** wider than 14. */
static void test_conv_wide(void){
  const int N = 20, IC = 16, OC = 32;
  struct { int h, w, kh, kw, sh, sw, ph, pw, applies; } c[5] = {
    { 10, 10, 3, 3, 1, 1, 1, 1, 1 }, { 14, 14, 3, 3, 2, 2, 1, 1, 1 }, { 9, 12, 4, 5, 2, 2, 1, 2, 1 },
    { 14, 14, 1, 1, 2, 2, 0, 0, 0 }, { 16, 16, 3, 3, 1, 1, 1, 1, 0 } };
  if( !lf_bf16_supported() || !lf_dnnl_has_isa(dnnl_cpu_isa_avx512_core_amx) ) return;
  dnnl_engine_t eng = lf_dnnl_engine(0, 0);
  dnnl_stream_t st;
  lf_rng rng;
  lf_rng_seed(&rng, 19);
  if( dnnl_stream_create(&st, eng, dnnl_stream_default_flags)!=dnnl_success ){ CHECK(0, "stream"); return; }
  for(int k=0; k<5; k++){
    char err[256] = "";
    int oh = (c[k].h + 2*c[k].ph - c[k].kh)/c[k].sh + 1, ow = (c[k].w + 2*c[k].pw - c[k].kw)/c[k].sw + 1;
    dnnl_dims_t sd = { N, IC, c[k].h, c[k].w }, dd = { N, OC, oh, ow }, wd = { OC, IC, c[k].kh, c[k].kw };
    dnnl_dims_t str = { c[k].sh, c[k].sw }, pad = { c[k].ph, c[k].pw };
    dnnl_memory_desc_t smd, dmd, wmd, w16, wplain;
    dnnl_memory_desc_init_by_tag(&smd, 4, sd, dnnl_bf16, dnnl_acdb);
    dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_bf16, dnnl_acdb);
    dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&wplain, 4, wd, dnnl_f32, dnnl_oihw);
    dnnl_memory_desc_init_by_tag(&w16, 4, wd, dnnl_bf16, dnnl_format_tag_any);
    lf_conv_wide w;
    int kern[2] = { c[k].kh, c[k].kw }, strd[2] = { c[k].sh, c[k].sw }, pads[2] = { c[k].ph, c[k].pw };
    int rc = lf_conv_wide_build(&w, &smd, &dmd, &wmd, 0, kern, strd, pads, err, sizeof err);
    CHECK(rc==c[k].applies, "conv wide %dx%d k%dx%d s%d -> %d wide: %s (%d)%s", c[k].h, c[k].w,
          c[k].kh, c[k].kw, c[k].sh, ow, c[k].applies ? "built" : "declined", rc, err);
    if( rc!=1 ) continue;
    int64_t ns = (int64_t)N*IC*c[k].h*c[k].w, nd = (int64_t)N*OC*oh*ow, nw = (int64_t)OC*IC*c[k].kh*c[k].kw;
    float *x = randn(ns, &rng), *dy = randn(nd, &rng), *ref = calloc(nw, 4), *got = calloc(nw, 4);
    uint16_t *x16 = malloc(2*ns), *dy16 = malloc(2*nd);
    lf_bf16_from_f32_n(x16, x, ns);
    lf_bf16_from_f32_n(dy16, dy, nd);
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_desc_t fpd = 0, bpd = 0;
    dnnl_primitive_t bp = 0;
    dnnl_memory_t ms = 0, md = 0, mr = 0, mg = 0;
    int ok = dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
                                                &smd, &w16, 0, &dmd, str, pad, pad)==dnnl_success
      && dnnl_primitive_desc_create(&fpd, &fd, 0, eng, 0)==dnnl_success
      && dnnl_convolution_backward_weights_desc_init(&bd, dnnl_convolution_direct, &smd, &wmd, 0, &dmd,
                                                     str, pad, pad)==dnnl_success
      && dnnl_primitive_desc_create(&bpd, &bd, 0, eng, fpd)==dnnl_success
      && dnnl_primitive_create(&bp, bpd)==dnnl_success
      && dnnl_memory_create(&ms, &smd, eng, x16)==dnnl_success
      && dnnl_memory_create(&md, &dmd, eng, dy16)==dnnl_success
      && dnnl_memory_create(&mr, dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_weights_md, 0),
                            eng, DNNL_MEMORY_ALLOCATE)==dnnl_success
      && dnnl_memory_create(&mg, lf_prim_md(&w.bwd_weights, dnnl_query_diff_weights_md, 0),
                            eng, DNNL_MEMORY_ALLOCATE)==dnnl_success;
    if( ok ){
      dnnl_exec_arg_t a[3] = { { DNNL_ARG_SRC, ms }, { DNNL_ARG_DIFF_DST, md }, { DNNL_ARG_DIFF_WEIGHTS, mr } };
      dnnl_exec_arg_t b[3] = { { DNNL_ARG_SRC, w.src }, { DNNL_ARG_DIFF_DST, w.ddst }, { DNNL_ARG_DIFF_WEIGHTS, mg } };
      lf_prim to_ref, to_got;
      dnnl_memory_t pr = 0, pg = 0;
      /* twice: the second pass must not see anything the first left */
      ok = dnnl_primitive_execute(bp, st, 3, a)==dnnl_success
        && lf_conv_wide_copy(&w, ms, md, st, err, sizeof err)==0
        && lf_prim_run(&w.bwd_weights, st, 3, b, "wide", err, sizeof err)==0
        && lf_conv_wide_copy(&w, ms, md, st, err, sizeof err)==0
        && lf_prim_run(&w.bwd_weights, st, 3, b, "wide", err, sizeof err)==0
        && lf_prim_reorder(&to_ref, dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_weights_md, 0),
                           &wplain, err, sizeof err)==0
        && lf_prim_reorder(&to_got, lf_prim_md(&w.bwd_weights, dnnl_query_diff_weights_md, 0),
                           &wplain, err, sizeof err)==0
        && dnnl_memory_create(&pr, &wplain, eng, ref)==dnnl_success
        && dnnl_memory_create(&pg, &wplain, eng, got)==dnnl_success;
      if( ok ){
        dnnl_exec_arg_t r1[2] = { { DNNL_ARG_FROM, mr }, { DNNL_ARG_TO, pr } };
        dnnl_exec_arg_t r2[2] = { { DNNL_ARG_FROM, mg }, { DNNL_ARG_TO, pg } };
        ok = lf_prim_run(&to_ref, st, 2, r1, "reorder", err, sizeof err)==0
          && lf_prim_run(&to_got, st, 2, r2, "reorder", err, sizeof err)==0
          && dnnl_stream_wait(st)==dnnl_success;
        lf_prim_free(&to_ref); lf_prim_free(&to_got);
      }
      if( pr ) dnnl_memory_destroy(pr);
      if( pg ) dnnl_memory_destroy(pg);
    }
    double worst = 0, scale = 0;
    for(int64_t i=0; ok && i<nw; i++){
      worst = fmax(worst, fabs((double)got[i] - ref[i]));
      scale = fmax(scale, fabs((double)ref[i]));
    }
    CHECK(ok && scale > 0 && worst <= 1e-4 * scale,
          "conv wide %dx%d k%dx%d s%d: weight gradient = oneDNN's on the images as they are "
          "(max diff %.3g of %.3g)%s", c[k].h, c[k].w, c[k].kh, c[k].kw, c[k].sh, worst, scale,
          ok ? "" : err);
    if( bp ) dnnl_primitive_destroy(bp);
    if( bpd ) dnnl_primitive_desc_destroy(bpd);
    if( fpd ) dnnl_primitive_desc_destroy(fpd);
    dnnl_memory_t ms_[4] = { ms, md, mr, mg };
    for(int i=0; i<4; i++) if( ms_[i] ) dnnl_memory_destroy(ms_[i]);
    lf_conv_wide_free(&w);
    free(x); free(dy); free(ref); free(got); free(x16); free(dy16);
  }
  dnnl_stream_destroy(st);
}

/* lf_conv_phases against oneDNN's own backward-data kernel, both bf16:
** the same diff_src within bf16 rounding, written and added. With AMX
** only (elsewhere layer_conv.c does not use it); sizes where it does not
** apply are declined. */
static void test_conv_phases(void){
  const int N = 4, IC = 16, OC = 32;
  struct { int h, w, kh, kw, ph, pw, applies; } c[4] = {
    { 10, 10, 3, 3, 1, 1, 1 }, { 12, 8, 4, 5, 1, 2, 1 }, { 9, 10, 3, 3, 1, 1, 0 },
    { 10, 10, 1, 1, 0, 0, 0 } };
  if( !lf_bf16_supported() || !lf_dnnl_has_isa(dnnl_cpu_isa_avx512_core_amx) ) return;
  dnnl_engine_t eng = lf_dnnl_engine(0, 0);
  dnnl_stream_t st;
  lf_rng rng;
  lf_rng_seed(&rng, 17);
  if( dnnl_stream_create(&st, eng, dnnl_stream_default_flags)!=dnnl_success ){ CHECK(0, "stream"); return; }
  for(int k=0; k<4; k++){
    char err[256] = "";
    int oh = (c[k].h + 2*c[k].ph - c[k].kh)/2 + 1, ow = (c[k].w + 2*c[k].pw - c[k].kw)/2 + 1;
    dnnl_dims_t sd = { N, IC, c[k].h, c[k].w }, dd = { N, OC, oh, ow }, wd = { OC, IC, c[k].kh, c[k].kw };
    dnnl_dims_t str = { 2, 2 }, pad = { c[k].ph, c[k].pw };
    dnnl_memory_desc_t smd, dmd, wmd;
    dnnl_memory_desc_init_by_tag(&smd, 4, sd, dnnl_bf16, dnnl_acdb);
    dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_bf16, dnnl_acdb);
    dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_bf16, dnnl_oihw);
    lf_conv_phases ph;
    int kern[2] = { c[k].kh, c[k].kw }, pads[2] = { c[k].ph, c[k].pw };
    int rc = lf_conv_phases_build(&ph, &smd, &dmd, kern, pads, err, sizeof err);
    CHECK(rc==c[k].applies, "conv phases %dx%d k%dx%d: %s (%d)%s", c[k].h, c[k].w, c[k].kh, c[k].kw,
          c[k].applies ? "built" : "declined", rc, err);
    if( rc!=1 ) continue;
    int64_t ns = (int64_t)N*IC*c[k].h*c[k].w, nd = (int64_t)N*OC*oh*ow, nw = (int64_t)OC*IC*c[k].kh*c[k].kw;
    float *w = randn(nw, &rng), *dy = randn(nd, &rng), *base = randn(ns, &rng);
    uint16_t *w16 = malloc(2*nw), *dy16 = malloc(2*nd), *ref16 = malloc(2*ns), *got16 = malloc(2*ns);
    lf_bf16_from_f32_n(w16, w, nw);
    lf_bf16_from_f32_n(dy16, dy, nd);
    /* the reference: oneDNN's backward data */
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_desc_t fpd = 0, bpd = 0;
    dnnl_primitive_t bp = 0;
    dnnl_memory_t ms = 0, mw = 0, md = 0;
    int ok = dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
                                                &smd, &wmd, 0, &dmd, str, pad, pad)==dnnl_success
      && dnnl_primitive_desc_create(&fpd, &fd, 0, eng, 0)==dnnl_success
      && dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &smd, &wmd, &dmd,
                                                  str, pad, pad)==dnnl_success
      && dnnl_primitive_desc_create(&bpd, &bd, 0, eng, fpd)==dnnl_success
      && dnnl_primitive_create(&bp, bpd)==dnnl_success
      && dnnl_memory_create(&ms, &smd, eng, ref16)==dnnl_success
      && dnnl_memory_create(&mw, &wmd, eng, w16)==dnnl_success
      && dnnl_memory_create(&md, &dmd, eng, dy16)==dnnl_success;
    if( ok ){
      dnnl_exec_arg_t a[3] = { { DNNL_ARG_DIFF_DST, md }, { DNNL_ARG_WEIGHTS, mw }, { DNNL_ARG_DIFF_SRC, ms } };
      ok = dnnl_primitive_execute(bp, st, 3, a)==dnnl_success && dnnl_stream_wait(st)==dnnl_success;
    }
    dnnl_memory_t mg = 0;
    for(int adding=0; ok && adding<2; adding++){
      lf_bf16_from_f32_n(got16, base, ns);
      ok = dnnl_memory_create(&mg, &smd, eng, got16)==dnnl_success
        && (!adding || lf_conv_phases_adding(&ph, err, sizeof err)==1)
        && lf_conv_phases_run(&ph, w16, md, mg, st, err, sizeof err)==0
        && dnnl_stream_wait(st)==dnnl_success;
      dnnl_memory_destroy(mg);
      double worst = 0, scale = 0;
      for(int64_t i=0; ok && i<ns; i++){
        uint16_t b16;
        lf_bf16_from_f32_n(&b16, &base[i], 1);
        double want = lf_bf16_to_f32(ref16[i]) + (adding ? lf_bf16_to_f32(b16) : 0);
        worst = fmax(worst, fabs(lf_bf16_to_f32(got16[i]) - want));
        scale = fmax(scale, fabs(want));
      }
      CHECK(ok && worst <= 2e-2 * scale, "conv phases %dx%d k%dx%d %s = oneDNN backward data%s (max diff %.3g of %.3g)%s",
            c[k].h, c[k].w, c[k].kh, c[k].kw, adding ? "added to diff_src" : "written",
            adding ? " + what was there" : "", worst, scale, ok ? "" : err);
    }
    CHECK(ok, "conv phases %dx%d k%dx%d ran%s%s", c[k].h, c[k].w, c[k].kh, c[k].kw, ok ? "" : ": ", err);
    if( bp ) dnnl_primitive_destroy(bp);
    if( bpd ) dnnl_primitive_desc_destroy(bpd);
    if( fpd ) dnnl_primitive_desc_destroy(fpd);
    if( ms ) dnnl_memory_destroy(ms);
    if( mw ) dnnl_memory_destroy(mw);
    if( md ) dnnl_memory_destroy(md);
    lf_conv_phases_free(&ph);
    free(w); free(dy); free(base); free(w16); free(dy16); free(ref16); free(got16);
  }
  dnnl_stream_destroy(st);
}

/* BatchNorm2d then ReLU runs fused (fuse_norm_relu: the ReLU passes
** gradients through, the BatchNorm masks them from its workspace): it must
** equal BatchNorm2d alone followed by max(0, .) and the masked gradient,
** in training and in inference, after a Conv2d (blocked layout). A finite
** difference check across the ReLU's kink is not reliable; this is exact. */
static void test_bn_relu_fused(void){
  lf_layer_spec A[3], B[2];
  lf_shape in = shape3(3, 5, 5);
  int N = 4;
  char err[256];
  lf_rng rng;
  A[0] = conv(6, 3, 3, 1, 1, 1, 1, 0); A[1] = spec("BatchNorm2d"); A[2] = spec("ReLU");
  B[0] = A[0]; B[1] = A[1];
  lf_net *fused = lf_net_create(A, 3, &in, err, sizeof err);
  lf_net *plain = lf_net_create(B, 2, &in, err, sizeof err);
  CHECK(fused && plain, "create conv-bn(-relu) nets");
  if( !fused || !plain ){ lf_net_free(fused); lf_net_free(plain); return; }
  lf_rng_seed(&rng, 11);
  lf_net_init_params(fused, &rng);
  for(int j=0; j<lf_net_param_count(fused); j++){
    lf_param *p = lf_net_param(fused, j), *q = lf_net_param(plain, j);
    /* conv weight (no bias), BN weight, bias, running_mean, running_var */
    if( j==1 ) for(int64_t k=0; k<p->n; k++) p->data[k] = 0.5f + 0.25f*(float)k;
    if( j==2 ) for(int64_t k=0; k<p->n; k++) p->data[k] = 0.1f*(float)k - 0.2f;
    memcpy(q->data, p->data, sizeof(float) * (size_t)p->n);
  }
  lf_net_want_input_grad(fused, 1);
  lf_net_want_input_grad(plain, 1);
  int nx = N * 3 * 25, ny = N * 6 * 25;
  float *x = randn(nx, &rng), *dy = randn(ny, &rng), *dym = malloc(sizeof(float) * (size_t)ny);
  float *yp = malloc(sizeof(float) * (size_t)ny);
  for(int training=1; training>=0; training--){
    const float *y1 = lf_net_forward(fused, x, N, training, &rng, err, sizeof err);
    const float *y2 = y1 ? lf_net_forward(plain, x, N, training, &rng, err, sizeof err) : 0;
    CHECK(y1 && y2, "fused/plain forward (%s)", err);
    if( !y1 || !y2 ) break;
    double maxd = 0;
    int pos = 0;
    memcpy(yp, y2, sizeof(float) * (size_t)ny);
    for(int k=0; k<ny; k++){
      maxd = fmax(maxd, fabs((double)y1[k] - (yp[k] > 0 ? yp[k] : 0)));
      pos += yp[k] > 0;
    }
    CHECK(maxd < 1e-6 && pos > ny/4 && pos < 3*ny/4,
          "BatchNorm2d+ReLU fused = max(0, BatchNorm2d) (%s, max diff %.2e, %d of %d positive)",
          training ? "training" : "inference", maxd, pos, ny);
    if( !training ) break;
    for(int k=0; k<ny; k++) dym[k] = yp[k] > 0 ? dy[k] : 0;
    /* plain last: both ran a training forward on the same x */
    y1 = lf_net_forward(fused, x, N, 1, &rng, err, sizeof err);
    CHECK(y1 && lf_net_backward(fused, dy, N, err, sizeof err)==0, "fused backward (%s)", err);
    float *gx = malloc(sizeof(float) * (size_t)nx);
    memcpy(gx, lf_net_input_grad(fused, N), sizeof(float) * (size_t)nx);
    float *gp[8];
    int np = lf_net_param_count(fused);
    double maxg = 0;
    for(int j=0; j<np && j<8; j++){
      lf_param *p = lf_net_param(fused, j);
      gp[j] = p->grad ? malloc(sizeof(float) * (size_t)p->n) : 0;
      if( gp[j] ) memcpy(gp[j], p->grad, sizeof(float) * (size_t)p->n);
    }
    CHECK(lf_net_forward(plain, x, N, 1, &rng, err, sizeof err)
          && lf_net_backward(plain, dym, N, err, sizeof err)==0, "plain backward (%s)", err);
    const float *gx2 = lf_net_input_grad(plain, N);
    for(int k=0; gx2 && k<nx; k++) maxg = fmax(maxg, fabs((double)gx[k] - gx2[k]));
    for(int j=0; j<np && j<8; j++){
      lf_param *q = lf_net_param(plain, j);
      for(int64_t k=0; gp[j] && k<q->n; k++) maxg = fmax(maxg, fabs((double)gp[j][k] - q->grad[k]));
      free(gp[j]);
    }
    CHECK(gx2 && maxg < 1e-5, "BatchNorm2d+ReLU fused backward = BatchNorm2d's on the masked "
          "gradient (input and parameter grads, max diff %.2e)", maxg);
    free(gx);
  }
  free(x); free(dy); free(dym); free(yp);
  lf_net_free(fused);
  lf_net_free(plain);
}

/* The ResNet's first block in bf16 (1-channel stem, 16-channel identity
** block; no BatchNorm, whose backward in bf16 amplifies rounding to 0.1
** on a batch this small): with AMX the stem leaves nChw16c and the
** block's convolutions NHWC, the same bytes, so the Add's input gradient
** is the output gradient's buffer, no copy. Its gradients must still be
** f32's. */
static void test_resnet_block_bf16(void){
  lf_net_node N[9];
  char err[512];
  lf_shape in = shape3(1, 12, 12);
  if( !lf_bf16_supported() ) return;
  N[0] = node1(conv(16, 3, 3, 1, 1, 1, 1, 0), 0);
  N[1] = node1(spec("ReLU"), 1);
  N[2] = node1(conv(16, 3, 3, 1, 1, 1, 1, 0), 2);
  N[3] = node1(spec("ReLU"), 3);
  N[4] = node1(conv(16, 3, 3, 1, 1, 1, 1, 0), 4);
  N[5] = node2(spec("Add"), 5, 2);
  N[6] = node1(spec("ReLU"), 6);
  N[7] = node1(spec("GlobalAvgPool"), 7);
  N[8] = node1(linear(3, 1), 8);
  check_bf16_grads("ResNet stem + identity block", graph_net(N, 9, in, err, sizeof err), err, in, 2e-2);
}

int main(int argc, char **argv){
  lf_threads_apply(2);
  if( argc>1 && strcmp(argv[1], "conv-bf16-no-amx")==0 ){
    /* run_c.sh sets ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 for this run. */
    CHECK(!lf_dnnl_has_isa(dnnl_cpu_isa_avx512_core_amx),
          "oneDNN dispatches without AMX under ONEDNN_MAX_CPU_ISA (isa 0x%x)",
          (unsigned)dnnl_get_effective_cpu_isa());
    isa_note = " without AMX";
    test_conv_bf16_grads();
    test_resnet_block_bf16();
    test_downsampling_block_bf16();
    TEST_EXIT();
  }
  test_conv1d();
  test_same_bytes();
  test_sums_in_place();
  test_channels_last_wgrad();
  test_batchnorm_nhwc16_view();
  test_conv_bf16_grads();
  test_resnet_block_bf16();
  test_downsampling_block_bf16();
  test_conv_phases();
  test_conv_wide();
  test_layernorm();
  test_softmax();
  test_embedding();
  test_more_eltwise();
  test_catemb();
  test_registry();
  test_shape_errors();
  test_params();
  test_linear_forward();
  test_conv_forward();
  test_batchnorm_modes();
  test_bn_relu_fused();
  test_dropout();
  test_batch_sizes();
  test_gradients();
  test_graph_gradients();
  test_train_mlp();
  test_rnn_forward();
  test_rnn_gradients();
  test_rnn_bf16();
  test_rnn_inference();
  TEST_EXIT();
}
