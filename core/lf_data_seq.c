/*
** lf_data_seq.c — the sequence datasets of docs/sequences.md, from a csv
** file or a SELECT:
**
**   sequence column   each row's sequence (JSON text, a float32 BLOB or an
**                     int32 BLOB of token ids) padded at the end or cut to
**                     max_len steps; a sample is the steps then the mask
**                     (1 valid, 0 padding), which the config's input groups
**                     <column> and <column>_mask slice apart.
**   sliding windows   ordered numeric rows cut into [window, F] samples
**                     whose label is the target `horizon` rows after the
**                     window; with val_fraction the training split keeps
**                     the windows whose target lies before the cut and the
**                     validation split the others (no future target in
**                     training).
**
** Rows come from lf_dataset_scan (the csv reader of lf_data_csv.c, the
** read-only query of lf_data_sql.c); labels go through lf_dataset_labels
** like every csv/sql label. Every value is checked; errors name the
** source, row and column.
*/
#include "lf_dataset.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_MAX_VALUES ((int64_t)1 << 31)   /* floats in one split */

typedef struct seq_load {
  const lf_dataset_spec *spec;
  int label_col, seq_col;
  int *feat;                 /* windows: feature columns */
  int nfeat;
  int64_t width;             /* floats per stored row */
  int64_t n, cap;
  float *x;                  /* n * width */
  char **labels;             /* n label texts */
  const char *src;
} seq_load;

static void sl_err(char *err, size_t errlen, const char *fmt, ...){
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static void seq_free(seq_load *s){
  for(int64_t i=0; i<s->n; i++) free(s->labels[i]);
  free(s->labels);
  free(s->x);
  free(s->feat);
}

/* Room for one more row: where its floats go (zeroed), or NULL. */
static float *seq_row(seq_load *s, char *err, size_t errlen){
  if( s->n == s->cap ){
    int64_t cap = s->cap ? 2*s->cap : 256;
    if( cap * s->width > SEQ_MAX_VALUES ){
      sl_err(err, errlen, "%s is too large (over %lld values)", s->src, (long long)SEQ_MAX_VALUES);
      return NULL;
    }
    float *x = realloc(s->x, sizeof(float) * (size_t)(cap * s->width));
    if( x ) s->x = x;
    char **l = x ? realloc(s->labels, sizeof(char*) * (size_t)cap) : NULL;
    if( l ) s->labels = l;
    if( !x || !l ){ sl_err(err, errlen, "out of memory loading %s", s->src); return NULL; }
    s->cap = cap;
  }
  float *r = s->x + s->n * s->width;
  memset(r, 0, sizeof(float) * (size_t)s->width);
  return r;
}

/* The label text of row (NULL or empty: an error). */
static int seq_label(seq_load *s, int64_t row, const lf_scan_cell *c, const char *name, char *err, size_t errlen){
  if( c->type != LF_CELL_TEXT || c->len == 0 ){
    sl_err(err, errlen, "%s row %lld: the label ('%s') is %s", s->src, (long long)row, name,
           c->type == LF_CELL_NULL ? "NULL" : c->type == LF_CELL_BLOB ? "a BLOB" : "empty");
    return -1;
  }
  s->labels[s->n] = strdup((const char*)c->p);
  if( !s->labels[s->n] ){ sl_err(err, errlen, "out of memory"); return -1; }
  return 0;
}

/* ---- a sequence column ---- */

static int seq_header(void *ctx, const lf_scan_header *h, char *err, size_t errlen){
  seq_load *s = ctx;
  s->src = h->src;
  s->label_col = lf_scan_column(h, s->spec->label ? s->spec->label : "label", "label", err, errlen);
  if( s->label_col < 0 ) return -1;
  s->seq_col = lf_scan_column(h, s->spec->seq_column, "sequence", err, errlen);
  return s->seq_col < 0 ? -1 : 0;
}

/* One step value v at step t, feature f (int32: a whole id >= 0). */
static int seq_put(seq_load *s, float *r, int t, int f, double v, int64_t row, const char *col,
                   char *err, size_t errlen){
  const lf_dataset_spec *d = s->spec;
  if( !isfinite(v) || fabs(v) > 3.4e38 ){
    sl_err(err, errlen, "%s row %lld column '%s': step %d holds a value that is not a finite float32", s->src,
           (long long)row, col, t + 1);
    return -1;
  }
  if( d->seq_int32 && (v != floor(v) || v < 0 || v > 2147483647.0) ){
    sl_err(err, errlen, "%s row %lld column '%s': step %d is %g, not a token id (an integer >= 0)", s->src,
           (long long)row, col, t + 1, v);
    return -1;
  }
  if( t < d->max_len ) r[(int64_t)t * d->step_features + f] = (float)v;
  return 0;
}

/* The steps of a parsed JSON sequence j into r. */
static int seq_walk(seq_load *s, float *r, const cJSON *j, int64_t row, const char *col, int *steps,
                    char *err, size_t errlen){
  const lf_dataset_spec *d = s->spec;
  int F = d->step_features;
  if( !cJSON_IsArray(j) ){
    sl_err(err, errlen, "%s row %lld column '%s': not a JSON array (write the sequence as [v1, v2, ...]%s)",
           s->src, (long long)row, col, F > 1 ? " with a list of step_features values per step" : "");
    return -1;
  }
  int t = 0;
  for(const cJSON *e = j->child; e; e = e->next, t++){
    if( F == 1 && cJSON_IsNumber(e) ){
      if( seq_put(s, r, t, 0, e->valuedouble, row, col, err, errlen) ) return -1;
      continue;
    }
    if( !cJSON_IsArray(e) || cJSON_GetArraySize(e) != F ){
      sl_err(err, errlen, "%s row %lld column '%s': step %d must be %s%d numbers (step_features %d)", s->src,
             (long long)row, col, t + 1, F == 1 ? "a number or a list of " : "a list of ", F, F);
      return -1;
    }
    int f = 0;
    for(const cJSON *v = e->child; v; v = v->next, f++){
      if( !cJSON_IsNumber(v) ){
        sl_err(err, errlen, "%s row %lld column '%s': step %d value %d is not a number", s->src, (long long)row, col,
               t + 1, f + 1);
        return -1;
      }
      if( seq_put(s, r, t, f, v->valuedouble, row, col, err, errlen) ) return -1;
    }
  }
  *steps = t;
  return 0;
}

static int seq_json(seq_load *s, float *r, const lf_scan_cell *c, int64_t row, const char *col, int *steps,
                    char *err, size_t errlen){
  cJSON *j = cJSON_ParseWithLength((const char*)c->p, (size_t)c->len);
  int rc = seq_walk(s, r, j, row, col, steps, err, errlen);
  cJSON_Delete(j);
  return rc;
}

static int seq_blob(seq_load *s, float *r, const lf_scan_cell *c, int64_t row, const char *col, int *steps,
                    char *err, size_t errlen){
  const lf_dataset_spec *d = s->spec;
  int64_t per = d->seq_int32 ? 4 : 4 * (int64_t)d->step_features;
  if( c->len % per != 0 ){
    sl_err(err, errlen, "%s row %lld column '%s': a BLOB of %lld bytes is not a whole number of steps of %lld bytes "
           "(%s)", s->src, (long long)row, col, (long long)c->len, (long long)per,
           d->seq_int32 ? "int32 token ids" : "step_features float32 values");
    return -1;
  }
  int64_t n = c->len / per;
  const unsigned char *b = c->p;
  for(int64_t t=0; t<n && t<d->max_len; t++){
    for(int f=0; f<(d->seq_int32 ? 1 : d->step_features); f++){
      double v;
      if( d->seq_int32 ){ int32_t i; memcpy(&i, b + t*per, 4); v = i; }
      else { float x; memcpy(&x, b + t*per + 4*f, 4); v = x; }
      if( seq_put(s, r, (int)t, f, v, row, col, err, errlen) ) return -1;
    }
  }
  *steps = n > d->max_len ? d->max_len : (int)n;
  return 0;
}

static int seq_rowfn(void *ctx, int64_t row, const lf_scan_cell *cells, char *err, size_t errlen){
  seq_load *s = ctx;
  const lf_dataset_spec *d = s->spec;
  const lf_scan_cell *c = &cells[s->seq_col];
  float *r = seq_row(s, err, errlen);
  int steps = 0;
  if( !r ) return -1;
  if( c->type == LF_CELL_NULL ){
    sl_err(err, errlen, "%s row %lld column '%s': the sequence is NULL (write [] for an empty one)", s->src,
           (long long)row, d->seq_column);
    return -1;
  }
  if( (c->type == LF_CELL_BLOB ? seq_blob : seq_json)(s, r, c, row, d->seq_column, &steps, err, errlen) ) return -1;
  if( steps > d->max_len ) steps = d->max_len;
  float *mask = r + (int64_t)d->max_len * (d->seq_int32 ? 1 : d->step_features);
  for(int t=0; t<steps; t++) mask[t] = 1.0f;
  if( seq_label(s, row, &cells[s->label_col], d->label ? d->label : "label", err, errlen) ) return -1;
  s->n++;
  return 0;
}

/* One input sequence (JSON when seq is set, else a BLOB) into a zeroed
** sample row: its steps, then the mask of its valid steps. */
static int encode_one(const lf_dataset_spec *spec, const cJSON *seq, const void *blob, int64_t len,
                      int64_t sample, float *row, char *err, size_t errlen){
  seq_load s;
  memset(&s, 0, sizeof s);
  s.spec = spec;
  s.src = "input";
  int64_t w = (int64_t)spec->max_len * (spec->seq_int32 ? 1 : spec->step_features);
  memset(row, 0, sizeof(float) * (size_t)(w + spec->max_len));
  int steps = 0;
  if( seq ){
    if( seq_walk(&s, row, seq, sample, spec->seq_column, &steps, err, errlen) ) return -1;
  }else{
    lf_scan_cell c = { blob, len, LF_CELL_BLOB };
    if( seq_blob(&s, row, &c, sample, spec->seq_column, &steps, err, errlen) ) return -1;
  }
  for(int t=0; t<steps && t<spec->max_len; t++) row[w + t] = 1.0f;
  return 0;
}

int lf_seqdata_encode(const lf_dataset_spec *spec, const cJSON *seq, int64_t sample, float *row,
                      char *err, size_t errlen){
  return encode_one(spec, seq, NULL, 0, sample, row, err, errlen);
}

int lf_seqdata_encode_blob(const lf_dataset_spec *spec, const void *blob, int64_t len, int64_t sample,
                           float *row, char *err, size_t errlen){
  return encode_one(spec, NULL, blob, len, sample, row, err, errlen);
}

/* ---- sliding windows ---- */

static int win_header(void *ctx, const lf_scan_header *h, char *err, size_t errlen){
  seq_load *s = ctx;
  const lf_dataset_spec *d = s->spec;
  s->src = h->src;
  s->label_col = lf_scan_column(h, d->label ? d->label : "label", "target (label)", err, errlen);
  if( s->label_col < 0 ) return -1;
  s->nfeat = d->nfeatures > 0 ? d->nfeatures : h->ncol;
  s->feat = malloc(sizeof(int) * (size_t)(s->nfeat + 1));
  if( !s->feat ){ sl_err(err, errlen, "out of memory"); return -1; }
  for(int j=0; j<s->nfeat; j++){
    s->feat[j] = d->nfeatures > 0 ? lf_scan_column(h, d->features[j], "feature", err, errlen) : j;
    if( s->feat[j] < 0 ) return -1;
  }
  s->width = s->nfeat;
  return 0;
}

static int win_rowfn(void *ctx, int64_t row, const lf_scan_cell *cells, char *err, size_t errlen){
  seq_load *s = ctx;
  float *r = seq_row(s, err, errlen);
  if( !r ) return -1;
  for(int j=0; j<s->nfeat; j++){
    const lf_scan_cell *c = &cells[s->feat[j]];
    double v;
    if( !lf_scan_number(c, &v) || fabs(v) > 3.4e38 ){
      sl_err(err, errlen, "%s row %lld, column %d: '%.40s' is not a number (window datasets are numeric; "
             "list the numeric columns in features)", s->src, (long long)row, s->feat[j] + 1,
             c->type == LF_CELL_TEXT ? (const char*)c->p : c->type == LF_CELL_NULL ? "NULL" : "BLOB");
      return -1;
    }
    r[j] = (float)v;
  }
  if( seq_label(s, row, &cells[s->label_col], s->spec->label ? s->spec->label : "label", err, errlen) ) return -1;
  s->n++;
  return 0;
}

/* The windows of the loaded rows (this split's) into out. */
static int win_cut(seq_load *s, char *const *given, int ngiven, lf_dataset *out, char *err, size_t errlen){
  const lf_dataset_spec *d = s->spec;
  int64_t W = d->window, H = d->horizon, S = d->stride, F = s->nfeat, n = s->n;
  int64_t cut = n - (int64_t)llround(d->val_fraction * (double)n);
  int64_t lo = 0, hi = n;            /* target rows kept: [lo, hi) */
  if( d->val_fraction > 0 && d->split == 1 ) hi = cut;
  if( d->val_fraction > 0 && d->split == 2 ) lo = cut;
  int64_t count = 0;
  for(int64_t st=0; st + W - 1 + H < n; st += S){
    int64_t t = st + W - 1 + H;
    if( t >= lo && t < hi ) count++;
  }
  if( count == 0 ){
    sl_err(err, errlen, "%s has %lld rows: no window of %lld rows with its target %lld rows later%s; "
           "give more rows or a smaller window", s->src, (long long)n, (long long)W, (long long)H,
           d->val_fraction > 0 && d->split ? (d->split == 1 ? " before the validation rows" : " in the validation rows") : "");
    return -1;
  }
  if( count * W * F > SEQ_MAX_VALUES ){
    sl_err(err, errlen, "%s: %lld windows of %lld values are too many; raise stride", s->src, (long long)count,
           (long long)(W * F));
    return -1;
  }
  float *x = malloc(sizeof(float) * (size_t)(count * W * F));
  const char **text = malloc(sizeof(char*) * (size_t)count);
  if( !x || !text ){ free(x); free(text); sl_err(err, errlen, "out of memory"); return -1; }
  int64_t k = 0;
  for(int64_t st=0; st + W - 1 + H < n; st += S){
    int64_t t = st + W - 1 + H;
    if( t < lo || t >= hi ) continue;
    memcpy(x + k * W * F, s->x + st * F, sizeof(float) * (size_t)(W * F));
    text[k++] = s->labels[t];
  }
  int rc = lf_dataset_labels(d, text, count, given, ngiven, s->src, out, err, errlen);
  free(text);
  if( rc ){ free(x); return -1; }
  out->x = x;
  out->n = count;
  out->shape.ndim = 2;
  out->shape.dim[0] = W;
  out->shape.dim[1] = F;
  return 0;
}

/* ---- public ---- */

static int64_t seq_steps_width(const lf_dataset_spec *d){
  return (int64_t)d->max_len * (d->seq_int32 ? 1 : d->step_features);
}

int lf_seqdata_load(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                    char *const *class_names, int nclass_names,
                    lf_dataset *out, char *err, size_t errlen){
  seq_load s;
  memset(&s, 0, sizeof s);
  memset(out, 0, sizeof *out);
  s.spec = spec;
  s.src = src;
  int rc = -1;
  if( spec->seq_column ){
    if( spec->max_len < 1 || spec->step_features < 1 ){
      sl_err(err, errlen, "dataset: a sequence column needs max_len >= 1 and step_features >= 1");
      return -1;
    }
    s.width = seq_steps_width(spec) + spec->max_len;
    if( lf_dataset_scan(spec, src, db, seq_header, seq_rowfn, &s, err, errlen) ) goto done;
    if( s.n == 0 ){ sl_err(err, errlen, "%s has no data rows (the dataset is empty)", s.src); goto done; }
    if( lf_dataset_labels(spec, (const char *const *)s.labels, s.n, class_names, nclass_names, s.src, out,
                          err, errlen) ) goto done;
    out->x = s.x;
    s.x = NULL;
    out->n = s.n;
    out->shape.ndim = 1;
    out->shape.dim[0] = s.width;
    rc = 0;
  }else{
    if( spec->window < 1 || spec->horizon < 1 || spec->stride < 1 ){
      sl_err(err, errlen, "dataset: window, horizon and stride must be at least 1");
      return -1;
    }
    if( lf_dataset_scan(spec, src, db, win_header, win_rowfn, &s, err, errlen) ) goto done;
    rc = win_cut(&s, class_names, nclass_names, out, err, errlen);
  }
done:
  seq_free(&s);
  return rc;
}

static int probe_header(void *ctx, const lf_scan_header *h, char *err, size_t errlen){
  seq_load *s = ctx;
  return s->spec->seq_column ? seq_header(ctx, h, err, errlen) : win_header(ctx, h, err, errlen);
}

int lf_seqdata_probe(const lf_dataset_spec *spec, const char *src, sqlite3 *db,
                     lf_shape *shape, char *err, size_t errlen){
  seq_load s;
  memset(&s, 0, sizeof s);
  memset(shape, 0, sizeof *shape);
  s.spec = spec;
  int rc = lf_dataset_scan(spec, src, db, probe_header, NULL, &s, err, errlen);
  if( rc == 0 ){
    if( spec->seq_column ){
      shape->ndim = 1;
      shape->dim[0] = seq_steps_width(spec) + spec->max_len;
    }else{
      shape->ndim = 2;
      shape->dim[0] = spec->window;
      shape->dim[1] = s.nfeat;
    }
  }
  seq_free(&s);
  return rc;
}
