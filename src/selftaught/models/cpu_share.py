"""How many llama.cpp threads the next decode step may use: as many cores as nothing else has been using.

Why: llama.cpp's threads meet at a barrier after every operation, so a thread that loses its core (to a
sandboxed evaluation of the same run, or to any other job) stalls the others; on 2 cores, 2 threads
beside one CPU-bound program decoded at 0.11x the speed of 1 thread. On cores nobody else wants, though,
2 threads decode 1.6-1.9x as fast as 1. So the count is chosen per decode step from what the other
processes on this machine did over the last fraction of a second: the CPU time the kernel counted on our
cores (``/proc/stat``, steal time included) minus our own process's CPU time.

Changing the count between steps is safe for reproducibility only because the session decodes without
flash attention, whose split of the keys across threads made replies depend on the thread count
(``llama_session.py``); with it off, replies are byte-identical at any count (tests/integration).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Seconds of history a decision is based on: /proc/stat counts in 10 ms ticks per core, so shorter
#: windows are noise, and longer ones react late to a sandboxed job starting beside the model.
WINDOW = 0.2
#: Cores others may use and still leave a core "free": background noise of an idle machine is ~0.05.
SLACK = 0.3
_TICK = 1 / os.sysconf("SC_CLK_TCK")
# /proc/stat columns after the cpu name: user nice system idle iowait irq softirq steal guest guest_nice.
# guest time is already inside user, so it is not added again.
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)


@dataclass(frozen=True)
class CpuSample:
    """Cumulative busy seconds on the given cores, our process's CPU seconds, and when they were read."""

    busy: float
    ours: float
    at: float


def usable_cores() -> frozenset[int]:
    """The cores this process may run on (its affinity mask, which containers and taskset narrow)."""
    return frozenset(os.sched_getaffinity(0))


def read_sample(cores: frozenset[int]) -> CpuSample:
    """Raises OSError where /proc/stat cannot be read (the governor then stays at one thread)."""
    busy = 0
    with open("/proc/stat", "rb") as stat:
        for line in stat:
            if not line.startswith(b"cpu") or line[3:4] == b" ":
                continue
            name, *values = line.split()
            if int(name[3:]) in cores:
                busy += sum(int(values[i]) for i in _BUSY_COLUMNS if i < len(values))
    return CpuSample(busy * _TICK, time.process_time(), time.monotonic())


def threads_for(before: CpuSample, after: CpuSample, n_cores: int, max_threads: int) -> int:
    """Threads to use given two samples: a core for each core's worth others used beyond ``SLACK`` is
    left to them; at least 1."""
    wall = after.at - before.at
    if wall <= 0:
        return 1
    others = max(0.0, (after.busy - before.busy) - (after.ours - before.ours)) / wall
    return max(1, min(max_threads, n_cores - math.ceil(others - SLACK)))


class ThreadGovernor:
    """Call it before each decode step; it re-reads the machine at most every ``WINDOW`` seconds and
    starts at one thread, the count that never stalls."""

    def __init__(self, max_threads: int, *, sample: Callable[[frozenset[int]], CpuSample] = read_sample,
                 cores: frozenset[int] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_threads = max(1, max_threads)
        self._cores = cores if cores is not None else usable_cores()
        self._sample, self._clock = sample, clock
        self.current = 1
        try:
            self._last = sample(self._cores)
        except OSError:  # no /proc/stat (a locked-down container): one thread, which never stalls
            self.max_threads = 1
        #: Decode steps run at each thread count, for the benchmark and doctor.
        self.steps: dict[int, int] = {}

    def __call__(self) -> int:
        if self.max_threads > 1 and self._clock() - self._last.at >= WINDOW:
            now = self._sample(self._cores)
            if now.at > self._last.at:
                self.current = threads_for(self._last, now, len(self._cores), self.max_threads)
                self._last = now
        self.steps[self.current] = self.steps.get(self.current, 0) + 1
        return self.current
