"""Host-side secrets the suite plants before it runs, in a private temporary directory.

A run store, held-out test instances, a configuration file with an API key, a file in the user's home
and secret-looking environment variables, each carrying ``MARKER``. No program may read, list, change
or report any of them. ``planted`` sets them up and removes them again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftaught.sandbox.conformance.case import MARKER

ENV_SECRETS = {"OPENAI_API_KEY": f"sk-{MARKER}", "SELFTAUGHT_ADVERSARIAL_TOKEN": MARKER}


@dataclass(frozen=True)
class HostSecrets:
    root: Path
    store: Path
    held_out: Path
    config: Path
    home_file: Path

    def as_args(self) -> dict[str, Any]:
        """The context every attack receives: where the secrets are (knowing a path grants nothing)."""
        return {"store": str(self.store), "held_out": str(self.held_out), "config": str(self.config),
                "home_file": str(self.home_file), "root": str(self.root), "host_pid": os.getpid(),
                "host_uid": os.getuid(), "marker": MARKER}

    def snapshot(self) -> list[tuple[str, int, int]]:
        """What is under ``root`` (and the home file): a program must change none of it."""
        seen = [(str(p.relative_to(self.root)), p.stat().st_size, p.stat().st_mtime_ns)
                for p in sorted(self.root.rglob("*")) if p.is_file()]
        home = self.home_file.stat() if self.home_file.exists() else None
        return seen + [("~", home.st_size if home else -1, home.st_mtime_ns if home else -1)]

    def pwned(self) -> list[str]:
        """Files the filesystem attacks try to create outside their scratch; none may exist."""
        candidates = [self.root / "pwned", Path("/tmp/selftaught-pwned"), Path("/usr/pwned"), Path("/pwned")]
        return [str(p) for p in candidates if p.exists()]


@contextmanager
def planted() -> Iterator[HostSecrets]:
    """Plant the secrets (environment variables only where not already set) and remove them after."""
    added = {k: v for k, v in ENV_SECRETS.items() if k not in os.environ}
    os.environ.update(added)
    root = Path(tempfile.mkdtemp(prefix="selftaught-conformance-host-"))
    (root / "run").mkdir()
    store = root / "run" / "store.sqlite"
    store.write_text(f"evaluations ... {MARKER}")
    held_out = root / "run" / "test_instances.json"
    held_out.write_text(f'{{"split": "test", "secret": "{MARKER}"}}')
    config = root / "selftaught.toml"
    config.write_text(f'[model]\napi_key = "{MARKER}"\n')
    home_file = Path.home() / ".selftaught-conformance-secret"
    home_file.write_text(MARKER)
    try:
        yield HostSecrets(root, store, held_out, config, home_file)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        home_file.unlink(missing_ok=True)
        for key in added:
            os.environ.pop(key, None)
