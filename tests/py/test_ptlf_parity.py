#!/usr/bin/python3
"""test_ptlf_parity.py — examples/ptlf_income.sql's model (the PyTorchLabFlow
tutorial's) trained by LabFlow and by PyTorch on the same generated
income-like CSV split (tools/bench/ptlf_parity.py, 3 seeds each side, 8
epochs): mean validation accuracy and AUROC within 1 point. PyTorch is
Debian's python3-torch (tools/host-deps.sh installs it); without it one
SKIP line. Prints PASS/FAIL lines.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = "/usr/bin/python3"

if subprocess.run([PY, "-c", "import torch"], capture_output=True).returncode != 0:
    print("SKIP ptlf parity: %s has no torch (apt-get install python3-torch)" % PY)
    sys.exit(0)
r = subprocess.run([PY, os.path.join(ROOT, "tools", "bench", "ptlf_parity.py"), "--threads", "1"],
                   capture_output=True, text=True)
lines = [l for l in r.stdout.splitlines() if l.startswith(("PASS ", "FAIL "))]
for l in r.stdout.splitlines():
    if not l.startswith(("PASS ", "FAIL ")) and "passed" not in l:
        print("  " + l)
for l in lines:
    print(l)
if len(lines) != 2:
    print("FAIL ptlf parity: the script ended without its 2 checks (status %d): %s"
          % (r.returncode, (r.stderr or r.stdout)[-600:].replace("\n", " | ")))
    lines.append("FAIL")
failed = sum(l.startswith("FAIL") for l in lines)
print("%d passed, %d failed" % (len(lines) - failed, failed))
sys.exit(1 if failed else 0)
