#!/bin/sh
# deps.sh — installs the Debian packages LabFlow builds and tests with, only
# those that are missing. Runs apt-get as root, or through sudo.
# Optional for the build, installed here so that it is complete: protobuf-c
# (libprotobuf-c-dev, protobuf-c-compiler) and the ONNX schema (libonnx-dev)
# make ppl_export; python3-onnx is the tests' onnx.checker; Open MPI
# (openmpi-bin, libopenmpi-dev) makes labflow-mpi (docs/mpi.md) and runs its
# tests (the extension itself never links MPI).
set -e
PKGS="build-essential libsqlite3-dev sqlite3 libdnnl-dev libcjson-dev zlib1g-dev dataset-fashion-mnist python3 clang-14 libclang-rt-14-dev cppcheck clang-tidy-14 clang-format-14 libprotobuf-c-dev protobuf-c-compiler libonnx-dev python3-onnx openmpi-bin libopenmpi-dev ${LF_EXTRA_PKGS:-}"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
