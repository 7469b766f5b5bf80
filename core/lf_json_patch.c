/*
** lf_json_patch.c — RFC 7396 JSON Merge Patch: objects merge key by key,
** null deletes a key, anything else replaces the target value whole.
*/
#include "lf_json_patch.h"

cJSON *lf_json_merge_patch(const cJSON *target, const cJSON *patch){
  if( !cJSON_IsObject(patch) ) return cJSON_Duplicate(patch, 1);
  cJSON *out = cJSON_IsObject(target) ? cJSON_Duplicate(target, 1) : cJSON_CreateObject();
  if( !out ) return NULL;
  for(const cJSON *p = patch->child; p; p = p->next){
    if( cJSON_IsNull(p) ){
      cJSON_DeleteItemFromObjectCaseSensitive(out, p->string);
      continue;
    }
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(out, p->string);
    cJSON *merged = lf_json_merge_patch(old, p);
    if( !merged ){ cJSON_Delete(out); return NULL; }
    if( old ) cJSON_ReplaceItemInObjectCaseSensitive(out, p->string, merged);
    else cJSON_AddItemToObject(out, p->string, merged);
  }
  return out;
}
