"""Limits for one sandboxed program and the verdicts a run can end with."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    """How a call ended. Recorded with every evaluation so analysis can count attempts."""

    OK = "ok"
    ERROR = "error"  # the program raised (or its answer was invalid)
    TIMEOUT = "timeout"  # wall-clock limit; the whole process tree was killed
    CPU = "cpu"  # CPU-time limit
    OOM = "oom"  # memory limit
    CRASH = "crash"  # died by a signal / exited unexpectedly
    VIOLATION = "violation"  # a forbidden operation (seccomp, later issue)
    OUTPUT = "output_limit"  # tried to send more than the channel allows
    PROTOCOL = "protocol"  # spoke garbage on the channel


@dataclass(frozen=True)
class Limits:
    """Resource limits for one worker process. ``wall_seconds`` is per call, not counting time the host
    spends serving the program's own ``utility``/``language_model`` calls."""

    wall_seconds: float = 60.0
    cpu_seconds: int = 600  # RLIMIT_CPU for the whole worker: a backstop, per-call CPU is checked too
    memory_mb: int = 4096
    file_size_mb: int = 64
    open_files: int = 256
    #: host seconds the program's own ``utility``/``language_model`` calls may take in all (None: no cap)
    serve_seconds: float | None = None

    def rlimits(self) -> dict[str, int]:
        return {
            "RLIMIT_CPU": int(self.cpu_seconds),
            "RLIMIT_AS": self.memory_mb * 1024 * 1024,
            "RLIMIT_FSIZE": self.file_size_mb * 1024 * 1024,
            "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_CORE": 0,
        }
