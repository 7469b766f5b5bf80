/*
** layer_pool.c — MaxPool2d and AvgPool2d(kernel, stride, padding) on
** (C,H,W) images, as oneDNN pooling primitives working in whatever layout
** the previous layer produced.
**
** Output size follows PyTorch (ceil_mode=False): (H + 2p - k) / s + 1.
** Symmetric padding gives oneDNN the same size. AvgPool counts the padding
** (PyTorch's count_include_pad=True): with floor rounding no window reaches
** past the padded border, so every window is divided by kh*kw in both.
** MaxPool keeps a workspace (argmax) for its backward pass.
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>

#define ARGS(L) ((const lf_pool2d_args*)(L)->args)

typedef struct pool_state {
  lf_prim fwd, bwd;
  dnnl_memory_t ws;             /* MaxPool argmax, NULL for AvgPool */
} pool_state;

static int pool_stride(const lf_pool2d_args *spec, int i){
  return spec->stride[i]>0 ? spec->stride[i] : spec->kernel[i];
}

static int pool_infer_named(const char *name, const lf_pool2d_args *spec,
                            const lf_shape *in, lf_shape *out,
                            char *err, size_t errlen){
  char buf[64];
  int i;
  if( in->ndim!=3 ){
    snprintf(err, errlen, "%s expects an image input (C,H,W), got %s",
             name, lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  if( spec->kernel[0]<1 || spec->kernel[1]<1 ){
    snprintf(err, errlen, "%s needs kernel >= 1", name);
    return -1;
  }
  if( 2*spec->padding[0]>spec->kernel[0] || 2*spec->padding[1]>spec->kernel[1] ){
    snprintf(err, errlen, "%s padding must be at most half the kernel size",
             name);
    return -1;
  }
  out->ndim = 3;
  out->dim[0] = in->dim[0];
  for(i=0; i<2; i++){
    int64_t span = in->dim[i+1] + 2*(int64_t)spec->padding[i];
    if( span<spec->kernel[i] ){
      snprintf(err, errlen, "%s kernel %dx%d with padding %d does not fit "
               "input %s", name, spec->kernel[0], spec->kernel[1],
               spec->padding[i], lf_shape_str(in, buf, sizeof buf));
      return -1;
    }
    out->dim[i+1] = (span - spec->kernel[i]) / pool_stride(spec, i) + 1;
  }
  return 0;
}

static int maxpool_infer(const void *args, const lf_shape *in, int nin,
                         lf_shape *out, char *err, size_t errlen){
  const lf_pool2d_args *spec = args;
  (void)nin;
  return pool_infer_named("MaxPool2d", spec, in, out, err, errlen);
}

static int avgpool_infer(const void *args, const lf_shape *in, int nin,
                         lf_shape *out, char *err, size_t errlen){
  const lf_pool2d_args *spec = args;
  (void)nin;
  return pool_infer_named("AvgPool2d", spec, in, out, err, errlen);
}

static void pool_release(void *p){
  pool_state *s = p;
  if( s==0 ) return;
  lf_prim_free(&s->fwd);
  lf_prim_free(&s->bwd);
  if( s->ws ) dnnl_memory_destroy(s->ws);
  free(s);
}

static int pool_build(const lf_layer *L, lf_layer_build *b,
                      char *err, size_t errlen){
  pool_state *s = calloc(1, sizeof(*s));
  int is_max = L->ops==&lf_layer_maxpool2d;
  dnnl_alg_kind_t alg = is_max ? dnnl_pooling_max
                               : dnnl_pooling_avg_include_padding;
  dnnl_memory_desc_t dst_any;
  dnnl_dims_t strides, kernel, dilation, pad;
  dnnl_pooling_v2_desc_t d;
  const dnnl_memory_desc_t *ws;
  int i, rc;

  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  for(i=0; i<2; i++){
    strides[i] = pool_stride(ARGS(L), i);
    kernel[i] = ARGS(L)->kernel[i];
    dilation[i] = 0;
    pad[i] = ARGS(L)->padding[i];
  }
  rc = lf_dnnl_md_dt(&dst_any, b->batch, &L->out, 1, b->src_md->data_type,
                     err, errlen)
    || lf_dnnl_check(dnnl_pooling_v2_forward_desc_init(&d,
         dnnl_forward_training, alg, b->src_md, &dst_any, strides, kernel,
         dilation, pad, pad), "pooling forward descriptor", err, errlen)
    || lf_prim_create(&s->fwd, &d, 0, 0, "oneDNN pooling forward", err, errlen);
  if( rc ) goto fail;
  b->dst_md = *lf_prim_md(&s->fwd, dnnl_query_dst_md, 0);
  ws = lf_prim_md(&s->fwd, dnnl_query_workspace_md, 0);
  if( ws && dnnl_memory_desc_get_size(ws)>0 ){
    if( lf_dnnl_mem(&s->ws, ws, DNNL_MEMORY_ALLOCATE, err, errlen) ) goto fail;
  }
  if( b->need_diff_src ){
    rc = lf_dnnl_check(dnnl_pooling_v2_backward_desc_init(&d, alg, b->src_md,
           &b->dst_md, strides, kernel, dilation, pad, pad),
           "pooling backward descriptor", err, errlen)
      || lf_prim_create(&s->bwd, &d, 0, s->fwd.pd, "oneDNN pooling backward",
                        err, errlen);
    if( rc ) goto fail;
  }
  b->state = s;
  return 0;
fail:
  pool_release(s);
  return -1;
}

static int pool_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                        char *err, size_t errlen){
  pool_state *s = p;
  dnnl_exec_arg_t a[3];
  int n = 0;
  (void)L;
  a[n].arg = DNNL_ARG_SRC; a[n++].memory = r->src;
  a[n].arg = DNNL_ARG_DST; a[n++].memory = r->dst;
  if( s->ws ){ a[n].arg = DNNL_ARG_WORKSPACE; a[n++].memory = s->ws; }
  return lf_prim_run(&s->fwd, r->stream, n, a, "pooling forward", err, errlen);
}

static int pool_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                         char *err, size_t errlen){
  pool_state *s = p;
  dnnl_exec_arg_t a[3];
  int n = 0;
  (void)L;
  if( r->diff_src==0 ) return 0;
  a[n].arg = DNNL_ARG_DIFF_DST; a[n++].memory = r->diff_dst;
  a[n].arg = DNNL_ARG_DIFF_SRC; a[n++].memory = r->diff_src;
  if( s->ws ){ a[n].arg = DNNL_ARG_WORKSPACE; a[n++].memory = s->ws; }
  return lf_prim_run(&s->bwd, r->stream, n, a, "pooling backward", err, errlen);
}

/* MaxPool / AveragePool (padding counted in the average, as PyTorch). */
static int pool_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                     const char **out, char *err, size_t errlen){
  const lf_pool2d_args *a = L->args;
  int64_t k[2] = { a->kernel[0], a->kernel[1] };
  int64_t s[2] = { pool_stride(a, 0), pool_stride(a, 1) };
  int64_t p[4] = { a->padding[0], a->padding[1], a->padding[0], a->padding[1] };
  int avg = L->ops == &lf_layer_avgpool2d;
  lf_onnx_attr at[4] = { LF_ONNX_IS("kernel_shape", 2, k), LF_ONNX_IS("strides", 2, s),
                         LF_ONNX_IS("pads", 4, p), LF_ONNX_I("count_include_pad", 1) };
  return lf_onnx_result(lf_onnx_op(g, avg ? "AveragePool" : "MaxPool", 1, in, avg ? 4 : 3, at),
                        out, err, errlen);
}

const lf_layer_ops lf_layer_maxpool2d = {
  "MaxPool2d", maxpool_infer, 0, 0, pool_build, pool_forward, pool_backward,
  pool_release, 0, pool_onnx
};

const lf_layer_ops lf_layer_avgpool2d = {
  "AvgPool2d", avgpool_infer, 0, 0, pool_build, pool_forward, pool_backward,
  pool_release, 0, pool_onnx
};
