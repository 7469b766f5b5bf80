/*
** lf_batch.c — the batch gather (lf_batch.h).
*/
#include <string.h>
#include "lf_batch.h"
#include "lf_signals.h"
#include "lf_tensor.h"

void lf_batch_gather(const lf_batch_src *src, const int64_t *idx, int64_t start, int nb,
                     int tw, float *xb, uint16_t *x16, float *yb){
  int64_t cnt = src->count;
  /* Nested inside the caller's hold (once per batch) this only counts. */
  lf_signals_hold();
  #pragma omp parallel for schedule(static) if((int64_t)nb*cnt >= 32768)
  for(int i=0; i<nb; i++){
    int64_t s = idx ? idx[start+i] : start+i;
    size_t at = (size_t)s*(size_t)cnt, to = (size_t)i*(size_t)cnt;
    if( src->x16 ) memcpy(x16 + to, src->x16 + at, (size_t)cnt*sizeof(uint16_t));
    else if( x16 ) lf_bf16_from_f32_n(x16 + to, src->x + at, cnt);
    else memcpy(xb + to, src->x + at, (size_t)cnt*sizeof(float));
  }
  lf_signals_release();
  for(int i=0; i<nb; i++){
    int64_t s = idx ? idx[start+i] : start+i;
    for(int k=0; k<tw; k++) yb[(size_t)i*tw + k] = src->y[s];
  }
}
