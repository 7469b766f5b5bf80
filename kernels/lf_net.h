/*
** lf_net.h — a Sequential network of layers built from oneDNN primitives.
**
** Lifecycle: lf_net_create() (shapes checked, parameters allocated),
** lf_net_init_params() (PyTorch's default initialisation from a seeded rng),
** then any number of lf_net_forward()/lf_net_backward() calls. Primitives and
** buffers are created the first time a batch size is seen and reused after
** that; a net holds at most LF_NET_MAX_BATCH_SIZES distinct batch sizes
** (typically: full train batch, last train batch, full/last eval batch).
*/
#ifndef LF_NET_H
#define LF_NET_H

#include "lf_tensor.h"

typedef struct lf_net lf_net;
typedef struct lf_layer_ops lf_layer_ops;

#define LF_NET_MAX_BATCH_SIZES 8
/* Inputs one node may read (Concat of many branches). */
#define LF_NET_MAX_NODE_INPUTS 16

/* One layer of a model: its implementation and its own args struct (the
** layer's type from lf_layer_args.h, filled by the config parser from the
** component table, or by hand in tests). The args are only read, and must
** outlive every net built from them. */
typedef struct lf_layer_spec {
  const lf_layer_ops *ops;
  const void *args;         /* NULL for a layer without args */
} lf_layer_spec;

/* A model as a graph of layers. Values are numbered: 0..ninputs-1 are the
** model's inputs, ninputs+j is the output of node j. A node reads earlier
** values only (the list is in topological order); a value may be read by
** several nodes (its gradient is their sum), every node's output must be
** read by a later node or be the model's output. Sequential models are the
** chain node j reads value j. */
typedef struct lf_net_node {
  lf_layer_spec layer;
  int nin;                              /* 1, or more for a multi_input layer */
  int in[LF_NET_MAX_NODE_INPUTS];       /* value ids */
  const char *name;                     /* parameter name prefix, e.g.
                                        ** "3" or "stem" ("stem.weight");
                                        ** NULL: the node index */
} lf_net_node;

typedef struct lf_net_graph {
  int ninputs;
  const lf_shape *inputs;               /* per-sample shapes */
  int nnodes;
  const lf_net_node *nodes;
  int output;                           /* value id of the model's output */
} lf_net_graph;

/* Shape inference over a graph. shapes (NULL, or room for ninputs+nnodes)
** receives every value's shape. Returns -1 with *out set, or the index of
** the offending node with a message naming the shapes in err. */
int lf_net_graph_infer(const lf_net_graph *g, lf_shape *shapes, lf_shape *out,
                       char *err, size_t errlen);
/* Builds a net from a graph (the nodes' names are copied; the layers' args
** must outlive the net). */
lf_net *lf_net_create_graph(const lf_net_graph *g, char *err, size_t errlen);

int lf_net_input_count(const lf_net *net);
lf_shape lf_net_input_shape(const lf_net *net, int i);
/* lf_net_forward for a net with several inputs: xs[i] is batch*count(input
** i) floats, plain layout. */
const float *lf_net_forward_inputs(lf_net *net, const float *const *xs,
                                   int batch, int training, lf_rng *rng,
                                   char *err, size_t errlen);

/* Shape inference without building anything. On failure returns the index of
** the offending layer (>= 0) and writes a message such as
** "Linear expects a vector input, got [16,14,14]" or
** "Conv2d kernel 5x5 does not fit input [1,3,3] with padding 0" into err;
** returns -1 on success with *out set to the network's output shape. */
int lf_net_infer(const lf_layer_spec *layers, int nlayers, const lf_shape *in,
                 lf_shape *out, char *err, size_t errlen);

/* Builds the network for per-sample input shape `in`. Returns NULL and writes
** err on failure (bad shape, oneDNN error, out of memory). */
lf_net *lf_net_create(const lf_layer_spec *layers, int nlayers,
                      const lf_shape *in, char *err, size_t errlen);
void lf_net_free(lf_net *net);

/* PyTorch defaults: Linear/Conv2d kaiming_uniform(a=sqrt(5)) weights and
** U(-1/sqrt(fan_in), 1/sqrt(fan_in)) biases; BatchNorm weight 1, bias 0,
** running_mean 0, running_var 1. Params are initialised in order. */
void lf_net_init_params(lf_net *net, lf_rng *rng);

/* Parameters and buffers in state_dict order: trainable params have grad,
** buffers (BatchNorm running_mean/running_var) have grad == NULL. */
int lf_net_param_count(const lf_net *net);
lf_param *lf_net_param(lf_net *net, int i);

lf_shape lf_net_out_shape(const lf_net *net);

/* Forward pass on `batch` samples. x is batch*count(in) floats in plain
** row-major layout (N, C, H, W); the result is batch*count(out) floats in
** plain layout, owned by the net and valid until the next forward call.
** training=1 uses dropout (drawing from rng) and batch statistics, and keeps
** what backward needs; training=0 is inference (rng may be NULL).
** Returns NULL with err set on failure (first use of a batch size creates
** primitives and can fail). */
const float *lf_net_forward(lf_net *net, const float *x, int batch,
                            int training, lf_rng *rng,
                            char *err, size_t errlen);

/* Precision. lf_net_set_bf16(net, 1) makes the net compute in bfloat16
** where its layers can (Linear, Conv2d and the layers between them;
** activations and their gradients in bf16), keeping every lf_param's data
** and grad in f32 (master weights, f32 weight gradients) plus a bf16 copy
** in lf_param.data16, which lf_optim_step refreshes as it updates data.
** Whoever changes params' data by other means (loading weights) does so
** before lf_net_set_bf16(net, 1), or calls it again: it refreshes the
** copies. The output given to the caller and dy stay f32. Token ids stay
** f32: an input an Embedding or CategoricalEmbedding reads (directly or
** through Slice, Reshape, Identity, Flatten) is f32 in bf16 too.
** Fails with a message on a CPU without AVX-512 BF16 (lf_bf16_supported). */
int lf_bf16_supported(void);
int lf_net_set_bf16(lf_net *net, int on, char *err, size_t errlen);
int lf_net_is_bf16(const lf_net *net);
/* 1 if the net computes in bf16 and every input is bf16 (none holds token
** ids): it may be fed with lf_net_forward_bf16, and its samples kept in
** bf16. 0 otherwise: feed it f32 (lf_net_forward). */
int lf_net_takes_bf16(const lf_net *net);

/* lf_net_forward with bf16 input (a net in bf16 mode only): x is
** batch*count(in) bfloat16 values, plain layout. Spares the conversion of
** an f32 batch. */
const float *lf_net_forward_bf16(lf_net *net, const uint16_t *x, int batch,
                                 int training, lf_rng *rng,
                                 char *err, size_t errlen);

/* Backward pass after a training forward on the same batch: dy is
** batch*count(out) floats (dLoss/dOutput). Overwrites every param's grad.
** Returns 0, or -1 with err set. */
int lf_net_backward(lf_net *net, const float *dy, int batch,
                    char *err, size_t errlen);

#endif
