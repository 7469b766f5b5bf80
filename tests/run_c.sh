#!/bin/sh
# run_c.sh — builds and runs every tests/c/test_*.c against the core and
# kernels sources (standalone: linked with libsqlite3, no extension loading).
# Prints the PASS/FAIL lines of each binary.
set -u
cd "$(dirname "$0")/.."
out=tests/out/c
mkdir -p "$out"
CFLAGS_T="-Icore -Ikernels -Itests/c -fopenmp -fno-math-errno -O1 -g -std=c11 -D_GNU_SOURCE -DLF_STANDALONE -Wall -Wextra ${LF_TEST_CFLAGS:-}"
src="$(ls core/*.c kernels/*.c 2>/dev/null) build/schema_sql.c"
only=${1:-}
for t in tests/c/test_*.c; do
  name=$(basename "$t" .c)
  [ -n "$only" ] && [ "$only" != "$name" ] && continue
  if ! cc $CFLAGS_T -o "$out/$name" "$t" $src -ldnnl -lcjson -lz -lm -lgomp -lpthread -lsqlite3 2> "$out/$name.build.log"; then
    echo "FAIL $name: does not build (see $out/$name.build.log)"
    sed -n 1,20p "$out/$name.build.log" >&2
    continue
  fi
  ( cd "$out" && "./$name" ) || true
done
