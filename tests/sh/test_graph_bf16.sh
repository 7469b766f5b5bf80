#!/bin/sh
# test_graph_bf16.sh — a graph model (conv stem, an identity Residual
# block and one with a strided shortcut, BatchNorm, GlobalAvgPool) in
# "precision": "bf16" on small images the test makes: it learns like f32,
# and 2 + 2 epochs end bit-identical to 4 (exact resume in bf16, and in
# f32). The PyTorchLabFlow tutorial's shape on a table the test makes:
# CategoricalEmbedding (a column of 400 categories, so codes above 256,
# which bf16 would round onto each other) + MLP with dropout +
# BCEWithLogitsLoss learns in bf16 as in f32 (within 5 points) and 2 + 2
# epochs end bit-identical to 4. Prints PASS/FAIL
# lines; on a CPU without avx512_bf16 one SKIP line. LF_TEST_PRECISION=f32
# runs it with the "bf16" pipelines in f32 (a dry run on any CPU).
set -u
cd "$(dirname "$0")/../.."
LIB="$(pwd)/labflow"
P16=${LF_TEST_PRECISION:-bf16}
# The f32 references' validation batch: 254 in a dry run, so that their
# configurations differ from the "bf16" ones (ppl_new refuses duplicates).
V32=256
[ -n "${LF_TEST_PRECISION:-}" ] && V32=254
if [ -z "${LF_TEST_PRECISION:-}" ] && ! grep -qw avx512_bf16 /proc/cpuinfo; then
  echo "SKIP graph bf16: this CPU has no avx512_bf16"
  exit 0
fi
[ -f labflow.so ] || { echo "FAIL graph bf16: needs labflow.so (make)"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# An identity block of 16 channels first (its first convolution adds its
# part of the block input's gradient into the Add's, AVX-512 f32 and AMX
# bf16), then a strided one.
MODEL='{"loc":"Sequential","args":{"layers":[{"loc":"Conv2d","args":{"out":16,"kernel":3,"padding":1,"bias":false}},{"loc":"BatchNorm2d"},{"loc":"ReLU"},{"loc":"Residual","args":{"layers":[{"loc":"Conv2d","args":{"out":16,"kernel":3,"padding":1,"bias":false}},{"loc":"BatchNorm2d"},{"loc":"ReLU"},{"loc":"Conv2d","args":{"out":16,"kernel":3,"padding":1,"bias":false}},{"loc":"BatchNorm2d"}]}},{"loc":"ReLU"},{"loc":"Residual","args":{"layers":[{"loc":"Conv2d","args":{"out":16,"kernel":3,"stride":2,"padding":1,"bias":false}},{"loc":"BatchNorm2d"},{"loc":"ReLU"},{"loc":"Conv2d","args":{"out":16,"kernel":3,"padding":1,"bias":false}},{"loc":"BatchNorm2d"}],"shortcut":[{"loc":"Conv2d","args":{"out":16,"kernel":1,"stride":2,"bias":false}},{"loc":"BatchNorm2d"}]}},{"loc":"ReLU"},{"loc":"GlobalAvgPool"},{"loc":"Linear","args":{"out":2}}]}}'
cfg() {  # precision val_batch_size
  echo "{\"model\":$MODEL,\"dataset\":{\"loc\":\"sql\",\"args\":{\"label\":\"label\",\"blob\":\"img\",\"shape\":[1,8,8],\"scale\":255}},\"train_data_src\":\"SELECT img, label FROM imgs WHERE rowid <= 320\",\"val_data_src\":\"SELECT img, label FROM imgs WHERE rowid > 320\",\"loss\":{\"loc\":\"CrossEntropyLoss\"},\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.01}},\"metrics\":{\"accuracy\":{\"loc\":\"Accuracy\"}},\"train_batch_size\":32,\"val_batch_size\":$2,\"seed\":4,\"precision\":\"$1\"}"
}
tab() {  # precision val_batch_size
  echo "{\"model\":{\"loc\":\"Sequential\",\"args\":{\"layers\":[{\"loc\":\"CategoricalEmbedding\",\"args\":{\"dim\":4}},{\"loc\":\"Linear\",\"args\":{\"out\":16}},{\"loc\":\"ReLU\"},{\"loc\":\"Dropout\",\"args\":{\"p\":0.1}},{\"loc\":\"Linear\",\"args\":{\"out\":1}}]}},\"dataset\":{\"loc\":\"sql\",\"args\":{\"label\":\"label\",\"inputs\":{\"cat\":{\"columns\":[\"kind\",\"grp\"],\"categorical\":true},\"cont\":{\"columns\":[\"x\"],\"standardize\":true}}}},\"train_data_src\":\"SELECT kind, grp, x, label FROM people WHERE rowid % 7 > 0\",\"val_data_src\":\"SELECT kind, grp, x, label FROM people WHERE rowid % 7 = 0\",\"loss\":{\"loc\":\"BCEWithLogitsLoss\"},\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.05}},\"metrics\":{\"accuracy\":{\"loc\":\"Accuracy\"}},\"train_batch_size\":32,\"val_batch_size\":$2,\"seed\":4,\"precision\":\"$1\"}"
}

# 8x8 images whose left half is brighter than the right (label 1) or
# not; bytes below 128, so char() makes one byte each.
sqlite3 -batch "$tmp/p.db" > "$tmp/out" 2> "$tmp/err" <<EOF
.load $LIB
SELECT lab_init('{"metrics":["accuracy"],"strategy":{"monitor":"val_loss","mode":"min"},"progress":false}');
CREATE TABLE imgs(img BLOB, label INT);
WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n+1 FROM i WHERE n < 399),
  px(n, k) AS (SELECT n, 0 FROM i UNION ALL SELECT n, k+1 FROM px WHERE k < 63)
INSERT INTO imgs SELECT CAST(group_concat(char(
    ((n * 131 + k * 71) % 60) + CASE WHEN (k % 8 < 4) = (n % 2 = 1) THEN 60 ELSE 0 END), '') AS BLOB), n % 2
  FROM (SELECT n, k FROM px ORDER BY n, k) GROUP BY n;
SELECT ppl_new('f32', '$(cfg f32 $V32)');
SELECT ppl_new('f32_split', '$(cfg f32 253)');
SELECT ppl_new('bf16', '$(cfg $P16 256)');
SELECT ppl_new('bf16_split', '$(cfg $P16 255)');
SELECT json_extract(ppl_train('f32', 4), '\$.ended');
SELECT json_extract(ppl_train('bf16', 4), '\$.ended');
SELECT json_extract(ppl_train('bf16_split', 2), '\$.ended'), json_extract(ppl_train('bf16_split', 2), '\$.last_epoch');
SELECT 'acc', pplid, value FROM history WHERE epoch=4 AND name='val_accuracy' ORDER BY pplid;
SELECT 'same', readfile(ppl_path('weight', 'bf16', 'last')) = readfile(ppl_path('weight', 'bf16_split', 'last'));
SELECT json_extract(ppl_train('f32_split', 2), '\$.ended'), json_extract(ppl_train('f32_split', 2), '\$.last_epoch');
SELECT 'same32', readfile(ppl_path('weight', 'f32', 'last')) = readfile(ppl_path('weight', 'f32_split', 'last'));
-- 1600 people in 400 kinds (4 each) and 5 groups; the label is the kind's
-- parity, x is noise.
CREATE TABLE people(kind TEXT, grp TEXT, x REAL, label INT);
WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n+1 FROM i WHERE n < 1599)
INSERT INTO people SELECT 'k' || (n % 400), 'g' || (n % 5), ((n * 37) % 101) / 10.0, (n % 400) % 2 FROM i;
SELECT ppl_new('tab32', '$(tab f32 $V32)');
SELECT ppl_new('tab16', '$(tab $P16 256)');
SELECT ppl_new('tab16_split', '$(tab $P16 255)');
SELECT json_extract(ppl_train('tab32', 6), '\$.ended'), json_extract(ppl_train('tab16', 6), '\$.ended');
SELECT json_extract(ppl_train('tab16_split', 3), '\$.ended'), json_extract(ppl_train('tab16_split', 3), '\$.last_epoch');
SELECT 'acc', pplid, value FROM history WHERE epoch=6 AND name='val_accuracy' AND pplid LIKE 'tab%' ORDER BY pplid;
SELECT 'sametab', readfile(ppl_path('weight', 'tab16', 'last')) = readfile(ppl_path('weight', 'tab16_split', 'last'));
EOF
if [ -s "$tmp/err" ]; then
  echo "FAIL graph bf16: $(head -3 "$tmp/err")"
  exit 0
fi
f32=$(grep '^acc|f32|' "$tmp/out" | cut -d'|' -f3)
b16=$(grep '^acc|bf16|' "$tmp/out" | cut -d'|' -f3)
if awk "BEGIN{exit !($f32 >= 0.9 && $b16 >= 0.9)}" 2>/dev/null; then
  echo "PASS graph bf16: a residual conv model learns in f32 ($f32) and bf16 ($b16)"
else
  echo "FAIL graph bf16: val accuracy f32 '$f32', bf16 '$b16' (both should reach 0.9)"
fi
if grep -q '^same|1$' "$tmp/out"; then
  echo "PASS graph bf16: 2 + 2 epochs in bf16 end bit-identical to 4"
else
  echo "FAIL graph bf16: bf16 resume is not bit-identical ($(grep '^same' "$tmp/out"))"
fi
if grep -q '^same32|1$' "$tmp/out"; then
  echo "PASS graph bf16: the same model in f32, 2 + 2 epochs end bit-identical to 4"
else
  echo "FAIL graph bf16: f32 resume is not bit-identical ($(grep '^same32' "$tmp/out"))"
fi
f32=$(grep '^acc|tab32|' "$tmp/out" | cut -d'|' -f3)
b16=$(grep '^acc|tab16|' "$tmp/out" | cut -d'|' -f3)
if awk -v a="$f32" -v b="$b16" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(a>=0.9 && b>=0.9 && d<=0.05)}' 2>/dev/null; then
  echo "PASS graph bf16: CategoricalEmbedding (400 kinds) + MLP learns in bf16 ($b16) as in f32 ($f32)"
else
  echo "FAIL graph bf16: CategoricalEmbedding val accuracy f32 '$f32', bf16 '$b16' (both at least 0.9, within 0.05)"
fi
if grep -q '^sametab|1$' "$tmp/out"; then
  echo "PASS graph bf16: the CategoricalEmbedding model trained 3 + 3 epochs in bf16 (dropout on) ends bit-identical to 6"
else
  echo "FAIL graph bf16: CategoricalEmbedding bf16 resume is not bit-identical ($(grep '^sametab' "$tmp/out"))"
fi
