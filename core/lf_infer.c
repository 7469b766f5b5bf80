/*
** lf_infer.c — ppl_evaluate: a kept weight file measured on another data
** source, with the dataset's scale and the training split's
** standardisation applied exactly as in training. (ppl_predict is in
** lf_predict.c.)
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_infer.h"
#include "lf_dataset.h"
#include "lf_model.h"
#include "lf_ppl.h"
#include "lf_tabular.h"

static int open_trained(sqlite3 *db, const char *pplid, const char *which, lf_model *m,
                        int *epoch, char *err, size_t n){
  if( lf_model_open(db, pplid, m, err, n) ) return -1;
  char *path = NULL;
  if( lf_model_pick_epoch(db, pplid, which, epoch, err, n)
   || lf_model_load_classes(db, pplid, m, err, n)
   || !(path = lf_ppl_path(m->artifacts, "weight", pplid, *epoch, err, n))
   || lf_model_load_weights(m, path, err, n) ){
    free(path);
    lf_model_close(m);
    return -1;
  }
  free(path);
  return 0;
}

char *lf_evaluate(sqlite3 *db, const char *pplid, const char *data_src,
                  const char *which, char *err, size_t n){
  lf_model m;
  int epoch;
  if( open_trained(db, pplid, which, &m, &epoch, err, n) ) return NULL;
  int caller_threads = lf_threads_apply(m.settings.threads);
  char *result = NULL, why[1024];
  lf_dataset d;
  memset(&d, 0, sizeof d);
  lf_metric **metrics = calloc((size_t)m.spec.nmetrics + 1, sizeof(lf_metric*));
  float *yb = NULL;
  cJSON *o = NULL;
  char *src = m.spec.dataset.kind==LF_DS_SQL ? strdup(data_src) : lf_project_resolve_path(db, data_src);
  if( !metrics || !src ){ snprintf(err, n, "out of memory"); goto done; }
  if( LF_DS_TABULAR(&m.spec.dataset) && !m.tab ){
    snprintf(err, n, "the weight file of epoch %d has no category vocabularies (written by an older LabFlow?); "
             "make a new pipeline from its config (ppl_new('new_id', (SELECT config FROM ppls WHERE pplid='%s'))) and train that", epoch, pplid);
    goto done;
  }
  if( lf_dataset_load_tab(&m.spec.dataset, src, db, m.classes, m.nclasses_text, m.tab, &d, why, sizeof why) ){
    snprintf(err, n, "data_src: %s", why);
    goto done;
  }
  if( lf_shape_count(&d.shape) != lf_shape_count(&m.in) ){
    char a[64], b[64];
    snprintf(err, n, "data_src has samples of shape %s; the model takes %s",
             lf_shape_str(&d.shape, a, sizeof a), lf_shape_str(&m.in, b, sizeof b));
    goto done;
  }
  if( m.mean ) lf_dataset_standardize(&d, m.mean, m.std);
  int nout = (int)lf_shape_count(&m.out);
  int tw = lf_loss_is_classification(&m.spec.loss) ? 1 : nout;
  if( lf_loss_is_classification(&m.spec.loss) && d.nclasses > nout ){
    snprintf(err, n, "data_src has %d classes; the model has %d outputs", d.nclasses, nout);
    goto done;
  }
  for(int i=0; i<m.spec.nmetrics; i++){
    metrics[i] = lf_metric_create_args(m.spec.metrics[i].kind, nout, &m.spec.metrics[i].args);
    if( !metrics[i] ){ snprintf(err, n, "out of memory"); goto done; }
  }
  int bs = m.spec.val_batch;
  yb = malloc(sizeof(float) * (size_t)bs * (size_t)tw);
  if( !yb ){ snprintf(err, n, "out of memory"); goto done; }
  double loss_sum = 0;
  int64_t cnt = lf_shape_count(&m.in);
  for(int64_t start=0; start<d.n; start+=bs){
    int nb = (int)(d.n - start < bs ? d.n - start : bs);
    for(int i=0; i<nb; i++) for(int k=0; k<tw; k++) yb[(size_t)i*tw+k] = d.y[start+i];
    const float *y = lf_net_forward(m.net, d.x + start*cnt, nb, 0, NULL, why, sizeof why);
    if( !y ){ snprintf(err, n, "forward pass failed: %s", why); goto done; }
    loss_sum += lf_loss_compute(&m.spec.loss, y, yb, nb, nout, NULL) * nb;
    for(int i=0; i<m.spec.nmetrics; i++) lf_metric_update(metrics[i], y, yb, nb);
  }
  o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "pplid", pplid);
  cJSON_AddNumberToObject(o, "epoch", epoch);
  cJSON_AddNumberToObject(o, "samples", (double)d.n);
  cJSON_AddNumberToObject(o, "loss", loss_sum / (double)d.n);
  for(int i=0; i<m.spec.nmetrics; i++){
    double v = lf_metric_value(metrics[i]);
    if( isfinite(v) ) cJSON_AddNumberToObject(o, m.spec.metrics[i].name, v);
    else cJSON_AddNullToObject(o, m.spec.metrics[i].name);
  }
  result = cJSON_PrintUnformatted(o);
  if( !result ) snprintf(err, n, "out of memory");
done:
  cJSON_Delete(o);
  free(yb);
  free(src);
  if( metrics ){
    for(int i=0; i<m.spec.nmetrics; i++) if( metrics[i] ) lf_metric_free(metrics[i]);
    free(metrics);
  }
  lf_dataset_free(&d);
  lf_model_close(&m);
  lf_threads_restore(caller_threads);
  return result;
}
