/*
** test_tabular.c — core/lf_tabular.c: codes from a vocabulary, trimming,
** and the round trip of vocabularies and fills through weight-file
** records, with damaged records refused.
*/
#include "lf_test.h"
#include "lf_tabular.h"

#include <stdlib.h>

static lf_tabular *sample(void){
  lf_tabular *t = lf_tabular_new(3);
  static const char *const v[] = { "Gov", "Private", "Self-emp" };
  t->categorical[0] = 1;
  t->nvocab[0] = 3;
  t->vocab[0] = calloc(3, sizeof(char*));
  for(int i=0; i<3; i++) t->vocab[0][i] = strdup(v[i]);
  t->fill[1] = 41.5f;
  t->categorical[2] = 1;
  t->nvocab[2] = 0;
  t->vocab[2] = calloc(1, sizeof(char*));
  return t;
}

int main(void){
  char buf[64], err[256];
  lf_tabular *t = sample();
  CHECK(lf_tabular_code(t, 0, "Gov")==1 && lf_tabular_code(t, 0, "Self-emp")==3, "codes are 1 + the sorted index");
  CHECK(lf_tabular_code(t, 0, "Army")==0 && lf_tabular_code(t, 1, "Gov")==0, "an unseen value (or a continuous column) is code 0");
  CHECK(lf_tabular_cardinality(t, 0)==4 && lf_tabular_cardinality(t, 1)==0 && lf_tabular_cardinality(t, 2)==1,
        "cardinality counts the unknown code");
  CHECK(strcmp(lf_tabular_trim("  Self-emp \t", 12, buf, sizeof buf), "Self-emp")==0, "values are trimmed");
  CHECK(lf_tabular_trim("abcdef", 6, buf, 4)==NULL, "a value longer than the buffer is refused");

  lf_tensor_rec *r = NULL;
  int nr = 0;
  CHECK(lf_tabular_to_recs(t, &r, &nr)==0 && nr==4, "records: kind, fill and one vocabulary per categorical column (%d)", nr);
  lf_tabular *b = lf_tabular_from_recs(r, nr, "w.lfw", err, sizeof err);
  int same = b && b->ncols==3 && b->categorical[0] && !b->categorical[1] && b->categorical[2]
          && b->nvocab[0]==3 && b->nvocab[2]==0 && b->fill[1]==41.5f;
  for(int i=0; same && i<3; i++) same = strcmp(b->vocab[0][i], t->vocab[0][i])==0;
  CHECK(same, "vocabularies and fills survive the round trip");
  lf_tabular *c = lf_tabular_copy(b);
  CHECK(c && lf_tabular_code(c, 0, "Private")==2, "a copy codes the same");
  lf_tabular_free(b);
  lf_tabular_free(c);

  /* Damage: an unsorted vocabulary, a missing one, a short one. */
  char *blob = r[2].data;
  char keep = blob[0];
  blob[0] = 'Z';                              /* "Zov" sorts after "Private" */
  b = lf_tabular_from_recs(r, nr, "w.lfw", err, sizeof err);
  CHECK(!b && strstr(err, "damaged"), "an unsorted vocabulary is refused: %s", err);
  blob[0] = keep;
  r[2].dim[0] -= 9;                           /* drop "Self-emp\0" */
  b = lf_tabular_from_recs(r, nr, "w.lfw", err, sizeof err);
  CHECK(!b && strstr(err, "damaged"), "a vocabulary with too few values is refused: %s", err);
  r[2].dim[0] += 9;
  free(r[2].name);
  r[2].name = strdup("__tab_vocab.9");
  b = lf_tabular_from_recs(r, nr, "w.lfw", err, sizeof err);
  CHECK(!b && strstr(err, "missing"), "a missing vocabulary is refused: %s", err);
  b = lf_tabular_from_recs(r, 0, "w.lfw", err, sizeof err);
  CHECK(!b && err[0]==0, "a weight file without records has no vocabularies (and no error)");
  lf_tabular_recs_free(r, nr);
  lf_tabular_free(t);
  TEST_EXIT();
}
