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
# tests/out/asan/report.<pid>; any report (not the traces a killed process
# leaves, see killed_only) is a FAIL line, copied with its test to
# reports.txt. Leak checking is on
# in every sqlite3 shell the tests run (that is where LabFlow does nearly
# all its work) and in the C unit tests; it is off inside the Python and
# Node interpreters that load the extension in-process, which never free
# everything at exit. tests/asan.supp lists the third-party leaks ignored.
#
# labflow-mpi: where Open MPI is installed (the test the Makefile makes for
# the plain build), a sanitized build/asan-mpi/labflow-mpi is built too and
# tests/py/test_mpi.py runs its ranks with leak checking on; each rank's
# report lands in tests/out/asan/report.<pid> like any other, and a rank
# that reports also exits non-zero, so mpirun and the test fail. The ranks
# add tests/asan-mpi.supp (Open MPI's own allocations, nothing of LabFlow)
# to tests/asan.supp. Under ASan test_mpi.py runs a subset (MPI_ENV below;
# the whole file ran over 14 minutes sanitized under load, unfinished):
# both modes, the error, ppl_stop and killed-rank paths, data-parallel on
# less data. The halving rungs and Ctrl-C run in the plain half only.
#
#   LF_ASAN_TESTS="tests/py/test_mpi.py" sh tests/asan.sh   only these tests
#   (the C and SQL tests then run only when named: tests/run_c.sh,
#   tests/sql/X.test)
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
# Open MPI here? The Makefile's own answer (HAVE_MPI), as the plain build.
HAVE_MPI=$(make -s --no-print-directory -f Makefile -f - lf-have-mpi 2>/dev/null <<'EOF'
lf-have-mpi: ; @echo $(HAVE_MPI)
EOF
)
MPI_BIN=$ROOT/build/asan-mpi/labflow-mpi
if [ "$HAVE_MPI" = 1 ] && [ -z "${LF_ASAN_NOBUILD:-}" ]; then
  make MPI_BUILD=build/asan-mpi OPT="-O1 $SAN" build/asan-mpi/labflow-mpi > "$OUT/build-mpi.log" 2>&1 \
    || { echo "FAIL asan: labflow-mpi build (see $OUT/build-mpi.log)"; echo "0 passed, 1 failed"; exit 1; }
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
# The ranks of labflow-mpi: tests/py/test_mpi.py takes mpirun out from under
# LD_PRELOAD (Open MPI's own binary) and hands the ranks these options.
# fast_unwind_on_malloc=0: Open MPI's libraries have no frame pointers, so
# without it a stack ends in its first frame and tests/asan-mpi.supp could
# not see that an allocation came from MPI_Init (see there).
cat "$SUPP" "$ROOT/tests/asan-mpi.supp" > "$OUT/mpi.supp"
MPI_ENV="LF_MPI_BIN=$MPI_BIN LF_MPI_ASAN_OPTIONS=$COMMON:detect_leaks=1:fast_unwind_on_malloc=0"
MPI_ENV="$MPI_ENV LSAN_OPTIONS=suppressions=$OUT/mpi.supp:print_suppressions=0:use_tls=0"
# The subset run under ASan (see the top): each mode bitwise with its TCP
# resume, the unreadable-data error, ppl_stop, a SIGKILLed worker, and
# data-parallel training on 1,200 Fashion-MNIST images for one epoch
# (7.7 minutes under a load of 6.5 on 2 cores; LF_MPI_TESTS=a,b picks others).
MPI_ENV="$MPI_ENV LF_MPI_TESTS=${LF_MPI_TESTS:-test_each_bitwise,test_each_unreadable,test_each_stop,test_each_kill,test_dp}"
MPI_ENV="$MPI_ENV LF_MPI_TRAIN=1200 LF_MPI_VAL=1000 LF_MPI_EPOCHS=1"

log=$OUT/run.log
: > "$log"
PY=/usr/bin/python3
# Each new report is copied (its first 40 lines) to reports.txt with the
# test that ran before it appeared, so that a failure on a machine nobody
# can log into (CI) names the test and the stack in the output.
rm -f "$OUT/reports.txt"
# A killed process is not a finding. Tests SIGKILL shells at random
# moments; one killed while LeakSanitizer checks it at exit leaves a file
# that is empty (the runtime opens it lazily) or holds only the tracer's
# "Unable to get registers from thread N." (the thread was gone). Each
# happened once in the last five ASan runs here (3 December; the second
# left by test_housekeeping_crash.py, which kills shells at random, the
# first in the same stretch of the run). Any other line makes it a report.
killed_only() {
  ! grep -qvE '^==[0-9]+==Unable to get registers from thread [0-9]+\.$' "$1"
}
note_reports() {
  for r in "$OUT"/report.*; do
    [ -f "$r" ] || continue
    grep -qF "== $r (" "$OUT/reports.txt" 2>/dev/null && continue   # noted already
    if killed_only "$r"; then
      echo "== $r (left by $1): a process killed during its leak check, not counted: $(head -c 200 "$r")" >> "$OUT/reports.txt"
    else
      { echo "== $r (left by $1)"; sed -n '1,40p' "$r"; } >> "$OUT/reports.txt"
    fi
  done
}
{
  # The C tests are sanitized executables themselves (and the compiler must
  # not run under LSan): no preload there.
  if [ -z "${LF_ASAN_TESTS:-}" ]; then
    env -u LD_PRELOAD ASAN_OPTIONS=$COMMON:detect_leaks=1 sh tests/run_c.sh
    note_reports tests/run_c.sh
    $PY tests/sqltest.py tests/sql/*.test
    note_reports "tests/sql/*.test"
    tests=$(ls tests/py/test_*.py tests/sh/test_*.sh)
  else
    tests=$LF_ASAN_TESTS
  fi
  for t in $tests; do
    [ -f "$t" ] || { echo "FAIL asan: no test $t"; continue; }
    case $t in
      tests/run_c.sh) env -u LD_PRELOAD ASAN_OPTIONS=$COMMON:detect_leaks=1 sh "$t" ;;
      *.test) $PY tests/sqltest.py "$t" ;;
      */test_mpi.py)
        if [ "$HAVE_MPI" = 1 ]; then env $MPI_ENV $PY "$t"; else $PY "$t"; fi ;;
      *.py) $PY "$t" ;;
      *.sh) sh "$t" ;;
    esac
    note_reports "$t"
  done
} 2>&1 | tee "$log" | grep -E '^(PASS|FAIL)' | grep -v '^PASS'
note_reports "the last test (after it ended)"
reports=0
for r in "$OUT"/report.*; do
  [ -f "$r" ] && ! killed_only "$r" && reports=$((reports + 1))
done
if [ "$reports" -eq 0 ]; then
  echo "PASS asan: no sanitizer report" >> "$log"
else
  echo "FAIL asan: $reports sanitizer reports in $OUT/report.*" | tee -a "$log"
  sed -n '1,120p' "$OUT/reports.txt"
fi
passed=$(grep -c '^PASS' "$log")
failed=$(grep -c '^FAIL' "$log")
echo "(full log: $log)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
