/*
** layer_catemb.c — CategoricalEmbedding: for a data row of categorical
** codes and continuous values (a dataset with named inputs), one embedding
** table per categorical column (PyTorch nn.Embedding, N(0,1) init); the
** output is the embeddings of the categorical columns in input order, then
** the continuous values in input order, as the PyTorchLabFlow tutorial's
** model concatenates them. Each table's width is the args' dim, or its own
** entry of dims. In a Graph the layer may read one input group (all its
** columns categorical) instead of the whole row.
**
** oneDNN has no gather primitive for this, so forward (gather) and backward
** (scatter-add into the tables) are plain C loops, serial so that the
** gradient sums always run in the same order (exact resume). All tables
** live in one parameter "weight", column after column (card x dim each).
** A code outside [0, card) (a raw input row) reads the unknown code 0.
**
** bf16 (b->bf16, a net computing in bf16): the row read stays f32 (codes
** above 256 do not survive bf16; the net keeps what this layer reads in
** f32, kernels/lf_net.c); forward copies rows of the bf16 weight copy
** (lf_param.data16, refreshed by the optimizer from the f32 master
** weights, as Linear's and Conv2d's bf16 paths read it) and the continuous
** values rounded to bf16 into a bf16 output; backward adds the bf16 output
** gradient, widened to f32, into the f32 weight gradient in the same order
** as in f32, and hands the continuous values' gradient back in f32.
*/
#include "lf_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(L) ((const lf_catemb_args*)(L)->args)

/* Embedding width of categorical column j: dims[k] for the k-th
** categorical column, or the one dim. */
static int64_t width_of(const lf_catemb_args *a, int j){
  if( a->ndims == 0 ) return a->dim;
  int k = 0;
  for(int i=0; i<j; i++) if( a->card[i] != 0 ) k++;
  return k < a->ndims ? a->dims[k] : 0;
}

/* Codes of a column: bound, or 1 while the vocabulary is unknown. */
static int64_t cards_of(const lf_catemb_args *a, int j){
  return a->card[j] > 0 ? a->card[j] : 1;
}

static int catemb_infer(const void *args, const lf_shape *in, int nin,
                        lf_shape *out, char *err, size_t errlen){
  const lf_catemb_args *a = args;
  (void)nin;
  if( in->ndim != 1 ){
    snprintf(err, errlen, "CategoricalEmbedding takes the data row (a vector), got %d dimensions", in->ndim);
    return -1;
  }
  if( a->ncols == 0 ){
    snprintf(err, errlen, "CategoricalEmbedding needs a dataset with named inputs and a categorical group "
             "(dataset args \"inputs\")");
    return -1;
  }
  if( in->dim[0] != a->ncols ){
    snprintf(err, errlen, "CategoricalEmbedding must come first or read one input group: it takes the %d "
             "input columns, got %lld values", a->ncols, (long long)in->dim[0]);
    return -1;
  }
  int ncat = 0;
  for(int j=0; j<a->ncols; j++) ncat += a->card[j] != 0;
  if( a->ndims && a->ndims != ncat ){
    snprintf(err, errlen, "CategoricalEmbedding dims lists %d width%s; its input has %d categorical column%s",
             a->ndims, a->ndims==1 ? "" : "s", ncat, ncat==1 ? "" : "s");
    return -1;
  }
  int64_t w = 0;
  for(int j=0; j<a->ncols; j++) w += a->card[j] != 0 ? width_of(a, j) : 1;
  out->ndim = 1;
  out->dim[0] = w;
  return 0;
}

static int catemb_params(const void *args, const lf_shape *in, lf_param_decl *decl){
  const lf_catemb_args *a = args;
  int64_t total = 0;
  (void)in;
  for(int j=0; j<a->ncols; j++) if( a->card[j] != 0 ) total += cards_of(a, j) * width_of(a, j);
  decl[0].suffix = "weight";
  decl[0].shape.ndim = 1;
  decl[0].shape.dim[0] = total > 0 ? total : 1;
  decl[0].trainable = 1;
  return 1;
}

static void catemb_init(const lf_layer *L, lf_rng *rng){
  lf_param *w = L->param[0];
  for(int64_t i=0; i<w->n; i++) w->data[i] = lf_rng_normal(rng);
}

typedef struct catemb_state {
  int64_t outw;
  int64_t off[LF_CATEMB_MAX_COLS];   /* table offset per categorical column */
  int64_t width[LF_CATEMB_MAX_COLS]; /* and its embedding width */
  int bf16;                          /* output and its gradient in bf16 */
} catemb_state;

static int catemb_build(const lf_layer *L, lf_layer_build *b, char *err, size_t errlen){
  const lf_catemb_args *a = ARGS(L);
  int bf16 = b->bf16 && L->param[0]->data16;
  if( !lf_dnnl_md_is_plain(b->src_md) || b->src_md->data_type != dnnl_f32 ){
    snprintf(err, errlen, "CategoricalEmbedding must be the first layer (it reads the data row)");
    return -1;
  }
  for(int j=0; j<a->ncols; j++){
    if( a->card[j] < 0 ){
      snprintf(err, errlen, "CategoricalEmbedding: the vocabulary of input column %d is not known "
               "(the model was built without its training data)", j + 1);
      return -1;
    }
  }
  catemb_state *s = calloc(1, sizeof *s);
  if( !s ){ snprintf(err, errlen, "out of memory"); return -1; }
  int64_t at = 0;
  for(int j=0; j<a->ncols; j++){
    s->off[j] = at;
    s->width[j] = a->card[j] > 0 ? width_of(a, j) : 0;
    if( a->card[j] > 0 ) at += (int64_t)a->card[j] * s->width[j];
  }
  s->outw = L->out.dim[0];
  s->bf16 = bf16;
  if( lf_dnnl_md_dt(&b->dst_md, b->batch, &L->out, 0, bf16 ? dnnl_bf16 : dnnl_f32, err, errlen) ){
    free(s);
    return -1;
  }
  b->state = s;
  return 0;
}

/* The code of x for a column of card codes. */
static int64_t code_of(float x, int card){
  if( !(x >= 0.0f) || x >= (float)card ) return 0;
  return (int64_t)x;
}

static int catemb_forward(const lf_layer *L, void *p, const lf_layer_run *r,
                          char *err, size_t errlen){
  const lf_catemb_args *a = ARGS(L);
  const catemb_state *s = p;
  const float *x = lf_dnnl_ptr(r->src), *w = L->param[0]->data;
  float *y = lf_dnnl_ptr(r->dst);
  (void)err; (void)errlen;
  if( s->bf16 ){
    const uint16_t *w16 = L->param[0]->data16;
    uint16_t *y16 = (uint16_t*)y;
    for(int i=0; i<r->batch; i++){
      const float *xi = x + (int64_t)i * a->ncols;
      uint16_t *yi = y16 + (int64_t)i * s->outw;
      int64_t at = 0;
      for(int j=0; j<a->ncols; j++){
        if( a->card[j] == 0 ) continue;
        int64_t d = s->width[j];
        memcpy(yi + at, w16 + s->off[j] + code_of(xi[j], a->card[j]) * d, (size_t)d * sizeof(uint16_t));
        at += d;
      }
      for(int j=0; j<a->ncols; j++) if( a->card[j] == 0 ) yi[at++] = lf_bf16_from_f32(xi[j]);
    }
    return 0;
  }
  for(int i=0; i<r->batch; i++){
    const float *xi = x + (int64_t)i * a->ncols;
    float *yi = y + (int64_t)i * s->outw;
    int64_t at = 0;
    for(int j=0; j<a->ncols; j++){
      if( a->card[j] == 0 ) continue;
      int64_t d = s->width[j];
      memcpy(yi + at, w + s->off[j] + code_of(xi[j], a->card[j]) * d, (size_t)d * sizeof(float));
      at += d;
    }
    for(int j=0; j<a->ncols; j++) if( a->card[j] == 0 ) yi[at++] = xi[j];
  }
  return 0;
}

static int catemb_backward(const lf_layer *L, void *p, const lf_layer_run *r,
                           char *err, size_t errlen){
  const lf_catemb_args *a = ARGS(L);
  const catemb_state *s = p;
  const float *x = lf_dnnl_ptr(r->src), *dy = lf_dnnl_ptr(r->diff_dst);
  float *g = L->param[0]->grad;
  float *dx = r->diff_src ? lf_dnnl_ptr(r->diff_src) : NULL;
  (void)err; (void)errlen;
  memset(g, 0, (size_t)L->param[0]->n * sizeof(float));
  for(int i=0; i<r->batch; i++){
    const float *xi = x + (int64_t)i * a->ncols;
    /* The sample's output gradient, f32 or (bf16 layer) bf16. */
    const float *dyi = s->bf16 ? NULL : dy + (int64_t)i * s->outw;
    const uint16_t *dyi16 = s->bf16 ? (const uint16_t*)dy + (int64_t)i * s->outw : NULL;
    float *dxi = dx ? dx + (int64_t)i * a->ncols : NULL;
    int64_t at = 0;
    for(int j=0; j<a->ncols; j++){
      if( a->card[j] == 0 ) continue;
      int64_t wd = s->width[j];
      float *gj = g + s->off[j] + code_of(xi[j], a->card[j]) * wd;
      if( s->bf16 ) for(int64_t d=0; d<wd; d++) gj[d] += lf_bf16_to_f32(dyi16[at + d]);
      else for(int64_t d=0; d<wd; d++) gj[d] += dyi[at + d];
      at += wd;
      if( dxi ) dxi[j] = 0.0f;             /* codes are not differentiable */
    }
    for(int j=0; j<a->ncols; j++){
      if( a->card[j] != 0 ) continue;
      if( dxi ) dxi[j] = s->bf16 ? lf_bf16_to_f32(dyi16[at]) : dyi[at];
      at++;
    }
  }
  return 0;
}

static void catemb_release(void *p){
  free(p);
}

/* Per categorical column: its code (x if 0 <= x < card, else the unknown
** code 0, truncated as forward does), Gather'ed from that column's table;
** then the continuous columns; all concatenated as forward lays them out. */
static int catemb_onnx(const lf_layer *L, lf_onnx *g, const char *const *in,
                       const char **out, char *err, size_t errlen){
  const lf_catemb_args *a = ARGS(L);
  const char **parts = calloc((size_t)a->ncols + 1, sizeof(char*));
  const float *w = L->param[0]->data;
  int np = 0, ok = 1;
  lf_onnx_attr ax1 = LF_ONNX_I("axis", 1), to_i64 = LF_ONNX_I("to", LF_ONNX_INT64);
  if( !parts ) return lf_onnx_result(NULL, out, err, errlen);
  int64_t at = 0;
  const char *zero = lf_onnx_scalar(g, "zero", 0.0f);
  for(int j=0; ok && j<a->ncols; j++){
    if( a->card[j] == 0 ) continue;
    int64_t col = j, dims[2] = { a->card[j], width_of(a, j) };
    const char *gi[2] = { in[0], lf_onnx_i64(g, "column", 0, NULL, &col) };
    const char *x = lf_onnx_op(g, "Gather", 2, gi, 1, &ax1);               /* [N] */
    const char *valid = lf_onnx_op2(g, "And",
        lf_onnx_op2(g, "GreaterOrEqual", x, zero),
        lf_onnx_op2(g, "Less", x, lf_onnx_scalar(g, "card", (float)a->card[j])));
    const char *wi[3] = { valid, x, zero };
    const char *c = lf_onnx_op(g, "Where", 3, wi, 0, NULL);
    const char *ci[1] = { c };
    const char *code = c ? lf_onnx_op(g, "Cast", 1, ci, 1, &to_i64) : NULL;
    char hint[96];
    snprintf(hint, sizeof hint, "%s.table%d", L->param[0]->name, j);
    const char *ti[2] = { lf_onnx_f32(g, hint, 2, dims, w + at), code };
    parts[np] = ti[0] && code ? lf_onnx_op(g, "Gather", 2, ti, 0, NULL) : NULL;  /* [N, dim] */
    ok = parts[np++] != NULL;
    at += a->card[j] * dims[1];
  }
  int64_t idx[LF_CATEMB_MAX_COLS], ncont = 0;
  for(int j=0; j<a->ncols; j++) if( a->card[j] == 0 ) idx[ncont++] = j;
  if( ok && ncont ){
    const char *gi[2] = { in[0], lf_onnx_i64s(g, "continuous", (int)ncont, idx) };
    parts[np] = lf_onnx_op(g, "Gather", 2, gi, 1, &ax1);                    /* [N, ncont] */
    ok = parts[np++] != NULL;
  }
  const char *y = NULL;
  if( ok ) y = np == 1 ? lf_onnx_op1(g, "Identity", parts[0]) : lf_onnx_op(g, "Concat", np, parts, 1, &ax1);
  free(parts);
  return lf_onnx_result(y, out, err, errlen);
}

const lf_layer_ops lf_layer_catemb = {
  "CategoricalEmbedding", catemb_infer, catemb_params, catemb_init,
  catemb_build, catemb_forward, catemb_backward, catemb_release, 0, catemb_onnx
};
