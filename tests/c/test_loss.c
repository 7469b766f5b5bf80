/*
** test_loss.c — kernels/lf_loss.c: values and gradients against PyTorch
** 1.13, and central finite-difference checks of every gradient.
**
** Expected numbers were produced once with PyTorch 1.13 (Debian's
** /usr/bin/python3), float32 tensors, e.g. for cross-entropy:
**   y = torch.tensor(Y, requires_grad=True)
**   l = nn.CrossEntropyLoss(label_smoothing=ls)(y, torch.tensor(T))
**   l.backward(); print(l.item(), y.grad.flatten().tolist())
** and likewise nn.MSELoss(), nn.L1Loss(), nn.BCEWithLogitsLoss().
** torch is not needed to build or run this test.
*/
#include "lf_test.h"
#include "lf_loss.h"

#include <math.h>

static int close_rel(double a, double b, double rel, double abs_tol){
  return fabs(a - b) <= rel * fmax(fabs(a), fabs(b)) + abs_tol;
}

/* Loss and gradient equal torch's (float32 rounding: 1e-6 relative). */
static void check_torch(const char *name, const lf_loss_spec *s,
                        const float *y, const float *t, int batch, int nout,
                        double want_loss, const double *want_grad){
  float dy[64];
  int i, n = batch*nout, ok = 1, worst = 0;
  double got = lf_loss_compute(s, y, t, batch, nout, dy);
  CHECK(close_rel(got, want_loss, 1e-6, 0), "%s: loss %.10g vs torch %.10g",
        name, got, want_loss);
  for(i=0; i<n; i++){
    if( !close_rel(dy[i], want_grad[i], 1e-5, 1e-8) ){ ok = 0; worst = i; }
  }
  CHECK(ok, "%s: gradient equals torch's (dy[%d]=%.9g vs %.9g)", name, worst,
        dy[worst], want_grad[worst]);
  CHECK(close_rel(lf_loss_compute(s, y, t, batch, nout, 0), got, 0, 0),
        "%s: same loss without dy", name);
}

/* Central differences on each input; relative error < 1e-3. */
static void check_fd(const char *name, const lf_loss_spec *s, const float *y0,
                     const float *t, int batch, int nout){
  float y[64] = {0}, dy[64] = {0};
  int i, n = batch*nout, ok = 1, worst = 0;
  double worst_err = 0.0;
  for(i=0; i<n; i++) y[i] = y0[i];
  lf_loss_compute(s, y, t, batch, nout, dy);
  for(i=0; i<n; i++){
    float keep = y[i];
    float yp = keep + 1e-3f, ym = keep - 1e-3f;
    double lp, lm, fd, err;
    y[i] = yp; lp = lf_loss_compute(s, y, t, batch, nout, 0);
    y[i] = ym; lm = lf_loss_compute(s, y, t, batch, nout, 0);
    y[i] = keep;
    fd = (lp - lm) / ((double)yp - (double)ym);
    err = fabs(fd - dy[i]) / fmax(fmax(fabs(fd), fabs(dy[i])), 1e-4);
    if( err>worst_err ){ worst_err = err; worst = i; }
    if( err>=1e-3 ) ok = 0;
  }
  CHECK(ok, "%s: finite-difference gradient (worst rel err %.2e at %d)",
        name, worst_err, worst);
}

static const float ce_y[] = { 0.5f, -1.25f, 2.0f, 0.1f,
                              -0.3f, 0.8f, 0.0f, -2.2f,
                              1.5f, 1.4f, -0.7f, 0.25f };
static const float ce_t[] = { 2, 0, 1 };

static void test_cross_entropy(void){
  lf_loss_spec s = { LF_LOSS_CROSS_ENTROPY, 0.0 };
  static const double g0[] = { 0.0526944026, 0.00915691443, -0.0971734375,
    0.0353221111, -0.272766858, 0.181951791, 0.0817562118, 0.00905884616,
    0.144792497, -0.202319682, 0.0160434656, 0.041483745 };
  static const double g1[] = { 0.0443610623, 0.000823579496, -0.0721734241,
    0.0269887745, -0.247766837, 0.173618421, 0.0734228641, 0.000725510414,
    0.136459127, -0.177319661, 0.00771012949, 0.0331504047 };
  static const double g35[] = { 0.0235277303, -0.0200097542, -0.00967343524,
    0.00615544105, -0.185266837, 0.152785107, 0.0525895394, -0.0201078225,
    0.115625814, -0.114819668, -0.0131232021, 0.0123170754 };
  static const float big_y[] = { 1000, -1000, 0, -500, 500, 499 };
  static const float big_t[] = { 1, 2 };
  static const double gbig[] = { 0.466666669, -0.433333337, -0.0333333351,
    -0.0333333351, 0.332195967, -0.298862636 };

  CHECK(lf_loss_is_classification(&s), "cross-entropy takes class indices");
  check_torch("ce", &s, ce_y, ce_t, 3, 4, 0.9946255088, g0);
  check_fd("ce", &s, ce_y, ce_t, 3, 4);
  s.label_smoothing = 0.1;
  check_torch("ce ls=0.1", &s, ce_y, ce_t, 3, 4, 1.080458879, g1);
  check_fd("ce ls=0.1", &s, ce_y, ce_t, 3, 4);
  s.label_smoothing = 0.35;
  check_torch("ce ls=0.35", &s, ce_y, ce_t, 3, 4, 1.295042038, g35);
  check_fd("ce ls=0.35", &s, ce_y, ce_t, 3, 4);
  /* |logits| of 1000: a naive softmax overflows to inf/NaN. */
  s.label_smoothing = 0.2;
  check_torch("ce huge logits ls=0.2", &s, big_y, big_t, 2, 3, 933.9233398, gbig);
}

static const float reg_y[] = { 0.5f, -1.25f, 2.0f, -0.3f, 0.8f, 0.0f };
static const float reg_t[] = { 0.0f, -1.0f, 2.5f, 0.2f, 0.1f, -0.4f };

static void test_regression(void){
  lf_loss_spec s = { LF_LOSS_MSE, 0.0 };
  static const double gmse[] = { 0.166666672, -0.0833333358, -0.166666672,
    -0.166666672, 0.233333334, 0.13333334 };
  static const double gl1[] = { 0.166666672, -0.166666672, -0.166666672,
    -0.166666672, 0.166666672, 0.166666672 };
  CHECK(!lf_loss_is_classification(&s), "MSE takes value targets");
  check_torch("mse", &s, reg_y, reg_t, 2, 3, 0.2437500209, gmse);
  check_fd("mse", &s, reg_y, reg_t, 2, 3);
  s.kind = LF_LOSS_L1;
  check_torch("l1", &s, reg_y, reg_t, 2, 3, 0.474999994, gl1);
  check_fd("l1", &s, reg_y, reg_t, 2, 3);
  {
    /* torch.sign(0) = 0: a perfect prediction has zero gradient. */
    float y[2] = { 1.5f, -2.0f }, t[2] = { 1.5f, 0.0f }, dy[2];
    lf_loss_compute(&s, y, t, 1, 2, dy);
    CHECK(dy[0]==0.0f && dy[1]==-0.5f, "l1 gradient at 0 is 0 (%g %g)", dy[0], dy[1]);
  }
}

static void test_bce(void){
  lf_loss_spec s = { LF_LOSS_BCE_WITH_LOGITS, 0.0 };
  static const float y[] = { 0.5f, -1.25f, 2.0f, -0.3f, 30.0f, -40.0f };
  static const float t[] = { 1.0f, 0.0f, 0.3f, 0.0f, 1.0f, 0.0f };
  static const double g[] = { -0.0629234388, 0.0371166877, 0.0967995003,
    0.070926249, 0, 7.08059005e-19 };
  static const float yb[] = { 100.0f, -100.0f }, tb[] = { 0.0f, 1.0f };
  static const double gb[] = { 0.5, -0.5 };
  static const float yfd[] = { 0.5f, -1.25f, 2.0f, -0.3f, 3.0f, -4.0f };
  check_torch("bce", &s, y, t, 2, 3, 0.4678815305, g);
  check_torch("bce huge logits", &s, yb, tb, 1, 2, 100.0, gb);
  check_fd("bce", &s, yfd, t, 2, 3);
  check_fd("bce one output", &s, yfd, t, 6, 1);
}

/* torch: BCEWithLogitsLoss(pos_weight=tensor([2.5])) and
** HuberLoss(delta=1.5) (tools/bench/optim_ref.py). */
static void test_pos_weight_huber(void){
  lf_loss_spec s = { LF_LOSS_BCE_WITH_LOGITS, 0.0, 2.5, 0 };
  static const float y[] = { -3.0f, -0.5f, 0.0f, 0.7f, 4.0f, 20.0f };
  static const float t[] = { 0, 1, 1, 0, 1, 0 };
  static const double g[] = { 0.00790431257, -0.259358048, -0.208333328, 0.111364625, -0.00749425078, 0.166666672 };
  static const float yh[] = { -3.0f, 0.2f, -0.5f, 1.0f, 0.0f, 2.0f };
  static const float th[] = { 0, 0, 1, -1, 1.5f, 0.5f };
  static const double gh[] = { -0.25, 0.0333333351, -0.25, 0.25, -0.25, 0.25 };
  check_torch("bce pos_weight 2.5", &s, y, t, 6, 1, 4.2275347709655762, g);
  check_fd("bce pos_weight 2.5", &s, y, t, 6, 1);
  s.pos_weight = 1.0;
  {
    lf_loss_spec plain = { LF_LOSS_BCE_WITH_LOGITS, 0.0, 0, 0 };
    float d1[6], d2[6];
    double a = lf_loss_compute(&s, y, t, 6, 1, d1), b = lf_loss_compute(&plain, y, t, 6, 1, d2);
    CHECK(close_rel(a, b, 1e-15, 0) && memcmp(d1, d2, sizeof d1)==0, "bce pos_weight 1 equals the unweighted loss");
  }
  lf_loss_spec h = { LF_LOSS_HUBER, 0.0, 0, 1.5 };
  check_torch("huber delta 1.5", &h, yh, th, 3, 2, 1.4408334493637085, gh);
  /* away from the kinks at |d| = delta */
  static const float yfd[] = { -3.0f, 0.2f, -0.5f, 1.2f, 0.0f, 2.3f };
  check_fd("huber delta 1.5", &h, yfd, th, 3, 2);
  h.delta = 0;
  CHECK(isnan(lf_loss_compute(&h, yh, th, 3, 2, 0)), "huber delta 0 gives NAN");
  s.pos_weight = -1;
  CHECK(isnan(lf_loss_compute(&s, y, t, 6, 1, 0)), "negative pos_weight gives NAN");
}

static void test_bad_input(void){
  lf_loss_spec s = { LF_LOSS_CROSS_ENTROPY, 0.0 };
  float dy[12] = {0};
  static const float bad_t[] = { 2, 4, 1 };     /* 4 is out of range */
  static const float frac_t[] = { 2, 0.5f, 1 };
  static const float neg_t[] = { 2, -1, 1 };
  double v;
  v = lf_loss_compute(&s, ce_y, bad_t, 3, 4, dy);
  CHECK(isnan(v), "class index >= nout gives NAN");
  v = lf_loss_compute(&s, ce_y, frac_t, 3, 4, dy);
  CHECK(isnan(v), "fractional class index gives NAN");
  v = lf_loss_compute(&s, ce_y, neg_t, 3, 4, dy);
  CHECK(isnan(v), "negative class index gives NAN");
  v = lf_loss_compute(&s, ce_y, ce_t, 0, 4, dy);
  CHECK(isnan(v), "empty batch gives NAN");
  v = lf_loss_compute(&s, 0, ce_t, 3, 4, dy);
  CHECK(isnan(v), "NULL y gives NAN");
  v = lf_loss_compute(0, ce_y, ce_t, 3, 4, dy);
  CHECK(isnan(v), "NULL spec gives NAN");
  s.label_smoothing = 1.5;
  v = lf_loss_compute(&s, ce_y, ce_t, 3, 4, dy);
  CHECK(isnan(v), "label_smoothing outside [0,1] gives NAN");
  s.kind = (lf_loss_kind)99;
  v = lf_loss_compute(&s, ce_y, ce_t, 3, 4, dy);
  CHECK(isnan(v), "unknown loss kind gives NAN");
}

int main(void){
  test_cross_entropy();
  test_regression();
  test_bce();
  test_pos_weight_huber();
  test_bad_input();
  TEST_EXIT();
}
