/*
** test_attention.c — MultiheadAttention (kernels/layer_attention.c):
** forward against a naive double-precision loop (no mask, causal, key
** padding, both), finite-difference gradient checks w.r.t. the input and
** every parameter with and without masks and with attention dropout, a
** class token with a key padding mask, and the shape errors.
*/
#include "lf_test.h"
#include "lf_net.h"
#include "lf_layer.h"
#include "lf_registry.h"
#include "lf_config.h"
#include "lf_graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static lf_mha_args margs[16];
static int nmargs;

static lf_layer_spec mha(int heads, int bias, int causal, double dropout){
  lf_layer_spec s;
  const lf_component *c = lf_registry_find_kind(LF_KIND_LAYER, "MultiheadAttention");
  lf_mha_args *a = &margs[nmargs++];
  memset(&s, 0, sizeof s);
  if( !c ) return s;
  lf_component_defaults(c, a);
  a->num_heads = heads; a->bias = bias; a->causal = causal; a->dropout = dropout;
  s.ops = c->layer;
  s.args = a;
  return s;
}

static lf_shape shp(int nd, int d0, int d1){
  lf_shape s;
  memset(&s, 0, sizeof s);
  s.ndim = nd; s.dim[0] = d0; s.dim[1] = d1;
  return s;
}

/* A net of one attention node reading x (and the mask when masked). */
static lf_net *attn_net(lf_layer_spec L, int T, int E, int masked, char *err, size_t n){
  lf_shape in[2] = { shp(2, T, E), shp(1, T, 0) };
  lf_net_node node;
  lf_net_graph g;
  memset(&node, 0, sizeof node);
  node.layer = L; node.nin = masked ? 2 : 1; node.in[0] = 0; node.in[1] = 1;
  g.ninputs = masked ? 2 : 1; g.inputs = in; g.nnodes = 1; g.nodes = &node;
  g.output = g.ninputs;
  return lf_net_create_graph(&g, err, n);
}

/* y = MHA(x) in double, straight from the definition. */
static void naive(const lf_net *netc, int B, int T, int E, int H, int causal,
                  const float *x, const float *mask, double *y){
  lf_net *net = (lf_net*)netc;
  const float *W = lf_net_param(net, 0)->data, *bi = lf_net_param(net, 1)->data;
  const float *Wo = lf_net_param(net, 2)->data, *bo = lf_net_param(net, 3)->data;
  int D = E / H;
  double *qkv = calloc((size_t)T*3*E, sizeof(double)), *o = calloc((size_t)T*E, sizeof(double));
  double *p = calloc((size_t)T, sizeof(double));
  for(int b=0; b<B; b++){
    const float *xb = x + (size_t)b*T*E;
    for(int t=0; t<T; t++) for(int j=0; j<3*E; j++){
      double acc = bi[j];
      for(int k=0; k<E; k++) acc += (double)xb[t*E+k] * W[j*E+k];
      qkv[t*3*E+j] = acc;
    }
    for(int h=0; h<H; h++) for(int i=0; i<T; i++){
      double mx = -1e300, sum = 0;
      for(int j=0; j<T; j++){
        double sc = 0;
        for(int d=0; d<D; d++) sc += qkv[i*3*E + h*D+d] * qkv[j*3*E + E + h*D+d];
        sc /= sqrt((double)D);
        int off = (causal && j>i) || (mask && mask[b*T+j] < 0.5f);
        p[j] = off ? -INFINITY : sc;
        if( p[j] > mx ) mx = p[j];
      }
      for(int j=0; j<T; j++){ p[j] = exp(p[j]-mx); sum += p[j]; }
      for(int d=0; d<D; d++){
        double acc = 0;
        for(int j=0; j<T; j++) acc += p[j]/sum * qkv[j*3*E + 2*E + h*D+d];
        o[i*E + h*D+d] = acc;
      }
    }
    for(int t=0; t<T; t++) for(int j=0; j<E; j++){
      double acc = bo[j];
      for(int k=0; k<E; k++) acc += o[t*E+k] * Wo[j*E+k];
      y[((size_t)b*T+t)*E+j] = acc;
    }
  }
  free(qkv); free(o); free(p);
}

static float *randn(int64_t n, lf_rng *rng){
  float *x = malloc(sizeof(float) * (size_t)n);
  for(int64_t i=0; i<n; i++) x[i] = lf_rng_normal(rng);
  return x;
}

static void test_forward(void){
  const int B = 3, T = 5, E = 8, H = 2;
  const char *names[4] = { "no mask", "causal", "key padding", "causal + key padding" };
  float mask[15] = { 1,1,1,1,1, 1,1,1,0,0, 1,0,1,1,0 };
  for(int k=0; k<4; k++){
    char err[512];
    int causal = k & 1, masked = k >> 1;
    lf_rng rng;
    lf_rng_seed(&rng, 11);
    lf_net *net = attn_net(mha(H, 1, causal, 0), T, E, masked, err, sizeof err);
    CHECK(net!=0, "MultiheadAttention %s: create (%s)", names[k], net ? "" : err);
    if( !net ) continue;
    lf_net_init_params(net, &rng);
    /* Non-zero biases so they are exercised too. */
    for(int i=1; i<4; i+=2){
      lf_param *p = lf_net_param(net, i);
      for(int64_t j=0; j<p->n; j++) p->data[j] = 0.2f * lf_rng_normal(&rng);
    }
    float *x = randn(B*T*E, &rng);
    const float *xs[2] = { x, mask };
    double *ref = malloc(sizeof(double) * B*T*E), d = 0;
    const float *y = lf_net_forward_inputs(net, xs, B, 0, 0, err, sizeof err);
    CHECK(y!=0, "MultiheadAttention %s: forward (%s)", names[k], y ? "" : err);
    if( y ){
      naive(net, B, T, E, H, causal, x, masked ? mask : 0, ref);
      for(int i=0; i<B*T*E; i++) if( fabs(y[i]-ref[i]) > d ) d = fabs(y[i]-ref[i]);
      CHECK(d < 1e-5, "MultiheadAttention %s: forward equals the definition (max diff %.2e)", names[k], d);
    }
    free(ref); free(x);
    lf_net_free(net);
  }
}

/* Central-difference step: smaller where ReLU kinks are near. */
static double fd_step = 1e-2;

/* L = sum(y .* r), same dropout draws on every pass. */
static double loss(lf_net *net, const float *const *xs, int B, const lf_rng *rng0,
                   const float *r, int64_t n){
  char err[256];
  lf_rng rng = *rng0;
  const float *y = lf_net_forward_inputs(net, xs, B, 1, &rng, err, sizeof err);
  double L = 0;
  if( !y ) return NAN;
  for(int64_t i=0; i<n; i++) L += (double)y[i] * r[i];
  return L;
}

static double probe(lf_net *net, float *v, int64_t nv, const float *g, const float *const *xs,
                    int B, const lf_rng *rng0, const float *r, int64_t n, lf_rng *pick){
  double num[40], ana[40], d = 0, na = 0, nb = 0, h = fd_step;
  int k, m = nv < 40 ? (int)nv : 40;
  for(k=0; k<m; k++){
    int64_t j = nv <= 40 ? k : (int64_t)(lf_rng_next(pick) % (uint64_t)nv);
    float old = v[j];
    v[j] = old + (float)h;
    double lp = loss(net, xs, B, rng0, r, n);
    v[j] = old - (float)h;
    double lm = loss(net, xs, B, rng0, r, n);
    v[j] = old;
    num[k] = (lp - lm) / (2*h);
    ana[k] = g[j];
  }
  for(k=0; k<m; k++){ d += (num[k]-ana[k])*(num[k]-ana[k]); na += num[k]*num[k]; nb += ana[k]*ana[k]; }
  na = sqrt(na > nb ? na : nb);
  return na < 1e-12 ? sqrt(d) : sqrt(d) / na;
}

/* Gradient check of a net whose input 0 is [T, E] and input 1 (if any) a
** fixed mask. */
void lf_test_gradcheck_inputs(const char *name, lf_net *net, const char *why, int B,
                              const float *mask, int seed);
void lf_test_gradcheck_inputs(const char *name, lf_net *net, const char *why, int B,
                              const float *mask, int seed){
  char err[512];
  lf_rng rng, rng0, pick;
  CHECK(net!=0, "%s: create (%s)", name, net ? "" : why);
  if( !net ) return;
  lf_rng_seed(&rng, (uint64_t)seed); lf_rng_seed(&rng0, 7); lf_rng_seed(&pick, 3);
  lf_net_init_params(net, &rng);
  lf_net_want_input_grad(net, 1);
  lf_shape in = lf_net_input_shape(net, 0), out = lf_net_out_shape(net);
  int64_t nin = lf_shape_count(&in) * B, nout = lf_shape_count(&out) * B;
  int np = lf_net_param_count(net);
  for(int i=0; i<np; i++){
    lf_param *p = lf_net_param(net, i);
    if( p->grad && p->shape.ndim==1 ) for(int64_t j=0; j<p->n; j++) p->data[j] += 0.2f * lf_rng_normal(&rng);
  }
  float *x = randn(nin, &rng), *r = randn(nout, &rng);
  const float *xs[2] = { x, mask };
  float **gs = calloc((size_t)np+1, sizeof(float*));
  if( isnan(loss(net, xs, B, &rng0, r, nout)) || lf_net_backward(net, r, B, err, sizeof err) ){
    CHECK(0, "%s: forward/backward (%s)", name, err);
    goto done;
  }
  for(int i=0; i<np; i++){
    lf_param *p = lf_net_param(net, i);
    if( p->grad ){ gs[i] = malloc(sizeof(float)*(size_t)p->n); memcpy(gs[i], p->grad, sizeof(float)*(size_t)p->n); }
  }
  const float *gx = lf_net_input_grad(net, B);
  CHECK(gx!=0, "%s: input gradient available", name);
  if( gx ){
    float *g = malloc(sizeof(float)*(size_t)nin);
    memcpy(g, gx, sizeof(float)*(size_t)nin);
    double e = probe(net, x, nin, g, xs, B, &rng0, r, nout, &pick);
    CHECK(e < 2e-3, "%s: dL/dinput rel err %.2e", name, e);
    free(g);
  }
  for(int i=0; i<np; i++){
    lf_param *p = lf_net_param(net, i);
    if( !gs[i] ) continue;
    double e = probe(net, p->data, p->n, gs[i], xs, B, &rng0, r, nout, &pick);
    CHECK(e < 2e-3, "%s: dL/d%s rel err %.2e", name, p->name, e);
  }
done:
  for(int i=0; i<np; i++) free(gs[i]);
  free(gs); free(x); free(r);
  lf_net_free(net);
}

static void test_gradients(void){
  char err[512];
  float mask[12] = { 1,1,1,1, 1,1,0,0, 1,0,1,0 };
  lf_test_gradcheck_inputs("MultiheadAttention(2 heads)", attn_net(mha(2, 1, 0, 0), 4, 6, 0, err, sizeof err),
                           err, 3, 0, 1);
  lf_test_gradcheck_inputs("MultiheadAttention(causal)", attn_net(mha(3, 1, 1, 0), 4, 6, 0, err, sizeof err),
                           err, 3, 0, 2);
  lf_test_gradcheck_inputs("MultiheadAttention(key padding mask)", attn_net(mha(2, 1, 0, 0), 4, 6, 1, err, sizeof err),
                           err, 3, mask, 3);
  lf_test_gradcheck_inputs("MultiheadAttention(causal + key padding)", attn_net(mha(1, 1, 1, 0), 4, 6, 1, err, sizeof err),
                           err, 3, mask, 4);
  lf_test_gradcheck_inputs("MultiheadAttention(dropout 0.3, bias=false)", attn_net(mha(2, 0, 0, 0.3), 4, 6, 0, err, sizeof err),
                           err, 3, 0, 5);
}

static lf_layer_spec layer(const char *loc){
  static _Alignas(16) char arena[4096];
  static size_t used;
  const lf_component *c = lf_registry_find_kind(LF_KIND_LAYER, loc);
  lf_layer_spec s;
  memset(&s, 0, sizeof s);
  if( !c ) return s;
  s.ops = c->layer;
  if( c->spec_size ){
    s.args = arena + used;
    used += (c->spec_size + 15) & ~(size_t)15;
    lf_component_defaults(c, (void*)s.args);
  }
  return s;
}

/* The sequence layers around attention: Linear on [T, F] per step,
** PositionalEmbedding (learned and sinusoidal), ClassToken read back
** through Flatten + Slice. */
static void test_sequence_layers(void){
  char err[512];
  lf_shape in = shp(2, 4, 5);
  lf_layer_spec L[6];
  L[0] = layer("Linear"); ((lf_linear_args*)L[0].args)->out = 6;
  L[1] = layer("PositionalEmbedding"); ((lf_posemb_args*)L[1].args)->max_len = 7;
  L[2] = mha(2, 1, 0, 0);
  L[3] = layer("Linear"); ((lf_linear_args*)L[3].args)->out = 3;
  lf_test_gradcheck_inputs("Linear[T,F] -> PositionalEmbedding -> MultiheadAttention -> Linear[T,F]",
                           lf_net_create(L, 4, &in, err, sizeof err), err, 3, 0, 6);
  L[1] = layer("PositionalEmbedding");
  ((lf_posemb_args*)L[1].args)->max_len = 4;
  ((lf_posemb_args*)L[1].args)->sinusoidal = 1;
  L[2] = layer("ClassToken");
  L[3] = mha(3, 1, 0, 0);
  L[4] = layer("Flatten");
  L[5] = layer("Slice"); ((lf_slice_args*)L[5].args)->start = 0; ((lf_slice_args*)L[5].args)->length = 6;
  lf_test_gradcheck_inputs("Linear[T,F] -> sinusoidal positions -> ClassToken -> MultiheadAttention -> step 0",
                           lf_net_create(L, 6, &in, err, sizeof err), err, 2, 0, 7);
  /* Linear on a Conv1d's [C, L] output, which oneDNN keeps blocked. */
  {
    lf_shape cin = shp(2, 3, 9);
    lf_layer_spec C[2];
    C[0] = layer("Conv1d");
    ((lf_conv1d_args*)C[0].args)->out = 16;
    ((lf_conv1d_args*)C[0].args)->kernel = 3;
    C[1] = layer("Linear"); ((lf_linear_args*)C[1].args)->out = 4;
    lf_test_gradcheck_inputs("Conv1d(16) -> Linear on its [C, L] output", lf_net_create(C, 2, &cin, err, sizeof err),
                             err, 2, 0, 10);
  }
  /* The table itself: P[t, 2i] = sin(t / 10000^(2i/E)), P[t, 2i+1] = cos(...). */
  {
    lf_layer_spec P = layer("PositionalEmbedding");
    ((lf_posemb_args*)P.args)->max_len = 4;
    ((lf_posemb_args*)P.args)->sinusoidal = 1;
    lf_net *net = lf_net_create(&P, 1, &in, err, sizeof err);
    float x[20] = {0};
    const float *y = net ? lf_net_forward(net, x, 1, 0, 0, err, sizeof err) : 0;
    double d = 0;
    for(int t=0; y && t<4; t++) for(int i=0; i<5; i++){
      double f = pow(10000.0, -(double)(i - i%2) / 5.0);
      double ref = i%2 ? cos(t*f) : sin(t*f);
      if( fabs(y[t*5+i] - ref) > d ) d = fabs(y[t*5+i] - ref);
    }
    CHECK(y && d < 1e-6, "PositionalEmbedding(sinusoidal): the sin/cos table (max diff %.2e) %s", d, y ? "" : err);
    lf_net_free(net);
  }
  {
    lf_layer_spec P = layer("PositionalEmbedding");
    ((lf_posemb_args*)P.args)->max_len = 3;
    lf_net *net = lf_net_create(&P, 1, &in, err, sizeof err);
    CHECK(net==0 && strstr(err, "max_len 3 is shorter than the sequence (4 steps)"),
          "PositionalEmbedding: a sequence longer than max_len refused (%s)", err);
    lf_net_free(net);
  }
}

/* A net from a config's model (as ppl_new lowers it), inputs x [T, E]
** and, with masked, x_mask [T]. spec is freed by the caller. */
static lf_net *config_net(const char *model, int T, int E, int masked, lf_pipeline_spec *spec,
                          char *err, size_t n){
  char cfg[4096];
  lf_settings st;
  memset(&st, 0, sizeof st);
  memset(spec, 0, sizeof *spec);
  if( lf_settings_parse("{\"metrics\":[\"accuracy\"]}", &st, err, n) ) return 0;
  snprintf(cfg, sizeof cfg, "{\"model\":%s,\"dataset\":{\"loc\":\"csv\",\"args\":{\"label\":\"y\"}},"
           "\"train_data_src\":\"a.csv\",\"val_data_src\":\"a.csv\",\"loss\":{\"loc\":\"MSELoss\"},"
           "\"optimizer\":{\"loc\":\"SGD\",\"args\":{\"lr\":0.1}},\"metrics\":{\"accuracy\":{\"loc\":\"Accuracy\"}}}", model);
  cJSON *j = cJSON_Parse(cfg);
  int rc = j ? lf_config_parse(j, &st, spec, err, n) : -1;
  if( !j ) snprintf(err, n, "bad JSON");
  cJSON_Delete(j);
  lf_settings_free(&st);
  if( rc ) return 0;
  lf_shape in[2] = { shp(2, T, E), shp(1, T, 0) };
  lf_net_graph g;
  (void)masked;
  lf_graph_of(spec, in, &g);
  return lf_net_create_graph(&g, err, n);
}

/* TransformerEncoderLayer lowered from a config: post-norm with dropout
** and a key padding mask, pre-norm with GELU and causal attention, causal
** attention with the key padding mask. */
static void test_encoder_layer(void){
  char err[512];
  lf_pipeline_spec spec;
  float mask[12] = { 1,1,1,1, 1,1,1,0, 1,1,0,0 };
  lf_net *net = config_net("{\"loc\":\"Graph\",\"args\":{\"inputs\":[\"x\",\"x_mask\"],\"nodes\":["
    "{\"name\":\"enc\",\"loc\":\"TransformerEncoderLayer\",\"args\":{\"d_model\":6,\"nhead\":2,\"dim_feedforward\":10,"
    "\"dropout\":0.2},\"in\":[\"x\",\"x_mask\"]}],\"output\":\"enc\"}}", 4, 6, 1, &spec, err, sizeof err);
  const char *want = "enc.self_attn.in_proj_weight enc.self_attn.in_proj_bias enc.self_attn.out_proj.weight "
    "enc.self_attn.out_proj.bias enc.norm1.weight enc.norm1.bias enc.linear1.weight enc.linear1.bias "
    "enc.linear2.weight enc.linear2.bias enc.norm2.weight enc.norm2.bias ";
  char names[1024] = "";
  for(int i=0; net && i<lf_net_param_count(net); i++){
    strcat(names, lf_net_param(net, i)->name);
    strcat(names, " ");
  }
  CHECK(strcmp(names, want)==0, "TransformerEncoderLayer: PyTorch's parameter names (%s)", names);
  fd_step = 2e-3;
  lf_test_gradcheck_inputs("TransformerEncoderLayer(post-norm, dropout 0.2, key padding mask)", net, err, 3, mask, 8);
  fd_step = 1e-2;
  lf_pipeline_spec_free(&spec);
  net = config_net("{\"loc\":\"Sequential\",\"args\":{\"layers\":[{\"loc\":\"TransformerEncoderLayer\",\"args\":"
    "{\"d_model\":6,\"nhead\":3,\"dim_feedforward\":8,\"dropout\":0,\"norm_first\":true,\"activation\":\"gelu\","
    "\"causal\":true}}]}}", 4, 6, 0, &spec, err, sizeof err);
  lf_test_gradcheck_inputs("TransformerEncoderLayer(pre-norm, gelu, causal)", net, err, 3, 0, 9);
  lf_pipeline_spec_free(&spec);
  net = config_net("{\"loc\":\"Graph\",\"args\":{\"inputs\":[\"x\",\"x_mask\"],\"nodes\":["
    "{\"name\":\"enc\",\"loc\":\"TransformerEncoderLayer\",\"args\":{\"d_model\":6,\"nhead\":2,\"dim_feedforward\":10,"
    "\"dropout\":0.1,\"causal\":true},\"in\":[\"x\",\"x_mask\"]}],\"output\":\"enc\"}}", 4, 6, 1, &spec, err, sizeof err);
  fd_step = 2e-3;
  lf_test_gradcheck_inputs("TransformerEncoderLayer(post-norm, causal + key padding mask, dropout 0.1)", net, err, 3, mask, 13);
  fd_step = 1e-2;
  lf_pipeline_spec_free(&spec);
  net = config_net("{\"loc\":\"Sequential\",\"args\":{\"layers\":[{\"loc\":\"TransformerEncoderLayer\",\"args\":"
    "{\"d_model\":6,\"nhead\":2,\"activation\":\"tanh\"}}]}}", 4, 6, 0, &spec, err, sizeof err);
  CHECK(net==0 && strstr(err, "activation must be \"relu\" or \"gelu\""), "TransformerEncoderLayer: bad activation refused (%s)", err);
  lf_pipeline_spec_free(&spec);
  net = config_net("{\"loc\":\"Sequential\",\"args\":{\"layers\":[{\"loc\":\"TransformerEncoderLayer\",\"args\":"
    "{\"d_model\":6,\"nhead\":2,\"dropout\":1.5}}]}}", 4, 6, 0, &spec, err, sizeof err);
  CHECK(net==0 && strstr(err, "model>args>layers[0] (TransformerEncoderLayer)>args>dropout = 1.5 is out of range"),
        "TransformerEncoderLayer: dropout out of range refused (%s)", err);
  lf_pipeline_spec_free(&spec);
}

/* ClassToken with a key padding mask: the class token goes in front of
** the sequence and, through a ClassToken node of its own, a valid step in
** front of the mask ([T] -> [T+1], 1 first). Gradients of the whole
** encoder layer; the padded steps leave every valid output unchanged; a
** mask left one step short is refused with the fix. */
static void test_class_token_mask(void){
  char err[512];
  lf_pipeline_spec spec;
  const int B = 3, T = 4, E = 6;
  float mask[12] = { 1,1,1,1, 1,1,0,0, 1,0,0,0 };
  const char *model = "{\"loc\":\"Graph\",\"args\":{\"inputs\":[\"x\",\"x_mask\"],\"nodes\":["
    "{\"name\":\"cls\",\"loc\":\"ClassToken\",\"in\":[\"x\"]},"
    "{\"name\":\"cls_mask\",\"loc\":\"ClassToken\",\"in\":[\"x_mask\"]},"
    "{\"name\":\"enc\",\"loc\":\"TransformerEncoderLayer\",\"args\":{\"d_model\":6,\"nhead\":2,"
    "\"dim_feedforward\":10,\"dropout\":0.1},\"in\":[\"cls\",\"cls_mask\"]}],\"output\":\"enc\"}}";
  lf_net *net = config_net(model, T, E, 1, &spec, err, sizeof err);
  CHECK(net!=0, "ClassToken(mask): built (%s)", net ? "" : err);
  if( net ){
    lf_shape o = lf_net_out_shape(net);
    CHECK(o.ndim==2 && o.dim[0]==T+1 && o.dim[1]==E, "ClassToken(mask): encoder output [T+1, E]");
    CHECK(lf_net_param_count(net)==13 && strcmp(lf_net_param(net, 0)->name, "cls.weight")==0,
          "ClassToken(mask): the mask's ClassToken has no parameter (%d parameters, first %s)",
          lf_net_param_count(net), lf_net_param(net, 0)->name);
  }
  fd_step = 2e-3;
  lf_test_gradcheck_inputs("ClassToken + ClassToken(mask) -> TransformerEncoderLayer(key padding, dropout 0.1)",
                           net, err, B, mask, 12);
  fd_step = 1e-2;
  lf_pipeline_spec_free(&spec);
  /* Padding does not leak: new values at padded steps leave the outputs
  ** of the class token and of every valid step as they were. */
  net = config_net(model, T, E, 1, &spec, err, sizeof err);
  if( net ){
    lf_rng rng;
    lf_rng_seed(&rng, 5);
    lf_net_init_params(net, &rng);
    lf_param *tok = lf_net_param(net, 0);
    for(int64_t j=0; j<tok->n; j++) tok->data[j] = lf_rng_normal(&rng);
    float *x = randn(B*T*E, &rng), *y0 = malloc(sizeof(float) * B*(T+1)*E);
    const float *xs[2] = { x, mask };
    const float *y = lf_net_forward_inputs(net, xs, B, 0, 0, err, sizeof err);
    CHECK(y!=0, "ClassToken(mask): forward (%s)", y ? "" : err);
    if( y ){
      double d = 0;
      int moved = 0;
      memcpy(y0, y, sizeof(float) * B*(T+1)*E);
      for(int b=0; b<B; b++) for(int t=0; t<T; t++) if( mask[b*T+t] < 0.5f )
        for(int e=0; e<E; e++) x[(b*T+t)*E+e] += 3.0f;
      y = lf_net_forward_inputs(net, xs, B, 0, 0, err, sizeof err);
      for(int b=0; y && b<B; b++) for(int t=0; t<=T; t++){
        int valid = t==0 || mask[b*T+t-1] > 0.5f;
        for(int e=0; e<E; e++){
          double v = fabs(y[(b*(T+1)+t)*E+e] - y0[(b*(T+1)+t)*E+e]);
          if( valid && v > d ) d = v;
          if( !valid && v > 1e-3 ) moved = 1;
        }
      }
      CHECK(y && d < 1e-6, "ClassToken(mask): padded steps change no valid output (max diff %.2e)", d);
      CHECK(y && moved, "ClassToken(mask): the padded steps' own outputs do change (the test moves them)");
    }
    free(x); free(y0);
    lf_net_free(net);
  }
  lf_pipeline_spec_free(&spec);
  /* The mask given as it is (one step short) names the fix. */
  net = config_net("{\"loc\":\"Graph\",\"args\":{\"inputs\":[\"x\",\"x_mask\"],\"nodes\":["
    "{\"name\":\"cls\",\"loc\":\"ClassToken\",\"in\":[\"x\"]},"
    "{\"name\":\"enc\",\"loc\":\"TransformerEncoderLayer\",\"args\":{\"d_model\":6,\"nhead\":2},"
    "\"in\":[\"cls\",\"x_mask\"]}],\"output\":\"enc\"}}", T, E, 1, &spec, err, sizeof err);
  CHECK(net==0 && strstr(err, "key padding mask has 4 steps, one fewer than the sequence [5,6]")
        && strstr(err, "\"loc\": \"ClassToken\", \"in\": [\"x_mask\"]"),
        "ClassToken: an unshifted mask refused with the fix (%s)", err);
  lf_net_free(net);
  lf_pipeline_spec_free(&spec);
}

static void test_errors(void){
  char err[512];
  lf_net *net = attn_net(mha(4, 1, 0, 0), 5, 6, 0, err, sizeof err);
  CHECK(net==0 && strstr(err, "not divisible by num_heads"), "MultiheadAttention: E %% heads refused (%s)", err);
  lf_net_free(net);
  lf_layer_spec L = mha(2, 1, 0, 0);
  lf_shape bad = shp(1, 12, 0);
  net = lf_net_create(&L, 1, &bad, err, sizeof err);
  CHECK(net==0 && strstr(err, "expects a sequence [time, embed_dim]"), "MultiheadAttention: vector input refused (%s)", err);
  lf_net_free(net);
  ((lf_mha_args*)L.args)->embed_dim = 8;
  lf_shape in = shp(2, 5, 6);
  net = lf_net_create(&L, 1, &in, err, sizeof err);
  CHECK(net==0 && strstr(err, "embed_dim 8 does not match"), "MultiheadAttention: wrong embed_dim refused (%s)", err);
  lf_net_free(net);
}

int main(void){
  test_forward();
  test_gradients();
  test_sequence_layers();
  test_encoder_layer();
  test_class_token_mask();
  test_errors();
  TEST_EXIT();
}
