/*
** layer_layernorm.c — LayerNorm(normalized_shape, eps, elementwise_affine)
** as PyTorch's nn.LayerNorm: each sample's last dims (normalized_shape,
** default the last dim) are normalised to mean 0 and variance 1 (biased
** variance, eps added), then scaled by "weight" and shifted by "bias"
** (both of normalized_shape, init 1 and 0) when elementwise_affine.
**
** It is one oneDNN layer normalization primitive on a 2-D view of the
** data: (batch * leading positions, values normalised together). That view
** needs the plain layout, so an input in a blocked layout (after a Conv2d)
** is reordered to plain first and its gradient back. Forward always keeps
** the per-row mean and variance for backward (LayerNorm does the same thing
** in training and in inference). In bf16 the data is bf16 and the scale,
** shift and statistics stay f32, as oneDNN wants.
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>

#define ARGS(L) ((const lf_layernorm_args*)(L)->args)

typedef struct layernorm_state {
  lf_prim fwd, bwd;
  lf_relayout src_in;          /* outer src -> plain */
  lf_relayout diff_out;        /* plain diff_src -> outer layout */
  dnnl_memory_t view[4];       /* 2-D views: src, dst, diff_dst, diff_src */
  dnnl_memory_t scale, shift, gscale, gshift;
  dnnl_memory_t mean, var;
  dnnl_memory_t sink;          /* diff_src nobody reads (first layer) */
  int affine;
} layernorm_state;

/* Dims normalised together: the args' normalized_shape, or the last dim. */
static int norm_ndim(const lf_layernorm_args *a){
  return a->normalized_shape.ndim > 0 ? a->normalized_shape.ndim : 1;
}

static int layernorm_infer(const void *args, const lf_shape *in, int nin,
                           lf_shape *out, char *err, size_t errlen){
  const lf_layernorm_args *a = args;
  char buf[64], want[64];
  int m = norm_ndim(a);
  (void)nin;
  if( !(a->eps > 0.0) ){
    snprintf(err, errlen, "LayerNorm needs eps > 0");
    return -1;
  }
  if( in->ndim < m ){
    snprintf(err, errlen, "LayerNorm normalized_shape %s has more dimensions than its input %s",
             lf_shape_str(&a->normalized_shape, want, sizeof want), lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  for(int i=0; a->normalized_shape.ndim > 0 && i<m; i++){
    if( in->dim[in->ndim - m + i] != a->normalized_shape.dim[i] ){
      snprintf(err, errlen, "LayerNorm normalized_shape %s must equal the last dimensions of its input %s",
               lf_shape_str(&a->normalized_shape, want, sizeof want), lf_shape_str(in, buf, sizeof buf));
      return -1;
    }
  }
  *out = *in;
  return 0;
}

static int layernorm_params(const void *args, const lf_shape *in, lf_param_decl *d){
  const lf_layernorm_args *a = args;
  int m = norm_ndim(a);
  if( !a->elementwise_affine ) return 0;
  for(int k=0; k<2; k++){
    d[k].suffix = k==0 ? "weight" : "bias";
    d[k].shape.ndim = m;
    for(int i=0; i<m; i++) d[k].shape.dim[i] = in->dim[in->ndim - m + i];
    d[k].trainable = 1;
  }
  return 2;
}

static void layernorm_init(const lf_layer *L, lf_rng *rng){
  (void)rng;
  if( L->nparam < 2 ) return;
  lf_fill_const(L->param[0]->data, L->param[0]->n, 1.0f);
  lf_fill_const(L->param[1]->data, L->param[1]->n, 0.0f);
}

static void layernorm_release(void *p){
  layernorm_state *s = p;
  dnnl_memory_t m[11];
  if( s==0 ) return;
  for(int i=0; i<4; i++) m[i] = s->view[i];
  m[4] = s->scale; m[5] = s->shift; m[6] = s->gscale; m[7] = s->gshift;
  m[8] = s->mean; m[9] = s->var; m[10] = s->sink;
  lf_prim_free(&s->fwd);
  lf_prim_free(&s->bwd);
  lf_relayout_free(&s->src_in);
  lf_relayout_free(&s->diff_out);
  for(size_t i=0; i<sizeof m / sizeof m[0]; i++) if( m[i] ) dnnl_memory_destroy(m[i]);
  free(s);
}

static int layernorm_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  layernorm_state *s = calloc(1, sizeof *s);
  const lf_layernorm_args *a = ARGS(L);
  int m = norm_ndim(a), rc;
  int64_t cols = 1, rows = b->batch;
  dnnl_data_type_t dt = b->src_md->data_type;
  dnnl_memory_desc_t plain, view, c_md, stat_md;
  dnnl_layer_normalization_desc_t d;
  unsigned flags;
  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  s->affine = a->elementwise_affine;
  flags = s->affine ? (unsigned)(dnnl_use_scale | dnnl_use_shift) : 0u;
  for(int i=0; i<L->in.ndim; i++){
    if( i >= L->in.ndim - m ) cols *= L->in.dim[i];
    else rows *= L->in.dim[i];
  }
  {
    dnnl_dims_t vd = { rows, cols };
    rc = lf_dnnl_md_dt(&plain, b->batch, &L->in, 0, dt, err, errlen)
      || lf_dnnl_check(dnnl_memory_desc_init_by_tag(&view, 2, vd, dt, dnnl_ab),
                       "LayerNorm view", err, errlen)
      || lf_dnnl_md_dims(&c_md, 1, &cols, err, errlen)
      || lf_dnnl_md_dims(&stat_md, 1, &rows, err, errlen)
      || lf_relayout_init(&s->src_in, b->src_md, &plain, 1, err, errlen);
  }
  if( rc ) goto fail;
  for(int i=0; i<4; i++){
    if( lf_dnnl_mem(&s->view[i], &view, DNNL_MEMORY_NONE, err, errlen) ) goto fail;
  }
  rc = lf_dnnl_check(dnnl_layer_normalization_forward_desc_init(&d, dnnl_forward_training,
         &view, &stat_md, (float)a->eps, flags), "LayerNorm forward descriptor", err, errlen)
    || lf_prim_create(&s->fwd, &d, 0, 0, "oneDNN layer normalization forward", err, errlen)
    || lf_dnnl_check(dnnl_layer_normalization_backward_desc_init(&d,
         s->affine ? dnnl_backward : dnnl_backward_data, &view, &view, &stat_md,
         (float)a->eps, flags), "LayerNorm backward descriptor", err, errlen)
    || lf_prim_create(&s->bwd, &d, 0, s->fwd.pd, "oneDNN layer normalization backward", err, errlen)
    || lf_dnnl_mem(&s->mean, &stat_md, DNNL_MEMORY_ALLOCATE, err, errlen)
    || lf_dnnl_mem(&s->var, &stat_md, DNNL_MEMORY_ALLOCATE, err, errlen);
  if( rc ) goto fail;
  if( s->affine ){
    rc = lf_dnnl_mem(&s->scale, &c_md, L->param[0]->data, err, errlen)
      || lf_dnnl_mem(&s->shift, &c_md, L->param[1]->data, err, errlen)
      || lf_dnnl_mem(&s->gscale, &c_md, L->param[0]->grad, err, errlen)
      || lf_dnnl_mem(&s->gshift, &c_md, L->param[1]->grad, err, errlen);
    if( rc ) goto fail;
  }
  if( b->need_diff_src ){
    if( lf_relayout_init(&s->diff_out, b->src_md, &plain, 0, err, errlen) ) goto fail;
  }else if( lf_dnnl_mem(&s->sink, &view, DNNL_MEMORY_ALLOCATE, err, errlen) ){
    goto fail;     /* oneDNN always writes diff_src: give it somewhere to go */
  }
  b->dst_md = plain;
  b->state = s;
  return 0;
fail:
  layernorm_release(s);
  return -1;
}

/* The 2-D view k over the plain buffer of m. */
static dnnl_memory_t view_of(layernorm_state *s, int k, dnnl_memory_t m){
  dnnl_memory_set_data_handle(s->view[k], lf_dnnl_ptr(m));
  return s->view[k];
}

static int layernorm_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                             char *err, size_t errlen){
  layernorm_state *s = p;
  dnnl_exec_arg_t a[6];
  int n = 0;
  if( lf_relayout_run(&s->src_in, r->src, r->stream, err, errlen) ) return -1;
  a[n].arg = DNNL_ARG_SRC; a[n++].memory = view_of(s, 0, lf_relayout_mem(&s->src_in, r->src));
  a[n].arg = DNNL_ARG_DST; a[n++].memory = view_of(s, 1, r->dst);
  a[n].arg = DNNL_ARG_MEAN; a[n++].memory = s->mean;
  a[n].arg = DNNL_ARG_VARIANCE; a[n++].memory = s->var;
  if( s->affine ){
    a[n].arg = DNNL_ARG_SCALE; a[n++].memory = s->scale;
    a[n].arg = DNNL_ARG_SHIFT; a[n++].memory = s->shift;
  }
  return lf_prim_run(&s->fwd, r->stream, n, a, L->ops->loc, err, errlen);
}

static int layernorm_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                              char *err, size_t errlen){
  layernorm_state *s = p;
  dnnl_exec_arg_t a[9];
  int n = 0;
  dnnl_memory_t diff = r->diff_src ? view_of(s, 3, lf_relayout_mem(&s->diff_out, r->diff_src))
                                   : s->sink;
  /* the plain copy of src made by forward is still there */
  a[n].arg = DNNL_ARG_SRC; a[n++].memory = view_of(s, 0, lf_relayout_mem(&s->src_in, r->src));
  a[n].arg = DNNL_ARG_MEAN; a[n++].memory = s->mean;
  a[n].arg = DNNL_ARG_VARIANCE; a[n++].memory = s->var;
  a[n].arg = DNNL_ARG_DIFF_DST; a[n++].memory = view_of(s, 2, r->diff_dst);
  a[n].arg = DNNL_ARG_DIFF_SRC; a[n++].memory = diff;
  if( s->affine ){
    a[n].arg = DNNL_ARG_SCALE; a[n++].memory = s->scale;
    a[n].arg = DNNL_ARG_SHIFT; a[n++].memory = s->shift;
    a[n].arg = DNNL_ARG_DIFF_SCALE; a[n++].memory = s->gscale;
    a[n].arg = DNNL_ARG_DIFF_SHIFT; a[n++].memory = s->gshift;
  }
  if( lf_prim_run(&s->bwd, r->stream, n, a, L->ops->loc, err, errlen) ) return -1;
  return r->diff_src ? lf_relayout_run(&s->diff_out, r->diff_src, r->stream, err, errlen) : 0;
}

/* LayerNormalization (opset 17) over the last dims; without
** elementwise_affine its scale is ones and its bias zeros. */
static int layernorm_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                          const char **out, char *err, size_t errlen){
  const lf_layernorm_args *a = ARGS(L);
  int m = norm_ndim(a);
  const char *ins[3] = { in[0], NULL, NULL };
  if( a->elementwise_affine ){
    ins[1] = lf_onnx_param(g, L->param[0]);
    ins[2] = lf_onnx_param(g, L->param[1]);
  }else{
    const int64_t *dims = L->in.dim + (L->in.ndim - m);
    int64_t count = 1;
    for(int i=0; i<m; i++) count *= dims[i];
    float *v = calloc((size_t)count + 1, sizeof(float));
    if( !v ) return lf_onnx_result(NULL, out, err, errlen);
    for(int64_t i=0; i<count; i++) v[i] = 1.0f;
    ins[1] = lf_onnx_f32(g, "layernorm_ones", m, dims, v);
    for(int64_t i=0; i<count; i++) v[i] = 0.0f;
    ins[2] = lf_onnx_f32(g, "layernorm_zeros", m, dims, v);
    free(v);
  }
  lf_onnx_attr at[2] = { LF_ONNX_I("axis", -m), LF_ONNX_F("epsilon", a->eps) };
  return lf_onnx_result(ins[1] && ins[2] ? lf_onnx_op(g, "LayerNormalization", 3, ins, 2, at) : NULL,
                        out, err, errlen);
}

const lf_layer_ops lf_layer_layernorm = {
  "LayerNorm", layernorm_infer, layernorm_params, layernorm_init,
  layernorm_build, layernorm_forward, layernorm_backward, layernorm_release, 0, layernorm_onnx
};
