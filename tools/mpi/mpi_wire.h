/*
** mpi_wire.h — labflow-mpi's messages: a byte buffer of tagged-free fields
** (integers, doubles, strings, blobs) written in order and read back in
** the same order, sent as one MPI message of MPI_BYTEs. Reading past the
** end or a malformed field sets `bad` instead of crashing.
*/
#ifndef LF_MPI_WIRE_H
#define LF_MPI_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Message tags. */
enum {
  TAG_JOB = 1,      /* rank 0 -> worker: a pipeline to train */
  TAG_STOP,         /* rank 0 -> worker: stop the job at the next batch */
  TAG_QUIT,         /* rank 0 -> worker: no more work */
  TAG_RESULT,       /* worker -> rank 0: one finished epoch */
  TAG_ENDED         /* worker -> rank 0: the job ended (how, why) */
};

typedef struct lf_msg {
  unsigned char *p;
  size_t len, cap, at;
  int bad;
} lf_msg;

void msg_free(lf_msg *m);
void msg_put_i64(lf_msg *m, int64_t v);
void msg_put_f64(lf_msg *m, double v);
void msg_put_str(lf_msg *m, const char *s);      /* NULL allowed */
void msg_put_blob(lf_msg *m, const void *p, size_t len);
int64_t msg_get_i64(lf_msg *m);
double msg_get_f64(lf_msg *m);
char *msg_get_str(lf_msg *m);                    /* malloc'ed; NULL if sent NULL */
/* Points into the message (valid until msg_free); *len its size. */
const void *msg_get_blob(lf_msg *m, size_t *len);

/* One blocking send; 0 or -1 (too large for one message). */
int msg_send(lf_msg *m, int dest, int tag);
/* The same, not blocking: m must stay unchanged until *req completes
** (req is an MPI_Request*, void here to keep mpi.h out). */
int msg_isend(lf_msg *m, int dest, int tag, void *req);
/* Receives the next message from src (MPI_ANY_SOURCE allowed) with tag
** (MPI_ANY_TAG allowed) into m (reset first); from and tag_out may be NULL. */
int msg_recv(lf_msg *m, int src, int tag, int *from, int *tag_out);
/* The same to every rank from root (every rank calls it). */
int msg_bcast(lf_msg *m, int root);

/* Reads a whole file; 0, or -1 with err. */
int read_whole_file(const char *path, unsigned char **buf, size_t *len, char *err, size_t n);

#endif
