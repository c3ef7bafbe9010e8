"""Every case, grouped by attack class (one module each)."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case
from selftaught.sandbox.conformance.cases import (
    channel,
    clocks,
    declaration,
    escapes,
    filesystem,
    frames,
    host_cost,
    ipc,
    limits,
    network,
    persistence,
    processes,
    rpc_frames,
    secrets,
    seeds,
    source,
    syscalls,
    verdicts,
)

# Cases that, against a non-conforming executor, leave a sandbox damaged for good (IPC objects, an
# unreadable scratch) run last, so they do not also fail the cases after them.
MODULES = (network, secrets, filesystem, processes, limits, syscalls, clocks, verdicts, channel, frames,
           host_cost, rpc_frames, seeds, source, declaration, escapes, ipc, persistence)
CASES: list[Case] = [case for module in MODULES for case in module.CASES]

_names = [c.name for c in CASES]
assert len(set(_names)) == len(_names), "case names must be unique"
