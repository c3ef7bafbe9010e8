"""The run store: one directory per run, one SQLite database (WAL) in it, plus improver ``.py`` files."""

from selftaught.store.records import (
    CompletionRecord,
    EvaluationRecord,
    ImproverRecord,
    ImproverRunResult,
    ImproverRunTiming,
    InstanceResult,
    IterationRecord,
    MetaEvaluationRecord,
    RepairRecord,
    TransferRecord,
)
from selftaught.store.sqlite import RunStore

__all__ = [
    "CompletionRecord",
    "EvaluationRecord",
    "ImproverRecord",
    "ImproverRunResult",
    "ImproverRunTiming",
    "InstanceResult",
    "IterationRecord",
    "MetaEvaluationRecord",
    "RepairRecord",
    "RunStore",
    "TransferRecord",
]
