/*
** lf_json.h — reading JSON text LabFlow is handed (configs, settings,
** patches, options): one object, or a clear error. (JSON merge patches:
** lf_json_patch.h; canonical JSON and hashes: lf_canon.h.)
*/
#ifndef LF_JSON_H
#define LF_JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Parses JSON text into a cJSON object; err names the problem. */
cJSON *lf_json_parse_object(const char *text, const char *what, char *err, size_t n);

#endif
