/*
** lf_data_fit.c — the output/label checks shared by ppl_new and ppl_train,
** and the cache of training splits' class counts (lf_data_fit.h).
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "lf_data_fit.h"
#include "lf_canon.h"
#include "lf_dataset.h"

int lf_outputs_fit(const lf_loss_spec *loss, int64_t nout, int nclasses, char *err, size_t n){
  if( lf_loss_is_classification(loss) ){
    if( nclasses >= 0 && nout < nclasses ){
      snprintf(err, n, "the model has %lld outputs but the data has %d classes; make the last layer's out %d",
               (long long)nout, nclasses, nclasses);
      return -1;
    }
  }else if( nout != 1 ){
    snprintf(err, n, "the model has %lld outputs; %s on one label per sample needs out 1",
             (long long)nout, loss->kind==LF_LOSS_BCE_WITH_LOGITS ? "BCEWithLogitsLoss" : "a regression loss");
    return -1;
  }
  if( loss->kind==LF_LOSS_BCE_WITH_LOGITS && nclasses > 2 ){
    snprintf(err, n, "BCEWithLogitsLoss needs labels 0 and 1; the data has %d classes", nclasses);
    return -1;
  }
  return 0;
}

#define CACHE_SLOTS 32

typedef struct fact {
  char *key;          /* dataset JSON, source and file stamps */
  int nclasses;
} fact;

static pthread_mutex_t cache_mutex = PTHREAD_MUTEX_INITIALIZER;
static fact cache[CACHE_SLOTS];
static int cache_next;

/* Size and modification time of the files a source reads, so an edited
** file is read again; NULL for sql sources (never cached). */
static char *cache_key(const cJSON *cfg, const lf_pipeline_spec *spec, const char *src){
  if( spec->dataset.kind==LF_DS_SQL ) return NULL;
  char *ds = lf_canon_json(cJSON_GetObjectItemCaseSensitive(cfg, "dataset"));
  if( !ds ) return NULL;
  static const char *const suffixes[] = {"", "-labels-idx1-ubyte", "-labels-idx1-ubyte.gz"};
  char stamps[256] = "";
  size_t used = 0;
  for(size_t i=0; i<sizeof suffixes/sizeof suffixes[0]; i++){
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s%s", src, suffixes[i]);
    if( stat(path, &st)==0 && used < sizeof stamps ){
      used += (size_t)snprintf(stamps + used, sizeof stamps - used, "%zu:%lld.%ld:%lld;", i,
                               (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec, (long long)st.st_size);
    }
  }
  size_t len = strlen(ds) + strlen(src) + strlen(stamps) + 3;
  char *key = malloc(len);
  if( key ) snprintf(key, len, "%s\n%s\n%s", ds, src, stamps);
  free(ds);
  return key;
}

int lf_data_classes(sqlite3 *db, const cJSON *cfg, const lf_pipeline_spec *spec,
                    const char *src, int *nclasses, char *err, size_t n){
  char *key = cache_key(cfg, spec, src);
  if( key ){
    pthread_mutex_lock(&cache_mutex);
    int found = -1;
    for(int i=0; i<CACHE_SLOTS && found < 0; i++){
      if( cache[i].key && strcmp(cache[i].key, key)==0 ) found = cache[i].nclasses;
    }
    pthread_mutex_unlock(&cache_mutex);
    if( found >= 0 ){ *nclasses = found; free(key); return 0; }
  }
  lf_dataset d;
  memset(&d, 0, sizeof d);
  char why[1024];
  if( lf_dataset_load(&spec->dataset, src, db, NULL, 0, &d, why, sizeof why) ){
    snprintf(err, n, "train_data_src: %s", why);
    free(key);
    return -1;
  }
  *nclasses = d.nclasses;
  lf_dataset_free(&d);
  if( key ){
    pthread_mutex_lock(&cache_mutex);
    free(cache[cache_next].key);
    cache[cache_next].key = key;
    cache[cache_next].nclasses = *nclasses;
    cache_next = (cache_next + 1) % CACHE_SLOTS;
    pthread_mutex_unlock(&cache_mutex);
  }
  return 0;
}
