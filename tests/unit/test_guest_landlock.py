"""The guest's Landlock rules, applied for real in a child interpreter (skipped where the kernel lacks it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from selftaught.sandbox.cold import GUEST_DIR

PROGRAM = r"""
import json, os, socket, sys
sys.path.insert(0, sys.argv[1])
import landlock
scratch, secret = sys.argv[2], sys.argv[3]
read, write = [sys.argv[1], '/usr', '/lib', '/lib64', sys.prefix, sys.base_prefix], [scratch]
abi = landlock.restrict(read, write)
out = {"abi": abi}
try:
    open(secret).read(); out["secret"] = "read"
except PermissionError:
    out["secret"] = "denied"
with open(os.path.join(scratch, "ok.txt"), "w") as f:
    f.write("fine")
out["scratch"] = open(os.path.join(scratch, "ok.txt")).read()
try:
    socket.create_connection(("127.0.0.1", 9), 1); out["tcp"] = "connected"
except PermissionError:
    out["tcp"] = "denied"
except OSError as e:
    out["tcp"] = type(e).__name__
print(json.dumps(out))
"""


def test_landlock_hides_host_files_and_keeps_scratch(tmp_path) -> None:
    sys.path.insert(0, str(GUEST_DIR))
    try:
        import landlock
    finally:
        sys.path.remove(str(GUEST_DIR))
    abi = landlock.abi_version()
    if abi < 1:
        pytest.skip("this kernel has no Landlock")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    secret = tmp_path / "host-secret.txt"
    secret.write_text("secret")
    proc = subprocess.run([sys.executable, "-I", "-c", PROGRAM, str(GUEST_DIR), str(scratch), str(secret)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["abi"] == abi and seen["secret"] == "denied" and seen["scratch"] == "fine"
    if abi >= 4:
        assert seen["tcp"] == "denied"
