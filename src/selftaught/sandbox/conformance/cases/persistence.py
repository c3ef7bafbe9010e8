"""Persistence between programs: whatever one program leaves (files of any mode, deep trees, links,
fifos, files in $HOME, $TMPDIR, /tmp or /dev/shm, a scratch made unreadable), a later program in a later
worker of the same executor sees none of it. Workers are spawned one after the other, so a pooled
sandbox is reused. Each case checks the named paths and that the later program's scratch is empty."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case, require
from selftaught.sandbox.conformance.runner import Session

A = "persistence"

#: Program 1's helpers: every path it made is returned (absolute), so program 2 can look for it.
LEAVE = r'''
import os, stat, threading, time
made = []
def mk(path, data=b"HELD-OUT", mode=None):
    path = os.path.abspath(path)
    try:
        with open(path, "wb") as f:
            f.write(data)
        if mode is not None:
            os.chmod(path, mode)
        made.append(path)
    except OSError:
        pass
def mkd(path, mode=None, inner="inner"):
    path = os.path.abspath(path)
    try:
        os.makedirs(path, exist_ok=True)
        mk(os.path.join(path, inner))
        if mode is not None:
            os.chmod(path, mode)
        made.append(path)
    except OSError:
        pass
'''

#: Program 2: what it finds of program 1's paths, and its scratch directories' entries.
LOOK = r'''
import os
def attack(ctx, paths):
    scratch = {}
    for d in {os.getcwd(), os.environ.get("TMPDIR", ""), os.environ.get("HOME", "")} - {""}:
        try:
            scratch[d] = sorted(os.listdir(d))
        except OSError as e:
            scratch[d] = "unreadable: " + str(e)
    return {"present": [p for p in paths if os.path.lexists(p)], "scratch": scratch}
'''


def _new(after: list | str, before: list | str | None) -> list[str]:
    """Entries of program 2's scratch listing that program 0 did not see (an unreadable scratch counts)."""
    if isinstance(after, str):
        return [after] if after != before else []
    return [n for n in after if not isinstance(before, list) or n not in before]


def _persist(name: str, why: str, body: str, tiers: str = "AB") -> Case:
    source = LEAVE + "def attack(ctx):\n" + body + "    return made\n"

    def drive(s: Session) -> None:
        before = s.run(LOOK, args=[s.ctx, []])
        require(before.ok, f"program 0 did not run: {before.verdict} ({before.error})")
        first = s.run(source)
        require(first.verdict in ("ok", "error", "violation"), f"program 1: {first.verdict} ({first.error})")
        made = first.value if first.ok and isinstance(first.value, list) else []
        second = s.run(LOOK, args=[s.ctx, made])
        require(second.ok, f"program 2 did not run: {second.verdict} ({second.error})")
        require(second.value["present"] == [], f"program 2 found {second.value['present'][:5]}")
        dirty = {d: _new(v, before.value["scratch"].get(d)) for d, v in second.value["scratch"].items()}
        dirty = {d: v for d, v in dirty.items() if v}
        require(not dirty, f"program 2's scratch is not empty: {str(dirty)[:300]}")

    return Case(name, A, why, tiers=tiers, drive=drive)


CASES = [
    _persist("plain_and_hidden_files", "plain and hidden files in the working directory",
             "    mk('note.txt')\n    mk('.hidden')\n    mkd('.cache')\n", tiers="ABC"),
    _persist("home_and_tmpdir_files", "files in $HOME and $TMPDIR",
             "    mk(os.path.join(os.environ['HOME'], '.profile-x'))\n"
             "    mk(os.path.join(os.environ['TMPDIR'], 'tmp-x'))\n", tiers="ABC"),
    _persist("slash_tmp_and_dev_shm", "files in /tmp and /dev/shm",
             "    mk('/tmp/selftaught-persist-tmp')\n    mk('/dev/shm/selftaught-persist-shm')\n"
             "    mkd('/dev/shm/selftaught-persist-dir')\n"),
    _persist("dir_mode_000", "a directory with mode 000 holding a file", "    mkd('locked', 0)\n"),
    _persist("dir_mode_500", "a directory with mode 500 holding a file", "    mkd('readonly', 0o500)\n"),
    _persist("file_mode_000", "a file with mode 000", "    mk('secret', mode=0)\n"),
    _persist("nested_odd_modes", "a mode-000 directory inside a 500 inside a 000",
             "    mkd('a/b/c')\n    os.chmod('a/b/c', 0)\n    os.chmod('a/b', 0o500)\n    os.chmod('a', 0)\n"
             "    made.append(os.path.abspath('a'))\n"),
    _persist("deep_dir_chain", "a chain of 1,100 nested directories (deeper than a recursive wipe goes)",
             "    top = os.getcwd()\n    made.append(os.path.join(top, 'd'))\n    for _ in range(1100):\n"
             "        os.mkdir('d')\n        os.chdir('d')\n    mk('bottom')\n    os.chdir(top)\n"),
    _persist("symlinks", "symlinks: to a directory, dangling, a loop, to /",
             "    mkd('target')\n    for name, to in (('to_dir', 'target'), ('dangling', 'nowhere'),\n"
             "                     ('loop', 'loop'), ('root', '/')):\n        os.symlink(to, name)\n"
             "        made.append(os.path.abspath(name))\n"),
    _persist("fifo", "a named pipe", "    os.mkfifo('pipe')\n    made.append(os.path.abspath('pipe'))\n"),
    _persist("odd_names", "names that are not UTF-8, contain newlines or start with a dash",
             "    for n in (b'\\xff\\xfe', b'new\\nline', b'-rf', b' '):\n        p = os.fsdecode(n)\n"
             "        mk(p)\n"),
    _persist("many_files", "3,000 small files", "    for i in range(3000):\n        mk('f%d' % i)\n"),
    _persist("scratch_root_mode_000", "the scratch directory itself made mode 000",
             "    mk('note')\n    os.chmod(os.getcwd(), 0)\n"),
    _persist("scratch_root_mode_500", "the scratch directory itself made mode 500",
             "    mk('note')\n    os.chmod(os.getcwd(), 0o500)\n"),
    _persist("late_writer_thread", "a thread that keeps writing files after the call returned",
             "    top = os.getcwd()\n    def writer():\n        i = 0\n        while True:\n"
             "            mk(os.path.join(top, 'late%d' % i))\n            i += 1\n            time.sleep(0.005)\n"
             "    threading.Thread(target=writer, daemon=True).start()\n    time.sleep(0.05)\n"),
]


#: Program B of the inode channel: the inode numbers of new files in every writable place it knows.
INODES = r'''
import os
def attack(ctx):
    seen = {}
    for d in sorted({os.getcwd(), os.environ.get("TMPDIR", ""), "/tmp", "/dev/shm"} - {""}):
        try:
            path = os.path.join(d, "probe-inode")
            with open(path, "w"):
                pass
            os.mkdir(path + "-dir")
            seen[d] = [os.stat(path).st_ino, os.stat(path + "-dir").st_ino]
            os.unlink(path)
            os.rmdir(path + "-dir")
        except OSError as e:
            seen[d] = type(e).__name__
    return seen
'''
#: Program A: create and delete ``n`` files (the sender: n shifts a shared inode counter by n).
CHURN = r'''
import os
def attack(ctx, n):
    for i in range(n):
        with open("churn-%d" % i, "w"):
            pass
        os.unlink("churn-%d" % i)
    return n
'''
CHURN_FILES = 13_000


def _inode_channel(s: Session) -> None:
    """B reads inode numbers after A sent 0 and after A sent 13,000: the case passes only if they are
    the same (B cannot tell what A did)."""
    seen = []
    for n in (0, CHURN_FILES, 0, 1):
        sent = s.run(CHURN, args=[s.ctx, n])
        require(sent.ok, f"program A ({n} files) did not run: {sent.verdict} ({sent.error})")
        got = s.run(INODES)
        require(got.ok, f"program B did not run: {got.verdict} ({got.error})")
        seen.append(got.value)
    require(all(v == seen[0] for v in seen), "inode numbers of new files depend on what the previous program "
            f"did (A sent 0, {CHURN_FILES}, 0, 1 files; B saw {str(seen)[:300]})")


CASES.append(Case("inode_counter_channel", A, f"creating and deleting {CHURN_FILES:,} files shifts the inode "
                  "numbers the next program's new files get (a covert channel between programs)",
                  tiers="A", drive=_inode_channel))
CASES.append(Case("no_capabilities", A, "the program holds no capability (a zygote that mounts a scratch per "
                  "program does so in a user namespace of its own, whose capabilities its children drop)",
                  "def attack(ctx):\n    with open('/proc/self/status') as f:\n"
                  "        return {k: v.strip() for k, v in (line.split(':', 1) for line in f)\n"
                  "                if k in ('CapInh', 'CapPrm', 'CapEff', 'CapAmb')}\n",
                  contained=lambda caps: isinstance(caps, dict) and len(caps) >= 3
                  and all(int(v, 16) == 0 for v in caps.values()), tiers="AB"))
