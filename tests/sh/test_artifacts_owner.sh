#!/bin/sh
# test_artifacts_owner.sh — issue 19 item 8: the 'artifacts' setting stored
# in a database someone sent cannot direct writes or deletions outside the
# database's folder: an absolute folder elsewhere, a relative '../' one or
# one reached through a link is refused by every function that writes,
# until the user confirms it with lab_init(<the same settings>); a project
# created with its artifacts elsewhere keeps working in later sessions.
# Prints PASS/FAIL lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXT=${LF_EXT:-$ROOT/labflow}
SQLITE=${LF_SQLITE3:-sqlite3}
T=artifacts_owner

pass(){ echo "PASS $T: $1"; }
fail(){ echo "FAIL $T: $1: $2"; }
first(){ head -c 600 "$1" | tr '\n' '|'; }

if [ ! -f "$EXT.so" ]; then fail "setup" "$EXT.so not found: run make"; exit 0; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lf-artowner-XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
D=$TMP/sent; mkdir -p "$D"; DB=$D/p.db
V=$TMP/victim; mkdir -p "$V/Configs"; echo precious > "$V/Configs/p.json"; echo mine > "$V/notes.txt"
awk 'BEGIN{ print "a,b,label"; for(i=0;i<16;i++) printf "%d,%d,%d\n", i%5, i%3, i%2 }' > "$D/d.csv"
CFG='{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":2}}]}},"dataset":{"loc":"csv","args":{"label":"label"}},"train_data_src":"d.csv","val_data_src":"d.csv","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"Adam","args":{"lr":0.01}},"metrics":{"accuracy":{"loc":"Accuracy"}},"train_batch_size":8}'
"$SQLITE" -batch "$DB" > "$TMP/setup.out" 2>&1 <<EOF
.load $EXT
SELECT lab_init('{"metrics":["accuracy"],"progress":false}');
SELECT ppl_new('p', '$CFG');
SELECT json_extract(ppl_train('p', 2), '\$.last_epoch');
EOF
grep -q '^2$' "$TMP/setup.out" || { fail "setup" "$(first "$TMP/setup.out")"; exit 0; }
cp "$DB" "$TMP/clean.db"
victim(){ find "$V" | sort | while read -r f; do [ -f "$f" ] && sha256sum "$f" || echo "$f"; done | sha256sum; }
run(){ printf '.load %s\n%s\n' "$EXT" "$1" | "$SQLITE" -batch "$DB" > "$TMP/out" 2>&1; }

# The sender's settings point at a folder of the victim's, three ways.
mkdir -p "$D/sub"; ln -s "$V" "$D/sub/link"
for where in "$V" "../victim" "sub/link"; do
  cp "$TMP/clean.db" "$DB"
  "$SQLITE" -batch "$DB" "UPDATE lab_meta SET value = json_set(value, '\$.artifacts', '$where') WHERE key = 'settings';"
  before=$(victim)
  n=0
  for sql in "SELECT ppl_sync('p');" "SELECT ppl_train('p', 1);" "SELECT ppl_clean('p', 'last');" "SELECT ppl_archive('p');" \
             "SELECT ppl_transfer('p', 'export', 'move');"; do
    run "$sql"
    if grep -q "is outside the database's folder and is not marked as this project's.*SELECT lab_init(" "$TMP/out"; then
      n=$((n + 1))
    else
      fail "artifacts '$where' from the database: refused: $sql" "$(first "$TMP/out")"
    fi
  done
  [ "$(victim)" = "$before" ] && [ $n = 5 ] && pass "artifacts '$where' from the database: 5 functions refuse, the folder is untouched" \
    || fail "artifacts '$where' from the database: the folder is untouched" "$n refused"
done

# The user confirms with lab_init and the same settings: then it is theirs.
SETTINGS=$("$SQLITE" -batch "$DB" "SELECT value FROM lab_meta WHERE key = 'settings'")
run "SELECT lab_init('$SETTINGS') IS NOT NULL; SELECT ppl_sync('p') IS NOT NULL;"
if [ "$(cat "$TMP/out")" = "$(printf '1\n1')" ] && [ -f "$V/sub/link/.labflow-project" -o -f "$V/.labflow-project" ]; then
  pass "lab_init with the same settings confirms the folder, then LabFlow writes there"
else
  fail "lab_init with the same settings confirms the folder, then LabFlow writes there" "$(first "$TMP/out")"
fi
# A database with another id gets no further with that marker.
"$SQLITE" -batch "$DB" "UPDATE lab_meta SET value = '0123456789abcdef0123456789abcdef' WHERE key = 'project_id';"
run "SELECT ppl_sync('p');"
grep -q "not marked as this project's" "$TMP/out" && pass "another project's id does not match the marker" \
  || fail "another project's id does not match the marker" "$(first "$TMP/out")"

# A project made with its artifacts elsewhere works in every later session.
E=$TMP/elsewhere
"$SQLITE" -batch "$TMP/own.db" > "$TMP/out" 2>&1 <<EOF
.load $EXT
SELECT lab_init('{"metrics":["accuracy"],"progress":false,"artifacts":"$E"}') IS NOT NULL;
EOF
cp "$D/d.csv" "$TMP/d.csv"
printf '.load %s\nSELECT ppl_new(%s, %s);\nSELECT json_extract(ppl_train(%s, 1), %s);\n' "$EXT" "'o'" "'$CFG'" "'o'" "'\$.last_epoch'" \
  | "$SQLITE" -batch "$TMP/own.db" > "$TMP/out" 2>&1
grep -q '^1$' "$TMP/out" && [ -f "$E/Weights/o/e1.lfw" ] && pass "a project created with artifacts elsewhere trains in a new session" \
  || fail "a project created with artifacts elsewhere trains in a new session" "$(first "$TMP/out")"
