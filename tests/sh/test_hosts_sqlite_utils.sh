#!/bin/sh
# test_hosts_sqlite_utils.sh — LabFlow through Debian's sqlite-utils CLI:
#   sqlite-utils query DB "SELECT ..." --load-extension ./labflow.so
# lab_init, ppl_new (config as a named parameter), ppl_train, queries of the
# history; a failing call is a clean "Error: <LabFlow's message>" with exit
# status 1 (no traceback, no crash) and the project keeps working; progress on
# stderr is plain lines. Prints PASS/FAIL lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SO=${LF_EXT:-$ROOT/labflow}.so
T=hosts_sqlite_utils

pass(){ echo "PASS $T: $1"; }
fail(){ echo "FAIL $T: $1: $2"; }
check(){ n=$1; w=$2; shift 2; if "$@"; then pass "$n"; else fail "$n" "$w"; fi; }
first(){ head -c 300 "$1" | tr '\n\r\033' '|^E'; }

if ! command -v sqlite-utils > /dev/null 2>&1; then
  fail "setup" "sqlite-utils not found (run sh tools/host-deps.sh)"; exit 0
fi
if [ ! -f "$SO" ]; then fail "setup" "$SO not found: run make"; exit 0; fi
if ! sqlite-utils query --help 2>/dev/null | grep -q -- '--load-extension'; then
  fail "setup" "sqlite-utils query has no --load-extension option ($(sqlite-utils --version 2>&1))"; exit 0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lf-hosts-su-XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
D=$TMP/proj; mkdir -p "$D"
awk 'BEGIN{ print "a,b,c,y";
  for(i=0;i<40;i++){ y=i%2; s=2*y-1;
    printf "%.3f,%.3f,%.3f,%d\n", s+((i*37)%11-5)/20, s+((i*53)%13-6)/20, s+((i*71)%7-3)/20, y } }' > "$D/d.csv"
DB=$D/p.db
CONFIG='{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":8}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":2}}]}},"dataset":{"loc":"csv","args":{"label":"y"}},"train_data_src":"d.csv","val_data_src":"d.csv","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"Adam","args":{"lr":0.01}},"metrics":{"accuracy":{"loc":"Accuracy"}},"train_batch_size":8}'

# q NAME SQL [options...]: runs in $TMP (not the database's folder), output
# in $TMP/NAME.out / .err, status in $rc.
q(){ n=$1; sql=$2; shift 2
  (cd "$TMP" && sqlite-utils query "$DB" "$sql" --load-extension "$SO" "$@" > "$TMP/$n.out" 2> "$TMP/$n.err"); rc=$?; }

q init "SELECT lab_init('{\"metrics\":[\"accuracy\"],\"threads\":2}') AS artifacts"
check "lab_init through query --load-extension" "exit $rc; $(first "$TMP/init.out") $(first "$TMP/init.err")" \
  grep -qF "[{\"artifacts\": \"$DB.labflow\"}]" "$TMP/init.out"

q new "SELECT ppl_new('p1', :config)" -p config "$CONFIG" --raw
check "ppl_new with the config as a named parameter (-p)" "exit $rc; $(first "$TMP/new.out") $(first "$TMP/new.err")" \
  sh -c "[ $rc -eq 0 ] && grep -qx p1 '$TMP/new.out'"

q train "SELECT json_extract(ppl_train('p1', 2), '\$.ended')" --raw
check "ppl_train runs and finishes (exit 0)" "exit $rc; $(first "$TMP/train.out") $(first "$TMP/train.err")" \
  sh -c "[ $rc -eq 0 ] && grep -qx finished '$TMP/train.out'"
check "progress on a non-terminal stderr has no ESC or CR" "stderr: $(first "$TMP/train.err")" \
  sh -c "! grep -q \"\$(printf '[\033\r]')\" '$TMP/train.err'"
check "stderr has the per-epoch lines" "stderr: $(first "$TMP/train.err")" \
  sh -c "grep -q '^p1 epoch 1: .*val_loss=' '$TMP/train.err' && grep -q '^p1 epoch 2: .*val_loss=' '$TMP/train.err'"

q hist "SELECT pplid, epoch, val_accuracy >= 0.9 AS good FROM ppl_history ORDER BY epoch" --csv
tr -d '\r' < "$TMP/hist.out" > "$TMP/hist.csv"   # the csv module ends rows with CRLF
check "ppl_history as CSV" "exit $rc; $(first "$TMP/hist.out")" \
  sh -c "printf 'pplid,epoch,good\np1,1,1\np1,2,1\n' | cmp -s - '$TMP/hist.csv'"

q err "SELECT ppl_new('../x', '{}')"
check "a failing call prints LabFlow's message" "exit $rc; out: $(first "$TMP/err.out"); err: $(first "$TMP/err.err")" \
  sh -c "cat '$TMP/err.out' '$TMP/err.err' | grep -qF \"Error: ppl_new: invalid pplid '../x': must not start with '.'\""
check "a failing call exits 1 cleanly (no traceback, no signal)" "exit $rc; $(first "$TMP/err.err")" \
  sh -c "[ $rc -eq 1 ] && ! grep -q Traceback '$TMP/err.err' '$TMP/err.out'"

q after "SELECT count(*) AS n, (SELECT last_epoch FROM ppl_status WHERE pplid = 'p1') AS last FROM ppls" --arrays
check "the project keeps working after the error" "exit $rc; $(first "$TMP/after.out") $(first "$TMP/after.err")" \
  grep -qF '[[1, 2]]' "$TMP/after.out"

# The documented PATH:ENTRYPOINT form of the option.
(cd "$TMP" && sqlite-utils query "$DB" "SELECT json_extract(ppl_train('p1', 1), '\$.last_epoch')" \
  --load-extension "$SO:sqlite3_labflow_init" --raw > "$TMP/ep.out" 2> "$TMP/ep.err"); rc=$?
check "--load-extension PATH:sqlite3_labflow_init resumes training (epoch 3)" "exit $rc; $(first "$TMP/ep.out") $(first "$TMP/ep.err")" \
  grep -qx 3 "$TMP/ep.out"
exit 0
