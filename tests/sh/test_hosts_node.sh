#!/bin/sh
# test_hosts_node.sh — LabFlow in Node.js through better-sqlite3 v12: runs
# tests/node/host_test.js (load, train with 2 threads, query, a failing call,
# db.close(), reload, exit 0; close right after training; plain progress on
# stderr; examples/node_example.js). better-sqlite3 lives in tests/node/.deps,
# installed by tools/host-deps.sh. Prints PASS/FAIL lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=hosts_node
if ! command -v node > /dev/null 2>&1; then
  echo "FAIL $T: setup: node not found (run sh tools/host-deps.sh)"
  exit 0
fi
if [ ! -f "$ROOT/tests/node/.deps/node_modules/better-sqlite3/package.json" ]; then
  echo "FAIL $T: setup: better-sqlite3 not in tests/node/.deps (run sh tools/host-deps.sh)"
  exit 0
fi
out=$(mktemp "${TMPDIR:-/tmp}/lf-hosts-node-XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM
node "$ROOT/tests/node/host_test.js" > "$out" 2>&1
rc=$?
cat "$out"
# The driver exits 1 when it printed a FAIL; any other ending is its own crash.
if [ "$rc" -ne 0 ] && ! grep -q "^FAIL $T" "$out"; then
  echo "FAIL $T: driver: node tests/node/host_test.js ended with status $rc"
fi
if ! grep -q "^PASS $T" "$out" && ! grep -q "^FAIL $T" "$out"; then
  echo "FAIL $T: driver: no results"
fi
exit 0
