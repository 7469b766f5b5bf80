/*
** sgemm_peak.c — what oneDNN's f32 GEMM reaches on this machine for one
** shape: the ceiling for a step made of such products (the LSTM's are
** M=128 N=512 K=128). Prints GFLOP/s, best of 5 rounds of R calls.
**
**   cc -O2 tools/bench/sgemm_peak.c -ldnnl -o /tmp/sgemm_peak
**   OMP_NUM_THREADS=1 /tmp/sgemm_peak 128 512 128 200
*/
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void){
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec*1e-9;
}

int main(int argc, char **argv){
  if( argc<5 ){ fprintf(stderr, "usage: sgemm_peak M N K R\n"); return 2; }
  int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), R = atoi(argv[4]);
  float *a = calloc((size_t)M*K, sizeof *a), *b = calloc((size_t)K*N, sizeof *b);
  float *c = calloc((size_t)M*N, sizeof *c);
  if( !a || !b || !c ){ fprintf(stderr, "out of memory\n"); return 1; }
  for(long i=0; i<(long)M*K; i++) a[i] = (float)(i%7) * 0.1f;
  for(long i=0; i<(long)K*N; i++) b[i] = (float)(i%5) * 0.1f;
  dnnl_sgemm('N', 'N', M, N, K, 1.f, a, K, b, N, 0.f, c, N);   /* warm-up */
  double best = 1e9;
  for(int r=0; r<5; r++){
    double t = now();
    for(int i=0; i<R; i++) dnnl_sgemm('N', 'N', M, N, K, 1.f, a, K, b, N, 1.f, c, N);
    t = now() - t;
    if( t<best ) best = t;
  }
  printf("M%d N%d K%d: %.1f GFLOP/s\n", M, N, K, 2.0*M*N*K*R/best/1e9);
  free(a); free(b); free(c);
  return 0;
}
