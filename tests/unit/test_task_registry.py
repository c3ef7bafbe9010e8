"""Loading tasks by name or file, and the static validation that lists every problem in one pass."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selftaught.errors import TaskError
from selftaught.tasks.base import InvalidAnswer, Task
from selftaught.tasks.lpn import LearningParityWithNoise
from selftaught.tasks.max_list import MaxOfList
from selftaught.tasks.registry import ensure_valid, load_task, validate_task_static

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "custom_task.py"
NOT_TASKS = {"__init__", "base", "answers", "registry"}
BUILT_IN_FILES = sorted(p for p in (REPO / "src" / "selftaught" / "tasks").glob("*.py") if p.stem not in NOT_TASKS)

GOOD_TASK = '''
from selftaught.tasks.base import InvalidAnswer, Task

class Echo(Task):
    name = "echo"
    description = "algorithm(x: int) -> int returns x."
    seed_solution = "def algorithm(x):\\n    return 0\\n"

    def generate(self, rng):
        return int(rng.integers(0, 10))

    def arguments(self, instance):
        return (instance,)

    def score(self, instance, answer):
        if not isinstance(answer, int) or isinstance(answer, bool):
            raise InvalidAnswer("not an int")
        return float(answer == instance)
'''


def write(tmp_path: Path, source: str, name: str = "task.py") -> Path:
    path = tmp_path / name
    path.write_text(source)
    return path


# ---- load_task ----------------------------------------------------------------------------------

def test_built_in_names_load_instances() -> None:
    assert isinstance(load_task("lpn"), LearningParityWithNoise)
    assert isinstance(load_task(" max_list "), MaxOfList)


def test_unknown_name_suggests_the_closest_and_lists_known() -> None:
    with pytest.raises(TaskError, match=r"did you mean 'lpn'\?.*known tasks are .*max_list.*\.py file"):
        load_task("lpm")


def test_task_file_loads_its_one_task(tmp_path: Path) -> None:
    task = load_task(str(write(tmp_path, GOOD_TASK)))
    assert task.name == "echo" and type(task).__name__ == "Echo"
    assert validate_task_static(task) == []


def test_module_level_task_instance_wins_over_several_classes(tmp_path: Path) -> None:
    source = GOOD_TASK + "\nclass Other(Echo):\n    name = 'other'\n\ntask = Other()\n"
    assert load_task(str(write(tmp_path, source))).name == "other"


@pytest.mark.parametrize(("source", "message"), [
    ("x = 1\n\ndef f(:\n    pass\n", r"syntax error at line 3"),
    ("import no_such_module_xyz\n", r"failed while importing at line 1: ModuleNotFoundError"),
    ("x = 1\n", r"defines no Task subclass: add `class MyTask\(Task\)"),
    ("from selftaught.tasks.lpn import LearningParityWithNoise\n", r"defines no Task subclass"),
    (GOOD_TASK + "\nclass Other(Echo):\n    pass\n", r"several Task subclasses \(Echo, Other\)"),
    (GOOD_TASK.replace("name = \"echo\"", "def __init__(self, size):\n        self.size = size\n"),
     r"Echo\(\) failed: TypeError.*constructible without arguments"),
])
def test_broken_task_files_give_specific_one_line_messages(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(TaskError, match=message) as info:
        load_task(str(write(tmp_path, source)))
    assert "\n" not in str(info.value) and str(write(tmp_path, source)) in str(info.value)


def test_missing_file_names_the_path_and_the_built_ins(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match=r"task file '.*nope\.py' not found: check the path.*lpn"):
        load_task(str(tmp_path / "nope.py"))


def test_example_task_file_is_a_valid_template() -> None:
    task = load_task(str(EXAMPLE))
    assert task.name == "second_largest" and validate_task_static(task) == []
    namespace: dict[str, Any] = {}
    exec(task.seed_solution, namespace)
    instances = task.instances("val", 0)
    seed = np.mean([task.score(i, namespace["algorithm"](*task.arguments(i))) for i in instances])
    assert 0.0 < seed < 1.0  # the seed is improvable ...
    assert all(task.score(i, i["answer"]) == 1.0 for i in instances)  # ... and an exact answer exists
    with pytest.raises(InvalidAnswer):
        task.score(instances[0], [3])


@pytest.mark.parametrize("path", BUILT_IN_FILES, ids=lambda p: p.stem)
def test_every_built_in_task_validates_cleanly(path: Path) -> None:
    task = load_task(str(path))  # also proves each module holds exactly one task class
    assert validate_task_static(task) == []


# ---- validate_task_static -----------------------------------------------------------------------

class Broken(Task):
    """Everything wrong at once (attributes, seed); methods not overridden."""

    name = ""
    description = "   "
    seed_solution = "def solve(x):\n    return x\n"
    time_limit = 0
    n_val = 0
    n_test = 1.5  # type: ignore[assignment]


def test_validation_reports_every_attribute_problem_in_one_pass() -> None:
    problems = " | ".join(validate_task_static(Broken()))
    for fragment in ("name '' must be", "description is empty", "time_limit must be a positive",
                     "n_val must be an integer >= 1", "n_test must be an integer >= 1",
                     "does not define `algorithm`", "generate() is not overridden",
                     "arguments() is not overridden", "score() is not overridden"):
        assert fragment in problems
    with pytest.raises(TaskError, match=r"task 'Broken' is invalid: .*description is empty"):
        ensure_valid(Broken())


class Echo(Task):
    name = "echo"
    description = "algorithm(x) returns x."
    seed_solution = "def algorithm(x):\n    return x\n"

    def generate(self, rng: np.random.Generator) -> Any:
        return int(rng.integers(0, 10))

    def arguments(self, instance: Any) -> tuple[Any, ...]:
        return (instance,)

    def score(self, instance: Any, answer: Any) -> float:
        if not isinstance(answer, int) or isinstance(answer, bool):
            raise InvalidAnswer("not an int")
        return float(answer == instance)


class SeedSyntax(Echo):
    seed_solution = "def algorithm(x):\n    return (\n"


class GenerateRaises(Echo):
    def generate(self, rng: np.random.Generator) -> Any:
        raise RuntimeError("boom")


class ArgumentsList(Echo):
    def arguments(self, instance: Any) -> tuple[Any, ...]:
        return [instance]  # type: ignore[return-value]


class ArgumentsUnsendable(Echo):
    def arguments(self, instance: Any) -> tuple[Any, ...]:
        return ({1: instance}, object())


class Unseeded(Echo):
    def generate(self, rng: np.random.Generator) -> Any:
        return random.random()


class ScoreCrashes(Echo):
    def score(self, instance: Any, answer: Any) -> float:
        return float(answer == instance) + len(answer) * 0  # TypeError on None, ints


class ScoreOutOfRange(Echo):
    def score(self, instance: Any, answer: Any) -> float:
        return 2.0


@pytest.mark.parametrize(("cls", "message"), [
    (SeedSyntax, "seed_solution has a syntax error at line 2"),
    (GenerateRaises, "generate(rng) raised RuntimeError: boom"),
    (ArgumentsList, "arguments(instance) must return a tuple, got list"),
    (ArgumentsUnsendable, "arguments(instance) contains a dict with non-string keys"),
    (Unseeded, "generate(rng) is not deterministic"),
    (ScoreCrashes, "score(instance, None) raised TypeError"),
    (ScoreOutOfRange, "score(instance, None) returned 2.0: a score must be a float in [0, 1]"),
])
def test_validation_finds_behaviour_problems(cls: type[Task], message: str) -> None:
    problems = validate_task_static(cls())
    assert any(message in p for p in problems), problems


def test_a_correct_task_has_no_problems() -> None:
    assert validate_task_static(Echo()) == []
    ensure_valid(Echo())
