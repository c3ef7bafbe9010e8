"""Fixtures of the adversarial suite: a real executor at the best tier this machine offers, and host-side
secrets (environment, home file, run store, held-out instances, config) that no program may reach."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from selftaught.sandbox.local import LocalExecutor

MARKER = "ADVERSARIAL-SECRET-7f3c9e"

# Secrets the host holds in its environment before any sandbox starts (the probe included).
os.environ.setdefault("OPENAI_API_KEY", f"sk-{MARKER}")
os.environ.setdefault("SELFTAUGHT_ADVERSARIAL_TOKEN", MARKER)


@dataclass(frozen=True)
class HostSecrets:
    root: Path
    store: Path
    held_out: Path
    config: Path
    home_file: Path

    def as_args(self) -> dict:
        return {"store": str(self.store), "held_out": str(self.held_out), "config": str(self.config),
                "home_file": str(self.home_file), "root": str(self.root), "host_pid": os.getpid(),
                "marker": MARKER}


@pytest.fixture(scope="session")
def secrets() -> HostSecrets:
    root = Path(tempfile.mkdtemp(prefix="selftaught-adv-host-"))
    (root / "run").mkdir()
    store = root / "run" / "store.sqlite"
    store.write_text(f"evaluations ... {MARKER}")
    held_out = root / "run" / "test_instances.json"
    held_out.write_text(f'{{"split": "test", "secret": "{MARKER}"}}')
    config = root / "selftaught.toml"
    config.write_text(f'[model]\napi_key = "{MARKER}"\n')
    home_file = Path.home() / ".selftaught-adversarial-secret"
    home_file.write_text(MARKER)
    yield HostSecrets(root, store, held_out, config, home_file)
    shutil.rmtree(root, ignore_errors=True)
    home_file.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def executor(secrets: HostSecrets) -> LocalExecutor:
    ex = LocalExecutor()
    yield ex
    ex.close()


@pytest.fixture(scope="session")
def tier(executor: LocalExecutor) -> str:
    return executor.choice.letter
