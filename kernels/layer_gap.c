/*
** layer_gap.c — GlobalAvgPool: the mean over all positions of each
** channel, (C,H,W) -> (C) or (C,L) -> (C), as PyTorch's
** AdaptiveAvgPool2d(1)/AdaptiveAvgPool1d(1) followed by flatten.
**
** A oneDNN average pooling whose window is the whole input writes
** (N,C,1,1) (or (N,C,1)) in the layout it prefers; a reorder makes that the
** plain (N,C) output, and the other way for the gradient.
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct gap_state {
  lf_prim fwd, bwd;
  dnnl_memory_t pooled;          /* (N,C,1[,1]) in the pooling's layout */
  dnnl_memory_t plain;           /* (N,C,1[,1]) plain view of dst/diff_dst */
  lf_prim to_plain, from_plain;
} gap_state;

static int gap_infer(const void *args, const lf_shape *in, int nin,
                     lf_shape *out, char *err, size_t errlen){
  char buf[64];
  (void)args; (void)nin;
  if( in->ndim!=2 && in->ndim!=3 ){
    snprintf(err, errlen, "GlobalAvgPool expects a (C,L) or (C,H,W) input, got %s",
             lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  out->ndim = 1;
  out->dim[0] = in->dim[0];
  return 0;
}

static void gap_release(void *p){
  gap_state *s = p;
  if( s==0 ) return;
  lf_prim_free(&s->fwd);
  lf_prim_free(&s->bwd);
  lf_prim_free(&s->to_plain);
  lf_prim_free(&s->from_plain);
  if( s->pooled ) dnnl_memory_destroy(s->pooled);
  if( s->plain ) dnnl_memory_destroy(s->plain);
  free(s);
}

static int gap_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  gap_state *s = calloc(1, sizeof *s);
  int sp = L->in.ndim - 1, i, rc;         /* spatial dims: 1 or 2 */
  dnnl_dims_t strides, kernel, dilation, pad;
  dnnl_memory_desc_t any, plain;
  dnnl_pooling_v2_desc_t d;
  lf_shape pooled;
  dnnl_data_type_t dt = b->src_md->data_type;
  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  pooled = L->in;
  for(i=0; i<sp; i++){
    strides[i] = 1;
    kernel[i] = L->in.dim[i+1];
    dilation[i] = 0;
    pad[i] = 0;
    pooled.dim[i+1] = 1;
  }
  rc = lf_dnnl_md_dt(&any, b->batch, &pooled, 1, dt, err, errlen)
    || lf_dnnl_md_dt(&plain, b->batch, &pooled, 0, dt, err, errlen)
    || lf_dnnl_md_dt(&b->dst_md, b->batch, &L->out, 0, dt, err, errlen)
    || lf_dnnl_check(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_training,
         dnnl_pooling_avg_exclude_padding, b->src_md, &any, strides, kernel,
         dilation, pad, pad), "GlobalAvgPool forward descriptor", err, errlen)
    || lf_prim_create(&s->fwd, &d, 0, 0, "oneDNN pooling forward", err, errlen);
  if( rc ) goto fail;
  {
    const dnnl_memory_desc_t *pmd = lf_prim_md(&s->fwd, dnnl_query_dst_md, 0);
    rc = lf_dnnl_mem(&s->pooled, pmd, DNNL_MEMORY_ALLOCATE, err, errlen)
      || lf_dnnl_mem(&s->plain, &plain, DNNL_MEMORY_NONE, err, errlen)
      || lf_prim_reorder(&s->to_plain, pmd, &plain, err, errlen);
    if( rc ) goto fail;
    if( b->need_diff_src ){
      rc = lf_prim_reorder(&s->from_plain, &plain, pmd, err, errlen)
        || lf_dnnl_check(dnnl_pooling_v2_backward_desc_init(&d,
             dnnl_pooling_avg_exclude_padding, b->src_md, pmd, strides, kernel,
             dilation, pad, pad), "GlobalAvgPool backward descriptor", err, errlen)
        || lf_prim_create(&s->bwd, &d, 0, s->fwd.pd, "oneDNN pooling backward",
                          err, errlen);
      if( rc ) goto fail;
    }
  }
  b->state = s;
  return 0;
fail:
  gap_release(s);
  return -1;
}

static int gap_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                       char *err, size_t errlen){
  gap_state *s = p;
  dnnl_exec_arg_t a[2];
  (void)L;
  a[0].arg = DNNL_ARG_SRC; a[0].memory = r->src;
  a[1].arg = DNNL_ARG_DST; a[1].memory = s->pooled;
  if( lf_prim_run(&s->fwd, r->stream, 2, a, "GlobalAvgPool", err, errlen) ) return -1;
  if( lf_dnnl_check(dnnl_memory_set_data_handle(s->plain, lf_dnnl_ptr(r->dst)),
                    "GlobalAvgPool", err, errlen) ) return -1;
  a[0].arg = DNNL_ARG_FROM; a[0].memory = s->pooled;
  a[1].arg = DNNL_ARG_TO;   a[1].memory = s->plain;
  return lf_prim_run(&s->to_plain, r->stream, 2, a, "GlobalAvgPool reorder", err, errlen);
}

static int gap_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                        char *err, size_t errlen){
  gap_state *s = p;
  dnnl_exec_arg_t a[2];
  (void)L;
  if( r->diff_src==0 ) return 0;
  if( lf_dnnl_check(dnnl_memory_set_data_handle(s->plain, lf_dnnl_ptr(r->diff_dst)),
                    "GlobalAvgPool backward", err, errlen) ) return -1;
  a[0].arg = DNNL_ARG_FROM; a[0].memory = s->plain;
  a[1].arg = DNNL_ARG_TO;   a[1].memory = s->pooled;   /* reused as diff_dst */
  if( lf_prim_run(&s->from_plain, r->stream, 2, a, "GlobalAvgPool reorder", err, errlen) ) return -1;
  a[0].arg = DNNL_ARG_DIFF_DST; a[0].memory = s->pooled;
  a[1].arg = DNNL_ARG_DIFF_SRC; a[1].memory = r->diff_src;
  return lf_prim_run(&s->bwd, r->stream, 2, a, "GlobalAvgPool backward", err, errlen);
}

/* GlobalAveragePool keeps 1-sized spatial dims: flatten them away. */
static int gap_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                    const char **out, char *err, size_t errlen){
  lf_onnx_attr ax = LF_ONNX_I("axis", 1);
  const char *p = lf_onnx_op1(g, "GlobalAveragePool", in[0]);
  const char *ins[1] = { p };
  (void)L;
  return lf_onnx_result(p ? lf_onnx_op(g, "Flatten", 1, ins, 1, &ax) : NULL, out, err, errlen);
}

const lf_layer_ops lf_layer_globalavgpool = {
  "GlobalAvgPool", gap_infer, 0, 0, gap_build, gap_forward, gap_backward,
  gap_release, 0, gap_onnx
};
