/*
** lf_ckpt.h — weight/checkpoint files.
**
** Layout (all integers little-endian):
**   magic "LFWEIGHT" (8 bytes) | u32 format version (1) | u32 tensor count
**   | u64 uncompressed payload size | u64 compressed size | u32 crc32 of the
**   uncompressed payload | u32 crc32 of the 32 header bytes before it
**   | zlib stream of the payload.
** Payload: for each tensor: u16 name length, name bytes, u8 dtype (1 = u8,
**   4 = f32, 8 = i64), u8 ndim, ndim * u64 dims, raw data.
** Files are written to "<path>.tmp-<pid>", fsynced, renamed over <path>, and
** the directory fsynced, so a reader sees the old file or the new one whole.
*/
#ifndef LF_CKPT_H
#define LF_CKPT_H

#include <stddef.h>
#include <stdint.h>
#include "lf_file.h"

#define LF_CKPT_MAGIC "LFWEIGHT"
#define LF_CKPT_VERSION 1

typedef struct lf_tensor_rec {
  char *name;              /* owned by the record when read from a file */
  int dtype;               /* 1 = uint8, 4 = float32, 8 = int64 */
  int ndim;
  int64_t dim[4];
  void *data;              /* count * dtype bytes */
} lf_tensor_rec;

/* Writes tensors atomically to path with the given zlib level (0..9).
** Returns 0, or -1 with err set (ENOSPC etc. named); on failure the previous
** file at path is untouched and no temp file is left. */
int lf_ckpt_write(const char *path, const lf_tensor_rec *t, int n, int level,
                  char *err, size_t errlen);

/* Reads and validates a file (magic, version, sizes, both checksums, every
** record within bounds). On success *out is a malloc'ed array of *n records
** whose names and data are owned by it; free with lf_ckpt_free. */
int lf_ckpt_read(const char *path, lf_tensor_rec **out, int *n,
                 char *err, size_t errlen);
/* The same from memory (bundles keep weight files as BLOBs). */
int lf_ckpt_read_mem(const void *buf, size_t len, lf_tensor_rec **out, int *n,
                     char *err, size_t errlen);
void lf_ckpt_free(lf_tensor_rec *t, int n);

/* Finds a record by name; NULL if absent. */
const lf_tensor_rec *lf_ckpt_find(const lf_tensor_rec *t, int n,
                                  const char *name);

#endif
