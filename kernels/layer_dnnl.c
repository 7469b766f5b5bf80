/*
** layer_dnnl.c — the oneDNN plumbing shared by every layer: the process
** engine, status checking, memory descriptors, primitives that carry their
** own scratchpad, and relayouts (reorders that vanish when the layouts
** already agree).
**
** Every oneDNN status is checked and turned into a message: this code runs
** inside the user's SQLite process, which must never be aborted.
*/
#include "lf_layer.h"
#include "lf_signals.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <oneapi/dnnl/dnnl_debug.h>

/* One engine for the process: creating one is costly and primitives made on
** it can be shared freely by nets. It lives until exit. */
static dnnl_engine_t lf_engine;
static dnnl_status_t lf_engine_status = dnnl_success;
static pthread_once_t lf_engine_once = PTHREAD_ONCE_INIT;

static void lf_engine_make(void){
  lf_engine_status = dnnl_engine_create(&lf_engine, dnnl_cpu, 0);
  if( lf_engine_status!=dnnl_success ) lf_engine = 0;
}

dnnl_engine_t lf_dnnl_engine(char *err, size_t errlen){
  pthread_once(&lf_engine_once, lf_engine_make);
  if( lf_engine==0 ){
    lf_dnnl_check(lf_engine_status==dnnl_success ? dnnl_runtime_error
                  : lf_engine_status, "oneDNN CPU engine", err, errlen);
  }
  return lf_engine;
}

int lf_dnnl_check(dnnl_status_t st, const char *what, char *err, size_t errlen){
  if( st==dnnl_success ) return 0;
  if( err && errlen ){
    snprintf(err, errlen, "%s failed: %s", what, dnnl_status2str(st));
  }
  return -1;
}

int lf_dnnl_md_dims(dnnl_memory_desc_t *md, int ndims, const int64_t *dims,
                    char *err, size_t errlen){
  static const dnnl_format_tag_t plain[] = {
    dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde
  };
  dnnl_dims_t d;
  int i;
  if( ndims<1 || ndims>5 ){
    snprintf(err, errlen, "unsupported tensor rank %d", ndims);
    return -1;
  }
  for(i=0; i<ndims; i++) d[i] = dims[i];
  return lf_dnnl_check(dnnl_memory_desc_init_by_tag(md, ndims, d, dnnl_f32,
                       plain[ndims]), "oneDNN memory descriptor", err, errlen);
}

int lf_dnnl_md_dt(dnnl_memory_desc_t *md, int batch, const lf_shape *shape,
                  int any, dnnl_data_type_t dt, char *err, size_t errlen){
  static const dnnl_format_tag_t plain[] = {
    dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde
  };
  dnnl_dims_t d;
  int i;
  if( shape->ndim<0 || shape->ndim>LF_MAX_DIMS ){
    snprintf(err, errlen, "unsupported tensor rank %d", shape->ndim+1);
    return -1;
  }
  d[0] = batch;
  for(i=0; i<shape->ndim; i++) d[i+1] = shape->dim[i];
  return lf_dnnl_check(dnnl_memory_desc_init_by_tag(md, shape->ndim+1, d, dt,
                       any ? dnnl_format_tag_any : plain[shape->ndim+1]),
                       "oneDNN memory descriptor", err, errlen);
}

int lf_dnnl_md(dnnl_memory_desc_t *md, int batch, const lf_shape *shape,
               int any, char *err, size_t errlen){
  return lf_dnnl_md_dt(md, batch, shape, any, dnnl_f32, err, errlen);
}

int lf_dnnl_md_retype(dnnl_memory_desc_t *out, const dnnl_memory_desc_t *md,
                      dnnl_data_type_t dt, char *err, size_t errlen){
  /* Blocking strides count elements, so the same layout holds for any
  ** element size; only the type changes. */
  if( md->format_kind!=dnnl_blocked || md->extra.flags!=0 ){
    snprintf(err, errlen, "cannot change the data type of this layout");
    return -1;
  }
  *out = *md;
  out->data_type = dt;
  return 0;
}

/* An attribute with one post-op: relu of slope alpha, or (sum) dst +=. */
static int attr_one_post_op(dnnl_primitive_attr_t *attr, int sum, float alpha,
                            char *err, size_t errlen){
  dnnl_post_ops_t po = 0;
  int rc;
  *attr = 0;
  if( lf_dnnl_check(dnnl_primitive_attr_create(attr), "oneDNN attribute",
                    err, errlen) ){
    *attr = 0;
    return -1;
  }
  rc = lf_dnnl_check(dnnl_post_ops_create(&po), "oneDNN post-ops", err, errlen);
  if( rc==0 ){
    rc = lf_dnnl_check(sum ? dnnl_post_ops_append_sum(po, 1.0f)
                           : dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu,
                                                          alpha, 0.0f),
                       "oneDNN post-ops", err, errlen)
      || lf_dnnl_check(dnnl_primitive_attr_set_post_ops(*attr, po),
                       "oneDNN post-ops", err, errlen);
    dnnl_post_ops_destroy(po);
  }
  if( rc ){
    dnnl_primitive_attr_destroy(*attr);
    *attr = 0;
  }
  return rc;
}

int lf_dnnl_attr_relu(dnnl_primitive_attr_t *attr, float alpha,
                      char *err, size_t errlen){
  return attr_one_post_op(attr, 0, alpha, err, errlen);
}

int lf_dnnl_attr_sum(dnnl_primitive_attr_t *attr, char *err, size_t errlen){
  return attr_one_post_op(attr, 1, 0.0f, err, errlen);
}

int lf_dnnl_md_tag(dnnl_memory_desc_t *md, int ndims, const int64_t *dims,
                   dnnl_data_type_t dt, dnnl_format_tag_t tag, char *err, size_t errlen){
  return lf_dnnl_check(dnnl_memory_desc_init_by_tag(md, ndims, dims, dt, tag),
                       "oneDNN memory descriptor", err, errlen);
}

/* tag's layout of md's dims and type in *t; 0 if there is none (a tag
** of another rank). */
static int md_as_tag(const dnnl_memory_desc_t *md, dnnl_format_tag_t tag,
                     dnnl_memory_desc_t *t){
  return dnnl_memory_desc_init_by_tag(t, md->ndims, md->dims, md->data_type, tag)==dnnl_success;
}

int lf_dnnl_md_is_tag(const dnnl_memory_desc_t *md, dnnl_format_tag_t tag){
  dnnl_memory_desc_t t;
  return md_as_tag(md, tag, &t) && lf_dnnl_md_same_bytes(md, &t);
}

int lf_dnnl_md_view_as(const dnnl_memory_desc_t *md, dnnl_format_tag_t tag,
                       dnnl_memory_desc_t *view){
  return md_as_tag(md, tag, view) && !dnnl_memory_desc_equal(md, view)
      && lf_dnnl_md_same_bytes(md, view);
}

int lf_prim_is_ref(const lf_prim *p){
  const char *impl = 0;
  if( dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &impl)!=dnnl_success
   || impl==0 ) return 0;
  return strncmp(impl, "ref", 3)==0;
}

int lf_dnnl_md_is_plain(const dnnl_memory_desc_t *md){
  dnnl_memory_desc_t plain;
  dnnl_dims_t d;
  static const dnnl_format_tag_t tag[] = {
    dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde
  };
  int i;
  if( md->ndims<1 || md->ndims>5 ) return 0;
  for(i=0; i<md->ndims; i++) d[i] = md->dims[i];
  if( dnnl_memory_desc_init_by_tag(&plain, md->ndims, d, md->data_type,
                                   tag[md->ndims])!=dnnl_success ) return 0;
  return dnnl_memory_desc_equal(&plain, md);
}

int lf_dnnl_has_isa(dnnl_cpu_isa_t isa){
  unsigned have = (unsigned)dnnl_get_effective_cpu_isa(), need = (unsigned)isa;
  return (have & need)==need;
}

/* The blocked description of md with what cannot move a byte taken out:
** an inner block spanning its whole dimension (nChw16c with 16 channels)
** becomes that dimension's unit stride, and a dimension of size 1 has no
** stride. -1 if md is not a plain blocked layout. */
static int md_canonical(dnnl_memory_desc_t *m){
  dnnl_blocking_desc_t *bk = &m->format_desc.blocking;
  int i;
  if( m->format_kind!=dnnl_blocked || m->extra.flags!=0 ) return -1;
  if( bk->inner_nblks==1 ){
    int d = (int)bk->inner_idxs[0];
    if( d>=0 && d<m->ndims && m->dims[d]==bk->inner_blks[0]
     && m->padded_dims[d]==m->dims[d] ){
      bk->strides[d] = 1;
      bk->inner_nblks = 0;
      bk->inner_blks[0] = bk->inner_idxs[0] = 0;
    }
  }
  for(i=0; i<m->ndims; i++) if( m->dims[i]==1 ) bk->strides[i] = 0;
  return 0;
}

int lf_dnnl_md_same_bytes(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b){
  dnnl_memory_desc_t x = *a, y = *b;
  const dnnl_blocking_desc_t *bx = &x.format_desc.blocking, *by = &y.format_desc.blocking;
  int i;
  if( dnnl_memory_desc_equal(a, b) ) return 1;
  if( x.ndims!=y.ndims || x.data_type!=y.data_type || x.offset0!=y.offset0
   || md_canonical(&x) || md_canonical(&y) || bx->inner_nblks!=by->inner_nblks ){
    return 0;
  }
  for(i=0; i<x.ndims; i++){
    if( x.dims[i]!=y.dims[i] || x.padded_dims[i]!=y.padded_dims[i]
     || x.padded_offsets[i]!=y.padded_offsets[i] || bx->strides[i]!=by->strides[i] ){
      return 0;
    }
  }
  for(i=0; i<bx->inner_nblks; i++){
    if( bx->inner_blks[i]!=by->inner_blks[i] || bx->inner_idxs[i]!=by->inner_idxs[i] ){
      return 0;
    }
  }
  return 1;
}

int lf_dnnl_mem(dnnl_memory_t *mem, const dnnl_memory_desc_t *md,
                void *handle, char *err, size_t errlen){
  dnnl_engine_t eng = lf_dnnl_engine(err, errlen);
  *mem = 0;
  if( eng==0 ) return -1;
  if( lf_dnnl_check(dnnl_memory_create(mem, md, eng, handle),
                    "oneDNN memory allocation", err, errlen) ){
    *mem = 0;
    return -1;
  }
  return 0;
}

float *lf_dnnl_ptr(const_dnnl_memory_t mem){
  void *p = 0;
  if( mem==0 || dnnl_memory_get_data_handle(mem, &p)!=dnnl_success ) return 0;
  return p;
}

size_t lf_dnnl_nfloat(const_dnnl_memory_t mem){
  const dnnl_memory_desc_t *md = 0;
  if( mem==0 || dnnl_memory_get_memory_desc(mem, &md)!=dnnl_success ) return 0;
  return dnnl_memory_desc_get_size(md) / sizeof(float);
}

/* Primitives whose tensors total less than this run serially: waking the
** second thread costs more than they take, while the MLP's 256->128 layer
** (160 KiB in bf16, 320 KiB in f32) is as fast or faster on the team. The
** figures: docs/performance.md, "Small primitives run on one thread". */
#define LF_SERIAL_BYTES (128*1024)

/* Bytes of every tensor a primitive reads or writes. */
static size_t lf_pd_bytes(const_dnnl_primitive_desc_t pd){
  static const dnnl_query_t q[] = {
    dnnl_query_src_md, dnnl_query_diff_src_md, dnnl_query_weights_md,
    dnnl_query_diff_weights_md, dnnl_query_dst_md, dnnl_query_diff_dst_md,
    dnnl_query_workspace_md
  };
  size_t total = 0;
  unsigned i;
  int k;
  for(i=0; i<sizeof q/sizeof q[0]; i++){
    for(k=0; k<2; k++){
      const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, q[i], k);
      if( md ) total += dnnl_memory_desc_get_size(md);
    }
  }
  return total;
}

/* What a primitive descriptor is made from: an operation descriptor, or
** (op_desc NULL) a reorder between two layouts, or (nsrc > 0) a sum or a
** concat of nsrc sources into `to`. */
typedef struct lf_pd_args {
  const void *op_desc;
  const dnnl_memory_desc_t *from, *to;
  int nsrc;                           /* sum/concat sources */
  const dnnl_memory_desc_t *srcs;
  int concat_axis;                    /* -1: sum */
  const_dnnl_primitive_attr_t attr;
  dnnl_engine_t eng;
  const_dnnl_primitive_desc_t hint;
  const char *what;
  char *err;
  size_t errlen;
} lf_pd_args;

static int lf_pd_create(lf_prim *p, const lf_pd_args *a){
  dnnl_status_t st;
  if( a->nsrc>0 && a->concat_axis<0 ){
    float scales[LF_LAYER_MAX_INPUTS];
    for(int i=0; i<a->nsrc; i++) scales[i] = 1.0f;
    st = dnnl_sum_primitive_desc_create(&p->pd, a->to, a->nsrc, scales,
                                        a->srcs, a->attr, a->eng);
  }else if( a->nsrc>0 ){
    st = dnnl_concat_primitive_desc_create(&p->pd, a->to, a->nsrc,
                                           a->concat_axis, a->srcs, a->attr,
                                           a->eng);
  }else if( a->op_desc ){
    st = dnnl_primitive_desc_create(&p->pd, a->op_desc, a->attr, a->eng, a->hint);
  }else{
    st = dnnl_reorder_primitive_desc_create(&p->pd, a->from, a->eng, a->to,
                                            a->eng, a->attr);
  }
  if( lf_dnnl_check(st, a->what, a->err, a->errlen) ){
    p->pd = 0;
    return -1;
  }
  return 0;
}

/* Makes p->pd with the team, and again with one thread when the primitive
** turns out small: oneDNN sizes kernels and scratchpads for the thread
** count at creation, so a serial primitive is created serial too. */
static int lf_pd_make(lf_prim *p, const lf_pd_args *a){
  int nt = omp_get_max_threads(), rc;
  if( lf_pd_create(p, a) ) return -1;
  if( nt<=1 || lf_pd_bytes(p->pd)>=LF_SERIAL_BYTES ) return 0;
  dnnl_primitive_desc_destroy(p->pd);
  p->pd = 0;
  omp_set_num_threads(1);
  rc = lf_pd_create(p, a);
  omp_set_num_threads(nt);
  if( rc==0 ) p->serial = 1;
  return rc;
}

/* Scratchpads are requested in user mode and allocated here once, so that
** executing never allocates behind our back. */
static int lf_prim_finish(lf_prim *p, const char *what, char *err,
                          size_t errlen){
  const dnnl_memory_desc_t *smd;
  int nt = omp_get_max_threads(), rc;
  if( p->serial ) omp_set_num_threads(1);
  rc = lf_dnnl_check(dnnl_primitive_create(&p->prim, p->pd), what, err, errlen);
  if( p->serial ) omp_set_num_threads(nt);
  if( rc ){
    p->prim = 0;
    return -1;
  }
  smd = dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0);
  if( smd && dnnl_memory_desc_get_size(smd)>0 ){
    if( lf_dnnl_mem(&p->scratch, smd, DNNL_MEMORY_ALLOCATE, err, errlen) ){
      return -1;
    }
  }
  return 0;
}

int lf_prim_create(lf_prim *p, const void *op_desc,
                   const_dnnl_primitive_attr_t attr,
                   const_dnnl_primitive_desc_t hint, const char *what,
                   char *err, size_t errlen){
  dnnl_primitive_attr_t a = 0;
  dnnl_engine_t eng = lf_dnnl_engine(err, errlen);
  int rc;
  memset(p, 0, sizeof(*p));
  if( eng==0 ) return -1;
  if( attr ){
    rc = lf_dnnl_check(dnnl_primitive_attr_clone(&a, attr), what, err, errlen);
  }else{
    rc = lf_dnnl_check(dnnl_primitive_attr_create(&a), what, err, errlen);
  }
  if( rc ) return -1;
  rc = lf_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(a,
                     dnnl_scratchpad_mode_user), what, err, errlen);
  if( rc==0 ){
    lf_pd_args pa = { op_desc, 0, 0, 0, 0, 0, a, eng, hint, what, err, errlen };
    rc = lf_pd_make(p, &pa);
  }
  dnnl_primitive_attr_destroy(a);
  if( rc==0 ) rc = lf_prim_finish(p, what, err, errlen);
  if( rc ) lf_prim_free(p);
  return rc;
}

/* A plain buffer described by md: blocked (plain or blocked layout), no
** offset or compensation; its bytes are dnnl_memory_desc_get_size(md). */
static int lf_md_flat(const dnnl_memory_desc_t *md){
  return md->format_kind==dnnl_blocked && md->offset0==0 && md->extra.flags==0;
}

static int lf_prim_reorder_to(lf_prim *p, const dnnl_memory_desc_t *from,
                              const dnnl_memory_desc_t *to, int adding,
                              char *err, size_t errlen){
  dnnl_primitive_attr_t a = 0;
  dnnl_engine_t eng = lf_dnnl_engine(err, errlen);
  int rc;
  memset(p, 0, sizeof(*p));
  if( eng==0 ) return -1;
  if( adding ? lf_dnnl_attr_sum(&a, err, errlen)
             : lf_dnnl_check(dnnl_primitive_attr_create(&a), "oneDNN reorder", err, errlen) ){
    return -1;
  }
  rc = lf_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(a,
                     dnnl_scratchpad_mode_user), "oneDNN reorder", err, errlen);
  if( rc==0 ){
    lf_pd_args pa = { 0, from, to, 0, 0, 0, a, eng, 0, "oneDNN reorder", err, errlen };
    rc = lf_pd_make(p, &pa);
  }
  dnnl_primitive_attr_destroy(a);
  if( rc==0 ) rc = lf_prim_finish(p, "oneDNN reorder", err, errlen);
  if( rc ) lf_prim_free(p);
  return rc;
}

int lf_prim_reorder(lf_prim *p, const dnnl_memory_desc_t *from,
                    const dnnl_memory_desc_t *to, char *err, size_t errlen){
  return lf_prim_reorder_to(p, from, to, 0, err, errlen);
}

int lf_prim_reorder_adding(lf_prim *p, const dnnl_memory_desc_t *from,
                           const dnnl_memory_desc_t *to, char *err, size_t errlen){
  return lf_prim_reorder_to(p, from, to, 1, err, errlen);
}

int lf_prim_multi(lf_prim *p, int nsrc, const dnnl_memory_desc_t *srcs,
                  const dnnl_memory_desc_t *dst, int concat_axis,
                  const char *what, char *err, size_t errlen){
  dnnl_primitive_attr_t a = 0;
  dnnl_engine_t eng = lf_dnnl_engine(err, errlen);
  int rc;
  memset(p, 0, sizeof(*p));
  if( eng==0 ) return -1;
  if( nsrc<1 || nsrc>LF_LAYER_MAX_INPUTS ){
    snprintf(err, errlen, "%s: %d sources (1 to %d)", what, nsrc, LF_LAYER_MAX_INPUTS);
    return -1;
  }
  if( lf_dnnl_check(dnnl_primitive_attr_create(&a), what, err, errlen) ) return -1;
  rc = lf_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(a,
                     dnnl_scratchpad_mode_user), what, err, errlen);
  if( rc==0 ){
    lf_pd_args pa = { 0, 0, dst, nsrc, srcs, concat_axis, a, eng, 0, what, err, errlen };
    rc = lf_pd_make(p, &pa);
  }
  dnnl_primitive_attr_destroy(a);
  if( rc==0 ) rc = lf_prim_finish(p, what, err, errlen);
  if( rc ) lf_prim_free(p);
  return rc;
}

const dnnl_memory_desc_t *lf_prim_md(const lf_prim *p, dnnl_query_t what,
                                     int index){
  return dnnl_primitive_desc_query_md(p->pd, what, index);
}

/* The memory of argument `arg` among args, NULL if absent. */
static void *lf_arg_ptr(int nargs, const dnnl_exec_arg_t *args, int arg){
  for(int i=0; i<nargs; i++) if( args[i].arg==arg ) return lf_dnnl_ptr(args[i].memory);
  return 0;
}

/* A reorder between two equal layouts is a copy, a sum of two f32 buffers
** of one layout an add: oneDNN 2.6 runs both with its generic "simple"
** kernels, ~10x slower than memcpy on a [128, 28, 64] activation (the
** residual connections of a Transformer and their gradients). Done in C
** here with the same result bit for bit (every reorder here is made by
** lf_prim_reorder, without scales; every sum by lf_prim_multi, with unit
** scales, and oneDNN adds src0 + src1 in f32). Returns 1 when done,
** 0 when the primitive is something else, -1 on error. Decided from the
** primitive descriptor, so lf_prim (in the plugin ABI) stays as it is. */
static int lf_prim_run_fast(const lf_prim *p, dnnl_stream_t s, int nargs,
                            const dnnl_exec_arg_t *args, const char *what,
                            char *err, size_t errlen){
  dnnl_primitive_kind_t kind;
  const dnnl_memory_desc_t *src, *dst;
  if( p->pd==0 || dnnl_primitive_desc_query(p->pd, dnnl_query_primitive_kind, 0, &kind)!=dnnl_success ) return 0;
  if( kind!=dnnl_reorder && kind!=dnnl_sum ) return 0;
  src = dnnl_primitive_desc_query_md(p->pd, dnnl_query_src_md, 0);
  dst = dnnl_primitive_desc_query_md(p->pd, dnnl_query_dst_md, 0);
  if( !src || !dst || !dnnl_memory_desc_equal(src, dst) || !lf_md_flat(dst) ) return 0;
  size_t bytes = dnnl_memory_desc_get_size(dst);
  if( kind==dnnl_reorder ){
    const void *from = lf_arg_ptr(nargs, args, DNNL_ARG_FROM);
    void *to = lf_arg_ptr(nargs, args, DNNL_ARG_TO);
    if( !from || !to ) return 0;
    if( lf_dnnl_check(dnnl_stream_wait(s), what, err, errlen) ) return -1;
    if( from!=to ) memmove(to, from, bytes);
    return 1;
  }
  const dnnl_memory_desc_t *src1 = dnnl_primitive_desc_query_md(p->pd, dnnl_query_src_md, 1);
  int nin = 0;
  if( dnnl_primitive_desc_query(p->pd, dnnl_query_num_of_inputs_s32, 0, &nin)!=dnnl_success
   || nin!=2 || dst->data_type!=dnnl_f32 || !src1 || !dnnl_memory_desc_equal(src1, dst) ) return 0;
  const float *a = lf_arg_ptr(nargs, args, DNNL_ARG_MULTIPLE_SRC);
  const float *b = lf_arg_ptr(nargs, args, DNNL_ARG_MULTIPLE_SRC + 1);
  float *y = lf_arg_ptr(nargs, args, DNNL_ARG_DST);
  int64_t n = (int64_t)(bytes / sizeof(float));
  if( !a || !b || !y ) return 0;
  if( lf_dnnl_check(dnnl_stream_wait(s), what, err, errlen) ) return -1;
  #pragma omp parallel for simd schedule(static) if(n >= 65536 && !p->serial)
  for(int64_t i=0; i<n; i++) y[i] = a[i] + b[i];
  return 1;
}

int lf_prim_run(const lf_prim *p, dnnl_stream_t s, int nargs,
                const dnnl_exec_arg_t *args, const char *what,
                char *err, size_t errlen){
  dnnl_exec_arg_t all[LF_LAYER_MAX_INPUTS+4];
  int n = nargs;
  {
    int fast = lf_prim_run_fast(p, s, nargs, args, what, err, errlen);
    if( fast ) return fast < 0 ? -1 : 0;
  }
  if( nargs>LF_LAYER_MAX_INPUTS+3 ){
    snprintf(err, errlen, "%s: too many arguments", what);
    return -1;
  }
  memcpy(all, args, sizeof(*args)*(size_t)nargs);
  if( p->scratch ){
    all[n].arg = DNNL_ARG_SCRATCHPAD;
    all[n].memory = p->scratch;
    n++;
  }
  {
    int rc, nt = 0;
    lf_signals_hold();
    if( p->serial ){ nt = omp_get_max_threads(); omp_set_num_threads(1); }
    rc = lf_dnnl_check(dnnl_primitive_execute(p->prim, s, n, all), what,
                       err, errlen);
    if( p->serial ) omp_set_num_threads(nt);
    lf_signals_release();
    return rc;
  }
}

void lf_prim_free(lf_prim *p){
  if( p->prim ) dnnl_primitive_destroy(p->prim);
  if( p->pd ) dnnl_primitive_desc_destroy(p->pd);
  if( p->scratch ) dnnl_memory_destroy(p->scratch);
  memset(p, 0, sizeof(*p));
}

static int relayout_init(lf_relayout *r, const dnnl_memory_desc_t *outer,
                         const dnnl_memory_desc_t *inner, int to_inner,
                         int views, char *err, size_t errlen){
  memset(r, 0, sizeof(*r));
  r->to_inner = to_inner;
  if( dnnl_memory_desc_equal(outer, inner) ) return 0;
  if( views && lf_dnnl_md_same_bytes(outer, inner) ){
    /* Another name for the same bytes: the inner memory wraps the outer
    ** buffer (lf_relayout_mem), with no reorder. */
    return lf_dnnl_mem(&r->inner, inner, DNNL_MEMORY_NONE, err, errlen);
  }
  if( lf_dnnl_mem(&r->inner, inner, DNNL_MEMORY_ALLOCATE, err, errlen) ){
    return -1;
  }
  if( to_inner ? lf_prim_reorder(&r->reorder, outer, inner, err, errlen)
               : lf_prim_reorder(&r->reorder, inner, outer, err, errlen) ){
    lf_relayout_free(r);
    return -1;
  }
  return 0;
}

int lf_relayout_init(lf_relayout *r, const dnnl_memory_desc_t *outer,
                     const dnnl_memory_desc_t *inner, int to_inner,
                     char *err, size_t errlen){
  return relayout_init(r, outer, inner, to_inner, 1, err, errlen);
}

int lf_relayout_init_copying(lf_relayout *r, const dnnl_memory_desc_t *outer,
                             const dnnl_memory_desc_t *inner, int to_inner,
                             char *err, size_t errlen){
  return relayout_init(r, outer, inner, to_inner, 0, err, errlen);
}

/* An inner memory without a reorder wraps the outer buffer (same bytes). */
static int relayout_is_view(const lf_relayout *r){
  return r->inner && r->reorder.pd==0;
}

dnnl_memory_t lf_relayout_mem(const lf_relayout *r, dnnl_memory_t outer){
  if( relayout_is_view(r) ){
    float *p = lf_dnnl_ptr(outer);
    if( p==0 ) return 0;
    /* Each batch hands the same buffers: re-point only when it changed. */
    if( lf_dnnl_ptr(r->inner)!=p ) dnnl_memory_set_data_handle(r->inner, p);
  }
  return r->inner ? r->inner : outer;
}

int lf_relayout_run(const lf_relayout *r, dnnl_memory_t outer,
                    dnnl_stream_t s, char *err, size_t errlen){
  dnnl_exec_arg_t a[2];
  if( r->inner==0 ) return 0;
  if( relayout_is_view(r) ){       /* for a caller reading r->inner next */
    lf_relayout_mem(r, outer);
    return 0;
  }
  a[0].arg = DNNL_ARG_FROM;
  a[1].arg = DNNL_ARG_TO;
  if( r->to_inner ){
    a[0].memory = outer;  a[1].memory = r->inner;
  }else{
    a[0].memory = r->inner;  a[1].memory = outer;
  }
  return lf_prim_run(&r->reorder, s, 2, a, "oneDNN reorder", err, errlen);
}

void lf_relayout_free(lf_relayout *r){
  if( r->inner ) dnnl_memory_destroy(r->inner);
  lf_prim_free(&r->reorder);
  memset(r, 0, sizeof(*r));
}

void lf_fill_uniform(float *x, int64_t n, double bound, lf_rng *rng){
  int64_t i;
  for(i=0; i<n; i++){
    x[i] = (float)((2.0*lf_rng_uniform(rng) - 1.0) * bound);
  }
}

void lf_fill_const(float *x, int64_t n, float v){
  int64_t i;
  for(i=0; i<n; i++) x[i] = v;
}
