#!/bin/sh
# test_install.sh — `make install` honours PREFIX and DESTDIR, and the
# installed library loads.
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if make -s install DESTDIR="$tmp/root" PREFIX=/opt/lf > "$tmp/log" 2>&1 && [ -f "$tmp/root/opt/lf/lib/labflow.so" ]; then
  echo "PASS make install puts labflow.so in \$(DESTDIR)\$(PREFIX)/lib"
else
  echo "FAIL make install puts labflow.so in \$(DESTDIR)\$(PREFIX)/lib"; cat "$tmp/log"
fi
v=$(sqlite3 :memory: ".load $tmp/root/opt/lf/lib/labflow" "SELECT labflow_version();" 2>&1)
if [ "$v" = "$(sqlite3 :memory: ".load ./labflow" "SELECT labflow_version();")" ] && [ -n "$v" ]; then
  echo "PASS the installed library loads ($v)"
else
  echo "FAIL the installed library loads: $v"
fi
if [ -f labflow-mpi ]; then
  if [ -x "$tmp/root/opt/lf/bin/labflow-mpi" ] && cmp -s labflow-mpi "$tmp/root/opt/lf/bin/labflow-mpi"; then
    echo "PASS make install puts labflow-mpi in \$(DESTDIR)\$(PREFIX)/bin"
  else
    echo "FAIL make install puts labflow-mpi in \$(DESTDIR)\$(PREFIX)/bin"
  fi
fi
make -s uninstall DESTDIR="$tmp/root" PREFIX=/opt/lf > "$tmp/log" 2>&1
if [ ! -e "$tmp/root/opt/lf/lib/labflow.so" ] && [ ! -e "$tmp/root/opt/lf/bin/labflow-mpi" ] && [ ! -e "$tmp/root/opt/lf/include/labflow_plugin.h" ]; then
  echo "PASS make uninstall removes what make install put"
else
  echo "FAIL make uninstall removes what make install put"; cat "$tmp/log"
fi
