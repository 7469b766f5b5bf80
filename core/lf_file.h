/*
** lf_file.h — LabFlow's filesystem helpers: opening a file for reading
** when the path may hold anything a database, a config or a bundle put
** there (only regular files are read, and opening never blocks: a FIFO in
** place of a weight file would hang the caller forever; /dev/zero would be
** read forever); atomic writes (temp file, fsync, rename, fsync the
** folder); mkdir -p; removing trees; refusing symbolic links below the
** artifacts folder. (Undoable file moves: lf_journal.h.)
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

/* ---- writing: temp file, fsync, rename, fsync the folder ---------------- */

/* write(2) all of data, retrying short writes and EINTR; 0 or -1 (errno). */
int lf_file_write_all(int fd, const void *data, size_t len);
/* The body of an atomic write: fills fd, returns 0 or -1 with errno set
** (errno 0: a compression failure). */
typedef int (*lf_file_body_fn)(int fd, void *ctx);
/* Writes "<path>.tmp-<pid>" with body, fsyncs it, renames it over path and
** fsyncs the directory. On failure the temp file is removed and path keeps
** whatever it held before. what names the file kind in messages. With
** replace 0 the temp file is linked to path instead, which fails when path
** exists (EEXIST), so nothing there is ever replaced, even in a race. */
int lf_file_write_with(const char *path, const char *what, lf_file_body_fn body,
                       void *ctx, int replace, char *err, size_t errlen);
/* Atomic small-file write (configs, CSV, SVG): temp, fsync, rename, fsync dir. */
int lf_write_file_atomic(const char *path, const void *data, size_t len,
                         char *err, size_t errlen);
/* The same, but path must not exist: the finished temp file is linked to
** path (EEXIST: "<what> <path> already exists"), never renamed over it. */
int lf_write_file_new(const char *path, const char *what, const void *data, size_t len,
                      char *err, size_t errlen);
/* mkdir -p; returns 0 or -1 with err set. */
int lf_mkdirs(const char *path, char *err, size_t errlen);

/* ---- existence, links, removal ------------------------------------------ */

/* 1 if path exists (without following a final symlink). */
int lf_path_exists(const char *path);

/* 0 if no folder between art and path (and, with include_last, not path
** itself) is a symbolic link; else -1 with err naming it. Paths outside
** art are not judged here. */
int lf_no_links_below(const char *art, const char *path, int include_last, char *err, size_t n);

/* Removes a file or a folder tree; 0, or -1 with err set. */
int lf_rm_tree(const char *path, char *err, size_t n);
/* Removes dir and then its parents up to (not including) stop while they
** are empty. */
void lf_rmdir_empty(const char *dir, const char *stop);

#endif
