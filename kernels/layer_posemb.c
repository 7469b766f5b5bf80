/*
** layer_posemb.c — PositionalEmbedding(max_len, sinusoidal): y = x + P[:T]
** on a sequence [T, E], T <= max_len.
**
** Learned (default): P is the parameter "weight" [max_len, E], initialised
** N(0, 1) as torch.nn.Embedding(max_len, E) (a model reading
** pos.weight[:T]). Sinusoidal: P is the fixed table of "Attention is all
** you need", P[t, 2i] = sin(t / 10000^(2i/E)), P[t, 2i+1] = cos(same), no
** parameter.
**
** The add is a oneDNN binary primitive broadcasting P over the batch; the
** gradient of P is ones[1, B] x dy[B, T*E] (a matmul), the input's
** gradient a copy of dy.
*/
#include "lf_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(L) ((const lf_posemb_args*)(L)->args)

typedef struct posemb_state {
  int64_t B, T, E;
  float *table;                   /* sinusoidal P[:T] (NULL: learned) */
  float *ones;                    /* B ones */
  lf_prim add, copy, grad;
  dnnl_memory_t m_p, m_ones, m_dy, m_g;
  lf_relayout dy_plain;           /* dy in plain f32 for the gradient */
} posemb_state;

static int posemb_infer(const void *args, const lf_shape *in, int nin,
                        lf_shape *out, char *err, size_t errlen){
  const lf_posemb_args *a = args;
  char buf[64];
  (void)nin;
  if( in->ndim!=2 ){
    snprintf(err, errlen, "PositionalEmbedding expects a sequence [time, embed_dim] per sample, got %s",
             lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  if( in->dim[0] > a->max_len ){
    snprintf(err, errlen, "PositionalEmbedding max_len %lld is shorter than the sequence (%lld steps); "
             "set max_len to at least %lld", (long long)a->max_len, (long long)in->dim[0],
             (long long)in->dim[0]);
    return -1;
  }
  *out = *in;
  return 0;
}

static int posemb_params(const void *args, const lf_shape *in, lf_param_decl *d){
  const lf_posemb_args *a = args;
  if( a->sinusoidal ) return 0;
  d[0].suffix = "weight";
  d[0].shape.ndim = 2;
  d[0].shape.dim[0] = a->max_len;
  d[0].shape.dim[1] = in->dim[1];
  d[0].trainable = 1;
  return 1;
}

static void posemb_init(const lf_layer *L, lf_rng *rng){
  if( L->nparam<1 ) return;
  for(int64_t i=0; i<L->param[0]->n; i++) L->param[0]->data[i] = lf_rng_normal(rng);
}

static void posemb_release(void *p){
  posemb_state *s = p;
  if( !s ) return;
  lf_prim_free(&s->add);
  lf_prim_free(&s->copy);
  lf_prim_free(&s->grad);
  dnnl_memory_t m[] = { s->m_p, s->m_ones, s->m_dy, s->m_g };
  for(size_t i=0; i<sizeof m/sizeof m[0]; i++) if( m[i] ) dnnl_memory_destroy(m[i]);
  lf_relayout_free(&s->dy_plain);
  free(s->table);
  free(s->ones);
  free(s);
}

static int posemb_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  posemb_state *s = calloc(1, sizeof *s);
  if( !s ){ snprintf(err, errlen, "out of memory"); return -1; }
  int64_t B = b->batch, T = L->in.dim[0], E = L->in.dim[1];
  int64_t dp[3] = {1, T, E}, d1B[2] = {1, B}, dBn[2] = {B, T*E}, d1n[2] = {1, T*E};
  dnnl_memory_desc_t md, plain;
  dnnl_binary_desc_t bd;
  s->B = B; s->T = T; s->E = E;
  s->ones = malloc(sizeof(float) * (size_t)B);
  if( ARGS(L)->sinusoidal ) s->table = malloc(sizeof(float) * (size_t)(T*E));
  if( !s->ones || (ARGS(L)->sinusoidal && !s->table) ){ snprintf(err, errlen, "out of memory"); goto fail; }
  lf_fill_const(s->ones, B, 1.0f);
  if( s->table ){
    for(int64_t t=0; t<T; t++){
      for(int64_t i=0; i<E; i++){
        double f = pow(10000.0, -(double)(i - i%2) / (double)E);
        s->table[t*E + i] = (float)(i%2 ? cos((double)t * f) : sin((double)t * f));
      }
    }
  }
  b->dst_md = *b->src_md;
  if( lf_dnnl_md_dims(&md, 3, dp, err, errlen)
   || lf_dnnl_mem(&s->m_p, &md, s->table ? (void*)s->table : (void*)L->param[0]->data, err, errlen)
   || lf_dnnl_check(dnnl_binary_desc_init(&bd, dnnl_binary_add, b->src_md, &md, b->src_md),
                    "PositionalEmbedding add", err, errlen)
   || lf_prim_create(&s->add, &bd, 0, 0, "oneDNN binary add", err, errlen)
   || (b->need_diff_src && lf_prim_reorder(&s->copy, b->src_md, b->src_md, err, errlen)) ) goto fail;
  if( !s->table ){
    if( lf_dnnl_md(&plain, (int)B, &L->in, 0, err, errlen)
     || lf_relayout_init(&s->dy_plain, b->src_md, &plain, 1, err, errlen)
     || lf_dnnl_md_dims(&md, 2, d1B, err, errlen)
     || lf_dnnl_mem(&s->m_ones, &md, s->ones, err, errlen)
     || lf_dnnl_md_dims(&md, 2, dBn, err, errlen)
     || lf_dnnl_mem(&s->m_dy, &md, DNNL_MEMORY_NONE, err, errlen)
     || lf_dnnl_md_dims(&md, 2, d1n, err, errlen)
     || lf_dnnl_mem(&s->m_g, &md, L->param[0]->grad, err, errlen) ) goto fail;
    dnnl_matmul_desc_t d;
    const dnnl_memory_desc_t *a0 = 0, *a1 = 0, *a2 = 0;
    dnnl_memory_get_memory_desc(s->m_ones, &a0);
    dnnl_memory_get_memory_desc(s->m_dy, &a1);
    dnnl_memory_get_memory_desc(s->m_g, &a2);
    if( lf_dnnl_check(dnnl_matmul_desc_init(&d, a0, a1, 0, a2), "PositionalEmbedding gradient", err, errlen)
     || lf_prim_create(&s->grad, &d, 0, 0, "PositionalEmbedding gradient (oneDNN matmul)", err, errlen) ) goto fail;
  }
  b->state = s;
  return 0;
fail:
  posemb_release(s);
  return -1;
}

static int posemb_forward(const lf_layer *L, void *p, const lf_layer_run *r, char *err, size_t errlen){
  posemb_state *s = p;
  dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC_0, r->src}, {DNNL_ARG_SRC_1, s->m_p}, {DNNL_ARG_DST, r->dst}};
  (void)L;
  return lf_prim_run(&s->add, r->stream, 3, a, "PositionalEmbedding", err, errlen);
}

static int posemb_backward(const lf_layer *L, void *p, const lf_layer_run *r, char *err, size_t errlen){
  posemb_state *s = p;
  if( r->diff_src ){
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, r->diff_dst}, {DNNL_ARG_TO, r->diff_src}};
    if( lf_prim_run(&s->copy, r->stream, 2, a, "PositionalEmbedding backward", err, errlen) ) return -1;
  }
  if( s->table ) return 0;
  lf_param *w = L->param[0];
  if( lf_relayout_run(&s->dy_plain, r->diff_dst, r->stream, err, errlen)
   || lf_dnnl_check(dnnl_memory_set_data_handle(s->m_dy, lf_dnnl_ptr(lf_relayout_mem(&s->dy_plain, r->diff_dst))),
                    "PositionalEmbedding", err, errlen) ) return -1;
  dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, s->m_ones}, {DNNL_ARG_WEIGHTS, s->m_dy}, {DNNL_ARG_DST, s->m_g}};
  if( lf_prim_run(&s->grad, r->stream, 3, a, "PositionalEmbedding gradient", err, errlen) ) return -1;
  /* Positions past this sequence length get no gradient. */
  memset(w->grad + s->T*s->E, 0, sizeof(float) * (size_t)(w->n - s->T*s->E));
  return 0;
}

/* x + P[:T] with P[:T] a constant: the learned table's first T rows or
** the sinusoidal table forward builds. */
static int posemb_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                       const char **out, char *err, size_t errlen){
  int64_t T = L->in.dim[0], E = L->in.dim[1], dims[2] = { T, E };
  const char *p;
  if( ARGS(L)->sinusoidal ){
    float *table = malloc(sizeof(float) * (size_t)(T*E));
    if( !table ) return lf_onnx_result(NULL, out, err, errlen);
    for(int64_t t=0; t<T; t++){
      for(int64_t i=0; i<E; i++){
        double f = pow(10000.0, -(double)(i - i%2) / (double)E);
        table[t*E + i] = (float)(i%2 ? cos((double)t * f) : sin((double)t * f));
      }
    }
    p = lf_onnx_f32(g, "positions", 2, dims, table);
    free(table);
  }else{
    p = lf_onnx_f32(g, L->param[0]->name, 2, dims, L->param[0]->data);
  }
  return lf_onnx_result(lf_onnx_op2(g, "Add", in[0], p), out, err, errlen);
}

const lf_layer_ops lf_layer_posemb = {
  "PositionalEmbedding", posemb_infer, posemb_params, posemb_init, posemb_build,
  posemb_forward, posemb_backward, posemb_release, 0, posemb_onnx
};
