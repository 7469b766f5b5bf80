/*
** fuzz_dataset.c — libFuzzer harness for the IDX and CSV readers: the
** input is written to temp files and loaded with lf_dataset_load (and
** probed with lf_dataset_probe), as ppl_new/ppl_train do.
**
** Byte 0 picks the reader and options: bit 0 idx/csv, bit 1 regression,
** bit 2 standardize (csv), bit 3 gzip the idx files, bit 4 a features
** list (csv). For idx, bytes 1-2 (little-endian) are the length of the
** image file; the rest is the label file.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "lf_dataset.h"

static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n, int gz){
  char path[128];
  snprintf(path, sizeof path, "%s/%s%s", dir, name, gz ? ".gz" : "");
  char other[128];
  snprintf(other, sizeof other, "%s/%s%s", dir, name, gz ? "" : ".gz");
  unlink(other);
  if( gz ){
    gzFile g = gzopen(path, "wb1");
    if( g ){ if( n ) gzwrite(g, p, (unsigned)n); gzclose(g); }
  }else{
    FILE *f = fopen(path, "wb");
    if( f ){ if( n ) fwrite(p, 1, n, f); fclose(f); }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  if( !dir[0] ){
    snprintf(dir, sizeof dir, "/tmp/lf-fuzz-ds-%ld", (long)getpid());
    mkdir(dir, 0700);   /* may exist: fine */
  }
  if( size < 1 ) return 0;
  uint8_t flags = data[0];
  data++; size--;
  lf_dataset_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.regression = (flags & 2) != 0;
  char path[128];
  char *feats[2] = {"a", "b"};
  if( (flags & 1) == 0 ){
    if( size < 2 ) return 0;
    size_t ni = (size_t)data[0] | ((size_t)data[1] << 8);
    data += 2; size -= 2;
    if( ni > size ) ni = size;
    spec.kind = LF_DS_IDX;
    spec.scale = 255;
    put("f-images-idx3-ubyte", data, ni, flags & 8);
    put("f-labels-idx1-ubyte", data + ni, size - ni, flags & 8);
    snprintf(path, sizeof path, "%s/f", dir);
  }else{
    spec.kind = LF_DS_CSV;
    spec.label = "label";
    spec.standardize = (flags & 4) != 0;
    if( flags & 16 ){ spec.features = feats; spec.nfeatures = 2; }
    put("f.csv", data, size, 0);
    snprintf(path, sizeof path, "%s/f.csv", dir);
  }
  char err[1024];
  lf_shape shape;
  lf_dataset_probe(&spec, path, NULL, &shape, err, sizeof err);
  lf_dataset d;
  if( lf_dataset_load(&spec, path, NULL, NULL, 0, &d, err, sizeof err) == 0 ){
    if( d.n <= 0 || !d.x || !d.y ) abort();
    int64_t cnt = lf_shape_count(&d.shape);
    volatile float sink = 0;
    for(int64_t i=0; i<d.n*cnt; i++) sink += d.x[i];          /* every value readable */
    for(int64_t i=0; i<d.n; i++) if( !spec.regression && (d.y[i] < 0 || d.y[i] >= d.nclasses) ) abort();
    if( spec.standardize ){
      float *mean, *std;
      lf_dataset_stats(&d, &mean, &std);
      if( mean && std ) lf_dataset_standardize(&d, mean, std);
      free(mean); free(std);
    }
    lf_dataset_free(&d);
  }
  return 0;
}
