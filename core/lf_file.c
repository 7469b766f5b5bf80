/*
** lf_file.c — see lf_file.h. The file is opened with O_NONBLOCK, so a FIFO
** without a writer does not block the open, then fstat()ed: the type is
** checked on what was opened, not on what a path named a moment before.
*/
#include "lf_file.h"
#include "lf_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *lf_file_kind(unsigned int mode){
  if( S_ISREG(mode) ) return "a regular file";
  if( S_ISDIR(mode) ) return "a directory";
  if( S_ISFIFO(mode) ) return "a FIFO";
  if( S_ISLNK(mode) ) return "a symbolic link";
  if( S_ISSOCK(mode) ) return "a socket";
  if( S_ISCHR(mode) ) return "a character device";
  if( S_ISBLK(mode) ) return "a block device";
  return "not a file";
}

int lf_open_regular(const char *path, const char *what, char *err, size_t n){
  const char *sep = what && what[0] ? " " : "";
  if( !what ) what = "";
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if( fd < 0 ){
    snprintf(err, n, "cannot open %s%s%s: %s", what, sep, path, strerror(errno));
    return -1;
  }
  struct stat st;
  if( fstat(fd, &st) != 0 ){
    snprintf(err, n, "cannot read %s%s%s: %s", what, sep, path, strerror(errno));
    close(fd);
    return -1;
  }
  if( !S_ISREG(st.st_mode) ){
    snprintf(err, n, "%s%s%s is not a regular file (%s)", what, sep, path, lf_file_kind(st.st_mode));
    close(fd);
    return -1;
  }
  int flags = fcntl(fd, F_GETFL);
  if( flags >= 0 ) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

/* ---- atomic writes, folders (moved from lf_ckpt.c) ----------------------- */

/* Writes go to the kernel at most this much at a time. */
#define LF_FILE_CHUNK ((size_t)1 << 30)

int lf_file_write_all(int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0) {
    ssize_t k = write(fd, p, len < LF_FILE_CHUNK ? len : LF_FILE_CHUNK);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (k == 0) { errno = EIO; return -1; }
    p += k;
    len -= (size_t)k;
  }
  return 0;
}

/* Directory part of path, for the directory fsync. Caller frees. */
static char *dir_of(const char *path)
{
  const char *slash = strrchr(path, '/');
  if (slash == NULL) return strdup(".");
  if (slash == path) return strdup("/");
  size_t n = (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (d) { memcpy(d, path, n); d[n] = 0; }
  return d;
}

/* Writes "<path>.tmp-<pid>" with body, fsyncs it, renames it over path and
** fsyncs the directory. On failure the temp file is removed and path keeps
** whatever it held before. what names the file kind in messages. With
** replace 0 the temp file is linked to path instead, which fails when path
** exists (EEXIST), so nothing there is ever replaced, even in a race. */
int lf_file_write_with(const char *path, const char *what, lf_file_body_fn body,
                       void *ctx, int replace, char *err, size_t errlen)
{
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 32);
  if (tmp == NULL) { lf_errf(err, errlen, "out of memory writing %s %s", what, path); return -1; }
  snprintf(tmp, plen + 32, "%s.tmp-%ld", path, (long)getpid());

  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    lf_errf(err, errlen, "cannot create %s %s (temp file %s): %s", what, path, tmp, strerror(errno));
    free(tmp);
    return -1;
  }
  errno = 0;
  if (body(fd, ctx) != 0) {
    int e = errno;
    if (e != 0) lf_errf(err, errlen, "cannot write %s %s: %s", what, path, strerror(e));
    else lf_errf(err, errlen, "cannot write %s %s: compression failed", what, path);
    goto fail;
  }
  if (fsync(fd) != 0) {
    lf_errf(err, errlen, "cannot write %s %s: fsync: %s", what, path, strerror(errno));
    goto fail;
  }
  if (close(fd) != 0) {
    fd = -1;
    lf_errf(err, errlen, "cannot write %s %s: close: %s", what, path, strerror(errno));
    goto fail;
  }
  fd = -1;
  if (!replace) {
    if (link(tmp, path) != 0) {
      if (errno == EEXIST) lf_errf(err, errlen, "%s %s already exists", what, path);
      else lf_errf(err, errlen, "cannot write %s %s: link: %s", what, path, strerror(errno));
      goto fail;
    }
    unlink(tmp);
  } else if (rename(tmp, path) != 0) {
    lf_errf(err, errlen, "cannot write %s %s: rename: %s", what, path, strerror(errno));
    goto fail;
  }
  free(tmp);

  /* Make the rename itself durable. Some file systems refuse fsync on a
  ** directory (EINVAL); the new file is in place either way. */
  char *dir = dir_of(path);
  if (dir != NULL) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS) {
        lf_errf(err, errlen, "wrote %s %s but syncing directory %s failed: %s",
                 what, path, dir, strerror(errno));
        close(dfd);
        free(dir);
        return -1;
      }
      close(dfd);
    }
    free(dir);
  }
  return 0;

fail:
  if (fd >= 0) close(fd);
  unlink(tmp);
  free(tmp);
  return -1;
}

typedef struct bytes_job { const void *data; size_t len; } bytes_job;

static int bytes_body(int fd, void *ctx)
{
  const bytes_job *job = ctx;
  return lf_file_write_all(fd, job->data, job->len);
}

int lf_write_file_atomic(const char *path, const void *data, size_t len,
                         char *err, size_t errlen)
{
  if (path == NULL || *path == 0) { lf_errf(err, errlen, "file path is empty"); return -1; }
  if (len > 0 && data == NULL) { lf_errf(err, errlen, "file %s: no data", path); return -1; }
  bytes_job job = { data, len };
  return lf_file_write_with(path, "file", bytes_body, &job, 1, err, errlen);
}

int lf_write_file_new(const char *path, const char *what, const void *data, size_t len,
                      char *err, size_t errlen)
{
  if (path == NULL || *path == 0) { lf_errf(err, errlen, "file path is empty"); return -1; }
  if (len > 0 && data == NULL) { lf_errf(err, errlen, "file %s: no data", path); return -1; }
  bytes_job job = { data, len };
  return lf_file_write_with(path, what, bytes_body, &job, 0, err, errlen);
}

int lf_mkdirs(const char *path, char *err, size_t errlen)
{
  if (path == NULL || *path == 0) { lf_errf(err, errlen, "directory path is empty"); return -1; }
  char *p = strdup(path);
  if (p == NULL) { lf_errf(err, errlen, "out of memory creating directory %s", path); return -1; }
  /* Create each prefix ending before a '/', then the whole path. */
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s != 0) continue;
    char saved = *s;
    *s = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      lf_errf(err, errlen, "cannot create directory %s: %s", p, strerror(errno));
      free(p);
      return -1;
    }
    *s = saved;
    if (saved == 0) break;
  }
  struct stat st;
  if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
    lf_errf(err, errlen, "cannot create directory %s: a file of that name exists", path);
    free(p);
    return -1;
  }
  free(p);
  return 0;
}

/* ---- existence, links, removal (moved from lf_archive.c) ----------------- */

int lf_path_exists(const char *path){
  struct stat sb;
  return lstat(path, &sb)==0;
}

int lf_no_links_below(const char *art, const char *path, int include_last, char *err, size_t n){
  size_t la = strlen(art);
  while( la > 1 && art[la-1]=='/' ) la--;
  if( strncmp(path, art, la) != 0 || path[la] != '/' ) return 0;
  char *p = strdup(path);
  if( !p ){ snprintf(err, n, "out of memory"); return -1; }
  int rc = 0;
  for(char *s = p + la + 1; !rc; s++){
    char *slash = strchr(s, '/');
    if( !slash && !include_last ) break;
    if( slash ) *slash = 0;
    struct stat sb;
    if( lstat(p, &sb)==0 && S_ISLNK(sb.st_mode) ){
      snprintf(err, n, "%s is a symbolic link: LabFlow does not move or delete files through links (it could "
               "lead out of the project); replace it with the folder it points to", p);
      rc = -1;
    }
    if( !slash ) break;
    *slash = '/';
    s = slash;
  }
  free(p);
  return rc;
}

static __thread int rm_errno;
static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw){
  (void)sb; (void)flag; (void)ftw;
  if( remove(path) != 0 && !rm_errno ) rm_errno = errno;
  return 0;
}

int lf_rm_tree(const char *path, char *err, size_t n){
  if( !lf_path_exists(path) ) return 0;
  rm_errno = 0;
  if( nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && !rm_errno ) rm_errno = errno;
  if( rm_errno ){
    snprintf(err, n, "cannot remove %s: %s", path, strerror(rm_errno));
    return -1;
  }
  return 0;
}

void lf_rmdir_empty(const char *dir, const char *stop){
  char *d = strdup(dir);
  if( !d ) return;
  size_t stoplen = strlen(stop);
  while( strlen(d) > stoplen && strncmp(d, stop, stoplen)==0 ){
    if( rmdir(d) != 0 ) break;
    char *s = strrchr(d, '/');
    if( !s ) break;
    *s = 0;
  }
  free(d);
}
