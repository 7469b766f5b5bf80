#!/bin/sh
# lint.sh [--format] FILE... — make lint: cppcheck and clang-tidy over the
# given C files (make lint: ext/ core/ kernels/), each with the checks
# chosen below. Prints one "PASS lint: ..." or "FAIL lint: ..." line per
# tool, plus the findings; exits non-zero on a finding.
#
# cppcheck: its errors (undefined behaviour, leaks, out-of-bounds, null
# dereferences) and its "warning" class (suspicious code: wrong printf
# arguments, misused memset/realloc, always-true conditions). Not enabled:
# "style" and "performance" (matters of taste, noisy on this code), and
# "portability": its one finding here is the deliberate float/uint16 view of
# bf16 tensors and the byte offsets of the component argument tables.
# tools/cppcheck.supp lists the findings that are known false positives, each
# with why.
#
# clang-tidy (about a minute for the tree with 2 jobs): the bugprone checks
# below, each of which finds real mistakes and nothing in this tree. Left
# out, with what they report here: misplaced-widening-cast ((long long)(a *
# b) in printf arguments, where long is already 64 bits),
# not-null-terminated-result (memcpy of the 8-byte checkpoint magic, which is
# binary), cert-err34-c (atoi of COLUMNS and of /proc numbers, where 0 on
# garbage is the intended answer), and the implicit forms of
# suspicious-string-compare (`if( strcmp(a, b) )` is house style). Two
# intended findings are marked NOLINT where they are (StepLR's floored
# division; sizeof *p of an array of pointers, which clang-tidy 14 cannot
# be told apart from sizeof of a pointer to a struct).
#
# --format (or LF_LINT_FORMAT=1): also checks that clang-format (.clang-format)
# would change nothing; `make format` applies it. Off by default until the
# tree has had its one reformat (then make it the default here).
set -u
cd "$(dirname "$0")/.."
format=${LF_LINT_FORMAT:-0}
[ "${1:-}" = --format ] && { format=1; shift; }
[ $# -gt 0 ] || set -- ext/*.c core/*.c kernels/*.c
rc=0

command -v cppcheck >/dev/null 2>&1 || {
  echo "FAIL lint: cppcheck not found (tools/deps.sh installs it)"; exit 1; }
out=$(cppcheck -q --std=c11 -D_GNU_SOURCE -Icore -Ikernels -Iext \
  --enable=warning --inline-suppr --suppressions-list=tools/cppcheck.supp \
  --error-exitcode=1 -j2 \
  --template='{file}:{line}: {severity} [{id}] {message}' "$@" 2>&1)
if [ $? -eq 0 ] && [ -z "$out" ]; then
  echo "PASS lint: cppcheck clean on $# files"
else
  printf '%s\n' "$out"
  echo "FAIL lint: cppcheck findings above (fix them, or add a known false positive to tools/cppcheck.supp with why)"
  rc=1
fi

TIDY=$(command -v clang-tidy-14 || command -v clang-tidy) || {
  echo "FAIL lint: clang-tidy not found (tools/deps.sh installs clang-tidy-14)"; exit 1; }
CHECKS='-*,bugprone-sizeof-expression,bugprone-suspicious-memset-usage,bugprone-suspicious-string-compare,'\
'bugprone-integer-division,bugprone-suspicious-missing-comma,bugprone-signal-handler,bugprone-infinite-loop,'\
'bugprone-misplaced-operator-in-strlen-in-alloc,bugprone-misplaced-pointer-arithmetic-in-alloc,'\
'bugprone-suspicious-semicolon,bugprone-terminating-continue,bugprone-too-small-loop-variable,'\
'bugprone-redundant-branch-condition,bugprone-multiple-statement-macro,bugprone-posix-return,'\
'bugprone-swapped-arguments,bugprone-incorrect-roundings,bugprone-undefined-memory-manipulation,'\
'misc-redundant-expression'
CONFIG='{CheckOptions: [{key: bugprone-suspicious-string-compare.WarnOnImplicitComparison, value: false}]}'
# The compile flags of the build (ONNX's generated header only when built).
FLAGS="-std=c11 -D_GNU_SOURCE -fopenmp -Icore -Ikernels"
[ -f build/gen/onnx.pb-c.h ] && FLAGS="$FLAGS -DLF_HAVE_ONNX -Ibuild/gen"
out=$(printf '%s\n' "$@" | xargs -P2 -n8 sh -c 't=$1 c=$2 g=$3 f=$4; shift 4; "$t" -quiet --checks="$c" --config="$g" "$@" -- $f' \
  lint "$TIDY" "$CHECKS" "$CONFIG" "$FLAGS" 2>/dev/null | grep -A3 'warning:\|error:')
if [ -z "$out" ]; then
  echo "PASS lint: clang-tidy clean on $# files"
else
  printf '%s\n' "$out"
  echo "FAIL lint: clang-tidy findings above (fix them, or mark an intended one NOLINT(check) with why)"
  rc=1
fi

if [ "$format" = 1 ]; then
  FMT=$(command -v clang-format-14 || command -v clang-format) || {
    echo "FAIL lint: clang-format not found (tools/deps.sh installs clang-format-14)"; exit 1; }
  bad=""
  for f in "$@" $(ls "$@" | sed -n 's/\.c$/.h/p' | while read h; do [ -f "$h" ] && echo "$h"; done); do
    "$FMT" --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
  done
  if [ -z "$bad" ]; then
    echo "PASS lint: clang-format would change none of the files"
  else
    echo "FAIL lint: clang-format would change:$bad (make format applies it)"
    rc=1
  fi
fi
exit $rc
