"""Runs cases against an executor and checks, for every case, what the case itself cannot see.

Beyond each case's own verdict check: no planted secret in anything a program sent back, printed output
and error text bounded, no file created or changed outside the sandbox, the host process never raised
and grew by less than the case's memory bound, and afterwards a later program in the same executor
still works and finds nothing left behind (see ``probe``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from selftaught.sandbox.conformance.case import MARKER, Case, CaseFailed, default_limits, require
from selftaught.sandbox.conformance.host import HostSecrets
from selftaught.sandbox.conformance.probe import PROBE, Baseline, Residue
from selftaught.sandbox.executor import CallHandler, CallResult, Executor, Worker
from selftaught.sandbox.limits import Limits, Verdict

#: Printed output and error text a host may keep per call (the guest keeps 64 KB of output).
TEXT_BOUND = 70_000
_TIER_NAMES = {"bwrap": "A", "seccomp": "B", "unsandboxed": "C"}


def tier_letter(label: str) -> str:
    """The weakest tier named by an executor's label ("bwrap+landlock+cgroup" -> A; a Ray label such as
    "ray+bwrap+cgroup/unsandboxed" -> C). Unknown labels count as C: no isolation is assumed."""
    letters = []
    for part in label.split("/"):
        found = [_TIER_NAMES[w] for w in part.split("+") if w in _TIER_NAMES]
        letters.append(found[0] if found else "C")
    return max(letters) if letters else "C"


class Session:
    """What a case's scenario uses: fresh workers of the executor under test, every result recorded."""

    def __init__(self, executor: Executor, tier: str, host: HostSecrets) -> None:
        self.executor = executor
        self.tier = tier
        self.host = host
        self.ctx = host.as_args()
        self.results: list[CallResult] = []

    @contextmanager
    def worker(self, source: str, limits: Limits | None = None) -> Iterator[Worker]:
        """A fresh worker holding ``source``, which must load."""
        with self.executor.spawn(limits or default_limits()) as w:
            loaded = self.record(w.load(source))
            require(loaded.ok, f"the program did not load: {loaded.verdict} ({loaded.error})")
            yield w

    def call(self, worker: Worker, fn: str = "attack", args: list | None = None, *, seed: int | None = None,
             handler: CallHandler | None = None, wall: float | None = None) -> CallResult:
        args = [self.ctx] if args is None else args
        return self.record(worker.call(fn, args, seed=seed, handler=handler, wall_seconds=wall))

    def run(self, source: str, fn: str = "attack", args: list | None = None, *, seed: int | None = None,
            limits: Limits | None = None, handler: CallHandler | None = None) -> CallResult:
        """Load ``source`` in a fresh worker and call ``fn`` once."""
        with self.worker(source, limits) as w:
            return self.call(w, fn, args, seed=seed, handler=handler,
                             wall=limits.wall_seconds if limits else None)

    def load(self, source: str, limits: Limits | None = None) -> CallResult:
        """Only load ``source`` in a fresh worker (for programs that must fail to load)."""
        with self.executor.spawn(limits or default_limits()) as w:
            return self.record(w.load(source))

    def record(self, result: CallResult) -> CallResult:
        self.results.append(result)
        return result


class _PeakMemory:
    """Samples this process's resident memory every few milliseconds while a case runs."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="conformance-rss")

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def grown_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def _single(case: Case, session: Session) -> None:
    """The ordinary case: load, call once (or only load), check the verdict and the value."""
    if case.phase == "load":
        res = session.load(case.source, case.limits)
    else:
        res = session.run(case.source, limits=case.limits)
    require(str(res.verdict) in case.verdicts,
            f"verdict {res.verdict} ({_short(res.error)}), expected {'/'.join(case.verdicts)}; "
            f"value {_short(repr(res.value))}")
    if case.contained is not None and res.verdict is Verdict.OK:
        require(case.contained(res.value), f"escaped: the program got {_short(repr(res.value))}")
    if case.expect is not None:
        problem = case.expect(res)
        require(problem is None, str(problem))


def _short(text: str | None, n: int = 200) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= n else text[:n] + f"... ({len(text)} chars)"


def _no_leaks(results: list[CallResult]) -> None:
    for res in results:
        for what, text in (("value", repr(res.value)), ("output", res.output or ""),
                           ("error", res.error or "")):
            require(MARKER not in text, f"a host secret reached the program's {what}")
        require(len(res.output or "") <= TEXT_BOUND, f"printed output not bounded ({len(res.output)} chars)")
        require(len(res.error or "") <= TEXT_BOUND, f"error text not bounded ({len(res.error or '')} chars)")


def later_program(executor: Executor, tier: str, host_uid: int) -> Residue:
    """Run the after-probe in a fresh worker: the pool must still work; returns what it saw."""
    with executor.spawn(Limits(wall_seconds=20)) as w:
        loaded = w.load(PROBE)
        require(loaded.ok, f"the pool no longer works: a benign program did not load ({loaded.verdict}: "
                           f"{loaded.error})")
        res = w.call("probe", [host_uid, tier == "A"])
    require(res.ok and isinstance(res.value, dict) and res.value.get("answer") == 42,
            f"the pool no longer works: a benign program got {res.verdict} ({res.error})")
    return Residue.of(res.value)


def run_case(case: Case, executor: Executor, tier: str, host: HostSecrets, baseline: Baseline) -> None:
    """Run one case and every generic check; raise ``CaseFailed`` saying what was not contained. The
    later program runs whatever the case's outcome, so ``baseline`` always learns what this case left."""
    before = host.snapshot()
    session = Session(executor, tier, host)
    failure: CaseFailed | None = None
    with _PeakMemory() as memory:
        try:
            (case.drive or (lambda s: _single(case, s)))(session)
        except CaseFailed as exc:
            failure = exc
        except Exception as exc:  # noqa: BLE001 - the executor raised: that is the finding
            failure = CaseFailed(f"the host raised {type(exc).__name__}: {_short(str(exc))}")
    try:
        seen = later_program(executor, tier, host.as_args()["host_uid"])
    except CaseFailed as exc:
        raise failure or exc from None
    except Exception as exc:  # noqa: BLE001
        raise failure or CaseFailed(f"the pool no longer works: the host raised {type(exc).__name__}: "
                                    f"{_short(str(exc))}") from None
    left, baseline.seen = seen.beyond(baseline.seen), baseline.seen | seen
    if failure is not None:
        grown = f"; the host also grew by {memory.grown_mb:.0f} MB" if memory.grown_mb >= case.host_memory_mb else ""
        raise CaseFailed(f"{failure}{grown}")
    _no_leaks(session.results)
    require(memory.grown_mb < case.host_memory_mb,
            f"the host process grew by {memory.grown_mb:.0f} MB (bound {case.host_memory_mb} MB)")
    require(not host.pwned(), f"files appeared outside the sandbox: {host.pwned()}")
    require(host.snapshot() == before, "the host's secrets directory or home file changed")
    require(not left, f"a later program saw what this one left behind: {left[:5]}")
