/*
** lf_conv_wide.c — a narrow Conv2d's weight gradient over the batch laid
** side by side (lf_conv_wide.h).
**
** Along the width, output column o reads input columns s*o - p + k
** (k < K). With each image's output in a slot of ow + 1 columns and its
** input in a slot of s*(ow + 1) columns, a slot's valid outputs read only
** their own image or zeros (the slot's tail, or the padding) when
** p <= slot - iw and iw + pad_right <= slot; the extra output column of a
** slot may read the next image, but its gradient is zero, so it adds
** nothing. Rows keep the convolution's own geometry.
*/
#include "lf_conv_wide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lf_conv_wide_free(lf_conv_wide *w){
  lf_prim_free(&w->bwd_weights);
  if( w->src ) dnnl_memory_destroy(w->src);
  if( w->ddst ) dnnl_memory_destroy(w->ddst);
  free(w->buf[0]);
  free(w->buf[1]);
  for(int t=0; t<2; t++){
    for(int k=0; k<2; k++){
      lf_prim_free(&w->copy[t][k]);
      if( w->from[t][k] ) dnnl_memory_destroy(w->from[t][k]);
      if( w->to[t][k] ) dnnl_memory_destroy(w->to[t][k]);
    }
  }
  memset(w, 0, sizeof *w);
}

/* The copies of an (n, c, h, iw) NHWC tensor into `wide`, whose slots are
** `slot` columns wide: one for the full groups of images, one for the
** rest. */
static int wide_copies(lf_conv_wide *w, int t, const dnnl_memory_desc_t *md,
                       int64_t slot, char *err, size_t errlen){
  const int64_t g = LF_CONV_WIDE_GROUP, n = md->dims[0], c = md->dims[1];
  const int64_t h = md->dims[2], iw = md->dims[3];
  int64_t groups[2] = { n / g, n % g ? 1 : 0 }, per[2] = { g, n % g };
  for(int k=0; k<2; k++){
    if( groups[k]==0 ) continue;
    dnnl_dims_t d = { groups[k], per[k], c, h, iw };
    dnnl_dims_t fs = { g*h*iw*c, h*iw*c, 1, iw*c, c };
    dnnl_dims_t ts = { h*g*slot*c, slot*c, 1, g*slot*c, c };
    dnnl_memory_desc_t f, to;
    if( lf_dnnl_check(dnnl_memory_desc_init_by_strides(&f, 5, d, dnnl_bf16, fs),
                      "oneDNN memory descriptor", err, errlen)
     || lf_dnnl_check(dnnl_memory_desc_init_by_strides(&to, 5, d, dnnl_bf16, ts),
                      "oneDNN memory descriptor", err, errlen)
     || lf_dnnl_mem(&w->from[t][k], &f, DNNL_MEMORY_NONE, err, errlen)
     || lf_dnnl_mem(&w->to[t][k], &to, DNNL_MEMORY_NONE, err, errlen)
     || lf_prim_reorder(&w->copy[t][k], &f, &to, err, errlen) ) return -1;
    /* the rest starts after the full groups' images, in both */
    w->from_off[t][k] = (size_t)(k ? groups[0]*g*h*iw*c : 0) * 2;
    w->to_off[t][k] = (size_t)(k ? groups[0]*h*g*slot*c : 0) * 2;
  }
  return 0;
}

int lf_conv_wide_build(lf_conv_wide *w, const dnnl_memory_desc_t *src_md,
                       const dnnl_memory_desc_t *dst_md, const dnnl_memory_desc_t *gw_md,
                       const dnnl_memory_desc_t *bias_md,
                       const int kernel[2], const int stride[2], const int pad[2],
                       char *err, size_t errlen){
  const int64_t g = LF_CONV_WIDE_GROUP;
  int64_t n = src_md->dims[0], ic = src_md->dims[1], ih = src_md->dims[2], iw = src_md->dims[3];
  int64_t oc = dst_md->dims[1], oh = dst_md->dims[2], ow = dst_md->dims[3];
  int64_t s = stride[1], p = pad[1], k = kernel[1];
  int64_t oslot = ow + 1, islot = s * oslot, pad_r = (ow - 1)*s + k - iw - p;
  memset(w, 0, sizeof *w);
  if( src_md->data_type!=dnnl_bf16 || dst_md->data_type!=dnnl_bf16 || ow>14 || n<2
   || !lf_dnnl_md_is_tag(src_md, dnnl_acdb) || !lf_dnnl_md_is_tag(dst_md, dnnl_acdb)
   || kernel[0]*kernel[1]<2
   || p > islot - iw || iw + pad_r > islot ) return 0;
  int64_t ng = (n + g - 1) / g;
  dnnl_dims_t sd = { ng, ic, ih, g*islot }, dd = { ng, oc, oh, g*oslot };
  dnnl_dims_t wd = { oc, ic, kernel[0], kernel[1] }, st = { stride[0], stride[1] };
  dnnl_dims_t pl = { pad[0], pad[1] };
  dnnl_dims_t pr = { (oh - 1)*stride[0] + kernel[0] - ih - pad[0], k - s - p };
  dnnl_memory_desc_t smd, dmd, w16;
  dnnl_convolution_desc_t d;
  lf_prim hint;                         /* the forward oneDNN wants as a hint */
  const char *impl = 0;
  if( lf_dnnl_md_tag(&smd, 4, sd, dnnl_bf16, dnnl_acdb, err, errlen)
   || lf_dnnl_md_tag(&dmd, 4, dd, dnnl_bf16, dnnl_acdb, err, errlen)
   || lf_dnnl_md_tag(&w16, 4, wd, dnnl_bf16, dnnl_format_tag_any, err, errlen)
   || lf_dnnl_check(dnnl_convolution_forward_desc_init(&d, dnnl_forward_training,
        dnnl_convolution_direct, &smd, &w16, 0, &dmd, st, pl, pr),
        "convolution forward descriptor (wide)", err, errlen)
   || lf_prim_create(&hint, &d, 0, 0, "oneDNN convolution forward (wide)", err, errlen) ) goto fail;
  int rc = lf_dnnl_check(dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct,
             &smd, gw_md, bias_md, &dmd, st, pl, pr), "convolution backward descriptor (wide)", err, errlen)
    || lf_prim_create(&w->bwd_weights, &d, 0, hint.pd,
                      "oneDNN convolution backward weights (wide)", err, errlen);
  lf_prim_free(&hint);
  if( rc ) goto fail;
  if( dnnl_primitive_desc_query(w->bwd_weights.pd, dnnl_query_impl_info_str, 0, &impl)!=dnnl_success
   || impl==0 || strstr(impl, "amx")==0 ){
    lf_conv_wide_free(w);
    return 0;
  }
  w->bytes[0] = dnnl_memory_desc_get_size(&smd);
  w->bytes[1] = dnnl_memory_desc_get_size(&dmd);
  if( lf_dnnl_mem(&w->src, &smd, DNNL_MEMORY_NONE, err, errlen)
   || lf_dnnl_mem(&w->ddst, &dmd, DNNL_MEMORY_NONE, err, errlen)
   || wide_copies(w, 0, src_md, islot, err, errlen)
   || wide_copies(w, 1, dst_md, oslot, err, errlen) ) goto fail;
  return 1;
fail:
  lf_conv_wide_free(w);
  return -1;
}

int lf_conv_wide_copy(lf_conv_wide *w, dnnl_memory_t src, dnnl_memory_t diff_dst,
                      dnnl_stream_t st, char *err, size_t errlen){
  dnnl_memory_t in[2] = { src, diff_dst }, wide[2] = { w->src, w->ddst };
  for(int t=0, first = w->buf[0]==0; first && t<2; t++){
    /* Zeros between the images (and in the slots of a short last group)
    ** stay: the copies write only the images. */
    w->buf[t] = aligned_alloc(64, (w->bytes[t] + 63) & ~(size_t)63);
    if( w->buf[t]==0 ){
      free(w->buf[0]);
      w->buf[0] = 0;                    /* the next call tries again */
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    memset(w->buf[t], 0, w->bytes[t]);
    if( lf_dnnl_check(dnnl_memory_set_data_handle(wide[t], w->buf[t]), "Conv2d weight gradient",
                      err, errlen) ) return -1;
    for(int k=0; k<2; k++){
      if( w->to[t][k]
       && lf_dnnl_check(dnnl_memory_set_data_handle(w->to[t][k], (char*)w->buf[t] + w->to_off[t][k]),
                        "Conv2d weight gradient", err, errlen) ) return -1;
    }
  }
  for(int t=0; t<2; t++){
    for(int k=0; k<2; k++){
      if( w->copy[t][k].prim==0 ) continue;
      dnnl_exec_arg_t a[2];
      if( lf_dnnl_check(dnnl_memory_set_data_handle(w->from[t][k],
                                                    (char*)lf_dnnl_ptr(in[t]) + w->from_off[t][k]),
                        "Conv2d weight gradient copy", err, errlen) ) return -1;
      a[0].arg = DNNL_ARG_FROM; a[0].memory = w->from[t][k];
      a[1].arg = DNNL_ARG_TO;   a[1].memory = w->to[t][k];
      if( lf_prim_run(&w->copy[t][k], st, 2, a, "Conv2d weight gradient copy", err, errlen) ) return -1;
    }
  }
  return 0;
}
