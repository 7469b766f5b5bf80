/*
** test_seqdata.c — the sequence datasets (core/lf_data_seq.c): a sequence
** column as JSON (csv and sql), float32 and int32 BLOBs, padding,
** truncation and the mask; sliding windows and their time-ordered split;
** an error naming row and column for each kind of bad cell.
*/
#include "lf_test.h"
#include "lf_dataset.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char errbuf[1024];
static char csvpath[256];

static lf_dataset_spec seq_spec(lf_dataset_kind kind, const char *col, int max_len, int F, int int32){
  lf_dataset_spec s;
  memset(&s, 0, sizeof s);
  s.kind = kind;
  s.label = "label";
  s.seq_column = (char*)col;
  s.max_len = max_len;
  s.step_features = F;
  s.seq_int32 = int32;
  return s;
}

static void write_csv(const char *text){
  FILE *f = fopen(csvpath, "wb");
  fputs(text, f);
  fclose(f);
}

static int load(const lf_dataset_spec *s, const char *src, sqlite3 *db, lf_dataset *d){
  errbuf[0] = 0;
  return lf_dataset_load(s, src, db, NULL, 0, d, errbuf, sizeof errbuf);
}

static void test_json_csv(void){
  lf_dataset d;
  write_csv("seq,label\n\"[1, 2.5, 3]\",a\n\"[]\",b\n\"[4,5,6,7,8]\",a\n");
  lf_dataset_spec s = seq_spec(LF_DS_CSV, "seq", 4, 1, 0);
  int rc = load(&s, csvpath, NULL, &d);
  CHECK(rc == 0 && d.n == 3 && d.shape.ndim == 1 && d.shape.dim[0] == 8, "csv JSON sequences load as [max_len + max_len] rows (%s)", errbuf);
  if( rc == 0 ){
    static const float want[3][8] = {
      {1, 2.5f, 3, 0, 1, 1, 1, 0},     /* padded at the end, mask 1 1 1 0 */
      {0, 0, 0, 0, 0, 0, 0, 0},        /* empty: all padding */
      {4, 5, 6, 7, 1, 1, 1, 1}};       /* cut to the first 4 steps */
    CHECK(memcmp(d.x, want, sizeof want) == 0, "steps padded at the end or cut, then the mask");
    CHECK(d.nclasses == 2 && d.y[0] == 0 && d.y[1] == 1 && d.y[2] == 0, "text labels become classes");
    lf_dataset_free(&d);
  }
  lf_shape sh;
  CHECK(lf_dataset_probe(&s, csvpath, NULL, &sh, errbuf, sizeof errbuf) == 0 && sh.ndim == 1 && sh.dim[0] == 8,
        "probe gives the row width from the spec");
  /* Two values per step. */
  write_csv("seq,label\n\"[[1,2],[3,4]]\",0\n\"[[5,6]]\",1\n");
  s = seq_spec(LF_DS_CSV, "seq", 3, 2, 0);
  rc = load(&s, csvpath, NULL, &d);
  static const float want2[2][9] = {{1, 2, 3, 4, 0, 0, 1, 1, 0}, {5, 6, 0, 0, 0, 0, 1, 0, 0}};
  CHECK(rc == 0 && d.n == 2 && d.shape.dim[0] == 9 && memcmp(d.x, want2, sizeof want2) == 0,
        "step_features 2: [[a,b],...] rows (%s)", errbuf);
  if( rc == 0 ) lf_dataset_free(&d);

  static const struct { const char *csv; const char *why; } bad[] = {
    {"seq,label\n{\"a\":1},0\n", "row 1 column 'seq': not a JSON array"},
    {"seq,label\n\"[1,\"\"x\"\"]\",0\n", "step 2 must be a number"},
    {"seq,label\n\"[1,2]\",\n", "row 1: the label ('label') is empty"},
    {"x,label\n\"[1]\",0\n", "has no sequence column 'seq' (columns: x, label)"},
  };
  for(size_t i=0; i<sizeof bad/sizeof bad[0]; i++){
    write_csv(bad[i].csv);
    s = seq_spec(LF_DS_CSV, "seq", 4, 1, 0);
    rc = load(&s, csvpath, NULL, &d);
    CHECK(rc != 0 && strstr(errbuf, bad[i].why), "bad csv %zu refused: %s", i, errbuf);
  }
  write_csv("seq,label\n\"[[1,2],[3]]\",0\n");
  s = seq_spec(LF_DS_CSV, "seq", 4, 2, 0);
  CHECK(load(&s, csvpath, NULL, &d) != 0 && strstr(errbuf, "step 2 must be a list of 2 numbers"), "a short step is refused: %s", errbuf);
  write_csv("seq,label\n\"[1, 2.5]\",0\n");
  s = seq_spec(LF_DS_CSV, "seq", 4, 1, 1);
  CHECK(load(&s, csvpath, NULL, &d) != 0 && strstr(errbuf, "step 2 is 2.5, not a token id"), "int32: a fraction is refused: %s", errbuf);
}

static void test_sql_blobs(void){
  sqlite3 *db;
  lf_dataset d;
  sqlite3_open(":memory:", &db);
  sqlite3_exec(db, "CREATE TABLE t(seq, label)", 0, 0, 0);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?1, ?2)", -1, &st, 0);
  float f1[4] = {1, 2, 3, 4};          /* two steps of 2 */
  float f2[2] = {-1, 0.5f};
  sqlite3_bind_blob(st, 1, f1, sizeof f1, SQLITE_STATIC); sqlite3_bind_int(st, 2, 1); sqlite3_step(st); sqlite3_reset(st);
  sqlite3_bind_blob(st, 1, f2, sizeof f2, SQLITE_STATIC); sqlite3_bind_int(st, 2, 0); sqlite3_step(st); sqlite3_reset(st);
  sqlite3_bind_text(st, 1, "[[7, 8]]", -1, SQLITE_STATIC); sqlite3_bind_int(st, 2, 0); sqlite3_step(st);
  sqlite3_finalize(st);
  lf_dataset_spec s = seq_spec(LF_DS_SQL, "seq", 2, 2, 0);
  int rc = load(&s, "SELECT seq, label FROM t", db, &d);
  static const float want[3][6] = {{1, 2, 3, 4, 1, 1}, {-1, 0.5f, 0, 0, 1, 0}, {7, 8, 0, 0, 1, 0}};
  CHECK(rc == 0 && d.n == 3 && d.shape.dim[0] == 6 && memcmp(d.x, want, sizeof want) == 0,
        "sql: float32 BLOBs and JSON text in one column (%s)", errbuf);
  if( rc == 0 ) lf_dataset_free(&d);

  sqlite3_exec(db, "CREATE TABLE ids(seq, label)", 0, 0, 0);
  sqlite3_prepare_v2(db, "INSERT INTO ids VALUES(?1, 1)", -1, &st, 0);
  int32_t i1[3] = {5, 0, 9};
  sqlite3_bind_blob(st, 1, i1, sizeof i1, SQLITE_STATIC); sqlite3_step(st);
  sqlite3_finalize(st);
  s = seq_spec(LF_DS_SQL, "seq", 4, 1, 1);
  rc = load(&s, "SELECT * FROM ids", db, &d);
  static const float want2[8] = {5, 0, 9, 0, 1, 1, 1, 0};
  CHECK(rc == 0 && d.n == 1 && d.shape.dim[0] == 8 && memcmp(d.x, want2, sizeof want2) == 0,
        "sql: int32 token ids [max_len] then the mask (%s)", errbuf);
  if( rc == 0 ) lf_dataset_free(&d);

  s = seq_spec(LF_DS_SQL, "seq", 4, 2, 0);
  CHECK(load(&s, "SELECT X'0000803F0000' AS seq, 1 AS label", db, &d) != 0
        && strstr(errbuf, "a BLOB of 6 bytes is not a whole number of steps of 8 bytes"), "a ragged BLOB is refused: %s", errbuf);
  s = seq_spec(LF_DS_SQL, "seq", 4, 1, 0);
  CHECK(load(&s, "SELECT NULL AS seq, 1 AS label", db, &d) != 0 && strstr(errbuf, "row 1 column 'seq': the sequence is NULL"),
        "a NULL sequence is refused: %s", errbuf);
  CHECK(load(&s, "SELECT X'0000C07F' AS seq, 1 AS label", db, &d) != 0 && strstr(errbuf, "not a finite float32"),
        "a NaN in a BLOB is refused: %s", errbuf);
  sqlite3_close(db);
}

static void test_windows(void){
  lf_dataset d;
  /* 20 rows: a = row, y = 100 + row. */
  char text[2048];
  size_t used = (size_t)snprintf(text, sizeof text, "a,y\n");
  for(int i=0; i<20; i++) used += (size_t)snprintf(text + used, sizeof text - used, "%d,%d\n", i, 100 + i);
  write_csv(text);
  lf_dataset_spec s;
  memset(&s, 0, sizeof s);
  s.kind = LF_DS_CSV;
  s.label = "y";
  s.window = 5; s.horizon = 1; s.stride = 1;
  s.regression = 1;
  int rc = load(&s, csvpath, NULL, &d);
  CHECK(rc == 0 && d.n == 15 && d.shape.ndim == 2 && d.shape.dim[0] == 5 && d.shape.dim[1] == 2,
        "20 rows give 15 windows of [5, 2] (%s)", errbuf);
  if( rc == 0 ){
    CHECK(d.x[0] == 0 && d.x[1] == 100 && d.x[9] == 104 && d.y[0] == 105 && d.x[14*10] == 14 && d.y[14] == 119,
          "a window holds rows start..start+4 and its label is the target of row start+5");
    lf_dataset_free(&d);
  }
  s.horizon = 3; s.stride = 4;
  rc = load(&s, csvpath, NULL, &d);
  CHECK(rc == 0 && d.n == 4 && d.y[0] == 107 && d.x[1*10] == 4 && d.y[3] == 119, "horizon 3, stride 4: windows at rows 0, 4, 8, 12 (%s)", errbuf);
  if( rc == 0 ) lf_dataset_free(&d);
  /* The time-ordered split: 20 rows, val_fraction 0.25 -> targets of rows
  ** 15..19 are validation. */
  s.horizon = 1; s.stride = 1; s.val_fraction = 0.25;
  s.split = 1;
  rc = load(&s, csvpath, NULL, &d);
  int ok = rc == 0 && d.n == 10;
  for(int64_t i=0; ok && i<d.n; i++) ok = d.y[i] < 115;
  CHECK(ok, "training split: the 10 windows whose targets come before the last quarter (%s)", errbuf);
  if( rc == 0 ) lf_dataset_free(&d);
  s.split = 2;
  rc = load(&s, csvpath, NULL, &d);
  ok = rc == 0 && d.n == 5 && d.y[0] == 115 && d.y[4] == 119;
  CHECK(ok, "validation split: the 5 windows whose targets are in the last quarter (%s)", errbuf);
  if( rc == 0 ) lf_dataset_free(&d);
  s.split = 0;
  rc = load(&s, csvpath, NULL, &d);
  CHECK(rc == 0 && d.n == 15, "split 0 (evaluate): every window");
  if( rc == 0 ) lf_dataset_free(&d);
  s.window = 19; s.val_fraction = 0; s.split = 0;
  rc = load(&s, csvpath, NULL, &d);
  CHECK(rc == 0 && d.n == 1, "one window exactly fits");
  if( rc == 0 ) lf_dataset_free(&d);
  s.window = 20;
  CHECK(load(&s, csvpath, NULL, &d) != 0 && strstr(errbuf, "has 20 rows: no window of 20 rows"), "too few rows: %s", errbuf);
  char *feats[1] = {"y"};
  s.window = 4; s.features = feats; s.nfeatures = 1;
  lf_shape sh;
  CHECK(lf_dataset_probe(&s, csvpath, NULL, &sh, errbuf, sizeof errbuf) == 0 && sh.ndim == 2 && sh.dim[0] == 4 && sh.dim[1] == 1,
        "probe: [window, features]");
  write_csv("a,y\n1,2\n3,x\n");
  s.window = 1;
  CHECK(load(&s, csvpath, NULL, &d) != 0 && strstr(errbuf, "row 2, column 2: 'x' is not a number"), "a text value is refused: %s", errbuf);
}

int main(void){
  snprintf(csvpath, sizeof csvpath, "/tmp/lf_seqdata_%d.csv", (int)getpid());
  test_json_csv();
  test_sql_blobs();
  test_windows();
  unlink(csvpath);
  TEST_EXIT();
}
