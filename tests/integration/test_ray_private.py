"""The private one-node Ray of ``--executor ray`` (no address) listens on loopback only, keeps its token
file private, and its programs cannot signal each other through inode numbers (the conformance case, on
Ray's nodes). Run in a process of its own: a Ray driver keeps per-process state. Skipped without Ray."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the Ray executor needs: pip install 'selftaught[ray]'")
pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.timeout(300)]

PROBE = r'''
import json, os, stat, sys
import psutil
from selftaught.sandbox.conformance import CASES, check
from selftaught.sandbox.ray_executor import RayExecutor
from selftaught.sandbox.ray_local import token_paths

ex = RayExecutor()
try:
    listening = []
    for p in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            for c in p.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    listening.append([p.name(), c.laddr.ip, c.laddr.port])
        except psutil.Error:
            pass
    tokens = {str(t): stat.S_IMODE(os.stat(t).st_mode) for t in token_paths() if t.exists()}
    cases = [c for c in CASES if c.name in ("inode_counter_channel", "no_capabilities")]
    report = check(ex, cases=cases)
    print(json.dumps({"listening": listening, "tokens": tokens, "conformance": report.summary(), "ok": report.ok}))
finally:
    ex.close()
'''


def test_the_private_cluster_listens_on_loopback_only_and_keeps_its_token_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    token = home / ".ray" / "auth_token"
    token.write_text("0123456789abcdef" * 4)
    token.chmod(0o644)  # as Ray itself writes it: world-readable
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=280, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["listening"], "no listening socket found: the check would prove nothing"
    exposed = [s for s in out["listening"] if s[1] not in ("127.0.0.1", "::1", "::ffff:127.0.0.1")]
    assert not exposed, exposed
    assert out["tokens"] == {str(token): 0o600}
    assert not stat.S_IMODE((home / ".ray").stat().st_mode) & 0o077
    assert out["ok"], out["conformance"]
