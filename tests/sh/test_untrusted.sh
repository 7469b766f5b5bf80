#!/bin/sh
# test_untrusted.sh — a database file someone sent you cannot act through
# LabFlow: its views, triggers, CHECK constraints and generated columns
# cannot call side-effecting functions (SQLITE_DIRECTONLY), and paths it
# carries (pplids in its rows, file paths in a bundle) cannot make LabFlow
# write outside the project's artifacts folder.
# Prints PASS/FAIL lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXT=${LF_EXT:-$ROOT/labflow}
SQLITE=${LF_SQLITE3:-sqlite3}
T=untrusted

pass(){ echo "PASS $T: $1"; }
fail(){ echo "FAIL $T: $1: $2"; }
first(){ head -c 400 "$1" | tr '\n' '|'; }

if [ ! -f "$EXT.so" ]; then fail "setup" "$EXT.so not found: run make"; exit 0; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lf-untrusted-XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
D=$TMP/sent; mkdir -p "$D"
DB=$D/p.db

awk 'BEGIN{ print "a,b,label"; for(i=0;i<24;i++) printf "%d,%d,%d\n", i%5, i%3, i%2 }' > "$D/d.csv"
CFG='{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":4}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":2}}]}},"dataset":{"loc":"csv","args":{"label":"label"}},"train_data_src":"d.csv","val_data_src":"d.csv","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"Adam","args":{"lr":0.01}},"metrics":{"accuracy":{"loc":"Accuracy"}},"train_batch_size":8}'
"$SQLITE" -batch "$DB" > "$TMP/setup.out" 2>&1 <<EOF
.load $EXT
SELECT lab_init('{"metrics":["accuracy"],"progress":false}');
SELECT ppl_new('p', '$CFG');
SELECT json_extract(ppl_train('p', 2), '\$.last_epoch');
SELECT ppl_archive('p') >= 0;
SELECT ppl_unarchive('p') >= 0;
EOF
grep -q '^2$' "$TMP/setup.out" || { fail "setup" "$(first "$TMP/setup.out")"; exit 0; }

# The sender's traps: written with plain SQL, no extension needed.
"$SQLITE" -batch "$DB" <<'EOF'
CREATE TABLE log(x);
CREATE VIEW v_delete AS SELECT ppl_delete('p') AS r;
CREATE VIEW v_archive AS SELECT ppl_archive('p') AS r;
CREATE VIEW v_stop AS SELECT ppl_stop('p') AS r;
CREATE VIEW v_train AS SELECT ppl_train('p', 1) AS r;
CREATE VIEW v_new AS SELECT ppl_new('q', (SELECT config FROM ppls WHERE pplid='p')) AS r;
CREATE VIEW v_fork AS SELECT ppl_fork('q', 'p', '{"seed": 5}') AS r;
CREATE VIEW v_clean AS SELECT ppl_clean('p') AS r;
CREATE VIEW v_sync AS SELECT ppl_sync('p') AS r;
CREATE VIEW v_plot AS SELECT ppl_plot(NULL, NULL, '/tmp') AS r;
CREATE VIEW v_transfer AS SELECT ppl_transfer('p', 'export', 'move', '/tmp/stolen.lfbundle') AS r;
CREATE VIEW v_init AS SELECT lab_init('{"metrics":["accuracy"]}') AS r;
CREATE VIEW v_running AS SELECT ppl_is_running('p') AS r;
CREATE VIEW v_predict AS SELECT ppl_predict('p', '[1,2]') AS r;
CREATE VIEW v_evaluate AS SELECT ppl_evaluate('p', 'd.csv') AS r;
CREATE TRIGGER t_train AFTER INSERT ON log BEGIN SELECT ppl_train('p', 1); END;
CREATE TRIGGER t_delete AFTER INSERT ON log BEGIN SELECT ppl_delete('p'); END;
EOF
# CHECK constraints need the functions to exist when they are created.
# (SQLite itself refuses non-deterministic functions in generated columns,
# indexes and DEFAULTs, and does not apply SQLITE_DIRECTONLY to CHECK: LabFlow
# refuses to change the project inside a writing statement.)
"$SQLITE" -batch "$DB" <<EOF
.load $EXT
CREATE TABLE chk(x CHECK (ppl_stop('p') IS NOT NULL));
CREATE TABLE chk2(x CHECK (ppl_delete('p') IS NOT NULL));
CREATE TABLE chk3(x CHECK (ppl_transfer('p', 'export', 'move', '/tmp/stolen2.lfbundle') IS NOT NULL));
EOF

snapshot(){ # digest of every row and every file of the project
  { "$SQLITE" -batch "$DB" .dump; find "$D" -path "$DB*" -prune -o -type f -print | sort | xargs sha256sum; } | sha256sum
}
before=$(snapshot)
for v in v_delete v_archive v_stop v_train v_new v_fork v_clean v_sync v_plot v_transfer v_init v_running v_predict v_evaluate; do
  printf '.load %s\nSELECT * FROM %s;\n' "$EXT" "$v" | "$SQLITE" -batch "$DB" > "$TMP/out" 2>&1
  if grep -q "unsafe use of" "$TMP/out"; then pass "a view cannot call its function ($v)"
  else fail "a view cannot call its function ($v)" "$(first "$TMP/out")"; fi
done
for sql in "INSERT INTO log VALUES(1);" "INSERT INTO chk VALUES(1);" "INSERT INTO chk2 VALUES(1);" "INSERT INTO chk3 VALUES(1);"; do
  printf '.load %s\n%s\n' "$EXT" "$sql" | "$SQLITE" -batch "$DB" > "$TMP/out" 2>&1
  if grep -q "unsafe use of\|cannot run inside an INSERT, UPDATE or DELETE" "$TMP/out"; then pass "a trigger or CHECK constraint cannot call side effects: $sql"
  else fail "a trigger or CHECK constraint cannot call side effects: $sql" "$(first "$TMP/out")"; fi
done
# Python's sqlite3 module (another host) refuses them too.
/usr/bin/python3 - "$EXT" "$DB" > "$TMP/out" 2>&1 <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[2])
c.enable_load_extension(True)
c.load_extension(sys.argv[1])
refused = 0
for v in ("v_delete", "v_train", "v_stop", "v_transfer"):
    try:
        c.execute("SELECT * FROM %s" % v).fetchall()
    except sqlite3.OperationalError as e:
        refused += "unsafe use of" in str(e)
print("refused", refused)
EOF
if grep -q "refused 4" "$TMP/out"; then pass "views are refused in Python's sqlite3 module too"
else fail "views are refused in Python's sqlite3 module too" "$(first "$TMP/out")"; fi
[ "$(snapshot)" = "$before" ] && pass "the refused calls changed nothing" || fail "the refused calls changed nothing" "project differs"
[ ! -e /tmp/stolen.lfbundle ] && [ ! -e /tmp/stolen2.lfbundle ] && pass "no bundle was written to /tmp" || { fail "no bundle was written to /tmp" "exists"; rm -f /tmp/stolen.lfbundle /tmp/stolen2.lfbundle; }

# The victim removes the traps (while they are there every LabFlow function
# that acts refuses to run: tests/sh/test_sent_schema.sh); what follows tests
# the rows.
"$SQLITE" -batch "$DB" "SELECT 'DROP VIEW ' || name || ';' FROM sqlite_schema WHERE type='view' AND name LIKE 'v\_%' ESCAPE '\\'
  UNION ALL SELECT 'DROP TRIGGER ' || name || ';' FROM sqlite_schema WHERE type='trigger' AND name LIKE 't\_%' ESCAPE '\\'
  UNION ALL SELECT 'DROP TABLE ' || name || ';' FROM sqlite_schema WHERE type='table' AND name LIKE 'chk%'" > "$TMP/drop.sql"
"$SQLITE" -batch "$DB" < "$TMP/drop.sql"

# A direct call on rows the sender wrote: a pplid with a path in it never
# becomes a file path.
"$SQLITE" -batch "$DB" <<'EOF'
INSERT INTO ppls(pplid, config, config_hash, status, created_time)
  SELECT '../../../escape', config, 'x' || config_hash, 'trained', created_time FROM ppls WHERE pplid='p';
INSERT INTO ppl_state(pplid, last_epoch, best_epoch, best_value) VALUES('../../../escape', 1, 1, 0.5);
INSERT INTO history SELECT '../../../escape', epoch, name, value FROM history WHERE pplid='p' AND epoch=1;
INSERT INTO ppl_weight_files VALUES('../../../escape', 1, 10);
EOF
for sql in "SELECT ppl_train(pplid, 1) FROM ppls" "SELECT ppl_sync(pplid) FROM ppls" "SELECT ppl_archive(pplid) FROM ppls WHERE pplid <> 'p'" \
           "SELECT ppl_transfer(NULL, 'export', 'copy', 'all.lfbundle')" "SELECT ppl_plot(NULL, NULL, 'plots')" \
           "SELECT ppl_clean(pplid) FROM ppls" "SELECT * FROM ppl_weights('../../../escape')" "SELECT ppl_predict(pplid, '[1,2]') FROM ppls"; do
  printf '.load %s\n%s;\n' "$EXT" "$sql" | "$SQLITE" -batch "$DB" > "$TMP/out" 2>&1
  echo "$sql: $(first "$TMP/out")" >> "$TMP/direct.log"
done
if [ ! -e "$TMP/escape" ] && [ -z "$(find "$TMP" -name 'escape*' -not -path "$D/p.db.labflow/*" 2>/dev/null)" ]; then
  pass "a pplid with '../' from the database's rows never writes outside the artifacts folder"
else
  fail "a pplid with '../' from the database's rows never writes outside the artifacts folder" "$(find "$TMP" -name 'escape*' | head -3 | tr '\n' ' ')"
fi
if [ -z "$(find "$D/p.db.labflow" -path '*escape*' 2>/dev/null)" ]; then
  pass "no file or folder is named after the hostile pplid"
else
  fail "no file or folder is named after the hostile pplid" "$(find "$D/p.db.labflow" -path '*escape*' | head -3 | tr '\n' ' ')"
fi
cp "$TMP/direct.log" "${LF_UNTRUSTED_LOG:-/dev/null}" 2>/dev/null
grep -q "invalid pplid" "$TMP/direct.log" && pass "functions given the hostile pplid refuse it by name" \
  || fail "functions given the hostile pplid refuse it by name" "$(first "$TMP/direct.log")"

# A bundle whose file paths point outside: refused, nothing written there.
S=$TMP/src; mkdir -p "$S"; cp "$D/d.csv" "$S/"
"$SQLITE" -batch "$S/s.db" > "$TMP/out" 2>&1 <<EOF
.load $EXT
SELECT lab_init('{"metrics":["accuracy"],"progress":false}');
SELECT ppl_new('b', '$(printf '%s' "$CFG" | sed 's/"train_batch_size":8/"train_batch_size":4/')');
SELECT ppl_train('b', 1) IS NOT NULL;
SELECT ppl_transfer('b', 'export', 'copy', 'b.lfbundle');
EOF
if [ -f "$S/b.lfbundle" ]; then
  for evil in "../../../evil.lfw" "$TMP/abs-evil.lfw" "Weights/b/../../../../evil2.lfw" "Weights/p/e1.lfw"; do
    cp "$S/b.lfbundle" "$TMP/evil.lfbundle"
    "$SQLITE" -batch "$TMP/evil.lfbundle" "UPDATE files SET path='$evil' WHERE path LIKE '%.lfw';"
    printf '.load %s\nSELECT ppl_transfer(NULL, %s, %s, %s);\n' "$EXT" "'import'" "'copy'" "'$TMP/evil.lfbundle'" \
      | "$SQLITE" -batch "$DB" > "$TMP/out" 2>&1
    if grep -q "ppl_transfer:" "$TMP/out" && [ ! -e "$TMP/evil.lfw" ] && [ ! -e "$TMP/abs-evil.lfw" ] && [ ! -e "$TMP/evil2.lfw" ] \
       && [ ! -e "$D/evil.lfw" ] && [ -z "$(find "$D/p.db.labflow" -name 'b' -path '*Weights*')" ]; then
      pass "a bundle file path '$evil' is refused and nothing is written"
    else
      fail "a bundle file path '$evil' is refused and nothing is written" "$(first "$TMP/out")"
    fi
  done
else
  fail "bundle setup" "$(first "$TMP/out")"
fi

# A pipeline the sender wrote straight into ppls, whose SQL dataset calls a
# function with side effects: training it refuses the query.
"$SQLITE" -batch "$DB" <<EOF2
CREATE TABLE IF NOT EXISTS td(a REAL, b REAL, label INT);
INSERT INTO td VALUES(1, 2, 0), (2, 1, 1), (0, 1, 0), (3, 1, 1);
INSERT INTO ppls(pplid, config, config_hash, status, created_time)
  SELECT 'sqlevil', json_set(json_set(config, '\$.dataset', json('{"loc":"sql","args":{"label":"label"}}')),
           '\$.train_data_src', 'SELECT a, writefile(''$TMP/pwned'', ''x'') AS b, label FROM td',
           '\$.val_data_src', 'SELECT a, b, label FROM td WHERE ppl_delete(''p'') IS NULL'),
         'evil-hash', 'new', created_time FROM ppls WHERE pplid='p';
INSERT INTO ppl_state(pplid) VALUES('sqlevil');
EOF2
printf '.load %s\nSELECT ppl_train(%s, 1);\n' "$EXT" "'sqlevil'" | "$SQLITE" -batch "$DB" > "$TMP/out" 2>&1
"$SQLITE" -batch "$DB" "UPDATE ppls SET config=json_set(config, '\$.train_data_src', 'SELECT a, b, label FROM td') WHERE pplid='sqlevil'"
printf '.load %s\nSELECT ppl_train(%s, 1);\n' "$EXT" "'sqlevil'" | "$SQLITE" -batch "$DB" >> "$TMP/out" 2>&1
if grep -q "may not call writefile()" "$TMP/out" && grep -q "may not call ppl_delete()" "$TMP/out" && [ ! -e "$TMP/pwned" ] \
   && [ "$("$SQLITE" -batch "$DB" "SELECT count(*) FROM ppls WHERE pplid='p'")" = 1 ]; then
  pass "a dataset query from the database's rows cannot call writefile() or ppl_delete()"
else
  fail "a dataset query from the database's rows cannot call writefile() or ppl_delete()" "$(first "$TMP/out")"
fi
