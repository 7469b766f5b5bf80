/*
** net_bench.c — times one training epoch (469 batches of 128, random data)
** of the reference MLP, CNN, the small ResNet of
** examples/fashion_resnet.sql and the row-by-row LSTM of make bench
** (28 steps of 28, LSTM 128, last step, Linear 10) on the kernels alone: forward + backward,
** plus the Adam step unless told otherwise. Prints the best of the epochs.
** NET_BENCH_BATCHES=n times n batches instead of 469 (profiling).
**
**   cc -O2 -std=c11 -fopenmp -fno-math-errno -D_GNU_SOURCE -Ikernels
**      tools/bench/net_bench.c
**      kernels/[a-z]*.c -ldnnl -lm -lgomp -lpthread -o /tmp/net_bench
**   /tmp/net_bench [mlp|cnn|both|resnet|lstm] [epochs] [f32|bf16] [threads] [noopt|optonly]
**   ONEDNN_VERBOSE=1 /tmp/net_bench cnn 1 | grep exec   # implementations
*/
#include "lf_net.h"
#include "lf_layer.h"
#include "lf_optim.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int NBATCH = 469;
#define BATCH 128

static double now(void){
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec*1e-9;
}

/* Layer args outlive the nets: kept in static pools. */
static lf_linear_args lin_pool[8];
static lf_conv2d_args conv_pool[32];
static lf_pool2d_args pool_pool[8];
static int nlin, nconv, npool;

static lf_layer_spec layer(const lf_layer_ops *ops){
  lf_layer_spec s = { ops, 0 };
  return s;
}

static lf_layer_spec linear(int out){
  lf_layer_spec s = layer(&lf_layer_linear);
  lf_linear_args *a = &lin_pool[nlin++ % 8];
  a->out = out;
  a->bias = 1;
  s.args = a;
  return s;
}

static lf_layer_spec conv(int out, int k, int pad){
  lf_layer_spec s = layer(&lf_layer_conv2d);
  lf_conv2d_args *a = &conv_pool[nconv++ % 32];
  a->out = out;
  a->bias = 1;
  a->kernel[0] = a->kernel[1] = k;
  a->stride[0] = a->stride[1] = 1;
  a->padding[0] = a->padding[1] = pad;
  s.args = a;
  return s;
}

static lf_layer_spec maxpool(int k){
  lf_layer_spec s = layer(&lf_layer_maxpool2d);
  lf_pool2d_args *a = &pool_pool[npool++ % 8];
  a->kernel[0] = a->kernel[1] = k;
  a->stride[0] = a->stride[1] = k;
  a->padding[0] = a->padding[1] = 0;
  s.args = a;
  return s;
}

static int use_bf16, use_opt = 1;

static double run_net(lf_net *net, lf_shape in, int epochs);

static double run(const lf_layer_spec *L, int n, lf_shape in, int epochs){
  char err[512];
  lf_net *net = lf_net_create(L, n, &in, err, sizeof err);
  if( net==0 ){ fprintf(stderr, "create: %s\n", err); exit(1); }
  return run_net(net, in, epochs);
}

/* The ResNet of examples/fashion_resnet.sql as the graph core/lf_graph.c
** lowers it to: each Residual is its layers, its shortcut and an Add. */
static lf_net_node rn_nodes[64];
static int rn_n;
static lf_batchnorm_args bn_args = { 1e-5, 0.1 };
static lf_linear_args fc_args = { 10, 1 };

static int rn_push(lf_layer_spec s, int in0, int in1){
  lf_net_node *n = &rn_nodes[rn_n];
  n->layer = s;
  n->nin = in1>=0 ? 2 : 1;
  n->in[0] = in0;
  n->in[1] = in1;
  return 1 + rn_n++;                    /* value id (one input) */
}

static lf_layer_spec conv_s(int out, int k, int stride, int pad){
  lf_layer_spec s = conv(out, k, pad);
  lf_conv2d_args *a = (lf_conv2d_args*)s.args;
  a->bias = 0;
  a->stride[0] = a->stride[1] = stride;
  return s;
}

static int rn_block(int x, int out, int stride){
  lf_layer_spec bn = { &lf_layer_batchnorm2d, &bn_args };
  int y = rn_push(conv_s(out, 3, stride, 1), x, -1);
  y = rn_push(bn, y, -1);
  y = rn_push(layer(&lf_layer_relu), y, -1);
  y = rn_push(conv_s(out, 3, 1, 1), y, -1);
  y = rn_push(bn, y, -1);
  int sc = x;
  if( stride>1 ){
    sc = rn_push(conv_s(out, 1, stride, 0), x, -1);
    sc = rn_push(bn, sc, -1);
  }
  y = rn_push(layer(&lf_layer_add), y, sc);
  return rn_push(layer(&lf_layer_relu), y, -1);
}

static double run_resnet(int epochs){
  char err[512];
  lf_shape in = { 3, {1, 28, 28} };
  lf_layer_spec bn = { &lf_layer_batchnorm2d, &bn_args };
  lf_layer_spec fc = { &lf_layer_linear, &fc_args };
  lf_net_graph g;
  int v = rn_push(conv_s(16, 3, 1, 1), 0, -1);
  v = rn_push(bn, v, -1);
  v = rn_push(layer(&lf_layer_relu), v, -1);
  v = rn_block(v, 16, 1);
  v = rn_block(v, 32, 2);
  v = rn_block(v, 64, 2);
  v = rn_push(layer(&lf_layer_globalavgpool), v, -1);
  v = rn_push(fc, v, -1);
  g.ninputs = 1; g.inputs = &in; g.nnodes = rn_n; g.nodes = rn_nodes;
  g.output = v;
  lf_net *net = lf_net_create_graph(&g, err, sizeof err);
  if( net==0 ){ fprintf(stderr, "create: %s\n", err); exit(1); }
  return run_net(net, in, epochs);
}

static double run_net(lf_net *net, lf_shape in, int epochs){
  char err[512];
  lf_rng rng;
  int64_t nin, nout, i;
  float *x, *dy;
  double t0, best = 1e9;
  int e, b;
  lf_optim *opt = 0;
  lf_rng_seed(&rng, 1);
  lf_net_init_params(net, &rng);
  if( use_bf16 && lf_net_set_bf16(net, 1, err, sizeof err) ){
    fprintf(stderr, "bf16: %s\n", err); exit(1);
  }
  if( use_opt ){
    lf_optim_spec os;
    lf_param *ps[64];
    int np = lf_net_param_count(net);
    memset(&os, 0, sizeof os);
    os.kind = LF_OPT_ADAM; os.lr = 1e-3; os.beta1 = 0.9; os.beta2 = 0.999;
    os.eps = 1e-8;
    for(i=0; i<np && i<64; i++) ps[i] = lf_net_param(net, (int)i);
    opt = lf_optim_create(&os, ps, np);
  }
  nin = lf_shape_count(&in) * BATCH;
  { lf_shape o = lf_net_out_shape(net); nout = lf_shape_count(&o) * BATCH; }
  x = malloc(sizeof(float) * nin);
  dy = malloc(sizeof(float) * nout);
  for(i=0; i<nin; i++) x[i] = lf_rng_uniform(&rng);
  for(i=0; i<nout; i++) dy[i] = (lf_rng_uniform(&rng) - 0.5f) * 0.01f;
  if( use_opt==2 ){           /* the optimizer step alone */
    int np = lf_net_param_count(net);
    for(i=0; i<np; i++){
      lf_param *p = lf_net_param(net, (int)i);
      int64_t j;
      if( p->grad ) for(j=0; j<p->n; j++) p->grad[j] = (lf_rng_uniform(&rng) - 0.5f) * 1e-3f;
    }
    for(e=0; e<epochs; e++){
      t0 = now();
      for(b=0; b<NBATCH; b++) lf_optim_step(opt);
      t0 = now() - t0;
      if( t0<best ) best = t0;
    }
    lf_optim_free(opt);
    lf_net_free(net);
    return best;
  }
  /* warm-up: builds the primitives */
  if( !lf_net_forward(net, x, BATCH, 1, &rng, err, sizeof err)
   || lf_net_backward(net, dy, BATCH, err, sizeof err) ){
    fprintf(stderr, "warm-up: %s\n", err); exit(1);
  }
  for(e=0; e<epochs; e++){
    t0 = now();
    for(b=0; b<NBATCH; b++){
      if( !lf_net_forward(net, x, BATCH, 1, &rng, err, sizeof err)
       || lf_net_backward(net, dy, BATCH, err, sizeof err) ){
        fprintf(stderr, "step: %s\n", err); exit(1);
      }
      if( opt ) lf_optim_step(opt);
    }
    t0 = now() - t0;
    if( t0<best ) best = t0;
  }
  lf_optim_free(opt);
  lf_net_free(net);
  free(x);
  free(dy);
  return best;
}

int main(int argc, char **argv){
  const char *which = argc>1 ? argv[1] : "both";
  int epochs = argc>2 ? atoi(argv[2]) : 3;
  use_bf16 = argc>3 && strcmp(argv[3], "bf16")==0;
  omp_set_num_threads(argc>4 ? atoi(argv[4]) : 2);
  use_opt = !(argc>5 && strcmp(argv[5], "noopt")==0);
  if( argc>5 && strcmp(argv[5], "optonly")==0 ) use_opt = 2;
  if( getenv("NET_BENCH_BATCHES") ) NBATCH = atoi(getenv("NET_BENCH_BATCHES"));
  if( strcmp(which, "lstm")==0 ){
    static lf_rnn_args rnn = { 128, 1, 0, 0.0, "last", 1 };
    lf_layer_spec L[2];
    lf_shape in = { 2, {28, 28} };
    L[0] = layer(&lf_layer_lstm);
    L[0].args = &rnn;
    L[1] = linear(10);
    printf("LSTM epoch: %.3f s\n", run(L, 2, in, epochs));
    return 0;
  }
  if( strcmp(which, "resnet")==0 ){
    printf("ResNet epoch: %.3f s\n", run_resnet(epochs));
    return 0;
  }
  if( strcmp(which, "cnn")!=0 ){
    lf_layer_spec L[6];
    lf_shape in = { 3, {1, 28, 28} };
    L[0] = layer(&lf_layer_flatten);
    L[1] = linear(256); L[2] = layer(&lf_layer_relu);
    L[3] = linear(128); L[4] = layer(&lf_layer_relu);
    L[5] = linear(10);
    printf("MLP epoch: %.3f s\n", run(L, 6, in, epochs));
  }
  if( strcmp(which, "mlp")!=0 ){
    lf_layer_spec L[10];
    lf_shape in = { 3, {1, 28, 28} };
    L[0] = conv(16, 5, 2); L[1] = layer(&lf_layer_relu); L[2] = maxpool(2);
    L[3] = conv(32, 5, 2); L[4] = layer(&lf_layer_relu); L[5] = maxpool(2);
    L[6] = layer(&lf_layer_flatten);
    L[7] = linear(128); L[8] = layer(&lf_layer_relu); L[9] = linear(10);
    printf("CNN epoch: %.3f s\n", run(L, 10, in, epochs));
  }
  return 0;
}
