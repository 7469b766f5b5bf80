/*
** plugin_funcs.c — lab_load_plugin, ppl_accept_plugin, lab_gradcheck: the
** SQL side of C plugins (core/lf_plugin.h, docs/plugins.md).
**
** Loading a plugin runs its code in this process, so lab_load_plugin is
** DIRECTONLY (no view, trigger or CHECK of a database can call it, and
** lf_guard.c refuses the rest) and obeys the connection's extension-loading
** switch, the one load_extension() obeys: a host that has not enabled
** extension loading has not agreed to run foreign code.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lf_ext.h"
#include "../core/lf_plugin.h"
#include "../core/lf_ppl_plugins.h"
#include "../core/lf_config.h"
#include "../core/lf_registry.h"
#include "../kernels/lf_gradcheck.h"

void lf_fn_lab_load_plugin(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *path = lf_arg_text(ctx, argv, 0, "lab_load_plugin: path");
  if( !path ) return;
  int on = 0;
  if( sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, -1, &on) != SQLITE_OK || !on ){
    lf_errorf(ctx, "lab_load_plugin: extension loading is off on this connection, and a plugin is code like an "
              "extension: enable it the way load_extension() needs (C: sqlite3_enable_load_extension(db, 1); "
              "Python: conn.enable_load_extension(True)), then call lab_load_plugin again");
    return;
  }
  char msg[2048];
  if( lf_plugin_load(path, msg, sizeof msg) ){
    lf_errorf(ctx, "lab_load_plugin: %s", msg);
    return;
  }
  sqlite3_result_text(ctx, msg, -1, SQLITE_TRANSIENT);
}

void lf_fn_ppl_accept_plugin(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  const char *pplid = lf_arg_pplid(ctx, argv, 0, "ppl_accept_plugin");
  if( !pplid ) return;
  const char *plugin = lf_arg_text(ctx, argv, 1, "ppl_accept_plugin: plugin");
  if( !plugin ) return;
  char msg[1024];
  if( lf_ppl_plugins_accept(sqlite3_context_db_handle(ctx), pplid, plugin, msg, sizeof msg) ){
    lf_errorf(ctx, "ppl_accept_plugin: %s", msg);
    return;
  }
  sqlite3_result_text(ctx, msg, -1, SQLITE_TRANSIENT);
}

/* ---- lab_gradcheck ------------------------------------------------------- */

typedef struct gc_report {
  cJSON *checks;
  int ok;
} gc_report;

static void gc_add(void *ctx, const char *what, double e){
  gc_report *r = ctx;
  cJSON *o = cJSON_CreateObject();
  if( !o ) return;
  cJSON_AddStringToObject(o, "grad", what);
  if( isfinite(e) ) cJSON_AddNumberToObject(o, "rel_err", e);
  else cJSON_AddNullToObject(o, "rel_err");
  int ok = e < LF_GRADCHECK_TOL;
  cJSON_AddBoolToObject(o, "ok", ok);
  if( !ok ) r->ok = 0;
  cJSON_AddItemToArray(r->checks, o);
}

/* The JSON result: {"loc", "ok", "tolerance", "checks"}. */
static void gc_finish(sqlite3_context *ctx, cJSON *out, const char *loc, gc_report *r){
  cJSON_AddStringToObject(out, "loc", loc);
  cJSON_AddBoolToObject(out, "ok", r->ok);
  cJSON_AddNumberToObject(out, "tolerance", LF_GRADCHECK_TOL);
  cJSON_AddItemToObject(out, "checks", r->checks);
  char *text = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  if( !text ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, text, -1, SQLITE_TRANSIENT);
  free(text);
}

/* The per-sample shape argument: a JSON list of 1..4 positive integers. */
static int parse_shape(const char *text, lf_shape *s, char *err, size_t n){
  cJSON *v = cJSON_Parse(text);
  int count = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
  double total = 1;
  memset(s, 0, sizeof *s);
  if( count < 1 || count > LF_MAX_DIMS ) goto bad;
  for(int i=0; i<count; i++){
    const cJSON *d = cJSON_GetArrayItem(v, i);
    if( !cJSON_IsNumber(d) || d->valuedouble < 1 || d->valuedouble > 4096 || d->valuedouble != floor(d->valuedouble) ) goto bad;
    s->dim[i] = (int64_t)d->valuedouble;
    total *= d->valuedouble;
  }
  if( total > 65536 ){
    snprintf(err, n, "input_shape has %.0f values per sample; the check takes at most 65536", total);
    cJSON_Delete(v);
    return -1;
  }
  s->ndim = count;
  cJSON_Delete(v);
  return 0;
bad:
  snprintf(err, n, "input_shape must be a JSON list of 1 to %d positive integers (per sample, no batch), e.g. '[8]' or '[3,6,6]'",
           LF_MAX_DIMS);
  cJSON_Delete(v);
  return -1;
}

/* A loss: dLoss/dy against central differences of the loss in double
** over up to 48 coordinates of y (batch 3 of input_shape outputs), targets
** drawn as the loss wants them (class indices, or values in [0,1]). */
static int gradcheck_loss(const lf_loss_spec *ls, const lf_shape *out, gc_report *r, char *err, size_t n){
  enum { BATCH = 3, PROBES = 48 };
  int nout = (int)lf_shape_count(out);
  int64_t total = (int64_t)BATCH * nout;
  int classes = lf_loss_is_classification(ls);
  float *y = malloc(sizeof(float) * (size_t)total), *dy = malloc(sizeof(float) * (size_t)total);
  float *t = malloc(sizeof(float) * (size_t)(classes ? BATCH : total));
  lf_rng rng;
  double num[PROBES], ana[PROBES];
  int rc = -1;
  if( !y || !dy || !t ){ snprintf(err, n, "out of memory"); goto done; }
  lf_rng_seed(&rng, 42);
  for(int64_t i=0; i<total; i++) y[i] = lf_rng_normal(&rng);
  for(int64_t i=0; i<(classes ? BATCH : total); i++){
    t[i] = classes ? (float)(lf_rng_next(&rng) % (uint64_t)nout) : lf_rng_uniform(&rng);
  }
  if( isnan(lf_loss_compute(ls, y, t, BATCH, nout, dy)) ){ snprintf(err, n, "the loss is NaN on the check's data"); goto done; }
  int k = total < PROBES ? (int)total : PROBES;
  const double h = 1e-2;
  for(int j=0; j<k; j++){
    int64_t at = total <= PROBES ? j : (int64_t)(lf_rng_next(&rng) % (uint64_t)total);
    float old = y[at];
    y[at] = old + (float)h;
    double lp = lf_loss_compute(ls, y, t, BATCH, nout, NULL);
    y[at] = old - (float)h;
    double lm = lf_loss_compute(ls, y, t, BATCH, nout, NULL);
    y[at] = old;
    num[j] = (lp - lm) / (2*h);
    ana[j] = dy[at];
  }
  double d = 0, na = 0, nb = 0;
  for(int j=0; j<k; j++){ d += (ana[j]-num[j])*(ana[j]-num[j]); na += ana[j]*ana[j]; nb += num[j]*num[j]; }
  na = sqrt(na > nb ? na : nb);
  gc_add(r, "y", na < 1e-12 ? sqrt(d) : sqrt(d) / na);
  rc = 0;
done:
  free(y); free(dy); free(t);
  return rc;
}

void lf_fn_lab_gradcheck(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *loc = lf_arg_text(ctx, argv, 0, "lab_gradcheck: loc");
  if( !loc ) return;
  const char *args = argc > 1 && sqlite3_value_type(argv[1]) != SQLITE_NULL ? lf_arg_json(ctx, argv, 1, "lab_gradcheck: args_json") : "{}";
  if( !args ) return;
  const char *shape_text = argc > 2 ? lf_arg_json(ctx, argv, 2, "lab_gradcheck: input_shape") : NULL;
  if( argc > 2 && !shape_text ) return;
  if( !shape_text ){
    lf_errorf(ctx, "lab_gradcheck: give the per-sample input shape, e.g. lab_gradcheck('%s', '{}', '[8]')", loc);
    return;
  }
  char err[1024] = "";
  lf_shape in;
  if( parse_shape(shape_text, &in, err, sizeof err) ){ lf_errorf(ctx, "lab_gradcheck: %s", err); return; }
  cJSON *comp = cJSON_CreateObject();
  cJSON *a = cJSON_Parse(args);
  if( !comp || !a || !cJSON_IsObject(a) ){
    cJSON_Delete(comp); cJSON_Delete(a);
    lf_errorf(ctx, "lab_gradcheck: args_json must be a JSON object of the layer's args, e.g. '{}'");
    return;
  }
  cJSON_AddStringToObject(comp, "loc", loc);
  cJSON_AddItemToObject(comp, "args", a);
  const lf_component *kind = lf_registry_find(loc);
  if( kind && kind->kind==LF_KIND_LOSS ){
    lf_loss_spec loss;
    int rc = lf_config_loss(comp, &loss, err, sizeof err);
    cJSON_Delete(comp);
    if( rc ){ lf_errorf(ctx, "lab_gradcheck: %s", err); return; }
    gc_report r = { cJSON_CreateArray(), 1 };
    cJSON *out = cJSON_CreateObject();
    rc = r.checks && out ? gradcheck_loss(&loss, &in, &r, err, sizeof err) : -1;
    free(loss.fn_args);
    if( rc ){
      cJSON_Delete(r.checks); cJSON_Delete(out);
      lf_errorf(ctx, "lab_gradcheck: %s", err[0] ? err : "out of memory");
      return;
    }
    gc_finish(ctx, out, loc, &r);
    return;
  }
  lf_layer_spec ls;
  int rc = lf_config_layer(comp, &ls, err, sizeof err);
  cJSON_Delete(comp);
  if( rc ){ lf_errorf(ctx, "lab_gradcheck: %s", err); return; }
  lf_net *net = lf_net_create(&ls, 1, &in, err, sizeof err);
  if( !net ){
    lf_config_layer_free(&ls);
    lf_errorf(ctx, "lab_gradcheck: %s", err);
    return;
  }
  gc_report r = { cJSON_CreateArray(), 1 };
  cJSON *out = cJSON_CreateObject();
  /* The same check and step as the built-in layer tests (batch 3, h 1e-2). */
  rc = r.checks && out ? lf_gradcheck_net(net, in, 3, NULL, 1e-2, 1, gc_add, &r, err, sizeof err) : -1;
  lf_net_free(net);
  lf_config_layer_free(&ls);
  if( rc ){
    cJSON_Delete(r.checks); cJSON_Delete(out);
    lf_errorf(ctx, "lab_gradcheck: %s", err[0] ? err : "out of memory");
    return;
  }
  gc_finish(ctx, out, loc, &r);
}
