"""Host-side candidate repair (engine/repair.py): the text steps and the gated merge, on the failure
shapes measured with the 135M model (cut at the token cap, repeated lines, trailing fences)."""

from __future__ import annotations

import ast
import time

from selftaught.engine.programs import MAX_PROGRAM_CHARS, Unparsed, canonical_dump, parse
from selftaught.engine.repair import (
    canonical_hash,
    clean,
    close_open,
    collapse_repeats,
    merge,
    parses,
    repair,
)

PARENT = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Keep the best rewrite."""
    message = "Improve:\\n" + initial_solution
    replies = language_model.batch_prompt("expert", [message] * 2, temperature=0.2)
    best = initial_solution
    for code in extract_code(replies):
        if code and utility(code) > utility(best):
            best = code
    return best
'''


def test_a_bracket_dropped_mid_file_is_closed_before_the_next_statement():
    broken = 'x = max(1, (2 + 3)\ny = 4\n'
    assert not parses(broken)
    fixed = close_open(broken)
    assert parses(fixed) and fixed.splitlines()[0] == "x = max(1, (2 + 3))"


def test_a_reply_cut_inside_a_docstring_and_a_call_is_closed_at_the_end():
    cut = 'def f():\n    """Doc never closed\n    return g(1,'
    fixed = close_open(cut)
    assert parses(fixed)


def test_repeated_lines_collapse_and_fences_go():
    text = "```python\nx = 1\nx = 1\nx = 1\n\n\ny = 2\n```\n```"
    cleaned, steps = clean(text)
    assert cleaned == "x = 1\n\n\ny = 2\n"
    assert steps == ["strip fences", "collapse repeated lines"]
    assert collapse_repeats("a\na\nb\na") == "a\nb\na"
    inner = 'm = """\n```python\nx\n```\n"""\n'  # fences inside a string (the seed improver's prompt) stay
    assert clean(inner)[0] == inner


def test_merge_keeps_only_hunks_that_pass_the_check():
    good_change = PARENT.replace("temperature=0.2", "temperature=0.4")
    candidate = good_change.replace("    return best\n", "    return best +\n")  # a broken second hunk

    def check(source: str) -> str:
        return "pass" if parses(source) and "return best\n" in source else "broken"

    merged, kept, tried = merge(PARENT, candidate, check)
    assert tried == 2 and kept == 1
    assert merged == good_change


def test_repair_of_a_cut_rewrite_yields_a_working_candidate_or_the_parent():
    # What the model returns at the token cap: the call on line 7 cut, lines repeated, a fence left.
    reply = PARENT.replace('temperature=0.2)', 'temperature=0.3') + "    return best\n    return best\n```\n"
    checked: list[str] = []

    def check(source: str) -> str:
        checked.append(source)
        return "pass" if parses(source) and "temperature=0.3" in source else "broken"

    rep = repair(reply, PARENT, check)
    assert parses(rep.source) and "temperature=0.3" in rep.source
    assert rep.source.count("return best") == 1
    assert "close open brackets and strings" in rep.steps and rep.changed

    nothing = repair("I cannot help with that.", PARENT, lambda s: "broken")
    assert nothing.source == PARENT and nothing.steps[-1].startswith("merged 0 of")


def test_a_candidate_that_already_works_is_never_touched():
    seed_like = ('def improve_algorithm(s, utility, language_model):\n    m = f"""\n```python\n{s}\n```\n"""\n'
                 '    return s\n')
    rep = repair(seed_like, PARENT, lambda s: "pass")
    assert rep.source == seed_like and rep.steps == []


def test_a_candidate_that_runs_but_is_weak_is_left_as_it_is():
    worse = PARENT.replace("> utility(best)", "< utility(best)")
    rep = repair(worse, PARENT, lambda s: "weak")
    assert rep.source == worse and not rep.changed


def test_canonical_hash_ignores_docstrings_and_layout_only():
    a = "def f(x):\n    '''one'''\n    return x + 1\n"
    b = "def f(x):\n    return (x\n            + 1)  # same\n"
    assert canonical_hash(a) == canonical_hash(b)
    assert canonical_hash(a) != canonical_hash(a.replace("+ 1", "+ 2"))
    assert canonical_hash("def (") is None


def test_one_repair_runs_at_most_max_smoke_tests_checks():
    """A reply whose 20 hunks all fail the check: raw, then hunks, but never more than MAX_SMOKE_TESTS smoke
    tests in all (one meta-utility call used to buy up to 18); the count is in the recorded steps."""
    from selftaught.engine.repair import MAX_SMOKE_TESTS

    parent = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(20))
    candidate = "".join(f"def f{i}(x):\n    return x - {i}\n\n\n" for i in range(20))  # 20 hunks
    runs: list[str] = []

    def check(source: str) -> str:
        runs.append(source)
        return "broken"

    rep = repair(candidate, parent, check)
    assert len(runs) == MAX_SMOKE_TESTS == 4
    assert rep.source == parent and rep.steps[-1].endswith(f"({MAX_SMOKE_TESTS} smoke test(s))")


# ---- hostile candidates (issue 22): bounded, never an exception ------------------------------------------
def _long_sum(terms: int) -> str:
    """An improver that works but ends in a ``terms``-term expression (AST ``terms`` levels deep)."""
    return PARENT + "\n\nWEIGHT = " + "+".join(["1"] * terms) + "\n"


def _no_check(source: str) -> str:
    raise AssertionError("a candidate beyond the parser's limits must not be smoke tested")


def test_parse_turns_what_the_parser_cannot_handle_into_a_reason() -> None:
    assert isinstance(parse(_long_sum(1_500)), ast.Module)
    for source, limit, why in [(_long_sum(40_000), True, "nested too deeply"),  # under the size cap
                               (_long_sum(50_000), True, "characters, more than"),
                               ("x = (\n", False, "SyntaxError"), ("x = 1\x00\n", False, "null bytes"),
                               ("s = '\udc80'\n", False, "Error")]:
        out = parse(source)
        assert isinstance(out, Unparsed) and out.beyond_limits is limit, (source[:40], out)
        assert why in out.reason and "\n" not in out.reason


def test_an_over_cap_program_is_refused_before_parsing() -> None:
    huge = "x = [" + "1," * (3 << 20) + "]\n"  # 6 MB: parsing it cost the host gigabytes
    began = time.process_time()
    out = parse(huge)
    assert isinstance(out, Unparsed) and out.beyond_limits and f"{MAX_PROGRAM_CHARS:,}" in out.reason
    assert time.process_time() - began < 0.1
    assert canonical_hash(huge) is None


def test_canonical_hash_of_deep_and_odd_programs_never_raises() -> None:
    deep = _long_sum(1_500)  # parses, but ast.dump overflows the stack at this depth
    assert canonical_hash(deep) == canonical_hash(deep.replace('"""Keep the best rewrite."""', ""))
    assert canonical_hash(deep) != canonical_hash(_long_sum(1_501))
    assert canonical_hash(_long_sum(40_000)) is None  # the parser's own recursion overflows
    big_hex = "x = 0x" + "f" * 20_000 + "\n"  # repr() of it raises ValueError (> 4,300 digits)
    assert canonical_hash(big_hex) != canonical_hash(big_hex.replace("0xf", "0xe", 1))
    assert canonical_hash("b = b')('\n") != canonical_hash("b = b'(('\n")


def test_canonical_dump_costs_linear_time_in_the_depth() -> None:
    def cost(terms: int) -> float:
        tree = parse(_long_sum(terms))
        assert isinstance(tree, ast.Module)
        began = time.process_time()
        canonical_dump(tree)
        return time.process_time() - began

    small, large = min(cost(250) for _ in range(5)), min(cost(2_500) for _ in range(5))
    assert large < 50 * small + 0.02  # 10x the depth: linear is ~10x, quadratic 100x


def test_repair_leaves_candidates_beyond_the_limits_to_the_gate() -> None:
    for raw in (_long_sum(40_000), _long_sum(50_000), "x = 1\n" * 20_000):
        began = time.process_time()
        rep = repair(raw, PARENT, _no_check)
        assert rep.source == raw and rep.steps == []
        assert time.process_time() - began < 1.0


def test_a_broken_candidate_too_long_to_merge_keeps_the_parent() -> None:
    raw = "".join(f"def f{i}(:\n    return {i}\n" for i in range(1_500))  # 3,000 broken lines, under the cap
    began = time.process_time()
    rep = repair(raw, PARENT, lambda s: "broken")
    assert rep.source == PARENT and rep.steps[-1].startswith("not merged: 3,001 lines")
    assert time.process_time() - began < 2.0
