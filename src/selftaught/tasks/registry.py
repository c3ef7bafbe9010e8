"""Finding a task from what the user typed, and checking it before a run spends anything on it.

``load_task`` takes a built-in name (an entry point of ``selftaught.tasks``, so installed packages add
tasks the same way) or a path to a ``.py`` file. ``validate_task_static`` lists every problem a task
has that can be found without running model code, so a user fixes them all in one round.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from selftaught import plugins
from selftaught.errors import PluginNotFound, TaskError
from selftaught.tasks.base import InvalidAnswer, Task

#: Hand-made malformed answers every ``score`` must survive (InvalidAnswer or a score in [0, 1]).
BAD_ANSWERS: tuple[Any, ...] = (
    None, "x", [], [[0], [1]], [[[]]], {"a": 1}, 10**400, -1, 1e308, float("nan"), float("inf"), True,
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def load_task(spec: str) -> Task:
    """A task instance from a built-in name (``lpn``) or a task file (``path/to/task.py``)."""
    spec = spec.strip()
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return _load_file(Path(spec))
    try:
        obj = plugins.load("task", spec)
    except PluginNotFound as exc:
        raise TaskError(f"{exc}; or give the path of a .py file that defines a Task subclass") from None
    return _instantiate(obj, f"built-in task '{spec}'")


def _load_file(path: Path) -> Task:
    """Import a task file as its own module and pick its one task."""
    if not path.is_file():
        raise TaskError(f"task file '{path}' not found: check the path (built-in tasks: "
                        f"{', '.join(plugins.names('task')) or 'none'})")
    try:
        source = path.read_bytes().decode("utf-8")
        compile(source, str(path), "exec")
    except UnicodeDecodeError as exc:
        raise TaskError(f"task file '{path}' is not UTF-8 text (byte {exc.start}); pass a Python file") from None
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes (Python 3.11)
        what = f"has a syntax error at line {exc.lineno}: {exc.msg}" \
            if isinstance(exc, SyntaxError) and exc.lineno else f"is not valid Python: {exc}"
        raise TaskError(f"task file '{path}' {what}; fix it and retry") from None
    except (RecursionError, MemoryError) as exc:
        raise TaskError(f"task file '{path}' is nested too deeply for Python to compile ({type(exc).__name__}); "
                        "simplify it and retry") from None
    module_name = "selftaught_task_file_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # so instances and classes pickle by reference
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any import failure of user code is the user's to fix
        sys.modules.pop(module_name, None)
        line = _user_line(exc, path)
        raise TaskError(f"task file '{path}' failed while importing{line}: {type(exc).__name__}: {exc}; "
                        "fix the file and retry") from None
    explicit = getattr(module, "task", None)
    if isinstance(explicit, Task):
        return explicit
    found = [c for c in vars(module).values()
             if inspect.isclass(c) and issubclass(c, Task) and c is not Task and c.__module__ == module_name]
    if not found:
        raise TaskError(f"task file '{path}' defines no Task subclass: add `class MyTask(Task): ...` "
                        "(from selftaught import Task) or a module-level `task = MyTask()`")
    if len(found) > 1:
        names = ", ".join(c.__name__ for c in found)
        raise TaskError(f"task file '{path}' defines several Task subclasses ({names}): keep one, or choose "
                        "with a module-level `task = TheOne()`")
    return _instantiate(found[0], f"task file '{path}'")


def _user_line(exc: BaseException, path: Path) -> str:
    """' at line N' for the innermost traceback frame inside the user's file, else ''."""
    line = ""
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
            line = f" at line {tb.tb_lineno}"
        tb = tb.tb_next
    return line


def _instantiate(obj: Any, where: str) -> Task:
    """Entry points and files may name a class (instantiated without arguments) or an instance."""
    if isinstance(obj, Task):
        return obj
    if not (inspect.isclass(obj) and issubclass(obj, Task)):
        raise TaskError(f"{where} is a {type(obj).__name__}, not a Task subclass or instance")
    try:
        return obj()
    except Exception as exc:  # noqa: BLE001 - user code
        raise TaskError(f"{where}: {obj.__name__}() failed: {type(exc).__name__}: {exc}; a Task must be "
                        "constructible without arguments") from None


def ensure_valid(task: Task) -> None:
    """Raise one ``TaskError`` listing every static problem of ``task`` (for the CLI and ``run``)."""
    problems = validate_task_static(task)
    if problems:
        raise TaskError(f"task '{task.name or type(task).__name__}' is invalid: " + "; ".join(problems))


def validate_task_static(task: Task) -> list[str]:
    """Every problem found without running model code, each as one sentence with its fix.

    Running the *seed solution* in the sandbox (does it load, finish within ``time_limit`` and
    score?) is a separate, dynamic check that needs an executor: the engine's job, not this one's.
    """
    problems = _attribute_problems(task) + _seed_problems(task)
    cls = type(task)
    missing = [m for m in ("generate", "arguments", "score") if getattr(cls, m) is getattr(Task, m)]
    problems += [f"{m}() is not overridden: define it in {cls.__name__}" for m in missing]
    if missing:
        return problems
    try:
        instance = task.generate(np.random.default_rng(0))
        again = task.generate(np.random.default_rng(0))
    except Exception as exc:  # noqa: BLE001 - user code
        return problems + [f"generate(rng) raised {type(exc).__name__}: {exc}"]
    try:
        args = task.arguments(instance)
        args_again = task.arguments(again)
    except Exception as exc:  # noqa: BLE001 - user code
        return problems + [f"arguments(instance) raised {type(exc).__name__}: {exc}"]
    if not isinstance(args, tuple):
        return problems + [f"arguments(instance) must return a tuple, got {type(args).__name__}"]
    bad = _unsendable(args)
    if bad:
        problems.append(f"arguments(instance) contains {bad}: use lists, numbers, strings, dicts with "
                        "string keys or numpy arrays")
    elif _canonical(args) != _canonical(args_again):
        problems.append("generate(rng) is not deterministic: draw every random number from the rng it "
                        "is given (not `random` or `np.random`), so a run seed fixes the instances")
    problems += _score_problems(task, instance)
    return problems


def _attribute_problems(task: Task) -> list[str]:
    out: list[str] = []
    if not isinstance(task.name, str) or not _NAME.match(task.name):
        out.append(f"name {task.name!r} must be a non-empty word (letters, digits, _ . -)")
    if not isinstance(task.description, str) or not task.description.strip():
        out.append("description is empty: describe the signature and exactly how answers are scored")
    limit = task.time_limit
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not (math.isfinite(limit) and limit > 0):
        out.append(f"time_limit must be a positive number of CPU seconds, got {limit!r}")
    for attr in ("n_val", "n_test"):
        value = getattr(task, attr)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            out.append(f"{attr} must be an integer >= 1, got {value!r}")
    return out


def _seed_problems(task: Task) -> list[str]:
    """The seed solution must compile and define ``entry`` at module level."""
    if not isinstance(task.seed_solution, str) or not task.seed_solution.strip():
        return ["seed_solution is empty: give the source of a (simple) working solution"]
    try:
        tree = ast.parse(task.seed_solution)
    except SyntaxError as exc:
        return [f"seed_solution has a syntax error at line {exc.lineno}: {exc.msg}"]
    except (RecursionError, MemoryError, ValueError) as exc:
        return [f"seed_solution cannot be parsed: {type(exc).__name__}"]
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    if task.entry not in defined:
        return [f"seed_solution does not define `{task.entry}` at module level (entry = {task.entry!r})"]
    return []


def _score_problems(task: Task, instance: Any) -> list[str]:
    """``score`` must turn every malformed answer into InvalidAnswer or a score in [0, 1].

    One message per kind of failure (the first answer that shows it, and how many others do), so a
    scorer with one bug does not drown the other problems."""
    crashes: list[str] = []
    out_of_range: list[str] = []
    for answer in BAD_ANSWERS:
        shown = "a huge int" if isinstance(answer, int) and answer > 2**64 else repr(answer)
        try:
            value = task.score(instance, answer)
        except InvalidAnswer:
            continue
        except Exception as exc:  # noqa: BLE001 - that is what we test
            crashes.append(f"score(instance, {shown}) raised {type(exc).__name__}: {exc}; raise InvalidAnswer "
                           "for malformed answers")
            continue
        number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not (number and 0.0 <= value <= 1.0):
            out_of_range.append(f"score(instance, {shown}) returned {value!r}: a score must be a float in [0, 1]")
    return [found[0] + (f" (same for {len(found) - 1} other malformed answer(s))" if len(found) > 1 else "")
            for found in (crashes, out_of_range) if found]


def _unsendable(value: Any, depth: int = 0) -> str:
    """What in ``value`` the wire format cannot carry ('' if everything can)."""
    if depth > 32:
        return "nesting deeper than 32 levels"
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return ""
    if isinstance(value, np.ndarray):
        return "" if value.dtype.kind in "biuf" else f"a numpy array of dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        return next((b for b in (_unsendable(v, depth + 1) for v in value) if b), "")
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "a dict with non-string keys"
        return next((b for b in (_unsendable(v, depth + 1) for v in value.values()) if b), "")
    return f"a value of type {type(value).__name__}"


def _canonical(value: Any) -> str:
    """A comparable text form of sendable arguments (arrays as nested lists)."""
    return json.dumps(value, default=lambda o: o.tolist(), sort_keys=True)
