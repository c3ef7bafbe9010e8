"""The adversarial programs: each tries one thing, defines ``attack(ctx)`` and returns what it got.

``verdicts``: the verdicts that count as correctly classified. ``tiers``: where the case's assertions
hold (network and process refusals need seccomp, tiers A/B; an invisible filesystem needs tier A).
``contained``: a check on the returned value (None: nothing to check beyond the verdict).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from selftaught.sandbox import Limits

MARKER = "ADVERSARIAL-SECRET-7f3c9e"


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    verdicts: tuple[str, ...]
    tiers: str = "ABC"
    contained: Callable[[Any], bool] | None = None
    limits: Limits = field(default_factory=lambda: Limits(wall_seconds=10, memory_mb=1024))


def no_marker(value: Any) -> bool:
    return MARKER not in repr(value)


CTYPES = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"

CASES = [
    # ---- network ------------------------------------------------------------------------------------
    Case("tcp_connect", "import socket\ndef attack(ctx):\n    s = socket.socket()\n"
         "    s.connect(('1.1.1.1', 80))\n    return 'connected'\n", ("violation",), "AB"),
    Case("tcp_loopback", "import socket\ndef attack(ctx):\n    s = socket.create_connection(('127.0.0.1', 22), 1)\n"
         "    return 'connected'\n", ("violation",), "AB"),
    Case("udp_send", "import socket\ndef attack(ctx):\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         "    s.sendto(b'x', ('8.8.8.8', 53))\n    return 'sent'\n", ("violation",), "AB"),
    Case("dns_lookup", "import socket\ndef attack(ctx):\n    return socket.getaddrinfo('example.com', 80)\n",
         ("violation", "error"), "AB", lambda v: v is None),
    Case("ipv6_socket", "import socket\ndef attack(ctx):\n    socket.socket(socket.AF_INET6)\n    return 1\n",
         ("violation",), "AB"),
    Case("raw_socket", "import socket\ndef attack(ctx):\n"
         "    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n    return 1\n", ("violation",), "AB"),
    Case("netlink_socket", "import socket\ndef attack(ctx):\n"
         "    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)\n    return 1\n", ("violation",), "AB"),
    # ---- secrets and held-out data ----------------------------------------------------------------
    Case("env_secrets", "import os\ndef attack(ctx):\n    return dict(os.environ)\n", ("ok",), "ABC",
         lambda v: no_marker(v) and not any("KEY" in k or "TOKEN" in k for k in v)),
    Case("proc_host_environ", "import os, glob\ndef attack(ctx):\n    got = []\n"
         "    for p in glob.glob('/proc/[0-9]*/environ') + ['/proc/%d/environ' % ctx['host_pid']]:\n"
         "        try:\n            got.append(open(p, 'rb').read().decode('latin1'))\n"
         "        except OSError:\n            pass\n    return got\n", ("ok",), "A", no_marker),
    Case("proc_host_cmdline", "import glob\ndef attack(ctx):\n    out = []\n"
         "    for p in glob.glob('/proc/[0-9]*/cmdline'):\n        try:\n"
         "            out.append(open(p, 'rb').read().decode('latin1'))\n        except OSError:\n"
         "            pass\n    return out\n", ("ok",), "A", lambda v: not any("pytest" in c for c in v)),
    Case("home_files", "import os\ndef attack(ctx):\n    try:\n        return open(ctx['home_file']).read()\n"
         "    except OSError as e:\n        return str(e)\n", ("ok",), "A", no_marker),
    Case("run_store", "def attack(ctx):\n    return open(ctx['store']).read()\n", ("error",), "A", no_marker),
    Case("held_out_instances", "import os\ndef attack(ctx):\n    found = []\n"
         "    for top in ('/', '/tmp', '/work', '/root', ctx['root']):\n"
         "        for d, _, files in os.walk(top):\n            if d.startswith('/proc') or d.startswith('/usr'):\n"
         "                continue\n            for f in files:\n                try:\n"
         "                    if 'test' in f and ctx['marker'] in open(os.path.join(d, f), errors='replace').read(1 << 16):\n"
         "                        found.append(os.path.join(d, f))\n"
         "                except Exception:\n                    pass\n    return found\n", ("ok",), "A",
         lambda v: v == []),
    Case("config_file", "def attack(ctx):\n    return open(ctx['config']).read()\n", ("error",), "A", no_marker),
    Case("proc_root_escape", "import os\ndef attack(ctx):\n    return os.listdir('/proc/1/root')\n",
         ("ok", "error"), "A", lambda v: v is None or "home" not in v and "etc" not in v),
    # ---- filesystem writes ------------------------------------------------------------------------
    Case("write_outside_scratch", "import os\ndef attack(ctx):\n    done = []\n"
         "    for p in ('/usr/pwned', '/pwned', ctx['root'] + '/pwned', os.path.dirname(os.__file__) + '/pwned',"
         " '/proc/sys/kernel/hostname'):\n        try:\n            open(p, 'w').write('x')\n"
         "            done.append(p)\n        except OSError:\n            pass\n    return done\n",
         ("ok",), "A", lambda v: v == []),
    Case("overwrite_guest_code", "import os, wire\ndef attack(ctx):\n"
         "    open(wire.__file__, 'a').write('# pwned')\n    return 'written'\n", ("error",), "A"),
    Case("disk_fill_one_file", "def attack(ctx):\n    with open('/tmp/fill', 'wb') as f:\n"
         "        while True:\n            f.write(b'x' * (1 << 20))\n", ("violation", "error"), "ABC",
         limits=Limits(wall_seconds=10, memory_mb=1024, file_size_mb=8)),
    Case("disk_fill_many_files", "import os\ndef attack(ctx):\n    i = 0\n    while True:\n"
         "        with open('/tmp/f%d' % i, 'wb') as f:\n            f.write(b'x' * (1 << 20))\n        i += 1\n",
         ("error",), "A"),
    # ---- processes ----------------------------------------------------------------------------------
    Case("fork_bomb", "import os\ndef attack(ctx):\n    while True:\n        os.fork()\n", ("violation",), "AB"),
    Case("subprocess_exec", "import subprocess\ndef attack(ctx):\n"
         "    return subprocess.run(['/bin/true']).returncode\n", ("violation",), "AB"),
    Case("multiprocessing", "import multiprocessing as mp\ndef attack(ctx):\n"
         "    p = mp.get_context('fork').Process(target=print)\n    p.start()\n    return 1\n", ("violation",), "AB"),
    Case("setsid_orphan", "import os, time\ndef attack(ctx):\n    if os.fork() == 0:\n        os.setsid()\n"
         "        time.sleep(3600)\n    return 'forked'\n", ("violation",), "AB"),
    Case("thread_bomb", "import threading, time\ndef attack(ctx):\n    n = 0\n    while True:\n"
         "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n        n += 1\n",
         ("error", "oom"), "AB"),
    Case("ptrace", CTYPES + "def attack(ctx):\n    return libc.ptrace(16, 1, 0, 0)\n", ("violation",), "AB"),
    Case("signal_host", "import os, signal\ndef attack(ctx):\n    res = []\n"
         "    for pid in (ctx['host_pid'], os.getppid(), -1):\n        try:\n"
         "            os.kill(pid, signal.SIGKILL)\n            res.append(pid)\n        except OSError as e:\n"
         "            res.append(type(e).__name__)\n    return res\n", ("ok",), "A"),
    # ---- limits ---------------------------------------------------------------------------------------
    Case("memory_bomb", "def attack(ctx):\n    hog = []\n    while True:\n        hog.append(bytearray(1 << 24))\n",
         ("oom",), "ABC", limits=Limits(wall_seconds=20, memory_mb=512)),
    # one allocation over the limit is refused at once: the kernel never sees the address space grow, so
    # the host (which does not take a program's word for ``oom``) records the program's MemoryError
    Case("numpy_memory_bomb", "import numpy as np\ndef attack(ctx):\n    return np.ones((1 << 31,)).sum()\n",
         ("oom", "error"), "ABC", limits=Limits(wall_seconds=20, memory_mb=512)),
    Case("infinite_loop_ignoring_sigterm", "import signal\ndef attack(ctx):\n"
         "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n    while True:\n        pass\n", ("timeout",), "ABC",
         limits=Limits(wall_seconds=1.0, memory_mb=1024)),
    Case("cpu_burn", "def attack(ctx):\n    x = 0\n    while True:\n        x += 1\n", ("cpu",), "ABC",
         limits=Limits(wall_seconds=20, cpu_seconds=1, memory_mb=1024)),
    Case("cpu_burn_ignoring_sigxcpu", "import signal\ndef attack(ctx):\n"
         "    signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n    x = 0\n    while True:\n        x += 1\n",
         ("cpu",), "ABC", limits=Limits(wall_seconds=20, cpu_seconds=1, memory_mb=1024)),
    Case("raise_own_limits", "import resource\ndef attack(ctx):\n"
         "    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
         "    return 'raised'\n", ("violation",), "AB"),
    # ---- ctypes syscalls --------------------------------------------------------------------------
    Case("ctypes_fork_syscall", CTYPES + "def attack(ctx):\n    return libc.syscall(57)\n", ("violation",), "AB"),
    Case("ctypes_execve", CTYPES + "def attack(ctx):\n    return libc.execv(b'/bin/sh', None)\n",
         ("violation",), "AB"),
    Case("ctypes_unshare", CTYPES + "def attack(ctx):\n    return libc.unshare(0x10000000)\n", ("violation",), "AB"),
    Case("ctypes_mount", CTYPES + "def attack(ctx):\n    return libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)\n",
         ("violation",), "AB"),
    Case("ctypes_io_uring", CTYPES + "def attack(ctx):\n    return libc.syscall(425, 8, None)\n",
         ("violation",), "AB"),
    # ---- the channel and the host's deserialiser --------------------------------------------------
    Case("pickle_bomb_return", "import pickle, os\nclass Evil:\n    def __reduce__(self):\n"
         "        return (os.system, ('touch /tmp/selftaught-pwned',))\n"
         "def attack(ctx):\n    return pickle.dumps(Evil())\n", ("ok",), "ABC",
         lambda v: isinstance(v, str)),
    Case("unserialisable_return", "class Evil:\n    def __reduce__(self):\n        import os\n"
         "        return (os.system, ('true',))\ndef attack(ctx):\n    return Evil()\n", ("error",), "ABC"),
    Case("huge_print", "def attack(ctx):\n    for _ in range(200):\n        print('x' * 1_000_000)\n    return 1\n",
         ("ok",), "ABC"),
    Case("huge_return", "def attack(ctx):\n    return 'x' * (40 << 20)\n", ("output_limit",), "ABC"),
    Case("corrupt_channel", "import os\ndef attack(ctx):\n    for fd in range(3, 64):\n        try:\n"
         "            os.write(fd, b'\\x7f\\xff\\xff\\xff' + b'garbage' * 10)\n        except OSError:\n"
         "            pass\n    return 1\n", ("output_limit", "protocol"), "ABC"),
]

CASES += [
    Case("unix_socket_to_host_daemon", "import socket\ndef attack(ctx):\n    s = socket.socket(socket.AF_UNIX)\n"
         "    s.connect('/run/dbus/system_bus_socket')\n    return 'connected'\n", ("violation",), "AB"),
    Case("abstract_unix_socket", "import socket\ndef attack(ctx):\n    s = socket.socket(socket.AF_UNIX)\n"
         "    s.connect('\\0/tmp/.X11-unix/X0')\n    return 'connected'\n", ("violation",), "AB"),
]
