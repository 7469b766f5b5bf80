/*
** lf_test_spec.h — layer specs with the component table's defaults, for
** the C tests that build nets by hand. Args live in a static arena, so a
** spec needs no free; a test changes them through ARG(s, type).
*/
#ifndef LF_TEST_SPEC_H
#define LF_TEST_SPEC_H
#include "lf_layer.h"
#include "lf_registry.h"

#include <string.h>

static _Alignas(16) char lf_test_arena[1<<20];
static size_t lf_test_arena_used;

/* A layer with its registry defaults (ops NULL if loc is unknown). */
static lf_layer_spec spec(const char *loc){
  const lf_component *c = lf_registry_find_kind(LF_KIND_LAYER, loc);
  lf_layer_spec s;
  memset(&s, 0, sizeof s);
  if( c==0 ) return s;
  s.ops = c->layer;
  if( c->spec_size && lf_test_arena_used + c->spec_size <= sizeof lf_test_arena ){
    void *a = lf_test_arena + lf_test_arena_used;
    lf_test_arena_used += (c->spec_size + 15) & ~(size_t)15;
    lf_component_defaults(c, a);
    s.args = a;
  }
  return s;
}
#define ARG(s, type) ((type*)(s).args)

#endif
