#!/bin/sh
# run.sh — the whole test suite: C unit tests, SQL scripts through the
# sqlite3 shell, and host-program tests (Python's sqlite3 module, ...).
# Every check prints PASS/FAIL; the last line is "N passed, N failed".
cd "$(dirname "$0")/.."
mkdir -p tests/out
log=tests/out/run.log
: > "$log"
PY=/usr/bin/python3
{
  sh tests/run_c.sh
  $PY tests/sqltest.py tests/sql/*.test
  for t in tests/py/test_*.py; do
    [ -f "$t" ] && $PY "$t"
  done
  for t in tests/sh/test_*.sh; do
    [ -f "$t" ] && sh "$t"
  done
} 2>&1 | tee "$log" | grep -E '^(PASS|FAIL)' | grep -v '^PASS' 
passed=$(grep -c '^PASS' "$log")
failed=$(grep -c '^FAIL' "$log")
echo "(full log: $log)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
