/*
** lf_net_single.h — one sample through a small network without oneDNN.
**
** Scoring a table row by row (SELECT ppl_predict('m', x) FROM t) runs the
** network once per row on a batch of one. Through oneDNN each primitive
** execution costs thousands of instructions of dispatch (argument maps,
** the parallel section, signal masking around its JIT GEMM), far more than
** the few hundred multiply-adds of a small MLP's layer. For networks made
** only of Linear layers and simple element-wise activations (ReLU,
** LeakyReLU, Tanh, Sigmoid) and layers that are no-ops in inference on a
** plain layout (Dropout, Flatten, Identity, Reshape), a plan made once per
** cached model runs one sample with plain loops over the net's own
** parameters, on the calling thread, with no allocation.
**
** Results agree with the oneDNN path within float rounding (the sums run
** in another order); tests/c/test_net_single.c compares the two. Every
** other network (convolutions, batch norm, graphs that branch, bf16 nets)
** gets no plan and keeps the oneDNN path.
**
**   lf_net_single_plan(net)          NULL when the net is not of that kind
**   lf_net_single_forward(p, x)      count(out) floats, valid until the next
**                                    call; x is count(in) floats
**   lf_net_single_free(p)
** The plan reads biases and narrow layers' weights where they are and
** keeps a transposed copy of wider layers' weights (the loop order that
** vectorises): make it after the weights are loaded, and free it before
** the net.
*/
#ifndef LF_NET_SINGLE_H
#define LF_NET_SINGLE_H

#include "lf_net.h"

typedef struct lf_net_single lf_net_single;

lf_net_single *lf_net_single_plan(const lf_net *net);
const float *lf_net_single_forward(lf_net_single *p, const float *x);
void lf_net_single_free(lf_net_single *p);

#endif
