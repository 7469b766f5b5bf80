/*
** lf_predict.c — ppl_predict's inputs, outputs and the call itself, on a
** model from the connection's cache (see lf_predict.h for the input forms).
**
** Numbers are float32 results printed with 9 significant digits (they read
** back as the same float); ppl_predict and ppl_predict_rows share the
** formatting, so a prediction has one text whichever path made it.
*/
#include <float.h>
#include <limits.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_predict.h"
#include "lf_tabular.h"
#include "../kernels/lf_loss.h"
#include "../kernels/lf_metric.h"

int lf_predict_mode_parse(const char *s, lf_predict_mode *mode){
  if( strcmp(s, "raw")==0 ) *mode = LF_PREDICT_RAW;
  else if( strcmp(s, "proba")==0 ) *mode = LF_PREDICT_PROBA;
  else if( strcmp(s, "class")==0 ) *mode = LF_PREDICT_CLASS;
  else return -1;
  return 0;
}

static int is_bce(const lf_model *m){
  return m->spec.loss.kind == LF_LOSS_BCE_WITH_LOGITS;
}

int lf_predict_check_mode(const lf_model *m, lf_predict_mode mode, char *err, size_t n){
  int classification = lf_loss_is_classification(&m->spec.loss) || is_bce(m);
  if( !classification && mode != LF_PREDICT_RAW ){
    snprintf(err, n, "mode '%s' needs a classification loss; this pipeline is a regression",
             mode==LF_PREDICT_PROBA ? "proba" : "class");
    return -1;
  }
  return 0;
}

/* ---- inputs ------------------------------------------------------------ */

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

/* Is v a missing value for this pipeline (null, empty, or an na marker)? */
static int json_is_na(const lf_dataset_spec *d, const cJSON *v){
  if( !v || cJSON_IsNull(v) ) return 1;
  if( !cJSON_IsString(v) ) return 0;
  char buf[1024];
  const char *t = lf_tabular_trim(v->valuestring, strlen(v->valuestring), buf, sizeof buf);
  if( !t ) return 0;
  if( !t[0] ) return 1;
  if( !d->na_values ) return strcmp(t, "?")==0;
  for(int i=0; i<d->nna_values; i++) if( strcmp(t, d->na_values[i])==0 ) return 1;
  return 0;
}

/* One sample given as {"column": value, ...} for a pipeline with named
** inputs, into row (raw units, categorical values as codes); other keys
** are ignored, as for plain features. */
static int encode_object(const lf_model *m, const cJSON *obj, int64_t k, float *row, char *err, size_t n){
  const lf_dataset_spec *d = &m->spec.dataset;
  const lf_tabular *tab = m->tab;
  for(int j=0; j<tab->ncols; j++){
    const char *col = d->features[j];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, col);
    if( json_is_na(d, v) ){
      if( !d->na_fill ){
        snprintf(err, n, "sample %lld: column '%s' is %s; this pipeline drops rows with missing values "
                 "(\"na\": \"drop\"), so give a value", (long long)k, col, v ? "a missing value" : "missing");
        return -1;
      }
      row[j] = tab->categorical[j] ? 0.0f : tab->fill[j];
      continue;
    }
    if( tab->categorical[j] ){
      char num[64], buf[1024];
      const char *text = NULL;
      if( cJSON_IsString(v) ) text = lf_tabular_trim(v->valuestring, strlen(v->valuestring), buf, sizeof buf);
      else if( cJSON_IsNumber(v) && isfinite(v->valuedouble) ){
        double x = v->valuedouble;
        if( x == floor(x) && fabs(x) < 9e15 ) snprintf(num, sizeof num, "%lld", (long long)x);
        else snprintf(num, sizeof num, "%.15g", x);
        text = num;
      }
      if( !text ){
        snprintf(err, n, "sample %lld: column '%s' is categorical; give its value as a string or a number", (long long)k, col);
        return -1;
      }
      row[j] = (float)lf_tabular_code(tab, j, text);
    }else{
      double x;
      char *end = NULL;
      if( cJSON_IsNumber(v) ) x = v->valuedouble;
      else if( cJSON_IsString(v) ){ x = strtod(v->valuestring, &end); while( end && isspace((unsigned char)*end) ) end++; }
      else x = NAN;
      if( !isfinite(x) || (end && *end) || !isfinite((float)x) ){
        snprintf(err, n, "sample %lld: column '%s' needs a number", (long long)k, col);
        return -1;
      }
      row[j] = (float)x;
    }
  }
  return 0;
}

/* One sample from an object keyed by the dataset's feature names. */
static int sample_from_object(const lf_model *m, const cJSON *o, int64_t k, float *dst, char *err, size_t n){
  const lf_dataset_spec *d = &m->spec.dataset;
  if( m->tab ) return encode_object(m, o, k, dst, err, n);
  if( d->seq_column ){
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, d->seq_column);
    if( !v ){
      snprintf(err, n, "input object has no key \"%s\" (the sequence column, e.g. {\"%s\": [1, 2, 3]})",
               d->seq_column, d->seq_column);
      return -1;
    }
    return lf_seqdata_encode(d, v, k + 1, dst, err, n);
  }
  for(int i=0; i<d->nfeatures; i++){
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, d->features[i]);
    if( !v ){
      snprintf(err, n, "input object has no key \"%s\" (the features are the dataset's columns, in order)",
               d->features[i]);
      return -1;
    }
    if( !cJSON_IsNumber(v) || !isfinite(v->valuedouble) ){
      snprintf(err, n, "input key \"%s\" must be a finite number", d->features[i]);
      return -1;
    }
    dst[i] = (float)v->valuedouble;
  }
  return 0;
}

static int objects_to_samples(const lf_model *m, const cJSON *in, float **x, int64_t *nsamples,
                              int *one_sample, char *err, size_t n){
  const lf_dataset_spec *d = &m->spec.dataset;
  int64_t cnt = lf_shape_count(&m->in);
  if( !d->seq_column && (d->nfeatures <= 0 || d->nfeatures != cnt || !d->features) ){
    snprintf(err, n, "a JSON object input needs the dataset to name its feature columns (dataset args "
             "\"features\"); give a JSON array of %lld numbers in the source's column order instead", (long long)cnt);
    return -1;
  }
  int single = cJSON_IsObject(in);
  int64_t k = single ? 1 : cJSON_GetArraySize(in);
  if( k < 1 ){ snprintf(err, n, "input is an empty list"); return -1; }
  *x = malloc(sizeof(float) * (size_t)(k * cnt));
  if( !*x ){ snprintf(err, n, "out of memory"); return -1; }
  int64_t i = 0;
  for(const cJSON *o = single ? in : in->child; o && i < k; o = single ? NULL : o->next, i++){
    if( !cJSON_IsObject(o) ){
      snprintf(err, n, "input sample %lld is not an object like the others", (long long)i);
      return -1;
    }
    if( sample_from_object(m, o, i, *x + i*cnt, err, n) ) return -1;
  }
  *nsamples = k;
  *one_sample = single;
  return 0;
}

static int blob_to_samples(const lf_model *m, const void *blob, int blob_len, float **x,
                           int64_t *nsamples, int *one_sample, char *err, size_t n){
  int64_t cnt = lf_shape_count(&m->in);
  if( blob_len > 0 && blob_len == cnt ){
    /* One sample as bytes, as an idx image or a uint8 blob column has it. */
    const unsigned char *u = blob;
    *x = malloc(sizeof(float) * (size_t)cnt);
    if( !*x ){ snprintf(err, n, "out of memory"); return -1; }
    for(int64_t i=0; i<cnt; i++) (*x)[i] = (float)u[i];
    *nsamples = 1;
    *one_sample = 1;
    return 0;
  }
  if( blob_len <= 0 || blob_len % (int64_t)sizeof(float) || (blob_len / (int64_t)sizeof(float)) % cnt ){
    char shape[64];
    lf_shape_str(&m->in, shape, sizeof shape);
    snprintf(err, n, "a BLOB input holds one sample of %lld uint8 values or float32 samples of %lld values "
             "(%lld bytes) each, shape %s; got %d bytes", (long long)cnt, (long long)cnt,
             (long long)(cnt * (int64_t)sizeof(float)), shape, blob_len);
    return -1;
  }
  int64_t total = blob_len / (int64_t)sizeof(float);
  *x = malloc((size_t)blob_len);
  if( !*x ){ snprintf(err, n, "out of memory"); return -1; }
  memcpy(*x, blob, (size_t)blob_len);
  for(int64_t i=0; i<total; i++){
    if( !isfinite((*x)[i]) ){
      snprintf(err, n, "BLOB input value %lld is not a finite number", (long long)i);
      return -1;
    }
  }
  *nsamples = total / cnt;
  *one_sample = total == cnt;
  return 0;
}

/* A sequence pipeline's input as the data holds a sequence: a JSON array
** is one sequence ([v1, v2, ...], or [[v, ...], ...] with step_features
** F > 1) or, one level deeper, a list of them. Padded, cut and masked as
** in training. (A BLOB given to ppl_predict is samples in the network's
** form; blob != NULL is ppl_predict_rows' sequence cell.) */
static int sequences_to_samples(const lf_model *m, const cJSON *in, const void *blob, int blob_len,
                                float **x, int64_t *nsamples, int *one_sample, char *err, size_t n){
  const lf_dataset_spec *d = &m->spec.dataset;
  int64_t cnt = lf_shape_count(&m->in);
  int F = d->seq_int32 ? 1 : d->step_features;
  int single = blob != NULL || json_depth(in) <= (F > 1 ? 2 : 1);
  int64_t k = single ? 1 : cJSON_GetArraySize(in);
  if( k < 1 ){ snprintf(err, n, "input is an empty list"); return -1; }
  *x = malloc(sizeof(float) * (size_t)(k * cnt));
  if( !*x ){ snprintf(err, n, "out of memory"); return -1; }
  if( blob ){
    if( lf_seqdata_encode_blob(d, blob, blob_len, 1, *x, err, n) ) return -1;
  }else{
    int64_t i = 0;
    for(const cJSON *s = single ? in : in->child; s && i < k; s = single ? NULL : s->next, i++){
      if( lf_seqdata_encode(d, s, i + 1, *x + i*cnt, err, n) ) return -1;
    }
  }
  *nsamples = k;
  *one_sample = single;
  return 0;
}

int lf_predict_parse_input(const lf_model *m, const char *json, const void *blob, int blob_len,
                           float **x, int64_t *nsamples, int *one_sample, char *err, size_t n){
  *x = NULL;
  *nsamples = 0;
  *one_sample = 0;
  int rc = -1;
  /* A BLOB is float32 samples as the network takes them (for a sequence,
  ** its padded steps then its mask), for every pipeline: the form of an
  ** exported ONNX model's input (docs/export.md). */
  if( blob ) rc = blob_to_samples(m, blob, blob_len, x, nsamples, one_sample, err, n);
  else{
    int64_t cnt = lf_shape_count(&m->in), total = 0;
    char shape[64] = "";
    cJSON *in = cJSON_Parse(json);
    if( !cJSON_IsArray(in) || !cJSON_IsObject(in->child) ) lf_shape_str(&m->in, shape, sizeof shape);
    if( cJSON_IsObject(in) || (cJSON_IsArray(in) && cJSON_IsObject(in->child)) ){
      rc = objects_to_samples(m, in, x, nsamples, one_sample, err, n);
    }else if( cJSON_IsArray(in) && m->spec.dataset.seq_column ){
      rc = sequences_to_samples(m, in, NULL, 0, x, nsamples, one_sample, err, n);
    }else if( !cJSON_IsArray(in) && m->spec.dataset.seq_column ){
      snprintf(err, n, "input must be a sequence as the column '%s' holds it (a JSON array such as [0.5, 0.25]), "
               "a list of them, or an object {\"%s\": [...]}", m->spec.dataset.seq_column, m->spec.dataset.seq_column);
    }else if( !cJSON_IsArray(in) ){
      snprintf(err, n, "input must be a JSON array: one sample of %lld numbers (shape %s) or a list of samples",
               (long long)cnt, shape);
    }else if( count_leaves(in, &total) || total == 0 || total % cnt ){
      snprintf(err, n, "input has %lld values; each sample needs %lld (shape %s)", (long long)total, (long long)cnt, shape);
    }else{
      /* One sample is flat (depth 1) or nested like the shape (depth ndim);
      ** anything deeper is a list of samples. */
      int depth = json_depth(in);
      int64_t got = 0;
      *x = malloc(sizeof(float) * (size_t)total);
      if( !*x ) snprintf(err, n, "out of memory");
      else if( flatten_numbers(in, *x, total, &got) || got != total ) snprintf(err, n, "input must contain only finite numbers");
      else{
        *nsamples = total / cnt;
        *one_sample = total == cnt && (depth == 1 || depth == m->in.ndim);
        rc = 0;
      }
    }
    cJSON_Delete(in);
  }
  if( rc ){
    free(*x);
    *x = NULL;
  }
  return rc;
}

void lf_predict_transform(const lf_model *m, float *x, int64_t nsamples){
  int64_t cnt = lf_shape_count(&m->in);
  double scale = m->spec.dataset.scale;
  for(int64_t s=0; s<nsamples; s++){
    float *row = x + s*cnt;
    if( scale > 0 ) for(int64_t i=0; i<cnt; i++) row[i] = (float)(row[i] / scale);
    if( m->mean ) for(int64_t i=0; i<cnt; i++) row[i] = (row[i] - m->mean[i]) / m->std[i];
  }
}

/* ---- outputs ----------------------------------------------------------- */

/* Where a prediction's text goes: a caller's fixed buffer (one sample:
** no allocation) or, when str is set, a growing sqlite3_str. A fixed
** buffer that runs out sets overflow, and the caller takes the other way. */
typedef struct text_out {
  sqlite3_str *str;
  char *buf;
  size_t cap, len;
  int overflow;
} text_out;

static void put(text_out *o, const char *t, size_t n){
  if( o->str ){ sqlite3_str_append(o->str, t, (int)n); return; }
  if( o->len + n >= o->cap ){ o->overflow = 1; return; }
  memcpy(o->buf + o->len, t, n);
  o->len += n;
  o->buf[o->len] = 0;
}

/* A float32 result with the 9 significant digits that read back as the
** same float: one printf, and no digits the model never computed. */
static void put_number(text_out *o, float f){
  char buf[32];
  int n = isfinite(f) ? snprintf(buf, sizeof buf, "%.9g", (double)f) : snprintf(buf, sizeof buf, "null");
  put(o, buf, (size_t)n);
}

static void format_to(const lf_cached_model *e, const float *y, lf_predict_mode mode, text_out *out){
  const lf_model *m = &e->m;
  int nout = (int)lf_shape_count(&m->out);
  int bce = is_bce(m);
  if( mode == LF_PREDICT_CLASS ){
    int best = bce ? y[0] > 0 : lf_argmax(y, nout);
    if( e->class_json && best < m->nclasses_text ){
      put(out, e->class_json[best], strlen(e->class_json[best]));
    }else{
      char buf[16];
      put(out, buf, (size_t)snprintf(buf, sizeof buf, "%d", best));
    }
    return;
  }
  double mx = y[0], z = 0;
  if( mode == LF_PREDICT_PROBA && !bce ) lf_softmax_norm(y, nout, &mx, &z);
  put(out, "[", 1);
  for(int k=0; k<nout; k++){
    double v = y[k];
    if( mode == LF_PREDICT_PROBA ) v = bce ? lf_sigmoid(v) : lf_softmax_prob(v, mx, z);
    if( k ) put(out, ",", 1);
    put_number(out, (float)v);
  }
  put(out, "]", 1);
}

void lf_predict_format(const lf_cached_model *e, const float *y, lf_predict_mode mode, sqlite3_str *out){
  text_out o = { out, NULL, 0, 0, 0 };
  format_to(e, y, mode, &o);
}

/* One sample's text in a new sqlite3_malloc'ed string, built on the stack
** (no growing buffer); NULL when it does not fit there (or out of memory). */
static char *format_one(const lf_cached_model *e, const float *y, lf_predict_mode mode){
  char buf[1024];
  text_out o = { NULL, buf, sizeof buf, 0, 0 };
  format_to(e, y, mode, &o);
  if( o.overflow ) return NULL;
  char *r = sqlite3_malloc((int)o.len + 1);
  if( r ) memcpy(r, buf, o.len + 1);
  return r;
}

/* ---- ppl_predict --------------------------------------------------------- */

char *lf_predict(lf_model_cache *c, sqlite3 *db, const char *pplid, const char *which,
                 const char *json, const void *blob, int blob_len, lf_predict_mode mode,
                 uint64_t *stamp, char *err, size_t n){
  lf_cached_model *e = lf_model_cache_get_stmt(c, db, pplid, which, stamp, err, n);
  if( !e ) return NULL;
  const lf_model *m = &e->m;
  char *result = NULL;
  float *x = NULL;
  int64_t nsamples = 0;
  int one_sample = 0;
  sqlite3_str *out = NULL;
  if( lf_predict_check_mode(m, mode, err, n)
   || lf_predict_parse_input(m, json, blob, blob_len, &x, &nsamples, &one_sample, err, n) ) goto done;
  lf_predict_transform(m, x, nsamples);
  if( one_sample ){
    /* The row-by-row case: no growing buffer when the text fits the stack. */
    char why[512];
    const float *y = lf_cached_forward(c, e, x, 1, why, sizeof why);
    if( !y ){ snprintf(err, n, "forward pass failed: %s", why); goto done; }
    if( (result = format_one(e, y, mode)) != NULL ) goto done;
  }
  out = sqlite3_str_new(NULL);
  if( !one_sample ) sqlite3_str_appendchar(out, 1, '[');
  int64_t cnt = lf_shape_count(&m->in), nout = lf_shape_count(&m->out);
  int bs = m->spec.val_batch > 0 ? m->spec.val_batch : 256;
  for(int64_t start=0; start<nsamples; start+=bs){
    int nb = (int)(nsamples - start < bs ? nsamples - start : bs);
    char why[512];
    const float *y = lf_cached_forward(c, e, x + start*cnt, nb, why, sizeof why);
    if( !y ){ snprintf(err, n, "forward pass failed: %s", why); goto done; }
    for(int i=0; i<nb; i++){
      if( start + i > 0 ) sqlite3_str_appendchar(out, 1, ',');
      lf_predict_format(e, y + (size_t)i*(size_t)nout, mode, out);
    }
  }
  if( !one_sample ) sqlite3_str_appendchar(out, 1, ']');
  if( sqlite3_str_errcode(out) ){ snprintf(err, n, "out of memory"); goto done; }
  result = sqlite3_str_finish(out);
  out = NULL;
  if( !result ) snprintf(err, n, "out of memory");
done:
  if( out ) sqlite3_free(sqlite3_str_finish(out));
  free(x);
  lf_model_cache_release(c, e);
  return result;
}
