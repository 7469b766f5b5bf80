#!/bin/sh
# test_examples.sh — every SQL example in examples/ runs as written (from the
# repository root, on a fresh database) and shows what it promises.
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run(){  # run NAME — runs examples/NAME.sql, output in $tmp/NAME.out
  sqlite3 "$tmp/$1.db" < "examples/$1.sql" > "$tmp/$1.out" 2> "$tmp/$1.err"
  echo $? > "$tmp/$1.rc"
}
ok(){ echo "PASS examples/$1: $2"; }
bad(){ echo "FAIL examples/$1: $2"; sed -n 1,20p "$tmp/$1.err" "$tmp/$1.out"; }
expect(){  # expect NAME DESCRIPTION PATTERN — the output matches PATTERN
  if [ "$(cat "$tmp/$1.rc")" = 0 ] && ! grep -q 'error' "$tmp/$1.err" && grep -Eq "$3" "$tmp/$1.out"; then
    ok "$1" "$2"
  else
    bad "$1" "$2"
  fi
}

run csv_iris_like
expect csv_iris_like "trains two pipelines and ranks them" 'flowers-sgd\|finished'
expect csv_iris_like "predicts text labels" '\["setosa","virginica"\]'

run sql_table
expect sql_table "learns y = 3x + 1 from a table" '│ 1\.0  │ 4\.0  │'
expect sql_table "lists its weights" '0\.weight │ \[1,1\]'

run fashion_mlp
expect fashion_mlp "trains 3 epochs and shows the history" '│ 3     │'
acc=$(grep -E '^│ 3 ' "$tmp/fashion_mlp.out" | awk -F'│' '{print $5}' | tr -d ' ')
if awk "BEGIN{exit !($acc >= 0.85)}" 2>/dev/null; then ok fashion_mlp "val_accuracy $acc >= 0.85"; else bad fashion_mlp "val_accuracy '$acc' < 0.85"; fi

run fashion_cnn
expect fashion_cnn "trains 3 epochs and shows the history" '│ 3     │'
expect fashion_cnn "evaluates the best epoch on the test split" '"samples":10000'

run ptlf_income
expect ptlf_income "trains the tutorial model 8 epochs, dropping the rows with '?'" '^8\|\{"train":343,"val":86\}$'
expect ptlf_income "predicts by column name, an unseen category included" '^"<=50K"$'
auc=$(grep -E '^│ 8 ' "$tmp/ptlf_income.out" | awk -F'│' '{print $4}' | tr -d ' ')
if awk "BEGIN{exit !($auc >= 0.9)}" 2>/dev/null; then ok ptlf_income "val_auroc $auc >= 0.9"; else bad ptlf_income "val_auroc '$auc' < 0.9"; fi

run forecast_lstm
expect forecast_lstm "trains an LSTM on windows of a CSV series" '^6$'
expect forecast_lstm "its validation RMSE beats the last-value baseline" '│ [0-9.]+ +│ [0-9.]+ +│ 1 +│'

run fashion_resnet
expect fashion_resnet "trains 3 epochs and shows the history" '│ 3     │'
expect fashion_resnet "evaluates the best epoch on the test split" '"samples":10000'
# At least the CNN example's accuracy in the same epochs (README: 0.886).
acc=$(grep -E '^│ 3 ' "$tmp/fashion_resnet.out" | awk -F'│' '{print $5}' | tr -d ' ')
if awk "BEGIN{exit !($acc >= 0.886)}" 2>/dev/null; then ok fashion_resnet "val_accuracy $acc >= 0.886 (the CNN's)"; else bad fashion_resnet "val_accuracy '$acc' < 0.886 (the CNN's)"; fi

# ONNX export: the file ONNX Runtime runs from Node.js (and from Python when
# its onnxruntime package is installed: not in Debian) gives ppl_predict's
# probabilities.
run onnx_export
expect onnx_export "trains, exports fruit.onnx and predicts two samples" '^1$'
want=$(sed -n 's/^\(\[\[.*\]\]\)|\["plum","apple"\]$/\1/p' "$tmp/onnx_export.out")
close(){  # close A B — two JSON lists of lists agree within 1e-5
  /usr/bin/python3 -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); sys.exit(0 if len(a)==len(b) and all(abs(x-y)<=1e-5 for r,s in zip(a,b) for x,y in zip(r,s)) else 1)' "$1" "$2"
}
if [ -z "$want" ]; then
  bad onnx_export "ppl_predict gives plum for [4.5, 100] and apple for [9.0, 200]"
elif got=$(node examples/onnx_runtime.js "$tmp/fruit.onnx" 2> "$tmp/onnx_export.err") && close "$want" "$got"; then
  ok onnx_export "onnx_runtime.js (onnxruntime-node) gives ppl_predict's probabilities"
else
  echo "$want / $got" > "$tmp/onnx_export.out"; bad onnx_export "onnx_runtime.js (onnxruntime-node) gives ppl_predict's probabilities"
fi
if python3 -c 'import onnxruntime' 2>/dev/null; then
  if got=$(python3 examples/onnx_runtime.py "$tmp/fruit.onnx" 2> "$tmp/onnx_export.err") \
     && close "$want" "$(echo "$got" | sed -n 1p)" && echo "$got" | grep -q '^\["plum", "apple"\]$'; then
    ok onnx_export "onnx_runtime.py (onnxruntime) gives ppl_predict's probabilities and labels"
  else
    echo "$got" > "$tmp/onnx_export.out"; bad onnx_export "onnx_runtime.py (onnxruntime) gives ppl_predict's probabilities and labels"
  fi
else
  echo "SKIP examples/onnx_export: onnx_runtime.py needs Python's onnxruntime (pip install onnxruntime; not in Debian)"
fi
