#!/bin/sh
# test_attention_bf16.sh — a Transformer encoder (Linear on a sequence,
# PositionalEmbedding, ClassToken, TransformerEncoderLayer with dropout,
# SeqPool) in "precision": "bf16": it learns like f32, and 2 + 2 epochs end
# bit-identical to 4. Prints PASS/FAIL lines; on a CPU without avx512_bf16
# one SKIP line.
set -u
cd "$(dirname "$0")/../.."
LIB="$(pwd)/labflow"
if ! grep -qw avx512_bf16 /proc/cpuinfo; then
  echo "SKIP attention bf16: this CPU has no avx512_bf16"
  exit 0
fi
[ -f labflow.so ] || { echo "FAIL attention bf16: needs labflow.so (make)"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

MODEL='{"loc":"Sequential","args":{"layers":[{"loc":"Reshape","args":{"shape":[2,1]}},{"loc":"Linear","args":{"out":8}},{"loc":"PositionalEmbedding","args":{"max_len":2}},{"loc":"ClassToken"},{"loc":"TransformerEncoderLayer","args":{"d_model":8,"nhead":2,"dim_feedforward":16,"dropout":0.1}},{"loc":"SeqPool","args":{"mode":"mean"}},{"loc":"Linear","args":{"out":2}}]}}'
cfg() {  # precision val_batch_size
  echo "{\"model\":$MODEL,\"dataset\":{\"loc\":\"sql\",\"args\":{\"label\":\"label\",\"features\":[\"x1\",\"x2\"]}},\"train_data_src\":\"SELECT x1, x2, label FROM pts WHERE rowid <= 320\",\"val_data_src\":\"SELECT x1, x2, label FROM pts WHERE rowid > 320\",\"loss\":{\"loc\":\"CrossEntropyLoss\"},\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.02}},\"metrics\":{\"accuracy\":{\"loc\":\"Accuracy\"}},\"train_batch_size\":32,\"val_batch_size\":$2,\"seed\":4,\"precision\":\"$1\"}"
}

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
SQL
f32=$(grep '^acc|f32|' "$tmp/out" | cut -d'|' -f3)
b16=$(grep '^acc|bf16|' "$tmp/out" | cut -d'|' -f3)
if awk "BEGIN{exit !($f32 >= 0.9 && $b16 >= 0.9)}" 2>/dev/null; then
  echo "PASS attention bf16: the encoder learns in f32 ($f32) and bf16 ($b16)"
else
  echo "FAIL attention bf16: val accuracy f32 '$f32', bf16 '$b16' (both should reach 0.9): $(head -3 "$tmp/err")"
fi
if grep -q '^same|1$' "$tmp/out"; then
  echo "PASS attention bf16: 2 + 2 epochs in bf16 (dropout on) end bit-identical to 4"
else
  echo "FAIL attention bf16: split training differs: $(head -3 "$tmp/err")"
fi
