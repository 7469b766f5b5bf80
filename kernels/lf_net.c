/*
** lf_net.c — a network: a graph of layers (a Sequential is the chain), its
** parameters, and the forward/backward driver over a small cache of
** per-batch-size builds.
**
** Values are numbered as in lf_net_graph: the inputs, then each node's
** output. Everything a batch size needs (every layer's primitives and
** workspaces, every activation and activation gradient) is built the first
** time that size is seen and reused afterwards, so a training step
** allocates nothing and creates no primitive. Activations stay in the
** layout each layer chose (e.g. nChw16c through conv/relu/pool); only the
** net's output is reordered to plain, and only if it was left blocked.
**
** A value read by several nodes (a residual's input, an input used twice)
** gets one gradient buffer per reader; before the backward of the node that
** made the value, a oneDNN sum adds them into the value's gradient.
** Where a node's input gradient is its output gradient as it is (the
** built-in Add, for an input in its output's layout), that input gets no
** buffer of its own: it is pointed at the output gradient's buffer on
** every backward pass, as for a reshape, and Add copies nothing. A value
** read by a stride-1 convolution and one later node has no sum either
** where it is safe (lf_may_accumulate): the later node writes (or hands
** on) the gradient buffer, the convolution adds its diff_src into it with
** a sum post-op (layer_conv.c, lf_conv_accumulate_diff_src), the
** ResNet's identity blocks one pass over the tensor less each.
**
** Sums run in place where nothing reads what they overwrite: an Add of
** two inputs writes over its first input when a BatchNorm (no fused
** activation) made it for this Add alone (lf_add_in_place), and a value's
** two gradient parts in buffers of their own are summed into the first.
** Where one of two readers is a 1x1 strided Conv2d (a ResNet shortcut),
** its part holds only the pixels it visits, added into the other part's
** (lf_conv_compact_diff_src): no tensor of zeros written and summed.
**
** Two rewrites save memory passes without changing any result: ReLU (or
** LeakyReLU) whose only reader is MaxPool2d runs as MaxPool2d then the
** activation, on the pooled tensor; an activation that is the only reader
** of a Linear/Conv2d output is applied by that layer as a post-op, and the
** activation layer itself becomes an in-place view whose backward works
** from its output. A ReLU that is the only reader of a BatchNorm output is
** applied by the BatchNorm (fuse_norm_relu), backward included: the ReLU
** is then a view that does nothing either way.
**
** In bf16 (lf_net_set_bf16) activations and their gradients are bf16 from
** the inputs to the output, which is converted back to f32 for the caller.
** Token ids and category codes are the exception: a value that reaches an
** Embedding or CategoricalEmbedding through layers that keep it as it is
** (Slice, Reshape, Identity, Flatten) stays f32 (bf16 holds integers
** exactly only up to 256), an input among them included; a Slice that
** reads such an input for the other layers converts its part to bf16.
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

#define MAXIN LF_LAYER_MAX_INPUTS

/* Everything built for one batch size. Per value: md, act, grad (and sum
** when the value has several readers); per node: state, alias, and part
** (MAXIN slots: the node's own diff_src for a value with several readers). */
typedef struct lf_net_batch {
  int batch;                   /* 0: free slot */
  uint64_t last_use;           /* for eviction when the cache is full */
  int nbuilt;                  /* nodes whose build succeeded */
  void **state;                /* per node, from ops->build */
  int *alias;                  /* per node: output is its input reshaped */
  int *inplace;                /* per node: an Add writing over input 0's
                               ** buffer (lf_add_in_place) */
  int *sum_in_place;           /* per value: its two gradient parts are
                               ** summed into the first one's buffer */
  int *compact;                /* per value: 1 + the slot (node*MAXIN + k)
                               ** whose part holds only the pixels a 1x1
                               ** strided conv visits; 0: none */
  dnnl_memory_t *visited;      /* per value with compact: those pixels of
                               ** the other part's buffer (a view) */
  unsigned *pass;              /* per node: bit k, input k's gradient is
                               ** the output gradient's buffer */
  int *accum;                  /* per value read twice: the first reader's
                               ** backward adds its part into grad[v],
                               ** where the second put its own (no sum) */
  dnnl_memory_desc_t *md;      /* per value: layouts */
  dnnl_memory_t *act;          /* per value: activations */
  dnnl_memory_t *grad;         /* per value: dL/dvalue; NULL if not needed */
  dnnl_memory_t *part;         /* per node x MAXIN */
  lf_prim *sum;                /* per value read more than once */
  dnnl_memory_t y_plain;       /* plain output if act[output] is not plain */
  lf_prim y_reorder;
  dnnl_memory_t dy_plain;      /* caller's dy if grad[output] is not plain */
  lf_prim dy_reorder;
  dnnl_memory_t *x_f32;        /* per input: caller's f32 x when act is bf16 */
  lf_prim *x_reorder;
  void **x_buf;                /* per input: act's own buffer in that case */
} lf_net_batch;

struct lf_net {
  int ninputs, nnodes, nvalues;
  lf_layer *layers;            /* per node */
  int *node_in;                /* per node x MAXIN: value ids read */
  char **names;                /* per node: parameter prefix */
  lf_shape *inputs;            /* per input */
  lf_shape out;
  int output;                  /* value id */
  int *readers;                /* per value: (node, slot) pairs reading it */
  int nparam;
  lf_param *params;            /* all layers' params, state_dict order */
  dnnl_stream_t stream;
  int want_input_grad;
  int *need_grad;              /* per value: its gradient must be computed */
  lf_net_batch cache[LF_NET_MAX_BATCH_SIZES];
  uint64_t clock;
  lf_net_batch *trained;       /* build of the last training forward */
  int bf16;                    /* compute in bf16 (lf_net_set_bf16) */
  int *ids;                    /* per value: holds ids an Embedding reads,
                               ** so stays f32 in bf16 (lf_net_plan_ids) */
};

static int lf_out_value(const lf_net *net, int j){ return net->ninputs + j; }
static int lf_in_value(const lf_net *net, int j, int k){ return net->node_in[j*MAXIN + k]; }

/* ---- shapes ---- */

static int lf_shape_ok(const lf_shape *s){
  return s->ndim>=1 && s->ndim<=LF_MAX_DIMS && lf_shape_count(s)>=1;
}

int lf_net_graph_infer(const lf_net_graph *g, lf_shape *shapes, lf_shape *out,
                       char *err, size_t errlen){
  char buf[64];
  int nv, i, k;
  lf_shape *v;
  if( g==0 || g->ninputs<1 || g->nnodes<0 || (g->nnodes>0 && g->nodes==0) ){
    snprintf(err, errlen, "bad graph");
    return 0;
  }
  for(i=0; i<g->ninputs; i++){
    if( !lf_shape_ok(&g->inputs[i]) ){
      snprintf(err, errlen, "bad input shape %s",
               lf_shape_str(&g->inputs[i], buf, sizeof buf));
      return 0;
    }
  }
  nv = g->ninputs + g->nnodes;
  v = shapes ? shapes : calloc((size_t)nv, sizeof(lf_shape));
  if( v==0 ){ snprintf(err, errlen, "out of memory"); return 0; }
  for(i=0; i<g->ninputs; i++) v[i] = g->inputs[i];
  for(i=0; i<g->nnodes; i++){
    const lf_net_node *n = &g->nodes[i];
    const lf_layer_ops *ops = n->layer.ops;
    lf_shape ins[MAXIN], next;
    if( ops==0 || ops->infer==0 || ops->build==0 || ops->forward==0 ){
      snprintf(err, errlen, "layer has no implementation");
      goto bad;
    }
    if( n->nin<1 || n->nin>MAXIN || (!ops->multi_input && n->nin!=1)
     || (ops->multi_input==LF_LAYER_INPUT_AND_MASK && n->nin>2) ){
      snprintf(err, errlen, "%s takes %s, got %d", ops->loc,
               ops->multi_input==LF_LAYER_INPUT_AND_MASK ? "its input and optionally a mask"
               : ops->multi_input ? "2 or more inputs" : "one input", n->nin);
      goto bad;
    }
    for(k=0; k<n->nin; k++){
      if( n->in[k]<0 || n->in[k]>=g->ninputs+i ){
        snprintf(err, errlen, "%s reads value %d, which is not made before it",
                 ops->loc, n->in[k]);
        goto bad;
      }
      ins[k] = v[n->in[k]];
    }
    memset(&next, 0, sizeof next);
    if( ops->infer(n->layer.args, ins, n->nin, &next, err, errlen) ) goto bad;
    if( !lf_shape_ok(&next) ){
      snprintf(err, errlen, "%s produced an empty output from input %s",
               ops->loc, lf_shape_str(&ins[0], buf, sizeof buf));
      goto bad;
    }
    v[g->ninputs+i] = next;
    continue;
  bad:
    if( v!=shapes ) free(v);
    return i;
  }
  if( g->output<0 || g->output>=nv ){
    snprintf(err, errlen, "the output is not a value of the graph");
    if( v!=shapes ) free(v);
    return g->nnodes>0 ? g->nnodes-1 : 0;
  }
  if( out ) *out = v[g->output];
  if( v!=shapes ) free(v);
  return -1;
}

/* The chain of a Sequential: node i reads value i. */
static lf_net_node *lf_chain(const lf_layer_spec *layers, int nlayers){
  lf_net_node *nodes = calloc((size_t)nlayers+1, sizeof(lf_net_node));
  if( nodes==0 ) return 0;
  for(int i=0; i<nlayers; i++){
    nodes[i].layer = layers[i];
    nodes[i].nin = 1;
    nodes[i].in[0] = i;
  }
  return nodes;
}

int lf_net_infer(const lf_layer_spec *layers, int nlayers, const lf_shape *in,
                 lf_shape *out, char *err, size_t errlen){
  lf_net_node *nodes;
  lf_net_graph g;
  int rc;
  if( nlayers<0 || (nlayers>0 && layers==0) || in==0 ){
    snprintf(err, errlen, "bad layer list");
    return 0;
  }
  nodes = lf_chain(layers, nlayers);
  if( nodes==0 ){ snprintf(err, errlen, "out of memory"); return 0; }
  g.ninputs = 1; g.inputs = in; g.nnodes = nlayers; g.nodes = nodes;
  g.output = nlayers;
  rc = lf_net_graph_infer(&g, 0, out, err, errlen);
  free(nodes);
  return rc;
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

static void lf_mem_free(dnnl_memory_t *m, int n){
  if( m==0 ) return;
  for(int i=0; i<n; i++) if( m[i] ) dnnl_memory_destroy(m[i]);
}

static void lf_batch_free(lf_net *net, lf_net_batch *b){
  int i;
  if( b->state ){
    for(i=0; i<b->nbuilt; i++){
      if( net->layers[i].ops->release ) net->layers[i].ops->release(b->state[i]);
    }
  }
  lf_mem_free(b->act, net->nvalues);
  lf_mem_free(b->grad, net->nvalues);
  lf_mem_free(b->part, net->nnodes*MAXIN);
  lf_mem_free(b->x_f32, net->ninputs);
  if( b->sum ) for(i=0; i<net->nvalues; i++) lf_prim_free(&b->sum[i]);
  if( b->x_reorder ) for(i=0; i<net->ninputs; i++) lf_prim_free(&b->x_reorder[i]);
  if( b->x_buf ) for(i=0; i<net->ninputs; i++) free(b->x_buf[i]);
  if( b->y_plain ) dnnl_memory_destroy(b->y_plain);
  if( b->dy_plain ) dnnl_memory_destroy(b->dy_plain);
  lf_prim_free(&b->y_reorder);
  lf_prim_free(&b->dy_reorder);
  free(b->state);
  free(b->alias);
  free(b->inplace);
  free(b->sum_in_place);
  for(int v=0; b->visited && v<net->nvalues; v++){
    if( b->visited[v] ) dnnl_memory_destroy(b->visited[v]);
  }
  free(b->compact);
  free(b->visited);
  free(b->pass);
  free(b->accum);
  free(b->md);
  free(b->act);
  free(b->grad);
  free(b->part);
  free(b->sum);
  free(b->x_f32);
  free(b->x_reorder);
  free(b->x_buf);
  if( net->trained==b ) net->trained = 0;
  memset(b, 0, sizeof(*b));
}

/* Memory of a value: its own buffer, or (alias) none yet: it will be
** pointed at the buffer it reshapes on every pass. */
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

/* The only node reading value v, or -1 (none, or several). */
static int lf_only_reader(const lf_net *net, int v){
  if( net->readers[v]!=1 ) return -1;
  for(int j=0; j<net->nnodes; j++){
    for(int k=0; k<net->layers[j].nin; k++){
      if( lf_in_value(net, j, k)==v ) return j;
    }
  }
  return -1;
}

/* The first node reading v, or -1. */
static int lf_first_reader(const lf_net *net, int v){
  for(int j=0; j<net->nnodes; j++){
    for(int k=0; k<net->layers[j].nin; k++){
      if( lf_in_value(net, j, k)==v ) return j;
    }
  }
  return -1;
}

/* The reader of v (read by exactly two nodes) that comes after node i,
** or -1 if i is not the earlier of the two or reads v more than once. */
static int lf_later_reader(const lf_net *net, int v, int i){
  int later = -1, mine = 0;
  if( net->readers[v]!=2 ) return -1;
  for(int j=0; j<net->nnodes; j++){
    for(int k=0; k<net->layers[j].nin; k++){
      if( lf_in_value(net, j, k)!=v ) continue;
      if( j==i ) mine++;
      else if( j<i ) return -1;
      else later = j;
    }
  }
  return mine==1 ? later : -1;
}

/* Dense row-major f32: a layout the caller's buffers can be used in. */
static int lf_md_is_user(const dnnl_memory_desc_t *md){
  return md->data_type==dnnl_f32 && lf_dnnl_md_is_plain(md);
}

/* The node whose part of v's gradient is v's gradient buffer: v's only
** reader, or for a value whose two parts meet by accumulation, the later
** reader (the earlier one adds into it); -1 if neither. */
static int lf_buffer_reader(const lf_net *net, const lf_net_batch *b, int v){
  return b->accum[v] ? lf_later_reader(net, v, lf_first_reader(net, v))
                     : lf_only_reader(net, v);
}

/* The value whose gradient buffer v's gradient lives in: v itself, or,
** where v's only reader (or, for a value whose parts meet by
** accumulation, its later reader) hands v its own output gradient's
** buffer (a view, or an Add passing it on), that output's root. */
static int lf_grad_root(const lf_net *net, const lf_net_batch *b, int v){
  for(;;){
    if( v==net->output || (net->readers[v]!=1 && !b->accum[v]) ) return v;
    int r = lf_buffer_reader(net, b, v), shared = 0;
    for(int k=0; r>=0 && k<net->layers[r].nin; k++){
      if( lf_in_value(net, r, k)==v && ((b->alias[r] && k==0) || (b->pass[r]>>k & 1)) ) shared = 1;
    }
    if( !shared ) return v;
    v = lf_out_value(net, r);
  }
}

/* 1 if node i, the earlier of v's two readers, may add its diff_src into
** the buffer where the later reader j puts its part (backward runs j
** first). If that buffer is j's own output gradient's (a view), others
** may share it: every value whose gradient or summed part lives there
** must have been read by its producer before i runs (the producer comes
** after i; i's own output gradient must not be one), and it must not be
** the caller's dy. */
static int lf_may_accumulate(const lf_net *net, lf_net_batch *b, int i, int v){
  int ni = net->ninputs, nv = net->nvalues, j = lf_later_reader(net, v, i), root;
  if( v<ni || !net->need_grad[v] || lf_in_value(net, i, 0)!=v || j<0 ) return 0;
  b->accum[v] = 1;                      /* as if decided, to find the root */
  root = lf_grad_root(net, b, v);
  b->accum[v] = 0;
  if( root==v ) return 1;               /* a buffer of its own */
  if( root==net->output && lf_md_is_user(&b->md[root]) ) return 0;
  for(int w=0; w<nv; w++){
    if( w==v || !net->need_grad[w] ) continue;
    if( (net->readers[w]==1 || b->accum[w] || w==net->output)
     && lf_grad_root(net, b, w)==root && (w<ni || w-ni<=i) ) return 0;
    if( net->readers[w]<2 || b->accum[w] ) continue;
    for(int r=0; r<net->nnodes; r++){   /* parts of a summed gradient */
      for(int k=0; k<net->layers[r].nin; k++){
        if( lf_in_value(net, r, k)!=w
         || !((b->alias[r] && k==0) || (b->pass[r]>>k & 1)) ) continue;
        if( lf_grad_root(net, b, lf_out_value(net, r))==root && (w<ni || w-ni<=i) ) return 0;
      }
    }
  }
  return 1;
}

/* 1 if md holds no padding (e.g. nChw16c with a channel count that is a
** multiple of 16): oneDNN 2.6's binary add run in place, with a ReLU
** post-op, leaves some elements of a padded blocked tensor unchanged
** (2 or 24 channels in nChw16c; checked by hand), so only these run so. */
static int lf_md_unpadded(const dnnl_memory_desc_t *md){
  for(int d=0; d<md->ndims; d++) if( md->padded_dims[d]!=md->dims[d] ) return 0;
  return 1;
}

/* 1 if node i, an Add of two inputs, may write its sum over input 0's
** buffer: a value only this Add reads, in the Add's own layout, made by a
** BatchNorm without a fused activation (whose backward reads its input
** and statistics, never its output). oneDNN's binary add runs in place on
** its first source, and writing over a tensor just read costs about half
** of writing a fresh one (which the CPU reads in first): the ResNet's
** residual sums, 0.4 against 0.6-0.8 ms on a 6.4 MB f32 tensor. */
static int lf_add_in_place(const lf_net *net, const lf_net_batch *b,
                           const int *fused, int i){
  const lf_layer *L = &net->layers[i];
  int u = lf_in_value(net, i, 0), p = u - net->ninputs;
  if( L->ops!=&lf_layer_add || L->nin!=2 || p<0 || u==net->output
   || net->readers[u]!=1 || b->alias[p] || fused[p] ) return 0;
  if( net->layers[p].ops!=&lf_layer_batchnorm2d
   && net->layers[p].ops!=&lf_layer_batchnorm1d ) return 0;
  return dnnl_memory_desc_equal(&b->md[u], &b->md[lf_out_value(net, i)])
      && lf_md_unpadded(&b->md[u]);
}

static int lf_batch_build(lf_net *net, lf_net_batch *b, int batch,
                          char *err, size_t errlen){
  int i, k, n = net->nnodes, nv = net->nvalues, ni = net->ninputs;
  int *fused = 0;
  char msg[400];
  dnnl_engine_t eng = lf_dnnl_engine(err, errlen);
  if( eng==0 ) return -1;
  memset(b, 0, sizeof(*b));
  b->batch = batch;
  b->state = calloc((size_t)n+1, sizeof(void*));
  b->alias = calloc((size_t)n+1, sizeof(int));
  b->inplace = calloc((size_t)n+1, sizeof(int));
  b->sum_in_place = calloc((size_t)nv, sizeof(int));
  b->compact = calloc((size_t)nv, sizeof(int));
  b->visited = calloc((size_t)nv, sizeof(dnnl_memory_t));
  b->pass = calloc((size_t)n+1, sizeof(unsigned));
  b->accum = calloc((size_t)nv, sizeof(int));
  b->md = calloc((size_t)nv, sizeof(dnnl_memory_desc_t));
  b->act = calloc((size_t)nv, sizeof(dnnl_memory_t));
  b->grad = calloc((size_t)nv, sizeof(dnnl_memory_t));
  b->part = calloc((size_t)n*MAXIN+1, sizeof(dnnl_memory_t));
  b->sum = calloc((size_t)nv, sizeof(lf_prim));
  b->x_f32 = calloc((size_t)ni, sizeof(dnnl_memory_t));
  b->x_reorder = calloc((size_t)ni, sizeof(lf_prim));
  b->x_buf = calloc((size_t)ni, sizeof(void*));
  fused = calloc((size_t)n+1, sizeof(int));
  if( !b->state || !b->alias || !b->inplace || !b->sum_in_place || !b->compact
   || !b->visited || !b->pass || !b->accum || !b->md || !b->act || !b->grad || !b->part
   || !b->sum || !b->x_f32 || !b->x_reorder || !b->x_buf || !fused ){
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  /* Inputs wrap the caller's x, set on every forward. In bf16 they are
  ** bf16 too (lf_net_forward_bf16's x as is, or an f32 x converted into
  ** x_buf), except inputs that hold ids: f32 as the caller gives them. */
  for(i=0; i<ni; i++){
    int x16 = net->bf16 && !net->ids[i];
    if( lf_dnnl_md_dt(&b->md[i], batch, &net->inputs[i], 0,
                      x16 ? dnnl_bf16 : dnnl_f32, err, errlen)
     || lf_dnnl_mem(&b->act[i], &b->md[i], DNNL_MEMORY_NONE, err, errlen) ){
      goto fail;
    }
    if( x16 ){
      dnnl_memory_desc_t plain;
      b->x_buf[i] = aligned_alloc(64, (dnnl_memory_desc_get_size(&b->md[i])+63) & ~(size_t)63);
      if( b->x_buf[i]==0 ){ snprintf(err, errlen, "out of memory"); goto fail; }
      if( lf_dnnl_md(&plain, batch, &net->inputs[i], 0, err, errlen)
       || lf_dnnl_mem(&b->x_f32[i], &plain, DNNL_MEMORY_NONE, err, errlen)
       || lf_prim_reorder(&b->x_reorder[i], &plain, &b->md[i], err, errlen) ){
        goto fail;
      }
    }
  }
  for(i=0; i<n; i++){
    const lf_layer *L = &net->layers[i];
    int ov = lf_out_value(net, i), reader = lf_only_reader(net, ov);
    int in0 = lf_in_value(net, i, 0);
    lf_layer_build lb;
    memset(&lb, 0, sizeof lb);
    lb.engine = eng;
    lb.batch = batch;
    lb.nsrc = L->nin;
    for(k=0; k<L->nin; k++){
      lb.src_mds[k] = &b->md[lf_in_value(net, i, k)];
      lb.need_diff[k] = net->need_grad[lf_in_value(net, i, k)];
    }
    lb.src_md = lb.src_mds[0];
    lb.need_diff_src = lb.need_diff[0];
    lb.bf16 = net->bf16 && !net->ids[ov];
    lb.fuse_act = reader>=0 && ov!=net->output
               && lf_fusable_act(&net->layers[reader], &lb.act_alpha);
    lb.act_fused_before = in0>=ni ? fused[in0-ni] : 0;
    if( L->ops->build(L, &lb, msg, sizeof msg) ){
      snprintf(err, errlen, "layer %s (%s): %s", net->names[i], L->ops->loc, msg);
      goto fail;
    }
    /* 2 (backward fused too) only from the built-in BatchNorms: a plugin's
    ** other non-zero act_fused means 1. */
    fused[i] = !(lb.fuse_act && lb.act_fused) ? 0
             : lb.act_fused==2 && (L->ops==&lf_layer_batchnorm2d
                                || L->ops==&lf_layer_batchnorm1d) ? 2 : 1;
    b->state[i] = lb.state;
    b->nbuilt = i+1;
    b->md[ov] = lb.dst_md;
    b->alias[i] = lb.dst_is_src;
    /* An Add's input gets the output gradient's buffer only if nothing
    ** writes into that buffer before its last reader is done: the input
    ** is read by several nodes (its part is only summed), or it is made
    ** by a node that writes its own diff_src (not a view, whose backward
    ** may run in place on its gradient). Its layout may differ where the
    ** bytes are the same (NHWC and nChw16c with 16 channels). */
    for(k=0; L->ops==&lf_layer_add && k<L->nin && k<32; k++){
      int v = lf_in_value(net, i, k);
      if( !net->need_grad[v] || !lf_dnnl_md_same_bytes(&b->md[v], &b->md[ov]) ) continue;
      if( v<ni || net->readers[v]>1 || !b->alias[v-ni] ) b->pass[i] |= 1u<<k;
    }
    b->inplace[i] = lf_add_in_place(net, b, fused, i);
    if( lf_batch_buffer(&b->act[ov], &b->md[ov], lb.dst_is_src || b->inplace[i],
                        err, errlen) ){
      goto fail;
    }
  }
  /* A 1x1 strided Conv2d reading a value one other node reads too gives
  ** only the pixels it visits, which the gradient sum adds into the other
  ** part's buffer (lf_sum_parts): no tensor of zeros written, read and
  ** added. The other part must be a buffer of its own (not a view). */
  for(int v=0; v<nv; v++){
    int slot[2], ns = 0;
    if( !net->need_grad[v] || net->readers[v]!=2 ) continue;
    for(int j=0; j<n; j++){
      for(k=0; k<net->layers[j].nin; k++){
        if( lf_in_value(net, j, k)==v && ns<2 ) slot[ns++] = j*MAXIN + k;
      }
    }
    for(int c=0; ns==2 && c<2 && !b->compact[v]; c++){
      int j = slot[c]/MAXIN, o = slot[1-c];
      int oview = (b->alias[o/MAXIN] && o%MAXIN==0) || (b->pass[o/MAXIN]>>(o%MAXIN) & 1);
      dnnl_memory_desc_t cmd, vmd;
      if( slot[c]%MAXIN!=0 || oview || net->layers[j].ops!=&lf_layer_conv2d ) continue;
      int rc = lf_conv_compact_diff_src(b->state[j], &net->layers[j], &b->md[v], &cmd, &vmd,
                                        msg, sizeof msg);
      if( rc<0 ){
        snprintf(err, errlen, "layer %s (%s): %s", net->names[j], net->layers[j].ops->loc, msg);
        goto fail;
      }
      if( rc==0 ) continue;
      b->compact[v] = slot[c] + 1;
      if( lf_dnnl_mem(&b->part[slot[c]], &cmd, DNNL_MEMORY_ALLOCATE, err, errlen)
       || lf_dnnl_mem(&b->visited[v], &vmd, DNNL_MEMORY_NONE, err, errlen)
       || lf_prim_reorder_adding(&b->sum[v], &cmd, &vmd, err, errlen) ) goto fail;
    }
  }
  /* A convolution reading a value that one later node reads too adds its
  ** part of the value's gradient into the later one's (a sum post-op)
  ** where that is safe: one pass over the tensor less. Decided from the
  ** first such node on, so that each decision sees the earlier ones. */
  for(i=0; i<n; i++){
    const lf_layer *L = &net->layers[i];
    int v = lf_in_value(net, i, 0);
    if( (L->ops!=&lf_layer_conv2d && L->ops!=&lf_layer_conv1d) || b->compact[v]
     || !lf_may_accumulate(net, b, i, v) ) continue;
    int rc = lf_conv_accumulate_diff_src(b->state[i], &b->md[v], msg, sizeof msg);
    if( rc<0 ){
      snprintf(err, errlen, "layer %s (%s): %s", net->names[i], L->ops->loc, msg);
      goto fail;
    }
    b->accum[v] = rc;
  }
  /* Gradients share the layouts of their values. A value with one reader
  ** gets its diff_src directly (an aliasing reader's diff_src is its
  ** diff_dst reshaped); one with several gets a part per reader, summed.
  ** The output's gradient may wrap the caller's dy. */
  for(i=0; i<nv; i++){
    if( !net->need_grad[i] ) continue;
    if( i==net->output ){
      if( lf_batch_buffer(&b->grad[i], &b->md[i], lf_md_is_user(&b->md[i]), err, errlen) ) goto fail;
      continue;
    }
    /* A value whose two parts meet by accumulation has one buffer, as if
    ** the later reader were its only one (lf_buffer_reader). */
    int reader = lf_buffer_reader(net, b, i);
    if( net->readers[i]==1 || b->accum[i] ){
      int view = 0;
      if( reader>=0 ){
        view = b->alias[reader];
        for(k=0; k<net->layers[reader].nin; k++){
          if( lf_in_value(net, reader, k)==i && (b->pass[reader]>>k & 1) ) view = 1;
        }
      }
      if( lf_batch_buffer(&b->grad[i], &b->md[i], view, err, errlen) ) goto fail;
      continue;
    }
    if( net->readers[i]==0 ) continue;
    dnnl_memory_desc_t mds[MAXIN];
    int np = 0, views = 0;
    if( net->readers[i]>MAXIN ){
      snprintf(err, errlen, "a value is read by %d nodes; at most %d are supported",
               net->readers[i], MAXIN);
      goto fail;
    }
    for(int j=0; j<n; j++){
      for(k=0; k<net->layers[j].nin; k++){
        if( lf_in_value(net, j, k)!=i ) continue;
        int view = (b->alias[j] && k==0) || (b->pass[j]>>k & 1);
        if( b->compact[i]!=j*MAXIN+k+1
         && lf_batch_buffer(&b->part[j*MAXIN+k], &b->md[i], view, err, errlen) ) goto fail;
        views += view;
        mds[np++] = b->md[i];
      }
    }
    if( b->compact[i] ){
      /* the sum (lf_sum_parts) adds the compact part into the other one */
      if( lf_batch_buffer(&b->grad[i], &b->md[i], 1, err, errlen) ) goto fail;
      continue;
    }
    /* Two parts in buffers of their own (not views of another gradient,
    ** which others may still read): summed into the first part's buffer,
    ** which then is the gradient's (lf_sum_parts), as for Add above. */
    b->sum_in_place[i] = np==2 && views==0 && lf_md_unpadded(&b->md[i]);
    if( lf_batch_buffer(&b->grad[i], &b->md[i], b->sum_in_place[i], err, errlen) ) goto fail;
    if( np==2 ){
      /* Two parts (a residual's input): a oneDNN binary add, faster than
      ** its simple sum, with the same a + b. */
      dnnl_binary_desc_t d;
      if( lf_dnnl_check(dnnl_binary_desc_init(&d, dnnl_binary_add, &mds[0], &mds[1], &b->md[i]),
                        "gradient sum descriptor", err, errlen)
       || lf_prim_create(&b->sum[i], &d, 0, 0, "gradient sum", err, errlen) ) goto fail;
    }else if( lf_prim_multi(&b->sum[i], np, mds, &b->md[i], -1, "gradient sum",
                            err, errlen) ) goto fail;
  }
  if( !lf_md_is_user(&b->md[net->output]) ){
    dnnl_memory_desc_t plain;
    if( lf_dnnl_md(&plain, batch, &net->out, 0, err, errlen)
     || lf_dnnl_mem(&b->y_plain, &plain, DNNL_MEMORY_ALLOCATE, err, errlen)
     || lf_prim_reorder(&b->y_reorder, &b->md[net->output], &plain, err, errlen)
     || lf_dnnl_mem(&b->dy_plain, &plain, DNNL_MEMORY_NONE, err, errlen)
     || lf_prim_reorder(&b->dy_reorder, &plain, &b->md[net->output], err, errlen) ){
      goto fail;
    }
  }
  free(fused);
  return 0;
fail:
  free(fused);
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

/* Which value gradients backward computes: dL/dinput only on request, and
** nothing that does not lead to a node with something to learn. */
static void lf_net_plan_grads(lf_net *net){
  int i, j, k;
  for(i=0; i<net->ninputs; i++) net->need_grad[i] = net->want_input_grad;
  for(i=0; i<net->nnodes; i++){
    int need = 0;
    for(j=0; j<net->layers[i].nparam; j++){
      if( net->layers[i].param[j]->grad ) need = 1;
    }
    for(k=0; k<net->layers[i].nin; k++){
      if( net->need_grad[lf_in_value(net, i, k)] ) need = 1;
    }
    net->need_grad[lf_out_value(net, i)] = need;
  }
}

/* Layers that pass values on unchanged (an id stays the same id). */
static int lf_keeps_ids(const lf_layer *L){
  return L->ops==&lf_layer_slice || L->ops==&lf_layer_reshape
      || L->ops==&lf_layer_identity || L->ops==&lf_layer_flatten;
}

/* Which values hold token ids or category codes: what an Embedding or a
** CategoricalEmbedding reads, and back from there through the layers that
** keep ids. In bf16 they stay f32, and the layers making them build as in
** f32. Nodes come in topological order, so one pass from the end does. */
static void lf_net_plan_ids(lf_net *net){
  for(int i=net->nnodes-1; i>=0; i--){
    const lf_layer *L = &net->layers[i];
    int v = lf_in_value(net, i, 0);
    if( L->ops==&lf_layer_embedding || L->ops==&lf_layer_catemb
     || (lf_keeps_ids(L) && net->ids[lf_out_value(net, i)]) ) net->ids[v] = 1;
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

/* ReLU then MaxPool2d/1d runs as the pool then ReLU: max commutes with a
** non-decreasing activation, the argmax (first maximum) and hence the
** gradient are the same, and the activation and its backward touch a
** tensor kernel^2 times smaller. Neither layer has parameters, so no
** parameter name changes. Only when the pool is the activation's only
** reader. */
static void lf_swap_act_pool(lf_net *net){
  for(int i=0; i<net->nnodes; i++){
    lf_layer *A = &net->layers[i];
    float alpha;
    int r = lf_only_reader(net, lf_out_value(net, i));
    if( r<0 || lf_out_value(net, i)==net->output || !lf_fusable_act(A, &alpha) ) continue;
    lf_layer *P = &net->layers[r];
    if( P->ops!=&lf_layer_maxpool2d && P->ops!=&lf_layer_maxpool1d ) continue;
    const lf_layer_ops *ops = A->ops;
    const void *args = A->args;
    A->ops = P->ops; A->args = P->args;
    P->ops = ops; P->args = args;
  }
}

lf_net *lf_net_create_graph(const lf_net_graph *g, char *err, size_t errlen){
  lf_net *net;
  lf_param_decl decl[LF_LAYER_MAX_PARAMS];
  lf_shape *shapes = 0, out;
  dnnl_engine_t eng;
  int i, j, k, total = 0, nv;

  if( lf_net_graph_infer(g, 0, &out, err, errlen)>=0 ) return 0;
  if( g->output<g->ninputs ){
    snprintf(err, errlen, "the output must be a node's output, not an input");
    return 0;
  }
  eng = lf_dnnl_engine(err, errlen);
  if( eng==0 ) return 0;
  net = calloc(1, sizeof(*net));
  if( net==0 ){ snprintf(err, errlen, "out of memory"); return 0; }
  nv = g->ninputs + g->nnodes;
  net->ninputs = g->ninputs;
  net->nnodes = g->nnodes;
  net->nvalues = nv;
  net->output = g->output;
  net->out = out;
  net->layers = calloc((size_t)g->nnodes+1, sizeof(lf_layer));
  net->node_in = calloc((size_t)g->nnodes*MAXIN+1, sizeof(int));
  net->names = calloc((size_t)g->nnodes+1, sizeof(char*));
  net->inputs = calloc((size_t)g->ninputs, sizeof(lf_shape));
  net->readers = calloc((size_t)nv, sizeof(int));
  net->need_grad = calloc((size_t)nv, sizeof(int));
  net->ids = calloc((size_t)nv, sizeof(int));
  shapes = calloc((size_t)nv, sizeof(lf_shape));
  if( !net->layers || !net->node_in || !net->names || !net->inputs
   || !net->readers || !net->need_grad || !net->ids || !shapes ) goto oom;
  for(i=0; i<g->ninputs; i++) net->inputs[i] = g->inputs[i];
  for(i=0; i<g->nnodes; i++){
    const lf_net_node *n = &g->nodes[i];
    char buf[24];
    lf_layer *L = &net->layers[i];
    L->ops = n->layer.ops;
    L->args = n->layer.args;
    L->index = i;
    L->nin = n->nin;
    for(k=0; k<n->nin; k++){
      net->node_in[i*MAXIN+k] = n->in[k];
      net->readers[n->in[k]]++;
    }
    snprintf(buf, sizeof buf, "%d", i);
    net->names[i] = strdup(n->name ? n->name : buf);
    if( net->names[i]==0 ) goto oom;
  }
  for(i=0; i<g->nnodes; i++){
    int v = lf_out_value(net, i);
    if( net->readers[v]==0 && v!=net->output ){
      snprintf(err, errlen, "layer %s (%s): its output is never used",
               net->names[i], net->layers[i].ops->loc);
      goto fail;
    }
    if( v==net->output && net->readers[v]>0 ){
      snprintf(err, errlen, "layer %s (%s): the output is read by another node",
               net->names[i], net->layers[i].ops->loc);
      goto fail;
    }
  }
  lf_swap_act_pool(net);
  /* Shapes again (after the swap), keeping them, and the parameters. */
  for(i=0; i<net->ninputs; i++) shapes[i] = net->inputs[i];
  for(i=0; i<net->nnodes; i++){
    lf_layer *L = &net->layers[i];
    for(k=0; k<L->nin; k++) L->ins[k] = shapes[lf_in_value(net, i, k)];
    L->in = L->ins[0];
    if( L->ops->infer(L->args, L->ins, L->nin, &L->out, err, errlen) ) goto fail;
    shapes[lf_out_value(net, i)] = L->out;
    L->nparam = L->ops->params ? L->ops->params(L->args, &L->in, decl) : 0;
    if( L->nparam<0 || L->nparam>LF_LAYER_MAX_PARAMS ){
      snprintf(err, errlen, "layer %s (%s): bad parameter count", net->names[i],
               L->ops->loc);
      goto fail;
    }
    total += L->nparam;
  }
  net->params = calloc((size_t)total+1, sizeof(lf_param));
  if( net->params==0 ) goto oom;
  for(i=0; i<net->nnodes; i++){
    lf_layer *L = &net->layers[i];
    if( L->ops->params ) L->ops->params(L->args, &L->in, decl);
    for(j=0; j<L->nparam; j++){
      lf_param *p = &net->params[net->nparam++];
      if( (size_t)snprintf(p->name, sizeof p->name, "%s.%s", net->names[i],
                           decl[j].suffix) >= sizeof p->name ){
        snprintf(err, errlen, "parameter name %s.%s is longer than %d bytes",
                 net->names[i], decl[j].suffix, (int)sizeof p->name - 1);
        goto fail;
      }
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
  free(shapes);
  lf_net_plan_grads(net);
  lf_net_plan_ids(net);
  if( lf_dnnl_check(dnnl_stream_create(&net->stream, eng,
                    dnnl_stream_default_flags), "oneDNN stream", err, errlen) ){
    net->stream = 0;
    lf_net_free(net);
    return 0;
  }
  return net;
oom:
  snprintf(err, errlen, "out of memory");
fail:
  free(shapes);
  lf_net_free(net);
  return 0;
}

lf_net *lf_net_create(const lf_layer_spec *layers, int nlayers,
                      const lf_shape *in, char *err, size_t errlen){
  lf_net_node *nodes;
  lf_net_graph g;
  lf_net *net;
  if( nlayers<0 || (nlayers>0 && layers==0) || in==0 ){
    snprintf(err, errlen, "bad layer list");
    return 0;
  }
  if( nlayers==0 ){
    snprintf(err, errlen, "a net needs at least one layer");
    return 0;
  }
  nodes = lf_chain(layers, nlayers);
  if( nodes==0 ){ snprintf(err, errlen, "out of memory"); return 0; }
  g.ninputs = 1; g.inputs = in; g.nnodes = nlayers; g.nodes = nodes;
  g.output = nlayers;
  net = lf_net_create_graph(&g, err, errlen);
  free(nodes);
  return net;
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
  for(i=0; net->names && i<net->nnodes; i++) free(net->names[i]);
  free(net->names);
  free(net->params);
  free(net->layers);
  free(net->node_in);
  free(net->inputs);
  free(net->readers);
  free(net->need_grad);
  free(net->ids);
  if( net->stream ) dnnl_stream_destroy(net->stream);
  free(net);
}

void lf_net_init_params(lf_net *net, lf_rng *rng){
  int i, j;
  for(i=0; i<net->nnodes; i++){
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

lf_shape lf_net_out_shape(const lf_net *net){ return net->out; }
int lf_net_input_count(const lf_net *net){ return net->ninputs; }
lf_shape lf_net_input_shape(const lf_net *net, int i){
  lf_shape none;
  memset(&none, 0, sizeof none);
  return i>=0 && i<net->ninputs ? net->inputs[i] : none;
}

/* ---- passes ---- */

static int lf_set_handle(dnnl_memory_t m, const void *p, char *err,
                         size_t errlen){
  return lf_dnnl_check(dnnl_memory_set_data_handle(m, (void*)p),
                       "oneDNN set buffer", err, errlen);
}

/* xs: one buffer per input; x16: they hold bf16 values (bf16 mode only). */
static const float *lf_forward(lf_net *net, const void *const *xs, int x16,
                               int batch, int training, lf_rng *rng,
                               char *err, size_t errlen){
  lf_net_batch *b;
  lf_layer_run r;
  char msg[400];
  int i, k, n = net->nnodes;

  if( batch<1 || xs==0 ){
    snprintf(err, errlen, "forward needs a batch of at least 1 sample");
    return 0;
  }
  for(i=0; i<net->ninputs; i++){
    if( xs[i]==0 ){
      snprintf(err, errlen, "forward needs input %d", i);
      return 0;
    }
  }
  if( x16 && !lf_net_takes_bf16(net) ){
    snprintf(err, errlen, net->bf16 ? "bf16 input to a net that reads token ids in f32"
                                    : "bf16 input to a net that computes in f32");
    return 0;
  }
  net->trained = 0;
  b = lf_batch_get(net, batch, err, errlen);
  if( b==0 ) return 0;
  for(i=0; i<net->ninputs; i++){
    if( net->bf16 && !x16 && !net->ids[i] ){
      dnnl_exec_arg_t a[2];
      a[0].arg = DNNL_ARG_FROM; a[0].memory = b->x_f32[i];
      a[1].arg = DNNL_ARG_TO;   a[1].memory = b->act[i];
      if( lf_set_handle(b->x_f32[i], xs[i], err, errlen)
       || lf_set_handle(b->act[i], b->x_buf[i], err, errlen)
       || lf_prim_run(&b->x_reorder[i], net->stream, 2, a, "input conversion",
                      err, errlen) ) return 0;
    }else if( lf_set_handle(b->act[i], xs[i], err, errlen) ){
      return 0;
    }
  }
  memset(&r, 0, sizeof r);
  r.stream = net->stream;
  r.batch = batch;
  r.training = training;
  r.rng = rng;
  for(i=0; i<n; i++){
    const lf_layer *L = &net->layers[i];
    int ov = lf_out_value(net, i);
    if( (b->alias[i] || b->inplace[i])
     && lf_set_handle(b->act[ov], lf_dnnl_ptr(b->act[lf_in_value(net, i, 0)]),
                      err, errlen) ){
      return 0;
    }
    r.nsrc = L->nin;
    for(k=0; k<L->nin; k++) r.srcs[k] = b->act[lf_in_value(net, i, k)];
    r.src = r.srcs[0];
    r.dst = b->act[ov];
    if( L->ops->forward(L, b->state[i], &r, msg, sizeof msg) ){
      snprintf(err, errlen, "layer %s (%s): %s", net->names[i], L->ops->loc, msg);
      return 0;
    }
  }
  if( b->y_plain ){
    dnnl_exec_arg_t a[2];
    a[0].arg = DNNL_ARG_FROM; a[0].memory = b->act[net->output];
    a[1].arg = DNNL_ARG_TO;   a[1].memory = b->y_plain;
    if( lf_prim_run(&b->y_reorder, net->stream, 2, a, "output reorder",
                    err, errlen) ) return 0;
  }
  if( lf_dnnl_check(dnnl_stream_wait(net->stream), "forward", err, errlen) ){
    return 0;
  }
  if( training ) net->trained = b;
  return lf_dnnl_ptr(b->y_plain ? b->y_plain : b->act[net->output]);
}

/* Passes hold signals once around all their primitives (lf_signals.h). */
const float *lf_net_forward(lf_net *net, const float *x, int batch,
                            int training, lf_rng *rng,
                            char *err, size_t errlen){
  const float *y;
  const void *xs[1] = { x };
  if( net->ninputs!=1 ){
    snprintf(err, errlen, "the model has %d inputs; pass them all", net->ninputs);
    return 0;
  }
  lf_signals_hold();
  y = lf_forward(net, xs, 0, batch, training, rng, err, errlen);
  lf_signals_release();
  return y;
}

const float *lf_net_forward_inputs(lf_net *net, const float *const *xs,
                                   int batch, int training, lf_rng *rng,
                                   char *err, size_t errlen){
  const float *y;
  lf_signals_hold();
  y = lf_forward(net, (const void *const *)xs, 0, batch, training, rng, err, errlen);
  lf_signals_release();
  return y;
}

const float *lf_net_forward_bf16(lf_net *net, const uint16_t *x, int batch,
                                 int training, lf_rng *rng,
                                 char *err, size_t errlen){
  const float *y;
  const void *xs[1] = { x };
  if( net->ninputs!=1 ){
    snprintf(err, errlen, "the model has %d inputs; pass them all", net->ninputs);
    return 0;
  }
  lf_signals_hold();
  y = lf_forward(net, xs, 1, batch, training, rng, err, errlen);
  lf_signals_release();
  return y;
}

/* ---- precision ---- */

int lf_bf16_supported(void){
  return lf_dnnl_has_isa(dnnl_cpu_isa_avx512_core_bf16);
}

int lf_net_is_bf16(const lf_net *net){ return net->bf16; }

int lf_net_takes_bf16(const lf_net *net){
  if( !net->bf16 ) return 0;
  for(int i=0; i<net->ninputs; i++) if( net->ids[i] ) return 0;
  return 1;
}

/* The bf16 copies of the parameters from their f32 data. */
static void sync_bf16(lf_net *net){
  int i;
  if( !net->bf16 ) return;
  for(i=0; i<net->nparam; i++){
    lf_param *p = &net->params[i];
    if( p->data16 ) lf_bf16_from_f32_n(p->data16, p->data, p->n);
  }
}

static int lf_net_bf16_switch(lf_net *net, int on, int any_cpu, char *err, size_t errlen){
  int i;
  on = on!=0;
  if( on==net->bf16 ){ sync_bf16(net); return 0; }
  if( on && !any_cpu && !lf_bf16_supported() ){
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
  sync_bf16(net);
  return 0;
}

int lf_net_set_bf16(lf_net *net, int on, char *err, size_t errlen){
  return lf_net_bf16_switch(net, on, 0, err, errlen);
}

int lf_net_set_bf16_any_cpu(lf_net *net, int on, char *err, size_t errlen){
  return lf_net_bf16_switch(net, on, 1, err, errlen);
}

/* Adds the parts of value v (one per reader) into its gradient. */
static int lf_sum_parts(lf_net *net, lf_net_batch *b, int v, char *err,
                        size_t errlen){
  dnnl_exec_arg_t a[MAXIN+1];
  int np = 0;
  if( b->compact[v] ){
    /* the compact part adds into the visited pixels of the other one,
    ** whose buffer is then the gradient's */
    dnnl_memory_t other = 0, part = b->part[b->compact[v]-1];
    for(int j=0; j<net->nnodes && !other; j++){
      for(int k=0; k<net->layers[j].nin; k++){
        if( lf_in_value(net, j, k)==v && j*MAXIN+k+1!=b->compact[v] ) other = b->part[j*MAXIN+k];
      }
    }
    a[0].arg = DNNL_ARG_FROM; a[0].memory = part;
    a[1].arg = DNNL_ARG_TO;   a[1].memory = b->visited[v];
    return lf_set_handle(b->grad[v], lf_dnnl_ptr(other), err, errlen)
        || lf_set_handle(b->visited[v], lf_dnnl_ptr(other), err, errlen)
        || lf_prim_run(&b->sum[v], net->stream, 2, a, "gradient sum", err, errlen);
  }
  for(int j=0; j<net->nnodes; j++){
    for(int k=0; k<net->layers[j].nin; k++){
      if( lf_in_value(net, j, k)!=v ) continue;
      a[np].arg = DNNL_ARG_MULTIPLE_SRC + np;
      a[np].memory = b->part[j*MAXIN+k];
      np++;
    }
  }
  if( np==2 ){                         /* a binary add (lf_batch_build) */
    a[0].arg = DNNL_ARG_SRC_0;
    a[1].arg = DNNL_ARG_SRC_1;
    if( b->sum_in_place[v] && lf_set_handle(b->grad[v], lf_dnnl_ptr(a[0].memory), err, errlen) ){
      return -1;
    }
  }
  a[np].arg = DNNL_ARG_DST;
  a[np].memory = b->grad[v];
  return lf_prim_run(&b->sum[v], net->stream, np+1, a, "gradient sum",
                     err, errlen);
}

static int lf_backward(lf_net *net, const float *dy, int batch,
                       char *err, size_t errlen){
  lf_net_batch *b = net->trained;
  lf_layer_run r;
  char msg[400];
  int i, k, out = net->output;

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
    a[1].arg = DNNL_ARG_TO;   a[1].memory = b->grad[out];
    if( lf_set_handle(b->dy_plain, dy, err, errlen)
     || lf_prim_run(&b->dy_reorder, net->stream, 2, a, "gradient reorder",
                    err, errlen) ) return -1;
  }else if( b->grad[out] ){
    if( lf_set_handle(b->grad[out], dy, err, errlen) ) return -1;
  }
  memset(&r, 0, sizeof r);
  r.stream = net->stream;
  r.batch = batch;
  r.training = 1;
  for(i=net->nnodes-1; i>=0; i--){
    const lf_layer *L = &net->layers[i];
    int ov = lf_out_value(net, i);
    if( !net->need_grad[ov] ) continue;   /* nothing below learns */
    if( net->readers[ov]>1 && !b->accum[ov] && lf_sum_parts(net, b, ov, err, errlen) ) return -1;
    r.nsrc = L->nin;
    for(k=0; k<L->nin; k++){
      int v = lf_in_value(net, i, k);
      dnnl_memory_t m = 0;
      if( net->need_grad[v] ){
        m = net->readers[v]>1 && !b->accum[v] ? b->part[i*MAXIN+k] : b->grad[v];
        if( ((b->alias[i] && k==0) || (b->pass[i]>>k & 1))
         && lf_set_handle(m, lf_dnnl_ptr(b->grad[ov]), err, errlen) ) return -1;
      }
      r.srcs[k] = b->act[v];
      r.diff_srcs[k] = m;
    }
    r.src = r.srcs[0];
    r.diff_src = r.diff_srcs[0];
    r.dst = b->act[ov];
    r.diff_dst = b->grad[ov];
    if( L->ops->backward && L->ops->backward(L, b->state[i], &r, msg, sizeof msg) ){
      snprintf(err, errlen, "layer %s (%s): %s", net->names[i], L->ops->loc, msg);
      return -1;
    }
  }
  for(i=0; i<net->ninputs; i++){
    if( net->need_grad[i] && net->readers[i]>1
     && lf_sum_parts(net, b, i, err, errlen) ) return -1;
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

/* The build for `batch`, or NULL (test hooks). */
static const lf_net_batch *lf_built(const lf_net *net, int batch){
  for(int i=0; i<LF_NET_MAX_BATCH_SIZES; i++){
    if( net->cache[i].batch==batch && net->cache[i].accum ) return &net->cache[i];
  }
  return 0;
}

int lf_net_in_place_sums(lf_net *net, int batch){
  const lf_net_batch *b = lf_built(net, batch);
  int n = 0;
  if( b==0 ) return -1;
  for(int j=0; j<net->nnodes; j++) n += b->inplace[j];
  for(int v=0; v<net->nvalues; v++) n += b->sum_in_place[v] + (b->compact[v]!=0);
  return n;
}

int lf_net_compact_parts(lf_net *net, int batch){
  const lf_net_batch *b = lf_built(net, batch);
  int n = 0;
  if( b==0 ) return -1;
  for(int v=0; v<net->nvalues; v++) n += b->compact[v]!=0;
  return n;
}

int lf_net_channels_last_wgrads(lf_net *net, int batch){
  const lf_net_batch *b = lf_built(net, batch);
  int n = 0;
  if( b==0 ) return -1;
  for(int i=0; i<net->nnodes; i++){
    const lf_layer_ops *ops = net->layers[i].ops;
    if( ops==&lf_layer_conv2d || ops==&lf_layer_conv1d ) n += lf_conv_wgrad_channels_last(b->state[i]);
  }
  return n;
}

int lf_net_accumulated_sums(lf_net *net, int batch){
  const lf_net_batch *b = lf_built(net, batch);
  int n = 0;
  if( b==0 ) return -1;
  for(int v=0; v<net->nvalues; v++) n += b->accum[v];
  return n;
}

/* ---- a built net, read by exporters -------------------------------------- */

int lf_net_node_count(const lf_net *net){ return net->nnodes; }

const lf_layer *lf_net_node_layer(const lf_net *net, int i){
  return (i>=0 && i<net->nnodes) ? &net->layers[i] : 0;
}

int lf_net_node_input(const lf_net *net, int i, int k){
  return lf_in_value(net, i, k);
}

int lf_net_output_value(const lf_net *net){ return net->output; }
