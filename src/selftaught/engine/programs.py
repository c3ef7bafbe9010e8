"""Identity of programs: a content hash, so evaluations can be memoised and resumed."""

from __future__ import annotations

import hashlib


def program_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
