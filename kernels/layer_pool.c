/*
** layer_pool.c — MaxPool2d and AvgPool2d(kernel, stride, padding) on
** (C,H,W) images, MaxPool1d and AvgPool1d on (C,L) sequences, as oneDNN
** pooling primitives (2-D or 1-D descriptors) working in whatever layout
** the previous layer produced. The stride's default (the kernel, as in
** PyTorch) is set by the component table's rows; here it is read as given.
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

/* The geometry of a pooling layer of either kind: nsp spatial dims. */
typedef struct pool_geom {
  int nsp;
  int kernel[2], stride[2], padding[2];
} pool_geom;

static int is_1d(const lf_layer_ops *ops){
  return ops==&lf_layer_maxpool1d || ops==&lf_layer_avgpool1d;
}

static pool_geom geom_of(const lf_layer_ops *ops, const void *args){
  pool_geom g;
  if( is_1d(ops) ){
    const lf_pool1d_args *a = args;
    g.nsp = 1;
    g.kernel[0] = a->kernel; g.stride[0] = a->stride; g.padding[0] = a->padding;
    g.kernel[1] = g.stride[1] = 1; g.padding[1] = 0;
  }else{
    const lf_pool2d_args *a = args;
    g.nsp = 2;
    for(int i=0; i<2; i++){
      g.kernel[i] = a->kernel[i]; g.stride[i] = a->stride[i]; g.padding[i] = a->padding[i];
    }
  }
  return g;
}

typedef struct pool_state {
  lf_prim fwd, bwd;
  dnnl_memory_t ws;             /* MaxPool argmax, NULL for AvgPool */
} pool_state;

static int pool_infer_named(const lf_layer_ops *ops, const void *args,
                            const lf_shape *in, lf_shape *out,
                            char *err, size_t errlen){
  char buf[64];
  pool_geom g = geom_of(ops, args);
  const char *name = ops->loc;
  int i;
  if( in->ndim!=g.nsp+1 ){
    snprintf(err, errlen, "%s expects %s, got %s", name,
             g.nsp==2 ? "an image input (C,H,W)" : "a sequence input (C,L)",
             lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  for(i=0; i<g.nsp; i++){
    if( g.kernel[i]<1 || g.stride[i]<1 ){
      snprintf(err, errlen, "%s needs kernel >= 1 and stride >= 1", name);
      return -1;
    }
    if( 2*g.padding[i]>g.kernel[i] ){
      snprintf(err, errlen, "%s padding must be at most half the kernel size", name);
      return -1;
    }
  }
  out->ndim = in->ndim;
  out->dim[0] = in->dim[0];
  for(i=0; i<g.nsp; i++){
    int64_t span = in->dim[i+1] + 2*(int64_t)g.padding[i];
    if( span<g.kernel[i] ){
      if( g.nsp==2 ){
        snprintf(err, errlen, "%s kernel %dx%d with padding %d does not fit "
                 "input %s", name, g.kernel[0], g.kernel[1],
                 g.padding[i], lf_shape_str(in, buf, sizeof buf));
      }else{
        snprintf(err, errlen, "%s kernel %d with padding %d does not fit "
                 "input %s", name, g.kernel[0], g.padding[0],
                 lf_shape_str(in, buf, sizeof buf));
      }
      return -1;
    }
    out->dim[i+1] = (span - g.kernel[i]) / g.stride[i] + 1;
  }
  return 0;
}

#define POOL_INFER(fn, ops) \
  static int fn(const void *args, const lf_shape *in, int nin, \
                lf_shape *out, char *err, size_t errlen){ \
    (void)nin; \
    return pool_infer_named(&ops, args, in, out, err, errlen); \
  }
POOL_INFER(maxpool_infer, lf_layer_maxpool2d)
POOL_INFER(avgpool_infer, lf_layer_avgpool2d)
POOL_INFER(maxpool1d_infer, lf_layer_maxpool1d)
POOL_INFER(avgpool1d_infer, lf_layer_avgpool1d)

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
  int is_max = L->ops==&lf_layer_maxpool2d || L->ops==&lf_layer_maxpool1d;
  pool_geom g = geom_of(L->ops, L->args);
  dnnl_alg_kind_t alg = is_max ? dnnl_pooling_max
                               : dnnl_pooling_avg_include_padding;
  dnnl_memory_desc_t dst_any;
  dnnl_dims_t strides, kernel, dilation, pad;
  dnnl_pooling_v2_desc_t d;
  const dnnl_memory_desc_t *ws;
  int i, rc;

  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  for(i=0; i<g.nsp; i++){
    strides[i] = g.stride[i];
    kernel[i] = g.kernel[i];
    dilation[i] = 0;
    pad[i] = g.padding[i];
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
  pool_geom q = geom_of(L->ops, L->args);
  int64_t k[2], s[2], p[4];
  for(int i=0; i<q.nsp; i++){
    k[i] = q.kernel[i]; s[i] = q.stride[i];
    p[i] = p[q.nsp + i] = q.padding[i];
  }
  int avg = L->ops == &lf_layer_avgpool2d || L->ops == &lf_layer_avgpool1d;
  lf_onnx_attr at[4] = { LF_ONNX_IS("kernel_shape", q.nsp, k), LF_ONNX_IS("strides", q.nsp, s),
                         LF_ONNX_IS("pads", 2*q.nsp, p), LF_ONNX_I("count_include_pad", 1) };
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

const lf_layer_ops lf_layer_maxpool1d = {
  "MaxPool1d", maxpool1d_infer, 0, 0, pool_build, pool_forward, pool_backward,
  pool_release, 0, pool_onnx
};

const lf_layer_ops lf_layer_avgpool1d = {
  "AvgPool1d", avgpool1d_infer, 0, 0, pool_build, pool_forward, pool_backward,
  pool_release, 0, pool_onnx
};
