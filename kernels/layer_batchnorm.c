/*
** layer_batchnorm.c — BatchNorm1d on (F) vectors and BatchNorm2d on (C,H,W)
** images, as oneDNN batch normalization primitives with learnt scale
** ("weight") and shift ("bias").
**
** Training normalises with the batch statistics; inference with the
** running ones. oneDNN does not maintain running statistics, so forward
** updates them itself the way PyTorch does:
**   running = (1 - momentum) * running + momentum * batch_stat
** where the variance folded in is the unbiased one, var * n/(n-1), n being
** the number of values per channel (batch * H * W). The variance used to
** normalise stays the biased one, as in PyTorch.
**
** oneDNN 2.6 only has a generic C++ kernel (ncsp_bnorm) for plain (N,F)
** data, but (N,F) row-major is also (N,F,1,1) channels-last, which its
** AVX-512 kernel handles: BatchNorm1d runs on that 4-D view.
**
** A ReLU that is the only reader of the output (fuse_act with slope 0) is
** applied here (fuse_norm_relu): forward writes relu(bn(x)) and a mask in
** a workspace, backward takes dL/d(relu output) and masks it itself, so
** the ReLU layer does nothing and the ResNet's BN-ReLU pairs cost one
** pass each way instead of two.
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>

#define ARGS(L) ((const lf_batchnorm_args*)(L)->args)

typedef struct bn_state {
  lf_prim fwd_train, fwd_infer, bwd;
  dnnl_memory_t scale, shift;     /* weight, bias (plain views) */
  dnnl_memory_t gscale, gshift;   /* their grads */
  dnnl_memory_t rmean, rvar;      /* running statistics (plain views) */
  dnnl_memory_t mean, var;        /* batch statistics of the last training pass */
  dnnl_memory_t sink;             /* diff_src nobody reads (first layer) */
  dnnl_memory_t ws;               /* fused ReLU: its mask, forward to backward */
  dnnl_memory_t view[4];          /* src, dst, diff_dst, diff_src as (N,F,1,1)
                                  ** channels-last; NULL: no view */
  int64_t per_channel;            /* values per channel in a batch */
} bn_state;

static int bn_infer_common(const char *name, int want_ndim,
                           const lf_batchnorm_args *spec, const lf_shape *in,
                           lf_shape *out, char *err, size_t errlen){
  char buf[64];
  if( in->ndim!=want_ndim ){
    snprintf(err, errlen, "%s expects %s input, got %s", name,
             want_ndim==1 ? "a vector (F)" : "an image (C,H,W)",
             lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  if( !(spec->eps>0.0) ){
    snprintf(err, errlen, "%s needs eps > 0", name);
    return -1;
  }
  *out = *in;
  return 0;
}

static int bn1d_infer(const void *args, const lf_shape *in, int nin,
                      lf_shape *out, char *err, size_t errlen){
  const lf_batchnorm_args *spec = args;
  (void)nin;
  return bn_infer_common("BatchNorm1d", 1, spec, in, out, err, errlen);
}

static int bn2d_infer(const void *args, const lf_shape *in, int nin,
                      lf_shape *out, char *err, size_t errlen){
  const lf_batchnorm_args *spec = args;
  (void)nin;
  return bn_infer_common("BatchNorm2d", 3, spec, in, out, err, errlen);
}

static int bn_params(const void *args, const lf_shape *in,
                     lf_param_decl *d){
  const lf_batchnorm_args *spec = args;
  static const char *const names[4] = {
    "weight", "bias", "running_mean", "running_var"
  };
  int i;
  (void)spec;
  for(i=0; i<4; i++){
    d[i].suffix = names[i];
    d[i].shape.ndim = 1;
    d[i].shape.dim[0] = in->dim[0];
    d[i].trainable = i<2;
  }
  return 4;
}

static void bn_init(const lf_layer *L, lf_rng *rng){
  (void)rng;
  lf_fill_const(L->param[0]->data, L->param[0]->n, 1.0f);
  lf_fill_const(L->param[1]->data, L->param[1]->n, 0.0f);
  lf_fill_const(L->param[2]->data, L->param[2]->n, 0.0f);
  lf_fill_const(L->param[3]->data, L->param[3]->n, 1.0f);
}

static void bn_release(void *p){
  bn_state *s = p;
  dnnl_memory_t m[14];
  size_t i;
  if( s==0 ) return;
  for(i=0; i<4; i++) m[9+i] = s->view[i];
  m[0] = s->scale;  m[1] = s->shift;  m[2] = s->gscale;  m[3] = s->gshift;
  m[4] = s->rmean;  m[5] = s->rvar;   m[6] = s->mean;    m[7] = s->var;
  m[8] = s->sink;   m[13] = s->ws;
  lf_prim_free(&s->fwd_train);
  lf_prim_free(&s->fwd_infer);
  lf_prim_free(&s->bwd);
  for(i=0; i<sizeof(m)/sizeof(m[0]); i++){
    if( m[i] ) dnnl_memory_destroy(m[i]);
  }
  free(s);
}

static int bn_build(const lf_layer *L, lf_layer_build *b,
                    char *err, size_t errlen){
  bn_state *s = calloc(1, sizeof(*s));
  unsigned ss = dnnl_use_scale | dnnl_use_shift;
  /* A ReLU reading only this output: fused, forward and backward. */
  int relu = b->fuse_act && b->act_alpha==0.0f;
  float eps = (float)ARGS(L)->eps;
  dnnl_memory_desc_t c_md, view;
  const dnnl_memory_desc_t *data = b->src_md;
  dnnl_batch_normalization_desc_t d;
  int64_t c = L->in.dim[0];
  int i, rc;

  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  if( relu ) ss |= dnnl_fuse_norm_relu;
  s->per_channel = b->batch;
  for(i=1; i<L->in.ndim; i++) s->per_channel *= L->in.dim[i];
  if( L->in.ndim==1 && lf_dnnl_md_is_plain(b->src_md) ){
    dnnl_dims_t vd = { b->batch, c, 1, 1 };
    if( lf_dnnl_check(dnnl_memory_desc_init_by_tag(&view, 4, vd,
                      b->src_md->data_type,
                      dnnl_acdb), "BatchNorm1d view", err, errlen) ) goto fail;
    data = &view;
  }else if( lf_dnnl_md_view_as(b->src_md, dnnl_aBcd16b, &view) ){
    /* An NHWC image batch of exactly 16 channels (as AMX convolutions
    ** leave it) is the same bytes as nChw16c, whose BatchNorm kernel
    ** oneDNN 2.6 runs 1.6-1.9x faster in bf16 (docs/performance.md, "The
    ** ResNet on an Intel Xeon with AMX"). */
    data = &view;
  }
  if( data==&view ){
    for(i=0; i<4; i++){
      if( lf_dnnl_mem(&s->view[i], &view, DNNL_MEMORY_NONE, err, errlen) ){
        goto fail;
      }
    }
  }
  rc = lf_dnnl_md_dims(&c_md, 1, &c, err, errlen)
    || lf_dnnl_check(dnnl_batch_normalization_forward_desc_init(&d,
         dnnl_forward_training, data, eps, ss),
         "BatchNorm forward descriptor", err, errlen)
    || lf_prim_create(&s->fwd_train, &d, 0, 0,
                      "oneDNN batch normalization forward", err, errlen)
    || lf_dnnl_check(dnnl_batch_normalization_forward_desc_init(&d,
         dnnl_forward_inference, data, eps, ss | dnnl_use_global_stats),
         "BatchNorm forward descriptor", err, errlen)
    || lf_prim_create(&s->fwd_infer, &d, 0, 0,
                      "oneDNN batch normalization inference", err, errlen);
  if( rc ) goto fail;
  b->dst_md = s->view[0] ? *b->src_md
                         : *lf_prim_md(&s->fwd_train, dnnl_query_dst_md, 0);
  if( relu ){
    const dnnl_memory_desc_t *ws = lf_prim_md(&s->fwd_train, dnnl_query_workspace_md, 0);
    if( ws==0 || lf_dnnl_mem(&s->ws, ws, DNNL_MEMORY_ALLOCATE, err, errlen) ){
      if( ws==0 ) snprintf(err, errlen, "BatchNorm with a fused ReLU has no workspace");
      goto fail;
    }
    b->act_fused = 2;                   /* backward included */
  }
  rc = lf_dnnl_check(dnnl_batch_normalization_backward_desc_init(&d,
         dnnl_backward, lf_prim_md(&s->fwd_train, dnnl_query_dst_md, 0), data,
         eps, ss),
         "BatchNorm backward descriptor", err, errlen)
    || lf_prim_create(&s->bwd, &d, 0, s->fwd_train.pd,
                      "oneDNN batch normalization backward", err, errlen)
    || lf_dnnl_mem(&s->scale, &c_md, L->param[0]->data, err, errlen)
    || lf_dnnl_mem(&s->shift, &c_md, L->param[1]->data, err, errlen)
    || lf_dnnl_mem(&s->gscale, &c_md, L->param[0]->grad, err, errlen)
    || lf_dnnl_mem(&s->gshift, &c_md, L->param[1]->grad, err, errlen)
    || lf_dnnl_mem(&s->rmean, &c_md, L->param[2]->data, err, errlen)
    || lf_dnnl_mem(&s->rvar, &c_md, L->param[3]->data, err, errlen)
    || lf_dnnl_mem(&s->mean, &c_md, DNNL_MEMORY_ALLOCATE, err, errlen)
    || lf_dnnl_mem(&s->var, &c_md, DNNL_MEMORY_ALLOCATE, err, errlen);
  if( rc ) goto fail;
  if( !b->need_diff_src ){
    /* oneDNN always produces diff_src; give it somewhere to go. */
    if( lf_dnnl_mem(&s->sink, data, DNNL_MEMORY_ALLOCATE, err, errlen) ){
      goto fail;
    }
  }
  b->state = s;
  return 0;
fail:
  bn_release(s);
  return -1;
}

/* The memory to hand oneDNN for m: m itself, or its (N,F,1,1) view. */
static dnnl_memory_t bn_mem(bn_state *s, int k, dnnl_memory_t m){
  if( s->view[k]==0 || m==0 ) return m;
  dnnl_memory_set_data_handle(s->view[k], lf_dnnl_ptr(m));
  return s->view[k];
}

/* PyTorch's running-statistics update (unbiased variance). */
static void bn_update_running(const lf_layer *L, bn_state *s){
  const float *mean = lf_dnnl_ptr(s->mean), *var = lf_dnnl_ptr(s->var);
  float *rm = L->param[2]->data, *rv = L->param[3]->data;
  double m = ARGS(L)->momentum;
  double unbias = (double)s->per_channel / (double)(s->per_channel - 1);
  int64_t i;
  for(i=0; i<L->param[2]->n; i++){
    rm[i] = (float)((1.0 - m) * rm[i] + m * mean[i]);
    rv[i] = (float)((1.0 - m) * rv[i] + m * var[i] * unbias);
  }
}

static int bn_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                      char *err, size_t errlen){
  bn_state *s = p;
  dnnl_exec_arg_t a[7];
  a[0].arg = DNNL_ARG_SRC;      a[0].memory = bn_mem(s, 0, r->src);
  a[1].arg = DNNL_ARG_DST;      a[1].memory = bn_mem(s, 1, r->dst);
  a[2].arg = DNNL_ARG_SCALE;    a[2].memory = s->scale;
  a[3].arg = DNNL_ARG_SHIFT;    a[3].memory = s->shift;
  a[4].arg = DNNL_ARG_MEAN;
  a[5].arg = DNNL_ARG_VARIANCE;
  if( !r->training ){
    a[4].memory = s->rmean;
    a[5].memory = s->rvar;
    return lf_prim_run(&s->fwd_infer, r->stream, 6, a, L->ops->loc,
                       err, errlen);
  }
  if( s->per_channel<2 ){
    snprintf(err, errlen, "%s needs more than 1 value per channel when "
             "training, got a batch of %d", L->ops->loc, r->batch);
    return -1;
  }
  a[4].memory = s->mean;
  a[5].memory = s->var;
  a[6].arg = DNNL_ARG_WORKSPACE;  a[6].memory = s->ws;
  if( lf_prim_run(&s->fwd_train, r->stream, s->ws ? 7 : 6, a, L->ops->loc, err, errlen)
   || lf_dnnl_check(dnnl_stream_wait(r->stream), L->ops->loc, err, errlen) ){
    return -1;
  }
  bn_update_running(L, s);
  return 0;
}

static int bn_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                       char *err, size_t errlen){
  bn_state *s = p;
  dnnl_exec_arg_t a[10];
  a[0].arg = DNNL_ARG_SRC;        a[0].memory = bn_mem(s, 0, r->src);
  a[1].arg = DNNL_ARG_MEAN;       a[1].memory = s->mean;
  a[2].arg = DNNL_ARG_VARIANCE;   a[2].memory = s->var;
  a[3].arg = DNNL_ARG_DIFF_DST;   a[3].memory = bn_mem(s, 2, r->diff_dst);
  a[4].arg = DNNL_ARG_SCALE;      a[4].memory = s->scale;
  a[5].arg = DNNL_ARG_DIFF_SRC;
  a[5].memory = r->diff_src ? bn_mem(s, 3, r->diff_src) : s->sink;
  a[6].arg = DNNL_ARG_DIFF_SCALE; a[6].memory = s->gscale;
  a[7].arg = DNNL_ARG_DIFF_SHIFT; a[7].memory = s->gshift;
  a[8].arg = DNNL_ARG_SHIFT;      a[8].memory = s->shift;  /* oneDNN 2.6 wants it */
  a[9].arg = DNNL_ARG_WORKSPACE;  a[9].memory = s->ws;     /* fused ReLU's mask */
  return lf_prim_run(&s->bwd, r->stream, s->ws ? 10 : 9, a, L->ops->loc, err, errlen);
}

/* Inference form: BatchNormalization with the running statistics. */
static int bn_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                   const char **out, char *err, size_t errlen){
  const char *ins[5] = { in[0], lf_onnx_param(g, L->param[0]), lf_onnx_param(g, L->param[1]),
                         lf_onnx_param(g, L->param[2]), lf_onnx_param(g, L->param[3]) };
  lf_onnx_attr eps = LF_ONNX_F("epsilon", ARGS(L)->eps);
  for(int i=1; i<5; i++) if( !ins[i] ) return lf_onnx_result(NULL, out, err, errlen);
  return lf_onnx_result(lf_onnx_op(g, "BatchNormalization", 5, ins, 1, &eps), out, err, errlen);
}

const lf_layer_ops lf_layer_batchnorm1d = {
  "BatchNorm1d", bn1d_infer, bn_params, bn_init, bn_build, bn_forward,
  bn_backward, bn_release, 0, bn_onnx
};

const lf_layer_ops lf_layer_batchnorm2d = {
  "BatchNorm2d", bn2d_infer, bn_params, bn_init, bn_build, bn_forward,
  bn_backward, bn_release, 0, bn_onnx
};
