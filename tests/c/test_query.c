/*
** test_query.c — the config query language and flattening (core/lf_query.c).
*/
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lf_test.h"
#include "lf_query.h"

static const char *CFG =
  "{\"model\":{\"loc\":\"Sequential\",\"args\":{\"layers\":["
  "{\"loc\":\"Flatten\"},{\"loc\":\"Linear\",\"args\":{\"out\":256}},{\"loc\":\"ReLU\"}]}},"
  "\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.001,\"betas\":[0.9,0.999]}},"
  "\"dataset\":{\"loc\":\"csv\",\"args\":{\"label\":\"y\",\"standardize\":true,\"tag\":\"0.5\"}},"
  "\"seed\":1,\"empty\":{},\"nothing\":null,\"name\":\"a>b\"}";

/* 1 match, 0 no match, -1 parse error. */
static int run(const cJSON *cfg, const char *query){
  char err[256];
  lf_query *q = lf_query_parse(query, err, sizeof err);
  if( !q ) return -1;
  int r = lf_query_match(q, cfg, NULL);
  lf_query_free(q);
  return r;
}

static void check_error(const char *query, const char *want){
  char err[256] = "";
  lf_query *q = lf_query_parse(query, err, sizeof err);
  CHECK(q==NULL && strstr(err, want)!=NULL, "parse error for '%s' mentions '%s' (got '%s')", query, want, err);
  lf_query_free(q);
}

/* The canonical-ish text of the value a query reports, or "(none)". */
static char *reported(const cJSON *cfg, const char *query, int *lists){
  char err[256];
  lf_query *q = lf_query_parse(query, err, sizeof err);
  if( !q ) return strdup("(error)");
  const cJSON *v = NULL;
  int hit = lf_query_match(q, cfg, &v);
  *lists = lf_query_lists(q);
  char *s = hit && v ? cJSON_PrintUnformatted(v) : strdup("(none)");
  lf_query_free(q);
  return s;
}

int main(void){
  cJSON *cfg = cJSON_Parse(CFG);
  CHECK(cfg != NULL, "test config parses");

  /* the reference's chain form */
  CHECK(run(cfg, "optimizer=Adam")==1, "component compares its loc");
  CHECK(run(cfg, "optimizer=SGD")==0, "other loc does not match");
  CHECK(run(cfg, "optimizer=Adam>lr=0.001")==1, "chain descends into args");
  CHECK(run(cfg, "optimizer=Adam>lr=1e-3")==1, "0.001 == 1e-3");
  CHECK(run(cfg, "optimizer=Adam>lr=0.0010")==1, "0.0010 == 0.001");
  CHECK(run(cfg, "optimizer=Adam>lr=0.01")==0, "0.01 != 0.001");
  CHECK(run(cfg, "optimizer=SGD>lr=0.001")==0, "every piece must hold");
  CHECK(run(cfg, " optimizer = Adam > lr = 0.001 ")==1, "spaces around pieces are ignored");
  CHECK(run(cfg, "model=Sequential>layers[1]=Linear>out=256")==1, "chain through a list item");
  CHECK(run(cfg, "model=Sequential>layers[1]=Linear>out=128")==0, "chain through a list item, other value");

  /* the plain path form */
  CHECK(run(cfg, "optimizer>args>lr=0.001")==1, "plain path");
  CHECK(run(cfg, "optimizer>loc=Adam")==1, "plain path to loc");
  CHECK(run(cfg, "model>args>layers[1]>args>out=256")==1, "plain path with index");
  CHECK(run(cfg, "model>args>layers[1]>args>out=256.0")==1, "256 == 256.0");
  CHECK(run(cfg, "model>args>layers[7]>args>out=256")==0, "index out of range: no match");
  CHECK(run(cfg, "model>args>nope=1")==0, "missing key: no match");
  CHECK(run(cfg, "optimizer>args>betas=[0.9,0.999]")==1, "list value compares element-wise");
  CHECK(run(cfg, "optimizer>args>betas[1]=0.999")==1, "list element");
  CHECK(run(cfg, "seed=1")==1, "top-level number");
  CHECK(run(cfg, "seed=1.0")==1, "1 == 1.0");
  CHECK(run(cfg, "seed=\"1\"")==0, "a quoted value is a string: not the number 1");
  CHECK(run(cfg, "dataset>args>standardize=true")==1, "true literal");
  CHECK(run(cfg, "dataset>args>standardize=false")==0, "false literal");
  CHECK(run(cfg, "dataset>args>standardize=1")==0, "1 is not true");
  CHECK(run(cfg, "nothing=null")==1, "null literal");
  CHECK(run(cfg, "dataset>args>tag=0.5")==1, "unquoted number matches a string of the same text");
  CHECK(run(cfg, "dataset>args>tag=0.50")==0, "strings compare as text");
  CHECK(run(cfg, "dataset>args>tag=\"0.5\"")==1, "quoted string");
  CHECK(run(cfg, "name=\"a>b\"")==1, "quoted value may hold '>'");
  CHECK(run(cfg, "empty={}")==1, "empty object value");
  CHECK(run(cfg, "dataset>args>label=y")==1, "bare word is a string");

  /* listing */
  int lists = 0;
  char *s = reported(cfg, "model=", &lists);
  CHECK(lists && strncmp(s, "{\"loc\":\"Sequential\"", 19)==0, "model= reports the whole component (%s)", s);
  free(s);
  s = reported(cfg, "optimizer=Adam>lr=", &lists);
  CHECK(lists && strcmp(s, "0.001")==0, "optimizer=Adam>lr= reports lr (%s)", s);
  free(s);
  s = reported(cfg, "optimizer=SGD>lr=", &lists);
  CHECK(strcmp(s, "(none)")==0, "a listing after a failed comparison reports nothing (%s)", s);
  free(s);
  s = reported(cfg, "optimizer=Adam", &lists);
  CHECK(!lists && strstr(s, "\"lr\":0.001")!=NULL, "a comparison reports the compared node (%s)", s);
  free(s);
  {
    char err[256];
    lf_query *q = lf_query_parse("missing>key=", err, sizeof err);
    const cJSON *v = (const cJSON*)1;
    CHECK(q && lf_query_match(q, cfg, &v)==1 && v==NULL, "listing a missing path matches with no value");
    lf_query_free(q);
    q = lf_query_parse("model=Sequential>layers[1]=Linear>out=256", err, sizeof err);
    CHECK(q && strcmp(lf_query_path(q), "model>args>layers[1]>args>out")==0,
          "chain path in plain form (%s)", q ? lf_query_path(q) : "");
    lf_query_free(q);
  }

  /* malformed queries */
  check_error("", "empty query");
  check_error("   ", "empty query");
  check_error(NULL, "empty query");
  check_error("optimizer", "does not end with key=value");
  check_error("optimizer>args", "does not end with key=value");
  check_error("model=>lr=1", "must be the last piece");
  check_error("layers[x]=1", "list index");
  check_error("layers[1=1", "list index");
  check_error("a[1]b=1", "text after ']'");
  check_error("=1", "empty key");
  check_error("a>>b=1", "empty key");
  check_error("name=\"abc", "unterminated");
  check_error("x={bad", "valid JSON");

  /* equality */
  cJSON *a = cJSON_Parse("{\"x\":1,\"y\":[1,2,{\"z\":null}]}");
  cJSON *b = cJSON_Parse("{\"y\":[1.0,2,{\"z\":null}],\"x\":1e0}");
  cJSON *c = cJSON_Parse("{\"y\":[1,2],\"x\":1}");
  CHECK(lf_json_equal(a, b), "objects equal in any key order, numbers numerically");
  CHECK(!lf_json_equal(a, c), "different lists differ");
  CHECK(!lf_json_equal(a, NULL), "NULL equals nothing");
  cJSON_Delete(a); cJSON_Delete(b); cJSON_Delete(c);

  /* flattening */
  lf_flat *f = NULL;
  int n = 0;
  CHECK(lf_json_flatten(cfg, &f, &n)==0, "flatten");
  int found_out = 0, found_empty = 0, found_beta = 0, all_resolve = 1;
  for(int i=0; i<n; i++){
    if( strcmp(f[i].key, "model>args>layers[1]>args>out")==0 && cJSON_IsNumber(f[i].value) ) found_out = 1;
    if( strcmp(f[i].key, "empty")==0 && cJSON_IsObject(f[i].value) ) found_empty = 1;
    if( strcmp(f[i].key, "optimizer>args>betas[1]")==0 ) found_beta = 1;
    if( lf_json_at(cfg, f[i].key) != f[i].value ) all_resolve = 0;
  }
  CHECK(n==17, "17 leaves (got %d)", n);
  CHECK(found_out, "leaf model>args>layers[1]>args>out");
  CHECK(found_beta, "list leaves get [i]");
  CHECK(found_empty, "an empty object is a leaf");
  CHECK(all_resolve, "every flattened key resolves back to its node with lf_json_at");
  CHECK(n>0 && strcmp(f[0].key, "model>loc")==0, "document order (first: %s)", n ? f[0].key : "");
  lf_flat_free(f, n);
  CHECK(lf_json_at(cfg, "model>args>layers[9]")==NULL, "lf_json_at: missing index");
  CHECK(lf_json_at(cfg, "model>>x")==NULL, "lf_json_at: malformed path");

  cJSON *emptycfg = cJSON_Parse("{}");
  CHECK(lf_json_flatten(emptycfg, &f, &n)==0 && n==0, "empty config flattens to nothing");
  lf_flat_free(f, n);
  cJSON_Delete(emptycfg);

  cJSON_Delete(cfg);
  TEST_EXIT();
}
