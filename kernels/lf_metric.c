/*
** lf_metric.c — evaluation metrics accumulated batch by batch.
**
** Classification (ACCURACY, PRECISION, RECALL, F1, AUROC):
**   nout==1  the model is a binary logit (BCEWithLogitsLoss): predicted
**            class is y>0, target class is target>=0.5;
**   nout>1   predicted class is argmax(y) (first maximum on ties), target
**            is a class index in [0,nout).
**
** Precision, recall and F1 are macro averages, computed like sklearn's
** precision_recall_fscore_support(average="macro", zero_division=0) and
** torchmetrics' Multiclass*(average="macro"):
**   - a class with no predictions has precision 0, one with no support
**     has recall 0, and F1 is 0 when precision+recall is 0;
**   - a class that appears neither in the targets nor in the predictions
**     is left out of the average (sklearn only averages over the labels
**     it sees; torchmetrics gives such classes weight 0).
** With nout==1 the two classes 0 and 1 are averaged the same way.
**
** AUROC is binary: positives are target class 1, the score is sigmoid(y)
** (nout==1) or softmax(y)[1]. Ranking by the log-odds, which is monotone
** in the score, gives the same AUC as the probabilities in exact
** arithmetic, without the false ties of saturated floats. Ties get average
** ranks (Mann-Whitney U), which equals the trapezoidal ROC area.
**
** AUPRC is binary average precision over the same scores, as sklearn's
** average_precision_score and torchmetrics' BinaryAveragePrecision:
**   AP = sum over distinct thresholds (descending) of (R_n - R_{n-1}) P_n,
** all samples sharing a score entering at the same threshold.
**
** TopKAccuracy(k): the label's rank is the number of outputs above its
** own, plus those equal to it at a lower index (ties go to the lower
** index, as argmax's first maximum); a sample counts when its rank < k.
** k=1 is Accuracy exactly; nout==1 reads as the two scores (0, y).
**
** Regression (MAE, RMSE, R2) pools every output of every sample. R2 is
** 1 - SS_res/SS_tot; a constant target gives 1 if predicted exactly, else 0
** (sklearn's force_finite behaviour).
**
** A value that is undefined (no samples, AUROC with one class only) or
** comes from bad input (class index out of range, out of memory) is NAN.
*/
#include "lf_metric.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct lf_scored {
  double score;             /* log-odds of class 1 */
  int positive;             /* 1 if the target is class 1 */
} lf_scored;

struct lf_metric {
  lf_metric_kind kind;
  int nout;
  int k;                    /* TopKAccuracy */
  int ncls;                 /* classes counted: max(nout,2) */
  int bad;                  /* bad target seen or allocation failed */
  int64_t n;                /* samples (classification) or values */
  /* classification */
  int64_t correct;
  int64_t *tp, *npred, *nsupp;   /* per class, ncls each, one allocation */
  /* regression: absolute and squared errors, Welford stats of targets */
  double abs_sum, sq_sum, t_mean, t_m2;
  /* AUROC: every score of the evaluation; capacity kept across resets */
  lf_scored *scored;
  int64_t nscored, capscored;
  /* a metric given by functions (lf_metric_fn): its accumulator */
  const lf_metric_fn *fn;
  void *acc;
};

static int lf_metric_is_class(lf_metric_kind k){
  return k==LF_MET_ACCURACY || k==LF_MET_PRECISION || k==LF_MET_RECALL
      || k==LF_MET_F1 || k==LF_MET_AUROC || k==LF_MET_AUPRC || k==LF_MET_TOPK;
}

/* Metrics that keep every score of the evaluation. */
static int lf_metric_is_ranked(lf_metric_kind k){
  return k==LF_MET_AUROC || k==LF_MET_AUPRC;
}

lf_metric *lf_metric_create(lf_metric_kind kind, int nout){
  return lf_metric_create_args(kind, nout, 0);
}

lf_metric *lf_metric_create_args(lf_metric_kind kind, int nout,
                                 const lf_metric_args *args){
  lf_metric *m;
  if( args && args->fn && nout>=1 ){
    m = calloc(1, sizeof(*m));
    if( m==0 ) return 0;
    m->fn = args->fn;
    m->nout = nout;
    m->acc = m->fn->create(args->fn_args, nout);
    if( m->acc==0 ){ free(m); return 0; }
    return m;
  }
  if( kind<LF_MET_ACCURACY || kind>LF_MET_TOPK || nout<1 ) return 0;
  if( kind==LF_MET_TOPK && (args==0 || args->k<1) ) return 0;
  m = calloc(1, sizeof(*m));
  if( m==0 ) return 0;
  m->kind = kind;
  m->nout = nout;
  m->k = args ? args->k : 0;
  m->ncls = nout<2 ? 2 : nout;
  if( lf_metric_is_class(kind) && !lf_metric_is_ranked(kind) ){
    m->tp = calloc((size_t)m->ncls * 3, sizeof(int64_t));
    if( m->tp==0 ){ free(m); return 0; }
    m->npred = m->tp + m->ncls;
    m->nsupp = m->npred + m->ncls;
  }
  return m;
}

void lf_metric_free(lf_metric *m){
  if( m==0 ) return;
  if( m->fn ) m->fn->destroy(m->acc);
  free(m->tp);
  free(m->scored);
  free(m);
}

void lf_metric_reset(lf_metric *m){
  if( m==0 ) return;
  if( m->fn ){ m->fn->reset(m->acc); return; }
  m->bad = 0;
  m->n = 0;
  m->correct = 0;
  if( m->tp ) memset(m->tp, 0, (size_t)m->ncls * 3 * sizeof(int64_t));
  m->abs_sum = m->sq_sum = m->t_mean = m->t_m2 = 0.0;
  m->nscored = 0;            /* buffer kept for the next evaluation */
}

/* Target class of sample i, or -1 if the target is not a valid class. */
static int lf_target_class(const lf_metric *m, float t){
  if( m->nout==1 ){
    if( t!=t ) return -1;
    return t>=0.5f ? 1 : 0;
  }
  if( !(t>=0.0f) || t>=(float)m->nout || t!=floorf(t) ) return -1;
  return (int)t;
}

int lf_argmax(const float *row, int n){
  int best = 0;
  for(int k=1; k<n; k++) if( row[k]>row[best] ) best = k;
  return best;
}

static int lf_pred_class(const lf_metric *m, const float *row){
  if( m->nout==1 ) return row[0]>0.0f ? 1 : 0;
  return lf_argmax(row, m->nout);
}

/* log(p1/(1-p1)) for p = sigmoid(y) or softmax(y):
** y1 - logsumexp(y_k, k!=1). */
static double lf_log_odds(const lf_metric *m, const float *row){
  double mx = -INFINITY, s = 0.0;
  int k;
  if( m->nout==1 ) return row[0];
  for(k=0; k<m->nout; k++) if( k!=1 && row[k]>mx ) mx = row[k];
  for(k=0; k<m->nout; k++) if( k!=1 ) s += exp((double)row[k] - mx);
  return (double)row[1] - (mx + log(s));
}

static int lf_scored_reserve(lf_metric *m, int64_t need){
  lf_scored *p;
  int64_t cap;
  if( need<=m->capscored ) return 1;
  cap = m->capscored ? m->capscored : 1024;
  while( cap<need ) cap *= 2;
  p = realloc(m->scored, (size_t)cap * sizeof(lf_scored));
  if( p==0 ) return 0;
  m->scored = p;
  m->capscored = cap;
  return 1;
}

void lf_metric_update(lf_metric *m, const float *y, const float *target,
                      int batch){
  int i;
  if( m==0 || batch<=0 ) return;
  if( y==0 || target==0 ){ m->bad = 1; return; }
  if( m->fn ){ m->fn->update(m->acc, y, target, batch); return; }
  if( m->kind==LF_MET_TOPK ){
    for(i=0; i<batch; i++){
      const float *row = y + (int64_t)i*m->nout;
      int t = lf_target_class(m, target[i]), rank = 0, j;
      if( t<0 ){ m->bad = 1; continue; }
      if( m->nout==1 ){
        /* scores (0, y): class 1 wins only when y > 0 */
        rank = t==1 ? !(row[0]>0.0f) : row[0]>0.0f;
      }else{
        float st = row[t];
        for(j=0; j<m->nout; j++){
          if( row[j]>st || (j<t && row[j]==st) ) rank++;
        }
        if( st!=st ) rank = m->nout;          /* NaN: never a hit */
      }
      m->n++;
      if( rank < m->k ) m->correct++;
    }
  }else if( lf_metric_is_ranked(m->kind) ){
    if( !lf_scored_reserve(m, m->nscored + batch) ){ m->bad = 1; return; }
    for(i=0; i<batch; i++){
      const float *row = y + (int64_t)i*m->nout;
      int t = lf_target_class(m, target[i]);
      if( t<0 ){ m->bad = 1; continue; }
      m->scored[m->nscored].score = lf_log_odds(m, row);
      m->scored[m->nscored].positive = t==1;
      m->nscored++;
    }
    m->n += batch;
  }else if( lf_metric_is_class(m->kind) ){
    for(i=0; i<batch; i++){
      int t = lf_target_class(m, target[i]);
      int p = lf_pred_class(m, y + (int64_t)i*m->nout);
      if( t<0 ){ m->bad = 1; continue; }
      m->n++;
      m->npred[p]++;
      m->nsupp[t]++;
      if( p==t ){ m->tp[p]++; m->correct++; }
    }
  }else{
    int64_t nv = (int64_t)batch * m->nout, j;
    for(j=0; j<nv; j++){
      double t = target[j], d = (double)y[j] - t, delta;
      m->abs_sum += fabs(d);
      m->sq_sum += d*d;
      m->n++;
      delta = t - m->t_mean;             /* Welford: no cancellation */
      m->t_mean += delta / (double)m->n;
      m->t_m2 += delta * (t - m->t_mean);
    }
  }
}

static int lf_cmp_scored(const void *a, const void *b){
  double x = ((const lf_scored*)a)->score, y = ((const lf_scored*)b)->score;
  return (x>y) - (x<y);
}

/* Mann-Whitney: AUC = (sum of positive ranks - P(P+1)/2) / (P*N), with
** tied scores sharing their average rank. Sorts the stored scores in
** place; their order is not part of the metric's state. */
static double lf_auroc(const lf_metric *m){
  lf_scored *s = m->scored;
  int64_t n = m->nscored, i, j, npos = 0;
  double rank_sum = 0.0;
  if( n==0 ) return NAN;
  for(i=0; i<n; i++){
    if( s[i].score!=s[i].score ) return NAN;   /* NaN output: no order */
    npos += s[i].positive;
  }
  if( npos==0 || npos==n ) return NAN;
  qsort(s, (size_t)n, sizeof(lf_scored), lf_cmp_scored);
  for(i=0; i<n; i=j){
    int64_t pos_in_tie = 0;
    double avg_rank;
    for(j=i; j<n && s[j].score==s[i].score; j++) pos_in_tie += s[j].positive;
    avg_rank = (double)(i + 1 + j) / 2.0;     /* ranks i+1 .. j */
    rank_sum += avg_rank * (double)pos_in_tie;
  }
  return (rank_sum - (double)npos * (double)(npos + 1) / 2.0)
         / ((double)npos * (double)(n - npos));
}

/* Average precision: thresholds at each distinct score, descending; at
** each, precision = tp/(tp+fp) weighted by the recall it adds. */
static double lf_auprc(const lf_metric *m){
  lf_scored *s = m->scored;
  int64_t n = m->nscored, i, j, npos = 0, tp = 0;
  double ap = 0.0;
  if( n==0 ) return NAN;
  for(i=0; i<n; i++){
    if( s[i].score!=s[i].score ) return NAN;
    npos += s[i].positive;
  }
  if( npos==0 ) return NAN;            /* recall undefined */
  qsort(s, (size_t)n, sizeof(lf_scored), lf_cmp_scored);
  /* ascending order: walk from the top */
  for(i=n; i>0; i=j){
    int64_t pos_in_tie = 0;
    for(j=i; j>0 && s[j-1].score==s[i-1].score; j--) pos_in_tie += s[j-1].positive;
    tp += pos_in_tie;
    if( pos_in_tie ) ap += ((double)pos_in_tie / (double)npos) * ((double)tp / (double)(n - j));
  }
  return ap;
}

/* Macro average over the classes seen in targets or predictions. */
static double lf_macro(const lf_metric *m){
  double sum = 0.0;
  int k, used = 0;
  for(k=0; k<m->ncls; k++){
    double prec, rec, v;
    if( m->npred[k]==0 && m->nsupp[k]==0 ) continue;
    used++;
    prec = m->npred[k] ? (double)m->tp[k] / (double)m->npred[k] : 0.0;
    rec = m->nsupp[k] ? (double)m->tp[k] / (double)m->nsupp[k] : 0.0;
    switch( m->kind ){
      case LF_MET_PRECISION: v = prec; break;
      case LF_MET_RECALL:    v = rec; break;
      default:               v = prec+rec>0 ? 2.0*prec*rec/(prec+rec) : 0.0;
    }
    sum += v;
  }
  return used ? sum / used : NAN;
}

double lf_metric_value(const lf_metric *m){
  if( m && m->fn && !m->bad ) return m->fn->value(m->acc);
  if( m==0 || m->bad || m->n==0 ) return NAN;
  switch( m->kind ){
    case LF_MET_ACCURACY:
    case LF_MET_TOPK:      return (double)m->correct / (double)m->n;
    case LF_MET_AUPRC:     return lf_auprc(m);
    case LF_MET_PRECISION:
    case LF_MET_RECALL:
    case LF_MET_F1:        return lf_macro(m);
    case LF_MET_AUROC:     return lf_auroc(m);
    case LF_MET_MAE:       return m->abs_sum / (double)m->n;
    case LF_MET_RMSE:      return sqrt(m->sq_sum / (double)m->n);
    case LF_MET_R2:
      if( m->t_m2<=0.0 ) return m->sq_sum==0.0 ? 1.0 : 0.0;
      return 1.0 - m->sq_sum / m->t_m2;
  }
  return NAN;
}
