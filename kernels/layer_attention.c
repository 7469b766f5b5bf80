/*
** layer_attention.c — MultiheadAttention(embed_dim, num_heads, dropout,
** bias, causal): self-attention on a per-sample [T, E] input, as
** torch.nn.MultiheadAttention(batch_first=True) computes it for
** query = key = value = x:
**
**   [Q K V] = x W_in^T + b_in          (in_proj_weight [3E, E], in_proj_bias)
**   per head h (D = E / H): P = softmax(Q_h K_h^T / sqrt(D) + mask)
**   O_h = dropout(P) V_h;  y = concat_h(O_h) W_out^T + b_out
**
** An optional second input is a key padding mask [T] per sample (1: a
** valid step, 0: padding; what a sequence column's `<name>_mask` input
** group holds): padded keys get -1e30 added to their scores, so they get
** zero weight. causal=true masks every key after the query. A query whose
** keys are all masked attends uniformly (PyTorch gives NaN there).
**
** Everything heavy is oneDNN: the projections and the two attention
** products are matmul primitives (batched over batch*heads), the head
** split/merge are reorders with strided descriptors, the mask is a binary
** add with broadcasting, softmax and its backward are softmax primitives,
** bias gradients are products with a ones vector. The attention dropout mask
** (serial, so a resume repeats it exactly), the mask-to-bias conversion and
** the softmax backward (oneDNN 2.6's is a slow reference kernel without
** AVX-512; see softmax_backward) are C loops.
*/
#include "lf_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(L) ((const lf_mha_args*)(L)->args)
#define LF_MASKED (-1e30f)

typedef struct mha_state {
  int64_t B, T, E, H, D, N, G;    /* N = B*T rows, G = B*H attention groups */
  int has_mask, has_bias, dropout, need_dx;
  float scale;
  /* buffers (floats) */
  float *qkv, *heads, *s, *p, *pd, *drop, *o, *ocat, *maskbias;
  float *docat, *dO, *dP, *dheads, *dqkv, *ones;
  /* input relayouts: net layout -> plain f32 (and back for diff_src) */
  lf_relayout x_in, m_in, dx_out;
  /* forward */
  lf_prim in_proj, split, scores, add_mask, softmax, attend, merge, out_proj;
  dnnl_memory_t m_x, m_wT_in, m_b_in, m_qkv, m_qkv5, m_heads5;
  dnnl_memory_t m_q, m_kT, m_v, m_s, m_s4, m_bias4, m_p, m_pd, m_o, m_o4, m_ocat4;
  dnnl_memory_t m_ocat, m_wT_out, m_b_out, m_y;
  /* backward */
  lf_prim g_wout, g_bout, d_ocat, d_split, d_p, d_v, d_q, d_k, d_merge;
  lf_prim g_win, g_bin, d_x;
  dnnl_memory_t m_dyT, m_dy, m_gw_out, m_gb_out, m_w_out, m_docat, m_docat4, m_dO;
  dnnl_memory_t m_vT, m_dP, m_pdT, m_dV, m_dS, m_K, m_dQ, m_dST, m_Q, m_dK;
  dnnl_memory_t m_dheads5, m_dqkv5, m_dqkvT, m_gw_in, m_gb_in, m_dqkv, m_w_in, m_dx, m_ones;
} mha_state;

static int mha_infer(const void *args, const lf_shape *in, int nin,
                     lf_shape *out, char *err, size_t errlen){
  const lf_mha_args *a = args;
  char buf[64], buf2[64];
  if( in[0].ndim!=2 ){
    snprintf(err, errlen, "MultiheadAttention expects a sequence [time, embed_dim] per sample, got %s "
             "(a [28,28] image is 28 steps of 28 values; Reshape a vector into [T, E])",
             lf_shape_str(&in[0], buf, sizeof buf));
    return -1;
  }
  if( a->embed_dim && a->embed_dim!=in[0].dim[1] ){
    snprintf(err, errlen, "MultiheadAttention embed_dim %lld does not match the input's last dimension "
             "(input %s); set embed_dim to %lld or add a Linear before it",
             (long long)a->embed_dim, lf_shape_str(&in[0], buf, sizeof buf), (long long)in[0].dim[1]);
    return -1;
  }
  if( in[0].dim[1] % a->num_heads ){
    snprintf(err, errlen, "MultiheadAttention: embed_dim %lld is not divisible by num_heads %d",
             (long long)in[0].dim[1], a->num_heads);
    return -1;
  }
  if( !(a->dropout>=0.0 && a->dropout<1.0) ){
    snprintf(err, errlen, "MultiheadAttention dropout must be in [0, 1), got %g", a->dropout);
    return -1;
  }
  if( nin==2 && in[1].ndim==1 && in[1].dim[0]+1==in[0].dim[0] ){
    snprintf(err, errlen, "MultiheadAttention's key padding mask has %lld steps, one fewer than the sequence %s "
             "(a ClassToken before it?): give the mask the class token's step too, through a ClassToken node "
             "of its own ({\"name\": \"cls_mask\", \"loc\": \"ClassToken\", \"in\": [\"x_mask\"]}), and pass that",
             (long long)in[1].dim[0], lf_shape_str(&in[0], buf, sizeof buf));
    return -1;
  }
  if( nin==2 && !(in[1].ndim==1 && in[1].dim[0]==in[0].dim[0]) ){
    snprintf(err, errlen, "MultiheadAttention's second input is a key padding mask [%lld] "
             "(1 valid, 0 padding), got %s for a sequence %s",
             (long long)in[0].dim[0], lf_shape_str(&in[1], buf, sizeof buf),
             lf_shape_str(&in[0], buf2, sizeof buf2));
    return -1;
  }
  if( nin>2 ){
    snprintf(err, errlen, "MultiheadAttention takes a sequence and optionally its mask, got %d inputs", nin);
    return -1;
  }
  *out = in[0];
  return 0;
}

static int mha_params(const void *args, const lf_shape *in, lf_param_decl *d){
  const lf_mha_args *a = args;
  int64_t E = in[0].dim[1];
  int n = 0;
  d[n].suffix = "in_proj_weight";
  d[n].shape.ndim = 2; d[n].shape.dim[0] = 3*E; d[n].shape.dim[1] = E;
  d[n++].trainable = 1;
  if( a->bias ){
    d[n].suffix = "in_proj_bias";
    d[n].shape.ndim = 1; d[n].shape.dim[0] = 3*E;
    d[n++].trainable = 1;
  }
  d[n].suffix = "out_proj.weight";
  d[n].shape.ndim = 2; d[n].shape.dim[0] = E; d[n].shape.dim[1] = E;
  d[n++].trainable = 1;
  if( a->bias ){
    d[n].suffix = "out_proj.bias";
    d[n].shape.ndim = 1; d[n].shape.dim[0] = E;
    d[n++].trainable = 1;
  }
  return n;
}

/* PyTorch's _reset_parameters: xavier_uniform_ in_proj_weight, out_proj
** as a Linear (kaiming_uniform(a=sqrt(5)): U(+-1/sqrt(E))), biases 0. */
static void mha_init(const lf_layer *L, lf_rng *rng){
  double E = (double)L->in.dim[1];
  int bias = ARGS(L)->bias;
  lf_fill_uniform(L->param[0]->data, L->param[0]->n, sqrt(6.0 / (E + 3.0*E)), rng);
  lf_fill_uniform(L->param[bias ? 2 : 1]->data, L->param[bias ? 2 : 1]->n, 1.0 / sqrt(E), rng);
  if( bias ){
    lf_fill_const(L->param[1]->data, L->param[1]->n, 0.0f);
    lf_fill_const(L->param[3]->data, L->param[3]->n, 0.0f);
  }
}

static void mha_release(void *p){
  mha_state *s = p;
  if( s==0 ) return;
  lf_prim *prims[] = { &s->in_proj, &s->split, &s->scores, &s->add_mask, &s->softmax,
    &s->attend, &s->merge, &s->out_proj, &s->g_wout, &s->g_bout, &s->d_ocat, &s->d_split,
    &s->d_p, &s->d_v, &s->d_q, &s->d_k, &s->d_merge, &s->g_win, &s->g_bin, &s->d_x };
  for(size_t i=0; i<sizeof prims/sizeof prims[0]; i++) lf_prim_free(prims[i]);
  dnnl_memory_t mems[] = { s->m_x, s->m_wT_in, s->m_b_in, s->m_qkv, s->m_qkv5, s->m_heads5,
    s->m_q, s->m_kT, s->m_v, s->m_s, s->m_s4, s->m_bias4, s->m_p, s->m_pd, s->m_o, s->m_o4,
    s->m_ocat4, s->m_ocat, s->m_wT_out, s->m_b_out, s->m_y, s->m_dyT, s->m_dy, s->m_gw_out,
    s->m_gb_out, s->m_w_out, s->m_docat, s->m_docat4, s->m_dO, s->m_vT, s->m_dP, s->m_pdT,
    s->m_dV, s->m_dS, s->m_K, s->m_dQ, s->m_dST, s->m_Q, s->m_dK, s->m_dheads5, s->m_dqkv5,
    s->m_dqkvT, s->m_gw_in, s->m_gb_in, s->m_dqkv, s->m_w_in, s->m_dx, s->m_ones };
  for(size_t i=0; i<sizeof mems/sizeof mems[0]; i++) if( mems[i] ) dnnl_memory_destroy(mems[i]);
  lf_relayout_free(&s->x_in);
  lf_relayout_free(&s->m_in);
  lf_relayout_free(&s->dx_out);
  float *bufs[] = { s->qkv, s->heads, s->s, s->p, s->pd, s->drop, s->o, s->ocat, s->maskbias,
    s->docat, s->dO, s->dP, s->dheads, s->dqkv, s->ones };
  for(size_t i=0; i<sizeof bufs/sizeof bufs[0]; i++) free(bufs[i]);
  free(s);
}

/* A descriptor of dims with strides (NULL: dense row-major), f32. */
static int md_of(dnnl_memory_desc_t *md, int nd, const int64_t *dims,
                 const int64_t *strides, char *err, size_t errlen){
  dnnl_dims_t d, st;
  for(int i=0; i<nd; i++) d[i] = dims[i];
  if( !strides ) return lf_dnnl_md_dims(md, nd, dims, err, errlen);
  for(int i=0; i<nd; i++) st[i] = strides[i];
  return lf_dnnl_check(dnnl_memory_desc_init_by_strides(md, nd, d, dnnl_f32, st),
                       "MultiheadAttention descriptor", err, errlen);
}

/* A memory over ptr (NULL: set on every pass) with dims/strides. */
static int view(dnnl_memory_t *m, int nd, const int64_t *dims, const int64_t *strides,
                void *ptr, char *err, size_t errlen){
  dnnl_memory_desc_t md;
  return md_of(&md, nd, dims, strides, err, errlen)
      || lf_dnnl_mem(m, &md, ptr ? ptr : DNNL_MEMORY_NONE, err, errlen);
}

static const dnnl_memory_desc_t *md_mem(dnnl_memory_t m){
  const dnnl_memory_desc_t *md = 0;
  dnnl_memory_get_memory_desc(m, &md);
  return md;
}

/* C = scale * A B (+ bias) over the memories' descriptors. */
static int mm_make(lf_prim *p, dnnl_memory_t a, dnnl_memory_t b, dnnl_memory_t bias,
                   dnnl_memory_t c, float scale, const char *what, char *err, size_t errlen){
  dnnl_matmul_desc_t d;
  dnnl_primitive_attr_t attr = 0;
  int rc;
  if( lf_dnnl_check(dnnl_primitive_attr_create(&attr), what, err, errlen) ) return -1;
  rc = (scale!=1.0f && lf_dnnl_check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale),
                                     what, err, errlen))
    || lf_dnnl_check(dnnl_matmul_desc_init(&d, md_mem(a), md_mem(b), bias ? md_mem(bias) : 0,
                                           md_mem(c)), what, err, errlen)
    || lf_prim_create(p, &d, attr, 0, what, err, errlen);
  dnnl_primitive_attr_destroy(attr);
  return rc;
}

static int mm_run(const lf_prim *p, dnnl_stream_t st, dnnl_memory_t a, dnnl_memory_t b,
                  dnnl_memory_t bias, dnnl_memory_t c, const char *what, char *err, size_t errlen){
  dnnl_exec_arg_t x[4] = {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}, {DNNL_ARG_BIAS, bias}};
  return lf_prim_run(p, st, bias ? 4 : 3, x, what, err, errlen);
}

static int reorder_make(lf_prim *p, dnnl_memory_t from, dnnl_memory_t to, char *err, size_t errlen){
  return lf_prim_reorder(p, md_mem(from), md_mem(to), err, errlen);
}

static int reorder_run(const lf_prim *p, dnnl_stream_t st, dnnl_memory_t from, dnnl_memory_t to,
                       char *err, size_t errlen){
  dnnl_exec_arg_t x[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  return lf_prim_run(p, st, 2, x, "MultiheadAttention reorder", err, errlen);
}

/* Sum over rows, [rows, cols] -> [1, cols], as ones[1, rows] x src: the
** matmul kernels beat oneDNN 2.6's reference reduction by far. */
static int rowsum_make(lf_prim *p, dnnl_memory_t ones, dnnl_memory_t src, dnnl_memory_t dst,
                       char *err, size_t errlen){
  return mm_make(p, ones, src, 0, dst, 1.0f, "MultiheadAttention bias gradient", err, errlen);
}

static int rowsum_run(const lf_prim *p, dnnl_stream_t st, dnnl_memory_t ones, dnnl_memory_t src,
                      dnnl_memory_t dst, char *err, size_t errlen){
  return mm_run(p, st, ones, src, 0, dst, "MultiheadAttention bias gradient", err, errlen);
}

static float *fbuf(int64_t n){
  return aligned_alloc(64, (((size_t)(n ? n : 1) * sizeof(float)) + 63) & ~(size_t)63);
}

/* Causal part of the mask bias, for every batch row it has. */
static void causal_fill(mha_state *s, int64_t Bm){
  for(int64_t b=0; b<Bm; b++){
    float *m = s->maskbias + b*s->T*s->T;
    for(int64_t i=0; i<s->T; i++){
      for(int64_t j=0; j<s->T; j++) m[i*s->T + j] = j>i ? LF_MASKED : 0.0f;
    }
  }
}

static int mha_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  const lf_mha_args *a = ARGS(L);
  mha_state *s = calloc(1, sizeof *s);
  if( !s ){ snprintf(err, errlen, "out of memory"); return -1; }
  int64_t B = b->batch, T = L->in.dim[0], E = L->in.dim[1], H = a->num_heads, D = E / H;
  int64_t N = B*T, G = B*H, E3 = 3*E;
  s->B = B; s->T = T; s->E = E; s->H = H; s->D = D; s->N = N; s->G = G;
  s->has_mask = L->nin==2;
  s->has_bias = a->bias;
  s->dropout = a->dropout > 0;
  s->need_dx = b->need_diff_src;
  s->scale = (float)(1.0 / sqrt((double)D));
  int causal = a->causal, masked = causal || s->has_mask;
  int64_t Bm = s->has_mask ? B : 1, Tq = causal ? T : 1;
  lf_param *w_in = L->param[0], *b_in = a->bias ? L->param[1] : 0;
  lf_param *w_out = L->param[a->bias ? 2 : 1], *b_out = a->bias ? L->param[3] : 0;
  dnnl_memory_desc_t plain_x, plain_m;
  lf_shape mshape = { 1, { T } };

  s->qkv = fbuf(N*E3); s->heads = fbuf(3*N*E); s->s = fbuf(G*T*T); s->p = fbuf(G*T*T);
  s->o = fbuf(N*E); s->ocat = fbuf(N*E);
  s->docat = fbuf(N*E); s->dO = fbuf(N*E); s->dP = fbuf(G*T*T); s->dheads = fbuf(3*N*E);
  s->dqkv = fbuf(N*E3); s->ones = fbuf(N);
  if( s->dropout ){ s->pd = fbuf(G*T*T); s->drop = fbuf(G*T*T); }
  if( masked ) s->maskbias = fbuf(Bm*Tq*T);
  if( !s->qkv || !s->heads || !s->s || !s->p || !s->o || !s->ocat || !s->docat || !s->dO
   || !s->dP || !s->dheads || !s->dqkv || !s->ones || (s->dropout && (!s->pd || !s->drop))
   || (masked && !s->maskbias) ){
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  lf_fill_const(s->ones, N, 1.0f);
  if( masked ) causal ? causal_fill(s, Bm) : lf_fill_const(s->maskbias, Bm*Tq*T, 0.0f);

  /* Inputs in plain f32 (the net may hand over bf16 or another layout). */
  if( lf_dnnl_md(&plain_x, (int)B, &L->in, 0, err, errlen)
   || lf_relayout_init(&s->x_in, b->src_md, &plain_x, 1, err, errlen)
   || (s->need_dx && lf_relayout_init(&s->dx_out, b->src_md, &plain_x, 0, err, errlen)) ) goto fail;
  if( s->has_mask && (lf_dnnl_md(&plain_m, (int)B, &mshape, 0, err, errlen)
                      || lf_relayout_init(&s->m_in, b->src_mds[1], &plain_m, 1, err, errlen)) ) goto fail;

  /* ---- forward ---- */
  {
    int64_t dNE[2] = {N, E}, dEE3[2] = {E, E3}, sT1[2] = {1, E}, d1E3[2] = {1, E3};
    int64_t dNE3[2] = {N, E3};
    int64_t d5[5] = {3, B, H, T, D}, s5[5] = {E, T*E3, D, E3, 1};
    int64_t dGTD[3] = {G, T, D}, dGDT[3] = {G, D, T}, sKT[3] = {T*D, 1, D}, dGTT[3] = {G, T, T};
    int64_t d4[4] = {B, H, T, T}, db[4] = {Bm, 1, Tq, T};
    int64_t dBHTD[4] = {B, H, T, D}, sCat[4] = {T*E, D, E, 1};
    int64_t dEE[2] = {E, E}, d1E[2] = {1, E};
    float *Q = s->heads, *K = s->heads + N*E, *V = s->heads + 2*N*E;
    if( view(&s->m_x, 2, dNE, 0, 0, err, errlen)
     || view(&s->m_wT_in, 2, dEE3, sT1, w_in->data, err, errlen)
     || (b_in && view(&s->m_b_in, 2, d1E3, 0, b_in->data, err, errlen))
     || view(&s->m_qkv, 2, dNE3, 0, s->qkv, err, errlen)
     || mm_make(&s->in_proj, s->m_x, s->m_wT_in, s->m_b_in, s->m_qkv, 1.0f,
                "MultiheadAttention in_proj (oneDNN matmul)", err, errlen)
     || view(&s->m_qkv5, 5, d5, s5, s->qkv, err, errlen)
     || view(&s->m_heads5, 5, d5, 0, s->heads, err, errlen)
     || reorder_make(&s->split, s->m_qkv5, s->m_heads5, err, errlen)
     || view(&s->m_q, 3, dGTD, 0, Q, err, errlen)
     || view(&s->m_kT, 3, dGDT, sKT, K, err, errlen)
     || view(&s->m_v, 3, dGTD, 0, V, err, errlen)
     || view(&s->m_s, 3, dGTT, 0, s->s, err, errlen)
     || mm_make(&s->scores, s->m_q, s->m_kT, 0, s->m_s, s->scale,
                "MultiheadAttention scores (oneDNN matmul)", err, errlen)
     || view(&s->m_p, 3, dGTT, 0, s->p, err, errlen)
     || view(&s->m_pd, 3, dGTT, 0, 0, err, errlen)
     || view(&s->m_o, 3, dGTD, 0, s->o, err, errlen)
     || mm_make(&s->attend, s->m_pd, s->m_v, 0, s->m_o, 1.0f,
                "MultiheadAttention weights x values (oneDNN matmul)", err, errlen)
     || view(&s->m_o4, 4, dBHTD, 0, s->o, err, errlen)
     || view(&s->m_ocat4, 4, dBHTD, sCat, s->ocat, err, errlen)
     || reorder_make(&s->merge, s->m_o4, s->m_ocat4, err, errlen)
     || view(&s->m_ocat, 2, dNE, 0, s->ocat, err, errlen)
     || view(&s->m_wT_out, 2, dEE, sT1, w_out->data, err, errlen)
     || (b_out && view(&s->m_b_out, 2, d1E, 0, b_out->data, err, errlen))
     || view(&s->m_y, 2, dNE, 0, 0, err, errlen)
     || mm_make(&s->out_proj, s->m_ocat, s->m_wT_out, s->m_b_out, s->m_y, 1.0f,
                "MultiheadAttention out_proj (oneDNN matmul)", err, errlen) ) goto fail;
    {
      dnnl_softmax_desc_t sd;
      if( lf_dnnl_check(dnnl_softmax_forward_desc_init(&sd, dnnl_forward_training, md_mem(s->m_s), 2),
                        "MultiheadAttention softmax", err, errlen)
       || lf_prim_create(&s->softmax, &sd, 0, 0, "oneDNN softmax", err, errlen) ) goto fail;
    }
    if( masked ){
      dnnl_binary_desc_t bd;
      if( view(&s->m_s4, 4, d4, 0, s->s, err, errlen)
       || view(&s->m_bias4, 4, db, 0, s->maskbias, err, errlen)
       || lf_dnnl_check(dnnl_binary_desc_init(&bd, dnnl_binary_add, md_mem(s->m_s4), md_mem(s->m_bias4),
                                              md_mem(s->m_s4)), "MultiheadAttention mask", err, errlen)
       || lf_prim_create(&s->add_mask, &bd, 0, 0, "oneDNN binary add (mask)", err, errlen) ) goto fail;
    }
  }
  if( lf_dnnl_md(&b->dst_md, (int)B, &L->in, 0, err, errlen) ) goto fail;

  /* ---- backward ---- */
  {
    int64_t dNE[2] = {N, E}, dEN[2] = {E, N}, sT1[2] = {1, E}, dEE[2] = {E, E}, d1E[2] = {1, E};
    int64_t dBHTD[4] = {B, H, T, D}, sCat[4] = {T*E, D, E, 1};
    int64_t dGTD[3] = {G, T, D}, dGDT[3] = {G, D, T}, sKT[3] = {T*D, 1, D}, dGTT[3] = {G, T, T};
    int64_t sTT[3] = {T*T, 1, T};
    int64_t d5[5] = {3, B, H, T, D}, s5[5] = {E, T*E3, D, E3, 1};
    int64_t dE3N[2] = {E3, N}, sT3[2] = {1, E3}, dE3E[2] = {E3, E}, d1E3[2] = {1, E3}, dNE3[2] = {N, E3};
    int64_t d1N[2] = {1, N};
    float *Q = s->heads, *K = s->heads + N*E, *V = s->heads + 2*N*E;
    if( view(&s->m_ones, 2, d1N, 0, s->ones, err, errlen)
     || view(&s->m_dyT, 2, dEN, sT1, 0, err, errlen)
     || view(&s->m_gw_out, 2, dEE, 0, w_out->grad, err, errlen)
     || mm_make(&s->g_wout, s->m_dyT, s->m_ocat, 0, s->m_gw_out, 1.0f,
                "MultiheadAttention out_proj weight gradient", err, errlen)
     || view(&s->m_dy, 2, dNE, 0, 0, err, errlen)
     || (b_out && (view(&s->m_gb_out, 2, d1E, 0, b_out->grad, err, errlen)
                   || rowsum_make(&s->g_bout, s->m_ones, s->m_dy, s->m_gb_out, err, errlen)))
     || view(&s->m_w_out, 2, dEE, 0, w_out->data, err, errlen)
     || view(&s->m_docat, 2, dNE, 0, s->docat, err, errlen)
     || mm_make(&s->d_ocat, s->m_dy, s->m_w_out, 0, s->m_docat, 1.0f,
                "MultiheadAttention out_proj backward", err, errlen)
     || view(&s->m_docat4, 4, dBHTD, sCat, s->docat, err, errlen)
     || view(&s->m_dO, 4, dBHTD, 0, s->dO, err, errlen)
     || reorder_make(&s->d_split, s->m_docat4, s->m_dO, err, errlen) ) goto fail;
    /* 3-D views of the same buffers for the batched products. */
    dnnl_memory_destroy(s->m_dO);
    s->m_dO = 0;
    if( view(&s->m_dO, 3, dGTD, 0, s->dO, err, errlen)
     || view(&s->m_vT, 3, dGDT, sKT, V, err, errlen)
     || view(&s->m_dP, 3, dGTT, 0, s->dP, err, errlen)
     || mm_make(&s->d_p, s->m_dO, s->m_vT, 0, s->m_dP, 1.0f,
                "MultiheadAttention weights gradient", err, errlen)
     || view(&s->m_pdT, 3, dGTT, sTT, 0, err, errlen)
     || view(&s->m_dV, 3, dGTD, 0, s->dheads + 2*N*E, err, errlen)
     || mm_make(&s->d_v, s->m_pdT, s->m_dO, 0, s->m_dV, 1.0f,
                "MultiheadAttention values gradient", err, errlen)
     || view(&s->m_dS, 3, dGTT, 0, s->s, err, errlen)
     || view(&s->m_K, 3, dGTD, 0, K, err, errlen)
     || view(&s->m_dQ, 3, dGTD, 0, s->dheads, err, errlen)
     || mm_make(&s->d_q, s->m_dS, s->m_K, 0, s->m_dQ, s->scale,
                "MultiheadAttention queries gradient", err, errlen)
     || view(&s->m_dST, 3, dGTT, sTT, s->s, err, errlen)
     || view(&s->m_Q, 3, dGTD, 0, Q, err, errlen)
     || view(&s->m_dK, 3, dGTD, 0, s->dheads + N*E, err, errlen)
     || mm_make(&s->d_k, s->m_dST, s->m_Q, 0, s->m_dK, s->scale,
                "MultiheadAttention keys gradient", err, errlen)
     || view(&s->m_dheads5, 5, d5, 0, s->dheads, err, errlen)
     || view(&s->m_dqkv5, 5, d5, s5, s->dqkv, err, errlen)
     || reorder_make(&s->d_merge, s->m_dheads5, s->m_dqkv5, err, errlen)
     || view(&s->m_dqkvT, 2, dE3N, sT3, s->dqkv, err, errlen)
     || view(&s->m_gw_in, 2, dE3E, 0, w_in->grad, err, errlen)
     || mm_make(&s->g_win, s->m_dqkvT, s->m_x, 0, s->m_gw_in, 1.0f,
                "MultiheadAttention in_proj weight gradient", err, errlen)
     || view(&s->m_dqkv, 2, dNE3, 0, s->dqkv, err, errlen)
     || (b_in && (view(&s->m_gb_in, 2, d1E3, 0, b_in->grad, err, errlen)
                  || rowsum_make(&s->g_bin, s->m_ones, s->m_dqkv, s->m_gb_in, err, errlen))) ) goto fail;
    if( s->need_dx ){
      if( view(&s->m_w_in, 2, dE3E, 0, w_in->data, err, errlen)
       || view(&s->m_dx, 2, dNE, 0, 0, err, errlen)
       || mm_make(&s->d_x, s->m_dqkv, s->m_w_in, 0, s->m_dx, 1.0f,
                  "MultiheadAttention input gradient", err, errlen) ) goto fail;
    }
  }
  b->state = s;
  return 0;
fail:
  mha_release(s);
  return -1;
}

static int set(dnnl_memory_t m, void *ptr, char *err, size_t errlen){
  return lf_dnnl_check(dnnl_memory_set_data_handle(m, ptr), "MultiheadAttention buffer", err, errlen);
}

static int mha_forward(const lf_layer *L, void *p, const lf_layer_run *r, char *err, size_t errlen){
  mha_state *s = p;
  dnnl_stream_t st = r->stream;
  float *x;
  int dropped = s->dropout && r->training;
  if( lf_relayout_run(&s->x_in, r->src, st, err, errlen) ) return -1;
  x = lf_dnnl_ptr(lf_relayout_mem(&s->x_in, r->src));
  if( set(s->m_x, x, err, errlen)
   || set(s->m_y, lf_dnnl_ptr(r->dst), err, errlen)
   || set(s->m_pd, dropped ? s->pd : s->p, err, errlen)
   || mm_run(&s->in_proj, st, s->m_x, s->m_wT_in, s->m_b_in, s->m_qkv, "MultiheadAttention in_proj", err, errlen)
   || reorder_run(&s->split, st, s->m_qkv5, s->m_heads5, err, errlen)
   || mm_run(&s->scores, st, s->m_q, s->m_kT, 0, s->m_s, "MultiheadAttention scores", err, errlen) ) return -1;
  if( s->has_mask ){
    /* The mask's 0/1 steps become additive biases (plus the causal part). */
    if( lf_relayout_run(&s->m_in, r->srcs[1], st, err, errlen)
     || lf_dnnl_check(dnnl_stream_wait(st), "MultiheadAttention mask", err, errlen) ) return -1;
    const float *m = lf_dnnl_ptr(lf_relayout_mem(&s->m_in, r->srcs[1]));
    int64_t Tq = ARGS(L)->causal ? s->T : 1;
    for(int64_t b=0; b<s->B; b++){
      for(int64_t i=0; i<Tq; i++){
        float *row = s->maskbias + (b*Tq + i)*s->T;
        for(int64_t j=0; j<s->T; j++){
          row[j] = (m[b*s->T + j] < 0.5f ? LF_MASKED : 0.0f) + (Tq>1 && j>i ? LF_MASKED : 0.0f);
        }
      }
    }
  }
  if( s->add_mask.prim ){
    dnnl_exec_arg_t x3[3] = {{DNNL_ARG_SRC_0, s->m_s4}, {DNNL_ARG_SRC_1, s->m_bias4}, {DNNL_ARG_DST, s->m_s4}};
    if( lf_prim_run(&s->add_mask, st, 3, x3, "MultiheadAttention mask", err, errlen) ) return -1;
  }
  {
    dnnl_exec_arg_t x2[2] = {{DNNL_ARG_SRC, s->m_s}, {DNNL_ARG_DST, s->m_p}};
    if( lf_prim_run(&s->softmax, st, 2, x2, "MultiheadAttention softmax", err, errlen) ) return -1;
  }
  if( dropped ){
    int64_t n = s->G*s->T*s->T;
    float pdrop = (float)ARGS(L)->dropout, keep = (float)(1.0 / (1.0 - ARGS(L)->dropout));
    if( r->rng==0 ){ snprintf(err, errlen, "MultiheadAttention dropout needs a random generator in training"); return -1; }
    if( lf_dnnl_check(dnnl_stream_wait(st), "MultiheadAttention dropout", err, errlen) ) return -1;
    lf_rng_keep_mask(r->rng, s->drop, n, pdrop, keep);
    #pragma omp simd
    for(int64_t i=0; i<n; i++) s->pd[i] = s->p[i] * s->drop[i];
  }
  return mm_run(&s->attend, st, s->m_pd, s->m_v, 0, s->m_o, "MultiheadAttention weights x values", err, errlen)
      || reorder_run(&s->merge, st, s->m_o4, s->m_ocat4, err, errlen)
      || mm_run(&s->out_proj, st, s->m_ocat, s->m_wT_out, s->m_b_out, s->m_y, "MultiheadAttention out_proj", err, errlen)
      ? -1 : 0;
}

/* dS = P * (dP' - sum_j dP'_j P_j) per row of T keys, dP' = dP * drop
** (the dropout mask, when there is one). oneDNN 2.6 has a JIT softmax
** backward only for AVX-512; on AVX2 it runs the reference kernel, which
** took ~10% of a Transformer step, and the dropout mask was a pass of its
** own. Rows are independent and each sums in a fixed order (four partial
** sums), so the result does not depend on the thread count. */
static void softmax_backward(mha_state *s, int dropped){
  int64_t rows = s->G*s->T, T = s->T;
  const float *P = s->p, *M = dropped ? s->drop : 0;
  float *dP = s->dP, *dS = s->s;
  #pragma omp parallel for schedule(static)
  for(int64_t r=0; r<rows; r++){
    const float *p = P + r*T;
    float *g = dP + r*T, *o = dS + r*T;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f}, dot;
    int64_t j;
    if( M ){
      const float *m = M + r*T;
      for(j=0; j<T; j++) g[j] *= m[j];
    }
    for(j=0; j+4<=T; j+=4){
      acc[0] += g[j]*p[j]; acc[1] += g[j+1]*p[j+1];
      acc[2] += g[j+2]*p[j+2]; acc[3] += g[j+3]*p[j+3];
    }
    for(; j<T; j++) acc[0] += g[j]*p[j];
    dot = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for(j=0; j<T; j++) o[j] = p[j]*(g[j] - dot);
  }
}

static int mha_backward(const lf_layer *L, void *p, const lf_layer_run *r, char *err, size_t errlen){
  mha_state *s = p;
  dnnl_stream_t st = r->stream;
  float *dy = lf_dnnl_ptr(r->diff_dst);
  /* The forward before a backward is a training one. */
  int dropped = s->dropout;
  (void)L;
  if( set(s->m_dyT, dy, err, errlen) || set(s->m_dy, dy, err, errlen)
   || set(s->m_pdT, dropped ? s->pd : s->p, err, errlen)
   || mm_run(&s->g_wout, st, s->m_dyT, s->m_ocat, 0, s->m_gw_out, "MultiheadAttention out_proj gradient", err, errlen)
   || (s->g_bout.prim && rowsum_run(&s->g_bout, st, s->m_ones, s->m_dy, s->m_gb_out, err, errlen))
   || mm_run(&s->d_ocat, st, s->m_dy, s->m_w_out, 0, s->m_docat, "MultiheadAttention out_proj backward", err, errlen)
   || reorder_run(&s->d_split, st, s->m_docat4, s->m_dO, err, errlen)
   || mm_run(&s->d_p, st, s->m_dO, s->m_vT, 0, s->m_dP, "MultiheadAttention weights gradient", err, errlen)
   || mm_run(&s->d_v, st, s->m_pdT, s->m_dO, 0, s->m_dV, "MultiheadAttention values gradient", err, errlen) ) return -1;
  if( lf_dnnl_check(dnnl_stream_wait(st), "MultiheadAttention softmax backward", err, errlen) ) return -1;
  softmax_backward(s, dropped);
  if( mm_run(&s->d_q, st, s->m_dS, s->m_K, 0, s->m_dQ, "MultiheadAttention queries gradient", err, errlen)
   || mm_run(&s->d_k, st, s->m_dST, s->m_Q, 0, s->m_dK, "MultiheadAttention keys gradient", err, errlen)
   || reorder_run(&s->d_merge, st, s->m_dheads5, s->m_dqkv5, err, errlen)
   || mm_run(&s->g_win, st, s->m_dqkvT, s->m_x, 0, s->m_gw_in, "MultiheadAttention in_proj gradient", err, errlen)
   || (s->g_bin.prim && rowsum_run(&s->g_bin, st, s->m_ones, s->m_dqkv, s->m_gb_in, err, errlen)) ) return -1;
  if( r->diff_src && s->need_dx ){
    dnnl_memory_t dx = r->diff_src;
    float *dxp = lf_dnnl_ptr(lf_relayout_mem(&s->dx_out, dx));
    if( set(s->m_dx, dxp, err, errlen)
     || mm_run(&s->d_x, st, s->m_dqkv, s->m_w_in, 0, s->m_dx, "MultiheadAttention input gradient", err, errlen)
     || lf_relayout_run(&s->dx_out, dx, st, err, errlen) ) return -1;
  }
  /* The mask is data: no gradient flows into it. */
  if( r->nsrc>1 && r->diff_srcs[1] ){
    if( lf_dnnl_check(dnnl_stream_wait(st), "MultiheadAttention", err, errlen) ) return -1;
    memset(lf_dnnl_ptr(r->diff_srcs[1]), 0, lf_dnnl_nfloat(r->diff_srcs[1]) * sizeof(float));
  }
  return 0;
}

/* Rows r0..r0+E-1 of the [rows, E] weight w, transposed ([E, E]), as an
** initializer: x W^T becomes MatMul(x, it). */
static const char *mha_wT(lf_onnx *g, const lf_param *w, int64_t r0, int64_t E, const char *hint){
  float *t = malloc(sizeof(float) * (size_t)(E * E));
  int64_t dims[2] = { E, E };
  char name[96];
  if( !t ) return NULL;
  for(int64_t i=0; i<E; i++) for(int64_t j=0; j<E; j++) t[j*E + i] = w->data[(r0 + i)*E + j];
  snprintf(name, sizeof name, "%s.%s", w->name, hint);
  const char *r = lf_onnx_f32(g, name, 2, dims, t);
  free(t);
  return r;
}

/* x [N,T,E] -> MatMul(x, W_r^T) (+ b_r) for rows r0.. of the projection. */
static const char *mha_proj(lf_onnx *g, const lf_layer *L, const char *x, const lf_param *w,
                            const lf_param *b, int64_t r0, const char *hint){
  int64_t E = ARGS(L)->embed_dim;
  const char *y = lf_onnx_op2(g, "MatMul", x, mha_wT(g, w, r0, E, hint));
  if( b ){
    char name[96];
    snprintf(name, sizeof name, "%s.%s", b->name, hint);
    y = lf_onnx_op2(g, "Add", y, lf_onnx_f32(g, name, 1, &E, b->data + r0));
  }
  return y;
}

/* The key padding mask [N, T] as the additive bias forward builds,
** [N, 1, 1, T]: 0 for a step >= 0.5, LF_MASKED below. */
static const char *mha_mask_bias(lf_onnx *g, const char *mask){
  int64_t axes[2] = { 1, 2 };
  const char *keep = lf_onnx_op2(g, "Less", mask, lf_onnx_scalar(g, "half", 0.5f));
  const char *wi[3] = { keep, lf_onnx_scalar(g, "masked", LF_MASKED), lf_onnx_scalar(g, "zero", 0.0f) };
  const char *b = keep ? lf_onnx_op(g, "Where", 3, wi, 0, NULL) : NULL;
  return lf_onnx_op2(g, "Unsqueeze", b, lf_onnx_i64s(g, "mask_axes", 2, axes));
}

/* The definition at the top of this file, as MatMul/Softmax nodes:
** heads are [N, H, T, D] views made with Reshape and Transpose; the mask
** bias (key padding, then the causal part) is added to the scores. */
static int mha_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                    const char **out, char *err, size_t errlen){
  const lf_mha_args *a = ARGS(L);
  int64_t T = L->in.dim[0], E = a->embed_dim, H = a->num_heads, D = E / H;
  const lf_param *w_in = L->param[0], *b_in = a->bias ? L->param[1] : NULL;
  const lf_param *w_out = L->param[a->bias ? 2 : 1], *b_out = a->bias ? L->param[3] : NULL;
  int64_t split[4] = { 0, 0, H, D }, merge[3] = { 0, 0, E };
  int64_t p_q[4] = { 0, 2, 1, 3 }, p_kT[4] = { 0, 2, 3, 1 };
  lf_onnx_attr tq = LF_ONNX_IS("perm", 4, p_q), tk = LF_ONNX_IS("perm", 4, p_kT);
  lf_onnx_attr sm = LF_ONNX_I("axis", -1);
  const char *shape4 = lf_onnx_i64s(g, "mha_heads", 4, split);
  const char *q = lf_onnx_op2(g, "Reshape", mha_proj(g, L, in[0], w_in, b_in, 0, "q"), shape4);
  const char *k = lf_onnx_op2(g, "Reshape", mha_proj(g, L, in[0], w_in, b_in, E, "k"), shape4);
  const char *v = lf_onnx_op2(g, "Reshape", mha_proj(g, L, in[0], w_in, b_in, 2*E, "v"), shape4);
  const char *qi[1] = { q }, *ki[1] = { k }, *vi[1] = { v };
  q = q ? lf_onnx_op(g, "Transpose", 1, qi, 1, &tq) : NULL;
  k = k ? lf_onnx_op(g, "Transpose", 1, ki, 1, &tk) : NULL;
  v = v ? lf_onnx_op(g, "Transpose", 1, vi, 1, &tq) : NULL;
  const char *s = lf_onnx_op2(g, "Mul", lf_onnx_op2(g, "MatMul", q, k),
                              lf_onnx_scalar(g, "mha_scale", (float)(1.0 / sqrt((double)D))));
  const char *bias = L->nin > 1 ? mha_mask_bias(g, in[1]) : NULL;
  if( a->causal ){
    float *c = calloc((size_t)(T * T), sizeof(float));
    int64_t dims[2] = { T, T };
    if( !c ) return lf_onnx_result(NULL, out, err, errlen);
    for(int64_t i=0; i<T; i++) for(int64_t j=i+1; j<T; j++) c[i*T + j] = LF_MASKED;
    const char *causal = lf_onnx_f32(g, "mha_causal", 2, dims, c);
    free(c);
    bias = bias ? lf_onnx_op2(g, "Add", bias, causal) : causal;
  }
  if( bias ) s = lf_onnx_op2(g, "Add", s, bias);
  const char *si[1] = { s };
  const char *p = s ? lf_onnx_op(g, "Softmax", 1, si, 1, &sm) : NULL;
  const char *o = lf_onnx_op2(g, "MatMul", p, v);
  const char *oi[1] = { o };
  o = o ? lf_onnx_op(g, "Transpose", 1, oi, 1, &tq) : NULL;
  o = lf_onnx_op2(g, "Reshape", o, lf_onnx_i64s(g, "mha_merge", 3, merge));
  return lf_onnx_result(mha_proj(g, L, o, w_out, b_out, 0, "t"), out, err, errlen);
}

const lf_layer_ops lf_layer_mha = {
  "MultiheadAttention", mha_infer, mha_params, mha_init, mha_build,
  mha_forward, mha_backward, mha_release, LF_LAYER_INPUT_AND_MASK, mha_onnx
};
