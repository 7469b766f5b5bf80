#!/bin/sh
# host-deps.sh — installs what the host-program tests (tests/sh/test_hosts_*,
# tests/node/) need, only what is missing, so it is quick when all is there:
#
#   - Debian packages: nodejs + npm (only when `node`/`npm` are not found:
#     a machine with another Node.js build, e.g. one that ships npm itself,
#     is left alone), sqlite-utils, util-linux (`script`, for the TTY test),
#     tmux (the 80-column progress test), chromium (headless, to render
#     ppl_plot's SVG as a picture), python3-torch (parity tests).
#   - better-sqlite3@12 from the npm registry into tests/node/.deps, a folder
#     the tests own. It is never a LabFlow dependency.
#   - onnxruntime-node@1 from the npm registry into tests/node/.ort (ONNX
#     Runtime for tests/py/test_export.py), with --ignore-scripts: the
#     package carries its CPU library, and its install script would only
#     download GPU variants. Not a LabFlow dependency either.
#
# better-sqlite3 is compiled from its source tarball here (it bundles SQLite):
# its prebuilt binaries live outside the npm registry, so the download step is
# skipped, and node-gyp uses the installed Node.js headers instead of fetching
# them. Needs a C++ compiler, make and python3 (tools/deps.sh installs them).
# Runs apt-get as root, or through sudo.
set -e
cd "$(dirname "$0")/.."
DEPS=tests/node/.deps
MOD=$DEPS/node_modules/better-sqlite3

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
apt_install(){
  echo "host-deps: installing $*"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "$@"
}
have_pkg(){ dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=""
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm  >/dev/null 2>&1 || missing="$missing npm"
have_pkg sqlite-utils || missing="$missing sqlite-utils"
command -v script >/dev/null 2>&1 || missing="$missing util-linux"
# Headless Chromium renders ppl_plot's SVG in tests/py/test_plot.py.
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
# tmux: an 80-column terminal for tests/py/test_progress_tty.py.
command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
# PyTorch: the numeric parity checks (tests/py/test_attention_torch.py) and
# make bench's side-by-side runs; never a LabFlow dependency.
have_pkg python3-torch || missing="$missing python3-torch"
for p in g++ make python3; do
  command -v $p >/dev/null 2>&1 || missing="$missing build-essential python3"
done
# Node.js headers for node-gyp: Debian's nodejs keeps them in libnode-dev.
nodedir=""
find_nodedir(){
  nodedir=""
  n=$(command -v node 2>/dev/null) || return 0
  for d in "$(dirname "$(dirname "$(readlink -f "$n")")")" /usr /usr/local; do
    if [ -f "$d/include/node/common.gypi" ]; then nodedir=$d; return 0; fi
  done
}
find_nodedir
[ -z "$nodedir" ] && missing="$missing libnode-dev"
# shellcheck disable=SC2086
[ -n "$missing" ] && apt_install $(echo $missing | tr ' ' '\n' | sort -u)
find_nodedir

# better-sqlite3@12: present, version 12, and loadable by this node?
ok_bs3(){
  [ -f "$MOD/package.json" ] || return 1
  (cd "$DEPS" && node -e '
    const v = require("better-sqlite3/package.json").version;
    if (!v.startsWith("12.")) process.exit(1);
    new (require("better-sqlite3"))(":memory:").close();' ) >/dev/null 2>&1
}
# onnxruntime-node@1 in tests/node/.ort, loadable by this node?
ORT=tests/node/.ort
ok_ort(){
  [ -f "$ORT/node_modules/onnxruntime-node/package.json" ] || return 1
  (cd "$ORT" && node -e 'require("onnxruntime-node")') >/dev/null 2>&1
}
if ! ok_ort; then
  echo "host-deps: installing onnxruntime-node@1 into $ORT"
  mkdir -p "$ORT"
  [ -f "$ORT/package.json" ] || printf '{\n  "private": true,\n  "description": "ONNX export test dependencies (not LabFlow dependencies)"\n}\n' > "$ORT/package.json"
  npm install --prefix "$ORT" --ignore-scripts --no-audit --no-fund --loglevel=error onnxruntime-node@1
  ok_ort || { echo "host-deps: onnxruntime-node does not load with $(node --version)" >&2; exit 1; }
fi

ok_bs3 && exit 0

echo "host-deps: building better-sqlite3@12 into $DEPS (takes a minute or two)"
mkdir -p "$DEPS"
[ -f "$DEPS/package.json" ] || printf '{\n  "private": true,\n  "description": "host-program test dependencies (not LabFlow dependencies)"\n}\n' > "$DEPS/package.json"
[ -n "$nodedir" ] && export npm_config_nodedir="$nodedir"
# Skip prebuild-install's download (not on the npm registry): build locally.
export npm_config_build_from_source=true
npm install --prefix "$DEPS" --no-audit --no-fund --loglevel=error better-sqlite3@12
if ! ok_bs3; then
  # An npm that holds back install scripts leaves the addon unbuilt: build it
  # with npm's own node-gyp.
  gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  [ -f "$gyp" ] || gyp=$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js
  echo "host-deps: building the better-sqlite3 addon with $gyp"
  (cd "$MOD" && node "$gyp" rebuild --release ${nodedir:+--nodedir="$nodedir"})
fi
ok_bs3 || { echo "host-deps: better-sqlite3@12 does not load with $(node --version)" >&2; exit 1; }
