/*
** test_dataset.c — the idx, csv and sql dataset loaders: values, shapes,
** label mappings, and an error message (never a crash or a leak) for each
** kind of bad input; plus per-feature standardization.
*/
#include "lf_test.h"
#include "lf_dataset.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];
static char errbuf[1024];

static char *path_in(const char *name)
{
  static char buf[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
  return buf[k];
}

static void write_file(const char *path, const void *data, size_t len, int gz)
{
  if (gz) {
    gzFile g = gzopen(path, "wb");
    gzwrite(g, data, (unsigned)len);
    gzclose(g);
  } else {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
  }
}

static void write_text(const char *name, const char *text)
{
  write_file(path_in(name), text, strlen(text), 0);
}

static void put_be32(unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

/* Writes prefix-images-idx3-ubyte[.gz] and prefix-labels-idx1-ubyte[.gz]
** with n images of rows x cols (pixel = (i*7 + j) & 255, label i % 4).
** The header may lie: magic, label count; cut drops bytes from the end. */
static void write_idx(const char *prefix, uint32_t n, uint32_t rows, uint32_t cols, int gz,
                      uint32_t img_magic, uint32_t nlabels, size_t cut_images, size_t cut_labels)
{
  char name[600];
  size_t ilen = 16 + (size_t)n * rows * cols, llen = 8 + nlabels;
  unsigned char *im = malloc(ilen), *lb = malloc(llen);
  put_be32(im, img_magic);
  put_be32(im + 4, n);
  put_be32(im + 8, rows);
  put_be32(im + 12, cols);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < (size_t)rows * cols; j++) im[16 + i * rows * cols + j] = (unsigned char)((i * 7 + j) & 255);
  put_be32(lb, 0x801);
  put_be32(lb + 4, nlabels);
  for (size_t i = 0; i < nlabels; i++) lb[8 + i] = (unsigned char)(i % 4);
  snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
  write_file(name, im, ilen - cut_images, gz);
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
  write_file(name, lb, llen - cut_labels, gz);
  free(im);
  free(lb);
}

static lf_dataset_spec spec_of(lf_dataset_kind kind, double scale)
{
  lf_dataset_spec s;
  memset(&s, 0, sizeof s);
  s.kind = kind;
  s.scale = scale;
  return s;
}

/* Loads and expects failure with a message containing want. */
static void expect_error(const lf_dataset_spec *s, const char *src, sqlite3 *db, char *const *names, int nnames,
                         const char *want, const char *what)
{
  lf_dataset d;
  errbuf[0] = 0;
  int rc = lf_dataset_load(s, src, db, names, nnames, &d, errbuf, sizeof errbuf);
  CHECK(rc == -1 && strstr(errbuf, want) != NULL && d.x == NULL && d.y == NULL,
        "%s: error mentions \"%s\" (got: %s)", what, want, errbuf);
  if (rc == 0) lf_dataset_free(&d);
}

static int near(double a, double b) { return fabs(a - b) <= 1e-6 * (1 + fabs(b)); }

/* ------------------------------------------------------------------ idx */

static void test_idx(void)
{
  lf_dataset_spec s = spec_of(LF_DS_IDX, 255);
  lf_dataset d, g;
  for (int gz = 0; gz <= 1; gz++) {
    char *prefix = path_in(gz ? "gz" : "plain");
    write_idx(prefix, 5, 2, 3, gz, 0x803, 5, 0, 0);
    int rc = lf_dataset_load(&s, prefix, NULL, NULL, 0, gz ? &g : &d, errbuf, sizeof errbuf);
    lf_dataset *x = gz ? &g : &d;
    CHECK(rc == 0, "idx %s loads (%s)", gz ? "gz" : "plain", rc ? errbuf : "ok");
    if (rc != 0) return;
    CHECK(x->n == 5 && x->shape.ndim == 3 && x->shape.dim[0] == 1 && x->shape.dim[1] == 2 && x->shape.dim[2] == 3,
          "idx %s: 5 samples of [1,2,3]", gz ? "gz" : "plain");
    int ok = 1;
    for (int i = 0; i < 5; i++)
      for (int j = 0; j < 6; j++) ok &= x->x[i * 6 + j] == (float)(((i * 7 + j) & 255) / 255.0);
    CHECK(ok, "idx %s: pixels are byte/255", gz ? "gz" : "plain");
    CHECK(x->y[0] == 0 && x->y[3] == 3 && x->y[4] == 0 && x->nclasses == 4 && x->class_names == NULL,
          "idx %s: labels and nclasses 4", gz ? "gz" : "plain");
  }
  CHECK(memcmp(d.x, g.x, 30 * sizeof(float)) == 0 && memcmp(d.y, g.y, 5 * sizeof(float)) == 0,
        "gz and plain give identical data");
  lf_dataset_free(&d);
  lf_dataset_free(&g);
  CHECK(d.x == NULL && d.n == 0, "free zeroes the dataset");
  lf_dataset_free(&d);               /* twice is harmless */

  /* No scaling. */
  lf_dataset_spec raw = spec_of(LF_DS_IDX, 0);
  int rc = lf_dataset_load(&raw, path_in("plain"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.x[1] == 1.0f && d.x[7] == 8.0f, "idx scale 0 keeps raw bytes");
  if (rc == 0) lf_dataset_free(&d);

  /* Plain wins over .gz when both exist; a bigger image. */
  write_idx(path_in("big"), 300, 28, 28, 1, 0x803, 300, 0, 0);
  rc = lf_dataset_load(&s, path_in("big"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.n == 300 && d.x[299 * 784 + 783] == (float)(((299 * 7 + 783) & 255) / 255.0),
        "idx 300 images of 28x28 (%s)", rc ? errbuf : "ok");
  if (rc == 0) lf_dataset_free(&d);

  write_idx(path_in("magic"), 3, 2, 2, 0, 0x802, 3, 0, 0);
  expect_error(&s, path_in("magic"), NULL, NULL, 0, "magic 0x00000802, expected 0x00000803", "idx bad magic");
  write_idx(path_in("count"), 3, 2, 2, 1, 0x803, 4, 0, 0);
  expect_error(&s, path_in("count"), NULL, NULL, 0, "has 4 labels but", "idx count mismatch");
  write_idx(path_in("trunc"), 3, 2, 2, 0, 0x803, 3, 5, 0);
  expect_error(&s, path_in("trunc"), NULL, NULL, 0, "trunc-images-idx3-ubyte is truncated: header declares 3 images",
               "idx truncated images");
  write_idx(path_in("trunczl"), 3, 2, 2, 1, 0x803, 3, 5, 0);
  expect_error(&s, path_in("trunczl"), NULL, NULL, 0, "images-idx3-ubyte.gz is truncated", "idx gz truncated images");
  write_idx(path_in("truncl"), 3, 2, 2, 0, 0x803, 3, 0, 1);
  expect_error(&s, path_in("truncl"), NULL, NULL, 0, "labels-idx1-ubyte is truncated", "idx truncated labels");
  write_idx(path_in("hdr"), 3, 2, 2, 0, 0x803, 3, 16 + 12 - 10, 0);
  expect_error(&s, path_in("hdr"), NULL, NULL, 0, "expected a 16-byte idx3 header", "idx truncated header");
  write_idx(path_in("zero"), 0, 2, 2, 0, 0x803, 0, 0, 0);
  expect_error(&s, path_in("zero"), NULL, NULL, 0, "empty", "idx zero images");
  write_idx(path_in("dims"), 2, 0, 2, 0, 0x803, 2, 0, 0);
  expect_error(&s, path_in("dims"), NULL, NULL, 0, "bad image size 0x2", "idx zero rows");
  write_idx(path_in("wide"), 1, 1, 1, 0, 0x803, 1, 0, 0);
  FILE *wf = fopen(path_in("wide-images-idx3-ubyte"), "r+b");
  unsigned char side[8];
  put_be32(side, 65536);
  put_be32(side + 4, 65536);
  fseek(wf, 8, SEEK_SET);
  fwrite(side, 1, 8, wf);
  fclose(wf);
  expect_error(&s, path_in("wide"), NULL, NULL, 0, "images of 65536x65536 are too large", "idx absurd image size");
  expect_error(&s, path_in("nothing"), NULL, NULL, 0, "cannot open", "idx missing files");

  /* A header declaring 4 billion images in a tiny file: an error, without
  ** allocating what the header claims. */
  unsigned char hdr[16 + 8];
  put_be32(hdr, 0x803); put_be32(hdr + 4, 0xffffffffu); put_be32(hdr + 8, 2); put_be32(hdr + 12, 2);
  memset(hdr + 16, 0, 8);
  write_file(path_in("forged-images-idx3-ubyte.gz"), hdr, sizeof hdr, 1);
  put_be32(hdr, 0x801); put_be32(hdr + 4, 0xffffffffu);
  write_file(path_in("forged-labels-idx1-ubyte.gz"), hdr, 8, 1);
  expect_error(&s, path_in("forged"), NULL, NULL, 0, "truncated", "idx forged huge count");

  /* A corrupt gzip stream. */
  unsigned char junk[64];
  memset(junk, 0, sizeof junk);
  junk[0] = 0x1f; junk[1] = 0x8b; junk[2] = 8;
  for (int i = 10; i < 64; i++) junk[i] = (unsigned char)(i * 37);
  write_file(path_in("junk-images-idx3-ubyte.gz"), junk, sizeof junk, 0);
  write_idx(path_in("junkl"), 1, 1, 1, 0, 0x803, 1, 0, 0);
  rename(path_in("junkl-labels-idx1-ubyte"), path_in("junk-labels-idx1-ubyte"));
  lf_dataset_spec s2 = s;
  errbuf[0] = 0;
  rc = lf_dataset_load(&s2, path_in("junk"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == -1 && strstr(errbuf, "junk-images-idx3-ubyte.gz"), "idx corrupt gzip: %s", errbuf);

  /* The real Fashion-MNIST test split, when installed. */
  const char *fm = "/usr/share/datasets/fashion-mnist/t10k";
  if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) == 0) {
    rc = lf_dataset_load(&s, fm, NULL, NULL, 0, &d, errbuf, sizeof errbuf);
    CHECK(rc == 0, "fashion-mnist t10k loads (%s)", rc ? errbuf : "ok");
    if (rc == 0) {
      CHECK(d.n == 10000 && d.shape.ndim == 3 && d.shape.dim[0] == 1 && d.shape.dim[1] == 28 && d.shape.dim[2] == 28,
            "fashion-mnist: 10000 x [1,28,28]");
      CHECK(d.y[0] == 9 && d.nclasses == 10, "fashion-mnist: first label 9, 10 classes");
      int in_range = 1, nonzero = 0;
      for (int64_t i = 0; i < d.n * 784; i++) {
        in_range &= d.x[i] >= 0 && d.x[i] <= 1;
        nonzero += d.x[i] > 0;
      }
      CHECK(in_range && nonzero > 1000000, "fashion-mnist: values in [0,1] (%d nonzero)", nonzero);
      lf_dataset_free(&d);
    }
  } else {
    printf("# fashion-mnist t10k not installed: skipped\n");
  }
}

/* ------------------------------------------------------------------ csv */

static void test_csv(void)
{
  lf_dataset_spec s = spec_of(LF_DS_CSV, 0);
  lf_dataset d;
  /* Quoted fields, doubled quotes, a comma inside quotes, CRLF, no final
  ** newline, a BOM, a blank line, and the label column in the middle. */
  write_text("q.csv", "\xEF\xBB\xBF" "x1,\"label\",\"x,2\"\r\n"
                      "1.5,\"say \"\"hi\"\"\",\"-2\"\r\n"
                      "\r\n"
                      " 3 ,\"cat, big\",4e1\r\n"
                      "\"5\",dog,6");
  int rc = lf_dataset_load(&s, path_in("q.csv"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0, "quoted csv loads (%s)", rc ? errbuf : "ok");
  if (rc == 0) {
    CHECK(d.n == 3 && d.shape.ndim == 1 && d.shape.dim[0] == 2, "quoted csv: 3 rows of [2]");
    CHECK(d.x[0] == 1.5f && d.x[1] == -2 && d.x[2] == 3 && d.x[3] == 40 && d.x[4] == 5 && d.x[5] == 6,
          "quoted csv: feature values");
    /* strcmp order: "cat, big" < "dog" < "say \"hi\"" */
    CHECK(d.nclasses == 3 && d.class_names && strcmp(d.class_names[0], "cat, big") == 0
          && strcmp(d.class_names[1], "dog") == 0 && strcmp(d.class_names[2], "say \"hi\"") == 0,
          "quoted csv: class names sorted and unquoted");
    CHECK(d.y[0] == 2 && d.y[1] == 0 && d.y[2] == 1, "quoted csv: label indices");
    lf_dataset_free(&d);
  }

  /* Text labels; then a validation split with the training mapping. */
  write_text("t.csv", "a,b,label\n1,2,dog\n3,4,cat\n5,6,bird\n7,8,cat\n");
  rc = lf_dataset_load(&s, path_in("t.csv"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.nclasses == 3 && strcmp(d.class_names[0], "bird") == 0 && d.y[0] == 2 && d.y[1] == 1
        && d.y[2] == 0 && d.y[3] == 1, "text labels map to sorted class names");
  if (rc == 0) lf_dataset_free(&d);
  char *given[] = { "dog", "cat", "bird", "fish" };
  rc = lf_dataset_load(&s, path_in("t.csv"), NULL, given, 4, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.nclasses == 4 && d.y[0] == 0 && d.y[1] == 1 && d.y[2] == 2 && d.y[3] == 1
        && strcmp(d.class_names[3], "fish") == 0, "given class mapping: index = position (%s)", rc ? errbuf : "ok");
  if (rc == 0) lf_dataset_free(&d);
  expect_error(&s, path_in("t.csv"), NULL, given, 2, "t.csv row 3: label 'bird' is not one of the training classes (dog, cat)",
               "unknown label with given mapping");

  /* Integer labels are class indices. */
  write_text("i.csv", "label,f\n3,0.5\n0,1\n1,2\n");
  rc = lf_dataset_load(&s, path_in("i.csv"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.nclasses == 4 && d.class_names == NULL && d.y[0] == 3 && d.x[0] == 0.5f,
        "integer labels: nclasses = max + 1");
  if (rc == 0) lf_dataset_free(&d);
  write_text("neg.csv", "label,f\n-1,0\n1,2\n");
  rc = lf_dataset_load(&s, path_in("neg.csv"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.nclasses == 2 && d.class_names && strcmp(d.class_names[0], "-1") == 0,
        "negative integer labels become text classes");
  if (rc == 0) lf_dataset_free(&d);
  write_text("bigl.csv", "label,f\n1000000,0\n");
  expect_error(&s, path_in("bigl.csv"), NULL, NULL, 0, "too large for a class index", "huge class index");

  /* Regression. */
  lf_dataset_spec r = s;
  r.regression = 1;
  write_text("r.csv", "f,label\n1,1.5\n2,-2e3\n");
  rc = lf_dataset_load(&r, path_in("r.csv"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.y[0] == 1.5f && d.y[1] == -2000 && d.class_names == NULL, "regression labels are numbers");
  if (rc == 0) lf_dataset_free(&d);
  expect_error(&r, path_in("t.csv"), NULL, NULL, 0, "t.csv row 1: label 'dog' is not a number", "regression text label");

  /* Feature subset, in the given order. */
  write_text("sub.csv", "x1,x2,x3,label\n1,2,3,0\n4,5,6,1\n");
  char *feats[] = { "x3", "x1" };
  lf_dataset_spec f = s;
  f.features = feats;
  f.nfeatures = 2;
  rc = lf_dataset_load(&f, path_in("sub.csv"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.shape.dim[0] == 2 && d.x[0] == 3 && d.x[1] == 1 && d.x[2] == 6 && d.x[3] == 4,
        "feature subset x3,x1");
  if (rc == 0) lf_dataset_free(&d);
  char *missing[] = { "x1", "x9" };
  f.features = missing;
  expect_error(&f, path_in("sub.csv"), NULL, NULL, 0, "has no feature column 'x9' (columns: x1, x2, x3, label)",
               "missing feature column");
  lf_dataset_spec l = s;
  l.label = "y";
  expect_error(&l, path_in("sub.csv"), NULL, NULL, 0, "sub.csv has no label column 'y' (columns: x1, x2, x3, label)",
               "missing label column");
  l.scale = 2;
  l.label = "x2";
  rc = lf_dataset_load(&l, path_in("sub.csv"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.shape.dim[0] == 3 && d.x[0] == 0.5f && d.x[1] == 1.5f && d.x[2] == 0 && d.y[1] == 5,
        "label column by name, scale applied to features");
  if (rc == 0) lf_dataset_free(&d);

  /* Bad data. */
  write_text("nan.csv", "x1,x2,label\n1,2,0\n3,abc,1\n");
  char want[600];
  snprintf(want, sizeof want, "%s row 2 column 'x2': 'abc' is not a number", path_in("nan.csv"));
  expect_error(&s, path_in("nan.csv"), NULL, NULL, 0, want, "non-number feature");
  write_text("inf.csv", "x1,label\ninf,0\n");
  expect_error(&s, path_in("inf.csv"), NULL, NULL, 0, "row 1 column 'x1': 'inf' is not a number", "infinite feature");
  write_text("empty-field.csv", "x1,label\n,0\n");
  expect_error(&s, path_in("empty-field.csv"), NULL, NULL, 0, "row 1 column 'x1': '' is not a number", "empty feature");
  write_text("huge.csv", "x1,label\n1e300,0\n");
  expect_error(&s, path_in("huge.csv"), NULL, NULL, 0, "out of float32 range", "feature beyond float range");
  write_text("rag.csv", "x1,x2,label\n1,2,0\n3,4,1\n5,6\n7,8,1\n");
  expect_error(&s, path_in("rag.csv"), NULL, NULL, 0, "rag.csv row 3 has 2 fields, the header has 3", "ragged row");
  write_text("rag2.csv", "x1,x2,label\n1,2,0,9\n");
  expect_error(&s, path_in("rag2.csv"), NULL, NULL, 0, "row 1 has 4 fields", "row too long");
  write_text("open.csv", "x1,label\n1,\"cat\n2,dog\n");
  expect_error(&s, path_in("open.csv"), NULL, NULL, 0, "row 1: a quoted field is never closed", "unterminated quote");
  write_text("stray.csv", "x1,label\n1,\"cat\"x\n");
  expect_error(&s, path_in("stray.csv"), NULL, NULL, 0, "row 1 column 2: text after the closing quote", "stray quote");
  write_text("nolabel.csv", "x1,label\n1,\n");
  expect_error(&s, path_in("nolabel.csv"), NULL, NULL, 0, "row 1: the label ('label') is empty", "empty label");
  write_text("empty.csv", "");
  expect_error(&s, path_in("empty.csv"), NULL, NULL, 0, "is empty (a header row is required)", "empty file");
  write_text("header.csv", "x1,label\r\n");
  expect_error(&s, path_in("header.csv"), NULL, NULL, 0, "has no data rows", "header only");
  write_text("onlylabel.csv", "label\n1\n");
  expect_error(&s, path_in("onlylabel.csv"), NULL, NULL, 0, "no feature columns", "no feature columns");
  expect_error(&s, path_in("absent.csv"), NULL, NULL, 0, "cannot open", "missing csv file");

  /* Enough rows to make the buffers grow several times. */
  FILE *out = fopen(path_in("many.csv"), "w");
  fprintf(out, "a,b,label\n");
  for (int i = 0; i < 5000; i++) fprintf(out, "%d,%d.25,%s\n", i, -i, i % 3 == 0 ? "x" : i % 3 == 1 ? "y" : "z");
  fclose(out);
  rc = lf_dataset_load(&s, path_in("many.csv"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.n == 5000 && d.x[2 * 4999] == 4999 && d.x[2 * 4999 + 1] == -4999.25f && d.y[4999] == 1
        && d.nclasses == 3, "5000-row csv (%s)", rc ? errbuf : "ok");
  if (rc == 0) lf_dataset_free(&d);
}

/* --------------------------------------------------------- standardize */

static void test_standardize(void)
{
  lf_dataset_spec s = spec_of(LF_DS_CSV, 0);
  lf_dataset d, v;
  write_text("st.csv", "a,b,c,label\n1,10,7,0\n2,20,7,1\n3,30,7,0\n6,-60,7,1\n");
  write_text("sv.csv", "a,b,c,label\n3,0,8,0\n");
  int rc = lf_dataset_load(&s, path_in("st.csv"), NULL, NULL, 0, &d, errbuf, sizeof errbuf);
  int rc2 = lf_dataset_load(&s, path_in("sv.csv"), NULL, NULL, 0, &v, errbuf, sizeof errbuf);
  CHECK(rc == 0 && rc2 == 0, "standardize fixtures load (%s)", errbuf);
  if (rc || rc2) return;
  float *mean = NULL, *std = NULL;
  lf_dataset_stats(&d, &mean, &std);
  CHECK(mean && std, "stats allocated");
  if (!mean || !std) return;
  double ma = 3, mb = 0, sa = sqrt((4 + 1 + 0 + 9) / 4.0), sb = sqrt((100 + 400 + 900 + 3600) / 4.0);
  CHECK(near(mean[0], ma) && near(mean[1], mb) && near(mean[2], 7), "per-feature mean");
  CHECK(near(std[0], sa) && near(std[1], sb) && std[2] == 1.0f, "population std; constant feature gets 1");
  lf_dataset_standardize(&d, mean, std);
  lf_dataset_standardize(&v, mean, std);
  double m0 = 0, s0 = 0;
  for (int i = 0; i < 4; i++) m0 += d.x[i * 3];
  for (int i = 0; i < 4; i++) s0 += d.x[i * 3] * d.x[i * 3];
  CHECK(near(m0 / 4, 0) && near(s0 / 4, 1), "standardized train feature has mean 0, std 1");
  CHECK(d.x[2] == 0 && near(v.x[0], 0) && near(v.x[1], 0) && near(v.x[2], 1),
        "validation split uses the train statistics");
  free(mean);
  free(std);
  lf_dataset_free(&d);
  lf_dataset_free(&v);

  /* Large offsets: computed in double, the std is still exact. */
  lf_dataset big;
  memset(&big, 0, sizeof big);
  big.n = 100000;
  big.shape.ndim = 1;
  big.shape.dim[0] = 1;
  big.x = malloc(100000 * sizeof(float));
  for (int i = 0; i < 100000; i++) big.x[i] = 10000.0f + (i % 2 ? 1.0f : -1.0f);
  lf_dataset_stats(&big, &mean, &std);
  CHECK(mean && near(mean[0], 10000) && near(std[0], 1), "stats in double: mean 10000, std 1 (got %g)",
        std ? std[0] : -1.0);
  free(mean);
  free(std);
  free(big.x);
}

/* ------------------------------------------------------------------ sql */

static void test_sql(void)
{
  sqlite3 *db;
  sqlite3_open(":memory:", &db);
  sqlite3_exec(db,
    "CREATE TABLE t(a REAL, b INTEGER, c TEXT, label, img BLOB, f BLOB);"
    "INSERT INTO t VALUES(1.5, 2, '2.5', 1, x'00ff7f80', x'0000803f000000c0');"   /* f = 1, -2 */
    "INSERT INTO t VALUES(-3, 4, ' 7 ', 0, x'01020304', x'0000004000004040');"    /* f = 2, 3 */
    "INSERT INTO t VALUES(5, 6, '8', 2, x'fffefdfc', x'0000000000000000');"
    "CREATE TABLE txt(x, y TEXT);"
    "INSERT INTO txt VALUES(1, 'zebra'), (2, 'ant'), (3, 'zebra');",
    NULL, NULL, NULL);

  lf_dataset_spec s = spec_of(LF_DS_SQL, 0);
  lf_dataset d;
  char *feats[] = { "a", "B", "c" };   /* SQL names match without case */
  s.features = feats;
  s.nfeatures = 3;
  int rc = lf_dataset_load(&s, "SELECT * FROM t ORDER BY rowid", db, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0, "sql numeric columns load (%s)", rc ? errbuf : "ok");
  if (rc == 0) {
    CHECK(d.n == 3 && d.shape.ndim == 1 && d.shape.dim[0] == 3, "sql: 3 rows of [3]");
    CHECK(d.x[0] == 1.5f && d.x[1] == 2 && d.x[2] == 2.5f && d.x[3] == -3 && d.x[5] == 7 && d.x[8] == 8,
          "sql: REAL, INTEGER and numeric TEXT values");
    CHECK(d.nclasses == 3 && d.y[0] == 1 && d.y[2] == 2 && d.class_names == NULL, "sql: integer labels");
    lf_dataset_free(&d);
  }
  /* Default features: every column but the label. */
  lf_dataset_spec all = spec_of(LF_DS_SQL, 0);
  all.label = "y";
  rc = lf_dataset_load(&all, "SELECT x, y FROM txt; -- trailing comment", db, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.shape.dim[0] == 1 && d.nclasses == 2 && strcmp(d.class_names[0], "ant") == 0
        && d.y[0] == 1 && d.y[1] == 0, "sql text labels, trailing comment ok (%s)", rc ? errbuf : "ok");
  if (rc == 0) lf_dataset_free(&d);
  char *given[] = { "zebra" };
  expect_error(&all, "SELECT x, y FROM txt", db, given, 1, "dataset query row 2: label 'ant' is not one of the training classes",
               "sql unknown label with given mapping");

  /* uint8 blob with a shape; scale 255. */
  lf_dataset_spec b = spec_of(LF_DS_SQL, 255);
  b.blob = "img";
  b.blob_dtype = 1;
  b.blob_shape.ndim = 3;
  b.blob_shape.dim[0] = 1; b.blob_shape.dim[1] = 2; b.blob_shape.dim[2] = 2;
  rc = lf_dataset_load(&b, "SELECT img, label FROM t ORDER BY rowid", db, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0, "sql uint8 blob loads (%s)", rc ? errbuf : "ok");
  if (rc == 0) {
    CHECK(d.n == 3 && d.shape.ndim == 3 && d.shape.dim[1] == 2 && d.shape.dim[2] == 2, "blob shape [1,2,2]");
    CHECK(d.x[0] == 0 && d.x[1] == 1 && d.x[2] == (float)(127 / 255.0) && d.x[4] == (float)(1 / 255.0)
          && d.x[8] == 1, "blob bytes / 255");
    lf_dataset_free(&d);
  }
  /* float32 blob without a shape: [len]. */
  lf_dataset_spec fb = spec_of(LF_DS_SQL, 0);
  fb.blob = "f";
  fb.blob_dtype = 4;
  rc = lf_dataset_load(&fb, "SELECT f, label FROM t ORDER BY rowid", db, NULL, 0, &d, errbuf, sizeof errbuf);
  CHECK(rc == 0 && d.shape.ndim == 1 && d.shape.dim[0] == 2 && d.x[0] == 1 && d.x[1] == -2 && d.x[2] == 2
        && d.x[3] == 3, "float32 blob, shape from the first row (%s)", rc ? errbuf : "ok");
  if (rc == 0) lf_dataset_free(&d);
  b.blob_shape.dim[2] = 3;
  expect_error(&b, "SELECT img, label FROM t", db, NULL, 0,
               "dataset query row 1 column 'img': blob has 4 bytes, expected 6 ([1,2,3] uint8)", "wrong blob size");
  b.blob_shape.dim[2] = 2;
  sqlite3_exec(db, "INSERT INTO t VALUES(0, 0, '0', 0, x'0102', x'00');", NULL, NULL, NULL);
  expect_error(&b, "SELECT img, label FROM t ORDER BY rowid", db, NULL, 0, "row 4 column 'img': blob has 2 bytes, expected 4",
               "wrong blob size names the row");
  expect_error(&b, "SELECT c AS img, label FROM t", db, NULL, 0, "expected a BLOB, got TEXT", "text in the blob column");
  expect_error(&fb, "SELECT x'0000c07f' AS f, 1 AS label", db, NULL, 0, "element 0 of the blob is not a finite number",
               "NaN in a float32 blob");

  /* Errors. */
  sqlite3_exec(db, "UPDATE t SET c = 'abc' WHERE rowid = 2;", NULL, NULL, NULL);
  expect_error(&s, "SELECT * FROM t ORDER BY rowid", db, NULL, 0, "dataset query row 2 column 'c': 'abc' is not a number",
               "text in a feature column");
  expect_error(&s, "SELECT a, b, NULL AS c, label FROM t", db, NULL, 0, "row 1 column 'c': value is NULL", "NULL feature");
  expect_error(&s, "SELECT a, b, c, NULL AS label FROM t", db, NULL, 0, "row 1: the label ('label') is NULL", "NULL label");
  expect_error(&s, "DELETE FROM t", db, NULL, 0, "must be one SELECT, WITH or VALUES statement", "DELETE refused");
  expect_error(&s, "CREATE TABLE evil(x)", db, NULL, 0, "must be one SELECT", "CREATE refused");
  expect_error(&s, "SELECT * FROM t; DELETE FROM t", db, NULL, 0, "must be a single statement", "two statements refused");
  expect_error(&s, "SELECT * FROM t; SELECT 1", db, NULL, 0, "must be a single statement", "two SELECTs refused");
  expect_error(&s, "BEGIN", db, NULL, 0, "must be one SELECT", "BEGIN refused");
  expect_error(&s, "SELECT * FRM t", db, NULL, 0, "does not compile", "syntax error");
  expect_error(&s, "  ", db, NULL, 0, "is empty", "empty query");
  expect_error(&s, "SELECT * FROM t WHERE 0", db, NULL, 0, "no data rows", "no rows");
  expect_error(&s, "SELECT a, b FROM t", db, NULL, 0, "has no label column 'label' (columns: a, b)", "sql missing label");
  expect_error(&s, "SELECT * FROM t", NULL, NULL, 0, "no database connection", "no connection");
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL);
  sqlite3_step(st);
  CHECK(sqlite3_column_int(st, 0) == 4, "refused statements did not run (table intact)");
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name = 'evil'", -1, &st, NULL);
  sqlite3_step(st);
  CHECK(sqlite3_column_int(st, 0) == 0, "CREATE did not run");
  sqlite3_finalize(st);

  lf_dataset_spec bad = spec_of(LF_DS_SQL, 0);
  bad.blob = "img";
  bad.blob_dtype = 2;
  expect_error(&bad, "SELECT img, label FROM t", db, NULL, 0, "blob dtype 2 is not supported", "bad blob dtype");
  lf_dataset_spec neg = spec_of(LF_DS_SQL, -1);
  expect_error(&neg, "SELECT 1", db, NULL, 0, "scale", "negative scale");
  lf_dataset_spec kind = spec_of((lf_dataset_kind)9, 0);
  expect_error(&kind, "x", db, NULL, 0, "unknown kind", "unknown dataset kind");
  sqlite3_close(db);
}

/* ---------------------------------------------------------------- probe */

static void test_probe(void)
{
  lf_shape sh;
  lf_dataset_spec s = spec_of(LF_DS_IDX, 255);
  write_idx(path_in("p"), 4, 3, 5, 1, 0x803, 4, 0, 0);
  int rc = lf_dataset_probe(&s, path_in("p"), NULL, &sh, errbuf, sizeof errbuf);
  CHECK(rc == 0 && sh.ndim == 3 && sh.dim[0] == 1 && sh.dim[1] == 3 && sh.dim[2] == 5, "probe idx: [1,3,5]");
  write_idx(path_in("pm"), 4, 3, 5, 0, 0x803, 3, 0, 0);
  rc = lf_dataset_probe(&s, path_in("pm"), NULL, &sh, errbuf, sizeof errbuf);
  CHECK(rc == -1 && strstr(errbuf, "has 3 labels but"), "probe idx count mismatch: %s", errbuf);
  rc = lf_dataset_probe(&s, path_in("none"), NULL, &sh, errbuf, sizeof errbuf);
  CHECK(rc == -1 && strstr(errbuf, "cannot open"), "probe idx missing: %s", errbuf);

  lf_dataset_spec c = spec_of(LF_DS_CSV, 0);
  write_text("p.csv", "\n\"a\nb\",c,label,d\r\n1,2,3,4\n");
  rc = lf_dataset_probe(&c, path_in("p.csv"), NULL, &sh, errbuf, sizeof errbuf);
  CHECK(rc == 0 && sh.ndim == 1 && sh.dim[0] == 3, "probe csv: 3 features (%s)", rc ? errbuf : "ok");
  /* A header longer than one read chunk, without a final newline. */
  FILE *f = fopen(path_in("wide.csv"), "w");
  for (int i = 0; i < 20000; i++) fprintf(f, "feature%05d,", i);
  fprintf(f, "label");
  fclose(f);
  rc = lf_dataset_probe(&c, path_in("wide.csv"), NULL, &sh, errbuf, sizeof errbuf);
  CHECK(rc == 0 && sh.dim[0] == 20000, "probe csv: 20000-column header (%s)", rc ? errbuf : "ok");
  lf_dataset_spec cl = c;
  cl.label = "nope";
  write_text("pl.csv", "a,b\n1,2\n");
  rc = lf_dataset_probe(&cl, path_in("pl.csv"), NULL, &sh, errbuf, sizeof errbuf);
  CHECK(rc == -1 && strstr(errbuf, "no label column 'nope' (columns: a, b)"), "probe csv missing label: %s", errbuf);
  write_text("pe.csv", "");
  rc = lf_dataset_probe(&c, path_in("pe.csv"), NULL, &sh, errbuf, sizeof errbuf);
  CHECK(rc == -1 && strstr(errbuf, "is empty"), "probe empty csv: %s", errbuf);

  sqlite3 *db;
  sqlite3_open(":memory:", &db);
  sqlite3_exec(db, "CREATE TABLE t(a, b, label, img);"
                   "INSERT INTO t VALUES(1, 2, 0, x'0102030405');", NULL, NULL, NULL);
  lf_dataset_spec q = spec_of(LF_DS_SQL, 0);
  rc = lf_dataset_probe(&q, "SELECT a, b, label FROM t", db, &sh, errbuf, sizeof errbuf);
  CHECK(rc == 0 && sh.ndim == 1 && sh.dim[0] == 2, "probe sql: 2 features");
  q.blob = "img";
  q.blob_dtype = 1;
  rc = lf_dataset_probe(&q, "SELECT img, label FROM t", db, &sh, errbuf, sizeof errbuf);
  CHECK(rc == 0 && sh.ndim == 1 && sh.dim[0] == 5, "probe sql blob: [5] from the first row");
  q.blob_shape.ndim = 2;
  q.blob_shape.dim[0] = 7;
  q.blob_shape.dim[1] = 9;
  rc = lf_dataset_probe(&q, "SELECT img, label FROM t", db, &sh, errbuf, sizeof errbuf);
  CHECK(rc == 0 && sh.ndim == 2 && sh.dim[0] == 7 && sh.dim[1] == 9, "probe sql blob: the given shape");
  rc = lf_dataset_probe(&q, "DROP TABLE t", db, &sh, errbuf, sizeof errbuf);
  CHECK(rc == -1 && strstr(errbuf, "must be one SELECT"), "probe sql refuses DROP: %s", errbuf);
  q.blob_shape.ndim = 0;
  rc = lf_dataset_probe(&q, "SELECT img, label FROM t WHERE 0", db, &sh, errbuf, sizeof errbuf);
  CHECK(rc == -1 && strstr(errbuf, "no data rows"), "probe sql blob, no rows: %s", errbuf);
  sqlite3_close(db);
}

static void rm_tree(const char *dir)
{
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
  snprintf(tmpdir, sizeof tmpdir, "/tmp/lf_dataset_XXXXXX");
  if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
  test_idx();
  test_csv();
  test_standardize();
  test_sql();
  test_probe();
  rm_tree(tmpdir);
  TEST_EXIT();
}
