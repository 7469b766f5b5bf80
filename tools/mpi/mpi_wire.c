/*
** mpi_wire.c — labflow-mpi's message buffers (mpi_wire.h).
*/
#include <mpi.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mpi_wire.h"
#include "../../core/lf_file.h"

void msg_free(lf_msg *m){
  free(m->p);
  memset(m, 0, sizeof *m);
}

static void put(lf_msg *m, const void *p, size_t k){
  if( m->bad ) return;
  if( m->len + k > m->cap ){
    size_t cap = m->cap ? m->cap : 256;
    while( cap < m->len + k ) cap *= 2;
    unsigned char *q = realloc(m->p, cap);
    if( !q ){ m->bad = 1; return; }
    m->p = q;
    m->cap = cap;
  }
  if( k ) memcpy(m->p + m->len, p, k);
  m->len += k;
}

static int get(lf_msg *m, void *p, size_t k){
  if( m->bad || m->len - m->at < k ){ m->bad = 1; memset(p, 0, k); return -1; }
  memcpy(p, m->p + m->at, k);
  m->at += k;
  return 0;
}

void msg_put_i64(lf_msg *m, int64_t v){ put(m, &v, sizeof v); }
void msg_put_f64(lf_msg *m, double v){ put(m, &v, sizeof v); }

void msg_put_blob(lf_msg *m, const void *p, size_t len){
  int64_t k = (int64_t)len;
  put(m, &k, sizeof k);
  put(m, p, len);
}

void msg_put_str(lf_msg *m, const char *s){
  int64_t k = s ? (int64_t)strlen(s) : -1;
  put(m, &k, sizeof k);
  if( s ) put(m, s, (size_t)k);
}

int64_t msg_get_i64(lf_msg *m){ int64_t v; get(m, &v, sizeof v); return v; }
double msg_get_f64(lf_msg *m){ double v; get(m, &v, sizeof v); return v; }

const void *msg_get_blob(lf_msg *m, size_t *len){
  int64_t k = msg_get_i64(m);
  *len = 0;
  if( m->bad || k < 0 || (uint64_t)k > m->len - m->at ){ m->bad = 1; return NULL; }
  const void *p = m->p + m->at;
  m->at += (size_t)k;
  *len = (size_t)k;
  return p;
}

char *msg_get_str(lf_msg *m){
  int64_t k = msg_get_i64(m);
  if( m->bad || k < 0 ) return NULL;
  if( (uint64_t)k > m->len - m->at ){ m->bad = 1; return NULL; }
  char *s = malloc((size_t)k + 1);
  if( !s ){ m->bad = 1; return NULL; }
  memcpy(s, m->p + m->at, (size_t)k);
  s[k] = 0;
  m->at += (size_t)k;
  return s;
}

int msg_send(lf_msg *m, int dest, int tag){
  if( m->bad || m->len > INT_MAX ) return -1;
  return MPI_Send(m->p, (int)m->len, MPI_BYTE, dest, tag, MPI_COMM_WORLD)==MPI_SUCCESS ? 0 : -1;
}

int msg_isend(lf_msg *m, int dest, int tag, void *req){
  if( m->bad || m->len > INT_MAX ) return -1;
  return MPI_Isend(m->p, (int)m->len, MPI_BYTE, dest, tag, MPI_COMM_WORLD, (MPI_Request*)req)==MPI_SUCCESS ? 0 : -1;
}

int msg_recv(lf_msg *m, int src, int tag, int *from, int *tag_out){
  MPI_Status st;
  int count = 0;
  msg_free(m);
  if( MPI_Probe(src, tag, MPI_COMM_WORLD, &st) != MPI_SUCCESS ) return -1;
  MPI_Get_count(&st, MPI_BYTE, &count);
  m->p = malloc(count > 0 ? (size_t)count : 1);
  if( !m->p ) return -1;
  m->cap = m->len = (size_t)count;
  if( MPI_Recv(m->p, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS ) return -1;
  if( from ) *from = st.MPI_SOURCE;
  if( tag_out ) *tag_out = st.MPI_TAG;
  return 0;
}

int msg_bcast(lf_msg *m, int root){
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int64_t len = rank==root ? (m->bad ? -1 : (int64_t)m->len) : 0;
  MPI_Bcast(&len, 1, MPI_INT64_T, root, MPI_COMM_WORLD);
  if( len < 0 || len > INT_MAX ) return -1;
  if( rank != root ){
    msg_free(m);
    m->p = malloc(len > 0 ? (size_t)len : 1);
    if( !m->p ) return -1;
    m->cap = m->len = (size_t)len;
  }
  m->at = 0;
  return MPI_Bcast(m->p, (int)len, MPI_BYTE, root, MPI_COMM_WORLD)==MPI_SUCCESS ? 0 : -1;
}

int read_whole_file(const char *path, unsigned char **buf, size_t *len, char *err, size_t n){
  *buf = NULL;
  *len = 0;
  int fd = lf_open_regular(path, "file", err, n);
  if( fd < 0 ) return -1;
  size_t cap = 1 << 16, got = 0;
  unsigned char *b = malloc(cap);
  for(;;){
    if( !b ){ snprintf(err, n, "out of memory reading %s", path); close(fd); return -1; }
    if( got == cap ){
      unsigned char *q = realloc(b, cap *= 2);
      if( !q ){ free(b); b = NULL; continue; }
      b = q;
    }
    ssize_t k = read(fd, b + got, cap - got);
    if( k < 0 && errno == EINTR ) continue;
    if( k < 0 ){ snprintf(err, n, "cannot read %s: %s", path, strerror(errno)); free(b); close(fd); return -1; }
    if( k == 0 ) break;
    got += (size_t)k;
  }
  close(fd);
  *buf = b;
  *len = got;
  return 0;
}
