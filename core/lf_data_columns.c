/*
** lf_data_columns.c — which columns of a csv header or a SELECT are the
** label and the features, shared by every csv/sql loader and probe.
*/
#include "lf_data_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Writes "a, b, c" (cut short with "...") for "available columns" hints. */
void lf_data_column_list(char *buf, size_t n, const char *const *names, int count){
  size_t used = 0;
  buf[0] = 0;
  for(int i = 0; i < count; i++){
    const char *name = names[i] ? names[i] : "?";
    size_t k = strlen(name);
    if( used + k + 6 >= n ){ snprintf(buf + used, n - used, "%s...", i ? ", " : ""); return; }
    used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", name);
  }
}

/* Column index of name in names[0..n), or -1. SQL names compare without
** case, like SQL identifiers; CSV headers exactly. */
int lf_data_find_column(const char *const *names, int n, const char *name, int nocase){
  for(int i = 0; i < n; i++)
    if( names[i] && (nocase ? strcasecmp(names[i], name) : strcmp(names[i], name)) == 0 ) return i;
  return -1;
}

/* Resolves the label column and the feature columns (spec->features, or
** every column except the label and except skip). *feat is malloc'ed. */
int lf_data_resolve_columns(const lf_dataset_spec *spec, const char *const *names, int ncol, int nocase,
                            int skip, const char *src, int *label_col, int **feat, int *nfeat,
                            char *err, size_t errlen){
  char list[DS_COLUMN_LIST_MAX];
  const char *label = spec->label && *spec->label ? spec->label : "label";
  *feat = NULL;
  *nfeat = 0;
  *label_col = lf_data_find_column(names, ncol, label, nocase);
  if( *label_col < 0 ){
    lf_data_column_list(list, sizeof list, names, ncol);
    lf_data_err(err, errlen, "%s has no label column '%s' (columns: %s)", src, label, list);
    return -1;
  }
  if( skip >= 0 ) return 0;            /* features come from a blob column */
  int *f = malloc((size_t)(ncol > spec->nfeatures ? ncol : spec->nfeatures) * sizeof *f + sizeof *f);
  if( f == NULL ){ lf_data_err(err, errlen, "out of memory"); return -1; }
  int k = 0;
  if( spec->features != NULL && spec->nfeatures > 0 ){
    for(int i = 0; i < spec->nfeatures; i++){
      int c = spec->features[i] ? lf_data_find_column(names, ncol, spec->features[i], nocase) : -1;
      if( c < 0 ){
        lf_data_column_list(list, sizeof list, names, ncol);
        lf_data_err(err, errlen, "%s has no feature column '%s' (columns: %s)", src,
                    spec->features[i] ? spec->features[i] : "(null)", list);
        free(f);
        return -1;
      }
      f[k++] = c;
    }
  }else{
    for(int c = 0; c < ncol; c++)
      if( c != *label_col ) f[k++] = c;
  }
  if( k == 0 ){
    lf_data_err(err, errlen, "%s has no feature columns besides the label '%s'", src, label);
    free(f);
    return -1;
  }
  *feat = f;
  *nfeat = k;
  return 0;
}

int lf_scan_column(const lf_scan_header *h, const char *name, const char *role, char *err, size_t errlen){
  int c = lf_data_find_column(h->names, h->ncol, name, h->nocase);
  if( c < 0 ){
    char list[DS_COLUMN_LIST_MAX];
    lf_data_column_list(list, sizeof list, h->names, h->ncol);
    lf_data_err(err, errlen, "%s has no %s column '%s' (columns: %s)", h->src, role, name, list);
  }
  return c;
}
