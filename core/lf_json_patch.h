/*
** lf_json_patch.h — RFC 7396 JSON Merge Patch (ppl_fork, ppl_sweep).
*/
#ifndef LF_JSON_PATCH_H
#define LF_JSON_PATCH_H
#include <cjson/cJSON.h>
/* Returns a new document: target with patch applied (target is not
** modified); NULL on out of memory. */
cJSON *lf_json_merge_patch(const cJSON *target, const cJSON *patch);
/* The merge patch that turns object `from` into object `to` (changed keys,
** objects diffed key by key, removed keys as null); NULL on out of memory. */
cJSON *lf_json_merge_diff(const cJSON *from, const cJSON *to);
#endif
