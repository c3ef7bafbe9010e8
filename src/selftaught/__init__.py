"""selftaught: recursively self-improving code generation (STOP), sandboxed, reproducible, resumable.

The public API is this module's ``__all__``, each object under one name; the CLI is a client of it.
``RunStore``, the class ``open_run`` returns, stays importable (for annotations) but is not a second name.
"""

from selftaught.config import RunConfig, load_config
from selftaught.engine.runner import RunResult, evaluate_improver, resume_run, start_run
from selftaught.engine.transfer import TransferResult, transfer
from selftaught.errors import SelftaughtError, UserError
from selftaught.guest.helpers import extract_code
from selftaught.store import RunStore
from selftaught.tasks.base import InvalidAnswer, Task

run = start_run
resume = resume_run
evaluate = evaluate_improver
open_run = RunStore

__all__ = [
    "InvalidAnswer",
    "RunConfig",
    "RunResult",
    "SelftaughtError",
    "Task",
    "TransferResult",
    "UserError",
    "evaluate",
    "extract_code",
    "load_config",
    "open_run",
    "resume",
    "run",
    "transfer",
]
