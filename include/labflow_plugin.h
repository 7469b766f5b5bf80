/*
** labflow_plugin.h — the public interface of LabFlow C plugins.
**
** A plugin is a shared library that registers components (layers, losses,
** metrics, optimizers, learning-rate schedulers, datasets) into the
** component table the built-ins use. A config then names
** them as "<plugin>.<component>", e.g. {"loc": "myplugin.Swish"}. From SQL:
**
**   SELECT lab_load_plugin('./myplugin.so');
**
** The library exports one symbol, made with LABFLOW_PLUGIN():
**
**   static int register_all(lfp_registrar *r, const lfp_host *h,
**                           char *err, size_t errlen){
**     if( h->add_layer(r, &swish) ) return -1;   // err is already set
**     return 0;
**   }
**   LABFLOW_PLUGIN("myplugin", "1.0", register_all);
**
** Registration is all or nothing: if the function returns non-zero, or any
** add_* call fails, nothing of the plugin stays registered.
**
** ABI: LFP_ABI_VERSION changes whenever any struct or function table below
** changes. LabFlow refuses a plugin built for another version; rebuild it
** against the header installed with the LabFlow you run. Every struct the
** plugin hands over (and the code it points to) must live as long as the
** process: static const data, as in the examples. A loaded plugin is never
** unloaded.
**
** Build: cc -O2 -fPIC -shared -I<prefix>/include -o myplugin.so myplugin.c
** (oneDNN's headers, Debian libdnnl-dev, are needed for layers; link
** nothing: every oneDNN helper comes through lfp_host.)
*/
#ifndef LABFLOW_PLUGIN_H
#define LABFLOW_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <oneapi/dnnl/dnnl.h>

#define LFP_ABI_VERSION 1u

#define LFP_MAX_DIMS 4
#define LFP_LAYER_MAX_PARAMS 64
#define LFP_LAYER_MAX_INPUTS 16

/* ---- shapes, parameters, random numbers ------------------------------ */

/* Per-sample shape (the batch dimension is never part of it). */
typedef struct lfp_shape {
  int ndim;
  int64_t dim[LFP_MAX_DIMS];
} lfp_shape;

/* A parameter or buffer, owned by LabFlow's net; plain row-major. */
typedef struct lfp_param {
  char name[64];            /* "3.weight" */
  lfp_shape shape;
  int64_t n;                /* element count */
  float *data;
  float *grad;              /* NULL for buffers that are not trained */
  int decay;                /* 1 if weight decay applies */
  uint16_t *data16;         /* bf16 copy while the net computes in bf16 */
} lfp_param;

/* The random generator (xoshiro256**), saved in checkpoints: draw from it
** only through lfp_host so that resumed runs draw the same numbers. */
typedef struct lfp_rng { uint64_t s[4]; } lfp_rng;

/* ---- args schema ------------------------------------------------------ */

/* The arg types a plugin component may declare. Values land at `offset`
** in the component's own args struct (args_size bytes, zeroed, defaults
** set, then filled from the config's "args"). */
typedef enum lfp_arg_type {
  LFP_ARG_INT = 0,          /* int */
  LFP_ARG_INT64 = 1,        /* int64_t */
  LFP_ARG_NUM = 2,          /* double, finite */
  LFP_ARG_BOOL = 3,         /* int 0/1 */
  LFP_ARG_INT_PAIR = 4,     /* int[2], config: n or [h,w] */
  LFP_ARG_NUM_PAIR = 5,     /* double[2] */
  LFP_ARG_SHAPE = 8         /* lfp_shape, config: list of 1..4 ints */
} lfp_arg_type;

typedef struct lfp_arg_spec {
  const char *name;         /* NULL ends the list */
  lfp_arg_type type;
  int required;
  int has_default;
  double def;               /* default (numbers, ints, bools, pairs) */
  double min, max;          /* inclusive bounds */
  int min_open;             /* 1: value must be > min */
  size_t offset;            /* offsetof(your_args, field) */
  size_t offset2;           /* unused by the types above: 0 */
  const char *help;         /* shown by labflow_help('<plugin>.<name>') */
} lfp_arg_spec;

/* ---- layers ------------------------------------------------------------ */

typedef struct lfp_layer_ops lfp_layer_ops;

typedef struct lfp_param_decl {
  const char *suffix;       /* "weight", "bias", ... */
  lfp_shape shape;
  int trainable;
} lfp_param_decl;

/* The layer as placed in a net (read-only, except param contents). */
typedef struct lfp_layer {
  const lfp_layer_ops *ops;
  const void *args;         /* your args struct, or NULL without args */
  int index;
  lfp_shape in, out;
  int nin;
  lfp_shape ins[LFP_LAYER_MAX_INPUTS];
  int nparam;
  lfp_param *param[LFP_LAYER_MAX_PARAMS];
} lfp_layer;

/* In/out arguments of build (see the layer contract in docs/plugins.md). */
typedef struct lfp_layer_build {
  dnnl_engine_t engine;
  int batch;
  const dnnl_memory_desc_t *src_md;
  int need_diff_src;
  int nsrc;
  const dnnl_memory_desc_t *src_mds[LFP_LAYER_MAX_INPUTS];
  int need_diff[LFP_LAYER_MAX_INPUTS];
  int bf16;                 /* a plugin layer may ignore it: it then works
                            ** on the dtype of src_md as it comes */
  int fuse_act;             /* leave act_fused 0 to decline */
  float act_alpha;
  int act_fused_before;
  /* set by build: */
  dnnl_memory_desc_t dst_md;
  int dst_is_src;
  int act_fused;
  void *state;
} lfp_layer_build;

typedef struct lfp_layer_run {
  dnnl_stream_t stream;
  int batch;
  int training;
  lfp_rng *rng;
  dnnl_memory_t src, dst;
  dnnl_memory_t diff_dst, diff_src;   /* diff_src may be NULL */
  int nsrc;
  dnnl_memory_t srcs[LFP_LAYER_MAX_INPUTS];
  dnnl_memory_t diff_srcs[LFP_LAYER_MAX_INPUTS];
} lfp_layer_run;

/* The functions of a layer, as LabFlow's built-in layers have them. */
struct lfp_layer_ops {
  const char *loc;          /* set by LabFlow to "<plugin>.<name>"; leave NULL */
  int (*infer)(const void *args, const lfp_shape *in, int nin, lfp_shape *out,
               char *err, size_t errlen);
  int (*params)(const void *args, const lfp_shape *in, lfp_param_decl *decl);
  void (*init)(const lfp_layer *layer, lfp_rng *rng);
  int (*build)(const lfp_layer *layer, lfp_layer_build *b, char *err, size_t errlen);
  int (*forward)(const lfp_layer *layer, void *state, const lfp_layer_run *run,
                 char *err, size_t errlen);
  int (*backward)(const lfp_layer *layer, void *state, const lfp_layer_run *run,
                  char *err, size_t errlen);
  void (*release)(void *state);
  int multi_input;          /* 1: reads 2..16 inputs; 2: one input and
                            ** optionally a sequence mask [T] second */
  const void *onnx;         /* reserved, leave NULL: a plugin layer has no
                            ** ONNX form (ppl_export refuses it by name) */
};

/* ---- what a plugin registers ----------------------------------------- */

typedef struct lfp_layer_def {
  const char *name;         /* "Swish": the config's loc is "<plugin>.Swish" */
  const char *help;
  const lfp_arg_spec *args; /* NULL or ended by {0} */
  size_t args_size;         /* bytes of the args struct (0: no args) */
  int (*finish)(void *args, char *err, size_t errlen);  /* checks; NULL */
  const lfp_layer_ops *ops;
} lfp_layer_def;

/* A loss: mean over the batch. target holds batch class indices when
** classification is 1, else batch*nout values. dy (NULL when only the
** value is wanted) receives dLoss/dy, batch*nout floats. */
typedef struct lfp_loss_def {
  const char *name, *help;
  const lfp_arg_spec *args;
  size_t args_size;
  int (*finish)(void *args, char *err, size_t errlen);
  int classification;
  double (*compute)(const void *args, const float *y, const float *target,
                    int batch, int nout, float *dy);
} lfp_loss_def;

/* A metric accumulated batch by batch: create (NULL = out of memory),
** reset, update with a batch (y: batch*nout outputs; target as for the
** loss), value (NAN when undefined), destroy. */
typedef struct lfp_metric_def {
  const char *name, *help;
  const lfp_arg_spec *args;
  size_t args_size;
  int (*finish)(void *args, char *err, size_t errlen);
  void *(*create)(const void *args, int nout);
  void (*reset)(void *acc);
  void (*update)(void *acc, const float *y, const float *target, int batch);
  double (*value)(const void *acc);
  void (*destroy)(void *acc);
} lfp_metric_def;

/* A learning-rate scheduler, stepped once per epoch: the lr after `epoch`
** epochs (0, 1, ...) from the optimizer's lr, in closed form (no state:
** a resumed run gets the same rates). A NaN or negative result keeps the
** optimizer's lr. Named in a config as an optimizer's "scheduler" arg. */
typedef struct lfp_scheduler_def {
  const char *name, *help;
  const lfp_arg_spec *args;
  size_t args_size;
  int (*finish)(void *args, char *err, size_t errlen);
  double (*lr_at)(const void *args, double base_lr, int64_t epoch);
} lfp_scheduler_def;

/* An optimizer. LabFlow gives it the args every optimizer has, besides
** those it declares (whose names must differ): "lr" (required), "scheduler"
** (a scheduler component) and "grad_clip" (global L2 norm, 0: off), and
** keeps, per trainable parameter, nstate zeroed float buffers of its size,
** saved in checkpoints as "<param>.<state_names[j]>" (exact resume). step
** updates one parameter in place: lr is the scheduled rate, t the step
** number (1 for the first), decay 1 for weights that take weight decay
** (not biases or norms), state[0..nstate-1] its buffers. args_size: at
** most 256 bytes. */
#define LFP_OPTIM_MAX_STATE 4
typedef struct lfp_optimizer_def {
  const char *name, *help;
  const lfp_arg_spec *args;
  size_t args_size;
  int (*finish)(void *args, char *err, size_t errlen);
  int nstate;
  const char *state_names[LFP_OPTIM_MAX_STATE];
  void (*step)(const void *args, double lr, int64_t t, float *w, const float *g,
               int64_t n, int decay, float *const *state);
} lfp_optimizer_def;

/* A dataset: load reads src (the config's train_data_src, val_data_src or
** ppl_evaluate's source; a relative path is resolved against the project
** folder, as for csv) and fills out: first host->data_alloc(out, n,
** &shape, ...), then out->x (n samples of shape, row-major) and out->y (n
** labels: class indices 0, 1, ... for a classification loss, else target
** values), and optionally out->nclasses (0: the largest label + 1).
** LabFlow checks every value. args_size: at most 256 bytes. */
typedef struct lfp_data {
  int64_t n;
  lfp_shape shape;
  float *x;
  float *y;
  int nclasses;
} lfp_data;
typedef struct lfp_dataset_def {
  const char *name, *help;
  const lfp_arg_spec *args;
  size_t args_size;
  int (*finish)(void *args, char *err, size_t errlen);
  int (*load)(const void *args, const char *src, lfp_data *out, char *err, size_t errlen);
} lfp_dataset_def;

/* ---- oneDNN helpers (LabFlow's own toolkit) -------------------------- */

typedef struct lfp_prim {
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t prim;
  dnnl_memory_t scratch;
  int serial;
} lfp_prim;

typedef struct lfp_relayout {
  dnnl_memory_t inner;
  lfp_prim reorder;
  int to_inner;
} lfp_relayout;

typedef struct lfp_registrar lfp_registrar;

/* Everything LabFlow offers a plugin. Functions returning int give 0, or
** -1 with a message in err. */
typedef struct lfp_host {
  unsigned abi;             /* LFP_ABI_VERSION of the running LabFlow */
  /* registration (only inside the plugin's register function) */
  int (*add_layer)(lfp_registrar *r, const lfp_layer_def *def);
  int (*add_loss)(lfp_registrar *r, const lfp_loss_def *def);
  int (*add_metric)(lfp_registrar *r, const lfp_metric_def *def);
  /* shapes and random numbers */
  int64_t (*shape_count)(const lfp_shape *s);
  char *(*shape_str)(const lfp_shape *s, char *buf, size_t n);
  float (*rng_uniform)(lfp_rng *r);         /* [0,1) */
  float (*rng_normal)(lfp_rng *r);          /* N(0,1) */
  void (*fill_uniform)(float *x, int64_t n, double bound, lfp_rng *r);
  void (*fill_const)(float *x, int64_t n, float v);
  /* oneDNN */
  dnnl_engine_t (*engine)(char *err, size_t errlen);
  int (*check)(dnnl_status_t st, const char *what, char *err, size_t errlen);
  int (*md)(dnnl_memory_desc_t *md, int batch, const lfp_shape *shape, int any,
            char *err, size_t errlen);
  int (*md_is_plain)(const dnnl_memory_desc_t *md);
  int (*mem)(dnnl_memory_t *mem, const dnnl_memory_desc_t *md, void *handle,
             char *err, size_t errlen);
  float *(*ptr)(const_dnnl_memory_t mem);
  size_t (*nfloat)(const_dnnl_memory_t mem);
  int (*prim_create)(lfp_prim *p, const void *op_desc, const_dnnl_primitive_attr_t attr,
                     const_dnnl_primitive_desc_t hint, const char *what,
                     char *err, size_t errlen);
  int (*prim_reorder)(lfp_prim *p, const dnnl_memory_desc_t *from,
                      const dnnl_memory_desc_t *to, char *err, size_t errlen);
  const dnnl_memory_desc_t *(*prim_md)(const lfp_prim *p, dnnl_query_t what, int index);
  int (*prim_run)(const lfp_prim *p, dnnl_stream_t s, int nargs,
                  const dnnl_exec_arg_t *args, const char *what, char *err, size_t errlen);
  void (*prim_free)(lfp_prim *p);
  int (*relayout_init)(lfp_relayout *r, const dnnl_memory_desc_t *outer,
                       const dnnl_memory_desc_t *inner, int to_inner,
                       char *err, size_t errlen);
  dnnl_memory_t (*relayout_mem)(const lfp_relayout *r, dnnl_memory_t outer);
  int (*relayout_run)(const lfp_relayout *r, dnnl_memory_t outer, dnnl_stream_t s,
                      char *err, size_t errlen);
  void (*relayout_free)(lfp_relayout *r);
  /* waits until what was run on s is done (before reading memories on
  ** the CPU after a prim_run or relayout_run) */
  int (*stream_wait)(dnnl_stream_t s, char *err, size_t errlen);
  int (*add_scheduler)(lfp_registrar *r, const lfp_scheduler_def *def);
  int (*add_optimizer)(lfp_registrar *r, const lfp_optimizer_def *def);
  int (*add_dataset)(lfp_registrar *r, const lfp_dataset_def *def);
  /* a dataset's buffers: x (n * count(shape) floats) and y (n), zeroed */
  int (*data_alloc)(lfp_data *d, int64_t n, const lfp_shape *shape, char *err, size_t errlen);
} lfp_host;

/* The one symbol a plugin exports. abi comes first so that LabFlow can
** read it before trusting anything else. name: the namespace, letters,
** digits and '_' (starting with a letter), at most 40. */
typedef struct lfp_plugin {
  unsigned abi;
  const char *name;
  const char *version;
  int (*register_components)(lfp_registrar *r, const lfp_host *host,
                             char *err, size_t errlen);
} lfp_plugin;

#define LABFLOW_PLUGIN(NAME, VERSION, REGISTER) \
  __attribute__((visibility("default"))) const lfp_plugin labflow_plugin = \
    { LFP_ABI_VERSION, NAME, VERSION, REGISTER }

#endif
