/*
** lf_file.h — opening a file for reading when the path may hold anything a
** database, a config or a bundle put there: only regular files are read,
** and opening never blocks (a FIFO in place of a weight file would hang
** the caller forever; /dev/zero would be read forever).
*/
#ifndef LF_FILE_H
#define LF_FILE_H

#include <stddef.h>

/* A read-only descriptor of path if it is a regular file (symbolic links
** followed), else -1 with err set: "<what> <path> is not a regular file
** (a FIFO)" or "cannot open <what> <path>: <reason>". what may be "". */
int lf_open_regular(const char *path, const char *what, char *err, size_t n);

/* The kind of a stat mode, for messages: "a FIFO", "a directory", ... */
const char *lf_file_kind(unsigned int mode);

#endif
