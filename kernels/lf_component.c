/*
** lf_component.c — what every component's args struct needs regardless of
** its kind: defaults set from the schema, owned strings freed.
*/
#include <stdint.h>
#include <stdlib.h>
#include "lf_component.h"

void lf_component_defaults(const lf_component *c, void *spec){
  char *base = spec;
  for(const lf_arg_spec *a = c->args; a && a->name; a++){
    if( !a->has_default ) continue;
    switch( a->type ){
      case LF_ARG_INT: case LF_ARG_BOOL: case LF_ARG_DTYPE:
        *(int*)(base + a->offset) = (int)a->def; break;
      case LF_ARG_INT64: *(int64_t*)(base + a->offset) = (int64_t)a->def; break;
      case LF_ARG_NUM: *(double*)(base + a->offset) = a->def; break;
      case LF_ARG_INT_PAIR:
        ((int*)(base + a->offset))[0] = ((int*)(base + a->offset))[1] = (int)a->def; break;
      default: break;
    }
  }
}

void lf_component_free_args(const lf_component *c, void *spec){
  char *base = spec;
  if( !spec ) return;
  for(const lf_arg_spec *a = c->args; a && a->name; a++){
    if( a->type==LF_ARG_STR ){
      free(*(char**)(base + a->offset));
      *(char**)(base + a->offset) = NULL;
    }else if( a->type==LF_ARG_INT_LIST ){
      free(*(int**)(base + a->offset));
      *(int**)(base + a->offset) = NULL;
      *(int*)(base + a->offset2) = 0;
    }else if( a->type==LF_ARG_STR_LIST ){
      char **list = *(char***)(base + a->offset);
      int n = *(int*)(base + a->offset2);
      for(int i=0; list && i<n; i++) free(list[i]);
      free(list);
      *(char***)(base + a->offset) = NULL;
      *(int*)(base + a->offset2) = 0;
    }
  }
}
