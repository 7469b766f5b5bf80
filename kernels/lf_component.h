/*
** lf_component.h — the shape of a component row: what a config may name by
** `loc`, its kind, its args schema and its implementation. The built-in
** table (core/lf_registry.c) is made of these rows; C plugins will register
** rows of the same shape. Nothing here knows SQLite.
*/
#ifndef LF_COMPONENT_H
#define LF_COMPONENT_H

#include <stddef.h>

typedef enum lf_kind {
  LF_KIND_MODEL = 1,   /* fills nothing itself: Sequential holds layers */
  LF_KIND_LAYER,       /* fills the layer's own args struct */
  LF_KIND_LOSS,        /* fills lf_loss_spec */
  LF_KIND_OPTIMIZER,   /* fills lf_optim_spec */
  LF_KIND_SCHEDULER,   /* fills lf_optim_spec (sched fields) */
  LF_KIND_METRIC,      /* yields an lf_metric_kind */
  LF_KIND_DATASET      /* fills lf_dataset_spec */
} lf_kind;

typedef enum lf_arg_type {
  LF_ARG_INT,          /* integer, stored as int (or int64 for out) */
  LF_ARG_INT64,
  LF_ARG_NUM,          /* finite number, stored as double */
  LF_ARG_BOOL,         /* true/false (0/1 accepted), stored as int */
  LF_ARG_INT_PAIR,     /* n or [h,w], stored as int[2] */
  LF_ARG_NUM_PAIR,     /* [a,b], stored as double[2] (betas) */
  LF_ARG_STR,          /* string, stored as char* (owned by the spec) */
  LF_ARG_STR_LIST,     /* list of strings: char** + count at offset2 */
  LF_ARG_SHAPE,        /* list of 1..4 positive ints, stored as lf_shape */
  LF_ARG_DTYPE,        /* "uint8" | "float32", stored as int 1 | 4 */
  LF_ARG_LAYERS,       /* list of layer components (Sequential, Residual) */
  LF_ARG_NODES,        /* list of Graph nodes {name, loc, args, in} */
  LF_ARG_SCHEDULER,    /* one scheduler component (optimizers) */
  LF_ARG_INPUTS,       /* named input groups of a dataset (lf_input_group) */
  LF_ARG_INT_LIST      /* non-empty list of ints in [min, max]: int* (owned
                       ** by the spec) + count (int) at offset2 */
} lf_arg_type;

typedef struct lf_arg_spec {
  const char *name;
  lf_arg_type type;
  int required;
  int has_default;
  double def;            /* default for numbers/ints/bools (pairs: both) */
  double min, max;       /* inclusive bounds for numbers/ints */
  int min_open;          /* 1: value must be > min, not >= */
  size_t offset;         /* where the value goes in the kind's spec struct */
  size_t offset2;        /* STR_LIST: where the count goes */
  const char *help;
} lf_arg_spec;

typedef struct lf_layer_ops lf_layer_ops;

/* One row of the component table. A layer row points at its
** implementation (kernels/lf_layer.h) and says how big its own args struct
** is; the config parser allocates that struct, sets the defaults of `args`
** and fills each arg at its offset, then calls finish. Rows of the other
** kinds fill the kind's spec struct (lf_loss_spec, lf_optim_spec, ...) and
** name their implementation by `code`. */
typedef struct lf_component {
  lf_kind kind;
  const char *loc;
  const char *help;
  const lf_arg_spec *args;   /* terminated by an entry with name NULL */
  int code;                  /* lf_loss_kind / lf_optim_kind / ... */
  /* Fix-ups after args are parsed (derived defaults such as pool stride =
  ** kernel); may refuse a combination with a message. NULL if none. */
  int (*finish)(void *spec, char *err, size_t errlen);
  const lf_layer_ops *layer; /* LF_KIND_LAYER: the implementation */
  size_t spec_size;          /* LF_KIND_LAYER: bytes of its args struct */
} lf_component;

/* Sets the defaults of c's args into spec (a zeroed struct of the kind's
** spec type, or of c->spec_size bytes for a layer). */
void lf_component_defaults(const lf_component *c, void *spec);
/* Frees what parsing put into spec (strings, string lists), not spec. */
void lf_component_free_args(const lf_component *c, void *spec);

#endif
