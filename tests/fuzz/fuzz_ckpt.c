/*
** fuzz_ckpt.c — libFuzzer harness for the weight-file reader
** (lf_ckpt_read_mem). A file that reads back is written again with
** lf_ckpt_write and must read back identically.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lf_ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  lf_tensor_rec *t = NULL;
  int n = 0;
  char err[512];
  if( lf_ckpt_read_mem(data, size, &t, &n, err, sizeof err) != 0 ){
    if( t != NULL || n != 0 || err[0] == 0 ) abort();   /* failure: nothing out, a message */
    return 0;
  }
  static char path[64];
  if( !path[0] ) snprintf(path, sizeof path, "/tmp/lf-fuzz-ckpt-%ld.lfw", (long)getpid());
  if( lf_ckpt_write(path, t, n, 1, err, sizeof err) == 0 ){
    lf_tensor_rec *u = NULL;
    int m = 0;
    if( lf_ckpt_read(path, &u, &m, err, sizeof err) != 0 || m != n ) abort();
    for(int i=0; i<n; i++){
      if( strcmp(t[i].name, u[i].name) || t[i].dtype != u[i].dtype || t[i].ndim != u[i].ndim ) abort();
      size_t bytes = (size_t)t[i].dtype;
      for(int d=0; d<t[i].ndim; d++) bytes *= (size_t)t[i].dim[d];
      if( memcmp(t[i].data, u[i].data, bytes) ) abort();
    }
    lf_ckpt_free(u, m);
    unlink(path);
  }
  lf_ckpt_free(t, n);
  return 0;
}
