#!/bin/sh
# run.sh — the whole test suite: C unit tests, SQL scripts through the
# sqlite3 shell, process and host-program tests (tests/py, tests/sh) and a
# short run of each fuzzer, then all of it again under ASan+UBSan+LSan
# (LF_SANITIZE=0 skips that part). Every check prints one line "PASS name" or
# "FAIL name: why"; a test file that exits non-zero without saying why counts
# as a failure of its own. The last line is "N passed, N failed".
cd "$(dirname "$0")/.."
mkdir -p tests/out
log=tests/out/run.log
: > "$log"
PY=/usr/bin/python3

# run NAME CMD... — runs one test file, turning a silent crash into a FAIL.
run(){
  name=$1; shift
  out=$("$@" 2>&1); rc=$?
  printf '%s\n' "$out"
  if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q 'FAIL'; then
    echo "FAIL $name: exited with status $rc without a failing check"
  fi
}

{
  sh tests/run_c.sh
  run tests/sql $PY tests/sqltest.py tests/sql/*.test
  for t in tests/py/test_*.py; do run "$t" $PY "$t"; done
  for t in tests/sh/test_*.sh; do run "$t" sh "$t"; done
  # A short run of each libFuzzer harness (LF_FUZZ_SECONDS=0 skips them;
  # `make fuzz FUZZ_SECONDS=600` is the long run).
  if [ "${LF_FUZZ_SECONDS:-15}" != 0 ] && command -v clang-14 >/dev/null; then
    make -s -C tests/fuzz run FUZZ_SECONDS="${LF_FUZZ_SECONDS:-15}" 2>&1 | grep -aE 'PASS|FAIL'
  fi
  # The same suite again with an ASan+UBSan build, LeakSanitizer on
  # (tests/asan.sh); its checks count here as "asan: ..." lines.
  # LF_SANITIZE=0 skips it (a quick local loop).
  if [ "${LF_SANITIZE:-1}" != 0 ]; then
    rm -f tests/out/asan/run.log tests/out/asan/reports.txt
    sh tests/asan.sh > tests/out/asan.out 2>&1; rc=$?
    [ -f tests/out/asan/run.log ] && sed -n 's/^\(PASS\|FAIL\) /\1 asan: /p' tests/out/asan/run.log
    if [ $rc -ne 0 ] && ! grep -q '^FAIL' tests/out/asan/run.log 2>/dev/null; then
      echo "FAIL asan: tests/asan.sh exited with status $rc: $(tail -n 3 tests/out/asan.out | tr '\n' ' ')"
    fi
  fi
} 2>&1 | sed 's/.*\r//; s/^[[:space:]]*//' | tee "$log" | grep -aE '^FAIL'
# A sanitizer report: its test and stack, not only its count (only from
# this run's ASan half: with LF_SANITIZE=0 the file is an older run's).
if [ "${LF_SANITIZE:-1}" != 0 ] && [ -s tests/out/asan/reports.txt ]; then
  echo "sanitizer reports (tests/out/asan/reports.txt, first lines):"
  sed -n '1,80p' tests/out/asan/reports.txt
fi
passed=$(grep -ac '^PASS' "$log")
failed=$(grep -ac '^FAIL' "$log")
echo "(full log: $log)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
