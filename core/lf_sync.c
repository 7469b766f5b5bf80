/*
** lf_sync.c — readable config and history CSV of a pipeline (lf_sync.h).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lf_sync.h"
#include "lf_txn.h"
#include "lf_ckpt.h"
#include "lf_ppl.h"

/* Shortest "%.{15,16,17}g" text of v that reads back as v. */
static void fmt_double(double v, char buf[40]){
  for(int prec = 15; prec <= 17; prec++){
    snprintf(buf, 40, "%.*g", prec, v);
    if( strtod(buf, NULL)==v ) return;
  }
}

void lf_history_names_free(char **names, int n){
  for(int i=0; i<n; i++) free(names[i]);
  free(names);
}

int lf_history_names(const lf_settings *s, char ***names, int *n){
  int total = 2 * (s->nmetrics + 2) + 1, k = 0;
  char **out = calloc((size_t)total, sizeof(char*));
  if( !out ) return -1;
  static const char *const split[2] = {"train", "val"};
  for(int p=0; p<2; p++){
    for(int i=0; i<s->nmetrics + 2; i++){
      const char *q = i < s->nmetrics ? s->metrics[i] : i==s->nmetrics ? "loss" : "duration";
      size_t len = strlen(split[p]) + strlen(q) + 2;
      out[k] = malloc(len);
      if( !out[k] ){ lf_history_names_free(out, k); return -1; }
      snprintf(out[k], len, "%s_%s", split[p], q);
      k++;
    }
  }
  out[k] = strdup("lr");   /* the epoch's learning rate, after the schedulers */
  if( !out[k] ){ lf_history_names_free(out, k); return -1; }
  k++;
  *names = out;
  *n = k;
  return 0;
}

void lf_hist_free(lf_hist *h){
  free(h->epochs);
  free(h->v);
  free(h->present);
  memset(h, 0, sizeof *h);
}

int lf_hist_read(sqlite3 *db, const char *pplid, char **names, int ncols,
                 lf_hist *h, char *err, size_t n){
  memset(h, 0, sizeof *h);
  h->ncols = ncols;
  sqlite3_stmt *st = NULL;
  if( sqlite3_prepare_v2(db, "SELECT epoch, name, value FROM main.history WHERE pplid=?1 ORDER BY epoch",
                         -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "cannot read history: %s", sqlite3_errmsg(db));
    return -1;
  }
  sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
  int cap = 0, rc;
  while( (rc = sqlite3_step(st))==SQLITE_ROW ){
    int e = sqlite3_column_int(st, 0);
    if( h->nrows==0 || h->epochs[h->nrows-1] != e ){
      if( h->nrows==cap ){
        cap = cap ? cap * 2 : 16;
        int *ep = realloc(h->epochs, sizeof(int) * (size_t)cap);
        if( ep ) h->epochs = ep;
        double *v = realloc(h->v, sizeof(double) * (size_t)cap * (size_t)(ncols ? ncols : 1));
        if( v ) h->v = v;
        unsigned char *p = realloc(h->present, (size_t)cap * (size_t)(ncols ? ncols : 1));
        if( p ) h->present = p;
        if( !ep || !v || !p ){ rc = SQLITE_NOMEM; break; }
      }
      h->epochs[h->nrows] = e;
      memset(h->present + (size_t)h->nrows * (size_t)ncols, 0, (size_t)ncols);
      h->nrows++;
    }
    const char *name = (const char*)sqlite3_column_text(st, 1);
    for(int c=0; name && c<ncols; c++){
      if( strcmp(names[c], name)==0 ){
        size_t at = (size_t)(h->nrows-1) * (size_t)ncols + (size_t)c;
        double v = sqlite3_column_double(st, 2);
        h->present[at] = sqlite3_column_type(st, 2) != SQLITE_NULL && isfinite(v);
        h->v[at] = v;
        break;
      }
    }
  }
  if( rc != SQLITE_DONE ){
    if( rc==SQLITE_NOMEM ) snprintf(err, n, "out of memory");
    else snprintf(err, n, "cannot read history: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    lf_hist_free(h);
    return -1;
  }
  sqlite3_finalize(st);
  return 0;
}

/* JSON with two-space indentation; leaves printed as cJSON prints them. */
static void pretty(sqlite3_str *o, const cJSON *v, int depth){
  int obj = cJSON_IsObject(v);
  if( (obj || cJSON_IsArray(v)) && v->child ){
    sqlite3_str_appendchar(o, 1, obj ? '{' : '[');
    for(const cJSON *c = v->child; c; c = c->next){
      sqlite3_str_appendchar(o, 1, '\n');
      sqlite3_str_appendchar(o, 2 * (depth + 1), ' ');
      if( obj ){
        cJSON *key = cJSON_CreateString(c->string);
        char *k = key ? cJSON_PrintUnformatted(key) : NULL;
        sqlite3_str_appendf(o, "%s: ", k ? k : "\"\"");
        free(k);
        cJSON_Delete(key);
      }
      pretty(o, c, depth + 1);
      if( c->next ) sqlite3_str_appendchar(o, 1, ',');
    }
    sqlite3_str_appendchar(o, 1, '\n');
    sqlite3_str_appendchar(o, 2 * depth, ' ');
    sqlite3_str_appendchar(o, 1, obj ? '}' : ']');
    return;
  }
  char *t = cJSON_PrintUnformatted(v);
  if( t ) sqlite3_str_appendall(o, t);
  else sqlite3_str_appendall(o, "null");
  free(t);
}

/* {"epoch": e, <column>: value|null ...} for the row of epoch e, or null. */
static cJSON *epoch_object(const lf_hist *h, char **names, int e){
  if( e < 1 ) return cJSON_CreateNull();
  cJSON *o = cJSON_CreateObject();
  if( !o ) return NULL;
  cJSON_AddNumberToObject(o, "epoch", e);
  for(int r=0; r<h->nrows; r++){
    if( h->epochs[r] != e ) continue;
    for(int c=0; c<h->ncols; c++){
      size_t at = (size_t)r * (size_t)h->ncols + (size_t)c;
      /* cJSON prints 15 digits when they come within an epsilon of the
      ** value, which can lose its last bit: the text is written here, in
      ** the shortest form that reads back exactly. */
      if( h->present[at] && isfinite(h->v[at]) ){
        char num[40];
        fmt_double(h->v[at], num);
        cJSON_AddRawToObject(o, names[c], num);
      }else{
        cJSON_AddNullToObject(o, names[c]);
      }
    }
  }
  return o;
}

char *lf_sync(sqlite3 *db, const char *pplid, char *err, size_t n){
  lf_settings s;
  if( lf_project_settings(db, &s, err, n) ) return NULL;
  char **names = NULL;
  int ncols = 0, last = 0, best = -1;
  lf_hist h;
  memset(&h, 0, sizeof h);
  char *art = NULL, *cfg_text = NULL, *cfg_path = NULL, *csv_path = NULL, *json = NULL, *result = NULL;
  cJSON *cfg = NULL;
  sqlite3_str *csv = NULL;
  int in_read = 0;
  art = lf_project_artifacts(db, &s, err, n);
  if( !art ) goto done;
  if( lf_history_names(&s, &names, &ncols) ){ snprintf(err, n, "out of memory"); goto done; }
  /* One snapshot for config, state and history (a trainer may commit). */
  if( lf_txn_savepoint(db, "lf_sync", err, n) ) goto done;
  in_read = 1;
  cfg_text = lf_ppl_config(db, pplid, err, n);
  if( !cfg_text ) goto done;
  if( lf_ppl_epochs(db, pplid, &last, &best, err, n) ) goto done;
  if( lf_hist_read(db, pplid, names, ncols, &h, err, n) ) goto done;
  lf_txn_release(db, "lf_sync", err, n);
  in_read = 0;

  cfg = cJSON_Parse(cfg_text);
  if( !cfg ){ snprintf(err, n, "the stored config of '%s' is not valid JSON", pplid); goto done; }
  cJSON *b = epoch_object(&h, names, best), *l = epoch_object(&h, names, last);
  if( !b || !l ){ cJSON_Delete(b); cJSON_Delete(l); snprintf(err, n, "out of memory"); goto done; }
  cJSON_AddItemToObject(cfg, "best", b);
  cJSON_AddItemToObject(cfg, "last", l);
  {
    sqlite3_str *js = sqlite3_str_new(NULL);
    pretty(js, cfg, 0);
    sqlite3_str_appendchar(js, 1, '\n');
    char *t = sqlite3_str_errcode(js) ? NULL : sqlite3_str_value(js);
    json = t ? strdup(t) : NULL;
    sqlite3_free(sqlite3_str_finish(js));
  }
  csv = sqlite3_str_new(NULL);
  sqlite3_str_appendall(csv, "epoch");
  for(int c=0; c<ncols; c++) sqlite3_str_appendf(csv, ",%s", names[c]);
  sqlite3_str_appendchar(csv, 1, '\n');
  for(int r=0; r<h.nrows; r++){
    sqlite3_str_appendf(csv, "%d", h.epochs[r]);
    for(int c=0; c<ncols; c++){
      size_t at = (size_t)r * (size_t)ncols + (size_t)c;
      char num[40] = "";
      if( h.present[at] ) fmt_double(h.v[at], num);
      sqlite3_str_appendf(csv, ",%s", num);
    }
    sqlite3_str_appendchar(csv, 1, '\n');
  }
  if( !json || sqlite3_str_errcode(csv) ){ snprintf(err, n, "out of memory"); goto done; }
  cfg_path = lf_ppl_path(art, "config", pplid, 0, err, n);
  csv_path = lf_ppl_path(art, "history", pplid, 0, err, n);
  if( !cfg_path || !csv_path ) goto done;
  {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/Configs", art);
    if( lf_mkdirs(dir, err, n) ) goto done;
    snprintf(dir, sizeof dir, "%s/Histories", art);
    if( lf_mkdirs(dir, err, n) ) goto done;
  }
  if( lf_write_file_atomic(cfg_path, json, strlen(json), err, n) ) goto done;
  if( lf_write_file_atomic(csv_path, sqlite3_str_value(csv), (size_t)sqlite3_str_length(csv), err, n) ) goto done;
  result = cfg_path;
  cfg_path = NULL;
done:
  if( in_read ){
    char e2[64];
    lf_txn_release(db, "lf_sync", e2, sizeof e2);
  }
  if( csv ) sqlite3_free(sqlite3_str_finish(csv));
  cJSON_Delete(cfg);
  free(json);
  free(cfg_text);
  free(cfg_path);
  free(csv_path);
  free(art);
  lf_hist_free(&h);
  if( names ) lf_history_names_free(names, ncols);
  lf_settings_free(&s);
  return result;
}
