/*
** lf_model.h — a pipeline's model as the trainer and inference see it:
** config specs, the network, the input transformation (standardisation)
** and the label classes, plus loading and saving weight files.
*/
#ifndef LF_MODEL_H
#define LF_MODEL_H

#include "lf_sqlite.h"
#include "lf_config.h"
#include "lf_project.h"
#include "lf_ckpt.h"

typedef struct lf_model {
  lf_settings settings;
  lf_pipeline_spec spec;
  char *artifacts;
  lf_shape in, out;
  lf_net *net;
  float *mean, *std;       /* standardisation (count(in) each), or NULL */
  char **classes;          /* text labels, or NULL */
  int nclasses_text;
  struct lf_tabular *tab;  /* named inputs: vocabularies and fills, or NULL */
} lf_model;

/* Reads settings and config of pplid and validates them. The network is
** not built yet (its input shape comes from data or a weight file). */
int lf_model_open(sqlite3 *db, const char *pplid, lf_model *m, char *err, size_t n);
/* 0 if the model reads one input (all datasets give one today), else -1
** with a message naming the model's inputs. */
int lf_model_single_input(const lf_pipeline_spec *spec, char *err, size_t n);
/* The same from the texts a process without the database is sent: the
** project's settings JSON, the stored config and the ppl_state classes
** (NULL: none). m->artifacts stays NULL. */
int lf_model_open_text(const char *settings_json, const char *config_json, const char *classes_json,
                       lf_model *m, char *err, size_t n);
/* Builds m->net for input shape in. */
int lf_model_build(lf_model *m, const lf_shape *in, char *err, size_t n);
void lf_model_close(lf_model *m);

/* Loads the classes JSON of ppl_state into m->classes. */
int lf_model_load_classes(sqlite3 *db, const char *pplid, lf_model *m, char *err, size_t n);

/* Resolves "best" / "last" / "N" to a kept epoch; error says why not. */
int lf_model_pick_epoch(sqlite3 *db, const char *pplid, const char *which,
                        int *epoch, char *err, size_t n);

/* Weight file: params and buffers, "__input_shape", "__input_mean/std",
** and for named inputs the "__tab_*" vocabularies (lf_tabular.h). */
int lf_model_save_weights(lf_model *m, const char *path, int level, int64_t *bytes,
                          char *err, size_t n);
/* Reads a weight file, builds the net if needed and loads the tensors. */
int lf_model_load_weights(lf_model *m, const char *path, char *err, size_t n);

#endif
