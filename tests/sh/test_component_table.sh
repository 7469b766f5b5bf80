#!/bin/sh
# test_component_table.sh — the component table (core/lf_registry.c) and the
# layer implementations (kernels/layer_*.c) agree from the other side: every
# lf_layer_ops the kernels define is the implementation of a row. (That every
# row has a complete implementation of its name is test_layers' "every layer
# row has its implementation".)
set -u
cd "$(dirname "$0")/../.."
defs=$(cat kernels/layer_*.c | sed -n \
  -e 's/^const lf_layer_ops \(lf_layer_[a-z0-9_]*\) *=.*/\1/p' \
  -e 's/^LF_[A-Z0-9_]*(\(lf_layer_[a-z0-9_]*\),.*/\1/p' | sort -u)
n=0; missing=""
for d in $defs; do
  n=$((n+1))
  grep -q "&$d\b" core/lf_registry.c || missing="$missing $d"
done
if [ "$n" -lt 13 ]; then
  echo "FAIL component table: found only $n layer implementations in kernels/layer_*.c (the pattern is out of date)"
elif [ -n "$missing" ]; then
  echo "FAIL component table: implementations without a row in core/lf_registry.c:$missing"
else
  echo "PASS component table: each of the $n layer implementations has a row"
fi
