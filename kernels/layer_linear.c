/*
** layer_linear.c — Linear(out, bias): y = x W^T + b on (F) vectors, as
** oneDNN inner-product primitives.
**
** The backward primitives are asked for plain (out,in) weights and weight
** gradients, the layout of the lf_param, so they use it in place (gemm:jit).
** The f32 forward picks its own weight layout (brgemm on a blocked one) and
** reorders the plain weights into it every step: gemm:jit's forward on
** plain weights is its slow case, slower than brgemm plus the reorder. In
** bf16 the same reorder (into the pair-interleaved bf16 layout) costs more
** than brgemm saves, so the bf16 forward stays on plain weights.
** All-blocked (forward, backward and gradient, with two reorders per step)
** measured slower still. The figures: docs/performance.md, "What the
** training step does", Layouts. The relayouts below do nothing when the
** layouts agree.
**
** In bf16 (b->bf16) source, destination and weights are bf16 (weights:
** lf_param.data16, plain, kept current by the optimizer, so no per-step
** conversion), bias and weight/bias gradients f32: oneDNN's gemm:jit bf16
** inner product on avx512_core_bf16.
**
** A following ReLU/LeakyReLU is applied as an eltwise post-op (fuse_act):
** one pass less over the activation in every forward.
**
** On a sequence [T, F] (as PyTorch, on the last dimension) the same
** primitives run on batch*T rows: the net's [B, T, F] buffers are seen as
** [B*T, F] through views whose data handles are set on every pass.
*/
#include "lf_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define ARGS(L) ((const lf_linear_args*)(L)->args)

typedef struct linear_state {
  lf_prim fwd, bwd_data, bwd_weights;
  dnnl_memory_t w, gw, b, gb;     /* plain views of the lf_params (w: of
                                  ** data16 in bf16) */
  lf_relayout w_fwd;              /* plain weights -> forward layout */
  lf_relayout w_bwd;              /* plain weights -> backward-data layout */
  lf_relayout gw_out;             /* weight grad layout -> plain grad */
  dnnl_memory_t rows_src, rows_dst; /* on a sequence: [B*T, .] views of the */
  dnnl_memory_t rows_dsrc, rows_ddst; /* net's buffers (NULL on a vector) */
  lf_relayout seq_in, seq_dout;   /* a blocked sequence (after Conv1d) to
                                  ** plain, and its gradient back */
} linear_state;

static int linear_infer(const void *args, const lf_shape *in, int nin,
                        lf_shape *out, char *err, size_t errlen){
  const lf_linear_args *spec = args;
  (void)nin;
  char buf[64];
  if( in->ndim!=1 && in->ndim!=2 ){
    snprintf(err, errlen, "Linear expects a vector (or a sequence [T, F]) input, got %s: "
             "add a Flatten layer before it", lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  if( spec->out<1 ){
    snprintf(err, errlen, "Linear needs out >= 1");
    return -1;
  }
  *out = *in;
  out->dim[in->ndim-1] = spec->out;
  return 0;
}

static int linear_params(const void *args, const lf_shape *in,
                         lf_param_decl *d){
  const lf_linear_args *spec = args;
  d[0].suffix = "weight";
  d[0].shape.ndim = 2;
  d[0].shape.dim[0] = spec->out;
  d[0].shape.dim[1] = in->dim[in->ndim-1];
  d[0].trainable = 1;
  if( !spec->bias ) return 1;
  d[1].suffix = "bias";
  d[1].shape.ndim = 1;
  d[1].shape.dim[0] = spec->out;
  d[1].trainable = 1;
  return 2;
}

static void linear_init(const lf_layer *L, lf_rng *rng){
  double bound = 1.0 / sqrt((double)L->in.dim[L->in.ndim-1]);
  int i;
  for(i=0; i<L->nparam; i++){
    lf_fill_uniform(L->param[i]->data, L->param[i]->n, bound, rng);
  }
}

static void linear_release(void *p){
  linear_state *s = p;
  if( s==0 ) return;
  lf_prim_free(&s->fwd);
  lf_prim_free(&s->bwd_data);
  lf_prim_free(&s->bwd_weights);
  lf_relayout_free(&s->w_fwd);
  lf_relayout_free(&s->w_bwd);
  lf_relayout_free(&s->gw_out);
  if( s->w ) dnnl_memory_destroy(s->w);
  if( s->gw ) dnnl_memory_destroy(s->gw);
  if( s->b ) dnnl_memory_destroy(s->b);
  if( s->gb ) dnnl_memory_destroy(s->gb);
  if( s->rows_src ) dnnl_memory_destroy(s->rows_src);
  if( s->rows_dst ) dnnl_memory_destroy(s->rows_dst);
  if( s->rows_dsrc ) dnnl_memory_destroy(s->rows_dsrc);
  lf_relayout_free(&s->seq_in);
  lf_relayout_free(&s->seq_dout);
  if( s->rows_ddst ) dnnl_memory_destroy(s->rows_ddst);
  free(s);
}

static int linear_build(const lf_layer *L, lf_layer_build *b,
                        char *err, size_t errlen){
  linear_state *s = calloc(1, sizeof(*s));
  dnnl_memory_desc_t w_plain, w_any, gw_plain, b_md, dst_any;
  dnnl_dims_t wdims;
  dnnl_inner_product_desc_t d;
  dnnl_primitive_attr_t attr = 0;
  const dnnl_memory_desc_t *bias = ARGS(L)->bias ? &b_md : 0;
  const dnnl_memory_desc_t *dst, *src = b->src_md;
  dnnl_memory_desc_t rows_src;
  lf_shape rows_out;
  int seq = L->in.ndim==2;
  int64_t nb = ARGS(L)->out, rows = seq ? (int64_t)b->batch * L->in.dim[0] : b->batch;
  int bf16 = b->bf16 && L->param[0]->data16
             && b->src_md->data_type==dnnl_bf16;
  dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
  int rc;

  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  wdims[0] = nb;
  wdims[1] = L->in.dim[L->in.ndim-1];
  rows_out.ndim = 1;
  rows_out.dim[0] = nb;
  if( seq ){
    /* [B, T, F] seen as [B*T, F]: the same bytes when the layout is plain. */
    int64_t rd[2] = { rows, wdims[1] };
    /* A blocked input (a Conv1d's [C, L]) is made plain first. */
    dnnl_memory_desc_t plain3;
    if( lf_dnnl_md_dt(&plain3, b->batch, &L->in, 0, b->src_md->data_type, err, errlen)
     || lf_relayout_init(&s->seq_in, b->src_md, &plain3, 1, err, errlen)
     || (b->need_diff_src && lf_relayout_init(&s->seq_dout, b->src_md, &plain3, 0, err, errlen)) ) goto fail;
    if( lf_dnnl_md_dims(&gw_plain, 2, rd, err, errlen)
     || lf_dnnl_md_retype(&rows_src, &gw_plain, b->src_md->data_type, err, errlen)
     || lf_dnnl_mem(&s->rows_src, &rows_src, DNNL_MEMORY_NONE, err, errlen)
     || (b->need_diff_src && lf_dnnl_mem(&s->rows_dsrc, &rows_src, DNNL_MEMORY_NONE, err, errlen)) ) goto fail;
    src = &rows_src;
  }
  /* An activation after this layer runs as a post-op (ReLU fused). */
  if( b->fuse_act && lf_dnnl_attr_relu(&attr, b->act_alpha, err, errlen) ){
    goto fail;
  }
  rc = lf_dnnl_md_dims(&gw_plain, 2, L->param[0]->shape.dim, err, errlen)
    || lf_dnnl_md_retype(&w_plain, &gw_plain, dt, err, errlen)
    || lf_dnnl_md_dims(&b_md, 1, &nb, err, errlen)
    || lf_dnnl_md_dt(&dst_any, (int)rows, &rows_out, 1, dt, err, errlen)
    || lf_dnnl_check(dnnl_memory_desc_init_by_tag(&w_any, 2, wdims, dt,
         bf16 ? dnnl_ab : dnnl_format_tag_any), "Linear weights descriptor",
         err, errlen)
    || lf_dnnl_check(dnnl_inner_product_forward_desc_init(&d,
         dnnl_forward_training, src, &w_any, bias, &dst_any),
         "Linear forward descriptor", err, errlen)
    || lf_prim_create(&s->fwd, &d, attr, 0, "oneDNN inner product forward",
                      err, errlen);
  if( attr ) dnnl_primitive_attr_destroy(attr);
  if( rc ) goto fail;
  b->act_fused = b->fuse_act;
  dst = lf_prim_md(&s->fwd, dnnl_query_dst_md, 0);
  b->dst_md = *dst;
  if( seq ){
    if( !lf_dnnl_md_is_plain(dst) ){
      snprintf(err, errlen, "Linear on a sequence: oneDNN chose a blocked output layout");
      goto fail;
    }
    if( lf_dnnl_md_dt(&b->dst_md, b->batch, &L->out, 0, dst->data_type, err, errlen)
     || lf_dnnl_mem(&s->rows_dst, dst, DNNL_MEMORY_NONE, err, errlen)
     || lf_dnnl_mem(&s->rows_ddst, dst, DNNL_MEMORY_NONE, err, errlen) ) goto fail;
  }

  rc = lf_dnnl_mem(&s->w, &w_plain, bf16 ? (void*)L->param[0]->data16
                                         : (void*)L->param[0]->data, err, errlen)
    || lf_dnnl_mem(&s->gw, &gw_plain, L->param[0]->grad, err, errlen)
    || lf_relayout_init(&s->w_fwd, &w_plain,
         lf_prim_md(&s->fwd, dnnl_query_weights_md, 0), 1, err, errlen);
  if( rc ) goto fail;
  if( ARGS(L)->bias ){
    rc = lf_dnnl_mem(&s->b, &b_md, L->param[1]->data, err, errlen)
      || lf_dnnl_mem(&s->gb, &b_md, L->param[1]->grad, err, errlen);
    if( rc ) goto fail;
  }

  if( b->need_diff_src ){
    rc = lf_dnnl_check(dnnl_inner_product_backward_data_desc_init(&d,
           src, &w_plain, dst), "Linear backward descriptor", err, errlen)
      || lf_prim_create(&s->bwd_data, &d, 0, s->fwd.pd,
                        "oneDNN inner product backward data", err, errlen)
      || lf_relayout_init(&s->w_bwd, &w_plain,
           lf_prim_md(&s->bwd_data, dnnl_query_weights_md, 0), 1, err, errlen);
    if( rc ) goto fail;
  }
  rc = lf_dnnl_check(dnnl_inner_product_backward_weights_desc_init(&d,
         src, &gw_plain, bias, dst), "Linear backward descriptor",
         err, errlen)
    || lf_prim_create(&s->bwd_weights, &d, 0, s->fwd.pd,
                      "oneDNN inner product backward weights", err, errlen)
    || lf_relayout_init(&s->gw_out, &gw_plain,
         lf_prim_md(&s->bwd_weights, dnnl_query_diff_weights_md, 0), 0,
         err, errlen);
  if( rc ) goto fail;
  b->state = s;
  return 0;
fail:
  linear_release(s);
  return -1;
}

/* On a sequence: the [B*T, .] view of a net buffer; else the buffer. */
static dnnl_memory_t rows_of(dnnl_memory_t view, dnnl_memory_t m){
  if( view==0 || m==0 ) return m;
  dnnl_memory_set_data_handle(view, lf_dnnl_ptr(m));
  return view;
}

static int linear_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                          char *err, size_t errlen){
  linear_state *s = p;
  dnnl_exec_arg_t a[4];
  int n = 0;
  if( lf_relayout_run(&s->w_fwd, s->w, r->stream, err, errlen)
   || lf_relayout_run(&s->seq_in, r->src, r->stream, err, errlen) ) return -1;
  a[n].arg = DNNL_ARG_SRC;     a[n++].memory = rows_of(s->rows_src, lf_relayout_mem(&s->seq_in, r->src));
  a[n].arg = DNNL_ARG_WEIGHTS; a[n++].memory = lf_relayout_mem(&s->w_fwd, s->w);
  if( ARGS(L)->bias ){ a[n].arg = DNNL_ARG_BIAS; a[n++].memory = s->b; }
  a[n].arg = DNNL_ARG_DST;     a[n++].memory = rows_of(s->rows_dst, r->dst);
  return lf_prim_run(&s->fwd, r->stream, n, a, "Linear forward", err, errlen);
}

static int linear_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                           char *err, size_t errlen){
  linear_state *s = p;
  dnnl_exec_arg_t a[4];
  int n = 0;
  dnnl_memory_t ddst = rows_of(s->rows_ddst, r->diff_dst);
  if( r->diff_src ){
    if( lf_relayout_run(&s->w_bwd, s->w, r->stream, err, errlen) ) return -1;
    a[0].arg = DNNL_ARG_DIFF_DST; a[0].memory = ddst;
    a[1].arg = DNNL_ARG_WEIGHTS;  a[1].memory = lf_relayout_mem(&s->w_bwd, s->w);
    a[2].arg = DNNL_ARG_DIFF_SRC; a[2].memory = rows_of(s->rows_dsrc, lf_relayout_mem(&s->seq_dout, r->diff_src));
    if( lf_prim_run(&s->bwd_data, r->stream, 3, a, "Linear backward data",
                    err, errlen)
     || lf_relayout_run(&s->seq_dout, r->diff_src, r->stream, err, errlen) ) return -1;
  }
  a[n].arg = DNNL_ARG_SRC;          a[n++].memory = rows_of(s->rows_src, lf_relayout_mem(&s->seq_in, r->src));
  a[n].arg = DNNL_ARG_DIFF_DST;     a[n++].memory = ddst;
  a[n].arg = DNNL_ARG_DIFF_WEIGHTS; a[n++].memory = lf_relayout_mem(&s->gw_out, s->gw);
  if( ARGS(L)->bias ){ a[n].arg = DNNL_ARG_DIFF_BIAS; a[n++].memory = s->gb; }
  if( lf_prim_run(&s->bwd_weights, r->stream, n, a, "Linear backward weights",
                  err, errlen) ) return -1;
  return lf_relayout_run(&s->gw_out, s->gw, r->stream, err, errlen);
}

/* Gemm(x, W, b) with W transposed: y = xW^T + b. */
static int linear_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                       const char **out, char *err, size_t errlen){
  const lf_linear_args *a = L->args;
  const char *ins[3] = { in[0], lf_onnx_param(g, L->param[0]),
                         a->bias ? lf_onnx_param(g, L->param[1]) : "" };
  lf_onnx_attr t = LF_ONNX_I("transB", 1);
  return lf_onnx_result(lf_onnx_op(g, "Gemm", a->bias ? 3 : 2, ins, 1, &t), out, err, errlen);
}

const lf_layer_ops lf_layer_linear = {
  "Linear", linear_infer, linear_params, linear_init, linear_build,
  linear_forward, linear_backward, linear_release, 0, linear_onnx
};
