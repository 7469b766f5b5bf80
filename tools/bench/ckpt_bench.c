/*
** ckpt_bench.c — how long a weight or state file takes to write at each
** zlib level, and how big it gets: the measurement behind the level
** ppl_train uses (LF_WEIGHT_ZLEVEL in core/lf_train.c). Reads real files
** written by ppl_train (weights and Adam state of a trained model) and
** rewrites them, fsync included, as ppl_train does.
**
**   cc -O2 -std=c11 -D_GNU_SOURCE -Icore -Ikernels tools/bench/ckpt_bench.c
**      core/lf_ckpt.c -lz -o /tmp/ckpt_bench
**   /tmp/ckpt_bench FILE... (e.g. <project>.labflow/<pplid>/*)
*/
#include "lf_ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void){
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec*1e-9;
}

int main(int argc, char **argv){
  static const int levels[] = { 0, 1, 2, 3, 6, 9 };
  char err[512], out[4096];
  int f, l, k;
  for(f=1; f<argc; f++){
    lf_tensor_rec *t;
    int n;
    int64_t raw = 0;
    if( lf_ckpt_read(argv[f], &t, &n, err, sizeof err) ){
      fprintf(stderr, "%s\n", err);
      continue;
    }
    for(k=0; k<n; k++){
      int64_t c = t[k].dtype;
      int d;
      for(d=0; d<t[k].ndim; d++) c *= t[k].dim[d];
      raw += c;
    }
    snprintf(out, sizeof out, "/tmp/ckpt_bench.%d", (int)getpid());
    printf("%s: %d tensors, %.2f MB raw\n", argv[f], n, raw/1e6);
    for(l=0; l<(int)(sizeof levels/sizeof levels[0]); l++){
      double best = 1e9;
      struct stat st;
      int r;
      for(r=0; r<5; r++){
        double t0 = now();
        if( lf_ckpt_write(out, t, n, levels[l], err, sizeof err) ){
          fprintf(stderr, "%s\n", err);
          return 1;
        }
        t0 = now() - t0;
        if( t0<best ) best = t0;
      }
      stat(out, &st);
      printf("  level %d: %7.1f ms  %.2f MB (%.1f%% of raw)\n", levels[l],
             best*1e3, st.st_size/1e6, 100.0*st.st_size/raw);
    }
    unlink(out);
    lf_ckpt_free(t, n);
  }
  return 0;
}
