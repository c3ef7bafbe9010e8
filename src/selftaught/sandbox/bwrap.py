"""The bubblewrap command line of tier A: what the sandbox can see, and nothing else.

Visible, read-only: the system's ``/usr`` (and the ``/bin``, ``/lib*`` links into it), the Python
interpreter's prefix, the active environment (venv / site-packages) and the guest package. Writable: one
size-capped tmpfs, the scratch, which is also HOME, TMPDIR and the working directory; ``/tmp`` is a link
to it unless a bound path lives under ``/tmp`` (a checkout or venv there). The scratch is a path no bound
directory lives under, so the zygote's wipe between programs never walks a read-only tree. Not visible: the
run store, the model cache, the configuration, the user's home, the project tree, the host's /proc.
Every namespace is unshared (no network at all: only a loopback-less net namespace), the uid is 65534,
the environment is rebuilt from scratch, and the sandbox dies with the host.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from selftaught.sandbox.cold import GUEST_DIR, guest_environment

SANDBOX_UID = 65534
#: Where the scratch tmpfs may go, in order of preference: the first that no bound directory lives under.
SCRATCH_CANDIDATES = ("/scratch", "/sandbox-scratch", "/.selftaught-scratch")


def bwrap_binary() -> str | None:
    return shutil.which("bwrap")


def _interpreter_paths() -> list[str]:
    """Directories the interpreter and its importable packages live in (deduplicated, outermost)."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            candidates.add(path)
    real = sorted({os.path.realpath(p) for p in candidates if p and os.path.isdir(p)})
    outer: list[str] = []
    for p in real:
        if not any(p == o or p.startswith(o + os.sep) for o in outer):
            outer.append(p)
    return [p for p in outer if p != "/usr" and not p.startswith("/usr/")]


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    return args


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def scratch_path(bound: list[str]) -> str:
    """The scratch mount point: a directory with no bound path under (or above) it."""
    for candidate in SCRATCH_CANDIDATES:
        if not any(_under(b, candidate) or _under(candidate, b) for b in bound):
            return candidate
    raise FileNotFoundError("no free path for the sandbox's scratch directory")


def bwrap_command(control_fd: int, scratch_mb: int = 64) -> list[str]:
    """The full command that starts a warm zygote inside a fresh bubblewrap sandbox."""
    binary = bwrap_binary()
    if binary is None:
        raise FileNotFoundError("bwrap")
    guest = str(GUEST_DIR)
    bound = [*_interpreter_paths(), guest]
    scratch = scratch_path(["/usr", "/proc", "/dev", *bound])
    args = [binary, "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--hostname", "sandbox", "--die-with-parent", "--as-pid-1", "--new-session", "--cap-drop", "ALL"]
    args += _system_binds()
    args += ["--size", str(scratch_mb * 1024 * 1024), "--tmpfs", scratch]
    if not any(_under(b, "/tmp") for b in bound):
        args += ["--symlink", scratch, "/tmp"]  # programs that write to /tmp by name land in the scratch
    for path in bound:
        args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys", "--dev", "/dev",
             "--remount-ro", "/", "--chdir", scratch, "--clearenv"]
    for key, value in guest_environment(scratch).items():
        args += ["--setenv", key, value]
    # normalised: a path like benchmarks/../.venv/bin/python would walk through a directory not mounted
    python = os.path.normpath(sys.executable) if Path(sys.executable).exists() else "python3"
    return [*args, "--", python, "-I", str(GUEST_DIR / "zygote.py"), str(control_fd)]
