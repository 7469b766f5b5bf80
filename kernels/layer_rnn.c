/*
** layer_rnn.c — LSTM and GRU (hidden_size, num_layers, bidirectional,
** dropout between layers, output "sequence" or "last") on oneDNN's RNN
** primitives, f32 or bf16.
**
** Input per sample [T, F], batch first: the net's plain [N, T, F] buffer is
** oneDNN's "ntc" layout of the dims {T, N, F}, so it is used as it is. Each
** stacked layer is its own primitive (one layer, one or two directions,
** bidirectional_concat), because oneDNN's multi-layer primitive has no
** dropout between layers and wants every layer's input as wide as its
** output. GRU is oneDNN's lbr_gru ("linear before reset"), which is
** PyTorch's GRU: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
**
** Parameters are PyTorch's (weight_ih_l0 [G*H, F], weight_hh_l0 [G*H, H],
** bias_ih_l0, bias_hh_l0 [G*H], then _reverse, layer after layer). Every
** forward packs them into a plain f32 "ldgoi" staging buffer per layer —
** PyTorch's [G*H, I] rows, gate blocks reordered to oneDNN's order (LSTM
** i,f,g,o is oneDNN's i,f,c,o; GRU r,z,n becomes u=z,r,o=n) — and oneDNN
** reorders that into the layout (and data type) its kernels want. Biases
** fold into oneDNN's one bias per gate (LSTM: b_ih + b_hh; GRU: z and r
** summed, b_in and b_hn apart, lbr_gru's fourth bias). Backward unpacks the
** weight gradients the same way (a folded bias's gradient goes to both).
**
** Dropout between layers draws its mask from the rng handed to forward,
** in a fixed order, so training is reproducible and resumes exactly.
**
** Each stacked layer has two forward primitives: forward_training, which
** fills the workspace backward reads, and forward_inference (no
** workspace; oneDNN may keep the weights in its packed inference layout)
** for validation, ppl_evaluate and ppl_predict (training=0).
*/
#include "lf_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(L) ((const lf_rnn_args*)(L)->args)
#define RNN_MAX_LAYERS 8

/* Parameter names, [layer][direction][W_ih, W_hh, b_ih, b_hh]. */
#define RN(l) {{"weight_ih_l" #l, "weight_hh_l" #l, "bias_ih_l" #l, "bias_hh_l" #l}, \
  {"weight_ih_l" #l "_reverse", "weight_hh_l" #l "_reverse", "bias_ih_l" #l "_reverse", "bias_hh_l" #l "_reverse"}}
static const char *const rnn_names[RNN_MAX_LAYERS][2][4] = {
  RN(0), RN(1), RN(2), RN(3), RN(4), RN(5), RN(6), RN(7)
};

/* oneDNN gate k takes PyTorch gate pt[k]. */
static const int lstm_gates[4] = {0, 1, 2, 3};
static const int gru_gates[3] = {1, 0, 2};

typedef struct rnn_stack {          /* one stacked layer */
  int in;                           /* input width */
  lf_prim fwd, bwd;
  lf_prim inf;                      /* forward_inference (no workspace) */
  dnnl_memory_t src, dst, dsrc, ddst;  /* ntc views, handles set per pass */
  dnnl_memory_t ws;                 /* forward workspace, read by backward */
  dnnl_memory_t wl, wi, b;          /* staging: plain f32 ldgoi/ldgo */
  dnnl_memory_t gwl, gwi, gb;       /* their gradients, same layouts */
  lf_relayout wl_fwd, wi_fwd, wl_bwd, wi_bwd, gwl_out, gwi_out;
  lf_relayout wl_inf, wi_inf;       /* staging -> the inference weights */
  void *out;                        /* its output (if not the net's dst) */
  void *drop;                       /* out after dropout (training) */
  float *mask;                      /* dropout mask, 0 or 1/(1-p) */
  float *dout;                      /* dL/dout (layers below the top) */
} rnn_stack;

typedef struct rnn_state {
  int gru, G, Gb, D, H, T, N, nl, last, bf16;
  size_t es;                        /* bytes per activation element */
  rnn_stack st[RNN_MAX_LAYERS];
  lf_relayout x_in, dx_out;         /* input not plain: to and from plain */
  float *dtop;                      /* f32 dL/d(top output sequence), when the
                                    ** net's is not that ("last": zero but
                                    ** t=T-1; bf16: converted) */
  float *dx32;                      /* f32 dL/dinput, when the net's diff_src
                                    ** is not that (bf16, or none wanted) */
  int dropped;                      /* last training forward used dropout */
} rnn_state;

static int rnn_infer(const char *loc, const void *args, const lf_shape *in,
                     lf_shape *out, char *err, size_t errlen){
  const lf_rnn_args *a = args;
  char buf[64];
  if( in->ndim!=2 ){
    snprintf(err, errlen, "%s expects a [time, features] input per sample, got %s "
             "(an idx image [1,28,28]: add {\"loc\": \"Reshape\", \"args\": {\"shape\": [28, 28]}} before it)",
             loc, lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  if( a->hidden_size<1 || a->num_layers<1 || a->num_layers>RNN_MAX_LAYERS ){
    snprintf(err, errlen, "%s needs hidden_size >= 1 and num_layers 1 to %d", loc, RNN_MAX_LAYERS);
    return -1;
  }
  int64_t w = a->hidden_size * (a->bidirectional ? 2 : 1);
  memset(out, 0, sizeof *out);
  if( a->last ){ out->ndim = 1; out->dim[0] = w; }
  else { out->ndim = 2; out->dim[0] = in->dim[0]; out->dim[1] = w; }
  return 0;
}

static int lstm_infer(const void *args, const lf_shape *in, int nin,
                      lf_shape *out, char *err, size_t errlen){
  (void)nin;
  return rnn_infer("LSTM", args, in, out, err, errlen);
}
static int gru_infer(const void *args, const lf_shape *in, int nin,
                     lf_shape *out, char *err, size_t errlen){
  (void)nin;
  return rnn_infer("GRU", args, in, out, err, errlen);
}

/* G: gates per direction (LSTM 4, GRU 3). */
static int rnn_params(const void *args, const lf_shape *in, lf_param_decl *d, int G){
  const lf_rnn_args *a = args;
  int D = a->bidirectional ? 2 : 1, n = 0;
  int64_t H = a->hidden_size;
  for(int l=0; l<a->num_layers && l<RNN_MAX_LAYERS; l++){
    int64_t I = l==0 ? in->dim[1] : D*H;
    for(int dir=0; dir<D; dir++){
      for(int k=0; k<4; k++){
        lf_param_decl *p = &d[n++];
        memset(p, 0, sizeof *p);
        p->suffix = rnn_names[l][dir][k];
        p->trainable = 1;
        p->shape.ndim = k<2 ? 2 : 1;
        p->shape.dim[0] = G*H;
        if( k<2 ) p->shape.dim[1] = k==0 ? I : H;
      }
    }
  }
  return n;
}

static int lstm_params(const void *args, const lf_shape *in, lf_param_decl *d){
  return rnn_params(args, in, d, 4);
}
static int gru_params(const void *args, const lf_shape *in, lf_param_decl *d){
  return rnn_params(args, in, d, 3);
}

/* PyTorch: every parameter U(-1/sqrt(H), 1/sqrt(H)), in order. */
static void rnn_init(const lf_layer *L, lf_rng *rng){
  double bound = 1.0 / sqrt((double)ARGS(L)->hidden_size);
  for(int i=0; i<L->nparam; i++) lf_fill_uniform(L->param[i]->data, L->param[i]->n, bound, rng);
}

static void rnn_release(void *p){
  rnn_state *s = p;
  if( !s ) return;
  for(int l=0; l<s->nl; l++){
    rnn_stack *k = &s->st[l];
    lf_prim_free(&k->fwd);
    lf_prim_free(&k->bwd);
    lf_prim_free(&k->inf);
    dnnl_memory_t m[] = {k->src, k->dst, k->dsrc, k->ddst, k->ws, k->wl, k->wi, k->b, k->gwl, k->gwi, k->gb};
    for(size_t i=0; i<sizeof m/sizeof m[0]; i++) if( m[i] ) dnnl_memory_destroy(m[i]);
    lf_relayout_free(&k->wl_fwd); lf_relayout_free(&k->wi_fwd);
    lf_relayout_free(&k->wl_bwd); lf_relayout_free(&k->wi_bwd);
    lf_relayout_free(&k->gwl_out); lf_relayout_free(&k->gwi_out);
    lf_relayout_free(&k->wl_inf); lf_relayout_free(&k->wi_inf);
    free(k->out); free(k->drop); free(k->mask); free(k->dout);
  }
  lf_relayout_free(&s->x_in);
  lf_relayout_free(&s->dx_out);
  free(s->dtop);
  free(s->dx32);
  free(s);
}

static void *rnn_buf(size_t bytes){
  bytes = (bytes + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, bytes ? bytes : 64);
  if( p ) memset(p, 0, bytes);
  return p;
}

static int md_tag(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt,
                  dnnl_format_tag_t tag, char *err, size_t errlen){
  dnnl_dims_t d = {0};
  for(int i=0; i<nd; i++) d[i] = dims[i];
  return lf_dnnl_check(dnnl_memory_desc_init_by_tag(md, nd, d, dt, tag), "RNN memory descriptor", err, errlen);
}

/* The operation descriptors of one stacked layer: forward with prop kind
** fprop (forward_training or forward_inference) and, when bd is set,
** backward. */
static int rnn_descs(const rnn_state *s, dnnl_prop_kind_t fprop,
                     const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst,
                     const dnnl_memory_desc_t *wl, const dnnl_memory_desc_t *wi, const dnnl_memory_desc_t *b,
                     const dnnl_memory_desc_t *dwl, const dnnl_memory_desc_t *dwi,
                     const dnnl_memory_desc_t *dsrc, const dnnl_memory_desc_t *ddst,
                     dnnl_rnn_desc_t *fd, dnnl_rnn_desc_t *bd, char *err, size_t errlen){
  dnnl_rnn_direction_t dir = s->D==2 ? dnnl_bidirectional_concat : dnnl_unidirectional_left2right;
  if( s->gru ){
    return lf_dnnl_check(dnnl_lbr_gru_forward_desc_init(fd, fprop, dir, src, NULL,
             wl, wi, b, dst, NULL, 0), "GRU forward descriptor", err, errlen)
      || (bd && lf_dnnl_check(dnnl_lbr_gru_backward_desc_init(bd, dnnl_backward, dir, src, NULL,
             wl, wi, b, dst, NULL, dsrc, NULL, dwl, dwi, b, ddst, NULL, 0), "GRU backward descriptor", err, errlen));
  }
  return lf_dnnl_check(dnnl_lstm_forward_desc_init(fd, fprop, dir, src, NULL, NULL,
           wl, wi, b, dst, NULL, NULL, 0), "LSTM forward descriptor", err, errlen)
    || (bd && lf_dnnl_check(dnnl_lstm_backward_desc_init(bd, dnnl_backward, dir, src, NULL, NULL,
           wl, wi, b, dst, NULL, NULL, dsrc, NULL, NULL, dwl, dwi, b, ddst, NULL, NULL, 0),
           "LSTM backward descriptor", err, errlen));
}

static int rnn_build_stack(const lf_layer *L, rnn_state *s, int l, int need_bwd, char *err, size_t errlen){
  rnn_stack *k = &s->st[l];
  dnnl_data_type_t dt = s->bf16 ? dnnl_bf16 : dnnl_f32;
  int64_t T = s->T, N = s->N, H = s->H, D = s->D, I = k->in;
  int64_t sdims[3] = {T, N, I}, ddims[3] = {T, N, D*H};
  int64_t wldims[5] = {1, D, I, s->G, H}, widims[5] = {1, D, H, s->G, H}, bdims[4] = {1, D, s->Gb, H};
  dnnl_memory_desc_t src, dst, dsrc, ddst, wl_any, wi_any, wl_st, wi_st, b_md, dwl_any, dwi_any;
  dnnl_rnn_desc_t fd, bd;
  const char *name = s->gru ? "GRU" : "LSTM";
  char what[64];
  (void)L;
  if( md_tag(&src, 3, sdims, dt, dnnl_ntc, err, errlen)
   || md_tag(&dst, 3, ddims, dt, dnnl_ntc, err, errlen)
   || md_tag(&dsrc, 3, sdims, dnnl_f32, dnnl_ntc, err, errlen)
   || md_tag(&ddst, 3, ddims, dnnl_f32, dnnl_ntc, err, errlen)
   || md_tag(&wl_any, 5, wldims, dt, dnnl_format_tag_any, err, errlen)
   || md_tag(&wi_any, 5, widims, dt, dnnl_format_tag_any, err, errlen)
   || md_tag(&wl_st, 5, wldims, dnnl_f32, dnnl_ldgoi, err, errlen)
   || md_tag(&wi_st, 5, widims, dnnl_f32, dnnl_ldgoi, err, errlen)
   || md_tag(&b_md, 4, bdims, dnnl_f32, dnnl_ldgo, err, errlen)
   || md_tag(&dwl_any, 5, wldims, dnnl_f32, dnnl_format_tag_any, err, errlen)
   || md_tag(&dwi_any, 5, widims, dnnl_f32, dnnl_format_tag_any, err, errlen) ) return -1;
  if( rnn_descs(s, dnnl_forward_training, &src, &dst, &wl_any, &wi_any, &b_md, &dwl_any, &dwi_any, &dsrc, &ddst,
                &fd, need_bwd ? &bd : NULL, err, errlen) ){
    return -1;
  }
  snprintf(what, sizeof what, "oneDNN %s forward (%s)", name, s->bf16 ? "bf16" : "f32");
  if( lf_prim_create(&k->fwd, &fd, 0, 0, what, err, errlen) ) return -1;
  dnnl_rnn_desc_t id;
  snprintf(what, sizeof what, "oneDNN %s inference (%s)", name, s->bf16 ? "bf16" : "f32");
  if( rnn_descs(s, dnnl_forward_inference, &src, &dst, &wl_any, &wi_any, &b_md, &dwl_any, &dwi_any, &dsrc, &ddst,
                &id, NULL, err, errlen)
   || lf_prim_create(&k->inf, &id, 0, 0, what, err, errlen) ) return -1;
  const dnnl_memory_desc_t *ws = lf_prim_md(&k->fwd, dnnl_query_workspace_md, 0);
  if( lf_dnnl_mem(&k->src, &src, DNNL_MEMORY_NONE, err, errlen)
   || lf_dnnl_mem(&k->dst, &dst, DNNL_MEMORY_NONE, err, errlen)
   || (ws && dnnl_memory_desc_get_size(ws)>0 && lf_dnnl_mem(&k->ws, ws, DNNL_MEMORY_ALLOCATE, err, errlen))
   || lf_dnnl_mem(&k->wl, &wl_st, DNNL_MEMORY_ALLOCATE, err, errlen)
   || lf_dnnl_mem(&k->wi, &wi_st, DNNL_MEMORY_ALLOCATE, err, errlen)
   || lf_dnnl_mem(&k->b, &b_md, DNNL_MEMORY_ALLOCATE, err, errlen)
   || lf_relayout_init(&k->wl_fwd, &wl_st, lf_prim_md(&k->fwd, dnnl_query_weights_md, 0), 1, err, errlen)
   || lf_relayout_init(&k->wi_fwd, &wi_st, lf_prim_md(&k->fwd, dnnl_query_weights_md, 1), 1, err, errlen)
   || lf_relayout_init(&k->wl_inf, &wl_st, lf_prim_md(&k->inf, dnnl_query_weights_md, 0), 1, err, errlen)
   || lf_relayout_init(&k->wi_inf, &wi_st, lf_prim_md(&k->inf, dnnl_query_weights_md, 1), 1, err, errlen) ){
    return -1;
  }
  if( !need_bwd ) return 0;
  snprintf(what, sizeof what, "oneDNN %s backward (%s)", name, s->bf16 ? "bf16" : "f32");
  if( lf_prim_create(&k->bwd, &bd, 0, k->fwd.pd, what, err, errlen) ) return -1;
  if( lf_dnnl_mem(&k->dsrc, &dsrc, DNNL_MEMORY_NONE, err, errlen)
   || lf_dnnl_mem(&k->ddst, &ddst, DNNL_MEMORY_NONE, err, errlen)
   || lf_dnnl_mem(&k->gwl, &wl_st, DNNL_MEMORY_ALLOCATE, err, errlen)
   || lf_dnnl_mem(&k->gwi, &wi_st, DNNL_MEMORY_ALLOCATE, err, errlen)
   || lf_dnnl_mem(&k->gb, &b_md, DNNL_MEMORY_ALLOCATE, err, errlen)
   || lf_relayout_init(&k->wl_bwd, &wl_st, lf_prim_md(&k->bwd, dnnl_query_weights_md, 0), 1, err, errlen)
   || lf_relayout_init(&k->wi_bwd, &wi_st, lf_prim_md(&k->bwd, dnnl_query_weights_md, 1), 1, err, errlen)
   || lf_relayout_init(&k->gwl_out, &wl_st, lf_prim_md(&k->bwd, dnnl_query_diff_weights_md, 0), 0, err, errlen)
   || lf_relayout_init(&k->gwi_out, &wi_st, lf_prim_md(&k->bwd, dnnl_query_diff_weights_md, 1), 0, err, errlen) ){
    return -1;
  }
  return 0;
}

static int rnn_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  const lf_rnn_args *a = ARGS(L);
  rnn_state *s = calloc(1, sizeof *s);
  if( !s ){ snprintf(err, errlen, "out of memory"); return -1; }
  s->gru = L->ops==&lf_layer_gru;
  s->G = s->gru ? 3 : 4;
  s->Gb = 4;                        /* LSTM: i,f,c,o; lbr_gru: u,r,o,u' */
  s->D = a->bidirectional ? 2 : 1;
  s->H = (int)a->hidden_size;
  s->T = (int)L->in.dim[0];
  s->N = b->batch;
  s->nl = a->num_layers;
  s->last = a->last;
  s->bf16 = b->src_md->data_type==dnnl_bf16;
  s->es = s->bf16 ? 2 : 4;
  if( s->bf16 && !lf_bf16_supported() ){
    snprintf(err, errlen, "%s in bf16 needs a CPU with AVX-512 BF16; use \"precision\": \"f32\"", L->ops->loc);
    goto fail;
  }
  if( s->nl<1 || s->nl>RNN_MAX_LAYERS ){
    snprintf(err, errlen, "num_layers must be 1 to %d", RNN_MAX_LAYERS);
    goto fail;
  }
  /* The input as plain ntc (a blocked input is reordered first). */
  dnnl_memory_desc_t plain;
  if( lf_dnnl_md_dt(&plain, s->N, &L->in, 0, b->src_md->data_type, err, errlen)
   || lf_relayout_init(&s->x_in, b->src_md, &plain, 1, err, errlen) ) goto fail;
  if( b->need_diff_src && s->x_in.inner
   && lf_relayout_init(&s->dx_out, b->src_md, &plain, 0, err, errlen) ) goto fail;
  size_t seq = (size_t)s->N * s->T * s->D * s->H * s->es;
  size_t seq32 = (size_t)s->N * s->T * s->D * s->H * sizeof(float);
  for(int l=0; l<s->nl; l++){
    rnn_stack *k = &s->st[l];
    k->in = l==0 ? (int)L->in.dim[1] : s->D * s->H;
    if( rnn_build_stack(L, s, l, 1, err, errlen) ) goto fail;
    int top = l==s->nl-1;
    if( !top || s->last ){
      k->out = rnn_buf(seq);
      if( !k->out ) goto oom;
    }
    if( !top ){
      k->dout = rnn_buf(seq32);
      if( !k->dout ) goto oom;
      if( a->dropout > 0 ){
        k->drop = rnn_buf(seq);
        k->mask = rnn_buf((size_t)s->N * s->T * s->D * s->H * sizeof(float));
        if( !k->drop || !k->mask ) goto oom;
      }
    }
  }
  /* oneDNN's bf16 RNN backward takes and gives f32 gradients: the
  ** net's bf16 ones are converted at the edges. */
  if( s->last || s->bf16 ){
    s->dtop = rnn_buf(seq32);
    if( !s->dtop ) goto oom;
  }
  if( !b->need_diff_src || s->bf16 ){
    s->dx32 = rnn_buf((size_t)s->N * s->T * L->in.dim[1] * sizeof(float));
    if( !s->dx32 ) goto oom;
  }
  if( lf_dnnl_md_dt(&b->dst_md, s->N, &L->out, 0, b->src_md->data_type, err, errlen) ) goto fail;
  b->state = s;
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
fail:
  rnn_release(s);
  return -1;
}

/* PyTorch's parameters of layer l -> the staging buffers. */
static void rnn_pack(const lf_layer *L, const rnn_state *s, int l){
  const rnn_stack *k = &s->st[l];
  const int *pt = s->gru ? gru_gates : lstm_gates;
  int64_t H = s->H, I = k->in;
  float *wl = lf_dnnl_ptr(k->wl), *wi = lf_dnnl_ptr(k->wi), *b = lf_dnnl_ptr(k->b);
  for(int d=0; d<s->D; d++){
    const lf_param *const *p = (const lf_param *const *)&L->param[(l*s->D + d)*4];
    const float *bih = p[2]->data, *bhh = p[3]->data;
    for(int g=0; g<s->G; g++){
      memcpy(wl + ((int64_t)d*s->G + g)*H*I, p[0]->data + pt[g]*H*I, sizeof(float)*(size_t)(H*I));
      memcpy(wi + ((int64_t)d*s->G + g)*H*H, p[1]->data + pt[g]*H*H, sizeof(float)*(size_t)(H*H));
    }
    float *bd = b + (int64_t)d*s->Gb*H;
    for(int64_t o=0; o<H; o++){
      if( !s->gru ){
        for(int g=0; g<4; g++) bd[g*H + o] = bih[g*H + o] + bhh[g*H + o];
      }else{
        bd[0*H + o] = bih[1*H + o] + bhh[1*H + o];   /* u = z */
        bd[1*H + o] = bih[0*H + o] + bhh[0*H + o];   /* r */
        bd[2*H + o] = bih[2*H + o];                  /* o = n, input part */
        bd[3*H + o] = bhh[2*H + o];                  /* n, hidden part */
      }
    }
  }
}

/* The staging gradients of layer l -> PyTorch's parameters' grads. */
static void rnn_unpack(const lf_layer *L, const rnn_state *s, int l){
  const rnn_stack *k = &s->st[l];
  const int *pt = s->gru ? gru_gates : lstm_gates;
  int64_t H = s->H, I = k->in;
  const float *wl = lf_dnnl_ptr(k->gwl), *wi = lf_dnnl_ptr(k->gwi), *b = lf_dnnl_ptr(k->gb);
  for(int d=0; d<s->D; d++){
    lf_param *const *p = &L->param[(l*s->D + d)*4];
    float *bih = p[2]->grad, *bhh = p[3]->grad;
    for(int g=0; g<s->G; g++){
      memcpy(p[0]->grad + pt[g]*H*I, wl + ((int64_t)d*s->G + g)*H*I, sizeof(float)*(size_t)(H*I));
      memcpy(p[1]->grad + pt[g]*H*H, wi + ((int64_t)d*s->G + g)*H*H, sizeof(float)*(size_t)(H*H));
    }
    const float *bd = b + (int64_t)d*s->Gb*H;
    for(int64_t o=0; o<H; o++){
      if( !s->gru ){
        for(int g=0; g<4; g++) bih[g*H + o] = bhh[g*H + o] = bd[g*H + o];
      }else{
        bih[1*H + o] = bhh[1*H + o] = bd[0*H + o];
        bih[0*H + o] = bhh[0*H + o] = bd[1*H + o];
        bih[2*H + o] = bd[2*H + o];
        bhh[2*H + o] = bd[3*H + o];
      }
    }
  }
}

static int set_handle(dnnl_memory_t m, void *p, char *err, size_t errlen){
  return lf_dnnl_check(dnnl_memory_set_data_handle(m, p), "RNN buffer", err, errlen);
}

/* Copies the last time step of every sample from a [N, T, W] sequence
** to a [N, W] vector (elements of es bytes). */
static void last_step(const rnn_state *s, const void *seq, void *vec){
  size_t w = (size_t)s->D * s->H * s->es;
  for(int n=0; n<s->N; n++){
    memcpy((char*)vec + (size_t)n * w, (const char*)seq + ((size_t)n*s->T + (size_t)s->T - 1) * w, w);
  }
}

/* n values of the net's activation type to f32, or back. */
static void to_f32(const rnn_state *s, const void *x, float *y, size_t n){
  if( s->bf16 ) for(size_t i=0; i<n; i++) y[i] = lf_bf16_to_f32(((const uint16_t*)x)[i]);
  else memcpy(y, x, n * sizeof(float));
}
static void from_f32(const rnn_state *s, const float *x, void *y, size_t n){
  if( s->bf16 ) for(size_t i=0; i<n; i++) ((uint16_t*)y)[i] = lf_bf16_from_f32(x[i]);
  else memcpy(y, x, n * sizeof(float));
}

/* Dropout forward: y = x * mask. */
static void apply_mask(const rnn_state *s, const void *x, void *y, const float *mask, size_t n){
  if( s->bf16 ){
    const uint16_t *a = x;
    uint16_t *c = y;
    for(size_t i=0; i<n; i++) c[i] = lf_bf16_from_f32(lf_bf16_to_f32(a[i]) * mask[i]);
  }else{
    const float *a = x;
    float *c = y;
    for(size_t i=0; i<n; i++) c[i] = a[i] * mask[i];
  }
}

/* What layer l reads: the input, or the layer below's output (after
** dropout when the last forward trained with it). */
static void *stack_input(rnn_state *s, void *x, int l){
  if( l==0 ) return x;
  rnn_stack *below = &s->st[l-1];
  return s->dropped && below->drop ? below->drop : below->out;
}

static int rnn_forward(const lf_layer *L, void *p, const lf_layer_run *r, char *err, size_t errlen){
  rnn_state *s = p;
  const lf_rnn_args *a = ARGS(L);
  if( lf_relayout_run(&s->x_in, r->src, r->stream, err, errlen) ) return -1;
  void *x = lf_dnnl_ptr(lf_relayout_mem(&s->x_in, r->src));
  size_t nseq = (size_t)s->N * s->T * s->D * s->H;
  s->dropped = r->training && a->dropout > 0;
  if( s->dropped && !r->rng ){ snprintf(err, errlen, "dropout needs a random generator in training"); return -1; }
  for(int l=0; l<s->nl; l++){
    rnn_stack *k = &s->st[l];
    void *out = k->out ? k->out : lf_dnnl_ptr(r->dst);
    /* Training keeps the workspace for backward; inference has none. */
    const lf_prim *prim = r->training ? &k->fwd : &k->inf;
    const lf_relayout *wl = r->training ? &k->wl_fwd : &k->wl_inf, *wi = r->training ? &k->wi_fwd : &k->wi_inf;
    rnn_pack(L, s, l);
    if( set_handle(k->src, stack_input(s, x, l), err, errlen)
     || set_handle(k->dst, out, err, errlen)
     || lf_relayout_run(wl, k->wl, r->stream, err, errlen)
     || lf_relayout_run(wi, k->wi, r->stream, err, errlen) ) return -1;
    dnnl_exec_arg_t args[6] = {
      {DNNL_ARG_SRC_LAYER, k->src}, {DNNL_ARG_WEIGHTS_LAYER, lf_relayout_mem(wl, k->wl)},
      {DNNL_ARG_WEIGHTS_ITER, lf_relayout_mem(wi, k->wi)}, {DNNL_ARG_BIAS, k->b},
      {DNNL_ARG_DST_LAYER, k->dst}, {DNNL_ARG_WORKSPACE, k->ws}};
    if( lf_prim_run(prim, r->stream, r->training && k->ws ? 6 : 5, args, L->ops->loc, err, errlen)
     || lf_dnnl_check(dnnl_stream_wait(r->stream), L->ops->loc, err, errlen) ) return -1;
    if( s->dropped && k->drop ){
      float keep = (float)(1.0 / (1.0 - a->dropout));
      lf_rng_keep_mask(r->rng, k->mask, (int64_t)nseq, a->dropout, keep);
      apply_mask(s, k->out, k->drop, k->mask, nseq);
    }
  }
  if( s->last ) last_step(s, s->st[s->nl-1].out, lf_dnnl_ptr(r->dst));
  return 0;
}

static int rnn_backward(const lf_layer *L, void *p, const lf_layer_run *r, char *err, size_t errlen){
  rnn_state *s = p;
  void *x = lf_dnnl_ptr(lf_relayout_mem(&s->x_in, r->src));
  size_t nseq = (size_t)s->N * s->T * s->D * s->H;
  void *dtop = lf_dnnl_ptr(r->diff_dst);
  if( s->last ){
    size_t w = (size_t)s->D * s->H;
    memset(s->dtop, 0, nseq * sizeof(float));
    for(int n=0; n<s->N; n++){
      to_f32(s, (const char*)dtop + (size_t)n * w * s->es, s->dtop + ((size_t)n*s->T + (size_t)s->T - 1) * w, w);
    }
    dtop = s->dtop;
  }else if( s->bf16 ){
    to_f32(s, dtop, s->dtop, nseq);
    dtop = s->dtop;
  }
  void *dx = s->dx32 ? (void*)s->dx32 : lf_dnnl_ptr(lf_relayout_mem(&s->dx_out, r->diff_src));
  for(int l=s->nl-1; l>=0; l--){
    rnn_stack *k = &s->st[l];
    void *out = k->out ? k->out : lf_dnnl_ptr(r->dst);
    if( set_handle(k->src, stack_input(s, x, l), err, errlen)
     || set_handle(k->dst, out, err, errlen)
     || set_handle(k->ddst, l==s->nl-1 ? dtop : k->dout, err, errlen)
     || set_handle(k->dsrc, l==0 ? dx : s->st[l-1].dout, err, errlen)
     || lf_relayout_run(&k->wl_bwd, k->wl, r->stream, err, errlen)
     || lf_relayout_run(&k->wi_bwd, k->wi, r->stream, err, errlen) ) return -1;
    /* oneDNN adds into the weight gradients. */
    dnnl_memory_t gwl = lf_relayout_mem(&k->gwl_out, k->gwl), gwi = lf_relayout_mem(&k->gwi_out, k->gwi);
    memset(lf_dnnl_ptr(gwl), 0, lf_dnnl_nfloat(gwl) * sizeof(float));
    memset(lf_dnnl_ptr(gwi), 0, lf_dnnl_nfloat(gwi) * sizeof(float));
    memset(lf_dnnl_ptr(k->gb), 0, lf_dnnl_nfloat(k->gb) * sizeof(float));
    dnnl_exec_arg_t args[11] = {
      {DNNL_ARG_SRC_LAYER, k->src}, {DNNL_ARG_WEIGHTS_LAYER, lf_relayout_mem(&k->wl_bwd, k->wl)},
      {DNNL_ARG_WEIGHTS_ITER, lf_relayout_mem(&k->wi_bwd, k->wi)}, {DNNL_ARG_BIAS, k->b},
      {DNNL_ARG_DST_LAYER, k->dst}, {DNNL_ARG_DIFF_DST_LAYER, k->ddst},
      {DNNL_ARG_DIFF_SRC_LAYER, k->dsrc}, {DNNL_ARG_DIFF_WEIGHTS_LAYER, gwl},
      {DNNL_ARG_DIFF_WEIGHTS_ITER, gwi}, {DNNL_ARG_DIFF_BIAS, k->gb}, {DNNL_ARG_WORKSPACE, k->ws}};
    if( lf_prim_run(&k->bwd, r->stream, k->ws ? 11 : 10, args, L->ops->loc, err, errlen)
     || lf_relayout_run(&k->gwl_out, k->gwl, r->stream, err, errlen)
     || lf_relayout_run(&k->gwi_out, k->gwi, r->stream, err, errlen)
     || lf_dnnl_check(dnnl_stream_wait(r->stream), L->ops->loc, err, errlen) ) return -1;
    rnn_unpack(L, s, l);
    if( l>0 && s->dropped && s->st[l-1].mask ){
      float *g = s->st[l-1].dout;
      const float *m = s->st[l-1].mask;
      for(size_t i=0; i<nseq; i++) g[i] *= m[i];
    }
  }
  if( r->diff_src ){
    if( s->dx32 ){
      from_f32(s, s->dx32, lf_dnnl_ptr(lf_relayout_mem(&s->dx_out, r->diff_src)),
               (size_t)s->N * s->T * L->in.dim[1]);
    }
    if( lf_relayout_run(&s->dx_out, r->diff_src, r->stream, err, errlen) ) return -1;
  }
  return 0;
}

/* ONNX's gate block k is PyTorch's block onnx_gates[k]: LSTM i,o,f,c from
** i,f,g,o; GRU z,r,h from r,z,n. */
static const int onnx_lstm_gates[4] = {0, 3, 1, 2};
static const int onnx_gru_gates[3] = {1, 0, 2};

/* The parameters of layer l, both directions, as ONNX's W [D, G*H, I],
** R [D, G*H, H] and B [D, 2*G*H] (input biases, then hidden ones). */
static int rnn_onnx_weights(const lf_layer *L, lf_onnx *g, int l, int G, int D, int64_t H, int64_t I,
                            const char **w, const char **r, const char **b){
  const int *gates = G==4 ? onnx_lstm_gates : onnx_gru_gates;
  int64_t GH = G*H;
  float *W = malloc(sizeof(float) * (size_t)(D*GH*I)), *R = malloc(sizeof(float) * (size_t)(D*GH*H));
  float *B = malloc(sizeof(float) * (size_t)(D*2*GH));
  char name[96];
  if( !W || !R || !B ){ free(W); free(R); free(B); return -1; }
  for(int dir=0; dir<D; dir++){
    const lf_param *const *p = (const lf_param *const *)&L->param[(l*D + dir)*4];
    for(int k=0; k<G; k++){
      int64_t from = gates[k]*H, to = k*H;
      memcpy(W + dir*GH*I + to*I, p[0]->data + from*I, sizeof(float) * (size_t)(H*I));
      memcpy(R + dir*GH*H + to*H, p[1]->data + from*H, sizeof(float) * (size_t)(H*H));
      memcpy(B + dir*2*GH + to, p[2]->data + from, sizeof(float) * (size_t)H);
      memcpy(B + dir*2*GH + GH + to, p[3]->data + from, sizeof(float) * (size_t)H);
    }
  }
  int64_t dw[3] = { D, GH, I }, dr[3] = { D, GH, H }, db[2] = { D, 2*GH };
  snprintf(name, sizeof name, "%s.onnx_W", L->param[l*D*4]->name);
  *w = lf_onnx_f32(g, name, 3, dw, W);
  snprintf(name, sizeof name, "%s.onnx_R", L->param[l*D*4]->name);
  *r = lf_onnx_f32(g, name, 3, dr, R);
  snprintf(name, sizeof name, "%s.onnx_B", L->param[l*D*4]->name);
  *b = lf_onnx_f32(g, name, 2, db, B);
  free(W); free(R); free(B);
  return *w && *r && *b ? 0 : -1;
}

/* One ONNX LSTM/GRU node per stacked layer, time-major in between
** (dropout between layers is inference's identity); "last" is the top
** layer's output at the last step, as forward takes it. */
static int rnn_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                    const char **out, char *err, size_t errlen){
  const lf_rnn_args *a = ARGS(L);
  int gru = L->ops == &lf_layer_gru, G = gru ? 3 : 4, D = a->bidirectional ? 2 : 1;
  int64_t H = a->hidden_size, T = L->in.dim[0];
  int64_t p_tnf[3] = { 1, 0, 2 }, p_y[4] = { 0, 2, 1, 3 }, merge[3] = { 0, 0, D*H };
  lf_onnx_attr tnf = LF_ONNX_IS("perm", 3, p_tnf), ty = LF_ONNX_IS("perm", 4, p_y);
  const char *xi[1] = { in[0] };
  const char *x = lf_onnx_op(g, "Transpose", 1, xi, 1, &tnf);        /* [T, N, F] */
  for(int l=0; x && l<a->num_layers; l++){
    const char *w, *r, *b;
    int64_t I = l==0 ? L->in.dim[1] : D*H;
    if( rnn_onnx_weights(L, g, l, G, D, H, I, &w, &r, &b) ) return lf_onnx_result(NULL, out, err, errlen);
    const char *ins[4] = { x, w, r, b };
    lf_onnx_attr at[3] = { LF_ONNX_I("hidden_size", H), LF_ONNX_I("linear_before_reset", 1),
                           { .name = "direction", .type = LF_ONNX_ATTR_STRING,
                             .s = D==2 ? "bidirectional" : "forward" } };
    at[1] = gru ? at[1] : at[2];
    const char *y = lf_onnx_op(g, gru ? "GRU" : "LSTM", 4, ins, gru ? 3 : 2, at);  /* [T, D, N, H] */
    const char *yi[1] = { y };
    y = y ? lf_onnx_op(g, "Transpose", 1, yi, 1, &ty) : NULL;                  /* [T, N, D, H] */
    x = lf_onnx_op2(g, "Reshape", y, lf_onnx_i64s(g, "rnn_merge", 3, merge));     /* [T, N, D*H] */
  }
  const char *oi[1] = { x };
  const char *y = x ? lf_onnx_op(g, "Transpose", 1, oi, 1, &tnf) : NULL;        /* [N, T, D*H] */
  if( y && a->last ){
    int64_t t = T - 1;
    lf_onnx_attr ax = LF_ONNX_I("axis", 1);
    const char *gi[2] = { y, lf_onnx_i64(g, "last_step", 0, NULL, &t) };
    y = gi[1] ? lf_onnx_op(g, "Gather", 2, gi, 1, &ax) : NULL;
  }
  return lf_onnx_result(y, out, err, errlen);
}

const lf_layer_ops lf_layer_lstm = {
  "LSTM", lstm_infer, lstm_params, rnn_init, rnn_build,
  rnn_forward, rnn_backward, rnn_release, 0, rnn_onnx
};
const lf_layer_ops lf_layer_gru = {
  "GRU", gru_infer, gru_params, rnn_init, rnn_build,
  rnn_forward, rnn_backward, rnn_release, 0, rnn_onnx
};
