/*
** lf_tensor.h — shapes, parameters and the random generator shared by every
** kernel. Nothing under kernels/ knows about SQLite or JSON: the core fills
** the spec structs below from a validated config and hands them in.
*/
#ifndef LF_TENSOR_H
#define LF_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define LF_MAX_DIMS 4

/* Per-sample shape (the batch dimension is never part of it):
** (F) for vectors, (C,H,W) for images. */
typedef struct lf_shape {
  int ndim;
  int64_t dim[LF_MAX_DIMS];
} lf_shape;

int64_t lf_shape_count(const lf_shape *s);
/* Writes "[1,28,28]" into buf; returns buf. */
char *lf_shape_str(const lf_shape *s, char *buf, size_t n);

/* A named float32 tensor owned by the network (weights, biases, running
** statistics). grad is NULL for buffers that are not trained. */
typedef struct lf_param {
  char name[64];          /* PyTorch state_dict style: "1.weight" */
  lf_shape shape;         /* full shape, e.g. (out,in) or (oc,ic,kh,kw) */
  int64_t n;              /* element count */
  float *data;            /* plain row-major layout, owned by the net */
  float *grad;            /* same size, or NULL for non-trainable buffers */
  int decay;              /* 1 if weight decay applies (weights), else 0 */
  uint16_t *data16;       /* bf16 copy of data (same order) while the net
                          ** computes in bf16, else NULL; whoever writes
                          ** data keeps it in step (the optimizers do) */
} lf_param;

/* float -> bfloat16, round to nearest even (NaN stays NaN), as oneDNN. */
static inline uint16_t lf_bf16_from_f32(float f){
  union { float f; uint32_t u; } v;
  uint32_t rounded, quiet_nan;
  v.f = f;
  /* Branch-free, so that loops of it vectorise. */
  rounded = (v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16;
  quiet_nan = (v.u >> 16) | 0x40u;
  return (uint16_t)((v.u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}
static inline float lf_bf16_to_f32(uint16_t h){
  union { float f; uint32_t u; } v;
  v.u = (uint32_t)h << 16;
  return v.f;
}
/* n conversions, vectorised (AVX-512 where the CPU has it). */
void lf_bf16_from_f32_n(uint16_t *dst, const float *src, int64_t n);

/* xoshiro256** — small, fast, and its whole state (32 bytes) is saved in
** checkpoints so a resumed run draws the same numbers. */
typedef struct lf_rng { uint64_t s[4]; } lf_rng;
void lf_rng_seed(lf_rng *r, uint64_t seed);
uint64_t lf_rng_next(lf_rng *r);
float lf_rng_uniform(lf_rng *r);          /* [0,1) */
float lf_rng_normal(lf_rng *r);           /* N(0,1) */
void lf_rng_shuffle(lf_rng *r, int64_t *idx, int64_t n);
/* A dropout mask: mask[i] = lf_rng_uniform(r) >= p ? keep : 0 for i in
** 0..n-1, drawing exactly the numbers n calls of lf_rng_uniform would
** (same stream, same masks, same state after), only without a call and a
** float conversion per element. */
void lf_rng_keep_mask(lf_rng *r, float *mask, int64_t n, double p, float keep);

/* Threads used by oneDNN (OpenMP) for every kernel. A project's `threads`
** setting holds around each call that runs kernels for SQL (training,
** ppl_evaluate, ppl_predict's forward passes, ppl_export), then the
** caller's count comes back:
**   int caller = lf_threads_apply(settings.threads);
**   ... kernels ...
**   lf_threads_restore(caller);
** want > 0: that many threads; 0: the caller's count as it is (the
** process default: OMP_NUM_THREADS, else every processor). Returns the
** caller's count. */
int lf_threads_apply(int want);
void lf_threads_restore(int caller);
/* The count now in force on the calling thread. */
int lf_get_threads(void);

#endif
