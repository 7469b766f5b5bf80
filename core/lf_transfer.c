/*
** lf_transfer.c — bundle export and import (lf_transfer.h).
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "lf_transfer.h"
#include "lf_db.h"
#include "lf_canon.h"
#include "lf_ckpt.h"
#include "lf_file.h"
#include "lf_claim.h"
#include "lf_config.h"
#include "lf_ppl.h"
#include "lf_ppl_plugins.h"
#include "lf_pplid.h"
#include "lf_ppl_tables.h"
#include "lf_util.h"

#define BLOB_CHUNK (1 << 20)
/* SQLite's default limit on a value's size. */
#define BUNDLE_MAX_FILE 1000000000LL


/* The bundle's tables: manifest, the per-pipeline tables (lf_ppl_tables.h)
** and files. */
static const char bundle_ddl[] =
  "CREATE TABLE manifest(key TEXT PRIMARY KEY, value);"
  "CREATE TABLE ppls(pplid TEXT PRIMARY KEY, config TEXT NOT NULL, config_hash TEXT NOT NULL,"
  "  status TEXT NOT NULL, created_time TEXT NOT NULL);"
  "CREATE TABLE ppl_state(pplid TEXT PRIMARY KEY, last_epoch INTEGER NOT NULL, best_epoch INTEGER,"
  "  best_value REAL, classes TEXT);"
  "CREATE TABLE history(pplid TEXT NOT NULL, epoch INTEGER NOT NULL, name TEXT NOT NULL, value REAL,"
  "  PRIMARY KEY(pplid, epoch, name));"
  "CREATE TABLE ppl_edges(child TEXT PRIMARY KEY, base TEXT NOT NULL, patch TEXT NOT NULL);"
  "CREATE TABLE ppl_weight_files(pplid TEXT NOT NULL, epoch INTEGER NOT NULL, bytes INTEGER NOT NULL,"
  "  PRIMARY KEY(pplid, epoch));"
  "CREATE TABLE ppl_tags(pplid TEXT NOT NULL, key TEXT NOT NULL, value NOT NULL, PRIMARY KEY(pplid, key));"
  "CREATE TABLE ppl_plugins(pplid TEXT NOT NULL, plugin TEXT NOT NULL, version TEXT NOT NULL,"
  "  sha256 TEXT NOT NULL, PRIMARY KEY(pplid, plugin));"
  "CREATE TABLE files(path TEXT PRIMARY KEY, pplid TEXT NOT NULL, data BLOB NOT NULL);";

/* Copies the rows `sel` (one text parameter) returns from `from` into
** `to` with `ins` (one parameter per column). */
static int copy_rows(sqlite3 *from, const char *sel, const char *arg,
                     sqlite3 *to, const char *ins, char *err, size_t n){
  sqlite3_stmt *s = NULL, *i = NULL;
  int rc = -1;
  if( sqlite3_prepare_v2(from, sel, -1, &s, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(from));
    goto done;
  }
  if( sqlite3_prepare_v2(to, ins, -1, &i, NULL) != SQLITE_OK ){
    snprintf(err, n, "%s", sqlite3_errmsg(to));
    goto done;
  }
  sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
  int r;
  while( (r = sqlite3_step(s))==SQLITE_ROW ){
    for(int c=0; c<sqlite3_column_count(s); c++) sqlite3_bind_value(i, c+1, sqlite3_column_value(s, c));
    if( sqlite3_step(i) != SQLITE_DONE ){
      snprintf(err, n, "%s", sqlite3_errmsg(to));
      goto done;
    }
    sqlite3_reset(i);
  }
  if( r != SQLITE_DONE ){ snprintf(err, n, "%s", sqlite3_errmsg(from)); goto done; }
  rc = 0;
done:
  sqlite3_finalize(s);
  sqlite3_finalize(i);
  return rc;
}

/* ---- export ------------------------------------------------------------- */

/* Streams a file into a new files row through incremental BLOB I/O, so
** no file-sized buffer is needed. */
static int add_file(sqlite3 *b, const char *pplid, const char *abs, const char *rel,
                    char *err, size_t n){
  int fd = lf_open_regular(abs, "artifact", err, n);
  if( fd < 0 ) return -1;
  struct stat sb;
  if( fstat(fd, &sb) != 0 || sb.st_size > BUNDLE_MAX_FILE ){
    snprintf(err, n, "cannot bundle %s: %s", abs, sb.st_size > BUNDLE_MAX_FILE ? "larger than 1 GB" : strerror(errno));
    close(fd);
    return -1;
  }
  sqlite3_stmt *st = NULL;
  sqlite3_blob *blob = NULL;
  char *buf = NULL;
  int rc = -1;
  if( sqlite3_prepare_v2(b, "INSERT INTO files(path, pplid, data) VALUES(?1, ?2, ?3)", -1, &st, NULL) != SQLITE_OK ) goto dberr;
  sqlite3_bind_text(st, 1, rel, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, pplid, -1, SQLITE_STATIC);
  sqlite3_bind_zeroblob64(st, 3, (sqlite3_uint64)sb.st_size);
  if( sqlite3_step(st) != SQLITE_DONE ) goto dberr;
  if( sb.st_size > 0 ){
    if( sqlite3_blob_open(b, "main", "files", "data", sqlite3_last_insert_rowid(b), 1, &blob) != SQLITE_OK ) goto dberr;
    buf = malloc(BLOB_CHUNK);
    if( !buf ){ snprintf(err, n, "out of memory"); goto done; }
    sqlite3_int64 off = 0;
    while( off < sb.st_size ){
      ssize_t k = read(fd, buf, BLOB_CHUNK);
      if( k < 0 && errno==EINTR ) continue;
      if( k <= 0 || off + k > sb.st_size ){
        snprintf(err, n, "cannot read %s: %s", abs, k < 0 ? strerror(errno) : "the file changed while bundling it");
        goto done;
      }
      if( sqlite3_blob_write(blob, buf, (int)k, (int)off) != SQLITE_OK ) goto dberr;
      off += k;
    }
  }
  rc = 0;
  goto done;
dberr:
  snprintf(err, n, "cannot write %s into the bundle: %s", rel, sqlite3_errmsg(b));
done:
  free(buf);
  if( blob ) sqlite3_blob_close(blob);
  sqlite3_finalize(st);
  close(fd);
  return rc;
}

/* Adds every artifact file of pplid (the files of its folders, and its
** single files). */
static int add_files(sqlite3 *b, const char *art, const char *pplid, char *err, size_t n){
  char rel[LF_ART_ITEMS][200];
  lf_art_items(pplid, rel);
  for(int k=0; k<LF_ART_ITEMS; k++){
    char *abs = lf_path_join(art, rel[k]);
    if( !abs ){ snprintf(err, n, "out of memory"); return -1; }
    struct stat sb;
    if( lstat(abs, &sb) != 0 ){ free(abs); continue; }
    int rc = 0;
    if( !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode) ){
      /* Never left out silently: the bundle would not hold the pipeline. */
      snprintf(err, n, "cannot export '%s': %s is %s, not a regular file (remove or replace it)",
               pplid, abs, lf_file_kind(sb.st_mode));
      rc = -1;
    }else if( S_ISREG(sb.st_mode) ){
      rc = add_file(b, pplid, abs, rel[k], err, n);
    }else if( S_ISDIR(sb.st_mode) ){
      DIR *d = opendir(abs);
      if( !d ){ snprintf(err, n, "cannot read %s: %s", abs, strerror(errno)); free(abs); return -1; }
      struct dirent *de;
      while( !rc && (de = readdir(d)) != NULL ){
        if( de->d_name[0]=='.' ) continue;
        /* Temp files of an interrupted write are not artifacts. */
        if( strstr(de->d_name, ".tmp-") ) continue;
        char *fa = lf_path_join(abs, de->d_name), *fr = lf_path_join(rel[k], de->d_name);
        struct stat fs;
        if( !fa || !fr ){ snprintf(err, n, "out of memory"); rc = -1; }
        else if( lstat(fa, &fs) != 0 ){ snprintf(err, n, "cannot read %s: %s", fa, strerror(errno)); rc = -1; }
        else if( !S_ISREG(fs.st_mode) ){
          snprintf(err, n, "cannot export '%s': %s is %s, not a regular file (remove or replace it)",
                   pplid, fa, lf_file_kind(fs.st_mode));
          rc = -1;
        }
        else rc = add_file(b, pplid, fa, fr, err, n);
        free(fa);
        free(fr);
      }
      closedir(d);
    }
    free(abs);
    if( rc ) return -1;
  }
  return 0;
}

static int fsync_path(const char *path, int dir, char *err, size_t n){
  int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if( fd < 0 ){
    if( dir ) return 0;
    snprintf(err, n, "cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  int rc = 0;
  if( fsync(fd) != 0 && !(dir && (errno==EINVAL || errno==EROFS)) ){
    snprintf(err, n, "cannot sync %s: %s", path, strerror(errno));
    rc = -1;
  }
  close(fd);
  return rc;
}

/* Is the bundle at path an earlier attempt of this very export (one
** killed before its commit)? It is when it holds exactly the pipelines ids,
** each still in this project with the same configuration and last epoch:
** then the project has everything it holds and it may be replaced. */
static int earlier_attempt(sqlite3 *db, const char *path, const lf_pplist *ids){
  struct stat sb;
  if( lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) ) return 0;
  sqlite3 *b = NULL;
  if( sqlite3_open_v2(path, &b, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ){ sqlite3_close(b); return 0; }
  sqlite3_stmt *st = NULL, *here = NULL;
  int same = 0, count = 0;
  if( sqlite3_prepare_v2(b, "SELECT p.pplid, p.config_hash, s.last_epoch FROM ppls p JOIN ppl_state s USING(pplid) "
                         "WHERE (SELECT value FROM manifest WHERE key='format_version')=?1", -1, &st, NULL)==SQLITE_OK
   && sqlite3_prepare_v2(db, "SELECT 1 FROM main.ppls p JOIN main.ppl_state s USING(pplid) "
                         "WHERE p.pplid=?1 AND p.config_hash=?2 AND s.last_epoch=?3", -1, &here, NULL)==SQLITE_OK ){
    sqlite3_bind_int(st, 1, LF_BUNDLE_FORMAT);
    same = 1;
    while( same && sqlite3_step(st)==SQLITE_ROW ){
      const char *pplid = (const char*)sqlite3_column_text(st, 0);
      count++;
      if( !pplid || !lf_pplist_has(ids, pplid) ){ same = 0; break; }
      for(int c=0; c<3; c++) sqlite3_bind_value(here, c+1, sqlite3_column_value(st, c));
      same = sqlite3_step(here)==SQLITE_ROW;
      sqlite3_reset(here);
    }
  }
  sqlite3_finalize(st);
  sqlite3_finalize(here);
  sqlite3_close(b);
  return same && count==ids->n;
}

/* The bundle's path: explicit, or Transfer/<first>.lfbundle (never an
** existing file: a moved pipeline's only copy may be in it, unless it is
** an earlier attempt of this same export). */
static char *bundle_target(sqlite3 *db, const char *art, const char *given, const lf_pplist *ids,
                           char *err, size_t n){
  const char *first = ids->ids[0];
  if( given ){
    char *p = lf_project_resolve_path(db, given);
    if( !p ){ snprintf(err, n, "out of memory"); return NULL; }
    if( lf_path_exists(p) && !earlier_attempt(db, p, ids) ){
      snprintf(err, n, "bundle %s already exists (choose another bundle_path or remove it)", p);
      free(p);
      return NULL;
    }
    return p;
  }
  char *p = lf_strf("%s/Transfer/%s.lfbundle", art, first);
  for(int k=1; p && lf_path_exists(p) && !earlier_attempt(db, p, ids) && k < 1000; k++){
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    free(p);
    p = k==1 ? lf_strf("%s/Transfer/%s-%s.lfbundle", art, first, stamp)
             : lf_strf("%s/Transfer/%s-%s-%d.lfbundle", art, first, stamp, k);
  }
  if( !p ) snprintf(err, n, "out of memory");
  return p;
}

static int manifest_put(sqlite3 *b, const char *key, const char *text, sqlite3_int64 num,
                        char *err, size_t n){
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(b, "INSERT INTO manifest(key, value) VALUES(?1, ?2)", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if( text ) sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_int64(st, 2, num);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_DONE ){ snprintf(err, n, "cannot write the manifest: %s", sqlite3_errmsg(b)); return -1; }
  return 0;
}

/* Fills a new bundle database at tmp. */
static int write_bundle(sqlite3 *db, const lf_proj *pj, const lf_pplist *ids, const char *tmp,
                        char *err, size_t n){
  sqlite3 *b = NULL;
  int rc = -1;
  char e2[512];
  if( sqlite3_open_v2(tmp, &b, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ){
    snprintf(err, n, "cannot create bundle %s: %s", tmp, b ? sqlite3_errmsg(b) : "out of memory");
    goto done;
  }
  /* Durability comes from our own fsync and rename; no journal needed for
  ** a file nobody else can see yet. */
  char pragmas[160];
  snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
           "PRAGMA application_id=%d; PRAGMA user_version=%d", LF_BUNDLE_APP_ID, LF_BUNDLE_FORMAT);
  if( lf_exec(b, pragmas, e2, sizeof e2) || lf_exec(b, "BEGIN", e2, sizeof e2)
   || lf_exec(b, bundle_ddl, e2, sizeof e2) ){
    snprintf(err, n, "cannot create bundle %s: %s", tmp, e2);
    goto done;
  }
  {
    char host[256], now[32];
    if( gethostname(host, sizeof host) ) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = 0;
    lf_now_text(now, sizeof now);
    char *settings = lf_settings_json(&pj->s);
    const char *origin = sqlite3_db_filename(db, "main");
    char *version = NULL;
    sqlite3_stmt *st = NULL;
    if( sqlite3_prepare_v2(db, "SELECT labflow_version()", -1, &st, NULL)==SQLITE_OK && sqlite3_step(st)==SQLITE_ROW ){
      version = strdup((const char*)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    int bad = !settings
      || manifest_put(b, "format_version", NULL, LF_BUNDLE_FORMAT, err, n)
      || manifest_put(b, "origin_project", origin && origin[0] ? origin : ":memory:", 0, err, n)
      || manifest_put(b, "origin_host", host, 0, err, n)
      || manifest_put(b, "labflow_version", version ? version : "unknown", 0, err, n)
      || manifest_put(b, "created_time", now, 0, err, n)
      || manifest_put(b, "settings", settings, 0, err, n);
    if( !settings ) snprintf(err, n, "out of memory");
    free(settings);
    free(version);
    if( bad ) goto done;
  }
  for(int i=0; i<ids->n; i++){
    for(int t=0; t<LF_PPL_NTABLES; t++){
      const lf_ppl_table *bt = &lf_ppl_tables[t];
      char *sel = lf_strf("SELECT %s FROM main.%s WHERE %s=?1", bt->cols, bt->name, bt->key);
      char *ins = lf_strf("INSERT INTO %s(%s) VALUES(?1, ?2, ?3%s%s)", bt->name, bt->cols,
                       bt->ncols > 3 ? ", ?4" : "", bt->ncols > 4 ? ", ?5" : "");
      int r = (!sel || !ins) ? (snprintf(err, n, "out of memory"), -1)
            : copy_rows(db, sel, ids->ids[i], b, ins, err, n);
      free(sel);
      free(ins);
      if( r ) goto done;
    }
    if( add_files(b, pj->art, ids->ids[i], err, n) ) goto done;
  }
  {
    /* The C plugins the pipelines need, once each, for whoever imports. */
    char *plugins = lf_db_text(b, "SELECT json_group_array(json_object('plugin', plugin, 'version', version, "
                               "'sha256', sha256)) FROM (SELECT DISTINCT plugin, version, sha256 FROM ppl_plugins "
                               "ORDER BY plugin)", NULL, e2, sizeof e2);
    int bad = !plugins || manifest_put(b, "plugins", plugins, 0, err, n);
    if( !plugins ) snprintf(err, n, "cannot list the plugins of the bundle: %s", e2);
    free(plugins);
    if( bad ) goto done;
  }
  if( lf_exec(b, "COMMIT", e2, sizeof e2) ){
    snprintf(err, n, "cannot write bundle %s: %s", tmp, e2);
    goto done;
  }
  rc = 0;
done:
  if( b && sqlite3_close(b) != SQLITE_OK && rc==0 ){
    snprintf(err, n, "cannot close bundle %s", tmp);
    rc = -1;
  }
  return rc;
}

/* A process killed while writing a bundle leaves <bundle>.tmp-<pid>:
** removed once that process is gone. */
static void remove_dead_temps(const char *dir, const char *target){
  const char *base = strrchr(target, '/') + 1;
  size_t bl = strlen(base);
  DIR *d = opendir(dir);
  if( !d ) return;
  char host[256];
  long mypid;
  long long start;
  lf_process_identity(host, sizeof host, &mypid, &start);
  struct dirent *de;
  while( (de = readdir(d)) != NULL ){
    if( strncmp(de->d_name, base, bl) != 0 || strncmp(de->d_name + bl, ".tmp-", 5) != 0 ) continue;
    char *end = NULL;
    long pid = strtol(de->d_name + bl + 5, &end, 10);
    if( end==de->d_name + bl + 5 || *end || pid <= 0 || pid==mypid || lf_process_alive(host, pid, 0, 0) ) continue;
    char *p = lf_path_join(dir, de->d_name);
    struct stat sb;
    if( p && lstat(p, &sb)==0 && S_ISREG(sb.st_mode) ) unlink(p);
    free(p);
  }
  closedir(d);
}

int lf_transfer_export(sqlite3 *db, const lf_pplist *ids_in, int move, const char *bundle_path,
                       char **written, char *err, size_t n){
  lf_proj pj;
  if( written ) *written = NULL;
  if( lf_proj_open(db, &pj, err, n) ) return -1;
  lf_pplist all = {0};
  const lf_pplist *ids = ids_in;
  char *target = NULL, *tmp = NULL, *tdir = NULL;
  int result = -1, made_dir = 0, renamed = 0;
  lf_journal jr;
  memset(&jr, 0, sizeof jr);
  if( lf_hk_begin(db, err, n) ) goto done;
  if( !ids ){
    if( lf_pplist_all(db, &all, err, n) ) goto fail;
    ids = &all;
  }
  if( ids->n==0 ){ snprintf(err, n, "no pipelines to export"); goto fail; }
  for(int i=0; i<ids->n; i++){
    if( lf_ppl_require(db, ids->ids[i], err, n) ) goto fail;
    if( lf_hk_not_running(db, ids->ids[i], err, n) ) goto fail;
  }
  target = bundle_target(db, pj.art, bundle_path, ids, err, n);
  if( !target ) goto fail;
  tdir = strdup(target);
  tmp = lf_strf("%s.tmp-%ld", target, (long)getpid());
  if( !tdir || !tmp ){ snprintf(err, n, "out of memory"); goto fail; }
  *strrchr(tdir, '/') = 0;
  made_dir = !lf_path_exists(tdir);
  if( lf_mkdirs(tdir, err, n) ) goto fail;
  remove_dead_temps(tdir, target);
  unlink(tmp);
  if( write_bundle(db, &pj, ids, tmp, err, n) ) goto fail;
  if( fsync_path(tmp, 0, err, n) ) goto fail;
  if( rename(tmp, target) != 0 ){
    snprintf(err, n, "cannot write bundle %s: %s", target, strerror(errno));
    goto fail;
  }
  renamed = 1;
  if( fsync_path(tdir, 1, err, n) ) goto fail;
  /* The bundle is durable: now the source may go (rows now, files right
  ** after the commit, lf_journal.h). */
  if( move ){
    if( lf_journal_begin(&jr, db, pj.art, err, n) ) goto fail;
    if( lf_remove_active(db, pj.art, ids, &jr, err, n) ) goto fail;
  }
  if( lf_hk_commit(db, err, n) ) goto fail;
  result = lf_hk_finish(&jr, "the pipelines were exported and removed", err, n) ? -1 : ids->n;
  if( result >= 0 && written ){ *written = target; target = NULL; }
  goto done;
fail:
  lf_journal_abandon(&jr);
  lf_hk_rollback(db);
  if( tmp ) unlink(tmp);
  if( renamed ) unlink(target);
  if( made_dir && tdir ) rmdir(tdir);
done:
  lf_pplist_free(&all);
  free(target);
  free(tmp);
  free(tdir);
  lf_proj_close(&pj);
  return result;
}

/* ---- import ------------------------------------------------------------- */

/* A plain name: [A-Za-z0-9_.-]+, not starting with '.'. */
static int plain_name(const char *s, size_t len){
  if( len==0 || s[0]=='.' ) return 0;
  for(size_t i=0; i<len; i++){
    char c = s[i];
    if( !((c>='A'&&c<='Z') || (c>='a'&&c<='z') || (c>='0'&&c<='9') || c=='_' || c=='.' || c=='-') ) return 0;
  }
  return 1;
}

/* Is rel one of the artifact paths of pplid: "<Kind>/<pplid>/<name>" for
** Weights/Gradients, or exactly Configs/<p>.json, Histories/<p>.csv,
** Quicks/<p>.json? Anything else (absolute, "..", other folders) is not. */
static int path_ok(const char *rel, const char *pplid){
  char items[LF_ART_ITEMS][200];
  lf_art_items(pplid, items);
  for(int k=2; k<LF_ART_ITEMS; k++) if( strcmp(rel, items[k])==0 ) return 1;
  for(int k=0; k<2; k++){
    size_t l = strlen(items[k]);
    if( strncmp(rel, items[k], l)==0 && rel[l]=='/' && plain_name(rel + l + 1, strlen(rel + l + 1)) ) return 1;
  }
  return 0;
}

/* Shows untrusted text safely in an error message. */
static void show(const char *s, char *out, size_t n){
  size_t k = 0;
  for(; *s && k + 5 < n && k < 80; s++){
    unsigned char c = (unsigned char)*s;
    if( c >= 0x20 && c < 0x7f && c != '\'' && c != '\\' ) out[k++] = (char)c;
    else { snprintf(out + k, n - k, "\\x%02X", c); k += 4; }
  }
  out[k] = 0;
}

/* One pipeline to import. */
typedef struct incoming {
  int bundle;              /* index into the open bundles */
  char *pplid;
  char *canon, hash[65];   /* the config as it will be stored */
} incoming;

typedef struct importer {
  sqlite3 *db;
  lf_proj pj;
  char **paths;            /* bundle files */
  sqlite3 **b;             /* their connections */
  int nb;
  incoming *in;
  int nin;
  cJSON *remap;
} importer;

static void importer_free(importer *im){
  for(int i=0; i<im->nb; i++){
    if( im->b && im->b[i] ) sqlite3_close(im->b[i]);
    free(im->paths[i]);
  }
  free(im->b);
  free(im->paths);
  for(int i=0; i<im->nin; i++){ free(im->in[i].pplid); free(im->in[i].canon); }
  free(im->in);
  cJSON_Delete(im->remap);
  lf_proj_close(&im->pj);
}

static int cmp_str(const void *a, const void *b){
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The bundle files to read. */
static int list_bundles(importer *im, const char *given, char *err, size_t n){
  if( given ){
    im->paths = calloc(1, sizeof(char*));
    if( !im->paths || !(im->paths[0] = lf_project_resolve_path(im->db, given)) ){
      snprintf(err, n, "out of memory");
      return -1;
    }
    im->nb = 1;
    return 0;
  }
  char *dir = lf_path_join(im->pj.art, "Transfer");
  if( !dir ){ snprintf(err, n, "out of memory"); return -1; }
  DIR *d = opendir(dir);
  int cap = 0;
  if( d ){
    struct dirent *de;
    while( (de = readdir(d)) != NULL ){
      size_t l = strlen(de->d_name);
      if( de->d_name[0]=='.' || l < 10 || strcmp(de->d_name + l - 9, ".lfbundle") != 0 ) continue;
      if( im->nb==cap ){
        cap = cap ? cap * 2 : 8;
        char **x = realloc(im->paths, sizeof(char*) * (size_t)cap);
        if( !x ){ closedir(d); free(dir); snprintf(err, n, "out of memory"); return -1; }
        im->paths = x;
      }
      im->paths[im->nb] = lf_path_join(dir, de->d_name);
      if( !im->paths[im->nb] ){ closedir(d); free(dir); snprintf(err, n, "out of memory"); return -1; }
      im->nb++;
    }
    closedir(d);
  }
  if( im->nb==0 ){
    snprintf(err, n, "no bundle (*.lfbundle) in %s: pass bundle_path", dir);
    free(dir);
    return -1;
  }
  free(dir);
  qsort(im->paths, (size_t)im->nb, sizeof(char*), cmp_str);
  return 0;
}

/* 1 if the bundle has the table (optional tables may be missing). */
static int bundle_has_table(sqlite3 *b, const char *name){
  char e2[128];
  return lf_db_exists(b, "SELECT 1 FROM sqlite_schema WHERE type='table' AND name=?1", name, e2, sizeof e2)==1;
}

/* Tags from a bundle must look like the ones ppl_tag writes. */
static int bundle_tags_ok(sqlite3 *b, const char *bpath, const char *pplid, char *err, size_t n){
  if( !bundle_has_table(b, "ppl_tags") ) return 0;
  char e2[256];
  int bad = lf_db_exists(b, "SELECT 1 FROM ppl_tags WHERE pplid=?1 AND (typeof(key)<>'text' "
                            "OR length(key) NOT BETWEEN 1 AND 100 OR typeof(value) NOT IN ('text','integer','real'))",
                         pplid, e2, sizeof e2);
  if( bad==0 ) return 0;
  if( bad < 0 ) snprintf(err, n, "bundle %s: cannot read the tags of '%s': %s", bpath, pplid, e2);
  else snprintf(err, n, "bundle %s: a tag of pipeline '%s' is not a text key of 1-100 bytes with a text "
                "or number value (refused)", bpath, pplid);
  return -1;
}

/* Plugin rows from a bundle must look like the ones ppl_new writes, and
** every plugin they (or the config's locs) name must be loaded. */
static int bundle_plugins_ok(sqlite3 *b, const char *bpath, const char *pplid, const cJSON *cfg,
                             char *err, size_t n){
  char e2[256], list[1024];
  if( bundle_has_table(b, "ppl_plugins") ){
    int bad = lf_db_exists(b, "SELECT 1 FROM ppl_plugins WHERE pplid=?1 AND (typeof(plugin)<>'text' "
                              "OR length(plugin) NOT BETWEEN 1 AND 40 OR typeof(version)<>'text' "
                              "OR length(version) NOT BETWEEN 1 AND 63 OR typeof(sha256)<>'text' "
                              "OR length(sha256)<>64 OR sha256 GLOB '*[^0-9a-f]*')", pplid, e2, sizeof e2);
    if( bad < 0 ){ snprintf(err, n, "bundle %s: cannot read the plugins of '%s': %s", bpath, pplid, e2); return -1; }
    if( bad ){
      snprintf(err, n, "bundle %s: a plugin row of pipeline '%s' is not a name, version and SHA-256 (damaged or altered bundle)",
               bpath, pplid);
      return -1;
    }
  }
  int missing = lf_ppl_plugins_missing(b, pplid, cfg, list, sizeof list);
  if( missing < 0 ){ snprintf(err, n, "bundle %s: %s", bpath, list); return -1; }
  if( missing ){
    snprintf(err, n, "bundle %s: pipeline '%s' needs %s not loaded in this process: %s; load %s with "
             "lab_load_plugin('<path to the plugin .so>') and import again (nothing was imported)",
             bpath, pplid, missing > 1 ? "plugins" : "a plugin", list, missing > 1 ? "them" : "it");
    return -1;
  }
  return 0;
}

/* Opens a bundle read-only and checks that it is one we can read. */
static int open_bundle(importer *im, int k, char *err, size_t n){
  const char *path = im->paths[k];
  sqlite3 *b = NULL;
  if( !lf_path_exists(path) ){ snprintf(err, n, "no bundle file %s", path); return -1; }
  int fd = lf_open_regular(path, "bundle", err, n);
  if( fd < 0 ) return -1;
  close(fd);
  if( sqlite3_open_v2(path, &b, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ){
    snprintf(err, n, "cannot open bundle %s: %s", path, b ? sqlite3_errmsg(b) : "out of memory");
    sqlite3_close(b);
    return -1;
  }
  im->b[k] = b;
  /* A bundle may come from anyone: nothing in its schema runs code. */
  sqlite3_db_config(b, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
  sqlite3_db_config(b, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
  sqlite3_stmt *st = NULL;
  int app = 0, tables = 0;
  if( sqlite3_prepare_v2(b, "PRAGMA application_id", -1, &st, NULL)==SQLITE_OK && sqlite3_step(st)==SQLITE_ROW ){
    app = sqlite3_column_int(st, 0);
  }
  sqlite3_finalize(st);
  st = NULL;
  if( sqlite3_prepare_v2(b, "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name IN "
                         "('manifest','ppls','ppl_state','history','ppl_edges','ppl_weight_files','files')",
                         -1, &st, NULL)==SQLITE_OK && sqlite3_step(st)==SQLITE_ROW ){
    tables = sqlite3_column_int(st, 0);
  }
  sqlite3_finalize(st);
  st = NULL;
  if( app != LF_BUNDLE_APP_ID || tables < 1 ){
    snprintf(err, n, "%s is not a LabFlow bundle", path);
    return -1;
  }
  sqlite3_int64 version = -1;
  if( sqlite3_prepare_v2(b, "SELECT value FROM manifest WHERE key='format_version'", -1, &st, NULL)==SQLITE_OK
   && sqlite3_step(st)==SQLITE_ROW && sqlite3_column_type(st, 0)==SQLITE_INTEGER ){
    version = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  if( version > LF_BUNDLE_FORMAT ){
    snprintf(err, n, "bundle %s has format_version %lld, newer than this LabFlow reads (%d): "
             "upgrade LabFlow to import it", path, (long long)version, LF_BUNDLE_FORMAT);
    return -1;
  }
  if( version < 1 || tables != 7 ){
    snprintf(err, n, "bundle %s has no valid manifest (format_version missing or tables lacking)", path);
    return -1;
  }
  return 0;
}

/* The longest remap prefix of src, applied; NULL if none matches. */
static char *remap_src(const cJSON *remap, const char *src){
  const cJSON *best = NULL;
  size_t bl = 0;
  for(const cJSON *e = remap ? remap->child : NULL; e; e = e->next){
    size_t l = strlen(e->string);
    if( l >= bl && strncmp(src, e->string, l)==0 ){ best = e; bl = l; }
  }
  if( !best ) return NULL;
  return lf_strf("%s%s", best->valuestring, src + bl);
}

/* 1 if the hash or pplid is in the table (ppls or archived_ppls). */
static int in_project(sqlite3 *db, const char *table, const char *col, const char *v, char *err, size_t n){
  char *sql = lf_strf("SELECT 1 FROM main.%s WHERE %s=?1", table, col);
  if( !sql ){ snprintf(err, n, "out of memory"); return -1; }
  int rc = lf_db_exists(db, sql, v, err, n);
  free(sql);
  return rc;
}

/* Checks one bundle's pipelines and queues those to import. *collide
** collects pplids that already exist. */
static int scan_bundle(importer *im, int k, const lf_pplist *ids, int move, lf_pplist *seen_ids,
                       sqlite3_str *collide, int *ncollide, char *err, size_t n){
  sqlite3 *b = im->b[k];
  const char *bpath = im->paths[k];
  sqlite3_stmt *st = NULL;
  cJSON *cfg = NULL;
  int rc = -1;
  if( sqlite3_prepare_v2(b, "SELECT pplid, config, config_hash FROM ppls ORDER BY pplid", -1, &st, NULL) != SQLITE_OK ){
    snprintf(err, n, "bundle %s: %s", bpath, sqlite3_errmsg(b));
    return -1;
  }
  while( sqlite3_step(st)==SQLITE_ROW ){
    char e2[512], shown[400];
    const char *pplid = lf_pplid_column(st, 0, "its table ppls", e2, sizeof e2);
    if( !pplid ){
      snprintf(err, n, "bundle %s: %s (damaged or altered bundle)", bpath, e2);
      goto done;
    }
    const char *ctext = (const char*)sqlite3_column_text(st, 1);
    const char *bhash = (const char*)sqlite3_column_text(st, 2);
    if( ids && !lf_pplist_has(ids, pplid) ){
      /* 'move' deletes the bundle: it must not hold pipelines left behind. */
      if( move ){
        snprintf(err, n, "cannot move bundle %s: it also holds '%s', which is not being imported "
                 "(import every pipeline of it, or use 'copy')", bpath, pplid);
        goto done;
      }
      continue;
    }
    if( lf_pplist_add(seen_ids, pplid) ){ snprintf(err, n, "out of memory"); goto done; }
    cfg = lf_json_parse_object(ctext ? ctext : "", "config", e2, sizeof e2);
    if( !cfg ){ snprintf(err, n, "bundle %s: pipeline '%s': %s", bpath, pplid, e2); goto done; }
    /* C plugins it needs must be loaded here (a bundle never loads one);
    ** first, as the hash counts their args' defaults. */
    if( bundle_plugins_ok(b, bpath, pplid, cfg, err, n) ) goto done;
    char hash[65], legacy[65], older[65];
    if( lf_config_identity_hash(cfg, hash) || lf_config_hash(cfg, legacy) ){ snprintf(err, n, "out of memory"); goto done; }
    /* Bundles made before defaults counted in the hash carry the hash of
    ** the config as written; those of an earlier hash form, that form's. */
    int known = bhash && (strcmp(hash, bhash)==0 || strcmp(legacy, bhash)==0);
    for(int form = 2; bhash && !known && form < LF_CONFIG_HASH_FORM; form++){
      if( lf_config_identity_hash_form(cfg, form, older) ){ snprintf(err, n, "out of memory"); goto done; }
      known = strcmp(older, bhash)==0;
    }
    if( !known ){
      snprintf(err, n, "bundle %s: pipeline '%s': config_hash does not match its config (damaged or altered bundle)",
               bpath, pplid);
      goto done;
    }
    static const char *const srcs[2] = {"train_data_src", "val_data_src"};
    for(int s=0; s<2 && im->remap; s++){
      cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, srcs[s]);
      if( !cJSON_IsString(v) ) continue;
      char *nv = remap_src(im->remap, v->valuestring);
      if( nv ){
        cJSON_ReplaceItemInObjectCaseSensitive(cfg, srcs[s], cJSON_CreateString(nv));
        free(nv);
      }
    }
    /* The config must make sense in this project (metrics, locs, args). */
    lf_pipeline_spec spec;
    if( lf_config_parse(cfg, &im->pj.s, &spec, e2, sizeof e2) ){
      snprintf(err, n, "bundle %s: pipeline '%s' does not fit this project: %s", bpath, pplid, e2);
      goto done;
    }
    lf_pipeline_spec_free(&spec);
    char *canon = lf_canon_json(cfg);
    if( !canon || lf_config_identity_hash(cfg, hash) ){ free(canon); snprintf(err, n, "out of memory"); goto done; }
    cJSON_Delete(cfg);
    cfg = NULL;
    /* Same configuration here already (or earlier in this import): skip. */
    int dup = 0;
    for(int i=0; i<im->nin && !dup; i++) dup = strcmp(im->in[i].hash, hash)==0;
    if( !dup ){
      int a = in_project(im->db, "ppls", "config_hash", hash, err, n);
      int c = a < 0 ? -1 : in_project(im->db, "archived_ppls", "config_hash", hash, err, n);
      if( a < 0 || c < 0 ){ free(canon); goto done; }
      dup = a || c;
    }
    if( dup ){ free(canon); continue; }
    int clash = 0;
    for(int i=0; i<im->nin && !clash; i++) clash = strcmp(im->in[i].pplid, pplid)==0;
    if( !clash ){
      int a = in_project(im->db, "ppls", "pplid", pplid, err, n);
      int c = a < 0 ? -1 : in_project(im->db, "archived_ppls", "pplid", pplid, err, n);
      if( a < 0 || c < 0 ){ free(canon); goto done; }
      clash = a || c;
    }
    if( clash ){
      sqlite3_str_appendf(collide, "%s%s", *ncollide ? ", " : "", pplid);
      (*ncollide)++;
      free(canon);
      continue;
    }
    if( bundle_tags_ok(b, bpath, pplid, err, n) ){ free(canon); goto done; }
    /* Its files: plain relative names inside its own folders, intact, and
    ** not already present here. */
    sqlite3_stmt *fs = NULL;
    if( sqlite3_prepare_v2(b, "SELECT path, data FROM files WHERE pplid=?1", -1, &fs, NULL) != SQLITE_OK ){
      snprintf(err, n, "bundle %s: %s", bpath, sqlite3_errmsg(b));
      free(canon);
      goto done;
    }
    sqlite3_bind_text(fs, 1, pplid, -1, SQLITE_STATIC);
    int bad = 0;
    lf_pplist rels;   /* the paths seen so far: each may appear once */
    memset(&rels, 0, sizeof rels);
    while( !bad && sqlite3_step(fs)==SQLITE_ROW ){
      const char *rel = (const char*)sqlite3_column_text(fs, 0);
      if( sqlite3_column_type(fs, 0) != SQLITE_TEXT || !rel || !path_ok(rel, pplid) ){
        show(rel ? rel : "", shown, sizeof shown);
        snprintf(err, n, "bundle %s: file path '%s' of pipeline '%s' is not a plain relative name "
                 "inside the pipeline's folders (refused)", bpath, shown, pplid);
        bad = 1;
        break;
      }
      if( lf_pplist_has(&rels, rel) ){
        show(rel, shown, sizeof shown);
        snprintf(err, n, "bundle %s: file path '%s' of pipeline '%s' appears twice (damaged or altered bundle)",
                 bpath, shown, pplid);
        bad = 1;
        break;
      }
      if( lf_pplist_add(&rels, rel) ){ snprintf(err, n, "out of memory"); bad = 1; break; }
      size_t l = strlen(rel);
      if( (l > 4 && strcmp(rel + l - 4, ".lfw")==0) || (l > 6 && strcmp(rel + l - 6, ".state")==0) ){
        lf_tensor_rec *recs = NULL;
        int nrec = 0;
        const void *data = sqlite3_column_blob(fs, 1);
        int len = sqlite3_column_bytes(fs, 1);
        if( lf_ckpt_read_mem(data ? data : "", (size_t)len, &recs, &nrec, e2, sizeof e2) ){
          snprintf(err, n, "bundle %s: file %s is damaged: %s", bpath, rel, e2);
          bad = 1;
          break;
        }
        lf_ckpt_free(recs, nrec);
      }
      char *dest = lf_path_join(im->pj.art, rel);
      if( !dest ){ snprintf(err, n, "out of memory"); bad = 1; break; }
      if( lf_path_exists(dest) ){
        snprintf(err, n, "cannot import '%s': %s already exists in this project's artifacts (move it away first)",
                 pplid, dest);
        bad = 1;
      }
      free(dest);
    }
    sqlite3_finalize(fs);
    lf_pplist_free(&rels);
    if( bad ){ free(canon); goto done; }
    incoming *x = realloc(im->in, sizeof *x * (size_t)(im->nin + 1));
    if( !x ){ free(canon); snprintf(err, n, "out of memory"); goto done; }
    im->in = x;
    x[im->nin].bundle = k;
    x[im->nin].pplid = strdup(pplid);
    x[im->nin].canon = canon;
    memcpy(x[im->nin].hash, hash, sizeof hash);
    im->nin++;
    if( !x[im->nin-1].pplid ){ snprintf(err, n, "out of memory"); goto done; }
  }
  rc = 0;
done:
  cJSON_Delete(cfg);
  sqlite3_finalize(st);
  return rc;
}

/* Writes one pipeline: files into staging then into place, rows. */
static int import_one(importer *im, const incoming *x, const char *staging, int *nstaged,
                      lf_journal *jr, char *err, size_t n){
  sqlite3 *b = im->b[x->bundle];
  sqlite3 *db = im->db;
  /* Rows. */
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(b, "SELECT status, created_time FROM ppls WHERE pplid=?1", -1, &st, NULL);
  sqlite3_stmt *ins = NULL;
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, x->pplid, -1, SQLITE_STATIC);
    if( sqlite3_step(st) != SQLITE_ROW ){
      snprintf(err, n, "cannot import '%s': bundle %s: %s", x->pplid, im->paths[x->bundle],
               sqlite3_errcode(b)==SQLITE_DONE || sqlite3_errcode(b)==SQLITE_OK ? "its ppls row cannot be read back"
                                                                                 : sqlite3_errmsg(b));
      sqlite3_finalize(st);
      return -1;
    }
  }
  if( rc==SQLITE_OK ) rc = sqlite3_prepare_v2(db,
      "INSERT INTO main.ppls(pplid, config, config_hash, status, created_time) VALUES(?1, ?2, ?3, ?4, ?5)",
      -1, &ins, NULL);
  if( rc==SQLITE_OK ){
    const char *status = (const char*)sqlite3_column_text(st, 0);
    const char *created = (const char*)sqlite3_column_text(st, 1);
    char now[32];
    lf_now_text(now, sizeof now);
    sqlite3_bind_text(ins, 1, x->pplid, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, x->canon, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, x->hash, -1, SQLITE_STATIC);
    /* A bundle is never made of a running pipeline. */
    sqlite3_bind_text(ins, 4, status && strcmp(status, "running") != 0 ? status : "stopped", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 5, created ? created : now, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(ins)==SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
  }
  sqlite3_finalize(st);
  sqlite3_finalize(ins);
  if( rc != SQLITE_OK ){
    snprintf(err, n, "cannot import '%s': %s", x->pplid, sqlite3_errmsg(db));
    return -1;
  }
  for(int t=1; t<LF_PPL_NTABLES; t++){
    const lf_ppl_table *bt = &lf_ppl_tables[t];
    if( bt->optional && !bundle_has_table(b, bt->name) ) continue;
    char *sel = lf_strf("SELECT %s FROM %s WHERE %s=?1", bt->cols, bt->name, bt->key);
    char *in2 = lf_strf("INSERT INTO main.%s(%s) VALUES(?1, ?2, ?3%s%s)", bt->name, bt->cols,
                     bt->ncols > 3 ? ", ?4" : "", bt->ncols > 4 ? ", ?5" : "");
    char e2[512];
    int r = (!sel || !in2) ? (snprintf(e2, sizeof e2, "out of memory"), -1)
          : copy_rows(b, sel, x->pplid, db, in2, e2, sizeof e2);
    free(sel);
    free(in2);
    if( r ){ snprintf(err, n, "cannot import the %s rows of '%s': %s", bt->name, x->pplid, e2); return -1; }
  }
  /* Every pipeline has a state row; a hand-made bundle may lack it. */
  {
    sqlite3_stmt *s2 = NULL;
    int r = sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO main.ppl_state(pplid) VALUES(?1)", -1, &s2, NULL);
    if( r==SQLITE_OK ){
      sqlite3_bind_text(s2, 1, x->pplid, -1, SQLITE_STATIC);
      r = sqlite3_step(s2);
    }
    sqlite3_finalize(s2);
    if( r != SQLITE_DONE ){ snprintf(err, n, "cannot import '%s': %s", x->pplid, sqlite3_errmsg(db)); return -1; }
    /* Its state must agree with the history that came with it. */
    int last, best;
    char e2[512];
    if( lf_ppl_epochs(db, x->pplid, &last, &best, e2, sizeof e2) ){
      snprintf(err, n, "bundle %s: %s", im->paths[x->bundle], e2);
      return -1;
    }
  }
  /* Files: each written whole (fsynced) into staging now; the journal
  ** moves them into place after the commit. */
  sqlite3_stmt *fs = NULL;
  if( sqlite3_prepare_v2(b, "SELECT path, data FROM files WHERE pplid=?1 ORDER BY path", -1, &fs, NULL) != SQLITE_OK ){
    snprintf(err, n, "bundle %s: %s", im->paths[x->bundle], sqlite3_errmsg(b));
    return -1;
  }
  sqlite3_bind_text(fs, 1, x->pplid, -1, SQLITE_STATIC);
  rc = 0;
  while( !rc && sqlite3_step(fs)==SQLITE_ROW ){
    const char *rel = (const char*)sqlite3_column_text(fs, 0);
    const void *data = sqlite3_column_blob(fs, 1);
    int len = sqlite3_column_bytes(fs, 1);
    char name[32];
    snprintf(name, sizeof name, "%d", (*nstaged)++);
    char *tmp = lf_path_join(staging, name), *dest = lf_path_join(im->pj.art, rel);
    if( !tmp || !dest ){ snprintf(err, n, "out of memory"); rc = -1; }
    else if( lf_write_file_atomic(tmp, data ? data : "", (size_t)len, err, n) ) rc = -1;
    else if( lf_journal_move(jr, tmp, dest, err, n) ){ unlink(tmp); rc = -1; }
    free(tmp);
    free(dest);
  }
  sqlite3_finalize(fs);
  return rc;
}

int lf_transfer_import(sqlite3 *db, const lf_pplist *ids, int move, const char *bundle_path,
                       const char *remap_json, char *err, size_t n){
  importer im;
  memset(&im, 0, sizeof im);
  im.db = db;
  if( lf_proj_open(db, &im.pj, err, n) ) return -1;
  lf_pplist seen = {0};
  lf_journal jr;
  memset(&jr, 0, sizeof jr);
  char *staging = NULL;
  sqlite3_str *collide = NULL;
  int result = -1, ncollide = 0, began = 0;
  if( remap_json ){
    char e2[256];
    im.remap = lf_json_parse_object(remap_json, "remap", e2, sizeof e2);
    if( !im.remap ){ snprintf(err, n, "%s (give {\"<old prefix>\": \"<new prefix>\"})", e2); goto done; }
    for(const cJSON *e = im.remap->child; e; e = e->next){
      if( !cJSON_IsString(e) ){ snprintf(err, n, "remap: the new prefix for '%.60s' must be text", e->string); goto done; }
    }
  }
  if( list_bundles(&im, bundle_path, err, n) ) goto done;
  im.b = calloc((size_t)im.nb, sizeof(sqlite3*));
  if( !im.b ){ snprintf(err, n, "out of memory"); goto done; }
  for(int k=0; k<im.nb; k++) if( open_bundle(&im, k, err, n) ) goto done;
  if( lf_hk_begin(db, err, n) ) goto done;
  began = 1;
  collide = sqlite3_str_new(NULL);
  for(int k=0; k<im.nb; k++){
    if( scan_bundle(&im, k, ids, move, &seen, collide, &ncollide, err, n) ) goto fail;
  }
  if( sqlite3_str_errcode(collide) ){ snprintf(err, n, "out of memory"); goto fail; }
  if( ncollide ){
    snprintf(err, n, "%s already in this project with another configuration: %s "
             "(archive or delete %s, or import into another project)",
             ncollide==1 ? "pplid" : "pplids", sqlite3_str_value(collide), ncollide==1 ? "it" : "them");
    goto fail;
  }
  for(int i=0; ids && i<ids->n; i++){
    if( !lf_pplist_has(&seen, ids->ids[i]) ){
      snprintf(err, n, "pipeline '%s' is not in %s", ids->ids[i], im.nb==1 ? im.paths[0] : "any bundle in Transfer/");
      goto fail;
    }
  }
  if( im.nin > 0 ){
    staging = lf_strf("%s/.import-%ld-XXXXXX", im.pj.art, (long)getpid());
    if( !staging ){ snprintf(err, n, "out of memory"); goto fail; }
    if( lf_mkdirs(im.pj.art, err, n) ) goto fail;
    lf_journal_sweep(im.pj.art);
    if( !mkdtemp(staging) ){
      snprintf(err, n, "cannot create a staging folder in %s: %s", im.pj.art, strerror(errno));
      free(staging);
      staging = NULL;
      goto fail;
    }
    int nstaged = 0;
    if( lf_journal_begin(&jr, db, im.pj.art, err, n) ) goto fail;
    for(int i=0; i<im.nin; i++){
      if( import_one(&im, &im.in[i], staging, &nstaged, &jr, err, n) ) goto fail;
    }
    if( fsync_path(staging, 1, err, n) || lf_journal_remove(&jr, staging, err, n) ) goto fail;
  }
  if( lf_hk_commit(db, err, n) ) goto fail;
  if( lf_hk_finish(&jr, "the pipelines were imported", err, n) ) goto done;
  /* After the commit: a moved bundle's job is done. */
  if( move ){
    for(int k=0; k<im.nb; k++){ sqlite3_close(im.b[k]); im.b[k] = NULL; unlink(im.paths[k]); }
  }
  result = im.nin;
  goto done;
fail:
  lf_journal_abandon(&jr);
  if( began ) lf_hk_rollback(db);
  if( staging ){ char e2[64]; lf_rm_tree(staging, e2, sizeof e2); }
done:
  if( collide ) sqlite3_free(sqlite3_str_finish(collide));
  free(staging);
  lf_pplist_free(&seen);
  importer_free(&im);
  return result;
}
