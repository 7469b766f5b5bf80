#!/bin/sh
# test_plugin.sh — C plugins (issue 14, docs/plugins.md): the example plugin
# built against the header `make install` puts in place, loaded from the
# sqlite3 shell and from Python, trained, resumed bit for bit and used to
# predict; each refusal (missing plugin, other ABI, changed library, a
# registration failing part-way, a name taken by a built-in or another
# plugin, a config naming a path, extension loading off) a clear SQL error
# with nothing changed on disk; ppl_details, labflow_help, lab_gradcheck,
# ppl_accept_plugin and bundles.
# Prints PASS/FAIL lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXT=${LF_EXT:-$ROOT/labflow}
SQLITE=${LF_SQLITE3:-sqlite3}
T=plugin

pass(){ echo "PASS $T: $1"; }
fail(){ echo "FAIL $T: $1: $2"; }
first(){ head -c 600 "$1" | tr '\n' '|'; }
check(){  # check NAME FILE PATTERN: FILE matches PATTERN (grep -E)
  if grep -Eq -- "$3" "$2"; then pass "$1"; else fail "$1" "$(first "$2")"; fi
}

if [ ! -f "$EXT.so" ]; then fail "setup" "$EXT.so not found: run make"; exit 0; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lf-plugin-XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
cd "$ROOT"

# ---- build: the header as installed, the example's own Makefile ---------
# Builds run without the ASan preload of tests/asan.sh (a compiler is no
# sanitized program).
NOSAN="env -u LD_PRELOAD"
if $NOSAN make -s install DESTDIR="$TMP/root" PREFIX=/usr > "$TMP/install.log" 2>&1 \
   && [ -f "$TMP/root/usr/include/labflow_plugin.h" ]; then
  pass "make install puts labflow_plugin.h in \$(DESTDIR)\$(PREFIX)/include"
else
  fail "make install puts labflow_plugin.h in \$(DESTDIR)\$(PREFIX)/include" "$(first "$TMP/install.log")"; exit 0
fi
INC=$TMP/root/usr/include
rm -f examples/plugin/myplugin.so
if $NOSAN make -s -C examples/plugin PREFIX="$TMP/root/usr" > "$TMP/build.log" 2>&1 && [ -f examples/plugin/myplugin.so ]; then
  pass "examples/plugin builds with its Makefile against the installed header, -Wall -Wextra clean"
  [ -s "$TMP/build.log" ] && fail "examples/plugin builds warning-free" "$(first "$TMP/build.log")"
else
  fail "examples/plugin builds with its Makefile against the installed header" "$(first "$TMP/build.log")"; exit 0
fi
PLUGIN=$ROOT/examples/plugin/myplugin.so
V=$TMP/v; mkdir -p "$V"
variant(){  # variant FILE CFLAGS...: builds tests/plugins/variant.c
  out=$1; shift
  $NOSAN cc -O1 -fPIC -shared -Wall -Wextra -I"$INC" "$@" -o "$V/$out" tests/plugins/variant.c 2>> "$TMP/variants.log"
}
variant halfway.so -DNAME='"halfway"' -DFAIL_HALFWAY
variant halfway_fixed.so -DNAME='"halfway"' -DWRONG_LOSS
variant oldabi.so -DNAME='"oldabi"' -DABI=999
variant linear.so -DNAME='"Linear"'
variant twin.so -DNAME='"myplugin"'
# The same plugin rebuilt: same name and version, other bytes.
$NOSAN cc -O1 -g0 -fPIC -shared -I"$INC" -DREBUILT=1 -o "$V/myplugin_rebuilt.so" examples/plugin/myplugin.c -lm 2>> "$TMP/variants.log"
n=$(ls "$V" | wc -l)
[ "$n" = 6 ] && pass "test variants build (ABI, part-way failure, collisions, rebuild)" || { fail "test variants build" "$(first "$TMP/variants.log")"; exit 0; }

# ---- the example script as written ----------------------------------
mkdir -p "$TMP/ex"
( cd "$TMP/ex" && ln -s "$EXT.so" labflow.so && mkdir -p examples/plugin && ln -s "$PLUGIN" examples/plugin/myplugin.so \
  && "$SQLITE" -batch ex.db < "$ROOT/examples/plugin/train.sql" ) > "$TMP/ex.out" 2> "$TMP/ex.err"
if [ -s "$TMP/ex.err" ]; then fail "examples/plugin/train.sql runs" "$(first "$TMP/ex.err")"; else
  check "examples/plugin/train.sql loads the plugin" "$TMP/ex.out" "^loaded plugin 'myplugin' 1.0 \(sha256 [0-9a-f]{12}\): myplugin.Swish \(layer\), myplugin.FocalLoss \(loss\), myplugin.Brier \(metric\), myplugin.ExpDecay \(scheduler\), myplugin.Lion \(optimizer\), myplugin.Points \(dataset\)$"
  check "examples/plugin/train.sql trains 3 then resumes to 5" "$TMP/ex.out" "^│ 5 "
  check "examples/plugin/train.sql predicts the three regions" "$TMP/ex.out" "│ \[0,1,2\] │"
fi

# ---- shell: train, resume bit for bit, predict, details ----------------
D=$TMP/p; mkdir -p "$D"
awk 'BEGIN{ srand(3); print "x1,x2,label"; for(i=0;i<160;i++){ a=rand()*2-1; b=rand()*2-1; printf "%.4f,%.4f,%d\n", a, b, (a>0&&b>0)?0:(a<=0?1:2) } }' > "$D/d.csv"
CFG='{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":8}},{"loc":"myplugin.Swish","args":{"beta":1.5}},{"loc":"Dropout","args":{"p":0.1}},{"loc":"Linear","args":{"out":3}}]}},"dataset":{"loc":"csv","args":{"label":"label"}},"train_data_src":"d.csv","val_data_src":"d.csv","loss":{"loc":"myplugin.FocalLoss","args":{"gamma":2}},"optimizer":{"loc":"Adam","args":{"lr":0.02,"scheduler":{"loc":"myplugin.ExpDecay","args":{"gamma":0.9}}}},"metrics":{"accuracy":{"loc":"Accuracy"},"brier":{"loc":"myplugin.Brier"}},"train_batch_size":16}'
DB=$D/p.db
"$SQLITE" -batch "$DB" > "$TMP/train.out" 2>&1 <<EOF
.load $EXT
SELECT lab_load_plugin('$PLUGIN') LIKE 'loaded plugin%';
SELECT lab_init('{"metrics":["accuracy","brier"],"progress":false,"artifacts":"art"}') IS NOT NULL;
SELECT ppl_new('full', '$CFG');
SELECT ppl_new('split', json_set((SELECT config FROM ppls WHERE pplid='full'), '\$.val_batch_size', 255));
SELECT 'full', json_extract(ppl_train('full', 5), '\$.last_epoch');
SELECT 'split', json_extract(ppl_train('split', 3), '\$.last_epoch'), json_extract(ppl_train('split', 2), '\$.last_epoch');
SELECT 'same history', count(*) FROM history a JOIN history b ON a.epoch=b.epoch AND a.name=b.name
 WHERE a.pplid='full' AND b.pplid='split' AND a.name NOT LIKE '%duration' AND a.value IS b.value;
SELECT 'same weights', readfile(ppl_path('weight', 'full', 'last')) = readfile(ppl_path('weight', 'split', 'last'));
SELECT 'learned', value > 0.8 FROM history WHERE pplid='full' AND epoch=5 AND name='val_accuracy';
SELECT 'brier', value BETWEEN 0 AND 2 FROM history WHERE pplid='full' AND epoch=5 AND name='val_brier';
SELECT 'lr decays', count(*) FROM history a JOIN history b ON b.epoch = a.epoch + 1 AND b.pplid = a.pplid AND b.name = a.name
 WHERE a.pplid = 'full' AND a.name = 'lr' AND abs(b.value - a.value * 0.9) < 1e-12 AND a.value < 0.02 + 1e-12;
SELECT 'predict', ppl_predict('full', '[[0.5,0.5],[-0.6,0.2],[0.6,-0.6]]', 'last', 'class');
SELECT 'evaluate', json_extract(ppl_evaluate('full', 'd.csv'), '\$.samples');
SELECT 'details', plugins FROM ppl_details('full');
SELECT 'help', labflow_help('myplugin.Swish');
SELECT 'helpall', instr(labflow_help(), 'myplugin.FocalLoss') > 0, instr(labflow_help(), 'myplugin.Brier') > 0, instr(labflow_help(), 'myplugin.ExpDecay') > 0;
SELECT 'again', lab_load_plugin('$PLUGIN');
SELECT 'gradcheck', lab_gradcheck('myplugin.Swish', '{"beta": 2}', '[2,3,3]');
SELECT 'gradcheck conv', json_extract(lab_gradcheck('Conv2d', '{"out": 2, "kernel": 3}', '[2,5,5]'), '\$.ok');
SELECT 'export', ppl_export('full', '$TMP/full.onnx');
SELECT ppl_new('lion5', json_set((SELECT config FROM ppls WHERE pplid='full'), '\$.optimizer',
  json('{"loc":"myplugin.Lion","args":{"lr":0.02,"weight_decay":0.01,"scheduler":{"loc":"myplugin.ExpDecay","args":{"gamma":0.9}}}}')));
SELECT ppl_new('lion32', json_set((SELECT config FROM ppls WHERE pplid='lion5'), '\$.val_batch_size', 255));
SELECT 'lion', json_extract(ppl_train('lion5', 5), '\$.last_epoch'), json_extract(ppl_train('lion32', 3), '\$.last_epoch'),
  json_extract(ppl_train('lion32', 2), '\$.last_epoch');
SELECT 'lion same', readfile(ppl_path('weight', 'lion5', 'last')) = readfile(ppl_path('weight', 'lion32', 'last')),
  (SELECT count(*) FROM history a JOIN history b ON a.epoch=b.epoch AND a.name=b.name
    WHERE a.pplid='lion5' AND b.pplid='lion32' AND a.name NOT LIKE '%duration' AND a.value IS b.value);
SELECT 'lion learned', value > 0.7 FROM history WHERE pplid='lion5' AND epoch=5 AND name='val_accuracy';
SELECT 'lion help', labflow_help('myplugin.Lion');
EOF
check "loaded from the sqlite3 shell" "$TMP/train.out" "^1$"
check "trains with a plugin layer, loss and metric" "$TMP/train.out" "^full\|5$"
check "3 + 2 epochs: the same history as 5 in one go, bit for bit" "$TMP/train.out" "^same history\|35$"
check "3 + 2 epochs: the same weight file as 5 in one go" "$TMP/train.out" "^same weights\|1$"
check "the plugin model learns (val_accuracy > 0.8)" "$TMP/train.out" "^learned\|1$"
check "the plugin metric is recorded each epoch" "$TMP/train.out" "^brier\|1$"
check "the plugin scheduler sets each epoch's lr (lr * 0.9^epoch)" "$TMP/train.out" "^lr decays\|4$"
check "predicts through the plugin layer" "$TMP/train.out" "^predict\|\[0,1,2\]$"
check "evaluates through the plugin loss and metric" "$TMP/train.out" "^evaluate\|160$"
check "a plugin optimizer (with a plugin scheduler) trains" "$TMP/train.out" "^lion\|5\|3\|5$"
check "a plugin optimizer resumes bit for bit (its state in the checkpoint): weights and 35 history values" "$TMP/train.out" "^lion same\|1\|35$"
check "the plugin optimizer learns (val_accuracy > 0.7)" "$TMP/train.out" "^lion learned\|1$"
check "a plugin optimizer takes lr, scheduler and grad_clip besides its own args" "$TMP/train.out" "^  grad_clip: number, default 0.*|^  beta2: number, default 0.99. momentum decay$"
check "ppl_details shows plugin name, version and SHA-256" "$TMP/train.out" \
  "^details\|\[\{\"plugin\":\"myplugin\",\"version\":\"1.0\",\"sha256\":\"$(sha256sum "$PLUGIN" | cut -c1-64)\"\}\]$"
check "labflow_help(loc) documents a plugin component and its args" "$TMP/train.out" "^help\|myplugin.Swish \(layer\): x \* sigmoid\(beta \* x\), element-wise. \[plugin myplugin 1.0"
check "labflow_help(loc) lists the args with defaults" "$TMP/train.out" "^  beta: number, default 1. slope inside the sigmoid$"
check "labflow_help() lists plugin components with the built-ins" "$TMP/train.out" "^helpall\|1\|1\|1$"
check "loading the same build again is harmless" "$TMP/train.out" "^again\|plugin 'myplugin' 1.0 \(sha256 [0-9a-f]{12}\) is already loaded$"
check "lab_gradcheck passes the plugin layer" "$TMP/train.out" '^gradcheck\|\{"loc":"myplugin.Swish","ok":true,"tolerance":0.001,"checks":\[\{"grad":"input","rel_err":[^,]*,"ok":true\}\]\}$'
check "lab_gradcheck runs the built-in layers' check too" "$TMP/train.out" "^gradcheck conv\|1$"
if grep -q "ppl_export" "$ROOT/ext/labflow.c"; then
  [ ! -e "$TMP/full.onnx" ] && grep -q "ppl_export: model>args>layers\[1\] is myplugin.Swish, which has no ONNX export" "$TMP/train.out" \
    && pass "ppl_export refuses a plugin layer by name, writing nothing" || fail "ppl_export refuses a plugin layer by name" "$(first "$TMP/train.out")"
fi

# ---- a plugin dataset -----------------------------------------------------------
awk 'BEGIN{ srand(5); print "# x1 x2 label"; for(i=0;i<200;i++){ a=rand()*2-1; b=rand()*2-1; printf "%.4f %.4f %d\n", a, b, (a>0&&b>0)?0:(a<=0?1:2) } }' > "$D/pts.txt"
printf '0.5 0.5 0\n0.5 x 1\n' > "$D/bad.txt"
printf '0.5 0.5 0.5\n' > "$D/half.txt"
PCFG=$(printf '%s' "$CFG" | sed 's|{"loc":"csv","args":{"label":"label"}}|{"loc":"myplugin.Points","args":{"features":2}}|; s|"d.csv"|"pts.txt"|g')
"$SQLITE" -batch "$DB" > "$TMP/points.out" 2>&1 <<EOF
.load $EXT
SELECT lab_load_plugin('$PLUGIN') LIKE 'loaded plugin%';
SELECT ppl_new('points', '$PCFG');
SELECT 'points', json_extract(ppl_train('points', 4), '\$.last_epoch');
SELECT 'points eval', json_extract(ppl_evaluate('points', 'pts.txt'), '\$.samples'), json_extract(ppl_evaluate('points', 'pts.txt'), '\$.accuracy') > 0.8;
SELECT ppl_evaluate('points', 'bad.txt');
SELECT ppl_evaluate('points', 'half.txt');
SELECT ppl_new('badpoints', json_set('$PCFG', '\$.train_data_src', 'bad.txt'));
EOF
check "a plugin dataset feeds training" "$TMP/points.out" "^points\|4$"
check "ppl_evaluate reads a source through the plugin dataset" "$TMP/points.out" "^points eval\|200\|1$"
check "a plugin dataset's own error is passed on" "$TMP/points.out" "ppl_evaluate: data_src: myplugin.Points: .*bad.txt line 2: expected 2 numbers and a label"
check "labels from a plugin dataset are checked like a file's" "$TMP/points.out" "ppl_evaluate: data_src: dataset: the label of sample 1 is not a class index"
check "ppl_new probes the plugin dataset and refuses bad data" "$TMP/points.out" "ppl_new: train_data_src: myplugin.Points: .*bad.txt line 2"

# What a refused call must leave as it was: rows and files.
state(){
  { "$SQLITE" -batch "$DB" "SELECT pplid, status, config_hash FROM ppls ORDER BY 1; SELECT * FROM ppl_state ORDER BY 1;
       SELECT count(*), sum(value) FROM history; SELECT * FROM ppl_plugins ORDER BY 1, 2; SELECT count(*) FROM archived_ppls;" 2>&1
    find "$D/art" -type f | sort | xargs sha256sum; } | sha256sum
}
S0=$(state)

# ---- a pipeline whose plugin is not loaded -----------------------------
"$SQLITE" -batch "$DB" > "$TMP/missing.out" 2>&1 <<EOF
.load $EXT
SELECT ppl_train('full', 2);
SELECT ppl_predict('full', '[0.5, 0.5]');
SELECT ppl_evaluate('full', 'd.csv');
SELECT ppl_train_to('split', 7);
EOF
c=$(grep -c "needs plugin 'myplugin' (version 1.0, sha256 [0-9a-f]\{12\}); load it with lab_load_plugin" "$TMP/missing.out")
[ "$c" = 4 ] && [ "$(state)" = "$S0" ] && pass "train/predict/evaluate without the plugin: 'needs plugin 'myplugin' (version 1.0, ...); load it with lab_load_plugin', nothing changed" \
  || fail "train/predict/evaluate without the plugin name it" "$(first "$TMP/missing.out")"

# ---- a changed library ---------------------------------------------------
"$SQLITE" -batch "$DB" > "$TMP/rebuilt.out" 2>&1 <<EOF
.load $EXT
SELECT lab_load_plugin('$V/myplugin_rebuilt.so') LIKE 'loaded plugin%';
SELECT ppl_train('full', 2);
SELECT ppl_predict('full', '[0.5, 0.5]');
EOF
c=$(grep -c "pipeline 'full' was made with plugin 'myplugin' version 1.0 (sha256 [0-9a-f]\{12\}), but the loaded build is version 1.0 (sha256 [0-9a-f]\{12\}) from '.*myplugin_rebuilt.so': exact resume needs the same code.*ppl_accept_plugin('full', 'myplugin')" "$TMP/rebuilt.out")
[ "$c" = 2 ] && [ "$(state)" = "$S0" ] && pass "a different build of the plugin is refused with its hashes and the way to accept it, nothing changed" \
  || fail "a different build of the plugin is refused" "$(first "$TMP/rebuilt.out")"
"$SQLITE" -batch "$DB" > "$TMP/accept.out" 2>&1 <<EOF
.load $EXT
SELECT lab_load_plugin('$V/myplugin_rebuilt.so') LIKE 'loaded plugin%';
SELECT ppl_accept_plugin('full', 'myplugin');
SELECT 'trained', json_extract(ppl_train('full', 1), '\$.last_epoch');
SELECT 'split still refused', ppl_train('split', 1);
SELECT 'details', json_extract(plugins, '\$[0].sha256') = '$(sha256sum "$V/myplugin_rebuilt.so" | cut -c1-64)' FROM ppl_details('full');
EOF
check "ppl_accept_plugin records the loaded build" "$TMP/accept.out" "^pipeline 'full' now uses plugin 'myplugin' 1.0 \(sha256 [0-9a-f]{12}, was [0-9a-f]{12}\)$"
check "after ppl_accept_plugin the pipeline trains with the new build" "$TMP/accept.out" "^trained\|6$"
check "accepting for one pipeline leaves the others refusing" "$TMP/accept.out" "split still refused.*exact resume needs the same code|pipeline 'split' was made with plugin"
check "ppl_details shows the accepted build's SHA-256" "$TMP/accept.out" "^details\|1$"
S0=$(state)

# ---- loading refusals ----------------------------------------------------
"$SQLITE" -batch "$DB" > "$TMP/refuse.out" 2>&1 <<EOF
.load $EXT
SELECT lab_load_plugin('$V/oldabi.so');
SELECT lab_load_plugin('$V/halfway.so');
SELECT 'halfway left', count(*) FROM (SELECT 1 WHERE instr(labflow_help(), 'halfway.') > 0);
SELECT labflow_help('halfway.Good');
SELECT lab_load_plugin('$V/linear.so');
SELECT lab_load_plugin('$PLUGIN') LIKE 'loaded plugin%';
SELECT lab_load_plugin('$V/twin.so');
SELECT lab_load_plugin('$TMP/nothing-here.so');
SELECT lab_load_plugin('$D/d.csv');
SELECT lab_load_plugin('$ROOT/labflow.so');
SELECT 'fixed', lab_load_plugin('$V/halfway_fixed.so');
SELECT 'wrong grad', lab_gradcheck('halfway.Wrong', '{}', '[3]');
SELECT 'focal grad', json_extract(lab_gradcheck('myplugin.FocalLoss', '{"gamma": 1.5}', '[4]'), '\$.ok');
EOF
check "a plugin built for another ABI: refused with both versions and the fix" "$TMP/refuse.out" \
  "lab_load_plugin: '.*oldabi.so' was built for plugin ABI 999, this LabFlow has ABI 1: rebuild it against the labflow_plugin.h installed with this LabFlow"
check "a registration failing part-way names the problem" "$TMP/refuse.out" \
  "lab_load_plugin: plugin 'halfway' \(.*halfway.so\): registration failed: component 'Bad': arg type of 'name' is not one a plugin may use.*; nothing of it was registered"
check "nothing of a failed registration stays registered (help)" "$TMP/refuse.out" "^halfway left\|0$"
check "nothing of a failed registration stays registered (loc)" "$TMP/refuse.out" "labflow_help: no function or component named 'halfway.Good'"
check "a plugin named like a built-in is refused" "$TMP/refuse.out" "lab_load_plugin: plugin name 'Linear' collides with the built-in component 'Linear'; rename the plugin"
check "a second plugin with a loaded plugin's name is refused" "$TMP/refuse.out" \
  "lab_load_plugin: plugin name 'myplugin' is already taken by the plugin loaded from '.*myplugin.so' \(version 1.0, sha256 [0-9a-f]{12}\); '.*twin.so'"
check "a missing file is named" "$TMP/refuse.out" "lab_load_plugin: cannot open '.*nothing-here.so': No such file or directory"
check "a file that is no library is refused" "$TMP/refuse.out" "lab_load_plugin: cannot load '.*d.csv'"
check "a library that is no plugin is refused" "$TMP/refuse.out" "lab_load_plugin: '.*labflow.so' is not a LabFlow plugin: it exports no 'labflow_plugin'"
check "after a failed registration the fixed plugin loads" "$TMP/refuse.out" "^fixed\|loaded plugin 'halfway' 1 \(sha256 [0-9a-f]{12}\): halfway.Good \(layer\), halfway.Wrong \(loss\)$"
check "lab_gradcheck catches a loss whose gradient is wrong" "$TMP/refuse.out" '^wrong grad\|\{"loc":"halfway.Wrong","ok":false,"tolerance":0.001,"checks":\[\{"grad":"y","rel_err":0.[0-9]*,"ok":false\}\]\}$'
check "lab_gradcheck passes the example's loss" "$TMP/refuse.out" "^focal grad\|1$"
[ "$(state)" = "$S0" ] && pass "refused loads change nothing on disk" || fail "refused loads change nothing on disk" "state changed"

# ---- configs name components, never code ----------------------------------
PATHCFG=$(printf '%s' "$CFG" | sed "s|myplugin.Swish|$PLUGIN|")
"$SQLITE" -batch "$DB" > "$TMP/path.out" 2>&1 <<EOF
.load $EXT
SELECT ppl_new('bypath', '$PATHCFG');
SELECT ppl_new('bynamespace', '$CFG');
SELECT 'loaded', instr(labflow_help(), 'myplugin.') > 0;
EOF
check "a config naming a library path instead of a component is refused" "$TMP/path.out" "ppl_new: unknown loc '/.*' in model>args>layers\[1\]"
check "a config naming an unloaded plugin's component is refused, loading nothing" "$TMP/path.out" "ppl_new: unknown loc 'myplugin.Swish' in model>args>layers\[1\]"
check "a config never loads a plugin" "$TMP/path.out" "^loaded\|0$"
[ "$(state)" = "$S0" ] && pass "refused configs change nothing on disk" || fail "refused configs change nothing on disk" "state changed"

# ---- bundles: list the plugins, import says which are missing -------------
"$SQLITE" -batch "$DB" > "$TMP/export.out" 2>&1 <<EOF
.load $EXT
SELECT lab_load_plugin('$PLUGIN') LIKE 'loaded plugin%';
SELECT ppl_transfer('split', 'export', 'copy', '$TMP/split.lfbundle');
EOF
"$SQLITE" -batch "$TMP/split.lfbundle" "SELECT json_extract(value, '\$[0].plugin'), json_extract(value, '\$[0].version') FROM manifest WHERE key='plugins'; SELECT plugin FROM ppl_plugins;" > "$TMP/bundle.out" 2>&1
check "a bundle's manifest lists the plugins its pipelines need" "$TMP/bundle.out" "^myplugin\|1.0$"
D2=$TMP/q; mkdir -p "$D2"; cp "$D/d.csv" "$D2/"
"$SQLITE" -batch "$D2/q.db" > "$TMP/import.out" 2>&1 <<EOF
.load $EXT
SELECT lab_init('{"metrics":["accuracy","brier"],"progress":false,"artifacts":"art"}') IS NOT NULL;
SELECT ppl_transfer('split', 'import', 'copy', '$TMP/split.lfbundle');
SELECT 'rows', (SELECT count(*) FROM ppls) + (SELECT count(*) FROM history);
SELECT lab_load_plugin('$PLUGIN') LIKE 'loaded plugin%';
SELECT 'imported', ppl_transfer('split', 'import', 'copy', '$TMP/split.lfbundle');
SELECT 'plugins', plugins IS NOT NULL FROM ppl_details('split');
SELECT 'resumes', json_extract(ppl_train('split', 1), '\$.last_epoch');
EOF
check "import names the plugin it needs and imports nothing" "$TMP/import.out" \
  "pipeline 'split' needs a plugin not loaded in this process: 'myplugin' version 1.0 \(sha256 [0-9a-f]{12}\); load it with lab_load_plugin\('<path to the plugin .so>'\) and import again \(nothing was imported\)"
check "a refused import leaves the project empty" "$TMP/import.out" "^rows\|0$"
check "with the plugin loaded the bundle imports, plugins recorded" "$TMP/import.out" "^plugins\|1$"
check "the imported pipeline resumes with the plugin" "$TMP/import.out" "^resumes\|6$"

# ---- advice that works (issue 11): each message's advice followed ------------
"$SQLITE" -batch "$DB" > "$TMP/adv1.out" 2>&1 <<EOF
.load $EXT
SELECT ppl_accept_plugin('full', 'myplugin');
EOF
check "ppl_accept_plugin before the build is loaded says to load it first" "$TMP/adv1.out" \
  "ppl_accept_plugin: plugin 'myplugin' is not loaded: load the build to accept with lab_load_plugin first"
"$SQLITE" -batch "$DB" > "$TMP/adv2.out" 2>&1 <<EOF
.load $EXT
SELECT lab_load_plugin('$PLUGIN') LIKE 'loaded plugin%';
SELECT ppl_accept_plugin('full', 'myplugin');
SELECT 'trained', json_extract(ppl_train('full', 1), '\$.ended');
EOF
check "following it (lab_load_plugin, then ppl_accept_plugin) works" "$TMP/adv2.out" \
  "^pipeline 'full' now uses plugin 'myplugin' 1.0"
check "(and the pipeline trains after it)" "$TMP/adv2.out" "^trained\|finished$"
cp "$PLUGIN" "$TMP/swap.so"
"$SQLITE" -batch "$DB" > "$TMP/adv3.out" 2>&1 <<EOF
.load $EXT
SELECT lab_load_plugin('$TMP/swap.so') LIKE 'loaded plugin%';
.shell cp $V/myplugin_rebuilt.so $TMP/swap.new && mv $TMP/swap.new $TMP/swap.so
SELECT lab_load_plugin('$TMP/swap.so');
EOF
check "a library changed since this process loaded it: 'use a new process'" "$TMP/adv3.out" \
  "lab_load_plugin: '.*swap.so' changed since plugin 'myplugin' \(sha256 [0-9a-f]{12}\) was loaded from it \(now sha256 [0-9a-f]{12}\): a process cannot load a second build of a plugin; use a new process"
"$SQLITE" -batch "$DB" > "$TMP/adv4.out" 2>&1 <<EOF
.load $EXT
SELECT lab_load_plugin('$TMP/swap.so') LIKE 'loaded plugin%';
EOF
check "following it: a new process loads the new build" "$TMP/adv4.out" "^1$"
"$SQLITE" -batch "$DB" > "$TMP/adv5.out" 2>&1 <<EOF
.load $EXT
SELECT lab_load_plugin('$PLUGIN') LIKE 'loaded plugin%';
SELECT lab_load_plugin('$V/myplugin_rebuilt.so');
EOF
check "another build of a loaded plugin: 'start a new connection in a new process'" "$TMP/adv5.out" \
  "plugin name 'myplugin' is already taken by the plugin loaded from .* cannot replace it in this process: start a new connection in a new process to load another build"
"$SQLITE" -batch "$DB" > "$TMP/adv6.out" 2>&1 <<EOF
.load $EXT
SELECT lab_load_plugin('$V/myplugin_rebuilt.so') LIKE 'loaded plugin%';
EOF
check "following it: a new process loads the other build" "$TMP/adv6.out" "^1$"

# ---- lab_load_plugin and ppl_predict_cache in CREATE [TEMP] TABLE ... AS SELECT
# Allowed: the statement only creates its own table (no CHECK of someone
# else's can be the caller), and neither writes to the project; an INSERT is
# still refused (a CHECK constraint could be calling it).
S1=$(state)
"$SQLITE" -batch "$DB" > "$TMP/cta.out" 2>&1 <<EOF
.load $EXT
CREATE TEMP TABLE lp AS SELECT lab_load_plugin('$PLUGIN') AS m;
SELECT 'temp', m LIKE 'loaded plugin ''myplugin''%' FROM lp;
CREATE TABLE lp2 AS SELECT lab_load_plugin('$PLUGIN') AS m;
SELECT 'main', m LIKE 'plugin ''myplugin'' 1.0 (sha256 %) is already loaded' FROM lp2;
DROP TABLE lp2;
CREATE TABLE pc AS SELECT ppl_predict_cache(8) AS c;
SELECT 'cache', json_extract(c, '\$.limit_mb') FROM pc;
DROP TABLE pc;
CREATE TEMP TABLE pc AS SELECT ppl_predict_cache() AS c;
SELECT 'cache2', json_extract(c, '\$.limit_mb') FROM pc;
CREATE TEMP TABLE ins(x);
INSERT INTO ins SELECT lab_load_plugin('$PLUGIN');
EOF
check "lab_load_plugin in CREATE TEMP TABLE ... AS SELECT loads the plugin" "$TMP/cta.out" "^temp\|1$"
check "lab_load_plugin in CREATE TABLE ... AS SELECT is allowed too" "$TMP/cta.out" "^main\|1$"
check "ppl_predict_cache(8) in CREATE TABLE ... AS SELECT sets the limit" "$TMP/cta.out" "^cache\|8$"
check "ppl_predict_cache() in CREATE TEMP TABLE ... AS SELECT reads the connection's limit" "$TMP/cta.out" "^cache2\|8$"
check "lab_load_plugin in an INSERT is refused, with the reason" "$TMP/cta.out" \
  "lab_load_plugin: cannot run inside an INSERT, UPDATE or DELETE statement \(a CHECK constraint of the database may be calling it\); call it from a SELECT"
[ "$(state)" = "$S1" ] && pass "(the project is unchanged by them)" || fail "(the project is unchanged by them)" "state changed"

# ---- Python: enable_load_extension is the switch -----------------------------
/usr/bin/python3 - "$EXT" "$PLUGIN" "$D" > "$TMP/py.out" 2>&1 <<'EOF'
import sqlite3, sys, json
ext, plugin, d = sys.argv[1:4]
def out(name, ok, why=""):
    print(("PASS plugin: " if ok else "FAIL plugin: ") + name + ("" if ok else ": " + str(why)))
con = sqlite3.connect(d + "/p.db")
con.enable_load_extension(True)
con.load_extension(ext)
con.enable_load_extension(False)
try:
    con.execute("SELECT lab_load_plugin(?)", (plugin,)).fetchone()
    out("Python: refused while extension loading is off", False, "it loaded")
except sqlite3.OperationalError as e:
    out("Python: refused while extension loading is off (the load_extension switch)",
        "extension loading is off on this connection" in str(e) and "enable_load_extension(True)" in str(e), e)
try:
    con.execute("SELECT ppl_predict('split', '[0.5, 0.5]')").fetchone()
    out("Python: nothing was loaded by the refused call", False, "predict worked")
except sqlite3.OperationalError as e:
    out("Python: nothing was loaded by the refused call", "needs plugin 'myplugin'" in str(e), e)
con.enable_load_extension(True)
msg = con.execute("SELECT lab_load_plugin(?)", (plugin,)).fetchone()[0]
out("Python: loads with enable_load_extension(True)", msg.startswith("loaded plugin 'myplugin' 1.0"), msg)
cls = json.loads(con.execute("SELECT ppl_predict('split', '[[0.5,0.5],[-0.6,0.2],[0.6,-0.6]]', 'last', 'class')").fetchone()[0])
out("Python: predicts through the plugin", cls == [0, 1, 2], cls)
EOF
cat "$TMP/py.out"
grep -q "^PASS plugin: Python: predicts" "$TMP/py.out" || fail "Python part ran" "$(first "$TMP/py.out")"
rm -f examples/plugin/myplugin.so

# ---- docs/plugins.md shows the example's code, verbatim ------------------------
/usr/bin/python3 - "$ROOT" > "$TMP/docs.out" 2>&1 <<'EOF2'
import re, sys
root = sys.argv[1]
doc = open(root + "/docs/plugins.md", encoding="utf-8").read()
src = open(root + "/examples/plugin/myplugin.c", encoding="utf-8").read()
blocks = re.findall(r"^```c\n(.*?)^```$", doc, re.M | re.S)
missing = [b.splitlines()[0] for b in blocks if b not in src]
print("blocks", len(blocks), "missing", missing)
EOF2
check "every C excerpt of docs/plugins.md is examples/plugin/myplugin.c verbatim" "$TMP/docs.out" "^blocks ([7-9]|1[0-9]) missing \[\]$"
