/*
** lf_registry.h — the one table of components a config may name by `loc`.
**
** Validation (ppl_new), help text (labflow_help) and training all read this
** table: each entry says which kind of component it is, which args it takes
** (name, type, bounds, default, help) and where each arg lands in the
** kernel-side spec struct of its kind. Adding a component is adding a row.
*/
#ifndef LF_REGISTRY_H
#define LF_REGISTRY_H

#include <stddef.h>
#include "../kernels/lf_net.h"
#include "../kernels/lf_loss.h"
#include "../kernels/lf_optim.h"
#include "../kernels/lf_metric.h"
#include "lf_dataset.h"
#include "../kernels/lf_component.h"

const lf_component *lf_registry_find(const char *loc);
const lf_component *lf_registry_find_kind(lf_kind kind, const char *loc);
/* The row of a layer implementation, or NULL. */
const lf_component *lf_registry_find_layer(const lf_layer_ops *ops);
/* Iteration: i = 0.. until NULL. */
const lf_component *lf_registry_at(int i);
const char *lf_kind_name(lf_kind k);
/* "Linear, Conv2d, ..." of every component of a kind, into buf. */
const char *lf_registry_names(lf_kind kind, char *buf, size_t n);
/* A default that lf_arg_spec.def (one number) cannot say, from the
** table's companion rows: `json` is its JSON text (a pair, a string), or
** `same_as` names the arg of the same component whose value it takes
** (pool stride = kernel). When `when` is set, the default holds only if
** that arg is given (a dataset's horizon 1 with window). `form` is the
** config_hash form (lf_config.h) that first spells it out. NULL when the
** arg has none of these. */
typedef struct lf_arg_default {
  const char *loc, *arg, *json, *same_as, *when;
  int form;
} lf_arg_default;
const lf_arg_default *lf_registry_arg_default(const lf_component *c, const lf_arg_spec *a);
/* Help text of a component: loc, kind, args with types/defaults. malloc'ed. */
char *lf_registry_help(const lf_component *c);

#endif
