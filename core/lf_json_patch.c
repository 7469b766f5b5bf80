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

cJSON *lf_json_merge_diff(const cJSON *from, const cJSON *to){
  cJSON *patch = cJSON_CreateObject();
  if( !patch ) return NULL;
  for(const cJSON *t = to->child; t; t = t->next){
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(from, t->string);
    if( f && cJSON_Compare(f, t, 1) ) continue;
    /* A null value cannot be patched in (null deletes); configs hold none
    ** that differ, and the result is still checked by the caller. */
    cJSON *v = f && cJSON_IsObject(f) && cJSON_IsObject(t) ? lf_json_merge_diff(f, t) : cJSON_Duplicate(t, 1);
    if( !v ){ cJSON_Delete(patch); return NULL; }
    cJSON_AddItemToObject(patch, t->string, v);
  }
  for(const cJSON *f = from->child; f; f = f->next){
    if( cJSON_GetObjectItemCaseSensitive(to, f->string) ) continue;
    cJSON *v = cJSON_CreateNull();
    if( !v ){ cJSON_Delete(patch); return NULL; }
    cJSON_AddItemToObject(patch, f->string, v);
  }
  return patch;
}
