/*
** lf_file.c — see lf_file.h. The file is opened with O_NONBLOCK, so a FIFO
** without a writer does not block the open, then fstat()ed: the type is
** checked on what was opened, not on what a path named a moment before.
*/
#include "lf_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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
