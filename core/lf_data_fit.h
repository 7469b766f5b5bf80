/*
** lf_data_fit.h — does a model's output fit its data's labels? The checks
** ppl_train makes after loading the data, made at ppl_new too (with the
** same messages), from the class count of the training split, which is
** read once per source and cached.
*/
#ifndef LF_DATA_FIT_H
#define LF_DATA_FIT_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include "lf_sqlite.h"
#include "lf_config.h"

/* 0 if a model with nout outputs can be trained with this loss on labels
** of nclasses classes (nclasses < 0: not known, only the loss's own rule
** is checked); else -1 with err saying what to change. */
int lf_outputs_fit(const lf_loss_spec *loss, int64_t nout, int nclasses, char *err, size_t n);

/* The class count of the training split of a config (spec parsed from
** cfg, src resolved): cached per process for file sources whose size and
** modification time did not change; sql sources are read each time.
** 0, or -1 with err (the source's own error, as ppl_train would give). */
int lf_data_classes(sqlite3 *db, const cJSON *cfg, const lf_pipeline_spec *spec,
                    const char *src, int *nclasses, char *err, size_t n);

#endif
