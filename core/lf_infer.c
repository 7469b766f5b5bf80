/*
** lf_infer.c — ppl_predict and ppl_evaluate: a kept weight file put to use.
**
** Inputs are in the units of the dataset's source rows (pixel bytes for
** idx, raw CSV numbers); the dataset's scale and the training split's
** standardisation are applied here exactly as in training.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_train.h"
#include "lf_dataset.h"
#include "lf_model.h"
#include "lf_ppl.h"

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

/* Depth of nesting following first elements: 0 for a number. */
static int json_depth(const cJSON *v){
  int d = 0;
  while( cJSON_IsArray(v) ){ d++; v = v->child; }
  return d;
}

/* Appends every number of v (depth-first) to out; -1 on a non-number. */
static int flatten_numbers(const cJSON *v, float *out, int64_t cap, int64_t *count){
  if( cJSON_IsNumber(v) ){
    if( *count >= cap || !isfinite(v->valuedouble) ) return -1;
    out[(*count)++] = (float)v->valuedouble;
    return 0;
  }
  if( !cJSON_IsArray(v) ) return -1;
  for(const cJSON *c = v->child; c; c = c->next){
    if( flatten_numbers(c, out, cap, count) ) return -1;
  }
  return 0;
}

static int count_leaves(const cJSON *v, int64_t *count){
  if( cJSON_IsArray(v) ){
    for(const cJSON *c = v->child; c; c = c->next) if( count_leaves(c, count) ) return -1;
    return 0;
  }
  (*count)++;
  return *count > 100000000 ? -1 : 0;
}

/* Scale and standardise raw features in place, as the dataset loader did. */
static void transform_inputs(const lf_model *m, float *x, int64_t nsamples){
  int64_t cnt = lf_shape_count(&m->in);
  double scale = m->spec.dataset.scale;
  for(int64_t s=0; s<nsamples; s++){
    float *row = x + s*cnt;
    if( scale > 0 ) for(int64_t i=0; i<cnt; i++) row[i] = (float)(row[i] / scale);
    if( m->mean ) for(int64_t i=0; i<cnt; i++) row[i] = (row[i] - m->mean[i]) / m->std[i];
  }
}

char *lf_predict(sqlite3 *db, const char *pplid, const char *which,
                 const char *json_input, const void *blob, int blob_len,
                 const char *mode, char *err, size_t n){
  lf_model m;
  int epoch;
  if( open_trained(db, pplid, which, &m, &epoch, err, n) ) return NULL;
  char *result = NULL;
  float *x = NULL;
  cJSON *in = NULL, *out = NULL;
  int64_t cnt = lf_shape_count(&m.in), total = 0, nsamples = 0;
  int one_sample = 0;
  char shape[64];
  lf_shape_str(&m.in, shape, sizeof shape);
  int classification = lf_loss_is_classification(&m.spec.loss) || m.spec.loss.kind==LF_LOSS_BCE_WITH_LOGITS;
  if( !classification && strcmp(mode, "raw") != 0 ){
    snprintf(err, n, "mode '%s' needs a classification loss; this pipeline is a regression", mode);
    goto done;
  }
  if( blob ){
    if( blob_len <= 0 || blob_len % (int)sizeof(float) || (blob_len / (int)sizeof(float)) % cnt ){
      snprintf(err, n, "a BLOB input must hold float32 samples of %lld values each (shape %s); got %d bytes",
               (long long)cnt, shape, blob_len);
      goto done;
    }
    total = blob_len / (int)sizeof(float);
    x = malloc((size_t)blob_len);
    if( !x ){ snprintf(err, n, "out of memory"); goto done; }
    memcpy(x, blob, (size_t)blob_len);
    for(int64_t i=0; i<total; i++){
      if( !isfinite(x[i]) ){
        snprintf(err, n, "BLOB input value %lld is not a finite number", (long long)i);
        goto done;
      }
    }
    one_sample = total == cnt;
  }else{
    in = cJSON_Parse(json_input);
    if( !cJSON_IsArray(in) ){
      snprintf(err, n, "input must be a JSON array: one sample of %lld numbers (shape %s) or a list of samples",
               (long long)cnt, shape);
      goto done;
    }
    if( count_leaves(in, &total) || total == 0 || total % cnt ){
      snprintf(err, n, "input has %lld values; each sample needs %lld (shape %s)", (long long)total, (long long)cnt, shape);
      goto done;
    }
    int depth = json_depth(in);
    /* One sample is flat (depth 1) or nested like the shape (depth ndim);
    ** anything deeper is a list of samples. */
    one_sample = total == cnt && (depth == 1 || depth == m.in.ndim);
    x = malloc(sizeof(float) * (size_t)total);
    int64_t got = 0;
    if( !x ){ snprintf(err, n, "out of memory"); goto done; }
    if( flatten_numbers(in, x, total, &got) || got != total ){
      snprintf(err, n, "input must contain only finite numbers");
      goto done;
    }
  }
  nsamples = total / cnt;
  transform_inputs(&m, x, nsamples);
  int nout = (int)lf_shape_count(&m.out);
  int bce = m.spec.loss.kind == LF_LOSS_BCE_WITH_LOGITS;
  out = cJSON_CreateArray();
  int bs = m.spec.val_batch;
  for(int64_t start=0; start<nsamples; start+=bs){
    int nb = (int)(nsamples - start < bs ? nsamples - start : bs);
    char why[512];
    const float *y = lf_net_forward(m.net, x + start*cnt, nb, 0, NULL, why, sizeof why);
    if( !y ){ snprintf(err, n, "forward pass failed: %s", why); goto done; }
    for(int i=0; i<nb; i++){
      const float *yi = y + (size_t)i*nout;
      cJSON *row = NULL;
      if( strcmp(mode, "class")==0 ){
        int best = 0;
        if( bce ) best = yi[0] > 0;
        else for(int k=1; k<nout; k++) if( yi[k] > yi[best] ) best = k;
        if( m.classes && best < m.nclasses_text ) row = cJSON_CreateString(m.classes[best]);
        else row = cJSON_CreateNumber(best);
      }else{
        row = cJSON_CreateArray();
        double mx = yi[0], z = 0;
        if( strcmp(mode, "proba")==0 && !bce ){
          for(int k=1; k<nout; k++) if( yi[k] > mx ) mx = yi[k];
          for(int k=0; k<nout; k++) z += exp(yi[k] - mx);
        }
        for(int k=0; k<nout; k++){
          double v = yi[k];
          if( strcmp(mode, "proba")==0 ) v = bce ? 1.0/(1.0+exp(-v)) : exp(v - mx)/z;
          cJSON_AddItemToArray(row, cJSON_CreateNumber((double)(float)v));
        }
      }
      cJSON_AddItemToArray(out, row);
    }
  }
  if( one_sample ){
    cJSON *only = cJSON_DetachItemFromArray(out, 0);
    cJSON_Delete(out);
    out = only;
  }
  result = cJSON_PrintUnformatted(out);
  if( !result ) snprintf(err, n, "out of memory");
done:
  cJSON_Delete(in);
  cJSON_Delete(out);
  free(x);
  lf_model_close(&m);
  return result;
}

char *lf_evaluate(sqlite3 *db, const char *pplid, const char *data_src,
                  const char *which, char *err, size_t n){
  lf_model m;
  int epoch;
  if( open_trained(db, pplid, which, &m, &epoch, err, n) ) return NULL;
  char *result = NULL, why[1024];
  lf_dataset d;
  memset(&d, 0, sizeof d);
  lf_metric **metrics = calloc((size_t)m.spec.nmetrics + 1, sizeof(lf_metric*));
  float *yb = NULL;
  cJSON *o = NULL;
  char *src = m.spec.dataset.kind==LF_DS_SQL ? strdup(data_src) : lf_project_resolve_path(db, data_src);
  if( !metrics || !src ){ snprintf(err, n, "out of memory"); goto done; }
  if( lf_dataset_load(&m.spec.dataset, src, db, m.classes, m.nclasses_text, &d, why, sizeof why) ){
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
  return result;
}
