"""The Ray executor on a real two-node cluster on this machine: a head and a second node, each started
with ``ray start`` (as on real machines; docs/scale.md), each with one CPU and a custom resource of its
own. A run's improver runs land on both nodes, their budgeted ``utility``/``language_model`` calls are
served by the host, and the store is the one the local executor gives. The host is a process of its own
(``drive``), not pytest: Ray keeps per-process state from earlier tests, and a driver whose cluster goes
away ends its process.

Model replies are SCRIPTED; Ray, sandbox, store and engine are real. Skipped without selftaught[ray].
The cluster's processes are found by its private temp dir and stopped by pid (never ``ray stop``, which
would stop every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from tests.conftest import scripted_config
from tests.unit.test_parallel import IMPROVER, SETTINGS, recorded, responder

from selftaught.engine.runner import start_run
from selftaught.engine.session import make_executor
from selftaught.models.scripted import ScriptedModel
from selftaught.sandbox import Limits, Worker
from selftaught.sandbox.executor import CallHandler, CallResult
from selftaught.store import RunStore

ray = pytest.importorskip("ray", reason="the Ray executor needs: pip install 'selftaught[ray]'")
pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.timeout(600)]

#: token auth off on this loopback-only test cluster (a real cluster keeps it on: docs/scale.md)
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
REPO = Path(__file__).resolve().parents[2]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _stop(temp: Path) -> None:
    """Stop the processes of the cluster living in ``temp`` (and their children), by pid."""
    found = [p for p in psutil.process_iter(["cmdline"])
             if str(temp) in " ".join(p.info["cmdline"] or []) and p.pid != os.getpid()]
    procs = {p.pid: p for root in found for p in [root, *root.children(recursive=True)]}
    for p in procs.values():
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(list(procs.values()), timeout=10)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """``ray start --head`` plus ``ray start --address`` on 127.0.0.1; yields the head's address."""
    temp = Path(tempfile.mkdtemp(prefix="ray2n-", dir="/tmp"))  # short: Ray's unix socket paths
    port, dashboard, agent_head, agent_second = _free_ports(4)
    ray_cli = str(Path(sys.executable).parent / "ray")
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    head = [ray_cli, "start", "--head", f"--port={port}", f"--temp-dir={temp}", "--include-dashboard=false",
            f"--dashboard-port={dashboard}", f"--dashboard-agent-listen-port={agent_head}",
            "--resources=" + json.dumps({"head_node": 1}), *common]
    second = [ray_cli, "start", f"--address=127.0.0.1:{port}", f"--dashboard-agent-listen-port={agent_second}",
              "--resources=" + json.dumps({"second_node": 1}), *common]
    env = {**os.environ, **RAY_ENV}
    try:
        for cmd in (head, second):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)
            assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        yield f"127.0.0.1:{port}"
    finally:
        _stop(temp)
        shutil.rmtree(temp, ignore_errors=True)


class _Watched(Worker):
    """A Ray worker whose improver calls and served RPCs are counted against its node."""

    def __init__(self, inner: Worker, node: str, watcher: Any) -> None:  # the Placement executor below
        self.inner, self.node, self.watcher = inner, node, watcher

    def load(self, source: str) -> CallResult:
        return self.inner.load(source)

    def call(self, fn: str, args: list, *, seed: int | None = None, handler: CallHandler | None = None,
             wall_seconds: float | None = None) -> CallResult:
        counted = handler
        if handler is not None:
            def counted(target: str, method: str, call_args: list) -> Any:
                self.watcher.count("served", self.node, f"{os.getpid()}:{target}")  # the process serving it
                return handler(target, method, call_args)
        if fn == "improve_algorithm":
            self.watcher.count("improver_runs", self.node)
        return self.inner.call(fn, args, seed=seed, handler=counted, wall_seconds=wall_seconds)

    @property
    def alive(self) -> bool:
        return self.inner.alive

    def close(self) -> None:
        self.inner.close()


def placement_executor(address: str) -> Any:
    from selftaught.sandbox.ray_executor import RayExecutor

    class Placement(RayExecutor):
        """The Ray executor, noting on which node each worker was placed."""

        def __init__(self) -> None:
            super().__init__(ray_address=address)
            self.counts: dict[str, Counter] = {"workers": Counter(), "improver_runs": Counter(), "served": Counter()}
            self._count_lock = threading.Lock()

        def count(self, what: str, node: str, detail: str | None = None) -> None:
            with self._count_lock:
                self.counts[what][f"{node}/{detail}" if detail else node] += 1

        def spawn(self, limits: Limits) -> Worker:
            worker = super().spawn(limits)
            node = self.nodes[self.actors.index(worker.actor)]  # type: ignore[attr-defined]
            self.count("workers", node)
            return _Watched(worker, node, self)

    return Placement()


def drive(address: str, work: str) -> None:
    """The host side, run in a process of its own (``python -c``): Ray keeps per-process state, and a
    driver whose cluster goes away exits its process, which must not be pytest. Runs the same run on the
    cluster and on the local executor, and writes what it saw to WORK/seen.json."""
    path = Path(work) / "improver.py"
    path.write_text(IMPROVER)
    cfg = scripted_config(**{**SETTINGS, "improver": str(path), "sandbox.executor": "ray",
                             "sandbox.ray_address": address})
    inner = placement_executor(address)
    nodes = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
    seen = {"host": os.getpid(), "nodes": inner.nodes, "cpus": inner.cpus,
            "head": [n for n, r in nodes.items() if r.get("head_node")],
            "second": [n for n, r in nodes.items() if r.get("second_node")]}
    start_run(cfg, provider=ScriptedModel(responder=responder), run_dir=Path(work) / "ray",
              executor=make_executor(cfg, inner))
    seen.update(counts={k: dict(v) for k, v in inner.counts.items()}, initialized_after=ray.is_initialized())
    start_run(cfg.model_copy(update={"sandbox": cfg.sandbox.model_copy(update={"executor": "local", "ray_address": None})}),
              provider=ScriptedModel(responder=responder), run_dir=Path(work) / "local")
    (Path(work) / "seen.json").write_text(json.dumps(seen))


def test_improver_runs_land_on_both_nodes_with_calls_served_by_the_host(cluster, tmp_path):
    code = f"from tests.integration.test_ray_two_nodes import drive; drive({cluster!r}, {str(tmp_path)!r})"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, **RAY_ENV},
                          capture_output=True, text=True, timeout=540, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads((tmp_path / "seen.json").read_text())
    [head], [second] = seen["head"], seen["second"]  # each node is the one with its own resource
    assert sorted(seen["nodes"]) == sorted([head, second]) and seen["cpus"] == 2
    assert not seen["initialized_after"]  # the executor joined the cluster and left it; the cluster goes on

    counts = seen["counts"]
    assert counts["improver_runs"].get(head, 0) > 0 and counts["improver_runs"].get(second, 0) > 0, counts
    assert counts["workers"].get(head, 0) > 0 and counts["workers"].get(second, 0) > 0, counts
    for node in (head, second):  # every budgeted call of a program on either node was answered by the host
        for target in ("utility", "language_model"):
            assert counts["served"].get(f"{node}/{seen['host']}:{target}", 0) > 0, counts["served"]
    assert all(f"/{seen['host']}:" in key for key in counts["served"]), counts["served"]
    assert {e.tier.split("+")[0] for e in RunStore(tmp_path / "ray").evaluations()} == {"ray"}
    assert recorded(tmp_path / "ray") == recorded(tmp_path / "local")
