"""User-defined tasks from the command line: `tasks validate` on broken files (every problem in one
pass, one line, no traceback), the example task end to end, task mixtures, `tasks list / baseline`.
Model replies are SCRIPTED; sandbox, store and CLI are real."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import FIXED_MAX

from selftaught.cli.main import main
from selftaught.engine.meta_utility import screening_scope
from selftaught.errors import TaskError
from selftaught.store import RunStore

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "custom_task.py")
SECOND = "```python\ndef algorithm(xs):\n    return sorted(set(xs))[-2]\n```\n"

HEADER = "from selftaught import InvalidAnswer, Task\n\n"
GOOD = HEADER + '''
class Inc(Task):
    name = "inc"
    description = "algorithm(x: int) -> int returns x + 1; score 1 if exact. 0.1 s CPU per call."
    seed_solution = "def algorithm(x):\\n    return x\\n"
    time_limit = 0.1
    n_val = 3
    n_test = 2

    def generate(self, rng):
        return int(rng.integers(0, 100))

    def arguments(self, instance):
        return (instance,)

    def score(self, instance, answer):
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise InvalidAnswer("expected an int")
        return float(answer == instance + 1)
'''


def broken(*edits: tuple[str, str]) -> str:
    source = GOOD
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    return source


NO_GENERATE = ("    def generate(self, rng):\n        return int(rng.integers(0, 100))\n", "")
OUT_OF_RANGE = ("return float(answer == instance + 1)", "return 2.0")
SEED_RAISES = ('"def algorithm(x):\\n    return x\\n"', '"def algorithm(x):\\n    return 1 / 0\\n"')
EMPTY_DESCRIPTION = ('description = "algorithm(x: int) -> int returns x + 1; score 1 if exact. 0.1 s CPU per call."',
                     'description = ""')
SEED_WRONG_NAME = ('"def algorithm(x):\\n    return x\\n"', '"def solve(x):\\n    return x\\n"')


def validate(tmp_path: Path, source: str, capsys) -> tuple[int, str, str]:
    path = tmp_path / "task.py"
    path.write_text(source)
    code = main(["tasks", "validate", str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("edits", "needles"), [
    ([NO_GENERATE], ["1 problem(s)", "generate() is not overridden: define it in Inc"]),
    ([OUT_OF_RANGE], ["2 problem(s)", "returned 2.0: a score must be a float in [0, 1] (same for",
                      "on the seed solution's answer to instance 0, score() returned 2.0, outside [0, 1]"]),
    ([SEED_RAISES], ["the seed solution fails on every validation instance",
                     "ZeroDivisionError"]),
    ([EMPTY_DESCRIPTION], ["description is empty: describe the signature"]),
    ([SEED_WRONG_NAME], ["seed_solution does not define `algorithm`"]),
    ([EMPTY_DESCRIPTION, OUT_OF_RANGE, SEED_RAISES],
     ["3 problem(s)", "description is empty", "returned 2.0", "fails on every validation instance"]),
])
def test_validate_reports_every_problem_of_a_broken_file_in_one_line(tmp_path, capsys, edits, needles) -> None:
    code, _, err = validate(tmp_path, broken(*edits), capsys)
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "task.py" in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_validate_accepts_a_good_file_and_the_example(tmp_path, capsys) -> None:
    code, out, _ = validate(tmp_path, GOOD, capsys)
    assert code == 0 and "ok inc: valid" in out and "seed solution scores 0.000" in out
    assert main(["tasks", "validate", EXAMPLE]) == 0
    assert "ok second_largest: valid" in capsys.readouterr().out


def test_a_seed_failing_on_some_instances_is_a_note_not_a_problem(tmp_path, capsys) -> None:
    code, out, _ = validate(tmp_path, broken(("return x\\n", "return None if x % 2 else x + 1\\n")), capsys)
    assert code == 0 and "fails on" in out and "instances" in out


def test_run_refuses_an_invalid_task_file_before_creating_anything(run_scripted, tmp_path) -> None:
    path = tmp_path / "bad.py"
    path.write_text(broken(EMPTY_DESCRIPTION))
    with pytest.raises(TaskError, match="description is empty"):
        run_scripted(lambda r: FIXED_MAX, task=str(path))
    assert not (tmp_path / "run").exists()


def respond(request) -> str:
    return SECOND if "second largest" in request.user else FIXED_MAX


def test_the_example_task_runs_end_to_end(run_scripted) -> None:
    result, model = run_scripted(respond, task=EXAMPLE, improver="seed", iterations=0)
    assert result.seed_solution["second_largest"][0] < 1.0
    [it0] = result.iterations
    assert it0.val == 1.0 and it0.test == 1.0  # the scripted reply is the correct solution
    assert all("second largest distinct value" in r.user for r in model.requests)


def test_a_task_mixture_averages_over_tasks_and_is_reported_per_task(run_scripted, capsys) -> None:
    # The scripted model only ever fixes max_list, so the mixture's û is the mean of 1.0 and u(s)-like
    # scores on second_largest: the per-task split shows which task carries it.
    result, _ = run_scripted(lambda r: FIXED_MAX, task=f"max_list,{EXAMPLE}", improver="seed", iterations=0)
    store = RunStore(result.run_dir)
    [it0] = store.iterations()
    rec = store.get_meta_evaluation(it0.improver_hash, screening_scope(it0.improver_hash))
    split = rec.per_task()
    assert list(split) == ["max_list", "second_largest"] and len(rec.runs) == 4  # 2 runs per task
    assert split["max_list"] == (1.0, 1.0) and split["second_largest"][0] < 1.0
    assert it0.val == pytest.approx((split["max_list"][0] + split["second_largest"][0]) / 2)
    assert set(result.seed_solution) == {"max_list", "second_largest"}
    assert main(["show", str(result.run_dir)]) == 0
    out = capsys.readouterr().out
    assert "meta-utility per task" in out and "max_list 1.000 / 1.000" in out


def test_tasks_list_and_baseline_print_every_task_with_intervals(capsys) -> None:
    assert main(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("lpn", "parity", "sat3", "maxcut", "string_grid", "qap"):
        assert name in out
    assert main(["tasks", "baseline", "--tasks", f"string_grid,{EXAMPLE}", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "string_grid" in out and "second_largest" in out and "0.440 [" in out
    assert "2 repeat(s)" in out and "0.000 / 0.000" in out  # seeded, far from its limit: stable


def test_an_installed_package_adds_a_task_through_the_entry_point_group(tmp_path, monkeypatch, capsys) -> None:
    """A real (if tiny) installed distribution on sys.path: its `selftaught.tasks` entry point is found
    by name, listed, and validated like a built-in."""
    package = tmp_path / "inc_tasks"
    package.mkdir()
    (package / "__init__.py").write_text(GOOD)
    info = tmp_path / "inc_tasks-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: inc-tasks\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[selftaught.tasks]\ninc = inc_tasks:Inc\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["tasks", "validate", "inc"]) == 0
    assert "ok inc: valid" in capsys.readouterr().out
    assert main(["tasks", "list"]) == 0
    assert "inc " in capsys.readouterr().out
