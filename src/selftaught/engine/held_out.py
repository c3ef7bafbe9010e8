"""Held-out secrecy: the secret that test instances and every program's random seeds derive from.

A program can read back whatever seeds its interpreter (``np.random.get_state()``) and can leak it
through its scores; a later improver could then feed it to the task's public instance generator. So
nothing a program sees is derived from the run seed alone: test instances come from the run's secret,
and each call's seed is a keyed hash of (secret, task, split, index).

The secret of a new run is ``HMAC(machine key, run seed)``. The machine key is random, made once and kept
in the user's data directory (``$XDG_DATA_HOME/selftaught/held_out.key``), or given as
``SELFTAUGHT_HELD_OUT_KEY`` (how a lab shares one key across machines); no sandbox can read either. A
fresh run with the same seed on the same machine repeats exactly, and a program that learns the seed
still cannot compute the held-out set. Without a key (no writable data directory) a run gets a random
secret, and ``key_warning`` says so at its start. The secret is stored in the run's
store, so a run directory (resumed, archived, copied elsewhere) keeps its instances. ``held_out =
"seeded"`` derives it from the seed alone (runs repeat on any machine; the held-out set is then only as
secret as the seed).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Literal

from selftaught.store import RunStore

KEY_ENV = "SELFTAUGHT_HELD_OUT_KEY"
HeldOut = Literal["secret", "seeded"]


def key_path() -> Path | None:
    """Where this user's key lives; None without a data directory (no XDG_DATA_HOME, and HOME unset
    with no home in the password database: ``~`` would then be a directory named '~' in the cwd)."""
    base = os.environ.get("XDG_DATA_HOME")
    if not base:
        home = os.path.expanduser("~")
        if home.startswith("~"):
            return None
        base = str(Path(home) / ".local" / "share")
    return Path(base) / "selftaught" / "held_out.key"


def _key() -> tuple[bytes | None, str]:
    """(this user's held-out key, made on first use; or None and why it can be neither read nor made)."""
    if os.environ.get(KEY_ENV):
        return hashlib.sha256(os.environ[KEY_ENV].encode()).digest(), ""
    path = key_path()
    if path is None:
        return None, "no data directory (HOME and XDG_DATA_HOME are unset)"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex())
    except FileExistsError:
        pass
    except OSError as exc:
        return None, f"{path} cannot be made ({exc.strerror or exc})"
    try:
        return bytes.fromhex(path.read_text().strip()), ""
    except (OSError, ValueError) as exc:
        return None, f"{path} cannot be read as a key ({getattr(exc, 'strerror', None) or exc})"


def machine_key() -> bytes | None:
    """This user's held-out key (made on first use); None if it can be neither read nor made."""
    return _key()[0]


def key_warning(mode: HeldOut) -> str | None:
    """The start-up check of a new run: makes the key if it can, else the one line that says what the run
    falls back to and how to fix it (None: nothing to say)."""
    if mode == "seeded":
        return None
    key, why = _key()
    if key is not None:
        return None
    return (f"no held-out key: {why}; this run's held-out instances come from a random secret, so the same "
            f"seed will not repeat them; set {KEY_ENV} (any secret string; the same on every machine that should "
            "agree), or XDG_DATA_HOME to a writable directory, or held_out = 'seeded'")


def seeded_secret(seed: int) -> bytes:
    """The secret of ``held_out = "seeded"`` and of host-only scoring (baselines): the seed's alone."""
    return hashlib.sha256(f"selftaught/held-out/{seed}".encode()).digest()[:16]


def new_secret(seed: int, mode: HeldOut) -> bytes:
    if mode == "seeded":
        return seeded_secret(seed)
    key = machine_key()
    if key is None:  # no key (``key_warning`` told the user): a random secret, fresh instances every run
        return os.urandom(16)
    return hmac.new(key, f"held-out/{seed}".encode(), hashlib.sha256).digest()[:16]


def held_out_secret(store: RunStore, seed: int, mode: HeldOut = "secret") -> bytes | None:
    """The run's secret, made and committed on first use. None for a run made before secrets existed
    (it has scores but no secret): its test instances stay those of the run seed, so a resumed old run
    scores the same instances."""
    stored = store.get_meta("held_out_secret")
    if stored is None and store.get_meta("seed_solution") is not None:
        return None
    if stored is None:
        stored = store.setdefault_meta("held_out_secret", new_secret(seed, mode).hex())
    return bytes.fromhex(stored)


def model_draws_salt(store: RunStore, seed: int, mode: HeldOut = "secret") -> str:
    """What makes one run's model draws its own: every replay key, and so every sampling seed, includes
    it, so two run seeds are independent replicates while one seed (same machine, or ``seeded``) replays
    exactly. It derives from the run's secret and seed (a keyed hash: it reveals neither). Committed on
    first use; a run recorded before salts existed (completions, no salt) keeps the empty salt, so its
    resume replays its own replies instead of sampling new ones."""
    stored = store.get_meta("model_draws_salt")
    if stored is not None:
        return str(stored)
    if store.completion_count():
        return ""  # recorded unsalted: nothing to write (the store may be a read-only archive)
    secret = held_out_secret(store, seed, mode)
    salt = "" if secret is None else hmac.new(secret, f"model-draws/{seed}".encode(), hashlib.sha256).hexdigest()[:32]
    return str(store.setdefault_meta("model_draws_salt", salt))


def call_seed(key: bytes, task: str, split: str, index: int) -> int:
    """The seed a program's ``random`` / ``np.random`` start from on one instance: 64 bits of a keyed
    hash, so reading it back tells a program nothing about ``key``."""
    digest = hmac.new(key, f"{task}/{split}/{index}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "little")
