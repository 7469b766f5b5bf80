#!/bin/sh
# asan.sh — the whole test suite against an AddressSanitizer +
# UndefinedBehaviorSanitizer build of LabFlow, with LeakSanitizer on.
#
#   sh tests/asan.sh            build build/asan/labflow.so, run every test
#   LF_ASAN_NOBUILD=1 sh tests/asan.sh    use the existing build/asan/labflow.so
#
# Why a script: an ASan-built shared library cannot be loaded into the
# uninstrumented sqlite3 (or python3, node) binary unless libasan is loaded
# first, so every process that loads it runs with LD_PRELOAD=libasan. The
# library is built as build/asan/labflow.so, never over ./labflow.so, and the
# tests find it through LF_EXT (and the shell through LF_SQLITE3).
#
# Every sanitizer report (ASan, UBSan, LSan) is written to
# tests/out/asan/report.<pid>; any report is a FAIL line. Leak checking is on
# in every sqlite3 shell the tests run (that is where LabFlow does nearly
# all its work) and in the C unit tests; it is off inside the Python and
# Node interpreters that load the extension in-process, which never free
# everything at exit. tests/asan.supp lists the third-party leaks ignored.
# Prints the suite's PASS/FAIL lines; the last line is "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$ROOT/tests/out/asan
mkdir -p "$OUT/bin"
rm -f "$OUT"/report.*
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

if [ -z "${LF_ASAN_NOBUILD:-}" ]; then
  # The Makefile's objects and flags, linked to build/asan/labflow.so.
  make -f Makefile -f - BUILD=build/asan OPT="-O1 $SAN" build/asan/labflow.so > "$OUT/build.log" 2>&1 <<'EOF' \
    || { echo "FAIL asan: build (see $OUT/build.log)"; echo "0 passed, 1 failed"; exit 1; }
$(BUILD)/labflow.so: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $(OBJ) $(LDFLAGS) $(LDLIBS)
EOF
fi
LIBASAN=$(${CC:-cc} -print-file-name=libasan.so)
[ -f "$LIBASAN" ] || { echo "FAIL asan: libasan.so not found ($LIBASAN)"; echo "0 passed, 1 failed"; exit 1; }

SUPP=$ROOT/tests/asan.supp
COMMON="log_path=$OUT/report:detect_odr_violation=0:handle_segv=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$OUT/report"
# use_tls=0: with oneDNN's OpenMP threads alive, LSan's stop-the-world
# tracer crashes ("Tracer caught signal 11") scanning thread-local storage
# (glibc 2.36, gcc 12); heap, stacks and globals are still scanned.
export LSAN_OPTIONS="suppressions=$SUPP:print_suppressions=0:use_tls=0"
# The shell the tests run: libasan first, leaks checked.
cat > "$OUT/bin/sqlite3" <<EOF
#!/bin/sh
LD_PRELOAD=$LIBASAN ASAN_OPTIONS=$COMMON:detect_leaks=1 exec /usr/bin/sqlite3 "\$@"
EOF
chmod +x "$OUT/bin/sqlite3"
export LF_EXT=$ROOT/build/asan/labflow
export LF_SQLITE3=$OUT/bin/sqlite3
export LF_ASAN=1
# Everything else (python3, node, the sh scripts' own sqlite3 calls) with
# libasan preloaded and leak checking off; C tests built with the sanitizers.
export LD_PRELOAD=$LIBASAN
export ASAN_OPTIONS=$COMMON:detect_leaks=0
export LF_TEST_CFLAGS="$SAN"
export PATH="$OUT/bin:$PATH"

log=$OUT/run.log
: > "$log"
PY=/usr/bin/python3
{
  # The C tests are sanitized executables themselves (and the compiler must
  # not run under LSan): no preload there.
  env -u LD_PRELOAD ASAN_OPTIONS=$COMMON:detect_leaks=1 sh tests/run_c.sh
  $PY tests/sqltest.py tests/sql/*.test
  for t in tests/py/test_*.py; do
    [ -f "$t" ] && $PY "$t"
  done
  for t in tests/sh/test_*.sh; do
    [ -f "$t" ] && sh "$t"
  done
} 2>&1 | tee "$log" | grep -E '^(PASS|FAIL)' | grep -v '^PASS'
reports=$(ls "$OUT"/report.* 2>/dev/null | wc -l)
if [ "$reports" -eq 0 ]; then
  echo "PASS asan: no sanitizer report" >> "$log"
else
  echo "FAIL asan: $reports sanitizer reports in $OUT/report.*" | tee -a "$log"
  for r in $(ls "$OUT"/report.* | head -5); do sed -n '1,12p' "$r"; echo ...; done
fi
passed=$(grep -c '^PASS' "$log")
failed=$(grep -c '^FAIL' "$log")
echo "(full log: $log)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
