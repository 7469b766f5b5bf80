/*
** lf_config.h — a pipeline config, validated against the registry and turned
** into the kernel-side specs the trainer runs.
**
** Config keys (all components are {"loc": NAME, "args": {...}}):
**   model, dataset, loss, optimizer    components (required)
**   metrics          {"<project metric name>": component, ...} (required,
**                    exactly the project's metrics)
**   train_data_src   source handed to the dataset (required)
**   val_data_src     source of the validation split (required)
**   train_batch_size default 32;  val_batch_size default 256
**   seed             default 0
**   precision        "f32" (default) or "bf16"
** Any other key, anywhere, is an error naming its path.
*/
#ifndef LF_CONFIG_H
#define LF_CONFIG_H

#include <cjson/cJSON.h>
#include "lf_registry.h"
#include "lf_project.h"
#include "lf_canon.h"
#include "lf_json.h"

typedef struct lf_metric_slot {
  char *name;                  /* project metric name (owned) */
  lf_metric_kind kind;
  lf_metric_args args;         /* TopKAccuracy's k */
} lf_metric_slot;

typedef struct lf_pipeline_spec {
  /* The model as layer nodes in topological order (lf_graph.c): each
  ** node's args, name and path are owned. Values 0..ninputs-1 are the
  ** model's inputs, named input_names (a Sequential's one input is "x"). */
  lf_net_node *nodes;
  char **node_paths;           /* "model>args>layers[3]" per node */
  int nnodes, cap;
  int ninputs;
  char **input_names;
  int output;                  /* value id of the model's output */
  lf_loss_spec loss;
  lf_optim_spec optim;
  lf_dataset_spec dataset;     /* strings owned */
  char *train_src, *val_src;   /* as written in the config (owned) */
  int train_batch, val_batch;
  uint64_t seed;
  int bf16;
  lf_metric_slot *metrics;     /* in project metric order (owned) */
  int nmetrics;
} lf_pipeline_spec;

/* Validates cfg completely (keys, locs, arg types and bounds, metric names)
** and fills *out. err gets e.g. "unknown loc 'Linaer' in
** model>args>layers[1] (known: Linear, Conv2d, ...)". */
int lf_config_parse(const cJSON *cfg, const lf_settings *settings,
                    lf_pipeline_spec *out, char *err, size_t n);
/* The same for a pipeline's stored config: a project metric added after the
** pipeline was made (lab_settings) may be absent; it is left out of
** out->metrics, which keeps project order. */
int lf_config_parse_stored(const cJSON *cfg, const lf_settings *settings,
                           lf_pipeline_spec *out, char *err, size_t n);
void lf_pipeline_spec_free(lf_pipeline_spec *p);

/* The config with every default filled in: each component's args that
** have a default in the registry (its args schema, and the defaults one
** number cannot say: lf_registry_arg_default) and are absent get it (and
** a missing or null "args" becomes {}), pairs written [a, b] and booleans
** true/false, and the top-level train_batch_size (32), val_batch_size
** (256), seed (0) and precision ("f32"). Two configs that differ only by
** a value equal to its default, or by how a value is written, are the same
** experiment. A new cJSON tree (caller deletes), NULL on out of memory. */
cJSON *lf_config_with_defaults(const cJSON *cfg);
/* The form of that identity stored hashes have: LF_CONFIG_HASH_FORM
** (lf_canon.h). */
/* SHA-256 hex of the canonical form of lf_config_with_defaults(cfg): the
** config_hash of ppls. 0, or -1 on out of memory. */
int lf_config_identity_hash(const cJSON *cfg, char hex[65]);
/* The same in an earlier form (bundles made by an earlier LabFlow carry
** those hashes). */
int lf_config_identity_hash_form(const cJSON *cfg, int form, char hex[65]);
/* Binds data-dependent layer args (CategoricalEmbedding's per-column
** code counts) from the dataset's named inputs and, when tab is not NULL,
** from the training split's vocabularies. -1 with err on a mismatch. */
struct lf_tabular;
int lf_config_bind_tabular(lf_pipeline_spec *p, const struct lf_tabular *tab, char *err, size_t n);

/* One layer component {"loc", "args"} validated and filled as in a model
** (lab_gradcheck); free with lf_config_layer_free. 0, or -1 with err. */
int lf_config_layer(const cJSON *comp, lf_layer_spec *out, char *err, size_t n);
void lf_config_layer_free(lf_layer_spec *ls);
/* One loss component, as in a config (lab_gradcheck); free out->fn_args. */
int lf_config_loss(const cJSON *comp, lf_loss_spec *out, char *err, size_t n);

#endif
