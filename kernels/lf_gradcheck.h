/*
** lf_gradcheck.h — the finite-difference gradient check of a net: every
** layer's backward (built-in or plugin) is held to it, by the layer tests
** (tests/c/test_layers.c) and by lab_gradcheck() for plugin authors.
**
** The loss is L = sum(y .* r) with r fixed normal noise; dL/dinput and
** dL/dparam of every trainable parameter from backward are compared with
** central differences (step h) on up to 48 coordinates each, in training
** mode (Dropout draws the same mask in every pass).
*/
#ifndef LF_GRADCHECK_H
#define LF_GRADCHECK_H

#include "lf_net.h"

/* The relative error below which a gradient passes. */
#define LF_GRADCHECK_TOL 1e-3

/* Runs the check on net (params initialised here from a fixed seed) for
** `batch` samples of per-sample shape in. x: the input (batch*count(in)
** floats, left unchanged) or NULL for normal noise. perturb_1d: move the
** 1-D trainable params off their initial values first (BatchNorm's affine
** params start at 1 and 0, where a wrong gradient could still pass).
** report(ctx, what, rel_err) is called for "input" and for each trainable
** parameter's name. 0, or -1 with err (forward/backward failed). */
int lf_gradcheck_net(lf_net *net, lf_shape in, int batch, const float *x,
                     double h, int perturb_1d,
                     void (*report)(void *ctx, const char *what, double rel_err),
                     void *ctx, char *err, size_t errlen);

#endif
