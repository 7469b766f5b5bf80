/*
** lf_onnx.c — building an ONNX graph as plain C data (see lf_onnx.h).
** Any allocation failure sets g->oom and makes every later call return
** NULL, so an exporter checks one result at its end.
*/
#include "lf_onnx.h"
#include "lf_tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lf_onnx_init_graph(lf_onnx *g){
  memset(g, 0, sizeof *g);
}

void lf_onnx_free(lf_onnx *g){
  for(int i=0; i<g->nnodes; i++){
    lf_onnx_node *n = &g->nodes[i];
    free(n->op);
    for(int k=0; k<n->nin; k++) free(n->in[k]);
    free(n->in);
    free(n->out);
    for(int a=0; a<n->nattr; a++){
      free((char*)n->attr[a].name);
      free((int64_t*)n->attr[a].ints);
      free((char*)n->attr[a].s);
    }
    free(n->attr);
  }
  free(g->nodes);
  for(int i=0; i<g->ninits; i++){
    free(g->inits[i].name);
    free(g->inits[i].data);
  }
  free(g->inits);
  memset(g, 0, sizeof *g);
}

static int grow(void **arr, int *cap, int need, size_t size){
  if( need <= *cap ) return 0;
  int c = *cap ? *cap * 2 : 16;
  while( c < need ) c *= 2;
  void *p = realloc(*arr, (size_t)c * size);
  if( !p ) return -1;
  memset((char*)p + (size_t)*cap * size, 0, (size_t)(c - *cap) * size);
  *arr = p;
  *cap = c;
  return 0;
}

static char *dup_str(const char *s){
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if( d ) memcpy(d, s, n);
  return d;
}

const char *lf_onnx_op(lf_onnx *g, const char *op, int nin, const char *const *in,
                       int nattr, const lf_onnx_attr *attr){
  if( g->oom ) return NULL;
  for(int k=0; k<nin; k++) if( in[k]==NULL ) return NULL;   /* an earlier step failed */
  if( grow((void**)&g->nodes, &g->cap_nodes, g->nnodes + 1, sizeof *g->nodes) ) goto oom;
  lf_onnx_node *n = &g->nodes[g->nnodes];
  memset(n, 0, sizeof *n);
  char out[32];
  snprintf(out, sizeof out, "v%d", g->next_value++);
  n->op = dup_str(op);
  n->out = dup_str(out);
  n->in = calloc((size_t)(nin ? nin : 1), sizeof(char*));
  n->attr = calloc((size_t)(nattr ? nattr : 1), sizeof *n->attr);
  g->nnodes++;              /* counted now so lf_onnx_free releases it */
  if( !n->op || !n->out || !n->in || !n->attr ) goto oom;
  for(int k=0; k<nin; k++){
    n->in[k] = dup_str(in[k] ? in[k] : "");
    if( !n->in[k] ) goto oom;
    n->nin++;
  }
  for(int a=0; a<nattr; a++){
    lf_onnx_attr *d = &n->attr[a];
    *d = attr[a];
    d->name = NULL; d->ints = NULL; d->s = NULL;
    n->nattr++;
    d->name = dup_str(attr[a].name);
    if( !d->name ) goto oom;
    if( attr[a].type == LF_ONNX_ATTR_INTS ){
      int64_t *v = malloc(sizeof(int64_t) * (size_t)(attr[a].nints ? attr[a].nints : 1));
      if( !v ) goto oom;
      if( attr[a].nints ) memcpy(v, attr[a].ints, sizeof(int64_t) * (size_t)attr[a].nints);
      d->ints = v;
    }
    if( attr[a].type == LF_ONNX_ATTR_STRING ){
      d->s = dup_str(attr[a].s);
      if( !d->s ) goto oom;
    }
  }
  return n->out;
oom:
  g->oom = 1;
  return NULL;
}

const char *lf_onnx_op1(lf_onnx *g, const char *op, const char *a){
  const char *in[1] = { a };
  return a ? lf_onnx_op(g, op, 1, in, 0, NULL) : NULL;
}

const char *lf_onnx_op2(lf_onnx *g, const char *op, const char *a, const char *b){
  const char *in[2] = { a, b };
  return a && b ? lf_onnx_op(g, op, 2, in, 0, NULL) : NULL;
}

/* "v<digits>": the names lf_onnx_op gives node outputs. */
static int is_value_name(const char *s){
  if( s[0]!='v' || !s[1] ) return 0;
  for(s++; *s; s++) if( *s<'0' || *s>'9' ) return 0;
  return 1;
}

static const char *add_init(lf_onnx *g, const char *hint, int dtype, size_t esize,
                            int ndim, const int64_t *dims, const void *data){
  if( g->oom ) return NULL;
  if( ndim < 0 || ndim > 8 ) return NULL;
  if( grow((void**)&g->inits, &g->cap_inits, g->ninits + 1, sizeof *g->inits) ) goto oom;
  lf_onnx_init *t = &g->inits[g->ninits];
  memset(t, 0, sizeof *t);
  int64_t count = 1;
  for(int d=0; d<ndim; d++){ t->dim[d] = dims[d]; count *= dims[d]; }
  t->dtype = dtype;
  t->ndim = ndim;
  /* A name no other initializer or value has: the hint, or hint_<k>. */
  char name[96];
  snprintf(name, sizeof name, "%s", hint);
  for(int k=1, taken=1; taken; k++){
    taken = is_value_name(name) || name[0]==0;
    for(int i=0; !taken && i<g->ninits; i++) taken = strcmp(g->inits[i].name, name)==0;
    if( taken ) snprintf(name, sizeof name, "%s_%d", hint[0] ? hint : "c", k);
  }
  t->name = dup_str(name);
  t->data = malloc(esize * (size_t)(count ? count : 1));
  g->ninits++;
  if( !t->name || !t->data ) goto oom;
  if( count ) memcpy(t->data, data, esize * (size_t)count);
  return t->name;
oom:
  g->oom = 1;
  return NULL;
}

const char *lf_onnx_f32(lf_onnx *g, const char *hint, int ndim, const int64_t *dims,
                        const float *data){
  return add_init(g, hint, LF_ONNX_FLOAT, sizeof(float), ndim, dims, data);
}

const char *lf_onnx_i64(lf_onnx *g, const char *hint, int ndim, const int64_t *dims,
                        const int64_t *data){
  return add_init(g, hint, LF_ONNX_INT64, sizeof(int64_t), ndim, dims, data);
}

const char *lf_onnx_i64s(lf_onnx *g, const char *hint, int n, const int64_t *v){
  int64_t dim = n;
  return lf_onnx_i64(g, hint, 1, &dim, v);
}

const char *lf_onnx_scalar(lf_onnx *g, const char *hint, float v){
  return lf_onnx_f32(g, hint, 0, NULL, &v);
}

int lf_onnx_result(const char *v, const char **out, char *err, size_t errlen){
  *out = v;
  if( v ) return 0;
  snprintf(err, errlen, "out of memory");
  return -1;
}

const char *lf_onnx_param(lf_onnx *g, const lf_param *p){
  return lf_onnx_f32(g, p->name, p->shape.ndim, p->shape.dim, p->data);
}

static int rename_slot(lf_onnx *g, char **slot, const char *from, const char *to){
  if( strcmp(*slot, from) ) return 0;
  char *d = dup_str(to);
  if( !d ){ g->oom = 1; return -1; }
  free(*slot);
  *slot = d;
  return 0;
}

int lf_onnx_rename(lf_onnx *g, const char *from, const char *to){
  char *f = dup_str(from);     /* from may be one of the strings replaced */
  int rc = f ? 0 : -1;
  for(int i=0; f && rc==0 && i<g->nnodes; i++){
    lf_onnx_node *nd = &g->nodes[i];
    rc = rename_slot(g, &nd->out, f, to);
    for(int k=0; rc==0 && k<nd->nin; k++) rc = rename_slot(g, &nd->in[k], f, to);
  }
  if( !f ) g->oom = 1;
  free(f);
  return rc;
}
