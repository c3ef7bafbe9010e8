"""Bounds on one HTTP exchange with a model server that the ``openai`` client cannot set by itself.

httpx applies its ``read`` timeout to each socket read, so a server that trickles its reply (one byte
every few seconds) holds a request, and the run, for as long as it likes; and a reply is read whole,
whatever its size. Here every read and write on a connection is clamped to what is left of ONE total
deadline, and the bytes read are counted against a cap. Both are set per request with ``bounded`` (a
context variable: the sync client does its I/O in the thread that called it, so concurrent requests
keep apart). The bounds live in the network layer under httpx, the one place every byte goes through,
so headers, body and a reused keep-alive connection are all covered. A read also ends soon after a
stop is requested (SIGINT/SIGTERM): it waits in short slices and checks between them, so a stopping run
does not wait out a slow reply in a thread nobody will read.
"""

from __future__ import annotations

import importlib
import ssl
import time
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from selftaught import signals

try:  # the HTTP stack of openai >= 3
    import httpcore2 as httpcore
    import httpx2 as httpx
except ImportError:  # pragma: no cover - openai < 3 speaks httpx 0.x, whose API these names share
    httpcore = importlib.import_module("httpcore")
    httpx = importlib.import_module("httpx")


#: The longest one socket read waits before it checks whether the run is stopping.
_SLICE = 0.25


class ReplyTooLarge(Exception):
    """The server sent more bytes than any reply to the request can need (never retried, never kept)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} bytes")
        self.limit = limit


@dataclass
class _Bounds:
    deadline: float  # time.monotonic()
    max_bytes: int
    read: int = 0

    def left(self, timeout: float | None) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the total deadline of the request passed")
        return left if timeout is None else min(timeout, left)


_current: ContextVar[_Bounds | None] = ContextVar("selftaught_http_bounds", default=None)


@contextmanager
def bounded(seconds: float, max_bytes: int) -> Iterator[None]:
    """Requests made inside the block end by ``seconds`` from now (``httpx.ReadTimeout`` otherwise) and
    read at most ``max_bytes`` (``ReplyTooLarge`` otherwise)."""
    token = _current.set(_Bounds(time.monotonic() + seconds, max_bytes))
    try:
        yield
    finally:
        _current.reset(token)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        bounds = _current.get()
        data = self._sliced(max_bytes, timeout if bounds is None else bounds.left(timeout))
        if bounds is None:
            return data
        bounds.read += len(data)
        if bounds.read > bounds.max_bytes:
            raise ReplyTooLarge(bounds.max_bytes)
        return data

    def _sliced(self, max_bytes: int, timeout: float | None) -> bytes:
        """One read of at most ``timeout`` seconds, waited in slices with a stop check between them (a
        slice that times out has consumed nothing, so the read goes on where it was)."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            signals.check()  # raises Interrupted once the run is stopping
            wait = _SLICE if end is None else min(_SLICE, end - time.monotonic())
            if wait <= 0:
                raise httpcore.ReadTimeout("timed out")
            try:
                return self._inner.read(max_bytes, wait)
            except httpcore.ReadTimeout:
                if end is not None and time.monotonic() >= end:
                    raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        bounds = _current.get()
        self._inner.write(buffer, timeout if bounds is None else bounds.left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        bounds = _current.get()
        timeout = timeout if bounds is None else bounds.left(timeout)
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bounded_client(timeout: float) -> httpx.Client:
    """An HTTP client for the ``openai`` client: httpx's own transport (its exception mapping, pooling,
    TLS) with bounded network I/O. httpx takes no network backend, so it goes into the connection pool
    the transport made, before any connection exists (a test proves the bounds hold)."""
    transport = httpx.HTTPTransport()
    pool = transport._pool
    if not isinstance(pool, httpcore.ConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpx changed its transport; selftaught cannot bound model replies")
    pool._network_backend = _Backend(pool._network_backend)
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=True)


def caused_by(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of ``kind`` in the chain of ``exc`` (the client wraps what the network raised)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
