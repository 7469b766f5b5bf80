#!/bin/sh
# test_architecture.sh — docs/architecture.md names every .c and .h under
# ext/, core/ and kernels/ (as `x.c`, `x.h` or `x.{c,h}`) and nothing that is
# gone, and the README's "How it is built" links it; a failure names the
# file. Prints PASS/FAIL lines.
set -u
cd "$(dirname "$0")/../.."
T=architecture
DOC=docs/architecture.md
pass(){ echo "PASS $T: $1"; }
fail(){ echo "FAIL $T: $1: $2"; }
[ -f "$DOC" ] || { fail "setup" "$DOC missing"; exit 0; }

missing=""
n=0
for f in ext/*.c ext/*.h core/*.c core/*.h kernels/*.c kernels/*.h; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  b=$(basename "$f")
  stem=${b%.*}
  # The file's own line, under its directory's heading.
  section=$(awk -v d="## $(dirname "$f")/" 'index($0, "## ")==1 { on = index($0, d)==1 } on' "$DOC")
  printf '%s\n' "$section" | grep -qF -e "\`$b\`" -e "\`$stem.{c,h}\`" || missing="$missing $f"
done
if [ -z "$missing" ]; then
  pass "every .c and .h under ext/ core/ kernels/ has its line ($n files)"
else
  fail "every .c and .h under ext/ core/ kernels/ has its line" "not named in its directory's section of $DOC:$missing (add one line: \`name\` — its one job)"
fi

gone=""
for d in ext core kernels; do
  section=$(awk -v d="## $d/" 'index($0, "## ")==1 { on = index($0, d)==1 } on' "$DOC")
  for name in $(printf '%s\n' "$section" | grep '^- `' | sed 's/^- `\([^`]*\)`.*/\1/'); do
    case $name in
      *.{c,h}) s=${name%.\{c,h\}}; [ -f "$d/$s.c" ] && [ -f "$d/$s.h" ] || gone="$gone $d/$name" ;;
      *) [ -f "$d/$name" ] || gone="$gone $d/$name" ;;
    esac
  done
done
[ -z "$gone" ] && pass "every file it names exists" \
  || fail "every file it names exists" "named in $DOC but not in the tree:$gone"

sed -n '/^## How it is built/,/^## /p' README.md | grep -q 'docs/architecture.md' \
  && pass "README's How it is built links it" \
  || fail "README's How it is built links it" "no link to docs/architecture.md in that section"
