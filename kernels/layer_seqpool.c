/*
** layer_seqpool.c — SeqPool(mode): a [T, C] sequence to a [C] vector over
** time, "last" (the last valid step), "mean" (over valid steps) or "max"
** (over valid steps). A Graph node may give a [T] mask as the second input
** ("in": ["h", "x_mask"]; 1 valid, 0 padding, as the sequence datasets
** make it); without one every step is valid. A sample with no valid step
** pools to zeros.
**
** Plain C loops (oneDNN's pooling has no mask), serial so results never
** depend on the thread count; f32 or bf16 activations. The mask gets no
** gradient (it is data).
*/
#include "lf_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(L) ((const lf_seqpool_args*)(L)->args)

typedef struct seqpool_state {
  int T, C, N, bf16, masked;
  int *arg;                 /* per sample and channel: the step taken (last,
                            ** max), -1 for none */
  int *count;               /* mean: valid steps per sample */
} seqpool_state;

static int seqpool_infer(const void *args, const lf_shape *in, int nin,
                         lf_shape *out, char *err, size_t errlen){
  char a[64], b[64];
  (void)args;
  if( in[0].ndim!=2 ){
    snprintf(err, errlen, "SeqPool expects a [time, channels] input, got %s", lf_shape_str(&in[0], a, sizeof a));
    return -1;
  }
  if( nin==2 && in[1].ndim==1 && in[1].dim[0]+1==in[0].dim[0] ){
    snprintf(err, errlen, "SeqPool's mask has %lld steps, one fewer than the input %s (a ClassToken before it?): "
             "give the mask the class token's step too, through a ClassToken node of its own "
             "({\"name\": \"cls_mask\", \"loc\": \"ClassToken\", \"in\": [\"x_mask\"]}), and pass that",
             (long long)in[1].dim[0], lf_shape_str(&in[0], a, sizeof a));
    return -1;
  }
  if( nin==2 && lf_shape_count(&in[1])!=in[0].dim[0] ){
    snprintf(err, errlen, "SeqPool's mask (second input) must have one value per step: input %s, mask %s",
             lf_shape_str(&in[0], a, sizeof a), lf_shape_str(&in[1], b, sizeof b));
    return -1;
  }
  memset(out, 0, sizeof *out);
  out->ndim = 1;
  out->dim[0] = in[0].dim[1];
  return 0;
}

static void seqpool_release(void *p){
  seqpool_state *s = p;
  if( !s ) return;
  free(s->arg);
  free(s->count);
  free(s);
}

static int seqpool_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  for(int k=0; k<b->nsrc; k++){
    if( !lf_dnnl_md_is_plain(b->src_mds[k]) || b->src_mds[k]->data_type!=b->src_md->data_type ){
      snprintf(err, errlen, "SeqPool needs plain inputs of one data type");
      return -1;
    }
  }
  seqpool_state *s = calloc(1, sizeof *s);
  if( !s ){ snprintf(err, errlen, "out of memory"); return -1; }
  s->T = (int)L->in.dim[0];
  s->C = (int)L->in.dim[1];
  s->N = b->batch;
  s->bf16 = b->src_md->data_type==dnnl_bf16;
  s->masked = b->nsrc==2;
  s->arg = malloc(sizeof(int) * (size_t)s->N * (size_t)s->C);
  s->count = malloc(sizeof(int) * (size_t)s->N);
  if( !s->arg || !s->count ){ seqpool_release(s); snprintf(err, errlen, "out of memory"); return -1; }
  if( lf_dnnl_md_dt(&b->dst_md, b->batch, &L->out, 0, b->src_md->data_type, err, errlen) ){
    seqpool_release(s);
    return -1;
  }
  b->state = s;
  return 0;
}

static float get(const void *p, size_t i, int bf16){
  return bf16 ? lf_bf16_to_f32(((const uint16_t*)p)[i]) : ((const float*)p)[i];
}
static void put(void *p, size_t i, float v, int bf16){
  if( bf16 ) ((uint16_t*)p)[i] = lf_bf16_from_f32(v);
  else ((float*)p)[i] = v;
}

static int valid(const seqpool_state *s, const void *mask, int n, int t){
  return !s->masked || get(mask, (size_t)n*s->T + (size_t)t, s->bf16) > 0.5f;
}

static int seqpool_forward(const lf_layer *L, void *p, const lf_layer_run *r, char *err, size_t errlen){
  seqpool_state *s = p;
  int mode = ARGS(L)->code;
  const void *x = lf_dnnl_ptr(r->src), *m = s->masked ? lf_dnnl_ptr(r->srcs[1]) : NULL;
  void *y = lf_dnnl_ptr(r->dst);
  if( lf_dnnl_check(dnnl_stream_wait(r->stream), "SeqPool", err, errlen) ) return -1;
  for(int n=0; n<s->N; n++){
    int cnt = 0, lastt = -1;
    for(int t=0; t<s->T; t++) if( valid(s, m, n, t) ){ cnt++; lastt = t; }
    s->count[n] = cnt;
    for(int c=0; c<s->C; c++){
      size_t o = (size_t)n*s->C + (size_t)c;
      float v = 0.0f;
      int at = -1;
      if( mode==LF_SEQPOOL_LAST ){
        at = lastt;
        if( at>=0 ) v = get(x, ((size_t)n*s->T + (size_t)at)*s->C + (size_t)c, s->bf16);
      }else if( mode==LF_SEQPOOL_MEAN ){
        double sum = 0;
        for(int t=0; t<s->T; t++){
          if( valid(s, m, n, t) ) sum += get(x, ((size_t)n*s->T + (size_t)t)*s->C + (size_t)c, s->bf16);
        }
        v = cnt ? (float)(sum / cnt) : 0.0f;
      }else{
        for(int t=0; t<s->T; t++){
          if( !valid(s, m, n, t) ) continue;
          float e = get(x, ((size_t)n*s->T + (size_t)t)*s->C + (size_t)c, s->bf16);
          if( at<0 || e>v ){ v = e; at = t; }
        }
      }
      s->arg[o] = at;
      put(y, o, v, s->bf16);
    }
  }
  return 0;
}

static int seqpool_backward(const lf_layer *L, void *p, const lf_layer_run *r, char *err, size_t errlen){
  seqpool_state *s = p;
  int mode = ARGS(L)->code;
  const void *m = s->masked ? lf_dnnl_ptr(r->srcs[1]) : NULL;
  const void *dy = lf_dnnl_ptr(r->diff_dst);
  size_t es = s->bf16 ? 2 : 4;
  (void)err; (void)errlen;
  if( s->masked && r->diff_srcs[1] ) memset(lf_dnnl_ptr(r->diff_srcs[1]), 0, (size_t)s->N*s->T*es);
  if( !r->diff_src ) return 0;
  void *dx = lf_dnnl_ptr(r->diff_src);
  memset(dx, 0, (size_t)s->N*s->T*s->C*es);
  for(int n=0; n<s->N; n++){
    for(int c=0; c<s->C; c++){
      size_t o = (size_t)n*s->C + (size_t)c;
      float g = get(dy, o, s->bf16);
      if( mode==LF_SEQPOOL_MEAN ){
        if( !s->count[n] ) continue;
        float share = g / (float)s->count[n];
        for(int t=0; t<s->T; t++){
          if( valid(s, m, n, t) ) put(dx, ((size_t)n*s->T + (size_t)t)*s->C + (size_t)c, share, s->bf16);
        }
      }else if( s->arg[o]>=0 ){
        put(dx, ((size_t)n*s->T + (size_t)s->arg[o])*s->C + (size_t)c, g, s->bf16);
      }
    }
  }
  return 0;
}

/* Over the valid steps (mask > 0.5; all steps without a mask): the mean,
** the max, or the last valid step; 0 for a sample without any. */
static int seqpool_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                        const char **out, char *err, size_t errlen){
  int64_t T = L->in.dim[0], C = L->in.dim[1], time_axis = 1, last = T - 1, a2 = 2;
  int code = ARGS(L)->code;
  lf_onnx_attr red[2] = { LF_ONNX_IS("axes", 1, &time_axis), LF_ONNX_I("keepdims", 0) };
  lf_onnx_attr ax1 = LF_ONNX_I("axis", 1);
  if( L->nin < 2 ){
    if( code == LF_SEQPOOL_LAST ){
      const char *gi[2] = { in[0], lf_onnx_i64(g, "last_step", 0, NULL, &last) };
      return lf_onnx_result(gi[1] ? lf_onnx_op(g, "Gather", 2, gi, 1, &ax1) : NULL, out, err, errlen);
    }
    return lf_onnx_result(lf_onnx_op(g, code == LF_SEQPOOL_MEAN ? "ReduceMean" : "ReduceMax", 1, in, 2, red),
                          out, err, errlen);
  }
  lf_onnx_attr to_f = LF_ONNX_I("to", LF_ONNX_FLOAT), to_i = LF_ONNX_I("to", LF_ONNX_INT64);
  const char *zero = lf_onnx_scalar(g, "zero", 0.0f);
  const char *valid = lf_onnx_op2(g, "Greater", in[1], lf_onnx_scalar(g, "half", 0.5f));     /* [N, T] */
  const char *vi[1] = { valid };
  const char *m = valid ? lf_onnx_op(g, "Cast", 1, vi, 1, &to_f) : NULL;
  const char *ri[1] = { m };
  lf_onnx_attr keep[2] = { LF_ONNX_IS("axes", 1, &time_axis), LF_ONNX_I("keepdims", 1) };
  const char *cnt = m ? lf_onnx_op(g, "ReduceMax", 1, ri, 2, keep) : NULL;                   /* [N, 1]: any */
  const char *any = lf_onnx_op2(g, "Greater", cnt, zero);
  const char *valid3 = lf_onnx_op2(g, "Unsqueeze", valid, lf_onnx_i64s(g, "channel_axis", 1, &a2));
  const char *y = NULL;
  if( code == LF_SEQPOOL_MEAN ){
    const char *m3 = lf_onnx_op2(g, "Unsqueeze", m, lf_onnx_i64s(g, "channel_axis", 1, &a2));
    const char *si[2] = { lf_onnx_op2(g, "Mul", in[0], m3), lf_onnx_i64s(g, "time_axis", 1, &time_axis) };
    const char *sum = si[0] && si[1] ? lf_onnx_op(g, "ReduceSum", 2, si, 1, &red[1]) : NULL;      /* [N, C] */
    const char *ci[2] = { m, si[1] };
    lf_onnx_attr kd = LF_ONNX_I("keepdims", 1);
    const char *n = m ? lf_onnx_op(g, "ReduceSum", 2, ci, 1, &kd) : NULL;                       /* [N, 1] */
    y = lf_onnx_op2(g, "Div", sum, lf_onnx_op2(g, "Max", n, lf_onnx_scalar(g, "one", 1.0f)));
  }else if( code == LF_SEQPOOL_MAX ){
    const char *wi[3] = { valid3, in[0], lf_onnx_scalar(g, "minus_inf", -INFINITY) };
    const char *xi[1] = { valid3 ? lf_onnx_op(g, "Where", 3, wi, 0, NULL) : NULL };
    y = xi[0] ? lf_onnx_op(g, "ReduceMax", 1, xi, 2, red) : NULL;
  }else{
    /* The index of the last valid step, gathered per sample. */
    float *steps = malloc(sizeof(float) * (size_t)T);
    int64_t tdim = T, tail[2] = { 1, C }, zero_i = 0, one_i = 1;
    if( !steps ) return lf_onnx_result(NULL, out, err, errlen);
    for(int64_t t=0; t<T; t++) steps[t] = (float)t;
    const char *wi[3] = { valid, lf_onnx_f32(g, "steps", 1, &tdim, steps), zero };
    free(steps);
    const char *idx = wi[1] ? lf_onnx_op(g, "Where", 3, wi, 0, NULL) : NULL;
    const char *ii[1] = { idx };
    const char *at = idx ? lf_onnx_op(g, "ReduceMax", 1, ii, 2, keep) : NULL;                   /* [N, 1] */
    const char *ai[1] = { at };
    const char *at_i = at ? lf_onnx_op(g, "Cast", 1, ai, 1, &to_i) : NULL;
    const char *at3 = lf_onnx_op2(g, "Unsqueeze", at_i, lf_onnx_i64s(g, "channel_axis", 1, &a2)); /* [N,1,1] */
    const char *sl[4] = { lf_onnx_op1(g, "Shape", in[0]), lf_onnx_i64s(g, "starts", 1, &zero_i),
                          lf_onnx_i64s(g, "ends", 1, &one_i), lf_onnx_i64s(g, "axes", 1, &zero_i) };
    const char *batch = sl[0] && sl[1] && sl[2] && sl[3] ? lf_onnx_op(g, "Slice", 4, sl, 0, NULL) : NULL;
    const char *shp[2] = { batch, lf_onnx_i64s(g, "gather_shape", 2, tail) };
    lf_onnx_attr ax0 = LF_ONNX_I("axis", 0);
    const char *full = batch && shp[1] ? lf_onnx_op(g, "Concat", 2, shp, 1, &ax0) : NULL;
    const char *gi[2] = { in[0], lf_onnx_op2(g, "Expand", at3, full) };                        /* [N,1,C] */
    const char *picked = gi[1] ? lf_onnx_op(g, "GatherElements", 2, gi, 1, &ax1) : NULL;
    int64_t flat[2] = { 0, C };
    y = lf_onnx_op2(g, "Reshape", picked, lf_onnx_i64s(g, "pooled", 2, flat));
  }
  const char *wi[3] = { any, y, zero };
  return lf_onnx_result(any && y ? lf_onnx_op(g, "Where", 3, wi, 0, NULL) : NULL, out, err, errlen);
}

const lf_layer_ops lf_layer_seqpool = {
  "SeqPool", seqpool_infer, 0, 0, seqpool_build,
  seqpool_forward, seqpool_backward, seqpool_release, LF_LAYER_INPUT_AND_MASK, seqpool_onnx
};
