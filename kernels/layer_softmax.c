/*
** layer_softmax.c — Softmax(dim) as PyTorch's nn.Softmax: exp(x) / sum
** exp(x) along one axis of each sample. dim counts per-sample axes as
** Concat's axis does (0 = channels/features, PyTorch's dim 1; negative
** from the end, default -1 = the last axis, PyTorch's dim=-1).
**
** One oneDNN softmax primitive forward and one backward (which reads the
** forward's output), in the layout of the input and in its data type.
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>

#define ARGS(L) ((const lf_softmax_args*)(L)->args)

typedef struct softmax_state {
  lf_prim fwd, bwd;
} softmax_state;

/* The per-sample axis of dim for an input of ndim dims, or -1. */
static int softmax_axis(const lf_softmax_args *a, int ndim){
  int ax = a->dim < 0 ? ndim + a->dim : a->dim;
  return ax >= 0 && ax < ndim ? ax : -1;
}

static int softmax_infer(const void *args, const lf_shape *in, int nin,
                         lf_shape *out, char *err, size_t errlen){
  const lf_softmax_args *a = args;
  char buf[64];
  (void)nin;
  if( softmax_axis(a, in->ndim) < 0 ){
    snprintf(err, errlen, "Softmax dim %d is not an axis of its input %s (per-sample axes 0..%d, "
             "or -1 for the last)", a->dim, lf_shape_str(in, buf, sizeof buf), in->ndim - 1);
    return -1;
  }
  *out = *in;
  return 0;
}

static void softmax_release(void *p){
  softmax_state *s = p;
  if( s==0 ) return;
  lf_prim_free(&s->fwd);
  lf_prim_free(&s->bwd);
  free(s);
}

static int softmax_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  softmax_state *s = calloc(1, sizeof *s);
  int axis = softmax_axis(ARGS(L), L->in.ndim) + 1;      /* batch first */
  dnnl_softmax_desc_t d;
  int rc;
  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  rc = lf_dnnl_check(dnnl_softmax_forward_desc_init(&d, dnnl_forward_training, b->src_md, axis),
                     "Softmax forward descriptor", err, errlen)
    || lf_prim_create(&s->fwd, &d, 0, 0, "oneDNN softmax forward", err, errlen);
  if( rc ) goto fail;
  b->dst_md = *lf_prim_md(&s->fwd, dnnl_query_dst_md, 0);
  if( b->need_diff_src ){
    rc = lf_dnnl_check(dnnl_softmax_backward_desc_init(&d, &b->dst_md, &b->dst_md, axis),
                       "Softmax backward descriptor", err, errlen)
      || lf_prim_create(&s->bwd, &d, 0, s->fwd.pd, "oneDNN softmax backward", err, errlen);
    if( rc ) goto fail;
  }
  b->state = s;
  return 0;
fail:
  softmax_release(s);
  return -1;
}

static int softmax_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                           char *err, size_t errlen){
  softmax_state *s = p;
  dnnl_exec_arg_t a[2];
  a[0].arg = DNNL_ARG_SRC; a[0].memory = r->src;
  a[1].arg = DNNL_ARG_DST; a[1].memory = r->dst;
  return lf_prim_run(&s->fwd, r->stream, 2, a, L->ops->loc, err, errlen);
}

static int softmax_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                            char *err, size_t errlen){
  softmax_state *s = p;
  dnnl_exec_arg_t a[3];
  if( r->diff_src==0 ) return 0;
  a[0].arg = DNNL_ARG_DST; a[0].memory = r->dst;
  a[1].arg = DNNL_ARG_DIFF_DST; a[1].memory = r->diff_dst;
  a[2].arg = DNNL_ARG_DIFF_SRC; a[2].memory = r->diff_src;
  return lf_prim_run(&s->bwd, r->stream, 3, a, L->ops->loc, err, errlen);
}

/* Softmax on the per-sample axis moved past the batch. */
static int softmax_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                        const char **out, char *err, size_t errlen){
  lf_onnx_attr ax = LF_ONNX_I("axis", softmax_axis(ARGS(L), L->in.ndim) + 1);
  return lf_onnx_result(lf_onnx_op(g, "Softmax", 1, in, 1, &ax), out, err, errlen);
}

const lf_layer_ops lf_layer_softmax = {
  "Softmax", softmax_infer, 0, 0, softmax_build, softmax_forward,
  softmax_backward, softmax_release, 0, softmax_onnx
};
