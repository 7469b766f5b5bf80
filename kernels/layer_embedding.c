/*
** layer_embedding.c — Embedding(num_embeddings, embedding_dim,
** padding_idx) as PyTorch's nn.Embedding: each sample is a sequence of
** token ids stored as floats, shape (T) (or any shape of up to 3 dims),
** and its output the rows of "weight" (num_embeddings x embedding_dim)
** they select, shape (T, embedding_dim). An id is the float's integer part;
** one outside [0, num_embeddings) is an error naming it, as in PyTorch.
** Weights start N(0,1), the padding row (if any) at zero; the padding
** row's gradient is always zero, so it stays as it is.
**
** oneDNN has no gather primitive, so forward (gather) and backward
** (scatter-add into weight's gradient) are plain C loops, serial so the
** sums always run in the same order (exact resume). Ids are not
** differentiable: dL/dinput is zero.
**
** bf16 (b->bf16, a net computing in bf16): the ids stay f32 (bf16 holds
** integers exactly only up to 256; the net keeps the values an Embedding
** reads in f32, kernels/lf_net.c), forward copies rows of the bf16 weight
** copy (lf_param.data16, which the optimizer refreshes from the f32 master
** weights, as Linear's and Conv2d's bf16 paths read it) into a bf16
** output, and backward adds the bf16 output gradient, widened to f32, into
** the f32 weight gradient in the same order as in f32.
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(L) ((const lf_embedding_args*)(L)->args)

/* The state build leaves: &emb_bf16 if the output (and its gradient) is
** bf16, NULL if f32. Nothing is allocated. */
static char emb_bf16;
#define IS_BF16(p) ((p)==&emb_bf16)

static int embedding_infer(const void *args, const lf_shape *in, int nin,
                           lf_shape *out, char *err, size_t errlen){
  const lf_embedding_args *a = args;
  char buf[64];
  (void)nin;
  if( in->ndim < 1 || in->ndim >= LF_MAX_DIMS ){
    snprintf(err, errlen, "Embedding takes token ids of up to %d dimensions per sample, got %s",
             LF_MAX_DIMS - 1, lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  if( a->padding_idx >= a->num_embeddings ){
    snprintf(err, errlen, "Embedding padding_idx %lld must be below num_embeddings %lld",
             (long long)a->padding_idx, (long long)a->num_embeddings);
    return -1;
  }
  *out = *in;
  out->dim[out->ndim++] = a->embedding_dim;
  return 0;
}

static int embedding_params(const void *args, const lf_shape *in, lf_param_decl *d){
  const lf_embedding_args *a = args;
  (void)in;
  d[0].suffix = "weight";
  d[0].shape.ndim = 2;
  d[0].shape.dim[0] = a->num_embeddings;
  d[0].shape.dim[1] = a->embedding_dim;
  d[0].trainable = 1;
  return 1;
}

static void embedding_init(const lf_layer *L, lf_rng *rng){
  const lf_embedding_args *a = ARGS(L);
  lf_param *w = L->param[0];
  for(int64_t i=0; i<w->n; i++) w->data[i] = lf_rng_normal(rng);
  if( a->padding_idx >= 0 ){
    lf_fill_const(w->data + a->padding_idx * a->embedding_dim, a->embedding_dim, 0.0f);
  }
}

static int embedding_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  int bf16 = b->bf16 && L->param[0]->data16;
  if( !lf_dnnl_md_is_plain(b->src_md) || b->src_md->data_type != dnnl_f32 ){
    snprintf(err, errlen, "Embedding reads token ids: put it first, or after layers that keep "
             "the ids as they are (Slice, Reshape, Identity, Flatten)");
    return -1;
  }
  if( lf_dnnl_md_dt(&b->dst_md, b->batch, &L->out, 0, bf16 ? dnnl_bf16 : dnnl_f32, err, errlen) ) return -1;
  b->state = bf16 ? &emb_bf16 : NULL;
  return 0;
}

static int embedding_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                             char *err, size_t errlen){
  const lf_embedding_args *a = ARGS(L);
  const float *x = lf_dnnl_ptr(r->src);
  /* The rows come from the bf16 weight copy in bf16, else from the f32
  ** weights: esize bytes per value either way. */
  const char *w = IS_BF16(p) ? (const char*)L->param[0]->data16 : (const char*)L->param[0]->data;
  char *y = (char*)lf_dnnl_ptr(r->dst);
  size_t esize = IS_BF16(p) ? sizeof(uint16_t) : sizeof(float);
  int64_t n = (int64_t)r->batch * lf_shape_count(&L->in), dim = a->embedding_dim;
  for(int64_t i=0; i<n; i++){
    float v = x[i];
    if( !(v >= 0.0f && v < (float)a->num_embeddings) ){
      int64_t per = lf_shape_count(&L->in);
      snprintf(err, errlen, "token id %g (sample %lld, position %lld) is outside "
               "[0, %lld); raise num_embeddings or fix the data", (double)v,
               (long long)(i / per), (long long)(i % per), (long long)a->num_embeddings);
      return -1;
    }
    memcpy(y + (size_t)(i * dim) * esize, w + (size_t)((int64_t)v * dim) * esize, (size_t)dim * esize);
  }
  return 0;
}

static int embedding_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                              char *err, size_t errlen){
  const lf_embedding_args *a = ARGS(L);
  const float *x = lf_dnnl_ptr(r->src), *dy = lf_dnnl_ptr(r->diff_dst);
  const uint16_t *dy16 = (const uint16_t*)dy;
  float *g = L->param[0]->grad;
  int64_t n = (int64_t)r->batch * lf_shape_count(&L->in), dim = a->embedding_dim;
  (void)err; (void)errlen;
  memset(g, 0, (size_t)L->param[0]->n * sizeof(float));
  for(int64_t i=0; i<n; i++){
    int64_t id = (int64_t)x[i];            /* checked by forward */
    if( id == a->padding_idx ) continue;
    float *gi = g + id * dim;
    if( IS_BF16(p) ){
      const uint16_t *dyi = dy16 + i * dim;
      for(int64_t d=0; d<dim; d++) gi[d] += lf_bf16_to_f32(dyi[d]);
    }else{
      const float *dyi = dy + i * dim;
      for(int64_t d=0; d<dim; d++) gi[d] += dyi[d];
    }
  }
  if( r->diff_src ) memset(lf_dnnl_ptr(r->diff_src), 0, (size_t)n * sizeof(float));
  return 0;
}

/* Gather of the rows the ids select (Cast keeps a float id's integer
** part, as forward does; an id out of range is an error in both). */
static int embedding_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                          const char **out, char *err, size_t errlen){
  lf_onnx_attr to = LF_ONNX_I("to", LF_ONNX_INT64);
  const char *ids = lf_onnx_op(g, "Cast", 1, in, 1, &to);
  return lf_onnx_result(lf_onnx_op2(g, "Gather", lf_onnx_param(g, L->param[0]), ids), out, err, errlen);
}

const lf_layer_ops lf_layer_embedding = {
  "Embedding", embedding_infer, embedding_params, embedding_init,
  embedding_build, embedding_forward, embedding_backward, 0, 0, embedding_onnx
};
