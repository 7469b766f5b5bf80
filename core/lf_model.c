/*
** lf_model.c — opening a pipeline's model and moving its weights between
** the network and weight files.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "lf_model.h"
#include "lf_ppl_plugins.h"
#include "lf_tabular.h"
#include "lf_ppl.h"
#include "lf_graph.h"

int lf_model_open(sqlite3 *db, const char *pplid, lf_model *m, char *err, size_t n){
  memset(m, 0, sizeof *m);
  if( lf_project_settings(db, &m->settings, err, n) ) return -1;
  char *cfg_text = lf_ppl_config(db, pplid, err, n);
  if( !cfg_text ) goto fail;
  cJSON *cfg = lf_json_parse_object(cfg_text, "stored config", err, n);
  free(cfg_text);
  if( !cfg ) goto fail;
  /* Plugin code first: a missing or different build is named as such. */
  if( lf_ppl_plugins_check(db, pplid, cfg, err, n) ){ cJSON_Delete(cfg); goto fail; }
  int rc = lf_config_parse_stored(cfg, &m->settings, &m->spec, err, n);
  cJSON_Delete(cfg);
  if( rc ) goto fail;
  m->artifacts = lf_project_artifacts(db, &m->settings, err, n);
  if( !m->artifacts ) goto fail;
  return 0;
fail:
  lf_model_close(m);
  return -1;
}

int lf_model_build(lf_model *m, const lf_shape *in, char *err, size_t n){
  char msg[512];
  if( m->tab && lf_config_bind_tabular(&m->spec, m->tab, err, n) ) return -1;
  lf_net_graph g;
  if( lf_model_single_input(&m->spec, err, n) ) return -1;
  lf_graph_of(&m->spec, in, &g);
  int bad = lf_net_graph_infer(&g, NULL, &m->out, msg, sizeof msg);
  if( bad >= 0 ){
    snprintf(err, n, "%s: %s", m->spec.node_paths[bad], msg);
    return -1;
  }
  m->in = *in;
  m->net = lf_net_create_graph(&g, msg, sizeof msg);
  if( !m->net ){
    snprintf(err, n, "cannot build the model: %s", msg);
    return -1;
  }
  return 0;
}

int lf_model_single_input(const lf_pipeline_spec *spec, char *err, size_t n){
  if( spec->ninputs == 1 ) return 0;
  snprintf(err, n, "model>args>inputs names %d inputs (%s, %s%s); this dataset gives one input "
           "(its features): give the Graph one input", spec->ninputs, spec->input_names[0],
           spec->input_names[1], spec->ninputs > 2 ? ", ..." : "");
  return -1;
}

void lf_model_close(lf_model *m){
  if( m->net ) lf_net_free(m->net);
  lf_tabular_free(m->tab);
  free(m->mean);
  free(m->std);
  for(int i=0; i<m->nclasses_text; i++) free(m->classes[i]);
  free(m->classes);
  free(m->artifacts);
  lf_pipeline_spec_free(&m->spec);
  lf_settings_free(&m->settings);
  memset(m, 0, sizeof *m);
}

/* Fills m->classes from a JSON array of strings (anything else: none). */
static int set_classes(lf_model *m, const char *json, char *err, size_t n){
  cJSON *a = cJSON_Parse(json);
  int k = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0, result = 0;
  if( k > 0 ){
    m->classes = calloc((size_t)k, sizeof(char*));
    if( !m->classes ){ result = -1; snprintf(err, n, "out of memory"); }
    for(int i=0; m->classes && i<k; i++){
      const cJSON *e = cJSON_GetArrayItem(a, i);
      const char *s = cJSON_IsString(e) ? e->valuestring : "";
      m->classes[i] = malloc(strlen(s)+1);
      if( m->classes[i] ) strcpy(m->classes[i], s);
      m->nclasses_text = i+1;
    }
  }
  cJSON_Delete(a);
  return result;
}

int lf_model_load_classes(sqlite3 *db, const char *pplid, lf_model *m, char *err, size_t n){
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT classes FROM main.ppl_state WHERE pplid=?1", -1, &st, NULL);
  if( rc != SQLITE_OK ){ snprintf(err, n, "%s", sqlite3_errmsg(db)); sqlite3_finalize(st); return -1; }
  sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
  int result = 0;
  if( sqlite3_step(st)==SQLITE_ROW && sqlite3_column_type(st, 0)==SQLITE_TEXT ){
    result = set_classes(m, (const char*)sqlite3_column_text(st, 0), err, n);
  }
  sqlite3_finalize(st);
  return result;
}

int lf_model_open_text(const char *settings_json, const char *config_json, const char *classes_json,
                       lf_model *m, char *err, size_t n){
  memset(m, 0, sizeof *m);
  if( lf_settings_parse(settings_json, &m->settings, err, n) ) return -1;
  cJSON *cfg = lf_json_parse_object(config_json, "stored config", err, n);
  if( !cfg ) goto fail;
  int rc = lf_config_parse_stored(cfg, &m->settings, &m->spec, err, n);
  cJSON_Delete(cfg);
  if( rc ) goto fail;
  if( classes_json && set_classes(m, classes_json, err, n) ) goto fail;
  return 0;
fail:
  lf_model_close(m);
  return -1;
}

int lf_model_pick_epoch(sqlite3 *db, const char *pplid, const char *which,
                        int *epoch, char *err, size_t n){
  int last, best;
  if( lf_ppl_epochs(db, pplid, &last, &best, err, n) ) return -1;
  if( strcmp(which, "best")==0 || strcmp(which, "last")==0 ){
    *epoch = which[0]=='b' ? best : last;
    if( *epoch < 1 ){
      snprintf(err, n, "pipeline '%s' has no trained epoch yet (run ppl_train first)", pplid);
      return -1;
    }
    return 0;
  }
  char *end = NULL;
  long e = strtol(which, &end, 10);
  if( !end || *end || e < 1 ){
    snprintf(err, n, "epoch must be 'best', 'last' or a number >= 1, got '%.40s'", which);
    return -1;
  }
  if( e > last ){
    snprintf(err, n, "pipeline '%s' has no epoch %ld (last epoch: %d)", pplid, e, last);
    return -1;
  }
  sqlite3_stmt *st = NULL;
  int kept = 0;
  if( sqlite3_prepare_v2(db, "SELECT 1 FROM main.ppl_weight_files WHERE pplid=?1 AND epoch=?2", -1, &st, NULL)==SQLITE_OK ){
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)e);
    kept = sqlite3_step(st)==SQLITE_ROW;
  }
  sqlite3_finalize(st);
  if( !kept ){
    snprintf(err, n, "the weights of epoch %ld of '%s' were not kept (the project's keep setting keeps "
             "only the best and last epochs; to keep every epoch trained from now on: SELECT lab_settings('{\"keep\": \"all\"}'))", e, pplid);
    return -1;
  }
  *epoch = (int)e;
  return 0;
}

int lf_model_save_weights(lf_model *m, const char *path, int level, int64_t *bytes,
                          char *err, size_t n){
  int np = lf_net_param_count(m->net);
  lf_tensor_rec *trecs = NULL;
  int ntrecs = 0;
  if( m->tab && lf_tabular_to_recs(m->tab, &trecs, &ntrecs) ){ snprintf(err, n, "out of memory"); return -1; }
  lf_tensor_rec *recs = calloc((size_t)np + 3 + (size_t)ntrecs, sizeof *recs);
  if( !recs ){ lf_tabular_recs_free(trecs, ntrecs); snprintf(err, n, "out of memory"); return -1; }
  int k = 0;
  for(int i=0; i<np; i++){
    lf_param *p = lf_net_param(m->net, i);
    recs[k].name = p->name;
    recs[k].dtype = 4;
    recs[k].ndim = p->shape.ndim;
    for(int d=0; d<p->shape.ndim; d++) recs[k].dim[d] = p->shape.dim[d];
    recs[k].data = p->data;
    k++;
  }
  int64_t shape_vals[LF_MAX_DIMS];
  for(int d=0; d<m->in.ndim; d++) shape_vals[d] = m->in.dim[d];
  recs[k] = (lf_tensor_rec){ .name = "__input_shape", .dtype = 8, .ndim = 1,
                             .dim = {m->in.ndim}, .data = shape_vals };
  k++;
  if( m->mean ){
    int64_t cnt = lf_shape_count(&m->in);
    recs[k++] = (lf_tensor_rec){ .name = "__input_mean", .dtype = 4, .ndim = 1, .dim = {cnt}, .data = m->mean };
    recs[k++] = (lf_tensor_rec){ .name = "__input_std", .dtype = 4, .ndim = 1, .dim = {cnt}, .data = m->std };
  }
  for(int i=0; i<ntrecs; i++) recs[k++] = trecs[i];
  int rc = lf_ckpt_write(path, recs, k, level, err, n);
  free(recs);
  lf_tabular_recs_free(trecs, ntrecs);
  if( rc==0 && bytes ){
    struct stat sb;
    *bytes = stat(path, &sb)==0 ? (int64_t)sb.st_size : 0;
  }
  return rc;
}

/* Copies a float tensor record into dst after checking its size. */
static int take_floats(const lf_tensor_rec *r, float *dst, int64_t count, const char *path,
                       char *err, size_t n){
  int64_t c = 1;
  for(int d=0; d<r->ndim; d++) c *= r->dim[d];
  if( r->dtype != 4 || c != count ){
    snprintf(err, n, "weight file %s: tensor %s has %lld values of type %d, the model needs %lld floats",
             path, r->name, (long long)c, r->dtype, (long long)count);
    return -1;
  }
  memcpy(dst, r->data, (size_t)count * sizeof(float));
  return 0;
}

int lf_model_load_weights(lf_model *m, const char *path, char *err, size_t n){
  lf_tensor_rec *recs = NULL;
  int nrec = 0;
  if( lf_ckpt_read(path, &recs, &nrec, err, n) ) return -1;
  int rc = -1;
  const lf_tensor_rec *shape = lf_ckpt_find(recs, nrec, "__input_shape");
  if( !shape || shape->dtype != 8 || shape->ndim != 1 || shape->dim[0] < 1 || shape->dim[0] > LF_MAX_DIMS ){
    snprintf(err, n, "weight file %s has no valid __input_shape", path);
    goto done;
  }
  lf_shape in = { .ndim = (int)shape->dim[0] };
  for(int d=0; d<in.ndim; d++){
    int64_t v = ((const int64_t*)shape->data)[d];
    if( v < 1 || v > 100000000 ){ snprintf(err, n, "weight file %s: bad input shape", path); goto done; }
    in.dim[d] = v;
  }
  if( !m->net ){
    /* Layers sized by the data (CategoricalEmbedding) need the
    ** vocabularies before the net is built. */
    lf_tabular *tab = lf_tabular_from_recs(recs, nrec, path, err, n);
    if( !tab && err[0] ) goto done;
    lf_tabular_free(m->tab);
    m->tab = tab;
    if( lf_model_build(m, &in, err, n) ) goto done;
  }else if( lf_shape_count(&in) != lf_shape_count(&m->in) ){
    snprintf(err, n, "weight file %s was written for another input shape", path);
    goto done;
  }
  for(int i=0; i<lf_net_param_count(m->net); i++){
    lf_param *p = lf_net_param(m->net, i);
    const lf_tensor_rec *r = lf_ckpt_find(recs, nrec, p->name);
    if( !r ){ snprintf(err, n, "weight file %s lacks tensor %s", path, p->name); goto done; }
    if( take_floats(r, p->data, p->n, path, err, n) ) goto done;
  }
  const lf_tensor_rec *mean = lf_ckpt_find(recs, nrec, "__input_mean");
  const lf_tensor_rec *std = lf_ckpt_find(recs, nrec, "__input_std");
  if( mean && std ){
    int64_t cnt = lf_shape_count(&m->in);
    if( !m->mean ) m->mean = malloc((size_t)cnt * sizeof(float));
    if( !m->std ) m->std = malloc((size_t)cnt * sizeof(float));
    if( !m->mean || !m->std ){ snprintf(err, n, "out of memory"); goto done; }
    if( take_floats(mean, m->mean, cnt, path, err, n) || take_floats(std, m->std, cnt, path, err, n) ) goto done;
  }
  {
    lf_tabular *tab = lf_tabular_from_recs(recs, nrec, path, err, n);
    if( !tab && err[0] ) goto done;
    if( tab && tab->ncols != lf_shape_count(&m->in) ){
      snprintf(err, n, "weight file %s: category records for %d columns, the model takes %lld values",
               path, tab->ncols, (long long)lf_shape_count(&m->in));
      lf_tabular_free(tab);
      goto done;
    }
    lf_tabular_free(m->tab);
    m->tab = tab;
  }
  rc = 0;
done:
  lf_ckpt_free(recs, nrec);
  return rc;
}
