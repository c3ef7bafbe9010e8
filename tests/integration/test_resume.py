"""kill -9 in the middle of a run, then resume: same result as an uninterrupted run, no iteration lost or
repeated, and every model reply recorded before the kill is replayed, not requested again.

Model replies are SCRIPTED (deterministic in the request and its replay seed); sandbox and store are real.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from selftaught.engine.runner import resume_run, start_run
from selftaught.models.scripted import ScriptedModel
from selftaught.store import RunStore

RESPONDER = textwrap.dedent('''
    import time
    SOLUTIONS = ["def algorithm(xs):\\n    return max(xs)\\n", "def algorithm(xs):\\n    return xs[-1]\\n",
                 "no code, sorry", "def algorithm(xs):\\n    return sorted(xs)[len(xs) // 2]\\n"]
    IMPROVER = (
        "from helpers import extract_code\\n\\n"
        "def improve_algorithm(initial_solution, utility, language_model):\\n"
        "    replies = language_model.batch_prompt('Be brief.', ['Fix:\\\\n' + initial_solution] * %d, 0.3)\\n"
        "    best, score = initial_solution, utility(initial_solution)\\n"
        "    for code in extract_code(replies):\\n"
        "        if code and utility(code) > score:\\n"
        "            best, score = code, utility(code)\\n"
        "    return best\\n")

    def responder(request):
        time.sleep(0.02)
        if "improve_algorithm" in request.user:
            n = 2 + request.seed % 3
            return "```python\\n" + IMPROVER % n + "```" if request.seed % 4 else "no"
        body = SOLUTIONS[request.seed % 4]
        return "```python\\n" + body + "```" if "def" in body else body
''')

SETTINGS = {"task": "max_list", "improver": "compact", "iterations": 3, "model.provider": "scripted",
            "budget.meta_utility_tests": 2, "budget.improver_seconds": 60.0}


def _responder():
    namespace: dict = {}
    exec(RESPONDER, namespace)
    return namespace["responder"]


def _config():
    from selftaught.config import load_config

    return load_config(overrides=SETTINGS)


def _completions(run_dir: Path) -> int:
    db = run_dir / "run.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.integration
def test_kill_9_then_resume_finishes_the_same_run_without_repeating_model_calls(tmp_path):
    reference_model = ScriptedModel(responder=_responder())
    reference = start_run(_config(), provider=reference_model, run_dir=tmp_path / "reference")
    total = len(reference_model.requests)
    assert total > 30

    run_dir = tmp_path / "killed"
    script = tmp_path / "child.py"
    script.write_text(RESPONDER + textwrap.dedent(f'''
        from pathlib import Path
        from selftaught.config import load_config
        from selftaught.engine.runner import start_run
        from selftaught.models.scripted import ScriptedModel
        start_run(load_config(overrides={SETTINGS!r}), provider=ScriptedModel(responder=responder),
                  run_dir=Path({str(run_dir)!r}))
    '''))
    child = subprocess.Popen([sys.executable, str(script)], cwd=Path(__file__).parents[2])
    deadline = time.monotonic() + 120
    while _completions(run_dir) < total // 2 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert child.poll() is None, "the child finished before it could be killed; make the run longer"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    recorded = _completions(run_dir)
    assert 0 < recorded < total

    resumed_model = ScriptedModel(responder=_responder())
    resumed = resume_run(run_dir, provider=resumed_model)

    def summary(its):
        return [(i.iteration, i.improver_hash, i.candidate_hash, i.adopted, i.val, i.test) for i in its]

    assert summary(resumed.iterations) == summary(reference.iterations)
    assert [i.iteration for i in resumed.iterations] == [0, 1, 2, 3]
    assert len(resumed_model.requests) == total - recorded  # nothing answered before the kill is re-sent
    assert resumed.model_calls_replayed >= 0
    assert len(RunStore(run_dir).completions()) == total
