/*
** test_ckpt.c — weight files: exact round trips at every zlib level, and
** hostile input (truncation, every single-bit flip, forged headers, a
** newer version) giving an error instead of a crash; atomic writes that
** leave the old file alone and no temp file behind when they fail.
*/
#include "lf_test.h"
#include "lf_ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];

static char *path_in(const char *name)
{
  static char buf[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
  return buf[k];
}

static unsigned char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
  *len = fread(b, 1, (size_t)n, f);
  fclose(f);
  return b;
}

static int count_temp_files(const char *dir)
{
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  if (!d) return -1;
  while ((e = readdir(d)) != NULL)
    if (strstr(e->d_name, ".tmp-")) n++;
  closedir(d);
  return n;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}

/* A varied set of records: f32 matrix, bias, u8 4-d, i64, empty, scalar. */
#define NREC 6
static float w1[12], b1[5], scalar[1];
static unsigned char u4[16];
static int64_t i3[3];
static lf_tensor_rec recs[NREC];

static void make_records(void)
{
  for (int i = 0; i < 12; i++) w1[i] = (float)i * 0.25f - 1.0f;
  for (int i = 0; i < 5; i++) b1[i] = (float)(rnd() % 1000) / 7.0f;
  for (int i = 0; i < 16; i++) u4[i] = (unsigned char)(i * 17);
  i3[0] = -1; i3[1] = INT64_MAX; i3[2] = 42;
  scalar[0] = 3.5f;
  recs[0] = (lf_tensor_rec){ "0.weight", 4, 2, { 3, 4 }, w1 };
  recs[1] = (lf_tensor_rec){ "0.bias", 4, 1, { 5 }, b1 };
  recs[2] = (lf_tensor_rec){ "pixels", 1, 4, { 2, 2, 2, 2 }, u4 };
  recs[3] = (lf_tensor_rec){ "step", 8, 1, { 3 }, i3 };
  recs[4] = (lf_tensor_rec){ "empty", 4, 2, { 0, 7 }, NULL };
  recs[5] = (lf_tensor_rec){ "lr", 4, 0, { 0 }, scalar };
}

static size_t rec_size(const lf_tensor_rec *r)
{
  size_t n = (size_t)r->dtype;
  for (int d = 0; d < r->ndim; d++) n *= (size_t)r->dim[d];
  return n;
}

static int same_records(const lf_tensor_rec *a, int na, const lf_tensor_rec *b, int nb)
{
  if (na != nb) return 0;
  for (int i = 0; i < na; i++) {
    if (strcmp(a[i].name, b[i].name) || a[i].dtype != b[i].dtype || a[i].ndim != b[i].ndim) return 0;
    for (int d = 0; d < a[i].ndim; d++) if (a[i].dim[d] != b[i].dim[d]) return 0;
    size_t n = rec_size(&a[i]);
    if (n && memcmp(a[i].data, b[i].data, n)) return 0;
  }
  return 1;
}

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void fix_header_crc(unsigned char *b) { put32(b + 36, (uint32_t)crc32(0L, b, 32)); }

static void test_round_trip(void)
{
  char err[512];
  for (int level = 0; level <= 9; level++) {
    const char *p = path_in("rt.lfw");
    int rc = lf_ckpt_write(p, recs, NREC, level, err, sizeof err);
    CHECK(rc == 0, "write level %d (%s)", level, rc ? err : "ok");
    lf_tensor_rec *got = NULL;
    int n = -1;
    rc = lf_ckpt_read(p, &got, &n, err, sizeof err);
    CHECK(rc == 0 && same_records(recs, NREC, got, n), "round trip level %d exact (%s)", level, rc ? err : "ok");
    if (rc == 0) {
      const lf_tensor_rec *f = lf_ckpt_find(got, n, "step");
      CHECK(f && ((int64_t *)f->data)[1] == INT64_MAX, "find 'step' level %d", level);
      CHECK(lf_ckpt_find(got, n, "nope") == NULL, "find absent name gives NULL");
    }
    lf_ckpt_free(got, n);
  }
  CHECK(count_temp_files(tmpdir) == 0, "no temp files left after writes");

  /* Zero tensors is a valid (empty) file. */
  lf_tensor_rec *got = NULL;
  int n = -1;
  int rc = lf_ckpt_write(path_in("empty.lfw"), NULL, 0, 6, err, sizeof err);
  if (rc == 0) rc = lf_ckpt_read(path_in("empty.lfw"), &got, &n, err, sizeof err);
  CHECK(rc == 0 && n == 0, "empty weight file round trip (%s)", rc ? err : "ok");
  lf_ckpt_free(got, n);

  /* A larger tensor, compressible and not, through the streaming writer. */
  size_t big = 600000;
  float *data = malloc(big * sizeof *data);
  for (size_t i = 0; i < big; i++) data[i] = (i % 3 == 0) ? 0.0f : (float)rnd() / 65536.0f;
  lf_tensor_rec r = { "big", 4, 2, { 600, 1000 }, data };
  for (int level = 1; level <= 9; level += 8) {
    rc = lf_ckpt_write(path_in("big.lfw"), &r, 1, level, err, sizeof err);
    got = NULL;
    n = 0;
    if (rc == 0) rc = lf_ckpt_read(path_in("big.lfw"), &got, &n, err, sizeof err);
    CHECK(rc == 0 && same_records(&r, 1, got, n), "2.4 MB tensor round trip level %d (%s)", level, rc ? err : "ok");
    lf_ckpt_free(got, n);
  }
  free(data);

  /* Through memory, as bundles do. */
  size_t len = 0;
  lf_ckpt_write(path_in("rt.lfw"), recs, NREC, 6, err, sizeof err);
  unsigned char *buf = slurp(path_in("rt.lfw"), &len);
  got = NULL;
  rc = lf_ckpt_read_mem(buf, len, &got, &n, err, sizeof err);
  CHECK(rc == 0 && same_records(recs, NREC, got, n), "read from memory (%s)", rc ? err : "ok");
  lf_ckpt_free(got, n);
  free(buf);
}

/* Many random files (runs, noise, small alphabets; many sizes and levels)
** must all read back: the strict checks must never reject a good file. */
static void test_random_round_trips(void)
{
  char err[512];
  int failures = 0;
  for (int iter = 0; iter < 300; iter++) {
    int nr = 1 + (int)(rnd() % 4);
    lf_tensor_rec r[4];
    char names[4][32];
    for (int i = 0; i < nr; i++) {
      size_t len = rnd() % (iter < 250 ? 3000 : 200000);
      unsigned char *d = malloc(len ? len : 1);
      int kind = (int)(rnd() % 4);
      for (size_t j = 0; j < len; j++) {
        if (kind == 0) d[j] = (unsigned char)rnd();
        else if (kind == 1) d[j] = (unsigned char)((j / (1 + rnd() % 50)) & 3);
        else if (kind == 2) d[j] = (unsigned char)(rnd() % 3);
        else d[j] = (j % 97 < 60) ? 0 : (unsigned char)rnd();
      }
      snprintf(names[i], sizeof names[i], "t%d.%d", iter, i);
      r[i] = (lf_tensor_rec){ names[i], 1, 1, { (int64_t)len }, d };
    }
    int level = (int)(rnd() % 10);
    int rc = lf_ckpt_write(path_in("rand.lfw"), r, nr, level, err, sizeof err);
    lf_tensor_rec *got = NULL;
    int n = 0;
    if (rc == 0) rc = lf_ckpt_read(path_in("rand.lfw"), &got, &n, err, sizeof err);
    if (rc != 0 || !same_records(r, nr, got, n)) {
      if (failures++ == 0) printf("# random round trip %d level %d: %s\n", iter, level, rc ? err : "data differs");
    }
    lf_ckpt_free(got, n);
    for (int i = 0; i < nr; i++) free(r[i].data);
  }
  CHECK(failures == 0, "300 random files round trip (%d failures)", failures);
}

static void test_bad_arguments(void)
{
  char err[512] = "";
  CHECK(lf_ckpt_write(path_in("x.lfw"), recs, NREC, 10, err, sizeof err) == -1
        && strstr(err, "level 10"), "level 10 refused: %s", err);
  lf_tensor_rec bad = { "t", 3, 1, { 2 }, w1 };
  CHECK(lf_ckpt_write(path_in("x.lfw"), &bad, 1, 6, err, sizeof err) == -1, "dtype 3 refused: %s", err);
  lf_tensor_rec noname = { "", 4, 1, { 2 }, w1 };
  CHECK(lf_ckpt_write(path_in("x.lfw"), &noname, 1, 6, err, sizeof err) == -1, "empty name refused: %s", err);
  lf_tensor_rec nodata = { "t", 4, 1, { 2 }, NULL };
  CHECK(lf_ckpt_write(path_in("x.lfw"), &nodata, 1, 6, err, sizeof err) == -1, "missing data refused: %s", err);
  lf_tensor_rec huge = { "t", 4, 4, { INT64_MAX, 2, 2, 2 }, w1 };
  CHECK(lf_ckpt_write(path_in("x.lfw"), &huge, 1, 6, err, sizeof err) == -1, "overflowing dims refused: %s", err);
  CHECK(access(path_in("x.lfw"), F_OK) != 0, "nothing written for bad arguments");

  lf_tensor_rec *got = (lf_tensor_rec *)1;
  int n = 5;
  CHECK(lf_ckpt_read(path_in("missing.lfw"), &got, &n, err, sizeof err) == -1
        && strstr(err, "No such file") && got == NULL && n == 0, "missing file: %s", err);
  CHECK(lf_ckpt_read(tmpdir, &got, &n, err, sizeof err) == -1, "directory refused: %s", err);
  CHECK(lf_ckpt_read_mem("LFWEIGHT", 8, &got, &n, err, sizeof err) == -1 && strstr(err, "truncated"),
        "8-byte blob: %s", err);
  char junk[64];
  memset(junk, 'x', sizeof junk);
  CHECK(lf_ckpt_read_mem(junk, sizeof junk, &got, &n, err, sizeof err) == -1 && strstr(err, "not a LabFlow"),
        "bad magic: %s", err);
}

static void test_truncation(void)
{
  char err[512];
  lf_ckpt_write(path_in("t.lfw"), recs, NREC, 6, err, sizeof err);
  size_t len = 0;
  unsigned char *buf = slurp(path_in("t.lfw"), &len);
  int bad = 0, wrong_msg = 0;
  for (size_t cut = 0; cut < len; cut++) {
    /* An exact-size copy so ASan catches any read past the end. */
    unsigned char *b = malloc(cut ? cut : 1);
    memcpy(b, buf, cut);
    lf_tensor_rec *got = NULL;
    int n = 0;
    err[0] = 0;
    if (lf_ckpt_read_mem(b, cut, &got, &n, err, sizeof err) != -1) { bad++; lf_ckpt_free(got, n); }
    else if (!strstr(err, "truncated")) wrong_msg++;
    free(b);
  }
  CHECK(bad == 0, "every truncation (%zu offsets) is an error", len);
  CHECK(wrong_msg == 0, "every truncation says 'truncated'");

  /* On disk too, with the path in the message. */
  FILE *f = fopen(path_in("cut.lfw"), "wb");
  fwrite(buf, 1, len / 2, f);
  fclose(f);
  lf_tensor_rec *got = NULL;
  int n = 0;
  int rc = lf_ckpt_read(path_in("cut.lfw"), &got, &n, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "cut.lfw") && strstr(err, "truncated"), "truncated file: %s", err);

  /* Trailing garbage is not silently ignored. */
  unsigned char *b = malloc(len + 3);
  memcpy(b, buf, len);
  memcpy(b + len, "abc", 3);
  rc = lf_ckpt_read_mem(b, len + 3, &got, &n, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "corrupt"), "trailing bytes: %s", err);
  free(b);
  free(buf);
}

/* Flips every bit of a small file written at `level`. Each flip must be
** rejected, or (deflate has redundant encodings: e.g. a match distance
** that points at equal bytes) decode to exactly the original tensors, so
** wrong weights are never returned. With strict, all must be rejected:
** stored blocks and the header have no such redundancy. */
static void flip_every_bit(const lf_tensor_rec *r, int nr, int level, int strict, const char *label)
{
  char err[512];
  const char *p = path_in("flip.lfw");
  if (lf_ckpt_write(p, r, nr, level, err, sizeof err) != 0) { CHECK(0, "write for flips: %s", err); return; }
  size_t len = 0;
  unsigned char *buf = slurp(p, &len);
  int accepted = 0, wrong = 0, no_msg = 0, header_accepted = 0;
  for (size_t bit = 0; bit < len * 8; bit++) {
    buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    lf_tensor_rec *got = NULL;
    int n = 0;
    err[0] = 0;
    if (lf_ckpt_read_mem(buf, len, &got, &n, err, sizeof err) == 0) {
      accepted++;
      if (bit < 40 * 8) header_accepted++;
      if (!same_records(r, nr, got, n)) wrong++;
      lf_ckpt_free(got, n);
    } else if (err[0] == 0) {
      no_msg++;
    }
    buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
  }
  CHECK(wrong == 0, "%s level %d: no single-bit flip of %zu yields different tensors", label, level, len * 8);
  CHECK(header_accepted == 0, "%s level %d: every header bit flip rejected", label, level);
  if (strict)
    CHECK(accepted == 0, "%s level %d: all %zu single-bit flips rejected (%d accepted)", label, level, len * 8, accepted);
  else
    CHECK(accepted * 50 < (int)(len * 8), "%s level %d: %zu flips, %d decode to the same tensors", label, level, len * 8, accepted);
  CHECK(no_msg == 0, "%s level %d: every rejection has a message", label, level);
  free(buf);
}

static void test_bit_flips(void)
{
  for (int level = 0; level <= 9; level++) flip_every_bit(recs, NREC, level, level == 0, "mixed");
  /* Random bytes make deflate choose stored blocks even at level 9. */
  unsigned char noise[300];
  for (size_t i = 0; i < sizeof noise; i++) noise[i] = (unsigned char)rnd();
  lf_tensor_rec r = { "noise", 1, 1, { 300 }, noise };
  flip_every_bit(&r, 1, 9, 1, "incompressible");
  flip_every_bit(&r, 1, 0, 1, "incompressible");

  char err[512];
  lf_ckpt_write(path_in("c.lfw"), recs, NREC, 6, err, sizeof err);
  size_t len = 0;
  unsigned char *buf = slurp(path_in("c.lfw"), &len);
  /* Corrupt the last payload byte's CRC field only: "checksum mismatch". */
  buf[33] ^= 0x10;
  lf_tensor_rec *got = NULL;
  int n = 0;
  int rc = lf_ckpt_read_mem(buf, len, &got, &n, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "is corrupt: checksum mismatch"), "payload crc: %s", err);
  FILE *f = fopen(path_in("c.lfw"), "wb");
  fwrite(buf, 1, len, f);
  fclose(f);
  rc = lf_ckpt_read(path_in("c.lfw"), &got, &n, err, sizeof err);
  char want[600];
  snprintf(want, sizeof want, "weight file %s is corrupt: checksum mismatch", path_in("c.lfw"));
  CHECK(rc == -1 && strcmp(err, want) == 0, "message names the file: %s", err);
  buf[33] ^= 0x10;
  buf[20] ^= 1;
  rc = lf_ckpt_read_mem(buf, len, &got, &n, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "header checksum mismatch"), "header crc: %s", err);
  free(buf);
}

static void test_forged_headers(void)
{
  char err[512];
  lf_ckpt_write(path_in("h.lfw"), recs, NREC, 6, err, sizeof err);
  size_t len = 0;
  unsigned char *buf = slurp(path_in("h.lfw"), &len);
  unsigned char *b = malloc(len);
  lf_tensor_rec *got = NULL;
  int n = 0;

  memcpy(b, buf, len);
  put32(b + 8, 7);
  fix_header_crc(b);
  int rc = lf_ckpt_read_mem(b, len, &got, &n, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "unsupported format version 7 (this LabFlow reads 1)"), "version 7: %s", err);

  /* Absurd payload size with a valid header CRC: refused before malloc. */
  memcpy(b, buf, len);
  put64(b + 16, (uint64_t)1 << 62);
  fix_header_crc(b);
  rc = lf_ckpt_read_mem(b, len, &got, &n, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "implausible"), "2^62 payload: %s", err);

  memcpy(b, buf, len);
  put32(b + 12, 0xffffffffu);
  fix_header_crc(b);
  rc = lf_ckpt_read_mem(b, len, &got, &n, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "implausible"), "4e9 tensors: %s", err);

  /* Payload size off by one either way. */
  uint64_t usize = 0;
  for (int i = 0; i < 8; i++) usize |= (uint64_t)buf[16 + i] << (8 * i);
  for (int d = -1; d <= 1; d += 2) {
    memcpy(b, buf, len);
    put64(b + 16, usize + (uint64_t)(int64_t)d);
    fix_header_crc(b);
    rc = lf_ckpt_read_mem(b, len, &got, &n, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "corrupt"), "payload size %+d: %s", d, err);
  }
  /* Tensor count off by one either way. */
  for (int d = -1; d <= 1; d += 2) {
    memcpy(b, buf, len);
    put32(b + 12, (uint32_t)(NREC + d));
    fix_header_crc(b);
    rc = lf_ckpt_read_mem(b, len, &got, &n, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "corrupt"), "tensor count %+d: %s", d, err);
  }
  free(b);
  free(buf);

  /* A well-formed stream whose records lie: dims beyond the payload. */
  unsigned char payload[64];
  size_t k = 0;
  payload[k++] = 1; payload[k++] = 0; payload[k++] = 'w';
  payload[k++] = 4; payload[k++] = 2;
  put64(payload + k, 1000000); k += 8;
  put64(payload + k, 1000000); k += 8;
  memset(payload + k, 0, 8); k += 8;
  unsigned char comp[256];
  uLongf clen = sizeof comp;
  compress2(comp, &clen, payload, k, 6);
  unsigned char file[300];
  memcpy(file, "LFWEIGHT", 8);
  put32(file + 8, 1);
  put32(file + 12, 1);
  put64(file + 16, k);
  put64(file + 24, clen);
  put32(file + 32, (uint32_t)crc32(0L, payload, (uInt)k));
  fix_header_crc(file);
  memcpy(file + 40, comp, clen);
  rc = lf_ckpt_read_mem(file, 40 + clen, &got, &n, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "past the end"), "record larger than payload: %s", err);
}

static void test_atomic_failures(void)
{
  char err[512];
  /* Into a directory that does not exist: error, nothing created. */
  const char *p = path_in("nodir/sub/w.lfw");
  int rc = lf_ckpt_write(p, recs, NREC, 6, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "No such file or directory"), "missing dir: %s", err);
  CHECK(access(path_in("nodir"), F_OK) != 0, "missing dir not created");
  CHECK(count_temp_files(tmpdir) == 0, "no temp file after failed write");

  /* The temp name is taken by a directory: the write fails, old file stays. */
  const char *keep = path_in("keep.lfw");
  rc = lf_ckpt_write(keep, recs, 2, 6, err, sizeof err);
  size_t olen = 0, nlen = 0;
  unsigned char *old = slurp(keep, &olen);
  char blocker[600];
  snprintf(blocker, sizeof blocker, "%s.tmp-%ld", keep, (long)getpid());
  mkdir(blocker, 0755);
  rc = lf_ckpt_write(keep, recs, NREC, 6, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "keep.lfw"), "blocked temp file: %s", err);
  unsigned char *now = slurp(keep, &nlen);
  CHECK(now && olen == nlen && memcmp(old, now, olen) == 0, "old file untouched after failed rewrite");
  free(now);
  rmdir(blocker);

  /* A write that fails midway (file size limit, like a full disk). */
  struct rlimit saved, lim;
  getrlimit(RLIMIT_FSIZE, &saved);
  signal(SIGXFSZ, SIG_IGN);
  lim = saved;
  lim.rlim_cur = 4096;
  size_t big = 100000;
  unsigned char *noise = malloc(big);
  for (size_t i = 0; i < big; i++) noise[i] = (unsigned char)rnd();
  lf_tensor_rec r = { "noise", 1, 1, { (int64_t)big }, noise };
  if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
    rc = lf_ckpt_write(keep, &r, 1, 6, err, sizeof err);
    int rc2 = lf_write_file_atomic(keep, noise, big, err + 256, sizeof err - 256);
    setrlimit(RLIMIT_FSIZE, &saved);
    CHECK(rc == -1 && strstr(err, "File too large"), "mid-write failure reported: %s", err);
    CHECK(rc2 == -1 && strstr(err + 256, "File too large"), "atomic file mid-write failure: %s", err + 256);
    now = slurp(keep, &nlen);
    CHECK(now && olen == nlen && memcmp(old, now, olen) == 0, "old file untouched after mid-write failure");
    free(now);
    CHECK(count_temp_files(tmpdir) == 0, "temp file removed after mid-write failure");
  } else {
    CHECK(0, "setrlimit(RLIMIT_FSIZE) failed: %s", strerror(errno));
  }
  free(noise);

  /* Read-only directory (only meaningful when not root). */
  if (geteuid() != 0) {
    char ro[600];
    snprintf(ro, sizeof ro, "%s/ro", tmpdir);
    mkdir(ro, 0755);
    char rofile[700];
    snprintf(rofile, sizeof rofile, "%s/w.lfw", ro);
    lf_ckpt_write(rofile, recs, 2, 6, err, sizeof err);
    chmod(ro, 0555);
    rc = lf_ckpt_write(rofile, recs, NREC, 6, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "Permission denied"), "read-only dir: %s", err);
    now = slurp(rofile, &nlen);
    CHECK(now && olen == nlen && memcmp(old, now, olen) == 0, "old file kept in read-only dir");
    free(now);
    chmod(ro, 0755);
    unlink(rofile);
    rmdir(ro);
  }
  free(old);
}

static void test_plain_files(void)
{
  char err[512];
  const char *p = path_in("a/b/c");
  CHECK(lf_mkdirs(p, err, sizeof err) == 0, "mkdirs a/b/c (%s)", err);
  struct stat st;
  CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode), "a/b/c is a directory");
  CHECK(lf_mkdirs(p, err, sizeof err) == 0, "mkdirs again is fine");
  CHECK(lf_mkdirs(path_in("a/b/c/"), err, sizeof err) == 0, "trailing slash is fine");

  const char *f = path_in("a/b/file.txt");
  int rc = lf_write_file_atomic(f, "hello\n", 6, err, sizeof err);
  size_t len = 0;
  unsigned char *got = slurp(f, &len);
  CHECK(rc == 0 && got && len == 6 && memcmp(got, "hello\n", 6) == 0, "atomic write");
  free(got);
  rc = lf_write_file_atomic(f, "bye", 3, err, sizeof err);
  got = slurp(f, &len);
  CHECK(rc == 0 && got && len == 3 && memcmp(got, "bye", 3) == 0, "atomic overwrite");
  free(got);
  rc = lf_write_file_atomic(f, NULL, 0, err, sizeof err);
  got = slurp(f, &len);
  CHECK(rc == 0 && len == 0, "atomic empty write");
  free(got);
  CHECK(lf_mkdirs(path_in("a/b/file.txt/d"), err, sizeof err) == -1, "mkdirs under a file: %s", err);
  CHECK(lf_mkdirs(f, err, sizeof err) == -1 && strstr(err, "file.txt"), "mkdirs on a file: %s", err);
  CHECK(lf_write_file_atomic(path_in("zz/x"), "x", 1, err, sizeof err) == -1 && strstr(err, "No such file"),
        "atomic write into missing dir: %s", err);
  /* Relative path (no slash): the directory fsync uses ".". */
  char cwd[512];
  if (getcwd(cwd, sizeof cwd) && chdir(tmpdir) == 0) {
    rc = lf_write_file_atomic("rel.txt", "r", 1, err, sizeof err);
    CHECK(rc == 0 && access("rel.txt", F_OK) == 0, "relative path write (%s)", rc ? err : "ok");
    if (chdir(cwd) != 0) perror("chdir");
  }
}

static void rm_tree(const char *dir)
{
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
  snprintf(tmpdir, sizeof tmpdir, "/tmp/lf_ckpt_XXXXXX");
  if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
  make_records();
  test_round_trip();
  test_random_round_trips();
  test_bad_arguments();
  test_truncation();
  test_bit_flips();
  test_forged_headers();
  test_atomic_failures();
  test_plain_files();
  rm_tree(tmpdir);
  TEST_EXIT();
}
