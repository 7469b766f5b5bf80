#!/bin/sh
# check-all.sh — everything, long variants included (make check-all):
#   1. the whole suite (tests/run.sh, what make test runs), with the fast
#      reliability tests, then again under ASan+UBSan+LSan
#   2. LF_LONG=1: 200 SIGKILLs on two pipelines (test_crash.py), longer
#      concurrent training and 20 races (test_concurrency.py), 200 SIGKILLs
#      per housekeeping operation (test_housekeeping_crash.py), labflow-mpi
#      data-parallel on the whole of Fashion-MNIST within 0.5 points of one
#      process (test_mpi.py's test_dp_full, 9 minutes under a load of 6)
#   3. every libFuzzer harness for FUZZ_SECONDS (default 600 = 10 minutes)
# Prints PASS/FAIL lines; the last line is "N passed, N failed".
# FUZZ_SECONDS=30 sh tests/reliability/check-all.sh is the quick version.
set -u
cd "$(dirname "$0")/../.."
OUT=tests/out/check-all
mkdir -p "$OUT"
log=$OUT/run.log
: > "$log"
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
{
  LF_SANITIZE=1 LF_FUZZ_SECONDS=0 sh tests/run.sh > "$OUT/suite.log" 2>&1
  grep -aE '^(PASS|FAIL)' tests/out/run.log   # the suite's full log
  LF_LONG=1 /usr/bin/python3 tests/py/test_crash.py | sed 's/^\(PASS\|FAIL\) /\1 long: /'
  LF_LONG=1 /usr/bin/python3 tests/py/test_concurrency.py | sed 's/^\(PASS\|FAIL\) /\1 long: /'
  LF_LONG=1 /usr/bin/python3 tests/py/test_housekeeping_crash.py | sed 's/^\(PASS\|FAIL\) /\1 long: /'
  # labflow-mpi data-parallel on the whole of Fashion-MNIST (the examples'
  # MLP and CNN, 3 epochs, 2 ranks against one process).
  LF_LONG=1 /usr/bin/python3 tests/py/test_mpi.py | sed 's/^\(PASS\|FAIL\) /\1 long: /'
  if make -C tests/fuzz all > "$OUT/fuzz-build.log" 2>&1; then
    make -k -C tests/fuzz run FUZZ_SECONDS="$FUZZ_SECONDS" 2>&1 | tee "$OUT/fuzz.log" | grep -E '^(PASS|FAIL)'
  else
    echo "FAIL fuzz: harnesses do not build (see $OUT/fuzz-build.log)"
  fi
} 2>&1 | tee "$log" | grep '^FAIL'
passed=$(grep -c '^PASS' "$log")
failed=$(grep -c '^FAIL' "$log")
echo "(full log: $log)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
