/*
** lf_export.h — ppl_export: a pipeline's network at one kept epoch as an
** ONNX model that takes the same raw inputs as ppl_predict (the dataset's
** scale and the training split's standardisation are nodes of the graph)
** and gives the outputs of one ppl_predict mode. Named input groups are
** the one data row they are sliced from; categorical columns come as codes
** (ppl_predict's array form), the vocabularies in the metadata.
**
** Where it may write: a relative path is resolved in the database's folder
** and must stay inside it (no "..", no link leading out); an absolute path
** is taken as given, because ppl_export is SQLITE_DIRECTONLY and guarded
** (ext/lf_guard.c): only a statement you run yourself can call it, never a
** view, trigger or schema of a database someone sent you. The file is
** written atomically, and an existing file is replaced only with the
** option "overwrite": true.
*/
#ifndef LF_EXPORT_H
#define LF_EXPORT_H

#include <stddef.h>
#include "lf_sqlite.h"

/* Writes the ONNX file; returns a JSON object text (malloc'ed) describing
** it: {"path", "epoch", "bytes", "opset", "input", "input_shape", "output",
** "output_shape", "mode"}, or NULL with err. which: "best", "last" or an
** epoch number. options: NULL or {"output": "raw"|"proba"|"class",
** "overwrite": bool}. version: LabFlow's, for the metadata. */
char *lf_export_onnx(sqlite3 *db, const char *pplid, const char *path, const char *which,
                     const char *options, const char *version, char *err, size_t n);

#endif
