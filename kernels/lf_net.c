/*
** lf_net.c — a Sequential network: the layer list, its parameters, and the
** forward/backward driver over a small cache of per-batch-size builds.
**
** Everything a batch size needs (every layer's primitives and workspaces,
** every activation and activation gradient) is built the first time that
** size is seen and reused afterwards, so a training step allocates nothing
** and creates no primitive. Activations stay in the layout each layer chose
** (e.g. nChw16c through conv/relu/pool); only the net's output is reordered
** to plain, and only if the last layer left it blocked.
**
** Two rewrites save memory passes without changing any result: ReLU (or
** LeakyReLU) followed by MaxPool2d runs as MaxPool2d then the activation, on
** the pooled tensor; an activation right after Linear/Conv2d is applied by
** that layer as a post-op, and the activation layer itself becomes an
** in-place view whose backward works from its output.
**
** In bf16 (lf_net_set_bf16) activations and their gradients are bf16 from
** the input to the output, which is converted back to f32 for the caller.
**
** Ownership: the net owns its layers, parameters (plain row-major floats at
** fixed addresses, so optimisers may keep pointers), batch builds and its
** stream. The caller's x and dy are only read, never kept past the call.
*/
#include "lf_layer.h"
#include "lf_signals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything built for one batch size. Arrays have nlayers+1 entries for
** activations (act[0] is the caller's input) and nlayers for layers. */
typedef struct lf_net_batch {
  int batch;                   /* 0: free slot */
  uint64_t last_use;           /* for eviction when the cache is full */
  int nbuilt;                  /* layers whose build succeeded */
  void **state;                /* per layer, from ops->build */
  int *alias;                  /* per layer: output is its input reshaped */
  dnnl_memory_desc_t *md;      /* activation layouts */
  dnnl_memory_t *act;          /* activations */
  dnnl_memory_t *grad;         /* dL/dact; NULL where nobody needs it */
  dnnl_memory_t y_plain;       /* plain output if act[n] is not plain */
  lf_prim y_reorder;
  dnnl_memory_t dy_plain;      /* caller's dy if grad[n] is not plain */
  lf_prim dy_reorder;
  dnnl_memory_t x_f32;         /* caller's f32 x when act[0] is bf16 */
  lf_prim x_reorder;
  void *x_buf;                 /* act[0]'s own buffer in that case */
} lf_net_batch;

struct lf_net {
  int nlayers;
  lf_layer *layers;
  lf_shape in, out;
  int nparam;
  lf_param *params;            /* all layers' params, state_dict order */
  dnnl_stream_t stream;
  int want_input_grad;
  int *need_grad;              /* nlayers+1: grad[i] must be computed */
  lf_net_batch cache[LF_NET_MAX_BATCH_SIZES];
  uint64_t clock;
  lf_net_batch *trained;       /* build of the last training forward */
  int bf16;                    /* compute in bf16 (lf_net_set_bf16) */
};

/* ---- shapes ---- */

int lf_net_infer(const lf_layer_spec *layers, int nlayers, const lf_shape *in,
                 lf_shape *out, char *err, size_t errlen){
  lf_shape cur, next;
  char buf[64];
  int i;
  if( in==0 || in->ndim<1 || in->ndim>LF_MAX_DIMS || lf_shape_count(in)<1 ){
    snprintf(err, errlen, "bad input shape %s",
             in ? lf_shape_str(in, buf, sizeof buf) : "(none)");
    return 0;
  }
  cur = *in;
  for(i=0; i<nlayers; i++){
    const lf_layer_ops *ops = layers[i].ops;
    if( ops==0 || ops->infer==0 || ops->build==0 || ops->forward==0 ){
      snprintf(err, errlen, "layer has no implementation");
      return i;
    }
    memset(&next, 0, sizeof next);
    if( ops->infer(layers[i].args, &cur, 1, &next, err, errlen) ) return i;
    if( next.ndim<1 || next.ndim>LF_MAX_DIMS || lf_shape_count(&next)<1 ){
      snprintf(err, errlen, "%s produced an empty output from input %s",
               ops->loc, lf_shape_str(&cur, buf, sizeof buf));
      return i;
    }
    cur = next;
  }
  if( out ) *out = cur;
  return -1;
}

double lf_layer_param_values(const lf_layer_spec *l, const lf_shape *in){
  lf_param_decl decl[LF_LAYER_MAX_PARAMS];
  double total = 0;
  int n = l->ops && l->ops->params ? l->ops->params(l->args, in, decl) : 0;
  for(int i=0; i<n && i<LF_LAYER_MAX_PARAMS; i++){
    double c = 1;
    for(int d=0; d<decl[i].shape.ndim; d++) c *= (double)decl[i].shape.dim[d];
    total += c;
  }
  return total;
}

/* ---- the per-batch-size builds ---- */

static void lf_batch_free(lf_net *net, lf_net_batch *b){
  int i, n = net->nlayers;
  if( b->state ){
    for(i=0; i<b->nbuilt; i++){
      if( net->layers[i].ops->release ) net->layers[i].ops->release(b->state[i]);
    }
  }
  if( b->act ){
    for(i=0; i<=n; i++) if( b->act[i] ) dnnl_memory_destroy(b->act[i]);
  }
  if( b->grad ){
    for(i=0; i<=n; i++) if( b->grad[i] ) dnnl_memory_destroy(b->grad[i]);
  }
  if( b->y_plain ) dnnl_memory_destroy(b->y_plain);
  if( b->dy_plain ) dnnl_memory_destroy(b->dy_plain);
  if( b->x_f32 ) dnnl_memory_destroy(b->x_f32);
  lf_prim_free(&b->y_reorder);
  lf_prim_free(&b->dy_reorder);
  lf_prim_free(&b->x_reorder);
  free(b->x_buf);
  free(b->state);
  free(b->alias);
  free(b->md);
  free(b->act);
  free(b->grad);
  if( net->trained==b ) net->trained = 0;
  memset(b, 0, sizeof(*b));
}

/* Memory for activation i: its own buffer, or (alias) none yet: it will
** be pointed at the buffer it reshapes on every pass. */
static int lf_batch_buffer(dnnl_memory_t *m, const dnnl_memory_desc_t *md,
                           int alias, char *err, size_t errlen){
  return lf_dnnl_mem(m, md, alias ? DNNL_MEMORY_NONE : DNNL_MEMORY_ALLOCATE,
                     err, errlen);
}

/* ReLU or LeakyReLU with a slope >= 0: what Linear/Conv2d can apply as a
** post-op and whose backward can run from its output alone. */
static int lf_fusable_act(const lf_layer *L, float *alpha){
  if( L->ops==&lf_layer_relu ){ *alpha = 0.0f; return 1; }
  if( L->ops==&lf_layer_leakyrelu
   && ((const lf_leakyrelu_args*)L->args)->negative_slope>=0.0 ){
    *alpha = (float)((const lf_leakyrelu_args*)L->args)->negative_slope;
    return 1;
  }
  return 0;
}

/* Dense row-major f32: a layout the caller's buffers can be used in. */
static int lf_md_is_user(const dnnl_memory_desc_t *md){
  return md->data_type==dnnl_f32 && lf_dnnl_md_is_plain(md);
}

static int lf_batch_build(lf_net *net, lf_net_batch *b, int batch,
                          char *err, size_t errlen){
  int i, n = net->nlayers, fused_before = 0;
  char msg[400];
  dnnl_engine_t eng = lf_dnnl_engine(err, errlen);
  if( eng==0 ) return -1;
  memset(b, 0, sizeof(*b));
  b->batch = batch;
  b->state = calloc((size_t)n+1, sizeof(void*));
  b->alias = calloc((size_t)n+1, sizeof(int));
  b->md = calloc((size_t)n+1, sizeof(dnnl_memory_desc_t));
  b->act = calloc((size_t)n+1, sizeof(dnnl_memory_t));
  b->grad = calloc((size_t)n+1, sizeof(dnnl_memory_t));
  if( !b->state || !b->alias || !b->md || !b->act || !b->grad ){
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  /* The input wraps the caller's x, set on every forward. In bf16 it is
  ** bf16 too: lf_net_forward_bf16's x as is, or lf_net_forward's f32 x
  ** converted into x_buf. */
  if( lf_dnnl_md_dt(&b->md[0], batch, &net->in, 0,
                    net->bf16 ? dnnl_bf16 : dnnl_f32, err, errlen)
   || lf_dnnl_mem(&b->act[0], &b->md[0], DNNL_MEMORY_NONE, err, errlen) ){
    goto fail;
  }
  if( net->bf16 ){
    dnnl_memory_desc_t plain;
    b->x_buf = aligned_alloc(64, (dnnl_memory_desc_get_size(&b->md[0])+63) & ~(size_t)63);
    if( b->x_buf==0 ){ snprintf(err, errlen, "out of memory"); goto fail; }
    if( lf_dnnl_md(&plain, batch, &net->in, 0, err, errlen)
     || lf_dnnl_mem(&b->x_f32, &plain, DNNL_MEMORY_NONE, err, errlen)
     || lf_prim_reorder(&b->x_reorder, &plain, &b->md[0], err, errlen) ){
      goto fail;
    }
  }
  for(i=0; i<n; i++){
    const lf_layer *L = &net->layers[i];
    lf_layer_build lb;
    memset(&lb, 0, sizeof lb);
    lb.engine = eng;
    lb.batch = batch;
    lb.src_md = &b->md[i];
    lb.need_diff_src = net->need_grad[i];
    lb.bf16 = net->bf16;
    lb.fuse_act = i+1<n && lf_fusable_act(&net->layers[i+1], &lb.act_alpha);
    lb.act_fused_before = fused_before;
    if( L->ops->build(L, &lb, msg, sizeof msg) ){
      snprintf(err, errlen, "layer %d (%s): %s", i, L->ops->loc, msg);
      goto fail;
    }
    fused_before = lb.fuse_act && lb.act_fused;
    b->state[i] = lb.state;
    b->nbuilt = i+1;
    b->md[i+1] = lb.dst_md;
    b->alias[i] = lb.dst_is_src;
    if( lf_batch_buffer(&b->act[i+1], &b->md[i+1], lb.dst_is_src, err, errlen) ){
      goto fail;
    }
  }
  /* Gradients share the layouts of their activations; an aliasing layer's
  ** diff_src is its diff_dst reshaped. grad[n] may wrap the caller's dy. */
  for(i=0; i<=n; i++){
    int alias = i<n ? b->alias[i] : lf_md_is_user(&b->md[n]);
    if( !net->need_grad[i] ) continue;
    if( lf_batch_buffer(&b->grad[i], &b->md[i], alias, err, errlen) ) goto fail;
  }
  if( !lf_md_is_user(&b->md[n]) ){
    dnnl_memory_desc_t plain;
    if( lf_dnnl_md(&plain, batch, &net->out, 0, err, errlen)
     || lf_dnnl_mem(&b->y_plain, &plain, DNNL_MEMORY_ALLOCATE, err, errlen)
     || lf_prim_reorder(&b->y_reorder, &b->md[n], &plain, err, errlen)
     || lf_dnnl_mem(&b->dy_plain, &plain, DNNL_MEMORY_NONE, err, errlen)
     || lf_prim_reorder(&b->dy_reorder, &plain, &b->md[n], err, errlen) ){
      goto fail;
    }
  }
  return 0;
fail:
  lf_batch_free(net, b);
  return -1;
}

/* The build for `batch`, made if needed (evicting the least recently used
** one when the cache is full). */
static lf_net_batch *lf_batch_get(lf_net *net, int batch, char *err,
                                  size_t errlen){
  lf_net_batch *b = 0;
  int i;
  for(i=0; i<LF_NET_MAX_BATCH_SIZES; i++){
    if( net->cache[i].batch==batch ){ b = &net->cache[i]; break; }
  }
  if( b==0 ){
    for(i=0; i<LF_NET_MAX_BATCH_SIZES; i++){
      lf_net_batch *c = &net->cache[i];
      if( c->batch==0 ){ b = c; break; }
      if( b==0 || c->last_use<b->last_use ) b = c;
    }
    if( b->batch ) lf_batch_free(net, b);
    if( lf_batch_build(net, b, batch, err, errlen) ) return 0;
  }
  b->last_use = ++net->clock;
  return b;
}

static void lf_cache_clear(lf_net *net){
  int i;
  for(i=0; i<LF_NET_MAX_BATCH_SIZES; i++){
    if( net->cache[i].batch ) lf_batch_free(net, &net->cache[i]);
  }
}

/* Which activation gradients backward computes: dL/dinput only on request,
** and nothing below the first layer that has something to learn. */
static void lf_net_plan_grads(lf_net *net){
  int i, j;
  net->need_grad[0] = net->want_input_grad;
  for(i=0; i<net->nlayers; i++){
    int learns = 0;
    for(j=0; j<net->layers[i].nparam; j++){
      if( net->layers[i].param[j]->grad ) learns = 1;
    }
    net->need_grad[i+1] = net->need_grad[i] || learns;
  }
}

/* ---- creation ---- */

static float *lf_floats(int64_t n){
  /* 64-byte alignment suits AVX-512 loads of weights used in place. */
  size_t bytes = (size_t)(n>0 ? n : 1) * sizeof(float);
  float *p;
  bytes = (bytes + 63) & ~(size_t)63;
  p = aligned_alloc(64, bytes);
  if( p ) memset(p, 0, bytes);
  return p;
}

lf_net *lf_net_create(const lf_layer_spec *layers, int nlayers,
                      const lf_shape *in, char *err, size_t errlen){
  lf_net *net;
  lf_param_decl decl[LF_LAYER_MAX_PARAMS];
  lf_shape cur;
  dnnl_engine_t eng;
  int i, j, total = 0;

  if( nlayers<0 || (nlayers>0 && layers==0) ){
    snprintf(err, errlen, "bad layer list");
    return 0;
  }
  if( lf_net_infer(layers, nlayers, in, &cur, err, errlen)>=0 ) return 0;
  eng = lf_dnnl_engine(err, errlen);
  if( eng==0 ) return 0;
  net = calloc(1, sizeof(*net));
  if( net==0 ){ snprintf(err, errlen, "out of memory"); return 0; }
  net->nlayers = nlayers;
  net->in = *in;
  net->out = cur;
  net->layers = calloc((size_t)nlayers+1, sizeof(lf_layer));
  net->need_grad = calloc((size_t)nlayers+1, sizeof(int));
  if( net->layers==0 || net->need_grad==0 ) goto oom;

  /* Shapes again, this time keeping them, and the parameter count. */
  cur = *in;
  for(i=0; i<nlayers; i++){
    lf_layer *L = &net->layers[i];
    L->ops = layers[i].ops;
    L->args = layers[i].args;
    L->index = i;
    /* ReLU then MaxPool2d runs as MaxPool2d then ReLU: max commutes with a
    ** non-decreasing activation, the argmax (first maximum) and hence the
    ** gradient are the same, and the activation and its backward touch a
    ** tensor kernel^2 times smaller. Neither layer has parameters, so no
    ** parameter name changes. */
    if( i+1<nlayers && layers[i+1].ops==&lf_layer_maxpool2d ){
      float alpha;
      lf_layer tmp;
      tmp.ops = layers[i].ops;
      tmp.args = layers[i].args;
      if( lf_fusable_act(&tmp, &alpha) ){
        L->ops = layers[i+1].ops;
        L->args = layers[i+1].args;
        L->in = cur;
        L->ops->infer(L->args, &L->in, 1, &L->out, err, errlen);
        L->nparam = 0;
        cur = L->out;
        i++;
        L = &net->layers[i];
        L->ops = layers[i-1].ops;
        L->args = layers[i-1].args;
        L->index = i;
      }
    }
    L->in = cur;
    L->ops->infer(L->args, &L->in, 1, &L->out, err, errlen);
    cur = L->out;
    L->nparam = L->ops->params ? L->ops->params(L->args, &L->in, decl) : 0;
    if( L->nparam<0 || L->nparam>LF_LAYER_MAX_PARAMS ){
      snprintf(err, errlen, "layer %d (%s): bad parameter count", i,
               L->ops->loc);
      lf_net_free(net);
      return 0;
    }
    total += L->nparam;
  }
  net->params = calloc((size_t)total+1, sizeof(lf_param));
  if( net->params==0 ) goto oom;
  for(i=0; i<nlayers; i++){
    lf_layer *L = &net->layers[i];
    if( L->ops->params ) L->ops->params(L->args, &L->in, decl);
    for(j=0; j<L->nparam; j++){
      lf_param *p = &net->params[net->nparam++];
      snprintf(p->name, sizeof p->name, "%d.%s", i, decl[j].suffix);
      p->shape = decl[j].shape;
      p->n = lf_shape_count(&decl[j].shape);
      /* PyTorch's optimisers decay every parameter they are given. */
      p->decay = decl[j].trainable;
      p->data = lf_floats(p->n);
      if( p->data==0 ) goto oom;
      if( decl[j].trainable ){
        p->grad = lf_floats(p->n);
        if( p->grad==0 ) goto oom;
      }
      L->param[j] = p;
    }
  }
  lf_net_plan_grads(net);
  if( lf_dnnl_check(dnnl_stream_create(&net->stream, eng,
                    dnnl_stream_default_flags), "oneDNN stream", err, errlen) ){
    net->stream = 0;
    lf_net_free(net);
    return 0;
  }
  return net;
oom:
  snprintf(err, errlen, "out of memory");
  lf_net_free(net);
  return 0;
}

void lf_net_free(lf_net *net){
  int i;
  if( net==0 ) return;
  lf_cache_clear(net);
  for(i=0; i<net->nparam; i++){
    free(net->params[i].data);
    free(net->params[i].grad);
    free(net->params[i].data16);
  }
  free(net->params);
  free(net->layers);
  free(net->need_grad);
  if( net->stream ) dnnl_stream_destroy(net->stream);
  free(net);
}

void lf_net_init_params(lf_net *net, lf_rng *rng){
  int i, j;
  for(i=0; i<net->nlayers; i++){
    lf_layer *L = &net->layers[i];
    if( L->ops->init ){
      L->ops->init(L, rng);
    }else{
      for(j=0; j<L->nparam; j++) lf_fill_const(L->param[j]->data, L->param[j]->n, 0);
    }
  }
}

int lf_net_param_count(const lf_net *net){ return net->nparam; }

lf_param *lf_net_param(lf_net *net, int i){
  return i>=0 && i<net->nparam ? &net->params[i] : 0;
}

lf_shape lf_net_in_shape(const lf_net *net){ return net->in; }
lf_shape lf_net_out_shape(const lf_net *net){ return net->out; }

/* ---- passes ---- */

static int lf_set_handle(dnnl_memory_t m, const void *p, char *err,
                         size_t errlen){
  return lf_dnnl_check(dnnl_memory_set_data_handle(m, (void*)p),
                       "oneDNN set buffer", err, errlen);
}

/* x16: x holds bf16 values (only in bf16 mode). */
static const float *lf_forward(lf_net *net, const void *x, int x16, int batch,
                               int training, lf_rng *rng,
                               char *err, size_t errlen){
  lf_net_batch *b;
  lf_layer_run r;
  char msg[400];
  int i, n = net->nlayers;

  if( batch<1 || x==0 ){
    snprintf(err, errlen, "forward needs a batch of at least 1 sample");
    return 0;
  }
  if( x16 && !net->bf16 ){
    snprintf(err, errlen, "bf16 input to a net that computes in f32");
    return 0;
  }
  net->trained = 0;
  b = lf_batch_get(net, batch, err, errlen);
  if( b==0 ) return 0;
  if( net->bf16 && !x16 ){
    dnnl_exec_arg_t a[2];
    a[0].arg = DNNL_ARG_FROM; a[0].memory = b->x_f32;
    a[1].arg = DNNL_ARG_TO;   a[1].memory = b->act[0];
    if( lf_set_handle(b->x_f32, x, err, errlen)
     || lf_set_handle(b->act[0], b->x_buf, err, errlen)
     || lf_prim_run(&b->x_reorder, net->stream, 2, a, "input conversion",
                    err, errlen) ) return 0;
  }else if( lf_set_handle(b->act[0], x, err, errlen) ){
    return 0;
  }
  memset(&r, 0, sizeof r);
  r.stream = net->stream;
  r.batch = batch;
  r.training = training;
  r.rng = rng;
  for(i=0; i<n; i++){
    const lf_layer *L = &net->layers[i];
    if( b->alias[i]
     && lf_set_handle(b->act[i+1], lf_dnnl_ptr(b->act[i]), err, errlen) ){
      return 0;
    }
    r.src = b->act[i];
    r.dst = b->act[i+1];
    if( L->ops->forward(L, b->state[i], &r, msg, sizeof msg) ){
      snprintf(err, errlen, "layer %d (%s): %s", i, L->ops->loc, msg);
      return 0;
    }
  }
  if( b->y_plain ){
    dnnl_exec_arg_t a[2];
    a[0].arg = DNNL_ARG_FROM; a[0].memory = b->act[n];
    a[1].arg = DNNL_ARG_TO;   a[1].memory = b->y_plain;
    if( lf_prim_run(&b->y_reorder, net->stream, 2, a, "output reorder",
                    err, errlen) ) return 0;
  }
  if( lf_dnnl_check(dnnl_stream_wait(net->stream), "forward", err, errlen) ){
    return 0;
  }
  if( training ) net->trained = b;
  return lf_dnnl_ptr(b->y_plain ? b->y_plain : b->act[n]);
}

/* Passes hold signals once around all their primitives (lf_signals.h). */
const float *lf_net_forward(lf_net *net, const float *x, int batch,
                            int training, lf_rng *rng,
                            char *err, size_t errlen){
  const float *y;
  lf_signals_hold();
  y = lf_forward(net, x, 0, batch, training, rng, err, errlen);
  lf_signals_release();
  return y;
}

const float *lf_net_forward_bf16(lf_net *net, const uint16_t *x, int batch,
                                 int training, lf_rng *rng,
                                 char *err, size_t errlen){
  const float *y;
  lf_signals_hold();
  y = lf_forward(net, x, 1, batch, training, rng, err, errlen);
  lf_signals_release();
  return y;
}

/* ---- precision ---- */

int lf_bf16_supported(void){
  /* oneDNN's own dispatcher decides which kernels run; asking it avoids
  ** disagreeing with it (e.g. ONEDNN_MAX_CPU_ISA capping the ISA). */
  unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
  unsigned need = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
  return (isa & need)==need;
}

int lf_net_is_bf16(const lf_net *net){ return net->bf16; }

void lf_net_sync_bf16(lf_net *net){
  int i;
  if( !net->bf16 ) return;
  for(i=0; i<net->nparam; i++){
    lf_param *p = &net->params[i];
    if( p->data16 ) lf_bf16_from_f32_n(p->data16, p->data, p->n);
  }
}

int lf_net_set_bf16(lf_net *net, int on, char *err, size_t errlen){
  int i;
  on = on!=0;
  if( on==net->bf16 ){ lf_net_sync_bf16(net); return 0; }
  if( on && !lf_bf16_supported() ){
    snprintf(err, errlen, "precision \"bf16\" needs a CPU with AVX-512 "
             "BF16 instructions (avx512_bf16: Intel Cooper Lake, Sapphire "
             "Rapids or later, AMD Zen 4 or later); this one has none, use "
             "\"f32\"");
    return -1;
  }
  lf_cache_clear(net);
  for(i=0; i<net->nparam; i++){
    lf_param *p = &net->params[i];
    free(p->data16);
    p->data16 = 0;
    if( on && p->grad ){
      size_t bytes = ((size_t)p->n * sizeof(uint16_t) + 63) & ~(size_t)63;
      p->data16 = aligned_alloc(64, bytes);
      if( p->data16==0 ){
        int j;
        for(j=0; j<net->nparam; j++){ free(net->params[j].data16); net->params[j].data16 = 0; }
        snprintf(err, errlen, "out of memory");
        return -1;
      }
    }
  }
  net->bf16 = on;
  lf_net_sync_bf16(net);
  return 0;
}

static int lf_backward(lf_net *net, const float *dy, int batch,
                       char *err, size_t errlen){
  lf_net_batch *b = net->trained;
  lf_layer_run r;
  char msg[400];
  int i, n = net->nlayers;

  if( b==0 || b->batch!=batch ){
    snprintf(err, errlen, "backward needs a training forward on the same "
             "batch of %d samples first", batch);
    return -1;
  }
  if( dy==0 ){
    snprintf(err, errlen, "backward needs dL/doutput");
    return -1;
  }
  if( b->dy_plain ){
    dnnl_exec_arg_t a[2];
    a[0].arg = DNNL_ARG_FROM; a[0].memory = b->dy_plain;
    a[1].arg = DNNL_ARG_TO;   a[1].memory = b->grad[n];
    if( lf_set_handle(b->dy_plain, dy, err, errlen)
     || lf_prim_run(&b->dy_reorder, net->stream, 2, a, "gradient reorder",
                    err, errlen) ) return -1;
  }else if( b->grad[n] ){
    if( lf_set_handle(b->grad[n], dy, err, errlen) ) return -1;
  }
  memset(&r, 0, sizeof r);
  r.stream = net->stream;
  r.batch = batch;
  r.training = 1;
  for(i=n-1; i>=0; i--){
    const lf_layer *L = &net->layers[i];
    if( !net->need_grad[i+1] ) break;   /* nothing below learns */
    if( b->alias[i] && b->grad[i]
     && lf_set_handle(b->grad[i], lf_dnnl_ptr(b->grad[i+1]), err, errlen) ){
      return -1;
    }
    r.src = b->act[i];
    r.dst = b->act[i+1];
    r.diff_dst = b->grad[i+1];
    r.diff_src = b->grad[i];
    if( L->ops->backward && L->ops->backward(L, b->state[i], &r, msg, sizeof msg) ){
      snprintf(err, errlen, "layer %d (%s): %s", i, L->ops->loc, msg);
      return -1;
    }
  }
  return lf_dnnl_check(dnnl_stream_wait(net->stream), "backward", err, errlen);
}

int lf_net_backward(lf_net *net, const float *dy, int batch,
                    char *err, size_t errlen){
  int rc;
  lf_signals_hold();
  rc = lf_backward(net, dy, batch, err, errlen);
  lf_signals_release();
  return rc;
}

/* ---- test hooks ---- */

void lf_net_want_input_grad(lf_net *net, int on){
  if( net->want_input_grad==(on!=0) ) return;
  lf_cache_clear(net);
  net->want_input_grad = on!=0;
  lf_net_plan_grads(net);
}

const float *lf_net_input_grad(lf_net *net, int batch){
  int i;
  for(i=0; i<LF_NET_MAX_BATCH_SIZES; i++){
    lf_net_batch *b = &net->cache[i];
    if( b->batch==batch && b->grad && b->grad[0] ) return lf_dnnl_ptr(b->grad[0]);
  }
  return 0;
}
