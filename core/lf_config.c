/*
** lf_config.c — validating a pipeline config against the registry.
**
** The walk carries the path of the node being checked ("model>args>
** layers[1]>args>out") so every refusal names exactly the key to fix.
** Nothing is written anywhere: the caller decides what to do with the
** result, after everything has been checked.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_config.h"
#include "lf_graph.h"
#include "lf_canon.h"
#include "lf_tabular.h"
#include "lf_plugin.h"
#include "../kernels/lf_layer.h"

typedef struct walk {
  char *err;
  size_t errlen;
  int stored;       /* a stored config: metrics added to the project since may be absent */
  int graph_node;              /* the component may carry name and in */
} walk;

static int fail(walk *w, const char *fmt, ...){
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->err, w->errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* Builds the path of a child node; over-long paths are cut (they only
** appear in messages). */
static void subpath(char *dst, size_t n, const char *fmt, ...){
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dst, n, fmt, ap);
  va_end(ap);
}


/* Short, printable rendering of a JSON value for error messages. */
static void show_value(const cJSON *v, char *buf, size_t n){
  char *t = cJSON_PrintUnformatted(v);
  if( !t ){ snprintf(buf, n, "?"); return; }
  if( strlen(t) > 40 ) snprintf(buf, n, "%.37s...", t);
  else snprintf(buf, n, "%s", t);
  free(t);
}

/* Names of a component's args, "out, bias", for "unknown key" messages. */
static void arg_names(const lf_component *c, char *buf, size_t n){
  size_t used = 0;
  buf[0] = 0;
  for(const lf_arg_spec *a = c->args; a->name; a++){
    int w = snprintf(buf+used, n-used, "%s%s", used ? ", " : "", a->name);
    if( w<0 || (size_t)w >= n-used ) break;
    used += (size_t)w;
  }
  if( !used ) snprintf(buf, n, "no args");
}

/* PyTorch's names of the args LabFlow's layers name shorter (Conv2d,
** Conv1d, the pools, Linear take the names of LabFlow's table only, so
** that one spelling is documented and hashed): the "unknown key" message
** says which name to write instead. "" when key is none of them. */
static const char *torch_name_hint(const lf_component *c, const char *key){
  static const struct { const char *torch, *ours, *hint; } map[] = {
    {"out_channels", "out", "; PyTorch's out_channels is out here"},
    {"out_features", "out", "; PyTorch's out_features is out here"},
    {"kernel_size", "kernel", "; PyTorch's kernel_size is kernel here"},
    {"in_channels", "out", "; leave in_channels out: the input channels come from the data"},
    {"in_features", "out", "; leave in_features out: the input features come from the data"},
  };
  for(size_t i=0; i<sizeof map/sizeof map[0]; i++){
    if( strcmp(key, map[i].torch)!=0 ) continue;
    for(const lf_arg_spec *a = c->args; a->name; a++){
      if( strcmp(a->name, map[i].ours)==0 ) return map[i].hint;
    }
  }
  return "";
}

static int check_number(walk *w, const char *path, const lf_arg_spec *a,
                        const cJSON *v, int integral, double *out){
  char shown[64];
  if( !cJSON_IsNumber(v) || !isfinite(v->valuedouble) ){
    show_value(v, shown, sizeof shown);
    return fail(w, "%s must be %s, got %s", path, integral ? "an integer" : "a number", shown);
  }
  double d = v->valuedouble;
  if( integral && d != floor(d) ){
    show_value(v, shown, sizeof shown);
    return fail(w, "%s must be an integer, got %s", path, shown);
  }
  if( d < a->min || (a->min_open && d==a->min) || d > a->max ){
    show_value(v, shown, sizeof shown);
    if( a->min_open ) return fail(w, "%s must be > %g and <= %g, got %s", path, a->min, a->max, shown);
    return fail(w, "%s must be between %g and %g, got %s", path, a->min, a->max, shown);
  }
  *out = d;
  return 0;
}

static int parse_component(walk *w, const cJSON *node, const char *path,
                           lf_kind kind, const lf_component **comp_out,
                           void *spec, lf_pipeline_spec *p);

/* Layers of the model, for lf_graph_lower. */
static int parse_layer_node(void *ctx, const cJSON *node, const char *path, lf_layer_spec *out){
  walk *w = ctx;
  const lf_component *comp = NULL;
  w->graph_node = 1;
  int rc = parse_component(w, node, path, LF_KIND_LAYER, &comp, out, NULL);
  w->graph_node = 0;
  return rc;
}

/* A dataset's named inputs: {"name": {"columns": [...], "categorical":
** bool, "standardize": bool}, ...}. */
static int parse_inputs(walk *w, const cJSON *v, const char *path, lf_dataset_spec *d){
  if( !cJSON_IsObject(v) || !v->child ){
    return fail(w, "%s must be an object of input groups, e.g. {\"cat\": {\"columns\": [\"a\", \"b\"], "
                "\"categorical\": true}, \"cont\": {\"columns\": [\"c\"], \"standardize\": true}}", path);
  }
  int n = cJSON_GetArraySize(v);
  if( n > 64 ) return fail(w, "%s has %d groups; at most 64", path, n);
  d->inputs = calloc((size_t)n, sizeof(lf_input_group));
  if( !d->inputs ) return fail(w, "out of memory");
  for(const cJSON *g = v->child; g; g = g->next){
    char sub[512], sub2[600];
    lf_input_group *ig = &d->inputs[d->ninputs++];
    subpath(sub, sizeof sub, "%s>%s", path, g->string);
    if( !g->string[0] ) return fail(w, "%s: an input group needs a non-empty name", path);
    ig->name = strdup(g->string);
    if( !ig->name ) return fail(w, "out of memory");
    if( !cJSON_IsObject(g) ) return fail(w, "%s must be an object with columns (and categorical, standardize)", sub);
    for(const cJSON *c = g->child; c; c = c->next){
      subpath(sub2, sizeof sub2, "%s>%s", sub, c->string);
      if( strcmp(c->string, "columns")==0 ){
        int m = cJSON_IsArray(c) ? cJSON_GetArraySize(c) : 0;
        if( m < 1 ) return fail(w, "%s must be a non-empty list of column names", sub2);
        ig->columns = calloc((size_t)m, sizeof(char*));
        if( !ig->columns ) return fail(w, "out of memory");
        for(const cJSON *e = c->child; e; e = e->next){
          if( !cJSON_IsString(e) || !e->valuestring[0] ) return fail(w, "%s[%d] must be a non-empty string", sub2, ig->ncolumns);
          ig->columns[ig->ncolumns] = strdup(e->valuestring);
          if( !ig->columns[ig->ncolumns] ) return fail(w, "out of memory");
          ig->ncolumns++;
        }
      }else if( strcmp(c->string, "categorical")==0 || strcmp(c->string, "standardize")==0 ){
        if( !cJSON_IsBool(c) ) return fail(w, "%s must be true or false", sub2);
        if( c->string[0]=='c' ) ig->categorical = cJSON_IsTrue(c);
        else ig->standardize = cJSON_IsTrue(c);
      }else{
        return fail(w, "unknown key %s (an input group takes: columns, categorical, standardize)", sub2);
      }
    }
    if( !ig->columns ) return fail(w, "%s>columns is missing", sub);
    if( ig->categorical && ig->standardize ) return fail(w, "%s: a categorical group cannot be standardized", sub);
  }
  return 0;
}

static int parse_arg(walk *w, const lf_arg_spec *a, const cJSON *v,
                     const char *path, void *spec, lf_pipeline_spec *p){
  char *base = spec;
  double d;
  char shown[64];
  switch( a->type ){
    case LF_ARG_INT:
      if( check_number(w, path, a, v, 1, &d) ) return -1;
      *(int*)(base + a->offset) = (int)d;
      return 0;
    case LF_ARG_INT64:
      if( check_number(w, path, a, v, 1, &d) ) return -1;
      *(int64_t*)(base + a->offset) = (int64_t)d;
      return 0;
    case LF_ARG_NUM:
      if( check_number(w, path, a, v, 0, &d) ) return -1;
      *(double*)(base + a->offset) = d;
      return 0;
    case LF_ARG_BOOL:
      if( cJSON_IsBool(v) ){ *(int*)(base + a->offset) = cJSON_IsTrue(v); return 0; }
      if( cJSON_IsNumber(v) && (v->valuedouble==0 || v->valuedouble==1) ){
        *(int*)(base + a->offset) = v->valuedouble==1;
        return 0;
      }
      show_value(v, shown, sizeof shown);
      return fail(w, "%s must be true or false, got %s", path, shown);
    case LF_ARG_INT_PAIR: {
      int *dst = (int*)(base + a->offset);
      if( cJSON_IsArray(v) ){
        if( cJSON_GetArraySize(v)!=2 ) return fail(w, "%s must be an integer or a list of 2 integers", path);
        char sub[512];
        for(int i=0; i<2; i++){
          subpath(sub, sizeof sub, "%s[%d]", path, i);
          if( check_number(w, sub, a, cJSON_GetArrayItem(v, i), 1, &d) ) return -1;
          dst[i] = (int)d;
        }
        return 0;
      }
      if( check_number(w, path, a, v, 1, &d) ) return -1;
      dst[0] = dst[1] = (int)d;
      return 0;
    }
    case LF_ARG_NUM_PAIR: {
      double *dst = (double*)(base + a->offset);
      if( !cJSON_IsArray(v) || cJSON_GetArraySize(v)!=2 ){
        return fail(w, "%s must be a list of 2 numbers", path);
      }
      char sub[512];
      for(int i=0; i<2; i++){
        subpath(sub, sizeof sub, "%s[%d]", path, i);
        if( check_number(w, sub, a, cJSON_GetArrayItem(v, i), 0, &d) ) return -1;
        dst[i] = d;
      }
      return 0;
    }
    case LF_ARG_STR: {
      if( !cJSON_IsString(v) || !v->valuestring[0] ){
        show_value(v, shown, sizeof shown);
        return fail(w, "%s must be a non-empty string, got %s", path, shown);
      }
      char **dst = (char**)(base + a->offset);
      free(*dst);
      *dst = strdup(v->valuestring);
      return *dst ? 0 : fail(w, "out of memory");
    }
    case LF_ARG_STR_LIST: {
      if( !cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 ){
        return fail(w, "%s must be a non-empty list of strings", path);
      }
      int n = cJSON_GetArraySize(v);
      char **list = calloc((size_t)n, sizeof(char*));
      if( !list ) return fail(w, "out of memory");
      *(char***)(base + a->offset) = list;
      *(int*)(base + a->offset2) = n;
      int i = 0;
      for(const cJSON *c = v->child; c; c = c->next, i++){
        if( !cJSON_IsString(c) || !c->valuestring[0] ){
          return fail(w, "%s[%d] must be a non-empty string", path, i);
        }
        list[i] = strdup(c->valuestring);
        if( !list[i] ) return fail(w, "out of memory");
      }
      return 0;
    }
    case LF_ARG_INT_LIST: {
      int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
      if( n < 1 || n > 4096 ) return fail(w, "%s must be a list of 1 to 4096 integers", path);
      int *list = calloc((size_t)n, sizeof(int));
      if( !list ) return fail(w, "out of memory");
      free(*(int**)(base + a->offset));
      *(int**)(base + a->offset) = list;
      *(int*)(base + a->offset2) = n;
      char sub[512];
      for(int i=0; i<n; i++){
        subpath(sub, sizeof sub, "%s[%d]", path, i);
        if( check_number(w, sub, a, cJSON_GetArrayItem(v, i), 1, &d) ) return -1;
        list[i] = (int)d;
      }
      return 0;
    }
    case LF_ARG_SHAPE: {
      lf_shape *s = (lf_shape*)(base + a->offset);
      int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
      if( n < 1 || n > LF_MAX_DIMS ) return fail(w, "%s must be a list of 1 to %d positive integers", path, LF_MAX_DIMS);
      char sub[512];
      double total = 1;
      for(int i=0; i<n; i++){
        subpath(sub, sizeof sub, "%s[%d]", path, i);
        if( check_number(w, sub, a, cJSON_GetArrayItem(v, i), 1, &d) ) return -1;
        s->dim[i] = (int64_t)d;
        total *= d;
      }
      if( total > 1e8 ) return fail(w, "%s describes %.0f values per sample; at most 100000000", path, total);
      s->ndim = n;
      return 0;
    }
    case LF_ARG_DTYPE:
      if( cJSON_IsString(v) && strcmp(v->valuestring, "uint8")==0 ){ *(int*)(base + a->offset) = 1; return 0; }
      if( cJSON_IsString(v) && strcmp(v->valuestring, "float32")==0 ){ *(int*)(base + a->offset) = 4; return 0; }
      show_value(v, shown, sizeof shown);
      return fail(w, "%s must be \"uint8\" or \"float32\", got %s", path, shown);
    case LF_ARG_LAYERS:
    case LF_ARG_NODES:
      /* lf_graph.c lowers models; the walk never parses them as args. */
      return fail(w, "%s: unexpected list of components", path);
    case LF_ARG_INPUTS:
      return parse_inputs(w, v, path, (lf_dataset_spec*)spec);
    case LF_ARG_SCHEDULER: {
      const lf_component *sc = NULL;
      if( parse_component(w, v, path, LF_KIND_SCHEDULER, &sc, spec, p) ) return -1;
      if( !lf_component_sched_fn(sc) ) ((lf_optim_spec*)spec)->sched = (lf_sched_kind)sc->code;
      return 0;
    }
  }
  return fail(w, "%s: unsupported argument type", path);
}

static int parse_component(walk *w, const cJSON *node, const char *path,
                           lf_kind kind, const lf_component **comp_out,
                           void *spec, lf_pipeline_spec *p){
  char names[512], sub[512];
  if( !cJSON_IsObject(node) ){
    return fail(w, "%s must be a component {\"loc\": ..., \"args\": {...}}", path);
  }
  const cJSON *loc = NULL, *args = NULL;
  for(const cJSON *c = node->child; c; c = c->next){
    if( strcmp(c->string, "loc")==0 ) loc = c;
    else if( strcmp(c->string, "args")==0 ) args = c;
    else if( w->graph_node && (strcmp(c->string, "name")==0 || strcmp(c->string, "in")==0) ) continue;
    else return fail(w, "unknown key %s>%s (a component has only loc and args%s)", path, c->string,
                     w->graph_node ? "; a Graph node also name and in" : "");
  }
  if( !loc ) return fail(w, "%s>loc is missing (known %ss: %s)", path, lf_kind_name(kind),
                         lf_registry_names(kind, names, sizeof names));
  if( !cJSON_IsString(loc) ) return fail(w, "%s>loc must be a string", path);
  const lf_component *comp = lf_registry_find(loc->valuestring);
  if( !comp || comp->kind != kind ){
    char shown[64];
    snprintf(shown, sizeof shown, "%.40s", loc->valuestring);
    if( comp ){
      return fail(w, "'%s' in %s is a %s, not a %s (known %ss: %s)", shown, path,
                  lf_kind_name(comp->kind), lf_kind_name(kind), lf_kind_name(kind),
                  lf_registry_names(kind, names, sizeof names));
    }
    return fail(w, "unknown loc '%s' in %s (known: %s)", shown, path,
                lf_registry_names(kind, names, sizeof names));
  }
  *comp_out = comp;
  if( args && !cJSON_IsObject(args) && !cJSON_IsNull(args) ){
    return fail(w, "%s>args must be an object", path);
  }
  if( kind==LF_KIND_LAYER ){
    /* A layer's args go into its own struct, owned by its lf_layer_spec. */
    lf_layer_spec *ls = spec;
    if( !comp->layer ) return fail(w, "layer '%s' in %s has no implementation in this build", comp->loc, path);
    ls->ops = comp->layer;
    ls->args = NULL;
    if( comp->spec_size ){
      void *block = calloc(1, comp->spec_size);
      if( !block ) return fail(w, "out of memory");
      ls->args = block;
      spec = block;
    }else{
      spec = NULL;
    }
  }else if( lf_component_dataset_fn(comp) ){
    /* A plugin dataset: its args land in the spec (lf_dataset_spec.fn_args). */
    ((lf_dataset_spec*)spec)->fn = lf_component_dataset_fn(comp);
  }else if( lf_component_optim_fn(comp) ){
    /* A plugin optimizer: its args land in the spec (lf_optim_spec.fn_args). */
    ((lf_optim_spec*)spec)->optim_fn = lf_component_optim_fn(comp);
  }else if( lf_component_sched_fn(comp) ){
    /* A plugin scheduler: its args struct hangs off the optimizer spec. */
    lf_optim_spec *os = spec;
    os->sched = LF_SCHED_NONE;
    os->sched_fn = lf_component_sched_fn(comp);
    free(os->sched_args);
    os->sched_args = NULL;
    spec = NULL;
    if( comp->spec_size ){
      os->sched_args = calloc(1, comp->spec_size);
      if( !os->sched_args ) return fail(w, "out of memory");
      spec = os->sched_args;
    }
  }else if( lf_component_loss_fn(comp) || lf_component_metric_fn(comp) ){
    /* A plugin loss or metric: its args go into its own struct, which the
    ** loss spec or metric slot points at (and owns). */
    const lf_loss_fn *loss_fn = lf_component_loss_fn(comp);
    void **slot = loss_fn ? &((lf_loss_spec*)spec)->fn_args : &((lf_metric_args*)spec)->fn_args;
    if( loss_fn ) ((lf_loss_spec*)spec)->fn = loss_fn;
    else ((lf_metric_args*)spec)->fn = lf_component_metric_fn(comp);
    free(*slot);
    *slot = NULL;
    spec = NULL;
    if( comp->spec_size ){
      *slot = calloc(1, comp->spec_size);
      if( !*slot ) return fail(w, "out of memory");
      spec = *slot;
    }
  }
  if( spec ) lf_component_defaults(comp, spec);
  if( args ){
    for(const cJSON *c = args->child; c; c = c->next){
      const lf_arg_spec *a = comp->args;
      while( a->name && strcmp(a->name, c->string)!=0 ) a++;
      subpath(sub, sizeof sub, "%s>args>%s", path, c->string);
      if( !a->name ){
        arg_names(comp, names, sizeof names);
        return fail(w, "unknown key %s (%s takes: %s%s)", sub, comp->loc, names,
                    torch_name_hint(comp, c->string));
      }
      if( parse_arg(w, a, c, sub, spec, p) ) return -1;
    }
  }
  /* Defaults one number cannot say (lf_registry_arg_default), applied as
  ** if the config had given them, after the args they may copy. */
  for(const lf_arg_spec *a = comp->args; spec && a->name; a++){
    const lf_arg_default *d = lf_registry_arg_default(comp, a);
    if( !d || (args && cJSON_GetObjectItemCaseSensitive(args, a->name)) ) continue;
    if( d->when && !(args && cJSON_GetObjectItemCaseSensitive(args, d->when)) ) continue;
    subpath(sub, sizeof sub, "%s>args>%s (its default)", path, a->name);
    if( d->json ){
      cJSON *v = cJSON_Parse(d->json);
      if( !v ) return fail(w, "out of memory");
      int rc = parse_arg(w, a, v, sub, spec, p);
      cJSON_Delete(v);
      if( rc ) return -1;
    }else{
      const lf_arg_spec *o = comp->args;
      while( o->name && strcmp(o->name, d->same_as)!=0 ) o++;
      if( !o->name || o->type!=a->type || (a->type!=LF_ARG_INT_PAIR && a->type!=LF_ARG_INT) ){
        return fail(w, "%s: the table's default names no integer arg '%s' (a LabFlow bug)", sub, d->same_as);
      }
      memcpy((char*)spec + a->offset, (char*)spec + o->offset, (a->type==LF_ARG_INT_PAIR ? 2 : 1)*sizeof(int));
    }
  }
  for(const lf_arg_spec *a = comp->args; a->name; a++){
    if( a->required && !(args && cJSON_GetObjectItemCaseSensitive(args, a->name)) ){
      return fail(w, "%s>args>%s is required (%s: %s)", path, a->name, comp->loc, a->help);
    }
  }
  if( comp->finish ){
    char why[256];
    if( comp->finish(spec, why, sizeof why) ) return fail(w, "%s (%s): %s", path, comp->loc, why);
  }
  return 0;
}

static int parse_int_key(walk *w, const cJSON *v, const char *key, double lo, double hi, double *out){
  char shown[64];
  if( !cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)
   || v->valuedouble < lo || v->valuedouble > hi ){
    show_value(v, shown, sizeof shown);
    return fail(w, "%s must be an integer between %.0f and %.0f, got %s", key, lo, hi, shown);
  }
  *out = v->valuedouble;
  return 0;
}

static int parse_metrics(walk *w, const cJSON *v, const lf_settings *s, lf_pipeline_spec *p){
  if( !cJSON_IsObject(v) ) return fail(w, "metrics must be an object mapping each project metric name to a metric component");
  p->metrics = calloc((size_t)(s->nmetrics ? s->nmetrics : 1), sizeof(lf_metric_slot));
  if( !p->metrics ) return fail(w, "out of memory");
  p->nmetrics = s->nmetrics;
  for(const cJSON *c = v->child; c; c = c->next){
    int i = lf_settings_metric_index(s, c->string);
    if( i < 0 ){
      return fail(w, "unknown key metrics>%s: the project's metrics are those of lab_init (%d given there)",
                  c->string, s->nmetrics);
    }
    char sub[512];
    subpath(sub, sizeof sub, "metrics>%s", c->string);
    const lf_component *comp = NULL;
    if( parse_component(w, c, sub, LF_KIND_METRIC, &comp, &p->metrics[i].args, p) ) return -1;
    p->metrics[i].kind = (lf_metric_kind)comp->code;
    p->metrics[i].name = strdup(s->metrics[i]);
    if( !p->metrics[i].name ) return fail(w, "out of memory");
  }
  for(int i=0; i<s->nmetrics; i++){
    if( !p->metrics[i].name && !w->stored ){
      return fail(w, "metrics>%s is missing: every project metric needs a component, e.g. {\"loc\": \"Accuracy\"}",
                  s->metrics[i]);
    }
  }
  /* A pipeline made before lab_settings added a metric does not compute
  ** it: its slots close up, in project order (history shows NULL there). */
  int k = 0;
  for(int i=0; i<s->nmetrics; i++){
    if( p->metrics[i].name ) p->metrics[k++] = p->metrics[i];
  }
  for(int i=k; i<s->nmetrics; i++) memset(&p->metrics[i], 0, sizeof p->metrics[i]);
  p->nmetrics = k;
  return 0;
}

/* ReduceLROnPlateau watches one of the quantities every epoch records. */
static int check_monitor(walk *w, const char *q, const lf_settings *s){
  if( strcmp(q, "val_loss")==0 || strcmp(q, "train_loss")==0 ) return 0;
  if( (strncmp(q, "val_", 4)==0 && lf_settings_metric_index(s, q+4) >= 0)
   || (strncmp(q, "train_", 6)==0 && lf_settings_metric_index(s, q+6) >= 0) ) return 0;
  return fail(w, "optimizer>args>scheduler>args>monitor: '%.60s' is not recorded each epoch; "
              "use val_loss, train_loss, or val_/train_ followed by a project metric name", q);
}

static int config_parse(const cJSON *cfg, const lf_settings *settings,
                        lf_pipeline_spec *p, char *err, size_t errlen, int stored);

/* The input group a Graph node reads directly (its input is the Slice
** lf_graph_lower made for the group), or -1: the whole data row. *first
** is the group's first column in the row. */
static int node_group(const lf_pipeline_spec *p, int i, int *first){
  const lf_dataset_spec *d = &p->dataset;
  int v = p->nodes[i].in[0] - p->ninputs;
  *first = 0;
  if( v < 0 || p->nodes[v].layer.ops != &lf_layer_slice || !p->nodes[v].name ) return -1;
  if( strncmp(p->nodes[v].name, "inputs.", 7)!=0 ) return -1;
  for(int g=0; g<d->ninputs; g++){
    if( strcmp(d->inputs[g].name, p->nodes[v].name + 7)==0 ) return g;
    *first += d->inputs[g].ncolumns;
  }
  return -1;
}

int lf_config_bind_tabular(lf_pipeline_spec *p, const lf_tabular *tab, char *err, size_t n){
  const lf_dataset_spec *d = &p->dataset;
  for(int i=0; i<p->nnodes; i++){
    if( p->nodes[i].layer.ops != &lf_layer_catemb ) continue;
    lf_catemb_args *a = (lf_catemb_args*)p->nodes[i].layer.args;
    if( !LF_DS_TABULAR(d) ) continue;       /* infer names the problem */
    int first, grp = node_group(p, i, &first);
    int width = grp >= 0 ? d->inputs[grp].ncolumns : d->nfeatures;
    if( grp >= 0 && !d->inputs[grp].categorical ){
      snprintf(err, n, "%s: CategoricalEmbedding reads input group '%s', which is not categorical "
               "(give the group \"categorical\": true, or feed it the whole row)", p->node_paths[i], d->inputs[grp].name);
      return -1;
    }
    if( width > LF_CATEMB_MAX_COLS ){
      snprintf(err, n, "%s: CategoricalEmbedding takes at most %d input columns, it reads %d",
               p->node_paths[i], LF_CATEMB_MAX_COLS, width);
      return -1;
    }
    int j = 0;
    for(int g=0; g<d->ninputs; g++){
      if( grp >= 0 && g != grp ) continue;
      for(int c=0; c<d->inputs[g].ncolumns; c++, j++) a->card[j] = d->inputs[g].categorical ? -1 : 0;
    }
    a->ncols = j;
    if( !tab ) continue;
    if( tab->ncols != (grp >= 0 ? d->nfeatures : j) ){
      snprintf(err, n, "%s: the data has %d input columns, the config %d", p->node_paths[i], tab->ncols,
               grp >= 0 ? d->nfeatures : j);
      return -1;
    }
    for(j=0; j<a->ncols; j++){
      if( a->card[j] && !tab->categorical[first + j] ){
        snprintf(err, n, "%s: input column %d is categorical in the config but not in the data", p->node_paths[i],
                 first + j + 1);
        return -1;
      }
      if( a->card[j] ) a->card[j] = lf_tabular_cardinality(tab, first + j);
    }
  }
  return 0;
}

int lf_config_parse(const cJSON *cfg, const lf_settings *settings,
                    lf_pipeline_spec *p, char *err, size_t errlen){
  return config_parse(cfg, settings, p, err, errlen, 0);
}

int lf_config_parse_stored(const cJSON *cfg, const lf_settings *settings,
                           lf_pipeline_spec *p, char *err, size_t errlen){
  return config_parse(cfg, settings, p, err, errlen, 1);
}

static int config_parse(const cJSON *cfg, const lf_settings *settings,
                        lf_pipeline_spec *p, char *err, size_t errlen, int stored){
  walk w = { err, errlen, stored, 0 };
  memset(p, 0, sizeof *p);
  p->train_batch = 32;
  p->val_batch = 256;
  const cJSON *model = NULL, *dataset = NULL, *loss = NULL, *optim = NULL, *metrics = NULL;
  int rc = -1;
  if( !cJSON_IsObject(cfg) ){ fail(&w, "config must be a JSON object"); goto done; }
  for(const cJSON *c = cfg->child; c; c = c->next){
    const char *k = c->string;
    double d;
    if( strcmp(k, "model")==0 ) model = c;
    else if( strcmp(k, "dataset")==0 ) dataset = c;
    else if( strcmp(k, "loss")==0 ) loss = c;
    else if( strcmp(k, "optimizer")==0 ) optim = c;
    else if( strcmp(k, "metrics")==0 ) metrics = c;
    else if( strcmp(k, "train_data_src")==0 || strcmp(k, "val_data_src")==0 ){
      if( !cJSON_IsString(c) || !c->valuestring[0] ){ fail(&w, "%s must be a non-empty string", k); goto done; }
      char **dst = k[0]=='t' ? &p->train_src : &p->val_src;
      free(*dst);
      *dst = strdup(c->valuestring);
      if( !*dst ){ fail(&w, "out of memory"); goto done; }
    }
    else if( strcmp(k, "train_batch_size")==0 ){
      if( parse_int_key(&w, c, k, 1, 1<<20, &d) ) goto done;
      p->train_batch = (int)d;
    }
    else if( strcmp(k, "val_batch_size")==0 ){
      if( parse_int_key(&w, c, k, 1, 1<<20, &d) ) goto done;
      p->val_batch = (int)d;
    }
    else if( strcmp(k, "seed")==0 ){
      if( parse_int_key(&w, c, k, 0, 9007199254740991.0, &d) ) goto done;
      p->seed = (uint64_t)d;
    }
    else if( strcmp(k, "precision")==0 ){
      if( cJSON_IsString(c) && strcmp(c->valuestring, "f32")==0 ) p->bf16 = 0;
      else if( cJSON_IsString(c) && strcmp(c->valuestring, "bf16")==0 ) p->bf16 = 1;
      else { fail(&w, "precision must be \"f32\" or \"bf16\""); goto done; }
    }
    else {
      fail(&w, "unknown key %s (known: model, dataset, train_data_src, val_data_src, loss, optimizer, "
               "metrics, train_batch_size, val_batch_size, seed, precision)", k);
      goto done;
    }
  }
  static const char *const required[] = {"model", "dataset", "train_data_src", "val_data_src",
                                         "loss", "optimizer", "metrics"};
  for(size_t i=0; i<sizeof required/sizeof required[0]; i++){
    if( !cJSON_GetObjectItemCaseSensitive(cfg, required[i]) ){
      fail(&w, "%s is missing from the config", required[i]);
      goto done;
    }
  }
  const lf_component *comp = NULL;
  if( !cJSON_IsObject(model) ){ fail(&w, "model must be a component {\"loc\": ..., \"args\": {...}}"); goto done; }
  {
    char names[256];
    const cJSON *mloc = cJSON_GetObjectItemCaseSensitive(model, "loc");
    const lf_component *mc = cJSON_IsString(mloc) ? lf_registry_find(mloc->valuestring) : NULL;
    if( !mc || mc->kind != LF_KIND_MODEL ){
      fail(&w, "model>loc must name a model (known models: %s)", lf_registry_names(LF_KIND_MODEL, names, sizeof names));
      goto done;
    }
  }
  /* The dataset first: a Graph's inputs may name its input groups. */
  if( parse_component(&w, dataset, "dataset", LF_KIND_DATASET, &comp, &p->dataset, p) ) goto done;
  p->dataset.kind = (lf_dataset_kind)comp->code;
  if( lf_graph_lower(model, p, parse_layer_node, &w, err, errlen) ) goto done;
  if( parse_component(&w, loss, "loss", LF_KIND_LOSS, &comp, &p->loss, p) ) goto done;
  p->loss.kind = (lf_loss_kind)comp->code;
  p->dataset.regression = !lf_loss_is_classification(&p->loss) && p->loss.kind != LF_LOSS_BCE_WITH_LOGITS;
  if( parse_component(&w, optim, "optimizer", LF_KIND_OPTIMIZER, &comp, &p->optim, p) ) goto done;
  p->optim.kind = (lf_optim_kind)comp->code;
  if( parse_metrics(&w, metrics, settings, p) ) goto done;
  if( lf_config_bind_tabular(p, NULL, err, errlen) ) goto done;
  if( p->optim.sched==LF_SCHED_PLATEAU && check_monitor(&w, p->optim.monitor, settings) ) goto done;
  rc = 0;
done:
  if( rc ) lf_pipeline_spec_free(p);
  return rc;
}

void lf_pipeline_spec_free(lf_pipeline_spec *p){
  for(int i=0; i<p->nnodes; i++){
    const lf_component *c = lf_registry_find_layer(p->nodes[i].layer.ops);
    if( c ) lf_component_free_args(c, (void*)p->nodes[i].layer.args);
    free((void*)p->nodes[i].layer.args);
    free((void*)p->nodes[i].name);
    free(p->node_paths[i]);
  }
  free(p->nodes);
  free(p->node_paths);
  for(int i=0; i<p->ninputs; i++) free(p->input_names ? p->input_names[i] : NULL);
  free(p->input_names);
  free(p->dataset.label);
  free(p->dataset.blob);
  for(int i=0; i<p->dataset.nfeatures; i++) free(p->dataset.features[i]);
  free(p->dataset.features);
  for(int g=0; g<p->dataset.ninputs; g++){
    lf_input_group *ig = &p->dataset.inputs[g];
    for(int c=0; c<ig->ncolumns; c++) free(ig->columns[c]);
    free(ig->columns);
    free(ig->name);
  }
  free(p->dataset.inputs);
  for(int i=0; i<p->dataset.nna_values; i++) free(p->dataset.na_values[i]);
  free(p->dataset.na_values);
  free(p->dataset.na_str);
  free(p->dataset.seq_column);
  free(p->dataset.seq_dtype_str);
  free(p->train_src);
  free(p->val_src);
  free(p->optim.monitor);
  free(p->optim.mode_str);
  free(p->optim.threshold_mode_str);
  free(p->optim.anneal_str);
  free(p->loss.fn_args);
  free(p->optim.sched_args);
  for(int i=0; i<p->nmetrics; i++){
    free(p->metrics[i].name);
    free(p->metrics[i].args.fn_args);
  }
  free(p->metrics);
  memset(p, 0, sizeof *p);
}

int lf_config_layer(const cJSON *comp, lf_layer_spec *out, char *err, size_t n){
  walk w = { err, n, 0, 0 };
  const lf_component *c = NULL;
  memset(out, 0, sizeof *out);
  if( parse_component(&w, comp, "layer", LF_KIND_LAYER, &c, out, NULL) ){
    lf_config_layer_free(out);
    return -1;
  }
  return 0;
}

int lf_config_loss(const cJSON *comp, lf_loss_spec *out, char *err, size_t n){
  walk w = { err, n, 0, 0 };
  const lf_component *c = NULL;
  memset(out, 0, sizeof *out);
  if( parse_component(&w, comp, "loss", LF_KIND_LOSS, &c, out, NULL) ){
    free(out->fn_args);
    memset(out, 0, sizeof *out);
    return -1;
  }
  out->kind = (lf_loss_kind)c->code;
  return 0;
}

void lf_config_layer_free(lf_layer_spec *ls){
  const lf_component *c = lf_registry_find_layer(ls->ops);
  if( c ) lf_component_free_args(c, (void*)ls->args);
  free((void*)ls->args);
  memset(ls, 0, sizeof *ls);
}

/* ---- the identity of a config: its canonical form with defaults ------ */

/* Fills the defaults of the registry's args schema into every component
** (any object whose "loc" names one) below v. Only args that have a
** default are added, in the JSON type the config would give them.
** Form 2 stops there. Form 3 also spells out the table's other defaults
** (lf_registry_arg_default: Adam's betas, pool stride = kernel, ...),
** writes a pair given as n as [n, n] and a boolean given as 0/1 as
** false/true: every way of writing one meaning gives one text. Form 4
** adds the table's rows of form 4 (a Graph's inputs ["x"]). Defaults that
** depend on the data's shape (MultiheadAttention's embed_dim 0, LayerNorm's
** normalized_shape, a dataset's features) stay as written: the hash is a
** function of the config alone (docs/functions.md, ppl_new). */
static void fill_component_defaults(cJSON *v, int form){
  if( cJSON_IsObject(v) ){
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(v, "loc");
    const lf_component *comp = cJSON_IsString(loc) ? lf_registry_find(loc->valuestring) : NULL;
    if( comp ){
      cJSON *args = cJSON_GetObjectItemCaseSensitive(v, "args");
      if( !args || cJSON_IsNull(args) ){
        /* {"loc": "ReLU"}, "args": null and "args": {} are the same. */
        args = cJSON_CreateObject();
        if( args ){
          if( cJSON_GetObjectItemCaseSensitive(v, "args") ) cJSON_ReplaceItemInObjectCaseSensitive(v, "args", args);
          else cJSON_AddItemToObject(v, "args", args);
        }
      }
      for(const lf_arg_spec *a = comp->args; args && cJSON_IsObject(args) && a && a->name; a++){
        cJSON *given = cJSON_GetObjectItemCaseSensitive(args, a->name);
        if( given ){
          if( form < 3 ) continue;
          cJSON *same = NULL;
          if( a->type==LF_ARG_INT_PAIR && cJSON_IsNumber(given) ){
            double pair[2] = {given->valuedouble, given->valuedouble};
            same = cJSON_CreateDoubleArray(pair, 2);
          }else if( a->type==LF_ARG_BOOL && cJSON_IsNumber(given) && (given->valuedouble==0 || given->valuedouble==1) ){
            same = cJSON_CreateBool(given->valuedouble==1);
          }
          if( same ) cJSON_ReplaceItemInObjectCaseSensitive(args, a->name, same);
          continue;
        }
        const lf_arg_default *ad = form >= 3 ? lf_registry_arg_default(comp, a) : NULL;
        if( ad && ad->form > form ) ad = NULL;
        if( ad && ad->when && !cJSON_GetObjectItemCaseSensitive(args, ad->when) ) continue;
        cJSON *d = NULL;
        if( ad && ad->json ){
          d = cJSON_Parse(ad->json);
        }else if( ad ){
          continue;   /* a copy of another arg: below, once that one is final */
        }else if( !a->has_default ){
          continue;
        }else switch( a->type ){
          case LF_ARG_INT_PAIR:
            if( form >= 3 ){
              double pair[2] = {a->def, a->def};
              d = cJSON_CreateDoubleArray(pair, 2);
              break;
            }
            /* fall through */
          case LF_ARG_INT: case LF_ARG_INT64: case LF_ARG_NUM:
            d = cJSON_CreateNumber(a->def); break;
          case LF_ARG_BOOL: d = cJSON_CreateBool(a->def != 0); break;
          case LF_ARG_DTYPE: d = cJSON_CreateString(a->def==4 ? "float32" : "uint8"); break;
          default: break;   /* strings, lists, shapes: no defaults to spell out */
        }
        if( d ) cJSON_AddItemToObject(args, a->name, d);
      }
      for(const lf_arg_spec *a = comp->args; form >= 3 && args && cJSON_IsObject(args) && a && a->name; a++){
        const lf_arg_default *ad = lf_registry_arg_default(comp, a);
        if( !ad || ad->form > form || !ad->same_as || cJSON_GetObjectItemCaseSensitive(args, a->name) ) continue;
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(args, ad->same_as);
        cJSON *d = from ? cJSON_Duplicate(from, 1) : NULL;
        if( d ) cJSON_AddItemToObject(args, a->name, d);
      }
    }
  }
  for(cJSON *c = v ? v->child : NULL; c; c = c->next){
    if( cJSON_IsObject(c) || cJSON_IsArray(c) ) fill_component_defaults(c, form);
  }
}

static cJSON *with_defaults(const cJSON *cfg, int form){
  cJSON *v = cJSON_Duplicate(cfg, 1);
  if( !v || !cJSON_IsObject(v) ) return v;
  fill_component_defaults(v, form);
  if( !cJSON_GetObjectItemCaseSensitive(v, "train_batch_size") ) cJSON_AddNumberToObject(v, "train_batch_size", 32);
  if( !cJSON_GetObjectItemCaseSensitive(v, "val_batch_size") ) cJSON_AddNumberToObject(v, "val_batch_size", 256);
  if( !cJSON_GetObjectItemCaseSensitive(v, "seed") ) cJSON_AddNumberToObject(v, "seed", 0);
  if( !cJSON_GetObjectItemCaseSensitive(v, "precision") ) cJSON_AddStringToObject(v, "precision", "f32");
  return v;
}

cJSON *lf_config_with_defaults(const cJSON *cfg){
  return with_defaults(cfg, LF_CONFIG_HASH_FORM);
}

int lf_config_identity_hash_form(const cJSON *cfg, int form, char hex[65]){
  cJSON *full = with_defaults(cfg, form);
  int rc = full ? lf_config_hash(full, hex) : -1;
  cJSON_Delete(full);
  return rc;
}

int lf_config_identity_hash(const cJSON *cfg, char hex[65]){
  return lf_config_identity_hash_form(cfg, LF_CONFIG_HASH_FORM, hex);
}
