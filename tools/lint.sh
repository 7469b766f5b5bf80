#!/bin/sh
# lint.sh FILE... — cppcheck over the given C files (make lint: ext/ core/
# kernels/), with the checks chosen below. Prints "PASS lint: ..." or
# "FAIL lint: ..." plus cppcheck's findings; exits non-zero on a finding.
#
# Chosen checks: cppcheck's errors (undefined behaviour, leaks, out-of-bounds,
# null dereferences) and its "warning" class (suspicious code: wrong printf
# arguments, misused memset/realloc, always-true conditions). Not enabled:
# "style" and "performance" (matters of taste, noisy on this code), and
# "portability": its one finding here is the deliberate float/uint16 view of
# bf16 tensors and the byte offsets of the component argument tables.
# tools/cppcheck.supp lists the findings that are known false positives, each
# with why.
set -u
cd "$(dirname "$0")/.."
command -v cppcheck >/dev/null 2>&1 || {
  echo "FAIL lint: cppcheck not found (tools/deps.sh installs it)"; exit 1; }
[ $# -gt 0 ] || set -- ext/*.c core/*.c kernels/*.c
out=$(cppcheck -q --std=c11 -D_GNU_SOURCE -Icore -Ikernels -Iext \
  --enable=warning --inline-suppr --suppressions-list=tools/cppcheck.supp \
  --error-exitcode=1 -j2 \
  --template='{file}:{line}: {severity} [{id}] {message}' "$@" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then
  echo "PASS lint: cppcheck clean on $# files"
  exit 0
fi
printf '%s\n' "$out"
echo "FAIL lint: cppcheck findings above (fix them, or add a known false positive to tools/cppcheck.supp with why)"
exit 1
