"""The guest worker: loads one program and runs calls the host asks for.

Run as ``python -I -S? worker.py`` by the host's executor. It first moves the channel off fds 0/1 (so
the program's prints cannot corrupt it), applies the limits the host sent, and only then loads
untrusted code. While a call runs, the program's ``utility``/``language_model`` calls become RPC frames
to the host. Output the program prints is kept, bounded, and returned with the result.
"""

from __future__ import annotations

import io
import os
import random
import sys
import time
import traceback
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Guest-local modules (this directory is on sys.path), importable as the paper's improvers expect.
import wire
from proxies import LanguageModelProxy, RemoteError, UtilityProxy

OUTPUT_LIMIT = 64 * 1024


class BoundedText(io.TextIOBase):
    """A text stream that keeps the first OUTPUT_LIMIT characters and counts the rest."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        room = OUTPUT_LIMIT - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def take(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... {self.dropped} more characters dropped]"
        self.parts, self.size, self.dropped = [], 0, 0
        return text


class Guest:
    def __init__(self) -> None:
        self.chan_in = os.fdopen(os.dup(0), "rb", buffering=0)
        self.chan_out = os.fdopen(os.dup(1), "wb")
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(2, 1)
        self.out = BoundedText()
        sys.stdout = self.out
        sys.stderr = self.out
        sys.stdin = io.StringIO("")
        self.namespace: dict[str, Any] = {}

    def send(self, obj: Any) -> None:
        wire.write_frame(self.chan_out, obj)

    def rpc(self, target: str, method: str, args: list) -> Any:
        self.send({"op": "rpc", "target": target, "method": method, "args": args})
        reply = wire.read_frame(self.chan_in)
        if not reply.get("ok"):
            raise RemoteError(reply.get("error", "the host refused the call"))
        return reply.get("value")

    # ---- operations ----------------------------------------------------------------------------
    def op_init(self, msg: dict) -> dict:
        import resource

        for name, value in (msg.get("rlimits") or {}).items():
            which = getattr(resource, name)
            resource.setrlimit(which, (value, value))
        return {"ok": True, "pid": os.getpid()}

    def op_load(self, msg: dict) -> dict:
        self.namespace = {"__name__": "program", "__builtins__": __builtins__}
        try:
            code = compile(msg["source"], msg.get("filename", "<program>"), "exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # e.g. a 50,000-term expression
            return {"ok": False, "kind": "syntax", "error": f"{type(exc).__name__}: {exc}"}
        try:
            exec(code, self.namespace)
        except BaseException as exc:  # noqa: BLE001 - anything the program raises is its own failure
            return self._failure(exc)
        return {"ok": True, "output": self.out.take()}

    def op_call(self, msg: dict) -> dict:
        fn = self.namespace.get(msg["fn"])
        if not callable(fn):
            return {"ok": False, "kind": "missing", "error": f"the program defines no function {msg['fn']}()"}
        args = [self._proxy(a) for a in wire.untag_arrays(msg.get("args", []))]
        seed = msg.get("seed")
        if seed is not None:
            random.seed(seed)
            np = sys.modules.get("numpy")
            if np is not None:
                np.random.seed(seed % 2**32)
        start = time.process_time()
        try:
            value = fn(*args)
        except BaseException as exc:  # noqa: BLE001
            reply = self._failure(exc)
            reply["cpu"] = time.process_time() - start
            return reply
        cpu = time.process_time() - start
        try:
            wire.encode(value)
        except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: nested deeper than json goes
            return {"ok": False, "kind": "unserialisable", "error": str(exc), "cpu": cpu,
                    "output": self.out.take()}
        return {"ok": True, "value": value, "cpu": cpu, "output": self.out.take()}

    def _proxy(self, arg: Any) -> Any:
        if isinstance(arg, dict) and "__proxy__" in arg:
            if arg["__proxy__"] == "utility":
                return UtilityProxy(self.rpc, arg.get("str", ""), arg.get("budget", 0))
            return LanguageModelProxy(self.rpc, arg.get("budget", 0), arg.get("max_responses_per_call", 1))
        return arg

    def _failure(self, exc: BaseException) -> dict:
        kind = "oom" if isinstance(exc, MemoryError) else "exception"
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return {"ok": False, "kind": kind, "error": f"{type(exc).__name__}: {exc}"[:2000],
                "traceback": "".join(tb)[-4000:], "output": self.out.take()}

    def serve(self) -> None:
        while True:
            try:
                msg = wire.read_frame(self.chan_in)
            except EOFError:
                return
            op = msg.get("op")
            handler = getattr(self, f"op_{op}", None)
            reply = handler(msg) if handler else {"ok": False, "kind": "protocol", "error": f"unknown op {op}"}
            reply["op"] = "result"
            reply["id"] = msg.get("id")  # the host matches each answer to the request it sent
            self.send(reply)


if __name__ == "__main__":
    Guest().serve()
