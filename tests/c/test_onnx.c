/*
** test_onnx.c — the ONNX graph builder (kernels/lf_onnx.c) and the layers'
** onnx hooks on a hand-made net, plus what a build without protobuf-c says
** (the C tests' library is built without it: core/lf_onnx_pb.c's fallback).
*/
#include <stdlib.h>
#include <string.h>
#include "lf_test.h"
#include "lf_layer.h"
#include "lf_onnx_pb.h"
#include "lf_registry.h"

static const lf_onnx_node *producer(const lf_onnx *g, const char *value){
  for(int i=0; i<g->nnodes; i++) if( strcmp(g->nodes[i].out, value)==0 ) return &g->nodes[i];
  return NULL;
}

static void builder(void){
  lf_onnx g;
  lf_onnx_init_graph(&g);
  float w[6] = {1, 2, 3, 4, 5, 6};
  int64_t dims[2] = {2, 3};
  const char *a = lf_onnx_f32(&g, "0.weight", 2, dims, w);
  const char *b = lf_onnx_f32(&g, "0.weight", 2, dims, w);
  CHECK(a && b && strcmp(a, "0.weight")==0 && strcmp(b, a)!=0,
        "onnx: initializer names are unique (%s, %s)", a ? a : "-", b ? b : "-");
  const char *v = lf_onnx_f32(&g, "v1", 2, dims, w);
  CHECK(v && strcmp(v, "v1") != 0, "onnx: an initializer never takes a node output's name v<k> (%s)", v ? v : "-");
  const char *vw = lf_onnx_f32(&g, "v.weight", 2, dims, w);
  CHECK(vw && strcmp(vw, "v.weight") == 0, "onnx: a parameter of a Graph node named v keeps its name (%s)", vw ? vw : "-");
  w[0] = 99;
  CHECK(((float*)g.inits[0].data)[0] == 1.0f, "onnx: initializer data is copied");
  const char *x = lf_onnx_op1(&g, "Relu", "input");
  const char *y = lf_onnx_op2(&g, "Add", x, a);
  CHECK(x && y && strcmp(x, y)!=0 && g.nnodes==2, "onnx: each node gets its own output name");
  CHECK(lf_onnx_op2(&g, "Add", NULL, a)==NULL && g.nnodes==2, "onnx: a node reading a failed step is not added");
  CHECK(lf_onnx_rename(&g, y, "output")==0 && producer(&g, "output") && strcmp(producer(&g, "output")->op, "Add")==0,
        "onnx: rename gives the graph output its fixed name");
  int64_t ints[2] = {3, 4};
  lf_onnx_attr at[2] = { LF_ONNX_IS("kernel_shape", 2, ints), LF_ONNX_F("alpha", 0.5) };
  const char *in1[1] = { "input" };
  const char *z = lf_onnx_op(&g, "MaxPool", 1, in1, 2, at);
  ints[0] = 7;
  const lf_onnx_node *n = z ? producer(&g, z) : NULL;
  CHECK(n && n->nattr==2 && n->attr[0].nints==2 && n->attr[0].ints[0]==3 && n->attr[1].f==0.5f,
        "onnx: attributes are copied with their values");
  lf_onnx_free(&g);
  CHECK(g.nnodes==0 && g.ninits==0, "onnx: free empties the graph");
}

/* Linear -> ReLU -> Linear as a net, exported node by node. */
static void hooks(void){
  lf_linear_args l1 = {4, 1}, l2 = {2, 0};
  lf_layer_spec layers[3] = { {&lf_layer_linear, &l1}, {&lf_layer_relu, NULL}, {&lf_layer_linear, &l2} };
  lf_shape in = { .ndim = 1, .dim = {3} };
  char err[256] = "";
  lf_net *net = lf_net_create(layers, 3, &in, err, sizeof err);
  CHECK(net != NULL, "onnx: a small net builds (%s)", err);
  if( !net ) return;
  lf_onnx g;
  lf_onnx_init_graph(&g);
  const char *names[4] = { "input" };
  int ok = 1;
  for(int i=0; ok && i<lf_net_node_count(net); i++){
    const lf_layer *L = lf_net_node_layer(net, i);
    const char *ins[1] = { names[lf_net_node_input(net, i, 0)] };
    ok = L->ops->onnx && L->ops->onnx(L, &g, ins, &names[1+i], err, sizeof err)==0;
  }
  CHECK(ok && g.nnodes==3, "onnx: every layer's hook adds its node (%d nodes) %s", g.nnodes, err);
  const lf_onnx_node *gemm = ok ? producer(&g, names[3]) : NULL;
  CHECK(gemm && strcmp(gemm->op, "Gemm")==0 && gemm->nin==2 && strcmp(gemm->in[1], "2.weight")==0,
        "onnx: a Linear without bias is Gemm(x, 2.weight) with no C input");
  const lf_onnx_node *first = ok ? producer(&g, names[1]) : NULL;
  CHECK(first && first->nin==3 && strcmp(first->in[0], "input")==0 && strcmp(first->in[2], "0.bias")==0
        && first->nattr==1 && strcmp(first->attr[0].name, "transB")==0 && first->attr[0].i==1,
        "onnx: Linear is Gemm(x, W, b) with transB=1");
  CHECK(g.ninits==3, "onnx: one initializer per parameter (%d)", g.ninits);
  lf_onnx_free(&g);
  lf_net_free(net);
}

/* Every built-in layer row of the component table can be exported: a new
** layer without an onnx hook fails here, by name. */
static void every_layer(void){
  int n = 0, missing = 0;
  char names[512] = "";
  for(int i=0; lf_registry_at(i); i++){
    const lf_component *c = lf_registry_at(i);
    if( c->kind != LF_KIND_LAYER || !c->layer ) continue;
    n++;
    if( !c->layer->onnx ){
      missing++;
      size_t u = strlen(names);
      snprintf(names + u, sizeof names - u, " %s", c->loc);
    }
  }
  CHECK(n > 30 && missing == 0, "onnx: all %d built-in layers have an ONNX exporter (missing:%s)", n, missing ? names : " none");
}

static void without_protobuf(void){
  char err[512] = "";
  unsigned char *buf = (unsigned char*)1;
  size_t len = 1;
  lf_onnx g;
  lf_onnx_model m = { .graph = &g };
  lf_onnx_init_graph(&g);
#ifdef LF_HAVE_ONNX
  CHECK(lf_onnx_available(err, sizeof err)==0, "onnx: this build has protobuf-c");
  (void)m; (void)buf; (void)len;
#else
  int rc = lf_onnx_available(err, sizeof err);
  CHECK(rc==-1 && strstr(err, "libprotobuf-c-dev") && strstr(err, "protobuf-c-compiler") && strstr(err, "libonnx-dev")
        && strstr(err, "rebuild"), "onnx: a build without protobuf-c names the packages to install: %s", err);
  CHECK(lf_onnx_serialize(&m, &buf, &len, err, sizeof err)==-1 && buf==NULL && len==0,
        "onnx: serialising without protobuf-c fails cleanly");
#endif
  lf_onnx_free(&g);
}

int main(void){
  builder();
  hooks();
  every_layer();
  without_protobuf();
  TEST_EXIT();
}
