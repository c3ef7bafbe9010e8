"""Filesystem writes: nothing outside the scratch directory can be created or changed, the guest's own
code included (read-only at tier A), and filling the disk ends in a verdict."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case
from selftaught.sandbox.limits import Limits

A = "filesystem"
TRY_WRITE = ("import os\ndef attack(ctx):\n    done = []\n    for p in {paths}:\n        try:\n"
             "            with open(p, 'w') as f:\n                f.write('x')\n            done.append(p)\n"
             "        except OSError:\n            pass\n    return done\n")

CASES = [
    Case("write_outside_scratch", A, "files in /usr, /, the host's directory, the stdlib, /proc/sys",
         TRY_WRITE.format(paths="('/usr/pwned', '/pwned', ctx['root'] + '/pwned', "
                                "os.path.dirname(os.__file__) + '/pwned', '/proc/sys/kernel/hostname')"),
         tiers="A", contained=lambda v: v == []),
    Case("write_system_files", A, "/etc/passwd, /etc/hosts, a file in /dev",
         TRY_WRITE.format(paths="('/etc/passwd', '/etc/hosts', '/dev/pwned', '/var/pwned')"),
         tiers="A", contained=lambda v: v == []),
    Case("overwrite_guest_code", A, "append to the guest's wire module",
         "import os, wire\ndef attack(ctx):\n    open(wire.__file__, 'a').write('# pwned')\n    return 'written'\n",
         ("error",), "A"),
    Case("truncate_guest_code", A, "truncate the guest's worker module",
         "import os, worker\ndef attack(ctx):\n    os.truncate(worker.__file__, 0)\n    return 'truncated'\n",
         ("error",), "A"),
    Case("chmod_guest_code", A, "make the guest's code world-writable",
         "import os, wire\ndef attack(ctx):\n    os.chmod(wire.__file__, 0o777)\n    return 'chmod'\n",
         ("error",), "A"),
    Case("hardlink_host_file", A, "a hard link in scratch to a host file",
         "import os\ndef attack(ctx):\n    os.link(ctx['held_out'], 'hard')\n    return open('hard').read()\n",
         ("error",), "A"),
    Case("disk_fill_one_file", A, "one file grown until the disk is full",
         "def attack(ctx):\n    with open('fill', 'wb') as f:\n        while True:\n"
         "            f.write(b'x' * (1 << 20))\n", ("violation", "error"),
         limits=Limits(wall_seconds=10, memory_mb=1024, file_size_mb=8)),
    Case("disk_fill_many_files", A, "many 1 MB files until the scratch is full",
         "import os\ndef attack(ctx):\n    i = 0\n    while True:\n"
         "        with open('/tmp/f%d' % i, 'wb') as f:\n            f.write(b'x' * (1 << 20))\n        i += 1\n",
         ("error",), "A"),
    Case("inode_exhaustion", A, "empty files until the scratch has no inodes left (bounded in time)",
         "import os, time\ndef attack(ctx):\n    end = time.monotonic() + 1\n    i = 0\n"
         "    while time.monotonic() < end:\n        open('i%d' % i, 'w').close()\n        i += 1\n    return i\n",
         ("ok", "error"), "AB"),
]
