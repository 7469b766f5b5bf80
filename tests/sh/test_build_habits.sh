#!/bin/sh
# test_build_habits.sh — the build's habits (issue 12): the extension gets
# SQLite only through the extension API (no libsqlite3 linked in), header
# dependencies are tracked (a header change rebuilds its users and only
# them), the test path builds with -Werror and runs `make lint`, and CI runs
# exactly `make test`. Uses `make -n` (prints, builds nothing).
# Prints PASS/FAIL lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
EXT=${LF_EXT:-$ROOT/labflow}
T=build

pass(){ echo "PASS $T: $1"; }
fail(){ echo "FAIL $T: $1: $2"; }

if [ ! -f "$EXT.so" ]; then fail "setup" "$EXT.so not found: run make"; exit 0; fi

# 1. No libsqlite3: not on the link line (which links with -z defs, so
# every symbol must resolve without it), not a NEEDED entry, not resolved by ldd, and every
# sqlite3_* name the library uses is its own (the init function), not an
# undefined symbol some libsqlite3 would have to provide.
link=$(make -n -W ext/labflow.c labflow.so 2>&1 | grep -- '-o labflow.so')
if [ -z "$link" ]; then fail "the link line has no -lsqlite3" "no link line in make -n"
elif printf '%s\n' "$link" | grep -q -- '-lsqlite3'; then fail "the link line has no -lsqlite3" "$link"
elif ! printf '%s\n' "$link" | grep -q -- '-z,defs'; then fail "the link line has no -lsqlite3" "without -z defs an unresolved name would go unnoticed"
else pass "the link line has no -lsqlite3 (and -z defs: nothing left unresolved)"; fi
needed=$(readelf -d "$EXT.so" | grep NEEDED | grep -i sqlite)
[ -z "$needed" ] && pass "the extension does not link libsqlite3" \
  || fail "the extension does not link libsqlite3" "$needed"
l=$(ldd "$EXT.so" 2>&1 | grep -i sqlite)
[ -z "$l" ] && pass "ldd finds no libsqlite3 behind the extension" \
  || fail "ldd finds no libsqlite3 behind the extension" "$l"
u=$(nm -D --undefined-only "$EXT.so" | grep -i ' sqlite3' | head -3 | tr '\n' ' ')
[ -z "$u" ] && pass "no undefined sqlite3_* symbol (all calls go through sqlite3_api)" \
  || fail "no undefined sqlite3_* symbol" "$u"
nm -D --defined-only "$EXT.so" | grep -q ' sqlite3_labflow_init$' \
  && pass "the entry point sqlite3_labflow_init is exported" \
  || fail "the entry point sqlite3_labflow_init is exported" "not in nm -D"

# 2. Header dependencies: pretending kernels/lf_signals.h changed (-W, "what
# if") rebuilds kernels/lf_signals.c's object and the extension, but not a
# file that does not include it. Needs the .d files of a build.
B=build/rel
if [ -f "$B/kernels/lf_signals.d" ]; then
  what=$(make -n -W kernels/lf_signals.h labflow.so 2>&1)
  printf '%s\n' "$what" | grep -q -- "-o $B/kernels/lf_signals.o" \
    && pass "a header change rebuilds its users" \
    || fail "a header change rebuilds its users" "make -n -W kernels/lf_signals.h does not rebuild lf_signals.o"
  n=$(printf '%s\n' "$what" | grep -c -- "-c -o $B/")
  all=$(ls ext/*.c core/*.c kernels/*.c | wc -l)
  if printf '%s\n' "$what" | grep -q -- "-o $B/core/lf_canon.o"; then
    fail "a header change rebuilds only its users" "lf_canon.c does not include lf_signals.h but is rebuilt"
  elif [ "$n" -ge "$all" ]; then
    fail "a header change rebuilds only its users" "$n of $all sources rebuilt"
  else
    pass "a header change rebuilds only its users ($n of $all sources)"
  fi
else
  fail "header dependencies" "$B/kernels/lf_signals.d missing: objects built without -MMD -MP"
fi

# 3. The test path: -Werror in its compiles, make lint before the tests, and
# CI's entry point is exactly the README's `make test`.
what=$(make -n -W core/lf_util.c test-only 2>&1)
printf '%s\n' "$what" | grep -- "-c -o $B/core/lf_util.o" | grep -q -- -Werror \
  && pass "make test compiles with -Werror" \
  || fail "make test compiles with -Werror" "no -Werror in: $(printf '%s\n' "$what" | grep -- lf_util.o | head -1)"
printf '%s\n' "$what" | grep -q 'tools/lint.sh' \
  && pass "make test runs make lint" \
  || fail "make test runs make lint" "tools/lint.sh not in make -n test-only"
what=$(env -u WERROR -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n -W core/lf_util.c labflow.so 2>&1)
printf '%s\n' "$what" | grep -- "-o $B/core/lf_util.o" | grep -q -- -Werror \
  && fail "a plain make only warns" "-Werror in a plain make" \
  || pass "a plain make only warns (a newer compiler's warning does not stop a user's build)"
ci=$(grep -v '^#' .ci/run | grep -v '^set \|^cd \|^$')
[ "$ci" = "make test" ] && pass "CI runs exactly make test" || fail "CI runs exactly make test" "$ci"
grep -q '^make test$\|`make test`' README.md && pass "README's test command is make test" \
  || fail "README's test command is make test" "not found in README.md"

# 4. The C tests link one library of core/ + kernels/ (tests/run_c.sh).
lib=$(make -s --no-print-directory ctest-lib-path)
if [ -f "$lib" ]; then
  members=$(ar t "$lib" | wc -l)
  srcs=$(ls core/*.c kernels/*.c | wc -l)
  [ "$members" -eq $((srcs + 1)) ] \
    && pass "the C tests' library holds every core/ and kernels/ object ($members)" \
    || fail "the C tests' library holds every core/ and kernels/ object" "$members members for $srcs sources + schema"
else
  pass "the C tests' library is not built here (run tests/run_c.sh first); skipped"
fi
grep -q 'liblabflow_core\|ctest-lib' tests/run_c.sh && ! grep -q 'core/\*\.c kernels/\*\.c' tests/run_c.sh \
  && pass "tests/run_c.sh links the library instead of compiling every source" \
  || fail "tests/run_c.sh links the library instead of compiling every source" "see tests/run_c.sh"
