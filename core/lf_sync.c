/*
** lf_sync.c — readable config and history CSV of a pipeline (lf_sync.h).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lf_sync.h"
#include "lf_history.h"
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
