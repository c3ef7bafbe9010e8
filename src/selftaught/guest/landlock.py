"""Landlock, from inside the sandbox: restrict this process's filesystem view (and TCP, signals) for good.

Used by each evaluation child before it reads a program. Where bubblewrap already hides the host
(tier A) it is a second wall; where there are no namespaces (tier B) it is the filesystem isolation.
Read and execute beneath the interpreter, system libraries and guest code; everything beneath the
scratch directory; nothing else. On kernels with Landlock ABI 4+ TCP bind/connect is refused too, and
on ABI 6+ signals to processes outside this domain (the zygote, other sandboxes) are refused.
Standard library only (ctypes over the raw syscalls, whose numbers are shared by x86-64 and arm64).
"""

from __future__ import annotations

import ctypes
import os

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_V1 = (1 << 13) - 1  # execute .. make_sym
REFER, TRUNCATE = 1 << 13, 1 << 14
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1
READ_ONLY = EXECUTE | READ_FILE | READ_DIR


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:  # loaded once in the zygote; forked children inherit it
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is absent or disabled."""
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(0, int(version))


def build_ruleset(read_only: list[str], writable: list[str]) -> tuple[int, int]:
    """Create the ruleset once (the zygote does, before forking): (ruleset fd, ABI), (-1, 0) if
    unsupported. Paths that do not exist are skipped. Raises OSError if the kernel refuses."""
    abi = abi_version()
    if abi < 1:
        return -1, 0
    fs = FS_V1 | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(fs, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    ruleset = int(libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for paths, access in ((read_only, READ_ONLY), (writable, fs)):
            for path in paths:
                _add_rule(libc, ruleset, path, access)
    except OSError:
        os.close(ruleset)
        raise
    return ruleset, abi


def restrict_self(ruleset: int) -> None:
    """Enforce a built ruleset on this (single-threaded) process, for good."""
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")


def restrict(read_only: list[str], writable: list[str]) -> int:
    """Build and enforce in one go; returns the ABI used, 0 if unsupported."""
    ruleset, abi = build_ruleset(read_only, writable)
    if abi:
        try:
            restrict_self(ruleset)
        finally:
            os.close(ruleset)
    return abi


def _add_rule(libc: ctypes.CDLL, ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            access &= EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE  # only file rights apply to a file
        rule = _PathBeneath(access, fd)
        if libc.syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule),
                        ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule({path}) failed")
    finally:
        os.close(fd)
