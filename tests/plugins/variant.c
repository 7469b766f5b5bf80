/*
** variant.c — small plugins for tests/sh/test_plugin.sh, one source built
** with -D options:
**   NAME="x"        the plugin's name (default "variant")
**   ABI=n           claim plugin ABI n instead of LFP_ABI_VERSION
**   FAIL_HALFWAY    register a good layer, then a loss whose args schema
**                   is refused (a string arg): registration fails part-way
**   MARKER="path"   create that file when the library is loaded (to show
**                   a library was never loaded)
**   WRONG_LOSS      also register "Wrong", a squared-error loss whose
**                   gradient is off by a factor of 2 (lab_gradcheck must
**                   catch it)
**   THREAD_PROBE    also register "Probe", the input as is, whose passes
**                   record omp_get_max_threads() in probe_threads (build
**                   with -fopenmp; tests/py/test_threads.py reads it)
*/
#include <labflow_plugin.h>
#include <stdio.h>

#ifndef NAME
#define NAME "variant"
#endif

#ifdef MARKER
__attribute__((constructor)) static void mark(void){
  FILE *f = fopen(MARKER, "w");
  if( f ) fclose(f);
}
#endif

static int same_infer(const void *a, const lfp_shape *in, int nin, lfp_shape *out, char *e, size_t n){
  (void)a; (void)nin; (void)e; (void)n;
  *out = *in;
  return 0;
}
/* Identity: the output is the input buffer (as Flatten/Identity do). */
static int same_build(const lfp_layer *L, lfp_layer_build *b, char *e, size_t n){
  (void)L; (void)e; (void)n;
  b->dst_md = *b->src_md;
  b->dst_is_src = 1;
  return 0;
}
static int same_run(const lfp_layer *L, void *s, const lfp_layer_run *r, char *e, size_t n){
  (void)L; (void)s; (void)r; (void)e; (void)n;
  return 0;
}
static const lfp_layer_ops same_ops = { .infer = same_infer, .build = same_build,
                                        .forward = same_run, .backward = same_run };
static const lfp_layer_def good = { "Good", "The input as is.", NULL, 0, NULL, &same_ops };

#ifdef THREAD_PROBE
#include <omp.h>
/* The OpenMP thread count the last pass of Probe ran with on its thread. */
__attribute__((visibility("default"))) int probe_threads = -1;
static int probe_run(const lfp_layer *L, void *s, const lfp_layer_run *r, char *e, size_t n){
  (void)L; (void)s; (void)r; (void)e; (void)n;
  probe_threads = omp_get_max_threads();
  return 0;
}
static const lfp_layer_ops probe_ops = { .infer = same_infer, .build = same_build,
                                         .forward = probe_run, .backward = probe_run };
static const lfp_layer_def probe = { "Probe", "The input as is; records the thread count.", NULL, 0, NULL, &probe_ops };
#endif

static double zero_loss(const void *a, const float *y, const float *t, int b, int k, float *dy){
  (void)a; (void)y; (void)t;
  for(int i=0; dy && i<b*k; i++) dy[i] = 0;
  return 0;
}
typedef struct { char *name; } str_args;
static const lfp_arg_spec string_arg[] = {
  {"name", (lfp_arg_type)6 /* a string: not a type plugins may use */, 0, 0, 0, 0, 0, 0, 0, 0, "a name"},
  {0}
};
static const lfp_loss_def bad = { "Bad", "Refused.", string_arg, sizeof(str_args), NULL, 0, zero_loss };

/* mean over values of (y - t)^2 / 2, with a gradient twice too large */
static double wrong_loss(const void *a, const float *y, const float *t, int b, int k, float *dy){
  double total = 0;
  (void)a;
  for(int i=0; i<b*k; i++){
    double d = (double)y[i] - t[i];
    total += d * d / 2;
    if( dy ) dy[i] = (float)(2 * d / (b * k));
  }
  return total / (b * k);
}
static const lfp_loss_def wrong = { "Wrong", "A loss with a wrong gradient.", NULL, 0, NULL, 0, wrong_loss };

static int reg(lfp_registrar *r, const lfp_host *h, char *err, size_t n){
  (void)err; (void)n;
  if( h->add_layer(r, &good) ) return -1;
#ifdef THREAD_PROBE
  if( h->add_layer(r, &probe) ) return -1;
#endif
#ifdef WRONG_LOSS
  if( h->add_loss(r, &wrong) ) return -1;
#else
  (void)wrong;
#endif
#ifdef FAIL_HALFWAY
  if( h->add_loss(r, &bad) ) return -1;
#else
  (void)bad;
#endif
  return 0;
}

#ifdef ABI
__attribute__((visibility("default"))) const lfp_plugin labflow_plugin = { ABI, NAME, "1", reg };
#else
LABFLOW_PLUGIN(NAME, "1", reg);
#endif
