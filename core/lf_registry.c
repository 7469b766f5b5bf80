/*
** lf_registry.c — the catalogue of built-in components.
**
** Each row names a component, the args it accepts and where each lands in
** its kind's spec struct. The validator (lf_config.c), labflow_help() and the
** trainer all read these rows, so what is accepted, documented and run can
** not disagree.
*/
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_registry.h"
#include "lf_plugin.h"
#include "../kernels/lf_layer.h"

#define BIG 1e9
/* Where a layer arg lands in the layer's own args struct. */
#define LIN(f) offsetof(lf_linear_args, f)
#define CONV(f) offsetof(lf_conv2d_args, f)
#define POOL(f) offsetof(lf_pool2d_args, f)
#define BN(f) offsetof(lf_batchnorm_args, f)
#define O(f) offsetof(lf_optim_spec, f)
#define D(f) offsetof(lf_dataset_spec, f)

/* ---- layers ---------------------------------------------------------- */

static const lf_arg_spec linear_args[] = {
  {"out", LF_ARG_INT64, 1, 0, 0, 1, BIG, 0, LIN(out), 0, "output features"},
  {"bias", LF_ARG_BOOL, 0, 1, 1, 0, 1, 0, LIN(bias), 0, "learn an additive bias"},
  {0}
};
static const lf_arg_spec conv_args[] = {
  {"out", LF_ARG_INT64, 1, 0, 0, 1, 65536, 0, CONV(out), 0, "output channels"},
  {"kernel", LF_ARG_INT_PAIR, 1, 0, 0, 1, 1024, 0, CONV(kernel), 0, "kernel size: n or [h,w]"},
  {"stride", LF_ARG_INT_PAIR, 0, 1, 1, 1, 1024, 0, CONV(stride), 0, "stride: n or [h,w]"},
  {"padding", LF_ARG_INT_PAIR, 0, 1, 0, 0, 1024, 0, CONV(padding), 0, "zero padding: n or [h,w]"},
  {"bias", LF_ARG_BOOL, 0, 1, 1, 0, 1, 0, CONV(bias), 0, "learn an additive bias"},
  {0}
};
static const lf_arg_spec pool_args[] = {
  {"kernel", LF_ARG_INT_PAIR, 1, 0, 0, 1, 1024, 0, POOL(kernel), 0, "window size: n or [h,w]"},
  {"stride", LF_ARG_INT_PAIR, 0, 0, 0, 1, 1024, 0, POOL(stride), 0, "stride (default: kernel)"},
  {"padding", LF_ARG_INT_PAIR, 0, 1, 0, 0, 1024, 0, POOL(padding), 0, "implicit padding: n or [h,w]"},
  {0}
};
static const lf_arg_spec conv1d_args[] = {
  {"out", LF_ARG_INT64, 1, 0, 0, 1, 65536, 0, offsetof(lf_conv1d_args, out), 0, "output channels"},
  {"kernel", LF_ARG_INT, 1, 0, 0, 1, 65536, 0, offsetof(lf_conv1d_args, kernel), 0, "kernel size"},
  {"stride", LF_ARG_INT, 0, 1, 1, 1, 65536, 0, offsetof(lf_conv1d_args, stride), 0, "stride"},
  {"padding", LF_ARG_INT, 0, 1, 0, 0, 65536, 0, offsetof(lf_conv1d_args, padding), 0, "zero padding on both ends"},
  {"dilation", LF_ARG_INT, 0, 1, 1, 1, 65536, 0, offsetof(lf_conv1d_args, dilation), 0, "spacing between kernel taps (1: none)"},
  {"bias", LF_ARG_BOOL, 0, 1, 1, 0, 1, 0, offsetof(lf_conv1d_args, bias), 0, "learn an additive bias"},
  {0}
};
static const lf_arg_spec pool1d_args[] = {
  {"kernel", LF_ARG_INT, 1, 0, 0, 1, 65536, 0, offsetof(lf_pool1d_args, kernel), 0, "window size"},
  {"stride", LF_ARG_INT, 0, 0, 0, 1, 65536, 0, offsetof(lf_pool1d_args, stride), 0, "stride (default: kernel)"},
  {"padding", LF_ARG_INT, 0, 1, 0, 0, 65536, 0, offsetof(lf_pool1d_args, padding), 0, "implicit padding on both ends"},
  {0}
};
static const lf_arg_spec batchnorm_args[] = {
  {"eps", LF_ARG_NUM, 0, 1, 1e-5, 0, 1, 1, BN(eps), 0, "added to the variance"},
  {"momentum", LF_ARG_NUM, 0, 1, 0.1, 0, 1, 0, BN(momentum), 0, "running statistics update rate"},
  {0}
};
static const lf_arg_spec dropout_args[] = {
  {"p", LF_ARG_NUM, 0, 1, 0.5, 0, 1, 0, offsetof(lf_dropout_args, p), 0, "probability of zeroing an element (0 <= p < 1)"},
  {0}
};
static const lf_arg_spec catemb_args[] = {
  {"dim", LF_ARG_INT64, 0, 0, 0, 1, 4096, 0, offsetof(lf_catemb_args, dim), 0,
   "embedding width of every categorical column (give dim or dims)"},
  {"dims", LF_ARG_INT_LIST, 0, 0, 0, 1, 4096, 0, offsetof(lf_catemb_args, dims), offsetof(lf_catemb_args, ndims),
   "embedding width of each categorical column, in column order (give dim or dims)"},
  {0}
};
static int catemb_finish(void *spec, char *err, size_t n){
  lf_catemb_args *s = spec;
  if( (s->dim > 0) == (s->ndims > 0) ){
    snprintf(err, n, "give either dim (one width for every categorical column) or dims (one per column)");
    return -1;
  }
  return 0;
}
static const lf_arg_spec layernorm_args[] = {
  {"normalized_shape", LF_ARG_SHAPE, 0, 0, 0, 1, BIG, 0, offsetof(lf_layernorm_args, normalized_shape), 0,
   "the last dimensions of a sample normalised together, e.g. [64] (default: the last dimension)"},
  {"eps", LF_ARG_NUM, 0, 1, 1e-5, 0, 1, 1, offsetof(lf_layernorm_args, eps), 0, "added to the variance"},
  {"elementwise_affine", LF_ARG_BOOL, 0, 1, 1, 0, 1, 0, offsetof(lf_layernorm_args, elementwise_affine), 0,
   "learn weight (init 1) and bias (init 0) of normalized_shape"},
  {0}
};
static const lf_arg_spec softmax_args[] = {
  {"dim", LF_ARG_INT, 0, 1, -1, -LF_MAX_DIMS, LF_MAX_DIMS-1, 0, offsetof(lf_softmax_args, dim), 0,
   "per-sample axis: -1 = the last (PyTorch's dim=-1), 0 = channels/features (PyTorch's dim=1)"},
  {0}
};
static const lf_arg_spec embedding_args[] = {
  {"num_embeddings", LF_ARG_INT64, 1, 0, 0, 1, 1e8, 0, offsetof(lf_embedding_args, num_embeddings), 0,
   "rows of the table: token ids go from 0 to num_embeddings-1"},
  {"embedding_dim", LF_ARG_INT64, 1, 0, 0, 1, 65536, 0, offsetof(lf_embedding_args, embedding_dim), 0,
   "values per row"},
  {"padding_idx", LF_ARG_INT64, 0, 1, -1, 0, 1e8, 0, offsetof(lf_embedding_args, padding_idx), 0,
   "a row kept at zero and never trained (default -1: none; for PyTorch's negative p write num_embeddings+p)"},
  {0}
};
static const lf_arg_spec elu_args[] = {
  {"alpha", LF_ARG_NUM, 0, 1, 1.0, 0, BIG, 0, offsetof(lf_elu_args, alpha), 0, "alpha * (exp(x) - 1) for x <= 0"},
  {0}
};
static const lf_arg_spec leaky_args[] = {
  {"negative_slope", LF_ARG_NUM, 0, 1, 0.01, -BIG, BIG, 0, offsetof(lf_leakyrelu_args, negative_slope), 0, "slope for x < 0"},
  {0}
};
static const lf_arg_spec no_args[] = { {0} };
static const lf_arg_spec concat_args[] = {
  {"axis", LF_ARG_INT, 0, 1, 0, -LF_MAX_DIMS, LF_MAX_DIMS-1, 0, offsetof(lf_concat_args, axis), 0,
   "per-sample axis to join along: 0 = channels/features (PyTorch's dim 1); negative counts from the end"},
  {0}
};
static const lf_arg_spec reshape_args[] = {
  {"shape", LF_ARG_SHAPE, 1, 0, 0, -1, BIG, 0, offsetof(lf_reshape_args, shape), 0,
   "per-sample output shape, e.g. [16,7,7]; one dimension may be -1 (inferred)"},
  {0}
};
static const lf_arg_spec slice_args[] = {
  {"start", LF_ARG_INT64, 1, 0, 0, 0, BIG, 0, offsetof(lf_slice_args, start), 0, "index of the first value taken"},
  {"length", LF_ARG_INT64, 1, 0, 0, 1, BIG, 0, offsetof(lf_slice_args, length), 0, "number of values taken"},
  {0}
};
static const lf_arg_spec mha_args[] = {
  {"embed_dim", LF_ARG_INT64, 0, 1, 0, 0, 65536, 0, offsetof(lf_mha_args, embed_dim), 0,
   "width E of the input [T, E] (default 0: the input's last dimension)"},
  {"num_heads", LF_ARG_INT, 0, 1, 1, 1, 4096, 0, offsetof(lf_mha_args, num_heads), 0,
   "heads; E must be divisible by it"},
  {"dropout", LF_ARG_NUM, 0, 1, 0, 0, 1, 0, offsetof(lf_mha_args, dropout), 0,
   "dropout on the attention weights while training (0 <= p < 1)"},
  {"bias", LF_ARG_BOOL, 0, 1, 1, 0, 1, 0, offsetof(lf_mha_args, bias), 0, "learn in_proj_bias and out_proj.bias"},
  {"causal", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, offsetof(lf_mha_args, causal), 0,
   "each step attends only to itself and earlier steps"},
  {0}
};
static const lf_arg_spec posemb_args[] = {
  {"max_len", LF_ARG_INT64, 1, 0, 0, 1, BIG, 0, offsetof(lf_posemb_args, max_len), 0,
   "the longest sequence it accepts (rows of the table)"},
  {"sinusoidal", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, offsetof(lf_posemb_args, sinusoidal), 0,
   "fixed sin/cos positions instead of a learned table"},
  {0}
};
static int mha_finish(void *spec, char *err, size_t n){
  lf_mha_args *s = spec;
  if( s->dropout >= 1.0 ){ snprintf(err, n, "dropout must be below 1"); return -1; }
  return 0;
}
static int reshape_finish(void *spec, char *err, size_t n){
  lf_reshape_args *s = spec;
  int free_dims = 0;
  for(int d=0; d<s->shape.ndim; d++){
    if( s->shape.dim[d]==0 ){ snprintf(err, n, "shape dimensions must be positive or -1"); return -1; }
    if( s->shape.dim[d]==-1 ) free_dims++;
  }
  if( free_dims>1 ){ snprintf(err, n, "at most one shape dimension may be -1"); return -1; }
  return 0;
}

#define RNN(f) offsetof(lf_rnn_args, f)
static const lf_arg_spec rnn_args[] = {
  {"hidden_size", LF_ARG_INT64, 1, 0, 0, 1, 65536, 0, RNN(hidden_size), 0, "features of the hidden state (H)"},
  {"num_layers", LF_ARG_INT, 0, 1, 1, 1, 8, 0, RNN(num_layers), 0, "stacked layers (1 to 8)"},
  {"bidirectional", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, RNN(bidirectional), 0, "also run backwards in time; outputs are concatenated (2H)"},
  {"dropout", LF_ARG_NUM, 0, 1, 0, 0, 1, 0, RNN(dropout), 0, "dropout on the outputs of every layer but the last, while training"},
  {"output", LF_ARG_STR, 0, 0, 0, 0, 0, 0, RNN(output), 0, "\"sequence\" (default): [T, D*H]; \"last\": the last time step, [D*H]"},
  {0}
};
static int rnn_finish(void *spec, char *err, size_t n){
  lf_rnn_args *s = spec;
  if( !s->output || strcmp(s->output, "sequence")==0 ) s->last = 0;
  else if( strcmp(s->output, "last")==0 ) s->last = 1;
  else { snprintf(err, n, "output must be \"sequence\" or \"last\""); return -1; }
  if( s->dropout >= 1.0 ){ snprintf(err, n, "dropout must be below 1"); return -1; }
  return 0;
}
static const lf_arg_spec seqpool_args[] = {
  {"mode", LF_ARG_STR, 0, 0, 0, 0, 0, 0, offsetof(lf_seqpool_args, mode), 0,
   "\"last\" (default): the last valid step; \"mean\" or \"max\" over the valid steps"},
  {0}
};
static int seqpool_finish(void *spec, char *err, size_t n){
  lf_seqpool_args *s = spec;
  if( !s->mode || strcmp(s->mode, "last")==0 ) s->code = LF_SEQPOOL_LAST;
  else if( strcmp(s->mode, "mean")==0 ) s->code = LF_SEQPOOL_MEAN;
  else if( strcmp(s->mode, "max")==0 ) s->code = LF_SEQPOOL_MAX;
  else { snprintf(err, n, "mode must be \"last\", \"mean\" or \"max\""); return -1; }
  return 0;
}

/* Stride defaults to the kernel (arg_defaults below), as in PyTorch. */
static int pool_finish(void *spec, char *err, size_t n){
  lf_pool2d_args *s = spec;
  if( 2*s->padding[0] > s->kernel[0] || 2*s->padding[1] > s->kernel[1] ){
    snprintf(err, n, "padding must be at most half the kernel size");
    return -1;
  }
  return 0;
}
static int pool1d_finish(void *spec, char *err, size_t n){
  lf_pool1d_args *s = spec;
  if( 2*s->padding > s->kernel ){
    snprintf(err, n, "padding must be at most half the kernel size");
    return -1;
  }
  return 0;
}
static int dropout_finish(void *spec, char *err, size_t n){
  lf_dropout_args *s = spec;
  if( s->p >= 1.0 ){ snprintf(err, n, "p must be below 1"); return -1; }
  return 0;
}

/* ---- model ----------------------------------------------------------- */

static const lf_arg_spec sequential_args[] = {
  {"layers", LF_ARG_LAYERS, 1, 0, 0, 1, 1000, 0, 0, 0, "list of layer components, applied in order"},
  {0}
};
static const lf_arg_spec residual_args[] = {
  {"layers", LF_ARG_LAYERS, 1, 0, 0, 1, 1000, 0, 0, 0, "the block's layers, applied in order to its input"},
  {"shortcut", LF_ARG_LAYERS, 0, 0, 0, 1, 1000, 0, 0, 0, "layers on the input's way to the sum (default: none, the input as is)"},
  {0}
};
static const lf_arg_spec graph_args[] = {
  {"inputs", LF_ARG_STR_LIST, 0, 0, 0, 0, 0, 0, 0, 0, "names of the graph's inputs; a nested Graph takes its node's in, in order"},
  {"nodes", LF_ARG_NODES, 1, 0, 0, 1, 10000, 0, 0, 0, "list of nodes {\"name\", \"loc\", \"args\", \"in\": [input or node names]}, in any order"},
  {"output", LF_ARG_STR, 1, 0, 0, 0, 0, 0, 0, 0, "name of the node whose output is the graph's"},
  {0}
};

static const lf_arg_spec encoder_args[] = {
  {"d_model", LF_ARG_INT64, 1, 0, 0, 1, 65536, 0, 0, 0, "width E of the sequence [T, E]"},
  {"nhead", LF_ARG_INT, 1, 0, 0, 1, 4096, 0, 0, 0, "attention heads; d_model must be divisible by it"},
  {"dim_feedforward", LF_ARG_INT64, 0, 1, 2048, 1, BIG, 0, 0, 0, "width of the feed-forward block"},
  {"dropout", LF_ARG_NUM, 0, 1, 0.1, 0, 1, 0, 0, 0, "dropout on the attention weights and after each block (0 <= p < 1)"},
  {"activation", LF_ARG_STR, 0, 0, 0, 0, 0, 0, 0, 0, "\"relu\" (default) or \"gelu\""},
  {"norm_first", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, 0, 0, "pre-norm: LayerNorm before each block instead of after the sum"},
  {"layer_norm_eps", LF_ARG_NUM, 0, 1, 1e-5, 0, 1, 1, 0, 0, "added to the variance in the LayerNorms"},
  {"bias", LF_ARG_BOOL, 0, 1, 1, 0, 1, 0, 0, 0, "biases in the attention and linear layers"},
  {"causal", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, 0, 0, "each step attends only to itself and earlier steps (is_causal)"},
  {0}
};

/* ---- losses ---------------------------------------------------------- */

static const lf_arg_spec ce_args[] = {
  {"label_smoothing", LF_ARG_NUM, 0, 1, 0, 0, 1, 0, offsetof(lf_loss_spec, label_smoothing), 0,
   "mix the target with the uniform distribution by this amount"},
  {0}
};

static const lf_arg_spec bce_args[] = {
  {"pos_weight", LF_ARG_NUM, 0, 1, 1, 0, BIG, 1, offsetof(lf_loss_spec, pos_weight), 0,
   "weight of the positive term (e.g. negatives/positives for imbalanced data)"},
  {0}
};
static const lf_arg_spec huber_args[] = {
  {"delta", LF_ARG_NUM, 0, 1, 1, 0, BIG, 1, offsetof(lf_loss_spec, delta), 0,
   "where the loss turns from quadratic to linear"},
  {0}
};

/* ---- metrics --------------------------------------------------------- */

static const lf_arg_spec topk_args[] = {
  {"k", LF_ARG_INT, 1, 0, 0, 1, 1000000, 0, offsetof(lf_metric_args, k), 0,
   "a sample counts when its label is among the k highest outputs"},
  {0}
};

/* ---- optimizers and schedulers -------------------------------------- */

#define GRAD_CLIP_ARG \
  {"grad_clip", LF_ARG_NUM, 0, 1, 0, 0, BIG, 0, O(grad_clip), 0, \
   "clip the gradients' global L2 norm to this before each step (clip_grad_norm_; 0: off)"}

static const lf_arg_spec sgd_args[] = {
  {"lr", LF_ARG_NUM, 1, 0, 0, 0, BIG, 1, O(lr), 0, "learning rate"},
  {"momentum", LF_ARG_NUM, 0, 1, 0, 0, 1, 0, O(momentum), 0, "momentum factor"},
  {"nesterov", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, O(nesterov), 0, "Nesterov momentum"},
  {"weight_decay", LF_ARG_NUM, 0, 1, 0, 0, BIG, 0, O(weight_decay), 0, "L2 penalty"},
  {"scheduler", LF_ARG_SCHEDULER, 0, 0, 0, 0, 0, 0, 0, 0, "learning-rate scheduler component"},
  GRAD_CLIP_ARG,
  {0}
};
static const lf_arg_spec adam_args[] = {
  {"lr", LF_ARG_NUM, 0, 1, 1e-3, 0, BIG, 1, O(lr), 0, "learning rate"},
  {"betas", LF_ARG_NUM_PAIR, 0, 0, 0, 0, 1, 0, O(beta1), 0, "[beta1, beta2] (default [0.9, 0.999])"},
  {"eps", LF_ARG_NUM, 0, 1, 1e-8, 0, 1, 1, O(eps), 0, "added to the denominator"},
  {"weight_decay", LF_ARG_NUM, 0, 1, 0, 0, BIG, 0, O(weight_decay), 0, "L2 penalty"},
  {"scheduler", LF_ARG_SCHEDULER, 0, 0, 0, 0, 0, 0, 0, 0, "learning-rate scheduler component"},
  GRAD_CLIP_ARG,
  {0}
};
static const lf_arg_spec adamw_args[] = {
  {"lr", LF_ARG_NUM, 0, 1, 1e-3, 0, BIG, 1, O(lr), 0, "learning rate"},
  {"betas", LF_ARG_NUM_PAIR, 0, 0, 0, 0, 1, 0, O(beta1), 0, "[beta1, beta2] (default [0.9, 0.999])"},
  {"eps", LF_ARG_NUM, 0, 1, 1e-8, 0, 1, 1, O(eps), 0, "added to the denominator"},
  {"weight_decay", LF_ARG_NUM, 0, 1, 1e-2, 0, BIG, 0, O(weight_decay), 0, "decoupled weight decay"},
  {"scheduler", LF_ARG_SCHEDULER, 0, 0, 0, 0, 0, 0, 0, 0, "learning-rate scheduler component"},
  GRAD_CLIP_ARG,
  {0}
};
static const lf_arg_spec rmsprop_args[] = {
  {"lr", LF_ARG_NUM, 0, 1, 1e-2, 0, BIG, 1, O(lr), 0, "learning rate"},
  {"alpha", LF_ARG_NUM, 0, 1, 0.99, 0, 1, 0, O(alpha), 0, "smoothing constant of the squared-gradient average"},
  {"eps", LF_ARG_NUM, 0, 1, 1e-8, 0, 1, 1, O(eps), 0, "added to the denominator"},
  {"weight_decay", LF_ARG_NUM, 0, 1, 0, 0, BIG, 0, O(weight_decay), 0, "L2 penalty"},
  {"momentum", LF_ARG_NUM, 0, 1, 0, 0, 1, 0, O(momentum), 0, "momentum factor"},
  {"centered", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, O(centered), 0, "normalise by the estimated variance of the gradient"},
  {"scheduler", LF_ARG_SCHEDULER, 0, 0, 0, 0, 0, 0, 0, 0, "learning-rate scheduler component"},
  GRAD_CLIP_ARG,
  {0}
};
static int adam_finish(void *spec, char *err, size_t n){
  lf_optim_spec *s = spec;
  if( s->beta1 >= 1 || s->beta2 >= 1 ){
    snprintf(err, n, "betas must be in [0, 1)");
    return -1;
  }
  return 0;
}
static int sgd_finish(void *spec, char *err, size_t n){
  lf_optim_spec *s = spec;
  if( s->nesterov && s->momentum<=0 ){
    snprintf(err, n, "nesterov needs momentum > 0");
    return -1;
  }
  return 0;
}
static const lf_arg_spec steplr_args[] = {
  {"step_size", LF_ARG_INT, 1, 0, 0, 1, BIG, 0, O(step_size), 0, "epochs between decays"},
  {"gamma", LF_ARG_NUM, 0, 1, 0.1, 0, 1, 1, O(gamma), 0, "decay factor"},
  {0}
};
static const lf_arg_spec cosine_args[] = {
  {"T_max", LF_ARG_INT, 1, 0, 0, 1, BIG, 0, O(t_max), 0, "epochs of a half cosine period"},
  {"eta_min", LF_ARG_NUM, 0, 1, 0, 0, BIG, 0, O(eta_min), 0, "minimum learning rate"},
  {0}
};
static const lf_arg_spec linearlr_args[] = {
  {"start_factor", LF_ARG_NUM, 0, 1, 1.0/3.0, 0, 1, 1, O(start_factor), 0, "lr multiplier in the first epoch"},
  {"end_factor", LF_ARG_NUM, 0, 1, 1, 0, 1, 0, O(end_factor), 0, "lr multiplier from epoch total_iters on"},
  {"total_iters", LF_ARG_INT, 0, 1, 5, 1, BIG, 0, O(total_iters), 0, "epochs of the linear ramp"},
  {0}
};
static const lf_arg_spec onecycle_args[] = {
  {"max_lr", LF_ARG_NUM, 1, 0, 0, 0, BIG, 1, O(max_lr), 0, "peak learning rate (the optimizer's lr is not used)"},
  {"total_steps", LF_ARG_INT64, 0, 1, 0, 0, BIG, 0, O(total_steps), 0, "batches in the cycle (or give epochs)"},
  {"epochs", LF_ARG_INT, 0, 1, 0, 0, BIG, 0, O(cycle_epochs), 0, "epochs in the cycle; total_steps = epochs * batches per epoch"},
  {"pct_start", LF_ARG_NUM, 0, 1, 0.3, 0, 1, 1, O(pct_start), 0, "fraction of the cycle spent increasing the lr"},
  {"anneal_strategy", LF_ARG_STR, 0, 0, 0, 0, 0, 0, O(anneal_str), 0, "\"cos\" (default) or \"linear\""},
  {"div_factor", LF_ARG_NUM, 0, 1, 25, 0, BIG, 1, O(div_factor), 0, "initial lr = max_lr / div_factor"},
  {"final_div_factor", LF_ARG_NUM, 0, 1, 1e4, 0, BIG, 1, O(final_div_factor), 0, "final lr = initial lr / final_div_factor"},
  {"three_phase", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, O(three_phase), 0, "fastai's three phases instead of two"},
  {"cycle_momentum", LF_ARG_BOOL, 0, 1, 1, 0, 1, 0, O(cycle_momentum), 0, "cycle momentum (beta1 for Adam) inversely to the lr"},
  {"base_momentum", LF_ARG_NUM, 0, 1, 0.85, 0, 1, 0, O(base_momentum), 0, "momentum at the lr peak"},
  {"max_momentum", LF_ARG_NUM, 0, 1, 0.95, 0, 1, 0, O(max_momentum), 0, "momentum at the start and end"},
  {0}
};
static int onecycle_finish(void *spec, char *err, size_t n){
  lf_optim_spec *s = spec;
  if( (s->total_steps > 0) == (s->cycle_epochs > 0) ){
    snprintf(err, n, "give either total_steps or epochs (one of them, > 0)");
    return -1;
  }
  if( !s->anneal_str || strcmp(s->anneal_str, "cos")==0 ) s->anneal_linear = 0;
  else if( strcmp(s->anneal_str, "linear")==0 ) s->anneal_linear = 1;
  else { snprintf(err, n, "anneal_strategy must be \"cos\" or \"linear\""); return -1; }
  if( s->base_momentum > s->max_momentum ){
    snprintf(err, n, "base_momentum must not exceed max_momentum");
    return -1;
  }
  return 0;
}
static const lf_arg_spec plateau_args[] = {
  {"monitor", LF_ARG_STR, 0, 0, 0, 0, 0, 0, O(monitor), 0, "quantity watched each epoch: val_loss (default), train_loss, val_<metric> or train_<metric>"},
  {"mode", LF_ARG_STR, 0, 0, 0, 0, 0, 0, O(mode_str), 0, "\"min\" (default): lower is better; \"max\": higher is better"},
  {"factor", LF_ARG_NUM, 0, 1, 0.1, 0, 1, 0, O(factor), 0, "lr is multiplied by it on a plateau (< 1)"},
  {"patience", LF_ARG_INT, 0, 1, 10, 0, BIG, 0, O(patience), 0, "epochs without improvement before the lr drops"},
  {"threshold", LF_ARG_NUM, 0, 1, 1e-4, 0, BIG, 0, O(threshold), 0, "least change that counts as an improvement"},
  {"threshold_mode", LF_ARG_STR, 0, 0, 0, 0, 0, 0, O(threshold_mode_str), 0, "\"rel\" (default) or \"abs\""},
  {"cooldown", LF_ARG_INT, 0, 1, 0, 0, BIG, 0, O(cooldown), 0, "epochs to wait after a drop before counting again"},
  {"min_lr", LF_ARG_NUM, 0, 1, 0, 0, BIG, 0, O(min_lr), 0, "lower bound of the lr"},
  {"eps", LF_ARG_NUM, 0, 1, 1e-8, 0, BIG, 0, O(plateau_eps), 0, "drops smaller than this are skipped"},
  {0}
};
static int plateau_finish(void *spec, char *err, size_t n){
  lf_optim_spec *s = spec;
  if( s->factor >= 1.0 ){ snprintf(err, n, "factor must be below 1"); return -1; }
  if( !s->mode_str || strcmp(s->mode_str, "min")==0 ) s->plateau_max = 0;
  else if( strcmp(s->mode_str, "max")==0 ) s->plateau_max = 1;
  else { snprintf(err, n, "mode must be \"min\" or \"max\""); return -1; }
  if( !s->threshold_mode_str || strcmp(s->threshold_mode_str, "rel")==0 ) s->threshold_abs = 0;
  else if( strcmp(s->threshold_mode_str, "abs")==0 ) s->threshold_abs = 1;
  else { snprintf(err, n, "threshold_mode must be \"rel\" or \"abs\""); return -1; }
  return 0;
}

/* ---- datasets -------------------------------------------------------- */

static const lf_arg_spec idx_args[] = {
  {"scale", LF_ARG_NUM, 0, 1, 255, 0, BIG, 0, D(scale), 0, "features are divided by it (0: raw bytes)"},
  {"standardize", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, D(standardize), 0, "standardise each feature with train-split statistics"},
  {0}
};
#define TABULAR_ARGS \
  {"inputs", LF_ARG_INPUTS, 0, 0, 0, 0, 0, 0, 0, 0, \
   "named input groups {\"name\": {\"columns\": [...], \"categorical\": bool, \"standardize\": bool}}; categorical values become codes from the training split's vocabulary (0: unseen)"}, \
  {"na_values", LF_ARG_STR_LIST, 0, 0, 0, 0, 0, 0, D(na_values), D(nna_values), \
   "with inputs: values that mean missing besides an empty field and NULL (default [\"?\"])"}, \
  {"na", LF_ARG_STR, 0, 0, 0, 0, 0, 0, D(na_str), 0, \
   "with inputs: \"drop\" (default) rows with a missing value, or \"fill\" them (categorical: unknown code; continuous: training mean)"}
/* Sequences and windows (docs/sequences.md). No defaults in the table:
** a default would enter every csv/sql config's identity; finish sets
** them when sequence or window is given. */
#define SEQUENCE_ARGS \
  {"sequence", LF_ARG_STR, 0, 0, 0, 0, 0, 0, D(seq_column), 0, \
   "column holding each row's sequence (JSON array, float32 or int32 BLOB); gives the input groups <column> and <column>_mask"}, \
  {"max_len", LF_ARG_INT, 0, 0, 0, 1, 1000000, 0, D(max_len), 0, "with sequence: steps per sample (shorter ones are padded at the end, longer ones cut)"}, \
  {"step_features", LF_ARG_INT, 0, 0, 0, 1, 1000000, 0, D(step_features), 0, "with sequence: values per step (default 1)"}, \
  {"sequence_dtype", LF_ARG_STR, 0, 0, 0, 0, 0, 0, D(seq_dtype_str), 0, "with sequence: \"float32\" (default) or \"int32\" (token ids, per-sample shape [max_len])"}, \
  {"window", LF_ARG_INT, 0, 0, 0, 1, 1000000, 0, D(window), 0, "sliding windows of this many ordered rows, each a [window, features] sample"}, \
  {"horizon", LF_ARG_INT, 0, 0, 0, 1, 1000000, 0, D(horizon), 0, "with window: the label is the target this many rows after the window (default 1)"}, \
  {"stride", LF_ARG_INT, 0, 0, 0, 1, 1000000, 0, D(stride), 0, "with window: rows between window starts (default 1)"}, \
  {"val_fraction", LF_ARG_NUM, 0, 0, 0, 0, 0.99, 0, D(val_fraction), 0, \
   "with window: the validation split is the windows whose target is in this last fraction of the rows, the training split the others"}
static const lf_arg_spec csv_args[] = {
  {"label", LF_ARG_STR, 1, 0, 0, 0, 0, 0, D(label), 0, "label column name"},
  {"features", LF_ARG_STR_LIST, 0, 0, 0, 0, 0, 0, D(features), D(nfeatures), "feature column names (default: all other columns)"},
  {"standardize", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, D(standardize), 0, "standardise each feature with train-split statistics"},
  TABULAR_ARGS,
  SEQUENCE_ARGS,
  {0}
};

static int group_name_ok(const char *s){
  if( !s[0] || strlen(s) > 35 ) return 0;
  for(const char *c = s; *c; c++){
    if( !((*c>='a' && *c<='z') || (*c>='A' && *c<='Z') || (*c>='0' && *c<='9') || *c=='_') ) return 0;
  }
  return 1;
}

/* A sequence column becomes two input groups: the steps and the mask. */
static int sequence_groups(lf_dataset_spec *s, char *err, size_t n){
  int F = s->seq_int32 ? 1 : s->step_features;
  s->inputs = calloc(2, sizeof(lf_input_group));
  if( !s->inputs ){ snprintf(err, n, "out of memory"); return -1; }
  s->ninputs = 2;
  size_t len = strlen(s->seq_column);
  s->inputs[0].name = strdup(s->seq_column);
  s->inputs[1].name = malloc(len + 6);
  if( !s->inputs[0].name || !s->inputs[1].name ){ snprintf(err, n, "out of memory"); return -1; }
  snprintf(s->inputs[1].name, len + 6, "%s_mask", s->seq_column);
  s->inputs[0].width = (int64_t)s->max_len * F;
  s->inputs[0].shape.ndim = s->seq_int32 ? 1 : 2;
  s->inputs[0].shape.dim[0] = s->max_len;
  s->inputs[0].shape.dim[1] = F;
  s->inputs[1].width = s->max_len;
  s->inputs[1].shape.ndim = 1;
  s->inputs[1].shape.dim[0] = s->max_len;
  return 0;
}

static int sequence_finish(lf_dataset_spec *s, char *err, size_t n){
  if( !s->seq_column && (s->max_len || s->step_features || s->seq_dtype_str) ){
    snprintf(err, n, "max_len, step_features and sequence_dtype go with sequence (the column holding each row's sequence)");
    return -1;
  }
  if( !s->window && (s->horizon || s->stride || s->val_fraction > 0) ){
    snprintf(err, n, "horizon, stride and val_fraction go with window (the rows per sample)");
    return -1;
  }
  if( s->seq_column && s->window ){ snprintf(err, n, "give either sequence or window, not both"); return -1; }
  if( (s->seq_column || s->window) && (s->inputs || s->blob || s->scale != 0) ){
    snprintf(err, n, "%s cannot be combined with inputs, blob or scale", s->seq_column ? "sequence" : "window");
    return -1;
  }
  if( s->window ){
    if( !s->horizon ) s->horizon = 1;
    if( !s->stride ) s->stride = 1;
    return 0;
  }
  if( !s->seq_column ) return 0;
  if( !s->max_len ){
    snprintf(err, n, "sequence needs max_len: the steps per sample (shorter sequences are padded at the end, longer ones cut)");
    return -1;
  }
  if( s->nfeatures || s->standardize ){
    snprintf(err, n, "a sequence dataset reads the sequence column and the label only: drop features and standardize");
    return -1;
  }
  if( !group_name_ok(s->seq_column) ){
    snprintf(err, n, "the sequence column's name names its input groups: use letters, digits and _ (at most 35), "
             "e.g. SELECT ... AS seq");
    return -1;
  }
  if( !s->step_features ) s->step_features = 1;
  if( !s->seq_dtype_str || strcmp(s->seq_dtype_str, "float32")==0 ) s->seq_int32 = 0;
  else if( strcmp(s->seq_dtype_str, "int32")==0 ) s->seq_int32 = 1;
  else { snprintf(err, n, "sequence_dtype must be \"float32\" or \"int32\""); return -1; }
  if( (double)s->max_len * (s->step_features + 1) > 1e8 ){
    snprintf(err, n, "max_len * (step_features + 1) is %.0f values per sample; at most 100000000",
             (double)s->max_len * (s->step_features + 1));
    return -1;
  }
  if( s->seq_int32 && s->step_features != 1 ){
    snprintf(err, n, "int32 token ids have one value per step: drop step_features");
    return -1;
  }
  return sequence_groups(s, err, n);
}

/* Named inputs: their columns, in order, become the features. */
static int tabular_finish(lf_dataset_spec *s, char *err, size_t n){
  if( !s->inputs ){
    if( s->na_values || s->na_str ){ snprintf(err, n, "na_values and na need inputs"); return -1; }
    return 0;
  }
  if( s->nfeatures ){ snprintf(err, n, "give either features or inputs, not both"); return -1; }
  if( s->scale != 0 ){ snprintf(err, n, "scale is for blob data; with inputs, standardize groups instead"); return -1; }
  if( s->standardize ){
    snprintf(err, n, "with inputs, standardize is set per input group (\"standardize\": true inside a group)");
    return -1;
  }
  if( !s->na_str || strcmp(s->na_str, "drop")==0 ) s->na_fill = 0;
  else if( strcmp(s->na_str, "fill")==0 ) s->na_fill = 1;
  else { snprintf(err, n, "na must be \"drop\" or \"fill\""); return -1; }
  int total = 0;
  for(int g=0; g<s->ninputs; g++) total += s->inputs[g].ncolumns;
  s->features = calloc((size_t)total, sizeof(char*));
  if( !s->features ){ snprintf(err, n, "out of memory"); return -1; }
  for(int g=0; g<s->ninputs; g++){
    for(int c=0; c<s->inputs[g].ncolumns; c++){
      const char *col = s->inputs[g].columns[c];
      for(int k=0; k<s->nfeatures; k++){
        if( strcmp(s->features[k], col)==0 ){
          snprintf(err, n, "column '%.60s' is in two input groups", col);
          return -1;
        }
      }
      if( s->label && strcmp(s->label, col)==0 ){
        snprintf(err, n, "column '%.60s' is the label; it cannot be an input", col);
        return -1;
      }
      s->features[s->nfeatures] = strdup(col);
      if( !s->features[s->nfeatures] ){ snprintf(err, n, "out of memory"); return -1; }
      s->nfeatures++;
    }
  }
  return 0;
}
static int csv_finish(void *spec, char *err, size_t n){
  lf_dataset_spec *s = spec;
  if( sequence_finish(s, err, n) ) return -1;
  return s->seq_column ? 0 : tabular_finish(s, err, n);
}
static const lf_arg_spec sql_args[] = {
  {"label", LF_ARG_STR, 1, 0, 0, 0, 0, 0, D(label), 0, "label column name"},
  {"features", LF_ARG_STR_LIST, 0, 0, 0, 0, 0, 0, D(features), D(nfeatures), "feature column names (default: all other columns)"},
  {"blob", LF_ARG_STR, 0, 0, 0, 0, 0, 0, D(blob), 0, "column holding each row's features as a BLOB"},
  {"dtype", LF_ARG_DTYPE, 0, 1, 1, 0, 0, 0, D(blob_dtype), 0, "BLOB element type: uint8 or float32"},
  {"shape", LF_ARG_SHAPE, 0, 0, 0, 1, BIG, 0, D(blob_shape), 0, "per-sample shape of the BLOB, e.g. [1,28,28]"},
  {"scale", LF_ARG_NUM, 0, 1, 0, 0, BIG, 0, D(scale), 0, "features are divided by it (0: none)"},
  {"standardize", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, D(standardize), 0, "standardise each feature with train-split statistics"},
  TABULAR_ARGS,
  SEQUENCE_ARGS,
  {0}
};
static int sql_finish(void *spec, char *err, size_t n){
  lf_dataset_spec *s = spec;
  if( sequence_finish(s, err, n) ) return -1;
  if( s->blob && s->inputs ){
    snprintf(err, n, "give either blob or inputs, not both");
    return -1;
  }
  if( s->blob && s->nfeatures ){
    snprintf(err, n, "give either blob or features, not both");
    return -1;
  }
  if( !s->blob && s->blob_shape.ndim ){
    snprintf(err, n, "shape needs blob");
    return -1;
  }
  return s->seq_column ? 0 : tabular_finish(s, err, n);
}

/* A layer row: its args schema, args struct and implementation. */
#define LAYER(loc, help, args, type, finish, impl) \
  {LF_KIND_LAYER, loc, help, args, 0, finish, impl, sizeof(type)}
#define LAYER0(loc, help, impl) {LF_KIND_LAYER, loc, help, no_args, 0, 0, impl, 0}

static const lf_component catalogue[] = {
  {LF_KIND_MODEL, "Sequential", "Layers applied in order; input sizes are inferred from the dataset.", sequential_args, 0, 0, 0, 0},
  {LF_KIND_MODEL, "Graph", "Named nodes, each reading inputs or other nodes by name; shapes are inferred through the graph. A node may be a layer, Sequential, Residual or Graph.", graph_args, 0, 0, 0, 0},
  {LF_KIND_MODEL, "TransformerEncoderLayer", "torch.nn.TransformerEncoderLayer(batch_first=True) on a sequence [T, E]: "
   "self-attention and a feed-forward block, each with dropout, a residual sum and LayerNorm (after, or before with norm_first); "
   "a Graph node may give it a mask as second input. Usable as a layer; made of MultiheadAttention, Dropout, Add, LayerNorm, Linear "
   "and ReLU/GELU, named as PyTorch's parameters (self_attn.in_proj_weight, linear1.weight, norm1.weight, ...).", encoder_args, 0, 0, 0, 0},
  {LF_KIND_MODEL, "Residual", "layers(x) + shortcut(x) (or + x without shortcut); usable as a layer of a Sequential.", residual_args, 0, 0, 0, 0},

  LAYER("Linear", "Fully connected layer y = xW^T + b on a vector input.", linear_args, lf_linear_args, 0, &lf_layer_linear),
  LAYER("Conv2d", "2-D convolution on a (C,H,W) input.", conv_args, lf_conv2d_args, 0, &lf_layer_conv2d),
  LAYER("MaxPool2d", "2-D max pooling.", pool_args, lf_pool2d_args, pool_finish, &lf_layer_maxpool2d),
  LAYER("AvgPool2d", "2-D average pooling (padding counted, as PyTorch).", pool_args, lf_pool2d_args, pool_finish, &lf_layer_avgpool2d),
  LAYER("Conv1d", "1-D convolution on a (C,L) input.", conv1d_args, lf_conv1d_args, 0, &lf_layer_conv1d),
  LAYER("MaxPool1d", "1-D max pooling on a (C,L) input.", pool1d_args, lf_pool1d_args, pool1d_finish, &lf_layer_maxpool1d),
  LAYER("AvgPool1d", "1-D average pooling on a (C,L) input (padding counted, as PyTorch).", pool1d_args, lf_pool1d_args, pool1d_finish, &lf_layer_avgpool1d),
  LAYER("BatchNorm1d", "Batch normalisation of a vector input.", batchnorm_args, lf_batchnorm_args, 0, &lf_layer_batchnorm1d),
  LAYER("BatchNorm2d", "Batch normalisation per channel of a (C,H,W) input.", batchnorm_args, lf_batchnorm_args, 0, &lf_layer_batchnorm2d),
  LAYER("Dropout", "Zeroes elements with probability p while training.", dropout_args, lf_dropout_args, dropout_finish, &lf_layer_dropout),
  LAYER0("ReLU", "max(0, x).", &lf_layer_relu),
  LAYER("LeakyReLU", "x if x > 0 else negative_slope * x.", leaky_args, lf_leakyrelu_args, 0, &lf_layer_leakyrelu),
  LAYER0("SiLU", "x * sigmoid(x) (swish).", &lf_layer_silu),
  LAYER("ELU", "x if x > 0 else alpha * (exp(x) - 1).", elu_args, lf_elu_args, 0, &lf_layer_elu),
  LAYER0("Softplus", "log(1 + exp(x)) (beta 1).", &lf_layer_softplus),
  LAYER0("Tanh", "tanh(x).", &lf_layer_tanh),
  LAYER0("Sigmoid", "1 / (1 + exp(-x)).", &lf_layer_sigmoid),
  LAYER0("GELU", "x * Phi(x) (erf form).", &lf_layer_gelu),
  LAYER0("Flatten", "(C,H,W) -> (C*H*W).", &lf_layer_flatten),
  LAYER("Reshape", "The input's values in row-major order, seen with another per-sample shape.", reshape_args, lf_reshape_args, reshape_finish, &lf_layer_reshape),
  LAYER0("Identity", "The input, unchanged.", &lf_layer_identity),
  LAYER("Slice", "Values start .. start+length-1 of a vector input (how a Graph reads a named input group).", slice_args, lf_slice_args, 0, &lf_layer_slice),
  LAYER0("GlobalAvgPool", "Mean of each channel over all positions: (C,H,W) or (C,L) -> (C).", &lf_layer_globalavgpool),
  LAYER0("Add", "Element-wise sum of 2 or more inputs of one shape (a Graph node with several inputs).", &lf_layer_add),
  LAYER0("Mul", "Element-wise product of 2 inputs of one shape (a Graph node with 2 inputs).", &lf_layer_mul),
  LAYER("Concat", "Joins 2 or more inputs along one axis (a Graph node with several inputs).", concat_args, lf_concat_args, 0, &lf_layer_concat),
  LAYER("MultiheadAttention", "Self-attention on a sequence [T, E] as torch.nn.MultiheadAttention(batch_first=True) "
        "with query = key = value; a second Graph input [T] (1 valid, 0 padding) masks padded keys.",
        mha_args, lf_mha_args, mha_finish, &lf_layer_mha),
  LAYER("LayerNorm", "Layer normalisation over the last dimension(s) of each sample (PyTorch nn.LayerNorm).",
        layernorm_args, lf_layernorm_args, 0, &lf_layer_layernorm),
  LAYER("Softmax", "exp(x) / sum(exp(x)) along one per-sample axis.", softmax_args, lf_softmax_args, 0, &lf_layer_softmax),
  LAYER("Embedding", "Token ids (floats holding integers, per sample (T)) -> rows of a learnt table, (T, embedding_dim); N(0,1) init.",
        embedding_args, lf_embedding_args, 0, &lf_layer_embedding),
  LAYER("PositionalEmbedding", "x + P[:T] on a sequence [T, E]: P a learned [max_len, E] table (\"weight\", "
        "N(0,1) as nn.Embedding) or, with sinusoidal, the fixed sin/cos positions.",
        posemb_args, lf_posemb_args, 0, &lf_layer_posemb),
  LAYER0("ClassToken", "Prepends a learned token (\"weight\" [1, E], zeros at first) to a sequence: [T, E] -> [T+1, E]; "
         "after the encoder, Flatten then Slice {start 0, length E} reads it. On a sequence's mask [T] (a Graph node "
         "reading x_mask) it puts a valid step in front, [T] -> [T+1], the mask attention needs after a class token.", &lf_layer_clstoken),
  LAYER("CategoricalEmbedding", "First layer on a dataset with named inputs: one embedding table per categorical "
        "column (its codes counted from the training data), concatenated, then the continuous columns.",
        catemb_args, lf_catemb_args, catemb_finish, &lf_layer_catemb),
  LAYER("LSTM", "Long short-term memory on a [time, features] input (oneDNN), PyTorch's parameters and gates.",
        rnn_args, lf_rnn_args, rnn_finish, &lf_layer_lstm),
  LAYER("GRU", "Gated recurrent unit on a [time, features] input (oneDNN's linear-before-reset GRU, which is PyTorch's).",
        rnn_args, lf_rnn_args, rnn_finish, &lf_layer_gru),
  LAYER("SeqPool", "Pooling over time of a [time, channels] input to [channels]; a Graph node may add the "
        "sequence's mask as second input (\"in\": [\"h\", \"x_mask\"]) so padding is skipped.",
        seqpool_args, lf_seqpool_args, seqpool_finish, &lf_layer_seqpool),

  {LF_KIND_LOSS, "CrossEntropyLoss", "Softmax cross-entropy on logits; targets are class indices.", ce_args, LF_LOSS_CROSS_ENTROPY, 0, 0, 0},
  {LF_KIND_LOSS, "MSELoss", "Mean squared error (regression).", no_args, LF_LOSS_MSE, 0, 0, 0},
  {LF_KIND_LOSS, "L1Loss", "Mean absolute error (regression).", no_args, LF_LOSS_L1, 0, 0, 0},
  {LF_KIND_LOSS, "BCEWithLogitsLoss", "Binary cross-entropy on logits; targets 0/1.", bce_args, LF_LOSS_BCE_WITH_LOGITS, 0, 0, 0},
  {LF_KIND_LOSS, "HuberLoss", "Quadratic for errors below delta, linear above (regression).", huber_args, LF_LOSS_HUBER, 0, 0, 0},

  {LF_KIND_OPTIMIZER, "SGD", "Stochastic gradient descent (PyTorch rules).", sgd_args, LF_OPT_SGD, sgd_finish, 0, 0},
  {LF_KIND_OPTIMIZER, "Adam", "Adam (L2 weight decay).", adam_args, LF_OPT_ADAM, adam_finish, 0, 0},
  {LF_KIND_OPTIMIZER, "AdamW", "Adam with decoupled weight decay.", adamw_args, LF_OPT_ADAMW, adam_finish, 0, 0},
  {LF_KIND_OPTIMIZER, "RMSprop", "RMSprop (PyTorch rules; optional momentum, centred).", rmsprop_args, LF_OPT_RMSPROP, 0, 0, 0},

  {LF_KIND_SCHEDULER, "StepLR", "lr * gamma^(epoch // step_size), stepped per epoch.", steplr_args, LF_SCHED_STEP, 0, 0, 0},
  {LF_KIND_SCHEDULER, "CosineAnnealingLR", "Cosine from lr to eta_min over T_max epochs.", cosine_args, LF_SCHED_COSINE, 0, 0, 0},
  {LF_KIND_SCHEDULER, "LinearLR", "Linear warm-up: lr * factor, the factor going linearly from start_factor to end_factor over total_iters epochs.", linearlr_args, LF_SCHED_LINEAR, 0, 0, 0},
  {LF_KIND_SCHEDULER, "OneCycleLR", "One cycle per batch: lr up from max_lr/div_factor to max_lr, then down, momentum the other way.", onecycle_args, LF_SCHED_ONECYCLE, onecycle_finish, 0, 0},
  {LF_KIND_SCHEDULER, "ReduceLROnPlateau", "lr * factor when the monitored quantity stops improving for patience epochs.", plateau_args, LF_SCHED_PLATEAU, plateau_finish, 0, 0},

  {LF_KIND_METRIC, "Accuracy", "Fraction of samples whose predicted class is the label.", no_args, LF_MET_ACCURACY, 0, 0, 0},
  {LF_KIND_METRIC, "Precision", "Macro-averaged precision.", no_args, LF_MET_PRECISION, 0, 0, 0},
  {LF_KIND_METRIC, "Recall", "Macro-averaged recall.", no_args, LF_MET_RECALL, 0, 0, 0},
  {LF_KIND_METRIC, "F1", "Macro-averaged F1 score.", no_args, LF_MET_F1, 0, 0, 0},
  {LF_KIND_METRIC, "AUROC", "Area under the ROC curve (binary).", no_args, LF_MET_AUROC, 0, 0, 0},
  {LF_KIND_METRIC, "AUPRC", "Average precision: area under the precision-recall curve (binary).", no_args, LF_MET_AUPRC, 0, 0, 0},
  {LF_KIND_METRIC, "TopKAccuracy", "Fraction of samples whose label is among the k highest outputs.", topk_args, LF_MET_TOPK, 0, 0, 0},
  {LF_KIND_METRIC, "MAE", "Mean absolute error.", no_args, LF_MET_MAE, 0, 0, 0},
  {LF_KIND_METRIC, "RMSE", "Root mean squared error.", no_args, LF_MET_RMSE, 0, 0, 0},
  {LF_KIND_METRIC, "R2", "Coefficient of determination.", no_args, LF_MET_R2, 0, 0, 0},

  {LF_KIND_DATASET, "idx", "MNIST/Fashion-MNIST IDX files: source is the prefix P of P-images-idx3-ubyte[.gz] and P-labels-idx1-ubyte[.gz].", idx_args, LF_DS_IDX, 0, 0, 0},
  {LF_KIND_DATASET, "csv", "A CSV file with a header row; source is its path.", csv_args, LF_DS_CSV, csv_finish, 0, 0},
  {LF_KIND_DATASET, "sql", "A SELECT run on the project database (ATTACHed databases included); source is the SELECT.", sql_args, LF_DS_SQL, sql_finish, 0, 0},
};

#define N_CATALOGUE ((int)(sizeof(catalogue)/sizeof(catalogue[0])))

/* The built-in rows, then those of loaded plugins (lf_plugin.h). */
const lf_component *lf_registry_at(int i){
  if( i>=N_CATALOGUE ) return lf_plugin_row(i - N_CATALOGUE);
  return (i>=0) ? &catalogue[i] : NULL;
}

const lf_component *lf_registry_find(const char *loc){
  for(int i=0; i<N_CATALOGUE; i++){
    if( strcmp(catalogue[i].loc, loc)==0 ) return &catalogue[i];
  }
  return lf_plugin_find(loc);
}

const lf_component *lf_registry_find_layer(const lf_layer_ops *ops){
  for(int i=0; ops && i<N_CATALOGUE; i++){
    if( catalogue[i].layer==ops ) return &catalogue[i];
  }
  return lf_plugin_find_layer(ops);
}

const lf_component *lf_registry_find_kind(lf_kind kind, const char *loc){
  const lf_component *c = lf_registry_find(loc);
  return (c && c->kind==kind) ? c : NULL;
}

const char *lf_kind_name(lf_kind k){
  switch( k ){
    case LF_KIND_MODEL: return "model";
    case LF_KIND_LAYER: return "layer";
    case LF_KIND_LOSS: return "loss";
    case LF_KIND_OPTIMIZER: return "optimizer";
    case LF_KIND_SCHEDULER: return "scheduler";
    case LF_KIND_METRIC: return "metric";
    case LF_KIND_DATASET: return "dataset";
  }
  return "?";
}

const char *lf_registry_names(lf_kind kind, char *buf, size_t n){
  size_t used = 0;
  buf[0] = 0;
  const lf_component *c;
  for(int i=0; (c = lf_registry_at(i))!=NULL; i++){
    if( c->kind!=kind ) continue;
    int w = snprintf(buf+used, n-used, "%s%s", used ? ", " : "", c->loc);
    if( w<0 || (size_t)w>=n-used ) break;
    used += (size_t)w;
  }
  return buf;
}

/* Defaults that one number (lf_arg_spec.def) cannot say: a pair of two
** values, a string, or the value of another arg. They belong to the table
** as much as `def` does: the parser applies them as if the config had
** given them, the config's identity (config_hash) spells them out and
** labflow_help shows them, so code holds no default of its own. */
static const lf_arg_default arg_defaults[] = {
  {"Adam", "betas", "[0.9, 0.999]", NULL, NULL, 3},
  {"AdamW", "betas", "[0.9, 0.999]", NULL, NULL, 3},
  {"MaxPool2d", "stride", NULL, "kernel", NULL, 3},
  {"AvgPool2d", "stride", NULL, "kernel", NULL, 3},
  {"MaxPool1d", "stride", NULL, "kernel", NULL, 3},
  {"AvgPool1d", "stride", NULL, "kernel", NULL, 3},
  {"LSTM", "output", "\"sequence\"", NULL, NULL, 3},
  {"GRU", "output", "\"sequence\"", NULL, NULL, 3},
  {"SeqPool", "mode", "\"last\"", NULL, NULL, 3},
  {"TransformerEncoderLayer", "activation", "\"relu\"", NULL, NULL, 3},
  {"OneCycleLR", "anneal_strategy", "\"cos\"", NULL, NULL, 3},
  {"ReduceLROnPlateau", "monitor", "\"val_loss\"", NULL, NULL, 3},
  {"ReduceLROnPlateau", "mode", "\"min\"", NULL, NULL, 3},
  {"ReduceLROnPlateau", "threshold_mode", "\"rel\"", NULL, NULL, 3},
#define DATASET_DEFAULTS(ds) \
  {ds, "na_values", "[\"?\"]", NULL, "inputs", 3}, {ds, "na", "\"drop\"", NULL, "inputs", 3}, \
  {ds, "step_features", "1", NULL, "sequence", 3}, {ds, "sequence_dtype", "\"float32\"", NULL, "sequence", 3}, \
  {ds, "horizon", "1", NULL, "window", 3}, {ds, "stride", "1", NULL, "window", 3}
  DATASET_DEFAULTS("csv"),
  DATASET_DEFAULTS("sql"),
  /* Form 4: a Graph that names no inputs reads one, "x" (lf_graph.c);
  ** a nested Graph takes its node's single in the same way. */
  {"Graph", "inputs", "[\"x\"]", NULL, NULL, 4},
  {NULL, NULL, NULL, NULL, NULL, 0}
};

const lf_arg_default *lf_registry_arg_default(const lf_component *c, const lf_arg_spec *a){
  for(const lf_arg_default *d = arg_defaults; c && a && d->loc; d++){
    if( strcmp(d->loc, c->loc)==0 && strcmp(d->arg, a->name)==0 ) return d;
  }
  return NULL;
}

static const char *arg_type_name(lf_arg_type t){
  switch( t ){
    case LF_ARG_INT: case LF_ARG_INT64: return "integer";
    case LF_ARG_NUM: return "number";
    case LF_ARG_BOOL: return "boolean";
    case LF_ARG_INT_PAIR: return "integer or [h,w]";
    case LF_ARG_NUM_PAIR: return "[number, number]";
    case LF_ARG_STR: return "string";
    case LF_ARG_STR_LIST: return "list of strings";
    case LF_ARG_SHAPE: return "list of integers";
    case LF_ARG_INT_LIST: return "list of integers";
    case LF_ARG_DTYPE: return "\"uint8\" or \"float32\"";
    case LF_ARG_LAYERS: return "list of layers";
    case LF_ARG_NODES: return "list of nodes";
    case LF_ARG_SCHEDULER: return "scheduler component";
    case LF_ARG_INPUTS: return "object of input groups";
  }
  return "?";
}

char *lf_registry_help(const lf_component *c){
  size_t cap = 2048, used = 0;
  char *out = malloc(cap);
  if( !out ) return NULL;
  used += (size_t)snprintf(out, cap, "%s (%s): %s", c->loc, lf_kind_name(c->kind), c->help);
  if( lf_component_plugin(c) ){
    const lf_plugin_info *p = lf_plugin_get(lf_component_plugin(c));
    if( p ) used += (size_t)snprintf(out+used, cap-used, " [plugin %s %s, sha256 %.12s]", p->name, p->version, p->sha256);
  }
  for(const lf_arg_spec *a = c->args; a && a->name; a++){
    char def[64] = "";
    const lf_arg_default *ad = lf_registry_arg_default(c, a);
    if( a->required ) snprintf(def, sizeof def, ", required");
    else if( ad && ad->json ) snprintf(def, sizeof def, ", default %s", ad->json);
    else if( ad ) snprintf(def, sizeof def, ", default: the %s", ad->same_as);
    else if( a->has_default && a->type==LF_ARG_BOOL ) snprintf(def, sizeof def, ", default %s", a->def ? "true" : "false");
    else if( a->has_default && a->type==LF_ARG_DTYPE ) snprintf(def, sizeof def, ", default \"uint8\"");
    else if( a->has_default ) snprintf(def, sizeof def, ", default %g", a->def);
    int w = snprintf(out+used, cap-used, "\n  %s: %s%s. %s", a->name, arg_type_name(a->type), def, a->help);
    if( w<0 || (size_t)w>=cap-used ) break;
    used += (size_t)w;
  }
  return out;
}
