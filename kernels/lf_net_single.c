/*
** lf_net_single.c — one sample through a chain of Linear layers and simple
** activations, in plain C (why and for which nets: lf_net_single.h).
**
** The plan is a list of steps over two ping-pong buffers sized for the
** widest value. A Linear step computes y[o] = b[o] + sum_i W[o][i] x[i]
** with W in its plain [out][in] layout (the layout lf_param always has);
** the inner sum is a SIMD reduction. Activations work in place.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lf_net_single.h"
#include "lf_layer.h"

typedef enum step_kind { STEP_LINEAR, STEP_RELU, STEP_TANH, STEP_SIGMOID } step_kind;

typedef struct step {
  step_kind kind;
  const float *w, *b;         /* Linear: weight [out][in], bias or NULL */
  float *wt;                  /* Linear with 8 outputs or more: W transposed, [in][out] */
  int64_t in, out;            /* values read and written */
  float alpha;                /* ReLU: the negative slope (0, or LeakyReLU's) */
} step;

struct lf_net_single {
  int nsteps, nalloc;
  step *steps;
  int64_t nin, nout;
  float *buf[2];
};

/* Layers that leave a plain-layout sample as it is in inference. */
static int is_noop(const lf_layer *L){
  return L->ops==&lf_layer_dropout || L->ops==&lf_layer_flatten
      || L->ops==&lf_layer_identity || L->ops==&lf_layer_reshape;
}

/* Is the net a chain (node j reads the value node j-1 wrote) of one input? */
static int is_chain(const lf_net *net){
  int n = lf_net_node_count(net);
  if( lf_net_input_count(net)!=1 || n<1 || lf_net_output_value(net)!=n ) return 0;
  for(int j=0; j<n; j++){
    const lf_layer *L = lf_net_node_layer(net, j);
    if( !L || L->nin!=1 || lf_net_node_input(net, j, 0)!=j ) return 0;
  }
  return 1;
}

lf_net_single *lf_net_single_plan(const lf_net *net){
  if( !net || lf_net_is_bf16(net) || !is_chain(net) ) return NULL;
  int n = lf_net_node_count(net);
  lf_net_single *p = calloc(1, sizeof *p);
  if( !p ) return NULL;
  p->steps = calloc((size_t)n, sizeof *p->steps);
  if( !p->steps ) goto fail;
  p->nalloc = n;
  lf_shape in = lf_net_input_shape(net, 0), out = lf_net_out_shape(net);
  p->nin = lf_shape_count(&in);
  p->nout = lf_shape_count(&out);
  int64_t widest = p->nin;
  for(int j=0; j<n; j++){
    const lf_layer *L = lf_net_node_layer(net, j);
    int64_t cin = lf_shape_count(&L->in), cout = lf_shape_count(&L->out);
    if( cout > widest ) widest = cout;
    if( is_noop(L) ){
      if( cin!=cout ) goto fail;
      continue;
    }
    step *s = &p->steps[p->nsteps];
    s->in = cin;
    s->out = cout;
    if( L->ops==&lf_layer_linear ){
      const lf_linear_args *a = L->args;
      int want = a && a->bias ? 2 : 1;
      if( !a || L->nparam!=want || L->in.ndim!=1 || cout!=a->out
       || L->param[0]->n != cin*cout || (want==2 && L->param[1]->n != cout) ) goto fail;
      s->kind = STEP_LINEAR;
      s->w = L->param[0]->data;
      s->b = want==2 ? L->param[1]->data : NULL;
      if( cout >= 8 ){
        s->wt = malloc(sizeof(float) * (size_t)(cin*cout));
        if( !s->wt ) goto fail;
        for(int64_t o=0; o<cout; o++)
          for(int64_t i=0; i<cin; i++) s->wt[i*cout + o] = s->w[o*cin + i];
      }
    }else if( L->ops==&lf_layer_relu || L->ops==&lf_layer_leakyrelu ){
      s->kind = STEP_RELU;
      if( L->ops==&lf_layer_leakyrelu ){
        const lf_leakyrelu_args *a = L->args;
        if( !a ) goto fail;
        s->alpha = (float)a->negative_slope;
      }
    }else if( L->ops==&lf_layer_tanh ){
      s->kind = STEP_TANH;
    }else if( L->ops==&lf_layer_sigmoid ){
      s->kind = STEP_SIGMOID;
    }else{
      goto fail;
    }
    if( s->kind!=STEP_LINEAR && cin!=cout ) goto fail;
    p->nsteps++;
  }
  for(int k=0; k<2; k++){
    p->buf[k] = malloc(sizeof(float) * (size_t)widest);
    if( !p->buf[k] ) goto fail;
  }
  return p;
fail:
  lf_net_single_free(p);
  return NULL;
}

/* y = W x + b. Two loop orders, picked per layer when planning: with 8
** outputs or more, y += x[i] * (row i of W transposed), vectorised over
** the outputs (the plan keeps that transposed copy); with fewer, one dot
** product per output, vectorised over the inputs. Compiled for AVX2 too
** and picked at run time (at -O2 without -march GCC would use 128-bit
** vectors); every way stays within float rounding of oneDNN. */
#define LINEAR_BODY                                                        \
  const int64_t nin = s->in, nout = s->out;                                \
  const float *restrict bias = s->b;                                       \
  if( s->wt ){                                                             \
    const float *restrict wt = s->wt;                                      \
    memset(y, 0, sizeof(float) * (size_t)nout);                            \
    for(int64_t i=0; i<nin; i++){                                          \
      const float xi = x[i];                                               \
      const float *restrict row = wt + i*nout;                             \
      _Pragma("omp simd")                                                  \
      for(int64_t o=0; o<nout; o++) y[o] += xi * row[o];                   \
    }                                                                      \
    if( bias ) for(int64_t o=0; o<nout; o++) y[o] += bias[o];              \
  }else{                                                                   \
    const float *restrict w = s->w;                                        \
    for(int64_t o=0; o<nout; o++){                                         \
      const float *restrict wo = w + o*nin;                                \
      float acc = 0.0f;                                                    \
      _Pragma("omp simd reduction(+:acc)")                                 \
      for(int64_t i=0; i<nin; i++) acc += wo[i] * x[i];                    \
      y[o] = bias ? acc + bias[o] : acc;                                   \
    }                                                                      \
  }

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((noinline, target("avx2")))
static void linear_avx2(const step *s, const float *restrict x, float *restrict y){
  LINEAR_BODY
}
# define LF_HAVE_LINEAR_AVX2 1
#endif

static void linear_base(const step *s, const float *restrict x, float *restrict y){
  LINEAR_BODY
}

static void linear(const step *s, const float *x, float *y){
#ifdef LF_HAVE_LINEAR_AVX2
  static int avx2 = -1;   /* racy first use writes the same value */
  if( avx2 < 0 ) avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
  if( avx2 ){ linear_avx2(s, x, y); return; }
#endif
  linear_base(s, x, y);
}

const float *lf_net_single_forward(lf_net_single *p, const float *x){
  /* The input is the caller's: the first step that writes goes to a buffer. */
  const float *cur = x;
  int next = 0;
  for(int k=0; k<p->nsteps; k++){
    const step *s = &p->steps[k];
    float *y = p->buf[next];
    if( s->kind==STEP_LINEAR ){
      linear(s, cur, y);
      cur = y;
      next ^= 1;
      continue;
    }
    if( cur==x ){
      memcpy(y, x, sizeof(float) * (size_t)s->in);
      next ^= 1;
    }else{
      y = (float*)cur;
    }
    switch( s->kind ){
      case STEP_RELU:
        /* 0, not -0, where ReLU cuts: the text of a prediction stays "0". */
        if( s->alpha==0.0f ){ for(int64_t i=0; i<s->out; i++) if( y[i] < 0.0f ) y[i] = 0.0f; }
        else for(int64_t i=0; i<s->out; i++) if( y[i] < 0.0f ) y[i] *= s->alpha;
        break;
      case STEP_TANH:
        for(int64_t i=0; i<s->out; i++) y[i] = tanhf(y[i]);
        break;
      case STEP_SIGMOID:
        for(int64_t i=0; i<s->out; i++) y[i] = 1.0f / (1.0f + expf(-y[i]));
        break;
      default:
        break;
    }
    cur = y;
  }
  if( cur==x ){
    memcpy(p->buf[0], x, sizeof(float) * (size_t)p->nout);
    cur = p->buf[0];
  }
  return cur;
}

void lf_net_single_free(lf_net_single *p){
  if( !p ) return;
  for(int k=0; p->steps && k<p->nalloc; k++) free(p->steps[k].wt);
  free(p->steps);
  free(p->buf[0]);
  free(p->buf[1]);
  free(p);
}
