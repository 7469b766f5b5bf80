/*
** test_embedding_bf16.c — the bf16 paths of Embedding and
** CategoricalEmbedding (kernels/layer_embedding.c, layer_catemb.c) and the
** net's handling of token ids in bf16 (kernels/lf_net.c: the values an
** Embedding reads stay f32). Both layers gather and scatter-add in plain C,
** so all of this runs on any CPU, AVX-512 BF16 or not:
**   - each layer driven directly (build, forward, backward) in bf16 against
**     its f32 path with the weights rounded to bf16: outputs and weight
**     gradients equal to the bit; ids 300, 1000, 40000 (above bf16's 256
**     exact integers) select their own rows;
**   - the id errors (out of range, the layout check) unchanged in bf16;
**   - whole nets through lf_net_set_bf16_any_cpu (the net's bf16 plumbing
**     without the CPU check; their layers run no bf16 compute primitive):
**     a Graph reading [ids | continuous] with Slices, Embedding, Flatten and
**     Concat, and a CategoricalEmbedding net, equal to the f32 nets to the
**     bit; their inputs stay f32 (lf_net_takes_bf16 0, bf16 input refused),
**     while a net without ids still takes bf16.
*/
#include "lf_test.h"
#include "lf_test_spec.h"
#include "lf_net.h"
#include "lf_layer.h"
#include "lf_registry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static float round16(float v){ return lf_bf16_to_f32(lf_bf16_from_f32(v)); }

/* n values N(0,1) scaled by 1.37 (so that most are not bf16 numbers). */
static float *randn(int64_t n, lf_rng *rng){
  float *x = malloc((size_t)(n>0 ? n : 1) * sizeof(float));
  for(int64_t i=0; i<n; i++) x[i] = 1.37f * lf_rng_normal(rng);
  return x;
}

/* A parameter: data (and grad), and with bf16 the copy data16 =
** bf16(data); with round_data its data is rounded to bf16 first (the f32
** reference a bf16 layer must match). */
static void param_init(lf_param *p, const float *v, int64_t n, int bf16, int round_data){
  memset(p, 0, sizeof *p);
  p->n = n;
  p->data = malloc((size_t)n * sizeof(float));
  p->grad = malloc((size_t)n * sizeof(float));
  for(int64_t i=0; i<n; i++) p->data[i] = round_data ? round16(v[i]) : v[i];
  if( bf16 ){
    p->data16 = malloc((size_t)n * sizeof(uint16_t));
    lf_bf16_from_f32_n(p->data16, p->data, n);
  }
}

static void param_free(lf_param *p){
  free(p->data); free(p->grad); free(p->data16);
}

/* One layer as the net runs it: built for `batch`, its input x (f32
** ids/codes, plain), output and output gradient in the layout build chose. */
typedef struct run1 {
  lf_layer L;
  lf_layer_build b;
  dnnl_memory_desc_t src_md;
  dnnl_memory_t src, dst, diff_dst, diff_src;
  dnnl_stream_t stream;
  int built;
} run1;

static int run1_open(run1 *u, const lf_layer_ops *ops, const void *args, lf_shape in,
                     lf_param *w, int batch, int bf16, const float *x, char *err, size_t errlen){
  memset(u, 0, sizeof *u);
  u->L.ops = ops; u->L.args = args; u->L.nin = 1;
  u->L.in = u->L.ins[0] = in;
  if( ops->infer(args, &in, 1, &u->L.out, err, errlen) ) return -1;
  u->L.nparam = 1; u->L.param[0] = w;
  dnnl_engine_t eng = lf_dnnl_engine(err, errlen);
  if( !eng ) return -1;
  if( lf_dnnl_md(&u->src_md, batch, &in, 0, err, errlen) ) return -1;
  u->b.engine = eng; u->b.batch = batch;
  u->b.src_md = u->b.src_mds[0] = &u->src_md;
  u->b.nsrc = 1;
  u->b.need_diff_src = u->b.need_diff[0] = 1;
  u->b.bf16 = bf16;
  if( ops->build(&u->L, &u->b, err, errlen) ) return -1;
  u->built = 1;
  if( lf_dnnl_mem(&u->src, &u->src_md, (void*)x, err, errlen)
   || lf_dnnl_mem(&u->dst, &u->b.dst_md, DNNL_MEMORY_ALLOCATE, err, errlen)
   || lf_dnnl_mem(&u->diff_dst, &u->b.dst_md, DNNL_MEMORY_ALLOCATE, err, errlen)
   || lf_dnnl_mem(&u->diff_src, &u->src_md, DNNL_MEMORY_ALLOCATE, err, errlen)
   || lf_dnnl_check(dnnl_stream_create(&u->stream, eng, dnnl_stream_default_flags),
                    "stream", err, errlen) ) return -1;
  return 0;
}

static int run1_forward(run1 *u, int batch, char *err, size_t errlen){
  lf_layer_run r;
  memset(&r, 0, sizeof r);
  r.stream = u->stream; r.batch = batch; r.training = 1;
  r.nsrc = 1; r.src = r.srcs[0] = u->src; r.dst = u->dst;
  return u->L.ops->forward(&u->L, u->b.state, &r, err, errlen);
}

static int run1_backward(run1 *u, int batch, char *err, size_t errlen){
  lf_layer_run r;
  memset(&r, 0, sizeof r);
  r.stream = u->stream; r.batch = batch;
  r.nsrc = 1; r.src = r.srcs[0] = u->src; r.dst = u->dst;
  r.diff_dst = u->diff_dst; r.diff_src = r.diff_srcs[0] = u->diff_src;
  return u->L.ops->backward(&u->L, u->b.state, &r, err, errlen);
}

static void run1_close(run1 *u){
  if( u->built && u->L.ops->release ) u->L.ops->release(u->b.state);
  if( u->src ) dnnl_memory_destroy(u->src);
  if( u->dst ) dnnl_memory_destroy(u->dst);
  if( u->diff_dst ) dnnl_memory_destroy(u->diff_dst);
  if( u->diff_src ) dnnl_memory_destroy(u->diff_src);
  if( u->stream ) dnnl_stream_destroy(u->stream);
}

/* Output i of a layer's bf16 (is16) or f32 buffer, as a float. */
static float at(const void *buf, int is16, int64_t i){
  return is16 ? lf_bf16_to_f32(((const uint16_t*)buf)[i]) : ((const float*)buf)[i];
}

static int same_bits(float a, float b){ return memcmp(&a, &b, sizeof a)==0; }

/* ---- Embedding, layer by itself ---- */

static void test_embedding_layer(void){
  enum { NUM = 40001, DIM = 5, T = 6, BATCH = 3, NX = T*BATCH };
  /* 300, 1000, 40000: ids bf16 would turn into 300, 1000, 39936; 257 -> 256. */
  static const float ids[NX] = { 300, 1000, 40000, 257, 0, 300,
                                 7,   40000, 1000, 2,  299, 301,
                                 40000, 256, 257, 300, 39999, 1 };
  lf_embedding_args a = { NUM, DIM, 2 };            /* padding row 2 */
  lf_shape in = { 1, { T } };
  lf_rng rng;
  char err[256], err2[256];
  lf_rng_seed(&rng, 41);
  float *w = randn((int64_t)NUM*DIM, &rng);
  for(int d=0; d<DIM; d++) w[2*DIM + d] = 0.0f;      /* as init leaves it */
  lf_param w32, w16;
  param_init(&w32, w, (int64_t)NUM*DIM, 0, 1);   /* f32 reference: rounded weights */
  param_init(&w16, w, (int64_t)NUM*DIM, 1, 0);   /* bf16: f32 masters + bf16 copy */
  run1 r32, r16;
  int ok32 = run1_open(&r32, &lf_layer_embedding, &a, in, &w32, BATCH, 0, ids, err, sizeof err)==0;
  int ok16 = run1_open(&r16, &lf_layer_embedding, &a, in, &w16, BATCH, 1, ids, err2, sizeof err2)==0;
  CHECK(ok32 && ok16, "Embedding(40001, 5) builds in f32 and bf16 on ids [%d] (%s%s)", T, ok32 ? "" : err, ok16 ? "" : err2);
  if( !ok32 || !ok16 ) goto done;
  CHECK(r16.b.dst_md.data_type==dnnl_bf16 && r32.b.dst_md.data_type==dnnl_f32 && lf_dnnl_md_is_plain(&r16.b.dst_md),
        "Embedding in bf16 writes a plain bf16 output (f32 in f32)");
  ok32 = run1_forward(&r32, BATCH, err, sizeof err)==0;
  ok16 = run1_forward(&r16, BATCH, err2, sizeof err2)==0;
  CHECK(ok32 && ok16, "Embedding forward in f32 and bf16 (%s%s)", ok32 ? "" : err, ok16 ? "" : err2);
  if( !ok32 || !ok16 ) goto done;
  const float *y32 = lf_dnnl_ptr(r32.dst);
  const void *y16 = lf_dnnl_ptr(r16.dst);
  int same = 1, rows = 1;
  for(int64_t i=0; i<(int64_t)NX*DIM; i++) same = same && same_bits(at(y16, 1, i), y32[i]);
  /* Each id's own row: bf16(w[id]), e.g. 40000's and not 39936's. */
  for(int i=0; i<NX; i++){
    for(int d=0; d<DIM; d++){
      rows = rows && ((const uint16_t*)y16)[i*DIM + d]==lf_bf16_from_f32(w[(int64_t)ids[i]*DIM + d]);
    }
  }
  CHECK(same, "Embedding bf16 output equals the f32 output with bf16-rounded weights, to the bit");
  CHECK(rows && (int)ids[2]==40000 && w[40000*DIM]!=w[39936*DIM],
        "ids 300, 1000, 40000, 257 select their own rows in bf16 (the ids stay f32)");

  /* Backward: dy rounded to bf16 in both; the scatter-add sums in the same
  ** order, so the f32 weight gradients are equal to the bit. */
  float *dy = randn((int64_t)NX*DIM, &rng);
  float *d32 = lf_dnnl_ptr(r32.diff_dst);
  uint16_t *d16 = (uint16_t*)lf_dnnl_ptr(r16.diff_dst);
  for(int64_t i=0; i<(int64_t)NX*DIM; i++){ d16[i] = lf_bf16_from_f32(dy[i]); d32[i] = lf_bf16_to_f32(d16[i]); }
  float *dx16 = lf_dnnl_ptr(r16.diff_src);
  for(int i=0; i<NX; i++) dx16[i] = 1.0f;
  ok32 = run1_backward(&r32, BATCH, err, sizeof err)==0;
  ok16 = run1_backward(&r16, BATCH, err2, sizeof err2)==0;
  CHECK(ok32 && ok16, "Embedding backward in f32 and bf16 (%s%s)", ok32 ? "" : err, ok16 ? "" : err2);
  if( !ok32 || !ok16 ){ free(dy); goto done; }
  CHECK(memcmp(w32.grad, w16.grad, (size_t)NUM*DIM*sizeof(float))==0,
        "Embedding bf16 weight gradient (f32) equals f32's to the bit");
  double want = 0;
  for(int i=0; i<NX; i++) if( ids[i]==40000 ) want += d32[i*DIM + 3];
  int zero = 1;
  for(int i=0; i<NX; i++) zero = zero && dx16[i]==0.0f;
  for(int d=0; d<DIM; d++) zero = zero && w16.grad[2*DIM + d]==0.0f;
  CHECK(fabs(w16.grad[40000*DIM + 3] - want) < 1e-6 && w16.grad[39936*DIM + 3]==0.0f && zero,
        "bf16 grad: row 40000 sums its 3 uses (row 39936 none), padding row 2 and dL/dids zero");
  free(dy);

  /* Errors as in f32: an id out of range names itself. */
  float bad[NX];
  memcpy(bad, ids, sizeof bad);
  bad[T + 4] = 40001;
  if( lf_dnnl_check(dnnl_memory_set_data_handle(r32.src, bad), "h", err, sizeof err)==0
   && lf_dnnl_check(dnnl_memory_set_data_handle(r16.src, bad), "h", err, sizeof err)==0 ){
    ok32 = run1_forward(&r32, BATCH, err, sizeof err);
    ok16 = run1_forward(&r16, BATCH, err2, sizeof err2);
    CHECK(ok32 && ok16 && strcmp(err, err2)==0 && strstr(err2, "token id 40001 (sample 1, position 4) is outside [0, 40001)")
          && strstr(err2, "raise num_embeddings"), "an id out of range in bf16: %s", err2);
    bad[T + 4] = -1;
    ok16 = run1_forward(&r16, BATCH, err2, sizeof err2);
    CHECK(ok16 && strstr(err2, "token id -1 (sample 1, position 4)"), "a negative id in bf16: %s", err2);
  }
done:
  run1_close(&r32);
  run1_close(&r16);

  /* Ids that come in bf16 (after a layer that does not keep them) are
  ** refused, in a bf16 net as in f32. */
  lf_layer L;
  lf_layer_build b;
  dnnl_memory_desc_t md16;
  int rc = -1;
  memset(&L, 0, sizeof L);
  memset(&b, 0, sizeof b);
  L.ops = &lf_layer_embedding; L.args = &a; L.in = L.ins[0] = in; L.nin = 1; L.nparam = 1; L.param[0] = &w16;
  b.engine = lf_dnnl_engine(err, sizeof err);
  if( b.engine && L.ops->infer(&a, &in, 1, &L.out, err, sizeof err)==0
   && lf_dnnl_md_dt(&md16, BATCH, &in, 0, dnnl_bf16, err, sizeof err)==0 ){
    b.batch = BATCH; b.src_md = b.src_mds[0] = &md16; b.nsrc = 1; b.bf16 = 1;
    rc = L.ops->build(&L, &b, err, sizeof err);
  }
  CHECK(rc==-1 && strstr(err, "Embedding reads token ids: put it first"), "bf16 ids are refused: %s", err);
  param_free(&w32);
  param_free(&w16);
  free(w);
}

/* ---- CategoricalEmbedding, layer by itself ---- */

/* Columns: codes (50000 of them), continuous, codes (1200), continuous,
** codes (3); widths 3, 2, 4. */
static void test_catemb_layer(void){
  enum { NCOL = 5, BATCH = 6 };
  static int dims[3] = { 3, 2, 4 };
  lf_catemb_args a;
  memset(&a, 0, sizeof a);
  a.dims = dims; a.ndims = 3; a.ncols = NCOL;
  a.card[0] = 50000; a.card[1] = 0; a.card[2] = 1200; a.card[3] = 0; a.card[4] = 3;
  int64_t nw = 50000*3 + 1200*2 + 3*4;
  /* Codes above 256 (300, 1000, 40000, 49999), one past the end (50000)
  ** and a negative one: both the unknown code 0. */
  static const float codes0[BATCH] = { 300, 1000, 40000, 49999, 50000, -1 };
  static const float codes2[BATCH] = { 1199, 257, 300, 0, 1000, 257 };
  static const float codes4[BATCH] = { 2, 1, 0, 2, 2, 7 };
  lf_shape in = { 1, { NCOL } };
  lf_rng rng;
  char err[256], err2[256];
  lf_rng_seed(&rng, 43);
  float *w = randn(nw, &rng);
  float *x = randn((int64_t)BATCH*NCOL, &rng);
  for(int i=0; i<BATCH; i++){
    x[i*NCOL] = codes0[i]; x[i*NCOL + 2] = codes2[i]; x[i*NCOL + 4] = codes4[i];
  }
  lf_param w32, w16;
  param_init(&w32, w, nw, 0, 1);
  param_init(&w16, w, nw, 1, 0);
  run1 r32, r16;
  int ok32 = run1_open(&r32, &lf_layer_catemb, &a, in, &w32, BATCH, 0, x, err, sizeof err)==0;
  int ok16 = run1_open(&r16, &lf_layer_catemb, &a, in, &w16, BATCH, 1, x, err2, sizeof err2)==0;
  CHECK(ok32 && ok16 && r16.L.out.dim[0]==3+2+4+2 && r16.b.dst_md.data_type==dnnl_bf16,
        "CategoricalEmbedding (50000, 1200, 3 codes) builds in f32 and bf16, a bf16 output of 11 (%s%s)",
        ok32 ? "" : err, ok16 ? "" : err2);
  if( !ok32 || !ok16 ) goto done;
  ok32 = run1_forward(&r32, BATCH, err, sizeof err)==0;
  ok16 = run1_forward(&r16, BATCH, err2, sizeof err2)==0;
  CHECK(ok32 && ok16, "CategoricalEmbedding forward in f32 and bf16 (%s%s)", ok32 ? "" : err, ok16 ? "" : err2);
  if( !ok32 || !ok16 ) goto done;
  const float *y32 = lf_dnnl_ptr(r32.dst);
  const uint16_t *y16 = (const uint16_t*)lf_dnnl_ptr(r16.dst);
  int64_t ny = (int64_t)BATCH*11;
  int same = 1, cont = 1, rows = 1;
  /* The embeddings are bf16 numbers in both, the continuous values are
  ** rounded to bf16 in bf16. */
  for(int64_t i=0; i<ny; i++) same = same && y16[i]==lf_bf16_from_f32(y32[i]);
  for(int i=0; i<BATCH; i++){
    cont = cont && y16[i*11 + 9]==lf_bf16_from_f32(x[i*NCOL + 1]) && y16[i*11 + 10]==lf_bf16_from_f32(x[i*NCOL + 3]);
    int64_t c0 = codes0[i] >= 0 && codes0[i] < 50000 ? (int64_t)codes0[i] : 0;
    int64_t c2 = (int64_t)codes2[i], c4 = codes4[i] < 3 ? (int64_t)codes4[i] : 0;
    for(int d=0; d<3; d++) rows = rows && y16[i*11 + d]==lf_bf16_from_f32(w[c0*3 + d]);
    for(int d=0; d<2; d++) rows = rows && y16[i*11 + 3 + d]==lf_bf16_from_f32(w[150000 + c2*2 + d]);
    for(int d=0; d<4; d++) rows = rows && y16[i*11 + 5 + d]==lf_bf16_from_f32(w[152400 + c4*4 + d]);
  }
  CHECK(same, "CategoricalEmbedding bf16 output equals bf16(f32 output with bf16-rounded weights), to the bit");
  CHECK(rows && cont, "codes 300, 1000, 40000, 49999 read their own rows in bf16, 50000 and -1 the unknown code 0; "
        "continuous values come after, rounded to bf16");

  float *dy = randn(ny, &rng);
  float *d32 = lf_dnnl_ptr(r32.diff_dst);
  uint16_t *d16 = (uint16_t*)lf_dnnl_ptr(r16.diff_dst);
  for(int64_t i=0; i<ny; i++){ d16[i] = lf_bf16_from_f32(dy[i]); d32[i] = lf_bf16_to_f32(d16[i]); }
  ok32 = run1_backward(&r32, BATCH, err, sizeof err)==0;
  ok16 = run1_backward(&r16, BATCH, err2, sizeof err2)==0;
  CHECK(ok32 && ok16, "CategoricalEmbedding backward in f32 and bf16 (%s%s)", ok32 ? "" : err, ok16 ? "" : err2);
  if( ok32 && ok16 ){
    const float *dx32 = lf_dnnl_ptr(r32.diff_src), *dx16 = lf_dnnl_ptr(r16.diff_src);
    CHECK(memcmp(w32.grad, w16.grad, (size_t)nw*sizeof(float))==0,
          "CategoricalEmbedding bf16 weight gradient (f32) equals f32's to the bit");
    CHECK(memcmp(dx32, dx16, (size_t)BATCH*NCOL*sizeof(float))==0 && dx16[1]==d32[9] && dx16[0]==0.0f,
          "its input gradient (f32: the continuous values' dy widened, 0 for codes) equals f32's to the bit");
    double want = 0;
    for(int i=0; i<BATCH; i++) if( codes2[i]==257 ) want += d32[i*11 + 4];
    CHECK(fabs(w16.grad[150000 + 257*2 + 1] - want) < 1e-6 && w16.grad[150000 + 256*2 + 1]==0.0f,
          "bf16 grad: code 257's row sums its 2 uses, code 256's row none");
  }
  free(dy);
done:
  run1_close(&r32);
  run1_close(&r16);
  param_free(&w32);
  param_free(&w16);
  free(w);
  free(x);
}

/* ---- whole nets, bf16 plumbing (lf_net_set_bf16_any_cpu) ---- */

static lf_net_node node(lf_layer_spec L, int nin, int a, int b){
  lf_net_node n;
  memset(&n, 0, sizeof n);
  n.layer = L; n.nin = nin; n.in[0] = a; n.in[1] = b;
  return n;
}

/* Copies f32 weights into net (rounded to bf16 if round_data), then bf16. */
static int load(lf_net *net, const float *const *w, int round_data, int bf16, char *err, size_t errlen){
  for(int i=0; i<lf_net_param_count(net); i++){
    lf_param *p = lf_net_param(net, i);
    for(int64_t k=0; k<p->n; k++) p->data[k] = round_data ? round16(w[i][k]) : w[i][k];
  }
  return bf16 ? lf_net_set_bf16_any_cpu(net, 1, err, errlen) : 0;
}

/* The same net in f32 (weights rounded) and bf16 (f32 masters): forward
** on x and backward on dy (rounded) agree to the bit: y16 == bf16(y32),
** every weight gradient equal. */
static void compare_nets(const char *name, lf_net *n32, lf_net *n16, const float *x, int batch,
                         int64_t ny, lf_rng *rng){
  char err[512];
  float *dy = randn(ny, rng);
  for(int64_t i=0; i<ny; i++) dy[i] = round16(dy[i]);
  const float *y32 = lf_net_forward(n32, x, batch, 1, NULL, err, sizeof err);
  CHECK(y32!=NULL, "%s: f32 forward (%s)", name, y32 ? "" : err);
  const float *y16 = lf_net_forward(n16, x, batch, 1, NULL, err, sizeof err);
  CHECK(y16!=NULL, "%s: bf16 forward of f32 ids (%s)", name, y16 ? "" : err);
  if( y32 && y16 ){
    int same = 1;
    for(int64_t i=0; i<ny; i++) same = same && same_bits(y16[i], round16(y32[i]));
    CHECK(same, "%s: bf16 output equals bf16(f32 output), to the bit", name);
    int b32 = lf_net_backward(n32, dy, batch, err, sizeof err);
    int b16 = b32 ? -1 : lf_net_backward(n16, dy, batch, err, sizeof err);
    CHECK(b32==0 && b16==0, "%s: backward in f32 and bf16 (%s)", name, b32 || b16 ? err : "");
    int g = b32==0 && b16==0;
    for(int i=0; g && i<lf_net_param_count(n32); i++){
      lf_param *p = lf_net_param(n32, i), *q = lf_net_param(n16, i);
      g = p->grad && q->grad && memcmp(p->grad, q->grad, (size_t)p->n*sizeof(float))==0;
    }
    CHECK(g, "%s: bf16 weight gradients equal f32's to the bit", name);
  }
  free(dy);
}

static void test_nets(void){
  char err[512];
  lf_rng rng;
  lf_rng_seed(&rng, 47);
  enum { T = 3, NC = 2, BATCH = 4, NUM = 40001, DIM = 4 };
  /* Input [ids(3) | continuous(2)]: Slice ids -> Embedding -> Flatten, and
  ** Slice continuous; Concat. The input holds ids (f32); the continuous
  ** Slice converts to bf16. */
  lf_layer_spec s_ids = spec("Slice"), s_cont = spec("Slice"), emb = spec("Embedding");
  ARG(s_ids, lf_slice_args)->start = 0; ARG(s_ids, lf_slice_args)->length = T;
  ARG(s_cont, lf_slice_args)->start = T; ARG(s_cont, lf_slice_args)->length = NC;
  lf_embedding_args *ea = ARG(emb, lf_embedding_args);
  ea->num_embeddings = NUM; ea->embedding_dim = DIM; ea->padding_idx = -1;
  lf_net_node N[5];
  N[0] = node(s_ids, 1, 0, 0);
  N[1] = node(emb, 1, 1, 0);
  N[2] = node(spec("Flatten"), 1, 2, 0);
  N[3] = node(s_cont, 1, 0, 0);
  N[4] = node(spec("Concat"), 2, 3, 4);
  lf_shape in = { 1, { T + NC } };
  lf_net_graph g = { 1, &in, 5, N, 5 };
  lf_net *n32 = lf_net_create_graph(&g, err, sizeof err);
  lf_net *n16 = n32 ? lf_net_create_graph(&g, err, sizeof err) : NULL;
  CHECK(n16!=NULL, "Graph [ids | continuous] -> Embedding(40001, 4) + Concat (%s)", n16 ? "" : err);
  if( n16 ){
    float *w = randn((int64_t)NUM*DIM, &rng);
    const float *ws[1] = { w };
    int rc = load(n32, ws, 1, 0, err, sizeof err) || load(n16, ws, 0, 1, err, sizeof err);
    CHECK(rc==0 && lf_net_is_bf16(n16) && !lf_net_takes_bf16(n16),
          "the net computes in bf16 but takes its input (ids) in f32 (%s)", rc ? err : "");
    static const float ids[BATCH][T] = { {300, 1000, 40000}, {257, 0, 39999}, {40000, 40000, 1}, {256, 300, 258} };
    float *x = randn((int64_t)BATCH*(T + NC), &rng);
    for(int i=0; i<BATCH; i++) for(int t=0; t<T; t++) x[i*(T + NC) + t] = ids[i][t];
    compare_nets("Graph Embedding + Concat", n32, n16, x, BATCH, (int64_t)BATCH*(T*DIM + NC), &rng);
    const float *y = lf_net_forward(n16, x, BATCH, 0, NULL, err, sizeof err);
    int rows = y!=NULL;
    for(int i=0; rows && i<BATCH; i++){
      for(int t=0; t<T; t++) for(int d=0; d<DIM; d++){
        rows = rows && same_bits(y[i*(T*DIM + NC) + t*DIM + d], round16(w[(int64_t)ids[i][t]*DIM + d]));
      }
      rows = rows && same_bits(y[i*(T*DIM + NC) + T*DIM + 1], round16(x[i*(T + NC) + T + 1]));
    }
    CHECK(rows, "ids 300, 1000, 40000 through the bf16 net select their own rows (%s)", y ? "" : err);
    uint16_t x16[T + NC] = { 0 };
    y = lf_net_forward_bf16(n16, x16, 1, 0, NULL, err, sizeof err);
    CHECK(y==NULL && strstr(err, "reads token ids in f32"), "bf16 input to it is refused: %s", y ? "(none)" : err);
    x[T + NC + 2] = 40001;
    y = lf_net_forward(n16, x, BATCH, 0, NULL, err, sizeof err);
    CHECK(y==NULL && strstr(err, "token id 40001 (sample 1, position 2) is outside [0, 40001)"),
          "an id out of range in the bf16 net: %s", y ? "(none)" : err);
    free(x);
    free(w);
  }
  lf_net_free(n32);
  lf_net_free(n16);

  /* CategoricalEmbedding first in a Sequential. */
  lf_layer_spec ce = spec("CategoricalEmbedding");
  lf_catemb_args *ca = ARG(ce, lf_catemb_args);
  ca->dim = 3; ca->ncols = 3; ca->card[0] = 45000; ca->card[1] = 0; ca->card[2] = 400;
  lf_shape in3 = { 1, { 3 } };
  n32 = lf_net_create(&ce, 1, &in3, err, sizeof err);
  n16 = n32 ? lf_net_create(&ce, 1, &in3, err, sizeof err) : NULL;
  CHECK(n16!=NULL, "Sequential [CategoricalEmbedding(45000, -, 400 codes)] (%s)", n16 ? "" : err);
  if( n16 ){
    float *w = randn((45000 + 400)*3, &rng);
    const float *ws[1] = { w };
    int rc = load(n32, ws, 1, 0, err, sizeof err) || load(n16, ws, 0, 1, err, sizeof err);
    CHECK(rc==0 && !lf_net_takes_bf16(n16), "a CategoricalEmbedding net in bf16 takes f32 codes (%s)", rc ? err : "");
    float x[BATCH*3] = { 300, 0.37f, 399,  44999, -1.5f, 257,  40000, 3.3f, 1000,  1000, 1e-3f, 0 };
    compare_nets("CategoricalEmbedding net", n32, n16, x, BATCH, BATCH*(3 + 3 + 1), &rng);
    free(w);
  }
  lf_net_free(n32);
  lf_net_free(n16);

  /* A net without ids still takes bf16 input (Slice, then Flatten). */
  lf_layer_spec sl = spec("Slice");
  ARG(sl, lf_slice_args)->start = 1; ARG(sl, lf_slice_args)->length = 2;
  lf_layer_spec chain[2] = { sl, spec("Flatten") };
  n16 = lf_net_create(chain, 2, &in3, err, sizeof err);
  int rc = n16 ? lf_net_set_bf16_any_cpu(n16, 1, err, sizeof err) : -1;
  CHECK(rc==0 && lf_net_takes_bf16(n16), "a bf16 net without ids takes bf16 input (%s)", rc ? err : "");
  if( rc==0 ){
    uint16_t x16[3] = { lf_bf16_from_f32(1.5f), lf_bf16_from_f32(-2.25f), lf_bf16_from_f32(1000.0f) };
    const float *y = lf_net_forward_bf16(n16, x16, 1, 0, NULL, err, sizeof err);
    CHECK(y && y[0]==-2.25f && y[1]==1000.0f, "... and slices it (%s)", y ? "" : err);
  }
  lf_net_free(n16);
}

int main(void){
  test_embedding_layer();
  test_catemb_layer();
  test_nets();
  TEST_EXIT();
}
