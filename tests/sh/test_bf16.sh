#!/bin/sh
# test_bf16.sh — "precision": "bf16" against "f32" on Fashion-MNIST: the MLP
# and the CNN of tools/bench, 3 epochs each, same seed; bf16's validation
# accuracy must be within 0.5 points of f32's. Also: a CPU without AVX-512
# BF16 (simulated with ONEDNN_MAX_CPU_ISA) gets a clear error.
# Prints PASS/FAIL lines; on a CPU without avx512_bf16 prints one SKIP line.
set -u
cd "$(dirname "$0")/../.."
LIB="$(pwd)/labflow"
DATA=/usr/share/datasets/fashion-mnist
if ! grep -qw avx512_bf16 /proc/cpuinfo; then
  # This CPU: a bf16 pipeline's error, and its advice followed.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  printf 'x1,x2,y\n1,2,0\n2,3,1\n0,1,0\n3,1,1\n' > "$tmp/d.csv"
  C='{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":2}}]}},"dataset":{"loc":"csv","args":{"label":"y"}},"train_data_src":"d.csv","val_data_src":"d.csv","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"SGD","args":{"lr":0.1}},"metrics":{"accuracy":{"loc":"Accuracy"}},"precision":"bf16"}'
  (cd "$tmp" && sqlite3 -batch p.db > out 2>&1 <<EOF
.load $LIB
SELECT lab_init('{"metrics":["accuracy"],"progress":false}') IS NOT NULL;
SELECT ppl_new('p16', '$C');
SELECT ppl_train('p16', 1);
SELECT ppl_fork('p32', 'p16', '{"precision": "f32"}');
SELECT json_extract(ppl_train('p32', 1), '\$.ended');
EOF
  )
  if grep -q 'ppl_train: precision "bf16" needs a CPU with AVX-512 BF16 instructions .*this CPU has none: use "precision": "f32"$' "$tmp/out" \
     && [ "$(grep -v '^Runtime error' "$tmp/out" | tr '\n' ' ')" = "1 p16 p32 finished " ]; then
    echo "PASS bf16: this CPU (no avx512_bf16) refuses a bf16 run with 'use \"precision\": \"f32\"', and following it trains"
  else
    echo "FAIL bf16: the bf16 error or its advice on this CPU: $(tr '\n' ' ' < "$tmp/out" | cut -c1-400)"
  fi
  echo "SKIP bf16: this CPU has no avx512_bf16 (bf16 against f32 accuracy not measured)"
  exit 0
fi
if [ ! -f labflow.so ] || [ ! -f "$DATA/train-images-idx3-ubyte.gz" ]; then
  echo "FAIL bf16: needs labflow.so (make) and $DATA (dataset-fashion-mnist)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

MLP='[{"loc":"Flatten"},{"loc":"Linear","args":{"out":256}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":128}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":10}}]'
CNN='[{"loc":"Conv2d","args":{"out":16,"kernel":5,"padding":2}},{"loc":"ReLU"},{"loc":"MaxPool2d","args":{"kernel":2}},{"loc":"Conv2d","args":{"out":32,"kernel":5,"padding":2}},{"loc":"ReLU"},{"loc":"MaxPool2d","args":{"kernel":2}},{"loc":"Flatten"},{"loc":"Linear","args":{"out":128}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":10}}]'
cfg() {  # layers precision
  echo "{\"model\":{\"loc\":\"Sequential\",\"args\":{\"layers\":$1}},\"dataset\":{\"loc\":\"idx\"},\"train_data_src\":\"$DATA/train\",\"val_data_src\":\"$DATA/t10k\",\"loss\":{\"loc\":\"CrossEntropyLoss\"},\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.001}},\"metrics\":{\"accuracy\":{\"loc\":\"Accuracy\"}},\"train_batch_size\":128,\"seed\":1,\"precision\":\"$2\"}"
}

sqlite3 -batch "$tmp/p.db" > "$tmp/out" 2> "$tmp/err" <<EOF
.load $LIB
SELECT lab_init('{"metrics":["accuracy"],"strategy":{"monitor":"val_accuracy","mode":"max"},"progress":false}');
SELECT ppl_new('mlp32', '$(cfg "$MLP" f32)');
SELECT ppl_new('mlp16', '$(cfg "$MLP" bf16)');
SELECT ppl_new('cnn32', '$(cfg "$CNN" f32)');
SELECT ppl_new('cnn16', '$(cfg "$CNN" bf16)');
SELECT json_extract(ppl_train('mlp32', 3), '\$.ended');
SELECT json_extract(ppl_train('mlp16', 3), '\$.ended');
SELECT json_extract(ppl_train('cnn32', 3), '\$.ended');
SELECT json_extract(ppl_train('cnn16', 3), '\$.ended');
SELECT 'acc', pplid, value FROM history WHERE epoch=3 AND name='val_accuracy' ORDER BY pplid;
EOF
if [ "$(grep -c '^finished$' "$tmp/out")" -eq 4 ]; then
  echo "PASS bf16: f32 and bf16 pipelines train 3 epochs"
else
  echo "FAIL bf16: training did not finish: $(cat "$tmp/out" "$tmp/err" | tr '\n' ' ' | cut -c1-400)"
fi
for m in mlp cnn; do
  a32=$(grep "^acc|${m}32|" "$tmp/out" | cut -d'|' -f3)
  a16=$(grep "^acc|${m}16|" "$tmp/out" | cut -d'|' -f3)
  if [ -n "$a32" ] && [ -n "$a16" ] && awk -v a="$a32" -v b="$a16" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d<=0.005)}'; then
    echo "PASS bf16: $m val_accuracy after 3 epochs bf16 $a16 vs f32 $a32 (within 0.5 points)"
  else
    echo "FAIL bf16: $m val_accuracy after 3 epochs bf16 '$a16' vs f32 '$a32' (more than 0.5 points apart)"
  fi
done

# A CPU without AVX-512 BF16, as oneDNN sees one when capped to AVX-512 core.
ONEDNN_MAX_CPU_ISA=AVX512_CORE sqlite3 -batch "$tmp/p.db" > "$tmp/out2" 2>&1 <<EOF
.load $LIB
SELECT ppl_new('mlp16b', '$(cfg "$MLP" bf16 | sed 's/"seed":1/"seed":2/')');
SELECT ppl_train('mlp16b', 1);
EOF
if grep -q 'precision "bf16" needs a CPU with AVX-512 BF16' "$tmp/out2"; then
  echo "PASS bf16: a CPU without avx512_bf16 gets a clear error"
else
  echo "FAIL bf16: no clear error without avx512_bf16: $(tr '\n' ' ' < "$tmp/out2" | cut -c1-300)"
fi
