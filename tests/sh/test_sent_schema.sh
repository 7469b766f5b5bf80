#!/bin/sh
# test_sent_schema.sh — issue 19 item 1: a database someone sent you whose
# schema (written with PRAGMA writable_schema, so SQLite's own checks at
# CREATE time never ran) calls ppl_train, ppl_transfer(.. 'export' ..) or
# ppl_plot from a CHECK constraint, a DEFAULT, a generated column, an
# expression or partial index or a trigger, cannot make them act whatever
# statement evaluates that schema: PRAGMA integrity_check/quick_check,
# pragma_integrity_check, SELECT, INSERT, UPDATE, DELETE, VACUUM, REINDEX,
# ANALYZE, ALTER TABLE — with the schema parsed before or after .load.
# Then each layer of ext/lf_guard.c alone (temp objects, which the schema
# scan does not look at), and users' own views under trusted_schema=OFF.
# Prints PASS/FAIL lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXT=${LF_EXT:-$ROOT/labflow}
SQLITE=${LF_SQLITE3:-sqlite3}
T=sent_schema

pass(){ echo "PASS $T: $1"; }
fail(){ echo "FAIL $T: $1: $2"; }
first(){ head -c 600 "$1" | tr '\n' '|'; }

if [ ! -f "$EXT.so" ]; then fail "setup" "$EXT.so not found: run make"; exit 0; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lf-sentschema-XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
D=$TMP/p; mkdir -p "$D"
CLEAN=$TMP/clean.db
L=$TMP/logs; mkdir -p "$L" "$TMP/out"

awk 'BEGIN{ print "a,b,label"; for(i=0;i<16;i++) printf "%d,%d,%d\n", i%5, i%3, i%2 }' > "$D/d.csv"
CFG='{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":2}}]}},"dataset":{"loc":"csv","args":{"label":"label"}},"train_data_src":"d.csv","val_data_src":"d.csv","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"Adam","args":{"lr":0.01}},"metrics":{"accuracy":{"loc":"Accuracy"}},"train_batch_size":8}'
"$SQLITE" -batch "$D/p.db" > "$TMP/setup.out" 2>&1 <<EOF
.load $EXT
SELECT lab_init('{"metrics":["accuracy"],"progress":false,"artifacts":"art"}');
SELECT ppl_new('p', '$CFG');
SELECT json_extract(ppl_train('p', 1), '\$.last_epoch');
PRAGMA journal_mode=DELETE;
EOF
grep -q '^1$' "$TMP/setup.out" || { fail "setup" "$(first "$TMP/setup.out")"; exit 0; }
cp "$D/p.db" "$CLEAN"

# What a successful attack would change: rows, files, and files outside.
state(){
  { "$SQLITE" -batch "$D/p.db" "PRAGMA writable_schema=ON; SELECT count(*) FROM history; SELECT count(*) FROM ppls;
       SELECT count(*) FROM lab_logs; SELECT last_epoch FROM ppl_state;" 2>&1
    find "$D/art" -type f | sort | xargs sha256sum; ls "$TMP"/out; } | sha256sum
}

STMTS='PRAGMA integrity_check;
PRAGMA quick_check;
SELECT * FROM pragma_integrity_check;
SELECT * FROM pragma_quick_check('"'t'"');
SELECT * FROM t;
INSERT INTO t(x) VALUES(5);
UPDATE t SET x = x + 1;
DELETE FROM t WHERE x = 6;
REINDEX;
ANALYZE;
VACUUM;
ALTER TABLE t ADD COLUMN z DEFAULT 3;
PRAGMA integrity_check;
SELECT ppl_sync('"'p'"');'

# craft NAME ORIGINAL_SQL OBJECT CRAFTED_SQL: a project whose OBJECT's SQL is
# replaced behind SQLite's back.
craft(){
  cp "$CLEAN" "$D/p.db"
  "$SQLITE" -batch "$D/p.db" "$2" || return 1
  "$SQLITE" -batch "$D/p.db" "PRAGMA writable_schema=ON; UPDATE sqlite_schema SET sql = '$(printf '%s' "$4" | sed "s/'/''/g")' WHERE name = '$3';"
}

n_ok=0
for fname in train export plot; do
  case $fname in
    train)  F="ppl_train('p', 3)" ;;
    export) F="ppl_transfer('p', 'export', 'copy', '$TMP/out/stolen.lfbundle')" ;;
    plot)   F="ppl_plot(NULL, NULL, '$TMP/out/plots')" ;;
  esac
  for vec in check default genvirtual genstored index partial trigger; do
    case $vec in
      check)      O="CREATE TABLE t(x CHECK (x > 0)); INSERT INTO t VALUES(1);"; OBJ=t; C="CREATE TABLE t(x CHECK ($F IS NOT NULL OR 1))" ;;
      default)    O="CREATE TABLE t(x, y DEFAULT 1); INSERT INTO t(x) VALUES(1);"; OBJ=t; C="CREATE TABLE t(x, y DEFAULT ($F))" ;;
      genvirtual) O="CREATE TABLE t(x, y AS (x + 1)); INSERT INTO t(x) VALUES(1);"; OBJ=t; C="CREATE TABLE t(x, y AS ($F))" ;;
      genstored)  O="CREATE TABLE t(x, y AS (x + 1) STORED); INSERT INTO t(x) VALUES(1);"; OBJ=t; C="CREATE TABLE t(x, y AS ($F) STORED)" ;;
      index)      O="CREATE TABLE t(x); INSERT INTO t VALUES(1); CREATE INDEX i ON t(x + 1);"; OBJ=i; C="CREATE INDEX i ON t(($F))" ;;
      partial)    O="CREATE TABLE t(x); INSERT INTO t VALUES(1); CREATE INDEX i ON t(x) WHERE x > 0;"; OBJ=i; C="CREATE INDEX i ON t(x) WHERE $F IS NOT NULL" ;;
      trigger)    O="CREATE TABLE t(x); INSERT INTO t VALUES(1); CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;"; OBJ=tr
                  C="CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT $F; END" ;;
    esac
    for order in after before; do
      if ! craft "$vec" "$O" "$OBJ" "$C"; then fail "craft $vec" "cannot build"; continue; fi
      before=$(state)
      # before: the schema is parsed (and cached) before LabFlow is loaded,
      # so SQLite's non-deterministic-function checks never see ppl_*.
      { [ $order = before ] && echo "SELECT count(*) FROM sqlite_schema;"
        echo ".load $EXT"; printf '%s\n' "$STMTS"; } | "$SQLITE" -batch "$D/p.db" > "$L/$vec" 2>&1
      after=$(state)
      if [ "$before" = "$after" ] && [ ! -e "$TMP/out/stolen.lfbundle" ] && [ ! -e "$TMP/out/plots" ] \
         && grep -q "may not call a LabFlow function that acts\|malformed database schema\|unsafe use of" "$L/$vec"; then
        n_ok=$((n_ok + 1))
      else
        fail "a $vec calling $F does nothing (schema parsed $order .load)" "$(first "$L/$vec")"
      fi
      rm -rf "$TMP/out/stolen.lfbundle" "$TMP/out/plots"
    done
  done
done
[ $n_ok = 42 ] && pass "42 crafted schemas (7 places x ppl_train/export/ppl_plot x parsed before/after .load) under 14 statements each: nothing ran"

# The functions this round added (issues 11, 16, 20) are refused the same
# way: from a CHECK under INSERT and PRAGMA integrity_check, from a trigger,
# and (SQLite's own DIRECTONLY rule) from a view of the sent database.
state2(){
  { "$SQLITE" -batch "$D/p.db" "PRAGMA writable_schema=ON; SELECT count(*) FROM history; SELECT count(*) FROM ppls;
       SELECT * FROM lab_meta ORDER BY 1; SELECT count(*) FROM ppl_tags; SELECT count(*) FROM sweeps;
       SELECT last_epoch FROM ppl_state;" 2>&1
    find "$D/art" -type f | sort | xargs sha256sum; ls -a "$TMP"/out "$D"; } | sha256sum
}
n_new=0
for F in "ppl_train_to('p', 4)" "ppl_tag('p', 'k', 'v')" "ppl_note('p', 'owned')" \
         "lab_settings('{\"threads\": 1, \"keep\": \"all\"}')" "ppl_sweep('s', 'p', '{\"optimizer>args>lr\": [0.1, 0.2]}')" \
         "ppl_halving('s', 1, 2)" "ppl_predict_cache(0)" \
         "(SELECT count(*) FROM ppl_train_each('[\"p\"]', 2))" \
         "(SELECT count(*) FROM ppl_predict_rows('p', 'SELECT 1 AS id, 0.5 AS a, 0.5 AS b'))" \
         "ppl_export('p', '$TMP/out/stolen.onnx')" "ppl_export('p', 'stolen.onnx')" \
         "ppl_accept_plugin('p', 'myplugin')" "lab_gradcheck('Linear', '{\"out\": 2}', '[3]')"; do
  for vec in check trigger view; do
    case $vec in
      check)   O="CREATE TABLE t(x CHECK (x > 0)); INSERT INTO t VALUES(1);"; OBJ=t; C="CREATE TABLE t(x CHECK ($F IS NOT NULL))"
               S="INSERT INTO t VALUES(2); PRAGMA integrity_check;" ;;
      trigger) O="CREATE TABLE t(x); CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;"; OBJ=tr
               C="CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT $F; END"; S="INSERT INTO t VALUES(2);" ;;
      view)    O="CREATE VIEW v AS SELECT 1 AS c;"; OBJ=v; C="CREATE VIEW v AS SELECT $F AS c"; S="SELECT * FROM v;" ;;
    esac
    if ! craft "$vec" "$O" "$OBJ" "$C"; then fail "craft new $vec" "cannot build"; continue; fi
    before=$(state2)
    printf '.load %s\n%s\n' "$EXT" "$S" | "$SQLITE" -batch "$D/p.db" > "$L/new" 2>&1
    after=$(state2)
    if [ "$before" = "$after" ] && grep -q "may not call a LabFlow function that acts\|malformed database schema\|unsafe use of\|cannot run" "$L/new"; then
      n_new=$((n_new + 1))
    else
      fail "a sent $vec calling $F does nothing" "$(first "$L/new")"
    fi
  done
done
[ $n_new = 39 ] && pass "the functions added since (ppl_train_to, ppl_tag, ppl_note, lab_settings(patch), ppl_sweep, ppl_halving, ppl_predict_cache, ppl_train_each, ppl_predict_rows, ppl_export to an absolute and a relative path, ppl_accept_plugin, lab_gradcheck) do nothing from a sent CHECK, trigger or view (39 cases): no file written"

# lab_load_plugin (issue 14): a sent CHECK, trigger or view cannot make
# LabFlow load a library, though the shell has extension loading on. The
# library would create a marker file the moment it was mapped.
MK=$TMP/out/marker-loaded
if env -u LD_PRELOAD cc -O1 -fPIC -shared -I"$ROOT/include" -DNAME='"marker"' -DMARKER="\"$MK\"" -o "$TMP/marker.so" \
      "$ROOT/tests/plugins/variant.c" 2> "$L/marker"; then
  n_pl=0
  F="lab_load_plugin('$TMP/marker.so')"
  for vec in check trigger view; do
    case $vec in
      check)   O="CREATE TABLE t(x CHECK (x > 0)); INSERT INTO t VALUES(1);"; OBJ=t; C="CREATE TABLE t(x CHECK ($F IS NOT NULL))"
               S="INSERT INTO t VALUES(2); PRAGMA integrity_check; SELECT labflow_help('marker.Good');" ;;
      trigger) O="CREATE TABLE t(x); CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;"; OBJ=tr
               C="CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT $F; END"; S="INSERT INTO t VALUES(2);" ;;
      view)    O="CREATE VIEW v AS SELECT 1 AS c;"; OBJ=v; C="CREATE VIEW v AS SELECT $F AS c"; S="SELECT * FROM v;" ;;
    esac
    if ! craft "$vec" "$O" "$OBJ" "$C"; then fail "craft plugin $vec" "cannot build"; continue; fi
    before=$(state2)
    printf '.load %s\n%s\n' "$EXT" "$S" | "$SQLITE" -batch "$D/p.db" > "$L/plugin" 2>&1
    after=$(state2)
    if [ "$before" = "$after" ] && [ ! -e "$MK" ] && ! grep -q "loaded plugin" "$L/plugin" \
       && grep -q "may not call a LabFlow function that acts\|malformed database schema\|unsafe use of\|cannot run" "$L/plugin"; then
      n_pl=$((n_pl + 1))
    else
      fail "a sent $vec calling lab_load_plugin loads nothing" "$(first "$L/plugin")"
    fi
    rm -f "$MK"
  done
  [ $n_pl = 3 ] && pass "a sent CHECK, trigger or view calling lab_load_plugin loads no library and changes nothing"
else
  fail "build the marker plugin" "$(first "$L/marker")"
fi

# The refusal names the object and says how to fix it.
craft check "CREATE TABLE t(x CHECK (x > 0));" t "CREATE TABLE t(x CHECK (ppl_train('p', 3) IS NOT NULL))"
printf '.load %s\nSELECT ppl_sync(%s);\n' "$EXT" "'p'" | "$SQLITE" -batch "$D/p.db" > "$L/out" 2>&1
grep -q "ppl_sync: the table 'main.t' of this database calls ppl_train().*Remove it" "$L/out" \
  && pass "the refusal names the table and the function it calls" || fail "the refusal names the table and the function it calls" "$(first "$L/out")"
"$SQLITE" -batch "$D/p.db" "PRAGMA writable_schema=ON; DELETE FROM sqlite_schema WHERE name='t';" > /dev/null 2>&1
printf '.load %s\nSELECT ppl_sync(%s) IS NOT NULL;\n' "$EXT" "'p'" | "$SQLITE" -batch "$D/p.db" > "$L/out" 2>&1
grep -q '^1$' "$L/out" && pass "once the object is gone LabFlow acts again" || fail "once the object is gone LabFlow acts again" "$(first "$L/out")"

# An attached database's schema counts too.
cp "$CLEAN" "$D/p.db"
"$SQLITE" -batch "$TMP/other.db" "CREATE TABLE t(x CHECK (x > 0));" \
  "PRAGMA writable_schema=ON; UPDATE sqlite_schema SET sql='CREATE TABLE t(x CHECK (ppl_plot(NULL, NULL, ''$TMP/out/plots'') IS NOT NULL))' WHERE name='t';"
printf ".load %s\nATTACH '%s' AS other;\nINSERT INTO other.t VALUES(1);\nPRAGMA other.integrity_check;\nSELECT ppl_sync('p');\n" "$EXT" "$TMP/other.db" \
  | "$SQLITE" -batch "$D/p.db" > "$L/out" 2>&1
[ ! -e "$TMP/out/plots" ] && grep -q "the table 'other.t' of this database calls ppl_plot()" "$L/out" \
  && pass "an attached database's CHECK cannot act either" || fail "an attached database's CHECK cannot act either" "$(first "$L/out")"
rm -rf "$TMP/out/plots" "$TMP/other.db"

# Each other layer alone, with TEMP objects (the connection's own, not
# scanned): a PRAGMA evaluating a CHECK, a writing statement, and a call
# reached from inside another LabFlow function.
cp "$CLEAN" "$D/p.db"
"$SQLITE" -batch "$D/p.db" > "$L/out" 2>&1 <<EOF
.load $EXT
CREATE TEMP TABLE tc(x CHECK (ppl_plot(NULL, NULL, '$TMP/out/plots') IS NOT NULL));
INSERT INTO tc VALUES(1);
CREATE TEMP TABLE tc2(x);
INSERT INTO tc2 VALUES(1);
SELECT 'tc2', count(*) FROM tc2;
EOF
grep -q "ppl_plot: cannot run inside an INSERT, UPDATE or DELETE" "$L/out" && [ ! -e "$TMP/out/plots" ] \
  && pass "layer: no action inside a writing statement" || fail "layer: no action inside a writing statement" "$(first "$L/out")"
"$SQLITE" -batch "$D/p.db" > "$L/out" 2>&1 <<EOF
.load $EXT
CREATE TEMP TABLE tc(x CHECK (ppl_plot(NULL, NULL, '$TMP/out/plots') IS NOT NULL));
PRAGMA ignore_check_constraints=ON;
INSERT INTO tc VALUES(1);
PRAGMA ignore_check_constraints=OFF;
PRAGMA temp.integrity_check;
EOF
grep -q "ppl_plot: cannot run while a PRAGMA runs" "$L/out" && [ ! -e "$TMP/out/plots" ] \
  && pass "layer: no action while PRAGMA integrity_check evaluates a CHECK" || fail "layer: no action while PRAGMA integrity_check evaluates a CHECK" "$(first "$L/out")"
"$SQLITE" -batch "$D/p.db" > "$L/out" 2>&1 <<EOF
.load $EXT
CREATE TEMP TRIGGER tt AFTER INSERT ON main.ppls BEGIN SELECT ppl_plot(NULL, NULL, '$TMP/out/plots'); END;
SELECT ppl_new('q', '$(printf '%s' "$CFG" | sed 's/"train_batch_size":8/"train_batch_size":4/')');
EOF
grep -q "ppl_plot: cannot run while another LabFlow function runs" "$L/out" && [ ! -e "$TMP/out/plots" ] \
  && pass "layer: no action reached from inside another LabFlow function" || fail "layer: no action reached from inside another LabFlow function" "$(first "$L/out")"

# Users' own views under trusted_schema=OFF: the read-only functions and
# the virtual tables work; the ones that act never do.
cp "$CLEAN" "$D/p.db"
"$SQLITE" -batch "$D/p.db" > "$L/out" 2>&1 <<EOF
.load $EXT
PRAGMA trusted_schema=OFF;
CREATE VIEW mine AS SELECT pplid, ppl_config(pplid) LIKE '%"train_batch_size":8%' AS bs, ppl_verify(pplid) AS v,
  ppl_path('config', pplid) IS NOT NULL AS has_path, lab_settings() LIKE '%accuracy%' AS m FROM ppls;
CREATE VIEW hist AS SELECT count(*) AS n FROM ppl_history WHERE pplid = 'p';
CREATE VIEW stat AS SELECT status FROM ppl_status WHERE pplid = 'p';
SELECT 'mine', bs, v, has_path, m FROM mine;
SELECT 'hist', n > 0 FROM hist;
SELECT 'stat', status FROM stat;
CREATE VIEW acts AS SELECT ppl_sync('p');
SELECT * FROM acts;
EOF
if grep -q "^mine|1|p|1|1$" "$L/out" && grep -q "^hist|1$" "$L/out" && grep -q "^stat|" "$L/out" \
   && grep -q "unsafe use of ppl_sync" "$L/out"; then
  pass "with trusted_schema=OFF users' views may read through LabFlow but not act"
else
  fail "with trusted_schema=OFF users' views may read through LabFlow but not act" "$(first "$L/out")"
fi
