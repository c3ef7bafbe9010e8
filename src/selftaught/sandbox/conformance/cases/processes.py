"""Processes: a program cannot start another program or process, nor signal or trace the host's."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case
from selftaught.sandbox.conformance.programs import CTYPES

A = "processes"
KILLED = ("violation",)

ORPHAN = """import os, time
def attack(ctx):
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(w, str(os.getpid()).encode())
            time.sleep(3600)
        os._exit(0)
    return int(os.read(r, 32))
"""

CASES = [
    Case("fork_bomb", A, "fork in a loop", "import os\ndef attack(ctx):\n    while True:\n        os.fork()\n",
         KILLED, "AB"),
    Case("subprocess_exec", A, "run /bin/true", "import subprocess\ndef attack(ctx):\n"
         "    return subprocess.run(['/bin/true']).returncode\n", KILLED, "AB"),
    Case("os_system", A, "a shell command", "import os\ndef attack(ctx):\n    return os.system('true')\n",
         KILLED, "AB"),
    Case("posix_spawn", A, "posix_spawn of a shell",
         "import os\ndef attack(ctx):\n    return os.posix_spawn('/bin/sh', ['sh', '-c', 'true'], {})\n",
         KILLED, "AB"),
    Case("pty_fork", A, "a child on a pseudo-terminal", "import pty\ndef attack(ctx):\n    return pty.fork()[0]\n",
         ("violation", "error"), "AB"),
    Case("multiprocessing", A, "a multiprocessing child", "import multiprocessing as mp\ndef attack(ctx):\n"
         "    p = mp.get_context('fork').Process(target=print)\n    p.start()\n    return 1\n", KILLED, "AB"),
    Case("setsid_orphan", A, "a child in a new session that outlives the program",
         "import os, time\ndef attack(ctx):\n    if os.fork() == 0:\n        os.setsid()\n"
         "        time.sleep(3600)\n    return 'forked'\n", KILLED, "AB"),
    Case("double_fork_orphan", A, "a double-forked, setsid'd grandchild that reports its pid", ORPHAN,
         KILLED, "AB"),
    Case("thread_bomb", A, "threads until something gives",
         "import threading, time\ndef attack(ctx):\n    n = 0\n    while True:\n"
         "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n        n += 1\n",
         ("error", "oom"), "AB"),
    Case("ptrace", A, "attach to pid 1", CTYPES + "def attack(ctx):\n    return libc.ptrace(16, 1, 0, 0)\n",
         KILLED, "AB"),
    Case("process_vm_readv", A, "read another process's memory",
         CTYPES + "def attack(ctx):\n    return libc.syscall(310, ctx['host_pid'], 0, 0, 0, 0, 0)\n", KILLED, "AB"),
    Case("signal_host", A, "SIGKILL the host, the parent, everything",
         "import os, signal\ndef attack(ctx):\n    res = []\n"
         "    for pid in (ctx['host_pid'], os.getppid(), -1):\n        try:\n"
         "            os.kill(pid, signal.SIGKILL)\n            res.append(pid)\n        except OSError as e:\n"
         "            res.append(type(e).__name__)\n    return res\n", tiers="A"),
    Case("write_zygote_log", A, "write into the sandbox's log through /proc/<parent>/fd/2",
         "import os\ndef attack(ctx):\n    got = {}\n    for pid in {1, os.getppid()}:\n        try:\n"
         "            fd = os.open('/proc/%d/fd/2' % pid, os.O_WRONLY | os.O_APPEND)\n"
         "            got[str(pid)] = os.write(fd, b'PWNED-LOG\\n')\n        except OSError as e:\n"
         "            got[str(pid)] = type(e).__name__\n    return got\n", ("ok", "error", "violation"), "AB",
         contained=lambda v: all(isinstance(x, str) for x in v.values())),
]
