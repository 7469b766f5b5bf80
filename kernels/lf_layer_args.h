/*
** lf_layer_args.h — the args struct of each built-in layer, as the config
** parser fills it from the layer's row in the component table
** (core/lf_registry.c) and as the layer's code reads it. A layer without
** args has no struct (its lf_layer_spec.args is NULL).
*/
#ifndef LF_LAYER_ARGS_H
#define LF_LAYER_ARGS_H

#include <stdint.h>
#include "lf_tensor.h"

typedef struct lf_linear_args {
  int64_t out;              /* output features */
  int bias;
} lf_linear_args;

typedef struct lf_conv2d_args {
  int64_t out;              /* output channels */
  int kernel[2], stride[2], padding[2];
  int bias;
} lf_conv2d_args;

/* MaxPool2d, AvgPool2d. The stride's default (the kernel) is set by the
** component table (core/lf_registry.c, pool_finish). */
typedef struct lf_pool2d_args {
  int kernel[2], stride[2], padding[2];
} lf_pool2d_args;

/* Conv1d on (C,L): dilation as in PyTorch (1: none). */
typedef struct lf_conv1d_args {
  int64_t out;              /* output channels */
  int kernel, stride, padding, dilation;
  int bias;
} lf_conv1d_args;

/* MaxPool1d, AvgPool1d on (C,L). The stride's default (the kernel) is set
** by the component table (core/lf_registry.c, pool1d_finish). */
typedef struct lf_pool1d_args {
  int kernel, stride, padding;
} lf_pool1d_args;

/* BatchNorm1d, BatchNorm2d. */
typedef struct lf_batchnorm_args {
  double eps, momentum;
} lf_batchnorm_args;

typedef struct lf_dropout_args {
  double p;
} lf_dropout_args;

typedef struct lf_leakyrelu_args {
  double negative_slope;
} lf_leakyrelu_args;

typedef struct lf_elu_args {
  double alpha;
} lf_elu_args;

/* Concat: the per-sample axis (0 = channels/features; negative counts
** from the end). */
typedef struct lf_concat_args {
  int axis;
} lf_concat_args;

/* Reshape: the per-sample output shape; one dim may be -1 (inferred). */
typedef struct lf_reshape_args {
  lf_shape shape;
} lf_reshape_args;

/* Slice: values start .. start+length-1 of a vector input. */
typedef struct lf_slice_args {
  int64_t start, length;
} lf_slice_args;

/* CategoricalEmbedding: the data row of a dataset with named inputs, or
** one of its input groups (a Graph node reading it); one embedding table
** per categorical column. card is bound by the pipeline from the dataset
** (core: lf_config_bind_tabular), not written in a config: per input
** column the number of codes (vocabulary + the unknown code 0), -1 for a
** categorical column whose vocabulary is not known yet (ppl_new), 0 for a
** continuous column. The k-th categorical column's table is card x width,
** width dims[k] when dims is given, else dim. */
#define LF_CATEMB_MAX_COLS 256
typedef struct lf_catemb_args {
  int64_t dim;              /* one width for every categorical column (0: dims) */
  int *dims;                /* or one per categorical column, in order */
  int ndims;                /* entries of dims (0: dim) */
  int ncols;                /* 0 until bound */
  int card[LF_CATEMB_MAX_COLS];
} lf_catemb_args;

/* MultiheadAttention: self-attention on a [T, E] input. embed_dim 0: the
** input's last dimension. */
typedef struct lf_mha_args {
  int64_t embed_dim;
  int num_heads;
  double dropout;           /* on the attention weights, while training */
  int bias;                 /* in_proj_bias and out_proj.bias */
  int causal;               /* query i sees keys 0..i only */
} lf_mha_args;

/* LayerNorm: normalized_shape are the last dims of each sample normalised
** together (ndim 0: the last dim, whatever its size); weight and bias have
** that shape when elementwise_affine. */
typedef struct lf_layernorm_args {
  lf_shape normalized_shape;
  double eps;
  int elementwise_affine;
} lf_layernorm_args;

/* Softmax: the per-sample axis (0 = channels/features, PyTorch's dim 1;
** negative counts from the end; -1, the default, is PyTorch's dim=-1). */
typedef struct lf_softmax_args {
  int dim;
} lf_softmax_args;

/* Embedding: a table of num_embeddings rows of embedding_dim values
** (PyTorch's "weight"); padding_idx is a row kept at zero and never
** trained, or -1 for none (a negative PyTorch padding_idx p is written
** num_embeddings + p in a config). */
typedef struct lf_embedding_args {
  int64_t num_embeddings, embedding_dim;
  int64_t padding_idx;
} lf_embedding_args;

/* LSTM, GRU. output is the config's string; finish sets last from it. */
typedef struct lf_rnn_args {
  int64_t hidden_size;
  int num_layers;
  int bidirectional;
  double dropout;           /* between stacked layers, training only */
  char *output;             /* "sequence" (default) or "last" */
  int last;                 /* 1: output the last time step only */
} lf_rnn_args;

/* SeqPool: pooling over time of a [T, C] input, with an optional [T]
** mask as second input. mode is the config's string; finish sets code. */
#define LF_SEQPOOL_LAST 0
#define LF_SEQPOOL_MEAN 1
#define LF_SEQPOOL_MAX 2
typedef struct lf_seqpool_args {
  char *mode;
  int code;
} lf_seqpool_args;

/* PositionalEmbedding: P[:T] added to a [T, E] input. */
typedef struct lf_posemb_args {
  int64_t max_len;          /* rows of P: the longest sequence */
  int sinusoidal;           /* 1: fixed sin/cos table, no parameter */
} lf_posemb_args;

#endif
