/*
** lf_model_cache.h — ready-to-run networks kept between ppl_predict calls.
**
** Each connection that loaded LabFlow has one cache (ext/ creates it on
** first use and frees it when the connection closes). An entry is one
** pipeline's network at one epoch with its weights, standardisation, class
** labels and oneDNN primitives, so a repeated ppl_predict costs a forward
** pass instead of reading, inflating and checking a weight file and
** building the network again.
**
** Never stale. An entry is known by (pplid, epoch, weight-file path, the
** file's identity: device, inode, size, mtime, ctime, and the payload crc32
** of its header, config text, classes text). A lookup of (pplid, 'best' |
** 'last' | N) takes the fast path only while nothing that could change the
** answer has happened:
**   - the database's data version (SQLITE_FCNTL_DATA_VERSION) is the one
**     seen when the route was made: any commit, by this connection or any
**     other, in this process or another (a new best epoch, archive,
**     unarchive, delete, clean, import, a settings change), changes it;
**   - no LabFlow function that changes projects has run in this process
**     since (lf_model_cache_changed(): covers this connection's own changes
**     inside an explicit transaction, which do not change the data version
**     until COMMIT);
**   - stat() of the weight file gives the same identity (a file replaced
**     on disk, moved away by archive or removed by ppl_clean). A caller
**     that scores many rows in one SQL statement passes a statement stamp
**     (lf_model_cache_get_stmt): the file is stat()ed on the statement's
**     first call and taken as checked for its later rows, as the
**     statement's database snapshot is. A file replaced on disk by
**     something other than LabFlow while a statement runs is seen by the
**     next statement; LabFlow's own changes (a commit, any project
**     function) are seen at once through the two counters above.
** Otherwise the lookup re-reads the pipeline's rows and re-checks the
** identity: an unchanged model is reused, a changed one is loaded afresh.
**
** Memory is bounded per connection (default LF_MODEL_CACHE_DEFAULT_MB, set
** with lf_model_cache_set_limit): after each use the least recently used
** entries not in use are freed until the estimate (parameters, their
** gradients, and the activations of every batch size built) fits. A limit
** of 0 keeps nothing between calls.
**
** Not thread-safe by itself: SQLite serialises the calls of one connection.
*/
#ifndef LF_MODEL_CACHE_H
#define LF_MODEL_CACHE_H

#include <stdint.h>
#include <sys/types.h>
#include "lf_model.h"
#include "../kernels/lf_net_single.h"

#define LF_MODEL_CACHE_DEFAULT_MB 256

typedef struct lf_file_identity {
  dev_t dev;
  ino_t ino;
  off_t size;
  int64_t mtime_ns, ctime_ns;
} lf_file_identity;

typedef struct lf_cached_model {
  lf_model m;                 /* net built and weights loaded */
  char *pplid;
  int epoch;
  char *path;                 /* the weight file */
  lf_file_identity id;
  uint32_t payload_crc;       /* from the file's header */
  char *config;               /* stored config text it was built from */
  char *classes;              /* ppl_state.classes text, or NULL */
  char **class_json;          /* each class label as JSON text */
  int64_t param_bytes;        /* parameters (and gradients) */
  int64_t sample_bytes;       /* activations of one sample through the net */
  int batches[8];             /* batch sizes used (the net builds each once) */
  uint64_t batch_used[8];
  uint64_t last_use;
  lf_net_single *single;      /* one-sample plain-C plan, or NULL (lf_net_single.h) */
  uint64_t serial;            /* unique in its cache: what a statement stamp names */
  int pins;                   /* callers using it now */
  int detached;               /* out of the cache; freed at the last unpin */
  struct lf_cached_model *next;
} lf_cached_model;

typedef struct lf_model_cache lf_model_cache;

lf_model_cache *lf_model_cache_new(void);
/* Frees every entry (none may be pinned). */
void lf_model_cache_free(lf_model_cache *c);

/* The model of pplid at `which` ('best', 'last' or an epoch number), ready
** to run and pinned until lf_model_cache_release. NULL with err (the
** messages of lf_model_pick_epoch and lf_model_load_weights). */
lf_cached_model *lf_model_cache_get(lf_model_cache *c, sqlite3 *db, const char *pplid,
                                    const char *which, char *err, size_t n);
/* lf_model_cache_get for one call of a statement that may call it for
** many rows. *stamp belongs to the statement (starts at 0, kept by the
** caller, e.g. as sqlite3_set_auxdata of a constant argument): while the
** lookup takes the fast path and *stamp names the entry, the weight file's
** stat() is skipped; after a check it is set to the entry found. NULL
** stamp: lf_model_cache_get. */
lf_cached_model *lf_model_cache_get_stmt(lf_model_cache *c, sqlite3 *db, const char *pplid,
                                         const char *which, uint64_t *stamp, char *err, size_t n);
void lf_model_cache_release(lf_model_cache *c, lf_cached_model *e);

/* Inference forward pass on nb samples with the project's `threads`
** setting; the caller's OpenMP thread count is restored before returning.
** One sample through a net with a plain-C plan runs on the calling thread
** without oneDNN (lf_net_single.h).
** Result as lf_net_forward (owned by the net, valid until its next use). */
const float *lf_cached_forward(lf_model_cache *c, lf_cached_model *e, const float *x, int nb,
                               char *err, size_t n);

/* The memory bound in bytes (0: keep nothing between calls). */
void lf_model_cache_set_limit(lf_model_cache *c, int64_t bytes);
/* {"limit_mb", "bytes", "models", "hits", "revalidated", "loads",
** "evictions", "threads" (OpenMP threads of the last forward pass, 0 before
** one; 1 after a one-sample plain-C pass), "file_checks" (stat() calls on
** weight files by the fast path)} as malloc'ed JSON text, or NULL when
** out of memory. */
char *lf_model_cache_stats(const lf_model_cache *c);

/* Called by every LabFlow function that may change a project, before and
** after it runs: every cache of the process re-checks its next lookups. */
void lf_model_cache_changed(void);

#endif
