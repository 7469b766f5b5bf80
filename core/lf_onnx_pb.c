/*
** lf_onnx_pb.c — an lf_onnx graph as an ONNX ModelProto (see lf_onnx_pb.h).
**
** The protobuf-c messages are filled from the graph and packed in one
** buffer; every message, array and string made here is recorded in a
** small arena and freed together, so no protobuf-c allocator is involved.
** Tensor values go into raw_data as little-endian bytes (what ONNX
** specifies; this code runs on little-endian hosts only, which is checked).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_onnx_pb.h"

#define LF_ONNX_MISSING "ONNX export needs protobuf-c and the ONNX schema at build time: install the " \
  "Debian packages libprotobuf-c-dev, protobuf-c-compiler and libonnx-dev (sh tools/deps.sh does), " \
  "then rebuild LabFlow (make clean && make)"

#ifndef LF_HAVE_ONNX

int lf_onnx_available(char *err, size_t n){
  snprintf(err, n, "%s", LF_ONNX_MISSING);
  return -1;
}

int lf_onnx_serialize(const lf_onnx_model *m, unsigned char **buf, size_t *len,
                      char *err, size_t n){
  (void)m;
  *buf = NULL;
  *len = 0;
  snprintf(err, n, "%s", LF_ONNX_MISSING);
  return -1;
}

#else

#include "onnx.pb-c.h"

int lf_onnx_available(char *err, size_t n){
  (void)err; (void)n;
  return 0;
}

/* Every allocation of one serialisation, freed at once. */
typedef struct arena {
  void **p;
  size_t n, cap;
  int oom;
} arena;

static void *arena_alloc(arena *a, size_t size){
  if( a->oom ) return NULL;
  if( a->n == a->cap ){
    size_t c = a->cap ? a->cap * 2 : 256;
    void **p = realloc(a->p, c * sizeof(void*));
    if( !p ){ a->oom = 1; return NULL; }
    a->p = p;
    a->cap = c;
  }
  void *m = calloc(1, size ? size : 1);
  if( !m ){ a->oom = 1; return NULL; }
  a->p[a->n++] = m;
  return m;
}

static char *arena_str(arena *a, const char *s){
  size_t len = strlen(s) + 1;
  char *d = arena_alloc(a, len);
  if( d ) memcpy(d, s, len);
  return d;
}

static void arena_free(arena *a){
  for(size_t i=0; i<a->n; i++) free(a->p[i]);
  free(a->p);
}

#define DEFINE_NEW(T, INIT) \
  static T *new_##T(arena *a){ T *m = arena_alloc(a, sizeof(T)); if( m ){ T z = INIT; *m = z; } return m; }
DEFINE_NEW(Onnx__ModelProto, ONNX__MODEL_PROTO__INIT)
DEFINE_NEW(Onnx__GraphProto, ONNX__GRAPH_PROTO__INIT)
DEFINE_NEW(Onnx__NodeProto, ONNX__NODE_PROTO__INIT)
DEFINE_NEW(Onnx__AttributeProto, ONNX__ATTRIBUTE_PROTO__INIT)
DEFINE_NEW(Onnx__TensorProto, ONNX__TENSOR_PROTO__INIT)
DEFINE_NEW(Onnx__ValueInfoProto, ONNX__VALUE_INFO_PROTO__INIT)
DEFINE_NEW(Onnx__TypeProto, ONNX__TYPE_PROTO__INIT)
DEFINE_NEW(Onnx__TypeProto__Tensor, ONNX__TYPE_PROTO__TENSOR__INIT)
DEFINE_NEW(Onnx__TensorShapeProto, ONNX__TENSOR_SHAPE_PROTO__INIT)
DEFINE_NEW(Onnx__TensorShapeProto__Dimension, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT)
DEFINE_NEW(Onnx__OperatorSetIdProto, ONNX__OPERATOR_SET_ID_PROTO__INIT)
DEFINE_NEW(Onnx__StringStringEntryProto, ONNX__STRING_STRING_ENTRY_PROTO__INIT)

static Onnx__AttributeProto *make_attr(arena *a, const lf_onnx_attr *src){
  Onnx__AttributeProto *at = new_Onnx__AttributeProto(a);
  if( !at || !(at->name = arena_str(a, src->name)) ) return NULL;
  at->has_type = 1;
  switch( src->type ){
    case LF_ONNX_ATTR_FLOAT:
      at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
      at->has_f = 1; at->f = src->f;
      break;
    case LF_ONNX_ATTR_INT:
      at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
      at->has_i = 1; at->i = src->i;
      break;
    case LF_ONNX_ATTR_INTS:
      at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
      at->n_ints = (size_t)src->nints;
      at->ints = arena_alloc(a, sizeof(int64_t) * (size_t)(src->nints ? src->nints : 1));
      if( !at->ints ) return NULL;
      if( src->nints ) memcpy(at->ints, src->ints, sizeof(int64_t) * (size_t)src->nints);
      break;
    case LF_ONNX_ATTR_STRING:
      at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
      at->has_s = 1;
      at->s.len = strlen(src->s);
      at->s.data = (uint8_t*)arena_str(a, src->s);
      if( !at->s.data ) return NULL;
      break;
  }
  return at;
}

static Onnx__NodeProto *make_node(arena *a, const lf_onnx_node *src, int index){
  Onnx__NodeProto *nd = new_Onnx__NodeProto(a);
  char name[64];
  if( !nd ) return NULL;
  snprintf(name, sizeof name, "%s_%d", src->op, index);
  nd->name = arena_str(a, name);
  nd->op_type = arena_str(a, src->op);
  nd->n_input = (size_t)src->nin;
  nd->input = arena_alloc(a, sizeof(char*) * (size_t)(src->nin ? src->nin : 1));
  nd->n_output = 1;
  nd->output = arena_alloc(a, sizeof(char*));
  nd->n_attribute = (size_t)src->nattr;
  nd->attribute = arena_alloc(a, sizeof(void*) * (size_t)(src->nattr ? src->nattr : 1));
  if( !nd->name || !nd->op_type || !nd->input || !nd->output || !nd->attribute ) return NULL;
  for(int k=0; k<src->nin; k++) if( !(nd->input[k] = arena_str(a, src->in[k])) ) return NULL;
  if( !(nd->output[0] = arena_str(a, src->out)) ) return NULL;
  for(int k=0; k<src->nattr; k++) if( !(nd->attribute[k] = make_attr(a, &src->attr[k])) ) return NULL;
  return nd;
}

static Onnx__TensorProto *make_tensor(arena *a, const lf_onnx_init *src){
  Onnx__TensorProto *t = new_Onnx__TensorProto(a);
  if( !t ) return NULL;
  size_t count = 1, esize = src->dtype == LF_ONNX_INT64 ? 8 : 4;
  t->name = arena_str(a, src->name);
  t->n_dims = (size_t)src->ndim;
  t->dims = arena_alloc(a, sizeof(int64_t) * (size_t)(src->ndim ? src->ndim : 1));
  if( !t->name || !t->dims ) return NULL;
  for(int d=0; d<src->ndim; d++){ t->dims[d] = src->dim[d]; count *= (size_t)src->dim[d]; }
  t->has_data_type = 1;
  t->data_type = src->dtype;
  t->has_raw_data = 1;
  t->raw_data.len = count * esize;
  t->raw_data.data = src->data;          /* packed before the graph is freed */
  return t;
}

static Onnx__ValueInfoProto *make_io(arena *a, const lf_onnx_io *io){
  Onnx__ValueInfoProto *v = new_Onnx__ValueInfoProto(a);
  Onnx__TypeProto *tp = new_Onnx__TypeProto(a);
  Onnx__TypeProto__Tensor *tt = new_Onnx__TypeProto__Tensor(a);
  Onnx__TensorShapeProto *sh = new_Onnx__TensorShapeProto(a);
  if( !v || !tp || !tt || !sh ) return NULL;
  v->name = arena_str(a, io->name);
  v->type = tp;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  tt->has_elem_type = 1;
  tt->elem_type = io->dtype;
  tt->shape = sh;
  sh->n_dim = (size_t)io->ndim + 1;
  sh->dim = arena_alloc(a, sizeof(void*) * sh->n_dim);
  if( !v->name || !sh->dim ) return NULL;
  for(size_t d=0; d<sh->n_dim; d++){
    Onnx__TensorShapeProto__Dimension *dm = new_Onnx__TensorShapeProto__Dimension(a);
    if( !dm ) return NULL;
    if( d == 0 ){
      dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      if( !(dm->dim_param = arena_str(a, "batch")) ) return NULL;
    }else{
      dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      dm->dim_value = io->dim[d-1];
    }
    sh->dim[d] = dm;
  }
  return v;
}

int lf_onnx_serialize(const lf_onnx_model *m, unsigned char **buf, size_t *len,
                      char *err, size_t n){
  const lf_onnx *g = m->graph;
  const uint16_t one = 1;
  arena a = {0};
  int rc = -1;
  *buf = NULL;
  *len = 0;
  if( *(const uint8_t*)&one != 1 ){
    snprintf(err, n, "ONNX export writes little-endian tensors and this host is big-endian");
    return -1;
  }
  Onnx__ModelProto *mp = new_Onnx__ModelProto(&a);
  Onnx__GraphProto *gp = new_Onnx__GraphProto(&a);
  Onnx__OperatorSetIdProto *op = new_Onnx__OperatorSetIdProto(&a);
  if( !mp || !gp || !op ) goto oom;
  mp->has_ir_version = 1;
  mp->ir_version = LF_ONNX_IR_VERSION;
  op->domain = arena_str(&a, "");
  op->has_version = 1;
  op->version = LF_ONNX_OPSET;
  mp->n_opset_import = 1;
  mp->opset_import = arena_alloc(&a, sizeof(void*));
  if( !mp->opset_import ) goto oom;
  mp->opset_import[0] = op;
  mp->producer_name = arena_str(&a, "LabFlow");
  mp->producer_version = arena_str(&a, m->producer_version ? m->producer_version : "");
  mp->doc_string = m->doc ? arena_str(&a, m->doc) : NULL;
  mp->graph = gp;
  gp->name = arena_str(&a, m->graph_name ? m->graph_name : "labflow");
  gp->n_node = (size_t)g->nnodes;
  gp->node = arena_alloc(&a, sizeof(void*) * (size_t)(g->nnodes ? g->nnodes : 1));
  gp->n_initializer = (size_t)g->ninits;
  gp->initializer = arena_alloc(&a, sizeof(void*) * (size_t)(g->ninits ? g->ninits : 1));
  gp->n_input = 1;
  gp->input = arena_alloc(&a, sizeof(void*));
  gp->n_output = 1;
  gp->output = arena_alloc(&a, sizeof(void*));
  mp->n_metadata_props = (size_t)m->nmeta;
  mp->metadata_props = arena_alloc(&a, sizeof(void*) * (size_t)(m->nmeta ? m->nmeta : 1));
  if( a.oom || !gp->node || !gp->initializer || !gp->input || !gp->output || !mp->metadata_props ) goto oom;
  for(int i=0; i<g->nnodes; i++) if( !(gp->node[i] = make_node(&a, &g->nodes[i], i)) ) goto oom;
  for(int i=0; i<g->ninits; i++) if( !(gp->initializer[i] = make_tensor(&a, &g->inits[i])) ) goto oom;
  if( !(gp->input[0] = make_io(&a, &m->input)) || !(gp->output[0] = make_io(&a, &m->output)) ) goto oom;
  for(int i=0; i<m->nmeta; i++){
    Onnx__StringStringEntryProto *e = new_Onnx__StringStringEntryProto(&a);
    if( !e || !(e->key = arena_str(&a, m->meta_key[i])) || !(e->value = arena_str(&a, m->meta_value[i])) ) goto oom;
    mp->metadata_props[i] = e;
  }
  if( a.oom ) goto oom;
  size_t size = onnx__model_proto__get_packed_size(mp);
  /* protobuf's own limit for one message. */
  if( size > 2147483647u ){
    snprintf(err, n, "the model is %zu bytes; ONNX files hold at most 2 GB without external data", size);
    goto done;
  }
  *buf = malloc(size ? size : 1);
  if( !*buf ) goto oom;
  *len = onnx__model_proto__pack(mp, *buf);
  rc = 0;
  goto done;
oom:
  snprintf(err, n, "out of memory");
done:
  arena_free(&a);
  return rc;
}

#endif
