/*
** layer_dropout.c — Dropout(p), inverted: in training each element is kept
** with probability 1-p and scaled by 1/(1-p); in inference it is the
** identity. The mask comes from the lf_rng handed to forward, so a run with
** the same seed drops the same elements.
**
** Element-wise, so it works on the physical buffer in whatever layout the
** previous layer produced (padding elements of blocked layouts are zero and
** stay zero).
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(L) ((const lf_dropout_args*)(L)->args)

typedef struct dropout_state {
  size_t n;          /* elements in the physical buffer */
  int bf16;          /* elements are bfloat16 (a net computing in bf16) */
  float *mask;       /* 0 or 1/(1-p) per element, from the last training pass */
} dropout_state;

static int dropout_infer(const void *args, const lf_shape *in, int nin,
                         lf_shape *out, char *err, size_t errlen){
  const lf_dropout_args *spec = args;
  (void)nin;
  if( !(spec->p>=0.0 && spec->p<1.0) ){
    snprintf(err, errlen, "Dropout p must be in [0, 1), got %g", spec->p);
    return -1;
  }
  *out = *in;
  return 0;
}

static void dropout_release(void *p){
  dropout_state *s = p;
  if( s==0 ) return;
  free(s->mask);
  free(s);
}

static int dropout_build(const lf_layer *L, lf_layer_build *b,
                         char *err, size_t errlen){
  dropout_state *s = calloc(1, sizeof(*s));
  (void)L;
  if( s==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  b->dst_md = *b->src_md;
  s->bf16 = b->src_md->data_type==dnnl_bf16;
  s->n = dnnl_memory_desc_get_size(b->src_md)
         / (s->bf16 ? sizeof(uint16_t) : sizeof(float));
  s->mask = malloc((s->n ? s->n : 1) * sizeof(float));
  if( s->mask==0 ){
    free(s);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  b->state = s;
  return 0;
}

static int dropout_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                           char *err, size_t errlen){
  dropout_state *s = p;
  const float *x = lf_dnnl_ptr(r->src);
  float *y = lf_dnnl_ptr(r->dst);
  float keep = (float)(1.0 / (1.0 - ARGS(L)->p));
  float pdrop = (float)ARGS(L)->p;
  size_t i;
  if( x==0 || y==0 ){
    snprintf(err, errlen, "Dropout: missing buffer");
    return -1;
  }
  /* Earlier primitives may still be running on an asynchronous stream. */
  if( lf_dnnl_check(dnnl_stream_wait(r->stream), "Dropout", err, errlen) ){
    return -1;
  }
  if( !r->training ){
    memcpy(y, x, s->n * (s->bf16 ? sizeof(uint16_t) : sizeof(float)));
    return 0;
  }
  if( r->rng==0 ){
    snprintf(err, errlen, "Dropout needs a random generator in training");
    return -1;
  }
  /* The mask draws serially from the one generator (a resume repeats
  ** it); applying it is a plain loop the compiler vectorises. */
  lf_rng_keep_mask(r->rng, s->mask, (int64_t)s->n, pdrop, keep);
  if( s->bf16 ){
    const uint16_t *x16 = (const void*)x;
    uint16_t *y16 = (void*)y;
    for(i=0; i<s->n; i++){
      y16[i] = lf_bf16_from_f32(lf_bf16_to_f32(x16[i]) * s->mask[i]);
    }
    return 0;
  }
  #pragma omp simd
  for(i=0; i<s->n; i++) y[i] = x[i] * s->mask[i];
  return 0;
}

static int dropout_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                            char *err, size_t errlen){
  dropout_state *s = p;
  const float *dy;
  float *dx;
  size_t i;
  (void)L;
  if( r->diff_src==0 ) return 0;
  dy = lf_dnnl_ptr(r->diff_dst);
  dx = lf_dnnl_ptr(r->diff_src);
  if( lf_dnnl_check(dnnl_stream_wait(r->stream), "Dropout", err, errlen) ){
    return -1;
  }
  if( s->bf16 ){
    const uint16_t *dy16 = (const void*)dy;
    uint16_t *dx16 = (void*)dx;
    for(i=0; i<s->n; i++){
      dx16[i] = lf_bf16_from_f32(lf_bf16_to_f32(dy16[i]) * s->mask[i]);
    }
    return 0;
  }
  #pragma omp simd
  for(i=0; i<s->n; i++) dx[i] = dy[i] * s->mask[i];
  return 0;
}

/* Inference: the input unchanged. */
static int dropout_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                        const char **out, char *err, size_t errlen){
  (void)L;
  return lf_onnx_result(lf_onnx_op1(g, "Identity", in[0]), out, err, errlen);
}

const lf_layer_ops lf_layer_dropout = {
  "Dropout", dropout_infer, 0, 0, dropout_build, dropout_forward,
  dropout_backward, dropout_release, 0, dropout_onnx
};
