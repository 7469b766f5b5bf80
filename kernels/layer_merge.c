/*
** layer_merge.c — the layers that join branches of a graph: Add (sum of
** 2..16 inputs, a oneDNN sum), Mul (product of two inputs, oneDNN binary
** mul) and Concat (along one per-sample axis, oneDNN concat).
**
** Inputs may come in different layouts or (bf16 nets) data types: Add and
** Mul move every input into the first one's layout, which is also their
** output's; Concat moves inputs of another data type into plain layout of
** the first one's type, and writes a plain output so that each input's
** gradient is a reorder from a sub-block of the output gradient.
**
** Add's gradient is its output's for every input: for an input in the
** output's layout the net (kernels/lf_net.c) may hand the output
** gradient's buffer itself as the input's, and backward then copies
** nothing (the residual blocks of a ResNet). An Add of two inputs is a
** oneDNN binary add; a ReLU/LeakyReLU after it (fuse_act) is its post-op,
** and the activation then works from the output in place, as after
** Conv2d.
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXIN LF_LAYER_MAX_INPUTS

typedef struct merge_state {
  int n;
  lf_relayout in[MAXIN];        /* input k -> the common layout */
  lf_prim fwd;                  /* sum / binary mul / concat; Add with a
                                ** fused activation: binary add */
  int binary;                   /* Add: fwd is a binary add */
  lf_prim back[MAXIN];          /* Add, Concat: diff_dst (part) -> diff_src k */
  dnnl_memory_t sub[MAXIN];     /* Concat: views of diff_dst's blocks */
  dnnl_memory_t tmp;            /* Mul: diff of input 1 in input 0's layout */
  lf_prim tmp_out;              /* Mul: tmp -> diff_src 1 */
} merge_state;

static void merge_release(void *p){
  merge_state *s = p;
  if( s==0 ) return;
  for(int k=0; k<MAXIN; k++){
    lf_relayout_free(&s->in[k]);
    lf_prim_free(&s->back[k]);
    if( s->sub[k] ) dnnl_memory_destroy(s->sub[k]);
  }
  lf_prim_free(&s->fwd);
  lf_prim_free(&s->tmp_out);
  if( s->tmp ) dnnl_memory_destroy(s->tmp);
  free(s);
}

static int shape_eq(const lf_shape *a, const lf_shape *b){
  if( a->ndim!=b->ndim ) return 0;
  for(int d=0; d<a->ndim; d++) if( a->dim[d]!=b->dim[d] ) return 0;
  return 1;
}

static int same_shapes(const char *loc, const lf_shape *in, int nin, lf_shape *out,
                       char *err, size_t errlen){
  char a[64], b[64];
  for(int k=1; k<nin; k++){
    if( !shape_eq(&in[k], &in[0]) ){
      snprintf(err, errlen, "%s needs inputs of one shape, got %s and %s (input %d)",
               loc, lf_shape_str(&in[0], a, sizeof a), lf_shape_str(&in[k], b, sizeof b), k+1);
      return -1;
    }
  }
  *out = in[0];
  return 0;
}

static int add_infer(const void *args, const lf_shape *in, int nin, lf_shape *out,
                     char *err, size_t errlen){
  (void)args;
  if( nin<2 ){ snprintf(err, errlen, "Add needs 2 or more inputs, got %d", nin); return -1; }
  return same_shapes("Add", in, nin, out, err, errlen);
}

static int mul_infer(const void *args, const lf_shape *in, int nin, lf_shape *out,
                     char *err, size_t errlen){
  (void)args;
  if( nin!=2 ){ snprintf(err, errlen, "Mul needs exactly 2 inputs, got %d", nin); return -1; }
  return same_shapes("Mul", in, nin, out, err, errlen);
}

/* The concat axis of a per-sample shape of ndim dims (negative from the end). */
static int concat_axis(const lf_concat_args *a, int ndim){
  int ax = a ? a->axis : 0;
  return ax<0 ? ax + ndim : ax;
}

static int concat_infer(const void *args, const lf_shape *in, int nin, lf_shape *out,
                        char *err, size_t errlen){
  char a[64], b[64];
  int ax = concat_axis(args, in[0].ndim);
  if( nin<2 ){ snprintf(err, errlen, "Concat needs 2 or more inputs, got %d", nin); return -1; }
  if( ax<0 || ax>=in[0].ndim ){
    snprintf(err, errlen, "Concat axis %d does not exist in input %s",
             args ? ((const lf_concat_args*)args)->axis : 0, lf_shape_str(&in[0], a, sizeof a));
    return -1;
  }
  *out = in[0];
  for(int k=1; k<nin; k++){
    int ok = in[k].ndim==in[0].ndim;
    for(int d=0; ok && d<in[0].ndim; d++) if( d!=ax && in[k].dim[d]!=in[0].dim[d] ) ok = 0;
    if( !ok ){
      snprintf(err, errlen, "Concat along axis %d needs inputs equal in the other dimensions, got %s and %s (input %d)",
               ax, lf_shape_str(&in[0], a, sizeof a), lf_shape_str(&in[k], b, sizeof b), k+1);
      return -1;
    }
    out->dim[ax] += in[k].dim[ax];
  }
  return 0;
}

/* Relayouts of inputs 1.. into `common` (input 0 needs none when common is
** its own layout). */
static int merge_inputs(merge_state *s, const lf_layer_build *b,
                        const dnnl_memory_desc_t *common, int from,
                        char *err, size_t errlen){
  for(int k=from; k<b->nsrc; k++){
    if( lf_relayout_init(&s->in[k], b->src_mds[k], common, 1, err, errlen) ) return -1;
  }
  return 0;
}

static int add_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  merge_state *s = calloc(1, sizeof *s);
  dnnl_memory_desc_t mds[MAXIN];
  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  s->n = b->nsrc;
  b->dst_md = *b->src_mds[0];
  if( merge_inputs(s, b, &b->dst_md, 1, err, errlen) ) goto fail;
  for(int k=0; k<s->n; k++) mds[k] = b->dst_md;
  if( L->ops==&lf_layer_add && s->n==2 ){
    /* x0 + x1 (then the activation, in the same pass): the same sums as
    ** the oneDNN sum (scales of 1) and the same activation, and oneDNN's
    ** jit binary is faster than its simple sum. */
    dnnl_binary_desc_t d;
    dnnl_primitive_attr_t attr = 0;
    int rc = (b->fuse_act && lf_dnnl_attr_relu(&attr, b->act_alpha, err, errlen))
      || lf_dnnl_check(dnnl_binary_desc_init(&d, dnnl_binary_add, &b->dst_md, &b->dst_md, &b->dst_md),
                       "binary add descriptor", err, errlen)
      || lf_prim_create(&s->fwd, &d, attr, 0, "oneDNN binary add (Add)", err, errlen);
    if( attr ) dnnl_primitive_attr_destroy(attr);
    if( rc ) goto fail;
    s->binary = 1;
    b->act_fused = b->fuse_act;
  }else if( L->ops==&lf_layer_add ){
    if( lf_prim_multi(&s->fwd, s->n, mds, &b->dst_md, -1, "oneDNN sum (Add)", err, errlen) ) goto fail;
  }
  if( L->ops==&lf_layer_add ){
    for(int k=0; k<s->n; k++){
      if( !b->need_diff[k] ) continue;
      if( lf_prim_reorder(&s->back[k], &b->dst_md, b->src_mds[k], err, errlen) ) goto fail;
    }
  }else{
    dnnl_binary_desc_t d;
    if( lf_dnnl_check(dnnl_binary_desc_init(&d, dnnl_binary_mul, &b->dst_md, &b->dst_md, &b->dst_md),
                      "binary mul descriptor", err, errlen)
     || lf_prim_create(&s->fwd, &d, 0, 0, "oneDNN binary mul", err, errlen) ) goto fail;
    if( b->need_diff[1] && s->in[1].inner ){
      if( lf_dnnl_mem(&s->tmp, &b->dst_md, DNNL_MEMORY_ALLOCATE, err, errlen)
       || lf_prim_reorder(&s->tmp_out, &b->dst_md, b->src_mds[1], err, errlen) ) goto fail;
    }
  }
  b->state = s;
  return 0;
fail:
  merge_release(s);
  return -1;
}

/* The memory through which input k is read in the common layout (its
** relayout run first). */
static dnnl_memory_t merge_src(merge_state *s, const lf_layer_run *r, int k,
                               int *rc, char *err, size_t errlen){
  if( k>0 && lf_relayout_run(&s->in[k], r->srcs[k], r->stream, err, errlen) ) *rc = -1;
  return k>0 ? lf_relayout_mem(&s->in[k], r->srcs[k]) : r->srcs[k];
}

static int add_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                       char *err, size_t errlen){
  merge_state *s = p;
  dnnl_exec_arg_t a[MAXIN+1];
  int rc = 0;
  if( L->ops==&lf_layer_add && !s->binary ){
    for(int k=0; k<s->n; k++){
      a[k].arg = DNNL_ARG_MULTIPLE_SRC + k;
      a[k].memory = merge_src(s, r, k, &rc, err, errlen);
    }
    a[s->n].arg = DNNL_ARG_DST; a[s->n].memory = r->dst;
    if( rc ) return -1;
    return lf_prim_run(&s->fwd, r->stream, s->n+1, a, "Add", err, errlen);
  }
  a[0].arg = DNNL_ARG_SRC_0; a[0].memory = r->srcs[0];
  a[1].arg = DNNL_ARG_SRC_1; a[1].memory = merge_src(s, r, 1, &rc, err, errlen);
  a[2].arg = DNNL_ARG_DST;   a[2].memory = r->dst;
  if( rc ) return -1;
  return lf_prim_run(&s->fwd, r->stream, 3, a, s->binary ? "Add" : "Mul", err, errlen);
}

static int run_mul(merge_state *s, dnnl_stream_t st, dnnl_memory_t x, dnnl_memory_t y,
                   dnnl_memory_t out, char *err, size_t errlen){
  dnnl_exec_arg_t a[3];
  a[0].arg = DNNL_ARG_SRC_0; a[0].memory = x;
  a[1].arg = DNNL_ARG_SRC_1; a[1].memory = y;
  a[2].arg = DNNL_ARG_DST;   a[2].memory = out;
  return lf_prim_run(&s->fwd, st, 3, a, "Mul backward", err, errlen);
}

static int add_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                        char *err, size_t errlen){
  merge_state *s = p;
  if( L->ops==&lf_layer_add ){
    /* d(sum)/d(input k) = 1: each input's gradient is diff_dst (a fused
    ** activation's backward has run on it already). Nothing to do where
    ** the net handed diff_dst's own buffer. */
    for(int k=0; k<s->n; k++){
      dnnl_exec_arg_t a[2];
      if( r->diff_srcs[k]==0 || lf_dnnl_ptr(r->diff_srcs[k])==lf_dnnl_ptr(r->diff_dst) ) continue;
      a[0].arg = DNNL_ARG_FROM; a[0].memory = r->diff_dst;
      a[1].arg = DNNL_ARG_TO;   a[1].memory = r->diff_srcs[k];
      if( lf_prim_run(&s->back[k], r->stream, 2, a, "Add backward", err, errlen) ) return -1;
    }
    return 0;
  }
  /* d(a*b)/da = b, d(a*b)/db = a; both read in input 0's layout (the
  ** relayout of b from forward is still there). */
  dnnl_memory_t b = lf_relayout_mem(&s->in[1], r->srcs[1]);
  if( r->diff_srcs[0] && run_mul(s, r->stream, r->diff_dst, b, r->diff_srcs[0], err, errlen) ) return -1;
  if( r->diff_srcs[1] ){
    if( s->tmp==0 ) return run_mul(s, r->stream, r->diff_dst, r->srcs[0], r->diff_srcs[1], err, errlen);
    dnnl_exec_arg_t a[2];
    if( run_mul(s, r->stream, r->diff_dst, r->srcs[0], s->tmp, err, errlen) ) return -1;
    a[0].arg = DNNL_ARG_FROM; a[0].memory = s->tmp;
    a[1].arg = DNNL_ARG_TO;   a[1].memory = r->diff_srcs[1];
    return lf_prim_run(&s->tmp_out, r->stream, 2, a, "Mul backward", err, errlen);
  }
  return 0;
}

static int concat_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  merge_state *s = calloc(1, sizeof *s);
  dnnl_memory_desc_t mds[MAXIN];
  dnnl_data_type_t dt = b->src_mds[0]->data_type;
  int ax = concat_axis(L->args, L->in.ndim) + 1;   /* batch first */
  int64_t off = 0;
  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  s->n = b->nsrc;
  if( lf_dnnl_md_dt(&b->dst_md, b->batch, &L->out, 0, dt, err, errlen) ) goto fail;
  for(int k=0; k<s->n; k++){
    mds[k] = *b->src_mds[k];
    if( k>0 && b->src_mds[k]->data_type!=dt ){
      dnnl_memory_desc_t plain;
      if( lf_dnnl_md_dt(&plain, b->batch, &L->ins[k], 0, dt, err, errlen)
       || lf_relayout_init(&s->in[k], b->src_mds[k], &plain, 1, err, errlen) ) goto fail;
      mds[k] = plain;
    }
  }
  if( lf_prim_multi(&s->fwd, s->n, mds, &b->dst_md, ax, "oneDNN concat", err, errlen) ) goto fail;
  for(int k=0; k<s->n; k++){
    dnnl_dims_t dims, offs;
    dnnl_memory_desc_t sub;
    int nd = b->dst_md.ndims;
    for(int d=0; d<nd; d++){ dims[d] = b->dst_md.dims[d]; offs[d] = 0; }
    dims[ax] = L->ins[k].dim[ax-1];
    offs[ax] = off;
    off += dims[ax];
    if( !b->need_diff[k] ) continue;
    if( lf_dnnl_check(dnnl_memory_desc_init_submemory(&sub, &b->dst_md, dims, offs),
                      "Concat sub-block", err, errlen)
     || lf_dnnl_mem(&s->sub[k], &sub, DNNL_MEMORY_NONE, err, errlen)
     || lf_prim_reorder(&s->back[k], &sub, b->src_mds[k], err, errlen) ) goto fail;
  }
  b->state = s;
  return 0;
fail:
  merge_release(s);
  return -1;
}

static int concat_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                          char *err, size_t errlen){
  merge_state *s = p;
  dnnl_exec_arg_t a[MAXIN+1];
  int rc = 0;
  (void)L;
  for(int k=0; k<s->n; k++){
    a[k].arg = DNNL_ARG_MULTIPLE_SRC + k;
    a[k].memory = merge_src(s, r, k, &rc, err, errlen);
  }
  a[s->n].arg = DNNL_ARG_DST; a[s->n].memory = r->dst;
  if( rc ) return -1;
  return lf_prim_run(&s->fwd, r->stream, s->n+1, a, "Concat", err, errlen);
}

static int concat_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                           char *err, size_t errlen){
  merge_state *s = p;
  (void)L;
  for(int k=0; k<s->n; k++){
    dnnl_exec_arg_t a[2];
    if( r->diff_srcs[k]==0 ) continue;
    if( lf_dnnl_check(dnnl_memory_set_data_handle(s->sub[k], lf_dnnl_ptr(r->diff_dst)),
                      "Concat backward", err, errlen) ) return -1;
    a[0].arg = DNNL_ARG_FROM; a[0].memory = s->sub[k];
    a[1].arg = DNNL_ARG_TO;   a[1].memory = r->diff_srcs[k];
    if( lf_prim_run(&s->back[k], r->stream, 2, a, "Concat backward", err, errlen) ) return -1;
  }
  return 0;
}

/* Add: Sum of every input; Mul: products in input order; Concat: the
** per-sample axis moved past the batch. */
static int merge_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                      const char **out, char *err, size_t errlen){
  const char *y;
  if( L->ops == &lf_layer_add ) y = lf_onnx_op(g, "Sum", L->nin, in, 0, NULL);
  else if( L->ops == &lf_layer_mul ){
    y = in[0];
    for(int k=1; k<L->nin; k++) y = lf_onnx_op2(g, "Mul", y, in[k]);
  }else{
    lf_onnx_attr ax = LF_ONNX_I("axis", concat_axis(L->args, L->in.ndim) + 1);
    y = lf_onnx_op(g, "Concat", L->nin, in, 1, &ax);
  }
  return lf_onnx_result(y, out, err, errlen);
}

const lf_layer_ops lf_layer_add = {
  "Add", add_infer, 0, 0, add_build, add_forward, add_backward, merge_release, 1, merge_onnx
};

const lf_layer_ops lf_layer_mul = {
  "Mul", mul_infer, 0, 0, add_build, add_forward, add_backward, merge_release, 1, merge_onnx
};

const lf_layer_ops lf_layer_concat = {
  "Concat", concat_infer, 0, 0, concat_build, concat_forward, concat_backward,
  merge_release, 1, merge_onnx
};
