/*
** lf_history.c — history quantity names and reading a pipeline's history
** (lf_history.h).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_history.h"

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
