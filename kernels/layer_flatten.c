/*
** layer_flatten.c — the layers that only change how a tensor is seen:
** Flatten ((C,H,W) -> (C*H*W)), Reshape (to a given shape) in PyTorch's
** (row-major) order, and Identity (its input, as is). This is where the blocked layouts of a convolution stack end: a
** blocked input is reordered into the plain order; a plain input costs
** nothing (the output is the input buffer seen as a matrix).
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct flatten_state {
  lf_prim to_plain, from_plain;  /* blocked <-> plain (N,C,H,W) */
  dnnl_memory_t plain;           /* plain view of dst / diff_dst */
} flatten_state;

static int flatten_infer(const void *args, const lf_shape *in, int nin,
                         lf_shape *out, char *err, size_t errlen){
  (void)args;
  (void)nin;
  (void)err; (void)errlen;
  out->ndim = 1;
  out->dim[0] = lf_shape_count(in);
  return 0;
}

/* Reshape: the target shape, with its -1 dimension (if any) inferred. */
static int reshape_infer(const void *args, const lf_shape *in, int nin,
                         lf_shape *out, char *err, size_t errlen){
  const lf_reshape_args *a = args;
  char b1[64], b2[64];
  int64_t known = 1, total = lf_shape_count(in);
  int free_dim = -1;
  (void)nin;
  *out = a->shape;
  for(int d=0; d<out->ndim; d++){
    if( out->dim[d]==-1 ) free_dim = d;
    else known *= out->dim[d];
  }
  if( free_dim>=0 && known>0 && total%known==0 ) out->dim[free_dim] = total/known;
  if( lf_shape_count(out)!=total || (free_dim>=0 && known<=0) ){
    snprintf(err, errlen, "Reshape to %s does not fit input %s (%lld values)",
             lf_shape_str(&a->shape, b1, sizeof b1), lf_shape_str(in, b2, sizeof b2),
             (long long)total);
    return -1;
  }
  return 0;
}

static int identity_infer(const void *args, const lf_shape *in, int nin,
                          lf_shape *out, char *err, size_t errlen){
  (void)args; (void)nin; (void)err; (void)errlen;
  *out = *in;
  return 0;
}

/* Identity: the output is the input buffer in its own layout. */
static int identity_build(const lf_layer *L, lf_layer_build *b,
                          char *err, size_t errlen){
  (void)L; (void)err; (void)errlen;
  b->dst_md = *b->src_md;
  b->dst_is_src = 1;
  b->state = 0;
  return 0;
}

static int identity_pass(const lf_layer *L, void *p, const lf_layer_run *r,
                         char *err, size_t errlen){
  (void)L; (void)p; (void)r; (void)err; (void)errlen;
  return 0;
}

static void flatten_release(void *p){
  flatten_state *s = p;
  if( s==0 ) return;
  lf_prim_free(&s->to_plain);
  lf_prim_free(&s->from_plain);
  if( s->plain ) dnnl_memory_destroy(s->plain);
  free(s);
}

static int flatten_build(const lf_layer *L, lf_layer_build *b,
                         char *err, size_t errlen){
  flatten_state *s;
  dnnl_memory_desc_t plain;
  int rc;
  if( lf_dnnl_md_dt(&b->dst_md, b->batch, &L->out, 0, b->src_md->data_type,
                    err, errlen) ){
    return -1;
  }
  if( lf_dnnl_md_is_plain(b->src_md) ){
    b->dst_is_src = 1;
    b->state = 0;
    return 0;
  }
  s = calloc(1, sizeof(*s));
  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  rc = lf_dnnl_md_dt(&plain, b->batch, &L->in, 0, b->src_md->data_type,
                     err, errlen)
    || lf_prim_reorder(&s->to_plain, b->src_md, &plain, err, errlen)
    || lf_dnnl_mem(&s->plain, &plain, DNNL_MEMORY_NONE, err, errlen);
  if( rc==0 && b->need_diff_src ){
    rc = lf_prim_reorder(&s->from_plain, &plain, b->src_md, err, errlen);
  }
  if( rc ){ flatten_release(s); return -1; }
  b->state = s;
  return 0;
}

/* Runs reorder p from `from` to `to`, with the plain side seen as 4-D. */
static int flatten_move(flatten_state *s, const lf_prim *p, dnnl_memory_t from,
                        dnnl_memory_t to, dnnl_memory_t flat, dnnl_stream_t st,
                        char *err, size_t errlen){
  dnnl_exec_arg_t a[2];
  if( lf_dnnl_check(dnnl_memory_set_data_handle(s->plain, lf_dnnl_ptr(flat)),
                    "Flatten", err, errlen) ) return -1;
  a[0].arg = DNNL_ARG_FROM; a[0].memory = from ? from : s->plain;
  a[1].arg = DNNL_ARG_TO;   a[1].memory = to ? to : s->plain;
  return lf_prim_run(p, st, 2, a, "Flatten reorder", err, errlen);
}

static int flatten_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                           char *err, size_t errlen){
  flatten_state *s = p;
  (void)L;
  if( s==0 ) return 0;
  return flatten_move(s, &s->to_plain, r->src, 0, r->dst, r->stream,
                      err, errlen);
}

static int flatten_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                            char *err, size_t errlen){
  flatten_state *s = p;
  (void)L;
  if( s==0 || r->diff_src==0 ) return 0;
  return flatten_move(s, &s->from_plain, 0, r->diff_src, r->diff_dst,
                      r->stream, err, errlen);
}

/* Flatten and Reshape: the per-sample output shape behind the batch
** (0 copies the batch dimension, so it stays symbolic). */
static int reshape_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                        const char **out, char *err, size_t errlen){
  int64_t shape[LF_MAX_DIMS + 1] = { 0 };
  for(int d=0; d<L->out.ndim; d++) shape[d+1] = L->out.dim[d];
  const char *s = lf_onnx_i64s(g, "shape", L->out.ndim + 1, shape);
  return lf_onnx_result(s ? lf_onnx_op2(g, "Reshape", in[0], s) : NULL, out, err, errlen);
}

static int identity_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                         const char **out, char *err, size_t errlen){
  (void)L;
  return lf_onnx_result(lf_onnx_op1(g, "Identity", in[0]), out, err, errlen);
}

const lf_layer_ops lf_layer_flatten = {
  "Flatten", flatten_infer, 0, 0, flatten_build, flatten_forward,
  flatten_backward, flatten_release, 0, reshape_onnx
};

const lf_layer_ops lf_layer_reshape = {
  "Reshape", reshape_infer, 0, 0, flatten_build, flatten_forward,
  flatten_backward, flatten_release, 0, reshape_onnx
};

const lf_layer_ops lf_layer_identity = {
  "Identity", identity_infer, 0, 0, identity_build, identity_pass,
  identity_pass, 0, 0, identity_onnx
};
