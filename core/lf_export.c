/*
** lf_export.c — ppl_export (see lf_export.h): the pipeline's network, as
** the weight file of one epoch fills it, walked node by node through each
** layer's `onnx` hook (kernels/lf_layer.h), behind the input preprocessing
** and before the output mode; then serialised (lf_onnx_pb.c) and written
** atomically.
**
** Everything that can be refused is checked before any file is touched:
** the options, the build, the path, the pipeline, every layer (by its
** config path and loc), the epoch and its weight file.
*/
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lf_export.h"
#include "lf_db.h"
#include "lf_model.h"
#include "lf_ppl.h"
#include "lf_predict.h"
#include "lf_onnx_pb.h"
#include "lf_file.h"
#include "lf_tabular.h"
#include "../kernels/lf_layer.h"

typedef struct export_opts {
  lf_predict_mode mode;
  int overwrite;
} export_opts;

static const char *mode_name(lf_predict_mode m){
  return m == LF_PREDICT_PROBA ? "proba" : m == LF_PREDICT_CLASS ? "class" : "raw";
}

static int parse_options(const char *text, export_opts *o, char *err, size_t n){
  o->mode = LF_PREDICT_RAW;
  o->overwrite = 0;
  if( !text ) return 0;
  cJSON *j = lf_json_parse_object(text, "options", err, n);
  if( !j ) return -1;
  int rc = 0;
  for(const cJSON *c = j->child; c && rc == 0; c = c->next){
    if( strcmp(c->string, "output") == 0 ){
      if( !cJSON_IsString(c) || lf_predict_mode_parse(c->valuestring, &o->mode) ){
        snprintf(err, n, "options.output must be \"raw\", \"proba\" or \"class\"");
        rc = -1;
      }
    }else if( strcmp(c->string, "overwrite") == 0 ){
      if( !cJSON_IsBool(c) ){
        snprintf(err, n, "options.overwrite must be true or false");
        rc = -1;
      }
      o->overwrite = cJSON_IsTrue(c);
    }else{
      snprintf(err, n, "unknown option '%.60s' (known: output, overwrite)", c->string);
      rc = -1;
    }
  }
  cJSON_Delete(j);
  return rc;
}

/* ---- where the file may go ------------------------------------------------- */

static int has_dotdot(const char *p){
  for(const char *s = p; *s; ){
    const char *e = strchr(s, '/');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if( len == 2 && s[0] == '.' && s[1] == '.' ) return 1;
    s += len;
    while( *s == '/' ) s++;
  }
  return 0;
}

/* dir of path (malloc'ed), "/" for a file at the root. */
static char *parent_of(const char *path){
  const char *slash = strrchr(path, '/');
  if( !slash ) return strdup(".");
  if( slash == path ) return strdup("/");
  char *d = malloc((size_t)(slash - path) + 1);
  if( d ){ memcpy(d, path, (size_t)(slash - path)); d[slash - path] = 0; }
  return d;
}

/* The absolute path the file goes to, after the rules of lf_export.h. */
static char *export_path(sqlite3 *db, const char *given, int overwrite, char *err, size_t n){
  if( !given[0] ){ snprintf(err, n, "path is empty"); return NULL; }
  size_t len = strlen(given);
  if( given[len-1] == '/' ){ snprintf(err, n, "path '%s' names a folder; give a file name such as model.onnx", given); return NULL; }
  int relative = given[0] != '/';
  if( relative && has_dotdot(given) ){
    snprintf(err, n, "a relative path must stay inside the project's folder (no '..'): '%s'; "
             "give an absolute path to write elsewhere", given);
    return NULL;
  }
  char *path = lf_project_resolve_path(db, given);
  char *dir = path ? parent_of(path) : NULL;
  char *real_dir = NULL, *real_base = NULL;
  if( !path || !dir ){ snprintf(err, n, "out of memory"); goto fail; }
  struct stat st;
  if( stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ){
    snprintf(err, n, "cannot write %s: the folder %s does not exist (create it first)", path, dir);
    goto fail;
  }
  if( access(dir, W_OK) != 0 ){
    snprintf(err, n, "cannot write %s: the folder %s is not writable (%s)", path, dir, strerror(errno));
    goto fail;
  }
  if( relative ){
    /* A link below the project's folder must not lead the file out. */
    char *base = lf_project_dbdir(db);
    if( !base ) base = getcwd(NULL, 0);
    real_dir = realpath(dir, NULL);
    real_base = base ? realpath(base, NULL) : NULL;
    free(base);
    size_t bl = real_base ? strlen(real_base) : 0;
    if( !real_dir || !real_base || strncmp(real_dir, real_base, bl) != 0
     || (real_dir[bl] != 0 && real_dir[bl] != '/' && strcmp(real_base, "/") != 0) ){
      snprintf(err, n, "the relative path '%s' leads out of the project's folder %s through a link; "
               "give an absolute path to write there", given, real_base ? real_base : "?");
      goto fail;
    }
  }
  if( lstat(path, &st) == 0 ){
    if( !S_ISREG(st.st_mode) ){
      snprintf(err, n, "%s exists and is not a regular file (%s); choose another path", path, lf_file_kind(st.st_mode));
      goto fail;
    }
    if( !overwrite ){
      snprintf(err, n, "%s already exists; give another path, or options '{\"overwrite\": true}' to replace it", path);
      goto fail;
    }
  }
  free(dir);
  free(real_dir);
  free(real_base);
  return path;
fail:
  free(path);
  free(dir);
  free(real_dir);
  free(real_base);
  return NULL;
}

/* ---- the graph ------------------------------------------------------------- */

/* Refuses, by config path and loc, every layer without an ONNX form, and
** models with several inputs. (Named input groups are one input: the
** data row the model slices; categorical columns come coded, as in
** ppl_predict's array form, with the vocabularies in the metadata.) */
static int check_exportable(const lf_model *m, char *err, size_t n){
  for(int i=0; i<m->spec.nnodes; i++){
    const lf_layer_ops *ops = m->spec.nodes[i].layer.ops;
    if( !ops->onnx ){
      snprintf(err, n, "%s is %s, which has no ONNX export in this LabFlow; no file was written "
               "(ppl_predict and ppl_evaluate still run this pipeline)", m->spec.node_paths[i], ops->loc);
      return -1;
    }
  }
  if( m->spec.ninputs != 1 ){
    snprintf(err, n, "the model reads %d inputs (%s, %s%s); ONNX export takes models with one input "
             "(a Sequential, or a Graph without \"inputs\"); no file was written", m->spec.ninputs,
             m->spec.input_names[0], m->spec.input_names[1], m->spec.ninputs > 2 ? ", ..." : "");
    return -1;
  }
  return 0;
}

/* Dataset scale, then standardisation, on the raw input. */
static const char *preprocess(lf_onnx *g, const lf_model *m, const char *x){
  double scale = m->spec.dataset.scale;
  if( scale > 0 ) x = lf_onnx_op2(g, "Div", x, lf_onnx_scalar(g, "input_scale", (float)scale));
  if( m->mean ){
    x = lf_onnx_op2(g, "Sub", x, lf_onnx_f32(g, "input_mean", m->in.ndim, m->in.dim, m->mean));
    x = lf_onnx_op2(g, "Div", x, lf_onnx_f32(g, "input_std", m->in.ndim, m->in.dim, m->std));
  }
  return x;
}

/* The output mode, as lf_predict_format computes it. */
static const char *postprocess(lf_onnx *g, const lf_model *m, lf_predict_mode mode, const char *y){
  int bce = m->spec.loss.kind == LF_LOSS_BCE_WITH_LOGITS;
  if( mode == LF_PREDICT_RAW ) return y;
  if( m->out.ndim != 1 ){
    lf_onnx_attr ax = LF_ONNX_I("axis", 1);
    const char *in[1] = { y };
    y = lf_onnx_op(g, "Flatten", 1, in, 1, &ax);
  }
  if( mode == LF_PREDICT_PROBA ){
    if( bce ) return lf_onnx_op1(g, "Sigmoid", y);
    lf_onnx_attr ax = LF_ONNX_I("axis", -1);
    const char *in[1] = { y };
    return y ? lf_onnx_op(g, "Softmax", 1, in, 1, &ax) : NULL;
  }
  if( bce ){
    /* class 1 when the first output is above 0 */
    int64_t zero = 0;
    lf_onnx_attr ax = LF_ONNX_I("axis", 1), to = LF_ONNX_I("to", LF_ONNX_INT64);
    const char *gi[2] = { y, lf_onnx_i64(g, "first", 0, NULL, &zero) };
    const char *first = lf_onnx_op(g, "Gather", 2, gi, 1, &ax);
    const char *gt[1] = { lf_onnx_op2(g, "Greater", first, lf_onnx_scalar(g, "zero", 0.0f)) };
    return gt[0] ? lf_onnx_op(g, "Cast", 1, gt, 1, &to) : NULL;
  }
  lf_onnx_attr am[2] = { LF_ONNX_I("axis", 1), LF_ONNX_I("keepdims", 0) };
  const char *in[1] = { y };
  return y ? lf_onnx_op(g, "ArgMax", 1, in, 2, am) : NULL;
}

/* The network's nodes; returns the output value's name. */
static const char *network(lf_onnx *g, const lf_model *m, const char *x, char *err, size_t n){
  const lf_net *net = m->net;
  int nn = lf_net_node_count(net);
  const char **names = calloc((size_t)nn + 1, sizeof(char*));
  const char *ins[LF_LAYER_MAX_INPUTS];
  const char *result = NULL;
  if( !names ){ snprintf(err, n, "out of memory"); return NULL; }
  names[0] = x;                        /* one input (check_exportable) */
  for(int i=0; i<nn; i++){
    const lf_layer *L = lf_net_node_layer(net, i);
    for(int k=0; k<L->nin; k++) ins[k] = names[lf_net_node_input(net, i, k)];
    char why[512] = "";
    if( !L->ops->onnx ){
      snprintf(err, n, "layer %d (%s) has no ONNX export in this LabFlow; no file was written", i, L->ops->loc);
      goto done;
    }
    if( L->ops->onnx(L, g, ins, &names[1 + i], why, sizeof why) ){
      snprintf(err, n, "layer %d (%s): %s", i, L->ops->loc, why);
      goto done;
    }
  }
  result = names[lf_net_output_value(net)];
done:
  free(names);
  return result;
}

/* ---- metadata -------------------------------------------------------------- */

#define MAX_META 16
typedef struct meta {
  int n;
  const char *key[MAX_META];
  char *value[MAX_META];
} meta;

static int meta_put(meta *md, const char *key, const char *value){
  if( md->n >= MAX_META || !value ) return -1;
  md->key[md->n] = key;
  md->value[md->n] = strdup(value);
  return md->value[md->n++] ? 0 : -1;
}

static void meta_free(meta *md){
  for(int i=0; i<md->n; i++) free(md->value[i]);
}

static char *shape_json(const lf_shape *s){
  char buf[256];
  return strdup(lf_shape_str(s, buf, sizeof buf));
}

static char *classes_json(const lf_model *m){
  cJSON *a = cJSON_CreateArray();
  for(int i=0; a && i<m->nclasses_text; i++) cJSON_AddItemToArray(a, cJSON_CreateString(m->classes[i]));
  char *t = a ? cJSON_PrintUnformatted(a) : NULL;
  cJSON_Delete(a);
  return t;
}

/* The input's columns and, per categorical column, its vocabulary: code
** k is vocab[k-1], 0 a value not seen in training. -1 out of memory. */
static int tabular_json(const lf_model *m, char **cols, char **vocab){
  const lf_tabular *t = m->tab;
  cJSON *c = cJSON_CreateArray(), *v = cJSON_CreateObject();
  for(int j=0; c && v && j<t->ncols && j<m->spec.dataset.nfeatures; j++){
    const char *name = m->spec.dataset.features[j];
    cJSON_AddItemToArray(c, cJSON_CreateString(name));
    if( !t->categorical[j] ) continue;
    cJSON *a = cJSON_AddArrayToObject(v, name);
    for(int k=0; a && k<t->nvocab[j]; k++) cJSON_AddItemToArray(a, cJSON_CreateString(t->vocab[j][k]));
  }
  *cols = c ? cJSON_PrintUnformatted(c) : NULL;
  *vocab = v ? cJSON_PrintUnformatted(v) : NULL;
  cJSON_Delete(c);
  cJSON_Delete(v);
  return *cols && *vocab ? 0 : -1;
}

static char *preprocessing_text(const lf_model *m){
  char buf[256];
  double scale = m->spec.dataset.scale;
  if( scale > 0 && m->mean ) snprintf(buf, sizeof buf, "divide by %g, then standardise with the training split's mean and std", scale);
  else if( scale > 0 ) snprintf(buf, sizeof buf, "divide by %g", scale);
  else if( m->mean ) snprintf(buf, sizeof buf, "standardise with the training split's mean and std");
  else snprintf(buf, sizeof buf, "none");
  return strdup(buf);
}

/* ---- ppl_export -------------------------------------------------------------- */

char *lf_export_onnx(sqlite3 *db, const char *pplid, const char *path_arg, const char *which,
                     const char *options, const char *version, char *err, size_t n){
  export_opts o;
  lf_model m;
  lf_onnx g;
  meta md = {0};
  char *path = NULL, *wpath = NULL, *hash = NULL, *result = NULL;
  unsigned char *buf = NULL;
  size_t len = 0;
  int epoch = 0, opened = 0, caller_threads = 0;
  lf_onnx_init_graph(&g);
  if( parse_options(options, &o, err, n) || lf_onnx_available(err, n) ) return NULL;
  if( !(path = export_path(db, path_arg, o.overwrite, err, n)) ) return NULL;
  if( lf_model_open(db, pplid, &m, err, n) ) goto done;
  opened = 1;
  caller_threads = lf_threads_apply(m.settings.threads);
  if( lf_predict_check_mode(&m, o.mode, err, n) || check_exportable(&m, err, n) ) goto done;
  if( lf_model_pick_epoch(db, pplid, which, &epoch, err, n) || lf_model_load_classes(db, pplid, &m, err, n) ) goto done;
  if( !(wpath = lf_ppl_path(m.artifacts, "weight", pplid, epoch, err, n)) ) goto done;
  /* The weight file holds the f32 master weights, whatever the precision
  ** the pipeline trained in. */
  if( lf_model_load_weights(&m, wpath, err, n) ) goto done;

  const char *x = preprocess(&g, &m, "input");
  const char *y = x ? network(&g, &m, x, err, n) : NULL;
  if( !y ){ if( g.oom || !x ) snprintf(err, n, "out of memory"); goto done; }
  y = postprocess(&g, &m, o.mode, y);
  const char *out_name = o.mode == LF_PREDICT_CLASS ? "class" : "output";
  if( !y || lf_onnx_rename(&g, y, out_name) || g.oom ){ snprintf(err, n, "out of memory"); goto done; }

  int64_t nout = lf_shape_count(&m.out);
  lf_onnx_model mm = {
    .graph = &g,
    .input = { "input", LF_ONNX_FLOAT, m.in.ndim, m.in.dim },
    .graph_name = pplid,
    .producer_version = version,
  };
  if( o.mode == LF_PREDICT_CLASS ) mm.output = (lf_onnx_io){ out_name, LF_ONNX_INT64, 0, NULL };
  else if( o.mode == LF_PREDICT_PROBA ) mm.output = (lf_onnx_io){ out_name, LF_ONNX_FLOAT, 1, &nout };
  else mm.output = (lf_onnx_io){ out_name, LF_ONNX_FLOAT, m.out.ndim, m.out.dim };

  hash = lf_db_text(db, "SELECT config_hash FROM main.ppls WHERE pplid=?1", pplid, err, n);
  char epoch_text[32], doc[512];
  snprintf(epoch_text, sizeof epoch_text, "%d", epoch);
  char *in_shape = shape_json(&m.in), *out_shape = shape_json(&m.out), *pre = preprocessing_text(&m);
  int bad = meta_put(&md, "pplid", pplid) | meta_put(&md, "epoch", epoch_text)
          | meta_put(&md, "config_hash", hash ? hash : "") | meta_put(&md, "labflow_version", version)
          | meta_put(&md, "output_mode", mode_name(o.mode)) | meta_put(&md, "input_shape", in_shape)
          | meta_put(&md, "output_shape", out_shape) | meta_put(&md, "preprocessing", pre);
  free(in_shape); free(out_shape); free(pre);
  if( m.tab ){
    /* ppl_predict's array input: one value per column, categorical ones
    ** as codes (1 + index in the column's vocabulary, 0 unknown). */
    char *cols = NULL, *vocab = NULL;
    bad |= tabular_json(&m, &cols, &vocab);
    bad |= meta_put(&md, "input_columns", cols) | meta_put(&md, "categorical_vocabularies", vocab);
    free(cols); free(vocab);
  }
  if( m.nclasses_text > 0 ){
    char *cj = classes_json(&m);
    bad |= meta_put(&md, "class_labels", cj);
    free(cj);
  }
  if( bad ){ snprintf(err, n, "out of memory"); goto done; }
  snprintf(doc, sizeof doc, "LabFlow pipeline %s at epoch %d. Input \"input\": float32 samples in the units "
           "ppl_predict takes (the preprocessing is part of the graph). Output \"%s\": ppl_predict's mode '%s'%s.",
           pplid, epoch, out_name, mode_name(o.mode),
           o.mode == LF_PREDICT_CLASS && m.nclasses_text ? " as an index into the metadata class_labels" : "");
  mm.doc = doc;
  mm.nmeta = md.n;
  mm.meta_key = md.key;
  mm.meta_value = (const char *const *)md.value;
  if( lf_onnx_serialize(&mm, &buf, &len, err, n) ) goto done;
  int wrc = o.overwrite ? lf_write_file_atomic(path, buf, len, err, n)
                        : lf_write_file_new(path, "ONNX file", buf, len, err, n);
  if( wrc ) goto done;

  cJSON *r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "path", path);
  cJSON_AddStringToObject(r, "pplid", pplid);
  cJSON_AddNumberToObject(r, "epoch", epoch);
  cJSON_AddNumberToObject(r, "bytes", (double)len);
  cJSON_AddNumberToObject(r, "opset", LF_ONNX_OPSET);
  cJSON_AddStringToObject(r, "mode", mode_name(o.mode));
  cJSON_AddStringToObject(r, "input", "input");
  cJSON_AddStringToObject(r, "output", out_name);
  result = r ? cJSON_PrintUnformatted(r) : NULL;
  cJSON_Delete(r);
  if( !result ) snprintf(err, n, "out of memory (the file %s was written)", path);
done:
  meta_free(&md);
  free(buf);
  free(hash);
  free(wpath);
  free(path);
  lf_onnx_free(&g);
  if( opened ) lf_model_close(&m);
  if( opened ) lf_threads_restore(caller_threads);
  return result;
}
