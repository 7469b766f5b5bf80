/*
** lf_plugin.h — C plugins: shared libraries that add rows to the component
** table (include/labflow_plugin.h is their side of the interface).
**
** A plugin is loaded only by an explicit lab_load_plugin() call; its rows
** are then found by lf_registry_find() like the built-ins, under
** "<plugin>.<name>", for the rest of the process (a plugin is never
** unloaded: nets and specs point at its code). Loading is all or nothing.
** Nothing here knows SQLite.
*/
#ifndef LF_PLUGIN_H
#define LF_PLUGIN_H

#include <stddef.h>
#include "../kernels/lf_component.h"

typedef struct lf_plugin_info {
  char name[48];
  char version[64];
  char sha256[65];          /* of the library file as loaded */
  char *path;               /* as given to lab_load_plugin */
  void *handle;             /* dlopen's, never closed */
  int nrows;
} lf_plugin_info;

/* Loads the library at path and registers its components. 0 with a line
** describing what was registered in msg (also when this very build is
** already loaded), or -1 with the reason in msg; on failure nothing of the
** plugin is registered. */
int lf_plugin_load(const char *path, char *msg, size_t n);

/* Plugin rows, i = 0.. until NULL (after the built-ins in lf_registry_at). */
const lf_component *lf_plugin_row(int i);
const lf_component *lf_plugin_find(const char *loc);
const lf_component *lf_plugin_find_layer(const lf_layer_ops *ops);

/* What a plugin row has beyond lf_component (NULL for a built-in row):
** a loss or metric runs through functions (kernels/lf_loss.h,
** lf_metric.h), a scheduler through lr_at (lf_optim.h), whose args struct is c->spec_size bytes; the plugin's name. */
struct lf_loss_fn;
struct lf_metric_fn;
struct lf_sched_fn;
struct lf_optim_fn;
const struct lf_sched_fn *lf_component_sched_fn(const lf_component *c);
/* A plugin optimizer's args land in lf_optim_spec (the common lr,
** scheduler, grad_clip, and its own inside fn_args). */
const struct lf_optim_fn *lf_component_optim_fn(const lf_component *c);
/* A plugin dataset's args land in lf_dataset_spec.fn_args. */
struct lf_dataset_fn;
const struct lf_dataset_fn *lf_component_dataset_fn(const lf_component *c);
const struct lf_loss_fn *lf_component_loss_fn(const lf_component *c);
const struct lf_metric_fn *lf_component_metric_fn(const lf_component *c);
const char *lf_component_plugin(const lf_component *c);

/* The loaded plugin of that name, or NULL. */
const lf_plugin_info *lf_plugin_get(const char *name);

/* The plugins whose components a config names (any object below cfg with
** a "loc" that is a plugin row), each once, into out (room for max);
** returns the count. */
struct cJSON;
int lf_plugin_used(const struct cJSON *cfg, const lf_plugin_info **out, int max);

/* The namespace of a loc that looks like a plugin's ("ns.Name") into ns,
** 1; else 0. */
int lf_plugin_namespace(const char *loc, char *ns, size_t n);

#endif
