/*
** lf_onnx.h — an ONNX graph being built, as plain C data: nodes (op type,
** input and output value names, attributes) and initializers (named
** constant tensors). Each layer's `onnx` hook (lf_layer_ops) adds the nodes
** that compute what its forward pass computes; core/lf_export.c adds the
** input preprocessing and the output mode, and core/lf_onnx_pb.c writes the
** whole as an ONNX ModelProto with protobuf-c.
**
** Nothing here needs protobuf-c, so every layer's exporter builds (and
** the unsupported-layer check runs) without it. Values are named "v<k>";
** a batch dimension is always the first axis and stays symbolic.
*/
#ifndef LF_ONNX_H
#define LF_ONNX_H

#include <stddef.h>
#include <stdint.h>

/* The operator set the exporters target (LayerNormalization is in 17;
** GELU is written with Erf, which 13 has). */
#define LF_ONNX_OPSET 17
/* ONNX IR version of opset 17 (onnx 1.12). */
#define LF_ONNX_IR_VERSION 8

typedef enum lf_onnx_attr_type {
  LF_ONNX_ATTR_FLOAT = 1,
  LF_ONNX_ATTR_INT,
  LF_ONNX_ATTR_INTS,
  LF_ONNX_ATTR_STRING
} lf_onnx_attr_type;

typedef struct lf_onnx_attr {
  const char *name;
  lf_onnx_attr_type type;
  float f;
  int64_t i;
  int nints;
  const int64_t *ints;
  const char *s;
} lf_onnx_attr;

#define LF_ONNX_F(nm, v) ((lf_onnx_attr){ .name = (nm), .type = LF_ONNX_ATTR_FLOAT, .f = (float)(v) })
#define LF_ONNX_I(nm, v) ((lf_onnx_attr){ .name = (nm), .type = LF_ONNX_ATTR_INT, .i = (v) })
#define LF_ONNX_IS(nm, n, p) ((lf_onnx_attr){ .name = (nm), .type = LF_ONNX_ATTR_INTS, .nints = (n), .ints = (p) })

/* Element types of initializers and graph inputs/outputs (ONNX codes). */
#define LF_ONNX_FLOAT 1
#define LF_ONNX_INT64 7
#define LF_ONNX_STRING 8

typedef struct lf_onnx_node {
  char *op;
  int nin;
  char **in;                /* "" for an omitted optional input */
  char *out;
  int nattr;
  lf_onnx_attr *attr;       /* names, ints and strings owned */
} lf_onnx_node;

typedef struct lf_onnx_init {
  char *name;
  int dtype;                /* LF_ONNX_FLOAT or LF_ONNX_INT64 */
  int ndim;
  int64_t dim[8];
  void *data;               /* owned copy */
} lf_onnx_init;

typedef struct lf_onnx {
  lf_onnx_node *nodes;
  int nnodes, cap_nodes;
  lf_onnx_init *inits;
  int ninits, cap_inits;
  int next_value;
  int oom;                  /* an allocation failed: the graph is unusable */
} lf_onnx;

void lf_onnx_init_graph(lf_onnx *g);
void lf_onnx_free(lf_onnx *g);

/* Adds node `op` reading the nin values in (NULL or "" for an omitted
** optional input) with nattr attributes; returns the name of its output
** (owned by g), or NULL when out of memory (g->oom is then set). */
const char *lf_onnx_op(lf_onnx *g, const char *op, int nin, const char *const *in,
                       int nattr, const lf_onnx_attr *attr);
/* One- and two-input shorthands without attributes. */
const char *lf_onnx_op1(lf_onnx *g, const char *op, const char *a);
const char *lf_onnx_op2(lf_onnx *g, const char *op, const char *a, const char *b);

/* A constant tensor (the data is copied); hint names it, e.g. the
** parameter "3.weight" (made unique if taken). Returns its name or NULL. */
const char *lf_onnx_f32(lf_onnx *g, const char *hint, int ndim, const int64_t *dims,
                        const float *data);
const char *lf_onnx_i64(lf_onnx *g, const char *hint, int ndim, const int64_t *dims,
                        const int64_t *data);
/* A 1-D int64 constant of n values (shapes, axes, indices). */
const char *lf_onnx_i64s(lf_onnx *g, const char *hint, int n, const int64_t *v);
/* A float scalar constant (rank 0). */
const char *lf_onnx_scalar(lf_onnx *g, const char *hint, float v);

/* Renames value from to `to` everywhere (a node's output and its readers):
** graph inputs and outputs get fixed names. -1 when out of memory. */
int lf_onnx_rename(lf_onnx *g, const char *from, const char *to);

/* 0 when v (a node's output) was made, else -1 with "out of memory";
** *out = v. The last line of a layer's exporter. */
int lf_onnx_result(const char *v, const char **out, char *err, size_t errlen);

#endif
