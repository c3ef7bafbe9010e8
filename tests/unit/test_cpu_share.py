"""The thread governor: as many llama.cpp threads as cores other processes left free, never more."""

from __future__ import annotations

import subprocess
import sys
import time

from selftaught.models.cpu_share import (
    WINDOW,
    CpuSample,
    ThreadGovernor,
    read_sample,
    threads_for,
    usable_cores,
)


def test_threads_follow_the_cores_others_left() -> None:
    start = CpuSample(busy=0.0, ours=0.0, at=0.0)
    # Over 1 s on 2 cores: we used 2 core-seconds and nobody else anything -> 2 threads.
    assert threads_for(start, CpuSample(2.0, 2.0, 1.0), n_cores=2, max_threads=2) == 2
    # Background noise of an idle machine still leaves a free core.
    assert threads_for(start, CpuSample(1.1, 1.0, 1.0), n_cores=2, max_threads=2) == 2
    # Half a core taken by someone else (a sandboxed evaluation, another job): one thread.
    assert threads_for(start, CpuSample(1.5, 1.0, 1.0), n_cores=2, max_threads=2) == 1
    # Every core busy elsewhere: still one thread, never zero.
    assert threads_for(start, CpuSample(4.0, 0.5, 1.0), n_cores=2, max_threads=2) == 1
    # The cap and the core count both bound it.
    assert threads_for(start, CpuSample(0.0, 0.0, 1.0), n_cores=16, max_threads=4) == 4
    assert threads_for(start, CpuSample(0.0, 0.0, 1.0), n_cores=3, max_threads=8) == 3
    assert threads_for(start, CpuSample(5.0, 0.0, 0.0), n_cores=2, max_threads=2) == 1  # no time passed


class _Machine:
    """Scripted /proc/stat readings and clock, for the governor's control flow."""

    def __init__(self) -> None:
        self.now, self.busy, self.ours, self.reads = 0.0, 0.0, 0.0, 0

    def sample(self, cores: frozenset[int]) -> CpuSample:
        self.reads += 1
        return CpuSample(self.busy, self.ours, self.now)

    def run(self, seconds: float, *, ours: float, others: float) -> None:
        self.now += seconds
        self.ours += ours * seconds
        self.busy += (ours + others) * seconds


def test_governor_starts_at_one_thread_and_rereads_only_after_the_window() -> None:
    m = _Machine()
    gov = ThreadGovernor(2, sample=m.sample, cores=frozenset({0, 1}), clock=lambda: m.now)
    assert gov() == 1  # no history yet: the count that never stalls
    m.run(WINDOW / 2, ours=1.0, others=0.0)
    assert gov() == 1 and m.reads == 1  # too soon to read the machine again
    m.run(WINDOW, ours=1.0, others=0.0)
    assert gov() == 2 and m.reads == 2  # the other core was idle
    m.run(WINDOW * 1.5, ours=1.4, others=0.6)  # a sandboxed job started beside the model
    assert gov() == 1
    assert gov.steps == {1: 3, 2: 1}


def test_a_fixed_cap_of_one_never_reads_the_machine() -> None:
    m = _Machine()
    gov = ThreadGovernor(1, sample=m.sample, cores=frozenset({0, 1}), clock=lambda: m.now)
    m.run(1.0, ours=0.0, others=0.0)
    assert gov() == 1 and m.reads == 1


def test_busy_processes_on_every_core_leave_one_thread() -> None:
    """Real /proc/stat: with a CPU-bound process per usable core, the governor must not take a second core
    (extra load from other jobs on a shared machine only makes that more so)."""
    cores = usable_cores()
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in cores]
    try:
        time.sleep(0.3)
        gov = ThreadGovernor(len(cores))
        time.sleep(WINDOW * 2)
        assert gov() == 1
        before = read_sample(cores)
        time.sleep(WINDOW)
        after = read_sample(cores)
        assert (after.busy - before.busy) / (after.at - before.at) > 0.8 * len(cores) - 0.3
    finally:
        for p in burners:
            p.kill()
            p.wait()


def test_an_unreadable_proc_stat_means_one_thread_for_good() -> None:
    def unreadable(cores: frozenset[int]) -> CpuSample:
        raise PermissionError("/proc/stat")

    gov = ThreadGovernor(4, sample=unreadable, cores=frozenset({0, 1, 2, 3}), clock=lambda: 1e9)
    assert [gov() for _ in range(3)] == [1, 1, 1]
