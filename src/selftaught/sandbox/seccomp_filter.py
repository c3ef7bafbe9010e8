"""The seccomp policy of a sandboxed program, compiled once on the host into raw BPF.

The guest installs the bytes itself (``prctl(PR_SET_SECCOMP)`` through ctypes, standard library only) in
each forked evaluation child, after its rlimits are set and before any untrusted code runs. The zygote
that forks the children is not filtered: it runs only our code and must be able to fork.

Forbidden operations kill the whole process (``SECCOMP_RET_KILL_PROCESS``), so the host sees SIGSYS and
records the verdict ``violation``: an attempt is counted, not only blocked. Threads stay allowed (NumPy,
OpenBLAS): ``clone`` is refused only without ``CLONE_THREAD``; ``clone3`` answers ENOSYS so that the C
library falls back to ``clone``, whose flags the filter can read.
"""

from __future__ import annotations

import errno
import functools
import tempfile

CLONE_THREAD = 0x00010000

#: Syscalls that have no business in a scored program: new processes, debugging other processes,
#: changing the filesystem view or namespaces, kernel objects that bypass this filter, raising limits,
#: inter-process communication objects that would survive the program.
#: Sockets of every family are refused too (TCP, UDP, DNS, raw, netlink, and Unix sockets to host daemons).
KILLED = (
    "fork", "vfork", "execve", "execveat",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "move_mount", "open_tree",
    "fsopen", "fsmount", "fspick", "mount_setattr",
    "setrlimit", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "open_by_handle_at", "name_to_handle_at",
    "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "personality", "seccomp",
    # state that outlives a program: SysV shared memory, message queues and semaphores, and POSIX message
    # queues live in the IPC namespace, which every program of one warm sandbox shares
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl",
    "semget", "semop", "semtimedop", "semctl",
    "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
)


class SeccompUnavailable(Exception):
    """libseccomp (through PyPI ``pyseccomp``) is not usable here; the tier falls back."""


@functools.lru_cache(maxsize=1)
def compile_filter() -> bytes:
    """The policy as raw BPF (an array of ``struct sock_filter``), for the guest to install."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as exc:  # missing wheel, or libseccomp.so.2 absent
        raise SeccompUnavailable(f"pyseccomp/libseccomp not usable: {exc}") from None
    try:
        f = sc.SyscallFilter(defaction=sc.ALLOW)
        kill = sc.KILL_PROCESS
        for name in KILLED:
            try:
                f.add_rule(kill, name)
            except (RuntimeError, ValueError, OSError):
                pass  # not a syscall on this architecture
        f.add_rule(kill, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        for name in ("socket", "socketpair"):  # the channel is two inherited pipes: no socket is ever needed
            f.add_rule(kill, name)
        f.add_rule(kill, "prlimit64", sc.Arg(2, sc.NE, 0))  # reading limits is fine, setting is not
        with tempfile.TemporaryFile() as out:
            f.export_bpf(out)
            out.seek(0)
            program = out.read()
    except (RuntimeError, ValueError, OSError) as exc:
        raise SeccompUnavailable(f"libseccomp could not compile the filter: {exc}") from None
    if not program or len(program) % 8:
        raise SeccompUnavailable("libseccomp produced an empty or malformed BPF program")
    return program
