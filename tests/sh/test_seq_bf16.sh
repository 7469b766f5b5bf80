#!/bin/sh
# test_seq_bf16.sh — LayerNorm and Softmax, and Conv1d/MaxPool1d/AvgPool1d,
# in "precision": "bf16": a small model with each set learns like f32 and
# 2 + 2 epochs end bit-identical to 4; Embedding in bf16 is refused with
# the fix. Prints PASS/FAIL lines; on a
# CPU without avx512_bf16 one SKIP line.
set -u
cd "$(dirname "$0")/../.."
LIB="$(pwd)/labflow"
if ! grep -qw avx512_bf16 /proc/cpuinfo; then
  echo "SKIP sequence bf16: this CPU has no avx512_bf16"
  exit 0
fi
[ -f labflow.so ] || { echo "FAIL sequence bf16: needs labflow.so (make)"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

MODEL='{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":16}},{"loc":"LayerNorm"},{"loc":"GELU"},{"loc":"Reshape","args":{"shape":[4,4]}},{"loc":"Softmax","args":{"dim":0}},{"loc":"LayerNorm","args":{"normalized_shape":[4,4]}},{"loc":"Reshape","args":{"shape":[16]}},{"loc":"Linear","args":{"out":2}}]}}'
C1D='{"loc":"Sequential","args":{"layers":[{"loc":"Reshape","args":{"shape":[2,1]}},{"loc":"Conv1d","args":{"out":16,"kernel":1}},{"loc":"ReLU"},{"loc":"Reshape","args":{"shape":[1,16]}},{"loc":"Conv1d","args":{"out":8,"kernel":3,"padding":1}},{"loc":"ReLU"},{"loc":"MaxPool1d","args":{"kernel":2}},{"loc":"AvgPool1d","args":{"kernel":3,"stride":1,"padding":1}},{"loc":"Flatten"},{"loc":"Linear","args":{"out":2}}]}}'
cfg() {  # precision val_batch_size [model]
  echo "{\"model\":${3:-$MODEL},\"dataset\":{\"loc\":\"sql\",\"args\":{\"label\":\"label\",\"features\":[\"x1\",\"x2\"]}},\"train_data_src\":\"SELECT x1, x2, label FROM pts WHERE rowid <= 320\",\"val_data_src\":\"SELECT x1, x2, label FROM pts WHERE rowid > 320\",\"loss\":{\"loc\":\"CrossEntropyLoss\"},\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.02}},\"metrics\":{\"accuracy\":{\"loc\":\"Accuracy\"}},\"train_batch_size\":32,\"val_batch_size\":$2,\"seed\":4,\"precision\":\"$1\"}"
}
EMB='{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Embedding","args":{"num_embeddings":4,"embedding_dim":3}},{"loc":"Reshape","args":{"shape":[-1]}},{"loc":"Linear","args":{"out":2}}]}},"dataset":{"loc":"sql","args":{"label":"label","features":["k1","k2"]}},"train_data_src":"SELECT rowid % 4 AS k1, rowid % 3 AS k2, label FROM pts","val_data_src":"SELECT rowid % 4 AS k1, rowid % 3 AS k2, label FROM pts","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"Adam"},"metrics":{"accuracy":{"loc":"Accuracy"}},"train_batch_size":32,"seed":4,"precision":"bf16"}'

# Two classes split by the line x1 + x2 = 0.
sqlite3 -batch "$tmp/p.db" > "$tmp/out" 2> "$tmp/err" <<SQL
.load $LIB
SELECT lab_init('{"metrics":["accuracy"],"strategy":{"monitor":"val_loss","mode":"min"},"progress":false}');
CREATE TABLE pts(x1 REAL, x2 REAL, label INT);
WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n+1 FROM i WHERE n < 399)
INSERT INTO pts SELECT ((n * 37) % 100) / 50.0 - 1.0, ((n * 61) % 97) / 48.5 - 1.0, 0 FROM i;
UPDATE pts SET label = (x1 + x2 > 0);
SELECT ppl_new('f32', '$(cfg f32 256)');
SELECT ppl_new('bf16', '$(cfg bf16 256)');
SELECT ppl_new('bf16_split', '$(cfg bf16 255)');
SELECT json_extract(ppl_train('f32', 4), '\$.ended');
SELECT json_extract(ppl_train('bf16', 4), '\$.ended');
SELECT json_extract(ppl_train('bf16_split', 2), '\$.ended'), json_extract(ppl_train('bf16_split', 2), '\$.last_epoch');
SELECT 'acc', pplid, value FROM history WHERE epoch=4 AND name='val_accuracy' ORDER BY pplid;
SELECT 'same', readfile(ppl_path('weight', 'bf16', 'last')) = readfile(ppl_path('weight', 'bf16_split', 'last'));
SELECT ppl_new('c1d_f32', '$(cfg f32 256 "$C1D")');
SELECT ppl_new('c1d_bf16', '$(cfg bf16 256 "$C1D")');
SELECT ppl_new('c1d_split', '$(cfg bf16 255 "$C1D")');
SELECT json_extract(ppl_train('c1d_f32', 4), '\$.ended'), json_extract(ppl_train('c1d_bf16', 4), '\$.ended');
SELECT json_extract(ppl_train('c1d_split', 2), '\$.ended'), json_extract(ppl_train('c1d_split', 2), '\$.last_epoch');
SELECT 'acc', pplid, value FROM history WHERE epoch=4 AND name='val_accuracy' AND pplid LIKE 'c1d%' ORDER BY pplid;
SELECT 'same1d', readfile(ppl_path('weight', 'c1d_bf16', 'last')) = readfile(ppl_path('weight', 'c1d_split', 'last'));
SELECT ppl_new('emb16', '$EMB');
SELECT ppl_train('emb16', 1);
SQL
f32=$(grep '^acc|f32|' "$tmp/out" | cut -d'|' -f3)
b16=$(grep '^acc|bf16|' "$tmp/out" | cut -d'|' -f3)
if awk "BEGIN{exit !($f32 >= 0.9 && $b16 >= 0.9)}" 2>/dev/null; then
  echo "PASS sequence bf16: LayerNorm + Softmax learn in f32 ($f32) and bf16 ($b16)"
else
  echo "FAIL sequence bf16: val accuracy f32 '$f32', bf16 '$b16' (both should reach 0.9): $(head -3 "$tmp/err")"
fi
if grep -q '^same|1$' "$tmp/out"; then
  echo "PASS sequence bf16: 2 + 2 epochs in bf16 end bit-identical to 4"
else
  echo "FAIL sequence bf16: bf16 resume is not bit-identical ($(grep '^same' "$tmp/out"))"
fi
f32=$(grep '^acc|c1d_f32|' "$tmp/out" | cut -d'|' -f3)
b16=$(grep '^acc|c1d_bf16|' "$tmp/out" | cut -d'|' -f3)
if awk "BEGIN{exit !($f32 >= 0.9 && $b16 >= 0.9)}" 2>/dev/null; then
  echo "PASS sequence bf16: Conv1d + MaxPool1d + AvgPool1d learn in f32 ($f32) and bf16 ($b16)"
else
  echo "FAIL sequence bf16: Conv1d val accuracy f32 '$f32', bf16 '$b16' (both should reach 0.9): $(head -3 "$tmp/err")"
fi
if grep -q '^same1d|1$' "$tmp/out"; then
  echo "PASS sequence bf16: a Conv1d model trained 2 + 2 epochs in bf16 ends bit-identical to 4"
else
  echo "FAIL sequence bf16: Conv1d bf16 resume is not bit-identical ($(grep '^same1d' "$tmp/out"))"
fi
if grep -q 'Embedding has no bf16 path.*use "precision": "f32"' "$tmp/err"; then
  echo "PASS sequence bf16: Embedding in bf16 is refused with the fix"
else
  echo "FAIL sequence bf16: Embedding in bf16: $(cat "$tmp/err")"
fi
