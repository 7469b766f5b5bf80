/*
** test_space.c — sweep spaces (core/lf_space.c): grid size and order,
** random draws reproducible from the seed, refusals; and lf_json_set.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lf_test.h"
#include "lf_space.h"
#include "lf_canon.h"
#include "lf_query.h"

static char *draws(const char *space, const char *method, int count, uint64_t seed, char *err, size_t n){
  lf_space sp;
  if( lf_space_parse(space, &sp, err, n) ) return NULL;
  cJSON *sets = strcmp(method, "grid")==0 ? lf_space_grid(&sp, err, n) : lf_space_random(&sp, count, seed, err, n);
  lf_space_free(&sp);
  if( !sets ) return NULL;
  char *text = lf_canon_json(sets);
  cJSON_Delete(sets);
  return text;
}

static void check_refused(const char *space, const char *method, int count, const char *want){
  char err[512] = "";
  char *t = draws(space, method, count, 1, err, sizeof err);
  CHECK(t==NULL && strstr(err, want)!=NULL, "space %s (%s) refused with '%s' (got '%s')", space, method, want, t ? t : err);
  free(t);
}

int main(void){
  char err[512];
  /* The grid: product in written order, the last path fastest. */
  char *g = draws("{\"b\":[1,2,3],\"a\":[\"x\",\"y\"]}", "grid", 0, 0, err, sizeof err);
  CHECK(g && strcmp(g, "[{\"a\":\"x\",\"b\":1},{\"a\":\"y\",\"b\":1},{\"a\":\"x\",\"b\":2},{\"a\":\"y\",\"b\":2},"
                       "{\"a\":\"x\",\"b\":3},{\"a\":\"y\",\"b\":3}]")==0, "grid 3x2 in order (got %s)", g ? g : err);
  free(g);
  g = draws("{\"n\":{\"int\":[-1,1]},\"c\":{\"choice\":[true,null]}}", "grid", 0, 0, err, sizeof err);
  CHECK(g && strcmp(g, "[{\"c\":true,\"n\":-1},{\"c\":null,\"n\":-1},{\"c\":true,\"n\":0},{\"c\":null,\"n\":0},"
                       "{\"c\":true,\"n\":1},{\"c\":null,\"n\":1}]")==0, "int range and choice in a grid (got %s)", g ? g : err);
  free(g);
  g = draws("{\"a\":[1,2,3,4,5,6,7,8,9,10],\"b\":[1,2,3,4,5,6,7,8,9,10],\"c\":[1,2,3,4,5,6,7,8,9,10]}", "grid", 0, 0, err, sizeof err);
  cJSON *big = g ? cJSON_Parse(g) : NULL;
  CHECK(cJSON_GetArraySize(big)==1000, "a 10x10x10 grid has 1000 members");
  cJSON_Delete(big);
  free(g);

  /* Random: the same seed gives the same draws, another seed others. */
  const char *space = "{\"lr\":{\"log_uniform\":[1e-4,1e-1]},\"w\":{\"int\":[2,64]},\"d\":{\"uniform\":[0,0.5]},\"o\":[\"Adam\",\"SGD\"]}";
  char *r1 = draws(space, "random", 20, 42, err, sizeof err);
  char *r2 = draws(space, "random", 20, 42, err, sizeof err);
  char *r3 = draws(space, "random", 20, 43, err, sizeof err);
  CHECK(r1 && r2 && strcmp(r1, r2)==0, "random draws equal with the same seed");
  CHECK(r1 && r3 && strcmp(r1, r3)!=0, "random draws differ with another seed");
  cJSON *a = r1 ? cJSON_Parse(r1) : NULL;
  int in_range = cJSON_GetArraySize(a)==20, distinct = 1;
  for(const cJSON *m = a ? a->child : NULL; m; m = m->next){
    double lr = cJSON_GetObjectItem(m, "lr")->valuedouble, w = cJSON_GetObjectItem(m, "w")->valuedouble;
    double d = cJSON_GetObjectItem(m, "d")->valuedouble;
    const char *o = cJSON_GetObjectItem(m, "o")->valuestring;
    in_range &= lr >= 1e-4 && lr <= 1e-1 && w >= 2 && w <= 64 && w == floor(w) && d >= 0 && d < 0.5
             && (strcmp(o, "Adam")==0 || strcmp(o, "SGD")==0);
    for(const cJSON *k = m->next; k; k = k->next) distinct &= !cJSON_Compare(m, k, 1);
  }
  CHECK(in_range, "every draw within its distribution");
  CHECK(distinct, "draws are distinct");
  /* log_uniform spreads over the decades: some draw below 1e-3, some above 1e-2. */
  int low = 0, high = 0;
  for(const cJSON *m = a ? a->child : NULL; m; m = m->next){
    double lr = cJSON_GetObjectItem(m, "lr")->valuedouble;
    low += lr < 1e-3;
    high += lr > 1e-2;
  }
  CHECK(low > 0 && high > 0, "log_uniform covers the decades (%d below 1e-3, %d above 1e-2)", low, high);
  cJSON_Delete(a);
  free(r1); free(r2); free(r3);
  /* A prefix of a longer stream: the first draws do not depend on n. */
  char *p5 = draws(space, "random", 5, 9, err, sizeof err), *p6 = draws(space, "random", 6, 9, err, sizeof err);
  CHECK(p5 && p6 && strncmp(p5, p6, strlen(p5) - 1)==0, "5 draws are the first 5 of 6 with one seed");
  free(p5); free(p6);

  check_refused("{\"a\":[]}", "grid", 0, "has an empty list");
  check_refused("{\"a\":{\"uniform\":[2,1]}}", "random", 3, "has a > b");
  check_refused("{\"a\":{\"log_uniform\":[0,1]}}", "random", 3, "needs 0 < a");
  check_refused("{\"a\":{\"int\":[1.5,3]}}", "random", 3, "two integers");
  check_refused("{\"a\":{\"uniform\":[0,1]}}", "grid", 0, "a grid needs lists");
  check_refused("{\"a\":{\"gauss\":[0,1]}}", "random", 3, "unknown distribution 'gauss'");
  check_refused("{\"a\":[1,1.0]}", "grid", 0, "lists 1 twice");
  check_refused("{\"a>b\":[1],\"a\":[2]}", "grid", 0, "overlap");
  check_refused("{\"a\":[1,2]}", "random", 3, "only 2 distinct members");
  check_refused("{}", "grid", 0, "space is empty");
  check_refused("[1]", "grid", 0, "must be a JSON object");
  check_refused("{\"a\":[1,2,3,4,5,6,7,8,9,10,11],\"b\":[1,2,3,4,5,6,7,8,9,10],\"c\":[1,2,3,4,5,6,7,8,9,10]}",
                "grid", 0, "1100 members");

  /* lf_json_set: existing paths, a new last key, list items, refusals. */
  cJSON *cfg = cJSON_Parse("{\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.1}},\"layers\":[{\"out\":1},{\"out\":2}]}");
  int ok = lf_json_set(cfg, "optimizer>args>lr", cJSON_CreateNumber(0.5), err, sizeof err)==0
        && lf_json_set(cfg, "optimizer>args>eps", cJSON_CreateNumber(1e-8), err, sizeof err)==0
        && lf_json_set(cfg, "layers[1]>out", cJSON_CreateNumber(7), err, sizeof err)==0
        && lf_json_set(cfg, "layers[0]", cJSON_CreateString("x"), err, sizeof err)==0;
  char *t = lf_canon_json(cfg);
  CHECK(ok && strcmp(t, "{\"layers\":[\"x\",{\"out\":7}],\"optimizer\":{\"args\":{\"eps\":1e-08,\"lr\":0.5},\"loc\":\"Adam\"}}")==0,
        "lf_json_set sets values and adds a last key (got %s)", t);
  free(t);
  cJSON *v = cJSON_CreateNumber(1);
  CHECK(lf_json_set(cfg, "optimiser>args>lr", v, err, sizeof err)!=0 && strstr(err, "has no 'optimiser'"),
        "lf_json_set refuses a missing step (%s)", err);
  CHECK(lf_json_set(cfg, "layers[2]>out", v, err, sizeof err)!=0 && strstr(err, "has 2 items, no [2]"),
        "lf_json_set refuses an index past the end (%s)", err);
  CHECK(lf_json_set(cfg, "layers>out", v, err, sizeof err)!=0 && strstr(err, "is not an object"),
        "lf_json_set refuses a key into a list (%s)", err);
  CHECK(lf_json_set(cfg, "a[x]", v, err, sizeof err)!=0 && strstr(err, "list index"),
        "lf_json_set refuses a malformed path (%s)", err);
  cJSON_Delete(v);
  cJSON_Delete(cfg);
  TEST_EXIT();
}
