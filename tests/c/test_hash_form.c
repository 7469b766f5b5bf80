/*
** test_hash_form.c — config_hash forms (core/lf_config.h): form 4 spells
** out a Graph's default inputs ["x"] (top level and nested), form 3 does
** not; a config without a Graph hashes the same in both, so the load-time
** rehash (lf_ppl_rehash_once) changes only the hashes that must change,
** and a bundle of form 3 is checked in its own form (lf_transfer.c).
** Data-dependent defaults (MultiheadAttention embed_dim 0, LayerNorm's
** normalized_shape) are not filled in by any form.
*/
#include "../../core/lf_config.h"
#include "lf_test.h"

#include <stdlib.h>

static const char *GRAPH =
  "{\"model\":{\"loc\":\"Graph\",\"args\":{%s\"nodes\":[{\"name\":\"h\",\"loc\":\"Linear\",\"args\":{\"out\":4},\"in\":[\"x\"]},"
  "{\"name\":\"g\",\"loc\":\"Graph\",\"args\":{%s\"nodes\":[{\"name\":\"a\",\"loc\":\"ReLU\",\"in\":[\"x\"]}],\"output\":\"a\"},\"in\":[\"h\"]}],"
  "\"output\":\"g\"}},\"dataset\":{\"loc\":\"csv\",\"args\":{\"label\":\"y\"}},\"train_data_src\":\"d.csv\",\"val_data_src\":\"d.csv\","
  "\"loss\":{\"loc\":\"CrossEntropyLoss\"},\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.01}},\"metrics\":{}}";

static void hash_of(const char *outer, const char *inner, int form, char hex[65]){
  char text[2048];
  snprintf(text, sizeof text, GRAPH, outer, inner);
  cJSON *v = cJSON_Parse(text);
  if( !v || lf_config_identity_hash_form(v, form, hex) ) snprintf(hex, 65, "(no hash)");
  cJSON_Delete(v);
}

static void hash_text(const char *text, int form, char hex[65]){
  cJSON *v = cJSON_Parse(text);
  if( !v || lf_config_identity_hash_form(v, form, hex) ) snprintf(hex, 65, "(no hash)");
  cJSON_Delete(v);
}

int main(void){
  const char *X = "\"inputs\":[\"x\"],";
  char a[65], b[65], c[65], d[65];
  CHECK(LF_CONFIG_HASH_FORM == 4, "the current form is 4 (got %d)", LF_CONFIG_HASH_FORM);

  hash_of("", "", 4, a);
  hash_of(X, X, 4, b);
  CHECK(strcmp(a, b) == 0, "form 4: a Graph's inputs left out and written [\"x\"] (outer and nested) hash the same");
  hash_of(X, "", 4, c);
  hash_of("", X, 4, d);
  CHECK(strcmp(a, c) == 0 && strcmp(a, d) == 0, "form 4: either one written out hashes the same");
  hash_of("\"inputs\":[\"y\"],", "", 4, c);
  CHECK(strcmp(a, c) != 0, "form 4: another input name is another config");

  hash_of("", "", 3, c);
  hash_of(X, X, 3, d);
  CHECK(strcmp(c, d) != 0, "form 3 (bundles of an earlier LabFlow): the config as it was hashed then");
  CHECK(strcmp(c, a) != 0 && strcmp(d, b) == 0, "form 3 and 4 differ only where a Graph left its inputs out");

  /* No Graph: forms 3 and 4 are the same text, so the rehash keeps them. */
  const char *seq = "{\"model\":{\"loc\":\"Sequential\",\"args\":{\"layers\":[{\"loc\":\"Reshape\",\"args\":{\"shape\":[4,4]}},"
    "{\"loc\":\"MultiheadAttention\"},{\"loc\":\"LayerNorm\"},{\"loc\":\"Flatten\"},{\"loc\":\"Linear\",\"args\":{\"out\":2}}]}},"
    "\"dataset\":{\"loc\":\"csv\",\"args\":{\"label\":\"y\"}},\"train_data_src\":\"d.csv\",\"val_data_src\":\"d.csv\","
    "\"loss\":{\"loc\":\"CrossEntropyLoss\"},\"optimizer\":{\"loc\":\"SGD\",\"args\":{\"lr\":0.1}},\"metrics\":{}}";
  hash_text(seq, 3, c);
  hash_text(seq, 4, d);
  CHECK(strcmp(c, d) == 0, "a config without a Graph hashes the same in forms 3 and 4");

  /* Data-dependent defaults stay as written. */
  cJSON *v = cJSON_Parse(seq);
  cJSON *full = v ? lf_config_with_defaults(v) : NULL;
  const cJSON *layers = full ? cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(full, "model"), "args"), "layers") : NULL;
  const cJSON *mha = cJSON_GetObjectItem(cJSON_GetArrayItem(layers, 1), "args");
  const cJSON *ln = cJSON_GetObjectItem(cJSON_GetArrayItem(layers, 2), "args");
  const cJSON *ed = cJSON_GetObjectItem(mha, "embed_dim");
  CHECK(cJSON_IsNumber(ed) && ed->valuedouble == 0, "MultiheadAttention's embed_dim stays 0 (the input's width), not a width");
  CHECK(ln && !cJSON_GetObjectItem(ln, "normalized_shape"), "LayerNorm's normalized_shape is not filled in");
  cJSON_Delete(full);
  cJSON_Delete(v);
  TEST_EXIT();
}
