/*
** lf_ckpt.c — weight/checkpoint files (format in lf_ckpt.h) and the atomic
** file writes every LabFlow output goes through.
**
** Reading treats the file as hostile: every size the header declares is
** checked against the file size and fixed limits before anything is
** allocated, the zlib stream must decode to exactly the declared size, both
** CRCs must match, and every record must lie inside the payload. The deflate
** padding bits (which zlib itself ignores) are checked to be zero too, so
** that no single flipped bit anywhere in a file goes unnoticed.
**
** The header CRC covers the 32 bytes from the magic to the compressed size
** (bytes 0..31); the payload CRC field after them is itself verified
** against the payload.
*/
#include "lf_ckpt.h"
#include "lf_file.h"
#include "lf_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#define CKPT_HEADER_SIZE 40
#define CKPT_HEADER_CRC_SPAN 32
#define CKPT_MAX_TENSORS 1000000
/* Far beyond any model LabFlow trains; stops a forged header early. */
#define CKPT_MAX_PAYLOAD ((uint64_t)1 << 40)
/* Deflate never compresses better than about 1032:1. */
#define CKPT_MAX_RATIO 1040
/* zlib counts in uInt: feed it at most this much at a time. */
#define CKPT_ZCHUNK ((size_t)1 << 30)
/* Smallest record: u16 name length, 1-byte name, dtype, ndim 0, 1 byte. */
#define CKPT_MIN_RECORD 6

static void put_u16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get_u32(const unsigned char *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t get_u64(const unsigned char *p)
{
  return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

/* crc32 over any length (zlib's length argument is a uInt). */
static uLong ckpt_crc(uLong crc, const void *data, size_t len)
{
  const unsigned char *p = data;
  while (len > 0) {
    size_t k = len < CKPT_ZCHUNK ? len : CKPT_ZCHUNK;
    crc = crc32(crc, p, (uInt)k);
    p += k;
    len -= k;
  }
  return crc;
}

static int valid_dtype(int dtype) { return dtype == 1 || dtype == 4 || dtype == 8; }

/* Element count * dtype of a record, or -1 if a dim is negative or the
** product overflows the payload limit. */
static int64_t rec_bytes(int dtype, int ndim, const int64_t *dim)
{
  uint64_t bytes = (uint64_t)dtype;
  for (int i = 0; i < ndim; i++) {
    if (dim[i] < 0) return -1;
    if (dim[i] != 0 && bytes > CKPT_MAX_PAYLOAD / (uint64_t)dim[i]) return -1;
    bytes *= (uint64_t)dim[i];
  }
  if (bytes > CKPT_MAX_PAYLOAD) return -1;
  return (int64_t)bytes;
}

/* ---------------------------------------------------------------- writing */

/* Streams the payload through deflate straight into the file, so writing
** a large model needs no payload-sized buffer. */
typedef struct ckpt_writer {
  int fd;
  z_stream zs;
  uLong crc;
  uint64_t usize, csize;
  unsigned char out[1 << 16];
} ckpt_writer;

/* Feeds len bytes (finish: and ends the stream). Returns 0 or -1. */
static int writer_feed(ckpt_writer *w, const void *data, size_t len, int finish)
{
  const unsigned char *p = data;
  if (len > 0) w->crc = ckpt_crc(w->crc, p, len);
  w->usize += len;
  do {
    size_t k = len < CKPT_ZCHUNK ? len : CKPT_ZCHUNK;
    int flush = (finish && k == len) ? Z_FINISH : Z_NO_FLUSH;
    w->zs.next_in = (Bytef *)p;
    w->zs.avail_in = (uInt)k;
    int rc;
    do {
      w->zs.next_out = w->out;
      w->zs.avail_out = sizeof w->out;
      rc = deflate(&w->zs, flush);
      if (rc == Z_STREAM_ERROR) { errno = 0; return -1; }
      size_t have = sizeof w->out - w->zs.avail_out;
      if (have > 0 && lf_file_write_all(w->fd, w->out, have) != 0) return -1;
      w->csize += have;
    } while (w->zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    if (k > 0) p += k;                /* p may be NULL when finishing */
    len -= k;
  } while (len > 0);
  return 0;
}

typedef struct ckpt_job {
  const lf_tensor_rec *t;
  int n;
  int level;
} ckpt_job;

static int ckpt_body(int fd, void *ctx)
{
  const ckpt_job *job = ctx;
  unsigned char hdr[CKPT_HEADER_SIZE];
  ckpt_writer *w = calloc(1, sizeof *w);
  if (w == NULL) { errno = ENOMEM; return -1; }
  w->fd = fd;
  w->crc = crc32(0L, Z_NULL, 0);
  if (deflateInit(&w->zs, job->level) != Z_OK) { free(w); errno = ENOMEM; return -1; }

  /* Room for the header, filled in once the sizes are known. */
  memset(hdr, 0, sizeof hdr);
  int rc = lf_file_write_all(fd, hdr, sizeof hdr);
  for (int i = 0; rc == 0 && i < job->n; i++) {
    const lf_tensor_rec *r = &job->t[i];
    unsigned char meta[2 + 2 + 8 * 4];
    size_t nlen = strlen(r->name);
    put_u16(meta, (uint16_t)nlen);
    rc = writer_feed(w, meta, 2, 0);
    if (rc == 0) rc = writer_feed(w, r->name, nlen, 0);
    meta[0] = (unsigned char)r->dtype;
    meta[1] = (unsigned char)r->ndim;
    for (int d = 0; d < r->ndim; d++) put_u64(meta + 2 + 8 * d, (uint64_t)r->dim[d]);
    if (rc == 0) rc = writer_feed(w, meta, 2 + 8 * (size_t)r->ndim, 0);
    size_t bytes = (size_t)rec_bytes(r->dtype, r->ndim, r->dim);
    if (rc == 0 && bytes > 0) rc = writer_feed(w, r->data, bytes, 0);
  }
  if (rc == 0) rc = writer_feed(w, NULL, 0, 1);
  if (rc == 0) {
    memcpy(hdr, LF_CKPT_MAGIC, 8);
    put_u32(hdr + 8, LF_CKPT_VERSION);
    put_u32(hdr + 12, (uint32_t)job->n);
    put_u64(hdr + 16, w->usize);
    put_u64(hdr + 24, w->csize);
    put_u32(hdr + 32, (uint32_t)w->crc);
    put_u32(hdr + 36, (uint32_t)crc32(0L, hdr, CKPT_HEADER_CRC_SPAN));
    ssize_t k;
    do k = pwrite(fd, hdr, sizeof hdr, 0); while (k < 0 && errno == EINTR);
    if (k != (ssize_t)sizeof hdr) { if (k >= 0) errno = EIO; rc = -1; }
  }
  int e = errno;
  deflateEnd(&w->zs);
  free(w);
  errno = e;
  return rc;
}

int lf_ckpt_write(const char *path, const lf_tensor_rec *t, int n, int level,
                  char *err, size_t errlen)
{
  if (path == NULL || *path == 0) { lf_errf(err, errlen, "weight file path is empty"); return -1; }
  if (level < 0 || level > 9) {
    lf_errf(err, errlen, "weight file %s: zlib level %d is not in 0..9", path, level);
    return -1;
  }
  if (n < 0 || n > CKPT_MAX_TENSORS || (n > 0 && t == NULL)) {
    lf_errf(err, errlen, "weight file %s: bad tensor count %d", path, n);
    return -1;
  }
  /* Validate every record before touching the file system. */
  uint64_t total = 0;
  for (int i = 0; i < n; i++) {
    const lf_tensor_rec *r = &t[i];
    size_t nlen = r->name ? strlen(r->name) : 0;
    if (nlen == 0 || nlen > 65535) {
      lf_errf(err, errlen, "weight file %s: tensor %d has an empty or too long name", path, i);
      return -1;
    }
    if (!valid_dtype(r->dtype) || r->ndim < 0 || r->ndim > 4) {
      lf_errf(err, errlen, "weight file %s: tensor '%s' has bad dtype %d or ndim %d",
               path, r->name, r->dtype, r->ndim);
      return -1;
    }
    int64_t bytes = rec_bytes(r->dtype, r->ndim, r->dim);
    if (bytes < 0 || (bytes > 0 && r->data == NULL)) {
      lf_errf(err, errlen, "weight file %s: tensor '%s' has bad dimensions or no data", path, r->name);
      return -1;
    }
    total += (uint64_t)bytes + 4 + nlen + 8 * (uint64_t)r->ndim;
    if (total > CKPT_MAX_PAYLOAD) {
      lf_errf(err, errlen, "weight file %s: tensors are too large (over %llu bytes)",
               path, (unsigned long long)CKPT_MAX_PAYLOAD);
      return -1;
    }
  }
  ckpt_job job = { t, n, level };
  return lf_file_write_with(path, "weight file", ckpt_body, &job, 1, err, errlen);
}

/* ---------------------------------------------------------------- reading */

/* Checks the padding bits that zlib skips without looking at them: the
** rest of the byte after the final block, and the bits between a stored
** block's 3-bit header and the next byte boundary. zlib's deflate always
** writes them as zeros. src[0..csize) is the whole stream; pos is how far
** inflate has read; dtype its data_type after stopping at a block edge. */
static int padding_ok(const unsigned char *src, size_t csize, size_t pos, int dtype)
{
  int nb = dtype & 7;                 /* unused bits in src[pos-1] */
  unsigned prev = pos > 0 ? src[pos - 1] : 0;
  if (dtype & 64) return nb == 0 || (prev >> (8 - nb)) == 0;
  /* The next block's header starts in those nb bits. */
  if (nb >= 3) {
    unsigned btype = (prev >> (8 - nb + 1)) & 3;
    return btype != 0 || (prev >> (8 - nb + 3)) == 0;
  }
  if (pos >= csize) return 1;         /* inflate will report the truncation */
  unsigned hdr = ((prev >> (8 - nb)) | ((unsigned)src[pos] << nb)) & 7;
  if (nb == 0) hdr = src[pos] & 7;
  unsigned btype = (hdr >> 1) & 3;
  return btype != 0 || (src[pos] >> (3 - nb)) == 0;
}

/* Inflates exactly csize bytes into exactly usize bytes. */
static int ckpt_inflate(const unsigned char *src, size_t csize, unsigned char *dst,
                        size_t usize, const char *what, char *err, size_t errlen)
{
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (inflateInit(&zs) != Z_OK) { lf_errf(err, errlen, "%s: out of memory", what); return -1; }
  zs.next_in = (Bytef *)src;
  zs.next_out = dst;
  int rc = -1;
  for (;;) {
    size_t in_used = (size_t)(zs.next_in - src), out_used = (size_t)(zs.next_out - dst);
    if (zs.avail_in == 0 && in_used < csize) {
      size_t k = csize - in_used;
      zs.avail_in = (uInt)(k < CKPT_ZCHUNK ? k : CKPT_ZCHUNK);
    }
    if (zs.avail_out == 0 && out_used < usize) {
      size_t k = usize - out_used;
      zs.avail_out = (uInt)(k < CKPT_ZCHUNK ? k : CKPT_ZCHUNK);
    }
    int z = inflate(&zs, Z_BLOCK);
    in_used = (size_t)(zs.next_in - src);
    out_used = (size_t)(zs.next_out - dst);
    if (z == Z_STREAM_END) {
      if (out_used != usize) {
        lf_errf(err, errlen, "%s is corrupt: payload is %zu bytes, header says %zu", what, out_used, usize);
      } else if (in_used != csize) {
        lf_errf(err, errlen, "%s is corrupt: %zu stray bytes after the compressed data", what, csize - in_used);
      } else {
        rc = 0;
      }
      break;
    }
    if (z == Z_MEM_ERROR) { lf_errf(err, errlen, "%s: out of memory", what); break; }
    if (z == Z_NEED_DICT || z == Z_DATA_ERROR || z == Z_STREAM_ERROR) {
      lf_errf(err, errlen, "%s is corrupt: bad compressed data (%s)", what, zs.msg ? zs.msg : "zlib error");
      break;
    }
    if (z == Z_BUF_ERROR) {           /* no progress possible */
      if (out_used == usize)
        lf_errf(err, errlen, "%s is corrupt: payload is larger than the header says", what);
      else
        lf_errf(err, errlen, "%s is corrupt: the compressed data ends early", what);
      break;
    }
    if ((zs.data_type & 128) && !padding_ok(src, csize, in_used, zs.data_type)) {
      lf_errf(err, errlen, "%s is corrupt: nonzero padding bits in the compressed data", what);
      break;
    }
  }
  inflateEnd(&zs);
  return rc;
}

/* Splits the payload into records; every read is bounds-checked. */
static int parse_payload(const unsigned char *p, size_t len, uint32_t count,
                         lf_tensor_rec **out, const char *what, char *err, size_t errlen)
{
  lf_tensor_rec *t = calloc(count ? count : 1, sizeof *t);
  if (t == NULL) { lf_errf(err, errlen, "%s: out of memory", what); return -1; }
  size_t pos = 0;
  uint32_t i;
  for (i = 0; i < count; i++) {
    lf_tensor_rec *r = &t[i];
    if (len - pos < 2) goto short_payload;
    size_t nlen = get_u16(p + pos);
    pos += 2;
    if (nlen == 0) { lf_errf(err, errlen, "%s is corrupt: tensor %u has an empty name", what, i); goto fail; }
    if (len - pos < nlen + 2) goto short_payload;
    if (memchr(p + pos, 0, nlen) != NULL) {
      lf_errf(err, errlen, "%s is corrupt: tensor %u has a NUL in its name", what, i);
      goto fail;
    }
    r->name = malloc(nlen + 1);
    if (r->name == NULL) { lf_errf(err, errlen, "%s: out of memory", what); goto fail; }
    memcpy(r->name, p + pos, nlen);
    r->name[nlen] = 0;
    pos += nlen;
    r->dtype = p[pos];
    r->ndim = p[pos + 1];
    pos += 2;
    if (!valid_dtype(r->dtype) || r->ndim > 4) {
      lf_errf(err, errlen, "%s is corrupt: tensor '%s' has dtype %d, ndim %d", what, r->name, r->dtype, r->ndim);
      goto fail;
    }
    if (len - pos < 8 * (size_t)r->ndim) goto short_payload;
    for (int d = 0; d < r->ndim; d++) {
      uint64_t v = get_u64(p + pos + 8 * (size_t)d);
      if (v > (uint64_t)INT64_MAX) {
        lf_errf(err, errlen, "%s is corrupt: tensor '%s' has an absurd dimension", what, r->name);
        goto fail;
      }
      r->dim[d] = (int64_t)v;
    }
    pos += 8 * (size_t)r->ndim;
    int64_t bytes = rec_bytes(r->dtype, r->ndim, r->dim);
    if (bytes < 0 || (uint64_t)bytes > len - pos) goto short_payload;
    r->data = malloc(bytes ? (size_t)bytes : 1);
    if (r->data == NULL) { lf_errf(err, errlen, "%s: out of memory", what); goto fail; }
    memcpy(r->data, p + pos, (size_t)bytes);
    pos += (size_t)bytes;
  }
  if (pos != len) {
    lf_errf(err, errlen, "%s is corrupt: %zu stray bytes after the last tensor", what, len - pos);
    goto fail;
  }
  *out = t;
  return 0;

short_payload:
  lf_errf(err, errlen, "%s is corrupt: tensor %u runs past the end of the payload", what, i);
fail:
  lf_ckpt_free(t, (int)count);
  return -1;
}

static int ckpt_parse(const unsigned char *buf, size_t len, const char *what,
                      lf_tensor_rec **out, int *n, char *err, size_t errlen)
{
  if (len < CKPT_HEADER_SIZE) {
    lf_errf(err, errlen, "%s is truncated: %zu bytes, the header alone is %d", what, len, CKPT_HEADER_SIZE);
    return -1;
  }
  if (memcmp(buf, LF_CKPT_MAGIC, 8) != 0) {
    lf_errf(err, errlen, "%s is not a LabFlow weight file (bad magic)", what);
    return -1;
  }
  uint32_t version = get_u32(buf + 8);
  int header_ok = get_u32(buf + 36) == (uint32_t)crc32(0L, buf, CKPT_HEADER_CRC_SPAN);
  if (version != LF_CKPT_VERSION) {
    /* A newer LabFlow may lay the header out differently: say what we know. */
    if (header_ok)
      lf_errf(err, errlen, "%s: unsupported format version %u (this LabFlow reads %d)", what, version, LF_CKPT_VERSION);
    else
      lf_errf(err, errlen, "%s is corrupt (header checksum mismatch) or has unsupported format version %u (this LabFlow reads %d)",
               what, version, LF_CKPT_VERSION);
    return -1;
  }
  if (!header_ok) { lf_errf(err, errlen, "%s is corrupt: header checksum mismatch", what); return -1; }
  uint32_t count = get_u32(buf + 12);
  uint64_t usize = get_u64(buf + 16), csize = get_u64(buf + 24);
  uint32_t pcrc = get_u32(buf + 32);
  size_t have = len - CKPT_HEADER_SIZE;
  if (csize > have) {
    lf_errf(err, errlen, "%s is truncated: header says %llu compressed bytes, only %zu present",
             what, (unsigned long long)csize, have);
    return -1;
  }
  if (csize < have) {
    lf_errf(err, errlen, "%s is corrupt: %zu stray bytes after the compressed data", what, have - (size_t)csize);
    return -1;
  }
  if (count > CKPT_MAX_TENSORS || usize > CKPT_MAX_PAYLOAD || usize > SIZE_MAX / 2
      || usize > csize * CKPT_MAX_RATIO + 64 || (uint64_t)count * CKPT_MIN_RECORD > usize) {
    lf_errf(err, errlen, "%s is corrupt: implausible sizes in header (%u tensors, %llu bytes)",
             what, count, (unsigned long long)usize);
    return -1;
  }
  unsigned char *payload = malloc(usize ? (size_t)usize : 1);
  if (payload == NULL) {
    lf_errf(err, errlen, "%s: out of memory for %llu bytes", what, (unsigned long long)usize);
    return -1;
  }
  int rc = ckpt_inflate(buf + CKPT_HEADER_SIZE, (size_t)csize, payload, (size_t)usize, what, err, errlen);
  if (rc == 0 && (uint32_t)ckpt_crc(crc32(0L, Z_NULL, 0), payload, (size_t)usize) != pcrc) {
    lf_errf(err, errlen, "%s is corrupt: checksum mismatch", what);
    rc = -1;
  }
  if (rc == 0) rc = parse_payload(payload, (size_t)usize, count, out, what, err, errlen);
  free(payload);
  if (rc == 0) *n = (int)count;
  return rc;
}

int lf_ckpt_read_mem(const void *buf, size_t len, lf_tensor_rec **out, int *n,
                     char *err, size_t errlen)
{
  *out = NULL;
  *n = 0;
  if (buf == NULL) len = 0;
  return ckpt_parse(buf, len, "weight blob", out, n, err, errlen);
}

int lf_ckpt_read(const char *path, lf_tensor_rec **out, int *n,
                 char *err, size_t errlen)
{
  *out = NULL;
  *n = 0;
  if (path == NULL) { lf_errf(err, errlen, "weight file path is empty"); return -1; }
  size_t wlen = strlen(path) + 16;
  char *what = malloc(wlen);
  if (what == NULL) { lf_errf(err, errlen, "out of memory reading %s", path); return -1; }
  snprintf(what, wlen, "weight file %s", path);

  int rc = -1;
  unsigned char *buf = NULL;
  int fd = lf_open_regular(path, "weight file", err, errlen);
  struct stat st;
  if (fd < 0) goto done;
  if (fstat(fd, &st) != 0) {
    lf_errf(err, errlen, "cannot read %s: %s", what, strerror(errno));
    goto done;
  }
  if ((uint64_t)st.st_size > CKPT_MAX_PAYLOAD || (uint64_t)st.st_size > SIZE_MAX / 2) {
    lf_errf(err, errlen, "%s is too large (%lld bytes)", what, (long long)st.st_size);
    goto done;
  }
  size_t len = (size_t)st.st_size, got = 0;
  buf = malloc(len ? len : 1);
  if (buf == NULL) { lf_errf(err, errlen, "%s: out of memory for %zu bytes", what, len); goto done; }
  while (got < len) {
    ssize_t k = read(fd, buf + got, len - got < CKPT_ZCHUNK ? len - got : CKPT_ZCHUNK);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) { lf_errf(err, errlen, "cannot read %s: %s", what, strerror(errno)); goto done; }
    if (k == 0) break;                /* shrank under us: parse what is there */
    got += (size_t)k;
  }
  rc = ckpt_parse(buf, got, what, out, n, err, errlen);
done:
  if (fd >= 0) close(fd);
  free(buf);
  free(what);
  return rc;
}

void lf_ckpt_free(lf_tensor_rec *t, int n)
{
  if (t == NULL) return;
  for (int i = 0; i < n; i++) {
    free(t[i].name);
    free(t[i].data);
  }
  free(t);
}

const lf_tensor_rec *lf_ckpt_find(const lf_tensor_rec *t, int n, const char *name)
{
  if (t == NULL || name == NULL) return NULL;
  for (int i = 0; i < n; i++)
    if (t[i].name && strcmp(t[i].name, name) == 0) return &t[i];
  return NULL;
}
