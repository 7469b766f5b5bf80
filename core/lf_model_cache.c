/*
** lf_model_cache.c — the per-connection cache of ready-to-run networks
** behind ppl_predict and ppl_predict_rows (see lf_model_cache.h for what
** makes an entry valid).
**
** Two lists: entries (the models, most recent use first is not kept; the
** LRU order comes from last_use stamps) and routes, which remember what a
** (pplid, which) lookup resolved to and under which data version and
** process-wide change count. A route whose versions still hold and whose
** file stat still matches is the fast path: no SQL, one stat(), and none
** for the later rows of a statement that passes its stamp.
*/
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lf_model_cache.h"
#include "lf_db.h"
#include "lf_graph.h"
#include "lf_ckpt.h"
#include "lf_file.h"
#include "lf_ppl.h"

#define NROUTES 32
#define NBATCH ((int)(sizeof ((lf_cached_model*)0)->batches / sizeof(int)))

typedef struct lf_route {
  char *pplid;                /* NULL: free slot */
  char which[32];
  lf_cached_model *entry;
  unsigned data_version;
  uint64_t changes;           /* lf_model_cache_changed count when made */
  uint64_t last_use;
} lf_route;

struct lf_model_cache {
  lf_cached_model *entries;
  lf_route routes[NROUTES];
  int64_t limit;
  uint64_t clock;
  uint64_t hits, revalidated, loads, evictions, file_checks;
  uint64_t serials;           /* last lf_cached_model.serial given */
  int last_threads;           /* OpenMP threads of the last forward pass */
};

static atomic_uint_fast64_t project_changes;

void lf_model_cache_changed(void){
  atomic_fetch_add(&project_changes, 1);
}

lf_model_cache *lf_model_cache_new(void){
  lf_model_cache *c = calloc(1, sizeof *c);
  if( c ) c->limit = (int64_t)LF_MODEL_CACHE_DEFAULT_MB << 20;
  return c;
}

static void entry_free(lf_cached_model *e){
  lf_net_single_free(e->single);
  lf_model_close(&e->m);
  free(e->pplid);
  free(e->path);
  free(e->config);
  free(e->classes);
  if( e->class_json ){
    for(int i=0; e->class_json[i]; i++) free(e->class_json[i]);
    free(e->class_json);
  }
  free(e);
}

static void routes_forget(lf_model_cache *c, const lf_cached_model *e){
  for(int i=0; i<NROUTES; i++){
    if( c->routes[i].pplid && c->routes[i].entry==e ){
      free(c->routes[i].pplid);
      memset(&c->routes[i], 0, sizeof c->routes[i]);
    }
  }
}

/* Takes e out of the cache; freed now, or by its last user. */
static void entry_detach(lf_model_cache *c, lf_cached_model *e){
  routes_forget(c, e);
  for(lf_cached_model **p = &c->entries; *p; p = &(*p)->next){
    if( *p==e ){ *p = e->next; break; }
  }
  e->next = NULL;
  if( e->pins > 0 ) e->detached = 1;
  else entry_free(e);
}

void lf_model_cache_free(lf_model_cache *c){
  if( !c ) return;
  while( c->entries ) entry_detach(c, c->entries);
  free(c);
}

static int64_t entry_bytes(const lf_cached_model *e){
  int64_t b = e->param_bytes;
  for(int i=0; i<NBATCH; i++) b += (int64_t)e->batches[i] * e->sample_bytes;
  return b;
}

static int64_t cache_bytes(const lf_model_cache *c){
  int64_t b = 0;
  for(const lf_cached_model *e = c->entries; e; e = e->next) b += entry_bytes(e);
  return b;
}

/* Frees least recently used entries nobody is using until the bound holds. */
static void enforce_limit(lf_model_cache *c){
  while( cache_bytes(c) > c->limit ){
    lf_cached_model *lru = NULL;
    for(lf_cached_model *e = c->entries; e; e = e->next){
      if( e->pins==0 && (!lru || e->last_use < lru->last_use) ) lru = e;
    }
    if( !lru ) return;
    entry_detach(c, lru);
    c->evictions++;
  }
}

void lf_model_cache_set_limit(lf_model_cache *c, int64_t bytes){
  c->limit = bytes < 0 ? 0 : bytes;
  enforce_limit(c);
}

char *lf_model_cache_stats(const lf_model_cache *c){
  int models = 0;
  for(const lf_cached_model *e = c->entries; e; e = e->next) models++;
  char buf[512];
  snprintf(buf, sizeof buf, "{\"limit_mb\":%.6g,\"bytes\":%lld,\"models\":%d,\"hits\":%llu,"
           "\"revalidated\":%llu,\"loads\":%llu,\"evictions\":%llu,\"threads\":%d,"
           "\"file_checks\":%llu}",
           (double)c->limit / (1 << 20), (long long)cache_bytes(c), models,
           (unsigned long long)c->hits, (unsigned long long)c->revalidated,
           (unsigned long long)c->loads, (unsigned long long)c->evictions, c->last_threads,
           (unsigned long long)c->file_checks);
  return strdup(buf);
}

/* ---- identity of the database and of a weight file -------------------- */

/* The pager's data version changes with every commit, this connection's or
** another's, but is refreshed only when a read transaction starts. Inside
** a statement that reads a table (SELECT ppl_predict(x) FROM t) one is open
** and holds a snapshot; a bare SELECT ppl_predict(...) has none, so one is
** started (and ended) first. */
static int data_version(sqlite3 *db, unsigned *v){
  *v = 0;
  if( sqlite3_txn_state(db, "main")==SQLITE_TXN_NONE ){
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA main.data_version", -1, &st, NULL);
    if( rc==SQLITE_OK ) rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if( rc != SQLITE_ROW ) return 0;
  }
  return sqlite3_file_control(db, "main", SQLITE_FCNTL_DATA_VERSION, v)==SQLITE_OK;
}

static int file_identity(const char *path, lf_file_identity *id){
  struct stat sb;
  memset(id, 0, sizeof *id);
  if( stat(path, &sb) ) return -1;
  id->dev = sb.st_dev;
  id->ino = sb.st_ino;
  id->size = sb.st_size;
  id->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
  id->ctime_ns = (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec;
  return 0;
}

static int same_identity(const lf_file_identity *a, const lf_file_identity *b){
  return a->dev==b->dev && a->ino==b->ino && a->size==b->size
      && a->mtime_ns==b->mtime_ns && a->ctime_ns==b->ctime_ns;
}

/* The payload crc32 recorded in a weight file's header (see lf_ckpt.h). */
static int header_crc(const char *path, uint32_t *crc){
  unsigned char h[40];
  char why[256];
  /* Never blocks on a FIFO: the full read later reports what it is. */
  int fd = lf_open_regular(path, "weight file", why, sizeof why);
  if( fd < 0 ) return -1;
  ssize_t got = read(fd, h, sizeof h);
  close(fd);
  if( got != (ssize_t)sizeof h || memcmp(h, LF_CKPT_MAGIC, 8) ) return -1;
  *crc = (uint32_t)h[32] | (uint32_t)h[33] << 8 | (uint32_t)h[34] << 16 | (uint32_t)h[35] << 24;
  return 0;
}

static int same_text(const char *a, const char *b){
  return (!a && !b) || (a && b && strcmp(a, b)==0);
}

/* ---- building an entry ----------------------------------------------- */

/* Memory the net holds: parameters (with gradients) and, per sample of a
** batch, every activation and its gradient. An estimate: oneDNN's
** workspaces and blocked layouts are not counted. */
static void estimate_bytes(lf_cached_model *e){
  lf_net *net = e->m.net;
  int64_t p = 0;
  for(int i=0; i<lf_net_param_count(net); i++){
    lf_param *q = lf_net_param(net, i);
    p += q->n * (int64_t)sizeof(float) * (q->grad ? 2 : 1);
  }
  int64_t cnt = lf_shape_count(&e->m.in);
  if( e->m.mean ) p += 2 * cnt * (int64_t)sizeof(float);
  e->param_bytes = p;
  int64_t acts = cnt;
  {
    lf_net_graph g;
    char why[256];
    int nv = e->m.spec.ninputs + e->m.spec.nnodes;
    lf_shape *shapes = calloc((size_t)nv, sizeof(lf_shape));
    lf_graph_of(&e->m.spec, &e->m.in, &g);
    if( shapes && lf_net_graph_infer(&g, shapes, NULL, why, sizeof why) < 0 ){
      for(int k=e->m.spec.ninputs; k<nv; k++) acts += lf_shape_count(&shapes[k]);
    }
    free(shapes);
  }
  e->sample_bytes = 2 * acts * (int64_t)sizeof(float);
}

static char **classes_as_json(const lf_model *m){
  if( !m->classes || m->nclasses_text <= 0 ) return NULL;
  char **v = calloc((size_t)m->nclasses_text + 1, sizeof(char*));
  for(int i=0; v && i<m->nclasses_text; i++){
    cJSON *s = cJSON_CreateString(m->classes[i]);
    v[i] = s ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
    if( !v[i] ){
      for(int k=0; k<i; k++) free(v[k]);
      free(v);
      return NULL;
    }
  }
  return v;
}

static lf_route *route_find(lf_model_cache *c, const char *pplid, const char *which){
  for(int i=0; i<NROUTES; i++){
    lf_route *r = &c->routes[i];
    if( r->pplid && strcmp(r->which, which)==0 && strcmp(r->pplid, pplid)==0 ) return r;
  }
  return NULL;
}

static void route_set(lf_model_cache *c, const char *pplid, const char *which, lf_cached_model *e,
                      unsigned dv, uint64_t changes){
  if( strlen(which) >= sizeof c->routes[0].which ) return;   /* not remembered */
  lf_route *r = route_find(c, pplid, which);
  if( !r ){
    r = &c->routes[0];
    for(int i=0; i<NROUTES; i++){
      if( !c->routes[i].pplid ){ r = &c->routes[i]; break; }
      if( c->routes[i].last_use < r->last_use ) r = &c->routes[i];
    }
    free(r->pplid);
    memset(r, 0, sizeof *r);
    r->pplid = strdup(pplid);
    if( !r->pplid ) return;
    snprintf(r->which, sizeof r->which, "%s", which);
  }
  r->entry = e;
  r->data_version = dv;
  r->changes = changes;
  r->last_use = c->clock;
}

static lf_cached_model *pin(lf_model_cache *c, lf_cached_model *e){
  e->pins++;
  e->last_use = ++c->clock;
  return e;
}

/* The slow path: read the pipeline's rows, find an entry with the same
** identity or load the weight file. */
static lf_cached_model *resolve(lf_model_cache *c, sqlite3 *db, const char *pplid, const char *which,
                                char *err, size_t n){
  lf_model fresh;
  if( lf_model_open(db, pplid, &fresh, err, n) ) return NULL;
  lf_cached_model *e = NULL;
  char *config = NULL, *classes = NULL, *path = NULL;
  int epoch;
  if( lf_model_pick_epoch(db, pplid, which, &epoch, err, n) ) goto done;
  if( !(config = lf_ppl_config(db, pplid, err, n)) ) goto done;
  err[0] = 0;
  classes = lf_db_text(db, "SELECT classes FROM main.ppl_state WHERE pplid=?1", pplid, err, n);
  if( !classes && err[0] ) goto done;
  if( !(path = lf_ppl_path(fresh.artifacts, "weight", pplid, epoch, err, n)) ) goto done;

  /* Identity before reading: if the file changes during the load, the
  ** next lookup sees another identity and loads again. */
  lf_file_identity id;
  uint32_t crc = 0;
  int known = file_identity(path, &id)==0 && header_crc(path, &crc)==0;
  for(lf_cached_model *x = c->entries; known && x; x = x->next){
    if( x->epoch==epoch && strcmp(x->pplid, pplid)==0 && strcmp(x->path, path)==0
     && same_identity(&x->id, &id) && x->payload_crc==crc
     && same_text(x->config, config) && same_text(x->classes, classes) ){
      /* Settings (threads) may have changed without touching the model. */
      lf_settings t = x->m.settings;
      x->m.settings = fresh.settings;
      fresh.settings = t;
      c->revalidated++;
      e = pin(c, x);
      goto done;
    }
  }
  if( lf_model_load_classes(db, pplid, &fresh, err, n) || lf_model_load_weights(&fresh, path, err, n) ) goto done;
  if( !known ){
    /* Loaded, so it exists now: it appeared between the stat and the read. */
    if( file_identity(path, &id) || header_crc(path, &crc) ){ snprintf(err, n, "weight file %s changed while being read", path); goto done; }
    memset(&id, 0, sizeof id);   /* never matches: reloaded next time */
  }
  e = calloc(1, sizeof *e);
  if( !e ){ snprintf(err, n, "out of memory"); goto done; }
  e->m = fresh;
  memset(&fresh, 0, sizeof fresh);
  e->pplid = strdup(pplid);
  e->epoch = epoch;
  e->path = path; path = NULL;
  e->config = config; config = NULL;
  e->classes = classes; classes = NULL;
  e->id = id;
  e->payload_crc = crc;
  e->class_json = classes_as_json(&e->m);
  if( !e->pplid || (e->m.classes && !e->class_json) ){
    snprintf(err, n, "out of memory");
    entry_free(e);
    e = NULL;
    goto done;
  }
  estimate_bytes(e);
  e->serial = ++c->serials;
  /* NULL (no plan) only costs speed: the oneDNN path runs instead. */
  e->single = lf_net_single_plan(e->m.net);
  /* Older versions of the same file are stale now. */
  for(lf_cached_model *x = c->entries, *next; x; x = next){
    next = x->next;
    if( x->epoch==epoch && strcmp(x->pplid, pplid)==0 ) entry_detach(c, x);
  }
  e->next = c->entries;
  c->entries = e;
  c->loads++;
  pin(c, e);
done:
  lf_model_close(&fresh);
  free(config);
  free(classes);
  free(path);
  return e;
}

lf_cached_model *lf_model_cache_get(lf_model_cache *c, sqlite3 *db, const char *pplid,
                                    const char *which, char *err, size_t n){
  return lf_model_cache_get_stmt(c, db, pplid, which, NULL, err, n);
}

lf_cached_model *lf_model_cache_get_stmt(lf_model_cache *c, sqlite3 *db, const char *pplid,
                                         const char *which, uint64_t *stamp, char *err, size_t n){
  unsigned dv;
  int versioned = data_version(db, &dv);
  uint64_t changes = atomic_load(&project_changes);
  lf_route *r = route_find(c, pplid, which);
  if( r && versioned && r->data_version==dv && r->changes==changes ){
    lf_file_identity now;
    lf_cached_model *e = r->entry;
    if( stamp && *stamp==e->serial ){
      c->hits++;
      r->last_use = c->clock + 1;
      return pin(c, e);
    }
    c->file_checks++;
    if( file_identity(e->path, &now)==0 && same_identity(&now, &e->id) ){
      if( stamp ) *stamp = e->serial;
      c->hits++;
      r->last_use = c->clock + 1;
      return pin(c, e);
    }
    entry_detach(c, e);          /* the file changed or went away */
  }
  lf_cached_model *e = resolve(c, db, pplid, which, err, n);
  if( !e ) return NULL;
  if( versioned ) route_set(c, pplid, which, e, dv, changes);
  /* resolve() stat()ed the file it matched or loaded. */
  /* A file that appeared during the load has no identity: check it again. */
  if( stamp ) *stamp = versioned && e->id.ino ? e->serial : 0;
  return e;
}

void lf_model_cache_release(lf_model_cache *c, lf_cached_model *e){
  if( !e ) return;
  e->pins--;
  if( e->detached ){
    if( e->pins==0 ) entry_free(e);
    return;
  }
  enforce_limit(c);
}

/* Mirrors the net's own cache of per-batch-size builds (least recently
** used of LF_NET_MAX_BATCH_SIZES replaced) for the memory estimate. */
static void note_batch(lf_model_cache *c, lf_cached_model *e, int nb){
  int slot = 0;
  for(int i=0; i<NBATCH; i++){
    if( e->batches[i]==nb ){ slot = i; goto found; }
  }
  for(int i=0; i<NBATCH && i<LF_NET_MAX_BATCH_SIZES; i++){
    if( e->batches[i]==0 ){ slot = i; break; }
    if( e->batch_used[i] < e->batch_used[slot] ) slot = i;
  }
  e->batches[slot] = nb;
found:
  e->batch_used[slot] = ++c->clock;
}

const float *lf_cached_forward(lf_model_cache *c, lf_cached_model *e, const float *x, int nb,
                               char *err, size_t n){
  if( nb==1 && e->single ){
    /* One sample, plain C on this thread: no threads to set, no oneDNN. */
    c->last_threads = 1;
    return lf_net_single_forward(e->single, x);
  }
  int caller = lf_threads_apply(e->m.settings.threads);
  c->last_threads = lf_get_threads();
  const float *y = lf_net_forward(e->m.net, x, nb, 0, NULL, err, n);
  lf_threads_restore(caller);
  note_batch(c, e, nb);
  return y;
}
