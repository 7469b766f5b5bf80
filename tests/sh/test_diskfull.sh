#!/bin/sh
# test_diskfull.sh — a checkpoint write that runs out of space fails with a
# clear error and leaves the previous checkpoint and the history intact;
# once there is space again, training resumes where it was.
#
# The artifacts folder is put on a small tmpfs (mount -t tmpfs -o size=8m,
# needs root); the space is then filled so that the next epoch's weight
# file, or its state file, no longer fits. Where mounting is not permitted
# the test falls back to RLIMIT_FSIZE (ulimit -f, with SIGXFSZ ignored, so
# write() fails with EFBIG instead of killing the trainer).
# Prints PASS/FAIL lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXT=${LF_EXT:-$ROOT/labflow}
SQLITE=${LF_SQLITE3:-sqlite3}
T=diskfull

pass(){ echo "PASS $T: $1"; }
fail(){ echo "FAIL $T: $1: $2"; }
first(){ head -c 400 "$1" | tr '\n' '|'; }

if [ ! -f "$EXT.so" ]; then fail "setup" "$EXT.so not found: run make"; exit 0; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lf-diskfull-XXXXXX")
MNT=$TMP/small
mkdir -p "$MNT"
MOUNTED=0
if [ -z "${LF_DISKFULL_NOMOUNT:-}" ] && mount -t tmpfs -o size=8m tmpfs "$MNT" 2>/dev/null; then MOUNTED=1; fi
cleanup(){ [ "$MOUNTED" = 1 ] && umount "$MNT" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

D=$TMP/proj; mkdir -p "$D"; DB=$D/p.db
awk 'BEGIN{ srand(7); print "a,b,c,d,label"; for(i=0;i<64;i++){ x=rand()-.5; printf "%.4f,%.4f,%.4f,%.4f,%d\n", x, rand(), rand(), rand(), (x > 0 ? 1 : 0) } }' > "$D/d.csv"
# ~140k parameters: weight files of about half a megabyte, state files twice that.
CFG='{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":20000}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":2}}]}},"dataset":{"loc":"csv","args":{"label":"label"}},"train_data_src":"d.csv","val_data_src":"d.csv","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"Adam","args":{"lr":0.001}},"metrics":{"accuracy":{"loc":"Accuracy"}},"train_batch_size":16,"seed":9}'
ART=$MNT/art
"$SQLITE" -batch "$DB" > "$TMP/out" 2>&1 <<EOF
.load $EXT
SELECT lab_init('{"metrics":["accuracy"],"progress":false,"threads":1,"artifacts":"$ART"}');
SELECT ppl_new('p', '$CFG');
SELECT json_extract(ppl_train('p', 1), '\$.last_epoch');
EOF
grep -q '^1$' "$TMP/out" || { fail "setup" "$(first "$TMP/out")"; exit 0; }
W=$ART/Weights/p
wsize=$(stat -c %s "$W/e1.lfw"); ssize=$(stat -c %s "$W/e1.state")

state(){ # what must survive: rows and the files of epoch 1
  { "$SQLITE" -batch "$DB" "SELECT * FROM history ORDER BY 1,2,3; SELECT * FROM ppl_state; SELECT * FROM ppl_weight_files;
                             SELECT count(*) FROM runnings; PRAGMA integrity_check;"
    sha256sum "$W/e1.lfw" "$W/e1.state"; ls "$W"; } 2>&1
}

# fill LEFT: leave about LEFT bytes free on the small file system
fill(){
  rm -f "$MNT/filler"
  if [ "$MOUNTED" = 1 ]; then
    avail=$(df -B1 --output=avail "$MNT" | tail -1)
    n=$(( (avail - $1) / 4096 ))
    [ "$n" -gt 0 ] && dd if=/dev/zero of="$MNT/filler" bs=4096 count="$n" 2>/dev/null
  fi
  return 0
}

# train_full LEFT WHAT: one more epoch with only LEFT bytes free.
train_full(){
  left=$1; what=$2
  fill "$left"
  before=$(state)
  if [ "$MOUNTED" = 1 ]; then
    printf '.load %s\nSELECT ppl_train(%s, 1);\n' "$EXT" "'p'" | "$SQLITE" -batch "$DB" > "$TMP/out" 2>&1
  else
    # RLIMIT_FSIZE in 512-byte blocks: files may not grow past LEFT bytes.
    ( trap '' XFSZ; ulimit -f $(( left / 512 )); printf '.load %s\nSELECT ppl_train(%s, 1);\n' "$EXT" "'p'" \
        | "$SQLITE" -batch "$DB" ) > "$TMP/out" 2>&1
  fi
  if grep -q "ppl_train: cannot write .*\(No space left on device\|File too large\)" "$TMP/out"; then
    pass "$what: ppl_train fails with a clear error (writing $(grep -o 'cannot write [a-z ]*file [^:]*' "$TMP/out" | sed 's|.*/||' | head -1))"
  else
    fail "$what: ppl_train fails with a clear error" "$(first "$TMP/out")"
  fi
  after=$(state)
  if [ "$before" = "$after" ]; then
    pass "$what: epoch 1's weight and state files, history, state and claims are intact"
  else
    fail "$what: epoch 1's weight and state files, history, state and claims are intact" \
      "$(printf '%s\n---\n%s' "$before" "$after" | tr '\n' '|' | head -c 600)"
  fi
  if [ -z "$(ls "$W" | grep -v '^e1\.\(lfw\|state\)$')" ]; then
    pass "$what: no partial or temporary file is left"
  else
    fail "$what: no partial or temporary file is left" "$(ls "$W" | tr '\n' ' ')"
  fi
}

if [ "$MOUNTED" = 1 ]; then
  echo "# $T: tmpfs of 8 MiB; weight file $wsize bytes, state file $ssize bytes"
  train_full $(( wsize / 2 )) "no room for the weight file"
  train_full $(( wsize + ssize / 3 )) "no room for the state file"
else
  echo "# $T: mount not permitted here: RLIMIT_FSIZE fallback"
  train_full $(( wsize / 2 )) "file size limit below the weight file"
fi

# With space again, training goes on from epoch 1, and ends as a run that
# never hit a full disk.
rm -f "$MNT/filler"
printf '.load %s\nSELECT json_extract(ppl_train(%s, 2), %s);\n' "$EXT" "'p'" "'\$.last_epoch'" | "$SQLITE" -batch "$DB" > "$TMP/out" 2>&1
R=$TMP/ref; mkdir -p "$R"; cp "$D/d.csv" "$R/"
"$SQLITE" -batch "$R/r.db" > "$TMP/ref.out" 2>&1 <<EOF
.load $EXT
SELECT lab_init('{"metrics":["accuracy"],"progress":false,"threads":1}');
SELECT ppl_new('p', '$CFG');
SELECT json_extract(ppl_train('p', 3), '\$.last_epoch');
EOF
h1=$("$SQLITE" -batch "$DB" "SELECT epoch, name, value FROM history WHERE name NOT LIKE '%duration' ORDER BY 1,2")
h2=$("$SQLITE" -batch "$R/r.db" "SELECT epoch, name, value FROM history WHERE name NOT LIKE '%duration' ORDER BY 1,2")
if grep -q '^3$' "$TMP/out" && [ -n "$h1" ] && [ "$h1" = "$h2" ]; then
  pass "after space is freed, training resumes at epoch 2 and matches an uninterrupted run"
else
  fail "after space is freed, training resumes at epoch 2 and matches an uninterrupted run" "$(first "$TMP/out")"
fi
