"""Raw syscalls through ctypes, past every Python-level wrapper: refused by the seccomp filter."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case
from selftaught.sandbox.conformance.programs import CTYPES

A = "syscalls"


def _sys(name: str, why: str, call: str) -> Case:
    return Case(name, A, why, CTYPES + f"def attack(ctx):\n    return {call}\n", ("violation",), "AB")


CASES = [
    _sys("ctypes_fork_syscall", "fork(2) by number", "libc.syscall(57)"),
    _sys("ctypes_vfork_syscall", "vfork(2) by number", "libc.syscall(58)"),
    _sys("ctypes_clone_process", "clone(2) without CLONE_THREAD", "libc.syscall(56, 17, 0, 0, 0, 0)"),
    _sys("ctypes_execve", "execv of a shell", "libc.execv(b'/bin/sh', None)"),
    _sys("ctypes_unshare", "unshare a user namespace", "libc.unshare(0x10000000)"),
    _sys("ctypes_setns", "join another namespace", "libc.syscall(308, 0, 0)"),
    _sys("ctypes_mount", "mount a tmpfs", "libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)"),
    _sys("ctypes_chroot", "chroot", "libc.chroot(b'/tmp')"),
    _sys("ctypes_io_uring", "io_uring_setup", "libc.syscall(425, 8, None)"),
    _sys("ctypes_bpf", "load a BPF program", "libc.syscall(321, 5, 0, 0)"),
    _sys("ctypes_perf_event_open", "perf_event_open", "libc.syscall(298, 0, 0, -1, -1, 0)"),
    _sys("ctypes_userfaultfd", "userfaultfd", "libc.syscall(323, 0)"),
    _sys("ctypes_keyctl", "the kernel keyring", "libc.syscall(250, 0, 0, 0, 0, 0)"),
    _sys("ctypes_prlimit_raise", "raise its own limits with prlimit64",
         "libc.syscall(302, 0, 9, ctypes.byref((ctypes.c_ulong * 2)(2**63, 2**63)), None)"),
    _sys("ctypes_init_module", "load a kernel module", "libc.syscall(175, None, 0, b'')"),
]
