/*
** lf_conv_wide.h — the weight gradient of a narrow Conv2d (output 14 or
** fewer pixels wide) with AMX in bf16, over the batch laid side by side:
** groups of 8 images become one image 8 times as wide, each in a slot
** with enough zero columns after it that no kernel tap reaches from one
** image into the next, and the output gradient's extra column per slot
** is zero. The weight gradient sums over images and pixels alike, so it
** is the same; oneDNN 2.6's AMX kernel reduces over the output's width in
** tiles of 32 and runs 1.7-3x faster on these wide images than on the
** narrow ones (docs/performance.md), the two copies in bf16 included.
** Not for 1x1 kernels: there the copies cost what the kernel saves.
*/
#ifndef LF_CONV_WIDE_H
#define LF_CONV_WIDE_H

#include "lf_layer.h"

#define LF_CONV_WIDE_GROUP 8

typedef struct lf_conv_wide {
  lf_prim bwd_weights;          /* on the wide tensors */
  dnnl_memory_t src, ddst;      /* the wide tensors (zeros between images) */
  lf_prim copy[2][2];           /* [src, ddst][full groups, the rest] */
  dnnl_memory_t from[2][2], to[2][2];  /* the copies' views */
  size_t from_off[2][2], to_off[2][2];  /* where each copy starts (bytes) */
  void *buf[2];                 /* the wide tensors' bytes, made (zeroed) at
                                ** the first copy: an inference-only build
                                ** never needs them */
  size_t bytes[2];
} lf_conv_wide;

/* Builds w for a convolution of batch `batch` reading src_md and writing
** dst_md (both NHWC bf16), kernel/stride/padding per dimension, weight
** gradient into gw_md's layout (format any allowed; query the result from
** w->bwd_weights), the bias's into bias_md (NULL: no bias). 1: built; 0:
** does not apply; -1: error in err. */
int lf_conv_wide_build(lf_conv_wide *w, const dnnl_memory_desc_t *src_md,
                       const dnnl_memory_desc_t *dst_md, const dnnl_memory_desc_t *gw_md,
                       const dnnl_memory_desc_t *bias_md,
                       const int kernel[2], const int stride[2], const int pad[2],
                       char *err, size_t errlen);
/* Copies src and diff_dst into the wide tensors; then run bwd_weights
** with w->src, w->ddst. */
int lf_conv_wide_copy(lf_conv_wide *w, dnnl_memory_t src, dnnl_memory_t diff_dst,
                      dnnl_stream_t st, char *err, size_t errlen);
void lf_conv_wide_free(lf_conv_wide *w);

#endif
