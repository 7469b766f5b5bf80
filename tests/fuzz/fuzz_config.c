/*
** fuzz_config.c — libFuzzer harness for the config validator and the
** canonicaliser: lf_json_parse_object, lf_config_parse (against a project
** with metrics accuracy and f1), lf_canon_json, lf_config_hash.
** Also checks that canonical form is a fixed point: canon(parse(canon(x)))
** == canon(x), and that a config that validates still validates after it.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lf_config.h"
#include "lf_canon.h"

static lf_settings settings;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  static int ready;
  char err[1024];
  if( !ready ){
    if( lf_settings_parse("{\"metrics\":[\"accuracy\",\"f1\"]}", &settings, err, sizeof err) ) abort();
    ready = 1;
  }
  char *text = malloc(size + 1);
  if( !text ) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  cJSON *cfg = lf_json_parse_object(text, "config", err, sizeof err);
  free(text);
  if( !cfg ) return 0;
  char *canon = lf_canon_json(cfg);
  char hash[65];
  if( lf_config_hash(cfg, hash) ) abort();
  lf_pipeline_spec spec;
  int ok = lf_config_parse(cfg, &settings, &spec, err, sizeof err) == 0;
  if( ok ) lf_pipeline_spec_free(&spec);
  if( canon ){
    cJSON *again = cJSON_Parse(canon);
    if( !again ) abort();                      /* canonical text must parse */
    char *canon2 = lf_canon_json(again);
    if( !canon2 || strcmp(canon, canon2) != 0 ) abort();   /* fixed point */
    lf_pipeline_spec spec2;
    int ok2 = lf_config_parse(again, &settings, &spec2, err, sizeof err) == 0;
    if( ok2 ) lf_pipeline_spec_free(&spec2);
    if( ok != ok2 ) abort();                   /* canonical form means the same */
    free(canon2);
    cJSON_Delete(again);
  }
  free(canon);
  cJSON_Delete(cfg);
  return 0;
}
