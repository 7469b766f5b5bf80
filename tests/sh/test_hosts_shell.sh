#!/bin/sh
# test_hosts_shell.sh — LabFlow in the sqlite3 shell, as a user runs it:
# `.load`, a small training run, queries, `.quit`; an SQL error that the
# shell reports while it keeps going; plain progress lines when stderr is not
# a terminal and the redrawn bar (\r) when it is (under `script`); Ctrl-C
# (SIGINT) stopping a training; and the NODELETE flag in labflow.so's dynamic
# section (hosts dlclose() the extension when a connection closes while
# oneDNN's OpenMP threads may still be alive).
# Prints PASS/FAIL lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXT=${LF_EXT:-$ROOT/labflow}
SO=$EXT.so
SQLITE=${LF_SQLITE3:-sqlite3}
T=hosts_shell

pass(){ echo "PASS $T: $1"; }
fail(){ echo "FAIL $T: $1: $2"; }
# check NAME WHY COMMAND...: PASS when COMMAND succeeds.
check(){ n=$1; w=$2; shift 2; if "$@"; then pass "$n"; else fail "$n" "$w"; fi; }
has(){ grep -q -- "$2" "$1"; }
first(){ head -c 300 "$1" | tr '\n\r\033' '|^E'; }

if [ ! -f "$SO" ]; then fail "setup" "$SO not found: run make"; exit 0; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lf-hosts-sh-XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

# 40 rows, 3 features, 2 well separated classes.
write_csv(){ # path rows
  awk -v n="$2" 'BEGIN{ print "a,b,c,y";
    for(i=0;i<n;i++){ y=i%2; s=2*y-1;
      printf "%.3f,%.3f,%.3f,%d\n", s+((i*37)%11-5)/20, s+((i*53)%13-6)/20, s+((i*71)%7-3)/20, y } }' > "$1"
}
SETTINGS='{"metrics":["accuracy"],"threads":2}'
config(){ # batch size
  printf '%s' '{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":8}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":2}}]}},"dataset":{"loc":"csv","args":{"label":"y"}},"train_data_src":"d.csv","val_data_src":"d.csv","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"Adam","args":{"lr":0.01}},"metrics":{"accuracy":{"loc":"Accuracy"}},"train_batch_size":'"$1"'}'
}

# ---- NODELETE ------------------------------------------------------------
if readelf -d "$SO" > "$TMP/dyn" 2>&1; then
  check "labflow.so has the NODELETE flag (readelf -d)" "FLAGS_1 has no NODELETE: link with -Wl,-z,nodelete" \
    grep -Eq 'FLAGS_1.*NODELETE' "$TMP/dyn"
else
  fail "labflow.so has the NODELETE flag (readelf -d)" "readelf failed: $(first "$TMP/dyn")"
fi

# ---- a session: .load, train, query, .quit -> exit 0 ---------------------
D=$TMP/session; mkdir -p "$D"; write_csv "$D/d.csv" 40
cat > "$D/s.sql" <<EOF
.load $EXT
SELECT lab_init('$SETTINGS');
SELECT ppl_new('p1', '$(config 8)');
SELECT json_extract(ppl_train('p1', 2), '\$.ended');
.mode list
SELECT 'history', epoch, val_accuracy >= 0.9 FROM ppl_history('p1') ORDER BY epoch;
SELECT 'status', pplid, best_epoch, last_epoch FROM ppl_status;
.quit
SELECT 'not reached';
EOF
# cwd is not the database's folder: relative data paths follow the database.
(cd "$TMP" && "$SQLITE" "$D/p.db" < "$D/s.sql" > "$D/out" 2> "$D/err"); rc=$?
check "session: .load, ppl_train, queries, .quit exit 0" "exit $rc; stderr: $(first "$D/err")" [ "$rc" -eq 0 ]
check "session: lab_init returns the artifacts folder" "stdout: $(first "$D/out")" has "$D/out" "^$D/p.db.labflow\$"
check "session: ppl_train finished" "stdout: $(first "$D/out")" has "$D/out" '^finished$'
check "session: ppl_history shows both epochs" "stdout: $(first "$D/out")" \
  sh -c "grep -q '^history|1|1\$' '$D/out' && grep -q '^history|2|1\$' '$D/out'"
check "session: ppl_status reports epoch 2" "stdout: $(first "$D/out")" has "$D/out" '^status|p1|2|2$'
check "session: .quit ends the script" "stdout: $(first "$D/out")" sh -c "! grep -q 'not reached' '$D/out'"
check "session: progress on a non-terminal stderr has no ESC or CR" "stderr: $(first "$D/err")" \
  sh -c "! grep -q \"\$(printf '[\033\r]')\" '$D/err'"
check "session: stderr has the per-epoch lines" "stderr: $(first "$D/err")" \
  sh -c "grep -q '^p1 epoch 1: .*val_loss=' '$D/err' && grep -q '^p1 epoch 2: .*val_loss=' '$D/err'"

# ---- an error: reported, the shell goes on ---------------------------------
cat > "$D/e.sql" <<EOF
.load $EXT
SELECT ppl_new('../x', '{}');
SELECT 'alive', count(*) FROM ppls;
SELECT json_extract(ppl_train('p1', 1), '\$.last_epoch');
EOF
"$SQLITE" "$D/p.db" < "$D/e.sql" > "$D/eout" 2> "$D/eerr"; rc=$?
check "error: the shell prints LabFlow's message" "stderr: $(first "$D/eerr")" \
  has "$D/eerr" "ppl_new: invalid pplid '../x': must not start with '.'"
check "error: the shell keeps working (query, one more epoch)" "stdout: $(first "$D/eout")" \
  sh -c "grep -q '^alive|1\$' '$D/eout' && grep -q '^3\$' '$D/eout'"
# sqlite3 exits 1 when a script had an error; anything else (a signal) is a crash.
check "error: the shell exits normally (status 1 for a script with an error)" "exit $rc" [ "$rc" -eq 1 ]

# ---- progress on a terminal: the bar is redrawn with \r --------------------
if command -v script > /dev/null 2>&1; then
  D=$TMP/tty; mkdir -p "$D"; write_csv "$D/d.csv" 40
  cat > "$D/t.sql" <<EOF
.load $EXT
SELECT lab_init('$SETTINGS');
SELECT ppl_new('tty', '$(config 8)');
SELECT json_extract(ppl_train('tty', 2), '\$.ended');
EOF
  # Only stderr is the terminal; stdin and stdout stay files.
  script -qec "'$SQLITE' '$D/p.db' < '$D/t.sql' > '$D/out'" /dev/null < /dev/null > "$D/pty" 2>&1; rc=$?
  check "tty: the training under a terminal exits 0" "exit $rc; $(first "$D/pty")" [ "$rc" -eq 0 ]
  check "tty: the bar is drawn with \\r and erased with ESC[K" "terminal: $(first "$D/pty")" \
    sh -c "grep -q \"\$(printf '\r\033')\\[Ktty epoch 1/2 \\[#*\\.*\\] 5/5\" '$D/pty'"
  # (wrapped between fields at the terminal's width: rows joined first)
  check "tty: the per-epoch line is still printed" "terminal: $(first "$D/pty")" \
    sh -c "tr -d '\r' < '$D/pty' | tr '\n' ' ' | grep -q 'tty epoch 2: .*val_loss='"
  check "tty: stdout is unchanged" "stdout: $(first "$D/out")" has "$D/out" '^finished$'
else
  fail "tty" "script (util-linux) not found: run tools/host-deps.sh"
fi

# ---- Ctrl-C: SIGINT stops the training, the finished epochs stay -----------
D=$TMP/sigint; mkdir -p "$D"; write_csv "$D/d.csv" 4000
cat > "$D/s.sql" <<EOF
.load $EXT
SELECT lab_init('$SETTINGS');
SELECT ppl_new('long', '$(config 4)');
SELECT json_extract(ppl_train('long', 1000), '\$.ended');
EOF
"$SQLITE" "$D/p.db" < "$D/s.sql" > "$D/out" 2> "$D/err" &
pid=$!
i=0; n=0
while [ $i -lt 600 ]; do   # up to 120 s for the first epoch
  n=$("$SQLITE" "$D/p.db" "SELECT count(*) FROM history" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 1 ] 2>/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.2; i=$((i+1))
done
kill -INT $pid 2>/dev/null
j=0
while kill -0 $pid 2>/dev/null && [ $j -lt 300 ]; do sleep 0.2; j=$((j+1)); done
if kill -0 $pid 2>/dev/null; then
  kill -KILL $pid 2>/dev/null
  fail "sigint: Ctrl-C stops the training" "sqlite3 still running 60 s after SIGINT"
else
  wait $pid; rc=$?
  # The shell interrupts the statement and, reading a script, stops there.
  check "sigint: ppl_train ends as interrupted" "exit $rc; stdout: $(first "$D/out"); stderr: $(first "$D/err")" \
    grep -q '^interrupted$' "$D/out"
  check "sigint: the shell reports the interruption" "stderr: $(first "$D/err")" grep -qi 'interrupt' "$D/err"
  check "sigint: the shell exits normally" "exit $rc" [ "$rc" -le 1 ]
  printf '.load %s\nSELECT count(*) >= 1, ppl_is_running('"'long'"') IS NULL FROM ppl_history('"'long'"');\n' "$EXT" \
    | "$SQLITE" "$D/p.db" > "$D/after" 2>&1
  check "sigint: the finished epochs are kept and the pipeline is not running" "$(first "$D/after")" \
    grep -q '^1|1$' "$D/after"
fi
exit 0
