/*
** layer_slice.c — Slice: values start .. start+length-1 of a vector input.
** A Graph reads a dataset's named input groups through it: the dataset
** gives one vector (the groups' columns in order), each group is a slice.
** Forward is a reorder from a sub-block of the input; backward zeroes the
** input gradient and writes the output gradient into the same sub-block
** (a value read by several slices gets the sum of their gradients).
** In a bf16 net the output is bf16, converted by the same reorder when the
** input is f32 (a net input that also holds token ids, kernels/lf_net.c);
** a slice of token ids is built as in f32 and keeps them f32.
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slice_state {
  lf_prim fwd, bwd;
  dnnl_memory_t sub;             /* the sub-block, over src or diff_src */
  size_t src_bytes;
} slice_state;

static int slice_infer(const void *args, const lf_shape *in, int nin,
                       lf_shape *out, char *err, size_t errlen){
  const lf_slice_args *a = args;
  char buf[64];
  (void)nin;
  if( in->ndim!=1 || a->start + a->length > in->dim[0] ){
    snprintf(err, errlen, "Slice of values %lld..%lld does not fit input %s",
             (long long)a->start, (long long)(a->start + a->length - 1),
             lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  out->ndim = 1;
  out->dim[0] = a->length;
  return 0;
}

static void slice_release(void *p){
  slice_state *s = p;
  if( s==0 ) return;
  lf_prim_free(&s->fwd);
  lf_prim_free(&s->bwd);
  if( s->sub ) dnnl_memory_destroy(s->sub);
  free(s);
}

static int slice_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  const lf_slice_args *a = L->args;
  slice_state *s = calloc(1, sizeof *s);
  dnnl_dims_t dims = { b->batch, a->length }, offs = { 0, a->start };
  dnnl_memory_desc_t sub;
  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  s->src_bytes = dnnl_memory_desc_get_size(b->src_md);
  if( lf_dnnl_md_dt(&b->dst_md, b->batch, &L->out, 0, b->bf16 ? dnnl_bf16 : b->src_md->data_type,
                    err, errlen)
   || lf_dnnl_check(dnnl_memory_desc_init_submemory(&sub, b->src_md, dims, offs),
                    "Slice sub-block", err, errlen)
   || lf_dnnl_mem(&s->sub, &sub, DNNL_MEMORY_NONE, err, errlen)
   || lf_prim_reorder(&s->fwd, &sub, &b->dst_md, err, errlen)
   || (b->need_diff_src && lf_prim_reorder(&s->bwd, &b->dst_md, &sub, err, errlen)) ){
    slice_release(s);
    return -1;
  }
  b->state = s;
  return 0;
}

static int slice_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                         char *err, size_t errlen){
  slice_state *s = p;
  dnnl_exec_arg_t a[2];
  (void)L;
  if( lf_dnnl_check(dnnl_memory_set_data_handle(s->sub, lf_dnnl_ptr(r->src)),
                    "Slice", err, errlen) ) return -1;
  a[0].arg = DNNL_ARG_FROM; a[0].memory = s->sub;
  a[1].arg = DNNL_ARG_TO;   a[1].memory = r->dst;
  return lf_prim_run(&s->fwd, r->stream, 2, a, "Slice", err, errlen);
}

static int slice_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                          char *err, size_t errlen){
  slice_state *s = p;
  dnnl_exec_arg_t a[2];
  (void)L;
  if( r->diff_src==0 ) return 0;
  memset(lf_dnnl_ptr(r->diff_src), 0, s->src_bytes);
  if( lf_dnnl_check(dnnl_memory_set_data_handle(s->sub, lf_dnnl_ptr(r->diff_src)),
                    "Slice backward", err, errlen) ) return -1;
  a[0].arg = DNNL_ARG_FROM; a[0].memory = r->diff_dst;
  a[1].arg = DNNL_ARG_TO;   a[1].memory = s->sub;
  return lf_prim_run(&s->bwd, r->stream, 2, a, "Slice backward", err, errlen);
}

static int slice_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                      const char **out, char *err, size_t errlen){
  const lf_slice_args *a = L->args;
  int64_t st = a->start, en = a->start + a->length, ax = 1;
  const char *ins[4] = { in[0], lf_onnx_i64s(g, "starts", 1, &st), lf_onnx_i64s(g, "ends", 1, &en),
                         lf_onnx_i64s(g, "axes", 1, &ax) };
  return lf_onnx_result(ins[1] && ins[2] && ins[3] ? lf_onnx_op(g, "Slice", 4, ins, 0, NULL) : NULL,
                        out, err, errlen);
}

const lf_layer_ops lf_layer_slice = {
  "Slice", slice_infer, 0, 0, slice_build, slice_forward, slice_backward,
  slice_release, 0, slice_onnx
};
