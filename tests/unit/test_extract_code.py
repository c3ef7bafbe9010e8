from __future__ import annotations

import ast
import random
import re
import time
from textwrap import dedent

import pytest

from selftaught import extract_code


def test_tagged_block_is_extracted_without_fences():
    assert extract_code("text\n```python\nx = 1\n```\nmore") == "x = 1"


def test_untagged_and_indented_fences_are_accepted():
    assert extract_code("```\ny = 2\n```") == "y = 2"
    assert extract_code("Here:\n    ```python\n    def f():\n        return 1\n    ```") == "def f():\n    return 1"


def test_largest_block_wins():
    reply = "```python\na = 1\n```\nand\n```python\ndef f():\n    return 2\n```"
    assert extract_code(reply) == "def f():\n    return 2"


def test_no_code_gives_none_and_lists_map():
    assert extract_code("no code here") is None
    assert extract_code(42) is None
    assert extract_code(["```python\nz = 3\n```", "nothing"]) == ["z = 3", None]


def test_untagged_block_does_not_hide_later_blocks():
    reply = "```\nnote\n```\n```python\ndef g():\n    return 'longer block'\n```"
    assert extract_code(reply) == "def g():\n    return 'longer block'"


def test_improver_with_fenced_prompt_string_is_not_cut_apart():
    improver = (
        "from helpers import extract_code\n\n"
        "def improve_algorithm(initial_solution, utility, language_model):\n"
        '    message = f"""Improve:\n```python\n{initial_solution}\n```\nThanks."""\n'
        "    return extract_code(language_model.batch_prompt('x', [message], 0.7))[0]"
    )
    reply = f"Here is my improver:\n```python\n{improver}\n```\nDone."
    assert extract_code(reply) == improver


def test_unterminated_block_from_a_truncated_reply():
    assert extract_code("```python\ndef h():\n    return 5") == "def h():\n    return 5"


# ---- issue 22: one pass over the lines, the same blocks ----------------------------------------------
FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.#-]*)[ \t]*$")


def reference(text: str) -> str | None:
    """The rule as it was first written (cubic): at each opening fence, try every closing fence from the
    farthest and keep the first body that parses, else the nearest."""
    lines = text.splitlines()
    fences = [(i, m.group(1), m.group(2)) for i, line in enumerate(lines) if (m := FENCE.match(line))]
    blocks, k = [], 0
    while k < len(fences):
        start, fence, _ = fences[k]
        closes = [n for n in range(k + 1, len(fences))
                  if fences[n][1][0] == fence[0] and len(fences[n][1]) >= len(fence) and not fences[n][2]]
        chosen = next((n for n in reversed(closes) if _parses(dedent("\n".join(lines[start + 1:fences[n][0]])))),
                      closes[0] if closes else None)
        end = fences[chosen][0] if chosen is not None else len(lines)
        blocks.append(dedent("\n".join(lines[start + 1:end])).strip("\n"))
        k = chosen + 1 if chosen is not None else len(fences)
    blocks = [b for b in blocks if b.strip()]
    return max(blocks, key=len) if blocks else None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


PIECES = ["Here is the code:", "It's better now.", 'He said "hi".', "```python", "```", "```py", "~~~", "````",
          "    ```python", "    ```", "def f(x):", "    return x + 1", "# it's a comment", "m = '''",
          '    prompt = f"""Improve:', '"""', "'''", "s = 'a\\'b'", 's = "abc"""', "y = (1,", "   2)", "",
          "print('```')", 'u = \'x\' # """', "  return '''", 'v = "a\\', 'b"', "```text", "z = r'\\'",
          "w = '''a''' + '''"]


def test_the_one_pass_reader_finds_the_blocks_the_reference_rule_finds() -> None:
    rng = random.Random(22)
    for _ in range(3000):
        reply = "\n".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30)))
        assert extract_code(reply) == reference(reply), reply


@pytest.mark.parametrize("unit", ["```\n", "```python\n```\n", "```\nx = '''\n", "```python\nm = '''\n```\n",
                                  "~~~\n~~~~\n", "```python\nx = (1 +\n```\n"])
def test_fence_heavy_replies_cost_linear_time(unit: str) -> None:
    """4 KB of fence lines took the cubic reader ~35 s (analysis of a run: 14 min); now milliseconds, and
    64 times the text costs about 64 times as much, not 4,096 or 262,144 times."""
    def cost(size: int) -> float:
        text = unit * (size // len(unit))
        began = time.process_time()
        extract_code(text)
        return time.process_time() - began

    small = cost(4096)
    assert small < 0.1
    assert cost(64 * 4096) < 2.0
