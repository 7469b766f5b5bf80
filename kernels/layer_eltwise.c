/*
** layer_eltwise.c — the element-wise activations ReLU, LeakyReLU, Tanh,
** Sigmoid, GELU (erf form, PyTorch's default), SiLU (oneDNN swish with
** alpha 1), ELU (alpha) and Softplus (beta 1: oneDNN soft_relu, which
** equals PyTorch's up to float rounding above its threshold 20), as oneDNN eltwise
** primitives. They run in the layout of their input (blocked or plain), and
** their backward reads the forward's input, which the net keeps anyway.
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>

#define ARGS(L) ((const lf_leakyrelu_args*)(L)->args)

typedef struct eltwise_state {
  lf_prim fwd, bwd;
  int fused;        /* the previous layer applied it: forward is a no-op,
                    ** backward runs in place from the output */
} eltwise_state;

static int eltwise_infer(const void *args, const lf_shape *in, int nin,
                         lf_shape *out, char *err, size_t errlen){
  (void)args;
  (void)nin;
  (void)err; (void)errlen;
  *out = *in;
  return 0;
}

/* oneDNN algorithm and alpha of a layer. */
static dnnl_alg_kind_t eltwise_alg(const lf_layer *L, float *alpha){
  *alpha = 0.0f;
  if( L->ops==&lf_layer_leakyrelu ){
    *alpha = (float)ARGS(L)->negative_slope;
    return dnnl_eltwise_relu;
  }
  if( L->ops==&lf_layer_tanh ) return dnnl_eltwise_tanh;
  if( L->ops==&lf_layer_sigmoid ) return dnnl_eltwise_logistic;
  if( L->ops==&lf_layer_gelu ) return dnnl_eltwise_gelu_erf;
  if( L->ops==&lf_layer_silu ){ *alpha = 1.0f; return dnnl_eltwise_swish; }
  if( L->ops==&lf_layer_elu ){
    *alpha = (float)((const lf_elu_args*)L->args)->alpha;
    return dnnl_eltwise_elu;
  }
  if( L->ops==&lf_layer_softplus ) return dnnl_eltwise_soft_relu;
  return dnnl_eltwise_relu;
}

static void eltwise_release(void *p){
  eltwise_state *s = p;
  if( s==0 ) return;
  lf_prim_free(&s->fwd);
  lf_prim_free(&s->bwd);
  free(s);
}

static int eltwise_build(const lf_layer *L, lf_layer_build *b,
                         char *err, size_t errlen){
  eltwise_state *s = calloc(1, sizeof(*s));
  dnnl_eltwise_desc_t d;
  float alpha;
  dnnl_alg_kind_t alg = eltwise_alg(L, &alpha);
  int rc;
  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  if( b->act_fused_before && alg==dnnl_eltwise_relu && alpha>=0.0f ){
    /* The output is the input (already activated); dL/dx = dL/dy where
    ** y > 0, else alpha*dL/dy (y > 0 exactly where x > 0 for alpha >= 0),
    ** computed in place on the gradient buffer. */
    s->fused = 1;
    b->dst_md = *b->src_md;
    b->dst_is_src = 1;
    /* The previous layer's backward applies ours too (BatchNorm): the
    ** gradient passes as it is (diff_src is diff_dst's buffer). */
    if( b->need_diff_src && b->act_fused_before!=2 ){
      rc = lf_dnnl_check(dnnl_eltwise_forward_desc_init(&d,
             dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd,
             b->src_md, alpha, 0.0f), "activation forward descriptor",
             err, errlen)
        || lf_prim_create(&s->fwd, &d, 0, 0, "oneDNN eltwise forward", err,
                          errlen)
        || lf_dnnl_check(dnnl_eltwise_backward_desc_init(&d,
             dnnl_eltwise_relu_use_dst_for_bwd, b->src_md, b->src_md, alpha,
             0.0f), "activation backward descriptor", err, errlen)
        || lf_prim_create(&s->bwd, &d, 0, s->fwd.pd,
                          "oneDNN eltwise backward", err, errlen);
      if( rc ) goto fail;
    }
    b->state = s;
    return 0;
  }
  rc = lf_dnnl_check(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training,
         alg, b->src_md, alpha, 0.0f), "activation forward descriptor",
         err, errlen)
    || lf_prim_create(&s->fwd, &d, 0, 0, "oneDNN eltwise forward", err, errlen);
  if( rc ) goto fail;
  b->dst_md = *lf_prim_md(&s->fwd, dnnl_query_dst_md, 0);
  if( b->need_diff_src ){
    rc = lf_dnnl_check(dnnl_eltwise_backward_desc_init(&d, alg, &b->dst_md,
           b->src_md, alpha, 0.0f), "activation backward descriptor",
           err, errlen)
      || lf_prim_create(&s->bwd, &d, 0, s->fwd.pd, "oneDNN eltwise backward",
                        err, errlen);
    if( rc ) goto fail;
  }
  b->state = s;
  return 0;
fail:
  eltwise_release(s);
  return -1;
}

static int eltwise_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                           char *err, size_t errlen){
  eltwise_state *s = p;
  dnnl_exec_arg_t a[2];
  if( s->fused ) return 0;
  a[0].arg = DNNL_ARG_SRC; a[0].memory = r->src;
  a[1].arg = DNNL_ARG_DST; a[1].memory = r->dst;
  return lf_prim_run(&s->fwd, r->stream, 2, a, L->ops->loc, err, errlen);
}

static int eltwise_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                            char *err, size_t errlen){
  eltwise_state *s = p;
  dnnl_exec_arg_t a[3];
  if( r->diff_src==0 || (s->fused && s->bwd.prim==0) ) return 0;
  a[0].arg = s->fused ? DNNL_ARG_DST : DNNL_ARG_SRC;
  a[0].memory = r->src;
  a[1].arg = DNNL_ARG_DIFF_DST; a[1].memory = r->diff_dst;
  a[2].arg = DNNL_ARG_DIFF_SRC; a[2].memory = r->diff_src;
  return lf_prim_run(&s->bwd, r->stream, 3, a, L->ops->loc, err, errlen);
}

/* The ONNX operator of each activation; GELU (erf form) and SiLU are
** written out, as opset 17 has no operator for them. */
static int eltwise_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                        const char **out, char *err, size_t errlen){
  float alpha;
  const char *x = in[0], *y = NULL;
  lf_onnx_attr a;
  switch( eltwise_alg(L, &alpha) ){
    case dnnl_eltwise_relu:
      if( L->ops == &lf_layer_leakyrelu ){
        a = LF_ONNX_F("alpha", alpha);
        y = lf_onnx_op(g, "LeakyRelu", 1, in, 1, &a);
      }else y = lf_onnx_op1(g, "Relu", x);
      break;
    case dnnl_eltwise_tanh: y = lf_onnx_op1(g, "Tanh", x); break;
    case dnnl_eltwise_logistic: y = lf_onnx_op1(g, "Sigmoid", x); break;
    case dnnl_eltwise_soft_relu: y = lf_onnx_op1(g, "Softplus", x); break;
    case dnnl_eltwise_elu:
      a = LF_ONNX_F("alpha", alpha);
      y = lf_onnx_op(g, "Elu", 1, in, 1, &a);
      break;
    case dnnl_eltwise_swish: y = lf_onnx_op2(g, "Mul", x, lf_onnx_op1(g, "Sigmoid", x)); break;
    case dnnl_eltwise_gelu_erf: {
      /* x * 0.5 * (1 + erf(x / sqrt(2))) */
      const char *e = lf_onnx_op1(g, "Erf", lf_onnx_op2(g, "Div", x, lf_onnx_scalar(g, "sqrt2", 1.41421356237309504880f)));
      y = lf_onnx_op2(g, "Mul", lf_onnx_op2(g, "Mul", x, lf_onnx_op2(g, "Add", e, lf_onnx_scalar(g, "one", 1.0f))),
                      lf_onnx_scalar(g, "half", 0.5f));
      break;
    }
    default:
      snprintf(err, errlen, "%s has no ONNX form", L->ops->loc);
      return -1;
  }
  return lf_onnx_result(y, out, err, errlen);
}

#define LF_ELTWISE(sym, loc) const lf_layer_ops sym = { loc, eltwise_infer, \
  0, 0, eltwise_build, eltwise_forward, eltwise_backward, eltwise_release, 0, eltwise_onnx }

LF_ELTWISE(lf_layer_relu, "ReLU");
LF_ELTWISE(lf_layer_leakyrelu, "LeakyReLU");
LF_ELTWISE(lf_layer_tanh, "Tanh");
LF_ELTWISE(lf_layer_sigmoid, "Sigmoid");
LF_ELTWISE(lf_layer_gelu, "GELU");
LF_ELTWISE(lf_layer_silu, "SiLU");
LF_ELTWISE(lf_layer_elu, "ELU");
LF_ELTWISE(lf_layer_softplus, "Softplus");
