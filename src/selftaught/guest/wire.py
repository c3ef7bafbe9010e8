"""The wire format between host and guest: length-prefixed JSON frames.

JSON, never pickle: a hostile program can send malformed data but cannot make the host run code by
deserialising it. NumPy arrays travel tagged so they arrive as arrays on the guest side (model-written
solutions use ``.shape``); anything the guest returns is turned into plain JSON data.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any, BinaryIO

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
ARRAY_TAG = "__ndarray__"


def _to_json(obj: Any) -> Any:
    """``default`` hook: numpy values, tuples-in-odd-places, sets and bytes become plain data."""
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):  # numpy arrays and scalars
        return tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    raise TypeError(f"cannot send a value of type {type(obj).__name__}")


def encode(obj: Any) -> bytes:
    body = json.dumps(obj, default=_to_json, allow_nan=True, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> Any:
    return json.loads(body)


def write_frame(stream: BinaryIO, obj: Any) -> None:
    stream.write(encode(obj))
    stream.flush()


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    """Pipes deliver large frames in pieces: keep reading until ``n`` bytes or end of stream."""
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def read_frame(stream: BinaryIO) -> Any:
    """Blocking read of one frame (guest side); EOFError when the host is gone."""
    (size,) = HEADER.unpack(_read_exact(stream, HEADER.size))
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    return decode(_read_exact(stream, size))


def tag_arrays(value: Any) -> Any:
    """Host side: wrap numpy arrays so the guest can rebuild them (nested containers included)."""
    if hasattr(value, "dtype") and hasattr(value, "shape") and hasattr(value, "tolist"):
        return {ARRAY_TAG: value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, (list, tuple)):
        return [tag_arrays(v) for v in value]
    if isinstance(value, dict):
        return {k: tag_arrays(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return value
    return value


def untag_arrays(value: Any) -> Any:
    """Guest side: rebuild tagged arrays with numpy when it is importable, else leave lists."""
    if isinstance(value, dict):
        if ARRAY_TAG in value:
            try:
                import numpy
            except ImportError:
                return value[ARRAY_TAG]
            return numpy.array(value[ARRAY_TAG], dtype=value.get("dtype"))
        return {k: untag_arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untag_arrays(v) for v in value]
    return value
