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

run fashion_resnet
expect fashion_resnet "trains 3 epochs and shows the history" '│ 3     │'
expect fashion_resnet "evaluates the best epoch on the test split" '"samples":10000'
# At least the CNN example's accuracy in the same epochs (README: 0.886).
acc=$(grep -E '^│ 3 ' "$tmp/fashion_resnet.out" | awk -F'│' '{print $5}' | tr -d ' ')
if awk "BEGIN{exit !($acc >= 0.886)}" 2>/dev/null; then ok fashion_resnet "val_accuracy $acc >= 0.886 (the CNN's)"; else bad fashion_resnet "val_accuracy '$acc' < 0.886 (the CNN's)"; fi
