/*
** myplugin.c — an example LabFlow plugin: a custom activation layer, a
** custom loss and a custom metric (docs/plugins.md walks through it).
**
**   myplugin.Swish       layer   y = x * sigmoid(beta * x)
**   myplugin.FocalLoss   loss    softmax focal loss, -(1 - p_t)^gamma log p_t
**   myplugin.Brier       metric  mean over samples of sum_j (p_j - onehot_j)^2
**   myplugin.ExpDecay    scheduler  lr * gamma^epoch
**   myplugin.Lion        optimizer  sign of an interpolated momentum (Chen et al. 2023)
**   myplugin.Points      dataset  a text file of "x1 ... xF label" lines
**
** Build: make (see Makefile), then in SQL:
**   SELECT lab_load_plugin('./examples/plugin/myplugin.so');
*/
#include <labflow_plugin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

static const lfp_host *H;   /* LabFlow's helpers, set at registration */

/* ---- myplugin.Swish ------------------------------------------------------ */

typedef struct swish_args { double beta; } swish_args;

static const lfp_arg_spec swish_arg_spec[] = {
  {"beta", LFP_ARG_NUM, 0, 1, 1.0, 0, 100, 0, offsetof(swish_args, beta), 0, "slope inside the sigmoid"},
  {0}
};

/* The layer works on plain row-major f32 data: an input in another layout
** (e.g. blocked, from a convolution) is reordered into `in`, and the input
** gradient back out of `dsrc`. */
typedef struct swish_state {
  lfp_relayout in, dsrc;
  int64_t n;                /* values per batch */
} swish_state;

static int swish_infer(const void *args, const lfp_shape *in, int nin, lfp_shape *out,
                       char *err, size_t errlen){
  (void)args; (void)nin; (void)err; (void)errlen;
  *out = *in;               /* element-wise: same shape */
  return 0;
}

static void swish_release(void *p){
  swish_state *s = p;
  if( !s ) return;
  H->relayout_free(&s->in);
  H->relayout_free(&s->dsrc);
  free(s);
}

static int swish_build(const lfp_layer *L, lfp_layer_build *b, char *err, size_t errlen){
  if( b->src_md->data_type != dnnl_f32 ){
    snprintf(err, errlen, "myplugin.Swish computes in float32 only; use precision \"f32\"");
    return -1;
  }
  swish_state *s = calloc(1, sizeof *s);
  if( !s ){ snprintf(err, errlen, "out of memory"); return -1; }
  dnnl_memory_desc_t plain;
  if( H->md(&plain, b->batch, &L->in, 0, err, errlen)
   || H->relayout_init(&s->in, b->src_md, &plain, 1, err, errlen)
   || (b->need_diff_src && H->relayout_init(&s->dsrc, b->src_md, &plain, 0, err, errlen)) ){
    swish_release(s);
    return -1;
  }
  s->n = H->shape_count(&L->in) * b->batch;
  b->dst_md = plain;        /* our output (and its gradient) is plain */
  b->state = s;
  return 0;
}

static float sigmoidf(float v){ return 1.0f / (1.0f + expf(-v)); }

static int swish_forward(const lfp_layer *L, void *state, const lfp_layer_run *run,
                         char *err, size_t errlen){
  swish_state *s = state;
  float beta = (float)((const swish_args*)L->args)->beta;
  if( H->relayout_run(&s->in, run->src, run->stream, err, errlen)
   || H->stream_wait(run->stream, err, errlen) ) return -1;
  const float *x = H->ptr(H->relayout_mem(&s->in, run->src));
  float *y = H->ptr(run->dst);
  for(int64_t i=0; i<s->n; i++) y[i] = x[i] * sigmoidf(beta * x[i]);
  return 0;
}

/* dy/dx = sig + beta * x * sig * (1 - sig), sig = sigmoid(beta * x). The
** forward's input is still in `in` (or run->src) when backward runs. */
static int swish_backward(const lfp_layer *L, void *state, const lfp_layer_run *run,
                          char *err, size_t errlen){
  swish_state *s = state;
  if( !run->diff_src ) return 0;        /* nobody needs dL/dinput */
  float beta = (float)((const swish_args*)L->args)->beta;
  const float *x = H->ptr(H->relayout_mem(&s->in, run->src));
  const float *dy = H->ptr(run->diff_dst);
  float *dx = H->ptr(H->relayout_mem(&s->dsrc, run->diff_src));
  for(int64_t i=0; i<s->n; i++){
    float sig = sigmoidf(beta * x[i]);
    dx[i] = dy[i] * (sig + beta * x[i] * sig * (1.0f - sig));
  }
  return H->relayout_run(&s->dsrc, run->diff_src, run->stream, err, errlen)
      || H->stream_wait(run->stream, err, errlen) ? -1 : 0;
}

static const lfp_layer_ops swish_ops = {
  .infer = swish_infer, .build = swish_build, .forward = swish_forward,
  .backward = swish_backward, .release = swish_release,
};

static const lfp_layer_def swish = {
  "Swish", "x * sigmoid(beta * x), element-wise.", swish_arg_spec, sizeof(swish_args), NULL, &swish_ops
};

/* ---- myplugin.FocalLoss --------------------------------------------------- */

typedef struct focal_args { double gamma; } focal_args;

static const lfp_arg_spec focal_arg_spec[] = {
  {"gamma", LFP_ARG_NUM, 0, 1, 2.0, 0, 10, 0, offsetof(focal_args, gamma), 0,
   "focusing exponent (0: cross-entropy)"},
  {0}
};

/* Softmax of one row, in double. */
static void softmax(const float *z, int k, double *p){
  double m = z[0], sum = 0;
  for(int j=1; j<k; j++) if( z[j] > m ) m = z[j];
  for(int j=0; j<k; j++){ p[j] = exp((double)z[j] - m); sum += p[j]; }
  for(int j=0; j<k; j++) p[j] /= sum;
}

/* Mean over the batch of -(1 - p_t)^g log p_t; dL/dz_j =
** f'(p_t) p_t (delta_jt - p_j) / batch with f'(p) = g (1-p)^(g-1) log p - (1-p)^g / p. */
static double focal_compute(const void *args, const float *y, const float *target,
                            int batch, int nout, float *dy){
  double g = ((const focal_args*)args)->gamma, total = 0;
  double *p = malloc(sizeof(double) * (size_t)nout);
  if( !p ) return NAN;
  for(int i=0; i<batch; i++){
    int t = (int)target[i];
    if( t < 0 || t >= nout ){ free(p); return NAN; }
    softmax(y + (int64_t)i*nout, nout, p);
    double pt = p[t] > 1e-300 ? p[t] : 1e-300, lp = log(pt), q = 1.0 - pt;
    total += -pow(q, g) * lp;
    if( dy ){
      double df = (g > 0 ? g * pow(q, g - 1) * lp : 0) - pow(q, g) / pt;
      for(int j=0; j<nout; j++){
        dy[(int64_t)i*nout + j] = (float)(df * pt * ((j==t) - p[j]) / batch);
      }
    }
  }
  free(p);
  return total / batch;
}

static const lfp_loss_def focal = {
  "FocalLoss", "Softmax focal loss on logits; targets are class indices.",
  focal_arg_spec, sizeof(focal_args), NULL, 1, focal_compute
};

/* ---- myplugin.Brier -------------------------------------------------------- */

typedef struct brier_acc { int nout; double sum; int64_t n; double *p; } brier_acc;

static void *brier_create(const void *args, int nout){
  (void)args;
  brier_acc *a = calloc(1, sizeof *a);
  if( !a ) return NULL;
  a->nout = nout;
  a->p = malloc(sizeof(double) * (size_t)nout);
  if( !a->p ){ free(a); return NULL; }
  return a;
}
static void brier_reset(void *acc){ brier_acc *a = acc; a->sum = 0; a->n = 0; }
static void brier_update(void *acc, const float *y, const float *target, int batch){
  brier_acc *a = acc;
  for(int i=0; i<batch; i++){
    softmax(y + (int64_t)i*a->nout, a->nout, a->p);
    for(int j=0; j<a->nout; j++){
      double d = a->p[j] - (j==(int)target[i]);
      a->sum += d*d;
    }
    a->n++;
  }
}
static double brier_value(const void *acc){
  const brier_acc *a = acc;
  return a->n ? a->sum / (double)a->n : NAN;
}
static void brier_destroy(void *acc){
  brier_acc *a = acc;
  if( a ) free(a->p);
  free(a);
}

static const lfp_metric_def brier = {
  "Brier", "Brier score of the softmax probabilities (lower is better).", NULL, 0, NULL,
  brier_create, brier_reset, brier_update, brier_value, brier_destroy
};

/* ---- myplugin.ExpDecay ------------------------------------------------------ */

typedef struct expdecay_args { double gamma; } expdecay_args;

static const lfp_arg_spec expdecay_arg_spec[] = {
  {"gamma", LFP_ARG_NUM, 1, 0, 0, 0, 1, 1, offsetof(expdecay_args, gamma), 0, "lr factor per epoch (0 < gamma <= 1)"},
  {0}
};

/* Closed form: the rate of any epoch without state, so resume is exact. */
static double expdecay_lr(const void *args, double base_lr, int64_t epoch){
  return base_lr * pow(((const expdecay_args*)args)->gamma, (double)epoch);
}

static const lfp_scheduler_def expdecay = {
  "ExpDecay", "lr * gamma^epoch, stepped per epoch.", expdecay_arg_spec, sizeof(expdecay_args), NULL, expdecay_lr
};

/* ---- myplugin.Lion ---------------------------------------------------------- */

typedef struct lion_args { double beta1, beta2, weight_decay; } lion_args;

static const lfp_arg_spec lion_arg_spec[] = {
  {"beta1", LFP_ARG_NUM, 0, 1, 0.9, 0, 1, 0, offsetof(lion_args, beta1), 0, "interpolation of the update direction"},
  {"beta2", LFP_ARG_NUM, 0, 1, 0.99, 0, 1, 0, offsetof(lion_args, beta2), 0, "momentum decay"},
  {"weight_decay", LFP_ARG_NUM, 0, 1, 0, 0, 10, 0, offsetof(lion_args, weight_decay), 0, "decoupled weight decay"},
  {0}
};

/* One buffer per parameter, "exp_avg", saved with the checkpoints:
**   c = beta1 m + (1 - beta1) g;  w -= lr (sign(c) + wd w);  m = beta2 m + (1 - beta2) g */
static void lion_step(const void *args, double lr, int64_t t, float *w, const float *g,
                      int64_t n, int decay, float *const *state){
  const lion_args *a = args;
  float *m = state[0];
  float b1 = (float)a->beta1, b2 = (float)a->beta2, step = (float)lr;
  float wd = decay ? (float)a->weight_decay : 0.0f;
  (void)t;
  for(int64_t i=0; i<n; i++){
    float c = b1 * m[i] + (1.0f - b1) * g[i];
    float sign = (c > 0.0f) - (c < 0.0f);
    w[i] -= step * (sign + wd * w[i]);
    m[i] = b2 * m[i] + (1.0f - b2) * g[i];
  }
}

static const lfp_optimizer_def lion = {
  "Lion", "Lion: sign of an interpolated momentum; use a learning rate about 10x below Adam's.",
  lion_arg_spec, sizeof(lion_args), NULL, 1, {"exp_avg"}, lion_step
};

/* ---- myplugin.Points -------------------------------------------------------- */

typedef struct points_args { int features; } points_args;

static const lfp_arg_spec points_arg_spec[] = {
  {"features", LFP_ARG_INT, 1, 0, 0, 1, 1000, 0, offsetof(points_args, features), 0, "numbers per line before the label"},
  {0}
};

/* Two passes over the file: count the lines, then read them into the
** buffers LabFlow allocates (and later frees). */
static int points_load(const void *args, const char *src, lfp_data *out, char *err, size_t errlen){
  int f = ((const points_args*)args)->features;
  FILE *in = fopen(src, "r");
  if( !in ){ snprintf(err, errlen, "myplugin.Points: cannot open %s", src); return -1; }
  int64_t n = 0;
  char line[4096];
  while( fgets(line, sizeof line, in) ) if( line[0] != '\n' && line[0] != '#' ) n++;
  lfp_shape shape = { 1, { f } };
  if( H->data_alloc(out, n, &shape, err, errlen) ){ fclose(in); return -1; }
  rewind(in);
  int64_t i = 0;
  while( i < n && fgets(line, sizeof line, in) ){
    if( line[0] == '\n' || line[0] == '#' ) continue;
    char *p = line, *end;
    for(int j=0; j<=f; j++){
      double v = strtod(p, &end);
      if( end == p ){
        snprintf(err, errlen, "myplugin.Points: %s line %lld: expected %d numbers and a label", src, (long long)i + 1, f);
        fclose(in);
        return -1;
      }
      if( j < f ) out->x[i*f + j] = (float)v; else out->y[i] = (float)v;
      p = end;
    }
    i++;
  }
  fclose(in);
  return 0;
}

static const lfp_dataset_def points = {
  "Points", "A text file of lines \"x1 ... xF label\" ('#' starts a comment line).",
  points_arg_spec, sizeof(points_args), NULL, points_load
};

/* ---- registration ---------------------------------------------------------- */

static int register_all(lfp_registrar *r, const lfp_host *host, char *err, size_t errlen){
  (void)err; (void)errlen;
  H = host;
  if( host->add_layer(r, &swish) || host->add_loss(r, &focal) || host->add_metric(r, &brier)
   || host->add_scheduler(r, &expdecay) || host->add_optimizer(r, &lion) || host->add_dataset(r, &points) ) return -1;
  return 0;
}

LABFLOW_PLUGIN("myplugin", "1.0", register_all);
