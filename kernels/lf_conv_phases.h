/*
** lf_conv_phases.h — diff_src of a stride-2 Conv2d as four stride-1
** forward convolutions, one per phase of the input grid (even/odd row,
** even/odd column), and one reorder that interleaves them.
**
** Input pixel i of a stride-2 convolution receives gradient only through
** the kernel taps k with k = i + padding (mod 2), from outputs a few
** apart: per phase, a stride-1 convolution of diff_dst with that subset of
** taps, flipped and transposed. The four together do the backward's work
** (every tap once), but as oneDNN 2.6 forward kernels, which with AMX run
** the ResNet's strided 3x3 convolutions' diff_src 1.5-2.5x faster than its
** backward-data kernel (docs/performance.md). The interleaving reorder may
** add into diff_src instead of writing it (lf_conv_phases_adding), which
** lets a downsampling block's two input gradients meet without a sum.
**
** Applies to NHWC tensors, stride 2 in both dimensions, no dilation, an
** even input size and a kernel of at least 2 (every phase has taps);
** lf_conv_phases_build says 0 for anything else.
*/
#ifndef LF_CONV_PHASES_H
#define LF_CONV_PHASES_H

#include "lf_layer.h"

typedef struct lf_conv_phases {
  lf_prim conv[4];              /* phase 2*row_parity + column_parity */
  lf_relayout w[4];             /* its plain weights -> the kernel's layout */
  dnnl_memory_t w_plain[4];     /* plain views of w_buf[k] */
  void *w_buf[4];               /* (ic, oc, taps_h, taps_w), rebuilt per step */
  dnnl_memory_t out[4];         /* views of the phases' outputs in buf */
  void *buf;                    /* the four outputs, one after the other */
  lf_prim interleave;           /* buf -> diff_src (or adding into it) */
  dnnl_memory_desc_t from_md, to_md;  /* its 6-D views (phase_h, phase_w, n, a, b, c) */
  dnnl_memory_t from, to;
  int64_t oc, ic, kh, kw;       /* the layer's weight dims */
  int first[2][2], taps[2][2];  /* [dim][phase]: first kernel tap, tap count */
  int bf16;
} lf_conv_phases;

/* Builds ph for the convolution whose forward reads src_md and writes
** dst_md (both NHWC) with weights (oc, ic, kernel), stride 2, padding
** pad. 1: built; 0: does not apply (ph left empty); -1: error in err. */
int lf_conv_phases_build(lf_conv_phases *ph, const dnnl_memory_desc_t *src_md,
                         const dnnl_memory_desc_t *dst_md, const int kernel[2],
                         const int pad[2], char *err, size_t errlen);
/* Makes the interleave add into diff_src. 1: done; -1: error. */
int lf_conv_phases_adding(lf_conv_phases *ph, char *err, size_t errlen);
/* diff_src from diff_dst and the weights w (plain (oc, ic, kh, kw), bf16
** bits or f32 as built). */
int lf_conv_phases_run(lf_conv_phases *ph, const void *w, dnnl_memory_t diff_dst,
                       dnnl_memory_t diff_src, dnnl_stream_t st,
                       char *err, size_t errlen);
void lf_conv_phases_free(lf_conv_phases *ph);

#endif
