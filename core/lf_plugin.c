/*
** lf_plugin.c — loading C plugins and keeping their component rows
** (lf_plugin.h; the plugin's side is include/labflow_plugin.h).
**
** The public header mirrors the kernel structs a layer works with
** (lf_layer, lf_layer_build, lf_layer_run, lf_layer_ops, lf_param,
** lf_arg_spec, lf_prim, lf_relayout) so that a plugin layer's functions
** run exactly where a built-in's would, without copies per batch. The
** assertions below fail the build when a kernel struct changes: the header
** and LFP_ABI_VERSION must then change with it.
**
** Rows are published once and never change or go away; readers (every
** lf_registry_find) take no lock: they read the row count with acquire
** order, the loader stores it with release order after the rows.
*/
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "../include/labflow_plugin.h"
#include "lf_plugin.h"
#include "lf_registry.h"
#include "../kernels/lf_layer.h"
#include "lf_sha256.h"

/* ---- the public structs are the kernel's structs ---------------------- */

#define ABI_MSG " changed: update include/labflow_plugin.h to match and bump LFP_ABI_VERSION"
#define SAME_SIZE(A, B) _Static_assert(sizeof(A)==sizeof(B), #A ABI_MSG)
#define SAME_FIELD(A, B, f) _Static_assert(offsetof(A, f)==offsetof(B, f), #A "." #f ABI_MSG)

SAME_SIZE(lf_shape, lfp_shape); SAME_FIELD(lf_shape, lfp_shape, dim);
_Static_assert(LF_MAX_DIMS==LFP_MAX_DIMS && LF_LAYER_MAX_PARAMS==LFP_LAYER_MAX_PARAMS
               && LF_LAYER_MAX_INPUTS==LFP_LAYER_MAX_INPUTS, "limits" ABI_MSG);
SAME_SIZE(lf_rng, lfp_rng);
SAME_SIZE(lf_param, lfp_param);
SAME_FIELD(lf_param, lfp_param, shape); SAME_FIELD(lf_param, lfp_param, n);
SAME_FIELD(lf_param, lfp_param, data); SAME_FIELD(lf_param, lfp_param, grad);
SAME_FIELD(lf_param, lfp_param, decay); SAME_FIELD(lf_param, lfp_param, data16);
SAME_SIZE(lf_param_decl, lfp_param_decl);
SAME_FIELD(lf_param_decl, lfp_param_decl, shape); SAME_FIELD(lf_param_decl, lfp_param_decl, trainable);
SAME_SIZE(lf_layer, lfp_layer);
SAME_FIELD(lf_layer, lfp_layer, args); SAME_FIELD(lf_layer, lfp_layer, index);
SAME_FIELD(lf_layer, lfp_layer, in); SAME_FIELD(lf_layer, lfp_layer, out);
SAME_FIELD(lf_layer, lfp_layer, nin); SAME_FIELD(lf_layer, lfp_layer, ins);
SAME_FIELD(lf_layer, lfp_layer, nparam); SAME_FIELD(lf_layer, lfp_layer, param);
SAME_SIZE(lf_layer_build, lfp_layer_build);
SAME_FIELD(lf_layer_build, lfp_layer_build, batch); SAME_FIELD(lf_layer_build, lfp_layer_build, src_md);
SAME_FIELD(lf_layer_build, lfp_layer_build, need_diff_src); SAME_FIELD(lf_layer_build, lfp_layer_build, nsrc);
SAME_FIELD(lf_layer_build, lfp_layer_build, src_mds); SAME_FIELD(lf_layer_build, lfp_layer_build, need_diff);
SAME_FIELD(lf_layer_build, lfp_layer_build, bf16); SAME_FIELD(lf_layer_build, lfp_layer_build, fuse_act);
SAME_FIELD(lf_layer_build, lfp_layer_build, act_alpha); SAME_FIELD(lf_layer_build, lfp_layer_build, act_fused_before);
SAME_FIELD(lf_layer_build, lfp_layer_build, dst_md); SAME_FIELD(lf_layer_build, lfp_layer_build, dst_is_src);
SAME_FIELD(lf_layer_build, lfp_layer_build, act_fused); SAME_FIELD(lf_layer_build, lfp_layer_build, state);
SAME_SIZE(lf_layer_run, lfp_layer_run);
SAME_FIELD(lf_layer_run, lfp_layer_run, batch); SAME_FIELD(lf_layer_run, lfp_layer_run, training);
SAME_FIELD(lf_layer_run, lfp_layer_run, rng); SAME_FIELD(lf_layer_run, lfp_layer_run, src);
SAME_FIELD(lf_layer_run, lfp_layer_run, dst); SAME_FIELD(lf_layer_run, lfp_layer_run, diff_dst);
SAME_FIELD(lf_layer_run, lfp_layer_run, diff_src); SAME_FIELD(lf_layer_run, lfp_layer_run, nsrc);
SAME_FIELD(lf_layer_run, lfp_layer_run, srcs); SAME_FIELD(lf_layer_run, lfp_layer_run, diff_srcs);
SAME_SIZE(lf_layer_ops, lfp_layer_ops);
SAME_FIELD(lf_layer_ops, lfp_layer_ops, infer); SAME_FIELD(lf_layer_ops, lfp_layer_ops, params);
SAME_FIELD(lf_layer_ops, lfp_layer_ops, init); SAME_FIELD(lf_layer_ops, lfp_layer_ops, build);
SAME_FIELD(lf_layer_ops, lfp_layer_ops, forward); SAME_FIELD(lf_layer_ops, lfp_layer_ops, backward);
SAME_FIELD(lf_layer_ops, lfp_layer_ops, release); SAME_FIELD(lf_layer_ops, lfp_layer_ops, multi_input);
SAME_FIELD(lf_layer_ops, lfp_layer_ops, onnx);
SAME_SIZE(lf_arg_spec, lfp_arg_spec);
SAME_FIELD(lf_arg_spec, lfp_arg_spec, type); SAME_FIELD(lf_arg_spec, lfp_arg_spec, required);
SAME_FIELD(lf_arg_spec, lfp_arg_spec, has_default); SAME_FIELD(lf_arg_spec, lfp_arg_spec, def);
SAME_FIELD(lf_arg_spec, lfp_arg_spec, min); SAME_FIELD(lf_arg_spec, lfp_arg_spec, max);
SAME_FIELD(lf_arg_spec, lfp_arg_spec, min_open); SAME_FIELD(lf_arg_spec, lfp_arg_spec, offset);
SAME_FIELD(lf_arg_spec, lfp_arg_spec, offset2); SAME_FIELD(lf_arg_spec, lfp_arg_spec, help);
_Static_assert((int)LFP_ARG_INT==(int)LF_ARG_INT && (int)LFP_ARG_INT64==(int)LF_ARG_INT64
               && (int)LFP_ARG_NUM==(int)LF_ARG_NUM && (int)LFP_ARG_BOOL==(int)LF_ARG_BOOL
               && (int)LFP_ARG_INT_PAIR==(int)LF_ARG_INT_PAIR && (int)LFP_ARG_NUM_PAIR==(int)LF_ARG_NUM_PAIR
               && (int)LFP_ARG_SHAPE==(int)LF_ARG_SHAPE, "lf_arg_type" ABI_MSG);
SAME_SIZE(lf_prim, lfp_prim);
SAME_FIELD(lf_prim, lfp_prim, prim); SAME_FIELD(lf_prim, lfp_prim, scratch); SAME_FIELD(lf_prim, lfp_prim, serial);
SAME_SIZE(lf_relayout, lfp_relayout);
SAME_FIELD(lf_relayout, lfp_relayout, reorder); SAME_FIELD(lf_relayout, lfp_relayout, to_inner);

/* ---- what the host hands a plugin --------------------------------------- */

static int64_t h_shape_count(const lfp_shape *s){ return lf_shape_count((const lf_shape*)s); }
static char *h_shape_str(const lfp_shape *s, char *b, size_t n){ return lf_shape_str((const lf_shape*)s, b, n); }
static float h_rng_uniform(lfp_rng *r){ return lf_rng_uniform((lf_rng*)r); }
static float h_rng_normal(lfp_rng *r){ return lf_rng_normal((lf_rng*)r); }
static void h_fill_uniform(float *x, int64_t n, double b, lfp_rng *r){ lf_fill_uniform(x, n, b, (lf_rng*)r); }
static int h_md(dnnl_memory_desc_t *md, int batch, const lfp_shape *s, int any, char *e, size_t n){
  return lf_dnnl_md(md, batch, (const lf_shape*)s, any, e, n);
}
static int h_prim_create(lfp_prim *p, const void *od, const_dnnl_primitive_attr_t a,
                         const_dnnl_primitive_desc_t hint, const char *what, char *e, size_t n){
  return lf_prim_create((lf_prim*)p, od, a, hint, what, e, n);
}
static int h_prim_reorder(lfp_prim *p, const dnnl_memory_desc_t *f, const dnnl_memory_desc_t *t, char *e, size_t n){
  return lf_prim_reorder((lf_prim*)p, f, t, e, n);
}
static const dnnl_memory_desc_t *h_prim_md(const lfp_prim *p, dnnl_query_t w, int i){
  return lf_prim_md((const lf_prim*)p, w, i);
}
static int h_prim_run(const lfp_prim *p, dnnl_stream_t s, int na, const dnnl_exec_arg_t *a,
                      const char *what, char *e, size_t n){
  return lf_prim_run((const lf_prim*)p, s, na, a, what, e, n);
}
static void h_prim_free(lfp_prim *p){ lf_prim_free((lf_prim*)p); }
static int h_relayout_init(lfp_relayout *r, const dnnl_memory_desc_t *o, const dnnl_memory_desc_t *i,
                           int to_inner, char *e, size_t n){
  return lf_relayout_init_copying((lf_relayout*)r, o, i, to_inner, e, n);
}
static dnnl_memory_t h_relayout_mem(const lfp_relayout *r, dnnl_memory_t o){ return lf_relayout_mem((const lf_relayout*)r, o); }
static int h_relayout_run(const lfp_relayout *r, dnnl_memory_t o, dnnl_stream_t s, char *e, size_t n){
  return lf_relayout_run((const lf_relayout*)r, o, s, e, n);
}
static void h_relayout_free(lfp_relayout *r){ lf_relayout_free((lf_relayout*)r); }
static int h_stream_wait(dnnl_stream_t s, char *e, size_t n){
  return lf_dnnl_check(dnnl_stream_wait(s), "stream wait", e, n);
}

static int add_layer(lfp_registrar *r, const lfp_layer_def *def);
static int add_loss(lfp_registrar *r, const lfp_loss_def *def);
static int add_metric(lfp_registrar *r, const lfp_metric_def *def);
static int add_scheduler(lfp_registrar *r, const lfp_scheduler_def *def);
static int add_optimizer(lfp_registrar *r, const lfp_optimizer_def *def);
static int add_dataset(lfp_registrar *r, const lfp_dataset_def *def);
static int h_data_alloc(lfp_data *d, int64_t n, const lfp_shape *shape, char *err, size_t errlen){
  return lf_dataset_fill_alloc((lf_dataset_fill*)d, n, (const lf_shape*)shape, err, errlen);
}

static const lfp_host host = {
  LFP_ABI_VERSION, add_layer, add_loss, add_metric,
  h_shape_count, h_shape_str, h_rng_uniform, h_rng_normal, h_fill_uniform, lf_fill_const,
  lf_dnnl_engine, lf_dnnl_check, h_md, lf_dnnl_md_is_plain, lf_dnnl_mem, lf_dnnl_ptr, lf_dnnl_nfloat,
  h_prim_create, h_prim_reorder, h_prim_md, h_prim_run, h_prim_free,
  h_relayout_init, h_relayout_mem, h_relayout_run, h_relayout_free, h_stream_wait,
  add_scheduler, add_optimizer, add_dataset, h_data_alloc,
};
SAME_SIZE(lf_dataset_fill, lfp_data);
SAME_FIELD(lf_dataset_fill, lfp_data, shape); SAME_FIELD(lf_dataset_fill, lfp_data, x);
SAME_FIELD(lf_dataset_fill, lfp_data, y); SAME_FIELD(lf_dataset_fill, lfp_data, nclasses);
_Static_assert(LFP_OPTIM_MAX_STATE==LF_OPTIM_FN_MAX_STATE, "optimizer state" ABI_MSG);

/* ---- the loaded plugins and their rows ---------------------------------- */

#define MAX_PLUGINS 64
#define MAX_ROWS 1024

/* A plugin row: the component and what only plugins have. */
typedef struct plugin_row {
  lf_component c;             /* first: rows[] point at it */
  lf_loss_fn *loss_fn;
  lf_metric_fn *metric_fn;
  lf_sched_fn *sched_fn;
  lf_optim_fn *optim_fn;
  lf_dataset_fn *dataset_fn;
  int (*optim_finish)(void *args, char *err, size_t errlen);  /* the plugin's
                              ** (an optimizer's or a dataset's) */
  lf_arg_spec *owned_args;    /* an optimizer's args: common ones + its own */
  const char *plugin;
} plugin_row;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static lf_plugin_info plugins[MAX_PLUGINS];
static int nplugins;                    /* published with release order */
static const plugin_row *rows[MAX_ROWS];
static int nrows;                       /* published with release order */

static int published_rows(void){ return __atomic_load_n(&nrows, __ATOMIC_ACQUIRE); }
static int published_plugins(void){ return __atomic_load_n(&nplugins, __ATOMIC_ACQUIRE); }

const lf_component *lf_plugin_row(int i){
  return (i>=0 && i<published_rows()) ? &rows[i]->c : NULL;
}

const lf_component *lf_plugin_find(const char *loc){
  if( !loc || !strchr(loc, '.') ) return NULL;
  int n = published_rows();
  for(int i=0; i<n; i++) if( strcmp(rows[i]->c.loc, loc)==0 ) return &rows[i]->c;
  return NULL;
}

const lf_component *lf_plugin_find_layer(const lf_layer_ops *ops){
  int n = published_rows();
  for(int i=0; ops && i<n; i++) if( rows[i]->c.layer==ops ) return &rows[i]->c;
  return NULL;
}

static const plugin_row *row_of(const lf_component *c){
  int n = published_rows();
  for(int i=0; c && i<n; i++) if( &rows[i]->c==c ) return rows[i];
  return NULL;
}
const lf_loss_fn *lf_component_loss_fn(const lf_component *c){
  const plugin_row *r = row_of(c);
  return r ? r->loss_fn : NULL;
}
const lf_metric_fn *lf_component_metric_fn(const lf_component *c){
  const plugin_row *r = row_of(c);
  return r ? r->metric_fn : NULL;
}
const lf_sched_fn *lf_component_sched_fn(const lf_component *c){
  const plugin_row *r = row_of(c);
  return r ? r->sched_fn : NULL;
}
const lf_optim_fn *lf_component_optim_fn(const lf_component *c){
  const plugin_row *r = row_of(c);
  return r ? r->optim_fn : NULL;
}
const lf_dataset_fn *lf_component_dataset_fn(const lf_component *c){
  const plugin_row *r = row_of(c);
  return r ? r->dataset_fn : NULL;
}
const char *lf_component_plugin(const lf_component *c){
  const plugin_row *r = row_of(c);
  return r ? r->plugin : NULL;
}

const lf_plugin_info *lf_plugin_get(const char *name){
  int n = published_plugins();
  for(int i=0; name && i<n; i++) if( strcmp(plugins[i].name, name)==0 ) return &plugins[i];
  return NULL;
}

int lf_plugin_namespace(const char *loc, char *ns, size_t n){
  const char *dot = loc ? strchr(loc, '.') : NULL;
  if( !dot || dot==loc || !dot[1] || (size_t)(dot-loc) >= n ) return 0;
  memcpy(ns, loc, (size_t)(dot-loc));
  ns[dot-loc] = 0;
  return 1;
}

static void collect_used(const cJSON *v, const lf_plugin_info **out, int max, int *k){
  if( cJSON_IsObject(v) ){
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(v, "loc");
    const lf_component *c = cJSON_IsString(loc) ? lf_plugin_find(loc->valuestring) : NULL;
    const lf_plugin_info *p = c ? lf_plugin_get(lf_component_plugin(c)) : NULL;
    int seen = 0;
    for(int i=0; p && i<*k; i++) if( out[i]==p ) seen = 1;
    if( p && !seen && *k < max ) out[(*k)++] = p;
  }
  for(const cJSON *c = v ? v->child : NULL; c; c = c->next){
    if( cJSON_IsObject(c) || cJSON_IsArray(c) ) collect_used(c, out, max, k);
  }
}

int lf_plugin_used(const cJSON *cfg, const lf_plugin_info **out, int max){
  int k = 0;
  collect_used(cfg, out, max, &k);
  return k;
}

/* ---- registration -------------------------------------------------------- */

struct lfp_registrar {
  const char *plugin;         /* its name (the namespace) */
  plugin_row **staged;
  int nstaged, cap;
  int failed;
  char *err;                  /* the register function's err buffer */
  size_t errlen;
};

static int identifier(const char *s, size_t max){
  if( !s || !((*s>='A' && *s<='Z') || (*s>='a' && *s<='z')) ) return 0;
  size_t i = 0;
  for(; s[i]; i++){
    char c = s[i];
    if( !((c>='A' && c<='Z') || (c>='a' && c<='z') || (c>='0' && c<='9') || c=='_') ) return 0;
  }
  return i <= max;
}

static int reg_fail(lfp_registrar *r, const char *fmt, const char *a, const char *b){
  r->failed = 1;
  snprintf(r->err, r->errlen, fmt, a ? a : "(null)", b ? b : "");
  return -1;
}

/* The args schema: types LabFlow can parse into a plain struct, each value
** inside args_size at its alignment, names unique. */
static int check_args(lfp_registrar *r, const char *name, const lfp_arg_spec *args, size_t size){
  static char why[160];
  for(const lfp_arg_spec *a = args; a && a->name; a++){
    size_t need = 0, align = 1;
    switch( a->type ){
      case LFP_ARG_INT: case LFP_ARG_BOOL: need = sizeof(int); align = alignof(int); break;
      case LFP_ARG_INT64: need = sizeof(int64_t); align = alignof(int64_t); break;
      case LFP_ARG_NUM: need = sizeof(double); align = alignof(double); break;
      case LFP_ARG_INT_PAIR: need = 2*sizeof(int); align = alignof(int); break;
      case LFP_ARG_NUM_PAIR: need = 2*sizeof(double); align = alignof(double); break;
      case LFP_ARG_SHAPE: need = sizeof(lf_shape); align = alignof(lf_shape); break;
      default:
        return reg_fail(r, "component '%s': arg type of '%s' is not one a plugin may use "
                        "(int, int64, num, bool, int pair, num pair, shape)", name, a->name);
    }
    if( !identifier(a->name, 60) ) return reg_fail(r, "component '%s': arg name '%s' must be letters, digits and _", name, a->name);
    if( a->offset % align || a->offset + need > size ){
      snprintf(why, sizeof why, "%s' lies outside args_size or is misaligned (offset %zu, args_size %zu)",
               a->name, a->offset, size);
      return reg_fail(r, "component '%s': arg '%s", name, why);
    }
    if( !(a->min <= a->max) ) return reg_fail(r, "component '%s': arg '%s' has min > max", name, a->name);
    if( a->has_default && a->type!=LFP_ARG_SHAPE && a->type!=LFP_ARG_NUM_PAIR && (a->def < a->min || a->def > a->max) ){
      return reg_fail(r, "component '%s': the default of arg '%s' is outside its bounds", name, a->name);
    }
    if( !a->help ) return reg_fail(r, "component '%s': arg '%s' needs a help text", name, a->name);
    for(const lfp_arg_spec *b = args; b != a; b++){
      if( strcmp(b->name, a->name)==0 ) return reg_fail(r, "component '%s': arg '%s' is declared twice", name, a->name);
    }
  }
  return 0;
}

static const lf_arg_spec no_args[] = { {0} };

/* A new row for "<plugin>.<name>", staged until the plugin's register
** function returns. */
static plugin_row *stage(lfp_registrar *r, lf_kind kind, const char *name, const char *help,
                           const lfp_arg_spec *args, size_t args_size,
                           int (*finish)(void*, char*, size_t)){
  if( r->failed ) return NULL;
  if( !identifier(name, 60) ) { reg_fail(r, "component name '%s' must be a letter then letters, digits or _ (at most 60)", name, NULL); return NULL; }
  if( check_args(r, name, args, args_size) ) return NULL;
  for(int i=0; i<r->nstaged; i++){
    if( strcmp(strchr(r->staged[i]->c.loc, '.')+1, name)==0 ){
      reg_fail(r, "component '%s' is registered twice%s", name, NULL);
      return NULL;
    }
  }
  if( published_rows() + r->nstaged >= MAX_ROWS ){ reg_fail(r, "too many plugin components in this process (at most %s)%s", "1024", NULL); return NULL; }
  if( r->nstaged==r->cap ){
    int cap = r->cap ? 2*r->cap : 8;
    plugin_row **s = realloc(r->staged, (size_t)cap * sizeof *s);  /* NOLINT(bugprone-sizeof-expression): an array of pointers */
    if( !s ){ reg_fail(r, "out of memory%s%s", "", NULL); return NULL; }
    r->staged = s;
    r->cap = cap;
  }
  plugin_row *row = calloc(1, sizeof *row);
  lf_component *c = row ? &row->c : NULL;
  size_t len = strlen(r->plugin) + 1 + strlen(name) + 1;
  char *loc = malloc(len);
  if( !row || !loc ){ free(row); free(loc); reg_fail(r, "out of memory%s%s", "", NULL); return NULL; }
  snprintf(loc, len, "%s.%s", r->plugin, name);
  c->kind = kind;
  c->loc = loc;
  c->help = help ? help : "";
  c->args = args ? (const lf_arg_spec*)args : no_args;
  c->finish = finish;
  c->spec_size = args_size;
  r->staged[r->nstaged++] = row;
  return row;
}

static void free_row(plugin_row *r){
  if( !r ) return;
  free((void*)r->c.loc);
  free((void*)r->c.layer);
  free(r->loss_fn);
  free(r->metric_fn);
  free(r->sched_fn);
  free(r->optim_fn);
  free(r->dataset_fn);
  free(r->owned_args);
  free(r);
}

static int add_layer(lfp_registrar *r, const lfp_layer_def *def){
  if( !def ) return reg_fail(r, "add_layer: no definition%s%s", "", NULL);
  const lfp_layer_ops *o = def->ops;
  if( !o || !o->infer || !o->build || !o->forward || !o->backward ){
    return reg_fail(r, "layer '%s' needs infer, build, forward and backward functions%s", def->name, NULL);
  }
  plugin_row *row = stage(r, LF_KIND_LAYER, def->name, def->help, def->args, def->args_size, def->finish);
  if( !row ) return -1;
  lf_component *c = &row->c;
  lf_layer_ops *ops = malloc(sizeof *ops);
  if( !ops ) return reg_fail(r, "out of memory%s%s", "", NULL);
  memcpy(ops, o, sizeof *ops);
  ops->loc = c->loc;
  /* LabFlow's ONNX builder is not part of the plugin interface. */
  ops->onnx = NULL;
  c->layer = ops;
  return 0;
}

static int add_loss(lfp_registrar *r, const lfp_loss_def *def){
  if( !def ) return reg_fail(r, "add_loss: no definition%s%s", "", NULL);
  if( !def->compute ) return reg_fail(r, "loss '%s' needs a compute function%s", def->name, NULL);
  plugin_row *row = stage(r, LF_KIND_LOSS, def->name, def->help, def->args, def->args_size, def->finish);
  if( !row ) return -1;
  lf_loss_fn *fn = malloc(sizeof *fn);
  if( !fn ) return reg_fail(r, "out of memory%s%s", "", NULL);
  fn->classification = def->classification ? 1 : 0;
  fn->compute = def->compute;
  row->loss_fn = fn;
  return 0;
}

static int add_metric(lfp_registrar *r, const lfp_metric_def *def){
  if( !def ) return reg_fail(r, "add_metric: no definition%s%s", "", NULL);
  if( !def->create || !def->reset || !def->update || !def->value || !def->destroy ){
    return reg_fail(r, "metric '%s' needs create, reset, update, value and destroy functions%s", def->name, NULL);
  }
  plugin_row *row = stage(r, LF_KIND_METRIC, def->name, def->help, def->args, def->args_size, def->finish);
  if( !row ) return -1;
  lf_metric_fn *fn = malloc(sizeof *fn);
  if( !fn ) return reg_fail(r, "out of memory%s%s", "", NULL);
  fn->create = def->create;
  fn->reset = def->reset;
  fn->update = def->update;
  fn->value = def->value;
  fn->destroy = def->destroy;
  row->metric_fn = fn;
  return 0;
}

static int add_scheduler(lfp_registrar *r, const lfp_scheduler_def *def){
  if( !def ) return reg_fail(r, "add_scheduler: no definition%s%s", "", NULL);
  if( !def->lr_at ) return reg_fail(r, "scheduler '%s' needs an lr_at function%s", def->name, NULL);
  plugin_row *row = stage(r, LF_KIND_SCHEDULER, def->name, def->help, def->args, def->args_size, def->finish);
  if( !row ) return -1;
  lf_sched_fn *fn = malloc(sizeof *fn);
  if( !fn ) return reg_fail(r, "out of memory%s%s", "", NULL);
  fn->lr_at = def->lr_at;
  row->sched_fn = fn;
  return 0;
}

/* The args every optimizer takes (as the built-ins' rows), in lf_optim_spec. */
static const lf_arg_spec optim_common[] = {
  {"lr", LF_ARG_NUM, 1, 0, 0, 0, 1e9, 1, offsetof(lf_optim_spec, lr), 0, "learning rate"},
  {"scheduler", LF_ARG_SCHEDULER, 0, 0, 0, 0, 0, 0, 0, 0, "learning-rate scheduler component"},
  {"grad_clip", LF_ARG_NUM, 0, 1, 0, 0, 1e9, 0, offsetof(lf_optim_spec, grad_clip), 0,
   "clip the gradients' global L2 norm to this before each step (0: off)"},
};
#define N_OPTIM_COMMON (int)(sizeof optim_common / sizeof optim_common[0])

/* Calls the plugin's finish on the args inside the optimizer spec. */
static int optim_finish(void *spec, char *err, size_t errlen){
  lf_optim_spec *os = spec;
  int n = published_rows();
  for(int i=0; i<n; i++){
    if( rows[i]->optim_fn && rows[i]->optim_fn==os->optim_fn ){
      return rows[i]->optim_finish ? rows[i]->optim_finish(os->fn_args, err, errlen) : 0;
    }
  }
  return 0;
}

static int add_optimizer(lfp_registrar *r, const lfp_optimizer_def *def){
  if( !def ) return reg_fail(r, "add_optimizer: no definition%s%s", "", NULL);
  if( !def->step ) return reg_fail(r, "optimizer '%s' needs a step function%s", def->name, NULL);
  if( def->nstate < 0 || def->nstate > LFP_OPTIM_MAX_STATE ){
    return reg_fail(r, "optimizer '%s': nstate must be 0 to 4%s", def->name, NULL);
  }
  for(int j=0; j<def->nstate; j++){
    if( !identifier(def->state_names[j], 30) ) return reg_fail(r, "optimizer '%s': state_names must be identifiers%s", def->name, NULL);
    for(int k=0; k<j; k++) if( strcmp(def->state_names[j], def->state_names[k])==0 ){
      return reg_fail(r, "optimizer '%s': state name '%s' is given twice", def->name, def->state_names[j]);
    }
  }
  if( def->args_size > LF_OPTIM_FN_ARGS_BYTES ) return reg_fail(r, "optimizer '%s': args_size is at most 256 bytes%s", def->name, NULL);
  int nown = 0;
  for(const lfp_arg_spec *a = def->args; a && a->name; a++){
    for(int k=0; k<N_OPTIM_COMMON; k++) if( strcmp(a->name, optim_common[k].name)==0 ){
      return reg_fail(r, "optimizer '%s': arg '%s' is one LabFlow gives every optimizer (lr, scheduler, grad_clip)", def->name, a->name);
    }
    nown++;
  }
  plugin_row *row = stage(r, LF_KIND_OPTIMIZER, def->name, def->help, def->args, def->args_size, NULL);
  if( !row ) return -1;
  /* The common args, then the plugin's moved into lf_optim_spec.fn_args. */
  lf_arg_spec *all = calloc((size_t)(N_OPTIM_COMMON + nown + 1), sizeof *all);
  lf_optim_fn *fn = calloc(1, sizeof *fn);
  row->owned_args = all;
  row->optim_fn = fn;
  if( !all || !fn ) return reg_fail(r, "out of memory%s%s", "", NULL);
  memcpy(all, optim_common, sizeof optim_common);
  for(int k=0; k<nown; k++){
    memcpy(&all[N_OPTIM_COMMON + k], &def->args[k], sizeof *all);
    all[N_OPTIM_COMMON + k].offset += offsetof(lf_optim_spec, fn_args);
  }
  row->c.args = all;
  row->c.spec_size = 0;
  row->c.finish = optim_finish;
  row->optim_finish = def->finish;
  fn->nstate = def->nstate;
  for(int j=0; j<def->nstate; j++) fn->state_names[j] = def->state_names[j];
  fn->step = def->step;
  return 0;
}

/* Calls the plugin's finish on the args inside the dataset spec. */
static int dataset_finish(void *spec, char *err, size_t errlen){
  lf_dataset_spec *ds = spec;
  int n = published_rows();
  for(int i=0; i<n; i++){
    if( rows[i]->dataset_fn && rows[i]->dataset_fn==ds->fn ){
      return rows[i]->optim_finish ? rows[i]->optim_finish(ds->fn_args, err, errlen) : 0;
    }
  }
  return 0;
}

static int add_dataset(lfp_registrar *r, const lfp_dataset_def *def){
  if( !def ) return reg_fail(r, "add_dataset: no definition%s%s", "", NULL);
  if( !def->load ) return reg_fail(r, "dataset '%s' needs a load function%s", def->name, NULL);
  if( def->args_size > LF_DATASET_FN_ARGS_BYTES ) return reg_fail(r, "dataset '%s': args_size is at most 256 bytes%s", def->name, NULL);
  int nown = 0;
  for(const lfp_arg_spec *a = def->args; a && a->name; a++) nown++;
  plugin_row *row = stage(r, LF_KIND_DATASET, def->name, def->help, def->args, def->args_size, NULL);
  if( !row ) return -1;
  /* Its args land in lf_dataset_spec.fn_args. */
  lf_arg_spec *all = calloc((size_t)nown + 1, sizeof *all);
  lf_dataset_fn *fn = calloc(1, sizeof *fn);
  row->owned_args = all;
  row->dataset_fn = fn;
  if( !all || !fn ) return reg_fail(r, "out of memory%s%s", "", NULL);
  for(int k=0; k<nown; k++){
    memcpy(&all[k], &def->args[k], sizeof *all);
    all[k].offset += offsetof(lf_dataset_spec, fn_args);
  }
  row->c.args = all;
  row->c.spec_size = 0;
  row->c.finish = dataset_finish;
  row->optim_finish = def->finish;
  fn->load = (int (*)(const void*, const char*, lf_dataset_fill*, char*, size_t))def->load;
  return 0;
}

/* ---- loading -------------------------------------------------------------- */

/* The whole file, for its hash. NULL with msg set. */
static unsigned char *read_all(int fd, size_t *len, const char *path, char *msg, size_t n){
  struct stat st;
  if( fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ){
    snprintf(msg, n, "'%.200s' is not a regular file", path);
    return NULL;
  }
  size_t cap = (size_t)st.st_size + 1, used = 0;
  unsigned char *buf = malloc(cap);
  if( !buf ){ snprintf(msg, n, "out of memory reading '%.200s'", path); return NULL; }
  for(;;){
    if( used == cap ){
      unsigned char *b = realloc(buf, cap *= 2);
      if( !b ){ free(buf); snprintf(msg, n, "out of memory reading '%.200s'", path); return NULL; }
      buf = b;
    }
    ssize_t got = read(fd, buf + used, cap - used);
    if( got < 0 && errno==EINTR ) continue;
    if( got < 0 ){ free(buf); snprintf(msg, n, "cannot read '%.200s': %s", path, strerror(errno)); return NULL; }
    if( got == 0 ) break;
    used += (size_t)got;
  }
  *len = used;
  return buf;
}

/* A plugin name may not be a built-in's loc (in any case): a config
** naming "<plugin>.X" must never be mistaken for a built-in. */
static int names_builtin(const char *name){
  const lf_component *c;
  for(int i=0; (c = lf_registry_at(i))!=NULL && !lf_component_plugin(c); i++){
    if( strcasecmp(c->loc, name)==0 ) return 1;
  }
  return 0;
}

static int load_locked(const char *path, char *msg, size_t n){
  char sha[65];
  if( !path || !path[0] ){ snprintf(msg, n, "the path is empty: give the plugin's .so file"); return -1; }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if( fd < 0 ){ snprintf(msg, n, "cannot open '%.200s': %s", path, strerror(errno)); return -1; }
  size_t len = 0;
  unsigned char *bytes = read_all(fd, &len, path, msg, n);
  if( !bytes ){ close(fd); return -1; }
  uint8_t digest[32];
  lf_sha256(bytes, len, digest);
  free(bytes);
  for(int i=0; i<32; i++) snprintf(sha + 2*i, 3, "%02x", digest[i]);
  /* The file dlopen maps must be the one hashed: same device and inode
  ** (the dynamic loader may open the path again by itself). */
  struct stat hashed, mapped;
  char *real = realpath(path, NULL);
  if( fstat(fd, &hashed) != 0 || !real ){
    snprintf(msg, n, "cannot resolve '%.200s': %s", path, strerror(errno));
    free(real);
    close(fd);
    return -1;
  }
  close(fd);
  void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
  free(real);
  if( !h ){ snprintf(msg, n, "cannot load '%.200s': %s", path, dlerror()); return -1; }
  for(int i=0; i<nplugins; i++){
    if( plugins[i].handle != h ) continue;
    /* The loader hands back a library it has mapped already: this path
    ** was loaded before, maybe another file then. */
    if( strcmp(plugins[i].sha256, sha)==0 ){
      snprintf(msg, n, "plugin '%s' %s (sha256 %.12s) is already loaded", plugins[i].name, plugins[i].version, sha);
    }else{
      snprintf(msg, n, "'%.200s' changed since plugin '%s' (sha256 %.12s) was loaded from it (now sha256 %.12s): a process "
               "cannot load a second build of a plugin; use a new process", path, plugins[i].name, plugins[i].sha256, sha);
    }
    dlclose(h);
    return strcmp(plugins[i].sha256, sha)==0 ? 0 : -1;
  }
  struct link_map *lm = NULL;
  if( dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm || stat(lm->l_name, &mapped) != 0
   || mapped.st_dev != hashed.st_dev || mapped.st_ino != hashed.st_ino ){
    snprintf(msg, n, "'%.200s' changed while it was being loaded (or is already mapped from another file); try again", path);
    dlclose(h);
    return -1;
  }
  const lfp_plugin *p = dlsym(h, "labflow_plugin");
  if( !p ){
    snprintf(msg, n, "'%.200s' is not a LabFlow plugin: it exports no 'labflow_plugin' (made with LABFLOW_PLUGIN() of labflow_plugin.h)", path);
    dlclose(h);
    return -1;
  }
  if( p->abi != LFP_ABI_VERSION ){
    snprintf(msg, n, "'%.200s' was built for plugin ABI %u, this LabFlow has ABI %u: rebuild it against the labflow_plugin.h installed with this LabFlow",
             path, p->abi, LFP_ABI_VERSION);
    dlclose(h);
    return -1;
  }
  if( !identifier(p->name, 40) ){
    snprintf(msg, n, "'%.200s': the plugin name must be a letter then letters, digits or _ (at most 40)", path);
    dlclose(h);
    return -1;
  }
  if( !p->version || !p->version[0] || strlen(p->version) >= sizeof plugins[0].version || !p->register_components ){
    snprintf(msg, n, "plugin '%s' (%.200s) needs a version (at most 63 characters) and a register function", p->name, path);
    dlclose(h);
    return -1;
  }
  if( names_builtin(p->name) ){
    snprintf(msg, n, "plugin name '%s' collides with the built-in component '%s'; rename the plugin", p->name, p->name);
    dlclose(h);
    return -1;
  }
  const lf_plugin_info *have = lf_plugin_get(p->name);
  if( have ){
    if( strcmp(have->sha256, sha)==0 ){
      snprintf(msg, n, "plugin '%s' %s (sha256 %.12s) is already loaded", have->name, have->version, have->sha256);
      dlclose(h);
      return 0;
    }
    snprintf(msg, n, "plugin name '%s' is already taken by the plugin loaded from '%.200s' (version %s, sha256 %.12s); "
             "'%.200s' (sha256 %.12s) cannot replace it in this process: start a new connection in a new process to load another build",
             p->name, have->path, have->version, have->sha256, path, sha);
    dlclose(h);
    return -1;
  }
  if( published_plugins() >= MAX_PLUGINS ){
    snprintf(msg, n, "at most %d plugins per process", MAX_PLUGINS);
    dlclose(h);
    return -1;
  }
  char why[512] = "";
  lfp_registrar r = { p->name, NULL, 0, 0, 0, why, sizeof why };
  int rc = p->register_components(&r, &host, why, sizeof why);
  if( rc==0 && !r.failed && r.nstaged==0 ){ r.failed = 1; snprintf(why, sizeof why, "it registers no component"); }
  if( rc != 0 || r.failed ){
    snprintf(msg, n, "plugin '%s' (%.200s): registration failed: %s; nothing of it was registered",
             p->name, path, why[0] ? why : "its register function returned an error");
    for(int i=0; i<r.nstaged; i++) free_row(r.staged[i]);
    free(r.staged);
    dlclose(h);
    return -1;
  }
  char *path_copy = strdup(path);
  if( !path_copy ){
    snprintf(msg, n, "out of memory");
    for(int i=0; i<r.nstaged; i++) free_row(r.staged[i]);
    free(r.staged);
    dlclose(h);
    return -1;
  }
  lf_plugin_info *info = &plugins[nplugins];
  snprintf(info->name, sizeof info->name, "%s", p->name);
  snprintf(info->version, sizeof info->version, "%s", p->version);
  memcpy(info->sha256, sha, sizeof info->sha256);
  info->path = path_copy;
  info->handle = h;
  info->nrows = r.nstaged;
  int used = snprintf(msg, n, "loaded plugin '%s' %s (sha256 %.12s):", info->name, info->version, sha);
  for(int i=0; i<r.nstaged; i++){
    r.staged[i]->plugin = info->name;
    rows[nrows + i] = r.staged[i];
    if( used >= 0 && (size_t)used < n ){
      used += snprintf(msg + used, n - (size_t)used, "%s %s (%s)", i ? "," : "", r.staged[i]->c.loc,
                       lf_kind_name(r.staged[i]->c.kind));
    }
  }
  /* The plugin first, so that every published row's plugin is found. */
  __atomic_store_n(&nplugins, nplugins + 1, __ATOMIC_RELEASE);
  __atomic_store_n(&nrows, nrows + r.nstaged, __ATOMIC_RELEASE);
  free(r.staged);
  return 0;   /* h stays open for the life of the process */
}

int lf_plugin_load(const char *path, char *msg, size_t n){
  pthread_mutex_lock(&load_lock);
  int rc = load_locked(path, msg, n);
  pthread_mutex_unlock(&load_lock);
  return rc;
}
