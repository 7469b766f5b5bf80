#!/bin/sh
# test_seq_bf16.sh — LayerNorm and Softmax, and Conv1d/MaxPool1d/AvgPool1d,
# in "precision": "bf16": a small model with each set learns like f32 and
# 2 + 2 epochs end bit-identical to 4. Token ids in bf16: an Embedding
# model whose label is the parity of ids 1000..1015 (bf16 would round them
# onto each other: only f32 ids can learn it), and a Transformer encoder
# on token sequences of ids 40001..40009 with a padding mask, learn as in
# f32 (within 5 points), the encoder ending 2 + 2 epochs bit-identical to 4.
# Prints PASS/FAIL lines; on a CPU without avx512_bf16: the token model's
# bf16 run is refused with the general advice, which trains when followed,
# then one SKIP line. LF_TEST_PRECISION=f32 runs the whole script with the
# "bf16" pipelines in f32 (a dry run of its SQL and checks on any CPU).
set -u
cd "$(dirname "$0")/../.."
LIB="$(pwd)/labflow"
P16=${LF_TEST_PRECISION:-bf16}
# The f32 references' validation batch: 254 in a dry run, so that their
# configurations differ from the "bf16" ones (ppl_new refuses duplicates).
V32=256
[ -n "${LF_TEST_PRECISION:-}" ] && V32=254
[ -f labflow.so ] || { echo "FAIL sequence bf16: needs labflow.so (make)"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Token sequences of 2 to 6 ids from 40001..40009 (padding: id 0); the
# label says whether id 40007 is among them. In bf16 all nine ids would be
# 39936 or 40192.
NOTES="CREATE TABLE notes(tokens TEXT, label TEXT);
WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n+1 FROM i WHERE n < 399),
  s AS (SELECT n, (SELECT json_group_array(40001 + (n * (value + 3) + value * value) % 9)
                   FROM json_each('[0,1,2,3,4,5]') WHERE value < 2 + n % 5) AS t FROM i)
INSERT INTO notes SELECT t, CASE WHEN EXISTS (SELECT 1 FROM json_each(t) WHERE value = 40007) THEN 'yes' ELSE 'no' END FROM s;"
tok() {  # precision val_batch_size
  echo "{\"model\":{\"loc\":\"Graph\",\"args\":{\"inputs\":[\"tokens\",\"tokens_mask\"],\"nodes\":[{\"name\":\"emb\",\"loc\":\"Embedding\",\"args\":{\"num_embeddings\":40010,\"embedding_dim\":16},\"in\":[\"tokens\"]},{\"name\":\"pos\",\"loc\":\"PositionalEmbedding\",\"args\":{\"max_len\":6},\"in\":[\"emb\"]},{\"name\":\"enc\",\"loc\":\"TransformerEncoderLayer\",\"args\":{\"d_model\":16,\"nhead\":2,\"dim_feedforward\":32,\"dropout\":0.1},\"in\":[\"pos\",\"tokens_mask\"]},{\"name\":\"pool\",\"loc\":\"SeqPool\",\"args\":{\"mode\":\"mean\"},\"in\":[\"enc\",\"tokens_mask\"]},{\"name\":\"head\",\"loc\":\"Linear\",\"args\":{\"out\":2},\"in\":[\"pool\"]}],\"output\":\"head\"}},\"dataset\":{\"loc\":\"sql\",\"args\":{\"label\":\"label\",\"sequence\":\"tokens\",\"max_len\":6,\"sequence_dtype\":\"int32\"}},\"train_data_src\":\"SELECT tokens, label FROM notes WHERE rowid % 4 > 0\",\"val_data_src\":\"SELECT tokens, label FROM notes WHERE rowid % 4 = 0\",\"loss\":{\"loc\":\"CrossEntropyLoss\"},\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.01}},\"metrics\":{\"accuracy\":{\"loc\":\"Accuracy\"}},\"train_batch_size\":16,\"val_batch_size\":$2,\"seed\":1,\"precision\":\"$1\"}"
}

if [ -z "${LF_TEST_PRECISION:-}" ] && ! grep -qw avx512_bf16 /proc/cpuinfo; then
  # This CPU: the token model's bf16 run gets the general error (not one
  # of Embedding's), and its advice followed trains.
  sqlite3 -batch "$tmp/p.db" > "$tmp/out" 2>&1 <<SQL
.load $LIB
SELECT lab_init('{"metrics":["accuracy"],"progress":false}') IS NOT NULL;
$NOTES
SELECT ppl_new('tok16', '$(tok bf16 256)');
SELECT ppl_train('tok16', 1);
SELECT ppl_fork('tok32', 'tok16', '{"precision": "f32"}');
SELECT json_extract(ppl_train('tok32', 1), '\$.ended');
SQL
  if grep -q 'ppl_train: precision "bf16" needs a CPU with AVX-512 BF16 instructions .*this CPU has none: use "precision": "f32"$' "$tmp/out" \
     && ! grep -q 'Embedding' "$tmp/out" \
     && [ "$(grep -v '^Runtime error' "$tmp/out" | tr '\n' ' ')" = "1 tok16 tok32 finished " ]; then
    echo "PASS sequence bf16: this CPU refuses a bf16 token-id Transformer with 'use \"precision\": \"f32\"', and following it trains"
  else
    echo "FAIL sequence bf16: the bf16 token model's error or its advice on this CPU: $(tr '\n' ' ' < "$tmp/out" | cut -c1-400)"
  fi
  echo "SKIP sequence bf16: this CPU has no avx512_bf16"
  exit 0
fi

MODEL='{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":16}},{"loc":"LayerNorm"},{"loc":"GELU"},{"loc":"Reshape","args":{"shape":[4,4]}},{"loc":"Softmax","args":{"dim":0}},{"loc":"LayerNorm","args":{"normalized_shape":[4,4]}},{"loc":"Reshape","args":{"shape":[16]}},{"loc":"Linear","args":{"out":2}}]}}'
C1D='{"loc":"Sequential","args":{"layers":[{"loc":"Reshape","args":{"shape":[2,1]}},{"loc":"Conv1d","args":{"out":16,"kernel":1}},{"loc":"ReLU"},{"loc":"Reshape","args":{"shape":[1,16]}},{"loc":"Conv1d","args":{"out":8,"kernel":3,"padding":1}},{"loc":"ReLU"},{"loc":"MaxPool1d","args":{"kernel":2}},{"loc":"AvgPool1d","args":{"kernel":3,"stride":1,"padding":1}},{"loc":"Flatten"},{"loc":"Linear","args":{"out":2}}]}}'
cfg() {  # precision val_batch_size [model]
  echo "{\"model\":${3:-$MODEL},\"dataset\":{\"loc\":\"sql\",\"args\":{\"label\":\"label\",\"features\":[\"x1\",\"x2\"]}},\"train_data_src\":\"SELECT x1, x2, label FROM pts WHERE rowid <= 320\",\"val_data_src\":\"SELECT x1, x2, label FROM pts WHERE rowid > 320\",\"loss\":{\"loc\":\"CrossEntropyLoss\"},\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.02}},\"metrics\":{\"accuracy\":{\"loc\":\"Accuracy\"}},\"train_batch_size\":32,\"val_batch_size\":$2,\"seed\":4,\"precision\":\"$1\"}"
}
# Ids 1000..1015 (k1) and 40000..40006 (k2), label the parity of k1: in
# bf16 1001 would be 1000, 1003 1004, ...: only ids kept in f32 learn it.
par() {  # precision val_batch_size
  echo "{\"model\":{\"loc\":\"Sequential\",\"args\":{\"layers\":[{\"loc\":\"Embedding\",\"args\":{\"num_embeddings\":40007,\"embedding_dim\":3}},{\"loc\":\"Reshape\",\"args\":{\"shape\":[-1]}},{\"loc\":\"Linear\",\"args\":{\"out\":2}}]}},\"dataset\":{\"loc\":\"sql\",\"args\":{\"label\":\"label\",\"features\":[\"k1\",\"k2\"]}},\"train_data_src\":\"SELECT 1000 + rowid % 16 AS k1, 40000 + rowid % 7 AS k2, rowid % 2 AS label FROM pts WHERE rowid <= 320\",\"val_data_src\":\"SELECT 1000 + rowid % 16 AS k1, 40000 + rowid % 7 AS k2, rowid % 2 AS label FROM pts WHERE rowid > 320\",\"loss\":{\"loc\":\"CrossEntropyLoss\"},\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.05}},\"metrics\":{\"accuracy\":{\"loc\":\"Accuracy\"}},\"train_batch_size\":32,\"val_batch_size\":$2,\"seed\":4,\"precision\":\"$1\"}"
}

# Two classes split by the line x1 + x2 = 0.
sqlite3 -batch "$tmp/p.db" > "$tmp/out" 2> "$tmp/err" <<SQL
.load $LIB
SELECT lab_init('{"metrics":["accuracy"],"strategy":{"monitor":"val_loss","mode":"min"},"progress":false}');
CREATE TABLE pts(x1 REAL, x2 REAL, label INT);
WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n+1 FROM i WHERE n < 399)
INSERT INTO pts SELECT ((n * 37) % 100) / 50.0 - 1.0, ((n * 61) % 97) / 48.5 - 1.0, 0 FROM i;
UPDATE pts SET label = (x1 + x2 > 0);
SELECT ppl_new('f32', '$(cfg f32 $V32)');
SELECT ppl_new('bf16', '$(cfg $P16 256)');
SELECT ppl_new('bf16_split', '$(cfg $P16 255)');
SELECT json_extract(ppl_train('f32', 4), '\$.ended');
SELECT json_extract(ppl_train('bf16', 4), '\$.ended');
SELECT json_extract(ppl_train('bf16_split', 2), '\$.ended'), json_extract(ppl_train('bf16_split', 2), '\$.last_epoch');
SELECT 'acc', pplid, value FROM history WHERE epoch=4 AND name='val_accuracy' ORDER BY pplid;
SELECT 'same', readfile(ppl_path('weight', 'bf16', 'last')) = readfile(ppl_path('weight', 'bf16_split', 'last'));
SELECT ppl_new('c1d_f32', '$(cfg f32 $V32 "$C1D")');
SELECT ppl_new('c1d_bf16', '$(cfg $P16 256 "$C1D")');
SELECT ppl_new('c1d_split', '$(cfg $P16 255 "$C1D")');
SELECT json_extract(ppl_train('c1d_f32', 4), '\$.ended'), json_extract(ppl_train('c1d_bf16', 4), '\$.ended');
SELECT json_extract(ppl_train('c1d_split', 2), '\$.ended'), json_extract(ppl_train('c1d_split', 2), '\$.last_epoch');
SELECT 'acc', pplid, value FROM history WHERE epoch=4 AND name='val_accuracy' AND pplid LIKE 'c1d%' ORDER BY pplid;
SELECT 'same1d', readfile(ppl_path('weight', 'c1d_bf16', 'last')) = readfile(ppl_path('weight', 'c1d_split', 'last'));
SELECT ppl_new('par32', '$(par f32 $V32)');
SELECT ppl_new('par16', '$(par $P16 256)');
SELECT json_extract(ppl_train('par32', 6), '\$.ended'), json_extract(ppl_train('par16', 6), '\$.ended');
SELECT 'acc', pplid, value FROM history WHERE epoch=6 AND name='val_accuracy' AND pplid LIKE 'par%' ORDER BY pplid;
$NOTES
SELECT ppl_new('tok32', '$(tok f32 $V32)');
SELECT ppl_new('tok16', '$(tok $P16 256)');
SELECT ppl_new('tok16_split', '$(tok $P16 255)');
SELECT json_extract(ppl_train('tok32', 4), '\$.ended'), json_extract(ppl_train('tok16', 4), '\$.ended');
SELECT json_extract(ppl_train('tok16_split', 2), '\$.ended'), json_extract(ppl_train('tok16_split', 2), '\$.last_epoch');
SELECT 'acc', pplid, value FROM history WHERE epoch=4 AND name='val_accuracy' AND pplid LIKE 'tok%' ORDER BY pplid;
SELECT 'sametok', readfile(ppl_path('weight', 'tok16', 'last')) = readfile(ppl_path('weight', 'tok16_split', 'last'));
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
# bf16 within 5 points of f32, both at least 0.9.
close() {  # what f32 bf16
  if awk -v a="$2" -v b="$3" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(a>=0.9 && b>=0.9 && d<=0.05)}' 2>/dev/null; then
    echo "PASS sequence bf16: $1 learns in bf16 ($3) as in f32 ($2)"
  else
    echo "FAIL sequence bf16: $1 val accuracy f32 '$2', bf16 '$3' (both at least 0.9, within 0.05): $(head -3 "$tmp/err")"
  fi
}
close "an Embedding on ids 1000..1015 and 40000..40006 (label: the ids' parity)" \
  "$(grep '^acc|par32|' "$tmp/out" | cut -d'|' -f3)" "$(grep '^acc|par16|' "$tmp/out" | cut -d'|' -f3)"
close "a token-id Transformer encoder (ids 40001..40009, padding mask)" \
  "$(grep '^acc|tok32|' "$tmp/out" | cut -d'|' -f3)" "$(grep '^acc|tok16|' "$tmp/out" | cut -d'|' -f3)"
if grep -q '^sametok|1$' "$tmp/out"; then
  echo "PASS sequence bf16: the token-id Transformer trained 2 + 2 epochs in bf16 (dropout on) ends bit-identical to 4"
else
  echo "FAIL sequence bf16: token-id Transformer bf16 resume is not bit-identical ($(grep '^sametok' "$tmp/out")): $(head -3 "$tmp/err")"
fi
