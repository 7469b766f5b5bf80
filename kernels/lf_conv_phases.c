/*
** lf_conv_phases.c — diff_src of a stride-2 Conv2d as four stride-1
** forward convolutions and an interleaving reorder (lf_conv_phases.h).
**
** One dimension of a stride-2 convolution with kernel K, padding P:
** input pixel i = 2a + p (phase p) gets dL/dx[i] = sum over the taps k
** with i = 2o + k - P of w[k] * dL/dy[o]. Those taps are k = f, f+2, ...
** (f = (p + P) mod 2, T = ceil((K - f) / 2) of them) at o = a + c - t for
** tap f + 2t, c = (p + P - f) / 2: a stride-1 convolution over dL/dy
** whose kernel is those taps reversed, padded T-1-c before and what makes
** its output a's count after.
*/
#include "lf_conv_phases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lf_conv_phases_free(lf_conv_phases *ph){
  for(int k=0; k<4; k++){
    lf_prim_free(&ph->conv[k]);
    lf_relayout_free(&ph->w[k]);
    if( ph->w_plain[k] ) dnnl_memory_destroy(ph->w_plain[k]);
    if( ph->out[k] ) dnnl_memory_destroy(ph->out[k]);
    free(ph->w_buf[k]);
  }
  lf_prim_free(&ph->interleave);
  if( ph->from ) dnnl_memory_destroy(ph->from);
  if( ph->to ) dnnl_memory_destroy(ph->to);
  free(ph->buf);
  memset(ph, 0, sizeof *ph);
}

int lf_conv_phases_build(lf_conv_phases *ph, const dnnl_memory_desc_t *src_md,
                         const dnnl_memory_desc_t *dst_md, const int kernel[2],
                         const int pad[2], char *err, size_t errlen){
  dnnl_data_type_t dt = src_md->data_type;
  size_t es = dt==dnnl_bf16 ? 2 : 4;
  int64_t n = src_md->dims[0], ic = src_md->dims[1], oc = dst_md->dims[1];
  int64_t in[2] = { src_md->dims[2], src_md->dims[3] };
  int64_t on[2] = { dst_md->dims[2], dst_md->dims[3] };
  int64_t half[2] = { in[0]/2, in[1]/2 };
  int64_t pl[2][2], pr[2][2];             /* [dim][phase] */
  memset(ph, 0, sizeof *ph);
  if( !lf_dnnl_md_is_tag(src_md, dnnl_acdb) || !lf_dnnl_md_is_tag(dst_md, dnnl_acdb) || in[0]%2 || in[1]%2 ) return 0;
  for(int d=0; d<2; d++){
    for(int p=0; p<2; p++){
      int f = (p + pad[d]) % 2, t = (kernel[d] - f + 1) / 2, c = (p + pad[d] - f) / 2;
      ph->first[d][p] = f;
      ph->taps[d][p] = t;
      pl[d][p] = t - 1 - c;
      pr[d][p] = half[d] - 1 - on[d] + t - pl[d][p];
      if( t<1 || pl[d][p]<0 || pr[d][p]<0 ) return 0;
    }
  }
  ph->oc = oc; ph->ic = ic; ph->kh = kernel[0]; ph->kw = kernel[1];
  ph->bf16 = dt==dnnl_bf16;
  size_t one = (size_t)(n * ic * half[0] * half[1]) * es;
  ph->buf = aligned_alloc(64, (4*one + 63) & ~(size_t)63);
  if( ph->buf==0 ){ snprintf(err, errlen, "out of memory"); return -1; }
  for(int k=0; k<4; k++){
    int p = k>>1, q = k&1;
    dnnl_dims_t wd = { ic, oc, ph->taps[0][p], ph->taps[1][q] };
    dnnl_dims_t od = { n, ic, half[0], half[1] }, one_stride = { 1, 1 };
    dnnl_dims_t pad_l = { pl[0][p], pl[1][q] }, pad_r = { pr[0][p], pr[1][q] };
    dnnl_memory_desc_t w_plain, w_any, out_md;
    dnnl_convolution_desc_t cd;
    ph->w_buf[k] = malloc((size_t)(ic * oc * wd[2] * wd[3]) * es);
    if( ph->w_buf[k]==0 ){ snprintf(err, errlen, "out of memory"); goto fail; }
    if( lf_dnnl_md_tag(&w_plain, 4, wd, dt, dnnl_oihw, err, errlen)
     || lf_dnnl_md_tag(&w_any, 4, wd, dt, dnnl_format_tag_any, err, errlen)
     || lf_dnnl_md_tag(&out_md, 4, od, dt, dnnl_acdb, err, errlen)
     || lf_dnnl_check(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training,
          dnnl_convolution_direct, dst_md, &w_any, 0, &out_md, one_stride, pad_l, pad_r),
          "convolution forward descriptor (diff_src phase)", err, errlen)
     || lf_prim_create(&ph->conv[k], &cd, 0, 0,
                       "oneDNN convolution forward (diff_src phase)", err, errlen) ) goto fail;
    if( lf_prim_is_ref(&ph->conv[k]) ){ lf_conv_phases_free(ph); return 0; }
    if( lf_dnnl_mem(&ph->w_plain[k], &w_plain, ph->w_buf[k], err, errlen)
     || lf_relayout_init(&ph->w[k], &w_plain,
          lf_prim_md(&ph->conv[k], dnnl_query_weights_md, 0), 1, err, errlen)
     || lf_dnnl_mem(&ph->out[k], &out_md, (char*)ph->buf + k*one, err, errlen) ) goto fail;
  }
  /* buf as (phase_h, phase_w, n, a, b, c) -> diff_src's (n, 2a+phase_h,
  ** 2b+phase_w, c) */
  dnnl_dims_t d6 = { 2, 2, n, half[0], half[1], ic };
  int64_t s1 = n * half[0] * half[1] * ic;
  dnnl_dims_t from_s = { 2*s1, s1, half[0]*half[1]*ic, half[1]*ic, ic, 1 };
  dnnl_dims_t to_s = { in[1]*ic, ic, in[0]*in[1]*ic, 2*in[1]*ic, 2*ic, 1 };
  if( lf_dnnl_check(dnnl_memory_desc_init_by_strides(&ph->from_md, 6, d6, dt, from_s),
                    "oneDNN memory descriptor", err, errlen)
   || lf_dnnl_check(dnnl_memory_desc_init_by_strides(&ph->to_md, 6, d6, dt, to_s),
                    "oneDNN memory descriptor", err, errlen)
   || lf_dnnl_mem(&ph->from, &ph->from_md, ph->buf, err, errlen)
   || lf_dnnl_mem(&ph->to, &ph->to_md, DNNL_MEMORY_NONE, err, errlen)
   || lf_prim_reorder(&ph->interleave, &ph->from_md, &ph->to_md, err, errlen) ) goto fail;
  return 1;
fail:
  lf_conv_phases_free(ph);
  return -1;
}

int lf_conv_phases_adding(lf_conv_phases *ph, char *err, size_t errlen){
  lf_prim adding;
  if( lf_prim_reorder_adding(&adding, &ph->from_md, &ph->to_md, err, errlen) ) return -1;
  lf_prim_free(&ph->interleave);
  ph->interleave = adding;
  return 1;
}

/* Phase k's weights: w_buf[k][i][o][jh][jw] = w[o][i][fh + 2(Th-1-jh)][fw + 2(Tw-1-jw)],
** element bits copied as they are. */
static void phase_weights(lf_conv_phases *ph, int k, const void *w){
  int p = k>>1, q = k&1;
  int th = ph->taps[0][p], tw = ph->taps[1][q], fh = ph->first[0][p], fw = ph->first[1][q];
  size_t es = ph->bf16 ? 2 : 4;
  const char *src = w;
  char *dst = ph->w_buf[k];
  for(int64_t i=0; i<ph->ic; i++){
    for(int64_t o=0; o<ph->oc; o++){
      const char *from = src + (size_t)((o*ph->ic + i)*ph->kh*ph->kw) * es;
      for(int jh=0; jh<th; jh++){
        for(int jw=0; jw<tw; jw++){
          int kh = fh + 2*(th-1-jh), kw = fw + 2*(tw-1-jw);
          memcpy(dst, from + (size_t)(kh*ph->kw + kw) * es, es);
          dst += es;
        }
      }
    }
  }
}

int lf_conv_phases_run(lf_conv_phases *ph, const void *w, dnnl_memory_t diff_dst,
                       dnnl_memory_t diff_src, dnnl_stream_t st,
                       char *err, size_t errlen){
  dnnl_exec_arg_t a[3];
  for(int k=0; k<4; k++){
    phase_weights(ph, k, w);
    if( lf_relayout_run(&ph->w[k], ph->w_plain[k], st, err, errlen) ) return -1;
    a[0].arg = DNNL_ARG_SRC;     a[0].memory = diff_dst;
    a[1].arg = DNNL_ARG_WEIGHTS; a[1].memory = lf_relayout_mem(&ph->w[k], ph->w_plain[k]);
    a[2].arg = DNNL_ARG_DST;     a[2].memory = ph->out[k];
    if( lf_prim_run(&ph->conv[k], st, 3, a, "Conv2d diff_src phase", err, errlen) ) return -1;
  }
  if( lf_dnnl_check(dnnl_memory_set_data_handle(ph->to, lf_dnnl_ptr(diff_src)),
                    "Conv2d diff_src", err, errlen) ) return -1;
  a[0].arg = DNNL_ARG_FROM; a[0].memory = ph->from;
  a[1].arg = DNNL_ARG_TO;   a[1].memory = ph->to;
  return lf_prim_run(&ph->interleave, st, 2, a, "Conv2d diff_src interleave", err, errlen);
}
