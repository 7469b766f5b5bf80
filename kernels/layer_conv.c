/*
** layer_conv.c — Conv2d(out, kernel, stride, padding, bias) on (C,H,W)
** images and Conv1d(out, kernel, stride, padding, dilation, bias) on (C,L)
** sequences, as oneDNN direct convolutions (Conv1d: 1-D descriptors, the
** (N,C,L) tensors and (out,in,k) weights oneDNN takes as they are).
**
** Source, weights and destination use format any: oneDNN picks its blocked
** layouts (nChw16c and friends) and the next layers keep working in them.
** Only the input is reordered, and only when the previous layer produced a
** layout this convolution does not want. Weights stay plain (oc,ic,kh,kw)
** in the lf_param and are reordered into the primitive's layout per step
** (a few thousand values: negligible next to the convolution).
**
** In bf16 (b->bf16) activations and weights are bf16 (the weights come from
** lf_param.data16, which the optimizer keeps current), bias and gradients
** of weights and bias f32: oneDNN's jit_bf16 convolutions.
** A following ReLU/LeakyReLU is applied as an eltwise post-op (fuse_act).
**
** Where oneDNN would take its reference kernel for the forward's layouts
** (on AVX2: the weight gradient and diff_src of a convolution reading 1-3
** plain channels, the Fashion-MNIST stem; docs/performance.md, Layouts),
** the backward primitive picks its own layouts and src/diff_dst (or
** diff_src) are reordered to and from them.
**
** One exception: on a CPU without AMX, oneDNN 2.6's jit_bf16 weight
** gradient of a strided convolution with a kernel above 1 is many times
** slower than its f32 kernel (the ResNet's stride-2 3x3 convolutions,
** measured with ONEDNN_VERBOSE; docs/performance.md, "Strided
** convolutions"). There the weight gradient runs in f32 on f32 copies of
** src and diff_dst, made by two reorders that cost a small part of that.
** With AMX (avx512_core_amx) the bf16 kernel is as fast as the f32 one
** without the two copies where the output is wide, but up to 1.5x slower
** where it is 8 or fewer pixels wide (the ResNet's 7x7 stage: its tiles
** reduce over the output's width, mostly empty then). A Conv2d whose
** output is at most 14 wide (kernel above 1x1) has its batch laid side
** by side for the weight gradient instead (lf_conv_wide.h); a narrower
** one that cannot (a 1x1 kernel, Conv1d) runs it in f32, on copies in
** f32's own layouts.
**
** With AMX in bf16 and on AVX-512 in f32, diff_src of a stride-1
** convolution runs as a forward convolution (bwd_data_as_forward); with
** AMX in bf16, that of a stride-2 Conv2d as four (lf_conv_phases.h). In
** f32 on AVX-512 a 16->16 Conv2d's weight gradient reads its nChw16c
** tensors as NHWC, the same bytes (bwdw_on_channels_last).
*/
#include "lf_layer.h"
#include "lf_conv_phases.h"
#include "lf_conv_wide.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* The geometry of either layer: nsp spatial dims (1 or 2), PyTorch's
** dilation (1: none). */
typedef struct conv_geom {
  int nsp;
  int64_t out;
  int kernel[2], stride[2], padding[2], dilation[2];
  int bias;
} conv_geom;

static conv_geom geom_of(const lf_layer_ops *ops, const void *args){
  conv_geom g;
  if( ops==&lf_layer_conv1d ){
    const lf_conv1d_args *a = args;
    g.nsp = 1;
    g.out = a->out;
    g.kernel[0] = a->kernel; g.stride[0] = a->stride;
    g.padding[0] = a->padding; g.dilation[0] = a->dilation;
    g.bias = a->bias;
  }else{
    const lf_conv2d_args *a = args;
    g.nsp = 2;
    g.out = a->out;
    for(int i=0; i<2; i++){
      g.kernel[i] = a->kernel[i]; g.stride[i] = a->stride[i];
      g.padding[i] = a->padding[i]; g.dilation[i] = 1;
    }
    g.bias = a->bias;
  }
  return g;
}

typedef struct conv_state {
  lf_prim fwd, bwd_data, bwd_weights;
  dnnl_memory_t w, gw, b, gb;   /* plain views of the lf_params */
  lf_relayout src_in;           /* incoming layout -> convolution's src */
  lf_relayout diff_src_out;     /* convolution's diff_src -> incoming layout */
  lf_relayout w_fwd, w_bwd, gw_out;
  int bwdw_f32;                 /* bf16 layer whose weight gradient is f32 */
  lf_prim fwd_f32;              /* its f32 forward (the backward's hint) */
  lf_relayout src_w, ddst_w;    /* src, diff_dst -> the weight gradient's:
                                ** f32 copies (bwdw_f32), channels-last views
                                ** (wgrad_cl) or its own layouts */
  int wgrad_cl;                 /* weight gradient on channels-last views */
  int bwd_data_fwd;             /* diff_src by a forward convolution */
  dnnl_convolution_desc_t bwd_data_desc;  /* its descriptor */
  int wt_bf16;                  /* its weights are bf16 */
  void *wt_buf;                 /* its weights: transposed, flipped */
  dnnl_memory_t wt;             /* a plain view of wt_buf */
  int phases;                   /* diff_src by ph (stride 2, AMX bf16) */
  lf_conv_phases ph;
  int compact;                  /* diff_src at the visited pixels only */
  lf_prim compact_fwd;          /* ... by this forward convolution */
  lf_relayout w_compact;        /* wt -> its weights' layout */
  int wide;                     /* weight gradient by wd (narrow, AMX bf16) */
  lf_conv_wide wd;
} conv_state;

/* Output size of one spatial dimension, or -1 if the kernel does not fit. */
static int64_t conv_out_dim(int64_t in, int k, int stride, int pad){
  if( in + 2*(int64_t)pad < k || stride<1 ) return -1;
  return (in + 2*(int64_t)pad - k) / stride + 1;
}

static int conv_infer(const void *args, const lf_shape *in, int nin,
                      lf_shape *out, char *err, size_t errlen){
  const lf_conv2d_args *spec = args;
  (void)nin;
  char buf[64];
  int64_t oh, ow;
  if( in->ndim!=3 ){
    snprintf(err, errlen, "Conv2d expects an image input (C,H,W), got %s",
             lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  if( spec->out<1 || spec->kernel[0]<1 || spec->kernel[1]<1 ){
    snprintf(err, errlen, "Conv2d needs out >= 1 and kernel >= 1");
    return -1;
  }
  oh = conv_out_dim(in->dim[1], spec->kernel[0], spec->stride[0], spec->padding[0]);
  ow = conv_out_dim(in->dim[2], spec->kernel[1], spec->stride[1], spec->padding[1]);
  if( spec->stride[0]<1 || spec->stride[1]<1 ){
    snprintf(err, errlen, "Conv2d needs stride >= 1");
    return -1;
  }
  if( oh<1 || ow<1 ){
    if( spec->padding[0]==spec->padding[1] ){
      snprintf(err, errlen, "Conv2d kernel %dx%d with padding %d does not fit "
               "input %s", spec->kernel[0], spec->kernel[1], spec->padding[0],
               lf_shape_str(in, buf, sizeof buf));
    }else{
      snprintf(err, errlen, "Conv2d kernel %dx%d with padding %dx%d does not "
               "fit input %s", spec->kernel[0], spec->kernel[1],
               spec->padding[0], spec->padding[1],
               lf_shape_str(in, buf, sizeof buf));
    }
    return -1;
  }
  out->ndim = 3;
  out->dim[0] = spec->out;
  out->dim[1] = oh;
  out->dim[2] = ow;
  return 0;
}

static int conv1d_infer(const void *args, const lf_shape *in, int nin,
                        lf_shape *out, char *err, size_t errlen){
  const lf_conv1d_args *a = args;
  char buf[64];
  int64_t span;
  (void)nin;
  if( in->ndim!=2 ){
    snprintf(err, errlen, "Conv1d expects a sequence input (C,L), got %s",
             lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  span = (int64_t)a->dilation * (a->kernel - 1) + 1;
  if( in->dim[1] + 2*(int64_t)a->padding < span ){
    snprintf(err, errlen, "Conv1d kernel %d (dilation %d) with padding %d does not fit input %s",
             a->kernel, a->dilation, a->padding, lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  out->ndim = 2;
  out->dim[0] = a->out;
  out->dim[1] = (in->dim[1] + 2*(int64_t)a->padding - span) / a->stride + 1;
  return 0;
}

static int conv_params_of(conv_geom g, const lf_shape *in, lf_param_decl *d){
  d[0].suffix = "weight";
  d[0].shape.ndim = 2 + g.nsp;
  d[0].shape.dim[0] = g.out;
  d[0].shape.dim[1] = in->dim[0];
  for(int i=0; i<g.nsp; i++) d[0].shape.dim[2+i] = g.kernel[i];
  d[0].trainable = 1;
  if( !g.bias ) return 1;
  d[1].suffix = "bias";
  d[1].shape.ndim = 1;
  d[1].shape.dim[0] = g.out;
  d[1].trainable = 1;
  return 2;
}

static int conv_params(const void *args, const lf_shape *in,
                       lf_param_decl *d){
  return conv_params_of(geom_of(&lf_layer_conv2d, args), in, d);
}

static int conv1d_params(const void *args, const lf_shape *in,
                         lf_param_decl *d){
  return conv_params_of(geom_of(&lf_layer_conv1d, args), in, d);
}

static void conv_init(const lf_layer *L, lf_rng *rng){
  conv_geom g = geom_of(L->ops, L->args);
  double fan_in = (double)L->in.dim[0] * g.kernel[0] * (g.nsp==2 ? g.kernel[1] : 1);
  double bound = 1.0 / sqrt(fan_in);
  int i;
  for(i=0; i<L->nparam; i++){
    lf_fill_uniform(L->param[i]->data, L->param[i]->n, bound, rng);
  }
}

static void conv_release(void *p){
  conv_state *s = p;
  if( s==0 ) return;
  lf_prim_free(&s->fwd);
  lf_prim_free(&s->bwd_data);
  lf_prim_free(&s->bwd_weights);
  lf_prim_free(&s->fwd_f32);
  lf_relayout_free(&s->src_w);
  lf_relayout_free(&s->ddst_w);
  lf_relayout_free(&s->src_in);
  lf_relayout_free(&s->diff_src_out);
  lf_relayout_free(&s->w_fwd);
  lf_relayout_free(&s->w_bwd);
  lf_relayout_free(&s->gw_out);
  if( s->w ) dnnl_memory_destroy(s->w);
  if( s->gw ) dnnl_memory_destroy(s->gw);
  if( s->b ) dnnl_memory_destroy(s->b);
  if( s->gb ) dnnl_memory_destroy(s->gb);
  if( s->wt ) dnnl_memory_destroy(s->wt);
  free(s->wt_buf);
  lf_conv_phases_free(&s->ph);
  lf_prim_free(&s->compact_fwd);
  lf_relayout_free(&s->w_compact);
  lf_conv_wide_free(&s->wd);
  free(s);
}

/* diff_src of a stride-1 convolution is a forward convolution of diff_dst
** with the weights' in and out channels swapped and their kernel flipped,
** padded k-1-p (the output then has the input's size; oneDNN 3.x's brgemm
** backward does the same). oneDNN 2.6's forward kernels are faster than
** its backward-data ones on the ResNet's shapes with AMX in bf16 (1.2-1.7x)
** and on AVX-512 in f32 (about 1.1x); without AMX in bf16 and on AVX2 the
** measurements were mixed, so those keep the backward kernel
** (docs/performance.md, "Backward data as a forward convolution"). */
static int bwd_data_as_forward(const conv_geom *g, int bf16){
  if( !lf_dnnl_has_isa(bf16 ? dnnl_cpu_isa_avx512_core_amx : dnnl_cpu_isa_avx512_core) ) return 0;
  for(int i=0; i<g->nsp; i++){
    if( g->stride[i]!=1 || g->dilation[i]!=1 || g->padding[i]>g->kernel[i]-1 ) return 0;
  }
  return 1;
}

static int bwd_data_fwd_build(conv_state *s, const conv_geom *g, const lf_layer *L,
                              const dnnl_memory_desc_t *src,
                              const dnnl_memory_desc_t *dst, dnnl_data_type_t dt,
                              char *err, size_t errlen){
  dnnl_dims_t td, strides, pad, dil;
  dnnl_memory_desc_t wt_plain, wt_any;
  dnnl_convolution_desc_t *d = &s->bwd_data_desc;
  int wnd = 2 + g->nsp, i;
  size_t esz = dt==dnnl_bf16 ? 2 : 4;
  td[0] = L->param[0]->shape.dim[1];
  td[1] = L->param[0]->shape.dim[0];
  for(i=0; i<g->nsp; i++){
    td[2+i] = g->kernel[i];
    strides[i] = 1;
    dil[i] = 0;
    pad[i] = g->kernel[i] - 1 - g->padding[i];
  }
  s->wt_buf = malloc((size_t)L->param[0]->n * esz);
  if( s->wt_buf==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  return lf_dnnl_check(dnnl_memory_desc_init_by_tag(&wt_plain, wnd, td, dt,
           g->nsp==2 ? dnnl_oihw : dnnl_oiw), "oneDNN memory descriptor", err, errlen)
    || lf_dnnl_check(dnnl_memory_desc_init_by_tag(&wt_any, wnd, td, dt,
           dnnl_format_tag_any), "oneDNN memory descriptor", err, errlen)
    || lf_dnnl_check(dnnl_dilated_convolution_forward_desc_init(d,
         dnnl_forward_training, dnnl_convolution_direct, dst, &wt_any,
         0, src, strides, dil, pad, pad),
         "convolution forward descriptor (diff_src)", err, errlen)
    || lf_prim_create(&s->bwd_data, d, 0, 0,
                      "oneDNN convolution forward (diff_src)", err, errlen)
    || lf_dnnl_mem(&s->wt, &wt_plain, s->wt_buf, err, errlen)
    || lf_relayout_init(&s->w_bwd, &wt_plain,
         lf_prim_md(&s->bwd_data, dnnl_query_weights_md, 0), 1, err, errlen);
}

/* wt[i][o][K-1-k] = w[o][i][k] (k over the 1 or 2 kernel dims), element
** bits copied as they are (f32 or bf16). */
static void flip_weights(const conv_state *s, const lf_layer *L, int bf16){
  const lf_param *w = L->param[0];
  int64_t no = w->shape.dim[0], ni = w->shape.dim[1];
  int64_t kk = w->n / (no*ni);
  for(int64_t o=0; o<no; o++){
    for(int64_t i=0; i<ni; i++){
      int64_t from = (o*ni + i)*kk, to = (i*no + o)*kk;
      for(int64_t k=0; k<kk; k++){
        if( bf16 ) ((uint16_t*)s->wt_buf)[to + kk-1-k] = w->data16[from + k];
        else ((float*)s->wt_buf)[to + kk-1-k] = w->data[from + k];
      }
    }
  }
}

/* In f32 on AVX-512, oneDNN 2.6's weight gradient of a 16-channel
** convolution (the ResNet's 16->16 28x28) runs 10-20% faster on NHWC than
** on nChw16c (docs/performance.md, "16-channel weight gradients on
** NHWC"; Conv2d only, the case measured). With exactly 16 channels in and
** out the two layouts are the same bytes, so the weight gradient reads src
** and diff_dst through NHWC views (src_w, ddst_w), copying nothing.
** 1: built; 0: not this case (or no jit kernel for it); -1: error. */
static int bwdw_on_channels_last(conv_state *s, const dnnl_memory_desc_t *src,
                                 const dnnl_memory_desc_t *dst, const dnnl_memory_desc_t *gw_any,
                                 const dnnl_memory_desc_t *bias, const dnnl_dims_t strides,
                                 const dnnl_dims_t dil, const dnnl_dims_t pad_l,
                                 const dnnl_dims_t pad_r, char *err, size_t errlen){
  dnnl_memory_desc_t src_cl, dst_cl;
  dnnl_convolution_desc_t d;
  if( src->data_type!=dnnl_f32 || src->ndims!=4 || !lf_dnnl_has_isa(dnnl_cpu_isa_avx512_core)
   || !lf_dnnl_md_view_as(src, dnnl_acdb, &src_cl)
   || !lf_dnnl_md_view_as(dst, dnnl_acdb, &dst_cl) ) return 0;
  if( lf_dnnl_check(dnnl_dilated_convolution_backward_weights_desc_init(&d,
        dnnl_convolution_direct, &src_cl, gw_any, bias, &dst_cl, strides, dil, pad_l, pad_r),
        "convolution backward descriptor", err, errlen)
   || lf_prim_create(&s->bwd_weights, &d, 0, 0,
                     "oneDNN convolution backward weights", err, errlen) ) return -1;
  if( lf_prim_is_ref(&s->bwd_weights) ){
    lf_prim_free(&s->bwd_weights);
    return 0;
  }
  s->wgrad_cl = 1;
  return lf_relayout_init(&s->src_w, src, &src_cl, 1, err, errlen)
      || lf_relayout_init(&s->ddst_w, dst, &dst_cl, 1, err, errlen) ? -1 : 1;
}

int lf_conv_wgrad_channels_last(const void *state){
  const conv_state *s = state;
  return s ? s->wgrad_cl : 0;
}

static int conv_build(const lf_layer *L, lf_layer_build *b,
                      char *err, size_t errlen){
  conv_state *s = calloc(1, sizeof(*s));
  dnnl_memory_desc_t src_any, w_any, gw_any, w_plain, gw_plain, b_md, dst_any;
  dnnl_dims_t wd, strides, pad_l, pad_r, dil;
  dnnl_convolution_desc_t d;
  dnnl_primitive_attr_t attr = 0;
  conv_geom g = geom_of(L->ops, L->args);
  const dnnl_memory_desc_t *bias = g.bias ? &b_md : 0;
  const dnnl_memory_desc_t *src, *dst;
  int64_t nb = g.out;
  int wnd = 2 + g.nsp;
  /* bf16: activations and weights in bf16 (weights from data16), weight
  ** gradients in f32. */
  int bf16 = b->bf16 && L->param[0]->data16;
  dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
  int i, rc;

  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  for(i=0; i<wnd; i++) wd[i] = L->param[0]->shape.dim[i];
  for(i=0; i<g.nsp; i++){
    strides[i] = g.stride[i];
    pad_l[i] = pad_r[i] = g.padding[i];
    dil[i] = g.dilation[i] - 1;           /* oneDNN counts the gaps */
  }
  /* An activation after this layer runs as a post-op (ReLU fused). */
  if( b->fuse_act && lf_dnnl_attr_relu(&attr, b->act_alpha, err, errlen) ){
    goto fail;
  }
  rc = lf_dnnl_md_dt(&src_any, b->batch, &L->in, 1, dt, err, errlen)
    || lf_dnnl_check(dnnl_memory_desc_init_by_tag(&w_any, wnd, wd, dt,
         dnnl_format_tag_any), "oneDNN memory descriptor", err, errlen)
    || lf_dnnl_check(dnnl_memory_desc_init_by_tag(&gw_any, wnd, wd, dnnl_f32,
         dnnl_format_tag_any), "oneDNN memory descriptor", err, errlen)
    || lf_dnnl_md_dims(&gw_plain, wnd, L->param[0]->shape.dim, err, errlen)
    || lf_dnnl_md_retype(&w_plain, &gw_plain, dt, err, errlen)
    || lf_dnnl_md_dims(&b_md, 1, &nb, err, errlen)
    || lf_dnnl_md_dt(&dst_any, b->batch, &L->out, 1, dt, err, errlen)
    || lf_dnnl_check(dnnl_dilated_convolution_forward_desc_init(&d,
         dnnl_forward_training, dnnl_convolution_direct, &src_any, &w_any,
         bias, &dst_any, strides, dil, pad_l, pad_r),
         "convolution forward descriptor", err, errlen)
    || lf_prim_create(&s->fwd, &d, attr, 0, "oneDNN convolution forward",
                      err, errlen);
  if( attr ) dnnl_primitive_attr_destroy(attr);
  if( rc ) goto fail;
  b->act_fused = b->fuse_act;
  src = lf_prim_md(&s->fwd, dnnl_query_src_md, 0);
  dst = lf_prim_md(&s->fwd, dnnl_query_dst_md, 0);
  b->dst_md = *dst;

  rc = lf_relayout_init(&s->src_in, b->src_md, src, 1, err, errlen)
    || lf_dnnl_mem(&s->w, &w_plain, bf16 ? (void*)L->param[0]->data16
                                         : (void*)L->param[0]->data, err, errlen)
    || lf_dnnl_mem(&s->gw, &gw_plain, L->param[0]->grad, err, errlen)
    || lf_relayout_init(&s->w_fwd, &w_plain,
         lf_prim_md(&s->fwd, dnnl_query_weights_md, 0), 1, err, errlen);
  if( rc ) goto fail;
  if( g.bias ){
    rc = lf_dnnl_mem(&s->b, &b_md, L->param[1]->data, err, errlen)
      || lf_dnnl_mem(&s->gb, &b_md, L->param[1]->grad, err, errlen);
    if( rc ) goto fail;
  }

  s->bwd_data_fwd = b->need_diff_src && bwd_data_as_forward(&g, bf16);
  if( s->bwd_data_fwd ){
    s->wt_bf16 = bf16;
    if( bwd_data_fwd_build(s, &g, L, src, dst, dt, err, errlen) ) goto fail;
    if( lf_prim_is_ref(&s->bwd_data) ){
      /* No jit forward for this shape (a 1-channel diff_src, say): the
      ** backward kernel instead. */
      lf_prim_free(&s->bwd_data);
      lf_relayout_free(&s->w_bwd);
      s->bwd_data_fwd = 0;
    }
  }
  /* With AMX in bf16, diff_src of a stride-2 Conv2d runs as four
  ** stride-1 forward convolutions (lf_conv_phases.h). */
  if( b->need_diff_src && !s->bwd_data_fwd && bf16 && g.nsp==2
   && g.stride[0]==2 && g.stride[1]==2 && lf_dnnl_has_isa(dnnl_cpu_isa_avx512_core_amx) ){
    s->phases = lf_conv_phases_build(&s->ph, src, dst, g.kernel, g.padding, err, errlen);
    if( s->phases<0 ) goto fail;
  }
  if( b->need_diff_src && !s->bwd_data_fwd && !s->phases ){
    rc = lf_dnnl_check(dnnl_dilated_convolution_backward_data_desc_init(&d,
           dnnl_convolution_direct, src, &w_any, dst, strides, dil, pad_l, pad_r),
           "convolution backward descriptor", err, errlen)
      || lf_prim_create(&s->bwd_data, &d, 0, s->fwd.pd,
                        "oneDNN convolution backward data", err, errlen);
    if( rc==0 && lf_prim_is_ref(&s->bwd_data) ){
      /* As for the weight gradient below: on AVX2 a few-channel diff_src
      ** in the input's plain layout has no jit kernel; a blocked one is
      ** reordered back by diff_src_out. */
      dnnl_memory_desc_t src2;
      lf_prim ref = s->bwd_data;
      memset(&s->bwd_data, 0, sizeof s->bwd_data);
      rc = lf_dnnl_md_dt(&src2, b->batch, &L->in, 1, dt, err, errlen)
        || lf_dnnl_check(dnnl_dilated_convolution_backward_data_desc_init(&d,
             dnnl_convolution_direct, &src2, &w_any, dst, strides, dil, pad_l, pad_r),
             "convolution backward descriptor", err, errlen)
        || lf_prim_create(&s->bwd_data, &d, 0, 0,
                          "oneDNN convolution backward data", err, errlen);
      if( rc==0 && lf_prim_is_ref(&s->bwd_data) ){
        lf_prim_free(&s->bwd_data);
        s->bwd_data = ref;
      }else{
        lf_prim_free(&ref);
      }
    }
    rc = rc
      || lf_relayout_init(&s->w_bwd, &w_plain,
           lf_prim_md(&s->bwd_data, dnnl_query_weights_md, 0), 1, err, errlen);
    if( rc ) goto fail;
  }
  if( b->need_diff_src ){
    const dnnl_memory_desc_t *dsrc = s->phases ? src
      : s->bwd_data_fwd ? lf_prim_md(&s->bwd_data, dnnl_query_dst_md, 0)
      : lf_prim_md(&s->bwd_data, dnnl_query_diff_src_md, 0);
    if( lf_relayout_init(&s->diff_src_out, b->src_md, dsrc, 0, err, errlen) ) goto fail;
  }
  for(i=0; i<g.nsp; i++){
    if( bf16 && g.stride[i]>1 && g.kernel[i]>1 ) s->bwdw_f32 = 1;
  }
  /* With AMX the rule is the output's width instead (see the top), and a
  ** Conv2d output up to 14 wide has its batch laid side by side. */
  if( bf16 && lf_dnnl_has_isa(dnnl_cpu_isa_avx512_core_amx) ){
    s->bwdw_f32 = L->out.dim[L->out.ndim-1] <= 8;
    if( g.nsp==2 ){
      s->wide = lf_conv_wide_build(&s->wd, src, dst, &gw_any, bias, g.kernel, g.stride,
                                   g.padding, err, errlen);
      if( s->wide<0 ) goto fail;
      if( s->wide ) s->bwdw_f32 = 0;
    }
  }
  if( s->wide ){
    rc = 0;
  }else if( s->bwdw_f32 ){
    dnnl_memory_desc_t src32, dst32;
    rc = lf_dnnl_md_dt(&src32, b->batch, &L->in, 1, dnnl_f32, err, errlen)
      || lf_dnnl_md_dt(&dst32, b->batch, &L->out, 1, dnnl_f32, err, errlen)
      || lf_dnnl_check(dnnl_dilated_convolution_forward_desc_init(&d,
           dnnl_forward_training, dnnl_convolution_direct, &src32, &gw_any,
           bias, &dst32, strides, dil, pad_l, pad_r),
           "convolution forward descriptor", err, errlen)
      || lf_prim_create(&s->fwd_f32, &d, 0, 0, "oneDNN convolution forward (f32)",
                        err, errlen)
      || lf_dnnl_check(dnnl_dilated_convolution_backward_weights_desc_init(&d,
           dnnl_convolution_direct, &src32, &gw_any, bias, &dst32, strides, dil,
           pad_l, pad_r), "convolution backward descriptor", err, errlen)
      || lf_prim_create(&s->bwd_weights, &d, 0, s->fwd_f32.pd,
                        "oneDNN convolution backward weights", err, errlen)
      || lf_relayout_init(&s->src_w, src, lf_prim_md(&s->bwd_weights, dnnl_query_src_md, 0),
                          1, err, errlen)
      || lf_relayout_init(&s->ddst_w, dst, lf_prim_md(&s->bwd_weights, dnnl_query_diff_dst_md, 0),
                          1, err, errlen);
  }else if( (rc = bwdw_on_channels_last(s, src, dst, &gw_any, bias, strides, dil, pad_l,
                                         pad_r, err, errlen))!=0 ){
    rc = rc<0;                          /* built (1) or an error (-1) */
  }else{
    rc = lf_dnnl_check(dnnl_dilated_convolution_backward_weights_desc_init(&d,
           dnnl_convolution_direct, src, &gw_any, bias, dst, strides, dil, pad_l,
           pad_r), "convolution backward descriptor", err, errlen)
      || lf_prim_create(&s->bwd_weights, &d, 0, s->fwd.pd,
                        "oneDNN convolution backward weights", err, errlen);
    if( rc==0 && lf_prim_is_ref(&s->bwd_weights) ){
      /* No jit kernel for the forward's layouts (on AVX2, the 1-channel
      ** stem: plain src, blocked diff_dst): let the weight gradient pick
      ** its own layouts and reorder src and diff_dst into them. */
      lf_prim ref = s->bwd_weights;
      dnnl_memory_desc_t src2, dst2;
      memset(&s->bwd_weights, 0, sizeof s->bwd_weights);
      rc = lf_dnnl_md_dt(&src2, b->batch, &L->in, 1, dt, err, errlen)
        || lf_dnnl_md_dt(&dst2, b->batch, &L->out, 1, dt, err, errlen)
        || lf_dnnl_check(dnnl_dilated_convolution_backward_weights_desc_init(&d,
             dnnl_convolution_direct, &src2, &gw_any, bias, &dst2, strides, dil,
             pad_l, pad_r), "convolution backward descriptor", err, errlen)
        || lf_prim_create(&s->bwd_weights, &d, 0, 0,
                          "oneDNN convolution backward weights", err, errlen);
      if( rc==0 && lf_prim_is_ref(&s->bwd_weights) ){
        lf_prim_free(&s->bwd_weights);
        s->bwd_weights = ref;
      }else{
        lf_prim_free(&ref);
        rc = rc
          || lf_relayout_init(&s->src_w, src, lf_prim_md(&s->bwd_weights, dnnl_query_src_md, 0),
                              1, err, errlen)
          || lf_relayout_init(&s->ddst_w, dst, lf_prim_md(&s->bwd_weights, dnnl_query_diff_dst_md, 0),
                              1, err, errlen);
      }
    }
  }
  rc = rc
    || lf_relayout_init(&s->gw_out, &gw_plain,
         lf_prim_md(s->wide ? &s->wd.bwd_weights : &s->bwd_weights,
                    dnnl_query_diff_weights_md, 0), 0,
         err, errlen);
  if( rc ) goto fail;
  b->state = s;
  return 0;
fail:
  conv_release(s);
  return -1;
}

int lf_conv_accumulate_diff_src(void *state, const dnnl_memory_desc_t *diff_src_md,
                                char *err, size_t errlen){
  conv_state *s = state;
  dnnl_primitive_attr_t attr = 0;
  lf_prim accum;
  int rc;
  /* Only the forward form and the phases' interleave take post-ops, and
  ** only a diff_src written in place (not reordered afterwards) holds the
  ** other part. */
  if( s->phases ){
    if( !lf_dnnl_md_same_bytes(lf_prim_md(&s->fwd, dnnl_query_src_md, 0), diff_src_md) ) return 0;
    return lf_conv_phases_adding(&s->ph, err, errlen);
  }
  if( !s->bwd_data_fwd
   || !lf_dnnl_md_same_bytes(lf_prim_md(&s->bwd_data, dnnl_query_dst_md, 0), diff_src_md) ){
    return 0;
  }
  memset(&accum, 0, sizeof accum);
  rc = lf_dnnl_attr_sum(&attr, err, errlen)
    || lf_prim_create(&accum, &s->bwd_data_desc, attr, 0,
                      "oneDNN convolution forward (diff_src, accumulating)", err, errlen);
  if( attr ) dnnl_primitive_attr_destroy(attr);
  if( rc ) return -1;
  if( lf_prim_is_ref(&accum)
   || !dnnl_memory_desc_equal(lf_prim_md(&accum, dnnl_query_weights_md, 0),
                              lf_prim_md(&s->bwd_data, dnnl_query_weights_md, 0)) ){
    lf_prim_free(&accum);               /* keep the kernel measured fast */
    return 0;
  }
  lf_prim_free(&s->bwd_data);
  s->bwd_data = accum;
  return 1;
}

/* 1 if md is a 4-D blocked layout whose spatial dims are not blocked
** (plain, NHWC, nChw16c, ...): every other pixel of it is a view with the
** pixel strides multiplied. */
static int spatial_unblocked(const dnnl_memory_desc_t *md){
  if( md->ndims!=4 || md->format_kind!=dnnl_blocked ) return 0;
  for(int i=0; i<md->format_desc.blocking.inner_nblks; i++){
    if( md->format_desc.blocking.inner_idxs[i]>=2 ) return 0;
  }
  return 1;
}

int lf_conv_compact_diff_src(void *state, const lf_layer *L,
                             const dnnl_memory_desc_t *diff_src_md,
                             dnnl_memory_desc_t *compact, dnnl_memory_desc_t *visited,
                             char *err, size_t errlen){
  conv_state *s = state;
  conv_geom g = geom_of(L->ops, L->args);
  const dnnl_memory_desc_t *dst = lf_prim_md(&s->fwd, dnnl_query_dst_md, 0);
  dnnl_data_type_t dt = diff_src_md->data_type;
  size_t esz = dt==dnnl_bf16 ? 2 : 4;
  if( L->ops!=&lf_layer_conv2d || g.kernel[0]!=1 || g.kernel[1]!=1 || g.padding[0] || g.padding[1]
   || (g.stride[0]<2 && g.stride[1]<2) || !spatial_unblocked(diff_src_md)
   || dt!=dst->data_type || (dt==dnnl_bf16 && !L->param[0]->data16) ) return 0;
  dnnl_dims_t cd = { diff_src_md->dims[0], diff_src_md->dims[1], dst->dims[2], dst->dims[3] };
  dnnl_dims_t wd = { L->param[0]->shape.dim[1], L->param[0]->shape.dim[0], 1, 1 };
  dnnl_dims_t one = { 1, 1 }, zero = { 0, 0 };
  dnnl_memory_desc_t w_any, wt_plain;
  dnnl_convolution_desc_t d;
  dnnl_memory_desc_t c_any;
  /* The compact tensor in whichever layout the convolution likes: the
  ** adding reorder moves it into diff_src's. */
  if( lf_dnnl_md_tag(&c_any, 4, cd, dt, dnnl_format_tag_any, err, errlen)
   || lf_dnnl_md_tag(&w_any, 4, wd, dt, dnnl_format_tag_any, err, errlen)
   || lf_dnnl_md_tag(&wt_plain, 4, wd, dt, dnnl_oihw, err, errlen)
   || lf_dnnl_check(dnnl_convolution_forward_desc_init(&d, dnnl_forward_training,
        dnnl_convolution_direct, dst, &w_any, 0, &c_any, one, zero, zero),
        "convolution forward descriptor (compact diff_src)", err, errlen)
   || lf_prim_create(&s->compact_fwd, &d, 0, 0,
                     "oneDNN convolution forward (compact diff_src)", err, errlen) ) return -1;
  if( lf_prim_is_ref(&s->compact_fwd) ){ lf_prim_free(&s->compact_fwd); return 0; }
  *compact = *lf_prim_md(&s->compact_fwd, dnnl_query_dst_md, 0);
  /* The visited pixels of diff_src: every stride-th row and column. */
  *visited = *diff_src_md;
  for(int i=0; i<2; i++){
    visited->dims[2+i] = visited->padded_dims[2+i] = cd[2+i];
    visited->format_desc.blocking.strides[2+i] *= g.stride[i];
  }
  if( s->wt_buf==0 && (s->wt_buf = malloc((size_t)L->param[0]->n * esz))==0 ){
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  s->wt_bf16 = dt==dnnl_bf16;
  if( (s->wt==0 && lf_dnnl_mem(&s->wt, &wt_plain, s->wt_buf, err, errlen))
   || lf_relayout_init(&s->w_compact, &wt_plain,
        lf_prim_md(&s->compact_fwd, dnnl_query_weights_md, 0), 1, err, errlen) ) return -1;
  s->compact = 1;
  return 1;
}

static int conv_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                        char *err, size_t errlen){
  conv_state *s = p;
  dnnl_exec_arg_t a[4];
  int n = 0;
  if( lf_relayout_run(&s->src_in, r->src, r->stream, err, errlen)
   || lf_relayout_run(&s->w_fwd, s->w, r->stream, err, errlen) ) return -1;
  a[n].arg = DNNL_ARG_SRC;     a[n++].memory = lf_relayout_mem(&s->src_in, r->src);
  a[n].arg = DNNL_ARG_WEIGHTS; a[n++].memory = lf_relayout_mem(&s->w_fwd, s->w);
  if( L->nparam>1 ){ a[n].arg = DNNL_ARG_BIAS; a[n++].memory = s->b; }
  a[n].arg = DNNL_ARG_DST;     a[n++].memory = r->dst;
  return lf_prim_run(&s->fwd, r->stream, n, a, L->ops->loc, err, errlen);
}

/* diff_src (or its visited pixels, compact) as the forward convolution
** fwd of diff_dst with the flipped, transposed weights (wt, through w). */
static int transposed_forward(conv_state *s, const lf_layer *L, const lf_layer_run *r,
                              const lf_relayout *w, const lf_prim *fwd, dnnl_memory_t dst,
                              char *err, size_t errlen){
  dnnl_exec_arg_t a[3];
  flip_weights(s, L, s->wt_bf16);
  if( lf_relayout_run(w, s->wt, r->stream, err, errlen) ) return -1;
  a[0].arg = DNNL_ARG_SRC;     a[0].memory = r->diff_dst;
  a[1].arg = DNNL_ARG_WEIGHTS; a[1].memory = lf_relayout_mem(w, s->wt);
  a[2].arg = DNNL_ARG_DST;     a[2].memory = dst;
  return lf_prim_run(fwd, r->stream, 3, a, L->ops->loc, err, errlen);
}

static int conv_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                         char *err, size_t errlen){
  conv_state *s = p;
  dnnl_exec_arg_t a[4];
  const lf_prim *bwd_weights = &s->bwd_weights;
  int n = 0;
  if( r->diff_src && s->compact ){
    if( transposed_forward(s, L, r, &s->w_compact, &s->compact_fwd, r->diff_src, err, errlen) ){
      return -1;
    }
  }else if( r->diff_src && s->bwd_data_fwd ){
    if( transposed_forward(s, L, r, &s->w_bwd, &s->bwd_data,
                           lf_relayout_mem(&s->diff_src_out, r->diff_src), err, errlen)
     || lf_relayout_run(&s->diff_src_out, r->diff_src, r->stream, err, errlen) ){
      return -1;
    }
  }else if( r->diff_src && s->phases ){
    if( lf_conv_phases_run(&s->ph, L->param[0]->data16, r->diff_dst,
                           lf_relayout_mem(&s->diff_src_out, r->diff_src), r->stream,
                           err, errlen)
     || lf_relayout_run(&s->diff_src_out, r->diff_src, r->stream, err, errlen) ) return -1;
  }else if( r->diff_src ){
    if( lf_relayout_run(&s->w_bwd, s->w, r->stream, err, errlen) ) return -1;
    a[0].arg = DNNL_ARG_DIFF_DST; a[0].memory = r->diff_dst;
    a[1].arg = DNNL_ARG_WEIGHTS;  a[1].memory = lf_relayout_mem(&s->w_bwd, s->w);
    a[2].arg = DNNL_ARG_DIFF_SRC;
    a[2].memory = lf_relayout_mem(&s->diff_src_out, r->diff_src);
    if( lf_prim_run(&s->bwd_data, r->stream, 3, a, L->ops->loc,
                    err, errlen)
     || lf_relayout_run(&s->diff_src_out, r->diff_src, r->stream, err, errlen) ){
      return -1;
    }
  }
  /* The forward's src, in the convolution's layout, is still in src_in. */
  dnnl_memory_t src = lf_relayout_mem(&s->src_in, r->src), ddst = r->diff_dst;
  if( s->wide ){
    /* the batch side by side (lf_conv_wide.h) */
    if( lf_conv_wide_copy(&s->wd, src, ddst, r->stream, err, errlen) ) return -1;
    src = s->wd.src;
    ddst = s->wd.ddst;
    bwd_weights = &s->wd.bwd_weights;
  }else{
    /* f32 copies (bwdw_f32) or the weight gradient's own layouts, if any. */
    if( lf_relayout_run(&s->src_w, src, r->stream, err, errlen)
     || lf_relayout_run(&s->ddst_w, ddst, r->stream, err, errlen) ) return -1;
    src = lf_relayout_mem(&s->src_w, src);
    ddst = lf_relayout_mem(&s->ddst_w, ddst);
  }
  a[n].arg = DNNL_ARG_SRC;          a[n++].memory = src;
  a[n].arg = DNNL_ARG_DIFF_DST;     a[n++].memory = ddst;
  a[n].arg = DNNL_ARG_DIFF_WEIGHTS; a[n++].memory = lf_relayout_mem(&s->gw_out, s->gw);
  if( L->nparam>1 ){ a[n].arg = DNNL_ARG_DIFF_BIAS; a[n++].memory = s->gb; }
  if( lf_prim_run(bwd_weights, r->stream, n, a, L->ops->loc,
                  err, errlen) ) return -1;
  return lf_relayout_run(&s->gw_out, s->gw, r->stream, err, errlen);
}

/* Conv with PyTorch's symmetric padding (ONNX pads: begins, then ends). */
static int conv_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                     const char **out, char *err, size_t errlen){
  conv_geom c = geom_of(L->ops, L->args);
  const char *ins[3] = { in[0], lf_onnx_param(g, L->param[0]),
                         c.bias ? lf_onnx_param(g, L->param[1]) : "" };
  int64_t k[2], s[2], d[2], p[4];
  for(int i=0; i<c.nsp; i++){
    k[i] = c.kernel[i]; s[i] = c.stride[i]; d[i] = c.dilation[i];
    p[i] = p[c.nsp + i] = c.padding[i];
  }
  lf_onnx_attr at[4] = { LF_ONNX_IS("kernel_shape", c.nsp, k), LF_ONNX_IS("strides", c.nsp, s),
                         LF_ONNX_IS("pads", 2*c.nsp, p), LF_ONNX_IS("dilations", c.nsp, d) };
  return lf_onnx_result(lf_onnx_op(g, "Conv", c.bias ? 3 : 2, ins, 4, at), out, err, errlen);
}

const lf_layer_ops lf_layer_conv2d = {
  "Conv2d", conv_infer, conv_params, conv_init, conv_build,
  conv_forward, conv_backward, conv_release, 0, conv_onnx
};

const lf_layer_ops lf_layer_conv1d = {
  "Conv1d", conv1d_infer, conv1d_params, conv_init, conv_build,
  conv_forward, conv_backward, conv_release, 0, conv_onnx
};
