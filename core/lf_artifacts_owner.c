/*
** lf_artifacts_owner.c — see lf_artifacts_owner.h. "Inside" is decided on
** real paths (symbolic links resolved for the part that exists, no ".."
** in the rest), so neither "../elsewhere" nor a link leads out.
*/
#include "lf_artifacts_owner.h"
#include "lf_db.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "lf_ckpt.h"
#include "lf_file.h"
#include "lf_ppl.h"
#include "lf_project.h"
#include "lf_util.h"

/* path with every existing part resolved; NULL if it cannot be, or if the
** part that does not exist yet holds "." or "..". */
static char *resolve(const char *path){
  char *p = strdup(path);
  if( !p ) return NULL;
  char *tail = NULL;          /* the missing part, "a/b" */
  for(;;){
    char *r = realpath(p, NULL);
    if( r ){
      char *out = tail ? lf_strf("%s/%s", r, tail) : strdup(r);
      free(r); free(p); free(tail);
      return out;
    }
    if( errno != ENOENT ){ free(p); free(tail); return NULL; }
    char *slash = strrchr(p, '/');
    if( !slash || slash == p ){ free(p); free(tail); return NULL; }
    const char *last = slash + 1;
    if( strcmp(last, "..")==0 || strcmp(last, ".")==0 ){ free(p); free(tail); return NULL; }
    char *t = tail ? lf_strf("%s/%s", last, tail) : strdup(last);
    free(tail);
    tail = t;
    *slash = 0;
    if( !tail ){ free(p); return NULL; }
  }
}

/* 1 if artifacts is in (or is below) the database's folder. */
static int inside_db_folder(sqlite3 *db, const char *artifacts){
  char *dir = lf_project_dbdir(db);
  if( !dir ) return 0;
  char *d = realpath(dir, NULL), *a = resolve(artifacts);
  free(dir);
  int in = 0;
  if( d && a ){
    size_t k = strlen(d);
    in = strncmp(a, d, k)==0 && (a[k]=='/' || (k==1 && d[0]=='/'));
  }
  free(d); free(a);
  return in;
}

static char *project_id(sqlite3 *db){
  char err[64];
  char *id = lf_db_text(db, "SELECT value FROM main.lab_meta WHERE key = 'project_id' AND typeof(value) = 'text'",
                        NULL, err, sizeof err);
  if( id && strlen(id) != 32 ){ free(id); id = NULL; }
  return id;
}

/* The marker's first line, or NULL. */
static char *read_marker(const char *artifacts){
  char *path = lf_path_join(artifacts, LF_ARTIFACTS_MARKER), why[256];
  if( !path ) return NULL;
  int fd = lf_open_regular(path, "", why, sizeof why);
  free(path);
  if( fd < 0 ) return NULL;
  char buf[80];
  ssize_t got = read(fd, buf, sizeof buf - 1);
  close(fd);
  if( got <= 0 ) return NULL;
  buf[got] = 0;
  buf[strcspn(buf, "\r\n")] = 0;
  return strdup(buf);
}

int lf_artifacts_owned(sqlite3 *db, const char *artifacts, const char *settings_json, char *err, size_t n){
  if( inside_db_folder(db, artifacts) ) return 0;
  char *id = project_id(db), *mark = read_marker(artifacts);
  int ok = id && mark && strcmp(id, mark)==0;
  free(id); free(mark);
  if( ok ) return 0;
  snprintf(err, n, "the artifacts folder %s (this database's 'artifacts' setting) is outside the database's folder "
           "and is not marked as this project's: a database someone sent you cannot make LabFlow write or delete "
           "there. If the project is yours, confirm that folder once: SELECT lab_init('%s')",
           artifacts, settings_json ? settings_json : "<the project's settings>");
  return -1;
}

static void random_hex(char out[33]){
  unsigned char b[16];
  if( getrandom(b, sizeof b, 0) != (ssize_t)sizeof b ){
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long x = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 20) ^ (unsigned long long)getpid();
    for(int i=0; i<16; i++){ x = x * 6364136223846793005ULL + 1442695040888963407ULL; b[i] = (unsigned char)(x >> 56); }
  }
  for(int i=0; i<16; i++) snprintf(out + 2*i, 3, "%02x", b[i]);
}

int lf_artifacts_claim(sqlite3 *db, const char *artifacts, char *err, size_t n){
  char *id = project_id(db);
  if( !id ){
    char fresh[33];
    random_hex(fresh);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO main.lab_meta(key, value) VALUES('project_id', ?1)", -1, &st, NULL);
    if( rc==SQLITE_OK ){
      sqlite3_bind_text(st, 1, fresh, -1, SQLITE_STATIC);
      rc = sqlite3_step(st)==SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    if( rc != SQLITE_OK ){ snprintf(err, n, "cannot record the project's id: %s", sqlite3_errmsg(db)); return -1; }
    id = strdup(fresh);
    if( !id ){ snprintf(err, n, "out of memory"); return -1; }
  }
  int rc = 0;
  if( !inside_db_folder(db, artifacts) ){
    char *mark = read_marker(artifacts);
    if( !mark || strcmp(mark, id) != 0 ){
      char *path = lf_path_join(artifacts, LF_ARTIFACTS_MARKER), *text = lf_strf("%s\n", id);
      rc = (path && text) ? lf_write_file_atomic(path, text, strlen(text), err, n) : (snprintf(err, n, "out of memory"), -1);
      free(path); free(text);
    }
    free(mark);
  }
  free(id);
  return rc;
}
