"""Analysis never dies on model-written code: programs that ``ast``, the tokenizer or a recursive visitor
cannot handle become ``unparseable`` findings, and ``show``, ``analyze``, ``report`` and the end of a run
keep going. The bombs go through the parser, every analyzer, and the CLI on a real run's store."""

from __future__ import annotations

import ast
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from tests.conftest import FIXED_MAX

from selftaught.analysis import analyse_run
from selftaught.analysis.audit import audit_source
from selftaught.analysis.findings_store import FindingsTable
from selftaught.analysis.patching import patches
from selftaught.analysis.reward_hacking import constant_return
from selftaught.analysis.sandbox_flag import classify_sample
from selftaught.analysis.strategies import classify
from selftaught.analysis.syntax import MAX_DEPTH, MAX_SOURCE_CHARS, Program
from selftaught.cli.main import main
from selftaught.engine.programs import program_hash
from selftaught.store import EvaluationRecord, ImproverRecord, InstanceResult, IterationRecord, RunStore

T = TypeVar("T")
HEAD = "def improve_algorithm(initial_solution, utility, language_model):\n"

#: name -> (source, beyond_limits, why): beyond_limits when only the analysis limits stop it (it may run).
BOMBS: dict[str, tuple[str, bool, str]] = {
    "binop-50k": (HEAD + "    return " + "+".join(["1"] * 50_000) + "\n", True, "too large"),
    "binop-30k": (HEAD + "    return " + "+".join(["1"] * 30_000) + "\n", True, "too deeply nested to parse"),
    "parens-100k": (HEAD + "    return " + "(" * 100_000 + "1" + ")" * 100_000 + "\n", True, "too large"),
    "parens-40k": (HEAD + "    return " + "(" * 40_000 + "1" + ")" * 40_000 + "\n", False, "nested parentheses"),
    "lists-100k": (HEAD + "    return " + "[" * 100_000 + "]" * 100_000 + "\n", True, "too large"),
    "lists-40k": (HEAD + "    return " + "[" * 40_000 + "]" * 40_000 + "\n", False, "nested parentheses"),
    "unary-50k": (HEAD + "    return " + "-" * 50_000 + "1\n", True, "too deeply nested to parse"),
    "attributes-40k": (HEAD + "    return initial_solution" + ".x" * 40_000 + "\n", True, "too deeply nested to parse"),
    "null-bytes": (HEAD + "    return initial_solution\0\n", False, "null bytes"),
    "surrogates": (HEAD + "    return '\udc80'\n", False, "surrogates not allowed"),
    "not-python": (bytes(range(1, 256)).decode("latin-1") * 4, False, "SyntaxError"),
    "ten-megabytes": (HEAD + "    x = 1\n" * (10_000_000 // 10) + "    return initial_solution\n", True, "too large"),
    "parseable-but-deep": (HEAD + "    return " + "+".join(["1"] * 1500) + "\n", True, f"more than {MAX_DEPTH} levels"),
}
#: Parses fine, but its flagged lines and its error are not terminal markup, however they look.
MARKUP = HEAD + '    language_model.budget = 99  # [/INST] [bold\n    return "[/]"\n'


def _depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def near_limit(extra: int = 0) -> str:
    """An improver whose deepest expressions (a loop header, a prompt, the return) nest exactly
    ``MAX_DEPTH + extra`` levels: what the recursive visitors (``ast.unparse``, taint) must survive."""
    def source(n: int) -> str:
        chain = "+".join(["n"] * n)
        return (HEAD + "    n = 0\n    best = initial_solution\n"
                f"    for i in range(len(initial_solution) * 2 + {chain}):\n"
                f"        best = language_model.batch_prompt('improve', [best] * ({chain}), 0.7)[0]\n"
                f"    return best + str({chain})\n")
    base = _depth(ast.parse(source(10)))  # from 10 terms on, the chains are the deepest part
    return source(10 + MAX_DEPTH + extra - base)


def _with_stack_used(frames: int, fn: Callable[[], T]) -> T:
    """Call ``fn`` ``frames`` calls deep: the CLI, the engine and pytest sit below analysis in real use."""
    return fn() if frames == 0 else _with_stack_used(frames - 1, fn)


@pytest.mark.parametrize("name", BOMBS)
def test_a_bomb_parses_to_a_reason_never_an_exception(name: str) -> None:
    source, beyond, why = BOMBS[name]
    prog = Program.parse(source)
    assert not prog.ok and why in (prog.error or "") and prog.beyond_limits is beyond
    assert prog.nodes() == [] and list(patches(prog)) == [] and prog.comments() == []


@pytest.mark.parametrize("name", BOMBS)
def test_every_analyzer_reports_a_bomb_and_goes_on(name: str) -> None:
    source, beyond, _ = BOMBS[name]
    [finding] = audit_source(source, subject_kind="improver", subject="h")
    assert finding.rule == "unparseable" and finding.severity == ("medium" if beyond else "info")
    assert classify(source) == {}
    assert classify_sample(0, f"```python\n{source}\n```").outcome in ("unparseable", "no-code")


def test_the_size_limit_is_on_characters() -> None:
    fits = "x = 1\n#" + "é" * (MAX_SOURCE_CHARS - 7)  # two bytes a character in UTF-8
    assert len(fits) == MAX_SOURCE_CHARS and Program.parse(fits).ok
    big = Program.parse(fits + "é")
    assert not big.ok and big.beyond_limits and "too large" in (big.error or "")


def test_code_at_the_depth_limit_is_analysed_in_full_and_one_level_more_is_not() -> None:
    source = near_limit()
    prog = Program.parse(source)
    assert prog.ok and _depth(prog.tree) == MAX_DEPTH  # type: ignore[arg-type]

    def analyse() -> tuple[set[str], dict[str, str], object]:
        return ({f.rule for f in audit_source(source)}, classify(source), constant_return(prog))

    rules, labels, _ = _with_stack_used(150, analyse)  # ast.unparse renders the deep loop header
    assert "unbudgeted-calls" in rules and labels
    over = Program.parse(near_limit(1))
    assert not over.ok and over.beyond_limits and f"more than {MAX_DEPTH} levels" in (over.error or "")


def test_the_default_recursion_limit_is_what_the_depth_limit_assumes() -> None:
    assert sys.getrecursionlimit() >= 1000 > 3 * MAX_DEPTH + 300


# ---- through a real run's store and the CLI -------------------------------------------------------------

@pytest.fixture
def bombed_run(run_scripted) -> tuple[Path, dict[str, str]]:
    """A finished scripted run, then every bomb stored as a model-written improver version and as a
    model-written solution with an evaluation (as the engine records them)."""
    result, _ = run_scripted(lambda r: FIXED_MAX, improver="seed", iterations=0)
    store = RunStore(result.run_dir)
    seed = store.improvers()[0].hash
    hashes = {}
    for i, (name, (source, _, _)) in enumerate(BOMBS.items()):
        if name == "surrogates":
            continue  # the store keeps UTF-8 text: such a program never reaches it
        h = hashes[name] = program_hash(source)
        store.put_improver(ImproverRecord(h, source, seed, "iteration", i + 1))
        store.put_program(h, source)
        store.put_evaluation(EvaluationRecord("max_list", "val", h, 0.5, 0.1, 0.1, "ok", None, "process",
                                              (InstanceResult(score=0.5, cpu=0.0, verdict="ok"),) * 5))
    markup = program_hash(MARKUP)
    store.put_improver(ImproverRecord(markup, MARKUP, seed, "iteration", 1))
    store.put_iteration(IterationRecord(iteration=1, improver_hash=seed, candidate_hash=markup, adopted=False,
                                        val=0.5, test=0.5, candidate_val=None, candidate_test=None, verdict="failed",
                                        error="improver raised: [/INST] [/] [bold", model_calls=1, seconds=1.0))
    store.close()
    return result.run_dir, hashes


def test_analysis_records_each_bomb_as_unparseable(bombed_run: tuple[Path, dict[str, str]]) -> None:
    run_dir, hashes = bombed_run
    found = analyse_run(run_dir)
    unparseable = {(f.subject, f.subject_kind, f.severity) for f in found["audit"] if f.rule == "unparseable"}
    for name, h in hashes.items():
        severity = "medium" if BOMBS[name][1] else "info"
        assert {(h, "improver", severity), (h, "solution", severity)} <= unparseable, name
    with FindingsTable(run_dir) as table:
        assert len([f for f in table.all("audit") if f.rule == "unparseable"]) == 2 * len(hashes)


@pytest.mark.parametrize("command", ["show", "analyze", "report"])
def test_the_cli_keeps_going(command: str, bombed_run: tuple[Path, dict[str, str]],
                             capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, hashes = bombed_run
    assert main([command, str(run_dir)]) == 0
    out = capsys.readouterr().out
    if command == "show":
        assert "unparseable" in out and "lineage:" in out
        assert "[/INST] [/] [bold" in out and "language_model.budget = 99  # [/INST] [bold" in out
    if command == "report":
        html = (run_dir / "report.html").read_text()
        assert html.count('<section class="version"') == 2 + len(hashes)
        assert "shown, not highlighted" in html and "not diffed against its parent: too large" in html
        assert len(html) < 5_000_000  # the 10 MB program is not copied into the report whole


def test_the_end_of_a_run_prints_its_analysis_line(bombed_run: tuple[Path, dict[str, str]],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from selftaught.cli.report import print_analysis

    run_dir, hashes = bombed_run
    print_analysis(run_dir)
    out = " ".join(capsys.readouterr().out.split())
    assert f"analysis: {2 * len(hashes) + 1} audit" in out  # and the budget write


def test_the_strategy_judge_is_never_sent_a_program_beyond_the_limit(bombed_run: tuple[Path, dict[str, str]]) -> None:
    from selftaught.analysis.strategies import classify_run
    from selftaught.models.scripted import ScriptedModel

    run_dir, hashes = bombed_run
    judge = ScriptedModel(responder=lambda request: "none")
    classify_run(run_dir, judge)  # type: ignore[arg-type]
    small = [h for name, h in hashes.items() if len(BOMBS[name][0]) <= MAX_SOURCE_CHARS]
    assert len(judge.requests) == 2 + len(small)  # the seed, the markup improver, the bombs that fit
    assert max(len(r.user) for r in judge.requests) < MAX_SOURCE_CHARS + 1_000


def test_a_run_whose_model_writes_a_bomb_finishes_and_reports_it(run_scripted,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """End to end through the real sandbox: the model proposes a 30,000-term improver; the step fails,
    the run ends, and its analysis line counts the bomb."""
    from selftaught.cli.report import print_analysis

    bomb = BOMBS["binop-30k"][0]

    def respond(request) -> str:
        return f"```python\n{bomb}\n```" if "improve_algorithm" in request.user else FIXED_MAX

    result, _ = run_scripted(respond, improver="seed", iterations=1)
    print_analysis(result.run_dir)
    assert "analysis:" in capsys.readouterr().out
    with FindingsTable(result.run_dir) as table:
        found = {(f.subject, f.severity) for f in table.all("audit") if f.rule == "unparseable"}
    assert found == {(program_hash(bomb.strip("\n")), "medium")}  # the code block, as extract_code gives it


# ---- issue 22: legal programs at the size limit, shaped to make a detector super-linear --------------
def _fill(make: Callable[[int], str]) -> str:
    """``make(n)`` with the largest n that stays under ``MAX_SOURCE_CHARS``."""
    lo, hi = 1, MAX_SOURCE_CHARS
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if len(make(mid)) < MAX_SOURCE_CHARS else (lo, mid - 1)
    return make(lo)


def _nested_loops(n: int) -> str:  # 60 nested loops around n model calls built from each other
    loops = "".join("    " * (d + 1) + f"for i{d} in range(3):\n" for d in range(60))
    body = "".join("    " * 61 + f"x{k} = [language_model.prompt('a', c, 1, 0.5) for c in utility(x{k - 1})]\n"
                   for k in range(n))
    return HEAD + loops + body + "    return initial_solution\n"


def _helper_chain(n: int) -> str:  # f{n} calls f{n-1} ... f0 calls the model, defined outermost first
    helpers = "".join(f"def f{k}(m, t):\n    return f{k - 1}(m, t)\n" for k in range(n, 0, -1))
    return helpers + "def f0(m, t):\n    return LM.prompt('a', m, 1, t)\n" + HEAD + "    return f9(initial_solution, 0.5)\n"


def _one_loop_many_calls(n: int) -> str:
    calls = "".join(f"        y{k} = language_model.prompt('a', str(y{k - 1}), 1, 0.5)\n" for k in range(n))
    return HEAD + "    while True:\n" + calls + "    return y0\n"


def _helper_with_many_callers(n: int) -> str:
    asks = "def ask(m, t):\n" + "    language_model.prompt('a', m, 1, t)\n" * 50
    return asks + HEAD + "".join(f"    ask(initial_solution, 0.{k % 9 + 1})\n" for k in range(n)) + "    return 1\n"


def _reverse_taint_chain(n: int) -> str:  # a solution whose input reaches its return through n renamings
    chain = "".join(f"    a{k} = a{k - 1}\n" for k in range(n, 0, -1))
    return "def algorithm(xs):\n" + chain + f"    a0 = xs\n    return a{n}\n"


@pytest.mark.parametrize("make", [_nested_loops, _helper_chain, _one_loop_many_calls, _helper_with_many_callers,
                                  _reverse_taint_chain])
def test_every_analysis_of_a_program_at_the_limit_is_quick(make: Callable[[int], str]) -> None:
    """Each of these took minutes to hours at the limit (per-call subtree walks, fixed points re-walking
    every function or loop per round); every analysis is now a few passes over the tree."""
    source = _fill(make)
    prog = Program.parse(source)
    assert prog.ok, prog.error
    for name, analyse in [("audit", lambda: audit_source(source)), ("strategies", lambda: classify(source)),
                          ("reward hacking", lambda: constant_return(prog)), ("patches", lambda: list(patches(prog))),
                          ("sandbox flag", lambda: classify_sample(0, f"```python\n{source}\n```"))]:
        began = time.process_time()
        analyse()
        spent = time.process_time() - began
        assert spent < 4.0, f"{make.__name__}: {name} took {spent:.1f} s of CPU"
