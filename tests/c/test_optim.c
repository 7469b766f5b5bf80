/*
** test_optim.c — kernels/lf_optim.c against PyTorch 1.13: several steps of
** SGD (plain, momentum, nesterov), Adam (with and without L2), AdamW, and
** StepLR / CosineAnnealingLR; exact resume from the exported state.
**
** Expected numbers were produced once with PyTorch 1.13 (Debian's
** /usr/bin/python3), float32 tensors:
**   w = torch.tensor(W0).reshape(3,2); b = torch.tensor(B0)
**   opt = Opt([{"params":[w], "weight_decay":wd},
**              {"params":[b], "weight_decay":0.0}], lr=..., ...)
**   [sched = StepLR(opt, ...) / CosineAnnealingLR(opt, ...)]
**   for s in range(steps):
**     w.grad = G(s, 0, 6).reshape(3,2); b.grad = G(s, 1, 3)
**     opt.step(); [sched.step()]
** with G(s, pi, n)[i] = float32(sin(0.7*i + 1.3*s + pi) * (1 + pi)), and
** then w, b and opt.state[p] (momentum_buffer / exp_avg, exp_avg_sq)
** printed with %.9g. The bias group has weight_decay 0, which is what
** lf_param.decay==0 means here. torch is not needed to run this test.
*/
#include "lf_test.h"
#include "lf_optim.h"

#include <math.h>
#include <stdlib.h>

static const float W0[6] = { 0.5f, -0.25f, 1.0f, 0.75f, -1.5f, 0.125f };
static const float B0[3] = { 0.1f, -0.2f, 0.3f };

typedef struct optim_case {
  const char *name;
  lf_optim_spec spec;
  int steps;
  int epoch_per_step;       /* scheduler stepped after every step */
  float w[6], b[3];         /* params after the steps */
  float sw[2][6], sb[2][3]; /* optimizer state of w and b, in state order */
} optim_case;

/* lf_optim_spec fields: kind, lr, momentum, nesterov, weight_decay,
** beta1, beta2, eps, sched, step_size, gamma, t_max, eta_min */
static const optim_case cases[] = {
  { "sgd", { LF_OPT_SGD, 0.1, 0.0, 0, 0.01, 0, 0, 0, LF_SCHED_NONE, 0, 0, 0, 0 }, 4, 0,
    { 0.419117838f, -0.288850278f, 1.01393509f, 0.814279199f, -1.40902913f, 0.187218517f },
    { 0.0675593913f, -0.117070459f, 0.459296674f },
    { { 0 } },
    { { 0 } } },
  { "sgd momentum", { LF_OPT_SGD, 0.1, 0.9, 0, 0.01, 0, 0, 0, LF_SCHED_NONE, 0, 0, 0, 0 }, 4, 0,
    { 0.205607116f, -0.585455418f, 0.764243901f, 0.734126449f, -1.27364218f, 0.458492398f },
    { -0.518287659f, -0.484157711f, 0.483616054f },
    { { 0.570604503f, 0.0561747551f, -0.42010805f, -0.734125495f, -0.759373188f, -0.318761468f } },
    { { -0.326535106f, -1.23717034f, -1.56594515f } } },
  { "sgd nesterov", { LF_OPT_SGD, 0.1, 0.8, 1, 0.05, 0, 0, 0, LF_SCHED_NONE, 0, 0, 0, 0 }, 4, 0,
    { 0.192597896f, -0.495588779f, 0.8337363f, 0.794859648f, -1.1793642f, 0.405617148f },
    { -0.336369157f, -0.27568838f, 0.620589912f },
    { { 0.390399873f, -0.279740095f, -0.545957088f, -0.704380929f, -0.769856811f, -0.0146762729f } },
    { { -0.856769204f, -1.53230047f, -1.487167f } } },
  { "adam", { LF_OPT_ADAM, 0.01, 0, 0, 0.0, 0.9, 0.999, 1e-8, LF_SCHED_NONE, 0, 0, 0, 0 }, 4, 0,
    { 0.481965601f, -0.276934057f, 0.980496705f, 0.741413832f, -1.49559367f, 0.153734729f },
    { 0.0758438259f, -0.215345651f, 0.297273308f },
    { { 0.0556667224f, 0.00705033261f, -0.0448819175f, -0.0757055059f, -0.070923619f, -0.0327852368f }, { 0.00166508683f, 0.00225122226f, 0.00241533574f, 0.00188498781f, 0.00154059113f, 0.0019538668f } },
    { { -0.0326535292f, -0.123717025f, -0.156594515f }, { 0.00968703069f, 0.0089493813f, 0.00661578961f } } },
  { "adam l2", { LF_OPT_ADAM, 0.01, 0, 0, 0.1, 0.8, 0.99, 1e-6, LF_SCHED_NONE, 0, 0, 0, 0 }, 4, 0,
    { 0.470797032f, -0.274701029f, 0.980142891f, 0.740761459f, -1.49022365f, 0.152459443f },
    { 0.077868931f, -0.212994412f, 0.299056768f },
    { { 0.0968297049f, -0.0573480427f, -0.0737500489f, -0.116513982f, -0.201756537f, -0.00446732948f }, { 0.0173202548f, 0.0221355595f, 0.0238369573f, 0.0177829955f, 0.0186281465f, 0.0192059036f } },
    { { -0.171353787f, -0.306460083f, -0.297433406f }, { 0.095645301f, 0.0881269574f, 0.0651384965f } } },
  { "adamw", { LF_OPT_ADAMW, 0.01, 0, 0, 0.01, 0.9, 0.999, 1e-8, LF_SCHED_NONE, 0, 0, 0, 0 }, 4, 0,
    { 0.481767893f, -0.276828408f, 0.980101705f, 0.741117477f, -1.49499226f, 0.153679073f },
    { 0.0758438259f, -0.215345651f, 0.297273308f },
    { { 0.0556667224f, 0.00705033261f, -0.0448819175f, -0.0757055059f, -0.070923619f, -0.0327852368f }, { 0.00166508683f, 0.00225122226f, 0.00241533574f, 0.00188498781f, 0.00154059113f, 0.0019538668f } },
    { { -0.0326535292f, -0.123717025f, -0.156594515f }, { 0.00968703069f, 0.0089493813f, 0.00661578961f } } },
  { "adamw big decay", { LF_OPT_ADAMW, 0.05, 0, 0, 0.5, 0.5, 0.9, 1e-3, LF_SCHED_NONE, 0, 0, 0, 0 }, 4, 0,
    { 0.372434676f, -0.314343959f, 0.863069236f, 0.683863878f, -1.31895781f, 0.223222077f },
    { 0.0261775814f, -0.225409254f, 0.32199955f },
    { { -0.0945629478f, -0.382356167f, -0.490321279f, -0.367680609f, -0.0721140355f, 0.257368892f }, { 0.146422967f, 0.198208958f, 0.206403345f, 0.157402888f, 0.132551581f, 0.173104227f } },
    { { -0.912102699f, -0.930111527f, -0.510674417f }, { 0.843224883f, 0.754780233f, 0.555143893f } } },
  { "sgd momentum + StepLR", { LF_OPT_SGD, 0.1, 0.9, 0, 0.01, 0, 0, 0, LF_SCHED_STEP, 2, 0.5, 0, 0 }, 5, 1,
    { 0.313022137f, -0.515827179f, 0.767191112f, 0.666898966f, -1.38279796f, 0.36523357f },
    { -0.432092309f, -0.545692801f, 0.30329141f },
    { { -0.366244078f, -0.328031808f, -0.0586962104f, 0.19621104f, 0.291592002f, 0.379220247f } },
    { { -0.460060418f, 0.0434262753f, 0.526488662f } } },
  { "adamw + CosineAnnealingLR", { LF_OPT_ADAMW, 0.01, 0, 0, 0.01, 0.9, 0.999, 1e-8, LF_SCHED_COSINE, 0, 0, 3, 0.001 }, 5, 1,
    { 0.491662323f, -0.269496083f, 0.982287884f, 0.737425089f, -1.50412011f, 0.144486338f },
    { 0.0810461789f, -0.215759277f, 0.290973097f },
    { { -0.0382454209f, -0.0310423672f, -0.0092395898f, 0.0169087071f, 0.0351045728f, 0.0367902108f }, { 0.00244391407f, 0.00238875486f, 0.00250997837f, 0.00260634534f, 0.00251788041f, 0.00239144126f } },
    { { -0.0460060574f, 0.00434263516f, 0.0526488684f }, { 0.00970495958f, 0.0102788024f, 0.0103566479f } } },
};

/* A small net: a weight (decayed), a bias (not decayed) and a running
** statistic without grad, which the optimizer must neither touch nor
** give state. */
typedef struct toy_net {
  float w[6], gw[6], b[3], gb[3], rm[3];
  lf_param pw, pb, prm;
  lf_param *params[3];
} toy_net;

static void toy_init(toy_net *t){
  int i;
  memset(t, 0, sizeof(*t));
  for(i=0; i<6; i++) t->w[i] = W0[i];
  for(i=0; i<3; i++){ t->b[i] = B0[i]; t->rm[i] = 0.5f + i; }
  strcpy(t->pw.name, "0.weight");
  t->pw.shape.ndim = 2; t->pw.shape.dim[0] = 3; t->pw.shape.dim[1] = 2;
  t->pw.n = 6; t->pw.data = t->w; t->pw.grad = t->gw; t->pw.decay = 1;
  strcpy(t->pb.name, "0.bias");
  t->pb.shape.ndim = 1; t->pb.shape.dim[0] = 3;
  t->pb.n = 3; t->pb.data = t->b; t->pb.grad = t->gb; t->pb.decay = 0;
  strcpy(t->prm.name, "1.running_mean");
  t->prm.shape.ndim = 1; t->prm.shape.dim[0] = 3;
  t->prm.n = 3; t->prm.data = t->rm; t->prm.grad = 0; t->prm.decay = 1;
  t->params[0] = &t->pw; t->params[1] = &t->prm; t->params[2] = &t->pb;
}

static void toy_grads(toy_net *t, int step){
  int i;
  for(i=0; i<6; i++) t->gw[i] = (float)(sin(0.7*i + 1.3*step + 0) * 1.0);
  for(i=0; i<3; i++) t->gb[i] = (float)(sin(0.7*i + 1.3*step + 1) * 2.0);
}

static int close_f(float got, float want){
  /* float32 rounding only: torch may fuse a+alpha*b into an FMA. */
  return fabsf(got - want) <= 2e-6f * fmaxf(fabsf(got), fabsf(want)) + 1e-7f;
}

static int all_close(const float *got, const float *want, int n, int *bad){
  int i;
  for(i=0; i<n; i++) if( !close_f(got[i], want[i]) ){ *bad = i; return 0; }
  return 1;
}

static void run_case(const optim_case *c){
  toy_net t;
  lf_optim *o;
  int s, bad = 0, nper, j, ok;
  toy_init(&t);
  o = lf_optim_create(&c->spec, t.params, 3);
  CHECK(o!=0, "%s: created", c->name);
  if( o==0 ) return;
  for(s=0; s<c->steps; s++){
    toy_grads(&t, s);
    lf_optim_step(o);
    if( c->epoch_per_step ) lf_optim_epoch_end(o);
  }
  ok = all_close(t.w, c->w, 6, &bad);
  CHECK(ok, "%s: weight after %d steps equals torch (w[%d] %.9g vs %.9g)",
        c->name, c->steps, bad, t.w[bad], c->w[bad]);
  ok = all_close(t.b, c->b, 3, &bad);
  CHECK(ok, "%s: bias after %d steps equals torch (b[%d] %.9g vs %.9g)",
        c->name, c->steps, bad, t.b[bad], c->b[bad]);
  CHECK(t.rm[0]==0.5f && t.rm[1]==1.5f && t.rm[2]==2.5f,
        "%s: param without grad untouched", c->name);

  nper = c->spec.kind==LF_OPT_SGD ? (c->spec.momentum!=0 ? 1 : 0) : 2;
  CHECK(lf_optim_state_count(o)==2*nper, "%s: %d state tensors",
        c->name, lf_optim_state_count(o));
  for(j=0; j<nper && lf_optim_state_count(o)==2*nper; j++){
    static const char *const sgd_sfx[] = { "momentum_buffer" };
    static const char *const adam_sfx[] = { "exp_avg", "exp_avg_sq" };
    const char *sfx = c->spec.kind==LF_OPT_SGD ? sgd_sfx[j] : adam_sfx[j];
    char want[64];
    lf_param *sw = lf_optim_state(o, j), *sb = lf_optim_state(o, nper + j);
    if( sw==0 || sb==0 ){ CHECK(0, "%s: state %d exists", c->name, j); break; }
    snprintf(want, sizeof want, "0.weight.%s", sfx);
    CHECK(strcmp(sw->name, want)==0 && sw->n==6 && sw->shape.ndim==2
          && sw->shape.dim[0]==3 && sw->shape.dim[1]==2,
          "%s: state %d is %s [3,2]", c->name, j, sw->name);
    ok = all_close(sw->data, c->sw[j], 6, &bad);
    CHECK(ok, "%s: %s equals torch ([%d] %.9g vs %.9g)", c->name, sw->name,
          bad, sw->data[bad], c->sw[j][bad]);
    snprintf(want, sizeof want, "0.bias.%s", sfx);
    CHECK(strcmp(sb->name, want)==0 && sb->n==3, "%s: state %d is %s",
          c->name, nper + j, sb->name);
    ok = all_close(sb->data, c->sb[j], 3, &bad);
    CHECK(ok, "%s: %s equals torch ([%d] %.9g vs %.9g)", c->name, sb->name,
          bad, sb->data[bad], c->sb[j][bad]);
  }
  CHECK(lf_optim_state(o, -1)==0 && lf_optim_state(o, 2*nper)==0,
        "%s: state index out of range gives NULL", c->name);
  lf_optim_free(o);
}

/* Learning rates at epochs 0..7, from torch's scheduler.step() on
** SGD(lr=0.5) (printed with %.17g). */
static void test_schedules(void){
  static const double step_lr[8] = { 0.5, 0.5, 0.5, 0.050000000000000003,
    0.050000000000000003, 0.050000000000000003, 0.005000000000000001,
    0.005000000000000001 };
  static const double cos_lr[8] = { 0.5, 0.45320916362186214,
    0.33070916362186215, 0.17929083637813789, 0.0567908363781379, 0.01,
    0.056790836378137872, 0.17929083637813795 };
  lf_optim_spec s = { LF_OPT_SGD, 0.5, 0, 0, 0, 0, 0, 0, LF_SCHED_STEP, 3,
                      0.1, 0, 0 };
  toy_net t;
  lf_optim *o;
  int e, ok;
  toy_init(&t);
  o = lf_optim_create(&s, t.params, 3);
  for(e=0, ok=1; o && e<8; e++){
    if( fabs(lf_optim_lr(o) - step_lr[e])>1e-12*step_lr[e] ) ok = 0;
    lf_optim_epoch_end(o);
  }
  CHECK(o && ok, "StepLR(3, 0.1) over 8 epochs equals torch");
  lf_optim_free(o);
  s.sched = LF_SCHED_COSINE; s.t_max = 5; s.eta_min = 0.01;
  o = lf_optim_create(&s, t.params, 3);
  for(e=0, ok=1; o && e<8; e++){
    if( fabs(lf_optim_lr(o) - cos_lr[e])>1e-12*cos_lr[e] ) ok = 0;
    lf_optim_epoch_end(o);
  }
  CHECK(o && ok, "CosineAnnealingLR(5, 0.01) over 8 epochs (past T_max) equals torch");
  /* Restoring the epoch counter restores the learning rate. */
  if( o ){
    lf_optim_set_counters(o, 0, 2);
    CHECK(fabs(lf_optim_lr(o) - cos_lr[2])<1e-15, "set_counters restores the scheduled lr");
  }
  lf_optim_free(o);
}

/* Two steps, export state and counters, import into a fresh optimizer,
** two more steps: bit-identical to four uninterrupted steps. */
static void test_resume(lf_optim_kind kind, double momentum){
  lf_optim_spec s = { kind, 0.01, momentum, 0, 0.01, 0.9, 0.999, 1e-8,
                      LF_SCHED_COSINE, 0, 0, 3, 0.0 };
  toy_net a, b;
  lf_optim *oa, *ob, *oc;
  int i, k, same = 1;
  int64_t st, ep;
  toy_init(&a); toy_init(&b);
  oa = lf_optim_create(&s, a.params, 3);
  ob = lf_optim_create(&s, b.params, 3);
  if( oa==0 || ob==0 ){ CHECK(0, "resume: create"); return; }
  for(k=0; k<4; k++){ toy_grads(&a, k); lf_optim_step(oa); lf_optim_epoch_end(oa); }
  for(k=0; k<2; k++){ toy_grads(&b, k); lf_optim_step(ob); lf_optim_epoch_end(ob); }
  /* "checkpoint": copy params and optimizer state, drop the optimizer */
  oc = lf_optim_create(&s, b.params, 3);
  if( oc==0 ){ CHECK(0, "resume: create"); return; }
  for(i=0; i<lf_optim_state_count(ob); i++){
    lf_param *src = lf_optim_state(ob, i), *dst = lf_optim_state(oc, i);
    memcpy(dst->data, src->data, (size_t)src->n * sizeof(float));
  }
  lf_optim_get_counters(ob, &st, &ep);
  CHECK(st==2 && ep==2, "resume: counters step=%lld epoch=%lld",
        (long long)st, (long long)ep);
  lf_optim_set_counters(oc, st, ep);
  lf_optim_free(ob);
  for(k=2; k<4; k++){ toy_grads(&b, k); lf_optim_step(oc); lf_optim_epoch_end(oc); }
  for(i=0; i<6; i++) if( a.w[i]!=b.w[i] ) same = 0;
  for(i=0; i<3; i++) if( a.b[i]!=b.b[i] ) same = 0;
  CHECK(same, "resume %s: restored run is bit-identical",
        kind==LF_OPT_SGD ? "sgd momentum" : kind==LF_OPT_ADAM ? "adam" : "adamw");
  lf_optim_free(oa);
  lf_optim_free(oc);
}

/* A tensor large enough for the parallel path agrees with a small one
** updated element by element. */
static void test_large(void){
  enum { N = 200000 };
  lf_optim_spec s = { LF_OPT_ADAMW, 0.01, 0, 0, 0.01, 0.9, 0.999, 1e-8,
                      LF_SCHED_NONE, 0, 0, 0, 0 };
  float *w = malloc(N*sizeof(float)), *g = malloc(N*sizeof(float));
  lf_param p, *pp = &p;
  toy_net t;
  lf_optim *o, *ot;
  int i, k, same = 1;
  if( w==0 || g==0 ){ free(w); free(g); return; }
  memset(&p, 0, sizeof p);
  strcpy(p.name, "big.weight");
  p.shape.ndim = 1; p.shape.dim[0] = N; p.n = N;
  p.data = w; p.grad = g; p.decay = 1;
  for(i=0; i<N; i++) w[i] = W0[i%6];
  toy_init(&t);
  o = lf_optim_create(&s, &pp, 1);
  ot = lf_optim_create(&s, t.params, 3);
  for(k=0; o && ot && k<3; k++){
    toy_grads(&t, k);
    for(i=0; i<N; i++) g[i] = t.gw[i%6];
    lf_optim_step(o);
    lf_optim_step(ot);
  }
  for(i=0; i<N; i++) if( w[i]!=t.w[i%6] ) same = 0;
  CHECK(o && ot && same, "large tensor update equals the small one elementwise");
  lf_optim_free(o); lf_optim_free(ot);
  free(w); free(g);
}

static void test_bad_specs(void){
  toy_net t;
  lf_optim_spec s = { LF_OPT_SGD, 0.1, 0, 1, 0, 0, 0, 0, LF_SCHED_NONE, 0, 0, 0, 0 };
  toy_init(&t);
  CHECK(lf_optim_create(&s, t.params, 3)==0, "nesterov without momentum is refused");
  s.nesterov = 0; s.lr = -1;
  CHECK(lf_optim_create(&s, t.params, 3)==0, "negative lr is refused");
  s.lr = 0.1; s.sched = LF_SCHED_STEP; s.step_size = 0;
  CHECK(lf_optim_create(&s, t.params, 3)==0, "StepLR with step_size 0 is refused");
  s.sched = LF_SCHED_COSINE; s.t_max = 0;
  CHECK(lf_optim_create(&s, t.params, 3)==0, "CosineAnnealingLR with T_max 0 is refused");
  s.sched = LF_SCHED_NONE; s.kind = LF_OPT_ADAM; s.beta1 = 1.0; s.beta2 = 0.999;
  CHECK(lf_optim_create(&s, t.params, 3)==0, "Adam with beta1 = 1 is refused");
  s.kind = (lf_optim_kind)42;
  CHECK(lf_optim_create(&s, t.params, 3)==0, "unknown optimizer is refused");
  CHECK(lf_optim_create(0, t.params, 3)==0, "NULL spec is refused");
  /* NULL optimizer everywhere is harmless */
  lf_optim_step(0); lf_optim_epoch_end(0); lf_optim_free(0);
  CHECK(lf_optim_state_count(0)==0 && lf_optim_state(0, 0)==0,
        "NULL optimizer is harmless");
}

/* ---- RMSprop, grad_clip, OneCycleLR, LinearLR, ReduceLROnPlateau ------
** Same toy run and float32 torch 1.13 reference as above (the generator
** is tools/bench/optim_ref.py); "clip" calls
** torch.nn.utils.clip_grad_norm_([w, b], clip) before each step. State
** tensors are checked by name, in the optimizer's state order. */
typedef struct ext_state { const char *name; float v[6]; } ext_state;
typedef struct ext_case {
  const char *name;
  lf_optim_spec spec;
  int steps;
  float w[6], b[3];
  ext_state st[6];          /* w's then b's state, terminated by name 0 */
} ext_case;

static lf_optim_spec rms(double lr, double alpha, double eps, double wd,
                         double mom, int centered){
  lf_optim_spec s;
  memset(&s, 0, sizeof s);
  s.kind = LF_OPT_RMSPROP; s.lr = lr; s.alpha = alpha; s.eps = eps;
  s.weight_decay = wd; s.momentum = mom; s.centered = centered;
  return s;
}

static lf_optim_spec onecycle(lf_optim_spec s, double max_lr, int64_t total,
                              double pct, int linear, int three,
                              double div, double fdiv){
  s.sched = LF_SCHED_ONECYCLE; s.max_lr = max_lr; s.total_steps = total;
  s.pct_start = pct; s.anneal_linear = linear; s.three_phase = three;
  s.div_factor = div; s.final_div_factor = fdiv; s.cycle_momentum = 1;
  s.base_momentum = 0.85; s.max_momentum = 0.95;
  return s;
}

static void run_ext(const char *name, lf_optim_spec spec, int steps,
                    const float *w, const float *b, const ext_state *st){
  toy_net t;
  lf_optim *o;
  int s, bad = 0, ok, i;
  toy_init(&t);
  o = lf_optim_create(&spec, t.params, 3);
  CHECK(o!=0, "%s: created", name);
  if( o==0 ) return;
  for(s=0; s<steps; s++){ toy_grads(&t, s); lf_optim_step(o); }
  ok = all_close(t.w, w, 6, &bad);
  CHECK(ok, "%s: weight after %d steps equals torch (w[%d] %.9g vs %.9g)",
        name, steps, bad, t.w[bad], w[bad]);
  ok = all_close(t.b, b, 3, &bad);
  CHECK(ok, "%s: bias after %d steps equals torch (b[%d] %.9g vs %.9g)",
        name, steps, bad, t.b[bad], b[bad]);
  for(i=0; st[i].name; i++){
    lf_param *p = lf_optim_state(o, i);
    if( p==0 ){ CHECK(0, "%s: state %d (%s) exists", name, i, st[i].name); continue; }
    ok = strcmp(p->name, st[i].name)==0 && all_close(p->data, st[i].v, (int)p->n, &bad);
    CHECK(ok, "%s: state %s equals torch's %s", name, p->name, st[i].name);
  }
  CHECK(lf_optim_state_count(o)==i, "%s: %d state tensors", name, i);
  lf_optim_free(o);
}

static void test_rmsprop_clip_onecycle(void){
  lf_optim_spec s;
  {
    static const float w[6] = { 0.305878401f, -0.350302994f, 0.9700948f, 0.771849811f, -1.47160423f, 0.271330595f };
    static const float b[3] = { 0.0338970125f, -0.203772306f, 0.335366786f };
    static const ext_state st[] = {
      { "0.weight.square_avg", { 0.0165327266f, 0.0222544447f, 0.0237983409f, 0.0184681024f, 0.0154843787f, 0.0193219297f } },
      { "0.bias.square_avg", { 0.095645301f, 0.0881269574f, 0.0651384965f } },
      { 0, { 0 } } };
    run_ext("rmsprop", rms(0.01, 0.99, 1e-8, 0.01, 0, 0), 4, w, b, st);
  }
  {
    static const float w[6] = { 0.370558292f, -0.332253635f, 0.955620408f, 0.74393636f, -1.48121905f, 0.231719106f };
    static const float b[3] = { 0.036221914f, -0.22276701f, 0.309926331f };
    static const ext_state st[] = {
      { "0.weight.square_avg", { 0.149588063f, 0.198938563f, 0.203554407f, 0.15268527f, 0.145549268f, 0.173340172f } },
      { "0.weight.momentum_buffer", { 0.365755796f, -1.40602267f, -1.85338926f, -1.61612511f, -0.652663946f, 0.660240173f } },
      { "0.weight.grad_avg", { 0.0631250069f, 0.0017790749f, -0.02842943f, -0.0632441267f, -0.0968740433f, -0.0295622237f } },
      { "0.bias.square_avg", { 0.843224883f, 0.754780233f, 0.555143893f } },
      { "0.bias.momentum_buffer", { -1.76731277f, -2.05305886f, -1.29477537f } },
      { "0.bias.grad_avg", { -0.0326535292f, -0.123717025f, -0.156594515f } },
      { 0, { 0 } } };
    run_ext("rmsprop momentum centered", rms(0.01, 0.9, 1e-6, 0.05, 0.5, 1), 4, w, b, st);
  }
  {
    static const float w[6] = { 0.442968875f, -0.305769712f, 0.954712987f, 0.745798349f, -1.446257f, 0.182774365f };
    static const float b[3] = { -0.00373579538f, -0.241726875f, 0.339906871f };
    static const ext_state st[] = {
      { "0.weight.momentum_buffer", { 0.11847309f, 0.00873400271f, -0.0405461937f, -0.106074847f, -0.178215548f, -0.057824716f } },
      { "0.bias.momentum_buffer", { -0.0457676053f, -0.20997794f, -0.275432378f } },
      { 0, { 0 } } };
    memset(&s, 0, sizeof s);
    s.kind = LF_OPT_SGD; s.lr = 0.1; s.momentum = 0.9; s.weight_decay = 0.01;
    s.grad_clip = 0.5;
    run_ext("sgd momentum + grad_clip 0.5", s, 4, w, b, st);
  }
  {
    static const float w[6] = { 0.412830561f, -0.312159121f, 0.983931422f, 0.786110878f, -1.41938031f, 0.205037326f };
    static const float b[3] = { 0.0568873845f, -0.194621637f, 0.358917147f };
    static const ext_state st[] = {
      { "0.weight.exp_avg", { 0.0536620207f, 0.0295096375f, -0.00852157082f, -0.0425449349f, -0.0565587841f, -0.0439721122f } },
      { "0.weight.exp_avg_sq", { 0.002487747f, 0.00301627489f, 0.00350535219f, 0.00314307818f, 0.0025308514f, 0.0026850088f } },
      { "0.bias.exp_avg", { 0.0278579332f, -0.0493353307f, -0.103325486f } },
      { "0.bias.exp_avg_sq", { 0.013214631f, 0.0138084199f, 0.0113503793f } },
      { 0, { 0 } } };
    memset(&s, 0, sizeof s);
    s.kind = LF_OPT_ADAM; s.lr = 0.01; s.beta1 = 0.9; s.beta2 = 0.999; s.eps = 1e-8;
    run_ext("adam + OneCycleLR (cycled beta1)", onecycle(s, 0.05, 6, 0.3, 0, 0, 25, 1e4), 6, w, b, st);
  }
  {
    static const float w[6] = { 0.266677797f, -0.589650214f, 0.713764668f, 0.651800454f, -1.3639791f, 0.431268781f };
    static const float b[3] = { -0.573233068f, -0.636142075f, 0.306073278f };
    static const ext_state st[] = {
      { "0.weight.momentum_buffer", { 1.25140762f, 0.927330613f, 0.167115808f, -0.671696186f, -1.19459891f, -1.15566325f } },
      { "0.bias.momentum_buffer", { 1.27443135f, -0.414213538f, -1.9080478f } },
      { 0, { 0 } } };
    memset(&s, 0, sizeof s);
    s.kind = LF_OPT_SGD; s.lr = 0.01; s.momentum = 0.9;
    run_ext("sgd + OneCycleLR linear three_phase", onecycle(s, 0.2, 8, 0.25, 1, 1, 10, 100), 8, w, b, st);
  }
}

static int close_d(double got, double want){
  return fabs(got - want) <= 1e-12 * fabs(want) + 1e-15;
}

/* Per-step lr and momentum of OneCycleLR(max_lr=1, total_steps=10) on
** SGD(momentum=0.9), per-epoch LinearLR(0.25, 1, 3) on SGD(lr=0.5) and
** ReduceLROnPlateau fed fixed values: torch's param_groups after each
** step (%.17g). */
static void test_schedules_ext(void){
  static const double oc_lr[10] = { 0.040000000000000036, 0.52000000000000002, 1, 0.95048463201347366, 0.81174565394976306, 0.61126202193628931, 0.38874197806371075, 0.18825834605023697, 0.049519367986526286, 3.9999999999999998e-06 };
  static const double oc_mom[10] = { 0.94999999999999996, 0.89999999999999991, 0.84999999999999998, 0.85495155660487898, 0.86882550990706331, 0.88887395330218422, 0.91112604669781572, 0.93117449009293662, 0.94504844339512095, 0.94999999999999996 };
  static const double lin[6] = { 0.125, 0.25, 0.375, 0.5, 0.5, 0.5 };
  static const double pv1[12] = { 1.0,0.9,0.95,0.95,0.95,0.89,0.9,0.9,0.9,0.9,0.9,0.9 };
  static const double pl1[12] = { 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125 };
  static const double pv2[9] = { 0.5,0.6,0.6,0.6,0.7,0.7,0.7,0.7,0.7 };
  static const double pl2[9] = { 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25 };
  lf_optim_spec s;
  toy_net t;
  lf_optim *o;
  int i, ok;
  toy_init(&t);
  memset(&s, 0, sizeof s);
  s.kind = LF_OPT_SGD; s.lr = 0.1; s.momentum = 0.9;
  s = onecycle(s, 1.0, 10, 0.3, 0, 0, 25, 1e4);
  o = lf_optim_create(&s, t.params, 3);
  for(i=0, ok=o!=0; o && i<10; i++){
    toy_grads(&t, i);
    lf_optim_step(o);
    /* lf_optim_lr reports the lr the step just used */
    if( !close_d(lf_optim_lr(o), oc_lr[i]) ) ok = 0;
  }
  CHECK(ok, "OneCycleLR(max_lr 1, 10 steps) lrs equal torch");
  {
    int64_t st, ep;
    lf_optim_get_counters(o, &st, &ep);
    lf_optim_set_counters(o, 4, ep);
    CHECK(close_d(lf_optim_lr(o), oc_lr[3]), "OneCycleLR: set_counters restores the lr of the last step");
  }
  lf_optim_free(o);
  /* The momentum path: compare the update a step makes with momentum
  ** read from torch, through a one-element SGD without decay. */
  {
    float w1 = 0, g1 = 1, mb;
    lf_param p, *pp = &p;
    double prev_buf = 0, lr_prev;
    memset(&p, 0, sizeof p);
    strcpy(p.name, "x"); p.shape.ndim = 1; p.shape.dim[0] = 1; p.n = 1;
    p.data = &w1; p.grad = &g1;
    o = lf_optim_create(&s, &pp, 1);
    for(i=0, ok=o!=0; o && i<10; i++){
      float before = w1;
      lf_optim_step(o);
      mb = lf_optim_state(o, 0)->data[0];
      /* buf = mom*buf + 1; w -= lr*buf */
      double want_buf = i==0 ? 1.0 : (double)(float)oc_mom[i]*prev_buf + 1.0;
      lr_prev = oc_lr[i];
      if( fabs(mb - want_buf) > 1e-5 ) ok = 0;
      if( fabsf((before - w1) - (float)(lr_prev*mb)) > 1e-5f ) ok = 0;
      prev_buf = mb;
    }
    CHECK(ok, "OneCycleLR cycles SGD's momentum as torch (0.95 -> 0.85 -> 0.95)");
    lf_optim_free(o);
  }
  memset(&s, 0, sizeof s);
  s.kind = LF_OPT_SGD; s.lr = 0.5;
  s.sched = LF_SCHED_LINEAR; s.start_factor = 0.25; s.end_factor = 1.0; s.total_iters = 3;
  o = lf_optim_create(&s, t.params, 3);
  for(i=0, ok=o!=0; o && i<6; i++){
    if( !close_d(lf_optim_lr(o), lin[i]) ) ok = 0;
    lf_optim_epoch_end(o);
  }
  CHECK(ok, "LinearLR(0.25, 1, 3) warm-up over 6 epochs equals torch");
  lf_optim_free(o);
  memset(&s, 0, sizeof s);
  s.kind = LF_OPT_SGD; s.lr = 1.0;
  s.sched = LF_SCHED_PLATEAU; s.factor = 0.5; s.patience = 1; s.threshold = 0.05;
  s.cooldown = 1; s.min_lr = 0.1; s.plateau_eps = 1e-8;
  o = lf_optim_create(&s, t.params, 3);
  for(i=0, ok=o!=0; o && i<12; i++){
    lf_optim_plateau_step(o, pv1[i]);
    lf_optim_epoch_end(o);
    if( !close_d(lf_optim_lr(o), pl1[i]) ) ok = 0;
  }
  CHECK(ok, "ReduceLROnPlateau(min, rel 0.05, patience 1, cooldown 1, min_lr 0.1) equals torch");
  /* Its state goes through get/set_sched_state: a copy resumes exactly. */
  if( o ){
    int64_t w[LF_OPTIM_SCHED_WORDS], st, ep;
    lf_optim *o2 = lf_optim_create(&s, t.params, 3);
    lf_optim_get_sched_state(o, w);
    lf_optim_get_counters(o, &st, &ep);
    lf_optim_set_counters(o2, st, ep);
    lf_optim_set_sched_state(o2, w);
    for(i=0, ok=o2!=0; o2 && i<6; i++){
      double v = 0.9 - 0.01*(i%3);
      lf_optim_plateau_step(o, v); lf_optim_plateau_step(o2, v);
      if( lf_optim_lr(o)!=lf_optim_lr(o2) ) ok = 0;
    }
    CHECK(ok, "ReduceLROnPlateau: restored state gives the same lrs");
    lf_optim_free(o2);
  }
  lf_optim_free(o);
  s.plateau_max = 1; s.threshold_abs = 1; s.threshold = 0.01;
  o = lf_optim_create(&s, t.params, 3);
  for(i=0, ok=o!=0; o && i<9; i++){
    lf_optim_plateau_step(o, pv2[i]);
    if( !close_d(lf_optim_lr(o), pl2[i]) ) ok = 0;
  }
  CHECK(ok, "ReduceLROnPlateau(max, abs 0.01) equals torch");
  lf_optim_free(o);
  /* A NaN quantity is a bad epoch, never an improvement. */
  s.plateau_max = 0; s.patience = 0; s.cooldown = 0;
  o = lf_optim_create(&s, t.params, 3);
  if( o ){ lf_optim_plateau_step(o, 1.0); lf_optim_plateau_step(o, NAN); }
  CHECK(o && close_d(lf_optim_lr(o), 0.5), "ReduceLROnPlateau: a NaN value counts as no improvement");
  lf_optim_free(o);
}

/* Two steps, state export/import, two more: bit-identical, for RMSprop
** with every buffer and for OneCycleLR (per-batch position restored). */
static void test_resume_ext(const char *name, lf_optim_spec s){
  toy_net a, b;
  lf_optim *oa, *ob, *oc;
  int i, k, same = 1;
  int64_t st, ep, w[LF_OPTIM_SCHED_WORDS];
  toy_init(&a); toy_init(&b);
  oa = lf_optim_create(&s, a.params, 3);
  ob = lf_optim_create(&s, b.params, 3);
  if( oa==0 || ob==0 ){ CHECK(0, "resume %s: create", name); lf_optim_free(oa); lf_optim_free(ob); return; }
  for(k=0; k<6; k++){ toy_grads(&a, k); lf_optim_step(oa); lf_optim_epoch_end(oa); }
  for(k=0; k<3; k++){ toy_grads(&b, k); lf_optim_step(ob); lf_optim_epoch_end(ob); }
  oc = lf_optim_create(&s, b.params, 3);
  for(i=0; oc && i<lf_optim_state_count(ob); i++){
    lf_param *src = lf_optim_state(ob, i), *dst = lf_optim_state(oc, i);
    memcpy(dst->data, src->data, (size_t)src->n * sizeof(float));
  }
  lf_optim_get_counters(ob, &st, &ep);
  lf_optim_get_sched_state(ob, w);
  lf_optim_set_counters(oc, st, ep);
  lf_optim_set_sched_state(oc, w);
  lf_optim_free(ob);
  for(k=3; oc && k<6; k++){ toy_grads(&b, k); lf_optim_step(oc); lf_optim_epoch_end(oc); }
  for(i=0; i<6; i++) if( a.w[i]!=b.w[i] ) same = 0;
  for(i=0; i<3; i++) if( a.b[i]!=b.b[i] ) same = 0;
  CHECK(oc && same, "resume %s: restored run is bit-identical", name);
  lf_optim_free(oa);
  lf_optim_free(oc);
}

static void test_bad_specs_ext(void){
  toy_net t;
  lf_optim_spec s;
  toy_init(&t);
  memset(&s, 0, sizeof s);
  s.kind = LF_OPT_SGD; s.lr = 0.1;
  s = onecycle(s, 1.0, 3, 0.3, 0, 0, 25, 1e4);
  CHECK(lf_optim_create(&s, t.params, 3)==0, "OneCycleLR with a 3-step cycle at pct_start 0.3 is refused (empty phase)");
  s.total_steps = 0; s.cycle_epochs = 2; s.steps_per_epoch = 0;
  CHECK(lf_optim_create(&s, t.params, 3)==0, "OneCycleLR by epochs without the batches per epoch is refused");
  s.steps_per_epoch = 5;
  lf_optim *o = lf_optim_create(&s, t.params, 3);
  CHECK(o!=0, "OneCycleLR by epochs: 2 epochs of 5 batches is accepted");
  lf_optim_free(o);
  memset(&s, 0, sizeof s);
  s.kind = LF_OPT_SGD; s.lr = 0.1; s.grad_clip = -1;
  CHECK(lf_optim_create(&s, t.params, 3)==0, "negative grad_clip is refused");
  s.grad_clip = 0; s.sched = LF_SCHED_PLATEAU; s.factor = 1.5;
  CHECK(lf_optim_create(&s, t.params, 3)==0, "ReduceLROnPlateau factor >= 1 is refused");
  s.sched = LF_SCHED_LINEAR; s.start_factor = 0; s.end_factor = 1; s.total_iters = 2;
  CHECK(lf_optim_create(&s, t.params, 3)==0, "LinearLR start_factor 0 is refused");
}

/* grad_clip leaves small gradients alone and reports the norm. */
static void test_clip_norm(void){
  toy_net t;
  lf_optim_spec s;
  lf_optim *o;
  int i;
  double want = 0;
  toy_init(&t);
  memset(&s, 0, sizeof s);
  s.kind = LF_OPT_SGD; s.lr = 0.0; s.grad_clip = 100;
  o = lf_optim_create(&s, t.params, 3);
  toy_grads(&t, 0);
  for(i=0; i<6; i++) want += (double)t.gw[i]*t.gw[i];
  for(i=0; i<3; i++) want += (double)t.gb[i]*t.gb[i];
  want = sqrt(want);
  float g0 = t.gw[0];
  lf_optim_step(o);
  CHECK(o && fabs(lf_optim_last_grad_norm(o) - want) < 1e-12 && t.gw[0]==g0,
        "grad_clip above the norm: gradients untouched, norm %.6f reported", want);
  lf_optim_free(o);
}

int main(void){
  size_t i;
  for(i=0; i<sizeof(cases)/sizeof(cases[0]); i++) run_case(&cases[i]);
  test_rmsprop_clip_onecycle();
  test_schedules_ext();
  test_clip_norm();
  test_bad_specs_ext();
  {
    lf_optim_spec s = rms(0.01, 0.9, 1e-6, 0.05, 0.5, 1);
    s.grad_clip = 0.7;
    test_resume_ext("rmsprop momentum centered + grad_clip", s);
    memset(&s, 0, sizeof s);
    s.kind = LF_OPT_ADAMW; s.lr = 0.01; s.beta1 = 0.9; s.beta2 = 0.999; s.eps = 1e-8; s.weight_decay = 0.01;
    test_resume_ext("adamw + OneCycleLR", onecycle(s, 0.05, 6, 0.3, 0, 0, 25, 1e4));
  }
  test_schedules();
  test_resume(LF_OPT_SGD, 0.9);
  test_resume(LF_OPT_ADAM, 0);
  test_resume(LF_OPT_ADAMW, 0);
  test_large();
  test_bad_specs();
  TEST_EXIT();
}
