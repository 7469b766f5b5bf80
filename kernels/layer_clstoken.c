/*
** layer_clstoken.c — ClassToken: prepends a learned token to a sequence,
** [T, E] -> [T+1, E], as torchvision's VisionTransformer does
** (torch.cat([class_token.expand(B, -1, -1), x], dim=1); the token
** "weight" [1, E] starts at zero). After the encoder, step 0 is the pooled
** output: Flatten then Slice {start 0, length E} reads it.
**
** The sequence is moved by a reorder into a strided view of the output
** (rows 1..T of each sample); the token's gradient is ones[1, B] x the
** step-0 rows of dy (a matmul).
**
** On a sequence's mask ([T], 1 valid, 0 padding; a Graph node reading
** "x_mask") it prepends the class token's step, always valid: [T] ->
** [T+1] with a 1 in front and no parameter. That is the mask attention
** and SeqPool need after a ClassToken on the sequence (PyTorch:
** torch.cat([ones(B, 1), mask], 1)):
**   {"name": "cls",      "loc": "ClassToken", "in": ["x"]},
**   {"name": "cls_mask", "loc": "ClassToken", "in": ["x_mask"]},
**   {"name": "enc", "loc": "TransformerEncoderLayer", ..., "in": ["cls", "cls_mask"]}
*/
#include "lf_layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct clstoken_state {
  int64_t B, T, E;                /* E = 0: the mask form [T] -> [T+1] */
  size_t esize;                   /* the mask form's element size */
  float *ones;
  lf_relayout x_in, dx_out;
  lf_prim place, take, grad;
  dnnl_memory_t m_x, m_rows, m_drows, m_dx, m_ones, m_dy0, m_g;
} clstoken_state;

static int cls_infer(const void *args, const lf_shape *in, int nin,
                     lf_shape *out, char *err, size_t errlen){
  char buf[64];
  (void)args; (void)nin;
  if( in->ndim!=2 && in->ndim!=1 ){
    snprintf(err, errlen, "ClassToken expects a sequence [time, embed_dim] per sample (or its mask [time]), got %s",
             lf_shape_str(in, buf, sizeof buf));
    return -1;
  }
  *out = *in;
  out->dim[0] = in->dim[0] + 1;
  return 0;
}

static int cls_params(const void *args, const lf_shape *in, lf_param_decl *d){
  (void)args;
  if( in->ndim==1 ) return 0;               /* the mask form */
  d[0].suffix = "weight";
  d[0].shape.ndim = 2;
  d[0].shape.dim[0] = 1;
  d[0].shape.dim[1] = in->dim[1];
  d[0].trainable = 1;
  return 1;
}

static void cls_release(void *p){
  clstoken_state *s = p;
  if( !s ) return;
  lf_prim_free(&s->place);
  lf_prim_free(&s->take);
  lf_prim_free(&s->grad);
  lf_relayout_free(&s->x_in);
  lf_relayout_free(&s->dx_out);
  dnnl_memory_t m[] = { s->m_x, s->m_rows, s->m_drows, s->m_dx, s->m_ones, s->m_dy0, s->m_g };
  for(size_t i=0; i<sizeof m/sizeof m[0]; i++) if( m[i] ) dnnl_memory_destroy(m[i]);
  free(s->ones);
  free(s);
}

static int strided(dnnl_memory_t *m, int nd, const int64_t *dims, const int64_t *strides,
                   void *ptr, char *err, size_t errlen){
  dnnl_memory_desc_t md;
  dnnl_dims_t d, st;
  for(int i=0; i<nd; i++){ d[i] = dims[i]; st[i] = strides[i]; }
  return lf_dnnl_check(dnnl_memory_desc_init_by_strides(&md, nd, d, dnnl_f32, st), "ClassToken", err, errlen)
      || lf_dnnl_mem(m, &md, ptr ? ptr : DNNL_MEMORY_NONE, err, errlen);
}

static const dnnl_memory_desc_t *md_mem(dnnl_memory_t m){
  const dnnl_memory_desc_t *md = 0;
  dnnl_memory_get_memory_desc(m, &md);
  return md;
}

/* The mask form: [T] -> [1, mask...] in the mask's own data type (f32, or
** bf16 in a bf16 net, as SeqPool reads it); no parameter, dL/dmask =
** dy[1..T]. */
static int cls_build_mask(const lf_layer *L, lf_layer_build *b, clstoken_state *s, char *err, size_t errlen){
  dnnl_memory_desc_t plain;
  dnnl_data_type_t dt = b->src_md->data_type==dnnl_bf16 ? dnnl_bf16 : dnnl_f32;
  s->B = b->batch; s->T = L->in.dim[0]; s->E = 0;
  s->esize = dt==dnnl_bf16 ? 2 : 4;
  if( lf_dnnl_md_dt(&plain, b->batch, &L->in, 0, dt, err, errlen)
   || lf_relayout_init(&s->x_in, b->src_md, &plain, 1, err, errlen)
   || (b->need_diff_src && lf_relayout_init(&s->dx_out, b->src_md, &plain, 0, err, errlen))
   || lf_dnnl_md_dt(&b->dst_md, b->batch, &L->out, 0, dt, err, errlen) ){
    cls_release(s);
    return -1;
  }
  b->state = s;
  return 0;
}

static int cls_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  clstoken_state *s = calloc(1, sizeof *s);
  if( !s ){ snprintf(err, errlen, "out of memory"); return -1; }
  if( L->in.ndim==1 ) return cls_build_mask(L, b, s, err, errlen);
  int64_t B = b->batch, T = L->in.dim[0], E = L->in.dim[1];
  int64_t dx[3] = {B, T, E}, sx[3] = {T*E, E, 1}, srow[3] = {(T+1)*E, E, 1};
  int64_t d1B[2] = {1, B}, sB[2] = {B, 1}, dB0[2] = {B, E}, s0[2] = {(T+1)*E, 1}, d1E[2] = {1, E}, sE[2] = {E, 1};
  dnnl_memory_desc_t plain;
  s->B = B; s->T = T; s->E = E;
  s->ones = malloc(sizeof(float) * (size_t)B);
  if( !s->ones ){ snprintf(err, errlen, "out of memory"); goto fail; }
  lf_fill_const(s->ones, B, 1.0f);
  if( lf_dnnl_md(&plain, (int)B, &L->in, 0, err, errlen)
   || lf_relayout_init(&s->x_in, b->src_md, &plain, 1, err, errlen)
   || (b->need_diff_src && lf_relayout_init(&s->dx_out, b->src_md, &plain, 0, err, errlen))
   || lf_dnnl_md(&b->dst_md, (int)B, &L->out, 0, err, errlen)
   || strided(&s->m_x, 3, dx, sx, 0, err, errlen)
   || strided(&s->m_rows, 3, dx, srow, 0, err, errlen)
   || lf_prim_reorder(&s->place, md_mem(s->m_x), md_mem(s->m_rows), err, errlen)
   || strided(&s->m_ones, 2, d1B, sB, s->ones, err, errlen)
   || strided(&s->m_dy0, 2, dB0, s0, 0, err, errlen)
   || strided(&s->m_g, 2, d1E, sE, L->param[0]->grad, err, errlen) ) goto fail;
  {
    dnnl_matmul_desc_t d;
    if( lf_dnnl_check(dnnl_matmul_desc_init(&d, md_mem(s->m_ones), md_mem(s->m_dy0), 0, md_mem(s->m_g)),
                      "ClassToken gradient", err, errlen)
     || lf_prim_create(&s->grad, &d, 0, 0, "ClassToken gradient (oneDNN matmul)", err, errlen) ) goto fail;
  }
  if( b->need_diff_src ){
    if( strided(&s->m_drows, 3, dx, srow, 0, err, errlen)
     || strided(&s->m_dx, 3, dx, sx, 0, err, errlen)
     || lf_prim_reorder(&s->take, md_mem(s->m_drows), md_mem(s->m_dx), err, errlen) ) goto fail;
  }
  b->state = s;
  return 0;
fail:
  cls_release(s);
  return -1;
}

static int cls_forward(const lf_layer *L, void *p, const lf_layer_run *r, char *err, size_t errlen){
  clstoken_state *s = p;
  float *y = lf_dnnl_ptr(r->dst);
  if( lf_relayout_run(&s->x_in, r->src, r->stream, err, errlen) ) return -1;
  if( s->E==0 ){
    static const float one = 1.0f;
    static const uint16_t one16 = 0x3f80;  /* 1.0 in bf16 */
    const char *m;
    char *yc = (char*)y;
    size_t es = s->esize, row = es * (size_t)s->T;
    if( lf_dnnl_check(dnnl_stream_wait(r->stream), "ClassToken", err, errlen) ) return -1;
    m = (const char*)lf_dnnl_ptr(lf_relayout_mem(&s->x_in, r->src));
    for(int64_t b=0; b<s->B; b++){
      memcpy(yc + (size_t)b*(row+es), es==2 ? (const void*)&one16 : (const void*)&one, es);
      memcpy(yc + (size_t)b*(row+es) + es, m + (size_t)b*row, row);
    }
    return 0;
  }
  dnnl_memory_set_data_handle(s->m_x, lf_dnnl_ptr(lf_relayout_mem(&s->x_in, r->src)));
  dnnl_memory_set_data_handle(s->m_rows, y + s->E);
  dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, s->m_x}, {DNNL_ARG_TO, s->m_rows}};
  if( lf_prim_run(&s->place, r->stream, 2, a, "ClassToken", err, errlen)
   || lf_dnnl_check(dnnl_stream_wait(r->stream), "ClassToken", err, errlen) ) return -1;
  for(int64_t b=0; b<s->B; b++){
    memcpy(y + b*(s->T+1)*s->E, L->param[0]->data, sizeof(float) * (size_t)s->E);
  }
  return 0;
}

static int cls_backward(const lf_layer *L, void *p, const lf_layer_run *r, char *err, size_t errlen){
  clstoken_state *s = p;
  float *dy = lf_dnnl_ptr(r->diff_dst);
  (void)L;
  if( s->E==0 ){
    if( !r->diff_src ) return 0;
    char *dm = (char*)lf_dnnl_ptr(lf_relayout_mem(&s->dx_out, r->diff_src));
    const char *dyc = (const char*)dy;
    size_t es = s->esize, row = es * (size_t)s->T;
    for(int64_t b=0; b<s->B; b++)
      memcpy(dm + (size_t)b*row, dyc + (size_t)b*(row+es) + es, row);
    return lf_relayout_run(&s->dx_out, r->diff_src, r->stream, err, errlen);
  }
  dnnl_memory_set_data_handle(s->m_dy0, dy);
  dnnl_exec_arg_t g[3] = {{DNNL_ARG_SRC, s->m_ones}, {DNNL_ARG_WEIGHTS, s->m_dy0}, {DNNL_ARG_DST, s->m_g}};
  if( lf_prim_run(&s->grad, r->stream, 3, g, "ClassToken gradient", err, errlen) ) return -1;
  if( r->diff_src && s->take.prim ){
    dnnl_memory_t dx = r->diff_src;
    dnnl_memory_set_data_handle(s->m_drows, dy + s->E);
    dnnl_memory_set_data_handle(s->m_dx, lf_dnnl_ptr(lf_relayout_mem(&s->dx_out, dx)));
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, s->m_drows}, {DNNL_ARG_TO, s->m_dx}};
    if( lf_prim_run(&s->take, r->stream, 2, a, "ClassToken backward", err, errlen)
     || lf_relayout_run(&s->dx_out, dx, r->stream, err, errlen) ) return -1;
  }
  return 0;
}

/* Concat(token expanded to [batch, 1, E], x) along time; the batch size
** is read from x's shape, so it stays symbolic. */
static int cls_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                    const char **out, char *err, size_t errlen){
  int mask = L->in.ndim==1;                 /* [T] -> [T+1]: a 1 in front */
  int64_t E = mask ? 1 : L->in.dim[1], dims[3] = { 1, 1, E }, rest[2] = { 1, E }, zero = 0, one = 1;
  const float valid = 1.0f;
  const char *tok = mask ? lf_onnx_f32(g, "class_token_mask", 2, dims, &valid)
                         : lf_onnx_f32(g, L->param[0]->name, 3, dims, L->param[0]->data);
  const char *sl[4] = { lf_onnx_op1(g, "Shape", in[0]), lf_onnx_i64s(g, "starts", 1, &zero),
                        lf_onnx_i64s(g, "ends", 1, &one), lf_onnx_i64s(g, "axes", 1, &zero) };
  const char *batch = sl[0] && sl[1] && sl[2] && sl[3] ? lf_onnx_op(g, "Slice", 4, sl, 0, NULL) : NULL;
  const char *shape[2] = { batch, lf_onnx_i64s(g, "token_shape", mask ? 1 : 2, mask ? &one : rest) };
  lf_onnx_attr ax0 = LF_ONNX_I("axis", 0), ax1 = LF_ONNX_I("axis", 1);
  const char *full = batch && shape[1] ? lf_onnx_op(g, "Concat", 2, shape, 1, &ax0) : NULL;
  const char *cat[2] = { lf_onnx_op2(g, "Expand", tok, full), in[0] };
  return lf_onnx_result(cat[0] ? lf_onnx_op(g, "Concat", 2, cat, 1, &ax1) : NULL, out, err, errlen);
}

const lf_layer_ops lf_layer_clstoken = {
  "ClassToken", cls_infer, cls_params, 0, cls_build, cls_forward, cls_backward, cls_release, 0, cls_onnx
};
