#!/bin/sh
# run_c.sh [NAME] — builds and runs every tests/c/test_*.c (or only NAME)
# against one static library of core/ and kernels/ (make ctest-lib: built
# once, with the tests' flags, rebuilt only where a source or a header it
# includes changed), standalone: linked with libsqlite3, no extension loading.
# LF_TEST_CFLAGS (the sanitizers, tests/asan.sh) builds its own library.
# WERROR=1 (make test) turns warnings into build failures.
# Prints the PASS/FAIL lines of each binary.
set -u
cd "$(dirname "$0")/.."
out=tests/out/c
mkdir -p "$out"
# The test files' positional spec tables (test_optim, test_loss) leave fields
# added later zero on purpose: no missing-initializer warning for them.
WARN="-Wall -Wextra -Wno-missing-field-initializers"
[ "${WERROR:-0}" = 1 ] && WARN="$WARN -Werror"
CFLAGS_T="-Itests/c -fopenmp -fno-math-errno -O1 -g -std=c11 -D_GNU_SOURCE -DLF_STANDALONE -Icore -Ikernels $WARN ${LF_TEST_CFLAGS:-}"
# The library's path depends on the flags; make prints it.
if ! lib=$(make -s --no-print-directory ctest-lib-path CTEST_FLAGS="${LF_TEST_CFLAGS:-}") \
   || ! make -s -j2 ctest-lib CTEST_FLAGS="${LF_TEST_CFLAGS:-}" > "$out/lib.build.log" 2>&1; then
  echo "FAIL c tests: the core library does not build (see $out/lib.build.log)"
  sed -n 1,20p "$out/lib.build.log" >&2
  exit 0
fi
only=${1:-}
for t in tests/c/test_*.c; do
  name=$(basename "$t" .c)
  [ -n "$only" ] && [ "$only" != "$name" ] && continue
  if ! cc $CFLAGS_T -o "$out/$name" "$t" "$lib" -ldnnl -lcjson -lz -lm -lgomp -lpthread -lsqlite3 2> "$out/$name.build.log"; then
    echo "FAIL $name: does not build (see $out/$name.build.log)"
    sed -n 1,20p "$out/$name.build.log" >&2
    continue
  fi
  # A test killed by a signal loses every check after it: that is a FAIL
  # of its own (a crash once went unnoticed here).
  ( cd "$out" && "./$name" ); rc=$?
  [ $rc -gt 128 ] && echo "FAIL $name: killed by signal $((rc - 128)); its checks after the last line above did not run"
  # On an AMX CPU a bf16 strided convolution's weight gradient stays bf16;
  # the f32 path other CPUs take is checked with AMX hidden from oneDNN.
  if [ "$name" = test_layers ] && grep -qw amx_bf16 /proc/cpuinfo; then
    ( cd "$out" && ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 "./$name" conv-bf16-no-amx ); rc=$?
    [ $rc -gt 128 ] && echo "FAIL $name (AMX hidden): killed by signal $((rc - 128)); its checks after the last line above did not run"
  fi
done
