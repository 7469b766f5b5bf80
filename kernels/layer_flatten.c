/*
** layer_flatten.c — Flatten: (C,H,W) -> (C*H*W) in PyTorch's (row-major)
** order. This is where the blocked layouts of a convolution stack end: a
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

const lf_layer_ops lf_layer_flatten = {
  "Flatten", flatten_infer, 0, 0, flatten_build, flatten_forward,
  flatten_backward, flatten_release, 0
};
