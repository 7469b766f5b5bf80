/*
** lf_tensor.c — shapes, the xoshiro256** random generator and the thread
** count shared by every kernel.
**
** The generator is fully described by its 32-byte state (lf_rng.s): no
** hidden caches, so copying an lf_rng (or restoring it from a checkpoint)
** resumes exactly the same sequence of numbers.
*/
#include "lf_tensor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <omp.h>

/* Element count of a per-sample or full shape. A shape with no dimensions
** is a scalar (1 element). Returns -1 for a NULL or malformed shape
** (ndim out of range, negative dimension, or a product that overflows)
** so callers can refuse it instead of allocating garbage. */
int64_t lf_shape_count(const lf_shape *s){
  int64_t n = 1;
  int i;
  if( s==0 || s->ndim<0 || s->ndim>LF_MAX_DIMS ) return -1;
  for(i=0; i<s->ndim; i++){
    int64_t d = s->dim[i];
    if( d<0 ) return -1;
    if( d>0 && n>INT64_MAX/d ) return -1;
    n *= d;
  }
  return n;
}

/* "[1,28,28]". Always NUL-terminates when n>0; output is truncated (never
** overflowed) if buf is too small. */
char *lf_shape_str(const lf_shape *s, char *buf, size_t n){
  size_t used = 0;
  int i;
  if( buf==0 || n==0 ) return buf;
  buf[0] = 0;
  if( s==0 || s->ndim<0 || s->ndim>LF_MAX_DIMS ){
    snprintf(buf, n, "[?]");
    return buf;
  }
  for(i=0; i<=s->ndim; i++){
    int k;
    if( i==s->ndim ){
      k = snprintf(buf+used, n-used, "%s]", i==0 ? "[" : "");
    }else{
      k = snprintf(buf+used, n-used, "%s%lld", i==0 ? "[" : ",",
                   (long long)s->dim[i]);
    }
    if( k<0 || (size_t)k>=n-used ) break;   /* truncated: stop here */
    used += (size_t)k;
  }
  return buf;
}

/* ---- xoshiro256** (Blackman & Vigna), seeded through splitmix64 ---- */

static uint64_t lf_splitmix64(uint64_t *x){
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t lf_rotl(uint64_t x, int k){
  return (x << k) | (x >> (64 - k));
}

/* splitmix64 spreads any seed (even 0) into a well-mixed state; it cannot
** yield four zero words, the one state xoshiro must never be in. */
void lf_rng_seed(lf_rng *r, uint64_t seed){
  uint64_t x = seed;
  int i;
  if( r==0 ) return;
  for(i=0; i<4; i++) r->s[i] = lf_splitmix64(&x);
}

/* One xoshiro256** step on a state s[4]: the next raw number. Shared by
** lf_rng_next and lf_rng_keep_mask (which runs it on a local copy). */
static inline uint64_t lf_xoshiro_step(uint64_t *s){
  uint64_t result = lf_rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = lf_rotl(s[3], 45);
  return result;
}

uint64_t lf_rng_next(lf_rng *r){
  return lf_xoshiro_step(r->s);
}

/* The top 24 bits fill a float mantissa exactly, so every value is
** representable and the result is strictly below 1. */
float lf_rng_uniform(lf_rng *r){
  return (float)(lf_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

/* lf_rng_uniform(r) >= p is (u >> 40) * 2^-24 >= p with u the next raw
** number: both sides are exact (24-bit integer, power-of-two scale, p a
** double, so a float p too), so it is the integer test
** u >> 40 >= ceil(p * 2^24). The state
** lives in locals for the loop and is stored back once. */
void lf_rng_keep_mask(lf_rng *r, float *mask, int64_t n, double p, float keep){
  uint64_t st[4] = {r->s[0], r->s[1], r->s[2], r->s[3]};
  uint64_t thr = (uint64_t)ceil(p * 16777216.0);
  for(int64_t i=0; i<n; i++) mask[i] = (lf_xoshiro_step(st) >> 40) >= thr ? keep : 0.0f;
  memcpy(r->s, st, sizeof st);
}

/* Box-Muller from two uniforms; the second normal is discarded so the
** generator state stays the only state (exact resume). u1 is taken in
** (0,1] so log() is finite. */
float lf_rng_normal(lf_rng *r){
  double u1 = 1.0 - (double)(lf_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
  double u2 = (double)(lf_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
  return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

/* Uniform integer in [0,bound) without modulo bias (rejection of the few
** values below 2^64 mod bound). */
static uint64_t lf_rng_below(lf_rng *r, uint64_t bound){
  uint64_t threshold = (0 - bound) % bound;
  for(;;){
    uint64_t x = lf_rng_next(r);
    if( x>=threshold ) return x % bound;
  }
}

/* Fisher-Yates: every permutation of idx[0..n) equally likely. */
void lf_rng_shuffle(lf_rng *r, int64_t *idx, int64_t n){
  int64_t i;
  if( r==0 || idx==0 ) return;
  for(i=n-1; i>0; i--){
    int64_t j = (int64_t)lf_rng_below(r, (uint64_t)i + 1);
    int64_t t = idx[i]; idx[i] = idx[j]; idx[j] = t;
  }
}

/* oneDNN is the OpenMP build, so the OpenMP thread count (of the calling
** thread: an ICV of its own) is its thread count. */
int lf_threads_apply(int want){
  int caller = omp_get_max_threads();
  if( want > 0 && want != caller ) omp_set_num_threads(want);
  return caller;
}

void lf_threads_restore(int caller){
  if( caller > 0 && omp_get_max_threads() != caller ) omp_set_num_threads(caller);
}

int lf_get_threads(void){
  return omp_get_max_threads();
}

/* Batches are converted on every training step in bf16: the loop is
** compiled for AVX-512 and for the baseline and picked at run time (at -O2
** without -march GCC would use 128-bit vectors). Same integer operations,
** so the same bits either way. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((noinline, optimize("vect-cost-model=dynamic"),
               target("avx512f,avx512bw,avx512vl,prefer-vector-width=512")))
static void lf_bf16_n_avx512(uint16_t *restrict dst, const float *restrict src,
                             int64_t n){
  int64_t i;
  for(i=0; i<n; i++) dst[i] = lf_bf16_from_f32(src[i]);
}
# define LF_HAVE_BF16_AVX512 1
#endif

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noinline, optimize("vect-cost-model=dynamic")))
#endif
static void lf_bf16_n_base(uint16_t *restrict dst, const float *restrict src,
                           int64_t n){
  int64_t i;
  for(i=0; i<n; i++) dst[i] = lf_bf16_from_f32(src[i]);
}

void lf_bf16_from_f32_n(uint16_t *restrict dst, const float *restrict src,
                        int64_t n){
#ifdef LF_HAVE_BF16_AVX512
  static int avx512 = -1;   /* racy first use writes the same value */
  if( avx512<0 ){
    __builtin_cpu_init();
    avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
          && __builtin_cpu_supports("avx512vl");
  }
  if( avx512 ){ lf_bf16_n_avx512(dst, src, n); return; }
#endif
  lf_bf16_n_base(dst, src, n);
}
