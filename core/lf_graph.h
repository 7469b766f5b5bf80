/*
** lf_graph.h — a config's model (Sequential, Residual, Graph, nested) as
** the flat node list lf_net_create_graph builds (see lf_graph.c).
*/
#ifndef LF_GRAPH_H
#define LF_GRAPH_H

#include <cjson/cJSON.h>
#include "lf_config.h"

/* Layers in one model, after nesting is flattened. */
#define LF_MAX_NODES 10000

/* Parses one layer component (loc, args; a Graph node's name and in are
** allowed) into *out, which then owns its args. 0, or -1 with the message
** left where the parser keeps it. */
typedef int (*lf_component_parser)(void *ctx, const cJSON *node, const char *path,
                                   lf_layer_spec *out);

/* Fills p->nodes, node_paths, nnodes, ninputs, input_names, output from
** the model component. */
int lf_graph_lower(const cJSON *model, lf_pipeline_spec *p, lf_component_parser parse,
                   void *ctx, char *err, size_t errlen);

/* The lf_net_graph of p for per-sample input shapes `inputs`. */
void lf_graph_of(const lf_pipeline_spec *p, const lf_shape *inputs, lf_net_graph *g);

#endif
