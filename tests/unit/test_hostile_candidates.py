"""Issue 22: what a model or a program hands the host is hostile input. A candidate improver too deep for
the parser, or one 1,500 levels deep that parses, is a verdict for that candidate: the run goes on and
resumes cleanly. A 6 MB program sent to ``utility`` or ``meta_utility`` scores 0, counts as a call, and is
neither run nor stored. SCRIPTED model replies drive the real sandbox, store and engine."""

from __future__ import annotations

from pathlib import Path

from selftaught.engine.programs import MAX_PROGRAM_CHARS
from selftaught.engine.runner import resume_run
from selftaught.improvers import improver_source
from selftaught.models.base import ChatRequest
from selftaught.models.scripted import ScriptedModel
from selftaught.store import RunStore

GOOD = "```python\ndef algorithm(xs):\n    return max(xs)\n```\n"


def _ending_in(terms: int) -> str:
    """A working improver (``compact``) whose last line is a ``terms``-term sum."""
    return improver_source("compact")[0] + "\nWEIGHT = " + "+".join(["1"] * terms) + "\n"


def meta_reply(improver: str):
    def respond(request: ChatRequest) -> str:
        return f"```python\n{improver}```\n" if "improve_algorithm" in request.user else GOOD

    return respond


def test_candidates_too_deep_for_the_host_are_rejected_and_the_run_resumes(run_scripted, tmp_path) -> None:
    # 40,000 terms: under the size cap, but the parser's recursion overflows (it crashed repair and
    # de-duplication with RecursionError, and every resume replayed the crash).
    result, _ = run_scripted(meta_reply(_ending_in(40_000)), improver="seed")
    store = RunStore(result.run_dir)
    step = store.iterations()[1]
    assert step.verdict == "rejected" and "nested too deeply to compile" in (step.error or ""), step
    assert store.get_meta("status") == "finished"
    store.close()

    # Resumed to a second iteration whose candidate is 1,500 levels deep: it parses and runs, so it is
    # smoke tested and screened like any other; de-duplication hashes it without recursion.
    model = ScriptedModel(responder=meta_reply(_ending_in(1_500)))
    again = resume_run(result.run_dir, provider=model, iterations=2)
    store = RunStore(again.run_dir)
    its = store.iterations()
    assert len(its) == 3 and its[1] == step
    assert its[2].verdict in ("rejected", "adopted") and its[2].candidate_val is not None, its[2]
    assert "WEIGHT = 1+1" in store.get_improver(its[2].candidate_hash).source
    assert store.get_meta("status") == "finished"


SENDS_HUGE = '''
BAD = "def algorithm(xs):\\n    return None\\n"


def improve_algorithm(initial_solution, utility, language_model):
    """Sends a 6 MB program until the budget is spent; returns its input only if every one scored 0 and
    counted (the next call, over budget, scores 0 too)."""
    huge = initial_solution + "\\n# " + "x" * (6 << 20) + "\\n"
    scores = [utility(huge) for _ in range(utility.budget)]
    charged = utility(initial_solution) == 0.0
    return initial_solution if charged and scores == [0.0] * len(scores) else BAD
'''


def test_programs_over_the_size_cap_score_zero_count_and_are_not_stored(run_scripted, tmp_path: Path) -> None:
    improver = tmp_path / "huge.py"
    improver.write_text(SENDS_HUGE)
    result, model = run_scripted(lambda r: GOOD, improver=str(improver))
    store = RunStore(result.run_dir)
    start, step = store.iterations()
    # iteration 0: as a downstream improver, to ``utility``: it returned the seed solution, which scores
    assert start.val > 0.0, start
    # iteration 1: to ``meta_utility``: it returned itself
    assert step.verdict == "unchanged", step
    assert not model.requests  # it never asked the model
    stored = sum(f.stat().st_size for f in Path(result.run_dir).rglob("*") if f.is_file())
    assert stored < 20 * MAX_PROGRAM_CHARS, f"the run stored {stored:,} bytes"


def test_the_conformance_handler_caps_programs_as_the_engine_does() -> None:
    from selftaught.engine.utility import MAX_SOLUTION
    from selftaught.sandbox.conformance.rpc import PROGRAM_CHARS

    assert PROGRAM_CHARS == MAX_PROGRAM_CHARS == MAX_SOLUTION
