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

#define BIG 1e9
#define L(f) offsetof(lf_layer_spec, f)
#define O(f) offsetof(lf_optim_spec, f)
#define D(f) offsetof(lf_dataset_spec, f)

/* ---- layers ---------------------------------------------------------- */

static const lf_arg_spec linear_args[] = {
  {"out", LF_ARG_INT64, 1, 0, 0, 1, BIG, 0, L(out), 0, "output features"},
  {"bias", LF_ARG_BOOL, 0, 1, 1, 0, 1, 0, L(bias), 0, "learn an additive bias"},
  {0}
};
static const lf_arg_spec conv_args[] = {
  {"out", LF_ARG_INT64, 1, 0, 0, 1, 65536, 0, L(out), 0, "output channels"},
  {"kernel", LF_ARG_INT_PAIR, 1, 0, 0, 1, 1024, 0, L(kernel), 0, "kernel size: n or [h,w]"},
  {"stride", LF_ARG_INT_PAIR, 0, 1, 1, 1, 1024, 0, L(stride), 0, "stride: n or [h,w]"},
  {"padding", LF_ARG_INT_PAIR, 0, 1, 0, 0, 1024, 0, L(padding), 0, "zero padding: n or [h,w]"},
  {"bias", LF_ARG_BOOL, 0, 1, 1, 0, 1, 0, L(bias), 0, "learn an additive bias"},
  {0}
};
static const lf_arg_spec pool_args[] = {
  {"kernel", LF_ARG_INT_PAIR, 1, 0, 0, 1, 1024, 0, L(kernel), 0, "window size: n or [h,w]"},
  {"stride", LF_ARG_INT_PAIR, 0, 0, 0, 1, 1024, 0, L(stride), 0, "stride (default: kernel)"},
  {"padding", LF_ARG_INT_PAIR, 0, 1, 0, 0, 1024, 0, L(padding), 0, "implicit padding: n or [h,w]"},
  {0}
};
static const lf_arg_spec batchnorm_args[] = {
  {"eps", LF_ARG_NUM, 0, 1, 1e-5, 0, 1, 1, L(eps), 0, "added to the variance"},
  {"momentum", LF_ARG_NUM, 0, 1, 0.1, 0, 1, 0, L(momentum), 0, "running statistics update rate"},
  {0}
};
static const lf_arg_spec dropout_args[] = {
  {"p", LF_ARG_NUM, 0, 1, 0.5, 0, 1, 0, L(p), 0, "probability of zeroing an element (0 <= p < 1)"},
  {0}
};
static const lf_arg_spec leaky_args[] = {
  {"negative_slope", LF_ARG_NUM, 0, 1, 0.01, -BIG, BIG, 0, L(negative_slope), 0, "slope for x < 0"},
  {0}
};
static const lf_arg_spec no_args[] = { {0} };

/* Pools default their stride to their kernel, as PyTorch does. */
static int pool_finish(void *spec, char *err, size_t n){
  lf_layer_spec *s = spec;
  if( s->stride[0]==0 ){ s->stride[0] = s->kernel[0]; s->stride[1] = s->kernel[1]; }
  if( 2*s->padding[0] > s->kernel[0] || 2*s->padding[1] > s->kernel[1] ){
    snprintf(err, n, "padding must be at most half the kernel size");
    return -1;
  }
  return 0;
}
static int dropout_finish(void *spec, char *err, size_t n){
  lf_layer_spec *s = spec;
  if( s->p >= 1.0 ){ snprintf(err, n, "p must be below 1"); return -1; }
  return 0;
}

/* ---- model ----------------------------------------------------------- */

static const lf_arg_spec sequential_args[] = {
  {"layers", LF_ARG_LAYERS, 1, 0, 0, 1, 1000, 0, 0, 0, "list of layer components, applied in order"},
  {0}
};

/* ---- losses ---------------------------------------------------------- */

static const lf_arg_spec ce_args[] = {
  {"label_smoothing", LF_ARG_NUM, 0, 1, 0, 0, 1, 0, offsetof(lf_loss_spec, label_smoothing), 0,
   "mix the target with the uniform distribution by this amount"},
  {0}
};

/* ---- optimizers and schedulers -------------------------------------- */

static const lf_arg_spec sgd_args[] = {
  {"lr", LF_ARG_NUM, 1, 0, 0, 0, BIG, 1, O(lr), 0, "learning rate"},
  {"momentum", LF_ARG_NUM, 0, 1, 0, 0, 1, 0, O(momentum), 0, "momentum factor"},
  {"nesterov", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, O(nesterov), 0, "Nesterov momentum"},
  {"weight_decay", LF_ARG_NUM, 0, 1, 0, 0, BIG, 0, O(weight_decay), 0, "L2 penalty"},
  {"scheduler", LF_ARG_SCHEDULER, 0, 0, 0, 0, 0, 0, 0, 0, "learning-rate scheduler component"},
  {0}
};
static const lf_arg_spec adam_args[] = {
  {"lr", LF_ARG_NUM, 0, 1, 1e-3, 0, BIG, 1, O(lr), 0, "learning rate"},
  {"betas", LF_ARG_NUM_PAIR, 0, 0, 0, 0, 1, 0, O(beta1), 0, "[beta1, beta2] (default [0.9, 0.999])"},
  {"eps", LF_ARG_NUM, 0, 1, 1e-8, 0, 1, 1, O(eps), 0, "added to the denominator"},
  {"weight_decay", LF_ARG_NUM, 0, 1, 0, 0, BIG, 0, O(weight_decay), 0, "L2 penalty"},
  {"scheduler", LF_ARG_SCHEDULER, 0, 0, 0, 0, 0, 0, 0, 0, "learning-rate scheduler component"},
  {0}
};
static const lf_arg_spec adamw_args[] = {
  {"lr", LF_ARG_NUM, 0, 1, 1e-3, 0, BIG, 1, O(lr), 0, "learning rate"},
  {"betas", LF_ARG_NUM_PAIR, 0, 0, 0, 0, 1, 0, O(beta1), 0, "[beta1, beta2] (default [0.9, 0.999])"},
  {"eps", LF_ARG_NUM, 0, 1, 1e-8, 0, 1, 1, O(eps), 0, "added to the denominator"},
  {"weight_decay", LF_ARG_NUM, 0, 1, 1e-2, 0, BIG, 0, O(weight_decay), 0, "decoupled weight decay"},
  {"scheduler", LF_ARG_SCHEDULER, 0, 0, 0, 0, 0, 0, 0, 0, "learning-rate scheduler component"},
  {0}
};
static int adam_finish(void *spec, char *err, size_t n){
  lf_optim_spec *s = spec;
  (void)err; (void)n;
  if( s->beta1==0 && s->beta2==0 ){ s->beta1 = 0.9; s->beta2 = 0.999; }
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

/* ---- datasets -------------------------------------------------------- */

static const lf_arg_spec idx_args[] = {
  {"scale", LF_ARG_NUM, 0, 1, 255, 0, BIG, 0, D(scale), 0, "features are divided by it (0: raw bytes)"},
  {"standardize", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, D(standardize), 0, "standardise each feature with train-split statistics"},
  {0}
};
static const lf_arg_spec csv_args[] = {
  {"label", LF_ARG_STR, 1, 0, 0, 0, 0, 0, D(label), 0, "label column name"},
  {"features", LF_ARG_STR_LIST, 0, 0, 0, 0, 0, 0, D(features), D(nfeatures), "feature column names (default: all other columns)"},
  {"standardize", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, D(standardize), 0, "standardise each feature with train-split statistics"},
  {0}
};
static const lf_arg_spec sql_args[] = {
  {"label", LF_ARG_STR, 1, 0, 0, 0, 0, 0, D(label), 0, "label column name"},
  {"features", LF_ARG_STR_LIST, 0, 0, 0, 0, 0, 0, D(features), D(nfeatures), "feature column names (default: all other columns)"},
  {"blob", LF_ARG_STR, 0, 0, 0, 0, 0, 0, D(blob), 0, "column holding each row's features as a BLOB"},
  {"dtype", LF_ARG_DTYPE, 0, 1, 1, 0, 0, 0, D(blob_dtype), 0, "BLOB element type: uint8 or float32"},
  {"shape", LF_ARG_SHAPE, 0, 0, 0, 1, BIG, 0, D(blob_shape), 0, "per-sample shape of the BLOB, e.g. [1,28,28]"},
  {"scale", LF_ARG_NUM, 0, 1, 0, 0, BIG, 0, D(scale), 0, "features are divided by it (0: none)"},
  {"standardize", LF_ARG_BOOL, 0, 1, 0, 0, 1, 0, D(standardize), 0, "standardise each feature with train-split statistics"},
  {0}
};
static int sql_finish(void *spec, char *err, size_t n){
  lf_dataset_spec *s = spec;
  if( s->blob && s->nfeatures ){
    snprintf(err, n, "give either blob or features, not both");
    return -1;
  }
  if( !s->blob && s->blob_shape.ndim ){
    snprintf(err, n, "shape needs blob");
    return -1;
  }
  return 0;
}

static const lf_component catalogue[] = {
  {LF_KIND_MODEL, "Sequential", "Layers applied in order; input sizes are inferred from the dataset.", sequential_args, 0, 0},

  {LF_KIND_LAYER, "Linear", "Fully connected layer y = xW^T + b on a vector input.", linear_args, 0, 0},
  {LF_KIND_LAYER, "Conv2d", "2-D convolution on a (C,H,W) input.", conv_args, 0, 0},
  {LF_KIND_LAYER, "MaxPool2d", "2-D max pooling.", pool_args, 0, pool_finish},
  {LF_KIND_LAYER, "AvgPool2d", "2-D average pooling (padding counted, as PyTorch).", pool_args, 0, pool_finish},
  {LF_KIND_LAYER, "BatchNorm1d", "Batch normalisation of a vector input.", batchnorm_args, 0, 0},
  {LF_KIND_LAYER, "BatchNorm2d", "Batch normalisation per channel of a (C,H,W) input.", batchnorm_args, 0, 0},
  {LF_KIND_LAYER, "Dropout", "Zeroes elements with probability p while training.", dropout_args, 0, dropout_finish},
  {LF_KIND_LAYER, "ReLU", "max(0, x).", no_args, 0, 0},
  {LF_KIND_LAYER, "LeakyReLU", "x if x > 0 else negative_slope * x.", leaky_args, 0, 0},
  {LF_KIND_LAYER, "Tanh", "tanh(x).", no_args, 0, 0},
  {LF_KIND_LAYER, "Sigmoid", "1 / (1 + exp(-x)).", no_args, 0, 0},
  {LF_KIND_LAYER, "GELU", "x * Phi(x) (erf form).", no_args, 0, 0},
  {LF_KIND_LAYER, "Flatten", "(C,H,W) -> (C*H*W).", no_args, 0, 0},

  {LF_KIND_LOSS, "CrossEntropyLoss", "Softmax cross-entropy on logits; targets are class indices.", ce_args, LF_LOSS_CROSS_ENTROPY, 0},
  {LF_KIND_LOSS, "MSELoss", "Mean squared error (regression).", no_args, LF_LOSS_MSE, 0},
  {LF_KIND_LOSS, "L1Loss", "Mean absolute error (regression).", no_args, LF_LOSS_L1, 0},
  {LF_KIND_LOSS, "BCEWithLogitsLoss", "Binary cross-entropy on logits; targets 0/1.", no_args, LF_LOSS_BCE_WITH_LOGITS, 0},

  {LF_KIND_OPTIMIZER, "SGD", "Stochastic gradient descent (PyTorch rules).", sgd_args, LF_OPT_SGD, sgd_finish},
  {LF_KIND_OPTIMIZER, "Adam", "Adam (L2 weight decay).", adam_args, LF_OPT_ADAM, adam_finish},
  {LF_KIND_OPTIMIZER, "AdamW", "Adam with decoupled weight decay.", adamw_args, LF_OPT_ADAMW, adam_finish},

  {LF_KIND_SCHEDULER, "StepLR", "lr * gamma^(epoch // step_size), stepped per epoch.", steplr_args, LF_SCHED_STEP, 0},
  {LF_KIND_SCHEDULER, "CosineAnnealingLR", "Cosine from lr to eta_min over T_max epochs.", cosine_args, LF_SCHED_COSINE, 0},

  {LF_KIND_METRIC, "Accuracy", "Fraction of samples whose predicted class is the label.", no_args, LF_MET_ACCURACY, 0},
  {LF_KIND_METRIC, "Precision", "Macro-averaged precision.", no_args, LF_MET_PRECISION, 0},
  {LF_KIND_METRIC, "Recall", "Macro-averaged recall.", no_args, LF_MET_RECALL, 0},
  {LF_KIND_METRIC, "F1", "Macro-averaged F1 score.", no_args, LF_MET_F1, 0},
  {LF_KIND_METRIC, "AUROC", "Area under the ROC curve (binary).", no_args, LF_MET_AUROC, 0},
  {LF_KIND_METRIC, "MAE", "Mean absolute error.", no_args, LF_MET_MAE, 0},
  {LF_KIND_METRIC, "RMSE", "Root mean squared error.", no_args, LF_MET_RMSE, 0},
  {LF_KIND_METRIC, "R2", "Coefficient of determination.", no_args, LF_MET_R2, 0},

  {LF_KIND_DATASET, "idx", "MNIST/Fashion-MNIST IDX files: source is the prefix P of P-images-idx3-ubyte[.gz] and P-labels-idx1-ubyte[.gz].", idx_args, LF_DS_IDX, 0},
  {LF_KIND_DATASET, "csv", "A CSV file with a header row; source is its path.", csv_args, LF_DS_CSV, 0},
  {LF_KIND_DATASET, "sql", "A SELECT run on the project database (ATTACHed databases included); source is the SELECT.", sql_args, LF_DS_SQL, sql_finish},
};

#define N_CATALOGUE ((int)(sizeof(catalogue)/sizeof(catalogue[0])))

const lf_component *lf_registry_at(int i){
  return (i>=0 && i<N_CATALOGUE) ? &catalogue[i] : NULL;
}

const lf_component *lf_registry_find(const char *loc){
  for(int i=0; i<N_CATALOGUE; i++){
    if( strcmp(catalogue[i].loc, loc)==0 ) return &catalogue[i];
  }
  return NULL;
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
  for(int i=0; i<N_CATALOGUE; i++){
    if( catalogue[i].kind!=kind ) continue;
    int w = snprintf(buf+used, n-used, "%s%s", used ? ", " : "", catalogue[i].loc);
    if( w<0 || (size_t)w>=n-used ) break;
    used += (size_t)w;
  }
  return buf;
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
    case LF_ARG_DTYPE: return "\"uint8\" or \"float32\"";
    case LF_ARG_LAYERS: return "list of layers";
    case LF_ARG_SCHEDULER: return "scheduler component";
  }
  return "?";
}

char *lf_registry_help(const lf_component *c){
  size_t cap = 2048, used = 0;
  char *out = malloc(cap);
  if( !out ) return NULL;
  used += (size_t)snprintf(out, cap, "%s (%s): %s", c->loc, lf_kind_name(c->kind), c->help);
  for(const lf_arg_spec *a = c->args; a && a->name; a++){
    char def[64] = "";
    if( a->required ) snprintf(def, sizeof def, ", required");
    else if( a->has_default && a->type==LF_ARG_BOOL ) snprintf(def, sizeof def, ", default %s", a->def ? "true" : "false");
    else if( a->has_default && a->type==LF_ARG_DTYPE ) snprintf(def, sizeof def, ", default \"uint8\"");
    else if( a->has_default ) snprintf(def, sizeof def, ", default %g", a->def);
    int w = snprintf(out+used, cap-used, "\n  %s: %s%s. %s", a->name, arg_type_name(a->type), def, a->help);
    if( w<0 || (size_t)w>=cap-used ) break;
    used += (size_t)w;
  }
  return out;
}
