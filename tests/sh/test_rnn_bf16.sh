#!/bin/sh
# test_rnn_bf16.sh — LSTM, GRU and SeqPool in "precision": "bf16": a masked
# 2-layer bidirectional LSTM and a GRU on a sequence column learn as in f32,
# and 2 + 2 epochs in bf16 end bit-identical to 4 (dropout included).
# Prints PASS/FAIL lines; on a CPU without avx512_bf16 one SKIP line.
set -u
cd "$(dirname "$0")/../.."
LIB="$(pwd)/labflow"
if ! grep -qw avx512_bf16 /proc/cpuinfo; then
  echo "SKIP rnn bf16: this CPU has no avx512_bf16"
  exit 0
fi
[ -f labflow.so ] || { echo "FAIL rnn bf16: needs labflow.so (make)"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

LSTM='{"loc":"Graph","args":{"inputs":["seq","seq_mask"],"nodes":[{"name":"rnn","loc":"LSTM","args":{"hidden_size":8,"num_layers":2,"bidirectional":true,"dropout":0.2},"in":["seq"]},{"name":"pool","loc":"SeqPool","args":{"mode":"mean"},"in":["rnn","seq_mask"]},{"name":"head","loc":"Linear","args":{"out":2},"in":["pool"]}],"output":"head"}}'
GRU='{"loc":"Sequential","args":{"layers":[{"loc":"GRU","args":{"hidden_size":8,"output":"last"}},{"loc":"Linear","args":{"out":2}}]}}'
cfg() {  # model precision val_batch_size
  echo "{\"model\":$1,\"dataset\":{\"loc\":\"sql\",\"args\":{\"label\":\"label\",\"sequence\":\"seq\",\"max_len\":6}},\"train_data_src\":\"SELECT seq, label FROM s WHERE rowid % 4 > 0\",\"val_data_src\":\"SELECT seq, label FROM s WHERE rowid % 4 = 0\",\"loss\":{\"loc\":\"CrossEntropyLoss\"},\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.03}},\"metrics\":{\"accuracy\":{\"loc\":\"Accuracy\"}},\"train_batch_size\":16,\"val_batch_size\":$3,\"seed\":4,\"precision\":\"$2\"}"
}
# Sequences of 2 to 6 steps; class 1 has larger values.
sqlite3 -batch "$tmp/p.db" > "$tmp/out" 2> "$tmp/err" <<SQL
.load $LIB
SELECT lab_init('{"metrics":["accuracy"],"strategy":{"monitor":"val_loss","mode":"min"},"progress":false}');
CREATE TABLE s(seq TEXT, label INT);
WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n+1 FROM i WHERE n < 239)
INSERT INTO s SELECT (SELECT json_group_array(((n * (value + 3) + value * 7) % 10) / 10.0 - 0.5 + (n % 2) * 0.6 - 0.3)
                      FROM json_each('[0,1,2,3,4,5]') WHERE value < 2 + n % 5), n % 2 FROM i;
SELECT ppl_new('l32', '$(cfg "$LSTM" f32 256)');
SELECT ppl_new('l16', '$(cfg "$LSTM" bf16 256)');
SELECT ppl_new('l16s', '$(cfg "$LSTM" bf16 255)');
SELECT ppl_new('g32', '$(cfg "$GRU" f32 256)');
SELECT ppl_new('g16', '$(cfg "$GRU" bf16 256)');
SELECT ppl_new('g16s', '$(cfg "$GRU" bf16 255)');
SELECT json_extract(ppl_train(pplid, 4), '\$.ended') FROM ppls WHERE pplid IN ('l32', 'l16', 'g32', 'g16') ORDER BY pplid;
SELECT json_extract(ppl_train('l16s', 2), '\$.last_epoch'), json_extract(ppl_train('l16s', 2), '\$.last_epoch');
SELECT json_extract(ppl_train('g16s', 2), '\$.last_epoch'), json_extract(ppl_train('g16s', 2), '\$.last_epoch');
SELECT 'acc', pplid, round(value, 3) FROM history WHERE epoch = 4 AND name = 'val_accuracy' ORDER BY pplid;
SELECT 'same', readfile(ppl_path('weight', 'l16', 'last')) = readfile(ppl_path('weight', 'l16s', 'last')),
               readfile(ppl_path('weight', 'g16', 'last')) = readfile(ppl_path('weight', 'g16s', 'last'));
SQL
acc() { grep "^acc|$1|" "$tmp/out" | cut -d'|' -f3; }
for m in l g; do
  name=$([ $m = l ] && echo "LSTM (2 layers, bidirectional, masked mean)" || echo "GRU (last step)")
  a32=$(acc ${m}32); a16=$(acc ${m}16)
  if [ -n "$a32" ] && [ -n "$a16" ] && awk "BEGIN{exit !($a32 >= 0.9 && $a16 >= 0.9)}"; then
    echo "PASS rnn bf16: $name learns in f32 ($a32) and bf16 ($a16)"
  else
    echo "FAIL rnn bf16: $name learns in f32 ('$a32') and bf16 ('$a16')"; sed -n 1,10p "$tmp/err"
  fi
done
if grep -q '^same|1|1$' "$tmp/out"; then
  echo "PASS rnn bf16: LSTM and GRU trained 2 + 2 epochs in bf16 end bit-identical to 4"
else
  echo "FAIL rnn bf16: 2 + 2 epochs in bf16 differ from 4"; grep same "$tmp/out"; sed -n 1,10p "$tmp/err"
fi
