/*
** lf_data_idx.c — idx image datasets (MNIST style, plain or gzip): load
** and probe.
*/
#include "lf_data_source.h"
#include "lf_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DS_MAX_IMAGE_SIDE 65536
#define DS_MAX_IMAGE_PIXELS ((int64_t)1 << 26)   /* per idx image */

static uint32_t be32(const unsigned char *p){
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Opens "<prefix>-<suffix>", else the same with ".gz". gzopen reads plain
** files as they are. *name (malloc'ed) is the file actually opened. */
static gzFile idx_open(const char *prefix, const char *suffix, char **name, char *err, size_t errlen){
  size_t len = strlen(prefix) + strlen(suffix) + 8;
  char *p = malloc(len);
  struct stat st;
  *name = NULL;
  if( p == NULL ){ lf_data_err(err, errlen, "out of memory"); return NULL; }
  snprintf(p, len, "%s-%s", prefix, suffix);
  if( stat(p, &st) != 0 ){
    int e = errno;
    snprintf(p, len, "%s-%s.gz", prefix, suffix);
    if( stat(p, &st) != 0 ){
      lf_data_err(err, errlen, "cannot open %s-%s (or .gz): %s", prefix, suffix, strerror(e));
      free(p);
      return NULL;
    }
  }
  int fd = lf_open_regular(p, "", err, errlen);
  if( fd < 0 ){
    free(p);
    return NULL;
  }
  gzFile g = gzdopen(fd, "rb");
  if( g == NULL ){
    close(fd);
    lf_data_err(err, errlen, "cannot open %s: %s", p, errno ? strerror(errno) : "out of memory");
    free(p);
    return NULL;
  }
  gzbuffer(g, 1 << 17);
  *name = p;
  return g;
}

/* Reads up to len bytes; returns the count (short only at end of file) or
** -1 with err set. A gzip stream cut short counts as the end of file. */
static int64_t idx_read(gzFile g, void *buf, size_t len, const char *name, char *err, size_t errlen){
  size_t got = 0;
  while( got < len ){
    size_t want = len - got;
    if( want > (1u << 30) ) want = 1u << 30;
    int k = gzread(g, (char *)buf + got, (unsigned)want);
    if( k < 0 ){
      int zerr;
      const char *msg = gzerror(g, &zerr);
      if( zerr == Z_BUF_ERROR ) break;   /* "unexpected end of file" */
      lf_data_err(err, errlen, "cannot read %s: %s", name, zerr == Z_ERRNO ? strerror(errno) : msg);
      return -1;
    }
    if( k == 0 ) break;
    got += (size_t)k;
  }
  return (int64_t)got;
}

/* An idx prefix's two files, open, with their headers read and checked. */
typedef struct idx_files {
  gzFile gi, gl;           /* images, labels */
  char *iname, *lname;     /* the files actually opened */
  int64_t n, rows, cols;   /* images and their size, as declared */
  int64_t nlabels;         /* labels, as declared */
} idx_files;

static void idx_close(idx_files *f){
  if( f->gi ) gzclose(f->gi);
  if( f->gl ) gzclose(f->gl);
  free(f->iname);
  free(f->lname);
  memset(f, 0, sizeof *f);
}

/* Opens both files and reads their headers: whole, with the right magic
** numbers, and at least one image. 0, or -1 with err set (f closed). */
static int idx_open_both(const char *prefix, idx_files *f, char *err, size_t errlen){
  unsigned char hi[16], hl[8];
  int64_t got;
  memset(f, 0, sizeof *f);
  f->gi = idx_open(prefix, "images-idx3-ubyte", &f->iname, err, errlen);
  if( f->gi == NULL ) goto fail;
  f->gl = idx_open(prefix, "labels-idx1-ubyte", &f->lname, err, errlen);
  if( f->gl == NULL ) goto fail;
  if( (got = idx_read(f->gi, hi, 16, f->iname, err, errlen)) < 0 ) goto fail;
  if( got < 16 ){
    lf_data_err(err, errlen, "%s is truncated: expected a 16-byte idx3 header, found %lld bytes", f->iname,
                (long long)got);
    goto fail;
  }
  if( (got = idx_read(f->gl, hl, 8, f->lname, err, errlen)) < 0 ) goto fail;
  if( got < 8 ){
    lf_data_err(err, errlen, "%s is truncated: expected an 8-byte idx1 header, found %lld bytes", f->lname,
                (long long)got);
    goto fail;
  }
  if( be32(hi) != 0x00000803 ){
    lf_data_err(err, errlen, "%s is not an idx3 image file: magic 0x%08x, expected 0x00000803", f->iname, be32(hi));
    goto fail;
  }
  if( be32(hl) != 0x00000801 ){
    lf_data_err(err, errlen, "%s is not an idx1 label file: magic 0x%08x, expected 0x00000801", f->lname, be32(hl));
    goto fail;
  }
  f->n = be32(hi + 4);
  f->rows = be32(hi + 8);
  f->cols = be32(hi + 12);
  f->nlabels = be32(hl + 4);
  if( f->n == 0 ){ lf_data_err(err, errlen, "%s holds no images (the dataset is empty)", f->iname); goto fail; }
  return 0;
fail:
  idx_close(f);
  return -1;
}

int lf_data_idx_load(const lf_dataset_spec *spec, const char *prefix, lf_dataset *out,
                     char *err, size_t errlen){
  idx_files f;
  unsigned char *chunk = NULL, *labels = NULL;
  float *x = NULL, *y = NULL;
  int rc = -1;
  int64_t got;

  if( idx_open_both(prefix, &f, err, errlen) != 0 ) return -1;
  const char *iname = f.iname, *lname = f.lname;
  int64_t n = f.n, rows = f.rows, cols = f.cols, nl = f.nlabels;
  if( rows == 0 || cols == 0 || rows > DS_MAX_IMAGE_SIDE || cols > DS_MAX_IMAGE_SIDE ){
    lf_data_err(err, errlen, "%s: bad image size %lldx%lld", iname, (long long)rows, (long long)cols);
    goto done;
  }
  int64_t img = rows * cols;
  if( img > DS_MAX_IMAGE_PIXELS ){
    lf_data_err(err, errlen, "%s: images of %lldx%lld are too large", iname, (long long)rows, (long long)cols);
    goto done;
  }
  if( n > DS_MAX_VALUES / img ){
    lf_data_err(err, errlen, "%s: %lld images of %lldx%lld is too large", iname, (long long)n, (long long)rows, (long long)cols);
    goto done;
  }
  if( nl != n ){
    lf_data_err(err, errlen, "%s has %lld labels but %s has %lld images", lname, (long long)nl, iname, (long long)n);
    goto done;
  }

  float lut[256];
  for(int v = 0; v < 256; v++) lut[v] = spec->scale != 0 ? (float)(v / spec->scale) : (float)v;

  /* Read in chunks, growing x as data actually arrives: a forged count
  ** fails on the short read, not on a giant allocation. */
  int64_t per_chunk = (1 << 20) / img + 1, cap = 0, have = 0;
  chunk = malloc((size_t)(per_chunk * img));
  if( chunk == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
  while( have < n ){
    int64_t k = n - have < per_chunk ? n - have : per_chunk;
    if( have + k > cap ){
      int64_t c = cap ? cap * 2 : per_chunk;
      if( c > n ) c = n;
      if( c < have + k ) c = have + k;
      float *nx = realloc(x, (size_t)(c * img) * sizeof *nx);
      if( nx == NULL ){ lf_data_err(err, errlen, "out of memory for %lld images", (long long)c); goto done; }
      x = nx;
      cap = c;
    }
    got = idx_read(f.gi, chunk, (size_t)(k * img), iname, err, errlen);
    if( got < 0 ) goto done;
    if( got < k * img ){
      lf_data_err(err, errlen, "%s is truncated: header declares %lld images of %lldx%lld (%lld bytes of pixels), "
             "found only %lld", iname, (long long)n, (long long)rows, (long long)cols,
                  (long long)(n * img), (long long)(have * img + got));
      goto done;
    }
    float *dst = x + have * img;
    for(int64_t j = 0; j < k * img; j++) dst[j] = lut[chunk[j]];
    have += k;
  }

  labels = malloc((size_t)n);
  y = malloc((size_t)n * sizeof *y);
  if( labels == NULL || y == NULL ){ lf_data_err(err, errlen, "out of memory"); goto done; }
  got = idx_read(f.gl, labels, (size_t)n, lname, err, errlen);
  if( got < 0 ) goto done;
  if( got < n ){
    lf_data_err(err, errlen, "%s is truncated: header declares %lld labels, found only %lld",
                lname, (long long)n, (long long)got);
    goto done;
  }
  int maxl = 0;
  for(int64_t i = 0; i < n; i++){
    y[i] = labels[i];
    if( labels[i] > maxl ) maxl = labels[i];
  }
  out->n = n;
  out->shape.ndim = 3;
  out->shape.dim[0] = 1;
  out->shape.dim[1] = rows;
  out->shape.dim[2] = cols;
  out->x = x;
  out->y = y;
  out->nclasses = spec->regression ? 0 : maxl + 1;
  x = NULL;
  y = NULL;
  rc = 0;

done:
  idx_close(&f);
  free(chunk);
  free(labels);
  free(x);
  free(y);
  return rc;
}

int lf_data_idx_probe(const char *prefix, lf_shape *shape, char *err, size_t errlen){
  idx_files f;
  int rc = -1;
  if( idx_open_both(prefix, &f, err, errlen) != 0 ) return -1;
  if( f.rows == 0 || f.cols == 0 || f.rows > DS_MAX_IMAGE_SIDE || f.cols > DS_MAX_IMAGE_SIDE
      || f.rows * f.cols > DS_MAX_IMAGE_PIXELS ){
    lf_data_err(err, errlen, "%s: bad image size %lldx%lld", f.iname, (long long)f.rows, (long long)f.cols);
    goto done;
  }
  if( f.nlabels != f.n ){
    lf_data_err(err, errlen, "%s has %lld labels but %s has %lld images", f.lname, (long long)f.nlabels, f.iname,
                (long long)f.n);
    goto done;
  }
  shape->ndim = 3;
  shape->dim[0] = 1;
  shape->dim[1] = f.rows;
  shape->dim[2] = f.cols;
  rc = 0;
done:
  idx_close(&f);
  return rc;
}
