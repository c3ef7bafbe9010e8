"""IPC that outlives a program: SysV shared memory, message queues and semaphores, POSIX message queues
and shared memory. Refused (verdict ``violation``) at tiers A/B, so nothing passes to a later program."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case, require
from selftaught.sandbox.conformance.programs import CTYPES
from selftaught.sandbox.conformance.runner import Session

A = "ipc"
KILLED = ("violation",)
KEY = 0x5E1F7A06
IPC_CREAT = 0o1000


def _ipc(name: str, why: str, body: str) -> Case:
    return Case(name, A, why, CTYPES + "def attack(ctx):\n" + body, KILLED, "AB")


HANDOFF_WRITE = CTYPES + f"""
def attack(ctx):
    libc.shmat.restype = ctypes.c_void_p
    shm = libc.shmget({KEY}, 4096, {IPC_CREAT} | 0o666)
    addr = libc.shmat(shm, None, 0)
    ctypes.memmove(ctypes.c_void_p(addr), b'HELD-OUT-INSTANCES', 18)
    return shm
"""
HANDOFF_READ = CTYPES + f"""
def attack(ctx):
    libc.shmat.restype = ctypes.c_void_p
    shm = libc.shmget({KEY}, 0, 0)
    if shm < 0:
        return None
    addr = libc.shmat(shm, None, 0)
    return ctypes.string_at(addr, 18).decode('latin1')
"""
MSG_WRITE = CTYPES + f"""
def attack(ctx):
    q = libc.msgget({KEY + 1}, {IPC_CREAT} | 0o666)
    buf = ctypes.create_string_buffer(b'\\x01\\0\\0\\0\\0\\0\\0\\0HELD-OUT', 16)
    return libc.msgsnd(q, buf, 8, 0)
"""
MSG_READ = CTYPES + f"""
def attack(ctx):
    q = libc.msgget({KEY + 1}, 0)
    if q < 0:
        return None
    buf = ctypes.create_string_buffer(16)
    n = libc.msgrcv(q, buf, 8, 0, 0o4000)
    return buf.raw[8:8 + max(n, 0)].decode('latin1')
"""


def _handoff(writer: str, reader: str):
    def drive(s: Session) -> None:
        first = s.run(writer)  # refused, or (with a fresh IPC namespace per program) created in vain
        require(first.verdict in ("violation", "ok"), f"creating the object: {first.verdict} ({first.error})")
        second = s.run(reader)
        require(second.verdict == "violation" or (second.ok and not second.value),
                f"a later program read {second.value!r} ({second.verdict})")
    return drive


CASES = [
    _ipc("sysv_shmget", "create a SysV shared-memory segment", f"    return libc.shmget(0, 4096, {IPC_CREAT} | 0o600)\n"),
    _ipc("sysv_shmget_syscall", "shmget by syscall number", f"    return libc.syscall(29, 0, 4096, {IPC_CREAT} | 0o600)\n"),
    _ipc("sysv_shmat", "attach segment 0 (made by someone else)", "    return libc.shmat(0, None, 0)\n"),
    _ipc("sysv_shmctl", "list segments with shmctl(IPC_INFO)",
         "    buf = ctypes.create_string_buffer(256)\n    return libc.shmctl(0, 3, buf)\n"),
    _ipc("sysv_msgget", "create a SysV message queue", f"    return libc.msgget(0, {IPC_CREAT} | 0o600)\n"),
    _ipc("sysv_msgsnd", "send to queue 0", "    buf = ctypes.create_string_buffer(b'\\x01' + b'\\0' * 15)\n"
         "    return libc.msgsnd(0, buf, 8, 0o4000)\n"),
    _ipc("sysv_msgsnd_syscall", "msgsnd by syscall number", "    return libc.syscall(69, 0, None, 0, 0o4000)\n"),
    _ipc("sysv_semget", "create a SysV semaphore set", f"    return libc.semget(0, 1, {IPC_CREAT} | 0o600)\n"),
    _ipc("sysv_semop", "operate on semaphore set 0",
         "    op = (ctypes.c_short * 3)(0, 1, 0o4000)\n    return libc.semop(0, op, 1)\n"),
    _ipc("posix_mq_open", "open a POSIX message queue",
         "    return libc.mq_open(b'/selftaught-mq', 0o100 | 2, 0o600, None)\n"),
    _ipc("posix_mq_open_syscall", "mq_open by syscall number",
         "    return libc.syscall(240, b'selftaught-mq', 0o100 | 2, 0o600, None)\n"),
    Case("posix_shared_memory", A, "multiprocessing.shared_memory (a file in /dev/shm)",
         "from multiprocessing import shared_memory\ndef attack(ctx):\n"
         "    m = shared_memory.SharedMemory(name='selftaught-shm', create=True, size=4096)\n"
         "    m.buf[:8] = b'HELD-OUT'\n    return m.name\n", ("violation", "error"), "AB"),
    Case("sysv_shm_handoff", A, "one program leaves data in a keyed segment, the next reads it",
         tiers="AB", drive=_handoff(HANDOFF_WRITE, HANDOFF_READ)),
    Case("sysv_msg_handoff", A, "one program leaves a message in a keyed queue, the next receives it",
         tiers="AB", drive=_handoff(MSG_WRITE, MSG_READ)),
]
