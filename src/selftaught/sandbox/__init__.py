"""The HOST side of the trust boundary: run an untrusted program with limits, serve its calls.

Only this package spawns processes (ruff's banned-API rule in pyproject.toml holds it, and names the two
exceptions). Everything crosses the boundary through ``selftaught.guest.wire``.
"""

from selftaught.sandbox.executor import CallResult, Executor, Worker
from selftaught.sandbox.limits import Limits, Verdict

__all__ = ["CallResult", "Executor", "Limits", "Verdict", "Worker"]
