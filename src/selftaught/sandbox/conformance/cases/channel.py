"""The channel through the ordinary return path: what crosses is JSON data, bounded in size and in the
host memory it costs; nothing a program returns makes the host run code."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case
from selftaught.sandbox.limits import Limits

A = "channel"
BIG = Limits(wall_seconds=30, memory_mb=2048)

CASES = [
    Case("pickle_bomb_return", A, "a pickle whose loading would run a shell command",
         "import pickle, os\nclass Evil:\n    def __reduce__(self):\n"
         "        return (os.system, ('touch /tmp/selftaught-pwned',))\n"
         "def attack(ctx):\n    return pickle.dumps(Evil())\n", contained=lambda v: isinstance(v, str)),
    Case("unserialisable_return", A, "an object that cannot cross (only JSON data does)",
         "class Evil:\n    def __reduce__(self):\n        import os\n"
         "        return (os.system, ('true',))\ndef attack(ctx):\n    return Evil()\n", ("error",)),
    Case("huge_print", A, "200 MB printed", "def attack(ctx):\n    for _ in range(200):\n"
         "        print('x' * 1_000_000)\n    return 1\n"),
    Case("huge_print_to_real_stdout", A, "printing to the interpreter's original stdout and fds 1, 2",
         "import os, sys\ndef attack(ctx):\n    for _ in range(20):\n        sys.__stdout__.write('x' * 1_000_000)\n"
         "        os.write(1, b'y' * 1_000_000)\n        os.write(2, b'z' * 1_000_000)\n    return 1\n"),
    Case("huge_return", A, "a 40 MB string, above the frame cap", "def attack(ctx):\n    return 'x' * (40 << 20)\n",
         ("output_limit",)),
    Case("legal_big_string", A, "a 15 MB string, under the cap: it crosses, at bounded host cost",
         "def attack(ctx):\n    return 'x' * (15 << 20)\n", ("ok", "output_limit"), limits=BIG,
         contained=lambda v: isinstance(v, str)),
    Case("many_empty_dicts_returned", A, "15 MB of empty dicts, under the cap, through the ordinary return",
         "def attack(ctx):\n    return [{} for _ in range(15 << 18)]\n", ("output_limit", "protocol"), limits=BIG),
    Case("deeply_nested_return", A, "a list nested 100,000 deep through the ordinary return",
         "def attack(ctx):\n    v = []\n    for _ in range(100_000):\n        v = [v]\n    return v\n",
         ("error", "protocol", "output_limit")),
    Case("corrupt_channel", A, "garbage written to every descriptor",
         "import os\ndef attack(ctx):\n    for fd in range(3, 64):\n        try:\n"
         "            os.write(fd, b'\\x7f\\xff\\xff\\xff' + b'garbage' * 10)\n        except OSError:\n"
         "            pass\n    return 1\n", ("output_limit", "protocol")),
]
