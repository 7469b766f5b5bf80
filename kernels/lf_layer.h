/*
** lf_layer.h — the interface every layer implements (built-in layers and,
** later, user plugins), plus the small oneDNN toolkit they share.
**
** A layer is a table of functions (struct lf_layer_ops) and nothing else:
**
**   infer     per-sample output shape from the input shape, or an error
**   params    which parameters/buffers it owns (name suffix and shape)
**   init      fills them with their initial values (PyTorch defaults)
**   build     creates primitives and private buffers for one batch size
**   forward   runs, reading run->src and writing run->dst
**   backward  reads run->diff_dst, writes run->diff_src (unless NULL) and
**             the grads of its parameters
**   release   frees what build made
**
** The net owns every activation and activation-gradient buffer; a layer owns
** what build put in its state (primitives, workspaces, relayout buffers).
** Layout contract: a layer receives its input in whatever layout the
** previous layer produced (build's src_md) and chooses the layout of its own
** output (build's dst_md). Gradients travel in the layout of the activation
** they belong to: diff_src has src_md, diff_dst has dst_md. Parameters
** (lf_param.data/grad) are always plain row-major when forward/backward
** return; a layer whose primitive prefers another weight layout reorders.
**
** Nothing here is called per element or allocates per batch: build runs
** once per (net, batch size); forward/backward only execute.
*/
#ifndef LF_LAYER_H
#define LF_LAYER_H

#include <oneapi/dnnl/dnnl.h>
#include "lf_net.h"
#include "lf_layer_args.h"
#include "lf_onnx.h"

/* LSTM/GRU: 4 per layer and direction, up to 8 layers. */
#define LF_LAYER_MAX_PARAMS 64
/* Inputs of a merge layer (Add, Concat, Mul) and consumers summed into
** one gradient at most. */
#define LF_LAYER_MAX_INPUTS LF_NET_MAX_NODE_INPUTS

/* One parameter or buffer as a layer declares it. The net names it
** "<layer index>.<suffix>" and allocates data (and grad when trainable). */
typedef struct lf_param_decl {
  const char *suffix;       /* "weight", "bias", "running_mean", ... */
  lf_shape shape;
  int trainable;            /* 1: has a grad and is optimised */
} lf_param_decl;

/* A layer as placed in a net. Read-only for the layer, except the contents
** of its params (forward may update buffers such as running statistics). */
typedef struct lf_layer {
  const lf_layer_ops *ops;
  const void *args;                 /* the layer's args struct (or NULL) */
  int index;                        /* position in the net's node list */
  lf_shape in, out;                 /* per-sample shapes (in: the first input) */
  int nin;                          /* inputs: 1 unless ops->multi_input */
  lf_shape ins[LF_LAYER_MAX_INPUTS];
  int nparam;
  lf_param *param[LF_LAYER_MAX_PARAMS];  /* in declaration order */
} lf_layer;

/* In/out arguments of build. */
typedef struct lf_layer_build {
  dnnl_engine_t engine;
  int batch;
  const dnnl_memory_desc_t *src_md; /* layout of the input (batch included) */
  int need_diff_src;                /* 0: nobody reads dL/dinput (first layer) */
  int nsrc;                         /* inputs (L->nin); a merge layer reads */
  const dnnl_memory_desc_t *src_mds[LF_LAYER_MAX_INPUTS];  /* their layouts */
  int need_diff[LF_LAYER_MAX_INPUTS];  /* and which diff_srcs to compute;
                                    ** src_md, need_diff_src are slot 0's */
  int bf16;                         /* 1: compute in bf16 where the layer can
                                    ** (activations and their gradients in
                                    ** bf16, weights from lf_param.data16,
                                    ** weight gradients in f32); a layer
                                    ** that cannot works on the dtype of
                                    ** src_md as it comes */
  int fuse_act;                     /* Linear/Conv2d: the next layer is
                                    ** ReLU/LeakyReLU (slope act_alpha >= 0);
                                    ** apply it as a post-op if possible */
  float act_alpha;
  int act_fused_before;             /* ReLU/LeakyReLU: the previous layer
                                    ** already applied this activation to
                                    ** its output (fuse_act accepted); 2:
                                    ** its backward applies the
                                    ** activation's backward too, the
                                    ** activation passes gradients as
                                    ** they are (act_fused 2) */
  /* set by build: */
  dnnl_memory_desc_t dst_md;        /* layout of the output (and diff_dst) */
  int dst_is_src;                   /* output is the input buffer, reread
                                    ** through dst_md (a free reshape); the
                                    ** same then holds for diff_src/diff_dst */
  int act_fused;                    /* 1: fuse_act was honoured; 2: and
                                    ** backward takes dL/d(activated
                                    ** output) and applies the activation's
                                    ** backward itself (BatchNorm's
                                    ** fuse_norm_relu, from its workspace) */
  void *state;                      /* handed back to forward/backward/release */
} lf_layer_build;

/* Arguments of forward and backward. Memories are owned by the net. */
typedef struct lf_layer_run {
  dnnl_stream_t stream;
  int batch;
  int training;                     /* forward only */
  lf_rng *rng;                      /* forward only; NULL in inference */
  dnnl_memory_t src, dst;           /* forward output, still valid in backward */
  dnnl_memory_t diff_dst, diff_src; /* backward only; diff_src may be NULL */
  int nsrc;                         /* a merge layer's inputs: */
  dnnl_memory_t srcs[LF_LAYER_MAX_INPUTS];       /* srcs[0] is src */
  dnnl_memory_t diff_srcs[LF_LAYER_MAX_INPUTS];  /* diff_srcs[0] is diff_src;
                                    ** NULL where not needed */
} lf_layer_run;

struct lf_layer_ops {
  const char *loc;
  /* in: the nin per-sample input shapes (nin is 1 unless multi_input).
  ** Returns 0 and sets *out, or -1 with a message naming the shapes. */
  int (*infer)(const void *args, const lf_shape *in, int nin, lf_shape *out,
               char *err, size_t errlen);
  /* Fills decl (room for LF_LAYER_MAX_PARAMS) in state_dict order; returns
  ** the count. NULL: no parameters. */
  int (*params)(const void *args, const lf_shape *in,
                lf_param_decl *decl);
  /* Initial values, drawing from rng in param order. NULL: all zero. */
  void (*init)(const lf_layer *layer, lf_rng *rng);
  int (*build)(const lf_layer *layer, lf_layer_build *b,
               char *err, size_t errlen);
  int (*forward)(const lf_layer *layer, void *state, const lf_layer_run *run,
                 char *err, size_t errlen);
  int (*backward)(const lf_layer *layer, void *state, const lf_layer_run *run,
                  char *err, size_t errlen);
  void (*release)(void *state);
  int multi_input;                  /* 1: reads 2..LF_LAYER_MAX_INPUTS inputs
                                    ** (Add, Concat, Mul); 0: exactly one;
                                    ** LF_LAYER_INPUT_AND_MASK: one, or
                                    ** two where the second is a mask */
  /* ONNX export (ppl_export): adds to g the nodes that compute forward in
  ** inference from the L->nin values named in (batch first, plain
  ** layout), parameters from L->param as initializers; sets *out to the
  ** output's name. -1 with err when it cannot (or out of memory). NULL:
  ** the layer has no ONNX form and ppl_export refuses it by name. */
  int (*onnx)(const lf_layer *L, lf_onnx *g, const char *const *in, const char **out,
              char *err, size_t errlen);
};

/* multi_input of a layer that takes its input and optionally a sequence
** mask [T] (1 valid step, 0 padding), e.g. MultiheadAttention. */
#define LF_LAYER_INPUT_AND_MASK 2

/* Number of values (parameters and buffers) layer l declares for per-sample
** input shape in, as a double: no overflow for absurd sizes. */
double lf_layer_param_values(const lf_layer_spec *l, const lf_shape *in);

/* ---- a built net, read by exporters (kernels/lf_net.c) ---- */

int lf_net_node_count(const lf_net *net);
/* Node i as placed in the net (shapes and parameters filled). */
const lf_layer *lf_net_node_layer(const lf_net *net, int i);
/* The value id node i reads in slot k (0..nin-1); values 0..ninputs-1
** are the inputs, ninputs+j is node j's output. */
int lf_net_node_input(const lf_net *net, int i, int k);
/* The value id of the net's output. */
int lf_net_output_value(const lf_net *net);

/* A parameter as an ONNX initializer named after it ("3.weight"). */
const char *lf_onnx_param(lf_onnx *g, const lf_param *p);

/* ---- built-in layers (kernels/layer_*.c) ---- */
extern const lf_layer_ops lf_layer_linear, lf_layer_conv2d;
extern const lf_layer_ops lf_layer_maxpool2d, lf_layer_avgpool2d;
extern const lf_layer_ops lf_layer_conv1d, lf_layer_maxpool1d, lf_layer_avgpool1d;
extern const lf_layer_ops lf_layer_batchnorm1d, lf_layer_batchnorm2d;
extern const lf_layer_ops lf_layer_dropout, lf_layer_flatten;
extern const lf_layer_ops lf_layer_relu, lf_layer_leakyrelu, lf_layer_tanh;
extern const lf_layer_ops lf_layer_sigmoid, lf_layer_gelu;
extern const lf_layer_ops lf_layer_add, lf_layer_mul, lf_layer_concat;
extern const lf_layer_ops lf_layer_identity, lf_layer_reshape;
extern const lf_layer_ops lf_layer_globalavgpool, lf_layer_slice;
extern const lf_layer_ops lf_layer_catemb;
extern const lf_layer_ops lf_layer_silu, lf_layer_elu, lf_layer_softplus;
extern const lf_layer_ops lf_layer_mha, lf_layer_posemb, lf_layer_clstoken;
extern const lf_layer_ops lf_layer_layernorm, lf_layer_softmax, lf_layer_embedding;
extern const lf_layer_ops lf_layer_lstm, lf_layer_gru, lf_layer_seqpool;

/* A built Conv2d/Conv1d (state from its build) whose diff_src buffer will
** already hold another reader's part of that gradient: makes its backward
** add into it (a sum post-op) where it can. 1: done; 0: not possible
** (the caller sums the parts); -1 on error. diff_src_md is the layout of
** that buffer. */
int lf_conv_accumulate_diff_src(void *state, const dnnl_memory_desc_t *diff_src_md,
                                char *err, size_t errlen);
/* A built Conv2d L (state from its build) with a 1x1 kernel, no padding
** and a stride above 1, whose diff_src (layout diff_src_md) the net would
** otherwise add to another reader's part: makes its backward write only
** the input pixels the kernel visits, the rest being zero, as a stride-1
** forward convolution into a tensor of layout *compact; *visited is the
** view of those pixels in a diff_src_md tensor (the net adds the one into
** the other). 1: done; 0: not possible; -1 on error. */
int lf_conv_compact_diff_src(void *state, const lf_layer *L,
                             const dnnl_memory_desc_t *diff_src_md,
                             dnnl_memory_desc_t *compact, dnnl_memory_desc_t *visited,
                             char *err, size_t errlen);
/* 1 if a built Conv2d/Conv1d runs its weight gradient on channels-last
** views of src and diff_dst (16 channels in and out, f32; test hook). */
int lf_conv_wgrad_channels_last(const void *state);

/* ---- oneDNN toolkit (kernels/layer_dnnl.c) ---- */

/* The process-wide CPU engine, created on first use (thread-safe). NULL
** with err set if oneDNN cannot create it. */
dnnl_engine_t lf_dnnl_engine(char *err, size_t errlen);

/* 0 if st is dnnl_success, else -1 with "<what> failed: <status>" in err. */
int lf_dnnl_check(dnnl_status_t st, const char *what, char *err, size_t errlen);

/* Memory descriptor of batch x shape, f32: plain row-major, or with
** any=1 format any (the primitive decides). */
int lf_dnnl_md(dnnl_memory_desc_t *md, int batch, const lf_shape *shape,
               int any, char *err, size_t errlen);
/* Same with an explicit data type (dnnl_f32 or dnnl_bf16). */
int lf_dnnl_md_dt(dnnl_memory_desc_t *md, int batch, const lf_shape *shape,
                  int any, dnnl_data_type_t dt, char *err, size_t errlen);
/* md with its data type replaced (layout kept: plain stays plain, blocked
** tags stay blocked). */
int lf_dnnl_md_retype(dnnl_memory_desc_t *out, const dnnl_memory_desc_t *md,
                      dnnl_data_type_t dt, char *err, size_t errlen);
/* Attribute with one eltwise post-op (relu with slope alpha). *attr is NULL
** on failure. */
int lf_dnnl_attr_relu(dnnl_primitive_attr_t *attr, float alpha,
                      char *err, size_t errlen);
/* Attribute with one sum post-op: the primitive adds to what dst holds. */
int lf_dnnl_attr_sum(dnnl_primitive_attr_t *attr, char *err, size_t errlen);
/* Plain row-major descriptor of an explicit dims list. */
int lf_dnnl_md_dims(dnnl_memory_desc_t *md, int ndims, const int64_t *dims,
                    char *err, size_t errlen);
/* dnnl_memory_desc_init_by_tag, its failure in err. */
int lf_dnnl_md_tag(dnnl_memory_desc_t *md, int ndims, const int64_t *dims,
                   dnnl_data_type_t dt, dnnl_format_tag_t tag, char *err, size_t errlen);
/* 1 if md is tag's layout of its dims, or names the same bytes (NHWC and
** nChw16c with 16 channels). */
int lf_dnnl_md_is_tag(const dnnl_memory_desc_t *md, dnnl_format_tag_t tag);
/* 1 if tag's layout of md's dims is another descriptor naming the same
** bytes as md (NHWC and nChw16c with 16 channels); *view receives it, for
** a kernel that runs faster on that layout to read md's buffer as it is. */
int lf_dnnl_md_view_as(const dnnl_memory_desc_t *md, dnnl_format_tag_t tag,
                       dnnl_memory_desc_t *view);
/* 1 if md is dense row-major (no blocking, no padding). */
int lf_dnnl_md_is_plain(const dnnl_memory_desc_t *md);
/* 1 if oneDNN dispatches kernels of ISA isa (e.g. dnnl_cpu_isa_avx512_core_amx).
** Asked of oneDNN's own dispatcher, so ONEDNN_MAX_CPU_ISA caps it too. */
int lf_dnnl_has_isa(dnnl_cpu_isa_t isa);
/* 1 if a and b put every element at the same offset (equal, or e.g. NHWC
** and nChw16c with exactly 16 channels): one buffer serves both. */
int lf_dnnl_md_same_bytes(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b);

/* handle: a buffer the memory wraps (not owned), or DNNL_MEMORY_ALLOCATE. */
int lf_dnnl_mem(dnnl_memory_t *mem, const dnnl_memory_desc_t *md,
                void *handle, char *err, size_t errlen);
float *lf_dnnl_ptr(const_dnnl_memory_t mem);
/* Number of floats physically held by a memory (padding included). */
size_t lf_dnnl_nfloat(const_dnnl_memory_t mem);

/* A primitive with its own (user-mode) scratchpad, so executing it never
** allocates. One whose tensors are small is created and run on the calling
** thread alone (serial): waking the OpenMP team costs more than it saves. */
typedef struct lf_prim {
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t prim;
  dnnl_memory_t scratch;    /* NULL when the primitive needs none */
  int serial;               /* made and run with one OpenMP thread */
} lf_prim;

/* op_desc: any dnnl_*_desc_t; attr may be NULL; hint: the forward pd for
** backward primitives. `what` names it in error messages. */
int lf_prim_create(lf_prim *p, const void *op_desc,
                   const_dnnl_primitive_attr_t attr,
                   const_dnnl_primitive_desc_t hint, const char *what,
                   char *err, size_t errlen);
int lf_prim_reorder(lf_prim *p, const dnnl_memory_desc_t *from,
                    const dnnl_memory_desc_t *to, char *err, size_t errlen);
/* The same reorder adding into what `to` holds (a sum post-op). */
int lf_prim_reorder_adding(lf_prim *p, const dnnl_memory_desc_t *from,
                           const dnnl_memory_desc_t *to, char *err, size_t errlen);
/* Sum (concat_axis < 0: dst = src0 + src1 + ...) or concat along
** concat_axis (batch dimension included) of nsrc sources. dst may have
** format any for a concat (query the result with lf_prim_md). */
int lf_prim_multi(lf_prim *p, int nsrc, const dnnl_memory_desc_t *srcs,
                  const dnnl_memory_desc_t *dst, int concat_axis,
                  const char *what, char *err, size_t errlen);
/* 1 if oneDNN picked its reference (plain C++) kernel for p. */
int lf_prim_is_ref(const lf_prim *p);
const dnnl_memory_desc_t *lf_prim_md(const lf_prim *p, dnnl_query_t what,
                                     int index);
/* Executes with up to LF_LAYER_MAX_INPUTS+3 arguments (the scratchpad is added here). */
int lf_prim_run(const lf_prim *p, dnnl_stream_t s, int nargs,
                const dnnl_exec_arg_t *args, const char *what,
                char *err, size_t errlen);
void lf_prim_free(lf_prim *p);

/* Moves data between an outer buffer (e.g. a plain parameter, or the
** previous layer's output) and an inner buffer in the layout a primitive
** wants. When both layouts are equal there is no inner buffer and the outer
** memory is used as is; when they only name the same bytes differently
** (lf_dnnl_md_same_bytes) the inner memory wraps the outer buffer and no
** reorder runs. */
typedef struct lf_relayout {
  dnnl_memory_t inner;      /* NULL: same layout, use the outer memory */
  lf_prim reorder;
  int to_inner;             /* 1: outer->inner (inputs), 0: inner->outer */
} lf_relayout;

int lf_relayout_init(lf_relayout *r, const dnnl_memory_desc_t *outer,
                     const dnnl_memory_desc_t *inner, int to_inner,
                     char *err, size_t errlen);
/* The same, but same-bytes layouts are copied too, as before views: for
** plugins, whose code may read the public lfp_relayout.inner at any time. */
int lf_relayout_init_copying(lf_relayout *r, const dnnl_memory_desc_t *outer,
                             const dnnl_memory_desc_t *inner, int to_inner,
                             char *err, size_t errlen);
/* The memory the primitive should read or write. */
dnnl_memory_t lf_relayout_mem(const lf_relayout *r, dnnl_memory_t outer);
/* Runs the reorder, if any, in the direction given at init. */
int lf_relayout_run(const lf_relayout *r, dnnl_memory_t outer,
                    dnnl_stream_t s, char *err, size_t errlen);
void lf_relayout_free(lf_relayout *r);

/* U(-bound, bound) into x[0..n), the distribution of PyTorch's
** kaiming_uniform(a=sqrt(5)) (bound 1/sqrt(fan_in)) and of its biases. */
void lf_fill_uniform(float *x, int64_t n, double bound, lf_rng *rng);
void lf_fill_const(float *x, int64_t n, float v);

/* ---- hooks for tests and plugin authors (kernels/lf_net.c) ---- */

/* Asks the net to also compute dL/dinput in backward (off by default: a
** trainer never needs it). Drops the primitives built so far. */
void lf_net_want_input_grad(lf_net *net, int on);
/* dL/dinput of the last backward on `batch` samples, plain layout; NULL if
** not requested or not computed. */
const float *lf_net_input_grad(lf_net *net, int batch);
/* How many values' gradient parts the last build for `batch` adds by
** accumulation (a convolution's diff_src into the other part) instead of
** a separate sum; -1 if no such build. */
int lf_net_accumulated_sums(lf_net *net, int batch);
/* How many sums the last build for `batch` writes over one of their
** inputs (an Add over its BatchNorm input, two gradient parts into the
** first one's buffer or a compact part into the other); -1 if no such
** build. */
int lf_net_in_place_sums(lf_net *net, int batch);
/* How many of those add a compact part (lf_conv_compact_diff_src). */
int lf_net_compact_parts(lf_net *net, int batch);
/* How many convolutions of the last build for `batch` run their weight
** gradient on channels-last views (lf_conv_wgrad_channels_last); -1 if no
** such build. */
int lf_net_channels_last_wgrads(lf_net *net, int batch);
/* lf_net_set_bf16 without the CPU check, for tests of the bf16 plumbing
** (which values stay f32, the conversions between layers) on a CPU
** without AVX-512 BF16. Only a net whose layers compute in plain C or with
** reorders runs there (Embedding, CategoricalEmbedding, Slice, Reshape,
** Flatten, Identity, Concat); any other layer's bf16 primitive fails to
** build with oneDNN's error. Never for training: lf_net_set_bf16. */
int lf_net_set_bf16_any_cpu(lf_net *net, int on, char *err, size_t errlen);

#endif
