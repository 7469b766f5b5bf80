/*
** lf_graph.c — a config's model turned into the flat node list the net
** runs (lf_net_graph): Sequential, Residual and Graph components, nested in
** any way, become layer nodes in topological order, each reading values by
** number, named for their parameters ("3.weight", "stem.weight",
** "blocks.1.layers.0.weight") and remembering their config path for
** messages.
**
**   Sequential {layers}            the chain of its layers
**   Residual {layers, shortcut?}   Add(layers(x), shortcut(x) or x)
**   Graph {inputs?, nodes, output} nodes [{name, loc, args, in}] in any
**                                  order; in names inputs or nodes
**   TransformerEncoderLayer {...}  its PyTorch module's layers: self_attn,
**                                  dropouts, Adds, norm1/2, linear1/2
**
** Refused here, with the node's path: a name given twice, an `in` naming
** nothing, a cycle, a node the output does not use. Shapes are checked
** afterwards by lf_net_graph_infer over the result.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_config.h"
#include "lf_graph.h"
#include "../kernels/lf_layer.h"

typedef struct lower {
  lf_pipeline_spec *p;
  lf_component_parser parse;     /* parses a layer component's args */
  void *ctx;
  char *err;
  size_t errlen;
} lower;

static int fail(lower *L, const char *fmt, ...){
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(L->err, L->errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static char *dupf(const char *fmt, ...){
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return strdup(buf);
}

/* Appends a node; its value id is returned (or -1, err set). */
static int push_node(lower *L, const lf_layer_spec *layer, const int *in, int nin,
                     char *name, char *path){
  lf_pipeline_spec *p = L->p;
  if( !name || !path ){ free(name); free(path); return fail(L, "out of memory"); }
  if( p->nnodes >= LF_MAX_NODES ){
    free(name); free(path);
    return fail(L, "the model has more than %d layers", LF_MAX_NODES);
  }
  if( p->nnodes == p->cap ){
    int cap = p->cap ? 2*p->cap : 16;
    lf_net_node *nodes = realloc(p->nodes, sizeof(lf_net_node) * (size_t)cap);
    if( nodes ) p->nodes = nodes;
    char **paths = nodes ? realloc(p->node_paths, sizeof(char*) * (size_t)cap) : NULL;
    if( paths ) p->node_paths = paths;
    if( !nodes || !paths ){ free(name); free(path); return fail(L, "out of memory"); }
    p->cap = cap;
  }
  lf_net_node *n = &p->nodes[p->nnodes];
  memset(n, 0, sizeof *n);
  n->layer = *layer;
  n->nin = nin;
  for(int k=0; k<nin; k++) n->in[k] = in[k];
  n->name = name;
  p->node_paths[p->nnodes] = path;
  p->nnodes++;
  return p->ninputs + p->nnodes - 1;
}

static int lower_component(lower *L, const cJSON *c, const char *path, const char *prefix,
                           const int *in, int nin);

/* Keys of a composite's args, checked against its row (unknown keys). */
static int check_keys(lower *L, const cJSON *args, const char *path, const lf_component *comp){
  if( args && !cJSON_IsObject(args) ) return fail(L, "%s>args must be an object", path);
  for(const cJSON *c = args ? args->child : NULL; c; c = c->next){
    const lf_arg_spec *a = comp->args;
    while( a->name && strcmp(a->name, c->string)!=0 ) a++;
    if( !a->name ){
      char names[256] = "";
      size_t used = 0;
      for(a = comp->args; a->name; a++){
        int w = snprintf(names+used, sizeof names-used, "%s%s", used ? ", " : "", a->name);
        if( w<0 || (size_t)w >= sizeof names-used ) break;
        used += (size_t)w;
      }
      return fail(L, "unknown key %s>args>%s (%s takes: %s)", path, c->string, comp->loc, names);
    }
  }
  for(const lf_arg_spec *a = comp->args; a->name; a++){
    if( a->required && !(args && cJSON_GetObjectItemCaseSensitive(args, a->name)) ){
      return fail(L, "%s>args>%s is required (%s: %s)", path, a->name, comp->loc, a->help);
    }
  }
  return 0;
}

/* A list of components applied in order from value x. */
static int lower_chain(lower *L, const cJSON *list, const char *path, const char *prefix, int x){
  if( !cJSON_IsArray(list) ) return fail(L, "%s must be a list of layer components", path);
  int n = cJSON_GetArraySize(list);
  if( n < 1 ) return fail(L, "%s is empty; give at least one layer", path);
  if( n > LF_MAX_NODES ) return fail(L, "%s has %d layers; at most %d are supported", path, n, LF_MAX_NODES);
  int i = 0, cur = x;
  for(const cJSON *c = list->child; c; c = c->next, i++){
    char sub[512], pre[256];
    snprintf(sub, sizeof sub, "%s[%d]", path, i);
    if( prefix[0] ) snprintf(pre, sizeof pre, "%s.%d", prefix, i);
    else snprintf(pre, sizeof pre, "%d", i);
    cur = lower_component(L, c, sub, pre, &cur, 1);
    if( cur < 0 ) return -1;
  }
  return cur;
}

static int one_input(lower *L, const char *path, const char *loc, int nin){
  if( nin != 1 ) return fail(L, "%s: %s takes one input, got %d", path, loc, nin);
  return 0;
}

static int valid_name(const char *s){
  if( !s[0] || strlen(s) > 40 ) return 0;
  for(const char *c = s; *c; c++){
    if( !((*c>='a' && *c<='z') || (*c>='A' && *c<='Z') || (*c>='0' && *c<='9') || *c=='_') ) return 0;
  }
  return 1;
}

typedef struct gnode {
  const cJSON *json;
  const char *name;
  const cJSON *in;
  int value;               /* -1 until lowered */
  int used;
} gnode;

/* The index of name among inputs (>= 0), nodes (-2 - index), or -1. */
static int find_name(const char *name, const cJSON *inputs, int ninputs, const gnode *g, int n){
  for(int i=0; i<ninputs; i++){
    const cJSON *e = cJSON_GetArrayItem(inputs, i);
    if( e && strcmp(e->valuestring, name)==0 ) return i;
  }
  for(int i=0; i<n; i++) if( strcmp(g[i].name, name)==0 ) return -2 - i;
  return -1;
}

static int lower_graph(lower *L, const cJSON *args, const char *path, const char *prefix,
                       const int *in, int nin){
  const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(args, "inputs");
  const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(args, "nodes");
  const cJSON *output = cJSON_GetObjectItemCaseSensitive(args, "output");
  cJSON *default_inputs = NULL;
  gnode *g = NULL;
  int rc = -1, n = 0;
  if( !inputs ){
    default_inputs = cJSON_CreateStringArray((const char *[]){"x"}, 1);
    if( !default_inputs ) return fail(L, "out of memory");
    inputs = default_inputs;
  }
  if( !cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) < 1 ){
    fail(L, "%s>args>inputs must be a non-empty list of input names", path);
    goto done;
  }
  int ninputs = cJSON_GetArraySize(inputs);
  for(int i=0; i<ninputs; i++){
    const cJSON *e = cJSON_GetArrayItem(inputs, i);
    if( !cJSON_IsString(e) || !valid_name(e->valuestring) ){
      fail(L, "%s>args>inputs[%d] must be a name of letters, digits and _ (at most 40)", path, i);
      goto done;
    }
    for(int j=0; j<i; j++){
      if( strcmp(cJSON_GetArrayItem(inputs, j)->valuestring, e->valuestring)==0 ){
        fail(L, "%s>args>inputs names '%s' twice", path, e->valuestring);
        goto done;
      }
    }
  }
  if( ninputs != nin ){
    fail(L, "%s: the Graph declares %d input%s (%s>args>inputs) but is given %d", path, ninputs,
         ninputs==1 ? "" : "s", path, nin);
    goto done;
  }
  if( !cJSON_IsArray(nodes) || cJSON_GetArraySize(nodes) < 1 ){
    fail(L, "%s>args>nodes must be a non-empty list of nodes {\"name\", \"loc\", \"args\", \"in\"}", path);
    goto done;
  }
  if( !cJSON_IsString(output) ){
    fail(L, "%s>args>output must be the name of a node", path);
    goto done;
  }
  n = cJSON_GetArraySize(nodes);
  if( n > LF_MAX_NODES ){ fail(L, "%s>args>nodes has %d nodes; at most %d", path, n, LF_MAX_NODES); goto done; }
  g = calloc((size_t)n, sizeof *g);
  if( !g ){ fail(L, "out of memory"); goto done; }
  int i = 0;
  for(const cJSON *c = nodes->child; c; c = c->next, i++){
    char sub[512];
    snprintf(sub, sizeof sub, "%s>args>nodes[%d]", path, i);
    if( !cJSON_IsObject(c) ){ fail(L, "%s must be a node {\"name\", \"loc\", \"args\", \"in\"}", sub); goto done; }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
    g[i].json = c;
    g[i].value = -1;
    g[i].in = cJSON_GetObjectItemCaseSensitive(c, "in");
    if( !cJSON_IsString(name) || !valid_name(name->valuestring) ){
      fail(L, "%s>name must be a name of letters, digits and _ (at most 40)", sub);
      goto done;
    }
    g[i].name = name->valuestring;
    if( find_name(g[i].name, inputs, ninputs, g, i) != -1 ){
      fail(L, "%s: the name '%s' is given twice in %s", sub, g[i].name, path);
      goto done;
    }
    if( !cJSON_IsArray(g[i].in) || cJSON_GetArraySize(g[i].in) < 1 ){
      fail(L, "%s (%s)>in must be a non-empty list of input or node names", sub, g[i].name);
      goto done;
    }
    if( cJSON_GetArraySize(g[i].in) > LF_NET_MAX_NODE_INPUTS ){
      fail(L, "%s (%s)>in lists more than %d names", sub, g[i].name, LF_NET_MAX_NODE_INPUTS);
      goto done;
    }
  }
  /* Every in names something. */
  for(i=0; i<n; i++){
    int k = 0;
    for(const cJSON *e = g[i].in->child; e; e = e->next, k++){
      if( !cJSON_IsString(e) ){
        fail(L, "%s>args>nodes[%d] (%s)>in[%d] must be a name", path, i, g[i].name, k);
        goto done;
      }
      int f = find_name(e->valuestring, inputs, ninputs, g, n);
      if( f == -1 ){
        char known[300] = "";
        size_t used = 0;
        for(int j=0; j<ninputs+n; j++){
          const char *s = j<ninputs ? cJSON_GetArrayItem(inputs, j)->valuestring : g[j-ninputs].name;
          int w = snprintf(known+used, sizeof known-used, "%s%s", used ? ", " : "", s);
          if( w<0 || (size_t)w >= sizeof known-used ) break;
          used += (size_t)w;
        }
        fail(L, "%s>args>nodes[%d] (%s)>in[%d]: '%.40s' is neither an input nor a node of this Graph (known: %s)",
             path, i, g[i].name, k, e->valuestring, known);
        goto done;
      }
      if( f <= -2 ) g[-2-f].used = 1;
    }
  }
  for(int j=0; j<ninputs; j++){
    const char *nm = cJSON_GetArrayItem(inputs, j)->valuestring;
    int read = 0;
    for(i=0; i<n && !read; i++){
      for(const cJSON *e = g[i].in->child; e; e = e->next) if( strcmp(e->valuestring, nm)==0 ) read = 1;
    }
    if( !read ){
      fail(L, "%s>args>inputs[%d]: no node reads the input '%s'", path, j, nm);
      goto done;
    }
  }
  int out_idx = find_name(output->valuestring, inputs, ninputs, g, n);
  if( out_idx > -2 ){
    fail(L, "%s>args>output: '%.40s' is not a node of this Graph", path, output->valuestring);
    goto done;
  }
  g[-2-out_idx].used = 1;
  for(i=0; i<n; i++){
    if( !g[i].used ){
      fail(L, "%s>args>nodes[%d] (%s): nothing reads its output and it is not the output; remove it or use it",
           path, i, g[i].name);
      goto done;
    }
  }
  /* Topological order: lower, again and again, every node whose inputs are
  ** all there; a pass that lowers nothing has found a cycle. */
  int done_count = 0;
  while( done_count < n ){
    int progress = 0;
    for(i=0; i<n; i++){
      if( g[i].value >= 0 ) continue;
      int vals[LF_NET_MAX_NODE_INPUTS], k = 0, ready = 1;
      for(const cJSON *e = g[i].in->child; e; e = e->next, k++){
        int f = find_name(e->valuestring, inputs, ninputs, g, n);
        if( f >= 0 ) vals[k] = in[f];
        else if( g[-2-f].value >= 0 ) vals[k] = g[-2-f].value;
        else { ready = 0; break; }
      }
      if( !ready ) continue;
      char sub[512], pre[256];
      snprintf(sub, sizeof sub, "%s>args>nodes[%d] (%s)", path, i, g[i].name);
      if( prefix[0] ) snprintf(pre, sizeof pre, "%s.%s", prefix, g[i].name);
      else snprintf(pre, sizeof pre, "%s", g[i].name);
      g[i].value = lower_component(L, g[i].json, sub, pre, vals, k);
      if( g[i].value < 0 ) goto done;
      done_count++;
      progress = 1;
    }
    if( !progress ){
      /* Walk from a waiting node to a waiting node it reads until one
      ** repeats: the walk from that one's first visit is the cycle. */
      int *pos = malloc(sizeof(int) * (size_t)n), *order = malloc(sizeof(int) * (size_t)n);
      char cyc[400] = "";
      size_t used = 0;
      if( !pos || !order ){ free(pos); free(order); fail(L, "out of memory"); goto done; }
      for(int j=0; j<n; j++) pos[j] = -1;
      int cur = 0, len = 0;
      while( g[cur].value >= 0 ) cur++;
      while( pos[cur] < 0 ){
        pos[cur] = len;
        order[len++] = cur;
        for(const cJSON *e = g[cur].in->child; e; e = e->next){
          int f = find_name(e->valuestring, inputs, ninputs, g, n);
          if( f <= -2 && g[-2-f].value < 0 ){ cur = -2-f; break; }
        }
      }
      int first = cur;
      for(int j=pos[first]; j<len; j++){
        int w = snprintf(cyc+used, sizeof cyc-used, "%s -> ", g[order[j]].name);
        if( w<0 || (size_t)w >= sizeof cyc-used ) break;
        used += (size_t)w;
      }
      snprintf(cyc+used, sizeof cyc-used, "%s", g[first].name);
      free(pos);
      free(order);
      fail(L, "%s>args>nodes have a cycle: %s (each arrow: reads the output of; a Graph may not loop)",
           path, cyc);
      goto done;
    }
  }
  rc = g[-2-out_idx].value;
done:
  free(g);
  cJSON_Delete(default_inputs);
  return rc;
}

/* Values of a composite's args checked against its row: type and bounds
** (the keys themselves are checked by check_keys). */
static int check_values(lower *L, const cJSON *args, const char *path, const lf_component *comp){
  for(const lf_arg_spec *a = comp->args; a->name; a++){
    const cJSON *v = args ? cJSON_GetObjectItemCaseSensitive(args, a->name) : NULL;
    if( !v ) continue;
    switch( a->type ){
      case LF_ARG_INT: case LF_ARG_INT64: case LF_ARG_NUM: {
        int integer = a->type != LF_ARG_NUM;
        if( !cJSON_IsNumber(v) || (integer && v->valuedouble != (double)(int64_t)v->valuedouble) ){
          return fail(L, "%s>args>%s must be %s (%s)", path, a->name, integer ? "an integer" : "a number", a->help);
        }
        if( v->valuedouble < a->min || v->valuedouble > a->max || (a->min_open && v->valuedouble <= a->min) ){
          return fail(L, "%s>args>%s = %g is out of range (%s%g .. %g): %s", path, a->name, v->valuedouble,
                      a->min_open ? "above " : "", a->min, a->max, a->help);
        }
        break;
      }
      case LF_ARG_BOOL:
        if( !cJSON_IsBool(v) && !(cJSON_IsNumber(v) && (v->valuedouble==0 || v->valuedouble==1)) ){
          return fail(L, "%s>args>%s must be true or false (%s)", path, a->name, a->help);
        }
        break;
      case LF_ARG_STR:
        if( !cJSON_IsString(v) ) return fail(L, "%s>args>%s must be a string (%s)", path, a->name, a->help);
        break;
      default: break;
    }
  }
  return 0;
}

static double num_arg(const cJSON *args, const lf_component *comp, const char *name){
  const cJSON *v = args ? cJSON_GetObjectItemCaseSensitive(args, name) : NULL;
  if( cJSON_IsBool(v) ) return cJSON_IsTrue(v);
  if( cJSON_IsNumber(v) ) return v->valuedouble;
  for(const lf_arg_spec *a = comp->args; a->name; a++) if( strcmp(a->name, name)==0 ) return a->def;
  return 0;
}

/* One layer of a composite, given as JSON made here: lowered like a
** config's own node, named <prefix>.<name> (so its parameters are named as
** in the PyTorch module) with path <path>><name>. */
static int sub_layer(lower *L, cJSON *layer, const char *path, const char *prefix, const char *name,
                     const int *in, int nin){
  char sub[512], pre[256];
  int v;
  if( !layer ){ cJSON_Delete(layer); return fail(L, "out of memory"); }
  snprintf(sub, sizeof sub, "%s>%s", path, name);
  snprintf(pre, sizeof pre, "%s%s%s", prefix, prefix[0] ? "." : "", name);
  v = lower_component(L, layer, sub, pre, in, nin);
  cJSON_Delete(layer);
  return v;
}

static cJSON *layer_json(const char *loc){
  cJSON *c = cJSON_CreateObject();
  if( c && (!cJSON_AddStringToObject(c, "loc", loc) || !cJSON_AddObjectToObject(c, "args")) ){
    cJSON_Delete(c);
    return NULL;
  }
  return c;
}

static cJSON *with_num(cJSON *c, const char *k, double v){
  if( c && !cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(c, "args"), k, v) ){
    cJSON_Delete(c);
    return NULL;
  }
  return c;
}

static cJSON *with_bool(cJSON *c, const char *k, int v){
  if( c && !cJSON_AddBoolToObject(cJSON_GetObjectItemCaseSensitive(c, "args"), k, v) ){
    cJSON_Delete(c);
    return NULL;
  }
  return c;
}

/* x + dropout(f(x)) joined by an Add node named <prefix>.<name>. */
static int add_node(lower *L, int a, int b, const char *path, const char *prefix, const char *name){
  lf_layer_spec add = { &lf_layer_add, NULL };
  int ab[2] = { a, b };
  return push_node(L, &add, ab, 2, dupf("%s%s%s", prefix, prefix[0] ? "." : "", name),
                   dupf("%s>%s (the residual sum)", path, name));
}

/* TransformerEncoderLayer as torch.nn.TransformerEncoderLayer(batch_first
** =True) computes it, made of the table's own layers:
**   post-norm: h = norm1(x + dropout1(self_attn(x)))
**              y = norm2(h + dropout2(linear2(dropout(act(linear1(h))))))
**   pre-norm:  h = x + dropout1(self_attn(norm1(x)))
**              y = h + dropout2(linear2(dropout(act(linear1(norm2(h))))))
** self_attn reads the mask when the node is given one ("in": [x, x_mask]).
** Dropout nodes are left out when dropout is 0 (they would be identities). */
static int lower_encoder(lower *L, const cJSON *args, const char *path, const char *prefix,
                         const lf_component *comp, const int *in, int nin){
  if( check_values(L, args, path, comp) ) return -1;
  if( nin > 2 ) return fail(L, "%s: TransformerEncoderLayer takes a sequence and optionally its mask, got %d inputs", path, nin);
  double d_model = num_arg(args, comp, "d_model"), nhead = num_arg(args, comp, "nhead");
  double dff = num_arg(args, comp, "dim_feedforward"), p = num_arg(args, comp, "dropout");
  double eps = num_arg(args, comp, "layer_norm_eps");
  int norm_first = num_arg(args, comp, "norm_first") != 0, bias = num_arg(args, comp, "bias") != 0;
  int causal = num_arg(args, comp, "causal") != 0;
  const cJSON *act = cJSON_GetObjectItemCaseSensitive(args, "activation");
  const char *act_loc = "ReLU";
  if( act && strcmp(act->valuestring, "relu")==0 ) act_loc = "ReLU";
  else if( act && strcmp(act->valuestring, "gelu")==0 ) act_loc = "GELU";
  else if( act ) return fail(L, "%s>args>activation must be \"relu\" or \"gelu\"", path);
  if( p >= 1 ) return fail(L, "%s>args>dropout must be below 1", path);
  int x = in[0], h, v;
  int sa_in[2] = { x, nin > 1 ? in[1] : 0 };
  /* Self-attention block. */
  if( norm_first ){
    sa_in[0] = sub_layer(L, with_num(layer_json("LayerNorm"), "eps", eps), path, prefix, "norm1", &x, 1);
    if( sa_in[0] < 0 ) return -1;
  }
  v = sub_layer(L, with_bool(with_bool(with_num(with_num(with_num(layer_json("MultiheadAttention"),
        "embed_dim", d_model), "num_heads", nhead), "dropout", p), "bias", bias), "causal", causal),
        path, prefix, "self_attn", sa_in, nin);
  if( v >= 0 && p > 0 ) v = sub_layer(L, with_num(layer_json("Dropout"), "p", p), path, prefix, "dropout1", &v, 1);
  if( v < 0 ) return -1;
  h = add_node(L, x, v, path, prefix, "add1");
  if( h >= 0 && !norm_first ) h = sub_layer(L, with_num(layer_json("LayerNorm"), "eps", eps), path, prefix, "norm1", &h, 1);
  if( h < 0 ) return -1;
  /* Feed-forward block. */
  v = h;
  if( norm_first ) v = sub_layer(L, with_num(layer_json("LayerNorm"), "eps", eps), path, prefix, "norm2", &v, 1);
  if( v >= 0 ) v = sub_layer(L, with_bool(with_num(layer_json("Linear"), "out", dff), "bias", bias), path, prefix, "linear1", &v, 1);
  if( v >= 0 ) v = sub_layer(L, layer_json(act_loc), path, prefix, "activation", &v, 1);
  if( v >= 0 && p > 0 ) v = sub_layer(L, with_num(layer_json("Dropout"), "p", p), path, prefix, "dropout", &v, 1);
  if( v >= 0 ) v = sub_layer(L, with_bool(with_num(layer_json("Linear"), "out", d_model), "bias", bias), path, prefix, "linear2", &v, 1);
  if( v >= 0 && p > 0 ) v = sub_layer(L, with_num(layer_json("Dropout"), "p", p), path, prefix, "dropout2", &v, 1);
  if( v < 0 ) return -1;
  v = add_node(L, h, v, path, prefix, "add2");
  if( v >= 0 && !norm_first ) v = sub_layer(L, with_num(layer_json("LayerNorm"), "eps", eps), path, prefix, "norm2", &v, 1);
  return v;
}

static int lower_component(lower *L, const cJSON *c, const char *path, const char *prefix,
                           const int *in, int nin){
  if( !cJSON_IsObject(c) ) return fail(L, "%s must be a component {\"loc\": ..., \"args\": {...}}", path);
  const cJSON *loc = cJSON_GetObjectItemCaseSensitive(c, "loc");
  const lf_component *comp = cJSON_IsString(loc) ? lf_registry_find(loc->valuestring) : NULL;
  if( !comp || comp->kind != LF_KIND_MODEL ){
    /* A layer: the config parser checks its loc, keys and args. */
    lf_layer_spec ls;
    memset(&ls, 0, sizeof ls);
    int v = L->parse(L->ctx, c, path, &ls);
    if( v==0 && !ls.ops->multi_input && nin != 1 ){
      v = fail(L, "%s: %s takes one input, got %d", path, ls.ops->loc, nin);
    }else if( v==0 && ls.ops->multi_input==LF_LAYER_INPUT_AND_MASK && nin > 2 ){
      v = fail(L, "%s: %s takes its input and optionally a mask (\"in\": [x] or [x, x_mask]), got %d inputs",
               path, ls.ops->loc, nin);
    }else if( v==0 && ls.ops->multi_input==1 && nin < 2 ){
      v = fail(L, "%s: %s joins 2 or more inputs; use it as a Graph node with \"in\": [a, b, ...]", path, ls.ops->loc);
    }
    if( v==0 ) v = push_node(L, &ls, in, nin, strdup(prefix), strdup(path));
    if( v < 0 ){
      const lf_component *lc = lf_registry_find_layer(ls.ops);
      if( lc && ls.args ) lf_component_free_args(lc, (void*)ls.args);
      free((void*)ls.args);
    }
    return v;
  }
  for(const cJSON *k = c->child; k; k = k->next){
    if( strcmp(k->string, "loc") && strcmp(k->string, "args") && strcmp(k->string, "name") && strcmp(k->string, "in") ){
      return fail(L, "unknown key %s>%s (a component has only loc and args)", path, k->string);
    }
  }
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(c, "args");
  if( check_keys(L, args, path, comp) ) return -1;
  char sub[512];
  if( strcmp(comp->loc, "Sequential")==0 ){
    if( one_input(L, path, comp->loc, nin) ) return -1;
    snprintf(sub, sizeof sub, "%s>args>layers", path);
    return lower_chain(L, cJSON_GetObjectItemCaseSensitive(args, "layers"), sub, prefix, in[0]);
  }
  if( strcmp(comp->loc, "Residual")==0 ){
    if( one_input(L, path, comp->loc, nin) ) return -1;
    char pre[256];
    snprintf(sub, sizeof sub, "%s>args>layers", path);
    snprintf(pre, sizeof pre, "%s%slayers", prefix, prefix[0] ? "." : "");
    int a = lower_chain(L, cJSON_GetObjectItemCaseSensitive(args, "layers"), sub, pre, in[0]);
    if( a < 0 ) return -1;
    int b = in[0];
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(args, "shortcut");
    if( sc && !cJSON_IsNull(sc) ){
      snprintf(sub, sizeof sub, "%s>args>shortcut", path);
      snprintf(pre, sizeof pre, "%s%sshortcut", prefix, prefix[0] ? "." : "");
      b = lower_chain(L, sc, sub, pre, in[0]);
      if( b < 0 ) return -1;
    }
    lf_layer_spec add = { &lf_layer_add, NULL };
    int ab[2] = { a, b };
    return push_node(L, &add, ab, 2, dupf("%s%sadd", prefix, prefix[0] ? "." : ""),
                     dupf("%s (the sum of layers and %s)", path, sc && !cJSON_IsNull(sc) ? "shortcut" : "the block's input"));
  }
  if( strcmp(comp->loc, "TransformerEncoderLayer")==0 ){
    char sub2[600];
    snprintf(sub2, sizeof sub2, "%s (TransformerEncoderLayer)", path);
    return lower_encoder(L, args, sub2, prefix, comp, in, nin);
  }
  if( strcmp(comp->loc, "Graph")==0 ){
    if( !args ) return fail(L, "%s>args is missing (Graph takes nodes and output)", path);
    return lower_graph(L, args, path, prefix, in, nin);
  }
  return fail(L, "%s: model '%s' has no lowering", path, comp->loc);
}

/* Values of an input group: one per column, or a sequence's. */
static int64_t group_width(const lf_input_group *g){
  return g->width > 0 ? g->width : g->ncolumns;
}

/* A dataset with named input groups gives one vector, the groups' columns
** in order; the top Graph reads each group it names through a Slice (and
** a Reshape for a sequence group). */
static int bind_groups(lower *L, const cJSON *inputs, int *in){
  const lf_dataset_spec *d = &L->p->dataset;
  char groups[300] = "";
  size_t used = 0;
  for(int g=0; g<d->ninputs; g++){
    int w = snprintf(groups+used, sizeof groups-used, "%s%s", used ? ", " : "", d->inputs[g].name);
    if( w<0 || (size_t)w >= sizeof groups-used ) break;
    used += (size_t)w;
  }
  int n = cJSON_IsArray(inputs) ? cJSON_GetArraySize(inputs) : 0;
  if( n < 1 ){
    return fail(L, "model>args>inputs is missing: the dataset has named inputs (%s); list the ones the Graph reads, "
                "e.g. \"inputs\": [\"%s\"]", groups, d->inputs[0].name);
  }
  for(int i=0; i<n; i++){
    const cJSON *e = cJSON_GetArrayItem(inputs, i);
    int64_t start = 0;
    int g;
    if( !cJSON_IsString(e) ) return fail(L, "model>args>inputs[%d] must be the name of an input group", i);
    for(g=0; g<d->ninputs; g++){
      if( strcmp(d->inputs[g].name, e->valuestring)==0 ) break;
      start += group_width(&d->inputs[g]);
    }
    if( g==d->ninputs ){
      return fail(L, "model>args>inputs[%d]: '%.40s' is not an input group of the dataset (its groups: %s)",
                  i, e->valuestring, groups);
    }
    lf_slice_args *a = calloc(1, sizeof *a);
    if( !a ) return fail(L, "out of memory");
    a->start = start;
    a->length = group_width(&d->inputs[g]);
    lf_layer_spec ls = { &lf_layer_slice, a };
    int zero = 0;
    in[i] = push_node(L, &ls, &zero, 1, dupf("inputs.%s", e->valuestring),
                      dupf("model>args>inputs[%d] (%s)", i, e->valuestring));
    if( in[i] < 0 ){ free(a); return -1; }
    if( d->inputs[g].shape.ndim > 1 ){
      /* A sequence group: its values seen as [steps, features]. */
      lf_reshape_args *r = calloc(1, sizeof *r);
      if( !r ) return fail(L, "out of memory");
      r->shape = d->inputs[g].shape;
      lf_layer_spec rs = { &lf_layer_reshape, r };
      int from = in[i];
      in[i] = push_node(L, &rs, &from, 1, dupf("inputs.%s.shape", e->valuestring),
                        dupf("model>args>inputs[%d] (%s, as %s)", i, e->valuestring, "[steps, features]"));
      if( in[i] < 0 ){ free(r); return -1; }
    }
  }
  return n;
}

int lf_graph_lower(const cJSON *model, lf_pipeline_spec *p, lf_component_parser parse, void *ctx,
                   char *err, size_t errlen){
  lower L = { p, parse, ctx, err, errlen };
  const cJSON *loc = cJSON_GetObjectItemCaseSensitive(model, "loc");
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(model, "args");
  const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(args, "inputs");
  int is_graph = cJSON_IsString(loc) && strcmp(loc->valuestring, "Graph")==0;
  int ninputs = 1, nin = 1;
  int in[LF_NET_MAX_NODE_INPUTS];
  p->ninputs = 0;
  if( is_graph && cJSON_IsArray(inputs) && cJSON_GetArraySize(inputs) > 0 ){
    ninputs = cJSON_GetArraySize(inputs);
    if( ninputs > LF_NET_MAX_NODE_INPUTS ) return fail(&L, "model>args>inputs lists more than %d inputs", LF_NET_MAX_NODE_INPUTS);
    p->input_names = calloc((size_t)ninputs, sizeof(char*));
    if( !p->input_names ) return fail(&L, "out of memory");
    for(int i=0; i<ninputs; i++){
      const cJSON *e = cJSON_GetArrayItem(inputs, i);
      p->input_names[i] = strdup(cJSON_IsString(e) ? e->valuestring : "");
      p->ninputs = i+1;
      if( !p->input_names[i] ) return fail(&L, "out of memory");
    }
  }
  if( !p->input_names ){
    p->input_names = calloc(1, sizeof(char*));
    if( !p->input_names || !(p->input_names[0] = strdup("x")) ) return fail(&L, "out of memory");
  }
  p->ninputs = ninputs;
  for(int i=0; i<ninputs; i++) in[i] = i;
  cJSON *seq_inputs = NULL;
  if( p->dataset.seq_column && !(is_graph && cJSON_IsArray(inputs) && cJSON_GetArraySize(inputs) > 0) ){
    /* A model that names no inputs reads the sequence without its mask. */
    seq_inputs = cJSON_CreateStringArray((const char *[]){p->dataset.seq_column}, 1);
    if( !seq_inputs ) return fail(&L, "out of memory");
    inputs = seq_inputs;
  }
  if( (is_graph || seq_inputs) && p->dataset.ninputs > 0 ){
    /* One model input, the dataset's vector, sliced into the groups. */
    for(int i=0; i<p->ninputs; i++) free(p->input_names[i]);
    p->input_names[0] = strdup("features");
    p->ninputs = 1;
    if( !p->input_names[0] ) return fail(&L, "out of memory");
    nin = bind_groups(&L, inputs, in);
    cJSON_Delete(seq_inputs);
    if( nin < 0 ) return -1;
  }else{
    nin = ninputs;
  }
  int out = lower_component(&L, model, "model", "", in, nin);
  if( out < 0 ) return -1;
  if( out < p->ninputs ) return fail(&L, "model: the output is an input; a model needs at least one layer");
  p->output = out;
  return 0;
}

void lf_graph_of(const lf_pipeline_spec *p, const lf_shape *inputs, lf_net_graph *g){
  g->ninputs = p->ninputs;
  g->inputs = inputs;
  g->nnodes = p->nnodes;
  g->nodes = p->nodes;
  g->output = p->output;
}
