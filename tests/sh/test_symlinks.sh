#!/bin/sh
# test_symlinks.sh — issue 19 item 9: no LabFlow operation that moves or
# deletes follows a symbolic link out of the project. A pipeline's weight
# folder, or the Weights folder itself, replaced by a link to a folder
# outside: ppl_clean, ppl_archive, ppl_delete, export 'move' and import
# refuse (naming the link) or move only the link, and the files outside
# stay. Prints PASS/FAIL lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXT=${LF_EXT:-$ROOT/labflow}
SQLITE=${LF_SQLITE3:-sqlite3}
T=symlinks

pass(){ echo "PASS $T: $1"; }
fail(){ echo "FAIL $T: $1: $2"; }
first(){ head -c 500 "$1" | tr '\n' '|'; }

if [ ! -f "$EXT.so" ]; then fail "setup" "$EXT.so not found: run make"; exit 0; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lf-symlinks-XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
D=$TMP/p; mkdir -p "$D"; DB=$D/p.db; ART=$D/p.db.labflow
OUT=$TMP/outside
awk 'BEGIN{ print "a,b,label"; for(i=0;i<16;i++) printf "%d,%d,%d\n", i%5, i%3, i%2 }' > "$D/d.csv"
CFG='{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":2}}]}},"dataset":{"loc":"csv","args":{"label":"label"}},"train_data_src":"d.csv","val_data_src":"d.csv","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"Adam","args":{"lr":0.01}},"metrics":{"accuracy":{"loc":"Accuracy"}},"train_batch_size":8}'
"$SQLITE" -batch "$DB" > "$TMP/setup.out" 2>&1 <<EOF
.load $EXT
SELECT lab_init('{"metrics":["accuracy"],"progress":false,"keep":"all"}');
SELECT ppl_new('p', '$CFG');
SELECT json_extract(ppl_train('p', 3), '\$.last_epoch');
SELECT ppl_transfer('p', 'export', 'copy', '$TMP/p.lfbundle');
EOF
grep -q '^3$' "$TMP/setup.out" || { fail "setup" "$(first "$TMP/setup.out")"; exit 0; }

outside_digest(){ find "$OUT" -type f | sort | xargs sha256sum 2>/dev/null | sha256sum; }
run(){ printf '.load %s\n%s\n' "$EXT" "$1" | "$SQLITE" -batch "$DB" > "$TMP/out" 2>&1; }

# 1. The pipeline's weight folder is a link to a folder outside.
mv "$ART/Weights/p" "$OUT"
ln -s "$OUT" "$ART/Weights/p"
before=$(outside_digest)
run "SELECT ppl_clean('p', 'last');"
if grep -q "ppl_clean: .*Weights/p is a symbolic link" "$TMP/out" && [ "$(outside_digest)" = "$before" ] && [ -f "$OUT/e1.lfw" ]; then
  pass "ppl_clean refuses a linked weight folder and deletes nothing outside"
else
  fail "ppl_clean refuses a linked weight folder and deletes nothing outside" "$(first "$TMP/out")"
fi
run "SELECT ppl_archive('p'); SELECT ppl_delete('p');"
if [ "$(outside_digest)" = "$before" ] && [ -f "$OUT/e1.lfw" ]; then
  pass "archive and delete move or remove only the link, never what it points to"
else
  fail "archive and delete move or remove only the link, never what it points to" "$(first "$TMP/out")"
fi

# 2. The Weights folder itself is a link to a folder outside.
rm -rf "$D" "$OUT"; mkdir -p "$D" "$OUT"
awk 'BEGIN{ print "a,b,label"; for(i=0;i<16;i++) printf "%d,%d,%d\n", i%5, i%3, i%2 }' > "$D/d.csv"
"$SQLITE" -batch "$DB" > "$TMP/setup.out" 2>&1 <<EOF
.load $EXT
SELECT lab_init('{"metrics":["accuracy"],"progress":false,"keep":"all"}');
SELECT ppl_new('q', '$(printf '%s' "$CFG" | sed 's/"train_batch_size":8/"train_batch_size":4/')');
SELECT json_extract(ppl_train('q', 3), '\$.last_epoch');
EOF
mv "$ART/Weights" "$OUT/Weights"
ln -s "$OUT/Weights" "$ART/Weights"
before=$(outside_digest)
for sql in "SELECT ppl_clean('q', 'last');" "SELECT ppl_archive('q');" "SELECT ppl_transfer('q', 'export', 'move', '$TMP/q.lfbundle');" \
           "SELECT ppl_transfer(NULL, 'import', 'copy', '$TMP/p.lfbundle');"; do
  run "$sql"
  if grep -q "Weights is a symbolic link" "$TMP/out" && [ "$(outside_digest)" = "$before" ] && [ ! -e "$OUT/Weights/p" ]; then
    pass "a linked Weights folder: refused and nothing changes outside: $sql"
  else
    fail "a linked Weights folder: refused and nothing changes outside: $sql" "$(first "$TMP/out")"
  fi
done
rm -f "$ART/Weights"; mv "$OUT/Weights" "$ART/Weights"
run "SELECT ppl_clean('q', 'last') > 0;"
grep -q '^1$' "$TMP/out" && pass "with the real folder back, ppl_clean works" || fail "with the real folder back, ppl_clean works" "$(first "$TMP/out")"
