"""Source snippets the hostile programs share (they are text: they run inside the sandbox)."""

from __future__ import annotations

#: Raw libc for syscalls Python does not wrap.
CTYPES = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"

#: Finds the guest's channel to the host and writes raw frames into it. The guest object is found by
#: the garbage collector (an object with ``chan_out``/``chan_in``); failing that, the channel is the
#: write-only pipe among the open descriptors.
CHANNEL = r'''
import gc, json, os, stat, struct, sys, time, fcntl

def _guest():
    for o in gc.get_objects():
        try:
            if hasattr(o, "chan_out") and hasattr(o, "chan_in") and not isinstance(o, type):
                return o
        except Exception:
            pass
    return None

def _out_fd():
    g = _guest()
    if g is not None:
        g.chan_out.flush()
        return g.chan_out.fileno()
    for fd in range(3, 256):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                return fd
        except OSError:
            pass
    raise RuntimeError("no channel found")

def _in_fd():
    g = _guest()
    if g is not None:
        return g.chan_in.fileno()
    for fd in range(3, 256):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
                return fd
        except OSError:
            pass
    raise RuntimeError("no channel found")

def raw(data):
    fd = _out_fd()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]

def frame(body):
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    raw(struct.pack(">I", len(body)) + body)

def reply():
    fd = _in_fd()
    head = b""
    while len(head) < 4:
        head += os.read(fd, 4 - len(head))
    (n,) = struct.unpack(">I", head)
    body = b""
    while len(body) < n:
        body += os.read(fd, n - len(body))
    return json.loads(body)

def rpc(obj):
    """Send a hand-made rpc frame; raise if the host refused it, else return its value."""
    frame(json.dumps(obj))
    r = reply()
    if not isinstance(r, dict) or not r.get("ok"):
        raise RuntimeError("refused: " + str(r)[:200])
    return r.get("value")

def linger(seconds=5.0):
    """After a forged frame: stay alive, so the host must judge by the frame, not by an exit."""
    time.sleep(seconds)
    return "lingered"
'''

#: Burns CPU by the real clock, captured before any case patches the clock functions.
BURN = r'''
import time as _time_real
_process_time = _time_real.process_time
_thread_time = _time_real.thread_time

def burn(seconds):
    end = _process_time() + seconds
    x = 0
    while _process_time() < end:
        x += 1
    return x

def burn_thread(seconds):
    end = _thread_time() + seconds
    x = 0
    while _thread_time() < end:
        x += 1
    return x
'''
