/*
** test_metric.c — kernels/lf_metric.c on small hand-made cases.
**
** Expected values were computed once in Python (Debian's /usr/bin/python3,
** double precision) with independent implementations of sklearn's formulas:
**   - accuracy, and precision/recall/F1 as
**     precision_recall_fscore_support(average="macro", zero_division=0),
**     i.e. averaged over the labels present in targets or predictions;
**     predictions by torch.argmax (first maximum) or y>0 when nout==1;
**   - AUROC as the trapezoidal area under the ROC curve built from every
**     distinct threshold of sigmoid(y) / torch.softmax(y)[:,1] (a different
**     algorithm from the rank statistic the kernel uses);
**   - MAE, RMSE, R2 = 1 - SS_res/SS_tot over all outputs pooled.
** Neither sklearn nor torch is needed to run this test.
*/
#include "lf_test.h"
#include "lf_metric.h"

#include <math.h>

static int near(double a, double b){ return fabs(a - b) <= 1e-12; }

/* Updates in one batch, then again after a reset in batches of 3 (the
** buffers and counters must carry across batches and clear on reset). */
static double eval(lf_metric *m, const float *y, const float *t, int n,
                   int nout, int tw, double *split){
  double one;
  int i;
  lf_metric_reset(m);
  lf_metric_update(m, y, t, n);
  one = lf_metric_value(m);
  lf_metric_reset(m);
  for(i=0; i<n; i+=3){
    int b = n - i < 3 ? n - i : 3;
    lf_metric_update(m, y + (int64_t)i*nout, t + (int64_t)i*tw, b);
  }
  *split = lf_metric_value(m);
  return one;
}

static void check_metric(const char *name, lf_metric_kind kind, int nout,
                         const float *y, const float *t, int n, int tw,
                         double want){
  lf_metric *m = lf_metric_create(kind, nout);
  double got, split;
  if( m==0 ){ CHECK(0, "%s: created", name); return; }
  got = eval(m, y, t, n, nout, tw, &split);
  CHECK(near(got, want), "%s = %.15g (expected %.15g)", name, got, want);
  CHECK(near(split, got), "%s: same value over batches of 3 (%.15g)", name, split);
  lf_metric_free(m);
}

/* 3 classes, 8 samples; row 5 ties classes 0 and 1 (argmax -> 0).
** Predictions: 0,2,1,0,0,2,1,2. */
static const float y3[] = { 2.0f, 0.5f, -1.0f,  0.1f, 0.2f, 0.3f,
                            -1.0f, 3.0f, 0.0f,  0.5f, 0.4f, 0.45f,
                            1.0f, 1.0f, 0.0f,   0.0f, -0.5f, 2.5f,
                            0.3f, 0.9f, 0.1f,   -2.0f, 0.0f, 1.0f };
static const float t3[] = { 0, 2, 1, 1, 0, 2, 0, 1 };

static void test_multiclass(void){
  /* Class 3 appears nowhere (left out); class 2 is predicted but has no
  ** support (recall 0 counts). Predictions: 0,1,2,2,0,1. */
  static const float y4[] = { 3,0,0,0, 0,3,0,0, 0,0,3,0,
                              0,0,3,0, 3,0,0,0, 0,3,0,0 };
  static const float t4[] = { 0, 1, 0, 1, 1, 1 };
  check_metric("accuracy 3 classes", LF_MET_ACCURACY, 3, y3, t3, 8, 1, 0.625);
  check_metric("precision 3 classes", LF_MET_PRECISION, 3, y3, t3, 8, 1, 0.61111111111111105);
  check_metric("recall 3 classes", LF_MET_RECALL, 3, y3, t3, 8, 1, 0.66666666666666663);
  check_metric("f1 3 classes", LF_MET_F1, 3, y3, t3, 8, 1, 0.62222222222222223);
  check_metric("auroc class 1 vs rest, softmax[1]", LF_MET_AUROC, 3, y3, t3, 8, 1, 0.59999999999999998);
  check_metric("accuracy 4 classes", LF_MET_ACCURACY, 4, y4, t4, 6, 1, 0.5);
  check_metric("precision, class w/o support", LF_MET_PRECISION, 4, y4, t4, 6, 1, 0.5);
  check_metric("recall, class w/o support", LF_MET_RECALL, 4, y4, t4, 6, 1, 0.33333333333333331);
  check_metric("f1, class w/o support", LF_MET_F1, 4, y4, t4, 6, 1, 0.38888888888888884);
}

/* nout==1: predicted class is y>0 (so y==0 is class 0), target>=0.5. */
static void test_binary(void){
  static const float yb[] = { 2.0f, -1.0f, 0.5f, -0.2f, 0.0f, 3.0f, -2.5f,
                              0.7f, 0.7f, -1.0f };
  static const float tb[] = { 1, 0, 0, 1, 1, 1, 0, 0, 1, 1 };
  /* nout==2, AUROC on softmax[1] */
  static const float y2[] = { 0.1f, 0.9f, 0.5f, 0.2f, 0.3f, 0.3f,
                              2.0f, -1.0f, 0.0f, 1.5f, 1.0f, 1.2f };
  static const float t2[] = { 1, 0, 1, 0, 0, 1 };
  check_metric("binary accuracy", LF_MET_ACCURACY, 1, yb, tb, 10, 1, 0.5);
  check_metric("binary precision (macro of 2)", LF_MET_PRECISION, 1, yb, tb, 10, 1, 0.5);
  check_metric("binary recall (macro of 2)", LF_MET_RECALL, 1, yb, tb, 10, 1, 0.5);
  check_metric("binary f1 (macro of 2)", LF_MET_F1, 1, yb, tb, 10, 1, 0.49494949494949492);
  check_metric("binary auroc with ties", LF_MET_AUROC, 1, yb, tb, 10, 1, 0.70833333333333337);
  check_metric("auroc nout=2 softmax[1]", LF_MET_AUROC, 2, y2, t2, 6, 1, 0.66666666666666674);
  {
    /* Saturated logits: sigmoid would round all to 1.0f and tie them. */
    static const float ys[] = { 40.0f, 50.0f, 60.0f, 70.0f };
    static const float ts[] = { 0, 0, 1, 1 };
    check_metric("auroc on saturated logits", LF_MET_AUROC, 1, ys, ts, 4, 1, 1.0);
  }
  {
    static const float yp[] = { 1.0f, 2.0f, -1.0f, 3.0f };
    static const float tp[] = { 1, 0, 0, 1 };
    check_metric("auroc all scores tied", LF_MET_AUROC, 1, (const float[]){0,0,0,0}, tp, 4, 1, 0.5);
    /* pairs (pos,neg): (1,2) (1,-1) (3,2) (3,-1): 3 of 4 ordered */
    check_metric("auroc by hand = 3/4", LF_MET_AUROC, 1, yp, tp, 4, 1, 0.75);
  }
}

static void test_regression(void){
  static const float yr[] = { 1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.25f, -2.0f, 1.5f };
  static const float tr[] = { 1.5f, 2.0f, 0.0f, -0.5f, 2.0f, 1.0f, -1.0f, 1.0f };
  static const float tc[] = { 2.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f };
  check_metric("mae", LF_MET_MAE, 2, yr, tr, 4, 2, 0.59375);
  check_metric("rmse", LF_MET_RMSE, 2, yr, tr, 4, 2, 0.66731739075195695);
  check_metric("r2 pooled over outputs", LF_MET_R2, 2, yr, tr, 4, 2, 0.60416666666666674);
  check_metric("r2 perfect", LF_MET_R2, 2, tr, tr, 4, 2, 1.0);
  check_metric("r2 constant target, exact", LF_MET_R2, 2, tc, tc, 4, 2, 1.0);
  check_metric("r2 constant target, inexact", LF_MET_R2, 2, yr, tc, 4, 2, 0.0);
}

static void test_undefined(void){
  lf_metric *m = lf_metric_create(LF_MET_AUROC, 1);
  static const float y[] = { 0.5f, -1.0f, 2.0f };
  static const float pos[] = { 1, 1, 1 };
  static const float bad[] = { 0, 3, 1 };
  double v;
  int i;
  v = lf_metric_value(m);
  CHECK(isnan(v), "auroc with no samples is NAN");
  lf_metric_update(m, y, pos, 3);
  v = lf_metric_value(m);
  CHECK(isnan(v), "auroc with only positives is NAN");
  /* Many evaluations reuse the score buffer (ASan checks the growth). */
  for(i=0; i<5; i++){
    int k;
    lf_metric_reset(m);
    for(k=0; k<1000; k++){
      float yy[3] = { (float)k, (float)-k, 0.5f };
      float tt[3] = { 1, 0, (float)(k&1) };
      lf_metric_update(m, yy, tt, 3);
    }
  }
  v = lf_metric_value(m);
  CHECK(v>0.5 && v<1.0, "auroc over 3000 samples after 5 resets: %.6f", v);
  lf_metric_free(m);

  m = lf_metric_create(LF_MET_ACCURACY, 3);
  lf_metric_update(m, y3, bad, 3);
  v = lf_metric_value(m);
  CHECK(isnan(v), "class index out of range makes the metric NAN");
  lf_metric_reset(m);
  lf_metric_update(m, y3, t3, 3);
  v = lf_metric_value(m);
  CHECK(near(v, 1.0), "reset clears the error (%.6f)", v);
  lf_metric_update(m, 0, t3, 3);
  CHECK(isnan(lf_metric_value(m)), "NULL y makes the metric NAN");
  lf_metric_free(m);

  m = lf_metric_create(LF_MET_F1, 3);
  CHECK(isnan(lf_metric_value(m)), "f1 with no samples is NAN");
  lf_metric_free(m);
  m = lf_metric_create(LF_MET_RMSE, 1);
  CHECK(isnan(lf_metric_value(m)), "rmse with no samples is NAN");
  lf_metric_free(m);

  CHECK(lf_metric_create((lf_metric_kind)0, 3)==0, "unknown metric kind is refused");
  CHECK(lf_metric_create(LF_MET_ACCURACY, 0)==0, "nout 0 is refused");
  lf_metric_free(0);
  lf_metric_reset(0);
  lf_metric_update(0, y, pos, 3);
  CHECK(isnan(lf_metric_value(0)), "NULL metric is harmless");
}

/* AUPRC by hand (the walk of sklearn's average_precision_score, in
** Python): sum over distinct scores, descending, of
** (new positives / P) * precision at that score. */
static void test_auprc_topk(void){
  static const float yb[] = { 2.0f, -1.0f, 0.5f, -0.2f, 0.0f, 3.0f, -2.5f,
                              0.7f, 0.7f, -1.0f };
  static const float tb[] = { 1, 0, 0, 1, 1, 1, 0, 0, 1, 1 };
  static const float y2[] = { 0.1f, 0.9f, 0.5f, 0.2f, 0.3f, 0.3f,
                              2.0f, -1.0f, 0.0f, 1.5f, 1.0f, 1.2f };
  static const float t2[] = { 1, 0, 1, 0, 0, 1 };
  /* 1/6*1 + 1/6*1 + 1/6*3/4 + 1/6*4/6 + 1/6*5/7 + 1/6*6/9 (ties at 0.7, -1) */
  check_metric("auprc binary logit with ties", LF_MET_AUPRC, 1, yb, tb, 10, 1, 0.79960317460317465);
  /* log-odds 0.8,-0.3,0,-3,1.5,0.2: 1/3*1/2 + 1/3*2/3 + 1/3*3/4 */
  check_metric("auprc nout=2 softmax[1]", LF_MET_AUPRC, 2, y2, t2, 6, 1, 0.63888888888888884);
  check_metric("auprc perfect ranking", LF_MET_AUPRC, 1, (const float[]){-1, 2, -3, 4}, (const float[]){0, 1, 0, 1}, 4, 1, 1.0);
  {
    lf_metric *m = lf_metric_create(LF_MET_AUPRC, 1);
    lf_metric_update(m, (const float[]){1, 2}, (const float[]){0, 0}, 2);
    CHECK(isnan(lf_metric_value(m)), "auprc without positives is undefined (NaN)");
    lf_metric_free(m);
  }
  /* Ranks of the label in y3: 0,0,0,2,0,0,1,1 (row 4 ties class 0 with
  ** class 1; the label 0 is the lower index and wins, as in argmax). */
  static const int ks[] = { 1, 2, 3 };
  static const double want[] = { 5.0/8, 7.0/8, 1.0 };
  for(int i=0; i<3; i++){
    lf_metric_args a = { ks[i] };
    lf_metric *m = lf_metric_create_args(LF_MET_TOPK, 3, &a);
    double split, got = m ? eval(m, y3, t3, 8, 3, 1, &split) : NAN;
    CHECK(m && near(got, want[i]) && near(split, got), "top-%d accuracy = %.15g (expected %.15g)", ks[i], got, want[i]);
    lf_metric_free(m);
  }
  {
    lf_metric_args a = { 1 };
    lf_metric *m = lf_metric_create_args(LF_MET_TOPK, 1, &a);
    double split, got = m ? eval(m, yb, tb, 10, 1, 1, &split) : NAN;
    CHECK(m && near(got, 0.5), "top-1 of a binary logit equals binary accuracy (%.15g)", got);
    lf_metric_free(m);
  }
  CHECK(lf_metric_create(LF_MET_TOPK, 3)==0, "TopKAccuracy without k is refused");
}

int main(void){
  test_auprc_topk();
  test_multiclass();
  test_binary();
  test_regression();
  test_undefined();
  TEST_EXIT();
}
