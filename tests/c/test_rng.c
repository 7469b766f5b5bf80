/*
** test_rng.c — the random generator, shapes, thread count and bfloat16
** conversion of kernels/lf_tensor.c.
*/
#include "lf_test.h"
#include "lf_tensor.h"

#include <math.h>
#include <stdlib.h>
#include <omp.h>
#include <string.h>

static void test_known_values(void){
  lf_rng r;
  uint64_t x1, x2, x3;
  /* Reference: a direct Python transcription of splitmix64 (seeding) and
  ** xoshiro256** (Vigna's xoshiro256starstar.c), seed 42 / seed 0. */
  lf_rng_seed(&r, 0);
  CHECK(r.s[0]==0xe220a8397b1dcdafULL, "splitmix64(0) first word");
  lf_rng_seed(&r, 42);
  /* CHECK evaluates its condition twice: draw outside it. */
  x1 = lf_rng_next(&r); x2 = lf_rng_next(&r); x3 = lf_rng_next(&r);
  CHECK(x1==0x15780b2e0c2ec716ULL, "xoshiro256** seed 42 #1");
  CHECK(x2==0x6104d9866d113a7eULL, "xoshiro256** seed 42 #2");
  CHECK(x3==0xae17533239e499a1ULL, "xoshiro256** seed 42 #3");
}

static void test_determinism(void){
  lf_rng a, b, c;
  int i, same = 1, differ = 0;
  lf_rng_seed(&a, 1234);
  lf_rng_seed(&b, 1234);
  lf_rng_seed(&c, 1235);
  for(i=0; i<1000; i++){
    uint64_t x = lf_rng_next(&a), y = lf_rng_next(&b), z = lf_rng_next(&c);
    if( x!=y ) same = 0;
    if( x!=z ) differ++;
  }
  CHECK(same, "same seed gives the same sequence");
  CHECK(differ>990, "a different seed gives a different sequence (%d/1000)", differ);
}

/* A checkpoint stores the 32-byte state: a copy must continue exactly. */
static void test_state_copy(void){
  lf_rng a, saved;
  float ua[100], ub[100], na[100], nb[100];
  int64_t ia[50], ib[50];
  int i, same = 1;
  lf_rng_seed(&a, 7);
  for(i=0; i<37; i++) (void)lf_rng_normal(&a);
  saved = a;
  for(i=0; i<100; i++){ ua[i] = lf_rng_uniform(&a); na[i] = lf_rng_normal(&a); }
  for(i=0; i<50; i++) ia[i] = i;
  lf_rng_shuffle(&a, ia, 50);
  a = saved;
  for(i=0; i<100; i++){ ub[i] = lf_rng_uniform(&a); nb[i] = lf_rng_normal(&a); }
  for(i=0; i<50; i++) ib[i] = i;
  lf_rng_shuffle(&a, ib, 50);
  for(i=0; i<100; i++) if( ua[i]!=ub[i] || na[i]!=nb[i] ) same = 0;
  for(i=0; i<50; i++) if( ia[i]!=ib[i] ) same = 0;
  CHECK(same, "a copied state resumes the same uniforms, normals and shuffles");
}

/* The dropout mask generator draws the numbers lf_rng_uniform would, and
** decides each element as `lf_rng_uniform(r) >= p` does, for probabilities
** on and between the 2^-24 grid; the state after is the same too. */
static void test_keep_mask(void){
  static const float ps[] = { 0.0f, 0.1f, 0.5f, 1.0f/3.0f, 0.25f + 1.0f/16777216.0f,
                              0.25f - 0.5f/16777216.0f, 0.999f };
  enum { N = 100003 };
  float *m = malloc(sizeof(float)*N);
  int same = 1, kept_ok = 1;
  for(size_t k=0; k<sizeof ps/sizeof ps[0]; k++){
    lf_rng a, b;
    int64_t kept = 0;
    lf_rng_seed(&a, 11 + k);
    b = a;
    lf_rng_keep_mask(&a, m, N, ps[k], 2.5f);
    for(int64_t i=0; i<N; i++){
      float want = lf_rng_uniform(&b) >= ps[k] ? 2.5f : 0.0f;
      if( m[i]!=want ) same = 0;
      kept += m[i]!=0.0f;
    }
    if( memcmp(&a, &b, sizeof a) ) same = 0;
    if( fabs(kept/(double)N - (1.0 - ps[k])) > 0.01 ) kept_ok = 0;
  }
  CHECK(same, "lf_rng_keep_mask = lf_rng_uniform(r) >= p per element, same state after");
  CHECK(kept_ok, "lf_rng_keep_mask keeps a fraction 1-p");
  /* A double p (the LSTM's dropout), also just off a 2^-24 step. */
  static const double pd[] = { 0.1, 0.3, 0.5 + 0.25/16777216.0, 0.5 - 0.25/16777216.0 };
  same = 1;
  for(size_t k=0; k<sizeof pd/sizeof pd[0]; k++){
    lf_rng a, b;
    lf_rng_seed(&a, 31 + k);
    b = a;
    lf_rng_keep_mask(&a, m, N, pd[k], 1.5f);
    for(int64_t i=0; i<N; i++){
      float want = lf_rng_uniform(&b) >= pd[k] ? 1.5f : 0.0f;
      if( m[i]!=want ) same = 0;
    }
    if( memcmp(&a, &b, sizeof a) ) same = 0;
  }
  CHECK(same, "lf_rng_keep_mask with a double p = lf_rng_uniform(r) >= p (the LSTM's dropout)");
  free(m);
}

static void test_uniform(void){
  lf_rng r;
  const int n = 1000000;
  double sum = 0.0, sum2 = 0.0, mn = 1.0, mx = 0.0;
  int i, in_range = 1;
  lf_rng_seed(&r, 99);
  for(i=0; i<n; i++){
    float u = lf_rng_uniform(&r);
    if( !(u>=0.0f && u<1.0f) ) in_range = 0;
    if( u<mn ) mn = u;
    if( u>mx ) mx = u;
    sum += u; sum2 += (double)u*u;
  }
  CHECK(in_range, "uniform stays in [0,1)");
  /* mean 1/2, sd of the mean sqrt(1/12/n) = 2.9e-4: 0.002 is ~7 sd */
  CHECK(fabs(sum/n - 0.5)<0.002, "uniform mean %.5f ~ 0.5", sum/n);
  CHECK(fabs(sum2/n - sum*sum/((double)n*n) - 1.0/12)<0.002,
        "uniform variance %.5f ~ 1/12", sum2/n - sum*sum/((double)n*n));
  CHECK(mn<1e-4 && mx>1.0-1e-4, "uniform covers [0,1): min %g max %g", mn, mx);
}

static void test_normal(void){
  lf_rng r;
  const int n = 1000000;
  double sum = 0.0, sum2 = 0.0;
  int i, finite = 1, tail = 0;
  lf_rng_seed(&r, 5);
  for(i=0; i<n; i++){
    float z = lf_rng_normal(&r);
    if( !isfinite(z) ) finite = 0;
    if( fabsf(z)>1.959964f ) tail++;
    sum += z; sum2 += (double)z*z;
  }
  CHECK(finite, "normal values are finite");
  CHECK(fabs(sum/n)<0.005, "normal mean %.5f ~ 0", sum/n);
  CHECK(fabs(sum2/n - 1.0)<0.01, "normal variance %.5f ~ 1", sum2/n);
  /* P(|z|>1.96) = 0.05; sd of the fraction is 2.2e-4 */
  CHECK(fabs(tail/(double)n - 0.05)<0.002, "normal two-sided 5%% tail %.4f", tail/(double)n);
}

static void test_shuffle(void){
  enum { N = 1000 };
  lf_rng r, r2;
  int64_t idx[N], idx2[N];
  int seen[N] = {0};
  int i, perm = 1, moved = 0, same = 1;
  lf_rng_seed(&r, 3);
  r2 = r;
  for(i=0; i<N; i++){ idx[i] = i; idx2[i] = i; }
  lf_rng_shuffle(&r, idx, N);
  lf_rng_shuffle(&r2, idx2, N);
  for(i=0; i<N; i++){
    if( idx[i]<0 || idx[i]>=N || seen[idx[i]]++ ) perm = 0;
    if( idx[i]!=i ) moved++;
    if( idx[i]!=idx2[i] ) same = 0;
  }
  CHECK(perm, "shuffle is a permutation");
  CHECK(moved>900, "shuffle moves most elements (%d/%d)", moved, N);
  CHECK(same, "shuffle is deterministic for a given state");

  /* Each of the 6 orders of 3 elements is equally likely. */
  {
    int count[6] = {0}, k, ok = 1;
    for(k=0; k<60000; k++){
      int64_t v[3] = {0, 1, 2};
      lf_rng_shuffle(&r, v, 3);
      count[v[0]*2 + (v[1] > v[2])]++;
    }
    for(k=0; k<6; k++) if( abs(count[k] - 10000)>500 ) ok = 0;
    CHECK(ok, "shuffle of 3 is uniform: %d %d %d %d %d %d",
          count[0], count[1], count[2], count[3], count[4], count[5]);
  }
  /* Degenerate sizes must not touch memory or crash. */
  lf_rng_shuffle(&r, idx, 0);
  lf_rng_shuffle(&r, idx, 1);
  lf_rng_shuffle(&r, 0, 10);
  CHECK(1, "shuffle of 0, 1 elements and NULL is harmless");
}

static void test_shapes(void){
  lf_shape s = {3, {1, 28, 28, 0}};
  lf_shape v = {1, {10, 0, 0, 0}};
  lf_shape scalar = {0, {0, 0, 0, 0}};
  lf_shape bad = {5, {1, 2, 3, 4}};
  lf_shape neg = {2, {3, -1, 0, 0}};
  char buf[64], small[6];
  CHECK(lf_shape_count(&s)==784, "count [1,28,28] = 784");
  CHECK(lf_shape_count(&v)==10, "count [10] = 10");
  CHECK(lf_shape_count(&scalar)==1, "count [] = 1");
  CHECK(lf_shape_count(&bad)==-1, "count with ndim>LF_MAX_DIMS = -1");
  CHECK(lf_shape_count(&neg)==-1, "count with a negative dim = -1");
  CHECK(lf_shape_count(0)==-1, "count of NULL = -1");
  CHECK(strcmp(lf_shape_str(&s, buf, sizeof buf), "[1,28,28]")==0, "str %s", buf);
  CHECK(strcmp(lf_shape_str(&v, buf, sizeof buf), "[10]")==0, "str %s", buf);
  CHECK(strcmp(lf_shape_str(&scalar, buf, sizeof buf), "[]")==0, "str %s", buf);
  lf_shape_str(&s, small, sizeof small);
  CHECK(strlen(small)<sizeof small, "str truncates safely: '%s'", small);
}

/* A project's threads setting around a call, and the caller's count back. */
static void test_threads(void){
  omp_set_num_threads(3);
  int caller = lf_threads_apply(2);
  CHECK(caller==3, "threads_apply returns the caller's count 3 -> %d", caller);
  CHECK(lf_get_threads()==2, "threads_apply(2) -> %d", lf_get_threads());
  CHECK(omp_get_max_threads()==2, "threads_apply(2): OpenMP's count -> %d", omp_get_max_threads());
  lf_threads_restore(caller);
  CHECK(omp_get_max_threads()==3, "threads_restore: the caller's 3 again -> %d", omp_get_max_threads());
  caller = lf_threads_apply(0);
  CHECK(caller==3 && omp_get_max_threads()==3, "threads_apply(0) keeps the caller's count -> %d", omp_get_max_threads());
  lf_threads_restore(caller);
  CHECK(omp_get_max_threads()==3, "threads_restore after 0 -> %d", omp_get_max_threads());
  caller = lf_threads_apply(3);
  CHECK(caller==3 && omp_get_max_threads()==3, "threads_apply of the caller's own count -> %d", omp_get_max_threads());
  lf_threads_restore(caller);
  omp_set_num_threads(1);
}

/* bf16 rounding as oneDNN does it, written the obvious way. */
static uint16_t bf16_reference(uint32_t u){
  if( (u & 0x7fffffffu) > 0x7f800000u ) return (uint16_t)((u >> 16) | 0x40u);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static float f32_bits(uint32_t u){
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static void test_bf16(void){
  /* Every upper half with low halves below, at and above the tie, in a
  ** length that leaves a vector tail, through the (vectorised) batch
  ** conversion and the scalar one. */
  int64_t n = 65536*5 + 7, i, bad_n = 0, bad_1 = 0;
  static const uint32_t low[5] = { 0x0000u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu };
  float *x = malloc(sizeof(float)*(size_t)n);
  uint16_t *y = malloc(sizeof(uint16_t)*(size_t)n);
  uint32_t *u = malloc(sizeof(uint32_t)*(size_t)n);
  if( !x || !y || !u ){ CHECK(0, "bf16: memory"); free(x); free(y); free(u); return; }
  for(i=0; i<n; i++){
    u[i] = i < 65536*5 ? ((uint32_t)(i/5) << 16) | low[i%5] : 0x3f808000u + (uint32_t)i;
    x[i] = f32_bits(u[i]);
  }
  lf_bf16_from_f32_n(y, x, n);
  for(i=0; i<n; i++){
    if( y[i]!=bf16_reference(u[i]) ) bad_n++;
    if( lf_bf16_from_f32(x[i])!=bf16_reference(u[i]) ) bad_1++;
  }
  CHECK(bad_n==0, "bf16: batch conversion rounds like oneDNN for all %lld patterns (%lld differ)",
        (long long)n, (long long)bad_n);
  CHECK(bad_1==0, "bf16: scalar conversion rounds like oneDNN (%lld differ)", (long long)bad_1);
  CHECK(lf_bf16_from_f32(1.0f)==0x3f80 && lf_bf16_from_f32(f32_bits(0x3f808000u))==0x3f80
        && lf_bf16_from_f32(f32_bits(0x3f818000u))==0x3f82 && lf_bf16_from_f32(f32_bits(0x3f808001u))==0x3f81,
        "bf16: ties go to even, above a tie rounds up");
  CHECK(lf_bf16_from_f32(f32_bits(0x7f800000u))==0x7f80 && lf_bf16_from_f32(f32_bits(0x7f800001u))==0x7fc0
        && lf_bf16_to_f32(0xc000)==-2.0f, "bf16: infinity stays, a signalling NaN becomes quiet, bf16->f32 exact");
  free(x); free(y); free(u);
}

int main(void){
  test_known_values();
  test_determinism();
  test_state_copy();
  test_uniform();
  test_keep_mask();
  test_normal();
  test_shuffle();
  test_shapes();
  test_threads();
  test_bf16();
  TEST_EXIT();
}
