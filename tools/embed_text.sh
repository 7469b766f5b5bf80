#!/bin/sh
# embed_text.sh NAME FILE — prints a C file defining `const char NAME[]`
# holding FILE's text, so the schema ships inside labflow.so.
name=$1; file=$2
printf '/* Generated from %s by tools/embed_text.sh. Do not edit. */\n' "$file"
printf 'const char %s[] =\n' "$name"
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/  "/' -e 's/$/\\n"/' "$file"
printf ';\n'
