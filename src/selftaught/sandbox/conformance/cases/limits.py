"""Limits: memory, CPU time, wall-clock time and open files end in the right verdict, whatever the
program does to dodge them."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case
from selftaught.sandbox.limits import Limits

A = "limits"
MEM = Limits(wall_seconds=20, memory_mb=512)
CPU1 = Limits(wall_seconds=20, cpu_seconds=1, memory_mb=1024)

CASES = [
    Case("memory_bomb", A, "allocate 16 MB blocks forever",
         "def attack(ctx):\n    hog = []\n    while True:\n        hog.append(bytearray(1 << 24))\n", ("oom",),
         limits=MEM),
    # one allocation over the limit is refused at once: the address space never grows, so a host that does
    # not take a program's word for ``oom`` records the program's MemoryError as an error
    Case("numpy_memory_bomb", A, "one 16 GB NumPy array",
         "import numpy as np\ndef attack(ctx):\n    return np.ones((1 << 31,)).sum()\n", ("oom", "error"),
         limits=MEM),
    Case("memory_bomb_in_thread", A, "allocate forever in a second thread",
         "import threading\ndef attack(ctx):\n    hog = []\n    def grow():\n        while True:\n"
         "            hog.append(bytearray(1 << 24))\n    t = threading.Thread(target=grow)\n    t.start()\n"
         "    t.join()\n    return len(hog)\n", ("oom", "error", "ok"), limits=MEM,
         expect=lambda r: None if r.verdict != "ok" or r.value < 40 else f"allocated {r.value} x 16 MB"),
    Case("infinite_loop_ignoring_sigterm", A, "spin with SIGTERM ignored",
         "import signal\ndef attack(ctx):\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n    while True:\n"
         "        pass\n", ("timeout",), limits=Limits(wall_seconds=1.0, memory_mb=1024)),
    Case("sleep_past_wall", A, "sleep past the wall-clock limit",
         "import time\ndef attack(ctx):\n    time.sleep(60)\n    return 1\n", ("timeout",),
         limits=Limits(wall_seconds=1.0, memory_mb=1024)),
    Case("cpu_burn", A, "spin past the CPU-time limit",
         "def attack(ctx):\n    x = 0\n    while True:\n        x += 1\n", ("cpu",), limits=CPU1),
    Case("cpu_burn_ignoring_sigxcpu", A, "spin past the CPU-time limit with SIGXCPU ignored",
         "import signal\ndef attack(ctx):\n    signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n    x = 0\n"
         "    while True:\n        x += 1\n", ("cpu",), limits=CPU1),
    Case("cpu_burn_in_threads", A, "spin in two threads past the CPU-time limit",
         "import threading\ndef spin():\n    x = 0\n    while True:\n        x += 1\n"
         "def attack(ctx):\n    for _ in range(2):\n        threading.Thread(target=spin, daemon=True).start()\n"
         "    spin()\n", ("cpu",), limits=CPU1),
    Case("raise_own_limits", A, "raise its own address-space limit",
         "import resource\ndef attack(ctx):\n"
         "    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
         "    return 'raised'\n", ("violation",), "AB"),
    Case("open_files_exhaustion", A, "open files until the descriptor limit",
         "def attack(ctx):\n    held = []\n    while True:\n        held.append(open('/dev/null'))\n",
         ("error",)),
    Case("segfault", A, "read through a null pointer (the interpreter dies by SIGSEGV)",
         "import ctypes\ndef attack(ctx):\n    return ctypes.string_at(0)\n", ("crash",)),
]
