/*
** lf_data_labels.c — labels of csv/sql sources from their texts: class
** indices, text classes, or regression numbers (lf_dataset_labels).
*/
#include "lf_data_source.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lf_data_cmp_str(const void *a, const void *b){
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A class name and its index, for looking up a given mapping. */
typedef struct ds_named { const char *name; int index; } ds_named;

static int cmp_named(const void *a, const void *b){
  return strcmp(((const ds_named *)a)->name, ((const ds_named *)b)->name);
}

/* Index of text in the sorted, distinct names[0..n) or -1. */
static int find_name(const char *const *sorted, int n, const char *text){
  const char *const *hit = bsearch(&text, sorted, (size_t)n, sizeof *sorted, lf_data_cmp_str);
  return hit ? (int)(hit - sorted) : -1;
}

void lf_data_free_names(char **names, int n){
  if( names == NULL ) return;
  for(int i = 0; i < n; i++) free(names[i]);
  free(names);
}

int lf_dataset_labels(const lf_dataset_spec *spec, const char *const *text, int64_t n,
                      char *const *given, int ngiven, const char *src, lf_dataset *out,
                      char *err, size_t errlen){
  float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
  const char **sorted = NULL;
  ds_named *named = NULL;
  char **names = NULL;
  int nnames = 0, rc = -1;
  if( y == NULL ){ lf_data_err(err, errlen, "out of memory loading the dataset labels"); goto done; }

  if( spec->regression ){
    for(int64_t i = 0; i < n; i++){
      double v;
      if( !lf_data_parse_number(text[i], &v) || !isfinite((float)v) ){
        lf_data_err(err, errlen, "%s row %lld: label '%s' is not a number (regression needs numeric labels)",
                    src, (long long)(i + 1), text[i]);
        goto done;
      }
      y[i] = (float)v;
    }
    out->nclasses = 0;
    rc = 0;
    goto done;
  }

  if( given != NULL && ngiven > 0 ){
    /* The training split's classes: look each label up by name, the class
    ** being its position in given. */
    named = malloc((size_t)ngiven * sizeof *named);
    names = calloc((size_t)ngiven, sizeof *names);
    if( named == NULL || names == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
    for(int i = 0; i < ngiven; i++){
      named[i].name = given[i] ? given[i] : "";
      named[i].index = i;
    }
    qsort(named, (size_t)ngiven, sizeof *named, cmp_named);
    for(int64_t i = 0; i < n; i++){
      ds_named key = { text[i], 0 };
      const ds_named *hit = bsearch(&key, named, (size_t)ngiven, sizeof *named, cmp_named);
      if( hit == NULL ){
        char list[DS_COLUMN_LIST_MAX];
        lf_data_column_list(list, sizeof list, (const char *const *)given, ngiven);
        lf_data_err(err, errlen, "%s row %lld: label '%s' is not one of the training classes (%s)",
                    src, (long long)(i + 1), text[i], list);
        goto done;
      }
      y[i] = (float)hit->index;
    }
    for(nnames = 0; nnames < ngiven; nnames++){
      names[nnames] = strdup(given[nnames] ? given[nnames] : "");
      if( names[nnames] == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
    }
    out->nclasses = ngiven;
    rc = 0;
    goto done;
  }

  /* All non-negative integers: class indices as they are. */
  int64_t i;
  double max = -1;
  for(i = 0; i < n; i++){
    double v;
    if( !lf_data_parse_number(text[i], &v) || v < 0 || v != floor(v) ) break;
    if( v > max ) max = v;
    y[i] = (float)v;
  }
  if( i == n ){
    if( max >= DS_MAX_CLASSES ){
      lf_data_err(err, errlen, "%s: label %.0f is too large for a class index (at most %d classes); "
             "use text labels, or regression for numeric targets", src, max, DS_MAX_CLASSES);
      goto done;
    }
    out->nclasses = (int)max + 1;
    rc = 0;
    goto done;
  }

  /* Text classes: the distinct labels in strcmp order. */
  sorted = malloc((size_t)n * sizeof *sorted);
  if( sorted == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
  memcpy(sorted, text, (size_t)n * sizeof *sorted);
  qsort(sorted, (size_t)n, sizeof *sorted, lf_data_cmp_str);
  int64_t distinct = 0;
  for(int64_t k = 0; k < n; k++)
    if( k == 0 || strcmp(sorted[k], sorted[distinct - 1]) != 0 ) sorted[distinct++] = sorted[k];
  if( distinct > DS_MAX_CLASSES ){
    lf_data_err(err, errlen, "%s: %lld distinct text labels (at most %d classes); is the label column right?",
                src, (long long)distinct, DS_MAX_CLASSES);
    goto done;
  }
  names = calloc((size_t)distinct, sizeof *names);
  if( names == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
  for(nnames = 0; nnames < (int)distinct; nnames++){
    names[nnames] = strdup(sorted[nnames]);
    if( names[nnames] == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
  }
  for(int64_t k = 0; k < n; k++) y[k] = (float)find_name(sorted, (int)distinct, text[k]);
  out->nclasses = (int)distinct;
  rc = 0;

done:
  free(sorted);
  free(named);
  if( rc == 0 ){
    out->y = y;
    out->class_names = names;
  }else{
    free(y);
    lf_data_free_names(names, nnames);
  }
  return rc;
}
